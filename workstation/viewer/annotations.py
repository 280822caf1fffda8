"""Corner annotation texts of a 2D viewport (what radiologists expect in each corner)."""

from __future__ import annotations

from workstation.core.model import age_at, format_da, format_person_name, format_tm
from workstation.viewer.pixels import LookupTable, Voi
from workstation.viewer.stack import ImageStack


def corner_texts(
    stack: ImageStack,
    index: int,
    window: Voi | None,
    zoom: float = 1.0,
    *,
    invert: bool = False,
) -> dict[str, str]:
    """Patient top left, study top right, series and image bottom left, window bottom right.

    Top left: name, Patient ID, birth date, age at the study and sex (PS3.3 C.7.1.1). Top
    right: institution, study description, study date and time (C.7.2.1). Bottom left: series
    number and description, position in the stack and Instance Number (C.7.6.1), Slice
    Location and Slice Thickness (C.7.6.2). Bottom right: window (with its name) and zoom.
    """
    study = stack.study
    patient = study.patient
    frame = stack.frames[index]
    inst = frame.instance
    series = stack.series
    age = age_at(patient.birth_date, study.study_date)
    top_left = [
        format_person_name(patient.patient_name),
        patient.patient_id,
        " ".join(p for p in (format_da(patient.birth_date), age, patient.sex) if p),
    ]
    top_right = [
        study.institution_name,
        study.study_description,
        " ".join(p for p in (format_da(study.study_date), format_tm(study.study_time)) if p),
    ]
    bottom_left = [
        f"Se {series.series_number}" if series.series_number is not None else "",
        series.series_description,
        f"Im {index + 1}/{len(stack)}",
    ]
    if inst.instance_number is not None and inst.instance_number != index + 1:
        bottom_left[-1] += f"  #{inst.instance_number}"
    if inst.number_of_frames > 1:
        bottom_left[-1] += f"  (frame {frame.frame + 1}/{inst.number_of_frames})"
    if inst.slice_location is not None:
        bottom_left.append(f"Loc {inst.slice_location:.1f} mm")
    if inst.slice_thickness:
        bottom_left.append(f"Thk {inst.slice_thickness:g} mm")
    bottom_right = []
    if window is not None and not stack.is_color(index):
        if isinstance(window, LookupTable):
            bottom_right.append(window.label())  # a VOI LUT has no centre and width
        else:
            name = f" {window.explanation}" if window.explanation else ""
            bottom_right.append(f"W {window.width:.0f} L {window.center:.0f}{name}")
    if invert:
        bottom_right.append("Inverted")
    bottom_right.append(f"Zoom {zoom * 100:.0f}%")
    return {
        "top_left": "\n".join(t for t in top_left if t),
        "top_right": "\n".join(t for t in top_right if t),
        "bottom_left": "\n".join(t for t in bottom_left if t),
        "bottom_right": "\n".join(bottom_right),
    }
