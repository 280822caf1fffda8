"""The local store's SQLite index: patients, studies, series, instances.

WAL mode so the UI can read while an import or retrieval writes. One connection per thread
(sqlite3 objects must not cross threads). Tuples of numbers are kept as JSON text.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.core.errors import StoreError, store_write_error
from workstation.core.model import Instance, Patient, Series, Study

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_instance_uid TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    issuer_of_patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    accession_number TEXT NOT NULL,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    study_description TEXT NOT NULL,
    body_part_examined TEXT NOT NULL,
    institution_name TEXT NOT NULL,
    referring_physician_name TEXT NOT NULL,
    requested_priority TEXT NOT NULL,
    study_id TEXT NOT NULL,
    search_text TEXT NOT NULL,
    added_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    last_opened_at REAL
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient_id, issuer_of_patient_id);
CREATE TABLE IF NOT EXISTS series (
    series_instance_uid TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL REFERENCES studies ON DELETE CASCADE,
    modality TEXT NOT NULL,
    series_number INTEGER,
    series_description TEXT NOT NULL,
    body_part_examined TEXT NOT NULL,
    frame_of_reference_uid TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS series_study ON series (study_instance_uid);
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid TEXT PRIMARY KEY,
    series_instance_uid TEXT NOT NULL REFERENCES series ON DELETE CASCADE,
    sop_class_uid TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    instance_number INTEGER,
    rows INTEGER NOT NULL,
    columns INTEGER NOT NULL,
    number_of_frames INTEGER NOT NULL,
    samples_per_pixel INTEGER NOT NULL,
    photometric_interpretation TEXT NOT NULL,
    bits_allocated INTEGER NOT NULL,
    bits_stored INTEGER NOT NULL,
    pixel_representation INTEGER NOT NULL,
    planar_configuration INTEGER NOT NULL,
    rescale_slope REAL NOT NULL,
    rescale_intercept REAL NOT NULL,
    rescale_type TEXT NOT NULL,
    window_center TEXT NOT NULL,
    window_width TEXT NOT NULL,
    window_explanation TEXT NOT NULL,
    voi_lut_function TEXT NOT NULL,
    image_position_patient TEXT,
    image_orientation_patient TEXT,
    pixel_spacing TEXT,
    imager_pixel_spacing TEXT,
    estimated_radiographic_magnification_factor REAL,
    slice_thickness REAL,
    slice_location REAL,
    acquisition_number INTEGER,
    image_type TEXT NOT NULL,
    has_modality_lut_sequence INTEGER NOT NULL DEFAULT 0,
    has_voi_lut_sequence INTEGER NOT NULL DEFAULT 0,
    presentation_lut_shape TEXT NOT NULL DEFAULT '',
    pixel_data_offset INTEGER,
    pixel_data_length INTEGER,
    file_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_instance_uid);
-- schema 2: what a reader adds to a study: measurements and key images
CREATE TABLE IF NOT EXISTS measurements (
    measurement_id TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    json TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_study ON measurements (study_instance_uid);
CREATE TABLE IF NOT EXISTS key_images (
    study_instance_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    frame_number INTEGER NOT NULL DEFAULT 1,
    marked_at REAL NOT NULL,
    PRIMARY KEY (study_instance_uid, sop_instance_uid, frame_number)
);
-- schema 4: calibrations the reader set against an object of known size (PS3.3 10.7.1.1),
-- per series (sop_instance_uid '') or per image; who set it and when travel with it.
CREATE TABLE IF NOT EXISTS calibrations (
    series_instance_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    study_instance_uid TEXT NOT NULL,
    calibration_id TEXT NOT NULL,
    json TEXT NOT NULL,
    user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (series_instance_uid, sop_instance_uid)
);
CREATE INDEX IF NOT EXISTS calibrations_study ON calibrations (study_instance_uid);
"""

