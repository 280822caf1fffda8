"""The report editor and the SR viewer, with a real local store, drafts database and outbox.

The editor fills the CT head template in tab order, fills normal text, expands autotext,
inserts a viewer measurement, restores its draft when re-created, and signs: the SR lands in
the store and in the outbox. The SR viewer shows a signed report (headings, the measurement,
image links) beside a prior's report, and an SR written by another system. Screenshots go to
test-output/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QMessageBox, QTextBrowser

from workstation.archive.local import LocalArchive
from workstation.core.measure import Measurement as ViewerMeasurement
from workstation.core.measure import MeasurementPlane, PixelCalibration, length_measurement
from workstation.core.model import KeyImage
from workstation.core.report import Author, GraphicType, Measurement, ReportStatus
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, generate_slice
from workstation.reporting import codes
from workstation.reporting.drafts import DraftStore
from workstation.reporting.outbox import FolderSender, Outbox, OutboxState
from workstation.reporting.signing import sign_report
from workstation.reporting.sr import read_sr
from workstation.reporting.templates import Template, load_builtin_templates, pick_template
from workstation.ui.report_editor import MacroStore, ReportEditor, SignerDialog, expand_macro
from workstation.ui.sr_viewer import SrViewer

STUDY = CT_HEAD.study_instance_uid
READER = "smith"
NAD = "No acute intracranial abnormality."


@dataclass
class Env:
    archive: LocalArchive
    drafts: DraftStore
    outbox: Outbox
    macros: MacroStore
    template: Template
    measurement: ViewerMeasurement
    measured_sop: str
    key_sop: str
    editors: list[ReportEditor] = field(default_factory=list)


@pytest.fixture
def env(tmp_path: Path, qtbot) -> Iterator[Env]:
    archive = LocalArchive(tmp_path / "store")
    for i in (93, 94, 95, 96):  # instance numbers 94 to 97 of series 1
        archive.add_dataset(generate_slice(CT_HEAD.series[0], i))
    archive.commit()
    series = archive.series(STUDY)[0].series_instance_uid
    insts = archive.instances(series)
    archive.set_key_image(KeyImage(STUDY, insts[1].sop_instance_uid, 1))
    cal = PixelCalibration.from_instance(insts[2])
    m = length_measurement((100, 200), (120, 210), cal, insts[2].sop_instance_uid)
    archive.save_measurement(STUDY, m)
    macros = MacroStore(tmp_path / "macros.json")
    macros.set(READER, "nad", NAD)
    template = pick_template(load_builtin_templates(), archive.study(STUDY))
    assert template.id == "ct-head"
    e = Env(
        archive,
        DraftStore(archive.root),
        Outbox(archive.root),
        macros,
        template,
        m,
        insts[2].sop_instance_uid,
        insts[1].sop_instance_uid,
    )
    yield e
    for ed in e.editors:
        ed.shutdown()
    e.outbox.close()
    e.drafts.close()
    archive.close()


def make_editor(env: Env, qtbot, **kw) -> ReportEditor:
    options = {
        "outbox": env.outbox,
        "destinations": ["central"],
        "macros": env.macros,
        "autosave_interval_s": 0.05,
        **kw,
    }
    ed = ReportEditor(env.archive, STUDY, env.template, READER, env.drafts, **options)
    env.editors.append(ed)
    qtbot.addWidget(ed)
    ed.resize(760, 1100)
    ed.show()
    qtbot.waitExposed(ed)
    return ed


def test_fields_are_in_tab_order_and_fill_the_report(env, qtbot):
    ed = make_editor(env, qtbot)
    expected = []
    for s in env.template.sections:
        expected += [f"field:{f.key}" for f in s.fields] + [f"section:{s.key}"]
    assert [w.objectName() for w in ed.tab_order] == expected
    ed.activateWindow()
    ed.tab_order[0].setFocus()
    qtbot.waitUntil(lambda: ed.tab_order[0].hasFocus())
    visited = [QApplication.focusWidget().objectName()]
    for _ in range(6):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget().objectName())
    assert visited == expected[:7]

    combo = ed.field_widgets["hemorrhage"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findText("subdural"))
    qtbot.keyClicks(ed.field_widgets["midline_shift"], "4.5")
    qtbot.keyClicks(ed.section_edits["findings"], "Acute left subdural haematoma.")
    report = ed.report()
    findings = next(s for s in report.sections if s.heading.same_concept(codes.FINDINGS))
    assert findings.text == (
        "Intracranial hemorrhage: subdural.\nMidline shift: 4.5 mm.\nAcute left subdural haematoma."
    )
    assert report.status is ReportStatus.DRAFT


def test_normal_fills_every_empty_field_and_undo_takes_it_back(env, qtbot, artifact_dir):
    ed = make_editor(env, qtbot)
    qtbot.keyClicks(ed.section_edits["impressions"], "Small subdural haematoma.")
    filled = ed.fill_normal()
    normals = env.template.normal_values()
    texts = env.template.normal_texts()
    assert filled == len(normals) + len(texts) - 1  # impressions had the reader's words
    for key, value in normals.items():
        w = ed.field_widgets[key]
        shown = w.currentText() if isinstance(w, QComboBox) else w.text()  # type: ignore[union-attr]
        assert shown == (f"{value:g}" if isinstance(value, float) else str(value)), key
    for key, text in texts.items():
        if key != "impressions":
            assert ed.section_edits[key].toPlainText() == text
    assert ed.section_edits["impressions"].toPlainText() == "Small subdural haematoma."
    qtbot.wait(50)
    assert ed.grab().save(str(artifact_dir / "ui_report_editor_normal.png"))
    assert ed.undo()
    assert all(
        (w.currentText() if isinstance(w, QComboBox) else w.text()) == ""  # type: ignore[union-attr]
        for w in ed.field_widgets.values()
    )
    assert ed.section_edits["procedure"].toPlainText() == ""
    assert ed.section_edits["impressions"].toPlainText() == "Small subdural haematoma."


def test_autotext_expands_and_undoes(env, qtbot):
    ed = make_editor(env, qtbot)
    edit = ed.section_edits["impressions"]
    edit.setFocus()
    qtbot.keyClicks(edit, "Stable. .nad ")
    assert edit.toPlainText() == f"Stable. {NAD} "
    assert edit.textCursor().position() == len(edit.toPlainText())
    assert ed.undo()
    assert edit.toPlainText() == "Stable. .nad "
    edit.clear()
    qtbot.keyClicks(edit, "NAD")
    qtbot.keyClick(edit, Qt.Key.Key_F3)  # expands the word before the cursor, dot or not
    assert edit.toPlainText() == NAD
    line = ed.field_widgets["parenchyma"]
    assert isinstance(line, QLineEdit)
    qtbot.keyClicks(line, ".nad ")
    assert line.text() == f"{NAD} "
    assert expand_macro(".unknown ", 9, {"nad": NAD}) is None
    assert expand_macro("x.nad ", 6, {"nad": NAD}) is None  # a dot inside a word is no macro


def test_a_viewer_measurement_is_inserted_with_its_image(env, qtbot):
    ed = make_editor(env, qtbot)
    assert [ed.measurement_list.item(i).text() for i in range(ed.measurement_list.count())] == [
        "length 10.06 mm  (series 1, image 96)"
    ]
    assert [ed.key_image_list.item(i).text() for i in range(ed.key_image_list.count())] == [
        "series 1, image 95"
    ]
    assert ed.insert_measurement(env.measurement, field_key="hematoma_thickness")
    assert ed.field_widgets["hematoma_thickness"].text() == "10.06"  # type: ignore[attr-defined]
    edit = ed.section_edits["findings"]
    qtbot.keyClicks(edit, "Subdural haematoma measuring")
    assert ed.insert_measurement(env.measurement, section_key="findings")
    assert edit.toPlainText() == "Subdural haematoma measuring length 10.06 mm (series 1, image 96)"
    findings = next(s for s in ed.report().sections if s.heading.same_concept(codes.FINDINGS))
    nums = [i for i in findings.items if isinstance(i, Measurement)]
    assert len(nums) == 2  # the field's, then the one inserted in the text
    for num in nums:
        assert (num.concept, num.value, num.unit) == (codes.LENGTH, 10.06, codes.MM)
        assert num.image is not None and num.image.sop_instance_uid == env.measured_sop
        assert num.coordinates is not None
        assert num.coordinates.graphic_type is GraphicType.POLYLINE
        assert num.coordinates.points == ((100.5, 200.5), (120.5, 210.5))  # pixel corner origin
    assert ed.section_item_labels["findings"].text().startswith("• Length 10.06 mm")


def test_an_mpr_measurement_is_reported_with_its_plane_and_no_image(env, qtbot):
    """A reformatted plane has no SOP Instance: the NUM carries no image reference, the text
    says where the plane lies, and signing does not look for an image to reference."""
    series = env.archive.series(STUDY)[0].series_instance_uid
    plane = MeasurementPlane(
        origin_lps=(-115.0, -115.0, 20.0),
        row_direction=(1.0, 0.0, 0.0),
        column_direction=(0.0, 1.0, 0.0),
        pixel_spacing_mm=0.45,
        columns=512,
        rows=512,
        series_instance_uid=series,
        view="axial",
    )
    mpr = dataclasses.replace(
        env.measurement,
        measurement_id="mpr-length-1",
        sop_instance_uid=series,
        frame_number=1,
        plane=plane,
        name="Midline shift",
    )
    env.archive.save_measurement(STUDY, mpr)
    ed = make_editor(env, qtbot, signer_name="Smith^Anna", signer_organisation="Hub")
    texts = [ed.measurement_list.item(i).text() for i in range(ed.measurement_list.count())]
    assert texts == [
        "length 10.06 mm  (series 1, image 96)",
        "Midline shift: length 10.06 mm  (MPR axial S 20.0 mm)",
    ]
    edit = ed.section_edits["findings"]
    qtbot.keyClicks(edit, "Midline shift")
    assert ed.insert_measurement(mpr, section_key="findings")
    assert edit.toPlainText() == "Midline shift length 10.06 mm (MPR axial S 20.0 mm)"
    findings = next(s for s in ed.report().sections if s.heading.same_concept(codes.FINDINGS))
    [num] = [i for i in findings.items if isinstance(i, Measurement)]
    assert (num.concept, num.value, num.unit, num.image, num.coordinates) == (
        codes.LENGTH,
        10.06,
        codes.MM,
        None,
        None,
    )
    ed.fill_normal()
    with qtbot.waitSignal(ed.signed, timeout=5000) as blocker:
        ed.sign_final_button.click()
    signed = blocker.args[0]
    key_section = next(
        s for s in signed.report.sections if s.heading.same_concept(codes.KEY_IMAGES)
    )
    # the key image and the 2D measurement's image; nothing for the plane
    assert sorted(i.image.sop_instance_uid for i in key_section.items) == sorted(  # type: ignore[union-attr]
        [env.key_sop, env.measured_sop]
    )
    assert read_sr(pydicom.dcmread(signed.path)) == signed.report


def test_the_draft_is_restored_with_its_time(env, qtbot):
    ed = make_editor(env, qtbot)
    combo = ed.field_widgets["hemorrhage"]
    combo.setCurrentIndex(combo.findText("epidural"))  # type: ignore[attr-defined]
    ed.insert_measurement(env.measurement, field_key="hematoma_thickness")
    with qtbot.waitSignal(ed.draft_saved, timeout=3000):
        qtbot.keyClicks(ed.section_edits["findings"], "Lentiform collection.")
    qtbot.waitUntil(lambda: not ed.autosaver.has_pending, timeout=3000)
    ed.close()
    saved = env.drafts.load(STUDY, READER)
    assert saved is not None

    again = make_editor(env, qtbot)
    assert again.restored is not None and again.restored.revision == saved.revision
    assert again.draft_label.text() == (
        f"Draft restored (saved {saved.saved_at.astimezone():%Y-%m-%d %H:%M:%S})"
    )
    assert again.section_edits["findings"].toPlainText() == "Lentiform collection."
    assert again.field_widgets["hemorrhage"].currentText() == "epidural"  # type: ignore[attr-defined]
    assert again.field_widgets["hematoma_thickness"].text() == "10.06"  # type: ignore[attr-defined]
    findings = next(s for s in again.report().sections if s.heading.same_concept(codes.FINDINGS))
    [num] = [i for i in findings.items if isinstance(i, Measurement)]
    assert num.image is not None and num.image.sop_instance_uid == env.measured_sop


def test_sign_final_stores_the_sr_and_queues_it(env, qtbot, tmp_path, artifact_dir):
    ed = make_editor(env, qtbot, signer_name="Smith^Anna", signer_organisation="Teleradiology Hub")
    ed.fill_normal()
    ed.insert_measurement(env.measurement, field_key="hematoma_thickness")
    combo = ed.field_widgets["hemorrhage"]
    combo.setCurrentIndex(combo.findText("subdural"))  # type: ignore[attr-defined]
    qtbot.wait(50)  # let the layout settle before the screenshot
    assert ed.grab().save(str(artifact_dir / "ui_report_editor.png"))
    with qtbot.waitSignal(ed.signed, timeout=5000) as blocker:
        ed.sign_final_button.click()
    signed = blocker.args[0]
    assert signed is ed.last_signed and signed.final
    ds = pydicom.dcmread(signed.path)
    assert (ds.VerificationFlag, ds.CompletionFlag) == ("VERIFIED", "COMPLETE")
    assert ds.VerifyingObserverSequence[0].VerifyingOrganization == "Teleradiology Hub"
    assert read_sr(ds) == signed.report
    assert env.archive.index.instance(signed.sop_instance_uid) is not None
    key_section = next(
        s for s in signed.report.sections if s.heading.same_concept(codes.KEY_IMAGES)
    )
    assert [i.image.sop_instance_uid for i in key_section.items] == [env.key_sop]  # type: ignore[union-attr]
    [entry] = env.outbox.entries(study_instance_uid=STUDY)
    assert (entry.sop_instance_uid, entry.destination, entry.state) == (
        signed.sop_instance_uid,
        "central",
        OutboxState.PENDING,
    )
    assert ed.outbox_label.text() == "Outbox: 1 pending. Latest: waiting to be sent to central"
    assert env.drafts.load(STUDY, READER) is None  # signed final: the draft is gone
    assert not ed.sign_final_button.isEnabled() and not ed.section_edits["findings"].isEnabled()
    drop = tmp_path / "central"
    drop.mkdir()
    env.outbox.process_once(FolderSender(drop, "central"))
    ed.refresh_outbox()
    assert ed.outbox_label.text().startswith("Outbox: 1 sent. Latest: acknowledged by central at ")


def test_a_signed_final_report_takes_an_addendum_now_and_after_reopening(env, qtbot):
    signer = {"signer_name": "Smith^Anna", "signer_organisation": "Teleradiology Hub"}
    ed = make_editor(env, qtbot, **signer)
    assert ed.addendum_button.isHidden()  # nothing signed yet
    ed.fill_normal()
    with qtbot.waitSignal(ed.signed, timeout=5000) as blocker:
        ed.sign_final_button.click()
    first = blocker.args[0]
    assert ed.addendum_button.isVisible() and ed.addendum_button.isEnabled()
    ed.ask_addendum = lambda: "  Compared with the prior CT: no change.  "  # the dialog's text
    with qtbot.waitSignal(ed.signed, timeout=5000) as blocker:
        ed.addendum_button.click()
    addendum = blocker.args[0]
    report = read_sr(pydicom.dcmread(addendum.path))
    assert report.status is ReportStatus.FINAL
    assert report.predecessor is not None
    assert report.predecessor.sop_instance_uid == first.sop_instance_uid
    assert [(s.heading.meaning, s.text) for s in report.sections] == [
        ("Addendum", "Compared with the prior CT: no change.")
    ]
    queued = env.outbox.entries(study_instance_uid=STUDY)
    assert {(e.sop_instance_uid, e.destination, e.state) for e in queued} == {
        (first.sop_instance_uid, "central", OutboxState.PENDING),
        (addendum.sop_instance_uid, "central", OutboxState.PENDING),
    }
    assert ed.final_sop_instance_uid == addendum.sop_instance_uid  # the next one amends it
    ed.ask_addendum = lambda: None  # cancelled: nothing signed
    assert ed.write_addendum() is None
    ed.shutdown()

    # Opened again (the next day, another session): read-only, the addendum offered.
    again = make_editor(env, qtbot, **signer)
    assert again.draft_label.text().startswith("Signed final (")
    assert again.draft_label.text().endswith(
        "), as the Reports tab shows: changes now go in an addendum."
    )
    assert not again.sign_final_button.isEnabled()
    assert not again.sign_preliminary_button.isEnabled()
    assert not again.section_edits["findings"].isEnabled()
    assert again.addendum_button.isVisible()
    assert again.final_sop_instance_uid == addendum.sop_instance_uid  # the latest one


def _dose_report(sop_class_uid: str) -> pydicom.Dataset:
    """A modality's verified X-Ray Radiation Dose Report (TID 10001 title) in the study."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.PatientID = CT_HEAD.patient.patient_id
    ds.ContentDate, ds.ContentTime = "20991231", "235959"  # later than any report here
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "VERIFIED"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator = "113701", "DCM"
    title.CodeMeaning = "X-Ray Radiation Dose Report"
    ds.ConceptNameCodeSequence = [title]
    ds.ValueType = "CONTAINER"
    ds.ContentSequence = [Dataset()]
    ds.ContentSequence[0].RelationshipType = "HAS OBS CONTEXT"
    ds.ContentSequence[0].ValueType = "TEXT"
    ds.ContentSequence[0].TextValue = "CTDIvol 40 mGy"
    return ds


