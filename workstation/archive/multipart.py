"""Streaming ``multipart/related`` reading and writing (RFC 2046 5.1, RFC 2387, PS3.18 8.6.1.2).

WADO-RS answers a series as one multipart body of DICOM files and STOW-RS takes one; a series
can be gigabytes, so neither side holds the body in memory. The reader takes an iterator of
byte chunks of any size (``response.iter_content(1 << 20)``), hands each part's body to a sink
the caller opens, and yields the part once its closing delimiter was seen, so a part that is
yielded is complete.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

from workstation.archive.remote import RemoteProtocolError
from workstation.core.errors import StoreError, store_os_error

_CRLF = b"\r\n"
_MAX_HEADER_BYTES = 64 * 1024
# The reader's states: before the first delimiter, after a delimiter (its line's end or the
# close "--"), in a part's headers, in its body, after the close delimiter.
_PREAMBLE, _AFTER_DELIM, _HEADERS, _BODY, _END = range(5)
_BOUNDARY_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")


class MultipartError(RemoteProtocolError):
    """A multipart body breaks RFC 2046: no boundary, a truncated part, no close delimiter."""


@dataclass(frozen=True, slots=True)
class Part:
    """One complete body part: its headers (names lower-cased), byte count, the sink used and
    its first bytes when the reader was asked for them (``head_bytes``)."""

    index: int
    headers: Mapping[str, str]
    size: int
    sink: IO[bytes]
    head: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """The media type (lower case) and its parameters, quotes removed (RFC 2045 5.1)."""
    msg = Message()
    msg["content-type"] = content_type
    params = msg.get_params() or []
    media = params[0][0].lower() if params else ""
    values: dict[str, str] = {}
    for k, v in params[1:]:
        values[k.lower()] = str(v)
    return media, values


@functools.lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    return content_type_params(content_type)[0]


def dicom_media_type(part: Part) -> str:
    """A WADO-RS part's media type; a part without a Content-Type is taken as DICOM."""
    return _media_type(part.content_type or "application/dicom")


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type, or MultipartError saying what is off."""
    media, params = content_type_params(content_type)
    if not media.startswith("multipart/"):
        raise MultipartError(
            f"expected a multipart/related answer, got Content-Type {content_type[:80]!r}"
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError(
            f"the multipart answer has no boundary parameter in its Content-Type "
            f"({content_type[:80]!r}); the archive's DICOMweb answer is malformed"
        )
    if len(boundary) > 70 or not set(boundary) <= _BOUNDARY_CHARS:
        raise MultipartError(f"the multipart boundary {boundary[:80]!r} breaks RFC 2046 5.1.1")
    return boundary


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(_CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise MultipartError(f"a part header line without a colon: {line[:60]!r}")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


def read_multipart(
    chunks: Iterable[bytes],
    boundary: str,
    open_sink: Callable[[Mapping[str, str]], IO[bytes]],
    *,
    head_bytes: int = 0,
) -> Iterator[Part]:
    """Parse a multipart body from ``chunks``; each part's body goes to ``open_sink(headers)``.

    A part is yielded only after its closing delimiter, with its first ``head_bytes`` bytes
    (``Part.head``) when asked for. Raises MultipartError when the body has no delimiter at
    all, ends inside a part, or ends without the close delimiter (RFC 2046 5.1.1); the sink
    of an unfinished part is left to the caller to discard.

    Each chunk is read where it lies: a part's bytes go from the chunk to its sink without
    a copy into a buffer of the reader's (which, for a 158 MB series, cost as much CPU as
    the socket's read). Only what may still begin a delimiter, a header block or a
    boundary line at a chunk's end is carried over to the next chunk.
    """
    # Every delimiter, the first one too, is CRLF "--" boundary: pretend the body starts
    # with a CRLF so that a body opening with the delimiter needs no special case.
    delim = _CRLF + b"--" + boundary.encode("ascii")
    width = len(delim)
    keep = width - 1  # bytes at a chunk's end that may be the start of a delimiter
    carry = _CRLF  # bytes not yet resolved, from before the chunk at hand
    state = _PREAMBLE
    index = 0
    headers: dict[str, str] = {}
    sink: IO[bytes] | None = None
    head = bytearray()
    size = 0
    total = 0

    def body(view: memoryview) -> None:
        nonlocal size
        if len(head) < head_bytes:
            head.extend(view[: head_bytes - len(head)])
        assert sink is not None
        sink.write(view)
        size += len(view)

    source = iter(chunks)
    for chunk in source:
        if not chunk:
            continue
        total += len(chunk)
        pos = 0
        if state == _BODY and carry and len(chunk) >= keep:
            # The held-back tail may begin a delimiter: the chunk's first bytes end it.
            i = (carry + chunk[:keep]).find(delim)
            if 0 <= i < len(carry):
                body(memoryview(carry)[:i])
                pos = i + width - len(carry)
                index += 1
                yield Part(index, headers, size, sink, bytes(head))  # type: ignore[arg-type]
                sink = None
                state = _AFTER_DELIM
            else:
                body(memoryview(carry))
            data = chunk
        elif carry:
            data = carry + chunk  # a header block or a boundary line cut, or a short chunk
        else:
            data = chunk
        carry = b""
        view = memoryview(data)
        while True:
            if state == _BODY:
                i = data.find(delim, pos)
                if i >= 0:
                    body(view[pos:i])
                    pos = i + width
                    index += 1
                    yield Part(index, headers, size, sink, bytes(head))  # type: ignore[arg-type]
                    sink = None
                    state = _AFTER_DELIM
                    continue
                cut = max(pos, len(data) - keep)
                if cut > pos:
                    body(view[pos:cut])
                carry = bytes(view[cut:])
                break
            if state == _AFTER_DELIM:
                if len(data) - pos < 2:
                    carry = bytes(view[pos:])
                    break
                if data.startswith(b"--", pos):
                    state = _END
                    break
                eol = data.find(_CRLF, pos)
                if eol < 0:
                    if len(data) - pos > 1024:
                        raise MultipartError("a multipart boundary line does not end")
                    carry = bytes(view[pos:])
                    break
                padding = bytes(view[pos:eol])
                if padding.strip(b" \t"):
                    raise MultipartError(
                        f"text after a multipart boundary: {padding[:40]!r} "
                        "(the body is malformed or uses another boundary)"
                    )
                pos = eol + 2
                state = _HEADERS
            elif state == _HEADERS:
                if data.startswith(_CRLF, pos):
                    end, skip = pos, 2  # a part without headers
                else:
                    end = data.find(_CRLF + _CRLF, pos)
                    skip = 4
                if end < 0:
                    if len(data) - pos > _MAX_HEADER_BYTES:
                        raise MultipartError(
                            f"the headers of part {index + 1} exceed {_MAX_HEADER_BYTES} bytes"
                        )
                    carry = bytes(view[pos:])
                    break
                headers = _parse_headers(bytes(view[pos:end]))
                pos = end + skip
                sink = open_sink(headers)
                head.clear()
                size = 0
                state = _BODY
            elif state == _PREAMBLE:
                i = data.find(delim, pos)
                if i < 0:
                    carry = bytes(view[max(pos, len(data) - keep) :])
                    break
                pos = i + width
                state = _AFTER_DELIM
            else:  # _END
                break
        if state == _END:
            # The epilogue after the close delimiter is ignored; drain the source.
            for _ in source:
                pass
            return
    if state == _PREAMBLE:
        raise MultipartError(
            f"no multipart boundary {boundary[:40]!r} in the body ({total} bytes): "
            "the answer is empty or not multipart"
        )
    if state == _BODY:
        raise MultipartError(
            f"the multipart body ends inside part {index + 1} after {size + len(carry)} bytes "
            "of it: "
            "the transfer was cut off (no closing boundary)"
        )
    if state == _HEADERS:
        raise MultipartError(f"the multipart body ends inside the headers of part {index + 1}")
    raise MultipartError(
        f"the multipart body ends after {index} parts without its close delimiter "
        "(the transfer was cut off)"
    )


class _PartFile:
    """A part's temp file; its write errors (a full disk) raise StoreError, so that they are
    not taken for the transfer's."""

    __slots__ = ("_fp",)

    def __init__(self, fd: int) -> None:
        self._fp = os.fdopen(fd, "wb")

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self._fp.write(data)
        except OSError as exc:
            raise store_os_error(exc) from None

    def close(self) -> None:
        try:
            self._fp.close()
        except OSError as exc:
            raise store_os_error(exc) from None


