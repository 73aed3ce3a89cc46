"""`jiradex jira connect|test` and `jiradex datasource test` over recorded HTTP.

Each test replays one cassette from `cassettes/cli/` (no server, `record_mode="none"`).
The cassettes were recorded against fakejira in its four modes (Cloud, Data Center,
anonymous Server, service-account gateway). Re-recording (starts fakejira; serially):

    JIRADEX_RECORD=1 /work/venv/bin/pytest -q -p no:xdist tests/test_cli_jira.py

Commands run through CliRunner and the real `cli.main`, so exit codes and the
one-line errors are what a user sees. The wizard is driven through its prompts.
"""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
from cassette_utils import FAKE_GATEWAY, FAKE_SITE, OriginMap, make_vcr, recording, scrub
from cli_runner import run

import cli
from indexer import config, paths
from indexer.tasks import TaskLink, TaskStore

PROJECT = "ACME"
EMAIL = "cli.tester@example.com"
TOKEN = "cli-cloud-token-93b1"
DC_TOKEN = "cli-dc-pat-0c77"
SA_EMAIL = "cli-bot@serviceaccount.atlassian.com"
SA_TOKEN = "cli-scoped-token-e51d"
WRONG_TOKEN = "cli-wrong-token-0000"
CLOUD_ID = "5b1f0b7e-3c2d-4a8e-9f60-7d4c3b2a1908"
scrub(TOKEN, DC_TOKEN, SA_TOKEN, WRONG_TOKEN)


class Jira:
    """The Jira of one test: fakejira while recording, the fixed origins on replay."""

    def __init__(self, mode: str, monkeypatch):
        self.mode = mode
        self.fj = None
        mapping: dict[str, str] = {}
        self.email = SA_EMAIL if mode == "gateway" else EMAIL
        self.token = {"datacenter": DC_TOKEN, "gateway": SA_TOKEN}.get(mode, TOKEN)
        if recording():
            from fakejira import FakeJira

            self.fj = FakeJira(
                mode=mode,
                issues=3,
                project=PROJECT,
                email=self.email,
                token=self.token,
                cloud_id=CLOUD_ID,
            ).start()
            self.site, self.gateway = self.fj.url, self.fj.gateway_url
            if mode == "gateway":  # one port serves both: the /ex/jira prefix tells them apart
                mapping[f"{self.gateway}/ex/jira"] = f"{FAKE_GATEWAY}/ex/jira"
            mapping[self.site] = FAKE_SITE
        else:
            self.site, self.gateway = FAKE_SITE, FAKE_GATEWAY
        monkeypatch.setenv("JIRADEX_GATEWAY_URL", self.gateway)
        self.origins = OriginMap(mapping)

    @property
    def gateway_api(self) -> str:
        return f"{self.gateway}/ex/jira/{CLOUD_ID}"

    def cassette(self, name: str):
        return make_vcr(self.origins).use_cassette(f"cli/{name}.yaml")

    def add_datasource(self, name: str = "acme", **overrides) -> None:
        fields = {"name": name, "endpoint": self.site, "project_key": PROJECT}
        if self.mode == "cloud":
            fields.update(username=EMAIL, token=TOKEN)
        elif self.mode == "datacenter":
            fields.update(token=DC_TOKEN)
        elif self.mode == "gateway":
            fields.update(username=SA_EMAIL, token=SA_TOKEN, cloud_id=CLOUD_ID)
        fields.update(overrides)
        config.add_datasource(config.Datasource(**fields))

    def stop(self) -> None:
        if self.fj is not None:
            self.fj.stop()


@pytest.fixture
def make_jira(monkeypatch):
    made: list[Jira] = []

    def make(mode: str = "cloud") -> Jira:
        jira = Jira(mode, monkeypatch)
        made.append(jira)
        return jira

    yield make
    for jira in made:
        jira.stop()


@pytest.fixture
def sent(monkeypatch):
    """URLs of every request any httpx client sends, in order."""
    urls: list[str] = []
    real_send = httpx.Client.send

    def spy(self, request, **kwargs):
        urls.append(str(request.url))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", spy)
    return urls


@pytest.fixture
def browser(monkeypatch):
    """Pages the wizard asked the browser to open (none is really opened)."""
    import webbrowser

    opened: list[str] = []

    def fake_open(url, new=0, autoraise=True):
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    return opened


