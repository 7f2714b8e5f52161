"""The shared HTTP client against a local server: status rows instead of exceptions, retries only where
they help, Retry-After, per-host spacing, the download ledger and the API cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from collect_server import LocalServer, jpeg, slow, static, truncated

from pipeline.collect.http import USER_AGENT, HttpClient


def _image() -> bytes:
    return jpeg(0)


def client(tmp_path: Path, **kw: object) -> tuple[HttpClient, list[float]]:
    sleeps: list[float] = []
    opts: dict[str, object] = {"timeout_s": 2.0, "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
                               "sleep": sleeps.append, "cache_dir": tmp_path / "cache"}
    opts.update(kw)
    return HttpClient(tmp_path / "raw", **opts), sleeps  # type: ignore[arg-type]


def test_download_is_content_addressed_and_fetched_once(tmp_path: Path) -> None:
    body = _image()
    with LocalServer({"/img.jpg": static(body, "image/jpeg")}) as srv:
        c, _ = client(tmp_path)
        first = c.download(f"{srv.url}/img.jpg", ".jpg")
        again = c.download(f"{srv.url}/img.jpg", ".jpg")
    sha = hashlib.sha256(body).hexdigest()
    assert first.ok and first.sha256 == sha and first.bytes == len(body)
    assert Path(first.path or "") == tmp_path / "raw" / sha[:2] / f"{sha}.jpg"
    assert Path(first.path or "").read_bytes() == body
    assert again.ok and again.from_cache and again.path == first.path
    assert srv.hits["/img.jpg"] == 1
    assert srv.requests[0][3]["User-Agent"] == USER_AGENT
    assert not list((tmp_path / "raw").glob(".part-*")), "no temp file left behind"


@pytest.mark.parametrize("route,status,hits,final", [
    ("/missing", "not_found", 1, True),      # a 404 is final: no retry, and never asked again
    ("/broken", "server_error", 3, False),   # 500: retried max_retries times, then left for the next run
    ("/forbidden", "forbidden", 1, True),
])
def test_http_errors_become_statuses(tmp_path: Path, route: str, status: str, hits: int, final: bool) -> None:
    routes = {"/broken": static(b"oops", status=500), "/forbidden": static(b"no", status=403)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        c, _ = client(tmp_path)
        f = c.download(f"{srv.url}{route}")
    assert f.status == status and not f.ok and f.path is None
    assert srv.hits[route] == hits
    assert (c.store.recorded(f"{srv.url}{route}") is not None) == final


def test_retry_after_is_honoured_then_success(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(q: object, h: object) -> tuple[int, dict[str, str], bytes]:
        calls["n"] += 1
        return (429, {"Retry-After": "7"}, b"slow down") if calls["n"] == 1 else (200, {}, b"fine")

    with LocalServer({"/api": flaky}) as srv:
        c, sleeps = client(tmp_path, backoff_max_s=30.0)
        f, body = c.get_api(f"{srv.url}/api", {"q": "x"})
    assert f.ok and body == b"fine" and srv.hits["/api"] == 2
    assert 7.0 in sleeps, "the server's Retry-After (7 s) is what the client waited"


def test_timeout_truncated_and_oversize(tmp_path: Path) -> None:
    body = _image()
    routes = {"/slow": slow(1.5), "/cut": truncated(body[:100], len(body)), "/big": static(body)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        c, _ = client(tmp_path, timeout_s=0.3, max_retries=0)
        assert c.download(f"{srv.url}/slow").status == "timeout"
        cut = c.download(f"{srv.url}/cut")
        assert cut.status == "truncated" and cut.transient
        small, _ = client(tmp_path, max_retries=0, max_bytes=len(body) - 1)
        big = small.download(f"{srv.url}/big")
        assert big.status == "oversize" and not big.transient
    assert not [p for p in (tmp_path / "raw").rglob("*") if p.is_file() and "_ledger" not in p.parts]


def test_connection_refused_is_a_status(tmp_path: Path) -> None:
    with LocalServer({}) as srv:
        url = srv.url
    c, _ = client(tmp_path, max_retries=1)
    f = c.download(f"{url}/gone")
    assert f.status == "connection_error" and f.transient


def test_per_host_interval_spaces_requests(tmp_path: Path) -> None:
    with LocalServer({"/a": static(b"a")}) as srv:
        host = srv.url.removeprefix("http://")
        c, sleeps = client(tmp_path, host_intervals={host: 5.0})
        for n in range(3):
            c.get_api(f"{srv.url}/a", {"n": str(n)})
    waits = [s for s in sleeps if s > 1.0]
    assert len(waits) == 2 and all(4.0 < w <= 10.0 for w in waits), sleeps


def test_api_cache_answers_without_the_network(tmp_path: Path) -> None:
    with LocalServer({"/api": static(b'{"ok": 1}')}) as srv:
        c, _ = client(tmp_path)
        c.get_api(f"{srv.url}/api", {"id": "1"})
        f, body = c.get_api(f"{srv.url}/api", {"id": "1"})
        c.get_api(f"{srv.url}/api", {"id": "2"})
    assert f.from_cache and body == b'{"ok": 1}'
    assert srv.hits["/api"] == 2


def test_cache_hits_skip_the_host_interval(tmp_path: Path) -> None:
    """A rerun answered from the API cache neither waits for the host's slot nor counts as a request
    (hishel's CacheTransport answers inside httpx, after the pacing: this fails with it, see http.py)."""
    with LocalServer({"/a": static(b"a")}) as srv:
        host = srv.url.removeprefix("http://")
        first, _ = client(tmp_path, host_intervals={host: 5.0})
        for n in range(3):
            first.get_api(f"{srv.url}/a", {"n": str(n)})
        rerun, sleeps = client(tmp_path, host_intervals={host: 5.0})
        answers = [rerun.get_api(f"{srv.url}/a", {"n": str(n)}) for n in range(3)]
    assert all(f.from_cache and body == b"a" for f, body in answers)
    assert sleeps == [] and rerun.requests_sent == 0 and srv.hits["/a"] == 3


def test_compressed_answers_are_stored_decoded_and_bombs_capped(tmp_path: Path) -> None:
    """httpx asks for gzip; a server that compresses must not leave gzip bytes in the raw store or cache,
    and the byte cap counts the inflated size, so a gzip bomb is `oversize`."""
    import gzip
    import json

    body = json.dumps({"esearchresult": {"idlist": [str(i) for i in range(500)]}}).encode()
    bomb = gzip.compress(b"\0" * 5_000_000)  # about 5 KB on the wire
    routes = {"/api": lambda q, h: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"},
                                    gzip.compress(body)),
              "/bomb": lambda q, h: (200, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"}, bomb)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        client = HttpClient(tmp_path / "raw", max_retries=0, max_bytes=1_000_000, cache_dir=tmp_path / "cache",
                            sleep=lambda s: None)
        fetch, data = client.get_api(f"{srv.url}/api")
        assert fetch.ok and data == body and json.loads(data)["esearchresult"]["idlist"][-1] == "499"
        assert client.get_api(f"{srv.url}/api")[1] == body  # from the cache, decoded too
        assert client.download(f"{srv.url}/bomb", ".jpg").status == "oversize"
    assert len(bomb) < 10_000
