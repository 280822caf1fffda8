"""Live dictation in the desktop app: the microphone on Qt Multimedia, and a controller that runs
a speech engine off the UI thread.

- ``MicrophoneSource``: the default audio input (``QMediaDevices.defaultAudioInput()``) as an
  ``AudioSource``: 16 kHz mono 16-bit when the device offers it, else its preferred format
  converted on the fly (``session.PcmConverter``). Created on the UI thread; iterated on the
  worker thread.
- ``DictationController``: push-to-talk. ``start()`` opens the microphone (or takes any
  ``AudioSource``: a WAV file, paced in real time or not, goes through the same path),
  ``stop()`` ends the utterance. The engine decodes on a worker thread; partial text, the
  final transcript and errors reach widgets only through queued signals (Qt's widgets and
  font engine are not thread-safe).

Qt Multimedia comes with PySide6-Addons; without it, or without an input device, the
controller says why and typing goes on as before.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

from workstation.reporting.dictation import (
    AudioError,
    DictationError,
    EngineUnavailableError,
    ModelNotFoundError,
    NoMicrophoneError,
)
from workstation.reporting.dictation.audio import (
    SAMPLE_RATE,
    AudioSource,
    register_microphone,
)
from workstation.reporting.dictation.engines import (
    Engine,
    engine_availability,
    engine_names,
    get_engine,
)
from workstation.reporting.dictation.session import (
    DictationState,
    DictationStateMachine,
    PcmConverter,
    StreamResult,
    stream_utterance,
)

__all__ = [
    "AUTO_ENGINE",
    "DictationController",
    "MicrophoneSource",
    "install_microphone",
    "microphone_unavailable_reason",
]

log = logging.getLogger(__name__)

AUTO_ENGINE = "auto"
_END = object()  # end of capture, queued after the last chunk
_JOIN_TIMEOUT_S = 10.0
# Engines whose streaming final already decodes the whole utterance again (no second pass).
_WHOLE_UTTERANCE_FINAL = frozenset({"whisper"})


def _multimedia() -> Any:
    """PySide6.QtMultimedia, imported when first needed (it loads FFmpeg and the audio
    backend); AudioError when PySide6-Addons is not installed."""
    try:
        from PySide6 import QtMultimedia
    except ImportError:
        raise NoMicrophoneError(
            _tr(
                "No microphone support: Qt Multimedia is not installed (pip install PySide6-Addons)"
            )
        ) from None
    return QtMultimedia


def microphone_unavailable_reason() -> str | None:
    """Why live dictation cannot record here (None when an input device is there)."""
    try:
        mm = _multimedia()
    except NoMicrophoneError as exc:
        return str(exc)
    if not mm.QMediaDevices.audioInputs():
        return _tr("No microphone: no audio input device was found")
    return None


def _tr(text: str, *args: str) -> str:
    """``text`` in the interface language (context "Dictation"), ``%1``, ``%2``... filled in."""
    out = QCoreApplication.translate("Dictation", text)
    # One pass, so that an argument holding "%1" is not filled in again.
    return re.sub(
        r"%(\d+)",
        lambda m: args[int(m[1]) - 1] if 0 < int(m[1]) <= len(args) else m[0],
        out,
    )


_FORMAT_NAMES = {"UInt8": "uint8", "Int16": "int16", "Int32": "int32", "Float": "float"}


class MicrophoneSource(QObject):
    """The default (or a given) audio input as an AudioSource of 16 kHz mono 16-bit chunks.

    Capture runs on the thread that created it (the UI thread: Qt Multimedia delivers data
    through that thread's event loop); chunks wait in a queue for the worker that iterates.
    ``close()`` stops capture; the chunks already captured are still handed out, so the end of
    an utterance is not cut off.
    """

    def __init__(
        self, device: Any = None, chunk_ms: int = 100, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        mm = _multimedia()
        if device is None:
            if not mm.QMediaDevices.audioInputs():
                raise NoMicrophoneError(_tr("No microphone: no audio input device was found"))
            device = mm.QMediaDevices.defaultAudioInput()
        if device.isNull():
            raise NoMicrophoneError(_tr("No microphone: no audio input device was found"))
        fmt = mm.QAudioFormat()
        fmt.setSampleRate(SAMPLE_RATE)
        fmt.setChannelCount(1)
        fmt.setSampleFormat(mm.QAudioFormat.SampleFormat.Int16)
        if not device.isFormatSupported(fmt):
            fmt = device.preferredFormat()
        name = _FORMAT_NAMES.get(fmt.sampleFormat().name)
        if name is None:
            raise AudioError(
                _tr("the microphone's sample format %1 is unusable", fmt.sampleFormat().name)
            )
        self.sample_rate = SAMPLE_RATE
        self.device_name = device.description()
        self._converter = PcmConverter(fmt.sampleRate(), fmt.channelCount(), name, chunk_ms)
        self._queue: queue.Queue[object] = queue.Queue()
        self._closed = False
        self._source = mm.QAudioSource(device, fmt, self)
        self._io = self._source.start()
        if self._io is None or self._source.error() != mm.QAudio.Error.NoError:
            raise NoMicrophoneError(
                _tr(
                    "No microphone: %1 cannot be opened (in use, or access denied)",
                    repr(self.device_name),
                )
            )
        self._no_error = mm.QAudio.Error.NoError
        self._io.readyRead.connect(self._read)
        self._source.stateChanged.connect(self._state_changed)
        log.info(
            "microphone opened: %d Hz, %d channel(s), %s",
            fmt.sampleRate(),
            fmt.channelCount(),
            name,
        )

    def _read(self) -> None:
        if self._closed:
            return
        data = bytes(self._io.readAll().data())
        for chunk in self._converter.push(data):
            self._queue.put(chunk)

    def _state_changed(self, _state: object) -> None:
        if not self._closed and self._source.error() != self._no_error:
            # unplugged or taken away mid-utterance: end the stream with the reason
            self._read()
            self._closed = True
            self._queue.put(
                AudioError(
                    _tr(
                        "the microphone %1 stopped (%2)",
                        repr(self.device_name),
                        str(self._source.error()),
                    )
                )
            )

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            yield item

    def close(self) -> None:
        """Stop recording (UI thread); what was captured is still handed out."""
        if self._closed:
            self._queue.put(_END)  # after an error: the reader may still wait
            return
        self._read()
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self._source.stop()
        for chunk in self._converter.flush():
            self._queue.put(chunk)
        self._queue.put(_END)


def install_microphone() -> None:
    """Let ``audio.open_microphone()`` record through Qt Multimedia."""
    register_microphone(lambda _rate: MicrophoneSource())


class _SharedEngine:
    """An engine loaded once for the whole program (Whisper takes seconds and ~100 MB), and
    the lock an utterance holds while it decodes (engines are not thread-safe)."""

    def __init__(self, key: tuple[str, str], engine: Engine) -> None:
        self.key = key
        self.engine = engine
        self.busy = threading.Lock()


_shared_engines: dict[tuple[str, str], _SharedEngine] = {}
_shared_lock = threading.Lock()


def _shared_engine(name: str, options: dict[str, Any]) -> _SharedEngine:
    key = (name, repr(sorted((k, str(v)) for k, v in options.items())))
    with _shared_lock:
        shared = _shared_engines.get(key)
        if shared is None:
            shared = _SharedEngine(key, get_engine(name, **options))
            _shared_engines[key] = shared
        return shared


def _drop_shared_engine(shared: _SharedEngine) -> None:
    with _shared_lock:
        if _shared_engines.get(shared.key) is shared:
            del _shared_engines[shared.key]


class _Bridge(QObject):
    """Signals the worker thread emits; connected queued, so slots run on the UI thread."""

    partial = Signal(int, str)
    finished = Signal(int, object)
    failed = Signal(int, str, bool)
    unavailable = Signal(str)


class DictationController(QObject):
    """Push-to-talk dictation with one engine: ``start()`` on press, ``stop()`` on release.

    ``engine``: "auto" (the best available engine of the registry), "whisper",
    "pocketsphinx" or any registered name; ``model_path``: the engine's model folder (None:
    its default). ``source_factory`` opens the audio source when ``start()`` gets none
    (default: the microphone). ``final_pass``: decode the whole utterance again for the final
    text (None: when the engine's streaming final is not already such a pass, i.e. for
    pocketsphinx; see ``session.stream_utterance``).

    Signals (all on the UI thread): ``partial_text(str)`` while speech is heard,
    ``final_result(StreamResult)`` when the utterance is decoded, ``state_changed(str)``
    (a DictationState value), ``failed(str)`` with a message for the reader,
    ``availability_changed(bool, str)`` when the controller finds it can or cannot dictate.
    """

    partial_text = Signal(str)
    final_result = Signal(object)
    state_changed = Signal(str)
    failed = Signal(str)
    availability_changed = Signal(bool, str)

    def __init__(
        self,
        engine: str = AUTO_ENGINE,
        model_path: str | Path | None = None,
        *,
        source_factory: Callable[[], AudioSource] | None = None,
        final_pass: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.final_pass = final_pass
        self.engine_name = engine or AUTO_ENGINE
        self.model_path = model_path
        self._source_factory = source_factory
        self._states = DictationStateMachine(lambda _old, new: self.state_changed.emit(new.value))
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._engine_error = ""
        self._thread: threading.Thread | None = None
        self._source: AudioSource | None = None
        self._spent_source: AudioSource | None = None
        self._generation = 0
        self.last_result: StreamResult | None = None
        self._bridge = _Bridge()
        queued = Qt.ConnectionType.QueuedConnection
        self._bridge.partial.connect(self._on_partial, queued)
        self._bridge.finished.connect(self._on_finished, queued)
        self._bridge.failed.connect(self._on_failed, queued)
        self._bridge.unavailable.connect(self._on_unavailable, queued)
        self._preload_thread: threading.Thread | None = None

    # -- what can run ----------------------------------------------------------------------

    def _options(self, name: str) -> dict[str, Any]:
        # One model setting for both kinds of engine (as ``workstation transcribe --model``).
        if not self.model_path:
            return {}
        return {"model" if name == "pocketsphinx" else "model_path": self.model_path}

    def resolved_engine(self) -> str:
        """The engine that will decode: the configured one, or for "auto" the available one
        of highest priority; EngineUnavailableError saying why none can."""
        if self.engine_name != AUTO_ENGINE:
            return self.engine_name
        reasons = []
        for name in engine_names():
            a = engine_availability(name, **self._options(name))
            if a.available:
                return name
            reasons.append(f"{name}: {a.reason}")
        raise EngineUnavailableError(
            "no speech engine can run here (" + ("; ".join(reasons) or "none is registered") + ")"
        )

    def engine_unavailable_reason(self) -> str | None:
        """Why the configured engine cannot run (None when it can); cheap: no model loading."""
        if self._engine_error:
            return self._engine_error
        try:
            name = self.resolved_engine()
            a = engine_availability(name, **self._options(name))
        except EngineUnavailableError as exc:
            return _tr("Dictation is unavailable: %1", str(exc))
        if a.available:
            return None
        return _tr("Dictation is unavailable: %1", f"{name}: {a.reason}")

    def unavailable_reason(self, *, microphone: bool = True) -> str | None:
        """Why the reader cannot dictate now: the engine first, then (with ``microphone``)
        the microphone. None when dictation can start."""
        reason = self.engine_unavailable_reason()
        if reason is None and microphone and self._source_factory is None:
            reason = microphone_unavailable_reason()
        return reason

    @property
    def state(self) -> DictationState:
        return self._states.state

    @property
    def source_factory(self) -> Callable[[], AudioSource] | None:
        """What ``start()`` records from when given no source (None: the microphone)."""
        return self._source_factory

    @source_factory.setter
    def source_factory(self, factory: Callable[[], AudioSource] | None) -> None:
        self._source_factory = factory

    @property
    def engine(self) -> Engine | None:
        """The loaded engine (None until the first utterance loaded it)."""
        return self._engine

    # -- push-to-talk ----------------------------------------------------------------------

    def start(self, source: AudioSource | None = None) -> bool:
        """Begin an utterance from ``source`` (default: the microphone). False, with
        ``failed`` emitted, when it cannot start; nothing is changed then."""
        if self._states.state is not DictationState.IDLE:
            return False
        reason = self.engine_unavailable_reason()
        if reason is not None:
            self.failed.emit(reason)
            self.availability_changed.emit(False, reason)
            return False
        if source is None:
            try:
                source = self._source_factory() if self._source_factory else MicrophoneSource()
            except DictationError as exc:
                self.failed.emit(str(exc))
                if isinstance(exc, NoMicrophoneError):
                    self.availability_changed.emit(False, str(exc))
                return False
        self._generation += 1
        self._source = source
        self._states.start()
        self._thread = threading.Thread(
            target=self._work,
            args=(self._generation, source),
            name="dictation",
            daemon=True,
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the utterance (key or button released): capture stops, decoding finishes."""
        if self._states.stop() and self._source is not None:
            self._source.close()

    def shutdown(self) -> None:
        """Stop any utterance and wait for the worker (closing the editor)."""
        self._generation += 1  # what the worker still sends is dropped
        if self._source is not None:
            self._source.close()
        for thread in (self._thread, self._preload_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT_S)
        self._preload_thread = None
        self._thread = None
        self._source = None
        if self._states.state is not DictationState.IDLE:
            self._states.fail()

    def preload(self) -> None:
        """Load the engine in the background now (Whisper takes a second or two), so the
        first press of the dictation key does not wait for it."""
        if self._engine is not None or self._engine_error:
            return
        if self._preload_thread is not None and self._preload_thread.is_alive():
            return
        self._preload_thread = threading.Thread(
            target=self._preload_work, name="dictation-load", daemon=True
        )
        self._preload_thread.start()

    def _preload_work(self) -> None:
        try:
            self._load_engine()
        except DictationError as exc:  # EngineUnavailableError, ModelNotFoundError
            self._bridge.unavailable.emit(_tr("Dictation is unavailable: %1", str(exc)))
        except Exception as exc:
            log.exception("the speech engine failed to load")
            self._bridge.unavailable.emit(
                _tr(
                    "Dictation is unavailable: the speech engine failed to load (%1)",
                    type(exc).__name__,
                )
            )

    def _on_unavailable(self, message: str) -> None:
        self._engine_error = message
        self.availability_changed.emit(False, message)

    # -- the worker thread -----------------------------------------------------------------

    def _load_engine(self) -> _SharedEngine:
        with self._engine_lock:
            name = self.resolved_engine()
            shared = _shared_engine(name, self._options(name))
            self._engine = shared.engine
            return shared

    def _work(self, generation: int, source: AudioSource) -> None:
        """Runs on the worker thread: touches no widget, only emits the bridge's signals."""
        try:
            shared = self._load_engine()
            second = self.final_pass
            if second is None:
                second = shared.engine.name not in _WHOLE_UTTERANCE_FINAL
            with shared.busy:  # one utterance at a time per engine, across editors
                try:
                    result = stream_utterance(
                        shared.engine,
                        source,
                        lambda text: self._bridge.partial.emit(generation, text),
                        final_pass=second,
                    )
                except DictationError:
                    raise
                except Exception:
                    _drop_shared_engine(shared)  # its state is unknown: load it afresh
                    raise
        except EngineUnavailableError as exc:  # includes a model that does not load
            message = _tr("Dictation is unavailable: %1", str(exc))
            self._bridge.failed.emit(generation, message, True)
        except ModelNotFoundError as exc:
            message = _tr("Dictation is unavailable: %1", str(exc))
            self._bridge.failed.emit(generation, message, True)
        except DictationError as exc:
            self._bridge.failed.emit(generation, _tr("Dictation failed: %1", str(exc)), False)
        except Exception as exc:  # an engine's own crash must not end the program
            log.exception("the speech engine failed")
            self._bridge.failed.emit(
                generation,
                _tr("Dictation failed: the speech engine stopped (%1)", type(exc).__name__),
                False,
            )
        else:
            self._bridge.finished.emit(generation, result)

    # -- back on the UI thread -------------------------------------------------------------

    def _retire_source(self) -> None:
        # Kept until the next utterance: the worker may still hold the last reference, and a
        # QObject (the microphone) must not be destroyed on the worker thread.
        self._spent_source = self._source
        self._source = None

    def _on_partial(self, generation: int, text: str) -> None:
        if generation == self._generation and self.state is DictationState.LISTENING:
            self.partial_text.emit(text)

    def _on_finished(self, generation: int, result: StreamResult) -> None:
        if generation != self._generation:
            return
        self._thread = None
        self._retire_source()
        self._states.stop()  # the source ended by itself (end of a file)
        self.last_result = result
        self._states.done()
        self.final_result.emit(result)

    def _on_failed(self, generation: int, message: str, fatal: bool) -> None:
        if generation != self._generation:
            return
        self._thread = None
        if self._source is not None:
            self._source.close()
        self._retire_source()
        self._states.fail()
        if fatal:
            self._engine_error = message
            self.availability_changed.emit(False, message)
        self.failed.emit(message)
