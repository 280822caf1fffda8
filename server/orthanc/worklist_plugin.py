"""Orthanc Python plugin: the reading worklist served as UPS-RS (PS3.18 §11, PS3.4 Annex CC).

Loaded by Orthanc with ``"PythonScript": ".../worklist_plugin.py"`` (Debian ``orthanc-python``
4.0, Debian's system Python: standard library and ``workstation.core.ups`` only). Routes:

=========================================  ======  ==============================================
``/dicom-web/workitems``                   GET     Search Workitems (200 array, 204 when none)
``/dicom-web/workitems``                   POST    Create Workitem (201 + Location)
``/dicom-web/workitems/{uid}``             GET     Retrieve Workitem (never the Transaction UID)
``/dicom-web/workitems/{uid}``             POST    Update Workitem
``/dicom-web/workitems/{uid}/state``       PUT     Change Workitem State (claim, complete, cancel)
``/dicom-web/workitems/{uid}/cancelrequest`` POST  Request Cancellation (202)
``/dicom-web/workitems/{uid}/secondread``  POST    Request a second read (201 + Location; own)
``/dicom-web/workitems/{uid}/handback``    POST    Hand back: replacement + cancel, atomic (own)
=========================================  ======  ==============================================

Deviations, forced by the Python plugin which never sees the query string of POST and PUT:
Create takes the SOP Instance UID from the body's (0008,0018) (or generates one) instead of
``?{workitem}``; Update takes the Transaction UID from the body's (0008,1195) instead of
``?{transaction-uid}``. Search parameters: keywords or tags, dotted sequence paths,
``AccessionNumber`` as a shorthand for ``ReferencedRequestSequence.AccessionNumber``, one value
per key (Orthanc keeps the last of repeated keys; ``includefield`` takes a comma list), values
form-decoded (``+`` is a space, except in DT values where it can only be an offset sign), times
without an offset are UTC. Results come in worklist order: priority, then due time. When every
key is one the store keeps in a column (state, priority, pool, patient ID, performer code,
station code, accession number, start and due time ranges), the page is filtered, ordered and
paged in SQL on indexes and the answer is joined from each row's stored DICOM JSON text
(``ups_store.encode_dataset``); other keys take the Python matching path (``ups.matches``).
Phase timings of each search are logged at Orthanc's info level (``--verbose``).

Hand back (``/handback``, a site extension like ``/secondread``): the holder of an IN PROGRESS
workitem, proven by its Transaction UID in the body, gets a SCHEDULED replacement created and
the original discontinued in one transaction (PS3.4 CC.1.1 forbids IN PROGRESS -> SCHEDULED).

A reading workitem is created once per study (unique on Study Instance UID) when Orthanc
reports the study stable, and by a sweep over Orthanc's change log at start-up (a STABLE_STUDY
event is lost when Orthanc stops within StableAge). Callers are Orthanc's HTTP users
(``AuthenticationEnabled`` + ``RegisteredUsers``); the ``Users`` of the worklist config give
each a role (radiologist, lead, admin). Every state change and assignment is audited in the
same database transaction. Logs carry workitem UIDs and Orthanc IDs, never patient data.

Configuration (Orthanc JSON): ``"Worklist": {"ConfigFile": "worklist.json", "Database": ...,
"PostgreSQL": ..., "WorkstationPath": ..., "RetrieveBaseUrl": ..., "AnonymousUser": ...,
"MaximumResults": 1000, "StopWhenProcessEnds": PID}``; keys of the worklist config may also be
given inline and override the file's. The store is SQLite (``Database``, default
StorageDirectory/worklist.sqlite) unless ``PostgreSQL`` is given: ``true`` keeps the workitems
in orthanc-postgresql's database (Orthanc's top-level ``PostgreSQL`` section; schema
``worklist``), an object names the server (Host, Port, Database, Username, Password, Schema,
PoolSize). Several Orthanc processes on one PostgreSQL index then share one worklist and a claim
stays atomic whichever process takes it. A search returns
at most MaximumResults items, with a Warning naming how many more there are; only DICOM JSON
bodies are accepted (others 415).

Conditional search (RFC 9110 §8.8.3, §13.1.2, §15.4.5): a search answer (200 or 204) carries
``ETag: "<hash>"`` over the store generation (``generation()``, changed by every committed
change of workitems, shared by the Orthancs of one PostgreSQL), what decides the caller's view
(user name, role, performer code, pools), the server's page cap, the Accept-Encoding and every
query parameter. A request whose ``If-None-Match`` holds that tag (or ``*``; weak comparison)
gets ``304 Not Modified`` with the tag and no body, and the page is not built. The generation is
read before the page, so a tag can only be older than its page, never newer: a change that
lands while a page is built gives the next poll a 200, never a stale 304.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import queue
import re
import signal
import sqlite3
import sys
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import orthanc  # type: ignore[import-not-found]

_HERE = Path(__file__).resolve().parent
_PLUGIN_KEYS = {
    "ConfigFile",
    "Database",
    "WorkstationPath",
    "RetrieveBaseUrl",
    "AnonymousUser",
    "MaximumResults",
    "StopWhenProcessEnds",
    "PostgreSQL",
}
_CHECKPOINT_KEY = "orthanc_change_seq"


def _log_warning(message: str) -> None:
    orthanc.LogWarning("worklist: " + message)


def _log_error(message: str) -> None:
    orthanc.LogError("worklist: " + message)


def _safe_traceback() -> str:
    """File, line and exception type only: exception messages may quote patient data."""
    etype, _value, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)[-4:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{etype.__name__ if etype else 'Exception'} at {where}"


_ORTHANC_CONFIG: dict[str, Any] = json.loads(orthanc.GetConfiguration())
_SECTION: dict[str, Any] = dict(_ORTHANC_CONFIG.get("Worklist") or {})
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(Path(_SECTION.get("WorkstationPath") or _HERE.parents[1]).resolve()))

import ups_store  # noqa: E402

from workstation.core import ups  # noqa: E402
from workstation.core.errors import WorkstationError  # noqa: E402

# -- configuration ------------------------------------------------------------------------------


# Plain classes, not dataclasses: Orthanc runs this script as a module that is not in
# sys.modules, and dataclasses look their module up there.
class Service:
    """Everything the handlers share: site config, store, how to build URLs, auth mode."""

    def __init__(self) -> None:
        self.config: ups.WorklistConfig | None = None
        self.store: ups_store.UpsStore | ups_store.PgUpsStore | None = None
        self.error: str | None = None
        self.auth_enabled = False
        self.anonymous_user: str | None = None
        self.retrieve_aet = ""
        self.retrieve_base_url = ""
        self.watcher: StudyWatcher | None = None
        self.maximum_results = 1000


def _load_service() -> Service:
    """Read the Orthanc and site configuration; on any problem the routes answer 503 with it."""
    service = Service()
    config_file = Path(_SECTION.get("ConfigFile") or _HERE / "worklist.json")
    try:
        service.auth_enabled = _ORTHANC_CONFIG.get("AuthenticationEnabled") is True
        service.anonymous_user = _SECTION.get("AnonymousUser")
        service.maximum_results = int(_SECTION.get("MaximumResults", 1000))
        if service.maximum_results < 1:
            raise ValueError("Worklist.MaximumResults must be at least 1")
        service.retrieve_aet = str(_ORTHANC_CONFIG.get("DicomAet", "ORTHANC"))
        dicomweb = _ORTHANC_CONFIG.get("DicomWeb") or {}
        root = "/" + str(dicomweb.get("Root", "/dicom-web/")).strip("/")
        host = dicomweb.get("Host") or f"127.0.0.1:{_ORTHANC_CONFIG.get('HttpPort', 8042)}"
        service.retrieve_base_url = str(_SECTION.get("RetrieveBaseUrl") or f"http://{host}{root}")
        data = json.loads(config_file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise WorkstationError(f"{config_file}: must be a JSON object")
        data.update({k: v for k, v in _SECTION.items() if k not in _PLUGIN_KEYS})
        service.config = ups.load_worklist_config(data, str(config_file))
        storage = Path(_ORTHANC_CONFIG.get("StorageDirectory") or "OrthancStorage")
        service.store = ups_store.open_store(_SECTION, _ORTHANC_CONFIG, storage / "worklist.sqlite")
        if isinstance(service.store, ups_store.PgUpsStore):
            try:
                service.store.check()
                _log_warning(f"workitems in PostgreSQL at {service.store.settings.where}")
            except ups_store.StoreBusy as exc:  # the routes answer 503 until it is reachable
                _log_error(str(exc))
    except (OSError, ValueError, TypeError, WorkstationError, sqlite3.Error) as exc:
        # json.JSONDecodeError is a ValueError; the message names the file, never patient data.
        service.error = f"worklist disabled: {exc}"
        service.config = None
        _log_error(service.error)
    if not service.auth_enabled and not service.anonymous_user:
        _log_warning("AuthenticationEnabled is off: every worklist request will be refused")
    return service


# -- HTTP plumbing ------------------------------------------------------------------------------


class Request:
    """What a handler needs of Orthanc's request: lower-case headers, body, GET parameters."""

    def __init__(
        self, method: str, headers: dict[str, str], body: bytes, params: dict[str, str]
    ) -> None:
        self.method = method
        self.headers = headers
        self.body = body
        self.params = params
        self.host = headers.get("host", "orthanc")


