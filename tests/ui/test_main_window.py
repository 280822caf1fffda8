"""The first screen, offscreen: study list, opening a CT, scrolling, corner text, screenshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from support import clear_reader_annotations

from workstation.archive.local import LocalArchive
from workstation.core.settings import Settings, UiConfig
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, MR_BRAIN
from workstation.ui.main_window import MainWindow
from workstation.ui.theme import apply_dark_theme


@pytest.fixture
def window(qtbot, demo_store: Path, qapp):
    apply_dark_theme(qapp)
    clear_reader_annotations(demo_store)
    archive = LocalArchive(demo_store)
    win = MainWindow(archive)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    archive.close()


def qimage_to_array(img) -> np.ndarray:
    img = img.convertToFormat(img.Format.Format_RGB888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def test_study_list_search_and_sort(window):
    model = window.study_model
    assert model.rowCount() == 6
    window.search.setText("doe jane")
    window._apply_search()
    assert model.rowCount() == 2  # the head CT and its prior
    assert {model.study_at(r).accession_number for r in range(2)} == {"ACC-CTH-1", "ACC-CTH-0"}
    window.search.setText("ACC-MRB")
    window._apply_search()
    assert model.rowCount() == 1
    assert model.study_at(0).patient.patient_id == "DEMO-0003"
    window.search.setText("")
    window._apply_search()
    model.sort(0, Qt.SortOrder.AscendingOrder)
    names = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert names == sorted(names, key=str.casefold)


def test_open_ct_scroll_ten_and_screenshot(window, qtbot, artifact_dir):
    window.open_study(CT_HEAD.study_instance_uid)
    vp = window.viewport
    assert vp.model.count == 150
    start = vp.model.index
    assert start == 75
    for _ in range(10):
        qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_Down)
    assert vp.model.index == start + 10
    # The corner text names the patient and the image shown.
    texts = vp.model.corner_texts()
    assert texts["top_left"].splitlines()[0] == "Doe, Jane"
    assert f"Im {start + 11}/150" in texts["bottom_left"]
    assert vp.scene.corner_text["top_left"].startswith("Doe, Jane")
    shot = window.screenshot()
    path = artifact_dir / "ui_main_window_ct_head.png"
    assert shot.save(str(path))
    arr = qimage_to_array(shot)
    # The viewport region of the screenshot shows the CT: not blank, many grey levels.
    top_left = vp.mapTo(window, vp.rect().topLeft())
    region = arr[
        top_left.y() + 50 : top_left.y() + vp.height() - 50,
        top_left.x() + 50 : top_left.x() + vp.width() - 50,
    ]
    assert region.std() > 30
    assert len(np.unique(region[..., 0])) > 50
    # The image in the viewport matches the pipeline's output for that slice.
    cap = qimage_to_array(vp.capture())
    assert cap.shape[0] == vp.scene.render_window.GetSize()[1]
    # Series browser lists the one series with a thumbnail.
    # Series browser: the current series, then the prior's under its date.
    assert window.series_browser.series_uids() == [
        CT_HEAD.series[0].series_instance_uid,
        CT_HEAD_PRIOR.series[0].series_instance_uid,
    ]
    assert window.series_browser.item(1).text().startswith("Prior 2025-11-01")
    assert not window.series_browser.item(0).icon().isNull()


def test_wheel_scrolls_and_stops_at_the_end(window, qtbot):
    window.open_study(CT_HEAD.study_instance_uid)
    vp = window.viewport
    vp.model.go_to(148)
    for _ in range(5):
        vp.model.scroll(1)
    assert vp.model.index == 149  # no wrap-around


def test_arabic_name_in_list_and_corner(window, artifact_dir):
    row = window.study_model.row_of(MR_BRAIN.study_instance_uid)
    assert window.study_model.data(window.study_model.index(row, 0)) == "حداد, ليلى"
    window.open_study(MR_BRAIN.study_instance_uid)
    assert window.viewport.model.corner_texts()["top_left"].startswith("حداد, ليلى")
    window.screenshot().save(str(artifact_dir / "ui_main_window_mr_arabic.png"))


def test_import_in_the_app_reports_rejections(window, qtbot, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with qtbot.waitSignal(window.study_model.modelReset, timeout=20000):
        window.start_import([str(bad)])
    qtbot.waitUntil(lambda: window._import_thread is None, timeout=10000)
    assert "0 imported" in window.statusBar().currentMessage()
    assert "1 rejected" in window.statusBar().currentMessage()


def test_comparison_layout_and_linked_scrolling(window, qtbot, artifact_dir):
    window.open_study(CT_HEAD.study_instance_uid)
    qtbot.wait(50)
    assert window.protocol is not None and window.protocol.id == "ct-compare"
    assert (window.grid.rows, window.grid.columns) == (1, 2)
    current, prior = window.grid.viewports
    assert current.model.stack.series.series_instance_uid == CT_HEAD.series[0].series_instance_uid
    assert (
        prior.model.stack.series.series_instance_uid == CT_HEAD_PRIOR.series[0].series_instance_uid
    )
    # Different Frames of Reference: nothing follows until the reader links them.
    prior_index = prior.model.index
    current.model.go_to(10)
    assert prior.model.index == prior_index
    # Align both on z = 0 (current) / z = -2.5 (prior: the nearest), then link by one click.
    current.model.go_to(75)
    prior.model.go_to(14)
    window.grid.set_active(0)
    assert window.link_visible_series() == 1
    current.model.go_to(95)  # z = 20 mm
    z_cur = current.model.stack.frames[current.model.index].instance.image_position_patient[2]
    z_prior = prior.model.stack.frames[prior.model.index].instance.image_position_patient[2]
    assert z_cur == pytest.approx(20.0)
    assert z_prior == pytest.approx(17.5)  # 20 mm + the 2.5 mm registered offset - 5 mm grid
    qtbot.wait(50)
    window.screenshot().save(str(artifact_dir / "ui_comparison_ct_head_prior.png"))


def test_key_image_toggle_is_kept_in_the_store(window):
    window.open_study(CT_HEAD.study_instance_uid)
    window.grid.set_active(0)
    window.viewport.model.go_to(95)
    assert window.toggle_key_image() is True
    keys = window.archive.key_images(CT_HEAD.study_instance_uid)
    assert [(k.sop_instance_uid, k.frame_number) for k in keys] == [
        (CT_HEAD.series[0].sop_instance_uid(95), 1)
    ]
    assert window.toggle_key_image() is False
    assert window.archive.key_images(CT_HEAD.study_instance_uid) == []


def test_layouts_and_shortcut_sheet(window):
    window.set_layout(3, 3)
    assert len(window.grid.viewports) == 9
    window.set_layout(2, 2)
    assert len(window.grid.viewports) == 4
    sheet = window.show_shortcut_sheet()
    keys = {sheet.table.item(r, 0).text() for r in range(sheet.table.rowCount())}
    assert {"F2", "Ctrl+L", "K", "Space", "?"} <= keys
    sheet.close()


def test_measurements_are_kept_per_study_and_shared_between_viewports(window, qtbot):
    from workstation.core.measure import Measurement, MeasurementKind

    window.open_study(CT_HEAD.study_instance_uid)
    window.set_layout(1, 2)
    window.grid.set_active(1)
    window.open_series(CT_HEAD.series[0].series_instance_uid)  # the same study twice
    left, right = window.grid.viewports
    m = Measurement(
        kind=MeasurementKind.LENGTH,
        points=((100.0, 100.0), (140.0, 100.0)),
        value=18.0,
        unit="mm",
        label="",
        sop_instance_uid=CT_HEAD.series[0].sop_instance_uid(75),
    )
    left.model.set_measurements([m])  # as a tool does when a length is finished
    kept = window.archive.measurements(CT_HEAD.study_instance_uid)
    assert [k.measurement_id for k in kept] == [m.measurement_id]
    assert [k.measurement_id for k in right.model.measurements] == [m.measurement_id]
    left.model.set_measurements([])  # deleted in one viewport: gone from the store
    assert window.archive.measurements(CT_HEAD.study_instance_uid) == []
    assert right.model.measurements == []


def test_cine_plays_at_the_chosen_rate_and_stops(window, qtbot):
    window.open_study(CT_HEAD.study_instance_uid)
    window.grid.set_active(0)
    m = window.viewport.model
    m.go_to(0)
    window.cine_fps.setValue(20)
    window.toggle_cine()
    qtbot.wait(600)
    window.toggle_cine()
    advanced = m.index
    # 20 images/s for 0.6 s: about 12 images, fewer if the machine is slow, never more.
    assert 3 <= advanced <= 13
    qtbot.wait(200)
    assert m.index == advanced  # stopped


def test_dropping_a_series_on_a_viewport_opens_it(window, qtbot):
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtGui import QDropEvent

    from workstation.ui.series_browser import SERIES_MIME

    window.open_study(CT_HEAD.study_instance_uid)
    window.set_layout(2, 2)
    cell = window.grid._cells[3]
    mime = QMimeData()
    mime.setData(SERIES_MIME, CT_HEAD_PRIOR.series[0].series_instance_uid.encode("ascii"))
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    cell.dropEvent(ev)
    assert window.grid.active_index == 3
    shown = window.grid.viewports[3].model.stack
    assert shown.series.series_instance_uid == CT_HEAD_PRIOR.series[0].series_instance_uid


def test_two_by_two_with_measurements_screenshot(window, qtbot, artifact_dir):
    from workstation.demo import CT_CHEST_ABDOMEN, DX_CHEST
    from workstation.viewer.tools import Tool

    window.open_study(CT_HEAD.study_instance_uid)
    window.set_layout(2, 2)
    for index, series_uid in enumerate(
        [
            CT_HEAD.series[0].series_instance_uid,
            CT_HEAD_PRIOR.series[0].series_instance_uid,
            CT_CHEST_ABDOMEN.series[0].series_instance_uid,
            DX_CHEST.series[0].series_instance_uid,
        ]
    ):
        window.grid.set_active(index)
        assert window.open_series(series_uid)
    qtbot.wait(100)
    vp = window.grid.viewports[0]
    vp.model.go_to(95)
    vp.model.set_tool(Tool.LENGTH)
    col, row, _ = CT_HEAD.series[0].lps_to_pixel((-44.0, -9.0, 20.0))
    vp.model.tool_press((col, row))
    vp.model.tool_release((col + 16 / 0.45, row))
    assert len(vp.model.measurements) == 1
    assert vp.model.measurements[0].value == pytest.approx(16.0, abs=0.45)
    qtbot.wait(100)
    shot = window.screenshot()
    assert shot.save(str(artifact_dir / "ui_layout_2x2_measurements.png"))


def test_embedded_worklist_tab_opens_its_study(window, qtbot):
    panel = window.worklist_panel
    assert panel is not None
    assert window.tabs.tabText(3) == "Worklist"
    # One reading work item per study of the local store.
    studies = {s.study_instance_uid for s in window.archive.studies()}
    qtbot.waitUntil(lambda: panel.model.rowCount() == len(studies), timeout=10000)
    panel.open_study_requested.emit(CT_HEAD.study_instance_uid, True)
    assert window.current_study_uid == CT_HEAD.study_instance_uid
    assert "read-only" in window.statusBar().currentMessage()


def test_mpr_tab_from_the_active_series(window, qtbot, artifact_dir):
    window.open_study(CT_HEAD.study_instance_uid)
    window.grid.set_active(0)
    assert window.open_mpr() is True
    assert window.tabs.currentWidget() is window.mpr_view
    assert window.mpr_view.volume.array.shape == (150, 512, 512)
    assert window.mpr_view.reduce_3d_on_software_gl is None  # no settings: the renderer decides
    # A site's [ui] software_3d reaches the MPR view (and from it the 3D view).
    window.settings = Settings(ui=UiConfig(software_3d="full"))
    assert window.open_mpr() is True
    assert window.mpr_view.reduce_3d_on_software_gl is False
    window.settings = None
    qtbot.wait(100)
    window.open_study(CT_HEAD.study_instance_uid)
    assert window.mpr_view is not None  # the same study: its MPR stays
    # Another study (here another patient's): the MPR tab of the first one goes with it.
    window.open_study(MR_BRAIN.study_instance_uid)
    assert window.mpr_view is None
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "MPR" not in tabs
    window.open_study(CT_HEAD.study_instance_uid)
    window.grid.set_layout(1, 1)
    window.grid.viewports[0].set_stack(None)
    assert window.open_mpr() is False  # nothing shown: nothing to reslice


def test_read_next_passes_over_the_study_on_screen_and_finished_reads(
    qtbot, qapp, tmp_path: Path
) -> None:
    """The embedded worklist (a work item per stored study, the local user reads): Read next
    opens the most urgent study; the one on screen and one whose final report is signed (on
    its way, its item still IN PROGRESS until the archive acknowledges) are passed over."""
    from workstation.core.report import Author
    from workstation.core.ups import ProcedureStepState
    from workstation.demo import DX_CHEST, generate_slice
    from workstation.reporting import codes
    from workstation.reporting.outbox import Outbox
    from workstation.reporting.signing import sign_report
    from workstation.reporting.templates import load_builtin_templates, pick_template

    apply_dark_theme(qapp)
    archive = LocalArchive(tmp_path / "store")
    for demo in (CT_HEAD, MR_BRAIN, DX_CHEST):
        archive.add_dataset(generate_slice(demo.series[0], 0))
    archive.commit()
    win = MainWindow(archive)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    try:
        panel = win.worklist_panel
        assert panel is not None
        qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=10_000)
        order = [panel.model.item_at(r).study_instance_uid for r in range(3)]
        first, second, third = order

        win.read_next_study()
        qtbot.waitUntil(lambda: win.current_study_uid == first, timeout=10_000)
        item = next(i for i in panel.model.items() if i.study_instance_uid == first)
        assert win.worklist_backend.get(item.uid).state is ProcedureStepState.IN_PROGRESS

        # The second study's read is finished here: a final report signed (no archive, so
        # it stays IN PROGRESS), while the reader still has the first on screen.
        study = archive.study(second)
        report = pick_template(load_builtin_templates(), study).build_report(
            study, Author("Reader^Rita", "Hub", codes.PHYSICIAN), normal=True
        )
        with Outbox(archive.root) as outbox:
            sign_report(report, archive, outbox, final=True, signer_name="Reader^Rita",
                        signer_organisation="Hub")  # fmt: skip
        win.read_next_study()
        qtbot.waitUntil(lambda: win.current_study_uid == third, timeout=10_000)

        # The third on screen, the first IN PROGRESS (claimed, not signed): it is resumed.
        win.read_next_study()
        qtbot.waitUntil(lambda: win.current_study_uid == first, timeout=10_000)
    finally:
        win.close()
        archive.close()


def test_the_status_line_counts_in_words(qtbot, qapp, tmp_path: Path) -> None:
    from workstation.demo import generate_slice
    from workstation.ui.i18n import install_translator

    install_translator(qapp, "en")  # English plurals ("1 study"), as the app installs them
    archive = LocalArchive(tmp_path / "store")
    archive.add_dataset(generate_slice(CT_HEAD.series[0], 0))
    archive.commit()
    win = MainWindow(archive)
    qtbot.addWidget(win)
    try:
        assert win.status_label.text() == "Local store: 1 study, 1 series, 1 image"
        archive.add_dataset(generate_slice(CT_HEAD_PRIOR.series[0], 0, CT_HEAD_PRIOR))
        archive.add_dataset(generate_slice(CT_HEAD_PRIOR.series[0], 1, CT_HEAD_PRIOR))
        archive.commit()
        win.refresh_local_studies()
        assert win.status_label.text() == "Local store: 2 studies, 2 series, 3 images"
    finally:
        win.close()
        archive.close()


def test_an_empty_viewport_says_what_the_protocol_looked_for(qtbot, window, artifact_dir) -> None:
    """The demo MR brain has a T1 only: the T2, FLAIR and DWI cells say so, not just black."""
    window.open_study(MR_BRAIN.study_instance_uid)
    assert window.protocol is not None and window.protocol.id == "mr-brain"
    vps = window.grid.viewports
    assert vps[0].model.stack is not None and vps[0].scene.corner_text["top_left"] != ""
    assert [vp.model.stack for vp in vps[1:4]] == [None, None, None]
    assert [vp.scene.corner_text["top_left"] for vp in vps[1:4]] == [
        "T2: not in this study",
        "FLAIR: not in this study",
        "DWI: not in this study",
    ]
    # A series loaded into such a cell replaces the text.
    qtbot.wait(200)  # laid out and drawn
    window.screenshot().save(str(artifact_dir / "mr_brain_empty_viewports.png"))
    vps[1].set_stack(vps[0].model.stack)
    assert vps[1].empty_text == ""


def _text_sr(study_uid: str, series_number: int):
    """A Basic Text SR of the demo CT head's patient, in a series of its own."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from workstation.demo import generate_slice

    ct = generate_slice(CT_HEAD.series[0], 0)
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate"):
        setattr(ds, keyword, getattr(ct, keyword))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.Modality = "SR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_a_study_without_images_leaves_no_other_patient_on_screen(
    qtbot, qapp, tmp_path: Path, artifact_dir
) -> None:
    """An RT plan (no images) opened after a CT showed the CT's patient in the viewport beside
    the plan's report: the plan's series was hung, could not be opened, and the viewport kept
    what it showed."""
    import pydicom
    from pydicom.data import get_testdata_file

    from workstation.demo import generate_slice
    from workstation.ui.i18n import install_translator

    install_translator(qapp, "en")  # English plurals ("1 object"), as the app installs them
    archive = LocalArchive(tmp_path / "store")
    for i in range(3):
        archive.add_dataset(generate_slice(CT_HEAD.series[0], i))
    archive.commit()
    plan = get_testdata_file("rtplan.dcm")
    assert archive.import_paths([Path(plan)]).imported == 1
    plan_uid = str(pydicom.dcmread(plan, stop_before_pixels=True).StudyInstanceUID)
    win = MainWindow(archive)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    try:
        win.open_study(CT_HEAD.study_instance_uid)
        assert win.grid.viewports[0].model.stack is not None
        win.open_study(plan_uid)
        assert [vp.model.stack for vp in win.grid.viewports] == [None] * len(win.grid.viewports)
        top_left = win.grid.viewports[0].scene.corner_text["top_left"]
        assert top_left == "No images in this study (RTPLAN)"
        assert win.series_browser.item(0).text().endswith("\n1 object")  # not "1 image"
        qtbot.wait(200)
        window_shot = win.screenshot()
        window_shot.save(str(artifact_dir / "study_without_images.png"))

        # A report series numbered before the images (a dose report often is): the images
        # are hung, the report is not taken for a series to show.
        archive.add_dataset(_text_sr(CT_HEAD.study_instance_uid, series_number=1))
        archive.commit()
        win.open_study(CT_HEAD.study_instance_uid)
        shown = [vp.model.stack for vp in win.grid.viewports if vp.model.stack is not None]
        assert shown and {stack.modality for stack in shown} == {"CT"}
    finally:
        win.close()
        archive.close()
