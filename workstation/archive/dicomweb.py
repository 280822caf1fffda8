"""A DICOMweb client: QIDO-RS search, WADO-RS retrieval into the local store, STOW-RS (PS3.18).

One pooled ``requests.Session`` per client carries authentication, TLS verification and
timeouts. Every failure (refused connection, timeout, 401/403/404/5xx, bad JSON, a broken
multipart body) becomes a :class:`RemoteError` whose message says what to check; nothing here
logs patient data (only counts, sizes, timings and status codes).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
import requests.adapters
import requests.auth
import urllib3.exceptions
from urllib3.util.retry import Retry

from workstation.archive.multipart import (
    MultipartError,
    MultipartStream,
    Part,
    boundary_of,
    dicom_media_type,
    new_boundary,
    read_parts_to_files,
)
from workstation.archive.remote import (
    STUDY_SEARCH_KEYS,
    CheckStep,
    ProgressCallback,
    RemoteError,
    RemoteInstance,
    RemoteProtocolError,
    RetrieveError,
    RetrieveResult,
    StoreResult,
    check_uid,
    check_uid_list,
    retrieve_each_series,
    timed_step,
)
from workstation.core.errors import InvalidDicomError, StoreError
from workstation.core.model import Patient, Series, Study
from workstation.core.ups import pn_string

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive
    from workstation.core.settings import ArchiveConfig

log = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
_CHUNK = 1 << 20
# Series of one study retrieved at once: each series request's round trip and the archive's
# time to start its answer overlap the others' transfer (with its instance-count request, two
# connections of the session's pool of 8 per series).
SERIES_IN_PARALLEL = 3
# Parts ingested together, one index commit each. Small enough that the archive's sending
# goes on into the socket's buffer while a batch is parsed and indexed (8 parts, ~4 MB of CT):
# 300 CT slices from Orthanc on loopback into a store on a journalled ext4 took 0.160 s at 8
# against 0.181 s at 32, 0.169 s at 16 and 0.166 s at 4 (medians of 13, interleaved).
_INGEST_BATCH = 8
_HOLD_BATCHES = 8  # batches kept in temp files while the series count is still on its way
# Bytes of each part kept in memory to parse its header from (a CT or MR header is 1-10 kB;
# a longer one is read from the file).
HEAD_KEPT = 16 * 1024
_STOW_BATCH_FILES = 50
_STOW_BATCH_BYTES = 256 * 1024 * 1024
_PAGE = 1000

# Study-level attributes asked for beyond the defaults (PS3.18 Table 10.6.3-3).
_STUDY_FIELDS = (
    "00080020",  # StudyDate
    "00080030",  # StudyTime
    "00080050",  # AccessionNumber
    "00080061",  # ModalitiesInStudy
    "00080080",  # InstitutionName
    "00080090",  # ReferringPhysicianName
    "00081030",  # StudyDescription
    "00100010",  # PatientName
    "00100020",  # PatientID
    "00100021",  # IssuerOfPatientID
    "00100030",  # PatientBirthDate
    "00100040",  # PatientSex
    "00200010",  # StudyID
    "00201206",  # NumberOfStudyRelatedSeries
    "00201208",  # NumberOfStudyRelatedInstances
)
_SERIES_FIELDS = (
    "00080060",  # Modality
    "0008103E",  # SeriesDescription
    "00180015",  # BodyPartExamined
    "00200011",  # SeriesNumber
    "00201209",  # NumberOfSeriesRelatedInstances
)
_INSTANCE_FIELDS = (
    "00080016",  # SOPClassUID
    "00080018",  # SOPInstanceUID
    "00200013",  # InstanceNumber
    "00280008",  # NumberOfFrames
    "00280010",  # Rows
    "00280011",  # Columns
)
_PN_KEYS = ("PatientName", "ReferringPhysicianName")
_DATE_RANGE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")
_QUERY_SAFE = "*?,^-._~:/@!$'()"


# -- DICOM JSON (PS3.18 Annex F.2) ----------------------------------------------------------------


def _values(obj: Mapping[str, Any], tag: str) -> list[Any]:
    el = obj.get(tag)
    if not isinstance(el, Mapping):
        return []
    v = el.get("Value")
    return v if isinstance(v, list) else []


def _str(obj: Mapping[str, Any], tag: str) -> str:
    v = _values(obj, tag)
    return "" if not v or v[0] is None else str(v[0])


def _strs(obj: Mapping[str, Any], tag: str) -> tuple[str, ...]:
    return tuple(str(x) for x in _values(obj, tag) if x is not None)


def _int(obj: Mapping[str, Any], tag: str) -> int | None:
    v = _values(obj, tag)
    if not v or v[0] is None:
        return None
    try:
        return int(v[0])
    except (TypeError, ValueError):
        return None


def _pn(obj: Mapping[str, Any], tag: str) -> str:
    """A PN value from its JSON object form (PS3.18 F.2.2) as the "A=I=P" string of PS3.5."""
    v = _values(obj, tag)
    return pn_string(v[0]) if v else ""


def study_from_json(obj: Mapping[str, Any]) -> Study:
    """A Study from one QIDO-RS study result, with the archive's series and instance counts."""
    patient = Patient(
        patient_id=_str(obj, "00100020"),
        issuer_of_patient_id=_str(obj, "00100021"),
        patient_name=_pn(obj, "00100010"),
        birth_date=_str(obj, "00100030"),
        sex=_str(obj, "00100040").upper(),
    )
    return Study(
        study_instance_uid=_str(obj, "0020000D"),
        patient=patient,
        accession_number=_str(obj, "00080050"),
        study_date=_str(obj, "00080020"),
        study_time=_str(obj, "00080030"),
        study_description=_str(obj, "00081030"),
        modalities=tuple(sorted(set(_strs(obj, "00080061")))),
        institution_name=_str(obj, "00080080"),
        referring_physician_name=_pn(obj, "00080090"),
        study_id=_str(obj, "00200010"),
        number_of_series=_int(obj, "00201206") or 0,
        number_of_instances=_int(obj, "00201208") or 0,
    )