def read_parts_to_files(
    chunks: Iterable[bytes],
    boundary: str,
    folder: Path,
    prefix: str,
    *,
    head_bytes: int = 0,
) -> Generator[tuple[Path, Part], None, None]:
    """Each part of a multipart body written to a file of its own in ``folder``, yielded with
    the part once whole and closed; the caller owns the file from then on.

    Files are owner-only from their first byte (a part holds patient data) and named
    ``prefix-<random>.part``. The file of a part the body breaks off in is deleted, also when
    the caller stops early: close the generator (``contextlib.closing``). A file that cannot
    be written (a full disk) raises :class:`StoreError`.
    """
    open_files: list[tuple[Path, _PartFile]] = []

    def open_sink(_headers: Mapping[str, str]) -> IO[bytes]:
        p = folder / f"{prefix}-{uuid.uuid4().hex}.part"
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as exc:
            raise store_os_error(exc) from None
        fp = _PartFile(fd)
        open_files.append((p, fp))
        return fp  # type: ignore[return-value]  # write is all the reader needs

    try:
        for part in read_multipart(chunks, boundary, open_sink, head_bytes=head_bytes):
            p, fp = open_files.pop()
            try:
                fp.close()
            except StoreError:
                p.unlink(missing_ok=True)
                raise
            yield p, part
    finally:
        for p, fp in open_files:  # an unfinished part: never handed on
            with contextlib.suppress(StoreError):  # its last bytes may not fit (a full disk)
                fp.close()
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# -- writing ------------------------------------------------------------------------------------


