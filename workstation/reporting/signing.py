"""Sign a report: preliminary or final, write its SR into the local store, queue it to be sent.

The order is what keeps a signed report safe (DESIGN.md, "What must never happen"): the SR is
built, written into the local store and flushed to disk, and only then queued in the durable
outbox (:mod:`workstation.reporting.outbox`), which sends it until the archive acknowledges it.
A killed program after signing leaves both the file and the outbox entry; the next start sends it.

- A PRELIMINARY report (PS3.3 C.17.2.1: Preliminary Flag PRELIMINARY, Verification Flag
  UNVERIFIED) names its author; a FINAL one is verified: the signer's name and organisation go
  into the Verifying Observer Sequence, so both are required.
- Evidence (PS3.3 C.17.2.3) is every instance of the study in the local store (other reports
  and encapsulated documents excepted), plus any image of another study the content refers to
  (Pertinent Other Evidence). Images the reader marked as key, and the images measured in the
  viewer that the report does not yet refer to, are referenced in a "Key Images" section
  (TID 2001 IMAGE items, purpose from CID 7003).
- An addendum is a new FINAL SR whose Predecessor Documents Sequence points at the signed one
  (PS3.3 C.17.2.3); the signed SR itself never changes.
- A study whose series are incomplete (a partial retrieval) is signed only when the caller
  acknowledges the warning: :class:`IncompleteStudyError` lists the series first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import DT

from workstation.archive.audit import AuditEvent, record_event
from workstation.archive.local import LocalArchive, instance_relpath
from workstation.core.errors import InvalidDicomError, NotFoundError, StoreError, WorkstationError
from workstation.core.measure import Measurement as ViewerMeasurement
from workstation.core.measure import (
    MeasurementKind,
    PixelCalibration,
    SpacingSource,
    needs_recalibration,
)
from workstation.core.model import Instance
from workstation.core.report import (
    Author,
    Code,
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
)
from workstation.reporting import codes
from workstation.reporting.outbox import Outbox
from workstation.reporting.sr import EvidenceRef, build_sr, read_sr, report_series_uid

__all__ = [
    "ANGLE",
    "COBB_ANGLE",
    "DEGREE",
    "CompletenessCheck",
    "IncompleteStudyError",
    "MeasurementConversionError",
    "QualifiedMeasurement",
    "SignedReport",
    "SigningError",
    "StoredReport",
    "archive_image_describer",
    "latest_signed_report",
    "measurement_items",
    "measurement_qualifier",
    "recover_signing",
    "report_chain",
    "sign_addendum",
    "sign_report",
    "signed_reports",
    "study_evidence",
    "with_referenced_images",
]

log = logging.getLogger(__name__)

# SCT concepts of PS3.16 CID 7470-7472 style measurements the viewer makes (pydicom's codes).
ANGLE = Code("1483009", "SCT", "Angle")
COBB_ANGLE = Code("285285000", "SCT", "Cobb angle")
DEGREE = Code("deg", "UCUM", "degree")

# SOP classes that are documents about the study, not images of it: never evidence.
_DOCUMENT_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # Structured Reports (PS3.4 B.5)
    "1.2.840.10008.5.1.4.1.1.104.",  # Encapsulated documents (PDF, CDA, ...)
)

CompletenessCheck = Callable[[str], Sequence[str]]
"""(Study Instance UID) -> descriptions of the study's series that are not completely local."""


class SigningError(WorkstationError, ValueError):
    """A report cannot be signed as asked (no signer, no organisation, already final...)."""


class IncompleteStudyError(SigningError):
    """Some series of the study are not complete in the local store; signing needs the reader's
    acknowledgement (``acknowledge_incomplete=True``). ``series`` names them."""

    def __init__(self, series: Sequence[str]) -> None:
        self.series = tuple(series)
        listed = "; ".join(self.series)
        super().__init__(
            f"{len(self.series)} series of this study are incomplete in the local store "
            f"({listed}): the report may miss images. Sign anyway only if you have seen enough."
        )


class MeasurementConversionError(WorkstationError, ValueError):
    """A viewer measurement cannot become a report measurement (uncalibrated, a probe)."""


# A report measurement whose value travels with a qualifier the reader sees beside it
# ("calibrated by user, 0.182 mm/px"): the report model's Measurement with ``qualifier`` set.
QualifiedMeasurement = Measurement


