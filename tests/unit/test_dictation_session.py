"""Live dictation without Qt: streaming resampling and capture conversion, the push-to-talk
state machine, words -> editor actions, where dictated phrases go in a field and how
"scratch that" takes them out, and a WAV source paced like a microphone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from workstation.reporting.dictation import AudioError, DictationError
from workstation.reporting.dictation.audio import ArraySource, Audio, resample
from workstation.reporting.dictation.session import (
    DictationState,
    DictationStateMachine,
    EditAction,
    EditKind,
    PcmConverter,
    StreamResampler,
    decode_pcm,
    insert_paragraph,
    insert_phrase,
    plan_actions,
    remove_phrase,
)
from workstation.reporting.normalize import normalize


def _sine(freq_hz: float, rate: int, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


# -- resampling --------------------------------------------------------------------------------


def test_stream_resampler_48k_to_16k_gives_exact_count_and_keeps_the_tone() -> None:
    x = _sine(1000.0, 48_000, 2.0) + _sine(3000.0, 48_000, 2.0, 2000.0)
    x = np.concatenate([x, np.zeros(7)])  # 96 007 samples: not a multiple of 3
    r = StreamResampler(48_000, 16_000)
    rng = np.random.default_rng(5)
    out, i = [], 0
    while i < len(x):  # pieces of odd sizes, as a capture device delivers them
        n = int(rng.integers(1, 4000))
        out.append(r.push(x[i : i + n]))
        i += n
    out.append(r.flush())
    y = np.concatenate(out)
    assert len(y) == 96_007 // 3 == 32_002
    # Streaming gives the very samples of the whole-signal resampler.
    assert np.max(np.abs(y - resample(x, 48_000, 16_000))) < 1e-9
    # Frequencies stay: 1 kHz is the peak (0.5 Hz bins over 2 s), its amplitude kept.
    assert _peak_hz(y[:32_000], 16_000) == pytest.approx(1000.0, abs=0.5)
    middle = y[1000:31_000]
    fitted = np.sqrt(2) * np.sqrt(np.mean(middle**2))
    assert fitted == pytest.approx(np.sqrt(10000.0**2 + 2000.0**2), rel=0.01)


def test_stream_resampler_44k1_and_8k_match_the_whole_signal() -> None:
    x = np.random.default_rng(2).normal(0, 3000, 44_100 + 333)
    for rate in (44_100, 8_000, 16_000):
        r = StreamResampler(rate)
        y = np.concatenate([r.push(x[:1000]), r.push(x[1000:1001]), r.push(x[1001:]), r.flush()])
        ref = resample(x, rate, 16_000)
        assert len(y) == len(ref) == int(len(x) * 16_000 / rate)
        assert np.max(np.abs(y - ref)) < 1e-9
    with pytest.raises(AudioError, match="sample rates must be positive"):
        StreamResampler(0)


def test_decode_pcm_scales_each_format_to_16_bit() -> None:
    assert decode_pcm(np.array([0, 255], np.uint8).tobytes(), "uint8", 1).tolist() == [
        -32768.0,
        32512.0,
    ]
    assert decode_pcm(np.array([65536 * 100], "<i4").tobytes(), "int32", 1).tolist() == [100.0]
    assert decode_pcm(np.array([0.5, -0.25], "<f4").tobytes(), "float", 2).tolist() == [4096.0]
    # an incomplete trailing frame is left out
    assert decode_pcm(np.array([10, 20, 30], "<i2").tobytes(), "int16", 2).tolist() == [15.0]
    with pytest.raises(AudioError, match="'int24' is not supported"):
        decode_pcm(b"", "int24", 1)
    with pytest.raises(AudioError, match="at least one channel"):
        decode_pcm(b"", "int16", 0)


def test_converter_turns_stereo_float_48k_into_16k_chunks() -> None:
    left = _sine(440.0, 48_000, 1.0, 8000.0)
    stereo = np.stack([left, left], axis=1).astype("<f4") / 32768.0
    data = stereo.tobytes()
    conv = PcmConverter(48_000, channels=2, sample_format="float", chunk_ms=100)
    chunks = []
    for start in range(0, len(data), 1001):  # byte runs that split frames and samples
        chunks += conv.push(data[start : start + 1001])
    chunks += conv.flush()
    assert [len(c) for c in chunks] == [3200] * 10
    y = np.frombuffer(b"".join(chunks), "<i2").astype(np.float64)
    ref = resample(stereo.astype(np.float64).mean(axis=1) * 32768.0, 48_000, 16_000)
    assert np.max(np.abs(y - np.rint(ref))) <= 1.0
    assert _peak_hz(y, 16_000) == pytest.approx(440.0, abs=1.0)


# -- the state machine -------------------------------------------------------------------------


def test_push_to_talk_states_go_idle_listening_finalising_idle() -> None:
    seen: list[tuple[str, str]] = []
    m = DictationStateMachine(lambda old, new: seen.append((old.value, new.value)))
    assert m.state is DictationState.IDLE
    assert m.stop() is False  # a key release with nothing running is harmless
    m.start()
    with pytest.raises(DictationError, match="cannot start while listening"):
        m.start()
    assert m.stop() is True
    assert m.stop() is False
    with pytest.raises(DictationError, match="cannot start while finalising"):
        m.start()
    m.done()
    with pytest.raises(DictationError, match="no utterance is being decoded"):
        m.done()
    m.start()
    m.fail()
    assert seen == [
        ("idle", "listening"),
        ("listening", "finalising"),
        ("finalising", "idle"),
        ("idle", "listening"),
        ("listening", "idle"),
    ]


# -- words -> actions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("next field", [EditAction(EditKind.NEXT_FIELD)]),
        ("next feel", [EditAction(EditKind.NEXT_FIELD)]),  # nearly: still the command
        ("previous field", [EditAction(EditKind.PREVIOUS_FIELD)]),
        ("insert normal", [EditAction(EditKind.INSERT_NORMAL)]),
        ("scratch that", [EditAction(EditKind.SCRATCH_THAT)]),
        ("new paragraph", [EditAction(EditKind.NEW_PARAGRAPH)]),
        ("twelve millimeters", [EditAction(EditKind.VALUE, "12 mm", 12.0, "mm", "12 mm")]),
        (
            "no acute hemorrhage next field normal",
            [
                EditAction(EditKind.TEXT, "No acute hemorrhage", spoken="no acute hemorrhage"),
                EditAction(EditKind.NEXT_FIELD),
                EditAction(EditKind.TEXT, "Normal", spoken="normal"),
            ],
        ),
        (
            "the nodule measures three point five centimeters",
            [
                EditAction(
                    EditKind.TEXT,
                    "The nodule measures 3.5 cm",
                    spoken="the nodule measures three point five centimeters",
                )
            ],
        ),
        ("   ", []),
    ],
)
def test_words_become_editor_actions(raw: str, expected: list[EditAction]) -> None:
    assert plan_actions(raw, normalize) == expected


# -- where dictated words go -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cursor", "phrase", "new", "inserted"),
    [
        ("", 0, "There is edema", "There is edema", "There is edema"),
        ("Headache.", 9, "There is edema", "Headache. There is edema", " There is edema"),
        ("There is", 8, "Mild edema", "There is mild edema", " mild edema"),
        ("There is", 8, "CT shows", "There is CT shows", " CT shows"),
        ("no bleed.", 0, "there is edema", "There is edema no bleed.", "There is edema "),
        ("Atrophy \n", 9, "mild", "Atrophy \nMild", "Mild"),
        ("The mass .", 8, "Large", "The mass large .", " large"),
    ],
)
def test_a_phrase_goes_in_with_spaces_and_sentence_case(
    text: str, cursor: int, phrase: str, new: str, inserted: str
) -> None:
    got = insert_phrase(text, cursor, phrase)
    assert (got.text, got.inserted, got.start) == (new, inserted, cursor)
    assert got.cursor == cursor + len(inserted)
    # "scratch that" gives back exactly the text before
    assert remove_phrase(got.text, got.start, got.inserted) == (text, cursor)


def test_scratch_finds_the_phrase_after_typing_before_it_and_not_when_gone() -> None:
    got = insert_phrase("Headache.", 9, "fall")
    typed = "Severe " + got.text  # the reader typed in front of it since
    assert remove_phrase(typed, got.start, got.inserted) == ("Severe Headache.", 16)
    assert remove_phrase("Headache.", got.start, got.inserted) is None
    assert remove_phrase("Headache.", 0, "") is None


def test_paragraph_break_is_a_blank_line_never_doubled() -> None:
    assert insert_paragraph("Edema.", 6).text == "Edema.\n\n"
    assert insert_paragraph("Edema.\n", 7).text == "Edema.\n\n"
    assert insert_paragraph("Edema.\n\n", 8).inserted == ""
    assert insert_paragraph("", 0).inserted == ""
    assert insert_paragraph("A. B.", 2).text == "A.\n\n B."


# -- a file paced like a microphone ------------------------------------------------------------


def test_realtime_source_paces_chunks_and_closes_at_once() -> None:
    audio = Audio(np.zeros(8000, dtype=np.int16))  # 0.5 s
    source = ArraySource(audio, chunk_ms=100, realtime=True)
    start = time.monotonic()
    chunks = list(source)
    took = time.monotonic() - start
    assert len(chunks) == 5
    assert 0.5 <= took < 1.0  # paced: never faster than real time
    assert source.started_at is not None and source.started_at >= start

    long = ArraySource(Audio(np.zeros(16000 * 30, dtype=np.int16)), realtime=True)
    got: list[bytes] = []
    worker = threading.Thread(target=lambda: got.extend(long))
    worker.start()
    time.sleep(0.25)
    closed_at = time.monotonic()
    long.close()
    worker.join(2.0)
    assert not worker.is_alive()
    assert time.monotonic() - closed_at < 0.3  # not the 30 s the file lasts
    assert 1 <= len(got) <= 4  # what was "recorded" before the close, nothing after
