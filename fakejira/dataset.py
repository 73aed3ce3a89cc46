"""A lazy, deterministic issue set: issue i (1..N) is a pure function of (seed, i).

Nothing is built up front. `updated` is strictly increasing in i (i * step plus a
jitter smaller than the step), so "ORDER BY updated|id|key" over untouched issues is
index order and range filters on `updated` are a binary search. Mutated, moved,
deleted and added issues live in a small overlay dict that is merged into every
listing. `generated` counts full issue builds, so tests can prove a search page of a
300,000-issue set did not build them all.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import random
import struct
import threading
import time
import zlib
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

from . import text
from .jql import JQLError, Query

START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
STEP_MS = 5 * 60_000
ID_BASE = 10_000
COMMENT_BASE = 1_000_000
ATTACHMENT_BASE = 50_000_000
POSTED_COMMENT_BASE = 1_000_000_000
EMBEDDED_COMMENTS = 20
MAX_GENERATED_COMMENTS = 60
_M64 = (1 << 64) - 1

ISSUE_TYPES = ["Bug", "Bug", "Task", "Story", "Story", "Improvement", "Epic"]
STATUSES = ["To Do", "In Progress", "In Review", "Done", "Done", "Closed"]
PRIORITIES = ["Highest", "High", "Medium", "Medium", "Low", "Lowest"]
LABELS = [
    "backend",
    "frontend",
    "regression",
    "customer",
    "tech-debt",
    "security",
    "perf",
    "needs-triage",
    "flaky",
]

USERS = [  # fictional people: (display name, DC user name, e-mail)
    ("Ana Souza", "asouza", "ana.souza@example.com"),
    ("José Álvarez", "jalvarez", "jose.alvarez@example.com"),
    ("Wei Zhang 张伟", "wzhang", "wei.zhang@example.com"),
    ("Priya Raman", "praman", "priya.raman@example.com"),
    ("Zoë Müller", "zmuller", "zoe.muller@example.com"),
    ("Kwame Mensah", "kmensah", "kwame.mensah@example.com"),
    ("Olga Ivanova", "oivanova", "olga.ivanova@example.com"),
    ("Sam Carter", "scarter", "sam.carter@example.com"),
    ("Yuki Tanaka 田中", "ytanaka", "yuki.tanaka@example.com"),
    ("Liam O'Brien", "lobrien", "liam.obrien@example.com"),
]
ME = -1  # user index of the API caller


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash for per-issue metadata."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Meta(NamedTuple):
    """What listing, filtering and ordering need; cheap to compute for any i."""

    index: int
    id: int
    project: str
    num: int
    created: int
    updated: int

    @property
    def key(self) -> str:
        return f"{self.project}-{self.num}"


@dataclass
class Comment:
    id: int
    author: int
    created: int
    updated: int
    blocks: list | None = None  # generated/plain text content, rendered per API version
    adf: dict | None = None  # posted through v3 as-is
    wiki: str | None = None  # posted through v2 as-is


@dataclass
class Attachment:
    id: int
    filename: str
    mime: str
    author: int
    created: int
    data: bytes


@dataclass
class Issue:
    index: int
    id: int
    project: str
    num: int
    created: int
    updated: int
    summary: str
    blocks: list | None
    issuetype: str
    status: str
    priority: str
    assignee: int | None
    reporter: int
    labels: list[str]
    components: list[str]
    comments: list[Comment]
    attachments: list[Attachment]
    deleted: bool = False
    old_keys: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.project}-{self.num}"

    def meta(self) -> Meta:
        return Meta(self.index, self.id, self.project, self.num, self.created, self.updated)


class _Rev:
    """Reverses comparison of one sort component (for DESC)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return other.v < self.v

    def __gt__(self, other: _Rev) -> bool:
        return other.v > self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


