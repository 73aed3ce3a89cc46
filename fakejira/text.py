"""Deterministic, software-flavoured text, and one rich-text model rendered two ways.

A description or comment body is a list of *blocks* (paragraphs, headings, lists,
code, tables, panels). The same blocks render to ADF for REST v3 and to wiki markup
for REST v2, so both API versions show the same issue content.
"""

from __future__ import annotations

import random
from collections.abc import Callable

COMPONENTS = [
    "api", "auth", "billing", "build", "cli", "database", "frontend", "indexer",
    "infra", "notifications", "search", "sync", "ui", "storage",
]  # fmt: skip
CLASSES = [
    "FooService", "HttpClient", "SessionManager", "IndexWriter", "ConfigLoader",
    "TokenRefresher", "QueryPlanner", "RetryPolicy", "CacheWarmer", "BillingGateway",
    "WebhookDispatcher", "SchemaMigrator", "ReportExporter", "UploadHandler",
]  # fmt: skip
FUNCTIONS = [
    "parse_config", "refresh_token", "load_settings", "flush_buffer", "open_connection",
    "compute_checksum", "render_template", "resolve_alias", "sync_issues", "apply_patch",
    "read_chunk", "validate_schema", "retry_request", "close_session",
]  # fmt: skip
ERRORS = [
    "connection pool timeout", "NullPointerException", "OutOfMemoryError", "deadlock",
    "race condition", "memory leak", "stale cache entry", "HTTP 502 from upstream",
    "TLS handshake failure", "slow query", "flaky test", "encoding error",
    "off-by-one error", "socket hang up", "lock wait timeout", "checksum mismatch",
]  # fmt: skip
ACTIONS = [
    "saving a draft", "importing a CSV file", "the nightly job runs", "the cache is cold",
    "two users edit the same record", "the token expires", "uploading large files",
    "paging past the first 1000 results", "the database fails over", "running on Windows",
    "the locale is not English", "retrying after a 429",
]  # fmt: skip
FEATURES = [
    "dark mode", "bulk export", "SSO login", "audit log", "rate limiting", "CSV import",
    "webhook retries", "keyboard shortcuts", "saved filters", "incremental sync",
]  # fmt: skip
LIBS = ["requests", "Jackson", "Spring Boot", "React", "PostgreSQL driver", "OpenSSL"]
WORDS = [
    "the",
    "service",
    "returns",
    "an",
    "error",
    "after",
    "a",
    "while",
    "and",
    "the",
    "logs",
    "show",
    "repeated",
    "retries",
    "we",
    "should",
    "check",
    "the",
    "configuration",
    "because",
    "the",
    "default",
    "value",
    "looks",
    "wrong",
    "for",
    "production",
    "deployments",
    "users",
    "report",
    "that",
    "the",
    "page",
    "is",
    "slow",
    "when",
    "many",
    "items",
    "are",
    "loaded",
    "at",
    "once",
    "this",
    "started",
    "after",
    "the",
    "last",
    "release",
    "and",
    "only",
    "happens",
    "sometimes",
    "a",
    "workaround",
    "is",
    "to",
    "restart",
    "the",
    "worker",
    "but",
    "that",
    "is",
    "not",
    "acceptable",
    "long",
    "term",
]
UNICODE_BITS = [
    "Café résumé naïve façade", "数据库连接超时", "ユーザー設定が保存されない", "🚀 deploy",
    "Größenänderung schlägt fehl", "señal perdida 🐛", "Ошибка кодировки", "😀 emoji in titles",
]  # fmt: skip
LANGS = ["java", "python", "sql", "json", "bash"]


_WORDS_TWICE = WORDS + WORDS  # a run of words from any start, without wrapping by hand


def _upper_first(text: str) -> str:
    """`OutOfMemoryError` stays as it is (str.capitalize lowercases the rest)."""
    return text[:1].upper() + text[1:]


def sentence(rng: random.Random, min_words: int = 8, max_words: int = 18) -> str:
    n = rng.randint(min_words, max_words)
    start = rng.randrange(len(WORDS))
    words = (
        _WORDS_TWICE[start : start + n]
        if n <= len(WORDS)
        else [WORDS[(start + k) % len(WORDS)] for k in range(n)]
    )
    return _upper_first(words[0]) + " " + " ".join(words[1:]) + "."


