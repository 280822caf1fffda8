"""``workstation report export`` and ``report outbox`` through the command's real entry point,
checked by other tools: dicom3tools' dciodvfy (IOD rules), dcmtk's dsrdump (SR tree) and
dcm2pdf (pulls the PDF out of the DICOM instance), and Ghostscript (reads and renders the PDF).

Also the PDF writer's text handling that a renderer shows: Arabic shaping and the reduced
bidirectional algorithm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pydicom
import pytest
from test_outbox_orthanc import SIGNER, build_store, draft

from workstation.archive.remote import RemoteError
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, generate_slice
from workstation.reporting.commands import main as commands_main
from workstation.reporting.outbox import CStoreSender, Outbox, StowRsSender, sender_for
from workstation.reporting.pdf import (
    ENCAPSULATED_PDF_STORAGE,
    Block,
    BlockKind,
    base_is_rtl,
    render_pdf,
    shape_arabic,
    visual_order,
)
from workstation.reporting.signing import (
    IncompleteStudyError,
    SigningError,
    sign_addendum,
    sign_report,
)

CET = dt.timezone(dt.timedelta(hours=1))
STUDY = CT_HEAD.study_instance_uid
ARABIC_IMPRESSION = "ورم دموي حاد تحت الجافية."


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: install Debian's dicom3tools, dcmtk and ghostscript"
    return path


def pdf_lines(pdf: Path) -> list[str]:
    """The text of a PDF as Ghostscript reads it, one line each, runs of spaces as one."""
    text = subprocess.run(
        [_tool("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=txtwrite", "-o", "-", str(pdf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    return [" ".join(ln.split()) for ln in text.stdout.splitlines()]


def report_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``report`` commands as ``workstation report`` runs them (same parser, same code)."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "workstation.reporting.commands", "report", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def dciodvfy(path: Path) -> str:
    r = subprocess.run(
        [_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    return (r.stdout + r.stderr).strip()


@pytest.fixture(scope="module")
def signed_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A store where the CT head was signed preliminary at 09:00, final at 09:15 (both queued
    for "central", nothing sent), and where the prior CT head has no report."""
    root = tmp_path_factory.mktemp("export") / "store"
    archive = build_store(root)
    archive.add_dataset(generate_slice(CT_HEAD_PRIOR.series[0], 10))
    archive.commit()
    outbox = Outbox(root)
    common = {
        "signer_name": SIGNER[0],
        "signer_organisation": SIGNER[1],
        "destinations": ["central"],
    }
    prelim = sign_report(
        draft(archive),
        archive,
        outbox,
        final=False,
        signed_at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=CET),
        **common,  # type: ignore[arg-type]
    )
    final = sign_report(
        draft(archive),
        archive,
        outbox,
        final=True,
        signed_at=dt.datetime(2026, 11, 20, 9, 15, tzinfo=CET),
        **common,  # type: ignore[arg-type]
    )
    outbox.close()
    archive.close()
    return {"root": root, "preliminary": prelim, "final": final}


def test_export_sr_writes_the_latest_signed_report_as_stored(signed_store, tmp_path):
    final = signed_store["final"]
    out = tmp_path / "out" / "report.dcm"
    r = report_cmd(
        "export", "--study", STUDY, "--format", "sr", "--out", str(out),
        "--data-dir", str(signed_store["root"]),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        f"wrote {out}: final report of 2026-11-20 09:15 as SR "
        f"(SOP Instance {final.sop_instance_uid})"
    )
    assert out.read_bytes() == final.path.read_bytes()
    assert dciodvfy(out) == "ComprehensiveSR"  # no error, no warning
    dump = subprocess.run(
        [_tool("dsrdump"), "-v", "+Pt", str(out)], capture_output=True, timeout=30, check=False
    )
    text = dump.stdout.decode("utf-8", errors="replace")
    assert dump.returncode == 0, text
    assert "Verification Flag   : VERIFIED" in text
    assert "Verifying Observers : 2026-11-20 09:15:00 +01:00, Smith^Anna, Teleradiology Hub" in text
    assert '<contains CONTAINER:(,,"Findings")=SEPARATE>' in text
    assert '<contains NUM:(,,"Length")="10.06" (mm,UCUM,"mm")>' in text
    assert '<contains CONTAINER:(,,"Key Images")=SEPARATE>' in text
    assert text.count('<contains IMAGE:(,,"Best illustration of finding")=') == 1


