"""The order in which a series' instances are fetched so that a usable image is up at once.

A reader opens a study at the middle of a stack (``StackView`` starts at ``len(stack) // 2``),
so that slice comes first. Then the two ends, then the midpoints of the widest gaps between
slices already received (bisection, widest gap first), so that at every moment the received
slices spread evenly over the volume: scrolling, a scout line or a coarse MPR is usable long
before the series is complete. Pure functions: no network, no files.

Spatial order is the order along the slice normal when every instance has an Image Position
and Image Orientation (PS3.3 C.7.6.2.1.1), else by Instance Number (PS3.3 C.7.6.1), and the
SOP Instance UID breaks ties so that the order is the same on every run.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def bisection_order(n: int) -> list[int]:
    """Indices ``0..n-1`` of a sorted stack: the middle (``n // 2``), both ends, then the
    midpoint of the widest remaining gap (the leftmost among equals), until all are listed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"a stack has a non-negative whole number of slices (got {n!r})")
    if n == 0:
        return []
    order = [n // 2]
    for end in (0, n - 1):
        if end not in order:
            order.append(end)
    ticks = sorted(order)
    # Gaps between neighbours already chosen; heap of (-width, lo, hi): widest first, then left.
    heap = [(-(hi - lo), lo, hi) for lo, hi in itertools.pairwise(ticks) if hi - lo > 1]
    heapq.heapify(heap)
    while heap:
        _, lo, hi = heapq.heappop(heap)
        mid = (lo + hi) // 2
        order.append(mid)
        for a, b in ((lo, mid), (mid, hi)):
            if b - a > 1:
                heapq.heappush(heap, (-(b - a), a, b))
    return order


def max_gap(received: Iterable[int], n: int) -> int:
    """The widest run of a stack of ``n`` still to come, counting from one received slice to
    the next and from the stack's ends (``n`` when nothing has been received)."""
    ticks = sorted(set(received))
    if not ticks:
        return n
    if ticks[0] < 0 or ticks[-1] >= n:
        raise ValueError(f"slice indices must lie in 0..{n - 1}")
    edges = [-1, *ticks, n]
    return max(b - a - 1 for a, b in itertools.pairwise(edges))


def _normal(orientation: Sequence[float]) -> tuple[float, float, float]:
    r = orientation[:3]
    c = orientation[3:6]
    return (
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    )


def spatial_order(instances: Sequence[Any]) -> list[int]:
    """Indices of ``instances`` in stack order (along the slice normal, else Instance Number).

    An instance is any object with ``sop_instance_uid`` and optionally ``instance_number``,
    ``image_position_patient`` and ``image_orientation_patient`` (QIDO-RS or C-FIND answers).
    Positions are used only when every instance has both and the orientations agree.
    """
    uids = [str(getattr(i, "sop_instance_uid", "") or "") for i in instances]
    seen: set[str] = set()
    for uid in uids:
        if not uid:
            raise ValueError("an instance without a SOP Instance UID cannot be retrieved")
        if uid in seen:
            raise ValueError(f"the instance list names SOP Instance UID {uid} twice")
        seen.add(uid)
    positions: list[Sequence[float]] = []
    orientations: list[Sequence[float]] = []
    for i in instances:
        p = getattr(i, "image_position_patient", None)
        o = getattr(i, "image_orientation_patient", None)
        if p is None or o is None or len(p) != 3 or len(o) != 6:
            break
        positions.append(p)
        orientations.append(o)
    if (
        instances
        and len(positions) == len(instances)
        and all(
            max(abs(a - b) for a, b in zip(o, orientations[0], strict=True)) < 1e-4
            for o in orientations
        )
    ):
        nx, ny, nz = _normal(orientations[0])
        dist = [p[0] * nx + p[1] * ny + p[2] * nz for p in positions]
        return sorted(range(len(instances)), key=lambda k: (dist[k], uids[k]))

    def by_number(k: int) -> tuple[bool, int, str]:
        number = getattr(instances[k], "instance_number", None)
        return (number is None, number if number is not None else 0, uids[k])

    return sorted(range(len(instances)), key=by_number)


def progressive_order(instances: Sequence[T]) -> list[T]:
    """``instances`` in the order to fetch them: the middle of the stack first, then bisection
    (:func:`bisection_order` applied to :func:`spatial_order`)."""
    stack = spatial_order(instances)
    return [instances[stack[k]] for k in bisection_order(len(stack))]
