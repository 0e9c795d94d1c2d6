"""The run API: one re-angling run, from options to files.

Every way of making a result - ``facecam condition``, ``generate``,
``generate-many``, ``bench``, ``demo`` and the web page - goes through
:func:`render` and :func:`write_run`, so they share one sequence (build the
condition, render it with an engine, name the files, write them) and one set of
defaults.

Options are data: :class:`ConditionOptions` (what to draw) and
:class:`EngineOptions` (how to render it). Each field holds its default and a
one-line help; the CLI's flags are generated from these fields
(:mod:`facecam.cli._options`), and ``<name>_camera.json`` records every field a
run used. Adding an option is one line here (plus the library code that reads
it)::

    start: float = option(0.0, "first second of the source to use")

File-naming contract (ARCHITECTURE.md): ``<name>_input.mp4`` (cropped source),
``<name>_camera.mp4`` (condition), ``<name>_preview.mp4`` (source | condition),
``<name>_camera.json`` (camera and options) and, with an engine,
``<name>.mp4`` (the generated video).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .speed import CACHE_KINDS, OFFLOAD_MODES, QUANTIZE_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from .camera.trajectory import CameraTrajectory
    from .condition.builder import ConditionedClip
    from .engines.base import Engine
    from .video.audio import AudioSpan
    from .video.io import VideoClip

ENGINE_NAMES = ("warp", "facecam")


def option(default: Any, help: str, *, flag: Optional[str] = None, short: Optional[str] = None,
           metavar: Optional[str] = None, choices: Optional[tuple] = None, parse=None, show=None, const=None,
           label: Optional[str] = None, engines: tuple[str, ...] = ENGINE_NAMES, cli: bool = True) -> Any:
    """A dataclass field that is also a command-line flag.

    Args:
        default: the default value (the one place it is written).
        help: one line for ``--help``; the default is appended.
        flag: the flag (default ``--field-name``). short: an extra short flag (``-c``).
        metavar, choices: as in argparse. parse: text -> value for the flag (default: the
            default's type). show: value -> text for the default in ``--help``.
        const: the value of the bare flag (``--offload`` alone = ``--offload group``); the flag's value is
            then optional.
        label: the option's name on the web page (errors speak the page's words there).
        engines: the engines that read it (EngineOptions only); others never see it.
        cli: False for options no flag sets (the verb sets them).
    """
    meta = dict(help=help, flag=flag, short=short, metavar=metavar, choices=choices, parse=parse, show=show,
                const=const, label=label, engines=engines, cli=cli)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _parse_size(text: str) -> tuple[int, int]:
    from .video.crop import parse_size

    return parse_size(text)


def _parse_frames(text) -> Union[int, str]:
    """``--frames``: a whole number (4k+1) or ``all`` (the whole clip, rounded down to 4k+1)."""
    from .errors import FacecamError

    if str(text).strip().lower() == "all":
        return "all"
    try:
        frames = int(text)
    except (TypeError, ValueError):
        raise FacecamError(f"--frames must be a whole number 4k+1 (e.g. 81) or `all`, got {text!r}") from None
    return check_moving_frames(frames)


def check_moving_frames(frames) -> Union[int, str]:
    """Refuse ``--frames 1``: one frame is the source view itself, where every camera move starts (it ran
    without a word and wrote the input back). The library's :func:`build_condition` still takes one frame."""
    from .errors import FacecamError

    if frames == 1:
        raise FacecamError("--frames 1 is the source view alone (every camera move starts there); a move needs "
                           "5 frames or more (4k+1), e.g. --frames 5 and take its last frame for a still")
    return frames


MAX_SEED = 2 ** 32 - 1


def parse_seed(text) -> int:
    """``--seed``: a whole number, 0 or more (numpy's generators take no negative seed)."""
    from .errors import FacecamError

    try:
        value = int(text)
    except (TypeError, ValueError):
        raise FacecamError(f"--seed must be a whole number, 0 or more, got {text!r}") from None
    if value < 0:
        raise FacecamError(f"--seed must be 0 or more, got {value}")
    if value > MAX_SEED:  # torch.manual_seed overflows beyond 64 bits; 32 bits suit every generator
        raise FacecamError(f"--seed must be at most {MAX_SEED}, got {value}")
    return value


