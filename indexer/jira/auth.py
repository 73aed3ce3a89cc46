"""How jiradex authenticates to Jira and where API calls go.

Four modes, chosen from what the configuration holds (as Coco does):
- username + token: HTTP Basic (Jira Cloud API token);
- token only: `Authorization: Bearer` (Data Center personal access token);
- neither: anonymous;
- cloud id (+ e-mail + token): a service account's scoped token, which only works
  through the Atlassian gateway `https://api.atlassian.com/ex/jira/{cloudId}`
  (`JIRADEX_GATEWAY_URL` replaces `https://api.atlassian.com`). Browse links keep
  the site URL in every mode.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from indexer import secrets
from indexer.errors import ConfigError

from .errors import JiraConnectionError, JiraResponseError, JiraTimeoutError

AUTH_MODES = ("basic", "bearer", "anonymous", "service_account")


def normalize_site_url(url: str | None) -> str:
    """`https://host[/context]` without a trailing slash; ConfigError when unusable."""
    text = (url or "").strip()
    if not text:
        raise ConfigError("The Jira site URL is empty: give one like https://example.atlassian.net")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Invalid Jira site URL {secrets.redact(url or '')!r}: "
            "give one like https://example.atlassian.net"
        )
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def gateway_url() -> str:
    """`JIRADEX_GATEWAY_URL` checked like a site URL (it gets the credentials)."""
    from indexer.config import gateway_url as checked_gateway_url

    return checked_gateway_url().rstrip("/")


def gateway_base(cloud_id: str) -> str:
    """Where a service account's API calls go."""
    return f"{gateway_url()}/ex/jira/{cloud_id.strip()}"


def auth_mode(username: str | None, token: str | None, cloud_id: str | None) -> str:
    if cloud_id and token:
        return "service_account"
    if username and token:
        return "basic"
    if token:
        return "bearer"
    return "anonymous"


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class JiraAuth:
    """Credentials plus the two base URLs; the token never shows in its repr."""

    site_url: str
    username: str | None = None
    token: str | None = field(default=None, repr=False)
    cloud_id: str | None = None

    def __post_init__(self) -> None:
        secrets.register(self.token)
        if self.token and self.username:  # a server or proxy may echo the Basic header
            pair = f"{self.username}:{self.token}".encode()
            secrets.register(base64.b64encode(pair).decode("ascii"))
        if self.mode == "service_account" and not self.username:
            raise ConfigError(
                "A service account needs its e-mail address as the username "
                "(with the cloud id and its API token)"
            )

    @property
    def mode(self) -> str:
        return auth_mode(self.username, self.token, self.cloud_id)

    @property
    def api_base(self) -> str:
        """Prefix of `/rest/...` paths: the gateway for service accounts, else the site."""
        if self.mode == "service_account":
            return gateway_base(self.cloud_id or "")
        return self.site_url

    @property
    def authorization(self) -> str | None:
        """The Authorization header value, or None when anonymous."""
        mode = self.mode
        if mode in ("basic", "service_account"):
            user = self.username or ""
            raw = f"{user}:{self.token}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        if mode == "bearer":
            return f"Bearer {self.token}"
        return None

    def __repr__(self) -> str:
        return (
            f"JiraAuth(site_url={self.site_url!r}, mode={self.mode!r}, "
            f"username={self.username!r}, token={secrets.mask(self.token)!r}, "
            f"cloud_id={self.cloud_id!r})"
        )


def fetch_cloud_id(site_url: str, *, timeout: float = 15.0, transport=None) -> str:
    """The cloud id of a Jira Cloud site, from `{site}/_edge/tenant_info` (no auth)."""
    site = normalize_site_url(site_url)
    parts = urlsplit(site)
    url = f"{parts.scheme}://{parts.netloc}/_edge/tenant_info"
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as http:
            response = http.get(url, headers={"Accept": "application/json"})
    except httpx.TimeoutException as exc:
        raise JiraTimeoutError(
            f"Connection to {site} timed out: check the site URL and your network"
        ) from exc
    except httpx.HTTPError as exc:
        raise JiraConnectionError(
            f"Cannot reach {site} to read its cloud id: check the site URL and your network"
        ) from exc
    cloud_id = None
    if response.status_code == 200:
        try:
            cloud_id = (response.json() or {}).get("cloudId")
        except ValueError:
            cloud_id = None
    if not cloud_id:
        raise JiraResponseError(
            f"Cannot read the cloud id of {site} (HTTP {response.status_code} from "
            "/_edge/tenant_info): is it a Jira Cloud site? You can type the cloud id instead"
        )
    return str(cloud_id)
