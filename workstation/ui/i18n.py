"""The interface language: Qt translators and layout direction (English or Arabic).

English is the source language of every UI text; its small catalogue
``resources/i18n/workstation_en.qm`` holds only the plural forms ("%n image(s)" -> "1 image",
"3 images"). Arabic comes from the project's catalogue
``resources/i18n/workstation_ar.qm`` (built by ``tools/update_translations.py``) and Qt's own
``qtbase_ar.qm`` (the standard dialogs' buttons), and mirrors the layout right to left.
Install before the windows are built: widgets take their texts when they are created.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, Qt, QTranslator
from PySide6.QtGui import QGuiApplication

from workstation.core.paths import resource_path

log = logging.getLogger(__name__)

#: The values the ``[ui] language`` setting accepts.
LANGUAGES: tuple[str, ...] = ("system", "en", "ar")
SOURCE_LANGUAGE = "en"
_TRANSLATED = ("ar",)
_RIGHT_TO_LEFT = frozenset({"ar"})

# Translators installed by the last call, kept referenced so Python does not collect them and
# removed again when the language changes (tests switch it on one application).
_installed: list[tuple[QCoreApplication, QTranslator]] = []


def catalogue_path(language: str) -> Path:
    """Where the project's compiled catalogue for ``language`` lives (it may be missing)."""
    return resource_path("i18n", f"workstation_{language}.qm")


def _primary_subtag(name: str) -> str:
    return name.strip().replace("-", "_").split("_", 1)[0].lower()


def language_of_locale(locale: QLocale) -> str:
    """The first of the locale's UI languages that the interface speaks, else English."""
    for name in [*locale.uiLanguages(), locale.name()]:
        code = _primary_subtag(name)
        if code in _TRANSLATED or code == SOURCE_LANGUAGE:
            return code
    return SOURCE_LANGUAGE


def resolve_language(language: str, system: QLocale | None = None) -> str | None:
    """``"en"`` or ``"ar"`` for a setting's value (``"ar_SA"`` is ``"ar"``); None if unknown.

    ``"system"`` follows the operating system's locale (``QLocale.system()``).
    """
    if not isinstance(language, str) or not language.strip():
        return None
    if language.strip().lower() == "system":
        return language_of_locale(system if system is not None else QLocale.system())
    code = _primary_subtag(language)
    return code if code in _TRANSLATED or code == SOURCE_LANGUAGE else None


def _remove_installed() -> None:
    while _installed:
        app, translator = _installed.pop()
        app.removeTranslator(translator)


def _install(app: QCoreApplication, translator: QTranslator) -> None:
    if app.installTranslator(translator):
        _installed.append((app, translator))


def _install_english_plurals(app: QCoreApplication) -> None:
    """English plural forms; without the catalogue the source texts show, "(s)" and all."""
    path = catalogue_path(SOURCE_LANGUAGE)
    plurals = QTranslator()
    if path.is_file() and plurals.load(str(path)):
        _install(app, plurals)
    else:
        log.info("no English plural forms at %s (run tools/update_translations.py)", path)


def install_translator(app: QCoreApplication, language: str = "system") -> str:
    """Put the interface in ``language`` ("system", "en" or "ar"); return the one used.

    An unknown language or a missing catalogue logs a warning and leaves English, left to
    right: a wrong setting never stops the program.
    """
    _remove_installed()
    used = resolve_language(language)
    if used is None:
        log.warning(
            "unknown interface language %r (choose one of %s); using English",
            language,
            ", ".join(LANGUAGES),
        )
        used = SOURCE_LANGUAGE
    if used != SOURCE_LANGUAGE:
        path = catalogue_path(used)
        ours = QTranslator()
        if not path.is_file() or not ours.load(str(path)):
            log.warning(
                "no interface translation for %r at %s (run tools/update_translations.py); "
                "using English",
                used,
                path,
            )
            used = SOURCE_LANGUAGE
        else:
            qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
            qt_own = QTranslator()
            if qt_own.load(f"qtbase_{used}", qt_dir):
                _install(app, qt_own)  # installed first: the project's catalogue wins
            else:
                log.info(
                    "no Qt translation qtbase_%s in %s: standard buttons in English", used, qt_dir
                )
            _install(app, ours)
    if used == SOURCE_LANGUAGE:
        _install_english_plurals(app)
    if isinstance(app, QGuiApplication):
        direction = (
            Qt.LayoutDirection.RightToLeft
            if used in _RIGHT_TO_LEFT
            else Qt.LayoutDirection.LeftToRight
        )
        app.setLayoutDirection(direction)
    log.info("interface language: %s", used)
    return used
