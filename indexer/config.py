"""Datasources and the global Jira connection: loading, validation and safe saving.

Two files in `paths.config_dir()`:

* `datasources.json`: a JSON list of datasources in Coco's shape, so a payload from
  Coco's docs can be pasted in unchanged::

    {"name": "My Jira Cloud", "type": "connector", "enabled": true,
     "connector": {"id": "jira", "config": {"endpoint": "https://x.atlassian.net",
        "username": "me@example.com", "token": "...", "project_key": "PROJ",
        "index_comments": true, "index_attachments": true}},
     "sync": {"enabled": true, "interval": "30s"}}

  Defaults follow Coco: `enabled` true, `index_comments` and `index_attachments`
  false, `sync.enabled` true; the sync interval defaults to "5m" (Coco's own examples
  use it). Optional connector-config keys: `cloud_id` (service account through the
  Atlassian gateway), `jql` (narrows the project's issues), `attachment_max_bytes` and
  `max_concurrency` (requests in flight while syncing, default 6, at most 32).
  Unknown keys are kept and written back.

* `jira.json`: the global connection in CoderFlow's shape, `{"enabled", "baseUrl",
  "cloudId"?, "auth": {"email", "apiToken"}}`; the `JIRA_*` environment variables
  override it field by field. A token without an e-mail is a Data Center / Server
  personal access token, sent as `Authorization: Bearer` (the datasources' rule).

Both files hold tokens, so they are written atomically with mode 0600 in a 0700
directory. A file that is not valid JSON is reported with its line and column and
is never overwritten: every command that would save refuses until it is fixed.
Decisions worth knowing: project keys are upper-cased (Jira keys are upper case);
issue keys must already be upper case; plain http is refused except on loopback
because a token would travel in clear text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from indexer import connectors, paths, secrets
from indexer.errors import ConfigError

DEFAULT_INTERVAL = "5m"
DEFAULT_MAX_CONCURRENCY = 6  # the Jira client's default requests in flight
MAX_CONCURRENCY = 32  # politeness: more than this in flight is not a client, it is a load test
MAX_INTERVAL_SECONDS = 365 * 86400
MAX_NAME_LENGTH = 100
DEFAULT_GATEWAY_URL = "https://api.atlassian.com"

Warn = Callable[[str], None]

# ------------------------------------------------------------------ validators


_INTERVAL_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_INTERVAL_FORMS = "a duration like 30s, 5m, 1h, 1d or 1h30m"
_PROJECT_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,254}$")
# The one issue-key rule (client, query parser and CLI use it too): a project key,
# a dash, an issue number from 1. Jira finds keys case-insensitively.
ISSUE_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,254}-[1-9][0-9]*$", re.IGNORECASE)
_CLOUD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HOST_RE = re.compile(r"^[\w.-]+$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
_HOST_PORT_RE = re.compile(r"^[^:/]+:[0-9]")
_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#@]*@")


def _shown(value: Any, limit: int = 60) -> str:
    """A value as it appears in a message: JSON, shortened, one line."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = text.encode("unicode_escape").decode("ascii") if _has_control(text) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal(value: Any) -> str:
    """A wrong value as JSON (strings quoted), shortened, for "must be X, not Y"."""
    return _shown(json.dumps(value, ensure_ascii=False))


def _without_userinfo(url: str) -> str:
    """The URL with any `user:password@` replaced by `***@`."""
    return _USERINFO_RE.sub(lambda m: (m.group(1) or "") + "***@", url, count=1)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def parse_interval(text: Any) -> int:
    """Seconds in a sync interval such as "30s", "5m", "1h", "1d" or "1h30m"."""
    if not isinstance(text, str):
        raise ConfigError(f"interval must be {_INTERVAL_FORMS}, not {_shown(text)}")
    cleaned = text.strip().lower()
    match = _INTERVAL_RE.match(cleaned) if cleaned else None
    if match is None:
        hint = " (a unit is required)" if cleaned.isdigit() else ""
        raise ConfigError(f'interval "{_shown(text)}" must be {_INTERVAL_FORMS}{hint}')
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigError(f'interval "{_shown(text)}" must be longer than zero')
    if total > MAX_INTERVAL_SECONDS:
        raise ConfigError(f'interval "{_shown(text)}" must be at most 365d')
    return total


