"""LLM labelling of caption text against the ontology (issue #6), via any OpenAI-compatible server.

The lexical matcher is the free baseline; a model reads hedging and context better but can invent
labels, answer with broken JSON, or be down. So the model is asked for one small structured
annotation, every label in it must resolve to the ontology (otherwise one corrective retry that
states the exact error), and the result fills the same `Labels` contract as the lexical matcher, so
the augment table and the export do not depend on the method. Every HTTP call comes back as a row
for `llm_calls` (append-only) so cost, latency and failures can be audited in SQL.
Transport, JSON modes, pacing, the corrective retry, caching and the Batch API are the shared caller's
(pipeline/llm/caller.py, pipeline/llm/batch.py); what is the labeller's own is the prompt's label lists
and turning an answer into ontology labels, which is the caller's `accept` step.

Prompts up to v2 carry the whole ontology (~6K tokens a call). A prompt that asks for the shortlist
placeholders (v3) gets a per-text shortlist instead (pipeline/augment/shortlist.py), kept under
`augment.shortlist.max_prompt_tokens`, and the answer schema of that one request has the shortlist as its
enums: a server that constrains decoding (llama.cpp, OpenAI strict mode) cannot answer anything else, and
any other server's answer fails validation and gets the corrective retry. `name.vN` pins a version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from ontology import VISUAL_CATEGORIES, Ontology, Term
from pipeline.augment.shortlist import Shortlister
from pipeline.augment.shortlist_prompt import SHORTLIST_FIELDS, ShortlistPrompt
from pipeline.config import LlmConfig
from pipeline.config.augment import ShortlistConfig
from pipeline.errors import ConfigError
from pipeline.llm.caller import CallOutcome, First, InvalidAnswer, JsonPromptCaller
from pipeline.llm.prompts import PromptError, load_prompt
from pipeline.vocab import lexical
from pipeline.vocab.demographics import gender_of, skin_tone_of
from pipeline.vocab.lexical import Labels, term_key

_VERSIONED = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>\d+)$")

_ABSENT = frozenset({"", "null", "none", "unknown", "n/a", "na", "not stated", "not specified"})


class LlmAnnotation(BaseModel):
    """The structured output asked of the model.

    No field has a default: OpenAI's strict json_schema mode requires every property to be required.
    """

    disease: str | None  # one name from the condition list, or null
    concepts: list[str]  # names from the visual concept list
    body_location: list[str]
    symptoms: list[str]
    age: str | None
    gender: str | None
    skin_tone: str | None


class LlmOutcome(CallOutcome):
    """The caller's outcome with its value read as `Labels` (None with a reject reason)."""

    @property
    def labels(self) -> Labels | None:
        return self.value

    @classmethod
    def of(cls, out: CallOutcome) -> LlmOutcome:
        return cls(out.value, out.calls, out.reason, out.detail, out.cache_rows, out.cached)


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _free(value: str | None) -> str:
    """A free-text field, or "" when the model wrote a placeholder for "not stated"."""
    value = " ".join((value or "").split()).strip(" ,;:.")  # small models trail list punctuation ("34,")
    return "" if value.casefold() in _ABSENT else value


