"""LlmLabeller against a stub OpenAI-compatible server on 127.0.0.1 (no network, no model).

The stub serves scripted chat.completion answers from a queue and records every request body, so the
tests see exactly what goes over the wire: response_format per json_mode, the corrective retry, and
the openai client's own retries on 429/5xx.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("openai")

from ontology import Ontology  # noqa: E402
from pipeline.augment.llm import LlmAnnotation, LlmLabeller  # noqa: E402
from pipeline.config import LlmConfig  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402
from pipeline.vocab.lexical import NO_AGE, NO_BODY_LOCATION, NO_DIAGNOSIS, NO_SKIN_TONE  # noqa: E402
from pipeline.warehouse import insert_rows  # noqa: E402

TEXT = "Well-demarcated erythematous plaques with silvery scale on the elbows of a 45-year-old man; itchy."
GOOD = {
    "disease": "plaque psoriasis", "concepts": ["plaque", "Erythematous", "scale", "ruler"],
    "body_location": ["elbow"], "symptoms": ["itch"], "age": "45", "gender": "Male", "skin_tone": None,
}  # fmt: skip

V2 = "ontology_labels.v2"  # these tests script v2 answers; v3 (the shortlist) is tested in test_llm_shortlist.py


def completion(content: str, prompt_tokens: int = 321, completion_tokens: int = 42) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": "stub-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


class Stub:
    """Scripted replies: (status, JSON body, headers); `default` answers once the queue is empty."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self.default: tuple[int, dict[str, Any], dict[str, str]] = (500, {"error": {"message": "empty"}}, {})
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0  # seconds before each reply (client timeouts)
        self.url = ""

    def answer(self, content: object, **usage: int) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.replies.append((200, completion(text, **usage), {}))

    def fail(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.replies.append(
            (status, {"error": {"message": f"stub {status}", "type": "server_error"}}, headers or {})
        )


@pytest.fixture
def stub():
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append({"path": self.path, **json.loads(body)})
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            status, payload, headers = state.replies.popleft() if state.replies else state.default
            time.sleep(state.delay)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


def labeller(stub: Stub, onto: Ontology, **cfg: Any) -> LlmLabeller:
    settings = {"base_url": stub.url, "model": "test-model", "api_key_env": "DERM_TEST_UNSET_KEY",
                "timeout_s": 5.0, "max_retries": 0, **cfg}  # fmt: skip
    return LlmLabeller(LlmConfig(**settings), onto, V2)


def test_valid_answer_gives_lexical_style_labels(stub, onto, con):
    stub.answer(GOOD, prompt_tokens=1000, completion_tokens=77)
    llm = labeller(stub, onto)
    out = llm.label(TEXT)
    assert out.reason is None and out.labels is not None
    labels = out.labels
    assert labels.disease_label == "plaque psoriasis"
    assert labels.hierarchical_disease_label == onto.hierarchical_label("plaque_psoriasis")
    assert labels.hierarchical_disease_label.endswith("psoriasis, plaque psoriasis")
    assert labels.condition_ids == ["plaque_psoriasis"]
    assert labels.concept_ids == ["plaque", "erythema", "scale"]  # synonym resolved, artefact dropped
    assert labels.skin_concept == "plaque, erythema, scale"
    assert (labels.body_location, labels.symptoms) == ("elbow", "pruritus")
    assert (labels.age, labels.gender, labels.skin_tone) == ("45", "male", NO_SKIN_TONE)
    assert labels.mentions == []
    assert llm.prompt_key == "ontology_labels.v2"
    [row] = out.calls
    assert (row["prompt"], row["model"], row["error"]) == ("ontology_labels.v2", "test-model", None)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (1000, 77)
    assert json.loads(row["response"]) == GOOD and json.loads(row["parsed"])["disease"] == "plaque psoriasis"
    assert len(row["input_hash"]) == 64 and len(row["call_id"]) == 32 and row["latency_ms"] > 0
    assert isinstance(row["created_at"], datetime) and row["created_at"].tzinfo is None
    assert json.loads(row["request"])["response_format"] == "json_schema"
    [request] = stub.requests
    assert request["path"] == "/v1/chat/completions" and request["model"] == "test-model"
    prompt = request["messages"][0]["content"]
    assert TEXT in prompt and "\nplaque psoriasis\n" in prompt and "{condition_list}" not in prompt
    assert stub.headers[0]["authorization"] == "Bearer not-needed"
    assert insert_rows(con, "llm_calls", out.calls) == 1  # the row fits migration 0008
    assert con.execute("SELECT prompt_tokens, parsed->>'disease' FROM llm_calls").fetchone() == (
        1000, "plaque psoriasis",
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["json_schema", "json_object"])
def test_response_format_follows_json_mode(stub, onto, monkeypatch, mode):
    monkeypatch.setenv("DERM_TEST_KEY", "sk-test")
    stub.answer(GOOD)
    out = labeller(stub, onto, json_mode=mode, api_key_env="DERM_TEST_KEY").label(TEXT)
    assert out.labels is not None and out.labels.disease_label == "plaque psoriasis"
    fmt = stub.requests[0]["response_format"]
    assert fmt["type"] == mode
    schema = fmt["json_schema"]["schema"] if mode == "json_schema" else fmt["schema"]
    assert set(schema["properties"]) == set(LlmAnnotation.model_fields)
    assert stub.headers[0]["authorization"] == "Bearer sk-test"


def test_unknown_label_is_corrected_after_one_retry(stub, onto):
    stub.answer({**GOOD, "disease": "dragon scale disease", "concepts": ["glitter", "plaque"]})
    stub.answer(GOOD)
    out = labeller(stub, onto).label(TEXT)
    assert out.labels is not None and out.labels.disease_label == "plaque psoriasis"
    assert len(stub.requests) == 2 and len(out.calls) == 2
    first, second = out.calls
    assert "dragon scale disease" in first["error"] and "glitter" in first["error"]
    assert "'plaque'" not in first["error"]  # only the bad labels are listed
    assert first["parsed"] is not None and second["error"] is None
    retry = stub.requests[1]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]
    assert json.loads(retry[1]["content"])["disease"] == "dragon scale disease"
    assert first["error"] in retry[2]["content"]
    assert first["input_hash"] != second["input_hash"]


