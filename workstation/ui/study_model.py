"""The study list as a Qt table model: local studies merged with an archive's search results.

Rows are keyed by Study Instance UID; a study both in the local store and in the archive's
answer is one row. The "Cache" column says how much of it the local store holds (local only,
stored but not yet compared with the archive, not retrieved, partial n/N, retrieving p %,
complete, or the retrieval's error). Progress changes one cell (``dataChanged``), never the
whole model, so 10,000 rows stay smooth.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, Qt
from PySide6.QtGui import QColor

from workstation.archive.index import search_key
from workstation.archive.local import LocalArchive
from workstation.core.errors import NotFoundError
from workstation.core.model import Study, format_da, format_person_name, format_tm


def _tr(text: str) -> str:
    return QCoreApplication.translate("StudyTableModel", text)


class CacheKind(enum.Enum):
    """How much of a study the local store holds, in the order the Cache column sorts."""

    RETRIEVING = 0
    ERROR = 1
    PARTIAL = 2
    NOT_RETRIEVED = 3
    COMPLETE = 4
    LOCAL = 5  # the archive does not hold it, or there is no archive
    STORED = 6  # in the store; the archive's count of it is not known (yet)


@dataclass(frozen=True, slots=True)
class CacheState:
    """One study's cache state; ``received``/``expected`` count instances (PS3.4 C.3.3)."""

    kind: CacheKind
    received: int = 0
    expected: int = 0
    error: str = ""
    retrying: bool = False

    @property
    def percent(self) -> int:
        """Whole percent received, never 100 before every instance is there."""
        if self.expected <= 0:
            return 0
        p = 100 * self.received // self.expected
        return 99 if p >= 100 and self.kind is not CacheKind.COMPLETE else p

    def text(self) -> str:
        k = self.kind
        if k is CacheKind.LOCAL:
            return _tr("Local only")
        if k is CacheKind.STORED:
            return _tr("Stored")
        if k is CacheKind.NOT_RETRIEVED:
            return _tr("Not retrieved")
        if k is CacheKind.PARTIAL:
            return _tr("Partial") + f" ({self.received}/{self.expected})"
        if k is CacheKind.RETRIEVING:
            return _tr("Retrieving") + f" ({self.percent}%)"
        if k is CacheKind.COMPLETE:
            return _tr("Complete")
        head = _tr("Retrying") if self.retrying else _tr("Failed")
        return f"{head}: {self.error}" if self.error else head


LOCAL_ONLY = CacheState(CacheKind.LOCAL)
STORED = CacheState(CacheKind.STORED)


def cache_state_of(
    local: Study | None, remote: Study | None, *, unknown: CacheState = LOCAL_ONLY
) -> CacheState:
    """The state from counts alone (no retrieval running): the local store's instances against
    the archive's NumberOfStudyRelatedInstances (PS3.4 C.6.2.1.2). ``unknown``: the state of a
    stored study the archive has said nothing about."""
    if remote is None:
        return unknown
    expected = remote.number_of_instances
    have = local.number_of_instances if local is not None else 0
    if have <= 0:
        return CacheState(CacheKind.NOT_RETRIEVED, 0, expected)
    if have < expected:
        return CacheState(CacheKind.PARTIAL, have, expected)
    return CacheState(CacheKind.COMPLETE, have, max(have, expected))


# (header, value for display, sort key)
_COLUMNS: list[tuple[str, Callable[[Study], str], Callable[[Study], Any]]] = [
    (
        "Patient name",
        lambda s: format_person_name(s.patient.patient_name),
        lambda s: format_person_name(s.patient.patient_name).casefold(),
    ),
    ("Patient ID", lambda s: s.patient.patient_id, lambda s: s.patient.patient_id),
    ("Birth date", lambda s: format_da(s.patient.birth_date), lambda s: s.patient.birth_date),
    ("Sex", lambda s: s.patient.sex, lambda s: s.patient.sex),
    ("Accession", lambda s: s.accession_number, lambda s: s.accession_number),
    (
        "Study date",
        lambda s: f"{format_da(s.study_date)} {format_tm(s.study_time)}".strip(),
        lambda s: (s.study_date, s.study_time),
    ),
    ("Modality", lambda s: "/".join(s.modalities), lambda s: "/".join(s.modalities)),
    ("Description", lambda s: s.study_description, lambda s: s.study_description.casefold()),
    ("Body part", lambda s: s.body_part_examined, lambda s: s.body_part_examined),
    ("Institution", lambda s: s.institution_name, lambda s: s.institution_name.casefold()),
    (
        "Referring physician",
        lambda s: format_person_name(s.referring_physician_name),
        lambda s: s.referring_physician_name,
    ),
    ("Priority", lambda s: s.requested_priority, lambda s: s.requested_priority),
    ("Series", lambda s: str(s.number_of_series), lambda s: s.number_of_series),
    ("Images", lambda s: str(s.number_of_instances), lambda s: s.number_of_instances),
]
COLUMN_PATIENT_NAME = 0
_NUMERIC = {len(_COLUMNS) - 2, len(_COLUMNS) - 1}
COLUMN_CACHE = len(_COLUMNS)  # after the study's own columns, so their numbers stay
_ERROR_COLOUR = QColor("#e06c75")
_COMPLETE_COLOUR = QColor("#7fbf7f")


