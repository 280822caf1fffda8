"""Audio for the speech engines: WAV files, 16 kHz mono 16-bit PCM, chunks for streaming.

Both engines take 16 kHz mono signed 16-bit little-endian PCM. A WAV file of another rate,
width or channel count is converted on reading (RIFF/WAVE: PCM 8/16/24/32-bit, IEEE float,
WAVE_FORMAT_EXTENSIBLE). Microphone capture belongs to ``ui/`` (QtMultimedia); here is only the
interface it implements, ``AudioSource``: an iterable of PCM chunks.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from workstation.reporting.dictation import AudioError, NoMicrophoneError

__all__ = [
    "SAMPLE_RATE",
    "ArraySource",
    "Audio",
    "AudioSource",
    "WavFileSource",
    "chunk_pcm",
    "open_microphone",
    "pad_with_noise_floor",
    "read_wav",
    "register_microphone",
    "resample",
    "speech_onset_s",
    "write_wav",
]

SAMPLE_RATE = 16_000  # what both engines' acoustic models were trained on
DEFAULT_CHUNK_MS = 100

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono signed 16-bit samples at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def pcm(self) -> bytes:
        """The samples as little-endian 16-bit PCM bytes, as the engines read them."""
        return self.samples.astype("<i2", copy=False).tobytes()


# -- reading and writing -----------------------------------------------------------------------


def _parse_fmt(body: bytes, where: str) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{where}: the WAV format chunk is too short")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(f"{where}: the WAVE_FORMAT_EXTENSIBLE chunk is too short")
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the SubFormat GUID
    if tag not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise AudioError(
            f"{where}: WAV sample format {tag:#06x} is not supported (use PCM or IEEE float)"
        )
    if channels < 1 or rate < 1000:
        raise AudioError(f"{where}: {channels} channel(s) at {rate} Hz is not usable audio")
    if tag == _FORMAT_PCM and bits not in (8, 16, 24, 32):
        raise AudioError(f"{where}: {bits}-bit PCM is not supported (8, 16, 24 or 32)")
    if tag == _FORMAT_FLOAT and bits not in (32, 64):
        raise AudioError(f"{where}: {bits}-bit float is not supported (32 or 64)")
    return tag, channels, rate, bits


def _decode_frames(data: bytes, tag: int, channels: int, bits: int) -> np.ndarray:
    """Interleaved samples -> float64 array (frames, channels) scaled to 16-bit range."""
    width = bits // 8
    usable = len(data) - len(data) % (width * channels)
    raw = data[:usable]
    if tag == _FORMAT_FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float64) * 32768.0
    elif bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float64) / 256.0
    else:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    return x.reshape(-1, channels)


def read_wav(path: str | Path, sample_rate: int = SAMPLE_RATE) -> Audio:
    """A WAV file as mono 16-bit audio at ``sample_rate``: channels averaged, resampled.

    Raises AudioError naming the file when it is missing, not RIFF/WAVE, or in a sample format
    other than PCM or IEEE float.
    """
    p = Path(path)
    where = str(p)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise AudioError(f"{where}: cannot be read ({exc.strerror})") from None
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise AudioError(f"{where}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    data: bytes | None = None
    pos = 12
    while pos + 8 <= len(blob):
        cid, size = blob[pos : pos + 4], struct.unpack("<I", blob[pos + 4 : pos + 8])[0]
        body = blob[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = _parse_fmt(body, where)
        elif cid == b"data":
            data = body  # a streamed WAV may say 0 or 0xFFFFFFFF: take what is there
            if size in (0, 0xFFFFFFFF):
                data = blob[pos + 8 :]
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{where}: the WAV file has no format chunk")
    if data is None:
        raise AudioError(f"{where}: the WAV file has no data chunk")
    tag, channels, rate, bits = fmt
    frames = _decode_frames(data, tag, channels, bits)
    if len(frames) == 0:
        raise AudioError(f"{where}: the WAV file holds no samples")
    mono = frames.mean(axis=1)
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    return Audio(_to_int16(mono), sample_rate)


def write_wav(path: str | Path, audio: Audio) -> None:
    """Write mono 16-bit PCM WAV (for tests, benchmarks and saved dictation)."""
    pcm = audio.pcm()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = struct.pack("<HHIIHH", _FORMAT_PCM, 1, audio.sample_rate, audio.sample_rate * 2, 2, 16)
    Path(path).write_bytes(
        header + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    )


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


# -- signal helpers ----------------------------------------------------------------------------


def resample(x: np.ndarray, src_rate: int, dst_rate: int, half_width: int = 16) -> np.ndarray:
    """Band-limited resampling (Hann-windowed sinc, cut-off below the lower Nyquist rate)."""
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    x = np.asarray(x, dtype=np.float64)
    if src_rate == dst_rate or len(x) == 0:
        return x.copy()
    ratio = src_rate / dst_rate
    n_out = math.floor(len(x) / ratio)
    cutoff = 0.95 * min(1.0, 1.0 / ratio)  # as a fraction of the source Nyquist frequency
    width = math.ceil(half_width * max(1.0, ratio))
    padded = np.concatenate([np.zeros(width), x, np.zeros(width + 1)])
    taps = np.arange(-width + 1, width + 1)
    out = np.empty(n_out)
    block = 8192
    for start in range(0, n_out, block):
        t = np.arange(start, min(n_out, start + block)) * ratio
        base = np.floor(t).astype(np.int64)
        frac = t - base
        offsets = taps[None, :] - frac[:, None]  # distance of each tap from the output time
        kernel = cutoff * np.sinc(cutoff * offsets)
        kernel *= 0.5 + 0.5 * np.cos(np.pi * offsets / (width + 1))
        idx = base[:, None] + taps[None, :] + width
        out[start : start + len(t)] = np.sum(padded[idx] * kernel, axis=1)
    return out


def pad_with_noise_floor(
    samples: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    pad_s: float = 0.3,
    sigma: float = 100.0,
    seed: int = 0,
) -> np.ndarray:
    """Silence of ``pad_s`` on both sides and a faint Gaussian noise floor (σ≈100 on 16 bit,
    about −50 dBFS) over all: pocketsphinx fails on runs of exact digital zeros, which
    synthetic audio has and real microphones never do. Seeded, so runs are repeatable."""
    pad = np.zeros(round(pad_s * sample_rate))
    x = np.concatenate([pad, np.asarray(samples, dtype=np.float64), pad])
    if sigma > 0:
        x = x + np.random.default_rng(seed).normal(0.0, sigma, len(x))
    return _to_int16(x)


def speech_onset_s(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, db: float = -35.0) -> float:
    """Start of the first 10 ms frame louder than ``db`` dBFS (RMS): where speech begins, for
    timing the first partial result."""
    frame = sample_rate // 100
    x = np.asarray(samples, dtype=np.float64)
    n = len(x) // frame
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(rms > 32768.0 * 10 ** (db / 20))[0]
    return float(loud[0] * frame / sample_rate) if len(loud) else 0.0


def chunk_pcm(pcm: bytes, sample_rate: int = SAMPLE_RATE, chunk_ms: int = DEFAULT_CHUNK_MS):
    """Split 16-bit PCM into chunks of ``chunk_ms`` (the last may be shorter)."""
    if chunk_ms <= 0:
        raise AudioError(f"chunk length must be positive, got {chunk_ms} ms")
    step = sample_rate * chunk_ms // 1000 * 2
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]


# -- sources -----------------------------------------------------------------------------------


@runtime_checkable
class AudioSource(Protocol):
    """Where dictation audio comes from: an iterable of 16-bit little-endian mono PCM chunks at
    ``sample_rate`` (a file, a test array, the microphone). Iteration ends when the source ends
    (end of file, the user releases the dictation button); ``close()`` stops it early."""

    sample_rate: int

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ArraySource:
    """Samples already in memory, in chunks of ``chunk_ms``. With ``realtime`` each chunk is
    handed out only once it would have been recorded (as a microphone paces them), so a file
    goes through live dictation exactly as speech would; ``close()`` ends the stream at once,
    even while it waits."""

    def __init__(
        self,
        audio: Audio,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        noise_floor: bool = False,
        *,
        realtime: bool = False,
    ) -> None:
        samples = pad_with_noise_floor(audio.samples, audio.sample_rate) if noise_floor else None
        self.audio = audio if samples is None else Audio(samples, audio.sample_rate)
        self.sample_rate = audio.sample_rate
        self.chunk_ms = chunk_ms
        self.realtime = realtime
        self.started_at: float | None = None  # time.monotonic() when the first chunk was asked
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        self.started_at = time.monotonic()
        recorded = 0
        for chunk in chunk_pcm(self.audio.pcm(), self.sample_rate, self.chunk_ms):
            if self._closed.is_set():
                return
            recorded += len(chunk) // 2
            if self.realtime:
                due = self.started_at + recorded / self.sample_rate
                if self._closed.wait(max(0.0, due - time.monotonic())):
                    return
            yield chunk

    def close(self) -> None:
        self._closed.set()


class WavFileSource(ArraySource):
    """A WAV file read as a stream of chunks (converted to 16 kHz mono 16-bit first)."""

    def __init__(
        self,
        path: str | Path,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        noise_floor: bool = False,
        *,
        realtime: bool = False,
    ) -> None:
        super().__init__(read_wav(path), chunk_ms, noise_floor, realtime=realtime)


MicrophoneFactory = Callable[[int], AudioSource]
_microphone_factory: MicrophoneFactory | None = None


def register_microphone(factory: MicrophoneFactory | None) -> None:
    """Install the function that opens the microphone at a sample rate (``ui/`` registers one
    built on QtMultimedia; it raises NoMicrophoneError when there is no input device)."""
    global _microphone_factory
    _microphone_factory = factory


def open_microphone(sample_rate: int = SAMPLE_RATE) -> AudioSource:
    """The microphone as an AudioSource; NoMicrophoneError when none can be opened."""
    if _microphone_factory is None:
        raise NoMicrophoneError(
            "no microphone is available: live dictation needs the desktop app (audio input "
            "through Qt Multimedia); from the command line, transcribe a WAV file instead"
        )
    return _microphone_factory(sample_rate)
