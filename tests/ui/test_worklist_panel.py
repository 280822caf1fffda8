"""The worklist panel over a real Orthanc with the worklist plugin, under Xvfb.

Priority and due-time order with their colours, a lead assigning a study, the radiologist's
"My work" showing it, opening it (which claims it on the server), someone else's claim opening
read-only with the holder named, and refreshes that keep the selection; plus the table model's
diff updates checked by Qt's model tester with no reset.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "worklist"))
from upsrs_helpers import PASSWORD, SITE_CONFIG, UID_ROOT, UpsApi, start_worklist_orthanc

from workstation.archive.orthanc import OrthancProcess
from workstation.core import ups
from workstation.core.settings import ArchiveConfig
from workstation.core.ups import ProcedureStepState as S
from workstation.core.ups import UpsPriority as P
from workstation.ui.theme import apply_dark_theme
from workstation.ui.worklist_panel import (
    COLUMN,
    DUE_SOON_COLORS,
    OVERDUE_COLORS,
    PRIORITY_COLORS,
    LocalStudy,
    UpdateStats,
    WorklistPanel,
    WorklistTableModel,
)
from workstation.worklist.backend import ReadingAccess, StudyReading
from workstation.worklist.model import WorkItem
from workstation.worklist.upsrs import UpsRsClient

SITE = ups.load_worklist_config(SITE_CONFIG)
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("wl-panel"))
    try:
        yield proc
    finally:
        proc.stop(kill=True)


@pytest.fixture
def panel(
    qtbot: Any, qapp: Any, server: OrthancProcess, tmp_path: Path
) -> Iterator[Callable[[str], WorklistPanel]]:
    """``panel("lead")``: a shown WorklistPanel over a UpsRsClient as that user, no polling."""
    apply_dark_theme(qapp)
    made: list[WorklistPanel] = []

    def make(user: str) -> WorklistPanel:
        config = ArchiveConfig(
            name="hub", dicomweb_url=server.urls.dicomweb, auth="basic", user=user,
            password=PASSWORD,
        )  # fmt: skip
        client = UpsRsClient(
            config, SITE.users[user], claims=tmp_path / f"{user}-claims.sqlite", site=SITE
        )
        p = WorklistPanel(client, poll_interval_s=0, due_soon_minutes=30)
        qtbot.addWidget(p)
        p.resize(1500, 520)
        p.show()
        qtbot.waitExposed(p)
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown()
        p.backend.close()


def refreshed(qtbot: Any, p: WorklistPanel) -> int:
    with qtbot.waitSignal(p.refreshed, timeout=WAIT_MS) as blocker:
        p.refresh()
    return int(blocker.args[0])


def create(server: OrthancProcess, pid: str, priority: str, start: datetime) -> tuple[str, str]:
    """A neuro workitem made by the lead; returns (workitem uid, study uid)."""
    study = f"{UID_ROOT}{uuid.uuid4().int % 10**12}"
    ds = ups.dataset_of(
        PatientName=f"Patient^{priority.title()}",
        PatientID=pid,
        StudyInstanceUID=study,
        ScheduledProcedureStepPriority=priority,
        ProcedureStepLabel="neuro",
        ScheduledProcedureStepStartDateTime=ups.format_dt(start),
        ReferencedRequestSequence=[
            ups.dataset_of(AccessionNumber=f"ACC-{pid[-4:]}", StudyInstanceUID=study)
        ],
        ScheduledStationNameCodeSequence=[
            ups.code_item("STELSEWHERE", "99TELERAD", "St Elsewhere General Hospital")
        ],
    )
    r = UpsApi(server.urls.dicomweb, "lead").create(ds)
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[-1], study


def on_server(server: OrthancProcess, uid: str) -> dict[str, Any]:
    r = UpsApi(server.urls.dicomweb, "lead").retrieve(uid)
    assert r.status_code == 200, r.text
    return r.json()[0]


def color(model: Any, row: int, key: str) -> str | None:
    brush = model.data(model.index(row, COLUMN[key]), Qt.ItemDataRole.BackgroundRole)
    return None if brush is None else brush.color().name()


def test_reading_flow_in_the_panel(
    qtbot: Any, panel: Callable[[str], WorklistPanel], server: OrthancProcess, artifact_dir: Path
) -> None:
    now = datetime.now(UTC)
    made = {
        "high-late": create(server, "WLP-0001", "HIGH", now - timedelta(minutes=40)),
        "high-soon": create(server, "WLP-0002", "HIGH", now - timedelta(minutes=10)),
        "medium": create(server, "WLP-0003", "MEDIUM", now),
        "low": create(server, "WLP-0004", "LOW", now),
        "low-late": create(server, "WLP-0005", "LOW", now - timedelta(minutes=1500)),
    }
    uid = {k: v[0] for k, v in made.items()}
    lead = panel("lead")
    assert refreshed(qtbot, lead) == 5
    model = lead.model
    assert [model.item_at(r).uid for r in range(5)] == [
        uid["high-late"], uid["high-soon"], uid["medium"], uid["low-late"], uid["low"]
    ]  # fmt: skip
    row = {k: model.row_of(u) for k, u in uid.items()}
    assert color(model, row["high-late"], "left") == OVERDUE_COLORS[0]
    assert color(model, row["low-late"], "left") == OVERDUE_COLORS[0]
    assert color(model, row["high-soon"], "left") == DUE_SOON_COLORS[0]
    assert color(model, row["medium"], "left") is None
    assert color(model, row["high-soon"], "priority") == PRIORITY_COLORS[P.HIGH][0]
    assert color(model, row["medium"], "priority") == PRIORITY_COLORS[P.MEDIUM][0]
    assert color(model, row["low"], "priority") is None
    text = {k: model.data(model.index(r, COLUMN["left"])) for k, r in row.items()}
    assert (text["high-late"], text["high-soon"], text["low-late"]) == (
        "overdue 10m",
        "19m",
        "overdue 1h 00m",
    )
    assert model.data(model.index(row["medium"], COLUMN["hospital"])) == (
        "St Elsewhere General Hospital"
    )
    assert lead.lead_view is not None
    assert lead.lead_view.overdue_list.count() == 2
    # A lead triages by state and reader: they come right after the time left, within the
    # table's pane beside the lead view; the counts fit their pane without a scroll bar.
    hh = lead.table.horizontalHeader()
    visible = [hh.logicalIndex(v) for v in range(hh.count())][:4]
    assert visible == [COLUMN[k] for k in ("priority", "left", "state", "reader")]
    assert (
        hh.sectionViewportPosition(COLUMN["reader"]) + hh.sectionSize(COLUMN["reader"])
        <= lead.table.viewport().width()
    )
    assert not lead.lead_view.counts.horizontalScrollBar().isVisible()
    assert "Hospital: St Elsewhere General Hospital" in lead.filter_names()

    # the lead assigns the MEDIUM study to rad.neuro
    lead.select_uids([uid["medium"]])
    lv = lead.lead_view
    lv.reader_combo.setCurrentIndex(lv.reader_combo.findData("RAD01"))
    with qtbot.waitSignal(lead.assigned, timeout=WAIT_MS) as assigned:
        qtbot.mouseClick(lv.assign_reader_button, Qt.MouseButton.LeftButton)
    assert assigned.args == [1, 0]
    assert ups.performer_code(on_server(server, uid["medium"])) == "RAD01"

    # the radiologist's "My work" shows it; opening it claims it
    rad = panel("rad.neuro")
    # A reader's own view keeps the model's order.
    assert [rad.table.horizontalHeader().logicalIndex(v) for v in range(4)] == [0, 1, 2, 3]
    rad.set_filter("My work")
    assert refreshed(qtbot, rad) == 1
    assert rad.model.item_at(0).uid == uid["medium"]
    assert rad.model.data(rad.model.index(0, COLUMN["reader"])) == "rad.neuro"
    cell = rad.table.visualRect(rad.model.index(0, COLUMN["patient"])).center()
    with qtbot.waitSignal(rad.open_study_requested, timeout=WAIT_MS) as opened:
        qtbot.mouseClick(rad.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
        qtbot.mouseDClick(rad.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert opened.args == [made["medium"][1], False]
    held = on_server(server, uid["medium"])
    assert ups.first(held, "ProcedureStepState") == "IN PROGRESS"
    assert rad.backend.held_claim(uid["medium"]) is not None
    refreshed(qtbot, rad)
    assert rad.model.item_at(0).state is S.IN_PROGRESS

    # the lead opening it gets it read-only, with the reader named
    refreshed(qtbot, lead)
    refusals: list[tuple[str, str]] = []
    lead.claim_refused.connect(lambda u, message: refusals.append((u, message)))
    with qtbot.waitSignal(lead.open_study_requested, timeout=WAIT_MS) as opening:
        lead.open_item(uid["medium"])
    assert refusals == [(uid["medium"], "This study is being read by rad.neuro: opened read-only")]
    assert opening.args == [made["medium"][1], True]

    # a refresh with a new, more urgent item above keeps the selection and the scroll
    lead.select_uids([uid["low"]])
    scroll = lead.table.verticalScrollBar().value()
    stat, _ = create(server, "WLP-0006", "HIGH", now + timedelta(minutes=5))
    assert refreshed(qtbot, lead) == 6
    assert lead.selected_uids() == [uid["low"]]
    assert lead.table.currentIndex().row() == lead.model.row_of(uid["low"]) == 5
    assert lead.model.row_of(stat) == 2
    assert lead.table.verticalScrollBar().value() == scroll
    lead.grab().save(str(artifact_dir / "worklist_panel_lead.png"))
    rad.grab().save(str(artifact_dir / "worklist_panel_radiologist.png"))

    # the report is acknowledged: the held workitem is completed
    with qtbot.waitSignal(rad.completed, timeout=WAIT_MS) as done:
        rad.complete_study(made["medium"][1])
    assert done.args == [uid["medium"]]
    assert ups.first(on_server(server, uid["medium"]), "ProcedureStepState") == "COMPLETED"


def test_read_next_claims_the_most_urgent_and_passes_over_taken_ones(
    qtbot: Any, panel: Callable[[str], WorklistPanel], server: OrthancProcess, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    made = {
        "low": create(server, "RNX-0001", "LOW", now),
        "high": create(server, "RNX-0002", "HIGH", now),
        "medium": create(server, "RNX-0003", "MEDIUM", now),
    }
    rad = panel("rad.neuro")
    assert rad.read_next_button.isVisibleTo(rad)
    rad.search.setText("RNX-")  # this test's items only (the module's server has others)
    assert refreshed(qtbot, rad) == 3
    # The lead claims the HIGH one on another workstation after the reader's list was read.
    config = ArchiveConfig(
        name="hub", dicomweb_url=server.urls.dicomweb, auth="basic", user="lead",
        password=PASSWORD,
    )  # fmt: skip
    with UpsRsClient(
        config, SITE.users["lead"], claims=tmp_path / "lead-claims.sqlite", site=SITE
    ) as lead:
        lead.claim(made["high"][0], study_uid=made["high"][1])
    with qtbot.waitSignal(rad.open_study_requested, timeout=WAIT_MS) as opened:
        rad.read_next()
    assert opened.args == [made["medium"][1], False]  # the HIGH one was taken: the next
    state = {k: ups.first(on_server(server, v[0]), "ProcedureStepState") for k, v in made.items()}
    assert state == {"low": "SCHEDULED", "high": "IN PROGRESS", "medium": "IN PROGRESS"}
    assert rad.notice == "Claimed: you are reading this study"
    qtbot.waitUntil(lambda: rad.selected_uids() == [made["medium"][0]], timeout=WAIT_MS)

    # Again, with the study on screen passed over: the LOW one.
    refreshed(qtbot, rad)
    with qtbot.waitSignal(rad.open_study_requested, timeout=WAIT_MS) as opened:
        rad.read_next(lambda study: study == made["medium"][1])
    assert opened.args == [made["low"][1], False]
    assert ups.first(on_server(server, made["low"][0]), "ProcedureStepState") == "IN PROGRESS"

    # Nothing else this reader may read in the list.
    refreshed(qtbot, rad)
    opened_again: list[Any] = []
    rad.open_study_requested.connect(lambda *a: opened_again.append(a))
    rad.read_next(lambda study: study in {made["medium"][1], made["low"][1]})
    assert rad.notice == "Nothing to read in this list"
    assert opened_again == []

    # What each may do with these studies opened outside the worklist (study_reading).
    with UpsRsClient(
        config, SITE.users["lead"], claims=tmp_path / "lead-claims.sqlite", site=SITE
    ) as lead:
        visible = lead.search_all()
        medium = next(i for i in visible if i.uid == made["medium"][0])
        assert medium.assigned_to
        assert lead.study_reading(made["medium"][1], visible) == StudyReading(
            ReadingAccess.TAKEN, made["medium"][0], medium.assigned_to
        )
        assert lead.study_reading(made["high"][1], visible).access is ReadingAccess.MINE
        # A RIS-made item (a UID of its own) another reader holds, in none of the list on
        # screen (a "My work" list): the server finds it by the patient ID or the accession.
        taken = StudyReading(ReadingAccess.TAKEN, made["medium"][0], medium.assigned_to)
        assert lead.study_reading(made["medium"][1], patient_id="RNX-0003") == taken
        assert lead.study_reading(made["medium"][1], accession_number="ACC-0003") == taken
    assert rad.backend.study_reading(made["low"][1]).access is ReadingAccess.MINE


def test_polling_refreshes(qtbot: Any, panel: Callable[[str], WorklistPanel]) -> None:
    lead = panel("lead")
    lead.set_poll_interval(0.05)
    with qtbot.waitSignal(lead.refreshed, timeout=WAIT_MS):
        pass  # no refresh() call: the timer fires it
    lead.set_poll_interval(0)
    assert lead.poll_timer.isActive() is False


# -- the table model -----------------------------------------------------------------------------

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def wi(uid: str, priority: P, due_min: float, **kw: Any) -> WorkItem:
    return WorkItem(uid=uid, state=S.SCHEDULED, priority=priority,
                    due=T0 + timedelta(minutes=due_min), **kw)  # fmt: skip


def test_model_updates_by_difference(qtbot: Any, qtmodeltester: Any) -> None:
    model = WorklistTableModel(due_soon_minutes=30)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    first = [wi(f"u{n}", P.LOW, 100 + n) for n in range(10)]
    assert model.set_items(first, now=T0) == UpdateStats(inserted=10)
    qtmodeltester.check(model)
    sm = QItemSelectionModel(model)
    sm.select(model.index(7, 0), QItemSelectionModel.SelectionFlag.Select)  # u7
    keep = {"u0", "u1", "u4", "u6", "u7", "u8"}  # u2 and u3 are gone
    second = [
        wi("new-high", P.HIGH, 5),  # new, on top
        *[i for i in first if i.uid in keep],  # unchanged (equal, new objects or not)
        wi("u5", P.LOW, 105, performer_code="RAD01"),  # changed in place
        wi("u9", P.MEDIUM, 50),  # moved up by a new priority
    ]
    with qtbot.waitSignal(model.layoutChanged):
        stats = model.set_items(second, now=T0)
    # after the removals the kept rows are u0 u1 u4 u5 u6 u7 u8 u9; u9 to the top moves all 8
    assert stats == UpdateStats(removed=2, moved=8, inserted=1, changed=2)
    assert [model.item_at(r).uid for r in range(model.rowCount())] == [
        "new-high", "u9", "u0", "u1", "u4", "u5", "u6", "u7", "u8"
    ]  # fmt: skip
    assert [ix.row() for ix in sm.selectedIndexes()] == [7]  # u7 is still selected
    assert model.item_at(7).uid == "u7"
    assert resets == []
    qtmodeltester.check(model)
    assert model.set_items(second, now=T0) == UpdateStats()  # nothing to do
    local = {"1.2.3": LocalStudy(3, "CT", "HEAD")}
    model.set_items(
        [wi("x", P.LOW, -1, study_instance_uid="1.2.3", number_of_images=4)], local, now=T0
    )
    assert model.data(model.index(0, COLUMN["cache"])) == "partial"
    assert model.data(model.index(0, COLUMN["modality"])) == "CT"  # from the local copy
    assert color(model, 0, "left") == OVERDUE_COLORS[0]
    model.set_items(
        [wi("x", P.LOW, -1, study_instance_uid="1.2.3", number_of_images=3)], local, now=T0
    )
    assert model.data(model.index(0, COLUMN["cache"])) == "complete"
    state = model.index(0, COLUMN["state"])
    assert model.data(state) == "Scheduled"
    assert model.data(state, Qt.ItemDataRole.ToolTipRole) == "SCHEDULED"
    model.set_items([wi("x", P.LOW, -1, study_instance_uid="9.9")], local, now=T0)
    assert model.data(model.index(0, COLUMN["cache"])) == "none"
    assert resets == []


def test_embedded_worklist_of_the_demo_store(
    qtbot: Any, qapp: Any, demo_store: Path, tmp_path: Path, artifact_dir: Path
) -> None:
    """With no archive configured the demo's studies are a real worklist with local copies."""
    from workstation.archive.local import LocalArchive
    from workstation.worklist.embedded import EmbeddedWorklist

    apply_dark_theme(qapp)
    archive = LocalArchive(demo_store)
    backend = EmbeddedWorklist(tmp_path, "local")  # its file beside, not inside, the shared store
    assert backend.populate_from_archive(archive) == len(archive.studies())
    p = WorklistPanel(backend, archive, poll_interval_s=0)
    qtbot.addWidget(p)
    p.resize(1500, 420)
    p.show()
    qtbot.waitExposed(p)
    try:
        n = refreshed(qtbot, p)
        assert n == len(archive.studies())
        model = p.model
        for row in range(n):
            item = model.item_at(row)
            assert model.data(model.index(row, COLUMN["cache"])) == "complete"
            local = archive.study(item.study_instance_uid)
            assert item.number_of_images == local.number_of_instances
        first = model.item_at(0)
        with qtbot.waitSignal(p.open_study_requested, timeout=WAIT_MS) as opened:
            p.open_item(first.uid)
        assert opened.args == [first.study_instance_uid, False]
        assert backend.get(first.uid).state is S.IN_PROGRESS
        refreshed(qtbot, p)
        p.grab().save(str(artifact_dir / "worklist_panel_demo.png"))
    finally:
        p.shutdown()
        backend.close()
        archive.close()
