"""Platform pieces without a build: fsspec storage, resource tags, picklable stage specs for Dask workers,
the stage artifact's markdown, the SQL shell and the report's HTML over a tiny warehouse."""

from __future__ import annotations

import io
import pickle

import numpy as np

from pipeline import storage
from pipeline.config import RunConfig
from pipeline.media import MediaStore, normalise_image
from pipeline.stage import StageReport, WorkUnit
from pipeline.warehouse import insert_rows, now


def test_storage_paths_and_memory_urls(tmp_path):
    local = storage.join(tmp_path, "a", "b.bin")
    storage.write_bytes(local, b"xyz")
    assert storage.exists(local) and storage.read_bytes(local) == b"xyz"
    assert not list(tmp_path.rglob("*.part"))
    url = storage.join("memory://derm1m-test", "media", "c.bin")
    assert url == "memory://derm1m-test/media/c.bin" and storage.is_remote(url)
    storage.write_bytes(url, b"abc")
    assert storage.exists(url) and storage.read_bytes(url) == b"abc"
    with storage.open_file(url) as fh:
        assert fh.read() == b"abc"


def test_media_store_on_an_fsspec_url():
    img = normalise_image(np.full((40, 60, 3), 90, np.uint8), RunConfig().preprocess.image)
    store = MediaStore("memory://derm1m-media")
    loc = store.put(img)
    assert isinstance(loc, str) and loc.startswith("memory://derm1m-media/images/")
    assert store.put(img) == loc and storage.read_bytes(loc) == img.data


def test_clean_and_export_read_images_from_an_fsspec_media_store(tmp_path):
    """With `media_url` set, stored images are URLs: clean scores and hashes them and the export copies
    them into the CSV layout and the shards through pipeline.storage, never as local paths."""
    from pipeline.clean.filters import score_image
    from pipeline.train.export import ExportRow, write_export
    from pipeline.vision.dedup import hash_columns

    rng = np.random.default_rng(3)
    pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    img = normalise_image(pixels, RunConfig().preprocess.image)
    loc = MediaStore("memory://derm1m-clean").put(img)
    local = tmp_path / "same.jpg"
    local.write_bytes(img.data)
    scores = score_image(loc)
    assert (scores.width, scores.height) == (64, 48) and scores == score_image(local)
    assert hash_columns(loc) == hash_columns(local)
    row = ExportRow(pair_id="p1", image_id="im1", image_path=loc, group_id="g", cluster_id="c", caption="plaque")
    manifest = write_export([row], {"p1": "train"}, tmp_path / "export", shard_size=10)
    assert (manifest.out_dir / manifest.filenames["p1"]).read_bytes() == img.data
    import tarfile

    with tarfile.open(manifest.shards[0]) as tar:
        assert img.data in [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".jpg")]


def test_stages_name_the_shared_resources_their_units_use():
    from pipeline.augment.stage import AugmentStage
    from pipeline.clean.stage import CleanStage
    from pipeline.clean.units import TranscriptUnit
    from pipeline.collect.stage import CollectStage
    from pipeline.pair.stage import PairInput, PairStage
    from pipeline.preprocess.stage import PreprocessStage

    cfg = RunConfig()
    keyframe = PairInput("v#scene0001", "v", "keyframe", None, "i", "i", "i", "local", "video")
    collect = CollectStage(cfg, sources=[])
    assert collect.resources(WorkUnit("k", "f", {"source": "pubmed"})) == ("download", "host:eutils.ncbi.nlm.nih.gov")
    assert collect.resources(WorkUnit("k", "f", {"source": "pdf_urls", "url": "https://Ex.org/a.pdf"})) == (
        "download", "host:ex.org")
    assert collect.resources(WorkUnit("k", "f", {"source": "local_pdfs", "path": "/x"})) == ()
    asr_gpu = ("gpu",) if PreprocessStage(cfg).device() == "cuda" else ()  # ASR on CUDA takes the gpu slot
    assert PreprocessStage(cfg).resources(WorkUnit("k", "f", {"kind": "video"})) == asr_gpu
    assert PreprocessStage(cfg).resources(WorkUnit("k", "f", {"kind": "article"})) == ()
    assert CleanStage(cfg).resources(WorkUnit("k", "f", TranscriptUnit("v", ()))) == ()
    assert PairStage(cfg).resources(WorkUnit("k", "f", keyframe)) == ()
    cfg.augment.method, cfg.clean.transcript.llm_correct, cfg.pair.caption_method = "llm", True, "llm"
    augment = AugmentStage(cfg, llm_client=object())
    assert augment.resources(WorkUnit("k", "f", {"text": "t"})) == ("llm",)
    assert augment.resources(WorkUnit("k", "f", {"text": "t", "cached": "{}"})) == ()
    assert CleanStage(cfg).resources(WorkUnit("k", "f", TranscriptUnit("v", ()))) == ("llm",)
    assert PairStage(cfg).resources(WorkUnit("k", "f", keyframe)) == ("llm",)