def ok(*args: str, **kwargs):
    result = run(*args, **kwargs)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result


def failed_line(result) -> str:
    """The single stderr line of a command that exited 1."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def rows(text: str) -> dict[str, str]:
    """`label  value` lines of a connection report, as a dict."""
    out = {}
    for line in text.splitlines():
        label, _, value = line.partition("  ")
        if value:
            out[label.strip()] = value.strip()
    return out


def saved_connection() -> dict:
    return json.loads(paths.jira_config_path().read_text())


def connect_args(jira: Jira, *extra: str) -> list[str]:
    return ["jira", "connect", "--token-stdin", "--site", jira.site, "--email", jira.email, *extra]


# --------------------------------------------------------------------------- jira connect (flags)


def test_connect_with_flags_tests_then_saves(make_jira, sent):
    jira = make_jira("cloud")
    with jira.cassette("connect_cloud_flags"):
        result = ok(*connect_args(jira), stdin=TOKEN + "\n")
        tested = ok("jira", "test", "--project", "acme")
    report = rows(result.stdout)
    assert report["signed in as"] == f"Fake Tester <{EMAIL}>"
    assert report["deployment"] == "Jira Cloud, REST v3, search/jql with nextPageToken"
    assert result.stdout.rstrip().endswith(
        f"Saved the Jira connection to {paths.jira_config_path()} (readable only by you)."
    )
    assert TOKEN not in result.output
    assert saved_connection() == {
        "enabled": True,
        "baseUrl": jira.site,
        "auth": {"email": EMAIL, "apiToken": TOKEN},
    }
    assert rows(tested.stdout)["project"] == "ACME (Acme project): visible"
    assert sent == [
        f"{jira.site}/rest/api/2/serverInfo",
        f"{jira.site}/rest/api/3/myself",
        f"{jira.site}/rest/api/2/serverInfo",
        f"{jira.site}/rest/api/3/myself",
        f"{jira.site}/rest/api/3/project/ACME",
    ]


def test_connect_with_a_wrong_token_saves_nothing(make_jira):
    jira = make_jira("cloud")
    with jira.cassette("connect_cloud_wrong_token"):
        result = run(*connect_args(jira, "--yes"), stdin=WRONG_TOKEN)
    line = failed_line(result)
    assert line.startswith(
        f"jiradex: connection test failed, nothing saved: Authentication failed for {jira.site}"
    )
    assert WRONG_TOKEN not in result.output
    assert not paths.jira_config_path().exists()


def test_connect_with_every_value_as_a_flag_never_asks_to_save_a_failed_test(
    make_jira, monkeypatch
):
    """--site, --email and --token-env mean no wizard, yet a failed test still asked
    "Save the connection anyway?": a script read "aborted (no answer at a prompt)"
    after the test's own error line."""
    jira = make_jira("cloud")
    monkeypatch.setenv("MY_JIRA_TOKEN", WRONG_TOKEN)
    args = [
        "jira",
        "connect",
        "--site",
        jira.site,
        "--email",
        EMAIL,
        "--token-env",
        "MY_JIRA_TOKEN",
    ]
    with jira.cassette("connect_flags_wrong_token"):
        result = run(*args, stdin="y\n")
    line = failed_line(result)
    assert line.startswith(
        f"jiradex: connection test failed, nothing saved: Authentication failed for {jira.site}"
    )
    assert "Save the connection anyway" not in result.output
    assert not paths.jira_config_path().exists()


def test_connect_service_account_fetches_the_cloud_id(make_jira, sent):
    jira = make_jira("gateway")
    with jira.cassette("connect_gateway_flags"):
        result = ok(*connect_args(jira, "--service-account", "--yes"), stdin=SA_TOKEN)
        tested = ok("jira", "test", "--project", PROJECT, "--json")
    assert saved_connection() == {
        "enabled": True,
        "baseUrl": jira.site,
        "cloudId": CLOUD_ID,
        "auth": {"email": SA_EMAIL, "apiToken": SA_TOKEN},
    }
    assert rows(result.stdout)["site"] == f"{jira.site} (API calls through {jira.gateway_api})"
    # tenant_info on the site, then everything else through the gateway
    assert sent[0] == f"{jira.site}/_edge/tenant_info"
    assert all(url.startswith(jira.gateway_api + "/rest/api/3/") for url in sent[1:])
    report = json.loads(tested.stdout)
    assert report["auth_mode"] == "service_account"
    assert report["api_base"] == jira.gateway_api
    assert report["deployment_type"] == "Cloud"
    assert report["user"] == "Fake Tester"
    assert report["account"]["emailAddress"] == SA_EMAIL
    assert report["project"] == {"key": PROJECT, "name": "Acme project", "visible": True}
    status = json.loads(ok("jira", "status", "--json").stdout)
    assert status["api_mode"] == "service_account"
    assert status["token"] == "****" + SA_TOKEN[-4:]


