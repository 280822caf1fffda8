"""Write a :class:`~workstation.core.report.Report` as a DICOM Comprehensive SR, read it back, and
render any SR as text.

The content tree follows TID 2000 "Basic Diagnostic Imaging Report" (PS3.16): a CONTAINER titled
(18748-4, LN, "Diagnostic Imaging Report") with the language (TID 1204), the author as observation
context (TID 1001-1003), and one CONTAINER per section (CID 7001) holding TEXT, CODE, NUM and
IMAGE items (TID 2002, TID 2001, TID 1400). The header follows the SR Document General module
(PS3.3 C.17.2): completion, verification, preliminary flags, verifying observer, evidence,
request and predecessor. highdicom has no TID 2000 class, so the tree is assembled from its
content items; the dataset around it is built here so that every value comes from the report
(no clock reads when the report carries its times: a rebuilt SR is byte-identical).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from highdicom.sr import RelationshipTypeValues as Rel
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DT

from workstation import __version__
from workstation.core.errors import InvalidDicomError
from workstation.core.model import Instance, Patient, Study, format_person_name
from workstation.core.report import (
    COMPREHENSIVE_SR_STORAGE,
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
    ReportItem,
    ReportSection,
    ReportStatus,
    Signature,
    TextFinding,
)
from workstation.reporting import codes

__all__ = [
    "COMPREHENSIVE_SR_STORAGE",
    "EvidenceRef",
    "build_sr",
    "read_sr",
    "report_instance_uid",
    "report_series_uid",
    "sr_to_text",
]

DEFAULT_MANUFACTURER = "Reading Workstation"
DEFAULT_SERIES_NUMBER = 900
_UID_ROOT_TAG = "workstation-sr"


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """An instance the report is based on, known by its UIDs only (PS3.3 C.17.2.2)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str


Evidence = Dataset | EvidenceRef | Instance


# --------------------------------------------------------------------------------------------
# UIDs


def report_instance_uid(report: Report) -> str:
    """A SOP Instance UID derived from the whole report: the same report always gets the same
    UID, so sending it again is idempotent, and any change (status, text, signature) gives a new
    one (PS3.5 9.1, UID derived from a hash as pydicom's ``generate_uid`` does)."""
    return str(generate_uid(entropy_srcs=[_UID_ROOT_TAG, "instance", repr(report)]))


def report_series_uid(study_instance_uid: str) -> str:
    """The workstation's SR series of a study: one series holds a study's reports and addenda."""
    return str(generate_uid(entropy_srcs=[_UID_ROOT_TAG, "series", study_instance_uid]))


# --------------------------------------------------------------------------------------------
# Writing


