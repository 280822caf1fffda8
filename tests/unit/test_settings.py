"""Typed, layered settings: defaults < site < user < command line, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.core.errors import ConfigError
from workstation.core.settings import (
    SITE_CONFIG_ENV,
    ArchiveConfig,
    DictationConfig,
    DimseConfig,
    PrefetchConfig,
    ReaderConfig,
    Settings,
    UiConfig,
    WorklistConfig,
    load_settings,
    user_config_path,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "packaging" / "site-config.example.toml"

SITE = """
schema_version = 1
data_dir = "/srv/cache"
log_level = "warning"
default_archive = "hub"

[[archives]]
name = "hub"
dicomweb_url = "https://pacs.example.org/dicom-web/"
transfer_syntax = "lossy-allowed"
read_timeout_s = 120

[archives.dimse]
host = "pacs.example.org"
port = 4242
ae_title = "HUB"

[[archives]]
name = "backup"
dimse = { host = "10.0.0.9", port = 104, ae_title = "BACKUP", our_ae_title = "READER1" }
"""

USER = """
log_level = "DEBUG"

[[archives]]
name = "hub"
auth = "basic"
user = "dr.house"
password_env = "HUB_PW"

[archives.dimse]
our_ae_title = "HOUSE"
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, site: str | None = None, user: str | None = None, **kw) -> Settings:
    sp = _write(tmp_path / "site.toml", site) if site is not None else tmp_path / "none-site"
    up = _write(tmp_path / "settings.toml", user) if user is not None else None
    if up is None:
        up = _write(tmp_path / "empty-user.toml", "")
    return load_settings(site_path=sp if site is not None else None, user_path=up, **kw)


def _error(tmp_path: Path, site: str, **kw) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, site, **kw)
    return str(err.value)


def test_defaults_without_files(isolated_home):
    s = load_settings(environ={})
    assert s == Settings()
    assert (s.schema_version, s.data_dir, s.log_level, s.archives, s.sources) == (
        1,
        "",
        "INFO",
        (),
        (),
    )
    with pytest.raises(ConfigError, match=r"^no archive is configured: add an \[\[archives\]\]"):
        s.archive()


def test_layers_merge_site_user_and_command_line(tmp_path, isolated_home):
    site = _write(tmp_path / "etc" / "site.toml", SITE)
    _write(user_config_path(), USER)
    s = load_settings(
        overrides={"data_dir": str(tmp_path / "cli-store")},
        environ={SITE_CONFIG_ENV: str(site), "HUB_PW": "s3cret"},
    )
    assert s.sources == (str(site), str(user_config_path()))
    assert s.data_dir == str(tmp_path / "cli-store")
    assert s.log_level == "DEBUG"
    assert s.default_archive == "hub"
    hub = s.archive()
    assert hub == ArchiveConfig(
        name="hub",
        dicomweb_url="https://pacs.example.org/dicom-web",
        auth="basic",
        user="dr.house",
        password="s3cret",
        transfer_syntax="lossy-allowed",
        read_timeout_s=120.0,
        dimse=DimseConfig(host="pacs.example.org", port=4242, ae_title="HUB", our_ae_title="HOUSE"),
    )
    assert s.archive("backup") == ArchiveConfig(
        name="backup",
        dimse=DimseConfig(host="10.0.0.9", port=104, ae_title="BACKUP", our_ae_title="READER1"),
    )
    assert [a.name for a in s.archives] == ["hub", "backup"]


def test_credentials_never_in_repr(tmp_path):
    s = _load(tmp_path, SITE, USER, environ={"HUB_PW": "s3cret-value"})
    assert "s3cret-value" not in repr(s)
    assert "s3cret-value" not in repr(s.archive("hub"))
    assert s.archive("hub").password == "s3cret-value"


