"""A report as a PDF, wrapped as Encapsulated PDF Storage, for sites whose EHR cannot show SR.

Why a small PDF writer of our own: ``reporting/`` may not import Qt (QPdfWriter would need a
QGuiApplication in the ``report export`` command too), and no PDF library is a dependency. The
writer here does what a report needs and no more: text in one column on A4 pages, regular and
bold, headings, items, a footer with page numbers.

Fonts: DejaVu Sans (Debian ``fonts-dejavu-core``, ``/usr/share/fonts/truetype/dejavu``) is
embedded as a subset (only the glyphs used; PDF 32000-1 9.9, CIDFontType2 with Identity-H and a
ToUnicode map, so text can be searched and copied). It covers Latin with accents, Greek,
Cyrillic and Arabic; Arabic is shaped here (contextual forms and lam-alef ligatures from the
Unicode presentation forms) and lines are put in visual order by a reduced Unicode
Bidirectional Algorithm (UAX #9: strong types, numbers, neutrals, levels, mirrored brackets).
Limits: scripts DejaVu Sans lacks (CJK, Indic) show as empty boxes, and combining marks are not
positioned by GPOS. Without DejaVu the 14 standard PDF fonts are used (Helvetica, WinAnsi
characters only; others become "?").

The text comes from the SR itself (:func:`sr_blocks` walks any SR's content tree, from this
program or another), so the PDF says what the SR says. The Encapsulated PDF instance (PS3.3
A.45.1) references its source SR (Source Instance Sequence) and gets a UID derived from the
SR's, so exporting the same report twice gives the same instance.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import logging
import math
import struct
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from workstation import __version__
from workstation.core.errors import InvalidDicomError
from workstation.core.fonts import best_cover, table_directory, unicode_cmap
from workstation.core.model import format_person_name
from workstation.reporting import codes

__all__ = [
    "ENCAPSULATED_PDF_STORAGE",
    "Block",
    "BlockKind",
    "encapsulated_pdf",
    "render_pdf",
    "report_pdf_dataset",
    "sr_blocks",
]

log = logging.getLogger(__name__)

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_SERIES_NUMBER = 901
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
REGULAR_FONT = "DejaVuSans.ttf"
BOLD_FONT = "DejaVuSans-Bold.ttf"
# For text DejaVu Sans has no glyphs for (Chinese, Japanese, Korean names): a TrueType
# collection with Latin too (Debian fonts-wqy-microhei), embedded only when a line needs it.
FALLBACK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

ImageDescriber = Callable[[str, str, "int | None"], "str | None"]
"""(SOP Class UID, SOP Instance UID, frame) -> how to name the image, e.g. "series 2, image 95"."""


# =============================================================================================
# What the document says: blocks from any SR
# =============================================================================================


class BlockKind(enum.StrEnum):
    TITLE = "title"
    META = "meta"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    ITEM = "item"
    IMAGE = "image"
    RULE = "rule"


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of a readable report: a title, a header line, a heading (``level`` 1 for a
    section), a paragraph, an item (a finding, a measurement), an image reference or a rule.
    ``image`` is (SOP Class UID, SOP Instance UID, frame or None) for image references."""

    kind: BlockKind
    text: str = ""
    level: int = 0
    image: tuple[str, str, int | None] | None = None


# UCUM codes as a reader writes them.
_UNIT_TEXT = {
    "mm": "mm",
    "cm": "cm",
    "mm2": "mm²",
    "cm2": "cm²",
    "mm3": "mm³",
    "cm3": "cm³",
    "mL": "mL",
    "[hnsf'U]": "HU",
    "deg": "°",
    "%": "%",
    "{ratio}": "",
    "1": "",
    "s": "s",
    "cm/s": "cm/s",
    "mSv": "mSv",
    "mGy": "mGy",
}


def unit_text(code_value: str) -> str:
    """A UCUM unit code as it is written after a value ("mm2" -> "mm²", "[hnsf'U]" -> "HU")."""
    return _UNIT_TEXT.get(code_value, code_value)


def _concept(item: Dataset) -> str:
    seq = item.get("ConceptNameCodeSequence") or []
    return str(seq[0].get("CodeMeaning", "")) if seq else ""


def _concept_code(item: Dataset) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence") or []
    if not seq:
        return ("", "")
    return (str(seq[0].get("CodeValue", "")), str(seq[0].get("CodingSchemeDesignator", "")))


def _da(value: str) -> str:
    v = str(value or "")
    return f"{v[0:4]}-{v[4:6]}-{v[6:8]}" if len(v) >= 8 and v[:8].isdigit() else v


def _tm(value: str) -> str:
    v = str(value or "").split(".")[0]
    return f"{v[0:2]}:{v[2:4]}" if len(v) >= 4 and v[:4].isdigit() else v


def _dt_text(value: str) -> str:
    """A DT value (YYYYMMDDHHMMSS.FFFFFF&ZZXX) as "YYYY-MM-DD HH:MM +ZZ:XX"."""
    v = str(value or "")
    offset = ""
    for sign in ("+", "-"):
        if sign in v[8:]:
            head, _, tail = v.rpartition(sign)
            v, offset = head, f" {sign}{tail[:2]}:{tail[2:4]}"
            break
    return f"{_da(v[:8])} {_tm(v[8:])}".strip() + offset


def _number(value: object) -> str:
    """A measured value as a reader writes it: at most two decimals, no trailing zeros."""
    text = str(value).strip()
    try:
        f = float(text)
    except ValueError:
        return text
    if not math.isfinite(f):
        return text
    shown = f"{f:.2f}".rstrip("0").rstrip(".")
    return "0" if shown == "-0" else shown


