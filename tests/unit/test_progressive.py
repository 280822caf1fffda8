"""The progressive fetch order: middle slice first, then bisection, every instance once."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from workstation.archive.progressive import (
    bisection_order,
    max_gap,
    progressive_order,
    spatial_order,
)
from workstation.archive.remote import RemoteInstance


@dataclass(frozen=True)
class _Slice:
    sop_instance_uid: str
    instance_number: int | None = None
    image_position_patient: tuple[float, float, float] | None = None
    image_orientation_patient: tuple[float, float, float, float, float, float] | None = None


AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("n", "order"),
    [
        (0, []),
        (1, [0]),
        (2, [1, 0]),
        (3, [1, 0, 2]),
        (4, [2, 0, 3, 1]),
        (5, [2, 0, 4, 1, 3]),
        (9, [4, 0, 8, 2, 6, 1, 3, 5, 7]),
        (10, [5, 0, 9, 2, 7, 3, 1, 4, 6, 8]),
        (16, [8, 0, 15, 4, 11, 2, 6, 13, 9, 1, 3, 5, 7, 10, 12, 14]),  # 13 (gap 4) before 9 (gap 3)
    ],
)
def test_bisection_order_of_small_stacks(n, order):
    assert bisection_order(n) == order


@pytest.mark.parametrize("n", [*range(1, 130), 150, 300, 512, 1000, 2049])
def test_bisection_order_lists_each_slice_once_and_stays_spread(n):
    order = bisection_order(n)
    assert sorted(order) == list(range(n))
    assert order[0] == n // 2  # what the viewer shows first (StackView opens at len // 2)
    # After k arrivals no run of missing slices is longer than 2n/k.
    for k in range(1, n + 1):
        assert max_gap(order[:k], n) <= 2 * n / k, (n, k)


def test_spread_of_a_300_slice_ct_at_checkpoints():
    order = bisection_order(300)
    # 3 slices in: middle and both ends; the widest hole is the lower half (1..149).
    assert sorted(order[:3]) == [0, 150, 299]
    assert order[3:5] == [75, 224]
    # Each doubling of arrivals halves the widest hole: 2^j + 1 slices leave ~300 / 2^j.
    assert [max_gap(order[: 2**j + 1], 300) for j in range(1, 9)] == [149, 74, 37, 18, 9, 4, 2, 1]
    assert max_gap(order, 300) == 0


def test_max_gap_counts_missing_runs_including_the_ends():
    assert max_gap([], 7) == 7
    assert max_gap([3], 7) == 3
    assert max_gap([0, 6], 7) == 5
    assert max_gap([0, 3, 6], 7) == 2
    assert max_gap(range(7), 7) == 0
    with pytest.raises(ValueError, match=r"0\.\.6"):
        max_gap([7], 7)


@pytest.mark.parametrize("bad", [-1, 2.5, "3", True])
def test_bisection_order_rejects_what_is_not_a_slice_count(bad):
    with pytest.raises(ValueError, match="non-negative whole number"):
        bisection_order(bad)


def test_spatial_order_follows_the_slice_normal_not_the_list():
    # Positions along +z, listed shuffled and with instance numbers that disagree.
    zs = [12.5, -5.0, 0.0, 7.5, 2.5]
    slices = [
        _Slice(
            f"1.2.{k}",
            instance_number=10 - k,
            image_position_patient=(0.0, 0.0, z),
            image_orientation_patient=AXIAL,
        )
        for k, z in enumerate(zs)
    ]
    assert spatial_order(slices) == [1, 2, 4, 3, 0]  # z = -5, 0, 2.5, 7.5, 12.5


def test_spatial_order_of_an_oblique_stack():
    # Rows along x, columns along (0, cos 30°, -sin 30°): normal (0, sin 30°, cos 30°).
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    iop = (1.0, 0.0, 0.0, 0.0, c, -s)
    slices = [
        _Slice(
            f"1.3.{k}", image_position_patient=(0.0, d * s, d * c), image_orientation_patient=iop
        )
        for k, d in enumerate([4.0, 1.0, 3.0, 2.0])
    ]
    assert spatial_order(slices) == [1, 3, 2, 0]


def test_spatial_order_by_instance_number_when_positions_are_missing_or_mixed():
    slices = [
        _Slice("1.4.5", instance_number=3),
        _Slice("1.4.1", instance_number=None),
        _Slice(
            "1.4.2",
            instance_number=1,
            image_position_patient=(0.0, 0.0, 9.0),
            image_orientation_patient=AXIAL,
        ),
        _Slice("1.4.9", instance_number=2),
        _Slice("1.4.3", instance_number=2),  # a tie: the UID decides, the same on every run
    ]
    assert spatial_order(slices) == [2, 4, 3, 0, 1]


def test_spatial_order_by_instance_number_when_orientations_differ():
    slices = [
        _Slice("1.5.1", 2, (0.0, 0.0, 0.0), AXIAL),
        _Slice("1.5.2", 1, (0.0, 0.0, 5.0), (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)),  # a coronal one
    ]
    assert spatial_order(slices) == [1, 0]


def test_progressive_order_of_qido_instances_starts_in_the_middle():
    listed = [
        RemoteInstance(f"1.6.{n}", "1.6", "1.5", instance_number=n) for n in (7, 3, 1, 5, 2, 6, 4)
    ]
    got = [i.instance_number for i in progressive_order(listed)]
    # Stack 1..7: middle index 3 (number 4), the ends, then the midpoints of the halves.
    assert got == [4, 1, 7, 2, 5, 3, 6]


def test_progressive_order_refuses_a_list_that_names_an_instance_twice():
    listed = [RemoteInstance("1.7.1", "1.7", "1.6", instance_number=1)] * 2
    with pytest.raises(ValueError, match=r"1\.7\.1 twice"):
        progressive_order(listed)


def test_progressive_order_refuses_an_instance_without_uid():
    with pytest.raises(ValueError, match="without a SOP Instance UID"):
        progressive_order([_Slice("")])
