"""PMC licences from PMC's own statements and figures from the Cloud Service's versioned layout.

The OA file list is a real recorded excerpt (tests/data/pmc/README.md names its source), served from a
127.0.0.1 server; the articles are the real JATS fixtures, served under PMC ids of that excerpt where a test
needs PMC's file-list statement to meet a real article. The bucket answers follow the Cloud Service's
published layout: a ListObjectsV2 answer with one CommonPrefixes entry per article version and
`metadata/<pmcid>.<version>.json` objects with `license_code`, `is_retracted` and `media_urls`.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from collect_server import LocalServer
from conftest import require_fixture
from test_collect_pubmed import FakeNcbi, _article_xml, _cfg, _client

from pipeline.collect.pmc_oa import (
    FILE_LIST_COLUMNS,
    FileList,
    decide_licence,
    media_by_stem,
    object_url,
    parse_metadata,
    parse_versions,
)
from pipeline.collect.pubmed import PubMedSource
from pipeline.collect.stage import CollectStage
from pipeline.stage import run_stage

EXCERPT = Path(__file__).parent / "data" / "pmc" / "oa_file_list_excerpt.csv"
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _listing(prefix: str, versions: list[str], truncated_token: str | None = None) -> bytes:
    common = "".join(f"<CommonPrefixes><Prefix>{v}/</Prefix></CommonPrefixes>" for v in versions)
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{truncated_token}</NextContinuationToken>" \
        if truncated_token else "<IsTruncated>false</IsTruncated>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult {NS}><Name>pmc-oa-opendata</Name>'
            f"<Prefix>{prefix}</Prefix><KeyCount>{len(versions)}</KeyCount><MaxKeys>1000</MaxKeys>"
            f"<Delimiter>/</Delimiter>{more}{common}</ListBucketResult>").encode()


# --- the file list ---------------------------------------------------------------------------------

def test_real_file_list_excerpt_parses_with_and_without_header() -> None:
    lines = EXCERPT.read_text().splitlines()
    fl = FileList.parse([lines])
    assert (len(fl), fl.rows, fl.skipped) == (10, 10, 0)
    assert fl.licence("PMC13900") == "NO-CC CODE" and fl.licence("PMC176547") == "CC BY"  # empty PMID
    assert fl.licence("PMC523832") == "CC0" and fl.licence("pmc406389") == "CC0"
    assert fl.licence("PMC1390") is None and fl.licence("PMC999999999") is None and fl.licence("x") is None
    with_header = FileList.parse([[",".join(FILE_LIST_COLUMNS), *lines]])
    assert len(with_header) == 10 and with_header.licence("PMC176545") == "CC BY"


def test_file_list_later_statement_wins_and_bad_rows_are_counted() -> None:
    lines = EXCERPT.read_text().splitlines()
    newer = [lines[4].replace(",CC BY", ",CC BY-NC")]  # the same article restated in a later list
    fl = FileList.parse([lines, ["not,a,pmc,row", "", *newer]])
    assert fl.licence("PMC176545") == "CC BY-NC" and fl.skipped == 1 and len(fl) == 10


@pytest.mark.parametrize(("listed", "cloud", "jats", "expected"), [
    ("CC BY", None, "http://creativecommons.org/licenses/by/2.0", ("CC-BY-2.0", "oa_file_list", False)),
    ("CC BY", "CC BY-NC", None, ("CC-BY", "oa_file_list", False)),
    ("NO-CC CODE", None, "https://creativecommons.org/publicdomain/mark/1.0/", ("PDM-1.0", "jats", False)),
    ("NO-CC CODE", "CC BY-NC-ND", "http://creativecommons.org/licenses/by-nc-nd/4.0/",
     ("CC-BY-NC-ND-4.0", "pmc_cloud_metadata", False)),
    (None, "TDM", None, ("unknown", "none", False)),
    ("CC0", None, "http://creativecommons.org/licenses/by-nc/3.0", ("CC0-1.0", "oa_file_list", True)),
    (None, "CC BY-SA", "CC BY-SA 3.0", ("CC-BY-SA-3.0", "pmc_cloud_metadata", False)),
])
def test_licence_decision_order(listed, cloud, jats, expected) -> None:
    d = decide_licence(listed, cloud, jats)
    assert (d.licence, d.source, d.conflict) == expected
    assert d.statements == {"oa_file_list": listed, "pmc_cloud_metadata": cloud, "jats": jats}


# --- the Cloud Service listing and metadata --------------------------------------------------------

def test_versions_from_a_listing_numeric_not_lexical() -> None:
    body = _listing("PMC77.", ["PMC77.1", "PMC77.10", "PMC77.2", "PMC770.1"])
    assert parse_versions(body, "PMC77") == ([1, 2, 10], None)
    # the echoed query prefix is not a version, nor a key of another article; metadata keys count
    keys = (f"<ListBucketResult {NS}><Prefix>metadata/PMC5.</Prefix><IsTruncated>false</IsTruncated>"
            "<Contents><Key>metadata/PMC5.1.json</Key></Contents><Contents><Key>metadata/PMC5.3.json</Key>"
            "</Contents><Contents><Key>metadata/PMC55.9.json</Key></Contents></ListBucketResult>").encode()
    assert parse_versions(keys, "PMC5") == ([1, 3], None)
    assert parse_versions(_listing("PMC9.", ["PMC9.1"], "tok-2"), "PMC9") == ([1], "tok-2")
    assert parse_versions(_listing("PMC9.", []), "PMC9") == ([], None)


def test_metadata_record_and_media_urls() -> None:
    meta = {"pmcid": "PMC1790863", "version": 2, "is_pmc_openaccess": True, "is_retracted": False,
            "license_code": "CC BY", "xml_url": "s3://pmc-oa-opendata/PMC1790863.2/PMC1790863.2.xml?md5=ab",
            "media_urls": ["s3://pmc-oa-opendata/PMC1790863.2/pone.0000217.g001.jpg?md5=cd", 7]}
    rec = parse_metadata(json.dumps(meta).encode(), "PMC1790863", 2)
    assert (rec.version, rec.licence_code, rec.open_access, rec.retracted) == (2, "CC BY", True, False)
    media = media_by_stem(rec, "http://127.0.0.1:9/s3/")
    assert media["pone.0000217.g001"] == "http://127.0.0.1:9/s3/PMC1790863.2/pone.0000217.g001.jpg?md5=cd"
    assert object_url("https://example.org/x.jpg", "http://h") is None and object_url("s3://b/", "http://h") is None
    for bad in (b"not json", b"[1]", json.dumps({"pmcid": "PMC1"}).encode()):
        with pytest.raises(ValueError):
            parse_metadata(bad, "PMC1790863", 2)


# --- the collector against a local replay ----------------------------------------------------------

class PmcReplay(FakeNcbi):
    """efetch serves real JATS articles under chosen PMC ids; the bucket holds versions of some of them."""

    def __init__(self, articles: dict[str, tuple[str, str]], cloud: dict[str, tuple[list[int], dict]]) -> None:
        super().__init__(per_window=len(articles))
        self.ids = list(articles)  # esearch ids, in order
        self.articles, self.bucket = articles, cloud
        self.file_list = EXCERPT.read_bytes()

    def routes(self) -> dict[str, object]:
        return {**super().routes(), "/lists/oa_file_list.csv": lambda q, h: (200, {}, self.file_list)}

    def fetch(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        parts = []
        for i in q["id"][0].split(","):
            name, pmcid = self.articles[i]
            xml = _article_xml(name)
            xml = re.sub(rb'(<article-id pub-id-type="pmc">)[^<]*(<)', rb"\g<1>" + pmcid[3:].encode() + rb"\g<2>",
                         xml, count=1)
            parts.append(xml)
        return 200, {"Content-Type": "text/xml"}, b"<pmc-articleset>" + b"".join(parts) + b"</pmc-articleset>"

    def cloud(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        path = h.path.split("?")[0]  # type: ignore[attr-defined]
        if path.endswith(".json"):
            stem = path.rsplit("/", 1)[-1][:-5]
            pmcid, version = stem.rsplit(".", 1)
            versions, meta = self.bucket.get(pmcid, ([], {}))
            if int(version) not in versions:
                return 404, {}, b"<Error><Code>NoSuchKey</Code></Error>"
            return 200, {"Content-Type": "application/json"}, json.dumps({**meta, "version": int(version)}).encode()
        if path.endswith("/s3/") and "list-type" in q:
            prefix = q["prefix"][0]
            versions, _ = self.bucket.get(prefix.rstrip("."), ([], {}))
            return 200, {"Content-Type": "application/xml"}, _listing(prefix, [f"{prefix}{v}" for v in versions])
        return self.figure(q, h)


def test_collector_takes_pmc_licences_and_the_current_version(tmp_path: Path, con: object) -> None:
    require_fixture("jats", "ehp-116-1694.nxml")
    ncbi = PmcReplay(
        {"101": ("1471-2180-11-174.nxml", "PMC176545"),  # file list CC BY + JATS CC BY 2.0 URL
         "102": ("ehp-116-1694.nxml", "PMC13900"),  # file list NO-CC CODE -> the JATS public domain mark
         "103": ("pone.0000217.nxml", "PMC1790863"),  # not listed; the bucket's metadata v2 says CC BY
         "104": ("mds526.nxml", "PMC3574550"),  # not listed; retracted per its metadata
         "105": ("1472-6831-8-11.nxml", "PMC523832")},  # file list CC0 while its JATS says CC BY: a conflict
        {"PMC1790863": ([1, 2], {"pmcid": "PMC1790863", "license_code": "CC BY", "is_retracted": False,
                                 "media_urls": ["s3://pmc-oa-opendata/PMC1790863.2/pone.0000217.g001.jpg?md5=x"]}),
         "PMC3574550": ([1], {"pmcid": "PMC3574550", "license_code": "CC BY-NC", "is_retracted": True})})
    with LocalServer(ncbi.routes()) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url, date_to="2024/01/01", batch_size=5,
                   oa_file_lists=[f"{srv.url}/lists/oa_file_list.csv"], cloud_metadata=True,
                   figure_url_template="{base}/{pmcid}.{version}/{href}{ext}")
        src = PubMedSource(cfg.collect.sources.pubmed, _client(cfg), cfg.data_dir, "h", today=date(2024, 6, 1))
        run_stage(con, CollectStage(cfg, sources=[src]), "run1")  # type: ignore[arg-type]
        figure_paths = [p for _, p, _, _ in srv.requests if p.endswith(".jpg")]
    rows = con.execute("SELECT source_id, licence, meta->>'$.licence_source', meta->>'$.licence_conflict', "  # type: ignore[attr-defined]
                       "meta->>'$.pmc_version', meta->>'$.licence_group' FROM collect_items ORDER BY 1").fetchall()
    got = {r[0]: r[1:] for r in rows}
    assert got["PMC176545"][:2] == ("CC-BY-2.0", "oa_file_list")
    assert got["PMC13900"][:2] == ("PDM-1.0", "jats")
    assert got["PMC1790863"][:2] == ("CC-BY", "pmc_cloud_metadata") and got["PMC1790863"][3] == "2"
    assert got["PMC523832"][:3] == ("CC0-1.0", "oa_file_list", "true")
    assert "PMC3574550" not in got
    rejects = dict(con.execute("SELECT item_id, reason FROM rejects").fetchall())  # type: ignore[attr-defined]
    assert rejects["article:PMC3574550"] == "retracted"
    # figures of the listed article come from its current version's media URL, the others from the layout
    assert "/s3/PMC1790863.2/pone.0000217.g001.jpg" in figure_paths
    assert not any("PMC1790863.1/" in p for p in figure_paths)
    assert not any("PMC176545" in p for p in figure_paths), "not in the bucket: no guessed version"
    assert rejects["figures:PMC176545"] == "figures_not_in_cloud"
