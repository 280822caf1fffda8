"""Worklist pages decoded through the client's row memo (msgspec splits an answer into its rows'
texts; a row seen before reuses its WorkItem) give exactly what the plain decoding gives; a
poll after one change decodes only the changed row; answers msgspec cannot read (NaN, broken
JSON, a row that is not an object) are read and refused as before. And the plugin keeps one
SQLite connection per Orthanc thread across requests.

Against a real Orthanc with the worklist plugin; the odd answers come from an HTTP server of
the test's own on loopback (no archive sends them on purpose)."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from support import LoopbackHandler, loopback_http

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from upsrs_helpers import UpsApi, start_worklist_orthanc, upsrs_client, workitem

from workstation.archive.orthanc import OrthancProcess
from workstation.archive.remote import RemoteProtocolError
from workstation.core import ups
from workstation.worklist.model import WorkItem, WorklistFilter
from workstation.worklist.upsrs import RowMemo, UpsRsClient

PATIENT = "MEMO-0001"
ITEMS = 12
NEURO = WorklistFilter(states=(ups.ProcedureStepState.SCHEDULED,), pools=("neuro",))
ANY_SCHEDULED = WorklistFilter(states=(ups.ProcedureStepState.SCHEDULED,))  # one request


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("memo-wl"), verbose=True)
    try:
        lead = UpsApi(proc.urls.dicomweb, "lead")
        for i in range(ITEMS):
            r = lead.create(workitem(PATIENT, start=f"2024050108{i:02d}00+0000"))
            assert r.status_code == 201, r.text
        yield proc
    finally:
        proc.stop(kill=True)


def _reference(client: UpsRsClient) -> list[WorkItem]:
    """The same search decoded the plain way: json.loads and WorkItem.from_dicom_json."""
    params = {**client.search_params(NEURO, datetime.now(UTC), NEURO.states[0])}
    params.update(offset="0", limit="100")
    r = client._web.session.get(client.base, params=params)
    assert r.status_code == 200, r.text
    return [WorkItem.from_dicom_json(d) for d in json.loads(r.content)]


def test_poll_after_a_change_reuses_the_unchanged_rows(
    server: OrthancProcess, tmp_path: Path
) -> None:
    client = upsrs_client(server.urls.dicomweb, "rad.neuro", tmp_path / "claims.sqlite")
    other = upsrs_client(server.urls.dicomweb, "rad.neuro2", tmp_path / "other.sqlite")
    try:
        first = client.search(NEURO, limit=100).items
        assert len(first) == ITEMS
        assert list(first) == _reference(client)
        assert len(client.rows) == ITEMS
        # Another reader claims one: the next poll is a 200 without it, every other row reused.
        taken = first[5]
        other.claim(taken.uid)
        second = client.search(NEURO, limit=100).items
        assert client.last_status == 200
        assert [i.uid for i in second] == [i.uid for i in first if i.uid != taken.uid]
        by_uid = {i.uid: i for i in first}
        assert all(i is by_uid[i.uid] for i in second)  # the same objects: not decoded again
        assert list(second) == _reference(client)
        # A lead assigns one: its row's text changed, so it alone is a new WorkItem.
        moved = second[0]
        lead = upsrs_client(server.urls.dicomweb, "lead", tmp_path / "lead.sqlite")
        lead.assign(moved.uid, reader="RAD01")
        lead.close()
        third = client.search(NEURO, limit=100).items
        again = {i.uid: i for i in third}
        assert again[moved.uid] is not moved
        assert again[moved.uid].performer_code == "RAD01"
        assert moved.performer_code is None
        assert sum(i is by_uid[i.uid] for i in third) == ITEMS - 2
        assert list(third) == _reference(client)
        # clear_search_cache forgets the rows too: the next search decodes every one.
        client.clear_search_cache()
        assert len(client.rows) == 0
        fourth = client.search(NEURO, limit=100).items
        assert fourth == third
        assert not any(a is b for a, b in zip(fourth, third, strict=True))
    finally:
        client.close()
        other.close()


def test_plugin_keeps_its_sqlite_connection_between_requests(
    server: OrthancProcess, tmp_path: Path
) -> None:
    """Orthanc's HTTP threads get a new Python thread state on every call: a connection kept in
    a threading.local was opened anew by every request (and read with a cold cache)."""
    client = upsrs_client(server.urls.dicomweb, "rad.neuro", tmp_path / "claims.sqlite")
    log = server.log_path
    start = log.stat().st_size
    try:
        for _ in range(30):
            client.clear_search_cache()
            client.search(NEURO, limit=100)
    finally:
        client.close()
    with open(log, "rb") as fp:
        fp.seek(start)
        text = fp.read().decode("utf-8", "replace")
    opened = [int(n) for n in re.findall(r"store connections opened (\d+)", text)]
    assert len(opened) == 30
    # One keep-alive connection is served by one Orthanc thread: at most one more connection
    # (the thread that answered first may differ), never one per request.
    assert opened[-1] - opened[0] <= 1, opened


# -- answers msgspec does not read, from a server of the test's own ---------------------------


def _row(i: int, **change: Any) -> dict[str, Any]:
    ds = workitem(PATIENT, start=f"2024050108{i:02d}00+0000")
    ds["00080018"] = {"vr": "UI", "Value": [f"1.2.826.0.1.3680043.10.999.91.{i}"]}
    ds.update(change)
    return ds


class Answer(LoopbackHandler):
    body: ClassVar[bytes] = b"[]"

    def do_GET(self) -> None:
        self._send(200, self.body, "application/dicom+json")


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[UpsRsClient]:
    with loopback_http(Answer) as url:
        client = upsrs_client(url, "rad.neuro", tmp_path / "claims.sqlite")
        try:
            yield client
        finally:
            client.close()


def test_nan_answer_is_read_as_before(fake: UpsRsClient) -> None:
    """msgspec refuses NaN, Python's json reads it: such a page takes the plain path."""
    text = json.dumps([_row(1), _row(2, **{"00201208": {"vr": "IS", "Value": [float("nan")]}})])
    assert "NaN" in text
    Answer.body = text.encode()
    items = fake.search(ANY_SCHEDULED, limit=100).items
    assert list(items) == [WorkItem.from_dicom_json(d) for d in json.loads(text)]
    assert [i.number_of_images for i in items] == [None, None]
    assert len(fake.rows) == 0  # nothing memoised from the plain path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"00080018": ', "with invalid JSON"),
        (json.dumps([_row(1), 5]).encode(), "not a list of DICOM JSON objects"),
        (json.dumps({"00080018": {"vr": "UI", "Value": ["1.2"]}}).encode(), "not a list of"),
    ],
)
def test_broken_answers_are_refused_as_before(fake: UpsRsClient, body: bytes, message: str) -> None:
    Answer.body = body
    with pytest.raises(RemoteProtocolError, match=message):
        fake.search(ANY_SCHEDULED, limit=100)
    assert len(fake.rows) == 0


