"""Claim UPS workitems as one reader from a process of its own (helper of the race test).

Usage: claim_worker.py WORKITEMS_URL USER PASSWORD START_AT SLOT_MS UIDS_JSON OUT_JSON

Claims the i-th UID at wall-clock time START_AT + i × SLOT_MS (Change Workitem State to IN
PROGRESS with a fresh Transaction UID), so that two workers started with the same arguments
send each claim at the same moment; writes what each request got.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import requests


def main(argv: list[str]) -> int:
    base, user, password, start_at, slot_ms, uids_file, out_file = argv
    uids = json.loads(Path(uids_file).read_text(encoding="utf-8"))
    session = requests.Session()
    session.auth = (user, password)
    session.get(base, params={"limit": "1"}, timeout=30)  # open the connection before the start
    results = []
    for i, uid in enumerate(uids):
        slot = float(start_at) + i * float(slot_ms) / 1000
        while (left := slot - time.time()) > 0:
            time.sleep(left - 0.002 if left > 0.003 else 0)  # sleep, then spin the last 2 ms
        txn = f"2.25.{uuid.uuid4().int}"
        body = {
            "00741000": {"vr": "CS", "Value": ["IN PROGRESS"]},
            "00081195": {"vr": "UI", "Value": [txn]},
        }
        sent = time.time()
        t0 = time.perf_counter()
        r = session.put(
            f"{base}/{uid}/state",
            data=json.dumps(body),
            headers={"Content-Type": "application/dicom+json"},
            timeout=30,
        )
        results.append(
            {
                "uid": uid,
                "status": r.status_code,
                "warning": r.headers.get("Warning"),
                "txn": txn,
                "sent": sent,
                "ms": 1000 * (time.perf_counter() - t0),
            }
        )
    Path(out_file).write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
