"""indexer.config: validation, Coco payloads, storage, the global Jira connection."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest

from indexer import config, connectors, paths, secrets
from indexer.config import Datasource, JiraConnection
from indexer.errors import ConfigError

CONFIG_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "config"


def coco_basic() -> dict:
    return json.loads((CONFIG_FIXTURES / "coco_cloud_basic.json").read_text())


def make(**overrides) -> Datasource:
    values = {"name": "main", "endpoint": "https://acme.atlassian.net", "project_key": "PROJ"}
    values.update(overrides)
    return Datasource(**values)


def error_of(func, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        func(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ validators


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net/", "https://acme.atlassian.net"),
        ("  HTTPS://Acme.Atlassian.NET//  ", "https://acme.atlassian.net"),
        ("https://issues.apache.org/jira", "https://issues.apache.org/jira"),
        ("https://issues.apache.org/jira/", "https://issues.apache.org/jira"),
        ("https://jira.example.com:8443/ctx/", "https://jira.example.com:8443/ctx"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://[::1]:9000/jira", "http://[::1]:9000/jira"),
        # Jira Cloud has no context path: a page copied from the address bar (or one
        # an older version saved as a context path, where every call 404ed) is its root.
        ("https://acme.atlassian.net/jira/your-work", "https://acme.atlassian.net"),
        ("https://Acme.Atlassian.net/jira", "https://acme.atlassian.net"),
        ("https://acme.jira.com/projects/ABC", "https://acme.jira.com"),
    ],
)
def test_endpoint_accepted_and_normalised(url, expected):
    assert config.validate_endpoint(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://a", 'endpoint "ftp://a" must be an http(s) URL'),
        ("file:///etc/passwd", "must be an http(s) URL"),
        ("javascript:alert(1)", "must be an http(s) URL"),
        ("acme.atlassian.net", "has no scheme; write it as https://acme.atlassian.net"),
        ("localhost:8080", "has no scheme"),
        ("http://acme.example.com", "credentials and issues in clear text"),
        ("http://10.0.0.1", "plain http is allowed only for localhost"),
        ("https://acme.atlassian.net/?x=1", "query string or fragment"),
        ("https://acme.atlassian.net/#top", "query string or fragment"),
        ("https://user:pass@acme.atlassian.net", "use the username and token settings instead"),
        ("https://", "has no valid host name"),
        ("https://acme.atlassian.net:99999", "invalid port"),
        ("https://acme atlassian.net", "must not contain spaces"),
        ("https://acme.atlassian.net/rest/api/3/search", "(try https://acme.atlassian.net)"),
        ("https://issues.apache.org/jira/browse/LUCENE-1", "(try https://issues.apache.org/jira)"),
        ("", "endpoint is required"),
        (None, "endpoint is required"),
        (42, "endpoint must be a URL string, not 42"),
    ],
)
def test_endpoint_rejected_with_reason(url, fragment):
    assert fragment in error_of(config.validate_endpoint, url)


def test_endpoint_error_never_echoes_embedded_password():
    message = error_of(config.validate_endpoint, "https://me:hunter2secret@acme.atlassian.net")
    assert "hunter2secret" not in message
    assert "acme.atlassian.net" in message
    no_scheme = error_of(config.validate_endpoint, "me:hunter2secret@acme.atlassian.net")
    assert "hunter2secret" not in no_scheme


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("90s", 90), ("1h30m", 5400),
     (" 2M ", 120), ("1d2h3m4s", 93784)],
)  # fmt: skip
def test_parse_interval(text, seconds):
    assert config.parse_interval(text) == seconds


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0s", "longer than zero"),
        ("0m0s", "longer than zero"),
        ("-5m", "like 30s, 5m, 1h, 1d or 1h30m"),
        ("5", "(a unit is required)"),
        ("", "like 30s, 5m, 1h, 1d"),
        ("five minutes", "like 30s, 5m, 1h, 1d"),
        ("5x", "like 30s, 5m"),
        ("30m1h", "like 30s, 5m"),
        ("1.5h", "like 30s, 5m"),
        ("400d", "at most 365d"),
        (5, "not 5"),
        (None, "not null"),
    ],
)
def test_parse_interval_rejects(value, fragment):
    assert fragment in error_of(config.parse_interval, value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [("PROJ", "PROJ"), ("proj", "PROJ"), (" ab_1 ", "AB_1"), ("A" * 255, "A" * 255)],
)
def test_project_key_accepted_upper_cased(key, expected):
    assert config.validate_project_key(key) == expected


@pytest.mark.parametrize("key", ["P", "1AB", "_AB", "AB-C", "AB C", "ÄB", "A" * 256])
def test_project_key_rejected(key):
    message = error_of(config.validate_project_key, key)
    assert "must start with a letter and hold only letters, digits or underscores" in message


def test_project_key_missing_or_wrong_type():
    assert "project key is required" in error_of(config.validate_project_key, "  ")
    assert "must be a string" in error_of(config.validate_project_key, 12)


@pytest.mark.parametrize("key", ["PROJ-1", "AB_2-123", " ABC-42 "])
def test_issue_key_accepted(key):
    assert config.validate_issue_key(key) == key.strip()


def test_issue_key_typed_in_lower_case_is_upper_cased():
    assert config.validate_issue_key(" abc-1 ") == "ABC-1"


@pytest.mark.parametrize(
    "key", ["ABC", "ABC-", "-1", "ABC-x", "A-1", "ABC-0", "ABC 1", "a_c", "", None]
)
def test_issue_key_rejected_with_coderflow_message(key):
    assert error_of(config.validate_issue_key, key) == "Issue key must look like PROJECT-123"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("bad\x07name", "must not contain control characters"),
        ("line\nbreak", "must not contain control characters"),
        ("x" * 101, "longer than 100 characters"),
        (None, "datasource name is required"),
        (3, "must be a string"),
    ],
)
def test_datasource_name_rejected(name, fragment):
    assert fragment in error_of(config.validate_datasource_name, name)


def test_datasource_name_is_trimmed():
    assert config.validate_datasource_name("  Team Jira  ") == "Team Jira"


# ------------------------------------------------------------------ Datasource model


@pytest.mark.parametrize(
    ("overrides", "mode"),
    [
        ({"username": "me@example.com", "token": "api-token-1234"}, "basic"),
        ({"token": "pat-token-1234"}, "bearer"),
        ({}, "anonymous"),
        (
            {"username": "sa@example.com", "token": "scoped-1234", "cloud_id": "abc-123"},
            "service_account",
        ),
    ],
)
def test_auth_mode(overrides, mode):
    ds = config.validate_datasource(make(**overrides))
    assert ds.auth_mode == mode


def test_api_base_url_for_service_account_uses_gateway(monkeypatch):
    ds = make(username="sa@example.com", token="scoped-1234", cloud_id="abc-123")
    assert ds.api_base_url == "https://api.atlassian.com/ex/jira/abc-123"
    monkeypatch.setenv("JIRADEX_GATEWAY_URL", "http://127.0.0.1:9999/")
    assert ds.api_base_url == "http://127.0.0.1:9999/ex/jira/abc-123"
    assert make().api_base_url == "https://acme.atlassian.net"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"username": "me@example.com"}, "username is set but token is empty"),
        ({"username": "me@example.com", "token": "  "}, "username is set but token is empty"),
        ({"cloud_id": "abc-123", "token": "tok-1234"}, "cloud_id (service account) needs username"),
        ({"cloud_id": "a/b", "username": "u@x.io", "token": "tok-1234"}, 'cloud_id "a/b"'),
        ({"endpoint": "ftp://a"}, 'datasource "main": endpoint "ftp://a" must be an http(s) URL'),
        ({"project_key": "9X"}, 'datasource "main": project key "9X"'),
        ({"interval": "0s"}, 'datasource "main": interval "0s" must be longer than zero'),
        ({"interval": 5}, 'sync.interval must be a string like "5m", not 5'),
        ({"enabled": "yes"}, 'enabled must be true or false, not "yes"'),
        ({"index_comments": 1}, "index_comments must be true or false, not 1"),
        ({"sync_enabled": None}, "sync.enabled must be true or false, not null"),
        ({"connector_id": "github"}, 'unknown connector "github" (known connectors: jira)'),
        ({"attachment_max_bytes": 0}, "attachment_max_bytes must be a positive whole number"),
        ({"attachment_max_bytes": True}, "attachment_max_bytes must be a positive whole number"),
        ({"max_concurrency": 0}, "max_concurrency must be a whole number from 1 to 32"),
        ({"max_concurrency": 33}, "max_concurrency must be a whole number from 1 to 32"),
        (
            {"max_concurrency": "6"},
            'max_concurrency must be a whole number from 1 to 32 (requests in flight at once), not "6"',
        ),
        ({"max_concurrency": True}, "max_concurrency must be a whole number from 1 to 32"),
        ({"token": "two words"}, "token must not contain spaces"),
        ({"token": "tok3n_\u00c4\u20ac"}, "token must be plain ASCII"),
        ({"token": "****oken"}, "token looks masked, as `datasource show`"),
        ({"jql": 'summary ~ "pool'}, 'jql has an unclosed " quote'),
        ({"jql": "labels in (a, b"}, "jql has a '(' without its ')'"),
        ({"jql": "status = Done)"}, "jql has a ')' without its '('"),
    ],
)
def test_validate_datasource_errors(overrides, fragment):
    message = error_of(config.validate_datasource, make(**overrides))
    assert fragment in message
    assert message.startswith('datasource "main": ')


def test_validate_datasource_normalises():
    ds = config.validate_datasource(
        make(
            name=" main ",
            endpoint="https://Acme.atlassian.net/",
            project_key="proj",
            username=" ",
            token=" pat-token-1234\n",
            jql="  ",
            interval=" 10M ",  # minutes: stored as "10m", never read as months
        )
    )
    assert (ds.name, ds.endpoint, ds.project_key) == ("main", "https://acme.atlassian.net", "PROJ")
    assert (ds.username, ds.token, ds.jql, ds.interval) == (None, "pat-token-1234", None, "10m")
    assert ds.interval_seconds == 600
    assert ds.auth_mode == "bearer"


@pytest.mark.parametrize(
    ("jql", "kept"),
    [
        ("status != Done ORDER BY created DESC", "status != Done"),
        ("(a = 1 OR b = 2) order  by key", "(a = 1 OR b = 2)"),
        ('summary ~ "order by x" ORDER BY rank', 'summary ~ "order by x"'),
        ("labels = reorder", "labels = reorder"),
        ("ORDER BY Rank ASC", None),
    ],
)
def test_a_jql_copied_with_its_order_by_keeps_only_the_condition(jql, kept):
    """jiradex puts the JQL inside `project = K AND (...) ORDER BY updated`: an ORDER BY
    copied from Jira's issue search would make every sync fail with a 400."""
    assert config.validate_datasource(make(jql=jql)).jql == kept