def test_stage_spec_pickles_and_rebuilds_once_per_process(tmp_path):
    from flows.stages import StageSpec, process_units, resolve_stage

    cfg = RunConfig(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path / "data")
    spec = pickle.loads(pickle.dumps(StageSpec("pair", cfg.model_dump_json())))
    stage = resolve_stage(spec)
    assert stage.name == "pair" and resolve_stage(spec) is stage
    assert not (tmp_path / "w.duckdb").exists()  # a worker never opens the warehouse
    units = [WorkUnit("u1", "f1", {"kind": "nope"})]
    results = process_units.fn(spec, units)
    assert [r.key for r in results] == ["u1"] and results[0].rejects  # a bad unit is a reject, not a crash
    pickle.dumps(results)


def test_threads_runner_needs_no_cluster():
    from flows.runners import cluster_address, task_runner

    with cluster_address(RunConfig().runner) as address:
        assert address is None
    assert type(task_runner(RunConfig().runner)).__name__ == "ThreadPoolTaskRunner"


def test_stage_artifact_markdown(con):
    from flows.observe import stage_summary_markdown

    t = now()
    con.execute("INSERT INTO stage_runs (run_id, stage, started_at, finished_at, status, config_hash, code_version) "
                "VALUES ('r1', 'clean', ?, ? + INTERVAL 2 SECOND, 'ok', 'h', 'v')", [t, t])
    insert_rows(con, "rejects", [{"stage": "clean", "unit_key": f"u{i}", "item_id": f"i{i}", "reason": r,
                                  "detail": "", "run_id": "r1", "created_at": t}
                                 for i, r in enumerate(["too_small", "too_small", "near_duplicate"])])
    md = stage_summary_markdown(con, StageReport("r1", "clean", items_in=10, items_out=7, items_rejected=3,
                                                 status="ok"))
    assert "| 10 | 7 | 3 | 0 | 2.0 | 5.0 | ok |" in md
    assert "| `too_small` | 2 |" in md and "| `near_duplicate` | 1 |" in md


def test_sql_shell_runs_statements_and_dot_commands(con):
    from flows.shell import repl

    out = io.StringIO()
    script = ".views\nSELECT 1 AS a,\n 'x' AS b;\nSELECT nope;\n.quit\nSELECT 2;\n"
    assert repl(con, ":memory:", stdin=io.StringIO(script), out=out) == 0
    text = out.getvalue()
    assert "v_pair_provenance" in text and "a\tb\n1\tx\n" in text and "error:" in text
    assert "2\n" not in text.split("error:")[1]


def test_report_renders_on_an_empty_warehouse(con):
    from pipeline.report import render
    from pipeline.report.data import gather

    page = render(gather(con))
    assert page.startswith("<!doctype html>") and page.count("<svg") >= 8 and "no data yet" in page
    assert "<script" not in page and not any(f'{a}="http' in page for a in ("src", "href"))  # nothing to fetch


def test_the_train_stage_takes_the_gpu_tag_only_when_it_trains_on_cuda(monkeypatch):
    import torch

    from pipeline.config import Recipe
    from pipeline.stage import WorkUnit
    from pipeline.train.stage import TrainStage

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine (tests/test_devices.py)
    cfg = RunConfig()
    cfg.train.recipe = Recipe(device="cpu")
    assert TrainStage(cfg).resources(WorkUnit("export", "f", {})) == ()
    cfg.train.recipe = Recipe(device="cuda")
    assert TrainStage(cfg).resources(WorkUnit("export", "f", {})) == ("gpu",)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # without CUDA a cuda recipe skips
    assert TrainStage(cfg).resources(WorkUnit("export", "f", {})) == ()
