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

LLM side (pipeline.clean.caption_llm, prompts/caption_relevance): `python -m bench.caption_relevance --llm-base-url
http://127.0.0.1:8080/v1 --model NAME --n 40` asks a running OpenAI-compatible server about a stratified sample
(seeded: positives, skin-word negatives and random negatives in the labels' proportions, positives
oversampled to a third) and reports its precision/recall, its agreement with the lexical scorer on the same
rows, and the latency per caption (writes bench/results/caption_relevance_llm.json). A local CPU model is
slow, so n is small; the number of captions and calls is printed with every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
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
        return [
            (r["caption_id"], texts[r["caption_id"]], int(r["dermatology"]), r["sample"])
            for r in csv.DictReader(fh)
            if r["caption_id"] in texts
        ]


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
    return {
        "n": len(rows),
        "positives": tp + fn,
        "threshold": thr,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
        "errors": errors,
    }


def sample(rows: list[tuple[str, str, int, str]], n: int, seed: int = 0) -> list[tuple[str, str, int, str]]:
    """n rows: a third positives (at most all of them), the rest negatives split between the skin-word
    (hard) and random samples in their proportions."""
    rng = random.Random(seed)
    pos = [r for r in rows if r[2] == 1]
    hard = [r for r in rows if r[2] == 0 and r[3] == "skin_terms"]
    easy = [r for r in rows if r[2] == 0 and r[3] != "skin_terms"]
    n_pos = min(len(pos), n // 3)
    n_hard = min(len(hard), round((n - n_pos) * len(hard) / max(1, len(hard) + len(easy))))
    n_easy = min(len(easy), n - n_pos - n_hard)
    return rng.sample(pos, n_pos) + rng.sample(hard, n_hard) + rng.sample(easy, n_easy)


def _prf(pairs: list[tuple[int, int]]) -> dict[str, float]:
    tp = sum(1 for p, y in pairs if p and y)
    fp = sum(1 for p, y in pairs if p and not y)
    fn = sum(1 for p, y in pairs if not p and y)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": len(pairs) - tp - fp - fn,
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
    }


def evaluate_llm(
    base_url: str, model: str, n: int, seed: int = 0, timeout_s: float = 600.0
) -> dict[str, object]:
    """The LLM judge and the lexical scorer on the same sampled rows. A caption the model could not answer
    falls back to the lexical verdict, as in clean; those are counted (`fallbacks`)."""
    from pipeline.clean.caption_llm import LlmCaptionJudge
    from pipeline.config import CaptionRelevanceConfig, LlmConfig
    from pipeline.vocab.relevance import CaptionRelevanceScorer

    thr = CaptionRelevanceConfig().min_score
    scorer = CaptionRelevanceScorer.default()
    judge = LlmCaptionJudge(
        LlmConfig(base_url=base_url, model=model, timeout_s=timeout_s, max_retries=0, json_mode="json_object")
    )
    llm_pairs, lex_pairs, latencies, rows_out = [], [], [], []
    fallbacks = calls = 0
    for cid, text, label, group in sample(load_labelled(), n, seed):
        lexical = int(scorer.score(text).score >= thr)
        start = time.perf_counter()
        verdict = judge.judge(text)
        latencies.append(time.perf_counter() - start)
        calls += len(verdict.calls)
        llm = lexical if verdict.relevant is None else int(verdict.relevant)
        fallbacks += verdict.relevant is None
        llm_pairs.append((llm, label))
        lex_pairs.append((lexical, label))
        rows_out.append(
            {
                "id": cid,
                "group": group,
                "label": label,
                "lexical": lexical,
                "llm": llm,
                "answered": verdict.relevant is not None,  # reasons printed only (they quote captions)
            }
        )
        print(
            f"  {cid} y={label} lex={lexical} llm={llm} {latencies[-1]:.1f}s {verdict.reason[:70]}",
            flush=True,
        )
    agree = sum(1 for a, b in zip(llm_pairs, lex_pairs, strict=True) if a[0] == b[0])
    return {
        "n": len(rows_out),
        "positives": sum(r["label"] for r in rows_out),
        "model": model,
        "calls": calls,
        "fallbacks": fallbacks,
        "agreement_with_lexical": round(agree / max(1, len(rows_out)), 4),
        "llm": _prf(llm_pairs),
        "lexical": _prf(lex_pairs),
        "latency_s_mean": round(statistics.mean(latencies), 2) if latencies else None,
        "latency_s_max": round(max(latencies), 2) if latencies else None,
        "rows": rows_out,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm-base-url", help="an OpenAI-compatible server: also measure the LLM judge")
    ap.add_argument("--model", default="local")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not captions_file().exists():
        print(f"fixture {captions_file()} absent (set DERM_FIXTURES)", file=sys.stderr)
        return 1
    if args.llm_base_url:
        out = evaluate_llm(args.llm_base_url, args.model, args.n, args.seed)
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))
        path = REPO / "bench" / "results" / "caption_relevance_llm.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        return 0
    res = evaluate()
    print(f"n={res['n']} positives={res['positives']} threshold={res['threshold']}")
    print(f"tp={res['tp']} fp={res['fp']} fn={res['fn']} tn={res['tn']}")
    print(f"precision={res['precision']:.3f} recall={res['recall']:.3f} f1={res['f1']:.3f}")
    for e in res["errors"]:  # type: ignore[attr-defined]
        print(f"  {'FN' if e['label'] else 'FP'} {e['id']} {e['score']:+.1f}  {e['why']}")
    out = REPO / "bench" / "results" / "caption_relevance.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {k: v for k, v in res.items() if k != "errors"}
            | {"errors": [{k: e[k] for k in ("id", "label", "score")} for e in res["errors"]]},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
