"""The dictation text normaliser: exact input -> output pairs, negatives that must not change,
spelling settings, and that normalising twice gives the same text as once."""

from __future__ import annotations

import pytest

from workstation.core.errors import ConfigError
from workstation.reporting.normalize import (
    ACRONYMS,
    NUMBER_WORDS,
    SPELLING_STEMS,
    UNITS,
    Normalizer,
    NormalizerSettings,
    normalize,
)

# (dictated, written) with the default settings (spelling kept, sentences capitalised).
CASES: list[tuple[str, str]] = [
    # spoken numbers with units
    ("twelve millimeters", "12 mm"),
    ("three point five centimeters", "3.5 cm"),
    ("one hundred and twenty", "120"),
    ("zero point eight", "0.8"),
    ("point five centimeters", "0.5 cm"),
    ("nought point five millimetres", "0.5 mm"),
    ("one hundred twenty three", "123"),
    ("two thousand and five", "2005"),
    ("two and a half centimeters", "2.5 cm"),
    ("one millimeter", "1 mm"),
    ("twenty-five millimeters", "25 mm"),
    ("a 12-millimeter nodule", "A 12 mm nodule"),
    ("12mm nodule", "12 mm nodule"),
    ("measuring 3.5 centimetres", "Measuring 3.5 cm"),
    ("forty milliliters of fluid", "40 mL of fluid"),
    ("twenty cc", "20 mL"),
    ("density of forty hounsfield units", "Density of 40 HU"),
    ("measuring minus ten Hounsfield units", "Measuring -10 HU"),
    ("fifty percent stenosis", "50% stenosis"),
    ("angled thirty degrees", "Angled 30°"),
    ("DLP of four hundred milligray", "DLP of 400 mGy"),
    # dimensions and ranges
    ("two by three centimeters", "2 x 3 cm"),
    ("two by three by four millimeters", "2 x 3 x 4 mm"),
    ("two centimeters by three centimeters", "2 cm x 3 cm"),
    ("measuring 3 by 4 cm", "Measuring 3 x 4 cm"),
    ("five to seven millimeters", "5 to 7 mm"),
    ("one or two millimeters", "1 or 2 mm"),
    ("ten to twelve", "10 to 12"),
    # numbers without units: ten and above in digits, one to nine stay words
    ("twenty three nodules", "23 nodules"),
    ("there are two nodules", "There are two nodules"),
    ("forty-five-year-old man", "45-year-old man"),
    ("nineteen ninety nine", "1999"),
    ("twenty twenty four", "2024"),
    # words that take a number in digits
    ("series three image forty five", "Series 3 image 45"),
    ("grade two", "Grade 2"),
    ("birads four", "BI-RADS 4"),
    # spinal levels
    ("C five six", "C5-6"),
    ("L four L five", "L4-L5"),
    ("T twelve", "T12"),
    ("L five S one", "L5-S1"),
    ("C seven T one", "C7-T1"),
    ("T twelve L one", "T12-L1"),
    ("C5 6 disc", "C5-6 disc"),
    ("from C three through C five", "From C3 through C5"),
    ("T two weighted images", "T2 weighted images"),
    # dictation commands and capitals
    (
        "there is a twelve millimeter nodule period new paragraph no pleural effusion period",
        "There is a 12 mm nodule.\n\nNo pleural effusion.",
    ),
    (
        "normal liver comma spleen period new line kidneys normal",
        "Normal liver, spleen.\nKidneys normal",
    ),
    ("is it new question mark", "Is it new?"),
    ("open paren see above close paren", "(See above)"),
    ("and slash or", "And/or"),
    ("nodule. period", "Nodule."),
    ("full stop", "."),
    # acronyms
    ("ct of the head comma mri brain", "CT of the head, MRI brain"),
    ("pet ct shows", "PET/CT shows"),
    ("c t angiogram", "CT angiogram"),
    ("x ray chest", "X-ray chest"),
    ("flair and dwi", "FLAIR and DWI"),
    # negatives: nothing to change but the first capital
    ("no one was notified", "No one was notified"),
    ("one of the nodules", "One of the nodules"),
    ("at one point the", "At one point the"),
    ("the second nodule", "The second nodule"),
    ("a second opinion was sought", "A second opinion was sought"),
    ("the fourth ventricle", "The fourth ventricle"),
    ("pacemaker lead in the right ventricle", "Pacemaker lead in the right ventricle"),
    ("the left kidney", "The left kidney"),
    ("the sigmoid colon is normal", "The sigmoid colon is normal"),
    ("in the postoperative period the patient", "In the postoperative period the patient"),
    ("a six month period of", "A six month period of"),
    ("the period of observation", "The period of observation"),
    ("a few millimeters", "A few millimeters"),
    ("values in Hounsfield units", "Values in Hounsfield units"),
    ("seen by one reader", "Seen by one reader"),
    ("one or two", "One or two"),
    ("vitamin C", "Vitamin C"),
    ("the left hemisphere", "The left hemisphere"),
    ("tendon and often", "Tendon and often"),
    ("first", "First"),
    ("", ""),
]

