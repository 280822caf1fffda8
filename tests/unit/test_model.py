"""workstation.core.model: display of PN, DA, TM values, ages, and the import report."""

from __future__ import annotations

import pytest

from workstation.core.model import (
    ImportReport,
    Instance,
    Patient,
    age_at,
    format_da,
    format_person_name,
    format_tm,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Doe^Jane", "Doe, Jane"),
        ("Doe^Jane^Q", "Doe, Jane Q"),
        ("Doe^Jane^Q^Dr^Jr", "Doe, Dr Jane Q, Jr"),
        ("Doe^Jane^^Dr", "Doe, Dr Jane"),
        ("Doe", "Doe"),
        ("^Jane", "Jane"),
        ("^^^^Jr", "Jr"),
        (" Doe ^ Jane ", "Doe, Jane"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada, Tarou"),
        ("=山田^太郎=やまだ^たろう", "山田, 太郎"),
        ("==やまだ^たろう", "やまだ, たろう"),
        ("^^^^=金^희중", "金, 희중"),
        ("", ""),
        ("^^^^", ""),
        ("=", ""),
    ],
)
def test_format_person_name(value, shown):
    assert format_person_name(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("20240131", "2024-01-31"),
        (" 20240131 ", "2024-01-31"),
        ("", ""),
        ("2024", "2024"),
        ("2024.01.31", "2024.01.31"),  # ACR-NEMA style kept as stored
        ("2024013", "2024013"),
    ],
)
def test_format_da(value, shown):
    assert format_da(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("142530", "14:25:30"),
        ("142530.123456", "14:25:30"),
        ("1425", "14:25"),
        ("14", "14"),
        ("", ""),
        ("072730 ", "07:27:30"),
        ("14:25:30", "14:25:30"),  # ACR-NEMA style kept as stored
    ],
)
def test_format_tm(value, shown):
    assert format_tm(value) == shown


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        ("19800615", "20240614", "43Y"),  # the day before the birthday
        ("19800615", "20240615", "44Y"),  # on the birthday
        ("20220615", "20240614", "23M"),  # under 2 years: months
        ("20220615", "20240615", "2Y"),
        ("20230101", "20240101", "12M"),
        ("20240115", "20240215", "1M"),
        ("20240115", "20240214", "30D"),
        ("20240131", "20240229", "29D"),
        ("20240101", "20240101", "0D"),
        ("20000229", "20010228", "11M"),  # leap-day birthday
        ("20000229", "20010301", "12M"),
        ("20000229", "20040229", "4Y"),
        ("20000229", "20030228", "2Y"),
        ("20240102", "20240101", ""),  # born after the study
        ("", "20240101", ""),
        ("19800615", "", ""),
        ("1980", "20240101", ""),
        ("19801315", "20240101", ""),  # month 13
    ],
)
def test_age_at(born, on, age):
    assert age_at(born, on) == age


def test_import_report_summary():
    r = ImportReport()
    assert r.summary() == "0 imported, 0 duplicates, 0 rejected"
    r.imported, r.duplicates, r.skipped = 3, 2, 1
    r.rejected.append(("a.dcm", "empty file"))
    assert r.rejected_count == 1
    assert r.summary() == "3 imported, 2 duplicates, 1 rejected, 1 skipped"


def test_patient_key_and_instance_has_pixels():
    assert Patient("P1", "ISSUER").key == ("P1", "ISSUER")
    base = dict(
        sop_instance_uid="1",
        series_instance_uid="2",
        sop_class_uid="3",
        transfer_syntax_uid="4",
        path="p",
    )
    assert Instance(**base, rows=2, columns=3).has_pixels
    assert not Instance(**base).has_pixels
    assert not Instance(**base, rows=2).has_pixels