def default_image_text(sop_class_uid: str, sop_instance_uid: str, frame: int | None) -> str:
    """An image named by its SOP class and the end of its UID, when nothing better is known."""
    name = UID(sop_class_uid).name if sop_class_uid else "image"
    name = name.removesuffix(" Storage")
    text = f"{name} …{sop_instance_uid[-8:]}"
    return f"{text}, frame {frame}" if frame else text


def sr_blocks(ds: Dataset, describe_image: ImageDescriber | None = None) -> list[Block]:
    """Any SR document as readable blocks: its title; patient, study, status and author lines;
    then the content tree (PS3.3 C.17.3) with containers as headings, narrative text as
    paragraphs, coded and numeric items as "concept: value unit" and image references named by
    ``describe_image`` (else by SOP class). Raises InvalidDicomError when ``ds`` is no SR."""
    if "ContentSequence" not in ds and "ValueType" not in ds:
        raise InvalidDicomError("not a DICOM SR document (no SR content tree)")
    describe = describe_image or default_image_text
    blocks = [Block(BlockKind.TITLE, _concept(ds) or "Structured report")]
    patient = format_person_name(str(ds.get("PatientName", "") or "")) or "(no name)"
    line = f"Patient: {patient}"
    if ds.get("PatientID"):
        line += f"   ID {ds.PatientID}"
    if ds.get("PatientBirthDate"):
        line += f"   born {_da(ds.PatientBirthDate)}"
    if ds.get("PatientSex"):
        line += f"   sex {ds.PatientSex}"
    blocks.append(Block(BlockKind.META, line))
    study = [f"Study: {_da(ds.get('StudyDate', ''))} {_tm(ds.get('StudyTime', ''))}".rstrip()]
    if ds.get("StudyDescription"):
        study.append(str(ds.StudyDescription))
    if ds.get("AccessionNumber"):
        study.append(f"accession {ds.AccessionNumber}")
    blocks.append(Block(BlockKind.META, "   ".join(s for s in study if s.strip(": "))))
    final = ds.get("VerificationFlag") == "VERIFIED"
    status = "Final" if final else "Preliminary (not verified)"
    if ds.get("CompletionFlag") == "PARTIAL" and final:
        status += ", partial"
    for obs in ds.get("VerifyingObserverSequence") or []:
        who = format_person_name(str(obs.get("VerifyingObserverName", "") or ""))
        org = str(obs.get("VerifyingOrganization", "") or "")
        status += f" - signed by {who}" + (f" ({org})" if org else "")
        if obs.get("VerificationDateTime"):
            status += f" on {_dt_text(obs.VerificationDateTime)}"
    blocks.append(Block(BlockKind.META, f"Status: {status}"))
    if ds.get("ContentDate"):
        blocks.append(
            Block(
                BlockKind.META,
                f"Written: {_da(ds.ContentDate)} {_tm(ds.get('ContentTime', ''))}".rstrip(),
            )
        )
    if ds.get("PredecessorDocumentsSequence"):
        blocks.append(Block(BlockKind.META, "Amends an earlier report (addendum or correction)"))
    context: list[str] = []
    observer: dict[str, str] = {}
    body: list[Block] = []
    for item in ds.get("ContentSequence") or []:
        rel = str(item.get("RelationshipType", ""))
        if rel == "HAS CONCEPT MOD" and _concept_code(item) == ("121049", "DCM"):
            continue  # language of content
        if rel == "HAS OBS CONTEXT":
            code = _concept_code(item)
            if code in _OBSERVER_CODES:  # TID 1002/1003 person observer
                observer.setdefault(_OBSERVER_CODES[code], _value(item))
            else:
                context.append(f"{_concept(item)}: {_value(item)}")
            continue
        _walk(item, 1, None, body, describe)
    if observer.get("name"):
        line = f"Author: {observer['name']}"
        if observer.get("organisation"):
            line += f" ({observer['organisation']})"
        if observer.get("role"):
            line += f", {observer['role']}"
        blocks.append(Block(BlockKind.META, line))
    if context:
        blocks.append(Block(BlockKind.META, "   ".join(context)))
    return blocks + body


_OBSERVER_CODES = {
    ("121005", "DCM"): "type",
    ("121008", "DCM"): "name",
    ("121009", "DCM"): "organisation",
    ("121010", "DCM"): "role",
}


def _walk(
    item: Dataset,
    depth: int,
    heading: tuple[str, str] | None,
    out: list[Block],
    describe: ImageDescriber,
) -> None:
    if "ReferencedContentItemIdentifier" in item:
        out.append(Block(BlockKind.ITEM, "(refers to another item of this report)", depth))
        return
    vt = str(item.get("ValueType", ""))
    concept = _concept(item)
    children = item.get("ContentSequence") or []
    if vt == "CONTAINER":
        out.append(Block(BlockKind.HEADING, concept or "(section)", depth))
        code = _concept_code(item)
        for child in children:
            _walk(child, depth + 1, code, out, describe)
        return
    level = max(depth - 1, 0)
    if vt == "TEXT":
        text = str(item.get("TextValue", ""))
        narrative = heading is not None and _is_narrative(heading, _concept_code(item))
        if narrative and not children:
            out.append(Block(BlockKind.PARAGRAPH, text, level))
            return
        out.append(Block(BlockKind.ITEM, f"{concept}: {text}" if concept else text, level))
    elif vt == "IMAGE":
        ref = _image(item)
        label = describe(*ref) or default_image_text(*ref)
        out.append(Block(BlockKind.IMAGE, f"{concept}: {label}" if concept else label, level, ref))
        return
    else:
        value = _value(item)
        out.append(Block(BlockKind.ITEM, f"{concept}: {value}" if concept else value, level))
    for child in children:
        _walk_child(child, level + 1, out, describe)


