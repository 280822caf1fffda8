"""The hanging-protocol engine and the protocol files shipped in resources/hanging."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from workstation.archive.dicomio import parse_dataset
from workstation.core.errors import ConfigError
from workstation.core.model import Instance, Patient, Series, Study
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, DX_CHEST, MR_BRAIN, DemoStudy, generate_slice
from workstation.viewer.hanging import (
    Protocol,
    SeriesInfo,
    applicable_stages,
    assign_viewports,
    best_protocol,
    builtin_protocol_dir,
    load_builtin_protocols,
    load_protocols,
    parse_protocol,
    plane_orientation,
    rank_protocols,
    relevant_priors,
    score_protocol,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
PATIENT = Patient("P-1", "HOSP", "Test^Patient")

_uid = iter(range(1, 10_000))


def study(
    description: str,
    modalities: tuple[str, ...],
    body_part: str = "",
    date: str = "20260101",
    time: str = "120000",
) -> Study:
    return Study(
        study_instance_uid=f"1.2.826.0.1.3680043.10.999.7.{next(_uid)}",
        patient=PATIENT,
        study_date=date,
        study_time=time,
        study_description=description,
        modalities=modalities,
        body_part_examined=body_part,
    )


def series(
    st: Study,
    number: int | None,
    description: str,
    modality: str,
    images: int = 100,
    orientation: tuple[float, ...] | None = AXIAL,
    body_part: str = "",
) -> SeriesInfo:
    s = Series(
        series_instance_uid=f"{st.study_instance_uid}.{next(_uid)}",
        study_instance_uid=st.study_instance_uid,
        modality=modality,
        series_number=number,
        series_description=description,
        body_part_examined=body_part,
        number_of_instances=images,
    )
    return SeriesInfo(s, orientation, images)


@pytest.fixture(scope="module")
def protocols() -> dict[str, Protocol]:
    errors: list[ConfigError] = []
    loaded = load_builtin_protocols(errors=errors)
    assert errors == []
    return {p.id: p for p in loaded}


def ids(assignments: list, attr: str = "series_description") -> list[str | None]:
    return [None if a.series is None else getattr(a.series.series, attr) for a in assignments]


# ---------------------------------------------------------------------------------------------
# Shipped protocols


def test_builtin_protocols_all_load(protocols: dict[str, Protocol]) -> None:
    assert sorted(protocols) == [
        "chest-xr",
        "ct-compare",
        "ct-head",
        "default",
        "generic-2x2",
        "mr-brain",
    ]
    assert builtin_protocol_dir().name == "hanging"
    grids = {pid: [(s.rows, s.columns) for s in p.stages] for pid, p in protocols.items()}
    assert grids == {
        "chest-xr": [(1, 2), (1, 2)],
        "ct-compare": [(1, 2), (1, 3)],
        "ct-head": [(1, 2), (1, 1)],
        "default": [(1, 1)],
        "generic-2x2": [(2, 2)],
        "mr-brain": [(2, 2), (1, 2)],
    }


def test_ct_head_scores_and_hangs_brain_and_bone(protocols: dict[str, Protocol]) -> None:
    cur = study("CT HEAD WITHOUT CONTRAST", ("CT",), "HEAD")
    axial = series(cur, 2, "Axial 1.0 mm", "CT", 150)
    scout = series(cur, 1, "Scout", "CT", 2, orientation=CORONAL)
    # CT (1) + body part HEAD (2) + description "HEAD" (2)
    assert score_protocol(protocols["ct-head"], cur, [scout, axial]) == 5.0
    assert score_protocol(protocols["default"], cur, [scout, axial]) == 0.0
    assert score_protocol(protocols["mr-brain"], cur, [scout, axial]) is None  # MR required
    assert score_protocol(protocols["ct-compare"], cur, [scout, axial]) is None  # no prior
    assert score_protocol(protocols["generic-2x2"], cur, [scout, axial]) is None  # 2 series
    assert best_protocol(protocols.values(), cur, [scout, axial]) is protocols["ct-head"]
    hung = assign_viewports(protocols["ct-head"].stages[0], (cur, [scout, axial]))
    # The one axial series fills both viewports (the bone viewport allows reuse).
    assert ids(hung) == ["Axial 1.0 mm", "Axial 1.0 mm"]
    assert [a.viewport.options["window"] for a in hung] == ["BRAIN", "BONE"]
    assert [(a.row, a.column) for a in hung] == [(0, 0), (0, 1)]
    assert [a.score for a in hung] == [4.0, 3.0]


def test_ct_head_prefers_a_bone_series_when_there_is_one(protocols: dict[str, Protocol]) -> None:
    cur = study("CT BRAIN", ("CT",))
    brain = series(cur, 2, "Head 5mm H30s", "CT", 30)
    bone = series(cur, 3, "Head 1mm BONE H70h", "CT", 150)
    hung = assign_viewports(protocols["ct-head"].stages[0], (cur, [bone, brain]))
    assert ids(hung) == ["Head 5mm H30s", "Head 1mm BONE H70h"]
    # Only the description says head: CT (1) + description (2) = 3 = min_score.
    assert score_protocol(protocols["ct-head"], cur, [brain, bone]) == 3.0


def test_min_score_keeps_a_ct_chest_off_the_head_protocol(protocols: dict[str, Protocol]) -> None:
    cur = study("CT CHEST", ("CT",), "CHEST")
    one = [series(cur, 1, "Lung 1mm", "CT", 300)]
    assert score_protocol(protocols["ct-head"], cur, one) is None  # 1 < min_score 3
    assert best_protocol(protocols.values(), cur, one) is protocols["default"]
    four = [series(cur, n, f"Series {n}", "CT", 50 * n) for n in (1, 2, 3, 4)]
    assert best_protocol(protocols.values(), cur, four) is protocols["generic-2x2"]


def test_a_protocol_that_would_hang_nothing_is_passed_over(
    protocols: dict[str, Protocol],
) -> None:
    """pydicom's MR angiogram (localizer, pilot, projections) took the MR brain protocol,
    whose T1, T2, FLAIR and DWI viewports all stayed empty: the reader saw four black cells."""
    cur = study("Brain-MRA", ("MR",), "BRAIN")
    mra = [
        series(cur, 1, "FAST LOCALIZER", "MR", 1),
        series(cur, 2, "T/S/C RF FAST PILOT", "MR", 3),
        series(cur, 700, "ANGIO Projected from C", "MR", 7),
    ]
    assert score_protocol(protocols["mr-brain"], cur, mra) is None
    assert best_protocol(protocols.values(), cur, mra) is protocols["default"]
    with_t2 = [*mra, series(cur, 3, "AX T2", "MR", 24)]
    assert score_protocol(protocols["mr-brain"], cur, with_t2) is not None


def test_modalities_fall_back_to_the_series_when_the_study_lists_none(
    protocols: dict[str, Protocol],
) -> None:
    cur = study("HEAD", ())
    s = [series(cur, 1, "Axial", "CT")]
    assert score_protocol(protocols["ct-head"], cur, s) == 3.0
    cur_mr = study("HEAD", ())
    assert score_protocol(protocols["ct-head"], cur_mr, [series(cur_mr, 1, "T1", "MR")]) is None


# ---------------------------------------------------------------------------------------------
# Priors


def test_comparison_picks_the_most_recent_relevant_prior(protocols: dict[str, Protocol]) -> None:
    cur = study("CT HEAD", ("CT",), "HEAD", date="20261120")
    cur_series = [series(cur, 1, "Axial 1.0 mm", "CT", 150)]
    old = study("CT HEAD", ("CT",), "HEAD", date="20240101")
    recent = study("CT HEAD", ("CT",), "HEAD", date="20251101")
    mr_newer = study("MR BRAIN", ("MR",), "HEAD", date="20260601")
    priors = [
        (old, [series(old, 1, "Axial old", "CT", 30)]),
        (mr_newer, [series(mr_newer, 1, "Ax T1", "MR", 30)]),
        (recent, [series(recent, 1, "Axial recent", "CT", 30)]),
        (cur, cur_series),  # the current study itself is never its own prior
    ]
    compare = protocols["ct-compare"]
    assert [p[0] for p in relevant_priors(compare, cur, priors)] == [recent, old]
    # CT (1) + prior_count >= 1 (5) beats ct-head's 5.
    assert score_protocol(compare, cur, cur_series, priors) == 6.0
    assert best_protocol(protocols.values(), cur, cur_series, priors) is compare
    ranked = rank_protocols(protocols.values(), cur, cur_series, priors)
    assert [(m.protocol.id, m.score) for m in ranked] == [
        ("ct-compare", 6.0),
        ("ct-head", 5.0),
        ("default", 0.0),
    ]
    relevant = relevant_priors(compare, cur, priors)
    hung = assign_viewports(compare.stages[0], (cur, cur_series), relevant)
    assert ids(hung) == ["Axial 1.0 mm", "Axial recent"]
    assert [a.study for a in hung] == [cur, recent]
    three = assign_viewports(compare.stages[1], (cur, cur_series), relevant)
    assert ids(three) == ["Axial 1.0 mm", "Axial recent", "Axial old"]
    assert applicable_stages(compare, (cur, cur_series), priors) == [0, 1]
    assert applicable_stages(compare, (cur, cur_series), priors[1:]) == [0]


def test_comparison_needs_a_prior_of_its_kind(protocols: dict[str, Protocol]) -> None:
    cur = study("CT HEAD", ("CT",), "HEAD", date="20261120")
    cur_series = [series(cur, 1, "Axial", "CT")]
    mr = study("MR BRAIN", ("MR",), "HEAD", date="20250101")
    priors = [(mr, [series(mr, 1, "Ax T1", "MR")])]
    assert score_protocol(protocols["ct-compare"], cur, cur_series, priors) is None
    assert best_protocol(protocols.values(), cur, cur_series, priors) is protocols["ct-head"]


def test_priors_on_the_same_day_keep_time_order_and_undated_go_last() -> None:
    proto = parse_protocol(
        {
            "id": "p",
            "name": "p",
            "stages": [
                {
                    "rows": 1,
                    "columns": 4,
                    "viewports": [{"prior": k} for k in range(4)],
                }
            ],
        }
    )
    cur = study("X", ("CT",), date="20260105", time="100000")
    morning = study("X", ("CT",), date="20260101", time="080000")
    evening = study("X", ("CT",), date="20260101", time="200000")
    undated = study("X", ("CT",), date="")
    studies = {s: [series(s, 1, desc, "CT")] for s, desc in ((morning, "m"), (evening, "e"))}
    studies[undated] = [series(undated, 1, "u", "CT")]
    hung = assign_viewports(
        proto.stages[0], (cur, [series(cur, 1, "c", "CT")]), list(studies.items())
    )
    assert ids(hung) == ["c", "e", "m", "u"]


def test_chest_radiograph_pa_and_lateral(protocols: dict[str, Protocol]) -> None:
    cur = study("XR CHEST PA AND LATERAL", ("DX",), date="20261121")
    pa = series(cur, 1, "Chest PA", "DX", 1, orientation=None, body_part="CHEST")
    lat = series(cur, 2, "Chest lateral", "DX", 1, orientation=None, body_part="CHEST")
    # DX (1) + body part CHEST from the series (2) + description (2)
    assert score_protocol(protocols["chest-xr"], cur, [lat, pa]) == 5.0
    assert best_protocol(protocols.values(), cur, [lat, pa]) is protocols["chest-xr"]
    hung = assign_viewports(protocols["chest-xr"].stages[0], (cur, [lat, pa]))
    assert ids(hung) == ["Chest PA", "Chest lateral"]
    # Without a lateral the lateral viewport stays empty rather than repeating the PA.
    only_pa = assign_viewports(protocols["chest-xr"].stages[0], (cur, [pa]))
    assert ids(only_pa) == ["Chest PA", None]
    # Stage 2 needs a prior radiograph.
    old = study("XR CHEST", ("CR",), date="20250101")
    old_pa = series(old, 1, "CHEST AP portable", "CR", 1, orientation=None)
    assert applicable_stages(protocols["chest-xr"], (cur, [pa, lat]), []) == [0]
    assert applicable_stages(protocols["chest-xr"], (cur, [pa, lat]), [(old, [old_pa])]) == [0, 1]
    hung2 = assign_viewports(protocols["chest-xr"].stages[1], (cur, [pa, lat]), [(old, [old_pa])])
    assert ids(hung2) == ["Chest PA", "CHEST AP portable"]


# ---------------------------------------------------------------------------------------------
# Series selection


def test_mr_brain_2x2_uses_each_series_once(protocols: dict[str, Protocol]) -> None:
    cur = study("MR BRAIN WITHOUT CONTRAST", ("MR",), "HEAD")
    s = [
        series(cur, 1, "3-plane loc", "MR", 3),
        series(cur, 2, "Ax T2 FLAIR", "MR"),
        series(cur, 3, "Ax T2 FSE", "MR"),
        series(cur, 4, "Sag T1", "MR", orientation=SAGITTAL),
        series(cur, 5, "Ax T1 SE", "MR"),
        series(cur, 6, "Ax DWI b1000", "MR"),
        series(cur, 7, "ADC map", "MR"),
        series(cur, 8, "Ax T1 post gad", "MR"),
    ]
    assert score_protocol(protocols["mr-brain"], cur, s) == 5.0
    hung = assign_viewports(protocols["mr-brain"].stages[0], (cur, s))
    assert ids(hung) == ["Ax T1 SE", "Ax T2 FSE", "Ax T2 FLAIR", "Ax DWI b1000"]
    assert [(a.row, a.column) for a in hung] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert ids(assign_viewports(protocols["mr-brain"].stages[1], (cur, s))) == [
        "Ax DWI b1000",
        "ADC map",
    ]
    # Only a T1: the other viewports stay empty (their description rule is required).
    t1_only = [series(cur, 1, "Ax T1 SE", "MR")]
    assert ids(assign_viewports(protocols["mr-brain"].stages[0], (cur, t1_only))) == [
        "Ax T1 SE",
        None,
        None,
        None,
    ]


def test_each_series_once_then_empty(protocols: dict[str, Protocol]) -> None:
    cur = study("CT ABDOMEN", ("CT",), "ABDOMEN")
    s = [
        series(cur, 4, "Venous", "CT", 200),
        series(cur, 1, "Scout", "CT", 1, orientation=CORONAL),
        series(cur, 2, "Arterial", "CT", 200),
    ]
    hung = assign_viewports(protocols["generic-2x2"].stages[0], (cur, s))
    # Stacks first, ties by Series Number; the scout last; a fourth viewport stays empty.
    assert ids(hung) == ["Arterial", "Venous", "Scout", None]
    assert [a.score for a in hung] == [1.0, 1.0, 0.0, None]
    assert hung[3].study == cur


def test_series_tie_break_series_number_then_uid() -> None:
    proto = parse_protocol(
        {
            "id": "t",
            "name": "t",
            "stages": [{"rows": 1, "columns": 3, "viewports": [{}, {}, {}]}],
        }
    )
    cur = study("X", ("CT",))
    a = series(cur, None, "no number", "CT")
    b = series(cur, 7, "seven", "CT")
    c = series(cur, 3, "three", "CT")
    assert ids(assign_viewports(proto.stages[0], (cur, [a, b, c]))) == [
        "three",
        "seven",
        "no number",
    ]


def test_orientation_and_image_count_rules() -> None:
    assert plane_orientation(AXIAL) == "axial"
    assert plane_orientation(CORONAL) == "coronal"
    assert plane_orientation(SAGITTAL) == "sagittal"
    # 20° tilted axial stays axial.
    assert plane_orientation((1.0, 0.0, 0.0, 0.0, 0.9397, -0.342)) == "axial"
    assert plane_orientation(None) == ""
    cur = study("X", ("MR",))
    ser = Series("1.2.3.4", cur.study_instance_uid, "MR", 5, "Sag T2", number_of_instances=2)
    size = {"rows": 256, "columns": 256, "image_orientation_patient": SAGITTAL}
    instances = [
        Instance(f"1.2.3.4.{k}", "1.2.3.4", "1.2", "1.2", "f", **size)  # type: ignore[arg-type]
        for k in range(2)
    ] + [
        Instance("1.2.3.4.9", "1.2.3.4", "1.2", "1.2", "f", number_of_frames=20, **size),  # type: ignore[arg-type]
        # not an image (a report, a key object note): no rows or columns, counts for nothing
        Instance("1.2.3.4.10", "1.2.3.4", "1.2.840.10008.5.1.4.1.1.88.11", "1.2", "f"),
    ]
    info = SeriesInfo.from_instances(ser, instances)
    assert (info.orientation, info.images) == ("sagittal", 22)
    proto = parse_protocol(
        {
            "id": "o",
            "name": "o",
            "stages": [
                {
                    "viewports": [
                        {
                            "rules": [
                                {"attribute": "orientation", "equals": "sagittal", "weight": 2},
                                {"attribute": "number_of_images", "min": 10, "max": 30},
                            ]
                        }
                    ]
                }
            ],
        }
    )
    axial = series(cur, 1, "Ax", "MR", 25)
    few = SeriesInfo(ser, SAGITTAL, 5)
    hung = assign_viewports(proto.stages[0], (cur, [axial, info, few]))
    assert hung[0].series is info and hung[0].score == 3.0
    # A plain Series (no orientation known) only scores on its instance count.
    plain = assign_viewports(proto.stages[0], (cur, [Series("9", cur.study_instance_uid, "MR")]))
    assert plain[0].score == 0.0


# ---------------------------------------------------------------------------------------------
# Protocol ranking


def _protocol(pid: str, priority: int, weight: float) -> Protocol:
    return parse_protocol(
        {
            "id": pid,
            "name": pid,
            "priority": priority,
            "rules": [{"attribute": "modality", "equals": "CT", "weight": weight}],
            "stages": [{"viewports": [{}]}],
        }
    )


def test_tie_break_score_then_priority_then_id() -> None:
    cur = study("X", ("CT",))
    s = [series(cur, 1, "a", "CT")]
    low = _protocol("b-low", 1, 2.0)
    high = _protocol("c-high", 5, 2.0)
    same = _protocol("a-same", 5, 2.0)
    better = _protocol("z-better", -10, 2.5)
    assert best_protocol([low, high], cur, s) is high
    assert best_protocol([high, same], cur, s) is same
    assert [m.protocol.id for m in rank_protocols([low, high, same, better], cur, s)] == [
        "z-better",
        "a-same",
        "c-high",
        "b-low",
    ]
    assert best_protocol([], cur, s) is None


def test_rules_equals_list_regex_negate_and_range() -> None:
    proto = parse_protocol(
        {
            "id": "r",
            "name": "r",
            "rules": [
                {"attribute": "modality", "equals": ["CT", "pt"], "required": True},
                {"attribute": "study_description", "regex": "^pet", "weight": 4},
                {"attribute": "study_description", "regex": "brain", "negate": True, "weight": 2},
                {"attribute": "series_count", "min": 2, "max": 3, "weight": 8},
            ],
            "stages": [{"viewports": [{}]}],
        }
    )
    pet = study("PET-CT whole body", ("PT", "CT"))
    two = [series(pet, 1, "a", "PT"), series(pet, 2, "b", "CT")]
    # modality (weight 1 by default) + description (4) + not brain (2) + 2 series (8)
    assert score_protocol(proto, pet, two) == 15.0
    assert score_protocol(proto, pet, two * 2) == 7.0  # 4 series: out of range
    brain = study("PET brain", ("PT",))
    assert score_protocol(proto, brain, two) == 13.0
    mr = study("PET brain", ("MR",))
    assert score_protocol(proto, mr, [series(mr, 1, "a", "MR")]) is None


# ---------------------------------------------------------------------------------------------
# Files: validation, bad files, site folders


GOOD = """
id = "site-good"
name = "Site protocol"
[[stages]]
[[stages.viewports]]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BAD_FILES = {
    "syntax.toml": ('id = "x\nname = "y"\n', "not valid TOML"),
    "weight.toml": (
        """
        id = "w"
        name = "w"
        [[stages]]
        [[stages.viewports]]
        rules = [{ attribute = "modality", equals = "CT", weight = "high" }]
        """,
        "stages[0].viewports[0].rules[0].weight: expected a number, got 'high'",
    ),
    "attribute.toml": (
        """
        id = "a"
        name = "a"
        [[rules]]
        attribute = "modalty"
        equals = "CT"
        [[stages]]
        [[stages.viewports]]
        """,
        "rules[0].attribute: 'modalty' is not one of",
    ),
    "regex.toml": (
        """
        id = "re"
        name = "re"
        [[stages]]
        [[stages.viewports]]
        [[stages.viewports.rules]]
        attribute = "series_description"
        regex = "t1("
        """,
        "stages[0].viewports[0].rules[0].regex: not a valid regular expression",
    ),
    "noid.toml": ('name = "n"\n[[stages]]\n[[stages.viewports]]\n', "id: missing"),
    "typo.toml": (
        'id = "t"\nname = "t"\nprioriti = 3\n[[stages]]\n[[stages.viewports]]\n',
        "prioriti: unknown key",
    ),
    "grid.toml": (
        'id = "g"\nname = "g"\n[[stages]]\nrows = 1\ncolumns = 1\n'
        "[[stages.viewports]]\n[[stages.viewports]]\n",
        "stages[0].viewports: 2 viewports do not fit 1 x 1 cells",
    ),
    "nostages.toml": ('id = "s"\nname = "s"\n', "stages: missing"),
    "texttest.toml": (
        """
        id = "tt"
        name = "tt"
        [[stages]]
        [[stages.viewports]]
        rules = [{ attribute = "series_description", min = 3 }]
        """,
        "stages[0].viewports[0].rules[0].min: series_description is text",
    ),
    "twotests.toml": (
        """
        id = "two"
        name = "two"
        [[rules]]
        attribute = "modality"
        equals = "CT"
        regex = "CT"
        [[stages]]
        [[stages.viewports]]
        """,
        "rules[0]: needs exactly one test",
    ),
    "priorweight.toml": (
        """
        id = "pw"
        name = "pw"
        [[prior_rules]]
        attribute = "modality"
        equals = "CT"
        weight = 2
        [[stages]]
        [[stages.viewports]]
        """,
        "prior_rules[0].weight: prior rules are filters",
    ),
    "future.toml": (
        'schema_version = 2\nid = "f"\nname = "f"\n[[stages]]\n[[stages.viewports]]\n',
        "schema_version: 2 is newer than this program reads (1)",
    ),
}


