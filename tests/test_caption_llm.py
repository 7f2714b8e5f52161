"""LLM caption relevance (clean.caption.method: llm) and the whole LLM text path in a build.

The LLM is the local stub server of tests/test_llm.py (127.0.0.1, OpenAI chat API), so calls go through the
shared caller as in production: `llm_calls` rows, accepted answers as `llm_cache` rows a redone unit reads
back instead of calling again. The build test runs preprocess (LLM subcaption split) and clean (LLM caption
relevance) over the sample JATS article, whose Figure 3 is a four-panel compound figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openai")

import test_llm  # noqa: E402
from test_llm import Stub, completion  # noqa: E402

from pipeline.clean.stage import CAPTION_NOT_DERMATOLOGY, CleanStage  # noqa: E402
from pipeline.clean.units import TextUnit  # noqa: E402
from pipeline.config import RunConfig  # noqa: E402
from pipeline.stage import WorkUnit  # noqa: E402
from pipeline.warehouse import insert_rows  # noqa: E402

stub = test_llm.stub  # the stub LLM server fixture, shared
REPO = Path(__file__).resolve().parents[1]
ARTICLE = REPO / "samples" / "jats" / "PMC9000003.xml"
SKIN = "Erythematous scaly plaques on the extensor surface of the elbow."
SURGERY = "Intraoperative view of the rotation flap after excision."


def _profile(server: Stub, method: str = "llm", **extra: object) -> RunConfig:
    data: dict[str, object] = {
        "clean": {"caption": {"method": method}},
        "llm": {"base_url": server.url, "model": "stub-model", "api_key_env": "DERM_TEST_UNSET_KEY",
                "timeout_s": 5.0, "max_retries": 0},
        **extra,
    }  # fmt: skip
    return RunConfig.model_validate(data)


def _caption(stage: CleanStage, text: str, ref: str = "a#f1", context: str | None = None):
    unit = TextUnit(ref, "a", "img", "jats_figure", text, context)
    return stage.process(WorkUnit(f"text:{ref}", "f", unit))


def test_default_is_lexical_and_hashes_are_unchanged(stub: Stub) -> None:
    plain = CleanStage(RunConfig())
    assert RunConfig().clean.caption.method == "lexical"
    assert "llm" not in plain.unit_kinds()["text"].config
    assert "caption_llm@1" not in plain.unit_kinds()["text"].steps
    explicit = CleanStage(RunConfig.model_validate({"clean": {"caption": {"method": "lexical"}}}))
    assert explicit.kind_hashes() == plain.kind_hashes()  # the field adds nothing to default fingerprints
    llm = CleanStage(_profile(stub))
    assert (
        "llm" in llm.unit_kinds()["text"].config and llm.kind_hashes()["text"] != plain.kind_hashes()["text"]
    )
    figure = WorkUnit("text:r", "f", TextUnit("r", "i", "x", "jats_figure", "t", None))
    assert llm.resources(figure) == ("llm",) and plain.resources(figure) == ()
    res = _caption(plain, SURGERY)
    assert stub.requests == [] and "llm_calls" not in res.rows


def test_model_decides_and_its_reason_is_the_reject_detail(stub: Stub) -> None:
    stub.answer({"reason": "Clinical photograph of psoriasis plaques.", "relevant": True})
    stub.answer({"reason": "Surgical flap, not a skin condition.", "relevant": False})
    stage = CleanStage(_profile(stub))
    kept = _caption(stage, SKIN, context="A 40-year-old man with psoriasis.")
    [row] = kept.rows["clean_texts"]
    assert row["caption_reason"] == "llm:stub-model: Clinical photograph of psoriasis plaques."
    assert row["caption_score"] is not None  # the lexical score is still recorded
    sent = stub.requests[0]["messages"][0]["content"]
    assert SKIN in sent and "40-year-old man with psoriasis" in sent
    # "excision" and "flap" would pass or fail lexically on their own; the model's word is final
    dropped = _caption(stage, SURGERY, ref="a#f2")
    assert "clean_texts" not in dropped.rows
    [reject] = dropped.rejects
    assert reject.reason == CAPTION_NOT_DERMATOLOGY and "Surgical flap" in reject.detail
    assert [c["prompt"] for c in kept.rows["llm_calls"] + dropped.rows["llm_calls"]] == [
        "caption_relevance.v1"
    ] * 2


def test_unusable_answer_falls_back_to_the_lexical_score(stub: Stub) -> None:
    stub.answer("not json")
    stub.answer({"relevant": "perhaps"})  # the corrective retry fails too
    res = _caption(CleanStage(_profile(stub)), SKIN)
    [row] = res.rows["clean_texts"]  # the lexical scorer keeps a psoriasis caption
    assert not row["caption_reason"].startswith("llm:") and row["caption_score"] >= 1.0
    assert len(res.rows["llm_calls"]) == 2 and all(c["error"] for c in res.rows["llm_calls"])
    assert "llm_cache" not in res.rows


def test_outage_leaves_the_unit_pending(stub: Stub) -> None:
    stub.default = (503, {"error": {"message": "down"}}, {})
    res = _caption(CleanStage(_profile(stub)), SKIN)
    assert res.unavailable and "clean_texts" not in res.rows and not res.rejects


def test_stored_answer_is_reused_by_a_new_stage(stub: Stub, con: object) -> None:
    stub.answer({"reason": "Psoriasis plaques.", "relevant": True})
    first = _caption(CleanStage(_profile(stub)), SKIN)
    insert_rows(con, "llm_cache", first.rows["llm_cache"])  # type: ignore[arg-type]
    again = CleanStage(_profile(stub))
    list(again.candidates(con))  # type: ignore[arg-type]  # reads llm_cache
    res = _caption(again, SKIN)
    assert len(stub.requests) == 1 and "llm_calls" not in res.rows
    assert res.rows["clean_texts"][0]["caption_reason"] == "llm:stub-model: Psoriasis plaques."


def _article_item() -> dict[str, object]:
    return {"item_id": "pmc:PMC9000003", "unit_key": "pmc:PMC9000003", "run_id": "c0", "kind": "article",
            "source": "jats", "source_type": "article", "source_id": "PMC9000003", "path": str(ARTICLE),
            "sha256": "sample", "retrieved_at": "2026-01-01 00:00:00"}  # fmt: skip


SPLIT = {
    "shared": "Course of tinea incognito.",
    "subcaptions": [
        {"label": "A", "text": "Course of tinea incognito. Ill-defined plaque with pustules at presentation."},
        {"label": "B", "text": "Course of tinea incognito. Annular scaly border two weeks after stopping the steroid."},
        {"label": "C", "text": "Course of tinea incognito. KOH preparation with septate hyphae."},
        {"label": "D", "text": "Course of tinea incognito. Cleared skin with faint post-inflammatory erythema "
                               "after four weeks of terbinafine."},
    ],
}  # fmt: skip


@pytest.mark.skipif(not ARTICLE.exists(), reason=f"sample article {ARTICLE} missing")
def test_build_with_stub_llm_runs_both_text_steps(stub: Stub, con, tmp_path: Path) -> None:
    from pipeline.preprocess.stage import PreprocessStage
    from pipeline.stage import run_stage

    cfg = _profile(
        stub,
        data_dir=str(tmp_path / "data"),
        preprocess={"subcaptions": {"method": "llm"}, "subfigures": {"letter_reader": "none"}},
    )
    insert_rows(con, "collect_items", [_article_item()])
    stub.answer(SPLIT)
    pre = run_stage(con, PreprocessStage(cfg), "p1")
    assert pre.items_in == 1 and len(stub.requests) == 1
    assert stub.requests[0]["messages"][0]["content"].count("(a) Ill-defined plaque") == 1
    texts = dict(con.execute("SELECT ref_id, text FROM preprocess_image_refs").fetchall())
    assert texts["pmc:PMC9000003#f3/p2"] == "Course of tinea incognito. KOH preparation with septate hyphae."
    meta = json.loads(
        con.execute("SELECT meta FROM preprocess_image_refs WHERE ref_id LIKE '%f3/p2'").fetchone()[0]
    )
    assert meta["subcaption_source"] == "llm:stub-model"
    # clean: every figure caption judged (3 figures + 4 panels), one irrelevant
    stub.default = (200, completion(json.dumps({"reason": "Skin condition.", "relevant": True})), {})
    stub.answer({"reason": "Microscopy slide, not the skin.", "relevant": False})  # the first ref: f1
    clean = run_stage(con, CleanStage(cfg), "c1")
    n_refs = len(texts)
    assert n_refs == 7 and len(stub.requests) == 1 + n_refs
    calls = con.execute("SELECT prompt, count(*) FROM llm_calls GROUP BY prompt ORDER BY prompt").fetchall()
    assert calls == [("caption_relevance.v1", n_refs), ("subcaption_split.v1", 1)]
    assert (
        con.execute("SELECT count(*) FROM rejects WHERE reason = ?", [CAPTION_NOT_DERMATOLOGY]).fetchone()[0]
        == 1
    )
    assert con.execute("SELECT count(*) FROM clean_texts").fetchone()[0] == n_refs - 1
    assert clean.items_rejected >= 1
    # a rerun skips every unit: no call
    assert run_stage(con, PreprocessStage(cfg), "p2").items_in == 0
    assert run_stage(con, CleanStage(cfg), "c2").items_in == 0 and len(stub.requests) == 1 + n_refs
    # a setting that redoes the units (new fingerprints) reads the stored answers: still no call
    cfg2 = cfg.model_copy(
        update={
            "clean": cfg.clean.model_copy(
                update={"caption": cfg.clean.caption.model_copy(update={"min_score": 0.5})}
            )
        }
    )
    redo = run_stage(con, CleanStage(cfg2), "c3")
    assert redo.items_in == n_refs  # the text units only
    assert len(stub.requests) == 1 + n_refs
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 1 + n_refs
