"""Command-line flags generated from the run API's option dataclasses (:mod:`facecam.run`).

A field of :class:`~facecam.run.ConditionOptions` or :class:`~facecam.run.EngineOptions`
becomes ``--field-name`` with the field's help, default, choices and parser; no verb
writes a default of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Iterable


def _parser_for(field: dataclasses.Field, default):
    if field.metadata.get("parse"):
        return _argparse_type(field.metadata["parse"])
    if default is not None:
        return type(default) if type(default) in (int, float) else str
    # An Optional field without a value: its annotation (a string under postponed evaluation) names the type.
    annotation = str(field.type)
    return int if "int" in annotation else float if "float" in annotation else str


def _argparse_type(parse):
    """``parse`` with its FacecamError turned into argparse's own one-line usage error."""
    from ..errors import FacecamError

    def convert(text: str):
        try:
            return parse(text)
        except FacecamError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value").lstrip("_").replace("parse_", "")
    return convert


def add_options(parser: argparse.ArgumentParser, cls, title: str, *, exclude: Iterable[str] = (),
                engine: str | None = None) -> argparse._ArgumentGroup:
    """Add one flag per field of the options dataclass ``cls`` to a new argument group; returns the group.

    ``exclude`` leaves fields out (the verb fixes them); ``engine`` keeps only the fields that engine reads.
    """
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if f.name in exclude or not meta.get("cli", True):
            continue
        if engine is not None and engine not in meta.get("engines", ()):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flags = [meta.get("flag") or "--" + f.name.replace("_", "-")]
        if meta.get("short"):
            flags.append(meta["short"])
        if isinstance(default, bool):
            group.add_argument(*flags, dest=f.name, action="store_true", default=default, help=meta["help"])
            continue
        shown = meta["show"](default) if meta.get("show") and default is not None else default
        help_text = meta["help"] + (f" (default: {shown})" if default is not None else "")
        kwargs = dict(dest=f.name, default=default, help=help_text.replace("%", "%%"))
        kwargs["type"] = _parser_for(f, default)  # with choices too: `--rotate 90` is compared as a number
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        if meta.get("const") is not None:
            kwargs.update(nargs="?", const=meta["const"])
        group.add_argument(*flags, **kwargs)
    return group


def add_condition_options(parser: argparse.ArgumentParser, *, exclude: Iterable[str] = (),
                          title: str = "camera and condition") -> argparse._ArgumentGroup:
    """--camera, --strength, --frames, --fps, --size, --proxy, --mode, --seed (one per ConditionOptions field)."""
    from ..run import ConditionOptions

    return add_options(parser, ConditionOptions, title, exclude=exclude)


def add_engine_options(parser: argparse.ArgumentParser, title: str = "facecam engine", *,
                       exclude: Iterable[str] = ()) -> argparse._ArgumentGroup:
    """The facecam engine's flags (--weights, --steps, --cfg, --offload, --device, --dtype, ...)."""
    from ..run import EngineOptions

    return add_options(parser, EngineOptions, title, exclude=("engine", *exclude), engine="facecam")


def add_engine_choice(parser: argparse.ArgumentParser) -> None:
    """--engine warp|facecam, from EngineOptions.engine."""
    from ..run import EngineOptions

    field = {f.name: f for f in dataclasses.fields(EngineOptions)}["engine"]
    parser.add_argument("--engine", default=field.default, choices=field.metadata["choices"],
                        help=f"{field.metadata['help']} (default: {field.default})")


def condition_options(args: argparse.Namespace, **overrides):
    """:class:`~facecam.run.ConditionOptions` from parsed flags."""
    from ..run import ConditionOptions, from_namespace

    options = from_namespace(ConditionOptions, args, **overrides)
    given = getattr(args, "given_flags", set())
    # Which fields were set on the command line, even to their default value (see facecam.profiles).
    options.given = {f.name for f in dataclasses.fields(ConditionOptions)
                     if (f.metadata.get("flag") or "--" + f.name.replace("_", "-")) in given}
    return options


def engine_options(args: argparse.Namespace, **overrides):
    """:class:`~facecam.run.EngineOptions` from parsed flags. With the warp engine, the facecam engine's flags
    that were typed get one note saying they are not used (they were dropped without a word)."""
    from ..run import EngineOptions, from_namespace

    options = from_namespace(EngineOptions, args, **overrides)
    given = getattr(args, "given_flags", set())
    if options.engine == "warp" and given:
        unused = [flag for f in dataclasses.fields(EngineOptions) if "warp" not in f.metadata.get("engines", ("warp",))
                  for flag in [f.metadata.get("flag") or "--" + f.name.replace("_", "-")] if flag in given]
        if getattr(args, "profile", None) == "release" and "--weights" in unused:
            unused.remove("--weights")  # the release profile's proxy head, gaussians.ply, is read from it
        if unused:
            import logging

            logging.getLogger("facecam").warning(
                f"facecam: note: {', '.join(unused)} only appl{'ies' if len(unused) == 1 else 'y'} to --engine "
                f"facecam; the warp engine ignores {'it' if len(unused) == 1 else 'them'}")
    return options


def seed_type(text: str) -> int:
    """argparse ``type`` of a ``--seed`` flag: 0 or more, else argparse's one-line usage error."""
    from ..run import parse_seed

    return _argparse_type(parse_seed)(text)


def check_count(flag: str, value, least: int) -> None:
    """A count option the user typed must be a whole number of at least ``least``: one error line
    (checked before any reading or writing); None (the option left out) passes."""
    from ..errors import FacecamError

    if value is not None and value < least:
        raise FacecamError(f"{flag} must be at least {least}, got {value}")


class ProseAndExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text whose prose is wrapped to the terminal and whose indented lines (example commands) are
    kept as written: RawDescriptionHelpFormatter alone printed a long description as one line, and a
    description broken by hand at another width as ragged lines. Consecutive unindented lines are one
    paragraph; blank lines separate paragraphs; reST's double backquotes (a module docstring used as
    the description) print as single ones."""

    def _fill_text(self, text, width, indent):
        import textwrap

        lines: list = []
        paragraph: list = []

        def flush() -> None:
            if paragraph:
                lines.extend(textwrap.wrap(" ".join(paragraph), width, initial_indent=indent,
                                           subsequent_indent=indent, break_long_words=False,
                                           break_on_hyphens=False))
                paragraph.clear()

        for line in text.replace("``", "`").splitlines():
            if not line.strip():
                flush()
                lines.append("")
            elif line[:1].isspace():
                flush()
                lines.append(indent + line)
            else:
                paragraph.append(line.strip())
        flush()
        return "\n".join(lines)
