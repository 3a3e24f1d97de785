"""Part of the Dash test-suite harness; see tests/dash_suite/__init__.py."""
