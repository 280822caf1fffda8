"""The SR writer against real validators: dicom3tools' dciodvfy (IOD rules) and dcmtk's dsrdump
(SR content tree, template identification), plus a read-back with pydicom and ``read_sr``.

Evidence is the demo CT head (generated slices with fixed UIDs) and one slice of its prior.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
import shutil
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from workstation.core.errors import InvalidDicomError
from workstation.core.model import Instance, Patient, Study
from workstation.core.report import (
    Author,
    CodedFinding,
    GraphicType,
    ImageCoordinates,
    ImageRef,
    KeyImageRef,
    Measurement,
    PredecessorRef,
    Report,
    ReportSection,
    ReportStatus,
    Signature,
    TextFinding,
)
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, generate_slice
from workstation.reporting import codes
from workstation.reporting.sr import (
    COMPREHENSIVE_SR_STORAGE,
    EvidenceRef,
    build_sr,
    read_sr,
    report_instance_uid,
    report_series_uid,
    sr_to_text,
)

CET = dt.timezone(dt.timedelta(hours=1))
ARABIC_FINDING = "ورم دموي حاد تحت الجافية في الجهة اليسرى، سماكته ١٢ مم."
ARABIC_IMPRESSION = "ورم دموي حاد تحت الجافية."
FRENCH_FINDING = "Hématome sous-dural aigu gauche, épaisseur 12 mm; pas de déviation."
FRENCH_IMPRESSION = "Hématome sous-dural aigu. Contrôle à 24 h conseillé."


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: install Debian's dicom3tools and dcmtk (scripts/setup.sh)"
    return path


@pytest.fixture(scope="module")
def slices() -> dict[str, Dataset]:
    """Three slices of the current CT head around the haematoma and one slice of the prior."""
    current = CT_HEAD.series[0]
    out = {f"cur{i}": generate_slice(current, i) for i in (94, 95, 96)}
    out["prior"] = generate_slice(CT_HEAD_PRIOR.series[0], 15)
    return out


def _ref(ds: Dataset, frame: int | None = None) -> ImageRef:
    return ImageRef(str(ds.SOPClassUID), str(ds.SOPInstanceUID), frame)


def _patient(ds: Dataset) -> Patient:
    return Patient(
        patient_id=str(ds.PatientID),
        issuer_of_patient_id=str(ds.get("IssuerOfPatientID", "")),
        patient_name=str(ds.PatientName),
        birth_date=str(ds.PatientBirthDate),
        sex=str(ds.PatientSex),
    )


def _make_report(slices: dict[str, Dataset], case: str) -> Report:
    """The report of each test case; texts and signers differ, the measured image is the same."""
    key = _ref(slices["cur95"])
    prior = _ref(slices["prior"])
    language, finding, impression = "en-US", "Acute left subdural haematoma.", "Acute SDH."
    author = Author("Smith^Anna^^Dr", "Teleradiology Hub", codes.PHYSICIAN)
    if case.endswith("arabic"):
        language, finding, impression = "ar", ARABIC_FINDING, ARABIC_IMPRESSION
        author = Author("Haddad^Layla", "مستشفى الملك فهد", codes.CONSULTANT)
    elif case.endswith("accented"):
        language, finding, impression = "fr", FRENCH_FINDING, FRENCH_IMPRESSION
        author = Author("Müller^Jürgen", "Hôpital Saint-Éloi", codes.RESIDENT)
    findings = ReportSection(
        codes.FINDINGS,
        finding,
        (
            TextFinding(codes.FINDING, "Crescentic hyperdense collection.", (key,)),
            CodedFinding(codes.FINDING, codes.HEMATOMA, (key,)),
            Measurement(
                codes.LENGTH,
                12.5,
                codes.MM,
                key,
                ImageCoordinates(GraphicType.POLYLINE, ((100.5, 200.25), (120.0, 210.0))),
            ),
            Measurement(codes.MEAN, 62.0, codes.HOUNSFIELD_UNIT, key),
            KeyImageRef(key, codes.BEST_ILLUSTRATION_OF_FINDING),
        ),
    )
    if case == "final":  # a value measured with the reader's own calibration, qualified
        findings = dataclasses.replace(
            findings,
            items=(
                *findings.items,
                Measurement(
                    codes.LENGTH, 25.0, codes.MM, key, qualifier="calibrated by user, 0.182 mm/px"
                ),
            ),
        )
    sections = (
        ReportSection(codes.HISTORY, "Fall at home, headache."),
        ReportSection(codes.CURRENT_PROCEDURE_DESCRIPTIONS, "CT head without contrast."),
        ReportSection(
            codes.PREVIOUS_FINDINGS,
            "Normal CT head one year ago.",
            (KeyImageRef(prior, codes.BASELINE),),
        ),
        findings,
        ReportSection(codes.IMPRESSIONS, impression),
        ReportSection(codes.RECOMMENDATIONS, "Neurosurgical review."),
    )
    status = ReportStatus.PRELIMINARY if case.startswith("preliminary") else ReportStatus.FINAL
    signature = None
    if status is ReportStatus.FINAL:
        signature = Signature(
            author.person_name,
            author.organisation,
            dt.datetime(2026, 11, 20, 9, 15, 30, tzinfo=CET),
        )
    base = Report(
        study_instance_uid=str(slices["cur95"].StudyInstanceUID),
        patient=_patient(slices["cur95"]),
        author=author,
        sections=sections,
        accession=str(slices["cur95"].AccessionNumber),
        status=status,
        signature=signature,
        language=language,
        content_datetime=dt.datetime(2026, 11, 20, 9, 10, 0, 250000, tzinfo=CET),
    )
    if case != "addendum":
        return base
    signed = build_sr(base, list(slices.values()))
    return dataclasses.replace(
        base,
        sections=(ReportSection(codes.ADDENDUM, "Midline shift 3 mm on re-review."),),
        predecessor=PredecessorRef(
            str(signed.StudyInstanceUID),
            str(signed.SeriesInstanceUID),
            str(signed.SOPInstanceUID),
        ),
        signature=dataclasses.replace(
            signature,  # type: ignore[arg-type]
            signed_at=dt.datetime(2026, 11, 20, 11, 0, tzinfo=CET),
        ),
        content_datetime=dt.datetime(2026, 11, 20, 10, 55, tzinfo=CET),
    )


CASES = [
    "preliminary",
    "final",
    "addendum",
    "final_arabic",
    "preliminary_arabic",
    "final_accented",
    "preliminary_accented",
]


@pytest.fixture(scope="module", params=CASES)
def written(request, slices, tmp_path_factory) -> tuple[str, Report, Path]:
    """Each case's report written to a Part 10 file."""
    case = request.param
    report = _make_report(slices, case)
    path = tmp_path_factory.mktemp("sr") / f"{case}.dcm"
    build_sr(report, list(slices.values())).save_as(path, enforce_file_format=True)
    return case, report, path


