"""Helpers of the UPS-RS worklist tests: start Orthanc with the plugin, call UPS-RS, make DICOM.

Imported by the tests of this folder and by its conftest (the folder is on sys.path, as pytest
puts the folder of a test module without ``__init__.py`` there).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workstation.archive.orthanc import OrthancProcess
from workstation.core import ups
from workstation.core.settings import ArchiveConfig
from workstation.worklist.upsrs import UpsRsClient

REPO = Path(__file__).resolve().parents[3]
PLUGIN = REPO / "server" / "orthanc" / "worklist_plugin.py"
PASSWORD = "wl-test-password"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.10.999.7."  # test UIDs, never seen outside these tests

# The reading network the tests run against (same shape as server/orthanc/worklist.json).
SITE_CONFIG: dict[str, Any] = {
    "SchemaVersion": 1,
    "WorklistLabel": "Test reading",
    "PerformerCodingScheme": "99TEST",
    "Pools": ["neuro", "chest", "body", "msk", "oncology"],
    "DefaultPool": "body",
    "Routing": [
        {"Pool": "oncology", "Modalities": ["PT"]},
        {"Pool": "neuro", "BodyParts": ["HEAD", "BRAIN"]},
        {"Pool": "chest", "BodyParts": ["CHEST"]},
        {"Pool": "msk", "BodyParts": ["KNEE"]},
    ],
    "PriorityMap": {"STAT": "HIGH", "URGENT": "MEDIUM", "ROUTINE": "LOW"},
    "DefaultPriority": "LOW",
    "TurnaroundMinutes": {"HIGH": 30, "MEDIUM": 180, "LOW": 1440},
    "Institutions": {"St Elsewhere General Hospital": "STELSEWHERE"},
    "Users": {
        "lead": {"Role": "lead", "PerformerCode": "LEAD01", "Name": "Lead^Lena"},
        "rad.neuro": {"Role": "radiologist", "PerformerCode": "RAD01", "Pools": ["neuro"]},
        "rad.neuro2": {"Role": "radiologist", "PerformerCode": "RAD02", "Pools": ["neuro"]},
        "rad.chest": {"Role": "radiologist", "PerformerCode": "RAD03", "Pools": ["chest"]},
        "admin": {"Role": "admin"},
    },
}
# Orthanc knows one more user than the worklist: "outsider" passes Orthanc's check, has no role.
ORTHANC_USERS = [*SITE_CONFIG["Users"], "outsider"]


MAXIMUM_RESULTS = 50  # the session server's cap on one search answer


def start_worklist_orthanc(
    folder: Path,
    *,
    stable_age_s: int = 1,
    site: Mapping[str, Any] = SITE_CONFIG,
    maximum_results: int = MAXIMUM_RESULTS,
    supervised_by_plugin: bool = False,
    verbose: bool = False,
) -> OrthancProcess:
    """Start Orthanc with DICOMweb, the worklist plugin, authentication and the test site
    (``verbose``: Orthanc's info level, where the plugin logs each search's timings)."""
    folder.mkdir(parents=True, exist_ok=True)
    site_file = folder / "worklist-site.json"
    site_file.write_text(json.dumps(site), encoding="utf-8")
    proc = OrthancProcess(
        folder,
        python_script=PLUGIN,
        stable_age_s=stable_age_s,
        extra_config={
            "AuthenticationEnabled": True,
            "RegisteredUsers": {name: PASSWORD for name in ORTHANC_USERS},
            "Worklist": {
                "ConfigFile": str(site_file),
                "WorkstationPath": str(REPO),
                "MaximumResults": maximum_results,
                # A crashed test process must not leave its Orthanc running: OrthancProcess
                # sees to it (PR_SET_PDEATHSIG), or the plugin when asked to instead.
                **({"StopWhenProcessEnds": os.getpid()} if supervised_by_plugin else {}),
            },
        },
        die_with_parent=not supervised_by_plugin,
        verbose=verbose,
    )
    return proc.start()


def worklist_db(proc: OrthancProcess) -> Path:
    """The plugin's SQLite file: StorageDirectory/worklist.sqlite."""
    return proc.folder / "storage" / "worklist.sqlite"


def audit_rows(proc: OrthancProcess, uid: str) -> list[tuple[str, str, str | None, str | None]]:
    """(user, action, old, new) of a workitem's audit trail, read from the plugin's database."""
    conn = sqlite3.connect(f"file:{worklist_db(proc)}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT user, action, old_value, new_value FROM audit WHERE uid = ? ORDER BY id",
            (uid,),
        ).fetchall()
    finally:
        conn.close()
    return [tuple(r) for r in rows]


