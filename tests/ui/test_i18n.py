"""Arabic and English interface: catalogue up to date, menus translated, layout mirrored."""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox, QToolBar
from support import clear_reader_annotations

from workstation.archive.local import LocalArchive
from workstation.core.paths import resource_path
from workstation.demo import CT_HEAD
from workstation.ui import i18n
from workstation.ui.i18n import install_translator, resolve_language
from workstation.ui.main_window import MainWindow
from workstation.ui.theme import apply_dark_theme

ROOT = Path(__file__).resolve().parents[2]
TS = resource_path("i18n", "workstation_ar.ts")
QM = resource_path("i18n", "workstation_ar.qm")
# Qt placeholders (%1, %n), Python format fields ({name}) and mnemonics must survive translation.
_PLACEHOLDER = re.compile(r"%\d+|%n|\{[a-z_]*\}")


def _tool():
    spec = importlib.util.spec_from_file_location(
        "update_translations", ROOT / "tools" / "update_translations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def _messages(ts: Path) -> dict[tuple[str, str, str | None], tuple[str, str | None]]:
    """(context, source, disambiguation) -> (translation, its type attribute) of a .ts file.

    A plural (numerus) translation is its forms joined by "|" (an empty form, an empty part).
    """
    out = {}
    for ctx in ET.parse(ts).getroot().iter("context"):
        name = ctx.findtext("name", "")
        for msg in ctx.iter("message"):
            tr = msg.find("translation")
            assert tr is not None
            forms = tr.findall("numerusform")
            text = "|".join(f.text or "" for f in forms) if forms else (tr.text or "")
            key = (name, msg.findtext("source", ""), msg.findtext("comment"))
            out[key] = (text, tr.get("type"))
    return out


def _plural_forms(ts: Path) -> dict[tuple[str, str], list[str]]:
    """(context, source) -> the numerus forms of each plural message of a .ts file."""
    out = {}
    for ctx in ET.parse(ts).getroot().iter("context"):
        for msg in ctx.iter("message"):
            if msg.get("numerus") == "yes":
                forms = [f.text or "" for f in msg.iter("numerusform")]
                out[(ctx.findtext("name", ""), msg.findtext("source", ""))] = forms
    return out


@pytest.fixture
def english_after(qapp):
    """Each test leaves the shared application in English, left to right, as it found it."""
    yield qapp
    install_translator(qapp, "en")
    assert qapp.layoutDirection() == Qt.LayoutDirection.LeftToRight


@pytest.fixture
def store(demo_store: Path):
    clear_reader_annotations(demo_store)
    archive = LocalArchive(demo_store)
    yield archive
    archive.close()


def _window(qtbot, archive: LocalArchive, qapp) -> MainWindow:
    apply_dark_theme(qapp)
    win = MainWindow(archive)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def _menu_texts(win: MainWindow) -> list[tuple[str, list[str]]]:
    return [
        (a.text(), [b.text() for b in a.menu().actions() if not b.isSeparator()])
        for a in win.menuBar().actions()
    ]


def test_compiled_catalogue_matches_its_source(tmp_path):
    """The committed .qm is exactly what lrelease makes of the committed .ts."""
    out = tmp_path / "workstation_ar.qm"
    _tool().run_lrelease(TS, out)
    assert out.read_bytes() == QM.read_bytes(), "run tools/update_translations.py"


def test_every_ui_string_has_a_finished_arabic_translation(tmp_path):
    """lupdate over ui/*.py today finds no new, vanished or unfinished text in the .ts."""
    tool = _tool()
    stub = tmp_path / "extracted_strings.py"
    tool.write_stub(tool.all_messages(), stub)
    committed_stub = resource_path("i18n", "extracted_strings.py")
    assert stub.read_text(encoding="utf-8") == committed_stub.read_text(encoding="utf-8"), (
        "run tools/update_translations.py"
    )
    fresh = tmp_path / "workstation_ar.ts"
    shutil.copy(TS, fresh)
    tool.run_lupdate([fresh], stub=stub)
    committed, updated = _messages(TS), _messages(fresh)
    added = sorted(set(updated) - set(committed))
    gone = sorted(set(committed) - set(updated))
    assert (added, gone) == ([], []), "run tools/update_translations.py"
    unfinished = [key for key, (text, kind) in updated.items() if kind is not None or not text]
    assert unfinished == [], f"translate in resources/i18n/workstation_ar.ts: {unfinished}"
    plurals = _plural_forms(TS)
    for (context, source, _comment), (text, _kind) in committed.items():
        if (context, source) in plurals:
            continue
        assert sorted(_PLACEHOLDER.findall(text)) == sorted(_PLACEHOLDER.findall(source)), (
            context,
            source,
        )
        assert text.count("&") == source.count("&"), (context, source)
    # Arabic has six plural forms (Qt's order: 0, 1, 2, 3-10, 11-99, 100-102...): all filled,
    # the other placeholders kept in each; only zero, one and two may say the number in words.
    assert len(plurals) >= 8
    for (context, source), forms in plurals.items():
        assert len(forms) == 6 and all(f.strip() for f in forms), (context, source)
        wanted = sorted(_PLACEHOLDER.findall(source))
        for n, form in enumerate(forms):
            found = sorted(_PLACEHOLDER.findall(form))
            if n < 3 and "%n" not in found:
                found = sorted([*found, "%n"])
            assert found == wanted, (context, source, n)
    assert committed[("MainWindow", "&File", None)] == ("&ملف", None)
    assert committed[("Shortcuts", "Active tool (window/level by default)", None)] == (
        "الأداة النشطة (النافذة/المستوى افتراضيًا)",
        None,
    )


def test_arabic_main_window_mirrored_with_translated_menus(
    qtbot, store, english_after, artifact_dir
):
    qapp = english_after
    assert install_translator(qapp, "ar") == "ar"
    win = _window(qtbot, store, qapp)
    assert qapp.layoutDirection() == Qt.LayoutDirection.RightToLeft
    assert win.layoutDirection() == Qt.LayoutDirection.RightToLeft
    assert _menu_texts(win) == [
        ("&ملف", ["&استيراد ملفات…", "استيراد &مجلد…", "مسح الذاكرة المؤقتة المحلية…", "&خروج"]),
        ("&عرض", ["&قائمة الدراسات", "&العارض", "&قراءة الدراسة التالية", "القياسات"]),
        ("&مساعدة", ["&اختصارات لوحة المفاتيح"]),
    ]
    assert win.windowTitle() == "محطة القراءة"
    assert [win.tabs.tabText(i) for i in range(3)] == ["الدراسات", "العارض", "التقارير"]
    header = win.study_model.headerData(0, Qt.Orientation.Horizontal)
    assert header == "اسم المريض"
    # The study list mirrored: its first column (patient name) hugs the right edge.
    table = win.study_table
    first = table.visualRect(win.study_model.index(0, 0))
    assert abs(first.right() - (table.viewport().width() - 1)) <= 2  # 2 px: the grid line
    win.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    assert win.screenshot().save(str(artifact_dir / "ui_i18n_ar_study_list.png"))
    win.open_study(CT_HEAD.study_instance_uid)
    qtbot.wait(200)
    assert win.tabs.currentIndex() == 1
    # No text clipped: every toolbar button at least as wide as its translated text needs, and
    # none pushed into the overflow menu.
    bar = win.findChild(QToolBar, "viewer-toolbar")
    widgets = [bar.widgetForAction(a) for a in bar.actions() if not a.isSeparator()]
    assert [w for w in widgets if not w.isVisible()] == []
    clipped = [w for w in widgets if w.width() < w.minimumSizeHint().width()]
    assert clipped == []
    assert win.screenshot().save(str(artifact_dir / "ui_i18n_ar_ct_head.png"))
    # The image grid is not mirrored: a hanging protocol's first viewport (frontal, current)
    # stays on the left in Arabic as in English.
    win.grid.set_layout(1, 2)
    qtbot.wait(50)
    first, second = (v.mapTo(win, QPoint(0, 0)).x() for v in win.grid.viewports)
    assert first < second
    win.close()


def test_arabic_standard_dialog_buttons_from_qt(english_after):
    qt_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    if not (qt_dir / "qtbase_ar.qm").exists():
        pytest.skip("this PySide6 ships no qtbase_ar.qm")
    install_translator(english_after, "ar")
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = box.button(QDialogButtonBox.StandardButton.Ok).text()
    cancel = box.button(QDialogButtonBox.StandardButton.Cancel).text()
    assert (ok, cancel) == ("حسنًا", "ألغِ")


def test_english_main_window_left_to_right(qtbot, store, english_after):
    qapp = english_after
    install_translator(qapp, "ar")  # switching back must undo Arabic completely
    assert install_translator(qapp, "en") == "en"
    win = _window(qtbot, store, qapp)
    assert qapp.layoutDirection() == Qt.LayoutDirection.LeftToRight
    assert win.layoutDirection() == Qt.LayoutDirection.LeftToRight
    assert _menu_texts(win) == [
        ("&File", ["&Import files…", "Import &folder…", "Clear local cache…", "&Quit"]),
        ("&View", ["Study &list", "&Viewer", "Read &next study", "Measurements"]),
        ("&Help", ["Keyboard &shortcuts"]),
    ]
    assert win.study_table.visualRect(win.study_model.index(0, 0)).left() == 0
    win.close()


def test_unknown_language_falls_back_to_english_with_a_warning(english_after, caplog):
    qapp = english_after
    install_translator(qapp, "ar")
    with caplog.at_level(logging.WARNING, logger="workstation.ui.i18n"):
        assert install_translator(qapp, "klingon") == "en"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "unknown interface language 'klingon'" in caplog.records[0].getMessage()
    assert qapp.layoutDirection() == Qt.LayoutDirection.LeftToRight
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"


def test_missing_catalogue_falls_back_to_english_with_a_warning(
    english_after, caplog, monkeypatch, tmp_path
):
    monkeypatch.setattr(i18n, "catalogue_path", lambda language: tmp_path / "missing.qm")
    with caplog.at_level(logging.WARNING, logger="workstation.ui.i18n"):
        assert install_translator(english_after, "ar") == "en"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "no interface translation for 'ar'" in caplog.records[0].getMessage()
    assert english_after.layoutDirection() == Qt.LayoutDirection.LeftToRight
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"


def test_language_setting_values():
    assert resolve_language("system", QLocale("ar_SA")) == "ar"
    assert resolve_language("system", QLocale("fr_FR")) == "en"
    assert resolve_language("AR-eg") == "ar"
    assert resolve_language("en_GB") == "en"
    assert resolve_language("") is None
    assert resolve_language("de") is None


def test_languages_match_the_settings_schema():
    """The ``[ui] language`` values the settings accept are the ones the UI installs."""
    from workstation.core.settings import UI_LANGUAGES

    assert i18n.LANGUAGES == UI_LANGUAGES == ("system", "en", "ar")


def _ink_columns(widget) -> list[int]:
    """The x of every pixel column of ``widget`` painted in something other than its
    background (taken at the bottom-right corner, which an empty text edit leaves blank)."""
    image = widget.grab().toImage()
    background = image.pixel(image.width() - 2, image.height() - 2)
    return [
        x
        for x in range(image.width())
        if any(image.pixel(x, y) != background for y in range(2, image.height() - 2))
    ]


@pytest.fixture
def arabic_editor(qtbot, store, english_after, tmp_path):
    """A report editor of the CT head study, built in Arabic (drafts in a folder of its own)."""
    from workstation.reporting.drafts import DraftStore
    from workstation.reporting.templates import load_builtin_templates, pick_template
    from workstation.ui.report_editor import ReportEditor

    install_translator(english_after, "ar")
    drafts = DraftStore(tmp_path)
    template = pick_template(load_builtin_templates(), store.study(CT_HEAD.study_instance_uid))
    ed = ReportEditor(store, CT_HEAD.study_instance_uid, template, "reader", drafts)
    qtbot.addWidget(ed)
    ed.resize(520, 900)
    ed.show()
    qtbot.waitExposed(ed)
    yield ed
    ed.shutdown()
    drafts.close()


def test_arabic_report_editor_buttons_and_left_to_right_report_text(arabic_editor, qtbot):
    ed = arabic_editor
    assert ed.layoutDirection() == Qt.LayoutDirection.RightToLeft
    buttons = [
        ed.normal_button,
        ed.undo_button,
        ed.dictate_button,
        ed.sign_preliminary_button,
        ed.sign_final_button,
        ed.insert_button,
    ]
    assert [b.text() for b in buttons] == [
        "طبيعي",
        "تراجع",
        "إملاء",
        "توقيع أولي",
        "توقيع نهائي",
        "إدراج قياس",
    ]
    assert ed.draft_label.text() == "تقرير جديد"
    # The report itself (template form, fields, section texts) stays English, left to right.
    assert ed.content_area.layoutDirection() == Qt.LayoutDirection.LeftToRight
    directions = {w.layoutDirection() for w in [*ed.field_widgets.values(), *ed.tab_order]}
    assert directions == {Qt.LayoutDirection.LeftToRight}
    history = ed.section_edits["history"]
    assert (history.toPlainText(), history.hint()) == ("", "History…")
    # The grey hint starts at the left edge (Qt's own placeholder would hug the right one
    # and show "…History").
    ink = _ink_columns(history.viewport())
    assert ink, "the hint was not painted"
    assert ink[0] <= 12 and ink[-1] < history.viewport().width() // 2, (ink[0], ink[-1])
    history.setPlainText("(see prior) Stable.")
    block = history.document().firstBlock()
    assert block.textDirection() == Qt.LayoutDirection.LeftToRight
    # A count in a status message takes the Arabic plural form of its number.
    messages: list[str] = []
    ed.status_message.connect(messages.append)
    template = ed.template
    normal_sections = [k for k in template.normal_texts() if k != "history"]  # history typed
    assert ed.fill_normal() == len(template.normal_values()) + len(normal_sections) == 10
    assert messages[-1] == "مُلئت 10 حقول بالنص الطبيعي"  # 3 to 10: the "few" form


def test_arabic_plural_forms_follow_the_number(english_after):
    install_translator(english_after, "ar")
    assigned = [
        QCoreApplication.translate("WorklistPanel", "%n assigned", "work items", n)
        for n in (0, 1, 2, 3, 11, 100)
    ]
    assert assigned == [
        "لم يُسنَد أي عنصر",
        "أُسند عنصر واحد",
        "أُسند عنصران",
        "أُسندت 3 عناصر",
        "أُسند 11 عنصرًا",
        "أُسند 100 عنصر",
    ]
    # The count of open items and the action "Open" are two entries of the catalogue.
    header = QCoreApplication.translate("WorklistPanel", "Open", "count of open items")
    assert (header, QCoreApplication.translate("WorklistPanel", "Open")) == ("المفتوحة", "فتح")
    install_translator(english_after, "en")
    english = QCoreApplication.translate("WorklistPanel", "%n refused: %1", "work items", 2)
    assert english.replace("%1", "busy") == "2 refused: busy"


def test_sr_paragraphs_say_their_own_direction():
    from workstation.reporting.pdf import Block, BlockKind
    from workstation.ui.sr_viewer import blocks_html

    page = blocks_html(
        [Block(BlockKind.PARAGRAPH, "None."), Block(BlockKind.PARAGRAPH, "لا يوجد نزف.")]
    )
    assert "<p dir='ltr' style='margin:2px 0 6px 0px'>None.</p>" in page
    assert "<p dir='rtl' style='margin:2px 0 6px 0px'>لا يوجد نزف.</p>" in page


@pytest.mark.parametrize("language", ["ar", "en"])
def test_report_editor_beside_the_ct_head_clips_no_title(
    qtbot, store, english_after, artifact_dir, language
):
    """Beside the images, in both directions, the scroll bar covers no section title and no
    button is narrower than its text; the worklist and report views speak the language."""
    qapp = english_after
    assert install_translator(qapp, language) == language
    win = _window(qtbot, store, qapp)
    win.open_study(CT_HEAD.study_instance_uid)
    qtbot.wait(200)
    ed = win.editor
    assert ed is not None
    scroll = ed.content_scroll
    viewport = scroll.viewport()
    assert ed.content_area.width() == viewport.width()
    bar = scroll.verticalScrollBar()
    assert bar.isVisible()  # the form is taller than the panel: the bar is there to avoid
    bar_left = bar.mapTo(ed, bar.rect().topLeft()).x()
    port_left = viewport.mapTo(ed, viewport.rect().topLeft()).x()
    if language == "ar":
        assert bar_left < port_left  # mirrored: the bar on the left, beside the content
    else:
        assert bar_left >= port_left + viewport.width()
    clipped = []
    for key, heading in ed.section_headings.items():
        left = heading.mapTo(viewport, heading.rect().topLeft()).x()
        if left < 0 or left + heading.sizeHint().width() > viewport.width():
            clipped.append((key, left))
    assert clipped == []
    buttons = [ed.sign_final_button, ed.sign_preliminary_button, ed.dictate_button]
    assert [b.text() for b in buttons] == (
        ["توقيع نهائي", "توقيع أولي", "إملاء"]
        if language == "ar"
        else ["Sign final", "Sign preliminary", "Dictate"]
    )
    narrow = [b.text() for b in buttons if b.width() < b.minimumSizeHint().width()]
    assert narrow == []
    assert win.sr_viewer.empty.text() == (
        "لا يوجد تقرير لعرضه." if language == "ar" else "No report to show."
    )
    lead = win.worklist_panel.lead_view
    assert lead is not None
    header = [lead.counts.horizontalHeaderItem(i).text() for i in range(4)]
    assert header == (
        ["حسب", "الاسم", "المفتوحة", "متأخرة"]
        if language == "ar"
        else ["By", "Name", "Open", "Overdue"]
    )
    assert win.screenshot().save(str(artifact_dir / f"ui_i18n_{language}_report_editor.png"))
    win.close()


def test_outbox_state_in_the_interface_language(arabic_editor, english_after):
    """The editor says where a signed report is in Arabic, and in English exactly as the
    outbox itself does (``OutboxEntry.describe``)."""
    import dataclasses
    import datetime as dt

    from workstation.reporting.outbox import OutboxEntry, OutboxState

    now = dt.datetime(2026, 11, 20, 9, 0, 0).timestamp()
    waiting = OutboxEntry(
        "1.2.3", "central", "1.2", "sr.dcm", OutboxState.PENDING, 0, now, "", now, now, None
    )
    retrying = dataclasses.replace(
        waiting, attempts=3, next_attempt_at=now + 30, last_error="connection refused"
    )
    once = dataclasses.replace(retrying, attempts=1, next_attempt_at=now - 1)
    sent = dataclasses.replace(waiting, state=OutboxState.SENT, attempts=2, sent_at=now)
    refused = dataclasses.replace(waiting, state=OutboxState.FAILED, attempts=1)
    entries = [waiting, retrying, once, sent, refused]
    ed = arabic_editor
    assert [ed.describe_outbox_entry(e, now) for e in entries] == [
        "بانتظار الإرسال إلى central",
        "لم يؤكّد central الاستلام بعد 3 محاولات: connection refused؛ المحاولة التالية "
        "بعد 30 ث (09:00:30)",
        "لم يؤكّد central الاستلام بعد محاولة واحدة: connection refused؛ المحاولة التالية الآن",
        "أكّد central الاستلام الساعة 09:00:00 بعد محاولتين",
        "رفضه central: دون ذكر سبب (عالج السبب ثم أعد المحاولة)",
    ]
    install_translator(english_after, "en")
    english = [ed.describe_outbox_entry(e, now) for e in entries]
    assert english == [e.describe(now) for e in entries]
    assert english[1] == (
        "not yet acknowledged by central after 3 attempts: connection refused; "
        "next attempt in 30 s (09:00:30)"
    )


def test_arabic_worklist_cells(english_after):
    """The worklist's local-copy column and due-time tooltip speak Arabic; English stays."""
    from datetime import UTC, datetime, timedelta

    from workstation.core.ups import ProcedureStepState, UpsPriority
    from workstation.ui.worklist_panel import COLUMN, LocalStudy, WorklistTableModel
    from workstation.worklist.model import WorkItem

    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    due = now + timedelta(minutes=90)
    item = WorkItem(
        uid="w1",
        state=ProcedureStepState.SCHEDULED,
        priority=UpsPriority.LOW,
        due=due,
        study_instance_uid="1.2.3",
        number_of_images=4,
    )
    model = WorklistTableModel()
    model.set_items([item], {"1.2.3": LocalStudy(3, "CT", "HEAD")}, now=now)
    cache, left = model.index(0, COLUMN["cache"]), model.index(0, COLUMN["left"])
    shown = due.astimezone().strftime("%Y-%m-%d %H:%M")
    install_translator(english_after, "ar")
    assert model.data(cache) == "جزئية"
    assert model.data(left, Qt.ItemDataRole.ToolTipRole) == f"موعد التسليم: {shown}"
    install_translator(english_after, "en")
    assert model.data(cache) == "partial"
    assert model.data(left, Qt.ItemDataRole.ToolTipRole) == f"Due {shown}"


EN_TS = resource_path("i18n", "workstation_en.ts")
EN_QM = resource_path("i18n", "workstation_en.qm")


def test_english_plural_catalogue_is_complete_and_compiled(tmp_path):
    """The English catalogue holds every plural message of the UI and nothing else, each with
    its two forms (one, other) filled and its placeholders kept; the .qm matches the .ts."""
    tool = _tool()
    out = tmp_path / "workstation_en.qm"
    tool.run_lrelease(EN_TS, out)
    assert out.read_bytes() == EN_QM.read_bytes(), "run tools/update_translations.py"
    stub = tmp_path / "extracted_strings.py"
    tool.write_stub(tool.all_messages(), stub)
    fresh = tmp_path / "workstation_en.ts"
    shutil.copy(EN_TS, fresh)
    tool.run_lupdate([fresh], stub=stub)
    committed, updated = _messages(EN_TS), _messages(fresh)
    assert sorted(set(updated) ^ set(committed)) == [], "run tools/update_translations.py"
    unfinished = [key for key, (text, kind) in updated.items() if kind is not None or not text]
    assert unfinished == [], f"fill the English plural forms in {EN_TS.name}: {unfinished}"
    english = _plural_forms(EN_TS)
    assert set(english) == set(_plural_forms(TS))  # the same plural messages as Arabic
    assert len(english) == len(committed) == 17
    for (context, source), forms in english.items():
        assert len(forms) == 2, (context, source)
        for form in forms:
            assert sorted(_PLACEHOLDER.findall(form)) == sorted(_PLACEHOLDER.findall(source))
    assert english[("WorklistPanel", "%n work item(s)")] == ["%n work item", "%n work items"]
    assert english[("SeriesBrowser", "%n image(s)")] == ["%n image", "%n images"]
    assert english[("SeriesBrowser", "%n object(s)")] == ["%n object", "%n objects"]


def test_english_plural_forms_follow_the_number_and_arabic_is_unchanged(english_after):
    """English says "1 work item" / "3 work items"; Arabic keeps its six forms."""
    assert install_translator(english_after, "en") == "en"

    def items(n: int) -> str:
        return QCoreApplication.translate("WorklistPanel", "%n work item(s)", "", n)

    assert [items(n) for n in (0, 1, 3)] == ["0 work items", "1 work item", "3 work items"]
    acknowledged = QCoreApplication.translate(
        "ReportEditor", "acknowledged by %1 at %2 after %n attempts", "", 1
    )
    assert acknowledged == "acknowledged by %1 at %2 after 1 attempt"
    # A non-plural text is left to the source: the English catalogue holds plurals only.
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"
    install_translator(english_after, "ar")
    assert [items(n) for n in (0, 1, 2, 3, 11, 100)] == [
        "لا توجد عناصر عمل",
        "عنصر عمل واحد",
        "عنصرا عمل",
        "3 عناصر عمل",
        "11 عنصر عمل",
        "100 عنصر عمل",
    ]


def test_dictation_reasons_in_the_interface_language(english_after):
    """The dictation controller's reasons are translated, their %1 filled after translation."""
    from workstation.ui import dictation

    reason = "whisper: no model"
    install_translator(english_after, "ar")
    assert dictation._tr("Dictation is unavailable: %1", reason) == "الإملاء غير متاح: " + reason
    assert (
        dictation._tr("No microphone: no audio input device was found")
        == "لا يوجد ميكروفون: لم يُعثر على جهاز إدخال صوتي"
    )
    assert dictation._tr("the microphone %1 stopped (%2)", "'USB'", "%1") == (
        "توقّف الميكروفون 'USB' (%1)"
    )
    install_translator(english_after, "en")
    assert dictation._tr("Dictation failed: %1", reason) == "Dictation failed: " + reason
