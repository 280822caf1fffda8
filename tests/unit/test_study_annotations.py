"""Priors of a study, and what a reader adds to it (measurements, key images), in the store."""

from __future__ import annotations

import numpy as np

from workstation.archive.local import LocalArchive
from workstation.core.measure import Measurement, MeasurementKind
from workstation.core.model import KeyImage, Patient, identity_conflicts

UID_ROOT = "1.2.826.0.1.3680043.10.999."


def _study(write_image, n: int, **kw):
    uid = f"{UID_ROOT}7.{n}"
    return write_image(
        pixels=np.zeros((4, 4), np.uint16),
        study_uid=uid,
        series_uid=uid + ".1",
        sop_uid=uid + ".1.1",
        **kw,
    ), uid


def test_priors_are_earlier_studies_of_the_same_id_and_issuer(archive, write_image):
    files, uids = zip(
        *[
            _study(write_image, 1, study_date="20260101", patient_id="P1"),  # current
            _study(write_image, 2, study_date="20250101", patient_id="P1"),  # prior
            _study(write_image, 3, study_date="20240101", patient_id="P1"),  # older prior
            _study(write_image, 4, study_date="20260601", patient_id="P1"),  # later: not a prior
            _study(write_image, 5, study_date="20230101", patient_id="P2"),  # other patient
            _study(
                write_image,
                6,
                study_date="20220101",
                patient_id="P1",
                patient_name="Other^Person",
            ),  # same ID, another name: flagged, not hidden
        ],
        strict=True,
    )
    archive.import_paths(files)
    priors = archive.priors(uids[0])
    assert [p.study.study_instance_uid for p in priors] == [uids[1], uids[2], uids[5]]
    assert [p.identity_conflicts for p in priors] == [(), (), ("patient name differs",)]
    assert archive.priors(uids[4]) == []


def test_demo_head_ct_has_its_prior(demo_store):
    from workstation.demo import CT_HEAD, CT_HEAD_PRIOR

    a = LocalArchive(demo_store)
    priors = a.priors(CT_HEAD.study_instance_uid)
    assert [p.study.study_instance_uid for p in priors] == [CT_HEAD_PRIOR.study_instance_uid]
    assert priors[0].identity_conflicts == ()
    a.close()


def test_identity_conflicts_ignore_case_and_trailing_components():
    a = Patient("1", "H", "DOE^JANE^^^", "19610312", "F")
    assert identity_conflicts(a, Patient("1", "H", "Doe^Jane", "19610312", "F")) == ()
    assert identity_conflicts(a, Patient("1", "H", "Doe^John", "19610313", "M")) == (
        "patient name differs",
        "birth date differs",
        "sex differs",
    )
    # An absent value is not a conflict.
    assert identity_conflicts(a, Patient("1", "H", "", "", "")) == ()


def test_measurements_and_key_images_persist(archive, tmp_path):
    study = "1.2.3.4"
    m = Measurement(
        kind=MeasurementKind.LENGTH,
        points=((10.0, 10.0), (20.0, 10.0)),
        value=4.5,
        unit="mm",
        label="",
        sop_instance_uid="1.2.3.4.5",
        frame_number=1,
    )
    archive.save_measurement(study, m)
    archive.save_measurement(study, m)  # same id: replaced, not doubled
    archive.set_key_image(KeyImage(study, "1.2.3.4.5", 1))
    archive.set_key_image(KeyImage(study, "1.2.3.4.6", 2))
    archive.close()
    reopened = LocalArchive(archive.root)
    got = reopened.measurements(study)
    assert len(got) == 1
    assert got[0].value == 4.5 and got[0].points == m.points
    assert got[0].measurement_id == m.measurement_id
    assert reopened.key_images(study) == [
        KeyImage(study, "1.2.3.4.5", 1),
        KeyImage(study, "1.2.3.4.6", 2),
    ]
    reopened.set_key_image(KeyImage(study, "1.2.3.4.5", 1), marked=False)
    reopened.delete_measurement(m.measurement_id)
    assert reopened.key_images(study) == [KeyImage(study, "1.2.3.4.6", 2)]
    assert reopened.measurements(study) == []
    reopened.close()