@dataclass(frozen=True, slots=True)
class SignedReport:
    """A signed report as written: its SR's UIDs and file in the store, and where it is queued."""

    report: Report
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    path: Path
    destinations: tuple[str, ...] = ()
    newly_stored: bool = True
    incomplete_series: tuple[str, ...] = ()  # acknowledged by the signer
    pdf_sop_instance_uid: str | None = None

    @property
    def final(self) -> bool:
        return self.report.status is ReportStatus.FINAL


# -- evidence and references ---------------------------------------------------------------------


def _is_document(sop_class_uid: str) -> bool:
    return sop_class_uid.startswith(_DOCUMENT_CLASS_PREFIXES)


def study_evidence(archive: LocalArchive, study_instance_uid: str) -> list[EvidenceRef]:
    """Every image-like instance of the study in the local store, as SR evidence."""
    refs: list[EvidenceRef] = []
    for series in archive.series(study_instance_uid):
        for inst in archive.instances(series.series_instance_uid):
            if _is_document(inst.sop_class_uid):
                continue
            refs.append(
                EvidenceRef(
                    study_instance_uid,
                    series.series_instance_uid,
                    inst.sop_class_uid,
                    inst.sop_instance_uid,
                )
            )
    return refs


def _image_ref(instance: Instance, frame_number: int | None) -> ImageRef:
    """A reference to an image, with a frame number only for a multi-frame image."""
    frame = frame_number if instance.number_of_frames > 1 else None
    return ImageRef(instance.sop_class_uid, instance.sop_instance_uid, frame)


def with_referenced_images(archive: LocalArchive, report: Report) -> Report:
    """``report`` with the study's key images and measured images referenced: those the report
    does not refer to yet are added to its "Key Images" section (created at the end if needed),
    as IMAGE items for "Best illustration of finding" or "Source of Measurement" (CID 7003)."""
    study = report.study_instance_uid
    have = {(r.sop_instance_uid, r.frame_number) for r in report.image_refs()}
    added: list[KeyImageRef] = []

    def add(sop: str, frame: int, purpose: Code) -> None:
        instance = archive.index.instance(sop)
        if instance is None:
            log.warning("a key or measured image is no longer in the local store; skipped")
            return
        ref = _image_ref(instance, frame)
        if (ref.sop_instance_uid, ref.frame_number) in have:
            return
        have.add((ref.sop_instance_uid, ref.frame_number))
        added.append(KeyImageRef(ref, purpose))

    for key in archive.key_images(study):
        add(key.sop_instance_uid, key.frame_number, codes.BEST_ILLUSTRATION_OF_FINDING)
    for m in archive.measurements(study):
        if m.is_mpr:
            continue  # a reformatted plane is no stored image: nothing to reference
        add(m.sop_instance_uid, m.frame_number, codes.SOURCE_OF_MEASUREMENT)
    if not added:
        return report
    sections = list(report.sections)
    for i, s in enumerate(sections):
        if s.heading.same_concept(codes.KEY_IMAGES):
            sections[i] = dataclasses.replace(s, items=(*s.items, *added))
            break
    else:
        sections.append(ReportSection(codes.KEY_IMAGES, "", tuple(added)))
    return dataclasses.replace(report, sections=tuple(sections))


def _evidence_for(archive: LocalArchive, report: Report) -> list[EvidenceRef]:
    """The study's instances, then images of other studies (priors) the content refers to."""
    refs = study_evidence(archive, report.study_instance_uid)
    known = {r.sop_instance_uid for r in refs}
    for image in report.image_refs():
        if image.sop_instance_uid in known:
            continue
        inst = archive.index.instance(image.sop_instance_uid)
        if inst is None:
            raise SigningError(
                f"the report refers to image {image.sop_instance_uid}, which is not in the local "
                "store: remove the reference or retrieve the image first"
            )
        series = archive.one_series(inst.series_instance_uid)
        refs.append(
            EvidenceRef(
                series.study_instance_uid,
                series.series_instance_uid,
                inst.sop_class_uid,
                inst.sop_instance_uid,
            )
        )
        known.add(inst.sop_instance_uid)
    return refs