def test_command_line_archive_is_checked_too(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(
            user_path=_write(tmp_path / "u.toml", ""),
            overrides={"archives": [{"name": "command-line", "dicomweb_url": "ftp://x"}]},
            environ={},
        )
    assert str(err.value) == (
        "command line: archives[0].dicomweb_url: must start with http:// or https://"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "pacs:8042/dicom-web"\n',
            "archives[0].dicomweb_url: must start with http:// or https://",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "https://reader:pw@pacs/dicom-web"\n',
            'archives[0].dicomweb_url: must not hold a user or password: use auth = "basic" '
            "with user and password_env or password_keyring",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_ulr = "http://x"\n',
            "archives[0].dicomweb_ulr: unknown key; did you mean 'dicomweb_url'?",
        ),
        ("archive = []\n", "archive: unknown key; did you mean 'archives'?"),
        ("colour = 1\n", "colour: unknown key"),
        (
            "schema_version = 2\n",
            "schema_version: 2 is newer than this workstation understands (1): update the "
            "workstation or use a settings file for this version",
        ),
        ('schema_version = "1"\n', "schema_version: must be an integer, not a string"),
        ('log_level = "loud"\n', "log_level: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        (
            'archives = { name = "a" }\n',
            "archives: must be a list of tables ([[archives]]), not a table",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nauth = "basik"\n',
            "archives[0].auth: must be one of none, basic, bearer (got 'basik'); "
            "did you mean 'basic'?",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\ntransfer_syntax = "raw"\n',
            "archives[0].transfer_syntax: must be one of lossless, lossy-allowed, uncompressed "
            "(got 'raw')",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nconnect_timeout_s = "5"\n',
            "archives[0].connect_timeout_s: must be a number, not a string",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nread_timeout_s = 0\n',
            "archives[0].read_timeout_s: must be more than 0 and at most 3600",
        ),
        ('[[archives]]\ndicomweb_url = "http://x"\n', "archives[0].name: missing"),
        ('[[archives]]\nname = "a b"\n', "archives[0].name: must be letters, digits"),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\n'
            '[[archives]]\nname = "a"\ndicomweb_url = "http://y"\n',
            "archives[1].name: 'a' is given twice",
        ),
        (
            '[[archives]]\nname = "a"\n',
            "archives[0].dicomweb_url: missing: an archive needs dicomweb_url, a [dimse] table, "
            "or both",
        ),
        (
            '[[archives]]\nname = "a"\ndimse = { host = "h", port = 70000, ae_title = "X" }\n',
            "archives[0].dimse.port: must be between 1 and 65535",
        ),
        (
            '[[archives]]\nname = "a"\ndimse = { host = "h", port = true, ae_title = "X" }\n',
            "archives[0].dimse.port: must be an integer, not a boolean",
        ),
        (
            '[[archives]]\nname = "a"\ndimse = { host = "h", port = 104, ae_title = "'
            + "A" * 17
            + '" }\n',
            "archives[0].dimse.ae_title: must be 1 to 16 printable ASCII characters",
        ),
        (
            '[[archives]]\nname = "a"\ndimse = { host = "h", port = 104 }\n',
            "archives[0].dimse.ae_title: missing: a DIMSE peer needs host, port and ae_title",
        ),
        (
            '[[archives]]\nname = "a"\ndimse = { host = "h", port = 104, aetitle = "X" }\n',
            "archives[0].dimse.aetitle: unknown key; did you mean 'ae_title'?",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nauth = "basic"\n',
            'archives[0].user: missing: auth = "basic" needs user and password',
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nauth = "bearer"\n',
            'archives[0].token: missing: auth = "bearer" needs token or token_env',
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\npassword = "p"\n'
            'password_env = "P"\n',
            "archives[0].password_env: give either password or password_env, not both",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\ntoken_env = "NOT_SET_HERE"\n',
            "archives[0].token_env: the environment variable NOT_SET_HERE is not set",
        ),
        (
            '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nca_bundle = "/no/such/ca.pem"\n',
            "archives[0].ca_bundle: no such file: /no/such/ca.pem",
        ),
        (
            'default_archive = "nope"\n[[archives]]\nname = "a"\ndicomweb_url = "http://x"\n',
            "default_archive: no archive is named 'nope' (configured: a)",
        ),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, message):
    got = _error(tmp_path, text, environ={})
    assert got.startswith(f"{tmp_path / 'site.toml'}: {message}"), got


