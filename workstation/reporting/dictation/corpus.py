"""The radiology text the dictation language model is built from, and how dictation is scored.

The corpus is the project's own: ``resources/dictation/corpus/*.txt`` (one sentence a line, in
spoken form: "a three point five centimeter mass", "c t"; ``#`` starts a comment), plus every
report template's normal texts, choices and ``vocabulary`` terms (``resources/templates``),
turned into spoken form by ``to_spoken``. ``tools/build_language_model.py`` builds the trigram
model and the pronunciation dictionary from it into ``resources/dictation/model``.

Scoring: the word error rate (Levenshtein distance over words, divided by the reference's word
count) between the normalised written forms of reference and hypothesis, so "twelve millimeters"
and "12 mm" are the same two words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workstation.core.paths import resource_path
from workstation.reporting.dictation import DictationError
from workstation.reporting.normalize import Normalizer, NormalizerSettings
from workstation.reporting.templates import FieldKind, Template, load_builtin_templates

__all__ = [
    "WordErrors",
    "corpus_dir",
    "corpus_files",
    "corpus_hash",
    "corpus_sentences",
    "domain_vocabulary",
    "eval_dir",
    "eval_sentences",
    "join_terms",
    "model_dir",
    "number_words",
    "prompt_terms",
    "prompt_text",
    "scoring_words",
    "shared_ngrams",
    "spoken_tokens",
    "template_sentences",
    "to_spoken",
    "word_error_rate",
]


def _resource_dir(*parts: str) -> Path:
    return resource_path(*parts)


def corpus_dir() -> Path:
    """resources/dictation/corpus: the project's radiology sentences."""
    return _resource_dir("dictation", "corpus")


def model_dir() -> Path:
    """resources/dictation/model: the built language model and dictionary (committed)."""
    return _resource_dir("dictation", "model")


def eval_dir() -> Path:
    """resources/dictation/eval: the benchmark's sentences, ``dev.txt`` (tuning may look at
    them) and ``test.txt`` (held out: nothing is chosen on them); never part of the corpus."""
    return _resource_dir("dictation", "eval")


EVAL_SPLITS = ("dev", "test")


def eval_sentences(split: str, folder: Path | None = None) -> list[str]:
    """The ``dev`` or ``test`` sentences, in the words a radiologist says, file order."""
    if split not in EVAL_SPLITS:
        raise DictationError(f"no evaluation set {split!r}: choose one of {', '.join(EVAL_SPLITS)}")
    path = (folder or eval_dir()) / f"{split}.txt"
    try:
        return _read_lines(path)
    except OSError as exc:
        raise DictationError(f"cannot read the evaluation sentences {path}: {exc}") from exc


def shared_ngrams(a: Iterable[str], b: Iterable[str], n: int = 6) -> set[tuple[str, ...]]:
    """The word n-grams (spoken form) that a sentence of ``a`` and a sentence of ``b`` share:
    a held-out sentence that shares a long one with the corpus is not really held out."""

    def grams(sentences: Iterable[str]) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        for s in sentences:
            w = spoken_tokens(s)
            out.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
        return out

    return grams(a) & grams(b)


def corpus_files(folder: Path | None = None) -> list[Path]:
    """The corpus files in a stable order."""
    return sorted((folder or corpus_dir()).glob("*.txt"))


# -- spoken form -------------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """A whole number from 0 to 9999 as it is said: 45 -> "forty five"."""
    if not 0 <= n <= 9999:
        raise ValueError(f"number_words() takes 0 to 9999, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def _decimal_words(text: str) -> str:
    whole, _, frac = text.partition(".")
    out = number_words(int(whole))
    if frac:
        out += " point " + " ".join(_ONES[int(d)] for d in frac)
    return out


# Written abbreviations -> spoken words (after a number, or anywhere for the unambiguous ones).
_SPOKEN_UNITS = {
    "mm": "millimeters",
    "cm": "centimeters",
    "ml": "milliliters",
    "hu": "hounsfield units",
    "%": "percent",
    "°": "degrees",
    "cm³": "cubic centimeters",
    "cm²": "square centimeters",
    "mm²": "square millimeters",
    "msv": "millisieverts",
    "mgy": "milligray",
    "mg": "milligrams",
    "kg": "kilograms",
    "cm/s": "centimeters per second",
    "mmhg": "millimeters of mercury",
}
_TOKEN = re.compile(r"\d+(?:\.\d+)?|cm³|cm²|mm²|cm/s|[a-z]+(?:'[a-z]+)?|[%°]")


def spoken_tokens(text: str) -> list[str]:
    """Text (written or spoken form) as the words a radiologist says, lower case, without
    punctuation: "A 3.5 x 2 cm mass at C5-C6." -> a three point five by two centimeters mass
    at c five c six."""
    low = text.casefold().replace("’", "'")
    # Hyphens and slashes join words that are said apart ("gray-white", "PET/CT");
    # "x" between numbers is said "by".
    low = re.sub(r"(?<=\d)\s*x\s*(?=\d)", " by ", low)
    low = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z%°])", " ", low)
    low = re.sub(r"[-/](?!s\b)", " ", low.replace("cm/s", " cm/s "))
    out: list[str] = []
    prev_number = False
    for tok in _TOKEN.findall(low):
        if tok[0].isdigit():
            out.append(_decimal_words(tok) if "." in tok else number_words(int(tok)))
            prev_number = True
            continue
        if tok in _SPOKEN_UNITS and (prev_number or tok in ("%", "°", "cm³", "cm²", "mm²")):
            out.append(_SPOKEN_UNITS[tok])
        else:
            out.append(tok)
        prev_number = False
    return " ".join(out).split()