class Reply:
    """An answer to send: status, body text, content type, extra headers."""

    def __init__(
        self,
        status: int,
        body: str = "",
        content_type: str = "application/dicom+json",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


def _warning(host: str, text: str) -> tuple[str, str]:
    """A ``Warning: 299 <host> "<text>"`` header (RFC 7234 5.5 form, PS3.18 8.x warnings)."""
    safe = text.encode("ascii", "replace").decode("ascii").replace("\\", "\\\\").replace('"', "'")
    return ("Warning", f'299 {host} "{safe}"')


def _error_reply(req: Request, status: int, reason: str) -> Reply:
    body = json.dumps({"status": status, "reason": reason})
    return Reply(status, body, "application/json", [_warning(req.host, reason)])


def _send(output: Any, reply: Reply) -> None:
    for name, value in reply.headers:
        output.SetHttpHeader(name, value)
    if reply.status == 200:
        output.AnswerBuffer(reply.body.encode("utf-8"), reply.content_type)
    elif reply.body:
        output.SetHttpHeader("Content-Type", reply.content_type)
        output.SendHttpStatus(reply.status, reply.body, len(reply.body.encode("utf-8")))
    else:
        output.SendHttpStatusCode(reply.status)


def _serve(output: Any, request: dict[str, Any], routes: dict[str, Any], *args: str) -> None:
    """Run one route; every failure becomes an explicit answer, never Orthanc's bare 500."""
    method = request.get("method", "")
    handler = routes.get(method)
    if handler is None:
        output.SendMethodNotAllowed(",".join(routes))
        return
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    req = Request(
        method=method,
        headers=headers,
        body=bytes(request.get("body") or b""),
        # Orthanc 1.10 hands GET arguments over still percent-encoded (checked: "n%2A").
        params={
            unquote_plus(str(k)): unquote_plus(str(v))
            for k, v in (request.get("get") or {}).items()
        },
    )
    started = time.perf_counter()
    try:
        if SERVICE.error or SERVICE.config is None or SERVICE.store is None:
            reply = _error_reply(req, 503, SERVICE.error or "worklist not configured")
        else:
            content_type = req.headers.get("content-type", "").lower()
            if req.body and content_type and "json" not in content_type:
                # Only the DICOM JSON representation is offered (PS3.18 Annex F), not XML.
                reply = _error_reply(req, 415, f"unsupported media type {content_type!r}")
            else:
                reply = handler(req, *args)
    except ups.UpsError as exc:
        reply = _error_reply(req, exc.http_status, str(exc))
    except ups_store.StoreBusy as exc:
        reply = _error_reply(req, 503, str(exc))
    except ups_store.DuplicateItem as exc:
        reply = _error_reply(req, 409, f"{ups.DUPLICATE_SOP_INSTANCE} ({exc})")
    except Exception:
        _log_error(f"{method} workitems failed: {_safe_traceback()}")
        reply = _error_reply(req, 500, "internal error in the worklist plugin (see Orthanc log)")
    try:
        _send(output, reply)
    except Exception:
        _log_error(f"could not answer {method}: {_safe_traceback()}")
    orthanc.LogInfo(
        f"worklist: {method} -> {reply.status} in {1000 * (time.perf_counter() - started):.1f} ms"
    )


def _caller(req: Request) -> ups.WorklistUser:
    """The worklist user behind the request, from the Basic credentials Orthanc checked."""
    assert SERVICE.config is not None
    if not SERVICE.auth_enabled:
        name = SERVICE.anonymous_user
    else:
        auth = req.headers.get("authorization", "")
        name = None
        if auth[:6].lower() == "basic ":
            try:
                name = base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                name = None
    user = SERVICE.config.user(name)
    if user is None:
        who = f"user {name!r}" if name else "an unidentified caller"
        raise ups.PermissionDenied(f"{who} has no role in the reading worklist")
    return user


def _require(user: ups.WorklistUser, *permissions: ups.Permission) -> None:
    if not any(user.may(p) for p in permissions):
        wanted = " or ".join(p.value for p in permissions)
        raise ups.PermissionDenied(f"role {user.role.value} may not {wanted}")


def _now() -> datetime:
    return datetime.now(UTC)


def _tag(keyword: str) -> str:
    return ups.ATTRIBUTES[keyword][0]


def _dt_or_none(epoch: float | None) -> str | None:
    return ups.format_dt(datetime.fromtimestamp(epoch, UTC)) if epoch is not None else None


def _workitem_url(req: Request, uid: str) -> str:
    return f"http://{req.host}/dicom-web/workitems/{uid}"


def _audit(uid: str, user: ups.WorklistUser | None, action: str, old: Any, new: Any) -> Any:
    return ups_store.AuditEntry(
        uid=uid,
        user=user.name if user else "system",
        role=user.role.value if user else None,
        action=action,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
    )


def _check_assignment(dataset: dict[str, Any]) -> None:
    """Pools must be configured ones and performers known readers, or items get lost."""
    assert SERVICE.config is not None
    pool = ups.first(dataset, "ProcedureStepLabel")
    if pool is not None and pool not in SERVICE.config.pools:
        raise ups.UpsError.from_status(
            ups.INVALID_ATTRIBUTE_VALUE, f"Procedure Step Label {pool!r} is not a reading pool"
        )
    code = ups.performer_code(dataset)
    if code is not None:
        reader = SERVICE.config.user_by_code(code)
        if reader is None or not (reader.may(ups.Permission.CLAIM)):
            raise ups.UpsError.from_status(
                ups.INVALID_ATTRIBUTE_VALUE, f"performer code {code!r} is not a reader"
            )


# -- Search, Retrieve, Create (PS3.18 11.9, 11.6, 11.4) --------------------------------------------


# Search keys held in a column of the store: attribute path -> store filter. A sequence key
# matches the column's value: the first scheduled performer's code, the last station code and
# the last request's accession number (``ups.index_workitem``); the plugin's workitems have one.
_SQL_EXACT: dict[tuple[str, ...], str] = {
    ups.parse_path(key): column
    for key, column in (
        ("ProcedureStepState", "state"),
        ("ScheduledProcedureStepPriority", "priority"),
        ("ProcedureStepLabel", "pool"),
        ("PatientID", "patient_id"),
        ("ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue", "performer"),
        ("ScheduledStationNameCodeSequence.CodeValue", "institution"),
        ("ReferencedRequestSequence.AccessionNumber", "accession_number"),
    )
}
_SQL_RANGES: dict[tuple[str, ...], str] = {
    (ups.tag_of("ScheduledProcedureStepStartDateTime"),): "start_range",
    (ups.tag_of("ExpectedCompletionDateTime"),): "due_range",
}
_TRANSACTION_UID = ups.tag_of("TransactionUID")


def sql_filters(query: ups.SearchQuery) -> dict[str, Any] | None:
    """The store filters that decide the match alone, or None when a key needs ``ups.matches``.

    Universal keys (empty, top level: match all, PS3.4 C.2.2.2.3) drop out; single values
    without wildcards of a column-backed attribute become equality filters; DT single values
    and ranges of the start and due times become epoch ranges with the bounds ``ups.matches``
    uses (``ups.dt_bounds``). Anything else (wildcards, other keys, a key given twice with
    different values) keeps the search on the Python path.
    """
    out: dict[str, Any] = {}
    for c in query.criteria:
        if len(c.path) == 1 and c.value == "":
            continue
        column = _SQL_EXACT.get(c.path)
        if column is not None:
            if not c.value or set(c.value) & set("*?\\") or c.value.endswith(" "):
                return None  # (a trailing space never matches in Python: values are rstripped)
            if out.get(column, c.value) != c.value:
                return None
            out[column] = c.value
            continue
        key = _SQL_RANGES.get(c.path)
        if key is None or key in out or not c.value:
            return None
        low, high = ups.dt_bounds(c.value)
        out[key] = (
            None if low is None else low.timestamp(),
            None if high is None else high.timestamp(),
        )
    return out


def _kept_tags(query: ups.SearchQuery) -> frozenset[str] | None:
    """The top-level tags a search returns (``select_attributes``); None for all of them."""
    if query.include is None:
        return None
    return _DEFAULT_SEARCH_TAGS | query.include | frozenset(c.path[0] for c in query.criteria)


def _lean(keep: frozenset[str] | None) -> bool:
    """Whether the answer never holds what a row's summary omits (``page_json(lean=True)``)."""
    return keep is not None and not keep & ups_store.SUMMARY_OMITS


def _answer_rows(
    rows: list[ups_store.RawRow],
    query: ups.SearchQuery,
    keep: frozenset[str] | None,
    timings: dict[str, float],
) -> str:
    """The DICOM JSON array of a page, joined from each row's stored text where it holds exactly
    the attributes to return (``keep``, from ``_kept_tags``); rows with others are decoded and
    filtered (``select_attributes``). Rows of a lean page carry their summary only: it holds
    every attribute such an answer may return.

    The Transaction UID is never stored in a row's DICOM JSON; a row that has it anyway is
    filtered, so it is never returned (PS3.4 CC.2.5.1.2).
    """
    started = time.perf_counter()
    lean = _lean(keep)
    choice: dict[str, int] = {}  # tags text -> 0 dataset, 1 summary, 2 decode
    parts: list[str] = []
    decoded = 0
    for row in rows:
        how = choice.get(row.tags)
        if how is None:
            tags = frozenset(row.tags.split(",")) if row.tags else frozenset()
            if _TRANSACTION_UID in tags:
                how = 2
            elif keep is None or (tags <= keep and not lean):
                how = 0
            elif tags - ups_store.SUMMARY_OMITS <= keep:
                how = 1
            else:
                how = 2
            choice[row.tags] = how
        if how == 0:
            parts.append(row.dataset)
        elif how == 1 and row.summary is not None:
            parts.append(row.summary)
        elif how == 1:
            parts.append(row.dataset)  # no omitted attribute in this row: it is its summary
        else:
            decoded += 1
            text = row.summary if lean else row.dataset
            selected = ups.select_attributes(json.loads(text), query)
            parts.append(json.dumps(selected, separators=(",", ":")))
    timings["encode"] = time.perf_counter() - started
    timings["decoded"] = decoded
    return "[" + ",".join(parts) + "]"


_DEFAULT_SEARCH_TAGS = frozenset(ups.tag_of(k) for k in ups.DEFAULT_SEARCH_ATTRIBUTES)


# Changes whenever the answer's form changes for the same store state (this plugin's output).
_ETAG_FORMAT = "worklist-search-1"
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')


def search_etag(
    user: ups.WorklistUser, params: dict[str, str], generation: str, coding: str = ""
) -> str:
    """The entity tag of a search answer (RFC 9110 §8.8.3): a hash of everything the page
    depends on, so that equal tags mean equal answers (store state, caller's view, query);
    ``coding`` is the request's Accept-Encoding (a strong tag names one content coding)."""
    key = [
        _ETAG_FORMAT,
        generation,
        coding,
        user.name,
        user.role.value,
        user.performer_code or "",
        sorted(user.pools),
        SERVICE.maximum_results,
        sorted(params.items()),
    ]
    digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode("utf-8"))
    return f'"{digest.hexdigest()[:40]}"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (RFC 9110 §13.1.2: ``*`` or a list of entity
    tags, compared weakly: a ``W/`` prefix on either side is ignored)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    wanted = etag[2:] if etag.startswith("W/") else etag
    return any(f'"{m.group(1)}"' == wanted for m in _ENTITY_TAG.finditer(header))