def test_dciodvfy_finds_no_errors_and_no_warnings(written):
    _, _, path = written
    result = subprocess.run(
        [_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    output = result.stdout + result.stderr
    errors = [ln for ln in output.splitlines() if ln.startswith("Error")]
    warnings = [ln for ln in output.splitlines() if ln.startswith("Warning")]
    assert errors == [], output
    assert warnings == [], output
    assert output.strip() == "ComprehensiveSR", output  # the IOD it recognised, nothing else


def test_dsrdump_reads_the_tid_2000_tree(written):
    case, report, path = written
    result = subprocess.run(
        [_tool("dsrdump"), "-v", "+Pt", str(path)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    out = result.stdout.decode("utf-8", errors="replace")
    assert result.returncode == 0, out + result.stderr.decode("utf-8", errors="replace")
    assert "Comprehensive SR Document" in out
    assert '<CONTAINER:(,,"Diagnostic Imaging Report")=SEPARATE>  # TID 2000 (DCMR' in out
    for section in report.sections:
        assert f'<contains CONTAINER:(,,"{section.heading.meaning}")=SEPARATE>' in out, out
    if case == "addendum":
        assert '<contains CONTAINER:(,,"Addendum")=SEPARATE>' in out
        assert "Predecessor Docs    : 1" in out
    else:
        assert '<contains NUM:(,,"Length")="12.5" (mm,UCUM,"mm")>' in out
        assert '<contains NUM:(,,"Mean")="62.0" ([hnsf\'U],UCUM,"Hounsfield unit")>' in out
        assert '<inferred from SCOORD:(,,"Path")=(POLYLINE,100.5/200.25,...)>' in out
    if report.status is ReportStatus.FINAL:
        assert "Verification Flag   : VERIFIED" in out
        assert "Completion Flag     : COMPLETE" in out
        signer = report.signature
        assert signer is not None
        assert f"Verifying Observers : 2026-11-20 {signer.signed_at:%H:%M:%S} +01:00, " in out
        assert signer.person_name in out
    else:
        assert "Verification Flag   : UNVERIFIED" in out
        assert "Completion Flag     : PARTIAL" in out
        assert "Verifying Observers" not in out


def test_header_flags_observer_and_references(written, slices):
    case, report, path = written
    ds = pydicom.dcmread(path)
    final = report.status is ReportStatus.FINAL
    assert ds.file_meta.MediaStorageSOPClassUID == COMPREHENSIVE_SR_STORAGE
    assert ds.SOPClassUID == COMPREHENSIVE_SR_STORAGE
    assert ds.SOPInstanceUID == report_instance_uid(report)
    assert ds.SeriesInstanceUID == report_series_uid(report.study_instance_uid)
    assert ds.Modality == "SR"
    assert (ds.CompletionFlag, ds.VerificationFlag, ds.PreliminaryFlag) == (
        ("COMPLETE", "VERIFIED", "FINAL") if final else ("PARTIAL", "UNVERIFIED", "PRELIMINARY")
    )
    assert (ds.ContentDate, ds.TimezoneOffsetFromUTC) == ("20261120", "+0100")
    non_ascii = case.endswith(("arabic", "accented"))
    assert ds.get("SpecificCharacterSet") == ("ISO_IR 192" if non_ascii else None)

    # Patient and study come from the report and the evidence.
    assert (ds.PatientID, str(ds.PatientName)) == ("DEMO-0001", "Doe^Jane")
    assert ds.StudyInstanceUID == CT_HEAD.study_instance_uid
    assert (ds.StudyDate, ds.StudyID, ds.AccessionNumber) == ("20261120", "CTH1", "ACC-CTH-1")
    request = ds.ReferencedRequestSequence[0]
    assert (request.StudyInstanceUID, request.AccessionNumber) == (
        CT_HEAD.study_instance_uid,
        "ACC-CTH-1",
    )

    # Verifying observer (PS3.3 C.17.2.1).
    if final:
        (obs,) = ds.VerifyingObserverSequence
        assert str(obs.VerifyingObserverName) == report.author.person_name
        assert obs.VerifyingOrganization == report.author.organisation
        expected_time = "20261120110000+0100" if case == "addendum" else "20261120091530+0100"
        assert obs.VerificationDateTime == expected_time
        assert len(obs.VerifyingObserverIdentificationCodeSequence) == 0
    else:
        assert "VerifyingObserverSequence" not in ds

    # Evidence: the three current slices in one series; the prior in Pertinent Other Evidence.
    (current,) = ds.CurrentRequestedProcedureEvidenceSequence
    (series,) = current.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == CT_HEAD.series[0].series_instance_uid
    assert [s.ReferencedSOPInstanceUID for s in series.ReferencedSOPSequence] == [
        slices[k].SOPInstanceUID for k in ("cur94", "cur95", "cur96")
    ]
    (other,) = ds.PertinentOtherEvidenceSequence
    assert other.StudyInstanceUID == CT_HEAD_PRIOR.study_instance_uid
    assert other.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        slices["prior"].SOPInstanceUID
    )
    if case == "addendum":
        assert report.predecessor is not None
        (pred,) = ds.PredecessorDocumentsSequence
        pred_sop = pred.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        assert pred_sop.ReferencedSOPInstanceUID == report.predecessor.sop_instance_uid
        assert pred_sop.ReferencedSOPClassUID == COMPREHENSIVE_SR_STORAGE
        assert pred_sop.ReferencedSOPInstanceUID != ds.SOPInstanceUID
    else:
        assert "PredecessorDocumentsSequence" not in ds

    # The root and its TID 1204 / TID 1001 children.
    root_code = ds.ConceptNameCodeSequence[0]
    assert (root_code.CodeValue, root_code.CodingSchemeDesignator, root_code.CodeMeaning) == (
        "18748-4",
        "LN",
        "Diagnostic Imaging Report",
    )
    (template,) = ds.ContentTemplateSequence
    assert (template.MappingResource, template.TemplateIdentifier) == ("DCMR", "2000")
    assert template.MappingResourceUID == "1.2.840.10008.8.1.1"
    language, observer_type, observer_name, organisation, role = ds.ContentSequence[:5]
    assert language.RelationshipType == "HAS CONCEPT MOD"
    assert language.ConceptNameCodeSequence[0].CodeValue == "121049"
    assert language.ConceptCodeSequence[0].CodeValue == report.language
    assert observer_type.ConceptCodeSequence[0].CodeValue == "121006"  # Person
    assert observer_name.RelationshipType == "HAS OBS CONTEXT"
    assert str(observer_name.PersonName) == report.author.person_name
    assert organisation.TextValue == report.author.organisation
    assert role.ConceptCodeSequence[0].CodeValue == report.author.role.value  # type: ignore[union-attr]
    headings = [
        item.ConceptNameCodeSequence[0].CodeValue
        for item in ds.ContentSequence[5:]
        if item.ValueType == "CONTAINER"
    ]
    assert headings == [s.heading.value for s in report.sections]


def test_measurement_is_a_num_inferred_from_a_path_on_the_key_image(slices):
    ds = build_sr(_make_report(slices, "final"), list(slices.values()))
    findings = next(
        i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "59776-5"
    )
    narrative, text, coded, length, mean, key, _qualified = findings.ContentSequence
    assert (narrative.ValueType, narrative.ConceptNameCodeSequence[0].CodeValue) == (
        "TEXT",
        "121071",
    )
    assert coded.ConceptCodeSequence[0].CodeValue == "35566002"
    assert text.ContentSequence[0].RelationshipType == "INFERRED FROM"
    measured = length.MeasuredValueSequence[0]
    assert (measured.NumericValue, measured.FloatingPointValue) == (12.5, 12.5)
    assert measured.MeasurementUnitsCodeSequence[0].CodeValue == "mm"
    (path,) = length.ContentSequence
    assert (path.RelationshipType, path.ValueType, path.GraphicType) == (
        "INFERRED FROM",
        "SCOORD",
        "POLYLINE",
    )
    assert list(path.GraphicData) == [100.5, 200.25, 120.0, 210.0]
    (source,) = path.ContentSequence
    assert source.RelationshipType == "SELECTED FROM"
    assert (
        source.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == slices["cur95"].SOPInstanceUID
    )
    assert mean.ContentSequence[0].ConceptNameCodeSequence[0].CodeValue == "121112"
    assert (key.ValueType, key.ConceptNameCodeSequence[0].CodeValue) == ("IMAGE", "121080")


def test_read_sr_mirrors_build_sr(written, slices):
    _, report, path = written
    assert read_sr(pydicom.dcmread(path)) == report
    assert read_sr(build_sr(report, list(slices.values()))) == report  # in memory too


def test_non_ascii_text_survives_the_file(slices, tmp_path):
    for case, finding, organisation in (
        ("final_arabic", ARABIC_FINDING, "مستشفى الملك فهد"),
        ("final_accented", FRENCH_FINDING, "Hôpital Saint-Éloi"),
    ):
        path = tmp_path / f"{case}.dcm"
        build_sr(_make_report(slices, case), list(slices.values())).save_as(
            path, enforce_file_format=True
        )
        raw = path.read_bytes()
        assert finding.encode("utf-8") in raw  # UTF-8 on disk, as ISO_IR 192 says
        ds = pydicom.dcmread(path)
        assert ds.VerifyingObserverSequence[0].VerifyingOrganization == organisation
        findings = read_sr(ds).sections[3]
        assert findings.text == finding


def test_same_report_gives_the_same_bytes_and_uid(slices):
    report = _make_report(slices, "final")

    def encode(r: Report) -> bytes:
        buf = io.BytesIO()
        build_sr(r, list(slices.values())).save_as(buf, enforce_file_format=True)
        return buf.getvalue()

    first, second = encode(report), encode(report)
    assert first == second
    prelim = _make_report(slices, "preliminary")
    assert report_instance_uid(prelim) != report_instance_uid(report)
    assert report_series_uid(prelim.study_instance_uid) == report_series_uid(
        report.study_instance_uid
    )
    chosen = build_sr(report, list(slices.values()), instance_uid="1.2.826.0.1.3680043.10.999.7")
    assert chosen.SOPInstanceUID == "1.2.826.0.1.3680043.10.999.7"


def test_evidence_by_reference_gives_the_same_evidence_sequences(slices, tmp_path):
    report = _make_report(slices, "final")
    refs = [
        EvidenceRef(
            str(d.StudyInstanceUID),
            str(d.SeriesInstanceUID),
            str(d.SOPClassUID),
            str(d.SOPInstanceUID),
        )
        for d in slices.values()
    ]
    by_ref = build_sr(report, refs)
    by_dataset = build_sr(report, list(slices.values()))
    # Index rows of the study (core.model.Instance) work as well; their study is the report's.
    rows = [
        Instance(
            sop_instance_uid=str(d.SOPInstanceUID),
            series_instance_uid=str(d.SeriesInstanceUID),
            sop_class_uid=str(d.SOPClassUID),
            transfer_syntax_uid=str(d.file_meta.TransferSyntaxUID),
            path=f"{i}.dcm",
        )
        for i, d in enumerate(slices[k] for k in ("cur94", "cur95", "cur96"))
    ]
    head = slices["cur95"]
    study = Study(
        study_instance_uid=str(head.StudyInstanceUID),
        patient=report.patient,
        accession_number=str(head.AccessionNumber),
        study_date=str(head.StudyDate),
        study_time=str(head.StudyTime),
        study_description=str(head.StudyDescription),
        referring_physician_name=str(head.ReferringPhysicianName),
        study_id=str(head.StudyID),
    )
    by_rows = build_sr(report, [*rows, refs[-1]], study=study)
    assert by_rows.CurrentRequestedProcedureEvidenceSequence == (
        by_ref.CurrentRequestedProcedureEvidenceSequence
    )
    # With the index's study row the header is as complete as with the datasets.
    header = ("StudyDate", "StudyTime", "StudyID", "ReferringPhysicianName", "StudyDescription")
    assert [by_rows[k].value for k in header] == [by_dataset[k].value for k in header]
    path = tmp_path / "by_rows.dcm"
    by_rows.save_as(path, enforce_file_format=True)
    result = subprocess.run(
        [_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.stdout + result.stderr).strip() == "ComprehensiveSR", result.stderr
    with pytest.raises(ValueError, match="not the report's study"):
        build_sr(report, refs, study=dataclasses.replace(study, study_instance_uid="1.2.3"))
    assert by_ref.CurrentRequestedProcedureEvidenceSequence == (
        by_dataset.CurrentRequestedProcedureEvidenceSequence
    )
    assert by_ref.PertinentOtherEvidenceSequence == by_dataset.PertinentOtherEvidenceSequence
    assert (by_ref.StudyDate, by_ref.StudyID) == ("", "")  # unknown without a dataset: Type 2


def test_bad_input_is_refused_with_clear_errors(slices):
    report = _make_report(slices, "final")
    with pytest.raises(ValueError, match="DRAFT report is not written"):
        build_sr(
            dataclasses.replace(report, status=ReportStatus.DRAFT, signature=None),
            list(slices.values()),
        )
    with pytest.raises(ValueError, match="not given as evidence"):
        build_sr(report, [slices["cur94"], slices["prior"]])
    stranger = copy.deepcopy(slices["cur94"])
    stranger.PatientID = "SOMEONE-ELSE"
    with pytest.raises(ValueError, match="patient other than the report's"):
        build_sr(report, [stranger, *slices.values()])
    broken = copy.deepcopy(slices["cur94"])
    del broken.SOPInstanceUID
    with pytest.raises(InvalidDicomError, match="lacks SOPInstanceUID"):
        build_sr(report, [broken])
    with pytest.raises(InvalidDicomError, match="not a DICOM SR"):
        read_sr(slices["cur95"])
    offis = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    with pytest.raises(InvalidDicomError, match="not a TID 2000"):
        read_sr(offis)


def test_sr_to_text_renders_our_report(slices):
    ds = build_sr(_make_report(slices, "final"), list(slices.values()))
    key_uid = slices["cur95"].SOPInstanceUID
    text = sr_to_text(ds)
    lines = text.splitlines()
    assert lines[:5] == [
        "Diagnostic Imaging Report",
        "Template: TID 2000 (DCMR)",
        "Completion: COMPLETE  Verification: VERIFIED  Preliminary: FINAL",
        "Verified by Smith, Dr Anna (Teleradiology Hub) at 20261120091530+0100",
        "Content date/time: 20261120 091000.250000",
    ]
    for expected in (
        "  HAS CONCEPT MOD CODE Language of Content Item and Descendants: "
        "English (United States) (en-US, RFC5646)",
        "  HAS OBS CONTEXT PNAME Person Observer Name: Smith, Dr Anna",
        "  CONTAINS CONTAINER Findings:",
        "    CONTAINS TEXT Finding: Acute left subdural haematoma.",
        "    CONTAINS CODE Finding: Hematoma (35566002, SCT)",
        "    CONTAINS NUM Length: 12.5 mm",
        "      INFERRED FROM SCOORD Path: POLYLINE (100.5, 200.25) (120, 210)",
        f"        SELECTED FROM IMAGE Source of Measurement: CT Image Storage {key_uid}",
        "    CONTAINS NUM Mean: 62.0 [hnsf'U]",
        "    CONTAINS TEXT Impression: Acute SDH.",
    ):
        assert expected in lines, (expected, text)


def test_sr_to_text_renders_any_sr_with_references_between_items():
    offis = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    lines = sr_to_text(offis).splitlines()
    assert lines[0] == "Diagnosis"
    assert "Predecessor documents: 1" in lines
    assert "      SELECTED FROM -> item 1.3.2 (SCOORD SCoord Code)" in lines
    assert "    HAS PROPERTIES SCOORD SCoord Code: CIRCLE (0, 0) (255, 255)" in lines
    assert "  CONTAINS IMAGE CT Image Storage 1.2.3.4.5.0 frame 5,2" in lines
    assert "    CONTAINS NUM Diameter: 3 cm" in lines
    with pytest.raises(InvalidDicomError):
        sr_to_text(Dataset())


def test_build_and_write_time(slices, tmp_path):
    """One SR built and written: well under the 100 ms a sign-and-send step can afford."""
    report = _make_report(slices, "final_arabic")
    evidence = list(slices.values())
    times = []
    for i in range(5):
        start = time.perf_counter()
        build_sr(report, evidence).save_as(tmp_path / f"{i}.dcm", enforce_file_format=True)
        times.append(time.perf_counter() - start)
    median = sorted(times)[2]
    print(f"build_sr + save_as: median {median * 1000:.1f} ms of 5")
    assert median < 0.1


def test_a_qualified_value_is_a_comment_under_its_num(slices):
    report = _make_report(slices, "final")
    ds = build_sr(report, list(slices.values()))
    nums = [
        item
        for section in ds.ContentSequence
        if section.ValueType == "CONTAINER"
        for item in section.get("ContentSequence", [])
        if item.ValueType == "NUM"
    ]
    qualified = [n for n in nums if float(n.MeasuredValueSequence[0].NumericValue) == 25.0]
    assert len(qualified) == 1
    comments = [
        c
        for c in qualified[0].ContentSequence
        if c.ValueType == "TEXT" and c.RelationshipType == "HAS PROPERTIES"
    ]
    assert [(c.ConceptNameCodeSequence[0].CodeValue, c.TextValue) for c in comments] == [
        ("121106", "calibrated by user, 0.182 mm/px")
    ]
    assert read_sr(ds) == report
