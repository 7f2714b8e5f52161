"""LLM subcaption split (preprocess.subcaptions.method: llm): faithful answers are used, invented ones are
not (the rules split instead), every call is logged, stored answers are reused. Stub LLM of test_llm.py."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")

import test_llm  # noqa: E402
from test_llm import Stub  # noqa: E402

from pipeline.config import LlmConfig, RunConfig  # noqa: E402
from pipeline.llm.caller import InvalidAnswer  # noqa: E402
from pipeline.preprocess.subcaptions import align, split_caption  # noqa: E402
from pipeline.preprocess.subcaptions_llm import (  # noqa: E402
    LlmSubcaptionSplitter,
    SplitAnswer,
    invented_words,
    to_split,
)

stub = test_llm.stub
# panels named in prose: the rules find no markers
PROSE = ("Psoriasis of the scalp. The left panel shows silvery scale at the hairline; "
         "the right panel shows the same area after four weeks of calcipotriol.")  # fmt: skip
LETTERS = "Lichen planus. (A-B) Violaceous papules on the wrist. (C) Wickham striae on dermoscopy."


def _llm(server: Stub) -> LlmConfig:
    return LlmConfig(base_url=server.url, model="stub-model", api_key_env="DERM_TEST_UNSET_KEY", timeout_s=5.0,
                     max_retries=0)  # fmt: skip


def _answer(shared: str, *parts: tuple[str, str]) -> dict[str, object]:
    return {"shared": shared, "subcaptions": [{"label": k, "text": t} for k, t in parts]}


def test_invented_words_are_found() -> None:
    assert invented_words("Violaceous papules, wrist.", LETTERS) == []
    assert invented_words("Violaceous papules on the ankle", LETTERS) == ["ankle"]


def test_answer_to_split_ranges_positions_and_none() -> None:
    split = to_split(SplitAnswer.model_validate(_answer("Lichen planus.", ("A-B", "Lichen planus. Violaceous papules "
                     "on the wrist."), ("C", "Lichen planus. Wickham striae on dermoscopy."))), LETTERS)  # fmt: skip
    assert (split.style, split.keys) == ("letters", ["a", "b", "c"])
    assert split.text_for("b") == "Lichen planus. Violaceous papules on the wrist."
    pos = to_split(SplitAnswer.model_validate(_answer("", ("Left", "Psoriasis of the scalp. silvery scale at the "
                   "hairline"), ("right panel", "the same area after four weeks of calcipotriol"))), PROSE)  # fmt: skip
    assert (pos.style, pos.keys) == ("positions", ["left", "right"])
    whole = to_split(SplitAnswer.model_validate(_answer("", ("", "Psoriasis of the scalp."))), PROSE)
    assert whole.style == "none" and whole.parts == []
    with pytest.raises(InvalidAnswer, match="ankle"):
        to_split(SplitAnswer.model_validate(_answer("", ("A", "Papules on the ankle"))), LETTERS)
    with pytest.raises(InvalidAnswer, match="label"):
        to_split(SplitAnswer.model_validate(_answer("", ("Figure 1", "Lichen planus."))), LETTERS)
    with pytest.raises(InvalidAnswer, match="mix"):
        to_split(SplitAnswer.model_validate(_answer("", ("A", "wrist"), ("left", "dermoscopy"))), LETTERS)


def test_llm_split_aligns_a_prose_legend_the_rules_cannot(stub: Stub) -> None:
    assert split_caption(PROSE).style == "none"
    stub.answer(
        _answer(
            "Psoriasis of the scalp.",
            ("left", "Psoriasis of the scalp. silvery scale at the hairline"),
            ("right", "Psoriasis of the scalp. the same area after four weeks of calcipotriol"),
        )
    )
    out = LlmSubcaptionSplitter(_llm(stub)).split(PROSE)
    assert (
        out.source == "llm:stub-model"
        and len(out.calls) == 1
        and out.calls[0]["prompt"] == "subcaption_split.v1"
    )
    texts = align(PROSE, [(0, 0, 100, 100), (110, 0, 210, 100)], split=out.split)
    assert [(t.key, t.scope) for t in texts] == [("left", "panel"), ("right", "panel")]
    assert texts[1].text.endswith("four weeks of calcipotriol")
    assert len(out.cache_rows) == 1


def test_invented_text_gets_one_retry_then_the_rules(stub: Stub) -> None:
    bad = _answer("", ("A", "Lichen planus with Koebner phenomenon."), ("C", "Wickham striae."))
    stub.answer(bad)
    stub.answer(bad)
    out = LlmSubcaptionSplitter(_llm(stub)).split(LETTERS)
    assert out.source == "rules" and len(out.calls) == 2
    assert (
        "Koebner" in out.calls[0]["error"]
        and "words not in the legend" in stub.requests[1]["messages"][-1]["content"]
    )
    assert out.split.keys == split_caption(LETTERS).keys == ["a", "b", "c"]  # the rule-based split
    assert not out.outage and out.cache_rows == []


def test_outage_is_flagged_and_stored_answers_are_reused(stub: Stub) -> None:
    stub.fail(503)
    out = LlmSubcaptionSplitter(_llm(stub)).split(LETTERS)
    assert out.outage and out.source == "rules"
    good = _answer(
        "Lichen planus.", ("A-B", "Violaceous papules on the wrist."), ("C", "Wickham striae on dermoscopy.")
    )
    stub.answer(good)
    first = LlmSubcaptionSplitter(_llm(stub)).split(LETTERS)
    stored = {r["input_hash"]: r["response"] for r in first.cache_rows}
    n = len(stub.requests)
    again = LlmSubcaptionSplitter(_llm(stub), cache=stored).split(LETTERS)
    assert len(stub.requests) == n and again.calls == [] and again.split.keys == ["a", "b", "c"]


def test_default_is_rules_and_preprocess_hashes_are_unchanged(stub: Stub) -> None:
    from pipeline.preprocess.stage import PreprocessStage

    plain = PreprocessStage(RunConfig())
    assert RunConfig().preprocess.subcaptions.method == "rules"
    same = PreprocessStage(RunConfig.model_validate({"preprocess": {"subcaptions": {"method": "rules"}}}))
    assert same.kind_hashes() == plain.kind_hashes()
    llm = PreprocessStage(RunConfig.model_validate({"preprocess": {"subcaptions": {"method": "llm"}},
                                                    "llm": {"base_url": stub.url}}))  # fmt: skip
    changed = {k for k, h in llm.kind_hashes().items() if h != plain.kind_hashes()[k]}
    assert changed == {"article", "pdf"}