def _cache_headers(etag: str) -> list[tuple[str, str]]:
    """ETag plus what keeps shared caches from serving one user's page to another."""
    return [
        ("ETag", etag),
        ("Cache-Control", "private, no-cache"),
        ("Vary", "Authorization, Accept-Encoding"),
    ]


def search(req: Request) -> Reply:
    assert SERVICE.config is not None and SERVICE.store is not None
    t0 = time.perf_counter()
    user = _caller(req)
    _require(user, ups.Permission.VIEW_ALL, ups.Permission.VIEW_OWN)
    # Read before the page is built (see the module docstring): a tag never outruns its page.
    etag = search_etag(
        user, req.params, SERVICE.store.generation(), req.headers.get("accept-encoding", "")
    )
    if none_match(req.headers.get("if-none-match"), etag):
        return Reply(304, headers=_cache_headers(etag))
    query = ups.parse_search_query(req.params)
    visible = None
    if not user.may(ups.Permission.VIEW_ALL):
        visible = (user.performer_code, sorted(user.pools))
    limit = SERVICE.maximum_results if query.limit is None else query.limit
    page_size = min(limit, SERVICE.maximum_results)
    filters = sql_filters(query)
    timings: dict[str, float] = {"parse": time.perf_counter() - t0}
    t1 = time.perf_counter()
    if filters is not None:
        # Every key is a column filter: filter, order and page in SQL (PS3.18 8.3.4.4) and
        # answer with the stored JSON text of the page's rows.
        keep = _kept_tags(query)
        rows, more = SERVICE.store.page_json(
            offset=query.offset, limit=page_size, lean=_lean(keep), visible_to=visible, **filters
        )
        timings["sql"] = time.perf_counter() - t1
        count = len(rows)
        body = _answer_rows(rows, query, keep, timings) if rows else ""
    else:
        narrowed = {
            column: value
            for path, column in _SQL_EXACT.items()
            if len(path) == 1 and (value := _exact_value(query, path)) is not None
        }
        candidates = SERVICE.store.candidates(visible_to=visible, **narrowed)
        matched = [r for r in candidates if ups.matches(r.dataset, query.criteria)]
        end = min(len(matched), query.offset + page_size)
        page = matched[query.offset : end]
        more = len(matched) - end
        timings["sql"] = time.perf_counter() - t1
        count = len(page)
        t2 = time.perf_counter()
        body = json.dumps([ups.select_attributes(r.dataset, query) for r in page])
        timings["encode"] = time.perf_counter() - t2
        timings["decoded"] = len(candidates)
    headers = _cache_headers(etag)
    if query.fuzzy_requested:
        headers.append(
            _warning(req.host, "fuzzymatching is not supported: literal matching was used")
        )
    if more > 0:
        headers.append(_warning(req.host, f"There are {more} additional results to request"))
    orthanc.LogInfo(
        f"worklist: search {'sql' if filters is not None else 'python'} path, {count} rows "
        f"({int(timings.get('decoded', 0))} decoded): parse {1000 * timings['parse']:.2f} ms, "
        f"store {1000 * timings['sql']:.2f} ms, encode {1000 * timings.get('encode', 0):.2f} ms; "
        f"store connections opened {SERVICE.store.connections_opened}"
    )
    if not count:
        return Reply(204, headers=headers)
    return Reply(200, body, headers=headers)


