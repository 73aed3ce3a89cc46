"""indexer.issue_view.first_and_rest: an issue document cut where a renderer can
show a first part and add the rest."""

from __future__ import annotations

import pytest

from indexer.issue_view import first_and_rest

THREAD = (
    "# OPS-1: Pool\n\n- **Status:** Open\n\n## Description\n\nText.\n\n## Comments (40)\n"
    + "".join(
        f"\n### Ann, 2024-05-{n % 28 + 1:02d} 10:00 UTC\n\nComment number {n} says something.\n"
        for n in range(40)
    )
)


def test_the_parts_are_the_document_cut_before_headings():
    first, rest = first_and_rest(THREAD, 300, 500)
    assert first + "".join(rest) == THREAD
    assert len(first) >= 300 and len(rest) > 3
    assert all(part.startswith("### ") for part in rest)
    assert all(len(part) >= 500 for part in rest[:-1])


def test_a_short_document_is_one_part():
    assert first_and_rest("# A\n\nshort\n", 300, 500) == ("# A\n\nshort\n", [])


@pytest.mark.parametrize("fence", ["```", "~~~~", "  ```"])
def test_a_heading_inside_a_code_fence_is_not_a_place_to_cut(fence):
    code = (
        f"{fence}sh\n"
        + "".join(f"# shell comment {n}\necho {n}\n" for n in range(50))
        + fence.strip()
        + "\n"
    )
    doc = "# OPS-1\n\n" + code + "\n## After\n\nend\n"
    first, rest = first_and_rest(doc, 10, 10)
    assert first + "".join(rest) == doc
    assert fence.strip() in first and first.count(fence.strip()) == 2  # the whole block
    assert rest == ["## After\n\nend\n"]


def test_hash_words_are_not_headings():
    doc = "# T\n\n" + "#hashtag line\n" * 50 + "## Next\n"
    first, rest = first_and_rest(doc, 10, 10)
    assert rest == ["## Next\n"]


def test_a_description_without_headings_is_cut_between_paragraphs_when_asked():
    """A long description is seldom cut by headings: the import preview asks for cuts
    between paragraphs too, never inside a code block or before an indented line."""
    code = "```\n" + "".join(f"line {n}\n\nafter a blank\n" for n in range(20)) + "```\n"
    paragraphs = "".join(f"Paragraph {n} says something.\n\n" for n in range(60))
    items = "- one\n\n  continued under its item\n\n- two\n\n"
    doc = paragraphs + code + "\n" + items + paragraphs
    assert first_and_rest(doc, 100, 200) == (doc, [])  # no heading: one part
    first, rest = first_and_rest(doc, 100, 200, paragraphs=True)
    parts = [first, *rest]
    assert "".join(parts) == doc and len(rest) > 5
    assert all(part.count("```") in (0, 2) for part in parts)  # a fence stays whole
    assert not any(part.startswith(("  ", "\n")) for part in rest)
    assert all(part.endswith("\n\n") for part in parts[:-1])  # cut after a blank line