def summary(rng: random.Random, unicode: bool) -> str:
    templates = [
        lambda: (
            f"{_upper_first(rng.choice(ERRORS))} in {rng.choice(CLASSES)} when {rng.choice(ACTIONS)}"
        ),
        lambda: f"{rng.choice(CLASSES)}.{rng.choice(FUNCTIONS)} fails with {rng.choice(ERRORS)}",
        lambda: f"Add {rng.choice(FEATURES)} to {rng.choice(COMPONENTS)}",
        lambda: f"Improve performance of {rng.choice(FUNCTIONS)}",
        lambda: f"Document {rng.choice(FEATURES)} for admins",
        lambda: f"Upgrade {rng.choice(LIBS)} to {rng.randint(2, 9)}.{rng.randint(0, 20)}",
        lambda: f"NullPointerException in {rng.choice(CLASSES)}",
    ]
    text = rng.choice(templates)()
    if unicode:
        text += " — " + rng.choice(UNICODE_BITS)
    return text


def stack_trace(rng: random.Random, lang: str) -> str:
    cls = rng.choice(CLASSES)
    fn = rng.choice(FUNCTIONS)
    if lang == "python":
        return (
            "Traceback (most recent call last):\n"
            f'  File "app/{fn}.py", line {rng.randint(10, 400)}, in {fn}\n'
            f"    return client.{rng.choice(FUNCTIONS)}(cfg)\n"
            f"TimeoutError: {rng.choice(ERRORS)}"
        )
    lines = [f"java.lang.IllegalStateException: {rng.choice(ERRORS)}"]
    for _ in range(rng.randint(2, 5)):
        c = rng.choice(CLASSES)
        lines.append(
            f"    at com.example.{rng.choice(COMPONENTS)}.{c}.{fn}({c}.java:{rng.randint(20, 900)})"
        )
    lines.append(f"Caused by: java.net.SocketTimeoutException: {cls} read timed out")
    return "\n".join(lines)


def description_blocks(rng: random.Random, users: int, unicode: bool) -> list:
    """A varied description: prose, maybe headings, lists, code, a table or a panel."""
    blocks: list = []
    first = [("t", sentence(rng) + " See "), ("c", rng.choice(FUNCTIONS) + "()"), ("t", " in "),
             ("b", rng.choice(CLASSES)), ("t", ".")]  # fmt: skip
    blocks.append(("p", first))
    if unicode:
        blocks.append(("p", [("t", rng.choice(UNICODE_BITS) + " " + sentence(rng, 4, 8))]))
    if rng.random() < 0.5:
        blocks.append(("h", 3, "Steps to reproduce"))
        items = [[("t", sentence(rng, 4, 9))] for _ in range(rng.randint(2, 4))]
        blocks.append(("ul", items))
    if rng.random() < 0.45:
        lang = rng.choice(["java", "python"])
        blocks.append(("p", [("t", "Stack trace:")]))
        blocks.append(("code", lang, stack_trace(rng, lang)))
    if rng.random() < 0.3:
        blocks.append(("p", [("t", "Assigning to "), ("m", rng.randrange(users)), ("t", " for triage, see "),
                             ("a", "the runbook", f"https://wiki.example.com/runbooks/{rng.choice(COMPONENTS)}"),
                             ("t", ".")]))  # fmt: skip
    if rng.random() < 0.08:
        rows = [
            [rng.choice(COMPONENTS), str(rng.randint(1, 500)), rng.choice(["ok", "failing"])]
            for _ in range(3)
        ]
        blocks.append(("table", ["Component", "Errors", "State"], rows))
    if rng.random() < 0.08:
        blocks.append(("panel", "warning", "Customer impact: " + sentence(rng, 5, 10)))
    blocks.append(("p", [("t", sentence(rng))]))
    return blocks


def comment_blocks(rng: random.Random, users: int) -> list:
    blocks: list = [("p", [("t", sentence(rng, 5, 20))])]
    r = rng.random()
    if r < 0.15:
        lang = rng.choice(LANGS[:2])
        blocks.append(("code", lang, stack_trace(rng, lang)))
    elif r < 0.3:
        blocks.append(("p", [("m", rng.randrange(users)), ("t", " can you take a look at "),
                             ("c", rng.choice(FUNCTIONS)), ("t", "?")]))  # fmt: skip
    return blocks


def text_blocks(text: str) -> list:
    """Plain text (from the mutation API) as paragraphs."""
    return [("p", [("t", part)]) for part in text.split("\n\n") if part] or [("p", [("t", "")])]


# --- rendering ----------------------------------------------------------------

