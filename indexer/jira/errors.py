"""Jira failures, each turned into one clear line for the user.

Jira answers errors in several shapes (an `ErrorCollection` with `errorMessages` and
`errors`, `{"message", "status-code"}` from the gateway, plain text, HTML login or
proxy pages). `error_messages()` reads them all; `error_for_response()` picks the
exception class and the wording. Every message goes through `secrets.redact`.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from indexer import secrets
from indexer.errors import JiraError

SERVICE_ACCOUNT_401 = "Client must be authenticated to access this resource."


class JiraNotEnabledError(JiraError):
    """The global Jira connection is missing or switched off."""


class JiraAuthError(JiraError):
    """Jira refused the credentials (401, or a login page instead of data)."""


class JiraPermissionError(JiraError):
    """Authenticated, but not allowed (403)."""


class JiraNotFoundError(JiraError):
    """404 on something that is not an issue or a project."""


class IssueNotFoundError(JiraNotFoundError):
    """The issue does not exist or is hidden from this account."""


class ProjectNotFoundError(JiraNotFoundError):
    """The project does not exist or is hidden from this account."""


class InvalidIssueKeyError(JiraError):
    """An issue key that cannot be valid, caught before any request."""


class JiraBadRequestError(JiraError):
    """400: Jira rejected the request (bad JQL, unknown field...)."""


class JiraGoneError(JiraError):
    """410: the endpoint was removed by Atlassian."""


class JiraRateLimitError(JiraError):
    """429/503 kept coming after every retry."""


class JiraServerError(JiraError):
    """5xx kept coming after every retry, or another unexpected status."""


class JiraConnectionError(JiraError):
    """The network failed: DNS, refused connection, timeout, TLS."""


class JiraTimeoutError(JiraConnectionError):
    """Connecting or reading timed out."""


class JiraRetryAborted(JiraError):
    """A retry wait ended because the caller stopped (a cancelled sync)."""


class JiraResponseError(JiraError):
    """Jira answered 2xx with something that is not the JSON we need."""


class JiraInsecureError(JiraError):
    """Credentials would travel over plain http to a non-loopback host."""


def clean(text: str, limit: int = 300) -> str:
    """One redacted line of at most `limit` characters."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return secrets.redact(line)


def looks_like_html(body: str, content_type: str = "") -> bool:
    if "html" in content_type.lower():
        return True
    head = body.lstrip()[:200].lower()
    return head.startswith("<!doctype html") or head.startswith("<html") or "<head" in head


