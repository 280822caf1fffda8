"""Two readers must never read one study unknowingly (DESIGN.md), also when a study is opened
outside the worklist's claim (the study list, a prior, the command line).

For each report that opens, the window's guard asks the shared worklist
(``WorklistBackend.study_reading``, off the UI thread): one this reader may claim opens
read-only with a Claim button, which claims it and reopens the report for editing (the draft
kept); one held by or given to another reader, or closed, stays read-only and says so; a study
without a work item is free. The embedded worklist (one local reader) is not asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from workstation.core.model import Study, format_person_name
from workstation.worklist.backend import ReadingAccess, StudyReading

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow
    from workstation.ui.report_editor import ReportEditor
    from workstation.ui.worklist_panel import WorklistPanel


class ReadingGuard(QObject):
    """The guard of one main window over its worklist panel."""

    def __init__(self, window: MainWindow, panel: WorklistPanel) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self._offer: tuple[str, str] | None = None  # (study, workitem) the Claim button takes
        panel.claimed.connect(self._claimed)
        panel.claim_refused.connect(self._refused)

    def watch(self, editor: ReportEditor, study: Study) -> None:
        """A report opened on ``study``: ask the worklist whether this reader may write it."""
        self._offer = None
        editor.claim_requested.connect(self._claim)
        study_uid = study.study_instance_uid
        self.panel.check_study(
            study,
            lambda reading, error: self._checked(editor, study_uid, reading, error),
        )

    def _checked(
        self, editor: ReportEditor, study_uid: str, reading: StudyReading | None, error: str
    ) -> None:
        if self.window.editor is not editor or editor.read_only:
            return  # another report by now, or read-only already (a signed final report)
        if reading is None:
            self.window.statusBar().showMessage(
                self.tr("The worklist was not asked whether another reader holds this study: ")
                + error,
                20000,
            )
            return
        if reading.access is ReadingAccess.CLAIMABLE:
            self._offer = (study_uid, reading.item_uid)
            editor.offer_claim(
                self.tr("On the worklist, not claimed by you: claim it to report it.")
            )
        elif reading.access is ReadingAccess.TAKEN:
            editor.set_read_only(
                self.tr("%1 holds this study on the worklist: opened read-only").replace(
                    "%1", format_person_name(reading.holder)
                )
                if reading.holder
                else self.tr(
                    "The worklist gives this study's reading to another reader: opened read-only"
                )
            )
        elif reading.access is ReadingAccess.DONE:
            editor.set_read_only(
                self.tr(
                    "Its reading on the worklist is closed (completed or handed on): opened"
                    " read-only"
                )
            )

    def _claim(self) -> None:
        if self._offer is not None:
            self.panel.claim_item(self._offer[1], self._offer[0])

    def _taken_offer(self, item_uid: str) -> ReportEditor | None:
        """The editor the Claim button's answer is for (None: another answer, or the reader
        moved on); the offer is used up."""
        offer = self._offer
        if offer is None or offer[1] != item_uid:
            return None
        self._offer = None
        if offer[0] != self.window.current_study_uid:
            return None
        return self.window.editor

    def _claimed(self, item_uid: str, _study_uid: str) -> None:
        if self._taken_offer(item_uid) is not None:
            self.window.reopen_report()  # editable; the draft is kept

    def _refused(self, item_uid: str, message: str) -> None:
        editor = self._taken_offer(item_uid)
        if editor is not None:
            editor.claim_button.hide()
            editor.set_read_only(message)
