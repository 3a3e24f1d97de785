"""The user's documentation (README.md, docs/) kept true to the code and to itself.

Each page that restates the code is compared with it here: the configuration table with
``quartdash.config``, the close-code table with ``quartdash.CloseCode``, the API
reference's lists with the objects they list, the guide's quotes with
``examples/live_dashboard.py``, and every command the pages tell a user to type with the
options its program has. Every link resolves inside the repository (a file that exists,
and a heading of it), and nothing points outside it but the dependencies' own pages."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import quartdash
from quartdash import CallbackSocket, CloseCode, ConnectionInfo, QuartDash, cli, signals
from quartdash.config import DEFAULTS, DOCS, KEYS, Settings
from tests import ROOT

DOCS_DIR = ROOT / "docs"
PAGES = sorted(DOCS_DIR.glob("*.md"))
READMES = [ROOT / "README.md", ROOT / "examples" / "README.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
URL = re.compile(r"https?://[^\s)>\"'`,;]+")
#: The only places outside the repository the pages may send a reader: the app itself
#: on this machine, and the dependencies' own pages.
ALLOWED_HOSTS = {"127.0.0.1", "localhost", "pypi.org", "quart.palletsprojects.com"}


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def table(page: Path, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``header``, as cells."""
    lines = text(page).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def code_span(cell: str) -> str:
    """The first `code` of a cell."""
    found = re.match(r"`([^`]*)`", cell)
    assert found, cell
    return found.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in text(page).splitlines()
            if re.match(r"#{1,6} ", line)}


# --- the pages as a whole ----------------------------------------------------------------
def test_every_page_is_in_the_index() -> None:
    index = text(DOCS_DIR / "README.md")
    for page in PAGES:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
    for name in ("guide", "api", "security", "deployment", "browser", "close-codes",
                 "configuration"):
        assert (DOCS_DIR / f"{name}.md").is_file(), name


@pytest.mark.parametrize("page", PAGES + READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page: Path) -> None:
    for target in LINK.findall(text(page)):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        assert ROOT in resolved.parents or resolved == ROOT, f"{page.name}: {target} is outside"
        if anchor:
            assert resolved.suffix == ".md", target
            assert anchor in anchors(resolved), f"{page.name}: no heading #{anchor} in {path}"


