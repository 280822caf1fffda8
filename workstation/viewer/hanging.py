"""Hanging protocols as data files, and the small engine that picks one and fills its viewports.

Modelled on DICOM Hanging Protocols (PS3.3 C.23: Hanging Protocol Definition with its
Selector attributes, Image Sets of the current study and of priors, Display Sets laid out in a
screen) and on OHIF's scored matching rules. A protocol file (TOML, see resources/hanging/)
holds:

- ``id``, ``name``, ``priority``, optional ``min_score`` and ``schema_version``;
- ``rules``: weighted rules on the current study (modality, body part, study description,
  number of series, number of relevant priors); a ``required`` rule that fails rules the
  protocol out, the others add their ``weight`` when they match;
- ``prior_rules``: which earlier studies count as relevant priors (all must pass);
- ``stages``: layouts of ``rows`` x ``columns`` viewports, filled row by row; each viewport
  selects a series of the current study (``prior = 0``) or of the n-th most recent relevant
  prior (``prior = n``) by weighted rules on series modality, description, body part,
  orientation, number of images and series number, and passes its ``options`` (a window
  preset name, for example) to the viewer.

Rule tests: ``equals`` (a value or a list of them, text compared case-insensitively),
``regex`` (Python syntax, case-insensitive search), ``min``/``max`` (numbers, inclusive);
``negate = true`` inverts the test.

Ranking: the highest score wins; equal scores go to the higher ``priority``, then to the
alphabetically first ``id``. Within a viewport the best-scoring series wins; equal scores go
to a series not yet shown in the stage, then the lowest Series Number (series without one
last), then the Series Instance UID, so a hanging is the same on every run.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workstation.core.datafiles import TableReader, load_by_id
from workstation.core.errors import ConfigError
from workstation.core.model import Instance, Series, Study
from workstation.core.paths import resource_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_GRID = 8  # rows or columns of one stage
MAX_PRIOR = 20

AttrKind = Literal["text", "number"]

STUDY_ATTRIBUTES: dict[str, AttrKind] = {
    "modality": "text",  # Modalities in Study, else the series' modalities
    "body_part": "text",  # Body Part Examined of the study or any series
    "study_description": "text",
    "series_count": "number",
    "prior_count": "number",  # relevant priors, after prior_rules
}
PRIOR_ATTRIBUTES: dict[str, AttrKind] = {
    k: v for k, v in STUDY_ATTRIBUTES.items() if k != "prior_count"
}
SERIES_ATTRIBUTES: dict[str, AttrKind] = {
    "modality": "text",
    "series_description": "text",
    "body_part": "text",
    "orientation": "text",  # axial, coronal or sagittal, from Image Orientation (Patient)
    "number_of_images": "number",
    "series_number": "number",
}

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Value = tuple[str, ...] | float | None


# ---------------------------------------------------------------------------------------------
# Series seen by the engine


def plane_orientation(orientation: Sequence[float] | None) -> str:
    """ "axial", "coronal" or "sagittal" by the main axis of the plane normal, "" if unknown.

    The normal (row direction x column direction, PS3.3 C.7.6.2.1.1) mostly along z is axial,
    along y coronal, along x sagittal; oblique planes take their nearest main plane.
    """
    if orientation is None or len(orientation) < 6:
        return ""
    r, c = orientation[:3], orientation[3:6]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    mags = [abs(v) for v in n]
    if max(mags) < 1e-6:
        return ""
    return ("sagittal", "coronal", "axial")[mags.index(max(mags))]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A series with what its rules need beyond the Series record: orientation, image count."""

    series: Series
    image_orientation_patient: tuple[float, ...] | None = None
    number_of_images: int | None = None

    @classmethod
    def from_instances(cls, series: Series, instances: Sequence[Instance]) -> SeriesInfo:
        """Orientation of the first instance that has one; images = frames of the instances
        that are images (with rows and columns: not a report, a plan or a key object note)."""
        iop = next(
            (i.image_orientation_patient for i in instances if i.image_orientation_patient),
            None,
        )
        frames = sum(max(i.number_of_frames, 1) for i in instances if i.has_pixels)
        return cls(series, iop, frames)

    @property
    def images(self) -> int:
        if self.number_of_images is not None:
            return self.number_of_images
        return self.series.number_of_instances

    @property
    def orientation(self) -> str:
        return plane_orientation(self.image_orientation_patient)

    def value(self, attribute: str) -> Value:
        s = self.series
        if attribute == "modality":
            return _texts(s.modality)
        if attribute == "series_description":
            return _texts(s.series_description)
        if attribute == "body_part":
            return _texts(s.body_part_examined)
        if attribute == "orientation":
            return _texts(self.orientation)
        if attribute == "number_of_images":
            return float(self.images)
        if attribute == "series_number":
            return None if s.series_number is None else float(s.series_number)
        raise KeyError(attribute)


