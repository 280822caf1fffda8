#!/usr/bin/env python3
"""Build the dictation language model from the project's radiology corpus.

Writes into ``resources/dictation/model/`` (committed, so the program needs no build step):

- ``radiology.lm``: a trigram model in ARPA format, interpolated modified Kneser-Ney
  (Chen & Goodman 1998, "An empirical study of smoothing techniques for language modeling",
  section 3.5), written in back-off form as SRILM does: a seen n-gram carries its interpolated
  probability and a context its interpolation weight as back-off weight, so the sums stay 1;
- ``radiology.dict``: pronunciations (CMU ARPAbet, no stress marks, as pocketsphinx's en-us
  model uses) of every word of the model and of the voice-command grammar: from pocketsphinx's
  cmudict where it has the word, from the overrides below, else from espeak-ng's phonemes
  (``espeak-ng -x --sep=" "``) mapped to ARPAbet;
- ``manifest.json``: counts, discounts and the corpus hash, so a test can tell a stale model.

Run from the repository root: ``.venv/bin/python tools/build_language_model.py``. Needs
pocketsphinx (for cmudict) and espeak-ng (for words cmudict lacks); nothing else.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workstation.reporting.dictation import commands, corpus  # noqa: E402

BOS, EOS = "<s>", "</s>"
ORDER = 3
GENERAL_WORDS = 2000  # everyday English words added at the unigram level
PROMPT_EVERYDAY_WORDS = 5000  # words this common are no prompt terms
GENERAL_WEIGHT = 0.03  # their share of the unigram probability

# -- Kneser-Ney --------------------------------------------------------------------------------

Ngram = tuple[str, ...]


@dataclass
class LanguageModel:
    """An n-gram model in back-off form: log10 probabilities and log10 back-off weights."""

    order: int
    logprob: dict[Ngram, float] = field(default_factory=dict)
    backoff: dict[Ngram, float] = field(default_factory=dict)
    discounts: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def prob(self, word: str, history: Sequence[str] = ()) -> float:
        """P(word | history) by the ARPA back-off rule (history most recent last)."""
        h = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        log_bow = 0.0
        while True:
            ng = (*h, word)
            if ng in self.logprob:
                return 10 ** (self.logprob[ng] + log_bow)
            if not h:
                return 0.0
            log_bow += self.backoff.get(h, 0.0)
            h = h[1:]

    @property
    def vocabulary(self) -> list[str]:
        return sorted(ng[0] for ng in self.logprob if len(ng) == 1)


def count_ngrams(sentences: Iterable[Sequence[str]], order: int = ORDER) -> list[Counter[Ngram]]:
    """Counts of n-grams of each order 1..order over sentences padded with <s> and </s>."""
    counts: list[Counter[Ngram]] = [Counter() for _ in range(order + 1)]
    for words in sentences:
        padded = [BOS, *words, EOS]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                ng = tuple(padded[i : i + n])
                if ng == (BOS,):
                    continue
                counts[n][ng] += 1
    return counts


def _discounts(counts: Mapping[Ngram, int]) -> tuple[float, float, float]:
    """D1, D2, D3+ from counts-of-counts (Chen & Goodman eq. 26), kept in a sane range when a
    small corpus leaves a count-of-count empty."""
    n = Counter(c for c in counts.values() if c <= 4)
    n1, n2, n3, n4 = (n.get(k, 0) for k in (1, 2, 3, 4))
    if n1 == 0 or n2 == 0:
        return (0.5, 1.0, 1.5)
    y = n1 / (n1 + 2 * n2)
    d1 = 1 - 2 * y * n2 / n1
    d2 = 2 - 3 * y * n3 / n2 if n2 else 1.0
    d3 = 3 - 4 * y * n4 / n3 if n3 else 1.5
    return (min(max(d1, 0.1), 0.95), min(max(d2, 0.2), 1.9), min(max(d3, 0.3), 2.9))


def kneser_ney(sentences: Iterable[Sequence[str]], order: int = ORDER) -> LanguageModel:
    """Interpolated modified Kneser-Ney estimate of an n-gram model.

    The highest order uses raw counts; lower orders use continuation counts (the number of
    distinct words seen before the n-gram), except n-grams that begin with <s>, which nothing
    can precede, and which keep raw counts (as KenLM does).
    """
    raw = count_ngrams(sentences, order)
    # The counts each order is estimated from.
    used: list[Counter[Ngram]] = [Counter() for _ in range(order + 1)]
    used[order] = raw[order]
    for n in range(1, order):
        cont: Counter[Ngram] = Counter()
        for ng in raw[n + 1]:
            cont[ng[1:]] += 1
        for ng, c in raw[n].items():
            used[n][ng] = c if ng[0] == BOS else cont.get(ng, 0)
        for ng in list(used[n]):
            if used[n][ng] == 0:  # only seen at a sentence start: keep its raw count
                used[n][ng] = raw[n][ng]
    lm = LanguageModel(order)
    vocab = sorted({ng[0] for ng in raw[1]} | {BOS})
    uniform = 1.0 / (len(vocab) - 1)  # <s> is never predicted
    interp: dict[Ngram, float] = {}
    for n in range(1, order + 1):
        d = _discounts(used[n])
        lm.discounts[n] = d
        total: Counter[Ngram] = Counter()
        kinds: dict[Ngram, list[int]] = defaultdict(lambda: [0, 0, 0])
        for ng, c in used[n].items():
            h = ng[:-1]
            total[h] += c
            kinds[h][min(c, 3) - 1] += 1
        gamma: dict[Ngram, float] = {}
        for h, t in total.items():
            k = kinds[h]
            gamma[h] = (d[0] * k[0] + d[1] * k[1] + d[2] * k[2]) / t
        for ng, c in used[n].items():
            h = ng[:-1]
            lower = uniform if n == 1 else interp[ng[1:]]
            p = (c - d[min(c, 3) - 1]) / total[h] + gamma[h] * lower
            interp[ng] = p
        for h, g in gamma.items():
            if h:
                lm.backoff[h] = math.log10(g)
    for ng, p in interp.items():
        lm.logprob[ng] = math.log10(p)
    lm.logprob[(BOS,)] = -99.0
    return lm


def mix_unigrams(lm: LanguageModel, general: Mapping[str, float], weight: float) -> None:
    """Interpolate the unigram level with a general-English distribution (``general`` sums to
    1): P(w) = (1 - weight) P_domain(w) + weight P_general(w). Words of everyday English that the
    corpus lacks ("few", "year") become possible, at a low probability; the unigrams still sum
    to 1, so the back-off weights of the higher orders stay valid."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight must be in [0, 1), got {weight}")
    words = {ng[0] for ng in lm.logprob if len(ng) == 1} | set(general)
    for w in words:
        if w == BOS:
            continue
        domain = 10 ** lm.logprob[(w,)] if (w,) in lm.logprob else 0.0
        lm.logprob[(w,)] = math.log10((1 - weight) * domain + weight * general.get(w, 0.0))


