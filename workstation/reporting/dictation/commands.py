"""Voice commands: the words that move through a report instead of being written into it.

One grammar, two forms: ``jsgf()`` for pocketsphinx's grammar search (a closed set, so it is
recognised far more reliably than free dictation), and ``match_command()``, a small pure matcher
for the text any engine returns (Whisper writes "Next field." or "12 mm"). Commands:

- actions: "next field", "previous field", "insert normal", "scratch that", "new paragraph";
- values: a spoken number with an optional unit ("twelve millimeters", "three point five
  centimeters", "forty hounsfield units", "zero point eight"), to fill a number or measurement
  field; units are UCUM codes as the templates use them.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workstation.reporting.dictation.corpus import spoken_tokens

__all__ = [
    "ACTION_PHRASES",
    "UNIT_WORDS",
    "Action",
    "Command",
    "grammar_words",
    "jsgf",
    "match_command",
    "parse_value",
    "split_commands",
]


class Action(enum.Enum):
    """What a voice command does in the report editor."""

    NEXT_FIELD = "next_field"
    PREVIOUS_FIELD = "previous_field"
    INSERT_NORMAL = "insert_normal"
    SCRATCH_THAT = "scratch_that"
    NEW_PARAGRAPH = "new_paragraph"
    VALUE = "value"


# Spoken forms of each action, the first being the one the grammar documents.
ACTION_PHRASES: Mapping[Action, tuple[str, ...]] = {
    Action.NEXT_FIELD: ("next field",),
    Action.PREVIOUS_FIELD: ("previous field",),
    Action.INSERT_NORMAL: ("insert normal",),
    Action.SCRATCH_THAT: ("scratch that",),
    Action.NEW_PARAGRAPH: ("new paragraph",),
}

# Spoken unit -> UCUM code (the codes of templates.UCUM_UNITS).
UNIT_WORDS: Mapping[str, str] = {
    "millimeter": "mm",
    "millimeters": "mm",
    "centimeter": "cm",
    "centimeters": "cm",
    "milliliter": "mL",
    "milliliters": "mL",
    "cubic centimeters": "cm3",
    "hounsfield units": "[hnsf'U]",
    "hounsfield unit": "[hnsf'U]",
    "percent": "%",
    "degrees": "deg",
}
_UNIT_TEXT = {"mm": "mm", "cm": "cm", "mL": "mL", "cm3": "cm³", "[hnsf'U]": "HU", "%": "%"}
_UNIT_TEXT["deg"] = "°"

_DIGIT = dict(
    zip(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
        range(10),
        strict=True,
    )
)
_TEEN = dict(
    zip(
        [
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
        ],
        range(10, 20),
        strict=True,
    )
)
_TENS = dict(
    zip(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"],
        range(20, 100, 10),
        strict=True,
    )
)
_FUZZY_CUTOFF = 0.8  # characters in common, as difflib counts them, for an action to match


@dataclass(frozen=True, slots=True)
class Command:
    """A recognised voice command: an action, or a value with its UCUM unit ("" for none)."""

    action: Action
    value: float | None = None
    unit: str = ""

    @property
    def text(self) -> str:
        """How a value is written into a field ("12 mm", "3.5 cm", "25%")."""
        if self.value is None:
            return ""
        number = f"{self.value:g}"
        unit = _UNIT_TEXT.get(self.unit, self.unit)
        if not unit:
            return number
        return f"{number}{unit}" if unit in ("%", "°") else f"{number} {unit}"

    def __str__(self) -> str:
        return f"{self.action.value} {self.text}".strip()


# -- the grammar -------------------------------------------------------------------------------


def jsgf() -> str:
    """The command grammar in JSGF (Java Speech Grammar Format 1.0), for pocketsphinx."""
    actions = " | ".join(p for phrases in ACTION_PHRASES.values() for p in phrases)
    units = " | ".join(UNIT_WORDS)
    digits = " | ".join(_DIGIT)
    nonzero = " | ".join(list(_DIGIT)[1:])
    teens = " | ".join(_TEEN)
    tens = " | ".join(_TENS)
    return f"""#JSGF V1.0;
