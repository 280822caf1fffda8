"""The coded concepts the report writer uses, as data (PS3.16 context groups and templates).

Each code's value, scheme and meaning are those of PS3.16 (as pydicom's concept dictionary, built
from the standard, lists them); ``tests/unit/test_report_model.py`` checks every one against it.
"""

from __future__ import annotations

from workstation.core.report import Code

# --- TID 2000 root (CID 7000 Diagnostic Imaging Report Document Title) ---------------------------
DIAGNOSTIC_IMAGING_REPORT = Code("18748-4", "LN", "Diagnostic Imaging Report")

# --- CID 7001 Diagnostic Imaging Report Heading ---------------------------------------------------
ADDENDUM = Code("55107-7", "LN", "Addendum")
CLINICAL_INFORMATION = Code("55752-0", "LN", "Clinical Information")
COMMUNICATION_OF_CRITICAL_RESULTS = Code("73568-8", "LN", "Communication of Critical Results")
COMPLICATIONS = Code("55109-3", "LN", "Complications")
CONCLUSIONS = Code("55110-1", "LN", "Conclusions")
CURRENT_PROCEDURE_DESCRIPTIONS = Code("55111-9", "LN", "Current Procedure Descriptions")
FINDINGS = Code("59776-5", "LN", "Findings")
HISTORY = Code("11329-0", "LN", "History")
IMPRESSIONS = Code("19005-8", "LN", "Impressions")
INDICATIONS_FOR_PROCEDURE = Code("18785-6", "LN", "Indications for Procedure")
KEY_IMAGES = Code("55113-5", "LN", "Key Images")
MEDICATIONS_ADMINISTERED = Code("29549-3", "LN", "Medications Administered")
PATIENT_PRESENTATION = Code("55108-5", "LN", "Patient Presentation")
# LOINC 18834-2 is "Radiology Comparison study" in LOINC; in CID 7001 its meaning is this one.
PREVIOUS_FINDINGS = Code("18834-2", "LN", "Previous Findings")
PRIOR_PROCEDURE_DESCRIPTIONS = Code("55114-3", "LN", "Prior Procedure Descriptions")
RADIATION_EXPOSURE = Code("73569-6", "LN", "Radiation Exposure and Protection Information")
RECOMMENDATIONS = Code("18783-1", "LN", "Recommendations")
REQUEST = Code("55115-0", "LN", "Request")
SUMMARY = Code("55112-7", "LN", "Summary")

CID_7001_HEADINGS: tuple[Code, ...] = (
    ADDENDUM,
    CLINICAL_INFORMATION,
    COMMUNICATION_OF_CRITICAL_RESULTS,
    COMPLICATIONS,
    CONCLUSIONS,
    CURRENT_PROCEDURE_DESCRIPTIONS,
    FINDINGS,
    HISTORY,
    IMPRESSIONS,
    INDICATIONS_FOR_PROCEDURE,
    KEY_IMAGES,
    MEDICATIONS_ADMINISTERED,
    PATIENT_PRESENTATION,
    PREVIOUS_FINDINGS,
    PRIOR_PROCEDURE_DESCRIPTIONS,
    RADIATION_EXPOSURE,
    RECOMMENDATIONS,
    REQUEST,
    SUMMARY,
)

# --- CID 7002 Diagnostic Imaging Report Element ---------------------------------------------------
COMPLICATION_OF_PROCEDURE = Code("116224001", "SCT", "Complication of Procedure")
CONCLUSION = Code("121077", "DCM", "Conclusion")
FINDING = Code("121071", "DCM", "Finding")
HISTORY_ELEMENT = Code("11329-0", "LN", "History")
IMPRESSION = Code("121073", "DCM", "Impression")
PATIENT_PRESENTATION_ELEMENT = Code("55108-5", "LN", "Patient Presentation")
PREVIOUS_FINDING = Code("121069", "DCM", "Previous Finding")
PROCEDURE_DESCRIPTION = Code("121065", "DCM", "Procedure Description")
RECOMMENDATION = Code("121075", "DCM", "Recommendation")
REQUEST_ELEMENT = Code("55115-0", "LN", "Request")
SUMMARY_ELEMENT = Code("55112-7", "LN", "Summary")

CID_7002_ELEMENTS: tuple[Code, ...] = (
    COMPLICATION_OF_PROCEDURE,
    CONCLUSION,
    FINDING,
    HISTORY_ELEMENT,
    IMPRESSION,
    PATIENT_PRESENTATION_ELEMENT,
    PREVIOUS_FINDING,
    PROCEDURE_DESCRIPTION,
    RECOMMENDATION,
    REQUEST_ELEMENT,
    SUMMARY_ELEMENT,
)

