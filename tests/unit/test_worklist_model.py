"""Unit tests of workstation.worklist.model: WorkItem from UPS DICOM JSON, worklist order,
time left, filters (built-in and saved) and the lead's counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workstation.core import ups
from workstation.core.errors import ConfigError
from workstation.core.ups import ProcedureStepState as S
from workstation.core.ups import UpsPriority as P
from workstation.worklist import model as wl
from workstation.worklist.backend import replacement_dataset, second_read_dataset
from workstation.worklist.model import WorkItem, WorklistFilter

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
STUDY = "1.2.826.0.1.3680043.10.999.42"
SITE = ups.load_worklist_config(
    {
        "Pools": ["neuro", "chest", "body"],
        "DefaultPool": "body",
        "Routing": [{"Pool": "neuro", "BodyParts": ["HEAD"]}],
        "TurnaroundMinutes": {"HIGH": 60, "MEDIUM": 240, "LOW": 1440},
        "Institutions": {"St Elsewhere General Hospital": "STELSEWHERE"},
        "Users": {
            "lead": {"Role": "lead", "PerformerCode": "LEAD01", "Name": "Lead^Lena"},
            "rad": {"Role": "radiologist", "PerformerCode": "RAD01", "Pools": ["neuro"]},
        },
    }
)
LEAD = SITE.users["lead"]
RAD = SITE.users["rad"]


def study_facts(priority: str = "STAT") -> ups.StudyFacts:
    return ups.StudyFacts(
        study_instance_uid=STUDY,
        accession_number="ACC-7",
        patient_name="Doe^Jane",
        patient_id="PID-7",
        institution_name="St Elsewhere General Hospital",
        study_description="CT HEAD",
        requested_procedure_priority=priority,
        series=(
            ups.SeriesFacts(
                f"{STUDY}.1",
                "CT",
                "HEAD",
                tuple(("1.2.840.10008.5.1.4.1.1.2", f"{STUDY}.1.{i}") for i in range(1, 4)),
            ),
            ups.SeriesFacts(
                f"{STUDY}.2", "CT", "HEAD", (("1.2.840.10008.5.1.4.1.1.2", f"{STUDY}.2.1"),)
            ),
        ),
    )


def item(uid: str, priority: P, due_min: float | None, **kw: object) -> WorkItem:
    due = None if due_min is None else NOW + timedelta(minutes=due_min)
    return WorkItem(uid=uid, state=kw.pop("state", S.SCHEDULED), priority=priority, due=due, **kw)  # type: ignore[arg-type]


# -- parsing -----------------------------------------------------------------------------------


def test_reading_workitem_of_a_study_parses_every_column() -> None:
    ds = ups.build_reading_workitem(study_facts(), SITE, now=NOW)
    assert ds is not None
    ds.update(
        ups.dataset_of(
            ScheduledHumanPerformersSequence=[ups.performer_item(RAD, "99TEST")],
        )
    )
    ds[wl.TAG_STUDY_DATE] = {"vr": "DA", "Value": ["20260109"]}
    ds[wl.TAG_MODALITIES_IN_STUDY] = {"vr": "CS", "Value": ["CT", "SR"]}
    ds[wl.TAG_BODY_PART] = {"vr": "CS", "Value": ["head"]}
    wi = WorkItem.from_dicom_json(json.loads(json.dumps(ds)))  # through real JSON text
    assert wi.uid == ups.reading_workitem_uid(STUDY)
    assert wi.state is S.SCHEDULED
    assert wi.priority is P.HIGH  # STAT -> HIGH through the site map
    assert wi.scheduled_start == NOW
    assert wi.due == NOW + timedelta(minutes=60)
    assert wi.pool == "neuro"
    assert wi.performer_code == "RAD01"
    assert wi.performer_name == "rad"  # no display name: the code meaning is the user name
    assert wi.assigned_to == "rad"
    assert (wi.hospital_code, wi.hospital) == ("STELSEWHERE", "St Elsewhere General Hospital")
    assert (wi.modality, wi.body_part) == ("CT/SR", "HEAD")
    assert (wi.patient_name, wi.patient_id) == ("Doe^Jane", "PID-7")
    assert (wi.accession_number, wi.study_instance_uid) == ("ACC-7", STUDY)
    assert (wi.study_date, wi.study_description) == ("20260109", "CT HEAD")
    assert wi.number_of_images == 4  # 3 + 1 referenced SOP instances in the inputs
    assert wi.second_read_of is None and wi.replaces is None


def test_literal_tags_as_a_server_sends_them() -> None:
    ds = {
        "00080018": {"vr": "UI", "Value": ["2.25.77"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Test^Patient"}]},
        "00100020": {"vr": "LO", "Value": ["P-1"]},
        "00741000": {"vr": "CS", "Value": ["IN PROGRESS"]},
        "00741200": {"vr": "CS", "Value": ["LOW"]},
        "00741204": {"vr": "LO", "Value": ["chest"]},
        "00404011": {"vr": "DT", "Value": ["20260110113000+0000"]},
        "00201208": {"vr": "IS", "Value": [12]},
        "00404034": {
            "vr": "SQ",
            "Value": [
                {
                    "00404009": {
                        "vr": "SQ",
                        "Value": [{"00080100": {"vr": "SH", "Value": ["RAD03"]}}],
                    },
                    "00404037": {"vr": "PN", "Value": [{"Alphabetic": "Chest^Chris"}]},
                }
            ],
        },
        "0040A370": {"vr": "SQ", "Value": [{"00080050": {"vr": "SH", "Value": ["A-9"]}}]},
    }
    wi = WorkItem.from_dicom_json(ds)
    assert (wi.uid, wi.state, wi.priority, wi.pool) == ("2.25.77", S.IN_PROGRESS, P.LOW, "chest")
    assert wi.due == datetime(2026, 1, 10, 11, 30, tzinfo=UTC)
    assert (wi.performer_code, wi.performer_name) == ("RAD03", "Chest^Chris")
    assert (wi.accession_number, wi.number_of_images) == ("A-9", 12)
    assert (wi.hospital, wi.modality, wi.study_instance_uid) == ("", "", "")
    assert wi.is_overdue(NOW) is True
    assert wi.number_of_images == 12


@pytest.mark.parametrize(
    ("drop", "change", "status"),
    [
        ("00080018", None, ups.MISSING_ATTRIBUTE),
        (None, ("00741000", "STARTED"), ups.INVALID_ATTRIBUTE_VALUE),
        ("00741200", None, ups.INVALID_ATTRIBUTE_VALUE),
        (None, ("00404011", "tomorrow"), ups.INVALID_ATTRIBUTE_VALUE),
    ],
)
def test_broken_workitems_are_refused(
    drop: str | None, change: tuple[str, str] | None, status: ups.UpsStatus
) -> None:
    ds = {
        "00080018": {"vr": "UI", "Value": ["2.25.1"]},
        "00741000": {"vr": "CS", "Value": ["SCHEDULED"]},
        "00741200": {"vr": "CS", "Value": ["HIGH"]},
        "00404011": {"vr": "DT", "Value": ["20260110"]},
    }
    if drop:
        del ds[drop]
    if change:
        ds[change[0]]["Value"] = [change[1]]
    with pytest.raises(ups.UpsError) as err:
        WorkItem.from_dicom_json(ds)
    assert err.value.status is status
    assert err.value.http_status == 400


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ups.UpsError, match="DICOM JSON object"):
        WorkItem.from_dicom_json(["not", "a", "dataset"])  # type: ignore[arg-type]


def test_replacement_and_second_read_links() -> None:
    first = ups.build_reading_workitem(study_facts("ROUTINE"), SITE, now=NOW)
    assert first is not None
    first.update(ups.dataset_of(ScheduledHumanPerformersSequence=[ups.performer_item(RAD, "X")]))
    first.update(ups.dataset_of(ProcedureStepState="IN PROGRESS", TransactionUID="2.25.5"))
    repl = WorkItem.from_dicom_json(replacement_dataset(first, "2.25.900"))
    assert (repl.uid, repl.state, repl.replaces) == (
        "2.25.900",
        S.SCHEDULED,
        ups.first(first, "SOPInstanceUID"),
    )
    assert (repl.performer_code, repl.pool, repl.priority) == (None, "neuro", P.LOW)
    assert repl.due == NOW + timedelta(minutes=1440)  # the turnaround clock does not restart
    assert "00081195" not in replacement_dataset(first, "2.25.900")  # no Transaction UID
    second = WorkItem.from_dicom_json(
        {
            **second_read_dataset(first, "2.25.901", "body", None),
            **ups.dataset_of(ExpectedCompletionDateTime="20260111"),
        }
    )
    assert second.second_read_of == ups.first(first, "SOPInstanceUID")
    assert (second.pool, second.performer_code, second.state) == ("body", None, S.SCHEDULED)
    assert second.number_of_images == 4  # the first reading's reference is not an image


# -- order and time ------------------------------------------------------------------------------


def test_worklist_order_priority_then_due_overdue_first() -> None:
    items = [
        item("low-late", P.LOW, -30),
        item("high-later", P.HIGH, 50),
        item("med-soon", P.MEDIUM, 10),
        item("high-late", P.HIGH, -5),
        item("high-nodue", P.HIGH, None),
        item("low-soon", P.LOW, 20),
        item("high-soon", P.HIGH, 5),
    ]
    order = [i.uid for i in wl.worklist_order(items)]
    assert order == [
        "high-late",
        "high-soon",
        "high-later",
        "high-nodue",
        "med-soon",
        "low-late",
        "low-soon",
    ]


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (125, "2h 05m"),
        (59.5, "59m"),
        (3 * 1440 + 250, "3d 4h"),
        (-12, "overdue 12m"),
        (0, "overdue 0m"),
        (-(1440 + 61), "overdue 1d 1h"),
    ],
)
def test_time_left_text(minutes: float, text: str) -> None:
    assert wl.format_time_left(timedelta(minutes=minutes)) == text


def test_overdue_only_for_open_items() -> None:
    assert item("a", P.LOW, -1).is_overdue(NOW) is True
    assert item("b", P.LOW, 1).is_overdue(NOW) is False
    assert item("c", P.LOW, -1, state=S.COMPLETED).is_overdue(NOW) is False
    assert item("d", P.LOW, None).is_overdue(NOW) is False
    assert item("a", P.LOW, -90).time_left(NOW) == timedelta(minutes=-90)


# -- filters -----------------------------------------------------------------------------------

ITEMS = [
    item("1", P.HIGH, -10, pool="neuro", performer_code="RAD01", hospital_code="STE",
         patient_name="Doe^Jane", patient_id="P1", accession_number="A1"),
    item("2", P.LOW, 30, pool="neuro", hospital_code="GEN", patient_name="Roe^Rick",
         patient_id="P2", accession_number="A2"),
    item("3", P.MEDIUM, 300, pool="chest", performer_code="RAD02", hospital_code="STE",
         patient_name="Moe^Mia", patient_id="P3", accession_number="A3"),
    item("4", P.LOW, -400, pool="body", state=S.COMPLETED, hospital_code="GEN",
         patient_name="Doe^John", patient_id="P4", accession_number="A4"),
    item("5", P.LOW, 90, pool="body", state=S.IN_PROGRESS, performer_code="RAD01",
         hospital_code="GEN", patient_name="Poe^Pia", patient_id="P5", accession_number="A5"),
]  # fmt: skip


def shown(flt: WorklistFilter) -> list[str]:
    return [i.uid for i in ITEMS if flt.matches(i, NOW)]


def test_builtin_filters() -> None:
    assert shown(wl.all_open()) == ["1", "2", "3", "5"]
    assert shown(wl.my_work(RAD)) == ["1", "5"]
    assert shown(wl.my_pools(RAD)) == ["1", "2"]
    assert shown(wl.overdue()) == ["1"]  # item 4 is late but COMPLETED
    assert shown(wl.hospital("GEN")) == ["2", "5"]
    assert [f.name for f in wl.builtin_filters(RAD)] == [
        "All open",
        "My work",
        "My pools",
        "Overdue",
    ]
    assert [(f.name, f.hospital) for f in wl.hospital_filters(ITEMS[:3])] == [
        ("Hospital: GEN", "GEN"),
        ("Hospital: STE", "STE"),
    ]


def test_filter_criteria() -> None:
    assert shown(WorklistFilter(unassigned=True)) == ["2"]
    assert shown(WorklistFilter(priority=P.LOW)) == ["2", "5"]
    assert shown(WorklistFilter(states=())) == ["1", "2", "3", "4", "5"]
    assert shown(WorklistFilter(states=(S.COMPLETED,))) == ["4"]
    assert shown(WorklistFilter(pools=("neuro", "body"))) == ["1", "2", "5"]
    assert shown(WorklistFilter(patient_id="P3")) == ["3"]
    assert shown(WorklistFilter(accession_number="A5")) == ["5"]
    assert shown(WorklistFilter(text="doe")) == ["1"]
    assert shown(WorklistFilter(text="JANE doe")) == ["1"]
    assert shown(WorklistFilter(text="a2")) == ["2"]


def test_filters_that_match_nothing() -> None:
    admin = ups.WorklistUser("admin", ups.Role.ADMIN)
    assert wl.my_work(admin).matches_nothing is True
    assert shown(wl.my_work(admin)) == []
    assert wl.my_pools(LEAD).matches_nothing is True  # the lead has no pools of their own
    assert wl.all_open().matches_nothing is False


def test_filter_json_round_trip_and_errors(tmp_path: Path) -> None:
    f = WorklistFilter(
        name="Neuro STAT", priority=P.HIGH, pools=("neuro",), performer="RAD01", text="doe"
    )
    assert WorklistFilter.from_json(json.loads(json.dumps(f.to_json()))) == f
    with pytest.raises(ConfigError, match="unknown keys \\['colour'\\]"):
        WorklistFilter.from_json({"colour": "red"})
    with pytest.raises(ConfigError, match="key 'priority'"):
        WorklistFilter.from_json({"priority": "STAT"})
    with pytest.raises(ConfigError, match="key 'states'"):
        WorklistFilter.from_json({"states": ["DONE"]})
    saved = wl.SavedFilters.load(tmp_path / "filters.json")
    assert saved.filters == {}
    saved.save(f)
    again = wl.SavedFilters.load(tmp_path / "filters.json")
    assert again.filters == {"Neuro STAT": f}
    again.remove("Neuro STAT")
    assert wl.SavedFilters.load(tmp_path / "filters.json").filters == {}
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json"):
        wl.SavedFilters.load(tmp_path / "bad.json")


def test_queue_counts_per_reader_and_pool() -> None:
    named = [
        *ITEMS[:2],
        item(
            "3", P.MEDIUM, 300, pool="chest", performer_code="RAD02", performer_name="Chest^Chris"
        ),
        *ITEMS[3:],
    ]
    counts = wl.queue_counts(named, NOW)
    assert counts.per_reader == {"": (1, 0), "Chest^Chris": (1, 0), "RAD01": (2, 1)}
    assert counts.per_pool == {"body": (1, 0), "chest": (1, 0), "neuro": (2, 1)}
    assert [i.uid for i in counts.overdue] == ["1"]


# -- prefetch ----------------------------------------------------------------------------------


def test_prefetch_order_takes_what_the_user_may_read_in_worklist_order() -> None:
    admin = ups.WorklistUser("it", ups.Role.ADMIN)
    items = [
        item("a", P.HIGH, 10, study_instance_uid="S.a", pool="neuro"),
        item("b", P.HIGH, 20, study_instance_uid="S.b", pool="neuro", performer_code="OTHER"),
        item("c", P.MEDIUM, 5, study_instance_uid="S.c", pool="body"),  # not rad's pool
        item("d", P.MEDIUM, 6, study_instance_uid="S.d", performer_code=RAD.performer_code),
        item("e", P.LOW, 1, study_instance_uid="S.e", pool="neuro", state=S.COMPLETED),
        item("f", P.LOW, 2, study_instance_uid="S.a", pool="neuro"),  # a second read of a
        item("g", P.LOW, 3, study_instance_uid="", pool="neuro"),
        item("h", P.LOW, 4, study_instance_uid="S.h", pool="neuro"),
        item("i", P.LOW, 5, study_instance_uid="S.i", pool="neuro"),
    ]
    never = lambda _uid: False  # noqa: E731
    assert RAD.pools == frozenset({"neuro"})
    assert wl.prefetch_order(items, RAD, never, 10) == ["S.a", "S.d", "S.h", "S.i"]
    assert wl.prefetch_order(items, RAD, never, 2) == ["S.a", "S.d"]
    assert wl.prefetch_order(items, RAD, lambda uid: uid in {"S.a", "S.h"}, 10) == ["S.d", "S.i"]
    # A lead claims from every pool, but another reader's study is read elsewhere.
    lead = wl.prefetch_order(items, LEAD, never, 10)
    assert lead == ["S.a", "S.c", "S.h", "S.i"]
    assert wl.prefetch_order(items, admin, never, 10) == []  # does not read
    assert wl.prefetch_order(items, RAD, never, 0) == []


def test_next_to_read_is_the_most_urgent_item_the_user_may_read() -> None:
    mine = RAD.performer_code
    items = wl.worklist_order(
        [
            item("late", P.LOW, -30, study_instance_uid="S.late", pool="neuro"),
            item("stat", P.HIGH, 30, study_instance_uid="S.stat", pool="body"),  # not rad's
            item("held", P.HIGH, 40, study_instance_uid="S.held", performer_code="OTHER"),
            item("own", P.MEDIUM, 90, study_instance_uid="S.own", performer_code=mine),
            item("wip", P.MEDIUM, 95, study_instance_uid="S.wip", performer_code=mine,
                 state=S.IN_PROGRESS),  # claimed before a restart: resumed
            item("done", P.HIGH, 10, study_instance_uid="S.done", pool="neuro",
                 state=S.COMPLETED),
            item("second", P.MEDIUM, 120, study_instance_uid="S.own", pool="neuro"),
        ]
    )  # fmt: skip
    never = lambda _uid: False  # noqa: E731
    assert [i.uid for i in wl.next_to_read(items, RAD, never, 10)] == [
        "own", "wip", "second", "late",
    ]  # fmt: skip
    # The study on screen, or one whose final report is on its way, is not read again.
    assert [i.uid for i in wl.next_to_read(items, RAD, lambda u: u == "S.own", 2)] == [
        "wip", "late",
    ]  # fmt: skip
    assert [i.uid for i in wl.next_to_read(items, LEAD, never, 1)] == ["stat"]
    assert wl.next_to_read(items, RAD, never, 0) == []
