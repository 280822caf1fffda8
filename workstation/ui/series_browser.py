"""Thumbnails of a study's series; activating one opens it in the viewport."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.model import Series
from workstation.viewer.stack import ImageStack

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
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)

    def show_series(self, archive: LocalArchive, series_list: list[Series]) -> None:
        self.clear()
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
        self.series_activated.emit(item.data(Qt.ItemDataRole.UserRole))


def _placeholder(text: str) -> QPixmap:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor("#101214"))
    p = QPainter(pix)
    p.setPen(QColor("#8a9099"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix
