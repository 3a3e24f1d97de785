"""Conway's Game of Life on a 50x50 board, streamed at a frame rate you set.

A persistent callback owns the board for the life of the page's connection. Each
generation it reads the controls with ``get_prop`` (run or pause, the randomise
button, the frame rate), steps the board (a torus: the edges wrap) and pushes it as a
``Patch`` of the heatmap's ``z``; the slider changes the rate on the next frame.

A tab the browser freezes (hidden for a while, or paused in a debugger) stops
answering ``get_prop``: after ``ANSWER_SECONDS`` the loop logs one line and the
board waits until the tab answers again, then goes on where it was.

Run it: ``hypercorn examples.life:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): 10.0 generations a second
at the default setting of 10, 29.8 at 30.
"""

from __future__ import annotations

import asyncio

import numpy as np
import plotly.graph_objects as go

from quartdash import Patch, QuartDash, callback, ctx, dcc, html, set_props

SIZE = 50
FILL = 0.3  # share of live cells after randomising
#: How long a step waits for the page to answer ``get_prop``: far below Dash's default
#: of 30 s, well above what a busy page takes. A page silent for longer is frozen,
#: paused or gone; the loop waits for it without ending.
ANSWER_SECONDS = 5.0


def random_board() -> np.ndarray:
    return (np.random.random((SIZE, SIZE)) < FILL).astype(np.uint8)


def generation(board: np.ndarray) -> np.ndarray:
    """The next generation: a live cell with 2 or 3 live neighbours stays, a dead cell
    with exactly 3 comes alive."""
    neighbours = sum(np.roll(np.roll(board, dy, 0), dx, 1)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return ((neighbours == 3) | ((board == 1) & (neighbours == 2))).astype(np.uint8)


def board_figure() -> go.Figure:
    figure = go.Figure(go.Heatmap(z=np.zeros((SIZE, SIZE), dtype=np.uint8), zmin=0, zmax=1,
                                  colorscale=[[0, "#f4f4f4"], [1, "#2a9d8f"]],
                                  showscale=False, xgap=1, ygap=1, hoverinfo="skip"))
    figure.update_layout(width=520, height=520, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         xaxis={"visible": False}, yaxis={"visible": False})
    return figure


app = QuartDash(__name__, title="quartdash life")
log = app.server.logger  # Quart's app logger: hypercorn prints its lines
app.layout = html.Div(
    [
        html.H3("Game of Life, 50 x 50"),
        html.Button("Pause / run", id="run", n_clicks=0),
        html.Button("Randomise", id="seed", n_clicks=0),
        html.Span(" generations per second ", style={"marginLeft": "20px"}),
        html.Div(dcc.Slider(1, 30, 1, value=10, id="fps", marks={1: "1", 10: "10", 20: "20",
                                                               30: "30"}),
                 style={"width": "300px", "display": "inline-block"}),
        html.Div("generation 0", id="generation"),
        dcc.Graph(id="board", figure=board_figure(), config={"displayModeBar": False}),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(persistent=True)
async def play() -> None:
    """One generation per frame while running, at the slider's rate."""
    socket = ctx.websocket
    board, count, seeded = random_board(), 0, 0
    loop = asyncio.get_running_loop()
    due = loop.time()  # when this frame was due: frames keep to the clock
    silent_since: float | None = None  # the page stopped answering then; None: it answers
    while not socket.is_shutdown:
        try:
            toggles, seeds, fps = await asyncio.gather(
                socket.get_prop("run", "n_clicks", timeout=ANSWER_SECONDS),
                socket.get_prop("seed", "n_clicks", timeout=ANSWER_SECONDS),
                socket.get_prop("fps", "value", timeout=ANSWER_SECONDS))
        except TimeoutError:
            if silent_since is None:  # one line per silence, not one per frame
                silent_since = loop.time()
                log.warning("life: the page did not answer get_prop in %g s (a frozen "
                            "tab?); the board waits for it", ANSWER_SECONDS)
            due = loop.time()
            continue
        if silent_since is not None:
            log.info("life: the page answers again after %.1f s", loop.time() - silent_since)
            silent_since = None
        running = toggles % 2 == 0  # each click of "Pause / run" toggles
        reseed = seeds != seeded
        if reseed:
            board, seeded = random_board(), seeds
        if running:
            board, count = generation(board), count + 1
        if running or reseed:
            figure = Patch()
            figure["data"][0]["z"] = board
            set_props("board", {"figure": figure})
            set_props("generation", {"children": f"generation {count}, {int(board.sum())} alive"})
        # The next frame is due 1/fps after this one (not after this one ended); a
        # frame late by more than a period does not make the next ones hurry.
        due = max(due + 1 / fps, loop.time() - 1 / fps)
        await asyncio.sleep(max(0.0, due - loop.time()))