def build_sr(
    report: Report,
    evidence: Iterable[Evidence] = (),
    *,
    study: Study | None = None,
    series_uid: str | None = None,
    instance_uid: str | None = None,
    series_number: int = DEFAULT_SERIES_NUMBER,
    instance_number: int = 1,
    manufacturer: str = DEFAULT_MANUFACTURER,
) -> Dataset:
    """The report as a Comprehensive SR dataset with file meta, ready for ``save_as`` or STOW.

    ``evidence`` lists the instances read (datasets, :class:`EvidenceRef` or index
    ``Instance`` rows, whose study is the report's): those of the report's study go to Current
    Requested Procedure Evidence, others (priors) to Pertinent Other Evidence (PS3.3 C.17.2.3).
    Every image the content refers to must be among them. Study date, time, ID, description and
    referring physician come from ``study`` (the index row) or else from the first evidence
    dataset of the study; without either they are left empty (Type 2).
    ``instance_uid`` defaults to :func:`report_instance_uid`, ``series_uid`` to
    :func:`report_series_uid`. A DRAFT is refused: drafts stay on the workstation.
    """
    if not isinstance(report, Report):
        raise TypeError("build_sr needs a workstation.core.report.Report")
    if report.status is ReportStatus.DRAFT:
        raise ValueError("a DRAFT report is not written as SR: set status PRELIMINARY or FINAL")
    refs, study_header = _collect_evidence(report, evidence)
    if study is not None:
        if study.study_instance_uid != report.study_instance_uid:
            raise ValueError("build_sr: the study given is not the report's study")
        study_header = {
            "StudyDate": study.study_date,
            "StudyTime": study.study_time,
            "StudyID": study.study_id,
            "ReferringPhysicianName": study.referring_physician_name,
            "StudyDescription": study.study_description,
        }
    evidence_uids = {r.sop_instance_uid for r in refs}
    for image in report.image_refs():
        if image.sop_instance_uid not in evidence_uids:
            raise ValueError(
                f"image {image.sop_instance_uid} is referenced in the report but not given as "
                "evidence (PS3.3 C.17.2.3 requires every referenced instance to be listed)"
            )

    sop_uid = instance_uid or report_instance_uid(report)
    ser_uid = series_uid or report_series_uid(report.study_instance_uid)
    for name, value in (("instance_uid", sop_uid), ("series_uid", ser_uid)):
        if not UID(value).is_valid:
            raise ValueError(f"{name} must be a valid DICOM UID, got {value!r}")

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(COMPREHENSIVE_SR_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta

    # SOP Common (PS3.3 C.12.1)
    ds.SOPClassUID = COMPREHENSIVE_SR_STORAGE
    ds.SOPInstanceUID = sop_uid
    content_dt = _content_datetime(report)
    if content_dt.tzinfo is not None:
        ds.TimezoneOffsetFromUTC = _utc_offset(content_dt)

    # Patient (C.7.1.1) and General Study (C.7.2.1); Type 2 values may be empty.
    p = report.patient
    ds.PatientName = p.patient_name
    ds.PatientID = p.patient_id
    if p.issuer_of_patient_id:
        ds.IssuerOfPatientID = p.issuer_of_patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    ds.StudyInstanceUID = report.study_instance_uid
    ds.StudyDate = study_header.get("StudyDate", "")
    ds.StudyTime = study_header.get("StudyTime", "")
    ds.ReferringPhysicianName = study_header.get("ReferringPhysicianName", "")
    ds.StudyID = study_header.get("StudyID", "")
    ds.AccessionNumber = report.accession
    if study_header.get("StudyDescription"):
        ds.StudyDescription = study_header["StudyDescription"]

    # SR Document Series (C.17.1) and General Equipment (C.7.5.1)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = ser_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = "Diagnostic imaging report"
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    ds.Manufacturer = manufacturer
    ds.SoftwareVersions = __version__

    # SR Document General (C.17.2)
    ds.InstanceNumber = instance_number
    final = report.status is ReportStatus.FINAL
    ds.CompletionFlag = "COMPLETE" if final else "PARTIAL"
    ds.VerificationFlag = "VERIFIED" if final else "UNVERIFIED"
    ds.PreliminaryFlag = "FINAL" if final else "PRELIMINARY"
    ds.ContentDate = content_dt.strftime("%Y%m%d")
    ds.ContentTime = _tm(content_dt)
    if final:
        assert report.signature is not None  # the model guarantees it
        ds.VerifyingObserverSequence = DicomSequence([_verifying_observer(report.signature)])
    if report.predecessor is not None:
        ds.PredecessorDocumentsSequence = DicomSequence([_predecessor_item(report.predecessor)])
    ds.ReferencedRequestSequence = DicomSequence([_request_item(report, study_header)])
    ds.PerformedProcedureCodeSequence = DicomSequence()
    current = [r for r in refs if r.study_instance_uid == report.study_instance_uid]
    other = [r for r in refs if r.study_instance_uid != report.study_instance_uid]
    if current:
        ds.CurrentRequestedProcedureEvidenceSequence = _hierarchical_refs(current)
    if other:
        ds.PertinentOtherEvidenceSequence = _hierarchical_refs(other)

    # SR Document Content (C.17.3): the root content item's attributes live in the dataset.
    root = _content_tree(report)
    for keyword in (
        "ValueType",
        "ConceptNameCodeSequence",
        "ContinuityOfContent",
        "ContentTemplateSequence",
        "ContentSequence",
    ):
        setattr(ds, keyword, root[keyword].value)

    if _has_non_ascii(ds):
        # Unicode in UTF-8 (PS3.3 C.12.1.1.2, PS3.5 6.1.2.3): one character set for every script.
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _content_datetime(report: Report) -> _dt.datetime:
    if report.content_datetime is not None:
        return report.content_datetime
    if report.signature is not None:
        return report.signature.signed_at
    return _dt.datetime.now(_dt.UTC)


def _utc_offset(value: _dt.datetime) -> str:
    """An offset as ``+HHMM``/``-HHMM`` (PS3.5 6.2 DT and Timezone Offset From UTC)."""
    offset = value.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _tm(value: _dt.datetime) -> str:
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def _dt_value(value: _dt.datetime) -> str:
    """A DT value with its UTC offset (PS3.5 6.2): YYYYMMDDHHMMSS[.FFFFFF]&ZZXX."""
    return value.strftime("%Y%m%d") + _tm(value) + _utc_offset(value)


def _verifying_observer(signature: Signature) -> Dataset:
    item = Dataset()
    item.VerifyingObserverName = signature.person_name
    item.VerifyingObserverIdentificationCodeSequence = DicomSequence()  # Type 2
    item.VerifyingOrganization = signature.organisation
    item.VerificationDateTime = _dt_value(signature.signed_at)
    return item


def _predecessor_item(pred: PredecessorRef) -> Dataset:
    sop = Dataset()
    sop.ReferencedSOPClassUID = pred.sop_class_uid
    sop.ReferencedSOPInstanceUID = pred.sop_instance_uid
    series = Dataset()
    series.SeriesInstanceUID = pred.series_instance_uid
    series.ReferencedSOPSequence = DicomSequence([sop])
    item = Dataset()
    item.StudyInstanceUID = pred.study_instance_uid
    item.ReferencedSeriesSequence = DicomSequence([series])
    return item


def _request_item(report: Report, study_header: dict[str, str]) -> Dataset:
    """One Referenced Request Sequence item (PS3.3 Table C.17-2): the order this report answers,
    known here by its accession number; unknown Type 2 order identifiers are left empty."""
    item = Dataset()
    item.StudyInstanceUID = report.study_instance_uid
    item.ReferencedStudySequence = DicomSequence()
    item.AccessionNumber = report.accession
    item.PlacerOrderNumberImagingServiceRequest = ""
    item.FillerOrderNumberImagingServiceRequest = ""
    item.RequestedProcedureID = ""
    item.RequestedProcedureDescription = study_header.get("StudyDescription", "")
    item.RequestedProcedureCodeSequence = DicomSequence()
    return item


def _hierarchical_refs(refs: Sequence[EvidenceRef]) -> DicomSequence:
    """SOP Instance Reference Macro items grouped by study, then series (PS3.3 Table C.17-3)."""
    studies: dict[str, dict[str, list[EvidenceRef]]] = {}
    for ref in refs:
        studies.setdefault(ref.study_instance_uid, {}).setdefault(
            ref.series_instance_uid, []
        ).append(ref)
    out = DicomSequence()
    for study_uid, series_map in studies.items():
        study_item = Dataset()
        study_item.StudyInstanceUID = study_uid
        series_items = DicomSequence()
        for series_uid, instances in series_map.items():
            series_item = Dataset()
            series_item.SeriesInstanceUID = series_uid
            sops = DicomSequence()
            for inst in instances:
                sop = Dataset()
                sop.ReferencedSOPClassUID = inst.sop_class_uid
                sop.ReferencedSOPInstanceUID = inst.sop_instance_uid
                sops.append(sop)
            series_item.ReferencedSOPSequence = sops
            series_items.append(series_item)
        study_item.ReferencedSeriesSequence = series_items
        out.append(study_item)
    return out


_STUDY_HEADER_KEYWORDS = (
    "StudyDate",
    "StudyTime",
    "StudyID",
    "ReferringPhysicianName",
    "StudyDescription",
)


def _collect_evidence(
    report: Report, evidence: Iterable[Evidence]
) -> tuple[list[EvidenceRef], dict[str, str]]:
    refs: list[EvidenceRef] = []
    seen: set[str] = set()
    header: dict[str, str] = {}
    for item in evidence:
        if isinstance(item, EvidenceRef):
            ref = item
        elif isinstance(item, Instance):
            ref = EvidenceRef(
                report.study_instance_uid,
                item.series_instance_uid,
                item.sop_class_uid,
                item.sop_instance_uid,
            )
        elif isinstance(item, Dataset):
            ref = _dataset_ref(item)
            if ref.study_instance_uid == report.study_instance_uid:
                if str(item.get("PatientID", "")) != report.patient.patient_id:
                    raise ValueError(
                        f"evidence instance {ref.sop_instance_uid} belongs to a patient other "
                        "than the report's (Patient ID differs)"
                    )
                if not header:
                    header = {
                        k: str(item.get(k, "") or "") for k in _STUDY_HEADER_KEYWORDS if k in item
                    }
        else:
            raise TypeError(
                "evidence items must be pydicom Datasets, EvidenceRef or core.model.Instance, "
                f"got {type(item).__name__}"
            )
        for name in ("study_instance_uid", "series_instance_uid", "sop_class_uid"):
            if not UID(getattr(ref, name)).is_valid:
                raise InvalidDicomError(
                    f"evidence instance {ref.sop_instance_uid}: {name} is not a valid UID"
                )
        if ref.sop_instance_uid in seen:
            continue
        seen.add(ref.sop_instance_uid)
        refs.append(ref)
    return refs, header


def _dataset_ref(ds: Dataset) -> EvidenceRef:
    missing = [
        k
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID")
        if not ds.get(k)
    ]
    if missing:
        raise InvalidDicomError(
            f"an evidence dataset lacks {', '.join(missing)}; it cannot be referenced"
        )
    return EvidenceRef(
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPClassUID),
        str(ds.SOPInstanceUID),
    )


