"""The study list as a Qt table model over the local store's index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, Qt

from workstation.archive.local import LocalArchive
from workstation.core.model import Study, format_da, format_person_name, format_tm


def _tr(text: str) -> str:
    return QCoreApplication.translate("StudyTableModel", text)


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


class StudyTableModel(QAbstractTableModel):
    """Rows are studies; ``set_search`` filters by name, patient ID and accession."""

    def __init__(self, archive: LocalArchive, parent: Any = None) -> None:
        super().__init__(parent)
        self.archive = archive
        self._studies: list[Study] = []
        self._search = ""
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self._studies = self.archive.studies(self._search)
        if self._sort is not None:
            self._apply_sort(*self._sort)
        self.endResetModel()

    def set_search(self, text: str) -> None:
        self._search = text
        self.refresh()

    def study_at(self, row: int) -> Study:
        return self._studies[row]

    def row_of(self, study_instance_uid: str) -> int:
        for i, s in enumerate(self._studies):
            if s.study_instance_uid == study_instance_uid:
                return i
        return -1

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._studies)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        study = self._studies[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[index.column()][1](study)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return study.study_instance_uid
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _tr(_COLUMNS[section][0])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._apply_sort(column, order)
        self.layoutChanged.emit()

    def _apply_sort(self, column: int, order: Qt.SortOrder) -> None:
        key = _COLUMNS[column][2]
        self._studies.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
