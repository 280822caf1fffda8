"""Report templates as data files, and the small engine that picks one and fills a draft.

Modelled on IHE Management of Radiology Report Templates (MRRT: a template has an id, title,
version, coded sections and typed fields) and on the RSNA RadReport library's templates. A
template file (TOML, see ``resources/templates/``) holds:

- ``id``, ``title``, ``version``, optional ``description``, ``based_on``, ``language``,
  ``priority``, ``min_score``, ``fallback`` and ``schema_version``;
- ``rules``: weighted rules on the study (``modality``, ``body_part``, ``study_description``) with
  ``equals`` (a value or a list, compared case-insensitively) or ``regex`` (Python syntax,
  case-insensitive search), ``weight``, ``required`` and ``negate``;
- ``sections``: in report order, each by a ``key`` naming its CID 7001 heading (PS3.16; see
  ``SECTION_HEADINGS``), with optional ``title``, ``normal`` text and ``fields``;
- ``fields``: ``text``, ``choice`` (``choices``), ``number`` (UCUM ``unit``, ``min``/``max``) or
  ``measurement`` (a TID 1400 NUM: ``concept`` and UCUM ``unit``), each with a ``label``, an
  optional ``normal`` value and a ``phrase`` that turns the value into report text;
- ``vocabulary``: terms that dictation engines are biased towards for this template.

Selection: the highest score wins (the weights of matching rules; a failing required rule or a
score under ``min_score`` rules a template out, and a template needs a score above 0 to match);
equal scores go to the higher ``priority``, then the alphabetically first ``id``. When nothing
matches, the ``fallback`` template (the generic one) is used.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import logging
import math
import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.datafiles import TableReader, load_by_id
from workstation.core.errors import ConfigError, WorkstationError
from workstation.core.model import Series, Study
from workstation.core.paths import resource_path
from workstation.core.report import (
    Author,
    Code,
    Measurement,
    Report,
    ReportItem,
    ReportSection,
    ReportStatus,
)
from workstation.reporting import codes

__all__ = [
    "MEASUREMENT_CONCEPTS",
    "SECTION_HEADINGS",
    "UCUM_UNITS",
    "FieldKind",
    "FieldValue",
    "SelectionRule",
    "Template",
    "TemplateError",
    "TemplateField",
    "TemplateMatch",
    "TemplateSection",
    "TemplateValueError",
    "builtin_template_dir",
    "load_builtin_templates",
    "load_template_file",
    "load_templates",
    "parse_template",
    "pick_template",
    "rank_templates",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Section keys -> CID 7001 Diagnostic Imaging Report Heading (PS3.16). "comparison" is LOINC
# 18834-2, which CID 7001 names "Previous Findings".
SECTION_HEADINGS: Mapping[str, Code] = {
    "history": codes.HISTORY,
    "clinical_information": codes.CLINICAL_INFORMATION,
    "indications": codes.INDICATIONS_FOR_PROCEDURE,
    "request": codes.REQUEST,
    "comparison": codes.PREVIOUS_FINDINGS,
    "prior_procedures": codes.PRIOR_PROCEDURE_DESCRIPTIONS,
    "procedure": codes.CURRENT_PROCEDURE_DESCRIPTIONS,
    "medications": codes.MEDICATIONS_ADMINISTERED,
    "radiation": codes.RADIATION_EXPOSURE,
    "findings": codes.FINDINGS,
    "complications": codes.COMPLICATIONS,
    "impressions": codes.IMPRESSIONS,
    "conclusions": codes.CONCLUSIONS,
    "summary": codes.SUMMARY,
    "recommendations": codes.RECOMMENDATIONS,
    "critical_results": codes.COMMUNICATION_OF_CRITICAL_RESULTS,
    "patient_presentation": codes.PATIENT_PRESENTATION,
    "key_images": codes.KEY_IMAGES,
    "addendum": codes.ADDENDUM,
}

# UCUM units a field may use: code -> (Code, how it is written in text).
UCUM_UNITS: Mapping[str, tuple[Code, str]] = {
    "mm": (codes.MM, "mm"),
    "cm": (codes.CM, "cm"),
    "mm2": (codes.MM2, "mm²"),
    "cm2": (Code("cm2", "UCUM", "square centimeter"), "cm²"),
    "cm3": (codes.CM3, "cm³"),
    "mL": (Code("mL", "UCUM", "mL"), "mL"),
    "[hnsf'U]": (codes.HOUNSFIELD_UNIT, "HU"),
    "%": (Code("%", "UCUM", "%"), "%"),
    "deg": (Code("deg", "UCUM", "degree"), "°"),
    "cm/s": (Code("cm/s", "UCUM", "cm/s"), "cm/s"),
    "mSv": (Code("mSv", "UCUM", "mSv"), "mSv"),
    "mGy": (Code("mGy", "UCUM", "mGy"), "mGy"),
    "{ratio}": (Code("{ratio}", "UCUM", "ratio"), ""),
    "1": (Code("1", "UCUM", "no units"), ""),
}

# Measurement concepts (TID 1400/1404, CID 7470-7472) a measurement slot may record.
MEASUREMENT_CONCEPTS: Mapping[str, Code] = {
    "length": codes.LENGTH,
    "diameter": codes.DIAMETER,
    "area": codes.AREA,
    "volume": codes.VOLUME,
    "mean": codes.MEAN,
}

STUDY_ATTRIBUTES = ("modality", "body_part", "study_description")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_PHRASE_FIELDS = frozenset({"label", "value", "unit"})

FieldValue = str | int | float | Measurement


class TemplateError(ConfigError):
    """A template file that cannot be used; names the file and the line or key."""

    def __init__(
        self, path: str, problem: str, *, line: int | None = None, key: str | None = None
    ) -> None:
        where = f"line {line}" if line is not None else (key or "(top level)")
        super().__init__(f"{path}: {where}: {problem}")
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem


class TemplateValueError(WorkstationError, ValueError):
    """A field value or section text that does not fit its template (wrong choice, out of
    range, unknown key)."""


class FieldKind(enum.Enum):
    TEXT = "text"
    CHOICE = "choice"
    NUMBER = "number"
    MEASUREMENT = "measurement"


# ---------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True, slots=True)
class SelectionRule:
    """One test of a study attribute, its weight, and whether it is required."""

    attribute: str
    equals: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    negate: bool = False
    weight: float = 1.0
    required: bool = False

    def matches(self, values: Sequence[str]) -> bool:
        if self.regex is not None:
            hit = any(self.regex.search(v) for v in values)
        else:
            wanted = {e.casefold() for e in self.equals}
            hit = any(v.casefold() in wanted for v in values)
        return hit != self.negate


@dataclass(frozen=True, slots=True)
class TemplateField:
    """A field of a section: what the reader fills in, how it is written into the report."""

    key: str
    label: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    unit: str = ""  # a UCUM_UNITS key, for number and measurement
    minimum: float | None = None
    maximum: float | None = None
    concept: str = ""  # a MEASUREMENT_CONCEPTS key, for measurement
    normal: str | float | None = None
    phrase: str = ""  # "{label}: {value}" by default; "{unit}" for numbers

    def check(self, value: object) -> FieldValue:
        """``value`` as this field keeps it; raises TemplateValueError naming the field."""
        if self.kind is FieldKind.TEXT:
            if not isinstance(value, str):
                raise TemplateValueError(f"field {self.key!r} takes text, got {value!r}")
            return value
        if self.kind is FieldKind.CHOICE:
            if isinstance(value, str):
                for choice in self.choices:
                    if choice.casefold() == value.strip().casefold():
                        return choice
            raise TemplateValueError(
                f"field {self.key!r} takes one of {', '.join(map(repr, self.choices))}, "
                f"got {value!r}"
            )
        if self.kind is FieldKind.MEASUREMENT and isinstance(value, Measurement):
            unit = self.unit_code
            if unit is not None and not value.unit.same_concept(unit):
                raise TemplateValueError(
                    f"field {self.key!r} records {unit.value}, got a measurement in "
                    f"{value.unit.value}"
                )
            number: float = value.value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise TemplateValueError(f"field {self.key!r} takes a number, got {value!r}")
        else:
            number = float(value)
        if not math.isfinite(number):
            raise TemplateValueError(f"field {self.key!r} takes a finite number, got {value!r}")
        lo = -math.inf if self.minimum is None else self.minimum
        hi = math.inf if self.maximum is None else self.maximum
        if not lo <= number <= hi:
            raise TemplateValueError(
                f"field {self.key!r} must be between {_fmt(lo)} and {_fmt(hi)} "
                f"{self.unit_text}, got {_fmt(number)}".rstrip()
            )
        return value if isinstance(value, Measurement) else number

    @property
    def unit_code(self) -> Code | None:
        return UCUM_UNITS[self.unit][0] if self.unit else None

    @property
    def unit_text(self) -> str:
        return UCUM_UNITS[self.unit][1] if self.unit else ""

    def render(self, value: object) -> str:
        """The sentence this field's value adds to its section's text."""
        checked = self.check(value)
        shown = _fmt(checked) if isinstance(checked, float) else str(checked)
        default = "{label}: {value} {unit}" if self.unit_text else "{label}: {value}"
        text = (self.phrase or default).format(label=self.label, value=shown, unit=self.unit_text)
        text = re.sub(r" +([%°])", r"\1", " ".join(text.split()))
        return text if text[-1:] in ".?!:" else text + "."

    def measurement(self, value: object) -> Measurement:
        """The NUM item (TID 1400) a measurement slot's value becomes."""
        checked = self.check(value)
        if isinstance(checked, Measurement):
            return checked
        unit = self.unit_code
        assert unit is not None and isinstance(checked, float)
        return Measurement(MEASUREMENT_CONCEPTS[self.concept], checked, unit)