def test_service_account_without_a_cloud_id_on_data_center_fails(make_jira):
    jira = make_jira("datacenter")
    with jira.cassette("connect_tenant_info_missing"):
        result = run(*connect_args(jira, "--service-account"), stdin=DC_TOKEN)
    line = failed_line(result)
    assert line == (
        f"jiradex: Cannot read the cloud id of {jira.site} (HTTP 404 from /_edge/tenant_info): "
        "is it a Jira Cloud site? You can type the cloud id instead (or pass --cloud-id ID)"
    )
    assert not paths.jira_config_path().exists()


def test_personal_token_sent_straight_to_the_site_gets_the_service_account_hint(make_jira):
    """A scoped service-account token used without the cloud id: Jira's 401 body is
    "Client must be authenticated...", and the message says what to change."""
    jira = make_jira("gateway")
    with jira.cassette("connect_gateway_without_cloud_id"):
        result = run(*connect_args(jira), stdin=SA_TOKEN)
    line = failed_line(result)
    assert "nothing saved" in line
    assert "set the cloud id and use the service account's e-mail" in line


# --------------------------------------------------------------------------- the wizard


def test_wizard_personal_account(make_jira, browser):
    jira = make_jira("cloud")
    answers = "\n".join(
        [
            "personal",
            "jira.example.com",  # refused: no scheme, asked again
            jira.site,
            EMAIL,
            "y",  # open the token page
            TOKEN,
        ]
    )
    with jira.cassette("wizard_cloud_personal"):
        result = ok("jira", "connect", stdin=answers + "\n")
    out = result.stdout
    assert (
        "Account type (personal: your own Atlassian account; service: a service account; "
        "pat: Data Center / Server (personal access token)) (personal, service, pat) [personal]"
    ) in out
    assert 'Error: endpoint "jira.example.com" has no scheme' in out
    assert out.count("Jira site URL") == 2
    assert browser == ["https://id.atlassian.com/manage-profile/security/api-tokens"]
    assert TOKEN not in result.output  # hidden input is never echoed
    assert f"signed in as  Fake Tester <{EMAIL}>" in out
    assert saved_connection()["auth"] == {"email": EMAIL, "apiToken": TOKEN}
    assert "cloudId" not in saved_connection()


def test_wizard_service_account_accepts_the_fetched_cloud_id(make_jira, browser):
    jira = make_jira("gateway")
    answers = "\n".join(["service", jira.site, "", SA_EMAIL, "n", SA_TOKEN])
    with jira.cassette("wizard_gateway"):
        result = ok("jira", "connect", stdin=answers + "\n")
    out = result.stdout
    assert f"Found the site's cloud id: {CLOUD_ID}" in out
    assert f"Cloud id [{CLOUD_ID}]" in out
    assert "Service account e-mail" in out
    assert "https://admin.atlassian.com" in out
    assert browser == []
    assert saved_connection()["cloudId"] == CLOUD_ID
    assert f"(API calls through {jira.gateway_api})" in out