def general_unigrams(cmudict: Mapping[str, list[str]], size: int) -> dict[str, float]:
    """The ``size`` most frequent words of pocketsphinx's general US English model that have a
    pronunciation, with their unigram probabilities renormalised to sum to 1."""
    import pocketsphinx

    logmath = pocketsphinx.LogMath()
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us.lm.bin"
    model = pocketsphinx.NGramModel(pocketsphinx.Config(logfn=os.devnull), logmath, str(path))
    scored = []
    for w in cmudict:
        if (w.isalpha() and w.islower() and len(w) > 1) or w in ("a", "i"):
            scored.append((logmath.exp(model.prob([w])), w))
    scored.sort(reverse=True)
    top = scored[:size]
    total = sum(p for p, _ in top)
    return {w: p / total for p, w in top}


def write_arpa(lm: LanguageModel, path: Path) -> None:
    """The model as an ARPA text file (n-grams sorted, so the file is reproducible)."""
    by_order: dict[int, list[Ngram]] = defaultdict(list)
    for ng in lm.logprob:
        by_order[len(ng)].append(ng)
    lines = ["", "\\data\\"]
    for n in range(1, lm.order + 1):
        lines.append(f"ngram {n}={len(by_order[n])}")
    for n in range(1, lm.order + 1):
        lines.append("")
        lines.append(f"\\{n}-grams:")
        for ng in sorted(by_order[n]):
            entry = f"{lm.logprob[ng]:.6f}\t{' '.join(ng)}"
            if n < lm.order and ng in lm.backoff:
                entry += f"\t{lm.backoff[ng]:.6f}"
            lines.append(entry)
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def read_arpa(path: Path) -> LanguageModel:
    """An ARPA file back into a LanguageModel (for tests and perplexity checks)."""
    lm = LanguageModel(0)
    n = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line in ("\\data\\", "\\end\\") or line.startswith("ngram "):
            continue
        if line.startswith("\\") and line.endswith("-grams:"):
            n = int(line[1:].split("-")[0])
            lm.order = max(lm.order, n)
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if "\t" in line:
            words = tuple(parts[1].split())
            bow = parts[2] if len(parts) > 2 else None
        else:
            words = tuple(parts[1 : 1 + n])
            bow = parts[1 + n] if len(parts) > 1 + n else None
        lm.logprob[words] = float(parts[0])
        if bow is not None:
            lm.backoff[words] = float(bow)
    return lm