def _exact_value(query: ups.SearchQuery, path: tuple[str, ...]) -> str | None:
    """A top-level key's single value without wildcards (to narrow the Python path in SQL)."""
    for c in query.criteria:
        if c.path == path and c.value and not set(c.value) & set("*?\\,-"):
            return c.value
    return None


def retrieve(req: Request, uid: str) -> Reply:
    assert SERVICE.store is not None
    user = _caller(req)
    _require(user, ups.Permission.VIEW_ALL, ups.Permission.VIEW_OWN)
    item = SERVICE.store.get(uid)
    if item is None:
        raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
    if not user.can_see(item.performer, item.pool):
        raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
    return Reply(200, json.dumps([ups.without_transaction_uid(item.dataset)]))


def create(req: Request) -> Reply:
    assert SERVICE.config is not None and SERVICE.store is not None
    config = SERVICE.config
    user = _caller(req)
    _require(user, ups.Permission.CREATE)
    ds = ups.parse_dataset_body(req.body)
    if ups.first(ds, "TransactionUID"):
        raise ups.UpsError.from_status(
            ups.INVALID_ATTRIBUTE_VALUE, "a new workitem has no Transaction UID"
        )
    state = ups.first(ds, "ProcedureStepState")
    if state is not None and state != ups.ProcedureStepState.SCHEDULED.value:
        raise ups.UpsError.from_status(ups.NOT_SCHEDULED_AT_CREATE)
    uid = ups.first(ds, "SOPInstanceUID") or "2.25." + str(uuid.uuid4().int)
    if not ups.is_valid_uid(uid):
        raise ups.UpsError.from_status(ups.INVALID_ATTRIBUTE_VALUE, "SOP Instance UID is not a UID")
    now = _now()
    priority = ups.parse_priority(
        ups.first(ds, "ScheduledProcedureStepPriority") or config.default_priority.value
    ).value
    defaults = ups.dataset_of(
        SpecificCharacterSet="ISO_IR 192",
        SOPClassUID=ups.UPS_PUSH_SOP_CLASS_UID,
        SOPInstanceUID=uid,
        ProcedureStepState=ups.ProcedureStepState.SCHEDULED.value,
        ScheduledProcedureStepPriority=priority,
        WorklistLabel=config.worklist_label,
        ProcedureStepLabel=config.default_pool,
        InputReadinessState="READY",
        ScheduledProcedureStepStartDateTime=ups.format_dt(now),
        ScheduledProcedureStepModificationDateTime=ups.format_dt(now),
    )
    for tag, elem in defaults.items():
        if not ds.get(tag, {}).get("Value"):
            ds[tag] = elem
    if not ds.get(_tag("ExpectedCompletionDateTime"), {}).get("Value"):
        start = ups.parse_dt(ups.first(ds, "ScheduledProcedureStepStartDateTime"))
        try:
            due = ups.expected_completion(start, priority, config.turnaround_minutes)
        except WorkstationError as exc:
            raise ups.UpsError(str(exc), http_status=400) from None
        ds[_tag("ExpectedCompletionDateTime")] = ups.element(
            "ExpectedCompletionDateTime", ups.format_dt(due)
        )
    ds = dict(sorted(ds.items()))
    _check_assignment(ds)
    index = ups.index_workitem(ds)
    audit = [
        _audit(
            uid, user, "create", None, f"{index.state.value} {index.priority.value} {index.pool}"
        )
    ]
    if index.performer:
        audit.append(_audit(uid, user, "assign", None, index.performer))
    if not SERVICE.store.insert(uid, index.columns(), ds, audit):
        raise ups.UpsError.from_status(ups.DUPLICATE_SOP_INSTANCE, f"workitem {uid} exists")
    url = _workitem_url(req, uid)
    return Reply(201, headers=[("Location", url), ("Content-Location", url)])


# -- Update, Change State, Request Cancel (PS3.18 11.5, 11.7, 11.8) --------------------------------

# Attributes only a lead (ASSIGN) may change: who reads, how urgent, which pool, by when.
_ASSIGNMENT_TAGS = frozenset(
    _tag(k)
    for k in (
        "ScheduledHumanPerformersSequence",
        "ScheduledProcedureStepPriority",
        "ProcedureStepLabel",
        "ExpectedCompletionDateTime",
        "WorklistLabel",
    )
)
_IMMUTABLE_TAGS = frozenset(
    _tag(k) for k in ("SOPClassUID", "SOPInstanceUID", "ProcedureStepState")
)


def update(req: Request, uid: str) -> Reply:
    assert SERVICE.config is not None and SERVICE.store is not None
    config = SERVICE.config
    user = _caller(req)
    _require(user, ups.Permission.ASSIGN, ups.Permission.PERFORM)
    changes = ups.parse_dataset_body(req.body)
    transaction_uid = ups.first(changes, "TransactionUID")
    changes.pop(_tag("TransactionUID"), None)
    if not changes:
        raise ups.UpsError.from_status(ups.MISSING_ATTRIBUTE, "nothing to update")

    def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
        if item is None:
            raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
        if not user.can_see(item.performer, item.pool):
            raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
        state = ups.ProcedureStepState(item.state)
        ups.check_update(state, transaction_uid, item.transaction_uid)
        for tag in _IMMUTABLE_TAGS & set(changes):
            if changes[tag].get("Value") != item.dataset.get(tag, {}).get("Value"):
                what = ups.KEYWORD_BY_TAG[tag]
                hint = " (use PUT .../state)" if what == "ProcedureStepState" else ""
                raise ups.UpsError.from_status(
                    ups.INVALID_ATTRIBUTE_VALUE, f"{what} cannot be updated{hint}"
                )
        if state is ups.ProcedureStepState.SCHEDULED and not user.may(ups.Permission.ASSIGN):
            raise ups.PermissionDenied(
                f"role {user.role.value} may not change a scheduled workitem"
            )
        if state is ups.ProcedureStepState.IN_PROGRESS:
            if item.holder != user.name:
                raise ups.PermissionDenied(f"workitem {uid} is held by another reader")
            if _ASSIGNMENT_TAGS & set(changes) and not user.may(ups.Permission.ASSIGN):
                raise ups.PermissionDenied(
                    f"role {user.role.value} may not change assignment, priority, pool or due time"
                )
        new = dict(item.dataset)
        new.update(changes)
        prio_tag, due_tag = (
            _tag("ScheduledProcedureStepPriority"),
            _tag("ExpectedCompletionDateTime"),
        )
        if prio_tag in changes and due_tag not in changes:
            start_text = ups.first(new, "ScheduledProcedureStepStartDateTime")
            start = ups.parse_dt(start_text) if start_text else _now()
            prio = ups.parse_priority(ups.first(new, "ScheduledProcedureStepPriority"))
            try:
                due = ups.expected_completion(start, prio, config.turnaround_minutes)
            except WorkstationError as exc:
                raise ups.UpsError(str(exc), http_status=400) from None
            new[due_tag] = ups.element("ExpectedCompletionDateTime", ups.format_dt(due))
        if state is ups.ProcedureStepState.SCHEDULED:
            new[_tag("ScheduledProcedureStepModificationDateTime")] = ups.element(
                "ScheduledProcedureStepModificationDateTime", ups.format_dt(_now())
            )
        new = dict(sorted(new.items()))
        _check_assignment(new)
        index = ups.index_workitem(new)
        audit = []
        if index.performer != item.performer:
            action = (
                "assign"
                if not item.performer
                else "unassign"
                if not index.performer
                else "reassign"
            )
            audit.append(_audit(uid, user, action, item.performer, index.performer))
        for action, old, now_value in (
            ("priority", item.priority, index.priority.value),
            ("pool", item.pool, index.pool),
            ("due", _dt_or_none(item.due_utc), _dt_or_none(index.due_utc)),
        ):
            if old != now_value:
                audit.append(_audit(uid, user, action, old, now_value))
        names = sorted(ups.KEYWORD_BY_TAG.get(t, t) for t in changes)
        audit.append(_audit(uid, user, "update", None, ",".join(names)))
        return ups_store.Change(fields={**index.columns(), "dataset": new}, audit=audit)

    SERVICE.store.mutate(uid, rule)
    return Reply(200)


