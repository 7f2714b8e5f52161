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
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ontology import Ontology
from pipeline.augment.evaluate import (
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


def _rows(path: Path, limit: int | None) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows[:limit] if limit else rows


def _show(name: str, dataset: str, scores: Scores, seconds: float) -> None:
    d = scores.as_dict()
    print(f"[{name}] {dataset}: {d['rows']} rows ({d['rejected']} rejected) in {seconds:.1f} s")
    if dataset == "derm1m":
        print(f"  disease agreement       {d['disease_accuracy']:.3f} ({d['disease_vocabulary']} vocabulary; "
              f"consistent {d['disease_consistent']:.3f}, exact name in ours {d['disease_exact_project']:.3f}; "
              f"theirs among all the conditions found: {d['disease_named_anywhere']:.3f})")
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


def evaluate(name: str, predict: Callable[[str], Labels | None], onto: Ontology, fixtures: Path,
             limit: int | None, walk: Crosswalk | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    derm1m = fixtures / "derm1m" / "derm1m_v2_rows_dev.csv"
    skincap = fixtures / "skincap" / "skincap_dev.csv"
    if derm1m.exists():
        t0 = time.perf_counter()
        terms = fixtures / "derm1m" / "ConceptTerms.json"
        scope = derm1m_concept_scope(json.loads(terms.read_text()), onto) if terms.exists() else None
        scores = score_derm1m(_rows(derm1m, limit), predict, onto, walk, scope)
        _show(name, "derm1m", scores, time.perf_counter() - t0)
        out["derm1m"] = scores.as_dict()
    else:
        print(f"[{name}] skipped Derm1M: {derm1m} not found (set DERM_FIXTURES)")
    if skincap.exists():
        rows = _rows(skincap, limit)
        cmap = skincap_concept_map(rows[0].keys() if rows else [], onto)
        t0 = time.perf_counter()
        scores = score_skincap(rows, predict, onto, cmap)
        _show(name, f"skincap ({len(cmap)} of 48 flags mapped)", scores, time.perf_counter() - t0)
        ceiling = skincap_text_ceiling(rows, onto, cmap)
        print(f"  text ceiling            recall {ceiling:.3f}, F1 {2 * ceiling / (1 + ceiling):.3f} (share of the "
              "image flags the caption names at all)")
        out["skincap"] = {**scores.as_dict(), "flags_mapped": len(cmap), "text_recall_ceiling": round(ceiling, 4)}
    else:
        print(f"[{name}] skipped SkinCAP: {skincap} not found (set DERM_FIXTURES)")
    return out


def main() -> None:
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
    limit = int(os.environ["DERM_EVAL_LIMIT"]) if os.environ.get("DERM_EVAL_LIMIT") else None
    onto = Ontology.load()
    results: dict[str, Any] = {"ontology_version": onto.version}
    walk = crosswalk(onto, fixtures)
    if walk is not None:
        results["crosswalk"] = walk.report().as_dict()
    results["lexical"] = evaluate("lexical", LexicalMatcher(onto).label, onto, fixtures, limit, walk)
    base_url = os.environ.get("DERM_EVAL_LLM_BASE_URL")
    if not base_url:
        print("[llm] skipped: set DERM_EVAL_LLM_BASE_URL (and DERM_EVAL_LLM_MODEL) to score an LLM server")
    else:
        from pipeline.augment.llm import LlmLabeller
        from pipeline.config import LlmConfig

        cfg = LlmConfig(base_url=base_url, model=os.environ.get("DERM_EVAL_LLM_MODEL", "gpt-4o-mini"),
                        json_mode=os.environ.get("DERM_EVAL_LLM_JSON_MODE", "json_schema"))  # type: ignore[arg-type]
        llm = LlmLabeller(cfg, onto)
        results[f"llm:{cfg.model}"] = evaluate(f"llm:{cfg.model}", lambda t: llm.label(t).labels, onto,
                                               fixtures, limit, walk)
    llm_run = REPO / "bench" / "results" / "eval_llm.json"
    if llm_run.exists():  # `make eval-llm` runs the real local model (slow on CPU); its last figures, read back
        recorded = json.loads(llm_run.read_text())
        llm, lex = recorded["llm"], recorded["lexical"]
        print(f"[llm, recorded by make eval-llm: {recorded.get('machine', '')}] {llm['model']} with {llm['prompt']} on the "
              f"first {recorded['n_derm1m']} Derm1M / {llm['skincap']['rows']} SkinCAP rows, Derm1M's vocabulary:")
        for name, row in (("lexical", lex), ("llm", llm)):
            tokens = row.get("prompt_tokens_per_pair", {"mean": 0, "p95": 0})
            print(f"  {name:<8} disease {row['derm1m']['disease_accuracy']:.3f}  concepts {row['derm1m']['concept_micro_f1']:.3f}"
                  f" (SkinCAP {row['skincap']['concept_micro_f1']:.3f})  prompt tokens/pair {tokens['mean']:.0f} "
                  f"(p95 {tokens['p95']:.0f})  latency/pair {row['latency_s_per_pair']['mean'] if isinstance(row['latency_s_per_pair'], dict) else row['latency_s_per_pair']:.3g} s")
        results["llm_recorded"] = {"model": llm["model"], "prompt": llm["prompt"], "rows": recorded["n_derm1m"],
                                   "disease": llm["derm1m"]["disease_accuracy"],
                                   "concepts": llm["derm1m"]["concept_micro_f1"]}  # fmt: skip
    from bench.vocab_coverage import main as coverage

    print("[coverage] the ontology over the public dermatology vocabularies (python -m bench.vocab_coverage):")
    coverage([])
    out = REPO / "bench" / "results" / "eval_augment.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
