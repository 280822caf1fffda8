"""The embedded local archive: DICOM files under their SOP Instance UID, indexed in SQLite.

Layout of a store folder::

    index.sqlite                 the index (WAL)
    studies/<study>/<series>/<sop>.dcm
    tmp/                         files being written; renamed into place only when complete

A file is written under a temporary name and renamed, so a crash never leaves a partial file
where the index could point to it; files are readable only by their owner (0600).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from workstation.archive.audit import AuditEvent, current_user, record_event
from workstation.archive.dicomio import (
    ParsedInstance,
    is_dicomdir,
    parse_dataset,
    parse_head,
    parse_head_bytes,
    read_header,
)
from workstation.archive.index import StoreIndex
from workstation.core.durable_db import make_private_db
from workstation.core.errors import (
    InvalidDicomError,
    NotFoundError,
    StoreError,
    store_os_error,
)
from workstation.core.measure import (
    CalibrationError,
    Measurement,
    PixelCalibration,
    UserCalibration,
    effective_calibration,
    needs_recalibration,
    recalibrate,
)
from workstation.core.model import (
    ImportReport,
    Instance,
    KeyImage,
    PriorStudy,
    Series,
    Study,
    identity_conflicts,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_COMMIT_EVERY = 200
_TMP_STALE_S = 600.0  # a temp file untouched this long belongs to no live transfer
_HEAD_IN_MEMORY = 64 * 1024  # of a file received whole: what its header is parsed from


def instance_relpath(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """Where the store keeps an instance, relative to its folder. Strings, not pathlib: this
    runs once per retrieved instance."""
    return os.path.join(
        "studies", _safe_name(study_uid), _safe_name(series_uid), _safe_name(sop_uid) + ".dcm"
    )


def _safe_name(uid: str) -> str:
    """A UID as a file name; anything that is not a valid UID (PS3.5 9.1) is hashed."""
    if _UID_RE.match(uid) and len(uid) <= 64:
        return uid
    import hashlib

    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class _Source:
    """One candidate object to import: a file on disk or a member of a zip archive."""

    label: str  # what the user sees in a rejection message
    path: Path | None = None
    zip_path: Path | None = None
    member: str | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[tuple[IO[bytes], int]]:
        if self.path is not None:
            with open(self.path, "rb") as fp:
                yield fp, os.fstat(fp.fileno()).st_size
        else:
            assert self.zip_path is not None and self.member is not None
            with zipfile.ZipFile(self.zip_path) as zf:
                data = zf.read(self.member)
            yield io.BytesIO(data), len(data)


class LocalArchive:
    """A store folder and its index. Safe to use from several threads (one DB connection each)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        # Per thread (each has its own index connection): files renamed into the store whose
        # index rows are not committed yet, with their SOP Instance UIDs.
        self._uncommitted = threading.local()
        try:
            (self.root / "studies").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise StoreError(f"cannot use {self.root} as the local store: {exc.strerror}") from None
        self._clean_tmp()
        db = self.root / "index.sqlite"
        try:
            make_private_db(db)  # the index holds patient names
        except OSError as exc:
            raise StoreError(f"cannot use {db} as the store index: {exc.strerror}") from None
        self.index = StoreIndex(db)

    def close(self) -> None:
        self.index.close()

    def _clean_tmp(self) -> None:
        """Remove what a crash left in tmp/; a recent file may be another process's transfer."""
        cutoff = time.time() - _TMP_STALE_S
        for leftover in (self.root / "tmp").glob("*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    @property
    def tmp_dir(self) -> Path:
        """Where complete files are written before :meth:`ingest_file` renames them in place."""
        return self.root / "tmp"

    # -- queries ---------------------------------------------------------------------------
    def studies(self, text: str = "", limit: int | None = None) -> list[Study]:
        return self.index.studies(text, limit)

    def study(self, study_instance_uid: str) -> Study:
        s = self.index.study(study_instance_uid)
        if s is None:
            raise NotFoundError(f"study {study_instance_uid} is not in the local store")
        return s

    def series(self, study_instance_uid: str) -> list[Series]:
        return self.index.series(study_instance_uid)

    def one_series(self, series_instance_uid: str) -> Series:
        s = self.index.one_series(series_instance_uid)
        if s is None:
            raise NotFoundError(f"series {series_instance_uid} is not in the local store")
        return s

    def instances(self, series_instance_uid: str) -> list[Instance]:
        return self.index.instances(series_instance_uid)

    def path_of(self, instance: Instance) -> Path:
        return self.root / instance.path

    def mark_opened(self, study_instance_uid: str) -> None:
        self.index.mark_opened(study_instance_uid, time.time())

    def priors(self, study_instance_uid: str) -> list[PriorStudy]:
        """The patient's earlier studies, most recent first (same Patient ID and issuer).

        A study with an equal ID but another name, birth date or sex is listed with its
        conflicts rather than dropped: the reader must see it and decide.
        """
        current = self.study(study_instance_uid)
        if not current.patient.patient_id:
            return []  # no identifier: nothing can be matched safely
        when = (current.study_date, current.study_time)
        out = []
        for s in self.index.studies_of_patient(*current.patient.key):
            if s.study_instance_uid == study_instance_uid:
                continue
            if s.study_date and current.study_date and (s.study_date, s.study_time) >= when:
                continue  # a later study is not a prior
            out.append(PriorStudy(s, identity_conflicts(current.patient, s.patient)))
        out.sort(key=lambda p: (p.study.study_date, p.study.study_time), reverse=True)
        return out

    # -- what the reader adds to a study -----------------------------------------------------
    def measurements(self, study_instance_uid: str) -> list[Measurement]:
        rows = self.index.connection().execute(
            "SELECT json FROM measurements WHERE study_instance_uid=? ORDER BY updated_at",
            (study_instance_uid,),
        )
        return [Measurement.from_json(json.loads(r[0])) for r in rows]

    def save_measurement(self, study_instance_uid: str, measurement: Measurement) -> None:
        """Insert or replace one measurement (by its id) and commit at once."""
        conn = self.index.connection()
        conn.execute(
            "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?)",
            (
                measurement.measurement_id,
                study_instance_uid,
                json.dumps(measurement.to_json()),
                time.time(),
            ),
        )
        conn.commit()

    def delete_measurement(self, measurement_id: str) -> None:
        conn = self.index.connection()
        conn.execute("DELETE FROM measurements WHERE measurement_id=?", (measurement_id,))
        conn.commit()

    # -- calibrations the reader set (PS3.3 10.7.1.1) --------------------------------------------
    def user_calibrations(self, study_instance_uid: str) -> list[UserCalibration]:
        """The user calibrations of a study's series and images, series-wide ones first."""
        rows = self.index.connection().execute(
            "SELECT json FROM calibrations WHERE study_instance_uid=? "
            "ORDER BY sop_instance_uid != '', series_instance_uid, sop_instance_uid",
            (study_instance_uid,),
        )
        return [UserCalibration.from_json(json.loads(r[0])) for r in rows]

    def series_calibrations(self, series_instance_uid: str) -> list[UserCalibration]:
        """The user calibrations of one series (the series-wide one, then per image)."""
        rows = self.index.connection().execute(
            "SELECT json FROM calibrations WHERE series_instance_uid=? "
            "ORDER BY sop_instance_uid != '', sop_instance_uid",
            (series_instance_uid,),
        )
        return [UserCalibration.from_json(json.loads(r[0])) for r in rows]

    def calibration_of(self, instance: Instance) -> PixelCalibration:
        """The calibration measurements on ``instance`` use now: the reader's, else the file's."""
        modality = self.one_series(instance.series_instance_uid).modality
        return effective_calibration(
            instance, modality, self.series_calibrations(instance.series_instance_uid)
        )

    def set_user_calibration(
        self, calibration: UserCalibration, *, user: str | None = None
    ) -> list[Measurement]:
        """Keep a user calibration (replacing one of the same scope), value the stored
        measurements on the images it covers again, and record it in the audit trail.

        ``user`` (default: the calibration's, else the login) is who set it. Returns the
        measurements whose values changed. Raises :class:`NotFoundError` for a series that
        is not in the store and :class:`CalibrationError` for a cross-sectional one.
        """
        series = self.one_series(calibration.series_instance_uid)
        study = series.study_instance_uid
        who = user or calibration.user or current_user()
        when = calibration.created_at or _utc_now()
        calibration = dataclasses.replace(calibration, user=who, created_at=when)
        instances = self.instances(series.series_instance_uid)
        if calibration.sop_instance_uid and not any(
            i.sop_instance_uid == calibration.sop_instance_uid for i in instances
        ):
            raise NotFoundError("the calibrated image is not in the local store")
        if not any(
            calibration.applies_to(i, PixelCalibration.from_instance(i, series.modality))
            for i in instances
        ):
            raise CalibrationError(
                "this calibration fits no image of the series (its spacing differs)"
            )
        conn = self.index.connection()
        try:
            conn.execute(
                "INSERT OR REPLACE INTO calibrations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    calibration.series_instance_uid,
                    calibration.sop_instance_uid,
                    study,
                    calibration.calibration_id,
                    json.dumps(calibration.to_json()),
                    who,
                    when,
                ),
            )
            changed = self._revalue_measurements(study, series.modality, instances)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        spacing = calibration.spacing_mm
        record_event(
            self.root,
            AuditEvent.CALIBRATION_SET,
            study_instance_uid=study,
            sop_instance_uid=calibration.drawn_on,
            detail=(
                f"{calibration.scope} calibration, series {calibration.series_instance_uid}: "
                f"{spacing[0]:.4f} x {spacing[1]:.4f} mm/px (known length "
                f"{calibration.known_length_mm:g} mm, factor {calibration.factor:.4f})"
            ),
        )
        return changed

    def remove_user_calibration(
        self, series_instance_uid: str, sop_instance_uid: str = ""
    ) -> UserCalibration | None:
        """Forget the user calibration of a series ("" ) or of one image: its images measure
        with the file's spacing again (stored measurements are valued again); audited. Returns
        the calibration removed, None when there was none."""
        conn = self.index.connection()
        row = conn.execute(
            "SELECT json, study_instance_uid FROM calibrations WHERE series_instance_uid=? "
            "AND sop_instance_uid=?",
            (series_instance_uid, sop_instance_uid),
        ).fetchone()
        if row is None:
            return None
        removed = UserCalibration.from_json(json.loads(row[0]))
        study = row[1]
        try:
            conn.execute(
                "DELETE FROM calibrations WHERE series_instance_uid=? AND sop_instance_uid=?",
                (series_instance_uid, sop_instance_uid),
            )
            series = self.index.one_series(series_instance_uid)
            if series is not None:
                self._revalue_measurements(
                    study, series.modality, self.instances(series_instance_uid)
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        record_event(
            self.root,
            AuditEvent.CALIBRATION_REMOVED,
            study_instance_uid=study,
            sop_instance_uid=sop_instance_uid or removed.drawn_on,
            detail=f"{removed.scope} calibration, series {series_instance_uid}",
        )
        return removed

    def _revalue_measurements(
        self, study_instance_uid: str, modality: str, instances: list[Instance]
    ) -> list[Measurement]:
        """Value again the stored measurements on ``instances`` whose calibration is no longer
        the one their image measures with; their order (updated_at) stays. No commit."""
        if not instances:
            return []
        cals = self.series_calibrations(instances[0].series_instance_uid)
        by_uid = {i.sop_instance_uid: i for i in instances}
        conn = self.index.connection()
        changed = []
        for m in self.measurements(study_instance_uid):
            inst = by_uid.get(m.sop_instance_uid)
            if inst is None or m.plane is not None:
                continue
            cal = effective_calibration(inst, modality, cals)
            if not needs_recalibration(m, cal):
                continue
            new = recalibrate(m, cal)
            conn.execute(
                "UPDATE measurements SET json=? WHERE measurement_id=?",
                (json.dumps(new.to_json()), new.measurement_id),
            )
            changed.append(new)
        return changed

    def key_images(self, study_instance_uid: str) -> list[KeyImage]:
        rows = self.index.connection().execute(
            "SELECT sop_instance_uid, frame_number FROM key_images WHERE study_instance_uid=? "
            "ORDER BY marked_at",
            (study_instance_uid,),
        )
        return [KeyImage(study_instance_uid, r[0], r[1]) for r in rows]

    def set_key_image(self, image: KeyImage, marked: bool = True) -> None:
        conn = self.index.connection()
        if marked:
            conn.execute(
                "INSERT OR IGNORE INTO key_images VALUES (?, ?, ?, ?)",
                (image.study_instance_uid, image.sop_instance_uid, image.frame_number, time.time()),
            )
        else:
            conn.execute(
                "DELETE FROM key_images WHERE study_instance_uid=? AND sop_instance_uid=? "
                "AND frame_number=?",
                (image.study_instance_uid, image.sop_instance_uid, image.frame_number),
            )
        conn.commit()

    # -- storing ---------------------------------------------------------------------------
    def add_dataset(self, ds: Dataset) -> bool:
        """Store a dataset made in memory (demo, received over the network).

        Returns False when an instance with its SOP Instance UID is already stored.
        """
        sop = str(ds.get("SOPInstanceUID", "") or "")
        if sop and self.index.has_instance(sop):
            return False
        if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
            _add_file_meta(ds)
        tmp = self._tmp_path()
        try:
            ds.save_as(tmp, enforce_file_format=True)
            return self._ingest_tmp(tmp, label=f"dataset {sop or '(no SOP Instance UID)'}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def ingest_file(
        self, path: str | os.PathLike[str], *, head: bytes = b"", size: int | None = None
    ) -> bool:
        """Move a complete file written under :attr:`tmp_dir` into the store and index it.

        ``head`` and ``size``: the file's first bytes and its size, where the caller wrote it
        and kept them (a retrieve does); the header is then parsed from memory, and the file
        read only if the header needs more than ``head``. Returns False, and deletes the file,
        when its SOP Instance UID is already stored (also when another retrieval stored it at
        the same moment: then its copy is replaced by this identical one). Raises
        :class:`InvalidDicomError` (the file is left to the caller). Call :meth:`commit` after
        a batch.
        """
        tmp = Path(path)
        if head and size is not None:
            parsed = _parse_kept(tmp, head, size)
        else:
            with open(tmp, "rb") as fp:
                parsed = _parse_open(fp, os.fstat(fp.fileno()).st_size)
        if self.index.has_instance(parsed.instance.sop_instance_uid):
            tmp.unlink()
            return False
        if not parsed.has_file_meta:
            full = pydicom.dcmread(tmp, force=True)
            _add_file_meta(full)
            full.save_as(tmp, enforce_file_format=True)
            parsed = self._reparse(tmp)
        return self._place(tmp, parsed)

    def ingest_bytes(self, data: bytes, prefix: str = "received") -> bool:
        """Store a Part 10 file that arrived whole in memory (a C-STORE's data set behind its
        meta header), as it came: nothing is decoded or re-encoded. It is written owner-only
        under :attr:`tmp_dir`, then :meth:`ingest_file` takes it, its header parsed from
        memory. Raises :class:`InvalidDicomError`, or :class:`StoreError` when it cannot be
        written (a full disk); the temp file never stays. Call :meth:`commit` after a batch.
        """
        tmp = self.root / "tmp" / f"{prefix}-{uuid.uuid4().hex}.part"
        try:
            try:
                with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fp:
                    fp.write(data)
            except OSError as exc:
                raise store_os_error(exc) from None
            return self.ingest_file(tmp, head=data[:_HEAD_IN_MEMORY], size=len(data))
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def ingest_files(
        self, files: Sequence[tuple[Path, bytes, int]]
    ) -> list[bool | InvalidDicomError]:
        """:meth:`ingest_file` for each ``(path, head, size)``, then one :meth:`commit`; per
        file, whether it was new, or why it was rejected. The temp files not taken into the
        store (rejected ones, and on a failure the rest) are deleted, also when the commit
        fails (a full disk)."""
        outcomes: list[bool | InvalidDicomError] = []
        try:
            for path, head, size in files:
                try:
                    outcomes.append(self.ingest_file(path, head=head, size=size))
                except InvalidDicomError as exc:
                    outcomes.append(exc)
                    path.unlink(missing_ok=True)
        finally:
            try:
                self.commit()
            finally:
                for path, _, _ in files[len(outcomes) :]:
                    path.unlink(missing_ok=True)
        return outcomes

    def commit(self) -> None:
        """Commit this thread's index writes. When that fails (a full disk) the files they
        named are taken out again: no file stays in the store without its index row."""
        try:
            self.index.commit()
        except StoreError:
            self._undo()
            raise
        self._placed().clear()

    def _placed(self) -> list[tuple[str, str]]:
        placed: list[tuple[str, str]] | None = getattr(self._uncommitted, "files", None)
        if placed is None:
            placed = self._uncommitted.files = []
        return placed

    def _undo(self) -> None:
        """Roll back this thread's index writes and delete the files they named, except those
        another commit indexed meanwhile (the same instance from another retrieval)."""
        with contextlib.suppress(sqlite3.Error):
            self.index.rollback()
        placed = self._placed()
        for dest, sop in placed:
            with contextlib.suppress(StoreError, sqlite3.Error):
                if self.index.has_instance(sop):
                    continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
        placed.clear()

    def adopt_file(self, rel: str) -> bool:
        """Index a file that lies in the store with no index row (a crash came between its
        rename into place and the commit that named it), where it lies.

        True when it is indexed now; False when its instance is indexed already under
        another file (this copy is deleted). Raises :class:`InvalidDicomError` for a file the
        store cannot index (left to the caller). Call :meth:`commit` after a batch.
        """
        path = os.path.join(self.root, rel)
        with open(path, "rb") as fp:
            parsed = _parse_open(fp, os.fstat(fp.fileno()).st_size)
        if not parsed.has_file_meta:
            raise InvalidDicomError("no Part 10 header: the store never writes such a file")
        if self.index.has_instance(parsed.instance.sop_instance_uid):
            os.unlink(path)
            return False
        os.chmod(path, 0o600)
        return self.index.add(
            parsed.patient, parsed.study, parsed.series, parsed.instance, path=rel
        )

    def _tmp_path(self) -> Path:
        return self.root / "tmp" / f"{uuid.uuid4().hex}.part"

    def _ingest_tmp(self, tmp: Path, label: str) -> bool:
        with open(tmp, "rb") as fp:
            parsed = _parse_open(fp, os.fstat(fp.fileno()).st_size)
        return self._place(tmp, parsed)

    def _place(self, tmp: Path, parsed: ParsedInstance) -> bool:
        """Rename ``tmp`` into the store and index it; True when the instance is new there."""
        rel = instance_relpath(
            parsed.study.study_instance_uid,
            parsed.series.series_instance_uid,
            parsed.instance.sop_instance_uid,
        )
        dest = os.path.join(self.root, rel)
        try:
            os.chmod(tmp, 0o600)
            try:
                os.replace(tmp, dest)
            except FileNotFoundError:  # the series' first file: its folder is new
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.replace(tmp, dest)
        except OSError as exc:
            raise store_os_error(exc) from None
        placed = self._placed()
        placed.append((dest, parsed.instance.sop_instance_uid))
        try:
            return self.index.add(
                parsed.patient, parsed.study, parsed.series, parsed.instance, path=rel
            )
        except StoreError:  # the index cannot take it (a full disk): nor the batch before it
            self._undo()
            raise

    # -- import ----------------------------------------------------------------------------
    def import_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Import files, folders (recursively), DICOMDIR media and zip files.

        Each object is stored once; a bad file is reported with its reason and the import goes
        on with the rest.
        """
        report = ImportReport()
        sources = list(self._collect(paths, report))
        total = len(sources)
        if progress:
            progress(0, total)
        for n, source in enumerate(sources, 1):
            try:
                self._import_one(source, report)
            except InvalidDicomError as exc:
                report.rejected.append((source.label, str(exc)))
            except StoreError:
                raise  # the store itself failed (disk full, permissions): stop, say so
            except (OSError, zipfile.BadZipFile) as exc:
                report.rejected.append((source.label, f"cannot read: {exc}"))
            except Exception as exc:
                log.warning("import: unexpected %s on one file", type(exc).__name__)
                report.rejected.append((source.label, f"unreadable ({type(exc).__name__})"))
            if n % _COMMIT_EVERY == 0:
                self.commit()
            if progress:
                progress(n, total)
        self.commit()
        log.info("import finished: %s", report.summary())
        return report

    def _import_one(self, source: _Source, report: ImportReport) -> None:
        with source.open() as (fp, size):
            parsed = _parse_open(fp, size)
            meta = parsed.has_file_meta
            sop = parsed.instance.sop_instance_uid
            if self.index.has_instance(sop):
                report.duplicates += 1
                return
            tmp = self._tmp_path()
            try:
                if meta:
                    fp.seek(0)
                    with open(tmp, "wb") as out:
                        shutil.copyfileobj(fp, out, 1024 * 1024)
                else:
                    # No Part 10 meta: re-encode with one, then index the file as written.
                    fp.seek(0)
                    full = pydicom.dcmread(fp, force=True)
                    _add_file_meta(full)
                    full.save_as(tmp, enforce_file_format=True)
                    parsed = self._reparse(tmp)
                self._place(tmp, parsed)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        report.imported += 1
        report.study_uids.add(parsed.study.study_instance_uid)

    def _reparse(self, tmp: Path) -> ParsedInstance:
        ds, offset, length, meta = read_header(tmp)
        return parse_dataset(
            ds,
            path="",
            pixel_data_offset=offset,
            pixel_data_length=length,
            file_size=tmp.stat().st_size,
            has_file_meta=meta,
        )

    def _collect(
        self, paths: Iterable[str | os.PathLike[str]], report: ImportReport
    ) -> Iterator[_Source]:
        seen: set[Path] = set()
        for raw in paths:
            p = Path(raw).expanduser()
            if not p.exists():
                report.rejected.append((str(p), "no such file or folder"))
                continue
            if p.is_dir():
                files = sorted(f for f in p.rglob("*") if f.is_file())
                if not files:
                    report.rejected.append((str(p), "empty folder: no files to import"))
                for f in files:
                    yield from self._sources_of_file(f, report, seen, in_folder=True)
            else:
                yield from self._sources_of_file(p, report, seen, in_folder=False)

    def _sources_of_file(
        self, f: Path, report: ImportReport, seen: set[Path], *, in_folder: bool
    ) -> Iterator[_Source]:
        resolved = f.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        if zipfile.is_zipfile(f):
            try:
                with zipfile.ZipFile(f) as zf:
                    members = [m for m in zf.infolist() if not m.is_dir()]
            except (zipfile.BadZipFile, OSError) as exc:
                report.rejected.append((str(f), f"damaged zip file: {exc}"))
                return
            for m in members:
                if Path(m.filename).name.upper() == "DICOMDIR":
                    report.skipped += 1
                    continue
                yield _Source(label=f"{f}:{m.filename}", zip_path=f, member=m.filename)
            return
        if f.name.upper() == "DICOMDIR" or is_dicomdir(f):
            if in_folder:
                # The folder walk reaches every referenced file anyway.
                report.skipped += 1
                return
            yield from self._dicomdir_sources(f, report, seen)
            return
        yield _Source(label=str(f), path=f)

    def _dicomdir_sources(
        self, dicomdir: Path, report: ImportReport, seen: set[Path]
    ) -> Iterator[_Source]:
        """Files referenced by a DICOMDIR's directory records (PS3.3 F.3.2.2)."""
        try:
            dd = pydicom.dcmread(dicomdir)
        except Exception as exc:
            report.rejected.append((str(dicomdir), f"unreadable DICOMDIR: {exc}"))
            return
        base = dicomdir.parent
        for record in dd.get("DirectoryRecordSequence", []):
            ref = record.get("ReferencedFileID")
            if not ref:
                continue
            parts = [ref] if isinstance(ref, str) else list(ref)
            target = _find_case_insensitive(base, parts)
            if target is None:
                report.rejected.append(
                    (str(base.joinpath(*parts)), "listed in the DICOMDIR but missing on the media")
                )
                continue
            resolved = target.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            yield _Source(label=str(target), path=target)


def _parse_open(fp: IO[bytes], size: int) -> ParsedInstance:
    """The index attributes of an open file: the fast header path, else pydicom's reading."""
    parsed = parse_head(fp, size)
    if parsed is not None:
        return parsed
    fp.seek(0)
    ds, offset, length, meta = read_header(fp, size)
    return parse_dataset(
        ds,
        path="",
        pixel_data_offset=offset,
        pixel_data_length=length,
        file_size=size,
        has_file_meta=meta,
    )


def _parse_kept(path: Path, head: bytes, size: int) -> ParsedInstance:
    """:func:`_parse_open` of a file whose first bytes and size the caller kept."""
    with contextlib.ExitStack() as stack:
        opened: list[IO[bytes]] = []

        def file() -> IO[bytes]:
            if not opened:
                opened.append(stack.enter_context(open(path, "rb")))
            return opened[0]

        parsed = parse_head_bytes(head, size, file)
        return parsed if parsed is not None else _parse_open(file(), size)


def _find_case_insensitive(base: Path, parts: list[str]) -> Path | None:
    """File IDs on media are upper case (PS3.10 8.2), a copied disc may not be."""
    exact = base.joinpath(*parts)
    if exact.is_file():
        return exact
    cur = base
    for part in parts:
        try:
            match = next((c for c in cur.iterdir() if c.name.upper() == part.upper()), None)
        except OSError:
            return None
        if match is None:
            return None
        cur = match
    return cur if cur.is_file() else None


def _add_file_meta(ds: Dataset) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # Keep the encoding the dataset was read in, so its elements are written unchanged.
    implicit, little = (
        ds.original_encoding
        if ds.original_encoding[0] is not None
        else (
            False,
            True,
        )
    )
    if not little:
        ts = pydicom.uid.ExplicitVRBigEndian
    elif implicit:
        ts = pydicom.uid.ImplicitVRLittleEndian
    else:
        ts = ExplicitVRLittleEndian
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta


def _utc_now() -> str:
    """Now in UTC, ISO 8601 with seconds: when a calibration was set."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