def _parse_face(text) -> Optional[tuple[float, float]]:
    """``--face X,Y`` (or ``largest``, the default)."""
    from .condition.builder import check_face
    from .errors import FacecamError

    if text is None or str(text).strip().lower() == "largest":
        return None
    if isinstance(text, str):
        parts = text.replace(" ", "").split(",")
        if len(parts) != 2:
            raise FacecamError(f"--face must be X,Y (fractions of the frame, e.g. 0.25,0.4), got {text!r}")
        text = parts
    return check_face(text)


def _show_face(face) -> str:
    return "largest" if face is None else f"{face[0]:g},{face[1]:g}"


def _show_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@dataclass
class ConditionOptions:
    """What the condition video shows: the camera move and how the proxy head is drawn."""

    camera: Union[str, "CameraTrajectory"] = option(
        "arc-left", "camera move: a preset (see `facecam cameras`) or a JSON keyframe file", short="-c",
        metavar="PRESET|FILE.json", label="Camera move")
    strength: float = option(1.0, "multiply the camera move, above 0 and at most 2 (0.5 = half the angle, zoom "
                                  "and pan; the arcs turn 30 deg sideways, 20 up or down)",
                             label="Strength")
    frames: Union[int, str] = option(81, "output frames, 4k+1 and at least 5 (81 = 3.4 s at 24 fps; a clip too "
                                     "short for them holds its last frame, with a warning), or `all`: the whole "
                                     "clip rounded down to 4k+1 (the facecam engine then denoises in --window "
                                     "windows)",
                                     parse=_parse_frames, metavar="N|all", label="Frames")
    start: float = option(0.0, "seconds of the source to skip (a face that appears late, an intro)",
                          metavar="SEC", label="Start")
    duration: Optional[float] = option(None, "seconds of the source to use from --start (default: to the end)",
                                       metavar="SEC", label="Duration")
    move_frames: Optional[int] = option(None, "make the camera move in the first M frames (2 to --frames) and hold "
                                        "the end view after them (default: the move spans every frame)", metavar="M",
                                        label="Move frames")
    fps: Optional[float] = option(24.0, "output frame rate, 1 to 120; the source is resampled", label="Frame rate")
    size: tuple[int, int] = option((704, 480), "output height x width, multiples of 16 (704x480 is the model's size)",
                                   metavar="HxW", parse=_parse_size, show=_show_size, label="Size")
    proxy: str = option("subject", "head seen by the target camera: the subject's own first-frame mesh, the "
                        "generic template head, or a 3D Gaussian head .ply (the authors' gaussians.ply); it shapes the "
                        "condition video: the warp engine draws the source's own face, never the proxy",
                        metavar="subject|template|PATH.ply", label="Proxy head")
    framing: str = option("auto", "auto: a small face (far from the camera) gets a tighter crop so it fills the "
                          "share of the frame the model was trained on, and black letterbox bars are kept out of the crop; "
                          "reference: the fixed-scale reference crop",
                          choices=("auto", "reference"), label="Framing")
    track: bool = option(False, "the crop follows the face over the clip (smoothed; it jumps at a cut), and zoom "
                         "centres on the face; only the chosen person is followed (by the colours of the face), and "
                         "where they are lost is said",
                         label="Follow the face")
    mode: str = option("relative", "relative: the proxy sits on the source head and the move starts at the "
                       "source view; absolute: the authors' proxy views on a sphere, top square of the canvas",
                       choices=("relative", "absolute"), label="Mode")
    seed: Optional[int] = option(0, "seed of the `random` camera preset and, with the facecam engine, of its "
                                 "diffusion noise; the same seed gives the same video", label="Seed",
                                 parse=parse_seed)
    rotate: int = option(0, "turn the source clockwise by this many degrees as it is read: a video filmed on its "
                         "side without a rotation flag (a face lying on its side or upside down is warned about, "
                         "and 'no face found' names the turn that shows one)",
                         choices=(0, 90, 180, 270), label="Rotate")
    face: Optional[tuple[float, float]] = option(
        None, "with several people in frame, which face is re-angled: largest (the default), or X,Y: the one "
        "nearest that point, as fractions of the frame's width and height (0.25,0.4: left quarter, upper middle); "
        "a run with several faces notes where they are, and one with no face near the point says so",
        parse=_parse_face, show=_show_face, metavar="X,Y",
        label="Face")
    profile: str = option("default", "default: this project's choices; release: the authors' released inference "
                          "(absolute sphere camera, random move, the weights' gaussians.ply head, consecutive "
                          "source frames, bilinear crop, bf16 latents and VAE; see docs/diffusion.md)",
                          choices=("default", "release"), label="Profile")

    def __post_init__(self):
        self.size = tuple(int(v) for v in self.size)  # a list when read back from a run's JSON record
        if self.face is not None:
            self.face = tuple(float(v) for v in self.face)

    @classmethod
    def from_record(cls, record: dict) -> "ConditionOptions":
        """The options of a run from its ``<name>_camera.json`` (fields it lacks keep their defaults)."""
        options = record.get("options", record)
        return cls(**{f.name: options[f.name] for f in dataclasses.fields(cls) if f.name in options})

    def build_kwargs(self) -> dict:
        """Keyword arguments of :func:`~facecam.condition.builder.build_condition`."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kwargs["num_frames"] = kwargs.pop("frames")
        return kwargs


@dataclass
class EngineOptions:
    """Which engine renders the video and its settings (fields not read by an engine are ignored by it)."""

    engine: str = option("warp", "renderer: warp (geometric re-render, any CPU, a preview and baseline) or "
                         "facecam (the diffusion model; GPU and weights)", choices=ENGINE_NAMES, label="Engine")
    weights: Optional[str] = option(None, "weights folder (base Wan2.2-I2V-A14B + FaceCam fine-tunes); "
                                    "default $FACECAM_WEIGHTS", metavar="DIR", engines=("facecam",))
    steps: int = option(50, "denoising steps", engines=("facecam",))
    cfg: float = option(5.0, "classifier-free guidance scale", engines=("facecam",))
    offload: str = option("none", "keep weights in CPU memory between uses, with VAE tiling (less GPU memory, "
                          "slower): group = one block on the GPU at a time, copied ahead on a side stream (7.8 GiB "
                          "peak at 0.90x per step on an H200, 60 GiB of host RAM; 7.2 GiB with --quantize int8; "
                          "README), model = one expert at a time (32.7 GiB, 0.32x), sequential = one layer at a "
                          "time; a bare --offload means group",
                          choices=OFFLOAD_MODES, const="group", engines=("facecam",))
    device: Optional[str] = option(None, "torch device (default: cuda if available, else cpu)",
                                   engines=("facecam",))
    dtype: str = option("bfloat16", "compute dtype", choices=("bfloat16", "float16", "float32"),
                        engines=("facecam",))
    window: int = option(81, "video frames per temporal window for clips longer than it (4k+1; 81 is the "
                         "model's trained length)", engines=("facecam",))
    overlap: int = option(16, "video frames shared by consecutive windows (a multiple of 4, at most the window "
                                     "less 5)", engines=("facecam",))
    cache: str = option("none", "reuse block outputs across denoising steps (faster, less faithful): "
                        "first-block, taylorseer, or mag (run `facecam calibrate-cache` once first)",
                        choices=CACHE_KINDS, engines=("facecam",))
    cache_threshold: Optional[float] = option(None, "the cache's knob, higher = faster and further from the "
                                              "uncached video: first-block / mag reuse threshold (default 0.05 / "
                                              "0.06), taylorseer steps between full computations (default 5)",
                                              metavar="X", engines=("facecam",))
    attention: str = option("native", "attention kernel (diffusers backend): native (PyTorch SDPA), flash "
                            "(flash-attn), sage (sageattention), flash_hub / sage_hub (kernels), xformers, ...",
                            metavar="BACKEND", engines=("facecam",))
    compile: bool = option(False, "torch.compile the experts' transformer block (the first run also spends time "
                           "compiling; 1.12x per step on an H200, README)", engines=("facecam",))
    quantize: str = option("none", "weight-only quantization of the experts (torchao; half the weight memory, "
                           "small deviations; int8 on an H200: 33 GiB peak instead of 59.5, 0.94x per step): int8, "
                           "or fp8 on Ada/Hopper GPUs",
                           choices=QUANTIZE_KINDS, engines=("facecam",))
    batch_guidance: bool = option(False, "run both guidance passes as one batch-2 forward (fewer kernel launches, "
                                  "twice the activation memory; equal to two passes within rounding; on an H200 "
                                  "at full size it was slower: 0.96x per step, README)",
                                  engines=("facecam",))
    context_parallel: int = option(1, "processes sharing each video's denoising (generate-many sets it)",
                                   engines=("facecam",), cli=False)

    def engine_kwargs(self) -> dict:
        """The chosen engine's constructor arguments, ``$FACECAM_WEIGHTS`` resolved."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "engine" and self.engine in f.metadata["engines"]}
        if "weights" in kwargs and not kwargs["weights"]:
            kwargs["weights"] = os.environ.get("FACECAM_WEIGHTS") or None
        return kwargs

    def record(self) -> dict:
        """What ``_camera.json`` keeps: the engine's name and every option it read."""
        return {"engine": self.engine, **self.engine_kwargs()}


