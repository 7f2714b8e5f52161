"""Forum text hygiene: PII becomes placeholders, clinical numbers survive, non-English posts reach the
translation hook only when it is switched on, and a failing model never loses the post."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pipeline.clean.stage import CleanStage
from pipeline.clean.text import scrub_pii
from pipeline.clean.translate import Translator, english_score, forum_text
from pipeline.clean.units import TextUnit
from pipeline.config import RunConfig
from pipeline.stage import WorkUnit


@pytest.mark.parametrize(("raw", "clean", "counts"), [
    ("Mail jane.doe+derm@gmail.com or call (555) 123-4567", "Mail [EMAIL] or call [PHONE]",
     {"[EMAIL]": 1, "[PHONE]": 1}),
    ("Thanks u/itchy_guy, /u/Other-One and @dr.smith!", "Thanks [USER], [USER] and [USER]!", {"[USER]": 3}),
    ("Photos: https://imgur.com/a/xYz12?x=1, more at www.example.org/page.",
     "Photos: [URL], more at [URL].", {"[URL]": 2}),
    ("Text me on +44 20 7946 0958 or 0612345678", "Text me on [PHONE] or [PHONE]", {"[PHONE]": 2}),
    ("0.05% cream for 3-4 weeks, lesion 2 x 3 cm since 2021-03-04, PMID 12345678",
     "0.05% cream for 3-4 weeks, lesion 2 x 3 cm since 2021-03-04, PMID 12345678", {}),
])
def test_scrub_pii(raw, clean, counts):
    assert scrub_pii(raw) == (clean, counts)


def test_english_check():
    assert english_score("Ring-shaped rash on my forearm, it itches at night") >= 0.9
    assert english_score("Scaly annular plaque, itchy, three weeks.") >= 0.9  # few stopwords is still English
    assert english_score("Tengo una mancha en la piel desde hace dos semanas y me pica mucho") < 0.5
    assert english_score("女性，24岁，耳后及面部出现大疱") < 0.2
    assert english_score(None) == 1.0


class _FakeClient:
    """Just enough of openai.OpenAI: chat.completions.with_raw_response.create records the prompt and answers
    a chat.completion body."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer, self.calls = answer, []
        raw = SimpleNamespace(create=self._create)
        self.chat = SimpleNamespace(completions=SimpleNamespace(with_raw_response=raw))

    def _create(self, **kw):
        self.calls.append(kw)
        if isinstance(self.answer, Exception):
            raise self.answer
        body = {"choices": [{"message": {"content": self.answer}}]}
        return SimpleNamespace(http_response=SimpleNamespace(json=lambda: body, text=json.dumps(body)))


SPANISH = "Tengo una mancha en la piel desde hace dos semanas, escribe a ana@correo.es"
ANSWER = json.dumps({"translation": "I have had a skin patch for two weeks", "source_language": "es",
                     "uncertain_terms": []})


def _cfg(translate: bool) -> RunConfig:
    cfg = RunConfig()
    cfg.clean.pii.translate = translate
    return cfg


def test_translation_hook_off_by_default_and_on_when_asked():
    client = _FakeClient(ANSWER)
    text, _, extra, calls = forum_text(SPANISH, None, "post_image", _cfg(False), Translator(client, "m"))
    assert text.endswith("[EMAIL]") and extra == {"pii_scrubbed": 1, "language": "other", "translated_from": None}
    assert client.calls == []
    text, _, extra, calls = forum_text(SPANISH, None, "post_image", _cfg(True), Translator(client, "m"))
    assert text == "I have had a skin patch for two weeks" and extra["translated_from"].endswith("[EMAIL]")
    assert len(client.calls) == 1 and "ana@correo" not in client.calls[0]["messages"][0]["content"]
    assert [(c["prompt"], c["error"]) for c in calls] == [("translation.v1", None)]  # logged as a call row
    english, _, extra, calls = forum_text("An itchy red rash on my arm", None, "post_image", _cfg(True), Translator(client, "m"))
    assert extra["language"] == "en" and len(client.calls) == 1  # English posts make no call


@pytest.mark.parametrize("answer", [RuntimeError("503"), "not json", json.dumps({"other": 1})])
def test_failed_translation_keeps_the_post(answer):
    text, _, extra, calls = forum_text(SPANISH, None, "post_image", _cfg(True), Translator(_FakeClient(answer), "m"))
    assert text.startswith("Tengo una mancha") and extra["translated_from"] is None
    assert len(calls) == 1 and calls[0]["error"]  # the failure is in the call log


def test_clean_stage_scrubs_posts_but_not_captions():
    stage = CleanStage(RunConfig())
    rows = {}
    for kind in ("post_image", "dataset_image"):
        payload = TextUnit(f"r-{kind}", "i", "x", kind, "Itchy plaque, see https://imgur.com/abc and ask u/dermdoc",
                           None)
        res = stage.process(WorkUnit(f"text:r-{kind}", "f", payload))
        rows[kind] = res.rows["clean_texts"][0]
    post = rows["post_image"]
    assert post["text"] == "Itchy plaque, see [URL] and ask [USER]" and post["pii_scrubbed"] == 2
    assert post["changed"] and post["language"] == "en"
    assert "https://imgur.com/abc" in rows["dataset_image"]["text"] and "pii_scrubbed" not in rows["dataset_image"]