def test_ambiguous_abbreviation_asks_for_the_full_name(stub, onto):
    stub.answer({**GOOD, "disease": "PG"})
    stub.answer({**GOOD, "disease": "pyoderma gangrenosum"})
    out = labeller(stub, onto).label("PG on the shin")
    assert out.labels is not None and out.labels.condition_ids == ["pyoderma_gangrenosum"]
    assert "ambiguous" in out.calls[0]["error"] and "pyogenic granuloma" in out.calls[0]["error"]


def test_invalid_twice_is_llm_invalid_output(stub, onto):
    stub.answer("Sure! The diagnosis is psoriasis.")
    stub.answer({"disease": 3})
    out = labeller(stub, onto).label(TEXT)
    assert out.labels is None and out.reason == "llm_invalid_output"
    assert len(out.calls) == 2 and len(stub.requests) == 2
    assert all(row["error"] and row["parsed"] is None for row in out.calls)
    assert out.calls[0]["response"] == "Sure! The diagnosis is psoriasis."
    assert "concepts" in out.detail and out.detail == out.calls[1]["error"]
    assert "JSON" in stub.requests[1]["messages"][-1]["content"]


def test_no_findings_give_the_sentinels(stub, onto):
    stub.answer({"disease": None, "concepts": [], "body_location": [], "symptoms": [], "age": "unknown",
                 "gender": None, "skin_tone": "Fitzpatrick V"})  # fmt: skip
    out = labeller(stub, onto, json_mode="json_object").label("A picture of Fitzpatrick type V skin.")
    assert out.labels is not None
    assert (out.labels.disease_label, out.labels.hierarchical_disease_label) == (NO_DIAGNOSIS, NO_DIAGNOSIS)
    assert out.labels.condition_ids == [] and out.labels.body_location == NO_BODY_LOCATION
    assert (out.labels.age, out.labels.skin_tone) == (NO_AGE, "Fitzpatrick V")


def test_http_500_is_retried_by_the_client(stub, onto):
    stub.fail(500)
    stub.answer(GOOD)
    start = time.monotonic()
    out = labeller(stub, onto, max_retries=1).label(TEXT)
    assert time.monotonic() - start < 3.0  # one backoff of ~0.5 s
    assert out.labels is not None and len(stub.requests) == 2
    [row] = out.calls  # the client's wire retry is inside one logged call
    assert row["error"] is None and row["prompt_tokens"] == 321


