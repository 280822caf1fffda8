"""How ``workstation studies`` and ``workstation query`` print a study: one line per study,
counts with the right noun."""

from __future__ import annotations

from workstation.cli import _study_line
from workstation.core.model import Patient, Study
from workstation.core.text import counted


def test_a_study_line_counts_in_words() -> None:
    study = Study(
        study_instance_uid="1.2.3",
        patient=Patient(patient_id="P-1", patient_name="Doe^Jane"),
        accession_number="ACC-1",
        study_date="20261127",
        study_description="CT HEAD",
        modalities=("CT", "SR"),
        number_of_series=1,
        number_of_instances=1,
    )
    assert _study_line(study).split("\t") == [
        "1.2.3", "2026-11-27", "CT/SR", "Doe, Jane", "P-1", "ACC-1", "CT HEAD", "1 series",
        "1 image",
    ]  # fmt: skip
    assert [counted(n, "study", "studies") for n in (0, 1, 2)] == [
        "0 studies",
        "1 study",
        "2 studies",
    ]
