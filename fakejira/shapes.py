"""Key-by-key comparison of a fakejira payload with a real Jira payload.

Used by tests/test_fakejira.py (against the anonymised captures in
tests/fixtures/jira/) and by bench/conformance.py (against ../shared). Only field
names and JSON types are compared, never values: real captures come from sites
with other data, so "same keys, same types" is what "looks like Jira" can mean.

Rules, chosen so that a difference is a real difference:
- every key of the real object is looked up in the fake one (missing keys are
  reported); keys only the fake has are listed as `extra` (informational);
- `null` on either side is compatible with anything (Jira fields are nullable and
  generated issues have empty assignees, resolutions, ...);
- int and float are both "number"; bool is not a number;
- lists compare the first element of each side, when both have one;
- `customfield_NNNNN` keys are site specific and skipped;
- rich-text values (`description`, `body`, `environment`, `renderedBody`, ...) are
  compared by type only (ADF documents by their root keys), because their content
  is free-form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

RICH_TEXT_KEYS = {"description", "body", "environment", "renderedBody", "comment_text"}
CUSTOM_FIELD = re.compile(r"^customfield_\d+$")
MAP_KEYS = {"errors", "names", "schema", "avatarUrls"}  # objects keyed by data, not by schema


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclass
class ShapeReport:
    """What matched and what did not, as JSON-ish paths like `issues[].fields.status.id`."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # path, real, fake
    extra: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def merge(self, other: ShapeReport) -> None:
        for name in ("matched", "missing", "mismatched", "extra", "skipped"):
            getattr(self, name).extend(getattr(other, name))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def compare(real: Any, fake: Any, path: str = "", report: ShapeReport | None = None) -> ShapeReport:
    """Compare the shape of `fake` with that of `real` (see the module docstring)."""
    report = report if report is not None else ShapeReport()
    rt, ft = json_type(real), json_type(fake)
    if rt == "null" or ft == "null":
        report.matched.append(path or "$")
        return report
    if rt != ft:
        report.mismatched.append((path or "$", rt, ft))
        return report
    report.matched.append(path or "$")
    if rt == "object":
        for key, value in real.items():
            sub = _join(path, key)
            if CUSTOM_FIELD.match(key):
                report.skipped.append(sub)
                continue
            if key not in fake:
                report.missing.append(sub)
                continue
            if key in RICH_TEXT_KEYS:
                _compare_rich(value, fake[key], sub, report)
                continue
            if key in MAP_KEYS:
                _compare_map(value, fake[key], sub, report)
                continue
            compare(value, fake[key], sub, report)
        for key in fake:
            if key not in real and not CUSTOM_FIELD.match(key):
                report.extra.append(_join(path, key))
    elif rt == "array" and real and fake:
        compare(real[0], fake[0], path + "[]", report)
    return report


def _compare_rich(real: Any, fake: Any, path: str, report: ShapeReport) -> None:
    rt, ft = json_type(real), json_type(fake)
    if rt == "null" or ft == "null":
        report.matched.append(path)
    elif rt != ft:
        report.mismatched.append((path, rt, ft))
    elif rt == "object" and real.get("type") == "doc":
        # An ADF document: the root keys must agree; the node tree is free-form.
        for key in ("type", "version", "content"):
            if key not in fake:
                report.missing.append(_join(path, key))
        report.matched.append(path)
    else:
        report.matched.append(path)


def _compare_map(real: Any, fake: Any, path: str, report: ShapeReport) -> None:
    """A map such as `errors`: its keys are data; compare the type of its values."""
    rt, ft = json_type(real), json_type(fake)
    if rt != "object" or ft != "object":
        compare(real, fake, path, report)
        return
    report.matched.append(path)
    real_types = {json_type(v) for v in real.values()} - {"null"}
    fake_types = {json_type(v) for v in fake.values()} - {"null"}
    if real_types and fake_types and not fake_types <= real_types:
        report.mismatched.append(
            (path + "{}", "/".join(sorted(real_types)), "/".join(sorted(fake_types)))
        )


def summary_row(name: str, report: ShapeReport) -> dict:
    return {
        "endpoint": name,
        "matched": len(report.matched),
        "missing": len(report.missing),
        "mismatched": len(report.mismatched),
        "extra": len(report.extra),
        "skipped": len(report.skipped),
    }
