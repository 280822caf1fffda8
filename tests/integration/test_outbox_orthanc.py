"""A signed report reaches a real Orthanc through the durable outbox, whatever happens between.

- Orthanc is stopped when the report is signed: the report waits (pending, attempts counted)
  and is delivered once Orthanc is back, as exactly one instance, also when sent again by
  C-STORE.
- A child process signs (the SR goes into the local store and the outbox) and is killed with
  SIGKILL before anything is sent: the next process delivers it.
- What Orthanc holds is found by QIDO-RS (Modality=SR) and, retrieved by WADO-RS, reads back
  as the same report (same SOP Instance UID, equal content tree).
- Timing: from pressing Sign to Orthanc's acknowledgement on loopback (goal: at most 1 s).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.dimse import DimseClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess, free_port
from workstation.core.measure import PixelCalibration, length_measurement
from workstation.core.model import KeyImage
from workstation.core.report import Author, Report
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD, generate_slice
from workstation.reporting import codes
from workstation.reporting.outbox import (
    CStoreSender,
    Outbox,
    OutboxState,
    OutboxWorker,
    RetryPolicy,
    StowRsSender,
)
from workstation.reporting.signing import measurement_items, sign_report
from workstation.reporting.sr import read_sr
from workstation.reporting.templates import load_builtin_templates, pick_template

SLICES = (93, 94, 95, 96)
SIGNER = ("Smith^Anna", "Teleradiology Hub")
CET = dt.timezone(dt.timedelta(hours=1))


def build_store(root: Path) -> LocalArchive:
    """A local store with four slices of the demo CT head, a key image and a length."""
    archive = LocalArchive(root)
    for i in SLICES:
        archive.add_dataset(generate_slice(CT_HEAD.series[0], i))
    archive.commit()
    study = CT_HEAD.study_instance_uid
    series = archive.series(study)[0].series_instance_uid
    insts = archive.instances(series)
    archive.set_key_image(KeyImage(study, insts[1].sop_instance_uid, 1))
    cal = PixelCalibration.from_instance(insts[2])
    archive.save_measurement(
        study, length_measurement((100, 200), (120, 210), cal, insts[2].sop_instance_uid)
    )
    return archive


def draft(archive: LocalArchive) -> Report:
    """A DRAFT of the CT head template with a measured haematoma and normal text elsewhere."""
    study = archive.study(CT_HEAD.study_instance_uid)
    template = pick_template(load_builtin_templates(), study)
    assert template.id == "ct-head"
    m = archive.measurements(study.study_instance_uid)[0]
    [length] = measurement_items(m, archive.index.instance(m.sop_instance_uid), "CT")  # type: ignore[arg-type]
    author = Author(SIGNER[0], SIGNER[1], codes.PHYSICIAN)
    return template.build_report(
        study,
        author,
        {"hemorrhage": "subdural", "hematoma_thickness": length},
        {"history": "Fall at home.", "findings": "Acute left subdural haematoma."},
        normal=True,
    )


def archive_config(o: OrthancProcess, name: str = "central") -> ArchiveConfig:
    return ArchiveConfig(
        name=name,
        dicomweb_url=o.urls.dicomweb,
        dimse=DimseConfig("127.0.0.1", o.dicom_port, o.aet),
        connect_timeout_s=2.0,
        read_timeout_s=20.0,
    )


def orthanc_instances(o: OrthancProcess) -> list[str]:
    r = requests.get(f"{o.urls.http}/instances", timeout=10)
    r.raise_for_status()
    return list(r.json())


@pytest.fixture
def fixed_orthanc(tmp_path: Path) -> Iterator[OrthancProcess]:
    """An Orthanc on fixed ports, so that it can be stopped and started again at one address
    (the conftest fixtures choose new ports at each start)."""
    if shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc with its DICOMweb plugin is not installed")
    o = OrthancProcess(tmp_path / "orthanc", http_port=free_port(), dicom_port=free_port())
    try:
        yield o
    finally:
        o.stop(kill=True)


def test_report_waits_while_orthanc_is_down_and_arrives_once(tmp_path, fixed_orthanc):
    o = fixed_orthanc
    o.start()
    o.stop(kill=True)  # the archive goes down before the radiologist signs
    archive = build_store(tmp_path / "store")
    clock = [time.time()]
    outbox = Outbox(
        archive.root,
        retry=RetryPolicy(base_s=2, factor=2, cap_s=60, jitter=0),
        clock=lambda: clock[0],
    )
    stow = StowRsSender(DicomWebClient(archive_config(o)))
    try:
        signed = sign_report(
            draft(archive),
            archive,
            outbox,
            final=True,
            signer_name=SIGNER[0],
            signer_organisation=SIGNER[1],
            destinations=["central"],
        )
        assert signed.path.is_file() and signed.destinations == ("central",)
        for attempt in (1, 2):
            [d] = outbox.process_once(stow)
            assert (d.outcome, d.entry.state, d.entry.attempts) == (
                OutboxState.PENDING,
                OutboxState.PENDING,
                attempt,
            )
            assert "connection refused" in d.entry.last_error
            assert d.entry.next_attempt_at == pytest.approx(clock[0] + 2.0**attempt, abs=1e-6)
            clock[0] = d.entry.next_attempt_at
        o.start()  # same ports, same storage
        acks: list[tuple[str, str]] = []
        [d] = outbox.process_once(stow, on_acknowledged=lambda s, i: acks.append((s, i)))
        assert (d.outcome, d.entry.attempts) == (OutboxState.SENT, 3)
        assert acks == [(CT_HEAD.study_instance_uid, signed.sop_instance_uid)]
        assert len(orthanc_instances(o)) == 1
        # Sent again, by the other protocol (C-STORE) and by STOW-RS: still one instance.
        outbox.enqueue(signed.sop_instance_uid, signed.study_instance_uid, signed.path, "dimse")
        [d2] = outbox.process_once(CStoreSender(DimseClient(archive_config(o)), name="dimse"))
        assert d2.outcome is OutboxState.SENT
        assert outbox.retry() == 0  # nothing waits
        assert stow.send([signed.path]).stored == [signed.sop_instance_uid]
        assert len(orthanc_instances(o)) == 1
        lookup = requests.post(
            f"{o.urls.http}/tools/lookup", data=signed.sop_instance_uid, timeout=10
        ).json()
        assert [x["Type"] for x in lookup] == ["Instance"]
    finally:
        stow.close()
        outbox.close()
        archive.close()


CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_outbox_orthanc import SIGNER, draft
from workstation.archive.local import LocalArchive
from workstation.reporting.outbox import Outbox
from workstation.reporting.signing import sign_report

archive = LocalArchive(Path(sys.argv[1]))
signed = sign_report(draft(archive), archive, Outbox(archive.root), final=True,
                     signer_name=SIGNER[0], signer_organisation=SIGNER[1],
                     destinations=["central"])
print("SIGNED", signed.sop_instance_uid, flush=True)
time.sleep(120)  # killed here, before anything is sent
"""


