"""Offline dictation: speech engines as plugins, the project's radiology language model, voice
commands.

- ``audio``: WAV files and PCM sources (16 kHz mono 16-bit), resampling, streaming chunks;
- ``engines``: the engine registry (lazy ``(module, name)`` entries with an availability check);
  ``get_engine()`` gives the best available engine;
- ``pocketsphinx_engine``, ``whisper_engine``: the built-in engines;
- ``commands``: the voice-command grammar ("next field", "insert normal", numbers and units);
- ``corpus``: the radiology corpus the language model is built from, and word error rate.

Nothing here imports a speech engine until it is asked for one, and nothing downloads anything:
models come from the repository (``resources/dictation/model``), from installed packages, or from
a path the site gives.
"""

from __future__ import annotations

from workstation.core.errors import ConfigError, WorkstationError

__all__ = [
    "AudioError",
    "DictationError",
    "EngineUnavailableError",
    "ModelNotFoundError",
    "NoMicrophoneError",
]


class DictationError(WorkstationError):
    """Speech could not be turned into text (bad audio, an engine that fails)."""


class AudioError(DictationError):
    """An audio file or stream cannot be read: not WAV, unsupported sample format, empty."""


class NoMicrophoneError(AudioError):
    """No microphone is there to record from (none plugged in, or access denied)."""


class EngineUnavailableError(DictationError):
    """A speech engine was asked for that is not installed or not registered; says why."""


class ModelNotFoundError(DictationError, ConfigError):
    """A speech model's files are missing where the settings or the package say they are."""
