"""Forum post hygiene: PII placeholders, an offline English check, and an optional LLM translation hook.

Why offline first: a call per post would cost more than the rest of the clean stage, and most posts are
English. A cheap check (share of Latin letters, English against other languages' stopwords) decides which
posts would be translated; only those reach the model, and only with `clean.pii.translate` on. The model
gets prompts/translation.v1 (clinical English, standard dermatology terms, identifiers removed) through any
OpenAI-compatible client; when it fails or answers badly the scrubbed original is kept, never dropped.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from pipeline.clean.text import scrub_pii
from pipeline.config import LlmConfig, RunConfig

log = logging.getLogger(__name__)

_EN = frozenset(
    "the a an and or of to in on at is are was were be been it its this that these with for from my me i you your "
    "he she they we our has have had do does did not no but so if as by what which when how can could would should "
    "there here about after before since any some very just also than then".split()
)
_OTHER = frozenset(  # frequent function words of the languages forum dumps mix in most (es, pt, fr, de, it, nl)
    "el la los las un una y que de del en por para con es está tengo mi muy pero como se lo le "
    "o os um uma não com meu minha tenho você é "
    "le les des et est je j'ai ma mon pas une sur avec pour dans ce qui "
    "der die das und ist ich habe mein meine nicht ein eine mit auf für seit "
    "il di che non ho per sono della "
    "het een en ik niet met voor op heb".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def english_score(text: str | None) -> float:
    """1.0 for English-looking text, towards 0 for other scripts or other languages' function words."""
    letters = [c for c in text or "" if c.isalpha()]
    if not letters:
        return 1.0  # nothing to translate
    latin = sum(c.isascii() for c in letters) / len(letters)
    words = [w.lower() for w in _WORD.findall(text or "")]
    en, other = sum(w in _EN for w in words), sum(w in _OTHER and w not in _EN for w in words)
    if other >= 2 and other > en:
        return round(latin * en / (en + other), 3)
    return round(latin, 3)


class _Translation(BaseModel):
    translation: str
    source_language: str | None = None
    uncertain_terms: list[str] = Field(default_factory=list)


class Translator:
    """prompts/translation through an OpenAI-compatible client (anything with chat.completions.create);
    each call's `llm_calls` row is returned with its answer."""

    def __init__(self, client: Any, model: str, cfg: LlmConfig | None = None) -> None:
        from pipeline.llm.caller import JsonPromptCaller

        cfg = (cfg or LlmConfig()).model_copy(update={"model": model})
        self.caller = JsonPromptCaller(cfg, "translation", _Translation, client, json_mode="json_object")

    def translate(self, text: str) -> tuple[str | None, dict[str, Any]]:
        """(the English text, or None when the call or its answer fails: the caller keeps the original;
        the call's log row)."""
        answer, row = self.caller.call(text=text, source_language="auto")
        if answer is None:
            log.warning("translation failed (%s); keeping the original", row["error"])
            return None, row
        out = " ".join(answer.translation.split())
        return scrub_pii(out)[0] or None, row


@lru_cache(maxsize=2)
def _openai_translator(cfg_json: str) -> Translator:
    from pipeline.llm.calls import openai_client

    cfg = LlmConfig.model_validate_json(cfg_json)
    return Translator(openai_client(cfg), cfg.model, cfg)


def forum_text(
    text: str | None, context: str | None, kind: str, cfg: RunConfig, translator: Translator | None = None
) -> tuple[str | None, str | None, dict[str, Any], list[dict[str, Any]]]:
    """(text, context, extra clean_texts columns, llm_calls rows) for one image reference; kinds
    outside clean.pii.kinds pass through untouched. The translator defaults to the profile's LLM server
    when translate is on."""
    pcfg = cfg.clean.pii
    if kind not in pcfg.kinds:
        return text, context, {}, []
    text, n_text = scrub_pii(text)
    context, n_context = scrub_pii(context)
    counts = {k: n_text.get(k, 0) + n_context.get(k, 0) for k in {*n_text, *n_context}}
    if counts:
        log.debug("pii scrubbed: %s", counts)
    language = "en" if english_score(f"{text or ''} {context or ''}") >= pcfg.min_english_score else "other"
    extra: dict[str, Any] = {"pii_scrubbed": sum(counts.values()), "language": language, "translated_from": None}
    calls = []
    if language == "other" and pcfg.translate and text:
        translator = translator or _openai_translator(cfg.llm.model_dump_json())
        english, call = translator.translate(text)
        calls.append(call)
        if english:
            extra["translated_from"], text = text, english
    return text, context, extra, calls
