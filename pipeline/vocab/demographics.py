"""Age, sex and skin tone stated in caption text, read the way a dermatologist would read them.

Why it is careful: a wrong demographic is worse than none (it biases every subgroup figure of the
corpus), and the text is often machine-transcribed. So shorthand that clinicians write is understood
("62F", "34 M", "M/62", "a 45-year-old white male"), while a bare "male" that is not about a person
("blue white male" misheard for "blue-white veil", "male pattern baldness") says nothing; plural nouns
("more common in women") are kept as the general statement they are, as Derm1M's labels do; a skin
tone is read only when the text states one for the patient (a Fitzpatrick type, or "a dark-skinned
man"), never from a statement about people in general ("biopsy dark-skinned patients").
"""

from __future__ import annotations

import re

NO_AGE = "No age information"
NO_GENDER = "No gender information"
NO_SKIN_TONE = "No skin tone information"

_GENDER_NOUNS = {
    "man": "male", "boy": "male", "gentleman": "male", "men": "male", "boys": "male", "gentlemen": "male",
    "woman": "female", "girl": "female", "lady": "female", "women": "female", "girls": "female",
    "ladies": "female",
}  # fmt: skip
_GENDER_ADJECTIVES = {"male": "male", "males": "male", "female": "female", "females": "female"}
# words that may stand between a determiner or an age and "male"/"female" in a description of a person
_PERSON_MODIFIERS = frozenset(
    "white black asian caucasian hispanic latino latina african american indian young old older elderly adult "
    "healthy otherwise previously pregnant obese immunocompromised year years yr yrs month months old aged "
    "caucasian chinese japanese korean european arab middle".split()
)
_PERSON_NOUNS = frozenset(
    "patient patients child children infant infants baby neonate newborn adult adults adolescent teenager "
    "subject subjects individual individuals person persons people sibling siblings twin twins toddler "
    "student worker farmer athlete smoker volunteer volunteers case".split()
)
_PEOPLE = frozenset(
    "patients people individuals persons populations children men women adults infants".split()
)
_DETERMINERS = frozenset("a an the this one our his her their each every".split())
_WORD_RE = re.compile(r"[A-Za-z]+|\d+|[.;:!?()\[\],/]")

_AGE_WORDS = {"newborn": "newborn", "neonate": "newborn", "infant": "infant", "baby": "infant",
              "toddler": "child", "child": "child", "adolescent": "adolescent", "teenager": "adolescent",
              "elderly": "elderly"}  # fmt: skip
_AGE_PATTERNS = (
    (re.compile(r"\b(\d{1,3})[\s-]*(?:years?|yrs?|y)[\s-]*old\b", re.I), "{}"),
    (re.compile(r"\b(\d{1,3})\s*(?:years?|yrs?)\s+of\s+age\b", re.I), "{}"),
    (re.compile(r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)", re.I), "{}"),
    (re.compile(r"\b(\d{1,2})[\s-]*(?:months?|mos?)[\s-]*old\b", re.I), "{} months"),
    (re.compile(r"\baged?\s+(\d{1,3})\b(?!\s*(?:months?|weeks?|days?|%))", re.I), "{}"),
    (re.compile(r"\bage\b[^.;\d]{0,40}?\b(\d{1,3})\s*(?:to|-|–)\s*(\d{1,3})\b", re.I), "{}-{}"),
    (re.compile(r"\bin (?:his|her|their) (?:early |mid |late )?(\d)0s\b", re.I), "{}0s"),
)
# clinicians' shorthand, case-sensitive: "62F", "34 M", "62yo F", "M/62", "62/F", "(F, 62)"
_AFTER_SHORTHAND = r"(?=\s*(?:$|[.,;:)\]]|with\b|who\b|presenting\b|presents\b|complains\b|here\b|and\b))"
_SHORTHAND = (  # then end, punctuation or a clinical verb: "5F catheter" and "8M solution" are units
    re.compile(r"(?<![\w.-])(\d{1,3})\s*(?:y/?o|yrs?|y)?\s*([MF])(?![\w'’-])" + _AFTER_SHORTHAND),
    re.compile(r"(?<![\w.-])(\d{1,3})\s*/\s*([MF])(?![\w'’-])" + _AFTER_SHORTHAND),
    re.compile(r"(?<![\w'’-])([MF])\s*[/,]\s*(\d{1,3})(?![\w.-])"),
)
_SEX_LETTER = {"M": "male", "F": "female"}
_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}
_FITZ_RE = re.compile(
    r"\b(?:fitzpatrick(?:\s+skin)?(?:\s+(?:photo)?types?)?|skin\s+(?:photo)?types?|phototypes?|fst)"
    r"\s*[:#]?\s*(vi|v|iv|iii|ii|i|[1-6])(?:\s*(?:-|–|to|/|or|and)\s*(vi|v|iv|iii|ii|i|[1-6]))?\b",
    re.I,
)
_TONE_WORDS = {"dark": "dark", "darker": "dark", "black": "dark", "brown": "medium", "olive": "medium",
               "fair": "light", "light": "light", "pale": "light", "white": "light"}  # fmt: skip
