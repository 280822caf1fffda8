"""A DIMSE-only archive (no DICOMweb URL) in the study list, against a real Orthanc's DICOM port.

The search bar runs a Study Root C-FIND (PS3.4 C.6.2) and pages its answer here (C-FIND has no
offset); opening a study retrieves it by C-GET through the retrieval queue, shows the middle
slice first and ends complete with every pushed instance in the store, byte for byte. A dead
DIMSE peer is said plainly in the bar and the status bar, and nothing crashes.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from PySide6.QtCore import Qt

from workstation.archive.local import LocalArchive
from workstation.archive.queue import JobState, SeriesProgress
from workstation.core.settings import Settings, load_settings
from workstation.demo import CT_HEAD_PRIOR, generate_slice
from workstation.ui.main_window import MainWindow
from workstation.ui.study_model import COLUMN_CACHE, CacheKind, CacheState
from workstation.ui.theme import apply_dark_theme

PRIOR_SERIES = CT_HEAD_PRIOR.series[0]
STUDY = CT_HEAD_PRIOR.study_instance_uid
SERIES = PRIOR_SERIES.series_instance_uid
# The progressive order's first instance: the middle of 30 slices by Instance Number.
MIDDLE = str(generate_slice(PRIOR_SERIES, 15, CT_HEAD_PRIOR).SOPInstanceUID)
THIRD_STUDY = generate_uid(entropy_srcs=["dimse-ui-test", "study"])


@pytest.fixture(scope="module")
def three(loaded, tmp_path_factory: pytest.TempPathFactory):
    """The module's Orthanc with the two studies of ``loaded`` and a third one (one MR image
    of another patient, the latest date), pushed by storescu."""
    src = pydicom.dcmread(loaded.series_files(loaded.mr_series_uid)[0])
    ds = copy.deepcopy(src)
    ds.PatientID = "DIMSE-3"
    ds.PatientName = "Third^Patient"
    ds.StudyInstanceUID = THIRD_STUDY
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["dimse-ui-test", "series"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["dimse-ui-test", "sop"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate = "20300101"
    ds.AccessionNumber = "ACC-DIMSE-3"
    p = tmp_path_factory.mktemp("third") / "third.dcm"
    ds.save_as(p, enforce_file_format=True)
    if shutil.which("storescu") is None:
        pytest.skip("storescu is not installed (Debian: dcmtk)")
    o = loaded.orthanc
    r = subprocess.run(
        ["storescu", "-aet", "STORESCU", "-aec", o.aet, "127.0.0.1", str(o.dicom_port), str(p)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, TCP_NODELAY="1"),
        check=False,
    )
    assert r.returncode == 0 and "Failed" not in r.stderr, r.stderr[-2000:]
    return loaded


@pytest.fixture
def store(tmp_path: Path):
    s = LocalArchive(tmp_path / "store")
    yield s
    s.close()


def _settings(tmp_path: Path, port: int, aet: str) -> Settings:
    """A DIMSE-only archive, configured the way a site writes it (a TOML file, no URL)."""
    path = tmp_path / "workstation.toml"
    path.write_text(
        '[[archives]]\nname = "pacs"\n'
        f'[archives.dimse]\nhost = "127.0.0.1"\nport = {port}\nae_title = "{aet}"\n'
    )
    settings = load_settings(user_path=path, environ={})
    assert settings.archive().dicomweb_url == "" and settings.archive().dimse is not None
    return settings


def _window(qtbot, qapp, store: LocalArchive, settings: Settings, **queue) -> MainWindow:
    apply_dark_theme(qapp)
    win = MainWindow(store, settings=settings)
    assert win.remote is not None and win.remote.dimse_only
    win.remote.queue_options.update(queue)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def _modality_values(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)


def _rows(win: MainWindow) -> list[str]:
    return [
        win.study_model.study_at(r).study_instance_uid for r in range(win.study_model.rowCount())
    ]


def test_c_find_search_pages_on_the_client_and_filters(qtbot, qapp, three, store, tmp_path):
    o = three.orthanc
    win = _window(qtbot, qapp, store, _settings(tmp_path, o.dicom_port, o.aet))
    try:
        remote = win.remote
        remote.page_size = 2
        bar = remote.search_bar
        # Everything: 3 studies, latest first; 2 on the first page, "More" for the third.
        with qtbot.waitSignal(remote.search_finished, timeout=10000) as first:
            qtbot.mouseClick(bar.search_button, Qt.MouseButton.LeftButton)
        assert first.args == [2]
        assert win.study_model.rowCount() == 2 and bar.more_button.isEnabled()
        assert bar.message.text() == "2 studies in the archive (more available)"
        assert {_rows(win)[0]} == {THIRD_STUDY}  # 2030-01-01, the latest
        with qtbot.waitSignal(remote.search_finished, timeout=10000) as second:
            qtbot.mouseClick(bar.more_button, Qt.MouseButton.LeftButton)
        assert second.args == [3]
        assert set(_rows(win)) == {THIRD_STUDY, three.ct_study_uid, three.samples_study_uid}
        assert not bar.more_button.isEnabled()
        assert bar.message.text() == "3 studies in the archive"
        model = win.study_model
        assert model.cache_state(STUDY) == CacheState(CacheKind.NOT_RETRIEVED, 0, 30)
        assert model.data(model.index(model.row_of(STUDY), COLUMN_CACHE)) == "Not retrieved"
        assert model.remote_study(three.samples_study_uid).number_of_instances == 2

        # A patient ID typed into the bar: exactly the one study.
        qtbot.keyClicks(bar.patient_id, CT_HEAD_PRIOR.patient.patient_id)
        with qtbot.waitSignal(remote.search_finished, timeout=10000) as one:
            qtbot.keyClick(bar.patient_id, Qt.Key.Key_Return)
        assert one.args == [1] and _rows(win) == [STUDY]
        assert bar.message.text() == "1 study in the archive" and not bar.more_button.isEnabled()

        # A name with a wildcard and a modality (C-FIND matching, PS3.4 C.2.2.2.4).
        with qtbot.waitSignal(remote.search_finished, timeout=10000) as named:
            assert remote.search({"PatientName": "Third*", "ModalitiesInStudy": "MR"})
        assert named.args == [1] and _rows(win) == [THIRD_STUDY]

        # A cap of 2 answers read: the archive has a third, so the bar says to narrow.
        remote.dimse_max_matches = 2
        remote.page_size = 100
        with qtbot.waitSignal(remote.search_finished, timeout=10000) as capped:
            assert remote.search({})
        assert capped.args == [2] and not bar.more_button.isEnabled()
        assert bar.message.text() == (
            "2 studies in the archive (the archive has more matches: narrow the search)"
        )
    finally:
        win.close()


def test_open_retrieves_by_c_get_and_shows_the_middle_slice(qtbot, qapp, three, store, tmp_path):
    o = three.orthanc
    win = _window(qtbot, qapp, store, _settings(tmp_path, o.dicom_port, o.aet))
    try:
        remote = win.remote
        assert remote.queue is not None and remote.queue.via == "c-get"
        with qtbot.waitSignal(remote.search_finished, timeout=10000):
            assert remote.search({"PatientID": CT_HEAD_PRIOR.patient.patient_id})
        assert _rows(win) == [STUDY]
        with qtbot.waitSignal(remote.study_shown, timeout=15000):
            job = remote.open(STUDY)
        assert job is not None and job.first_image == (SERIES, MIDDLE)
        assert win.current_study_uid == STUDY and win.tabs.currentIndex() == 1
        vp = win.viewport
        assert vp.model.stack.frames[vp.model.index].instance.sop_instance_uid == MIDDLE
        np.testing.assert_array_equal(
            vp.model.stack.values(vp.model.index), _modality_values(three.files[MIDDLE])
        )

        assert job.wait(30) and job.state is JobState.COMPLETE, job.error
        assert job.series == [SeriesProgress(SERIES, 1, "CT", 30, 30, True)]
        qtbot.waitUntil(lambda: win.study_model.cache_state(STUDY).kind is CacheKind.COMPLETE)
        model = win.study_model
        assert model.data(model.index(model.row_of(STUDY), COLUMN_CACHE)) == "Complete"
        qtbot.waitUntil(lambda: len(vp.model.stack) == 30, timeout=5000)
        assert vp.model.stack.frames[vp.model.index].instance.sop_instance_uid == MIDDLE
        assert remote.banner_text(vp) == "" and remote.incomplete_series(STUDY) == []
        pushed = three.series_files(SERIES)
        stored = store.instances(SERIES)
        assert sorted(i.sop_instance_uid for i in stored) == sorted(
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in pushed
        )
        for inst in stored:
            here = pydicom.dcmread(store.path_of(inst)).PixelData
            assert here == pydicom.dcmread(three.files[inst.sop_instance_uid]).PixelData
    finally:
        win.close()


def test_a_dead_dimse_peer_is_said_and_nothing_crashes(qtbot, qapp, orthanc_fresh, store, tmp_path):
    for k in range(3):
        store.add_dataset(generate_slice(PRIOR_SERIES, k, CT_HEAD_PRIOR))
    store.commit()
    port, aet = orthanc_fresh.dicom_port, orthanc_fresh.aet
    orthanc_fresh.stop(kill=True)
    win = _window(
        qtbot,
        qapp,
        store,
        _settings(tmp_path, port, aet),
        retry_first_s=0.05,
        retry_max_s=0.1,
        max_retries=1,
    )
    try:
        remote = win.remote
        refused = (
            f"connection refused at 127.0.0.1:{port}: is the archive's DICOM port right and is "
            "it running?"
        )
        with qtbot.waitSignal(remote.search_error, timeout=10000) as failed:
            assert remote.search({"PatientID": "DEMO-0001"})
        assert failed.args == [refused]
        assert remote.search_bar.message.text() == "Archive search failed: " + refused
        assert win.statusBar().currentMessage() == "Archive search failed: " + refused
        assert remote.search_bar.search_button.isEnabled()
        assert not remote.search_bar.more_button.isEnabled()

        # A retrieval retries once, then fails with the reason; the cache cell says so.
        other = generate_uid(entropy_srcs=["dimse-ui-test", "absent"])
        retried = []
        remote.queue.retrying.connect(lambda job, n, d, m: retried.append((n, d)))
        job = remote.open(other)
        assert job is not None and job.wait(10)
        assert job.state is JobState.FAILED
        assert job.error == refused + " (gave up after 2 tries)"
        assert retried == [(1, 0.05)]
        qtbot.waitUntil(
            lambda: win.statusBar().currentMessage() == "Cannot open the study: " + job.error
        )
        # The local study still opens.
        win.open_study(STUDY)
        assert win.current_study_uid == STUDY and win.viewport.model.count == 3
    finally:
        win.close()
