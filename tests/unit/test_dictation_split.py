"""The dictation benchmark's dev/test split (issue #7): the test sentences stay held out.

A test sentence that the corpus, a prompt or the dev set already holds, or that shares six words
in a row with the corpus, would flatter the word error rate the benchmark reports as held out.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from workstation.reporting.dictation import DictationError
from workstation.reporting.dictation.corpus import (
    corpus_files,
    corpus_sentences,
    eval_dir,
    eval_sentences,
    prompt_text,
    scoring_words,
    shared_ngrams,
    to_spoken,
)
from workstation.reporting.dictation.whisper_engine import COMMAND_PROMPT, default_prompt
from workstation.reporting.templates import load_builtin_templates

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return corpus_sentences()


@pytest.fixture(scope="module")
def test_set() -> list[str]:
    return eval_sentences("test")


@pytest.fixture(scope="module")
def dev_set() -> list[str]:
    return eval_sentences("dev")


def _prompts() -> list[str]:
    templates = load_builtin_templates()
    return [
        default_prompt(),
        default_prompt(templates),
        prompt_text(templates),
        COMMAND_PROMPT,
    ]


def _key(sentence: str) -> str:
    """A sentence normalised both ways the project compares text: spoken and written form."""
    return " ".join(scoring_words(to_spoken(sentence)))


def test_split_files_are_in_place_and_large_enough(test_set: list[str], dev_set: list[str]) -> None:
    assert (eval_dir() / "test.txt").is_file() and (eval_dir() / "dev.txt").is_file()
    assert len(test_set) >= 60 and len(dev_set) >= 100
    assert len({_key(s) for s in test_set}) == len(test_set)
    assert len({_key(s) for s in dev_set}) == len(dev_set)
    # Spoken form, one sentence a line: what the voices read and the corpus is written in.
    assert all(s == to_spoken(s) for s in (*test_set, *dev_set))
    # The evaluation folder is not a corpus folder: nothing there is read into the model.
    assert eval_dir() not in {p.parent for p in corpus_files()}


def test_no_test_sentence_is_in_the_corpus_the_prompts_or_the_dev_set(
    test_set: list[str], dev_set: list[str], corpus: list[str]
) -> None:
    tests = {_key(s) for s in test_set}
    corpus_text = "\n".join(_key(s) for s in corpus)
    assert [s for s in tests if s in corpus_text] == []
    assert tests & {_key(s) for s in dev_set} == set()
    for prompt in _prompts():
        spoken = _key(prompt)
        assert [s for s in tests if s in spoken] == []


def test_no_test_sentence_shares_six_words_with_the_corpus_or_the_dev_set(
    test_set: list[str], dev_set: list[str], corpus: list[str]
) -> None:
    assert shared_ngrams(test_set, corpus, 6) == set()
    assert shared_ngrams(test_set, dev_set, 6) == set()
    assert shared_ngrams(test_set, _prompts(), 6) == set()


def test_no_dev_sentence_is_in_the_corpus(dev_set: list[str], corpus: list[str]) -> None:
    """Dev sentences may share phrases with the corpus but are not copied into it."""
    assert {_key(s) for s in dev_set} & {_key(s) for s in corpus} == set()


def test_shared_ngrams_finds_exactly_the_common_runs() -> None:
    a = ["there is a 6 mm nodule in the right lower lobe"]
    b = ["a six millimeters nodule in the right lower lobe is seen"]
    # "6 mm" is compared in its spoken form, "six millimeters".
    assert shared_ngrams(a, b, 6) == {
        ("a", "six", "millimeters", "nodule", "in", "the"),
        ("six", "millimeters", "nodule", "in", "the", "right"),
        ("millimeters", "nodule", "in", "the", "right", "lower"),
        ("nodule", "in", "the", "right", "lower", "lobe"),
    }
    assert len(shared_ngrams(a, b, 9)) == 1
    assert shared_ngrams(a, b, 10) == set()
    assert len(shared_ngrams(a, b, 8)) == 2
    assert shared_ngrams(a, ["there is a six"], 6) == set()


def test_unknown_split_or_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DictationError, match="no evaluation set 'train'"):
        eval_sentences("train")
    with pytest.raises(DictationError, match="cannot read the evaluation sentences"):
        eval_sentences("test", tmp_path)
    (tmp_path / "dev.txt").write_text("# a comment\nthe lungs are clear  # trailing\n\n")
    assert eval_sentences("dev", tmp_path) == ["the lungs are clear"]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dictation_benchmark", REPO / "benchmarks" / "dictation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_reads_the_split_files(test_set: list[str], dev_set: list[str]) -> None:
    bench = _bench()
    assert list(bench.TEST_SET) == test_set
    assert list(bench.DEV_SET) == dev_set


def test_the_grown_corpus_is_what_its_generator_makes(tmp_path):
    """tools/generate_dictation_corpus.py is seeded: it regenerates the committed *_more.txt
    files byte for byte (so the corpus can be rebuilt, and reviewed as code)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            str(repo / "tools" / "generate_dictation_corpus.py"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    committed = sorted((repo / "resources" / "dictation" / "corpus").glob("*_more.txt"))
    assert len(committed) == 7
    for path in committed:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
