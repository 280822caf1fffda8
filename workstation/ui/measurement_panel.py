"""The measurement list: every measurement of the open study, 2D and MPR, beside the viewer.

Each row shows the name the reader gave (editable), the kind, the value with its unit and
calibration qualifier, and where it was made (series and image, or the MPR plane). Selecting a
row asks the window to show that measurement (``activated``); Delete removes it from the store
(``deleted``); editing the name stores it (``renamed``). The row texts and their order come from
:func:`workstation.viewer.annotations.measurement_rows`, so they are tested without Qt.

:class:`MainWindowBinding` wires a panel to the main window: it follows the open study, the
viewports' edits (live while a handle is dragged) and the MPR view, and carries deletions and
renames into every view that holds the measurement.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.events import Subscription
from workstation.core.measure import Measurement, SpacingSource
from workstation.viewer.annotations import (
    MeasurementRow,
    StudyLocations,
    measurement_row,
    measurement_rows,
    study_locations,
)

log = logging.getLogger(__name__)

NAME, KIND, VALUE, WHERE = range(4)
_ID_ROLE = Qt.ItemDataRole.UserRole


def _tr(text: str) -> str:
    return QCoreApplication.translate("MeasurementPanel", text)


def value_tooltip(m: Measurement, text: str) -> str:
    """The value cell's tooltip: its text, and for a value from the reader's calibration the
    spacing it used, so a user-calibrated value is never mistaken for the file's."""
    cal = m.calibration
    if cal is None or cal.source is not SpacingSource.USER:
        return text
    row, col = cal.spacing_mm
    spacing = f"{col:.3f}" if abs(row - col) <= 1e-9 * max(row, col) else f"{row:.3f} × {col:.3f}"
    return text + "\n" + _tr("Calibrated by user: %1 mm/px").replace("%1", spacing)