@dataclass(frozen=True, slots=True)
class TemplateSection:
    """A section of the report under a CID 7001 heading, with its fields and normal text."""

    key: str
    heading: Code
    title: str = ""
    normal: str = ""
    fields: tuple[TemplateField, ...] = ()

    @property
    def display_title(self) -> str:
        return self.title or self.heading.meaning


@dataclass(frozen=True, slots=True)
class Template:
    """One report template: identity, selection rules, sections, dictation vocabulary."""

    id: str
    title: str
    version: str
    sections: tuple[TemplateSection, ...]
    description: str = ""
    based_on: str = ""
    language: str = "en-US"
    priority: int = 0
    min_score: float = 0.0
    fallback: bool = False
    rules: tuple[SelectionRule, ...] = ()
    vocabulary: tuple[str, ...] = ()
    source: str = ""

    def section(self, key: str) -> TemplateSection:
        for s in self.sections:
            if s.key == key:
                return s
        raise TemplateValueError(f"template {self.id!r} has no section {key!r}")

    @property
    def fields(self) -> dict[str, TemplateField]:
        """Every field of every section, by key."""
        return {f.key: f for s in self.sections for f in s.fields}

    def normal_values(self) -> dict[str, FieldValue]:
        """The normal value of each field that has one."""
        return {k: f.normal for k, f in self.fields.items() if f.normal is not None}

    def normal_texts(self) -> dict[str, str]:
        """The normal text of each section that has one."""
        return {s.key: s.normal for s in self.sections if s.normal}

    def check_values(self, values: Mapping[str, object]) -> dict[str, FieldValue]:
        """The values checked against their fields (None and "" mean "not filled in")."""
        fields = self.fields
        out: dict[str, FieldValue] = {}
        for key, value in values.items():
            if key not in fields:
                raise TemplateValueError(f"template {self.id!r} has no field {key!r}")
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            out[key] = fields[key].check(value)
        return out

    def render_section(
        self,
        section: TemplateSection,
        values: Mapping[str, FieldValue],
        text: str = "",
    ) -> ReportSection:
        """One section: the sentences of its filled fields, then the free ``text``; measurement
        slots become NUM items."""
        lines: list[str] = []
        items: list[ReportItem] = []
        for f in section.fields:
            if f.key not in values:
                continue
            if f.kind is FieldKind.MEASUREMENT:
                items.append(f.measurement(values[f.key]))
            else:
                lines.append(f.render(values[f.key]))
        if text.strip():
            lines.append(text.strip())
        return ReportSection(section.heading, "\n".join(lines), tuple(items))

    def build_report(
        self,
        study: Study,
        author: Author,
        values: Mapping[str, object] | None = None,
        section_texts: Mapping[str, str] | None = None,
        *,
        normal: bool = False,
        content_datetime: _dt.datetime | None = None,
    ) -> Report:
        """A DRAFT report of ``study`` with this template's sections, in order, filled from the
        field values and section texts; with ``normal``, unfilled fields and empty sections take
        their normal values and texts."""
        checked = self.check_values(values or {})
        texts = dict(section_texts or {})
        unknown = sorted(set(texts) - {s.key for s in self.sections})
        if unknown:
            raise TemplateValueError(f"template {self.id!r} has no section {unknown[0]!r}")
        if normal:
            checked = {**self.normal_values(), **checked}
            for key, text in self.normal_texts().items():
                if not texts.get(key, "").strip():
                    texts[key] = text
        sections = tuple(
            self.render_section(s, checked, texts.get(s.key, "")) for s in self.sections
        )
        return Report(
            study_instance_uid=study.study_instance_uid,
            patient=study.patient,
            author=author,
            sections=sections,
            accession=study.accession_number,
            status=ReportStatus.DRAFT,
            language=self.language,
            content_datetime=content_datetime,
        )

    def blank_report(
        self, study: Study, author: Author, *, content_datetime: _dt.datetime | None = None
    ) -> Report:
        """A DRAFT report with this template's sections, all empty."""
        return self.build_report(study, author, content_datetime=content_datetime)

    def apply_normal(self, report: Report) -> Report:
        """``report`` with each of this template's sections that is empty filled with its
        normal text and normal field values; sections with content are kept as they are (a
        reader's words are never overwritten). Sections are put in the template's order; other
        sections of the report follow in their own order."""
        if report.status is not ReportStatus.DRAFT:
            raise TemplateValueError(
                f"only a DRAFT report can take normal text; this one is {report.status.value}"
            )
        normals = self.normal_values()
        texts = self.normal_texts()
        by_heading = {(s.heading.value, s.heading.scheme_designator): s for s in report.sections}
        used: set[tuple[str, str]] = set()
        sections: list[ReportSection] = []
        for s in self.sections:
            key = (s.heading.value, s.heading.scheme_designator)
            existing = by_heading.get(key)
            used.add(key)
            if existing is not None and not existing.is_empty:
                sections.append(existing)
            else:
                sections.append(self.render_section(s, normals, texts.get(s.key, "")))
        sections.extend(
            s for s in report.sections if (s.heading.value, s.heading.scheme_designator) not in used
        )
        return dataclasses.replace(report, sections=tuple(sections))

    def score(self, study: Study, series: Sequence[Series] = ()) -> float | None:
        """The sum of the weights of matching rules; None when a required rule fails or the
        score is under ``min_score``."""
        total = 0.0
        for rule in self.rules:
            if rule.matches(_study_values(rule.attribute, study, series)):
                total += rule.weight
            elif rule.required:
                return None
        return total if total >= self.min_score else None


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    template: Template
    score: float


