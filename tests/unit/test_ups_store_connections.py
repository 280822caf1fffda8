"""The SQLite worklist store keeps one connection per OS thread (not per thread state: Orthanc
calls the plugin from threads whose Python thread state is new on each call), closes those of
threads that ended, and reads a lean page (summaries only) that holds what a full page's
summaries hold."""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from workstation.core import ups

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server" / "orthanc"))
import ups_store  # the plugin's store module (standard library only)


def _in_thread(store: ups_store.UpsStore) -> sqlite3.Connection:
    """The connection a new thread gets (the thread has ended when this returns)."""
    got: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: got.append(store._conn()))
    t.start()
    t.join(5)
    return got[0]


def test_one_connection_per_thread_kept_between_calls(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "w.sqlite")
    try:
        mine = store._conn()
        for _ in range(20):
            store.generation()
            assert store._conn() is mine
        assert store.connections_opened == 1
        other = _in_thread(store)
        assert other is not mine
        assert store.connections_opened == 2
    finally:
        store.close()


def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "w.sqlite")
    try:
        # Five threads alive at once (five thread idents), then ended.
        release = threading.Event()
        got: list[sqlite3.Connection] = []
        lock = threading.Lock()

        def work() -> None:
            conn = store._conn()
            with lock:
                got.append(conn)
            release.wait(5)

        threads = [threading.Thread(target=work) for _ in range(5)]
        for t in threads:
            t.start()
        while len(got) < 5:
            release.wait(0.01)
        assert len({id(c) for c in got}) == 5
        assert store.connections_opened == 6  # this thread's (the schema) and five
        # A sixth thread opens its connection once they have ended: theirs are closed then.
        go = threading.Event()
        newest: list[sqlite3.Connection] = []

        def late() -> None:
            go.wait(5)
            newest.append(store._conn())

        sixth = threading.Thread(target=late)
        sixth.start()
        release.set()
        for t in threads:
            t.join(5)
        go.set()
        sixth.join(5)
        for conn in got:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                conn.execute("SELECT 1")
        assert newest[0].execute("SELECT 1").fetchone()[0] == 1
        assert store.connections_opened == 7
        assert len(store._conns) == 2  # this thread's and the sixth's (closed at the next open)
        store.generation()  # this thread's connection still works
    finally:
        store.close()
    assert threading.get_ident() not in store._conns


def test_a_new_thread_on_an_ended_threads_ident_gets_its_own_connection(tmp_path: Path) -> None:
    """OS thread idents are reused: a connection is for one thread object, never inherited."""
    store = ups_store.UpsStore(tmp_path / "w.sqlite")
    try:
        seen: list[tuple[int, sqlite3.Connection]] = []
        for _ in range(8):  # one at a time: the OS usually hands out the same ident again
            t = threading.Thread(target=lambda: seen.append((threading.get_ident(), store._conn())))
            t.start()
            t.join(5)
        assert len({id(conn) for _ident, conn in seen}) == 8
        for _ident, conn in seen[:-1]:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                conn.execute("SELECT 1")
        assert store.connections_opened == 9
    finally:
        store.close()


def _reading_dataset(i: int, with_inputs: bool) -> dict[str, object]:
    ds = {
        **ups.dataset_of(
            SOPInstanceUID=f"1.2.826.0.1.3680043.10.999.77.{i}",
            ProcedureStepState="SCHEDULED",
            ScheduledProcedureStepPriority="LOW",
            ProcedureStepLabel="chest",
            PatientID=f"P{i}",
        )
    }
    if with_inputs:
        ds.update(
            ups.dataset_of(
                InputInformationSequence=[
                    ups.dataset_of(StudyInstanceUID=f"1.2.826.0.1.3680043.10.999.78.{i}")
                ]
            )
        )
    return ds


def test_lean_page_reads_the_summaries_only(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "w.sqlite")
    try:
        for i in range(6):
            ds = _reading_dataset(i, with_inputs=i % 2 == 0)
            columns = {"state": "SCHEDULED", "priority": "LOW", "pool": "chest"}
            assert store.insert(str(ups.first(ds, "SOPInstanceUID")), columns, ds, [])
        full, more = store.page_json(offset=0, limit=4, pool="chest")
        lean, lean_more = store.page_json(offset=0, limit=4, lean=True, pool="chest")
        assert (more, lean_more) == (2, 2)
        assert [r.uid for r in lean] == [r.uid for r in full]
        assert [r.tags for r in lean] == [r.tags for r in full]
        assert all(r.dataset == "" for r in lean)
        # The summary where a row has one, its dataset where it omits nothing.
        assert [r.summary for r in lean] == [r.summary or r.dataset for r in full]
        with_inputs = [r for r in full if r.summary is not None]
        assert len(with_inputs) == 2
        assert all("00404021" in r.dataset and "00404021" not in r.summary for r in with_inputs)
    finally:
        store.close()
