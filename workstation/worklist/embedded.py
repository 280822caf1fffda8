"""The embedded worklist: UPS workitems in a SQLite file of the local store, no server needed.

Same interface as the UPS-RS client, same rules as the archive's worklist plugin: states and
transitions from ``core.ups`` (PS3.4 Table CC.1.1-2), roles from the worklist config (a
radiologist sees their own items and the unassigned items of their pools; leads assign; only
the holder completes). Every change runs in one ``BEGIN IMMEDIATE`` transaction with a
conditional UPDATE, so two windows (or two processes) cannot both claim one item.

:meth:`EmbeddedWorklist.populate_from_archive` makes one reading workitem per study of the
local store (``core.ups.build_reading_workitem``: priority from Requested Procedure Priority
through the site map, pool from the routing rules, due time from the turnaround targets), so
the demo shows a real worklist. Claims live in the same file (table ``worklist_claims``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core import ups
from workstation.core.durable_db import make_private_db
from workstation.core.errors import StoreError
from workstation.core.ups import (
    Dataset,
    Permission,
    PermissionDenied,
    ProcedureStepState,
    UpsError,
    UpsStatus,
    WorklistConfig,
    WorklistUser,
)
from workstation.worklist.backend import Reader, SearchPage, WorklistBackend, readers_of
from workstation.worklist.claims import ClaimStore
from workstation.worklist.model import WorkItem, WorklistFilter, utc_now

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive

log = logging.getLogger(__name__)

FILE_NAME = "worklist.sqlite"
LOCAL_USER = "local"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ups_workitems (
    uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    pool TEXT,
    performer TEXT,
    due_utc REAL,
    transaction_uid TEXT,
    holder TEXT,
    claimed_utc REAL,
    study_uid TEXT,
    reading_study_uid TEXT UNIQUE,
    dataset TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_utc REAL NOT NULL,
    updated_utc REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ups_workitems_queue ON ups_workitems (state, priority_rank, due_utc);
CREATE INDEX IF NOT EXISTS ups_workitems_pool ON ups_workitems (pool, state);
CREATE INDEX IF NOT EXISTS ups_workitems_performer ON ups_workitems (performer, state);
CREATE TABLE IF NOT EXISTS ups_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    at_utc REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
"""

# The local reading network when no site config is given: the pools and routing of the
# reference site (server/orthanc/worklist.json) and one local user who reads and assigns.
_LOCAL_SITE: dict[str, Any] = {
    "SchemaVersion": 1,
    "WorklistLabel": "Local reading",
    "Pools": ["neuro", "chest", "body", "msk", "oncology"],
    "DefaultPool": "body",
    "Routing": [
        {"Pool": "oncology", "Modalities": ["PT", "NM"]},
        {"Pool": "oncology", "DescriptionWords": ["staging", "restaging", "oncology"]},
        {"Pool": "neuro", "BodyParts": ["HEAD", "BRAIN", "SKULL", "NECK", "CSPINE"]},
        {"Pool": "chest", "BodyParts": ["CHEST", "LUNG", "THORAX"]},
        {"Pool": "msk", "BodyParts": ["SHOULDER", "KNEE", "HIP", "ANKLE", "WRIST", "HAND"]},
    ],
    "Users": {
        LOCAL_USER: {
            "Role": "lead",
            "PerformerCode": "LOCAL",
            "Name": "Local^Reader",
            "Pools": ["neuro", "chest", "body", "msk", "oncology"],
        }
    },
}

# Attributes only a lead (ASSIGN) may change; attributes nobody changes by an update.
_ASSIGNMENT = frozenset(
    ups.ATTRIBUTES[k][0]
    for k in (
        "ScheduledHumanPerformersSequence",
        "ScheduledProcedureStepPriority",
        "ProcedureStepLabel",
        "ExpectedCompletionDateTime",
        "WorklistLabel",
    )
)
_IMMUTABLE = frozenset(
    ups.ATTRIBUTES[k][0] for k in ("SOPClassUID", "SOPInstanceUID", "ProcedureStepState")
)


def local_config() -> WorklistConfig:
    """The embedded worklist's reading network: five pools and the local user (a lead)."""
    return ups.load_worklist_config(_LOCAL_SITE, "embedded worklist")