# The template used when no fallback template loaded (a site's files all broken): a reader can
# still report.
MINIMAL_TEMPLATE = Template(
    id="minimal",
    title="Report",
    version="1",
    sections=(
        TemplateSection("findings", codes.FINDINGS),
        TemplateSection("impressions", codes.IMPRESSIONS),
    ),
    fallback=True,
    source="(built in)",
)


def _study_values(attribute: str, study: Study, series: Sequence[Series]) -> tuple[str, ...]:
    if attribute == "modality":
        raw: Iterable[str] = study.modalities or [s.modality for s in series]
    elif attribute == "body_part":
        raw = [study.body_part_examined, *(s.body_part_examined for s in series)]
    elif attribute == "study_description":
        raw = [study.study_description]
    else:  # pragma: no cover - attributes are checked at load
        raise KeyError(attribute)
    return tuple(dict.fromkeys(v.strip() for v in raw if v and v.strip()))


def rank_templates(
    templates: Iterable[Template], study: Study, series: Sequence[Series] = ()
) -> list[TemplateMatch]:
    """Every template that matches the study (score above 0), best first: score, then
    priority, then id."""
    matches = []
    for t in templates:
        score = t.score(study, series)
        if score is not None and score > 0:
            matches.append(TemplateMatch(t, score))
    matches.sort(key=lambda m: (-m.score, -m.template.priority, m.template.id))
    return matches


