"""An image stack: the frames of a series in display order, with their pixel values on demand.

Single-frame native series of equal size are read into one array at once straight from the
files, at the offsets the index recorded (close to the raw I/O floor); everything else is
decoded per file with pydicom and cached.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workstation.archive.dicomio import parse_file
from workstation.archive.local import LocalArchive
from workstation.core.errors import DecodeError, NotFoundError
from workstation.core.geometry import slice_normal, sort_key_along_normal
from workstation.core.model import Instance, Series, Study
from workstation.viewer import pixels

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One displayable image: an instance and a frame number inside it (0-based)."""

    instance: Instance
    frame: int = 0


def order_instances(instances: list[Instance]) -> list[Instance]:
    """Display order: along the slice normal when the geometry allows, else instance number."""
    with_geo = [i for i in instances if i.image_position_patient and i.image_orientation_patient]
    if len(with_geo) == len(instances) and len(instances) > 1:
        normal = slice_normal(instances[0].image_orientation_patient)  # type: ignore[arg-type]
        same = all(
            i.image_orientation_patient == instances[0].image_orientation_patient for i in instances
        )
        if same:
            return sorted(
                instances,
                key=lambda i: (
                    sort_key_along_normal(i.image_position_patient, normal),  # type: ignore[arg-type]
                    i.instance_number or 0,
                ),
            )
    return sorted(instances, key=lambda i: (i.instance_number is None, i.instance_number or 0))


class ImageStack:
    """The frames of one series; pixel values in modality units (HU for CT)."""

    def __init__(self, root: Path, study: Study, series: Series, instances: list[Instance]) -> None:
        if not instances:
            raise NotFoundError("the series has no images in the local store")
        self.root = Path(root)
        self.study = study
        self.series = series
        self.instances = order_instances([i for i in instances if i.has_pixels])
        if not self.instances:
            raise DecodeError("the series holds no images (no pixel data)")
        self.frames = [
            Frame(inst, f) for inst in self.instances for f in range(inst.number_of_frames)
        ]
        # The volume with the frame list it was read for: a stack that grew since (progressive
        # retrieval) reads its frames one by one until the volume is read again.
        self._volume_of: tuple[np.ndarray, list[Frame]] | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._errors: dict[str, str] = {}

    @classmethod
    def open(cls, archive: LocalArchive, series_instance_uid: str) -> ImageStack:
        series = archive.one_series(series_instance_uid)
        study = archive.study(series.study_instance_uid)
        return cls(archive.root, study, series, archive.instances(series_instance_uid))

    @classmethod
    def from_file(cls, path: str | Path) -> ImageStack:
        """A stack of one file outside the store (its frames)."""
        parsed = parse_file(Path(path).resolve())
        return cls(Path("/"), parsed.study, parsed.series, [parsed.instance])

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def modality(self) -> str:
        return self.series.modality

    def is_color(self, index: int) -> bool:
        return pixels.is_color(self.frames[index].instance)

    @property
    def _volume(self) -> np.ndarray | None:
        """The volume read for the current frames, else None."""
        held = self._volume_of
        return held[0] if held is not None and held[1] is self.frames else None

    def load_volume(self) -> np.ndarray | None:
        """Read the whole series into one array if it is uniform native grey data."""
        frames, instances = self.frames, self.instances
        if self._volume is None and can_read_as_volume(instances):
            volume = read_volume(self.root, instances)
            with self._lock:
                if frames is not self.frames:
                    return None  # the stack grew meanwhile: this volume lacks slices
                self._volume_of = (volume, frames)  # one assignment: readers see all or none
                self._cache.clear()  # per-file copies are redundant now
        return self._volume

    def add_instances(self, instances: list[Instance]) -> int:
        """Take in instances that reached the store since (a progressive retrieval); returns how
        many are new. The display order is worked out again; a volume read before is dropped."""
        with self._lock:
            known = {i.sop_instance_uid for i in self.instances}
            new = [
                i
                for i in instances
                if i.has_pixels
                and i.sop_instance_uid not in known
                and i.series_instance_uid == self.series.series_instance_uid
            ]
            if not new:
                return 0
            ordered = order_instances(self.instances + new)
            frames = [Frame(inst, f) for inst in ordered for f in range(inst.number_of_frames)]
            self.instances = ordered
            self.frames = frames  # one assignment: values() sees the old or the new list
            self._volume_of = None
        return len(new)

    def index_of(self, sop_instance_uid: str, frame: int = 0) -> int | None:
        """The frame index of an instance's frame in display order, None if absent."""
        for k, f in enumerate(self.frames):
            if f.instance.sop_instance_uid == sop_instance_uid and f.frame == frame:
                return k
        return None

    def load_volume_in_background(self) -> threading.Thread | None:
        """Start reading the volume in a thread; frames are read file by file meanwhile.

        The first image goes up at once (one slice read), the rest of the series follows.
        A failure leaves the file-by-file path in place; the error shows when a frame fails.
        """
        if self._volume is not None or not can_read_as_volume(self.instances):
            return None

        def work() -> None:
            try:
                self.load_volume()
            except DecodeError as exc:
                log.info("volume read failed, frames are read one by one: %s", exc)

        t = threading.Thread(target=work, name="volume-read", daemon=True)
        t.start()
        return t

    def values(self, index: int) -> np.ndarray:
        """Modality values of frame ``index`` (grey: 2-D; colour: rows × columns × 3 uint8)."""
        frames = self.frames
        frame = frames[index]
        held = self._volume_of
        if held is not None and held[1] is frames:
            return held[0][index]
        inst = frame.instance
        if inst.sop_instance_uid in self._errors:
            raise DecodeError(self._errors[inst.sop_instance_uid])
        with self._lock:
            arr = self._cache.get(inst.sop_instance_uid)
            if arr is not None:
                self._cache.move_to_end(inst.sop_instance_uid)
        if arr is None:
            try:
                arr = self._decode(inst)
            except DecodeError as exc:
                self._errors[inst.sop_instance_uid] = str(exc)
                raise
            with self._lock:
                self._cache[inst.sop_instance_uid] = arr
                while len(self._cache) > 64:
                    self._cache.popitem(last=False)
        return arr[frame.frame]

    def _decode(self, inst: Instance) -> np.ndarray:
        path = self.root / inst.path
        if inst.number_of_frames == 1:
            native = pixels.read_native_frame(path, inst)
            if native is not None:
                return pixels.modality_lut(native, inst)[np.newaxis]
        arr = pixels.decode_frames(path, inst)
        if pixels.is_color(inst):
            return arr
        return pixels.modality_lut(arr, inst)

    def voi_choices(self, index: int) -> list[pixels.Voi]:
        """The VOI LUTs and windows the file offers for this frame, in the file's order."""
        frame = self.frames[index]
        inst = frame.instance
        header = pixels.known_header(inst.sop_instance_uid)
        if header is None and inst.has_voi_lut_sequence:
            header = pixels.pixel_header(self.root / inst.path)
        return pixels.voi_choices(inst, header, frame.frame)

    def default_window(self, index: int) -> pixels.Voi:
        """The file's first VOI, else the modality default (CT, PT), else an auto window."""
        choices = self.voi_choices(index)
        if choices:
            return choices[0]
        inst = self.frames[index].instance
        if self.modality in ("CT", "PT"):
            return pixels.default_window(inst, self.modality)
        try:
            return pixels.auto_window(self.values(index), inst.photometric_interpretation)
        except ValueError:
            return pixels.default_window(inst, self.modality, self.values(index))

    def display(
        self, index: int, window: pixels.Voi | None = None, *, invert: bool = False
    ) -> np.ndarray:
        """8-bit display image of a frame: grey (rows, cols) or RGB (rows, cols, 3).

        Colour frames ignore the window; grey frames without one use the default window.
        MONOCHROME1 and Presentation LUT Shape INVERSE are inverted once (C.11.6).
        """
        vals = self.values(index)
        inst = self.frames[index].instance
        if self.is_color(index):
            rgb = np.ascontiguousarray(vals.astype(np.uint8, copy=False))
            return 255 - rgb if invert else rgb
        if window is None:
            window = self.default_window(index)
        return pixels.to_display(
            vals,
            window,
            inst.photometric_interpretation,
            presentation_lut_shape=inst.presentation_lut_shape,
            invert=invert,
        )

    def pixel_spacing(self, index: int) -> tuple[float, float] | None:
        """(row, column) spacing in mm for display aspect: Pixel Spacing, else the detector's."""
        inst = self.frames[index].instance
        return inst.pixel_spacing or inst.imager_pixel_spacing


