"""LLM correction of transcripts: the option for what the phonetic corrector cannot hear.

The offline corrector (pipeline.vocab.transcript) fixes single misheard terms by sound; a model can also
mend split words and context ("bristle cell carcinoma", "eczema her pet icum"). It gets
prompts/transcript_correction with a short vocabulary (the ontology terms that sound like words of the
segment, so the prompt stays small) and must answer `{corrected, changes}`. The answer is distrusted:
one whose characters match the input less than 80 % (difflib ratio) is a paraphrase, not a correction, and is dropped with
the original kept. Every call is an `llm_calls` row; every kept change a
`clean_transcript_corrections` row with method `llm:<model>`.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import LlmConfig
from pipeline.llm.caller import JsonPromptCaller
from pipeline.vocab.transcript import Correction, TermCorrector, phonetic_key


class _Change(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    original: str = Field(alias="from")
    replacement: str = Field(alias="to")


class TranscriptAnswer(BaseModel):
    corrected: str
    changes: list[_Change] = Field(default_factory=list)


class LlmTranscriptCorrector:
    def __init__(self, cfg: LlmConfig, terms: TermCorrector, client: Any | None = None,
                 min_similarity: float = 0.8, vocabulary_size: int = 60) -> None:
        self.caller = JsonPromptCaller(cfg, "transcript_correction", TranscriptAnswer, client,
                                       json_mode="json_object")
        self.terms, self.model = terms, cfg.model
        self.min_similarity, self.vocabulary_size = min_similarity, vocabulary_size

    def vocabulary(self, text: str) -> list[str]:
        """Ontology terms whose sound key starts like the key of a word (or two joined) of the text."""
        words = [w for w in text.lower().split() if w.isalpha()]
        grams = {phonetic_key(w)[:3] for w in words if len(w) >= 4}
        grams |= {phonetic_key(a + b)[:3] for a, b in zip(words, words[1:], strict=False)}
        grams.discard("")
        hits = sorted({surface for key, (surface, _) in self.terms.by_key.items() if key[:3] in grams})
        return hits[: self.vocabulary_size]

    def correct(self, text: str) -> tuple[str, list[Correction], dict[str, Any]]:
        """(text to keep, its changes, the call's log row)."""
        answer, row = self.caller.call(vocabulary="\n".join(self.vocabulary(text)) or "(none)", transcript=text)
        if answer is None:
            return text, [], row
        new = " ".join(answer.corrected.split())
        # characters, not words: joining "her pet icum" into "herpeticum" is a small edit, a paraphrase is not
        similarity = SequenceMatcher(None, text.lower(), new.lower(), autojunk=False).ratio()
        if not new or similarity < self.min_similarity:
            row["error"] = f"rejected: a rewrite, not a correction (similarity {similarity:.2f})"
            return text, [], row
        changes = []
        for change in answer.changes:
            if change.original.strip() == change.replacement.strip():
                continue
            start = text.lower().find(change.original.lower())
            hit = self.terms.by_key.get(phonetic_key(change.replacement))
            changes.append(Correction(start, start + len(change.original) if start >= 0 else -1, change.original,
                                      change.replacement, hit[1] if hit else "", f"llm:{self.model}"))
        return new, changes, row