def _walk_child(item: Dataset, level: int, out: list[Block], describe: ImageDescriber) -> None:
    """Children of a finding or measurement: images it was inferred from, its outline."""
    vt = str(item.get("ValueType", ""))
    if vt == "IMAGE":
        ref = _image(item)
        rel = str(item.get("RelationshipType", ""))
        lead = "measured on" if rel == "INFERRED FROM" else (_concept(item) or "image")
        out.append(Block(BlockKind.IMAGE, f"{lead} {describe(*ref) or ''}".strip(), level, ref))
        return
    if vt == "SCOORD":
        data = [float(v) for v in (item.get("GraphicData") or [])]
        kind = str(item.get("GraphicType", "")).lower()
        source: tuple[str, str, int | None] | None = None
        for child in item.get("ContentSequence") or []:
            if child.get("ValueType") == "IMAGE":
                source = _image(child)
        where = f" on {describe(*source) or default_image_text(*source)}" if source else ""
        out.append(
            Block(
                BlockKind.IMAGE,
                f"outline: {kind}, {len(data) // 2} points{where}",
                level,
                source,
            )
        )
        return
    _walk(item, level + 1, None, out, describe)


def _is_narrative(heading: tuple[str, str], concept: tuple[str, str]) -> bool:
    narrative = codes.NARRATIVE_ELEMENT_BY_HEADING.get(heading[0], codes.FINDING)
    return concept == (narrative.value, narrative.scheme_designator)


def _image(item: Dataset) -> tuple[str, str, int | None]:
    seq = item.get("ReferencedSOPSequence") or []
    if not seq:
        return ("", "", None)
    sop = seq[0]
    frame = sop.get("ReferencedFrameNumber")
    if frame is not None and not isinstance(frame, int | str):
        frame = frame[0] if len(frame) else None
    return (
        str(sop.get("ReferencedSOPClassUID", "")),
        str(sop.get("ReferencedSOPInstanceUID", "")),
        int(frame) if frame not in (None, "") else None,
    )


def _value(item: Dataset) -> str:
    vt = str(item.get("ValueType", ""))
    if vt == "TEXT":
        return str(item.get("TextValue", ""))
    if vt == "CODE":
        seq = item.get("ConceptCodeSequence") or []
        return str(seq[0].get("CodeMeaning", "")) if seq else ""
    if vt == "NUM":
        measured = item.get("MeasuredValueSequence") or []
        if not measured:
            qualifier = item.get("NumericValueQualifierCodeSequence") or []
            return f"no value ({qualifier[0].CodeMeaning})" if qualifier else "no value"
        m = measured[0]
        units = m.get("MeasurementUnitsCodeSequence") or []
        unit = unit_text(str(units[0].get("CodeValue", ""))) if units else ""
        number = _number(m.get("NumericValue", ""))
        if unit in ("°", "%"):
            return f"{number}{unit}"
        return f"{number} {unit}".strip()
    if vt == "PNAME":
        return format_person_name(str(item.get("PersonName", "") or ""))
    if vt == "DATE":
        return _da(item.get("Date", ""))
    if vt == "TIME":
        return _tm(item.get("Time", ""))
    if vt == "DATETIME":
        return _dt_text(item.get("DateTime", ""))
    if vt == "UIDREF":
        return str(item.get("UID", ""))
    if vt in ("COMPOSITE", "WAVEFORM"):
        return default_image_text(*_image(item))
    return f"({vt.lower()})"


# =============================================================================================
# Fonts: a small TrueType reader and subsetter
# =============================================================================================


