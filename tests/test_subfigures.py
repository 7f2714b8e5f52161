"""Compound figures: gutter panel detection, subcaption splitting, alignment, and the preprocess/pair wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_fixture
from PIL import Image

from pipeline.config import RunConfig
from pipeline.preprocess.subcaptions import align, split_caption
from pipeline.preprocess.subfigures import (
    GutterPanelDetector,
    Panel,
    PanelDetector,
    figure_panels,
    reading_order,
)
from pipeline.stage import WorkUnit

REPO = Path(__file__).resolve().parents[1]
SAMPLE_GRID = REPO / "samples" / "jats" / "PMC9000003_f3.jpg"


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured mid-grey 'photo' (never near white or black)."""
    base = rng.integers(60, 200, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR), np.int16)
    return np.clip(img + rng.integers(-12, 12, (h, w, 3)), 30, 220).astype(np.uint8)


def _close(got: list[tuple[int, int, int, int]], want: list[tuple[int, int, int, int]], tol: int = 2) -> bool:
    return len(got) == len(want) and all(abs(a - b) <= tol for g, w in zip(got, want, strict=True)
                                         for a, b in zip(g, w, strict=True))


def _canvas(h: int, w: int, boxes: list[tuple[int, int, int, int]], bg: int = 255, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), bg, np.uint8)
    for x0, y0, x1, y1 in boxes:
        img[y0:y1, x0:x1] = _photo(rng, y1 - y0, x1 - x0)
    return img


GRID = [(10, 10, 300, 230), (312, 10, 600, 230), (10, 242, 300, 470), (312, 242, 600, 470)]


@pytest.mark.parametrize("bg", [255, 0])
def test_grid_with_white_or_black_gutters(bg: int) -> None:
    panels = GutterPanelDetector().detect(_canvas(480, 610, GRID, bg))
    assert [p.index for p in panels] == [0, 1, 2, 3]
    for panel, want in zip(panels, GRID, strict=True):  # reading order a b / c d, boxes trimmed to content
        assert panel.bbox == pytest.approx(want, abs=2)


def test_nested_layouts() -> None:
    boxes = [(0, 0, 500, 180), (0, 190, 240, 400), (250, 190, 500, 400)]  # one wide panel over two
    panels = GutterPanelDetector().detect(_canvas(400, 500, boxes))
    assert _close([p.bbox for p in panels], boxes)
    # two stacked on the left, one full-height on the right: a, b down the left column, then c
    columns_first = [(0, 0, 240, 200), (0, 210, 240, 400), (250, 0, 500, 400)]
    got = [p.bbox for p in GutterPanelDetector().detect(_canvas(400, 500, columns_first))]
    assert _close(got, columns_first)


@pytest.mark.parametrize("kind", ["photo", "smooth_skin", "dark_vignette"])
def test_single_images_are_not_compound(kind: str) -> None:
    rng = np.random.default_rng(1)
    if kind == "photo":
        img = _photo(rng, 300, 400)
    elif kind == "smooth_skin":  # near-uniform rows of skin colour are not gutters
        img = np.broadcast_to(np.array([214, 160, 130], np.uint8), (300, 400, 3)).copy()
        img[100:180, 150:260] = (150, 80, 70)
    else:  # dermoscopy: black field of view around a round lesion image
        img = np.zeros((300, 400, 3), np.uint8)
        yy, xx = np.mgrid[:300, :400]
        inside = (yy - 150) ** 2 + (xx - 200) ** 2 < 130 ** 2
        img[inside] = _photo(rng, 300, 400)[inside]
    assert len(GutterPanelDetector().detect(img)) == 1
    assert figure_panels(img, "(a) one. (b) two.", GutterPanelDetector()) == []


def test_small_pieces_merge_with_their_neighbour() -> None:
    img = _canvas(400, 500, [(0, 0, 500, 360)])
    img[372:392, 20:120] = 0  # a line of 'text' under the image: not a panel
    assert len(GutterPanelDetector().detect(img)) == 1


def test_reading_order_of_a_grid() -> None:
    shuffled = [GRID[3], GRID[0], GRID[2], GRID[1]]
    assert reading_order(shuffled) == GRID


