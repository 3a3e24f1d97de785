"""A bare Quart WebSocket speaking the same frames: the floor any framework adds to.

It answers the echo callback and streams set_props with no Dash and no checks, so the
difference to it is what a framework costs. ``hypercorn bench.bare:app``.
"""

from __future__ import annotations

import json

from quart import Quart, websocket

app = Quart(__name__)


@app.route("/")
async def index() -> str:
    return "bare"


@app.websocket("/_dash-ws-callback")
async def socket() -> None:
    while True:
        message = json.loads(await websocket.receive())
        if message.get("type") == "heartbeat":
            await websocket.send('{"type":"heartbeat_ack"}')
            continue
        payload = message["payload"]
        rid, req = message.get("rendererId", ""), message["requestId"]
        if payload["output"] == "done.children":
            for i in range(1, payload["inputs"][0]["value"] + 1):
                await websocket.send(json.dumps({"type": "set_props", "rendererId": rid, "payload": {
                    "componentId": "prog", "props": {"children": i}}}))
            data = {"multi": True, "response": {"done": {"children": "done"}}}
        else:
            data = {"multi": True, "response": {"out": {"children": payload["inputs"][0]["value"]}}}
        await websocket.send(json.dumps({"type": "callback_response", "rendererId": rid, "requestId": req,
                                         "payload": {"status": "ok", "data": data}}))