def test_wizard_types_the_cloud_id_when_it_cannot_be_fetched(make_jira):
    """Data Center has no tenant_info: the wizard says so and lets the user type it."""
    jira = make_jira("datacenter")
    answers = "\n".join(["service", jira.site, "", "bad/id", CLOUD_ID, SA_EMAIL, "n", SA_TOKEN])
    with jira.cassette("wizard_cloud_id_typed"):
        result = run("jira", "connect", "--no-test", stdin=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "Could not fetch the cloud id: Cannot read the cloud id" in result.stderr
    assert 'Error: cloud_id "bad/id" must be the site\'s cloud id' in result.stdout
    assert saved_connection()["cloudId"] == CLOUD_ID


def test_wizard_asks_before_saving_a_connection_that_failed(make_jira):
    jira = make_jira("cloud")
    refuse = "\n".join(["personal", jira.site, EMAIL, "n", WRONG_TOKEN, "n"])
    accept = "\n".join(["personal", jira.site, EMAIL, "n", WRONG_TOKEN, "y"])
    with jira.cassette("wizard_failed_test"):
        refused = run("jira", "connect", stdin=refuse + "\n")
        assert not paths.jira_config_path().exists()
        accepted = run("jira", "connect", stdin=accept + "\n")
    assert refused.exit_code == 1
    errors = refused.stderr.splitlines()
    assert errors[0].startswith("jiradex: connection test failed: Authentication failed")
    assert errors[-1] == "jiradex: nothing saved"
    assert "Save the connection anyway? [y/N]" in refused.stdout
    assert accepted.exit_code == 0, accepted.output
    assert saved_connection()["auth"]["apiToken"] == WRONG_TOKEN
    assert WRONG_TOKEN not in refused.output + accepted.output


def test_wizard_offers_the_saved_values_as_defaults(make_jira):
    jira = make_jira("cloud")
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url=jira.site, email=EMAIL, api_token="old-0000")
    )
    with jira.cassette("wizard_defaults"):
        result = ok("jira", "connect", stdin="\n\n\nn\n" + TOKEN + "\n")
    assert f"Jira site URL [{jira.site}]" in result.stdout
    assert f"Atlassian account e-mail [{EMAIL}]" in result.stdout
    assert saved_connection()["auth"]["apiToken"] == TOKEN


# --------------------------------------------------------------------------- Data Center PAT


@pytest.fixture
def auth_sent(monkeypatch):
    """The Authorization header of every request sent (cassettes never hold it)."""
    headers: list[str | None] = []
    real_send = httpx.Client.send

    def spy(self, request, **kwargs):
        headers.append(request.headers.get("authorization"))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", spy)
    return headers


def status_rows(text: str) -> dict[str, str]:
    """`jira status` rows (indented `label  value` lines), as a dict."""
    return rows("\n".join(line.strip() for line in text.splitlines()))


def test_connect_data_center_personal_access_token_with_flags(make_jira, auth_sent):
    jira = make_jira("datacenter")
    args = ["jira", "connect", "--token-stdin", "--site", jira.site, "--pat"]
    with jira.cassette("connect_datacenter_pat_flags"):
        result = ok(*args, stdin=DC_TOKEN + "\n")
        tested = ok("jira", "test", "--project", PROJECT, "--json")
    report = rows(result.stdout)
    assert report["signed in as"] == f"Fake Tester <{EMAIL}>"
    assert report["deployment"] == "Jira Data Center 10.3.0, REST v2, search with startAt"
    assert "e-mail" not in result.stdout.lower()  # never asked, never needed
    assert saved_connection() == {
        "enabled": True,
        "baseUrl": jira.site,
        "auth": {"email": None, "apiToken": DC_TOKEN},
    }
    assert auth_sent and set(auth_sent) == {f"Bearer {DC_TOKEN}"}
    assert DC_TOKEN not in result.output + tested.output
    test_report = json.loads(tested.stdout)
    assert test_report["auth_mode"] == "bearer"
    assert test_report["project"] == {"key": PROJECT, "name": "Acme project", "visible": True}
    status = ok("jira", "status")
    shown = status_rows(status.stdout)
    assert shown["API mode"] == "personal access token"
    assert shown["e-mail"] == "-"
    assert "missing" not in status.stdout
    assert json.loads(ok("jira", "status", "--json").stdout)["api_mode"] == (
        "personal_access_token"
    )


def test_connect_data_center_with_a_wrong_personal_access_token(make_jira):
    jira = make_jira("datacenter")
    args = ["jira", "connect", "--token-stdin", "--site", jira.site, "--pat", "--yes"]
    with jira.cassette("connect_datacenter_pat_wrong_token"):
        result = run(*args, stdin=WRONG_TOKEN)
    assert failed_line(result) == (
        "jiradex: connection test failed, nothing saved: Authentication failed for "
        f"{jira.site}: check the personal access token (Data Center), or add the e-mail "
        "if this is a Cloud API token"
    )
    assert WRONG_TOKEN not in result.output
    assert not paths.jira_config_path().exists()


