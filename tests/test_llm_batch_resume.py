"""Batch API at scale: batches survive a kill (recorded in llm_batches, resumed, never paid for twice),
several are in flight at once, and every call is priced from the model's price table (cached tokens,
batch discount). Against the stub Files/Batches server of test_llm_batch."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("openai")

import openai  # noqa: E402
import test_llm_batch  # noqa: E402
from test_llm import GOOD, completion  # noqa: E402
from test_llm_batch import BatchServer  # noqa: E402

from pipeline.augment.batch import label_batch  # noqa: E402
from pipeline.augment.llm import LlmLabeller  # noqa: E402
from pipeline.augment.stage import AugmentStage  # noqa: E402
from pipeline.config import LlmConfig, RunConfig  # noqa: E402
from pipeline.llm.calls import cost_usd  # noqa: E402
from pipeline.stage import run_stage  # noqa: E402
from pipeline.warehouse import insert_rows  # noqa: E402

server, onto = test_llm_batch.server, test_llm_batch.onto
TEXTS = {"p1": "psoriasis on the elbows", "p2": "ringworm on the arm", "p3": "a third text"}

V2 = "ontology_labels.v2"  # these tests script v2 answers; v3 (the shortlist) is tested in test_llm_shortlist.py


class Killed(BaseException):
    """The process dies (a kill, a crash): nothing the code catches."""


def llm_cfg(server: BatchServer, **more: Any) -> LlmConfig:
    return LlmConfig(base_url=server.url, model="gpt-4o-mini", api_key_env="DERM_TEST_UNSET_KEY", timeout_s=5.0,
                     max_retries=0, batch=True, batch_poll_s=0.01, **more)


def client(server: BatchServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=5.0)


def seed_pairs(con) -> None:
    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": text, "align_score": 1.0} for pid, text in TEXTS.items()
    ])  # fmt: skip


def stage(server: BatchServer, onto, llm_client: Any = None, **more: Any) -> AugmentStage:
    cfg = RunConfig(llm=llm_cfg(server, **more))
    cfg.augment.method = "llm"
    cfg.augment.llm_prompt = V2  # v2-shaped scripted answers (the whole ontology)
    return AugmentStage(cfg, onto, llm_client=llm_client or client(server))


def batch_posts(server: BatchServer) -> int:
    return server.log.count(("POST", "/v1/batches"))


def test_a_run_killed_while_polling_resumes_the_same_batch(server: BatchServer, onto, con, monkeypatch) -> None:
    seed_pairs(con)
    server.answers = {k: completion(json.dumps(GOOD)) for k in TEXTS}
    dying = client(server)

    def die(batch_id: str, **kw: Any) -> Any:
        raise Killed

    monkeypatch.setattr(dying.batches, "retrieve", die)
    with pytest.raises(Killed):
        run_stage(con, stage(server, onto, dying), "r1")
    assert batch_posts(server) == 1 and server.batches["batch_1"]["status"] == "in_progress"
    [(bid, status, n, requests, consumed)] = con.execute(
        "SELECT batch_id, status, n_requests, requests, consumed_at FROM llm_batches").fetchall()
    assert (bid, status, n, consumed) == ("batch_1", "in_progress", 3, None)
    assert sorted(json.loads(requests)) == sorted(TEXTS)
    assert con.execute("SELECT count(*) FROM augment_captions").fetchone()[0] == 0

    report = run_stage(con, stage(server, onto), "r2")  # the rerun polls batch_1; nothing is submitted
    assert (report.status, report.items_out) == ("ok", 3)
    assert batch_posts(server) == 1 and len(server.uploaded) == 3
    assert ("GET", "/v1/batches/batch_1") in server.log
    assert {r[0] for r in con.execute("SELECT batch_id FROM llm_calls").fetchall()} == {"batch_1"}
    assert con.execute("SELECT status, consumed_at IS NOT NULL FROM llm_batches").fetchall() == [("completed", True)]
    assert run_stage(con, stage(server, onto), "r3").items_in == 0 and batch_posts(server) == 1


def test_results_read_but_not_committed_are_read_again_not_bought_again(server: BatchServer, onto, con) -> None:
    seed_pairs(con)
    server.answers = {k: completion(json.dumps(GOOD)) for k in TEXTS}

    def dies_before_commit(stage: Any, units: Any) -> Any:
        raise Killed

    with pytest.raises(Killed):
        run_stage(con, stage(server, onto), "r1", mapper=dies_before_commit)
    assert con.execute("SELECT status, consumed_at FROM llm_batches").fetchall() == [("completed", None)]
    report = run_stage(con, stage(server, onto), "r2")
    assert report.items_out == 3 and batch_posts(server) == 1  # batch_1's output read again, for free
    assert con.execute("SELECT count(*) FROM llm_batches WHERE consumed_at IS NULL").fetchone()[0] == 0


def test_a_changed_text_is_not_taken_from_the_old_batch(server: BatchServer, onto, con, monkeypatch) -> None:
    seed_pairs(con)
    server.answers = {k: completion(json.dumps(GOOD)) for k in TEXTS}
    dying = client(server)
    monkeypatch.setattr(dying.batches, "retrieve", lambda *a, **k: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        run_stage(con, stage(server, onto, dying), "r1")
    con.execute("UPDATE pair_image_texts SET text = 'an edited text' WHERE pair_id = 'p3'")
    assert run_stage(con, stage(server, onto), "r2").items_out == 3
    assert batch_posts(server) == 2  # p1, p2 from batch_1; the edited p3 in a new batch
    assert [line["custom_id"] for line in server.uploaded if line["custom_id"] == "p3"] == ["p3", "p3"]


def test_several_batches_in_flight_polled_together(server: BatchServer, onto) -> None:
    texts = {f"t{i}": f"psoriasis case {i}" for i in range(5)}
    server.answers = {k: completion(json.dumps(GOOD)) for k in texts}
    seen: list[int] = []
    c = client(server)
    create = c.batches.create

    def counting_create(**kw: Any) -> Any:
        seen.append(sum(b["status"] == "in_progress" for b in server.batches.values()))
        return create(**kw)

    c.batches.create = counting_create  # type: ignore[method-assign]
    llm = LlmLabeller(llm_cfg(server, batch_max_requests=2, batch_max_in_flight=2), onto, V2, client=c)
    out = label_batch(llm, texts, sleep=lambda s: None)
    assert all(o.labels is not None for o in out.values()) and len(server.batches) == 3
    assert seen == [0, 1, 0]  # two at once; the third only once one of them ended
    first_get = next(i for i, (verb, _) in enumerate(server.log) if verb == "GET")
    assert server.log[:first_get].count(("POST", "/v1/batches")) == 2  # both submitted before polling


def test_cost_from_the_price_table() -> None:
    mini = LlmConfig(model="gpt-4o-mini")  # list price: 0.15 in, 0.075 cached in, 0.60 out per 1M
    assert cost_usd(mini, 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd(mini, 1_000_000, 0, cached_tokens=400_000) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075)
    assert cost_usd(mini, 1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)
    assert cost_usd(LlmConfig(model="gpt-4o-mini-2024-07-18"), 1_000_000, 0) == pytest.approx(0.15)
    assert cost_usd(LlmConfig(model="my-local-model"), 1000, 100) is None
    own = LlmConfig(model="m", prices={"m": {"input": 1.0, "output": 2.0, "batch_discount": 0.5}})
    assert cost_usd(own, 1000, 1000, cached_tokens=500, batch=True) == pytest.approx(3000 / 1e6 * 0.5)
    assert "gpt-4o-mini" in own.prices  # a profile's table is merged over the list prices
    legacy = LlmConfig(model="m", price_per_1k_input=0.15, price_per_1k_output=0.6)  # old profiles
    assert legacy.prices["m"].input == pytest.approx(150.0) and cost_usd(legacy, 1000, 500) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="keep one"):
        LlmConfig(model="m", price_per_1k_input=0.1, prices={"m": {"input": 1.0, "output": 2.0}})


def test_batch_calls_are_logged_at_the_batch_discount_with_cached_tokens(server: BatchServer, onto, con) -> None:
    body = completion(json.dumps(GOOD), prompt_tokens=10_000, completion_tokens=1_000)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 8_000}
    server.answers = {"a": body}
    llm = LlmLabeller(llm_cfg(server), onto, V2, client=client(server))
    [row] = label_batch(llm, {"a": "psoriasis"}, sleep=lambda s: None)["a"].calls
    live = (2_000 * 0.15 + 8_000 * 0.075 + 1_000 * 0.60) / 1e6
    assert row["cached_tokens"] == 8_000 and row["batch_id"] == "batch_1"
    assert row["cost_usd"] == pytest.approx(live * 0.5)
    insert_rows(con, "llm_calls", [row])
    assert con.execute("SELECT cached_tokens, batch_id FROM llm_calls").fetchone() == (8_000, "batch_1")
