"""quartdash's tests. ``ROOT``: the repository, for the tests that read its files (the
docs, the examples, the browser side's sources)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
