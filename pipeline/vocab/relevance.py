"""Is a text about dermatology? One transparent vocabulary scorer with two presets: video metadata, captions.

Both presets count distinct matched terms from the same ontology vocabulary (condition names, synonyms and
lay terms; abbreviations matched case-sensitively and only as weak evidence, because "MAC", "SCC" and "AD"
collide with brands and acronyms) plus a few dermatology words, and subtract look-alikes. What differs is
where the look-alikes come from, so each preset keeps its own word lists and formula:

- `RelevanceScorer` (YouTube title, description, tags): a skin-word search drags in cosmetics, fashion
  ("skinny jeans"), game skins and hair styling. Score = 2 per strong term in the title, 1 per strong term
  only in the description or tags, 0.5 per weak word or abbreviation when a strong term is present too,
  minus 2 per negative. Measured by `python -m bench.youtube_relevance`.
- `CaptionRelevanceScorer` (PMC/PDF figure captions): whole journals use "skin" in surgery ("skin incision",
  "skin graft"), animal work ("mouse skin", "wing skin") and imaging landmarks, while dermatology captions
  name conditions, morphology and skin histology. Score = 2 per strong term + 0.5 per weak word (weak words
  count on their own: two reach the default threshold 1.0, one does not) - 2 per look-alike - 2 per word
  naming another organ or modality (+ 0.5 per strong term of the citing paragraphs, at most two).
  Measured on 296 hand-labelled ROCO captions by `python -m bench.caption_relevance`.

The score and an explanation listing every matched term are stored, so thresholds can be re-tuned from the
warehouse without refetching. One module, so the shared vocabulary and matcher have a single home.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

DERM_WORDS = (
    "dermatology", "dermatologist", "dermatologists", "dermatological", "dermatopathology", "dermoscopy",
    "dermatoscopy", "skin disease", "skin diseases", "skin condition", "skin conditions", "skin lesion",
    "skin lesions", "skin rash", "skin cancer", "skin infection", "skin infections", "rash", "rashes",
    "cutaneous", "mole", "moles", "itchy skin", "itching", "itch", "skin biopsy", "lesion", "lesions",
    "dry skin", "sensitive skin", "skin sensitivity", "blister", "blisters", "scar", "scars", "wart", "warts",
    "pimple", "pimples", "hyperpigmentation", "fungal infection", "fungal infections", "toenail fungus",
    "nail fungus", "cracked heels", "hives", "skin",
)
# Words that on their own are weak evidence: they count only alongside another dermatology term.
WEAK = frozenset({"skin", "lesion", "lesions", "scar", "scars", "itch", "mole", "moles", "blister",
                  "blisters"})
NEGATIVES = (
    "makeup", "make-up", "make up", "eyeshadow", "eye shadow", "lipstick", "lip gloss", "mascara",
    "eyeliner", "eyelashes", "lashes", "concealer", "foundation routine", "contour", "smokey eye",
    "skinny", "skinny jeans", "skinny tie", "nail art", "manicure", "pedicure", "hairstyle", "hair style",
    "braid", "braids", "curls", "blowout", "hair color", "hair colour", "balayage", "hair extensions",
    "minecraft", "fortnite", "game skin", "skin pack", "skins", "photoshop", "recipe", "tattoo design",
    "cosplay", "diy", "body scrub", "bath bomb", "face mask diy", "unboxing", "haul", "scuba",
)

# Captions. Ontology concepts too generic in whole-journal captions ("tumor", "cyst", "plaque" in arteries).
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


@lru_cache(maxsize=1)
def ontology_vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(surface forms, abbreviations) from the ontology, the positives of both presets."""
    from ontology import default_ontology

    onto = default_ontology()
    terms = [t.surface for t in onto.terms() if t.kind != "abbreviation"]
    abbrs = [t.surface for t in onto.terms() if t.kind == "abbreviation"]
    # morphology and dermoscopic words are dermatology-specific; colours, body sites and symptoms are not
    concepts = [c.name for c in onto.concepts_in("primary_morphology", "dermoscopic")]
    return (*terms, *concepts), tuple(abbrs)