def _cc(code: Code) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(
        value=code.value,
        scheme_designator=code.scheme_designator,
        meaning=code.meaning,
        scheme_version=code.scheme_version or None,
    )


def _image_item(name: Code, ref: ImageRef, rel: Rel) -> hd.sr.ImageContentItem:
    return hd.sr.ImageContentItem(
        name=_cc(name),
        referenced_sop_class_uid=ref.sop_class_uid,
        referenced_sop_instance_uid=ref.sop_instance_uid,
        referenced_frame_numbers=ref.frame_number,
        relationship_type=rel,
    )


def _content_tree(report: Report) -> hd.sr.ContainerContentItem:
    """The TID 2000 tree: language (TID 1204), observer (TID 1001), one container per section."""
    root = hd.sr.ContainerContentItem(
        name=_cc(codes.DIAGNOSTIC_IMAGING_REPORT),
        template_id=codes.TID_2000,
        is_content_continuous=False,
    )
    root.ContentTemplateSequence[0].MappingResourceUID = codes.DCMR_UID
    items: list[hd.sr.ContentItem] = [
        *hd.sr.LanguageOfContentItemAndDescendants(_cc(codes.language_code(report.language))),
        *_observer_context(report.author),
    ]
    items.extend(_section_item(s) for s in report.sections if not s.is_empty)
    root.ContentSequence = hd.sr.ContentSequence(items)
    return root


