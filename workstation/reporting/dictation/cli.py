"""``workstation transcribe``: dictation from a WAV file, for sites to check an engine and for
scripts. Registered on the main parser by ``add_dictation_commands(sub)``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_dictation_commands", "cmd_transcribe"]


def _engine_options(engine: str, model: str | None) -> dict[str, Any]:
    # One flag for both kinds of model: a pocketsphinx model folder or a Whisper folder.
    if not model:
        return {}
    return {"model" if engine == "pocketsphinx" else "model_path": model}


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Print the normalised text of a WAV file (or the voice command it says)."""
    from workstation.reporting.dictation.audio import read_wav
    from workstation.reporting.dictation.engines import (
        available_engines,
        default_engine_name,
        get_engine,
    )

    if args.list_engines:
        for a in available_engines():
            state = "available" if a.available else f"unavailable: {a.reason}"
            print(f"{a.name:<14} {state}")
        return 0
    if not args.file:
        print("error: give a WAV file (or --list-engines)", file=sys.stderr)
        return 2
    audio = read_wav(args.file)
    name = args.engine or default_engine_name()
    engine = get_engine(name, **_engine_options(name, args.model))
    if args.commands:
        command, raw = engine.recognize_command(audio)
        if command is None:
            print(f"no command recognised (heard: {raw!r})", file=sys.stderr)
            return 1
        print(command)
        return 0
    transcript = engine.transcribe(audio)
    print(transcript.text)
    if args.verbose:
        print(
            f"[{transcript.engine}] raw: {transcript.raw!r}; {transcript.audio_s:.1f} s of audio "
            f"in {transcript.compute_s:.2f} s (real-time factor "
            f"{transcript.real_time_factor:.2f})",
            file=sys.stderr,
        )
    return 0


def add_dictation_commands(sub: Any) -> None:
    """Register ``transcribe`` on the main parser's subcommands."""
    t = sub.add_parser(
        "transcribe",
        help="dictation from a WAV file: print the normalised text",
        description="Transcribe a WAV file offline and print the report text (numbers and "
        "units written as a radiologist writes them).",
    )
    t.add_argument("file", nargs="?", metavar="FILE.wav")
    t.add_argument("--engine", metavar="NAME", help="speech engine (default: the best available)")
    t.add_argument("--model", metavar="PATH", help="model folder for the engine")
    t.add_argument(
        "--commands",
        action="store_true",
        help="recognise a voice command (next field, insert normal, 12 mm, ...) and print it",
    )
    t.add_argument("--list-engines", action="store_true", help="list engines and why not")
    t.add_argument("-v", "--verbose", action="store_true", help="raw text and timing on stderr")
    t.set_defaults(func=cmd_transcribe)