@pytest.mark.parametrize(
    "sop_class_uid",
    [
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # the same title as a Comprehensive SR (older CTs)
    ],
)
def test_a_modality_dose_report_is_not_a_signed_report(env, qtbot, sop_class_uid):
    assert env.archive.add_dataset(_dose_report(sop_class_uid))
    env.archive.commit()
    ed = make_editor(env, qtbot, signer_name="Smith^Anna", signer_organisation="Teleradiology Hub")
    assert ed.sign_final_button.isEnabled() and ed.addendum_button.isHidden()
    assert ed.final_sop_instance_uid is None


def _answer_signer_dialog(qtbot, family: str, given: str, organisation: str) -> list[str]:
    """Fill the signer dialog when it opens (first without organisation, which it refuses)."""
    problems: list[str] = []

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SignerDialog):
            QTimer.singleShot(20, fill)
            return
        dialog.family.setText(family)
        dialog.given.setText(given)
        dialog.buttons.accepted.emit()  # OK with no organisation: refused, stays open
        problems.append(dialog.problem.text())
        dialog.organisation.setText(organisation)
        dialog.buttons.accepted.emit()

    QTimer.singleShot(0, fill)
    return problems


def test_sign_final_asks_for_the_signer_when_not_configured(env, qtbot):
    ed = make_editor(env, qtbot)
    ed.fill_normal()
    problems = _answer_signer_dialog(qtbot, "Jones", "Mary", "City Hospital")
    signed = ed.sign(final=True)
    assert problems == ["A final report needs the organisation."]
    assert signed is not None
    assert signed.report.signature is not None
    assert (signed.report.signature.person_name, signed.report.signature.organisation) == (
        "Jones^Mary",
        "City Hospital",
    )
    assert signed.report.author.person_name == "Jones^Mary"


