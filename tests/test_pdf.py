"""PDF figure + caption extraction: real open-access journal PDFs (read in place) and synthetic layouts."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from pipeline.config import PdfConfig
from pipeline.errors import ItemError
from pipeline.formats.pdf import PdfDocument, extract_pdf_figures

_DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
FIXTURES = Path(os.environ.get("DERM_FIXTURES", str(_DEFAULT)))
PDF_DIR = FIXTURES / "pdf"
AES_256: int = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]  # missing from the type stubs
needs_fixtures = pytest.mark.skipif(not PDF_DIR.is_dir(), reason=f"real PDF fixtures not found at {PDF_DIR}")

# Pinned by reading the page text and get_image_info() of each file: (page, label) -> caption start.
EXPECTED = {
    # its only figure is vector art (a flowchart in the left column, framed together with its caption)
    "example2.pdf": {(7, "Figure 1"): "Patient flow pattern at the medical department, June 2010."},
    "example3.pdf": {
        (2, "Figure 1"): "Structure of compound 33RE",
        (5, "Figure 2"): "Fragment suggested to have complementary",  # a 46 pt strip: kept as it is captioned
        (5, "Figure 3"): "Interaction energies for all of the amino acids in the binding site",
        # "33RE-\nbinding" keeps its hyphen (upper case before it), "afﬁnity" loses the ligature
        (5, "Figure 4"): "Logarithmic scale comparison of the relative 33RE-binding affinity",
        (6, "Figure 5"): "Crystal structure of N-domain ACE in complex with compound 33RE",  # "com-\npound"
        (6, "Figure 6"): "Binding of compound 33RE to N-domain ACE (A) Residues",
        (7, "Figure 7"): "Comparison of the binding of compounds 33RE and RXP407 with N-domain ACE",
        (12, "Figure S1"): "Query fragment that was used to define the region",
        (12, "Scheme S1"): "Synthetic protocol for compound 33RE",
        (13, "Figure S2"): "GRID molecular interaction fields that are computed",
    },
    "test6.pdf": {
        (4, "Figure 1"): "Overview of the 5 Phases implemented in VESPA.",
        (5, "Figure 2"): "Overview of the options available in the VESPA package.",
    },
}
# Captioned figures a reader finds in each file. example2: 1 vector figure; example3: Figures 1-7, S1, S2 and
# Scheme S1 (Figure 2's image is 46 pt tall, under the 48 minimum, kept because captioned); test6: Figures 1-2
# (p6 holds only the continued caption of Figure 2, in a shaded box, which must not become a figure).
CAPTIONED_IN_TEXT = {"example2.pdf": 1, "example3.pdf": 10, "test6.pdf": 2}
TITLES = {
    "example2.pdf": "Understanding the barriers to setting up a healthcare quality improvement process",
    "example3.pdf": "Fragment-based design for the development of N-domain-selective",
    "test6.pdf": "VESPA: Very large-scale Evolutionary and Selective Pressure Analyses",
}


def _check_images(doc: PdfDocument, cfg: PdfConfig) -> None:
    for fig in doc.figures:
        img = Image.open(io.BytesIO(fig.image_bytes))
        img.load()
        assert img.size == (fig.width, fig.height) and fig.ext in ("png", "jpeg", "pnm")
        assert img.mode in ("L", "RGB", "RGBA", "1", "P")
        assert min(fig.width, fig.height) >= cfg.min_image_side_px


@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_pdf(name: str) -> None:
    cfg = PdfConfig()
    doc = extract_pdf_figures(PDF_DIR / name, cfg)
    _check_images(doc, cfg)
    assert doc.title and doc.title.startswith(TITLES[name])
    got = {(f.page, f.label): f.caption or "" for f in doc.figures if f.caption}
    assert set(got) == set(EXPECTED[name])
    for key, start in EXPECTED[name].items():
        assert got[key].startswith(start), (key, got[key][:120])
        assert not got[key].lower().startswith(("fig", "scheme"))  # the label is stripped off the caption
    assert len(got) == len([f for f in doc.figures if f.caption])  # one figure per caption
    assert len(got) == CAPTIONED_IN_TEXT[name]  # every captioned figure a reader sees, each with its own caption
    vector = [f for f in doc.figures if f.source == "vector"]
    assert [(f.page, f.label) for f in vector] == ([(7, "Figure 1")] if name == "example2.pdf" else [])
    for f in vector:  # the left-column flowchart without its caption, rendered at 150 dpi
        assert f.bbox[2] < 300 and f.bbox[3] < 244 and f.width > 400
    uncaptioned = {f.page for f in doc.figures if not f.caption}
    assert uncaptioned <= {4}  # only example3's Table 3 structure images have no figure caption
    assert all(f.label is None for f in doc.figures if not f.caption)
    print(f"{name}: {len(got)}/{CAPTIONED_IN_TEXT[name]} captioned figures found, "
          f"{len(doc.figures)} images kept")


def _png(w: int, h: int, seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return buf.getvalue()


def _cmyk_jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("CMYK", (w, h), (0, 120, 200, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _synthetic(path: Path) -> None:
    doc = pymupdf.open()
    p1 = doc.new_page(width=595, height=842)
    p1.insert_text((72, 80), "Atlas of Skin Disease", fontsize=22)
    p1.insert_text((72, 110), "A synthetic chapter used in tests", fontsize=11)
    p1.insert_image(pymupdf.Rect(72, 130, 102, 160), stream=_png(30, 30, 1))  # too small: skipped
    p1.insert_textbox(pymupdf.Rect(72, 200, 520, 240), "Figure 3: Vitiligo with depig-\nmented patches.",
                      fontsize=10)  # caption above its image
    p1.insert_image(pymupdf.Rect(72, 250, 520, 450), stream=_cmyk_jpeg(300, 140))
    p2 = doc.new_page(width=595, height=842)  # two columns, captions at the same height in both
    p2.insert_image(pymupdf.Rect(50, 100, 280, 300), stream=_png(200, 160, 2))
    p2.insert_image(pymupdf.Rect(315, 100, 545, 300), stream=_png(180, 150, 3))
    p2.insert_textbox(pymupdf.Rect(50, 310, 280, 380), "Figure 1. Psoriasis vulgaris: well-demarcated "
                      "plaques with silvery scale.", fontsize=9)
    p2.insert_textbox(pymupdf.Rect(315, 310, 545, 380), "Fig. 2: Tinea corporis with an annular scaly "
                      "border.", fontsize=9)
    p2.insert_textbox(pymupdf.Rect(50, 390, 545, 440), "Figure 1 shows the plaques; body text, not a "
                      "caption.", fontsize=9)
    p3 = doc.new_page(width=595, height=842)  # one full-width image, caption far below (fallback)
    p3.insert_image(pymupdf.Rect(50, 60, 545, 400), stream=_png(250, 170, 4))
    p3.insert_textbox(pymupdf.Rect(50, 600, 545, 650), "Figure 4 Acne vulgaris, face.", fontsize=9)
    p4 = doc.new_page(width=595, height=842)  # two images, one distant caption: ambiguous -> none
    p4.insert_image(pymupdf.Rect(50, 60, 280, 300), stream=_png(100, 100, 5))
    p4.insert_image(pymupdf.Rect(315, 60, 545, 300), stream=_png(100, 100, 6))
    p4.insert_textbox(pymupdf.Rect(50, 600, 545, 650), "Figure 5 Urticaria.", fontsize=9)
    doc.save(path)


def test_synthetic_layouts(tmp_path: Path) -> None:
    path = tmp_path / "atlas.pdf"
    _synthetic(path)
    cfg = PdfConfig()
    doc = extract_pdf_figures(path, cfg)
    _check_images(doc, cfg)
    assert doc.page_count == 4 and doc.title == "Atlas of Skin Disease"
    got = [(f.page, f.index, f.label, f.caption) for f in doc.figures]
    assert got == [
        (1, 1, "Figure 3", "Vitiligo with depigmented patches."),
        (2, 0, "Figure 1", "Psoriasis vulgaris: well-demarcated plaques with silvery scale."),
        (2, 1, "Figure 2", "Tinea corporis with an annular scaly border."),
        (3, 0, "Figure 4", "Acne vulgaris, face."),
        (4, 0, None, None),
        (4, 1, None, None),
    ]
    cmyk = doc.figures[0]
    assert cmyk.ext == "pnm" and Image.open(io.BytesIO(cmyk.image_bytes)).mode == "RGB"
    assert (cmyk.width, cmyk.height) == (300, 140)
    left = doc.figures[1]
    assert left.bbox == pytest.approx((50, 108, 280, 292), abs=1)  # aspect kept inside the 230x200 rect
    assert Image.open(io.BytesIO(left.image_bytes)).size == (200, 160)


def _vector_and_fonts(path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((50, 50), "Referral pathways in a dermatology clinic", fontsize=18)
    for r in [(60, 80, 150, 120), (170, 80, 270, 120), (100, 150, 230, 200)]:  # left column: a flowchart
        page.draw_rect(pymupdf.Rect(r), color=(0, 0, 0), width=1)
    page.draw_line((105, 120), (160, 150))
    page.draw_line((220, 120), (170, 150))
    page.insert_textbox(pymupdf.Rect(65, 90, 150, 115), "GP referral", fontsize=8)
    page.insert_textbox(pymupdf.Rect(60, 210, 280, 240), "Figure 6. Referral pathway to the clinic.",
                        fontsize=9, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(320, 60, 540, 76), "Table 1. Doses of topical steroids.", fontsize=9,
                        fontname="hebo")
    for y in range(80, 201, 20):  # right column: a ruled table, captioned as a table
        page.draw_line((320, y), (540, y))
    for x in (320, 430, 540):
        page.draw_line((x, 80), (x, 200))
    page.insert_image(pymupdf.Rect(320, 300, 540, 450), stream=_png(220, 150, 7))
    page.insert_textbox(pymupdf.Rect(320, 455, 540, 475), "Figure 8 shows pitting; body text.", fontsize=9)
    page.insert_textbox(pymupdf.Rect(320, 480, 540, 510), "Figure 7. Nail pitting in psoriasis.", fontsize=9,
                        fontname="hebo")
    doc.save(path)


def test_vector_figure_and_caption_font(tmp_path: Path) -> None:
    path = tmp_path / "clinic.pdf"
    _vector_and_fonts(path)
    doc = extract_pdf_figures(path, PdfConfig())
    got = [(f.source, f.label, f.caption) for f in doc.figures]
    assert got == [("image", "Figure 7", "Nail pitting in psoriasis."),  # not the body-font "Figure 8 shows"
                   ("vector", "Figure 6", "Referral pathway to the clinic.")]  # the table stays out
    vec = doc.figures[1]
    assert vec.bbox == pytest.approx((60, 80, 270, 200), abs=2) and vec.width > 400
    assert Image.open(io.BytesIO(vec.image_bytes)).size == (vec.width, vec.height)
    off = extract_pdf_figures(path, PdfConfig(vector_figures=False))
    assert [f.source for f in off.figures] == ["image"]


def test_caption_side_is_learned_per_document(tmp_path: Path) -> None:
    """A handout that captions above: the block right below a figure is the next figure's caption."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 50), "Handout: inflammatory dermatoses", fontsize=16)
    for n, y in enumerate((80, 330, 580)):
        page.insert_textbox(pymupdf.Rect(72, y - 6, 520, y + 14), f"Figure {n + 1}: Lesion {n + 1}.", fontsize=9)
        page.insert_image(pymupdf.Rect(72, y + 18, 520, y + 220), stream=_png(200, 90, 10 + n))
    path = tmp_path / "handout.pdf"
    doc.save(path)
    got = [(f.label, f.caption) for f in extract_pdf_figures(path, PdfConfig()).figures]
    assert got == [(f"Figure {n}", f"Lesion {n}.") for n in (1, 2, 3)]


