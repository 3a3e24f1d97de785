"""``examples/echo.py``'s stream against a real hypercorn: ``n_clicks`` comes from the
client, so one socket asking for 300,000 set_props must neither hold the worker (the
review measured a 1.7 s freeze) nor get more than the example's documented cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quartdash.testing.servers import hypercorn
from quartdash.testing.wsclient import (
    call,
    callback_request,
    echo_rtt,
    open_socket,
    worst_rtt_while,
)

HOSTILE = 300_000
CAP = 10_000  # examples.echo.MAX_STREAM (not imported: that would build its app here)
WORST_RTT = 0.5  # seconds; the uncapped, unyielding stream froze the worker for 1.7 s


async def test_a_huge_stream_is_capped_and_other_sockets_stay_fast(tmp_path: Path) -> None:
    with hypercorn("examples.echo:app", tmp_path) as server:
        async with open_socket(server.url) as greedy, open_socket(server.url) as other:
            await echo_rtt(other, 0)  # warm
            request = callback_request("go", "done", "children", [("go", "n_clicks", HOSTILE)])
            stream = asyncio.create_task(call(greedy, request, timeout=120))
            await asyncio.sleep(0)  # the request is on its way before the first probe
            worst, probes = await worst_rtt_while(other, stream)
            response, before = await stream
    values = [m["payload"]["props"]["children"] for m in before
              if m["type"] == "set_props" and m["payload"]["componentId"] == "prog"]
    print(f"\n{len(values)} set_props for n_clicks={HOSTILE:,}; worst echo round trip "
          f"on another socket: {worst * 1e3:.0f} ms over {probes} probes")
    assert response["payload"]["data"]["response"]["done"]["children"] == "done"
    assert values[-1] == CAP and max(values) == CAP  # the latest always arrives
    assert worst < WORST_RTT, f"another socket waited {worst:.2f} s"
