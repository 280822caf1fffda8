"""Speech engines as plugins: a registry of lazy ``(module, class)`` entries.

Like pydicom's pixel decoders, an entry names where its engine lives and imports nothing until
asked; ``engine_availability()`` says whether an engine can run here and, when not, why (package
not installed, model files missing). Built-in engines are registered the same way as a site's
own. ``get_engine()`` without a name gives the available engine of highest priority.

An engine turns 16 kHz mono 16-bit audio into text (``transcribe``), recognises a voice command
(``recognize_command``), and streams partial text while audio arrives (``stream``). Text comes
back in the engine's words (``raw``) and normalised for the report (``text``: "12 mm").
"""

from __future__ import annotations

import abc
import importlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from workstation.reporting.dictation import EngineUnavailableError
from workstation.reporting.dictation.audio import Audio, AudioSource
from workstation.reporting.dictation.commands import Command
from workstation.reporting.normalize import Normalizer, NormalizerSettings

__all__ = [
    "Availability",
    "Engine",
    "EngineEntry",
    "StreamingSession",
    "Transcript",
    "available_engines",
    "default_engine_name",
    "engine_availability",
    "engine_names",
    "get_engine",
    "register_engine",
    "unregister_engine",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard: ``raw`` in its own words, ``text`` normalised for the report."""

    text: str
    raw: str
    engine: str
    audio_s: float
    compute_s: float

    @property
    def real_time_factor(self) -> float:
        """Compute time over audio time (below 1 keeps up with speech)."""
        return self.compute_s / self.audio_s if self.audio_s > 0 else 0.0


class StreamingSession(abc.ABC):
    """One utterance decoded while it is spoken: ``feed`` chunks of PCM, read ``partial``,
    ``finish`` for the final transcript."""

    @abc.abstractmethod
    def feed(self, chunk: bytes) -> str:
        """Decode one chunk of 16-bit PCM; returns the partial text so far ("" for none)."""

    @abc.abstractmethod
    def finish(self) -> Transcript:
        """End the utterance and return the final transcript."""

    def run(self, source: AudioSource) -> Transcript:
        """Feed a whole source, then finish."""
        for chunk in source:
            self.feed(chunk)
        return self.finish()


class Engine(abc.ABC):
    """A speech engine. Subclasses load their models in ``__init__`` (heavy imports happen
    there, not at module import) and raise ModelNotFoundError for missing model files."""

    name: ClassVar[str]

    def __init__(self, normalizer: NormalizerSettings | None = None) -> None:
        self._normalize = Normalizer(normalizer)

    @classmethod
    @abc.abstractmethod
    def unavailable_reason(cls, **options: Any) -> str | None:
        """Why this engine cannot run here (None when it can); cheap: no model loading."""

    @abc.abstractmethod
    def transcribe(self, audio: Audio) -> Transcript:
        """Free dictation of one utterance."""

    @abc.abstractmethod
    def recognize_command(self, audio: Audio) -> tuple[Command | None, str]:
        """A voice command (commands.py) and the raw words heard; None when it is no command."""

    @abc.abstractmethod
    def stream(self) -> StreamingSession:
        """A session that decodes one utterance while it is spoken."""

    def normalize(self, raw: str) -> str:
        return self._normalize(raw)


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineEntry:
    """Where an engine lives: its module and class, imported only when needed. ``priority``
    orders the default choice (higher first)."""

    name: str
    module: str
    class_name: str
    priority: int = 0
    description: str = ""


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether an engine can run here, and if not, what to do about it."""

    name: str
    available: bool
    reason: str = ""
    description: str = ""
    priority: int = 0


_registry: dict[str, EngineEntry] = {}
_lock = threading.Lock()


def register_engine(
    name: str, module: str, class_name: str, priority: int = 0, description: str = ""
) -> None:
    """Add (or replace) an engine entry; nothing is imported now."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"engine names are letters, digits, '-' and '_', got {name!r}")
    with _lock:
        _registry[name] = EngineEntry(name, module, class_name, priority, description)


def unregister_engine(name: str) -> None:
    with _lock:
        _registry.pop(name, None)


def engine_names() -> list[str]:
    """Registered engines, highest priority first."""
    with _lock:
        entries = sorted(_registry.values(), key=lambda e: (-e.priority, e.name))
    return [e.name for e in entries]


def _entry(name: str) -> EngineEntry:
    with _lock:
        entry = _registry.get(name)
    if entry is None:
        known = ", ".join(engine_names()) or "none"
        raise EngineUnavailableError(f"no speech engine named {name!r} (registered: {known})")
    return entry


def _engine_class(entry: EngineEntry) -> type[Engine]:
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise EngineUnavailableError(
            f"speech engine {entry.name!r}: cannot import {entry.module} ({exc})"
        ) from None
    cls = getattr(module, entry.class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise EngineUnavailableError(
            f"speech engine {entry.name!r}: {entry.module}.{entry.class_name} is not an Engine"
        )
    return cls


def engine_availability(name: str, **options: Any) -> Availability:
    """Whether engine ``name`` can run with ``options``, and why not."""
    entry = _entry(name)
    try:
        reason = _engine_class(entry).unavailable_reason(**options)
    except EngineUnavailableError as exc:
        reason = str(exc)
    return Availability(entry.name, reason is None, reason or "", entry.description, entry.priority)


def available_engines(**options: Any) -> list[Availability]:
    """Every registered engine's availability, highest priority first."""
    return [engine_availability(n, **options) for n in engine_names()]


def default_engine_name(**options: Any) -> str:
    """The available engine of highest priority; EngineUnavailableError listing why none is."""
    found = available_engines(**options)
    for a in found:
        if a.available:
            return a.name
    reasons = "; ".join(f"{a.name}: {a.reason}" for a in found) or "none is registered"
    raise EngineUnavailableError(f"no speech engine can run here ({reasons})")


def get_engine(name: str | None = None, **options: Any) -> Engine:
    """An engine instance: ``name``, or the best available one. Options go to its constructor
    (e.g. ``model_path`` for whisper)."""
    chosen = name or default_engine_name(**options)
    a = engine_availability(chosen, **options)
    if not a.available:
        raise EngineUnavailableError(f"speech engine {chosen!r} cannot run here: {a.reason}")
    cls = _engine_class(_entry(chosen))
    log.info("speech engine %s", chosen)
    return cls(**options)


def _register_builtins(entries: Iterable[tuple[str, str, str, int, str]]) -> None:
    for name, module, class_name, priority, description in entries:
        register_engine(name, module, class_name, priority, description)


_register_builtins(
    (
        (
            "whisper",
            "workstation.reporting.dictation.whisper_engine",
            "WhisperEngine",
            20,
            "Whisper (faster-whisper, CTranslate2 int8 on the CPU) with a radiology prompt",
        ),
        (
            "pocketsphinx",
            "workstation.reporting.dictation.pocketsphinx_engine",
            "PocketSphinxEngine",
            10,
            "CMU pocketsphinx with the project's radiology trigram model",
        ),
    )
)
