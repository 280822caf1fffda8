"""The study summary of a reading workitem (modalities, body part, study date and time, image
count, description, referring and requesting physicians): where ``build_reading_workitem`` puts
it, how :class:`WorkItem` reads it, and the embedded backend filling it from the local store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workstation.archive.local import LocalArchive
from workstation.core import ups
from workstation.worklist.backend import second_read_dataset
from workstation.worklist.embedded import EmbeddedWorklist
from workstation.worklist.model import EXTRA_SEARCH_FIELDS, WorkItem

NOW = datetime(2026, 1, 9, 8, 0, tzinfo=UTC)
SITE = ups.load_worklist_config(
    {
        "Pools": ["neuro", "body"],
        "DefaultPool": "body",
        "Routing": [{"Pool": "neuro", "BodyParts": ["HEAD"]}],
        "Users": {"lead": {"Role": "lead", "PerformerCode": "L1"}},
    }
)
CT = "1.2.840.10008.5.1.4.1.1.2"


def facts() -> ups.StudyFacts:
    return ups.StudyFacts(
        study_instance_uid="1.2.3",
        accession_number="A-1",
        patient_id="P-1",
        study_description="CT HEAD",
        series=(
            ups.SeriesFacts("1.2.3.1", "CT", "head", ((CT, "1.2.3.1.1"), (CT, "1.2.3.1.2"))),
            ups.SeriesFacts("1.2.3.2", "MR", "NECK", ((CT, "1.2.3.2.1"),)),
            ups.SeriesFacts("1.2.3.3", "SR", "", (("1.2.840.10008.5.1.4.1.1.88.33", "9"),)),
        ),
        study_date="20260108",
        study_time="231500",
        referring_physician_name="Referrer^Rita",
        requesting_physician="Requester^Rob",
        requesting_service="Emergency",
        requested_procedure_description="CT head, trauma protocol",
    )


def test_reading_workitem_carries_the_study_summary() -> None:
    ds = ups.build_reading_workitem(facts(), SITE, now=NOW)
    assert ds is not None
    summary = {ups.KEYWORD_BY_TAG[t]: v for t, v in ds.items() if t in {
        ups.tag_of(k) for k in ups.STUDY_SUMMARY_KEYWORDS}}  # fmt: skip
    assert summary == {
        "ModalitiesInStudy": {"vr": "CS", "Value": ["CT", "MR"]},  # the SR is not read
        "BodyPartExamined": {"vr": "CS", "Value": ["HEAD"]},
        "StudyDate": {"vr": "DA", "Value": ["20260108"]},
        "StudyTime": {"vr": "TM", "Value": ["231500"]},
        "StudyDescription": {"vr": "LO", "Value": ["CT HEAD"]},
        "ReferringPhysicianName": {"vr": "PN", "Value": [{"Alphabetic": "Referrer^Rita"}]},
        "NumberOfStudyRelatedInstances": {"vr": "IS", "Value": [3]},
    }
    request = ups.items(ds, "ReferencedRequestSequence")[0]
    assert ups.first(request, "RequestedProcedureDescription") == "CT head, trauma protocol"
    assert ups.values(request, "RequestingPhysician") == ["Requester^Rob"]
    assert ups.first(request, "RequestingService") == "Emergency"
    assert list(ds) == sorted(ds)
    # an older study without the facts: nothing empty is added, the count is still there
    bare = ups.build_reading_workitem(
        ups.StudyFacts("1.2.4", series=(ups.SeriesFacts("1.2.4.1", "CT"),)), SITE, now=NOW
    )
    assert bare is not None
    assert [ups.KEYWORD_BY_TAG[t] for t in bare if t in {ups.tag_of(k) for k in (
        *ups.STUDY_SUMMARY_KEYWORDS, "RequestingPhysician")}] == [
        "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]  # fmt: skip
    assert "00321032" not in ups.items(bare, "ReferencedRequestSequence")[0]


def test_work_item_reads_the_summary_without_the_inputs() -> None:
    ds = ups.build_reading_workitem(facts(), SITE, now=NOW)
    assert ds is not None
    # what a search answers by default (the client asks for the summary, not the inputs)
    query = ups.parse_search_query({"includefield": ",".join(EXTRA_SEARCH_FIELDS)})
    answer = json.loads(json.dumps(ups.select_attributes(ds, query)))
    assert "00404021" not in answer
    wi = WorkItem.from_dicom_json(answer)
    assert (wi.modality, wi.body_part, wi.number_of_images) == ("CT/MR", "HEAD", 3)
    assert (wi.study_date, wi.study_time, wi.referring_physician) == (
        "20260108",
        "231500",
        "Referrer^Rita",
    )
    assert (wi.study_description, wi.pool, wi.accession_number) == (
        "CT head, trauma protocol",
        "neuro",
        "A-1",
    )
    assert WorkItem.from_dicom_json(ds) == wi  # the full dataset reads the same


def test_second_read_link_is_read_without_the_inputs() -> None:
    first = ups.build_reading_workitem(facts(), SITE, now=NOW)
    assert first is not None
    second = second_read_dataset(first, "2.25.77", "body", None)
    lean = {t: v for t, v in second.items() if t != ups.tag_of("InputInformationSequence")}
    wi = WorkItem.from_dicom_json(lean)
    assert (wi.second_read_of, wi.number_of_images) == (ups.first(first, "SOPInstanceUID"), 3)
    assert ups.second_read_of(second) == ups.first(first, "SOPInstanceUID")


def test_embedded_worklist_fills_the_summary_from_the_local_store(
    tmp_path: Path, archive: LocalArchive, image_dataset: Callable[..., object]
) -> None:
    pixels = np.zeros((4, 4), np.uint16)
    for n in range(4):
        ds = image_dataset(
            pixels=pixels,
            study_uid="1.2.9.7",
            series_uid="1.2.9.7." + str(1 + n // 3),
            sop_uid=f"1.2.9.7.9.{n}",
            patient_id="PID-S",
            accession_number="ACC-S",
            study_date="20260107",
        )
        ds.BodyPartExamined = "HEAD"  # type: ignore[attr-defined]
        ds.StudyTime = "101112"  # type: ignore[attr-defined]
        ds.ReferringPhysicianName = "Referrer^Rita"  # type: ignore[attr-defined]
        archive.add_dataset(ds)  # type: ignore[arg-type]
    archive.commit()
    w = EmbeddedWorklist(archive.root, "lead", SITE, now=lambda: NOW)
    assert w.populate_from_archive(archive) == 1
    (wi,) = w.search_all()
    assert (wi.modality, wi.body_part, wi.number_of_images, wi.pool) == ("CT", "HEAD", 4, "neuro")
    assert (wi.study_date, wi.study_time, wi.referring_physician) == (
        "20260107",
        "101112",
        "Referrer^Rita",
    )
    ds = w.get_dataset(wi.uid)
    assert ups.first(ds, "NumberOfStudyRelatedInstances") == 4
    assert len(ups.items(ds, "InputInformationSequence")) == 2
    w.close()