def _performed_procedure(
    dataset: dict[str, Any], holder: ups.WorklistUser | None, claimed_utc: float | None
) -> dict[str, Any]:
    """Unified Procedure Step Performed Procedure Sequence completed with what the server knows.

    Final state requirements of COMPLETED (PS3.4 Table CC.2.5-3): actual performer, start and
    end times, performed workitem code and an Output Information Sequence (may be empty).
    """
    assert SERVICE.config is not None
    seq = ups.items(dataset, "UnifiedProcedureStepPerformedProcedureSequence")
    item = dict(seq[0]) if seq else {}
    now = _now()
    fill = ups.dataset_of(
        ActualHumanPerformersSequence=[ups.performer_item(holder, SERVICE.config.performer_scheme)]
        if holder
        else [],
        PerformedProcedureStepStartDateTime=ups.format_dt(
            datetime.fromtimestamp(claimed_utc, UTC) if claimed_utc else now
        ),
        PerformedProcedureStepEndDateTime=ups.format_dt(now),
        PerformedWorkitemCodeSequence=ups.items(dataset, "ScheduledWorkitemCodeSequence"),
        OutputInformationSequence=[],
    )
    for tag, elem in fill.items():
        if tag not in item:
            item[tag] = elem
    return ups.element("UnifiedProcedureStepPerformedProcedureSequence", dict(sorted(item.items())))


def _progress_canceled(dataset: dict[str, Any], reason_source: dict[str, Any]) -> dict[str, Any]:
    """Procedure Step Progress Information with the cancellation time and reason (PS3.4 CC.2.4)."""
    seq = ups.items(dataset, "ProcedureStepProgressInformationSequence")
    item = dict(seq[0]) if seq else {}
    item[_tag("ProcedureStepCancellationDateTime")] = ups.element(
        "ProcedureStepCancellationDateTime", ups.format_dt(_now())
    )
    for keyword in (
        "ReasonForCancellation",
        "ProcedureStepDiscontinuationReasonCodeSequence",
        "ContactURI",
        "ContactDisplayName",
    ):
        tag = _tag(keyword)
        if tag in reason_source:
            item[tag] = reason_source[tag]
    return ups.element("ProcedureStepProgressInformationSequence", dict(sorted(item.items())))


def change_state(req: Request, uid: str) -> Reply:
    assert SERVICE.config is not None and SERVICE.store is not None
    config = SERVICE.config
    user = _caller(req)
    body = ups.parse_dataset_body(req.body)
    state_text = ups.first(body, "ProcedureStepState")
    if state_text is None:
        raise ups.UpsError.from_status(ups.MISSING_ATTRIBUTE, "Procedure Step State (0074,1000)")
    requested = ups.parse_state(state_text)
    transaction_uid = ups.first(body, "TransactionUID")
    if requested is ups.ProcedureStepState.IN_PROGRESS:
        _require(user, ups.Permission.CLAIM)
    else:
        _require(user, ups.Permission.PERFORM, ups.Permission.CLAIM)

    def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
        if item is None:
            raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
        current = ups.ProcedureStepState(item.state)
        if requested is ups.ProcedureStepState.IN_PROGRESS:
            # A claim is judged as if the item were still SCHEDULED: whoever could have claimed
            # it learns it is taken (409 C302), even though the winner's claim assigned it.
            if not (user.may_claim_in(item.pool) or user.can_see(item.performer, item.pool)):
                raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
            if (
                current is ups.ProcedureStepState.SCHEDULED
                and item.performer
                and item.performer != user.performer_code
            ):
                raise ups.PermissionDenied(f"workitem {uid} is assigned to another reader")
        else:
            if not user.can_see(item.performer, item.pool):
                raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
            if (
                requested.is_final
                and current is ups.ProcedureStepState.IN_PROGRESS
                and item.holder != user.name
            ):
                raise ups.PermissionDenied(f"workitem {uid} is held by another reader")
        transition = ups.change_state(current, requested, transaction_uid, item.transaction_uid)
        if not transition.changed:
            return ups_store.Change(result=transition)
        new = dict(item.dataset)
        new[_tag("ProcedureStepState")] = ups.element("ProcedureStepState", requested.value)
        fields: dict[str, Any] = {}
        audit = []
        if requested is ups.ProcedureStepState.IN_PROGRESS:
            fields.update(
                transaction_uid=transaction_uid, holder=user.name, claimed_utc=time.time()
            )
            if not item.performer:
                new[_tag("ScheduledHumanPerformersSequence")] = ups.element(
                    "ScheduledHumanPerformersSequence",
                    ups.performer_item(user, config.performer_scheme),
                )
                audit.append(_audit(uid, user, "assign", None, user.performer_code))
            audit.append(_audit(uid, user, "claim", current.value, requested.value))
        elif requested is ups.ProcedureStepState.COMPLETED:
            holder = config.user(item.holder)
            new[_tag("UnifiedProcedureStepPerformedProcedureSequence")] = _performed_procedure(
                new, holder, item.claimed_utc
            )
            audit.append(_audit(uid, user, "complete", current.value, requested.value))
        else:
            new[_tag("ProcedureStepProgressInformationSequence")] = _progress_canceled(new, body)
            audit.append(_audit(uid, user, "discontinue", current.value, requested.value))
        new = dict(sorted(new.items()))
        fields.update(ups.index_workitem(new).columns())
        fields["dataset"] = new
        return ups_store.Change(fields=fields, audit=audit, result=transition)

    change = SERVICE.store.mutate(uid, rule)
    transition: ups.Transition = change.result
    headers = [_warning(req.host, str(transition.warning))] if transition.warning else []
    return Reply(200, headers=headers)