def _observer_context(author: Author) -> hd.sr.ObservationContext:
    attributes = hd.sr.PersonObserverIdentifyingAttributes(
        name=author.person_name,
        organization_name=author.organisation or None,
        role_in_organization=_cc(author.role) if author.role is not None else None,
    )
    return hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=_cc(codes.PERSON),
            observer_identifying_attributes=attributes,
        )
    )


def _section_item(section: ReportSection) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(
        name=_cc(section.heading),
        relationship_type=Rel.CONTAINS,
        is_content_continuous=False,
    )
    children: list[hd.sr.ContentItem] = []
    if section.text.strip():
        children.append(
            hd.sr.TextContentItem(
                name=_cc(codes.narrative_element(section.heading)),
                value=section.text,
                relationship_type=Rel.CONTAINS,
            )
        )
    children.extend(_item(i) for i in section.items)
    container.ContentSequence = hd.sr.ContentSequence(children)
    return container


def _item(item: ReportItem) -> hd.sr.ContentItem:
    """One TID 2002 / TID 2001 item under a section container."""
    out: hd.sr.ContentItem
    if isinstance(item, TextFinding):
        out = hd.sr.TextContentItem(
            name=_cc(item.concept), value=item.text, relationship_type=Rel.CONTAINS
        )
        images = item.images
    elif isinstance(item, CodedFinding):
        out = hd.sr.CodeContentItem(
            name=_cc(item.concept), value=_cc(item.value), relationship_type=Rel.CONTAINS
        )
        images = item.images
    elif isinstance(item, Measurement):
        return _measurement_item(item)
    else:
        return _image_item(item.purpose, item.image, Rel.CONTAINS)
    if images:
        out.ContentSequence = hd.sr.ContentSequence(
            [
                _image_item(codes.BEST_ILLUSTRATION_OF_FINDING, ref, Rel.INFERRED_FROM)
                for ref in images
            ]
        )
    return out


