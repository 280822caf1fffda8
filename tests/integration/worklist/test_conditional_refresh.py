"""Conditional worklist refresh (RFC 9110 §8.8.3 ETag, §13.1.2 If-None-Match, §15.4.5 304) against
a real Orthanc with the worklist plugin: an unchanged search answers 304 and the client reuses
its decoded page; every change of the worklist (claim, assignment, cancel request, a study
stored with storescu) makes the next poll a 200 that shows it; tags are per caller's view.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pg import SYSTEM_PYTHON, PgCluster, pg_cluster, require_postgres
from support import wait_for
from upsrs_helpers import (
    ORTHANC_USERS,
    PASSWORD,
    PLUGIN,
    REPO,
    SITE_CONFIG,
    UID_ROOT,
    UpsApi,
    start_worklist_orthanc,
    storescu,
    uid_from_location,
    upsrs_client,
    workitem,
    write_ct_study,
)

from workstation.archive.orthanc import DICOMWEB_PLUGIN, PYTHON_PLUGIN, OrthancProcess
from workstation.archive.remote import RemoteError
from workstation.core import ups
from workstation.core.ups import ProcedureStepState as S
from workstation.worklist import upsrs
from workstation.worklist.model import WorklistFilter
from workstation.worklist.upsrs import UpsRsClient

SITE = ups.load_worklist_config(SITE_CONFIG)
SERVER_DIR = REPO / "server" / "orthanc"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    """An Orthanc of this module's own: no other test's change moves its generation."""
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("wl-etag"))
    try:
        yield proc
    finally:
        proc.stop(kill=True)


def make_client(dicomweb: str, user: str, tmp_path: Path) -> UpsRsClient:
    return upsrs_client(dicomweb, user, tmp_path / f"{user}-claims.sqlite")


@pytest.fixture
def client(server: OrthancProcess, tmp_path: Path) -> Iterator[Callable[[str], UpsRsClient]]:
    made: list[UpsRsClient] = []

    def make(user: str) -> UpsRsClient:
        c = make_client(server.urls.dicomweb, user, tmp_path)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def pid() -> str:
    return "WLE-" + uuid.uuid4().hex[:10].upper()


def scheduled(pid: str) -> WorklistFilter:
    """One state: one request per search, so ``last_status`` is that request's status."""
    return WorklistFilter(states=(S.SCHEDULED,), patient_id=pid)


def poll(c: UpsRsClient, flt: WorklistFilter) -> tuple[int | None, list[tuple[str, Any, Any]]]:
    """(HTTP status, [(uid, state, performer code)]) of one search as the panel polls."""
    page = c.search(flt, limit=100)
    return c.last_status, [(i.uid, i.state, i.performer_code) for i in page.items]


def create(server: OrthancProcess, pid: str, n: int, **kw: Any) -> list[str]:
    lead = UpsApi(server.urls.dicomweb, "lead")
    uids = []
    for i in range(n):
        r = lead.create(workitem(pid, start=f"2024050108{i:02d}00+0000", **kw))
        assert r.status_code == 201, r.text
        uids.append(uid_from_location(r))
    lead.session.close()
    return uids


def test_unchanged_search_is_304_with_equal_items(
    server: OrthancProcess, client: Callable[[str], UpsRsClient], pid: str
) -> None:
    uids = create(server, pid, 3)
    lead = client("lead")
    status, first = poll(lead, scheduled(pid))
    assert status == 200
    assert [u for u, _s, _p in first] == uids
    assert poll(lead, scheduled(pid)) == (304, first)
    assert poll(lead, scheduled(pid)) == (304, first)
    # the empty answer (204) is revalidated the same way
    nobody = WorklistFilter(states=(S.SCHEDULED,), patient_id=pid + "-NONE")
    assert poll(lead, nobody) == (204, [])
    assert poll(lead, nobody) == (304, [])


