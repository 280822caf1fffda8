"""Thumbnails of a study's series; activating one opens it in the viewport."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QCoreApplication, QMimeData, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.model import Series
from workstation.viewer.stack import ImageStack

SERIES_MIME = "application/x-workstation-series"

log = logging.getLogger(__name__)
THUMB = 128
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1  # (received, expected) while a series arrives
SERIES_ROLE = Qt.ItemDataRole.UserRole + 2  # the Series the label was made from
IMAGES_ROLE = Qt.ItemDataRole.UserRole + 3  # False: the series holds no image (an SR, a plan)
_BAR_HEIGHT = 14


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
        self.setItemDelegate(_ProgressDelegate(self))
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
            self.addItem(self._series_item(archive, series))

    def _series_item(self, archive: LocalArchive, series: Series) -> QListWidgetItem:
        item = QListWidgetItem(_label(series, series.number_of_instances))
        item.setData(Qt.ItemDataRole.UserRole, series.series_instance_uid)
        item.setData(SERIES_ROLE, series)
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
        try:
            stack = ImageStack.open(archive, series.series_instance_uid)
            icon = QPixmap.fromImage(thumbnail_image(stack))
        except WorkstationError as exc:
            log.info("no thumbnail for a series: %s", type(exc).__name__)
            icon = _placeholder(_tr("no image"))
            instances = archive.instances(series.series_instance_uid)
            if not any(i.has_pixels for i in instances):  # a report, a plan: not "1 image"
                item.setData(IMAGES_ROLE, False)
                item.setText(_label(series, series.number_of_instances, images=False))
        item.setIcon(QIcon(icon))
        return item

    def add_series(self, archive: LocalArchive, series: Series) -> bool:
        """Add a series of the current study that reached the store after the study was shown
        (a progressive retrieval), in series-number order before the priors; False if shown."""
        if self._item_of(series.series_instance_uid) is not None:
            return False
        key = (series.series_number is None, series.series_number or 0)
        row = self.count()
        for i in range(self.count()):
            other = self.item(i).data(SERIES_ROLE)
            if other is None:  # a prior's header: the current study's series end here
                row = i
                break
            if (other.series_number is None, other.series_number or 0) > key:
                row = i
                break
        self.insertItem(row, self._series_item(archive, series))
        return True

    def set_progress(self, series_instance_uid: str, received: int, expected: int) -> None:
        """Show a progress bar (received/expected) under a series while it is retrieved."""
        item = self._item_of(series_instance_uid)
        if item is None or self.progress(series_instance_uid) == (received, expected):
            return
        item.setData(PROGRESS_ROLE, (received, expected))
        series = item.data(SERIES_ROLE)
        if series is not None:
            item.setText(_label(series, expected, item.data(IMAGES_ROLE) is not False))

    def clear_progress(self, series_instance_uid: str, count: int | None = None) -> None:
        """The series is complete: no bar; ``count`` images in the label when given."""
        item = self._item_of(series_instance_uid)
        if item is None:
            return
        item.setData(PROGRESS_ROLE, None)
        series = item.data(SERIES_ROLE)
        if series is not None and count is not None:
            item.setText(_label(series, count, item.data(IMAGES_ROLE) is not False))

    def progress(self, series_instance_uid: str) -> tuple[int, int] | None:
        """The (received, expected) a series' bar shows; None when it shows none."""
        item = self._item_of(series_instance_uid)
        value = item.data(PROGRESS_ROLE) if item is not None else None
        return tuple(value) if value else None  # type: ignore[return-value]

    def set_thumbnail(self, archive: LocalArchive, series_instance_uid: str) -> None:
        """Draw a series' thumbnail again from what the store holds now."""
        item = self._item_of(series_instance_uid)
        if item is None:
            return
        try:
            stack = ImageStack.open(archive, series_instance_uid)
            item.setIcon(QIcon(QPixmap.fromImage(thumbnail_image(stack))))
        except WorkstationError as exc:
            log.info("no thumbnail for a series: %s", type(exc).__name__)

    def _item_of(self, series_instance_uid: str) -> QListWidgetItem | None:
        for i in range(self.count()):
            item = self.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == series_instance_uid:
                return item
        return None

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


def _label(series: Series, count: int, images: bool = True) -> str:
    """Number, modality, description and count; a series without images counts objects."""
    counted = (
        QCoreApplication.translate("SeriesBrowser", "%n image(s)", "", count)
        if images
        else QCoreApplication.translate("SeriesBrowser", "%n object(s)", "", count)
    )
    return (
        f"{series.series_number if series.series_number is not None else '-'} "
        f"{series.modality}\n{series.series_description[:24]}\n" + counted
    )


class _ProgressDelegate(QStyledItemDelegate):
    """Paints a series item as usual, plus a progress bar "n/N" while it is retrieved."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(SERIES_ROLE) is not None:
            size.setHeight(size.height() + _BAR_HEIGHT + 4)
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        progress = index.data(PROGRESS_ROLE)
        if index.data(SERIES_ROLE) is None:
            super().paint(painter, option, index)
            return
        rect = QRect(option.rect)
        item_option = QStyleOptionViewItem(option)
        item_option.rect = rect.adjusted(0, 0, 0, -(_BAR_HEIGHT + 4))
        super().paint(painter, item_option, index)
        if not progress:
            return
        received, expected = progress
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(
            rect.left() + 6, rect.bottom() - _BAR_HEIGHT - 1, rect.width() - 12, _BAR_HEIGHT
        )
        bar.minimum = 0
        bar.maximum = max(1, expected)
        bar.progress = min(received, max(1, expected))
        bar.text = f"{received}/{expected}"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


def _placeholder(text: str) -> QPixmap:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor("#101214"))
    p = QPainter(pix)
    p.setPen(QColor("#8a9099"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix
