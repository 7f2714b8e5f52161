"""Forum post hygiene: PII placeholders, the language of the text, and its translation into English.

Why a real detector: Derm1M drew on a Chinese forum, and other forums mix Spanish, Portuguese, French...
posts into English ones. A stopword check tells English from not-English but cannot name the language,
which the translation prompt and the corpus record both want, and it misses Latin-script text without
function words ("Résultat fonctionnel à 3 mois"). The detector is py3langid (extra `lang`; the maintained
fork of langid.py: offline, its 4.5 MB model in the package, numpy only) over `clean.pii.languages`, with
two guards for medical English, whose Latinate vocabulary reads as Italian or Spanish to any n-gram model:
a non-English guess below `min_language_confidence` (0.9) is English, and so is Latin-script text with at
least two English function words outnumbering other languages' ones. Measured by bench/language.py on the
real texts at hand (SkinCAP's 280 Chinese and 140 English captions, Derm1M's 301 dev captions, ROCO's 4,895
PMC captions of which 16 are French, German or Portuguese; 5,616 texts): 5,611 languages right, 294/296
non-English found, 3/5,320 English texts sent to translation. Lingua (lingua-language-detector 2.1.1), the
other maintained offline detector, did worse on the same texts (its best setting 293/296 found, 9 English
sent, 96 MB; it reads a long English histopathology caption as Italian at 0.85), the stopword check found
288/296. Without the extra the stopword check stands in (`language_detector` in the row says which ran): it
names only Chinese, Japanese and Korean, by script.

What happens to non-English text: with an LLM configured (`clean.pii.translate` auto and the profile has an
`llm:` section or an option that calls the LLM, such as `augment.method: llm`; or on) it is translated by prompts/translation through the shared caller (each call an
`llm_calls` row, accepted answers `llm_cache` rows reused on reruns), the original kept in
`translated_from`. Without one, or when the answer is unusable, the text is kept as written with its
language recorded (`translation`: no_llm / off / failed), or rejected as `not_english` if
`clean.pii.untranslated` says so; it is never dropped silently.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, Field

from pipeline.clean.text import scrub_pii
from pipeline.config import LlmConfig, PiiConfig, RunConfig

log = logging.getLogger(__name__)
LANGID = "py3langid"

_EN = frozenset(
    "the a an and or of to in on at is are was were be been it its this that these with for from my me i you your "
    "he she they we our has have had do does did not no but so if as by what which when how can could would should "
    "there here about after before since any some very just also than then".split()
)
_OTHER = (
    frozenset(  # frequent function words of the languages forum dumps mix in most (es, pt, fr, de, it, nl)
        "el la los las un una y que de del en por para con es está tengo mi muy pero como se lo le "
        "o os um uma não com meu minha tenho você é "
        "le les des et est je j'ai ma mon pas une sur avec pour dans ce qui "
        "der die das und ist ich habe mein meine nicht ein eine mit auf für seit "
        "il di che non ho per sono della "
        "het een en ik niet met voor op heb".split()
    )
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


@dataclass(frozen=True)
class Language:
    """A text's language: ISO 639-1 `code` ('und' when it cannot be named), whether it counts as English
    (nothing to translate), the detector's confidence and which detector said so."""

    code: str
    english: bool
    confidence: float
    detector: str


class LanguageDetector(Protocol):
    name: str

    def detect(self, text: str) -> Language: ...


class StopwordDetector:
    """english_score against a threshold; a non-English text is named only by its script (CJK)."""

    name = "stopwords"

    def __init__(self, min_english_score: float) -> None:
        self.min_english_score = min_english_score

    def detect(self, text: str) -> Language:
        if not any(c.isalpha() for c in text):
            return Language("und", True, 1.0, self.name)
        score = english_score(text)
        if score >= self.min_english_score:
            return Language("en", True, score, self.name)
        names = {unicodedata.name(c, "").split(" ")[0] for c in text if c.isalpha() and not c.isascii()}
        code = (
            "ja"
            if {"HIRAGANA", "KATAKANA"} & names
            else "ko"
            if "HANGUL" in names
            else "zh"
            if "CJK" in names
            else "und"
        )
        return Language(code, False, round(1.0 - score, 3), self.name)


