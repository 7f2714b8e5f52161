"""Is a figure caption about dermatology? A transparent vocabulary score, stored with every figure text.

PMC and PDF figures come from whole journals: "skin" appears in surgical steps ("a small skin incision",
"skin closure"), in plastic surgery ("skin graft donor site"), in animal and insect work ("mouse skin",
"wing skin") and in imaging ("distance from the skin to the apex"), while real dermatology captions name
conditions, morphology and skin histology. The scorer reuses the ontology vocabulary of the YouTube filter
(pipeline.vocab.relevance.ontology_vocabulary) and adds caption-specific words:

    score = 2 x distinct strong terms + 0.5 x distinct weak words
            - 2 x distinct look-alike negatives - 2 x distinct words naming another organ or modality
            (+ 0.5 x up to two strong terms of the citing paragraphs, when context is given)

Weak words (skin, lesion, ulcer, nodule, tumour...) count on their own, so two of them reach the default
threshold of 1.0 but one does not. The explanation lists every term that fired. Measured on 296 real,
hand-labelled ROCO (PMC) captions by `python -m bench.caption_relevance`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pipeline.vocab.relevance import DERM_WORDS, WEAK, _alternation, ontology_vocabulary

# Ontology concepts too generic in whole-journal captions ("tumor", "cyst", "plaque" in arteries and teeth).
GENERIC = frozenset({"patch", "tumor", "edema", "abscess", "cyst", "streaks", "induration", "nodule", "vesicle",
                     "bulla", "ulcer", "burn", "burns", "scar", "corn", "plaque", "mole", "moles", "burrow",
                     "lesion", "lesions", "blister", "blisters", "itch", "skin", "rosettes", "wheal", "purpura"})
CAPTION_STRONG = (
    "epidermis", "epidermal", "dermis", "dermal", "papillary dermis", "reticular dermis", "keratinocytes",
    "melanocytes", "melanocytic", "hyperkeratosis", "hyperkeratotic", "parakeratosis", "acanthosis",
    "spongiosis", "papillomatosis", "pruritic", "scaly", "excoriations",
    "hyperpigmented", "hyperpigmentation", "hypopigmented", "hypopigmentation", "depigmented", "pigmented lesion",
    "skin biopsy", "skin lesion", "skin lesions", "skin scrapings", "skin scraping", "cutaneous", "mucocutaneous",
    "dermoscopic", "dermatoscopic", "papular", "papules", "papulonodular", "macules", "plaques", "pustules",
    "vesicles", "bullae", "bruising", "ecchymoses", "eruption", "eruptions", "spider nevi",
    "dermatopathy", "alopecia", "skin test", "intradermal test", "skin rash", "skin ulcer", "skin necrosis",
    "necrotic skin", "tense skin", "verrucous", "crust", "crusted", "eschar", "skin thickening",
    "thickening of the skin",
)
CAPTION_WEAK = ("skin", "lesion", "lesions", "ulcer", "ulcers", "ulceration", "ulcerated", "nodule", "nodules",
                "tumor", "tumour", "mass", "cyst", "scar", "scarring", "wound", "pigmentation", "pigmented",
                "blister", "blisters", "bulla", "plaque", "swelling", "rash", "scalp", "nail", "nails", "itchy",
                "pigmentated", "erythema", "erythematous", "forearm", "trunk", "thigh", "shin")
# Look-alikes: surgery through the skin, grafts and flaps, lab animals and insects, microbiology, drawings.
CAPTION_NEGATIVES = (
    "skin incision", "incision", "incisions", "skin closure", "closure", "suture", "sutures", "sutured",
    "retractor", "retracted", "skin flap", "skin flaps", "flap", "flaps", "skin graft", "graft", "grafting",
    "donor site", "skin marker", "skin markers", "skin marking", "skin markings", "marking", "prepped", "draped",
    "percutaneous", "percutaneously", "transcutaneously", "port", "trocar", "catheter", "laparoscopic",
    "intraoperative", "intra-operative", "operative view", "electrode", "electrodes", "probe", "transducer",
    "wing", "wings", "feather", "feathers", "insect", "insects", "bird", "birds", "fish", "larva", "larvae",
    "cuticle", "mouse", "mice", "murine", "rat", "rats", "rabbit", "rabbits", "dog", "dogs", "canine", "cat",
    "cats", "feline", "pig", "pigs", "porcine", "bovine", "goat", "sheep", "ovine", "horse", "equine",
    "zebrafish", "frog", "chicken", "cattle", "squid", "colony", "colonies", "agar", "culture", "strain",
    "schematic", "diagram", "illustration", "chart", "graph", "mutants", "embryo", "embryonic", "forceps",
    "gel", "fibroblasts", "group", "pet", "b-scan", "a-scan",
)
OTHER_ORGAN = (
    "endoscopy", "endoscopic", "esophagus", "esophageal", "oesophageal", "gastric", "stomach", "duodenal",
    "colon", "colonic", "bladder", "vesical", "retina", "retinal", "cornea", "corneal", "iris", "conjunctiva",
    "conjunctival", "fundus", "slit-lamp", "slit lamp", "gonioscopy", "arthroscopic", "arthroscopy", "ct",
    "mri", "mr image", "radiograph", "x-ray", "ultrasound", "sonography", "tongue", "oral", "mucosa", "mucosal",
    "vocal", "larynx", "bronchus", "bronchoscopic", "lung", "liver", "brain", "cortex", "eye", "sclera",
    "uterine", "cardiac", "artery", "vein", "tendon", "cartilage", "bone", "spine", "teeth", "tooth", "dental",
    "keratic", "keratomileusis", "scan",
)


@dataclass(frozen=True)
class CaptionRelevance:
    score: float
    explanation: str
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    negatives: tuple[str, ...]


class CaptionRelevanceScorer:
    """The formula in the module docstring; abbreviations (BCC, SCC, AD) count as weak: they collide."""

    def __init__(self, terms: Iterable[str], abbreviations: Iterable[str] = ()) -> None:
        strong = [t for t in (*terms, *CAPTION_STRONG, *DERM_WORDS)
                  if t.lower() not in GENERIC and t.lower() not in WEAK]
        self.strong = re.compile(_alternation(strong), re.I)
        self.weak = re.compile(_alternation(CAPTION_WEAK), re.I)
        abbrs = [a for a in abbreviations if len(a) >= 3]
        self.abbr = re.compile(_alternation(abbrs)) if abbrs else None
        self.negative = re.compile(_alternation(CAPTION_NEGATIVES), re.I)
        self.organ = re.compile(_alternation(OTHER_ORGAN), re.I)

    @classmethod
    def default(cls) -> CaptionRelevanceScorer:
        return _default_caption_scorer()

    @staticmethod
    def _found(pattern: re.Pattern[str] | None, text: str, lower: bool = True) -> set[str]:
        if pattern is None:
            return set()
        return {m.group(0).lower() if lower else m.group(0) for m in pattern.finditer(text)}

    def score(self, caption: str | None, context: str | None = None) -> CaptionRelevance:
        text = caption or ""
        strong = self._found(self.strong, text)
        weak = (self._found(self.weak, text) | self._found(self.abbr, text, lower=False)) - strong
        neg, organ = self._found(self.negative, text), self._found(self.organ, text)
        ctx = self._found(self.strong, context) - strong if context else set()
        score = 2.0 * len(strong) + 0.5 * len(weak) - 2.0 * len(neg) - 2.0 * len(organ)
        score += 0.5 * min(2, len(ctx))
        parts = []
        for name, found in (("strong", strong), ("weak", weak), ("negative", neg), ("other organ", organ),
                            ("context", ctx)):
            if found:
                parts.append(f"{name}: " + ", ".join(sorted(found)))
        return CaptionRelevance(round(score, 2), "; ".join(parts) or "no dermatology term", tuple(sorted(strong)),
                                tuple(sorted(weak)), tuple(sorted(neg | organ)))


@lru_cache(maxsize=1)
def _default_caption_scorer() -> CaptionRelevanceScorer:
    terms, abbrs = ontology_vocabulary()
    return CaptionRelevanceScorer(terms, abbrs)