def _png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _attachment_body(
    rng: random.Random, kind: str, key: str, created: int
) -> tuple[str, str, bytes]:
    if kind == "log":
        lines = []
        t = created - 3_600_000
        for _ in range(rng.randint(10, 40)):
            t += rng.randint(100, 60_000)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t / 1000))
            level = rng.choice(["INFO", "INFO", "WARN", "ERROR", "DEBUG"])
            msg = f"{rng.choice(text.CLASSES)}: {rng.choice(text.ERRORS)} in {rng.choice(text.FUNCTIONS)}"
            lines.append(f"{stamp},{t % 1000:03d} {level} [{rng.choice(text.COMPONENTS)}] {msg}")
        lines.append(text.stack_trace(rng, "java"))
        return f"server-{key}.log", "text/plain", ("\n".join(lines) + "\n").encode()
    if kind == "md":
        body = f"# Notes for {key}\n\n{text.sentence(rng)}\n\n- {text.sentence(rng, 3, 6)}\n- `{rng.choice(text.FUNCTIONS)}`\n"
        return "notes.md", "text/markdown", body.encode()
    if kind == "csv":
        rows = ["timestamp,component,latency_ms,errors"]
        for k in range(rng.randint(5, 20)):
            rows.append(
                f"{created // 1000 + k * 60},{rng.choice(text.COMPONENTS)},{rng.randint(3, 900)},{rng.randint(0, 5)}"
            )
        return "metrics.csv", "text/csv", ("\n".join(rows) + "\n").encode()
    if kind == "json":
        doc = {"service": rng.choice(text.CLASSES), "retries": rng.randint(0, 5), "timeout_ms": rng.randint(100, 30000),
               "features": rng.sample(text.FEATURES, 2)}  # fmt: skip
        return "config.json", "application/json", json.dumps(doc, indent=2).encode()
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return "screenshot.png", "image/png", _png(colour)


