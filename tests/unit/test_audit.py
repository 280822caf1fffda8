"""The local audit trail: append-only rows, a hash chain that finds edits, owner-only file."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat

import pytest

from workstation.archive.audit import AUDIT_FILE_NAME, AuditEvent, AuditTrail
from workstation.core.errors import StoreError

STUDY = "1.2.826.0.1.3680043.10.999.1"
SR = "1.2.826.0.1.3680043.10.999.2"
T0 = dt.datetime(2026, 11, 26, 14, 5, 6, 789000, tzinfo=dt.UTC)


def test_rows_are_kept_in_order_with_user_host_and_utc_time(tmp_path):
    with AuditTrail(tmp_path, user="dr.neuro") as trail:
        a = trail.record(AuditEvent.STUDY_OPENED, study_instance_uid=STUDY, now=T0)
        b = trail.record(
            AuditEvent.REPORT_SIGNED,
            study_instance_uid=STUDY,
            sop_instance_uid=SR,
            detail="final",
            now=T0 + dt.timedelta(minutes=7),
        )
        trail.record(AuditEvent.STUDY_OPENED, study_instance_uid="1.2.3", user="lead", now=T0)
        assert (a.seq, b.seq) == (1, 2)
        assert a.at == "2026-11-26T14:05:06.789Z"
        assert b.at == "2026-11-26T14:12:06.789Z"
        rows = trail.entries(study_instance_uid=STUDY)
        assert [(r.event, r.user, r.detail) for r in rows] == [
            (AuditEvent.STUDY_OPENED, "dr.neuro", ""),
            (AuditEvent.REPORT_SIGNED, "dr.neuro", "final"),
        ]
        assert rows[1].line().split("\t") == [
            "2026-11-26T14:12:06.789Z",
            "dr.neuro",
            trail.host,
            "report-signed",
            STUDY,
            SR,
            "final",
        ]
        assert [r.seq for r in trail.entries(since="2026-11-26T14:10")] == [2]
        assert trail.verify() == []
    mode = stat.S_IMODE((tmp_path / AUDIT_FILE_NAME).stat().st_mode)
    assert mode == 0o600


def test_update_and_delete_are_refused_by_the_database(tmp_path):
    with AuditTrail(tmp_path, user="dr.neuro") as trail:
        trail.record(AuditEvent.STUDY_OPENED, study_instance_uid=STUDY)
    db = sqlite3.connect(tmp_path / AUDIT_FILE_NAME)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET user = 'someone-else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit")
    db.close()


def test_the_chain_finds_a_changed_and_a_removed_row(tmp_path):
    with AuditTrail(tmp_path, user="dr.neuro") as trail:
        for i in range(4):
            trail.record(AuditEvent.STUDY_OPENED, study_instance_uid=f"1.2.{i}", now=T0)
    # Someone with the file drops the triggers and edits row 2, removes row 3.
    db = sqlite3.connect(tmp_path / AUDIT_FILE_NAME)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("UPDATE audit SET user = 'intruder' WHERE seq = 2")
    db.execute("DELETE FROM audit WHERE seq = 3")
    db.commit()
    db.close()
    with AuditTrail(tmp_path) as trail:  # reopening puts the triggers back
        assert trail.verify() == [
            "row 2 does not match its chain (changed or out of order)",
            "row 3 is missing",
            "row 4 does not match its chain (changed or out of order)",
        ]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # triggers are back
            trail._db.execute("DELETE FROM audit")


def test_a_damaged_file_is_a_clear_error(tmp_path):
    (tmp_path / AUDIT_FILE_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"the audit database .* is damaged or not a database"):
        AuditTrail(tmp_path)