def test_pat_refuses_an_email():
    result = run("jira", "connect", "--pat", "--email", EMAIL, "--site", FAKE_SITE, "--yes")
    assert result.exit_code == 2, result.output
    assert "--pat takes no --email" in result.stderr
    assert not paths.jira_config_path().exists()


def test_environment_base_url_and_token_without_email_is_a_data_center_pat(
    make_jira, monkeypatch, auth_sent
):
    jira = make_jira("datacenter")
    monkeypatch.setenv("JIRA_BASE_URL", jira.site)
    monkeypatch.setenv("JIRA_API_TOKEN", DC_TOKEN)
    with jira.cassette("jira_test_datacenter_pat_env"):
        tested = ok("jira", "test", "--project", PROJECT)
    assert rows(tested.stdout)["project"] == "ACME (Acme project): visible"
    assert set(auth_sent) == {f"Bearer {DC_TOKEN}"}
    shown = status_rows(ok("jira", "status").stdout)
    assert shown["API mode"] == "personal access token"
    assert shown["token"] == "****" + DC_TOKEN[-4:] + "  [env JIRA_API_TOKEN]"


def test_wizard_data_center_personal_access_token(make_jira, browser):
    jira = make_jira("datacenter")
    answers = "\n".join(["pat", jira.site, "y", DC_TOKEN])
    with jira.cassette("wizard_datacenter_pat"):
        result = ok("jira", "connect", stdin=answers + "\n")
    out = result.stdout
    assert "e-mail [" not in out and "e-mail:" not in out  # no e-mail question
    assert "Personal access token (input hidden)" in out
    assert browser == [f"{jira.site}{cli.PAT_PAGE}"]
    assert DC_TOKEN not in result.output
    assert "Jira Data Center 10.3.0" in out
    assert saved_connection()["auth"] == {"email": None, "apiToken": DC_TOKEN}


def test_wizard_offers_pat_when_the_saved_connection_is_one():
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url=FAKE_SITE, api_token="old-pat-1111")
    )
    result = ok("jira", "connect", "--no-test", stdin="\n\nn\nnew-pat-2222\n")
    assert "(personal, service, pat) [pat]" in result.stdout
    assert saved_connection()["auth"] == {"email": None, "apiToken": "new-pat-2222"}


def test_wizard_never_echoes_a_wrong_account_type_which_may_be_the_token():
    """Answers typed one prompt early put the token at the account-type prompt, and
    click.Choice's error repeated it: "'secret' is not one of ..."."""
    result = run("jira", "connect", "--no-test", stdin="tok-secret-9999\n")
    said = (result.stdout + result.stderr).splitlines()  # the runner echoes what is typed
    errors = [line for line in said if line.startswith("Error")]
    assert errors == ["Error: answer personal, service or pat"]


# --------------------------------------------------------------------------- jira test


def test_jira_test_reports_a_missing_project_and_exits_1(make_jira):
    jira = make_jira("cloud")
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url=jira.site, email=EMAIL, api_token=TOKEN)
    )
    with jira.cassette("jira_test_missing_project"):
        result = run("jira", "test", "--project", "NOPE")
    assert failed_line(result) == (
        "jiradex: Project NOPE does not exist or you do not have permission to see it"
    )
    assert rows(result.stdout)["project"] == "NOPE: NOT visible"
    assert rows(result.stdout)["signed in as"] == f"Fake Tester <{EMAIL}>"


def test_jira_test_with_a_revoked_token(make_jira):
    jira = make_jira("cloud")
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url=jira.site, email=EMAIL, api_token=WRONG_TOKEN)
    )
    with jira.cassette("jira_test_revoked"):
        result = run("jira", "test")
    assert failed_line(result).startswith(f"jiradex: Authentication failed for {jira.site}")
    assert result.stdout == ""


def test_jira_test_with_an_incomplete_connection():
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url="https://acme.atlassian.net")
    )
    line = failed_line(run("jira", "test"))
    assert line == (
        "jiradex: the Jira connection is incomplete: no e-mail (auth.email / JIRA_EMAIL); "
        "no API token (auth.apiToken / JIRA_API_TOKEN); run `jiradex jira connect`"
    )