SeriesLike = Series | SeriesInfo
StudyWithSeries = tuple[Study, Sequence[SeriesLike]]


def _texts(*values: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in values if v and v.strip())


def _info(series: SeriesLike) -> SeriesInfo:
    return series if isinstance(series, SeriesInfo) else SeriesInfo(series)


def _study_value(
    attribute: str, study: Study, series: Sequence[SeriesInfo], prior_count: int
) -> Value:
    if attribute == "modality":
        mods = study.modalities or tuple(dict.fromkeys(s.series.modality for s in series))
        return _texts(*mods)
    if attribute == "body_part":
        parts = [study.body_part_examined, *(s.series.body_part_examined for s in series)]
        return _texts(*dict.fromkeys(parts))
    if attribute == "study_description":
        return _texts(study.study_description)
    if attribute == "series_count":
        return float(len(series))
    if attribute == "prior_count":
        return float(prior_count)
    raise KeyError(attribute)


# ---------------------------------------------------------------------------------------------
# Protocol model


@dataclass(frozen=True, slots=True)
class Rule:
    """One matching rule: a test of one attribute, its weight and whether it is required."""

    attribute: str
    equals: tuple[str | float, ...] = ()
    regex: re.Pattern[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    negate: bool = False
    weight: float = 1.0
    required: bool = False

    def matches(self, value: Value) -> bool:
        return self._test(value) != self.negate

    def _test(self, value: Value) -> bool:
        if isinstance(value, tuple):
            if self.regex is not None:
                return any(self.regex.search(v) for v in value)
            wanted = {str(e).casefold() for e in self.equals}
            return any(v.casefold() in wanted for v in value)
        if value is None:
            return False
        if self.equals:
            return any(value == e for e in self.equals)
        lo = -math.inf if self.minimum is None else self.minimum
        hi = math.inf if self.maximum is None else self.maximum
        return lo <= value <= hi


@dataclass(frozen=True, slots=True)
class Viewport:
    """One cell of a stage and the series selector that fills it."""

    rules: tuple[Rule, ...] = ()
    prior: int = 0  # 0 the current study, n the n-th most recent relevant prior
    required: bool = False  # the stage cannot hang without a series here
    allow_reuse: bool = False  # may show a series another viewport of the stage shows
    label: str = ""
    options: Mapping[str, str | int | float | bool] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Stage:
    """A layout of rows x columns viewports, filled row by row."""

    name: str
    rows: int
    columns: int
    viewports: tuple[Viewport, ...]

    def cell(self, index: int) -> tuple[int, int]:
        """(row, column) of the viewport at ``index``."""
        return divmod(index, self.columns)


@dataclass(frozen=True, slots=True)
class Protocol:
    id: str
    name: str
    stages: tuple[Stage, ...]
    priority: int = 0
    min_score: float = 0.0
    rules: tuple[Rule, ...] = ()
    prior_rules: tuple[Rule, ...] = ()
    description: str = ""
    source: str = ""  # the file it came from


@dataclass(frozen=True, slots=True)
class ViewportAssignment:
    """The series chosen for one viewport; ``series`` is None when nothing fits."""

    index: int
    row: int
    column: int
    viewport: Viewport
    study: Study | None
    series: SeriesInfo | None
    score: float | None


@dataclass(frozen=True, slots=True)
class ProtocolMatch:
    protocol: Protocol
    score: float


# ---------------------------------------------------------------------------------------------
# Engine


def _score_rules(rules: Iterable[Rule], value_of: Any) -> float | None:
    """Sum of the weights of matching rules; None when a required rule fails."""
    score = 0.0
    for rule in rules:
        if rule.matches(value_of(rule.attribute)):
            score += rule.weight
        elif rule.required:
            return None
    return score


def order_priors(current: Study, priors: Iterable[StudyWithSeries]) -> list[StudyWithSeries]:
    """Priors most recent first by Study Date and Time; undated last; the current study dropped.

    Equal dates keep the caller's order (a stable sort).
    """
    rest = [p for p in priors if p[0].study_instance_uid != current.study_instance_uid]
    dated = [p for p in rest if p[0].study_date]
    undated = [p for p in rest if not p[0].study_date]
    dated.sort(key=lambda p: (p[0].study_date, p[0].study_time), reverse=True)
    return dated + undated


def relevant_priors(
    protocol: Protocol, current: Study, priors: Iterable[StudyWithSeries]
) -> list[StudyWithSeries]:
    """The priors that pass every prior rule of the protocol, most recent first."""
    out = []
    for study, series in order_priors(current, priors):
        infos = [_info(s) for s in series]
        if all(r.matches(_study_value(r.attribute, study, infos, 0)) for r in protocol.prior_rules):
            out.append((study, series))
    return out


def _series_order(info: SeriesInfo) -> tuple[int, int, str]:
    number = info.series.series_number
    return (number is None, number if number is not None else 0, info.series.series_instance_uid)


def assign_viewports(
    stage: Stage, current: StudyWithSeries, priors: Sequence[StudyWithSeries] = ()
) -> list[ViewportAssignment]:
    """The best-matching series for each viewport of a stage, in viewport order.

    ``priors`` are the relevant priors (see :func:`relevant_priors`); they are put most recent
    first here too, so ``prior = 1`` is always the latest. A series fills one viewport per stage
    unless the later viewport has ``allow_reuse``.
    """
    studies: list[StudyWithSeries] = [current, *order_priors(current[0], priors)]
    used: set[tuple[str, str]] = set()
    out: list[ViewportAssignment] = []
    for index, vp in enumerate(stage.viewports):
        row, column = stage.cell(index)
        if vp.prior >= len(studies):
            out.append(ViewportAssignment(index, row, column, vp, None, None, None))
            continue
        study, series = studies[vp.prior]
        best: tuple[tuple[float, bool, tuple[int, int, str]], SeriesInfo, float] | None = None
        for info in (_info(s) for s in series):
            if info.number_of_images == 0:
                continue  # a report, plan or key object series: nothing a viewport can show
            key = (study.study_instance_uid, info.series.series_instance_uid)
            if key in used and not vp.allow_reuse:
                continue
            score = _score_rules(vp.rules, info.value)
            if score is None:
                continue
            rank = (-score, key in used, _series_order(info))
            if best is None or rank < best[0]:
                best = (rank, info, score)
        if best is None:
            out.append(ViewportAssignment(index, row, column, vp, study, None, None))
            continue
        _, chosen, score = best
        used.add((study.study_instance_uid, chosen.series.series_instance_uid))
        out.append(ViewportAssignment(index, row, column, vp, study, chosen, score))
    return out


def stage_is_complete(assignments: Sequence[ViewportAssignment]) -> bool:
    """True when every required viewport got a series."""
    return all(a.series is not None for a in assignments if a.viewport.required)


def applicable_stages(
    protocol: Protocol, current: StudyWithSeries, priors: Sequence[StudyWithSeries] = ()
) -> list[int]:
    """Indices of the stages whose required viewports can all be filled."""
    relevant = relevant_priors(protocol, current[0], priors)
    return [
        i
        for i, stage in enumerate(protocol.stages)
        if stage_is_complete(assign_viewports(stage, current, relevant))
    ]


def score_protocol(
    protocol: Protocol,
    study: Study,
    series_list: Sequence[SeriesLike],
    priors: Sequence[StudyWithSeries] = (),
) -> float | None:
    """How well a protocol fits a study: the sum of its matching rules' weights.

    None when a required rule fails, the score is under ``min_score``, or the first stage
    cannot fill a required viewport (a comparison protocol without a relevant prior) or
    fills none at all (an MR brain protocol on an angiogram: four empty viewports).
    """
    infos = [_info(s) for s in series_list]
    relevant = relevant_priors(protocol, study, priors)
    score = _score_rules(
        protocol.rules, lambda attr: _study_value(attr, study, infos, len(relevant))
    )
    if score is None or score < protocol.min_score:
        return None
    first = assign_viewports(protocol.stages[0], (study, infos), relevant)
    if not stage_is_complete(first) or all(a.series is None for a in first):
        return None
    return score


def rank_protocols(
    protocols: Iterable[Protocol],
    study: Study,
    series_list: Sequence[SeriesLike],
    priors: Sequence[StudyWithSeries] = (),
) -> list[ProtocolMatch]:
    """Every applicable protocol, best first (score, then priority, then id)."""
    matches = []
    for p in protocols:
        score = score_protocol(p, study, series_list, priors)
        if score is not None:
            matches.append(ProtocolMatch(p, score))
    matches.sort(key=lambda m: (-m.score, -m.protocol.priority, m.protocol.id))
    return matches


def best_protocol(
    protocols: Iterable[Protocol],
    study: Study,
    series_list: Sequence[SeriesLike],
    priors: Sequence[StudyWithSeries] = (),
) -> Protocol | None:
    """The protocol to hang a study with, or None when none applies."""
    ranked = rank_protocols(protocols, study, series_list, priors)
    return ranked[0].protocol if ranked else None


# ---------------------------------------------------------------------------------------------
# Loading and validation


_Reader = TableReader

_RULE_KEYS = ("attribute", "equals", "regex", "min", "max", "negate", "weight", "required")


def _read_rule(r: _Reader, attributes: Mapping[str, AttrKind], *, filter_only: bool) -> Rule:
    r.only(_RULE_KEYS)
    attribute = r.text("attribute")
    if attribute not in attributes:
        raise r.error("attribute", f"{attribute!r} is not one of {', '.join(sorted(attributes))}")
    if filter_only:
        for k in ("weight", "required"):
            if k in r.table:
                raise r.error(k, "prior rules are filters: every one must pass, none weighs")
    kind = attributes[attribute]
    tests = [k for k in ("equals", "regex") if k in r.table]
    has_range = "min" in r.table or "max" in r.table
    if len(tests) + has_range != 1:
        raise r.error("", "needs exactly one test: equals, regex, or min/max")
    equals: tuple[str | float, ...] = ()
    regex = None
    minimum = maximum = None
    if "equals" in r.table:
        raw = r.table["equals"]
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise r.error("equals", "must not be an empty list")
        for item in items:
            ok = (
                isinstance(item, str)
                if kind == "text"
                else isinstance(item, int | float) and not isinstance(item, bool)
            )
            if not ok:
                expected = "text" if kind == "text" else "a number"
                raise r.error("equals", f"{attribute} takes {expected}, got {item!r}")
        equals = tuple(items) if kind == "text" else tuple(float(i) for i in items)
    elif "regex" in r.table:
        if kind != "text":
            raise r.error("regex", f"{attribute} is a number: use equals, min or max")
        pattern = r.text("regex")
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise r.error("regex", f"not a valid regular expression ({exc})") from None
    else:
        if kind != "number":
            raise r.error("min" if "min" in r.table else "max", f"{attribute} is text")
        minimum, maximum = r.number("min", None), r.number("max", None)
        if minimum is not None and maximum is not None and minimum > maximum:
            raise r.error("min", "must not exceed max")
    weight = 0.0 if filter_only else r.number("weight", 1.0)
    assert weight is not None
    if weight < 0:
        raise r.error("weight", "must not be negative (use negate to score an absence)")
    return Rule(
        attribute=attribute,
        equals=equals,
        regex=regex,
        minimum=minimum,
        maximum=maximum,
        negate=r.boolean("negate"),
        weight=weight,
        required=True if filter_only else r.boolean("required"),
    )


def _read_options(r: _Reader) -> dict[str, str | int | float | bool]:
    if "options" not in r.table:
        return {}
    raw = r.table["options"]
    if not isinstance(raw, dict):
        raise r.error("options", "expected a table")
    for k, v in raw.items():
        if not isinstance(v, str | int | float | bool):
            raise r.error(f"options.{k}", f"expected text, a number or true/false, got {v!r}")
    return dict(raw)


def _read_stage(r: _Reader) -> Stage:
    r.only(("name", "rows", "columns", "viewports"))
    rows = r.integer("rows", 1, 1, MAX_GRID)
    columns = r.integer("columns", 1, 1, MAX_GRID)
    viewports = []
    for v in r.tables("viewports", required=True):
        v.only(("label", "prior", "required", "allow_reuse", "rules", "options"))
        viewports.append(
            Viewport(
                rules=tuple(
                    _read_rule(x, SERIES_ATTRIBUTES, filter_only=False) for x in v.tables("rules")
                ),
                prior=v.integer("prior", 0, 0, MAX_PRIOR),
                required=v.boolean("required"),
                allow_reuse=v.boolean("allow_reuse"),
                label=v.text("label", ""),
                options=_read_options(v),
            )
        )
    if len(viewports) > rows * columns:
        raise r.error(
            "viewports", f"{len(viewports)} viewports do not fit {rows} x {columns} cells"
        )
    return Stage(r.text("name", ""), rows, columns, tuple(viewports))


def parse_protocol(data: Mapping[str, Any], source: str = "<memory>") -> Protocol:
    """Validate one protocol's table; raises ConfigError naming ``source`` and the key."""
    r = _Reader(source, "", dict(data))
    r.only(
        (
            "schema_version",
            "id",
            "name",
            "description",
            "priority",
            "min_score",
            "rules",
            "prior_rules",
            "stages",
        )
    )
    version = r.integer("schema_version", SCHEMA_VERSION, 1, 10**6)
    if version > SCHEMA_VERSION:
        raise r.error(
            "schema_version", f"{version} is newer than this program reads ({SCHEMA_VERSION})"
        )
    pid = r.text("id")
    if not _ID.match(pid):
        raise r.error(
            "id", "use letters, digits, '.', '_' or '-' (starting with one of the first two)"
        )
    min_score = r.number("min_score", 0.0)
    assert min_score is not None
    return Protocol(
        id=pid,
        name=r.text("name"),
        description=r.text("description", ""),
        priority=r.integer("priority", 0, -(10**6), 10**6),
        min_score=min_score,
        rules=tuple(_read_rule(x, STUDY_ATTRIBUTES, filter_only=False) for x in r.tables("rules")),
        prior_rules=tuple(
            _read_rule(x, PRIOR_ATTRIBUTES, filter_only=True) for x in r.tables("prior_rules")
        ),
        stages=tuple(_read_stage(s) for s in r.tables("stages", required=True)),
        source=source,
    )


def load_protocol_file(path: str | Path) -> Protocol:
    """Read and validate one protocol file (raises ConfigError naming the file and key)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not valid TOML (not UTF-8 text)") from None
    return parse_protocol(data, str(p))


def load_protocols(
    paths: Iterable[str | Path], errors: list[ConfigError] | None = None
) -> list[Protocol]:
    """Load protocol files and folders of ``*.toml`` files, in order.

    A protocol with the id of one loaded earlier replaces it, so a site's folder given after
    the built-in one overrides a built-in protocol. A bad file is logged and appended to
    ``errors`` (when given); the others still load.
    """
    return load_by_id(
        paths,
        load_protocol_file,
        what="hanging protocol",
        missing=lambda p: ConfigError(f"{p}: no such protocol file or folder"),
        errors=errors,
    )


def builtin_protocol_dir() -> Path:
    """resources/hanging (see :func:`core.paths.resource_path`)."""
    return resource_path("hanging")


def load_builtin_protocols(
    site_dirs: Iterable[str | Path] = (), errors: list[ConfigError] | None = None
) -> list[Protocol]:
    """The shipped protocols, then each site folder's (which may override them by id)."""
    return load_protocols([builtin_protocol_dir(), *site_dirs], errors)
