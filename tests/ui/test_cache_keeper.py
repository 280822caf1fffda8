"""The local cache from the window: "Clear local cache…" and the configured size limit.

A real window on a store of four studies: the CT head on screen (its prior is in use too), a
draft saved for the CT chest, an MR brain with nothing. Clearing asks first, says what stays,
and removes only the MR brain; the configured limit does the same by itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from workstation.archive.local import LocalArchive
from workstation.core.settings import CacheConfig, Settings
from workstation.core.sizes import format_size
from workstation.demo import CT_CHEST_ABDOMEN, CT_HEAD, CT_HEAD_PRIOR, MR_BRAIN, generate_slice
from workstation.reporting.drafts import DraftContent, DraftStore
from workstation.ui.i18n import install_translator
from workstation.ui.main_window import MainWindow

KEPT = {
    CT_HEAD.study_instance_uid,  # on screen
    CT_HEAD_PRIOR.study_instance_uid,  # its prior, in the browser
    CT_CHEST_ABDOMEN.study_instance_uid,  # a draft
}
GONE = MR_BRAIN.study_instance_uid


@pytest.fixture
def store(tmp_path: Path):
    archive = LocalArchive(tmp_path / "store")
    for series, index in (
        (CT_HEAD.series[0], 75),
        (CT_HEAD_PRIOR.series[0], 15),
        (CT_CHEST_ABDOMEN.series[0], 150),
        (MR_BRAIN.series[0], 10),
    ):
        assert archive.add_dataset(generate_slice(series, index))
    archive.commit()
    with DraftStore(archive.root) as drafts:
        drafts.save(CT_CHEST_ABDOMEN.study_instance_uid, "Smith^Anna", DraftContent("ct-chest"))
    yield archive
    archive.close()


def _window(qtbot, qapp, store: LocalArchive, settings: Settings | None = None) -> MainWindow:
    install_translator(qapp, "en")  # English plurals ("1 study")
    win = MainWindow(store, settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.open_study(CT_HEAD.study_instance_uid)
    assert win.studies_in_use() == {CT_HEAD.study_instance_uid, CT_HEAD_PRIOR.study_instance_uid}
    return win


def _local(store: LocalArchive) -> set[str]:
    return {s.study_instance_uid for s in store.studies()}


def test_clear_asks_says_what_stays_and_removes_the_rest(qtbot, qapp, store):
    win = _window(qtbot, qapp, store)
    assert win.study_model.rowCount() == 4
    action = next(a for a in win.menuBar().actions()[0].menu().actions() if "cache" in a.text())
    assert action.text() == "Clear local cache…"
    action.trigger()
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox)
    assert re.fullmatch(r"Remove the local copy of 1 study \(\d+\.\d kB\)\?", box.text())
    assert re.fullmatch(
        r"They can be retrieved again from the archive\. Kept: 3 studies with a report draft, "
        r"a report not yet sent, or open now \(\d+\.\d (kB|MB)\)\.",
        box.informativeText(),
    )
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    with qtbot.waitSignal(win.cache_keeper.finished, timeout=10000) as done:
        next(b for b in box.buttons() if b.text() == "Remove").click()
    report = done.args[0]
    assert [s.study_instance_uid for s in report.evicted] == [GONE]
    assert _local(store) == KEPT
    assert win.study_model.rowCount() == 3
    assert win.statusBar().currentMessage().startswith("Local cache: 1 study evicted, ")
    assert win.statusBar().currentMessage() == f"Local cache: {report.summary()}"
    assert report.summary().endswith(
        f"; 3 protected studies kept ({format_size(report.protected_bytes)})"
    )

    # Again: nothing left to remove, and it says so without asking.
    action.trigger()
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.text() == "Nothing to remove."
    box.close()
    win.close()


def test_the_configured_limit_is_kept_without_asking(qtbot, qapp, store):
    settings = Settings(cache=CacheConfig(limit_bytes=1))
    win = _window(qtbot, qapp, store, settings)
    assert win.cache_keeper.timer.isActive()
    with qtbot.waitSignal(win.cache_keeper.finished, timeout=10000) as done:
        assert win.cache_keeper.enforce()
    report = done.args[0]
    assert [s.study_instance_uid for s in report.evicted] == [GONE]
    assert report.over_limit and report.protected_studies == 3
    assert _local(store) == KEPT
    assert win.study_model.rowCount() == 3
    win.close()
    assert not win.cache_keeper.timer.isActive()