def test_repr_hides_token():
    ds = make(username="me@example.com", token="super-secret-token-value")
    assert "super-secret-token-value" not in repr(ds)
    conn = JiraConnection(base_url="https://a.atlassian.net", api_token="another-secret-value")
    assert "another-secret-value" not in repr(conn)


# ------------------------------------------------------------------ Coco payloads


def test_coco_example_round_trips_unchanged():
    payload = coco_basic()
    ds = config.datasource_from_coco(copy.deepcopy(payload))
    assert ds.name == "My Jira Cloud"
    assert ds.auth_mode == "basic"
    assert (ds.index_comments, ds.index_attachments, ds.interval_seconds) == (True, True, 30)
    assert ds.to_coco(mask_token=False) == payload
    masked = ds.to_coco()
    assert masked["connector"]["config"]["token"] == "****oken"
    masked["connector"]["config"]["token"] = "your-api-token"
    assert masked == payload


def test_coco_defaults():
    ds = config.datasource_from_coco(
        {
            "name": "minimal",
            "connector": {
                "id": "jira",
                "config": {"endpoint": "https://a.atlassian.net", "project_key": "AB"},
            },
        }
    )
    assert ds.enabled is True
    assert (ds.index_comments, ds.index_attachments) == (False, False)
    assert (ds.sync_enabled, ds.interval) == (True, "5m")
    assert ds.auth_mode == "anonymous"
    out = ds.to_coco()
    assert "token" not in out["connector"]["config"]
    assert "username" not in out["connector"]["config"]
    assert out["sync"] == {"enabled": True, "interval": "5m"}