class _TrueType:
    """The parts of a TrueType font a PDF needs: character map, advances, metrics, glyphs."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.tables = table_directory(data)
        for required in ("head", "hhea", "hmtx", "maxp", "loca", "glyf", "cmap"):
            if required not in self.tables:
                raise ValueError(f"the font {name} lacks its {required!r} table")
        head = self.table("head")
        self.units_per_em = struct.unpack_from(">H", head, 18)[0]
        self.bbox = struct.unpack_from(">hhhh", head, 36)
        self.long_loca = struct.unpack_from(">h", head, 50)[0] == 1
        hhea = self.table("hhea")
        self.ascent, self.descent = struct.unpack_from(">hh", hhea, 4)
        self.num_hmetrics = struct.unpack_from(">H", hhea, 34)[0]
        self.num_glyphs = struct.unpack_from(">H", self.table("maxp"), 4)[0]
        self.cap_height = self.ascent
        if "OS/2" in self.tables:
            os2 = self.table("OS/2")
            if struct.unpack_from(">H", os2, 0)[0] >= 2 and len(os2) >= 90:
                self.cap_height = struct.unpack_from(">h", os2, 88)[0]
        self.italic_angle = 0.0
        if "post" in self.tables:
            self.italic_angle = struct.unpack_from(">i", self.table("post"), 4)[0] / 65536.0
        self._hmtx = self.table("hmtx")
        self.cmap = unicode_cmap(self.table("cmap"), name)
        loca = self.table("loca")
        n = self.num_glyphs + 1
        if self.long_loca:
            self.loca = list(struct.unpack_from(f">{n}I", loca, 0))
        else:
            self.loca = [v * 2 for v in struct.unpack_from(f">{n}H", loca, 0)]

    def table(self, tag: str) -> bytes:
        offset, length = self.tables[tag]
        return self.data[offset : offset + length]

    def advance(self, gid: int) -> int:
        i = min(gid, self.num_hmetrics - 1)
        return int(struct.unpack_from(">H", self._hmtx, 4 * i)[0])

    def _glyph(self, gid: int) -> bytes:
        glyf_offset = self.tables["glyf"][0]
        return self.data[glyf_offset + self.loca[gid] : glyf_offset + self.loca[gid + 1]]

    def _components(self, glyph: bytes) -> list[int]:
        """Glyph ids a composite glyph is built from (OpenType 'glyf', composite glyphs)."""
        if len(glyph) < 10 or struct.unpack_from(">h", glyph, 0)[0] >= 0:
            return []
        out: list[int] = []
        pos = 10
        while pos + 4 <= len(glyph):
            flags, gid = struct.unpack_from(">HH", glyph, pos)
            out.append(gid)
            pos += 4 + (4 if flags & 0x0001 else 2)
            if flags & 0x0008:
                pos += 2
            elif flags & 0x0040:
                pos += 4
            elif flags & 0x0080:
                pos += 8
            if not flags & 0x0020:
                break
        return out

    def subset(self, used: Iterable[int]) -> bytes:
        """The font with every glyph not in ``used`` (or its components) emptied; glyph ids
        stay as they are, so Identity CID-to-glyph mapping still holds (PDF 32000-1 9.7.4.2)."""
        keep = {0}
        todo = [g for g in used if 0 <= g < self.num_glyphs]
        while todo:
            gid = todo.pop()
            if gid in keep:
                continue
            keep.add(gid)
            todo.extend(c for c in self._components(self._glyph(gid)) if c < self.num_glyphs)
        keep |= {0}
        glyf = bytearray()
        loca = [0]
        for gid in range(self.num_glyphs):
            if gid in keep:
                g = self._glyph(gid)
                glyf += g + b"\0" * (-len(g) % 4)
            loca.append(len(glyf))
        head = bytearray(self.table("head"))
        head[8:12] = b"\0\0\0\0"  # checkSumAdjustment, set below
        struct.pack_into(">h", head, 50, 1)  # long loca
        tables = {
            "head": bytes(head),
            "hhea": self.table("hhea"),
            "hmtx": self.table("hmtx"),
            "maxp": self.table("maxp"),
            "loca": struct.pack(f">{len(loca)}I", *loca),
            "glyf": bytes(glyf),
        }
        for optional in ("cvt ", "fpgm", "prep"):
            if optional in self.tables:
                tables[optional] = self.table(optional)
        font, offsets = _sfnt(tables)
        adjust = (0xB1B0AFBA - _checksum(font)) & 0xFFFFFFFF
        font[offsets["head"] + 8 : offsets["head"] + 12] = struct.pack(">I", adjust)
        return bytes(font)


def _checksum(data: bytes | bytearray) -> int:
    padded = bytes(data) + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _sfnt(tables: dict[str, bytes]) -> tuple[bytearray, dict[str, int]]:
    """An sfnt file of ``tables`` (OpenType "Organization of an OpenType font"), and where
    each table starts in it."""
    tags = sorted(tables)
    where: dict[str, int] = {}
    n = len(tags)
    power = 1 << (n.bit_length() - 1)
    out = bytearray(
        struct.pack(
            ">IHHHH", 0x00010000, n, power * 16, power.bit_length() - 1, n * 16 - power * 16
        )
    )
    offset = 12 + 16 * n
    body = bytearray()
    for tag in tags:
        data = tables[tag]
        out += struct.pack(">4sIII", tag.encode("latin-1"), _checksum(data), offset, len(data))
        where[tag] = offset
        padded = data + b"\0" * (-len(data) % 4)
        body += padded
        offset += len(padded)
    return out + body, where


@functools.lru_cache(maxsize=4)
def _load_font(path: str) -> _TrueType:
    return _TrueType(Path(path).read_bytes(), Path(path).stem)


def _find_font(name: str) -> Path | None:
    for folder in FONT_DIRS:
        p = folder / name
        if p.is_file():
            return p
    return None


# =============================================================================================
# Arabic shaping and bidirectional order (reduced UAX #9)
# =============================================================================================


@functools.lru_cache(maxsize=1)
def _arabic_tables() -> tuple[dict[int, dict[str, int]], dict[tuple[int, int], dict[str, int]]]:
    """Contextual forms of Arabic letters and lam-alef ligatures, read from the compatibility
    decompositions of the Arabic Presentation Forms-B block (U+FE70-U+FEFC)."""
    forms: dict[int, dict[str, int]] = {}
    ligatures: dict[tuple[int, int], dict[str, int]] = {}
    for cp in range(0xFE70, 0xFEFD):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) < 2 or not parts[0].startswith("<"):
            continue
        form = parts[0].strip("<>")
        bases = [int(p, 16) for p in parts[1:]]
        if len(bases) == 1:
            forms.setdefault(bases[0], {})[form] = cp
        elif len(bases) == 2:
            ligatures.setdefault((bases[0], bases[1]), {})[form] = cp
    return forms, ligatures


_TATWEEL = 0x0640
_LAM = 0x0644


def _joining(cp: int) -> str:
    """'D' dual-joining, 'R' right-joining, 'T' transparent, 'U' non-joining."""
    if cp == _TATWEEL:
        return "D"
    if unicodedata.category(chr(cp)) in ("Mn", "Me"):
        return "T"
    f = _arabic_tables()[0].get(cp)
    if not f:
        return "U"
    return "D" if ("initial" in f or "medial" in f) else ("R" if "final" in f else "U")


def shape_arabic(text: str) -> str:
    """Arabic letters replaced by their contextual presentation forms (isolated, initial,
    medial, final) and lam-alef pairs by their ligatures, in logical order."""
    if not any(0x0600 <= ord(c) <= 0x06FF for c in text):
        return text
    forms, ligatures = _arabic_tables()
    cps = [ord(c) for c in text]
    kinds = [_joining(c) for c in cps]

    def neighbour(i: int, step: int) -> int | None:
        j = i + step
        while 0 <= j < len(cps) and kinds[j] == "T":
            j += step
        return j if 0 <= j < len(cps) else None

    out: list[str] = []
    skip: set[int] = set()
    for i, cp in enumerate(cps):
        if i in skip:
            continue
        if kinds[i] not in ("D", "R") or cp == _TATWEEL:
            out.append(chr(cp))
            continue
        prev = neighbour(i, -1)
        joins_prev = prev is not None and kinds[prev] == "D"
        nxt = neighbour(i, 1)
        if cp == _LAM and nxt is not None and (cp, cps[nxt]) in ligatures:
            lig = ligatures[(cp, cps[nxt])]
            form = "final" if joins_prev and "final" in lig else "isolated"
            out.append(chr(lig.get(form, lig.get("isolated", cp))))
            out.extend(chr(cps[j]) for j in range(i + 1, nxt))  # marks between them
            skip.update(range(i + 1, nxt + 1))
            continue
        joins_next = kinds[i] == "D" and nxt is not None and kinds[nxt] in ("D", "R")
        form = (
            "medial"
            if joins_prev and joins_next
            else "final"
            if joins_prev
            else "initial"
            if joins_next
            else "isolated"
        )
        f = forms.get(cp, {})
        out.append(chr(f.get(form) or f.get("isolated") or cp))
    return "".join(out)


_MIRROR = {"(": ")", ")": "(", "[": "]", "]": "[", "{": "}", "}": "{", "<": ">", ">": "<"}


def _strong(ch: str) -> str:
    b = unicodedata.bidirectional(ch)
    if b == "L":
        return "L"
    if b in ("R", "AL"):
        return "R"
    if b in ("EN", "AN"):
        return "N#"
    return ""


def base_is_rtl(text: str) -> bool:
    """The paragraph direction (UAX #9 P2-P3): that of its first strong character."""
    for ch in text:
        s = _strong(ch)
        if s in ("L", "R"):
            return s == "R"
    return False


def visual_order(line: str, rtl: bool) -> str:
    """One line in left-to-right display order (UAX #9, reduced: W7 for numbers, N1-N2 for
    neutrals, I1-I2 levels, L2 reversal, L4 mirrored brackets)."""
    if rtl is False and not any(_strong(c) == "R" for c in line):
        return line
    base = 1 if rtl else 0
    types: list[str] = []
    last_strong = "R" if rtl else "L"
    for ch in line:
        s = _strong(ch)
        if s in ("L", "R"):
            last_strong = s
            types.append(s)
        elif s == "N#":
            types.append("L" if last_strong == "L" else "EN")  # W7
        else:
            types.append("N")
    # N1-N2: a run of neutrals between two strong types of one direction takes it (numbers
    # count as R there); otherwise the paragraph direction.
    resolved = list(types)
    i = 0
    while i < len(types):
        if types[i] != "N":
            i += 1
            continue
        j = i
        while j < len(types) and types[j] == "N":
            j += 1
        before = "R" if rtl else "L"
        if i > 0:
            before = "R" if types[i - 1] in ("R", "EN") else "L"
        after = "R" if rtl else "L"
        if j < len(types):
            after = "R" if types[j] in ("R", "EN") else "L"
        fill = before if before == after else ("R" if rtl else "L")
        for k in range(i, j):
            resolved[k] = fill
        i = j
    levels = []
    for t in resolved:
        if base == 0:
            levels.append(0 if t == "L" else 1 if t == "R" else 2)
        else:
            levels.append(1 if t == "R" else 2)
    # Trailing whitespace goes back to the paragraph level (L1).
    k = len(line)
    while k > 0 and line[k - 1].isspace():
        k -= 1
        levels[k] = base
    chars = [(_MIRROR.get(c, c) if lv % 2 else c) for c, lv in zip(line, levels, strict=True)]
    top = max(levels, default=0)
    lowest_odd = min((lv for lv in levels if lv % 2), default=top + 1)
    for level in range(top, lowest_odd - 1, -1):
        i = 0
        while i < len(chars):
            if levels[i] >= level:
                j = i
                while j < len(chars) and levels[j] >= level:
                    j += 1
                chars[i:j] = chars[i:j][::-1]
                levels[i:j] = levels[i:j][::-1]
                i = j
            else:
                i += 1
    return "".join(chars)


# =============================================================================================
# Layout and the PDF file
# =============================================================================================

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 56.0, 60.0, 64.0


@dataclass(frozen=True, slots=True)
class _Style:
    size: float
    bold: bool = False
    grey: bool = False
    before: float = 0.0
    after: float = 2.0
    leading: float = 1.32


_STYLES = {
    BlockKind.TITLE: _Style(17.0, bold=True, after=8.0),
    BlockKind.META: _Style(9.0, grey=True, after=1.5),
    BlockKind.PARAGRAPH: _Style(10.5, after=4.0),
    BlockKind.ITEM: _Style(10.5, after=2.0),
    BlockKind.IMAGE: _Style(9.0, grey=True, after=2.0),
}
_HEADING_1 = _Style(12.5, bold=True, before=10.0, after=3.0)
_HEADING_2 = _Style(11.0, bold=True, before=6.0, after=2.0)
_INDENT = 14.0


class _Font:
    """A font as the layout uses it: glyphs and widths; embedded (TrueType) or standard."""

    def __init__(self, resource: str, ttf: _TrueType | None, standard: str) -> None:
        self.resource = resource
        self.ttf = ttf
        self.standard = standard
        self.used: dict[int, str] = {}  # glyph id -> the character it shows (ToUnicode)

    def encode(self, text: str) -> bytes:
        """The string operand of ``Tj`` for ``text`` (already shaped and in visual order)."""
        if self.ttf is None:
            return text.encode("cp1252", errors="replace")
        out = bytearray()
        for ch in text:
            gid = self.ttf.cmap.get(ord(ch), 0)
            self.used.setdefault(gid, ch)
            out += struct.pack(">H", gid)
        return bytes(out)

    def width(self, text: str, size: float) -> float:
        if self.ttf is None:
            return sum(_standard_width(c, self.standard) for c in text) * size / 1000.0
        t = self.ttf
        return sum(t.advance(t.cmap.get(ord(c), 0)) for c in text) * size / t.units_per_em


def _standard_width(ch: str, font: str) -> float:
    """A conservative width (1/1000 em) for Helvetica when DejaVu is missing: wrapping only."""
    bold = 30 if "Bold" in font else 0
    if ch in " .,;:'!|ijl":
        return 278 + bold
    if ch in "mwMW@":
        return 889 + bold
    return (722 if ch.isupper() else 556) + bold


@dataclass(slots=True)
class _Line:
    font: _Font
    style: _Style
    text: str  # visual order, shaped
    x: float
    y: float


def _wrap(text: str, font: _Font, size: float, width: float) -> list[str]:
    """Greedy line breaking at spaces (a word longer than a line is cut)."""
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ")
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if font.width(trial, size) <= width:
                current = trial
                continue
            if current:
                lines.append(current)
            while font.width(word, size) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and font.width(word[:cut], size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


def _fonts() -> tuple[_Font, _Font, _Font | None]:
    """The regular and bold fonts, and the fallback for what they cannot show (None: none)."""
    fallback = None
    if FALLBACK_FONT.is_file():
        try:
            fallback = _Font("F3", _load_font(str(FALLBACK_FONT)), "WenQuanYiMicroHei")
        except (OSError, ValueError, struct.error) as exc:
            log.warning("fallback font unusable: %s", exc)
    regular = _find_font(REGULAR_FONT)
    if regular is None:
        return _Font("F1", None, "Helvetica"), _Font("F2", None, "Helvetica-Bold"), fallback
    bold = _find_font(BOLD_FONT) or regular
    return (
        _Font("F1", _load_font(str(regular)), "DejaVuSans"),
        _Font("F2", _load_font(str(bold)), "DejaVuSans-Bold"),
        fallback,
    )


def _font_for(text: str, font: _Font, fallback: _Font | None) -> _Font:
    """``font``, or ``fallback`` where only it has a glyph for every character of ``text``
    (a Japanese or Korean patient name showed as empty boxes)."""
    if fallback is None or text.isascii():
        return font
    fonts = [f for f in (font, fallback) if f.ttf is not None]
    if not fonts:
        return font
    index, missing = best_cover(text, [f.ttf.cmap for f in fonts if f.ttf is not None])
    return font if missing else fonts[index]


def _layout(
    blocks: Sequence[Block], regular: _Font, bold: _Font, fallback: _Font | None = None
) -> list[list[_Line | float]]:
    """Pages of positioned lines (and rules, as their y)."""
    pages: list[list[_Line | float]] = [[]]
    y = PAGE_H - MARGIN_TOP
    text_w = PAGE_W - 2 * MARGIN_X
    first = True
    for block in blocks:
        if block.kind is BlockKind.RULE:
            y -= 8.0
            if y < MARGIN_BOTTOM + 40:
                pages.append([])
                y = PAGE_H - MARGIN_TOP
            else:
                pages[-1].append(y)
                y -= 10.0
            continue
        if block.kind is BlockKind.HEADING:
            style = _HEADING_1 if block.level <= 1 else _HEADING_2
        else:
            style = _STYLES[block.kind]
        font = _font_for(block.text, bold if style.bold else regular, fallback)
        indent = _INDENT * max(block.level - 1, 0) if block.kind is not BlockKind.HEADING else 0
        if block.kind is BlockKind.HEADING and block.level > 2:
            indent = _INDENT * (block.level - 2)
        bullet = "• " if block.kind is BlockKind.ITEM else ""
        bullet_w = font.width(bullet, style.size)
        width = text_w - indent - bullet_w
        # Each line of the text is a paragraph of its own for direction (UAX #9 P1).
        lines: list[tuple[str, bool]] = []
        for para in shape_arabic(block.text).split("\n"):
            rtl = base_is_rtl(para)
            lines.extend((text, rtl) for text in _wrap(para, font, style.size, width))
        line_h = style.size * style.leading
        if not first:
            y -= style.before
        # Keep a heading with the first line that follows it.
        need = line_h * len(lines) if block.kind is not BlockKind.HEADING else line_h + 16.0
        if y - min(need, line_h * 3) < MARGIN_BOTTOM and pages[-1]:
            pages.append([])
            y = PAGE_H - MARGIN_TOP
        for n, (text, rtl) in enumerate(lines):
            if y - line_h < MARGIN_BOTTOM:
                pages.append([])
                y = PAGE_H - MARGIN_TOP
            y -= line_h
            visual = visual_order(text, rtl)
            w = font.width(visual, style.size)
            lead = bullet if n == 0 else ""
            if rtl:
                x = PAGE_W - MARGIN_X - indent - bullet_w - w
                if lead:
                    pages[-1].append(
                        _Line(font, style, lead.strip(), PAGE_W - MARGIN_X - indent - bullet_w, y)
                    )
            else:
                x = MARGIN_X + indent + bullet_w
                if lead:
                    pages[-1].append(_Line(font, style, lead.strip(), MARGIN_X + indent, y))
            pages[-1].append(_Line(font, style, visual, x, y))
        y -= style.after
        first = False
    return pages


def _pdf_text(value: str) -> bytes:
    """A PDF text string (PDF 32000-1 7.9.2.2): UTF-16BE with a byte order mark, in hex."""
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode() + b">"


def _pdf_date(value: str) -> str:
    """A DT-like 'YYYYMMDDHHMMSS+HHMM' as a PDF date 'D:YYYYMMDDHHmmSS+HH'mm''."""
    digits = "".join(c for c in value[:14] if c.isdigit()).ljust(14, "0")
    tz = value[14:]
    zone = f"{tz[0]}{tz[1:3]}'{tz[3:5]}'" if len(tz) >= 5 and tz[0] in "+-" else ""
    return f"D:{digits}{zone}"


class _Writer:
    def __init__(self) -> None:
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def put(self, num: int, body: bytes) -> int:
        self.objects[num - 1] = body
        return num

    def add(self, body: bytes) -> int:
        return self.put(self.reserve(), body)

    def stream(self, data: bytes, extra: bytes = b"", compress: bool = True) -> int:
        if compress:
            data = zlib.compress(data, 9)
            extra += b" /Filter /FlateDecode"
        head = b"<< /Length %d%s >>\nstream\n" % (len(data), extra)
        return self.add(head + data + b"\nendstream")

    def finish(self, root: int, info: int, file_id: bytes) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objects, start=1):
            assert body is not None
            offsets.append(len(out))
            out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        hexid = file_id.hex().upper().encode()
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\n" % (
            len(self.objects) + 1,
            root,
            info,
            hexid,
            hexid,
        )
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)


