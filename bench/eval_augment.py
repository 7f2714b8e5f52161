"""`make eval-augment`: label quality of the augment paths against human references.

- Derm1M dev rows (derm1m/derm1m_v2_rows_dev.csv): disease agreement in Derm1M's vocabulary (our label
  written as its Derm1M node through the crosswalk to derm1m/nested_ontology.json, as a user merging the
  corpora sees it; also the stricter exact name in our vocabulary and the "consistent" figure that accepts a
  more specific node under theirs), per-level agreement of the two Derm1M paths, concept micro-F1 against
  their skin_concept over Derm1M's published concept vocabulary (derm1m/ConceptTerms.json, both sides
  restricted to it as SkinCAP's flags are; the unrestricted figure is printed next to it). The crosswalk's own counts (nodes mapped each way) are printed first.
- SkinCAP dev rows (skincap/skincap_dev.csv): concept micro-F1 against the 48 human concept flags
  (over the flags that map onto our concepts), on the English caption.
The lexical path always runs. The LLM path runs when DERM_EVAL_LLM_BASE_URL is set (with
DERM_EVAL_LLM_MODEL, optional DERM_EVAL_LLM_JSON_MODE=json_object for llama.cpp, DERM_EVAL_LIMIT rows,
key from OPENAI_API_KEY); otherwise it is skipped with a message. Fixtures are read in place from
DERM_FIXTURES (default ../shared/fixtures). Results also go to bench/results/eval_augment.json.

`--half analysis|heldout` scores only the rows with an even (analysis) or odd (held-out) index of each dev
file, so a change is designed by reading failures of the analysis half and kept only if the held-out half
does not drop: the dev rows have been read by earlier changes, and the held-out half is the check against
fitting them. A half run prints its figures and writes no result file. `--per-concept` adds, per concept,
what the lexical path over-calls (fp) and misses (fn) on the Derm1M rows scored.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ontology import Ontology
from pipeline.augment.evaluate import (
    NO_CONCEPTS,
    Resolver,
    Scores,
    derm1m_concept_scope,
    score_derm1m,
    score_skincap,
    skincap_concept_map,
    skincap_text_ceiling,
)
from pipeline.vocab.crosswalk import Crosswalk, load_crosswalk
from pipeline.vocab.lexical import Labels, LexicalMatcher

REPO = Path(__file__).resolve().parents[1]


HALVES = {"analysis": 0, "heldout": 1}  # row index parity of each half


def _rows(path: Path, limit: int | None, half: str | None = None) -> list[dict[str, str]]:
    """The file's rows (the first `limit`), or one half of them: even indices (analysis) or odd (heldout)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows = rows[:limit] if limit else rows
    return rows if half is None else rows[HALVES[half] :: 2]


def per_concept(
    rows: list[dict[str, str]],
    predict: Callable[[str], Labels | None],
    onto: Ontology,
    scope: set[str] | None,
) -> dict[str, Counter[str]]:
    """tp/fp/fn per concept id over Derm1M rows, counted as score_derm1m counts them (in scope)."""
    res, out = Resolver(onto), {"tp": Counter[str](), "fp": Counter[str](), "fn": Counter[str]()}
    for row in rows:
        labels = predict(row["caption"])
        ours = set(labels.concept_ids if labels else [])
        value = row.get("skin_concept", "").strip()
        parts = (
            [] if value.lower() == NO_CONCEPTS.lower() else [p.strip() for p in value.split(",") if p.strip()]
        )
        theirs = set().union(set(), *(res.concept(p) for p in parts))
        if scope is not None:
            ours, theirs = ours & scope, theirs & scope
        out["tp"].update(ours & theirs)
        out["fp"].update(ours - theirs)
        out["fn"].update(theirs - ours)
    return out


