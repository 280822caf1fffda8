"""Live dictation without Qt: the pieces between an audio device and the report editor.

- ``PcmConverter``: whatever a capture device delivers (its own rate, channels and sample
  format) -> 16 kHz mono 16-bit chunks of a fixed length, resampled as a stream
  (``StreamResampler`` gives the same samples as ``audio.resample`` on the whole signal);
- ``DictationStateMachine``: idle -> listening -> finalising -> idle, one utterance at a time;
- ``stream_utterance``: one utterance through an engine's streaming session, partial text
  reported as it changes;
- ``plan_actions``: the final words as editor actions (text to insert, voice commands);
- ``insert_phrase`` / ``remove_phrase``: where dictated words go in a field's text and how
  "scratch that" takes them out again.

``ui/dictation.py`` wires these to QtMultimedia and the report editor.
"""

from __future__ import annotations

import contextlib
import enum
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from workstation.reporting.dictation import AudioError, DictationError
from workstation.reporting.dictation.audio import DEFAULT_CHUNK_MS, SAMPLE_RATE, Audio
from workstation.reporting.dictation.commands import (
    Action,
    Command,
    match_command,
    split_commands,
)
from workstation.reporting.dictation.engines import Engine, Transcript

__all__ = [
    "SAMPLE_FORMATS",
    "SPEECH_GATE_DB",
    "DictationState",
    "DictationStateMachine",
    "EditAction",
    "Insertion",
    "PcmConverter",
    "StreamResampler",
    "StreamResult",
    "decode_pcm",
    "insert_paragraph",
    "insert_phrase",
    "plan_actions",
    "remove_phrase",
    "stream_utterance",
]

# Capture sample formats (as QAudioFormat names them): numpy dtype and the scale to 16-bit.
SAMPLE_FORMATS: dict[str, tuple[str, float]] = {
    "uint8": ("u1", 256.0),
    "int16": ("<i2", 1.0),
    "int32": ("<i4", 1.0 / 65536.0),
    "float": ("<f4", 32768.0),
}


# -- audio from a capture device ---------------------------------------------------------------


def decode_pcm(data: bytes, sample_format: str, channels: int) -> np.ndarray:
    """Interleaved PCM bytes -> mono float64 samples on the 16-bit scale (channels averaged).
    Trailing bytes of an incomplete frame are ignored (the caller keeps them)."""
    if sample_format not in SAMPLE_FORMATS:
        raise AudioError(
            f"capture sample format {sample_format!r} is not supported "
            f"({', '.join(SAMPLE_FORMATS)})"
        )
    if channels < 1:
        raise AudioError(f"a capture stream needs at least one channel, got {channels}")
    dtype, scale = SAMPLE_FORMATS[sample_format]
    width = np.dtype(dtype).itemsize * channels
    usable = len(data) - len(data) % width
    x = np.frombuffer(data[:usable], dtype=dtype).astype(np.float64)
    if sample_format == "uint8":
        x -= 128.0
    x *= scale
    return x.reshape(-1, channels).mean(axis=1)


class StreamResampler:
    """Band-limited resampling of a signal that arrives in pieces: the same Hann-windowed
    sinc as ``audio.resample``, and after ``flush()`` the same samples, whatever the pieces."""

    def __init__(self, src_rate: int, dst_rate: int = SAMPLE_RATE, half_width: int = 16) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise AudioError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._ratio = src_rate / dst_rate
        self._cutoff = 0.95 * min(1.0, 1.0 / self._ratio)
        self._width = math.ceil(half_width * max(1.0, self._ratio))
        self._taps = np.arange(-self._width + 1, self._width + 1)
        self._buf = np.zeros(0)
        self._buf_start = 0  # input index of _buf[0]
        self._n_in = 0
        self._k = 0  # next output index

    def _outputs(self, k_end: int) -> np.ndarray:
        k = np.arange(self._k, k_end)
        if len(k) == 0:
            return np.zeros(0)
        t = k * self._ratio
        base = np.floor(t).astype(np.int64)
        offsets = self._taps[None, :] - (t - base)[:, None]
        kernel = self._cutoff * np.sinc(self._cutoff * offsets)
        kernel *= 0.5 + 0.5 * np.cos(np.pi * offsets / (self._width + 1))
        idx = base[:, None] + self._taps[None, :]  # input indices; outside the signal: zero
        first = int(idx.min())
        lo = min(first, self._buf_start)
        hi = max(int(idx.max()) + 1, self._buf_start + len(self._buf))
        window = np.zeros(hi - lo)
        window[self._buf_start - lo : self._buf_start - lo + len(self._buf)] = self._buf
        window[: max(0, -lo)] = 0.0  # before the first sample
        out = np.sum(window[idx - lo] * kernel, axis=1)
        self._k = k_end
        # keep only what the next output still needs
        keep_from = math.floor(self._k * self._ratio) - self._width + 1
        drop = max(0, keep_from - self._buf_start)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return out

    def push(self, samples: np.ndarray) -> np.ndarray:
        """More input; returns every output sample whose kernel now lies inside the input."""
        x = np.asarray(samples, dtype=np.float64)
        if self.src_rate == self.dst_rate:
            self._n_in += len(x)
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        self._n_in += len(x)
        # output k needs input up to floor(k * ratio) + width
        k_end = math.floor((self._n_in - 1 - self._width) / self._ratio) + 1
        k_end = min(max(k_end, self._k), math.floor(self._n_in / self._ratio))
        return self._outputs(k_end)

    def flush(self) -> np.ndarray:
        """The end of the signal: the last outputs, with silence after the final sample."""
        if self.src_rate == self.dst_rate:
            return np.zeros(0)
        return self._outputs(max(self._k, math.floor(self._n_in / self._ratio)))


