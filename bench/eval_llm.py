"""The LLM labelling path next to the lexical one on the dev rows: prompt tokens, latency, agreement.

    python -m bench.eval_llm --gguf /path/model.gguf --model qwen2.5-coder-1.5b --derm1m 60 --skincap 40
    python -m bench.eval_llm --base-url http://127.0.0.1:8080/v1 --model NAME      # a server already running

With `--gguf` the bench starts llama-cpp-python's OpenAI-compatible server on the file (the `.venv-llama` that
`make llm-local` builds, or --llama-python) with 2 threads, as a user of `augment.method: llm` would, and
stops it at the end. Every call goes through the production path (LlmLabeller / CaptionRefiner over the
shared caller, the v3 shortlist prompt by default). Scored with pipeline.augment.evaluate's score_derm1m
(in Derm1M's vocabulary through the crosswalk when the fixture's nested_ontology.json is there, concepts over
Derm1M's ConceptTerms.json) and score_skincap, on the first N rows of each dev file, the lexical path on the
same rows. Per pair: prompt tokens as the server counted them (all calls of the pair, the corrective retry
included), the labeller's own offline estimate, wall-clock latency. Answers are kept in
bench/results/eval_llm_answers.jsonl (keyed by model and the caller's input hash), so a rerun rescores
without calling the model again (--fresh asks again); latency and tokens come from the run that asked. That file
holds the model's rewrites of the fixtures' captions: a local cache, never committed (the fixtures' rows and their
derivatives stay out of the repository); eval_llm.json keeps figures and lengths only.
Results: bench/results/eval_llm.json. The load average is recorded: on a shared 2-core machine every
timing is noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ontology import Ontology
from pipeline.augment.evaluate import (
    derm1m_concept_scope,
    score_derm1m,
    score_skincap,
    skincap_concept_map,
)
from pipeline.vocab.lexical import Labels, LexicalMatcher

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TEXT_COLUMNS = {"derm1m": "caption", "skincap": "caption_zh_polish_en"}


def _rows(path: Path, limit: int) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))[:limit]


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)] if values else 0.0


@contextmanager
def llama_server(gguf: Path, python: str, threads: int, ctx: int) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free port; its base URL while the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = RESULTS / "eval_llm_server.log"
    cmd = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(ctx), "--n_threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("llama_cpp.server did not come up within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Answers:
    """Stored answers of earlier runs (input hash -> answer JSON, prompt tokens, latency), appended as asked."""

    def __init__(self, path: Path, model: str, fresh: bool) -> None:
        self.path, self.model = path, model
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists() and not fresh:
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row["model"] == model:
                    self.rows[row["key"]] = row

    def add(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = {"model": self.model, "key": key, **row}
        with self.path.open("a") as fh:
            fh.write(json.dumps(self.rows[key]) + "\n")


class LlmPath:
    """The labeller as a `predict` function that records tokens, latency and outcomes per pair."""

    def __init__(self, llm: Any, answers: Answers) -> None:
        self.llm, self.answers = llm, answers
        self.pairs: list[dict[str, Any]] = []

    def __call__(self, text: str) -> Labels | None:
        key = self.llm.cache_key(text)
        stored = self.answers.rows.get(key)
        estimate = self.llm.shortlist.tokens(self.llm.values(text)) if self.llm.shortlist else None
        if (
            stored
        ):  # a failure is kept too (a timeout counts as wrong, as in the run that met it); --fresh asks
            self.pairs.append({**stored, "estimate": estimate, "reused": True})
            return self.llm.from_cache(stored["answer"]) if stored.get("answer") else None  # type: ignore[no-any-return]
        t0 = time.perf_counter()
        out = self.llm.label(text)
        seconds = time.perf_counter() - t0
        answer = json.loads(out.cache_rows[0]["response"]) if out.cache_rows else None
        row = {"answer": json.dumps(answer) if answer is not None else None, "seconds": seconds,
               "calls": len(out.calls), "prompt_tokens": sum(c["prompt_tokens"] or 0 for c in out.calls),
               "first_prompt_tokens": out.calls[0]["prompt_tokens"] if out.calls else None,
               "completion_tokens": sum(c["completion_tokens"] or 0 for c in out.calls),
               "reason": out.reason, "detail": out.detail[:300]}  # fmt: skip
        self.answers.add(key, row)
        self.pairs.append({**row, "estimate": estimate})
        return out.labels

    def summary(self) -> dict[str, Any]:
        asked = [p for p in self.pairs if p.get("first_prompt_tokens")]
        first = [float(p["first_prompt_tokens"]) for p in asked]
        total = [float(p["prompt_tokens"]) for p in asked]
        seconds = [float(p["seconds"]) for p in self.pairs]
        over = [p for p in asked if p["estimate"] is not None and p["estimate"] < p["first_prompt_tokens"]]
        return {
            "pairs": len(self.pairs), "calls": sum(p["calls"] for p in self.pairs),
            "answers_from_earlier_runs": sum(bool(p.get("reused")) for p in self.pairs),  # latency: as asked
            "prompt_tokens_per_pair": {"mean": round(statistics.mean(total), 1) if total else None,
                                       "p95": _p95(total), "max": max(total, default=None)},
            "first_call_prompt_tokens": {"mean": round(statistics.mean(first), 1) if first else None,
                                         "p95": _p95(first), "max": max(first, default=None)},
            "estimate_under_server_count": len(over),
            "completion_tokens_mean": round(statistics.mean(p["completion_tokens"] for p in asked), 1) if asked else None,
            "latency_s_per_pair": {"mean": round(statistics.mean(seconds), 2) if seconds else None,
                                   "p95": round(_p95(seconds), 2)},
            "rejected": {r: sum(p["reason"] == r for p in self.pairs) for r in {p["reason"] for p in self.pairs} if r},
        }  # fmt: skip


def lexical_path(matcher: LexicalMatcher) -> tuple[Callable[[str], Labels], list[float]]:
    seconds: list[float] = []

    def predict(text: str) -> Labels:
        t0 = time.perf_counter()
        labels = matcher.label(text)
        seconds.append(time.perf_counter() - t0)
        return labels

    return predict, seconds


def score(predict: Callable[[str], Labels | None], onto: Ontology, fixtures: Path, n_derm1m: int,
          n_skincap: int, walk: Any) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    terms = fixtures / "derm1m" / "ConceptTerms.json"
    scope = derm1m_concept_scope(json.loads(terms.read_text()), onto) if terms.exists() else None
    d = score_derm1m(
        _rows(fixtures / "derm1m" / "derm1m_v2_rows_dev.csv", n_derm1m), predict, onto, walk, scope
    )
    out["derm1m"] = d.as_dict()
    rows = _rows(fixtures / "skincap" / "skincap_dev.csv", n_skincap)
    cmap = skincap_concept_map(rows[0].keys() if rows else [], onto)
    out["skincap"] = score_skincap(rows, predict, onto, cmap).as_dict()
    return out


def refine_captions(cfg: Any, onto: Ontology, matcher: LexicalMatcher, rows: list[dict[str, str]],
                    answers: Answers) -> dict[str, Any]:  # fmt: skip
    """LLM-written refined captions for `rows`: how many were used, refused (grounding) or failed."""
    from pipeline.augment.refine import CaptionRefiner

    refiner = CaptionRefiner(cfg, onto, matcher)
    kinds: dict[str, int] = {}
    samples, seconds, tokens = [], [], []
    for row in rows:
        text = row["caption"]
        lexical = matcher.label(text)
        key = "refine:" + refiner.cache_key(text)
        stored = answers.rows.get(key)
        t0 = time.perf_counter()
        out = refiner.refine(text, lexical, lexical, cached=stored["answer"] if stored else None)
        if stored is None:
            answer = out.cache_rows[0]["response"] if out.cache_rows else None
            answers.add(key, {"answer": answer, "seconds": time.perf_counter() - t0,
                              "prompt_tokens": sum(c["prompt_tokens"] or 0 for c in out.calls),
                              "reason": out.reason})  # fmt: skip
            stored = answers.rows[key]
        seconds.append(stored["seconds"])
        tokens.append(stored["prompt_tokens"])
        kind = "llm" if out.method.startswith("llm") else ("grounding_refused" if "caption rejected" in
                                                           (out.reason or "") else "fallback_other")  # fmt: skip
        kinds[kind] = kinds.get(kind, 0) + 1
        if len(samples) < 4:
            # lengths only: the dev rows are third-party (CC BY-NC) and must not be copied into result files
            samples.append({"source_words": len(text.split()), "caption_words": len(out.caption.split()),
                            "method": out.method, "refused": bool(out.reason)})  # fmt: skip
    return {"pairs": len(rows), "outcomes": kinds, "latency_s_mean": round(statistics.mean(seconds), 2) if seconds else None,
            "prompt_tokens_mean": round(statistics.mean(tokens), 1) if tokens else None, "samples": samples}  # fmt: skip


def _line(name: str, r: dict[str, Any], tokens: str, latency: str) -> str:
    d, s = r["derm1m"], r["skincap"]
    return (f"{name:<34} {tokens:>16} {latency:>14} {d['disease_accuracy']:>8.3f} {d['concept_micro_f1']:>9.3f} "
            f"{s['concept_micro_f1']:>9.3f}  ({d['rows']} + {s['rows']} rows, {d['rejected'] + s['rejected']} rejected)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path, help="start llama-cpp-python's server on this GGUF file")
    ap.add_argument("--llama-python", default=str(REPO / ".venv-llama" / "bin" / "python"))
    ap.add_argument("--base-url", default=os.environ.get("DERM_EVAL_LLM_BASE_URL"))
    ap.add_argument("--model", default=os.environ.get("DERM_EVAL_LLM_MODEL", "local-gguf"))
    ap.add_argument("--json-mode", default="json_object", choices=["json_object", "json_schema"])
    ap.add_argument(
        "--prompt", default="ontology_labels", help="prompt name, or name.vN (v2: the whole ontology)"
    )
    ap.add_argument("--derm1m", type=int, default=60, help="first N Derm1M dev rows")
    ap.add_argument("--skincap", type=int, default=40, help="first N SkinCAP dev rows")
    ap.add_argument(
        "--captions", type=int, default=10, help="first N Derm1M rows also get an LLM refined caption"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--fresh", action="store_true", help="ask the model again instead of reusing stored answers"
    )
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed bench still stops its server

    from pipeline.augment.llm import LlmLabeller
    from pipeline.config import LlmConfig
    from pipeline.config.augment import ShortlistConfig
    from pipeline.vocab.crosswalk import load_crosswalk

    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
    if not (fixtures / "derm1m" / "derm1m_v2_rows_dev.csv").exists():
        print(f"skipped: no dev rows under {fixtures} (set DERM_FIXTURES)")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    onto = Ontology.load()
    nested = fixtures / "derm1m" / "nested_ontology.json"
    walk = load_crosswalk(onto, nested) if nested.exists() else None
    matcher = LexicalMatcher(onto)
    load_start = os.getloadavg()
    results: dict[str, Any] = {"ontology_version": onto.version, "n_derm1m": args.derm1m, "n_skincap": args.skincap,
                               "vocabulary": "derm1m (crosswalk)" if walk else "project",
                               "machine": f"{os.cpu_count()} cores, load {load_start[0]:.2f} at start"}  # fmt: skip
    predict, lex_seconds = lexical_path(matcher)
    results["lexical"] = score(predict, onto, fixtures, args.derm1m, args.skincap, walk)
    results["lexical"]["latency_s_per_pair"] = {"mean": round(statistics.mean(lex_seconds), 4),
                                                "p95": round(_p95(lex_seconds), 4)}  # fmt: skip
    if not args.gguf and not args.base_url:
        print("[llm] skipped: give --gguf FILE or --base-url URL (see the docstring)")
    else:
        answers = Answers(RESULTS / "eval_llm_answers.jsonl", args.model, args.fresh)

        def run(url: str) -> None:
            cfg = LlmConfig(base_url=url, model=args.model, json_mode=args.json_mode, timeout_s=600.0,
                            max_retries=0, concurrency=1)  # fmt: skip
            llm = LlmLabeller(cfg, onto, args.prompt, shortlist=ShortlistConfig())
            path = LlmPath(llm, answers)
            results["llm"] = {"model": args.model, "prompt": llm.prompt_key,
                              **score(path, onto, fixtures, args.derm1m, args.skincap, walk), **path.summary()}  # fmt: skip
            if args.captions:
                rows = _rows(fixtures / "derm1m" / "derm1m_v2_rows_dev.csv", args.captions)
                results["llm_captions"] = refine_captions(cfg, onto, matcher, rows, answers)

        if args.gguf:
            with llama_server(args.gguf, args.llama_python, args.threads, 4096) as url:
                run(url)
        else:
            run(args.base_url)
    results["machine"] += f", {os.getloadavg()[0]:.2f} at end"
    print(f"machine: {results['machine']}; rows: first {args.derm1m} Derm1M + {args.skincap} SkinCAP dev rows; "
          f"disease in {results['vocabulary']} vocabulary")  # fmt: skip
    print(
        f"{'path':<34} {'prompt tok/pair':>16} {'latency/pair':>14} {'disease':>8} {'conc F1 D':>9} {'conc F1 S':>9}"
    )
    lex = results["lexical"]
    print(_line("lexical", lex, "0 (mean, p95)", f"{lex['latency_s_per_pair']['mean'] * 1000:.1f} ms"))
    if "llm" in results:
        r = results["llm"]
        tok = r["prompt_tokens_per_pair"]
        print(_line(f"llm:{r['model']} ({r['prompt']})", r, f"{tok['mean']:.0f}, {tok['p95']:.0f}",
                    f"{r['latency_s_per_pair']['mean']:.1f} s"))  # fmt: skip
        print(f"  {r['answers_from_earlier_runs']} of {r['pairs']} answers stored by earlier runs (their latency and "
              "tokens as measured when asked; the load printed is this run's)")  # fmt: skip
        print(
            f"  calls {r['calls']} for {r['pairs']} pairs; first-call prompt tokens mean "
            f"{r['first_call_prompt_tokens']['mean']}, max {r['first_call_prompt_tokens']['max']}; offline estimate "
            f"under the server's count for {r['estimate_under_server_count']} pair(s); rejected {r['rejected']}"
        )
    if "llm_captions" in results:
        c = results["llm_captions"]
        print(f"  refined captions on {c['pairs']} Derm1M rows: {c['outcomes']}, {c['prompt_tokens_mean']} prompt "
              f"tokens and {c['latency_s_mean']} s each")  # fmt: skip
    out = RESULTS / "eval_llm.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
