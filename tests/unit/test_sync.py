"""Synchronised scrolling by patient position, on the demo CT head and its 5 mm prior."""

from __future__ import annotations

import pytest

from workstation.archive.local import LocalArchive
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, DX_CHEST
from workstation.viewer.stack import ImageStack
from workstation.viewer.stack_view import StackViewModel
from workstation.viewer.sync import SlicePositions, SyncGroup, can_auto_link


@pytest.fixture(scope="module")
def stacks(demo_store):
    a = LocalArchive(demo_store)
    cur = ImageStack.open(a, CT_HEAD.series[0].series_instance_uid)
    prior = ImageStack.open(a, CT_HEAD_PRIOR.series[0].series_instance_uid)
    dx = ImageStack.open(a, DX_CHEST.series[0].series_instance_uid)
    yield cur, prior, dx
    a.close()


def model_of(stack) -> StackViewModel:
    m = StackViewModel()
    m.set_stack(stack)
    return m


def z_of(stack, index) -> float:
    return stack.frames[index].instance.image_position_patient[2]


def test_positions_along_the_normal(stacks):
    cur, prior, _ = stacks
    pc = SlicePositions.of(cur)
    assert pc.normal == pytest.approx((0.0, 0.0, 1.0))
    assert pc.distances[0] == pytest.approx(-75.0) and pc.distances[-1] == pytest.approx(74.0)
    pp = SlicePositions.of(prior)
    assert pp.distances[0] == pytest.approx(-72.5) and len(pp.distances) == 30
    assert pp.nearest_index(21.0) == 19  # 22.5 mm, not 17.5
    assert pp.nearest_index(20.0) == 18  # a tie (17.5 / 22.5): the lower index
    assert pp.nearest_index(-500.0) == 0 and pp.nearest_index(500.0) == 29


def test_scrolling_the_current_moves_the_prior_to_the_nearest_position(stacks):
    cur, prior, _ = stacks
    mc, mp = model_of(cur), model_of(prior)
    group = SyncGroup()
    assert group.add(mc) and group.add(mp)
    for target_z in (21.0, -33.0, 70.0, -75.0):
        mc.go_to(round(target_z + 75))
        assert z_of(cur, mc.index) == pytest.approx(target_z)
        nearest = min(range(30), key=lambda k: (abs(z_of(prior, k) - target_z), k))
        assert mp.index == nearest
        assert abs(z_of(prior, mp.index) - target_z) <= 2.5
    # And the other way round: the prior drives the current to the same millimetre.
    mp.go_to(3)  # z = -57.5
    assert z_of(cur, mc.index) == pytest.approx(-57.0) or z_of(cur, mc.index) == pytest.approx(
        -58.0
    )
    group.clear()
    mc.go_to(0)
    assert mp.index == 3  # unlinked: nothing follows


def test_link_by_hand_keeps_the_offset_the_reader_chose(stacks):
    cur, prior, _ = stacks
    mc, mp = model_of(cur), model_of(prior)
    mc.go_to(80)  # z = 5
    mp.go_to(16)  # z = 7.5: the reader judges these the same anatomy
    group = SyncGroup()
    assert group.link_by_hand(mc, mp)
    mc.go_to(100)  # z = 25 -> prior at 27.5 (offset +2.5 mm)
    assert z_of(prior, mp.index) == pytest.approx(27.5)


def test_what_cannot_be_linked(stacks):
    cur, prior, dx = stacks
    # The demo prior was acquired in its own Frame of Reference: no automatic link.
    assert cur.series.frame_of_reference_uid != prior.series.frame_of_reference_uid
    assert can_auto_link(cur, prior) is False
    assert can_auto_link(cur, cur) is True
    group = SyncGroup()
    assert group.add(model_of(cur))
    assert group.add(model_of(dx)) is False  # a radiograph has no slice position
    assert len(group) == 1


def test_refresh_measures_a_grown_stack_again(stacks, demo_store):
    cur, prior, _ = stacks
    a = LocalArchive(demo_store)
    try:
        every = a.instances(CT_HEAD.series[0].series_instance_uid)
        # A series still arriving: every 10th slice is here (z = -75, -65, ..., 65 mm).
        partial = ImageStack(a.root, cur.study, cur.series, every[::10])
    finally:
        a.close()
    assert len(partial) == 15
    mc, mp = model_of(partial), model_of(prior)
    group = SyncGroup()
    assert group.add(mc) and group.add(mp)
    mp.go_to(19)  # z = 22.5: the partial stack's nearest is 25 mm
    assert z_of(partial, mc.index) == pytest.approx(25.0)

    shown = partial.frames[mc.index].instance.sop_instance_uid
    assert partial.add_instances(every) == 135 and len(partial) == 150
    mc.index = partial.index_of(shown)  # what RemoteStudies does: the same image stays shown
    assert mc.index == 100  # z = 25 in the whole series
    assert group.refresh(mc) is True
    mp.go_to(18)  # z = 17.5, a tie between 17 and 18 mm: the lower index
    assert mc.index == 92 and z_of(partial, mc.index) == pytest.approx(17.0)
    mc.go_to(96)  # z = 21 -> the prior at 22.5 mm (a slice the 15-slice stack could not reach)
    assert mp.index == 19
    assert group.refresh(model_of(cur)) is False  # not a member: nothing measured
    assert len(group) == 2