def perplexity(lm: LanguageModel, sentences: Iterable[Sequence[str]]) -> tuple[float, int]:
    """Perplexity over sentences (with </s>), and how many words were out of vocabulary
    (left out of the perplexity, as SRILM does)."""
    total, words, oov = 0.0, 0, 0
    for sent in sentences:
        history = [BOS]
        for w in [*sent, EOS]:
            p = lm.prob(w, history)
            if p <= 0:
                oov += 1
                history = [BOS]
                continue
            total += math.log10(p)
            words += 1
            history.append(w)
    return (10 ** (-total / words) if words else math.inf), oov


# -- pronunciations ----------------------------------------------------------------------------

# espeak-ng's English phonemes (docs/phonemes.md) -> CMU ARPAbet.
ESPEAK_TO_ARPABET: Mapping[str, tuple[str, ...]] = {
    "a": ("AE",),
    "a#": ("AH",),
    "aa": ("AA",),
    "A:": ("AA",),
    "A@": ("AA", "R"),
    "A": ("AA",),
    "@": ("AH",),
    "@-": ("AH",),
    "@2": ("AH",),
    "@5": ("AH",),
    "@L": ("AH", "L"),
    "3": ("ER",),
    "3:": ("ER",),
    "E": ("EH",),
    "E2": ("EH",),
    "e": ("EH",),
    "e@": ("EH", "R"),
    "eI": ("EY",),
    "I": ("IH",),
    "I2": ("IH",),
    "I#": ("IH",),
    "i": ("IY",),
    "i:": ("IY",),
    "i@": ("IY", "AH"),
    "i@3": ("IH", "R"),
    "0": ("AA",),
    "O": ("AO",),
    "O:": ("AO",),
    "O2": ("AO",),
    "O@": ("AO", "R"),
    "o@": ("AO", "R"),
    "oU": ("OW",),
    "OI": ("OY",),
    "U": ("UH",),
    "u:": ("UW",),
    "U@": ("UH", "R"),
    "V": ("AH",),
    "aI": ("AY",),
    "aI@": ("AY", "ER"),
    "aI3": ("AY", "ER"),
    "aU": ("AW",),
    "aU@": ("AW", "ER"),
    "p": ("P",),
    "b": ("B",),
    "t": ("T",),
    "t#": ("T",),
    "d": ("D",),
    "k": ("K",),
    "g": ("G",),
    "f": ("F",),
    "v": ("V",),
    "T": ("TH",),
    "D": ("DH",),
    "s": ("S",),
    "z": ("Z",),
    "S": ("SH",),
    "Z": ("ZH",),
    "h": ("HH",),
    "m": ("M",),
    "n": ("N",),
    "n-": ("N",),
    "N": ("NG",),
    "l": ("L",),
    "l-": ("L",),
    "r": ("R",),
    "r-": ("R",),
    "w": ("W",),
    "j": ("Y",),
    "tS": ("CH",),
    "dZ": ("JH",),
    "x": ("K",),
    "?": ("T",),
}

