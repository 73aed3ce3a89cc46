"""fakejira: a Jira-compatible test server (Cloud, Data Center, anonymous, gateway)."""

from .server import FakeJira

__all__ = ["FakeJira"]