class VocabularyScorer:
    """The shared core: term lists compiled to whole-word matchers (longest first, so "skin lesion" wins over
    "skin"; hyphens count as word characters, so "skin" never fires inside "skin-pack") and the distinct
    terms one of them finds in a text. Presets add the vocabulary and the formula."""

    @staticmethod
    def matcher(terms: Iterable[str], ignore_case: bool = True) -> re.Pattern[str] | None:
        uniq = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
        if not uniq:
            return None
        alternation = r"(?<![\w-])(?:" + "|".join(re.escape(t) for t in uniq) + r")(?![\w-])"
        return re.compile(alternation, re.I if ignore_case else 0)

    @staticmethod
    def found(pattern: re.Pattern[str] | None, text: str, lower: bool = True) -> set[str]:
        """Distinct matches, lower-cased unless the pattern is case-sensitive (abbreviations keep theirs)."""
        if pattern is None:
            return set()
        return {m.group(0).lower() if lower else m.group(0) for m in pattern.finditer(text)}


@dataclass(frozen=True)
class Relevance:
    score: float
    reason: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


class RelevanceScorer(VocabularyScorer):
    """Video metadata preset (formula in the module docstring); weak words count only next to a strong term."""

    def __init__(self, terms: Iterable[str], abbreviations: Iterable[str] = (),
                 negatives: Iterable[str] = NEGATIVES) -> None:
        self.strong = self.matcher([*terms, *(w for w in DERM_WORDS if w not in WEAK)])
        self.weak = self.matcher(WEAK)
        self.abbr = self.matcher([a for a in abbreviations if len(a) >= 2], ignore_case=False)
        self.negative = self.matcher(negatives)

    @classmethod
    def from_ontology(cls) -> RelevanceScorer:
        return _metadata_scorer()

    def score(self, title: str, description: str = "", tags: Iterable[str] = ()) -> Relevance:
        title = title or ""
        rest = f"{description or ''} {' '.join(tags)}"
        both = f"{title} {rest}"
        in_title, in_rest = self.found(self.strong, title), self.found(self.strong, rest)
        weak = self.found(self.weak, both) | self.found(self.abbr, both, lower=False)
        neg = self.found(self.negative, both)
        strong = in_title | in_rest
        score = 2.0 * len(in_title) + 1.0 * len(in_rest - in_title)
        if strong:
            score += 0.5 * len(weak)
        score -= 2.0 * len(neg)
        parts = []
        if in_title:
            parts.append("title: " + ", ".join(sorted(in_title)))
        if in_rest - in_title:
            parts.append("text: " + ", ".join(sorted(in_rest - in_title)))
        if weak:
            parts.append(("weak: " if strong else "weak only: ") + ", ".join(sorted(weak)))
        if neg:
            parts.append("negative: " + ", ".join(sorted(neg)))
        return Relevance(score, "; ".join(parts) or "no dermatology term", tuple(sorted(strong)),
                         tuple(sorted(neg)))


@dataclass(frozen=True)
class CaptionRelevance:
    score: float
    explanation: str
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    negatives: tuple[str, ...]


class CaptionRelevanceScorer(VocabularyScorer):
    """Figure caption preset (formula in the module docstring); abbreviations of 3+ letters count as weak."""

    def __init__(self, terms: Iterable[str], abbreviations: Iterable[str] = ()) -> None:
        strong = [t for t in (*terms, *CAPTION_STRONG, *DERM_WORDS)
                  if t.lower() not in GENERIC and t.lower() not in WEAK]
        self.strong = self.matcher(strong)
        self.weak = self.matcher(CAPTION_WEAK)
        self.abbr = self.matcher([a for a in abbreviations if len(a) >= 3], ignore_case=False)
        self.negative = self.matcher(CAPTION_NEGATIVES)
        self.organ = self.matcher(OTHER_ORGAN)

    @classmethod
    def default(cls) -> CaptionRelevanceScorer:
        return _caption_scorer()

    def score(self, caption: str | None, context: str | None = None) -> CaptionRelevance:
        text = caption or ""
        strong = self.found(self.strong, text)
        weak = (self.found(self.weak, text) | self.found(self.abbr, text, lower=False)) - strong
        neg, organ = self.found(self.negative, text), self.found(self.organ, text)
        ctx = self.found(self.strong, context) - strong if context else set()
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
def _metadata_scorer() -> RelevanceScorer:
    return RelevanceScorer(*ontology_vocabulary())


@lru_cache(maxsize=1)
def _caption_scorer() -> CaptionRelevanceScorer:
    return CaptionRelevanceScorer(*ontology_vocabulary())
