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
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, Qt
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


def _messages(ts: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(context, source) -> (translation, its type attribute) of a .ts file."""
    out = {}
    for ctx in ET.parse(ts).getroot().iter("context"):
        name = ctx.findtext("name", "")
        for msg in ctx.iter("message"):
            tr = msg.find("translation")
            assert tr is not None
            out[(name, msg.findtext("source", ""))] = (tr.text or "", tr.get("type"))
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
    for (context, source), (text, _kind) in committed.items():
        assert sorted(_PLACEHOLDER.findall(text)) == sorted(_PLACEHOLDER.findall(source)), (
            context,
            source,
        )
        assert text.count("&") == source.count("&"), (context, source)
    assert committed[("MainWindow", "&File")] == ("&ملف", None)
    assert committed[("Shortcuts", "Active tool (window/level by default)")] == (
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
        ("&ملف", ["&استيراد ملفات…", "استيراد &مجلد…", "&خروج"]),
        ("&عرض", ["&قائمة الدراسات", "&العارض"]),
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
        ("&File", ["&Import files…", "Import &folder…", "&Quit"]),
        ("&View", ["Study &list", "&Viewer"]),
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
