"""Archive passwords and tokens in the OS keyring (DESIGN.md: "credentials in the OS keyring").

The settings only mark an archive's credential as kept in the keyring (``password_keyring =
true``, ``workstation.core.settings``); this module reads, stores and removes it through the
``keyring`` library (Secret Service on Linux, Windows Credential Manager, macOS Keychain) and
fills it into an ``ArchiveConfig`` just before a client is built (:func:`resolve_credentials`).

One entry per archive and user: service ``"workstation"``, user ``"<archive name>:<user>"``
(``"<archive name>"`` for a token of an archive without a user). Secrets never appear in a
repr, a log line or an error message.

A keyring backend that the library only found by itself and does not recommend (priority below
1, e.g. ``keyrings.alt``'s plain-text file that a developer's environment may carry) is not
used: the machine then counts as having no keyring. One chosen on purpose, through the library's
own configuration (``PYTHON_KEYRING_BACKEND`` or its ``keyringrc.cfg``), is used as it is.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.errors import ConfigError

if TYPE_CHECKING:
    from workstation.core.settings import ArchiveConfig

log = logging.getLogger(__name__)

SERVICE = "workstation"
BACKEND_ENV = "PYTHON_KEYRING_BACKEND"  # the keyring library's own way to choose a backend
KINDS = ("password", "token")


class KeyringUnavailableError(ConfigError):
    """This machine has no usable keyring (no backend, or one that failed or is locked)."""


class MissingCredentialError(ConfigError):
    """The keyring works but holds no entry for an archive that takes its secret from it."""


@dataclass(frozen=True, slots=True)
class KeyringEntry:
    """Where one archive's password or token lives in the keyring (no secret in it)."""

    archive: str
    kind: str  # "password" | "token"
    service: str
    username: str

    def label(self) -> str:
        return f"service {self.service!r}, user {self.username!r}"


def entry_for(config: ArchiveConfig, kind: str) -> KeyringEntry:
    """The keyring entry of ``config``'s password or token: ``<archive>:<user>``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    username = f"{config.name}:{config.user}"
    if kind == "token" and not config.user:
        username = config.name
    return KeyringEntry(config.name, kind, SERVICE, username)


def keyring_entries(config: ArchiveConfig) -> tuple[KeyringEntry, ...]:
    """The entries an archive's settings say come from the keyring (password, token)."""
    out = []
    if config.password_keyring:
        out.append(entry_for(config, "password"))
    if config.token_keyring:
        out.append(entry_for(config, "token"))
    return tuple(out)


def needed_entry(config: ArchiveConfig) -> KeyringEntry | None:
    """The entry the archive's authentication uses now, or None when it needs no keyring.

    Only DICOMweb authenticates (``auth`` basic or bearer); DIMSE peers are known by AE title.
    """
    if config.auth == "basic" and config.password_keyring and not config.password:
        return entry_for(config, "password")
    if config.auth == "bearer" and config.token_keyring and not config.token:
        return entry_for(config, "token")
    return None


def _no_keyring(kind: str, why: str = "") -> KeyringUnavailableError:
    reason = f" ({why})" if why else ""
    return KeyringUnavailableError(
        f"no keyring available on this machine{reason}: use {kind}_env, or install and unlock "
        "a Secret Service such as gnome-keyring"
    )


def _explicitly_chosen() -> bool:
    """True when the keyring library was told which backend to use (env var or its config)."""
    if os.environ.get(BACKEND_ENV):
        return True
    from keyring.util import platform_

    return (Path(platform_.config_root()) / "keyringrc.cfg").is_file()


