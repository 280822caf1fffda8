"""Unit tests of workstation.core.ups: the UPS state machine, status codes, priorities, due
times, DICOM JSON helpers, search matching, the site config and the reading workitem."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from workstation.core import ups
from workstation.core.errors import ConfigError, WorkstationError

REPO = Path(__file__).resolve().parents[2]
S = ups.ProcedureStepState
TXN = "2.25.1234"
OTHER_TXN = "2.25.9999"


# -- status codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [
        (ups.ALREADY_CANCELED, 0xB304, None),
        (ups.ALREADY_COMPLETED, 0xB306, None),
        (ups.MAY_NO_LONGER_BE_UPDATED, 0xC300, 409),
        (ups.WRONG_TRANSACTION_UID, 0xC301, 409),
        (ups.ALREADY_IN_PROGRESS, 0xC302, 409),
        (ups.MAY_NOT_BECOME_SCHEDULED, 0xC303, 409),
        (ups.FINAL_STATE_NOT_MET, 0xC304, 409),
        (ups.NO_SUCH_UPS, 0xC307, 404),
        (ups.NOT_SCHEDULED_AT_CREATE, 0xC309, 400),
        (ups.NOT_YET_IN_PROGRESS, 0xC310, 409),
        (ups.ALREADY_COMPLETED_CANCEL, 0xC311, 409),
        (ups.PERFORMER_UNREACHABLE, 0xC312, 409),
        (ups.PERFORMER_REFUSES_CANCEL, 0xC313, 409),
        (ups.DUPLICATE_SOP_INSTANCE, 0x0111, 409),
    ],
)
def test_status_codes_and_http_mapping(status: ups.UpsStatus, code: int, http: int | None) -> None:
    assert status.code == code
    assert status.http_status == http
    assert status.is_warning is (http is None)
    assert ups.STATUS_BY_CODE[code] is status


def test_status_text_names_the_code() -> None:
    assert str(ups.ALREADY_IN_PROGRESS) == "0xC302: The UPS is already IN PROGRESS"
    err = ups.UpsError.from_status(ups.WRONG_TRANSACTION_UID, "detail")
    assert str(err) == "0xC301: The correct Transaction UID was not provided (detail)"
    assert err.http_status == 409
    assert isinstance(err, WorkstationError)
    with pytest.raises(ValueError, match="warning"):
        ups.UpsError.from_status(ups.ALREADY_CANCELED)


# -- the state machine (PS3.4 Table CC.1.1-2) ----------------------------------------------------


@pytest.mark.parametrize(
    ("current", "requested", "txn", "held", "expected"),
    [
        # claim
        (S.SCHEDULED, S.IN_PROGRESS, TXN, None, (S.IN_PROGRESS, True, None)),
        (S.IN_PROGRESS, S.IN_PROGRESS, OTHER_TXN, TXN, 0xC302),
        (S.IN_PROGRESS, S.IN_PROGRESS, TXN, TXN, 0xC302),
        (S.COMPLETED, S.IN_PROGRESS, TXN, TXN, 0xC300),
        (S.CANCELED, S.IN_PROGRESS, TXN, None, 0xC300),
        (S.SCHEDULED, S.IN_PROGRESS, None, None, 0x0121),
        (S.SCHEDULED, S.IN_PROGRESS, "1.02.3", None, 0x0106),
        # complete
        (S.SCHEDULED, S.COMPLETED, TXN, None, 0xC310),
        (S.IN_PROGRESS, S.COMPLETED, TXN, TXN, (S.COMPLETED, True, None)),
        (S.IN_PROGRESS, S.COMPLETED, OTHER_TXN, TXN, 0xC301),
        (S.IN_PROGRESS, S.COMPLETED, None, TXN, 0xC301),
        (S.COMPLETED, S.COMPLETED, TXN, TXN, (S.COMPLETED, False, 0xB306)),
        (S.CANCELED, S.COMPLETED, TXN, TXN, 0xC300),
        # cancel (discontinue) by the performer
        (S.SCHEDULED, S.CANCELED, TXN, None, 0xC310),
        (S.IN_PROGRESS, S.CANCELED, TXN, TXN, (S.CANCELED, True, None)),
        (S.IN_PROGRESS, S.CANCELED, OTHER_TXN, TXN, 0xC301),
        (S.CANCELED, S.CANCELED, TXN, TXN, (S.CANCELED, False, 0xB304)),
        (S.COMPLETED, S.CANCELED, TXN, TXN, 0xC300),
        # back to SCHEDULED: never
        (S.SCHEDULED, S.SCHEDULED, None, None, 0xC303),
        (S.IN_PROGRESS, S.SCHEDULED, TXN, TXN, 0xC303),
    ],
)
def test_change_state_table(
    current: ups.ProcedureStepState,
    requested: ups.ProcedureStepState,
    txn: str | None,
    held: str | None,
    expected: object,
) -> None:
    if isinstance(expected, int):
        with pytest.raises(ups.UpsError) as info:
            ups.change_state(current, requested, txn, held)
        assert info.value.status is not None
        assert info.value.status.code == expected
    else:
        new_state, changed, warning = expected  # type: ignore[misc]
        t = ups.change_state(current, requested, txn, held)
        assert (t.new_state, t.changed) == (new_state, changed)
        assert (t.warning.code if t.warning else None) == warning


@pytest.mark.parametrize(
    ("current", "txn", "held", "expected"),
    [
        (S.SCHEDULED, None, None, None),
        (S.SCHEDULED, TXN, None, 0xC310),
        (S.IN_PROGRESS, TXN, TXN, None),
        (S.IN_PROGRESS, None, TXN, 0xC301),
        (S.IN_PROGRESS, OTHER_TXN, TXN, 0xC301),
        (S.COMPLETED, TXN, TXN, 0xC300),
        (S.CANCELED, None, None, 0xC300),
    ],
)
def test_check_update_table(
    current: ups.ProcedureStepState, txn: str | None, held: str | None, expected: int | None
) -> None:
    if expected is None:
        ups.check_update(current, txn, held)
    else:
        with pytest.raises(ups.UpsError) as info:
            ups.check_update(current, txn, held)
        assert info.value.status is not None and info.value.status.code == expected
        assert info.value.http_status == 409


def test_request_cancel() -> None:
    t = ups.request_cancel(S.SCHEDULED, performer_reachable=False)
    assert (t.new_state, t.changed, t.warning) == (S.CANCELED, True, None)
    t = ups.request_cancel(S.IN_PROGRESS, performer_reachable=True)
    assert (t.new_state, t.changed) == (S.CANCELED, True)
    with pytest.raises(ups.UpsError) as info:
        ups.request_cancel(S.IN_PROGRESS, performer_reachable=False)
    assert info.value.status is ups.PERFORMER_UNREACHABLE
    t = ups.request_cancel(S.CANCELED, performer_reachable=True)
    assert (t.changed, t.warning) == (False, ups.ALREADY_CANCELED)
    with pytest.raises(ups.UpsError) as info:
        ups.request_cancel(S.COMPLETED, performer_reachable=True)
    assert info.value.status is ups.ALREADY_COMPLETED_CANCEL
    assert info.value.http_status == 409


def test_parse_state() -> None:
    assert ups.parse_state(" IN PROGRESS") is S.IN_PROGRESS
    with pytest.raises(ups.UpsError) as info:
        ups.parse_state("DONE")
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("uid", "valid"),
    [("1.2.3", True), ("2.25.0", True), ("1.02.3", False), ("1..2", False), ("", False),
     ("1.2.a", False), ("1." + "2" * 63, False), ("1." + "2" * 62, True)],
)  # fmt: skip
def test_uid_syntax(uid: str, valid: bool) -> None:
    assert ups.is_valid_uid(uid) is valid


# -- priorities and due times ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("STAT", "HIGH"), ("stat ", "HIGH"), ("URGENT", "MEDIUM"), ("ROUTINE", "LOW"),
     ("MEDIUM", "MEDIUM"), ("", "LOW"), (None, "LOW"), ("WHENEVER", "LOW")],
)  # fmt: skip
def test_default_priority_map(requested: str | None, expected: str) -> None:
    assert ups.map_priority(requested) == ups.UpsPriority(expected)


def test_site_priority_map_and_default() -> None:
    table = {"STAT": ups.UpsPriority.HIGH, "ROUTINE": ups.UpsPriority.MEDIUM}
    assert ups.map_priority("routine", table) is ups.UpsPriority.MEDIUM
    assert ups.map_priority("URGENT", table, ups.UpsPriority.MEDIUM) is ups.UpsPriority.MEDIUM


def test_expected_completion_from_targets() -> None:
    start = datetime(2024, 5, 1, 23, 40, tzinfo=UTC)
    targets = {ups.UpsPriority.HIGH: 30, ups.UpsPriority.MEDIUM: 180, ups.UpsPriority.LOW: 2880}
    assert ups.expected_completion(start, "HIGH", targets) == datetime(
        2024, 5, 2, 0, 10, tzinfo=UTC
    )
    assert ups.expected_completion(start, ups.UpsPriority.LOW, targets) == start + timedelta(days=2)
    assert ups.expected_completion(start, "MEDIUM") == start + timedelta(hours=4)
    with pytest.raises(ValueError, match="timezone"):
        ups.expected_completion(datetime(2024, 5, 1), "HIGH")
    with pytest.raises(ConfigError, match="LOW"):
        ups.expected_completion(start, "LOW", {ups.UpsPriority.HIGH: 30})


# -- DT ------------------------------------------------------------------------------------------


def test_format_dt_is_utc_with_offset() -> None:
    moment = datetime(2024, 5, 1, 10, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    assert ups.format_dt(moment) == "20240501083015+0000"
    with pytest.raises(ValueError):
        ups.format_dt(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("text", "upper", "expected"),
    [
        ("2024", False, datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024", True, datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("202402", True, datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
        ("20240501", True, datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2024050110", True, datetime(2024, 5, 1, 10, 59, 59, 999999, tzinfo=UTC)),
        ("20240501103015.5", True, datetime(2024, 5, 1, 10, 30, 15, 599999, tzinfo=UTC)),
        ("20240501103015+0200", False, datetime(2024, 5, 1, 8, 30, 15, tzinfo=UTC)),
        ("20240501103015-0130", False, datetime(2024, 5, 1, 12, 0, 15, tzinfo=UTC)),
    ],
)
def test_parse_dt(text: str, upper: bool, expected: datetime) -> None:
    assert ups.parse_dt(text, upper=upper) == expected


@pytest.mark.parametrize("text", ["2024-05-01", "20241301", "yesterday", "202405011"])
def test_parse_dt_rejects(text: str) -> None:
    with pytest.raises(ups.UpsError) as info:
        ups.parse_dt(text)
    assert info.value.http_status == 400


# -- DICOM JSON ----------------------------------------------------------------------------------


def test_dataset_of_writes_dicom_json() -> None:
    ds = ups.dataset_of(
        PatientName="Doe^Jane",
        PatientID="P1",
        ReferencedRequestSequence=[ups.dataset_of(AccessionNumber="A1")],
        IssuerOfPatientID="",
        StudyInstanceUID=None,
        ScheduledHumanPerformersSequence=[],
    )
    assert ds == {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00100020": {"vr": "LO", "Value": ["P1"]},
        "00100021": {"vr": "LO"},
        "00404034": {"vr": "SQ"},
        "0040A370": {"vr": "SQ", "Value": [{"00080050": {"vr": "SH", "Value": ["A1"]}}]},
    }
    assert list(ds) == sorted(ds)
    assert ups.first(ds, "PatientName") == "Doe^Jane"
    assert ups.first(ds, "00100020") == "P1"
    assert ups.first(ds, "IssuerOfPatientID", "none") == "none"
    assert ups.items(ds, "ReferencedRequestSequence")[0]["00080050"]["Value"] == ["A1"]


def test_code_item_uses_long_code_value_past_16_characters() -> None:
    assert ups.code_item("SHORT", "99X", "m") == {
        "00080100": {"vr": "SH", "Value": ["SHORT"]},
        "00080102": {"vr": "SH", "Value": ["99X"]},
        "00080104": {"vr": "LO", "Value": ["m"]},
    }
    long = ups.code_item("A" * 17, "99X", "m")
    assert long["00080119"] == {"vr": "UC", "Value": ["A" * 17]}
    assert ups.code_value(long) == "A" * 17


def test_parse_dataset_body() -> None:
    one = {"00741000": {"vr": "CS", "Value": ["SCHEDULED"]}}
    assert ups.parse_dataset_body(json.dumps(one).encode()) == one
    assert ups.parse_dataset_body(json.dumps([one]).encode()) == one
    for bad in (b"{", b"[1, 2]", b'{"7410": {"vr": "CS"}}', b'{"00741000": {"Value": []}}',
                b'{"00741000": {"vr": "CS", "Value": "X"}}', "é".encode("latin-1")):  # fmt: skip
        with pytest.raises(ups.UpsError) as info:
            ups.parse_dataset_body(bad)
        assert info.value.http_status == 400


def test_tag_of() -> None:
    assert ups.tag_of("ProcedureStepState") == "00741000"
    assert ups.tag_of("0040a370") == "0040A370"
    with pytest.raises(ups.UpsError) as info:
        ups.tag_of("NoSuchKeyword")
    assert info.value.http_status == 400


# -- search --------------------------------------------------------------------------------------


def _item(**kw: object) -> ups.Dataset:
    base: dict[str, object] = {
        "PatientName": "Doe^Jane",
        "PatientID": "P1",
        "ProcedureStepState": "SCHEDULED",
        "ScheduledProcedureStepPriority": "HIGH",
        "ProcedureStepLabel": "neuro",
        "ScheduledProcedureStepStartDateTime": "20240501103000+0000",
        "ReferencedRequestSequence": [ups.dataset_of(AccessionNumber="ACC1")],
        "ScheduledHumanPerformersSequence": [
            ups.dataset_of(HumanPerformerCodeSequence=[ups.code_item("RAD01", "99T", "R")])
        ],
        "SOPInstanceUID": "1.2.3.4",
    }
    base.update(kw)
    return ups.dataset_of(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "hit"),
    [
        ({"ProcedureStepState": "SCHEDULED"}, True),
        ({"00741000": "IN PROGRESS"}, False),
        ({"PatientName": "doe^jane"}, True),
        ({"PatientName": "Do*"}, True),
        ({"PatientName": "Smith*"}, False),
        ({"PatientID": "P?"}, True),
        ({"PatientID": ""}, True),
        ({"AccessionNumber": "ACC1"}, True),
        ({"ReferencedRequestSequence.AccessionNumber": "ACC2"}, False),
        ({"ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue": "RAD01"}, True),
        ({"00404034.00404009.00080100": "RAD02"}, False),
        ({"SOPInstanceUID": "9.9,1.2.3.4"}, True),
        ({"SOPInstanceUID": "9.9\\9.8"}, False),
        ({"ScheduledProcedureStepStartDateTime": "20240501-20240501"}, True),
        ({"ScheduledProcedureStepStartDateTime": "20240501103001-"}, False),
        ({"ScheduledProcedureStepStartDateTime": "-202405011030"}, True),
        ({"ScheduledProcedureStepStartDateTime": "20240501123000+0200-20240501123000+0200"}, True),
        ({"ScheduledProcedureStepStartDateTime": "20240501"}, True),
        ({"ProcedureStepLabel": "neuro", "ScheduledProcedureStepPriority": "LOW"}, False),
        ({"WorklistLabel": "x"}, False),
    ],
)
def test_matching(params: dict[str, str], hit: bool) -> None:
    query = ups.parse_search_query(params)
    assert ups.matches(_item(), query.criteria) is hit


TWO_WRITINGS = "Al-Rashid^Omar=الرشيد^عمر"  # Latin, then Arabic (PS3.5 6.2.1)


def test_a_name_of_several_writings_is_one_json_object_of_its_groups() -> None:
    elem = ups.element("PatientName", TWO_WRITINGS)
    assert elem == {
        "vr": "PN",
        "Value": [{"Alphabetic": "Al-Rashid^Omar", "Ideographic": "الرشيد^عمر"}],
    }
    assert ups.values({"00100010": elem}, "PatientName") == [TWO_WRITINGS]
    assert ups.pn_object("=الرشيد^عمر==") == {"Ideographic": "الرشيد^عمر"}
    assert ups.pn_string({"Phonetic": "P"}) == "==P"
    # What the plugin stored before: the whole string under Alphabetic reads the same.
    assert ups.pn_string({"Alphabetic": TWO_WRITINGS}) == TWO_WRITINGS


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("الرشيد*", True),  # the Arabic writing
        ("*عمر", True),
        ("al-rashid*", True),  # the Latin one, case ignored
        ("al-rashid^omar", True),
        ("الرشيد^عمر", True),
        (TWO_WRITINGS, True),  # whole
        ("Al-Rashid^Omar=*", True),
        ("Omar*", False),
        ("=الرشيد^عمر", False),  # a query with "=" is matched whole
    ],
)
def test_a_name_is_found_by_any_of_its_writings(query: str, hit: bool) -> None:
    for stored in (TWO_WRITINGS, {"Alphabetic": TWO_WRITINGS}):  # as now, and as before
        item = _item(PatientName=stored)
        criteria = ups.parse_search_query({"PatientName": query}).criteria
        assert ups.matches(item, criteria) is hit, (query, stored)


def test_parse_search_query_parameters() -> None:
    q = ups.parse_search_query(
        {"limit": "5", "offset": "10", "fuzzymatching": "true", "PatientID": "P1",
         "includefield": "00404021,ProcedureStepProgressInformationSequence"}
    )  # fmt: skip
    assert (q.limit, q.offset, q.fuzzy_requested) == (5, 10, True)
    assert q.include == frozenset({"00404021", "00741002"})
    assert q.criteria == (ups.Criterion(("00100020",), "P1"),)
    assert ups.parse_search_query({"includefield": "all"}).include is None
    for bad in ({"limit": "-1"}, {"offset": "x"}, {"Nonsense": "1"}):
        with pytest.raises(ups.UpsError) as info:
            ups.parse_search_query(bad)
        assert info.value.http_status == 400


def test_exact_prefilter_values() -> None:
    q = ups.parse_search_query({"ProcedureStepState": "SCHEDULED", "ProcedureStepLabel": "ne*"})
    assert q.exact("ProcedureStepState") == "SCHEDULED"
    assert q.exact("ProcedureStepLabel") is None
    assert q.exact("ScheduledProcedureStepPriority") is None


def test_select_attributes() -> None:
    ds = _item(
        InputInformationSequence=[ups.dataset_of(StudyInstanceUID="1.2")],
        TransactionUID="2.25.7",
        CommentsOnTheScheduledProcedureStep="note",
    )
    default = ups.select_attributes(ds, ups.parse_search_query({}))
    assert "00404021" not in default and "00400400" not in default
    assert "00081195" not in default
    assert default["00741000"] == {"vr": "CS", "Value": ["SCHEDULED"]}
    more = ups.select_attributes(ds, ups.parse_search_query({"includefield": "00400400"}))
    assert more["00400400"] == {"vr": "LT", "Value": ["note"]}
    assert "00404021" not in more
    everything = ups.select_attributes(ds, ups.parse_search_query({"includefield": "all"}))
    assert set(everything) == set(ds) - {"00081195"}
    assert "00081195" not in ups.without_transaction_uid(ds)


# -- configuration -------------------------------------------------------------------------------


def _config(**extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "Pools": ["neuro", "body"],
        "DefaultPool": "body",
        "Users": {"r1": {"Role": "radiologist", "PerformerCode": "R1", "Pools": ["neuro"]}},
    }
    data.update(extra)
    return data


def test_example_site_config_loads_and_routes() -> None:
    path = REPO / "server" / "orthanc" / "worklist.json"
    config = ups.load_worklist_config(json.loads(path.read_text()), str(path))
    assert config.pools == ("neuro", "chest", "body", "msk", "oncology")
    assert config.users["dr.neuro"].role is ups.Role.RADIOLOGIST
    assert config.users["admin"].performer_code is None
    assert config.turnaround_minutes[ups.UpsPriority.HIGH] == 60.0

    def pool(mods: list[str], parts: list[str], desc: str = "") -> str:
        return ups.route_pool(mods, parts, desc, config.routing, config.default_pool)

    assert pool(["CT"], ["HEAD"]) == "neuro"
    assert pool(["CR"], ["chest"]) == "chest"
    assert pool(["MR"], ["KNEE"]) == "msk"
    assert pool(["PT", "CT"], ["WHOLEBODY"]) == "oncology"
    assert pool(["CT"], ["CHEST"], "CT chest restaging") == "oncology"
    assert pool(["US"], []) == "body"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"Pools": []}, "'Pools'"),
        ({"DefaultPool": "chest"}, "'DefaultPool'"),
        ({"Routing": [{"Pool": "chest"}]}, "'Routing[0].Pool'"),
        ({"Routing": [{"Pool": "neuro", "Modality": ["CT"]}]}, "'Routing[0]'"),
        ({"PriorityMap": {"STAT": "URGENT"}}, "'PriorityMap.STAT'"),
        ({"TurnaroundMinutes": {"HIGH": 0}}, "'TurnaroundMinutes.HIGH'"),
        ({"TurnaroundMinutes": {"SOON": 5}}, "'TurnaroundMinutes.SOON'"),
        ({"Users": {"x": {"Role": "boss"}}}, "'Users.x.Role'"),
        ({"Users": {"x": {"Role": "radiologist", "Pools": ["neuro"]}}}, "'Users.x.PerformerCode'"),
        ({"Users": {"x": {"Role": "lead", "PerformerCode": "L", "Pools": ["eyes"]}}},
         "'Users.x.Pools'"),
        ({"Users": {"a": {"Role": "lead", "PerformerCode": "L"},
                    "b": {"Role": "lead", "PerformerCode": "L"}}}, "'Users.b.PerformerCode'"),
        ({"SchemaVersion": 2}, "'SchemaVersion'"),
        ({"LeadCancelsInProgress": "yes"}, "'LeadCancelsInProgress'"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key(change: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        ups.load_worklist_config(_config(**change), "site.json")
    assert str(info.value).startswith(f"site.json: key {key}")


def test_roles_and_visibility() -> None:
    config = ups.load_worklist_config(
        _config(
            Users={
                "r1": {"Role": "radiologist", "PerformerCode": "R1", "Pools": ["neuro"]},
                "lead": {"Role": "lead", "PerformerCode": "L1"},
                "adm": {"Role": "admin"},
            }
        )
    )
    r1, lead, adm = config.users["r1"], config.users["lead"], config.users["adm"]
    assert r1.can_see(None, "neuro") and r1.can_see("R1", "body")
    assert not r1.can_see(None, "body") and not r1.can_see("L1", "neuro")
    assert lead.can_see("R1", "body") and adm.can_see(None, None)
    assert r1.may(ups.Permission.CLAIM) and not r1.may(ups.Permission.ASSIGN)
    assert lead.may(ups.Permission.CANCEL) and lead.may(ups.Permission.CLAIM)
    assert not adm.may(ups.Permission.CLAIM) and not adm.may(ups.Permission.PERFORM)
    assert r1.may_claim_in("neuro") and not r1.may_claim_in("body")
    assert lead.may_claim_in("body") and not adm.may_claim_in("body")
    assert config.user_by_code("L1") is lead and config.user_by_code("nope") is None
    assert config.institution_code("St. Mary's Hospital, North Wing") == "ST_MARY_S_HOSPIT"


# -- the reading workitem ------------------------------------------------------------------------

STUDY = ups.StudyFacts(
    study_instance_uid="1.2.826.0.1.3680043.10.999.5",
    accession_number="ACC77",
    patient_name="Doe^Jane",
    patient_id="P77",
    patient_birth_date="19700101",
    patient_sex="F",
    institution_name="St Elsewhere",
    study_description="CT HEAD",
    requested_procedure_priority="STAT",
    series=(
        ups.SeriesFacts("1.2.826.0.1.3680043.10.999.5.1", "CT", "HEAD",
                        (("1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.10.999.5.1.1"),)),
        ups.SeriesFacts("1.2.826.0.1.3680043.10.999.5.2", "SR", "", ()),
    ),
)  # fmt: skip


def test_build_reading_workitem() -> None:
    config = ups.load_worklist_config(
        _config(
            Routing=[{"Pool": "neuro", "BodyParts": ["HEAD"]}],
            TurnaroundMinutes={"HIGH": 45},
            Institutions={"St Elsewhere": "STE"},
        )
    )
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    ds = ups.build_reading_workitem(
        STUDY, config, now=now, retrieve_aet="ARCH", retrieve_base_url="http://a/dicom-web/"
    )
    assert ds is not None
    assert ups.first(ds, "ProcedureStepState") == "SCHEDULED"
    assert ups.first(ds, "ScheduledProcedureStepPriority") == "HIGH"
    assert ups.first(ds, "ProcedureStepLabel") == "neuro"
    assert ups.first(ds, "ScheduledProcedureStepStartDateTime") == "20240501100000+0000"
    assert ups.first(ds, "ExpectedCompletionDateTime") == "20240501104500+0000"
    assert ups.first(ds, "SOPInstanceUID") == ups.reading_workitem_uid(STUDY.study_instance_uid)
    assert ups.first(ds, "SOPClassUID") == "1.2.840.10008.5.1.4.34.6.1"
    assert ups.first(ups.items(ds, "ReferencedRequestSequence")[0], "AccessionNumber") == "ACC77"
    station = ups.items(ds, "ScheduledStationNameCodeSequence")[0]
    assert (ups.code_value(station), ups.first(station, "CodeMeaning")) == ("STE", "St Elsewhere")
    inputs = ups.items(ds, "InputInformationSequence")
    assert [ups.first(i, "SeriesInstanceUID") for i in inputs] == [
        "1.2.826.0.1.3680043.10.999.5.1",
        "1.2.826.0.1.3680043.10.999.5.2",
    ]
    wado = ups.items(inputs[0], "WADORSRetrievalSequence")[0]
    assert ups.first(wado, "RetrieveURL") == (
        "http://a/dicom-web/studies/1.2.826.0.1.3680043.10.999.5/series/1.2.826.0.1.3680043.10.999.5.1"
    )
    assert ups.first(ups.items(inputs[0], "DICOMRetrievalSequence")[0], "RetrieveAETitle") == "ARCH"
    index = ups.index_workitem(ds)
    assert index.performer is None and index.institution == "STE"
    assert index.due_utc == datetime(2024, 5, 1, 10, 45, tzinfo=UTC).timestamp()
    assert (index.accession_number, index.patient_id) == ("ACC77", "P77")


def test_reading_workitem_uid_is_stable_and_valid() -> None:
    a = ups.reading_workitem_uid("1.2.3")
    assert a == ups.reading_workitem_uid("1.2.3") != ups.reading_workitem_uid("1.2.4")
    assert ups.is_valid_uid(a) and a.startswith("2.25.")


def test_reports_only_study_gets_no_workitem() -> None:
    config = ups.load_worklist_config(_config())
    sr_only = ups.StudyFacts("1.2.3", series=(ups.SeriesFacts("1.2.3.1", "SR"),))
    assert ups.build_reading_workitem(sr_only, config, now=datetime.now(UTC)) is None


def test_index_rejects_bad_priority() -> None:
    with pytest.raises(ups.UpsError) as info:
        ups.index_workitem(_item(ScheduledProcedureStepPriority="URGENT"))
    assert info.value.http_status == 400


def test_imports_only_the_standard_library() -> None:
    """The Orthanc plugin imports this module on Debian's system Python: stdlib only."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); "
        "import workstation.core.ups; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    out = subprocess.run(
        [python, "-c", code, str(REPO)], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert out.strip() == "['workstation']"


@pytest.mark.parametrize(
    "item",
    [
        {"0040A043": "not a sequence"},
        {"0040A043": {"vr": "SQ", "Value": ["not an item"]}},
        {"0040A043": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": []}}]}},
        {"0040A043": {"vr": "SQ", "Value": [{}]}, "0040A124": "not an element"},
    ],
)
def test_a_malformed_processing_parameter_is_no_second_read(item):
    """A broken Scheduled Processing Parameters item must not break a worklist refresh."""
    dataset = {"00741210": {"vr": "SQ", "Value": [item]}}
    assert ups.second_read_of(dataset) is None