MentionADF = Callable[[int], dict]  # user index -> ADF mention attrs
MentionWiki = Callable[[int], str]  # user index -> "[~name]" or "[~accountid:...]"


def _inline_adf(seg: tuple, mention: MentionADF) -> dict:
    kind = seg[0]
    if kind == "t":
        return {"type": "text", "text": seg[1]}
    if kind == "m":
        return {"type": "mention", "attrs": mention(seg[1])}
    mark = {"b": {"type": "strong"}, "i": {"type": "em"}, "c": {"type": "code"}}.get(kind)
    if kind == "a":
        return {
            "type": "text",
            "text": seg[1],
            "marks": [{"type": "link", "attrs": {"href": seg[2]}}],
        }
    return {"type": "text", "text": seg[1], "marks": [mark]}


def _para_adf(segs: list, mention: MentionADF) -> dict:
    content = [_inline_adf(s, mention) for s in segs if not (s[0] == "t" and s[1] == "")]
    node: dict = {"type": "paragraph"}
    if content:
        node["content"] = content
    return node


def _cell_adf(kind: str, text: str) -> dict:
    return {
        "type": kind,
        "attrs": {},
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def to_adf(blocks: list, mention: MentionADF) -> dict:
    content = []
    for b in blocks:
        kind = b[0]
        if kind == "p":
            content.append(_para_adf(b[1], mention))
        elif kind == "h":
            content.append(
                {
                    "type": "heading",
                    "attrs": {"level": b[1]},
                    "content": [{"type": "text", "text": b[2]}],
                }
            )
        elif kind == "ul":
            items = [{"type": "listItem", "content": [_para_adf(it, mention)]} for it in b[1]]
            content.append({"type": "bulletList", "content": items})
        elif kind == "code":
            content.append(
                {
                    "type": "codeBlock",
                    "attrs": {"language": b[1]},
                    "content": [{"type": "text", "text": b[2]}],
                }
            )
        elif kind == "table":
            rows = [{"type": "tableRow", "content": [_cell_adf("tableHeader", h) for h in b[1]]}]
            rows += [
                {"type": "tableRow", "content": [_cell_adf("tableCell", c) for c in r]}
                for r in b[2]
            ]
            content.append(
                {
                    "type": "table",
                    "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                    "content": rows,
                }
            )
        elif kind == "panel":
            para = {"type": "paragraph", "content": [{"type": "text", "text": b[2]}]}
            content.append({"type": "panel", "attrs": {"panelType": b[1]}, "content": [para]})
    return {"version": 1, "type": "doc", "content": content}


def _inline_wiki(seg: tuple, mention: MentionWiki) -> str:
    kind = seg[0]
    if kind == "t":
        return seg[1]
    if kind == "m":
        return mention(seg[1])
    if kind == "a":
        return f"[{seg[1]}|{seg[2]}]"
    return {"b": "*{}*", "i": "_{}_", "c": "{{{{{}}}}}"}[kind].format(seg[1])


_PANEL_COLOURS = {
    "info": "#deebff",
    "note": "#eae6ff",
    "warning": "#fffae6",
    "error": "#ffebe6",
    "success": "#e3fcef",
}


def to_wiki(blocks: list, mention: MentionWiki) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "p":
            out.append("".join(_inline_wiki(s, mention) for s in b[1]))
        elif kind == "h":
            out.append(f"h{b[1]}. {b[2]}")
        elif kind == "ul":
            out.append(
                "\n".join("* " + "".join(_inline_wiki(s, mention) for s in it) for it in b[1])
            )
        elif kind == "code":
            out.append(f"{{code:{b[1]}}}\n{b[2]}\n{{code}}")
        elif kind == "table":
            lines = ["||" + "||".join(b[1]) + "||"] + ["|" + "|".join(r) + "|" for r in b[2]]
            out.append("\n".join(lines))
        elif kind == "panel":
            out.append(
                f"{{panel:bgColor={_PANEL_COLOURS.get(b[1], '#deebff')}}}\n{b[2]}\n{{panel}}"
            )
    return "\n\n".join(out)


def adf_plain_text(node) -> str:
    """Rough text of an ADF node (used to store posted v3 comments for v2 reads)."""
    if isinstance(node, dict):
        if node.get("type") == "text":
            return node.get("text", "")
        if node.get("type") == "mention":
            return (node.get("attrs") or {}).get("text", "")
        parts = [adf_plain_text(c) for c in node.get("content") or []]
        sep = "\n\n" if node.get("type") == "doc" else ""
        return sep.join(parts)
    return ""