def test_export_pdf_is_a_valid_encapsulated_pdf_that_renders(signed_store, tmp_path, artifact_dir):
    final = signed_store["final"]
    out = tmp_path / "report_pdf.dcm"
    args = ("export", "--study", STUDY, "--format", "pdf", "--out", str(out))
    r = report_cmd(*args, "--data-dir", str(signed_store["root"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        f"wrote {out}: final report of 2026-11-20 09:15 as Encapsulated PDF (DICOM)"
    )
    assert dciodvfy(out) == "EncapsulatedPDF"  # no error, no warning
    ds = pydicom.dcmread(out)
    assert (ds.SOPClassUID, ds.Modality, ds.MIMETypeOfEncapsulatedDocument) == (
        ENCAPSULATED_PDF_STORAGE,
        "DOC",
        "application/pdf",
    )
    assert ds.StudyInstanceUID == STUDY and ds.PatientID == CT_HEAD.patient.patient_id
    assert ds.SourceInstanceSequence[0].ReferencedSOPInstanceUID == final.sop_instance_uid
    pdf = bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    assert pdf.startswith(b"%PDF-1.7") and pdf.rstrip().endswith(b"%%EOF")
    # dcmtk's dcm2pdf takes the document out of the instance: the same bytes.
    extracted = tmp_path / "extracted.pdf"
    d = subprocess.run(
        [_tool("dcm2pdf"), str(out), str(extracted)], capture_output=True, text=True, check=False
    )
    assert d.returncode == 0, d.stderr
    assert extracted.read_bytes().rstrip(b"\0") == pdf
    # Ghostscript reads the PDF: its text, and a page image to look at.
    lines = pdf_lines(extracted)
    for expected in (
        "Diagnostic Imaging Report",
        "Patient: Doe, Jane ID DEMO-0001 born 1961-03-12 sex F",
        "Status: Final - signed by Smith, Anna (Teleradiology Hub) on 2026-11-20 09:15 +01:00",
        "Findings",
        "Intracranial hemorrhage: subdural.",
        "Acute left subdural haematoma.",
        "• Length: 10.06 mm",
        "outline: polyline, 2 points on series 1, image 96",
        "Impressions",
        "No acute intracranial abnormality.",
        "Key Images",
        "Best illustration of finding: series 1, image 95",
    ):
        assert expected in lines, (expected, lines)
    assert lines.index("Findings") < lines.index("Impressions") < lines.index("Key Images")
    assert "Recommendations" not in lines  # an empty section is not written
    png = artifact_dir / "report_export_pdf_page1.png"
    g = subprocess.run(
        [_tool("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=png16m", "-r70",
         "-dFirstPage=1", "-dLastPage=1", f"-sOutputFile={png}", str(extracted)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert g.returncode == 0 and png.stat().st_size > 10_000, g.stderr
    # The document alone, for a hospital without a PACS: the very bytes the instance holds.
    document = tmp_path / "report.pdf"
    r = report_cmd("export", "--study", STUDY, "--format", "pdf-document", "--out",
                   str(document), "--data-dir", str(signed_store["root"]))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        f"wrote {document}: final report of 2026-11-20 09:15 as PDF document"
    )
    assert document.read_bytes() == pdf
    # Exporting again gives the same instance, byte for byte.
    again = tmp_path / "again.dcm"
    assert (
        report_cmd(*args[:-1], str(again), "--data-dir", str(signed_store["root"])).returncode == 0
    )
    assert again.read_bytes() == out.read_bytes()


def test_arabic_report_with_addendum_as_pdf(tmp_path, artifact_dir):
    """An Arabic impression is shaped and right to left; the addendum comes first, then the
    report it amends."""
    archive = build_store(tmp_path / "store")
    report = draft(archive)
    sections = tuple(
        dataclasses.replace(s, text=ARABIC_IMPRESSION) if s.heading.meaning == "Impressions" else s
        for s in report.sections
    )
    report = dataclasses.replace(report, sections=sections, language="ar")
    first = sign_report(
        report, archive, None, final=True, signer_name=SIGNER[0], signer_organisation=SIGNER[1],
        signed_at=dt.datetime(2026, 11, 20, 9, 15, tzinfo=CET),
    )  # fmt: skip
    sign_addendum(
        archive, first.sop_instance_uid, "Midline shift 3 mm on re-review.",
        signer_name=SIGNER[0], signer_organisation=SIGNER[1],
        signed_at=dt.datetime(2026, 11, 20, 11, 0, tzinfo=CET),
    )  # fmt: skip
    archive.close()
    out = tmp_path / "ar.dcm"
    r = report_cmd("export", "--study", STUDY, "--format", "pdf", "--out", str(out),
                   "--data-dir", str(tmp_path / "store"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert dciodvfy(out) == "EncapsulatedPDF"
    ds = pydicom.dcmread(out)
    pdf = tmp_path / "ar.pdf"
    pdf.write_bytes(bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength])
    lines = pdf_lines(pdf)
    assert lines.index("Addendum") < lines.index("Midline shift 3 mm on re-review.")
    assert lines.index("Midline shift 3 mm on re-review.") < lines.index(
        "Earlier report: Diagnostic Imaging Report"
    )
    # The Arabic line, as glyphs from left to right: shaped forms in visual order.
    visual = visual_order(shape_arabic(ARABIC_IMPRESSION), True)
    assert visual in lines
    assert unicodedata.normalize("NFKC", visual[::-1]) == ARABIC_IMPRESSION
    png = artifact_dir / "report_export_pdf_arabic.png"
    subprocess.run(
        [_tool("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=png16m", "-r70",
         "-dFirstPage=1", "-dLastPage=1", f"-sOutputFile={png}", str(pdf)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip


def test_shaping_and_bidirectional_order():
    assert shape_arabic("لا") == "\ufefb"  # lam-alef ligature, isolated
    assert shape_arabic("سم") == "\ufeb3\ufee2"  # seen initial, meem final
    assert shape_arabic("بـب") == "\ufe91\u0640\ufe90"  # tatweel joins both sides
    assert shape_arabic("داد") == "\ufea9\ufe8d\ufea9"  # dal and alef do not join forward
    assert shape_arabic("plain text") == "plain text"
    assert base_is_rtl("١٢ مم") and not base_is_rtl("12 mm مم")
    assert visual_order("אב 12 גד", True) == "דג 12 בא"
    assert visual_order("see אב here", False) == "see בא here"
    assert visual_order("(אב)", True) == "(בא)"  # brackets mirrored in right-to-left text
    assert visual_order("Hello (world) 12 mm", False) == "Hello (world) 12 mm"


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same commands in this process (no interpreter start-up): code, stdout, stderr."""
    code = commands_main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_outbox_command_lists_and_retries(signed_store, capsys):
    root = str(signed_store["root"])
    prelim, final = signed_store["preliminary"], signed_store["final"]
    code, stdout, _ = run_in_process(capsys, "outbox", "--data-dir", root)
    assert code == 0
    out = stdout.splitlines()
    assert out[0] == "pending 2   sent 0   failed 0"
    assert out[1].split() == ["STATE", "TRIES", "DESTINATION", "SOP", "INSTANCE", "UID", "DETAIL"]
    rows = [ln.split(None, 4) for ln in out[2:]]
    assert [row[:4] for row in rows] == [
        ["pending", "0", "central", prelim.sop_instance_uid],
        ["pending", "0", "central", final.sop_instance_uid],
    ]
    assert {row[4] for row in rows} == {"waiting to be sent to central"}
    _, stdout, _ = run_in_process(capsys, "outbox", "--data-dir", root, "--state", "sent")
    assert stdout.splitlines() == ["pending 2   sent 0   failed 0"]
    _, stdout, _ = run_in_process(
        capsys, "outbox", "--data-dir", root, "--retry", "--state", "failed"
    )
    assert stdout.splitlines()[0] == "2 entries due now; a running workstation sends them"


def test_export_errors_are_clear(signed_store, tmp_path, capsys):
    root = str(signed_store["root"])
    out = str(tmp_path / "x.dcm")
    code, _, err = run_in_process(
        capsys, "export", "--study", "1.2.3", "--out", out, "--data-dir", root
    )
    assert (code, err.strip()) == (2, "error: study 1.2.3 is not in the local store")
    prior = CT_HEAD_PRIOR.study_instance_uid
    code, _, err = run_in_process(
        capsys, "export", "--study", prior, "--out", out, "--data-dir", root
    )
    assert (code, err.strip()) == (
        2,
        f"error: study {prior} has no signed report in the local store",
    )
    none = tmp_path / "none"
    code, _, err = run_in_process(
        capsys, "export", "--study", STUDY, "--out", out, "--data-dir", str(none)
    )
    assert code == 2
    assert err.startswith(f"error: there is no local store at {none}")
    assert not Path(out).exists()
    assert not none.exists()  # a failed export creates no store


def test_signing_refuses_what_it_cannot_sign(tmp_path):
    archive = build_store(tmp_path / "store")
    report = draft(archive)
    try:
        with pytest.raises(SigningError, match="needs the signing radiologist's organisation"):
            sign_report(report, archive, final=True, signer_name=SIGNER[0])
        with pytest.raises(SigningError, match="needs the signing radiologist's name"):
            sign_report(report, archive, final=True, signer_organisation=SIGNER[1])
        with pytest.raises(SigningError, match="'Family\\^Given'"):
            sign_report(report, archive, final=True, signer_name="Smith", signer_organisation="X")
        with pytest.raises(IncompleteStudyError) as info:
            sign_report(report, archive, final=False, completeness=lambda _uid: ["MR 3 (2 of 9)"])
        assert info.value.series == ("MR 3 (2 of 9)",)
        prelim = sign_report(report, archive, final=False)
        assert prelim.destinations == () and prelim.report.signature is None
        with pytest.raises(SigningError, match="only a final report takes an addendum"):
            sign_addendum(
                archive, prelim.sop_instance_uid, "More.", signer_name=SIGNER[0],
                signer_organisation=SIGNER[1],
            )  # fmt: skip
        final = sign_report(
            prelim.report, archive, final=True, signer_name=SIGNER[0],
            signer_organisation=SIGNER[1],
        )  # fmt: skip
        with pytest.raises(SigningError, match="already final: write an addendum"):
            sign_report(final.report, archive, final=True, signer_name=SIGNER[0],
                        signer_organisation=SIGNER[1])  # fmt: skip
        with pytest.raises(SigningError, match="an addendum needs text"):
            sign_addendum(archive, final.sop_instance_uid, "  ", signer_name=SIGNER[0],
                          signer_organisation=SIGNER[1])  # fmt: skip
        # The SR series holds both signed reports, numbered in signing order.
        numbers = [i.instance_number for i in archive.instances(final.series_instance_uid)]
        assert numbers == [1, 2]
    finally:
        archive.close()


def test_sender_for_a_configured_archive():
    web = ArchiveConfig(name="a", dicomweb_url="http://127.0.0.1:9/dicom-web")
    both = ArchiveConfig(
        name="b", dicomweb_url="http://127.0.0.1:9/dicom-web",
        dimse=DimseConfig("127.0.0.1", 9, "PACS"),
    )  # fmt: skip
    dimse = ArchiveConfig(name="c", dimse=DimseConfig("127.0.0.1", 9, "PACS"))
    assert isinstance(sender_for(web), StowRsSender) and sender_for(web).name == "a"
    assert isinstance(sender_for(both), StowRsSender)
    assert isinstance(sender_for(both, prefer="dimse"), CStoreSender)
    assert isinstance(sender_for(dimse), CStoreSender) and sender_for(dimse).name == "c"
    with pytest.raises(RemoteError, match="neither dicomweb_url nor"):
        sender_for(ArchiveConfig(name="d"))


def test_signing_with_a_pdf_stores_and_queues_both(tmp_path, capsys):
    """For sites whose EHR cannot show SR: the Encapsulated PDF is stored and queued beside
    the SR, and ``report export --format pdf`` gives that very instance."""
    archive = build_store(tmp_path / "store")
    outbox = Outbox(archive.root)
    try:
        signed = sign_report(
            draft(archive), archive, outbox, final=True, signer_name=SIGNER[0],
            signer_organisation=SIGNER[1], destinations=["central"], with_pdf=True,
        )  # fmt: skip
        assert signed.pdf_sop_instance_uid is not None
        pdf_inst = archive.index.instance(signed.pdf_sop_instance_uid)
        assert pdf_inst is not None and pdf_inst.sop_class_uid == ENCAPSULATED_PDF_STORAGE
        stored_pdf = archive.path_of(pdf_inst)
        assert dciodvfy(stored_pdf) == "EncapsulatedPDF"
        ds = pydicom.dcmread(stored_pdf)
        assert ds.SourceInstanceSequence[0].ReferencedSOPInstanceUID == signed.sop_instance_uid
        assert [(e.sop_instance_uid, e.destination) for e in outbox.entries()] == [
            (signed.sop_instance_uid, "central"),
            (signed.pdf_sop_instance_uid, "central"),
        ]
    finally:
        outbox.close()
        archive.close()
    written = {}
    for fmt, name in (("pdf", "exported.dcm"), ("pdf-document", "exported.pdf")):
        out = tmp_path / name
        code, stdout, _ = run_in_process(
            capsys, "export", "--study", STUDY, "--format", fmt, "--out", str(out),
            "--data-dir", str(tmp_path / "store"),
        )  # fmt: skip
        assert code == 0
        assert stdout.strip().endswith(f"(SOP Instance {signed.pdf_sop_instance_uid})")
        written[fmt] = out.read_bytes()
    assert written["pdf"] == stored_pdf.read_bytes()
    ds = pydicom.dcmread(stored_pdf)
    assert (
        written["pdf-document"] == bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    )
    assert written["pdf-document"].startswith(b"%PDF-")


def test_a_korean_or_japanese_name_is_written_in_the_pdf(tmp_path, artifact_dir):
    """DejaVu Sans has no Hangul or kana: the name was a row of empty boxes. Such lines are
    set in the fallback font, embedded only when a line needs it; the text reads back."""
    blocks = [
        Block(BlockKind.TITLE, "Diagnostic Imaging Report"),
        Block(BlockKind.META, "Patient: 홍, 길동 ID K-0001"),
        Block(BlockKind.META, "Patient (kana): ﾔﾏﾀﾞ, ﾀﾛｳ"),
        Block(BlockKind.PARAGRAPH, "No acute intracranial abnormality."),
    ]
    pdf = tmp_path / "cjk.pdf"
    pdf.write_bytes(render_pdf(blocks, footer="홍, 길동 - K-0001"))
    assert b"WenQuanYiMicroHei" in pdf.read_bytes()
    lines = pdf_lines(pdf)
    for expected in (
        "Patient: 홍, 길동 ID K-0001",
        "Patient (kana): ﾔﾏﾀﾞ, ﾀﾛｳ",
        "No acute intracranial abnormality.",
        "홍, 길동 - K-0001 page 1 of 1",
    ):
        assert expected in lines, (expected, lines)
    subprocess.run(
        [_tool("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=png16m", "-r70",
         f"-sOutputFile={artifact_dir / 'report_pdf_cjk_name.png'}", str(pdf)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    latin = render_pdf([Block(BlockKind.META, "Patient: Doe, Jane")])
    assert b"WenQuanYiMicroHei" not in latin  # nothing embedded that no line uses