def test_claim_assignment_and_cancel_each_show_at_the_next_poll(
    server: OrthancProcess, client: Callable[[str], UpsRsClient], pid: str
) -> None:
    a, b, c = create(server, pid, 3)
    lead, rad = client("lead"), client("rad.neuro")
    everyone = WorklistFilter(states=(S.SCHEDULED, S.IN_PROGRESS), patient_id=pid)
    open_ = WorklistFilter(states=(S.SCHEDULED,), patient_id=pid)
    assert poll(lead, open_) == (
        200,
        [(a, S.SCHEDULED, None), (b, S.SCHEDULED, None), (c, S.SCHEDULED, None)],
    )
    assert poll(lead, open_)[0] == 304

    rad.claim(a)  # through another client: the lead's cache cannot know
    assert poll(lead, open_) == (200, [(b, S.SCHEDULED, None), (c, S.SCHEDULED, None)])
    assert {i.uid: i.state for i in lead.search(everyone).items} == {
        a: S.IN_PROGRESS,
        b: S.SCHEDULED,
        c: S.SCHEDULED,
    }
    assert poll(lead, open_)[0] == 304

    lead.assign(b, reader="RAD02")
    assert poll(lead, open_) == (200, [(b, S.SCHEDULED, "RAD02"), (c, S.SCHEDULED, None)])
    assert poll(lead, open_)[0] == 304

    lead.request_cancel(c, "duplicate order")
    assert poll(lead, open_) == (200, [(b, S.SCHEDULED, "RAD02")])
    assert poll(lead, open_)[0] == 304


def test_study_stored_with_storescu_shows_at_the_next_poll(
    server: OrthancProcess, client: Callable[[str], UpsRsClient], pid: str, tmp_path: Path
) -> None:
    lead = client("lead")
    assert poll(lead, scheduled(pid)) == (204, [])
    assert poll(lead, scheduled(pid)) == (304, [])
    study_uid = f"{UID_ROOT}{int(time.time() * 1000)}.7"
    files = write_ct_study(
        tmp_path / "study",
        study_uid=study_uid,
        series=[("CT", "HEAD", 2)],
        patient_id=pid,
        accession="ACC-ETAG",
        institution="St Elsewhere General Hospital",
        requested_priority="STAT",
    )
    storescu(server, files)
    seen: list[tuple[int | None, int]] = []

    def appeared() -> list[Any]:
        status, items = poll(lead, scheduled(pid))
        seen.append((status, len(items)))
        return items

    [(uid, state, _code)] = wait_for(appeared, what="the reading workitem")
    assert (uid, state) == (ups.reading_workitem_uid(study_uid), S.SCHEDULED)
    # every poll before it saw the empty list (304 or a 204 after another change), then a 200
    assert seen[-1] == (200, 1)
    assert all(status in (204, 304) and n == 0 for status, n in seen[:-1])
    assert poll(lead, scheduled(pid))[0] == 304


def test_etags_are_per_view_and_wrong_tags_get_200(server: OrthancProcess, pid: str) -> None:
    create(server, pid, 2, label="neuro")
    create(server, pid, 1, label="chest")
    users = {
        name: UpsApi(server.urls.dicomweb, name) for name in ("lead", "rad.neuro", "rad.chest")
    }
    params = {"PatientID": pid, "ProcedureStepState": "SCHEDULED"}
    try:
        answers = {name: api.search(**params) for name, api in users.items()}
        assert {n: (r.status_code, len(r.json())) for n, r in answers.items()} == {
            "lead": (200, 3),
            "rad.neuro": (200, 2),
            "rad.chest": (200, 1),
        }
        tags = {n: r.headers["ETag"] for n, r in answers.items()}
        assert len(set(tags.values())) == 3
        assert all(t.startswith('"') and t.endswith('"') and len(t) == 42 for t in tags.values())

        def conditional(name: str, if_none_match: str) -> requests.Response:
            return users[name].session.get(
                users[name].base, params=params, headers={"If-None-Match": if_none_match}
            )

        # a radiologist never receives a lead's 304: the lead's tag is not theirs
        r = conditional("rad.neuro", tags["lead"])
        assert (r.status_code, len(r.json()), r.headers["ETag"]) == (200, 2, tags["rad.neuro"])
        assert conditional("rad.neuro", '"not-a-tag"').status_code == 200
        # RFC 9110 §13.1.2: a list, weak comparison (W/), and "*"
        for header in (
            tags["rad.neuro"],
            f'"x", W/{tags["rad.neuro"]}',
            f'W/"y",{tags["rad.neuro"]} , "z"',
            "*",
        ):
            r = conditional("rad.neuro", header)
            assert (r.status_code, r.content, r.headers["ETag"]) == (
                304,
                b"",
                tags["rad.neuro"],
            ), header
        # another query parameter is another answer
        r = users["lead"].session.get(
            users["lead"].base,
            params={**params, "limit": "1"},
            headers={"If-None-Match": tags["lead"]},
        )
        assert (r.status_code, len(r.json())) == (200, 1)
        assert r.headers["ETag"] != tags["lead"]
        # a change anywhere makes every old tag stale
        create(server, "OTHER-" + pid, 1)
        r = conditional("lead", tags["lead"])
        assert (r.status_code, len(r.json())) == (200, 3)
        assert r.headers["ETag"] != tags["lead"]
        assert conditional("lead", r.headers["ETag"]).status_code == 304
    finally:
        for api in users.values():
            api.session.close()