def cancel_request(req: Request, uid: str) -> Reply:
    assert SERVICE.config is not None and SERVICE.store is not None
    config = SERVICE.config
    user = _caller(req)
    _require(user, ups.Permission.CANCEL)
    body = ups.parse_dataset_body(req.body) if req.body.strip() else {}

    def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
        if item is None:
            raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
        current = ups.ProcedureStepState(item.state)
        transition = ups.request_cancel(
            current, performer_reachable=config.lead_cancels_in_progress
        )
        if not transition.changed:
            return ups_store.Change(result=transition)
        new = dict(item.dataset)
        new[_tag("ProcedureStepState")] = ups.element(
            "ProcedureStepState", ups.ProcedureStepState.CANCELED.value
        )
        new[_tag("ProcedureStepProgressInformationSequence")] = _progress_canceled(new, body)
        new = dict(sorted(new.items()))
        fields = {**ups.index_workitem(new).columns(), "dataset": new}
        audit = [_audit(uid, user, "cancel", current.value, transition.new_state.value)]
        return ups_store.Change(fields=fields, audit=audit, result=transition)

    change = SERVICE.store.mutate(uid, rule)
    transition: ups.Transition = change.result
    headers = [_warning(req.host, str(transition.warning))] if transition.warning else []
    return Reply(202, headers=headers)


# -- hand back (a site extension of UPS-RS) ------------------------------------------------------

_HAND_BACK_BODY = frozenset(
    _tag(k)
    for k in (
        "TransactionUID",
        "ReasonForCancellation",
        "ProcedureStepDiscontinuationReasonCodeSequence",
    )
)


def _extension_body(req: Request, allowed: frozenset[str], what: str) -> dict[str, Any]:
    """The DICOM JSON body of a site extension resource ({} when empty); UpsError 400 naming
    the attributes ``what`` does not take."""
    body = ups.parse_dataset_body(req.body) if req.body.strip() else {}
    unknown = sorted(set(body) - allowed)
    if unknown:
        names = ", ".join(ups.KEYWORD_BY_TAG.get(t, t) for t in unknown)
        raise ups.UpsError(f"{what} does not take {names}", http_status=400)
    return body


def hand_back(req: Request, uid: str) -> Reply:
    """The holder gives IN PROGRESS workitem ``uid`` back to its pool, in one transaction.

    A UPS never returns to SCHEDULED (PS3.4 Table CC.1.1-2, 0xC303), so a hand back is a
    SCHEDULED, unassigned replacement (``ups.replacement_dataset``: Replaced Procedure Step
    Sequence naming ``uid``, UID ``ups.derived_uid("replacement", uid)``) created together with
    the discontinuation of ``uid`` (IN PROGRESS -> CANCELED with a Reason For Cancellation):
    both or neither are written, so the study is never without, nor with two, open workitems.
    The Transaction UID in the body (0008,1195) proves the caller holds ``uid``; no right to
    create workitems is needed. Refusals follow Change State (PS3.4 CC.2.4): 404 C307 unknown,
    403 not the caller's, 409 C310 still SCHEDULED, C301 wrong Transaction UID, C300 final.
    201 + Location of the replacement; a retry after success answers the same (B304 warning).
    """
    assert SERVICE.config is not None and SERVICE.store is not None
    user = _caller(req)
    _require(user, ups.Permission.PERFORM)
    body = _extension_body(req, _HAND_BACK_BODY, "a hand back")
    transaction_uid = ups.first(body, "TransactionUID")
    if not transaction_uid:
        raise ups.UpsError.from_status(
            ups.MISSING_ATTRIBUTE_VALUE, "a hand back needs the held Transaction UID (0008,1195)"
        )
    reason = ups.first(body, "ReasonForCancellation") or ups.HAND_BACK_REASON
    body[_tag("ReasonForCancellation")] = ups.element("ReasonForCancellation", reason)
    new_uid = ups.derived_uid("replacement", uid)

    def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
        if item is None:
            raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
        if not user.can_see(item.performer, item.pool):
            raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
        current = ups.ProcedureStepState(item.state)
        if current is ups.ProcedureStepState.SCHEDULED:
            raise ups.UpsError.from_status(ups.NOT_YET_IN_PROGRESS)
        if item.holder != user.name:
            raise ups.PermissionDenied(f"workitem {uid} is held by another reader")
        if transaction_uid != item.transaction_uid:
            raise ups.UpsError.from_status(ups.WRONG_TRANSACTION_UID)
        if current is not ups.ProcedureStepState.IN_PROGRESS:
            return ups_store.Change(result=current)  # a retry: answered below
        now_text = ups.format_dt(_now())
        replacement = ups.replacement_dataset(item.dataset, new_uid)
        replacement[_tag("ScheduledProcedureStepModificationDateTime")] = ups.element(
            "ScheduledProcedureStepModificationDateTime", now_text
        )
        index = ups.index_workitem(replacement)
        new = dict(item.dataset)
        new[_tag("ProcedureStepState")] = ups.element(
            "ProcedureStepState", ups.ProcedureStepState.CANCELED.value
        )
        new[_tag("ProcedureStepProgressInformationSequence")] = _progress_canceled(new, body)
        new = dict(sorted(new.items()))
        audit = [
            _audit(uid, user, "hand-back", current.value, f"CANCELED, replaced by {new_uid}"),
            _audit(new_uid, user, "create", None, f"SCHEDULED {index.priority.value} {index.pool}"),
            _audit(new_uid, user, "replaces", None, uid),
        ]
        return ups_store.Change(
            fields={**ups.index_workitem(new).columns(), "dataset": new},
            audit=audit,
            result=None,
            inserts=[(new_uid, index.columns(), replacement)],
        )

    change = SERVICE.store.mutate(uid, rule)
    url = _workitem_url(req, new_uid)
    headers = [("Location", url), ("Content-Location", url)]
    if change.result is not None:  # already final: a retry of a hand back that succeeded
        if change.result is not ups.ProcedureStepState.CANCELED or (
            SERVICE.store.get(new_uid) is None
        ):
            raise ups.UpsError.from_status(
                ups.MAY_NO_LONGER_BE_UPDATED, f"it is {change.result.value}"
            )
        headers.append(_warning(req.host, str(ups.ALREADY_CANCELED)))
        return Reply(201, headers=headers)
    _log_warning(f"workitem {uid} handed back: replacement {new_uid}")
    return Reply(201, headers=headers)


# -- second reads (a site extension of UPS-RS) ---------------------------------------------------

# A second read is a new UPS of its own, linked to the first one. The link is not the Replaced
# Procedure Step Sequence (0074,1224), which says the new step replaces a discontinued one
# (PS3.3 C.30.2), nor the retired Related Procedure Step Sequence (0074,1220): it is a
# Scheduled Processing Parameters Sequence (0074,1210) of the UPS Scheduled Procedure
# Information Module (PS3.3 C.30.1), whose items are content items (PS3.3 Table 10-2): a CODE
# saying "second opinion" and a UIDREF holding the first workitem's SOP Instance UID. The
# second read keeps the first one's Referenced Request Sequence (same order and accession),
# Study Instance UID and Input Information Sequence (the same images), and is scheduled in the
# target pool (Procedure Step Label). Clients find the second reads of X with the search key
# ``00741210.0040A124=X``.
# The link's form lives in ``core.ups`` (``second_read_parameters``), shared with the client.
_PROCESSING_PARAMETERS = _tag("ScheduledProcessingParametersSequence")
_SECOND_READ_NAMESPACE = uuid.UUID("0f3c2b7e-2d51-4c39-9b0e-5e0d6a8f41c2")
second_read_parameters = ups.second_read_parameters
second_read_of = ups.second_read_of
# Copied from the first workitem: who, which order and which images (PS3.4 Table CC.2.5-3).
_SECOND_READ_COPIED = tuple(
    _tag(k)
    for k in (
        "SpecificCharacterSet",
        "SOPClassUID",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "AdmittingDiagnosesDescription",
        "StudyInstanceUID",
        "ReferencedRequestSequence",
        "WorklistLabel",
        "ScheduledWorkitemCodeSequence",
        "ScheduledStationNameCodeSequence",
        "InputReadinessState",
        "InputInformationSequence",
    )
)
_SECOND_READ_BODY = frozenset(
    _tag(k)
    for k in (
        "ProcedureStepLabel",
        "ScheduledProcedureStepPriority",
        "ExpectedCompletionDateTime",
        "CommentsOnTheScheduledProcedureStep",
        "ScheduledHumanPerformersSequence",
    )
)


