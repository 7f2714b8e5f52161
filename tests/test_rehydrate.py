"""`derm1m rehydrate` (issue 16): a research export's release by reference rebuilt through the project's
HTTP client from a local server on 127.0.0.1 and from local sources (an image file, a PDF's figure), with
the sha256 checked: the happy path, a server that answers another image, a 404, a missing source, a rerun."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pymupdf
import yaml
from collect_server import LocalServer, static
from PIL import Image

from flows.cli import main
from pipeline.config import ImageConfig, PdfConfig, TrainConfig
from pipeline.formats.pdf import extract_pdf_figures
from pipeline.media import MediaStore, normalise_image
from pipeline.train.jobs import export_corpus
from pipeline.train.release import ReleasePolicy


def _png(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _pdf(path: Path, image: bytes) -> None:
    """A one-figure handout: an image with a caption below it, as the sample PDFs are laid out."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(pymupdf.Rect(150, 100, 450, 350), stream=image)
    page.insert_textbox(pymupdf.Rect(150, 360, 450, 420), "Figure 1. Plaque psoriasis on the elbow.")
    doc.save(path)


def _row(tmp: Path, n: int, data: bytes, **prov: Any) -> dict[str, Any]:
    img = normalise_image(data, ImageConfig())
    path = MediaStore(tmp / "media").put(img)
    item = f"{prov['item_kind']}:{prov['source_id']}"
    return {
        "pair_id": f"{item}#{prov['locator']}", "image_id": img.sha256, "image_path": str(path), "group_id": item,
        "cluster_id": "", "source": prov.pop("source"), "source_type": "forum", "caption": f"raw {n}",
        "refined_caption": f"a plaque on the elbow, case {n}", "truncated_caption": f"plaque {n}",
        "ontology_caption": None, "concept_caption": None, "disease_label": "psoriasis",
        "hierarchical_disease_label": "inflammatory", "skin_concept": "plaque", "body_location": "elbow",
        "symptoms": "", "age": "", "gender": "", **prov,
    }  # fmt: skip


def _reference(tmp: Path, server: str) -> tuple[Path, dict[str, str]]:
    """A research export of six pairs none of which it admits; returns its reference and sha256 by case."""
    sources = tmp / "sources"
    (sources / "pdfs").mkdir(parents=True)
    (sources / "derm").mkdir()
    figure = _png(10, (200, 160))
    _pdf(sources / "pdfs" / "atlas.pdf", figure)
    fig = extract_pdf_figures(sources / "pdfs" / "atlas.pdf", PdfConfig()).figures[0]
    (sources / "derm" / "d1.png").write_bytes(_png(11))
    post = {"item_kind": "post", "source": "reddit_english", "source_url": "https://www.reddit.com/r/a/"}
    rows = [
        _row(tmp, 1, _png(1), **post, source_id="t3_ok", locator="ok.png", image_url=f"{server}/img/ok.png"),
        _row(tmp, 2, _png(2), **post, source_id="t3_bad", locator="bad.png", image_url=f"{server}/img/bad.png"),
        _row(tmp, 3, _png(3), **post, source_id="t3_gone", locator="gone.png", image_url=f"{server}/img/gone.png"),
        _row(tmp, 4, fig.image_bytes, item_kind="pdf", source="textbook_english", source_id="atlas",
             locator=f"p{fig.page}/{fig.index}", page=str(fig.page), source_file=str(sources / "pdfs" / "atlas.pdf")),
        _row(tmp, 5, _png(11), item_kind="dataset_image", source="public", source_id="derm:d1", dataset="derm",
             locator="d1.png", collected_licence="proprietary", source_file=str(sources / "derm" / "d1.png")),
        _row(tmp, 6, _png(12), item_kind="pdf", source="textbook_english", source_id="lost", locator="p1/0",
             source_file=str(sources / "pdfs" / "lost.pdf")),
    ]  # fmt: skip
    e = export_corpus(rows, TrainConfig(), tmp / "export", None, ReleasePolicy("research", {}, sources))
    assert e.manifest.n_rows == {"train": 0, "validation": 0} and e.manifest.reference is not None
    return e.manifest.reference, {r["source_id"]: r["image_id"] for r in rows}


