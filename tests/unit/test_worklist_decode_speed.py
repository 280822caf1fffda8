"""The fast decode of a worklist page (WorkItem.from_dicom_json) gives exactly what the generic,
obviously-correct reading of DICOM JSON (PS3.18 F.2) through core.ups gives, field by field, for
a page the reference plugin's store answers and for the odd shapes a server may send; and it is
faster than that reading."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support import ct_study_facts

from workstation.core import ups
from workstation.worklist.model import WorkItem

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server" / "orthanc"))
import ups_store  # the plugin's store module (standard library only)

SITE_FILE = Path(__file__).resolve().parents[2] / "server" / "orthanc" / "worklist.json"
CT = "1.2.840.10008.5.1.4.1.1.2"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


# -- the reference: the decoder as first written, on core.ups's generic helpers -------------------
def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _items(dataset: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [v for v in ups.values(dataset, name) if isinstance(v, Mapping)]


def _code(item: Mapping[str, Any]) -> tuple[str, str]:
    value = _text(ups.first(item, "CodeValue") or ups.first(item, "LongCodeValue"))
    return value, _text(ups.first(item, "CodeMeaning"))


def _dt(dataset: Mapping[str, Any], name: str) -> datetime | None:
    text = ups.first(dataset, name)
    return ups.parse_dt(str(text)) if text else None


def reference(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the WorkItem of ``dataset``, read the slow, plain way."""
    f = ups.first
    uid = _text(f(dataset, "SOPInstanceUID"))
    assert uid
    performer_code: str | None = None
    performer_name = ""
    for person in _items(dataset, "ScheduledHumanPerformersSequence"):
        for code in _items(person, "HumanPerformerCodeSequence"):
            value, meaning = _code(code)
            if value:
                performer_code, performer_name = value, meaning
                break
        performer_name = _text(f(person, "HumanPerformerName")) or performer_name
        if performer_code:
            break
    hospital_code = hospital = ""
    for station in _items(dataset, "ScheduledStationNameCodeSequence"):
        hospital_code, hospital = _code(station)
        if hospital_code:
            break
    hospital = hospital or _text(f(dataset, "00080080")) or hospital_code
    accession = description = ""
    study_uid = _text(f(dataset, "StudyInstanceUID"))
    for request in _items(dataset, "ReferencedRequestSequence"):
        accession = accession or _text(f(request, "AccessionNumber"))
        description = description or _text(f(request, "RequestedProcedureDescription"))
        study_uid = study_uid or _text(f(request, "StudyInstanceUID"))
    count, seen, linked, input_study = 0, False, None, ""
    for item in _items(dataset, "InputInformationSequence"):
        input_study = input_study or _text(f(item, "StudyInstanceUID"))
        for ref in _items(item, "ReferencedSOPSequence"):
            seen = True
            if f(ref, "ReferencedSOPClassUID") == ups.UPS_PUSH_SOP_CLASS_UID:
                linked = linked or _text(f(ref, "ReferencedSOPInstanceUID")) or None
            else:
                count += 1
    try:
        images = int(f(dataset, "00201208")) if f(dataset, "00201208") is not None else None
    except (TypeError, ValueError):
        images = None
    if images is None and seen:
        images = count
    modalities = [_text(m) for m in ups.values(dataset, "00080061") if _text(m)] or [
        _text(m) for m in ups.values(dataset, "00080060") if _text(m)
    ]
    replaces = None
    for ref in _items(dataset, "ReplacedProcedureStepSequence"):
        replaces = _text(f(ref, "ReferencedSOPInstanceUID")) or None
    return {
        "uid": uid,
        "state": ups.parse_state(f(dataset, "ProcedureStepState")),
        "priority": ups.parse_priority(f(dataset, "ScheduledProcedureStepPriority")),
        "due": _dt(dataset, "ExpectedCompletionDateTime"),
        "scheduled_start": _dt(dataset, "ScheduledProcedureStepStartDateTime"),
        "pool": _text(f(dataset, "ProcedureStepLabel")) or None,
        "worklist_label": _text(f(dataset, "WorklistLabel")),
        "performer_code": performer_code,
        "performer_name": performer_name,
        "hospital_code": hospital_code,
        "hospital": hospital,
        "modality": "/".join(dict.fromkeys(m.upper() for m in modalities)),
        "body_part": _text(f(dataset, "00180015")).upper(),
        "patient_name": _text(f(dataset, "PatientName")),
        "patient_id": _text(f(dataset, "PatientID")),
        "accession_number": accession,
        "study_instance_uid": study_uid or input_study,
        "study_date": _text(f(dataset, "00080020")),
        "study_description": description or _text(f(dataset, "00081030")),
        "number_of_images": images,
        "second_read_of": ups.second_read_of(dataset) or linked,
        "replaces": replaces,
        "study_time": _text(f(dataset, "00080030")),
        "referring_physician": _text(f(dataset, "00080090")),
    }


