"""Drum machine: a 16-step sequencer whose playhead is driven from the server.

Click the cells to edit the pattern (a clientside callback keeps it in a
``dcc.Store``), press *Play*, change the tempo while it plays. A persistent callback
is the clock: at each step it reads the play button, the tempo and the pattern from
the page with ``get_prop`` (three reads in parallel, so edits apply on the next step),
moves the playhead with ``set_props`` and emits a ``beat`` event naming the
instruments that hit. A clientside subscriber (``window.quartdash.on("beat", ...)``)
plays them with the Web Audio API, synthesised in the browser: nothing is downloaded.

A tab the browser freezes (hidden for a while, or paused in a debugger) stops
answering ``get_prop``: after ``ANSWER_SECONDS`` the loop logs one line and the
sequencer waits until the tab answers again, then goes on where it was.

Run it: ``hypercorn examples.drum:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): at 120 BPM, 8.0 steps a
second (sixteenth notes) reach the page.
"""

from __future__ import annotations

import asyncio

from quartdash import (
    ALL,
    Input,
    Output,
    QuartDash,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    set_props,
)

STEPS = 16
INSTRUMENTS = ["kick", "snare", "hat", "clap"]
PATTERN = [  # a four-on-the-floor beat to start from
    [s % 4 == 0 for s in range(STEPS)],
    [s in (4, 12) for s in range(STEPS)],
    [s % 2 == 0 for s in range(STEPS)],
    [s == 14 for s in range(STEPS)],
]
CELL = {"width": "28px", "height": "28px", "margin": "2px", "border": "1px solid #999",
        "borderRadius": "4px"}
LAMP = {"width": "28px", "height": "8px", "margin": "0 3px", "display": "inline-block",
        "borderRadius": "4px", "background": "#ddd"}
LAMP_ON = {**LAMP, "background": "#e4572e"}
#: How long a step waits for the page to answer ``get_prop``: far below Dash's default
#: of 30 s, well above what a busy page takes. A page silent for longer is frozen,
#: paused or gone; the loop waits for it without ending.
ANSWER_SECONDS = 5.0