class _Index:
    """Surface form -> node ids for one label field.

    Lookup order: canonical names, then synonyms/abbreviations, first case-folded exactly, then
    loosely normalised as the lexical matcher does (plurals, hyphens, British spelling). A name wins
    over another node's synonym, so only true collisions ("PG") are reported as ambiguous.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.layers: list[dict[str, set[str]]] = [{}, {}, {}, {}]
        for term in terms:
            base = 0 if term.kind == "name" else 1
            for offset, key in ((0, _fold(term.surface)), (2, " ".join(term_key(term.surface)))):
                self.layers[base + offset].setdefault(key, set()).add(term.node_id)

    def resolve(self, label: str) -> list[str]:
        keys = (_fold(label), " ".join(term_key(label)))
        hits = (layer.get(keys[i // 2]) for i, layer in enumerate(self.layers))
        return sorted(next((ids for ids in hits if ids), set()))


class LlmLabeller:
    """Labels one text per call through the shared caller; thread-safe."""

    def __init__(
        self, cfg: LlmConfig, ontology: Ontology, prompt_name: str = "ontology_labels", client: Any | None = None,
        shortlist: ShortlistConfig | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.ontology = cfg, ontology
        name, version = _prompt_version(prompt_name)
        placeholders = _load(name, version).placeholders
        # Every list a prompt may ask for; render() ignores the ones a template does not use.
        lists = (
            {}
            if SHORTLIST_FIELDS & placeholders
            else {
                "condition_list": "\n".join(ontology.condition_names()),
                "concept_list": "\n".join(f"{c.name}: {c.category}" for c in ontology.concepts_in()),
                "body_site_list": "\n".join(ontology.concept_names("body_site")),
                "symptom_list": "\n".join(ontology.concept_names("symptom")),
            }
        )
        self.shortlist: ShortlistPrompt | None = None
        if not lists:
            if placeholders != {"text"} | SHORTLIST_FIELDS:
                raise ConfigError(
                    f"prompt {name} must use {{text}} and all of {sorted(SHORTLIST_FIELDS)}; "
                    f"it has {sorted(placeholders)}"
                )
            self.shortlist = ShortlistPrompt(Shortlister(ontology, shortlist), cfg, _load(name, version))
        schema = self.shortlist.base_schema if self.shortlist else LlmAnnotation
        self.caller = JsonPromptCaller(cfg, name, schema, client, fixed=lists)
        if version is not None:  # the caller loads the newest version; a pinned one replaces it
            self.caller.prompt = _load(name, version)
            self.caller.prompt_key = self.caller.prompt.key
        self.prompt_key: str = self.caller.prompt_key
        if lists and ("text" not in placeholders or placeholders - {"text", *lists}):
            raise ConfigError(
                f"prompt {self.prompt_key} must use {{text}} and only {sorted(['text', *lists])}; "
                f"it has {sorted(placeholders)}"
            )
        category = {c.id: c.category for c in ontology.concepts.values()}
        concept_terms = list(ontology.terms("concepts"))
        self._indexes = {
            "disease": _Index(ontology.terms("conditions")),
            "concepts": _Index(t for t in concept_terms if category[t.node_id] in VISUAL_CATEGORIES),
            "body_location": _Index(t for t in concept_terms if category[t.node_id] == "body_site"),
            "symptoms": _Index(t for t in concept_terms if category[t.node_id] == "symptom"),
        }

    @property
    def json_mode(self) -> str:
        return self.caller.json_mode

    @property
    def memo(self) -> dict[str, str]:
        return self.caller.memo

    @property
    def client(self) -> Any:
        return self.caller.client

    def values(self, text: str) -> dict[str, object]:
        """The prompt's values for `text`: the text alone, or with its shortlist fitted to the token budget."""
        return self.shortlist.values(text) if self.shortlist else {"text": text}

    def messages(self, text: str) -> list[dict[str, str]]:
        return self.caller.messages(**self.values(text))

    def cache_key(self, text: str) -> str:
        """The cache's input hash: the rendered first-turn messages (prompt text, label lists, input)."""
        return self.caller.cache_key(**self.values(text))

    def from_cache(self, content: str) -> Labels | None:
        """Labels from a cached answer, or None if it no longer resolves (the ontology changed)."""
        return self.caller.from_cache(content, self._labels)  # type: ignore[no-any-return]

    def label(self, text: str, cached: str | None = None) -> LlmOutcome:
        """Ask once; on an unusable answer ask once more, quoting the error. Never raises for the item.

        `cached`: an answer from `llm_cache` for this text's `cache_key`; used instead of a call.
        """
        caller = self._caller_for(text)
        try:
            return LlmOutcome.of(
                caller.ask(self.values(text), lambda a: self._grounded(self._labels(a), text), cached)
            )
        finally:
            self.caller.json_mode = caller.json_mode  # a server's refusal of json_schema holds for every text

    def resume(self, text: str, first: First) -> LlmOutcome:
        """Continue from a first answer obtained elsewhere (a Batch API result)."""
        caller = self._caller_for(text)
        try:
            return LlmOutcome.of(
                caller.resume(self.values(text), first, lambda a: self._grounded(self._labels(a), text))
            )
        finally:
            self.caller.json_mode = caller.json_mode

    @staticmethod
    def _grounded(labels: Labels, text: str) -> Labels:
        """Demographics the text does not state are dropped, not trusted: a small model copies the prompt's
        example ("34", "female") onto a text that names no patient. An age must appear in the text as
        digits; a sex or skin tone only where the text states one (pipeline/vocab/demographics.py)."""
        if labels.age != lexical.NO_AGE and not all(d in text for d in re.findall(r"\d+", labels.age)):
            labels.age = lexical.NO_AGE
        if labels.gender != lexical.NO_GENDER and gender_of(text) == lexical.NO_GENDER:
            labels.gender = lexical.NO_GENDER
        if labels.skin_tone != lexical.NO_SKIN_TONE and skin_tone_of(text) == lexical.NO_SKIN_TONE:
            labels.skin_tone = lexical.NO_SKIN_TONE
        return labels

    def _caller_for(self, text: str) -> JsonPromptCaller:
        """The shared caller, or a view of it whose answer schema has this text's shortlist as enums."""
        if self.shortlist is None:
            return self.caller
        return self.shortlist.narrowed(self.caller, self.shortlist.fit(text)[1])

    def _resolve(self, annotation: LlmAnnotation) -> dict[str, list[str]]:
        """Node ids per field, in answer order without repeats; raises listing every bad label."""
        values: dict[str, list[str]] = {
            "disease": [disease] if (disease := _free(annotation.disease)) else [],
            "concepts": annotation.concepts, "body_location": annotation.body_location,
            "symptoms": annotation.symptoms,
        }  # fmt: skip
        ids: dict[str, list[str]] = {}
        unknown: list[str] = []
        ambiguous: list[str] = []
        for name, labels in values.items():
            found: dict[str, None] = {}
            for label in labels:
                hits = self._indexes[name].resolve(label)
                if len(hits) == 1:
                    found[hits[0]] = None
                elif hits:
                    table: Any = self.ontology.conditions if name == "disease" else self.ontology.concepts
                    owners = " or ".join(repr(table[h].name) for h in hits)
                    ambiguous.append(f"{name} {label!r} (could be {owners}; give the full name)")
                else:
                    unknown.append(f"{name} {label!r}")
            ids[name] = list(found)
        problems = [f"labels not in the allowed lists: {', '.join(unknown)}"] if unknown else []
        problems += [f"ambiguous labels: {', '.join(ambiguous)}"] if ambiguous else []
        if problems:
            raise InvalidAnswer("; ".join(problems))
        return ids

    def _labels(self, answer: BaseModel) -> Labels:
        """The same fields, sentinels and rules as `LexicalMatcher.label`, without mentions."""
        annotation = LlmAnnotation(**self.shortlist.annotation(answer)) if self.shortlist else answer
        assert isinstance(annotation, LlmAnnotation)
        ids = self._resolve(annotation)
        labels = Labels()
        if ids["disease"]:
            best = ids["disease"][0]
            labels.condition_ids = [best]
            labels.disease_label = self.ontology.conditions[best].name
            labels.hierarchical_disease_label = self.ontology.hierarchical_label(best)
        concepts = self.ontology.concepts
        visual = [i for i in ids["concepts"] if concepts[i].category != "artefact"]  # as the lexical matcher

        def names(node_ids: list[str], empty: str) -> str:
            return ", ".join(concepts[i].name for i in node_ids) or empty

        labels.concept_ids = visual
        labels.skin_concept = names(visual, lexical.NO_CONCEPTS)
        labels.body_location = names(ids["body_location"], lexical.NO_BODY_LOCATION)
        labels.symptoms = names(ids["symptoms"], lexical.NO_SYMPTOMS)
        labels.age = _free(annotation.age) or lexical.NO_AGE
        labels.gender = _free(annotation.gender).lower() or lexical.NO_GENDER
        labels.skin_tone = _free(annotation.skin_tone) or lexical.NO_SKIN_TONE
        return labels


def _prompt_version(prompt_name: str) -> tuple[str, int | None]:
    """ "ontology_labels" -> (name, None: the newest); "ontology_labels.v2" -> (name, 2)."""
    match = _VERSIONED.match(prompt_name)
    return (match["name"], int(match["version"])) if match else (prompt_name, None)


def _load(name: str, version: int | None) -> Any:
    try:
        return load_prompt(name, version)
    except PromptError as exc:
        raise ConfigError(str(exc)) from exc