_CLOUD_HOSTS = (".atlassian.net", ".jira.com")  # Jira Cloud sites, always at their root


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_endpoint(url: Any, what: str = "endpoint") -> str:
    """The normalised site URL (scheme and host lower-cased, no trailing slash).

    A context path is kept (`https://issues.apache.org/jira`). Refused: schemes other
    than http(s), plain http except on loopback, credentials, query strings and
    fragments, and REST or browse paths pasted by mistake.
    """
    example = "e.g. https://your-domain.atlassian.net"
    if url is None or (isinstance(url, str) and not url.strip()):
        raise ConfigError(f"{what} is required (the Jira site URL, {example})")
    if not isinstance(url, str):
        raise ConfigError(f"{what} must be a URL string, not {_shown(url)}")
    text = url.strip()
    shown = _shown(_without_userinfo(text))  # never echo a password back
    if any(ch.isspace() for ch in text) or _has_control(text):
        raise ConfigError(f'{what} "{shown}" must not contain spaces or control characters')
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None or not scheme_match.group(2):
        if scheme_match is not None and not _HOST_PORT_RE.match(text):
            # "javascript:...", "file:...", "mailto:...": a scheme, but not a web one
            raise ConfigError(f'{what} "{shown}" must be an http(s) URL, {example}')
        raise ConfigError(f'{what} "{shown}" has no scheme; write it as https://{shown}')
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[::1": an address urlsplit cannot read
        raise ConfigError(f'{what} "{shown}" is not a valid URL, {example}') from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f'{what} "{shown}" must be an http(s) URL, {example}')
    if "@" in parts.netloc:
        raise ConfigError(
            f'{what} "{shown}" must not contain credentials (user:password@); '
            "use the username and token settings instead"
        )
    if "?" in text or "#" in text:
        raise ConfigError(
            f'{what} "{shown}" must not contain a query string or fragment '
            '("?..." or "#..."); give the site URL only'
        )
    host = parts.hostname or ""
    if not host or not (_HOST_RE.match(host) or ":" in host):
        raise ConfigError(f'{what} "{shown}" has no valid host name, {example}')
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConfigError(f'{what} "{shown}" has an invalid port') from None
    if scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f'{what} "{shown}" uses plain http, which would send credentials and issues in clear '
            "text; use https (plain http is allowed only for localhost, 127.0.0.0/8 and ::1)"
        )
    path = parts.path.rstrip("/")
    for marker in ("/rest/", "/browse/", "/secure/", "/jira/software/"):
        index = (path + "/").find(marker)
        if index >= 0:
            base = f"{scheme}://{parts.netloc.lower()}{path[:index]}"
            raise ConfigError(
                f'{what} "{shown}" should be the site URL, not a page or API address (try {base})'
            )
    if host.endswith(_CLOUD_HOSTS):
        # Cloud sites live at their root: a path is the page the URL was copied from
        # (/jira/your-work, /jira/projects), or one saved by an older version that
        # took it for a context path, where every call 404ed. The root is certain.
        path = ""
    return f"{scheme}://{parts.netloc.lower()}{path}"


def validate_project_key(key: Any) -> str:
    """The project key, upper-cased; Jira's rule: a letter, then letters, digits or _."""
    rule = (
        "must start with a letter and hold only letters, digits or underscores "
        "(2-255 characters), e.g. PROJ"
    )
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ConfigError(f"project key is required ({rule[5:]})")
    if not isinstance(key, str):
        raise ConfigError(f"project key must be a string, not {_shown(key)}")
    cleaned = key.strip().upper()
    if not _PROJECT_KEY_RE.match(cleaned):
        raise ConfigError(f'project key "{_shown(key.strip())}" {rule}')
    return cleaned


def validate_issue_key(key: Any) -> str:
    """An issue key such as PROJ-123. Jira keys are upper case but Jira finds them
    case-insensitively, so `proj-123` (as people type it) is accepted and upper-cased."""
    if not isinstance(key, str) or not ISSUE_KEY_RE.match(key.strip()):
        raise ConfigError("Issue key must look like PROJECT-123")
    return key.strip().upper()


def validate_datasource_name(name: Any) -> str:
    """A datasource name: non-empty, at most 100 characters, no control characters."""
    if name is None:
        raise ConfigError('datasource name is required ("name")')
    if not isinstance(name, str):
        raise ConfigError(f"datasource name must be a string, not {_shown(name)}")
    cleaned = name.strip()
    if not cleaned:
        raise ConfigError("datasource name must not be empty")
    if _has_control(cleaned):
        raise ConfigError(
            f'datasource name "{_shown(cleaned)}" must not contain control characters'
        )
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ConfigError(
            f'datasource name "{_shown(cleaned, 40)}" is longer than {MAX_NAME_LENGTH} characters'
        )
    return cleaned


def validate_cloud_id(value: Any, what: str = "cloud_id") -> str | None:
    """A site's cloud id (a UUID on real sites); it goes into a URL path."""
    text = _optional_text(value, what)
    if text is None:
        return None
    if not _CLOUD_ID_RE.match(text):
        raise ConfigError(
            f'{what} "{_shown(text)}" must be the site\'s cloud id (letters, digits and '
            "dashes; see https://<site>/_edge/tenant_info)"
        )
    return text


def _optional_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, not {_shown(value)}")
    return value.strip() or None


_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)


def validate_jql(value: Any) -> str | None:
    """A datasource's JQL condition, or None. jiradex wraps it as `project = K AND
    (jql) ORDER BY updated`, so an ORDER BY (as copied from Jira's issue search) is
    dropped here rather than failing every sync with Jira's 400; unclosed quotes and
    parentheses are refused with a clear error now instead of at the first sync."""
    text = _optional_text(value, "jql")
    if text is None:
        return None
    depth, quote, escaped = 0, "", False
    for at, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"jql has a ')' without its '(': {_literal(text)}")
        elif depth == 0 and _ORDER_BY.match(text, at) and (at == 0 or not text[at - 1].isalnum()):
            return text[:at].strip() or None
    if quote:
        raise ConfigError(f"jql has an unclosed {quote} quote: {_literal(text)}")
    if depth:
        raise ConfigError(f"jql has a '(' without its ')': {_literal(text)}")
    return text