def _tag(keyword: str) -> str:
    return ups.ATTRIBUTES[keyword][0]


class _Row:
    """One stored workitem: its columns and its dataset."""

    __slots__ = ("dataset", "holder", "performer", "pool", "state", "transaction_uid", "uid")

    def __init__(self, r: sqlite3.Row) -> None:
        self.uid: str = r["uid"]
        self.state = ProcedureStepState(r["state"])
        self.pool: str | None = r["pool"]
        self.performer: str | None = r["performer"]
        self.transaction_uid: str | None = r["transaction_uid"]
        self.holder: str | None = r["holder"]
        self.dataset: Dataset = json.loads(r["dataset"])


class EmbeddedWorklist(WorklistBackend):
    """The worklist in ``folder/worklist.sqlite`` as seen and changed by ``user``.

    ``user`` defaults to the config's local user; ``now`` gives the clock (tests pin it).
    """

    shared = False  # one workstation's own worklist

    def __init__(
        self,
        folder: str | os.PathLike[str],
        user: WorklistUser | str | None = None,
        config: WorklistConfig | None = None,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config or local_config()
        if user is None or isinstance(user, str):
            name = user or LOCAL_USER
            found = self.config.user(name)
            if found is None:
                raise PermissionDenied(f"user {name!r} has no role in the reading worklist")
            user = found
        self.user = user
        self._now = now
        self.path = Path(folder) / FILE_NAME
        self.server_key = "embedded:" + str(self.path.resolve())
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            make_private_db(self.path)  # work items name patients
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot keep the worklist in {self.path}: {exc}") from None
        self.claims = ClaimStore(self.path)

    @classmethod
    def for_archive(
        cls,
        archive: LocalArchive,
        user: WorklistUser | str | None = None,
        config: WorklistConfig | None = None,
    ) -> EmbeddedWorklist:
        """The worklist of a local store, with a workitem for each study not yet listed."""
        worklist = cls(archive.root, user, config)
        worklist.populate_from_archive(archive)
        return worklist

    # -- storage ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._local.conn = None
        super().close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the worklist file {self.path} is busy: {exc}") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _row(self, conn: sqlite3.Connection, uid: str) -> _Row | None:
        r = conn.execute("SELECT * FROM ups_workitems WHERE uid = ?", (uid,)).fetchone()
        return _Row(r) if r else None

    def _audit(
        self,
        conn: sqlite3.Connection,
        uid: str,
        action: str,
        old: Any,
        new: Any,
        who: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO ups_audit (uid, at_utc, user, action, old_value, new_value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                uid,
                time.time(),
                who or self.user.name,
                action,
                None if old is None else str(old),
                None if new is None else str(new),
            ),
        )

    def _store(self, conn: sqlite3.Connection, row: _Row, dataset: Dataset, **columns: Any) -> None:
        """Write a changed dataset (and columns) if the row is still as read."""
        dataset = dict(sorted(dataset.items()))
        index = ups.index_workitem(dataset)
        values = {
            "state": index.state.value,
            "priority_rank": ups.PRIORITY_RANK[index.priority],
            "pool": index.pool,
            "performer": index.performer,
            "due_utc": index.due_utc,
            "study_uid": index.study_instance_uid,
            "dataset": json.dumps(dataset, separators=(",", ":")),
            "updated_utc": time.time(),
            **columns,
        }
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = conn.execute(
            f"UPDATE ups_workitems SET {sets}, version = version + 1 WHERE uid = ? AND state = ?",
            [*values.values(), row.uid, row.state.value],
        )
        if cur.rowcount != 1:
            raise StoreError(f"workitem {row.uid} changed during the update; try again")

    def audit_trail(self, uid: str) -> list[tuple[str, str, str | None, str | None]]:
        """(user, action, old, new) of a workitem's changes, oldest first."""
        rows = self._conn().execute(
            "SELECT user, action, old_value, new_value FROM ups_audit WHERE uid = ? ORDER BY id",
            (uid,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- rules shared by the operations ----------------------------------------------------
    def _require(self, *permissions: Permission) -> None:
        if not any(self.user.may(p) for p in permissions):
            wanted = " or ".join(p.value for p in permissions)
            raise PermissionDenied(f"role {self.user.role.value} may not {wanted}")

    def _visible(self, row: _Row | None, uid: str) -> _Row:
        if row is None:
            raise UpsError.from_status(ups.NO_SUCH_UPS)
        if not self.user.can_see(row.performer, row.pool):
            raise PermissionDenied(f"workitem {uid} is not in {self.user.name}'s worklist")
        return row

    def _check_assignment(self, dataset: Mapping[str, Any]) -> None:
        pool = ups.first(dataset, "ProcedureStepLabel")
        if pool is not None and pool not in self.config.pools:
            raise UpsError.from_status(
                ups.INVALID_ATTRIBUTE_VALUE, f"Procedure Step Label {pool!r} is not a reading pool"
            )
        code = ups.performer_code(dataset)
        if code is not None:
            reader = self.config.user_by_code(code)
            if reader is None or not reader.may(Permission.CLAIM):
                raise UpsError.from_status(
                    ups.INVALID_ATTRIBUTE_VALUE, f"performer code {code!r} is not a reader"
                )

    def _due(self, dataset: Mapping[str, Any], priority: str) -> Dataset:
        start_text = ups.first(dataset, "ScheduledProcedureStepStartDateTime")
        start = ups.parse_dt(start_text) if start_text else self._now()
        due = ups.expected_completion(start, priority, self.config.turnaround_minutes)
        return ups.dataset_of(ExpectedCompletionDateTime=ups.format_dt(due))

    # -- the UPS operations ----------------------------------------------------------------
    def _search(
        self, flt: WorklistFilter, offset: int, limit: int | None, now: datetime
    ) -> SearchPage:
        self._require(Permission.VIEW_ALL, Permission.VIEW_OWN)
        where: list[str] = []
        args: list[Any] = []
        if flt.states:
            where.append(f"state IN ({','.join('?' * len(flt.states))})")
            args.extend(s.value for s in flt.states)
        if flt.pools is not None:
            where.append(f"pool IN ({','.join('?' * len(flt.pools))})")
            args.extend(flt.pools)
        if flt.performer is not None:
            where.append("performer = ?")
            args.append(flt.performer)
        if flt.unassigned:
            where.append("performer IS NULL")
        if flt.overdue_only:
            where.append("due_utc <= ?")
            args.append(now.timestamp())
        if not self.user.may(Permission.VIEW_ALL):
            pools = sorted(self.user.pools)
            marks = ",".join("?" * len(pools))
            where.append(f"(performer = ? OR (performer IS NULL AND pool IN ({marks})))")
            args.extend([self.user.performer_code or "", *pools])
        sql = "SELECT uid, dataset FROM ups_workitems"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY priority_rank, due_utc IS NULL, due_utc, uid"
        items = []
        for r in self._conn().execute(sql, args):
            item = WorkItem.from_dicom_json(json.loads(r["dataset"]))
            if flt.matches(item, now):
                items.append(item)
        end = len(items) if limit is None else offset + limit
        return SearchPage(tuple(items[offset:end]), offset, len(items) > end)

    def get_dataset(self, uid: str) -> Dataset:
        self._require(Permission.VIEW_ALL, Permission.VIEW_OWN)
        return self._visible(self._row(self._conn(), uid), uid).dataset

    def create(self, dataset: Mapping[str, Any]) -> str:
        """Create a SCHEDULED workitem with the defaults the plugin gives (PS3.4 CC.2.5)."""
        self._require(Permission.CREATE)
        return self._insert(dataset, None, self.user.name)

    def _insert(self, dataset: Mapping[str, Any], reading_study_uid: str | None, who: str) -> str:
        ds = dict(dataset)
        if ups.first(ds, "TransactionUID"):
            raise UpsError.from_status(
                ups.INVALID_ATTRIBUTE_VALUE, "a new workitem has no Transaction UID"
            )
        state = ups.first(ds, "ProcedureStepState")
        if state is not None and state != ProcedureStepState.SCHEDULED.value:
            raise UpsError.from_status(ups.NOT_SCHEDULED_AT_CREATE)
        uid = ups.first(ds, "SOPInstanceUID") or f"2.25.{uuid.uuid4().int}"
        if not ups.is_valid_uid(uid):
            raise UpsError.from_status(ups.INVALID_ATTRIBUTE_VALUE, "SOP Instance UID is not a UID")
        now = self._now()
        priority = ups.parse_priority(
            ups.first(ds, "ScheduledProcedureStepPriority") or self.config.default_priority.value
        ).value
        defaults = ups.dataset_of(
            SpecificCharacterSet="ISO_IR 192",
            SOPClassUID=ups.UPS_PUSH_SOP_CLASS_UID,
            SOPInstanceUID=uid,
            ProcedureStepState=ProcedureStepState.SCHEDULED.value,
            ScheduledProcedureStepPriority=priority,
            WorklistLabel=self.config.worklist_label,
            ProcedureStepLabel=self.config.default_pool,
            InputReadinessState="READY",
            ScheduledProcedureStepStartDateTime=ups.format_dt(now),
            ScheduledProcedureStepModificationDateTime=ups.format_dt(now),
        )
        for tag, elem in defaults.items():
            if not ds.get(tag, {}).get("Value"):
                ds[tag] = elem
        if not ds.get(_tag("ExpectedCompletionDateTime"), {}).get("Value"):
            ds.update(self._due(ds, priority))
        ds = dict(sorted(ds.items()))
        self._check_assignment(ds)
        index = ups.index_workitem(ds)
        stamp = time.time()
        with self._write() as conn:
            taken = conn.execute(
                "SELECT 1 FROM ups_workitems WHERE uid = ? OR (reading_study_uid IS NOT NULL "
                "AND reading_study_uid = ?)",
                (uid, reading_study_uid),
            ).fetchone()
            if taken:
                raise UpsError.from_status(ups.DUPLICATE_SOP_INSTANCE, f"workitem {uid} exists")
            conn.execute(
                "INSERT INTO ups_workitems (uid, state, priority_rank, pool, performer, due_utc,"
                " study_uid, reading_study_uid, dataset, created_utc, updated_utc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    index.state.value,
                    ups.PRIORITY_RANK[index.priority],
                    index.pool,
                    index.performer,
                    index.due_utc,
                    index.study_instance_uid,
                    reading_study_uid,
                    json.dumps(ds, separators=(",", ":")),
                    stamp,
                    stamp,
                ),
            )
            self._audit(conn, uid, "create", None, f"SCHEDULED {priority} {index.pool}", who)
            if index.performer:
                self._audit(conn, uid, "assign", None, index.performer, who)
        return str(uid)

    def update(
        self, uid: str, changes: Mapping[str, Any], transaction_uid: str | None = None
    ) -> None:
        self._require(Permission.ASSIGN, Permission.PERFORM)
        body = dict(changes)
        body.pop(_tag("TransactionUID"), None)
        if not body:
            raise UpsError.from_status(ups.MISSING_ATTRIBUTE, "nothing to update")
        if transaction_uid is None:
            held = self.held_claim(uid)
            transaction_uid = held.transaction_uid if held else None
        with self._write() as conn:
            row = self._visible(self._row(conn, uid), uid)
            ups.check_update(row.state, transaction_uid, row.transaction_uid)
            for tag in _IMMUTABLE & set(body):
                if body[tag].get("Value") != row.dataset.get(tag, {}).get("Value"):
                    raise UpsError.from_status(
                        ups.INVALID_ATTRIBUTE_VALUE, f"{ups.KEYWORD_BY_TAG[tag]} cannot be updated"
                    )
            if row.state is ProcedureStepState.SCHEDULED and not self.user.may(Permission.ASSIGN):
                raise PermissionDenied(
                    f"role {self.user.role.value} may not change a scheduled workitem"
                )
            if row.state is ProcedureStepState.IN_PROGRESS:
                if row.holder != self.user.name:
                    raise PermissionDenied(f"workitem {uid} is held by another reader")
                if _ASSIGNMENT & set(body) and not self.user.may(Permission.ASSIGN):
                    raise PermissionDenied(
                        f"role {self.user.role.value} may not change assignment, priority, "
                        "pool or due time"
                    )
            new = dict(row.dataset)
            new.update(body)
            prio = _tag("ScheduledProcedureStepPriority")
            if prio in body and _tag("ExpectedCompletionDateTime") not in body:
                new.update(self._due(new, ups.parse_priority(ups.first(new, prio)).value))
            if row.state is ProcedureStepState.SCHEDULED:
                new.update(
                    ups.dataset_of(
                        ScheduledProcedureStepModificationDateTime=ups.format_dt(self._now())
                    )
                )
            self._check_assignment(new)
            performer = ups.performer_code(new)
            if performer != row.performer:
                self._audit(conn, uid, "assign", row.performer, performer)
            names = ",".join(sorted(ups.KEYWORD_BY_TAG.get(t, t) for t in body))
            self._audit(conn, uid, "update", None, names)
            self._store(conn, row, new)

    def change_state(
        self,
        uid: str,
        state: ProcedureStepState,
        transaction_uid: str,
        extra: Mapping[str, Any] | None = None,
    ) -> UpsStatus | None:
        if state is ProcedureStepState.IN_PROGRESS:
            self._require(Permission.CLAIM)
        else:
            self._require(Permission.PERFORM, Permission.CLAIM)
        user = self.user
        with self._write() as conn:
            row = self._row(conn, uid)
            if row is None:
                raise UpsError.from_status(ups.NO_SUCH_UPS)
            if state is ProcedureStepState.IN_PROGRESS:
                if not (user.may_claim_in(row.pool) or user.can_see(row.performer, row.pool)):
                    raise PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
                if (
                    row.state is ProcedureStepState.SCHEDULED
                    and row.performer
                    and row.performer != user.performer_code
                ):
                    raise PermissionDenied(f"workitem {uid} is assigned to another reader")
            else:
                self._visible(row, uid)
                if (
                    state.is_final
                    and row.state is ProcedureStepState.IN_PROGRESS
                    and row.holder != user.name
                ):
                    raise PermissionDenied(f"workitem {uid} is held by another reader")
            transition = ups.change_state(row.state, state, transaction_uid, row.transaction_uid)
            if not transition.changed:
                return transition.warning
            new = dict(row.dataset)
            new.update(ups.dataset_of(ProcedureStepState=state.value))
            now = self._now()
            columns: dict[str, Any] = {}
            if state is ProcedureStepState.IN_PROGRESS:
                columns = {
                    "transaction_uid": transaction_uid,
                    "holder": user.name,
                    "claimed_utc": now.timestamp(),
                }
                if not row.performer:
                    reader = Reader.of_user(user, self.config.performer_scheme)
                    new.update(
                        ups.dataset_of(ScheduledHumanPerformersSequence=[reader.performer_item()])
                    )
                    self._audit(conn, uid, "assign", None, user.performer_code)
                self._audit(conn, uid, "claim", row.state.value, state.value)
            elif state is ProcedureStepState.COMPLETED:
                new.update(self._performed(row, now))
                self._audit(conn, uid, "complete", row.state.value, state.value)
            else:
                new.update(_progress_canceled(row.dataset, extra or {}, now))
                self._audit(conn, uid, "discontinue", row.state.value, state.value)
            self._store(conn, row, new, **columns)
        return transition.warning

    def _performed(self, row: _Row, now: datetime) -> Dataset:
        """Unified Procedure Step Performed Procedure Sequence for COMPLETED (CC.2.5-3)."""
        claimed = (
            self._conn()
            .execute("SELECT claimed_utc FROM ups_workitems WHERE uid = ?", (row.uid,))
            .fetchone()[0]
        )
        holder = self.config.user(row.holder)
        start = datetime.fromtimestamp(claimed, UTC) if claimed else now
        item = ups.dataset_of(
            ActualHumanPerformersSequence=[
                Reader.of_user(holder, self.config.performer_scheme).performer_item()
            ]
            if holder
            else [],
            PerformedProcedureStepStartDateTime=ups.format_dt(start),
            PerformedProcedureStepEndDateTime=ups.format_dt(now),
            PerformedWorkitemCodeSequence=ups.items(row.dataset, "ScheduledWorkitemCodeSequence"),
            OutputInformationSequence=[],
        )
        return ups.dataset_of(UnifiedProcedureStepPerformedProcedureSequence=[item])

    def request_cancel(self, uid: str, reason: str = "") -> UpsStatus | None:
        self._require(Permission.CANCEL)
        with self._write() as conn:
            row = self._row(conn, uid)
            if row is None:
                raise UpsError.from_status(ups.NO_SUCH_UPS)
            transition = ups.request_cancel(
                row.state, performer_reachable=self.config.lead_cancels_in_progress
            )
            if not transition.changed:
                return transition.warning
            new = dict(row.dataset)
            new.update(ups.dataset_of(ProcedureStepState=ProcedureStepState.CANCELED.value))
            body = ups.dataset_of(ReasonForCancellation=reason or None)
            new.update(_progress_canceled(row.dataset, body, self._now()))
            self._audit(conn, uid, "cancel", row.state.value, ProcedureStepState.CANCELED.value)
            self._store(conn, row, new)
        return transition.warning

    def readers(self) -> list[Reader]:
        return readers_of(self.config)

    def pools(self) -> list[str]:
        return list(self.config.pools)

    # -- the local store's studies ---------------------------------------------------------
    def populate_from_archive(self, archive: LocalArchive, now: datetime | None = None) -> int:
        """Create the reading workitem of every local study that has none; returns how many.

        Runs as the worklist's own service (no role check, audited as "system"), as the
        archive's plugin does for a stable study: the local store's studies are its work.
        """
        moment = now or self._now()
        have = {
            r[0]
            for r in self._conn().execute(
                "SELECT reading_study_uid FROM ups_workitems WHERE reading_study_uid IS NOT NULL"
            )
        }
        created = 0
        for study in archive.studies():
            if study.study_instance_uid in have:
                continue
            series = []
            for s in archive.series(study.study_instance_uid):
                refs = tuple(
                    (i.sop_class_uid, i.sop_instance_uid)
                    for i in archive.instances(s.series_instance_uid)
                )
                series.append(
                    ups.SeriesFacts(
                        series_instance_uid=s.series_instance_uid,
                        modality=s.modality,
                        body_part_examined=s.body_part_examined or study.body_part_examined,
                        instances=refs,
                    )
                )
            facts = ups.StudyFacts(
                study_instance_uid=study.study_instance_uid,
                accession_number=study.accession_number,
                patient_name=study.patient.patient_name,
                patient_id=study.patient.patient_id,
                issuer_of_patient_id=study.patient.issuer_of_patient_id,
                patient_birth_date=study.patient.birth_date,
                patient_sex=study.patient.sex,
                institution_name=study.institution_name,
                study_description=study.study_description,
                requested_procedure_priority=study.requested_priority,
                series=tuple(series),
                study_date=study.study_date,
                study_time=study.study_time,
                referring_physician_name=study.referring_physician_name,
            )
            # The same reading workitem, study summary included, as the archive's plugin makes.
            dataset = ups.build_reading_workitem(facts, self.config, now=moment)
            if dataset is None:
                continue  # only reports, key images or presentation states
            try:
                self._insert(dataset, study.study_instance_uid, "system")
            except UpsError:
                continue  # another window made it at the same moment
            created += 1
        if created:
            log.info("embedded worklist: %d reading workitems created", created)
        return created


def _progress_canceled(
    dataset: Mapping[str, Any], source: Mapping[str, Any], now: datetime
) -> Dataset:
    """Procedure Step Progress Information with cancellation time and reason (PS3.4 CC.2.4)."""
    seq = ups.items(dataset, "ProcedureStepProgressInformationSequence")
    item = dict(seq[0]) if seq else {}
    item.update(ups.dataset_of(ProcedureStepCancellationDateTime=ups.format_dt(now)))
    for keyword in ("ReasonForCancellation", "ProcedureStepDiscontinuationReasonCodeSequence"):
        tag = _tag(keyword)
        if tag in source:
            item[tag] = source[tag]
    return ups.dataset_of(ProcedureStepProgressInformationSequence=[dict(sorted(item.items()))])
