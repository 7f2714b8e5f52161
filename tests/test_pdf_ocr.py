"""Scanned PDF pages (pipeline/formats/pdf_ocr.py, pdf_scan.py): OCR with layout, figure regions, per-book
caption rules, and hostile input. The Tesseract test uses one small scanned page (seconds); the rest run on
stand-in words and need no OCR."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from bench.scanned_pdf import compare, scan_pdf
from pipeline.config import PdfCaptionRules, PdfConfig, RunConfig
from pipeline.errors import ItemError
from pipeline.formats import pdf_scan
from pipeline.formats.pdf import extract_pdf_figures
from pipeline.formats.pdf_captions import _label, label_pattern
from pipeline.formats.pdf_ocr import OcrWord, estimate_skew, layout, render_dpi, rotate
from pipeline.vision.burned_text import tesseract_available

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "pdf" / "papulosquamous_handout.pdf"
needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="tesserocr + English model not installed (pip install '.[ocr]')"
)


def _png(w: int, h: int, rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), rgb).save(buf, "PNG")
    return buf.getvalue()


@needs_tesseract
def test_scanned_page_figures_and_captions(tmp_path: Path) -> None:
    """Page 2 of the sample handout (two photos, each captioned below) rasterised at 150 dpi, noisy, turned
    by ~1.5 degrees and JPEG-compressed: both figures found where the text layer has them, captions read."""
    scanned = tmp_path / "scan.pdf"
    scan_pdf(SAMPLE, scanned, dpi=150, seed=3, pages=[2])
    original = extract_pdf_figures(SAMPLE, PdfConfig())
    original.figures = [f for f in original.figures if f.page == 2]
    for f in original.figures:
        f.page = 1
    doc = extract_pdf_figures(scanned, PdfConfig())
    assert doc.ocr_pages == 1 and not doc.rejects
    assert [(f.source, f.label) for f in doc.figures] == [("scan", "Figure 2"), ("scan", "Figure 3")]
    assert doc.figures[0].caption and doc.figures[0].caption.startswith(
        "Atopic dermatitis in the antecubital"
    )
    result = compare(original, doc)
    assert (result["caption_hits"], result["figure_hits"], result["extra_figures"]) == (2, 2, 0), result
    fig = doc.figures[1]
    assert Image.open(io.BytesIO(fig.image_bytes)).size == (fig.width, fig.height)


def test_scanned_page_without_ocr_is_a_reject(tmp_path: Path) -> None:
    scanned = tmp_path / "scan.pdf"
    scan_pdf(SAMPLE, scanned, dpi=72, pages=[1])
    doc = extract_pdf_figures(scanned, PdfConfig(ocr="none"))
    assert doc.figures == [] and doc.ocr_pages == 0
    assert [(loc, reason) for loc, reason, _ in doc.rejects] == [("p1", "pdf_page_not_ocr")]


def _page_image() -> tuple[np.ndarray, list[OcrWord]]:
    """A 100 dpi page: a textured photo (300x200 px) with a caption line under it, a paragraph of body text
    above, and garbage 'words' Tesseract reads off the photo."""
    rng = np.random.default_rng(0)
    rgb = np.full((1100, 850, 3), 250, np.uint8)
    rgb[300:500, 250:550] = rng.integers(90, 200, (200, 300, 3), dtype=np.uint8)
    words = [
        OcrWord(t, (100 + 90 * i, 150, 180 + 90 * i, 165), 92.0, 0, 0)
        for i, t in enumerate(["Psoriasis", "is", "a", "chronic", "disease"])
    ]
    for w in words:  # their ink: strokes over a quarter of the box, as print has
        rgb[w.box[1] : w.box[3], w.box[0] : w.box[2] : 4] = 30
    words += [
        OcrWord("Figure", (250, 512, 310, 528), 90.0, 1, 1),
        OcrWord("1.", (315, 512, 330, 528), 90.0, 1, 1),
        OcrWord("Plaque", (335, 512, 400, 528), 90.0, 1, 1),
        OcrWord("psoriasis.", (405, 512, 500, 528), 90.0, 1, 1),
        OcrWord("iil", (300, 350, 340, 380), 35.0, 2, 2),
        OcrWord("Skin", (400, 400, 450, 420), 75.0, 2, 2),
    ]
    for w in words[5:9]:
        rgb[w.box[1] : w.box[3], w.box[0] : w.box[2] : 4] = 30
    return rgb, words


def test_layout_finds_the_photo_and_caption_block() -> None:
    rgb, words = _page_image()
    scale = 100 / 72
    page = layout(rgb, words, [], scale, min_side_pt=48, min_conf=40)
    assert len(page.photos) == 1 and page.drawings == []
    assert page.photos[0] == pytest.approx((250 / scale, 300 / scale, 550 / scale, 500 / scale), abs=2)
    texts = {b.text: b for b in page.blocks}
    assert "Skin" not in " ".join(texts)  # read off the photo: dropped
    cap = texts["Figure 1. Plaque psoriasis."]
    assert cap.label == "Figure 1" and cap.font == ("ocr", pytest.approx(16 / scale, abs=0.5))


def test_skew_is_found_and_undone() -> None:
    rgb, _ = _page_image()
    gray = rgb[..., 0].copy()
    gray[700:1000:30, 100:750] = 20  # ruled lines: a strong horizontal profile
    turned = rotate(gray, 1.5)
    assert estimate_skew(turned) == pytest.approx(-1.5, abs=0.15)


def test_caption_rules_per_book(tmp_path: Path) -> None:
    """A book captioning "Abb. N" above its figures, with body text in the same words at another size."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 50), "Atlas der Hautkrankheiten, Kapitel 3", fontsize=16)
    page.insert_textbox(
        pymupdf.Rect(72, 74, 520, 94), "Abb. 3.1 Psoriasis vulgaris am Ellenbogen.", fontsize=8
    )
    page.insert_image(pymupdf.Rect(72, 98, 520, 300), stream=_png(200, 90, (200, 90, 90)))
    page.insert_textbox(
        pymupdf.Rect(72, 304, 520, 330), "Abb. 3.2 zeigt die Nagelveraenderungen (Fliesstext).", fontsize=11
    )
    page.insert_image(pymupdf.Rect(72, 340, 520, 540), stream=_png(200, 90, (90, 200, 90)))
    path = tmp_path / "atlas_derm.pdf"
    doc.save(path)
    plain = extract_pdf_figures(path, PdfConfig())
    assert [f.label for f in plain.figures] == [None, None]  # "Abb" is no default keyword
    rules = PdfCaptionRules(keywords=["abb"], font_pt=(7, 9), side="above")
    cfg = PdfConfig(books={"atlas_*.pdf": rules, "other.pdf": PdfCaptionRules(keywords=["plate"])})
    assert cfg.rules_for("Atlas_Derm.pdf") is rules and cfg.rules_for("x.pdf") == PdfCaptionRules()
    stored = (
        tmp_path / "3f9a1c.pdf"
    )  # a downloaded book is stored under its hash: its URL's name still counts
    stored.write_bytes(path.read_bytes())
    assert [f.label for f in extract_pdf_figures(stored, cfg).figures] == [None, None]
    assert [f.label for f in extract_pdf_figures(stored, cfg, ("atlas_derm.pdf",)).figures] == [
        "Abb 3.1",
        None,
    ]
    got = [(f.label, f.caption) for f in extract_pdf_figures(path, cfg).figures]
    assert got == [
        ("Abb 3.1", "Psoriasis vulgaris am Ellenbogen."),
        (None, None),
    ]  # the 11 pt line is body text