def test_toml_syntax_error_names_the_file(tmp_path):
    got = _error(tmp_path, "data_dir = \n", environ={})
    assert got.startswith(f"{tmp_path / 'site.toml'}: not valid TOML: ")
    assert "line 1" in got


def test_site_file_named_by_environment_must_exist(tmp_path, isolated_home):
    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read: No such file"):
        load_settings(environ={SITE_CONFIG_ENV: str(missing)})


def test_user_file_refines_but_later_layer_errors_name_that_layer(tmp_path):
    user = '[[archives]]\nname = "hub"\nauth = "bearer"\n'
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, SITE, user, environ={})
    assert str(err.value) == (
        f"{tmp_path / 'settings.toml'}: archives[0].token: missing: "
        'auth = "bearer" needs token or token_env'
    )


def test_choosing_an_archive(tmp_path):
    two = SITE.replace('default_archive = "hub"\n', "")
    s = _load(tmp_path, two, environ={})
    with pytest.raises(ConfigError, match=r"several archives are configured \(hub, backup\)"):
        s.archive()
    assert s.archive("backup").dimse == DimseConfig("10.0.0.9", 104, "BACKUP", "READER1")
    with pytest.raises(ConfigError, match=r"no archive named 'x' is configured \(known: hub"):
        s.archive("x")
    one = '[[archives]]\nname = "only"\ndicomweb_url = "http://127.0.0.1:8042/dicom-web"\n'
    assert _load(tmp_path, one, environ={}).archive().name == "only"


def test_the_example_site_file_is_valid_and_documents_every_key(tmp_path):
    s = load_settings(
        site_path=EXAMPLE,
        user_path=_write(tmp_path / "u.toml", ""),
        environ={"WORKSTATION_HUB_PASSWORD": "pw"},
    )
    hub = s.archive()
    assert (hub.name, hub.dicomweb_url, hub.auth, hub.user, hub.password) == (
        "hub",
        "https://pacs.example.org/dicom-web",
        "basic",
        "reader",
        "pw",
    )
    assert hub.dimse == DimseConfig(
        "pacs.example.org", 4242, "ORTHANC", "WORKSTATION", our_port=11112
    )
    text = EXAMPLE.read_text(encoding="utf-8")
    from workstation.core import settings as mod

    for key in (
        *mod._TOP_KEYS,
        *mod._ARCHIVE_KEYS,
        *mod._DIMSE_KEYS,
        *mod._READER_KEYS,
        *mod._DICTATION_KEYS,
        *mod._WORKLIST_KEYS,
        *mod._PREFETCH_KEYS,
        *mod._UI_KEYS,
    ):
        assert key in text, key
    assert s.reader == ReaderConfig("Example^Reader", "Example Teleradiology Hub")
    assert s.dictation == DictationConfig("auto", "")
    assert s.worklist == WorklistConfig("embedded", "", "", 15.0)
    assert s.prefetch == PrefetchConfig(3, 2, 0.25, 0.0)
    assert s.ui == UiConfig("system")


# -- reader, dictation, worklist and ui ---------------------------------------------------------

ONE_ARCHIVE = """
[[archives]]
name = "hub"
dicomweb_url = "http://127.0.0.1:8042/dicom-web"
"""


def test_sections_default_when_absent(tmp_path):
    s = load_settings(
        site_path=_write(tmp_path / "s.toml", ""), user_path=_write(tmp_path / "none.toml", "")
    )
    assert s.reader == ReaderConfig("", "")
    assert s.dictation == DictationConfig("auto", "")
    assert s.worklist == WorklistConfig("embedded", "", "", 15.0)
    assert s.prefetch == PrefetchConfig(3, 2, 0.25, 0.0)
    assert s.ui == UiConfig("system")
    assert s.worklist_archive() is None
    assert s.has_archive() is False


