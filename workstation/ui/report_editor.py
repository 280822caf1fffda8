"""The report editor beside the images: the template's fields, autotext, measurements, key
images, a "normal" shortcut, undo, autosaved drafts, and signing.

- Fields of the chosen template (``workstation.reporting.templates``) in report order, in tab
  order: text, choice, number and measurement fields, then each section's free text.
- Autotext: typing ``.name`` and a space expands the reader's saved phrase ``name`` (F3 expands
  the word before the cursor without the dot). Phrases are kept per reader in a small JSON
  file (:class:`MacroStore`, ``<config>/workstation/macros.json``).
- A viewer measurement is inserted with its value, unit and image: into a focused measurement
  field, or as a phrase at the cursor of a section's text plus a NUM item (TID 1400) that
  refers to the image it was made on.
- Key images marked in the viewer are listed; signing references them (and measured images).
- "Normal" (Ctrl+Shift+N) fills every empty field and section with the template's normal text;
  nothing the reader wrote is overwritten. Undo (Ctrl+Z) steps back through edits, normal
  fills, expansions and insertions.
- Every change goes through :class:`~workstation.reporting.drafts.DraftAutosaver`; reopening
  the study restores the draft and says when it was saved.
- Dictation (``ui/dictation.py``): hold F4 or toggle "Dictate" to speak into the focused
  field. Partial text shows grey and italic at the cursor while the reader speaks; the final,
  normalised text goes in at the cursor as an undoable change (so autosave keeps it). Voice
  commands: "next field", "previous field", "insert normal", "scratch that", "new paragraph".
  Without a microphone or an engine the button is off and a status line says why; typing is
  never affected.
- Sign preliminary / Sign final (:mod:`workstation.reporting.signing`): final asks for the
  signer's name and organisation when they are not configured, an incomplete study asks for
  an acknowledgement, and the outbox state of the study's reports is shown.

Language: the interface's texts are translated (``self.tr``, ``resources/i18n``); the report
itself (template, fields, section texts, measurements) is English and stays left to right
inside a mirrored Arabic interface.

The widget is self-contained: it talks to its owner through signals only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QDoubleValidator,
    QFont,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, NotFoundError, StoreError, WorkstationError
from workstation.core.measure import Measurement as ViewerMeasurement
from workstation.core.model import Study, format_person_name
from workstation.core.paths import user_config_dir
from workstation.core.report import (
    Author,
    Code,
    GraphicType,
    ImageCoordinates,
    ImageRef,
    Measurement,
    Report,
    ReportSection,
)
from workstation.reporting.dictation.audio import AudioSource
from workstation.reporting.dictation.commands import parse_value
from workstation.reporting.dictation.session import (
    DictationState,
    EditAction,
    EditKind,
    StreamResult,
    insert_paragraph,
    insert_phrase,
    plan_actions,
    remove_phrase,
)
from workstation.reporting.drafts import Draft, DraftAutosaver, DraftContent, DraftStore
from workstation.reporting.outbox import Outbox, OutboxEntry, OutboxState
from workstation.reporting.signing import (
    CompletenessCheck,
    IncompleteStudyError,
    SignedReport,
    archive_image_describer,
    latest_signed_report,
    measurement_items,
    plane_measurement_items,
    sign_addendum,
    sign_report,
)
from workstation.reporting.templates import (
    FieldKind,
    Template,
    TemplateField,
    TemplateSection,
    TemplateValueError,
)
from workstation.ui.dictation import DictationController
from workstation.viewer.annotations import describe_plane

__all__ = [
    "MACRO_PREFIX",
    "MacroStore",
    "ReportEditor",
    "SignerDialog",
    "expand_macro",
]

log = logging.getLogger(__name__)

MACRO_PREFIX = "."
MACROS_FILE_NAME = "macros.json"
_MACRO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_ITEMS_KEY = "_items"  # draft value holding inserted measurement items (JSON)
_BURST_S = 1.5  # keystrokes in one field closer than this are one undo step
DICTATE_KEY = Qt.Key.Key_F4  # push-to-talk: hold to speak
_UNIT_FACTORS = {("cm", "mm"): 10.0, ("mm", "cm"): 0.1}  # (said, field) -> factor


# =============================================================================================
# Autotext
# =============================================================================================


class MacroStore:
    """Autotext phrases per reader, in a JSON file ``{reader: {name: phrase}}``, written
    through a temporary file and a rename so a crash never leaves half a file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else user_config_dir() / MACROS_FILE_NAME
        self._data: dict[str, dict[str, str]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{self.path}: the autotext file cannot be read ({exc})"
                ) from None
            if not isinstance(data, dict) or not all(
                isinstance(v, dict) and all(isinstance(p, str) for p in v.values())
                for v in data.values()
            ):
                raise ConfigError(f"{self.path}: expected {{reader: {{name: phrase}}}}")
            self._data = {str(r): {str(k): str(p) for k, p in v.items()} for r, v in data.items()}

    def macros(self, reader: str) -> dict[str, str]:
        """The reader's phrases by name."""
        return dict(self._data.get(reader, {}))

    def set(self, reader: str, name: str, phrase: str) -> None:
        """Save (or replace) the phrase ``name`` of ``reader``."""
        if not _MACRO_NAME.match(name):
            raise ConfigError(
                f"an autotext name is 1 to 32 letters, digits, '_' or '-', got {name!r}"
            )
        if not phrase.strip():
            raise ConfigError("an autotext phrase must not be empty")
        self._data.setdefault(reader, {})[name] = phrase
        self._save()

    def remove(self, reader: str, name: str) -> bool:
        removed = self._data.get(reader, {}).pop(name, None) is not None
        if removed:
            self._save()
        return removed

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._data, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StoreError(f"cannot save the autotext file {self.path}: {exc.strerror}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _lookup(macros: Mapping[str, str], name: str) -> str | None:
    if name in macros:
        return macros[name]
    folded = name.casefold()
    for key, phrase in macros.items():
        if key.casefold() == folded:
            return phrase
    return None


def expand_macro(
    text: str, cursor: int, macros: Mapping[str, str], *, explicit: bool = False
) -> tuple[str, int] | None:
    """Expand the autotext before ``cursor``: after a typed separator (space, newline) the
    word ``.name`` before it; with ``explicit`` (F3) the word ending at the cursor, with or
    without the dot. Returns the new text and cursor, or None when there is nothing to expand."""
    if not macros or not 0 < cursor <= len(text):
        return None
    end = cursor
    if not explicit:
        if not text[cursor - 1].isspace():
            return None
        end = cursor - 1
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end]
    if word.startswith(MACRO_PREFIX):
        name = word[len(MACRO_PREFIX) :]
    elif explicit:
        name = word
    else:
        return None
    phrase = _lookup(macros, name) if name else None
    if phrase is None:
        return None
    new = text[:start] + phrase + text[end:]
    return new, cursor + len(phrase) - len(word)


# =============================================================================================
# Inserted measurement items, kept in the draft as JSON
# =============================================================================================


def _code_json(c: Code) -> list[str]:
    return [c.value, c.scheme_designator, c.meaning]


def _item_to_json(m: Measurement) -> dict[str, Any]:
    data: dict[str, Any] = {
        "concept": _code_json(m.concept),
        "value": m.value,
        "unit": _code_json(m.unit),
    }
    if m.image is not None:
        data["image"] = [m.image.sop_class_uid, m.image.sop_instance_uid, m.image.frame_number]
    if m.coordinates is not None:
        data["coords"] = [m.coordinates.graphic_type.value, [list(p) for p in m.coordinates.points]]
    if m.qualifier:
        data["qualifier"] = m.qualifier
    return data