def from_namespace(cls, namespace: Any, **overrides):
    """An options dataclass from the attributes of an argparse namespace (fields it lacks keep their defaults)."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}
    return cls(**{**values, **overrides})


def check_condition_options(options: ConditionOptions, weights: Optional[str] = None) -> ConditionOptions:
    """Raise :class:`~facecam.errors.FacecamError` for a condition option no run could use, before any video is
    read: a command that renders many runs (``facecam bench dynamic``) would otherwise fail each one the same way.
    The per-run checks stay where they are; these are the ones that do not depend on the clip."""
    from .camera.trajectory import check_strength
    from .condition.builder import check_proxy
    from .errors import FacecamError
    from .profiles import resolve_profile
    from .video.frames import check_frame_space
    from .video.io import check_read_options, check_rotate

    check_strength(options.strength)
    check_moving_frames(options.frames)
    check_read_options(None if options.frames == "all" else options.frames, options.fps, options.start,
                       options.duration)
    check_rotate(options.rotate)
    check_frame_space(options.frames, options.size)
    if options.move_frames is not None and not (
            options.move_frames >= 2 and (options.frames == "all" or options.move_frames <= options.frames)):
        most = "the clip's" if options.frames == "all" else f"--frames {options.frames}"
        raise FacecamError(f"--move-frames must be between 2 and {most} frames, got {options.move_frames}")
    check_proxy(str(options.proxy))
    resolve_profile(options, weights)
    return options


def check_windows(window: int, overlap: int, names: tuple[str, str] = ("--window", "--overlap")) -> None:
    """``--window`` (4k+1 video frames, at least 5) and ``--overlap`` (a multiple of 4 video frames, from 0
    to the window less 5, so that each window adds at least two latent frames): one FacecamError line
    naming ``names``."""
    from .errors import FacecamError

    if window < 5 or (window - 1) % 4:
        raise FacecamError(f"{names[0]} must be 4k+1 video frames, at least 5 (e.g. 81), got {window}")
    if overlap < 0 or overlap % 4 or overlap > window - 5:
        raise FacecamError(f"{names[1]} must be a multiple of 4 video frames from 0 to {window - 5} (the window "
                           f"of {window} less 5: each window must add new frames), got {overlap}")


def check_engine(options: EngineOptions) -> None:
    """Raise :class:`~facecam.errors.FacecamError` when the engine cannot run (before any output is touched)."""
    from .engines import engine_class
    from .errors import FacecamError

    if options.engine == "facecam":
        check_windows(options.window, options.overlap)
    ok, why = engine_class(options.engine).availability(**options.engine_kwargs())
    if not ok:
        raise FacecamError(why)


def load_engine(options: EngineOptions) -> "Engine":
    """Build the engine ``options`` names (the facecam engine loads its weights on first use)."""
    from .engines import get_engine

    return get_engine(options.engine, **options.engine_kwargs())


@dataclass
class Run:
    """One finished run: the conditioned clip, the generated video (None for a condition-only run) and
    the options that made them."""

    clip: "ConditionedClip"
    video: Optional[np.ndarray]
    condition: ConditionOptions
    engine: Optional[EngineOptions] = None
    # The source's sound under the run's frames (None: a silent source, an image, a clip given decoded).
    audio: Optional["AudioSpan"] = None

    @property
    def name(self) -> str:
        return self.clip.name

    def record(self) -> dict:
        """``<name>_camera.json``: the per-frame camera and every option the run used."""
        record = self.clip.describe()
        used = {k: _json_ready(v) for k, v in dataclasses.asdict(self.condition).items()}
        if not isinstance(self.condition.camera, str):
            used["camera"] = self.clip.trajectory.name
        record["options"] = {**used, **record.get("options", {})}
        # Which videos carry the source's sound (the condition never does: it is the model's input).
        record["audio"] = sorted(self.audio_files()) if self.audio is not None else []
        if self.engine is not None:
            engine = self.engine.record()
            record["engine"] = engine["engine"]
            record["engine_options"] = {k: v for k, v in engine.items() if k != "engine"}
        return record

    def files(self) -> dict[str, Any]:
        """``{file name: frames | JSON dict}`` under the naming contract."""
        from .video.io import FrameStream

        clip = self.clip
        files: dict[str, Any] = {}
        if self.video is not None:
            files[f"{clip.name}.mp4"] = self.video
        files[f"{clip.name}_input.mp4"] = clip.source
        files[f"{clip.name}_camera.mp4"] = clip.condition
        # Made frame by frame as it is written: a whole (T, H, 2W, 3) array doubles a long clip's memory.
        files[f"{clip.name}_preview.mp4"] = FrameStream(
            len(clip.source), lambda t: np.concatenate([clip.source[t], clip.condition[t]], axis=1))
        files[f"{clip.name}_camera.json"] = self.record()
        return files

    def audio_files(self) -> set[str]:
        """The videos that play the source's sound: the result, the cropped input and the preview."""
        names = {f"{self.clip.name}_input.mp4", f"{self.clip.name}_preview.mp4"}
        return names | ({f"{self.clip.name}.mp4"} if self.video is not None else set())