def test_user_file_refines_the_site_sections_key_by_key(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    site_json = _write(tmp_path / "worklist.json", "{}")
    site = _write(
        tmp_path / "s.toml",
        ONE_ARCHIVE
        + '[reader]\norganisation = "Hub"\n[worklist]\nsource = "archive"\npoll_s = 30\n'
        + f'site_file = "{site_json}"\n'
        + '[ui]\nlanguage = "ar"\nsoftware_3d = "full"\n'
        + "[prefetch]\nstudies = 5\nbandwidth_mbit_s = 20\n",
    )
    user = _write(
        tmp_path / "u.toml",
        f'[reader]\nname = "Haddad^Lina"\n[dictation]\nengine = "whisper"\n'
        f'model_path = "{model}"\n[ui]\nlanguage = "en"\n',
    )
    s = load_settings(site_path=site, user_path=user)
    assert s.reader == ReaderConfig("Haddad^Lina", "Hub")
    assert s.dictation == DictationConfig("whisper", str(model))
    assert s.worklist == WorklistConfig("archive", "", str(site_json), 30.0)
    assert s.ui == UiConfig("en", "full")  # language from the user, software_3d from the site
    assert load_settings(user_path=user).ui.software_3d == "reduced"  # the default
    assert s.prefetch == PrefetchConfig(5, 2, 0.25, 20.0)
    assert s.has_archive() is True
    assert s.worklist_archive() == s.archive("hub")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[dictation]\nengine = "dragon"\n', "dictation.engine: must be one of auto, whisper"),
        ('[dictation]\nmodel_path = "/no/such/model"\n', "dictation.model_path: no such folder"),
        ('[reader]\nname = "A\\\\B"\n', "reader.name: must be a person name"),
        ('[reader]\nname = "a^b^c^d^e^f"\n', "reader.name: must be a person name"),
        (
            "[reader]\norganisation = '" + "x" * 65 + "'\n",
            "reader.organisation: must be at most 64",
        ),
        ('[reader]\nnmae = "x"\n', "reader.nmae: unknown key; did you mean 'name'?"),
        ("[worklist]\npoll_s = 0\n", "worklist.poll_s: must be more than 0.5"),
        ('[worklist]\nsource = "archive"\n', "worklist.archive: no archive is chosen"),
        (
            ONE_ARCHIVE + '[worklist]\nsource = "archive"\n',
            "worklist.site_file: missing: the UPS-RS worklist needs",
        ),
        ('[worklist]\nsite_file = "/no/such.json"\n', "worklist.site_file: no such file"),
        ('[ui]\nlanguage = "fr"\n', "ui.language: must be one of system, en, ar"),
        ('[ui]\nsoftware_3d = "half"\n', "ui.software_3d: must be one of reduced, full"),
        ("[prefetch]\nstudies = 51\n", "prefetch.studies: must be between 0 and 50"),
        ("[prefetch]\nshare = 0\n", "prefetch.share: must be more than 0 and at most 1"),
        ("[prefetch]\nbandwidth_mbit_s = -5\n", "prefetch.bandwidth_mbit_s: must not be neg"),
        ('ui = "ar"\n', "ui: must be a table ([ui]), not a string"),
    ],
)
def test_bad_section_values_name_file_and_key(tmp_path, text, message):
    site = _write(tmp_path / "site.toml", text)
    with pytest.raises(ConfigError) as err:
        load_settings(site_path=site, user_path=_write(tmp_path / "none.toml", ""))
    assert f"{site}: {message}" in str(err.value)