def request_second_read(req: Request, uid: str) -> Reply:
    """Create a second-read workitem in another pool, linked to workitem ``uid``.

    Radiologists may ask for workitems in their worklist, leads for any; only a lead may name
    the second reader. One open second read per first workitem and pool: a repeated request
    answers 409 with the open one's Location, also when two requests race (the new UID is
    derived from the first UID, the pool and how many second reads that pool already had).
    """
    assert SERVICE.config is not None and SERVICE.store is not None
    config = SERVICE.config
    user = _caller(req)
    _require(user, ups.Permission.CLAIM)
    body = _extension_body(req, _SECOND_READ_BODY, "a second-read request")
    pool = ups.first(body, "ProcedureStepLabel")
    if not pool:
        raise ups.UpsError.from_status(
            ups.MISSING_ATTRIBUTE_VALUE, "Procedure Step Label (0074,1204): the target pool"
        )
    if ups.performer_code(body) and not user.may(ups.Permission.ASSIGN):
        raise ups.PermissionDenied(f"role {user.role.value} may not name the second reader")
    first = SERVICE.store.get(uid)
    if first is None:
        raise ups.UpsError.from_status(ups.NO_SUCH_UPS)
    if not user.can_see(first.performer, first.pool):
        raise ups.PermissionDenied(f"workitem {uid} is not in {user.name}'s worklist")
    if first.state == ups.ProcedureStepState.CANCELED.value:
        raise ups.UpsError(
            f"workitem {uid} is CANCELED: there is no read to give a second opinion on",
            http_status=409,
        )
    earlier = [
        item
        for item in SERVICE.store.candidates(patient_id=first.patient_id)
        if item.pool == pool and second_read_of(item.dataset) == uid
    ]
    for item in earlier:
        if item.state in (
            ups.ProcedureStepState.SCHEDULED.value,
            ups.ProcedureStepState.IN_PROGRESS.value,
        ):
            url = _workitem_url(req, item.uid)
            reply = _error_reply(
                req, 409, f"a second read of workitem {uid} is already open in pool {pool}"
            )
            reply.headers.append(("Location", url))
            return reply
    new_uid = "2.25." + str(uuid.uuid5(_SECOND_READ_NAMESPACE, f"{uid}|{pool}|{len(earlier)}").int)
    now = _now()
    priority = ups.parse_priority(
        ups.first(body, "ScheduledProcedureStepPriority") or first.priority
    )
    due_text = ups.first(body, "ExpectedCompletionDateTime")
    if due_text:
        due = ups.parse_dt(due_text)
    else:
        try:
            due = ups.expected_completion(now, priority, config.turnaround_minutes)
        except WorkstationError as exc:
            raise ups.UpsError(str(exc), http_status=400) from None
    ds = {t: first.dataset[t] for t in _SECOND_READ_COPIED if t in first.dataset}
    ds.update(
        ups.dataset_of(
            SOPInstanceUID=new_uid,
            ProcedureStepState=ups.ProcedureStepState.SCHEDULED.value,
            ScheduledProcedureStepPriority=priority.value,
            ProcedureStepLabel=pool,
            ScheduledProcedureStepStartDateTime=ups.format_dt(now),
            ScheduledProcedureStepModificationDateTime=ups.format_dt(now),
            ExpectedCompletionDateTime=ups.format_dt(due),
            CommentsOnTheScheduledProcedureStep=ups.first(
                body, "CommentsOnTheScheduledProcedureStep"
            ),
        )
    )
    ds[_tag("ScheduledHumanPerformersSequence")] = body.get(
        _tag("ScheduledHumanPerformersSequence"), {"vr": "SQ", "Value": []}
    )
    ds[_PROCESSING_PARAMETERS] = second_read_parameters(uid)
    ds = dict(sorted(ds.items()))
    _check_assignment(ds)
    index = ups.index_workitem(ds)
    audit = [
        _audit(new_uid, user, "create", None, f"SCHEDULED {index.priority.value} {pool}"),
        _audit(new_uid, user, "second-read-of", None, uid),
        _audit(uid, user, "second-read-requested", None, f"{new_uid} {pool}"),
    ]
    if index.performer:
        audit.append(_audit(new_uid, user, "assign", None, index.performer))
    if not SERVICE.store.insert(new_uid, index.columns(), ds, audit):
        reply = _error_reply(
            req, 409, f"a second read of workitem {uid} is already open in pool {pool}"
        )
        reply.headers.append(("Location", _workitem_url(req, new_uid)))
        return reply
    _log_warning(f"second read {new_uid} of workitem {uid} requested in pool {pool}")
    url = _workitem_url(req, new_uid)
    return Reply(201, headers=[("Location", url), ("Content-Location", url)])


# -- reading workitems for stable studies -------------------------------------------------------


def _rest_json(uri: str) -> Any:
    return json.loads(orthanc.RestApiGet(uri))


def _instance_value(instance_id: str, tag_path: str) -> str:
    try:
        raw = orthanc.RestApiGet(f"/instances/{instance_id}/content/{tag_path}")
    except Exception:  # absent tag: Orthanc answers 404, the plugin raises
        return ""
    return bytes(raw).decode("utf-8", "replace").strip(" \x00")


def _study_facts(study: dict[str, Any]) -> ups.StudyFacts:
    """What Orthanc knows of a study, read through its internal REST API."""
    main = study.get("MainDicomTags") or {}
    patient = study.get("PatientMainDicomTags") or {}
    series_facts = []
    first_instance = None
    for series in _rest_json(f"/studies/{study['ID']}/series"):
        tags = series.get("MainDicomTags") or {}
        refs = []
        for instance in _rest_json(f"/series/{series['ID']}/instances"):
            sop_class = bytes(
                orthanc.RestApiGet(f"/instances/{instance['ID']}/metadata/SopClassUid")
            ).decode("ascii", "replace")
            refs.append((sop_class, instance["MainDicomTags"]["SOPInstanceUID"]))
            first_instance = first_instance or instance["ID"]
        refs.sort(key=lambda r: r[1])
        series_facts.append(
            ups.SeriesFacts(
                series_instance_uid=tags.get("SeriesInstanceUID", ""),
                modality=tags.get("Modality", ""),
                body_part_examined=tags.get("BodyPartExamined", ""),
                instances=tuple(refs),
            )
        )
    series_facts.sort(key=lambda s: s.series_instance_uid)
    priority = _instance_value(first_instance, "0040-1003") if first_instance else ""
    return ups.StudyFacts(
        study_instance_uid=main.get("StudyInstanceUID", ""),
        accession_number=main.get("AccessionNumber", ""),
        patient_name=patient.get("PatientName", ""),
        patient_id=patient.get("PatientID", ""),
        patient_birth_date=patient.get("PatientBirthDate", ""),
        patient_sex=patient.get("PatientSex", ""),
        institution_name=main.get("InstitutionName", ""),
        study_description=main.get("StudyDescription", ""),
        requested_procedure_priority=priority,
        series=tuple(series_facts),
        # Orthanc's main study tags (Orthanc 1.10: these are among them).
        study_date=main.get("StudyDate", ""),
        study_time=main.get("StudyTime", ""),
        referring_physician_name=main.get("ReferringPhysicianName", ""),
        requesting_physician=main.get("RequestingPhysician", ""),
        requested_procedure_description=main.get("RequestedProcedureDescription", ""),
    )


