"""Deterministic, offline labelling of caption text against the project ontology.

The LLM augmentation is the expensive path and is not always available; this matcher gives every
pair a free baseline label set in the Derm1M field format, is the fallback when no LLM runs, and
its mentions tell the caption refiner which sentences carry clinical content. It is a dictionary
matcher (longest match over normalised tokens) with NegEx-style negation and uncertainty scopes,
so "no evidence of melanoma" never becomes a melanoma label.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from ontology import Ontology, default_ontology
from pipeline.vocab.demographics import NO_AGE, NO_GENDER, NO_SKIN_TONE, age_of, gender_of, skin_tone_of

__all__ = ["NO_AGE", "NO_GENDER", "NO_SKIN_TONE", "NO_DIAGNOSIS", "NO_CONCEPTS", "NO_BODY_LOCATION", "NO_SYMPTOMS",
           "Labels", "LexicalMatcher", "Mention", "normalise_token", "term_key"]

NO_DIAGNOSIS = "no definitive diagnosis"
NO_CONCEPTS = "No visual concepts"
NO_BODY_LOCATION = "No body location information"
NO_SYMPTOMS = "No symptom information"

_TOKEN_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[.;:!?()\[\]]")
_TERMINATORS = frozenset(".;:!?()[]") | {
    "but", "however", "although", "though", "except", "whereas", "while", "yet", "which",
    "consistent", "compatible", "suggestive", "diagnosed", "confirmed", "showing", "show", "reveal",
}  # fmt: skip
_IRREGULAR = {
    "nevi": "nevus", "naevi": "nevus", "feet": "foot", "teeth": "tooth", "men": "man", "women": "woman",
    "gentlemen": "gentleman", "children": "child", "lentigines": "lentigo", "verrucae": "verruca",
    "telangiectases": "telangiectasia", "lacunae": "lacuna", "bullae": "bulla", "milia": "milium",
    "metastases": "metastasis", "diagnoses": "diagnosis",
}  # fmt: skip
_BACK_IDIOM_BEFORE = frozenset(
    "come came coming welcome go went going get got getting bring brought look looked looking grow "
    "grew growing call called hold held push pushed cut set step pay paid write wrote hear heard report "
    "reported check checked be was is are were been way roll rolled scale scaled turn turned give gave "
    "send sent".split()
)  # "welcome back", "came back": the adverb, not the body site
_BACK_IDIOM_AFTER = frozenset({"to", "into", "forth", "then", "up", "again", "home", "of"})  # "back of the hand"
_IMMEDIATE = frozenset({("non",), ("like",)})  # only when directly attached: "non-tender", "EM-like"
_ABBREVIATION_DOTS = frozenset({"vs", "v", "e", "g", "i", "dr", "fig", "etc", "approx", "st", "ca", "cf"})
_COORDINATORS = frozenset({"or", "and", "nor", "either", "as", "well"})
_SPELLING = {
    "tumour": "tumor", "colour": "color", "coloured": "colored", "grey": "gray", "greyish": "grayish",
}  # fmt: skip
_NEGATION_PRE = (
    "no", "not", "without", "never", "denies", "denied", "deny", "negative for", "no evidence of",
    "no sign of", "no signs of", "absence of", "absent", "free of", "ruled out", "excluded", "non",
)  # fmt: skip
_NEGATION_POST = ("was ruled out", "ruled out", "was excluded", "excluded", "unlikely", "absent", "negative")
_UNCERTAIN_PRE = (
    "rule out", "r o", "differential diagnosis", "differential diagnoses", "differential", "ddx",
    "possible", "possibly", "probable", "probably", "suspected", "suspect", "suspicious for",
    "suspicion of", "concern for", "consider", "considered", "may be", "might be", "could be", "likely",
    "versus", "vs", "resembling", "mimicking", "simulating", "questionable", "presumed", "query",
    "whether", "potential", "potentially", "differentials", "concern about", "possibility of",
    "cannot exclude", "not excluding", "cannot rule out", "can not rule out", "cant rule out",
    "not ruled out", "cannot be excluded", "thought to be", "is it", "is this", "could it be", "could this be",
    "mimic", "mimics", "mimicked by", "similar to", "akin to", "comparable to", "reminiscent of",
)  # fmt: skip
_UNCERTAIN_POST = ("versus", "vs", "was suspected", "is suspected", "suspected", "was considered", "like")
_SUBJECT_CUES = (
    "diagnosis of", "diagnosis is", "diagnosis was", "diagnosed as", "diagnosed with", "diagnosed", "diagnosis",
    "describes", "depicts", "image of", "photo of", "photograph of", "picture of", "case of", "example of",
    "consistent with", "compatible with", "confirmed", "confirming", "suffering from", "patient with",
    "presenting with", "known as", "called", "shows",
)  # fmt: skip
_SUBJECT_FILLER = frozenset(
    "a an the this typical classic classical early late severe mild extensive chronic acute recurrent "
    "generalized localized widespread florid advanced rare common case cases of".split()
)
_PSEUDO = (
    "not only", "no longer", "not just", "not necessarily", "no change", "no doubt", "not ruled out",
    "not excluding", "not exclude", "cannot exclude", "cannot be excluded", "not be excluded",
)  # fmt: skip
@dataclass(frozen=True)
class Mention:
    kind: str  # "condition" | "concept" | "body_site" | "symptom"
    node_id: str
    text: str
    start: int
    end: int
    negated: bool
    uncertain: bool
    subject: bool = False  # named as what the text is about ("diagnosed with X", "This image describes X")


@dataclass
class Labels:
    disease_label: str = NO_DIAGNOSIS
    hierarchical_disease_label: str = NO_DIAGNOSIS
    condition_ids: list[str] = field(default_factory=list)
    skin_concept: str = NO_CONCEPTS
    concept_ids: list[str] = field(default_factory=list)
    body_location: str = NO_BODY_LOCATION
    symptoms: str = NO_SYMPTOMS
    age: str = NO_AGE
    gender: str = NO_GENDER
    skin_tone: str = NO_SKIN_TONE
    mentions: list[Mention] = field(default_factory=list)


@lru_cache(maxsize=65536)
def normalise_token(token: str) -> str:
    """Case, accents, possessives, British spelling and plurals folded so surface variants meet."""
    tok = unicodedata.normalize("NFKD", token.lower()).encode("ascii", "ignore").decode()
    tok = re.sub(r"'s$", "", tok.replace("’", "'")).replace("'", "")
    tok = re.sub(r"(?<=[a-z])ae(?=[a-z])", "e", _SPELLING.get(tok, tok))
    tok = re.sub(r"^oe(?=[dst])|(?<=rrh)oe|(?<=[a-z])oe(?=dem)", "e", tok)  # oedema, diarrhoea, myxoedema
    if len(tok) > 6:  # generalised, pigmentation-isation: UK -ise folded onto -ize (both sides alike)
        tok = re.sub(r"is(e|es|ed|ing|ation|ations)$", r"iz\1", tok)
    if tok in _IRREGULAR:
        return _IRREGULAR[tok]
    if tok.endswith("omata") and len(tok) > 7:  # xanthomata, condylomata, granulomata
        return tok[:-2]
    if len(tok) <= 3 or not tok.endswith("s") or tok.endswith(("ss", "us", "is")):
        return tok
    if tok.endswith("oses") and len(tok) >= 8:  # keratoses, dermatoses; not noses, doses
        return tok[:-2] + "is"
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith(("sses", "shes", "ches", "xes", "zes")):
        return tok[:-2]
    return tok[:-1]


_PREFIXES = ("peri", "para", "sub", "intra", "inter", "hyper", "hypo", "pseudo", "post", "supra", "infra",
             "extra", "epi", "poly", "multi", "retro", "trans", "anti", "auto")  # fmt: skip


def _split_prefix(tok: str) -> tuple[str, ...]:
    for prefix in _PREFIXES:
        if tok.startswith(prefix) and len(tok) - len(prefix) >= 4:
            return (prefix, tok[len(prefix):])
    return (tok,)


def term_key(text: str) -> tuple[str, ...]:
    """The normalised token tuple a surface form is indexed under (hyphens count as spaces)."""
    return tuple(normalise_token(t) for t in _TOKEN_RE.findall(text.replace("-", " ")))


def _phrases(items: tuple[str, ...]) -> dict[str, list[tuple[str, ...]]]:
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for key in sorted({term_key(item) for item in items}, key=len, reverse=True):
        by_first.setdefault(key[0], []).append(key)
    return by_first


@dataclass
class _Table:
    """Precompiled surface forms of one mention kind: folded keys, and case-exact abbreviations."""

    folded: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    exact: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)  # first token -> longest key starting with it

    def add(self, key: tuple[str, ...], node_id: str, exact: bool = False) -> None:
        if key:
            (self.exact if exact else self.folded).setdefault(key, set()).add(node_id)
            first = ("\0" + key[0]) if exact else key[0]
            self.longest[first] = max(self.longest.get(first, 0), len(key))


@dataclass
class _Hit:
    kind: str
    ids: tuple[str, ...]
    start: int  # token indices
    end: int


class LexicalMatcher:
    """Labels free text with ontology conditions, concepts, body sites, symptoms and demographics.

    Build once and reuse: construction compiles every surface form into hash tables, and `label`
    is a single longest-match pass per mention kind plus small regexes for age and skin tone.
    """

    def __init__(self, ontology: Ontology | None = None, *, window: int = 5, post_window: int = 3,
                 use_uncertain: bool = True) -> None:  # fmt: skip
        self.ontology = ontology or default_ontology()
        self.window, self.post_window, self.use_uncertain = window, post_window, use_uncertain
        self._tables = {kind: _Table() for kind in ("condition", "concept", "body_site", "symptom")}
        for term in self.ontology.terms("conditions"):
            self._add(self._tables["condition"], term.surface, term.node_id, term.kind == "abbreviation")
        for term in self.ontology.terms("concepts"):
            category = self.ontology.concepts[term.node_id].category
            kind = category if category in ("body_site", "symptom") else "concept"
            self._add(self._tables[kind], term.surface, term.node_id, False)
        self._neg_pre, self._neg_post = _phrases(_NEGATION_PRE), _phrases(_NEGATION_POST)
        self._unc_pre, self._unc_post = _phrases(_UNCERTAIN_PRE), _phrases(_UNCERTAIN_POST)
        self._pseudo = _phrases(_PSEUDO)
        self._subject = _phrases(_SUBJECT_CUES)
        self._groupings = _Table()  # multi-word names of taxonomy buckets ("vascular lesions"): the last resort
        for cond in self.ontology.conditions.values():
            if cond.grouping:
                for surface in (cond.name, *cond.synonyms):
                    if len(term_key(surface)) >= 2:
                        self._groupings.add(term_key(surface), cond.id)

    @staticmethod
    def _add(table: _Table, surface: str, node_id: str, abbreviation: bool) -> None:
        if abbreviation:
            raw = tuple(_TOKEN_RE.findall(surface.replace("-", " ")))
            table.add(raw, node_id, exact=True)
            table.add((*raw[:-1], raw[-1] + "s"), node_id, exact=True)
            return
        key = term_key(surface)
        table.add(key, node_id)
        if "-" in surface:
            table.add(term_key(surface.replace("-", "")), node_id)
        split = tuple(part for tok in key for part in _split_prefix(tok))
        if split != key:  # "periungual" is also written "peri-ungual"
            table.add(split, node_id)
        if 2 <= len(key) <= 3:  # "psoriasis (plaque)", the way Derm1M and dataset class lists write subtypes
            table.add((key[-1], "(", *key[:-1], ")"), node_id)

    def label(self, text: str, context: str | None = None) -> Labels:
        """Labels of `text`. `context` is the text of what it came from (a lecture's title, an article's):
        when `text` names no disease of its own (nothing, or only findings such as "nail pitting" in a
        psoriasis lecture), the disease the context names certainly is the label; the mentions stay the
        text's."""
        labels = self._label(text)
        if context and (not labels.condition_ids or self._descriptive(labels.condition_ids[0])):
            outer = self._label(context)
            if outer.condition_ids and not self._descriptive(outer.condition_ids[0]) and any(
                m.kind == "condition" and m.node_id == outer.condition_ids[0] and not m.uncertain
                for m in outer.mentions
            ):
                best = outer.condition_ids[0]
                labels.condition_ids = [best, *(c for c in labels.condition_ids if c != best)]
                labels.disease_label = self._label_name(best)
                labels.hierarchical_disease_label = self.ontology.hierarchical_label(best)
        return labels

    def _label(self, text: str) -> Labels:
        matches = list(_TOKEN_RE.finditer(text))
        raws = tuple(re.sub(r"['’]s$", "", m.group()) for m in matches)
        norms = tuple(
            "·" if tok == "." and i and raws[i - 1].lower() in _ABBREVIATION_DOTS else normalise_token(tok)
            for i, tok in enumerate(m.group() for m in matches)
        )  # the dot of "vs." or "e.g." does not end a negation scope
        pseudo = self._pseudo_positions(norms)
        mentions: list[Mention] = []
        covered: set[int] = set()
        spans: list[range] = []
        tables = [*self._tables.items(), ("grouping", self._groupings)]
        for kind, table in tables:
            previous: tuple[int, bool, bool] = (-1, False, False)  # end token, negated, uncertain
            for hit in self._resolve(self._scan(norms, raws, table, kind)):
                if kind == "body_site" and _idiomatic_back(norms, hit):
                    continue
                if kind == "condition":
                    hit = self._unmodified(norms, hit, table)
                if kind == "grouping" and any(
                    s.start <= hit.start and hit.end <= s.stop and (s.stop - s.start) > (hit.end - hit.start)
                    for s in spans
                ):  # a bucket's words inside a condition's name ("vascular lesions" in a longer name)
                    continue
                negated = self._triggered(norms, hit, self._neg_pre, self._neg_post, pseudo)
                uncertain = not negated and self._triggered(norms, hit, self._unc_pre, self._unc_post, set())
                if previous[0] >= 0 and _COORDINATORS.issuperset(norms[previous[0] : hit.start]):
                    negated = negated or previous[1]  # "no melanoma or BCC": the scope spans the list
                    uncertain = not negated and (uncertain or previous[2])
                previous = (hit.end, negated, uncertain)
                start, end = matches[hit.start].start(), matches[hit.end - 1].end()
                subject = kind in ("condition", "grouping") and self._is_subject(norms, hit)
                mentions.append(Mention(kind, hit.ids[0], text[start:end], start, end, negated, uncertain, subject))
                if kind == "condition":
                    covered.update(range(hit.start, hit.end))
                    spans.append(range(hit.start, hit.end))
        mentions.sort(key=lambda m: (m.start, m.kind))
        labels = Labels(mentions=mentions)
        self._fill_condition(labels, mentions)
        self._fill_vocab(labels, mentions)
        masked = list(text)  # condition names say nothing of the patient ("male pattern baldness")
        for m in mentions:
            if m.kind == "condition":
                masked[m.start : m.end] = " " * (m.end - m.start)
        free_text = "".join(masked)
        labels.age = age_of(text, [raws[i] for i in range(len(norms)) if i not in covered])
        labels.gender = gender_of(free_text)
        labels.skin_tone = skin_tone_of(text)
        return labels

    @staticmethod
    def _scan(norms: tuple[str, ...], raws: tuple[str, ...], table: _Table, kind: str) -> list[_Hit]:
        hits, i, n = [], 0, len(norms)
        while i < n:
            longest = max(table.longest.get(norms[i], 0), table.longest.get("\0" + raws[i], 0))
            for length in range(min(longest, n - i), 0, -1):
                ids = table.folded.get(norms[i : i + length]) or table.exact.get(raws[i : i + length])
                if ids:
                    hits.append(_Hit(kind, tuple(sorted(ids)), i, i + length))
                    i += length
                    break
            else:
                i += 1
        return hits

    @staticmethod
    def _resolve(hits: list[_Hit]) -> list[_Hit]:
        """Keep a shared surface form ("PG") only when the text names one of its owners unambiguously."""
        certain = {hit.ids[0] for hit in hits if len(hit.ids) == 1}
        resolved = []
        for hit in hits:
            owners = tuple(i for i in hit.ids if i in certain) if len(hit.ids) > 1 else hit.ids
            if len(owners) == 1:
                resolved.append(_Hit(hit.kind, owners, hit.start, hit.end))
        return resolved

    @staticmethod
    def _unmodified(norms: tuple[str, ...], hit: _Hit, table: _Table) -> _Hit:
        """A "non-nodular basal cell carcinoma" is a basal cell carcinoma that is not nodular: an attached "non"
        denies the subtype's modifier, not the disease, so the mention is the name without the modifier."""
        if hit.start == 0 or norms[hit.start - 1] != "non" or hit.end - hit.start < 2:
            return hit
        ids = table.folded.get(norms[hit.start + 1 : hit.end], set())
        return _Hit(hit.kind, tuple(ids), hit.start + 1, hit.end) if len(ids) == 1 else hit

    def _pseudo_positions(self, norms: tuple[str, ...]) -> set[int]:
        positions: set[int] = set()
        for i in range(len(norms)):
            for phrase in self._pseudo.get(norms[i], ()):
                if norms[i : i + len(phrase)] == phrase:
                    positions.update(range(i, i + len(phrase)))
        return positions

    def _triggered(self, norms: tuple[str, ...], hit: _Hit, pre: dict[str, list[tuple[str, ...]]],
                   post: dict[str, list[tuple[str, ...]]], pseudo: set[int]) -> bool:  # fmt: skip
        """NegEx scope: a trigger shortly before (or just after) the mention with no terminator between."""
        lo = hit.start
        while lo > max(0, hit.start - self.window) and norms[lo - 1] not in _TERMINATORS:
            lo -= 1
        hi = hit.end
        while hi < min(len(norms), hit.end + self.post_window) and norms[hi] not in _TERMINATORS:
            hi += 1
        for table, span, stop in ((pre, range(lo, hit.start), hit.start), (post, range(hit.end, hi), hi)):
            for i in span:
                for phrase in table.get(norms[i], ()):
                    end = i + len(phrase)
                    if end <= stop and norms[i:end] == phrase and pseudo.isdisjoint(range(i, end)):
                        if phrase not in _IMMEDIATE or end == hit.start or i == hit.end:
                            return True
        return False

    def _is_subject(self, norms: tuple[str, ...], hit: _Hit) -> bool:
        """Named right after a cue, with only determiners and severity words between ("diagnosed with a
        classic case of X"). A title position ("Eczema. Psoriasis here; psoriasis there.") is not a cue:
        measured on the Derm1M dev rows it lost one row."""
        i = hit.start
        while i > 0 and norms[i - 1] in _SUBJECT_FILLER:
            i -= 1
        for length in range(1, 4):
            cue = norms[max(0, i - length) : i]
            if len(cue) == length and cue in self._subject.get(cue[0], ()):
                return True
        return False

    def _fill_condition(self, labels: Labels, mentions: list[Mention]) -> None:
        """Pick the diagnosis among the certain mentions (the hedged ones when there is none).

        In order: a disease beats a descriptive finding ("ulcer" in a text about squamous cell carcinoma)
        and a named taxonomy bucket ("vascular lesions") comes last; the subject of the text beats a
        passing mention; then the most mentioned, a descendant's mentions counting for its ancestor and
        an abbreviation that defines the name just before it ("squamous cell carcinoma (SCC)") not counting
        twice; ties go to the first mentioned. A descendant beats its ancestor.
        """
        named = [m for m in mentions if m.kind in ("condition", "grouping") and not m.negated]
        pool = [m for m in named if not m.uncertain]
        if not pool and self.use_uncertain:
            pool = named
        if not pool:
            return
        counts: Counter[str] = Counter()
        for prev, m in zip([None, *pool[:-1]], pool, strict=True):
            defines = prev is not None and prev.node_id == m.node_id and 0 <= m.start - prev.end <= 2
            counts[m.node_id] += 0 if defines else 1
        first = {m.node_id: m.start for m in reversed(pool)}
        subject = {m.node_id for m in pool if m.subject}
        onto = self.ontology
        score = {
            cid: counts[cid] + sum(n for other, n in counts.items() if onto.is_ancestor(other, cid))
            for cid in counts
            if not any(onto.is_ancestor(cid, other) for other in counts)
        }
        kind = {m.node_id: m.kind for m in pool}

        def tier(cid: str) -> int:
            return 2 if kind[cid] == "grouping" else int(self._descriptive(cid))

        best = min(score, key=lambda cid: (tier(cid), cid not in subject, -score[cid], first[cid]))
        best = self._shared_parent(best, [c for c in score if c != best and tier(c) == tier(best)
                                          and score[c] == score[best] and (c in subject) == (best in subject)])
        rest = sorted((c for c in counts if c != best), key=lambda c: (-onto.depth(c), first[c]))
        labels.condition_ids = [best, *rest]
        labels.disease_label = self._label_name(best)
        labels.hierarchical_disease_label = onto.hierarchical_label(best)

    def _shared_parent(self, best: str, ties: list[str]) -> str:
        """Several subtypes of one disease named alike ("verruca plana, filiform warts and genital warts"):
        the text is about the disease, their nearest common diagnosis, not the first subtype it lists."""
        if not ties:
            return best
        common = [n.id for n in self.ontology.lineage(best)[:-1] if not n.grouping]
        for other in ties:
            line = {n.id for n in self.ontology.lineage(other)}
            common = [c for c in common if c in line]
        return common[-1] if common else best

    def _label_name(self, cid: str) -> str:
        """A node's name as a disease label; a bucket's one-word name ("vascular") reads as its first
        multi-word synonym ("vascular lesions"), the way the text named it."""
        cond = self.ontology.conditions[cid]
        if cond.grouping and len(term_key(cond.name)) < 2:
            return next((s for s in cond.synonyms if len(term_key(s)) >= 2), cond.name)
        return cond.name

    def _descriptive(self, cid: str) -> bool:
        """A finding rather than a disease: under the reaction-pattern category, or flagged `finding`."""
        cond = self.ontology.conditions[cid]
        return bool(getattr(cond, "finding", False)) or self.ontology.lineage(cid)[0].id == "reaction_patterns"

    def _fill_vocab(self, labels: Labels, mentions: list[Mention]) -> None:
        concepts = self.ontology.concepts
        picked: dict[str, list[str]] = {"concept": [], "body_site": [], "symptom": []}
        for m in mentions:
            if m.kind in picked and not m.negated and m.node_id not in picked[m.kind]:
                if m.kind != "concept" or concepts[m.node_id].category != "artefact":
                    picked[m.kind].append(m.node_id)

        def names(kind: str, empty: str) -> str:
            return ", ".join(concepts[i].name for i in picked[kind]) or empty

        labels.concept_ids = picked["concept"]
        labels.skin_concept = names("concept", NO_CONCEPTS)
        labels.body_location = names("body_site", NO_BODY_LOCATION)
        labels.symptoms = names("symptom", NO_SYMPTOMS)


def _idiomatic_back(norms: tuple[str, ...], hit: _Hit) -> bool:
    if norms[hit.start : hit.end] != ("back",):
        return False
    before = norms[hit.start - 1] if hit.start else ""
    after = norms[hit.end] if hit.end < len(norms) else ""
    return before in _BACK_IDIOM_BEFORE or after in _BACK_IDIOM_AFTER