# "a dark-skinned man", "her fair skin", "dark skin type": a tone word then skin(ned), read for one person
_TONE_RE = re.compile(
    r"\b(a|an|his|her|the patient's|patient's|this)?\s*(?:very\s+|relatively\s+)?"
    r"(dark|darker|black|brown|olive|fair|light|pale|white)[\s-]+(skinned|skin)\b(\s+\w+)?",
    re.I,
)


def shorthand(text: str) -> list[tuple[int, str, str]]:
    """(position, age, sex) for every "62F"-style note in the text."""
    found = []
    for pattern in _SHORTHAND:
        for m in pattern.finditer(text):
            a, b = m.groups()
            age, letter = (a, b) if a.isdigit() else (b, a)
            if 0 < int(age) <= 120:
                found.append((m.start(), age, _SEX_LETTER[letter]))
    return sorted(found)


def age_of(text: str, words: list[str]) -> str:
    """Stated ages in order; life-stage words only when no number is given and they are singular."""
    found: list[tuple[int, str]] = [(pos, age) for pos, age, _ in shorthand(text)]
    for pattern, template in _AGE_PATTERNS:
        for m in pattern.finditer(text):
            if all(0 < int(g) <= 120 for g in m.groups()):
                found.append((m.start(), template.format(*m.groups())))
    ages = list(dict.fromkeys(age for _, age in sorted(found)))
    if not ages:
        ages = list(dict.fromkeys(_AGE_WORDS[w.lower()] for w in words if w.lower() in _AGE_WORDS))
    return ", ".join(ages) or NO_AGE


def _about_a_person(tokens: list[str], i: int) -> bool:
    """Is tokens[i] ("male"/"female") said of a person? A person noun or an age after it, or, walking back
    over person modifiers ("45-year-old white"), a determiner, a number, the start of a clause."""
    after = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
    if (
        after in _PERSON_NOUNS
        or after.isdigit()
        or (after == "," and i + 2 < len(tokens) and tokens[i + 2].isdigit())
    ):
        return True
    j = i - 1
    while j >= 0 and (tokens[j].lower() in _PERSON_MODIFIERS or tokens[j].isdigit() or tokens[j] == "-"):
        j -= 1
    if j < 0 or tokens[j] in {".", ";", ":", "(", "[", ",", "/"}:
        return True  # "Male, 45", "White male with ...": the clause starts with the person
    return tokens[j].lower() in _DETERMINERS or tokens[j].isdigit()


def gender_of(text: str) -> str:
    """Sexes stated for people in the text (nouns, "male"/"female" said of a person, shorthand). The
    caller blanks condition names out first ("male pattern baldness")."""
    tokens = _WORD_RE.findall(text)
    found: set[str] = {sex for _, _, sex in shorthand(text)}
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in _GENDER_NOUNS:
            found.add(_GENDER_NOUNS[low])
        elif low in _GENDER_ADJECTIVES and _about_a_person(tokens, i):
            found.add(_GENDER_ADJECTIVES[low])
    return ", ".join(g for g in ("male", "female") if g in found) or NO_GENDER


def skin_tone_of(text: str) -> str:
    """Fitzpatrick types as stated ("Fitzpatrick IV", "V-VI"), else a tone said of one person."""
    tones = []
    for m in _FITZ_RE.finditer(text):
        low, high = (_ROMAN.get(g.lower(), g.upper()) if g else None for g in m.groups())
        tones.append(f"Fitzpatrick {low}-{high}" if high else f"Fitzpatrick {low}")
    if tones:
        return ", ".join(dict.fromkeys(tones))
    for m in _TONE_RE.finditer(text):
        follower = (m.group(4) or "").strip().lower()
        if (
            follower in _PEOPLE or follower == "types"
        ):  # "dark-skinned patients", "darker skin types": general
            continue
        if m.group(1) is None and m.group(3).lower() == "skinned" and not follower:
            continue
        tones.append(f"{_TONE_WORDS[m.group(2).lower()]} skin")
    return ", ".join(dict.fromkeys(tones)) or NO_SKIN_TONE
