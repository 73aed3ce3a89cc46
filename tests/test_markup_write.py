"""Markdown -> ADF (Cloud v3 comments) and Markdown -> wiki markup (Data Center v2 comments).

Every ADF document built here is validated against Atlassian's published ADF JSON schema
(tests/fixtures/adf-schema/full.json, draft-04 with $ref into definitions).
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import random
import re
from pathlib import Path

import jsonschema
import pytest
from jsonschema.exceptions import best_match
from markdown_it import MarkdownIt

from indexer.markup import (
    adf_to_markdown,
    adf_to_text,
    link_issue_keys,
    markdown_to_adf,
    markdown_to_wiki,
    wiki_to_markdown,
    wiki_to_text,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


@functools.cache
def validator() -> jsonschema.Draft4Validator:
    """Built once per test process: the schema is 70 KB of anyOf branches."""
    schema = json.loads((FIXTURES / "adf-schema" / "full.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def assert_valid(document: dict) -> dict:
    error = best_match(validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise AssertionError(f"invalid ADF at {where}: {error.message[:300]}\n{document}")
    return document


def adf(md: str) -> dict:
    return assert_valid(markdown_to_adf(md))


def body(md: str) -> list:
    return adf(md)["content"]


def words_of(md: str) -> set[str]:
    """Words a reader sees when CommonMark renders `md`, plus the link targets."""
    rendered = _MD.render(md)
    hrefs = re.findall(r'href="([^"]*)"', rendered)
    inline_tags = r"</?(?:strong|em|s|code|a)\b[^>]*>"  # these do not separate words
    rendered = re.sub(inline_tags, "", rendered)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", rendered))
    words = set(re.findall(r"\w+", text))
    for href in hrefs:
        words.update(re.findall(r"\w+", html_lib.unescape(href)))
    return words


def test_schema_rejects_what_it_should():
    """Guard against a validator that accepts anything."""
    bad = [
        {
            "version": 1,
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
        },
        {"version": 1, "type": "doc", "content": [{"type": "heading", "content": []}]},
        {"version": 1, "type": "doc", "content": [{"type": "bulletList", "content": []}]},
        {"type": "doc", "content": []},
    ]
    for document in bad:
        assert best_match(validator().iter_errors(document)) is not None
    assert_valid(json.loads((FIXTURES / "markup" / "adf_jira_cli_md.json").read_text()))


# --- Markdown -> ADF: constructs ------------------------------------------------


def test_empty_and_blank_documents():
    for md in ("", "   ", "\n\n\t\n", None):
        assert adf(md) == {"version": 1, "type": "doc", "content": []}


def test_headings_and_paragraphs():
    content = body("# One\n\n###### Six *em*\n\nplain text\nsoft break")
    assert content[0] == {
        "type": "heading",
        "attrs": {"level": 1},
        "content": [{"type": "text", "text": "One"}],
    }
    assert content[1]["attrs"] == {"level": 6}
    assert content[1]["content"][1] == {"type": "text", "text": "em", "marks": [{"type": "em"}]}
    assert content[2] == {
        "type": "paragraph",
        "content": [{"type": "text", "text": "plain text soft break"}],
    }


def test_setext_heading_and_seven_hashes():
    assert body("Title\n=====")[0]["attrs"] == {"level": 1}
    assert body("####### seven")[0]["type"] == "paragraph"


def test_inline_marks():
    content = body("**b** *i* ~~s~~ `c` ***bi***")[0]["content"]
    marked = [
        (n["text"], [m["type"] for m in n.get("marks", [])]) for n in content if n["text"].strip()
    ]
    assert marked == [
        ("b", ["strong"]),
        ("i", ["em"]),
        ("s", ["strike"]),
        ("c", ["code"]),
        ("bi", ["strong", "em"]),
    ]


def test_code_mark_combines_only_with_link():
    content = body("**`bold code`** [`linked code`](https://e.x)")[0]["content"]
    assert content[0] == {"type": "text", "text": "bold code", "marks": [{"type": "code"}]}
    assert content[-1]["marks"] == [
        {"type": "link", "attrs": {"href": "https://e.x"}},
        {"type": "code"},
    ]


def test_links_bold_inside_and_outside():
    inside = body("[**bold** link](https://e.x/a)")[0]["content"]
    assert inside[0]["marks"] == [
        {"type": "link", "attrs": {"href": "https://e.x/a"}},
        {"type": "strong"},
    ]
    assert inside[1] == {
        "type": "text",
        "text": " link",
        "marks": [{"type": "link", "attrs": {"href": "https://e.x/a"}}],
    }
    outside = body("**[link](https://e.x/b)**")[0]["content"]
    assert outside == [
        {
            "type": "text",
            "text": "link",
            "marks": [{"type": "link", "attrs": {"href": "https://e.x/b"}}, {"type": "strong"}],
        }
    ]


def test_autolinks_reference_links_and_empty_links():
    assert (
        body("<https://e.x/auto>")[0]["content"][0]["marks"][0]["attrs"]["href"]
        == "https://e.x/auto"
    )
    assert (
        body("[ref]\n\n[ref]: https://e.x/r")[0]["content"][0]["marks"][0]["attrs"]["href"]
        == "https://e.x/r"
    )
    # [](url) shows the address; [text]() is just the words.
    assert body("[](https://e.x/empty)")[0]["content"] == [
        {
            "type": "text",
            "text": "https://e.x/empty",
            "marks": [{"type": "link", "attrs": {"href": "https://e.x/empty"}}],
        }
    ]
    assert body("[words]()")[0]["content"] == [{"type": "text", "text": "words"}]


def test_bare_urls_become_links_as_jira_cloud_shows_adf_text_as_typed():
    """Wiki markup on Data Center links a bare URL by itself; ADF text is never linked
    by Jira Cloud, so "PR: https://..." in a result would post a dead address."""

    def link(url, *marks):
        return {
            "type": "text",
            "text": url,
            "marks": [{"type": "link", "attrs": {"href": url}}, *marks],
        }

    assert body("PR: https://git.example.com/o/r/pull/12, merged (see https://e.x/a_(b)).")[0][
        "content"
    ] == [
        {"type": "text", "text": "PR: "},
        link("https://git.example.com/o/r/pull/12"),
        {"type": "text", "text": ", merged (see "},
        link("https://e.x/a_(b)"),
        {"type": "text", "text": ")."},
    ]
    # Inside bold it keeps the bold; in code, in a link or as a bare scheme it stays text.
    assert body("**at https://e.x/p**")[0]["content"][1] == link(
        "https://e.x/p", {"type": "strong"}
    )
    assert body("`https://e.x/c` [l](https://e.x/l) http:// x")[0]["content"] == [
        {"type": "text", "text": "https://e.x/c", "marks": [{"type": "code"}]},
        {"type": "text", "text": " "},
        {
            "type": "text",
            "text": "l",
            "marks": [{"type": "link", "attrs": {"href": "https://e.x/l"}}],
        },
        {"type": "text", "text": " http:// x"},
    ]
    cell = body("| a |\n|---|\n| http://e.x/t... |")[0]["content"][1]["content"][0]
    assert cell["content"][0]["content"] == [link("http://e.x/t"), {"type": "text", "text": "..."}]


def test_issue_keys_of_a_project_are_linked_as_data_centers_renderer_links_them():
    """On Data Center the wiki renderer links `ABC-12` in a comment by itself; on Cloud
    an ADF comment showed it as plain text. Keys the caller gives a URL for become
    links (marks kept, code and links left alone); others (`UTF-8`) stay text."""

    def url_of(key):
        return f"https://s.example/browse/{key}" if key.startswith("ABC-") else None

    md = (
        "Fixed in ABC-12, see **ABC-7**; UTF-8 and x-ABC-3 and ABC-4-b stay.\n\n"
        "`ABC-9` [ABC-10](https://e.x/) \n\n```\nABC-11\n```\n\n| ABC-13 |\n|---|\n"
    )
    doc = assert_valid(link_issue_keys(markdown_to_adf(md), url_of))
    first, second, code, table = doc["content"]

    def link(key, *marks):
        href = {"type": "link", "attrs": {"href": f"https://s.example/browse/{key}"}}
        return {"type": "text", "text": key, "marks": [href, *marks]}

    assert first["content"] == [
        {"type": "text", "text": "Fixed in "},
        link("ABC-12"),
        {"type": "text", "text": ", see "},
        link("ABC-7", {"type": "strong"}),
        {"type": "text", "text": "; UTF-8 and x-ABC-3 and ABC-4-b stay."},
    ]
    assert [n["text"] for n in second["content"]] == ["ABC-9", " ", "ABC-10"]
    assert second["content"][0]["marks"] == [{"type": "code"}]
    assert second["content"][2]["marks"][0]["attrs"]["href"] == "https://e.x/"
    assert code["content"] == [{"type": "text", "text": "ABC-11"}]
    assert table["content"][0]["content"][0]["content"][0]["content"] == [link("ABC-13")]


def test_unsafe_link_is_left_as_text():
    assert body("[x](javascript:alert(1))")[0]["content"] == [
        {"type": "text", "text": "[x](javascript:alert(1))"}
    ]


def test_code_blocks_with_and_without_language():
    content = body("```python title=x\nprint(1)\n\n```\n\n    indented\n\n```\n```")
    assert content[0] == {
        "type": "codeBlock",
        "attrs": {"language": "python"},
        "content": [{"type": "text", "text": "print(1)\n"}],
    }
    assert content[1] == {"type": "codeBlock", "content": [{"type": "text", "text": "indented"}]}
    assert content[2] == {"type": "codeBlock", "content": []}


def test_lists_nested_and_ordered_start():
    content = body("3. three\n4. four\n   - inner\n     1. deep\n\n- [ ] not a task")
    ordered = content[0]
    assert ordered["type"] == "orderedList" and ordered["attrs"] == {"order": 3}
    inner = ordered["content"][1]["content"][1]
    assert inner["type"] == "bulletList"
    deep = inner["content"][0]["content"][1]
    assert deep["type"] == "orderedList" and "attrs" not in deep
    assert (
        adf_to_text({"type": "doc", "content": content})
        == "three\nfour\ninner\ndeep\n[ ] not a task"
    )


def test_empty_list_items_get_an_empty_paragraph():
    assert body("-\n- ")[0]["content"][0] == {
        "type": "listItem",
        "content": [{"type": "paragraph", "content": []}],
    }


def test_block_quote_with_list_and_code():
    content = body("> quoted\n>\n> - item\n>\n> ```sh\n> ls\n> ```")
    quote = content[0]
    assert quote["type"] == "blockquote"
    assert [c["type"] for c in quote["content"]] == ["paragraph", "bulletList", "codeBlock"]


def test_things_a_quote_or_list_cannot_hold_are_rewritten():
    quote = body("> # heading\n>\n> | a |\n> |---|\n> | b |\n>\n> ---\n>\n> > inner")[0]
    assert [c["type"] for c in quote["content"]] == ["paragraph"] * 5
    assert quote["content"][0]["content"][0]["marks"] == [{"type": "strong"}]
    item = body("- # h\n- > q\n- | a | b |\n  |---|---|\n  | c | d |")[0]
    assert adf_to_text({"type": "doc", "content": [item]}) == "h\nq\na | b\nc | d"


def test_tables():
    content = body("| Name | `code` |\n|---|:-:|\n| **x** | [l](https://e.x) |\n| | |")
    table = content[0]
    assert table["type"] == "table"
    header, row, empty = table["content"]
    assert [c["type"] for c in header["content"]] == ["tableHeader", "tableHeader"]
    assert header["content"][1]["content"][0]["content"][0]["marks"] == [{"type": "code"}]
    assert row["content"][0]["content"][0]["content"][0]["marks"] == [{"type": "strong"}]
    assert empty["content"][0] == {
        "type": "tableCell",
        "content": [{"type": "paragraph", "content": []}],
    }


def test_rules_and_hard_breaks():
    content = body("a  \nb\\\nc\n\n---\n\n***")
    assert content[0]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "hardBreak"},
        {"type": "text", "text": "b"},
        {"type": "hardBreak"},
        {"type": "text", "text": "c"},
    ]
    assert content[1:] == [{"type": "rule"}, {"type": "rule"}]


def test_images_become_links():
    assert body("![diagram](https://e.x/d.png)")[0]["content"] == [
        {
            "type": "text",
            "text": "diagram",
            "marks": [{"type": "link", "attrs": {"href": "https://e.x/d.png"}}],
        }
    ]
    assert body("![](https://e.x/d.png)")[0]["content"][0]["text"] == "https://e.x/d.png"


def test_html_is_kept_as_text():
    assert body("<div>hi</div>") == [
        {"type": "paragraph", "content": [{"type": "text", "text": "<div>hi</div>"}]}
    ]
    assert body("x <b>bold</b> y")[0]["content"] == [{"type": "text", "text": "x <b>bold</b> y"}]
    assert body("&amp; &copy; &#x1F600;")[0]["content"][0]["text"] == "& © 😀"


def test_nul_and_control_characters():
    assert body("\x00")[0]["content"][0]["text"] == "\ufffd"
    assert body("a\tb")[0]["content"][0]["text"] == "a\tb"


def test_too_deep_nesting_falls_back_to_plain_paragraphs():
    md = "> " * 150 + "deep words"
    content = body(md)
    assert "deep words" in adf_to_text({"type": "doc", "content": content})
    nested = "".join("  " * i + "- level\n" for i in range(80))
    assert adf_to_text(adf(nested)).count("level") == 80


RICH = """# Release notes

