"""Turn dictated text into report text the way radiologists write it.

Speech engines write what was said: "three point five centimeters", "C five six", "period". This
module rewrites that into "3.5 cm", "C5-6", "." with a pipeline of small passes over tokens, each
driven by a table below (the rules are data; the passes only read the tables):

1. dictation commands and multi-word terms (``PHRASES``): punctuation words, line breaks,
   "Hounsfield units", "PET CT";
2. spoken numbers (``NUMBER_WORDS``): "one hundred and twenty" -> 120, "zero point eight" -> 0.8
   (a leading zero is always written: the Joint Commission "Do Not Use" list, ".5" is misread);
3. spinal levels (``VERTEBRAE``): "C five six" -> C5-6, "L four L five" -> L4-L5;
4. numbers after words that take one (``NUMBER_KEYWORDS``): "series three" -> series 3;
5. quantities: a number with a unit (``UNITS``), a dimension ("by") or a range is written in
   digits with the unit's abbreviation ("two by three centimeters" -> "2 x 3 cm"). A lone
   number from zero to nine stays a word ("no one", "one of the nodules"), as in AP and AMA style;
   unit words without a number stay words ("a few millimeters");
6. acronyms (``ACRONYMS``) and, when a setting asks, British or American spelling
   (``SPELLING_STEMS``);
7. spacing around punctuation, and a capital letter at each sentence start.

Text that is already written this way passes through unchanged, so normalising twice is the
same as once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from workstation.core.errors import ConfigError

__all__ = [
    "ACRONYMS",
    "NUMBER_KEYWORDS",
    "PHRASES",
    "SPELLING_STEMS",
    "UNITS",
    "VERTEBRAE",
    "Normalizer",
    "NormalizerSettings",
    "Phrase",
    "normalize",
]

Spelling = Literal["keep", "american", "british"]

# ---------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True, slots=True)
class Phrase:
    """A run of spoken words written as one token: a punctuation mark, a line break, a unit, an
    acronym. ``unless_prev``/``unless_next`` hold neighbouring words that keep the words as they
    are ("the postoperative period" is not a full stop)."""

    words: tuple[str, ...]
    output: str
    kind: Literal["punct", "break", "unit", "word"]
    unless_prev: frozenset[str] = frozenset()
    unless_next: frozenset[str] = frozenset()


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words before "period" that make it a noun ("the waiting period", "a six month period").
_PERIOD_NOUN_BEFORE = _wordset(
    "the a an this that same short long brief postoperative perioperative postpartum neonatal "
    "perinatal interval waiting latent incubation refractory washout time day days week weeks "
    "month months year years hour hours minute minutes follow-up"
)

PHRASES: tuple[Phrase, ...] = (
    # Dictation commands (the words of Dragon/PowerScribe-style dictation).
    Phrase(("new", "paragraph"), "\n\n", "break"),
    Phrase(("next", "paragraph"), "\n\n", "break"),
    Phrase(("new", "line"), "\n", "break"),
    Phrase(("next", "line"), "\n", "break"),
    Phrase(("newline",), "\n", "break"),
    Phrase(("period",), ".", "punct", _PERIOD_NOUN_BEFORE, frozenset({"of"})),
    Phrase(("full", "stop"), ".", "punct"),
    Phrase(("comma",), ",", "punct"),
    Phrase(("semicolon",), ";", "punct"),
    Phrase(("question", "mark"), "?", "punct"),
    Phrase(("open", "parenthesis"), "(", "punct"),
    Phrase(("open", "paren"), "(", "punct"),
    Phrase(("open", "bracket"), "(", "punct"),
    Phrase(("close", "parenthesis"), ")", "punct"),
    Phrase(("close", "paren"), ")", "punct"),
    Phrase(("close", "bracket"), ")", "punct"),
    Phrase(("slash",), "/", "punct"),
    # "colon" is left alone on purpose: it is an organ far more often than a mark in a report.
    # Multi-word units: abbreviated only after a number (pass 5).
    Phrase(("hounsfield", "units"), "HU", "unit"),
    Phrase(("hounsfield", "unit"), "HU", "unit"),
    Phrase(("cubic", "centimeters"), "cm³", "unit"),
    Phrase(("cubic", "centimetres"), "cm³", "unit"),
    Phrase(("cubic", "centimeter"), "cm³", "unit"),
    Phrase(("cubic", "centimetre"), "cm³", "unit"),
    Phrase(("square", "centimeters"), "cm²", "unit"),
    Phrase(("square", "centimetres"), "cm²", "unit"),
    Phrase(("square", "millimeters"), "mm²", "unit"),
    Phrase(("square", "millimetres"), "mm²", "unit"),
    Phrase(("centimeters", "per", "second"), "cm/s", "unit"),
    Phrase(("centimetres", "per", "second"), "cm/s", "unit"),
    Phrase(("millimeters", "of", "mercury"), "mmHg", "unit"),
    Phrase(("millimetres", "of", "mercury"), "mmHg", "unit"),
    Phrase(("per", "cent"), "%", "unit"),
    # Acronyms spoken letter by letter.
    Phrase(("c", "t"), "CT", "word"),
    Phrase(("m", "r", "i"), "MRI", "word"),
    Phrase(("p", "e", "t"), "PET", "word"),
    Phrase(("pet", "ct"), "PET/CT", "word"),
    Phrase(("pet", "c", "t"), "PET/CT", "word"),
    Phrase(("x", "ray"), "X-ray", "word"),
    Phrase(("x", "rays"), "X-rays", "word"),
)

# Units written after a number: spoken or written form (lower case) -> (abbreviation, glued to
# the number without a space). Abbreviations are UCUM's print symbols, except "cc", which ISMP's
# list of error-prone abbreviations says to write as mL.
UNITS: Mapping[str, tuple[str, bool]] = {
    **dict.fromkeys(
        ("millimeter", "millimeters", "millimetre", "millimetres", "mm"), ("mm", False)
    ),
    **dict.fromkeys(
        ("centimeter", "centimeters", "centimetre", "centimetres", "cm"), ("cm", False)
    ),
    **dict.fromkeys(
        ("milliliter", "milliliters", "millilitre", "millilitres", "ml", "mls", "cc", "ccs"),
        ("mL", False),
    ),
    **dict.fromkeys(("liter", "liters", "litre", "litres"), ("L", False)),
    **dict.fromkeys(("hu",), ("HU", False)),
    **dict.fromkeys(("cm³", "cm3"), ("cm³", False)),
    **dict.fromkeys(("cm²", "cm2"), ("cm²", False)),
    **dict.fromkeys(("mm²", "mm2"), ("mm²", False)),
    **dict.fromkeys(("millisievert", "millisieverts", "msv"), ("mSv", False)),
    **dict.fromkeys(("milligray", "milligrays", "mgy"), ("mGy", False)),
    **dict.fromkeys(("kilogram", "kilograms", "kg"), ("kg", False)),
    **dict.fromkeys(("milligram", "milligrams", "mg"), ("mg", False)),
    **dict.fromkeys(("mmhg",), ("mmHg", False)),
    **dict.fromkeys(("percent",), ("%", True)),
    **dict.fromkeys(("degree", "degrees"), ("°", True)),
}
_UNIT_SPELLINGS = {v[0]: v for v in UNITS.values()}  # "mL" -> ("mL", False), for phrase units

# Spoken numbers. "second", "first" and the other ordinals are not numbers here: "second
# opinion", "fourth ventricle".
_DIGITS = {
    "zero": 0,
    "nought": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000}
NUMBER_WORDS: Mapping[str, int] = {**_DIGITS, **_TEENS, **_TENS, **_SCALES}

# Two spoken numbers in a row that make a year: "nineteen ninety nine", "twenty twenty four".
_YEAR_CENTURIES = frozenset({19, 20})

# Words followed by a number written in digits even when it is small: "series 3 image 45".
NUMBER_KEYWORDS: frozenset[str] = _wordset(
    "series image images slice slices grade segment category level type stage bosniak "
    "bi-rads birads li-rads lirads lung-rads ti-rads pi-rads"
)

# Spinal levels: letter -> highest vertebra number; the level after the last of one region is
# the first of the next (C7-T1, T12-L1, L5-S1).
VERTEBRAE: Mapping[str, int] = {"C": 7, "T": 12, "L": 5, "S": 5}
_NEXT_REGION = {"C": "T", "T": "L", "L": "S"}

# Connectors inside a quantity: spoken form -> written form.
_CONNECTORS = {"by": "x", "x": "x", "to": "to", "and": "and", "or": "or", "through": "through"}

# Single words written as acronyms (lower-case key).
ACRONYMS: Mapping[str, str] = {
    w.casefold(): w
    for w in _wordset(
        "CT CTA MRI MRA MRV MRCP PET SPECT DWI ADC FLAIR SWI SUV IVC SVC CBD AP PA "
        "BI-RADS LI-RADS Lung-RADS TI-RADS PI-RADS PET/CT X-ray"
    )
}
ACRONYMS = {**ACRONYMS, "birads": "BI-RADS", "lirads": "LI-RADS", "pet-ct": "PET/CT"}

# British <-> American spelling: (American stem, British stem, endings). Every stem+ending pair is
# a whole word; nothing is changed inside other words ("hemisphere" keeps its "hem").
SPELLING_STEMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("hemorrhag", "haemorrhag", ("e", "es", "ed", "ic", "ing")),
    ("hematoma", "haematoma", ("", "s", "ta")),
    ("hemangioma", "haemangioma", ("", "s", "ta")),
    ("hemothorax", "haemothorax", ("",)),
    ("hemoperitoneum", "haemoperitoneum", ("",)),
    ("hemopericardium", "haemopericardium", ("",)),
    ("hemarthrosis", "haemarthrosis", ("",)),
    ("hemoptysis", "haemoptysis", ("",)),
    ("hematuria", "haematuria", ("",)),
    ("hemosiderin", "haemosiderin", ("",)),
    ("hemoglobin", "haemoglobin", ("",)),
    ("hemodynamic", "haemodynamic", ("", "s", "ally")),
    ("edema", "oedema", ("", "tous")),
    ("lymphedema", "lymphoedema", ("",)),
    ("esophag", "oesophag", ("us", "eal", "itis", "ectomy")),
    ("gastroesophageal", "gastro-oesophageal", ("",)),
    ("ischemi", "ischaemi", ("a", "c")),
    ("anemi", "anaemi", ("a", "c")),
    ("leukemi", "leukaemi", ("a", "c")),
    ("pediatric", "paediatric", ("", "s")),
    ("orthopedic", "orthopaedic", ("", "s")),
    ("tumor", "tumour", ("", "s")),
    ("fet", "foet", ("al", "us", "uses")),
    ("cec", "caec", ("um", "al")),
    ("dyspnea", "dyspnoea", ("",)),
    ("apnea", "apnoea", ("",)),
    ("estrogen", "oestrogen", ("", "s")),
    ("gynecolog", "gynaecolog", ("y", "ical", "ist")),
    ("center", "centre", ("", "s")),
    ("centered", "centred", ("",)),
    ("fiber", "fibre", ("", "s")),
    ("caliber", "calibre", ("",)),
    ("color", "colour", ("", "s", "ed")),
    ("localiz", "localis", ("e", "ed", "ation")),
    ("characteriz", "characteris", ("e", "ed", "ation")),
    ("visualiz", "visualis", ("e", "ed", "ation")),
)

# Tokens ending in "." that do not end a sentence.
_NON_TERMINAL = frozenset({"e.g", "i.e", "approx", "vs", "dr", "mr", "mrs", "ms", "cf"})


def _spelling_maps() -> tuple[dict[str, str], dict[str, str]]:
    to_american: dict[str, str] = {}
    to_british: dict[str, str] = {}
    for american, british, endings in SPELLING_STEMS:
        for ending in endings:
            to_british[american + ending] = british + ending
            to_american[british + ending] = american + ending
    return to_american, to_british


_TO_AMERICAN, _TO_BRITISH = _spelling_maps()


@dataclass(frozen=True, slots=True)
class NormalizerSettings:
    """Site or user choices: ``spelling`` "keep" leaves words as the engine wrote them,
    "american" or "british" rewrites the words of ``SPELLING_STEMS``."""

    spelling: Spelling = "keep"
    capitalize_sentences: bool = True
    extra_acronyms: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.spelling not in ("keep", "american", "british"):
            raise ConfigError(
                f"spelling must be 'keep', 'american' or 'british', got {self.spelling!r}"
            )


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass(slots=True)
class _Tok:
    """One token. ``text`` is what is written unless a pass rewrites it; ``low`` is what the
    tables are matched against."""

    text: str
    kind: Literal["word", "num", "punct", "break", "unit", "level"]
    low: str = ""
    # numbers
    digits: str = ""  # the number in digits
    small_word: bool = False  # one spoken word from zero to nine: may stay a word
    integer: int | None = None  # value when a whole number
    spoken_words: int = 0  # how many number words made it (0: written in digits)
    # units
    unit: str = ""
    glue_unit: bool = False
    # a word glued to the token before it with a hyphen ("45" + "-year-old")
    hyphen_before: bool = False

    def __post_init__(self) -> None:
        if not self.low:
            self.low = self.text.casefold()


_TOKEN_RE = re.compile(
    r"(?P<nl>\n)"
    r"|(?P<neg>(?<![^\s(])-\d+(?:\.\d+)?(?![^\W_]))"
    r"|(?P<dec>\d+(?:\.\d+)+)"
    r"|(?P<word>[^\W_]+(?:(?:['’\-/]|\.(?=[^\W\d_]))[^\W_]+)*)"
    r"|(?P<p>\S)"
)
_DIGITS_UNIT_RE = re.compile(r"^(\d+)([^\W\d_][^\W_]*)$")
_LEVEL_RE = re.compile(r"^([CTLScltls])(\d{1,2})$")


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        s = m.group()
        if kind == "nl":
            toks.append(_Tok("\n", "break"))
        elif kind in ("dec", "neg"):
            toks.append(_num_from_digits(s))
        elif kind == "p":
            toks.append(_Tok(s, "punct"))
        else:
            toks.extend(_split_word(s))
    return toks


def _split_word(s: str) -> list[_Tok]:
    """A word, split where it joins a number to a unit ("12mm", "12-millimeter") or spoken
    number words to each other or to more words ("forty-five-year-old")."""
    if s.isdigit():
        return [_num_from_digits(s)]
    m = _DIGITS_UNIT_RE.match(s)
    if m and m.group(2).casefold() in UNITS:
        return [_num_from_digits(m.group(1)), _Tok(m.group(2), "word")]
    if "-" in s and "/" not in s:
        parts = s.split("-")
        if len(parts) == 2 and parts[0].isdigit() and parts[1].casefold() in UNITS:
            return [_num_from_digits(parts[0]), _Tok(parts[1], "word")]
        lead = 0
        while lead < len(parts) and parts[lead].casefold() in NUMBER_WORDS:
            lead += 1
        if lead:
            out = [_Tok(p, "word") for p in parts[:lead]]
            rest = parts[lead:]
            if len(rest) == 1 and rest[0].casefold() in UNITS:
                out.append(_Tok(rest[0], "word"))  # "twelve-millimeter": a unit after a number
            elif rest:
                out.append(_Tok("-".join(rest), "word", hyphen_before=True))
            return out
    return [_Tok(s, "word")]


def _num_from_digits(s: str) -> _Tok:
    integer = int(s) if s.lstrip("-").isdigit() else None
    return _Tok(s, "num", digits=s, integer=integer)


# ---------------------------------------------------------------------------------------------
# Passes


def _phrases(toks: list[_Tok], index: Mapping[str, Sequence[Phrase]]) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        match = None
        if tok.kind == "word":
            for phrase in index.get(tok.low, ()):
                n = len(phrase.words)
                window = toks[i : i + n]
                if len(window) < n or any(
                    t.kind != "word" or t.low != w
                    for t, w in zip(window, phrase.words, strict=True)
                ):
                    continue
                prev = out[-1].low if out and out[-1].kind == "word" else ""
                nxt = toks[i + n].low if i + n < len(toks) and toks[i + n].kind == "word" else ""
                if prev in phrase.unless_prev or nxt in phrase.unless_next:
                    continue
                match = phrase
                break
        if match is None:
            out.append(tok)
            i += 1
            continue
        original = " ".join(t.text for t in toks[i : i + len(match.words)])
        if match.kind == "unit":
            abbrev, glue = _UNIT_SPELLINGS.get(match.output, (match.output, False))
            out.append(_Tok(original, "unit", unit=abbrev, glue_unit=glue))
        elif match.kind == "word":
            out.append(_Tok(match.output, "word", low=match.output.casefold()))
        else:
            out.append(_Tok(match.output, match.kind))
        i += len(match.words)
    return out


def _word_at(toks: Sequence[_Tok], j: int) -> str:
    return toks[j].low if j < len(toks) and toks[j].kind == "word" else ""


def _parse_spoken_int(toks: Sequence[_Tok], i: int) -> tuple[int, int, int] | None:
    """(value, index after it, number words used) of a spoken whole number at ``i``."""
    total = 0
    group = 0
    last = ""
    j = i
    end = -1
    words = 0
    while j < len(toks):
        w = _word_at(toks, j)
        if w == "and" and last in ("hundred", "thousand"):
            nxt = _word_at(toks, j + 1)
            if nxt in _DIGITS or nxt in _TEENS or nxt in _TENS:
                if nxt in ("zero", "nought"):
                    break
                j += 1
                continue
            break
        if w in _DIGITS:
            v = _DIGITS[w]
            if v == 0:
                if last:
                    break
                return 0, j + 1, 1
            if last == "tens" or (last == "hundred" and group % 100 == 0) or last == "thousand":
                group += v
            elif not last:
                group = v
            else:
                break
            last = "unit"
        elif w in _TEENS or w in _TENS:
            if last not in ("", "hundred", "thousand") or (last == "hundred" and group % 100):
                break
            group += _TEENS.get(w, 0) + _TENS.get(w, 0)
            last = "teen" if w in _TEENS else "tens"
        elif w == "hundred":
            if last not in ("unit", "teen") or group >= 100:
                break
            group *= 100
            last = "hundred"
        elif w == "thousand":
            if last not in ("unit", "teen", "tens", "hundred") or total:
                break
            total, group = group * 1000, 0
            last = "thousand"
        else:
            break
        words += 1
        j += 1
        end = j
    if end < 0:
        return None
    return total + group, end, words


def _digit_run(toks: Sequence[_Tok], j: int) -> tuple[str, int]:
    """Digits spoken one by one after "point": "five" "zero" -> "50"."""
    digits = ""
    while (w := _word_at(toks, j)) in _DIGITS:
        digits += str(_DIGITS[w])
        j += 1
    return digits, j


def _numbers(toks: list[_Tok]) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        start = i
        negative = False
        if tok.low == "minus" and tok.kind == "word":
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and (nxt.kind == "num" or nxt.low in NUMBER_WORDS):
                negative, i = True, i + 1
                tok = toks[i]
        parsed: tuple[str, int | None, int, int] | None = None  # digits, int, end, words
        if tok.kind == "num":
            parsed = (tok.digits, tok.integer, i + 1, 0)
        elif tok.kind == "word" and tok.low in NUMBER_WORDS:
            p = _parse_spoken_int(toks, i)
            if p is not None:
                parsed = (str(p[0]), p[0], p[1], p[2])
        elif tok.low == "point" and _word_at(toks, i + 1) in _DIGITS:
            digits, end = _digit_run(toks, i + 1)
            parsed = ("0." + digits, None, end, end - i)
        if parsed is None:
            out.append(toks[start])
            i = start + 1
            continue
        digits, integer, end, words = parsed
        if integer is not None and words:
            if _word_at(toks, end) == "point" and _word_at(toks, end + 1) in _DIGITS:
                frac, end2 = _digit_run(toks, end + 1)
                digits, integer, words, end = f"{digits}.{frac}", None, words + end2 - end, end2
            elif [_word_at(toks, end + k) for k in range(3)] == ["and", "a", "half"]:
                digits, integer, words, end = f"{digits}.5", None, words + 3, end + 3
        text = " ".join(t.text for t in toks[start:end])
        if negative:
            digits = "-" + digits
            integer = -integer if integer is not None else None
        out.append(
            _Tok(
                text,
                "num",
                digits=digits,
                integer=integer,
                spoken_words=words,
                small_word=(words == 1 and integer is not None and 0 <= integer <= 9),
            )
        )
        i = end
    return _years(out)


def _years(toks: list[_Tok]) -> list[_Tok]:
    out: list[_Tok] = []
    for tok in toks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.kind == "num"
            and tok.kind == "num"
            and prev.spoken_words == 1
            and prev.integer in _YEAR_CENTURIES
            and tok.spoken_words
            and tok.integer is not None
            and 10 <= tok.integer <= 99
        ):
            year = prev.integer * 100 + tok.integer
            out[-1] = _Tok(
                f"{prev.text} {tok.text}",
                "num",
                digits=str(year),
                integer=year,
                spoken_words=prev.spoken_words + tok.spoken_words,
            )
            continue
        out.append(tok)
    return out


def _next_level(letter: str, n: int) -> tuple[str, int] | None:
    if n < VERTEBRAE[letter]:
        return letter, n + 1
    nxt = _NEXT_REGION.get(letter)
    return (nxt, 1) if nxt else None


def _levels(toks: list[_Tok]) -> list[_Tok]:
    """Letter + number -> a spinal level; two adjacent levels -> one interspace."""
    lv: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        m = _LEVEL_RE.match(tok.text) if tok.kind == "word" else None
        if m and 1 <= int(m.group(2)) <= VERTEBRAE[m.group(1).upper()]:
            lv.append(_level_tok(tok.text, m.group(1).upper(), int(m.group(2))))
            i += 1
            continue
        if (
            tok.kind == "word"
            and tok.text.upper() in VERTEBRAE
            and len(tok.text) == 1
            and nxt is not None
            and nxt.kind == "num"
            and nxt.integer is not None
            and 1 <= nxt.integer <= VERTEBRAE[tok.text.upper()]
        ):
            lv.append(_level_tok(f"{tok.text} {nxt.text}", tok.text.upper(), nxt.integer))
            i += 2
            continue
        lv.append(tok)
        i += 1
    out: list[_Tok] = []
    for tok in lv:
        prev = out[-1] if out else None
        if prev is not None and prev.kind == "level" and "-" not in prev.digits:
            letter, n = prev.unit, prev.integer or 0
            following = _next_level(letter, n)
            if tok.kind == "num" and tok.integer is not None and following == (letter, tok.integer):
                prev.digits = f"{letter}{n}-{tok.integer}"
                prev.text = f"{prev.text} {tok.text}"
                continue
            if tok.kind == "level" and following == (tok.unit, tok.integer):
                prev.digits = f"{letter}{n}-{tok.digits}"
                prev.text = f"{prev.text} {tok.text}"
                continue
        out.append(tok)
    return out


def _level_tok(text: str, letter: str, n: int) -> _Tok:
    return _Tok(text, "level", digits=f"{letter}{n}", integer=n, unit=letter)


def _keyword_numbers(toks: list[_Tok]) -> None:
    for prev, tok in itertools.pairwise(toks):
        if tok.kind == "num" and prev.kind == "word" and prev.low in NUMBER_KEYWORDS:
            tok.small_word = False


def _as_unit(tok: _Tok) -> _Tok | None:
    if tok.kind == "unit":
        return tok
    if tok.kind == "word" and tok.low in UNITS:
        abbrev, glue = UNITS[tok.low]
        return _Tok(tok.text, "unit", unit=abbrev, glue_unit=glue)
    return None


def _quantities(toks: list[_Tok]) -> list[_Tok]:
    """Numbers with units, dimensions and ranges: convert the whole group or none of it."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        if toks[i].kind != "num":
            tok = toks[i]
            # a unit without a number before it stays the words that were said
            out.append(_Tok(tok.text, "word") if tok.kind == "unit" else tok)
            i += 1
            continue
        group: list[tuple[str, _Tok]] = [("num", toks[i])]
        j = i + 1
        while j < len(toks):
            unit = _as_unit(toks[j])
            if unit is not None and group[-1][0] == "num":
                group.append(("unit", unit))
                j += 1
                continue
            conn = toks[j].low if toks[j].kind in ("word", "punct") else ""
            if conn in _CONNECTORS and j + 1 < len(toks) and toks[j + 1].kind == "num":
                group.append(("conn", toks[j]))
                group.append(("num", toks[j + 1]))
                j += 2
                continue
            break
        convert = any(
            (kind == "num" and not t.small_word)
            or kind == "unit"
            or (kind == "conn" and _CONNECTORS[t.low] == "x")
            for kind, t in group
        )
        for kind, t in group:
            if not convert:
                out.append(t)
            elif kind == "num":
                out.append(_Tok(t.digits, "num", digits=t.digits, integer=t.integer))
            elif kind == "unit":
                out.append(_Tok(t.unit, "unit", unit=t.unit, glue_unit=t.glue_unit))
            else:
                out.append(_Tok(_CONNECTORS[t.low], "word"))
        i = j
    return out