def validate_username(value: Any, what: str = "username") -> str | None:
    """The account of Basic auth (on Cloud the Atlassian account e-mail; a Data Center
    login may hold spaces), None when empty. It is sent as "user:token", so it can
    hold no colon, and it goes in a header: no control characters or line breaks.
    Checked on load too, so the rule is only what can never have worked."""
    name = _optional_text(value, what)
    if name is None:
        return None
    if _has_control(name):
        raise ConfigError(
            f'{what} "{_shown(name)}" must not contain line breaks or control characters'
        )
    if ":" in name:
        raise ConfigError(
            f'{what} "{_shown(name)}" must not contain ":" (Basic auth sends user:token)'
        )
    return name


def validate_email(value: Any, what: str = "email") -> str | None:
    """An Atlassian account e-mail as typed (`jira connect`): a username, with no
    spaces either. Only where it is entered: a saved one is checked as a username."""
    name = validate_username(value, what)
    if name is not None and any(ch.isspace() for ch in name):
        raise ConfigError(
            f'{what} "{_shown(name)}" must not contain spaces (it is your Atlassian account e-mail)'
        )
    return name


def validate_token(value: Any, what: str = "token") -> str | None:
    """A token as typed (stripped), None when empty; one rule for the CLI, the TUI
    forms and the config files. Never echoes the value: it is a secret."""
    if value is None:
        return None
    if not isinstance(value, str):
        # Never echo the value: it may be a secret typed in the wrong place.
        raise ConfigError(f"{what} must be a string, not {_a_json_type(value)}")
    token = value.strip()
    if any(ch.isspace() for ch in token) or _has_control(token):
        raise ConfigError(f"{what} must not contain spaces, line breaks or control characters")
    if not token.isascii():
        # It goes in an HTTP header; a pasted curly quote or ellipsis would fail every call.
        raise ConfigError(f"{what} must be plain ASCII: check it for pasted quotes or accents")
    if token.startswith("**"):
        raise ConfigError(
            f"{what} looks masked, as `datasource show` and `jira status` print it: "
            "give the real token"
        )
    return token or None


def _a_json_type(value: Any) -> str:
    """ "a list", "an object", "null"...: the JSON type of a wrong value, for messages."""
    kind = _json_type(value)
    if kind == "null":
        return kind
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else type(value).__name__


def _expect_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, not {_literal(value)}")
    return value


def _expect_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, not {_a_json_type(value)}")
    return value


def gateway_url() -> str:
    """The Atlassian API gateway (`JIRADEX_GATEWAY_URL` replaces it for tests/proxies)."""
    value = os.environ.get("JIRADEX_GATEWAY_URL", "").strip()
    if not value:
        return DEFAULT_GATEWAY_URL
    return validate_endpoint(value, "JIRADEX_GATEWAY_URL")


def service_account_api_url(cloud_id: str) -> str:
    return f"{gateway_url()}/ex/jira/{cloud_id}"


def same_origin(a: str | None, b: str | None) -> bool:
    """Whether two URLs name one origin (scheme, host, port): a token saved for one
    site may go to the other. A context path does not matter; a missing URL never
    matches."""
    from urllib.parse import urlsplit

    def origin(url: str) -> tuple:
        split = urlsplit(url.strip())
        scheme = split.scheme.lower()
        port = split.port or {"http": 80, "https": 443}.get(scheme)
        return scheme, (split.hostname or "").lower().rstrip("."), port

    if not a or not b:
        return False
    try:
        first, second = origin(a), origin(b)
    except ValueError:
        return False
    return bool(first[1]) and first == second


# ------------------------------------------------------------------ datasources