def _font_objects(w: _Writer, font: _Font) -> int:
    """The font resource: a standard Type1 font, or an embedded TrueType subset (Type0)."""
    if font.ttf is None:
        return w.add(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
            % font.standard.encode()
        )
    t = font.ttf
    used = sorted(font.used) or [0]
    tag = "".join(chr(ord("A") + b % 26) for b in hashlib.sha256(repr(used).encode()).digest()[:6])
    name = f"{tag}+{font.standard}".encode()
    data = t.subset(used)
    file_obj = w.stream(data, b" /Length1 %d" % len(data))

    def em(v: float) -> int:
        return round(v * 1000 / t.units_per_em)

    bbox = " ".join(str(em(v)) for v in t.bbox).encode()
    descriptor = w.add(
        b"<< /Type /FontDescriptor /FontName /%s /Flags 32 /FontBBox [%s] /ItalicAngle %d "
        b"/Ascent %d /Descent %d /CapHeight %d /StemV %d /FontFile2 %d 0 R >>"
        % (
            name,
            bbox,
            round(t.italic_angle),
            em(t.ascent),
            em(t.descent),
            em(t.cap_height),
            120 if "Bold" in font.standard else 80,
            file_obj,
        )
    )
    widths = b" ".join(b"%d [%d]" % (g, em(t.advance(g))) for g in used)
    cid = w.add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo << /Registry "
        b"(Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor %d 0 R /DW %d "
        b"/W [%s] /CIDToGIDMap /Identity >>" % (name, descriptor, em(t.advance(0)), widths)
    )
    to_unicode = w.stream(_to_unicode(font.used))
    return w.add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (name, cid, to_unicode)
    )