def test_coco_unknown_keys_are_kept_and_reported():
    payload = json.loads((CONFIG_FIXTURES / "coco_extra_keys.json").read_text())
    warnings: list[str] = []
    ds = config.datasource_from_coco(payload, warn=warnings.append)
    assert ds.id == "ds-42"
    assert ds.extra == {"future_option": [1, 2, 3]}
    assert ds.auth_mode == "service_account"
    assert ds.attachment_max_bytes == 1048576
    assert ds.interval_seconds == 5400
    out = ds.to_coco(mask_token=False)
    assert out["connector"]["config"]["future_option"] == [1, 2, 3]
    assert out["connector"]["config"]["project_key"] == "EXT"
    assert out["connector"]["config"]["endpoint"] == "https://extras.atlassian.net"
    assert out["sync"]["jitter"] == "5s"
    assert out["custom_top"] == {"a": 1} and out["description"] == "kept by Coco"
    joined = " | ".join(warnings)
    assert '"future_option"' in joined and '"jitter"' in joined and '"custom_top"' in joined
    assert "description" not in joined  # a key Coco itself uses: no warning


def base_payload() -> dict:
    return coco_basic()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda p: p.update(enabled="yes"), 'datasource "My Jira Cloud": enabled must be true or false, not "yes"'),
        (lambda p: p["sync"].update(interval=5), 'sync.interval must be a string like "5m", not 5'),
        (lambda p: p["sync"].update(interval="5"), "(a unit is required)"),
        (lambda p: p["sync"].update(enabled="true"), 'sync.enabled must be true or false, not "true"'),
        (lambda p: p.update(sync=[]), "sync must be a JSON object, not a list"),
        (lambda p: p.update(type="webhook"), 'type must be "connector", not "webhook"'),
        (lambda p: p.pop("connector"), "connector must be a JSON object, not null"),
        (lambda p: p["connector"].pop("id"), 'connector.id is required (use "jira")'),
        (lambda p: p["connector"].update(id="confluence"), 'unknown connector "confluence" (known connectors: jira)'),
        (lambda p: p["connector"].update(id=7), "connector.id must be a string"),
        (lambda p: p["connector"].pop("config"), "connector.config is required"),
        (lambda p: p["connector"].update(config="x"), "connector.config must be a JSON object"),
        (lambda p: p["connector"]["config"].update(index_comments="yes"), 'connector.config.index_comments must be true or false, not "yes"'),
        (lambda p: p["connector"]["config"].update(username=5), "connector.config.username must be a string, not 5"),
        (lambda p: p["connector"]["config"].update(token=12345678), "connector.config.token must be a string, not a number"),
        (lambda p: p["connector"]["config"].pop("token"), "username is set but token is empty"),
        (lambda p: p["connector"]["config"].pop("project_key"), "project key is required"),
        (lambda p: p["connector"]["config"].update(endpoint="http://acme.example.com"), "clear text"),
        (lambda p: p.update(name=""), "datasource name must not be empty"),
        (lambda p: p.pop("name"), "datasource name is required"),
        (lambda p: p.update(id=3), "id must be a string"),
    ],
)  # fmt: skip
def test_coco_payload_errors(mutate, fragment):
    payload = base_payload()
    mutate(payload)
    message = error_of(config.datasource_from_coco, payload)
    assert fragment in message
    assert "your-api-token" not in message


