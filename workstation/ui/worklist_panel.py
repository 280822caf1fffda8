"""The reading worklist panel: a diff-updated table of work items, filters, and the lead view.

``WorklistPanel(backend, archive)`` is a self-contained widget over any worklist backend (the
UPS-RS client or the embedded one). Every backend call runs on one worker thread; results come
back to the UI thread as signals. The panel emits ``open_study_requested(study_uid, read_only)``
when a reader opens an item: it claims the item first (SCHEDULED -> IN PROGRESS, PS3.4 CC.2.4),
and if someone else holds it, says who and asks for a read-only opening.

Refresh polls at a configurable period and updates the table model by difference (rows removed,
moved with persistent indexes, inserted, changed), never by a reset, so the selection and the
scroll position survive and 10,000 rows stay smooth.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import NotFoundError, WorkstationError
from workstation.core.model import Study, format_da, format_person_name
from workstation.core.ups import Permission, ProcedureStepState, UpsPriority
from workstation.worklist.backend import ClaimConflict, StudyReading, WorklistBackend
from workstation.worklist.model import (
    SavedFilters,
    WorkItem,
    WorklistFilter,
    builtin_filters,
    format_time_left,
    hospital_filters,
    next_to_read,
    queue_counts,
    utc_now,
    worklist_order,
)

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive

log = logging.getLogger(__name__)

# Colours on the dark reading-room theme: (background, text).
PRIORITY_COLORS: dict[UpsPriority, tuple[str, str]] = {
    UpsPriority.HIGH: ("#b71c1c", "#ffffff"),
    UpsPriority.MEDIUM: ("#8a5a00", "#ffffff"),
}
OVERDUE_COLORS = ("#d32f2f", "#ffffff")
DUE_SOON_COLORS = ("#ffb300", "#000000")
CACHE_COMPLETE, CACHE_PARTIAL, CACHE_NONE, CACHE_UNKNOWN = "complete", "partial", "none", "?"
READ_NEXT_TRIES = 5  # items "Read next" tries to claim before it gives up (others took them)


def _tr(text: str) -> str:
    return QCoreApplication.translate("WorklistPanel", text)


def cache_label(state: str) -> str:
    """A :func:`cache_state` as the local-copy column shows it, in the interface language."""
    if state == CACHE_COMPLETE:
        return QCoreApplication.translate("WorklistPanel", "complete", "local copy")
    if state == CACHE_PARTIAL:
        return QCoreApplication.translate("WorklistPanel", "partial", "local copy")
    if state == CACHE_NONE:
        return QCoreApplication.translate("WorklistPanel", "none", "local copy")
    return state


def _refusal_text(error: WorkstationError) -> str:
    """Why a claim was refused, for a study that is then shown read-only."""
    if isinstance(error, ClaimConflict):
        who = _reader_label(error.holder or _tr("another reader"))
        return (
            _tr("This study is assigned to %1: opened read-only")
            if error.assigned
            else _tr("This study is being read by %1: opened read-only")
        ).replace("%1", who)
    return _tr("Not claimed (%1): opened read-only").replace("%1", str(error))


def state_label(state: ProcedureStepState) -> str:
    """A work item's state as the State column shows it, in the interface language (the
    DICOM term, PS3.4 CC.1.1, in the tooltip)."""
    labels = {
        ProcedureStepState.SCHEDULED: QCoreApplication.translate(
            "WorklistPanel", "Scheduled", "work item state"
        ),
        ProcedureStepState.IN_PROGRESS: QCoreApplication.translate(
            "WorklistPanel", "In progress", "work item state"
        ),
        ProcedureStepState.COMPLETED: QCoreApplication.translate(
            "WorklistPanel", "Completed", "work item state"
        ),
        ProcedureStepState.CANCELED: QCoreApplication.translate(
            "WorklistPanel", "Canceled", "work item state"
        ),
    }
    return labels.get(state, state.value)


def _separator() -> str:
    """ ", " between the parts of a status line ("، " in Arabic)."""
    return QCoreApplication.translate("WorklistPanel", ", ", "list separator")


@dataclass(frozen=True, slots=True)
class LocalStudy:
    """What the local store holds of a study: instance count, modalities, body part."""

    instances: int
    modalities: str = ""
    body_part: str = ""

    @classmethod
    def of(cls, study: Study) -> LocalStudy:
        return cls(study.number_of_instances, "/".join(study.modalities), study.body_part_examined)


def local_studies(archive: LocalArchive) -> dict[str, LocalStudy]:
    """One query over the local store: each study's instance count, modalities, body part."""
    return {s.study_instance_uid: LocalStudy.of(s) for s in archive.studies()}