def test_bad_files_are_reported_by_name_and_key_and_the_rest_load(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    write(folder, "good.toml", GOOD)
    write(folder, "notes.txt", "not a protocol")
    for name, (text, _) in BAD_FILES.items():
        write(folder, name, text)
    errors: list[ConfigError] = []
    loaded = load_protocols([folder, tmp_path / "missing"], errors)
    assert [p.id for p in loaded] == ["site-good"]
    assert loaded[0].source == str(folder / "good.toml")
    by_file = {}
    for err in errors:
        path, _, rest = str(err).partition(": ")
        by_file[Path(path).name] = rest
    assert sorted(by_file) == sorted([*BAD_FILES, "missing"])
    for name, (_, expected) in BAD_FILES.items():
        assert expected in by_file[name], (name, by_file[name])
    assert by_file["missing"] == "no such protocol file or folder"


def test_site_folder_overrides_a_builtin_by_id(tmp_path: Path) -> None:
    write(
        tmp_path,
        "my_default.toml",
        """
        id = "default"
        name = "Site default 1 x 2"
        [[stages]]
        rows = 1
        columns = 2
        [[stages.viewports]]
        [[stages.viewports]]
        """,
    )
    errors: list[ConfigError] = []
    loaded = {p.id: p for p in load_builtin_protocols([tmp_path], errors)}
    assert errors == []
    assert loaded["default"].name == "Site default 1 x 2"
    assert loaded["default"].source == str(tmp_path / "my_default.toml")
    assert len(loaded) == 6


def test_parse_errors_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^<memory>: stages\[0\]\.rows: must be between 1 and 8"):
        parse_protocol({"id": "x", "name": "x", "stages": [{"rows": 9, "viewports": [{}]}]})
    with pytest.raises(ConfigError, match=r"stages\[0\]\.viewports\[0\]\.options\.window"):
        parse_protocol(
            {"id": "x", "name": "x", "stages": [{"viewports": [{"options": {"window": [1]}}]}]}
        )


def test_demo_studies_hang_as_their_readers_expect(protocols: dict[str, Protocol]) -> None:
    """The demo studies, parsed from their generated headers, pick the expected protocol."""

    def parsed(demo: DemoStudy) -> tuple[Study, list[SeriesInfo]]:
        infos: list[SeriesInfo] = []
        st = None
        for s in demo.series:
            p = parse_dataset(
                generate_slice(s, 0),
                path="",
                pixel_data_offset=None,
                pixel_data_length=None,
                file_size=0,
                has_file_meta=True,
            )
            st = p.study
            infos.append(
                SeriesInfo(p.series, p.instance.image_orientation_patient, s.number_of_slices)
            )
        assert st is not None
        return st, infos

    head, head_series = parsed(CT_HEAD)
    prior = parsed(CT_HEAD_PRIOR)
    assert best_protocol(protocols.values(), head, head_series) is protocols["ct-head"]
    assert best_protocol(protocols.values(), head, head_series, [prior]) is protocols["ct-compare"]
    hung = assign_viewports(protocols["ct-compare"].stages[0], (head, head_series), [prior])
    assert ids(hung) == ["Axial 1.0 mm", "Axial 5.0 mm"]
    mr, mr_series = parsed(MR_BRAIN)
    assert best_protocol(protocols.values(), mr, mr_series) is protocols["mr-brain"]
    assert ids(assign_viewports(protocols["mr-brain"].stages[0], (mr, mr_series))) == [
        "Ax T1 SE",
        None,
        None,
        None,
    ]
    dx, dx_series = parsed(DX_CHEST)
    assert best_protocol(protocols.values(), dx, dx_series) is protocols["chest-xr"]
    assert ids(assign_viewports(protocols["chest-xr"].stages[0], (dx, dx_series))) == [
        "Chest PA",
        "Chest lateral",
    ]
