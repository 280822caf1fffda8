"""Report templates as data: loading with errors by file and line or key, selection by study
attributes, and the DRAFT reports a template makes (blank, normal, filled)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from workstation.core.errors import ConfigError, WorkstationError
from workstation.core.model import Patient, Series, Study
from workstation.core.report import (
    Author,
    ImageRef,
    Measurement,
    ReportSection,
    ReportStatus,
)
from workstation.reporting import codes
from workstation.reporting.sr import build_sr, read_sr
from workstation.reporting.templates import (
    MINIMAL_TEMPLATE,
    FieldKind,
    Template,
    TemplateError,
    TemplateValueError,
    builtin_template_dir,
    load_builtin_templates,
    load_templates,
    parse_template,
    pick_template,
    rank_templates,
)

UID = "1.2.826.0.1.3680043.10.999.7001"
PATIENT = Patient("PID-7001", patient_name="Doe^Jane")
AUTHOR = Author("Smith^Anna", organisation="Teleradiology Hub")
WHEN = dt.datetime(2025, 3, 4, 10, 11, 12, tzinfo=dt.UTC)

BUILTIN_IDS = {
    "chest-radiograph",
    "ct-abdomen-pelvis",
    "ct-chest",
    "ct-chest-abdomen-pelvis",
    "ct-head",
    "generic",
    "mr-brain",
}


def study(description: str = "", modalities: tuple[str, ...] = (), body_part: str = "") -> Study:
    return Study(
        UID,
        PATIENT,
        accession_number="ACC7001",
        study_description=description,
        modalities=modalities,
        body_part_examined=body_part,
    )


@pytest.fixture(scope="module")
def builtin() -> dict[str, Template]:
    errors: list[ConfigError] = []
    templates = load_builtin_templates(errors=errors)
    assert errors == []
    return {t.id: t for t in templates}


# -- the shipped templates ---------------------------------------------------------------------


def test_builtin_templates_load(builtin: dict[str, Template]) -> None:
    assert set(builtin) == BUILTIN_IDS
    assert builtin_template_dir().name == "templates"
    assert [t.id for t in builtin.values() if t.fallback] == ["generic"]
    for t in builtin.values():
        assert t.version == "1.0"
        assert t.vocabulary, t.id
        keys = [s.key for s in t.sections]
        assert keys[:2] == ["history", "comparison"], t.id
        assert "findings" in keys and "impressions" in keys, t.id
        for s in t.sections:
            assert s.heading in codes.CID_7001_HEADINGS, (t.id, s.key)


def test_ct_head_structure(builtin: dict[str, Template]) -> None:
    t = builtin["ct-head"]
    assert [s.heading.value for s in t.sections] == [
        "11329-0",  # History
        "18834-2",  # Previous Findings (comparison)
        "55111-9",  # Current Procedure Descriptions
        "59776-5",  # Findings
        "19005-8",  # Impressions
        "18783-1",  # Recommendations
    ]
    fields = t.fields
    assert list(fields) == [
        "hemorrhage",
        "hematoma_thickness",
        "midline_shift",
        "parenchyma",
        "ventricles",
        "extra_axial",
        "calvarium",
        "sinuses_mastoids",
    ]
    assert fields["hemorrhage"].kind is FieldKind.CHOICE
    assert fields["hemorrhage"].choices[:2] == ("none", "subdural")
    assert fields["midline_shift"].unit_code == codes.MM
    assert (fields["midline_shift"].minimum, fields["midline_shift"].maximum) == (0.0, 40.0)
    assert fields["hematoma_thickness"].kind is FieldKind.MEASUREMENT
    assert "subdural" in t.vocabulary


# -- selection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "modalities", "body_part", "expected"),
    [
        ("CT HEAD WITHOUT CONTRAST", ("CT",), "HEAD", "ct-head"),
        ("CT HEAD WITHOUT CONTRAST", ("CT",), "", "ct-head"),  # description alone: 1 + 2
        ("", ("CT",), "BRAIN", "ct-head"),  # body part alone
        ("CT CHEST WITH CONTRAST", ("CT",), "CHEST", "ct-chest"),
        ("CT ABDOMEN PELVIS", ("CT", "SR"), "ABDOMEN", "ct-abdomen-pelvis"),
        ("CT CHEST ABDOMEN PELVIS WITH CONTRAST", ("CT",), "CHEST", "ct-chest-abdomen-pelvis"),
        ("MR BRAIN WITHOUT CONTRAST", ("MR",), "HEAD", "mr-brain"),
        ("XR CHEST PA AND LATERAL", ("DX",), "CHEST", "chest-radiograph"),
        ("CXR portable", ("CR",), "", "chest-radiograph"),
        ("CT SPINE", ("CT",), "CSPINE", "generic"),  # CT alone scores 1 < min_score 3
        ("US ABDOMEN", ("US",), "ABDOMEN", "generic"),
        ("", (), "", "generic"),
    ],
)
def test_pick_template(
    builtin: dict[str, Template],
    description: str,
    modalities: tuple[str, ...],
    body_part: str,
    expected: str,
) -> None:
    chosen = pick_template(builtin.values(), study(description, modalities, body_part))
    assert chosen.id == expected


def test_scores(builtin: dict[str, Template]) -> None:
    cap = study("CT CHEST ABDOMEN PELVIS WITH CONTRAST", ("CT",), "CHEST")
    ranked = [(m.template.id, m.score) for m in rank_templates(builtin.values(), cap)]
    # CAP: modality 1 + description 5 + body part 1; chest: 1 + 2 + 2; abdomen: 1 + 2.
    assert ranked == [
        ("ct-chest-abdomen-pelvis", 7.0),
        ("ct-chest", 5.0),
        ("ct-abdomen-pelvis", 3.0),
    ]


def test_modalities_and_body_part_from_series(builtin: dict[str, Template]) -> None:
    series = [
        Series("1.2.826.0.1.3680043.10.999.7002", UID, modality="MR", body_part_examined="BRAIN")
    ]
    assert pick_template(builtin.values(), study("Routine"), series).id == "mr-brain"


def _site_template(tid: str, priority: int, weight: float = 2.0) -> Template:
    return parse_template(
        {
            "id": tid,
            "title": tid,
            "version": "2",
            "priority": priority,
            "rules": [{"attribute": "modality", "equals": "CT", "weight": weight}],
            "sections": [{"key": "findings"}],
        },
        f"{tid}.toml",
    )


def test_tie_break_is_priority_then_id() -> None:
    s = study("anything", ("CT",))
    a, b, c = _site_template("b-site", 5), _site_template("a-site", 5), _site_template("z", 9)
    assert pick_template([a, b, c], s).id == "z"
    assert pick_template([c, b, a], s).id == "z"
    assert pick_template([a, b], s).id == "a-site"
    assert pick_template([b, a], s).id == "a-site"
    # a higher score beats a higher priority
    assert pick_template([c, _site_template("heavy", 0, weight=3)], s).id == "heavy"


def test_no_fallback_gives_minimal_template() -> None:
    chosen = pick_template([_site_template("ct-only", 0)], study("", ("MR",)))
    assert chosen is MINIMAL_TEMPLATE
    assert [s.heading for s in chosen.sections] == [codes.FINDINGS, codes.IMPRESSIONS]


def test_negated_and_required_rules() -> None:
    t = parse_template(
        {
            "id": "no-contrast",
            "title": "t",
            "version": "1",
            "rules": [
                {"attribute": "modality", "equals": ["CT", "MR"], "required": True, "weight": 0},
                {"attribute": "study_description", "regex": "contrast", "negate": True},
            ],
            "sections": [{"key": "findings"}],
        }
    )
    assert t.score(study("CT HEAD", ("CT",))) == 1.0
    assert t.score(study("CT HEAD WITH CONTRAST", ("CT",))) == 0.0
    assert t.score(study("XR HAND", ("DX",))) is None


# -- loading and errors ------------------------------------------------------------------------


GOOD = """\
id = "site-knee"
title = "MR Knee"
version = "3"
[[rules]]
attribute = "modality"
equals = "MR"
[[sections]]
key = "findings"
"""


def test_bad_toml_reported_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a_good.toml").write_text(GOOD)
    (tmp_path / "b_broken.toml").write_text('id = "x"\ntitle = "t"\nversion "1"\n')
    (tmp_path / "notes.txt").write_text("not a template")
    errors: list[ConfigError] = []
    loaded = load_templates([tmp_path], errors)
    assert [t.id for t in loaded] == ["site-knee"]
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, TemplateError)
    assert err.path == str(tmp_path / "b_broken.toml")
    assert err.line == 3
    assert err.key is None
    assert str(err).startswith(f"{tmp_path / 'b_broken.toml'}: line 3: not valid TOML: column 9")


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"title": "t", "version": "1", "sections": [{"key": "findings"}]}, "id", "missing"),
        (
            {"id": "x", "title": "t", "version": "1", "sections": [{"key": "finding"}]},
            "sections[0].key",
            "'finding' is not one of",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "sections": [
                    {"key": "history"},
                    {
                        "key": "findings",
                        "fields": [
                            {"key": "size", "label": "Size", "kind": "number", "unit": "mmm"}
                        ],
                    },
                ],
            },
            "sections[1].fields[0].unit",
            "'mmm' is not a known UCUM unit",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "sections": [
                    {
                        "key": "findings",
                        "fields": [
                            {
                                "key": "side",
                                "label": "Side",
                                "kind": "choice",
                                "choices": ["left"],
                                "normal": "right",
                            }
                        ],
                    }
                ],
            },
            "sections[0].fields[0].normal",
            "field 'side' takes one of 'left'",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "rules": [{"attribute": "series_count", "equals": "2"}],
                "sections": [{"key": "findings"}],
            },
            "rules[0].attribute",
            "'series_count' is not one of modality, body_part, study_description",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "sections": [{"key": "findings"}],
                "colour": "red",
            },
            "colour",
            "unknown key",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "sections": [
                    {"key": "findings", "fields": [{"key": "a", "label": "A"}]},
                    {"key": "impressions", "fields": [{"key": "a", "label": "A"}]},
                ],
            },
            "sections[1].fields[0].key",
            "field 'a' appears twice",
        ),
        (
            {
                "id": "x",
                "title": "t",
                "version": "1",
                "sections": [
                    {
                        "key": "findings",
                        "fields": [
                            {
                                "key": "d",
                                "label": "D",
                                "kind": "measurement",
                                "unit": "mm",
                                "concept": "girth",
                            }
                        ],
                    }
                ],
            },
            "sections[0].fields[0].concept",
            "'girth' is not one of length, diameter, area, volume, mean",
        ),
    ],
)
def test_semantic_errors_name_the_key(data: dict, key: str, problem: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(data, "site/x.toml")
    assert info.value.key == key
    assert info.value.line is None
    assert str(info.value).startswith(f"site/x.toml: {key}: {problem}")


def test_site_folder_overrides_builtin_by_id(tmp_path: Path) -> None:
    (tmp_path / "head.toml").write_text(
        'id = "ct-head"\ntitle = "Site CT head"\nversion = "7"\nmin_score = 3\n'
        '[[rules]]\nattribute = "modality"\nequals = "CT"\nrequired = true\n'
        '[[rules]]\nattribute = "body_part"\nequals = "HEAD"\nweight = 2\n'
        '[[sections]]\nkey = "findings"\n'
    )
    errors: list[ConfigError] = []
    templates = load_builtin_templates([tmp_path], errors)
    assert errors == []
    assert len(templates) == len(BUILTIN_IDS)
    chosen = pick_template(templates, study("CT HEAD", ("CT",), "HEAD"))
    assert (chosen.title, chosen.version, chosen.source) == (
        "Site CT head",
        "7",
        str(tmp_path / "head.toml"),
    )


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    errors: list[ConfigError] = []
    assert load_templates([tmp_path / "nope"], errors) == []
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'nope'}: (top level): no such template file or folder"
    ]


# -- reports from templates --------------------------------------------------------------------


CT_HEAD_NORMAL_FINDINGS = (
    "Intracranial hemorrhage: none.\n"
    "Midline shift: 0 mm.\n"
    "Brain parenchyma: Normal gray-white matter differentiation. No acute infarct or mass.\n"
    "Ventricles and sulci: normal for age.\n"
    "Extra-axial spaces: No extra-axial collection.\n"
    "Calvarium and skull base: No fracture.\n"
    "Paranasal sinuses and mastoid air cells: Clear."
)


def test_blank_report(builtin: dict[str, Template]) -> None:
    t = builtin["ct-head"]
    s = study("CT HEAD", ("CT",), "HEAD")
    r = t.blank_report(s, AUTHOR, content_datetime=WHEN)
    assert r.status is ReportStatus.DRAFT
    assert (r.study_instance_uid, r.patient, r.accession, r.author) == (
        UID,
        PATIENT,
        "ACC7001",
        AUTHOR,
    )
    assert r.language == "en-US"
    assert r.content_datetime == WHEN
    assert [sec.heading for sec in r.sections] == [sec.heading for sec in t.sections]
    assert all(sec.is_empty for sec in r.sections)


def test_apply_normal(builtin: dict[str, Template]) -> None:
    t = builtin["ct-head"]
    r = t.apply_normal(t.blank_report(study(), AUTHOR))
    texts = {sec.heading.meaning: sec.text for sec in r.sections}
    assert texts == {
        "History": "",
        "Previous Findings": "None.",
        "Current Procedure Descriptions": (
            "Axial CT images of the head were obtained without intravenous contrast. "
            "Coronal and sagittal reformations were reviewed."
        ),
        "Findings": CT_HEAD_NORMAL_FINDINGS,
        "Impressions": "No acute intracranial abnormality.",
        "Recommendations": "",
    }
    assert all(sec.items == () for sec in r.sections)
    assert r.status is ReportStatus.DRAFT


def test_apply_normal_keeps_what_the_reader_wrote(builtin: dict[str, Template]) -> None:
    t = builtin["ct-head"]
    blank = t.blank_report(study(), AUTHOR)
    typed = ReportSection(codes.IMPRESSIONS, "Acute left subdural hematoma.")
    extra = ReportSection(codes.ADDENDUM, "Discussed with the referrer.")
    sections = tuple(typed if s.heading == codes.IMPRESSIONS else s for s in blank.sections)
    r = t.apply_normal(dataclasses.replace(blank, sections=(extra, *sections)))
    assert r.sections[4] == typed
    assert r.sections[3].text == CT_HEAD_NORMAL_FINDINGS
    assert r.sections[-1] == extra  # a section the template lacks goes last
    assert len(r.sections) == 7


def test_build_report_from_values(builtin: dict[str, Template]) -> None:
    t = builtin["ct-head"]
    r = t.build_report(
        study(),
        AUTHOR,
        {"hemorrhage": "Subdural", "hematoma_thickness": 12.5, "midline_shift": 4, "calvarium": ""},
        {"impressions": "Acute left subdural hematoma.", "history": "  Fall.  "},
    )
    by = {sec.heading.meaning: sec for sec in r.sections}
    assert by["History"].text == "Fall."
    assert by["Findings"].text == "Intracranial hemorrhage: subdural.\nMidline shift: 4 mm."
    assert by["Findings"].items == (Measurement(codes.LENGTH, 12.5, codes.MM),)
    assert by["Impressions"].text == "Acute left subdural hematoma."
    assert by["Previous Findings"].is_empty  # no normal text unless asked


def test_measurement_slot_takes_a_viewer_measurement(builtin: dict[str, Template]) -> None:
    """A measurement made on an image keeps its image reference in the report."""
    ref = ImageRef("1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.10.999.7003")
    made = Measurement(codes.LENGTH, 9.25, codes.MM, image=ref)
    t = builtin["ct-head"]
    r = t.build_report(study(), AUTHOR, {"hematoma_thickness": made})
    assert r.sections[3].items == (made,)
    assert r.image_refs() == (ref,)
    in_cm = Measurement(codes.LENGTH, 0.9, codes.CM)
    with pytest.raises(TemplateValueError, match="records mm, got a measurement in cm"):
        t.build_report(study(), AUTHOR, {"hematoma_thickness": in_cm})
    too_big = Measurement(codes.LENGTH, 101, codes.MM)
    with pytest.raises(TemplateValueError, match="between 0 and 100 mm, got 101"):
        t.build_report(study(), AUTHOR, {"hematoma_thickness": too_big})


def test_build_report_with_normal_fills_the_rest(builtin: dict[str, Template]) -> None:
    t = builtin["chest-radiograph"]
    r = t.build_report(
        study(), AUTHOR, {"heart_size": "enlarged", "cardiothoracic_ratio": 0.58}, normal=True
    )
    findings = next(sec for sec in r.sections if sec.heading == codes.FINDINGS)
    assert findings.text == (
        "Lines and tubes: None.\n"
        "Heart size: enlarged.\n"
        "Cardiothoracic ratio: 0.58.\n"
        "Lungs: Clear.\n"
        "Pleura: normal.\n"
        "Bones and soft tissues: No acute abnormality."
    )


def test_phrases_and_units() -> None:
    t = parse_template(
        {
            "id": "x",
            "title": "t",
            "version": "1",
            "sections": [
                {
                    "key": "findings",
                    "fields": [
                        {"key": "stenosis", "label": "Stenosis", "kind": "number", "unit": "%"},
                        {"key": "hu", "label": "Density", "kind": "number", "unit": "[hnsf'U]"},
                        {
                            "key": "side",
                            "label": "Side",
                            "kind": "choice",
                            "choices": ["left", "right"],
                            "phrase": "The lesion is on the {value}",
                        },
                    ],
                }
            ],
        }
    )
    r = t.build_report(study(), AUTHOR, {"stenosis": 50, "hu": -12.5, "side": "RIGHT"})
    assert r.sections[0].text == ("Stenosis: 50%.\nDensity: -12.5 HU.\nThe lesion is on the right.")


def test_filled_report_survives_sr(builtin: dict[str, Template]) -> None:
    """A template's report, once preliminary, is written as SR and read back unchanged (empty
    sections are not written)."""
    t = builtin["ct-head"]
    r = t.build_report(
        study("CT HEAD", ("CT",), "HEAD"),
        AUTHOR,
        {"hemorrhage": "subdural", "hematoma_thickness": 12.5, "midline_shift": 4},
        {"impressions": "Acute left subdural hematoma."},
        normal=True,
        content_datetime=WHEN,
    )
    r = dataclasses.replace(r, status=ReportStatus.PRELIMINARY)
    expected = dataclasses.replace(r, sections=tuple(s for s in r.sections if not s.is_empty))
    assert read_sr(build_sr(r)) == expected


@pytest.mark.parametrize(
    ("values", "texts", "message"),
    [
        ({"hemorrhage": "massive"}, {}, "field 'hemorrhage' takes one of 'none', 'subdural'"),
        ({"midline_shift": 41}, {}, "field 'midline_shift' must be between 0 and 40 mm, got 41"),
        ({"midline_shift": -1}, {}, "field 'midline_shift' must be between 0 and 40 mm, got -1"),
        ({"midline_shift": "4"}, {}, "field 'midline_shift' takes a number, got '4'"),
        ({"midline_shift": True}, {}, "field 'midline_shift' takes a number, got True"),
        ({"midline_shift": float("nan")}, {}, "field 'midline_shift' takes a finite number"),
        ({"parenchyma": 3}, {}, "field 'parenchyma' takes text, got 3"),
        ({"size": 3}, {}, "template 'ct-head' has no field 'size'"),
        ({}, {"discussion": "x"}, "template 'ct-head' has no section 'discussion'"),
    ],
)
def test_bad_values_are_refused(
    builtin: dict[str, Template], values: dict, texts: dict, message: str
) -> None:
    with pytest.raises(TemplateValueError) as info:
        builtin["ct-head"].build_report(study(), AUTHOR, values, texts)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, WorkstationError)


def test_apply_normal_refuses_a_signed_report(builtin: dict[str, Template]) -> None:
    t = builtin["generic"]
    r = t.build_report(study(), AUTHOR, section_texts={"findings": "Normal."})
    prelim = dataclasses.replace(r, status=ReportStatus.PRELIMINARY)
    with pytest.raises(TemplateValueError, match="only a DRAFT report"):
        t.apply_normal(prelim)
