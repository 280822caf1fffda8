"""A patient name outside Latin-1 survives a search of the archive, by QIDO-RS and by C-FIND.

The demo MR brain's patient is written in Arabic (ISO_IR 127). Under Orthanc's default
character set for its answers (Latin-1) such a name comes back as "^": the reader could not
find or recognise the patient. The archive the project starts (tests, ``workstation archive
serve``, benchmarks) answers in UTF-8. Pushed with dcmtk's storescu into a real Orthanc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.dimse import DimseClient
from workstation.archive.orthanc import OrthancProcess
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD, MR_BRAIN, generate_slice

ARABIC_NAME = "حداد^ليلى"


@pytest.fixture(scope="module")
def archive(
    orthanc: OrthancProcess, tmp_path_factory: pytest.TempPathFactory, push
) -> OrthancProcess:
    folder = tmp_path_factory.mktemp("names")
    files = []
    for study in (MR_BRAIN, CT_HEAD):
        path = folder / f"{study.key}.dcm"
        ds = generate_slice(study.series[0], 0)
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    assert str(generate_slice(MR_BRAIN.series[0], 0).SpecificCharacterSet) == "ISO_IR 127"
    push(orthanc, files)
    return orthanc


def _by_uid(studies: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {s.study_instance_uid: s.patient.patient_name for s in studies}


def _qido(archive: OrthancProcess) -> DicomWebClient:
    return DicomWebClient(ArchiveConfig(name="o", dicomweb_url=archive.urls.dicomweb))


def test_qido_rs_gives_the_name(archive: OrthancProcess) -> None:
    with _qido(archive) as client:
        everyone = _by_uid(client.search_studies())
    assert everyone[MR_BRAIN.study_instance_uid] == ARABIC_NAME
    assert everyone[CT_HEAD.study_instance_uid] == "Doe^Jane"


@pytest.mark.xfail(
    strict=True,
    reason="Orthanc 1.10 does not percent-decode QIDO-RS query arguments, and a URL cannot "
    "carry the name's UTF-8 bytes unencoded (Orthanc answers 400): on it, find such a "
    "patient by ID or accession, or over C-FIND",
)
def test_qido_rs_finds_the_name(archive: OrthancProcess) -> None:
    with _qido(archive) as client:
        found = _by_uid(client.search_studies(PatientName="حداد*"))
    assert found == {MR_BRAIN.study_instance_uid: ARABIC_NAME}


def test_c_find_gives_the_name_and_finds_it(archive: OrthancProcess) -> None:
    peer = DimseConfig("127.0.0.1", archive.dicom_port, archive.aet)
    client = DimseClient(ArchiveConfig(name="o", dimse=peer))
    everyone = _by_uid(client.find_studies())
    found = _by_uid(client.find_studies(PatientName="حداد*"))
    assert everyone[MR_BRAIN.study_instance_uid] == ARABIC_NAME
    assert everyone[CT_HEAD.study_instance_uid] == "Doe^Jane"
    assert found == {MR_BRAIN.study_instance_uid: ARABIC_NAME}


def test_the_project_starts_its_archives_answering_in_utf8(tmp_path: Path) -> None:
    assert OrthancProcess(tmp_path).config()["DefaultEncoding"] == "Utf8"


# -- the study list's search bar -----------------------------------------------------------------


def _window(qtbot, qapp, tmp_path: Path, archive: OrthancProcess, *, dimse: bool):  # type: ignore[no-untyped-def]
    from workstation.archive.local import LocalArchive
    from workstation.core.settings import load_settings
    from workstation.ui.main_window import MainWindow
    from workstation.ui.theme import apply_dark_theme

    toml = f'[[archives]]\nname = "hub"\ndicomweb_url = "{archive.urls.dicomweb}"\n'
    if dimse:
        toml += (
            f'[archives.dimse]\nhost = "127.0.0.1"\nport = {archive.dicom_port}\n'
            f'ae_title = "{archive.aet}"\n'
        )
    path = tmp_path / "workstation.toml"
    path.write_text(toml, encoding="utf-8")
    store = LocalArchive(tmp_path / "store")
    apply_dark_theme(qapp)
    win = MainWindow(store, settings=load_settings(user_path=path, environ={}))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win, store


def _search_name(qtbot, win, text: str) -> int:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    bar = win.remote.search_bar
    bar.patient_name.setText(text)
    with qtbot.waitSignal(win.remote.search_finished, timeout=10000) as found:
        qtbot.keyClick(bar.patient_name, Qt.Key.Key_Return)
    return int(found.args[0])


def test_the_study_list_finds_an_arabic_name_by_c_find(
    qtbot, qapp, tmp_path, isolated_home, archive
):
    win, store = _window(qtbot, qapp, tmp_path, archive, dimse=True)
    try:
        model = win.study_model
        assert _search_name(qtbot, win, "حداد") == 1
        assert win.remote._cfind  # QIDO-RS found nothing for it here; C-FIND was asked
        study = model.study_at(0)
        assert (study.study_instance_uid, study.patient.patient_name) == (
            MR_BRAIN.study_instance_uid,
            ARABIC_NAME,
        )
        # A name in A-Z still goes by QIDO-RS (paged by the archive).
        assert _search_name(qtbot, win, "Doe") == 1
        assert not win.remote._cfind
        assert model.study_at(0).study_instance_uid == CT_HEAD.study_instance_uid
    finally:
        win.close()
        store.close()


def test_without_dimse_the_bar_says_why_an_arabic_name_finds_nothing(
    qtbot, qapp, tmp_path, isolated_home, archive
):
    win, store = _window(qtbot, qapp, tmp_path, archive, dimse=False)
    try:
        assert _search_name(qtbot, win, "حداد") == 0
        message = win.remote.search_bar.message.text()
        assert message.startswith("0 studies in the archive (some archives cannot search")
        assert "search by patient ID or accession number" in message
        assert _search_name(qtbot, win, "Doe") == 1  # no hint where it does not apply
        assert win.remote.search_bar.message.text() == "1 study in the archive"
    finally:
        win.close()
        store.close()


def test_the_query_command_finds_an_arabic_name(cli, archive: OrthancProcess) -> None:
    where = ["--dicomweb-url", archive.urls.dicomweb]
    dimse = ["--dimse", f"127.0.0.1:{archive.dicom_port}:{archive.aet}"]
    # QIDO-RS finds nothing; with a DIMSE peer too, C-FIND is asked, and finds and names her.
    r = cli("query", *where, *dimse, "--name", "حداد*")
    assert r.returncode == 0, r.stderr
    assert [line.split("\t")[:5:4] for line in r.stdout.splitlines()] == [
        [MR_BRAIN.study_instance_uid, "DEMO-0003"]
    ]
    assert r.stdout.split("\t")[3] == "حداد, ليلى"
    # Asked for, QIDO-RS is used: on Orthanc 1.10 it finds nothing (see the xfail above).
    r = cli("query", *where, *dimse, "--name", "حداد*", "--via", "qido")
    assert (r.returncode, r.stdout) == (0, "")
