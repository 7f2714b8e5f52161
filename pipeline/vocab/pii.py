"""Personal data in forum text: find it and replace it by placeholders.

Forum posts carry their authors' contact details, other users' names and now and then an address or an ID
number; none of it helps an image-text model and all of it is personal data, so the collect stage replaces it
before a post is stored (pipeline/collect/local.py, forums.py) and the clean stage does it again
(pipeline/clean/translate.py, idempotent: placeholders never match).

What was chosen and why:
- Phone numbers: Google's libphonenumber port `phonenumbers` (maintained, pure Python, on PyPI, no data
  download) finds numbers written the way people of several countries write them (US, UK, FR, DE, AU, IN,
  plus any "+CC" international number), a trailing full stop included. Its POSSIBLE leniency is used because
  forum posters and test data use fictional ranges (555, 07700 900xxx) that VALID rejects; to keep doses, dates
  and PMIDs out, a match needs 9+ digits and must not be an ISO date. A regex for the usual groupings backs it.
- Names: no NER model. presidio-analyzer needs a spaCy model that its authors do not ship on PyPI, and a
  first-names list (names-dataset) turns drug and disease words into names (Tretinoin, Rosa, Grace, Hope...).
  Names are taken where a cue says a person is meant: "my name is", "I'm", a title (Dr., Mr., Mrs., Ms.,
  Prof.), a relative ("my son Jake"), a greeting ("Hi Sarah,"), a sign-off ("Thanks, Maria") or a dash
  signature. The word after a cue must be capitalised and not a common word (stop list below). This keeps
  precision on medical text at the cost of names with no cue; scrub_post then takes a name found once with a
  cue everywhere else in the same post (title, replies) too.
- Everything else is regular expressions with context: emails (also "name at gmail dot com"), handles (@x,
  u/x, "insta: x"), URLs (also bare domains), ID numbers (US SSN, UK National Insurance, any number after a
  cue such as "NHS number", "passport no", "MRN", "SIN", "Medicare", and bare 9+ digit runs), dates of birth
  after a cue (DOB, born, birthday; the date only is replaced), street addresses (number + words + street
  type, German "...straße 12", French "12 rue de ..."), UK / Canadian postcodes and US ZIP codes after a state.

Detectors run in a fixed order on the original text; a later detector never takes characters an earlier one
took. `find_pii` gives the spans (for the benchmark), `scrub_pii` the text with placeholders and counts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, NamedTuple

import phonenumbers


class PiiSpan(NamedTuple):
    start: int
    end: int
    label: str


_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE = (rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}-\d{{1,2}}-\d{{1,2}}|"
         rf"\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}|"
         rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|"
         rf"\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|"
         rf"{_MONTH}\s+\d{{4}}|(?:19|20)\d{{2}}\b)")
_STREET_TYPES = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Way|"
                 r"Terrace|Close|Crescent|Cres|Highway|Hwy|Parkway|Pkwy|Square|Sq|Gardens|Grove|Row|Mews|"
                 r"Circle|Cir|Trail|Walk)")
_US_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
              "NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC")
_TLD = r"(?:com|org|net|edu|gov|io|co|me|info|uk|de|fr|nl|es|it|ca|au|in|ly|gl|app|ru|br|jp)"

# Capitalised words that follow "I'm", "Hi", "Thanks," or a relative without being a name.
_NOT_NAMES = frozenset("""
a an the and or but so not no yes also just really very still always never now here there this that these
those it its all any every everyone everybody anyone someone guys folks doc doctor team reddit redditors
again again, again. sorry thanks thank hello hi hey dear ok okay well worried scared afraid confused sure glad
happy new back currently honestly pretty kind so sorry desperate tired going getting trying using
male female man woman boy girl mom mum dad asian black white indian african hispanic latino european
american british canadian australian irish scottish english type pregnant allergic diabetic vegan
in on at from with for to of by about after before over under since until during
monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
september october november december god jesus lord advance
dr mr mrs ms miss mx prof professor nurse sister
""".split())

_NAME_WORD = r"[A-Z][a-zA-Z'\u2019-]+"
_NAME = rf"{_NAME_WORD}(?:\s+(?:[A-Z]\.\s*)?{_NAME_WORD}){{0,2}}(?:\s+[A-Z]\.)?|[A-Z]\.\s*{_NAME_WORD}"
_RELATIVES = (r"husband|wife|son|daughter|partner|boyfriend|girlfriend|friend|mum|mom|mother|dad|father|"
              r"brother|sister|baby|kid|child|grandma|grandpa|grandmother|grandfather|aunt|uncle|cousin|"
              r"niece|nephew|roommate|colleague|coworker|neighbou?r|fianc[eé]e?|dermatologist|derm|GP|"
              r"doctor|nurse|pediatrician|paediatrician")
_SIGNOFF = r"thanks|thank you|thx|cheers|regards|best|best wishes|kind regards|many thanks|love|sincerely|xo|xx"
_ID_CUE = (r"(?i:ssn|social security(?:\s+(?:number|no\.?|#))?|national insurance(?:\s+(?:number|no\.?))?|"
           r"NI\s+(?:number|no\.?)|nhs(?:\s+(?:number|no\.?))?|medicare(?:\s+(?:number|no\.?|card))?|"
           r"passport(?:\s+(?:number|no\.?|#))?|mrn|medical record(?:\s+(?:number|no\.?))?|patient\s+id|"
           r"health\s+card(?:\s+(?:number|no\.?))?|insurance\s+(?:id|number|no\.?)|member\s+id|"
           r"aadhaar(?:\s+(?:number|no\.?))?|id\s+(?:number|no\.?|card)|driver'?s\s+licen[cs]e(?:\s+(?:number|no\.?))?|"
           r"personnummer|steuer-?id|bsn|tfn|sin)")

# (label, pattern); a pattern with a group named "pii" replaces only that group.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("[URL]", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]", re.IGNORECASE)),
    ("[EMAIL]", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)),
    # obfuscated: "name [at] gmail.com", "first dot last at gmail dot com" (a plain " at " needs a " dot ")
    ("[EMAIL]", re.compile(rf"\b[\w.+-]+(?:\s+dot\s+[\w+-]+)*\s*(?:\[at\]|\(at\)|\{{at\}})\s*[\w-]+"
                           rf"\s*(?:\.|\[dot\]|\(dot\)|\s+dot\s+)\s*{_TLD}(?:\.{_TLD})?\b", re.IGNORECASE)),
    ("[EMAIL]", re.compile(rf"\b[\w.+-]+(?:\s+dot\s+[\w+-]+)*\s+at\s+[\w-]+\s+dot\s+{_TLD}\b", re.IGNORECASE)),
    ("[URL]", re.compile(rf"\b(?<![@\w.])(?:[a-z0-9-]+\.)+{_TLD}(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:!?])?(?![\w@])",
                         re.IGNORECASE)),
    ("[USER]", re.compile(r"(?<![\w/])(?:/?u/[A-Za-z0-9_-]{3,20}|@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,29}[A-Za-z0-9_])?)")),
    ("[USER]", re.compile(r"(?i:\b(?:insta(?:gram)?|ig|twitter|tiktok|snap(?:chat)?|telegram|discord|fb|facebook|"
                          r"kik|skype|reddit)\s*(?:handle|account|user(?:name)?|name|id)?\s*(?:is|:|-)?\s*)"
                          r"(?P<pii>@?[A-Za-z0-9_][A-Za-z0-9_.]{2,29}[A-Za-z0-9_](?:#\d{4})?)(?=[\s,;!?)]|\.?$|\.\s)")),
    ("[ID]", re.compile(rf"\b{_ID_CUE}\s*(?:is|:|#|=|no\.?)?\s*(?P<pii>(?=[A-Z0-9 -]*\d[A-Z0-9 -]*\d)"
                        r"[A-Z0-9](?:[A-Z0-9]|[ -](?=[A-Z0-9])){3,22})\b")),
    ("[ID]", re.compile(r"(?<![\w-])\d{3}[- ]\d{2}[- ]\d{4}(?![\w-])")),  # US SSN
    ("[ID]", re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")),  # UK NI
    ("[DOB]", re.compile(rf"(?i:\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday(?:\s+is)?|"
                         rf"born(?:\s+on|\s+in)?(?:\s+the)?)\s*(?:is|was|[:\-])?\s*)(?P<pii>(?i:{_DATE}))")),
]
_PHONE_REGIONS = ("US", "GB", "FR", "DE", "AU", "IN")
_PHONE_REGEX = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])\d{2,4}[\s.-]?\d{2,4}"
                          r"(?:[\s.-]\d{2,4})?(?!\w)(?!\.\d)|(?<![\w.])\+?\d{10,14}(?!\w)(?!\.\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}$")
_AFTER_PHONES: list[tuple[str, re.Pattern[str]]] = [
    ("[ADDRESS]", re.compile(rf"(?:\b(?:Flat|Apt|Apartment|Unit|Suite)\.?\s*\w{{1,4}},?\s+)?\b\d{{1,5}}[A-Za-z]?,?\s+"
                             rf"(?:[A-Z][a-z]+(?:'s)?\.?\s+){{1,3}}{_STREET_TYPES}\b\.?"
                             rf"(?:,?\s*(?:Apt|Apartment|Unit|Flat|Suite|#)\.?\s*\w{{1,4}})?")),
    ("[ADDRESS]", re.compile(rf"(?<=\bon )(?:[A-Z][a-z]+\s+){{1,2}}{_STREET_TYPES}\b")),
    ("[ADDRESS]", re.compile(r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|platz|allee|gasse|ring)\s+\d{1,4}[a-z]?\b")),
    ("[ADDRESS]", re.compile(r"\b\d{1,4}(?:\s*bis)?,?\s+(?i:rue|avenue|boulevard|bd|place|chemin|all[ée]e|impasse)\s+"
                             r"(?:(?:de|du|des|la|le|l'|d')\s*)*[A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+)?")),
    ("[ADDRESS]", re.compile(rf"\b(?:[A-Z][a-z]+\s)?[A-Z][a-z]+,\s+(?:{_US_STATES})\s+\d{{5}}(?:-\d{{4}})?\b")),
    ("[ADDRESS]", re.compile(rf"\b(?:{_US_STATES}),?\s+\d{{5}}(?:-\d{{4}})?\b")),
    ("[ADDRESS]", re.compile(r"(?i:\b(?:zip\s*code|zip|postcode|post\s*code|postal\s*code|plz)\s*(?:is|:)?\s*)"
                             r"(?P<pii>(?=[A-Z0-9 -]*\d)[A-Z0-9]{2,5}(?:[ -]?[A-Z0-9]{3,4})?)\b", re.IGNORECASE)),
    ("[ADDRESS]", re.compile(r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b")),  # UK
    ("[ADDRESS]", re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b")),  # Canada
    ("[ADDRESS]", re.compile(r"(?<=, )\d{5} [A-Z][a-zäöüéè]+")),  # "…, 75004 Paris", "…, 10115 Berlin"
    ("[ID]", re.compile(r"(?<![\w.])\d(?:[ -]?\d){8,}(?![\w.]|\.\d)")),  # any other 9+ digit number
]
_NAME_PATTERNS: list[re.Pattern[str]] = [
    re.compile(rf"(?i:\bmy\s+name(?:\s+is|'s|\s*:)|\bname\s*:|\bcall\s+me|\bsigned,?)\s+(?P<pii>{_NAME}|[a-z]{{3,}}"
               rf"(?:\s+[a-z]{{3,}})?(?=\s*(?:[,.!?;]|$|\s+(?:and|i|here|from|btw)\b)))"),
    re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor|Nurse|Sister|Professor)\.?\s+(?P<pii>{_NAME})"),
    re.compile(rf"(?i:\b(?:i\s*am|i'm|i\u2019m|im|this\s+is|it's|it\u2019s)\s+)(?P<pii>{_NAME})"),
    re.compile(rf"(?i:\bmy\s+(?:{_RELATIVES}),?\s+)(?P<pii>{_NAME})"),
    re.compile(rf"(?i:\b(?:guy|girl|woman|man|lady|dermatologist|doctor|nurse|kid|boy|someone|person|friend|"
               rf"user|poster|op)\s+(?:named|called)\s+)(?P<pii>{_NAME})"),
    re.compile(rf"(?i:(?:^|(?<=[\n.!?]))\s*(?:hi|hello|hey|dear|thanks|thank\s+you)\s+)(?P<pii>{_NAME})(?=\s*[,!.:\n]|\s*$)"),
    re.compile(rf"(?i:(?:^|(?<=[\n.!?]))\s*(?:{_SIGNOFF})\s*[,!.\-]*\s*)(?P<pii>{_NAME})\s*[.!]?\s*$"),
    re.compile(rf"^[ \t]*[-\u2013\u2014~][ \t]*(?P<pii>{_NAME})[ \t]*$", re.MULTILINE),  # a line "- Jonathan"
]


def _spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    for m in pattern.finditer(text):
        if "pii" in pattern.groupindex and m.group("pii") is not None:
            yield m.span("pii")
        elif m.end() > m.start():
            yield m.span()


def _phones(text: str) -> Iterator[tuple[int, int]]:
    if sum(c.isdigit() for c in text) < 9:
        return
    for region in _PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            raw = m.raw_string
            if sum(c.isdigit() for c in raw) >= 9 and not _ISO_DATE.match(raw):
                yield m.start, m.end
    for rm in _PHONE_REGEX.finditer(text):
        if sum(c.isdigit() for c in rm.group()) >= 9 and not _ISO_DATE.match(rm.group()):
            yield rm.span()


def _names(text: str) -> Iterator[tuple[int, int]]:
    for pattern in _NAME_PATTERNS:
        for start, end in _spans(pattern, text):
            words = text[start:end].split()
            while words and words[-1].lower().strip(".,'\u2019") in _NOT_NAMES:
                end = start + text[start:end].rstrip().rfind(words.pop())  # "Sarah Here" -> "Sarah"
                end = start + len(text[start:end].rstrip())
            if words and words[0].lower().strip(".,'\u2019") not in _NOT_NAMES:
                yield start, end


def _detectors() -> list[tuple[str, Callable[[str], Iterator[tuple[int, int]]]]]:
    out: list[tuple[str, Callable[[str], Iterator[tuple[int, int]]]]] = []
    for label, pattern in _PATTERNS:
        out.append((label, partial(_spans, pattern)))
    out.append(("[PHONE]", _phones))
    for label, pattern in _AFTER_PHONES:
        out.append((label, partial(_spans, pattern)))
    out.append(("[NAME]", _names))
    return out


_DETECTORS = _detectors()
PLACEHOLDERS = ("[URL]", "[EMAIL]", "[USER]", "[ID]", "[DOB]", "[PHONE]", "[ADDRESS]", "[NAME]")


def _known_names(names: frozenset[str]) -> Callable[[str], Iterator[tuple[int, int]]]:
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
    return partial(_spans, pattern)


def find_pii(text: str, names: Iterable[str] = ()) -> list[PiiSpan]:
    """Spans of personal data in `text`, in text order; earlier detectors win overlaps. `names` are names
    already found elsewhere in the same post: they are taken wherever they occur, with or without a cue."""
    taken = bytearray(len(text) + 1)
    found: list[PiiSpan] = []
    detectors = list(_DETECTORS)
    if known := frozenset(n for n in names if len(n) >= 3):
        detectors.append(("[NAME]", _known_names(known)))
    for label, detect in detectors:
        for start, end in detect(text):
            # placeholders already in the text are never personal data
            if end <= start or any(taken[start:end]) or text[start:end] in PLACEHOLDERS:
                continue
            taken[start:end] = b"\x01" * (end - start)
            found.append(PiiSpan(start, end, label))
    return sorted(found)


def scrub_pii(text: str | None, names: Iterable[str] = ()) -> tuple[str | None, dict[str, int]]:
    """Replace personal data by placeholders ([URL], [EMAIL], [USER], [ID], [DOB], [PHONE], [ADDRESS],
    [NAME]); return the text and counts per placeholder. `names`: as for find_pii. Doses, sizes, ISO dates and PMIDs ("0.05%",
    "2 x 3 cm", "3-4 weeks", "2021-03-04", "PMID 12345678") stay."""
    counts: dict[str, int] = {}
    if text is None:
        return None, counts
    for span in reversed(find_pii(text, names)):
        text = text[:span.start] + span.label + text[span.end:]
        counts[span.label] = counts.get(span.label, 0) + 1
    return text, counts


def pseudonym(author: Any) -> str | None:
    """A stable stand-in for a user name: "user-" and the first 8 hex digits of its sha256."""
    if author in (None, "", "[deleted]"):
        return None
    return "user-" + hashlib.sha256(str(author).encode()).hexdigest()[:8]


AUTHOR_KEYS = frozenset({"author", "user", "username", "user_name", "author_name", "poster", "screen_name",
                         "author_fullname"})
# Fields that are identifiers or numbers of the forum itself, not text a person wrote.
_KEEP_KEYS = frozenset({"id", "url", "forum", "licence", "license", "images", "image_urls", "subreddit",
                        "community", "parent_id", "link_id", "permalink", "created_utc", "score", "over_18",
                        "language", "lang", "kind"})


def scrub_post(post: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """A forum post (title, body, replies, any other text field) with its personal data replaced and
    its authors' names pseudonymised; identifiers and URLs of the forum itself are kept."""
    counts: dict[str, int] = {}
    # a name found once with a cue ("my name is Sarah Thompson") is taken everywhere in the post
    names: set[str] = set()

    def gather(value: Any, key: str | None) -> None:
        if key in AUTHOR_KEYS or key in _KEEP_KEYS:
            return
        if isinstance(value, str):
            for span in find_pii(value):
                if span.label == "[NAME]":
                    found = value[span.start:span.end]
                    names.add(found)
                    names.update(w for w in re.findall(r"[A-Z][\w'\u2019-]{2,}", found) if w.lower() not in _NOT_NAMES)
        elif isinstance(value, dict):
            for k, v in value.items():
                gather(v, str(k))
        elif isinstance(value, list):
            for v in value:
                gather(v, None)

    gather(post, None)

    def walk(value: Any, key: str | None) -> Any:
        if key in AUTHOR_KEYS and isinstance(value, str | int):
            return pseudonym(value)
        if key in _KEEP_KEYS:
            return value
        if isinstance(value, str):
            out, n = scrub_pii(value, names)
            for k, v in n.items():
                counts[k] = counts.get(k, 0) + v
            return out
        if isinstance(value, dict):
            return {k: walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, None) for v in value]
        return value

    return walk(post, None), counts