def _english_words(text: str) -> tuple[int, int]:
    """(English function words, other languages' function words) in the text."""
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(w in _EN for w in words), sum(w in _OTHER and w not in _EN for w in words)


class LangidDetector:
    """py3langid over a fixed candidate set, probabilities normalised; a non-English guess counts only
    when it is at least `min_confidence` and English function words do not say otherwise (see the module
    docstring for the measurement behind both guards)."""

    name = "langid"

    def __init__(self, languages: tuple[str, ...], min_confidence: float) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.identifier.set_languages(list(dict.fromkeys(("en", *languages))))
        self.min_confidence = min_confidence

    def detect(self, text: str) -> Language:
        letters = [c for c in text if c.isalpha()]
        if not letters:
            return Language("und", True, 1.0, self.name)
        code, prob = self.identifier.classify(text)
        prob = round(float(prob), 3)
        if code == "en":
            return Language("en", True, prob, self.name)
        latin = sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters) / len(letters)
        en, other = _english_words(text)
        if prob < self.min_confidence or (latin > 0.9 and en >= 2 and en > other):
            return Language("en", True, round(1.0 - prob, 3), self.name)
        return Language(code, False, prob, self.name)


def langid_version() -> str | None:
    """The installed py3langid's version, None when the `lang` extra is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LANGID)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=4)
def _detector(
    kind: str, languages: tuple[str, ...], min_confidence: float, min_english: float
) -> LanguageDetector:
    if kind == "langid":
        return LangidDetector(languages, min_confidence)
    return StopwordDetector(min_english)


def language_detector(pcfg: PiiConfig) -> LanguageDetector:
    """The profile's detector, built once per process; `auto` is py3langid when installed."""
    kind = pcfg.language_detector
    if kind == "auto":
        kind = "langid" if langid_version() else "stopwords"
    elif kind == "langid" and not langid_version():
        from pipeline.errors import ConfigError

        raise ConfigError("clean.pii.language_detector: langid needs the `lang` extra (py3langid)")
    return _detector(kind, tuple(pcfg.languages), pcfg.min_language_confidence, pcfg.min_english_score)


def detector_tools(pcfg: PiiConfig) -> tuple[str, ...]:
    """The detector that would run, versioned, for the text units' fingerprint."""
    version = langid_version() if pcfg.language_detector != "stopwords" else None
    return (f"{LANGID}:{version}",) if version else ("stopwords",)


def translate_mode(pcfg: PiiConfig) -> str:
    """on / off / auto; profiles from before the modes said true or false."""
    value: Any = pcfg.translate
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def llm_configured(cfg: RunConfig) -> bool:
    """Whether the profile uses an LLM: an `llm:` section, or any option that calls it."""
    return (
        "llm" in cfg.model_fields_set
        or cfg.augment.method == "llm"
        or cfg.augment.caption_method == "llm"
        or cfg.clean.transcript.llm_correct
        or cfg.pair.caption_method == "llm"
    )


def translation_on(cfg: RunConfig, client: Any | None = None) -> bool:
    """Whether non-English text is translated: `on`, or `auto` with an LLM configured (llm_configured, or
    a client handed to the stage)."""
    mode = translate_mode(cfg.clean.pii)
    return mode == "on" or (mode == "auto" and (client is not None or llm_configured(cfg)))


class _Translation(BaseModel):
    translation: str
    source_language: str | None = None
    uncertain_terms: list[str] = Field(default_factory=list)


