"""Search Workitems paged in SQL (PS3.18 §11.9): the same UIDs, order and "more results" Warning
as the Python matching path, in the SQLite and PostgreSQL stores and through the real plugin."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pg import SYSTEM_PYTHON, pg_cluster
from upsrs_helpers import MAXIMUM_RESULTS, workitem

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "server" / "orthanc"))
import ups_store

SERVER = Path(__file__).resolve().parents[3] / "server" / "orthanc"
RANK = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}

# Filters of ``candidates``/``page``: (state, priority, pool, patient_id, visible_to).
FILTERS: list[dict[str, Any]] = [
    {},
    {"state": "SCHEDULED"},
    {"state": "SCHEDULED", "pool": "neuro"},
    {"priority": "HIGH"},
    {"patient_id": "P-3"},
    {"visible_to": ("R1", ["neuro"])},
    {"state": "SCHEDULED", "visible_to": ("R2", ["neuro", "chest"])},
    {"visible_to": (None, ["chest"])},
    {"visible_to": ("R3", [])},
    {"visible_to": (None, [])},
]
PAGES = [(0, 0), (0, 1), (0, 50), (37, 50), (100, 100), (250, 100), (299, 7), (1000, 10)]


def rows(n: int = 300) -> dict[str, dict[str, Any]]:
    """``n`` workitems' columns with many ties on priority and due time (and some NULL dues)."""
    rng = random.Random(20240501)
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        due = rng.choice([None, 100.0, 200.0, float(rng.randrange(50, 400))])
        out[f"1.2.{rng.randrange(1000)}.{i}"] = {
            "state": rng.choice(["SCHEDULED", "SCHEDULED", "IN PROGRESS", "COMPLETED"]),
            "priority": rng.choice(["HIGH", "MEDIUM", "LOW"]),
            "pool": rng.choice(["neuro", "chest", None]),
            "performer": rng.choice([None, None, "R1", "R2"]),
            "due_utc": due,
            "patient_id": f"P-{i % 7}",
        }
    return out


def expected_uids(data: dict[str, dict[str, Any]], f: dict[str, Any]) -> list[str]:
    """The worklist order computed here, independently of SQL (byte order of UIDs last)."""

    def keep(c: dict[str, Any]) -> bool:
        for key, column in (("state", "state"), ("priority", "priority"), ("pool", "pool")):
            if key in f and c[column] != f[key]:
                return False
        if "patient_id" in f and c["patient_id"] != f["patient_id"]:
            return False
        if "visible_to" in f:
            code, pools = f["visible_to"]
            own = code is not None and c["performer"] == code
            if not (own or (c["performer"] is None and c["pool"] in pools)):
                return False
        return True

    chosen = [uid for uid, c in data.items() if keep(c)]
    # Inserted one by one, so creation order is insertion order.
    created = {uid: i for i, uid in enumerate(data)}
    return sorted(
        chosen,
        key=lambda u: (
            RANK[data[u]["priority"]],
            data[u]["due_utc"] is None,
            data[u]["due_utc"] or 0.0,
            created[u],
            u.encode(),
        ),
    )


def fill(store: Any, data: dict[str, dict[str, Any]]) -> None:
    for uid, c in data.items():
        assert store.insert(uid, c, {"uid": uid}, [])


def test_sqlite_page_is_the_slice_of_candidates(tmp_path: Path) -> None:
    data = rows()
    store = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    fill(store, data)
    for f in FILTERS:
        full = [i.uid for i in store.candidates(**f)]
        assert full == expected_uids(data, f), f
        for offset, limit in PAGES:
            items, more = store.page(offset=offset, limit=limit, **f)
            assert [i.uid for i in items] == full[offset : offset + limit], (f, offset, limit)
            assert [i.dataset["uid"] for i in items] == [i.uid for i in items]
            assert more == max(0, len(full) - offset - limit), (f, offset, limit)
    with pytest.raises(ValueError):
        store.page(offset=-1, limit=10)


_PG_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import ups_store
store = ups_store.PgUpsStore(ups_store.PgSettings.from_config(json.loads(sys.argv[2])))
data = json.loads(sys.argv[3])
for uid, c in data["rows"].items():
    store.insert(uid, c, {"uid": uid}, [])
out = []
for f in data["filters"]:
    if "visible_to" in f:
        f["visible_to"] = tuple(f["visible_to"])
    full = [i.uid for i in store.candidates(**f)]
    pages = []
    for offset, limit in data["pages"]:
        items, more = store.page(offset=offset, limit=limit, **f)
        pages.append([[i.uid for i in items], [i.dataset["uid"] for i in items], more])
    out.append([full, pages])
