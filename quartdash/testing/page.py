"""A page's state as Dash's renderer keeps it, sans I/O: the layout tree and its index of
ids, the callbacks of ``_dash-dependencies`` and which of them a change of props fires,
the requests the renderer would send, and how it applies a response (outputs,
``set_props``, ``Patch``). ``client.py`` does the talking; everything here is pure, so
the rules are tested without an app.

The rules are dash-renderer 4.4's (``dash_renderer.dev.js``): an id is a string or a
dict, a dict id is named by Dash's ``stringify_id`` (keys sorted, compact JSON) in every
message; a wildcard is ``["ALL"]``, ``["MATCH"]`` or ``["ALLSMALLER"]`` in the pattern;
a callback fires at load when every input it names is in the layout (unless
``prevent_initial_call``), and again whenever one of its inputs is set, by the user, by
a callback's output or by a ``set_props``; ``Patch`` operations are the renderer's
``patchHandlers``. Clientside callbacks are not run (no JavaScript here): they are left
out of the graph.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: A component id: a string or a dict of scalars.
ComponentId = str | dict[str, Any]
#: A property of one component: (stringified id, property name).
PropKey = tuple[str, str]

WILDCARDS = ("ALL", "MATCH", "ALLSMALLER")


class _Any:
    """``wait_for``'s default: any new value will do."""

    def __repr__(self) -> str:
        return "ANY"


#: Pass as ``value`` to ``DashClient.wait_for`` (its default) to wait for any new value.
ANY: Any = _Any()


def stringify_id(id_: ComponentId) -> str:
    """The name Dash gives an id in its messages (``dash._utils.stringify_id``): a string
    as is, a dict as compact JSON with sorted keys."""
    if isinstance(id_, dict):
        return "{" + ",".join(
            f"{json.dumps(k)}:{json.dumps(id_[k])}" for k in sorted(id_)) + "}"
    return id_


def parse_id(text: str) -> ComponentId:
    """The id a dependency or a ``set_props`` frame names (a dict id comes as JSON)."""
    if text.startswith("{"):
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    return text


def prop_id(id_: ComponentId, prop: str) -> str:
    return f"{stringify_id(id_)}.{prop}"


# --- the layout -----------------------------------------------------------------------

def _is_component(value: Any) -> bool:
    return isinstance(value, dict) and "props" in value and "type" in value \
        and isinstance(value["props"], dict)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every component in ``value`` (a tree of components, lists and props), in order."""
    if isinstance(value, list):
        for item in value:
            yield from _walk(item)
    elif _is_component(value):
        yield value
        for prop in value["props"].values():
            yield from _walk(prop)


class Layout:
    """The layout tree and the props of every component with an id, which the tree's
    own dicts hold (an update changes the tree, as the renderer's store does)."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree
        self.index: dict[str, dict[str, Any]] = {}
        self.reindex()

    def reindex(self) -> set[str]:
        """Rebuild the id index after components came or went; returns the new ids."""
        before = set(self.index)
        self.index = {}
        for component in _walk(self.tree):
            id_ = component["props"].get("id")
            if isinstance(id_, (str, dict)):
                self.index[stringify_id(id_)] = component["props"]
        return set(self.index) - before

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, (str, dict)) and stringify_id(id_) in self.index

    def props(self, id_: ComponentId) -> dict[str, Any]:
        """The props of the component ``id_`` (``KeyError`` if it is not in the layout)."""
        key = stringify_id(id_)
        if key not in self.index:
            raise KeyError(f"no component {key!r} in the layout")
        return self.index[key]

    def ids(self) -> Iterable[ComponentId]:
        return (p["id"] for p in self.index.values())

    def update(self, id_: ComponentId, props: dict[str, Any]) -> tuple[list[PropKey], bool]:
        """Set props as the renderer does (a ``Patch`` is applied to the current value):
        the props set, and whether a value held components (the index was rebuilt). An
        id not in the layout is ignored, as the renderer ignores it (with a warning)."""
        key = stringify_id(id_)
        current = self.index.get(key)
        if current is None:
            return [], False
        changed: list[PropKey] = []
        components = False
        for prop, value in props.items():
            if is_patch(value):
                if prop not in current:
                    raise ValueError(f"Cannot patch undefined: {key}.{prop}")
                value = apply_patch(current[prop], value)
            current[prop] = value
            changed.append((key, prop))
            components = components or any(True for _ in _walk(value))
        if components:
            self.reindex()
        return changed, components


