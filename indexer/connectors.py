"""Connectors jiradex knows, described in Coco's connector shape.

A datasource names its connector by id (`"connector": {"id": "jira", ...}`), as in
Coco. jiradex ships one built-in connector, Jira; the registry exists so that a
datasource naming anything else gets a clear error instead of a half-working sync,
and so `jiradex connector list|show` can describe the config fields.
"""

from __future__ import annotations

import copy
from typing import Any

from indexer.errors import ConfigError

JIRA_CONNECTOR_ID = "jira"

_JIRA_CONFIG_FIELDS: dict[str, dict[str, Any]] = {
    "endpoint": {
        "type": "string",
        "required": True,
        "description": (
            "Base URL of the Jira site, e.g. https://your-domain.atlassian.net or "
            "https://issues.apache.org/jira (a context path is kept). https only, "
            "except http on loopback."
        ),
    },
    "username": {
        "type": "string",
        "required": False,
        "description": (
            "Account e-mail for Jira Cloud basic auth. Leave empty for a Data Center "
            "personal access token or for anonymous access."
        ),
    },
    "token": {
        "type": "string",
        "required": False,
        "secret": True,
        "description": (
            "Jira Cloud API token (with username) or Data Center personal access "
            "token (alone, sent as Bearer). Leave empty for anonymous access."
        ),
    },
    "project_key": {
        "type": "string",
        "required": True,
        "description": "Key of the project to index, e.g. PROJ (upper-cased).",
    },
    "index_comments": {
        "type": "boolean",
        "required": False,
        "default": False,
        "description": "Also index issue comments.",
    },
    "index_attachments": {
        "type": "boolean",
        "required": False,
        "default": False,
        "description": "Also download attachments and index their text.",
    },
    "cloud_id": {
        "type": "string",
        "required": False,
        "description": (
            "Cloud id of the site, for service accounts with scoped tokens: API calls "
            "then go through https://api.atlassian.com/ex/jira/{cloud_id}. Needs "
            "username and token."
        ),
    },
    "jql": {
        "type": "string",
        "required": False,
        "description": "Extra JQL that narrows the project's issues (ANDed with it).",
    },
    "attachment_max_bytes": {
        "type": "integer",
        "required": False,
        "description": "Skip attachments larger than this many bytes.",
    },
    "max_concurrency": {
        "type": "integer",
        "required": False,
        "default": 6,
        "description": (
            "Most requests in flight at once while syncing (1-32). It halves when Jira "
            "answers 429 and climbs back slowly."
        ),
    },
}

JIRA_CONNECTOR: dict[str, Any] = {
    "id": JIRA_CONNECTOR_ID,
    "name": "Jira Connector",
    "description": (
        "Index issues, comments and attachment text from a Jira project (Cloud, "
        "Cloud service account, Data Center/Server or anonymous public site)."
    ),
    "category": "project_management",
    "tags": ["project", "issue_tracking", "agile", "collaboration"],
    "icon": "/assets/icons/connector/jira/icon.png",
    "url": "https://www.atlassian.com/software/jira",
    "builtin": True,
    "config": _JIRA_CONFIG_FIELDS,
    "processor": {"enabled": True, "name": "jira"},
}

_REGISTRY: dict[str, dict[str, Any]] = {JIRA_CONNECTOR_ID: JIRA_CONNECTOR}


def connector_ids() -> list[str]:
    return sorted(_REGISTRY)


def list_connectors() -> list[dict[str, Any]]:
    """Every registered connector (copies: callers may modify them)."""
    return [copy.deepcopy(_REGISTRY[key]) for key in connector_ids()]


def get_connector(connector_id: str) -> dict[str, Any]:
    """The connector with this id, or a ConfigError listing the known ids."""
    connector = _REGISTRY.get(connector_id) if isinstance(connector_id, str) else None
    if connector is None:
        known = ", ".join(connector_ids())
        raise ConfigError(f'unknown connector "{connector_id}" (known connectors: {known})')
    return copy.deepcopy(connector)


def is_registered(connector_id: str) -> bool:
    return isinstance(connector_id, str) and connector_id in _REGISTRY