def test_429_with_retry_after_zero(stub, onto):
    stub.fail(429, {"Retry-After": "0"})
    stub.answer(GOOD)
    start = time.monotonic()
    out = labeller(stub, onto, max_retries=1).label(TEXT)
    assert time.monotonic() - start < 3.0
    assert out.labels is not None and len(stub.requests) == 2 and out.calls[0]["error"] is None


def test_server_down_is_llm_unavailable(stub, onto, con):
    stub.default = (503, {"error": {"message": "overloaded", "type": "server_error"}}, {})
    out = labeller(stub, onto, max_retries=1).label(TEXT)
    assert out.labels is None and out.reason == "llm_unavailable"
    assert len(stub.requests) == 2  # the first try and the client's one retry; no corrective retry
    [row] = out.calls
    assert "503" in row["error"] and "InternalServerError" in row["error"] and row["response"] is None
    assert out.detail == row["error"]
    assert insert_rows(con, "llm_calls", out.calls) == 1


def test_client_timeout_is_llm_unavailable(stub, onto):
    stub.delay = 0.5
    stub.answer(GOOD)
    out = labeller(stub, onto, timeout_s=0.05).label(TEXT)
    assert out.reason == "llm_unavailable" and "APITimeoutError" in out.calls[0]["error"]


def test_connection_refused_is_llm_unavailable(onto):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = LlmConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=1.0, max_retries=0)
    out = LlmLabeller(cfg, onto).label(TEXT)
    assert out.reason == "llm_unavailable" and "APIConnectionError" in out.calls[0]["error"]


def test_prompt_without_text_placeholder_is_a_config_error(onto):
    with pytest.raises(ConfigError, match="placeholder|must use"):
        LlmLabeller(LlmConfig(), onto, prompt_name="subcaption_split")  # uses {caption}
    with pytest.raises(ConfigError):
        LlmLabeller(LlmConfig(), onto, prompt_name="no_such_prompt")


def test_augment_stage_llm_method_logs_calls_and_rejects(stub, onto, con):
    """The stage with `augment.method: llm`: labels from the server, calls logged, bad answers rejected,
    and a rerun asks the server nothing."""
    from pipeline.augment.stage import AugmentStage
    from pipeline.config import RunConfig
    from pipeline.stage import run_stage
    from pipeline.warehouse import insert_rows

    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": text, "align_score": 1.0}
        for pid, text in (("p1", "Itchy ring on my forearm, 34F. Doctor said ringworm."), ("p2", "What is this?"))
    ])  # fmt: skip
    stub.answer({"disease": "tinea corporis", "concepts": ["annular"], "body_location": ["forearm"],
                 "symptoms": ["pruritus"], "age": "34", "gender": "female", "skin_tone": None})
    stub.answer({"disease": "not a real disease", "concepts": [], "body_location": [], "symptoms": [],
                 "age": None, "gender": None, "skin_tone": None})
    stub.answer({"disease": "still not real", "concepts": [], "body_location": [], "symptoms": [],
                 "age": None, "gender": None, "skin_tone": None})
    cfg = RunConfig()
    cfg.augment.method = "llm"
    cfg.augment.llm_prompt = V2  # v2-shaped scripted answers (the whole ontology)
    cfg.llm = LlmConfig(base_url=stub.url, model="test-model", api_key_env="DERM_TEST_UNSET_KEY",
                                timeout_s=5.0, max_retries=0)
    report = run_stage(con, AugmentStage(cfg, onto), "r1", batch_size=1)
    assert (report.items_out, report.items_rejected) == (1, 1)
    row = con.execute("SELECT method, prompt_version, disease_label, age, gender FROM augment_captions").fetchall()
    assert row == [("llm:test-model", "ontology_labels.v2", "tinea corporis", "34", "female")]
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("llm_invalid_output",)]
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 3
    again = run_stage(con, AugmentStage(cfg, onto), "r2")
    assert again.items_in == 0 and len(stub.requests) == 3