@dataclass
class Datasource:
    """One Jira project to index, with its own credentials and sync schedule."""

    name: str
    enabled: bool = True
    connector_id: str = connectors.JIRA_CONNECTOR_ID
    endpoint: str = ""
    username: str | None = None
    token: str | None = None
    project_key: str = ""
    index_comments: bool = False
    index_attachments: bool = False
    sync_enabled: bool = True
    interval: str = DEFAULT_INTERVAL
    cloud_id: str | None = None
    jql: str | None = None
    attachment_max_bytes: int | None = None
    max_concurrency: int | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Unknown keys of `connector.config`, written back unchanged."""
    sync_extra: dict[str, Any] = field(default_factory=dict)
    top_extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return (
            f"Datasource(name={self.name!r}, endpoint={self.endpoint!r}, "
            f"project_key={self.project_key!r}, auth_mode={self.auth_mode!r}, "
            f"enabled={self.enabled!r})"
        )

    @property
    def auth_mode(self) -> str:
        """basic (Cloud e-mail + API token), bearer (DC PAT), anonymous, service_account."""
        if self.cloud_id:
            return "service_account"
        if self.username and self.token:
            return "basic"
        if self.token:
            return "bearer"
        return "anonymous"

    @property
    def interval_seconds(self) -> int:
        return parse_interval(self.interval)

    @property
    def api_base_url(self) -> str:
        """Where REST calls go: the gateway for service accounts, else the endpoint."""
        if self.cloud_id:
            return service_account_api_url(self.cloud_id)
        return self.endpoint

    @property
    def token_masked(self) -> str:
        return secrets.mask(self.token)

    def to_coco(self, mask_token: bool = True) -> dict[str, Any]:
        """The datasource in Coco's payload shape (token masked unless asked not to)."""
        config: dict[str, Any] = {"endpoint": self.endpoint}
        if self.username is not None:
            config["username"] = self.username
        if self.token is not None:
            config["token"] = secrets.mask(self.token) if mask_token else self.token
        config["project_key"] = self.project_key
        config["index_comments"] = self.index_comments
        config["index_attachments"] = self.index_attachments
        if self.cloud_id is not None:
            config["cloud_id"] = self.cloud_id
        if self.jql is not None:
            config["jql"] = self.jql
        if self.attachment_max_bytes is not None:
            config["attachment_max_bytes"] = self.attachment_max_bytes
        if self.max_concurrency is not None:
            config["max_concurrency"] = self.max_concurrency
        config.update(self.extra)
        payload: dict[str, Any] = {}
        if self.id is not None:
            payload["id"] = self.id
        payload.update(
            {
                "name": self.name,
                "type": "connector",
                "enabled": self.enabled,
                "connector": {"id": self.connector_id, "config": config},
                "sync": {
                    "enabled": self.sync_enabled,
                    "interval": self.interval,
                    **self.sync_extra,
                },
            }
        )
        payload.update(self.top_extra)
        return payload

    def summary(self) -> dict[str, Any]:
        """A flat view for listings (no token)."""
        return {
            "name": self.name,
            "enabled": self.enabled,
            "endpoint": self.endpoint,
            "project_key": self.project_key,
            "auth_mode": self.auth_mode,
            "sync_enabled": self.sync_enabled,
            "interval": self.interval,
            "index_comments": self.index_comments,
            "index_attachments": self.index_attachments,
        }


_KNOWN_TOP_KEYS = {"id", "name", "type", "enabled", "connector", "sync"}
# Keys Coco itself puts on a datasource; kept without a warning.
_COCO_TOP_KEYS = {"description", "icon", "category", "tags", "created", "updated", "webhook"}
_KNOWN_CONFIG_KEYS = set(connectors.JIRA_CONNECTOR["config"])
_KNOWN_SYNC_KEYS = {"enabled", "interval"}


def validate_datasource(ds: Datasource) -> Datasource:
    """A checked, normalised copy of `ds`; ConfigError names the datasource and field."""
    if isinstance(ds.token, str):  # before any message that may quote the URL or JQL
        secrets.register(ds.token.strip())
    name = validate_datasource_name(ds.name)
    try:
        return _validated(ds, name)
    except ConfigError as exc:
        raise ConfigError(f'datasource "{name}": {exc}') from None


def _validated(ds: Datasource, name: str) -> Datasource:
    connector_id = ds.connector_id
    if not connectors.is_registered(connector_id):
        connectors.get_connector(connector_id)  # raises with the known ids
    endpoint = validate_endpoint(ds.endpoint)
    project_key = validate_project_key(ds.project_key)
    username = validate_username(ds.username)
    token = validate_token(ds.token)
    cloud_id = validate_cloud_id(ds.cloud_id)
    jql = validate_jql(ds.jql)
    if username and not token:
        raise ConfigError(
            "username is set but token is empty; give the API token too "
            "(or neither, for anonymous access)"
        )
    if cloud_id and not (username and token):
        raise ConfigError(
            "cloud_id (service account) needs username and token: the service "
            "account's e-mail and its scoped API token"
        )
    enabled = _expect_bool(ds.enabled, "enabled")
    index_comments = _expect_bool(ds.index_comments, "index_comments")
    index_attachments = _expect_bool(ds.index_attachments, "index_attachments")
    sync_enabled = _expect_bool(ds.sync_enabled, "sync.enabled")
    if not isinstance(ds.interval, str):
        raise ConfigError(f'sync.interval must be a string like "5m", not {_shown(ds.interval)}')
    parse_interval(ds.interval)
    limit = ds.attachment_max_bytes
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ConfigError(
            f"attachment_max_bytes must be a positive whole number of bytes, not {_literal(limit)}"
        )
    most = ds.max_concurrency
    if most is not None and (
        isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_CONCURRENCY
    ):
        raise ConfigError(
            f"max_concurrency must be a whole number from 1 to {MAX_CONCURRENCY} "
            f"(requests in flight at once), not {_literal(most)}"
        )
    if ds.id is not None and not isinstance(ds.id, str):
        raise ConfigError(f"id must be a string, not {_shown(ds.id)}")
    secrets.register(token)
    return dataclasses.replace(
        ds,
        name=name,
        enabled=enabled,
        endpoint=endpoint,
        username=username,
        token=token,
        project_key=project_key,
        index_comments=index_comments,
        index_attachments=index_attachments,
        sync_enabled=sync_enabled,
        interval=ds.interval.strip().lower(),  # "5M" is minutes, not months
        cloud_id=cloud_id,
        jql=jql,
        extra=dict(ds.extra),
        sync_extra=dict(ds.sync_extra),
        top_extra=dict(ds.top_extra),
    )