def pick_template(
    templates: Iterable[Template], study: Study, series: Sequence[Series] = ()
) -> Template:
    """The template to report ``study`` with: the best match, else the fallback template with
    the highest priority (then first id), else ``MINIMAL_TEMPLATE``."""
    templates = list(templates)
    ranked = rank_templates(templates, study, series)
    if ranked:
        return ranked[0].template
    fallbacks = sorted((t for t in templates if t.fallback), key=lambda t: (-t.priority, t.id))
    return fallbacks[0] if fallbacks else MINIMAL_TEMPLATE


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return f"{value:.10g}"


# ---------------------------------------------------------------------------------------------
# Loading and validation


def _template_error(source: str, where: str, problem: str) -> TemplateError:
    return TemplateError(source, problem, key=where or None)


_Reader = TableReader


def _read_rule(r: _Reader) -> SelectionRule:
    r.only(("attribute", "equals", "regex", "negate", "weight", "required"))
    attribute = r.text("attribute")
    if attribute not in STUDY_ATTRIBUTES:
        raise r.error("attribute", f"{attribute!r} is not one of {', '.join(STUDY_ATTRIBUTES)}")
    if ("equals" in r.table) == ("regex" in r.table):
        raise r.error("", "needs exactly one test: equals or regex")
    regex = None
    equals: tuple[str, ...] = ()
    if "equals" in r.table:
        equals = r.texts("equals")
        if not equals:
            raise r.error("equals", "must not be an empty list")
    else:
        try:
            regex = re.compile(r.text("regex"), re.IGNORECASE)
        except re.error as exc:
            raise r.error("regex", f"not a valid regular expression ({exc})") from None
    weight = r.number("weight")
    weight = 1.0 if weight is None else weight
    if weight < 0:
        raise r.error("weight", "must not be negative (use negate to score an absence)")
    return SelectionRule(
        attribute=attribute,
        equals=equals,
        regex=regex,
        negate=r.boolean("negate"),
        weight=weight,
        required=r.boolean("required"),
    )