def _words(toks: list[_Tok], settings: NormalizerSettings, acronyms: Mapping[str, str]) -> None:
    spelling = {"american": _TO_AMERICAN, "british": _TO_BRITISH}.get(settings.spelling, {})
    for tok in toks:
        if tok.kind == "level":
            tok.text = tok.digits
        elif tok.kind == "num" and tok.small_word:
            continue
        elif tok.kind == "num":
            tok.text = tok.digits
        elif tok.kind == "word":
            if tok.low in acronyms:
                tok.text = acronyms[tok.low]
            elif tok.low in spelling:
                tok.text = _same_case(tok.text, spelling[tok.low])


def _same_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


_NO_SPACE_BEFORE = frozenset(",.;:?!)%°")
_NO_SPACE_AFTER = frozenset("(")
_COLLAPSE = frozenset(".,;?")


def _render(toks: Sequence[_Tok], capitalize: bool) -> str:
    parts: list[str] = []
    sentence_start = True
    prev: _Tok | None = None
    for tok in toks:
        text = tok.text
        if tok.kind == "break":
            while parts and parts[-1] == " ":
                parts.pop()
            parts.append(text)
            sentence_start = True
            prev = tok
            continue
        space = bool(parts) and prev is not None and prev.kind != "break"
        if tok.kind == "punct" and (text in _NO_SPACE_BEFORE or text == "/"):
            space = False
        if tok.kind == "unit" and tok.glue_unit and prev is not None and prev.kind == "num":
            space = False
        if tok.hyphen_before:
            text, space = "-" + text, False
        if prev is not None and prev.kind == "punct" and prev.text in _NO_SPACE_AFTER | {"/"}:
            space = False
        collapse = tok.kind == "punct" and text in _COLLAPSE and bool(parts)
        if collapse and parts[-1] in (text, ","):
            parts.pop()  # "nodule. period" and "comma period" write one mark
            space = False
        if space:
            parts.append(" ")
        if capitalize and sentence_start and tok.kind in ("word", "num", "level"):
            text = text[:1].upper() + text[1:]
        if tok.kind in ("word", "num", "level", "unit"):
            sentence_start = False
        elif tok.kind == "punct" and text in ".?!":
            sentence_start = not (prev is not None and prev.low in _NON_TERMINAL)
        parts.append(text)
        prev = tok
    return "".join(parts).strip(" ")