def datasource_from_coco(payload: Any, *, warn: Warn | None = None) -> Datasource:
    """A validated Datasource from a Coco datasource payload.

    `warn` receives a one-line note for each unknown key (kept as is), so a typo such
    as `"index_comment"` does not pass silently.
    """
    if not isinstance(payload, dict):
        raise ConfigError(f"a datasource must be a JSON object, not {_a_json_type(payload)}")
    name = validate_datasource_name(payload.get("name"))

    def note(message: str) -> None:
        if warn is not None:
            warn(f'datasource "{name}": {message}')

    try:
        ds = _from_coco(payload, name, note)
    except ConfigError as exc:
        raise ConfigError(f'datasource "{name}": {exc}') from None
    return validate_datasource(ds)


def _from_coco(payload: dict[str, Any], name: str, note: Warn) -> Datasource:
    kind = payload.get("type", "connector")
    if kind != "connector":
        raise ConfigError(f'type must be "connector", not {_literal(kind)}')
    connector = _expect_object(payload.get("connector"), "connector")
    connector_id = connector.get("id")
    if connector_id is None:
        raise ConfigError('connector.id is required (use "jira")')
    if not isinstance(connector_id, str):
        raise ConfigError(f"connector.id must be a string, not {_shown(connector_id)}")
    if not connectors.is_registered(connector_id):
        connectors.get_connector(connector_id)  # raises with the known ids
    if "config" not in connector:
        raise ConfigError("connector.config is required (endpoint, project_key, ...)")
    config = _expect_object(connector.get("config"), "connector.config")
    sync = _expect_object(payload.get("sync", {}), "sync")

    def config_bool(key: str) -> bool:
        return _expect_bool(config.get(key, False), f"connector.config.{key}")

    def config_text(key: str) -> Any:
        value = config.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"connector.config.{key} must be a string, not {_shown(value)}")
        return value

    token = config.get("token")
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"connector.config.token must be a string, not {_a_json_type(token)}")
    interval = sync.get("interval", DEFAULT_INTERVAL)
    if not isinstance(interval, str):
        raise ConfigError(f'sync.interval must be a string like "5m", not {_shown(interval)}')
    identifier = payload.get("id")
    if identifier is not None and not isinstance(identifier, str):
        raise ConfigError(f"id must be a string, not {_shown(identifier)}")

    extra = {k: v for k, v in config.items() if k not in _KNOWN_CONFIG_KEYS}
    sync_extra = {k: v for k, v in sync.items() if k not in _KNOWN_SYNC_KEYS}
    top_extra = {k: v for k, v in payload.items() if k not in _KNOWN_TOP_KEYS}
    for key in extra:
        note(f'connector.config key "{key}" is not a jira connector setting (kept as is)')
    for key in sync_extra:
        note(f'sync key "{key}" is not used (kept as is)')
    for key in top_extra:
        if key not in _COCO_TOP_KEYS:
            note(f'key "{key}" is not used (kept as is)')

    return Datasource(
        name=name,
        id=identifier,
        enabled=_expect_bool(payload.get("enabled", True), "enabled"),
        connector_id=connector_id,
        endpoint=config.get("endpoint"),  # type: ignore[arg-type] - validated next
        username=config_text("username"),
        token=token,
        project_key=config.get("project_key"),  # type: ignore[arg-type]
        index_comments=config_bool("index_comments"),
        index_attachments=config_bool("index_attachments"),
        cloud_id=config_text("cloud_id"),
        jql=config_text("jql"),
        attachment_max_bytes=config.get("attachment_max_bytes"),
        max_concurrency=config.get("max_concurrency"),
        sync_enabled=_expect_bool(sync.get("enabled", True), "sync.enabled"),
        interval=interval,
        extra=extra,
        sync_extra=sync_extra,
        top_extra=top_extra,
    )


def datasources_from_json_text(
    text: str, source: str, *, warn: Warn | None = None
) -> list[Datasource]:
    """Datasources from the text of a JSON file holding one payload or a list of them."""
    if not text.strip():
        raise ConfigError(f"{source} is empty: expected a datasource payload (JSON)")
    payload = _parse_json(text, source, own_file=False)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise ConfigError(f"{source}: the list holds no datasource")
    result = []
    for position, item in enumerate(items, start=1):
        try:
            result.append(datasource_from_coco(item, warn=warn))
        except ConfigError as exc:
            where = f"{source}, entry {position}" if isinstance(payload, list) else source
            raise ConfigError(f"{where}: {exc}") from None
    _check_unique(result, source)
    return result