def _profile(tmp: Path) -> Path:
    prof = tmp / "profile.yaml"
    http = {"min_interval_s": 0.0, "max_retries": 0, "timeout_s": 5.0}
    prof.write_text(yaml.safe_dump({"root": str(tmp / "sources"), "data_dir": str(tmp / "data"),
                                    "warehouse": str(tmp / "w.duckdb"), "collect": {"http": http}}))  # fmt: skip
    return prof


def test_rehydrate_rebuilds_checks_hashes_and_reports(tmp_path: Path, capsys) -> None:
    routes = {"/img/ok.png": static(_png(1), "image/png"), "/img/bad.png": static(_png(99), "image/png")}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        ref, sha = _reference(tmp_path, srv.url)
        out = tmp_path / "rehydrated"
        code = main(["--config", str(_profile(tmp_path)), "rehydrate", str(ref), str(out)])
        assert code == 1  # some images did not come back
        assert "6 image(s)" in capsys.readouterr().out
        report = {
            r["pair_ids"].split("#")[0].split(":")[1]: r
            for r in csv.DictReader(open(out / "rehydrate_report.csv"))
        }
        assert {k: (r["status"], r["via"]) for k, r in report.items()} == {
            "t3_ok": ("ok", "url"), "t3_bad": ("hash_mismatch", "url"), "t3_gone": ("not_found", "url"),
            "atlas": ("ok", "pdf"), "derm": ("ok", "file"), "lost": ("missing_source", "file"),
        }  # fmt: skip
        # what came back is byte for byte the exported image, named by its sha256; nothing else was written
        written = sorted(p.stem for p in (out / "images").iterdir())
        assert written == sorted(sha[k] for k in ("t3_ok", "atlas", "derm:d1"))
        pairs = list(csv.DictReader(open(out / "rehydrated.csv")))
        assert sorted(p["source_id"] for p in pairs) == ["atlas", "derm:d1", "t3_ok"]
        assert all((out / p["filename"]).is_file() and p["split"] in ("train", "validation") for p in pairs)
        failed = json.loads((out / "rehydrate_report.json").read_text())["failed"]
        assert {f["status"] for f in failed} == {"hash_mismatch", "not_found", "missing_source"}
        # a rerun keeps what is there (verified by hash) and asks the server nothing new: the ledger of the
        # HTTP client remembers the 404 and the finished downloads
        hits = sum(srv.hits.values())
        assert main(["--config", str(_profile(tmp_path)), "rehydrate", str(ref), str(out)]) == 1
        again = {r["status"] for r in csv.DictReader(open(out / "rehydrate_report.csv"))}
        assert again == {"exists", "hash_mismatch", "not_found", "missing_source"}
        assert sum(srv.hits.values()) == hits


def test_a_tampered_local_source_is_a_hash_mismatch(tmp_path: Path) -> None:
    from pipeline.train.rehydrate import rehydrate

    ref, sha = _reference(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "sources" / "derm" / "d1.png").write_bytes(_png(77))
    report = rehydrate(ref, tmp_path / "out", None, tmp_path / "sources")
    by_id = {o.pair_ids[0].split("#")[0]: o.status for o in report.outcomes}
    assert by_id["dataset_image:derm:d1"] == "hash_mismatch"
    assert by_id["post:t3_ok"] == "missing_source"  # no download function: local sources only
    assert [p.stem for p in (tmp_path / "out" / "images").iterdir()] == [sha["atlas"]]


def test_the_reference_has_no_local_paths_and_no_image_bytes(tmp_path: Path) -> None:
    ref, _ = _reference(tmp_path, "http://127.0.0.1:9")
    table = pq.read_table(ref)
    assert "image" not in table.column_names
    files = set(table.column("source_file").to_pylist())
    assert files == {"", "pdfs/atlas.pdf", "derm/d1.png", "pdfs/lost.pdf"}
