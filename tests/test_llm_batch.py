"""Batch API mode against a stub server implementing the /v1/files and /v1/batches endpoints the openai
client calls (upload, create, retrieve, content), plus chat completions for the corrective retry."""

from __future__ import annotations

import json
import threading
from collections import deque
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("openai")

import test_llm  # noqa: E402
from test_llm import GOOD, completion  # noqa: E402

from pipeline.augment.batch import batch_lines, label_batch  # noqa: E402
from pipeline.augment.llm import LlmLabeller  # noqa: E402
from pipeline.config import LlmConfig  # noqa: E402
from pipeline.warehouse import insert_rows  # noqa: E402

onto = test_llm.onto

V2 = "ontology_labels.v2"  # these tests script v2 answers; v3 (the shortlist) is tested in test_llm_shortlist.py


class BatchServer:
    """Files and batches in memory. `answer(custom_id, body)` scripts each batch line's answer; the batch
    reports `in_progress` for `polls` retrievals, then `final_status`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, Any] = {}  # custom_id -> chat.completion body, or int status for an error
        self.chat: deque[dict[str, Any]] = deque()
        self.log: list[tuple[str, str]] = []
        self.uploaded: list[dict[str, Any]] = []
        self.polls, self.final_status = 2, "completed"
        self.url = ""

    def _file(self, data: bytes) -> str:
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = data
        return fid

    def run_batch(self, batch: dict[str, Any]) -> None:
        out, err = [], []
        for raw in self.files[batch["input_file_id"]].decode().splitlines():
            line = json.loads(raw)
            self.uploaded.append(line)
            answer = self.answers.get(line["custom_id"], 500)
            if isinstance(answer, int):
                err.append({"id": "r", "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "server_error", "message": f"stub {answer}"}})
            else:
                out.append({"id": "r", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": "q", "body": answer}})
        batch["output_file_id"] = self._file("".join(json.dumps(x) + "\n" for x in out).encode()) if out else None
        batch["error_file_id"] = self._file("".join(json.dumps(x) + "\n" for x in err).encode()) if err else None


@pytest.fixture
def server():
    state = BatchServer()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            state.log.append(("GET", self.path))
            parts = self.path.split("/")  # /v1/batches/<id> or /v1/files/<id>/content
            if parts[2] == "batches":
                batch = state.batches[parts[3]]
                if batch["status"] == "in_progress":
                    batch["_polls"] += 1
                    if batch["_polls"] > state.polls:
                        batch["status"] = state.final_status
                        if state.final_status == "completed":
                            state.run_batch(batch)
                self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
            else:
                self._send(200, None, raw=state.files[parts[3]])

        def do_POST(self) -> None:  # noqa: N802
            state.log.append(("POST", self.path))
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/files":
                head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = BytesParser().parsebytes(head + body)
                fields = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                          for p in message.get_payload()}
                assert fields["purpose"] == b"batch"
                fid = state._file(fields["file"])
                self._send(200, {"id": fid, "object": "file", "bytes": len(fields["file"]), "created_at": 1,
                                 "filename": "augment_batch.jsonl", "purpose": "batch", "status": "processed"})
            elif self.path == "/v1/batches":
                req = json.loads(body)
                bid = f"batch_{len(state.batches) + 1}"
                state.batches[bid] = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                                      "input_file_id": req["input_file_id"], "completion_window": "24h",
                                      "status": "in_progress", "created_at": 1, "output_file_id": None,
                                      "error_file_id": None, "metadata": req.get("metadata"), "_polls": 0}
                self._send(200, {k: v for k, v in state.batches[bid].items() if not k.startswith("_")})
            elif self.path.endswith("/cancel"):
                bid = self.path.split("/")[3]
                state.batches[bid]["status"] = "cancelled"
                self._send(200, {k: v for k, v in state.batches[bid].items() if not k.startswith("_")})
            else:  # chat completions: the live corrective retry
                self._send(200, state.chat.popleft() if state.chat else {"error": "empty"})

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


def make(server: BatchServer, onto, **cfg: Any) -> LlmLabeller:
    settings = {"base_url": server.url, "model": "batch-model", "api_key_env": "DERM_TEST_UNSET_KEY",
                "timeout_s": 5.0, "max_retries": 0, "batch_poll_s": 0.01, "price_per_1k_input": 0.075,
                "price_per_1k_output": 0.3, **cfg}  # fmt: skip
    return LlmLabeller(LlmConfig(**settings), onto, V2)


def test_batch_round_trip_with_retry_failure_and_cache(server: BatchServer, onto, con) -> None:
    texts = {"p1": "psoriasis on the elbows", "p2": "ringworm on the arm", "p3": "bad answer", "p4": "lost"}
    server.answers = {"p1": completion(json.dumps(GOOD), prompt_tokens=2000, completion_tokens=100),
                      "p2": completion(json.dumps({**GOOD, "disease": "tinea corporis"})),
                      "p3": completion(json.dumps({**GOOD, "disease": "made-up disease"})), "p4": 500}
    server.chat.append(completion(json.dumps({**GOOD, "disease": "tinea pedis"})))  # p3's live retry
    llm = make(server, onto)
    slept: list[float] = []
    out = label_batch(llm, texts, cached=None, sleep=slept.append)
    assert [m for m, _ in server.log[:2]] == ["POST", "POST"] and server.log[1][1] == "/v1/batches"
    assert len(slept) == 3  # polled until the stub finished (2 in_progress answers)
    assert [line["custom_id"] for line in server.uploaded] == ["p1", "p2", "p3", "p4"]
    assert server.uploaded[0]["body"]["response_format"]["type"] == "json_schema"
    assert out["p1"].labels is not None and out["p1"].labels.disease_label == "plaque psoriasis"
    [row] = out["p1"].calls
    assert row["cost_usd"] == pytest.approx(2000 * 0.075 / 1000 + 100 * 0.3 / 1000) and row["latency_ms"] is None
    assert out["p2"].labels is not None and out["p2"].labels.disease_label == "tinea corporis"
    assert out["p3"].labels is not None and out["p3"].labels.disease_label == "tinea pedis"
    assert len(out["p3"].calls) == 2 and "made-up disease" in out["p3"].calls[0]["error"]
    assert out["p4"].reason == "llm_unavailable" and "stub 500" in out["p4"].detail
    calls = [c for o in out.values() for c in o.calls]
    assert insert_rows(con, "llm_calls", calls) == 5
    assert insert_rows(con, "llm_cache", [r for o in out.values() for r in o.cache_rows]) == 3
    # a rerun: cached texts are not sent again, only the failed one
    cache = dict(con.execute("SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache").fetchall())
    server.answers["p4"] = completion(json.dumps(GOOD))
    again = label_batch(make(server, onto), texts, cached=cache, sleep=slept.append)
    assert all(again[k].cached for k in ("p1", "p2", "p3")) and again["p4"].labels is not None
    assert [line["custom_id"] for line in server.uploaded[4:]] == ["p4"]


def test_failed_batch_leaves_items_unavailable(server: BatchServer, onto) -> None:
    server.final_status = "expired"
    out = label_batch(make(server, onto), {"a": "x", "b": "y"}, sleep=lambda s: None)
    assert {o.reason for o in out.values()} == {"llm_unavailable"}
    assert "expired" in out["a"].detail and len(out["a"].calls) == 1


def test_batch_timeout_cancels(server: BatchServer, onto) -> None:
    server.polls = 10**6
    out = label_batch(make(server, onto, batch_timeout_s=0.05, batch_poll_s=0.02), {"a": "x"})
    assert out["a"].reason == "llm_unavailable" and "cancelled" in out["a"].detail
    assert ("POST", "/v1/batches/batch_1/cancel") in server.log


def test_batch_lines_follow_json_mode(onto) -> None:
    llm = LlmLabeller(LlmConfig(json_mode="json_object"), onto, V2)
    [line] = batch_lines(llm, {"k": "text"})
    assert line["url"] == "/v1/chat/completions" and line["body"]["response_format"]["type"] == "json_object"
    assert line["body"]["messages"] == llm.messages("text")


def test_augment_stage_in_batch_mode(server: BatchServer, onto, con) -> None:
    from pipeline.augment.stage import AugmentStage
    from pipeline.config import RunConfig
    from pipeline.stage import run_stage

    texts = {"p1": "psoriasis on the elbows", "p2": "psoriasis on the elbows", "p3": "a ringworm"}
    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": "post:x", "image_id": "i", "cluster_id": "i",
         "source_image_id": "i", "kind": "post_text", "source": "reddit_english", "source_type": "forum",
         "text": text, "align_score": 1.0} for pid, text in texts.items()
    ])  # fmt: skip
    server.answers = {"p1": completion(json.dumps(GOOD)), "p3": 500}
    cfg = RunConfig()
    cfg.augment.method = "llm"
    cfg.augment.llm_prompt = V2  # v2-shaped scripted answers (the whole ontology)
    cfg.llm = LlmConfig(base_url=server.url, model="batch-model", api_key_env="DERM_TEST_UNSET_KEY",
                                timeout_s=5.0, max_retries=0, batch=True, batch_poll_s=0.01)
    report = run_stage(con, AugmentStage(cfg, onto), "r1")
    assert (report.items_out, report.items_rejected) == (2, 0)  # identical p2 shares p1's answer
    assert (report.status, report.items_pending) == ("degraded", 1)  # p3's 500: the server's fault, pending
    assert [line["custom_id"] for line in server.uploaded] == ["p1", "p3"]
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 2  # the failed call is logged
    server.answers["p3"] = completion(json.dumps(GOOD))  # the server is back
    again = run_stage(con, AugmentStage(cfg, onto), "r2")  # only the pending unit is batched again
    assert (again.items_in, again.items_out, again.status) == (1, 1, "ok")
    assert [line["custom_id"] for line in server.uploaded] == ["p1", "p3", "p3"]
    assert run_stage(con, AugmentStage(cfg, onto), "r3").items_in == 0


def test_label_csv_batch_mode(server: BatchServer, onto, tmp_path) -> None:
    import csv

    from pipeline.augment.label_csv import label_csv
    from pipeline.config import RunConfig

    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("caption\nfirst\nsecond\n")
    server.answers = {"0": completion(json.dumps(GOOD)), "1": 500}
    cfg = RunConfig(llm=LlmConfig(base_url=server.url, model="m", api_key_env="DERM_TEST_UNSET_KEY",
                                      timeout_s=5.0, max_retries=0, batch=True, batch_poll_s=0.01))
    assert label_csv(src, dst, "llm", cfg, onto) == {"rows": 2, "labelled": 1, "with_diagnosis": 1, "errors": 1}
    with dst.open(newline="") as fh:
        first, second = csv.DictReader(fh)
    assert first["disease_label"] == "plaque psoriasis" and second["label_error"].startswith("llm_unavailable")


def test_a_large_run_goes_as_several_batches_within_the_limits(server: BatchServer, onto) -> None:
    """Input files are cut by `llm.batch_max_requests` and `llm.batch_max_bytes`; with the caps made small,
    5 texts go as 3 batches of at most 2 requests, and every text is labelled."""
    from pipeline.llm.batch import split

    lines = [(str(i), b"y" * 139 + b"\n") for i in range(5)]
    assert [len(k) for k, _ in split(lines, 2, 10**6)] == [2, 2, 1]
    assert [len(k) for k, _ in split(lines, 10**6, 300)] == [2, 2, 1]  # 140 bytes a line
    assert [len(k) for k, _ in split(lines, 10**6, 100)] == [1] * 5  # a line over the cap goes alone
    assert [data for _, data in split(lines, 3, 10**6)][0] == b"".join(line for _, line in lines[:3])
    assert list(split([], 2, 300)) == []
    texts = {f"t{i}": f"psoriasis case {i}" for i in range(5)}
    server.answers = {k: completion(json.dumps(GOOD)) for k in texts}
    out = label_batch(make(server, onto, batch_max_requests=2), texts, sleep=lambda s: None)
    assert all(o.labels is not None for o in out.values()) and len(out) == 5
    assert [line["custom_id"] for line in server.uploaded] == list(texts)
    assert len(server.batches) == 3
    one = len(json.dumps(batch_lines(make(server, onto), {"t0": texts["t0"]})[0]))
    server.uploaded.clear()
    label_batch(make(server, onto, cache=False, batch_max_bytes=2 * one + 100), texts, sleep=lambda s: None)
    assert len(server.batches) == 6  # ~2 lines a file by bytes