def _check_unique(items: list[Datasource], source: str) -> None:
    seen: dict[str, str] = {}
    for ds in items:
        folded = ds.name.casefold()
        if folded in seen:
            raise ConfigError(
                f'{source}: datasource name "{ds.name}" is used twice (names are case-insensitive)'
            )
        seen[folded] = ds.name


def load_datasources() -> list[Datasource]:
    """Every configured datasource, in file order (a missing file means none)."""
    path = paths.datasources_path()
    text = _read_text(path)
    if text is None:
        return []
    payload = _parse_json(text, str(path))
    if not isinstance(payload, list):
        raise ConfigError(
            f"{path}: expected a JSON list of datasources, found {_a_json_type(payload)}; "
            "fix or remove the file (jiradex will not overwrite it)"
        )
    result = []
    for position, item in enumerate(payload, start=1):
        try:
            result.append(datasource_from_coco(item))
        except ConfigError as exc:
            raise ConfigError(f"{path}, entry {position}: {exc}") from None
    _check_unique(result, str(path))
    return result


def _find(items: list[Datasource], name: str) -> int:
    folded = name.strip().casefold() if isinstance(name, str) else ""
    for index, ds in enumerate(items):
        if ds.name.casefold() == folded:
            return index
    if items:
        known = ", ".join(ds.name for ds in items)
        raise ConfigError(f'no datasource named "{_shown(name)}" (configured: {known})')
    raise ConfigError(
        f'no datasource named "{_shown(name)}": none is configured yet '
        "(add one with `jiradex datasource add`)"
    )


def get_datasource(name: str) -> Datasource:
    """The datasource with this name (case-insensitive)."""
    items = load_datasources()
    return items[_find(items, name)]


def add_datasources(new: list[Datasource]) -> list[Datasource]:
    """Validate and add several datasources at once (all or none)."""
    checked = [validate_datasource(ds) for ds in new]
    with _locked():
        items = load_datasources()
        existing = {ds.name.casefold(): ds.name for ds in items}
        for ds in checked:
            if ds.name.casefold() in existing:
                raise ConfigError(
                    f'a datasource named "{existing[ds.name.casefold()]}" already exists '
                    "(names are case-insensitive); remove it first or choose another name"
                )
        _check_unique(checked, "the new datasources")
        _save_datasources(items + checked)
    return checked


def add_datasource(ds: Datasource) -> Datasource:
    return add_datasources([ds])[0]


def same_issues_warnings(ds: Datasource, items: list[Datasource]) -> list[str]:
    """One line per other datasource that indexes the same issues as `ds` (the same
    site, project and JQL). Allowed (another interval, another token), but search
    then lists every one of them twice, which a person adding it should hear."""
    return [
        f'"{ds.name}" indexes the same issues as "{other.name}" ({ds.project_key} on '
        f"{ds.endpoint}): search will list each of them twice"
        for other in items
        if other.name.casefold() != ds.name.casefold()
        and other.endpoint == ds.endpoint
        and other.project_key == ds.project_key
        and (other.jql or None) == (ds.jql or None)
    ]


def update_datasource(ds: Datasource) -> Datasource:
    """Replace the datasource of the same name (case-insensitive), keeping its place."""
    checked = validate_datasource(ds)
    with _locked():
        items = load_datasources()
        index = _find(items, checked.name)
        items[index] = checked
        _save_datasources(items)
    return checked


def set_datasource_enabled(name: str, enabled: bool) -> Datasource:
    with _locked():
        items = load_datasources()
        index = _find(items, name)
        items[index] = dataclasses.replace(items[index], enabled=enabled)
        _save_datasources(items)
    return items[index]


def remove_datasource(name: str) -> Datasource:
    """Remove a datasource from the configuration (its indexed data is not touched here)."""
    with _locked():
        items = load_datasources()
        removed = items.pop(_find(items, name))
        _save_datasources(items)
    return removed


def _save_datasources(items: list[Datasource]) -> None:
    write_private_json(paths.datasources_path(), [ds.to_coco(mask_token=False) for ds in items])


# ------------------------------------------------------------------ global Jira connection

