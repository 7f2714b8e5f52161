"""`derm1m push` against a local stub of the Hugging Face Hub API on 127.0.0.1 (never the network).

The stub answers the calls huggingface_hub 2.x makes for `create_repo` + `upload_folder` on its LFS path
(hf_xet's path uploads to the Hub's Xet storage, which no local stub serves, so the tests push with xet=False):
POST /api/repos/create; POST /api/validate-yaml (the card's header, checked by the Hub before the upload); POST /api/datasets/{repo}/preupload/{rev} (upload mode per file); POST
/datasets/{repo}.git/info/lfs/objects/batch and the PUTs it points to; POST /api/datasets/{repo}/commit/{rev}
(NDJSON). It records what it receives and rebuilds the repository's files from the commit, so the tests
compare the pushed files with the export byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.train.export import assign_splits, write_export
from pipeline.train.push import CardError, export_files, push_export, validate_card
from tests.test_train_export import make_rows

hub = pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed (extra: hf)")
hub_constants = pytest.importorskip("huggingface_hub.constants")
LFS_SUFFIXES = (".parquet", ".tar", ".jpg", ".png")


class HubStub:
    """The Hub's repo, preupload, LFS batch/PUT and commit endpoints, in memory."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.repos: dict[str, dict[str, Any]] = {}  # repo id -> {"private": bool, "files": {path: bytes}}
        self.lfs: dict[str, bytes] = {}  # oid -> bytes
        self.commits: list[dict[str, Any]] = []
        self.auth: set[str] = set()
        self.validated: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                stub.calls.append(("POST", self.path))
                stub.auth.add(self.headers.get("Authorization", ""))
                body = self._body()
                if self.path == "/api/validate-yaml":  # the Hub checks a README's header before the upload
                    req = json.loads(body)
                    stub.validated.append(req)
                    text = req["content"]
                    try:
                        header = yaml.safe_load(text.split("---\n")[1]) if text.startswith("---\n") else {}
                    except yaml.YAMLError as exc:
                        return self._reply(400, {"errors": [{"message": str(exc)}]})
                    if header.get("license") == "other" and not header.get("license_name"):
                        return self._reply(400, {"errors": [{"message": "license_name is required"}]})
                    return self._reply(200, {"errors": [], "warnings": []})
                if self.path == "/api/repos/create":
                    req = json.loads(body)
                    repo = f"{req['organization']}/{req['name']}"
                    if repo in stub.repos:
                        return self._reply(
                            409,
                            {
                                "error": "You already created this dataset repo",
                                "url": f"{stub.url}/datasets/{repo}",
                            },
                        )
                    stub.repos[repo] = {"private": req.get("visibility") == "private", "type": req.get("type"),
                                        "files": {}}  # fmt: skip
                    return self._reply(200, {"url": f"{stub.url}/datasets/{repo}", "name": repo})
                if m := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/preupload/(.+)", self.path):
                    files = json.loads(body)["files"]
                    modes = [{"path": f["path"], "shouldIgnore": False,
                              "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                             for f in files]  # fmt: skip
                    return self._reply(200, {"files": modes})
                if m := re.fullmatch(r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", self.path):
                    objects = []
                    for o in json.loads(body)["objects"]:
                        actions = {} if o["oid"] in stub.lfs else {
                            "actions": {"upload": {"href": f"{stub.url}/lfs-put/{o['oid']}"}}}  # fmt: skip
                        objects.append({"oid": o["oid"], "size": o["size"], **actions})
                    return self._reply(200, {"transfer": "basic", "objects": objects})
                if m := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/commit/(.+)", self.path):
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    repo = stub.repos[m.group(1)]
                    for line in lines[1:]:
                        v = line["value"]
                        if line["key"] == "file":
                            repo["files"][v["path"]] = base64.b64decode(v["content"])
                        elif line["key"] == "lfsFile":
                            if v["oid"] not in stub.lfs:
                                return self._reply(
                                    422, {"error": f"LFS object {v['oid']} was never uploaded"}
                                )
                            repo["files"][v["path"]] = stub.lfs[v["oid"]]
                    stub.commits.append({"repo": m.group(1), "revision": m.group(2), "header": lines[0]["value"],
                                         "kinds": [line["key"] for line in lines[1:]]})  # fmt: skip
                    oid = hashlib.sha1(body).hexdigest()
                    return self._reply(200, {"commitUrl": f"{stub.url}/datasets/{m.group(1)}/commit/{oid}",
                                             "commitOid": oid})  # fmt: skip
                return self._reply(404, {"error": f"stub: no POST {self.path}"})

            def do_PUT(self) -> None:
                stub.calls.append(("PUT", self.path))
                data = self._body()
                oid = self.path.rsplit("/", 1)[-1]
                if hashlib.sha256(data).hexdigest() != oid:
                    return self._reply(400, {"error": "sha256 mismatch"})
                stub.lfs[oid] = data
                return self._reply(200)

            def do_GET(self) -> None:
                stub.calls.append(("GET", self.path))
                return self._reply(404, {"error": f"stub: no GET {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    rows = make_rows(tmp_path)
    return write_export(rows, assign_splits(rows, 0.25, 0), tmp_path / "export", shard_size=5).out_dir


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(
        "HF_HUB_OFFLINE", "0"
    )  # the stub is the only endpoint; offline mode refuses every call
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with HubStub() as s:
        yield s


def test_push_sends_the_whole_export_to_the_stub(export: Path, stub: HubStub) -> None:
    result = push_export(
        export, "derm/derm1m-sample", "hf_test_token", private=True, endpoint=stub.url, xet=False
    )
    repo = stub.repos["derm/derm1m-sample"]
    sent = {p.relative_to(export).as_posix(): p.read_bytes() for p in export_files(export)}
    assert repo["files"] == sent  # every file, byte for byte, under its path
    assert {"README.md", "train.csv", "validation.csv", "release.json", "shards/sizes.json"} <= set(sent)
    assert any(p.startswith("data/train-") for p in sent) and any(p.startswith("images/") for p in sent)
    assert repo["private"] is True and repo["type"] == "dataset"
    assert stub.auth == {"Bearer hf_test_token"}
    assert stub.validated and {(v["content"], v["repoType"]) for v in stub.validated} == {
        (sent["README.md"].decode(), "dataset")
    }
    assert len(stub.commits) == 1 and stub.commits[0]["revision"] == "main"
    assert "pairs (train" in stub.commits[0]["header"]["summary"]
    big = [p for p in sent if p.endswith(LFS_SUFFIXES)]
    assert stub.commits[0]["kinds"].count("lfsFile") == len(big) and len(stub.lfs) == len(
        set(map(sent.get, big))
    )
    assert result.n_files == len(sent) and result.splits == {"train": 23, "validation": 9}
    assert result.commit_url.startswith(f"{stub.url}/datasets/derm/derm1m-sample/commit/")
    assert not [c for c in stub.calls if "huggingface.co" in c[1]]


def test_a_second_push_reuses_the_repo_and_skips_uploaded_objects(export: Path, stub: HubStub) -> None:
    push_export(export, "derm/again", "t", endpoint=stub.url, xet=False)
    puts = sum(m == "PUT" for m, _ in stub.calls)
    (export / "README.md").write_text((export / "README.md").read_text() + "\nA note.\n")
    push_export(export, "derm/again", "t", endpoint=stub.url, xet=False)  # create_repo answers 409: exist_ok
    assert sum(m == "PUT" for m, _ in stub.calls) == puts  # the LFS objects were already there
    assert len(stub.commits) == 2 and stub.repos["derm/again"]["files"]["README.md"].endswith(b"A note.\n")


def test_card_problems_stop_the_push_before_any_call(export: Path, stub: HubStub) -> None:
    card = export / "README.md"
    text = card.read_text()
    card.write_text(text.replace("num_examples: 23", "num_examples: 24"))
    with pytest.raises(CardError, match="23"):
        push_export(export, "derm/x", "t", endpoint=stub.url, xet=False)
    card.write_text(text.replace("data/train-*.parquet", "data/nothing-*.parquet"))
    with pytest.raises(CardError, match="matches no file"):
        validate_card(export)
    card.write_text(text.split("---\n", 2)[2])
    with pytest.raises(CardError, match="no YAML header"):
        validate_card(export)
    card.write_text(text.replace("license: other", "license: other\nlicense: [unclosed"))
    with pytest.raises(CardError, match="does not parse"):
        validate_card(export)
    assert stub.calls == []
    card.write_text(text)
    assert validate_card(export) == {"train": 23, "validation": 9}


def test_a_private_release_never_goes_public_and_a_token_is_required(export: Path, stub: HubStub) -> None:
    release = json.loads((export / "release.json").read_text())
    (export / "release.json").write_text(json.dumps({**release, "release": "private"}))
    with pytest.raises(ConfigError, match="private repository"):
        push_export(export, "derm/public", "t", private=False, endpoint=stub.url, xet=False)
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        push_export(export, "derm/public", "", endpoint=stub.url, xet=False)
    with pytest.raises(ConfigError, match="user/name"):
        push_export(export, "no-namespace", "t", endpoint=stub.url, xet=False)
    assert stub.calls == []


def test_xet_setting_is_restored_after_a_push(export: Path, stub: HubStub) -> None:
    before = hub_constants.HF_HUB_DISABLE_XET
    push_export(export, "derm/xet", "t", endpoint=stub.url, xet=False)
    assert hub_constants.HF_HUB_DISABLE_XET == before


def test_derm1m_push_command(export: Path, stub: HubStub, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from flows.cli import main

    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    release = json.loads((export / "release.json").read_text())
    (export / "release.json").write_text(json.dumps({**release, "release": "research"}))  # may go public
    argv = ["push", str(export), "--repo-id", "derm/cli", "--endpoint", stub.url, "--no-xet", "--public"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "to public dataset derm/cli" in out and f"{stub.url}/datasets/derm/cli/commit/" in out
    assert stub.repos["derm/cli"]["private"] is False and stub.auth == {"Bearer hf_from_env"}
    monkeypatch.delenv("HF_TOKEN")
    assert main(argv) == 2  # no token: a one-line ConfigError, nothing sent
    assert "HF_TOKEN" in capsys.readouterr().err and len(stub.commits) == 1
    monkeypatch.setenv("HF_TOKEN", "t")
    assert (
        main(["push", str(export), "--repo-id", "derm/cli", "--endpoint", stub.url + "/nowhere", "--no-xet"])
        == 1
    )
    assert "derm1m push: " in capsys.readouterr().err