# --- Patch ----------------------------------------------------------------------------

def is_patch(value: Any) -> bool:
    return isinstance(value, dict) and "__dash_patch_update" in value


def _location(location: list[Any], value: Any) -> list[Any]:
    """Negative indices counted from the end of the list they index (getLocationPath)."""
    path: list[Any] = []
    current = value
    for step in location:
        if isinstance(step, int) and not isinstance(step, bool) and step < 0 \
                and isinstance(current, list):
            step = len(current) + step
        path.append(step)
        current = _get(current, [step])
    return path


def _get(value: Any, path: list[Any]) -> Any:
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return None
    return value


def _set(value: Any, path: list[Any], new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path`` (ramda's ``assocPath``)."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(value, list) and isinstance(step, int):
        out = list(value)
        while len(out) <= step:
            out.append(None)
        out[step] = _set(out[step], rest, new)
        return out
    out_dict = dict(value) if isinstance(value, dict) else {}
    out_dict[step] = _set(out_dict.get(step), rest, new)
    return out_dict


def _delete(value: Any, path: list[Any]) -> Any:
    """A copy of ``value`` without what is at ``path`` (ramda's ``dissocPath``)."""
    if not path:
        return None
    step, rest = path[0], path[1:]
    out: Any
    if isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
        out = list(value)
    elif isinstance(value, dict) and step in value:
        out = dict(value)
    else:
        return value  # nothing there: unchanged
    if rest:
        out[step] = _delete(out[step], rest)
    else:
        del out[step]
    return out


def _operate(previous: Any, op: dict[str, Any]) -> Any:
    name, params = op["operation"], op.get("params", {})
    location = _location(list(op.get("location", [])), previous)
    prev = _get(previous, location)
    if name == "Assign":
        return _set(previous, location, params["value"])
    if name == "Delete":
        return _delete(previous, location)
    if name == "Merge":
        new: Any = {**(prev or {}), **params["value"]}
    elif name == "Extend":
        new = list(prev) + list(params["value"])
    elif name == "Insert":
        index = params["index"]
        index = len(prev) + index if index < 0 else index
        new = [*list(prev[:index]), params["value"], *list(prev[index:])]
    elif name == "Append":
        new = [*list(prev), params["value"]]
    elif name == "Prepend":
        new = [params["value"], *prev]
    elif name == "Add":
        new = prev + params["value"]
    elif name == "Sub":
        new = prev - params["value"]
    elif name == "Mul":
        new = prev * params["value"]
    elif name == "Div":
        new = prev / params["value"]
    elif name == "Clear":
        new = type(prev)() if isinstance(prev, (list, dict, str)) else None
    elif name == "Reverse":
        new = list(reversed(prev))
    elif name == "Remove":
        new = [item for item in prev if item != params["value"]]
    else:
        raise ValueError(f"Invalid Operation {name}")
    return _set(previous, location, new)


def apply_patch(previous: Any, patch: dict[str, Any]) -> Any:
    """The value a ``Patch`` (``{"__dash_patch_update": ..., "operations": [...]}``)
    makes of ``previous``, operation by operation (the renderer's ``handlePatch``)."""
    value = copy.deepcopy(previous)
    for op in patch.get("operations", []):
        value = _operate(value, op)
    return value


# --- the callback graph ---------------------------------------------------------------

@dataclass(frozen=True)
class Dep:
    """One ``(id pattern, property)`` of a dependency."""

    id: ComponentId
    prop: str

    @property
    def wildcard(self) -> bool:
        return isinstance(self.id, dict) and any(_wild(v) for v in self.id.values())

    @property
    def multi(self) -> bool:
        """An ALL or ALLSMALLER pattern: the request carries a list of matches."""
        return isinstance(self.id, dict) and any(
            _wild(v) in ("ALL", "ALLSMALLER") for v in self.id.values())


def _wild(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1 and value[0] in WILDCARDS:
        return str(value[0])
    return None


def _split_outputs(output: str) -> list[str]:
    """Dash's callback id: ``id.prop`` or ``..id1.prop1...id2.prop2..``; dots inside
    ids are escaped as ``\\.``."""
    hidden = output.replace("\\.", "\x00")
    if hidden.startswith("..") and hidden.endswith(".."):
        parts = hidden[2:-2].split("...")
    else:
        parts = [hidden]
    return [p.replace("\x00", "\\.") for p in parts]


def _dep(text: str) -> Dep:
    id_text, _, prop = text.replace("\\.", "\x00").rpartition(".")
    return Dep(parse_id(id_text.replace("\x00", ".")), prop.split("@")[0])


@dataclass
class Callback:
    """A server-side callback, from one entry of ``_dash-dependencies``."""

    output: str
    outputs: list[Dep]
    inputs: list[Dep]
    state: list[Dep]
    multi_output: bool
    prevent_initial_call: bool
    websocket: bool
    persistent: bool
    no_output: bool
    running: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Callback:
        no_output = bool(spec.get("no_output"))
        parts = [] if no_output else _split_outputs(spec["output"])
        return cls(
            output=spec["output"],
            outputs=[_dep(p) for p in parts],
            inputs=[Dep(parse_id(d["id"]), d["property"]) for d in spec.get("inputs", [])],
            state=[Dep(parse_id(d["id"]), d["property"]) for d in spec.get("state", [])],
            multi_output=spec["output"].startswith(".."),
            prevent_initial_call=bool(spec.get("prevent_initial_call")),
            websocket=bool(spec.get("websocket", False)),
            persistent=bool(spec.get("persistent", False)),
            no_output=no_output,
            running=spec.get("running") or {},
        )

    def match_keys(self) -> set[str]:
        return {k for d in (*self.inputs, *self.outputs, *self.state)
                if isinstance(d.id, dict) for k, v in d.id.items() if _wild(v) == "MATCH"}


def load_callbacks(specs: list[dict[str, Any]]) -> list[Callback]:
    """The callbacks the client runs: every one but the clientside ones."""
    return [Callback.from_json(s) for s in specs if not s.get("clientside_function")]


def matches(pattern: ComponentId, id_: ComponentId, bindings: dict[str, Any]) -> bool:
    """Whether a concrete id fits a pattern; MATCH keys must equal ``bindings`` where
    bound, ALLSMALLER keys be below them."""
    if isinstance(pattern, str) or isinstance(id_, str):
        return pattern == id_
    if set(pattern) != set(id_):
        return False
    for key, want in pattern.items():
        kind = _wild(want)
        have = id_[key]
        if kind is None:
            if have != want:
                return False
        elif kind == "MATCH" and key in bindings and bindings[key] != have:
            return False
        elif kind == "ALLSMALLER" and key in bindings and not have < bindings[key]:
            return False
    return True


def _bind(pattern: ComponentId, id_: ComponentId) -> dict[str, Any]:
    if not isinstance(pattern, dict) or not isinstance(id_, dict):
        return {}
    return {k: id_[k] for k, v in pattern.items() if _wild(v) == "MATCH"}


@dataclass
class Call:
    """One request to make: a callback, its MATCH bindings, what changed."""

    callback: Callback
    bindings: dict[str, Any]
    changed: list[str]

    @property
    def key(self) -> tuple[int, str]:
        return id(self.callback), json.dumps(self.bindings, sort_keys=True)


class Graph:
    """Which calls a change fires, and the requests they make."""

    def __init__(self, callbacks: list[Callback], layout: Layout) -> None:
        self.callbacks = callbacks
        self.layout = layout

    def _found(self, dep: Dep, bindings: dict[str, Any]) -> list[ComponentId]:
        if not dep.wildcard:
            return [dep.id] if dep.id in self.layout else []
        return [i for i in self.layout.ids() if matches(dep.id, i, bindings)]

    def _bindings(self, cb: Callback, seed: dict[str, Any]) -> list[dict[str, Any]]:
        """Every MATCH binding ``cb`` has in the layout that extends ``seed``."""
        keys = cb.match_keys()
        if not keys or keys <= set(seed):
            return [seed]
        out: list[dict[str, Any]] = []
        for dep in (*cb.inputs, *cb.outputs):
            if isinstance(dep.id, dict) and keys & set(dep.id):
                for i in self._found(dep, seed):
                    b = {**seed, **_bind(dep.id, i)}
                    if b not in out:
                        out.append(b)
                break
        return out

    def _complete(self, cb: Callback, bindings: dict[str, Any]) -> bool:
        """Every input the call names is in the layout (a list of ALL may be empty)."""
        return all(dep.multi or self._found(dep, bindings) for dep in cb.inputs)

    def initial(self, new_ids: set[str] | None = None) -> list[Call]:
        """The calls at load (``new_ids`` None), or for components just added."""
        calls: list[Call] = []
        for cb in self.callbacks:
            if cb.prevent_initial_call:
                continue
            for bindings in self._bindings(cb, {}):
                if not self._complete(cb, bindings):
                    continue
                if new_ids is not None and not any(
                        stringify_id(i) in new_ids
                        for d in (*cb.inputs, *cb.outputs) for i in self._found(d, bindings)):
                    continue
                calls.append(Call(cb, bindings, []))
        return calls

    def triggered(self, changed: Iterable[PropKey]) -> list[Call]:
        """The calls a change of these props fires, each with its changedPropIds."""
        calls: dict[tuple[int, str], Call] = {}
        for key, prop in changed:
            id_ = parse_id(key)
            for cb in self.callbacks:
                for dep in cb.inputs:
                    if dep.prop != prop or not matches(dep.id, id_, {}):
                        continue
                    for bindings in self._bindings(cb, _bind(dep.id, id_)):
                        call = Call(cb, bindings, [f"{key}.{prop}"])
                        if call.key in calls:
                            if call.changed[0] not in calls[call.key].changed:
                                calls[call.key].changed.append(call.changed[0])
                        else:
                            calls[call.key] = call
        return list(calls.values())

    def outputs_of(self, call: Call) -> set[PropKey]:
        return {(stringify_id(i), d.prop) for d in call.callback.outputs
                for i in self._found(d, call.bindings)}

    def inputs_of(self, call: Call) -> set[PropKey]:
        return {(stringify_id(i), d.prop) for d in call.callback.inputs
                for i in self._found(d, call.bindings)}

    def _entry(self, dep: Dep, id_: ComponentId, value: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": id_, "property": dep.prop}
        if value:
            props = self.layout.props(id_)
            if dep.prop in props:
                entry["value"] = props[dep.prop]
        return entry

    def _entries(self, deps: list[Dep], bindings: dict[str, Any], value: bool) -> list[Any]:
        out: list[Any] = []
        for dep in deps:
            found = [self._entry(dep, i, value) for i in self._found(dep, bindings)]
            if dep.multi:
                out.append(found)
            else:
                out.append(found[0] if found else {"id": dep.id, "property": dep.prop})
        return out

    def request(self, call: Call) -> dict[str, Any]:
        """The payload the renderer sends for a call (WebSocket and HTTP alike)."""
        cb = call.callback
        outputs = self._entries(cb.outputs, call.bindings, value=False)
        return {
            "output": cb.output,
            "outputs": outputs if cb.multi_output or cb.no_output else outputs[0],
            "inputs": self._entries(cb.inputs, call.bindings, value=True),
            "state": self._entries(cb.state, call.bindings, value=True),
            "changedPropIds": list(call.changed),
        }