class MeasurementPanel(QWidget):
    """A table of the open study's measurements with rename and delete.

    Signals: ``activated(Measurement)`` when the reader selects a row, ``deleted(str)`` with
    the id of a measurement removed from the store, ``renamed(str, str)`` with its id and new
    name once stored, ``status_message(str)`` for what went wrong.
    """

    activated = Signal(object)
    deleted = Signal(str)
    renamed = Signal(str, str)
    status_message = Signal(str)

    def __init__(self, archive: LocalArchive, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.archive = archive
        self.study_instance_uid: str | None = None
        self._locations = StudyLocations.empty()
        self._rows: list[MeasurementRow] = []
        self._updating = False

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("measurementTable")
        self.table.setHorizontalHeaderLabels(
            [_tr("Name"), _tr("Measurement"), _tr("Value"), _tr("Image")]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.installEventFilter(self)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._item_changed)

        self.empty_label = QLabel(_tr("No measurements in this study"))
        self.empty_label.setObjectName("measurementEmpty")
        self.rename_button = QPushButton(_tr("Rename"))
        self.rename_button.clicked.connect(self._edit_name)
        self.delete_button = QPushButton(_tr("Delete"))
        self.delete_button.setToolTip(_tr("Delete the selected measurement (Del)"))
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.empty_label, 1)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def sizeHint(self) -> QSize:
        """Wide enough for a value and "Se 1 Axial 1.0 mm · Im 96/150" side by side."""
        return QSize(520, 320)

    # -- API ---------------------------------------------------------------------------------
    def set_study(self, study_instance_uid: str | None) -> None:
        """List the measurements of this study (None: an empty list)."""
        self.study_instance_uid = study_instance_uid or None
        self._locations = StudyLocations.empty()
        if self.study_instance_uid is not None:
            try:
                self._locations = study_locations(self.archive, self.study_instance_uid)
            except WorkstationError as exc:
                self.status_message.emit(str(exc))
        self.refresh()

    def refresh(self) -> None:
        """Read the study's measurements from the store again, keeping the selection."""
        measurements: list[Measurement] = []
        if self.study_instance_uid is not None:
            try:
                measurements = self.archive.measurements(self.study_instance_uid)
            except WorkstationError as exc:
                log.warning("measurements unreadable: %s", type(exc).__name__)
                self.status_message.emit(_tr("Measurements could not be read: ") + str(exc))
        self._show(measurement_rows(measurements, self._locations))

    @property
    def rows(self) -> list[MeasurementRow]:
        """The rows as shown, top to bottom."""
        return list(self._rows)

    @property
    def measurements(self) -> list[Measurement]:
        return [r.measurement for r in self._rows]

    def row_of(self, measurement_id: str) -> int | None:
        return next(
            (i for i, r in enumerate(self._rows) if r.measurement_id == measurement_id), None
        )

    @property
    def selected_id(self) -> str | None:
        i = self.table.currentRow()
        selected = self.table.selectionModel().selectedRows()
        if not selected or not 0 <= i < len(self._rows):
            return None
        return self._rows[i].measurement_id

    def select_measurement(self, measurement_id: str | None, *, activate: bool = False) -> bool:
        """Select a row by measurement id (None clears); ``activate`` also emits ``activated``."""
        i = None if measurement_id is None else self.row_of(measurement_id)
        self._updating = not activate
        try:
            if i is None:
                self.table.clearSelection()
            else:
                self.table.selectRow(i)
        finally:
            self._updating = False
        self._update_buttons()
        return i is not None

    def delete_selected(self) -> bool:
        mid = self.selected_id
        return mid is not None and self.delete_measurement(mid)

    def delete_measurement(self, measurement_id: str) -> bool:
        """Remove a measurement from the store and the list, then emit ``deleted``."""
        i = self.row_of(measurement_id)
        if i is None:
            return False
        try:
            self.archive.delete_measurement(measurement_id)
        except WorkstationError as exc:
            self.status_message.emit(_tr("Measurement not deleted: ") + str(exc))
            return False
        self._show([r for r in self._rows if r.measurement_id != measurement_id])
        self.deleted.emit(measurement_id)
        return True

    def rename(self, measurement_id: str, name: str) -> bool:
        """Store a new name for a measurement, then emit ``renamed``; a name that is too long
        is refused with a status message and the old one stays."""
        i = self.row_of(measurement_id)
        if i is None or self.study_instance_uid is None:
            return False
        old = self._rows[i].measurement
        try:
            new = old.with_name(name)
            if new.name == old.name:
                self._set_name_text(i, old.name)
                return True
            self.archive.save_measurement(self.study_instance_uid, new)
        except WorkstationError as exc:
            self.status_message.emit(_tr("Name not kept: ") + str(exc))
            self._set_name_text(i, old.name)
            return False
        # In place: this may run inside the table's itemChanged, whose item must survive.
        self._rows[i] = measurement_row(new, self._locations)
        self._set_name_text(i, new.name)
        self.renamed.emit(measurement_id, new.name)
        return True

    def show_live(self, measurements: Iterable[Measurement]) -> int:
        """Show the values of measurements being edited (a handle drag) before they are stored;
        returns how many rows changed. Rows keep their place until the next refresh."""
        changed = 0
        by_id = {r.measurement_id: i for i, r in enumerate(self._rows)}
        self._updating = True
        try:
            for m in measurements:
                i = by_id.get(m.measurement_id)
                if i is None or self._rows[i].measurement == m:
                    continue
                row = measurement_row(m, self._locations)
                self._rows[i] = row
                for col, text in ((VALUE, row.value), (WHERE, row.where), (NAME, row.name)):
                    item = self.table.item(i, col)
                    if item is not None and item.text() != text:
                        item.setText(text)
                        if col == VALUE:
                            item.setToolTip(value_tooltip(m, text))
                changed += 1
        finally:
            self._updating = False
        return changed

    # -- drawing -----------------------------------------------------------------------------
    def _show(self, rows: list[MeasurementRow]) -> None:
        keep = self.selected_id
        self._updating = True
        try:
            self._rows = rows
            self.table.setRowCount(len(rows))
            for i, r in enumerate(rows):
                for col, text in (
                    (NAME, r.name),
                    (KIND, r.kind),
                    (VALUE, r.value),
                    (WHERE, r.where),
                ):
                    item = QTableWidgetItem(text)
                    item.setData(_ID_ROLE, r.measurement_id)
                    if col == VALUE:
                        item.setToolTip(value_tooltip(r.measurement, text))
                    elif col == WHERE:
                        item.setToolTip(text)  # the full text when the column is narrow
                    flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
                    if col == NAME:
                        flags |= Qt.ItemFlag.ItemIsEditable
                        item.setToolTip(_tr("Double-click to name this measurement"))
                    item.setFlags(flags)
                    self.table.setItem(i, col, item)
            new_row = None if keep is None else self.row_of(keep)
            if new_row is None:
                self.table.clearSelection()
            else:
                self.table.selectRow(new_row)
        finally:
            self._updating = False
        self.empty_label.setVisible(not rows)
        self._update_buttons()

    def _set_name_text(self, i: int, text: str) -> None:
        item = self.table.item(i, NAME)
        if item is not None and item.text() != text:
            self._updating = True
            try:
                item.setText(text)
            finally:
                self._updating = False

    def _update_buttons(self) -> None:
        has = self.selected_id is not None
        self.delete_button.setEnabled(has)
        self.rename_button.setEnabled(has)

    # -- reactions ---------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        self._update_buttons()
        if self._updating:
            return
        mid = self.selected_id
        i = None if mid is None else self.row_of(mid)
        if i is not None:
            self.activated.emit(self._rows[i].measurement)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or item.column() != NAME:
            return
        mid = item.data(_ID_ROLE)
        if isinstance(mid, str):
            self.rename(mid, item.text())

    def _edit_name(self) -> None:
        i = self.table.currentRow()
        item = self.table.item(i, NAME) if i >= 0 else None
        if item is not None:
            self.table.editItem(item)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if (
            obj is self.table
            and ev.type() == QEvent.Type.KeyPress
            and isinstance(ev, QKeyEvent)
            and ev.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
            and self.table.state() != QAbstractItemView.State.EditingState
        ):
            self.delete_selected()
            return True
        return super().eventFilter(obj, ev)


class MainWindowBinding:
    """Connects a :class:`MeasurementPanel` to the main window (``ui.main_window.MainWindow``).

    Follows ``study_opened``; refreshes after the grid's ``measurements_changed`` (the window
    has stored them by then); shows values live while a viewport's handle is dragged and
    selects the row of the measurement picked on an image; watches the MPR tab and gives its
    view the store. A row activated shows its image in a viewport (opening the series in the
    active one when no viewport holds it) or its plane in the MPR view (opening MPR on the
    series when needed); a deletion or rename reaches every viewport and the MPR view.
    """

    def __init__(self, panel: MeasurementPanel, window: Any) -> None:
        self.panel = panel
        self.window = window
        self._model_subs: dict[int, tuple[Any, Subscription]] = {}
        self._selected: dict[int, str | None] = {}
        self._mpr: Any = None
        self._qt: list[tuple[Any, Callable[..., Any]]] = []
        self._connect(window.study_opened, panel.set_study)
        self._connect(window.grid.measurements_changed, self._grid_changed)
        self._connect(window.grid.active_changed, self._watch_viewports)
        self._connect(window.tabs.currentChanged, self._watch_mpr)
        self._connect(panel.activated, self.show_measurement)
        self._connect(panel.deleted, self._deleted)
        self._connect(panel.renamed, self._renamed)
        self._connect(panel.status_message, self._status)
        self._watch_viewports()
        if window.current_study_uid:
            panel.set_study(window.current_study_uid)

    def _connect(self, signal: Any, slot: Callable[..., Any]) -> None:
        signal.connect(slot)
        self._qt.append((signal, slot))

    def disconnect(self) -> None:
        """Undo every connection (the panel and the window stay)."""
        for signal, slot in self._qt:
            with contextlib.suppress(RuntimeError, TypeError):  # the sender is already gone
                signal.disconnect(slot)
        self._qt.clear()
        for _model, sub in self._model_subs.values():
            sub.disconnect()
        self._model_subs.clear()
        self._unwatch_mpr()

    # -- following the window -----------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _grid_changed(self, viewport: Any, _measurements: list[Any]) -> None:
        self.panel.refresh()
        self._selected.pop(id(viewport.model), None)
        self._follow_selection(viewport.model)

    def _watch_viewports(self, *_args: Any) -> None:
        models = {id(vp.model): vp.model for vp in self.window.grid.viewports}
        for key in list(self._model_subs):
            if key not in models:
                self._model_subs.pop(key)[1].disconnect()
                self._selected.pop(key, None)
        for key, model in models.items():
            if key not in self._model_subs:
                sub = model.changed.connect(lambda m=model: self._model_changed(m))
                self._model_subs[key] = (model, sub)

    def _model_changed(self, model: Any) -> None:
        stack = model.stack
        if stack is None or stack.study.study_instance_uid != self.panel.study_instance_uid:
            return
        self.panel.show_live(model.measurements)
        self._follow_selection(model)

    def _follow_selection(self, model: Any) -> None:
        """Select the row of the measurement picked on the image (once per new pick)."""
        key = id(model)
        selected = model.selected_id
        if selected is None or selected == self._selected.get(key):
            self._selected[key] = selected
            return
        if self.panel.select_measurement(selected):
            self._selected[key] = selected

    def _watch_mpr(self, *_args: Any) -> None:
        view = getattr(self.window, "mpr_view", None)
        if view is self._mpr:
            return
        self._unwatch_mpr()
        self._mpr = view
        if view is None:
            return
        if not view.stores_measurements and self.window.current_study_uid:
            stack = self.window.grid.active.model.stack
            study = stack.study.study_instance_uid if stack is not None else None
            view.attach_store(self.window.archive, study or self.window.current_study_uid)
        view.measurements_changed.connect(self.panel.refresh)
        view.status_message.connect(self._status)

    def _unwatch_mpr(self) -> None:
        view, self._mpr = self._mpr, None
        if view is None:
            return
        for signal, slot in (
            (view.measurements_changed, self.panel.refresh),
            (view.status_message, self._status),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)

    # -- carrying the panel's actions out -------------------------------------------------------
    def show_measurement(self, m: Measurement) -> bool:
        """Show ``m``: its image in a viewport, or its plane in the MPR view."""
        w = self.window
        if m.plane is not None:
            return self._show_mpr(m)
        grid = w.grid
        order = [grid.active_index] + [
            i for i in range(len(grid.viewports)) if i != grid.active_index
        ]
        for i in order:
            vp = grid.viewports[i]
            if vp.show_measurement(m):
                if i != grid.active_index:
                    grid.set_active(i)
                w.tabs.setCurrentIndex(1)
                return True
        instance = w.archive.index.instance(m.sop_instance_uid)
        if instance is None:
            self._status(_tr("The measured image is not in the local store."))
            return False
        if not w.open_series(instance.series_instance_uid):
            return False
        w.tabs.setCurrentIndex(1)
        return bool(grid.active.show_measurement(m))

    def _show_mpr(self, m: Measurement) -> bool:
        w = self.window
        assert m.plane is not None
        series = m.plane.series_instance_uid
        view = getattr(w, "mpr_view", None)
        if view is None or view.series_instance_uid != series:
            stack = w.grid.active.model.stack
            shown = stack is not None and stack.series.series_instance_uid == series
            if not shown and not w.open_series(series):
                return False
            if not w.open_mpr():
                return False
            self._watch_mpr()
            view = w.mpr_view
        if view.show_measurement(m.measurement_id) is None:
            view.reload_measurements()
            if view.show_measurement(m.measurement_id) is None:
                return False
        w.tabs.setCurrentWidget(view)
        return True

    def _deleted(self, measurement_id: str) -> None:
        for vp in self.window.grid.viewports:
            vp.model.delete_measurement(measurement_id)
        view = getattr(self.window, "mpr_view", None)
        if view is not None:
            view.remove_measurement(measurement_id)

    def _renamed(self, measurement_id: str, name: str) -> None:
        for vp in self.window.grid.viewports:
            ms = vp.model.measurements
            if any(m.measurement_id == measurement_id for m in ms):
                vp.model.set_measurements(
                    [m.with_name(name) if m.measurement_id == measurement_id else m for m in ms]
                )
        view = getattr(self.window, "mpr_view", None)
        if view is not None:
            view.rename_measurement(measurement_id, name)
