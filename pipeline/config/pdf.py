"""The `preprocess.pdf` section: figure and caption extraction from PDFs, scanned pages included.

Why per-book caption rules: textbooks differ in how they set captions ("Fig. 3.2" in 8-10 pt below the
figure, "Plate IV" above it), and a rule that fits one book picks body text in another. Most of it is
learned from each file (the bold caption font, the side); what cannot be learned (a keyword the default
label pattern does not know, a size range that tells captions from body text set alike) is stated per book
in `books`, keyed by a file-name pattern, the way MONET keeps a caption template per textbook.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PdfCaptionRules(BaseModel):
    """How one document sets its captions. `keywords`: the words a caption label starts with (case-blind,
    an optional plural "s" and "." follow; then a number, e.g. "Fig. 3", "Plate IV"); `font_pt`: the size
    range of a caption's first line (text layer: the span size; scanned pages: the estimate from the line's
    box height), `null` for any; `side`: where the caption sits, `auto` learns it from the document."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(default_factory=lambda: ["figure", "fig", "plate", "scheme"])
    font_pt: tuple[float, float] | None = None
    side: Literal["auto", "below", "above"] = "auto"


class PdfConfig(BaseModel):
    """`ocr`: pages without a text layer (or wholly covered by one scanned image) are read with Tesseract
    (extra `ocr`) with layout: word boxes, lines, paragraphs, font sizes from box heights, and figure
    regions found on the page image; `auto` when installed, `tesseract` to require it, `none` to leave
    scanned pages out (each one a `pdf_page_not_ocr` reject). `ocr_dpi`: the page render Tesseract reads,
    lowered for huge pages so a page is never over `max_page_pixels`. `books`: per-book caption rules,
    file-name pattern (fnmatch, e.g. "fitzpatrick*.pdf") -> rules; the first pattern that matches wins,
    `caption` otherwise."""

    model_config = ConfigDict(extra="forbid")

    min_image_side_px: int = 48
    caption_max_gap_pt: float = 80.0
    vector_figures: bool = True  # render drawn figures (clustered page drawings) that a caption names
    caption: PdfCaptionRules = Field(default_factory=PdfCaptionRules)
    books: dict[str, PdfCaptionRules] = Field(default_factory=dict)
    ocr: Literal["auto", "tesseract", "none"] = "auto"
    ocr_dpi: int = (
        300  # Tesseract misses small bold labels ("Figure 6", 7 pt) at 200 dpi (bench/scanned_pdf.py)
    )
    ocr_min_chars: int = (
        20  # a page with fewer characters in its text layer is a scan when an image covers it
    )
    ocr_min_confidence: float = 40.0  # Tesseract word confidence (0-100) below which a word is noise
    # a page render larger than this is made at a lower dpi; an embedded image larger than this is never
    # decoded (a reject): PDF bombs. 60 MP holds a 600 dpi A4 scan.
    max_page_pixels: int = 60_000_000
    max_pages: int = 3000  # a PDF with more pages is rejected (pdf_too_many_pages)

    def rules_for(self, *file_names: str) -> PdfCaptionRules:
        """The caption rules of a file, by any of its names (on disk; in its URL, for a downloaded one):
        its book's, else the default."""
        for pattern, rules in self.books.items():
            if any(fnmatch.fnmatch(name.lower(), pattern.lower()) for name in file_names):
                return rules
        return self.caption