def _answer_message_box(button: QMessageBox.StandardButton, seen: list[str]) -> None:
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, answer)


def test_an_incomplete_study_is_signed_only_when_acknowledged(env, qtbot):
    incomplete = ["CT 2 Axial (12 of 30 images)"]
    ed = make_editor(
        env,
        qtbot,
        signer_name="Smith^Anna",
        signer_organisation="Teleradiology Hub",
        completeness=lambda uid: incomplete if uid == STUDY else [],
    )
    ed.fill_normal()
    seen: list[str] = []
    _answer_message_box(QMessageBox.StandardButton.Cancel, seen)
    assert ed.sign(final=False) is None
    assert seen[0].startswith(
        "1 series of this study are incomplete in the local store (CT 2 Axial"
    )
    assert env.outbox.entries() == [] and env.archive.series(STUDY)[-1].modality == "CT"
    _answer_message_box(QMessageBox.StandardButton.Yes, seen)
    signed = ed.sign(final=False)
    assert signed is not None and signed.incomplete_series == tuple(incomplete)
    assert signed.report.status is ReportStatus.PRELIMINARY
    assert len(env.outbox.entries()) == 1
    assert ed.sign_final_button.isEnabled()  # a preliminary report can still be made final


def test_sr_viewer_shows_the_report_and_the_priors_report(env, qtbot, artifact_dir):
    archive = env.archive
    for i in (10, 11):
        archive.add_dataset(generate_slice(CT_HEAD_PRIOR.series[0], i))
    archive.commit()
    author = Author("Smith^Anna", "Teleradiology Hub", codes.PHYSICIAN)
    prior = env.template.build_report(
        archive.study(CT_HEAD_PRIOR.study_instance_uid), author, normal=True
    )
    sign_report(
        prior, archive, final=True, signer_name="Lee^Tom", signer_organisation="City Hospital"
    )
    ed = make_editor(env, qtbot, signer_name="Smith^Anna", signer_organisation="Teleradiology Hub")
    ed.fill_normal()
    ed.insert_measurement(env.measurement, field_key="hematoma_thickness")
    current = ed.sign(final=True)
    assert current is not None

    viewer = SrViewer()
    qtbot.addWidget(viewer)
    viewer.resize(700, 900)
    viewer.show()
    qtbot.waitExposed(viewer)
    assert viewer.show_study(archive, STUDY) == 2
    assert [viewer.tabs.tabText(i) for i in range(viewer.count)] == [
        "Current report",
        "Prior 2025-11-01",
    ]
    lines = viewer.plain_text(0).splitlines()
    for expected in (
        "Diagnostic Imaging Report",
        "Findings",
        "Intracranial hemorrhage: none.",
        "• Length: 10.06 mm",
        "outline: polyline, 2 points on series 1, image 96",
        "Impressions",
        NAD,
        "Key Images",
        "Best illustration of finding: series 1, image 95",
    ):
        assert expected in lines, (expected, lines)
    assert "Status: Final - signed by Lee, Tom (City Hospital)" in viewer.plain_text(1)
    qtbot.wait(50)  # let the layout settle before the screenshot
    assert viewer.grab().save(str(artifact_dir / "ui_sr_viewer.png"))
    # Clicking an image reference asks for that image.
    link = next(b for b in viewer.blocks(0) if b.image and b.image[1] == env.key_sop)
    browser = viewer.tabs.widget(0)
    assert isinstance(browser, QTextBrowser)
    assert f"sr-image:{env.key_sop}?frame=0" in browser.toHtml()
    with qtbot.waitSignal(viewer.image_activated) as sig:
        browser.anchorClicked.emit(QUrl(f"sr-image:{link.image[1]}?frame=0"))  # type: ignore[index]
    assert sig.args == [env.key_sop, 0]


def test_sr_viewer_shows_an_sr_from_another_system(qtbot):
    ds = pydicom.dcmread(get_testdata_file("test-SR.dcm"))  # dcmtk's OFFIS test document
    viewer = SrViewer()
    qtbot.addWidget(viewer)
    viewer.show_dataset(ds, "Received")
    lines = viewer.plain_text().splitlines()
    assert lines[0] == "Diagnosis"
    assert "Status: Final - signed by Riesmeier, Jörg (OFFIS e.V.) on 2001-02-13 18:47" in lines[3]
    assert "• Diameter: 3 cm" in lines
    viewer.set_documents([])
    assert viewer.count == 0 and viewer.plain_text() == ""
