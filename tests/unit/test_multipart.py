"""The streaming multipart/related reader and writer (RFC 2046 5.1, PS3.18 8.6.1.2)."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from workstation.archive.multipart import (
    MultipartError,
    MultipartStream,
    boundary_of,
    content_type_params,
    read_multipart,
    read_parts_to_files,
)
from workstation.archive.remote import RemoteError
from workstation.core.errors import StoreError

BOUNDARY = "b0undary-42"
# Bodies that look like parts of the delimiter, CRLFs and dashes: the parser must not be fooled.
BODIES = (
    b"\x00\x01DICM" + bytes(range(256)),
    b"--b0undary-4\r\n--b0undary\r--\r\n-",
    b"",
    b"\r\n\r\n--",
)


def _body(bodies=BODIES, preamble=b"", epilogue=b"", headers=None) -> bytes:
    out = bytearray(preamble)
    for n, body in enumerate(bodies):
        if n or preamble:
            out += b"\r\n"
        out += f"--{BOUNDARY}\r\n".encode()
        h = headers[n] if headers else f"Content-Type: application/dicom\r\nX-N: {n}\r\n"
        out += h.encode() + b"\r\n" + body
    out += f"\r\n--{BOUNDARY}--\r\n".encode() + epilogue
    return bytes(out)


def _parse(chunks) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for part in read_multipart(iter(chunks), BOUNDARY, lambda _h: io.BytesIO()):
        out.append((dict(part.headers), part.sink.getvalue()))
        assert part.size == len(part.sink.getvalue())
    return out


def _expected(bodies=BODIES) -> list[tuple[dict[str, str], bytes]]:
    return [({"content-type": "application/dicom", "x-n": str(n)}, b) for n, b in enumerate(bodies)]


def test_whole_body_in_one_chunk():
    assert _parse([_body()]) == _expected()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 64])
def test_every_chunk_size(size):
    body = _body(preamble=b"preamble text\r\n", epilogue=b"epilogue")
    assert _parse([body[i : i + size] for i in range(0, len(body), size)]) == _expected()


def test_a_split_at_every_offset_gives_the_same_parts():
    """Each delimiter, header block and CRLF is cut at every possible byte once."""
    body = _body(preamble=b"pre")
    want = _expected()
    for k in range(len(body) + 1):
        assert _parse([body[:k], body[k:]]) == want, f"split at {k}"


def test_random_chunkings_give_the_same_parts():
    """Chunks of every length, around the delimiter's too (a chunk shorter than the held-back
    tail, one that ends a delimiter begun in the previous chunk): always the same parts."""
    rng = random.Random(7)
    body = _body(preamble=b"pre\r\n--b0undary", epilogue=b"\r\n--b0undary-42--")
    width = len(BOUNDARY) + 4
    want = _expected()
    for _ in range(400):
        chunks, i = [], 0
        while i < len(body):
            n = rng.choice((1, 2, width - 2, width - 1, width, width + 1, rng.randint(1, 200)))
            chunks.append(body[i : i + n])
            i += n
        assert _parse(chunks) == want, [len(c) for c in chunks]


@pytest.mark.parametrize("head_bytes", [0, 1, 5, 100_000])
def test_the_head_of_each_part_is_kept_when_asked_for(head_bytes):
    body = _body()
    for size in (1, 3, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        parts = list(
            read_multipart(iter(chunks), BOUNDARY, lambda _h: io.BytesIO(), head_bytes=head_bytes)
        )
        assert [p.head for p in parts] == [b[:head_bytes] for b in BODIES]


def test_part_without_headers_and_transport_padding():
    body = (
        f"--{BOUNDARY}  \t\r\n\r\nfirst\r\n--{BOUNDARY}\r\nContent-Type: a/b\r\n\r\n"
        f"second\r\n--{BOUNDARY}--"
    ).encode()
    assert _parse([body]) == [({}, b"first"), ({"content-type": "a/b"}, b"second")]


def test_the_body_is_streamed_not_buffered():
    """The sink gets its first bytes while most of a 4 MiB part is still unread."""
    payload = bytes(range(256)) * (4 * 4096)
    body = _body(bodies=[payload])
    consumed = 0
    first_write_at: list[int] = []

    def chunks() -> Iterator[bytes]:
        nonlocal consumed
        for i in range(0, len(body), 65536):
            consumed += 1
            yield body[i : i + 65536]

    class Sink(io.BytesIO):
        def write(self, b) -> int:  # type: ignore[override]
            if not first_write_at:
                first_write_at.append(consumed)
            return super().write(b)

    parts = list(read_multipart(chunks(), BOUNDARY, lambda _h: Sink()))
    assert len(parts) == 1 and parts[0].sink.getvalue() == payload
    assert first_write_at == [1]
    assert consumed == -(-len(body) // 65536)


def test_truncated_inside_a_part_names_the_part_and_keeps_earlier_parts():
    body = _body()
    cut = body.index(b"X-N: 1") + 20  # inside part 2's body
    got: list[bytes] = []
    with pytest.raises(MultipartError) as err:
        for part in read_multipart(iter([body[:cut]]), BOUNDARY, lambda _h: io.BytesIO()):
            got.append(part.sink.getvalue())
    assert got == [BODIES[0]]
    assert str(err.value) == (
        "the multipart body ends inside part 2 after 10 bytes of it: "
        "the transfer was cut off (no closing boundary)"
    )
    assert isinstance(err.value, RemoteError)


def test_missing_close_delimiter():
    body = _body()
    cut = body.rindex(b"--\r\n")  # "...\r\n--b0undary-42" without the final "--"
    with pytest.raises(MultipartError, match=r"ends after 4 parts without its close delimiter"):
        _parse([body[:cut]])


def test_truncated_inside_headers():
    body = f"--{BOUNDARY}\r\nContent-Type: appl".encode()
    with pytest.raises(
        MultipartError, match=r"^the multipart body ends inside the headers of part 1$"
    ):
        _parse([body])


def test_no_delimiter_at_all():
    with pytest.raises(
        MultipartError, match=r"no multipart boundary 'b0undary-42' in the body \(9 bytes\)"
    ):
        _parse([b"not multi", b""])


def test_empty_body():
    with pytest.raises(MultipartError, match=r"\(0 bytes\)"):
        _parse([])


def test_garbage_after_a_boundary():
    with pytest.raises(MultipartError, match="text after a multipart boundary"):
        _parse([f"--{BOUNDARY}garbage\r\n\r\nx\r\n--{BOUNDARY}--".encode()])


def test_boundary_from_content_type():
    ct = 'multipart/related; type="application/dicom"; boundary="abc def:1"'
    assert boundary_of(ct) == "abc def:1"
    assert content_type_params(ct) == (
        "multipart/related",
        {"type": "application/dicom", "boundary": "abc def:1"},
    )
    assert boundary_of("Multipart/Related; boundary=xyz") == "xyz"


@pytest.mark.parametrize(
    ("ct", "message"),
    [
        ('multipart/related; type="application/dicom"', "has no boundary parameter"),
        ("application/dicom+json", "expected a multipart/related answer"),
        ("", "expected a multipart/related answer"),
        ("multipart/related; boundary=" + "x" * 71, "breaks RFC 2046 5.1.1"),
    ],
)
def test_bad_content_types(ct, message):
    with pytest.raises(MultipartError, match=message):
        boundary_of(ct)


def test_writer_round_trip_with_known_length(tmp_path: Path):
    files = []
    for n, body in enumerate(BODIES):
        p = tmp_path / f"f{n}.dcm"
        p.write_bytes(body)
        files.append(p)
    stream = MultipartStream(files, BOUNDARY)
    data = bytearray()
    while chunk := stream.read(5):
        data += chunk
    stream.close()
    assert len(stream) == len(data)
    parsed = _parse([bytes(data)])
    assert [b for _, b in parsed] == list(BODIES)
    assert all(h == {"content-type": "application/dicom"} for h, _ in parsed)


def test_headers_passed_to_the_sink_opener():
    seen: list[Mapping[str, str]] = []

    def opener(headers: Mapping[str, str]) -> io.BytesIO:
        seen.append(dict(headers))
        return io.BytesIO()

    list(read_multipart(iter([_body()]), BOUNDARY, opener))
    assert [h["x-n"] for h in seen] == ["0", "1", "2", "3"]


def test_parts_to_files_owner_only_and_an_unfinished_part_is_deleted(tmp_path: Path):
    body = _body()
    cut = body.index(b"X-N: 1") + 20  # inside part 2's body
    got = []
    with pytest.raises(MultipartError, match="ends inside part 2"):
        for p, part in read_parts_to_files(iter([body[:cut]]), BOUNDARY, tmp_path, "t"):
            assert p.stat().st_mode & 0o777 == 0o600
            assert p.name.startswith("t-") and p.suffix == ".part"
            got.append(p.read_bytes())
            assert part.size == len(got[-1])
    assert got == [BODIES[0]]
    assert len(list(tmp_path.iterdir())) == 1  # the whole part, the caller's now


def test_parts_to_files_a_transfer_failing_mid_part_deletes_that_part(tmp_path: Path):
    payload = b"x" * 1000
    body = _body(bodies=[b"a", payload])
    cut = body.index(payload) + 10
    seen = []

    def chunks():
        yield body[:cut]
        seen.append(sorted(p.name.split("-")[0] for p in tmp_path.iterdir()))
        raise OSError("connection reset")

    kept = []
    with pytest.raises(OSError, match="connection reset"):
        for p, _part in read_parts_to_files(chunks(), BOUNDARY, tmp_path, "t"):
            kept.append(p)
    assert seen == [["t", "t"]]  # part 2's file was open when the transfer failed
    assert list(tmp_path.iterdir()) == kept and kept[0].read_bytes() == b"a"


def test_parts_to_files_a_folder_that_cannot_be_written_is_a_store_error(tmp_path: Path):
    """The store's failure is told as such (StoreError), not as the transfer's."""
    gone = tmp_path / "gone"
    with pytest.raises(StoreError, match=r"^cannot write into the local store: No such file"):
        list(read_parts_to_files(iter([_body()]), BOUNDARY, gone, "t"))