class UpsApi:
    """The UPS-RS resources of PS3.18 §11 as one Orthanc user calls them (plain requests)."""

    def __init__(self, dicomweb: str, user: str, password: str = PASSWORD) -> None:
        self.base = dicomweb.rstrip("/") + "/workitems"
        self.user = user
        self.session = requests.Session()
        self.session.auth = (user, password)

    def create(self, dataset: Mapping[str, Any]) -> requests.Response:
        return self.session.post(
            self.base, data=json.dumps(dataset), headers={"Content-Type": "application/dicom+json"}
        )

    def search(self, **params: Any) -> requests.Response:
        return self.session.get(self.base, params=params)

    def retrieve(self, uid: str) -> requests.Response:
        return self.session.get(f"{self.base}/{uid}")

    def update(self, uid: str, dataset: Mapping[str, Any]) -> requests.Response:
        return self.session.post(
            f"{self.base}/{uid}",
            data=json.dumps(dataset),
            headers={"Content-Type": "application/dicom+json"},
        )

    def change_state(
        self, uid: str, state: str, transaction_uid: str | None = None
    ) -> requests.Response:
        body: dict[str, Any] = {"00741000": {"vr": "CS", "Value": [state]}}
        if transaction_uid is not None:
            body["00081195"] = {"vr": "UI", "Value": [transaction_uid]}
        return self.session.put(
            f"{self.base}/{uid}/state",
            data=json.dumps(body),
            headers={"Content-Type": "application/dicom+json"},
        )

    def cancel(self, uid: str, dataset: Mapping[str, Any] | None = None) -> requests.Response:
        return self.session.post(
            f"{self.base}/{uid}/cancelrequest",
            data=json.dumps(dataset or {}),
            headers={"Content-Type": "application/dicom+json"},
        )


def workitem(
    patient_id: str,
    *,
    label: str = "neuro",
    priority: str = "MEDIUM",
    start: str = "20240501080000+0000",
    performer: str | None = None,
    accession: str = "",
    uid: str | None = None,
) -> dict[str, Any]:
    """A DICOM JSON dataset for Create Workitem, written with literal tags (PS3.18 Annex F)."""
    ds: dict[str, Any] = {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Test^Patient"}]},
        "00100020": {"vr": "LO", "Value": [patient_id]},
        "00741000": {"vr": "CS", "Value": ["SCHEDULED"]},
        "00741200": {"vr": "CS", "Value": [priority]},
        "00741204": {"vr": "LO", "Value": [label]},
        "00404005": {"vr": "DT", "Value": [start]},
        "0040A370": {
            "vr": "SQ",
            "Value": [
                {
                    "00080050": {"vr": "SH", "Value": [accession]} if accession else {"vr": "SH"},
                    "0020000D": {"vr": "UI", "Value": [generate_uid(prefix=UID_ROOT)]},
                }
            ],
        },
    }
    if performer:
        ds["00404034"] = {
            "vr": "SQ",
            "Value": [
                {
                    "00404009": {
                        "vr": "SQ",
                        "Value": [
                            {
                                "00080100": {"vr": "SH", "Value": [performer]},
                                "00080102": {"vr": "SH", "Value": ["99TEST"]},
                                "00080104": {"vr": "LO", "Value": [performer]},
                            }
                        ],
                    }
                }
            ],
        }
    if uid:
        ds["00080018"] = {"vr": "UI", "Value": [uid]}
    return ds


def uid_from_location(response: requests.Response) -> str:
    """The workitem UID at the end of a 201's Location header."""
    return response.headers["Location"].rsplit("/", 1)[-1]


def new_txn() -> str:
    """A fresh Transaction UID, as a claiming client makes one (2.25 form, PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


def write_ct_study(
    folder: Path,
    *,
    study_uid: str,
    series: Sequence[tuple[str, str, int]],
    patient_id: str,
    accession: str,
    institution: str,
    requested_priority: str | None,
    description: str = "CT TEST",
) -> list[Path]:
    """Small CT files (4×4 pixels) of one study: ``series`` is (modality, body part, count)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s_index, (modality, body_part, count) in enumerate(series):
        series_uid = f"{study_uid}.{s_index + 1}"
        for i in range(count):
            sop = f"{series_uid}.{i + 1}"
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = CT_IMAGE_STORAGE
            ds.SOPInstanceUID = sop
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.Modality = modality
            ds.BodyPartExamined = body_part
            ds.InstitutionName = institution
            if requested_priority is not None:
                ds.RequestedProcedurePriority = requested_priority
            ds.AccessionNumber = accession
            ds.PatientID = patient_id
            ds.PatientName = "Test^Stable"
            ds.StudyDate = "20240501"
            ds.StudyTime = "080000"
            ds.StudyDescription = description
            ds.SeriesNumber = s_index + 1
            ds.InstanceNumber = i + 1
            ds.Rows = ds.Columns = 4
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 1
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.PixelData = np.zeros((4, 4), np.int16).tobytes()
            path = folder / f"{sop}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def storescu(proc: OrthancProcess, paths: Sequence[Path]) -> None:
    """Send files to Orthanc with dcmtk's storescu (a real DIMSE peer)."""
    exe = shutil.which("storescu")
    if exe is None:
        pytest.skip("dcmtk's storescu is not installed")
    result = subprocess.run(
        [exe, "-aec", proc.aet, "127.0.0.1", str(proc.dicom_port), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},  # dcmtk reads it (STACK.md: Nagle on C-STORE)
    )
    assert result.returncode == 0, result.stderr


def upsrs_client(
    dicomweb: str, user: str, claims: Path, *, password: str = PASSWORD
) -> UpsRsClient:
    """The workstation's UPS-RS client acting as ``user`` of SITE_CONFIG (an unknown user as a
    radiologist), basic auth, its claims in ``claims``."""
    site = ups.load_worklist_config(SITE_CONFIG)
    config = ArchiveConfig(
        name="hub",
        dicomweb_url=dicomweb,
        auth="basic",
        user=user,
        password=password,
        read_timeout_s=30.0,
    )
    person = site.user(user) or ups.WorklistUser(user, ups.Role.RADIOLOGIST)
    return UpsRsClient(config, person, claims=claims, site=site)
