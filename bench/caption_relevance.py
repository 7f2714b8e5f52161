"""Precision and recall of the figure-caption relevance scorer (pipeline.vocab.relevance, caption preset).

Data: real PMC figure captions from the ROCO dataset, `captions/roco_train/captions.txt` in the shared
fixtures folder (env DERM_FIXTURES, default ../shared/fixtures), read in place. Labels:
tests/data/roco_derm_labels.csv holds only caption ids and labels (never caption text). They were made by
reading every caption once, in two samples: all 196 captions matching a broad skin-word pattern (skin,
derm, cutane, rash, nevus, melanoma, psoriasis, eczema, erythema, papule, pustule, vesicle, alopecia, wart,
acne, urticaria, lupus, pigment, ulcer, blister, bulla), which hold nearly all the positives and the hard
look-alikes, and 100 others drawn at random (seed 5), all of which turned out negative. Rule: positive when
the figure shows or is about a condition of the skin, hair or nails, or skin histopathology (clinical
photographs of rashes, papules, ulcers, bruising, pigmentation; H&E of epidermis and dermis); negative for
surgery through the skin (incisions, flaps, grafts, sutures, markings), other organs (eye, mucosa, bladder,
stomach), imaging that mentions skin as a landmark, animals, microbiology and schematics. Caveat: the
vocabulary was written after reading these captions, so this is a development-set measurement.

Run: `python -m bench.caption_relevance` (prints a table, writes bench/results/caption_relevance.json).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "tests" / "data" / "roco_derm_labels.csv"


def captions_file() -> Path:
    root = Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures"))
    return root / "captions" / "roco_train" / "captions.txt"


def load_labelled(path: Path | None = None) -> list[tuple[str, str, int, str]]:
    """(caption id, caption text, label, sample) for every labelled id found in the fixture file."""
    texts = {}
    with open(path or captions_file(), encoding="utf-8") as fh:
        for line in fh:
            cid, _, text = line.rstrip("\n").partition("\t")
            texts[cid] = text.strip()
    with open(LABELS, newline="") as fh:
        return [(r["caption_id"], texts[r["caption_id"]], int(r["dermatology"]), r["sample"])
                for r in csv.DictReader(fh) if r["caption_id"] in texts]


def evaluate(threshold: float | None = None) -> dict[str, object]:
    from pipeline.config import CaptionRelevanceConfig
    from pipeline.vocab.relevance import CaptionRelevanceScorer

    thr = CaptionRelevanceConfig().min_score if threshold is None else threshold
    scorer = CaptionRelevanceScorer.default()
    rows = load_labelled()
    tp = fp = fn = tn = 0
    errors = []
    for cid, text, label, _ in rows:
        rel = scorer.score(text)
        pred = int(rel.score >= thr)
        tp, fp = tp + (pred and label), fp + (pred and not label)
        fn, tn = fn + (not pred and label), tn + (not pred and not label)
        if pred != label:
            errors.append({"id": cid, "label": label, "score": rel.score, "why": rel.explanation})
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"n": len(rows), "positives": tp + fn, "threshold": thr, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "errors": errors}


def main() -> int:
    if not captions_file().exists():
        print(f"fixture {captions_file()} absent (set DERM_FIXTURES)", file=sys.stderr)
        return 1
    res = evaluate()
    print(f"n={res['n']} positives={res['positives']} threshold={res['threshold']}")
    print(f"tp={res['tp']} fp={res['fp']} fn={res['fn']} tn={res['tn']}")
    print(f"precision={res['precision']:.3f} recall={res['recall']:.3f} f1={res['f1']:.3f}")
    for e in res["errors"]:  # type: ignore[attr-defined]
        print(f"  {'FN' if e['label'] else 'FP'} {e['id']} {e['score']:+.1f}  {e['why']}")
    out = REPO / "bench" / "results" / "caption_relevance.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in res.items() if k != "errors"}
                              | {"errors": [{k: e[k] for k in ("id", "label", "score")} for e in res["errors"]]},
                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
