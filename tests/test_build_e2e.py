"""End to end: the Prefect build flow over a copy of the sample corpus, then a no-op rerun, then one
added source file. The build is the session's `sample_build` (tests/conftest.py), shared with
tests/test_platform.py."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from pipeline.warehouse import connect

pytestmark = pytest.mark.slow
STAGES = ["collect", "preprocess", "clean", "pair", "augment", "train"]
BOOKKEEPING = {"_migrations", "stage_runs", "rejects", "work_log"}
# Tables the offline sample profile cannot fill: it labels lexically (the LLM tables are covered by
# tests/test_llm*.py), has no network sources (tests/test_collect_*.py) and no external evaluation set
# (tests/test_train_eval.py), and sends no Batch API job (tests/test_llm_batch_resume.py). Transcript
# corrections: with the ontology prompt and batched decoding, tiny.en hears every ontology term of the sample narration ("tinea corporis", "annular"), so the
# phonetic corrector has nothing to fix here; tests/test_transcript.py covers it on misheard text.
NOT_IN_SAMPLE_PROFILE = {"llm_calls", "llm_cache", "llm_batches", "collect_cursors", "collect_fetches",
                         "train_eval_sets", "clean_transcript_corrections", "takedown_requests",
                         "takedown_removals",  # the sample lists no takedown (tests/test_takedowns.py)
                         "clean_deid_findings"}  # no face or personal text in the samples (tests/test_deid*.py)


@pytest.fixture(scope="module")
def build(sample_build):
    return sample_build  # tests/conftest.py: one sample build per session


def test_every_stage_table_non_empty(build):
    empty = [t for t, n in build["counts1"].items() if n == 0 and t not in BOOKKEEPING | NOT_IN_SAMPLE_PROFILE]
    assert empty == [], empty
    assert [r["stage"] for r in build["first"]] == STAGES
    assert all(r["status"] == "ok" for r in build["first"])


def test_stage_runs_one_row_per_stage_per_run(build):
    con = connect(build["cfg"].warehouse)
    rows = con.execute("SELECT run_id, stage, status FROM stage_runs ORDER BY run_id, started_at").fetchall()
    assert rows == [(run, s, "ok") for run in ("run1", "run2") for s in STAGES]


def test_bad_sample_inputs_are_rejected_with_reasons(build):
    con = connect(build["cfg"].warehouse)
    reasons = {r[0] for r in con.execute("SELECT DISTINCT reason FROM rejects").fetchall()}
    for expected in ("unreadable_video", "malformed_xml", "invalid_json", "missing_file", "too_small",
                     "broken_pdf", "near_duplicate"):
        assert expected in reasons, f"{expected} not in {sorted(reasons)}"
    assert reasons & {"corrupt_image", "truncated_image"}
    assert con.execute("SELECT count(*) FROM rejects WHERE reason = 'unexpected_error'").fetchone()[0] == 0


def test_second_build_is_a_noop(build):
    assert build["counts2"]["stage_runs"] == build["counts1"]["stage_runs"] + len(STAGES)
    changed = {t: (build["counts1"][t], n) for t, n in build["counts2"].items()
               if t != "stage_runs" and n != build["counts1"][t]}
    assert changed == {}
    assert all(r["items_in"] == 0 and r["items_out"] == 0 for r in build["second"])
    assert all(r["items_skipped"] > 0 for r in build["second"])


def test_export_has_exactly_derm1m_columns(build):
    from pipeline.train.export import DERM1M_COLUMNS

    out = build["cfg"].data_dir / "export"
    for split in ("train", "validation"):
        with open(out / f"{split}.csv", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = list(reader)
        assert header[: len(DERM1M_COLUMNS)] == DERM1M_COLUMNS  # licence and provenance columns follow
        assert rows and all((out / r[0]).exists() for r in rows)
    assert list((out / "shards").glob("*.tar"))


def test_split_has_no_leak(build):
    con = connect(build["cfg"].warehouse)
    for col in ("group_id", "cluster_id"):
        leaks = con.execute(
            f"SELECT {col} FROM train_splits GROUP BY {col} HAVING count(DISTINCT split) > 1").fetchall()
        assert leaks == []


def test_model_metrics_in_warehouse(build):
    con = connect(build["cfg"].warehouse)
    metrics = dict(con.execute(
        "SELECT metric, value FROM train_metrics WHERE model_state = 'trained'").fetchall())
    for key in ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10", "zero_shot_top1"):
        assert 0.0 <= metrics[key] <= 1.0
    from pipeline.train.jobs import profile_recipe

    losses = [r[0] for r in con.execute("SELECT loss FROM train_epochs ORDER BY epoch").fetchall()]
    assert len(losses) == profile_recipe(build["cfg"]).epochs


def test_video_pairs_carry_narration(build):
    con = connect(build["cfg"].warehouse)
    rows = con.execute("SELECT text, align_score FROM pair_image_texts WHERE kind = 'keyframe_narration'").fetchall()
    assert len(rows) >= 6
    assert all(len(t) > 20 and 0 < a <= 1 for t, a in rows)


def test_added_file_processes_only_that_file(build):
    root, cfg = build["root"], build["cfg"]
    forum = root / "samples" / "forums"
    post = {"id": "t3_added1", "forum": "reddit", "title": "Ring-shaped rash on my forearm",
            "body": "Scaly annular plaque, itchy, three weeks. Could this be tinea corporis?",
            "images": ["images/added_1.jpg"]}
    rng = np.random.default_rng(7)
    skin = (np.full((240, 320, 3), (214, 160, 130)) + rng.normal(0, 8, (240, 320, 3))).clip(0, 255)
    Image.fromarray(skin.astype(np.uint8)).save(forum / "images" / "added_1.jpg", quality=92)
    extra = forum / "added.jsonl"
    extra.write_text(json.dumps(post) + "\n")
    try:
        reports = {r["stage"]: r for r in build["build"](cfg, run_id="run3")}
    finally:  # both gone, or the image alone would be an unsupported_file of the forum folder next time
        extra.unlink()
        (forum / "images" / "added_1.jpg").unlink()
    assert reports["collect"]["items_in"] == 1
    assert reports["preprocess"]["items_in"] == 1
    assert reports["clean"]["items_in"] == 2  # the new image and its text
    assert reports["pair"]["items_in"] == 1
    assert reports["augment"]["items_in"] == 1


def test_a_pdf_option_and_asr_threads_redo_only_the_pdfs(build):
    """One unit kind's setting changed (plus a speed-only ASR setting): the rerun redoes that kind only."""
    cfg = build["cfg"].model_copy(deep=True)
    cfg.preprocess.pdf.caption_max_gap_pt += 10.0
    cfg.preprocess.asr.cpu_threads, cfg.preprocess.asr.num_workers = 2, 1
    con = connect(cfg.warehouse)
    n_pdfs = con.execute("SELECT count(*) FROM collect_items WHERE kind = 'pdf'").fetchone()[0]
    con.close()
    reports = {r["stage"]: r for r in build["build"](cfg, run_id="run4")}
    con = connect(cfg.warehouse)
    redone = dict(con.execute(
        "SELECT c.kind, count(*) FROM work_log w JOIN collect_items c ON c.item_id = w.unit_key "
        "WHERE w.stage = 'preprocess' AND w.run_id = 'run4' GROUP BY c.kind").fetchall())
    runs = dict(con.execute("SELECT stage, items_in FROM stage_runs WHERE run_id = 'run4'").fetchall())
    con.close()
    assert n_pdfs > 0 and redone == {"pdf": n_pdfs}
    assert runs["collect"] == 0 and runs["preprocess"] == n_pdfs == reports["preprocess"]["items_in"]