def test_worklist_archive_needs_a_dicomweb_root(tmp_path):
    site_json = _write(tmp_path / "worklist.json", "{}")
    site = _write(
        tmp_path / "s.toml",
        '[[archives]]\nname = "pacs"\n[archives.dimse]\nhost = "127.0.0.1"\nport = 4242\n'
        'ae_title = "ORTHANC"\n[worklist]\nsource = "archive"\narchive = "pacs"\n'
        f'site_file = "{site_json}"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_settings(site_path=site, user_path=_write(tmp_path / "none.toml", ""))
    assert str(err.value) == (
        f"{site}: worklist.archive: 'pacs' has no dicomweb_url: the UPS-RS worklist is served "
        "under the DICOMweb root"
    )


# -- credentials in the OS keyring (only a marker here; archive/credentials.py reads it) -------

KEYRING_SITE = """
[[archives]]
name = "hub"
dicomweb_url = "https://pacs.example.org/dicom-web"
auth = "basic"
user = "reader"
password_keyring = true
"""


def test_password_keyring_records_a_marker_and_no_secret(tmp_path):
    hub = _load(tmp_path, KEYRING_SITE, environ={}).archive()
    assert hub == ArchiveConfig(
        name="hub",
        dicomweb_url="https://pacs.example.org/dicom-web",
        auth="basic",
        user="reader",
        password="",
        password_keyring=True,
    )
    assert (hub.token, hub.token_keyring) == ("", False)


def test_token_keyring_satisfies_bearer(tmp_path):
    site = '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nauth = "bearer"\n'
    hub = _load(tmp_path, site + "token_keyring = true\n", environ={}).archive()
    assert (hub.auth, hub.token, hub.token_keyring, hub.password_keyring) == (
        "bearer",
        "",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'password = "p"\n',
            "archives[0].password_keyring: give only one of password, password_env or "
            "password_keyring = true",
        ),
        (
            'password_env = "NOT_SET_HERE"\n',
            "archives[0].password_keyring: give only one of password, password_env or "
            "password_keyring = true",
        ),
    ],
)
def test_keyring_excludes_the_other_sources(tmp_path, extra, message):
    got = _error(tmp_path, KEYRING_SITE + extra, environ={})
    assert got == f"{tmp_path / 'site.toml'}: {message}"


def test_keyring_flag_must_be_a_boolean(tmp_path):
    site = '[[archives]]\nname = "a"\ndicomweb_url = "http://x"\ntoken_keyring = "yes"\n'
    got = _error(tmp_path, site, environ={})
    assert got == (
        f"{tmp_path / 'site.toml'}: archives[0].token_keyring: must be true or false, not a string"
    )


def test_a_later_layer_moves_the_password_into_the_keyring_and_back(tmp_path):
    site = KEYRING_SITE.replace("password_keyring = true", 'password_env = "HUB_PW"')
    into = '[[archives]]\nname = "hub"\npassword_keyring = true\n'
    hub = _load(tmp_path, site, into, environ={"HUB_PW": "pw"}).archive()
    assert (hub.password, hub.password_keyring) == ("", True)
    back = KEYRING_SITE
    user = '[[archives]]\nname = "hub"\npassword_env = "HUB_PW"\n'
    hub = _load(tmp_path, back, user, environ={"HUB_PW": "pw"}).archive()
    assert (hub.password, hub.password_keyring) == ("pw", False)
    user_off = '[[archives]]\nname = "hub"\npassword_keyring = false\n'
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, back, user_off, environ={})
    assert str(err.value) == (
        f"{tmp_path / 'settings.toml'}: archives[0].password: missing: "
        'auth = "basic" needs password or password_env'
    )


def test_http_compression_defaults_to_auto_and_later_layers_refine_it(tmp_path):
    s = _load(tmp_path, SITE, environ={})
    assert s.archive("hub").http_compression == "auto"
    assert ArchiveConfig("x").http_compression == "auto"
    site_off = SITE.replace(
        "read_timeout_s = 120\n", 'read_timeout_s = 120\nhttp_compression = "off"\n'
    )
    s = _load(tmp_path, site_off, environ={})
    assert (s.archive("hub").http_compression, s.archive("backup").http_compression) == (
        "off",
        "auto",
    )
    user_on = '[[archives]]\nname = "hub"\nhttp_compression = "on"\n'
    assert _load(tmp_path, site_off, user_on, environ={}).archive("hub").http_compression == "on"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '"gzip"',
            "archives[0].http_compression: must be one of auto, on, off (got 'gzip')",
        ),
        (
            '"onn"',
            "archives[0].http_compression: must be one of auto, on, off (got 'onn'); "
            "did you mean 'on'?",
        ),
        ("true", "archives[0].http_compression: must be a string, not a boolean"),
    ],
)
def test_bad_http_compression_names_file_key_and_choices(tmp_path, value, message):
    text = f'[[archives]]\nname = "a"\ndicomweb_url = "http://x"\nhttp_compression = {value}\n'
    got = _error(tmp_path, text, environ={})
    assert got == f"{tmp_path / 'site.toml'}: {message}", got