def as_fields(item: WorkItem) -> dict[str, Any]:
    return {fl.name: getattr(item, fl.name) for fl in fields(item) if fl.init}


# -- a page as the plugin answers it --------------------------------------------------------------
@pytest.fixture(scope="module")
def site() -> ups.WorklistConfig:
    return ups.read_worklist_config(SITE_FILE)


@pytest.fixture(scope="module")
def plugin_page(tmp_path_factory: pytest.TempPathFactory, site: ups.WorklistConfig) -> bytes:
    """The JSON text of a 100-row page from the plugin's store (the text Orthanc sends)."""
    rng = random.Random(6)
    store = ups_store.UpsStore(tmp_path_factory.mktemp("store") / "worklist.sqlite")
    readers = [u for u in site.users.values() if u.may(ups.Permission.CLAIM) and u.pools]
    for i in range(120):
        study = f"1.2.826.0.1.3680043.10.999.6.{i + 1}"
        facts = ct_study_facts(
            study,
            name=f"Decode^Patient{i}",
            patient_id=f"DEC-{i:05d}",
            accession=f"ACC{i:06d}",
            hospital=rng.choice(["Demo General Hospital", "Riverside Clinic"]),
            description=f"CT {rng.choice(['HEAD', 'CHEST'])}",
            study_date=f"2026{1 + i % 12:02d}{1 + i % 28:02d}",
            priority=rng.choice(["STAT", "URGENT", "ROUTINE"]),  # (the random draws' order)
        )
        started = NOW - timedelta(minutes=rng.uniform(0, 600))
        ds = ups.build_reading_workitem(
            facts, site, now=started, retrieve_base_url="http://127.0.0.1/dicom-web"
        )
        assert ds is not None
        if i % 3 == 0:  # a third assigned to a reader
            reader = readers[i % len(readers)]
            ds.update(
                ups.dataset_of(
                    ScheduledHumanPerformersSequence=[
                        ups.performer_item(reader, site.performer_scheme)
                    ]
                )
            )
        index = ups.index_workitem(ds)
        assert store.insert(ups.first(ds, "SOPInstanceUID"), index.columns(), ds, [])
    rows, more = store.page_json(offset=0, limit=100)
    store.close()
    assert (len(rows), more) == (100, 20)
    return ("[" + ",".join(r.summary or r.dataset for r in rows) + "]").encode("utf-8")


def test_plugin_page_decodes_field_for_field_as_the_reference(plugin_page: bytes) -> None:
    data = json.loads(plugin_page)
    assert len(data) == 100
    for dataset in data:
        assert as_fields(WorkItem.from_dicom_json(dataset)) == reference(dataset)
    items = [WorkItem.from_dicom_json(d) for d in data]
    assigned = [i for i in items if i.performer_code]
    assert len(assigned) == 34  # rows 0, 3, ..., 99 of the insertion order, in any page order
    first = items[0]
    assert first.modality == "CT"
    assert first.body_part == "CHEST"
    assert first.number_of_images == 1
    assert first.referring_physician == "Referrer^Rita"
    assert first.study_time == "101500"
    assert first.due is not None and first.due.tzinfo is not None
    assert [i.order_key for i in items] == sorted(i.order_key for i in items)  # worklist order


