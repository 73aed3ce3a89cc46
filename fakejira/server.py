"""HTTP side of fakejira: routing, auth per mode, faults, latency and request stats.

`FakeJira` runs a stdlib ThreadingHTTPServer on loopback in a background thread,
plus a second tiny listener (reached as `localhost`, a different origin) that serves
Cloud attachment downloads after the 303 redirect and records whether an
Authorization header leaked there.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import orjson

from . import payloads as P
from .dataset import Dataset, Meta
from .faults import Fault, Faults
from .jql import JQLError, Query, parse

MODES = ("cloud", "datacenter", "anonymous", "gateway")
DC_SEARCH_WINDOW = 10_000
CLOUD_ID_CAP = 5000
CLOUD_FIELDS_CAP = 100
CLOUD_COMMENT_LIMIT = 5000
# The `maxResults` a v2 comment page reports when none was asked: 1024 * 1024, all of
# them (the real Cloud v2 capture; Jira 7-8 Server, JRASERVER-74572).
ALL_COMMENTS = 1_048_576
META_FIELDS = {"id", "key", "updated", "created"}
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Log in - Jira</title></head><body>"
    b'<form id="login-form" action="/login.jsp" method="post"><input name="os_username">'
    b'<input name="os_password" type="password"></form></body></html>'
)


class Reply(Exception):
    """Raised by route code to answer at once."""

    def __init__(
        self,
        status: int,
        body=None,
        headers: dict | None = None,
        content_type: str = "application/json",
    ):
        super().__init__(status)
        self.status, self.body, self.headers, self.content_type = (
            status,
            body,
            headers or {},
            content_type,
        )


def _int(params: dict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Reply(
            400, P.error(f"The value '{raw}' is not valid for the parameter '{name}'.")
        ) from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeJira

    def handle_error(self, request, client_address) -> None:
        """A client gone mid-answer (a sync cancelled, `jiradex demo` quit) is no
        error: its BrokenPipeError traceback landed in the demo's terminal."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, a client
    # on a kept-alive connection waited ~40 ms (delayed ACK) for each reply's body,
    # which the benchmarks' one-page-at-a-time baseline paid on every page.
    disable_nagle_algorithm = True
    fault: Fault | None = None

    def log_message(self, format, *args):  # quiet
        pass

    def date_time_string(self, timestamp=None):
        """The Date header, by the fake's clock (`set_now`), as Jira's is by its own."""
        return _fake_date(self.server.fake, timestamp)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # --- plumbing ------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        fj = self.server.fake
        self.fault = None
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        self.params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        try:
            if "/_fake/" in path:
                self._control(method, path[path.index("/_fake/") :])
                return
            fj._count(path)
            if fj.latency_ms:
                time.sleep(fj.latency_ms / 1000)
            fault = fj.faults.take(path, method)
            if fault is not None:
                self._start_fault(fault)
            self._route(method, path)
            raise Reply(404, P.error("null for uri: " + path))
        except Reply as r:
            self._send(r.status, r.body, r.headers, r.content_type)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in fakejira: say so, as a 500
            self._send(500, P.error(f"fakejira internal error: {type(exc).__name__}: {exc}"))

    def _start_fault(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "slow":
            time.sleep(fault.seconds)
        elif kind in ("429", "500", "502", "503", "504"):
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if kind == "429":
                headers.update(
                    {
                        "X-RateLimit-Limit": "100",
                        "X-RateLimit-Remaining": "0",
                        "RateLimit-Reason": "jira-burst-based",
                    }
                )
                body = P.error("Rate limit exceeded.")
            else:
                body = P.error(f"fakejira injected HTTP {kind}.")
            raise Reply(int(kind), body, headers)
        elif kind == "403":  # the body Jira Cloud sends (node-jira-client#337)
            raise Reply(403, P.error("You currently don't have access to perform this operation."))
        elif kind == "html200":
            raise Reply(
                200,
                LOGIN_PAGE,
                {"X-Seraph-LoginReason": "AUTHENTICATION_DENIED"},
                "text/html;charset=UTF-8",
            )
        elif kind == "captcha403":  # Data Center after failed logins (Atlassian KB, ID-6351)
            raise Reply(
                403,
                LOGIN_PAGE,
                {
                    "X-Seraph-LoginReason": "AUTHENTICATION_DENIED",
                    "X-Authentication-Denied-Reason": f"CAPTCHA_CHALLENGE; login-url={self.server.fake.url}/login.jsp",
                },
                "text/html;charset=UTF-8",
            )
        elif kind == "empty200":  # refused credentials, empty body (JRA-41559, pycontribs)
            raise Reply(200, b"", {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"})
        elif kind == "notjson":
            raise Reply(
                200,
                b"<html>upstream proxy says hello</html> not json",
                {},
                "application/json;charset=UTF-8",
            )
        else:  # truncate / reset act on the real answer when it is sent
            self.fault = fault

    def _send(
        self, status: int, body, headers: dict | None = None, content_type: str = "application/json"
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            try:  # orjson: the same compact UTF-8 as json.dumps, several times faster
                data = orjson.dumps(body)
            except TypeError:  # a lone surrogate or an odd key: the stdlib copes
                data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if content_type == "application/json":
                content_type = "application/json;charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        fault, self.fault = self.fault, None
        if fault is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if fault is None:
            self.wfile.write(data)
            return
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        if fault.kind == "reset":  # RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def json_body(self) -> dict:
        if not self.raw_body:
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise Reply(
                400, P.error("Unexpected character in request body: not valid JSON.")
            ) from None
        if not isinstance(body, dict):
            raise Reply(400, P.error("Request body must be a JSON object."))
        return body

    # --- auth ------------------------------------------------------------------
    def _auth(self, via: str, public: bool = False) -> None:
        fj = self.server.fake
        header = self.headers.get("Authorization")
        basic_ok = header == "Basic " + base64.b64encode(f"{fj.email}:{fj.token}".encode()).decode()
        plain_401 = Reply(401, P.CLIENT_MUST_AUTH, {"WWW-Authenticate": 'Basic realm="protected-area"', "X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}, "text/plain;charset=UTF-8")  # fmt: skip
        if fj.mode == "anonymous":
            return
        if fj.mode == "datacenter":
            if header == f"Bearer {fj.token}" or (header is None and public):
                return
            headers = {"WWW-Authenticate": 'OAuth realm="fakejira"'}
            if header is not None:
                headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
            raise Reply(401, P.error(P.NOT_AUTHENTICATED), headers)
        if fj.mode == "cloud":
            if basic_ok or (header is None and public):
                return
            raise plain_401
        # gateway: the service account's token works only through /ex/jira/{cloudId}
        if via == "gateway":
            if basic_ok:
                return
            raise Reply(401, {"code": 401, "message": "Unauthorized; scope does not match"})
        if header is None and public:
            return
        raise plain_401

    # --- routing -------------------------------------------------------------
    def _route(self, method: str, path: str) -> None:
        fj = self.server.fake
        via = "site"
        m = re.match(r"^/ex/jira/([^/]+)(/.*)$", path)
        if m:
            if fj.mode != "gateway":
                raise Reply(404, {"code": 404, "message": "Not Found"})
            if m.group(1) != fj.cloud_id:
                raise Reply(404, {"errorMessages": ["Site temporarily unavailable"], "errors": {}})
            via, rest = "gateway", m.group(2)
        elif path == "/_edge/tenant_info" and fj.mode in ("cloud", "gateway"):
            raise Reply(200, {"cloudId": fj.cloud_id})
        elif fj.context_path:
            if not (path == fj.context_path or path.startswith(fj.context_path + "/")):
                raise Reply(404, b"<html>Not Found</html>", {}, "text/html")
            rest = path[len(fj.context_path) :]
        else:
            rest = path
        cloud = fj.mode in ("cloud", "gateway")
        base = f"{fj.gateway_url}/ex/jira/{fj.cloud_id}" if via == "gateway" else fj.url

        m = re.match(r"^/secure/attachment/(\d+)/(.*)$", rest)
        if m and not cloud and method == "GET":
            self._auth(via)
            self._dc_attachment(int(m.group(1)))
        m = re.match(r"^/rest/api/(2|3|latest)(/.*)$", rest)
        if not m:
            return
        version = "2" if m.group(1) == "latest" else m.group(1)
        if version == "3" and not cloud:
            return  # Data Center has no REST v3
        sub = m.group(2).rstrip("/") or "/"
        public = sub == "/serverInfo"
        if cloud and via == "site" and self.headers.get("Authorization") is None:
            self._anonymous_cloud_search(sub, method)
        self._auth(via, public=public)
        site = P.Site(
            base=base,
            site_url=fj.url,
            cloud=cloud,
            version=version,
            tz=fj.dataset.tz,
            me=fj.account,
        )
        self.site = site

        if sub == "/serverInfo" and method == "GET":
            raise Reply(200, P.server_info(fj.url, fj.mode, fj.dataset.now_ms(), fj.dataset.tz))
        if sub == "/myself" and method == "GET":
            if fj.mode == "anonymous":
                raise Reply(401, P.error(P.NOT_AUTHENTICATED))
            raise Reply(200, P.myself(site))
        m = re.match(r"^/project/([^/]+)$", sub)
        if m and method == "GET":
            self._project(m.group(1))
        if sub == "/search/jql" and method in ("GET", "POST") and cloud:
            self._search_jql(method)
        if sub == "/search/approximate-count" and method == "POST" and cloud:
            self._approximate_count()
        if sub == "/search" and method in ("GET", "POST"):
            if cloud:
                raise Reply(410, P.error(P.REMOVED_SEARCH_MESSAGE))
            self._search_dc(method)
        if sub == "/issue/bulkfetch" and method == "POST" and cloud:
            self._bulkfetch()
        m = re.match(r"^/issue/([^/]+)/comment$", sub)
        if m:
            if method == "GET":
                self._comments(m.group(1))
            if method == "POST":
                self._post_comment(m.group(1))
        m = re.match(r"^/issue/([^/]+)$", sub)
        if m and method == "GET":
            self._issue(m.group(1))
        m = re.match(r"^/attachment/content/(\d+)$", sub)
        if m and method == "GET" and cloud:
            self._cloud_attachment(int(m.group(1)))
        m = re.match(r"^/attachment/(\d+)$", sub)
        if m and method == "GET":
            found = fj.dataset.attachment(int(m.group(1)))
            if found is None:
                raise Reply(404, P.error(f"The attachment with id '{m.group(1)}' does not exist"))
            raise Reply(200, P.attachment_metadata(site, found[1]))

    def _anonymous_cloud_search(self, sub: str, method: str) -> None:
        """Jira Cloud answers a search without credentials with 200 and what anonymous
        may see (nothing on a private site), not 401 (Atlassian KB "JQL search REST API
        returns 200 OK without API token"; jira-api.md (b))."""
        if sub == "/search/jql" and method in ("GET", "POST"):
            raise Reply(200, {"issues": [], "isLast": True})
        if sub == "/search/approximate-count" and method == "POST":
            raise Reply(200, {"count": 0})

    # --- endpoints -------------------------------------------------------------
    def _project(self, key: str) -> None:
        ds = self.server.fake.dataset
        with ds.lock:
            found = next(
                ((k, v) for k, v in ds.projects.items() if key.upper() == k or key == str(v[0])),
                None,
            )
        if found is None:
            raise Reply(404, P.error(f"No project could be found with key '{key}'."))
        raise Reply(200, P.project_full(self.site, found[0], *found[1]))

    def _query(self, jql: str | None) -> Query:
        ds = self.server.fake.dataset
        try:
            q = parse(jql, ds.tz, ds.now_ms())
            ds.check_query(q)
        except JQLError as e:
            raise Reply(400, P.error(str(e))) from None
        return q

    def _render(self, metas: list[Meta], fields: list[str], bare_id_ok: bool) -> list[dict]:
        """Issue beans; id/key/updated/created come from metadata without building issues."""
        site, ds = self.site, self.server.fake.dataset
        out = []
        if set(fields) <= META_FIELDS:
            for m in metas:
                if bare_id_ok and fields == ["id"]:
                    out.append({"id": str(m.id)})
                    continue
                bean = {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
                        "id": str(m.id), "self": f"{site.api}/issue/{m.id}", "key": m.key, "fields": {}}  # fmt: skip
                for name in fields:
                    if name in ("updated", "created"):
                        bean["fields"][name] = P.ts(getattr(m, name), ds.tz)
                out.append(bean)
            return out
        with ds.lock:
            projects = dict(ds.projects)
            for m in metas:
                iss = ds.issue(m.index)
                if iss is not None:
                    out.append(P.issue(site, iss, fields, projects, bare_id_ok))
        return out

    def _search_args(self, method: str) -> dict:
        if method == "POST":
            body = self.json_body()
            return {
                k: body.get(k)
                for k in (
                    "jql",
                    "nextPageToken",
                    "maxResults",
                    "fields",
                    "expand",
                    "startAt",
                    "validateQuery",
                )  # fmt: skip
            }
        return dict(self.params)

    def _search_jql(self, method: str) -> None:
        fj = self.server.fake
        args = self._search_args(method)
        jql = args.get("jql") or ""
        q = self._query(jql)
        if not q.bounded:
            raise Reply(
                400,
                P.error(
                    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
                ),
            )
        fields = P.parse_fields(args.get("fields"), "id")
        cap = CLOUD_ID_CAP if P.only_ids(fields) else CLOUD_FIELDS_CAP
        size = max(1, min(_int(args, "maxResults", 50), cap))
        after = None
        token = args.get("nextPageToken")
        if token:
            after = fj.dataset.read_token(str(token), jql)
            if after is None:
                raise Reply(400, P.error("The provided next page token is invalid or expired."))
        try:
            metas, more = fj.dataset.search(q, after=after, limit=size)
        except JQLError as e:
            raise Reply(400, P.error(str(e))) from None
        body: dict = {"issues": self._render(metas, fields, bare_id_ok=True), "isLast": not more}
        if more:
            body["nextPageToken"] = fj.dataset.page_token(metas[-1], q, jql)
        raise Reply(200, body)

    def _approximate_count(self) -> None:
        body = self.json_body()
        q = self._query(body.get("jql"))
        if not q.bounded:
            raise Reply(
                400,
                P.error(
                    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
                ),
            )
        raise Reply(200, {"count": self.server.fake.dataset.count(q)})

    def _search_dc(self, method: str) -> None:
        fj = self.server.fake
        args = self._search_args(method)
        q = self._query(args.get("jql"))
        fields = P.parse_fields(args.get("fields"), "*navigable")
        start = max(0, _int(args, "startAt", 0))
        size = max(0, min(_int(args, "maxResults", 50), fj.max_results_cap))
        if start + size > fj.search_window:
            raise Reply(500, P.search_window_error(start + size, fj.search_window))
        # Data Center checks the values of `id in (...)`/`key in (...)`: one that does not
        # exist fails the whole search, unless validateQuery=false makes it a warning.
        missing = fj.dataset.missing_values(q)
        warnings = []
        if missing:
            if str(args.get("validateQuery", "true")).lower() != "false":
                raise Reply(400, P.error(*missing))
            warnings = missing
        metas, _ = fj.dataset.search(q, offset=start, limit=size)
        total = fj.dataset.count(q)
        body = {"expand": "schema,names", "startAt": start, "maxResults": size, "total": total,
                "issues": self._render(metas, fields, bare_id_ok=False)}  # fmt: skip
        if warnings:
            body["warningMessages"] = warnings
        raise Reply(200, body)

    def _bulkfetch(self) -> None:
        body = self.json_body()
        wanted = body.get("issueIdsOrKeys")
        if not isinstance(wanted, list) or not wanted:
            raise Reply(400, P.error("issueIdsOrKeys must be a non-empty list."))
        if len(wanted) > 100:
            raise Reply(400, P.error("The number of issues requested exceeds the maximum of 100."))
        fields = P.parse_fields(body.get("fields"), "*navigable")
        ds = self.server.fake.dataset
        with ds.lock:
            projects = dict(ds.projects)
            # As Jira Cloud: an issue that does not exist (or may not be seen) is left
            # out of both lists; `issueErrors` is for retriable errors (CLOUD-SPEC).
            found = [iss for iss in map(ds.issue, wanted) if iss is not None]
        # Rendered outside the lock: 100 beans take long enough to hold up every other
        # request (the comment pages of a concurrent sync) behind this one.
        issues = [P.issue(self.site, iss, fields, projects) for iss in found]
        raise Reply(200, {"issues": issues, "issueErrors": []})

    def _find(self, ref: str):
        iss = self.server.fake.dataset.issue(ref)
        if iss is None:
            raise Reply(404, P.error(P.ISSUE_NOT_FOUND))
        return iss

    def _issue(self, ref: str) -> None:
        ds = self.server.fake.dataset
        fields = P.parse_fields(self.params.get("fields"), "*all")
        with ds.lock:
            iss = self._find(ref)
            raise Reply(200, P.issue(self.site, iss, fields, dict(ds.projects)))

    def _comments(self, ref: str) -> None:
        ds = self.server.fake.dataset
        start = max(0, _int(self.params, "startAt", 0))
        if "maxResults" in self.params:
            size = max(0, min(_int(self.params, "maxResults", 100), 5000))
        elif self.site.version == "3":
            size = 100  # Cloud v3's documented default
        else:  # v2 without it: every comment, as the real v2 captures and JRASERVER-74572
            size = ALL_COMMENTS
        with ds.lock:
            iss = self._find(ref)
            if self.params.get("orderBy") == "-created":
                iss = _reversed_comments(iss)
            rendered = "renderedBody" in (self.params.get("expand") or "")
            raise Reply(200, P.comment_page(self.site, iss, start, size, rendered))

    def _post_comment(self, ref: str) -> None:
        fj = self.server.fake
        ds = fj.dataset
        iss = self._find(ref)
        if self.site.cloud and len(iss.comments) >= fj.comment_limit:
            # Jira Cloud's per-issue limit (CLOUD-SPEC: 413 "if the per-issue limit has
            # been breached" for comments; 5,000 per Atlassian's announcement).
            raise Reply(
                413,
                P.error(f"This issue has reached the limit of {fj.comment_limit} comments."),
            )
        body = self.json_body().get("body")
        if self.site.version == "3":
            if not (
                isinstance(body, dict)
                and body.get("type") == "doc"
                and isinstance(body.get("content"), list)
            ):
                raise Reply(
                    400,
                    P.error(
                        "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                    ),
                )
            iss, c = ds.post_comment(ref, adf=body)
        else:
            if not isinstance(body, str) or not body.strip():
                raise Reply(
                    400,
                    {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}},
                )
            iss, c = ds.post_comment(ref, wiki=body)
        with ds.lock:
            raise Reply(201, P.comment(self.site, iss, c))

    def _cloud_attachment(self, att_id: int) -> None:
        fj = self.server.fake
        found = fj.dataset.attachment(att_id)
        if found is None:
            raise Reply(404, P.error(f"The attachment with id '{att_id}' does not exist"))
        _, att = found
        if self.params.get("redirect") == "false":
            raise Reply(200, att.data, {}, att.mime)
        location = f"{fj.download_url}/file/{att.id}/{quote(att.filename)}?token=dl{att.id}"
        raise Reply(303, b"", {"Location": location}, "text/plain")

    def _dc_attachment(self, att_id: int) -> None:
        found = self.server.fake.dataset.attachment(att_id)
        if found is None:
            raise Reply(404, b"<html>Attachment not found</html>", {}, "text/html")
        att = found[1]
        raise Reply(
            200,
            att.data,
            {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.filename)}"},
            att.mime,
        )

    # --- test control API ----------------------------------------------------
    def _control(self, method: str, path: str) -> None:
        fj = self.server.fake
        if path == "/_fake/stats" and method == "GET":
            raise Reply(200, fj.stats())
        if path == "/_fake/stats/reset" and method == "POST":
            fj.reset_stats()
            raise Reply(200, {"ok": True})
        body = self.json_body() if method == "POST" else {}
        if path == "/_fake/faults" and method == "POST":
            if body.get("clear"):
                fj.faults.clear()
                raise Reply(200, {"ok": True})
            try:
                fj.inject(
                    body.get("kind"),
                    body.get("count", 1),
                    body.get("path_contains"),
                    body.get("retry_after"),
                    body.get("seconds"),
                    body.get("method"),
                )
            except ValueError as e:
                raise Reply(400, P.error(str(e))) from None
            raise Reply(200, {"ok": True, "pending": fj.faults.pending()})
        if path == "/_fake/faults" and method == "GET":
            raise Reply(200, {"pending": fj.faults.pending(), "fired": dict(fj.faults.fired)})
        if path == "/_fake/mutate" and method == "POST":
            raise Reply(200, fj.mutate(body))
        raise Reply(404, P.error("unknown control path " + path))


def _reversed_comments(iss):
    from copy import copy

    out = copy(iss)
    out.comments = list(reversed(iss.comments))
    return out


class _DownloadHandler(BaseHTTPRequestHandler):
    """The 'other origin' that Cloud attachment redirects point to."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as Handler
    server: _Server

    def log_message(self, format, *args):
        pass

    def date_time_string(self, timestamp=None):
        return _fake_date(self.server.fake, timestamp)

    def do_GET(self):
        fj = self.server.fake
        path = urlsplit(self.path).path
        fj._record_download(path, self.headers.get("Authorization") is not None)
        m = re.match(r"^/file/(\d+)/", path)
        found = fj.dataset.attachment(int(m.group(1))) if m else None
        data, mime, status = (
            (found[1].data, found[1].mime, 200) if found else (b"not found", "text/plain", 404)
        )
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _fake_date(fake: FakeJira, timestamp: float | None) -> str:
    """An HTTP date: `timestamp`, else the fake's "now"."""
    when = fake.dataset.now_ms() / 1000 if timestamp is None else timestamp
    return email.utils.formatdate(when, usegmt=True)


class FakeJira:
    """A Jira-compatible server for tests: `with FakeJira(mode="cloud", issues=50) as fj: fj.url`."""

    def __init__(
        self,
        mode: str = "cloud",
        issues: int = 100,
        seed: int = 1,
        project: str = "DEMO",
        latency_ms: float = 0,
        comments: bool = True,
        attachments: bool = True,
        context_path: str = "",
        email: str = "tester@example.com",
        token: str = "fake-api-token",
        cloud_id: str = "0e5c5b8d-7f0a-4d1e-9a57-1f2e3d4c5b6a",
        time_zone: str = "America/Los_Angeles",
        max_results_cap: int = 100,
        search_window: int = DC_SEARCH_WINDOW,
        comment_limit: int = CLOUD_COMMENT_LIMIT,
        host: str = "127.0.0.1",
        port: int = 0,
        start_ms: int | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.dataset = Dataset(issues, seed, project, comments, attachments, time_zone,
                               **({"start_ms": start_ms} if start_ms is not None else {}))  # fmt: skip
        self.latency_ms = latency_ms
        self.context_path = ("/" + context_path.strip("/")) if context_path.strip("/") else ""
        self.email, self.token, self.cloud_id = email, token, cloud_id
        self.account = P.Account(email=email)
        self.max_results_cap = max_results_cap
        self.search_window = search_window  # DC: startAt + maxResults may not pass it
        self.comment_limit = comment_limit  # Cloud: comments per issue (413 past it)
        self.faults = Faults()
        self._host, self._port = host, port
        self._stats_lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._downloads: list[dict] = []
        self._servers: list[_Server] = []

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> FakeJira:
        main = _Server((self._host, self._port), Handler)
        dl = _Server(("127.0.0.1", 0), _DownloadHandler)
        for srv in (main, dl):
            srv.fake = self
            threading.Thread(target=srv.serve_forever, name="fakejira", daemon=True).start()
        self._servers = [main, dl]
        return self

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers = []

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The site URL (with the context path, if any)."""
        return f"http://127.0.0.1:{self.port}{self.context_path}"

    @property
    def api_url(self) -> str:
        """Where REST calls go: the site, or the gateway prefix in gateway mode."""
        if self.mode == "gateway":
            return f"{self.gateway_url}/ex/jira/{self.cloud_id}"
        return self.url

    @property
    def download_url(self) -> str:
        return f"http://localhost:{self._servers[1].server_address[1]}"

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header this mode expects (empty for anonymous)."""
        if self.mode == "anonymous":
            return {}
        if self.mode == "datacenter":
            return {"Authorization": f"Bearer {self.token}"}
        return {
            "Authorization": "Basic "
            + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        }

    # --- stats -----------------------------------------------------------------
    def _count(self, path: str) -> None:
        with self._stats_lock:
            self._requests[path] += 1

    def _record_download(self, path: str, had_auth: bool) -> None:
        with self._stats_lock:
            self._downloads.append({"path": path, "authorization": had_auth})

    def stats(self) -> dict:
        with self._stats_lock:
            return {"requests": dict(self._requests), "total": sum(self._requests.values()),
                    "downloads": list(self._downloads), "faults_fired": dict(self.faults.fired),
                    "generated": self.dataset.generated}  # fmt: skip

    def requests_to(self, fragment: str) -> int:
        """How many requests hit a path containing `fragment`."""
        with self._stats_lock:
            return sum(n for p, n in self._requests.items() if fragment in p)

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._requests.clear()
            self._downloads.clear()
            self.faults.fired.clear()

    # --- faults and mutations --------------------------------------------------
    def inject(
        self,
        kind,
        count: int = 1,
        path_contains: str | None = None,
        retry_after=None,
        seconds: float | None = None,
        method: str | None = None,
    ) -> None:
        self.faults.add(str(kind), count, path_contains, retry_after, seconds, method)

    def clear_faults(self) -> None:
        self.faults.clear()

    def update_issue(self, key_or_index, **changes):
        return self.dataset.update_issue(key_or_index, **changes)

    def add_issue(self, **fields):
        return self.dataset.add_issue(**fields)

    def delete_issue(self, key_or_id) -> None:
        self.dataset.delete_issue(key_or_id)

    def move_issue(self, key_or_id, new_project: str):
        return self.dataset.move_issue(key_or_id, new_project)

    def set_now(self, when) -> None:
        self.dataset.set_now(when)

    def mutate(self, body: dict) -> dict:
        """The JSON form of the mutation API (POST /_fake/mutate)."""
        op = body.get("op")
        ref = body.get("key", body.get("index"))
        try:
            if op == "update":
                changes = {k: v for k, v in body.items() if k not in ("op", "key", "index")}
                iss = self.update_issue(ref, **changes)
            elif op == "add":
                iss = self.add_issue(**{k: v for k, v in body.items() if k != "op"})
            elif op == "delete":
                self.delete_issue(ref)
                return {"ok": True, "deleted": str(ref)}
            elif op == "move":
                iss = self.move_issue(ref, body["project"])
            elif op == "set_now":
                self.set_now(body.get("epoch_ms"))
                return {"ok": True}
            elif op == "latency":
                self.latency_ms = float(body.get("latency_ms", 0))
                return {"ok": True}
            else:
                raise Reply(400, P.error(f"unknown op {op!r}"))
        except KeyError:
            raise Reply(404, P.error(P.ISSUE_NOT_FOUND)) from None
        return {
            "ok": True,
            "id": str(iss.id),
            "key": iss.key,
            "updated": P.ts(iss.updated, self.dataset.tz),
        }
