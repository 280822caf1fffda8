"""The fast header path (dicomio.parse_head) gives exactly what pydicom's reading gives.

parse_head reads the index attributes from a file's first bytes without pydicom; wherever it
answers, its ParsedInstance must equal read_header + parse_dataset, and wherever the file is
odd it must step aside (None) so that pydicom's reading decides.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from workstation.archive.dicomio import (
    ParsedInstance,
    parse_dataset,
    parse_head,
    parse_head_bytes,
    read_header,
)
from workstation.archive.local import LocalArchive, _parse_kept, _parse_open
from workstation.core.errors import InvalidDicomError
from workstation.demo import CT_HEAD, iter_series_datasets


def _pydicom_way(data: bytes) -> ParsedInstance | InvalidDicomError:
    try:
        ds, offset, length, meta = read_header(io.BytesIO(data), len(data))
    except InvalidDicomError as exc:
        return exc
    return parse_dataset(
        ds,
        path="",
        pixel_data_offset=offset,
        pixel_data_length=length,
        file_size=len(data),
        has_file_meta=meta,
    )


def _fast_way(data: bytes, **kw: int) -> ParsedInstance | InvalidDicomError | None:
    try:
        return parse_head(io.BytesIO(data), len(data), **kw)
    except InvalidDicomError as exc:
        return exc


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _sample(name: str) -> Dataset:
    return pydicom.dcmread(get_testdata_file(name))


def _same(a: object, b: object) -> bool:
    if isinstance(a, InvalidDicomError) and isinstance(b, InvalidDicomError):
        return str(a) == str(b)
    return a == b


SAMPLES = sorted(
    p for p in {*get_testdata_files(), *get_charset_files()} if os.path.isfile(p)
)  # fmt: skip


def test_every_pydicom_sample_is_equal_or_left_to_pydicom():
    fast = []
    for path in SAMPLES:
        data = Path(path).read_bytes()
        got = _fast_way(data)
        if got is None:
            continue
        assert _same(got, _pydicom_way(data)), Path(path).name
        fast.append(Path(path).name)
    # The common image encodings take the fast path (and agree, above).
    for name in (
        "CT_small.dcm",  # Explicit VR Little Endian
        "MR_small_implicit.dcm",  # Implicit VR Little Endian
        "MR_small_bigendian.dcm",  # Explicit VR Big Endian
        "JPEG2000.dcm",  # encapsulated (PS3.5 A.4)
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ):
        assert name in fast


@pytest.mark.parametrize(
    ("name", "ts"),
    [
        ("CT_small.dcm", "1.2.840.10008.1.2.1"),
        ("MR_small_implicit.dcm", "1.2.840.10008.1.2"),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
        ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91"),
    ],
)
def test_named_encodings_give_the_same_instance(name, ts):
    data = Path(get_testdata_file(name)).read_bytes()
    got = _fast_way(data)
    assert isinstance(got, ParsedInstance)
    assert got == _pydicom_way(data)
    assert got.instance.transfer_syntax_uid == ts


def test_demo_ct_slice_is_equal_with_its_geometry():
    ds = next(iter(iter_series_datasets(CT_HEAD.series[0], CT_HEAD)))
    data = _bytes(ds)
    got = _fast_way(data)
    assert isinstance(got, ParsedInstance)
    assert got == _pydicom_way(data)
    inst = got.instance
    assert inst.image_position_patient == tuple(float(v) for v in ds.ImagePositionPatient)
    assert inst.pixel_data_offset == len(data) - len(ds.PixelData)
    assert inst.pixel_data_length == len(ds.PixelData) == inst.rows * inst.columns * 2


def test_deflate_is_left_to_pydicom_and_still_stored(tmp_path: Path):
    path = get_testdata_file("image_dfl.dcm")
    data = Path(path).read_bytes()
    assert _fast_way(data) is None
    store = LocalArchive(tmp_path / "store")
    tmp = store.tmp_dir / "x.part"
    tmp.write_bytes(data)
    assert store.ingest_file(tmp) is True
    store.commit()
    ref = _pydicom_way(data)
    assert isinstance(ref, ParsedInstance)
    [inst] = store.instances(ref.series.series_instance_uid)
    assert inst.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    assert inst.sop_instance_uid == ref.instance.sop_instance_uid
    assert stat.S_IMODE(store.path_of(inst).stat().st_mode) == 0o600
    store.close()


@pytest.mark.parametrize(
    ("charset", "name", "fast"),
    [
        ("ISO_IR 100", "Müller^Jürgen", True),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎", True),
        ("ISO 2022 IR 87", "Yamada^Tarou", False),  # code extensions: pydicom decodes
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on odd values
def test_character_sets(charset, name, fast):
    ds = _sample("CT_small.dcm")
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.StudyDescription = "Schädel nativ" if charset != "ISO 2022 IR 87" else "Head"
    data = _bytes(ds)
    got = _fast_way(data)
    ref = _pydicom_way(data)
    assert isinstance(ref, ParsedInstance)
    if fast:
        assert got == ref
        assert got.patient.patient_name == name
    else:
        assert got is None


def test_values_seen_before_are_read_again_in_the_character_set_at_hand():
    """The fast path keeps values it converted, by their bytes; the same bytes in another
    character set (and in another VR) still convert as pydicom converts them."""
    ds = _sample("CT_small.dcm")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Jürgen"
    utf8 = _bytes(ds)
    raw = "Müller^Jürgen".encode()
    latin = utf8.replace(b"ISO_IR 192", b"ISO_IR 100")
    assert raw in latin
    names = []
    for data in (utf8, latin, utf8):
        got = _fast_way(data)
        assert isinstance(got, ParsedInstance) and got == _pydicom_way(data)
        names.append(got.patient.patient_name)
    assert names == ["Müller^Jürgen", raw.decode("latin_1"), "Müller^Jürgen"]


def _with(**changes: object) -> bytes:
    ds = _sample("CT_small.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values made here
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
    return _bytes(ds)


@pytest.mark.parametrize(
    "data",
    [
        # A nested sequence parse_dataset reads: pydicom reads it.
        pytest.param(
            _with(RequestAttributesSequence=Sequence([Dataset()])), id="request-attributes"
        ),
        pytest.param(_with(PatientName=["Doe^Jane", "Roe^Joe"]), id="multi-valued-PN"),
        pytest.param(_with(InstanceNumber="1.0"), id="non-integer-IS"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on odd values
def test_odd_headers_are_left_to_pydicom(data):
    assert _fast_way(data) is None
    assert isinstance(_pydicom_way(data), ParsedInstance)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on odd values
def test_multiple_values_and_a_series_shared_values_read_as_pydicom_reads_them():
    """More than one value (text, numbers, codes) reads as pydicom reads it, also the second
    time, from the values kept. Slices of one series share their Patient, Study and Series;
    one value of them changed (the patient's ID) makes new ones."""
    base: dict[str, object] = {
        "InstitutionName": ["North", "South"],
        "WindowCenter": ["40", "400"],
        "WindowWidth": ["400", "1500"],
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
    }
    datas = [
        _with(**base, SOPInstanceUID="1.2.3.1", InstanceNumber=1),
        _with(**base, SOPInstanceUID="1.2.3.2", InstanceNumber=2),
        _with(**base, SOPInstanceUID="1.2.3.1", InstanceNumber=1),
        _with(**base, SOPInstanceUID="1.2.3.3", PatientID="another"),
    ]
    got = [_fast_way(data) for data in datas]
    for g, data in zip(got, datas, strict=True):
        assert isinstance(g, ParsedInstance)
        assert g == _pydicom_way(data)
    first, second, again, other = got
    assert first.study.institution_name == "North\\South"
    assert first.instance.window_center == (40.0, 400.0)
    assert first.instance.window_width == (400.0, 1500.0)
    assert first.instance.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert first.instance.image_orientation_patient == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert (second.instance.sop_instance_uid, second.instance.instance_number) == ("1.2.3.2", 2)
    assert second.study is first.study and second.series is first.series
    assert again == first
    assert other.patient.patient_id == "another" and other.patient != first.patient
    assert other.study is not first.study


def test_other_sequences_are_skipped_and_values_after_them_read():
    ds = _sample("CT_small.dcm")
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    ds.SeriesDescription = "after the sequence"
    for length in (True, False):  # defined and undefined sequence and item lengths
        ds.ReferencedImageSequence.is_undefined_length = length
        for it in ds.ReferencedImageSequence:
            it.is_undefined_length_sequence_item = length
        data = _bytes(ds)
        got = _fast_way(data)
        assert isinstance(got, ParsedInstance)
        assert got == _pydicom_way(data)
        assert got.series.series_description == "after the sequence"


def test_a_header_longer_than_the_head_is_left_to_pydicom():
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    assert _fast_way(data, head_bytes=512) is None
    assert isinstance(_fast_way(data, head_bytes=len(data)), ParsedInstance)


@pytest.mark.parametrize("cut", [100, 700, 3000, 10_000])
def test_truncated_files_are_rejected_as_before(cut):
    """Cut in the preamble, in the header or in Pixel Data (at 6300): the fast path steps
    aside and pydicom's reading rejects the file."""
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()[:cut]
    assert _fast_way(data) is None
    ref = _pydicom_way(data)
    assert isinstance(ref, InvalidDicomError)


def test_a_cut_compressed_frame_gives_the_same_error():
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()[:-20]
    got = _fast_way(data)
    ref = _pydicom_way(data)
    assert isinstance(got, InvalidDicomError)
    assert str(got) == str(ref) == "truncated: a compressed frame is cut short"


@pytest.mark.parametrize("kept", [16 * 1024, 2000, 300])
def test_a_kept_head_gives_what_the_file_gives(tmp_path: Path, kept: int):
    """A retrieve parses each part's header from its first bytes kept in memory: the same
    result (or error) as from the file, for every sample and any kept length."""
    for path in SAMPLES:
        data = Path(path).read_bytes()
        p = tmp_path / "f.dcm"
        p.write_bytes(data)
        try:
            got: object = _parse_kept(p, data[:kept], len(data))
        except InvalidDicomError as exc:
            got = exc
        with open(p, "rb") as fp:
            try:
                want: object = _parse_open(fp, len(data))
            except InvalidDicomError as exc:
                want = exc
        assert _same(got, want), Path(path).name


def test_the_file_is_read_only_past_the_kept_head():
    """Native Pixel Data within the kept bytes: the file is never opened; encapsulated Pixel
    Data: its fragments are walked in the file."""

    def no_file() -> io.BytesIO:
        raise AssertionError("the file was opened")

    for name in ("CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):
        data = Path(get_testdata_file(name)).read_bytes()
        assert parse_head_bytes(data[:16384], len(data), no_file) == _fast_way(data), name
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    opened: list[int] = []

    def file() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(data)

    assert parse_head_bytes(data[:16384], len(data), file) == _fast_way(data)
    assert opened


def test_ingest_with_the_kept_head_indexes_the_same_instance(tmp_path: Path):
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    sop = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)
    rows = []
    for n, head in enumerate((b"", data[:16384], data[:200])):
        store = LocalArchive(tmp_path / f"store-{n}")
        p = store.tmp_dir / "part"
        p.write_bytes(data)
        assert store.ingest_file(p, head=head, size=len(data) if head else None)
        store.commit()
        rows.append(store.index.instance(sop))
        store.close()
    assert rows[0] is not None and rows[0] == rows[1] == rows[2]


def test_a_cut_compressed_frame_is_rejected_from_the_kept_head_too(tmp_path: Path):
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()[:-20]
    store = LocalArchive(tmp_path / "store")
    p = store.tmp_dir / "part"
    p.write_bytes(data)
    with pytest.raises(InvalidDicomError, match=r"^truncated: a compressed frame is cut short$"):
        store.ingest_file(p, head=data[:16384], size=len(data))
    assert p.exists()  # left to the caller, as the docstring says
    store.close()
