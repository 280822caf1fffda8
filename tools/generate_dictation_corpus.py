# ruff: noqa: E501  (sentence templates are data: one template a line reads best)
"""Generate the grown part of the dictation corpus (resources/dictation/corpus/*_more.txt).

Report sentences of the project's own writing, slot-filled with sizes, sides, levels and
severities from a fixed seed (the output is the same on every run). Sentences that share a
6-gram with the held-out test set, or lie within one word of a dev or test sentence, are
dropped, so the benchmark's test set stays unseen (tests/unit/test_dictation_split.py checks
it). Run it, then tools/build_language_model.py, when the templates or the eval sets change:

    .venv/bin/python tools/generate_dictation_corpus.py [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

from workstation.reporting.dictation.corpus import number_words, to_spoken

REPO = Path(__file__).resolve().parents[1]
R = random.Random(20261126)
OUT = REPO / "resources" / "dictation" / "corpus"
EVAL = REPO / "resources" / "dictation" / "eval"


def n(x: int) -> str:
    return number_words(x)


def dec(lo: float, hi: float) -> str:
    v = round(R.uniform(lo, hi), 1)
    w, f = divmod(round(v * 10), 10)
    return n(w) + ("" if f == 0 else " point " + n(f))


SIDE = ["right", "left"]
SIDE2 = ["right", "left", "bilateral"]
SEV = ["mild", "moderate", "severe"]
SEV2 = ["mild", "mild", "moderate", "severe", "minimal", "marked"]
SMALL = ["small", "tiny", "moderate", "large"]


def mm(lo: int = 2, hi: int = 30) -> str:
    return f"{n(R.randint(lo, hi))} millimeter"


def mms(lo: int = 2, hi: int = 30) -> str:
    return f"{n(R.randint(lo, hi))} millimeters"


def cm(lo: float = 1.0, hi: float = 9.0) -> str:
    return f"{dec(lo, hi)} centimeter"


def cms(lo: float = 1.0, hi: float = 9.0) -> str:
    return f"{dec(lo, hi)} centimeters"


def dims() -> str:
    return f"{dec(1, 8)} by {dec(1, 6)} centimeters"


def dims3() -> str:
    return f"{dec(1, 8)} by {dec(1, 6)} by {dec(1, 6)} centimeters"


def size_any() -> str:
    return R.choice([mms(), cms(), dims(), mms(3, 15)])


def size_adj() -> str:
    return R.choice([mm(), cm(), mm(3, 12)])


def pick(x: list[str]) -> str:
    return R.choice(x)


LOBES = [
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "left upper lobe",
    "left lower lobe",
    "lingula",
]
BRAIN = [
    "frontal lobe",
    "parietal lobe",
    "temporal lobe",
    "occipital lobe",
    "insula",
    "thalamus",
    "basal ganglia",
    "cerebellar hemisphere",
    "pons",
    "corona radiata",
    "centrum semiovale",
    "caudate nucleus",
    "internal capsule",
    "midbrain",
    "medulla",
    "periventricular white matter",
    "subcortical white matter",
    "cingulate gyrus",
    "precentral gyrus",
    "hippocampus",
    "splenium of the corpus callosum",
]
NEURO_LESION = [
    "hemorrhage",
    "infarct",
    "enhancing lesion",
    "ring enhancing lesion",
    "nonenhancing lesion",
    "area of gliosis",
    "cavernous malformation",
    "focus of encephalomalacia",
    "contusion",
    "metastasis",
    "area of edema",
    "focus of restricted diffusion",
    "microhemorrhage",
    "cystic lesion",
    "calcification",
]
VESSELS = [
    "internal carotid artery",
    "common carotid artery",
    "vertebral artery",
    "middle cerebral artery",
    "anterior cerebral artery",
    "posterior cerebral artery",
    "subclavian artery",
    "renal artery",
    "common iliac artery",
    "external iliac artery",
    "superficial femoral artery",
    "popliteal artery",
    "common femoral artery",
    "profunda femoris artery",
    "posterior tibial artery",
    "anterior tibial artery",
    "peroneal artery",
    "brachial artery",
]
VEINS = [
    "common femoral vein",
    "femoral vein",
    "popliteal vein",
    "posterior tibial veins",
    "peroneal veins",
    "great saphenous vein",
    "internal jugular vein",
    "subclavian vein",
    "axillary vein",
    "brachial veins",
    "cephalic vein",
    "basilic vein",
    "portal vein",
    "splenic vein",
    "superior mesenteric vein",
    "hepatic veins",
    "renal vein",
    "gonadal vein",
    "external iliac vein",
    "common iliac vein",
]
CSPINE = [f"c {n(i)} c {n(i + 1)}" for i in range(2, 7)] + ["c seven t one"]
TSPINE = [f"t {n(i)} t {n(i + 1)}" for i in range(1, 12)] + ["t twelve l one"]
LSPINE = [f"l {n(i)} l {n(i + 1)}" for i in range(1, 5)] + ["l five s one"]
LEVELS = CSPINE + TSPINE + LSPINE
BODIES = (
    [f"c {n(i)}" for i in range(1, 8)]
    + [f"t {n(i)}" for i in range(1, 13)]
    + [f"l {n(i)}" for i in range(1, 6)]
    + ["s one", "s two"]
)
LIVER_SEG = [f"segment {n(i)}" for i in range(1, 9)] + ["segment four a", "segment four b"]
BONES = [
    "distal radius",
    "ulnar styloid",
    "scaphoid",
    "fifth metatarsal base",
    "proximal humerus",
    "humeral shaft",
    "clavicle",
    "olecranon",
    "radial head",
    "femoral neck",
    "intertrochanteric femur",
    "femoral shaft",
    "distal femur",
    "patella",
    "tibial plateau",
    "tibial shaft",
    "fibular shaft",
    "medial malleolus",
    "lateral malleolus",
    "calcaneus",
    "talus",
    "first metacarpal",
    "fourth metacarpal",
    "proximal phalanx of the index finger",
    "middle phalanx of the ring finger",
    "distal phalanx of the thumb",
    "acetabulum",
    "inferior pubic ramus",
    "iliac wing",
    "sacral ala",
    "scapular body",
    "coracoid process",
    "greater tuberosity",
    "navicular",
    "cuboid",
    "second metatarsal shaft",
]
JOINTS = [
    "knee",
    "hip",
    "shoulder",
    "elbow",
    "wrist",
    "ankle",
    "acromioclavicular joint",
    "sacroiliac joint",
    "first carpometacarpal joint",
    "subtalar joint",
    "patellofemoral compartment",
    "medial compartment of the knee",
    "lateral compartment of the knee",
    "radiocarpal joint",
    "talonavicular joint",
]
TENDONS = [
    "supraspinatus tendon",
    "infraspinatus tendon",
    "subscapularis tendon",
    "long head of the biceps tendon",
    "distal biceps tendon",
    "common extensor tendon",
    "common flexor tendon",
    "achilles tendon",
    "posterior tibial tendon",
    "peroneus brevis tendon",
    "peroneus longus tendon",
    "quadriceps tendon",
    "patellar tendon",
    "gluteus medius tendon",
    "hamstring origin",
]
LIGAMENTS = [
    "anterior cruciate ligament",
    "posterior cruciate ligament",
    "medial collateral ligament",
    "lateral collateral ligament",
    "anterior talofibular ligament",
    "calcaneofibular ligament",
    "scapholunate ligament",
    "ulnar collateral ligament",
    "deltoid ligament",
]
ABD_ORGANS = [
    "liver",
    "spleen",
    "pancreas",
    "right kidney",
    "left kidney",
    "right adrenal gland",
    "left adrenal gland",
    "gallbladder",
    "urinary bladder",
    "prostate",
    "uterus",
    "right ovary",
    "left ovary",
    "stomach",
    "duodenum",
]
BOWEL = [
    "cecum",
    "ascending colon",
    "transverse colon",
    "descending colon",
    "sigmoid colon",
    "rectum",
    "terminal ileum",
    "jejunum",
    "proximal small bowel",
    "distal small bowel",
    "hepatic flexure",
    "splenic flexure",
    "duodenum",
    "gastric antrum",
]
NODES = [
    "paratracheal",
    "subcarinal",
    "hilar",
    "axillary",
    "supraclavicular",
    "prevascular",
    "aortopulmonary window",
    "paraesophageal",
    "retroperitoneal",
    "para aortic",
    "mesenteric",
    "portocaval",
    "external iliac",
    "internal iliac",
    "inguinal",
    "retrocrural",
    "periportal",
    "cervical level two",
    "cervical level three",
]
TUBES = [
    "endotracheal tube",
    "nasogastric tube",
    "orogastric tube",
    "right internal jugular central venous catheter",
    "left subclavian central venous catheter",
    "right sided peripherally inserted central catheter",
    "left sided peripherally inserted central catheter",
    "enteric feeding tube",
    "right chest tube",
    "left chest tube",
    "tracheostomy tube",
    "pacemaker lead",
    "dialysis catheter",
]
TIP_POS = [
    "in the mid superior vena cava",
    "at the cavoatrial junction",
    "in the right atrium",
    "in the lower superior vena cava",
    "in the left brachiocephalic vein",
    "in the stomach",
    "in the gastric body",
    "in the proximal duodenum",
    "three centimeters above the carina",
    "five centimeters above the carina",
    "at the level of the clavicular heads",
    "over the right ventricle",
    "at the left lung apex",
    "in the distal esophagus",
]
TIME_AGO = [
    "yesterday",
    "last week",
    "two days ago",
    "three days ago",
    "last month",
    "six months ago",
    "one year ago",
    "two years ago",
    "eighteen months ago",
    "three months ago",
    "earlier today",
    "in january",
    "in june",
    "in october",
]
MODS = [
    "ct",
    "mri",
    "radiograph",
    "ultrasound",
    "ct angiogram",
    "pet ct",
    "mr angiogram",
    "chest radiograph",
    "ct of the abdomen and pelvis",
    "mri of the brain",
    "ct of the chest",
    "ct of the head",
    "mri of the lumbar spine",
    "nuclear medicine bone scan",
]


def neuro() -> str:
    s, sev = pick(SIDE), pick(SEV2)
    return pick(
        [
            f"there is a {size_adj()} {pick(NEURO_LESION)} in the {s} {pick(BRAIN)}",
            f"a {size_adj()} {pick(NEURO_LESION)} is seen in the {s} {pick(BRAIN)}",
            f"the {pick(NEURO_LESION)} in the {s} {pick(BRAIN)} measures {size_any()}",
            f"there is {sev} vasogenic edema surrounding the {s} {pick(BRAIN)} lesion",
            f"there is a {s} {pick(['frontal', 'parietal', 'temporal', 'frontoparietal', 'convexity', 'holohemispheric'])} subdural hematoma measuring {mms(2, 25)} in thickness",
            f"there is {mms(1, 12)} of {s} to {'left' if s == 'right' else 'right'} midline shift",
            f"{pick(['acute', 'subacute', 'chronic', 'old'])} infarct in the {s} {pick(['middle', 'anterior', 'posterior'])} cerebral artery territory",
            f"there is {sev} {pick(['periventricular', 'subcortical', 'deep', 'confluent periventricular'])} white matter t two hyperintensity",
            f"the {s} {pick(['maxillary', 'frontal', 'sphenoid', 'ethmoid'])} sinus shows {sev} mucosal thickening",
            f"the {s} mastoid air cells are {pick(['clear', 'partially opacified', 'completely opacified', 'underpneumatized'])}",
            f"there is {pick(['no', 'mild', 'moderate'])} {pick(['global', 'generalized', 'frontal predominant', 'parietal predominant'])} volume loss",
            f"the ventricles are {pick(['normal in size', 'mildly enlarged', 'moderately enlarged', 'stable in size', 'slightly larger than before', 'decompressed'])}",
            f"there is {pick(['no', 'a small amount of', 'a moderate amount of', 'trace'])} {pick(['intraventricular', 'subarachnoid', 'subdural', 'epidural'])} hemorrhage",
            f"the {s} {pick(['internal carotid', 'middle cerebral', 'vertebral', 'posterior cerebral'])} artery is {pick(['occluded', 'patent', 'narrowed', 'hypoplastic', 'irregular'])}",
            f"there is a {mm(2, 12)} aneurysm of the {pick(['anterior communicating artery', f'{s} posterior communicating artery', f'{s} middle cerebral artery bifurcation', 'basilar tip', f'{s} ophthalmic artery'])}",
            f"the {pick(['pituitary gland', 'pineal gland', 'optic chiasm', 'cavernous sinus', 'internal auditory canal', 'cerebellopontine angle'])} is {pick(['normal', 'unremarkable', 'normal in size', 'symmetric'])}",
            f"there is a {size_adj()} {pick(['extra axial', 'dural based', 'intraventricular', 'intra axial'])} mass {pick(['along the', 'in the', 'adjacent to the'])} {s} {pick(['frontal convexity', 'tentorium', 'sphenoid wing', 'lateral ventricle', 'parietal convexity', 'cerebellopontine angle'])}",
            f"there is a {pick(['nondisplaced', 'minimally displaced', 'depressed', 'comminuted'])} fracture of the {s} {pick(['parietal bone', 'temporal bone', 'frontal bone', 'occipital bone', 'orbital floor', 'zygomatic arch', 'nasal bone', 'maxillary sinus wall'])}",
            f"there is {pick(['no', 'mild', 'moderate'])} {s} {pick(['scalp', 'frontal scalp', 'parietal scalp', 'periorbital'])} soft tissue swelling",
            f"the {pick(['hemorrhage', 'infarct', 'edema', 'mass effect', 'subdural collection', 'enhancing lesion'])} is {pick(['unchanged', 'slightly smaller', 'slightly larger', 'new', 'decreased', 'increased', 'stable'])} since the {pick(MODS)} from {pick(TIME_AGO)}",
            f"perfusion imaging shows a {pick(['small', 'large', 'moderate'])} {pick(['core', 'penumbra', 'mismatch'])} in the {s} {pick(['middle', 'posterior'])} cerebral artery territory",
            f"there is {pick(['no', 'a small'])} {pick(['hyperdense vessel sign', 'dense middle cerebral artery sign', 'loss of the insular ribbon'])} on the {s}",
            f"the {s} {pick(['hippocampus', 'globus pallidus', 'thalamus', 'putamen'])} {pick(['is atrophic', 'shows increased signal', 'is normal', 'is symmetric to the other side'])}",
            f"the aspects score is {n(R.randint(5, 10))}",
        ]
    )


def chest() -> str:
    s, lobe, sev = pick(SIDE), pick(LOBES), pick(SEV2)
    return pick(
        [
            f"there is a {size_adj()} {pick(['solid', 'part solid', 'ground glass', 'calcified', 'noncalcified', 'spiculated', 'perifissural', 'subpleural'])} nodule in the {lobe}",
            f"a {size_adj()} {pick(['solid', 'ground glass', 'part solid', 'cavitary'])} nodule is present in the {lobe}",
            (
                lambda a, b: (
                    f"the {lobe} nodule measures {mms(a, a)} {'up from' if a > b else 'down from' if a < b else 'unchanged from'} {mms(b, b)}"
                )
            )(R.randint(3, 25), R.randint(3, 25)),
            f"the {lobe} nodule now measures {mms(3, 25)}",
            f"the {lobe} mass measures {dims()}",
            f"there is a {cm(1.5, 8)} mass in the {lobe} {pick(['abutting the pleura', 'invading the mediastinum', 'with central necrosis', 'encasing the bronchus', 'with spiculated margins'])}",
            f"there is {pick(['consolidation', 'patchy consolidation', 'airspace opacity', 'ground glass opacity', 'atelectasis', 'subsegmental atelectasis', 'bronchiectasis', 'tree in bud nodularity'])} in the {lobe}",
            f"there is a {pick(SMALL)} {pick(SIDE)} pleural effusion {pick(['', 'with adjacent atelectasis', 'which is unchanged', 'which has increased', 'which has decreased', 'with enhancing pleura'])}".strip(),
            f"there is a {pick(SMALL)} {s} {pick(['apical', 'basilar', 'anterior', 'lateral'])} pneumothorax",
            f"the {s} pneumothorax {pick(['is unchanged', 'has decreased', 'has increased', 'has resolved', 'measures ' + mms(3, 30) + ' at the apex'])}",
            f"the {pick(TUBES)} terminates {pick(TIP_POS)}",
            f"the tip of the {pick(TUBES)} projects {pick(TIP_POS)}",
            f"there is a {mms(8, 35)} {pick(NODES[:8])} lymph node",
            f"a {pick(NODES[:8])} lymph node measures {mms(8, 30)} in short axis",
            f"{pick(['the heart is normal in size', 'the heart is mildly enlarged', 'there is cardiomegaly', 'the cardiomediastinal silhouette is normal', 'the cardiomediastinal silhouette is stable'])}",
            f"there is {sev} {pick(['coronary artery calcification', 'aortic valve calcification', 'mitral annular calcification', 'calcification of the aortic arch'])}",
            f"the {pick(['main pulmonary artery', 'ascending aorta', 'descending thoracic aorta', 'aortic root', 'aortic arch'])} measures {cms(2.0, 5.5)}",
            f"there are filling defects in the {pick(['segmental', 'subsegmental', 'lobar'])} arteries of the {lobe}",
            f"there is a {pick(['saddle', 'central', 'lobar', 'segmental'])} pulmonary embolism {pick(['with right heart strain', 'without right heart strain', 'extending into the ' + lobe])}",
            f"the right ventricle to left ventricle ratio is {dec(0.6, 1.8)}",
            f"there is {sev} {pick(['centrilobular', 'paraseptal', 'panlobular'])} emphysema {pick(['', 'with upper lobe predominance', 'in both upper lobes', 'in the lung apices'])}".strip(),
            f"there is {sev} {pick(['subpleural reticulation', 'traction bronchiectasis', 'honeycombing', 'interlobular septal thickening', 'mosaic attenuation'])} {pick(['at the lung bases', 'in the lower lobes', 'in both lungs', 'in the upper lobes'])}",
            f"there is a {pick(['healing', 'acute', 'old', 'nondisplaced', 'displaced'])} fracture of the {s} {pick(['third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'])} {pick(['rib', 'anterior rib', 'posterior rib', 'lateral rib'])}",
            f"there is a {size_adj()} {pick(['hypodense', 'solid', 'cystic', 'calcified', 'spiculated'])} {pick(['nodule', 'mass'])} in the {s} {pick(['breast', 'thyroid lobe', 'axilla'])}",
            f"the {lobe} {pick(['opacity', 'consolidation', 'nodule', 'mass', 'atelectasis'])} is {pick(['new', 'unchanged', 'improved', 'resolved', 'slightly larger', 'smaller'])} compared with {pick(TIME_AGO)}",
            f"the {pick(['pulmonary nodule', 'lung mass', 'lymph node', 'pleural thickening'])} has a maximum standardized uptake value of {dec(1.0, 18.0)}",
            f"there is a {pick(SMALL)} pericardial effusion",
            f"{pick(['the', 'a'])} {s} {pick(['hilar', 'paratracheal'])} mass measures {dims()}",
        ]
    )


def abdomen() -> str:
    s, org, sev = pick(SIDE), pick(ABD_ORGANS), pick(SEV2)
    return pick(
        [
            f"there is a {size_adj()} {pick(['hypodense', 'hyperdense', 'enhancing', 'arterially enhancing', 'hypoenhancing', 'cystic', 'solid', 'fat containing'])} lesion in {pick(LIVER_SEG)} of the liver",
            f"a {size_adj()} {pick(['hypodense', 'hyperenhancing', 'cystic', 'solid'])} lesion in hepatic {pick(LIVER_SEG)} {pick(['is too small to characterize', 'likely represents a cyst', 'likely represents a hemangioma', 'is indeterminate', 'washes out on delayed images', 'is new'])}",
            f"the {pick(LIVER_SEG)} lesion measures {size_any()}",
            f"there is a {size_adj()} {pick(['stone', 'nonobstructing stone', 'calculus', 'obstructing stone'])} in the {pick(['upper pole', 'lower pole', 'interpolar region', 'renal pelvis'])} of the {s} kidney",
            f"there is a {mm(2, 12)} stone in the {pick(['proximal', 'mid', 'distal'])} {s} ureter {pick(['with mild hydronephrosis', 'with moderate hydronephrosis', 'without hydronephrosis', 'at the ureterovesical junction'])}",
            f"there is {sev} {s} hydronephrosis {pick(['and hydroureter', '', 'with perinephric stranding'])}".strip(),
            f"there is a {cm(1, 9)} {pick(['simple cyst', 'complex cyst', 'enhancing mass', 'exophytic mass', 'angiomyolipoma'])} in the {s} kidney",
            f"the {s} adrenal {pick(['nodule', 'mass'])} measures {mms(8, 45)} with an attenuation of {n(R.randint(-10, 45) % 60)} hounsfield units",
            f"the {org} is {pick(['normal', 'unremarkable', 'normal in size', 'enlarged', 'atrophic', 'not well seen', 'surgically absent', 'heterogeneous'])}",
            f"the {pick(['liver', 'spleen'])} measures {cms(10, 22)} in {pick(['craniocaudal', 'length', 'span'])}",
            f"there is {sev} {pick(['wall thickening', 'mural thickening', 'mucosal hyperenhancement', 'pericolonic stranding', 'dilatation'])} of the {pick(BOWEL)}",
            f"the {pick(['small bowel', 'colon', 'stomach'])} is {pick(['dilated to', 'distended up to'])} {cms(3, 9)}",
            f"there is a {pick(['transition point', 'closed loop obstruction', 'high grade obstruction', 'partial obstruction'])} in the {pick(['right lower quadrant', 'left lower quadrant', 'mid abdomen', 'pelvis', 'left upper quadrant'])}",
            f"the appendix measures {mms(4, 16)} {pick(['with periappendiceal stranding', 'and is fluid filled', 'with an appendicolith', 'without inflammation'])}",
            f"there is a {pick(['small', 'moderate', 'large', 'trace'])} amount of {pick(['free fluid', 'ascites', 'hemoperitoneum', 'free air'])} in the {pick(['pelvis', 'right paracolic gutter', 'left paracolic gutter', 'morison pouch', 'upper abdomen', 'perihepatic space'])}",
            f"the {pick(['common bile duct', 'pancreatic duct', 'common hepatic duct'])} measures {mms(2, 15)}",
            f"there is a {size_adj()} {pick(['hypodense', 'cystic', 'hypoenhancing', 'solid'])} lesion in the pancreatic {pick(['head', 'neck', 'body', 'tail', 'uncinate process'])}",
            f"there is a {mms(8, 30)} {pick(NODES[8:17])} lymph node",
            f"the {pick(['uterus', 'prostate'])} measures {dims3()}",
            f"the {s} ovary contains a {cm(1, 8)} {pick(['simple cyst', 'hemorrhagic cyst', 'dermoid', 'complex cystic lesion', 'follicle'])}",
            f"there is a {pick(['small', 'moderate', 'large'])} {pick(['fat containing', 'bowel containing', 'nonobstructing'])} {pick(['ventral', 'umbilical', f'{s} inguinal', 'incisional', 'paraumbilical'])} hernia",
            f"the gallbladder {pick(['contains multiple stones', 'wall measures ' + mms(2, 9), 'is contracted', 'is distended', 'contains sludge', 'is surgically absent'])}",
            f"there is {pick(['no', 'mild', 'moderate'])} {pick(['peripancreatic fat stranding', 'pericholecystic fluid', 'perinephric stranding', 'mesenteric edema', 'retroperitoneal hemorrhage'])}",
            f"the {org} lesion is {pick(['unchanged', 'new', 'smaller', 'larger', 'stable'])} compared with the {pick(MODS)} from {pick(TIME_AGO)}",
            f"the bladder {pick(['is decompressed', 'is well distended', 'wall is thickened', 'contains a foley catheter', 'is unremarkable'])}",
            f"the {pick(['liver', 'spleen'])} shows a {pick(['grade one', 'grade two', 'grade three', 'grade four'])} laceration",
        ]
    )


def msk() -> str:
    s, bone, sev = pick(SIDE), pick(BONES), pick(SEV2)
    return pick(
        [
            f"there is a {pick(['nondisplaced', 'minimally displaced', 'displaced', 'comminuted', 'impacted', 'angulated', 'transverse', 'oblique', 'spiral', 'avulsion'])} fracture of the {s} {bone}",
            f"the {s} {bone} fracture {pick(['shows interval healing', 'is unchanged in alignment', 'has progressed', 'shows callus formation', 'is united', 'shows no healing'])}",
            f"there is {mms(1, 15)} of {pick(['displacement', 'dorsal angulation', 'volar angulation', 'shortening', 'distraction'])} at the {bone} fracture",
            f"there is {sev} {pick(['osteoarthritis', 'joint space narrowing', 'degenerative change', 'chondrocalcinosis'])} of the {s} {pick(JOINTS)}",
            f"there is a {pick(['small', 'moderate', 'large'])} {s} {pick(['knee', 'hip', 'ankle', 'elbow', 'shoulder'])} joint effusion",
            f"there is a {pick(['full thickness', 'partial thickness', 'high grade partial', 'low grade partial', 'interstitial'])} tear of the {s} {pick(TENDONS)}",
            f"the {s} {pick(TENDONS)} is {pick(['intact', 'thickened', 'torn', 'retracted ' + mms(5, 40), 'tendinotic'])}",
            f"there is a {pick(['complete', 'partial', 'high grade partial', 'chronic'])} tear of the {s} {pick(LIGAMENTS)}",
            f"the {pick(['medial', 'lateral'])} meniscus has a {pick(['radial', 'horizontal', 'vertical', 'complex', 'bucket handle', 'oblique'])} tear of the {pick(['posterior horn', 'anterior horn', 'body', 'root'])}",
            f"there is {pick(['bone marrow edema', 'a bone contusion', 'an osteochondral lesion', 'subchondral cyst formation'])} in the {s} {pick(['medial femoral condyle', 'lateral femoral condyle', 'lateral tibial plateau', 'medial tibial plateau', 'talar dome', 'humeral head', 'femoral head', 'patella'])}",
            f"there is a {cm(1, 8)} {pick(['lytic', 'sclerotic', 'mixed lytic and sclerotic', 'well circumscribed', 'expansile'])} lesion in the {s} {pick(['proximal femur', 'distal femur', 'proximal tibia', 'iliac bone', 'humeral head', 'calcaneus'])}",
            f"the {s} {pick(['hip', 'knee', 'shoulder'])} arthroplasty {pick(['is in anatomic alignment', 'shows no loosening', 'shows periprosthetic lucency', 'is intact without hardware complication'])}",
            f"there is a {dims()} {pick(['lipoma', 'soft tissue mass', 'fluid collection', 'hematoma', 'ganglion cyst'])} in the {s} {pick(['thigh', 'calf', 'forearm', 'upper arm', 'gluteal region', 'shoulder', 'wrist', 'popliteal fossa'])}",
            f"there is {sev} soft tissue swelling over the {s} {pick(['lateral malleolus', 'medial malleolus', 'dorsum of the hand', 'knee', 'elbow', 'wrist'])}",
            f"the {s} {pick(['shoulder', 'hip', 'elbow', 'knee', 'ankle'])} is {pick(['dislocated', 'located', 'reduced', 'subluxed'])}",
            f"there is {pick(['no', 'mild', 'moderate'])} {pick(['fatty atrophy', 'muscle edema', 'muscle strain'])} of the {s} {pick(['supraspinatus', 'infraspinatus', 'gastrocnemius', 'quadriceps', 'hamstring', 'gluteus medius'])} muscle",
            f"the {s} femoral neck bone mineral density has a t score of minus {dec(0.5, 3.9)}",
        ]
    )


def spine() -> str:
    lvl, sev, s = pick(LEVELS), pick(SEV2), pick(SIDE)
    low = pick(LSPINE + CSPINE)
    return pick(
        [
            f"at {low} there is a {pick(['disc bulge', 'broad based disc bulge', 'central disc protrusion', f'{s} paracentral disc protrusion', 'disc extrusion', f'{s} foraminal disc protrusion'])}",
            f"there is a {pick(['disc bulge', 'central protrusion', 'disc osteophyte complex', f'{s} paracentral protrusion', 'small extrusion'])} at {lvl}",
            f"{pick(['at', 'at the level of'])} {low} there is {sev} {pick(['central canal stenosis', f'{s} neural foraminal narrowing', 'bilateral neural foraminal narrowing', 'facet arthropathy', 'lateral recess narrowing'])}",
            f"there is {sev} {pick(['central canal stenosis', 'neural foraminal stenosis', f'{s} foraminal narrowing', 'bilateral foraminal narrowing', 'facet hypertrophy', 'ligamentum flavum thickening'])} at {lvl}",
            f"there is {pick(['mild', 'moderate', 'severe'])} loss of disc height at {lvl}",
            f"there is a {pick(['compression fracture', 'wedge compression deformity', 'burst fracture', 'chronic compression deformity', 'pathologic fracture', 'chance fracture'])} of {pick(BODIES)} with {pick(['less than', 'about', 'more than'])} {n(R.choice([10, 20, 25, 30, 40, 50, 60]))} percent height loss",
            f"there is grade {pick(['one', 'two'])} {pick(['anterolisthesis', 'retrolisthesis', 'spondylolisthesis'])} of {pick(BODIES[7:25])} on {pick(BODIES[8:27])}",
            f"the {pick(BODIES)} vertebral body {pick(['is normal in height', 'has a hemangioma', 'shows a schmorl node', 'demonstrates marrow edema', 'is mildly wedged'])}",
            f"the spinal cord {pick(['is normal in caliber and signal', 'shows a focus of t two hyperintensity at ' + pick(CSPINE + TSPINE), 'is compressed at ' + pick(CSPINE + TSPINE), 'is mildly flattened at ' + pick(CSPINE)])}",
            f"the conus {pick(['terminates at', 'ends at', 'lies at'])} {pick(['t twelve', 'l one', 't twelve l one', 'l one l two'])}",
            f"there are {pick(['small', 'moderate', 'bridging', 'marginal'])} osteophytes from {pick(BODIES)} to {pick(BODIES)}",
            f"the {pick(['anterior', 'posterior'])} fusion hardware from {pick(BODIES)} to {pick(BODIES)} is intact",
            f"there is {pick(['mild', 'moderate'])} {pick(['levoscoliosis', 'dextroscoliosis', 'kyphosis', 'loss of lordosis'])} of the {pick(['cervical', 'thoracic', 'lumbar', 'thoracolumbar'])} spine measuring {n(R.randint(5, 40))} degrees",
            f"the {s} {pick(['s one', 'l five', 'l four', 'c six', 'c seven', 'c five'])} nerve root is {pick(['compressed', 'contacted', 'displaced', 'impinged', 'thickened'])} {pick(['in the lateral recess', 'in the foramen', 'by the protrusion', 'at its exit'])}",
            f"the sagittal canal diameter at {lvl} measures {mms(5, 16)}",
        ]
    )


def vascular() -> str:
    s, v, _sev = pick(SIDE), pick(VESSELS), pick(SEV2)  # drawn to keep the seeded sequence
    return pick(
        [
            f"there is {pick(['no', 'mild', 'moderate', 'severe', 'less than fifty percent', 'fifty to sixty nine percent', 'seventy percent', 'greater than seventy percent', 'near complete'])} stenosis of the {s} {v}",
            f"the {s} {v} is {pick(['patent', 'occluded', 'aneurysmal', 'dissected', 'tortuous', 'diffusely diseased', 'mildly narrowed'])}",
            f"peak systolic velocity in the {s} {v} is {n(R.randint(40, 400))} centimeters per second",
            f"the {pick(['internal carotid to common carotid ratio', 'end diastolic velocity', 'resistive index'])} on the {s} is {dec(0.5, 4.9)}",
            f"the {pick(['infrarenal aorta', 'abdominal aorta', 'ascending aorta', 'descending thoracic aorta', s + ' common iliac artery'])} measures {cms(1.5, 7)} in maximal diameter",
            f"there is a {cm(2.5, 8)} {pick(['fusiform', 'saccular'])} aneurysm of the {pick(['infrarenal aorta', 'abdominal aorta', s + ' common iliac artery', s + ' popliteal artery', 'splenic artery'])}",
            f"there is {pick(['acute', 'chronic', 'occlusive', 'nonocclusive', 'partially occlusive'])} thrombus in the {s} {pick(VEINS)}",
            f"the {s} {pick(VEINS)} is {pick(['compressible', 'noncompressible', 'patent', 'thrombosed', 'dilated', 'normally compressible with normal flow'])}",
            f"there is {pick(['a type one', 'a type two', 'a type three', 'no'])} endoleak {pick(['', 'from a lumbar artery', 'from the inferior mesenteric artery', 'at the proximal landing zone'])}".strip(),
            f"there is a {pick(['stanford type a', 'stanford type b', 'focal', 'chronic'])} dissection {pick(['extending from the aortic root to the iliac arteries', 'of the descending thoracic aorta', 'involving the ' + v, 'beginning distal to the ' + s + ' subclavian artery'])}",
            f"there is {pick(['no', 'mild', 'moderate', 'extensive', 'heavy'])} {pick(['atherosclerotic calcification', 'mixed plaque', 'soft plaque', 'calcified plaque'])} of the {pick(['aorta', 'iliac arteries', s + ' ' + v, 'carotid bifurcations', 'coronary arteries'])}",
            f"the {s} {v} is occluded with reconstitution {pick(['at the adductor canal', 'below the knee', 'distally', 'via collaterals', 'at the level of the ankle'])}",
            f"there is {pick(['triphasic', 'biphasic', 'monophasic', 'dampened', 'absent'])} flow in the {s} {pick(VESSELS[11:])}",
            f"the ankle brachial index is {dec(0.3, 1.3)} on the {s}",
            f"the {pick(['transjugular intrahepatic portosystemic shunt', 'dialysis fistula', 'femoral popliteal bypass graft', 'stent'])} is {pick(['patent', 'occluded', 'narrowed at its venous end', 'widely patent'])} with velocities of {n(R.randint(50, 250))} centimeters per second",
            f"there is a {pick(['pseudoaneurysm', 'arteriovenous fistula', 'hematoma'])} {pick(['measuring', 'of'])} {cms(1, 6)} at the {s} {pick(['common femoral artery puncture site', 'groin', 'brachial artery access site'])}",
        ]
    )


def general() -> str:
    return pick(
        [
            f"comparison is made with the {pick(MODS)} from {pick(TIME_AGO)}",
            f"compared with the {pick(MODS)} of {pick(TIME_AGO)}",
            f"{pick(['these findings were', 'the findings were', 'this result was', 'the critical finding was'])} {pick(['discussed with', 'communicated to', 'called to'])} {pick(['doctor smith', 'the referring physician', 'the ordering provider', 'the emergency department physician', 'the surgical resident', 'the patient s nurse', 'doctor jones', 'the intensive care team'])} at {n(R.randint(1, 12))} {pick(['', 'fifteen', 'thirty', 'forty five', 'twenty'])} {pick(['a m', 'p m', ''])}".replace(
                "  ", " "
            ).strip(),
            f"recommend {pick(['follow up', 'repeat', 'short interval', 'dedicated'])} {pick(MODS)} in {pick(['three', 'six', 'twelve', 'eighteen', 'twenty four'])} {pick(['months', 'weeks'])}",
            f"recommend {pick(['correlation with', 'comparison with', 'further evaluation with'])} {pick(['prior imaging', 'clinical findings', 'laboratory values', 'tissue sampling', 'contrast enhanced mri', 'ultrasound', 'endoscopy'])}",
            f"{pick(['axial', 'thin section axial', 'helical'])} {pick(['ct', 'mri'])} images of the {pick(['head', 'chest', 'abdomen and pelvis', 'cervical spine', 'lumbar spine', 'neck', 'chest abdomen and pelvis'])} were obtained {pick(['without contrast', 'with intravenous contrast', 'before and after intravenous contrast', 'in the arterial and portal venous phases'])}",
            f"{pick(['coronal', 'sagittal', 'coronal and sagittal'])} reformats were {pick(['obtained', 'reviewed', 'generated'])}",
            f"{n(R.choice([50, 60, 75, 80, 90, 100, 110, 120]))} milliliters of {pick(['iohexol', 'iodinated contrast', 'omnipaque three hundred fifty', 'isovue three hundred seventy'])} {pick(['was given intravenously', 'was administered', 'was injected'])}",
            f"the dose length product was {n(R.randint(100, 1500))} milligray centimeters",
            f"the ctdi vol was {dec(2, 60)} milligray",
            f"{pick(['the study is limited by', 'evaluation is limited by', 'image quality is degraded by'])} {pick(['patient motion', 'streak artifact from hardware', 'respiratory motion', 'suboptimal contrast bolus', 'body habitus', 'beam hardening artifact', 'lack of intravenous contrast'])}",
            f"impression {pick(['no acute findings', 'no acute abnormality', 'findings as above', 'stable examination'])}",
            f"{pick(['series', 'image', 'series two image', 'series three image', 'series four image', 'series five image', 'series six image', 'series eight image', 'series six hundred one image'])} {n(R.randint(1, 300))}",
            f"clinical history {pick(['fever', 'weight loss', 'follow up lymphoma', 'known metastatic disease', 'post operative day two', 'hypoxia', 'leg swelling', 'syncope', 'dizziness', 'fall from standing', 'right upper quadrant pain', 'left lower quadrant pain', 'elevated liver enzymes', 'abnormal chest radiograph', 'neck pain after a motor vehicle collision'])}",
            f"{pick(['bi rads', 'li rads', 'ti rads', 'lung rads', 'pi rads', 'o rads'])} category {pick(['one', 'two', 'three', 'four', 'four a', 'four b', 'five'])}",
            f"the patient is {n(R.randint(18, 95))} years old",
        ]
    )


REGIONS = {
    "neuro_more": (neuro, 700),
    "chest_more": (chest, 750),
    "abdomen_more": (abdomen, 750),
    "msk_more": (msk, 550),
    "spine_more": (spine, 550),
    "vascular_more": (vascular, 550),
    "general_more": (general, 350),
}


def _lines(path: Path) -> list[str]:
    return [
        x.split("#", 1)[0].strip()
        for x in path.read_text().splitlines()
        if x.split("#", 1)[0].strip()
    ]


def grams(words: list[str], k: int = 6) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def within_one(a: list[str], b: list[str]) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if abs(len(a) - len(b)) != 1:
        return False
    lg, sh = (a, b) if len(a) > len(b) else (b, a)
    return any(lg[:i] + lg[i + 1 :] == sh for i in range(len(lg)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the *_more.txt files")
    out = ap.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    test = [to_spoken(x).split() for x in _lines(EVAL / "test.txt")]
    dev = [to_spoken(x).split() for x in _lines(EVAL / "dev.txt")]
    held = test + dev
    test_grams = set().union(*(grams(t) for t in test))
    existing = set()
    for p in OUT.glob("*.txt"):
        if not p.stem.endswith("_more"):
            existing.update(to_spoken(x) for x in _lines(p))
    dropped = 0
    for name, (fn, want) in REGIONS.items():
        got: dict[str, None] = {}
        tries = 0
        while len(got) < want and tries < want * 20:
            tries += 1
            sent = re.sub(r"\s+", " ", fn()).strip()
            spoken = to_spoken(sent)
            w = spoken.split()
            if spoken in got or spoken in existing:
                continue
            if grams(w) & test_grams or any(
                within_one(w, h) for h in held if abs(len(h) - len(w)) <= 1
            ):
                dropped += 1
                continue
            got[spoken] = None
        header = (
            f"# {name.split('_')[0].capitalize()}: more report sentences of the project's own"
            " writing (2026-11-26, issue #7), slot-filled with sizes, sides and levels.\n"
        )
        (out / f"{name}.txt").write_text(header + "\n".join(got) + "\n", encoding="utf-8")
        print(name, len(got))
    print("dropped for test/dev overlap:", dropped)


if __name__ == "__main__":
    main()