# ---------------------------------------------------------------------------------------------
# Front door


class Normalizer:
    """A normaliser with its settings and tables compiled once; call it with dictated text."""

    def __init__(
        self,
        settings: NormalizerSettings | None = None,
        phrases: Iterable[Phrase] = PHRASES,
    ) -> None:
        self.settings = settings or NormalizerSettings()
        index: dict[str, list[Phrase]] = {}
        for phrase in sorted(phrases, key=lambda p: -len(p.words)):  # longest match first
            index.setdefault(phrase.words[0], []).append(phrase)
        self._phrase_index = index
        self._acronyms = dict(ACRONYMS)
        for extra in self.settings.extra_acronyms:
            self._acronyms[extra.casefold()] = extra

    def __call__(self, text: str) -> str:
        """The written form of ``text``; an empty or blank text gives ""."""
        if not isinstance(text, str):
            raise TypeError(f"normalize() takes text, got {type(text).__name__}")
        toks = _tokenize(text.replace("\r\n", "\n").replace("\r", "\n"))
        toks = _phrases(toks, self._phrase_index)
        toks = _numbers(toks)
        toks = _levels(toks)
        _keyword_numbers(toks)
        toks = _quantities(toks)
        _words(toks, self.settings, self._acronyms)
        return _render(toks, self.settings.capitalize_sentences)


_DEFAULT = Normalizer()


def normalize(text: str, settings: NormalizerSettings | None = None) -> str:
    """Rewrite dictated ``text`` as report text (numbers, units, levels, punctuation)."""
    return (_DEFAULT if settings is None else Normalizer(settings))(text)