@dataclass
class Translated:
    """A translation attempt: the English text (None when unusable), its call rows and new cache rows."""

    english: str | None
    calls: list[dict[str, Any]] = field(default_factory=list)
    cache_rows: list[dict[str, Any]] = field(default_factory=list)


class Translator:
    """prompts/translation through the shared caller (any OpenAI-compatible client); answers are cached by
    (prompt version, model, input hash): `cache` maps input hashes to stored answers (`llm_cache`)."""

    def __init__(
        self, client: Any, model: str, cfg: LlmConfig | None = None, cache: dict[str, str] | None = None
    ) -> None:
        from pipeline.llm.caller import JsonPromptCaller

        cfg = (cfg or LlmConfig()).model_copy(update={"model": model})
        self.caller = JsonPromptCaller(cfg, "translation", _Translation, client, json_mode="json_object")
        self.cache = cache or {}

    def attempt(self, text: str, source_language: str = "auto") -> Translated:
        values: dict[str, object] = {"text": text, "source_language": source_language}
        stored = self.cache.get(self.caller.cache_key(**values))
        out = self.caller.ask(values, cached=stored, retry=False)
        if out.value is None:
            log.warning(
                "translation failed (%s); keeping the original", out.calls[-1]["error"] if out.calls else ""
            )
            return Translated(None, out.calls)
        english = scrub_pii(" ".join(out.value.translation.split()))[0] or None
        return Translated(english, out.calls, out.cache_rows)


@lru_cache(maxsize=2)
def _openai_translator(cfg_json: str) -> Translator:
    from pipeline.llm.calls import openai_client

    cfg = LlmConfig.model_validate_json(cfg_json)
    return Translator(openai_client(cfg), cfg.model, cfg)


@dataclass
class ForumText:
    """One image reference's text after hygiene: the columns for clean_texts and the LLM rows."""

    text: str | None
    context: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    language: Language | None = None


def clean_forum_text(
    text: str | None,
    context: str | None,
    kind: str,
    cfg: RunConfig,
    translate: bool,
    translator: Translator | None = None,
) -> ForumText:
    """PII placeholders, the language, and a translation when `translate` (see translation_on); kinds
    outside clean.pii.kinds pass through untouched. The translator defaults to the profile's LLM server."""
    pcfg = cfg.clean.pii
    if kind not in pcfg.kinds:
        return ForumText(text, context)
    text, n_text = scrub_pii(text)
    context, n_context = scrub_pii(context)
    counts = {k: n_text.get(k, 0) + n_context.get(k, 0) for k in {*n_text, *n_context}}
    lang = language_detector(pcfg).detect(f"{text or ''} {context or ''}".strip())
    out = ForumText(
        text,
        context,
        language=lang,
        extra={
            "pii_scrubbed": sum(counts.values()),
            "language": lang.code,
            "language_confidence": lang.confidence,
            "language_detector": lang.detector,
            "translated_from": None,
            "translation": None,
        },
    )
    if lang.english or not text:
        return out
    if not translate:
        out.extra["translation"] = "off" if translate_mode(pcfg) == "off" else "no_llm"
        return out
    translator = translator or _openai_translator(cfg.llm.model_dump_json())
    done = translator.attempt(text, lang.code if lang.code != "und" else "auto")
    out.calls, out.cache_rows = done.calls, done.cache_rows
    if done.english:
        out.extra |= {"translated_from": text, "translation": "translated"}
        out.text = done.english
    else:
        out.extra["translation"] = "failed"
    return out


def forum_text(
    text: str | None, context: str | None, kind: str, cfg: RunConfig, translator: Translator | None = None
) -> tuple[str | None, str | None, dict[str, Any], list[dict[str, Any]]]:
    """(text, context, extra clean_texts columns, llm_calls rows): clean_forum_text with the translation
    decided by the profile alone (`translator` is only the client used when it is on)."""
    out = clean_forum_text(text, context, kind, cfg, translation_on(cfg), translator)
    return out.text, out.context, out.extra, out.calls
