"""PMC's own word on an article's licence and files: the OA file lists and the PMC Cloud Service.

Why not the JATS text alone: a <license> element is the publisher's prose or URL, often missing or vague
(Springer/BMC write only license-type="OpenAccess"), while PMC publishes its licence decision per article in
two machine-readable places, and those are what this module reads:

- the OA file lists (`oa_file_list.csv`, `oa_comm_use_file_list.csv`, ...): CSV with the header
  `File,Article Citation,Accession ID,Last Updated (YYYY-MM-DD HH:MM:SS),PMID,License` and License values
  such as `CC BY`, `CC BY-NC-ND`, `CC0`, `NO-CC CODE` (tests/data/pmc/ holds a real excerpt);
- the Cloud Service bucket `pmc-oa-opendata`, laid out one prefix per article *version*
  (`PMC<id>.<version>/` holding the XML, text, PDF and media) with one metadata object per version at
  `metadata/PMC<id>.<version>.json` (`license_code`, `is_pmc_openaccess`, `is_retracted`, `media_urls` as
  `s3://` URLs). The version is not fixed: it is discovered with a ListObjectsV2 listing
  (`?list-type=2&prefix=PMC<id>.&delimiter=/`), which answers one CommonPrefixes entry per version.

A file-list or metadata value that names no licence (`NO-CC CODE`, `TDM`, empty) says nothing reusable, so
the JATS text is the fallback and the result records which source decided (`licence_source`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from lxml import etree

from pipeline.formats.licences import licence_family, normalise_licence

FILE_LIST_COLUMNS = (
    "File",
    "Article Citation",
    "Accession ID",
    "Last Updated (YYYY-MM-DD HH:MM:SS)",
    "PMID",
    "License",
)
_PMCID = re.compile(r"^PMC(\d+)$")
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


class FileList:
    """PMCID -> the License column of PMC's OA file lists, held compactly (a full list has ~7 million rows:
    sorted int arrays and a small table of the distinct licence strings, ~40 MB instead of a dict's ~1 GB).
    A PMCID in several lists keeps the last list's value (a later list is the newer statement)."""

    def __init__(
        self, numbers: np.ndarray, codes: np.ndarray, texts: list[str], rows: int, skipped: int
    ) -> None:
        self.numbers, self.codes, self.texts, self.rows, self.skipped = numbers, codes, texts, rows, skipped

    @classmethod
    def parse(cls, lists: Iterable[Iterable[str]]) -> FileList:
        """Each list as lines of CSV text; a list may lack the header line (then the published column order
        is assumed). Rows without a PMC accession are counted in `skipped`, never fatal."""
        numbers: list[int] = []
        codes: list[int] = []
        texts: dict[str, int] = {}
        rows = skipped = 0
        for lines in lists:
            for row in _rows(lines):
                rows += 1
                m = _PMCID.match((row.get("Accession ID") or "").strip())
                if not m:
                    skipped += 1
                    continue
                text = (row.get("License") or "").strip()
                numbers.append(int(m.group(1)))
                codes.append(texts.setdefault(text, len(texts)))
        num = np.asarray(numbers, dtype=np.int64)
        order = np.argsort(num, kind="stable")
        num, code = num[order], np.asarray(codes, dtype=np.int32)[order]
        if len(num):  # duplicates: keep the last occurrence (stable sort keeps file order within a PMCID)
            last = np.append(num[1:] != num[:-1], True)
            num, code = num[last], code[last]
        return cls(num, code, list(texts), rows, skipped)

    def __len__(self) -> int:
        return len(self.numbers)

    def licence(self, pmcid: str) -> str | None:
        """The License cell for this PMCID, None when the lists do not hold it."""
        m = _PMCID.match(pmcid.upper())
        if not m or not len(self.numbers):
            return None
        n = int(m.group(1))
        i = int(np.searchsorted(self.numbers, n))
        return self.texts[int(self.codes[i])] if i < len(self.numbers) and self.numbers[i] == n else None


