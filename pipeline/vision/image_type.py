"""What kind of picture is this? Image types for the clean stage, behind one small backend interface.

Derm1M keeps images of skin: clinical photographs, dermoscopy and (in its PMC/textbook part) skin
histopathology. Papers and lectures also hold charts, schematic diagrams, slides full of text and photos
of other things (equipment, people, animals), which pair with dermatology captions but teach a CLIP the
wrong picture. Every backend answers the same question for a batch of images: one of IMAGE_TYPES, a
confidence, and a skin_score in [0, 1] (how much of the picture is skin), so the clean stage stores the
same columns whichever backend ran. The default, HeuristicClassifier, needs no weights: it scores
hand-crafted features (pipeline/vision/image_features.py) and decides with thresholds tuned on the sample
corpus and measured on real dermoscopy and real PDF figures by `python -m bench.image_type`.
The DenseNet121 and CLIP zero-shot backends live in pipeline/vision/image_type_backends.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image

from pipeline.vision.image_features import ImageFeatures, extract_features

IMAGE_TYPES = ("clinical_photo", "dermoscopy", "histopathology", "chart_or_diagram", "slide_with_text", "other")
SKIN_TYPES = frozenset({"clinical_photo", "dermoscopy", "histopathology"})
HEURISTIC_VERSION = "heuristic-v4"  # v2: CIELAB skin locus, chroma and grain vetoes; v3: chroma 0.55; v4: relative centre_dark

ImageInput = Image.Image | Path | str


@dataclass(frozen=True)
class ImageTypeResult:
    image_type: str
    confidence: float
    skin_score: float
    backend: str
    scores: dict[str, float] = field(default_factory=dict)  # per-class scores or features, for audits


@runtime_checkable
class ImageTypeClassifier(Protocol):
    """A backend: classify a batch of images (PIL images or paths) into IMAGE_TYPES."""

    name: str

    def classify(self, images: Sequence[ImageInput]) -> list[ImageTypeResult]: ...


def open_rgb(image: ImageInput) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as img:
        return img.convert("RGB")


def heuristic_skin_score(f: ImageFeatures) -> float:
    """Skin evidence damped by graphic evidence: flat fills and text rows do not occur in photographs.

    The strict skin box and the broad warm-hue fraction are blended, because real dermoscopy of pale
    skin is mostly greyish pink that only the broad one admits, while the broad one alone admits wood
    and orange plots.
    """
    evidence = max(f.skin, 0.85 * f.warm, 0.5 * f.skin + 0.5 * f.warm)
    if f.vignette >= 0.25 and f.dark < 0.5:  # a dermatoscope's black frame is not missing skin
        evidence = min(1.0, evidence / (1.0 - f.dark))
    # text rows on a mostly skin-coloured picture are speckled lesions or a label on a photo, not a slide
    text = min(1.0, 2.5 * max(0.0, f.text - 0.05)) * (1.0 if f.skin < 0.5 else 0.2)
    graphic = max(0.0, f.flat - 0.45) * 2.0 + text
    graphic += max(0.0, f.edges - 0.18) * 8.0  # dense sharp edges: brick, text, line art; skin is soft
    if f.saturation < 0.03:  # greyscale: no skin colour at all
        graphic += 1.0
    return round(max(0.0, min(1.0, evidence * (1.0 - min(1.0, graphic)))), 4)


class HeuristicClassifier:
    """Feature thresholds, checked in order: graphics first (flat fills, text rows, greyscale line art),
    then the dermatoscope's circular field, the H&E hue signature, skin, and "other" for the rest."""

    name = "heuristic"

    def __init__(self, skin_min: float = 0.22, he_min: float = 0.35, chroma_max: float = 0.55,
                 grain_max: float = 0.5) -> None:
        self.skin_min, self.he_min = skin_min, he_min
        self.chroma_max, self.grain_max = chroma_max, grain_max  # hand-set; see image_features

    def classify(self, images: Sequence[ImageInput]) -> list[ImageTypeResult]:
        return [self.classify_features(extract_features(open_rgb(im))) for im in images]

    def classify_features(self, f: ImageFeatures) -> ImageTypeResult:
        skin = heuristic_skin_score(f)
        kind, conf = self._decide(f, skin)
        return ImageTypeResult(kind, round(conf, 4), skin, self.name, f.as_dict())

    def _decide(self, f: ImageFeatures, skin: float) -> tuple[str, float]:
        if f.he >= self.he_min and f.flat < 0.3 and f.vignette < 0.25 and f.skin < 0.3:
            return "histopathology", min(1.0, 0.4 + f.he)  # before text: nuclei on stroma look like glyphs
        textish = f.skin < 0.5 and (f.text >= 0.2 or (f.text >= 0.15 and f.white > 0.5))
        flat = f.skin < 0.6 and (f.flat >= 0.55 or (f.flat >= 0.45 and f.white >= 0.4))  # smooth skin is not flat
        graphic = (flat or textish
                   or (f.saturation < 0.03 and f.edges > 0.05 and f.flat > 0.2))
        if graphic and f.vignette < 0.5:
            if f.dark > 0.5 and f.text < 0.2:
                return "other", min(1.0, 0.4 + f.dark / 2)  # fluorescence, gels, scans on black
            if f.axes >= 0.35:
                return "chart_or_diagram", min(1.0, 0.5 + f.axes / 2)
            if f.text >= 0.12:
                return "slide_with_text", min(1.0, 0.5 + f.text)
            return "chart_or_diagram", min(1.0, 0.5 + max(f.flat - 0.5, f.text, 0.1))
        if f.chroma >= self.chroma_max:  # far more vivid than skin of any tone: fruit, coffee, fundus, logos
            return "other", min(1.0, 0.5 + (f.chroma - self.chroma_max) * 2)
        if f.grain >= self.grain_max:  # fine texture running one way almost everywhere: wood, brushed metal
            return "other", min(1.0, 0.5 + (f.grain - self.grain_max) * 5)
        if f.vignette >= 0.25 and skin >= 0.5 * self.skin_min:
            return "dermoscopy", min(1.0, 0.5 + f.vignette / 2)
        if skin >= self.skin_min:
            if f.centre_dark >= 0.16 and f.edges < 0.05 and f.white < 0.2:  # 0.12 of a light ring's ~0.75
                return "dermoscopy", min(1.0, 0.4 + f.centre_dark * 0.75 + skin / 4)
            return "clinical_photo", min(1.0, 0.4 + skin / 2)
        return "other", min(1.0, 0.5 + (self.skin_min - skin))


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


def classify_folder(folder: Path, classifier: ImageTypeClassifier, batch_size: int = 16
                    ) -> Iterator[tuple[Path, ImageTypeResult | None]]:
    """Every image under folder (recursively, sorted), with its result; None for a file that will not decode."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for start in range(0, len(paths), batch_size):
        chunk, images = paths[start:start + batch_size], list[Image.Image | None]()
        for p in chunk:
            try:
                images.append(open_rgb(p))
            except (OSError, ValueError):
                images.append(None)
        ok = [im for im in images if im is not None]
        results = iter(classifier.classify(ok))
        for p, im in zip(chunk, images, strict=True):
            yield p, (next(results) if im is not None else None)
