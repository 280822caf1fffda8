"""Our storage SCP and C-MOVE into it, against a real Orthanc and dcmtk's storescu/echoscu.

The SCP starts first on a free port; Orthanc is then started knowing it as modality "WS"
(``DicomModalities``), objects are pushed to Orthanc with storescu and moved back to us
(PS3.4 C.4.2). What arrives is compared UID by UID and byte by byte with what was pushed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pynetdicom import AE

from workstation.archive.dimse import DimseClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess
from workstation.archive.remote import RetrieveError
from workstation.archive.scp import ReceivedInstance, StorageScp, receiving
from workstation.core.errors import StoreError
from workstation.core.settings import ArchiveConfig, DimseConfig

WS = "WS"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (Debian: orthanc orthanc-dicomweb dcmtk)")


def dataset_bytes(path: Path) -> bytes:
    """A Part 10 file's data set as encoded, without preamble and file meta (PS3.10 7.1)."""
    raw = path.read_bytes()
    group_length = int.from_bytes(raw[140:144], "little")  # (0002,0000) UL, explicit VR LE
    return raw[144 + group_length :]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The CT head prior (30 slices) and two pydicom samples (explicit VR LE, JPEG-LS)."""
    from workstation.demo import CT_HEAD_PRIOR, iter_sample_datasets, iter_series_datasets

    folder = tmp_path_factory.mktemp("objects")
    ct: dict[str, Path] = {}
    for n, ds in enumerate(iter_series_datasets(CT_HEAD_PRIOR.series[0], CT_HEAD_PRIOR)):
        p = folder / f"ct{n:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        ct[str(ds.SOPInstanceUID)] = p
    samples: dict[str, Path] = {}
    wanted = {"MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"}
    for ds in iter_sample_datasets():
        name = str(ds.SeriesDescription).split(" (")[0]
        if name in wanted:
            p = folder / name
            ds.save_as(p, enforce_file_format=True)
            samples[str(ds.SOPInstanceUID)] = p
            samples_study = str(ds.StudyInstanceUID)
    assert len(ct) == 30 and len(samples) == 2
    return SimpleNamespace(
        ct=ct,
        samples=samples,
        all={**ct, **samples},
        ct_study=CT_HEAD_PRIOR.study_instance_uid,
        ct_series=CT_HEAD_PRIOR.series[0].series_instance_uid,
        samples_study=samples_study,
    )


@pytest.fixture
def receiver(tmp_path: Path):
    """Our store and our SCP (AE "WS", a free port), events collected."""
    store = LocalArchive(tmp_path / "store")
    events: list[ReceivedInstance] = []
    scp = StorageScp(store, WS, on_received=events.append).start()
    try:
        yield SimpleNamespace(store=store, scp=scp, events=events)
    finally:
        scp.stop()
        store.close()


@pytest.fixture
def ws(receiver, tmp_path: Path, objects, push):
    """The receiver, and an Orthanc that knows it as "WS" holding the objects (storescu)."""
    _need("Orthanc")
    if not DICOMWEB_PLUGIN.exists():
        pytest.skip("the Orthanc DICOMweb plugin is not installed (Debian: orthanc-dicomweb)")
    orthanc = OrthancProcess(
        tmp_path / "orthanc", modalities={WS: [WS, "127.0.0.1", receiver.scp.port]}
    ).start()
    try:
        push(orthanc, list(objects.all.values()))
        config = ArchiveConfig(
            name="orthanc",
            dimse=DimseConfig("127.0.0.1", orthanc.dicom_port, orthanc.aet, our_ae_title=WS),
        )
        yield SimpleNamespace(**vars(receiver), orthanc=orthanc, client=DimseClient(config))
    finally:
        orthanc.stop(kill=True)


def _record(artifact_dir: Path, key: str, value: dict[str, float]) -> None:
    path = artifact_dir / "scp_cmove_timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def test_c_move_series_lands_in_the_store_byte_for_byte(ws, objects, artifact_dir):
    seen: list[tuple[int, int]] = []
    started = time.perf_counter()
    result = ws.client.move_series(
        objects.ct_study, objects.ct_series, ws.store, lambda d, t: seen.append((d, t))
    )
    seconds = time.perf_counter() - started
    assert (result.via, result.expected, result.received, result.already_present) == (
        "c-move",
        30,
        30,
        0,
    )
    assert result.complete and result.missing == ()
    assert seen[0] == (0, 30) and seen[-1][0] >= 29
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    local = {i.sop_instance_uid: ws.store.path_of(i) for i in ws.store.instances(objects.ct_series)}
    assert sorted(local) == sorted(objects.ct)
    for uid, pushed in objects.ct.items():
        assert pydicom.dcmread(local[uid]).PixelData == pydicom.dcmread(pushed).PixelData, uid
        assert local[uid].stat().st_mode & 0o777 == 0o600
    assert result.bytes_received == sum(p.stat().st_size for p in local.values())
    # One event per object, with its identity, in the order Orthanc sent them.
    assert sorted(e.sop_instance_uid for e in ws.events) == sorted(objects.ct)
    assert {
        (e.study_instance_uid, e.series_instance_uid, e.calling_ae_title) for e in ws.events
    } == {(objects.ct_study, objects.ct_series, "ORTHANC")}
    assert all(e.stored and e.sop_class_uid == CT_IMAGE_STORAGE for e in ws.events)
    assert ws.scp.stats.stored == 30 and ws.scp.stats.duplicates == 0
    assert not list(ws.store.tmp_dir.iterdir())
    _record(
        artifact_dir,
        "c_move_ct_head_prior_30",
        {"seconds": seconds, "megabytes": result.bytes_received / 1e6},
    )


def test_c_move_study_keeps_the_compressed_encoding(ws, objects):
    results = ws.client.move_study(objects.samples_study, ws.store)
    assert [(r.expected, r.received, r.complete) for r in results] == [(1, 1, True), (1, 1, True)]
    for uid, pushed in objects.samples.items():
        (inst,) = [
            i
            for s in ws.store.series(objects.samples_study)
            for i in ws.store.instances(s.series_instance_uid)
            if i.sop_instance_uid == uid
        ]
        sent_ts = str(pydicom.dcmread(pushed, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        assert inst.transfer_syntax_uid == sent_ts
        assert (
            pydicom.dcmread(ws.store.path_of(inst)).PixelData == pydicom.dcmread(pushed).PixelData
        )
    assert JPEG_LS_LOSSLESS in {e.transfer_syntax_uid for e in ws.events}


def test_c_move_asks_only_for_what_the_store_lacks(ws, objects):
    first = sorted(objects.ct)[:10]
    report = ws.store.import_paths([objects.ct[u] for u in first])
    assert report.imported == 10
    result = ws.client.move_series(objects.ct_study, objects.ct_series, ws.store)
    assert (result.expected, result.already_present, result.received, result.complete) == (
        30,
        10,
        20,
        True,
    )
    # An IMAGE-level move with the 20 missing UIDs: Orthanc sent exactly those, nothing twice.
    assert sorted(e.sop_instance_uid for e in ws.events) == sorted(set(objects.ct) - set(first))
    assert ws.scp.stats.duplicates == 0
    again = ws.client.move_series(objects.ct_study, objects.ct_series, ws.store)
    assert (again.already_present, again.received, again.complete) == (30, 0, True)
    assert len(ws.events) == 20


def test_c_move_to_an_unknown_destination_says_what_to_fix(ws, objects):
    with pytest.raises(RetrieveError, match=r"to AE 'NOBODY'.*DicomModalities") as info:
        ws.client.move_series(
            objects.ct_study, objects.ct_series, ws.store, destination_aet="NOBODY"
        )
    assert (info.value.result.received, len(info.value.result.missing)) == (0, 30)
    assert ws.store.instances(objects.ct_series) == []
    ws.scp.stop()  # the archive knows us, but nobody listens
    with pytest.raises(RetrieveError, match="storage SCP must be listening"):
        ws.client.move_series(objects.ct_study, objects.ct_series, ws.store)
    with pytest.raises(ValueError, match="AE title"):
        ws.client.move_series(
            objects.ct_study, objects.ct_series, ws.store, destination_aet="A" * 17
        )


def test_pushes_straight_to_the_scp_are_kept_as_sent(receiver, objects, push, artifact_dir):
    peer = SimpleNamespace(aet=WS, dicom_port=receiver.scp.port)
    started = time.perf_counter()
    push(peer, list(objects.ct.values()))  # dcmtk's storescu
    seconds = time.perf_counter() - started
    # pynetdicom sends a file's data set bytes unchanged; storescu would re-tag the JPEG-LS
    # sample's Pixel Data OW -> OB and drop MR_small's trailing padding on its way.
    sender = DimseClient(
        ArchiveConfig(name="scp", dimse=DimseConfig("127.0.0.1", receiver.scp.port, WS, "PUSHER"))
    )
    sent = sender.store(list(objects.samples.values()))
    assert sorted(sent.stored) == sorted(objects.samples) and sent.failed == []
    stored = {
        i.sop_instance_uid: i
        for study in receiver.store.studies()
        for s in receiver.store.series(study.study_instance_uid)
        for i in receiver.store.instances(s.series_instance_uid)
    }
    assert sorted(stored) == sorted(objects.all)
    for uid, pushed in objects.all.items():
        # The data set is kept exactly as it was sent: no decode, no re-encode.
        assert dataset_bytes(receiver.store.path_of(stored[uid])) == dataset_bytes(pushed), uid
    jls = [i for i in stored.values() if i.transfer_syntax_uid == JPEG_LS_LOSSLESS]
    assert len(jls) == 1
    assert [e.calling_ae_title for e in receiver.events] == ["STORESCU"] * 30 + ["PUSHER"] * 2
    assert receiver.scp.stats.stored == 32 and receiver.scp.stats.connections >= 2
    assert receiver.scp.wait_idle(5.0)  # every connection closed, nothing being stored
    # The same objects again: acknowledged, kept once.
    push(peer, list(objects.ct.values()))
    assert receiver.scp.stats.duplicates == 30 and receiver.store.index.counts()["instances"] == 32
    assert [e.stored for e in receiver.events[32:]] == [False] * 30
    megabytes = sum(p.stat().st_size for p in objects.ct.values()) / 1e6
    _record(artifact_dir, "storescu_to_scp_ct_30", {"seconds": seconds, "megabytes": megabytes})


def test_the_scp_answers_echo_and_refuses_strangers(receiver, objects, tmp_path):
    _need("echoscu")
    echo = subprocess.run(
        ["echoscu", "-aec", WS, "127.0.0.1", str(receiver.scp.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert echo.returncode == 0, echo.stderr
    wrong = subprocess.run(
        [
            "storescu",
            "-aec",
            "SOMEONE",
            "127.0.0.1",
            str(receiver.scp.port),
            str(objects.ct[next(iter(objects.ct))]),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert wrong.returncode != 0 and "Rejected" in wrong.stderr + wrong.stdout
    # Only the archive may store with a locked-down SCP.
    with StorageScp(
        LocalArchive(tmp_path / "locked"), "LOCKED", allowed_calling_aets=["ORTHANC"]
    ) as locked:
        r = subprocess.run(
            [
                "storescu",
                "-aec",
                "LOCKED",
                "127.0.0.1",
                str(locked.port),
                str(next(iter(objects.ct.values()))),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert r.returncode != 0 and locked.stats.stored == 0
    assert receiver.scp.stats.stored == 0


def test_the_scp_refuses_an_object_it_cannot_index(receiver, objects):
    ds = pydicom.dcmread(next(iter(objects.ct.values())))
    del ds.StudyInstanceUID
    ae = AE("TESTSCU")
    ae.add_requested_context(CT_IMAGE_STORAGE)
    assoc = ae.associate("127.0.0.1", receiver.scp.port, ae_title=WS)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status.Status == 0xC000  # cannot understand (PS3.4 Table B.2-1)
    assert receiver.scp.stats.rejected == [
        ("TESTSCU", "missing required identifier(s): StudyInstanceUID")
    ]
    assert receiver.store.index.counts()["instances"] == 0
    assert not list(receiver.store.tmp_dir.iterdir())


def test_receiving_uses_our_ae_title_and_a_taken_port_is_a_clear_error(tmp_path, objects, push):
    store = LocalArchive(tmp_path / "store")
    config = ArchiveConfig(name="a", dimse=DimseConfig("127.0.0.1", 1, "X", our_ae_title="READER7"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StoreError, match=f"cannot listen for DICOM on 127.0.0.1:{port}"):
            StorageScp(store, WS, port).start()
    with receiving(store, config, port=0, host="127.0.0.1") as scp:
        assert (scp.ae_title, scp.running) == ("READER7", True)
        push(SimpleNamespace(aet="READER7", dicom_port=scp.port), [next(iter(objects.ct.values()))])
        assert scp.stats.stored == 1
    assert not scp.running
    with pytest.raises(ValueError, match="AE title"):
        StorageScp(store, "")
    store.close()


def test_retrieve_command_by_c_move(cli, tmp_path, objects, push):
    """`workstation retrieve --via cmove` starts our SCP for the move and ends complete."""
    from workstation.archive.orthanc import free_port
    from workstation.core.settings import DEFAULT_OUR_AE_TITLE

    _need("Orthanc")
    port = free_port()
    orthanc = OrthancProcess(
        tmp_path / "orthanc",
        modalities={"ws": [DEFAULT_OUR_AE_TITLE, "127.0.0.1", port]},
    ).start()
    try:
        push(orthanc, list(objects.ct.values()))
        store = tmp_path / "store"
        args = [
            "retrieve",
            "--dimse",
            f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}",
            "--data-dir",
            str(store),
        ]
        r = cli(*args, "--via", "cmove", "--listen", f"127.0.0.1:{port}", objects.ct_study)
        assert r.returncode == 0, r.stderr
        a = LocalArchive(store)
        got = {i.sop_instance_uid for i in a.instances(objects.ct_series)}
        a.close()
        assert got == set(objects.ct)
        # Without a port to listen on, the command says what to configure.
        r = cli(*args, "--via", "cmove", objects.ct_study)
        assert r.returncode == 2
        assert "our_port" in r.stderr
    finally:
        orthanc.stop(kill=True)


def test_cache_command_usage_and_verify(cli, tmp_path, objects):
    store = tmp_path / "store"
    a = LocalArchive(store)
    a.import_paths(list(objects.ct.values()))
    a.close()
    r = cli("cache", "usage", "--data-dir", str(store))
    assert r.returncode == 0, r.stderr
    assert objects.ct_study in r.stdout
    r = cli("cache", "verify", "--data-dir", str(store))
    assert r.returncode == 0, r.stdout + r.stderr