# Already written text: must come back exactly as it is.
WRITTEN = [
    "There is a 12 mm nodule in the right upper lobe.\n\nNo pleural effusion.",
    "Disc bulge at C5-6 and L4-L5; L5-S1 is normal.",
    "Measures 2 x 3 x 4 cm (previously 1.5 cm), density -10 HU, 50% stenosis.",
    "PET/CT and X-ray, e.g. the liver. Dr. Smith was informed.",
    "2-3 mm nodules, T2-weighted and FLAIR images, follow-up in 6 months.",
    "One of the two lesions is 0.8 cm.",
]


@pytest.mark.parametrize(("spoken", "written"), CASES)
def test_normalize(spoken: str, written: str) -> None:
    assert normalize(spoken) == written


def test_there_are_enough_cases_and_negatives() -> None:
    assert len(CASES) >= 40
    unchanged = [s for s, w in CASES if w == s[:1].upper() + s[1:]]
    assert len(unchanged) >= 15


@pytest.mark.parametrize("text", [w for _, w in CASES] + WRITTEN)
def test_normalizing_twice_changes_nothing(text: str) -> None:
    assert normalize(text) == text


def test_written_text_passes_through() -> None:
    assert [normalize(t) for t in WRITTEN] == WRITTEN


@pytest.mark.parametrize(
    ("spoken", "american", "british"),
    [
        ("haemorrhage and oedema", "Hemorrhage and edema", "Haemorrhage and oedema"),
        ("hemorrhagic hematomas", "Hemorrhagic hematomas", "Haemorrhagic haematomas"),
        ("Oesophageal tumour", "Esophageal tumor", "Oesophageal tumour"),
        ("ischemic colitis", "Ischemic colitis", "Ischaemic colitis"),
        ("HEMORRHAGE", "HEMORRHAGE", "HAEMORRHAGE"),
        # "hem" inside other words and "color" inside "colorectal" stay as they are
        (
            "left hemisphere and hemidiaphragm",
            "Left hemisphere and hemidiaphragm",
            "Left hemisphere and hemidiaphragm",
        ),
        ("colorectal", "Colorectal", "Colorectal"),
    ],
)
def test_spelling_setting(spoken: str, american: str, british: str) -> None:
    assert normalize(spoken, NormalizerSettings(spelling="american")) == american
    assert normalize(spoken, NormalizerSettings(spelling="british")) == british


def test_spelling_kept_by_default() -> None:
    assert normalize("haemorrhage and hemorrhage") == "Haemorrhage and hemorrhage"


def test_spelling_table_round_trips() -> None:
    """Every British form in the table turns American and back into itself."""
    american = Normalizer(NormalizerSettings(spelling="american", capitalize_sentences=False))
    british = Normalizer(NormalizerSettings(spelling="british", capitalize_sentences=False))
    for us_stem, gb_stem, endings in SPELLING_STEMS:
        for ending in endings:
            assert american(gb_stem + ending) == us_stem + ending
            assert british(us_stem + ending) == gb_stem + ending


def test_without_capitals() -> None:
    n = Normalizer(NormalizerSettings(capitalize_sentences=False))
    assert n("twelve millimeters period the liver") == "12 mm. the liver"


def test_extra_acronyms() -> None:
    n = Normalizer(NormalizerSettings(extra_acronyms=("TIPS", "ERCP")))
    assert n("status post tips and ercp") == "Status post TIPS and ERCP"


def test_every_unit_word_is_abbreviated_after_a_number() -> None:
    for word, (abbrev, glued) in UNITS.items():
        expected = f"12{abbrev}" if glued else f"12 {abbrev}"
        assert normalize(f"twelve {word}") == expected, word


def test_every_number_word_alone() -> None:
    """One to nine stay words; ten and above, and scales after one, become digits."""
    for word, value in NUMBER_WORDS.items():
        if word in ("hundred", "thousand"):
            assert normalize(f"one {word}") == str(value)
        elif value < 10:
            assert normalize(f"the {word}") == f"The {word}"
        else:
            assert normalize(f"the {word}") == f"The {value}"


def test_acronyms_table() -> None:
    for low, written in ACRONYMS.items():
        assert normalize(f"the {low}") == f"The {written}"


def test_bad_settings_and_input() -> None:
    with pytest.raises(ConfigError, match="spelling must be 'keep', 'american' or 'british'"):
        NormalizerSettings(spelling="canadian")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