class PcmConverter:
    """Capture bytes in any rate, channel count and sample format -> 16 kHz mono 16-bit PCM
    chunks of ``chunk_ms`` (what the engines' streaming sessions take)."""

    def __init__(
        self,
        src_rate: int,
        channels: int = 1,
        sample_format: str = "int16",
        chunk_ms: int = DEFAULT_CHUNK_MS,
    ) -> None:
        decode_pcm(b"", sample_format, channels)  # validates
        if chunk_ms <= 0:
            raise AudioError(f"chunk length must be positive, got {chunk_ms} ms")
        self.channels = channels
        self.sample_format = sample_format
        self._frame_bytes = np.dtype(SAMPLE_FORMATS[sample_format][0]).itemsize * channels
        self._resampler = StreamResampler(src_rate, SAMPLE_RATE)
        self._chunk = SAMPLE_RATE * chunk_ms // 1000
        self._partial_frame = b""
        self._out = np.zeros(0, dtype=np.int16)

    def _chunks(self, y: np.ndarray, final: bool) -> list[bytes]:
        y16 = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
        self._out = np.concatenate([self._out, y16])
        n = len(self._out) // self._chunk
        chunks = [
            self._out[i * self._chunk : (i + 1) * self._chunk].astype("<i2").tobytes()
            for i in range(n)
        ]
        self._out = self._out[n * self._chunk :]
        if final and len(self._out):
            chunks.append(self._out.astype("<i2").tobytes())
            self._out = np.zeros(0, dtype=np.int16)
        return chunks

    def push(self, data: bytes) -> list[bytes]:
        """Captured bytes (any length); returns the whole chunks now complete."""
        data = self._partial_frame + data
        usable = len(data) - len(data) % self._frame_bytes
        self._partial_frame = data[usable:]
        x = decode_pcm(data[:usable], self.sample_format, self.channels)
        return self._chunks(self._resampler.push(x), final=False)

    def flush(self) -> list[bytes]:
        """The end of capture: what is left, the last chunk possibly shorter."""
        self._partial_frame = b""
        return self._chunks(self._resampler.flush(), final=True)


# -- the session's states ----------------------------------------------------------------------


class DictationState(enum.Enum):
    """Where push-to-talk dictation is: waiting, hearing speech, or decoding its end."""

    IDLE = "idle"
    LISTENING = "listening"
    FINALISING = "finalising"


class DictationStateMachine:
    """idle -> listening (press) -> finalising (release, or the source ended) -> idle (the
    final text arrived, or it failed). One utterance at a time; a wrong step raises
    DictationError, except ``stop()``, which is harmless when not listening (a key release)."""

    def __init__(
        self, on_change: Callable[[DictationState, DictationState], None] | None = None
    ) -> None:
        self._state = DictationState.IDLE
        self._on_change = on_change

    @property
    def state(self) -> DictationState:
        return self._state

    def _go(self, new: DictationState) -> None:
        old, self._state = self._state, new
        if self._on_change is not None and old is not new:
            self._on_change(old, new)

    def start(self) -> None:
        """Press: begin an utterance."""
        if self._state is not DictationState.IDLE:
            raise DictationError(f"dictation cannot start while {self._state.value}")
        self._go(DictationState.LISTENING)

    def stop(self) -> bool:
        """Release (or the end of the audio): decode what was heard. False when not listening."""
        if self._state is not DictationState.LISTENING:
            return False
        self._go(DictationState.FINALISING)
        return True

    def done(self) -> None:
        """The final text is there."""
        if self._state is DictationState.IDLE:
            raise DictationError("no utterance is being decoded")
        self._go(DictationState.IDLE)

    def fail(self) -> None:
        """Capture or decoding failed: back to idle from anywhere."""
        self._go(DictationState.IDLE)