@pytest.mark.parametrize("page", PAGES + READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_url_leaves_the_repository_but_the_dependencies(page: Path) -> None:
    for url in URL.findall(text(page)):
        host = re.match(r"https?://(?:[^@/]*@)?([^:/]+)", url)
        assert host and host.group(1) in ALLOWED_HOSTS, f"{page.name}: {url}"


def test_nothing_in_the_repository_points_at_files_outside_it() -> None:
    """The contract and architecture files the project was built from are not in the
    repository: no file may send a reader to them."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=60).stdout.split()
    outside = re.compile(r"\.\./shared|/work/|shared/(API|ARCHITECTURE)\.md")
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".png", ".ico"} or not path.is_file() or path == Path(__file__):
            continue
        found = outside.search(path.read_text(encoding="utf-8", errors="replace"))
        assert found is None, f"{name} points outside the repository: {found.group(0)}"


def test_the_readme_keeps_the_pitch_the_commands_and_the_measurements() -> None:
    readme = text(ROOT / "README.md")
    for heading in ("## The two commands", "## What it fixes in stock Dash 4.4 on Quart"):
        assert heading in readme
    assert "pip install -e . && hypercorn examples.echo:app" in readme
    assert 'pip install -e ".[test]" && python -m pytest' in readme
    # The user's documentation moved to docs/: no second copy to drift.
    for moved in ("## Security model", "## Deployment", "## The browser side",
                  "## API at a glance", "| limit | default |"):
        assert moved not in readme, moved
    for page in PAGES:
        if page.name != "README.md":
            assert f"docs/{page.name}" in readme, f"the README does not link {page.name}"


# --- configuration -----------------------------------------------------------------------
SETTINGS_HEADER = "| setting | default | key | what it bounds |"


def test_the_configuration_table_is_quartdash_config() -> None:
    rows = table(DOCS_DIR / "configuration.md", SETTINGS_HEADER)
    documented = {code_span(row[0]): row for row in rows}
    names = [spec.name for spec in dataclasses.fields(Settings)]
    assert list(documented) == names, "one row per setting, in Settings' order"
    for name, (_, default, key, bounds, client_gets) in documented.items():
        assert ast.literal_eval(code_span(default)) == getattr(DEFAULTS, name), name
        assert key == (f"`{KEYS[name]}`" if name in KEYS else "keyword only"), name
        assert bounds == DOCS[name], name
        assert client_gets, f"{name}: what does a client get past it?"


def test_the_configuration_page_states_the_order_of_sources_as_the_code_reads_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import quart

    monkeypatch.setenv("QUARTDASH_RATE_LIMIT", "7")
    assert QuartDash(__name__).settings.rate_limit == 7  # the environment
    def server() -> quart.Quart:
        made = quart.Quart(__name__)
        made.config["QUARTDASH_RATE_LIMIT"] = 9
        return made

    assert QuartDash(__name__, server=server()).settings.rate_limit == 9  # the config first
    assert QuartDash(__name__, server=server(), rate_limit=3).settings.rate_limit == 3
    monkeypatch.setenv("QUARTDASH_SEND_TIMEOUT", "soon")
    with pytest.raises(ValueError) as failed:
        QuartDash(__name__)
    message = str(failed.value)
    assert message in text(DOCS_DIR / "configuration.md")


def test_the_fixed_bounds_are_the_package_constants() -> None:
    rows = table(DOCS_DIR / "configuration.md", "| bound | value | constant |")
    assert rows
    for _, value, constant, _gets in rows:
        module, _, name = code_span(constant).rpartition(".")
        actual = getattr(importlib.import_module(module), name)
        assert ast.literal_eval(code_span(value)) == actual, constant


def test_every_variable_the_pages_name_is_read_somewhere() -> None:
    """A ``QUARTDASH_*`` name in the docs is a setting's key, or the command line's URL."""
    known = set(KEYS.values()) | {"QUARTDASH_URL"}
    for page in PAGES + READMES:
        for name in set(re.findall(r"QUARTDASH_[A-Z_]+[A-Z]", text(page))):
            assert name in known, f"{page.name}: {name} is read nowhere"


# --- close codes -------------------------------------------------------------------------
def test_the_close_code_table_is_the_enum() -> None:
    rows = table(DOCS_DIR / "close-codes.md", "| code | name |")
    documented = {int(row[0]): code_span(row[1]) for row in rows}
    assert documented == {member.value: member.name for member in CloseCode}
    assert all(len(row) == 4 and row[3] for row in rows), "what the browser does, per code"


# --- the API reference -------------------------------------------------------------------
def test_the_api_reference_names_everything_quartdash_exports() -> None:
    api = text(DOCS_DIR / "api.md")
    for name in quartdash.__all__:
        assert re.search(rf"\b{re.escape(name)}\b", api), name


def test_the_api_reference_lists_the_socket_connection_info_and_signals() -> None:
    api = text(DOCS_DIR / "api.md")
    members = {code_span(row[0]).split("(")[0].removeprefix("await ")
               for row in table(DOCS_DIR / "api.md", "| member | does |")}
    public = {name for name in dir(CallbackSocket) if not name.startswith("_")}
    assert members == public
    fields = "`, `".join(field.name for field in dataclasses.fields(ConnectionInfo))
    assert all(f"`{f.name}`" in api for f in dataclasses.fields(ConnectionInfo)), fields
    documented = {code_span(row[0]).rpartition(".")[2]
                  for row in table(DOCS_DIR / "api.md", "| signal | keywords |")}
    assert documented == {name for name, value in vars(signals).items()
                          if type(value).__name__ == "NamedSignal"}


async def test_the_admin_routes_are_the_blueprints() -> None:
    app = QuartDash(__name__, admin_token="docs-admin-token-0123456789")
    prefix = "/_quartdash/admin/"

    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>", "<>", path.split("?")[0])

    served = {(method, shape(rule.rule.removeprefix(prefix)))
              for rule in app.server.url_map.iter_rules() if rule.rule.startswith(prefix)
              for method in rule.methods or () if method in {"GET", "POST"}}
    documented = set()
    for row in table(DOCS_DIR / "api.md", "| method and path | does |"):
        method, path = code_span(row[0]).split(" ", 1)
        documented.add((method, shape(path)))
    assert documented == served


# --- the commands a page tells a user to type ----------------------------------------------
def fenced(page: Path) -> list[tuple[str, str]]:
    """The fenced code blocks of a page: (language, text)."""
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    lines: list[str] = []
    for line in text(page).splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            if language is None:
                language, lines = stripped[3:], []
            else:
                blocks.append((language, "\n".join(lines)))
                language = None
        elif language is not None:
            lines.append(line.strip())
    return blocks


def commands(program: str) -> list[tuple[Path, str]]:
    """Lines of shell blocks (and inline code) that run ``program``, a prompt and
    ``VAR=value`` prefixes taken off."""
    found = []
    for page in PAGES + READMES:
        lines = [line for language, block in fenced(page) if language in ("", "sh")
                 for line in block.splitlines()]
        lines += re.findall(r"`([^`\n]+)`", text(page))
        for line in lines:
            line = re.sub(r"^\$ ", "", line.split(" #")[0]).strip()
            line = re.sub(r"^(\w+=\S+ )+", "", line)
            if line.startswith(program + " "):
                found.append((page, line))
    return found


def test_every_hypercorn_command_uses_options_hypercorn_has() -> None:
    help_text = subprocess.run([sys.executable, "-m", "hypercorn", "--help"],
                               capture_output=True, text=True, timeout=60,
                               check=True).stdout
    lines = commands("hypercorn")
    assert len(lines) >= 5
    for page, line in lines:
        for option in re.findall(r"(?<= )-{1,2}[a-z-]+", line):
            assert re.search(rf"(^|[ ,]){re.escape(option)}\b", help_text, re.M), \
                (page.name, option)
        for target in re.findall(r"\bexamples\.([a-z_]+):app\b", line):
            assert (ROOT / "examples" / f"{target}.py").is_file(), (page.name, line)


def test_every_quartdash_command_parses() -> None:
    lines = [(page, line) for page, line in commands("quartdash")
             if line.startswith("quartdash connections ")]
    assert len(lines) >= 4
    for page, line in lines:
        if any(mark in line for mark in ("|", "[", "...")):  # a synopsis, not a command
            continue
        words = shlex.split(line)[1:]
        try:
            cli._parser().parse_args(words)
        except SystemExit as exc:  # pragma: no cover - the failure's message
            raise AssertionError(f"{page.name}: {line}") from exc


def test_the_wheel_the_deployment_page_names_is_this_version() -> None:
    page = text(DOCS_DIR / "deployment.md")
    assert "pip wheel --no-deps -w dist ." in page
    assert f"pip install dist/quartdash-{quartdash.__version__}-py3-none-any.whl" in page


# --- the guide ---------------------------------------------------------------------------
QUOTE = re.compile(r"<!-- quote: ([\w/.]+) -->\n```python\n(.*?)```", re.S)


def test_the_guide_quotes_the_whole_example_in_order() -> None:
    """Joined in order, the guide's quotes are the example file, but for its docstring
    and blank lines between them: a reader who copies them gets the app the tests run."""
    guide = text(DOCS_DIR / "guide.md")
    quotes = QUOTE.findall(guide)
    assert len(quotes) >= 8
    assert guide.count("```python") == len(quotes), "a python block that is not a quote"
    assert {source for source, _ in quotes} == {"examples/live_dashboard.py"}
    source = text(ROOT / "examples" / "live_dashboard.py")
    body = source[source.index('"""', 3) + 3:]  # after the module docstring
    position = 0
    for _, quote in quotes:
        found = body.find(quote, position)
        assert found >= 0, f"not in the example (or out of order):\n{quote}"
        assert body[position:found].strip() == "", f"left out:\n{body[position:found]}"
        position = found + len(quote)
    assert body[position:].strip() == "", f"left out:\n{body[position:]}"


def test_the_guide_covers_what_a_new_user_needed() -> None:
    guide = text(DOCS_DIR / "guide.md")
    for needed in ("cross_site_refusal()", "logout_user()", "before_request",
                   "persistent=True", "is_shutdown", "get_prop(", "set_prop_sync(",
                   "running=", "cookie_secure", "QUART_AUTH_COOKIE_SECURE=0",
                   "QUARTDASH_ADMIN_TOKEN", "quartdash connections list",
                   "QUARTDASH_SECRET_KEY"):
        assert needed in guide, needed

