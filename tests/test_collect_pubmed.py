"""PubMed Central through a local server replaying real E-utilities responses and real PMC JATS.

The esearch answers are the real biopython esearch response with its id list split over date windows;
efetch answers are real PMC OA articles wrapped as a `pmc-articleset`, as efetch returns them; figure
files are real ISIC JPEGs. Some figures answer 404 or 500, one efetch batch is cut-off XML.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from collect_server import LocalServer, jpeg
from conftest import require_fixture

from pipeline.collect.http import HttpClient
from pipeline.collect.pubmed import PubMedSource, date_windows, licence_group
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.config.sources import PubMedConfig
from pipeline.stage import run_stage

ARTICLES = ["1471-2180-11-174.nxml", "ehp-116-1694.nxml", "mds526.nxml", "PMC10777901.xml",
            "PMC6500000.xml", "PMC7500000.xml", "1472-6831-8-11.nxml", "journal.pone.0147124.xml",
            "pntd.0002065.nxml"]


def _article_xml(name: str) -> bytes:
    data = require_fixture("jats", name).read_bytes()
    data = re.sub(rb"<\?xml[^>]*\?>", b"", data)
    data = re.sub(rb"<!DOCTYPE[^>]*>", b"", data, count=1)
    return data.strip()


class FakeNcbi:
    """Routes for esearch (ids per window), efetch (articles per id) and figure files."""

    def __init__(self, per_window: int = 3, broken_ids: frozenset[str] = frozenset()) -> None:
        self.esearch = require_fixture("jats", "entrez", "esearch1.xml").read_bytes().decode()
        self.ids = re.findall(r"<Id>(\d+)</Id>", self.esearch)
        self.per_window, self.broken_ids = per_window, broken_ids
        self.image = jpeg(0)  # figure bytes to serve: any real JPEG
        self.windows: dict[str, int] = {}

    def routes(self) -> dict[str, object]:
        return {"/eutils/esearch.fcgi": self.search, "/eutils/efetch.fcgi": self.fetch, "/pmc/": self.figure,
                "/s3/": self.cloud}

    def cloud(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        """The Cloud Service bucket holding none of these articles: an empty ListObjectsV2 answer."""
        prefix = q.get("prefix", [""])[0]
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
                f'2006-03-01/"><Name>pmc-oa-opendata</Name><Prefix>{prefix}</Prefix><KeyCount>0</KeyCount>'
                '<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated></ListBucketResult>')
        return 200, {"Content-Type": "application/xml"}, body.encode()

    def search(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        k = self.windows.setdefault(q["mindate"][0], len(self.windows))
        ids = self.ids[k * self.per_window:(k + 1) * self.per_window]
        body = re.sub(r"<IdList>.*</IdList>", "<IdList>" + "".join(f"<Id>{i}</Id>" for i in ids) + "</IdList>",
                      self.esearch, flags=re.S)
        body = re.sub(r"<Count>\d+</Count>", f"<Count>{len(ids)}</Count>", body)
        return 200, {"Content-Type": "text/xml"}, body.encode()

    def fetch(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        assert q["db"] == ["pmc"] and q["tool"] == ["derm1m-test"] and q["email"] == ["test@example.org"]
        ids = q["id"][0].split(",")
        if set(ids) & self.broken_ids:
            return 200, {"Content-Type": "text/xml"}, b"<pmc-articleset><article><front><article-meta"
        parts = [_article_xml(ARTICLES[self.ids.index(i) % len(ARTICLES)]) for i in ids]
        return 200, {"Content-Type": "text/xml"}, b"<pmc-articleset>" + b"".join(parts) + b"</pmc-articleset>"

    def figure(self, q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        path = h.path  # type: ignore[attr-defined]
        if path.endswith("f2.jpg"):
            return 404, {}, b"NoSuchKey"
        if path.endswith("mds52602.jpg"):
            return 500, {}, b"InternalError"
        return 200, {"Content-Type": "image/jpeg"}, self.image


def _cfg(tmp_path: Path, url: str, **kw: object) -> RunConfig:
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.http.min_interval_s = 0.0
    cfg.collect.http.max_retries = 1
    cfg.collect.http.backoff_base_s = 0.01
    opts: dict[str, object] = {
        "enabled": True, "query": "skin[MeSH Terms]", "email": "test@example.org", "tool": "derm1m-test",
        "eutils_base": f"{url}/eutils", "figure_url_template": url + "/pmc/{pmcid}.{version}/{href}{ext}",
        "cloud_base": f"{url}/s3", "cloud_metadata": False,  # tests/test_collect_pubmed_licences.py: the bucket
        "date_from": "2024/01/01", "date_to": "2024/01/03", "window_days": 1, "batch_size": 2,
        "licence_groups": ["oa_comm", "oa_noncomm"], **kw}
    cfg.collect.sources.pubmed = PubMedConfig.model_validate(opts)
    return cfg


def _client(cfg: RunConfig) -> HttpClient:
    return HttpClient(cfg.data_dir / "raw", max_retries=1, backoff_base_s=0.01, backoff_max_s=0.02,
                      cache_dir=cfg.data_dir / "raw" / "_api_cache", host_intervals={}, sleep=lambda s: None)


def _source(cfg: RunConfig, client: HttpClient | None = None) -> PubMedSource:
    pm = cfg.collect.sources.pubmed
    return PubMedSource(pm, client or _client(cfg), cfg.data_dir, "h", today=date(2024, 6, 1))


def test_licence_groups_and_windows() -> None:
    assert licence_group("http://creativecommons.org/licenses/by/2.0") == "oa_comm"
    assert licence_group("http://creativecommons.org/licenses/by-nc/3.0") == "oa_noncomm"
    assert licence_group("http://creativecommons.org/publicdomain/zero/1.0/") == "oa_comm"
    assert licence_group(None) == "oa_other"
    spans = list(date_windows(date(2024, 1, 1), date(2024, 1, 10), 4))
    assert spans[0] == (date(2024, 1, 1), date(2024, 1, 4)) and spans[-1] == (date(2024, 1, 9), date(2024, 1, 10))


def test_collects_articles_figures_and_statuses(tmp_path: Path, con: object) -> None:
    ncbi = FakeNcbi()
    with LocalServer(ncbi.routes()) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url)
        stage = CollectStage(cfg, sources=[_source(cfg)])
        report = run_stage(con, stage, "run1")  # type: ignore[arg-type]
    items = con.execute("SELECT source_id, licence, meta->>'$.licence_group', path, url FROM collect_items "  # type: ignore[attr-defined]
                        "ORDER BY 1").fetchall()
    ids = [r[0] for r in items]
    assert "PMC3166277" in ids and "PMC3574550" in ids and len(ids) == 9
    groups = {r[0]: r[2] for r in items}
    assert groups["PMC3574550"] == "oa_noncomm" and groups["PMC3166277"] == "oa_comm"
    pmc = next(r for r in items if r[0] == "PMC2599765")
    folder = Path(pmc[3]).parent
    assert Path(pmc[3]).name == "PMC2599765.xml" and (folder / "ehp-116-1694f1.jpg").is_file()
    assert not (folder / "ehp-116-1694f2.jpg").exists()
    statuses = dict(con.execute("SELECT status, count(*) FROM collect_fetches GROUP BY 1").fetchall())  # type: ignore[attr-defined]
    assert statuses["not_found"] >= 1 and statuses["server_error"] == 1 and statuses["ok"] > 10
    rejects = {r[0] for r in con.execute("SELECT reason FROM rejects").fetchall()}  # type: ignore[attr-defined]
    assert {"fetch_not_found", "fetch_server_error"} <= rejects
    assert report.status == "ok" and report.items_in == 3
    # the window with the 500 is committed but marked for retry; the others wrote their cursor
    cursors = {r[0] for r in con.execute("SELECT value FROM collect_cursors").fetchall()}  # type: ignore[attr-defined]
    assert len(cursors) == 2
    assert srv.hits["/pmc/PMC3574550.1/mds52602.jpg"] == 2, "a 500 is retried (max_retries=1)"


def test_invalid_xml_batch_is_a_status_not_a_crash(tmp_path: Path, con: object) -> None:
    ncbi = FakeNcbi(per_window=3)
    ncbi.broken_ids = frozenset({ncbi.ids[0]})
    with LocalServer(ncbi.routes()) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url, date_to="2024/01/01", figures=False)
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run1")  # type: ignore[arg-type]
    rows = con.execute("SELECT item_key, status FROM collect_fetches WHERE status <> 'ok'").fetchall()  # type: ignore[attr-defined]
    assert [r[1] for r in rows] == ["invalid_xml"]
    n = con.execute("SELECT count(*) FROM collect_items").fetchone()[0]  # type: ignore[attr-defined]
    assert n == 1, "the second batch of the same window is still collected"


def test_rerun_skips_finished_windows_and_uses_cursors(tmp_path: Path, con: object) -> None:
    ncbi = FakeNcbi()
    with LocalServer(ncbi.routes()) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url, figures=False)
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run1")  # type: ignore[arg-type]
        hits = sum(srv.hits.values())
        second = run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run2")  # type: ignore[arg-type]
        assert sum(srv.hits.values()) == hits and second.items_in == 0
        src = _source(cfg)
        from pipeline.collect.network import read_cursors

        src.cursors = read_cursors(con)["pubmed"]  # type: ignore[arg-type]
        assert list(src.units()) == [], "every window is behind the cursor"


@pytest.mark.parametrize("kill_after", [2, 7])
def test_kill_midway_then_rerun_fetches_nothing_twice(tmp_path: Path, kill_after: int) -> None:
    from pipeline.warehouse import connect

    ncbi = FakeNcbi()
    with LocalServer(ncbi.routes()) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url)
        con = connect(tmp_path / "w.duckdb")
        client = _client(cfg)
        real, calls = client.download, {"n": 0}

        def dying(url: str, suffix: str = "", params: dict[str, str] | None = None) -> object:
            calls["n"] += 1
            if calls["n"] > kill_after:
                raise KeyboardInterrupt  # the process is killed here, mid-unit
            return real(url, suffix, params)

        client.download = dying  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            run_stage(con, CollectStage(cfg, sources=[_source(cfg, client)]), "run1", batch_size=1)
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run2", batch_size=1)
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run3", batch_size=1)  # retries the 500 only
    per_request = {}
    for _method, path, query, _ in srv.requests:
        key = (path, tuple(sorted((k, tuple(v)) for k, v in query.items())))
        per_request[key] = per_request.get(key, 0) + 1
    twice = {k: n for k, n in per_request.items() if n > 1 and "mds52602" not in k[0]}
    assert not twice, f"fetched more than once: {twice}"
    n_items = con.execute("SELECT count(*) FROM collect_items").fetchone()[0]
    n_figs = con.execute("SELECT count(DISTINCT url) FROM collect_fetches WHERE status = 'ok' "
                         "AND item_key LIKE 'figure:%'").fetchone()[0]
    assert n_items == 9 and n_figs > 10
    con.close()


def test_europe_pmc_full_text_route(tmp_path: Path, con: object) -> None:
    ncbi = FakeNcbi(per_window=2)
    articles = {f"PMC{i}": _article_xml(name) for i, name in zip(ncbi.ids, ARTICLES, strict=False)}

    def full_text(q: object, h: object) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/xml"}, articles[h.path.split("/")[2]]  # type: ignore[attr-defined]

    routes = {**ncbi.routes(), "/europepmc/": full_text}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url, date_to="2024/01/01", figures=False, europepmc=True,
                   europepmc_base=f"{srv.url}/europepmc")
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run1")  # type: ignore[arg-type]
    assert srv.hits["/eutils/efetch.fcgi"] == 0
    assert srv.hits[f"/europepmc/PMC{ncbi.ids[0]}/fullTextXML"] == 1
    rows = con.execute("SELECT item_key FROM collect_fetches WHERE item_key LIKE 'europepmc:%'").fetchall()  # type: ignore[attr-defined]
    assert len(rows) == 2
    assert con.execute("SELECT count(*) FROM collect_items").fetchone()[0] == 2  # type: ignore[attr-defined]


def test_same_article_twice_in_a_window_is_one_item(tmp_path: Path, con: object) -> None:
    ncbi = FakeNcbi(per_window=2)
    article = _article_xml("mds526.nxml")
    routes = {**ncbi.routes(), "/europepmc/": lambda q, h: (200, {}, article)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        cfg = _cfg(tmp_path, srv.url, date_to="2024/01/01", figures=False, europepmc=True,
                   europepmc_base=f"{srv.url}/europepmc")
        run_stage(con, CollectStage(cfg, sources=[_source(cfg)]), "run1")  # type: ignore[arg-type]
    assert con.execute("SELECT count(*) FROM collect_items").fetchone()[0] == 1  # type: ignore[attr-defined]
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("duplicate_item",)]  # type: ignore[attr-defined]