def _measurement_item(m: Measurement) -> hd.sr.NumContentItem:
    """TID 1400-style NUM: inferred from a SCOORD path selected from the image, or directly
    from the source image when no coordinates were kept."""
    num = hd.sr.NumContentItem(
        name=_cc(m.concept), value=m.value, unit=_cc(m.unit), relationship_type=Rel.CONTAINS
    )
    children: list[Dataset] = []
    if m.image is not None and m.coordinates is None:
        children.append(_image_item(codes.SOURCE_OF_MEASUREMENT, m.image, Rel.INFERRED_FROM))
    elif m.image is not None and m.coordinates is not None:
        scoord = hd.sr.ScoordContentItem(
            name=_cc(codes.PATH),
            graphic_type=m.coordinates.graphic_type.value,
            graphic_data=np.asarray(m.coordinates.points, dtype=np.float64),
            relationship_type=Rel.INFERRED_FROM,
        )
        scoord.ContentSequence = hd.sr.ContentSequence(
            [_image_item(codes.SOURCE_OF_MEASUREMENT, m.image, Rel.SELECTED_FROM)]
        )
        children.append(scoord)
    if m.qualifier:  # e.g. a user calibration: never to be read as the file's spacing
        children.append(
            hd.sr.TextContentItem(
                name=_cc(codes.COMMENT),
                value=m.qualifier,
                relationship_type=Rel.HAS_PROPERTIES,
            )
        )
    if children:
        num.ContentSequence = hd.sr.ContentSequence(children)
    return num