# -- one utterance through an engine -----------------------------------------------------------


# Below this (10 ms RMS, dBFS) nothing is speech: a quiet room is about -60 dBFS, speech at a
# microphone -35 to -15 dBFS (``audio.speech_onset_s`` calls -35 dBFS speech).
SPEECH_GATE_DB = -45.0


def _loudest_frame_db(chunk: bytes) -> float:
    x = np.frombuffer(chunk[: len(chunk) - len(chunk) % 2], dtype="<i2").astype(np.float64)
    frame = SAMPLE_RATE // 100
    n = len(x) // frame
    if n == 0:
        rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    else:
        rms = float(np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)).max())
    return 20 * math.log10(rms / 32768.0) if rms > 0 else -120.0


@dataclass(frozen=True, slots=True)
class StreamResult:
    """The final transcript of an utterance; when its first partial text came (seconds after
    the first chunk arrived; None when none came); how many partials; whether the final text
    comes from a second pass over the whole utterance."""

    transcript: Transcript
    first_partial_s: float | None
    partials: int
    final_pass: bool = False
    loudest_db: float = -120.0  # the loudest 10 ms frame, dBFS (RMS)


def stream_utterance(
    engine: Engine,
    chunks: Iterable[bytes],
    on_partial: Callable[[str], None] | None = None,
    *,
    final_pass: bool = False,
    speech_gate_db: float | None = SPEECH_GATE_DB,
) -> StreamResult:
    """Decode ``chunks`` with ``engine``'s streaming session; ``on_partial`` gets the partial
    text each time it changes (and is not blank).

    With ``final_pass`` the final text comes from decoding the whole utterance once more
    (``engine.transcribe``): pocketsphinx's live cepstral mean normalisation starts from a
    default and garbles the first second of a fresh session ("fifth endplate called" for "the
    ventricles"), while a whole-utterance pass normalises over all of it. About 0.1-0.3 s for
    a sentence with pocketsphinx.

    An utterance never louder than ``speech_gate_db`` (dBFS, 10 ms RMS) holds no speech: its
    text is empty, whatever an engine made of the room's noise.
    """
    session = engine.stream()
    started: float | None = None
    first: float | None = None
    last = ""
    count = 0
    heard: list[bytes] = []
    loudest = -120.0
    try:
        for chunk in chunks:
            if started is None:
                started = time.monotonic()
            if final_pass:
                heard.append(chunk)
            loudest = max(loudest, _loudest_frame_db(chunk))
            partial = session.feed(chunk).strip()
            if partial and partial != last:
                last = partial
                count += 1
                if first is None:
                    first = time.monotonic() - started
                if on_partial is not None:
                    on_partial(partial)
    except BaseException:
        # End the engine's utterance all the same, or its decoder refuses the next one.
        with contextlib.suppress(Exception):
            session.finish()
        raise
    streamed = session.finish()
    if speech_gate_db is not None and loudest < speech_gate_db:
        silent = Transcript("", "", streamed.engine, streamed.audio_s, streamed.compute_s)
        return StreamResult(silent, first, count, loudest_db=loudest)
    if not final_pass or not heard:
        return StreamResult(streamed, first, count, loudest_db=loudest)
    samples = np.frombuffer(b"".join(heard), dtype="<i2").astype(np.int16)
    whole = engine.transcribe(Audio(samples, SAMPLE_RATE))
    final = Transcript(
        whole.text, whole.raw, whole.engine, whole.audio_s, streamed.compute_s + whole.compute_s
    )
    return StreamResult(final, first, count, final_pass=True, loudest_db=loudest)


# -- words -> editor actions -------------------------------------------------------------------


class EditKind(enum.Enum):
    """What the editor does with one piece of an utterance."""

    TEXT = "text"
    VALUE = "value"
    NEXT_FIELD = "next_field"
    PREVIOUS_FIELD = "previous_field"
    INSERT_NORMAL = "insert_normal"
    SCRATCH_THAT = "scratch_that"
    NEW_PARAGRAPH = "new_paragraph"