def test_coco_payload_not_an_object():
    assert "must be a JSON object, not a list" in error_of(config.datasource_from_coco, [])


def test_json_text_holding_a_list():
    text = (CONFIG_FIXTURES / "coco_list.json").read_text()
    items = config.datasources_from_json_text(text, "coco_list.json")
    assert [ds.name for ds in items] == ["My Self-Hosted Jira", "Apache Lucene"]
    assert [ds.auth_mode for ds in items] == ["bearer", "anonymous"]
    assert items[1].endpoint == "https://issues.apache.org/jira"
    assert items[1].enabled is False and items[1].jql == "created >= 2020-01-01"


def test_json_text_errors_name_source_and_entry():
    bad = json.dumps([coco_basic(), {**coco_basic(), "name": "two", "enabled": 1}])
    assert error_of(config.datasources_from_json_text, bad, "in.json").startswith(
        'in.json, entry 2: datasource "two": enabled must be true or false'
    )
    dup = json.dumps([coco_basic(), {**coco_basic(), "name": "MY JIRA CLOUD"}])
    assert 'datasource name "MY JIRA CLOUD" is used twice' in error_of(
        config.datasources_from_json_text, dup, "in.json"
    )
    assert "in.json: invalid JSON at line 2, column" in error_of(
        config.datasources_from_json_text, "[\n{,", "in.json"
    )
    assert "holds no datasource" in error_of(config.datasources_from_json_text, "[]", "in.json")


# ------------------------------------------------------------------ storage


def test_no_file_means_no_datasources():
    assert config.load_datasources() == []
    assert not paths.datasources_path().exists()


def test_add_load_round_trip():
    added = config.add_datasource(
        make(name="Cloud", username="me@example.com", token="api-token-abcd", index_comments=True)
    )
    config.add_datasource(make(name="Public", endpoint="https://issues.apache.org/jira/"))
    loaded = config.load_datasources()
    assert [ds.name for ds in loaded] == ["Cloud", "Public"]
    assert loaded[0] == added
    assert loaded[0].token == "api-token-abcd"  # stored in full, masked only for display
    assert loaded[1].endpoint == "https://issues.apache.org/jira"
    on_disk = json.loads(paths.datasources_path().read_text())
    assert on_disk[0]["connector"]["config"]["token"] == "api-token-abcd"
    assert on_disk[1]["type"] == "connector"


def test_coco_payload_saved_unchanged():
    config.add_datasources([config.datasource_from_coco(coco_basic())])
    assert json.loads(paths.datasources_path().read_text()) == [coco_basic()]