_FIELD_KEYS = (
    "key",
    "label",
    "kind",
    "choices",
    "unit",
    "min",
    "max",
    "concept",
    "normal",
    "phrase",
)


def _read_field(r: _Reader) -> TemplateField:
    r.only(_FIELD_KEYS)
    key = r.text("key")
    if not _KEY.match(key):
        raise r.error("key", "use lower-case letters, digits and '_', starting with a letter")
    kind_text = r.text("kind", "text")
    try:
        kind = FieldKind(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in FieldKind)
        raise r.error("kind", f"{kind_text!r} is not one of {kinds}") from None
    allowed = {
        FieldKind.TEXT: (),
        FieldKind.CHOICE: ("choices",),
        FieldKind.NUMBER: ("unit", "min", "max"),
        FieldKind.MEASUREMENT: ("unit", "min", "max", "concept"),
    }[kind]
    for extra in ("choices", "unit", "min", "max", "concept"):
        if extra in r.table and extra not in allowed:
            raise r.error(extra, f"a {kind.value} field has no {extra}")
    choices = r.texts("choices") if kind is FieldKind.CHOICE else ()
    if kind is FieldKind.CHOICE and not choices:
        raise r.error("choices", "a choice field needs at least one choice")
    if len({c.casefold() for c in choices}) != len(choices):
        raise r.error("choices", "choices must differ (case is ignored)")
    unit = ""
    if kind in (FieldKind.NUMBER, FieldKind.MEASUREMENT):
        unit = r.text("unit", "" if kind is FieldKind.NUMBER else None)
        if unit and unit not in UCUM_UNITS:
            raise r.error("unit", f"{unit!r} is not a known UCUM unit ({', '.join(UCUM_UNITS)})")
    concept = ""
    if kind is FieldKind.MEASUREMENT:
        concept = r.text("concept")
        if concept not in MEASUREMENT_CONCEPTS:
            raise r.error("concept", f"{concept!r} is not one of {', '.join(MEASUREMENT_CONCEPTS)}")
    minimum, maximum = r.number("min"), r.number("max")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise r.error("min", "must not exceed max")
    phrase = r.text("phrase", "")
    if phrase:
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(phrase) if n}
        except ValueError as exc:
            raise r.error("phrase", f"not a valid phrase ({exc})") from None
        if names - _PHRASE_FIELDS or "value" not in names:
            raise r.error("phrase", "use {value}, and optionally {label} and {unit}")
    f = TemplateField(
        key=key,
        label=r.text("label"),
        kind=kind,
        choices=choices,
        unit=unit,
        minimum=minimum,
        maximum=maximum,
        concept=concept,
        phrase=phrase,
    )
    if "normal" in r.table:
        if kind is FieldKind.MEASUREMENT:
            raise r.error("normal", "a measurement slot has no normal value")
        try:
            normal = f.check(r.table["normal"])
        except TemplateValueError as exc:
            raise r.error("normal", str(exc)) from None
        assert not isinstance(normal, Measurement)
        f = dataclasses.replace(f, normal=normal)
    return f