_TEXT_VRS = frozenset({"AE", "CS", "DS", "IS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})


def _has_non_ascii(ds: Dataset) -> bool:
    for elem in ds.iterall():
        if elem.VR not in _TEXT_VRS or elem.value is None:
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        for v in values:
            if not str(v).isascii():
                return True
    return False


# --------------------------------------------------------------------------------------------
# Reading


def read_sr(ds: Dataset) -> Report:
    """The :class:`Report` an SR written by :func:`build_sr` holds (reading mirrors writing).

    A section's first TEXT, when its concept is the heading's narrative element (e.g.
    "Impression" under "Impressions") and it has no children, is read back as the section's
    ``text``. Raises :class:`InvalidDicomError` for an SR that is not a TID 2000 report.
    """
    if str(ds.get("Modality", "")) != "SR" or "ContentSequence" not in ds:
        raise InvalidDicomError("not a DICOM SR document (no SR content tree)")
    templates = ds.get("ContentTemplateSequence") or []
    if not any(str(t.get("TemplateIdentifier", "")) == codes.TID_2000 for t in templates):
        raise InvalidDicomError("the SR is not a TID 2000 Basic Diagnostic Imaging Report")
    try:
        return _read_report(ds)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise InvalidDicomError(f"the SR's content tree cannot be read as a report: {exc}") from exc


def _read_report(ds: Dataset) -> Report:
    language = "en-US"
    author_name, author_org, author_role = "", "", None
    sections: list[ReportSection] = []
    for item in ds.ContentSequence:
        concept = _code(item.ConceptNameCodeSequence[0])
        rel, vt = item.RelationshipType, item.ValueType
        if rel == "HAS CONCEPT MOD" and concept.same_concept(codes.LANGUAGE_OF_CONTENT):
            language = str(item.ConceptCodeSequence[0].CodeValue)
        elif rel == "HAS OBS CONTEXT":
            if concept.same_concept(codes.PERSON_OBSERVER_NAME):
                author_name = str(item.PersonName)
            elif concept.same_concept(codes.PERSON_OBSERVER_ORGANIZATION):
                author_org = str(item.TextValue)
            elif concept.same_concept(codes.PERSON_OBSERVER_ROLE):
                author_role = _code(item.ConceptCodeSequence[0])
        elif rel == "CONTAINS" and vt == "CONTAINER":
            sections.append(_read_section(concept, item))

    final = ds.get("VerificationFlag") == "VERIFIED" and ds.get("PreliminaryFlag") == "FINAL"
    signature = None
    if final:
        obs = ds.VerifyingObserverSequence[0]
        signature = Signature(
            person_name=str(obs.VerifyingObserverName),
            organisation=str(obs.VerifyingOrganization),
            signed_at=_parse_dt(str(obs.VerificationDateTime)),
        )
    predecessor = None
    if "PredecessorDocumentsSequence" in ds:
        study = ds.PredecessorDocumentsSequence[0]
        series = study.ReferencedSeriesSequence[0]
        sop = series.ReferencedSOPSequence[0]
        predecessor = PredecessorRef(
            study_instance_uid=str(study.StudyInstanceUID),
            series_instance_uid=str(series.SeriesInstanceUID),
            sop_instance_uid=str(sop.ReferencedSOPInstanceUID),
            sop_class_uid=str(sop.ReferencedSOPClassUID),
        )
    patient = Patient(
        patient_id=str(ds.get("PatientID", "")),
        issuer_of_patient_id=str(ds.get("IssuerOfPatientID", "") or ""),
        patient_name=str(ds.get("PatientName", "") or ""),
        birth_date=str(ds.get("PatientBirthDate", "") or ""),
        sex=str(ds.get("PatientSex", "") or ""),
    )
    return Report(
        study_instance_uid=str(ds.StudyInstanceUID),
        patient=patient,
        author=Author(author_name, author_org, author_role),
        sections=tuple(sections),
        accession=str(ds.get("AccessionNumber", "") or ""),
        status=ReportStatus.FINAL if final else ReportStatus.PRELIMINARY,
        signature=signature,
        predecessor=predecessor,
        language=language,
        content_datetime=_read_content_datetime(ds),
    )


def _read_content_datetime(ds: Dataset) -> _dt.datetime | None:
    date, time = str(ds.get("ContentDate", "")), str(ds.get("ContentTime", ""))
    if not date or not time:
        return None
    offset = str(ds.get("TimezoneOffsetFromUTC", "") or "")
    return _parse_dt(date + time + offset)


def _parse_dt(value: str) -> _dt.datetime:
    parsed = DT(value)
    return _dt.datetime(
        parsed.year,
        parsed.month,
        parsed.day,
        parsed.hour,
        parsed.minute,
        parsed.second,
        parsed.microsecond,
        tzinfo=parsed.tzinfo,
    )


def _read_section(heading: Code, container: Dataset) -> ReportSection:
    text = ""
    items: list[ReportItem] = []
    narrative = codes.narrative_element(heading)
    for index, child in enumerate(container.get("ContentSequence") or []):
        vt = child.ValueType
        if vt == "TEXT":
            concept = _code(child.ConceptNameCodeSequence[0])
            grandchildren = child.get("ContentSequence") or []
            if index == 0 and concept.same_concept(narrative) and not grandchildren:
                text = str(child.TextValue)
                continue
            items.append(TextFinding(concept, str(child.TextValue), _inferred_images(child)))
        elif vt == "CODE":
            items.append(
                CodedFinding(
                    _code(child.ConceptNameCodeSequence[0]),
                    _code(child.ConceptCodeSequence[0]),
                    _inferred_images(child),
                )
            )
        elif vt == "NUM":
            items.append(_read_measurement(child))
        elif vt == "IMAGE":
            items.append(KeyImageRef(_image_ref(child), _code(child.ConceptNameCodeSequence[0])))
    return ReportSection(heading=heading, text=text, items=tuple(items))


def _read_measurement(item: Dataset) -> Measurement:
    measured = item.MeasuredValueSequence[0]
    if "FloatingPointValue" in measured:
        value = float(measured.FloatingPointValue)
    else:
        value = float(measured.NumericValue)
    image: ImageRef | None = None
    coordinates: ImageCoordinates | None = None
    qualifier = ""
    for child in item.get("ContentSequence") or []:
        if child.ValueType == "TEXT" and child.RelationshipType == "HAS PROPERTIES":
            if _code(child.ConceptNameCodeSequence[0]).same_concept(codes.COMMENT):
                qualifier = str(child.TextValue)
        elif child.ValueType == "IMAGE" and child.RelationshipType == "INFERRED FROM":
            image = _image_ref(child)
        elif child.ValueType == "SCOORD" and child.RelationshipType == "INFERRED FROM":
            data = [float(v) for v in child.GraphicData]
            coordinates = ImageCoordinates(
                GraphicType(str(child.GraphicType)),
                tuple(zip(data[0::2], data[1::2], strict=True)),
            )
            for source in child.get("ContentSequence") or []:
                if source.ValueType == "IMAGE":
                    image = _image_ref(source)
    return Measurement(
        concept=_code(item.ConceptNameCodeSequence[0]),
        value=value,
        unit=_code(measured.MeasurementUnitsCodeSequence[0]),
        image=image,
        coordinates=coordinates,
        qualifier=qualifier,
    )


def _inferred_images(item: Dataset) -> tuple[ImageRef, ...]:
    return tuple(
        _image_ref(c)
        for c in item.get("ContentSequence") or []
        if c.ValueType == "IMAGE" and c.RelationshipType == "INFERRED FROM"
    )


def _image_ref(item: Dataset) -> ImageRef:
    sop = item.ReferencedSOPSequence[0]
    frame = sop.get("ReferencedFrameNumber")
    if frame is not None and not isinstance(frame, int | str):
        frame = frame[0] if len(frame) else None
    return ImageRef(
        str(sop.ReferencedSOPClassUID),
        str(sop.ReferencedSOPInstanceUID),
        int(frame) if frame not in (None, "") else None,
    )


def _code(item: Dataset) -> Code:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
    return Code(
        value=str(value),
        scheme_designator=str(item.get("CodingSchemeDesignator", "")),
        meaning=str(item.get("CodeMeaning", "")),
        scheme_version=str(item.get("CodingSchemeVersion", "") or ""),
    )


# --------------------------------------------------------------------------------------------
# Rendering any SR as text


def sr_to_text(ds: Dataset) -> str:
    """Any SR document's header flags and content tree as indented text, one content item a line
    (relationship, value type, concept name, value; PS3.3 C.17.3), for a reader to look at.
    By-reference items (PS3.3 C.17.3.2.5) name the item they point at."""
    if "ValueType" not in ds or "ConceptNameCodeSequence" not in ds:
        raise InvalidDicomError("not a DICOM SR document (no SR content tree)")
    lines: list[str] = [_concept_text(ds) or "(untitled SR)"]
    for t in ds.get("ContentTemplateSequence") or []:
        lines.append(
            f"Template: TID {t.get('TemplateIdentifier', '?')} ({t.get('MappingResource', '?')})"
        )
    flags = [
        f"{label}: {ds.get(keyword)}"
        for label, keyword in (
            ("Completion", "CompletionFlag"),
            ("Verification", "VerificationFlag"),
            ("Preliminary", "PreliminaryFlag"),
        )
        if ds.get(keyword)
    ]
    if flags:
        lines.append("  ".join(flags))
    for obs in ds.get("VerifyingObserverSequence") or []:
        org = obs.get("VerifyingOrganization", "")
        lines.append(
            f"Verified by {_pn(obs.get('VerifyingObserverName', ''))}"
            + (f" ({org})" if org else "")
            + f" at {obs.get('VerificationDateTime', '')}"
        )
    predecessors = ds.get("PredecessorDocumentsSequence") or []
    if predecessors:
        count = sum(
            len(series.get("ReferencedSOPSequence") or [])
            for study in predecessors
            for series in study.get("ReferencedSeriesSequence") or []
        )
        lines.append(f"Predecessor documents: {count}")
    if ds.get("ContentDate"):
        lines.append(f"Content date/time: {ds.get('ContentDate')} {ds.get('ContentTime', '')}")
    lines.append("")
    for item in ds.get("ContentSequence") or []:
        _render_item(ds, item, 1, lines)
    return "\n".join(lines) + "\n"


def _render_item(root: Dataset, item: Dataset, depth: int, lines: list[str]) -> None:
    indent = "  " * depth
    rel = str(item.get("RelationshipType", ""))
    if "ReferencedContentItemIdentifier" in item:
        path = [int(str(v)) for v in _as_list(item.ReferencedContentItemIdentifier)]
        target = _item_at(root, path)
        what = "?"
        if target is not None:
            what = f"{target.get('ValueType', '?')} {_concept_text(target)}".strip()
        lines.append(f"{indent}{rel} -> item {'.'.join(map(str, path))} ({what})")
        return
    vt = str(item.get("ValueType", "?"))
    name = _concept_text(item)
    label = f"{name}: " if name else ""
    value_lines = [v.rstrip() for v in _value_text(item, vt).splitlines()] or [""]
    while len(value_lines) > 1 and not value_lines[-1]:
        value_lines.pop()
    lines.append(indent + f"{rel} {vt} {label}{value_lines[0]}".strip())
    for extra in value_lines[1:]:
        lines.append(f"{indent}    {extra}".rstrip())
    for child in item.get("ContentSequence") or []:
        _render_item(root, child, depth + 1, lines)


def _item_at(root: Dataset, path: list[int]) -> Dataset | None:
    """The content item at a by-reference path: 1 is the root, then 1-based positions."""
    if not path or path[0] != 1:
        return None
    node = root
    for index in path[1:]:
        children = node.get("ContentSequence") or []
        if not 1 <= index <= len(children):
            return None
        node = children[index - 1]
    return node


def _concept_text(item: Dataset) -> str:
    seq = item.get("ConceptNameCodeSequence") or []
    return str(seq[0].get("CodeMeaning", "")) if seq else ""


def _code_text(item: Dataset) -> str:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
    return f"{item.get('CodeMeaning', '')} ({value}, {item.get('CodingSchemeDesignator', '')})"


def _as_list(value: object) -> list[object]:
    if isinstance(value, str | bytes | int | float) or value is None:
        return [value]
    return list(value)  # type: ignore[call-overload]


def _pn(value: object) -> str:
    return format_person_name(str(value)) if value else ""


def _sop_text(item: Dataset) -> str:
    seq = item.get("ReferencedSOPSequence") or []
    if not seq:
        return "(no reference)"
    sop = seq[0]
    cls = UID(str(sop.get("ReferencedSOPClassUID", "")))
    text = f"{cls.name} {sop.get('ReferencedSOPInstanceUID', '')}"
    if "ReferencedFrameNumber" in sop:
        frames = ",".join(str(v) for v in _as_list(sop.ReferencedFrameNumber))
        text += f" frame {frames}"
    return text


def _value_text(item: Dataset, vt: str) -> str:
    if vt == "CONTAINER":
        return ""
    if vt == "TEXT":
        return str(item.get("TextValue", ""))
    if vt == "CODE":
        seq = item.get("ConceptCodeSequence") or []
        return _code_text(seq[0]) if seq else ""
    if vt == "NUM":
        measured = item.get("MeasuredValueSequence") or []
        if measured:
            m = measured[0]
            units = m.get("MeasurementUnitsCodeSequence") or []
            unit = str(units[0].get("CodeValue", "")) if units else ""
            return f"{m.get('NumericValue', '')} {unit}".strip()
        qualifier = item.get("NumericValueQualifierCodeSequence") or []
        return f"(no value: {qualifier[0].get('CodeMeaning', '')})" if qualifier else "(no value)"
    if vt == "PNAME":
        return _pn(item.get("PersonName", ""))
    if vt in ("DATE", "TIME", "DATETIME", "UIDREF"):
        keyword = {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime", "UIDREF": "UID"}[vt]
        return str(item.get(keyword, ""))
    if vt in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        return _sop_text(item)
    if vt in ("SCOORD", "SCOORD3D"):
        data = [float(str(v)) for v in _as_list(item.get("GraphicData", []))]
        size = 3 if vt == "SCOORD3D" else 2
        points = " ".join(
            "(" + ", ".join(f"{v:g}" for v in data[i : i + size]) + ")"
            for i in range(0, len(data), size)
        )
        return f"{item.get('GraphicType', '')} {points}".strip()
    if vt == "TCOORD":
        return str(item.get("TemporalRangeType", ""))
    return f"({vt})"