class _Row:
    """One study of the list: what the store holds, what the archive answered, and the state."""

    __slots__ = ("local", "remote", "state", "study", "uid")

    def __init__(
        self, uid: str, local: Study | None, remote: Study | None, state: CacheState
    ) -> None:
        self.uid = uid
        self.local = local
        self.remote = remote
        self.study = _shown(local, remote)
        self.state = state


def _shown(local: Study | None, remote: Study | None) -> Study:
    """What a row shows: the local study's attributes, the archive's counts when it has more."""
    if local is None:
        assert remote is not None
        return remote
    if remote is None:
        return local
    return dataclasses.replace(
        local,
        number_of_series=max(local.number_of_series, remote.number_of_series),
        number_of_instances=max(local.number_of_instances, remote.number_of_instances),
    )


def _matches(study: Study, words: list[str]) -> bool:
    text = search_key(study.patient.patient_name, study.patient.patient_id, study.accession_number)
    return all(w in text for w in words)


class StudyTableModel(QAbstractTableModel):
    """Rows are studies, local and remote merged by UID; ``set_search`` filters both by name,
    patient ID and accession."""

    def __init__(self, archive: LocalArchive, parent: Any = None) -> None:
        super().__init__(parent)
        self.archive = archive
        self._rows: list[_Row] = []
        self._row_index: dict[str, int] = {}
        self._remote: dict[str, Study] = {}  # the archive's answer, in its order
        self._overrides: dict[str, CacheState] = {}  # states of retrievals in progress
        # The archive's latest record of stored studies (a search, or asking for them by UID),
        # and the stored studies it said it does not hold. With an archive attached, a stored
        # study in neither is STORED (not compared yet), not "Local only".
        self._known: dict[str, Study] = {}
        self._absent: set[str] = set()
        self.compares_with_archive = False
        self._search = ""
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self.refresh()

    # -- content ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the local studies again and merge the archive's last answer (one reset)."""
        self.beginResetModel()
        local = self.archive.studies(self._search)
        words = [w for w in search_key(self._search).split() if w]
        rows: list[_Row] = []
        seen: set[str] = set()
        for s in local:
            uid = s.study_instance_uid
            seen.add(uid)
            rows.append(self._make_row(uid, s, self._archive_record(uid)))
        for uid, remote in self._remote.items():
            if uid not in seen and _matches(remote, words):
                rows.append(self._make_row(uid, None, remote))
        self._rows = rows
        if self._sort is not None:
            self._apply_sort(*self._sort)
        self._reindex()
        self.endResetModel()

    def _make_row(self, uid: str, local: Study | None, remote: Study | None) -> _Row:
        return _Row(uid, local, remote, self._state(uid, local, remote))

    def _archive_record(self, uid: str) -> Study | None:
        return self._remote.get(uid) or self._known.get(uid)

    def _state(self, uid: str, local: Study | None, remote: Study | None) -> CacheState:
        override = self._overrides.get(uid)
        if override is not None:
            return override
        unknown = LOCAL_ONLY
        if self.compares_with_archive and uid not in self._absent:
            unknown = STORED
        return cache_state_of(local, remote, unknown=unknown)

    def set_search(self, text: str) -> None:
        self._search = text
        self.refresh()

    def set_remote_results(self, studies: Iterable[Study], *, append: bool = False) -> None:
        """The archive's search answer (QIDO-RS); ``append`` adds a further page to the last."""
        if not append:
            self._remote = {}
        for s in studies:
            if s.study_instance_uid:
                self._remote[s.study_instance_uid] = s
                self._held(s)
        self.refresh()

    def _held(self, s: Study) -> None:
        """The archive holds ``s``: this is its latest record of it."""
        self._known[s.study_instance_uid] = s
        self._absent.discard(s.study_instance_uid)

    def uncompared(self) -> list[str]:
        """The listed stored studies the archive has said nothing about yet."""
        return [
            r.uid
            for r in self._rows
            if r.local is not None
            and r.uid not in self._absent
            and self._archive_record(r.uid) is None
        ]

    def set_archive_records(self, asked: Iterable[str], found: Iterable[Study]) -> None:
        """The archive's answer about stored studies asked for by UID: ``found`` are its
        records of those it holds; the rest of ``asked`` it does not hold. Their rows change
        in place (no reset: the selection and scroll position stay)."""
        found_uids: set[str] = set()
        for s in found:
            found_uids.add(s.study_instance_uid)
            self._held(s)
        for uid in asked:
            if uid not in found_uids:
                self._absent.add(uid)
                self._known.pop(uid, None)
            row = self._row_index.get(uid)
            if row is not None:
                self._rows[row].remote = self._archive_record(uid)
                self._row_changed(row)

    def clear_remote_results(self) -> None:
        self._remote = {}
        self.refresh()

    def remote_study(self, study_instance_uid: str) -> Study | None:
        """The archive's description of a study from the last search, if it was in it."""
        return self._remote.get(study_instance_uid)

    def set_cache_state(self, study_instance_uid: str, state: CacheState | None) -> None:
        """A retrieval's state for a study (None: back to what the counts say); one cell."""
        if state is None:
            self._overrides.pop(study_instance_uid, None)
        else:
            self._overrides[study_instance_uid] = state
        row = self._row_index.get(study_instance_uid)
        if row is None:
            return
        r = self._rows[row]
        new = self._state(study_instance_uid, r.local, r.remote)
        if new != r.state:
            r.state = new
            cell = self.index(row, COLUMN_CACHE)
            self.dataChanged.emit(cell, cell)

    def add_study(self, study_instance_uid: str) -> int:
        """A row for a study that reached the store while the list did not show it (opened
        from elsewhere); appended, unsorted. Returns its row, -1 when the search excludes it."""
        row = self._row_index.get(study_instance_uid)
        if row is not None:
            return row
        try:
            local: Study | None = self.archive.study(study_instance_uid)
        except NotFoundError:
            local = None
        remote = self._archive_record(study_instance_uid)
        shown = local or remote
        if shown is None or not _matches(shown, search_key(self._search).split()):
            return -1
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(self._make_row(study_instance_uid, local, remote))
        self._row_index[study_instance_uid] = row
        self.endInsertRows()
        return row

    def update_local(self, study_instance_uid: str) -> None:
        """The store's copy of one study changed (instances arrived): update its row only."""
        row = self._row_index.get(study_instance_uid)
        if row is None:
            return
        try:
            local: Study | None = self.archive.study(study_instance_uid)
        except NotFoundError:
            local = None
        self._rows[row].local = local
        self._row_changed(row)

    def _row_changed(self, row: int) -> None:
        """A row's study and state again from its local copy and archive record; one signal."""
        r = self._rows[row]
        if r.local is not None or r.remote is not None:
            r.study = _shown(r.local, r.remote)
        r.state = self._state(r.uid, r.local, r.remote)
        self.dataChanged.emit(self.index(row, 0), self.index(row, COLUMN_CACHE))

    # -- queries ---------------------------------------------------------------------------
    def study_at(self, row: int) -> Study:
        return self._rows[row].study

    def cache_state(self, study_instance_uid: str) -> CacheState | None:
        row = self._row_index.get(study_instance_uid)
        return self._rows[row].state if row is not None else None

    def is_local(self, study_instance_uid: str) -> bool:
        """Whether the local store holds any of the study (as the list last read it)."""
        row = self._row_index.get(study_instance_uid)
        return row is not None and self._rows[row].local is not None

    def row_of(self, study_instance_uid: str) -> int:
        return self._row_index.get(study_instance_uid, -1)

    # -- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS) + 1

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if column == COLUMN_CACHE:
            state = row.state
            if role == Qt.ItemDataRole.DisplayRole:
                return state.text()
            if role == Qt.ItemDataRole.ToolTipRole:
                if state.error:
                    return state.error
                if state.kind is CacheKind.STORED:
                    return _tr("In the local store; not compared with the archive yet")
                if state.kind is CacheKind.LOCAL and self.compares_with_archive:
                    return _tr("The archive does not hold this study")
                return None
            if role == Qt.ItemDataRole.ForegroundRole:
                if state.kind is CacheKind.ERROR:
                    return _ERROR_COLOUR
                if state.kind is CacheKind.COMPLETE:
                    return _COMPLETE_COLOUR
            if role == Qt.ItemDataRole.UserRole:
                return row.uid
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[column][1](row.study)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row.uid
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if section == COLUMN_CACHE:
                return _tr("Cache")
            return _tr(_COLUMNS[section][0])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._apply_sort(column, order)
        self._reindex()
        self.layoutChanged.emit()

    def _apply_sort(self, column: int, order: Qt.SortOrder) -> None:
        reverse = order == Qt.SortOrder.DescendingOrder
        if column == COLUMN_CACHE:
            self._rows.sort(key=lambda r: (r.state.kind.value, r.state.percent), reverse=reverse)
            return
        key = _COLUMNS[column][2]
        self._rows.sort(key=lambda r: key(r.study), reverse=reverse)

    def _reindex(self) -> None:
        self._row_index = {r.uid: i for i, r in enumerate(self._rows)}
