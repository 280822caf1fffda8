"""Thumbnails of a study's series; activating one opens it in the viewport."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QCoreApplication, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.model import Series
from workstation.viewer.stack import ImageStack

SERIES_MIME = "application/x-workstation-series"

log = logging.getLogger(__name__)
THUMB = 128


def _tr(text: str) -> str:
    return QCoreApplication.translate("SeriesBrowser", text)


def thumbnail_image(stack: ImageStack, size: int = THUMB) -> QImage:
    """The middle image of a series through the display pipeline, scaled to fit ``size``."""
    index = len(stack) // 2
    display = np.ascontiguousarray(stack.display(index))
    h, w = display.shape[:2]
    if display.ndim == 2:
        img = QImage(display.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    else:
        img = QImage(display.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    spacing = stack.pixel_spacing(index)
    if spacing and spacing[0] > 0 and spacing[1] > 0 and spacing[0] != spacing[1]:
        img = img.scaled(round(w * spacing[1] / spacing[0]), h)
    return img.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class SeriesBrowser(QListWidget):
    """One item per series: thumbnail, number, description, image count."""

    series_activated = Signal(str)  # Series Instance UID

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.TopToBottom)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setMovement(QListView.Movement.Static)
        self.setSpacing(4)
        self.setMinimumWidth(THUMB + 40)
        self.setMaximumWidth(THUMB + 60)
        self.setDragEnabled(True)
        self.setDragDropMode(QListView.DragDropMode.DragOnly)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)

    def show_series(self, archive: LocalArchive, series_list: list[Series]) -> None:
        self.show_groups(archive, [("", series_list)])

    def show_groups(self, archive: LocalArchive, groups: list[tuple[str, list[Series]]]) -> None:
        """Series of the current study, then each prior's under its label."""
        self.clear()
        for label, series_list in groups:
            if label:
                header = QListWidgetItem(label)
                header.setFlags(Qt.ItemFlag.NoItemFlags)
                header.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
                self.addItem(header)
            self._add_series(archive, series_list)

    def series_uids(self) -> list[str]:
        return [
            self.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.count())
            if self.item(i).data(Qt.ItemDataRole.UserRole)
        ]

    def _add_series(self, archive: LocalArchive, series_list: list[Series]) -> None:
        for series in series_list:
            label = (
                f"{series.series_number if series.series_number is not None else '-'} "
                f"{series.modality}\n{series.series_description[:24]}\n"
                + _tr("%n image(s)").replace("%n", str(series.number_of_instances))
            )
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, series.series_instance_uid)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            try:
                stack = ImageStack.open(archive, series.series_instance_uid)
                icon = QPixmap.fromImage(thumbnail_image(stack))
            except WorkstationError as exc:
                log.info("no thumbnail for a series: %s", type(exc).__name__)
                icon = _placeholder(_tr("no image"))
            item.setIcon(QIcon(icon))
            self.addItem(item)

    def _activated(self, item: QListWidgetItem) -> None:
        uid = item.data(Qt.ItemDataRole.UserRole)
        if uid:
            self.series_activated.emit(uid)

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:
        """Dragging a thumbnail carries its Series Instance UID to a viewport."""
        mime = QMimeData()
        uids = [i.data(Qt.ItemDataRole.UserRole) for i in items if i.data(Qt.ItemDataRole.UserRole)]
        if uids:
            mime.setData(SERIES_MIME, uids[0].encode("ascii"))
        return mime

    def mimeTypes(self) -> list[str]:
        return [SERIES_MIME]


def _placeholder(text: str) -> QPixmap:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor("#101214"))
    p = QPainter(pix)
    p.setPen(QColor("#8a9099"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix
