"""A whole reading against a real archive, driven through the main window and its settings.

Orthanc with DICOMweb and the UPS-RS worklist plugin (tests/integration/worklist) gets two
studies by dcmtk's storescu; the plugin makes a neuro work item for each. The window is made
from a settings file alone: the archive (basic auth as radiologist rad.neuro), the UPS-RS
worklist with the network's worklist.json, the signer, prefetch. Checked: the worklist panel
shows both items from the archive; prefetch brings both studies into the empty local store
before either is opened; opening one from the worklist claims it (IN PROGRESS on the server);
signing the final report sends it through the outbox worker, and the archive's acknowledgement
completes the work item (COMPLETED on the server); the signer comes from the settings; the
local audit trail names the archive user.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from upsrs_helpers import PASSWORD, SITE_CONFIG, start_worklist_orthanc, storescu

from workstation.archive.audit import AuditEvent, AuditTrail
from workstation.archive.cache import StoreCache
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import OrthancProcess
from workstation.core import ups
from workstation.core.settings import ArchiveConfig, load_settings
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, DX_CHEST, MR_BRAIN, generate_slice
from workstation.ui.main_window import MainWindow
from workstation.ui.worklist_panel import COLUMN
from workstation.worklist.upsrs import UpsRsClient

SLICES = 8
STUDIES = (CT_HEAD, MR_BRAIN)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    folder = tmp_path_factory.mktemp("reading-archive")
    proc = start_worklist_orthanc(folder / "orthanc")
    try:
        files = []
        for demo in STUDIES:
            series = demo.series[0]
            first = (len(series.image_position_patient) - SLICES) // 2
            for i in range(first, first + SLICES):
                path = folder / f"{demo.key}-{i}.dcm"
                generate_slice(series, i).save_as(path, enforce_file_format=True)
                files.append(path)
        storescu(proc, files)
        yield proc
    finally:
        proc.stop(kill=True)


def _items(server: OrthancProcess) -> dict[str, tuple[str, str]]:
    """Study UID -> (workitem UID, state), as the lead sees them."""
    r = requests.get(
        f"{server.urls.dicomweb}/workitems",
        params={"includefield": "0040A370"},
        auth=("lead", PASSWORD),
        timeout=10,
    )
    r.raise_for_status()
    out = {}
    for ds in r.json() if r.status_code == 200 else []:
        study = ds["0040A370"]["Value"][0]["0020000D"]["Value"][0]
        out[study] = (ds["00080018"]["Value"][0], ds["00741000"]["Value"][0])
    return out


def _wait(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def window(qtbot, server, tmp_path, isolated_home) -> Iterator[MainWindow]:
    site = tmp_path / "worklist.json"
    site.write_text(json.dumps(SITE_CONFIG), encoding="utf-8")
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(
        f"""
[[archives]]
name = "hub"
dicomweb_url = "{server.urls.dicomweb}"
auth = "basic"
user = "rad.neuro"
password = "{PASSWORD}"
read_timeout_s = 20

[reader]
name = "Neuro^Nadia"
organisation = "Test Teleradiology Hub"

[worklist]
source = "archive"
site_file = "{site}"
poll_s = 1