# Columns added to instances after schema 1, with their definitions for ALTER TABLE.
_ADDED_INSTANCE_COLUMNS = {
    "has_modality_lut_sequence": "INTEGER NOT NULL DEFAULT 0",
    "has_voi_lut_sequence": "INTEGER NOT NULL DEFAULT 0",
    "presentation_lut_shape": "TEXT NOT NULL DEFAULT ''",
}
_INSTANCE_BOOL = {"has_modality_lut_sequence", "has_voi_lut_sequence"}
_INSTANCE_JSON = {
    "window_center",
    "window_width",
    "window_explanation",
    "image_position_patient",
    "image_orientation_patient",
    "pixel_spacing",
    "imager_pixel_spacing",
    "image_type",
}
_INSTANCE_FIELDS = tuple(Instance.__dataclass_fields__)
_SERIES_FIELDS = tuple(f for f in Series.__dataclass_fields__ if f != "number_of_instances")
_STUDY_FIELDS = (
    "study_instance_uid",
    "accession_number",
    "study_date",
    "study_time",
    "study_description",
    "body_part_examined",
    "institution_name",
    "referring_physician_name",
    "requested_priority",
    "study_id",
)
_PATIENT_FIELDS = ("patient_id", "issuer_of_patient_id", "patient_name", "birth_date", "sex")
# The statements add() runs for every stored instance, made once.
_INSERT_STUDY = (
    f"INSERT OR IGNORE INTO studies ({', '.join(_PATIENT_FIELDS + _STUDY_FIELDS)}, search_text) "
    f"VALUES ({', '.join('?' * (len(_PATIENT_FIELDS) + len(_STUDY_FIELDS)))}, ?)"
)
_INSERT_SERIES = (
    f"INSERT OR IGNORE INTO series ({', '.join(_SERIES_FIELDS)}) "
    f"VALUES ({', '.join('?' * len(_SERIES_FIELDS))})"
)
_REPLACE_INSTANCE = (
    f"INSERT OR REPLACE INTO instances ({', '.join(_INSTANCE_FIELDS)}) "
    f"VALUES ({', '.join('?' * len(_INSTANCE_FIELDS))})"
)


@functools.lru_cache(maxsize=1024)
def _json_list(values: tuple[Any, ...]) -> str:
    """The JSON text of a tuple column. The slices of a series share most of them (orientation,
    spacing, windows, image type): each is encoded once. Numbers are floats (parse_dataset
    makes them so); 1 and 1.0 would share an entry, and read back equal."""
    return json.dumps(list(values))


def search_key(*parts: str) -> str:
    """Case- and separator-insensitive text a search box can match (PN '^' becomes a space)."""
    return " ".join(p.replace("^", " ").replace("=", " ").casefold() for p in parts if p)


def _write_error(exc: sqlite3.Error) -> StoreError:
    """A failed write of the index as the user reads it (SQLITE_FULL: the disk is full)."""
    return store_write_error(str(exc), "full" in str(exc))


