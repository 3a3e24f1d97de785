"""quartdash changes Dash only once ``QuartDash(...)`` runs, and only a Dash it is tested
with (``quartdash/_compat/dash.py``).

Importing quartdash must leave every other app in the process as it was: what quartdash
could patch (module names and class attributes of Dash, and of hypercorn and wsproto,
whose classes ``_compat/hypercorn.py`` wraps) is compared before and after the import,
and a plain ``dash.Dash`` app answers a callback with the same bytes either way. Each
runs in a fresh interpreter, since the test process has built QuartDash apps already.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import dash
import dash._callback
import pytest

from quartdash import QuartDash
from quartdash._compat import dash as dash_compat
from quartdash.callbacks.encoding import encode_json

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120

#: Imports every module of the quartdash package (``python -c``; prints their names).
_IMPORT_QUARTDASH = """
import importlib, pkgutil, quartdash
names = ["quartdash"]
for info in pkgutil.walk_packages(quartdash.__path__, "quartdash."):
    if info.name != "quartdash.__main__":
        importlib.import_module(info.name)
        names.append(info.name)
"""

#: Snapshot what importing quartdash could change, import it, and print what changed.
_SNAPSHOT = """
import importlib, inspect, json, sys
for name in json.loads(sys.argv[1]):  # quartdash's dependencies, imported first
    importlib.import_module(name)
import dash._callback

WATCHED = ("dash", "hypercorn", "wsproto")

def snapshot():
    seen = {"dash._callback.to_json": id(dash._callback.to_json),
            "GLOBAL_CALLBACK_LIST": repr(dash._callback.GLOBAL_CALLBACK_LIST),
            "GLOBAL_CALLBACK_MAP": repr(dash._callback.GLOBAL_CALLBACK_MAP)}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in WATCHED:
            continue
        for attr, value in list(vars(module).items()):
            seen[f"{name}:{attr}"] = id(value)
            if inspect.isclass(value) and value.__module__ == name:
                for cls_attr, cls_value in list(vars(value).items()):
                    seen[f"{name}:{attr}.{cls_attr}"] = id(cls_value)
    return seen

before = snapshot()
""" + _IMPORT_QUARTDASH + """
after = snapshot()
changed = sorted(key for key in before if after.get(key) != before[key])
added = sorted(key for key in after if key not in before)
print(json.dumps({"changed": changed, "added": added, "imported": names}))
"""

#: A plain dash.Dash app's answer to one callback request (bytes, hex), optionally
#: with all of quartdash imported first.
_PLAIN_APP = """
import sys
import dash
from dash import Input, Output, dcc, html
if sys.argv[1] == "with-quartdash":
""" + "\n".join("    " + line for line in _IMPORT_QUARTDASH.strip().splitlines()) + """

app = dash.Dash(__name__)
app.layout = html.Div([dcc.Input(id="in", value="x"), html.Div(id="out")])

@app.callback(Output("out", "children"), Input("in", "value"))
def answer(value):
    figure = {"data": [{"x": [1, 2.5, None], "y": [3, 4, 5], "type": "bar"}],
              "layout": {"title": value, "meta": {"nested": [1, -2.5e300, float("nan")]}}}
    return [html.Span(value + " </script> \\u2028 é", id={"kind": "span", "n": 1}),
            dcc.Graph(figure=figure)]

client = app.server.test_client()
client.get("/")
response = client.post("/_dash-update-component", json={
    "output": "out.children",
    "outputs": {"id": "out", "property": "children"},
    "inputs": [{"id": "in", "property": "value", "value": "<b>hi</b>"}],
    "changedPropIds": ["in.value"],
})
assert response.status_code == 200, response.status_code
print(response.get_data().hex())
"""


def _python(*args: str) -> str:
    """Run ``python *args`` with this checkout first on the path; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _dependencies() -> list[str]:
    """The modules importing all of quartdash imports, other than quartdash's own."""
    script = _IMPORT_QUARTDASH + "import json, sys\nprint(json.dumps(sorted(sys.modules)))"
    names: list[str] = json.loads(_python("-c", script).splitlines()[-1])
    # ``__main__`` and its aliases (``__mp_main__``) are the script, not a module.
    return [name for name in names
            if name.split(".")[0] != "quartdash" and not name.startswith("__")]


def test_importing_quartdash_changes_nothing_in_dash_hypercorn_or_wsproto() -> None:
    out = json.loads(_python("-c", _SNAPSHOT, json.dumps(_dependencies())).splitlines()[-1])
    assert "quartdash.app" in out["imported"] and "quartdash._compat.hypercorn" in out["imported"]
    assert out["changed"] == []
    assert out["added"] == []


def test_a_plain_dash_app_answers_the_same_bytes_with_quartdash_imported() -> None:
    plain = _python("-c", _PLAIN_APP, "plain").strip()
    beside = _python("-c", _PLAIN_APP, "with-quartdash").strip()
    assert bytes.fromhex(plain).startswith(b'{"multi":true')
    assert beside == plain


def test_quartdash_app_installs_the_encoder_once() -> None:
    """``QuartDash(...)`` swaps Dash's response serialiser for ``encode_json`` (the same
    bytes, faster); a second app, or a second install, changes nothing more."""
    QuartDash(__name__)
    assert dash._callback.to_json is encode_json  # type: ignore[attr-defined]
    dash_compat.install(encode_json)
    QuartDash(__name__)
    assert dash._callback.to_json is encode_json  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["4.4.1", "4.4.2", "4.4.10", "4.4.1.post1"])
def test_tested_dash_versions_pass(version: str) -> None:
    dash_compat.check_version(version)


@pytest.mark.parametrize("version", ["4.4.0", "4.3.9", "4.5.0", "4.5.0rc1", "5.0.0", "3.2.0",
                                     "4", "unknown"])
def test_other_dash_versions_are_refused_saying_what_to_do(version: str) -> None:
    with pytest.raises(RuntimeError) as refused:
        dash_compat.check_version(version)
    message = str(refused.value)
    assert f"dash {version} is installed" in message
    assert "tested with dash>=4.4.1,<4.5" in message
    assert 'pip install "dash[quart]>=4.4.1,<4.5"' in message


def test_the_installed_dash_is_tested_and_setup_cfg_requires_the_tested_range() -> None:
    dash_compat.check_version(dash.__version__)
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    required = [line.strip() for line in config["options"]["install_requires"].splitlines()
                if line.strip().startswith("dash")]
    tested = [line.strip() for line in config["options.extras_require"]["test"].splitlines()
              if line.strip().startswith("dash[")]
    assert required == [f"dash[quart]{dash_compat.TESTED_DASH}"]
    assert tested == [f"dash[testing]{dash_compat.TESTED_DASH}"]


_UNTESTED = """
import dash, dash._callback
dash.__version__ = "4.5.0"  # as an upgraded Dash would report it
from quartdash import QuartDash
encoder = dash._callback.to_json
try:
    QuartDash(__name__)
except RuntimeError as err:
    print("refused:", err)
assert dash._callback.to_json is encoder, "swapped before the check"
"""


def test_quartdash_refuses_to_build_an_app_on_an_untested_dash() -> None:
    out = _python("-c", _UNTESTED)
    assert out.startswith("refused: quartdash is tested with dash>=4.4.1,<4.5, "
                          "but dash 4.5.0 is installed"), out
