"""Settings → the services of a reading session, against a real Orthanc with the worklist plugin.

The settings file names the archive (basic auth as a radiologist), the UPS-RS worklist and the
network's worklist.json; ReadingServices builds the UPS-RS backend as that user, the outbox
worker sending to the archive, and the signer from the site file. A final report signed on a
claimed study reaches Orthanc through the worker, the acknowledgement arrives as a Qt signal on
the UI thread, and completing the work item then leaves it COMPLETED on the server. A
preliminary report's acknowledgement does not count as final.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from test_outbox_orthanc import build_store, draft
from upsrs_helpers import PASSWORD, SITE_CONFIG, UpsApi, start_worklist_orthanc, workitem

from workstation.archive.orthanc import OrthancProcess
from workstation.core.errors import ConfigError
from workstation.core.settings import load_settings
from workstation.demo import CT_HEAD
from workstation.reporting.outbox import Outbox, OutboxState
from workstation.reporting.signing import sign_report
from workstation.ui.reading_services import ReadingServices, is_final_report
from workstation.worklist.upsrs import UpsRsClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("services-orthanc"))
    try:
        yield proc
    finally:
        proc.stop(kill=True)


def _settings_file(tmp_path: Path, server: OrthancProcess, user: str, extra: str = "") -> Path:
    site = tmp_path / "worklist.json"
    site.write_text(json.dumps(SITE_CONFIG), encoding="utf-8")
    path = tmp_path / "settings.toml"
    path.write_text(
        f"""
[[archives]]
name = "hub"
dicomweb_url = "{server.urls.dicomweb}"
auth = "basic"
user = "{user}"
password = "{PASSWORD}"
read_timeout_s = 20

[worklist]
source = "archive"
site_file = "{site}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return path


def _item_for_demo_head(server: OrthancProcess) -> str:
    """A SCHEDULED neuro work item for the demo CT head, created by the lead."""
    lead = UpsApi(server.urls.dicomweb, "lead")
    ds = workitem("SVC-" + CT_HEAD.study_instance_uid[-8:], label="neuro")
    ds["0040A370"]["Value"][0]["0020000D"]["Value"] = [CT_HEAD.study_instance_uid]
    r = lead.create(ds)
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[-1]


def _state(server: OrthancProcess, uid: str) -> str:
    r = requests.get(f"{server.urls.dicomweb}/workitems/{uid}", auth=("lead", PASSWORD), timeout=10)
    r.raise_for_status()
    return str(r.json()[0]["00741000"]["Value"][0])


def test_final_report_is_sent_acknowledged_and_completes_the_work_item(
    qtbot, tmp_path, server, isolated_home
):
    settings = load_settings(
        site_path=_settings_file(tmp_path, server, "rad.neuro"), user_path=_empty(tmp_path)
    )
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    services = ReadingServices(settings, archive, outbox, outbox_poll_s=0.5)
    backend = services.worklist_backend()
    try:
        assert isinstance(backend, UpsRsClient)
        assert (backend.user.name, backend.user.performer_code) == ("rad.neuro", "RAD01")
        assert services.destinations == ("hub",)
        assert services.completes_on_acknowledgement is True
        # rad.neuro has no Name in the site file: the signer stays to be asked (empty)
        assert services.signer() == ("", "")
        uid = _item_for_demo_head(server)
        backend.claim(uid, study_uid=CT_HEAD.study_instance_uid)
        assert _state(server, uid) == "IN PROGRESS"

        ui_thread = threading.get_ident()
        seen: list[tuple[str, str, int]] = []
        services.acknowledged.connect(lambda s, i: seen.append((s, i, threading.get_ident())))
        services.start()
        prelim = sign_report(
            draft(archive),
            archive,
            outbox,
            final=False,
            signer_name="Neuro^Nadia",
            destinations=services.destinations,
        )
        with qtbot.waitSignal(services.acknowledged, timeout=20_000):
            services.wake()
        assert seen[-1][:2] == (CT_HEAD.study_instance_uid, prelim.sop_instance_uid)
        assert is_final_report(archive, prelim.sop_instance_uid) is False
        final = sign_report(
            draft(archive),
            archive,
            outbox,
            final=True,
            signer_name="Neuro^Nadia",
            signer_organisation="Test Hub",
            destinations=services.destinations,
        )
        with qtbot.waitSignal(services.acknowledged, timeout=20_000):
            services.wake()
        assert seen[-1] == (CT_HEAD.study_instance_uid, final.sop_instance_uid, ui_thread)
        assert is_final_report(archive, final.sop_instance_uid) is True
        entry = outbox.entry(final.sop_instance_uid, "hub")
        assert entry is not None and entry.state is OutboxState.SENT
        lookup = requests.post(
            f"{server.urls.http}/tools/lookup",
            data=final.sop_instance_uid,
            auth=("lead", PASSWORD),
            timeout=10,
        ).json()
        assert [x["Type"] for x in lookup] == ["Instance"]
        assert backend.complete_study(CT_HEAD.study_instance_uid) == uid
        assert _state(server, uid) == "COMPLETED"
    finally:
        services.stop()
        backend.close()
        outbox.close()
        archive.close()


