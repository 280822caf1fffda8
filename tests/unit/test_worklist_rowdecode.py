"""The typed row reader (``rowdecode.decode_row``) gives exactly the WorkItem that
``WorkItem.from_dicom_json`` gives, or declines: checked on reading workitems as the archive
stores them and on thousands of rows broken at random in every way the reader distinguishes
(value types, VRs, missing and null elements, sequences, states, dates, counts)."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ct_study_facts

from workstation.core import ups
from workstation.core.errors import WorkstationError
from workstation.worklist.model import WorkItem
from workstation.worklist.rowdecode import decode_row

SITE_FILE = Path(__file__).resolve().parents[2] / "server" / "orthanc" / "worklist.json"


def _base_rows() -> list[dict[str, Any]]:
    """Reading workitems as the plugin builds them, without their image references (what a
    search returns by default), some assigned, one replacing another."""
    site = ups.load_worklist_config(json.loads(SITE_FILE.read_text("utf-8")), str(SITE_FILE))
    reader = next(u for u in site.users.values() if u.role is ups.Role.RADIOLOGIST)
    rows = []
    for i in range(6):
        study = f"1.2.826.0.1.3680043.10.999.55.{i + 1}"
        facts = ct_study_facts(
            study,
            name=f"Row^Patient{i}",
            patient_id=f"ROW-{i:03d}",
            accession=f"ACC{i:04d}",
            priority=["STAT", "URGENT", "ROUTINE"][i % 3],
        )
        ds = ups.build_reading_workitem(
            facts,
            site,
            now=datetime(2026, 11, 26, 9, i, tzinfo=UTC),
            retrieve_base_url="http://127.0.0.1/dicom-web",
        )
        assert ds is not None
        ds = {t: v for t, v in ds.items() if t != "00404021"}  # as a default search returns
        if i % 2:
            ds.update(
                ups.dataset_of(
                    ScheduledHumanPerformersSequence=[ups.performer_item(reader, "99TELERAD")]
                )
            )
        if i == 5:
            ds.update(
                ups.dataset_of(
                    ReplacedProcedureStepSequence=[
                        ups.dataset_of(ReferencedSOPInstanceUID="1.2.826.0.1.3680043.10.999.5")
                    ]
                )
            )
        rows.append(ds)
    return rows


BASE = _base_rows()


def _fields(item: WorkItem) -> dict[str, Any]:
    """Every field, a date-time with its offset (== alone equates instants across zones)."""
    out = {}
    for f in fields(item):
        value = getattr(item, f.name)
        out[f.name] = (value, value.utcoffset()) if isinstance(value, datetime) else value
    return out


def _reference(text: str) -> WorkItem | Exception:
    try:
        return WorkItem.from_dicom_json(json.loads(text))
    except (WorkstationError, ValueError, TypeError, OverflowError) as exc:
        return exc


def test_the_archives_rows_are_read_by_the_typed_reader() -> None:
    for ds in BASE:
        text = json.dumps(ds)
        item = decode_row(text.encode())
        assert item is not None
        reference = _reference(text)
        assert isinstance(reference, WorkItem)
        assert _fields(item) == _fields(reference)
    first, assigned, replacing = (decode_row(json.dumps(BASE[i]).encode()) for i in (0, 1, 5))
    assert first is not None and assigned is not None and replacing is not None
    assert (first.patient_name, first.patient_id, first.accession_number) == (
        "Row^Patient0",
        "ROW-000",
        "ACC0000",
    )
    assert (first.modality, first.body_part, first.hospital, first.pool) == (
        "CT",
        "CHEST",
        "Demo General Hospital",
        "chest",
    )
    assert (first.priority, first.state) == (ups.UpsPriority.HIGH, ups.ProcedureStepState.SCHEDULED)
    assert first.number_of_images == 1
    assert first.due is not None and first.due - first.scheduled_start == timedelta(hours=1)
    assert assigned.performer_code is not None and first.performer_code is None
    assert replacing.replaces == "1.2.826.0.1.3680043.10.999.5"


# -- random breakage -------------------------------------------------------------------------

VALUES: list[Any] = [
    [],
    None,
    ["  padded  "],
    [""],
    [" "],
    ["", "SECOND"],
    [7],
    [3.75],
    [1e400],
    [True],
    [None],
    [["nested"]],
    [{"Alphabetic": "Name^Given"}],
    [{"Ideographic": "X"}],
    [{"Alphabetic": 5}],
    [{}],
    ["scheduled"],
    ["IN PROGRESS"],
    ["HIGH"],
    ["low "],
    ["20261126143000+0100"],
    ["2026112614"],
    ["2026-11-26"],
    ["12"],
    ["many"],
    ["CT", "MR", "ct"],
]
VRS = ["PN", "SQ", "CS", "LO", "UI", "DT", "IS", None]
ELEMENTS: list[Any] = [None, "text", 5, [], {}]


def _elements(ds: dict[str, Any], out: list[dict[str, Any]]) -> None:
    """Every dataset (top level and sequence items) of ``ds``, in ``out``."""
    out.append(ds)
    for elem in ds.values():
        if isinstance(elem, dict) and isinstance(elem.get("Value"), list):
            for item in elem["Value"]:
                if isinstance(item, dict) and all(isinstance(k, str) and len(k) == 8 for k in item):
                    _elements(item, out)


def _break(rng: random.Random, ds: dict[str, Any]) -> dict[str, Any]:
    ds = copy.deepcopy(ds)
    for _ in range(rng.randint(1, 3)):
        where: list[dict[str, Any]] = []
        _elements(ds, where)
        target = rng.choice(where)
        tags = list(target) or ["00080018"]
        tag = rng.choice([*tags, "00201208", "00404021", "00741210", "00080061", "00080060"])
        action = rng.random()
        elem = target.get(tag)
        if action < 0.45:
            new = dict(elem) if isinstance(elem, dict) else {"vr": "LO"}
            value = rng.choice(VALUES)
            if value is None:
                new.pop("Value", None)
            else:
                new["Value"] = copy.deepcopy(value)
            target[tag] = new
        elif action < 0.65:
            new = dict(elem) if isinstance(elem, dict) else {"Value": ["X"]}
            vr = rng.choice(VRS)
            if vr is None:
                new.pop("vr", None)
            else:
                new["vr"] = vr
            target[tag] = new
        elif action < 0.8:
            target[tag] = copy.deepcopy(rng.choice(ELEMENTS))
        elif action < 0.9:
            target.pop(tag, None)
        elif isinstance(elem, dict) and isinstance(elem.get("Value"), list) and elem["Value"]:
            # a sequence's items: one dropped, duplicated or replaced by a non-object
            items = elem["Value"]
            i = rng.randrange(len(items))
            choice = rng.random()
            if choice < 0.3:
                items.pop(i)
            elif choice < 0.6:
                items.append(copy.deepcopy(items[i]))
            else:
                items[i] = rng.choice(["not an item", 3, None, {}])
    return ds


@pytest.mark.parametrize("seed", range(4))
def test_random_rows_read_as_the_general_reader_or_declined(seed: int) -> None:
    rng = random.Random(20261126 + seed)
    accepted = declined = refused = 0
    for n in range(1500):
        ds = _break(rng, BASE[n % len(BASE)])
        text = json.dumps(ds)  # (1e400 becomes Infinity: msgspec refuses, so do we)
        item = decode_row(text.encode())
        reference = _reference(text)
        if item is None:
            declined += 1
            refused += isinstance(reference, Exception)
            continue
        accepted += 1
        assert isinstance(reference, WorkItem), (text, reference)
        assert _fields(item) == _fields(reference), text
    # Both paths were exercised: many rows read, many declined, refusals among the declined.
    assert accepted >= 300, accepted
    assert declined >= 300, declined
    assert refused >= 25, refused


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"00404021": {"vr": "SQ"}}, "image references: counts and second-read links"),
        ({"00741210": None}, "processing parameters: second-read links"),
        ({"00100010": {"vr": "LO", "Value": [{"Alphabetic": "A^B"}]}}, "a name object, not PN"),
        ({"00741000": {"vr": "CS", "Value": ["WAITING"]}}, "not a UPS state"),
        ({"00404011": {"vr": "DT", "Value": ["2026-11-26"]}}, "not a DT"),
        ({"00201208": {"vr": "IS", "Value": [True]}}, "a boolean count"),
        ({"0040A370": {"vr": "SQ", "Value": ["not an item"]}}, "an item that is not an object"),
    ],
)
def test_declines(change: dict[str, Any], why: str) -> None:
    assert decode_row(json.dumps({**BASE[0], **change}).encode()) is None, why


def test_infinite_count_reads_as_no_count() -> None:
    """A count of 1e400 (infinite as a float) reads as no count, not an OverflowError; the
    typed reader leaves such a row to the general one (msgspec refuses the number)."""
    ds = {**BASE[0], "00201208": {"vr": "IS", "Value": [1e400]}}
    assert WorkItem.from_dicom_json(ds).number_of_images is None
    assert decode_row(json.dumps(ds).replace("Infinity", "1e400").encode()) is None
