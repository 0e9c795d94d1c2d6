"""``facecam app``: a local web page to author a camera move, preview it and generate.

The page is wiring only. Every result comes from the run API the CLI uses:
:func:`~facecam.run.render` builds the condition and renders it with an engine,
:func:`~facecam.run.write_run` names and writes the files, so a page run and
``facecam generate`` leave identical files behind. The page never imports
:mod:`facecam.cli`.

Each browser session works in its own temporary folder (named after Gradio's
session hash), each run in a fresh sub-folder of it, so two tabs never see or
overwrite each other's files; the folder is removed when the tab closes. Jobs run
on Gradio's queue, so the page stays responsive while one runs.

A :class:`~facecam.errors.FacecamError` (no face, not a video, a bad keyframe
table) becomes a readable message in the page's status line, in the page's
words (a field's label, never a command-line flag); the results already on the
page stay, and the message clears when the next run starts. The server keeps
serving.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

# Before gradio is imported: the page must never phone home (usage analytics).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .camera.trajectory import FIELDS, PRESET_HELP, PRESETS, from_keys, scale_trajectory  # noqa: E402
from .errors import FacecamError, TrajectoryError  # noqa: E402
from .run import ENGINE_NAMES, ConditionOptions, EngineOptions, _parse_face  # noqa: E402
CAMERA_SOURCES = ("preset", "keyframes", "JSON file")
KEY_COLUMNS = ["t", *FIELDS]
# Arc-left authored as keys: t runs 0..1 over the clip, so the table does not depend on --frames.
DEFAULT_KEYS = [[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [1.0, -30.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
# Two jobs at once: enough that one tab's long job does not hold another tab's
# preview back, few enough that a CPU machine is not swamped.
DEFAULT_CONCURRENCY = 2
# System fonts only: the default theme pulls Google Fonts, and the page must work offline.
_THEME_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def keys_from_table(rows: Any) -> list[dict]:
    """Keyframe dicts (:func:`~facecam.camera.trajectory.from_keys` input) from the table's rows.

    Columns are ``t, yaw, pitch, roll, zoom, pan_x, pan_y`` with ``t`` in 0..1 of the
    clip. A blank cell is left out (the previous key's value carries on); a blank row
    is skipped; anything that is not a number raises :class:`TrajectoryError`.
    """
    return _table_keys(rows)[0]


def _table_keys(rows: Any) -> tuple[list[dict], list[int]]:
    """:func:`keys_from_table`'s keys and the table row (1-based) each came from (blank rows are skipped)."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a DataFrame, whatever Gradio hands over
        rows = rows.values.tolist()
    keys, numbers = [], []
    for r, row in enumerate(rows or []):
        key = {}
        for column, cell in zip(KEY_COLUMNS, row):
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            try:
                value = float(cell)
            except (TypeError, ValueError):
                raise TrajectoryError(f"keyframe row {r + 1}, column {column}: {cell!r} is not a number") from None
            if math.isnan(value):  # how the table reports an emptied number cell
                continue
            key[column] = value
        if not key:
            continue
        if "t" not in key:
            raise TrajectoryError(f"keyframe row {r + 1} has no t (0 = first frame, 1 = last)")
        keys.append(key)
        numbers.append(r + 1)
    if not keys:
        raise TrajectoryError("the keyframe table is empty: add at least one row with a t")
    return keys, numbers


def _camera(source: str, preset: str, strength: float, table: Any, json_file: Optional[str], frames: int):
    """The ``camera`` argument of ``build_condition`` for the chosen camera source."""
    if source == "keyframes":
        import re

        keys, numbers = _table_keys(table)
        try:
            trajectory = from_keys(keys, frames, name="keyframes", normalized=True)
        except TrajectoryError as exc:  # the library counts keys from 0; the page shows table rows from 1
            message = re.sub(r"\bkey (\d+)", lambda m: f"keyframe row {numbers[int(m.group(1))]}", str(exc))
            raise TrajectoryError(message.replace(" (time: normalized)", "")) from None
        return scale_trajectory(trajectory, strength) if strength != 1.0 else trajectory
    if source == "JSON file":
        if not json_file:
            raise TrajectoryError("upload a trajectory JSON file, or pick a preset")
        return str(json_file)
    return preset


PAGE_MAX_FRAMES = 1001  # a longer run belongs to `facecam generate` (its frames go to temporary disk)


def _frames(value: Any) -> int:
    try:
        frames = float(value)
        if frames != int(frames):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise FacecamError(f"Frames must be a whole number (4k+1, e.g. 17 or 81), got {value!r}") from None
    if frames > PAGE_MAX_FRAMES:
        raise FacecamError(f"Frames is at most {PAGE_MAX_FRAMES} on this page, got {int(frames)}; for longer "
                           f"runs use `facecam generate --frames N` (or `--frames all`)")
    return int(frames)


def _seed(value: Any) -> tuple[int, bool]:
    """The seed box's value, and whether it was drawn: blank or negative draws a fresh seed for this run,
    which the page then shows (and the run's camera file records), so a move one liked can be kept."""
    import secrets

    if value in (None, "") or int(value) < 0:
        return secrets.randbelow(2 ** 31), True
    return int(value), False


# The options the page shows (their labels name its fields); any other flag in a message is the command line's.
ON_PAGE = ("camera", "strength", "frames", "proxy", "mode", "seed", "framing", "track", "profile", "rotate", "face",
           "engine")


def _page_words(message: str) -> str:
    """``--frames`` -> ``Frames``: library errors name command-line flags; the page names its fields. A flag
    the page has no field for keeps its name, with a word on where it is set."""
    import dataclasses
    import re

    labels = {}
    for cls in (ConditionOptions, EngineOptions):
        for f in dataclasses.fields(cls):
            if f.metadata.get("label") and f.name in ON_PAGE:
                labels["--" + f.name.replace("_", "-")] = f.metadata["label"]
    labels["--weights"] = "the weights folder (`facecam app --weights DIR`)"
    elsewhere = []

    def word(match) -> str:
        flag, placeholder = match.group(1), match.group(2)
        if flag in labels:  # the field's name; its placeholder (SEC, PATH.ply) is the field itself
            return labels[flag] + (" .ply" if placeholder and placeholder.endswith(".ply") else "")
        elsewhere.append(match.group(0))
        return f"`{match.group(0)}`"

    # A flag and its placeholder (`--start SEC`, `--proxy PATH.ply`, `--size HxW`) are renamed together.
    message = re.sub(r"(--[a-z][a-z-]*)(?: ([A-Z][A-Za-z]*(?:\.[a-z]+)?)\b)?", word, message)
    if elsewhere:
        shown = ", ".join(dict.fromkeys(f"`{flag}`" for flag in elsewhere))
        message += f" ({shown}: an option of `facecam generate`, not on this page)"
    return message


class _Warnings(logging.Handler):
    """The facecam logger's warnings of this thread while a run lasts (the page shows them; they went to the
    server's log only: a 90 deg turn the warp engine tears at, a clip shorter than Frames)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            text = record.getMessage()
            for prefix in ("facecam: warning: ", "facecam: note: "):
                text = text[len(prefix):] if text.startswith(prefix) else text
            self.lines.append(_page_words(text))

    def __enter__(self) -> "_Warnings":
        logging.getLogger("facecam").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("facecam").removeHandler(self)

    def markdown(self) -> str:
        return "".join(f"\n\n**Note:** {line}" for line in dict.fromkeys(self.lines))


def _error(exc: Exception, *uploads: Any) -> str:
    """The status line for a user mistake; uploads are named as the user knows them, not by server path."""
    message = _page_words(str(exc))
    for upload in uploads:
        if upload:
            message = message.replace(str(upload), Path(str(upload)).name)
    return f"**Error:** {message}"


WORKING = "Working..."
NO_WEIGHTS = ("no weights folder: start the page with `facecam app --weights DIR` or set $FACECAM_WEIGHTS "
              "(`facecam download` fetches them)")


def build_app(facecam: Optional[EngineOptions] = None, workdir: Optional[str | os.PathLike] = None) -> gr.Blocks:
    """The page, not yet launched.

    Args:
        facecam: the facecam engine's options (weights, steps, cfg, ...), as ``facecam generate``
            takes them; without usable weights the facecam engine is shown disabled, with the reason.
        workdir: where per-session folders go (default: a fresh temporary folder).
    """
    from .run import check_engine

    facecam = facecam or EngineOptions(engine="facecam")
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="facecam-app-"))
    root.mkdir(parents=True, exist_ok=True)
    facecam_ok, facecam_why = False, NO_WEIGHTS
    if facecam.engine_kwargs()["weights"]:
        # Checking a folder imports torch and diffusers (seconds); without one there is nothing to check.
        try:
            check_engine(facecam)
            facecam_ok, facecam_why = True, ""
        except FacecamError as exc:
            facecam_why = str(exc)
    engines: dict[str, Any] = {}
    engines_lock = threading.Lock()

    def engine_for(name: str) -> tuple[EngineOptions, Any]:
        # One engine per server: loading the diffusion model per job would take minutes.
        from .run import load_engine

        if name == "facecam" and not facecam_ok:
            raise FacecamError(f"the facecam engine is not available: {facecam_why}")
        options = facecam if name == "facecam" else EngineOptions(engine=name)
        with engines_lock:
            if name not in engines:
                engines[name] = load_engine(options)
            return options, engines[name]

    def job_dir(request: Optional[gr.Request]) -> Path:
        session = (request.session_hash if request is not None else None) or "local"
        folder = root / session
        folder.mkdir(parents=True, exist_ok=True)
        # A fresh folder per run: files shown from an earlier run stay valid.
        return Path(tempfile.mkdtemp(prefix="run-", dir=folder))

    def run(form: tuple, engine: Optional[str], request, progress):
        """Render the form with the run API and write the files; returns (run, {file name: path}, the
        status's notes, whether the same form renders this move again)."""
        from .profiles import resolve_profile
        from .run import render, write_run

        (source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed, framing, track,
         profile, rotate, face) = form
        if not source:
            raise FacecamError("upload a video or a portrait photo first")
        frames = _frames(frames)
        seed, drawn = _seed(seed)
        options = ConditionOptions(camera=_camera(camera_source, preset, float(strength), table, json_file, frames),
                                   strength=float(strength), frames=frames, proxy=str(ply) if ply else proxy,
                                   mode=mode, seed=seed, framing=framing, track=bool(track),
                                   profile=profile, rotate=int(rotate or 0), face=_parse_face(face or None))
        if engine and engine not in engines:
            # The diffusion engine's first load reads its weights (tens of seconds at full size) before any bar.
            progress(0.0, desc=f"loading the {engine} engine (the first run of this page only)")
        engine_options, loaded = engine_for(engine) if engine else (None, None)
        # A preview in the release profile also draws the head from the server's weights folder.
        chosen = options.camera
        options = resolve_profile(options, facecam.engine_kwargs()["weights"])
        replaced = (f" Profile release renders the authors' random move: the chosen camera "
                    f"({getattr(chosen, 'name', chosen)}) was not used." if options.camera is not chosen else "")
        progress(0.0, desc="tracking the face and drawing the condition"
                 + (f", then rendering with the {engine} engine" if engine else ""))
        with _Warnings() as warnings:
            result = render(str(source), options, engine_options, loaded=loaded, progress=True)
            written = write_run(result, job_dir(request))
        # Only where the seed matters (the random move, the diffusion engine's noise) does a drawn one make
        # this run's move or video one that the same form will not give again.
        fresh = drawn and (options.camera == "random" or engine == "facecam")
        notes = replaced + (f" Seed {seed} was drawn for this run: put it in Seed to keep this move." if fresh else "")
        return result, written, notes + warnings.markdown(), not fresh

    def preview(source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed,
                framing, track, profile, rotate, face,
                request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        """Condition files only (as `facecam condition`); on a mistake the results on the page stay."""
        form = (source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed,
                framing, track, profile, rotate, face)
        try:
            result, written, notes, repeatable = run(form, None, request, progress)
        except FacecamError as exc:
            return _error(exc, source, json_file, ply), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        clip = result.clip
        status = (f"Preview of **{clip.trajectory.name}** on {clip.name}: {len(clip.source)} frames."
                  + (" Generate renders it." if repeatable else "") + notes)
        return (status, str(written[f"{clip.name}_preview.mp4"]), str(written[f"{clip.name}_camera.mp4"]), None,
                [str(p) for p in written.values()])

    def generate(source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed,
                 framing, track, profile, rotate, face, engine,
                 request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        """The condition files plus the generated video (as `facecam generate`)."""
        form = (source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed,
                framing, track, profile, rotate, face)
        try:
            result, written, notes, _ = run(form, engine, request, progress)
        except FacecamError as exc:
            return _error(exc, source, json_file, ply), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        clip = result.clip
        status = (f"Done: **{clip.trajectory.name}** on {clip.name} with the {engine} engine, "
                  f"{len(result.video)} frames.{notes}")
        return (status, str(written[f"{clip.name}_preview.mp4"]), str(written[f"{clip.name}_camera.mp4"]),
                str(written[f"{clip.name}.mp4"]), [str(p) for p in written.values()])

    def forget_session(request: gr.Request) -> None:
        if request is not None and request.session_hash:
            shutil.rmtree(root / request.session_hash, ignore_errors=True)

    with gr.Blocks(title="facecam", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# facecam\nRe-angle a portrait video: choose a camera move, preview its face-mesh "
                    "condition, then generate.")
        with gr.Row():
            with gr.Column(scale=1):
                source = gr.File(label="Video or portrait photo", elem_id="source")
                camera_source = gr.Radio(list(CAMERA_SOURCES), value="preset", label="Camera move from",
                                         elem_id="camera-source")
                with gr.Group(visible=True) as preset_group:
                    preset = gr.Radio(list(PRESETS), value="arc-left", label="Preset", elem_id="preset")
                    preset_help = gr.Markdown(PRESET_HELP["arc-left"])
                strength = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="Strength",
                                     info="multiplies the move (0.5 = half the angle, zoom and pan)")
                with gr.Group(visible=False) as keys_group:
                    table = gr.Dataframe(value=DEFAULT_KEYS, headers=KEY_COLUMNS, datatype="number",
                                         type="array", row_count=2, label="Keyframes",
                                         elem_id="keyframes")
                    gr.Markdown("t: 0 = first frame, 1 = last. Degrees for yaw (negative orbits left), pitch "
                                "(positive orbits up) and roll; zoom is a factor; pan is a fraction of the frame. "
                                "A blank cell keeps the previous key's value.")
                json_file = gr.File(label='Trajectory JSON ({"frames": N, "keys": [{"t": 0, "yaw": 0}, ...]}: t counts frames, '
                                          'or 0..1 with "time": "normalized")',
                                    file_types=[".json"], visible=False, elem_id="trajectory")
                frames = gr.Number(value=ConditionOptions().frames, precision=0, label="Frames", elem_id="frames",
                                   info="4k+1 at 24 fps: 81 = 3.4 s; 17 previews fastest")
                with gr.Accordion("Condition options", open=False):
                    proxy = gr.Radio(["subject", "template"], value="subject", label="Proxy head",
                                     info="the subject's own first-frame mesh, or the generic template")
                    ply = gr.File(label="Proxy head .ply (optional, replaces the above)", file_types=[".ply"])
                    mode = gr.Radio(["relative", "absolute"], value="relative", label="Mode",
                                    info="relative: the move starts at the source's own view; absolute: the "
                                         "authors' views on a sphere around a frontal head")
                    # A fixed default so Generate renders exactly the move Preview showed, random preset included.
                    seed = gr.Number(value=ConditionOptions().seed, precision=0, label="Seed (random preset, engines)",
                                     info="change it for another random move; -1: a new seed every run (shown "
                                          "after the run)")
                    framing = gr.Radio(["auto", "reference"], value=ConditionOptions().framing, label="Framing",
                                       elem_id="framing",
                                       info="auto: a small, distant face gets a tighter crop; reference: the "
                                            "fixed crop around the nose")
                    track = gr.Checkbox(value=ConditionOptions().track, label="Follow the face", elem_id="track",
                                        info="the crop follows a subject who moves; zoom centres on the face")
                    profile = gr.Radio(["default", "release"], value=ConditionOptions().profile, label="Profile",
                                       elem_id="profile",
                                       info="release: the authors' own inference (random move on their Gaussian "
                                            "head, from the weights folder)")
                    rotate = gr.Radio([0, 90, 180, 270], value=ConditionOptions().rotate, label="Rotate",
                                      elem_id="rotate",
                                      info="degrees clockwise, for a video filmed on its side (a face lying on "
                                           "its side is said, with the turn that fixes it)")
                    face = gr.Textbox(value="", label="Face", elem_id="face", placeholder="largest",
                                      info="with several people: X,Y picks the face nearest that point, as "
                                           "fractions of the frame (0.8,0.3 = right, upper third); empty: the "
                                           "largest")
                engine = gr.Radio(list(ENGINE_NAMES), value="warp", label="Engine", elem_id="engine",
                                  interactive=facecam_ok,
                                  info=("warp: weight-free geometric re-render; facecam: the diffusion model"
                                        if facecam_ok else f"facecam unavailable: {facecam_why}"))
                with gr.Row():
                    preview_btn = gr.Button("Preview", elem_id="preview-button")
                    generate_btn = gr.Button("Generate", variant="primary", elem_id="generate-button")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload a video or a portrait photo.", elem_id="status")
                preview_video = gr.Video(label="Source | condition", interactive=False, height=420,
                                         elem_id="preview-video")
                with gr.Row():
                    condition_video = gr.Video(label="Condition", interactive=False, height=420,
                                               elem_id="condition-video")
                    result_video = gr.Video(label="Result", interactive=False, height=420, elem_id="result-video")
                files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

        def show_source(choice: str):
            return (gr.update(visible=choice == "preset"), gr.update(visible=choice == "keyframes"),
                    gr.update(visible=choice == "JSON file"))

        camera_source.change(show_source, camera_source, [preset_group, keys_group, json_file], queue=False)
        preset.change(lambda name: PRESET_HELP.get(name, ""), preset, preset_help, queue=False)
        inputs = [source, camera_source, preset, strength, table, json_file, frames, proxy, ply, mode, seed,
                  framing, track, profile, rotate, face]
        outputs = [status, preview_video, condition_video, result_video, files]
        # The old message (an error, a finished run) clears the moment a new run starts.
        preview_btn.click(lambda: WORKING, None, status, queue=False).then(
            preview, inputs, outputs, concurrency_id="jobs")
        generate_btn.click(lambda: WORKING, None, status, queue=False).then(
            generate, [*inputs, engine], outputs, concurrency_id="jobs")
        demo.unload(forget_session)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, concurrency: int = DEFAULT_CONCURRENCY,
           prevent_thread_lock: bool = False, facecam_options: Optional[EngineOptions] = None) -> gr.Blocks:
    """Serve the page on ``host:port`` (local only unless ``host`` says otherwise).

    Blocks until the server stops unless ``prevent_thread_lock``; the sessions'
    folders are removed when the process ends, by Ctrl-C or by SIGTERM.
    """
    import atexit
    import signal

    workdir = Path(tempfile.mkdtemp(prefix="facecam-app-"))
    atexit.register(shutil.rmtree, workdir, True)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        # SIGTERM would end the process without running atexit; exiting normally removes the folders.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo = build_app(facecam=facecam_options, workdir=workdir)
    demo.queue(default_concurrency_limit=concurrency)
    try:
        # quiet: Gradio's banner suggests share=True, which this page never uses; we print our own line.
        demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=False,
                    allowed_paths=[str(workdir)], prevent_thread_lock=True, quiet=True,
                    theme=gr.themes.Default(**_THEME_FONTS), footer_links=[])
    except OSError as exc:
        # Gradio's message goes on about environment variables; its first sentence is the news.
        raise FacecamError(f"cannot serve on {host}:{port}: {str(exc).split('. ')[0]}; try another --port") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"facecam: serving on http://{shown}:{demo.server_port}/ (Ctrl-C stops it)", flush=True)
    if not prevent_thread_lock:
        demo.block_thread()
    return demo