def test_label_patterns() -> None:
    assert _label("Figure 3.2 Acne on the back") == ("Figure 3.2", "Acne on the back")
    assert _label("FIGS. 4 Lichen") == ("Figure 4", "Lichen")
    assert _label("Plate IV: Rosacea") == ("Plate IV", "Rosacea")
    plate_only = label_pattern(["plate"])
    assert _label("Figure 2 Tinea", plate_only) is None and _label("Plates 7 x", plate_only) == (
        "Plate 7",
        "x",
    )


def test_hostile_pdfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image declared 0 x 0 (MuPDF raises on it), a 200-inch page scanned whole, a 200-inch page with a
    text layer and an image over it: page rejects with reasons, never an exception or a giant render."""
    doc = pymupdf.open()
    p1 = doc.new_page(width=595, height=842)
    xref = p1.insert_image(pymupdf.Rect(50, 50, 545, 800), stream=_png(100, 100, (200, 50, 50)))
    doc.xref_set_key(xref, "Width", "0")
    doc.xref_set_key(xref, "Height", "0")
    p2 = doc.new_page(width=14400, height=14400)
    p2.insert_image(p2.rect, stream=_png(100, 100, (20, 50, 200)))
    p3 = doc.new_page(width=14400, height=14400)
    p3.insert_text((50, 50), "A huge page with a text layer of more than twenty characters.", fontsize=11)
    p3.insert_image(pymupdf.Rect(0, 100, 14400, 14400), stream=_png(100, 100, (20, 200, 20)))
    path = tmp_path / "hostile.pdf"
    doc.save(path)

    class Reader:  # the pages are rejected before any reading: no Tesseract needed
        name, version = "stub", "stub"

        def read(self, gray: np.ndarray) -> tuple[list[OcrWord], list[tuple[int, int, int, int]]]:
            raise AssertionError("a page too large to render was read")

    monkeypatch.setattr(pdf_scan, "make_page_reader", lambda mode: Reader())
    got = extract_pdf_figures(path, PdfConfig())
    assert got.figures == []
    assert [(loc, reason) for loc, reason, _ in got.rejects] == [
        ("p1/x5", "pdf_image_empty"),
        ("p2", "pdf_page_too_large"),
        ("p3", "pdf_page_too_large"),
    ]
    assert render_dpi(14400, 14400, 200, PdfConfig().max_page_pixels) < 50
    with pytest.raises(ItemError) as err:
        extract_pdf_figures(path, PdfConfig(max_pages=2))
    assert err.value.reason == "pdf_too_many_pages"


def test_pdf_unit_fingerprint_reads_ocr_settings() -> None:
    from pipeline.preprocess.stage import PreprocessStage

    def pdf_hash(**pdf: object) -> str:
        cfg = RunConfig.model_validate({"preprocess": {"pdf": pdf}})
        return PreprocessStage(cfg).kind_hashes()["pdf"]

    base = pdf_hash()
    assert pdf_hash(ocr="none") != base and pdf_hash(ocr_dpi=200) != base
    assert pdf_hash(books={"fitz*.pdf": {"keywords": ["fig"]}}) != base
    assert "pdf_ocr@1" in PreprocessStage(RunConfig()).unit_kinds()["pdf"].steps


def test_textbook_pdfs_default_to_proprietary() -> None:
    """A textbook's licence is `proprietary` (the private release only) unless a licence is stated: also when
    the URL list's licence text names none, as configs/derm1m.yaml's "per-document (see the source page)"."""
    from pipeline.train.release import admits, provenance

    for text in (None, "per-document (see the source page)", "unknown"):
        assert provenance({"item_kind": "pdf", "collected_licence": text})["licence"] == "proprietary"
    assert provenance({"item_kind": "pdf", "collected_licence": "CC BY 4.0"})["licence"] == "CC-BY-4.0"
    assert not admits("research", "proprietary") and admits("private", "proprietary")


def test_pdf_unit_rows_and_rejects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preprocess pdf unit on a two-page scan: with a stand-in page reader, each photo becomes a
    `pdf_figure` ref at `p<page>/s<n>` with its caption; without OCR the pages are rejects, never a crash."""
    from pipeline.preprocess.stage import PreprocessStage
    from pipeline.stage import WorkUnit

    scanned = tmp_path / "scan.pdf"
    scan_pdf(SAMPLE, scanned, dpi=72, pages=[1])
    rgb, words = _page_image()

    class Reader:  # the page image is replaced by the synthetic one, whose words are known
        name, version = "stub", "stub-1"

        def read(self, gray: np.ndarray) -> tuple[list[OcrWord], list[tuple[int, int, int, int]]]:
            return words, []

    def fake_layout(_rgb: np.ndarray, *args: object, **kwargs: object) -> object:
        return layout(rgb, words, [], 100 / 72, 48, 40.0)

    monkeypatch.setattr(pdf_scan, "make_page_reader", lambda mode: None if mode == "none" else Reader())
    monkeypatch.setattr(pdf_scan, "layout", fake_layout)
    item = {
        "item_id": "pdf:scan",
        "kind": "pdf",
        "source": "local_pdfs",
        "path": str(scanned),
        "sha256": "x",
        "title": None,
        "meta": {},
    }
    stage = PreprocessStage(RunConfig(data_dir=tmp_path / "data"))
    res = stage.process(WorkUnit("pdf:scan", "fp", item))
    refs = res.rows["preprocess_image_refs"]
    assert [(r["locator"], r["label"], r["text"]) for r in refs] == [
        ("p1/s0", "Figure 1", "Plaque psoriasis.")
    ]
    assert res.rejects == [] and "ocr_pages" in res.rows["preprocess_items"][0]["meta"]
    off = PreprocessStage(
        RunConfig.model_validate({"data_dir": str(tmp_path / "data"), "preprocess": {"pdf": {"ocr": "none"}}})
    )
    res = off.process(WorkUnit("pdf:scan", "fp", item))
    assert [(r.item_id, r.reason) for r in res.rejects] == [
        ("pdf:scan#p1", "pdf_page_not_ocr"),
        ("pdf:scan", "no_figures"),
    ]


