"""Typed, validated, layered settings: defaults < site file < user file < command line.

Files are TOML. The site file (``/etc/workstation/site.toml``, or ``$WORKSTATION_SITE_CONFIG``)
is what hospital IT ships; the user file (``settings.toml`` in the user config folder) adds or
refines archives (matched by ``name``, e.g. a user's own credentials for the site's archive).
Every value is checked at load; a ``ConfigError`` names the file and the key. Credentials can
come from the environment (``password_env = "VAR"``) or from the OS keyring
(``password_keyring = true``: only the marker is recorded here, ``core`` stays free of I/O; the
secret is read by ``workstation.archive.credentials`` when a client is built). Credentials are
never part of a repr or a log.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import ConfigError
from workstation.core.paths import user_config_dir
from workstation.core.sizes import parse_size

SCHEMA_VERSION = 1
SITE_CONFIG_PATH = Path("/etc/workstation/site.toml")
SITE_CONFIG_ENV = "WORKSTATION_SITE_CONFIG"
USER_CONFIG_NAME = "settings.toml"

AUTH_KINDS = ("none", "basic", "bearer")
TRANSFER_SYNTAX_POLICIES = ("lossless", "lossy-allowed", "uncompressed")
HTTP_COMPRESSION_MODES = ("auto", "on", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_OUR_AE_TITLE = "WORKSTATION"
DICTATION_ENGINES = ("auto", "whisper", "pocketsphinx", "none")
WORKLIST_SOURCES = ("embedded", "archive")
UI_LANGUAGES = ("system", "en", "ar")
UI_SOFTWARE_3D = ("reduced", "full")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class DimseConfig:
    """A DIMSE peer (PS3.8): its host, port and AE title, and the AE title we call with."""

    host: str
    port: int
    ae_title: str
    our_ae_title: str = DEFAULT_OUR_AE_TITLE
    our_port: int | None = None  # where our storage SCP listens for C-MOVE (fixed: the
    # archive knows it as a destination)


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    """One remote archive reached by DICOMweb (PS3.18), DIMSE (PS3.7), or both."""

    name: str
    dicomweb_url: str = ""  # the DICOMweb root, e.g. https://pacs.example/dicom-web
    auth: str = "none"  # none | basic | bearer
    user: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    ca_bundle: str = ""  # PEM file of CAs to trust; "" uses the system's
    client_cert: str = ""  # PEM certificate (and key, unless client_key) for mutual TLS
    client_key: str = ""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    transfer_syntax: str = "lossless"  # lossless | lossy-allowed | uncompressed
    # gzip of DICOMweb answers (Accept-Encoding, RFC 9110 12.5.3): on | off | auto = off for a
    # loopback host (compressing costs more than it saves there), on for any other host
    http_compression: str = "auto"
    dimse: DimseConfig | None = None
    # The password / token is kept in the OS keyring (service "workstation", user
    # "<archive name>:<user>"), read by workstation.archive.credentials.resolve_credentials.
    password_keyring: bool = False
    token_keyring: bool = False


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """Who reads and signs at this workstation (the SR's author and verifying observer).

    ``name`` is a DICOM person name (PS3.5 6.2 PN, ``Family^Given``); a final report needs it
    and ``organisation`` (PS3.3 C.17.2.1 Verifying Observer Sequence). Empty means "ask when
    signing".
    """

    name: str = ""
    organisation: str = ""


@dataclass(frozen=True, slots=True)
class DictationConfig:
    """Which offline speech engine the report editor uses, and a site's own model."""

    engine: str = "auto"  # auto | whisper | pocketsphinx | none
    model_path: str = ""  # a site's own faster-whisper (CTranslate2) model folder


@dataclass(frozen=True, slots=True)
class WorklistConfig:
    """Where the reading worklist comes from: the embedded one, or an archive's UPS-RS."""

    source: str = "embedded"  # embedded | archive (UPS-RS, PS3.18 11)
    archive: str = ""  # the archive serving UPS-RS; "" = the default archive
    site_file: str = ""  # the network's worklist.json: users' roles, pools, readers
    poll_s: float = 15.0  # seconds between refreshes of the panel


@dataclass(frozen=True, slots=True)
class PrefetchConfig:
    """Background retrieval of the reader's next worklist studies and their priors."""

    studies: int = 3  # the next studies of "my work" kept ready in the local store
    priors: int = 2  # relevant priors of each (same patient, modality or body part, latest)
    share: float = 0.25  # at most this share of the link while a study is being read
    bandwidth_mbit_s: float = 0.0  # a cap on all retrieval; 0 = none (measured instead)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The local store as a cache: its size limit, kept by the running window."""

    limit_bytes: int = 0  # 0 = no limit; from "200G" (powers of 1000) or "200GiB"


@dataclass(frozen=True, slots=True)
class UiConfig:
    """How the application looks to its user."""

    language: str = "system"  # system | en | ar
    # 3D where OpenGL is software (no GPU): "reduced" ray casts a half-resolution copy when the
    # volume is large (the texture is a second copy in system memory), "full" the volume itself.
    software_3d: str = "reduced"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the workstation reads from its settings files, validated."""

    schema_version: int = SCHEMA_VERSION
    data_dir: str = ""  # "" = the default local store folder
    log_level: str = "INFO"
    archives: tuple[ArchiveConfig, ...] = ()
    default_archive: str = ""
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    dictation: DictationConfig = field(default_factory=DictationConfig)
    worklist: WorklistConfig = field(default_factory=WorklistConfig)
    prefetch: PrefetchConfig = field(default_factory=PrefetchConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    sources: tuple[str, ...] = ()  # the files that were read, in order

    def has_archive(self) -> bool:
        """True when an archive is configured and one is chosen without asking."""
        return bool(self.archives) and (bool(self.default_archive) or len(self.archives) == 1)

    def worklist_archive(self) -> ArchiveConfig | None:
        """The archive whose UPS-RS worklist is read, or None for the embedded worklist."""
        if self.worklist.source != "archive":
            return None
        return self.archive(self.worklist.archive or None)

    def archive(self, name: str | None = None) -> ArchiveConfig:
        """The archive called ``name``, else the default one, else the only one."""
        if not self.archives:
            raise ConfigError(
                "no archive is configured: add an [[archives]] entry to "
                f"{user_config_dir() / USER_CONFIG_NAME} (see packaging/site-config.example.toml)"
                " or give --dicomweb-url / --dimse"
            )
        wanted = name or self.default_archive
        if not wanted:
            if len(self.archives) == 1:
                return self.archives[0]
            names = ", ".join(a.name for a in self.archives)
            raise ConfigError(f"several archives are configured ({names}): choose one")
        for a in self.archives:
            if a.name == wanted:
                return a
        names = ", ".join(a.name for a in self.archives)
        raise ConfigError(f"no archive named {wanted!r} is configured (known: {names})")


# -- schema ------------------------------------------------------------------------------------

_TOP_KEYS = (
    "schema_version",
    "data_dir",
    "log_level",
    "archives",
    "default_archive",
    "reader",
    "dictation",
    "worklist",
    "prefetch",
    "cache",
    "ui",
)
_READER_KEYS = ("name", "organisation")
_DICTATION_KEYS = ("engine", "model_path")
_WORKLIST_KEYS = ("source", "archive", "site_file", "poll_s")
_PREFETCH_KEYS = ("studies", "priors", "share", "bandwidth_mbit_s")
_CACHE_KEYS = ("limit",)
_UI_KEYS = ("language", "software_3d")
_ARCHIVE_KEYS = (
    "name",
    "dicomweb_url",
    "auth",
    "user",
    "password",
    "password_env",
    "password_keyring",
    "token",
    "token_env",
    "token_keyring",
    "ca_bundle",
    "client_cert",
    "client_key",
    "connect_timeout_s",
    "read_timeout_s",
    "transfer_syntax",
    "http_compression",
    "dimse",
)
_DIMSE_KEYS = ("host", "port", "ae_title", "our_ae_title", "our_port")


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Layer:
    """One source of raw values (a file or the command line) and how to name it in errors."""

    def __init__(self, label: str, data: Mapping[str, Any]) -> None:
        self.label = label
        self.data = data

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: {key}: {message}")

    def check_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                prefix = f"{where}." if where else ""
                raise self.error(f"{prefix}{key}", f"unknown key{hint}")

    def string(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        if key not in table:
            return None
        v = table[key]
        if not isinstance(v, str):
            raise self.error(f"{where}{key}", f"must be a string, not {_type_name(v)}")
        return v

    def number(
        self, table: Mapping[str, Any], key: str, where: str, lo: float, hi: float
    ) -> float | None:
        if key not in table:
            return None
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error(f"{where}{key}", f"must be a number, not {_type_name(v)}")
        if not lo < v <= hi:
            raise self.error(f"{where}{key}", f"must be more than {lo:g} and at most {hi:g}")
        return float(v)

    def integer(
        self, table: Mapping[str, Any], key: str, where: str, lo: int, hi: int
    ) -> int | None:
        if key not in table:
            return None
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(f"{where}{key}", f"must be an integer, not {_type_name(v)}")
        if not lo <= v <= hi:
            raise self.error(f"{where}{key}", f"must be between {lo} and {hi}")
        return v

    def choice(
        self, table: Mapping[str, Any], key: str, where: str, options: tuple[str, ...]
    ) -> str | None:
        v = self.string(table, key, where)
        if v is None:
            return None
        if v not in options:
            close = difflib.get_close_matches(v, options, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(
                f"{where}{key}", f"must be one of {', '.join(options)} (got {v!r}){hint}"
            )
        return v

    def file(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        v = self.string(table, key, where)
        if not v:
            return v
        p = Path(v).expanduser()
        if not p.is_file():
            raise self.error(f"{where}{key}", f"no such file: {v}")
        return str(p)


def _ae_title(layer: _Layer, table: Mapping[str, Any], key: str, where: str) -> str | None:
    """An AE title: 1 to 16 characters of the default repertoire, no backslash (PS3.5 6.2 AE)."""
    v = layer.string(table, key, where)
    if v is None:
        return None
    s = v.strip()
    if not s or len(s) > 16 or "\\" in s or any(ord(c) < 32 or ord(c) > 126 for c in s):
        raise layer.error(
            f"{where}{key}", f"must be 1 to 16 printable ASCII characters without '\\' (got {v!r})"
        )
    return s


def _secret(
    layer: _Layer,
    table: Mapping[str, Any],
    key: str,
    where: str,
    environ: Mapping[str, str],
) -> str | None:
    """A credential given literally (``key``) or by environment variable name (``key_env``)."""
    literal = layer.string(table, key, where)
    env_name = layer.string(table, f"{key}_env", where)
    if literal is not None and env_name is not None:
        raise layer.error(f"{where}{key}_env", f"give either {key} or {key}_env, not both")
    if env_name is None:
        return literal
    if not _ENV_RE.match(env_name):
        raise layer.error(f"{where}{key}_env", f"{env_name!r} is not an environment variable name")
    value = environ.get(env_name)
    if value is None:
        raise layer.error(f"{where}{key}_env", f"the environment variable {env_name} is not set")
    return value


def _credential(
    layer: _Layer,
    table: Mapping[str, Any],
    key: str,
    where: str,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """A credential's keys of one layer: literal, ``key_env``, or ``key_keyring = true``.

    The keyring only gets a marker here (the secret is read in ``archive/``); a layer that names
    one source clears the others of earlier layers, so a user's file can move a site's
    ``password_env`` into the keyring or back.
    """
    flag_key = f"{key}_keyring"
    from_keyring = None
    if flag_key in table:
        from_keyring = table[flag_key]
        if not isinstance(from_keyring, bool):
            raise layer.error(
                f"{where}{flag_key}", f"must be true or false, not {_type_name(from_keyring)}"
            )
        if from_keyring and (key in table or f"{key}_env" in table):
            raise layer.error(
                f"{where}{flag_key}",
                f"give only one of {key}, {key}_env or {flag_key} = true",
            )
    if from_keyring:
        return {key: "", flag_key: True}
    value = _secret(layer, table, key, where, environ)
    out: dict[str, Any] = {}
    if value is not None:
        out.update({key: value, flag_key: False})
    elif from_keyring is False:
        out[flag_key] = False
    return out


def _parse_dimse(layer: _Layer, raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise layer.error(where.rstrip("."), f"must be a table, not {_type_name(raw)}")
    layer.check_keys(raw, _DIMSE_KEYS, where.rstrip("."))
    out: dict[str, Any] = {}
    host = layer.string(raw, "host", where)
    if host is not None:
        if not host.strip() or any(c.isspace() for c in host):
            raise layer.error(f"{where}host", f"must be a host name or address (got {host!r})")
        out["host"] = host.strip()
    for key in ("port", "our_port"):
        value = layer.integer(raw, key, where, 1, 65535)
        if value is not None:
            out[key] = value
    for key in ("ae_title", "our_ae_title"):
        v = _ae_title(layer, raw, key, where)
        if v is not None:
            out[key] = v
    return out


def _parse_archive(
    layer: _Layer, raw: object, where: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Check one archive table of one layer; returns the keys it sets (credentials resolved)."""
    if not isinstance(raw, Mapping):
        raise layer.error(where.rstrip("."), f"must be a table, not {_type_name(raw)}")
    layer.check_keys(raw, _ARCHIVE_KEYS, where.rstrip("."))
    out: dict[str, Any] = {}
    name = layer.string(raw, "name", where)
    if name is None:
        raise layer.error(f"{where}name", "missing: every archive needs a name")
    if not _NAME_RE.match(name):
        raise layer.error(
            f"{where}name", f"must be letters, digits, '.', '_' or '-' (got {name!r})"
        )
    out["name"] = name
    url = layer.string(raw, "dicomweb_url", where)
    if url is not None:
        url = url.strip()
        if url and not (url.startswith("http://") or url.startswith("https://")):
            raise layer.error(f"{where}dicomweb_url", "must start with http:// or https://")
        authority = url.split("://", 1)[1].split("/", 1)[0] if url else ""
        if url and not authority:
            raise layer.error(f"{where}dicomweb_url", "has no host")
        if "@" in authority:
            # The client sends the configured credentials only, and a URL is shown and logged.
            raise layer.error(
                f"{where}dicomweb_url",
                'must not hold a user or password: use auth = "basic" with user and '
                "password_env or password_keyring",
            )
        out["dicomweb_url"] = url.rstrip("/")
    for key, value in (
        ("auth", layer.choice(raw, "auth", where, AUTH_KINDS)),
        ("transfer_syntax", layer.choice(raw, "transfer_syntax", where, TRANSFER_SYNTAX_POLICIES)),
        ("http_compression", layer.choice(raw, "http_compression", where, HTTP_COMPRESSION_MODES)),
        ("user", layer.string(raw, "user", where)),
        ("ca_bundle", layer.file(raw, "ca_bundle", where)),
        ("client_cert", layer.file(raw, "client_cert", where)),
        ("client_key", layer.file(raw, "client_key", where)),
        ("connect_timeout_s", layer.number(raw, "connect_timeout_s", where, 0, 600)),
        ("read_timeout_s", layer.number(raw, "read_timeout_s", where, 0, 3600)),
    ):
        if value is not None:
            out[key] = value
    out.update(_credential(layer, raw, "password", where, environ))
    out.update(_credential(layer, raw, "token", where, environ))
    if "dimse" in raw:
        out["dimse"] = _parse_dimse(layer, raw["dimse"], f"{where}dimse.")
    return out


def _table(layer: _Layer, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> Any:
    """A sub-table such as [reader], its keys checked; None when the layer has none."""
    if key not in data:
        return None
    raw = data[key]
    if not isinstance(raw, Mapping):
        raise layer.error(key, f"must be a table ([{key}]), not {_type_name(raw)}")
    layer.check_keys(raw, allowed, key)
    return raw


def _person_name(layer: _Layer, table: Mapping[str, Any], key: str, where: str) -> str | None:
    """A DICOM person name (PS3.5 6.2 PN): at most five ^-separated components, 64 characters."""
    v = layer.string(table, key, where)
    if v is None:
        return None
    s = v.strip()
    if "\\" in s or "=" in s or s.count("^") > 4 or len(s) > 64:
        raise layer.error(
            f"{where}{key}",
            "must be a person name such as 'Family^Given' (at most 64 characters, no '\\' or '=')",
        )
    if any(ord(c) < 32 for c in s):
        raise layer.error(f"{where}{key}", "must not contain control characters")
    return s


def _long_string(layer: _Layer, table: Mapping[str, Any], key: str, where: str) -> str | None:
    """A DICOM LO value (PS3.5 6.2): at most 64 characters, no backslash or control codes."""
    v = layer.string(table, key, where)
    if v is None:
        return None
    s = v.strip()
    if len(s) > 64 or "\\" in s or any(ord(c) < 32 for c in s):
        raise layer.error(
            f"{where}{key}", "must be at most 64 characters without '\\' or control characters"
        )
    return s


def _parse_sections(layer: _Layer, data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The [reader], [dictation], [worklist], [prefetch] and [ui] tables of one layer."""
    out: dict[str, dict[str, Any]] = {}
    raw = _table(layer, data, "reader", _READER_KEYS)
    if raw is not None:
        values = {
            "name": _person_name(layer, raw, "name", "reader."),
            "organisation": _long_string(layer, raw, "organisation", "reader."),
        }
        out["reader"] = {k: v for k, v in values.items() if v is not None}
    raw = _table(layer, data, "dictation", _DICTATION_KEYS)
    if raw is not None:
        values = {"engine": layer.choice(raw, "engine", "dictation.", DICTATION_ENGINES)}
        model = layer.string(raw, "model_path", "dictation.")
        if model:
            path = Path(model).expanduser()
            if not path.is_dir():
                raise layer.error(
                    "dictation.model_path",
                    f"no such folder: {model} (a faster-whisper model folder with model.bin)",
                )
            values["model_path"] = str(path)
        elif model is not None:
            values["model_path"] = ""
        out["dictation"] = {k: v for k, v in values.items() if v is not None}
    raw = _table(layer, data, "worklist", _WORKLIST_KEYS)
    if raw is not None:
        worklist: dict[str, str | float | None] = {
            "source": layer.choice(raw, "source", "worklist.", WORKLIST_SOURCES),
            "archive": layer.string(raw, "archive", "worklist."),
            "site_file": layer.file(raw, "site_file", "worklist."),
            "poll_s": layer.number(raw, "poll_s", "worklist.", 0.5, 3600),
        }
        out["worklist"] = {k: v for k, v in worklist.items() if v is not None}
    raw = _table(layer, data, "prefetch", _PREFETCH_KEYS)
    if raw is not None:
        prefetch: dict[str, int | float | None] = {
            "studies": layer.integer(raw, "studies", "prefetch.", 0, 50),
            "priors": layer.integer(raw, "priors", "prefetch.", 0, 10),
            "share": layer.number(raw, "share", "prefetch.", 0.0, 1.0),
        }
        cap = layer.number(raw, "bandwidth_mbit_s", "prefetch.", -1e9, 100_000.0)
        if cap is not None and cap < 0:
            raise layer.error("prefetch.bandwidth_mbit_s", "must not be negative (0 = no cap)")
        prefetch["bandwidth_mbit_s"] = cap
        out["prefetch"] = {k: v for k, v in prefetch.items() if v is not None}
    raw = _table(layer, data, "cache", _CACHE_KEYS)
    if raw is not None and "limit" in raw:
        limit = raw["limit"]
        if isinstance(limit, bool) or not isinstance(limit, str | int):
            raise layer.error(
                "cache.limit", f'must be a size such as "200G", not {_type_name(limit)}'
            )
        try:
            size = parse_size(limit) if limit != "" else 0
        except ConfigError as exc:
            raise layer.error("cache.limit", str(exc)) from None
        out["cache"] = {"limit_bytes": size}
    raw = _table(layer, data, "ui", _UI_KEYS)
    if raw is not None:
        values = {
            "language": layer.choice(raw, "language", "ui.", UI_LANGUAGES),
            "software_3d": layer.choice(raw, "software_3d", "ui.", UI_SOFTWARE_3D),
        }
        out["ui"] = {k: v for k, v in values.items() if v is not None}
    return out


def _parse_layer(layer: _Layer, environ: Mapping[str, str]) -> dict[str, Any]:
    """Check one layer's keys and values; returns the values it sets."""
    data = layer.data
    layer.check_keys(data, _TOP_KEYS, "")
    out: dict[str, Any] = {}
    version = layer.integer(data, "schema_version", "", 1, 1_000_000)
    if version is not None and version > SCHEMA_VERSION:
        raise layer.error(
            "schema_version",
            f"{version} is newer than this workstation understands ({SCHEMA_VERSION}): "
            "update the workstation or use a settings file for this version",
        )
    data_dir = layer.string(data, "data_dir", "")
    if data_dir is not None:
        out["data_dir"] = str(Path(data_dir).expanduser()) if data_dir else ""
    level = layer.string(data, "log_level", "")
    if level is not None:
        if level.upper() not in LOG_LEVELS:
            raise layer.error("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
        out["log_level"] = level.upper()
    default = layer.string(data, "default_archive", "")
    if default is not None:
        out["default_archive"] = default
    if "archives" in data:
        raw = data["archives"]
        if not isinstance(raw, list):
            raise layer.error(
                "archives", f"must be a list of tables ([[archives]]), not {_type_name(raw)}"
            )
        archives = []
        seen: set[str] = set()
        for n, entry in enumerate(raw):
            parsed = _parse_archive(layer, entry, f"archives[{n}].", environ)
            if parsed["name"] in seen:
                raise layer.error(f"archives[{n}].name", f"{parsed['name']!r} is given twice")
            seen.add(parsed["name"])
            parsed["_where"] = (layer.label, f"archives[{n}]")
            archives.append(parsed)
        out["archives"] = archives
    out.update(_parse_sections(layer, data))
    return out


def _merge_archive(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in update.items() if k != "dimse"}}
    if "dimse" in update:
        merged["dimse"] = {**base.get("dimse", {}), **update["dimse"]}
    return merged


def _build_archive(values: dict[str, Any]) -> ArchiveConfig:
    label, where = values["_where"]

    def err(key: str, message: str) -> ConfigError:
        return ConfigError(f"{label}: {where}.{key}: {message}")

    dimse_raw = values.get("dimse")
    dimse = None
    if dimse_raw is not None:
        for key in ("host", "port", "ae_title"):
            if key not in dimse_raw:
                raise err(f"dimse.{key}", "missing: a DIMSE peer needs host, port and ae_title")
        dimse = DimseConfig(
            host=dimse_raw["host"],
            port=dimse_raw["port"],
            ae_title=dimse_raw["ae_title"],
            our_ae_title=dimse_raw.get("our_ae_title", DEFAULT_OUR_AE_TITLE),
            our_port=dimse_raw.get("our_port"),
        )
    if not values.get("dicomweb_url") and dimse is None:
        raise err(
            "dicomweb_url", "missing: an archive needs dicomweb_url, a [dimse] table, or both"
        )
    auth = values.get("auth", "none")
    if auth == "basic" and not values.get("user"):
        raise err("user", 'missing: auth = "basic" needs user and password (or password_env)')
    if auth == "basic" and not values.get("password") and not values.get("password_keyring"):
        raise err("password", 'missing: auth = "basic" needs password or password_env')
    if auth == "bearer" and not values.get("token") and not values.get("token_keyring"):
        raise err("token", 'missing: auth = "bearer" needs token or token_env')
    if values.get("client_key") and not values.get("client_cert"):
        raise err("client_key", "given without client_cert")
    kwargs = {k: v for k, v in values.items() if not k.startswith("_") and k != "dimse"}
    return ArchiveConfig(**kwargs, dimse=dimse)


def site_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = env.get(SITE_CONFIG_ENV, "")
    return Path(value).expanduser() if value else SITE_CONFIG_PATH


def user_config_path() -> Path:
    return user_config_dir() / USER_CONFIG_NAME


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table, or ConfigError naming the file and the line of a syntax error."""
    try:
        with open(path, "rb") as fp:
            return tomllib.load(fp)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_settings(
    *,
    site_path: str | os.PathLike[str] | None = None,
    user_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read defaults < site file < user file < ``overrides`` (the command line) into Settings.

    A missing file at a default place is skipped; a file given explicitly (argument or
    ``$WORKSTATION_SITE_CONFIG``) must exist. Archives of a later layer with the name of an
    earlier one refine it key by key.
    """
    env = os.environ if environ is None else environ
    layers: list[_Layer] = []
    sources: list[str] = []
    site_env = env.get(SITE_CONFIG_ENV, "")
    for given, default in (
        (site_path if site_path is not None else (site_env or None), SITE_CONFIG_PATH),
        (user_path, user_config_path()),
    ):
        path = Path(given).expanduser() if given is not None else default
        if given is None and not path.is_file():
            continue  # the default places are optional; a file named explicitly is not
        layers.append(_Layer(str(path), read_toml(path)))
        sources.append(str(path))
    if overrides:
        layers.append(_Layer("command line", overrides))
    merged: dict[str, Any] = {}
    archives: dict[str, dict[str, Any]] = {}
    sections: dict[str, dict[str, Any]] = {k: {} for k in _SECTIONS}
    for layer in layers:
        values = _parse_layer(layer, env)
        for entry in values.pop("archives", []):
            name = entry["name"]
            archives[name] = _merge_archive(archives[name], entry) if name in archives else entry
        for key in _SECTIONS:
            sections[key].update(values.pop(key, {}))  # a later layer refines key by key
        merged.update(values)
    built = tuple(_build_archive(a) for a in archives.values())
    default = merged.get("default_archive", "")
    if default and default not in {a.name for a in built}:
        names = ", ".join(a.name for a in built) or "none"
        label = next(
            (ly.label for ly in reversed(layers) if "default_archive" in ly.data), "settings"
        )
        raise ConfigError(
            f"{label}: default_archive: no archive is named {default!r} (configured: {names})"
        )
    return Settings(
        schema_version=SCHEMA_VERSION,
        data_dir=merged.get("data_dir", ""),
        log_level=merged.get("log_level", "INFO"),
        archives=built,
        default_archive=default,
        reader=ReaderConfig(**sections["reader"]),
        dictation=DictationConfig(**sections["dictation"]),
        worklist=_check_worklist(WorklistConfig(**sections["worklist"]), built, default, layers),
        prefetch=PrefetchConfig(**sections["prefetch"]),
        cache=CacheConfig(**sections["cache"]),
        ui=UiConfig(**sections["ui"]),
        sources=tuple(sources),
    )


_SECTIONS = ("reader", "dictation", "worklist", "prefetch", "cache", "ui")


def _check_worklist(
    worklist: WorklistConfig,
    archives: tuple[ArchiveConfig, ...],
    default: str,
    layers: list[_Layer],
) -> WorklistConfig:
    """worklist.source = "archive" needs an archive with a DICOMweb root (UPS-RS, PS3.18 11)."""
    if worklist.source != "archive":
        return worklist
    label = next((ly.label for ly in reversed(layers) if "worklist" in ly.data), "settings")
    wanted = worklist.archive or default
    if not wanted and len(archives) == 1:
        wanted = archives[0].name
    chosen = next((a for a in archives if a.name == wanted), None)
    if chosen is None:
        names = ", ".join(a.name for a in archives) or "none"
        what = f"no archive is named {wanted!r}" if wanted else "no archive is chosen"
        raise ConfigError(
            f"{label}: worklist.archive: {what} for the UPS-RS worklist (configured: {names})"
        )
    if not worklist.site_file:
        raise ConfigError(
            f"{label}: worklist.site_file: missing: the UPS-RS worklist needs the network's "
            "worklist.json (the users' roles and pools; server/orthanc/worklist.json)"
        )
    if not chosen.dicomweb_url:
        raise ConfigError(
            f"{label}: worklist.archive: {chosen.name!r} has no dicomweb_url: the UPS-RS "
            "worklist is served under the DICOMweb root"
        )
    return worklist