def test_names_unique_case_insensitive():
    config.add_datasource(make(name="Main"))
    message = error_of(config.add_datasource, make(name="MAIN"))
    assert 'a datasource named "Main" already exists' in message
    assert len(config.load_datasources()) == 1


def test_add_several_is_all_or_nothing():
    config.add_datasource(make(name="one"))
    with pytest.raises(ConfigError):
        config.add_datasources([make(name="two"), make(name="ONE")])
    assert [ds.name for ds in config.load_datasources()] == ["one"]


def test_get_update_enable_remove():
    config.add_datasource(make(name="Alpha"))
    config.add_datasource(make(name="Beta"))
    assert config.get_datasource("alpha").name == "Alpha"
    changed = config.update_datasource(make(name="alpha", project_key="NEW", interval="1h"))
    assert changed.project_key == "NEW"
    assert [ds.name for ds in config.load_datasources()] == ["alpha", "Beta"]
    assert config.set_datasource_enabled("BETA", False).enabled is False
    assert config.get_datasource("Beta").enabled is False
    removed = config.remove_datasource("ALPHA")
    assert removed.name == "alpha"
    assert [ds.name for ds in config.load_datasources()] == ["Beta"]


def test_unknown_name_lists_configured():
    assert "none is configured yet" in error_of(config.get_datasource, "x")
    config.add_datasource(make(name="Alpha"))
    assert error_of(config.remove_datasource, "x") == 'no datasource named "x" (configured: Alpha)'


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_and_directory_modes():
    old_umask = os.umask(0o022)
    try:
        config.add_datasource(make(token="pat-token-0001"))
        config.save_jira_connection(JiraConnection(base_url="https://a.atlassian.net"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(paths.config_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.datasources_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.jira_config_path().stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_rewrite_tightens_a_loose_existing_file():
    config.add_datasource(make(name="a"))
    os.chmod(paths.datasources_path(), 0o644)
    config.add_datasource(make(name="b"))
    assert stat.S_IMODE(paths.datasources_path().stat().st_mode) == 0o600


def test_atomic_write_leaves_no_temp_files():
    for index in range(5):
        config.add_datasource(make(name=f"ds{index}"))
    config.remove_datasource("ds0")
    names = sorted(p.name for p in paths.config_dir().iterdir())
    assert names == [".lock", "datasources.json"]


def test_failed_write_keeps_old_file_and_cleans_up(monkeypatch):
    config.add_datasource(make(name="keep"))
    before = paths.datasources_path().read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config.os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="No space left on device; the file was left as"):
        config.add_datasource(make(name="new"))
    assert paths.datasources_path().read_bytes() == before
    assert not [p for p in paths.config_dir().iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_is_one_line_not_an_internal_error(monkeypatch):
    """`datasource add` on a full disk printed "internal error (OSError): [Errno 28]"."""
    from cli_runner import run

    config.add_datasource(make(name="keep"))
    before = paths.datasources_path().read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config.os, "fsync", no_space)
    result = run(
        "datasource", "add", "new", "--endpoint", "https://x.example.com", "--project", "NEW"
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"jiradex: cannot write {paths.datasources_path()}: No space left on device; "
        "the file was left as it was"
    ]
    assert paths.datasources_path().read_bytes() == before


def test_a_read_only_config_folder_is_one_line_not_an_internal_error(monkeypatch):
    """`datasource set` on a read-only file system printed "internal error (OSError):
    [Errno 30] Read-only file system: .../config/.lock": the lock file that orders
    config writes is made before the write itself."""
    import errno

    from cli_runner import run

    config.add_datasource(make(name="keep"))
    before = paths.datasources_path().read_bytes()
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(paths.config_dir())):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(config.os, "open", read_only)
    result = run("datasource", "set", "keep", "--interval", "10m")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"jiradex: cannot change the configuration in {paths.config_dir()}: "
        "the jiradex home is on a read-only file system"
    ]
    assert paths.datasources_path().read_bytes() == before


def write_config(name: str, text: str):
    path = paths.config_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CORRUPT = '[\n  {"name": "x",\n   "enabled": tru\n]\n'


@pytest.mark.parametrize(
    "action",
    [
        lambda: config.load_datasources(),
        lambda: config.add_datasource(make(name="new")),
        lambda: config.remove_datasource("x"),
        lambda: config.set_datasource_enabled("x", True),
        lambda: config.update_datasource(make(name="x")),
    ],
)
def test_corrupt_datasources_file_is_reported_and_never_overwritten(action):
    path = write_config("datasources.json", CORRUPT)
    message = error_of(action)
    assert str(path) in message
    assert "invalid JSON at line 3, column" in message
    assert "fix or remove the file" in message
    assert path.read_text() == CORRUPT


