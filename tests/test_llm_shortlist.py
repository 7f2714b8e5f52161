"""The v3 labeller (a per-text shortlist as the schema's enums, within a token budget) and LLM refined captions
(grounded in the source, extractive fallback), against the stub OpenAI-compatible server of test_llm.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")

import test_llm  # noqa: E402
from test_llm import Stub  # noqa: E402

stub, onto = test_llm.stub, test_llm.onto  # the stub server and ontology fixtures, shared

from pipeline.augment.batch import batch_lines  # noqa: E402
from pipeline.augment.captions import refined_caption  # noqa: E402
from pipeline.augment.llm import LlmLabeller  # noqa: E402
from pipeline.augment.refine import CaptionRefiner  # noqa: E402
from pipeline.augment.shortlist import Shortlister  # noqa: E402
from pipeline.augment.shortlist_prompt import CHAT_OVERHEAD, estimate_tokens  # noqa: E402
from pipeline.config import LlmConfig, RunConfig  # noqa: E402
from pipeline.config.augment import ShortlistConfig  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402
from pipeline.vocab.lexical import NO_AGE, NO_DIAGNOSIS, NO_GENDER, LexicalMatcher  # noqa: E402

TEXT = ("Plaque psoriasis on the elbows: well-demarcated erythematous plaques with silvery scale, itchy. "
        "Melanoma was ruled out.")  # fmt: skip
CHOICE = {"disease": "plaque psoriasis", "concepts": ["plaque", "erythema", "scale"], "body_location": ["elbow"],
          "symptoms": ["pruritus"], "age": None, "gender": None, "skin_tone": None}  # fmt: skip
FIXTURES = Path(os.environ.get("DERM_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


def cfg(stub: Stub, **more: Any) -> LlmConfig:
    return LlmConfig(**{"base_url": stub.url, "model": "test-model", "api_key_env": "DERM_TEST_UNSET_KEY",
                        "timeout_s": 5.0, "max_retries": 0, **more})  # fmt: skip


def schema_of(request: dict[str, Any]) -> dict[str, Any]:
    fmt = request["response_format"]
    return fmt["json_schema"]["schema"] if fmt["type"] == "json_schema" else fmt["schema"]


def enum(schema: dict[str, Any], field: str) -> list[str]:
    prop = schema["properties"][field]
    prop = prop.get("items", prop)
    return prop["enum"] if "enum" in prop else [prop["const"]]


@pytest.mark.parametrize("mode", ["json_schema", "json_object"])
def test_the_request_schema_enums_are_the_shortlist(stub: Stub, onto, mode: str) -> None:
    stub.answer(CHOICE, prompt_tokens=612)
    llm = LlmLabeller(cfg(stub, json_mode=mode), onto)
    out = llm.label(TEXT)
    assert out.reason is None and out.labels is not None, out.detail
    assert llm.prompt_key == "ontology_labels.v3"
    assert (out.labels.condition_ids, out.labels.disease_label) == (["plaque_psoriasis"], "plaque psoriasis")
    assert out.labels.hierarchical_disease_label == onto.hierarchical_label("plaque_psoriasis")
    assert out.labels.concept_ids == ["plaque", "erythema", "scale"] and out.labels.body_location == "elbow"
    [request] = stub.requests
    schema = schema_of(request)
    shortlist = Shortlister(onto).shortlist(TEXT)
    diseases = enum(schema, "disease")
    assert diseases == [*shortlist.conditions, NO_DIAGNOSIS] and "plaque psoriasis" in diseases
    assert "melanoma" not in diseases  # ruled out in the text: never offered
    assert enum(schema, "concepts") == list(shortlist.concepts) and {"plaque", "scale"} <= set(
        shortlist.concepts
    )
    assert "elbow" in enum(schema, "body_location")
    prompt = request["messages"][0]["content"]
    assert "plaque psoriasis\n" in prompt and "melanoma\n" not in prompt and "tinea versicolor" not in prompt
    assert out.calls[0]["prompt_tokens"] == 612 and out.calls[0]["prompt"] == "ontology_labels.v3"


def test_a_label_outside_the_shortlist_is_asked_again_then_rejected(stub: Stub, onto) -> None:
    stub.answer({**CHOICE, "disease": "melanoma"})
    stub.answer({**CHOICE, "disease": "tinea corporis"})
    out = LlmLabeller(cfg(stub, json_mode="json_object"), onto).label(TEXT)
    assert (out.reason, out.labels, len(out.calls)) == ("llm_invalid_output", None, 2)
    retry = stub.requests[1]["messages"][-1]["content"]
    assert "disease" in retry and "plaque psoriasis" in retry  # the error quotes the allowed options
    stub.answer({**CHOICE, "disease": "melanoma"})
    stub.answer(CHOICE)
    fixed = LlmLabeller(cfg(stub, json_mode="json_object"), onto).label(TEXT)
    assert (
        fixed.labels is not None
        and fixed.labels.condition_ids == ["plaque_psoriasis"]
        and len(fixed.calls) == 2
    )


def test_no_diagnosis_and_empty_lists(stub: Stub, onto) -> None:
    text = "A lecture slide about the history of the clinic."
    stub.answer({"disease": NO_DIAGNOSIS, "concepts": ["none"], "body_location": [], "symptoms": ["none"],
                 "age": "34", "gender": "female", "skin_tone": "IV"})  # fmt: skip
    out = LlmLabeller(cfg(stub), onto).label(text)
    assert (
        out.labels is not None and out.labels.condition_ids == [] and out.labels.disease_label == NO_DIAGNOSIS
    )
    assert out.labels.concept_ids == [] and (out.labels.age, out.labels.gender) == (
        NO_AGE,
        NO_GENDER,
    )  # not in text
    schema = schema_of(stub.requests[0])
    assert enum(schema, "disease") == [NO_DIAGNOSIS] and enum(schema, "concepts") == ["none"]


def test_the_prompt_stays_within_the_token_budget(onto) -> None:
    llm = LlmLabeller(LlmConfig(), onto, client=object())
    v2 = LlmLabeller(LlmConfig(), onto, "ontology_labels.v2", client=object())
    assert v2.shortlist is None and v2.prompt_key == "ontology_labels.v2"
    assert estimate_tokens(v2.messages(TEXT)[0]["content"]) > 5000  # the whole ontology, every call
    assert llm.shortlist is not None and llm.shortlist.tokens(llm.values(TEXT)) < 800
    names = [c.name for c in onto.conditions.values() if not c.grouping]
    post = " ".join(f"Could this be {n}? The rash is red, scaly and itchy on the arm." for n in names[:150])
    values = llm.values(post)
    assert llm.shortlist.tokens(values) <= 1000 and str(values["text"]).endswith(
        "[...]"
    )  # lists capped, text cut
    small = LlmLabeller(LlmConfig(), onto, client=object(), shortlist=ShortlistConfig(max_prompt_tokens=600))
    assert small.shortlist is not None and small.shortlist.tokens(small.values(post)) <= 600
    try:  # a real BPE count where one is available offline (whisper ships GPT-2's): under the budget too
        from whisper.tokenizer import get_encoding

        enc = get_encoding("gpt2")
    except Exception:  # noqa: BLE001 - the extra is not installed
        return
    assert len(enc.encode(llm.messages(post)[0]["content"])) + CHAT_OVERHEAD <= 1000


@pytest.mark.skipif(not (FIXTURES / "derm1m" / "derm1m_v2_rows_dev.csv").exists(), reason="no Derm1M dev rows "
                    "in DERM_FIXTURES (../shared/fixtures)")  # fmt: skip
def test_every_dev_caption_fits_the_budget(onto) -> None:
    import csv

    llm = LlmLabeller(LlmConfig(), onto, client=object())
    with (FIXTURES / "derm1m" / "derm1m_v2_rows_dev.csv").open(newline="", encoding="utf-8") as fh:
        texts = [row["caption"] for row in csv.DictReader(fh)]
    assert llm.shortlist is not None
    sizes = [llm.shortlist.tokens(llm.values(t)) for t in texts]
    assert max(sizes) <= 1000 and len(sizes) == len(texts) > 100


def test_pinned_versions_and_batch_lines(onto) -> None:
    with pytest.raises(ConfigError, match="versions"):
        LlmLabeller(LlmConfig(), onto, "ontology_labels.v99", client=object())
    llm = LlmLabeller(LlmConfig(json_mode="json_object"), onto)
    [line] = batch_lines(llm, {"k": TEXT})
    content = line["body"]["messages"][0]["content"]
    assert "plaque psoriasis\n" in content and "Diagnosis options" in content and len(content) < 4000


def refiner(stub: Stub, onto, **more: Any) -> CaptionRefiner:
    return CaptionRefiner(cfg(stub, **more), onto, max_words=40)


def test_refined_caption_is_grounded_or_falls_back(stub: Stub, onto) -> None:
    matcher = LexicalMatcher(onto)
    source = (
        "Welcome back! Here we see plaque psoriasis on the elbows, itchy for two weeks. Subscribe for more."
    )
    lexical = matcher.label(source)
    stub.answer({"caption": "Plaque psoriasis on the elbows, itchy for two weeks.", "dropped": ["greeting"]})
    ok = refiner(stub, onto).refine(source, lexical, lexical)
    assert (ok.caption, ok.method, ok.reason) == (
        "Plaque psoriasis on the elbows, itchy for two weeks.",
        "llm:test-model",
        None,
    )
    assert [c["prompt"] for c in ok.calls] == ["refine_caption.v2"] and len(ok.cache_rows) == 1
    stub.answer({"caption": "Plaque psoriasis, possibly lichen planus, in a 45-year-old.", "dropped": []})
    stub.answer({"caption": "Plaque psoriasis with melanoma nearby.", "dropped": []})
    bad = refiner(stub, onto).refine(source, lexical, lexical)
    assert bad.method == "extractive" and bad.caption == refined_caption(source, lexical, max_words=40)
    assert "caption rejected" in (bad.reason or "") and "melanoma" in (bad.reason or "")
    first_error = bad.calls[0]["error"]
    assert "lichen planus" in first_error and "45" in first_error  # invented condition and number
    stub.answer({"caption": "", "dropped": ["everything"]})
    empty = refiner(stub, onto).refine(source, lexical, lexical)
    assert empty.method == "extractive" and len(empty.calls) == 1
    stub.fail(500)
    down = refiner(stub, onto).refine(source, lexical, lexical)
    assert down.method == "extractive" and down.reason is not None and "llm_unavailable" in down.reason


def test_a_caption_may_name_the_chosen_label_and_its_parents(stub: Stub, onto) -> None:
    matcher = LexicalMatcher(onto)
    source = "Silvery scaly plaques on both knees."
    labels = matcher.label("plaque psoriasis")  # as if the labeller had chosen it from context
    stub.answer({"caption": "Psoriasis: silvery scaly plaques on both knees.", "dropped": []})
    out = refiner(stub, onto).refine(source, labels, matcher.label(source))
    assert out.method == "llm:test-model", out.reason


def test_stage_writes_llm_refined_captions_with_the_extractive_fallback(stub: Stub, onto) -> None:
    from pipeline.augment.stage import AugmentStage
    from pipeline.stage import WorkUnit

    run = RunConfig()
    run.augment.caption_method = "llm"
    run.llm = cfg(stub)
    stage = AugmentStage(run, onto)
    assert (
        stage.llm is None
        and stage.refiner is not None
        and stage.unit_kinds()["pair"].config == ("augment", "llm")
    )
    text = "Plaque psoriasis on the elbows. Like and subscribe."
    stub.answer({"caption": "Plaque psoriasis on the elbows.", "dropped": ["channel promotion"]})
    res = stage.process(WorkUnit("p1", "fp", {"text": text}))
    row = res.rows["augment_captions"][0]
    assert row["refined_caption"] == "Plaque psoriasis on the elbows."
    assert (row["refined_method"], row["refined_reason"]) == ("llm:test-model", None)
    assert [c["prompt"] for c in res.rows["llm_calls"]] == ["refine_caption.v2"] and res.rows["llm_cache"]
    stub.fail(500)
    other = "Plaque psoriasis on the knees. Like and subscribe."  # a new text: the memo answers a repeat
    res = stage.process(WorkUnit("p2", "fp", {"text": other}))
    lexical = stage.matcher.label(other)
    row = res.rows["augment_captions"][0]
    assert row["refined_caption"] == refined_caption(other, lexical, max_words=60)
    assert row["refined_method"] == "extractive" and "500" in row["refined_reason"]
    plain = AugmentStage(RunConfig(), onto)  # no LLM configured: extractive, no calls
    out = plain.process(WorkUnit("p3", "fp", {"text": text})).rows
    assert plain.refiner is None and "llm_calls" not in out
    assert (out["augment_captions"][0]["refined_method"], out["augment_captions"][0]["refined_reason"]) == (
        "extractive", None)
    assert json.loads(json.dumps(run.augment.shortlist.model_dump()))["max_prompt_tokens"] == 1000