class StoreIndex:
    """Thread-aware access to the index database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._local = threading.local()
        conn = self.connection()
        try:
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
                conn.commit()
            elif int(row[0]) < SCHEMA_VERSION:
                # Older schemas lack tables (the script above just created them: key images
                # and measurements in 2, calibrations in 4) and columns; rows stay as they are.
                have = {r[1] for r in conn.execute("PRAGMA table_info(instances)")}
                for column, ddl in _ADDED_INSTANCE_COLUMNS.items():
                    if column not in have:
                        conn.execute(f"ALTER TABLE instances ADD COLUMN {column} {ddl}")
                conn.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
                conn.commit()
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"the store index {db_path} was written by a newer version "
                    f"(schema {row[0]} > {SCHEMA_VERSION}); update the workstation"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the store index {db_path} is unreadable: {exc}") from None

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.db_path, timeout=30.0)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store index {self.db_path}: {exc}") from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing -------------------------------------------------------------------------
    def has_instance(self, sop_instance_uid: str) -> bool:
        row = (
            self.connection()
            .execute("SELECT 1 FROM instances WHERE sop_instance_uid=?", (sop_instance_uid,))
            .fetchone()
        )
        return row is not None

    def add(
        self,
        patient: Patient,
        study: Study,
        series: Series,
        instance: Instance,
        *,
        path: str | None = None,
    ) -> bool:
        """Insert one instance and, the first time they are seen, its series and study;
        ``path`` stands for the instance's own (where the store put the file).

        True when the instance was not indexed before. The question is asked inside the write
        transaction the study's insert opened, so of two connections storing the same instance
        at once exactly one hears True (the other waits for its commit).
        """
        try:
            return self._add(patient, study, series, instance, path)
        except sqlite3.Error as exc:
            raise _write_error(exc) from None

    def _add(
        self,
        patient: Patient,
        study: Study,
        series: Series,
        instance: Instance,
        path: str | None,
    ) -> bool:
        conn = self.connection()
        # The study and series rows this write transaction has already seen to: none can go
        # before it ends (it holds the write lock), so the next instances of the series skip
        # their two INSERTs.
        seen: set[tuple[str, str]] | None = getattr(self._local, "parents", None)
        if seen is None or not conn.in_transaction:
            seen = self._local.parents = set()
        parents = (study.study_instance_uid, series.series_instance_uid)
        if parents not in seen:
            conn.execute(
                _INSERT_STUDY,
                [getattr(patient, f) for f in _PATIENT_FIELDS]
                + [getattr(study, f) for f in _STUDY_FIELDS]
                + [search_key(patient.patient_name, patient.patient_id, study.accession_number)],
            )
            conn.execute(_INSERT_SERIES, [getattr(series, f) for f in _SERIES_FIELDS])
            seen.add(parents)
        known = conn.execute(
            "SELECT 1 FROM instances WHERE sop_instance_uid=?", (instance.sop_instance_uid,)
        ).fetchone()
        values = []
        for f in _INSTANCE_FIELDS:
            v = getattr(instance, f)
            if f in _INSTANCE_JSON:
                v = None if v is None else _json_list(v)
            elif f == "path" and path is not None:
                v = path
            values.append(v)
        conn.execute(_REPLACE_INSTANCE, values)
        return known is None

    def commit(self) -> None:
        try:
            self.connection().commit()
        except sqlite3.Error as exc:
            raise _write_error(exc) from None

    def rollback(self) -> None:
        """Undo this thread's open write transaction (after a failed write)."""
        self.connection().rollback()

    def mark_opened(self, study_instance_uid: str, when: float) -> None:
        conn = self.connection()
        conn.execute(
            "UPDATE studies SET last_opened_at=? WHERE study_instance_uid=?",
            (when, study_instance_uid),
        )
        conn.commit()

    # -- reading -------------------------------------------------------------------------
    def studies(self, text: str = "", limit: int | None = None) -> list[Study]:
        """Studies newest first; ``text`` matches name, patient ID or accession (any case)."""
        sql = (
            "SELECT s.*, (SELECT COUNT(*) FROM series r WHERE r.study_instance_uid="
            "s.study_instance_uid) AS n_series, (SELECT COUNT(*) FROM instances i JOIN series r "
            "USING (series_instance_uid) WHERE r.study_instance_uid=s.study_instance_uid) AS "
            "n_instances, (SELECT GROUP_CONCAT(DISTINCT modality) FROM series r WHERE "
            "r.study_instance_uid=s.study_instance_uid) AS mods FROM studies s"
        )
        args: list[Any] = []
        words = [w for w in search_key(text).split() if w]
        if words:
            sql += " WHERE " + " AND ".join("s.search_text LIKE ? ESCAPE '\\'" for _ in words)
            args += ["%" + _like_escape(w) + "%" for w in words]
        sql += " ORDER BY s.study_date DESC, s.study_time DESC, s.study_instance_uid"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_study_from_row(r) for r in self.connection().execute(sql, args)]

    def study(self, study_instance_uid: str) -> Study | None:
        for s in self._studies_where("s.study_instance_uid=?", (study_instance_uid,)):
            return s
        return None

    def studies_of_patient(self, patient_id: str, issuer: str) -> list[Study]:
        return self._studies_where(
            "s.patient_id=? AND s.issuer_of_patient_id=?", (patient_id, issuer)
        )

    def _studies_where(self, where: str, args: Sequence[Any]) -> list[Study]:
        sql = (
            "SELECT s.*, (SELECT COUNT(*) FROM series r WHERE r.study_instance_uid="
            "s.study_instance_uid) AS n_series, (SELECT COUNT(*) FROM instances i JOIN series r "
            "USING (series_instance_uid) WHERE r.study_instance_uid=s.study_instance_uid) AS "
            "n_instances, (SELECT GROUP_CONCAT(DISTINCT modality) FROM series r WHERE "
            f"r.study_instance_uid=s.study_instance_uid) AS mods FROM studies s WHERE {where} "
            "ORDER BY s.study_date DESC, s.study_time DESC"
        )
        return [_study_from_row(r) for r in self.connection().execute(sql, list(args))]

    def series(self, study_instance_uid: str) -> list[Series]:
        rows = self.connection().execute(
            "SELECT r.*, (SELECT COUNT(*) FROM instances i WHERE i.series_instance_uid="
            "r.series_instance_uid) AS n FROM series r WHERE study_instance_uid=? "
            "ORDER BY r.series_number IS NULL, r.series_number, r.series_instance_uid",
            (study_instance_uid,),
        )
        return [
            Series(**{f: r[f] for f in _SERIES_FIELDS}, number_of_instances=r["n"]) for r in rows
        ]

    def one_series(self, series_instance_uid: str) -> Series | None:
        r = (
            self.connection()
            .execute(
                "SELECT r.*, (SELECT COUNT(*) FROM instances i WHERE i.series_instance_uid="
                "r.series_instance_uid) AS n FROM series r WHERE series_instance_uid=?",
                (series_instance_uid,),
            )
            .fetchone()
        )
        if r is None:
            return None
        return Series(**{f: r[f] for f in _SERIES_FIELDS}, number_of_instances=r["n"])

    def instances(self, series_instance_uid: str) -> list[Instance]:
        rows = self.connection().execute(
            "SELECT * FROM instances WHERE series_instance_uid=? "
            "ORDER BY instance_number IS NULL, instance_number, sop_instance_uid",
            (series_instance_uid,),
        )
        return [_instance_from_row(r) for r in rows]

    def sop_instance_uids(self, series_instance_uid: str) -> set[str]:
        """The SOP Instance UIDs the index holds for a series (no rows decoded: fast)."""
        rows = self.connection().execute(
            "SELECT sop_instance_uid FROM instances WHERE series_instance_uid=?",
            (series_instance_uid,),
        )
        return {r[0] for r in rows}

    def instance(self, sop_instance_uid: str) -> Instance | None:
        r = (
            self.connection()
            .execute("SELECT * FROM instances WHERE sop_instance_uid=?", (sop_instance_uid,))
            .fetchone()
        )
        return None if r is None else _instance_from_row(r)

    def counts(self) -> dict[str, int]:
        conn = self.connection()
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("studies", "series", "instances")
        }


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _study_from_row(r: sqlite3.Row) -> Study:
    patient = Patient(**{f: r[f] for f in _PATIENT_FIELDS})
    mods = tuple(sorted(m for m in (r["mods"] or "").split(",") if m))
    return Study(
        patient=patient,
        modalities=mods,
        number_of_series=r["n_series"],
        number_of_instances=r["n_instances"],
        **{f: r[f] for f in _STUDY_FIELDS},
    )


def _instance_from_row(r: sqlite3.Row) -> Instance:
    kwargs: dict[str, Any] = {}
    for f in _INSTANCE_FIELDS:
        v = r[f]
        if f in _INSTANCE_JSON and v is not None:
            v = tuple(json.loads(v))
        elif f in _INSTANCE_BOOL:
            v = bool(v)
        kwargs[f] = v
    return Instance(**kwargs)