def _rows(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    head = next(csv.reader([first]))
    if "Accession ID" in head:
        names, pending = head, []
    else:  # a list saved without its header line
        names, pending = list(FILE_LIST_COLUMNS), [first]
    for cells in csv.reader([*pending, *it] if pending else it):
        if cells:
            yield dict(zip(names, cells, strict=False))


@dataclass
class CloudRecord:
    """One article version's metadata object from the Cloud Service."""

    pmcid: str
    version: int
    licence_code: str | None
    open_access: bool | None
    retracted: bool
    media_urls: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def listing_url(base: str) -> str:
    return base.rstrip("/") + "/"


def listing_params(pmcid: str, token: str | None = None) -> dict[str, str]:
    """ListObjectsV2 of every version prefix of one article; the trailing '.' keeps PMC1 from PMC10."""
    p = {"list-type": "2", "prefix": f"{pmcid}.", "delimiter": "/"}
    if token:
        p["continuation-token"] = token
    return p


def parse_versions(body: bytes, pmcid: str) -> tuple[list[int], str | None]:
    """(the article's versions, ascending; the continuation token when the listing is truncated). Only
    `<CommonPrefixes><Prefix>PMC<id>.<n>/` entries and `metadata/PMC<id>.<n>.json` keys count: the echoed
    query `<Prefix>` and other articles' prefixes (PMC10 under PMC1.) are not versions."""
    root = etree.fromstring(body, _PARSER)
    exact = re.compile(rf"^(?:metadata/)?{re.escape(pmcid)}\.(\d+)(?:/|\.json$)")
    found: set[int] = set()
    for el in root.iter("{*}Prefix", "{*}Key"):
        parent = el.getparent()
        if etree.QName(el).localname == "Prefix" and (
            parent is None or etree.QName(parent).localname != "CommonPrefixes"
        ):
            continue
        if m := exact.match((el.text or "").strip()):
            found.add(int(m.group(1)))
    truncated = (root.findtext("{*}IsTruncated") or "").strip().lower() == "true"
    token = (root.findtext("{*}NextContinuationToken") or "").strip() or None
    return sorted(found), token if truncated else None


def metadata_url(base: str, pmcid: str, version: int) -> str:
    return f"{base.rstrip('/')}/metadata/{pmcid}.{version}.json"


def parse_metadata(body: bytes, pmcid: str, version: int) -> CloudRecord:
    """A metadata object; raises ValueError when it is not JSON or describes another article."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"metadata is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("metadata is not a JSON object")
    if str(data.get("pmcid", pmcid)).upper() != pmcid.upper():
        raise ValueError(f"metadata describes {data.get('pmcid')}, not {pmcid}")
    code = data.get("license_code")
    media = data.get("media_urls")
    return CloudRecord(
        pmcid,
        int(data.get("version") or version),
        str(code).strip() if code else None,
        data.get("is_pmc_openaccess") if isinstance(data.get("is_pmc_openaccess"), bool) else None,
        data.get("is_retracted") is True,
        [str(u) for u in media if isinstance(u, str)] if isinstance(media, list) else [],
        data,
    )


def object_url(s3_url: str, base: str) -> str | None:
    """An `s3://bucket/key?md5=...` URL of the metadata as an HTTPS URL on the configured base (the key and
    its digest come from the JSON, the host from the profile); None for anything that is not one."""
    parts = urlsplit(s3_url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key:
        return None
    return f"{base.rstrip('/')}/{key}" + (f"?{parts.query}" if parts.query else "")


def media_by_stem(record: CloudRecord | None, base: str) -> dict[str, str]:
    """Figure file name (with and without its extension) -> HTTPS URL, from the record's media_urls."""
    out: dict[str, str] = {}
    for u in record.media_urls if record else []:
        url = object_url(u, base)
        if url is None:
            continue
        name = urlsplit(u).path.rsplit("/", 1)[-1]
        out.setdefault(name, url)
        out.setdefault(name.rsplit(".", 1)[0], url)
    return out


@dataclass
class LicenceDecision:
    """The licence id an article is collected under, which source decided it, and every statement seen."""

    licence: str
    source: str  # oa_file_list | pmc_cloud_metadata | jats | none
    statements: dict[str, str | None]
    conflict: bool = False


def decide_licence(file_list: str | None, cloud: str | None, jats: str | None) -> LicenceDecision:
    """PMC's file list first, then the Cloud Service metadata, then the JATS text. A statement that names no
    licence (`NO-CC CODE`, `TDM`, empty) is passed over. When PMC names only the family (`CC BY`) and the
    JATS text the same family with a version (`.../by/4.0/`), the JATS id keeps its version; a different
    family in the JATS text is recorded as a conflict and PMC's word stands."""
    statements = {"oa_file_list": file_list, "pmc_cloud_metadata": cloud, "jats": jats}
    jats_id = normalise_licence(jats)
    for source, text in (("oa_file_list", file_list), ("pmc_cloud_metadata", cloud)):
        lic = normalise_licence(text)
        if lic == "unknown":
            continue
        if jats_id != "unknown" and licence_family(jats_id) == licence_family(lic):
            return LicenceDecision(
                jats_id if jats_id != lic and lic == licence_family(lic) else lic, source, statements
            )
        return LicenceDecision(lic, source, statements, conflict=jats_id != "unknown")
    return LicenceDecision(jats_id, "jats" if jats_id != "unknown" else "none", statements)


def licence_group(licence: str) -> str:
    """PMC's Cloud Service groups from a licence id: oa_comm (CC BY, BY-SA, BY-ND, CC0, public domain),
    oa_noncomm (any NonCommercial licence), else oa_other."""
    family = licence_family(licence)
    if family in ("CC0", "PDM", "CC-BY", "CC-BY-SA", "CC-BY-ND"):
        return "oa_comm"
    return "oa_noncomm" if family.startswith("CC-BY-NC") else "oa_other"
