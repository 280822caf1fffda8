"""``http_compression`` of an archive against a real Orthanc: what the DICOMweb session asks for
(Accept-Encoding, RFC 9110 12.5.3) and what Orthanc answers (Content-Encoding), for the UPS-RS
worklist, QIDO-RS and WADO-RS metadata; WADO-RS retrieval is never gzipped; the answers decode
to the same work items and studies either way."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from upsrs_helpers import PASSWORD, SITE_CONFIG, UpsApi, start_worklist_orthanc, workitem

from workstation.archive.dicomweb import DicomWebClient, compression_wanted
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import OrthancProcess
from workstation.core import ups
from workstation.core.settings import ArchiveConfig
from workstation.worklist.model import WorklistFilter
from workstation.worklist.upsrs import UpsRsClient

SITE = ups.load_worklist_config(SITE_CONFIG)
ITEMS = 30
PATIENT = "GZIP-0001"


class Seen:
    """The Accept-Encoding each request sent and the Content-Encoding of each answer, taken
    from the real exchange by a requests response hook."""

    def __init__(self, session: requests.Session) -> None:
        self.exchanges: list[tuple[str, str, str | None, int]] = []
        session.hooks["response"].append(self._record)

    def _record(self, r: requests.Response, *args: object, **kwargs: object) -> None:
        sent = r.request.headers.get("Accept-Encoding", "")
        encoding = r.headers.get("Content-Encoding")
        self.exchanges.append((r.request.path_url, str(sent), encoding, r.status_code))


@pytest.mark.parametrize(
    ("mode", "host", "wanted"),
    [
        ("auto", "127.0.0.1", False),
        ("auto", "127.10.0.3", False),
        ("auto", "::1", False),
        ("auto", "::ffff:127.0.0.1", False),
        ("auto", "localhost", False),
        ("auto", "LOCALHOST.", False),
        ("auto", "pacs.example.org", True),
        ("auto", "10.0.0.9", True),
        ("auto", "::ffff:10.0.0.9", True),
        ("on", "127.0.0.1", True),
        ("off", "pacs.example.org", False),
    ],
)
def test_compression_wanted_by_mode_and_host(mode: str, host: str, wanted: bool) -> None:
    assert compression_wanted(mode, host) is wanted


@pytest.fixture(scope="module")
def worklist_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("gzip-wl"))
    try:
        api = UpsApi(proc.urls.dicomweb, "lead")
        for i in range(ITEMS):
            start = f"202405010{i // 10}{i % 10:02d}00+0000"[:19]
            r = api.create(workitem(PATIENT, label="neuro", start=start, accession=f"GZ{i:03d}"))
            assert r.status_code == 201, r.text
        yield proc
    finally:
        proc.stop(kill=True)


def _client(url: str, mode: str, tmp_path: Path) -> UpsRsClient:
    config = ArchiveConfig(
        name="hub",
        dicomweb_url=url,
        auth="basic",
        user="rad.neuro",
        password=PASSWORD,
        http_compression=mode,
    )
    user = SITE.user("rad.neuro")
    assert user is not None
    return UpsRsClient(config, user, claims=tmp_path / f"{mode}.sqlite", site=SITE)


@pytest.mark.parametrize(
    ("mode", "host", "sent", "answered"),
    [
        ("auto", "127.0.0.1", "identity", None),
        ("auto", "localhost", "identity", None),
        ("off", "127.0.0.1", "identity", None),
        ("on", "127.0.0.1", "gzip, deflate", "gzip"),
    ],
)
def test_worklist_search_is_gzipped_as_configured(
    worklist_server: OrthancProcess,
    tmp_path: Path,
    mode: str,
    host: str,
    sent: str,
    answered: str | None,
) -> None:
    url = worklist_server.urls.dicomweb.replace("127.0.0.1", host)
    assert host in url
    client = _client(url, mode, tmp_path)
    seen = Seen(client._web.session)
    try:
        page = client.search(WorklistFilter(pools=("neuro",), patient_id=PATIENT), limit=100)
        reference = _client(worklist_server.urls.dicomweb, "off", tmp_path)
        expected = reference.search(WorklistFilter(pools=("neuro",), patient_id=PATIENT))
        reference.close()
    finally:
        client.close()
    assert len(page.items) == ITEMS
    assert sorted(i.accession_number for i in page.items) == [f"GZ{i:03d}" for i in range(ITEMS)]
    assert page.items == expected.items  # every field equal, whatever the transfer coding
    searches = [e for e in seen.exchanges if "/workitems?" in e[0]]
    # SCHEDULED (200, the page) and IN PROGRESS (204, nothing: no body to encode)
    assert [e[3] for e in searches] == [200, 204]
    assert [e[1].split(",")[0] for e in searches] == [sent.split(",")[0]] * 2
    assert searches[0][2] == answered


@pytest.fixture(scope="module")
def stored_series(
    orthanc: OrthancProcess, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """A 30-slice CT series STOWed into the module's plain Orthanc: (study UID, series UID)."""
    from workstation.demo import CT_HEAD_PRIOR, iter_series_datasets

    folder = tmp_path_factory.mktemp("ct")
    paths = []
    uids = ("", "")
    for n, ds in enumerate(iter_series_datasets(CT_HEAD_PRIOR.series[0], CT_HEAD_PRIOR)):
        p = folder / f"ct{n:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
        uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
    with DicomWebClient(ArchiveConfig(name="o", dicomweb_url=orthanc.urls.dicomweb)) as c:
        assert c.store_instances(paths).failed == []
    return uids


@pytest.mark.parametrize(("mode", "answered"), [("auto", None), ("on", "gzip")])
def test_qido_and_metadata_follow_the_setting_and_retrieval_is_never_gzipped(
    orthanc: OrthancProcess,
    stored_series: tuple[str, str],
    tmp_path: Path,
    mode: str,
    answered: str | None,
) -> None:
    study_uid, series_uid = stored_series
    config = ArchiveConfig(name="o", dicomweb_url=orthanc.urls.dicomweb, http_compression=mode)
    store = LocalArchive(tmp_path / "store")
    with DicomWebClient(config) as client:
        seen = Seen(client.session)
        studies = client.search_studies()
        assert [s.study_instance_uid for s in studies] == [study_uid]
        instances = client.search_instances(study_uid, series_uid)
        meta = client.instance_metadata(study_uid, series_uid, instances[0].sop_instance_uid)
        client.retrieve_series(study_uid, series_uid, store)
    assert len(instances) == 30
    assert meta["0020000E"]["Value"] == [series_uid]
    qido = [e for e in seen.exchanges if "/metadata" in e[0] or "?" in e[0]]
    assert len(qido) >= 3
    assert {e[2] for e in qido} == {answered}
    wado = [e for e in seen.exchanges if e[0].endswith(f"/series/{series_uid}")]
    assert len(wado) == 1
    assert wado[0][1:] == ("identity", None, 200)  # pixel data: never compressed on the way
    assert len(store.instances(series_uid)) == 30