class Dataset:
    """Issues of one fake site. All public methods are thread-safe."""

    def __init__(
        self,
        issues: int = 100,
        seed: int = 1,
        project: str = "DEMO",
        comments: bool = True,
        attachments: bool = True,
        time_zone: str = "America/Los_Angeles",
        start_ms: int = START_MS,
    ):
        self.n = issues
        self.start_ms = start_ms  # issue 1's `updated`; one issue every STEP_MS after it
        self.seed = seed
        self.project = project.upper()
        self.with_comments = comments
        self.with_attachments = attachments
        self.tz = ZoneInfo(time_zone)
        self.lock = threading.RLock()
        self.overlay: dict[int, Issue] = {}
        self.key_alias: dict[str, int] = {}  # moved/added keys (current and old) -> index
        self.projects: dict[str, tuple[int, str]] = {
            self.project: (10_000, f"{self.project.title()} project")
        }
        self.next_num: dict[str, int] = {}
        self.next_index = issues + 1
        self.next_comment_id = POSTED_COMMENT_BASE
        self.generated = 0  # full issue builds (not metadata)
        self.fixed_now: int | None = None

    # --- time ----------------------------------------------------------------
    def now_ms(self) -> int:
        return self.fixed_now if self.fixed_now is not None else int(time.time() * 1000)

    def set_now(self, when) -> None:
        """Freeze "now" (epoch ms, datetime, or None to follow the clock)."""
        if when is None or isinstance(when, int | float):
            self.fixed_now = None if when is None else int(when)
        else:
            self.fixed_now = int(when.timestamp() * 1000)

    # --- metadata of untouched issues ----------------------------------------
    def base_updated(self, i: int) -> int:
        return self.start_ms + i * STEP_MS + _mix(self.seed * 1_000_003 + i) % (STEP_MS - 1000)

    def base_created(self, i: int) -> int:
        age = _mix(self.seed * 7_000_003 + i) % (120 * 86_400_000)
        return max(self.start_ms - 30 * 86_400_000, self.base_updated(i) - age)

    def base_meta(self, i: int) -> Meta:
        return Meta(i, ID_BASE + i, self.project, i, self.base_created(i), self.base_updated(i))

    def _rng(self, i: int, salt: int) -> random.Random:
        return random.Random((self.seed << 48) ^ (i << 8) ^ salt)

    # --- full issues ---------------------------------------------------------
    def _generate(self, i: int) -> Issue:
        self.generated += 1
        m = self.base_meta(i)
        rng = self._rng(i, 1)
        unicode = rng.random() < 0.04
        status = rng.choice(STATUSES)
        issue = Issue(
            index=i, id=m.id, project=m.project, num=m.num, created=m.created, updated=m.updated,
            summary=text.summary(rng, unicode),
            blocks=text.description_blocks(rng, len(USERS), unicode) if rng.random() < 0.92 else None,
            issuetype=rng.choice(ISSUE_TYPES), status=status, priority=rng.choice(PRIORITIES),
            assignee=rng.randrange(len(USERS)) if rng.random() < 0.8 else None,
            reporter=rng.randrange(len(USERS)),
            labels=sorted(set(rng.sample(LABELS, rng.randint(0, 3)))),
            components=sorted(set(rng.sample(text.COMPONENTS, rng.randint(0, 2)))),
            comments=[], attachments=[],
        )  # fmt: skip
        if self.with_comments:
            issue.comments = self._generate_comments(issue)
        if self.with_attachments:
            issue.attachments = self._generate_attachments(issue)
        return issue

    def _generate_comments(self, issue: Issue) -> list[Comment]:
        rng = self._rng(issue.index, 2)
        r = rng.random()
        if r < 0.35:
            count = 0
        elif r < 0.80:
            count = rng.randint(1, 4)
        elif r < 0.93:
            count = rng.randint(5, EMBEDDED_COMMENTS - 1)
        else:
            count = rng.randint(EMBEDDED_COMMENTS + 1, MAX_GENERATED_COMMENTS)
        span = max(1, issue.updated - issue.created)
        stamps = sorted(issue.created + rng.randrange(span) for _ in range(count))
        out = []
        for j, created in enumerate(stamps):
            out.append(Comment(id=COMMENT_BASE + issue.index * 100 + j, author=rng.randrange(len(USERS)),
                               created=created, updated=created, blocks=text.comment_blocks(rng, len(USERS))))  # fmt: skip
        return out

    def _generate_attachments(self, issue: Issue) -> list[Attachment]:
        rng = self._rng(issue.index, 3)
        if rng.random() >= 0.2:
            return []
        out = []
        for j in range(rng.randint(1, 3)):
            kind = rng.choice(["log", "log", "md", "csv", "json", "png"])
            created = issue.created + rng.randrange(max(1, issue.updated - issue.created))
            name, mime, data = _attachment_body(rng, kind, issue.key, created)
            out.append(
                Attachment(
                    ATTACHMENT_BASE + issue.index * 10 + j,
                    name,
                    mime,
                    rng.randrange(len(USERS)),
                    created,
                    data,
                )
            )
        return out

    def _live(self, i: int) -> Issue | None:
        if i in self.overlay:
            issue = self.overlay[i]
            return None if issue.deleted else issue
        if 1 <= i <= self.n:
            return self._generate(i)
        return None

    def _editable(self, i: int) -> Issue:
        """Move issue i into the overlay so it can be changed."""
        if i not in self.overlay:
            issue = self._live(i)
            if issue is None:
                raise KeyError(i)
            self.overlay[i] = issue
        issue = self.overlay[i]
        if issue.deleted:
            raise KeyError(i)
        return issue

    def resolve(self, key_or_id) -> int | None:
        """Index of a live issue by id, index (int) or key (current or pre-move)."""
        with self.lock:
            if isinstance(key_or_id, int):
                i = key_or_id
            else:
                s = str(key_or_id).strip().upper()
                if s.isdigit():
                    i = int(s) - ID_BASE
                elif s in self.key_alias:
                    i = self.key_alias[s]
                else:
                    proj, _, num = s.rpartition("-")
                    if proj != self.project or not num.isdigit():
                        return None
                    i = int(num)
                    if i in self.overlay and self.overlay[i].key != s:
                        return None  # moved away; its old key is in key_alias
            return i if self._exists(i) else None

    def _exists(self, i: int) -> bool:
        if i in self.overlay:
            return not self.overlay[i].deleted
        return 1 <= i <= self.n

    def issue(self, key_or_id) -> Issue | None:
        with self.lock:
            i = self.resolve(key_or_id)
            return None if i is None else self._live(i)

    def attachment(self, att_id: int) -> tuple[Issue, Attachment] | None:
        with self.lock:
            issue = self._live((att_id - ATTACHMENT_BASE) // 10)
            if issue is None:
                return None
            for att in issue.attachments:
                if att.id == att_id:
                    return issue, att
            return None

    # --- mutations -----------------------------------------------------------
    def update_issue(
        self, key_or_index, summary=None, description=None, status=None, add_comment=None, **extra
    ) -> Issue:
        with self.lock:
            i = self.resolve(key_or_index)
            if i is None:
                raise KeyError(key_or_index)
            issue = self._editable(i)
            now = self.now_ms()
            if summary is not None:
                issue.summary = summary
            if description is not None:
                issue.blocks = text.text_blocks(description)
            if status is not None:
                issue.status = status
            for name in ("labels", "components", "priority", "issuetype"):
                if name in extra:
                    setattr(issue, name, extra[name])
            if "assignee" in extra:
                issue.assignee = extra["assignee"]
            if add_comment is not None:
                issue.comments.append(
                    self._new_comment(ME, now, blocks=text.text_blocks(add_comment))
                )
            issue.updated = now
            return issue

    def _new_comment(self, author: int, now: int, **body) -> Comment:
        self.next_comment_id += 1
        return Comment(id=self.next_comment_id, author=author, created=now, updated=now, **body)

    def post_comment(
        self, key_or_id, adf: dict | None = None, wiki: str | None = None
    ) -> tuple[Issue, Comment]:
        with self.lock:
            i = self.resolve(key_or_id)
            if i is None:
                raise KeyError(key_or_id)
            issue = self._editable(i)
            now = self.now_ms()
            comment = self._new_comment(ME, now, adf=adf, wiki=wiki)
            issue.comments.append(comment)
            issue.updated = now
            return issue, comment

    def add_issue(
        self,
        summary: str | None = None,
        description: str | None = None,
        project: str | None = None,
        **extra,
    ) -> Issue:
        with self.lock:
            i = self.next_index
            self.next_index += 1
            rng = self._rng(i, 1)
            now = self.now_ms()
            proj = (project or self.project).upper()
            self._ensure_project(proj)
            num = i if proj == self.project else self._take_num(proj)
            issue = Issue(
                index=i, id=ID_BASE + i, project=proj, num=num, created=now, updated=now,
                summary=summary or text.summary(rng, False),
                blocks=text.text_blocks(description) if description else text.description_blocks(rng, len(USERS), False),
                issuetype=extra.get("issuetype", "Task"), status=extra.get("status", "To Do"),
                priority=extra.get("priority", "Medium"), assignee=extra.get("assignee"), reporter=ME,
                labels=list(extra.get("labels", [])), components=list(extra.get("components", [])),
                comments=[], attachments=[],
            )  # fmt: skip
            self.overlay[i] = issue
            self.key_alias[issue.key] = i
            return issue

    def delete_issue(self, key_or_id) -> None:
        with self.lock:
            i = self.resolve(key_or_id)
            if i is None:
                raise KeyError(key_or_id)
            self._editable(i).deleted = True

    def move_issue(self, key_or_id, new_project: str) -> Issue:
        with self.lock:
            i = self.resolve(key_or_id)
            if i is None:
                raise KeyError(key_or_id)
            issue = self._editable(i)
            proj = new_project.upper()
            self._ensure_project(proj)
            issue.old_keys.append(issue.key)
            self.key_alias[issue.key] = i
            issue.project, issue.num = proj, self._take_num(proj)
            self.key_alias[issue.key] = i
            issue.updated = self.now_ms()
            return issue

    def _ensure_project(self, key: str) -> None:
        if key not in self.projects:
            self.projects[key] = (10_000 + len(self.projects), f"{key.title()} project")

    def _take_num(self, proj: str) -> int:
        num = self.next_num.get(proj, 1 if proj != self.project else self.next_index)
        self.next_num[proj] = num + 1
        return num

    # --- search --------------------------------------------------------------
    def _raw_sortkey(self, m: Meta, order: list[tuple[str, bool]]) -> list:
        out: list = []
        for name, _ in order:
            out.append([m.project, m.num] if name == "key" else getattr(m, name))
        out.append(m.id)
        return out

    @staticmethod
    def _wrap(raw: list, order: list[tuple[str, bool]]) -> tuple:
        parts = []
        for (_, asc), v in zip(order, raw, strict=False):
            v = tuple(v) if isinstance(v, list) else v
            parts.append(v if asc else _Rev(v))
        parts.append(raw[-1])
        return tuple(parts)

    def _matches(self, m: Meta, q: Query, keys_of: Issue | None = None) -> bool:
        if q.projects is not None and m.project not in q.projects:
            return False
        if q.ids is not None and m.id not in q.ids:
            return False
        if q.keys is not None:
            names = {m.key, *(keys_of.old_keys if keys_of else [])}
            if not names & q.keys:
                return False
        if q.key_range is not None:
            project, lo, hi = q.key_range
            if (
                m.project != project
                or (lo is not None and m.num < lo)
                or (hi is not None and m.num > hi)
            ):
                return False
        for name, (lo, hi) in q.bounds.items():
            v = getattr(m, name)
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return False
        return all(getattr(m, name) != v for name, v in q.not_equal)

    def _base_candidates(self, q: Query) -> tuple[int, int, list[int] | None]:
        """Index range [lo, hi] of untouched issues that may match, or an explicit list."""
        if q.projects is not None and self.project not in q.projects:
            return 1, 0, None
        lo, hi = 1, self.n
        ulo, uhi = q.bounds["updated"]
        if ulo is not None:
            lo = max(lo, bisect_left(range(self.n + 1), ulo, lo=1, key=self.base_updated))
        if uhi is not None:
            hi = min(hi, bisect_left(range(self.n + 1), uhi + 1, lo=1, key=self.base_updated) - 1)
        if q.key_range is not None:  # base issue i is PROJECT-i
            project, klo, khi = q.key_range
            if project != self.project:
                return 1, 0, None
            lo, hi = max(lo, klo or 1), min(hi, self.n if khi is None else khi)
        explicit: set[int] | None = None
        if q.ids is not None:
            explicit = {x - ID_BASE for x in q.ids}
        if q.keys is not None:
            nums = set()
            for k in q.keys:
                proj, _, num = k.rpartition("-")
                if proj == self.project and num.isdigit():
                    nums.add(int(num))
            explicit = nums if explicit is None else explicit & nums
        if explicit is not None:
            return lo, hi, sorted(x for x in explicit if lo <= x <= hi)
        return lo, hi, None

    def check_query(self, q: Query) -> None:
        for p in sorted(q.projects or ()):
            if p not in self.projects:
                raise JQLError(f"The value '{p}' does not exist for the field 'project'.")

    def missing_values(self, q: Query) -> list[str]:
        """Data Center's messages for the ids and keys of `q` no issue has."""
        with self.lock:
            ids = sorted(n for n in q.ids or () if self.resolve(str(n)) is None)
            keys = sorted(k for k in q.keys or () if self.resolve(k) is None)
        return [f"A value with ID '{n}' does not exist for the field 'id'." for n in ids] + [
            f"An issue with key '{k}' does not exist for field 'key'." for k in keys
        ]

    def search(
        self, q: Query, after: list | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[Meta], bool]:
        """One page of matches in JQL order: (metas, more_after_this_page)."""
        with self.lock:
            self.check_query(q)
            order = q.order or [("key", False)]
            stream = self._ordered(q, order, after)
            page = list(itertools.islice(stream, offset, offset + limit + 1))
            return page[:limit], len(page) > limit

    def _ordered(self, q: Query, order, after: list | None) -> Iterator[Meta]:
        def sortkey(m: Meta) -> tuple:
            return self._wrap(self._raw_sortkey(m, order), order)

        after_key = self._wrap(after, order) if after is not None else None
        over = [
            iss.meta()
            for iss in self.overlay.values()
            if not iss.deleted and self._matches(iss.meta(), q, iss)
        ]
        over.sort(key=sortkey)
        if after_key is not None:
            over = [m for m in over if sortkey(m) > after_key]
        lo, hi, explicit = self._base_candidates(q)
        seq = explicit if explicit is not None else range(lo, hi + 1)
        primary, asc = order[0]
        if primary in ("updated", "id", "key"):
            if not asc:
                seq = seq[::-1]
            start = 0
            if after_key is not None:
                start = bisect_left(seq, after_key, key=lambda i: sortkey(self.base_meta(i)))
                while start < len(seq) and sortkey(self.base_meta(seq[start])) <= after_key:
                    start += 1
            base = self._base_stream(seq, start, q)
        else:  # created is not monotone in i: sort the candidates (fine for test-sized sets)
            metas = [m for m in self._base_stream(seq, 0, q)]
            metas.sort(key=sortkey)
            base = iter(m for m in metas if after_key is None or sortkey(m) > after_key)
        return heapq.merge(base, over, key=sortkey)

    def _base_stream(self, seq, start: int, q: Query) -> Iterator[Meta]:
        overlay = self.overlay
        for pos in range(start, len(seq)):
            i = seq[pos]
            if i in overlay:
                continue
            m = self.base_meta(i)
            if self._matches(m, q):
                yield m

    def count(self, q: Query) -> int:
        with self.lock:
            self.check_query(q)
            lo, hi, explicit = self._base_candidates(q)
            over = sum(
                1
                for iss in self.overlay.values()
                if not iss.deleted and self._matches(iss.meta(), q, iss)
            )
            simple = explicit is None and q.bounds["created"] == [None, None] and not q.not_equal
            if simple:
                inside = sum(1 for i in self.overlay if lo <= i <= hi)
                return max(0, hi - lo + 1) - inside + over
            seq = explicit if explicit is not None else range(lo, hi + 1)
            return sum(1 for _ in self._base_stream(seq, 0, q)) + over

    def page_token(self, m: Meta, q: Query, jql: str) -> str:
        order = q.order or [("key", False)]
        payload = {
            "a": self._raw_sortkey(m, order),
            "h": hashlib.sha1(jql.encode()).hexdigest()[:8],
        }
        return (
            base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
            .decode()
            .rstrip("=")
        )

    @staticmethod
    def read_token(token: str, jql: str) -> list | None:
        """The position a token stands for, or None if it is not one of ours for this JQL."""
        try:
            pad = "=" * (-len(token) % 4)
            payload = json.loads(base64.urlsafe_b64decode(token + pad))
            if payload["h"] != hashlib.sha1(jql.encode()).hexdigest()[:8]:
                return None
            return list(payload["a"])
        except (ValueError, KeyError, TypeError):
            return None