def test_free_text_fields_lose_trailing_list_punctuation() -> None:
    """SmolLM2 answered age "34," through llama.cpp; placeholders still mean "not stated"."""
    from pipeline.augment.llm import _free

    assert _free(" 34, ") == "34" and _free("female.") == "female" and _free("4 months") == "4 months"
    assert _free("unknown") == "" and _free(None) == ""


def test_llm_outage_leaves_units_pending_and_the_next_run_labels_them(stub, onto, con):
    """Server down (503 after retries): no rejects, nothing recorded as done, the stage run `degraded` with
    the reason; a rerun with the server back labels every pair. A refused connection counts the same."""
    from pipeline.augment.stage import AugmentStage
    from pipeline.config import RunConfig
    from pipeline.stage import run_stage
    from pipeline.warehouse import insert_rows

    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": text, "align_score": 1.0} for pid, text in (("p1", TEXT), ("p2", "a ring on the arm"))
    ])  # fmt: skip
    cfg = RunConfig()
    cfg.augment.method = "llm"
    cfg.augment.llm_prompt = V2  # v2-shaped scripted answers (the whole ontology)
    cfg.llm = LlmConfig(base_url=stub.url, model="test-model", api_key_env="DERM_TEST_UNSET_KEY",
                        timeout_s=5.0, max_retries=0)
    stub.default = (503, {"error": {"message": "overloaded", "type": "server_error"}}, {})
    down = run_stage(con, AugmentStage(cfg, onto), "r1")
    assert (down.status, down.items_pending, down.items_out, down.items_rejected) == ("degraded", 2, 0, 0)
    row = con.execute("SELECT status, items_pending, error FROM stage_runs WHERE run_id = 'r1'").fetchone()
    assert row[:2] == ("degraded", 2) and "InternalServerError" in row[2] and "retries" in row[2]
    assert con.execute("SELECT count(*) FROM work_log WHERE stage = 'augment'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 2  # the failed calls are logged
    stub.default = (200, completion(json.dumps(GOOD)), {})
    up = run_stage(con, AugmentStage(cfg, onto), "r2")
    assert (up.status, up.items_in, up.items_out) == ("ok", 2, 2)
    with socket.socket() as sock:  # nothing listens there: connection refused
        sock.bind(("127.0.0.1", 0))
        cfg.llm.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    cfg.augment.refined_max_words = 30  # an output setting: both pairs are redone...
    cfg.llm.cache = False  # ...and asked again (with the cache on, llm_cache would answer them)
    refused = run_stage(con, AugmentStage(cfg, onto), "r3")
    assert (refused.status, refused.items_pending) == ("degraded", 2)
    assert con.execute("SELECT count(*) FROM augment_captions").fetchone()[0] == 2  # the last labels remain


def test_build_with_the_llm_server_down_exits_1_then_labels_on_the_next_build(stub, onto, tmp_path, capsys,
                                                                               prefect_harness):
    """`derm1m build --stages augment` with the LLM server answering 503: exit 1, one line naming the stage
    and the reason, the pairs pending; the same command with the server back: exit 0, every pair labelled."""
    from flows.cli import main
    from pipeline.warehouse import connect, insert_rows

    prof = tmp_path / "p.yaml"
    prof.write_text(f"root: .\nwarehouse: {tmp_path / 'w.duckdb'}\naugment: {{method: llm, llm_prompt: {V2}}}\n"
                    f"llm: {{base_url: '{stub.url}', model: test-model, api_key_env: DERM_TEST_UNSET_KEY, "
                    "max_retries: 0, timeout_s: 5}\n")
    con = connect(tmp_path / "w.duckdb")
    insert_rows(con, "pair_image_texts", [
        {"pair_id": "p1", "unit_key": "p1", "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": TEXT, "align_score": 1.0}])  # fmt: skip
    con.close()
    stub.default = (503, {"error": {"message": "overloaded", "type": "server_error"}}, {})
    assert main(["--config", str(prof), "build", "--stages", "augment"]) == 1
    err = capsys.readouterr().err
    assert "augment degraded: 1 unit(s) could not reach an external service" in err
    stub.default = (200, completion(json.dumps(GOOD)), {})
    assert main(["--config", str(prof), "build", "--stages", "augment"]) == 0
    con = connect(tmp_path / "w.duckdb")
    assert con.execute("SELECT disease_label FROM augment_captions").fetchall() == [("plaque psoriasis",)]