def _show_per_concept(counts: dict[str, Counter[str]]) -> None:
    ids = sorted(set().union(*counts.values()), key=lambda i: -(counts["fp"][i] + counts["fn"][i]))
    print("  per concept (fp = we name it, they do not; fn = they do, we do not), most errors first:")
    for cid in ids:
        tp, fp, fn = (counts[k][cid] for k in ("tp", "fp", "fn"))
        if fp or fn:
            print(f"    {cid:<28} tp {tp:>3}  fp {fp:>3}  fn {fn:>3}")


def _show(name: str, dataset: str, scores: Scores, seconds: float) -> None:
    d = scores.as_dict()
    print(f"[{name}] {dataset}: {d['rows']} rows ({d['rejected']} rejected) in {seconds:.1f} s")
    if dataset == "derm1m":
        print(
            f"  disease agreement       {d['disease_accuracy']:.3f} ({d['disease_vocabulary']} vocabulary; "
            f"consistent {d['disease_consistent']:.3f}, exact name in ours {d['disease_exact_project']:.3f}; "
            f"theirs among all the conditions found: {d['disease_named_anywhere']:.3f})"
        )
        levels = ", ".join(f"L{x['level']} {x['agreement']:.3f} (n={x['n']})" for x in d["level_agreement"])
        print(f"  hierarchy agreement     {levels}")
    print(f"  concept micro-F1        {d['concept_micro_f1']:.3f} "
          f"(P {d['concept_precision']:.3f}, R {d['concept_recall']:.3f})"
          + (f"; over every concept, outside their vocabulary too: {d['concept_micro_f1_all']:.3f}"
             if d.get("concept_micro_f1_all") is not None and dataset == "derm1m" else ""))  # fmt: skip


def crosswalk(onto: Ontology, fixtures: Path) -> Crosswalk | None:
    path = fixtures / "derm1m" / "nested_ontology.json"
    if not path.exists():
        print(f"[crosswalk] skipped: {path} not found; Derm1M rows are scored in the project's vocabulary")
        return None
    walk = load_crosswalk(onto, path)
    print(f"[crosswalk] {walk.report().summary()}")
    return walk