_ACTION_KIND = {
    Action.NEXT_FIELD: EditKind.NEXT_FIELD,
    Action.PREVIOUS_FIELD: EditKind.PREVIOUS_FIELD,
    Action.INSERT_NORMAL: EditKind.INSERT_NORMAL,
    Action.SCRATCH_THAT: EditKind.SCRATCH_THAT,
    Action.NEW_PARAGRAPH: EditKind.NEW_PARAGRAPH,
    Action.VALUE: EditKind.VALUE,
}


@dataclass(frozen=True, slots=True)
class EditAction:
    """One step for the editor: text to insert (normalised), a value with its UCUM unit, or
    a command. ``spoken`` keeps the engine's words of a text piece (for number fields)."""

    kind: EditKind
    text: str = ""
    value: float | None = None
    unit: str = ""
    spoken: str = ""


def _from_command(command: Command) -> EditAction:
    kind = _ACTION_KIND[command.action]
    if kind is EditKind.VALUE:
        return EditAction(kind, command.text, command.value, command.unit, command.text)
    return EditAction(kind)


def plan_actions(raw: str, normalize: Callable[[str], str]) -> list[EditAction]:
    """The editor actions an utterance says. A whole utterance that is a command (nearly, as
    ``match_command`` allows) is that command; otherwise command phrases said inside the text
    are cut out ("no bleed next field normal") and the text between is normalised."""
    if not raw.strip():
        return []
    whole = match_command(raw)
    if whole is not None:
        return [_from_command(whole)]
    actions: list[EditAction] = []
    for piece in split_commands(raw):
        if isinstance(piece, Command):
            actions.append(_from_command(piece))
            continue
        text = normalize(piece).strip()
        if text:
            actions.append(EditAction(EditKind.TEXT, text, spoken=piece))
    return actions


# -- where dictated words go -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Insertion:
    """A field's new text after dictation: ``inserted`` (the phrase with the spaces that glue
    it in) starts at ``start``; the cursor goes to ``cursor``."""

    text: str
    start: int
    inserted: str

    @property
    def cursor(self) -> int:
        return self.start + len(self.inserted)


_SENTENCE_END = (".", "!", "?", "\n")


def _fit_case(phrase: str, sentence_start: bool) -> str:
    if not phrase:
        return phrase
    if sentence_start:
        return phrase[0].upper() + phrase[1:]
    first = phrase.split(" ", 1)[0]
    # The normaliser capitalises an utterance as a sentence; mid-sentence that capital goes,
    # but an acronym ("CT") or "I" keeps its case.
    if first[:1].isupper() and first[1:] == first[1:].lower() and first != "I":
        return phrase[0].lower() + phrase[1:]
    return phrase


def insert_phrase(text: str, cursor: int, phrase: str) -> Insertion:
    """``phrase`` inserted at ``cursor`` as a writer would: a space on either side where
    words would touch, a capital only at a sentence's start."""
    cursor = max(0, min(cursor, len(text)))
    before, after = text[:cursor], text[cursor:]
    phrase = phrase.strip()
    start_of_sentence = not before.strip() or before.rstrip(" ").endswith(_SENTENCE_END)
    body = _fit_case(phrase, start_of_sentence)
    lead = " " if before and not before[-1].isspace() and body[:1] not in (".", ",", ";") else ""
    trail = " " if after and not after[0].isspace() and after[0] not in ".,;:!?" else ""
    inserted = lead + body + trail
    return Insertion(before + inserted + after, cursor, inserted)


def insert_paragraph(text: str, cursor: int) -> Insertion:
    """A paragraph break at ``cursor`` (a blank line), not doubled when one is there."""
    cursor = max(0, min(cursor, len(text)))
    before = text[:cursor]
    if not before.strip() or before.endswith("\n\n"):
        inserted = ""
    elif before.endswith("\n"):
        inserted = "\n"
    else:
        inserted = "\n\n"
    return Insertion(before + inserted + text[cursor:], cursor, inserted)


def remove_phrase(text: str, start: int, inserted: str) -> tuple[str, int] | None:
    """``text`` without the dictated ``inserted`` (where it went in at ``start``, or its last
    place if the reader has typed before it since); None when it is no longer there."""
    if not inserted:
        return None
    if text[start : start + len(inserted)] != inserted:
        start = text.rfind(inserted)
        if start < 0:
            return None
    return text[:start] + text[start + len(inserted) :], start