grammar commands;
public <command> = <action> | <quantity>;
<action> = {actions};
<quantity> = <number> [<unit>];
<number> = <integer> [point <digit>+];
<integer> = <digit> | <below100> | <nonzero> hundred [<below100> | <nonzero>];
<below100> = <teen> | <tens> [<nonzero>];
<digit> = {digits};
<nonzero> = {nonzero};
<teen> = {teens};
<tens> = {tens};
<unit> = {units};
"""


def grammar_words() -> list[str]:
    """Every word the grammar uses (each needs a pronunciation in the dictionary)."""
    words: set[str] = {"point", "hundred", *_DIGIT, *_TEEN, *_TENS}
    for phrases in ACTION_PHRASES.values():
        for p in phrases:
            words.update(p.split())
    for u in UNIT_WORDS:
        words.update(u.split())
    return sorted(words)


# -- the matcher -------------------------------------------------------------------------------


def _parse_integer(words: Sequence[str]) -> tuple[int, int] | None:
    """A spoken whole number below 1000 at the start of ``words``: (value, words used)."""
    i, value = 0, 0
    if i < len(words) and words[i] in _DIGIT and i + 1 < len(words) and words[i + 1] == "hundred":
        value = 100 * _DIGIT[words[i]]
        i += 2
        if i < len(words) and words[i] == "and":
            i += 1
    start_rest = i
    if i < len(words) and words[i] in _TEEN:
        value += _TEEN[words[i]]
        i += 1
    elif i < len(words) and words[i] in _TENS:
        value += _TENS[words[i]]
        i += 1
        if i < len(words) and words[i] in _DIGIT and words[i] != "zero":
            value += _DIGIT[words[i]]
            i += 1
    elif i < len(words) and words[i] in _DIGIT:
        value += _DIGIT[words[i]]
        i += 1
    if i == 0:
        return None
    if start_rest == i and words[i - 1] == "and":
        return None
    return value, i


def parse_value(text: str) -> Command | None:
    """A whole utterance that is a number with an optional unit, as a VALUE command."""
    words = spoken_tokens(text)
    if not words:
        return None
    parsed = _parse_integer(words)
    if parsed is None:
        if words[0] != "point":
            return None
        value, i = 0.0, 0
    else:
        value, i = float(parsed[0]), parsed[1]
    if i < len(words) and words[i] == "point":
        digits = []
        i += 1
        while i < len(words) and words[i] in _DIGIT:
            digits.append(str(_DIGIT[words[i]]))
            i += 1
        if not digits:
            return None
        value = float(f"{int(value)}.{''.join(digits)}")
    rest = " ".join(words[i:])
    if rest and rest not in UNIT_WORDS:
        return None
    return Command(Action.VALUE, value, UNIT_WORDS.get(rest, ""))


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.casefold()))


def match_command(text: str) -> Command | None:
    """The command an utterance says, or None when it is no command.

    Actions match as whole utterances, exactly or nearly (an engine's "next feel" is still
    "next field"); values must parse exactly (a wrong number is worse than none).
    """
    value = parse_value(text)
    if value is not None:
        return value
    said = _words(text)
    if not said:
        return None
    best: tuple[float, Action] | None = None
    for action, phrases in ACTION_PHRASES.items():
        for phrase in phrases:
            if said == phrase:
                return Command(action)
            ratio = difflib.SequenceMatcher(None, said, phrase).ratio()
            if ratio >= _FUZZY_CUTOFF and (best is None or ratio > best[0]):
                best = (ratio, action)
    return Command(best[1]) if best else None


def split_commands(text: str) -> list[str | Command]:
    """Dictated text with the action phrases said inside it taken out as commands:
    "no bleed next field normal" -> ["no bleed", Command(NEXT_FIELD), "normal"]."""
    words = text.split()
    low = [re.sub(r"[^a-z]", "", w.casefold()) for w in words]
    index = {tuple(p.split()): a for a, ps in ACTION_PHRASES.items() for p in ps}
    out: list[str | Command] = []
    pending: list[str] = []
    i = 0
    while i < len(words):
        for phrase, action in index.items():
            if tuple(low[i : i + len(phrase)]) == phrase:
                if pending:
                    out.append(" ".join(pending))
                    pending = []
                out.append(Command(action))
                i += len(phrase)
                break
        else:
            pending.append(words[i])
            i += 1
    if pending:
        out.append(" ".join(pending))
    return out
