"""MPR measurements kept in the local store: made on an oblique plane of the demo chest CT,
shown again, on the same plane and with the same value, when the MPR view opens on the series
again; another series' MPR view does not show them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import clear_reader_annotations

from workstation.archive.local import LocalArchive
from workstation.core.measure import MeasurementKind
from workstation.demo import CT_CHEST_ABDOMEN
from workstation.demo.studies import CHEST_LIVER_LESION_CENTER_LPS
from workstation.ui.mpr_view import MprView
from workstation.viewer.volume import assemble_series

CHEST = CT_CHEST_ABDOMEN.series[0]
STUDY = CT_CHEST_ABDOMEN.study_instance_uid


@pytest.fixture(scope="module")
def chest_volume(demo_store: Path):
    archive = LocalArchive(demo_store)
    try:
        return assemble_series(archive, CHEST.series_instance_uid).volume
    finally:
        archive.close()


@pytest.fixture
def archive(demo_store: Path):
    clear_reader_annotations(demo_store)
    a = LocalArchive(demo_store)
    yield a
    clear_reader_annotations(demo_store)
    a.close()


def open_view(qtbot, volume, archive, series_uid=CHEST.series_instance_uid) -> MprView:
    view = MprView(
        volume,
        window=(40.0, 400.0),
        series_instance_uid=series_uid,
        archive=archive,
        study_instance_uid=STUDY,
    )
    qtbot.addWidget(view)
    view.resize(900, 760)
    view.show()
    qtbot.waitExposed(view)
    view.render_all()
    return view


def test_oblique_measurements_come_back_on_their_plane(qtbot, chest_volume, archive):
    view = open_view(qtbot, chest_volume, archive)
    view.model.set_crosshair(CHEST_LIVER_LESION_CENTER_LPS)
    view.model.rotate("axial", 20.0)  # coronal and sagittal turn about the axial normal
    view.model.rotate("sagittal", -15.0)  # and the axial and coronal about the sagittal's
    coronal = view.viewport("coronal")
    view.render_all()
    grid = coronal.scene.grid
    length = view.measure(coronal, "length", (120.0, 100.0), (200.0, 160.0))
    roi = view.measure(coronal, "ellipse", (150.0, 150.0), (162.0, 158.0))
    assert length is not None and roi is not None
    assert length.measurement.value == pytest.approx(100.0 * grid.spacing_mm, abs=1e-9)
    view.rename_measurement(length.measurement_id, "Lesion axis")
    stored = archive.measurements(STUDY)
    assert {m.measurement_id for m in stored} == {length.measurement_id, roi.measurement_id}
    assert all(m.plane is not None for m in stored)
    view.close()

    again = open_view(qtbot, chest_volume, archive)
    try:
        back = {pm.measurement_id: pm for pm in again.model.measurements}
        assert set(back) == {length.measurement_id, roi.measurement_id}
        for before in (length, roi):
            after = back[before.measurement_id]
            assert after.view == "coronal"
            assert after.measurement.value == pytest.approx(before.measurement.value, abs=1e-6)
            assert np.asarray(after.grid.origin_lps) == pytest.approx(
                np.asarray(grid.origin_lps), abs=1e-6
            )
            assert np.asarray(after.plane.normal) == pytest.approx(
                np.asarray(grid.plane.normal), abs=1e-6
            )
            assert np.asarray(after.plane.x_axis) == pytest.approx(
                np.asarray(grid.plane.x_axis), abs=1e-6
            )
            assert after.grid.spacing_mm == pytest.approx(grid.spacing_mm, abs=1e-12)
            assert np.asarray(after.points_lps) == pytest.approx(
                np.asarray(before.points_lps), abs=1e-6
            )
        assert back[length.measurement_id].measurement.name == "Lesion axis"
        assert back[roi.measurement_id].measurement.kind is MeasurementKind.ELLIPSE
        assert back[roi.measurement_id].measurement.detail("mean") == pytest.approx(
            roi.measurement.detail("mean"), abs=1e-6
        )
        # the view opened orthogonal: nothing on its coronal plane until it is shown
        cor = again.viewport("coronal")
        assert again.model.measurements_on(cor.current_grid()) == []
        assert again.show_measurement(length.measurement_id) == "coronal"
        shown = cor.current_grid()
        assert {pm.measurement_id for pm in again.model.measurements_on(shown)} == set(back)
        again.render_all()
        assert "Lesion axis: " in cor.scene.corner_text["bottom_right"]
        # removed here: removed from the store
        assert again.remove_measurement(roi.measurement_id)
        assert [m.measurement_id for m in archive.measurements(STUDY)] == [length.measurement_id]
    finally:
        again.close()


def test_another_series_does_not_show_them(qtbot, chest_volume, archive):
    view = open_view(qtbot, chest_volume, archive)
    axial = view.viewport("axial")
    assert view.measure(axial, "length", (50.0, 50.0), (90.0, 80.0)) is not None
    view.close()
    other = open_view(qtbot, chest_volume, archive, series_uid="1.2.3.4.5")
    try:
        assert other.model.measurements == []
        assert len(archive.measurements(STUDY)) == 1
    finally:
        other.close()
