"""A patient name outside Latin-1 survives a search of the archive, by QIDO-RS and by C-FIND.

The demo MR brain's patient is written in Arabic (ISO_IR 127). Under Orthanc's default
character set for its answers (Latin-1) such a name comes back as "^": the reader could not
find or recognise the patient. The archive the project starts (tests, ``workstation archive
serve``, benchmarks) answers in UTF-8. Pushed with dcmtk's storescu into a real Orthanc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import storescu_push
from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.dimse import DimseClient
from workstation.archive.orthanc import OrthancProcess
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD, MR_BRAIN, generate_slice

ARABIC_NAME = "حداد^ليلى"


@pytest.fixture(scope="module")
def archive(orthanc: OrthancProcess, tmp_path_factory: pytest.TempPathFactory) -> OrthancProcess:
    folder = tmp_path_factory.mktemp("names")
    files = []
    for study in (MR_BRAIN, CT_HEAD):
        path = folder / f"{study.key}.dcm"
        ds = generate_slice(study.series[0], 0)
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    assert str(generate_slice(MR_BRAIN.series[0], 0).SpecificCharacterSet) == "ISO_IR 127"
    storescu_push(orthanc, files)
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