def _elem(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


ODD_SHAPES: list[dict[str, Any]] = [
    # padded text, a PN as a plain string, a partial DT, a DT with another offset
    {
        "00080018": _elem("UI", " 1.2.3 "),
        "00741000": _elem("CS", "SCHEDULED "),
        "00741200": _elem("CS", " LOW"),
        "00100010": _elem("PN", "Plain^String "),
        "00404011": _elem("DT", "202611261430"),
        "00404005": _elem("DT", "20261126143000.25-0500"),
        "00080061": _elem("CS", "mr", "CT", "MR", " "),
        "00180015": _elem("CS", " knee"),
        "00201208": _elem("IS", "12"),
    },
    # empty values, PN without Alphabetic, Modality only, a count that is not a number
    {
        "00080018": _elem("UI", "1.2.4"),
        "00741000": _elem("CS", "IN PROGRESS"),
        "00741200": _elem("CS", "HIGH"),
        "00100010": {"vr": "PN", "Value": [{"Ideographic": "X"}]},
        "00100020": {"vr": "LO", "Value": []},
        "00404011": {"vr": "DT", "Value": [""]},
        "00080061": _elem("CS"),
        "00080060": _elem("CS", "us"),
        "00201208": _elem("IS", "many"),
        "00741204": _elem("LO", "  "),
    },
    # performer by name only, Long Code Value station, replaced and second-read links, inputs
    {
        "00080018": _elem("UI", "1.2.5"),
        "00741000": _elem("CS", "COMPLETED"),
        "00741200": _elem("CS", "MEDIUM"),
        "00404034": _elem(
            "SQ",
            {"00404037": _elem("PN", {"Alphabetic": "Reader^Rae"})},
            {
                "00404009": _elem(
                    "SQ", {"00080100": _elem("SH", "RAD9"), "00080104": _elem("LO", "Dr Nine")}
                )
            },
        ),
        "00404025": _elem(
            "SQ",
            {"00080119": _elem("UC", "A-VERY-LONG-HOSPITAL-CODE"), "00080104": _elem("LO", "")},
        ),
        "00080080": _elem("LO", "Institution Name"),
        "00741224": _elem("SQ", {"00081155": _elem("UI", "1.2.1")}),
        "00404021": _elem(
            "SQ",
            {
                "0020000D": _elem("UI", "1.2.9"),
                "00081199": _elem(
                    "SQ",
                    {"00081150": _elem("UI", CT), "00081155": _elem("UI", "1.2.9.1")},
                    {
                        "00081150": _elem("UI", ups.UPS_PUSH_SOP_CLASS_UID),
                        "00081155": _elem("UI", "1.2.8"),
                    },
                ),
            },
        ),
        "0040A370": _elem("SQ", {"00321060": _elem("LO", "Request text")}),
    },
    # a second read by its processing parameters; sequences of odd items, numbers as values
    {
        "00080018": _elem("UI", "1.2.6"),
        "00741000": _elem("CS", "CANCELED"),
        "00741200": _elem("CS", "LOW"),
        "00741210": ups.second_read_parameters("1.2.7"),
        "00404025": {"vr": "SQ", "Value": ["not an item"]},
        "0040A370": {"vr": "SQ", "Value": None},
        "00100020": _elem("LO", 42),
        "00201208": _elem("IS", 3),
    },
    # codes whose Code Value is blank or a number: Long Code Value only when it is empty as sent
    {
        "00080018": _elem("UI", "1.2.10"),
        "00741000": _elem("CS", "SCHEDULED"),
        "00741200": _elem("CS", "LOW"),
        "00404025": _elem(
            "SQ",
            {"00080100": _elem("SH", " "), "00080119": _elem("UC", "SKIPPED-LONG-CODE")},
            {"00080100": _elem("SH", 0), "00080119": _elem("UC", "TAKEN-LONG-CODE")},
        ),
        "00404034": _elem(
            "SQ",
            {"00404009": _elem("SQ", {"00080100": _elem("SH", 7), "00080104": _elem("LO", "N")})},
        ),
    },
]


@pytest.mark.parametrize("n", range(len(ODD_SHAPES)))
def test_odd_shapes_decode_as_the_reference(n: int) -> None:
    dataset = ODD_SHAPES[n]
    assert as_fields(WorkItem.from_dicom_json(dataset)) == reference(dataset)


def test_odd_shapes_exact_values() -> None:
    a, b, c, d, e = (WorkItem.from_dicom_json(x) for x in ODD_SHAPES)
    assert (e.hospital_code, e.performer_code, e.performer_name) == ("TAKEN-LONG-CODE", "7", "N")
    assert (a.uid, a.patient_name, a.modality, a.body_part, a.number_of_images) == (
        "1.2.3",
        "Plain^String",
        "MR/CT",
        "KNEE",
        12,
    )
    assert a.due == datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    assert a.scheduled_start == datetime(
        2026, 11, 26, 14, 30, 0, 250000, tzinfo=timezone(timedelta(hours=-5))
    )
    # A name written only in its ideographic group is kept ("=X"), and shown from there.
    assert (b.patient_name, b.patient_id, b.due, b.modality, b.number_of_images, b.pool) == (
        "=X",
        "",
        None,
        "US",
        None,
        None,
    )
    assert (c.performer_code, c.performer_name) == ("RAD9", "Dr Nine")
    assert (c.hospital_code, c.hospital) == ("A-VERY-LONG-HOSPITAL-CODE", "Institution Name")
    assert (c.replaces, c.second_read_of, c.number_of_images) == ("1.2.1", "1.2.8", 1)
    assert (c.study_instance_uid, c.study_description) == ("1.2.9", "Request text")
    assert (d.second_read_of, d.patient_id, d.number_of_images, d.hospital) == (
        "1.2.7",
        "42",
        3,
        "",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"00741000": _elem("CS", "WAITING")}, "is not a UPS state"),
        ({"00741200": _elem("CS", "URGENT")}, "is not HIGH, MEDIUM or LOW"),
        ({"00741200": _elem("CS", 7)}, "'7' is not HIGH, MEDIUM or LOW"),
        ({"00741000": {"vr": "CS", "Value": [["SCHEDULED"]]}}, "is not a UPS state"),
        ({"00404011": _elem("DT", "2026-11-26")}, "is not a DICOM DT"),
        ({"00404011": _elem("DT", "20261332")}, "is not a date"),
        ({"00080018": _elem("UI")}, "without SOP Instance UID"),
    ],
)
def test_broken_workitems_are_refused_as_before(change: dict[str, Any], message: str) -> None:
    dataset = {**ODD_SHAPES[1], **change}
    with pytest.raises(ups.UpsError, match=message) as exc:
        WorkItem.from_dicom_json(dataset)
    assert exc.value.http_status == 400


def test_fast_decode_is_faster_than_the_reference(plugin_page: bytes) -> None:
    """CPU time per page, best of several (shared machine): at most 0.7 of the reference's
    (measured here 0.4: 0.8 ms against 2.1 ms for 100 rows)."""
    data = json.loads(plugin_page)

    def best(fn: Any) -> float:
        times = []
        for _ in range(15):
            t = time.process_time()
            for _ in range(5):
                fn()
            times.append(time.process_time() - t)
        return min(times)

    fast = best(lambda: [WorkItem.from_dicom_json(d) for d in data])
    slow = best(lambda: [WorkItem(**reference(d)) for d in data])
    assert fast <= 0.7 * slow, f"fast {fast * 200:.2f} ms vs reference {slow * 200:.2f} ms"