# Words whose pronunciation neither cmudict nor espeak-ng gets right for radiology.
OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "ct": ("S IY T IY",),
    "cta": ("S IY T IY EY",),
    "mri": ("EH M AA R AY",),
    "mra": ("EH M AA R EY",),
    "mrcp": ("EH M AA R S IY P IY",),
    "suv": ("EH S Y UW V IY",),
    "ivc": ("AY V IY S IY",),
    "svc": ("EH S V IY S IY",),
    "cbd": ("S IY B IY D IY",),
    "dwi": ("D IY D AH B AH L Y UW AY",),
    "adc": ("EY D IY S IY",),
    "swi": ("EH S D AH B AH L Y UW AY",),
    "ap": ("EY P IY",),
    "pa": ("P IY EY",),
    "pet": ("P EH T",),
    "flair": ("F L EH R",),
    "atelectasis": ("AE T AH L EH K T AH S IH S",),
    "atelectatic": ("AE T AH L EH K T AE T IH K",),
    "bibasilar": ("B AY B EY S AH L ER",),
    "hounsfield": ("HH AW N Z F IY L D",),
    "subcentimeter": ("S AH B S EH N T AH M IY T ER",),
    "millimeter": ("M IH L AH M IY T ER",),
    "millimeters": ("M IH L AH M IY T ER Z",),
    "centimeter": ("S EH N T AH M IY T ER",),
    "centimeters": ("S EH N T AH M IY T ER Z",),
}
_STRESS = str.maketrans("", "", "',;%=")


def espeak_to_arpabet(phonemes: str) -> tuple[str, ...] | None:
    """espeak-ng ``-x --sep=" "`` output -> ARPAbet phones, or None when a phoneme is unknown."""
    out: list[str] = []
    for raw in phonemes.split():
        ph = raw.translate(_STRESS)
        if not ph or ph.startswith("_") or ph == "||" or ph == "|":
            continue
        mapped = ESPEAK_TO_ARPABET.get(ph)
        if mapped is None:
            return None
        for phone in mapped:
            if not out or out[-1] != phone:  # "U@ r" gives R twice: say it once
                out.append(phone)
    return tuple(out) or None


def espeak_pronunciations(words: Sequence[str], voice: str = "en-us") -> dict[str, str]:
    """ARPAbet pronunciations of ``words`` from espeak-ng (one process, one word a line)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed: apt-get install espeak-ng")
    if not words:
        return {}
    proc = subprocess.run(
        [exe, "-v", voice, "-q", "-x", "--sep= "],
        input="\n".join(f"{w}." for w in words),  # a full stop keeps each word on its own line
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if len(lines) != len(words):
        # Fall back to one call per word when espeak-ng joined or split lines.
        lines = []
        for w in words:
            r = subprocess.run(
                [exe, "-v", voice, "-q", "-x", "--sep= ", w],
                capture_output=True,
                text=True,
                check=True,
            )
            lines.append(r.stdout.strip())
    out: dict[str, str] = {}
    for w, line in zip(words, lines, strict=True):
        phones = espeak_to_arpabet(line)
        if phones:
            out[w] = " ".join(phones)
    return out


def read_cmudict(path: Path) -> dict[str, list[str]]:
    """pocketsphinx's cmudict: word -> its pronunciations (variants "word(2)" folded in)."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        word = parts[0].split("(")[0]
        out[word].append(" ".join(parts[1:]))
    return out


