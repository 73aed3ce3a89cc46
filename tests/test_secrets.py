"""A canary token goes through every command; then nothing may show it.

The canary is the token of a recorded fakejira session (cassettes/sync/
secrets_canary.yaml). After a run of every command it is searched for, plain and
as Basic-auth base64, in stdout/stderr, --json output, the logs, the index database
(with its WAL), task files, and every cassette of the repository. Only the config
files may hold it, with mode 0600. Every request the CLI made is watched: the
Authorization header goes to the Jira origin only, never to the attachment host
it redirects to, and never over plain http to a host that is not loopback.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from cassette_utils import CASSETTE_ROOT, FAKE_SITE, scrub
from click.testing import CliRunner
from replay_helpers import EMAIL, TOKEN, origin_of, world

import cli
from indexer import paths, secrets
from indexer.errors import JiradexError
from indexer.jira import JiraClient

WRONG = "wrong-canary-token-77e1d0"
FORMS = [
    TOKEN,
    WRONG,
    base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode(),
    base64.b64encode(f"{EMAIL}:{WRONG}".encode()).decode(),
]


def jiradex(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue().decode(), err.getvalue().decode()


class Watch:
    """Wraps the (cassette-patched) httpx transport: which requests carried credentials."""

    def __init__(self):
        self.sent: list[tuple[str, bool]] = []
        self.original = httpx.HTTPTransport.handle_request

    def __enter__(self):
        original, sent = self.original, self.sent

        def handle(transport, request):
            sent.append((str(request.url), "authorization" in request.headers))
            return original(transport, request)

        httpx.HTTPTransport.handle_request = handle
        return self

    def __exit__(self, *exc):
        httpx.HTTPTransport.handle_request = self.original


def _leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [form for form in FORMS if form.encode() in data]


def test_canary_token_through_every_command(monkeypatch):
    scrub(WRONG)
    monkeypatch.setenv("JIRADEX_CANARY", TOKEN)
    outputs: list[tuple[tuple[str, ...], int, str, str]] = []

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        code, out, err = jiradex(*args, stdin=stdin)
        outputs.append((args, code, out, err))
        if ok:
            assert code == 0, (args, out, err)
        return out

    with world("secrets_canary", issues=12, comments=True, attachments=True) as w:
        site = w.site
        with Watch() as watch:
            run("datasource", "add", "canary", "--endpoint", site, "--project", "DEMO",
                "--username", EMAIL, "--token-env", "JIRADEX_CANARY", "--comments",
                "--attachments")  # fmt: skip
            for args in (("datasource", "list"), ("datasource", "list", "--json"),
                         ("datasource", "show", "canary"),
                         ("datasource", "show", "canary", "--json"),
                         ("datasource", "test", "canary")):  # fmt: skip
                run(*args)
            run("sync", "--json")
            run("sync", "canary", "--full", "--json")
            run("search", "--json", "connection")
            run("search", "timeout")
            run("show", "DEMO-1")
            run("show", "DEMO-1", "--json")
            run("index", "check")
            run("connector", "list", "--json")
            run("connector", "show", "jira", "--json")
            run("jira", "connect", "--site", site, "--email", EMAIL,
                "--token-env", "JIRADEX_CANARY", "--yes")  # fmt: skip
            run("jira", "status")
            run("jira", "status", "--json")
            run("jira", "test", "--json")
            task = json.loads(run("task", "import", "DEMO-2", "--comments", "--json"))
            run("task", "list", "--json")
            run("task", "show", str(task["id"]))
            run("task", "result", str(task["id"]), "-", stdin="Fixed: the canary sang.\n")
            run("task", "post", str(task["id"]), "--json")
            run("task", "unlink", str(task["id"]))
            # A refused token: the error names the problem, never the token.
            run("datasource", "add", "wrong", "--endpoint", site, "--project", "DEMO",
                "--username", EMAIL, "--token", WRONG)  # fmt: skip
            run("sync", "wrong", "--json", ok=False)
            run("datasource", "test", "wrong", ok=False)
            run("datasource", "remove", "wrong", "--yes")
            monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
            run("jira", "status", "--json")
            monkeypatch.delenv("JIRA_API_TOKEN")
            run("jira", "disconnect")

    failed = [o for o in outputs if o[0][:2] == ("sync", "wrong")]
    assert failed and failed[0][1] == 1
    assert json.loads(failed[0][2])["status"] == "error"
    for args, _code, out, err in outputs:
        assert not _leaks(out + err), (args, out, err)
        assert "Traceback" not in out + err

    # Credentials only to the Jira origin; never to the redirected attachment host.
    api = origin_of(site)
    with_auth = [url for url, auth in watch.sent if auth]
    assert with_auth and all(origin_of(url) == api for url in with_auth)
    downloads = [url for url, auth in watch.sent if "/file/" in url]
    assert downloads and all(origin_of(url) != api for url in downloads)

    # Files: only the config holds the token, privately.
    home = paths.home_override()
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        leaks = _leaks(path.read_bytes())
        if path.parent == paths.config_dir() and leaks:
            assert path.stat().st_mode & 0o077 == 0, f"{path} holds a token and is readable"
        else:
            assert not leaks, f"{path} holds a token"
    assert paths.index_path().exists()  # the index was among the files searched
    ds_file = paths.datasources_path()
    assert ds_file.exists() and ds_file.stat().st_mode & 0o777 == 0o600


def test_no_cassette_in_the_repository_holds_a_test_token():
    known = FORMS + ["fake-api-token", "demo-token-not-a-secret"]
    files = [p for p in Path(CASSETTE_ROOT).rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        data = path.read_bytes()
        hits = [k for k in known if k.encode() in data]
        assert not hits, f"{path.relative_to(CASSETTE_ROOT)} holds {hits}"
        assert b"Authorization" not in data and b"authorization:" not in data.lower()


# --- the client's rules, without any network --------------------------------------------


def _client(site: str, handler) -> JiraClient:
    return JiraClient(site, EMAIL, TOKEN, transport=httpx.MockTransport(handler))


def test_no_credentials_over_plain_http_to_a_remote_host():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"displayName": "x"})

    client = _client("http://jira.example.com", handler)
    with pytest.raises(JiradexError) as info:
        client.myself()
    assert "http" in str(info.value).lower()
    assert not [r for r in seen if "authorization" in r.headers]
    assert TOKEN not in str(info.value) and TOKEN not in repr(client)


def test_redirect_to_another_origin_gets_no_credentials():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        if request.url.host == "jira.example.com":
            return httpx.Response(302, headers={"Location": "https://cdn.example.net/f/1.txt"})
        return httpx.Response(200, text="file body", headers={"Content-Type": "text/plain"})

    client = _client("https://jira.example.com", handler)
    data = client.download_attachment("https://jira.example.com/rest/api/3/attachment/content/1")
    assert data == b"file body"
    assert [("authorization" in r.headers, r.url.host) for r in seen] == [
        (True, "jira.example.com"),
        (False, "cdn.example.net"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        f"bad token {TOKEN}",
        f"Authorization: Basic {base64.b64encode(f'{EMAIL}:{TOKEN}'.encode()).decode()}",
        json.dumps({"errorMessages": [f"token {TOKEN} is not valid"]}),
    ],
    ids=["plain", "basic-header-echo", "json-message"],
)
@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_error_text_never_holds_the_token(body, status):
    """A proxy or server echoing the credentials back: the error stays clean."""
    client = _client("https://jira.example.com", lambda request: httpx.Response(status, text=body))
    client.retry.sleep = lambda s: None
    with pytest.raises(JiradexError) as info:
        client.myself()
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert not _leaks(text), text
    assert not _leaks(secrets.redact(body)), "redact() must hide both forms"
    assert FAKE_SITE not in text


@pytest.mark.parametrize("where", ["--token", "JIRA_API_TOKEN", "jira.json"])
def test_a_refused_url_holding_the_token_is_shown_without_it(where, monkeypatch):
    """A token pasted into the URL too was echoed by the error about that URL: the
    token was registered for redaction only after the URL had been checked."""
    token = f"cnry-{len(where)}-5e9c1f"  # short, so that the quoted URL is not cut
    url = f"https://x.io/?t={token}"
    if where == "--token":
        args = ("datasource", "add", "x", "--endpoint", url, "--project", "AB", "--token", token)
    elif where == "JIRA_API_TOKEN":
        monkeypatch.setenv("JIRA_BASE_URL", url)
        monkeypatch.setenv("JIRA_API_TOKEN", token)
        args = ("jira", "status")
    else:
        paths.ensure_dir(paths.jira_config_path().parent)
        paths.jira_config_path().write_text(
            json.dumps({"enabled": True, "baseUrl": url, "auth": {"apiToken": token}})
        )
        args = ("jira", "status")
    code, out, err = jiradex(*args)
    assert code == 1 and "query string" in err, err
    assert token not in out + err