def to_spoken(text: str) -> str:
    """``spoken_tokens`` joined by spaces."""
    return " ".join(spoken_tokens(text))


# -- the corpus --------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def template_sentences(templates: Iterable[Template] | None = None) -> list[str]:
    """Sentences of the report templates in spoken form: section normal texts, field normal
    texts and choices, labels, and each vocabulary term on its own."""
    found = list(load_builtin_templates() if templates is None else templates)
    texts: list[str] = []
    for t in found:
        for section in t.sections:
            if section.normal:
                texts.extend(re.split(r"(?<=[.!?])\s+", section.normal))
            for f in section.fields:
                texts.append(f.label)
                if isinstance(f.normal, str) and f.kind is FieldKind.TEXT:
                    texts.extend(re.split(r"(?<=[.!?])\s+", f.normal))
                if f.kind is FieldKind.CHOICE:
                    texts.extend(f.choices)
        texts.extend(t.vocabulary)
    return [s for s in (to_spoken(x) for x in texts) if s]


def corpus_sentences(
    folder: Path | None = None, templates: Iterable[Template] | None = None
) -> list[str]:
    """Every corpus sentence in spoken form: the corpus files, then the templates' texts."""
    out: list[str] = []
    for path in corpus_files(folder):
        out.extend(s for s in (to_spoken(x) for x in _read_lines(path)) if s)
    out.extend(template_sentences(templates))
    return out


def corpus_hash(sentences: Sequence[str]) -> str:
    """SHA-256 of the sentences, recorded with the built model to tell when it is stale."""
    return hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()


def prompt_text(templates: Iterable[Template] = (), max_chars: int = 800) -> str:
    """A short text of domain terms to prime an engine that takes a prompt (Whisper's
    ``initial_prompt``, which keeps only its last 223 tokens): the templates' vocabulary in
    turn, one term from each template at a time, so every body region is in it."""
    lists = [list(t.vocabulary) for t in templates]
    terms: dict[str, None] = {}
    for i in range(max((len(v) for v in lists), default=0)):
        for v in lists:
            if i < len(v):
                terms.setdefault(v[i].strip(), None)
    return join_terms(terms, max_chars)


def _model_words(name: str, folder: Path | None) -> list[str]:
    path = (folder or model_dir()) / name
    try:
        return path.read_text(encoding="utf-8").split()
    except OSError:
        return []


def domain_vocabulary(folder: Path | None = None) -> list[str]:
    """Every word of the corpus, most frequent first (built with the model); [] without one."""
    return _model_words("domain_vocabulary.txt", folder)


def prompt_terms(folder: Path | None = None) -> list[str]:
    """The corpus's words that everyday English lacks, most frequent first: the radiology terms
    an engine with a prompt is primed with."""
    return _model_words("prompt_terms.txt", folder)


def join_terms(terms: Iterable[str], max_chars: int) -> str:
    """Terms as one comma-separated sentence of at most ``max_chars`` characters."""
    text = ""
    for term in terms:
        if len(text) + len(term) + 3 > max_chars:
            break
        text = f"{text}, {term}" if text else term
    return f"{text}." if text else ""


# -- scoring -----------------------------------------------------------------------------------

_SCORING = Normalizer(NormalizerSettings(spelling="american", capitalize_sentences=False))
_SCORE_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W_]+(?:'[^\W_]+)?|[%°³²]")
# Spellings both engines and writers use for the same word.
_SAME_WORD = {"grey": "gray", "disk": "disc", "disks": "discs", "x-ray": "xray"}


def scoring_words(text: str) -> list[str]:
    """The words that a word error rate counts: the normalised written form, lower case,
    without punctuation; hyphenated and slashed words count as their parts."""
    written = _SCORING(text).casefold()
    words = _SCORE_TOKEN.findall(written.replace("-", " ").replace("/", " "))
    return [_SAME_WORD.get(w, w) for w in words]


@dataclass(frozen=True, slots=True)
class WordErrors:
    """Edit operations between a reference and a hypothesis, in words."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / self.reference_words if self.reference_words else float(self.errors)

    def __add__(self, other: WordErrors) -> WordErrors:
        return WordErrors(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_words + other.reference_words,
        )


def word_error_rate(reference: str, hypothesis: str) -> WordErrors:
    """Word errors of ``hypothesis`` against ``reference`` (both normalised first)."""
    ref, hyp = scoring_words(reference), scoring_words(hypothesis)
    # cost, substitutions, deletions, insertions for each prefix of ref against hyp[:j]
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            d, s, de, ins = prev[j - 1]
            diag = (d, s, de, ins) if ref[i - 1] == hyp[j - 1] else (d + 1, s + 1, de, ins)
            up = prev[j]
            left = cur[j - 1]
            cur.append(
                min(
                    diag,
                    (up[0] + 1, up[1], up[2] + 1, up[3]),
                    (left[0] + 1, left[1], left[2], left[3] + 1),
                )
            )
        prev = cur
    _, s, de, ins = prev[-1]
    return WordErrors(s, de, ins, len(ref))
