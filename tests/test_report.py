"""The HTML report's dataset-paper figures, example grid and readability, on a small hand-made warehouse (no
build): skin tone, image types, body sites, age and sex, the long tail, the split and the latest validation
run are counted from the rows; examples come only from what the export may ship; every figure reports no
overlapping labels and no text under 9 pt; the page is one file with nothing fetched. A headless-Chromium
pass (skipped without Chromium) checks the rendered page as a reader sees it; the sample build's screenshot
test is tests/test_platform.py."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.pyplot as plt
import pytest
from PIL import Image

from pipeline.report import gallery, paper, paper_figures, plots, render, write_report
from pipeline.report.data import gather
from pipeline.warehouse import connect

T0 = datetime(2026, 12, 1, 12, 0, 0)


def _insert(con: duckdb.DuckDBPyConnection, table: str, **values: Any) -> None:
    """A row with the given columns; other NOT NULL columns get a blank of their type."""
    blank = {
        "VARCHAR": "",
        "INTEGER": 0,
        "BIGINT": 0,
        "DOUBLE": 0.0,
        "BOOLEAN": False,
        "TIMESTAMP": T0,
        "JSON": "[]",
    }
    for name, typ, null, *_ in con.execute(f"DESCRIBE {table}").fetchall():
        if null == "NO" and name not in values:
            values[name] = blank.get(typ, "")
    cols = list(values)
    con.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        list(values.values()),
    )


def _image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (400, 300)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


# pair id -> (split, skin tone, age, gender, body site, disease, what keeps it out of the examples)
PAIRS = {
    "p1": ("train", "Fitzpatrick IV", "62", "female", "back", "psoriasis", None),
    "p2": ("train", "Fitzpatrick II", "40s", "male", "hand", "psoriasis", None),
    "p3": ("train", "No skin tone information", "6 months", "No gender information", "face", "eczema", None),
    "p4": ("train", "Fitzpatrick IV", "No age information", "female", "No body location information", "eczema",
           "deid_rejected"),
    "p5": ("train", "No skin tone information", "35", "male", "back", "psoriasis", "pair_taken_down"),
    "p6": ("train", "dark skin", "No age information", "No gender information", "leg", "tinea", "item_taken_down"),
    "p7": ("train", "No skin tone information", "No age information", "No gender information", "arm", "acne",
           "excluded"),
    "p8": ("validation", "No skin tone information", "71", "female", "leg", "melanoma", None),
    "p9": ("train", "No skin tone information", "28", "male", "scalp", "psoriasis", "unreadable"),
}  # fmt: skip
SHIPPABLE = ["p1", "p2", "p3"]


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "w.duckdb")
    export_dir = tmp_path / "export"
    (export_dir / "images").mkdir(parents=True)
    for old, created in (("e-old", T0), ("e-new", T0 + timedelta(days=1))):
        _insert(
            con,
            "train_exports",
            export_id=old,
            out_dir=str(export_dir),
            created_at=created,
            release="research",
        )
    for i, (pid, (split, tone, age, sex, site, disease, out)) in enumerate(PAIRS.items()):
        item, image, source = f"post:{pid}", f"img{pid}", ("forum" if i % 2 else "pubmed")
        path = _image(tmp_path / f"{pid}.png", (40 * i % 255, 120, 200))
        if out == "unreadable":
            path.write_bytes(b"not an image")
        _insert(
            con, "collect_items", item_id=item, kind="post", source=source, source_id=pid, licence="CC-BY-4.0"
        )
        _insert(con, "preprocess_images", image_id=image, path=str(path))
        _insert(con, "clean_image_scores", image_id=image, status="kept",
                image_type="dermoscopy" if i % 3 == 0 else "clinical_photo")  # fmt: skip
        _insert(con, "pair_image_texts", pair_id=pid, item_id=item, image_id=image, source_image_id=image,
                cluster_id=image, kind="post_text", source=source, text=f"text of {pid}")  # fmt: skip
        _insert(con, "augment_captions", pair_id=pid, caption=f"A {disease} plaque on the {site} ({pid}).",
                disease_label=disease, skin_tone=tone, age=age, gender=sex, body_location=site)  # fmt: skip
        _insert(
            con, "train_splits", export_id="e-new", pair_id=pid, split=split, filename=f"images/{pid}.png"
        )
        _insert(
            con, "train_splits", export_id="e-old", pair_id=pid, split="train", filename=f"images/{pid}.png"
        )
        _insert(con, "clean_deid", image_id=image, action="rejected" if out == "deid_rejected" else "clean")
        if out == "pair_taken_down":
            _insert(con, "takedown_removals", what="pair", key=pid, reason="owner request")
        if out == "item_taken_down":
            _insert(con, "takedown_removals", what="item", key=item, reason="retracted")
        if out == "excluded":
            _insert(con, "train_export_exclusions", export_id="e-new", pair_id=pid, item_id=item, source=source,
                    licence="forum-terms", reason="licence_excluded")  # fmt: skip
    for run, export, top1 in (("r-old", "e-old", 0.9), ("r-new", "e-new", 0.25)):
        _insert(con, "train_runs", train_run_id=run, export_id=export, model="DermMicro", epochs=2, n_train=7)
        for state, value in (("trained", top1), ("untrained", 0.05)):
            for metric in ("zero_shot_top1", "i2t_R@1", "n_val"):
                _insert(con, "train_metrics", train_run_id=run, model_state=state, split="validation", metric=metric,
                        value=value if metric != "n_val" else 1.0)  # fmt: skip
    return con


def test_age_groups_and_sexes() -> None:
    cases = {"62": "60-69", "40s": "40-49", "6 months": "0-9", "child": "0-9", "20-40": "20-29", "85": "70+",
             "7, 35": "0-9", "No age information": None, "": None, "adolescent": "10-19"}  # fmt: skip
    assert {a: paper.age_group(a) for a in cases} == cases
    assert [paper.sex_of(g) for g in ("male", "female", "male, female", "No gender information")] == [
        "male",
        "female",
        "male and female",
        "not stated",
    ]


def test_paper_figures_count_the_rows(warehouse) -> None:
    p = paper.gather_paper(warehouse)
    assert p.skin_tone.values == [("Fitzpatrick II", 1), ("Fitzpatrick IV", 2), ("dark skin", 1)]
    assert (p.skin_tone.stated, p.skin_tone.total) == (4, 9)
    assert dict(p.image_type.values) == {"dermoscopy": 3, "clinical_photo": 6}
    assert p.body_site.values[:2] == [("back", 2), ("leg", 2)] and p.body_site.stated == 8
    assert p.age_sex == [("0-9", "not stated", 1), ("20-29", "male", 1), ("30-39", "male", 1),
                         ("40-49", "male", 1), ("60-69", "female", 1), ("70+", "female", 1),
                         ("age not stated", "female", 1)]  # fmt: skip
    assert p.age_sex_stated == 7
    assert p.condition_counts == [4, 2, 1, 1, 1]
    assert p.export_id == "e-new"
    assert sorted(p.split) == [
        ("train", "forum", 3),
        ("train", "pubmed", 4),
        ("validation", "forum", 1),
    ]  # p7 left out
    assert p.run is not None and p.run.train_run_id == "r-new"  # the latest export's run, not the old one
    assert ("validation", "zero_shot_top1", "trained", 0.25) in p.run.metrics


def test_examples_show_only_what_the_export_may_ship(warehouse) -> None:
    shown = gallery.examples(warehouse)
    assert sorted(e.pair_id for e in shown) == SHIPPABLE
    for e in shown:
        assert e.data_uri.startswith("data:image/jpeg;base64,")
        thumb = Image.open(io.BytesIO(base64.b64decode(e.data_uri.split(",", 1)[1])))
        assert max(thumb.size) == gallery.THUMB_PX and thumb.size == (160, 120)
        assert e.licence == "CC-BY-4.0" and e.caption.endswith(f"({e.pair_id}).")
    assert len(gallery.examples(warehouse, limit=2)) == 2
    # the examples spread over conditions: one of each before a second of any
    assert {e.label for e in gallery.examples(warehouse, limit=2)} == {"psoriasis", "eczema"}


def test_a_readable_figure_rotates_then_thins_crowded_labels() -> None:
    fig, ax = plt.subplots(figsize=(6.4, 3))
    names = [f"a long category name {i}" for i in range(40)]
    ax.bar(names, range(40))
    left, min_font = plots.readable(fig)
    labels = [t for t in ax.get_xticklabels() if t.get_visible()]
    assert left == 0 and min_font >= plots.MIN_FONT_PT
    assert labels[0].get_rotation() == 35 and len(labels) < 40  # rotated, then thinned
    plt.close(fig)
    few = plots.stacked_v([("20-29", "male", 2), ("30-39", "female", 1)], paper.AGE_ORDER, "t", "pairs")
    assert 'data-label-overlaps="0"' in few


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_page_is_one_readable_file(warehouse, tmp_path: Path) -> None:
    out = Path(write_report(warehouse, tmp_path / "report.html"))
    page = out.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    svgs = [a for t, a in parsed.tags if t == "svg"]
    imgs = [a for t, a in parsed.tags if t == "img"]
    assert (
        len(svgs) == 16
    )  # 9 corpus figures (concepts, throughput, ... have no rows here) + 7 dataset-paper ones
    assert not [svg for svg in paper_figures(paper.gather_paper(warehouse)) if "no data yet" in svg]
    assert all(a["data-label-overlaps"] == "0" and float(a["data-min-font-pt"] or 0) >= 9 for a in svgs), svgs
    assert len(imgs) == len(SHIPPABLE) and all((a["src"] or "").startswith("data:image/jpeg") for a in imgs)
    assert not [t for t, _ in parsed.tags if t in ("script", "link", "iframe")]
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", page)  # nothing fetched
    for title in ("Skin tone (stated for 4 of 9 pairs)", "Image type", "body sites", "Age and sex",
                  "Long tail of 5 conditions", "Train / validation split", "Validation: DermMicro",
                  "Examples from the train split (3)", "r-new"):  # fmt: skip
        assert title in page, title
    for hidden in ("(p4)", "(p5)", "(p6)", "(p7)", "(p8)"):
        assert hidden not in page
    assert render(gather(warehouse)).count("<svg") == 16


def _chromium() -> str | None:
    for name in (os.environ.get("DERM_CHROMIUM", ""), "chromium-headless-shell", "chromium", "chromium-browser",
                 "google-chrome"):  # fmt: skip
        if name and (path := shutil.which(name)):
            return path
    return None


def test_report_reads_well_in_headless_chromium(warehouse, tmp_path: Path) -> None:
    out = Path(write_report(warehouse, tmp_path / "report.html"))
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip: playwright)"
    )
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium on PATH (make report-browser installs Debian's chromium-headless-shell)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(out.resolve().as_uri())
        # the gallery's images load lazily: bring each into view and wait for it, as a reader scrolling would
        for img in tab.query_selector_all("img"):
            img.scroll_into_view_if_needed()
        tab.wait_for_function("() => Array.from(document.querySelectorAll('img')).every(i => i.complete)",
                              timeout=15000)
        tab.evaluate("() => window.scrollTo(0, 0)")
        seen = tab.evaluate("""() => ({
            figures: Array.from(document.querySelectorAll('figure svg')).map(e => {
                const r = e.getBoundingClientRect(); return [r.width, r.height]; }),
            images: Array.from(document.querySelectorAll('img')).map(e => [e.complete, e.naturalWidth]),
            smallest: Math.min(...Array.from(document.querySelectorAll('figure svg text'))
                .filter(t => t.textContent.trim()).map(t => t.getBoundingClientRect().height)
                .filter(h => h > 0)),
        })""")
        tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert len(seen["figures"]) == 16 and all(w > 300 and h > 60 for w, h in seen["figures"]), seen["figures"]
    assert seen["images"] and all(ok and w == 160 for ok, w in seen["images"])
    assert seen["smallest"] >= 10, seen["smallest"]  # px at the default zoom
    assert (tmp_path / "report.png").stat().st_size > 50_000