def test_a_failed_request_drops_the_cached_page(
    server: OrthancProcess, client: Callable[[str], UpsRsClient], pid: str, tmp_path: Path
) -> None:
    create(server, pid, 1)
    lead = client("lead")
    assert poll(lead, scheduled(pid))[0] == 200
    assert poll(lead, scheduled(pid))[0] == 304
    # the same request refused (the account's password changed on the archive): the kept
    # answer goes, so the next poll asks unconditionally although nothing changed
    lead._web.session.auth = ("lead", "wrong")
    with pytest.raises(RemoteError) as refused:
        lead.search(scheduled(pid), limit=100)
    assert (lead.last_status, "401" in str(refused.value)) == (None, True)
    lead._web.session.auth = ("lead", PASSWORD)
    assert poll(lead, scheduled(pid))[0] == 200
    assert poll(lead, scheduled(pid))[0] == 304


# -- two Orthancs on one PostgreSQL ----------------------------------------------------------------


def pg_orthanc(folder: Path, storage: Path, site_file: Path, pg: dict[str, Any]) -> OrthancProcess:
    """An Orthanc whose index and workitems are in the PostgreSQL cluster ``pg``."""
    from pg import ORTHANC_PG_INDEX

    return OrthancProcess(
        folder,
        python_script=PLUGIN,
        stable_age_s=1,
        extra_config={
            "AuthenticationEnabled": True,
            "RegisteredUsers": {name: PASSWORD for name in ORTHANC_USERS},
            "StorageDirectory": str(storage),
            "Plugins": [str(DICOMWEB_PLUGIN), str(PYTHON_PLUGIN), str(ORTHANC_PG_INDEX)],
            "PostgreSQL": pg,
            "Worklist": {
                "ConfigFile": str(site_file),
                "WorkstationPath": str(REPO),
                "PostgreSQL": True,
            },
        },
    )


def test_postgres_pair_agrees_on_etags_and_a_claim_through_a_changes_b(tmp_path: Path) -> None:
    require_postgres()
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(SITE_CONFIG), encoding="utf-8")
    cluster = PgCluster()
    made: list[OrthancProcess] = []
    try:
        cluster.start()
        for name in ("a", "b"):
            proc = pg_orthanc(
                tmp_path / name, tmp_path / "storage", site_file, cluster.orthanc_section()
            )
            made.append(proc)
            proc.start()
        a, b = made
        pid = "WLE-PG-" + uuid.uuid4().hex[:8].upper()
        [uid] = create(a, pid, 1)
        rad_a = make_client(a.urls.dicomweb, "rad.neuro", tmp_path)
        rad_b = make_client(b.urls.dicomweb, "rad.neuro", tmp_path)
        api_a, api_b = UpsApi(a.urls.dicomweb, "rad.neuro"), UpsApi(b.urls.dicomweb, "rad.neuro")
        try:
            params = {"PatientID": pid}
            tag_a, tag_b = (api.search(**params).headers["ETag"] for api in (api_a, api_b))
            assert tag_a == tag_b  # one store generation, one tag, whichever server answers
            assert poll(rad_b, scheduled(pid)) == (200, [(uid, S.SCHEDULED, None)])
            assert poll(rad_b, scheduled(pid))[0] == 304
            rad_a.claim(uid)  # through A
            assert poll(rad_b, scheduled(pid)) == (204, [])  # B sees it at once (now empty)
            r = api_b.session.get(api_b.base, params=params, headers={"If-None-Match": tag_a})
            assert r.status_code == 200
            assert r.headers["ETag"] != tag_a
            assert r.headers["ETag"] == api_a.search(**params).headers["ETag"]
        finally:
            for c in (rad_a, rad_b):
                c.close()
            for api in (api_a, api_b):
                api.session.close()
    finally:
        for proc in made:
            proc.stop(kill=True)
        cluster.remove()