def _item_from_json(data: Mapping[str, Any]) -> Measurement:
    image = None
    if data.get("image"):
        cls, sop, frame = data["image"]
        image = ImageRef(cls, sop, frame)
    coords = None
    if data.get("coords"):
        kind, points = data["coords"]
        coords = ImageCoordinates(GraphicType(kind), tuple(tuple(p) for p in points))
    return Measurement(
        Code(*data["concept"]),
        float(data["value"]),
        Code(*data["unit"]),
        image,
        coords,
        str(data.get("qualifier", "")),
    )


def _value_text(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clock_text(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


_PLACEHOLDER = re.compile(r"%([1-9])")


def _arg(text: str, *values: str) -> str:
    """Put ``values`` into a translated text's ``%1``, ``%2``… in one pass (as QString.arg),
    so a translation may reorder them and a value holding "%2" is left as it is."""
    return _PLACEHOLDER.sub(
        lambda m: values[int(m.group(1)) - 1] if int(m.group(1)) <= len(values) else m.group(0),
        text,
    )


# =============================================================================================
# Dialogs
# =============================================================================================


class SignerDialog(QDialog):
    """Asks who signs: family and given name (PN "Family^Given") and organisation."""

    def __init__(
        self,
        name: str = "",
        organisation: str = "",
        *,
        need_organisation: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Who signs this report?"))
        family, _, rest = name.partition("^")
        given = rest.split("^")[0]
        self.family = QLineEdit(family, self)
        self.given = QLineEdit(given, self)
        self.organisation = QLineEdit(organisation, self)
        self.need_organisation = need_organisation
        form = QFormLayout()
        form.addRow(self.tr("Family name"), self.family)
        form.addRow(self.tr("Given name"), self.given)
        organisation_label = (
            self.tr("Organisation *") if need_organisation else self.tr("Organisation")
        )
        form.addRow(organisation_label, self.organisation)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.problem = QLabel("", self)
        self.problem.setStyleSheet("color: #d66")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

    @property
    def person_name(self) -> str:
        return f"{self.family.text().strip()}^{self.given.text().strip()}"

    def _accept(self) -> None:
        if not self.family.text().strip():
            self.problem.setText(self.tr("The family name is needed."))
            return
        if self.need_organisation and not self.organisation.text().strip():
            self.problem.setText(self.tr("A final report needs the organisation."))
            return
        self.accept()


# =============================================================================================
# The editor
# =============================================================================================


class _ReportTextEdit(QPlainTextEdit):
    """A section's text: written in English, so left to right even in a mirrored interface.

    Qt paints a plain text edit's placeholder in the application's direction (right-aligned,
    "…History" in Arabic) whatever the widget's own, so this edit paints its hint itself.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        option = self.document().defaultTextOption()
        option.setTextDirection(Qt.LayoutDirection.LeftToRight)
        self.document().setDefaultTextOption(option)
        self._hint = ""

    def hint(self) -> str:
        """The grey text shown while the section is empty (its normal text or its title)."""
        return self._hint

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._hint or not self.document().isEmpty():
            return
        painter = QPainter(self.viewport())
        painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        painter.setPen(self.palette().placeholderText().color())
        margin = self.document().documentMargin()
        offset = self.contentOffset()
        area = QRectF(self.viewport().rect()).adjusted(margin, margin, -margin, 0)
        painter.drawText(
            area.translated(offset.x(), offset.y()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
            self._hint,
        )
        painter.end()


class _UndoFilter(QObject):
    """Sends the undo key of every field to the editor's own undo (one history for all)."""

    def __init__(self, editor: ReportEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(
            event, QKeyEvent
        ):
            if event.matches(QKeySequence.StandardKey.Undo):
                if kind == QEvent.Type.KeyPress:
                    self.editor.undo()
                event.accept()
                return True
            if kind == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_F3:
                self.editor.expand_at_cursor(watched)
                return True
        return False


class ReportEditor(QWidget):
    """Writes one study's report with one template, for one reader.

    Signals: ``signed(SignedReport)`` after a report was signed and stored (and queued);
    ``draft_saved(Draft)`` after each autosave; ``status_message(str)`` for the status bar;
    ``image_requested(SOP Instance UID, frame)`` when the reader asks to see a key image.

    Dictation: ``dictation_engine`` ("auto", "whisper", "pocketsphinx"; from the settings'
    ``[dictation] engine``) and ``dictation_model_path`` (``[dictation] model_path``) choose
    the engine of ``self.dictation`` (a :class:`~workstation.ui.dictation.DictationController`).
    """

    signed = Signal(object)
    draft_saved = Signal(object)
    status_message = Signal(str)
    image_requested = Signal(str, int)
    claim_requested = Signal()  # the reader asks to claim the study (see offer_claim)
    _saved_in_thread = Signal(object)
    _save_failed_in_thread = Signal(str)

    def __init__(
        self,
        archive: LocalArchive,
        study_instance_uid: str,
        template: Template,
        reader: str,
        drafts: DraftStore,
        *,
        outbox: Outbox | None = None,
        destinations: Sequence[str] = (),
        macros: MacroStore | None = None,
        signer_name: str = "",
        signer_organisation: str = "",
        signer_role: Code | None = None,
        completeness: CompletenessCheck | None = None,
        after_sign: Callable[[SignedReport], None] | None = None,
        autosave_interval_s: float = 0.5,
        outbox_refresh_ms: int = 1000,
        dictation_engine: str = "auto",
        dictation_model_path: str | os.PathLike[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.archive = archive
        self.study: Study = archive.study(study_instance_uid)
        self.template = template
        self.reader = reader
        self.drafts = drafts
        self.outbox = outbox
        self.destinations = tuple(destinations)
        self.macros = macros or MacroStore()
        self.signer_name = signer_name
        self.signer_organisation = signer_organisation
        self.signer_role = signer_role
        self.completeness = completeness
        self.after_sign = after_sign
        self.last_signed: SignedReport | None = None
        self.last_error = ""
        self.restored: Draft | None = None
        self._describe = archive_image_describer(archive)
        self._applying = False
        self._undo: list[DraftContent] = []
        self._last_edit: tuple[object, float] | None = None
        self._items: list[tuple[str, str | None, Measurement]] = []  # section, field, item
        self._focus_section: str | None = None
        self._focus_field: str | None = None
        self._signing = False
        self._closed = False
        self._frozen = False  # closed, or signed final: no more edits
        self.dictation_engine = dictation_engine
        self.dictate_key: int = int(DICTATE_KEY.value)  # push-to-talk; settable
        self.dictation = DictationController(dictation_engine, dictation_model_path, parent=self)
        self._dictation_target: QWidget | None = None  # the field dictated into
        self._dictated: list[tuple[QWidget, int, str, str]] = []  # scratch-that history
        self._dictation_available = False

        self._build_ui()
        self._saved_in_thread.connect(self._on_saved)
        self._save_failed_in_thread.connect(self._on_save_failed)
        self._restore_draft()
        self._state = self.content()
        self.autosaver = DraftAutosaver(
            drafts,
            self.study.study_instance_uid,
            reader,
            min_interval_s=autosave_interval_s,
            max_delay_s=max(1.0, autosave_interval_s),
            on_saved=self._saved_in_thread.emit,
            on_error=lambda exc: self._save_failed_in_thread.emit(str(exc)),
        )
        self.refresh_key_images()
        self.refresh_measurements()
        self._outbox_timer = QTimer(self)
        self._outbox_timer.setInterval(outbox_refresh_ms)
        self._outbox_timer.timeout.connect(self.refresh_outbox)
        if outbox is not None:
            self._outbox_timer.start()
        self.refresh_outbox()
        self.dictation.partial_text.connect(self._on_dictation_partial)
        self.dictation.final_result.connect(self._on_dictation_final)
        self.dictation.failed.connect(self._on_dictation_failed)
        self.dictation.state_changed.connect(self._on_dictation_state)
        self.dictation.availability_changed.connect(self._on_dictation_availability)
        self.refresh_dictation()
        self.final_sop_instance_uid: str | None = None  # what an addendum amends
        self._open_signed_final()

    # -- building ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.field_widgets: dict[str, QWidget] = {}
        self.section_edits: dict[str, QPlainTextEdit] = {}
        self.section_item_labels: dict[str, QLabel] = {}
        self.section_headings: dict[str, QLabel] = {}
        self._undo_filter = _UndoFilter(self)

        patient = format_person_name(self.study.patient.patient_name) or self.tr("(no name)")
        self.title = QLabel(f"<b>{self.template.title}</b> &nbsp; {patient}", self)
        self.draft_label = QLabel(self.tr("New report"), self)
        self.draft_label.setStyleSheet("color: #999")

        form_host = QWidget(self)
        # The report is written in English whatever the interface language: its fields and
        # texts stay left to right in an Arabic (mirrored) interface, so "History…" keeps its
        # punctuation on the right.
        form_host.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.content_area = form_host
        form = QVBoxLayout(form_host)
        form.setContentsMargins(4, 4, 4, 4)
        order: list[QWidget] = []
        for section in self.template.sections:
            heading = QLabel(f"<b>{section.display_title}</b>", form_host)
            self.section_headings[section.key] = heading
            form.addWidget(heading)
            if section.fields:
                fields = QFormLayout()
                fields.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                for f in section.fields:
                    w = self._field_widget(f, section, form_host)
                    row: QWidget = w
                    if f.unit_text:
                        row = QWidget(form_host)
                        h = QHBoxLayout(row)
                        h.setContentsMargins(0, 0, 0, 0)
                        h.addWidget(w, 1)
                        h.addWidget(QLabel(f.unit_text, row))
                    fields.addRow(f.label, row)
                    order.append(w)
                form.addLayout(fields)
            edit = _ReportTextEdit(form_host)
            edit.setObjectName(f"section:{section.key}")
            edit.set_hint(section.normal or f"{section.display_title}…")
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(64)
            edit.textChanged.connect(lambda key=section.key: self._section_changed(key))
            edit.installEventFilter(self._undo_filter)
            edit.installEventFilter(self)
            self.section_edits[section.key] = edit
            form.addWidget(edit)
            items = QLabel("", form_host)
            items.setWordWrap(True)  # a long line must not widen the form past the scroll area
            items.setStyleSheet("color: #8ab; margin-left: 8px")
            items.hide()
            self.section_item_labels[section.key] = items
            form.addWidget(items)
            order.append(edit)
        form.addStretch(1)
        for a, b in itertools.pairwise(order):
            QWidget.setTabOrder(a, b)
        self.tab_order = order

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form_host)
        # A scroll area does not pass its widget's minimum width on: narrower, the form would
        # be cut at the side away from its alignment, under the vertical scroll bar (the
        # section titles' side in a mirrored interface, the fields' in English).
        scroll.setMinimumWidth(
            form_host.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )
        self.content_scroll = scroll

        self.measurement_list = QListWidget(self)
        self.measurement_list.setMaximumHeight(90)
        # Measurements and key images read as report text (English): left to right.
        self.measurement_list.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.measurement_list.itemDoubleClicked.connect(lambda _i: self._insert_selected())
        self.insert_button = QPushButton(self.tr("Insert measurement"), self)
        self.insert_button.clicked.connect(self._insert_selected)
        self.key_image_list = QListWidget(self)
        self.key_image_list.setMaximumHeight(70)
        self.key_image_list.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.key_image_list.itemDoubleClicked.connect(self._key_image_activated)

        self.normal_button = QPushButton(self.tr("Normal"), self)
        self.normal_button.setToolTip(
            self.tr("Fill every empty field with the template's normal text")
        )
        self.normal_button.clicked.connect(self.fill_normal)
        self.undo_button = QPushButton(self.tr("Undo"), self)
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.setEnabled(False)
        self.sign_preliminary_button = QPushButton(self.tr("Sign preliminary"), self)
        self.sign_preliminary_button.clicked.connect(lambda: self.sign(final=False))
        self.sign_final_button = QPushButton(self.tr("Sign final"), self)
        self.sign_final_button.setDefault(True)
        self.sign_final_button.clicked.connect(lambda: self.sign(final=True))
        # A study with a signed final report takes an addendum (PS3.3 C.17.2.3), not a
        # second final report: shown once there is one.
        self.addendum_button = QPushButton(self.tr("Addendum…"), self)
        self.addendum_button.setToolTip(
            self.tr("Add to the signed final report: a new final report that refers to it")
        )
        self.addendum_button.clicked.connect(self.write_addendum)
        self.addendum_button.hide()
        # A study on the shared worklist that this reader has not claimed: read-only until
        # they claim it (two readers must never read one study unknowingly).
        self.claim_button = QPushButton(self.tr("Claim"), self)
        self.claim_button.setToolTip(self.tr("Claim this study on the worklist to report it"))
        self.claim_button.clicked.connect(self.claim_requested)
        self.claim_button.hide()
        self.outbox_label = QLabel("", self)
        self.outbox_label.setWordWrap(True)
        self.outbox_label.setStyleSheet("color: #aaa")

        self.dictate_button = QPushButton(self.tr("Dictate"), self)
        self.dictate_button.setCheckable(True)
        self.dictate_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field keeps focus
        self.dictate_button.toggled.connect(self._dictate_toggled)
        self.dictation_status = QLabel("", self)
        self.dictation_status.setObjectName("dictation_status")
        self.dictation_status.setWordWrap(True)
        self.dictation_status.setStyleSheet("color: #999")
        self.dictation_preview = QLabel("", self)
        self.dictation_preview.setObjectName("dictation_preview")
        self.dictation_preview.setStyleSheet("color: #8c8c8c; background: transparent")
        italic = QFont(self.dictation_preview.font())
        italic.setItalic(True)
        self.dictation_preview.setFont(italic)
        self.dictation_preview.setWordWrap(True)
        self.dictation_preview.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.dictation_preview.hide()

        for keys, slot in (
            (QKeySequence("Ctrl+Shift+N"), self.fill_normal),
            (QKeySequence(QKeySequence.StandardKey.Undo), self.undo),
        ):
            shortcut = QShortcut(keys, self, slot)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        buttons = QHBoxLayout()
        buttons.addWidget(self.normal_button)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.dictate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.sign_preliminary_button)
        buttons.addWidget(self.sign_final_button)
        buttons.addWidget(self.addendum_button)
        buttons.addWidget(self.claim_button)
        measure_row = QHBoxLayout()
        measure_row.addWidget(QLabel(self.tr("Measurements"), self))
        measure_row.addStretch(1)
        measure_row.addWidget(self.insert_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.draft_label)
        layout.addWidget(scroll, 1)
        layout.addLayout(measure_row)
        layout.addWidget(self.measurement_list)
        layout.addWidget(QLabel(self.tr("Key images (referenced when signed)"), self))
        layout.addWidget(self.key_image_list)
        layout.addLayout(buttons)
        layout.addWidget(self.dictation_status)
        layout.addWidget(self.outbox_label)

    def _field_widget(self, f: TemplateField, section: TemplateSection, host: QWidget) -> QWidget:
        w: QWidget
        if f.kind is FieldKind.CHOICE:
            combo = QComboBox(host)
            combo.addItem("")
            combo.addItems(list(f.choices))
            combo.currentIndexChanged.connect(lambda _i, key=f.key: self._field_changed(key))
            w = combo
        else:
            line = QLineEdit(host)
            if f.kind in (FieldKind.NUMBER, FieldKind.MEASUREMENT):
                validator = QDoubleValidator(line)
                validator.setNotation(QDoubleValidator.Notation.StandardNotation)
                line.setValidator(validator)
            if f.normal is not None:
                line.setPlaceholderText(str(f.normal))
            line.textChanged.connect(lambda _t, key=f.key: self._field_changed(key))
            line.textEdited.connect(lambda _t, w=line: self._line_edited(w))
            w = line
        w.setObjectName(f"field:{f.key}")
        w.setProperty("section_key", section.key)
        w.installEventFilter(self._undo_filter)
        w.installEventFilter(self)
        self.field_widgets[f.key] = w
        return w

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and isinstance(event, QKeyEvent):
            if event.key() == self.dictate_key:
                self._dictate_key(event)
                return True
            return False
        if kind == QEvent.Type.FocusIn:
            if isinstance(watched, QWidget) and watched in self.tab_order:
                self._dictation_target = watched
            name = watched.objectName()
            if name.startswith("section:"):
                self._focus_section, self._focus_field = name.split(":", 1)[1], None
            elif name.startswith("field:"):
                self._focus_field = name.split(":", 1)[1]
                self._focus_section = str(watched.property("section_key"))
        return False

    # -- the content ------------------------------------------------------------------------

    def _field_value(self, f: TemplateField) -> str | float | None:
        w = self.field_widgets[f.key]
        if isinstance(w, QComboBox):
            return w.currentText() or None
        assert isinstance(w, QLineEdit)
        text = w.text().strip()
        if not text:
            return None
        if f.kind in (FieldKind.NUMBER, FieldKind.MEASUREMENT):
            try:
                return float(text.replace(",", "."))
            except ValueError:
                return text  # the template check names the field
        return text

    def content(self) -> DraftContent:
        """What the editor holds now, as a draft."""
        values: dict[str, str | int | float] = {}
        for f in self.template.fields.values():
            v = self._field_value(f)
            if v is not None:
                values[f.key] = v
        if self._items:
            values[_ITEMS_KEY] = json.dumps(
                [{"section": s, "field": fk, "item": _item_to_json(m)} for s, fk, m in self._items],
                sort_keys=True,
            )
        texts = {
            key: edit.toPlainText()
            for key, edit in self.section_edits.items()
            if edit.toPlainText()
        }
        return DraftContent(self.template.id, texts, values)

    def apply_content(self, content: DraftContent) -> None:
        """Show ``content`` (a restored draft, an undo step); unknown keys are ignored."""
        self._applying = True
        try:
            for key, w in self.field_widgets.items():
                value = content.values.get(key)
                if isinstance(w, QComboBox):
                    idx = w.findText(str(value)) if value is not None else 0
                    w.setCurrentIndex(max(idx, 0))
                elif isinstance(w, QLineEdit):
                    if value is None:
                        w.setText("")
                    elif isinstance(value, float):
                        w.setText(_value_text(value))
                    else:
                        w.setText(str(value))
            for key, edit in self.section_edits.items():
                text = content.section_texts.get(key, "")
                if edit.toPlainText() != text:
                    edit.setPlainText(text)
            self._items = []
            raw = content.values.get(_ITEMS_KEY)
            if isinstance(raw, str) and raw:
                try:
                    for entry in json.loads(raw):
                        self._items.append(
                            (entry["section"], entry.get("field"), _item_from_json(entry["item"]))
                        )
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("inserted measurements of a draft are unreadable: %s", exc)
            self._show_items()
        finally:
            self._applying = False

    def report(self) -> Report:
        """The DRAFT report the editor holds (raises TemplateValueError for a bad value)."""
        values: dict[str, object] = {}
        for f in self.template.fields.values():
            v = self._field_value(f)
            if v is not None:
                values[f.key] = v
        extra: dict[str, list[Measurement]] = {}
        for section, field_key, item in self._items:
            if field_key:
                typed = values.get(field_key)
                if isinstance(typed, float) and abs(typed - item.value) < 1e-9:
                    values[field_key] = item  # the measurement, with its image
            else:
                extra.setdefault(section, []).append(item)
        texts = {k: e.toPlainText() for k, e in self.section_edits.items() if e.toPlainText()}
        author = Author(
            self.signer_name or "Unknown^Reader", self.signer_organisation, self.signer_role
        )
        report = self.template.build_report(self.study, author, values, texts)
        if extra:
            sections: list[ReportSection] = []
            for tsec, rsec in zip(self.template.sections, report.sections, strict=True):
                more = tuple(extra.get(tsec.key, ()))
                sections.append(
                    ReportSection(rsec.heading, rsec.text, (*rsec.items, *more)) if more else rsec
                )
            report = dataclasses.replace(report, sections=tuple(sections))
        return report

    # -- changes, undo, autosave -------------------------------------------------------------

    def _changed(self, source: object) -> None:
        if self._applying or self._frozen:
            return
        now = time.monotonic()
        new_burst = (
            self._last_edit is None
            or self._last_edit[0] is not source
            or now - self._last_edit[1] > _BURST_S
        )
        if new_burst:
            self._push_undo(self._state)
        self._last_edit = (source, now)
        self._commit_change()

    def _commit_change(self) -> None:
        self._state = self.content()
        self.autosaver.update(self._state)
        self.draft_label.setText(self.tr("Saving…"))

    def _push_undo(self, state: DraftContent) -> None:
        if not self._undo or self._undo[-1] != state:
            self._undo.append(state)
        self.undo_button.setEnabled(True)

    def _programmatic(self, change: Callable[[], None]) -> None:
        """One undo step for a change made by the editor (normal, macro, insertion)."""
        if self._frozen:
            return
        self._push_undo(self._state)
        self._applying = True
        try:
            change()
        finally:
            self._applying = False
        self._last_edit = None
        self._commit_change()

    def undo(self) -> bool:
        """Go back one step; False when there is nothing to undo."""
        if not self._undo or self._frozen:
            return False
        state = self._undo.pop()
        self.apply_content(state)
        self._last_edit = None
        self._state = self.content()
        self.autosaver.update(self._state)
        self.undo_button.setEnabled(bool(self._undo))
        self.status_message.emit(self.tr("Undone"))
        return True

    def _field_changed(self, key: str) -> None:
        self._changed(self.field_widgets[key])

    def _section_changed(self, key: str) -> None:
        if self._applying or self._frozen:
            return
        edit = self.section_edits[key]
        cursor = edit.textCursor()
        expanded = expand_macro(
            edit.toPlainText(), cursor.position(), self.macros.macros(self.reader)
        )
        if expanded is not None:
            self._changed(edit)  # the typed separator is its own step
            self._set_plain_text(edit, *expanded)
            return
        self._changed(edit)

    def _line_edited(self, line: QLineEdit) -> None:
        expanded = expand_macro(line.text(), line.cursorPosition(), self.macros.macros(self.reader))
        if expanded is not None:
            text, pos = expanded

            def apply() -> None:
                line.setText(text)
                line.setCursorPosition(pos)

            self._programmatic(apply)

    def _set_plain_text(self, edit: QPlainTextEdit, text: str, pos: int) -> None:
        def apply() -> None:
            edit.setPlainText(text)
            c = edit.textCursor()
            c.setPosition(min(pos, len(text)))
            edit.setTextCursor(c)

        self._programmatic(apply)

    def expand_at_cursor(self, widget: object) -> bool:
        """F3: expand the word before the cursor of ``widget`` as autotext (dot optional)."""
        macros = self.macros.macros(self.reader)
        if isinstance(widget, QPlainTextEdit):
            got = expand_macro(
                widget.toPlainText(), widget.textCursor().position(), macros, explicit=True
            )
            if got is not None:
                self._set_plain_text(widget, *got)
                return True
        elif isinstance(widget, QLineEdit):
            got = expand_macro(widget.text(), widget.cursorPosition(), macros, explicit=True)
            if got is not None:
                text, pos = got

                def apply() -> None:
                    widget.setText(text)
                    widget.setCursorPosition(pos)

                self._programmatic(apply)
                return True
        return False

    def fill_normal(self) -> int:
        """Fill every empty field and section with the template's normal value and text; the
        reader's own words stay. Returns how many were filled (one undo step)."""
        normals = self.template.normal_values()
        texts = self.template.normal_texts()
        combos: list[tuple[QComboBox, int]] = []
        lines: list[tuple[QLineEdit, str]] = []
        edits: list[tuple[QPlainTextEdit, str]] = []
        for key, value in normals.items():
            w = self.field_widgets.get(key)
            if isinstance(w, QComboBox) and not w.currentText():
                idx = w.findText(str(value))
                if idx > 0:
                    combos.append((w, idx))
            elif isinstance(w, QLineEdit) and not w.text().strip():
                lines.append((w, _value_text(value) if isinstance(value, float) else str(value)))
        for key, text in texts.items():
            edit = self.section_edits.get(key)
            if edit is not None and not edit.toPlainText().strip():
                edits.append((edit, text))

        def fill() -> None:
            for combo, idx in combos:
                combo.setCurrentIndex(idx)
            for line, shown in lines:
                line.setText(shown)
            for edit, text in edits:
                edit.setPlainText(text)

        count = len(combos) + len(lines) + len(edits)
        if count:
            self._programmatic(fill)
            self.status_message.emit(self.tr("Fields filled with normal text: %n", "", count))
        return count

    # -- measurements and key images ----------------------------------------------------------

    def refresh_measurements(self) -> None:
        """List the study's viewer measurements (call when the viewer adds one)."""
        self.measurement_list.clear()
        for m in self.archive.measurements(self.study.study_instance_uid):
            if m.plane is not None:
                where = describe_plane(m.plane)
            else:
                where = self._describe("", m.sop_instance_uid, m.frame_number) or self.tr("image")
            name = f"{m.name}: " if m.name else ""
            text = f"{name}{m.kind.value} {_value_text(m.value)} {m.unit}  ({where})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, m)
            self.measurement_list.addItem(item)

    def _insert_selected(self) -> None:
        item = self.measurement_list.currentItem()
        if item is None and self.measurement_list.count():
            item = self.measurement_list.item(self.measurement_list.count() - 1)
        if item is not None:
            self.insert_measurement(item.data(Qt.ItemDataRole.UserRole))

    def insert_measurement(
        self,
        measurement: ViewerMeasurement,
        *,
        field_key: str | None = None,
        section_key: str | None = None,
    ) -> bool:
        """Insert a viewer measurement: into ``field_key`` (or the focused measurement field
        when its unit fits), else as a phrase at the cursor of ``section_key``'s text (or the
        focused section, else Findings) plus a NUM item referring to its image."""
        modality = ""
        if measurement.plane is not None:  # an MPR plane: no stored image to refer to
            with contextlib.suppress(WorkstationError):
                modality = self.archive.one_series(measurement.plane.series_instance_uid).modality
            try:
                items = plane_measurement_items(measurement, modality)
            except WorkstationError as exc:
                self._error(str(exc))
                return False
        else:
            inst = self.archive.index.instance(measurement.sop_instance_uid)
            if inst is None:
                self._error(self.tr("The measured image is not in the local store."))
                return False
            with contextlib.suppress(WorkstationError):
                modality = self.archive.one_series(inst.series_instance_uid).modality
            try:
                items = measurement_items(
                    measurement, inst, modality, self.archive.calibration_of(inst)
                )
            except WorkstationError as exc:
                self._error(str(exc))
                return False
        fields = self.template.fields
        target_field = field_key or self._focus_field
        f = fields.get(target_field) if target_field else None
        if f is not None and f.kind is FieldKind.MEASUREMENT:
            unit = f.unit_code
            item = next((i for i in items if unit is None or i.unit.same_concept(unit)), None)
            if item is not None:
                line = self.field_widgets[f.key]
                assert isinstance(line, QLineEdit)
                section = str(line.property("section_key"))

                def set_field() -> None:
                    self._items = [e for e in self._items if e[1] != f.key]
                    self._items.append((section, f.key, item))
                    line.setText(_value_text(item.value))
                    self._show_items()

                self._programmatic(set_field)
                return True
        section = section_key or self._focus_section or ""
        if section not in self.section_edits:
            section = (
                "findings" if "findings" in self.section_edits else next(iter(self.section_edits))
            )
        edit = self.section_edits[section]
        if measurement.plane is not None:
            where = describe_plane(measurement.plane)
        else:
            where = self._describe("", measurement.sop_instance_uid, measurement.frame_number)
        first = items[0]
        unit_shown = {"mm2": "mm²", "deg": "°"}.get(first.unit.value, first.unit.value)
        phrase = f"{first.concept.meaning.lower()} {_value_text(first.value)}"
        phrase += unit_shown if unit_shown == "°" else f" {unit_shown}"
        if first.qualifier:  # a user calibration travels with the value, in text too
            phrase += f" ({first.qualifier})"
        if where:
            phrase += f" ({where})"

        def insert() -> None:
            cursor = edit.textCursor()
            before = edit.toPlainText()[: cursor.position()]
            glue = "" if not before or before[-1].isspace() else " "
            cursor.insertText(glue + phrase)
            edit.setTextCursor(cursor)
            self._items.extend((section, None, i) for i in items)
            self._show_items()

        self._programmatic(insert)
        self.status_message.emit(self.tr("Inserted %1").replace("%1", phrase))
        return True

    def _show_items(self) -> None:
        by_section: dict[str, list[str]] = {}
        for section, field_key, m in self._items:
            where = ""
            if m.image is not None:
                where = (
                    self._describe(
                        m.image.sop_class_uid, m.image.sop_instance_uid, m.image.frame_number
                    )
                    or ""
                )
            label = f"{m.concept.meaning} {_value_text(m.value)} {m.unit.value}"
            if field_key:
                label += (
                    f" → {self.template.fields[field_key].label}"
                    if field_key in self.template.fields
                    else ""
                )
            by_section.setdefault(section, []).append(
                f"• {label}" + (f" ({where})" if where else "")
            )
        for key, widget in self.section_item_labels.items():
            shown = by_section.get(key, [])
            widget.setText("\n".join(shown))
            widget.setVisible(bool(shown))

    def refresh_key_images(self) -> None:
        """List the key images the reader marked (call when the viewer marks one)."""
        self.key_image_list.clear()
        for key in self.archive.key_images(self.study.study_instance_uid):
            text = self._describe("", key.sop_instance_uid, key.frame_number) or self.tr("image")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, (key.sop_instance_uid, key.frame_number))
            self.key_image_list.addItem(item)

    def _key_image_activated(self, item: QListWidgetItem) -> None:
        sop, frame = item.data(Qt.ItemDataRole.UserRole)
        self.image_requested.emit(sop, int(frame or 0))

    # -- dictation ---------------------------------------------------------------------------

    def refresh_dictation(self) -> bool:
        """Check the engine and the microphone; the Dictate button and the status line say
        whether the reader can dictate, and why not. Returns whether dictation is available."""
        reason = self.dictation.unavailable_reason()
        self._set_dictation_available(reason is None, reason or "")
        if reason is None:
            self.dictation.preload()
        return reason is None

    def _set_dictation_available(self, available: bool, reason: str) -> None:
        self._dictation_available = available
        usable = available and not self._frozen
        self.dictate_button.setEnabled(usable)
        if available:
            self.dictate_button.setToolTip(
                self.tr("Hold F4 (or press Dictate) and speak into the field")
            )
            if self.dictation.state is DictationState.IDLE:
                self.dictation_status.setText("")
        else:
            why = self._typing_works(reason)
            self.dictate_button.setToolTip(why)
            self.dictation_status.setText(why)

    def _typing_works(self, reason: str) -> str:
        return self.tr("%1. Typing works as always.").replace("%1", reason)

    def _on_dictation_availability(self, available: bool, reason: str) -> None:
        self._set_dictation_available(available, reason)

    def start_dictation(self, source: AudioSource | None = None) -> bool:
        """Begin an utterance into the focused field: from ``source`` (a WAV file, a
        handheld recorder's file), or the microphone. False when it cannot start (the status
        line says why)."""
        if self._frozen:
            return False
        if source is None and not self._dictation_available:
            self.refresh_dictation()
            if not self._dictation_available:
                self._sync_dictate_button(False)
                return False
        self._dictation_target = self._current_field()
        started = self.dictation.start(source)
        self._sync_dictate_button(started)
        return started

    def stop_dictation(self) -> None:
        """End the utterance: what was heard is decoded and inserted."""
        self.dictation.stop()

    def _dictate_toggled(self, checked: bool) -> None:
        if checked:
            self.start_dictation()
        else:
            self.stop_dictation()

    def _dictate_key(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            return
        if event.type() == QEvent.Type.KeyPress:
            if self.dictation.state is DictationState.IDLE:
                self.start_dictation()
        else:
            self.stop_dictation()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == self.dictate_key:
            self._dictate_key(event)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == self.dictate_key:
            self._dictate_key(event)
            return
        super().keyReleaseEvent(event)

    def _sync_dictate_button(self, checked: bool) -> None:
        blocked = self.dictate_button.blockSignals(True)
        self.dictate_button.setChecked(checked)
        self.dictate_button.blockSignals(blocked)

    def _current_field(self) -> QWidget:
        """The field dictation goes into: the focused one, else the last focused, else
        Findings (else the first field)."""
        focused = QApplication.focusWidget()
        if focused is not None and focused in self.tab_order:
            return focused
        if self._dictation_target is not None and self._dictation_target in self.tab_order:
            return self._dictation_target
        return self.section_edits.get("findings") or self.tab_order[0]

    def _field_title(self, widget: QWidget) -> str:
        name = widget.objectName()
        kind, _, key = name.partition(":")
        if kind == "field" and key in self.template.fields:
            return self.template.fields[key].label
        for section in self.template.sections:
            if section.key == key:
                return section.display_title
        return key

    def _on_dictation_state(self, state: str) -> None:
        # While an utterance runs the button stops it, even when no microphone is there
        # (a recorder's file is being dictated).
        self.dictate_button.setEnabled(
            not self._frozen and (self._dictation_available or state != DictationState.IDLE.value)
        )
        if state == DictationState.LISTENING.value:
            target = self._dictation_target or self._current_field()
            self.dictation_status.setText(
                self.tr("● Listening: %1…").replace("%1", self._field_title(target))
            )
        elif state == DictationState.FINALISING.value:
            self.dictation_status.setText(self.tr("Writing what was said…"))
        else:
            self._sync_dictate_button(False)
            self._hide_preview()

    def _on_dictation_partial(self, text: str) -> None:
        target = self._dictation_target or self._current_field()
        self._show_preview(target, text)

    def _show_preview(self, target: QWidget, text: str) -> None:
        """Partial text, grey and italic, at the cursor of ``target``; the field's own text
        is not touched until the final text arrives."""
        label = self.dictation_preview
        host: QWidget = target
        x, y = 4, 2
        if isinstance(target, QPlainTextEdit):
            host = target.viewport()
            rect = target.cursorRect()
            x, y = rect.right() + 4, rect.top()
        elif isinstance(target, QLineEdit):
            metrics = target.fontMetrics()
            x = 6 + metrics.horizontalAdvance(target.text()[: target.cursorPosition()])
            y = max(0, (target.height() - metrics.height()) // 2)
        if label.parentWidget() is not host:
            label.setParent(host)
        width = max(40, host.width() - x - 4)
        if width < host.width() // 3:  # too little room after the cursor: the next line
            x, y, width = 4, y + label.fontMetrics().height(), host.width() - 8
        label.setText(text)
        label.setFixedWidth(width)
        label.adjustSize()
        label.move(x, y)
        label.show()
        label.raise_()

    def _hide_preview(self) -> None:
        self.dictation_preview.hide()
        self.dictation_preview.setText("")

    def _on_dictation_failed(self, message: str) -> None:
        self._sync_dictate_button(False)
        self._hide_preview()
        self.dictation_status.setText(self._typing_works(message))
        self.status_message.emit(message)

    def _on_dictation_final(self, result: StreamResult) -> None:
        self._hide_preview()
        if self._frozen:
            return
        engine = self.dictation.engine
        normalize = engine.normalize if engine is not None else (lambda text: text)
        actions = plan_actions(result.transcript.raw, normalize)
        if not actions:
            self.dictation_status.setText(self.tr("Nothing was heard."))
            return
        done = [self.apply_dictation(a) for a in actions]
        if all(done):
            self.dictation_status.setText("")

    def apply_dictation(self, action: EditAction) -> bool:
        """Carry out one dictated action in the field dictation goes into (an undoable change
        for text). False, with the status line saying why, when it does not apply there."""
        target = self._dictation_target or self._current_field()
        kind = action.kind
        if kind in (EditKind.NEXT_FIELD, EditKind.PREVIOUS_FIELD):
            i = self.tab_order.index(target) if target in self.tab_order else 0
            step = 1 if kind is EditKind.NEXT_FIELD else -1
            nxt = self.tab_order[max(0, min(len(self.tab_order) - 1, i + step))]
            self._dictation_target = nxt
            nxt.setFocus(Qt.FocusReason.OtherFocusReason)
            if isinstance(nxt, QPlainTextEdit):
                nxt.moveCursor(nxt.textCursor().MoveOperation.End)
            elif isinstance(nxt, QLineEdit):
                nxt.end(False)
            return True
        if kind is EditKind.INSERT_NORMAL:
            self.fill_normal()
            return True
        if kind is EditKind.SCRATCH_THAT:
            return self.scratch_last_dictation()
        if isinstance(target, QPlainTextEdit):
            cursor = target.textCursor()
            text = target.toPlainText()
            if kind is EditKind.NEW_PARAGRAPH:
                ins = insert_paragraph(text, cursor.position())
            else:
                ins = insert_phrase(text, cursor.position(), action.text)
            if not ins.inserted:
                return True

            def insert() -> None:
                c = target.textCursor()
                c.setPosition(ins.start)
                c.insertText(ins.inserted)
                target.setTextCursor(c)

            self._programmatic(insert)
            self._dictated.append((target, ins.start, ins.inserted, ""))
            return True
        if kind is EditKind.NEW_PARAGRAPH:
            self.dictation_status.setText(self.tr("A paragraph break needs a text section."))
            return False
        if isinstance(target, QComboBox):
            return self._dictate_choice(target, action)
        if isinstance(target, QLineEdit):
            return self._dictate_line(target, action)
        return False

    def _dictate_choice(self, combo: QComboBox, action: EditAction) -> bool:
        import difflib

        said = (action.spoken or action.text).strip().casefold().rstrip(".")
        choices = [combo.itemText(i) for i in range(1, combo.count())]
        folded = [c.casefold() for c in choices]
        hit = difflib.get_close_matches(said, folded, 1, 0.75)
        if not hit:
            self.dictation_status.setText(
                _arg(self.tr("“%1” is not a choice of %2."), action.text, self._field_title(combo))
            )
            return False
        index = folded.index(hit[0]) + 1
        before = combo.currentText()
        self._programmatic(lambda: combo.setCurrentIndex(index))
        self._dictated.append((combo, 0, combo.currentText(), before))
        return True

    def _dictate_line(self, line: QLineEdit, action: EditAction) -> bool:
        key = line.objectName().partition(":")[2]
        f = self.template.fields.get(key)
        before = line.text()
        if f is not None and f.kind in (FieldKind.NUMBER, FieldKind.MEASUREMENT):
            command = parse_value(action.spoken) if action.kind is EditKind.TEXT else None
            value, unit = (command.value, command.unit) if command else (action.value, action.unit)
            if value is None:
                match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\.?\s*", action.text)
                if match:
                    value, unit = float(match.group(1)), match.group(2)
            if value is None:
                self.dictation_status.setText(
                    _arg(
                        self.tr("%1 takes a number; heard “%2”."),
                        self._field_title(line),
                        action.text,
                    )
                )
                return False
            field_unit = f.unit_code.value if f.unit_code is not None else ""
            if unit and field_unit and unit != field_unit:
                factor = _UNIT_FACTORS.get((unit, field_unit))
                if factor is None:
                    self.dictation_status.setText(
                        _arg(
                            self.tr("%1 is in %2; heard %3."),
                            self._field_title(line),
                            field_unit,
                            action.text,
                        )
                    )
                    return False
                value *= factor
            shown = _value_text(value)
            self._programmatic(lambda: line.setText(shown))
        else:
            ins = insert_phrase(before, line.cursorPosition(), action.text)

            def apply() -> None:
                line.setText(ins.text)
                line.setCursorPosition(ins.cursor)

            self._programmatic(apply)
        self._dictated.append((line, 0, line.text(), before))
        return True

    def scratch_last_dictation(self) -> bool:
        """ "Scratch that": take out the last dictated phrase (only it: what the reader typed
        since stays). False when there is none left to take out."""
        while self._dictated:
            widget, start, inserted, before = self._dictated.pop()
            if isinstance(widget, QPlainTextEdit):
                got = remove_phrase(widget.toPlainText(), start, inserted)
                if got is None:
                    continue
                _, pos = got

                def remove(
                    w: QPlainTextEdit = widget, p: int = pos, n: int = len(inserted)
                ) -> None:
                    c = w.textCursor()
                    c.setPosition(p)
                    c.setPosition(p + n, c.MoveMode.KeepAnchor)
                    c.removeSelectedText()
                    w.setTextCursor(c)

                self._programmatic(remove)
                self._dictation_target = widget
                return True
            if isinstance(widget, QComboBox) and widget.currentText() == inserted:
                idx = max(0, widget.findText(before)) if before else 0
                self._programmatic(lambda w=widget, i=idx: w.setCurrentIndex(i))
                return True
            if isinstance(widget, QLineEdit) and widget.text() == inserted:
                self._programmatic(lambda w=widget, t=before: w.setText(t))
                return True
        self.dictation_status.setText(self.tr("Nothing dictated to scratch."))
        return False

    # -- drafts ------------------------------------------------------------------------------

    def _restore_draft(self) -> None:
        try:
            draft = self.drafts.load(self.study.study_instance_uid, self.reader)
        except StoreError as exc:
            self.draft_label.setText(
                self.tr("The saved draft cannot be read: %1").replace("%1", str(exc))
            )
            return
        if draft is None:
            return
        self.apply_content(draft.content)
        self.restored = draft
        when = draft.saved_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if draft.content.template_id != self.template.id:
            self.draft_label.setText(
                _arg(
                    self.tr("Draft restored from template %1 (saved %2)"),
                    repr(draft.content.template_id),
                    when,
                )
            )
        else:
            self.draft_label.setText(self.tr("Draft restored (saved %1)").replace("%1", when))

    def _on_saved(self, draft: Draft) -> None:
        if self._closed:
            return
        when = draft.saved_at.astimezone().strftime("%H:%M:%S")
        self.draft_label.setText(self.tr("Draft saved %1").replace("%1", when))
        self.draft_saved.emit(draft)

    def _on_save_failed(self, message: str) -> None:
        self.draft_label.setText(self.tr("NOT SAVED: %1").replace("%1", message))
        self.status_message.emit(self.tr("The draft could not be saved: %1").replace("%1", message))

    # -- signing -----------------------------------------------------------------------------

    def ask_signer(self, *, final: bool) -> tuple[str, str] | None:
        """Ask the signer's name and organisation (a dialog); None when the reader cancels."""
        dialog = SignerDialog(
            self.signer_name, self.signer_organisation, need_organisation=final, parent=self
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.person_name, dialog.organisation.text().strip()

    def confirm_incomplete(self, error: IncompleteStudyError) -> bool:
        """Ask the reader to acknowledge that the study is incomplete."""
        answer = QMessageBox.warning(
            self,
            self.tr("Incomplete study"),
            str(error),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _error(self, message: str) -> None:
        """Tell the reader, without blocking (a window-modal box the reader closes)."""
        self.last_error = message
        self.status_message.emit(message)
        if self.isVisible():
            box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Report"), message, parent=self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def sign(self, *, final: bool) -> SignedReport | None:
        """Sign what the editor holds (preliminary or final); the SR is stored, then queued."""
        if self._signing or self._frozen:
            return None
        self._signing = True
        try:
            return self._sign(final)
        finally:
            self._signing = False

    def _ensure_signer(self, *, final: bool) -> bool:
        """The signer's name (and, for a final report, organisation), asked when missing;
        False when the reader cancels."""
        if self.signer_name and (self.signer_organisation or not final):
            return True
        got = self.ask_signer(final=final)
        if got is None:
            return False
        self.signer_name, organisation = got
        self.signer_organisation = organisation or self.signer_organisation
        return True

    def _signed(self, signed: SignedReport, message: str) -> None:
        """What follows every signing: the outbox woken, the reader told, listeners told."""
        self.last_signed = signed
        if self.after_sign is not None:
            try:
                self.after_sign(signed)  # e.g. wake the outbox worker
            except Exception:
                log.exception("the after_sign callback failed")
        self.status_message.emit(message)
        self.refresh_outbox()
        self.signed.emit(signed)

    def _sign(self, final: bool) -> SignedReport | None:
        self.last_error = ""
        if not self._ensure_signer(final=final):
            return None
        try:
            self.autosaver.flush()
        except StoreError as exc:
            log.warning("the draft could not be saved before signing: %s", exc)
        try:
            draft = self.report()
        except (TemplateValueError, ValueError) as exc:
            self._error(self.tr("The report cannot be signed yet: %1").replace("%1", str(exc)))
            return None
        acknowledge = False
        while True:
            try:
                signed = sign_report(
                    draft,
                    self.archive,
                    self.outbox,
                    final=final,
                    signer_name=self.signer_name,
                    signer_organisation=self.signer_organisation,
                    destinations=self.destinations,
                    completeness=self.completeness,
                    acknowledge_incomplete=acknowledge,
                )
                break
            except IncompleteStudyError as exc:
                if acknowledge or not self.confirm_incomplete(exc):
                    self.status_message.emit(self.tr("Not signed: the study is incomplete"))
                    return None
                acknowledge = True
            except WorkstationError as exc:
                self._error(self.tr("The report was not signed: %1").replace("%1", str(exc)))
                return None
        if final:
            with contextlib.suppress(StoreError):
                self.autosaver.close()
                self.drafts.delete(self.study.study_instance_uid, self.reader)
            self.set_read_only(self.tr("Signed final: changes now go in an addendum."))
            self._allow_addendum(signed.sop_instance_uid)
        self._signed(
            signed,
            self.tr("Report signed final; it is stored and queued to be sent")
            if final
            else self.tr("Report signed preliminary; it is stored and queued to be sent"),
        )
        return signed

    def _open_signed_final(self) -> None:
        """A study whose latest signed report is final (from this or another workstation)
        opens read-only, with the addendum offered."""
        try:
            latest = latest_signed_report(self.archive, self.study.study_instance_uid)
        except NotFoundError:
            return
        except WorkstationError as exc:
            log.warning("the study's signed reports cannot be read: %s", exc)
            return
        if not latest.final:
            return
        when = latest.content_datetime
        self.set_read_only(
            self.tr(
                "Signed final (%1), as the Reports tab shows: changes now go in an addendum."
            ).replace("%1", when.astimezone().strftime("%Y-%m-%d %H:%M") if when else "?")
        )
        self._allow_addendum(latest.sop_instance_uid)

    def _allow_addendum(self, sop_instance_uid: str) -> None:
        self.final_sop_instance_uid = sop_instance_uid
        self.addendum_button.show()
        self.addendum_button.setEnabled(True)

    def ask_addendum(self) -> str | None:
        """Ask the addendum's text (a dialog); None when the reader cancels."""
        text, ok = QInputDialog.getMultiLineText(
            self, self.tr("Addendum"), self.tr("Addendum to the signed final report:")
        )
        return text if ok else None

    def write_addendum(self) -> SignedReport | None:
        """Sign an addendum to the final report: a new FINAL SR whose Predecessor Documents
        Sequence names it; stored, then queued like any signed report."""
        if self.final_sop_instance_uid is None or self._signing:
            return None
        text = self.ask_addendum()
        if text is None or not text.strip():
            return None
        if not self._ensure_signer(final=True):
            return None
        self._signing = True
        try:
            signed = sign_addendum(
                self.archive,
                self.final_sop_instance_uid,
                text,
                self.outbox,
                signer_name=self.signer_name,
                signer_organisation=self.signer_organisation,
                destinations=self.destinations,
            )
        except WorkstationError as exc:
            self._error(self.tr("The addendum was not signed: %1").replace("%1", str(exc)))
            return None
        finally:
            self._signing = False
        self.final_sop_instance_uid = signed.sop_instance_uid  # the next one amends this one
        self._signed(signed, self.tr("Addendum signed; it is stored and queued to be sent"))
        return signed

    @property
    def read_only(self) -> bool:
        """Whether the report can no longer be edited here (signed final, held elsewhere)."""
        return self._frozen

    def offer_claim(self, message: str) -> None:
        """Read-only, saying ``message``, with the Claim button (``claim_requested``)."""
        self.set_read_only(message)
        self.claim_button.show()
        self.claim_button.setEnabled(True)

    def set_read_only(self, message: str) -> None:
        """No more edits here (signed final, another reader's, not claimed): ``message`` says
        why; the draft, if any, stays as it was saved."""
        self._frozen = True
        for w in [*self.field_widgets.values(), *self.section_edits.values()]:
            w.setEnabled(False)
        for b in (
            self.normal_button,
            self.undo_button,
            self.insert_button,
            self.sign_final_button,
            self.sign_preliminary_button,
            self.dictate_button,
        ):
            b.setEnabled(False)
        self.dictation.shutdown()
        self._hide_preview()
        self.draft_label.setText(message)

    # -- outbox state -------------------------------------------------------------------------

    def refresh_outbox(self) -> None:
        """Show where the study's signed reports are: waiting, acknowledged or refused."""
        if self.outbox is None:
            self.outbox_label.setText("" if not self.last_signed else self.tr("Stored locally."))
            return
        try:
            entries = self.outbox.entries(study_instance_uid=self.study.study_instance_uid)
        except StoreError as exc:
            self.outbox_label.setText(self.tr("Outbox unreadable: %1").replace("%1", str(exc)))
            return
        if not entries:
            self.outbox_label.setText("")
            return
        now = _dt.datetime.now().timestamp()
        latest = entries[-1]
        counts = {s: sum(1 for e in entries if e.state is s) for s in OutboxState}
        summary = self.tr(", ", "list separator").join(
            self._outbox_count(s, n) for s, n in counts.items() if n
        )
        self.outbox_label.setText(
            _arg(
                self.tr("Outbox: %1. Latest: %2"), summary, self.describe_outbox_entry(latest, now)
            )
        )

    def describe_outbox_entry(self, entry: OutboxEntry, now: float) -> str:
        """Where a signed report is, as :meth:`OutboxEntry.describe` says it (the same English
        text), in the interface's language."""
        where = entry.destination
        if entry.state is OutboxState.SENT:
            when = _clock_text(entry.sent_at or entry.updated_at)
            if entry.attempts <= 1:
                return _arg(self.tr("acknowledged by %1 at %2"), where, when)
            text = self.tr("acknowledged by %1 at %2 after %n attempts", "", entry.attempts)
            return _arg(text, where, when)
        if entry.state is OutboxState.FAILED:
            why = entry.last_error or self.tr("no reason given")
            return _arg(self.tr("refused by %1: %2 (fix the cause, then retry)"), where, why)
        if entry.attempts == 0:
            return self.tr("waiting to be sent to %1").replace("%1", where)
        wait = entry.next_attempt_at - now
        if wait <= 0:
            nxt = self.tr("now", "next attempt")
        else:
            nxt = _arg(self.tr("in %1 s (%2)"), f"{wait:.0f}", _clock_text(entry.next_attempt_at))
        if entry.attempts == 1:
            text = self.tr("not yet acknowledged by %1 after 1 attempt: %2; next attempt %3")
        else:
            text = self.tr(
                "not yet acknowledged by %1 after %n attempts: %2; next attempt %3",
                "",
                entry.attempts,
            )
        return _arg(text, where, entry.last_error, nxt)

    def _outbox_count(self, state: OutboxState, n: int) -> str:
        """How many of the study's outbox entries are in ``state`` ("2 pending")."""
        if state is OutboxState.PENDING:
            return self.tr("%n pending", "outbox entries", n)
        if state is OutboxState.SENT:
            return self.tr("%n sent", "outbox entries", n)
        return self.tr("%n failed", "outbox entries", n)

    # -- closing -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Save what is pending and stop the timers and the autosaver's thread."""
        if self._closed:
            return
        self._closed = True
        self._frozen = True
        self._outbox_timer.stop()
        self.dictation.shutdown()
        try:
            self.autosaver.close()
        except StoreError as exc:
            log.error("the draft could not be saved on closing: %s", exc)

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
