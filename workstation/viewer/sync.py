"""Synchronised scrolling by patient position along the slice normal, not by image index.

Two stacks scroll together when they share a Frame of Reference (PS3.3 C.7.4.1: positions
are comparable) or after the reader linked them by hand; then moving one to a position moves
the other to its image nearest to that position along its own normal (a registration offset
recorded at link time keeps a hand-linked pair aligned).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workstation.core.events import Subscription
from workstation.core.geometry import slice_normal
from workstation.viewer.stack import ImageStack
from workstation.viewer.stack_view import StackViewModel


@dataclass(frozen=True, slots=True)
class SlicePositions:
    """The distance along the normal of each frame of a stack (mm), None without geometry."""

    normal: tuple[float, float, float] | None
    distances: tuple[float, ...]

    @classmethod
    def of(cls, stack: ImageStack) -> SlicePositions:
        first = stack.frames[0].instance
        iop = first.image_orientation_patient
        if iop is None or any(
            f.instance.image_position_patient is None or f.instance.number_of_frames > 1
            for f in stack.frames
        ):
            return cls(None, ())
        n = slice_normal(iop)
        d = tuple(
            float(np.dot(f.instance.image_position_patient, n))  # type: ignore[arg-type]
            for f in stack.frames
        )
        return cls(n, d)

    @property
    def usable(self) -> bool:
        return self.normal is not None and len(self.distances) > 0

    def nearest_index(self, distance: float) -> int:
        """Index of the frame whose position is nearest ``distance`` (ties: the lower index)."""
        order = sorted(range(len(self.distances)), key=self.distances.__getitem__)
        values = [self.distances[i] for i in order]
        k = bisect.bisect_left(values, distance)
        candidates = [c for c in (k - 1, k) if 0 <= c < len(values)]
        best = min(candidates, key=lambda c: (abs(values[c] - distance), order[c]))
        return order[best]


def parallel(a: SlicePositions, b: SlicePositions, tolerance: float = 0.05) -> bool:
    """True when two stacks' normals are parallel (or anti-parallel) within ~3°."""
    if a.normal is None or b.normal is None:
        return False
    return abs(abs(float(np.dot(a.normal, b.normal))) - 1.0) <= tolerance


def can_auto_link(a: ImageStack, b: ImageStack) -> bool:
    """Same Frame of Reference and parallel planes: positions are directly comparable."""
    for_a = a.series.frame_of_reference_uid
    return (
        bool(for_a)
        and for_a == b.series.frame_of_reference_uid
        and parallel(SlicePositions.of(a), SlicePositions.of(b))
    )


class SyncGroup:
    """Keeps linked viewport models at the same patient position along their normals.

    Each member maps its own distance ``d`` to the group's coordinate ``g = sign * d + offset``:
    ``sign`` says whether its normal points like the first member's, ``offset`` is 0 for a
    shared Frame of Reference and the registration measured when the reader linked by hand.
    """

    def __init__(self) -> None:
        self._members: list[_Member] = []
        self._busy = False

    def __len__(self) -> int:
        return len(self._members)

    def _member(self, model: StackViewModel) -> _Member | None:
        return next((m for m in self._members if m.model is model), None)

    def add(self, model: StackViewModel, offset_mm: float = 0.0) -> bool:
        """Link a model whose stack has slice geometry.

        Returns False (and links nothing) when its stack has no usable geometry or its planes
        are not parallel to the group's.
        """
        if model.stack is None or self._member(model) is not None:
            return False
        pos = SlicePositions.of(model.stack)
        if not pos.usable:
            return False
        sign = 1.0
        if self._members:
            ref = self._members[0].positions
            if not parallel(ref, pos):
                return False
            sign = 1.0 if float(np.dot(ref.normal, pos.normal)) > 0 else -1.0  # type: ignore[arg-type]
        sub = model.changed.connect(self._follower(model))
        self._members.append(_Member(model, pos, sign, offset_mm, sub))
        return True

    def link_by_hand(self, anchor: StackViewModel, other: StackViewModel) -> bool:
        """Link ``other`` to ``anchor`` at the images they show now (the reader's one click)."""
        if anchor.stack is None or other.stack is None:
            return False
        if self._member(anchor) is None and not self.add(anchor):
            return False
        a = self._member(anchor)
        assert a is not None
        g = a.coordinate(anchor.index)
        if not self.add(other):
            return False
        o = self._member(other)
        assert o is not None
        o.offset = g - o.sign * o.positions.distances[other.index]
        return True

    def refresh(self, model: StackViewModel) -> bool:
        """Measure a member's slice positions again after its stack grew (a series still
        arriving); its sign and offset stay. False when the model is not a member, or its stack
        lost the geometry to link by (it is then removed from the group)."""
        member = self._member(model)
        if member is None:
            return False
        pos = SlicePositions.of(model.stack) if model.stack is not None else None
        if pos is None or not pos.usable:
            self.remove(model)
            return False
        member.positions = pos
        return True

    def remove(self, model: StackViewModel) -> None:
        keep = []
        for m in self._members:
            if m.model is model:
                m.subscription.disconnect()
            else:
                keep.append(m)
        self._members = keep

    def clear(self) -> None:
        for m in self._members:
            m.subscription.disconnect()
        self._members = []

    def _follower(self, source: StackViewModel) -> Callable[[], None]:
        def follow() -> None:
            if self._busy:
                return
            self._busy = True
            try:
                self.sync_from(source)
            finally:
                self._busy = False

        return follow

    def sync_from(self, source: StackViewModel) -> None:
        """Move every other member to its image nearest the source's current position."""
        src = self._member(source)
        if src is None:
            return
        g = src.coordinate(source.index)
        for m in self._members:
            if m is src or m.model.stack is None:
                continue
            m.model.go_to(m.positions.nearest_index(m.sign * (g - m.offset)))


@dataclass(slots=True)
class _Member:
    model: StackViewModel
    positions: SlicePositions
    sign: float
    offset: float
    subscription: Subscription

    def coordinate(self, index: int) -> float:
        return self.sign * self.positions.distances[index] + self.offset