[prefetch]
studies = 3
priors = 1
""",
        encoding="utf-8",
    )
    empty = tmp_path / "site.toml"
    empty.write_text("", encoding="utf-8")
    settings = load_settings(site_path=empty, user_path=settings_file)
    archive = LocalArchive(tmp_path / "store")
    win = MainWindow(archive, settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    archive.close()


def test_worklist_prefetch_claim_sign_and_complete_on_acknowledgement(
    qtbot, server, window, artifact_dir
):
    uids = {d.study_instance_uid for d in STUDIES}

    def all_items() -> dict[str, tuple[str, str]] | None:
        found = _items(server)
        return found if uids <= set(found) else None

    items = _wait(all_items, 30, "work items")
    ct_item = items[CT_HEAD.study_instance_uid][0]
    assert {state for _uid, state in items.values()} == {"SCHEDULED"}

    panel = window.worklist_panel
    assert panel is not None and isinstance(window.worklist_backend, UpsRsClient)
    assert window.worklist_backend.user.name == "rad.neuro"
    qtbot.waitUntil(
        lambda: (
            uids
            <= {panel.model.item_at(r).study_instance_uid for r in range(panel.model.rowCount())}
        ),
        timeout=20_000,
    )
    # Prefetch fills the empty store with both studies, whole, before either is opened; the
    # worklist's Local copy says so when each retrieval ends, not at the next poll.
    panel.set_poll_interval(0)
    archive = window.archive

    def local_count(uid: str) -> int:
        study = archive.index.study(uid)
        return study.number_of_instances if study is not None else 0

    qtbot.waitUntil(lambda: all(local_count(u) == SLICES for u in uids), timeout=60_000)

    def local_copy_cells() -> set[str]:
        m = panel.model
        return {m.data(m.index(r, COLUMN["cache"])) for r in range(m.rowCount())}

    qtbot.waitUntil(lambda: local_copy_cells() == {"complete"}, timeout=5_000)
    # The cache keeps what prefetch made ready (the reader's next studies) like what is open.
    assert window.studies_in_use() == uids
    panel.set_poll_interval(1)
    assert window.current_study_uid is None
    assert set(window._prefetch_asked) == uids  # each queued once, not at every refresh
    assert window.prefetch_worklist() == 0  # both whole in the store: nothing more to ask

    panel.open_item(ct_item)
    qtbot.waitUntil(
        lambda: (
            window.current_study_uid == CT_HEAD.study_instance_uid and window.editor is not None
        ),
        timeout=20_000,
    )
    assert _items(server)[CT_HEAD.study_instance_uid] == (ct_item, "IN PROGRESS")
    editor = window.editor
    assert (editor.signer_name, editor.signer_organisation) == (
        "Neuro^Nadia",
        "Test Teleradiology Hub",
    )
    assert editor.destinations == ("hub",)
    editor.fill_normal()
    qtbot.wait(100)
    assert window.screenshot().save(str(artifact_dir / "ui_reading_with_archive.png"))
    with qtbot.waitSignal(window.services.acknowledged, timeout=30_000) as ack:
        signed = editor.sign(final=True)
        assert signed is not None and signed.final
    assert ack.args == [CT_HEAD.study_instance_uid, signed.sop_instance_uid]
    _wait(
        lambda: _items(server)[CT_HEAD.study_instance_uid] == (ct_item, "COMPLETED"),
        20,
        "the work item to complete",
    )
    # Read next (View menu, Ctrl+N): the other study, claimed and opened.
    read_next = next(a for a in window.view_menu.actions() if a.text() == "Read &next study")
    assert read_next.shortcut().toString() == "Ctrl+N"
    read_next.trigger()
    qtbot.waitUntil(lambda: window.current_study_uid == MR_BRAIN.study_instance_uid, timeout=20_000)
    assert _items(server)[MR_BRAIN.study_instance_uid][1] == "IN PROGRESS"
    # The archive holds the very SR the store holds.
    r = requests.get(
        f"{server.urls.dicomweb}/studies/{CT_HEAD.study_instance_uid}/series",
        params={"Modality": "SR"},
        auth=("lead", PASSWORD),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    ds = pydicom.dcmread(signed.path, stop_before_pixels=True)
    assert ds.VerifyingObserverSequence[0].VerifyingOrganization == "Test Teleradiology Hub"
    with AuditTrail(archive.root) as trail:
        events = [
            (e.event, e.user) for e in trail.entries(study_instance_uid=CT_HEAD.study_instance_uid)
        ]
    assert (AuditEvent.STUDY_OPENED, "rad.neuro") in events
    assert [e for e, _u in events if e is not AuditEvent.STUDY_OPENED] == [
        AuditEvent.REPORT_SIGNED,
        AuditEvent.REPORT_SENT,
    ]
    # A whole reading (prefetch, draft, signed report, outbox, audit trail) left nothing in
    # the store that another user could read.
    assert [p.line() for p in StoreCache(archive).check_permissions()] == []


def test_a_study_opened_from_the_list_is_reported_only_once_claimed(
    qtbot, server, window, tmp_path
):
    """Two readers must never read one study unknowingly (DESIGN.md): a study opened from the
    study list, not the worklist, has a read-only report until this reader claims it; one the
    worklist gives to another reader stays read-only; one without a work item is free."""
    head, chest = CT_HEAD_PRIOR, DX_CHEST
    files = []
    for demo in (head, chest):
        path = tmp_path / f"{demo.key}.dcm"
        generate_slice(demo.series[0], 0, demo).save_as(path, enforce_file_format=True)
        files.append(path)
    raced = generate_slice(CT_HEAD.series[0], 0)  # a neuro study another reader will take
    raced.StudyInstanceUID, raced.SeriesInstanceUID, raced.SOPInstanceUID = (
        f"1.2.826.0.1.3680043.10.999.77.{n}" for n in range(3)
    )
    raced_uid = str(raced.StudyInstanceUID)
    raced.save_as(tmp_path / "raced.dcm", enforce_file_format=True)
    files.append(tmp_path / "raced.dcm")
    storescu(server, files)
    uids = {head.study_instance_uid, chest.study_instance_uid, raced_uid}
    items = _wait(lambda: uids <= set(_items(server)) and _items(server), 30, "work items")
    head_item = items[head.study_instance_uid][0]
    free = Path(get_testdata_file("CT_small.dcm"))  # a study the archive never had: no item
    assert window.archive.import_paths([*files, free]).imported == 4
    window.refresh_local_studies()
    offer = "On the worklist, not claimed by you: claim it to report it."

    # The neuro study, in the reader's pool: read-only until claimed.
    window.open_study(head.study_instance_uid)
    qtbot.waitUntil(lambda: window.editor.draft_label.text() == offer, timeout=10_000)
    editor = window.editor
    assert editor.read_only and editor.claim_button.isVisible()
    assert not editor.sign_final_button.isEnabled()
    assert _items(server)[head.study_instance_uid] == (head_item, "SCHEDULED")
    editor.claim_button.click()
    qtbot.waitUntil(lambda: window.editor is not editor, timeout=10_000)
    assert not window.editor.read_only and window.editor.sign_final_button.isEnabled()
    assert not window.editor.claim_button.isVisible()
    assert _items(server)[head.study_instance_uid] == (head_item, "IN PROGRESS")
    qtbot.wait(300)  # the reopened editor's own check finds the claim: still editable
    assert not window.editor.read_only

    # Completed on the worklist (here, from this reader's own claim): read-only again.
    window.worklist_backend.complete(head_item)
    window.open_study(head.study_instance_uid)
    qtbot.waitUntil(lambda: window.editor.read_only, timeout=10_000)
    assert window.editor.draft_label.text() == (
        "Its reading on the worklist is closed (completed or handed on): opened read-only"
    )

    # Another reader of the pool claims a study between the offer and the click: refused,
    # and the report stays read-only, saying so.
    window.open_study(raced_uid)
    qtbot.waitUntil(lambda: window.editor.draft_label.text() == offer, timeout=10_000)
    editor = window.editor
    config = ArchiveConfig(
        name="hub", dicomweb_url=server.urls.dicomweb, auth="basic", user="rad.neuro2",
        password=PASSWORD,
    )  # fmt: skip
    site = ups.load_worklist_config(SITE_CONFIG)
    with UpsRsClient(
        config, site.users["rad.neuro2"], claims=tmp_path / "neuro2.sqlite", site=site
    ) as other:
        other.claim(items[raced_uid][0], study_uid=raced_uid)
    editor.claim_button.click()
    refused = "This study is being read by another reader: opened read-only"
    qtbot.waitUntil(lambda: editor.draft_label.text() == refused, timeout=10_000)
    assert window.editor is editor and editor.read_only
    assert not editor.claim_button.isVisible()

    # The chest study: in a pool this reader does not read (the server hides it: 403).
    window.open_study(chest.study_instance_uid)
    qtbot.waitUntil(lambda: window.editor.read_only, timeout=10_000)
    assert window.editor.draft_label.text() == (
        "The worklist gives this study's reading to another reader: opened read-only"
    )
    assert not window.editor.claim_button.isVisible()

    # A study without a work item (imported here): reported freely.
    window.open_study(str(pydicom.dcmread(free).StudyInstanceUID))
    qtbot.wait(500)  # the worklist's answer (404) comes and changes nothing
    assert not window.editor.read_only and window.editor.sign_final_button.isEnabled()