def _json_ready(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def render(video: Union[str, os.PathLike, "VideoClip"], options: Optional[ConditionOptions] = None,
           engine: Optional[EngineOptions] = None, *, loaded: Optional["Engine"] = None, name: Optional[str] = None,
           progress: bool = False, weights: Optional[str] = None) -> Run:
    """Build the condition for ``video`` and, when ``engine`` is given, render the re-angled video.

    Args:
        video: a video or image path, or a decoded clip.
        options: the condition options (default: all defaults).
        engine: the engine options; None for a condition-only run (``facecam condition``).
        loaded: an engine already built from ``engine`` (reused across runs: the page, bench);
            built here otherwise.
        name: output stem (default: the video's file stem).
        progress: show one progress bar per stage.
        weights: the weights folder whose ``gaussians.ply`` the release profile draws, for a condition-only
            run (default ``$FACECAM_WEIGHTS``; with ``engine``, its weights folder).

    Returns:
        :class:`Run`; :func:`write_run` writes it.
    """
    from .condition.builder import build_condition
    from .profiles import resolve_profile
    from .video.frames import check_frame_space

    options = resolve_profile(options or ConditionOptions(), engine.weights if engine else weights)
    check_moving_frames(options.frames)
    check_frame_space(options.frames, options.size)
    if engine is not None and loaded is None:
        loaded = load_engine(engine)
    # The warp engine says when a view leaves its own range (the same 45 deg); the model's line would be a second
    # warning about an engine that is not run.
    clip = build_condition(video, progress=progress, name=name, **options.build_kwargs(),
                           model_range_warning=engine is None or engine.engine != "warp")
    run = render_clip(clip, options, engine, loaded=loaded, progress=progress)
    if isinstance(video, (str, os.PathLike)):
        # Output time t shows source time --start + t; held frames past --duration or the end add no sound.
        from .video.audio import audio_span

        seconds = len(clip.source) / clip.fps
        if options.duration is not None:
            seconds = min(seconds, options.duration)
        run.audio = audio_span(video, options.start, seconds)
    return run


def render_clip(clip: "ConditionedClip", options: ConditionOptions, engine: Optional[EngineOptions] = None, *,
                loaded: Optional["Engine"] = None, progress: bool = False) -> Run:
    """Render an already conditioned clip (the static benchmark builds its own) into a :class:`Run`."""
    if engine is None:
        return Run(clip, None, options, None)
    loaded = loaded or load_engine(engine)
    video = loaded.generate(clip, seed=options.seed, progress=progress)
    return Run(clip, video, options, engine)


def result_names(stem: str, video: bool = True) -> list[str]:
    """The files a run named ``stem`` writes (:meth:`Run.files`): the result (``video``), the cropped input,
    the condition, the preview and the camera record."""
    return ([f"{stem}.mp4"] if video else []) + [f"{stem}_input.mp4", f"{stem}_camera.mp4", f"{stem}_preview.mp4",
                                                  f"{stem}_camera.json"]


def check_run_output(source, out_dir: Union[str, os.PathLike], video: bool, stem: Optional[str] = None) -> None:
    """Before a run renders: its files may be written into ``out_dir`` (none would replace the ``source``
    video, nor a folder of its name), and a condition-only run (not ``video``) leaves no earlier run's result
    beside its files (a `generate` result kept under a `condition` of another camera, which `debug sheet`
    then labelled with the new camera). ``stem``: the run's name (default the source's file stem)."""
    from .errors import VideoError
    from .video.outputs import check_names_free

    if not isinstance(source, (str, os.PathLike)):
        return
    stem = stem or Path(source).stem
    check_not_source(source, out_dir, result_names(stem, video))
    check_names_free(out_dir, result_names(stem, video))
    result = Path(out_dir) / f"{stem}.mp4"
    if not video and result.is_file() and not (Path(source).exists() and result.resolve() == Path(source).resolve()):
        raise VideoError(f"{out_dir} holds an earlier run's result {result.name}; this condition would sit beside it "
                         f"under another camera: give another -o, or remove {result.name} first")


def check_not_source(source, out_dir: Union[str, os.PathLike], names) -> None:
    """Refuse to write a file named in ``names`` into ``out_dir`` where it would replace the ``source``
    video (`generate same/clip.mp4 -o same` wrote the result over it). Without ``names``, the result's
    own name (the source's stem), which is the one a source can share: `generate` asks this before it renders."""
    if not source or not isinstance(source, (str, os.PathLike)) or not Path(source).exists():
        return
    from .errors import VideoError

    for name in names if names is not None else [f"{Path(source).stem}.mp4"]:
        target = Path(out_dir) / name
        if target.exists() and target.resolve() == Path(source).resolve():
            raise VideoError(f"writing {name} into {out_dir} would replace the source video {source}; "
                             f"give another -o")


def write_run(run: Run, out_dir: Union[str, os.PathLike], progress: bool = False) -> dict[str, Path]:
    """Write the run's files into ``out_dir`` as one set: all of them or none, earlier results kept on failure
    (with ``progress``: a note when earlier files are replaced, a bar while a long set is encoded)."""
    from .video.outputs import write_outputs

    files = run.files()
    check_not_source((getattr(run.clip, "options", None) or {}).get("source"), out_dir, files)
    return write_outputs(out_dir, files, run.clip.fps, progress=progress, audio=run.audio,
                         with_audio=run.audio_files())