def can_read_as_volume(instances: list[Instance]) -> bool:
    if len(instances) < 2:
        return False
    first = instances[0]
    return all(
        i.number_of_frames == 1
        and i.pixel_data_offset is not None
        and i.photometric_interpretation in pixels.GREY
        and not i.has_modality_lut_sequence
        and i.samples_per_pixel == 1
        and i.bits_allocated == 16
        and i.rows == first.rows
        and i.columns == first.columns
        and i.pixel_representation == first.pixel_representation
        and i.bits_stored == first.bits_stored
        and i.transfer_syntax_uid == first.transfer_syntax_uid
        and i.rescale_slope == 1.0
        and float(i.rescale_intercept).is_integer()
        for i in instances
    )


def read_volume(root: Path, instances: list[Instance]) -> np.ndarray:
    """Read native 16-bit slices into one (slices, rows, columns) array of modality values.

    Each slice is read into a small buffer, masked to Bits Stored (PS3.5 8.1.1) and its
    integer Rescale Intercept added while the buffer is in cache. The result is int16 when the
    actual values fit (the usual CT case, whatever the encoding) and int32 otherwise.
    """
    first = instances[0]
    rows, cols = first.rows, first.columns
    raw_dtype = pixels._stored_dtype(first)
    out: np.ndarray = np.empty((len(instances), rows, cols), dtype=np.int16)
    n_bytes = rows * cols * 2
    scratch = np.empty((rows, cols), dtype=raw_dtype)
    view = memoryview(scratch).cast("B")
    for k, inst in enumerate(instances):
        with open(root / inst.path, "rb", buffering=0) as fp:
            fp.seek(inst.pixel_data_offset)  # type: ignore[arg-type]
            got = fp.readinto(view)
        if got != n_bytes:
            raise DecodeError(f"image {k + 1} of the series is truncated in the local store")
        vals = pixels._mask_stored(scratch, inst)
        if vals.dtype.byteorder == ">":
            vals = vals.astype(vals.dtype.newbyteorder("="))
        intercept = int(inst.rescale_intercept)
        if out.dtype == np.int16:
            lo, hi = int(vals.min()), int(vals.max())
            if lo + intercept < -32768 or hi + intercept > 32767:
                out = out.astype(np.int32)  # rare: values really need more than 16 bits
            elif vals.dtype.kind == "i" or hi <= 32767:
                # Every value and every sum fits in int16: add in 16-bit arithmetic.
                np.add(vals.view(np.int16), np.int16(intercept), out=out[k])
                continue
        np.add(vals, np.int32(intercept), out=out[k], casting="unsafe")
    return out
