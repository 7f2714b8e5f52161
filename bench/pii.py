"""PII benchmark: recall of pipeline.vocab.pii (scrub_pii) per category on tests/data/pii_cases.jsonl, and
false positives on its PII-free dermatology sentences.

- A gold span counts as found when every letter and digit of every occurrence of its value in the sentence lies
  inside spans find_pii reports (a partial hit, e.g. "Baker Street" left after "12" was taken, is a miss),
  whatever placeholder it got.
- False-positive rate: the share of PII-free sentences in which anything at all is reported; the sentences
  with PII also report how many detections hit no gold span (extra).
Results: bench/results/pii-<date>.json.  Run: `python -m bench.pii`.
"""

from __future__ import annotations

import json
import platform
import re
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.vocab.pii import find_pii, scrub_pii

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "data" / "pii_cases.jsonl"


def load_cases(path: Path = CASES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(cases: list[dict[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    missed: list[dict[str, str]] = []
    false_pos: list[dict[str, Any]] = []
    extra: list[dict[str, str]] = []
    n_clean = 0
    for case in cases:
        text = case["text"]
        spans = find_pii(text)
        covered = bytearray(len(text))
        for s in spans:
            covered[s.start:s.end] = b"\x01" * (s.end - s.start)
        gold = []
        for g in case["spans"]:
            where = [m.span() for m in re.finditer(re.escape(g["value"]), text)]
            gold.extend(where)
            total[g["category"]] += 1
            if where and all(covered[i] for b, e in where for i in range(b, e) if text[i].isalnum()):
                found[g["category"]] += 1
            else:
                missed.append({"category": g["category"], "value": g["value"], "scrubbed": scrub_pii(text)[0] or ""})
        if not case["spans"]:
            n_clean += 1
            if spans:
                false_pos.append({"text": text, "scrubbed": scrub_pii(text)[0]})
        else:
            for s in spans:
                if not any(s.start < e and b < s.end for b, e in gold):
                    extra.append({"text": text, "detected": text[s.start:s.end], "label": s.label})
    per_cat = {c: {"spans": total[c], "found": found[c], "recall": round(found[c] / total[c], 4)}
               for c in sorted(total)}
    n = sum(total.values())
    return {
        "spans": n, "found": sum(found.values()), "recall": round(sum(found.values()) / n, 4) if n else None,
        "per_category": per_cat, "clean_sentences": n_clean, "false_positive_sentences": len(false_pos),
        "false_positive_rate": round(len(false_pos) / n_clean, 4) if n_clean else None,
        "extra_detections_in_pii_sentences": len(extra), "extra_detections": extra, "missed": missed, "false_positives": false_pos,
    }


def main() -> None:
    cases = load_cases()
    t0 = time.perf_counter()
    result = evaluate(cases)
    seconds = time.perf_counter() - t0
    # "dev": the sentences the detector was tuned on; "heldout": written afterwards and measured as they came
    by_set = {name: evaluate([c for c in cases if c.get("set") == name]) for name in ("dev", "heldout")}
    result["by_set"] = {name: {k: r[k] for k in ("spans", "found", "recall", "clean_sentences",
                                                 "false_positive_sentences", "false_positive_rate")}
                        for name, r in by_set.items()}
    print(f"{'category':<10} {'spans':>5} {'found':>5} {'recall':>7}")
    for cat, r in result["per_category"].items():
        print(f"{cat:<10} {r['spans']:>5} {r['found']:>5} {r['recall']:>7.3f}")
    print(f"{'overall':<10} {result['spans']:>5} {result['found']:>5} {result['recall']:>7.3f}")
    print(f"false positives: {result['false_positive_sentences']}/{result['clean_sentences']} PII-free sentences "
          f"({result['false_positive_rate']:.3f}); extra detections in PII sentences: "
          f"{result['extra_detections_in_pii_sentences']}")
    for name, r in result["by_set"].items():
        print(f"{name:<10} {r['spans']:>5} {r['found']:>5} {r['recall']:>7.3f}   false positives "
              f"{r['false_positive_sentences']}/{r['clean_sentences']}")
    for m in result["missed"]:
        print(f"  missed {m['category']}: {m['value']!r} -> {m['scrubbed']!r}")
    for x in result["extra_detections"]:
        print(f"  extra {x['label']}: {x['detected']!r} in {x['text']!r}")
    for fp in result["false_positives"]:
        print(f"  false positive: {fp['scrubbed']!r}")
    print(f"{len(cases)} sentences in {seconds:.2f} s")
    out = REPO / "bench" / "results" / f"pii-{date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {platform.system()}, "
            f"Python {platform.python_version()}", "cases": str(CASES.relative_to(REPO)), "seconds": round(seconds, 3)}
    out.write_text(json.dumps({**meta, **result}, indent=1) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