def archive_image_describer(
    archive: LocalArchive,
) -> Callable[[str, str, int | None], str | None]:
    """Names images by series and instance number from the local store ("series 2, image 95",
    "..., frame 3"), for readable renderings of a report; None for an image it does not hold."""

    def describe(sop_class_uid: str, sop_instance_uid: str, frame: int | None) -> str | None:
        inst = archive.index.instance(sop_instance_uid)
        if inst is None:
            return None
        try:
            series = archive.one_series(inst.series_instance_uid)
        except NotFoundError:
            return None
        parts = []
        if series.series_number is not None:
            parts.append(f"series {series.series_number}")
        if inst.instance_number is not None:
            parts.append(f"image {inst.instance_number}")
        if frame and inst.number_of_frames > 1:
            parts.append(f"frame {frame}")
        return ", ".join(parts) or None

    return describe


# -- viewer measurements as report items ---------------------------------------------------------


def _sr_point(p: tuple[float, float]) -> tuple[float, float]:
    """Viewer points have pixel centres on integers; SR image coordinates put 0,0 at the top
    left corner of the top left pixel (PS3.3 C.18.6.1.2): a shift by half a pixel."""
    return (p[0] + 0.5, p[1] + 0.5)


def plane_measurement_items(m: ViewerMeasurement, modality: str = "") -> tuple[Measurement, ...]:
    """The NUM items of a measurement made on an MPR plane: the value with its UCUM unit and,
    for an ROI on CT, its mean in HU. A reformatted plane is no stored image, so the items
    carry no image reference or outline (TID 1400 allows a NUM without them); the text that
    goes with them says where the plane lies. Raises :class:`MeasurementConversionError` for
    a kind an MPR view does not measure."""
    if m.plane is None:
        raise MeasurementConversionError("the measurement was not made on an MPR plane")
    value = round(m.value, 2)
    if m.kind is MeasurementKind.LENGTH and m.unit == "mm":
        return (Measurement(codes.LENGTH, value, codes.MM),)
    if m.kind in (MeasurementKind.ELLIPSE, MeasurementKind.RECTANGLE) and m.unit == "mm²":
        items = [Measurement(codes.AREA, value, codes.MM2)]
        mean = m.detail("mean")
        if mean is not None and mean == mean and modality.upper() == "CT":
            items.append(Measurement(codes.MEAN, round(mean, 1), codes.HOUNSFIELD_UNIT))
        return tuple(items)
    raise MeasurementConversionError(f"an MPR {m.kind.value} cannot be reported as a number")


def measurement_qualifier(m: ViewerMeasurement) -> str:
    """The qualifier a user-calibrated length or area carries into a report: "calibrated by
    user, 0.182 mm/px" (the spacing it was valued with); "" for any other measurement."""
    cal = m.calibration
    if cal is None or cal.source is not SpacingSource.USER or not m.label:
        return ""
    row, col = cal.spacing_mm
    if abs(row - col) <= 1e-9 * max(row, col):
        return f"{m.label}, {col:.3f} mm/px"
    return f"{m.label}, {row:.3f} × {col:.3f} mm/px"


def _qualified(item: Measurement, qualifier: str) -> Measurement:
    if not qualifier:
        return item
    return dataclasses.replace(item, qualifier=qualifier)


