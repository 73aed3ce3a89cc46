"""ADF -> Markdown (display) and plain text (index).

The Markdown is checked by rendering it with markdown-it (CommonMark + tables +
strikethrough): what matters is what a reader sees, not the exact characters.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from indexer.markup import adf_to_markdown, adf_to_text, to_markdown, to_text
from indexer.markup.adf_read import MAX_DEPTH

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "markup"
_MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def html(markdown: str) -> str:
    return _MD.render(markdown)


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --- tiny ADF builders -------------------------------------------------------


def doc(*blocks) -> dict:
    return {"version": 1, "type": "doc", "content": list(blocks)}


def p(*inline) -> dict:
    return {"type": "paragraph", "content": [t(i) if isinstance(i, str) else i for i in inline]}


def t(text: str, *marks) -> dict:
    node: dict = {"type": "text", "text": text}
    if marks:
        node["marks"] = [m if isinstance(m, dict) else {"type": m} for m in marks]
    return node


def link(href: str) -> dict:
    return {"type": "link", "attrs": {"href": href}}


def li(*blocks) -> dict:
    return {"type": "listItem", "content": list(blocks)}


def bullets(*items) -> dict:
    return {"type": "bulletList", "content": list(items)}


def ordered(*items, order=None) -> dict:
    node: dict = {"type": "orderedList", "content": list(items)}
    if order is not None:
        node["attrs"] = {"order": order}
    return node


def no_json_leak(text: str) -> None:
    for marker in ('"type"', "'type'", '"content"', "'attrs'", '"attrs"', "{'", '{"'):
        assert marker not in text, f"ADF structure leaked into output: {marker!r}"


# --- real documents -----------------------------------------------------------


def test_jira_cli_document_markdown_structure():
    md = adf_to_markdown(load("adf_jira_cli_md.json"))
    no_json_leak(md)
    rendered = html(md)
    assert "<h1>H1</h1>" in rendered
    assert "<h2>H2</h2>" in rendered
    assert "<strong>Bold Text</strong>" in rendered
    assert "<em>Italic Text</em>" in rendered
    assert "<s>Prefix: Strikethrough text</s>" in rendered
    assert "<code>Prefix: Inline Code Block</code>" in rendered
    assert '<a href="https://example.org">Link</a>' in rendered
    assert "@Alex Example" in rendered
    # Paragraph text that looks like a list stays a paragraph ("1. Some text").
    assert "1. Some text" in rendered and "<ol>\n<li>Some text" not in rendered
    # Nested lists survive four levels deep.
    assert rendered.count("<ul>") == 4
    assert "<li>fourth level</li>" in rendered
    assert '<code class="language-go">package main' in rendered
    assert rendered.count("<table>") == 2
    assert "<th><strong>Table Header 5</strong></th>" in rendered
    assert "<td>Table row 2 column 3</td>" in rendered
    assert "<blockquote>\n<p>Blockquote text</p>" in rendered
    assert "<strong>Info:</strong> Panel paragraph" in rendered
    assert "<strong>Warning:</strong> <strong>Strong</strong> Paragraph 1" in rendered
    # The inline card is a link of its own, not glued to the word before it.
    assert 'Inline Node <a href="https://example.atlassian.net/wiki/' in rendered


def test_jira_cli_document_plain_text():
    text = adf_to_text(load("adf_jira_cli_md.json"))
    no_json_leak(text)
    lines = text.split("\n")
    for expected in (
        "H1",
        "1. Some text",
        "Blockquote text",
        "Panel paragraph",
        "@Alex Example",
        "Link (https://example.org)",
        "fourth level",
        'fmt.Println("Hello, World!")',
        "Table row 1 column 1  Table row 1 column 2  Table row 1 column 3",
    ):
        assert any(expected in line for line in lines), expected
    assert "**" not in text and "```" not in text and "| ---" not in text


def test_small_real_bodies_are_their_words():
    bodies = load("adf_small_bodies.json")
    assert adf_to_markdown(bodies["airbyte_issue"][0]) == "Test issue"
    assert adf_to_text(bodies["demisto_comments"][2]) == "This is a comment from Jira demo"
    for group in bodies.values():
        for body in group:
            text = adf_to_text(body)
            assert text and text == adf_to_markdown(body).replace("\\", "")
            no_json_leak(text)


def test_all_nodes_document():
    document = load("adf_all_nodes.json")
    md = adf_to_markdown(document)
    text = adf_to_text(document)
    no_json_leak(md)
    no_json_leak(text)
    rendered = html(md)
    assert "<h3>Release checklist</h3>" in rendered
    assert "@Sam Sample" in md and "@Sam Sample" in text
    assert "[IN PROGRESS]" in rendered and "In progress" in text
    assert "2024-05-01" in md and "2024-05-01" in text
    assert "🚀" in md and ":party:" in md
    assert '<a href="https://example.atlassian.net/browse/DEMO-7">' in rendered
    assert '<a href="https://example.org/docs"><strong>bold link</strong></a>' in rendered
    assert "x|y with * and _under_ and [brackets]" in rendered.replace("<br />\n", "")
    assert "<td>30 seconds</td>" in rendered  # two paragraphs in one cell stay in the row
    assert "<th>Value | unit</th>" in rendered
    assert '<code class="language-java">class A {\n  int x = 2 * 3;\n}' in rendered
    assert "<strong>Note:</strong> Remember the backups." in rendered
    assert "<strong>Error:</strong> Never deploy on Friday." in rendered
    assert "<hr />" in rendered
    assert "<strong>Details</strong>" in rendered and "Hidden body" in rendered
    assert "<strong>More</strong>" in rendered and "Nested body" in rendered
    assert "screenshot.png" in md and "screenshot.png" in text
    assert '<a href="https://example.org/design">' in rendered
    assert "- [x] write tests" in md and "- [ ] ship it" in md
    assert "Column text" in text and "future words" in md and "future words" in text
    assert '<ol start="3">\n<li>third</li>\n<li>fourth</li>' in rendered


# --- node by node -------------------------------------------------------------


@pytest.mark.parametrize("level", range(1, 7))
def test_heading_levels(level):
    md = adf_to_markdown(doc({"type": "heading", "attrs": {"level": level}, "content": [t("T")]}))
    assert html(md) == f"<h{level}>T</h{level}>\n"


def test_heading_with_bad_level_and_hard_break():
    node = {"type": "heading", "attrs": {"level": "9"}, "content": [t("a"), {"type": "hardBreak"}]}
    node["content"].append(t("b"))
    md = adf_to_markdown(doc(node))
    assert html(md) == "<h1>a b</h1>\n"
    assert adf_to_text(doc(node)) == "a\nb"


def test_nested_and_ordered_lists():
    document = doc(
        ordered(
            li(p("one"), bullets(li(p("inner a")), li(p("inner b"), ordered(li(p("deep")))))),
            li(p("two")),
            order=5,
        )
    )
    md = adf_to_markdown(document)
    assert md == "5. one\n   - inner a\n   - inner b\n     1. deep\n6. two"
    rendered = html(md)
    assert rendered.startswith('<ol start="5">')
    assert "<li>deep</li>" in rendered
    assert adf_to_text(document) == "one\ninner a\ninner b\ndeep\ntwo"


def test_ordered_list_start_zero_and_garbage_start():
    assert adf_to_markdown(doc(ordered(li(p("z")), order=0))) == "0. z"
    assert adf_to_markdown(doc(ordered(li(p("z")), order="x"))) == "1. z"
    assert adf_to_markdown(doc(ordered(li(p("z")), order=-4))) == "1. z"


def test_list_item_with_two_paragraphs_and_code():
    code = {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [t("ls\n\nls -l")]}
    md = adf_to_markdown(doc(bullets(li(p("first"), p("second"), code))))
    rendered = html(md)
    assert "<p>first</p>" in rendered and "<p>second</p>" in rendered
    assert '<code class="language-sh">ls\n\nls -l\n</code>' in rendered


def test_table_without_header_row_gets_blank_header():
    row = {"type": "tableRow", "content": [{"type": "tableCell", "content": [p("v")]}]}
    md = adf_to_markdown(doc({"type": "table", "content": [row, row]}))
    assert md.split("\n")[0] == "|  |"
    assert html(md).count("<td>v</td>") == 2


def test_table_ragged_rows_and_pipes_and_breaks():
    rows = [
        {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p("h1")]}] * 2},
        {
            "type": "tableRow",
            "content": [{"type": "tableCell", "content": [p("a|b", {"type": "hardBreak"}, "c")]}],
        },
    ]
    md = adf_to_markdown(doc({"type": "table", "content": rows}))
    rendered = html(md)
    assert "<td>a|b c</td>" in rendered
    assert rendered.count("<td>") == 2  # the short row is padded
    assert adf_to_text(doc({"type": "table", "content": rows})) == "h1  h1\na|b c"


def test_code_block_language_and_fence_inside():
    code = "```\ninner fence\n```"
    node = {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t(code)]}
    md = adf_to_markdown(doc(node))
    assert md.startswith("````python\n")
    assert html(md) == f'<pre><code class="language-python">{code}\n</code></pre>\n'
    assert adf_to_text(doc(node)) == "```\ninner fence\n```"


def test_code_block_without_language_and_empty():
    assert adf_to_markdown(doc({"type": "codeBlock", "content": [t("x = 1")]})) == "```\nx = 1\n```"
    assert adf_to_markdown(doc({"type": "codeBlock", "attrs": {"language": None}})) == "```\n```"


def test_mentions_with_and_without_at_sign():
    mention = {"type": "mention", "attrs": {"id": "5b10a2844c20165700ede21g", "text": "@Ann Lee"}}
    bare = {"type": "mention", "attrs": {"id": "abc", "text": "Bob"}}
    id_only = {"type": "mention", "attrs": {"id": "557058:f0"}}
    document = doc(p("hi ", mention, " and ", bare, " and ", id_only))
    assert adf_to_markdown(document) == "hi @Ann Lee and @Bob and @557058:f0"
    assert adf_to_text(document) == "hi @Ann Lee and @Bob and @557058:f0"


def test_emoji_prefers_the_character():
    document = doc(p({"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}}, " ok"))
    assert adf_to_markdown(document) == "😄 ok"
    custom = doc(p({"type": "emoji", "attrs": {"shortName": ":partyparrot:", "id": "x"}}))
    assert adf_to_text(custom) == ":partyparrot:"


def test_marks_render_and_nest():
    document = doc(
        p(
            t("bold", "strong"),
            " ",
            t("it", "em"),
            " ",
            t("gone", "strike"),
            " ",
            t("mono", "code"),
            " ",
            t("under", "underline"),
            " ",
            t("red", {"type": "textColor", "attrs": {"color": "#ff0000"}}),
        )
    )
    rendered = html(adf_to_markdown(document))
    assert rendered == (
        "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>mono</code> under red</p>\n"
    )
    assert adf_to_text(document) == "bold it gone mono under red"


def test_marks_spanning_text_nodes_share_delimiters():
    # The Jira editor splits text where marks change: bold, then bold+italic, then bold.
    document = doc(p(t("all ", "strong"), t("of", "strong", "em"), t(" it", "strong"), "!"))
    md = adf_to_markdown(document)
    assert html(md) == "<p><strong>all <em>of</em> it</strong>!</p>\n"


def test_neighbouring_code_spans_do_not_fuse():
    document = doc(p(t("a", "code"), t("b", "code", "strong"), t("c", "code")))
    rendered = html(adf_to_markdown(document))
    assert "``" not in rendered
    assert rendered.count("<code>") == 3


def test_code_text_split_in_two_nodes_is_one_span_only_when_side_by_side():
    # Jira splits code text where an edit happened: side by side with the same marks
    # it is one span; a plain word or another mark between keeps them apart.
    assert adf_to_markdown(doc(p("See ", t("load_", "code"), t("all()", "code"), "."))) == (
        "See `load_all()`."
    )
    assert adf_to_markdown(doc(p(t("a", "code"), " and ", t("b", "code")))) == "`a` and `b`"
    assert adf_to_markdown(doc(p(t("a", "code"), t("b", "strong"), t("c", "code")))) == (
        "`a`**b**`c`"
    )


def test_line_starts_are_escaped_on_every_line_of_a_paragraph():
    one = doc(p("# one line"))
    several = doc(p("first", {"type": "hardBreak"}, "# second", {"type": "hardBreak"}, "3. third"))
    assert adf_to_markdown(one) == "\\# one line"
    assert adf_to_markdown(several) == "first\\\n\\# second\\\n3\\. third"


def test_emphasis_keeps_outer_spaces_outside():
    md = adf_to_markdown(doc(p("x", t(" padded ", "strong"), "y")))
    assert html(md) == "<p>x <strong>padded</strong> y</p>\n"


def test_links_autolink_labelled_and_odd_targets():
    document = doc(
        p(
            t("https://example.org/a", link("https://example.org/a")),
            " ",
            t("docs", link("https://example.org/has space(1)")),
            " ",
            t("x", link("")),
        )
    )
    md = adf_to_markdown(document)
    rendered = html(md)
    assert '<a href="https://example.org/a">https://example.org/a</a>' in rendered
    assert '<a href="https://example.org/has%20space(1)">docs</a>' in rendered
    assert rendered.endswith(" x</p>\n")
    text = adf_to_text(document)
    assert text == "https://example.org/a docs (https://example.org/has space(1)) x"


def test_link_spanning_several_marked_nodes_is_one_link():
    href = "https://e.x/p"
    document = doc(
        p(t("read ", link(href)), t("this", link(href), "strong"), t(" now", link(href)))
    )
    rendered = html(adf_to_markdown(document))
    assert rendered == f'<p><a href="{href}">read <strong>this</strong> now</a></p>\n'


def test_exclamation_before_link_is_not_an_image():
    rendered = html(adf_to_markdown(doc(p("wow!", t("x", link("https://e.x"))))))
    assert "<img" not in rendered and 'wow!<a href="https://e.x">x</a>' in rendered


def test_panels_use_labels_and_titles():
    def panel(kind, *blocks, **attrs):
        return {"type": "panel", "attrs": {"panelType": kind, **attrs}, "content": list(blocks)}

    md = adf_to_markdown(
        doc(panel("warning", p("careful")), panel("success", p("ok"), title="Done"))
    )
    rendered = html(md)
    assert "<blockquote>\n<p><strong>Warning:</strong> careful</p>" in rendered
    assert "<strong>Done:</strong> ok" in rendered
    code_first = panel("info", {"type": "codeBlock", "content": [t("x")]})
    rendered = html(adf_to_markdown(doc(code_first)))
    assert "<strong>Info:</strong>" in rendered and "<pre><code>x\n</code></pre>" in rendered


def test_expand_title_and_body():
    node = {"type": "expand", "attrs": {"title": "Logs"}, "content": [p("line")]}
    assert html(adf_to_markdown(doc(node))) == "<p><strong>Logs</strong></p>\n<p>line</p>\n"
    assert adf_to_text(doc(node)) == "Logs\nline"


def test_cards():
    inline = {"type": "inlineCard", "attrs": {"url": "https://e.x/browse/A-1"}}
    block = {"type": "blockCard", "attrs": {"url": "https://e.x/page"}}
    embed = {"type": "embedCard", "attrs": {"url": "https://e.x/embed", "layout": "wide"}}
    data_only = {"type": "inlineCard", "attrs": {"data": {"name": "Smart link"}}}
    document = doc(p("see", inline, "."), block, embed, p(data_only))
    rendered = html(adf_to_markdown(document))
    for url in ("https://e.x/browse/A-1", "https://e.x/page", "https://e.x/embed"):
        assert f'<a href="{url}">{url}</a>' in rendered
    assert "<p>Smart link</p>" in rendered  # not an autolink or raw HTML tag
    text = adf_to_text(document)
    assert "https://e.x/browse/A-1" in text and "Smart link" in text


def test_media_single_group_and_inline():
    media = {
        "type": "media",
        "attrs": {"type": "file", "id": "1", "collection": "c", "alt": "a.png"},
    }
    external = {"type": "media", "attrs": {"type": "external", "url": "https://e.x/i.png"}}
    caption = {"type": "caption", "content": [t("the caption")]}
    inline = {"type": "mediaInline", "attrs": {"id": "2", "name": "report.pdf"}}
    document = doc(
        {"type": "mediaSingle", "content": [media, caption]},
        {"type": "mediaGroup", "content": [external]},
        p("attached ", inline),
    )
    md = adf_to_markdown(document)
    assert "[a.png]" in md and "the caption" in md
    assert '<a href="https://e.x/i.png">attachment</a>' in html(md)
    assert "attached [report.pdf]" in md
    assert adf_to_text(document) == "a.png\nthe caption\nattached report.pdf"


def test_status_and_date():
    status = {"type": "status", "attrs": {"text": "Done", "color": "green"}}
    date = {"type": "date", "attrs": {"timestamp": "1700000000000"}}
    numeric = {"type": "date", "attrs": {"timestamp": 86400000}}
    document = doc(p(status, " on ", date, " / ", numeric))
    assert adf_to_markdown(document) == "\\[DONE\\] on 2023-11-14 / 1970-01-02"
    assert adf_to_text(document) == "Done on 2023-11-14 / 1970-01-02"
    bad = doc(p({"type": "date", "attrs": {"timestamp": "99999999999999999999"}}))
    assert adf_to_text(bad) == "99999999999999999999"


def test_hard_breaks_and_rules():
    document = doc(
        p("a", {"type": "hardBreak"}, "b", {"type": "hardBreak"}), {"type": "rule"}, p("c")
    )
    md = adf_to_markdown(document)
    assert html(md) == "<p>a<br />\nb</p>\n<hr />\n<p>c</p>\n"
    assert adf_to_text(document) == "a\nb\nc"


def test_task_and_decision_lists():
    tasks = {
        "type": "taskList",
        "content": [
            {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [t("shipped")]},
            {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [t("write docs")]},
        ],
    }
    decision = {
        "type": "decisionList",
        "content": [{"type": "decisionItem", "attrs": {"state": "DECIDED"}, "content": [t("go")]}],
    }
    assert adf_to_markdown(doc(tasks, decision)) == "- [x] shipped\n- [ ] write docs\n\n- go"
    assert adf_to_text(doc(tasks, decision)) == "shipped\nwrite docs\ngo"


def test_a_task_list_nested_straight_in_a_task_list_is_indented_under_its_item():
    """ADF nests task lists as siblings of the items (the editor's own shape); they
    used to render as `- - [x] nested`."""

    def item(state: str, text: str) -> dict:
        return {"type": "taskItem", "attrs": {"state": state}, "content": [t(text)]}

    inner = {"type": "taskList", "content": [item("DONE", "nested")]}
    outer = {"type": "taskList", "content": [item("TODO", "outer"), inner, item("TODO", "after")]}
    assert adf_to_markdown(doc(outer)) == "- [ ] outer\n  - [x] nested\n- [ ] after"
    assert html(adf_to_markdown(doc(outer))).count("<ul>") == 2
    ordered = {
        "type": "orderedList",
        "content": [{"type": "listItem", "content": [p("one")]}, inner],
    }
    assert adf_to_markdown(doc(ordered)) == "1. one\n   - [x] nested"


def test_text_that_looks_like_markdown_is_escaped():
    document = doc(
        p("# not a heading"),
        p("1. not a list"),
        p("- not a bullet"),
        p("> not a quote"),
        p("<script>x</script> *a* _b_ `c` ~~d~~ [e](f) snake_case"),
    )
    rendered = html(adf_to_markdown(document))
    assert "<h1>" not in rendered and "<ol>" not in rendered and "<ul>" not in rendered
    assert "<blockquote>" not in rendered and "<script>" not in rendered
    assert "<em>" not in rendered and "<code>" not in rendered and "<a " not in rendered
    assert "&lt;script&gt;x&lt;/script&gt; *a* _b_ `c` ~~d~~ [e](f) snake_case" in rendered
    assert "snake_case" in adf_to_markdown(document)  # intraword underscores stay clean


def test_unknown_nodes_keep_their_text():
    document = doc(
        {"type": "someFutureBlock", "attrs": {"x": 1}, "content": [p("future block words")]},
        p("before ", {"type": "someFutureInline", "content": [t("inline words")]}, " after"),
        {"type": "bodiedExtension", "attrs": {"extensionKey": "k"}, "content": [p("macro body")]},
        {"type": "extension", "attrs": {"extensionKey": "k", "text": "macro text"}},
        {"type": "layoutSection", "content": [{"type": "layoutColumn", "content": [p("col")]}]},
    )
    md = adf_to_markdown(document)
    text = adf_to_text(document)
    for words in ("future block words", "inline words", "macro body", "macro text", "col"):
        assert words in md and words in text
    no_json_leak(md)
    no_json_leak(text)


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        1.5,
        True,
        "",
        [],
        {},
        {"type": "doc"},
        {"type": "doc", "content": None},
        {"type": "doc", "content": "text"},
        {"type": "doc", "content": [None, 1, "stray", [], {"type": None}, {"text": "untyped"}]},
        {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text"}]}]},
        {"type": "doc", "content": [{"type": "text", "text": 5, "marks": "bad"}]},
        {"type": "doc", "content": [{"type": "mention", "attrs": None}, {"type": "emoji"}]},
        {"type": "doc", "content": [{"type": "table", "content": [{"type": "tableRow"}]}]},
        {"type": "doc", "content": [{"type": "bulletList", "content": [None, "x"]}]},
    ],
)
def test_garbage_input_never_raises_or_leaks(value):
    for render in (adf_to_markdown, adf_to_text, to_markdown, to_text):
        out = render(value)
        assert isinstance(out, str)
        no_json_leak(out)
        assert "stray" not in out and "untyped" not in out


def test_marks_garbage_keeps_the_text():
    document = doc(p(t("hi", None, {"type": "link"}, {"type": "link", "attrs": {"href": None}})))
    assert adf_to_markdown(document) == "hi"
    assert adf_to_text(document) == "hi"


def test_non_doc_roots():
    paragraph = p("just a paragraph")
    assert adf_to_markdown(paragraph) == "just a paragraph"
    assert to_text([paragraph, p("second")]) == "just a paragraph\nsecond"
    assert to_markdown([paragraph]) == "just a paragraph"


def test_deep_nesting_is_flattened_not_a_recursion_error():
    node = t("deepest words")
    for _ in range(5000):
        node = {"type": "blockquote", "content": [node]}
    document = doc(node)
    md = adf_to_markdown(document)
    assert md.endswith("deepest words")
    assert md.count(">") <= MAX_DEPTH + 2
    assert adf_to_text(document) == "deepest words"


def test_deep_lists_are_flattened_too():
    node = p("leaf")
    for _ in range(300):
        node = bullets(li(p("level"), node))
    document = doc(node)
    assert adf_to_markdown(document).endswith("leaf")
    assert adf_to_text(document).count("level") == 300


def test_random_trees_never_raise():
    """Random mixes of known and unknown node kinds, attrs and marks of the wrong shape."""
    rng = random.Random(7)
    kinds = [
        "paragraph",
        "text",
        "heading",
        "bulletList",
        "orderedList",
        "listItem",
        "table",
        "tableRow",
        "tableCell",
        "tableHeader",
        "codeBlock",
        "panel",
        "expand",
        "mention",
        "emoji",
        "status",
        "date",
        "hardBreak",
        "inlineCard",
        "media",
        "mediaSingle",
        "blockquote",
        "rule",
        "taskList",
        "taskItem",
        "mystery",
        None,
        7,
    ]
    odd_values = [None, 3, "s", [], {}, {"href": 1}, {"level": 99, "order": "x", "text": 5}]

    def tree(depth: int):
        kind = rng.choice(kinds)
        node: dict = {"type": kind}
        if rng.random() < 0.6:
            node["text"] = rng.choice(["w<*_`|>", "", "word", 4])
        if rng.random() < 0.4:
            node["attrs"] = rng.choice(odd_values)
        if rng.random() < 0.3:
            node["marks"] = rng.choice([[{"type": "strong"}, {"type": "link"}], "x", [None], [{}]])
        if depth < 6 and rng.random() < 0.7:
            node["content"] = [tree(depth + 1) for _ in range(rng.randint(0, 4))]
        return node

    for _ in range(300):
        document = {"type": "doc", "content": [tree(0) for _ in range(3)]}
        md = adf_to_markdown(document)
        text = adf_to_text(document)
        assert isinstance(md, str) and isinstance(text, str)
        no_json_leak(md)
        no_json_leak(text)


def test_a_task_or_decision_item_of_several_inline_nodes_stays_one_line():
    """taskItem and decisionItem hold inline nodes straight (Atlassian's ADF schema:
    `content: inline_node[]`, no paragraph), and the editor splits a line wherever
    marks change or a mention, date, emoji or status sits: each used to render on a
    line of its own."""
    import jsonschema

    schema = json.loads((FIXTURES.parent / "adf-schema" / "full.json").read_text("utf-8"))
    item_content = [
        t("Call "),
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ann Lee"}},
        t(" about the "),
        {"type": "text", "text": "release", "marks": [{"type": "strong"}]},
        t(" on "),
        {"type": "date", "attrs": {"timestamp": "1700000000000"}},
        t(" "),
        {"type": "emoji", "attrs": {"shortName": ":smile:", "id": "1f604", "text": "😄"}},
    ]
    tasks = {
        "type": "taskList",
        "attrs": {"localId": "tl-1"},
        "content": [
            {"type": "taskItem", "attrs": {"localId": "ti-1", "state": "TODO"}, "content": item_content},
            {"type": "taskItem", "attrs": {"localId": "ti-2", "state": "DONE"}, "content": [t("done")]},
        ],
    }  # fmt: skip
    decisions = {
        "type": "decisionList",
        "attrs": {"localId": "dl-1"},
        "content": [
            {
                "type": "decisionItem",
                "attrs": {"localId": "di-1", "state": "DECIDED"},
                "content": [
                    t("We ship "),
                    {"type": "status", "attrs": {"text": "approved", "color": "green"}},
                    t(" as is"),
                ],
            }
        ],
    }
    document = doc(tasks, decisions)
    jsonschema.Draft4Validator(schema).validate(document)  # the shape Jira sends
    md = adf_to_markdown(document)
    assert md.split("\n") == [
        "- [ ] Call @Ann Lee about the **release** on 2023-11-14 😄",
        "- [x] done",
        "",
        "- We ship \\[APPROVED\\] as is",
    ]
    rendered = html(md)
    assert rendered.count("<li>") == 3 and "<strong>release</strong>" in rendered
    assert adf_to_text(document) == (
        "Call @Ann Lee about the release on 2023-11-14 😄\ndone\nWe ship approved as is"
    )
