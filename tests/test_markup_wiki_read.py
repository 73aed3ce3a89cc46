"""Jira wiki markup (Server/DC, REST v2) -> Markdown (display) and plain text (index)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from indexer.markup import to_markdown, to_text, wiki_to_markdown, wiki_to_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "markup"
_MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def html(wiki: str) -> str:
    return _MD.render(wiki_to_markdown(wiki))


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --- real texts -------------------------------------------------------------


def test_lucene_description_with_noformat_and_link():
    wiki = load("wiki_texts.json")["lucene8227_description"]
    rendered = html(wiki)
    assert (
        '<a href="https://builds.apache.org/job/Lucene-Solr-NightlyTests-master/1512/">' in rendered
    )
    # {noformat} becomes a code block and its content is verbatim (no [junit4] link).
    assert "<pre><code>   [junit4]   2&gt; NOTE: reproduce with: ant test" in rendered
    assert "{noformat}" not in rendered
    text = wiki_to_text(wiki)
    assert "java.lang.NullPointerException" in text and "{noformat}" not in text


def test_lucene_code_comment_keeps_brackets_in_code():
    wiki = load("wiki_texts.json")["lucene8227_code_comment"]
    rendered = html(wiki)
    assert rendered.count("<pre><code>") == 2
    assert "[X=-0.9951793580358298, Y=-0.1088898762907205" in rendered
    assert "<p>The problem is that the point's X is less than xmin.</p>" in rendered


def test_lucene_commit_comment_mention_and_bracket_url():
    wiki = load("wiki_texts.json")["lucene8227_commit_comment"]
    md = wiki_to_markdown(wiki)
    assert "from @user1" in md
    assert "https://git-wip-us.apache.org/repos/asf?p=lucene-solr.git;h=6dcb6ae" in md
    assert "[~" not in md


def test_lucene_numbered_lines_and_code():
    wiki = load("wiki_texts.json")["lucene8227_numbered_list"]
    rendered = html(wiki)
    assert '<code class="language-none">' not in rendered
    assert "if (startPoint.y &lt; 0.0 || endPoint.y &lt; 0.0) {" in rendered
    assert "(1) All polygon points are in the hemisphere y&gt;=0" in rendered


def test_bq_line_and_plus_one():
    wiki = load("wiki_texts.json")["lucene6572_bq_comment"]
    assert wiki_to_markdown(wiki) == (
        "> Given how simple this token filter is, what about having a copy it in the "
        "highlighter module?\n\n+1"
    )


def test_escaped_exclamation_marks():
    assert wiki_to_text(load("wiki_texts.json")["sp15_comment"]) == "Making a comment!!"


def test_simple_list_comment():
    assert wiki_to_markdown(load("wiki_texts.json")["jrjc_list_comment"]) == "- fd\n- fdsfds"


def test_every_real_text_converts_without_markup_leaking():
    for source in (load("wiki_texts.json"), load("wiki_corpus.json")):
        for key, wiki in source.items():
            md = wiki_to_markdown(wiki)
            text = wiki_to_text(wiki)
            assert md and text, key
            for leaked in ("{code", "{noformat", "{quote}", "{panel", "{{", "[~"):
                assert leaked not in text, (key, leaked)
            assert len(text) > 0.5 * len(wiki.replace(" ", "")) / 2, key


def test_corpus_panel_with_mention_title_and_quote():
    wiki = load("wiki_corpus.json")["MESOS-2367"]
    rendered = html(wiki)
    assert "<strong>Quote From @jieyu:</strong>" in rendered
    assert "<code>KillTaskMessage</code>" in rendered and "<code>TASK_KILLED</code>" in rendered
    assert "<blockquote>" in rendered


def test_corpus_image_url_and_bold():
    rendered = html(load("wiki_corpus.json")["MESOS-3307"])
    assert '<a href="http://i.imgur.com/iz7C3o0.png">iz7C3o0.png</a>' in rendered
    assert "<pre><code>" in rendered
    jsw = load("wiki_corpus.json")["JSW-5941"]
    rendered = html(jsw)
    assert "<strong>JIRA 5.0.7</strong>" in rendered
    assert "migrate_failed.JPG" in rendered and "!migrate_failed.JPG!" not in rendered
    assert 'href="https://confluence.atlassian.com/pages/viewpage.action?pageId=301663531"' in (
        rendered
    )


# --- constructs one by one ------------------------------------------------------


@pytest.mark.parametrize("level", range(1, 7))
def test_headings(level):
    assert html(f"h{level}. Title *b*") == f"<h{level}>Title <strong>b</strong></h{level}>\n"


def test_not_headings():
    assert html("h7. seven") == "<p>h7. seven</p>\n"
    assert wiki_to_text("the h1. tag") == "the h1. tag"


def test_inline_formatting():
    rendered = html("*bold* _it_ -strike- +ins+ {{mono}} ??cite?? ^sup^ ~sub~")
    assert rendered == (
        "<p><strong>bold</strong> <em>it</em> <s>strike</s> ins <code>mono</code> "
        "<em>cite</em> ^sup^ ~sub~</p>\n"
    )
    assert wiki_to_text("*bold* _it_ -strike- +ins+ {{mono}}") == "bold it strike ins mono"


def test_formatting_only_at_word_boundaries():
    wiki = "snake_case_name and file-name-here and 2*3*4 and a+b+c"
    assert wiki_to_text(wiki) == wiki
    assert "<em>" not in html(wiki) and "<s>" not in html(wiki)


def test_nested_inline_formatting():
    assert html("*bold _and italic_ text*") == (
        "<p><strong>bold <em>and italic</em> text</strong></p>\n"
    )


def test_monospace_keeps_markup_characters_and_unescapes():
    assert html("{{a*b*c}} {{x|y}}") == "<p><code>a*b*c</code> <code>x|y</code></p>\n"
    assert html("{{a\\{b\\}}}") == "<p><code>a{b}</code></p>\n"


def test_backslash_escapes():
    assert wiki_to_text("\\*not bold\\* \\_not it\\_ \\{brace\\} a\\-b") == (
        "*not bold* _not it_ {brace} a-b"
    )
    assert "<strong>" not in html("\\*not bold\\*")


def test_code_macro_language_forms():
    assert html("{code:java}\nint x;\n{code}") == (
        '<pre><code class="language-java">int x;\n</code></pre>\n'
    )
    assert 'class="language-python"' in html("{code:language=python}\nx\n{code}")
    assert 'class="language-xml"' in html("{code:xml|title=a.xml}\n<a/>\n{code}")
    # The title names the file: kept as a line above the code.
    assert html("{code:title=Foo.java|borderStyle=solid}\nclass Foo {}\n{code}") == (
        "<p>Foo.java</p>\n<pre><code>class Foo {}\n</code></pre>\n"
    )
    # "none" is Jira's "no highlighting" (what jiradex posts for a language Jira
    # lacks), not a language: read back as a plain fence.
    assert wiki_to_markdown("{code:none}\nx\n{code}") == "```\nx\n```"
    assert html("{code:language=None|title=a.txt}\nx\n{code}") == (
        "<p>a.txt</p>\n<pre><code>x\n</code></pre>\n"
    )


def test_braced_emphasis_entities_and_labelled_attachment_links():
    """Jira reads {*}x{*} inside words, renders HTML entities (a backslash can only be
    written as &#92;), and shows the label of a link to an attachment."""
    assert wiki_to_markdown("{*}bold{*}text and x{_}em{_}y") == "**bold**text and x*em*y"
    assert wiki_to_text("a{-}gone{-}b") == "agoneb"
    assert wiki_to_text(r"C:&#92;&#92;srv &amp; &#x41; &nosuch;") == "C:\\\\srv & A &nosuch;"
    assert wiki_to_text("[the log|^server.log] and [^a.txt]") == "the log (server.log) and a.txt"
    assert wiki_to_text(r"escaped \(x) and \:)") == "escaped (x) and :)"


def test_code_and_noformat_bodies_are_verbatim():
    wiki = "{noformat}\n*not bold* [not|link] {{not mono}}\n{noformat}"
    assert wiki_to_text(wiki) == "*not bold* [not|link] {{not mono}}"
    assert "<strong>" not in html(wiki) and "<a " not in html(wiki)


def test_unclosed_macros_run_to_the_end():
    assert html("{code}\nunclosed") == "<pre><code>unclosed\n</code></pre>\n"
    assert html("{quote}\nunclosed quote") == "<blockquote>\n<p>unclosed quote</p>\n</blockquote>\n"


def test_quote_macro_and_bq():
    assert html("{quote}\nquoted *text*\n\nsecond\n{quote}") == (
        "<blockquote>\n<p>quoted <strong>text</strong></p>\n<p>second</p>\n</blockquote>\n"
    )
    assert html("bq. one line") == "<blockquote>\n<p>one line</p>\n</blockquote>\n"


def test_panel_with_title_and_plain():
    rendered = html("{panel:title=My Title|borderStyle=dashed}\npanel body\n{panel}")
    assert rendered == "<blockquote>\n<p><strong>My Title:</strong> panel body</p>\n</blockquote>\n"
    assert wiki_to_text("{panel:title=My Title}\nbody\n{panel}") == "My Title\nbody"
    assert "<strong>Note:</strong> plain" in html("{panel}plain{panel}")


def test_panel_holding_code_keeps_the_fence_on_its_own_line():
    rendered = html("{panel}{code}x = 1{code}{panel}")
    assert "<pre><code>x = 1\n</code></pre>" in rendered


def test_links():
    rendered = html("[text|http://x.y] [http://bare.example] see https://e.x/z. [#anchor]")
    assert '<a href="http://x.y">text</a>' in rendered
    assert '<a href="http://bare.example">http://bare.example</a>' in rendered
    assert '<a href="https://e.x/z">https://e.x/z</a>.' in rendered
    assert '<a href="#anchor">#anchor</a>' in rendered
    assert wiki_to_text("[text|http://x.y]") == "text (http://x.y)"


def test_brackets_that_are_not_links_stay():
    assert wiki_to_text("[junit4] and [X=1, Y=2]") == "[junit4] and [X=1, Y=2]"
    assert wiki_to_text("[^attached.txt]") == "attached.txt"


def test_mentions():
    assert wiki_to_markdown("[~jdoe] and [~accountid:5b10ac8d82e05b22cc7d4ef5]") == (
        "@jdoe and @5b10ac8d82e05b22cc7d4ef5"
    )
    assert wiki_to_text("ping [~jdoe]") == "ping @jdoe"


def test_images():
    assert wiki_to_markdown("!screenshot.png!") == "[screenshot.png]"
    assert wiki_to_markdown("!screenshot.png|thumbnail!") == "[screenshot.png]"
    assert html("!http://x.y/a.png!") == '<p><a href="http://x.y/a.png">a.png</a></p>\n'
    assert wiki_to_text("look !diagram.jpg|width=300! here") == "look diagram.jpg here"
    assert wiki_to_text("Wow! Great!") == "Wow! Great!"


def test_color_and_anchor_macros_are_dropped_words_kept():
    assert wiki_to_markdown("{color:red}red text{color}") == "red text"
    assert html("{color:#ff0000}*bold red*{color}") == "<p><strong>bold red</strong></p>\n"
    assert wiki_to_markdown("h2. {color:blue}blue title{color}") == "## blue title"
    assert wiki_to_text("{anchor:here}text") == "text"


def test_tables():
    wiki = "||h1||h2||\n|c1|[a|http://x]|\n|{{m|n}}|*b*|"
    rendered = html(wiki)
    assert "<th>h1</th>\n<th>h2</th>" in rendered
    assert '<td><a href="http://x">a</a></td>' in rendered
    assert "<td><code>m|n</code></td>" in rendered
    assert "<td><strong>b</strong></td>" in rendered
    assert wiki_to_text(wiki) == "h1  h2\nc1  a (http://x)\nm|n  b"


def test_table_without_header_row():
    rendered = html("|a|b|\n|c|d|")
    assert rendered.count("<td>") == 4


def test_lists_nested_and_mixed():
    assert wiki_to_markdown("* a\n** b\n*** c\n* d") == "- a\n  - b\n    - c\n- d"
    assert wiki_to_markdown("# one\n# two\n## two.a\n#* mixed") == (
        "1. one\n2. two\n   1. two.a\n   - mixed"
    )
    assert wiki_to_markdown("- dash\n- dash 2") == "- dash\n- dash 2"
    rendered = html("# first\n#* bullet under first\n# second")
    assert rendered.count("<ol>") == 1 and "<li>second</li>" in rendered


def test_list_then_paragraph():
    assert wiki_to_markdown("* item\n\nafter") == "- item\n\nafter"
    assert wiki_to_markdown("* item\nafter") == "- item\n\nafter"


def test_line_breaks_and_rules():
    assert html("line one\\\\line two") == "<p>line one<br />\nline two</p>\n"
    assert html("line1\nline2") == "<p>line1<br />\nline2</p>\n"
    assert html("above\n----\nbelow") == "<p>above</p>\n<hr />\n<p>below</p>\n"
    assert wiki_to_text("a -- b --- c") == "a -- b --- c"


def test_windows_newlines():
    assert wiki_to_markdown("h1. T\r\n* a\r\n* b") == "# T\n\n- a\n- b"


def test_cjk_and_emoji():
    assert html("中文 *粗体* 😀") == "<p>中文 <strong>粗体</strong> 😀</p>\n"


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", 5, [], {}, "*", "**", "{", "}", "[", "]", "|", "!", "{code}", "{panel}"],
)
def test_odd_input_never_raises(value):
    assert isinstance(wiki_to_markdown(value), str)
    assert isinstance(wiki_to_text(value), str)