def backend(kind: str = "password") -> Any:
    """The keyring backend to use, or KeyringUnavailableError naming what to do instead."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        raise _no_keyring(kind, "the keyring package is not installed") from None
    try:
        kr = keyring.get_keyring()
    except Exception as exc:  # a misnamed backend in PYTHON_KEYRING_BACKEND or keyringrc.cfg
        why = f"the configured backend cannot be loaded: {type(exc).__name__}"
        raise _no_keyring(kind, why) from None
    if isinstance(kr, fail.Keyring):
        raise _no_keyring(kind)
    if not _explicitly_chosen():
        try:
            recommended = kr.priority >= 1
        except Exception:  # a backend that is not viable here says so by raising
            recommended = False
        if not recommended:
            raise _no_keyring(kind, f"only the non-recommended {backend_name(kr)} was found")
    return kr


def backend_name(kr: Any) -> str:
    """A backend's class as module.Class, for messages and ``credentials status``."""
    return f"{type(kr).__module__}.{type(kr).__qualname__}"


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _refused(entry: KeyringEntry, action: str, exc: Exception, secret: str | None = None) -> str:
    detail = _scrub(str(exc), secret).strip()
    detail = f": {detail}" if detail else ""
    return (
        f"the keyring refused to {action} the {entry.kind} of archive {entry.archive!r} "
        f"({type(exc).__name__}{detail}): unlock the keyring, or use {entry.kind}_env"
    )


def get_secret(entry: KeyringEntry) -> str | None:
    """The stored secret, or None when the keyring has no such entry."""
    kr = backend(entry.kind)
    from keyring.errors import NoKeyringError

    try:
        return kr.get_password(entry.service, entry.username)
    except NoKeyringError:
        raise _no_keyring(entry.kind) from None
    except Exception as exc:  # backends raise their own (D-Bus, locked collection, file)
        raise KeyringUnavailableError(_refused(entry, "read", exc)) from None


def set_secret(entry: KeyringEntry, secret: str) -> None:
    """Store ``secret`` as the entry, replacing an earlier one."""
    if not secret:
        raise ConfigError(f"an empty {entry.kind} was not stored for archive {entry.archive!r}")
    kr = backend(entry.kind)
    from keyring.errors import NoKeyringError

    try:
        kr.set_password(entry.service, entry.username, secret)
    except NoKeyringError:
        raise _no_keyring(entry.kind) from None
    except Exception as exc:
        raise KeyringUnavailableError(_refused(entry, "store", exc, secret)) from None
    log.info("stored the %s of archive %r in the keyring", entry.kind, entry.archive)


def delete_secret(entry: KeyringEntry) -> bool:
    """Remove the entry; False when there was none."""
    kr = backend(entry.kind)
    from keyring.errors import NoKeyringError, PasswordDeleteError

    try:
        if kr.get_password(entry.service, entry.username) is None:
            return False
        kr.delete_password(entry.service, entry.username)
    except PasswordDeleteError:
        return False
    except NoKeyringError:
        raise _no_keyring(entry.kind) from None
    except Exception as exc:
        raise KeyringUnavailableError(_refused(entry, "remove", exc)) from None
    log.info("removed the %s of archive %r from the keyring", entry.kind, entry.archive)
    return True


def missing_message(entry: KeyringEntry) -> str:
    return (
        f"no {entry.kind} for archive {entry.archive!r} in the keyring: run "
        f"`workstation credentials set --archive {entry.archive}`"
    )


def resolve_credentials(config: ArchiveConfig) -> ArchiveConfig:
    """``config`` with the keyring's password or token filled in, when its auth needs one.

    Call it just before a DICOMweb client is built (and only then, so a DIMSE-only use never
    touches the keyring). Raises MissingCredentialError or KeyringUnavailableError (both
    ConfigError) with what to do; an already resolved config is returned as it is.
    """
    entry = needed_entry(config)
    if entry is None:
        return config
    secret = get_secret(entry)
    if not secret:
        raise MissingCredentialError(missing_message(entry))
    log.debug("archive %r: %s from the keyring", config.name, entry.kind)
    if entry.kind == "token":
        return dataclasses.replace(config, token=secret)
    return dataclasses.replace(config, password=secret)