def test_datasources_file_of_wrong_shape():
    write_config("datasources.json", '{"name": "x"}')
    assert "expected a JSON list of datasources, found an object" in error_of(
        config.load_datasources
    )


def test_invalid_entry_in_file_names_file_and_entry():
    bad = coco_basic()
    bad["sync"]["interval"] = "soon"
    path = write_config("datasources.json", json.dumps([bad]))
    message = error_of(config.load_datasources)
    assert message.startswith(f'{path}, entry 1: datasource "My Jira Cloud": interval "soon"')


def test_non_utf8_file_reported():
    path = paths.config_dir() / "datasources.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert "is not UTF-8 text" in error_of(config.load_datasources)


def test_loaded_tokens_are_registered_for_redaction():
    write_config(
        "datasources.json",
        json.dumps([{**coco_basic(), "connector": {"id": "jira", "config": {
            **coco_basic()["connector"]["config"], "token": "registered-secret-0042"}}}]),
    )  # fmt: skip
    config.load_datasources()
    assert "registered-secret-0042" not in secrets.redact("boom registered-secret-0042 boom")


# ------------------------------------------------------------------ Jira connection


def write_jira(data) -> None:
    write_config("jira.json", json.dumps(data))


def test_jira_connection_absent():
    conn = config.load_jira_connection()
    assert not conn.configured
    assert conn.enabled is False and conn.sources["enabled"] == "default"
    assert conn.api_mode == "personal"
    assert len(conn.problems()) == 3


def test_jira_connection_from_file():
    write_jira(
        {
            "enabled": True,
            "baseUrl": "https://acme.atlassian.net/",
            "auth": {"email": "me@example.com", "apiToken": "file-token-1234"},
        }
    )
    conn = config.load_jira_connection()
    assert conn.base_url == "https://acme.atlassian.net"
    assert (conn.email, conn.api_token, conn.enabled) == ("me@example.com", "file-token-1234", True)
    assert conn.api_mode == "personal"
    assert conn.api_base_url == "https://acme.atlassian.net"
    assert conn.sources == {
        "enabled": "file",
        "base_url": "file",
        "email": "file",
        "api_token": "file",
    }
    assert conn.problems() == []


def test_env_overrides_file_field_by_field(monkeypatch):
    write_jira(
        {
            "enabled": False,
            "baseUrl": "https://file.atlassian.net",
            "cloudId": "file-cloud",
            "auth": {"email": "file@example.com", "apiToken": "file-token-1234"},
        }
    )
    monkeypatch.setenv("JIRA_ENABLED", "yes")
    monkeypatch.setenv("JIRA_EMAIL", "env@example.com")
    monkeypatch.setenv("JIRA_CLOUD_ID", "")  # empty counts as unset
    conn = config.load_jira_connection()
    assert conn.enabled is True and conn.sources["enabled"] == "env"
    assert conn.email == "env@example.com" and conn.sources["email"] == "env"
    assert conn.base_url == "https://file.atlassian.net" and conn.sources["base_url"] == "file"
    assert conn.api_token == "file-token-1234" and conn.sources["api_token"] == "file"
    assert conn.cloud_id == "file-cloud" and conn.api_mode == "service_account"
    assert conn.api_base_url == "https://api.atlassian.com/ex/jira/file-cloud"

    monkeypatch.setenv("JIRA_BASE_URL", "https://env.atlassian.net")
    monkeypatch.setenv("JIRA_API_TOKEN", "env-token-5678")
    monkeypatch.setenv("JIRA_CLOUD_ID", "env-cloud")
    conn = config.load_jira_connection()
    assert (conn.base_url, conn.api_token, conn.cloud_id) == (
        "https://env.atlassian.net",
        "env-token-5678",
        "env-cloud",
    )
    assert {conn.sources[k] for k in ("base_url", "api_token", "cloud_id")} == {"env"}
    file_only = config.load_jira_connection(use_env=False)
    assert file_only.base_url == "https://file.atlassian.net" and file_only.enabled is False


def test_env_only_connection_defaults_to_enabled(monkeypatch):
    monkeypatch.setenv("JIRA_BASE_URL", "https://env.atlassian.net")
    monkeypatch.setenv("JIRA_EMAIL", "env@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "env-token-5678")
    conn = config.load_jira_connection()
    assert conn.enabled is True and conn.sources["enabled"] == "default"
    assert "env-token-5678" not in secrets.redact("x env-token-5678 x")


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("YES", True),
                                                 ("false", False), ("0", False), ("no", False)])  # fmt: skip
