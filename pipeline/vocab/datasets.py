"""Label maps of public dermatology datasets: dataset code -> ontology condition name, one map per dataset.

Why one place: collect's dataset presets label training pairs with these names and the train stage's
external evaluation reads the same datasets as benchmarks; two maps let one code mean two classes
(HAM10000's ``bkl`` was "seborrheic keratosis" in training and "benign keratosis" in evaluation, so
zero-shot scored a class the corpus never names). Both import this module.

Every name is a condition of ontology/conditions.yaml (tests/test_eval_leakage.py checks they resolve).
``bkl`` is HAM10000's "benign keratosis-like lesions" (seborrheic keratoses, solar lentigines, lichen
planus-like keratoses); the ontology has no such umbrella, and seborrheic keratosis is what most of them
are and what PAD-UFES-20's ``SEK`` means, so both datasets share the class. Datasets whose labels are
already readable names (Fitzpatrick17k, DDI, Derm7pt) map nothing.
"""

from __future__ import annotations

__all__ = ["LABEL_MAPS"]

LABEL_MAPS: dict[str, dict[str, str]] = {
    "ham10000": {"akiec": "actinic keratosis", "bcc": "basal cell carcinoma", "bkl": "seborrheic keratosis",
                 "df": "dermatofibroma", "mel": "melanoma", "nv": "melanocytic nevus", "vasc": "vascular lesion"},
    "pad-ufes-20": {"ACK": "actinic keratosis", "BCC": "basal cell carcinoma", "MEL": "melanoma",
                    "NEV": "melanocytic nevus", "SCC": "squamous cell carcinoma", "SEK": "seborrheic keratosis"},
    "fitzpatrick17k": {},
    "ddi": {},
    "derm7pt": {},
}  # fmt: skip