def ensure_reading_workitem(study_id: str, *, require_stable: bool) -> bool:
    """Create the study's reading workitem once; refresh its inputs while still SCHEDULED.

    Returns False when the study is not stable yet (its STABLE_STUDY event will follow).
    """
    assert SERVICE.config is not None and SERVICE.store is not None
    try:
        study = _rest_json(f"/studies/{study_id}")
    except Exception:
        return True  # deleted since: nothing to read
    if require_stable and not study.get("IsStable", True):
        return False
    study_uid = (study.get("MainDicomTags") or {}).get("StudyInstanceUID")
    if not study_uid:
        return True
    existing = SERVICE.store.get_by_reading_study(study_uid)
    if existing is not None and existing.state != ups.ProcedureStepState.SCHEDULED.value:
        return True
    facts = _study_facts(study)
    dataset = ups.build_reading_workitem(
        facts,
        SERVICE.config,
        now=_now(),
        retrieve_aet=SERVICE.retrieve_aet,
        retrieve_base_url=SERVICE.retrieve_base_url,
    )
    if dataset is None:
        return True  # only reports, key images or presentation states: nothing to read
    if existing is not None:
        fresh = {t: dataset[t] for t in _REFRESHED_TAGS if t in dataset}
        if any(existing.dataset.get(t) != v for t, v in fresh.items()):
            _refresh_inputs(existing.uid, fresh)
        return True
    index = ups.index_workitem(dataset)
    uid = ups.first(dataset, "SOPInstanceUID")
    audit = [_audit(uid, None, "create", None, f"SCHEDULED {index.priority.value} {index.pool}")]
    if SERVICE.store.insert(uid, index.columns(), dataset, audit, reading_study_uid=study_uid):
        _log_warning(
            f"reading workitem {uid} created for study {study_id} "
            f"({index.priority.value}, pool {index.pool})"
        )
    return True


# What a study's later series change in its SCHEDULED reading workitem: inputs and summary.
_REFRESHED_TAGS = (
    _tag("InputInformationSequence"),
    *(_tag(k) for k in ups.STUDY_SUMMARY_KEYWORDS),
)


def _refresh_inputs(uid: str, fresh: dict[str, Any]) -> None:
    """New series arrived after the workitem was made: update its Input Information and the
    study summary (modalities, body part, image count)."""
    assert SERVICE.store is not None
    tag = _tag("InputInformationSequence")

    def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
        if item is None or item.state != ups.ProcedureStepState.SCHEDULED.value:
            return ups_store.Change()
        new = dict(item.dataset)
        new.update(fresh)
        new = dict(sorted(new.items()))
        count = sum(1 for _ in (fresh.get(tag) or {}).get("Value") or [])
        audit = [_audit(uid, None, "refresh-inputs", None, f"{count} series")]
        return ups_store.Change(fields={"dataset": new}, audit=audit)

    SERVICE.store.mutate(uid, rule)


def sweep_changes() -> int:
    """Catch up on studies whose STABLE_STUDY was missed, from Orthanc's change log.

    The checkpoint (last change seen) lives in the worklist database; it never passes a study
    that was still unstable, so a later sweep sees it again. Returns the studies examined.
    """
    assert SERVICE.store is not None
    since = int(SERVICE.store.get_meta(_CHECKPOINT_KEY) or 0)
    unstable_seq: int | None = None
    examined = 0
    while True:
        page = _rest_json(f"/changes?since={since}&limit=500")
        seen: dict[str, int] = {}
        for change in page.get("Changes", []):
            if change.get("ChangeType") in ("NewStudy", "StableStudy"):
                seen.setdefault(change["ID"], int(change["Seq"]))
        for study_id, seq in seen.items():
            examined += 1
            if not ensure_reading_workitem(study_id, require_stable=True) and unstable_seq is None:
                unstable_seq = seq
        last = int(page.get("Last", since))
        if page.get("Done", True) or last <= since:
            since = max(since, last)
            break
        since = last
    final = since if unstable_seq is None else min(since, unstable_seq - 1)
    SERVICE.store.set_meta(_CHECKPOINT_KEY, str(final))
    return examined


class StudyWatcher:
    """One worker thread: the change callback only queues, so Orthanc is never held up."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="worklist-studies", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.queue.put(("stop", ""))
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            kind, study_id = self.queue.get()
            if kind == "stop":
                return
            try:
                if kind == "sweep":
                    count = sweep_changes()
                    _log_warning(f"start-up sweep examined {count} studies")
                else:
                    ensure_reading_workitem(study_id, require_stable=False)
            except Exception:
                _log_error(f"reading workitem for {kind} {study_id} failed: {_safe_traceback()}")
            finally:
                if SERVICE.store is not None:
                    SERVICE.store.close()


def on_change(change_type: int, level: int, resource_id: str) -> None:
    if SERVICE.error or SERVICE.store is None:
        return
    if change_type == orthanc.ChangeType.STABLE_STUDY and SERVICE.watcher is not None:
        SERVICE.watcher.queue.put(("study", resource_id))
    elif change_type == orthanc.ChangeType.ORTHANC_STARTED:
        SERVICE.watcher = StudyWatcher()
        SERVICE.watcher.start()
        SERVICE.watcher.queue.put(("sweep", ""))
    elif change_type == orthanc.ChangeType.ORTHANC_STOPPED and SERVICE.watcher is not None:
        SERVICE.watcher.stop()
        SERVICE.watcher = None
        if isinstance(SERVICE.store, ups_store.PgUpsStore):
            SERVICE.store.dispose()


def _stop_when_process_ends(pid: int) -> None:
    """Stop Orthanc (SIGTERM to itself, a clean shutdown) once process ``pid`` is gone.

    For supervised servers such as the test suite's: Orthanc runs in a session of its own and
    would outlive a supervisor that crashed.
    """
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _log_warning(f"supervising process {pid} has ended: stopping Orthanc")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        except PermissionError:
            pass  # alive, owned by another user


# -- registration -------------------------------------------------------------------------------


def _on_collection(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"GET": search, "POST": create})


def _on_item(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"GET": retrieve, "POST": update}, *request.get("groups", ()))


def _on_state(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"PUT": change_state}, *request.get("groups", ()))


def _on_cancel(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"POST": cancel_request}, *request.get("groups", ()))


def _on_second_read(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"POST": request_second_read}, *request.get("groups", ()))


def _on_hand_back(output: Any, uri: str, **request: Any) -> None:
    _serve(output, request, {"POST": hand_back}, *request.get("groups", ()))


SERVICE = _load_service()
if isinstance(_SECTION.get("StopWhenProcessEnds"), int):
    threading.Thread(
        target=_stop_when_process_ends,
        args=(_SECTION["StopWhenProcessEnds"],),
        name="worklist-supervisor",
        daemon=True,
    ).start()
orthanc.RegisterRestCallback("/dicom-web/workitems", _on_collection)
orthanc.RegisterRestCallback("/dicom-web/workitems/([^/]+)", _on_item)
orthanc.RegisterRestCallback("/dicom-web/workitems/([^/]+)/state", _on_state)
orthanc.RegisterRestCallback("/dicom-web/workitems/([^/]+)/cancelrequest", _on_cancel)
orthanc.RegisterRestCallback("/dicom-web/workitems/([^/]+)/secondread", _on_second_read)
orthanc.RegisterRestCallback("/dicom-web/workitems/([^/]+)/handback", _on_hand_back)
orthanc.RegisterOnChangeCallback(on_change)