def test_a_signer_killed_before_sending_is_delivered_after_restart(tmp_path, orthanc):
    root = tmp_path / "store"
    build_store(root).close()
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("SIGNED "), child.stderr.read() if child.stderr else line
        sop = line.split()[1]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    archive = LocalArchive(root)
    outbox = Outbox(root)
    stow = StowRsSender(DicomWebClient(archive_config(orthanc)))
    try:
        [entry] = outbox.entries()
        assert (entry.sop_instance_uid, entry.state, entry.attempts) == (
            sop,
            OutboxState.PENDING,
            0,
        )
        assert archive.index.instance(sop) is not None  # the SR is in the store's index too
        [d] = outbox.process_once(stow)
        assert d.outcome is OutboxState.SENT
        found = stow.client.search_series(CT_HEAD.study_instance_uid, Modality="SR")
        assert len(found) == 1
        remote = stow.client.search_instances(
            CT_HEAD.study_instance_uid, found[0].series_instance_uid
        )
        assert sop in {i.sop_instance_uid for i in remote}
    finally:
        stow.close()
        outbox.close()
        archive.close()


def test_the_sr_in_orthanc_is_found_by_qido_and_reads_back_equal(tmp_path, orthanc):
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    client = DicomWebClient(archive_config(orthanc))
    try:
        signed = sign_report(
            draft(archive),
            archive,
            outbox,
            final=True,
            signer_name=SIGNER[0],
            signer_organisation=SIGNER[1],
            destinations=["central"],
            signed_at=dt.datetime(2026, 11, 20, 9, 15, tzinfo=CET),
        )
        [d] = outbox.process_once(StowRsSender(client))
        assert d.outcome is OutboxState.SENT
        series = client.search_series(CT_HEAD.study_instance_uid, Modality="SR")
        assert [s.series_instance_uid for s in series] == [signed.series_instance_uid]
        assert series[0].modality == "SR"
        other = LocalArchive(tmp_path / "other")
        result = client.retrieve_series(
            CT_HEAD.study_instance_uid, signed.series_instance_uid, other
        )
        assert result.complete and result.expected >= 1
        inst = other.index.instance(signed.sop_instance_uid)
        assert inst is not None
        back = pydicom.dcmread(other.path_of(inst))
        local = pydicom.dcmread(signed.path)
        assert str(back.SOPInstanceUID) == signed.sop_instance_uid
        assert back.ContentSequence == local.ContentSequence
        assert read_sr(back) == read_sr(local) == signed.report
        assert back.VerifyingObserverSequence[0].VerifyingObserverName == SIGNER[0]
        other.close()
    finally:
        client.close()
        outbox.close()
        archive.close()


def test_time_from_sign_to_acknowledgement(tmp_path, orthanc, artifact_dir, capsys):
    """Pressing Sign (build, store, flush, queue) then the worker's STOW-RS until Orthanc's
    acknowledgement, on loopback; three reports, the median must be at most 1 s."""
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    acked = threading.Event()
    worker = OutboxWorker(
        outbox,
        StowRsSender(DicomWebClient(archive_config(orthanc))),
        on_acknowledged=lambda _s, _i: acked.set(),
        poll_s=30,
    ).start()
    totals, signing = [], []
    try:
        base = draft(archive)
        for _ in range(3):
            acked.clear()
            t0 = time.perf_counter()
            signed = sign_report(  # a new signing time each round: a new SR
                base,
                archive,
                outbox,
                final=True,
                signer_name=SIGNER[0],
                signer_organisation=SIGNER[1],
                destinations=["central"],
            )
            t1 = time.perf_counter()
            worker.wake()
            assert acked.wait(10), outbox.entries()
            t2 = time.perf_counter()
            assert outbox.entry(signed.sop_instance_uid, "central").state is OutboxState.SENT  # type: ignore[union-attr]
            signing.append(t1 - t0)
            totals.append(t2 - t0)
    finally:
        worker.stop()
        outbox.close()
        archive.close()
    median_ms = statistics.median(totals) * 1000
    line = (
        f"sign -> acknowledged by Orthanc (loopback, STOW-RS): median {median_ms:.0f} ms, "
        f"max {max(totals) * 1000:.0f} ms; of which signing (SR built, stored, fsync, queued) "
        f"median {statistics.median(signing) * 1000:.0f} ms"
    )
    (artifact_dir / "outbox_timing.txt").write_text(line + "\n", encoding="utf-8")
    with capsys.disabled():
        print("\n" + line)
    assert statistics.median(totals) <= 1.0