def series_from_json(obj: Mapping[str, Any], study_uid: str = "") -> Series:
    return Series(
        series_instance_uid=_str(obj, "0020000E"),
        study_instance_uid=_str(obj, "0020000D") or study_uid,
        modality=_str(obj, "00080060").upper(),
        series_number=_int(obj, "00200011"),
        series_description=_str(obj, "0008103E"),
        body_part_examined=_str(obj, "00180015").upper(),
        number_of_instances=_int(obj, "00201209") or 0,
    )


def instance_from_json(obj: Mapping[str, Any], study_uid: str, series_uid: str) -> RemoteInstance:
    return RemoteInstance(
        sop_instance_uid=_str(obj, "00080018"),
        series_instance_uid=_str(obj, "0020000E") or series_uid,
        study_instance_uid=_str(obj, "0020000D") or study_uid,
        sop_class_uid=_str(obj, "00080016"),
        instance_number=_int(obj, "00200013"),
        number_of_frames=_int(obj, "00280008"),
        rows=_int(obj, "00280010"),
        columns=_int(obj, "00280011"),
    )


_TEXT_KEYS = frozenset(("InstitutionName", "StudyDescription"))


def study_query_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """QIDO-RS query parameters from DICOM keywords (PS3.18 8.3.4), checked before sending.

    ``limit``, ``offset`` and ``fuzzymatching`` pass through; StudyDate takes a range
    ``FROM-TO`` with either end open (PS3.4 C.2.2.2.5); names take ``*`` and ``?`` wildcards.
    """
    params: dict[str, str] = {}
    for key, value in filters.items():
        if value is None or value == "":
            continue
        if key in ("limit", "offset"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer (got {value!r})")
            params[key] = str(value)
        elif key == "fuzzymatching":
            params[key] = "true" if value else "false"
        elif key in STUDY_SEARCH_KEYS:
            text = str(value)
            if key in ("StudyDate", "PatientBirthDate") and not _DATE_RANGE.match(text):
                raise ValueError(
                    f"{key} must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (got {text!r})"
                )
            if key in _PN_KEYS:
                # "^" and " " must be percent-encoded in a URL (RFC 3986), and Orthanc 1.10
                # does not decode query arguments, so "Doe^Jane" would never match there. The
                # single-character wildcard "?" matches the separator itself (PS3.4 C.2.2.2.4).
                text = text.replace("^", "?").replace(" ", "?")
            elif key in _TEXT_KEYS:
                # The same for a space in a hospital or a description ("Demo General*" finds
                # nothing on Orthanc 1.10, "Demo?General*" finds "Demo General Hospital").
                # Identifiers keep their exact match.
                text = text.replace(" ", "?")
            params[key] = text
        else:
            raise ValueError(
                f"unknown study search key {key!r}; known: {', '.join(STUDY_SEARCH_KEYS)}"
            )
    return params


def name_needs_cfind(filters: Mapping[str, Any]) -> bool:
    """Whether a name filter holds a letter outside ASCII (Arabic, Greek, an accented Latin
    one). Orthanc 1.10 cannot match such a name over QIDO-RS (it does not percent-decode query
    arguments, and answers 400 to the raw UTF-8); C-FIND can, so a caller with a DIMSE peer
    searches such a name there."""
    return any(isinstance(filters.get(k), str) and not filters[k].isascii() for k in _PN_KEYS)


def encode_query(params: Mapping[str, str]) -> str:
    """A query string that percent-encodes only what a URL cannot carry (RFC 3986 3.4).

    Wildcards, commas and carets stay as they are: Orthanc 1.10 does not decode ``%2A`` or
    ``%2C`` in query arguments, so ``requests``' encoding of ``Doe*`` would match nothing.
    """
    return "&".join(f"{quote(k, safe='')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items())


# -- the client -----------------------------------------------------------------------------------


def compression_wanted(mode: str, host: str | None) -> bool:
    """Whether to ask an archive for gzip answers (``ArchiveConfig.http_compression``).

    "auto" asks for none on a loopback host ("localhost", 127.0.0.0/8, ::1), where gzip costs
    more than it saves (a 175 kB worklist page from Orthanc: 2.6 ms with, 1.5 ms without); any
    other host gets it, since a wide-area link gains more than the compression costs.
    """
    if mode in ("on", "off"):
        return mode == "on"
    import ipaddress  # here, not at the top: this function is the only user

    name = (host or "").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return True  # a host name other than localhost
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return not (address.is_loopback or (mapped is not None and mapped.is_loopback))


class _ConfiguredAuthOnly(requests.auth.AuthBase):
    """No credentials but the archive's own configuration's (a ``basic`` auth replaces this).

    Without a session auth, requests reads ``~/.netrc`` before every request and sends the
    credentials it finds there for the archive's host, even over a configured bearer token.
    """

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ArchiveSession(requests.Session):
    """A requests session whose own TLS settings beat the environment's, and that sends no
    credentials but the configured ones.

    requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace a session's ``verify``
    (psf/requests#3829): a site's ``ca_bundle`` would be ignored on every machine where such a
    variable is set (common on managed desktops) and its archive refused as untrusted. And it
    takes credentials from ``~/.netrc`` for any request without auth of its own (also at a cost
    of two file lookups a request, 300 for a series fetched image by image).
    """

    def __init__(self) -> None:
        super().__init__()
        self.auth = _ConfiguredAuthOnly()

    def merge_environment_settings(  # type: ignore[no-untyped-def]
        self, url, proxies, stream, verify, cert
    ):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            merged["verify"] = self.verify  # the archive's ca_bundle (or False, never set)
        return merged


class DicomWebClient:
    """QIDO-RS, WADO-RS and STOW-RS against one archive's DICOMweb root (PS3.18 10.4-10.6)."""

    def __init__(self, config: ArchiveConfig, session: requests.Session | None = None) -> None:
        if not config.dicomweb_url:
            raise RemoteError(f"archive {config.name!r} has no dicomweb_url")
        self.config = config
        self.base = config.dicomweb_url.rstrip("/")
        parts = urlsplit(self.base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.where = f"{parts.hostname}:{port}"
        self.timeout = (config.connect_timeout_s, config.read_timeout_s)
        self.session = session or ArchiveSession()
        # Orthanc closes idle keep-alive connections after about a second: a GET on such a
        # pooled connection fails once, harmlessly; re-send it on a fresh one.
        retry = Retry(total=1, connect=0, read=1, status=0, allowed_methods={"GET"})
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=2, pool_maxsize=8, max_retries=retry
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "workstation-dicomweb/1"
        if not compression_wanted(config.http_compression, parts.hostname):
            # Every request of this session (QIDO-RS, UPS-RS, metadata) asks for the answer as
            # it is (RFC 9110 12.5.3); a request may still set its own Accept-Encoding.
            self.session.headers["Accept-Encoding"] = "identity"
        if config.auth == "basic":
            self.session.auth = (config.user, config.password)
        elif config.auth == "bearer":
            self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.session.verify = config.ca_bundle or True
        if config.client_cert:
            self.session.cert = (
                (config.client_cert, config.client_key) if config.client_key else config.client_cert
            )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        url = f"{self.base}{path}"
        if params:
            url += "?" + encode_query(params)
        try:
            r = self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                stream=stream,
                timeout=self.timeout,
            )
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, what) from None
        log.debug("%s %s -> %d", method, what, r.status_code)
        if r.status_code not in ok:
            try:
                raise self._status_error(r, what)
            finally:
                r.close()
        return r

    def _transport_error(self, exc: BaseException, what: str) -> RemoteError:
        """An actionable message for a network failure (no URL query: it may hold names)."""
        text = repr(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            return RemoteError(
                f"TLS failed with {self.where} during {what}: the certificate is not trusted or "
                "does not match; set ca_bundle (and client_cert) in the archive's settings"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return RemoteError(
                f"no connection to {self.where} within {self.timeout[0]:g} s: the host is "
                "unreachable or a firewall drops the traffic"
            )
        if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
            return RemoteError(
                f"the archive at {self.where} did not answer {what} within {self.timeout[1]:g} s "
                "(read_timeout_s); it may be overloaded"
            )
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return RemoteError(f"the transfer of {what} from {self.where} was cut off")
        if isinstance(exc, requests.exceptions.ConnectionError):
            if "Connection refused" in text or "Errno 111" in text:
                return RemoteError(
                    f"connection refused at {self.where}: is the archive running, "
                    "and are the host and port of its URL right?"
                )
            if "Name or service not known" in text or "NameResolution" in text:
                return RemoteError(f"cannot resolve the host name of {self.where}: check the URL")
            if "reset by peer" in text or "RemoteDisconnected" in text or "aborted" in text:
                return RemoteError(f"{self.where} closed the connection during {what}")
            return RemoteError(f"cannot talk to {self.where} during {what}: {type(exc).__name__}")
        return RemoteError(f"request to {self.where} for {what} failed: {type(exc).__name__}")

    def _status_error(self, r: requests.Response, what: str) -> RemoteError:
        code = r.status_code
        if code == 401:
            hint = (
                "wrong user or password"
                if self.config.auth == "basic"
                else "the token was rejected or has expired"
                if self.config.auth == "bearer"
                else "the archive needs credentials: set auth, user and password"
            )
            return RemoteError(f"401 from {self.where} for {what}: {hint}")
        if code == 403:
            return RemoteError(
                f"403 from {self.where} for {what}: the account may not do this; ask the "
                "archive's administrator for the right"
            )
        if code == 404:
            return RemoteError(
                f"404 from {self.where} for {what}: not on the archive, or the DICOMweb root "
                f"{urlsplit(self.base).path or '/'} is wrong"
            )
        if code == 406:
            return RemoteError(
                f"406 from {self.where} for {what}: the archive cannot send the media type or "
                'transfer syntax asked for; try transfer_syntax = "lossy-allowed"'
            )
        if code >= 500:
            return RemoteError(
                f"the archive at {self.where} failed with {code} {r.reason or ''} for {what}; "
                "see the archive's log".replace("  ", " ")
            )
        return RemoteError(f"unexpected {code} {r.reason or ''} from {self.where} for {what}")

    def _json(self, r: requests.Response, what: str) -> list[dict[str, Any]]:
        if r.status_code == 204 or not r.content:
            return []
        try:
            data = r.json()
        except ValueError:
            raise RemoteProtocolError(
                f"the archive at {self.where} answered {what} with invalid JSON "
                f"({len(r.content)} bytes, Content-Type {r.headers.get('Content-Type', '?')!r})"
            ) from None
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise RemoteProtocolError(
                f"the archive at {self.where} answered {what} with JSON that is not a list of "
                "DICOM JSON objects (PS3.18 F.2)"
            )
        return data

    def _qido(self, path: str, params: Mapping[str, str], what: str) -> list[dict[str, Any]]:
        r = self._request(
            "GET", path, what, params=params, headers={"Accept": DICOM_JSON}, ok=(200, 204)
        )
        try:
            return self._json(r, what)
        finally:
            r.close()

    # -- QIDO-RS ---------------------------------------------------------------------------
    def search_studies(self, **filters: Any) -> list[Study]:
        """QIDO-RS study search (PS3.18 10.6) with DICOM keywords as filters."""
        params = study_query_params(filters)
        params["includefield"] = ",".join(_STUDY_FIELDS)
        started = time.perf_counter()
        rows = self._qido("/studies", params, "a study search (QIDO-RS)")
        log.info(
            "QIDO-RS studies: %d results in %.0f ms (keys: %s)",
            len(rows),
            (time.perf_counter() - started) * 1000,
            ",".join(sorted(k for k in filters if filters[k] not in (None, ""))) or "none",
        )
        return [study_from_json(o) for o in rows]

    def studies_by_uid(self, uids: Sequence[str]) -> list[Study]:
        """The archive's record of each of ``uids`` it holds, by UID list matching (PS3.18
        8.3.4.1: values separated by commas); at most :data:`UID_LIST_BATCH` at once."""
        if not check_uid_list(uids):
            return []
        return self.search_studies(StudyInstanceUID=",".join(uids), limit=len(uids))

    def search_series(self, study_uid: str, **filters: Any) -> list[Series]:
        """QIDO-RS series of one study, with each series' instance count."""
        check_uid(study_uid, "Study Instance UID")
        params = {k: str(v) for k, v in filters.items() if v not in (None, "")}
        params["includefield"] = ",".join(_SERIES_FIELDS)
        rows = self._qido(f"/studies/{study_uid}/series", params, "a series search (QIDO-RS)")
        return [series_from_json(o, study_uid) for o in rows]

    def search_instances(self, study_uid: str, series_uid: str) -> list[RemoteInstance]:
        """Every instance QIDO-RS lists for a series, page by page (limit/offset)."""
        check_uid(study_uid, "Study Instance UID")
        check_uid(series_uid, "Series Instance UID")
        out: dict[str, RemoteInstance] = {}
        offset = 0
        while True:
            params = {
                "includefield": ",".join(_INSTANCE_FIELDS),
                "limit": str(_PAGE),
                "offset": str(offset),
            }
            rows = self._qido(
                f"/studies/{study_uid}/series/{series_uid}/instances",
                params,
                "an instance search (QIDO-RS)",
            )
            before = len(out)
            for o in rows:
                inst = instance_from_json(o, study_uid, series_uid)
                if inst.sop_instance_uid:
                    out[inst.sop_instance_uid] = inst
            if len(rows) < _PAGE or len(out) == before:
                break
            offset += len(rows)
        return list(out.values())

    def instance_metadata(self, study_uid: str, series_uid: str, sop_uid: str) -> dict[str, Any]:
        """WADO-RS metadata of one instance (PS3.18 10.4.1.1.2), as DICOM JSON."""
        path = f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/metadata"
        rows = self._qido(path, {}, "instance metadata (WADO-RS)")
        if not rows:
            raise RemoteProtocolError(f"the archive at {self.where} sent empty metadata")
        return rows[0]

    # -- WADO-RS ---------------------------------------------------------------------------
    def _accept_dicom(self) -> str:
        """The Accept header for the transfer syntax policy (PS3.18 8.7.3.5.2)."""
        ts = EXPLICIT_VR_LITTLE_ENDIAN if self.config.transfer_syntax == "uncompressed" else "*"
        return f'multipart/related; type="application/dicom"; transfer-syntax={ts}'

    def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        archive: LocalArchive,
        progress: ProgressCallback | None = None,
    ) -> RetrieveResult:
        """Retrieve a series by WADO-RS into the local store; skip what is already there.

        The archive is the measure of completeness. When the store holds nothing of the series
        yet, its count of instances (Number of Series Related Instances, QIDO-RS at series
        level, asked for while the series streams in) decides: every instance the answer
        brought is the archive's, so as many in the store as the archive counts is the whole
        series. The instance list (QIDO-RS at instance level: about 0.2 s of Orthanc's time for
        300 instances, on the core that sends the series) is asked for only where the count
        falls short, the count is not given, or the store already held part of the series:
        it names the missing UIDs (the result's ``missing``) and resumes with them alone. A
        cut transfer raises :class:`RetrieveError` after storing every part that arrived whole.
        """
        check_uid(study_uid, "Study Instance UID")
        check_uid(series_uid, "Series Instance UID")
        started = time.perf_counter()
        result = RetrieveResult(study_uid, series_uid, via="wado-rs")
        base = f"/studies/{study_uid}/series/{series_uid}"
        local = archive.index.sop_instance_uids(series_uid)
        expected: set[str] = set()
        present: set[str] = set()

        def listed() -> None:
            """Take the archive's instance list (its errors come first, PS3.18 10.6)."""
            uids = {i.sop_instance_uid for i in self.search_instances(study_uid, series_uid)}
            if not uids:
                raise RemoteError(
                    f"the archive at {self.where} lists no instances for series {series_uid}"
                )
            expected.clear()
            expected.update(uids)
            present.clear()
            present.update(local & uids)
            result.expected = len(uids)
            result.already_present = len(present)

        def failed(exc: RemoteError) -> RetrieveError:
            result.missing = _missing(expected, archive, series_uid)
            result.seconds = time.perf_counter() - started
            return RetrieveError(
                f"{exc} ({result.received + result.already_present} of {result.expected} "
                "instances of the series are in the local store)",
                result,
            )

        if not local:
            counting = _Background(lambda: self._series_count(study_uid, series_uid))

            told = False

            def tick() -> None:
                nonlocal told
                counting.wait()
                n = counting.value()
                if progress:
                    total = n if n else result.received
                    if not told:  # the count first, as on a resume
                        told = True
                        progress(0, total)
                    progress(min(result.received, total), total)

            try:
                try:
                    self._retrieve_multipart(base, archive, result, tick, counting.done)
                finally:
                    counting.wait()
            except RemoteError as exc:
                try:
                    listed()  # what is missing, by name
                except RemoteError:
                    if not counting.value():
                        raise  # neither count nor list: the archive's own failure says it
                    # The archive is gone: the count says how much is missing, the resume
                    # (which asks for the list) which instances.
                    result.expected = counting.value() or 0
                raise failed(exc) from None
            # No count (an archive without series-level QIDO-RS, or it failed): the list.
            count = counting.value()
            have = archive.index.sop_instance_uids(series_uid)
            if count and len(have) >= count:
                result.expected = count
                # What another retrieval of the same series stored meanwhile counts as present.
                result.already_present = max(0, len(have) - result.received)
                expected.update(have)
            else:  # short, or no count given: the list says what is missing
                listed()
        else:
            listed()
            if progress:
                progress(len(present), len(expected))

            def tick() -> None:
                if progress:
                    done = min(len(present) + result.received, len(expected))
                    progress(done, len(expected))

            wanted = sorted(expected - present)
            try:
                if wanted and present and len(wanted) <= len(expected) // 2:
                    # Resume: fetch only the missing instances (PS3.18 10.4.1.1.3).
                    for sop in wanted:
                        self._retrieve_multipart(f"{base}/instances/{sop}", archive, result, tick)
                elif wanted:
                    self._retrieve_multipart(base, archive, result, tick)
            except RemoteError as exc:
                raise failed(exc) from None
        result.missing = _missing(expected, archive, series_uid)
        result.seconds = time.perf_counter() - started
        log.info(
            "WADO-RS series: %d received, %d present, %d missing, %.1f MB in %.2f s",
            result.received,
            result.already_present,
            len(result.missing),
            result.bytes_received / 1e6,
            result.seconds,
        )
        return result

    def _series_count(self, study_uid: str, series_uid: str) -> int | None:
        """The archive's Number of Series Related Instances of one series (None: not given)."""
        for s in self.search_series(study_uid, SeriesInstanceUID=series_uid):
            if s.series_instance_uid == series_uid:
                return s.number_of_instances or None
        raise RemoteError(f"the archive at {self.where} has no series {series_uid}")

    def retrieve_study(
        self,
        study_uid: str,
        archive: LocalArchive,
        progress: Callable[[Series, int, int], None] | None = None,
        *,
        parallel: int = SERIES_IN_PARALLEL,
    ) -> list[RetrieveResult]:
        """Retrieve every series of a study, ``parallel`` series at once over the pooled
        session; one result per series, in series-number order."""
        return retrieve_each_series(
            self.search_series(study_uid),
            lambda uid, cb: self.retrieve_series(study_uid, uid, archive, cb),
            progress,
            f"the archive at {self.where} has no study {study_uid}",
            parallel=parallel,
        )

    def _retrieve_multipart(
        self,
        path: str,
        archive: LocalArchive,
        result: RetrieveResult,
        tick: Callable[[], None],
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """Stream one WADO-RS multipart answer part by part into temp files, then ingest them.

        Parts are ingested ``_INGEST_BATCH`` at a time, one index commit each, then ``tick``
        reports; until ``ready()`` (the series' count is in) up to ``_HOLD_BATCHES`` batches
        wait, so the reading goes on. A part's file is renamed into place before the commit
        that names it, so the index never points at a file that is not whole. (Ingesting on
        a second thread measured slower on two cores, one of them Orthanc's: 0.267 against
        0.244 s for 300 CT slices, medians of 7; again with this reader and batches of 8,
        0.154 against 0.150 s, medians of 11. Creating the temp files ahead on one: no faster.)
        """
        what = "a retrieve (WADO-RS)"
        pending: list[tuple[Path, Part]] = []

        def flush() -> None:
            if not pending:
                return
            batch = list(pending)
            pending.clear()
            # Renamed into place (no second copy), each header parsed from its kept head.
            outcomes = archive.ingest_files([(p, part.head, part.size) for p, part in batch])
            for (p, _), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, InvalidDicomError):
                    result.rejected.append((p.name, str(outcome)))
                elif outcome:
                    result.received += 1
            tick()

        # DICOM pixel data hardly compresses: gzip (which Orthanc applies to single
        # instances) costs 150 ms per 512 KB slice against 7 ms without.
        headers = {"Accept": self._accept_dicom(), "Accept-Encoding": "identity"}
        r = self._request("GET", path, what, headers=headers, stream=True)
        failed = True
        try:
            boundary = boundary_of(r.headers.get("Content-Type", ""))
            parts = read_parts_to_files(
                self._chunks(r, what), boundary, archive.tmp_dir, "wado", head_bytes=HEAD_KEPT
            )
            with contextlib.closing(parts):
                for p, part in parts:
                    result.bytes_received += part.size
                    media = dicom_media_type(part)
                    if media != "application/dicom":
                        result.rejected.append((f"part {part.index}", f"media type {media}"))
                        p.unlink()
                        continue
                    pending.append((p, part))
                    if len(pending) >= _INGEST_BATCH and (
                        ready() or len(pending) >= _INGEST_BATCH * _HOLD_BATCHES
                    ):
                        flush()
            failed = False
        except MultipartError as exc:
            raise RemoteProtocolError(
                f"{self.where} sent a broken multipart answer: {exc}"
            ) from None
        finally:
            r.close()
            # Every finished part is whole: keep it. After a failure, where the store cannot
            # take them either (a full disk), the first error is the one to tell.
            with contextlib.suppress(*((StoreError,) if failed else ())):
                flush()

    def _chunks(self, r: requests.Response, what: str) -> Iterator[bytes]:
        try:
            yield from body_chunks(r, _CHUNK)
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, what) from None
        except OSError as exc:
            raise RemoteError(f"the transfer of {what} from {self.where} failed: {exc}") from None

    # -- STOW-RS ---------------------------------------------------------------------------
    def store_instances(self, paths: Sequence[str | Path]) -> StoreResult:
        """STOW-RS of Part 10 files (PS3.18 10.5), in batches; returns stored and failed UIDs."""
        started = time.perf_counter()
        result = StoreResult()
        for batch in _batches([Path(p) for p in paths]):
            boundary = new_boundary()
            body = MultipartStream(batch, boundary)
            headers = {
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": DICOM_JSON,
            }
            try:
                r = self._request(
                    "POST",
                    "/studies",
                    "a store (STOW-RS)",
                    headers=headers,
                    data=body,
                    ok=(200, 202, 409),
                )
            finally:
                body.close()
            try:
                answer = self._json_object(r, "a store (STOW-RS)")
            finally:
                r.close()
            for item in _values(answer, "00081199"):  # ReferencedSOPSequence
                result.stored.append(_str(item, "00081155"))
            for item in _values(answer, "00081198"):  # FailedSOPSequence
                reason = _int(item, "00081197")  # FailureReason (PS3.18 Table 10.5.3-1)
                result.failed.append(
                    (_str(item, "00081155"), f"failure reason {reason:#06x}" if reason else "")
                )
        result.seconds = time.perf_counter() - started
        log.info(
            "STOW-RS: %d stored, %d failed in %.2f s",
            len(result.stored),
            len(result.failed),
            result.seconds,
        )
        return result

    def _json_object(self, r: requests.Response, what: str) -> dict[str, Any]:
        if not r.content:
            return {}
        try:
            data = r.json()
        except ValueError:
            raise RemoteProtocolError(
                f"the archive at {self.where} answered {what} with invalid JSON"
            ) from None
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise RemoteProtocolError(f"the archive at {self.where} answered {what} oddly")
        return data

    # -- self-check ------------------------------------------------------------------------
    def check(self) -> list[CheckStep]:
        """QIDO-RS search for one study, then WADO-RS metadata of its first instance."""
        first: list[Study] = []

        def qido() -> str:
            first.extend(self.search_studies(limit=1))
            return "answers" + ("" if first else " (the archive holds no studies)")

        steps = [timed_step("QIDO-RS search", qido)]
        if not steps[0].ok:
            return steps
        if not first:
            steps.append(CheckStep("WADO-RS metadata", True, None, "skipped: no study to read"))
            return steps

        def wado() -> str:
            study = first[0].study_instance_uid
            series = self.search_series(study, limit=1)
            if not series:
                raise RemoteError("the first study lists no series")
            s = series[0].series_instance_uid
            instances = self._qido(
                f"/studies/{study}/series/{s}/instances",
                {"limit": "1"},
                "an instance search (QIDO-RS)",
            )
            if not instances:
                raise RemoteError("the first series lists no instances")
            sop = _str(instances[0], "00080018")
            meta = self.instance_metadata(study, s, sop)
            return f"{len(meta)} attributes of one instance"

        steps.append(timed_step("WADO-RS metadata", wado))
        return steps


def _missing(expected: set[str], archive: LocalArchive, series_uid: str) -> tuple[str, ...]:
    """What the archive lists for a series and the local store lacks, sorted."""
    return tuple(sorted(expected - archive.index.sop_instance_uids(series_uid)))


def body_chunks(r: requests.Response, size: int | Callable[[], int]) -> Iterator[bytes]:
    """A streamed answer's body as it arrives: each chunk is what one read of the connection
    gives, up to ``size`` bytes (large on a fast link, small and at once on a slow one), with
    the errors ``requests`` raises for its own ``iter_content``. ``size`` may be a function,
    asked before each read (a throttled transfer reads in smaller steps).

    ``iter_content(size)`` waits for ``size`` bytes before it hands any on, and copies each
    chunk once more when the socket gave less; this hands on what came, as it came. An answer
    with a Content-Encoding takes ``iter_content`` (the reads must be decoded).
    """
    size_now = size if callable(size) else lambda: size
    if r.headers.get("Content-Encoding", "identity").strip().lower() not in ("identity", ""):
        yield from r.iter_content(size_now())
        return
    raw = r.raw
    try:
        while chunk := raw.read1(size_now(), decode_content=False):
            yield chunk
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None


class _Background:
    """One call (a QIDO-RS request) on a thread of its own, beside a retrieve.

    ``requests`` sessions share their connection pool between threads; the call takes a
    connection of its own.
    """

    def __init__(self, call: Callable[[], int | None]) -> None:
        self._call = call
        self._value: int | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="qido-count", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()

    def value(self) -> int | None:
        """The answer, or None while it is on its way or when the call failed."""
        return None if self._thread.is_alive() or self._error is not None else self._value

    def result(self) -> int | None:
        """The answer (waits for it); raises what the call raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _batches(paths: Iterable[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for p in paths:
        try:
            n = p.stat().st_size
        except OSError as exc:
            raise RemoteError(f"cannot read {p.name} to send it: {exc.strerror}") from None
        if batch and (len(batch) >= _STOW_BATCH_FILES or size + n > _STOW_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(p)
        size += n
    if batch:
        yield batch
