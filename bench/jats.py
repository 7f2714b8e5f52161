"""JATS benchmark: articles/s of parse_jats (figures, captions, citing paragraphs, licence, ids, keywords)
on one core, from bytes in memory.

- Input: every real article in $DERM_FIXTURES/jats (default ../shared/fixtures; PMC OA, OAI-PMH GetRecord,
  PLOS), read once; files that hold no <article> (PubMed citations, E-utilities answers) are left out.
- Each mode parses the whole set round after round for --seconds; articles/s counts by wall clock and by
  process CPU time (the CPU figure is the fairer one on a shared machine).
- Modes: `targeted` (the default path: slices cut by jats_slice.py, then lxml) and `full_tree` (the whole
  document through lxml, strict then recovering), with a check that both give identical results.
Results: bench/results/jats-<date>.json.  Run: `python -m bench.jats [--seconds 5]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

from pipeline.errors import ItemError
from pipeline.formats.jats import parse_jats

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DERM_FIXTURES", str(REPO / ".." / "shared" / "fixtures")))


def load_articles() -> dict[str, bytes]:
    out = {}
    for path in sorted((FIXTURES / "jats").glob("*")):
        if path.suffix in (".xml", ".nxml"):
            data = path.read_bytes()
            try:
                parse_jats(data, targeted=False)
            except ItemError:
                continue
            out[path.name] = data
    return out


def rate(docs: list[bytes], targeted: bool, seconds: float) -> dict[str, float]:
    n, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for data in docs:
            parse_jats(data, targeted=targeted)
        n += len(docs)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"articles": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "articles_per_s_wall": round(n / wall, 1), "articles_per_s_cpu": round(n / cpu, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="time per mode")
    args = ap.parse_args()
    articles = load_articles()
    if not articles:
        print(f"no JATS fixtures under {FIXTURES / 'jats'}")
        return 1
    docs = list(articles.values())
    per_file = {}
    for name, data in articles.items():
        fast, full = parse_jats(data), parse_jats(data, targeted=False)
        assert fast == full, f"{name}: targeted and full-tree parses differ"
        per_file[name] = {"figures": len(fast.figures), "captioned": sum(bool(f.caption) for f in fast.figures),
                          "citing_paragraphs": sum(len(f.cited_paragraphs) for f in fast.figures),
                          "licence": fast.licence, "bytes": len(data)}
    result = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "n_articles": len(docs), "mean_kb": round(sum(map(len, docs)) / len(docs) / 1024, 1),
        "targeted": rate(docs, True, args.seconds), "full_tree": rate(docs, False, args.seconds),
        "per_file": per_file,
    }
    result["speedup_cpu"] = round(result["targeted"]["articles_per_s_cpu"]  # type: ignore[index]
                                  / result["full_tree"]["articles_per_s_cpu"], 2)  # type: ignore[index]
    out = REPO / "bench" / "results" / f"jats-{date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_file"}, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