def evaluate(
    name: str,
    predict: Callable[[str], Labels | None],
    onto: Ontology,
    fixtures: Path,
    limit: int | None,
    walk: Crosswalk | None = None,
    half: str | None = None,
    concepts: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    derm1m = fixtures / "derm1m" / "derm1m_v2_rows_dev.csv"
    skincap = fixtures / "skincap" / "skincap_dev.csv"
    if derm1m.exists():
        t0 = time.perf_counter()
        terms = fixtures / "derm1m" / "ConceptTerms.json"
        scope = derm1m_concept_scope(json.loads(terms.read_text()), onto) if terms.exists() else None
        rows = _rows(derm1m, limit, half)
        scores = score_derm1m(rows, predict, onto, walk, scope)
        _show(name, "derm1m", scores, time.perf_counter() - t0)
        out["derm1m"] = scores.as_dict()
        if concepts:
            _show_per_concept(per_concept(rows, predict, onto, scope))
    else:
        print(f"[{name}] skipped Derm1M: {derm1m} not found (set DERM_FIXTURES)")
    if skincap.exists():
        rows = _rows(skincap, limit, half)
        cmap = skincap_concept_map(rows[0].keys() if rows else [], onto)
        t0 = time.perf_counter()
        scores = score_skincap(rows, predict, onto, cmap)
        _show(name, f"skincap ({len(cmap)} of 48 flags mapped)", scores, time.perf_counter() - t0)
        ceiling = skincap_text_ceiling(rows, onto, cmap)
        print(
            f"  text ceiling            recall {ceiling:.3f}, F1 {2 * ceiling / (1 + ceiling):.3f} (share of the "
            "image flags the caption names at all)"
        )
        out["skincap"] = {
            **scores.as_dict(),
            "flags_mapped": len(cmap),
            "text_recall_ceiling": round(ceiling, 4),
        }
    else:
        print(f"[{name}] skipped SkinCAP: {skincap} not found (set DERM_FIXTURES)")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_augment", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--half", choices=sorted(HALVES), help="only the even (analysis) or odd (heldout) rows"
    )
    parser.add_argument("--per-concept", action="store_true", help="per-concept fp/fn of the lexical path")
    args = parser.parse_args(argv)
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
    limit = int(os.environ["DERM_EVAL_LIMIT"]) if os.environ.get("DERM_EVAL_LIMIT") else None
    onto = Ontology.load()
    results: dict[str, Any] = {"ontology_version": onto.version}
    walk = crosswalk(onto, fixtures)
    if walk is not None:
        results["crosswalk"] = walk.report().as_dict()
    if args.half:
        print(
            f"[half] {args.half}: rows with {'even' if HALVES[args.half] == 0 else 'odd'} index of each dev file"
        )
    results["lexical"] = evaluate(
        "lexical", LexicalMatcher(onto).label, onto, fixtures, limit, walk, args.half, args.per_concept
    )
    if args.half:
        print("[half] no result file written (whole-set figures come from a run without --half)")
        return
    base_url = os.environ.get("DERM_EVAL_LLM_BASE_URL")
    if not base_url:
        print("[llm] skipped: set DERM_EVAL_LLM_BASE_URL (and DERM_EVAL_LLM_MODEL) to score an LLM server")
    else:
        from pipeline.augment.llm import LlmLabeller
        from pipeline.config import LlmConfig

        cfg = LlmConfig(
            base_url=base_url,
            model=os.environ.get("DERM_EVAL_LLM_MODEL", "gpt-4o-mini"),
            json_mode=os.environ.get("DERM_EVAL_LLM_JSON_MODE", "json_schema"),  # type: ignore[arg-type]
        )
        llm = LlmLabeller(cfg, onto)
        results[f"llm:{cfg.model}"] = evaluate(
            f"llm:{cfg.model}", lambda t: llm.label(t).labels, onto, fixtures, limit, walk
        )
    llm_run = REPO / "bench" / "results" / "eval_llm.json"
    # `make eval-llm` runs the real local model (slow on CPU); its last figures, read back
    if llm_run.exists():
        recorded = json.loads(llm_run.read_text())
        llm, lex = recorded["llm"], recorded["lexical"]
        print(
            f"[llm, recorded by make eval-llm: {recorded.get('machine', '')}] {llm['model']} with {llm['prompt']} on the "
            f"first {recorded['n_derm1m']} Derm1M / {llm['skincap']['rows']} SkinCAP rows, Derm1M's vocabulary:"
        )
        for name, row in (("lexical", lex), ("llm", llm)):
            tokens = row.get("prompt_tokens_per_pair", {"mean": 0, "p95": 0})
            print(
                f"  {name:<8} disease {row['derm1m']['disease_accuracy']:.3f}  concepts {row['derm1m']['concept_micro_f1']:.3f}"
                f" (SkinCAP {row['skincap']['concept_micro_f1']:.3f})  prompt tokens/pair {tokens['mean']:.0f} "
                f"(p95 {tokens['p95']:.0f})  latency/pair {row['latency_s_per_pair']['mean'] if isinstance(row['latency_s_per_pair'], dict) else row['latency_s_per_pair']:.3g} s"
            )
        results["llm_recorded"] = {"model": llm["model"], "prompt": llm["prompt"], "rows": recorded["n_derm1m"],
                                   "disease": llm["derm1m"]["disease_accuracy"],
                                   "concepts": llm["derm1m"]["concept_micro_f1"]}  # fmt: skip
    from bench.vocab_coverage import main as coverage

    print(
        "[coverage] the ontology over the public dermatology vocabularies (python -m bench.vocab_coverage):"
    )
    coverage([])
    out = REPO / "bench" / "results" / "eval_augment.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