print(json.dumps(out))
"""


def test_postgres_page_is_the_slice_of_candidates() -> None:
    """The same rows in PostgreSQL: same order as computed here (and as SQLite), same pages."""
    data = rows()
    with pg_cluster() as c:
        section = {**c.orthanc_section(), "Schema": "paging"}
        payload = {"rows": data, "filters": FILTERS, "pages": PAGES}
        result = subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                _PG_SCRIPT,
                str(SERVER),
                json.dumps(section),
                json.dumps(payload),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    for f, (full, pages) in zip(FILTERS, json.loads(result.stdout), strict=True):
        assert full == expected_uids(data, f), f
        for (offset, limit), (uids, dataset_uids, more) in zip(PAGES, pages, strict=True):
            assert uids == full[offset : offset + limit], (f, offset, limit)
            assert dataset_uids == uids
            assert more == max(0, len(full) - offset - limit), (f, offset, limit)


# -- through the plugin ------------------------------------------------------------------------

_MORE = re.compile(r'^299 \S+ "There are (\d+) additional results to request"$')


def more_results(response: Any) -> int:
    """The count of the "more results" Warning (0 when there is none)."""
    warning = response.headers.get("Warning")
    if warning is None:
        return 0
    match = _MORE.match(warning)
    assert match, warning
    return int(match.group(1))


def search_all(client: Any, params: dict[str, str], page: int) -> tuple[list[str], list[int]]:
    """Every UID of a search, page by page, and each page's "more results" count."""
    uids: list[str] = []
    counts: list[int] = []
    offset = 0
    while True:
        r = client.search(**params, limit=str(page), offset=str(offset))
        assert r.status_code in (200, 204), r.text
        counts.append(more_results(r))
        got = [d["00080018"]["Value"][0] for d in r.json()] if r.status_code == 200 else []
        uids += got
        if len(got) < page:
            return uids, counts
        offset += page


def test_plugin_sql_pages_equal_python_path(api: Any) -> None:
    """Pages of an SQL-only search equal those of the same search forced onto the Python path
    (an extra PatientName key), for a lead and for a radiologist's visibility (RAD01, neuro)."""
    # Its own PatientID, without "-" (a "-" makes the value a range, not an exact key).
    patient_id = "WLSQL" + uuid.uuid4().hex[:12].upper()
    lead = api("lead")
    made: list[tuple[str, str, str | None]] = []
    rng = random.Random(7)
    for i in range(210):
        label = rng.choice(["neuro", "chest"])
        performer = rng.choice([None, None, "RAD01", "RAD02"])
        ds = workitem(
            patient_id,
            label=label,
            priority=rng.choice(["HIGH", "MEDIUM", "LOW"]),
            start=f"202405{1 + i % 3:02d}{8 + i % 5:02d}0000+0000",
            performer=performer,
        )
        r = lead.create(ds)
        assert r.status_code == 201, r.text
        made.append((r.headers["Location"].rsplit("/", 1)[-1], label, performer))

    rad = api("rad.neuro")
    seen_by_rad = {u for u, label, p in made if p == "RAD01" or (p is None and label == "neuro")}
    cases = [
        (lead, {"PatientID": patient_id}, {u for u, _, _ in made}),
        (lead, {"PatientID": patient_id, "ProcedureStepLabel": "chest"}, None),
        (lead, {"PatientID": patient_id, "ScheduledProcedureStepPriority": "HIGH"}, None),
        (rad, {"PatientID": patient_id, "ProcedureStepState": "SCHEDULED"}, seen_by_rad),
    ]
    for client, params, expected in cases:
        python_params = {**params, "PatientName": "Test^Patient"}  # not a column: Python path
        for page in (MAXIMUM_RESULTS, 17):
            sql_uids, sql_more = search_all(client, params, page)
            py_uids, py_more = search_all(client, python_params, page)
            assert sql_uids == py_uids, (client.user, params, page)
            assert sql_more == py_more
            n = len(sql_uids)
            assert len(set(sql_uids)) == n
            assert sql_more == [max(0, n - page * (k + 1)) for k in range(len(sql_more))]
            if expected is not None:
                assert set(sql_uids) == expected
        assert n > 0
    # A page beyond the end: 204 and no Warning; limit above the cap: capped, exact remainder.
    r = lead.search(PatientID=patient_id, offset="500")
    assert r.status_code == 204 and "Warning" not in r.headers
    r = lead.search(PatientID=patient_id, limit="1000", offset="5")
    assert r.status_code == 200 and len(r.json()) == MAXIMUM_RESULTS
    assert more_results(r) == len(made) - 5 - MAXIMUM_RESULTS