def _to_unicode(used: dict[int, str]) -> bytes:
    """A ToUnicode CMap (PDF 32000-1 9.10.3) from glyph ids to the characters they show."""
    pairs = sorted((g, ch) for g, ch in used.items() if g)
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        for gid, ch in chunk:
            lines.append(f"<{gid:04X}> <{ch.encode('utf-16-be').hex().upper()}>")
        lines.append("endbfchar")
    lines += [
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines).encode("ascii")


def render_pdf(
    blocks: Sequence[Block],
    *,
    title: str = "Diagnostic imaging report",
    footer: str = "",
    created: str = "",
) -> bytes:
    """The blocks as a PDF document (PDF 1.7, A4). ``created`` is a DT value for the
    document's dates; the output depends only on the arguments, so it is reproducible."""
    regular, bold, fallback = _fonts()
    pages = _layout(blocks, regular, bold, fallback)
    w = _Writer()
    catalog = w.reserve()
    pages_obj = w.reserve()
    contents: list[int] = []
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        ops = bytearray()
        for element in page:
            if isinstance(element, float):
                ops += b"0.6 G 0.7 w %.2f %.2f m %.2f %.2f l S\n" % (
                    MARGIN_X,
                    element,
                    PAGE_W - MARGIN_X,
                    element,
                )
                continue
            if not element.text:
                continue
            grey = b"0.33 g" if element.style.grey else b"0 g"
            data = element.font.encode(element.text)
            ops += b"BT %s /%s %.2f Tf 1 0 0 1 %.2f %.2f Tm <%s> Tj ET\n" % (
                grey,
                element.font.resource.encode(),
                element.style.size,
                element.x,
                element.y,
                data.hex().upper().encode(),
            )
        foot = f"{footer}   page {number} of {total}".strip()
        foot_font = _font_for(foot, regular, fallback)
        data = foot_font.encode(foot)
        fw = foot_font.width(foot, 8.0)
        ops += b"BT 0.45 g /%s 8 Tf 1 0 0 1 %.2f %.2f Tm <%s> Tj ET\n" % (
            foot_font.resource.encode(),
            PAGE_W - MARGIN_X - fw,
            MARGIN_BOTTOM / 2,
            data.hex().upper().encode(),
        )
        contents.append(w.stream(bytes(ops)))
    used = [regular, bold] + ([fallback] if fallback is not None and fallback.used else [])
    resources = b" ".join(
        b"/%s %d 0 R" % (font.resource.encode(), _font_objects(w, font)) for font in used
    )
    page_objs = []
    for content in contents:
        page_objs.append(
            w.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /Font "
                b"<< %s >> >> /Contents %d 0 R >>" % (pages_obj, PAGE_W, PAGE_H, resources, content)
            )
        )
    kids = b" ".join(b"%d 0 R" % p for p in page_objs)
    w.put(pages_obj, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_objs)))
    w.put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj)
    info = b"<< /Title %s /Producer %s" % (
        _pdf_text(title),
        _pdf_text(f"workstation {__version__}"),
    )
    if created:
        date = _pdf_date(created).encode()
        info += b" /CreationDate (%s) /ModDate (%s)" % (date, date)
    info_obj = w.add(info + b" >>")
    digest = hashlib.md5(  # a file identifier (PDF 32000-1 14.4), not a security hash
        b"".join(o or b"" for o in w.objects), usedforsecurity=False
    ).digest()
    return w.finish(catalog, info_obj, digest)