def html_title(body: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    return html.unescape(" ".join(match.group(1).split())) if match else ""


def error_messages(body: str, content_type: str = "") -> list[str]:
    """The human messages inside a Jira error body, whatever its shape."""
    text = (body or "").strip()
    if not text:
        return []
    if looks_like_html(text, content_type):
        title = html_title(text)
        return [f"(an HTML page: {title})" if title else "(an HTML page)"]
    try:
        data: Any = json.loads(text)
    except ValueError:
        return [clean(text.splitlines()[0] if text.splitlines() else text)]
    messages: list[str] = []
    if isinstance(data, dict):
        for item in data.get("errorMessages") or []:
            messages.append(clean(item))
        errors = data.get("errors")
        if isinstance(errors, dict):
            for field, msg in errors.items():
                messages.append(clean(f"{field}: {msg}"))
        for name in ("message", "errorMessage", "error_description", "error"):
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                messages.append(clean(value))
                break
    elif isinstance(data, list):
        messages.extend(clean(item) for item in data if isinstance(item, str))
    elif isinstance(data, str):
        messages.append(clean(data))
    return [m for m in messages if m]


def joined(messages: list[str]) -> str:
    return clean("; ".join(messages)) if messages else ""


def error_for_status(
    status: int,
    body: str,
    *,
    content_type: str = "",
    headers: httpx.Headers | dict | None = None,
    site: str,
    auth_mode: str,
    path: str = "",
    not_found: JiraError | None = None,
    attempts: int = 1,
) -> JiraError:
    """Pick the exception for a failed answer; `not_found` overrides the 404 one."""
    headers = httpx.Headers(headers or {})
    messages = error_messages(body, content_type)
    detail = joined(messages)
    suffix = f": {detail}" if detail else ""
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    if status == 401:
        return auth_error(body, site=site, auth_mode=auth_mode)
    if status == 403:
        denied = headers.get("x-authentication-denied-reason", "")
        if "captcha" in denied.lower():
            return captcha_error(site)
        reason = (detail or "this account may not perform this operation").rstrip(". ")
        return JiraPermissionError(
            f"Permission denied by Jira (HTTP 403): {reason}; ask a Jira admin for access"
        )
    if status == 404:
        if not_found is not None:
            return not_found
        return JiraNotFoundError(f"Not found on Jira (HTTP 404) for {path}{suffix}")
    if status == 410:
        return JiraGoneError(
            f"Jira removed this API (HTTP 410) for {path}{suffix}. Jira Cloud search "
            "moved to /rest/api/3/search/jql, which jiradex uses; please report this"
        )
    if status == 400:
        return JiraBadRequestError(f"Jira rejected the request{suffix or ' (HTTP 400)'}")
    if status == 413:
        return JiraBadRequestError(f"Jira refused the request as too large (HTTP 413){suffix}")
    if status == 429:
        if attempts == 1:  # asked at once to wait longer than a request may
            return JiraRateLimitError("Jira is rate limiting requests (HTTP 429): try again later")
        return JiraRateLimitError(
            f"Jira kept rate limiting requests (HTTP 429) after {tries}: try again later"
        )
    if status == 503:
        return JiraServerError(f"Jira at {site} is unavailable (HTTP 503) after {tries}{suffix}")
    if status >= 500:
        return JiraServerError(f"Jira at {site} failed with HTTP {status} after {tries}{suffix}")
    return JiraServerError(f"Jira returned HTTP {status} for {path}{suffix}")


def captcha_error(site: str) -> JiraAuthError:
    return JiraAuthError(
        f"Jira at {site} asks for a CAPTCHA after failed logins: log in once in a "
        "browser, then check the e-mail and API token or personal access token"
    )


def login_refused(headers: httpx.Headers | dict) -> bool:
    """Whether Seraph says it refused the credentials sent (`X-Seraph-LoginReason`).
    It may say so on a 200: the request then ran as anonymous."""
    reason = httpx.Headers(headers).get("X-Seraph-LoginReason", "").upper()
    return "AUTHENTICATED_FAILED" in reason or "AUTHENTICATION_DENIED" in reason


def refused_login_error(headers: httpx.Headers | dict, *, site: str, auth_mode: str) -> JiraError:
    """The error for an answer Seraph gave as to anonymous, our credentials refused:
    its login page, or the data anonymous may see."""
    headers = httpx.Headers(headers)
    if "captcha" in headers.get("X-Authentication-Denied-Reason", "").lower():
        return captcha_error(site)
    if looks_like_html("", headers.get("Content-Type", "")):
        return auth_error("", site=site, auth_mode=auth_mode, login_page=True)
    error = auth_error("", site=site, auth_mode=auth_mode)
    return JiraAuthError(f"{error} (Jira refused them and answered as to an anonymous user)")


def auth_error(body: str, *, site: str, auth_mode: str, login_page: bool = False) -> JiraAuthError:
    """The 401 message, which depends on how we tried to authenticate."""
    cloud_401 = SERVICE_ACCOUNT_401.lower() in (body or "").lower()
    if cloud_401 and auth_mode == "bearer":  # Cloud takes no token without its e-mail
        return JiraAuthError(
            f"Authentication failed for {site}: this is Jira Cloud, which refuses a token "
            "sent without an e-mail: give the account's e-mail (username) with its API token "
            "(personal access tokens are for Data Center / Server)"
        )
    if cloud_401 and auth_mode == "basic":
        return JiraAuthError(
            f"Authentication failed for {site}: Jira says 'Client must be authenticated to "
            "access this resource'. Check the e-mail and API token; a service account "
            "(scoped) API token only works through the Atlassian gateway: set the cloud id "
            "and use the service account's e-mail"
        )
    if login_page:
        return JiraAuthError(
            f"Jira at {site} answered with its login page instead of data: the credentials "
            "were refused (check the e-mail and API token, or the personal access token)"
        )
    if auth_mode == "anonymous":
        return JiraAuthError(
            f"Jira at {site} needs authentication: set an e-mail and API token (Cloud) "
            "or a personal access token (Data Center)"
        )
    if auth_mode == "bearer":
        return JiraAuthError(
            f"Authentication failed for {site}: check the personal access token "
            "(Data Center), or add the e-mail if this is a Cloud API token"
        )
    if auth_mode == "service_account":
        return JiraAuthError(
            f"Authentication failed for {site} through the Atlassian gateway: check the "
            "service account e-mail, its API token and the cloud id"
        )
    return JiraAuthError(f"Authentication failed for {site}: check the e-mail and API token")


def with_note(exc: JiraError, note: str) -> JiraError:
    """The same kind of error, its message followed by `(note)`."""
    try:
        noted = type(exc)(f"{exc} ({note})")
    except TypeError:
        noted = JiraError(f"{exc} ({note})")
    noted.status = getattr(exc, "status", None)
    return noted