def measurement_items(
    m: ViewerMeasurement,
    instance: Instance,
    modality: str = "",
    calibration: PixelCalibration | None = None,
) -> tuple[Measurement, ...]:
    """The report NUM items (TID 1400 style) of one viewer measurement on ``instance``: the
    value with its UCUM unit, the image it was made on and the outline drawn (SCOORD). An ROI
    also gives its mean in HU on CT. A length or area valued with a user calibration comes as
    :class:`QualifiedMeasurement` with :func:`measurement_qualifier`'s text. ``calibration``,
    when given, is the one the image measures with now: a measurement valued with another is
    refused rather than reported under the wrong one. Raises
    :class:`MeasurementConversionError` for that, for an uncalibrated length or area (pixels
    are no UCUM unit) and for a probe (an annotation)."""
    if m.sop_instance_uid != instance.sop_instance_uid:
        raise MeasurementConversionError("the measurement was not made on this image")
    if calibration is not None and needs_recalibration(m, calibration):
        raise MeasurementConversionError(
            "this measurement was valued with another calibration than the image has now "
            f"({calibration.label or 'pixel spacing'}): open the image so it is valued again"
        )
    qualifier = measurement_qualifier(m)
    image = _image_ref(instance, m.frame_number)
    m = dataclasses.replace(m, value=round(m.value, 2))  # what the reader sees is reported
    if m.kind is MeasurementKind.PROBE:
        raise MeasurementConversionError(
            "a probe value is an annotation, not a measurement: draw an ROI to report a mean"
        )
    if m.kind is MeasurementKind.LENGTH:
        if m.unit != "mm":
            raise MeasurementConversionError(
                "this length is in pixels (the image has no pixel spacing): it cannot be "
                "reported in millimetres"
            )
        coords = ImageCoordinates(GraphicType.POLYLINE, tuple(_sr_point(p) for p in m.points))
        return (_qualified(Measurement(codes.LENGTH, m.value, codes.MM, image, coords), qualifier),)
    if m.kind in (MeasurementKind.ANGLE, MeasurementKind.COBB):
        if m.kind is MeasurementKind.ANGLE:
            coords = ImageCoordinates(GraphicType.POLYLINE, tuple(_sr_point(p) for p in m.points))
            return (Measurement(ANGLE, m.value, DEGREE, image, coords),)
        return (Measurement(COBB_ANGLE, m.value, DEGREE, image),)
    # ELLIPSE and RECTANGLE: the area, and the mean when the pixel values are HU.
    if m.unit != "mm²":
        raise MeasurementConversionError(
            "this area is in pixels (the image has no pixel spacing): it cannot be reported"
        )
    if m.kind is MeasurementKind.ELLIPSE:
        (c, r), (rc, rr) = m.points
        rc, rr = abs(rc), abs(rr)
        horizontal = ((c - rc, r), (c + rc, r))
        vertical = ((c, r - rr), (c, r + rr))
        major, minor = (horizontal, vertical) if rc >= rr else (vertical, horizontal)
        coords = ImageCoordinates(GraphicType.ELLIPSE, tuple(_sr_point(p) for p in major + minor))
    else:
        (c0, r0), (c1, r1) = m.points
        corners = ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))  # closed (C.18.6.1.1)
        coords = ImageCoordinates(GraphicType.POLYLINE, tuple(_sr_point(p) for p in corners))
    items = [_qualified(Measurement(codes.AREA, m.value, codes.MM2, image, coords), qualifier)]
    mean = m.detail("mean")
    is_hu = instance.rescale_type.upper() == "HU" or (
        modality.upper() == "CT" and not instance.rescale_type
    )
    if mean is not None and mean == mean and is_hu:
        items.append(Measurement(codes.MEAN, round(mean, 1), codes.HOUNSFIELD_UNIT, image, coords))
    return tuple(items)