def test_the_signer_comes_from_the_site_file_unless_the_settings_name_one(
    tmp_path, server, isolated_home
):
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    try:
        lead = ReadingServices(
            load_settings(
                site_path=_settings_file(tmp_path, server, "lead"), user_path=_empty(tmp_path)
            ),
            archive,
            outbox,
        )
        assert lead.signer() == ("Lead^Lena", "")
        assert lead.reader_name("unix-user") == "lead"
        user_file = tmp_path / "user.toml"
        user_file.write_text(
            '[reader]\nname = "Other^Olivia"\norganisation = "Night Hub"\n', encoding="utf-8"
        )
        named = ReadingServices(
            load_settings(site_path=_settings_file(tmp_path, server, "lead"), user_path=user_file),
            archive,
            outbox,
        )
        assert named.signer() == ("Other^Olivia", "Night Hub")
    finally:
        outbox.close()
        archive.close()


def test_an_archive_user_missing_from_the_site_file_is_a_clear_error(
    tmp_path, server, isolated_home
):
    settings = load_settings(
        site_path=_settings_file(tmp_path, server, "outsider"), user_path=_empty(tmp_path)
    )
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    try:
        with pytest.raises(ConfigError) as err:
            ReadingServices(settings, archive, outbox)
        assert "the archive user 'outsider' of archive 'hub' is not among the worklist's Users" in (
            str(err.value)
        )
    finally:
        outbox.close()
        archive.close()


def test_without_an_archive_nothing_is_sent_and_the_worklist_is_embedded(tmp_path, isolated_home):
    settings = load_settings(site_path=_empty(tmp_path), user_path=_empty(tmp_path))
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    services = ReadingServices(settings, archive, outbox)
    backend = services.worklist_backend()
    try:
        assert services.worker is None
        assert services.destinations == ()
        assert services.completes_on_acknowledgement is False
        assert type(backend).__name__ == "EmbeddedWorklist"
        assert services.reader_name("unix-user") == "unix-user"
    finally:
        backend.close()
        outbox.close()
        archive.close()


def test_check_tests_the_ups_rs_worklist_as_the_archive_user(tmp_path, server, cli, isolated_home):
    cfg = isolated_home / "config" / "workstation" / "settings.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(_settings_file(tmp_path, server, "rad.neuro").read_text(), encoding="utf-8")
    r = cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "archive hub"
    [worklist] = [ln.strip() for ln in lines if ln.strip().startswith("UPS-RS worklist")]
    assert worklist.split()[2] == "ok"
    assert "as rad.neuro (radiologist; pools neuro): " in worklist
    # A user the network's worklist.json does not know: said, and check fails.
    cfg.write_text(_settings_file(tmp_path, server, "outsider").read_text(), encoding="utf-8")
    r = cli("check")
    assert r.returncode == 1
    [worklist] = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("UPS-RS worklist")]
    assert "FAILED" in worklist
    assert "the archive user 'outsider' of archive 'hub' is not among the worklist's Users (" in (
        worklist
    )