def test_min_size_config(tmp_path: Path) -> None:
    path = tmp_path / "atlas.pdf"
    _synthetic(path)
    doc = extract_pdf_figures(path, PdfConfig(min_image_side_px=20))
    small = [f for f in doc.figures if f.page == 1 and f.index == 0]
    assert len(small) == 1 and small[0].width == 30


def test_broken_pdf(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + os.urandom(2000) + b"\n%%EOF garbage")
    with pytest.raises(ItemError) as err:
        extract_pdf_figures(bad, PdfConfig())
    assert err.value.reason == "broken_pdf"
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(ItemError) as err:
        extract_pdf_figures(empty, PdfConfig())
    assert err.value.reason == "broken_pdf"


def test_encrypted_pdf(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(pymupdf.Rect(50, 50, 250, 250), stream=_png(100, 100))
    locked, owner_only = tmp_path / "locked.pdf", tmp_path / "owner_only.pdf"
    doc.save(locked, encryption=AES_256, user_pw="x", owner_pw="y")
    doc.save(owner_only, encryption=AES_256, user_pw="", owner_pw="y")
    with pytest.raises(ItemError) as err:
        extract_pdf_figures(locked, PdfConfig())
    assert err.value.reason == "encrypted_pdf"
    opened = extract_pdf_figures(owner_only, PdfConfig())  # empty user password: readable
    assert len(opened.figures) == 1


def _jpeg(w: int, h: int, seed: int) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(_png(w, h, seed))).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_look_alike_images_keep_their_own_pixels(tmp_path: Path) -> None:
    """Placements are matched to their image by where the image is drawn, not by decoding and hashing: two
    different images of one size on a page each come back as themselves, at native resolution (a JPEG as
    its own bytes, a Flate image decoded), and an image drawn twice still gives both figures."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    flate_a, flate_b, jpeg = _png(160, 120, 11), _png(160, 120, 12), _jpeg(160, 120, 13)
    for y, data, label in [(60, flate_a, 1), (300, flate_b, 2), (540, jpeg, 3)]:
        page.insert_image(pymupdf.Rect(60, y, 300, y + 180), stream=data)
        page.insert_textbox(pymupdf.Rect(60, y + 185, 300, y + 205), f"Figure {label}. Plaque {label}.", fontsize=9)
    page = doc.new_page(width=595, height=842)
    xref = page.insert_image(pymupdf.Rect(60, 60, 300, 240), stream=flate_a)
    page.insert_image(pymupdf.Rect(60, 400, 300, 580), xref=xref)
    page.insert_textbox(pymupdf.Rect(60, 245, 300, 265), "Figure 4. The same plaque.", fontsize=9)
    page.insert_textbox(pymupdf.Rect(60, 585, 300, 605), "Figure 5. The same plaque again.", fontsize=9)
    path = tmp_path / "lookalike.pdf"
    doc.save(path)

    got = extract_pdf_figures(path, PdfConfig()).figures
    assert [(f.page, f.label) for f in got] == [(1, "Figure 1"), (1, "Figure 2"), (1, "Figure 3"),
                                                (2, "Figure 4"), (2, "Figure 5")]
    assert all((f.width, f.height) == (160, 120) for f in got)
    assert [f.ext for f in got] == ["pnm", "pnm", "jpeg", "pnm", "pnm"]
    assert got[2].image_bytes == jpeg
    for fig, source in zip(got, [flate_a, flate_b, jpeg, flate_a, flate_a], strict=True):
        assert np.abs(_pixels(fig.image_bytes) - _pixels(source)).max() <= (0 if fig.ext == "pnm" else 255)
    assert np.abs(_pixels(got[0].image_bytes) - _pixels(got[1].image_bytes)).mean() > 10