def cache_state(item: WorkItem, local: LocalStudy | None) -> str:
    """complete / partial / none: the local copy against the workitem's image count.

    Without an expected count a local copy is never called complete (DESIGN.md: a partial
    study must not pass for a complete one).
    """
    if local is None or local.instances == 0:
        return CACHE_NONE
    if item.number_of_images is None:
        return CACHE_UNKNOWN
    return CACHE_COMPLETE if local.instances >= item.number_of_images else CACHE_PARTIAL


# -- the table model ---------------------------------------------------------------------------

COLUMNS: tuple[tuple[str, str], ...] = (
    ("priority", "Priority"),
    ("left", "Time left"),
    ("hospital", "Hospital"),
    ("modality", "Modality"),
    ("body_part", "Body part"),
    ("patient", "Patient"),
    ("accession", "Accession"),
    ("study_date", "Study date"),
    ("images", "Images"),
    ("reader", "Assigned reader"),
    ("state", "State"),
    ("cache", "Local copy"),
)
COLUMN = {key: n for n, (key, _title) in enumerate(COLUMNS)}
_WIDTHS = {
    "priority": 84,
    "left": 110,  # "overdue 1d 23h"
    "hospital": 160,
    "patient": 180,
    "accession": 110,
    "reader": 130,
    "state": 110,
    "study_date": 100,
}
UID_ROLE = Qt.ItemDataRole.UserRole
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
_ROLES = frozenset(
    int(r)
    for r in (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.BackgroundRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.FontRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.ToolTipRole,
        UID_ROLE,
        ITEM_ROLE,
    )
)


