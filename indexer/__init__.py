"""jiradex engine: configuration, Jira client, index, sync, search and tasks.

Nothing in this package imports Textual: the CLI and the TUI are thin front ends
over it (tests/test_import_hygiene.py enforces that).
"""