# The PostgreSQL store's generation, run on Debian's Python with psycopg2 as the plugin runs it.
_PG_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import ups_store
section = json.loads(sys.argv[2])
store = ups_store.PgUpsStore(ups_store.PgSettings.from_config({**section, "Schema": "gen"}))
cols = {"state": "SCHEDULED", "priority": "LOW", "pool": "neuro", "due_utc": None}
out = {"start": store.generation()}
out["insert"] = [store.insert("1.1", dict(cols), {"x": 1}, []), store.generation()]
out["duplicate"] = [store.insert("1.1", dict(cols), {"x": 2}, []), store.generation()]

def claim(item):
    if item.state != "SCHEDULED":
        raise ValueError("taken")
    return ups_store.Change(fields={"state": "IN PROGRESS"})

store.mutate("1.1", claim)
out["claim"] = store.generation()
try:
    store.mutate("1.1", claim)
except ValueError:
    pass
out["lost_claim"] = store.generation()
store.mutate("1.1", lambda item: ups_store.Change(audit=[ups_store.AuditEntry("1.1", "r", "w")]))
out["audit_only"] = store.generation()
store.mutate("1.1", lambda item: ups_store.Change(
    fields={"state": "CANCELED"}, inserts=[("1.2", dict(cols), {"y": 1})]))
out["hand_back"] = store.generation()
try:
    store.mutate("1.2", lambda item: ups_store.Change(
        fields={"state": "CANCELED"}, inserts=[("1.1", dict(cols), {"y": 1})]))
except ups_store.DuplicateItem:
    pass
out["duplicate_hand_back"] = store.generation()
store.set_meta("orthanc_change_seq", "5")
out["meta"] = store.generation()
other = ups_store.PgUpsStore(ups_store.PgSettings.from_config({**section, "Schema": "gen"}))
out["other_process"] = other.generation()
fresh = ups_store.PgUpsStore(ups_store.PgSettings.from_config({**section, "Schema": "gen2"}))
out["other_store"] = fresh.generation()
print(json.dumps(out))
"""


def test_postgres_store_generation_counts_committed_changes_once() -> None:
    with pg_cluster() as c:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _PG_SCRIPT, str(SERVER_DIR), json.dumps(c.orthanc_section())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    epoch = out["start"].rsplit(":", 1)[0]
    assert str(uuid.UUID(epoch)) == epoch
    assert out["start"] == f"{epoch}:0"
    assert out["insert"] == [True, f"{epoch}:1"]
    assert out["duplicate"] == [False, f"{epoch}:1"]
    assert out["claim"] == f"{epoch}:2"
    assert out["lost_claim"] == f"{epoch}:2"
    assert out["audit_only"] == f"{epoch}:2"
    assert out["hand_back"] == f"{epoch}:3"  # an update and an insert: one change
    assert out["duplicate_hand_back"] == f"{epoch}:3"
    assert out["meta"] == f"{epoch}:3"
    assert out["other_process"] == f"{epoch}:3"
    assert out["other_store"].endswith(":0")
    assert not out["other_store"].startswith(epoch)


def test_the_cache_keeps_the_most_recent_answers_only(
    server: OrthancProcess,
    client: Callable[[str], UpsRsClient],
    pid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upsrs, "PAGE_CACHE_SIZE", 2)
    create(server, pid, 1)
    lead = client("lead")
    a, b, c = scheduled(pid), scheduled(pid + "-B"), scheduled(pid + "-C")
    assert [poll(lead, f)[0] for f in (a, b, c)] == [200, 204, 204]
    assert poll(lead, c)[0] == 304
    assert poll(lead, a)[0] == 200  # the oldest answer was dropped for the third
    assert poll(lead, b)[0] == 204  # ... and then b for a (c was used after b)
    assert [poll(lead, f)[0] for f in (a, b)] == [304, 304]