def cell_style(on: bool, step: int) -> dict[str, str]:
    shade = "#1f77b4" if on else ("#eee" if step // 4 % 2 else "#fafafa")
    return {**CELL, "background": shade}


app = QuartDash(__name__, title="quartdash drum machine")
log = app.server.logger  # Quart's app logger: hypercorn prints its lines
app.layout = html.Div(
    [
        html.H3("Drum machine"),
        html.Button("▶ Play", id="play", n_clicks=0),
        html.Span(" tempo (BPM) ", style={"marginLeft": "20px"}),
        html.Div(dcc.Slider(60, 180, 5, value=120, id="bpm",
                            marks={b: str(b) for b in range(60, 181, 30)}),
                 style={"width": "300px", "display": "inline-block"}),
        html.Div("stopped", id="position"),
        html.Div([html.Span(style={"display": "inline-block", "width": "60px"}),
                  *[html.Div(id={"type": "lamp", "step": s}, style=LAMP) for s in range(STEPS)]]),
        *[html.Div([html.Span(name, style={"display": "inline-block", "width": "60px"}),
                    *[html.Button(id={"type": "cell", "row": r, "step": s},
                                  style=cell_style(PATTERN[r][s], s)) for s in range(STEPS)]])
          for r, name in enumerate(INSTRUMENTS)],
        dcc.Store(id="pattern", data=PATTERN),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)

# Editing the pattern stays in the browser: toggle the clicked cell, restyle the grid.
clientside_callback(
    """
    function(clicks, pattern, styles) {
        const hit = dash_clientside.callback_context.triggered_id;
        if (!hit) { return dash_clientside.no_update; }
        pattern = pattern.map(row => row.slice());
        pattern[hit.row][hit.step] = !pattern[hit.row][hit.step];
        const flat = pattern.flat();
        return [pattern, styles.map((style, i) => Object.assign({}, style, {
            background: flat[i] ? "#1f77b4" : (Math.floor((i % 16) / 4) % 2 ? "#eee" : "#fafafa")
        }))];
    }
    """,
    Output("pattern", "data"),
    Output({"type": "cell", "row": ALL, "step": ALL}, "style"),
    Input({"type": "cell", "row": ALL, "step": ALL}, "n_clicks"),
    State("pattern", "data"),
    State({"type": "cell", "row": ALL, "step": ALL}, "style"),
    prevent_initial_call=True,
)

# The play button's label, and the sound: one synthesiser per page, fed by beat events,
# made on the first click (browsers start audio only after the user has interacted).
clientside_callback(
    """
    function(clicks) {
        if (!window.drums) {
            const audio = new AudioContext();
            const noise = audio.createBuffer(1, audio.sampleRate / 2, audio.sampleRate);
            noise.getChannelData(0).forEach((_, i, d) => { d[i] = Math.random() * 2 - 1; });
            function hit(kind, when) {
                const gain = audio.createGain();
                gain.connect(audio.destination);
                const length = {kick: 0.3, snare: 0.15, hat: 0.05, clap: 0.1}[kind];
                gain.gain.setValueAtTime(kind === "hat" ? 0.2 : 0.6, when);
                gain.gain.exponentialRampToValueAtTime(0.001, when + length);
                let source;
                if (kind === "kick") {
                    source = audio.createOscillator();
                    source.frequency.setValueAtTime(150, when);
                    source.frequency.exponentialRampToValueAtTime(40, when + length);
                } else {
                    source = audio.createBufferSource();
                    source.buffer = noise;
                    const filter = audio.createBiquadFilter();
                    filter.type = kind === "hat" ? "highpass" : "bandpass";
                    filter.frequency.value = {snare: 1800, hat: 7000, clap: 1200}[kind];
                    source.connect(filter); filter.connect(gain);
                    source.start(when); source.stop(when + length);
                    return;
                }
                source.connect(gain); source.start(when); source.stop(when + length);
            }
            window.drums = {audio: audio, beats: 0};
            window.quartdash.on("beat", function(beat) {
                window.drums.beats += 1;
                if (audio.state === "suspended") { audio.resume(); }
                beat.hits.forEach(kind => hit(kind, audio.currentTime));
            });
        }
        return clicks % 2 ? "■ Stop" : "▶ Play";
    }
    """,
    Output("play", "children"),
    Input("play", "n_clicks"),
    prevent_initial_call=True,
)


@callback(persistent=True)
async def sequencer() -> None:
    """The clock: one step per sixteenth note while playing."""
    socket = ctx.websocket
    step, lit = -1, None
    loop = asyncio.get_running_loop()
    due = loop.time()  # when this step was due: steps keep to the clock
    silent_since: float | None = None  # the page stopped answering then; None: it answers
    while not socket.is_shutdown:
        try:
            clicks, bpm, pattern = await asyncio.gather(
                socket.get_prop("play", "n_clicks", timeout=ANSWER_SECONDS),
                socket.get_prop("bpm", "value", timeout=ANSWER_SECONDS),
                socket.get_prop("pattern", "data", timeout=ANSWER_SECONDS))
        except TimeoutError:
            if silent_since is None:  # one line per silence, not one per step
                silent_since = loop.time()
                log.warning("drum: the page did not answer get_prop in %g s (a frozen "
                            "tab?); the sequencer waits for it", ANSWER_SECONDS)
            due = loop.time()
            continue
        if silent_since is not None:
            log.info("drum: the page answers again after %.1f s", loop.time() - silent_since)
            silent_since = None
        if not (clicks or 0) % 2:
            if lit is not None:
                set_props({"type": "lamp", "step": lit}, {"style": LAMP})
                set_props("position", {"children": "stopped"})
                step, lit = -1, None
            await asyncio.sleep(0.1)
            due = loop.time()
            continue
        step = (step + 1) % STEPS
        if lit is not None:
            set_props({"type": "lamp", "step": lit}, {"style": LAMP})
        set_props({"type": "lamp", "step": step}, {"style": LAMP_ON})
        lit = step
        set_props("position", {"children": f"step {step + 1} of {STEPS} at {bpm} BPM"})
        await socket.emit("beat", {"step": step, "hits": [
            name for name, row in zip(INSTRUMENTS, pattern, strict=True) if row[step]]})
        sixteenth = 60 / bpm / 4
        due = max(due + sixteenth, loop.time() - sixteenth)
        await asyncio.sleep(max(0.0, due - loop.time()))