def test_jira_enabled_values(monkeypatch, value, expected):
    monkeypatch.setenv("JIRA_ENABLED", value)
    assert config.load_jira_connection().enabled is expected


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("JIRA_ENABLED", "maybe", 'JIRA_ENABLED must be true or false (also 1/0, yes/no), not "maybe"'),
        ("JIRA_BASE_URL", "ftp://x", 'JIRA_BASE_URL "ftp://x" must be an http(s) URL'),
        ("JIRA_BASE_URL", "http://jira.example.com", "clear text"),
        ("JIRA_CLOUD_ID", "../../x", 'JIRA_CLOUD_ID "../../x" must be the site\'s cloud id'),
        ("JIRA_API_TOKEN", "has space", "JIRA_API_TOKEN must not contain spaces"),
    ],
)  # fmt: skip
def test_bad_env_values(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    assert fragment in error_of(config.load_jira_connection)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"enabled": "true"}, 'enabled must be true or false, not "true"'),
        ({"baseUrl": "acme.atlassian.net"}, 'baseUrl "acme.atlassian.net" has no scheme'),
        ({"auth": "x"}, "auth must be a JSON object, not a string"),
        ({"auth": {"apiToken": 5}}, "auth.apiToken must be a string, not a number"),
        ([], "the file must be a JSON object, not a list"),
    ],
)
def test_bad_jira_file(data, fragment):
    write_jira(data)
    message = error_of(config.load_jira_connection)
    assert str(paths.jira_config_path()) in message and fragment in message


def test_save_jira_connection_round_trip_keeps_unknown_keys():
    write_jira({"baseUrl": "https://old.atlassian.net", "theme": "dark"})
    conn = config.load_jira_connection(use_env=False)
    conn.base_url = "https://acme.atlassian.net/"
    conn.email = "me@example.com"
    conn.api_token = "saved-token-4321"
    conn.cloud_id = "cloud-1"
    conn.enabled = True
    saved = config.save_jira_connection(conn)
    assert saved.base_url == "https://acme.atlassian.net"
    assert json.loads(paths.jira_config_path().read_text()) == {
        "enabled": True,
        "baseUrl": "https://acme.atlassian.net",
        "cloudId": "cloud-1",
        "auth": {"email": "me@example.com", "apiToken": "saved-token-4321"},
        "theme": "dark",
    }
    assert config.load_jira_connection().api_token == "saved-token-4321"


def test_save_refuses_over_corrupt_jira_file():
    path = write_config("jira.json", '{"baseUrl": ')
    message = error_of(
        config.save_jira_connection, JiraConnection(base_url="https://a.atlassian.net")
    )
    assert f"{path}: invalid JSON at line 1, column 13" in message
    assert path.read_text() == '{"baseUrl": '
    assert "invalid JSON" in error_of(config.load_jira_connection)


def test_clear_jira_connection():
    assert config.clear_jira_connection() is False
    write_config("jira.json", "{ not json")
    assert config.clear_jira_connection() is True
    assert not paths.jira_config_path().exists()


def test_status_masks_token(monkeypatch):
    monkeypatch.setenv("JIRA_BASE_URL", "https://env.atlassian.net")
    monkeypatch.setenv("JIRA_API_TOKEN", "status-token-wxyz")
    status = config.load_jira_connection().status()
    assert status["token"] == "****wxyz"
    assert "status-token-wxyz" not in json.dumps(status)
    assert status["sources"]["base_url"] == "env"
    assert status["sources"]["cloud_id"] is None
    # a token without an e-mail is a Data Center personal access token: complete
    assert status["api_mode"] == "personal_access_token"
    assert status["problems"] == []


def test_jira_connection_personal_access_token_from_file(monkeypatch):
    write_jira(
        {"enabled": True, "baseUrl": "https://jira.example.org/jira", "auth": {"apiToken": "pat-1"}}
    )
    conn = config.load_jira_connection()
    assert (conn.email, conn.api_token) == (None, "pat-1")
    assert conn.api_mode == "personal_access_token"
    assert conn.api_base_url == "https://jira.example.org/jira"
    assert conn.problems() == []
    # JIRA_EMAIL from the environment turns it back into Cloud basic auth
    monkeypatch.setenv("JIRA_EMAIL", "me@example.com")
    assert config.load_jira_connection().api_mode == "personal"