Intro with **bold**, *italic*, ~~strike~~, `inline code`, a [link](https://example.org/x?a=1&b=2),
an autolink <https://example.org/auto> and an image ![chart](https://example.org/c.png).
Line ends with a hard break\\
next line.

## Steps

1. First *step*
2. Second step
   - nested bullet with `code`
   - another
     1. deeper
3. Third

> A quote with **bold**
>
> - and a list

```bash
echo "hello" | grep h
```

| Column | Other |
|--------|-------|
| `a\\|b` | **x** |
| [l](https://e.x) | ~~y~~ |

---

Text with <span>html</span>, emoji 🎉, CJK 日本語, and snake_case_words.
"""


def test_rich_sample_validates_and_keeps_structure_and_words():
    document = adf(RICH)
    kinds = [block["type"] for block in document["content"]]
    assert kinds == [
        "heading",
        "paragraph",
        "heading",
        "orderedList",
        "blockquote",
        "codeBlock",
        "table",
        "rule",
        "paragraph",
    ]
    text = adf_to_text(document)
    missing = words_of(RICH) - set(re.findall(r"\w+", text))
    assert not missing
    assert 'echo "hello" | grep h' in text


SNIPPETS = [
    "",
    " ",
    "\n",
    "😀 emoji 👍🏽 family 👨‍👩‍👧",
    "中文 日本語 한국어",
    "x" * 50_000,
    ("word " * 5000).strip(),
    "> - quoted list\n>   - nested in quote\n> - back",
    "| a | b |\n|---|---|\n| `x|y` | **z** |",
    "**[link in bold](https://e.x)**",
    "[**bold in link**](https://e.x)",
    "*[em link](https://e.x)* and ~~[struck](https://e.x)~~",
    "`code` **`bold code`** [`linked code`](https://e.x)",
    "> # heading in quote",
    "> ```\n> code in quote\n> ```",
    "- # heading in list",
    "- > quote in list",
    "- | table | in list |\n  |---|---|\n  | a | b |",
    "> | table |\n> |---|\n> | in quote |",
    "- ---",
    "> ***",
    "1. a\n1. b\n1. c",
    "0. zero start",
    "123456789. huge start",
    "- [ ] task\n- [x] done",
    "***bold italic***",
    "a\n***\nb",
    "Setext\n---",
    "    indented code",
    "\\*not bold\\* \\# not heading",
    "<!-- html comment -->",
    "<details><summary>s</summary>body</details>",
    "-",
    "1.",
    ">",
    "#",
    "|a|\n|-|",
    "**",
    "`",
    "```",
    "~~~\nfenced tildes\n~~~",
    "[l](<url with space>)",
    "a  \n  \nb",
    "trailing hard break  ",
    "line\\",
    "- a\n\n  second paragraph\n- b",
    "> > > triple quote",
    "####### seven",
    "* * *",
    "_",
    "__init__.py and snake_case",
    "https://bare.example.com/path",
    "zero\u200bwidth and\u00a0nbsp",
    "a\u2028b",
    "tab\tseparated",
    "\x00\x01\x7f",
    "emoji in **bold 🎉** and `code 🎉`",
    "[link](https://e.x/a_(b))",
    "![alt *em*](https://e.x/i.png)",
    "*unclosed emphasis",
    "**bold *nested em* bold**",
    "1. item\n\n   ```js\n   let x = 1\n   ```\n2. next",
    "- a\n  - b\n    - c\n      - d\n        - e\n          - f",
    "Term  \n: definition-ish",
    "Footnote[^1]\n\n[^1]: note",
    "&nbsp;&lt;tag&gt;",
]


@pytest.mark.parametrize("md", SNIPPETS)
def test_snippet_validates_and_keeps_words(md):
    document = adf(md)
    text = adf_to_text(document)
    missing = words_of(md) - set(re.findall(r"\w+", text))
    assert not missing


@pytest.mark.parametrize("depth", [1, 5, 20, 60, 150])
def test_nesting_depths_validate(depth):
    for md in ("> " * depth + "x", "".join("  " * i + "- x\n" for i in range(depth))):
        assert "x" in adf_to_text(adf(md))


def test_random_markdown_soup_validates():
    rng = random.Random(5)
    atoms = [
        "word",
        " ",
        "\n",
        "\n\n",
        "**",
        "*",
        "_",
        "~~",
        "`",
        "```",
        "[",
        "](https://e.x)",
        "![",
        "<b>",
        "</b>",
        "# ",
        "> ",
        "- ",
        "1. ",
        "  ",
        "| a |",
        "\n|---|\n",
        "---",
        "\\",
        "&amp;",
        "中",
        "🎉",
    ]
    for _ in range(300):
        md = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 30)))
        document = adf(md)
        if "word" in md and "`" not in md:
            assert "word" in adf_to_text(document)


def test_non_string_input():
    assert adf(12)["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "12"}]}
    ]


# --- round trips through our own reader ---------------------------------------------


def test_real_adf_fixture_round_trips_and_validates():
    original = json.loads(
        (FIXTURES / "markup" / "adf_jira_cli_md.json").read_text(encoding="utf-8")
    )
    md = adf_to_markdown(original)
    rebuilt = adf(md)
    before = set(re.findall(r"\w+", adf_to_text(original)))
    after = set(re.findall(r"\w+", adf_to_text(rebuilt)))
    assert after - before == {"Info", "Warning"}  # panels come back as labelled quotes
    assert before <= after
    kinds = {block["type"] for block in rebuilt["content"]}
    assert {"heading", "blockquote", "bulletList", "orderedList", "table", "codeBlock"} <= kinds
    code = next(b for b in rebuilt["content"] if b["type"] == "codeBlock")
    assert code["attrs"] == {"language": "go"}
    # A second trip is stable: Markdown -> ADF -> Markdown gives the same Markdown.
    assert adf_to_markdown(rebuilt) == md


def test_all_nodes_fixture_round_trip_validates():
    original = json.loads((FIXTURES / "markup" / "adf_all_nodes.json").read_text(encoding="utf-8"))
    rebuilt = adf(adf_to_markdown(original))
    text = adf_to_text(rebuilt)
    for words in (
        "Release checklist",
        "@Sam Sample",
        "Remember the backups",
        "Nested body",
        "future words",
    ):
        assert words in text


def test_marks_round_trip_through_markdown():
    """ADF inline marks -> Markdown -> ADF keep the same marks on the same characters."""
    rng = random.Random(3)
    words = [
        "x*y",
        "a_b",
        "a[b]c",
        "p`q",
        "p<q",
        "a|b",
        "m~~n",
        "c\\d",
        "u.v",
        "k#1",
        "two words",
        "ü中",
        "a!b",
    ]
    marksets = [
        [],
        ["strong"],
        ["em"],
        ["strike"],
        ["code"],
        ["strong", "em"],
        ["em", "strike"],
        ["link"],
        ["link", "strong"],
        ["link", "code"],
    ]

    def node(text, marks):
        built = [
            {"type": "link", "attrs": {"href": "https://e.x/p"}} if m == "link" else {"type": m}
            for m in marks
        ]
        return {"type": "text", "text": text, **({"marks": built} if built else {})}

    def signature(content):
        out = []
        for n in content:
            marks = frozenset(
                m["type"] if m["type"] != "link" else "link:" + m["attrs"]["href"]
                for m in n.get("marks", [])
            )
            for ch in n["text"]:
                out.append((ch, marks if ch.strip() else None))
        while out and out[0][1] is None:
            out.pop(0)
        while out and out[-1][1] is None:
            out.pop()
        return out

    for _ in range(200):
        content = []
        for _ in range(rng.randint(1, 4)):
            if content:
                content.append(node(" ", rng.choice([[], ["strong"], ["em"], ["link"]])))
            content.append(node(rng.choice(words), rng.choice(marksets)))
        original = {
            "version": 1,
            "type": "doc",
            "content": [{"type": "paragraph", "content": content}],
        }
        assert_valid(original)
        md = adf_to_markdown(original)
        rebuilt = adf(md)
        assert signature(rebuilt["content"][0]["content"]) == signature(content), md


# --- Markdown -> wiki markup ---------------------------------------------------------


def test_wiki_constructs():
    assert markdown_to_wiki("# One\n\n### Three") == "h1. One\n\nh3. Three"
    assert markdown_to_wiki("**b** *i* ~~s~~ `c`") == "*b* _i_ -s- {{c}}"
    assert (
        markdown_to_wiki("[text](https://e.x) <https://e.x/a>")
        == "[text|https://e.x] [https://e.x/a]"
    )
    assert markdown_to_wiki("```java\nint x;\n```") == "{code:java}\nint x;\n{code}"
    assert markdown_to_wiki("```\nplain\n```") == "{code}\nplain\n{code}"
    assert markdown_to_wiki("- a\n  - b\n    1. c\n- d") == "* a\n** b\n**# c\n* d"
    assert markdown_to_wiki("1. a\n2. b") == "# a\n# b"
    assert markdown_to_wiki("> quoted\n>\n> more") == "{quote}\nquoted\n\nmore\n{quote}"
    assert markdown_to_wiki("| h | i |\n|---|---|\n| `a` | **b** |") == "||h||i||\n|{{a}}|*b*|"
    assert markdown_to_wiki("a\n\n---\n\nb") == "a\n\n----\n\nb"
    assert markdown_to_wiki("a  \nb") == "a\nb"
    assert markdown_to_wiki("![alt](https://e.x/i.png)") == "!https://e.x/i.png|alt=alt!"
    assert markdown_to_wiki("![](https://e.x/i.png)") == "!https://e.x/i.png!"
    assert markdown_to_wiki("") == ""


def test_wiki_escapes_only_what_jira_would_read():
    wiki = markdown_to_wiki("snake_case file-name {braces} [brackets] a|b \\*literal\\* !bang!")
    assert "snake_case" in wiki and "file-name" in wiki
    assert "\\{braces\\}" in wiki and "\\[brackets\\]" in wiki and "a\\|b" in wiki
    assert wiki_to_text(wiki) == "snake_case file-name {braces} [brackets] a|b *literal* !bang!"


def test_wiki_keeps_backslashes_urls_and_emoticons_as_typed():
    """A backslash before markup or another backslash would be an escape or a line
    break to Jira: it is written &#92;. Bare URLs are linked by Jira as typed, so
    nothing is escaped inside them. `(x)` or `:)` would become icons."""
    bs = "\\"
    md = "share `x` " + bs * 4 + "srv" + bs * 2 + "x, C:" + bs + "Users" + bs + "x, end" + bs * 2
    wiki = markdown_to_wiki(md)  # Markdown reads two backslashes as one
    assert (
        wiki == "share {{x}} &#92;" + bs + "srv" + bs + "x, C:" + bs + "Users" + bs + "x, end&#92;"
    )
    assert (
        wiki_to_text(wiki)
        == "share x " + bs * 2 + "srv" + bs + "x, C:" + bs + "Users" + bs + "x, end" + bs
    )
    url = "https://e.x/~user/a_b-c/(x)?q=1*2"
    assert markdown_to_wiki(f"see {url} and a_b-") == f"see {url} and a_b" + bs + "-"
    wiki = markdown_to_wiki("done (/) not (x), info (i) :) ;) :D (flag) but 10:30 (xy)")
    assert wiki == ("done \\(/) not \\(x), info \\(i) \\:) \\;) \\:D \\(flag) but 10:30 (xy)")
    assert wiki_to_text(wiki) == "done (/) not (x), info (i) :) ;) :D (flag) but 10:30 (xy)"


def test_wiki_emphasis_inside_a_word_takes_the_braced_form():
    """Jira reads *bold* only at word boundaries; {*}bold{*} works inside words."""
    assert markdown_to_wiki("**bold**text, a**b**c and **x** y") == (
        "{*}bold{*}text, a{*}b{*}c and *x* y"
    )
    assert markdown_to_wiki("***both*** words, x***y***z") == "_*both*_ words, x{_}*y*{_}z"
    for md in ("**bold**text", "a*b*c", "x~~y~~z"):
        assert wiki_to_markdown(markdown_to_wiki(md)) == md


def test_wiki_code_protects_macros():
    wiki = markdown_to_wiki("```\nbefore {code} after\n```\n\n`{{mono}}`")
    # the body's {code} cannot close the block early: it is kept verbatim in {noformat}
    assert wiki.startswith("{noformat}\nbefore {code} after\n{noformat}")
    assert "before" in wiki_to_text(wiki) and "after" in wiki_to_text(wiki)
    assert "{{mono}}" in wiki_to_text(wiki)


def test_wiki_empty_link_targets():
    assert markdown_to_wiki("[words]()") == "words"
    assert markdown_to_wiki("[](https://e.x)") == "[https://e.x]"


def test_wiki_rich_sample_reads_back():
    wiki = markdown_to_wiki(RICH)
    rendered = _MD.render(wiki_to_markdown(wiki))
    assert "<h1>Release notes</h1>" in rendered and "<h2>Steps</h2>" in rendered
    assert "<strong>bold</strong>" in rendered and "<em>italic</em>" in rendered
    assert "<s>strike</s>" in rendered and "<code>inline code</code>" in rendered
    assert '<a href="https://example.org/x?a=1&amp;b=2">link</a>' in rendered
    assert '<code class="language-bash">echo &quot;hello&quot; | grep h' in rendered
    assert "<th>Column</th>" in rendered and "<td><code>a|b</code></td>" in rendered
    assert "<blockquote>" in rendered and "<hr />" in rendered
    assert "<li>deeper</li>" in rendered
    missing = words_of(RICH) - set(re.findall(r"\w+", wiki_to_text(wiki)))
    assert not missing


@pytest.mark.parametrize("md", SNIPPETS)
def test_wiki_snippets_keep_words(md):
    wiki = markdown_to_wiki(md)
    text = wiki_to_text(wiki)
    assert not words_of(md) - set(re.findall(r"\w+", text))


def test_wiki_intraword_emphasis_keeps_letters():
    # Jira wiki cannot emphasise inside a word; the letters must still all be there.
    text = wiki_to_text(markdown_to_wiki("2*3*4"))
    assert re.sub(r"\W|_", "", text) == "234"


def test_wiki_deep_nesting_and_odd_input():
    assert "deep" in wiki_to_text(markdown_to_wiki("> " * 150 + "deep"))
    assert markdown_to_wiki(None) == ""
    assert markdown_to_wiki(7) == "7"


# --------------------------------------------------------------------------- wiki sentinels

SENTINELS = ("\x00", "\x01")


def nested_markdown(rng: random.Random, depth: int = 0) -> str:
    """A random Markdown block: headings, quotes, tables and code inside lists inside
    quotes, with emphasis at word edges and inside words."""
    inline = rng.choice(
        [
            "**bold** text",
            "a**b**c",
            "_it_ and ~~gone~~",
            "**_both_**",
            "`code` x",
            "[**link**](https://example.com/a)",
            "word*s*word",
            "plain",
            "tail **bold**",
            "**x**y_z_",
        ]
    )
    kinds = ["heading", "para", "table", "code"] + (["list", "olist", "quote"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "heading":
        return "#" * rng.randint(1, 6) + " " + inline
    if kind == "para":
        return inline + rng.choice(["", "  \nsecond **line**", "\nsoft _wrap_"])
    if kind == "table":
        return f"| {inline} | b |\n|---|---|\n| **c** | {inline} |"
    if kind == "code":
        return "```\n" + inline + "\n```"
    inner = "\n\n".join(nested_markdown(rng, depth + 1) for _ in range(rng.randint(1, 3)))
    if kind == "quote":
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    marker = "- " if kind == "list" else "1. "
    pad = " " * len(marker)
    items = []
    for _ in range(rng.randint(1, 2)):
        lines = inner.split("\n")
        items.append(
            marker + lines[0] + "".join("\n" + (pad + row if row else "") for row in lines[1:])
        )
    return "\n".join(items)


@pytest.mark.parametrize(
    "md",
    [
        "- # Heading in a list",
        "- ## **Bold** in a heading in a list",
        "1. ### a**b**c\n2. item",
        "> - # heading in a list in a quote",
        "- item\n\n  # heading after text\n\n  ```\ncode\n  ```",
        "- > # quoted heading in a list",
        "- | **a** | b |\n  |---|---|\n  | c | d |",
    ],
)
def test_wiki_never_leaks_its_emphasis_markers(md):
    out = markdown_to_wiki(md)
    assert not any(s in out for s in SENTINELS), repr(out)
    assert out.strip()


def test_a_heading_in_a_list_item_is_bold_text_in_the_item():
    assert markdown_to_wiki("- # Heading\n- **b**") == "* *Heading*\n* *b*"
    assert markdown_to_wiki("1. ### Step one\n2. done") == "# *Step one*\n# done"


def test_wiki_fuzz_of_nested_structures_never_leaks_markers():
    rng = random.Random(20240501)
    for _ in range(600):
        md = "\n\n".join(nested_markdown(rng) for _ in range(rng.randint(1, 4)))
        out = markdown_to_wiki(md)
        assert not any(s in out for s in SENTINELS), (md, out)


@pytest.mark.parametrize("text", ["a\x00b", "a\x01b", "*x*\x01", "\x00*y*", "- # h\x01"])
def test_wiki_control_characters_in_the_text_never_become_markers(text):
    out = markdown_to_wiki(text)
    assert not any(s in out for s in SENTINELS), repr(out)


# --------------------------------------------------------------------------- wiki verbatim


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("`C:\\dir\\`", "{{C:\\dir&#92;}}"),
        ("see `a\\` then", "see {{a&#92;}} then"),
        ("`\\{x}`", "{{&#92;\\{x\\}}}"),
        ("`path\\to`", "{{path\\to}}"),
    ],
)
def test_wiki_inline_code_ending_in_a_backslash_keeps_its_closing_braces(md, expected):
    out = markdown_to_wiki(md)
    assert out == expected
    # `}}` must close the monospace: no backslash may stand right before a brace
    assert not re.search(r"(?<!\\)\\\}\}$", out.split(" then")[0])


def test_wiki_code_holding_a_code_tag_goes_verbatim_in_noformat():
    md = '```java\nString s = "{code}";\n{code:xml}<a/>\n```'
    assert markdown_to_wiki(md) == ('{noformat}\nString s = "{code}";\n{code:xml}<a/>\n{noformat}')
    assert markdown_to_wiki("```py\nd = {1: 2}\n```") == "{code:python}\nd = {1: 2}\n{code}"


def test_wiki_code_holding_both_tags_is_changed_as_little_as_possible():
    out = markdown_to_wiki("```\n{code} and {noformat}\n```")
    assert out == "{code}\n{ code} and {noformat}\n{code}"
    assert out.count("{code}") == 2  # only the macro's own tags


def test_br_tags_break_the_line_in_both_formats():
    """`<br>` is how Markdown breaks a line in a table cell: it was posted as the
    literal text "<br>" on Cloud and Data Center alike. Other HTML stays text."""
    md = "| Step | Notes |\n|---|---|\n| 1 | first<br>second<BR />third<br/> |\n\nx <br class=y> z"
    table, paragraph = body(md)
    cell = table["content"][1]["content"][1]["content"][0]["content"]
    assert cell == [
        {"type": "text", "text": "first"},
        {"type": "hardBreak"},
        {"type": "text", "text": "second"},
        {"type": "hardBreak"},
        {"type": "text", "text": "third"},
    ]
    assert paragraph["content"] == [{"type": "text", "text": "x <br class=y> z"}]
    assert markdown_to_wiki(md) == (
        "||Step||Notes||\n|1|first \\\\ second \\\\ third|\n\nx <br class=y> z"
    )
    assert markdown_to_wiki("a<br>b") == "a\nb"


@pytest.mark.parametrize(
    ("info", "head"),
    [
        ("python", "{code:python}"),
        ("py", "{code:python}"),
        ("Python3", "{code:python}"),
        ("ts", "{code:javascript}"),
        ("shell", "{code:bash}"),
        ("yml", "{code:yaml}"),
        ("C#", "{code:c#}"),
        ("c++", "{code:c++}"),
        ("java title=A.java", "{code:java}"),
        ("rust", "{code:none}"),
        ("diff", "{code:none}"),
        ("text", "{code:none}"),
        ("{.python}", "{code:python}"),
        ("", "{code}"),
    ],
)
def test_wiki_code_languages_are_ones_jira_knows(info, head):
    """Data Center's {code} macro knows a fixed list of languages: `{code:rust}` or
    `{code:py}` posted a red "Unable to find source-code formatter for language" above
    the code. Markdown names map onto Jira's; the others become `none`."""
    assert markdown_to_wiki(f"```{info}\nx = 1\n```") == f"{head}\nx = 1\n{{code}}"