def test_broken_row_is_skipped_and_not_kept(
    fake: UpsRsClient, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [_row(1), _row(2, **{"00741000": {"vr": "CS", "Value": ["WAITING"]}}), _row(3)]
    Answer.body = json.dumps(rows).encode()
    with caplog.at_level(logging.WARNING, logger="workstation.worklist.upsrs"):
        items = fake.search(ANY_SCHEDULED, limit=100).items
    assert [i.uid for i in items] == [
        "1.2.826.0.1.3680043.10.999.91.1",
        "1.2.826.0.1.3680043.10.999.91.3",
    ]
    assert len(fake.rows) == 2
    assert "is not a UPS state" in caplog.text
    # Seen again: the broken row is refused again (still warned), the good ones reused.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="workstation.worklist.upsrs"):
        fake.clear_search_cache()  # (clears the memo too: fill it once more first)
        first = fake.search(ANY_SCHEDULED, limit=100).items
        fake.clear_search_cache(rows=False)  # an unconditional request, the memo kept
        again = fake.search(ANY_SCHEDULED, limit=100).items
    assert all(a is b for a, b in zip(again, first, strict=True))
    assert caplog.text.count("is not a UPS state") == 2  # once per answer


def test_row_memo_drops_the_least_recent_rows_past_its_bound() -> None:
    item = WorkItem(
        uid="1.2.3", state=ups.ProcedureStepState.SCHEDULED, priority=ups.UpsPriority.LOW
    )
    memo = RowMemo(max_bytes=300)
    keys = [bytes([65 + i]) * 100 for i in range(3)]  # 100 bytes each
    memo.put_many({k: item for k in keys})
    assert len(memo) == 3
    assert memo.get_many([keys[0]]) == [item]  # the first becomes the most recent
    memo.put_many({b"D" * 100: item})  # 400 bytes: the least recent (B) goes
    assert memo.get_many(keys) == [item, None, item]
    assert len(memo) == 3
    memo.put_many({b"E" * 250: item})  # everything before it goes but the newest
    assert len(memo) == 1
    memo.clear()
    assert memo.get_many([b"E" * 250]) == [None]