@dataclass(frozen=True, slots=True)
class UpdateStats:
    """What a model update did: rows removed, moved, inserted and changed."""

    removed: int = 0
    moved: int = 0
    inserted: int = 0
    changed: int = 0


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending rows as (first, last) runs of consecutive numbers."""
    out: list[tuple[int, int]] = []
    for row in rows:
        if out and row == out[-1][1] + 1:
            out[-1] = (out[-1][0], row)
        else:
            out.append((row, row))
    return out


class WorklistTableModel(QAbstractTableModel):
    """Rows are work items in worklist order; :meth:`set_items` updates by difference."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        due_soon_minutes: float = 30.0,
        now: Callable[[], datetime] = utc_now,
        me: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._items: list[WorkItem] = []
        self._rows: dict[str, int] = {}
        self._local: dict[str, LocalStudy] = {}
        self.due_soon_s = due_soon_minutes * 60.0
        self._clock = now
        self.now = now()
        self.me = me  # the user's performer code: their IN PROGRESS rows are bold
        self._bold = QFont()
        self._bold.setBold(True)

    # -- updating --------------------------------------------------------------------------
    def set_items(
        self,
        items: Sequence[WorkItem],
        local: Mapping[str, LocalStudy] | None = None,
        now: datetime | None = None,
    ) -> UpdateStats:
        """Show ``items`` (any order; shown in worklist order) with as few changes as possible.

        Removed rows go in runs, reordered rows move with their persistent indexes (so the
        selection follows them), new rows come in runs, changed rows emit dataChanged; the
        time-left column is refreshed in one signal, since the clock moved.
        """
        self.now = now or self._clock()
        new = worklist_order(items)
        wanted = {i.uid: i for i in new}
        stats_removed = stats_moved = stats_inserted = stats_changed = 0
        root = QModelIndex()

        # 1. removals, bottom up so row numbers stay valid
        gone = [r for r, it in enumerate(self._items) if it.uid not in wanted]
        for first, last in reversed(_runs(gone)):
            self.beginRemoveRows(root, first, last)
            del self._items[first : last + 1]
            self.endRemoveRows()
            stats_removed += last - first + 1

        # 2. reorder the kept rows into the new order (a layout change keeps persistence)
        kept_now = [it.uid for it in self._items]
        kept = set(kept_now)
        target = [u for u in wanted if u in kept]
        if kept_now != target:
            self.layoutAboutToBeChanged.emit()
            position = {u: r for r, u in enumerate(target)}
            old_items = {it.uid: it for it in self._items}
            self._items = [old_items[u] for u in target]
            stats_moved = sum(1 for r, u in enumerate(kept_now) if position[u] != r)
            old_list = self.persistentIndexList()
            new_list = [
                self.index(position[kept_now[ix.row()]], ix.column())
                if 0 <= ix.row() < len(kept_now)
                else QModelIndex()
                for ix in old_list
            ]
            self.changePersistentIndexList(old_list, new_list)
            self.layoutChanged.emit()

        # 3. insertions in runs, walking the new order
        i = 0
        while i < len(new):
            if new[i].uid in kept:
                i += 1
                continue
            j = i
            while j < len(new) and new[j].uid not in kept:
                j += 1
            self.beginInsertRows(root, i, j - 1)
            self._items[i:i] = new[i:j]
            self.endInsertRows()
            stats_inserted += j - i
            i = j

        # 4. changed rows
        changed = []
        for r, item in enumerate(new):
            old = self._items[r]
            if old is not item:
                if old.fingerprint != item.fingerprint:
                    changed.append(r)
                self._items[r] = item
        last_col = len(COLUMNS) - 1
        for first, last in _runs(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))
        stats_changed = len(changed)
        self._rows = {it.uid: r for r, it in enumerate(self._items)}

        local_changed = local is not None and local != self._local
        if local is not None:
            self._local = dict(local)
        if self._items:
            n = len(self._items) - 1
            col = COLUMN["left"]
            self.dataChanged.emit(self.index(0, col), self.index(n, col))
            if local_changed:
                for key in ("cache", "modality", "body_part"):
                    col = COLUMN[key]
                    self.dataChanged.emit(self.index(0, col), self.index(n, col))
        return UpdateStats(stats_removed, stats_moved, stats_inserted, stats_changed)

    # -- reading ---------------------------------------------------------------------------
    def items(self) -> list[WorkItem]:
        return list(self._items)

    def item_at(self, row: int) -> WorkItem:
        return self._items[row]

    def row_of(self, uid: str) -> int | None:
        return self._rows.get(uid)

    def local_of(self, item: WorkItem) -> LocalStudy | None:
        return self._local.get(item.study_instance_uid)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _tr(COLUMNS[section][1])
        return None

    def text(self, item: WorkItem, key: str) -> str:
        """The text a column shows for an item."""
        local = self._local.get(item.study_instance_uid)
        if key == "priority":
            return item.priority.value
        if key == "left":
            return format_time_left(item.time_left(self.now)) if item.is_open else ""
        if key == "hospital":
            return item.hospital
        if key == "modality":
            return item.modality or (local.modalities if local else "")
        if key == "body_part":
            return item.body_part or (local.body_part if local else "")
        if key == "patient":
            return format_person_name(item.patient_name)
        if key == "accession":
            return item.accession_number
        if key == "study_date":
            return format_da(item.study_date)
        if key == "images":
            return "" if item.number_of_images is None else str(item.number_of_images)
        if key == "reader":
            return _reader_label(item.assigned_to)
        if key == "state":
            return state_label(item.state)
        if key == "cache":
            return cache_label(cache_state(item, local))
        return ""

    def colors(self, item: WorkItem, key: str) -> tuple[str, str] | None:
        """(background, text) colours of a cell, None for the theme's."""
        if key == "priority":
            return PRIORITY_COLORS.get(item.priority)
        if key == "left" and item.is_open and item.due is not None:
            left = (item.due - self.now).total_seconds()
            if left <= 0:
                return OVERDUE_COLORS
            if left <= self.due_soon_s:
                return DUE_SOON_COLORS
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        # A view asks ~10 roles per visible cell on every repaint: answer the rest at once.
        if role not in _ROLES or not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(item, key)
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            pair = self.colors(item, key)
            if pair is None:
                return None
            return QBrush(QColor(pair[0 if role == Qt.ItemDataRole.BackgroundRole else 1]))
        if role == Qt.ItemDataRole.FontRole:
            if (
                item.state is ProcedureStepState.IN_PROGRESS
                and self.me
                and item.performer_code == self.me
            ):
                return self._bold
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and key in ("images", "left"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "left" and item.due is not None:
                due = item.due.astimezone().strftime("%Y-%m-%d %H:%M")
                return _tr("Due %1").replace("%1", due)
            if key == "patient":
                return item.patient_id
            if key == "hospital":
                return item.hospital_code
            if key == "state":
                return item.state.value  # the DICOM term (PS3.4 CC.1.1)
            return None
        if role == UID_ROLE:
            return item.uid
        if role == ITEM_ROLE:
            return item
        return None


# -- the worker thread -------------------------------------------------------------------------


class _Worker(QObject):
    """Runs backend calls one after the other on its own thread."""

    done = Signal(int, object, object)  # job id, result, error (WorkstationError | None)

    @Slot(int, object)
    def run(self, job_id: int, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except WorkstationError as exc:
            self.done.emit(job_id, None, exc)
        except Exception as exc:  # a bug must not kill the worker thread
            log.exception("worklist job failed")
            self.done.emit(job_id, None, WorkstationError(f"internal error: {type(exc).__name__}"))
        else:
            self.done.emit(job_id, result, None)


# -- the lead view ------------------------------------------------------------------------------


class LeadView(QWidget):
    """Assign the selected rows to a reader or a pool; counts per reader and pool; overdue."""

    assign_requested = Signal(object, object)  # reader code | None, pool | None
    overdue_activated = Signal(str)  # workitem uid

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader_combo = QComboBox()
        self.pool_combo = QComboBox()
        self.assign_reader_button = QPushButton(_tr("Assign to reader"))
        self.assign_pool_button = QPushButton(_tr("Back to pool"))
        self.assign_reader_button.clicked.connect(self._assign_reader)
        self.assign_pool_button.clicked.connect(self._assign_pool)
        self.counts = QTableWidget(0, 4)
        self.counts.setHorizontalHeaderLabels(
            [
                _tr("By"),
                _tr("Name"),
                # A count, not the action "Open": its own entry in the catalogue.
                QCoreApplication.translate("WorklistPanel", "Open", "count of open items"),
                _tr("Overdue"),
            ]
        )
        self.counts.verticalHeader().setVisible(False)
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        counts_header = self.counts.horizontalHeader()
        counts_header.setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents  # a few rows: measuring them is cheap
        )
        # The name takes what the pane has left (elided), so the counts fit without a scroll bar.
        counts_header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.overdue_list = QListWidget()
        self.overdue_list.itemActivated.connect(
            lambda it: self.overdue_activated.emit(it.data(UID_ROLE))
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(QLabel(_tr("Assign selected")))
        row1 = QHBoxLayout()
        row1.addWidget(self.reader_combo, 1)
        row1.addWidget(self.assign_reader_button)
        layout.addLayout(row1)
        row2 = QHBoxLayout()
        row2.addWidget(self.pool_combo, 1)
        row2.addWidget(self.assign_pool_button)
        layout.addLayout(row2)
        layout.addWidget(QLabel(_tr("Open work")))
        layout.addWidget(self.counts, 2)
        self.overdue_label = QLabel(_tr("Overdue"))
        layout.addWidget(self.overdue_label)
        layout.addWidget(self.overdue_list, 1)

    def set_choices(self, readers: Sequence[tuple[str, str]], pools: Sequence[str]) -> None:
        """Readers as (performer code, label) and pools; keeps the current choice."""
        for combo, entries in (
            (self.reader_combo, list(readers)),
            (self.pool_combo, [(p, p) for p in pools]),
        ):
            current = combo.currentData()
            have = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
            if have != [(code, label) for code, label in entries]:
                combo.blockSignals(True)
                combo.clear()
                for code, label in entries:
                    combo.addItem(label, code)
                found = combo.findData(current)
                combo.setCurrentIndex(max(found, 0))
                combo.blockSignals(False)

    def show_counts(self, items: Sequence[WorkItem], now: datetime) -> None:
        counts = queue_counts(items, now)
        rows: list[tuple[str, str, int, int]] = []
        for name, (n, late) in counts.per_reader.items():
            label = format_person_name(name) if "^" in name else name
            rows.append((_tr("Reader"), label or _tr("(unassigned)"), n, late))
        for name, (n, late) in counts.per_pool.items():
            rows.append((_tr("Pool"), name or _tr("(none)"), n, late))
        self.counts.setRowCount(len(rows))
        for r, (group, name, n, late) in enumerate(rows):
            for c, value in enumerate((group, name, str(n), str(late))):
                cell = QTableWidgetItem(value)
                if c == 3 and late:
                    cell.setForeground(QBrush(QColor(OVERDUE_COLORS[0])))
                self.counts.setItem(r, c, cell)
        self.overdue_list.clear()
        for item in counts.overdue:
            text = (
                f"{item.priority.value}  {format_time_left(item.time_left(now))}  "
                f"{format_person_name(item.patient_name)}  {item.accession_number}"
            )
            entry = QListWidgetItem(text)
            entry.setData(UID_ROLE, item.uid)
            entry.setForeground(QBrush(QColor(OVERDUE_COLORS[0])))
            self.overdue_list.addItem(entry)
        self.overdue_label.setText(_tr("Overdue (%1)").replace("%1", str(len(counts.overdue))))

    def _assign_reader(self) -> None:
        code = self.reader_combo.currentData()
        if code:
            self.assign_requested.emit(code, None)

    def _assign_pool(self) -> None:
        pool = self.pool_combo.currentData()
        if pool:
            self.assign_requested.emit(None, pool)


# -- the panel ----------------------------------------------------------------------------------


class WorklistPanel(QWidget):
    """The worklist of one backend: filters, table, lead view; opening an item claims it.

    ``archive`` (the local store) gives the local-copy column; ``poll_interval_s`` 0 turns
    polling off; ``saved_filters_path`` keeps the user's own filters.
    """

    open_study_requested = Signal(str, bool)  # study instance uid, read only
    refreshed = Signal(int)  # rows shown
    claimed = Signal(str, str)  # workitem uid, study uid
    claim_refused = Signal(str, str)  # workitem uid, message (names the holder when known)
    assigned = Signal(int, int)  # items assigned, items refused
    completed = Signal(str)  # workitem uid
    handed_back = Signal(str, str)  # workitem uid, replacement uid
    failed = Signal(str)  # a message for the user
    _submit_job = Signal(int, object)  # to the worker thread: job id, callable

    def __init__(
        self,
        backend: WorklistBackend,
        archive: LocalArchive | None = None,
        *,
        poll_interval_s: float = 30.0,
        due_soon_minutes: float = 30.0,
        saved_filters_path: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.archive = archive
        self.user = backend.user
        self.model = WorklistTableModel(
            self, due_soon_minutes=due_soon_minutes, me=self.user.performer_code
        )
        self._all_items: list[WorkItem] = []
        self._local: dict[str, LocalStudy] = {}
        self._hospitals: dict[str, WorklistFilter] = {}
        self._saved = SavedFilters.load(saved_filters_path) if saved_filters_path else None
        self._filters: dict[str, WorklistFilter] = {}
        self._job_ids = itertools.count(1)
        self._callbacks: dict[int, Callable[[Any, WorkstationError | None], None]] = {}
        self._refresh_job: int | None = None
        self._refresh_again = False
        self.last_error: str = ""
        self.notice: str = ""
        self._counts_text = ""
        self._refresh_error = ""  # the message of the last failed refresh, until one works

        # worker thread
        self._thread = QThread(self)
        self._thread.setObjectName("worklist-backend")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit_job.connect(self._worker.run)
        self._worker.done.connect(self._on_done)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()

        # top bar
        self.filter_combo = QComboBox()
        self.filter_combo.setMinimumWidth(180)
        self.filter_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.search = QLineEdit()
        self.search.setPlaceholderText(_tr("Filter by patient name, patient ID or accession"))
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self._apply_view)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.save_filter_button = QPushButton(_tr("Save filter…"))
        self.save_filter_button.setEnabled(self._saved is not None)
        self.save_filter_button.clicked.connect(self._ask_save_filter)
        self.refresh_button = QPushButton(_tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        # The reader's daily move: take the most urgent study and read it.
        self.read_next_button = QPushButton(_tr("Read next"))
        self.read_next_button.setToolTip(
            _tr("Claim and open the most urgent study of this list that you may read")
        )
        self.read_next_button.clicked.connect(lambda: self.read_next())
        self.read_next_button.setVisible(self.user.may(Permission.CLAIM))
        self.status = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel(_tr("Show")))
        top.addWidget(self.filter_combo)
        top.addWidget(self.search, 1)
        top.addWidget(self.save_filter_button)
        top.addWidget(self.refresh_button)
        top.addWidget(self.read_next_button)

        # table
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row measuring
        vh.setDefaultSectionSize(self.fontMetrics().height() + 8)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        for n, (key, title) in enumerate(COLUMNS):
            width = self.fontMetrics().horizontalAdvance(_tr(title)) + 24
            self.table.setColumnWidth(n, max(width, _WIDTHS.get(key, 0)))
        if archive is None:  # no local store: nothing to say about local copies
            self.table.setColumnHidden(COLUMN["cache"], True)
        self.table.activated.connect(self._open_index)  # double-click or Enter
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        # lead view
        self.lead_view: LeadView | None = None
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        if self.user.may(Permission.ASSIGN):
            self.lead_view = LeadView()
            self.lead_view.assign_requested.connect(
                lambda reader, pool: self.assign_selected(reader=reader, pool=pool)
            )
            self.lead_view.overdue_activated.connect(self.select_uids)
            splitter.addWidget(self.lead_view)
            splitter.setStretchFactor(0, 4)
            splitter.setStretchFactor(1, 1)
            self._update_lead_choices()
            # A lead triages by state and reader: those come next to the time left, where
            # the table's narrower pane beside the lead view still shows them.
            for place, key in enumerate(("state", "reader"), start=2):
                hh.moveSection(hh.visualIndex(COLUMN[key]), place)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

        self._rebuild_filter_combo()
        self.poll_timer = QTimer(self)
        self.poll_timer.timeout.connect(self.refresh)
        self.set_poll_interval(poll_interval_s)
        QTimer.singleShot(0, self.refresh)  # the first list, without waiting for the timer

    # -- jobs ------------------------------------------------------------------------------
    def _run(
        self, fn: Callable[[], Any], then: Callable[[Any, WorkstationError | None], None]
    ) -> int:
        job_id = next(self._job_ids)
        self._callbacks[job_id] = then
        self._submit_job.emit(job_id, fn)
        return job_id

    @Slot(int, object, object)
    def _on_done(self, job_id: int, result: Any, error: WorkstationError | None) -> None:
        then = self._callbacks.pop(job_id, None)
        if then is not None:
            then(result, error)

    def _say(self, message: str) -> None:
        """Show a notice beside the counts until the next one."""
        self.notice = message
        parts = [p for p in (self._counts_text, message) if p]
        self.status.setText("  ·  ".join(parts))

    def _report(self, message: str) -> None:
        self.last_error = message
        self._say(message)
        self.failed.emit(message)

    def shutdown(self) -> None:
        """Stop polling and the worker thread (waits for a running backend call)."""
        self.poll_timer.stop()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- filters ---------------------------------------------------------------------------
    def _rebuild_filter_combo(self) -> None:
        current = self.filter_combo.currentData()
        entries: list[WorklistFilter] = list(builtin_filters(self.user))
        entries += list(self._hospitals.values())
        if self._saved is not None:
            entries += list(self._saved.filters.values())
        self._filters = {f.name: f for f in entries}
        names = list(self._filters)
        if names == [self.filter_combo.itemData(i) for i in range(self.filter_combo.count())]:
            return
        self.filter_combo.blockSignals(True)
        self.filter_combo.clear()
        for name in names:
            self.filter_combo.addItem(_tr(name), name)
        found = self.filter_combo.findData(current)
        self.filter_combo.setCurrentIndex(max(found, 0))
        self.filter_combo.blockSignals(False)

    @property
    def current_filter(self) -> WorklistFilter:
        """The chosen filter with the search box's text."""
        name = self.filter_combo.currentData()
        base = self._filters.get(name) or builtin_filters(self.user)[0]
        return base.with_text(self.search.text())

    def set_filter(self, name: str) -> None:
        """Choose a filter by name ("All open", "My work", "My pools", "Overdue", ...)."""
        index = self.filter_combo.findData(name)
        if index < 0:
            raise KeyError(f"no worklist filter named {name!r}")
        self.filter_combo.setCurrentIndex(index)

    def filter_names(self) -> list[str]:
        return [self.filter_combo.itemData(i) for i in range(self.filter_combo.count())]

    def save_current_filter(self, name: str) -> None:
        """Keep the current filter (and search text) under ``name`` in the saved filters."""
        if self._saved is None:
            raise WorkstationError("saved filters need a saved_filters_path")
        self._saved.save(
            WorklistFilter.from_json({**self.current_filter.to_json(), "name": name.strip()})
        )
        self._rebuild_filter_combo()
        self.set_filter(name.strip())

    def _ask_save_filter(self) -> None:
        name, ok = QInputDialog.getText(self, _tr("Save filter"), _tr("Name of the filter:"))
        if ok and name.strip():
            try:
                self.save_current_filter(name)
            except WorkstationError as exc:
                self._report(str(exc))

    # -- refresh ---------------------------------------------------------------------------
    def set_poll_interval(self, seconds: float) -> None:
        """Poll the backend every ``seconds`` (0 or less: only on demand)."""
        if seconds > 0:
            self.poll_timer.start(int(seconds * 1000))
        else:
            self.poll_timer.stop()

    def refresh(self) -> None:
        """Fetch the chosen filter's items off the UI thread, then update the table by diff."""
        if self._refresh_job is not None:
            self._refresh_again = True
            return
        flt = self.current_filter.with_text("")
        backend, archive = self.backend, self.archive

        def job() -> tuple[list[WorkItem], dict[str, LocalStudy] | None, datetime]:
            now = utc_now()
            items = backend.search_all(flt, now=now)
            local = local_studies(archive) if archive is not None else None
            return items, local, now

        self._refresh_job = self._run(job, self._on_refreshed)

    def local_copy_changed(self, study_instance_uids: Iterable[str]) -> None:
        """The store's copy of these studies changed (a retrieval ended, an eviction): their
        Local copy cells say so now, not at the next poll."""
        if self.archive is None:
            return
        local = dict(self._local)
        for uid in study_instance_uids:
            try:
                local[uid] = LocalStudy.of(self.archive.study(uid))
            except NotFoundError:
                local.pop(uid, None)
        self._local = local
        self.model.set_items(self.model.items(), local, utc_now())

    def _on_refreshed(self, result: Any, error: WorkstationError | None) -> None:
        self._refresh_job = None
        if error is not None:
            self._refresh_error = _tr("Worklist not refreshed: %1").replace("%1", str(error))
            self._report(self._refresh_error)
        else:
            if self._refresh_error and self.last_error == self._refresh_error:
                self.last_error = self.notice = ""
            self._refresh_error = ""
            items, local, now = result
            self._all_items = items
            if local is not None:
                self._local = local
            for f in hospital_filters(items):
                self._hospitals.setdefault(f.hospital or "", f)
            self._rebuild_filter_combo()
            self._apply_view(now)
            self._update_lead_choices()
            if self.lead_view is not None:
                self.lead_view.show_counts(items, now)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()
        else:
            self.refreshed.emit(self.model.rowCount())

    def _apply_view(self, now: datetime | None = None) -> None:
        """Show the fetched items that pass the search text, keeping scroll and selection."""
        moment = now or utc_now()
        flt = self.current_filter
        shown = (
            [i for i in self._all_items if flt.matches(i, moment)] if flt.text else self._all_items
        )
        # Selection and current index are persistent indexes: the diff update keeps them.
        bar = self.table.verticalScrollBar()
        scroll = bar.value()
        self.model.set_items(shown, self._local, moment)
        bar.setValue(min(scroll, bar.maximum()))
        late = sum(1 for i in shown if i.is_overdue(moment))
        self._counts_text = _separator().join(
            (
                QCoreApplication.translate(
                    "WorklistPanel", "%n work item(s)", "", self.model.rowCount()
                ),
                QCoreApplication.translate("WorklistPanel", "%n overdue", "work items", late),
                _tr("updated %1").replace("%1", moment.astimezone().strftime("%H:%M:%S")),
            )
        )
        self._say(self.notice)

    def _update_lead_choices(self) -> None:
        if self.lead_view is None:
            return
        readers = [(r.performer_code, _reader_label(r.label)) for r in self.backend.readers()]
        self.lead_view.set_choices(readers, self.backend.pools())

    # -- selection -------------------------------------------------------------------------
    def selected_items(self) -> list[WorkItem]:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [self.model.item_at(r) for r in rows]

    def selected_uids(self) -> list[str]:
        return [i.uid for i in self.selected_items()]

    def select_uids(self, uids: str | Sequence[str]) -> None:
        """Select the rows of these workitems (and scroll to the first)."""
        wanted = [uids] if isinstance(uids, str) else list(uids)
        selection = QItemSelection()
        first = None
        for uid in wanted:
            row = self.model.row_of(uid)
            if row is None:
                continue
            left = self.model.index(row, 0)
            selection.select(left, self.model.index(row, len(COLUMNS) - 1))
            first = first or left
        sm = self.table.selectionModel()
        sm.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if first is not None:
            sm.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.table.scrollTo(first)

    # -- actions ---------------------------------------------------------------------------
    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_item(self.model.item_at(index.row()).uid)

    def open_item(self, uid: str, *, read_only: bool = False) -> None:
        """Open a workitem's study: claim it first; if someone else holds it, read-only."""
        row = self.model.row_of(uid)
        if row is None:
            return
        item = self.model.item_at(row)
        study = item.study_instance_uid
        if read_only or not item.is_open or not self.user.may(Permission.CLAIM):
            self.open_study_requested.emit(study, True)
            return
        backend = self.backend

        def after(claim: Any, error: WorkstationError | None) -> None:
            if error is None:
                self._say(_tr("Claimed: you are reading this study"))
                self.claimed.emit(uid, study)
                self.open_study_requested.emit(study, False)
                self.refresh()
                return
            message = _refusal_text(error)
            self._say(message)
            self.claim_refused.emit(uid, message)
            self.open_study_requested.emit(study, True)
            self.refresh()

        self._run(lambda: backend.claim(uid, study_uid=study), after)

    def read_next(self, skip: Callable[[str], bool] = lambda _uid: False) -> None:
        """Claim the most urgent item of the list as shown that this user may read (not a
        study ``skip`` names: the one on screen, one whose final report is on its way) and
        open it. An item another reader claimed meanwhile is passed over for the next one, up
        to :data:`READ_NEXT_TRIES`; nothing is opened read-only."""
        candidates = next_to_read(self.model.items(), self.user, skip, READ_NEXT_TRIES)
        if not candidates:
            self._say(_tr("Nothing to read in this list"))
            return
        backend = self.backend

        def claim_first() -> WorkItem | None:
            for item in candidates:
                try:
                    backend.claim(item.uid, study_uid=item.study_instance_uid)
                except ClaimConflict:
                    continue  # another reader was quicker: the next one
                return item
            return None

        def after(item: Any, error: WorkstationError | None) -> None:
            if error is not None:
                self._report(_tr("Not claimed (%1)").replace("%1", str(error)))
            elif item is None:
                self._say(_tr("The next studies were taken by other readers: refreshed"))
            else:
                self._say(_tr("Claimed: you are reading this study"))
                self.select_uids([item.uid])
                self.claimed.emit(item.uid, item.study_instance_uid)
                self.open_study_requested.emit(item.study_instance_uid, False)
            self.refresh()

        self._run(claim_first, after)

    def check_study(self, study: Study, done: Callable[[StudyReading | None, str], None]) -> None:
        """Ask, off the UI thread, whether this user may report ``study`` (a study opened
        outside the worklist); ``done(reading, error)`` comes on the UI thread."""
        backend, visible = self.backend, list(self._all_items)

        def after(reading: Any, error: WorkstationError | None) -> None:
            done(reading, "" if error is None else str(error))

        self._run(
            lambda: backend.study_reading(
                study.study_instance_uid,
                visible,
                patient_id=study.patient.patient_id,
                accession_number=study.accession_number,
            ),
            after,
        )

    def claim_item(self, uid: str, study_uid: str) -> None:
        """Claim a workitem whose study is on screen already: ``claimed`` or
        ``claim_refused`` says how it went; nothing is opened."""
        backend = self.backend

        def after(_claim: Any, error: WorkstationError | None) -> None:
            if error is None:
                self._say(_tr("Claimed: you are reading this study"))
                self.claimed.emit(uid, study_uid)
            else:
                message = _refusal_text(error)
                self._say(message)
                self.claim_refused.emit(uid, message)
            self.refresh()

        self._run(lambda: backend.claim(uid, study_uid=study_uid), after)

    def assign_selected(self, *, reader: str | None = None, pool: str | None = None) -> None:
        """Assign the selected workitems to a reader (performer code) or back to a pool."""
        uids = self.selected_uids()
        if not uids:
            self._report(_tr("Select the work items to assign first"))
            return
        backend = self.backend

        def after(failures: Any, error: WorkstationError | None) -> None:
            if error is not None:
                self._report(str(error))
                self.assigned.emit(0, len(uids))
            else:
                ok = len(uids) - len(failures)
                text = QCoreApplication.translate("WorklistPanel", "%n assigned", "work items", ok)
                if failures:
                    why = str(next(iter(failures.values())))
                    refused = QCoreApplication.translate(
                        "WorklistPanel", "%n refused: %1", "work items", len(failures)
                    )
                    text += _separator() + refused.replace("%1", why)
                self._say(text)
                self.assigned.emit(ok, len(failures))
            self.refresh()

        self._run(lambda: backend.assign_many(uids, reader=reader, pool=pool), after)

    def hand_back(self, uid: str, reason: str = "") -> None:
        """Give a workitem this workstation holds back to its pool."""
        backend = self.backend

        def after(new_uid: Any, error: WorkstationError | None) -> None:
            if error is not None:
                self._report(str(error))
            else:
                self._say(_tr("Handed back to the pool"))
                self.handed_back.emit(uid, new_uid)
            self.refresh()

        self._run(lambda: backend.hand_back(uid, reason), after)

    def complete_study(self, study_uid: str) -> None:
        """Complete the workitem held for a study (call when its report is acknowledged)."""
        backend = self.backend

        def after(uid: Any, error: WorkstationError | None) -> None:
            if error is not None:
                self._report(_tr("Work item not completed: %1").replace("%1", str(error)))
            elif uid:
                self._say(_tr("Reading completed"))
                self.completed.emit(uid)
            self.refresh()

        self._run(lambda: backend.complete_study(study_uid), after)

    def _context_menu(self, pos: Any) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        item = self.model.item_at(index.row())
        menu = QMenu(self)
        actions: list[tuple[str, Callable[[], None]]] = [
            (_tr("Open"), lambda: self.open_item(item.uid)),
            (_tr("Open read-only"), lambda: self.open_item(item.uid, read_only=True)),
        ]
        if self.backend.held_claim(item.uid) is not None:
            actions.append((_tr("Hand back to the pool"), lambda: self.hand_back(item.uid)))
        for text, slot in actions:
            action = QAction(text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.exec(self.table.viewport().mapToGlobal(pos))


def _reader_label(name: str) -> str:
    return format_person_name(name) if "^" in name else name
