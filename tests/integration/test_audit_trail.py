"""The local audit trail records a whole reading's life through the real commands.

Signing (preliminary, final), the outbox's acknowledgement, `workstation report export`,
`workstation export-image` and `workstation cache clear` each leave one row naming the study
and the object by UID and the user by login; `workstation audit` lists them and `--verify`
finds the chain intact; the trail's file holds no patient name, ID or accession number.
"""

from __future__ import annotations

import getpass

from test_outbox_orthanc import SIGNER, build_store, draft

from workstation.archive.audit import AUDIT_FILE_NAME
from workstation.demo import CT_HEAD
from workstation.reporting.outbox import FolderSender, Outbox
from workstation.reporting.signing import sign_report

STUDY = CT_HEAD.study_instance_uid


def test_a_reading_leaves_its_trail(tmp_path, cli):
    store = tmp_path / "store"
    archive = build_store(store)
    outbox = Outbox(archive.root)
    try:
        prelim = sign_report(
            draft(archive), archive, outbox, final=False, signer_name=SIGNER[0],
            destinations=["central"],
        )  # fmt: skip
        final = sign_report(
            draft(archive), archive, outbox, final=True, signer_name=SIGNER[0],
            signer_organisation=SIGNER[1], destinations=["central"],
        )  # fmt: skip
        drop = tmp_path / "central"
        drop.mkdir()
        outbox.process_once(FolderSender(drop, "central"))
    finally:
        outbox.close()
        archive.close()
    r = cli("report", "export", "--data-dir", str(store), "--study", STUDY, "--format", "sr",
            "--out", str(tmp_path / "report.dcm"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli("export-image", "--data-dir", str(store), "--study", STUDY,
            "--out", str(tmp_path / "slice.png"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli("cache", "clear", "--data-dir", str(store))
    assert r.returncode == 0, r.stderr

    r = cli("audit", "--data-dir", str(store))
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    me = getpass.getuser()
    assert {row[1] for row in rows} == {me}
    events = [(row[3], row[4], row[5], row[6]) for row in rows]
    sent = sorted(e for e in events if e[0] == "report-sent")
    assert sent == sorted(
        [
            ("report-sent", STUDY, prelim.sop_instance_uid, "central"),
            ("report-sent", STUDY, final.sop_instance_uid, "central"),
        ]
    )
    others = [e for e in events if e[0] != "report-sent"]
    assert others == [
        ("report-signed", STUDY, prelim.sop_instance_uid, "preliminary"),
        ("report-signed", STUDY, final.sop_instance_uid, "final"),
        ("report-exported", STUDY, final.sop_instance_uid, "sr"),
        ("image-exported", STUDY, "-", "image 3"),  # the middle of 4 slices
        ("study-removed", STUDY, "-", others[-1][3]),
    ]
    # the store held 4 slices of the CT head and the two reports
    assert others[-1][3].startswith("6 instances, ")
    only = cli("audit", "--data-dir", str(store), "--study", "1.2.3.4")
    assert only.returncode == 0 and only.stdout == ""
    check = cli("audit", "--data-dir", str(store), "--verify")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"audit: {len(rows)} events, chain intact"
    raw = (store / AUDIT_FILE_NAME).read_bytes()
    for phi in (CT_HEAD.patient.patient_id, CT_HEAD.accession_number):
        assert phi.encode() not in raw
    family = CT_HEAD.patient.patient_name.split("^")[0]
    assert family.encode() not in raw
