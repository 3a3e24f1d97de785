"""The sans-I/O protocol: every inbound rule, and outbound frames that parse back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartdash.exceptions import ProtocolError
from quartdash.transport import protocol
from quartdash.transport.protocol import CloseCode, parse_frame

MAX = 1 << 20


def request(**overrides: object) -> str:
    message = {
        "type": "callback_request",
        "requestId": "r1",
        "rendererId": "R",
        "payload": {
            "output": "out.children",
            "inputs": [{"id": "in", "property": "value", "value": 1}],
            "state": [],
            "changedPropIds": ["in.value"],
        },
    }
    message.update(overrides)
    return json.dumps(message)


def test_callback_request_parses() -> None:
    msg = parse_frame(request(), MAX)
    assert isinstance(msg, protocol.CallbackRequest)
    assert (msg.request_id, msg.renderer_id, msg.output) == ("r1", "R", "out.children")


def test_get_props_response_and_heartbeat_parse() -> None:
    msg = parse_frame('{"type":"get_props_response","requestId":"p1","payload":{"a":1}}', MAX)
    assert msg == protocol.GetPropsResponse("p1", {"a": 1})
    assert parse_frame('{"type":"heartbeat"}', MAX) == protocol.Heartbeat()


def test_wildcard_inputs_are_lists_of_lists() -> None:
    payload = {"output": "o.c", "inputs": [[{"id": {"i": 1}, "property": "v"}]], "state": []}
    msg = parse_frame(json.dumps({"type": "callback_request", "requestId": "r", "payload": payload}), MAX)
    assert isinstance(msg, protocol.CallbackRequest)


@pytest.mark.parametrize(
    ("frame", "code", "fragment"),
    [
        (b"\x00\x01", CloseCode.UNSUPPORTED_DATA, "binary"),
        ("not json", CloseCode.POLICY_VIOLATION, "not valid JSON"),
        ("[1, 2]", CloseCode.POLICY_VIOLATION, "JSON object"),
        ('"text"', CloseCode.POLICY_VIOLATION, "JSON object"),
        ('{"type": "launch_missiles"}', CloseCode.POLICY_VIOLATION, "unknown message type"),
        ('{"type": 5}', CloseCode.POLICY_VIOLATION, "string type"),
        ("{}", CloseCode.POLICY_VIOLATION, "string type"),
        (request(payload=[]), CloseCode.POLICY_VIOLATION, "object payload"),
        (request(payload={"output": 3}), CloseCode.POLICY_VIOLATION, "output"),
        (request(payload={"output": "a.b", "inputs": {}}), CloseCode.POLICY_VIOLATION, "inputs"),
        (request(payload={"output": "a.b", "inputs": [1]}), CloseCode.POLICY_VIOLATION, "inputs"),
        (request(payload={"output": "a.b", "state": [{}]}), CloseCode.POLICY_VIOLATION, "state"),
        (request(payload={"output": "a.b", "changedPropIds": [1]}), CloseCode.POLICY_VIOLATION, "changedPropIds"),
        (request(requestId=7), CloseCode.POLICY_VIOLATION, "requestId"),
        (request(requestId="x" * 300), CloseCode.POLICY_VIOLATION, "requestId"),
        ('{"type":"get_props_response","requestId":"p","payload":[1]}', CloseCode.POLICY_VIOLATION, "payload"),
    ],
)
def test_malformed_frames_close_with_a_reason(frame: str | bytes, code: CloseCode, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_frame(frame, MAX)
    assert info.value.code == code
    assert fragment in info.value.reason
    assert len(info.value.reason.encode()) <= 123  # fits a close frame


def test_size_limit_counts_utf8_bytes() -> None:
    text = '{"type":"heartbeat","pad":"' + "é" * 600 + '"}'  # ~1230 bytes, 630 chars
    assert parse_frame(text, 2000) == protocol.Heartbeat()
    with pytest.raises(ProtocolError) as info:
        parse_frame(text, 1000)
    assert info.value.code == CloseCode.MESSAGE_TOO_BIG


def test_outbound_frames_are_the_messages_dash_expects() -> None:
    ok = json.loads(protocol.callback_response_ok("R", "r1", '{"multi":true}'))
    assert ok == {
        "type": "callback_response", "rendererId": "R", "requestId": "r1",
        "payload": {"status": "ok", "data": {"multi": True}},
    }
    err = json.loads(protocol.callback_response_status("R", 'a"b', "error", "boom"))
    assert err["requestId"] == 'a"b' and err["payload"] == {"status": "error", "message": "boom"}
    sp = json.loads(protocol.set_props_frame("R", '{"i":1}', '{"children":2}'))
    assert sp["payload"] == {"componentId": '{"i":1}', "props": {"children": 2}}
    gp = json.loads(protocol.get_props_request("R", "p1", "x", ["value"]))
    assert gp["payload"] == {"componentId": "x", "properties": ["value"]}
    assert json.loads(protocol.batch([protocol.HEARTBEAT_ACK, protocol.HEARTBEAT_ACK])) == [
        {"type": "heartbeat_ack"}, {"type": "heartbeat_ack"}
    ]


def test_close_codes_are_the_contracts() -> None:
    contract = {
        "GOING_AWAY": 1001, "POLICY_VIOLATION": 1008, "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011, "INACTIVITY": 4001, "SESSION_ENDED": 4401,
        "SESSION_EXPIRED": 4408, "RATE_LIMITED": 4429,
    }
    assert {name: int(CloseCode[name]) for name in contract} == contract


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(max_size=200) | json_values.map(json.dumps) | st.binary(max_size=50))
def test_any_input_parses_or_raises_protocol_error(frame: str | bytes) -> None:
    try:
        parse_frame(frame, 150)
    except ProtocolError as err:
        assert err.code in set(CloseCode)


@given(st.dictionaries(st.sampled_from(["type", "requestId", "rendererId", "payload"]), json_values))
def test_message_shaped_input_never_crashes(message: dict[str, object]) -> None:
    try:
        parse_frame(json.dumps(message), MAX)
    except ProtocolError as err:
        assert err.code == CloseCode.POLICY_VIOLATION


def hello(**fields: object) -> str:
    return json.dumps({"type": "quartdash_hello", "v": 1, "resume": None, "received": 0, **fields})


def test_hello_parses_a_fresh_connection_and_a_resume() -> None:
    assert protocol.parse_hello(hello()) == protocol.Hello(None, 0)
    token = "t" * protocol.MAX_RESUME_TOKEN
    assert protocol.parse_hello(hello(resume=token, received=12)) == protocol.Hello(token, 12)
    # a future worker's extra fields are no reason to refuse it
    assert protocol.parse_hello(hello(v=2, extra=[1])) == protocol.Hello(None, 0)


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b'{"type":"quartdash_hello","resume":null,"received":0}', "text frame"),
        ("not json", "not valid JSON"),
        ("[]", "must be a quartdash_hello"),
        ('{"type":"heartbeat"}', "must be a quartdash_hello"),
        (request(), "must be a quartdash_hello"),
        (hello(resume=""), "resume must be null or a string"),
        (hello(resume=5), "resume must be null or a string"),
        (hello(resume=["t"]), "resume must be null or a string"),
        (hello(resume="t" * (protocol.MAX_RESUME_TOKEN + 1)), "resume must be null or a string"),
        (hello(received=-1), "non-negative integer received"),
        (hello(received=True), "non-negative integer received"),  # bool is an int: excluded
        (hello(received=False), "non-negative integer received"),
        (hello(received=1.0), "non-negative integer received"),
        (hello(received="3"), "non-negative integer received"),
        (hello(received=None), "non-negative integer received"),
        ('{"type":"quartdash_hello","resume":null}', "non-negative integer received"),
        ('{"type":"quartdash_hello","resume":null,"received":' + "9" * 40 + "}",
         "non-negative integer received"),  # beyond 64 bits orjson reads a float
        (hello(pad="x" * protocol.MAX_HELLO_BYTES), "larger than"),
        (hello(pad="é" * (protocol.MAX_HELLO_BYTES // 2)), "larger than"),  # UTF-8 bytes count
    ],
)
def test_a_malformed_hello_closes_with_1008(frame: str | bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_hello(frame)
    assert info.value.code == CloseCode.POLICY_VIOLATION
    assert fragment in info.value.reason
    assert len(info.value.reason.encode()) <= 123  # fits a close frame


@given(st.text(max_size=200) | json_values.map(json.dumps) | st.binary(max_size=50)
       | st.dictionaries(st.sampled_from(["type", "resume", "received", "v"]), json_values)
       .map(lambda m: json.dumps({"type": "quartdash_hello", **m})))
def test_any_first_frame_is_a_hello_or_a_1008(frame: str | bytes) -> None:
    try:
        parsed = protocol.parse_hello(frame)
    except ProtocolError as err:
        assert err.code == CloseCode.POLICY_VIOLATION
    else:
        assert parsed.resume is None or 0 < len(parsed.resume) <= protocol.MAX_RESUME_TOKEN
        assert type(parsed.received) is int and parsed.received >= 0