def test_jira_connection_personal_access_token_sent_as_bearer():
    from indexer.jira import client_for_connection

    conn = config.JiraConnection(
        enabled=True, base_url="https://jira.example.org", api_token="pat-bearer-77"
    )
    saved = config.save_jira_connection(conn)
    assert json.loads(paths.jira_config_path().read_text())["auth"] == {
        "email": None,
        "apiToken": "pat-bearer-77",
    }
    with client_for_connection(config.load_jira_connection()) as client:
        assert client.auth.mode == "bearer"
        assert client.auth.authorization == "Bearer pat-bearer-77"
    assert saved.api_mode == "personal_access_token"


def test_jira_connection_service_account_still_needs_the_email():
    conn = config.JiraConnection(
        base_url="https://acme.atlassian.net", cloud_id="abc-123", api_token="sa-token-1"
    )
    assert conn.api_mode == "service_account"
    assert conn.problems() == ["no e-mail (auth.email / JIRA_EMAIL)"]
    only_url = config.JiraConnection(base_url="https://acme.atlassian.net")
    assert only_url.api_mode == "personal"
    assert len(only_url.problems()) == 2


# ------------------------------------------------------------------ connectors


def test_connector_registry_shape():
    (jira,) = connectors.list_connectors()
    assert jira["id"] == "jira" and jira["name"] == "Jira Connector"
    assert jira["category"] == "project_management"
    assert jira["url"] == "https://www.atlassian.com/software/jira"
    assert jira["processor"] == {"enabled": True, "name": "jira"}
    required = {key for key, spec in jira["config"].items() if spec["required"]}
    assert required == {"endpoint", "project_key"}
    assert connectors.get_connector("jira") == jira


def test_connector_registry_returns_copies():
    connectors.get_connector("jira")["name"] = "changed"
    assert connectors.get_connector("jira")["name"] == "Jira Connector"


def test_unknown_connector_lists_known_ids():
    assert (
        error_of(connectors.get_connector, "gitlab")
        == 'unknown connector "gitlab" (known connectors: jira)'
    )


def test_max_concurrency_round_trips_through_the_coco_payload():
    ds = config.validate_datasource(make(max_concurrency=12))
    out = ds.to_coco(mask_token=False)
    assert out["connector"]["config"]["max_concurrency"] == 12
    again = config.datasource_from_coco(out, warn=pytest.fail)  # a known key: no warning
    assert again.max_concurrency == 12
    assert (
        "max_concurrency" not in config.validate_datasource(make()).to_coco()["connector"]["config"]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  me@example.com ", "me@example.com"),
        ("José@x.org", "José@x.org"),
        ("John Smith", "John Smith"),  # a Data Center login may hold a space
    ],
)
def test_validate_username_accepts(value, expected):
    assert config.validate_username(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("me\t@example.com", "control characters"),
        ("me\n@example.com", "line breaks"),
        ("me:x@example.com", 'must not contain ":"'),
        ("me\x00@example.com", "control characters"),
    ],
)
def test_validate_username_refuses(value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config.validate_username(value)


def test_an_email_as_typed_has_no_spaces_but_a_saved_username_may():
    with pytest.raises(ConfigError, match="must not contain spaces"):
        config.validate_email("me @example.com")
    assert config.validate_email("me@example.com") == "me@example.com"


def test_a_datasource_username_with_a_colon_is_refused():
    ds = Datasource(
        name="w", endpoint="https://x.atlassian.net", project_key="ABC", username="a:b", token="t"
    )
    with pytest.raises(ConfigError, match='username "a:b" must not contain ":"'):
        config.add_datasource(ds)
    assert config.load_datasources() == []


def test_jira_email_with_a_colon_from_file_or_environment_is_refused(monkeypatch):
    monkeypatch.setenv("JIRA_BASE_URL", "https://x.atlassian.net")
    monkeypatch.setenv("JIRA_EMAIL", "me:x@example.com")
    with pytest.raises(ConfigError, match="JIRA_EMAIL"):
        config.load_jira_connection()
    monkeypatch.delenv("JIRA_EMAIL")
    conn = JiraConnection(base_url="https://x.atlassian.net", email="a:b", api_token="t")
    with pytest.raises(ConfigError, match='email "a:b" must not contain ":"'):
        config.save_jira_connection(conn)


def test_same_origin_is_scheme_host_and_port():
    assert config.same_origin("https://Acme.atlassian.net", "https://acme.atlassian.net:443/jira")
    assert not config.same_origin("https://acme.atlassian.net", "https://acme.atlasian.net")
    assert not config.same_origin("http://jira.local", "https://jira.local")
    assert not config.same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8081")
    assert not config.same_origin("https://acme.atlassian.net", None)
    assert not config.same_origin("not a url", "not a url")
    assert not config.same_origin("http://[::1", "http://[::1")
