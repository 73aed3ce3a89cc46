"""Markup conversion between Jira's formats (ADF, wiki markup) and Markdown / plain text."""

from __future__ import annotations

from typing import Any

from indexer.markup.adf_read import adf_to_markdown, adf_to_text
from indexer.markup.adf_write import link_issue_keys, markdown_to_adf
from indexer.markup.wiki_read import wiki_to_markdown, wiki_to_text
from indexer.markup.wiki_write import markdown_to_wiki

__all__ = [
    "adf_to_markdown",
    "adf_to_text",
    "link_issue_keys",
    "markdown_to_adf",
    "markdown_to_wiki",
    "to_markdown",
    "to_text",
    "wiki_to_markdown",
    "wiki_to_text",
]


def to_markdown(value: Any) -> str:
    """Markdown for a Jira rich-text field: ADF (dict) on Cloud v3, wiki markup (str) on v2."""
    if isinstance(value, dict):
        return adf_to_markdown(value)
    if isinstance(value, str):
        return wiki_to_markdown(value)
    if isinstance(value, list):
        return adf_to_markdown({"type": "doc", "content": value})
    return ""


def to_text(value: Any) -> str:
    """Plain text of a Jira rich-text field for the full-text index."""
    if isinstance(value, dict):
        return adf_to_text(value)
    if isinstance(value, str):
        return wiki_to_text(value)
    if isinstance(value, list):
        return adf_to_text({"type": "doc", "content": value})
    return ""
