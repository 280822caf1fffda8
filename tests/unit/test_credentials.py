"""Archive credentials in the OS keyring, through the real ``keyring`` library.

The backend is chosen the library's own way (``PYTHON_KEYRING_BACKEND``): keyrings.alt's plain
text file with its folder in tmp_path (``XDG_DATA_HOME``), or the library's "fail" backend that
a machine without any keyring gets.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest

from workstation.archive import credentials as cr
from workstation.core.errors import ConfigError
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.reporting.outbox import sender_for

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
FAIL = "keyring.backends.fail.Keyring"
SECRET = "Tr0ub4dor&3-not-in-any-log"

HUB = ArchiveConfig(
    name="hub",
    dicomweb_url="http://127.0.0.1:9/dicom-web",
    auth="basic",
    user="reader",
    password_keyring=True,
)


@pytest.fixture
def use_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``use_backend(NAME)`` selects a backend by PYTHON_KEYRING_BACKEND, data in tmp_path."""
    previous = keyring.get_keyring()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    def select(name: str | None) -> None:
        if name is None:
            monkeypatch.delenv(cr.BACKEND_ENV, raising=False)
        else:
            monkeypatch.setenv(cr.BACKEND_ENV, name)
        keyring.core.init_backend()

    yield select
    keyring.set_keyring(previous)


def test_entry_names():
    assert cr.entry_for(HUB, "password") == cr.KeyringEntry(
        "hub", "password", "workstation", "hub:reader"
    )
    bearer = ArchiveConfig(name="cloud", dicomweb_url="https://x", auth="bearer")
    assert cr.entry_for(bearer, "token").username == "cloud"
    assert cr.entry_for(dataclasses.replace(bearer, user="svc"), "token").username == "cloud:svc"
    with pytest.raises(ValueError, match="kind must be one of password, token"):
        cr.entry_for(HUB, "pin")


def test_set_get_delete_round_trip_in_the_isolated_file(use_backend, tmp_path):
    use_backend(PLAINTEXT)
    entry = cr.entry_for(HUB, "password")
    assert cr.get_secret(entry) is None
    cr.set_secret(entry, SECRET)
    assert cr.get_secret(entry) == SECRET
    stored = tmp_path / "data" / "python_keyring" / "keyring_pass.cfg"
    assert "[workstation]" in stored.read_text(encoding="utf-8")
    assert cr.delete_secret(entry) is True
    assert cr.get_secret(entry) is None
    assert cr.delete_secret(entry) is False


def test_resolve_fills_the_password_and_keeps_it_out_of_repr_and_logs(use_backend, caplog):
    use_backend(PLAINTEXT)
    caplog.set_level(logging.DEBUG)
    cr.set_secret(cr.entry_for(HUB, "password"), SECRET)
    resolved = cr.resolve_credentials(HUB)
    assert resolved == dataclasses.replace(HUB, password=SECRET)
    assert cr.resolve_credentials(resolved) is resolved  # already resolved: no second read
    assert SECRET not in repr(resolved)
    cr.delete_secret(cr.entry_for(HUB, "password"))
    assert [r.getMessage() for r in caplog.records if r.name == cr.log.name] == [
        "stored the password of archive 'hub' in the keyring",
        "archive 'hub': password from the keyring",
        "removed the password of archive 'hub' from the keyring",
    ]
    assert SECRET not in caplog.text


def test_bearer_token_is_resolved(use_backend):
    use_backend(PLAINTEXT)
    cloud = ArchiveConfig(name="cloud", dicomweb_url="https://x", auth="bearer", token_keyring=True)
    cr.set_secret(cr.entry_for(cloud, "token"), "tok-1")
    assert cr.resolve_credentials(cloud).token == "tok-1"


def test_missing_entry_says_what_to_run(use_backend):
    use_backend(PLAINTEXT)
    with pytest.raises(cr.MissingCredentialError) as err:
        cr.resolve_credentials(HUB)
    assert str(err.value) == (
        "no password for archive 'hub' in the keyring: run "
        "`workstation credentials set --archive hub`"
    )
    assert isinstance(err.value, ConfigError)


def test_no_keyring_says_what_to_use_instead(use_backend):
    use_backend(FAIL)
    message = (
        "no keyring available on this machine: use password_env, or install and unlock a "
        "Secret Service such as gnome-keyring"
    )
    with pytest.raises(cr.KeyringUnavailableError) as err:
        cr.resolve_credentials(HUB)
    assert str(err.value) == message
    with pytest.raises(cr.KeyringUnavailableError) as err:
        cr.set_secret(cr.entry_for(HUB, "password"), SECRET)
    assert str(err.value) == message
    assert SECRET not in str(err.value)


def test_archives_that_need_no_keyring_never_touch_it(use_backend):
    use_backend(FAIL)
    dimse_only = ArchiveConfig(name="pacs", dimse=DimseConfig("h", 104, "PACS"), auth="basic")
    assert cr.resolve_credentials(dimse_only) is dimse_only
    # the marker is set, but auth = "none" sends no password
    unused = dataclasses.replace(HUB, auth="none")
    assert cr.resolve_credentials(unused) is unused
    assert cr.needed_entry(unused) is None
    assert cr.keyring_entries(unused) == (cr.entry_for(HUB, "password"),)


def test_a_backend_found_by_itself_that_is_not_recommended_is_not_used(use_backend):
    use_backend(None)  # no PYTHON_KEYRING_BACKEND, no keyringrc.cfg: the library detects
    detected = keyring.get_keyring()
    if detected.priority >= 1:
        pytest.skip(f"this machine has a recommended keyring ({cr.backend_name(detected)})")
    with pytest.raises(cr.KeyringUnavailableError) as err:
        cr.backend()
    assert str(err.value).startswith("no keyring available on this machine")


def test_a_keyring_that_fails_to_write_gives_no_secret_away(use_backend, tmp_path, caplog):
    use_backend(PLAINTEXT)
    # the keyring file's place is taken by a folder: the backend's write fails
    (tmp_path / "data" / "python_keyring" / "keyring_pass.cfg").mkdir(parents=True)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(cr.KeyringUnavailableError) as err:
        cr.set_secret(cr.entry_for(HUB, "password"), SECRET)
    text = str(err.value)
    assert text.startswith(
        "the keyring refused to store the password of archive 'hub' (IsADirectoryError"
    )
    assert text.endswith("): unlock the keyring, or use password_env")
    assert SECRET not in text
    assert SECRET not in caplog.text


def test_empty_secret_is_refused(use_backend):
    use_backend(PLAINTEXT)
    with pytest.raises(ConfigError, match=r"^an empty password was not stored for archive 'hub'$"):
        cr.set_secret(cr.entry_for(HUB, "password"), "")


def test_the_outbox_sender_resolves_before_building_its_client(use_backend):
    use_backend(PLAINTEXT)
    with pytest.raises(cr.MissingCredentialError, match="no password for archive 'hub'"):
        sender_for(HUB)
    cr.set_secret(cr.entry_for(HUB, "password"), SECRET)
    sender = sender_for(HUB)
    assert sender.client.session.auth == ("reader", SECRET)
    sender.client.close()