# The CID 7002 concept of a section's narrative TEXT, by heading code value; FINDING otherwise.
NARRATIVE_ELEMENT_BY_HEADING: dict[str, Code] = {
    CONCLUSIONS.value: CONCLUSION,
    CURRENT_PROCEDURE_DESCRIPTIONS.value: PROCEDURE_DESCRIPTION,
    FINDINGS.value: FINDING,
    HISTORY.value: HISTORY_ELEMENT,
    IMPRESSIONS.value: IMPRESSION,
    PATIENT_PRESENTATION.value: PATIENT_PRESENTATION_ELEMENT,
    PREVIOUS_FINDINGS.value: PREVIOUS_FINDING,
    PRIOR_PROCEDURE_DESCRIPTIONS.value: PROCEDURE_DESCRIPTION,
    RECOMMENDATIONS.value: RECOMMENDATION,
    REQUEST.value: REQUEST_ELEMENT,
    SUMMARY.value: SUMMARY_ELEMENT,
    COMPLICATIONS.value: COMPLICATION_OF_PROCEDURE,
}


def narrative_element(heading: Code) -> Code:
    """The CID 7002 concept for the narrative text of a section under ``heading``."""
    return NARRATIVE_ELEMENT_BY_HEADING.get(heading.value, FINDING)


# --- CID 7003 Diagnostic Imaging Report Purpose of Reference --------------------------------------
BASELINE = Code("121079", "DCM", "Baseline")
BEST_ILLUSTRATION_OF_FINDING = Code("121080", "DCM", "Best illustration of finding")
ILLUSTRATION_OF_ROI = Code("121200", "DCM", "Illustration of ROI")
SOURCE_OF_MEASUREMENT = Code("121112", "DCM", "Source of Measurement")

# --- TID 1204 Language, TID 1002/1003 Observer Context --------------------------------------------
LANGUAGE_OF_CONTENT = Code("121049", "DCM", "Language of Content Item and Descendants")
OBSERVER_TYPE = Code("121005", "DCM", "Observer Type")
PERSON = Code("121006", "DCM", "Person")  # CID 270 Observer Type
PERSON_OBSERVER_NAME = Code("121008", "DCM", "Person Observer Name")
PERSON_OBSERVER_ORGANIZATION = Code("121009", "DCM", "Person Observer's Organization Name")
PERSON_OBSERVER_ROLE = Code("121010", "DCM", "Person Observer's Role in the Organization")

# --- CID 7452 Organizational Roles ----------------------------------------------------------------
ATTENDING = Code("405279007", "SCT", "Attending")
CONSULTANT = Code("309390008", "SCT", "Consultant")
PHYSICIAN = Code("309343006", "SCT", "Physician")
RESIDENT = Code("405277009", "SCT", "Resident")

# --- TID 1400 Linear Measurement / CID 7470, TID 1401-1404 ----------------------------------------
PATH = Code("121055", "DCM", "Path")  # the SCOORD a linear measurement is inferred from
AREA = Code("42798000", "SCT", "Area")
DIAMETER = Code("81827009", "SCT", "Diameter")
LENGTH = Code("410668003", "SCT", "Length")
MEAN = Code("373098007", "SCT", "Mean")
COMMENT = Code("121106", "DCM", "Comment")
VOLUME = Code("118565006", "SCT", "Volume")

# --- UCUM units (CID 7181 and others) -------------------------------------------------------------
MM = Code("mm", "UCUM", "mm")
CM = Code("cm", "UCUM", "cm")
MM2 = Code("mm2", "UCUM", "square millimeter")
CM3 = Code("cm3", "UCUM", "cubic centimeter")
HOUNSFIELD_UNIT = Code("[hnsf'U]", "UCUM", "Hounsfield unit")

# --- Example finding values (SNOMED CT) -----------------------------------------------------------
HEMATOMA = Code("35566002", "SCT", "Hematoma")

# --- CID 5000 Languages (RFC 5646 tags) -----------------------------------------------------------
LANGUAGE_SCHEME = "RFC5646"
# en-US as highdicom writes it; the others are ISO 639 English names, used where CID 5000 has
# no entry of its own here. An unknown tag is written with the tag as its meaning.
LANGUAGE_MEANINGS: dict[str, str] = {
    "en-US": "English (United States)",
    "en": "English",
    "ar": "Arabic",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}


def language_code(tag: str) -> Code:
    """The CID 5000 code of an RFC 5646 language tag."""
    return Code(tag, LANGUAGE_SCHEME, LANGUAGE_MEANINGS.get(tag, tag))


# --- Template identification (PS3.3 C.18.8.1.2 Content Template Sequence) ------------------------
DCMR = "DCMR"
DCMR_UID = "1.2.840.10008.8.1.1"
TID_2000 = "2000"