def test_to_markdown_dispatches_strings_to_wiki():
    assert to_markdown("*b*") == "**b**"
    assert to_text("h1. Head") == "Head"


def test_random_markup_soup_never_raises():
    rng = random.Random(11)
    atoms = [
        "*",
        "_",
        "-",
        "+",
        "{{",
        "}}",
        "{code}",
        "{code:java}",
        "{noformat}",
        "{quote}",
        "{panel:title=x}",
        "{panel}",
        "{color:red}",
        "[",
        "]",
        "|",
        "||",
        "[~u]",
        "!a.png!",
        "\\",
        "\\\\",
        "\n",
        "\n* ",
        "\n# ",
        "\nh2. ",
        "\nbq. ",
        "\n----\n",
        "word",
        " ",
        "http://x.y",
        "中",
    ]
    for _ in range(400):
        wiki = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 40)))
        md = wiki_to_markdown(wiki)
        text = wiki_to_text(wiki)
        assert isinstance(md, str) and isinstance(text, str)
        if "word" in wiki and "{code" not in wiki and "{noformat" not in wiki:
            assert "word" in text


def test_deeply_nested_quotes_and_lists_do_not_recurse_forever():
    wiki = "{panel}" * 200 + "inside" + "{panel}" * 200
    assert "inside" in wiki_to_text(wiki)
    deep_list = "\n".join("*" * n + " level" for n in range(1, 60))
    assert wiki_to_text(deep_list).count("level") == 59