# -- signing -------------------------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def make_durable(path: Path) -> None:
    """Flush a file and its folder entry to disk, so a power cut after signing keeps the SR."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # some file systems cannot sync a directory
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _next_instance_number(archive: LocalArchive, series_uid: str) -> int:
    numbers = [i.instance_number or 0 for i in archive.instances(series_uid)]
    return max(numbers, default=0) + 1


def _store(archive: LocalArchive, ds: Dataset) -> tuple[Path, bool]:
    """Write ``ds`` into the local store (idempotent by SOP Instance UID) and onto the disk."""
    sop = str(ds.SOPInstanceUID)
    added = archive.add_dataset(ds)
    archive.commit()
    inst = archive.index.instance(sop)
    if inst is None:  # pragma: no cover - add_dataset indexes what it writes
        raise StoreError("the signed report was written but is not in the store's index")
    path = archive.path_of(inst)
    make_durable(path)
    return path, added


def _intend(outbox: Outbox | None, destinations: Sequence[str], ds: Dataset) -> None:
    """Before the file: say in the outbox where it will be and where it goes, so that a
    crash between the file and its entries is finished at the next start
    (:func:`recover_signing`)."""
    if outbox is None or not destinations:
        return
    study, series, sop = (
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPInstanceUID),
    )
    outbox.intend(sop, study, instance_relpath(study, series, sop), destinations)


def _enqueue(
    outbox: Outbox | None, destinations: Sequence[str], sop: str, study: str, path: Path
) -> tuple[str, ...]:
    if outbox is None or not destinations:
        return ()
    outbox.enqueue_signed(sop, study, path, destinations)  # and the intent goes, at once
    return tuple(destinations)


def recover_signing(archive: LocalArchive, outbox: Outbox) -> int:
    """Finish the signings a crash cut short; returns how many reports it queued.

    A signing records its intent in the outbox, writes the report's file, then queues it.
    Where the file made it to the store, it is queued now for the destinations of its
    signing (indexed first when the crash came before its index row); where it did not, the
    intent is dropped: the report was never signed, and its draft is still there.
    """
    queued = 0
    for intent in outbox.signing_intents():
        path = archive.root / intent.path
        try:
            if archive.index.instance(intent.sop_instance_uid) is None and path.is_file():
                archive.adopt_file(intent.path)
                archive.commit()
        except InvalidDicomError as exc:  # cut short by a power loss before its fsync
            log.warning("a report's signing was cut short and its file is damaged: %s", exc)
        inst = archive.index.instance(intent.sop_instance_uid)
        stored = archive.path_of(inst) if inst is not None else None
        if stored is None or not stored.is_file():
            outbox.forget_intent(intent.sop_instance_uid)
            continue
        outbox.enqueue_signed(
            intent.sop_instance_uid, intent.study_instance_uid, stored, intent.destinations
        )
        queued += 1
    if queued:
        log.warning("queued %d signed report(s) whose signing a crash had cut short", queued)
    return queued


def sign_report(
    report: Report,
    archive: LocalArchive,
    outbox: Outbox | None = None,
    *,
    final: bool,
    signer_name: str = "",
    signer_organisation: str = "",
    destinations: Sequence[str] = (),
    completeness: CompletenessCheck | None = None,
    acknowledge_incomplete: bool = False,
    signed_at: _dt.datetime | None = None,
    with_pdf: bool = False,
) -> SignedReport:
    """Sign a DRAFT (or a PRELIMINARY, to make it final) and store and queue its SR.

    ``final`` needs ``signer_name`` (PN form "Family^Given") and ``signer_organisation``.
    ``destinations`` are the outbox destination names (configured archives); none keeps the
    report in the local store only. ``with_pdf`` also stores and queues an Encapsulated PDF
    of the report, for sites whose EHR cannot show SR. Raises :class:`IncompleteStudyError`
    when ``completeness`` lists incomplete series and ``acknowledge_incomplete`` is False.
    """
    if not isinstance(report, Report):
        raise SigningError("sign_report needs a workstation.core.report.Report")
    if report.status is ReportStatus.FINAL:
        raise SigningError("this report is already final: write an addendum to change it")
    when = signed_at or _now()
    if when.tzinfo is None:
        raise SigningError("the signing time must carry a time zone")
    incomplete = tuple(completeness(report.study_instance_uid)) if completeness else ()
    if incomplete and not acknowledge_incomplete:
        raise IncompleteStudyError(incomplete)
    if final:
        if not signer_name.strip().strip("^"):
            raise SigningError("a final report needs the signing radiologist's name")
        if not signer_organisation.strip():
            raise SigningError(
                "a final report needs the signing radiologist's organisation "
                "(Verifying Organization, PS3.3 C.17.2.1)"
            )
        try:
            signature: Signature | None = Signature(signer_name, signer_organisation, when)
        except ValueError as exc:
            raise SigningError(str(exc)) from None
    else:
        signature = None
    try:
        signed = dataclasses.replace(
            report,
            status=ReportStatus.FINAL if final else ReportStatus.PRELIMINARY,
            signature=signature,
            content_datetime=when,
        )
    except ValueError as exc:
        raise SigningError(f"the report cannot be signed: {exc}") from None
    signed = with_referenced_images(archive, signed)
    # Empty sections are not written (TID 2000 has no empty headings): the signed report is
    # what its SR says, so reading the SR back gives it again.
    signed = dataclasses.replace(
        signed, sections=tuple(s for s in signed.sections if not s.is_empty)
    )
    return _write_and_queue(
        archive,
        outbox,
        signed,
        destinations=destinations,
        incomplete=incomplete,
        with_pdf=with_pdf,
    )


def _write_and_queue(
    archive: LocalArchive,
    outbox: Outbox | None,
    report: Report,
    *,
    destinations: Sequence[str],
    incomplete: tuple[str, ...] = (),
    with_pdf: bool = False,
) -> SignedReport:
    study_uid = report.study_instance_uid
    try:
        study = archive.study(study_uid)
    except NotFoundError:
        raise SigningError(
            "the report's study is not in the local store: its images are needed as evidence"
        ) from None
    evidence = _evidence_for(archive, report)
    series_uid = report_series_uid(study_uid)
    try:
        ds = build_sr(
            report,
            evidence,
            study=study,
            series_uid=series_uid,
            instance_number=_next_instance_number(archive, series_uid),
        )
    except (ValueError, TypeError) as exc:
        raise SigningError(f"the SR cannot be written: {exc}") from None
    sop = str(ds.SOPInstanceUID)
    _intend(outbox, destinations, ds)
    path, added = _store(archive, ds)
    queued = _enqueue(outbox, destinations, sop, study_uid, path)
    pdf_uid: str | None = None
    if with_pdf:
        from workstation.reporting.pdf import report_pdf_dataset

        pdf_ds = report_pdf_dataset(
            ds, report_chain(archive, ds)[1:], archive_image_describer(archive)
        )
        pdf_uid = str(pdf_ds.SOPInstanceUID)
        _intend(outbox, destinations, pdf_ds)
        pdf_path, _ = _store(archive, pdf_ds)
        _enqueue(outbox, destinations, pdf_uid, study_uid, pdf_path)
    kind = "addendum" if report.predecessor is not None else report.status.value.lower()
    record_event(
        archive.root,
        AuditEvent.REPORT_SIGNED,
        study_instance_uid=study_uid,
        sop_instance_uid=sop,
        detail=kind,
    )
    log.info(
        "signed a %s report (%d evidence instances, %d destinations%s)",
        report.status.value.lower(),
        len(evidence),
        len(queued),
        f", {len(incomplete)} incomplete series acknowledged" if incomplete else "",
    )
    return SignedReport(
        report=report,
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        sop_instance_uid=sop,
        path=path,
        destinations=queued,
        newly_stored=added,
        incomplete_series=incomplete,
        pdf_sop_instance_uid=pdf_uid,
    )


def sign_addendum(
    archive: LocalArchive,
    predecessor_sop_instance_uid: str,
    text: str,
    outbox: Outbox | None = None,
    *,
    signer_name: str,
    signer_organisation: str,
    destinations: Sequence[str] = (),
    signed_at: _dt.datetime | None = None,
    role: Code | None = None,
) -> SignedReport:
    """A FINAL addendum to the signed report ``predecessor_sop_instance_uid`` (in the local
    store): an "Addendum" section with ``text``, and the predecessor referenced (PS3.3
    C.17.2.3). Stored and queued like any signed report."""
    if not text.strip():
        raise SigningError("an addendum needs text")
    inst = archive.index.instance(predecessor_sop_instance_uid)
    if inst is None:
        raise NotFoundError("the report the addendum belongs to is not in the local store")
    ds = pydicom.dcmread(archive.path_of(inst))
    previous = read_sr(ds)
    if previous.status is not ReportStatus.FINAL:
        raise SigningError("only a final report takes an addendum; sign this one final instead")
    when = signed_at or _now()
    try:
        signature = Signature(signer_name, signer_organisation, when)
        author = Author(signer_name, signer_organisation, role)
        addendum = Report(
            study_instance_uid=previous.study_instance_uid,
            patient=previous.patient,
            author=author,
            sections=(ReportSection(codes.ADDENDUM, text.strip()),),
            accession=previous.accession,
            status=ReportStatus.FINAL,
            signature=signature,
            predecessor=PredecessorRef(
                str(ds.StudyInstanceUID),
                str(ds.SeriesInstanceUID),
                str(ds.SOPInstanceUID),
                str(ds.SOPClassUID),
            ),
            language=previous.language,
            content_datetime=when,
        )
    except ValueError as exc:
        raise SigningError(f"the addendum cannot be signed: {exc}") from None
    return _write_and_queue(archive, outbox, addendum, destinations=destinations)


# -- finding signed reports in the store -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredReport:
    """An SR document of a study in the local store, with what orders reports in time."""

    sop_instance_uid: str
    series_instance_uid: str
    path: Path
    final: bool
    content_datetime: _dt.datetime | None
    instance_number: int | None
    title: str

    def dataset(self) -> Dataset:
        try:
            return pydicom.dcmread(self.path)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InvalidDicomError(
                f"the stored report {self.path.name} is unreadable: {exc}"
            ) from None


def _content_dt(ds: Dataset) -> _dt.datetime | None:
    date, time = str(ds.get("ContentDate", "") or ""), str(ds.get("ContentTime", "") or "")
    if not date:
        return None
    offset = str(ds.get("TimezoneOffsetFromUTC", "") or "")
    try:
        parsed = DT(date + (time or "000000") + offset)
    except ValueError:
        return None
    value = _dt.datetime(
        parsed.year,
        parsed.month,
        parsed.day,
        parsed.hour,
        parsed.minute,
        parsed.second,
        parsed.microsecond,
        tzinfo=parsed.tzinfo,
    )
    return value if value.tzinfo is not None else value.astimezone()


# SR documents that report on the study (TID 2000 and its kin, PS3.4 B.5): not a modality's
# dose report, a key object selection or a CAD result, which are SRs too.
_REPORT_SR_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
        "1.2.840.10008.5.1.4.1.1.88.35",  # Extensible SR
    }
)
# Document titles (DCM) of dose reports that some modalities write as Comprehensive SR.
_DOSE_REPORT_TITLES = frozenset({"113701", "113500", "128401"})


def _is_dose_report(ds: Dataset) -> bool:
    names = ds.get("ConceptNameCodeSequence") or []
    return bool(names) and (
        str(names[0].get("CodeValue", "")) in _DOSE_REPORT_TITLES
        and str(names[0].get("CodingSchemeDesignator", "")) == "DCM"
    )


def signed_reports(archive: LocalArchive, study_instance_uid: str) -> list[StoredReport]:
    """The study's signed reports (SR documents, preliminary and final, from any system; not
    dose reports, key object selections or CAD results) in the local store, oldest first by
    Content Date/Time, then Instance Number."""
    out: list[StoredReport] = []
    for series in archive.series(study_instance_uid):
        for inst in archive.instances(series.series_instance_uid):
            if inst.sop_class_uid not in _REPORT_SR_CLASSES:
                continue
            path = archive.path_of(inst)
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # a damaged file is not a report to export
                log.warning("a stored SR is unreadable; skipped")
                continue
            if "ContentSequence" not in ds or _is_dose_report(ds):
                continue
            names = ds.get("ConceptNameCodeSequence") or []
            out.append(
                StoredReport(
                    sop_instance_uid=inst.sop_instance_uid,
                    series_instance_uid=series.series_instance_uid,
                    path=path,
                    final=ds.get("VerificationFlag") == "VERIFIED",
                    content_datetime=_content_dt(ds),
                    instance_number=inst.instance_number,
                    title=str(names[0].get("CodeMeaning", "")) if names else "",
                )
            )
    epoch = _dt.datetime(1, 1, 1, tzinfo=_dt.UTC)
    out.sort(key=lambda r: (r.content_datetime or epoch, r.instance_number or 0))
    return out


def latest_signed_report(archive: LocalArchive, study_instance_uid: str) -> StoredReport:
    """The most recent signed report of the study; raises NotFoundError when it has none."""
    archive.study(study_instance_uid)  # NotFoundError names a study that is not there
    reports = signed_reports(archive, study_instance_uid)
    if not reports:
        raise NotFoundError(f"study {study_instance_uid} has no signed report in the local store")
    return reports[-1]


def report_chain(archive: LocalArchive, ds: Dataset, max_depth: int = 20) -> list[Dataset]:
    """``ds`` and the reports it follows (Predecessor Documents Sequence, PS3.3 C.17.2.3) that
    are in the local store, newest first: an addendum, then the report it amends."""
    chain = [ds]
    seen = {str(ds.SOPInstanceUID)}
    current = ds
    while len(chain) < max_depth:
        preds = _predecessor_uids(current)
        nxt = next((u for u in preds if u not in seen), None)
        if nxt is None:
            break
        inst = archive.index.instance(nxt)
        if inst is None:
            break
        try:
            current = pydicom.dcmread(archive.path_of(inst))
        except Exception:
            break
        seen.add(nxt)
        chain.append(current)
    return chain


def _predecessor_uids(ds: Dataset) -> Iterable[str]:
    for study in ds.get("PredecessorDocumentsSequence") or []:
        for series in study.get("ReferencedSeriesSequence") or []:
            for sop in series.get("ReferencedSOPSequence") or []:
                yield str(sop.ReferencedSOPInstanceUID)