def _read_section(r: _Reader) -> TemplateSection:
    r.only(("key", "title", "normal", "fields"))
    key = r.text("key")
    if key not in SECTION_HEADINGS:
        raise r.error("key", f"{key!r} is not one of {', '.join(SECTION_HEADINGS)}")
    return TemplateSection(
        key=key,
        heading=SECTION_HEADINGS[key],
        title=r.text("title", ""),
        normal=r.text("normal", "").strip(),
        fields=tuple(_read_field(f) for f in r.tables("fields")),
    )


_TOP_KEYS = (
    "schema_version",
    "id",
    "title",
    "version",
    "description",
    "based_on",
    "language",
    "priority",
    "min_score",
    "fallback",
    "rules",
    "sections",
    "vocabulary",
)


def parse_template(data: Mapping[str, Any], source: str = "<memory>") -> Template:
    """Validate one template's table; raises TemplateError naming ``source`` and the key."""
    r = TableReader(source, "", dict(data), _template_error)
    r.only(_TOP_KEYS)
    version = r.integer("schema_version", SCHEMA_VERSION, 1, 10**6)
    if version > SCHEMA_VERSION:
        raise r.error(
            "schema_version", f"{version} is newer than this program reads ({SCHEMA_VERSION})"
        )
    tid = r.text("id")
    if not _ID.match(tid):
        raise r.error(
            "id", "use letters, digits, '.', '_' or '-', starting with one of the first two"
        )
    language = r.text("language", "en-US")
    if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", language):
        raise r.error("language", f"{language!r} is not an RFC 5646 tag such as 'en-US'")
    sections = tuple(_read_section(s) for s in r.tables("sections", required=True))
    seen_sections: set[str] = set()
    seen_fields: set[str] = set()
    for i, s in enumerate(sections):
        if s.key in seen_sections:
            raise r.error(f"sections[{i}].key", f"section {s.key!r} appears twice")
        seen_sections.add(s.key)
        for j, f in enumerate(s.fields):
            if f.key in seen_fields:
                raise r.error(f"sections[{i}].fields[{j}].key", f"field {f.key!r} appears twice")
            seen_fields.add(f.key)
    min_score = r.number("min_score")
    return Template(
        id=tid,
        title=r.text("title"),
        version=r.text("version"),
        sections=sections,
        description=r.text("description", ""),
        based_on=r.text("based_on", ""),
        language=language,
        priority=r.integer("priority", 0, -(10**6), 10**6),
        min_score=0.0 if min_score is None else min_score,
        fallback=r.boolean("fallback"),
        rules=tuple(_read_rule(x) for x in r.tables("rules")),
        vocabulary=tuple(dict.fromkeys(r.texts("vocabulary"))),
        source=source,
    )


def load_template_file(path: str | Path) -> Template:
    """Read and validate one template file (raises TemplateError naming the file and the line
    or key)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TemplateError(str(p), f"cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TemplateError(str(p), "not valid TOML (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_POS.search(message)
        line = int(m.group(1)) if m else None
        problem = _TOML_POS.sub("", message).strip()
        if m:
            problem = f"column {m.group(2)}: {problem}"
        raise TemplateError(str(p), f"not valid TOML: {problem}", line=line) from None
    return parse_template(data, str(p))


def load_templates(
    paths: Iterable[str | Path], errors: list[ConfigError] | None = None
) -> list[Template]:
    """Load template files and folders of ``*.toml`` files, in order.

    A template with the id of one loaded earlier replaces it, so a site's folder given after
    the built-in one overrides a built-in template. A bad file is logged and appended to
    ``errors`` (when given); the others still load.
    """
    return load_by_id(
        paths,
        load_template_file,
        what="report template",
        missing=lambda p: TemplateError(str(p), "no such template file or folder"),
        errors=errors,
    )


def builtin_template_dir() -> Path:
    """resources/templates (see :func:`core.paths.resource_path`)."""
    return resource_path("templates")


def load_builtin_templates(
    site_dirs: Iterable[str | Path] = (), errors: list[ConfigError] | None = None
) -> list[Template]:
    """The shipped templates, then each site folder's (which may override them by id)."""
    return load_templates([builtin_template_dir(), *site_dirs], errors)