@pytest.mark.parametrize(("caption", "style", "keys", "first"), [
    ("Bullous pemphigoid. (a) Tense bullae on the thigh. (b) Healed erosions.", "letters", ["a", "b"],
     "Bullous pemphigoid. Tense bullae on the thigh."),
    ("Goat skin. A. Photograph of a white goat. B. H&E section. C. Hair follicles.", "letters", ["a", "b", "c"],
     "Goat skin. Photograph of a white goat."),
    ("Clinical features. (A-C) Plaques on the trunk. (D) Dermoscopy.", "letters", ["a", "b", "c", "d"],
     "Clinical features. Plaques on the trunk."),
    ("Histology. A, B: Low power view. C: High power.", "letters", ["a", "b", "c"], "Histology. Low power view."),
    ("Erythematous plaques (a) and fine scale (b) on the elbow.", "letters", ["a", "b"],
     "Erythematous plaques on the elbow."),
    ("Schematic of holin (A) model 1 and (B) model 2.", "letters", ["a", "b"], "Schematic of holin model 1"),
    ("Before (left) and after (right) treatment.", "positions", ["left", "right"], "Before treatment."),
    ("Top: clinical photograph. Bottom: dermoscopy of the same lesion.", "positions", ["top", "bottom"],
     "clinical photograph."),
    ("TEM images: (a) bright field; (b) HRTEM of the area marked in (a); (c) diffraction.", "letters",
     ["a", "b", "c"], "TEM images: bright field"),  # "in (a)" is a reference, not a new panel
    ("(a)–(d) Phenotype of the child at 62 days.", "letters", ["a", "b", "c", "d"],
     "Phenotype of the child at 62 days."),
    ("Structure of compound 33RE. J. Smith et al. reported B. cereus.", "none", [], ""),
    ("Figure shows a plaque (arrow).", "none", [], ""),
    ("Osteotomy levels (collum (C), partial collum (PC)).", "none", [], ""),  # a lone (C) is an abbreviation
])
def test_split_caption(caption: str, style: str, keys: list[str], first: str) -> None:
    split = split_caption(caption)
    assert split.style == style and split.keys == keys
    if keys:
        assert split.text_for(keys[0]) == first


def test_align_needs_matching_counts_and_layout() -> None:
    side_by_side, stacked = [(0, 0, 10, 10), (12, 0, 22, 10)], [(0, 0, 10, 10), (0, 12, 10, 22)]
    two = "Title. (a) First. (b) Second."
    assert [(t.key, t.scope) for t in align(two, side_by_side)] == [("a", "panel"), ("b", "panel")]
    three = align(two, [*side_by_side, (24, 0, 34, 10)])  # 3 panels, 2 subcaptions: whole caption for each
    assert [(t.key, t.scope, t.text) for t in three] == [(None, "whole", two)] * 3
    lr = "Before (left) and after (right) treatment."
    assert [t.scope for t in align(lr, side_by_side)] == ["panel", "panel"]
    assert [t.scope for t in align(lr, stacked)] == ["whole", "whole"]  # left/right on stacked panels
    assert [t.scope for t in align("No markers here.", side_by_side)] == ["whole", "whole"]


