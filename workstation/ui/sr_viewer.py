"""A readable view of any SR document (this program's or another system's), with the prior
reports of a comparison a click away.

The text comes from :func:`workstation.reporting.pdf.sr_blocks` (the same walk of the content
tree, PS3.3 C.17.3, that the PDF export uses), shown as rich text: the title, patient, study
and status lines, section headings, narrative paragraphs, findings and measurements with their
units, and image references as links that ask the viewer to show the image. Qt lays out
right-to-left scripts itself, so the text is given as written; each paragraph says its own
direction, so an English report stays left to right inside an Arabic interface.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from PySide6.QtCore import QCoreApplication, QUrl, Signal
from PySide6.QtWidgets import QLabel, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.reporting.pdf import (
    Block,
    BlockKind,
    ImageDescriber,
    base_is_rtl,
    sr_blocks,
)
from workstation.reporting.signing import (
    archive_image_describer,
    latest_signed_report,
    report_chain,
)

__all__ = ["ReportDocument", "SrViewer", "blocks_html", "study_report_documents"]

_IMAGE_SCHEME = "sr-image"


def _tr(text: str) -> str:
    return QCoreApplication.translate("SrViewer", text)


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """One tab of the viewer: a label ("Current report", "Prior 2025-11-20") and its SR(s),
    newest first (an addendum, then the report it amends)."""

    label: str
    datasets: tuple[Dataset, ...]


def blocks_html(blocks: Sequence[Block]) -> str:
    """Blocks as the HTML subset QTextDocument shows (headings, paragraphs, links)."""
    out = ["<html><body style='font-size:10.5pt'>"]
    for b in blocks:
        text = html.escape(b.text).replace("\n", "<br/>")
        # Explicit both ways: without it QTextBrowser lays an English paragraph out right to
        # left in an Arabic interface ("None." shows as ".None").
        direction = " dir='rtl'" if base_is_rtl(b.text) else " dir='ltr'"
        indent = 16 * max(b.level - 1, 0)
        if b.kind is BlockKind.TITLE:
            out.append(f"<h2{direction}>{text}</h2>")
        elif b.kind is BlockKind.META:
            out.append(f"<p{direction} style='margin:0; color:#8a8a8a; font-size:9pt'>{text}</p>")
        elif b.kind is BlockKind.HEADING:
            tag = "h3" if b.level <= 1 else "h4"
            out.append(f"<{tag}{direction} style='margin-bottom:2px'>{text}</{tag}>")
        elif b.kind is BlockKind.PARAGRAPH:
            out.append(f"<p{direction} style='margin:2px 0 6px {indent}px'>{text}</p>")
        elif b.kind is BlockKind.ITEM:
            out.append(f"<p{direction} style='margin:1px 0 1px {indent}px'>&#8226; {text}</p>")
        elif b.kind is BlockKind.IMAGE:
            body = text
            if b.image is not None and b.image[1]:
                frame = b.image[2] or 0
                href = f"{_IMAGE_SCHEME}:{b.image[1]}?frame={frame}"
                body = f"<a href='{html.escape(href)}'>{text}</a>"
            out.append(
                f"<p{direction} style='margin:0 0 2px {indent + 12}px; font-size:9pt'>{body}</p>"
            )
        elif b.kind is BlockKind.RULE:
            out.append("<hr/>")
    out.append("</body></html>")
    return "\n".join(out)


def study_report_documents(
    archive: LocalArchive, study_instance_uid: str, *, with_priors: bool = True
) -> list[ReportDocument]:
    """The latest signed report of a study (with what it amends) and, for a comparison, the
    latest report of each prior study in the local store, most recent first."""
    docs: list[ReportDocument] = []

    def latest(uid: str) -> tuple[Dataset, ...] | None:
        try:
            stored = latest_signed_report(archive, uid)
            return tuple(report_chain(archive, stored.dataset()))
        except WorkstationError:
            return None

    current = latest(study_instance_uid)
    if current:
        docs.append(ReportDocument(_tr("Current report"), current))
    if with_priors:
        for prior in archive.priors(study_instance_uid):
            chain = latest(prior.study.study_instance_uid)
            if chain:
                d = prior.study.study_date
                when = f"{d[0:4]}-{d[4:6]}-{d[6:8]}" if len(d) >= 8 else _tr("undated")
                docs.append(ReportDocument(_tr("Prior %1").replace("%1", when), chain))
    return docs


class SrViewer(QWidget):
    """Shows SR documents as readable text, one tab per report (current, priors).

    ``image_activated(SOP Instance UID, frame)`` is emitted when the reader clicks an image
    reference (frame 0 when the image is not multi-frame), so the viewer can show it.
    """

    image_activated = Signal(str, int)

    def __init__(
        self, describe_image: ImageDescriber | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.describe_image = describe_image
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.empty = QLabel(_tr("No report to show."), self)
        self.empty.setStyleSheet("color: #888; padding: 12px")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(self.tabs)
        self.tabs.hide()
        self._browsers: list[QTextBrowser] = []
        self._blocks: list[list[Block]] = []

    # -- showing ---------------------------------------------------------------------------

    def show_dataset(self, ds: Dataset, label: str | None = None) -> None:
        """Show one SR document (of any origin), its tab labelled ``label`` ("Report")."""
        self.set_documents([ReportDocument(label or _tr("Report"), (ds,))])

    def set_documents(self, documents: Sequence[ReportDocument]) -> None:
        """Show these reports, one tab each, the first selected."""
        self.tabs.clear()
        self._browsers.clear()
        self._blocks.clear()
        for doc in documents:
            blocks = self._document_blocks(doc)
            browser = QTextBrowser(self.tabs)
            browser.setOpenLinks(False)
            browser.anchorClicked.connect(self._anchor_clicked)
            browser.setHtml(blocks_html(blocks))
            self.tabs.addTab(browser, doc.label)
            self._browsers.append(browser)
            self._blocks.append(blocks)
        self.tabs.setVisible(bool(documents))
        self.empty.setVisible(not documents)

    def show_study(self, archive: LocalArchive, study_instance_uid: str) -> int:
        """Show the study's latest signed report and its priors' reports; returns how many."""
        if self.describe_image is None:
            self.describe_image = archive_image_describer(archive)
        docs = study_report_documents(archive, study_instance_uid)
        self.set_documents(docs)
        return len(docs)

    def _document_blocks(self, doc: ReportDocument) -> list[Block]:
        blocks: list[Block] = []
        for n, ds in enumerate(doc.datasets):
            try:
                part = sr_blocks(ds, self.describe_image)
            except WorkstationError as exc:
                part = [
                    Block(BlockKind.TITLE, _tr("Unreadable report")),
                    Block(BlockKind.META, str(exc)),
                ]
            if n:
                blocks.append(Block(BlockKind.RULE))
                part[0] = Block(
                    BlockKind.HEADING, _tr("Earlier report: %1").replace("%1", part[0].text), 1
                )
            blocks.extend(part)
        return blocks

    # -- reading back (tests, copy to clipboard) ---------------------------------------------

    @property
    def count(self) -> int:
        return self.tabs.count()

    def plain_text(self, index: int | None = None) -> str:
        """The text of a tab as the reader sees it (the current tab by default)."""
        i = self.tabs.currentIndex() if index is None else index
        if not 0 <= i < len(self._browsers):
            return ""
        return self._browsers[i].toPlainText()

    def blocks(self, index: int = 0) -> list[Block]:
        return list(self._blocks[index]) if 0 <= index < len(self._blocks) else []

    def _anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() != _IMAGE_SCHEME:
            return
        sop = url.path()
        frame = 0
        query = url.query()
        if query.startswith("frame="):
            try:
                frame = int(query.split("=", 1)[1])
            except ValueError:
                frame = 0
        self.image_activated.emit(sop, frame)
