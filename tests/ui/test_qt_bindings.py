"""The Qt bindings the workstation runs on keep Python's reference counts.

PySide6 6.12.0 drops a reference to ``True`` on every ``Signal.emit()`` from Python; on Python
3.11 the process aborts ("bool_dealloc") once about 10,000 signals have been emitted, which a
reading session reaches (progress, model updates). pyproject excludes it; the application
refuses to start on it with a clear message.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Signal

from workstation.ui.app import signal_emit_drops_references


class _Emitter(QObject):
    plain = Signal()
    number = Signal(int)


class _Model(QAbstractTableModel):
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 2

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 2

    def data(self, index: QModelIndex, role: int = 0) -> object:
        return None


def test_emitting_signals_keeps_the_reference_counts(qapp):
    emitter, model = _Emitter(), _Model()
    seen: list[int] = []
    emitter.number.connect(seen.append)
    index = model.index(1, 1)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for k in range(1000):  # 6.12.0 would have taken 3,000 references to True here
        emitter.plain.emit()
        emitter.number.emit(k)
        model.dataChanged.emit(index, index, [0])
    assert (sys.getrefcount(True), sys.getrefcount(False)) == before
    assert len(seen) == 1000


def test_the_start_up_check_passes_on_these_bindings(qapp):
    assert signal_emit_drops_references() is False
