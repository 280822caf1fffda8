"""workstation.core.report: the report model's rules, and the codes the SR writer uses."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pydicom.sr.codedict import codes as dicom_codes

from workstation.core.model import Patient
from workstation.core.report import (
    Author,
    Code,
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
    is_valid_uid,
)
from workstation.reporting import codes

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = "1.2.826.0.1.3680043.10.999.1"
IMG_A = ImageRef(CT, "1.2.826.0.1.3680043.10.999.1.1.1")
IMG_B = ImageRef(CT, "1.2.826.0.1.3680043.10.999.1.1.2", frame_number=3)
UTC = dt.UTC
PATIENT = Patient("P-1", "HOSP", "Doe^Jane", "19610312", "F")
AUTHOR = Author("Smith^Anna^^Dr", "Teleradiology Hub", codes.PHYSICIAN)
SIGNED = Signature(
    "Smith^Anna^^Dr", "Teleradiology Hub", dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
)
FINDINGS = ReportSection(codes.FINDINGS, "No acute haemorrhage.")


def report(**changes: object) -> Report:
    base: dict[str, object] = {
        "study_instance_uid": STUDY,
        "patient": PATIENT,
        "author": AUTHOR,
        "sections": (FINDINGS,),
        "status": ReportStatus.PRELIMINARY,
    }
    base.update(changes)
    return Report(**base)  # type: ignore[arg-type]


# --- Code ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": "", "scheme_designator": "DCM", "meaning": "x"}, "must not be empty"),
        ({"value": "1" * 17, "scheme_designator": "DCM", "meaning": "x"}, "at most 16"),
        ({"value": "121071", "scheme_designator": "DCM", "meaning": ""}, "needs a meaning"),
        ({"value": "121071", "scheme_designator": "DCM", "meaning": "a\\b"}, "backslashes"),
        ({"value": "121071", "scheme_designator": "DCM", "meaning": "m" * 65}, "at most 64"),
    ],
)
def test_code_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Code(**kwargs)


def test_code_same_concept_ignores_meaning_wording():
    assert Code("121071", "DCM", "Finding").same_concept(Code("121071", "DCM", "finding"))
    assert not Code("121071", "DCM", "Finding").same_concept(Code("121071", "SCT", "Finding"))


# --- Author, Signature ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("^^", "must not be empty"),
        ("Smith", "Family\\^Given"),
        ("A" * 65 + "^B", "component groups"),
        ("Smith\\Jones^A", "backslashes"),
        ("a^b^c^d^e^f", "more than 5 components"),
    ],
)
def test_author_name_must_be_a_person_name(name, message):
    with pytest.raises(ValueError, match=message):
        Author(name)


def test_author_role_must_be_a_code():
    with pytest.raises(ValueError, match="role must be a Code"):
        Author("Smith^Anna", role="Physician")  # type: ignore[arg-type]


def test_signature_needs_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        Signature("Smith^Anna", "Hub", dt.datetime(2026, 11, 20, 9, 0))


# --- Image references and coordinates ------------------------------------------------------------


def test_image_ref_checks_uids_and_frame():
    with pytest.raises(ValueError, match="sop_instance_uid must be a DICOM UID"):
        ImageRef(CT, "1.2.03")  # a leading zero in a component is not allowed (PS3.5 9.1)
    with pytest.raises(ValueError, match="frame_number must be 1 or more"):
        ImageRef(CT, "1.2.3", frame_number=0)
    assert is_valid_uid("1.2.840.10008.5.1.4.1.1.2")
    assert not is_valid_uid("1." + "2" * 63)


@pytest.mark.parametrize(
    ("graphic_type", "count", "message"),
    [
        (GraphicType.POINT, 2, "exactly 1"),
        (GraphicType.CIRCLE, 3, "exactly 2"),
        (GraphicType.ELLIPSE, 2, "exactly 4"),
        (GraphicType.POLYLINE, 1, "at least 2"),
        (GraphicType.MULTIPOINT, 1, "at least 2"),
    ],
)
def test_coordinates_need_the_point_count_of_their_graphic_type(graphic_type, count, message):
    with pytest.raises(ValueError, match=message):
        ImageCoordinates(graphic_type, tuple((float(i), 1.0) for i in range(count)))


def test_coordinates_are_kept_at_32_bit_precision():
    c = ImageCoordinates(GraphicType.POLYLINE, ((0.1, 2.0), (3.5, 4.25)))
    # float32(0.1) = 13421773 / 2**27
    assert c.points == ((13421773 / 2**27, 2.0), (3.5, 4.25))
    with pytest.raises(ValueError, match="finite"):
        ImageCoordinates(GraphicType.POINT, ((float("nan"), 1.0),))


# --- Items ---------------------------------------------------------------------------------------


def test_measurement_rules():
    m = Measurement(codes.LENGTH, 12, codes.MM, IMG_A)
    assert m.value == 12.0 and isinstance(m.value, float)
    with pytest.raises(ValueError, match="UCUM"):
        Measurement(codes.LENGTH, 12.0, Code("mm", "DCM", "mm"))
    with pytest.raises(ValueError, match="finite"):
        Measurement(codes.LENGTH, float("inf"), codes.MM)
    with pytest.raises(ValueError, match="must be a number"):
        Measurement(codes.LENGTH, True, codes.MM)
    with pytest.raises(ValueError, match=r"need Measurement\.image"):
        Measurement(
            codes.LENGTH,
            1.0,
            codes.MM,
            coordinates=ImageCoordinates(GraphicType.POINT, ((1.0, 1.0),)),
        )


def test_findings_need_text_and_image_refs():
    with pytest.raises(ValueError, match="must not be empty"):
        TextFinding(codes.FINDING, "   ")
    with pytest.raises(ValueError, match="ImageRef"):
        TextFinding(codes.FINDING, "x", ("1.2.3",))  # type: ignore[arg-type]
    assert TextFinding(codes.FINDING, "x", [IMG_A]).images == (IMG_A,)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be Codes"):
        CodedFinding(codes.FINDING, "Hematoma")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="purpose must be a Code"):
        KeyImageRef(IMG_A, "best")  # type: ignore[arg-type]


def test_section_holds_only_report_items():
    with pytest.raises(ValueError, match="got str"):
        ReportSection(codes.FINDINGS, "", ("text",))  # type: ignore[arg-type]
    assert ReportSection(codes.FINDINGS).is_empty
    assert not ReportSection(codes.FINDINGS, items=(KeyImageRef(IMG_A, codes.BASELINE),)).is_empty


# --- Report --------------------------------------------------------------------------------------


def test_final_report_must_be_signed_with_name_and_organisation():
    with pytest.raises(ValueError, match="must be signed"):
        report(status=ReportStatus.FINAL)
    unsigned_org = dataclasses.replace(SIGNED, organisation="")
    with pytest.raises(ValueError, match="signer's organisation"):
        report(status=ReportStatus.FINAL, signature=unsigned_org)
    assert report(status=ReportStatus.FINAL, signature=SIGNED).signature == SIGNED


@pytest.mark.parametrize("status", [ReportStatus.DRAFT, ReportStatus.PRELIMINARY])
def test_only_a_final_report_carries_a_signature(status):
    with pytest.raises(ValueError, match="cannot carry a signature"):
        report(status=status, signature=SIGNED)


def test_a_sent_report_must_say_something():
    empty = (ReportSection(codes.FINDINGS, "  "),)
    with pytest.raises(ValueError, match="at least one non-empty section"):
        report(sections=empty)
    assert report(sections=empty, status=ReportStatus.DRAFT).status is ReportStatus.DRAFT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"study_instance_uid": "not-a-uid"}, "study_instance_uid must be a DICOM UID"),
        ({"language": "english"}, "RFC 5646"),
        ({"accession": "A" * 17}, "at most 16"),
        ({"patient": "Doe^Jane"}, "Patient"),
        ({"sections": (FINDINGS, "x")}, "ReportSection"),
        ({"status": "FINAL"}, "ReportStatus"),
    ],
)
def test_report_rejects_bad_fields(changes, message):
    with pytest.raises(ValueError, match=message):
        report(**changes)


def test_predecessor_uids_are_checked():
    with pytest.raises(ValueError, match="series_instance_uid must be a DICOM UID"):
        PredecessorRef(STUDY, "x", "1.2.3")
    pred = PredecessorRef(STUDY, "1.2.3", "1.2.3.4")
    assert pred.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.33"


def test_image_refs_lists_each_image_once_in_order_of_mention():
    section = ReportSection(
        codes.FINDINGS,
        items=(
            TextFinding(codes.FINDING, "a", (IMG_B,)),
            Measurement(codes.LENGTH, 3.0, codes.MM, IMG_A),
            KeyImageRef(IMG_B, codes.BEST_ILLUSTRATION_OF_FINDING),
            CodedFinding(codes.FINDING, codes.HEMATOMA, (IMG_A,)),
        ),
    )
    assert report(sections=(section,)).image_refs() == (IMG_B, IMG_A)


# --- codes.py against the standard (pydicom's dictionary is generated from PS3.16) --------------


def _module_codes() -> dict[str, Code]:
    return {
        name: value
        for name, value in vars(codes).items()
        if isinstance(value, Code) and not name.startswith("_")
    }


def test_every_code_matches_the_standard_dictionary():
    checked = 0
    for name, code in _module_codes().items():
        scheme = getattr(dicom_codes, code.scheme_designator)
        found = [c for c in scheme.concepts.values() if c.value == code.value]
        assert found, f"{name}: {code.value} not in the {code.scheme_designator} dictionary"
        assert code.meaning in {c.meaning for c in found}, (name, [c.meaning for c in found])
        checked += 1
    assert checked == 58  # every Code constant in codes.py


def test_headings_and_elements_are_members_of_their_context_groups():
    cid7001 = {(c.value, c.scheme_designator) for c in dicom_codes.cid7001.concepts.values()}
    cid7002 = {(c.value, c.scheme_designator) for c in dicom_codes.cid7002.concepts.values()}
    cid7003 = {(c.value, c.scheme_designator) for c in dicom_codes.cid7003.concepts.values()}
    assert {(c.value, c.scheme_designator) for c in codes.CID_7001_HEADINGS} == cid7001
    assert {(c.value, c.scheme_designator) for c in codes.CID_7002_ELEMENTS} == cid7002
    for heading in codes.CID_7001_HEADINGS:
        element = codes.narrative_element(heading)
        assert (element.value, element.scheme_designator) in cid7002
    for purpose in (
        codes.BEST_ILLUSTRATION_OF_FINDING,
        codes.SOURCE_OF_MEASUREMENT,
        codes.BASELINE,
        codes.ILLUSTRATION_OF_ROI,
    ):
        assert (purpose.value, purpose.scheme_designator) in cid7003
    assert codes.narrative_element(codes.IMPRESSIONS) == codes.IMPRESSION
    assert codes.narrative_element(codes.ADDENDUM) == codes.FINDING


def test_language_codes():
    assert codes.language_code("en-US") == Code("en-US", "RFC5646", "English (United States)")
    assert codes.language_code("sr-Latn-RS") == Code("sr-Latn-RS", "RFC5646", "sr-Latn-RS")