def new_boundary() -> str:
    return f"workstation-{uuid.uuid4().hex}"


class MultipartStream(io.RawIOBase):
    """A ``multipart/related`` body of files, read lazily with a known length.

    ``requests`` sends it with a Content-Length (it has ``__len__``) instead of chunked
    encoding, and never holds more than one read's worth in memory.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        boundary: str,
        part_content_type: str = "application/dicom",
    ) -> None:
        super().__init__()
        self.boundary = boundary
        head = f"--{boundary}\r\nContent-Type: {part_content_type}\r\n\r\n".encode("ascii")
        sep = b"\r\n" + head
        self._segments: list[bytes | Path] = []
        for n, p in enumerate(paths):
            self._segments.append(head if n == 0 else sep)
            self._segments.append(Path(p))
        self._segments.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
        self._length = sum(
            len(s) if isinstance(s, bytes) else s.stat().st_size for s in self._segments
        )
        self._pos = 0
        self._seg = 0
        self._offset = 0  # within the current segment
        self._fp: io.BufferedReader | None = None

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        n = 0
        while n < len(view) and self._seg < len(self._segments):
            seg = self._segments[self._seg]
            if isinstance(seg, bytes):
                take = min(len(view) - n, len(seg) - self._offset)
                view[n : n + take] = seg[self._offset : self._offset + take]
                self._offset += take
                done = self._offset >= len(seg)
            else:
                if self._fp is None:
                    self._fp = open(seg, "rb")  # noqa: SIM115 (closed when the part ends)
                got = self._fp.readinto(view[n:])
                take = got or 0
                done = take == 0
                if done:
                    self._fp.close()
                    self._fp = None
            n += take
            if done:
                self._seg += 1
                self._offset = 0
        self._pos += n
        return n

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None
        super().close()