def test_jira_test_enabled_without_a_site_says_what_is_missing():
    """It said "Jira integration not enabled" to a user who had set JIRA_ENABLED=true."""
    env = {"JIRA_ENABLED": "true", "JIRA_EMAIL": "me@example.com", "JIRA_API_TOKEN": "t" * 24}
    line = failed_line(run("jira", "test", env=env))
    assert line == (
        "jiradex: the Jira connection is incomplete: no site URL (baseUrl / JIRA_BASE_URL); "
        "run `jiradex jira connect`"
    )


# --------------------------------------------------------------------------- datasource test


@pytest.mark.parametrize(
    ("mode", "who", "deployment"),
    [
        ("cloud", f"Fake Tester <{EMAIL}>", "Jira Cloud, REST v3, search/jql with nextPageToken"),
        (
            "datacenter",
            f"Fake Tester <{EMAIL}>",
            "Jira Data Center 10.3.0, REST v2, search with startAt",
        ),  # fmt: skip
        (
            "anonymous",
            "nobody: anonymous access",
            "Jira Server 9.12.15, REST v2, search with startAt",
        ),  # fmt: skip
        (
            "gateway",
            f"Fake Tester <{SA_EMAIL}>",
            "Jira Cloud, REST v3, search/jql with nextPageToken",
        ),  # fmt: skip
    ],
)
def test_datasource_test_in_every_auth_mode(make_jira, mode, who, deployment):
    jira = make_jira(mode)
    jira.add_datasource()
    with jira.cassette(f"datasource_test_{mode}"):
        result = ok("datasource", "test", "acme")
    report = rows(result.stdout)
    assert report["signed in as"] == who
    assert report["deployment"] == deployment
    assert report["project"] == "ACME (Acme project): visible"
    site = jira.site if mode != "gateway" else f"{jira.site} (API calls through {jira.gateway_api})"
    assert report["site"] == site


def test_datasource_test_json(make_jira):
    jira = make_jira("datacenter")
    jira.add_datasource()
    with jira.cassette("datasource_test_json"):
        result = ok("datasource", "test", "ACME", "--json")
    report = json.loads(result.stdout)
    assert report["datasource"] == "acme"
    assert report["auth_mode"] == "bearer"
    assert report["deployment"] == "datacenter"
    assert report["deployment_type"] == "Data Center"
    assert report["server_version"] == "10.3.0"
    assert report["account"]["name"] == "tester"
    assert report["project"]["visible"] is True


def test_datasource_test_failures_are_one_line(make_jira):
    jira = make_jira("datacenter")
    jira.add_datasource("wrong", token=WRONG_TOKEN)
    jira.add_datasource("elsewhere", project_key="OTHER")
    with jira.cassette("datasource_test_failures"):
        wrong = run("datasource", "test", "wrong")
        elsewhere = run("datasource", "test", "elsewhere")
    assert failed_line(wrong) == (
        f"jiradex: Authentication failed for {jira.site}: check the personal access token "
        "(Data Center), or add the e-mail if this is a Cloud API token"
    )
    assert failed_line(elsewhere) == (
        "jiradex: Project OTHER does not exist or you do not have permission to see it"
    )
    assert rows(elsewhere.stdout)["project"] == "OTHER: NOT visible"


@pytest.mark.parametrize(("mode", "about"), [("cloud", "about "), ("datacenter", "")])
def test_datasource_test_tries_the_datasources_jql(make_jira, mode, about):
    """The test passed a JQL Jira refuses; only the first sync found out."""
    jira = make_jira(mode)
    jira.add_datasource("good", jql="created >= 2000-01-01")
    jira.add_datasource("bad", jql="nosuchfield = 3")
    with jira.cassette(f"datasource_test_jql_{mode}"):
        good = ok("datasource", "test", "good")
        bad = run("datasource", "test", "bad")
        as_json = run("datasource", "test", "bad", "--json")
    assert rows(good.stdout)["jql"] == f"created >= 2000-01-01: {about}3 issues"
    assert rows(bad.stdout)["jql"] == "nosuchfield = 3: REFUSED by Jira"
    assert failed_line(bad) == (
        "jiradex: the datasource's jql: Jira rejected the request: Field 'nosuchfield' does "
        "not exist or you do not have permission to view it."
    )
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["jql"]["valid"] is False