class _FixedDetector(PanelDetector):
    """What a learned detector (Grounding DINO, YOLO) plugs in as."""

    name = "fixed"

    def detect(self, rgb: np.ndarray) -> list[Panel]:
        h, w = rgb.shape[:2]
        return [Panel(0, (0, 0, w // 2, h)), Panel(1, (w // 2, 0, w, h)), Panel(2, (0, 0, 20, 20))]


def test_detector_interface_and_small_panels() -> None:
    img = _photo(np.random.default_rng(3), 200, 400)
    out = figure_panels(img, "(a) Left lesion. (b) Right lesion. (c) Tiny.", _FixedDetector(), min_side=64)
    assert [(fp.panel.index, fp.scope) for fp in out] == [(0, "whole"), (1, "whole")]  # the 20 px one dropped
    assert out[0].rgb.shape == (200, 200, 3)


@pytest.mark.skipif(not SAMPLE_GRID.exists(), reason=f"sample compound figure {SAMPLE_GRID} missing")
def test_sample_grid_figure() -> None:
    rgb = np.asarray(Image.open(SAMPLE_GRID).convert("RGB"))
    caption = ("Course of tinea incognito. (a) Ill-defined plaque with pustules at presentation. (b) Annular "
               "scaly border. (c) KOH preparation. (d) Cleared skin.")
    out = figure_panels(rgb, caption, GutterPanelDetector())
    assert [(fp.key, fp.scope) for fp in out] == [(k, "panel") for k in "abcd"]
    assert out[2].text == "Course of tinea incognito. KOH preparation."
    assert all(fp.rgb.shape[0] >= 230 and fp.rgb.shape[1] >= 310 for fp in out)  # 320x240 tiles
    assert sum(fp.panel.has_label for fp in out) >= 3  # the white letter boxes in the corners


def test_preprocess_stage_stores_panels(tmp_path: Path) -> None:
    from pipeline.preprocess.stage import PreprocessStage

    xml = REPO / "samples" / "jats" / "PMC9000003.xml"
    cfg = RunConfig(data_dir=tmp_path / "data")
    stage = PreprocessStage(cfg)
    item = {"item_id": "pmc:PMC9000003", "kind": "article", "source": "jats", "path": str(xml), "sha256": "x",
            "title": None, "meta": {}}
    res = stage.process(WorkUnit(item["item_id"], "fp", item))
    subs = res.rows["preprocess_subfigures"]
    assert [(s["panel_index"], s["panel_key"], s["caption_scope"]) for s in subs] == [
        (i, k, "panel") for i, k in enumerate("abcd")]
    assert {s["parent_ref_id"] for s in subs} == {"pmc:PMC9000003#f3"}
    refs = {r["ref_id"]: r for r in res.rows["preprocess_image_refs"]}
    assert refs["pmc:PMC9000003#f3/p1"]["text"].startswith("Course of tinea incognito. Annular scaly border")
    assert refs["pmc:PMC9000003#f3/p1"]["kind"] == "jats_figure"
    assert "#f1/p0" not in " ".join(refs)  # single photographs are not split
    images = {i["image_id"] for i in res.rows["preprocess_images"]}
    assert {s["image_id"] for s in subs} <= images and len({s["image_id"] for s in subs}) == 4
    off = PreprocessStage(RunConfig(data_dir=tmp_path / "data", preprocess={"subfigures": {"enabled": False}}))
    assert "preprocess_subfigures" not in off.process(WorkUnit(item["item_id"], "fp", item)).rows


def test_migration_tables(con) -> None:
    cols = {r[0] for r in con.execute("DESCRIBE preprocess_subfigures").fetchall()}
    assert {"ref_id", "parent_image_id", "panel_index", "x0", "y1", "caption_scope", "detector", "key_source"} <= cols
    pair_cols = {r[0] for r in con.execute("DESCRIBE pair_image_texts").fetchall()}
    assert {"caption_scope", "parent_image_id"} <= pair_cols


def test_real_pmc_captions() -> None:
    """ROCO's real PMC captions (read in place): most with "(a)"/"(b)" markers split, every split is sane."""
    path = require_fixture("captions", "roco_train", "captions.txt")
    caps = [line.split("\t", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    marked = [c for c in caps if "(a)" in c.lower() and "(b)" in c.lower()]
    splits = [split_caption(c) for c in marked]
    assert len(marked) > 100 and sum(s.style == "letters" for s in splits) >= 0.85 * len(marked)
    for s in splits:
        if s.style == "letters":
            assert s.keys[0] == "a" and all(s.text_for(k) for k in s.keys)
    iso = split_caption(next(c for c in caps if c.startswith("Macroscopic and microscopic appearance of the isol")))
    assert iso.keys == ["a", "b"] and iso.shared == "Macroscopic and microscopic appearance of the isolate."


def test_align_follows_read_letters_only_when_all_agree() -> None:
    """Letters read on the panels reorder lettered subcaptions (a column-major grid); a missing or
    repeated letter falls back to reading order, never to a half-read assignment."""
    grid = [(0, 0, 10, 10), (12, 0, 22, 10), (0, 12, 10, 22), (12, 12, 22, 22)]
    caption = "Four views. (A) One. (B) Two. (C) Three. (D) Four."
    by_letter = align(caption, grid, ["a", "c", "b", "d"])
    assert [(t.key, t.key_source) for t in by_letter] == [(k, "letter_read") for k in "acbd"]
    assert by_letter[1].text == "Four views. Three."
    for letters in (["a", "c", None, "d"], ["a", "c", "c", "d"], ["a", "c", "b", "e"]):
        assert [(t.key, t.key_source) for t in align(caption, grid, letters)] == [
            (k, "reading_order") for k in "abcd"]


def _lettered_grid(letters: str) -> np.ndarray:
    """The GRID canvas with a white label box and a black letter in each panel's top-left corner."""
    from PIL import ImageDraw, ImageFont

    img = Image.fromarray(_canvas(480, 610, GRID, seed=4))
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=34)
    for (x0, y0, _, _), letter in zip(GRID, letters, strict=True):
        draw.rectangle((x0 + 4, y0 + 4, x0 + 44, y0 + 48), fill="white")
        draw.text((x0 + 12, y0 + 6), letter, fill="black", font=font)
    return np.asarray(img)


def test_tesseract_reads_panel_letters() -> None:
    """With Tesseract, the sample grid's letter boxes are read, and a column-major grid (A and B down the
    left, C and D down the right) gets its subcaptions by letter, not row by row."""
    from pipeline.preprocess.panel_letters import TesseractLetterReader, tesseract_available

    if not tesseract_available():
        pytest.skip("tesserocr or Tesseract's English model missing (pip install '.[ocr]'; make ocr)")
    reader = TesseractLetterReader()
    if SAMPLE_GRID.exists():
        rgb = np.asarray(Image.open(SAMPLE_GRID).convert("RGB"))
        caption = "Course. (a) Plaque. (b) Border. (c) KOH preparation. (d) Cleared skin."
        out = figure_panels(rgb, caption, GutterPanelDetector(), reader=reader)
        assert [(fp.key, fp.key_source) for fp in out] == [(k, "letter_read") for k in "abcd"]
    caption = "Tinea. (A) Plaque. (B) Scale. (C) Microscopy. (D) Culture."
    out = figure_panels(_lettered_grid("ACBD"), caption, GutterPanelDetector(), reader=reader)
    assert [(fp.key, fp.key_source) for fp in out] == [(k, "letter_read") for k in "acbd"]
    assert out[1].text == "Tinea. Microscopy."  # the top-right panel is C