def pronunciations(words: Iterable[str], cmudict: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Every word's pronunciations: overrides, else cmudict, else espeak-ng."""
    wanted = sorted(set(words))
    out: dict[str, list[str]] = {}
    missing = []
    for w in wanted:
        if w in OVERRIDES:
            out[w] = list(OVERRIDES[w])
        elif w in cmudict:
            out[w] = list(cmudict[w])
        else:
            missing.append(w)
    for w, pron in espeak_pronunciations(missing).items():
        out[w] = [pron]
    return out


def write_dict(prons: Mapping[str, list[str]], path: Path) -> None:
    lines = []
    for w in sorted(prons):
        for i, p in enumerate(prons[w]):
            lines.append(f"{w if i == 0 else f'{w}({i + 1})'} {p}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- main --------------------------------------------------------------------------------------


def build(
    out_dir: Path, corpus_folder: Path | None = None, general_words: int = GENERAL_WORDS
) -> dict[str, object]:
    """Build the model files into ``out_dir``; returns the manifest."""
    import pocketsphinx

    sentences = corpus.corpus_sentences(corpus_folder)
    tokenized = [s.split() for s in sentences]
    cmu = read_cmudict(Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict")
    domain_vocab = sorted({w for s in tokenized for w in s})
    grammar_words = commands.grammar_words()
    prons = pronunciations([*domain_vocab, *grammar_words], cmu)
    unpronounced = sorted(set(domain_vocab) - set(prons))
    if unpronounced:
        # A word without a pronunciation cannot be in the model: pocketsphinx would refuse it.
        print(f"dropping {len(unpronounced)} words without a pronunciation: {unpronounced}")
        tokenized = [[w for w in s if w in prons] for s in tokenized]
    lm = kneser_ney(tokenized)
    general = general_unigrams(cmu, general_words) if general_words else {}
    if general:
        mix_unigrams(lm, general, GENERAL_WEIGHT)
        for w in general:
            prons.setdefault(w, list(cmu[w]))
    vocab = [w for w in lm.vocabulary if w not in (BOS, EOS)]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_arpa(lm, out_dir / "radiology.lm")
    write_dict(prons, out_dir / "radiology.dict")
    from_espeak = sorted(w for w in prons if w not in cmu and w not in OVERRIDES)
    # The corpus's words by frequency: candidates for correcting another engine's misspellings,
    # and (those that everyday English lacks) the terms of the Whisper prompt.
    counts = Counter(w for s in tokenized for w in s)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    everyday = set(general_unigrams(cmu, PROMPT_EVERYDAY_WORDS))
    terms = [w for w in ranked if w not in everyday and len(w) > 3]
    (out_dir / "domain_vocabulary.txt").write_text("\n".join(ranked) + "\n", encoding="utf-8")
    (out_dir / "prompt_terms.txt").write_text("\n".join(terms) + "\n", encoding="utf-8")
    manifest: dict[str, object] = {
        "format": 1,
        "corpus_sha256": corpus.corpus_hash(sentences),
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in tokenized),
        "vocabulary": len(vocab),
        "domain_vocabulary": len(domain_vocab),
        "general_words": len(general),
        "general_weight": GENERAL_WEIGHT if general else 0.0,
        "ngrams": {str(n): sum(1 for ng in lm.logprob if len(ng) == n) for n in (1, 2, 3)},
        "discounts": {str(n): [round(x, 4) for x in d] for n, d in lm.discounts.items()},
        "pronunciations_from_espeak": from_espeak,
        "smoothing": "interpolated modified Kneser-Ney",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=corpus.model_dir(), help="output folder")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (*.txt)")
    parser.add_argument(
        "--general-words", type=int, default=GENERAL_WORDS, help="everyday English words added"
    )
    args = parser.parse_args(argv)
    m = build(args.out, args.corpus, args.general_words)
    print(
        f"{m['sentences']} sentences, {m['tokens']} words, vocabulary {m['vocabulary']}, "
        f"n-grams {m['ngrams']}, {len(m['pronunciations_from_espeak'])} pronunciations from "
        f"espeak-ng -> {args.out}"  # type: ignore[arg-type]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
