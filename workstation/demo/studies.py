"""The demo studies: five patients' worth of synthetic CT, MR and DX with exact known contents.

Conventions shared by the tomographic series (PS3.3 C.7.6.2.1.1, LPS millimetres):

- axial slices, Image Orientation (1, 0, 0, 0, 1, 0), so a column index grows towards the
  patient's left (+x) and a row index towards posterior (+y);
- Image Position is chosen so that pixel (columns / 2, rows / 2) lies exactly on x = y = 0 (the
  field of view is centred to within half a pixel);
- instance 1 is the most inferior slice and z grows by one slice spacing per instance.

The projection radiographs (DX) place their 2D phantom in a nominal detector plane through the
patient origin; pixel (850, 1000) lies at x = y = z = 0 and shapes are sized at the detector
(Imager Pixel Spacing, PS3.3 C.8.11.4).
"""

from __future__ import annotations

from workstation.demo.phantom import Box, Cylinder, Ellipsoid, EllipticCylinder, Sphere
from workstation.demo.spec import (
    CT_IMAGE_STORAGE,
    DX_IMAGE_STORAGE_FOR_PRESENTATION,
    MR_IMAGE_STORAGE,
    DemoPatient,
    DemoSeries,
    DemoStudy,
    Vec3,
    demo_uid,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
INSTITUTION = "Demo General Hospital"
REFERRING_PHYSICIAN = "Ref^Doctor"


def _axial_positions(
    rows: int, columns: int, spacing_mm: float, first_z_mm: float, step_mm: float, count: int
) -> tuple[Vec3, ...]:
    """Image Position of each axial slice, with pixel (columns/2, rows/2) on x = y = 0."""
    x0 = round(-(columns // 2) * spacing_mm, 6)
    y0 = round(-(rows // 2) * spacing_mm, 6)
    return tuple((x0, y0, round(first_z_mm + k * step_mm, 6)) for k in range(count))


# ---------------------------------------------------------------------------------------------
# Patients

JANE_DOE = DemoPatient(
    patient_name="Doe^Jane",
    patient_id="DEMO-0001",
    issuer_of_patient_id="DEMO-HOSP",
    patient_birth_date="19610312",
    patient_sex="F",
    specific_character_set="ISO_IR 100",
)
JOHN_SMITH = DemoPatient(
    patient_name="Smith^John",
    patient_id="DEMO-0002",
    issuer_of_patient_id="DEMO-HOSP",
    patient_birth_date="19550704",
    patient_sex="M",
    specific_character_set="ISO_IR 100",
)
LAYLA_HADDAD = DemoPatient(
    patient_name="حداد^ليلى",  # Arabic, ISO 8859-6 (PS3.3 C.12.1.1.2 "ISO_IR 127")
    patient_id="DEMO-0003",
    issuer_of_patient_id="DEMO-HOSP",
    patient_birth_date="19800101",
    patient_sex="F",
    specific_character_set="ISO_IR 127",
)
OMAR_AL_RASHID = DemoPatient(
    patient_name="Al-Rashid^Omar=الرشيد^عمر",  # alphabetic=ideographic groups, UTF-8
    patient_id="DEMO-0004",
    issuer_of_patient_id="DEMO-HOSP",
    patient_birth_date="19700515",
    patient_sex="M",
    specific_character_set="ISO_IR 192",
)

# ---------------------------------------------------------------------------------------------
# CT head: air, scalp, skull shell, brain, ventricle, haematoma (current only), left marker.

HEAD_HAEMATOMA_CENTER_LPS: Vec3 = (-36.0, -9.0, 20.0)  # right hemisphere: x < 0
HEAD_LEFT_MARKER_CENTER_LPS: Vec3 = (81.0, 0.0, 0.0)  # on the scalp, patient's left: x > 0

_HEAD_BASE = (
    Ellipsoid(center_lps=(0.0, 0.0, 0.0), radii_mm=(78.0, 98.0, 76.0), value=40.0),  # scalp
    Ellipsoid(center_lps=(0.0, 0.0, 0.0), radii_mm=(72.0, 92.0, 70.0), value=1000.0),  # skull
    Ellipsoid(center_lps=(0.0, 0.0, 0.0), radii_mm=(66.0, 86.0, 64.0), value=35.0),  # brain
    Ellipsoid(center_lps=(0.0, 0.0, 10.0), radii_mm=(10.0, 25.0, 12.0), value=5.0),  # CSF
)
_HEAD_HAEMATOMA = Sphere(center_lps=HEAD_HAEMATOMA_CENTER_LPS, radius_mm=8.0, value=70.0)
_HEAD_MARKER = Sphere(center_lps=HEAD_LEFT_MARKER_CENTER_LPS, radius_mm=4.0, value=2000.0)

CT_HEAD = DemoStudy(
    key="CT_HEAD",
    patient=JANE_DOE,
    study_instance_uid=demo_uid("study", "CT_HEAD"),
    accession_number="ACC-CTH-1",
    study_id="CTH1",
    study_date="20261120",
    study_time="083000",
    study_description="CT HEAD WITHOUT CONTRAST",
    institution_name=INSTITUTION,
    referring_physician_name=REFERRING_PHYSICIAN,
    series=(
        DemoSeries(
            key="CT_HEAD/1",
            series_instance_uid=demo_uid("series", "CT_HEAD/1"),
            frame_of_reference_uid=demo_uid("frame-of-reference", "CT_HEAD"),
            modality="CT",
            sop_class_uid=CT_IMAGE_STORAGE,
            series_description="Axial 1.0 mm",
            series_number=1,
            series_time="083100",
            body_part_examined="HEAD",
            rows=512,
            columns=512,
            pixel_spacing_mm=(0.45, 0.45),
            image_orientation_patient=AXIAL,
            # z = -75.0, -74.0, ..., +74.0
            image_position_patient=_axial_positions(512, 512, 0.45, -75.0, 1.0, 150),
            slice_thickness_mm=1.0,
            background_value=-1000.0,
            shapes=(*_HEAD_BASE, _HEAD_HAEMATOMA, _HEAD_MARKER),
            noise_sd=3.0,
            noise_seed=1001,
            bits_stored=16,
            pixel_representation=1,
            rescale_slope=1.0,
            rescale_intercept=-1024.0,
            rescale_type="HU",
            window_center=(40.0, 600.0),
            window_width=(80.0, 2800.0),
            window_explanation=("BRAIN", "BONE"),
            kvp=120.0,
        ),
    ),
)

CT_HEAD_PRIOR = DemoStudy(
    key="CT_HEAD_PRIOR",
    patient=JANE_DOE,
    study_instance_uid=demo_uid("study", "CT_HEAD_PRIOR"),
    accession_number="ACC-CTH-0",
    study_id="CTH0",
    study_date="20251101",
    study_time="141500",
    study_description="CT HEAD WITHOUT CONTRAST",
    institution_name=INSTITUTION,
    referring_physician_name=REFERRING_PHYSICIAN,
    series=(
        DemoSeries(
            key="CT_HEAD_PRIOR/1",
            series_instance_uid=demo_uid("series", "CT_HEAD_PRIOR/1"),
            frame_of_reference_uid=demo_uid("frame-of-reference", "CT_HEAD_PRIOR"),
            modality="CT",
            sop_class_uid=CT_IMAGE_STORAGE,
            series_description="Axial 5.0 mm",
            series_number=1,
            series_time="141600",
            body_part_examined="HEAD",
            rows=512,
            columns=512,
            pixel_spacing_mm=(0.45, 0.45),
            image_orientation_patient=AXIAL,
            # z = -72.5, -67.5, ..., +72.5: always 0.5 mm off the current study's 1 mm grid
            image_position_patient=_axial_positions(512, 512, 0.45, -72.5, 5.0, 30),
            slice_thickness_mm=5.0,
            background_value=-1000.0,
            shapes=(*_HEAD_BASE, _HEAD_MARKER),
            noise_sd=3.0,
            noise_seed=1002,
            bits_stored=16,
            pixel_representation=1,
            rescale_slope=1.0,
            rescale_intercept=-1024.0,
            rescale_type="HU",
            window_center=(40.0, 600.0),
            window_width=(80.0, 2800.0),
            window_explanation=("BRAIN", "BONE"),
            kvp=120.0,
        ),
    ),
)

# ---------------------------------------------------------------------------------------------
# CT chest-abdomen-pelvis: 12-bit unsigned storage, the other common CT encoding.

CHEST_LIVER_LESION_CENTER_LPS: Vec3 = (-70.0, 0.0, -60.0)
CHEST_LUNG_NODULE_CENTER_LPS: Vec3 = (85.0, -20.0, 81.0)
CHEST_AIR_POCKET_CENTER_LPS: Vec3 = (60.0, -40.0, -150.0)
CHEST_LEFT_MARKER_CENTER_LPS: Vec3 = (170.0, 0.0, 0.0)

CT_CHEST_ABDOMEN = DemoStudy(
    key="CT_CHEST_ABDOMEN",
    patient=JOHN_SMITH,
    study_instance_uid=demo_uid("study", "CT_CHEST_ABDOMEN"),
    accession_number="ACC-CTC-1",
    study_id="CTC1",
    study_date="20261120",
    study_time="101500",
    study_description="CT CHEST ABDOMEN PELVIS WITH CONTRAST",
    institution_name=INSTITUTION,
    referring_physician_name=REFERRING_PHYSICIAN,
    series=(
        DemoSeries(
            key="CT_CHEST_ABDOMEN/1",
            series_instance_uid=demo_uid("series", "CT_CHEST_ABDOMEN/1"),
            frame_of_reference_uid=demo_uid("frame-of-reference", "CT_CHEST_ABDOMEN"),
            modality="CT",
            sop_class_uid=CT_IMAGE_STORAGE,
            series_description="Axial 1.5 mm",
            series_number=1,
            series_time="101600",
            body_part_examined="CHEST",
            rows=512,
            columns=512,
            pixel_spacing_mm=(0.7, 0.7),
            image_orientation_patient=AXIAL,
            # z = -300.0, -298.5, ..., +148.5
            image_position_patient=_axial_positions(512, 512, 0.7, -300.0, 1.5, 300),
            slice_thickness_mm=1.5,
            background_value=-1000.0,
            shapes=(
                EllipticCylinder((0.0, 0.0, -75.0), (170.0, 120.0), 240.0, "z", 40.0),  # body
                Ellipsoid((-85.0, 10.0, 60.0), (55.0, 80.0, 90.0), -850.0),  # right lung
                Ellipsoid((85.0, 10.0, 60.0), (55.0, 80.0, 90.0), -850.0),  # left lung
                Cylinder((0.0, 80.0, -75.0), 15.0, 240.0, "z", 700.0),  # spine
                Cylinder((15.0, 40.0, -60.0), 12.0, 200.0, "z", 200.0),  # aorta, contrast
                Ellipsoid((-70.0, 0.0, -60.0), (75.0, 70.0, 60.0), 60.0),  # liver
                Sphere(CHEST_LIVER_LESION_CENTER_LPS, 10.0, 120.0),  # liver lesion
                Sphere(CHEST_LUNG_NODULE_CENTER_LPS, 6.0, 30.0),  # left lung nodule
                Sphere(CHEST_AIR_POCKET_CENTER_LPS, 15.0, -1000.0),  # bowel gas, for MinIP
                Sphere(CHEST_LEFT_MARKER_CENTER_LPS, 4.0, 2000.0),  # skin marker, left
            ),
            noise_sd=5.0,
            noise_seed=2001,
            bits_stored=12,
            pixel_representation=0,
            rescale_slope=1.0,
            rescale_intercept=-1024.0,
            rescale_type="HU",
            window_center=(40.0,),
            window_width=(400.0,),
            window_explanation=("SOFT TISSUE",),
            kvp=120.0,
        ),
    ),
)

# ---------------------------------------------------------------------------------------------
# MR brain: arbitrary units, no Modality LUT, gap between 3 mm slices.

MR_LESION_CENTER_LPS: Vec3 = (30.0, -20.0, 15.0)

MR_BRAIN = DemoStudy(
    key="MR_BRAIN",
    patient=LAYLA_HADDAD,
    study_instance_uid=demo_uid("study", "MR_BRAIN"),
    accession_number="ACC-MRB-1",
    study_id="MRB1",
    study_date="20261119",
    study_time="160000",
    study_description="MR BRAIN WITHOUT CONTRAST",
    institution_name=INSTITUTION,
    referring_physician_name=REFERRING_PHYSICIAN,
    series=(
        DemoSeries(
            key="MR_BRAIN/1",
            series_instance_uid=demo_uid("series", "MR_BRAIN/1"),
            frame_of_reference_uid=demo_uid("frame-of-reference", "MR_BRAIN"),
            modality="MR",
            sop_class_uid=MR_IMAGE_STORAGE,
            series_description="Ax T1 SE",
            series_number=1,
            series_time="160500",
            body_part_examined="HEAD",
            rows=256,
            columns=256,
            pixel_spacing_mm=(0.9375, 0.9375),
            image_orientation_patient=AXIAL,
            # z = -64.35, -61.05, ..., +64.35 (3 mm thick, 3.3 mm apart)
            image_position_patient=_axial_positions(256, 256, 0.9375, -64.35, 3.3, 40),
            slice_thickness_mm=3.0,
            spacing_between_slices_mm=3.3,
            background_value=0.0,
            shapes=(
                Ellipsoid((0.0, 0.0, 0.0), (78.0, 98.0, 76.0), 300.0),  # scalp
                Ellipsoid((0.0, 0.0, 0.0), (72.0, 92.0, 70.0), 50.0),  # skull
                Ellipsoid((0.0, 0.0, 0.0), (67.0, 87.0, 65.0), 150.0),  # CSF
                Ellipsoid((0.0, 0.0, 0.0), (65.0, 85.0, 63.0), 500.0),  # grey matter
                Ellipsoid((0.0, 0.0, 0.0), (55.0, 75.0, 53.0), 700.0),  # white matter
                Ellipsoid((0.0, 0.0, 10.0), (10.0, 25.0, 12.0), 150.0),  # ventricle
                Sphere(MR_LESION_CENTER_LPS, 6.0, 1000.0),  # T1-bright lesion, left
            ),
            noise_sd=10.0,
            noise_seed=3001,
            bits_stored=16,
            pixel_representation=0,
            window_center=(500.0,),
            window_width=(1000.0,),
            image_type=("ORIGINAL", "PRIMARY", "OTHER"),
        ),
    ),
)

# ---------------------------------------------------------------------------------------------
# DX chest, two views. Values are stored pixel values (Rescale 1/0, type "US").

DX_ROWS, DX_COLUMNS, DX_SPACING_MM = 2000, 1700, 0.2
PA_COIN_CENTER_LPS: Vec3 = (60.0, 0.0, 80.0)
PA_COIN_RADIUS_MM = 12.5  # 25 mm diameter at the detector
LATERAL_COIN_CENTER_LPS: Vec3 = (0.0, -20.0, 80.0)
LATERAL_MAGNIFICATION = 1.1
LATERAL_COIN_RADIUS_MM = 13.75  # 27.5 mm at the detector, 25 mm once divided by 1.1

DX_CHEST = DemoStudy(
    key="DX_CHEST",
    patient=OMAR_AL_RASHID,
    study_instance_uid=demo_uid("study", "DX_CHEST"),
    accession_number="ACC-DXC-1",
    study_id="DXC1",
    study_date="20261121",
    study_time="091000",
    study_description="XR CHEST PA AND LATERAL",
    institution_name=INSTITUTION,
    referring_physician_name=REFERRING_PHYSICIAN,
    series=(
        DemoSeries(
            key="DX_CHEST/1",
            series_instance_uid=demo_uid("series", "DX_CHEST/1"),
            modality="DX",
            sop_class_uid=DX_IMAGE_STORAGE_FOR_PRESENTATION,
            series_description="Chest PA",
            series_number=1,
            series_time="091100",
            body_part_examined="CHEST",
            rows=DX_ROWS,
            columns=DX_COLUMNS,
            pixel_spacing_mm=(DX_SPACING_MM, DX_SPACING_MM),
            # Rows run to the patient's left, columns to the feet: the usual PA display.
            image_orientation_patient=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
            image_position_patient=((-170.0, 0.0, 200.0),),
            slice_thickness_mm=None,
            background_value=200.0,  # direct exposure, dark
            shapes=(
                EllipticCylinder((0.0, 0.0, 0.0), (155.0, 190.0), 50.0, "y", 2000.0),  # body
                EllipticCylinder((-70.0, 0.0, 40.0), (55.0, 120.0), 50.0, "y", 900.0),  # R lung
                EllipticCylinder((70.0, 0.0, 40.0), (55.0, 120.0), 50.0, "y", 900.0),  # L lung
                EllipticCylinder((15.0, 0.0, -20.0), (60.0, 70.0), 50.0, "y", 2400.0),  # heart
                Cylinder(PA_COIN_CENTER_LPS, PA_COIN_RADIUS_MM, 50.0, "y", 4000.0),  # coin
                Box((125.0, -50.0, 160.0), (140.0, 50.0, 175.0), 4000.0),  # "L" lead marker
            ),
            noise_sd=20.0,
            noise_seed=4001,
            bits_stored=12,
            pixel_representation=0,
            rescale_slope=1.0,
            rescale_intercept=0.0,
            rescale_type="US",
            window_center=(2000.0,),
            window_width=(4000.0,),
            photometric_interpretation="MONOCHROME2",
            image_type=("ORIGINAL", "PRIMARY"),
            patient_position=None,
            kvp=120.0,
            is_projection=True,
            view_position="PA",
            patient_orientation=("L", "F"),
            presentation_lut_shape="IDENTITY",
            pixel_intensity_relationship_sign=-1,
        ),
        DemoSeries(
            key="DX_CHEST/2",
            series_instance_uid=demo_uid("series", "DX_CHEST/2"),
            modality="DX",
            sop_class_uid=DX_IMAGE_STORAGE_FOR_PRESENTATION,
            series_description="Chest lateral",
            series_number=2,
            series_time="091300",
            body_part_examined="CHEST",
            rows=DX_ROWS,
            columns=DX_COLUMNS,
            pixel_spacing_mm=(DX_SPACING_MM, DX_SPACING_MM),
            # Rows run posterior, columns to the feet: patient facing the viewer's left.
            image_orientation_patient=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
            image_position_patient=((0.0, -170.0, 200.0),),
            slice_thickness_mm=None,
            background_value=3900.0,  # MONOCHROME1: high values display dark
            shapes=(
                EllipticCylinder((0.0, 0.0, 0.0), (120.0, 190.0), 50.0, "x", 2000.0),  # body
                EllipticCylinder((0.0, 10.0, 40.0), (90.0, 120.0), 50.0, "x", 3000.0),  # lungs
                EllipticCylinder((0.0, -40.0, -30.0), (60.0, 70.0), 50.0, "x", 1500.0),  # heart
                Box((-50.0, 70.0, -190.0), (50.0, 100.0, 190.0), 1000.0),  # spine
                Cylinder(LATERAL_COIN_CENTER_LPS, LATERAL_COIN_RADIUS_MM, 50.0, "x", 100.0),
            ),
            noise_sd=20.0,
            noise_seed=4002,
            bits_stored=12,
            pixel_representation=0,
            rescale_slope=1.0,
            rescale_intercept=0.0,
            rescale_type="US",
            window_center=(2000.0,),
            window_width=(4000.0,),
            photometric_interpretation="MONOCHROME1",
            image_type=("ORIGINAL", "PRIMARY"),
            patient_position=None,
            kvp=125.0,
            is_projection=True,
            view_position="LL",
            patient_orientation=("P", "F"),
            presentation_lut_shape="INVERSE",
            pixel_intensity_relationship_sign=1,
            estimated_radiographic_magnification_factor=LATERAL_MAGNIFICATION,
        ),
    ),
)

DEMO_STUDIES: tuple[DemoStudy, ...] = (CT_HEAD, CT_HEAD_PRIOR, CT_CHEST_ABDOMEN, MR_BRAIN, DX_CHEST)
