"""Language of forum texts and their translation by default when an LLM is configured.

The LLM is a local stub server speaking the OpenAI chat API on 127.0.0.1 (tests/test_llm.py's `stub`), so
the calls go through the shared caller exactly as in a build: logged as llm_calls rows, accepted answers
as llm_cache rows that a rerun reuses without calling again.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("openai")

import test_llm  # noqa: E402
from test_llm import Stub  # noqa: E402

from pipeline.clean.stage import CleanStage  # noqa: E402
from pipeline.clean.translate import (  # noqa: E402
    StopwordDetector,
    _openai_translator,
    detector_tools,
    langid_version,
    language_detector,
    translate_mode,
    translation_on,
)
from pipeline.clean.units import TextUnit  # noqa: E402
from pipeline.config import RunConfig  # noqa: E402
from pipeline.stage import WorkUnit  # noqa: E402
from pipeline.warehouse import insert_rows  # noqa: E402

stub = test_llm.stub  # the stub LLM server fixture, shared
CHINESE = "女性，24岁，耳后及面部出现大疱，请联系 ana@correo.es"
ENGLISH = "Female, 24 years old, with large blisters behind the ears and on the face."
needs_langid = pytest.mark.skipif(langid_version() is None, reason="py3langid (extra `lang`) not installed")


def _profile(server: Stub | None = None, **pii: object) -> RunConfig:
    data: dict[str, object] = {"clean": {"pii": pii}} if pii else {}
    if server is not None:
        data["llm"] = {"base_url": server.url, "model": "stub-model", "api_key_env": "DERM_TEST_UNSET_KEY",
                       "timeout_s": 5.0, "max_retries": 0}
    return RunConfig.model_validate(data)


def _post(stage: CleanStage, text: str, ref: str = "r1"):
    unit = TextUnit(ref, "post:1", "img", "post_image", text, None)
    return stage.process(WorkUnit(f"text:{ref}", "f", unit))


@needs_langid
@pytest.mark.parametrize(("text", "code", "english"), [
    ("足跟紫色丘疹。考虑：血管瘤待查。", "zh", False),
    ("Tengo una mancha roja en el brazo desde hace dos semanas y me pica mucho", "es", False),
    ("Lesão cicatrizada na região axilar e infra-axilar direita após o tratamento.", "pt", False),
    ("Résultat fonctionnel à 3 mois", "fr", False),  # no function words: the stopword check misses it
    ("Tinea incognito", "en", True),  # Latinate medical English stays English
    ("A representative case of a lymph node with granules in the endobronchial ultrasound image", "en", True),
    ("12 × 3, 2024-01-02 (+5%)", "und", True),  # no letters: nothing to translate
])
def test_langid_names_the_language(text: str, code: str, english: bool) -> None:
    lang = language_detector(RunConfig().clean.pii).detect(text)
    assert (lang.code, lang.english, lang.detector) == (code, english, "langid")


def test_stopword_fallback_names_cjk_by_script() -> None:
    det = StopwordDetector(0.5)
    assert det.detect("足跟紫色丘疹").code == "zh" and det.detect("피부 발진").code == "ko"
    assert det.detect("湿疹のかゆみ").code == "ja"
    spanish = det.detect("Tengo una mancha en la piel desde hace dos semanas y me pica mucho")
    assert (spanish.code, spanish.english) == ("und", False)
    assert det.detect("Ring-shaped rash on my forearm, it itches at night").english


def test_translation_is_on_by_default_only_when_an_llm_is_configured(stub: Stub) -> None:
    assert translate_mode(RunConfig().clean.pii) == "auto" and not translation_on(RunConfig())
    assert translation_on(_profile(stub)) and translation_on(RunConfig(), client=object())
    assert not translation_on(_profile(stub, translate="off"))
    assert translation_on(RunConfig.model_validate({"augment": {"method": "llm"}}))  # an LLM option is on
    assert translation_on(_profile(translate=True)) and not translation_on(_profile(stub, translate=False))
    # the text units read the llm settings (and the detector) only while translating
    plain, with_llm = CleanStage(RunConfig()), CleanStage(_profile(stub))
    assert "llm" not in plain.unit_kinds()["text"].config and "llm" in with_llm.unit_kinds()["text"].config
    from ontology import default_version

    assert plain.unit_kinds()["text"].tools == (*detector_tools(RunConfig().clean.pii), f"ontology@{default_version()}")
    assert plain.kind_hashes()["text"] != with_llm.kind_hashes()["text"]
    assert with_llm.resources(WorkUnit("text:r", "f", TextUnit("r", "i", "x", "post_image", "t", None))) == ("llm",)


def test_non_english_post_is_translated_logged_and_cached(stub: Stub, con: object) -> None:
    stub.answer({"translation": ENGLISH, "source_language": "zh", "uncertain_terms": []})
    stage = CleanStage(_profile(stub))
    res = _post(stage, CHINESE)
    [row] = res.rows["clean_texts"]
    assert row["text"] == ENGLISH and row["translation"] == "translated"
    assert row["translated_from"].startswith("女性") and row["translated_from"].endswith("[EMAIL]")  # original kept
    assert row["language"] == "zh" and row["pii_scrubbed"] == 1
    [call] = res.rows["llm_calls"]
    assert (call["prompt"], call["error"]) == ("translation.v1", None)
    [cached] = res.rows["llm_cache"]
    assert cached["prompt"] == "translation.v1" and json.loads(cached["response"])["translation"] == ENGLISH
    sent = stub.requests[0]["messages"][0]["content"]
    assert "ana@correo" not in sent and "source language is zh" in sent.lower()
    # a redone unit (another process: no memo) reads the stored answer instead of calling again
    insert_rows(con, "llm_cache", res.rows["llm_cache"])  # type: ignore[arg-type]
    _openai_translator.cache_clear()
    again = CleanStage(_profile(stub))
    list(again.candidates(con))  # type: ignore[arg-type]
    res2 = _post(again, CHINESE)
    assert res2.rows["clean_texts"][0]["text"] == ENGLISH and len(stub.requests) == 1
    assert "llm_calls" not in res2.rows


def test_english_post_makes_no_call(stub: Stub) -> None:
    res = _post(CleanStage(_profile(stub)), "Itchy red rash on my arm for two weeks, what is it?")
    row = res.rows["clean_texts"][0]
    assert (row["language"], row["translation"], row["translated_from"]) == ("en", None, None)
    assert stub.requests == [] and "llm_calls" not in res.rows


def test_without_an_llm_the_post_is_kept_with_its_language() -> None:
    res = _post(CleanStage(RunConfig()), CHINESE)
    [row] = res.rows["clean_texts"]
    assert row["text"].startswith("女性") and row["language"] == "zh" and row["translation"] == "no_llm"
    assert row["language_detector"] in ("langid", "stopwords") and 0.0 <= row["language_confidence"] <= 1.0
    off = _post(CleanStage(_profile(translate="off")), CHINESE).rows["clean_texts"][0]
    assert off["translation"] == "off"


def test_untranslated_reject_policy() -> None:
    res = _post(CleanStage(_profile(untranslated="reject")), CHINESE)
    assert "clean_texts" not in res.rows
    [(item, reason, detail)] = [(r.item_id, r.reason, r.detail) for r in res.rejects]
    assert (item, reason) == ("r1", "not_english") and detail.startswith("zh") and "no_llm" in detail


@pytest.mark.parametrize("answer", ["not json", {"other": 1}])
def test_unusable_answer_keeps_the_original(stub: Stub, answer: object) -> None:
    stub.answer(answer)
    res = _post(CleanStage(_profile(stub)), CHINESE)
    row = res.rows["clean_texts"][0]
    assert row["text"].startswith("女性") and row["translation"] == "failed" and row["translated_from"] is None
    assert len(res.rows["llm_calls"]) == 1 and res.rows["llm_calls"][0]["error"]
    assert "llm_cache" not in res.rows


def test_llm_outage_leaves_the_unit_pending(stub: Stub) -> None:
    stub.fail(503)
    res = _post(CleanStage(_profile(stub)), CHINESE)
    assert res.unavailable and "clean_texts" not in res.rows and len(res.rows["llm_calls"]) == 1
