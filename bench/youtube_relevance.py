"""Precision and recall of the YouTube relevance filter (pipeline.vocab.relevance) on real titles.

Data: ../shared/fixtures/youtube/medvidcl_titles_dev.json (MedVidCL dev split: 475 real YouTube titles
labelled Medical Instructional / Medical Non-instructional / Non-medical; env DERM_FIXTURES overrides
the folder). MedVidCL labels say "medical or not", not "dermatology or not", so the positives here are:

    label is Medical Instructional or Medical Non-instructional, AND the title's subject is a disease,
    lesion or symptom of the skin, hair or nails (rashes, hives, acne, warts, fungal skin and nail
    infections, skin cancer, blisters, scars and pigmentation, cracked or irritated skin) or the care of
    the skin itself.

Wound procedures (dressings, suturing, packing), injections through the skin, systemic infections with a
rash (Lyme disease, Rocky Mountain spotted fever), veins, oral mucosa and lipedema are negatives, as are
all Non-medical titles, including the cosmetics ones that use skin words (make-up, hair styling, nail
art, DIY skin masks): those are exactly the look-alikes the filter must reject. The rule was applied by
reading every medical title once; the 16 positive ids are listed below. Caveat: the filter's vocabulary
was written after seeing these titles, so this is a development-set measurement, not a held-out one.

Run: `python -m bench.youtube_relevance` (prints a table and a JSON line).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SKIN_POSITIVE_IDS = frozenset({
    "lIvLRG31MZI", "XDlCzRhfHUc", "HjBFmnNcloM", "IO08hmcYrs4", "h75FaVsSsdU", "mmrvMDPPGsQ",
    "AbBGfuYPnis", "OGymDSXHFqM", "AOqbq708gFA", "lVR8EU5bSKc", "yZHa7ycwDTw", "5mxK0sFEvX0",
    "i4-io23mscI", "FjrHv-ZvJx0", "zNQdHr74R8Q", "WkMh5JaeFMM",
})
MEDICAL = ("Medical Instructional", "Medical Non-instructional")
REPO = Path(__file__).resolve().parents[1]


def load_titles() -> list[dict[str, str]]:
    root = Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures"))
    return list(json.loads((root / "youtube" / "medvidcl_titles_dev.json").read_text()))


def is_positive(row: dict[str, str]) -> bool:
    return row["label"] in MEDICAL and row["video_id"] in SKIN_POSITIVE_IDS


def evaluate(rows: list[dict[str, str]], predict: object) -> dict[str, float]:
    tp = fp = fn = 0
    for row in rows:
        pred, gold = bool(predict(row["video_title"])), is_positive(row)  # type: ignore[operator]
        tp += pred and gold
        fp += pred and not gold
        fn += gold and not pred
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(f1, 3)}


def main() -> None:
    from pipeline.vocab.relevance import RelevanceScorer

    rows = load_titles()
    scorer = RelevanceScorer.from_ontology()
    n_pos = sum(is_positive(r) for r in rows)
    print(f"{len(rows)} titles, {n_pos} dermatology positives (labelling rule in this module's docstring)")
    print(f"{'filter':<34}{'tp':>4}{'fp':>4}{'fn':>4}{'precision':>11}{'recall':>8}{'f1':>7}")
    results: dict[str, dict[str, float]] = {}
    filters = {
        "baseline: title contains 'skin'": lambda t: "skin" in t.lower(),
        **{f"relevance score >= {th:g}": (lambda t, th=th: scorer.score(t).score >= th) for th in (1.0, 2.0, 3.0)},
    }
    for name, fn in filters.items():
        r = evaluate(rows, fn)
        results[name] = r
        print(f"{name:<34}{r['tp']:>4}{r['fp']:>4}{r['fn']:>4}{r['precision']:>11.3f}{r['recall']:>8.3f}{r['f1']:>7.3f}")
    print(json.dumps({"youtube_relevance": results}))


if __name__ == "__main__":
    main()
