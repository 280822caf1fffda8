"""Fixtures of the UPS-RS worklist tests: a real Orthanc with the worklist plugin loaded.

One Orthanc serves the whole session (tests keep apart by giving their workitems a PatientID
of their own); tests that need a fresh server start one with ``start_worklist_orthanc``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from upsrs_helpers import UpsApi, start_worklist_orthanc

from workstation.archive.orthanc import OrthancProcess


@pytest.fixture(scope="session")
def worklist_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    """One Orthanc with the worklist plugin for the session (StableAge 1 s)."""
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("worklist-orthanc"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def api(worklist_orthanc: OrthancProcess) -> Iterator[Any]:
    """``api("rad.neuro")`` is a UpsApi acting as that Orthanc user."""
    made: list[UpsApi] = []

    def make(user: str) -> UpsApi:
        client = UpsApi(worklist_orthanc.urls.dicomweb, user)
        made.append(client)
        return client

    yield make
    for client in made:
        client.session.close()


@pytest.fixture
def patient_id() -> str:
    """A PatientID of this test's own: it keeps its workitems apart on the shared server."""
    return "WL-" + uuid.uuid4().hex[:12].upper()