def test_datasource_test_unknown_name():
    assert failed_line(run("datasource", "test", "ghost")).startswith(
        'jiradex: no datasource named "ghost"'
    )


def test_cassettes_hold_no_tokens():
    from cassette_utils import cassette_files

    files = list(cassette_files("cli"))
    assert len(files) >= 18
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in (TOKEN, DC_TOKEN, SA_TOKEN, WRONG_TOKEN):
            assert secret not in text, path.name
        assert "authorization:" not in text.lower(), path.name


def test_connect_refuses_an_email_with_a_space_before_testing_anything(monkeypatch):
    """`--email 'a b'` was saved as is, and every call then failed with a 401."""
    monkeypatch.setenv("MY_JIRA_TOKEN", "tok-0000")
    result = run(
        "jira", "connect", "--site", "https://x.atlassian.net", "--email", "a b",
        "--token-env", "MY_JIRA_TOKEN", "--yes",
    )  # fmt: skip
    assert result.exit_code != 0
    assert failed_line(result) == (
        'jiradex: --email "a b" must not contain spaces (it is your Atlassian account e-mail)'
    )
    assert not paths.jira_config_path().exists()


def test_a_connection_switched_off_says_so_and_where_not_run_jira_connect():
    """With JIRA_ENABLED=false over a saved connection, `jira test`, task import and
    post all said "run `jiradex jira connect`": doing so changed nothing, as the
    variable still won."""
    config.save_jira_connection(
        config.JiraConnection(
            enabled=True,
            base_url="https://acme.atlassian.net",
            email="me@example.com",
            api_token="tok-switched-off-1",
        )
    )
    env = {"JIRA_ENABLED": "false"}
    off_by_env = (
        "the Jira connection to https://acme.atlassian.net is switched off by JIRA_ENABLED "
        "in the environment (unset it, or set it to true)"
    )
    assert failed_line(run("jira", "test", env=env)) == f"jiradex: {off_by_env}"
    assert failed_line(run("task", "import", "ACME-7", env=env)) == (
        "jiradex: Issue ACME-7 is not in the index, no datasource of ACME can fetch it, "
        f"and {off_by_env}"
    )
    task = TaskStore().create(
        "task",
        "ACME-7: x",
        "x",
        TaskLink("ACME-7", "7", "", "https://acme.atlassian.net/browse/ACME-7"),
    )
    TaskStore().set_result(task.id, "done")
    assert failed_line(run("task", "post", str(task.id), env=env)) == (
        "jiradex: Jira integration not enabled: the task came through the Jira connection, "
        f"and {off_by_env}"
    )
    # Switched off in jira.json itself: the file says so.
    saved = config.load_jira_connection(use_env=False)
    config.save_jira_connection(dataclasses.replace(saved, enabled=False))
    assert failed_line(run("jira", "test")) == (
        "jiradex: the Jira connection to https://acme.atlassian.net is switched off "
        f'("enabled": false in {paths.jira_config_path()}; `jiradex jira connect` saves it '
        "switched on)"
    )


def test_wizard_lines_about_a_failure_cannot_drive_the_terminal(monkeypatch):
    """The wizard's own lines (a cloud id not fetched, a failed test it asks about)
    printed the site's text raw: an answer carrying ESC sequences reached the
    terminal, as 557d69e had stopped for every other line."""
    import indexer.jira
    from indexer.jira.errors import JiraAuthError, JiraResponseError

    def no_cloud_id(site):
        raise JiraResponseError("Cannot read the cloud id: \x1b]0;owned\x07\x1b[2Jgone")

    class Refusing:
        def __enter__(self):
            raise JiraAuthError("Authentication failed: \x1b[31mred\x1b[0m")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(indexer.jira, "fetch_cloud_id", no_cloud_id)
    monkeypatch.setattr(indexer.jira, "client_for_connection", lambda *a, **k: Refusing())
    site = "https://acme.atlassian.net"
    answers = "\n".join(["service", site, "", CLOUD_ID, SA_EMAIL, "n", SA_TOKEN, "n"])
    result = run("jira", "connect", stdin=answers + "\n")
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "Could not fetch the cloud id: Cannot read the cloud id: gone" in result.stderr
    assert "jiradex: connection test failed: Authentication failed: red" in result.stderr