JIRA_ENV = {
    "enabled": "JIRA_ENABLED",
    "base_url": "JIRA_BASE_URL",
    "cloud_id": "JIRA_CLOUD_ID",
    "email": "JIRA_EMAIL",
    "api_token": "JIRA_API_TOKEN",
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass
class JiraConnection:
    """The global connection (CoderFlow shape) used for task import and post-back."""

    enabled: bool = False
    base_url: str | None = None
    cloud_id: str | None = None
    email: str | None = None
    api_token: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    """Where each set value came from: "file", "env" or "default"."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Unknown keys of jira.json, written back unchanged."""

    def __repr__(self) -> str:
        return (
            f"JiraConnection(base_url={self.base_url!r}, cloud_id={self.cloud_id!r}, "
            f"email={self.email!r}, enabled={self.enabled!r})"
        )

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    @property
    def api_mode(self) -> str:
        """service_account (cloud id), personal_access_token (a token, no e-mail: Data
        Center / Server, sent as Bearer, the datasources' rule) or personal (Cloud)."""
        if self.cloud_id:
            return "service_account"
        if self.api_token and not self.email:
            return "personal_access_token"
        return "personal"

    @property
    def api_base_url(self) -> str | None:
        """Where REST calls go: the gateway with a cloudId, else the site URL."""
        if self.cloud_id:
            return service_account_api_url(self.cloud_id)
        return self.base_url

    def switched_off(self) -> str | None:
        """Why a connection that has a site is not used (None when it is, or when
        there is no site): said with where to switch it back on."""
        if self.enabled or not self.configured:
            return None
        site = self.base_url.rstrip("/") if self.base_url else ""
        if self.sources.get("enabled") == "env":
            return (
                f"the Jira connection to {site} is switched off by {JIRA_ENV['enabled']} "
                "in the environment (unset it, or set it to true)"
            )
        return (
            f'the Jira connection to {site} is switched off ("enabled": false in '
            f"{paths.jira_config_path()}; `jiradex jira connect` saves it switched on)"
        )

    def problems(self) -> list[str]:
        """What keeps this connection from being usable (empty when it is)."""
        found = []
        if not self.base_url:
            found.append("no site URL (baseUrl / JIRA_BASE_URL)")
        if not self.email and self.api_mode != "personal_access_token":
            found.append("no e-mail (auth.email / JIRA_EMAIL)")
        if not self.api_token:
            found.append("no API token (auth.apiToken / JIRA_API_TOKEN)")
        return found

    def to_json(self, mask_token: bool = True) -> dict[str, Any]:
        """The jira.json shape."""
        payload: dict[str, Any] = {"enabled": self.enabled, "baseUrl": self.base_url}
        if self.cloud_id:
            payload["cloudId"] = self.cloud_id
        token = secrets.mask(self.api_token) if mask_token else self.api_token
        payload["auth"] = {"email": self.email, "apiToken": token}
        payload.update(self.extra)
        return payload

    def status(self) -> dict[str, Any]:
        """What `jiradex jira status --json` prints; the token is masked."""
        return {
            "configured": self.configured,
            "enabled": self.enabled,
            "site_url": self.base_url,
            "cloud_id": self.cloud_id,
            "api_mode": self.api_mode,
            "api_url": self.api_base_url,
            "email": self.email,
            "token": secrets.mask(self.api_token) or None,
            "sources": {key: self.sources.get(key) for key in JIRA_ENV},
            "env_names": dict(JIRA_ENV),
            "config_file": str(paths.jira_config_path()),
            "problems": self.problems(),
        }


def exposed_token_warnings() -> list[str]:
    """One line per configuration file that holds a token other users may read.

    jiradex writes its files 0600, but one written by hand or copied in keeps the
    umask's 0644: anyone on the machine could then use the token (ssh warns of a
    private key the same way). POSIX modes only; a file that cannot be read as a
    configuration is left to the error that reading it gives."""
    if os.name != "posix":
        return []
    checks = (
        (paths.jira_config_path(), lambda: bool(_jira_from_file().api_token)),
        (paths.datasources_path(), lambda: any(ds.token for ds in load_datasources())),
    )
    out = []
    for path, holds_token in checks:
        try:
            mode = path.stat().st_mode & 0o777
            exposed = bool(mode & 0o077) and holds_token()
        except (OSError, ConfigError):
            continue
        if exposed:
            out.append(
                f"{path} holds a token and other users can read it (mode {mode:04o}): "
                f"run `chmod 600 {shlex.quote(str(path))}`"
            )
    return out


def parse_bool_text(text: str, what: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f'{what} must be true or false (also 1/0, yes/no), not "{_shown(text)}"')


def load_jira_connection(use_env: bool = True) -> JiraConnection:
    """jira.json, then each set `JIRA_*` environment variable overrides its field."""
    conn = _jira_from_file()
    if use_env:
        _apply_jira_env(conn)
    if "enabled" not in conn.sources:
        conn.enabled = conn.configured
        conn.sources["enabled"] = "default"
    secrets.register(conn.api_token)
    return conn


def _jira_from_file() -> JiraConnection:
    path = paths.jira_config_path()
    text = _read_text(path)
    conn = JiraConnection()
    if text is None:
        return conn
    payload = _parse_json(text, str(path))
    try:
        data = _expect_object(payload, "the file")
        auth = _expect_object(data.get("auth") or {}, "auth")
        if isinstance(auth.get("apiToken"), str):  # before a message quoting baseUrl
            secrets.register(auth["apiToken"].strip())
        if "enabled" in data:
            conn.enabled = _expect_bool(data["enabled"], "enabled")
            conn.sources["enabled"] = "file"
        if data.get("baseUrl") is not None:
            conn.base_url = validate_endpoint(data["baseUrl"], "baseUrl")
        conn.cloud_id = validate_cloud_id(data.get("cloudId"), "cloudId")
        conn.email = validate_username(auth.get("email"), "auth.email")
        conn.api_token = validate_token(auth.get("apiToken"), "auth.apiToken")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for key, value in (
        ("base_url", conn.base_url),
        ("cloud_id", conn.cloud_id),
        ("email", conn.email),
        ("api_token", conn.api_token),
    ):
        if value is not None:
            conn.sources[key] = "file"
    conn.extra = {
        k: v for k, v in data.items() if k not in ("enabled", "baseUrl", "cloudId", "auth")
    }
    secrets.register(conn.api_token)
    return conn


def _apply_jira_env(conn: JiraConnection) -> None:
    def env(key: str) -> str | None:
        value = os.environ.get(JIRA_ENV[key], "").strip()
        return value or None  # an empty variable counts as unset

    secrets.register(env("api_token"))  # before any message that may quote another value
    if (value := env("enabled")) is not None:
        conn.enabled = parse_bool_text(value, "JIRA_ENABLED")
        conn.sources["enabled"] = "env"
    if (value := env("base_url")) is not None:
        conn.base_url = validate_endpoint(value, "JIRA_BASE_URL")
        conn.sources["base_url"] = "env"
    if (value := env("cloud_id")) is not None:
        conn.cloud_id = validate_cloud_id(value, "JIRA_CLOUD_ID")
        conn.sources["cloud_id"] = "env"
    if (value := env("email")) is not None:
        conn.email = validate_username(value, "JIRA_EMAIL")
        conn.sources["email"] = "env"
    if (value := env("api_token")) is not None:
        conn.api_token = validate_token(value, "JIRA_API_TOKEN")
        conn.sources["api_token"] = "env"


def jira_env_in_use() -> list[str]:
    """Names of the JIRA_* variables that are set (non-empty)."""
    return [name for name in JIRA_ENV.values() if os.environ.get(name, "").strip()]


def jira_env_overrides() -> list[str]:
    """Names of the JIRA_* variables whose value differs from jira.json's: those that
    make the connection in use another than the saved one (one holding the value
    saved, as after `connect --token-env JIRA_API_TOKEN`, changes nothing)."""
    saved, live = load_jira_connection(use_env=False), load_jira_connection()
    return [
        name
        for key, name in JIRA_ENV.items()
        if live.sources.get(key) == "env" and getattr(live, key) != getattr(saved, key)
    ]


def save_jira_connection(conn: JiraConnection) -> JiraConnection:
    """Write jira.json (0600, atomically). Saves the values given, whatever their source."""
    base_url = validate_endpoint(conn.base_url, "baseUrl")
    checked = dataclasses.replace(
        conn,
        enabled=_expect_bool(conn.enabled, "enabled"),
        base_url=base_url,
        cloud_id=validate_cloud_id(conn.cloud_id, "cloudId"),
        email=validate_username(conn.email, "email"),
        api_token=validate_token(conn.api_token, "apiToken"),
        sources={key: "file" for key in JIRA_ENV},
    )
    secrets.register(checked.api_token)
    with _locked():
        path = paths.jira_config_path()
        existing = _read_text(path)
        if existing is not None:
            _parse_json(existing, str(path))  # refuse to replace a file the user must fix
        write_private_json(path, checked.to_json(mask_token=False))
    return checked


def clear_jira_connection() -> bool:
    """Delete jira.json (even a corrupt one: removing it is what the user asked for)."""
    path = paths.jira_config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {paths.write_refused(exc)}") from None
    return True


# ------------------------------------------------------------------ files


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not UTF-8 text; fix or remove the file (jiradex will not overwrite it)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_json(text: str, source: str, *, own_file: bool = True) -> Any:
    """The JSON of one of jiradex's own files, or (`own_file=False`) of input handed to it,
    which jiradex never writes: no advice to remove it then."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        if not own_file:
            raise ConfigError(where) from None
        raise ConfigError(
            f"{where}; fix or remove the file (jiradex will not overwrite it)"
        ) from None


def ensure_config_dir() -> Path:
    """The config directory, created and kept private (0700)."""
    directory = paths.ensure_dir(paths.config_dir())
    with contextlib.suppress(OSError):
        os.chmod(directory, 0o700)
    return directory


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file in the same directory, fsync, rename), mode 0600."""
    if path.parent == paths.config_dir():
        ensure_config_dir()
    else:
        paths.ensure_dir(path.parent)
    body = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    fd, temp_name = _create_private_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):  # a full disk, a quota: the old file is untouched
            raise ConfigError(
                f"cannot write {path}: {paths.write_refused(exc)}; the file was left as it was"
            ) from None
        raise
    _fsync_dir(path.parent)


def _create_private_temp(path: Path) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(name, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {paths.write_refused(exc)}") from None
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, 0o600)  # whatever the umask said
        return fd, name
    raise ConfigError(f"cannot write {path}: no free temporary file name")


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise read-modify-write of the config files between processes (POSIX)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock, last writer wins
        yield
        return
    directory = ensure_config_dir()
    try:
        fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # a read-only file system; a full one with no inode left
        raise ConfigError(
            f"cannot change the configuration in {directory}: {paths.write_refused(exc)}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