def test_ocr_label_repairs_and_figure_growth() -> None:
    """OCR's misread label numbers are repaired, a dropped one restored from its neighbours, and a diagram
    the scan shows as several regions comes out as one figure under its caption."""
    from pipeline.formats.pdf_captions import _Block
    from pipeline.formats.pdf_ocr import _fix_label
    from pipeline.formats.pdf_scan import _grow, number_labels

    assert (
        _fix_label("Figure Si Query") == "Figure S1 Query"
        and _fix_label("Scheme $1 Synthesis") == "Scheme S1 Synthesis"
    )
    assert _fix_label("Plate I Rosacea") == "Plate I Rosacea"  # a roman numeral stays
    blocks = [
        _Block((0, 0, 1, 1), t, _label(t)[0] if _label(t) else None, False, ("ocr", 8.0))
        for t in ("Figure 2 Acne.", "Figure Interaction energies.", "Figure 4 Tinea.", "Figure Overview.")
    ]
    number_labels([[blocks[3]], blocks[:3]])
    assert [b.label for b in blocks] == ["Figure 2", "Figure 3", "Figure 4", "Figure 1"]
    assert blocks[1].text == "Figure 3 Interaction energies."
    caption = _Block((180, 600, 570, 620), "Figure 2 Overview.", "Figure 2", False, ("ocr", 9.0))
    other = _Block((50, 100, 150, 110), "Figure 3 x", "Figure 3", False, ("ocr", 9.0))
    loose = [
        (190, 400, 360, 580),
        (400, 300, 560, 380),
        (185, 230, 365, 390),
        (30, 200, 120, 560),
        (190, 640, 300, 700),
    ]
    grown, taken = _grow([((195, 420, 360, 590), caption), ((40, 40, 160, 95), other)], loose)
    assert grown[0] == ((185, 230, 560, 590), caption) and taken == {
        0,
        1,
        2,
    }  # not the far left one, nor below
    assert grown[1] == ((40, 40, 160, 95), other)


def test_scan_with_an_invisible_text_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scanner's page image with its own OCR layer (invisible text): the layer's words are used, Tesseract
    is not run, and the photo on the page image is the figure, captioned from the layer."""
    rgb, words = _page_image()
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)  # the 850x1100 px image at 100 dpi
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    page.insert_image(page.rect, stream=buf.getvalue())
    s = 100 / 72
    page.insert_text((100 / s, 165 / s), "Psoriasis is a chronic disease", fontsize=10, render_mode=3)
    page.insert_text((250 / s, 528 / s), "Figure 1. Plaque psoriasis.", fontsize=10, render_mode=3)
    path = tmp_path / "layered.pdf"
    doc.save(path)

    def no_reader(mode: str) -> None:
        raise AssertionError("Tesseract was asked to read a page that has a text layer")

    monkeypatch.setattr(pdf_scan, "make_page_reader", no_reader)
    got = extract_pdf_figures(path, PdfConfig())
    assert got.ocr_pages == 1
    assert [(f.source, f.label, f.caption) for f in got.figures] == [
        ("scan", "Figure 1", "Plaque psoriasis.")
    ]
    assert got.figures[0].bbox == pytest.approx((250 / s, 300 / s, 550 / s, 500 / s), abs=3)