# =============================================================================================
# Encapsulated PDF Storage (PS3.3 A.45.1)
# =============================================================================================

_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)


def pdf_instance_uid(source_sop_instance_uid: str) -> str:
    """The Encapsulated PDF's SOP Instance UID, derived from its source SR's (PS3.5 9.1)."""
    return str(generate_uid(entropy_srcs=["workstation-pdf", "instance", source_sop_instance_uid]))


def pdf_series_uid(study_instance_uid: str) -> str:
    """The workstation's PDF series of a study (one modality per series: DOC)."""
    return str(generate_uid(entropy_srcs=["workstation-pdf", "series", study_instance_uid]))


def encapsulated_pdf(
    pdf: bytes,
    source: Dataset,
    *,
    title: str = "",
    instance_number: int | None = None,
) -> Dataset:
    """``pdf`` as an Encapsulated PDF instance of the source SR's patient and study (PS3.3
    A.45.1: Encapsulated Document Series C.24.1, SC Equipment C.8.6.1, Encapsulated Document
    C.24.2), referring to the SR in the Source Instance Sequence."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("encapsulated_pdf needs a PDF document")
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not source.get(keyword):
            raise InvalidDicomError(f"the source report lacks {keyword}")
    sop = pdf_instance_uid(str(source.SOPInstanceUID))
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    if source.get("SpecificCharacterSet"):
        ds.SpecificCharacterSet = source.SpecificCharacterSet
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop
    if source.get("TimezoneOffsetFromUTC"):
        ds.TimezoneOffsetFromUTC = source.TimezoneOffsetFromUTC
    for keyword in _PATIENT_STUDY:
        if keyword in source:
            setattr(ds, keyword, source[keyword].value)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        if keyword not in ds:
            setattr(ds, keyword, "")
    for keyword in ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID"):
        if keyword not in ds:
            setattr(ds, keyword, "")
    if "AccessionNumber" not in ds:
        ds.AccessionNumber = ""
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = pdf_series_uid(str(source.StudyInstanceUID))
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = "Diagnostic imaging report (PDF)"
    ds.Manufacturer = str(source.get("Manufacturer", "") or "Reading Workstation")
    ds.SoftwareVersions = __version__
    ds.ConversionType = "WSD"  # workstation (PS3.3 C.8.6.1.1)
    ds.InstanceNumber = instance_number or int(source.get("InstanceNumber", 1) or 1)
    ds.ContentDate = str(source.get("ContentDate", "") or "")
    ds.ContentTime = str(source.get("ContentTime", "") or "")
    ds.AcquisitionDateTime = ""
    ds.BurnedInAnnotation = "YES"  # the document shows the patient's name
    ds.DocumentTitle = title or _concept(source) or "Diagnostic imaging report"
    concept = Dataset()
    concept.CodeValue = codes.DIAGNOSTIC_IMAGING_REPORT.value
    concept.CodingSchemeDesignator = codes.DIAGNOSTIC_IMAGING_REPORT.scheme_designator
    concept.CodeMeaning = codes.DIAGNOSTIC_IMAGING_REPORT.meaning
    ds.ConceptNameCodeSequence = DicomSequence([concept])
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    ds.SourceInstanceSequence = DicomSequence([ref])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB values have even length; the length before padding is kept (PS3.3 C.24.2.1).
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    return ds


def report_blocks(
    reports: Sequence[Dataset], describe_image: ImageDescriber | None = None
) -> list[Block]:
    """The blocks of a report and the reports it follows (newest first), separated by rules."""
    blocks: list[Block] = []
    for n, ds in enumerate(reports):
        part = sr_blocks(ds, describe_image)
        if n:
            blocks.append(Block(BlockKind.RULE))
            part[0] = dataclasses.replace(part[0], kind=BlockKind.HEADING, level=1)
            part[0] = dataclasses.replace(part[0], text=f"Earlier report: {part[0].text}")
        blocks.extend(part)
    return blocks


def report_pdf(
    sr: Dataset,
    predecessors: Sequence[Dataset] = (),
    describe_image: ImageDescriber | None = None,
) -> bytes:
    """The PDF of a signed SR (and of the reports it amends, below it)."""
    blocks = report_blocks([sr, *predecessors], describe_image)
    patient = format_person_name(str(sr.get("PatientName", "") or ""))
    footer = " - ".join(p for p in (patient, str(sr.get("PatientID", "") or "")) if p)
    created = str(sr.get("ContentDate", "") or "") + str(sr.get("ContentTime", "") or "")[:6]
    created += str(sr.get("TimezoneOffsetFromUTC", "") or "")
    return render_pdf(blocks, title=_concept(sr) or "Report", footer=footer, created=created)


def report_pdf_dataset(
    sr: Dataset,
    predecessors: Sequence[Dataset] = (),
    describe_image: ImageDescriber | None = None,
) -> Dataset:
    """The Encapsulated PDF instance of a signed SR, ready to store, send or save."""
    return encapsulated_pdf(report_pdf(sr, predecessors, describe_image), sr)
