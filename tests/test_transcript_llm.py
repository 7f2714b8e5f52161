"""LLM transcript correction (pipeline.clean.transcript_llm) with a scripted OpenAI-compatible client:
kept corrections, rejected rewrites, failed calls, and every call logged as an llm_calls row."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.clean.transcript_llm import LlmTranscriptCorrector
from pipeline.config import LlmConfig, RunConfig
from pipeline.stage import WorkUnit
from pipeline.vocab.transcript import default_corrector


class ScriptedClient:
    """`client.chat.completions.with_raw_response.create(...)` answering from a list: a dict (JSON content),
    a string (content as is) or an exception."""

    def __init__(self, *answers: object) -> None:
        self.answers, self.requests = list(answers), list[dict[str, Any]]()
        raw = SimpleNamespace(create=self._create)
        self.chat = SimpleNamespace(completions=SimpleNamespace(with_raw_response=raw))

    def _create(self, **request: Any) -> object:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        content = answer if isinstance(answer, str) else json.dumps(answer)
        body = {"choices": [{"message": {"content": content}}], "usage": {"prompt_tokens": 120, "completion_tokens": 30}}
        return SimpleNamespace(http_response=SimpleNamespace(json=lambda: body, text=json.dumps(body)))


CFG = LlmConfig(model="stub-model", price_per_1k_input=1.0, price_per_1k_output=2.0)


def test_kept_correction_with_vocabulary_and_call_row() -> None:
    client = ScriptedClient({"corrected": "Basal cell carcinoma is a pearly papule.",
                             "changes": [{"from": "bristle cell carcinoma", "to": "basal cell carcinoma"}]})
    llm = LlmTranscriptCorrector(CFG, default_corrector(), client=client)
    text, changes, row = llm.correct("Bristle cell carcinoma is a pearly papule.")
    assert text == "Basal cell carcinoma is a pearly papule."
    assert [(c.original, c.replacement, c.start, c.method) for c in changes] == [
        ("bristle cell carcinoma", "basal cell carcinoma", 0, "llm:stub-model")]
    assert changes[0].node_id  # the replacement resolved onto the ontology
    prompt = client.requests[0]["messages"][0]["content"]
    assert "Bristle cell carcinoma is a pearly papule." in prompt and "basal cell carcinoma" in prompt
    assert client.requests[0]["response_format"] == {"type": "json_object"}
    assert row["prompt"] == "transcript_correction.v1" and row["model"] == "stub-model" and row["error"] is None
    assert row["cost_usd"] == pytest.approx((120 * 1.0 + 30 * 2.0) / 1000)
    assert row["parsed"] and row["latency_ms"] is not None


@pytest.mark.parametrize("answer, error", [
    ({"corrected": "A completely different sentence about acne treatment options.", "changes": []}, "rewrite"),
    ("not json at all", "required form"),
    ({"changes": []}, "required form"),
    (TimeoutError("read timed out"), "TimeoutError"),
])
def test_bad_answers_keep_the_original(answer: object, error: str) -> None:
    llm = LlmTranscriptCorrector(CFG, default_corrector(), client=ScriptedClient(answer))
    original = "Psoriasis presents as well demarcated plaques."
    text, changes, row = llm.correct(original)
    assert text == original and changes == [] and error in row["error"]


def test_clean_stage_llm_pass_logs_calls_and_changes() -> None:
    from pipeline.clean.stage import CleanStage
    from pipeline.clean.units import TranscriptUnit

    cfg = RunConfig()
    cfg.clean.transcript.llm_correct = True
    stage = CleanStage(cfg, llm_client=ScriptedClient(
        {"corrected": "Psoriasis presents as plaques.", "changes": []},
        {"corrected": "Eczema herpeticum needs aciclovir.",
         "changes": [{"from": "eczema her pet icum", "to": "eczema herpeticum"}]},
    ))
    segs = [(0, 0.0, 3.0, "Um, sorry asis presents as plaques."), (1, 3.0, 6.0, "Eczema her pet icum needs aciclovir.")]
    res = stage.process(WorkUnit("transcript:v", "fp", TranscriptUnit("v", tuple(segs))))
    corr = [(r["seg_index"], r["original"], r["replacement"], r["method"]) for r in res.rows["clean_transcript_corrections"]]
    assert corr == [(0, "sorry asis", "psoriasis", "phonetic_exact"),
                    (1, "eczema her pet icum", "eczema herpeticum", "llm:gpt-4o-mini")]
    assert [r["text"] for r in res.rows["clean_transcript_segments"]] == [
        "Psoriasis presents as plaques.", "Eczema herpeticum needs aciclovir."]
    calls = res.rows["llm_calls"]
    assert len(calls) == 2 and {c["prompt"] for c in calls} == {"transcript_correction.v1"}
    assert "llm_calls" in stage.shared_tables
