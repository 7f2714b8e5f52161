"""`derm1m estimate` on a small warehouse: augment's pending pairs, tokens from the rendered prompt, output
tokens from the logged calls, USD live and batch from the price table."""

from __future__ import annotations

import pytest

from pipeline.augment.estimate import augment_workload, estimate_lines
from pipeline.config import LlmConfig, RunConfig
from pipeline.llm import estimate
from pipeline.warehouse import insert_rows, now

TEXTS = {"p1": "psoriasis on the elbows", "p2": "psoriasis on the elbows", "p3": "a ringworm " * 10, "p4": "done"}


@pytest.fixture
def warehouse(con):
    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": text, "align_score": 1.0} for pid, text in TEXTS.items()
    ])  # fmt: skip
    return con


def chars4(monkeypatch) -> None:
    monkeypatch.setattr(estimate, "token_counter", lambda model: ((lambda t: (len(t) + 3) // 4), "chars/4"))


def test_pending_pairs_counted_and_priced(warehouse, monkeypatch) -> None:
    chars4(monkeypatch)
    cfg = RunConfig(llm=LlmConfig(model="gpt-4o-mini"))
    cfg.augment.llm_prompt = "ontology_labels.v2"  # the whole ontology in every prompt: a large fixed prefix
    from pipeline.augment.stage import AugmentStage

    llm_cfg = cfg.model_copy(deep=True)
    llm_cfg.augment.method = "llm"
    stage = AugmentStage(llm_cfg)
    [done] = [u for u in stage.candidates(warehouse) if u.key == "p4"]
    insert_rows(warehouse, "work_log", [{"stage": "augment", "unit_key": "p4", "fingerprint": done.fingerprint,
                                         "n_out": 1, "n_rejected": 0, "run_id": "r0", "done_at": now()}])
    assert stage.llm is not None
    w = augment_workload(warehouse, cfg)
    assert w.requests == 2  # p1 and p2 share one text, p4 is done
    fixed = (len(stage.llm.caller.messages(text="")[0]["content"]) + 3) // 4
    assert fixed > 1000  # the label lists
    expected = sum(w.fixed_tokens + (len(t) + 3) // 4 for t in ("psoriasis on the elbows", "a ringworm " * 10))
    assert w.input_tokens == expected and abs(w.fixed_tokens - fixed - estimate.CHAT_OVERHEAD) <= 2
    assert (w.output_each, w.output_source.startswith("default")) == (estimate.DEFAULT_OUTPUT_TOKENS, True)
    costs = w.costs(cfg.llm)
    assert costs is not None
    live = (w.input_tokens * 0.15 + w.output_tokens * 0.60) / 1e6
    assert costs["live"] == pytest.approx(live) and costs["batch"] == pytest.approx(live / 2)
    assert costs["batch"] < costs["live_prefix_cached"] < costs["live"]
    insert_rows(warehouse, "llm_calls", [
        {"call_id": f"c{i}", "prompt": stage.llm.prompt_key, "model": "gpt-4o-mini", "input_hash": "h",
         "completion_tokens": n, "created_at": now()} for i, n in enumerate((40, 60))
    ])  # fmt: skip
    again = augment_workload(warehouse, cfg)
    assert again.output_each == 50 and again.output_source == "mean of 2 logged call(s)"
    big = again.scaled(1_000_000)
    assert big.input_tokens == round(again.input_tokens / 2 * 1_000_000) and big.output_tokens == 50_000_000


def test_estimate_lines_and_unpriced_models(warehouse, monkeypatch) -> None:
    chars4(monkeypatch)
    lines = estimate_lines(warehouse, RunConfig(), project=1_000_000)
    assert lines[0].startswith("model gpt-4o-mini") and "3 request(s)" in lines[1] and "USD live" in lines[2]
    assert "projected to 1,000,000 pair(s)" in "\n".join(lines) and "lexical" in lines[-1]
    unpriced = estimate_lines(warehouse, RunConfig(llm=LlmConfig(model="local-llama")))
    assert any("cost unknown" in line for line in unpriced)


def test_token_counter_falls_back_to_chars_over_4() -> None:
    count, method = estimate.token_counter("gpt-4o-mini")
    assert count("abcdefgh") >= 1 and (method.startswith("tiktoken") or method.startswith("chars/4"))


def test_derm1m_estimate_command(tmp_path, capsys, monkeypatch) -> None:
    from flows.cli import main
    from pipeline.warehouse import connect

    chars4(monkeypatch)
    prof = tmp_path / "p.yaml"
    prof.write_text(f"warehouse: {tmp_path / 'w.duckdb'}\ndata_dir: {tmp_path / 'data'}\n"
                    "llm: {model: gpt-4o-mini, price_per_1k_input: 0.15}\n")
    con = connect(tmp_path / "w.duckdb")
    insert_rows(con, "pair_image_texts", [
        {"pair_id": "p1", "unit_key": "p1", "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": "psoriasis", "align_score": 1.0}])  # fmt: skip
    con.close()
    assert main(["--config", str(prof), "estimate", "--pairs", "1000"]) == 0
    out = capsys.readouterr().out
    assert "1 request(s)" in out and "1,000 request(s)" in out and "batch" in out
