"""A large local corpus for the scale rehearsal (bench/scale_rehearsal.py), drawn by this project.

At scale 1.0: 20,000 JATS articles with two or three figure files each, 50,000 forum posts with an
image each (in JSONL files of 5,000 posts, the way dumps are split), a 100,000-image public-style
dataset (one metadata CSV), and two hours of narrated lecture video (the sample lectures remuxed in
different orders, so every file is new content but the speech is real narration). Captions, posts and
labels are composed from the project's ontology, so the lexical labeller has real work; about 3 % of
figures are cropped (85-95 % of each side) and recoloured copies of another article's figure (the dedup
stage's work) and about 4 % are charts (the image filter's). Images are 256x192 JPEGs drawn with
numpy/cv2 (~1 ms each): skin of six tones with one to three lesions. Everything is seeded; `generate`
with `start=` adds the "1 % new items" batch after the existing ones without rewriting a file.
"""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import numpy as np

from ontology import default_ontology

REPO = Path(__file__).resolve().parents[1]
TONES = ((236, 198, 172), (222, 176, 140), (198, 145, 105), (160, 110, 75), (120, 80, 55), (85, 58, 42))
SITES = ("forearm", "back", "face", "scalp", "chest", "leg", "hand", "foot", "neck", "abdomen", "knee", "elbow")
SEXES = ("male", "female")


@dataclass(frozen=True)
class Size:
    articles: int
    posts: int
    dataset_images: int
    video_s: float

    @classmethod
    def at(cls, scale: float) -> Size:
        return cls(int(20_000 * scale), int(50_000 * scale), int(100_000 * scale), 7200.0 * scale)


def _vocab() -> tuple[list[str], list[str]]:
    onto = default_ontology()
    return onto.condition_names(), onto.concept_names("primary_morphology", "secondary_morphology", "colour")


def skin_image(seed: int, chart: bool = False) -> bytes:
    """One 256x192 JPEG: a skin field with lesions, or (chart=True) a bar chart."""
    rng = np.random.default_rng(seed)
    w, h = 256, 192
    if chart:
        img = np.full((h, w, 3), 255, np.uint8)
        cv2.line(img, (30, 10), (30, 170), (0, 0, 0), 2)
        cv2.line(img, (30, 170), (250, 170), (0, 0, 0), 2)
        for i in range(int(rng.integers(3, 8))):
            top = int(rng.integers(20, 160))
            cv2.rectangle(img, (40 + i * 28, top), (60 + i * 28, 170), (int(rng.integers(0, 200)), 90, 160), -1)
        cv2.putText(img, f"week {seed % 52}", (60, 188), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        return bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])
    tone = np.array(TONES[int(rng.integers(len(TONES)))], np.float32)[::-1]  # BGR
    low = cv2.resize(rng.normal(0, 1, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = tone + low * 10 + rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        mask = np.zeros((h, w), np.float32)
        centre = (int(rng.integers(40, w - 40)), int(rng.integers(30, h - 30)))
        axes = (int(rng.integers(8, 50)), int(rng.integers(8, 40)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1.5, 5)))[..., None]
        colour = tone * np.array(rng.uniform([0.35, 0.4, 0.6], [0.8, 0.75, 1.05]), np.float32)
        img = img * (1 - mask) + colour * mask
    return bytes(cv2.imencode(".jpg", img.clip(0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


def near_copy(data: bytes, seed: int) -> bytes:
    """A cropped (85-95 % of each side) and slightly recoloured re-encode: a figure reused by another paper."""
    rng = np.random.default_rng(seed)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    f = float(rng.uniform(0.85, 0.95))
    y, x = int(rng.integers(0, int(h * (1 - f)) + 1)), int(rng.integers(0, int(w * (1 - f)) + 1))
    crop = img[y:y + int(h * f), x:x + int(w * f)].astype(np.float32) * float(rng.uniform(0.92, 1.08))
    return bytes(cv2.imencode(".jpg", crop.clip(0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 80])[1])


def _write_image(job: tuple[str, int, str]) -> None:
    path, seed, kind = job
    data = skin_image(seed, chart=kind == "chart")
    if kind == "copy":  # of the same figure of the article before, which is skin in 93 % of cases
        data = near_copy(skin_image(seed - 4, chart=_kind(seed - 4) == "chart"), seed)
    Path(path).write_bytes(data)


def _kind(seed: int) -> str:
    r = (seed * 2654435761) % 2**32 % 100
    return "chart" if r < 4 else "copy" if r < 7 else "skin"


def _sentence(rng: np.random.Generator, conditions: list[str], concepts: list[str]) -> tuple[str, str]:
    cond = str(rng.choice(conditions))
    age, sex, site = int(rng.integers(2, 90)), str(rng.choice(SEXES)), str(rng.choice(SITES))
    feats = ", ".join(str(c) for c in rng.choice(concepts, 2, replace=False))
    return cond, f"Clinical photograph of {cond} on the {site} of a {age}-year-old {sex} patient, showing {feats}."


def _article(pmc: str, rng: np.random.Generator, conditions: list[str], concepts: list[str], figs: int) -> str:
    cond, _ = _sentence(rng, conditions, concepts)
    figures = []
    for k in range(1, figs + 1):
        _, caption = _sentence(rng, conditions, concepts)
        figures.append(f'<fig id="f{k}"><label>Figure {k}</label><caption><p>{escape(caption)}</p></caption>'
                       f'<graphic xlink:href="{pmc}_f{k}"/></fig>')
    lic = "https://creativecommons.org/licenses/by/4.0/"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<article xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'article-type="case-report"><front><article-meta><article-id pub-id-type="pmc">{pmc}</article-id>'
            f"<title-group><article-title>A case of {escape(cond)}</article-title></title-group>"
            f'<permissions><license xlink:href="{lic}"><license-p>CC BY 4.0</license-p></license></permissions>'
            f"</article-meta></front><body><sec><title>Case</title><p>We report a patient with "
            f'{escape(cond)} (<xref ref-type="fig" rid="f1">Figure 1</xref>).</p>{"".join(figures)}</sec></body>'
            f"</article>\n")


def make_articles(out: Path, start: int, n: int, jobs: list[tuple[str, int, str]]) -> None:
    conditions, concepts = _vocab()
    out.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        rng = np.random.default_rng(10_000_000 + i)
        pmc, figs = f"PMC{20_000_000 + i}", 2 + int(i % 3 == 0)
        (out / f"{pmc}.xml").write_text(_article(pmc, rng, conditions, concepts, figs), encoding="utf-8")
        jobs.extend((str(out / f"{pmc}_f{k}.jpg"), 10_000_000 + i * 4 + k, _kind(10_000_000 + i * 4 + k)) for k in range(1, figs + 1))


def make_posts(out: Path, start: int, n: int, jobs: list[tuple[str, int, str]], per_file: int = 5000) -> None:
    conditions, concepts = _vocab()
    (out / "images").mkdir(parents=True, exist_ok=True)
    for first in range(start, start + n, per_file):
        lines = []
        for i in range(first, min(first + per_file, start + n)):
            rng = np.random.default_rng(20_000_000 + i)
            cond, caption = _sentence(rng, conditions, concepts)
            site, days = str(rng.choice(SITES)), int(rng.integers(2, 60))
            image = f"images/p{i}.jpg"
            jobs.append((str(out / image), 20_000_000 + i, "skin"))
            lines.append(json.dumps({
                "id": f"t3_s{i}", "forum": "reddit", "community": "r/DermatologyQuestions",
                "title": f"Spot on my {site} for {days} days, what is it?",
                "body": f"It itches a little and has grown. {caption}", "author": f"u/user{i}",
                "created_utc": 1_700_000_000 + i * 60, "url": f"https://www.reddit.com/comments/s{i}/",
                "images": [image], "replies": [{"author": "u/derm_helper", "flair": "Physician - Dermatology",
                                                "body": f"This looks like {cond}. See a dermatologist to confirm."}]}))
        (out / f"posts_{first:08d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_dataset(out: Path, start: int, n: int, jobs: list[tuple[str, int, str]]) -> None:
    labels = {"nv": "melanocytic nevus", "mel": "melanoma", "bkl": "seborrheic keratosis", "bcc": "basal cell carcinoma",
              "akiec": "actinic keratosis", "df": "dermatofibroma", "vasc": "vascular lesion"}
    (out / "images").mkdir(parents=True, exist_ok=True)
    csv_path = out / "metadata.csv"
    new = not csv_path.exists()
    with csv_path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["image_id", "dx", "age", "sex", "localization"])
        for i in range(start, start + n):
            rng = np.random.default_rng(30_000_000 + i)
            jobs.append((str(out / "images" / f"D{i:07d}.jpg"), 30_000_000 + i, "skin"))
            writer.writerow([f"D{i:07d}", str(rng.choice(list(labels))), int(rng.integers(5, 90)),
                             str(rng.choice(SEXES)), str(rng.choice(SITES))])


def make_videos(out: Path, seconds: float, clip_s: float = 26.3, per_file: int = 12) -> int:
    """About `seconds` of new lectures: files of up to `per_file` sample lectures in a seeded order,
    remuxed without re-encoding (a 1 % growth gets a short file, not a whole 5-minute one)."""
    from imageio_ffmpeg import get_ffmpeg_exe

    clips = sorted((REPO / "samples" / "videos").glob("derm_lecture_*.mp4"))
    out.mkdir(parents=True, exist_ok=True)
    start = len(list(out.glob("lecture_*.mp4")))
    todo = round(seconds / clip_s)
    i = start
    while todo > 0:
        n = min(per_file, todo)
        order = np.random.default_rng(40_000_000 + i).choice(len(clips), n)
        listing = out / f"lecture_{i:05d}.txt"
        listing.write_text("".join(f"file '{clips[k]}'\n" for k in order), encoding="utf-8")
        subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", str(listing), "-c", "copy", str(out / f"lecture_{i:05d}.mp4")], check=True)
        listing.unlink()
        todo, i = todo - n, i + 1
    return i - start


def draw(jobs: list[tuple[str, int, str]], processes: int = 2) -> None:
    with Pool(processes) as pool:
        for _ in pool.imap_unordered(_write_image, jobs, chunksize=256):
            pass


def generate(root: Path, size: Size, start: Size | None = None) -> dict[str, int]:
    """Write (or extend, from the counts in `start`) the corpus under root; returns what was added."""
    s = start or Size(0, 0, 0, 0.0)
    jobs: list[tuple[str, int, str]] = []
    make_articles(root / "jats", s.articles, size.articles, jobs)
    make_posts(root / "forums", s.posts, size.posts, jobs)
    make_dataset(root / "datasets" / "scale", s.dataset_images, size.dataset_images, jobs)
    videos = make_videos(root / "videos", size.video_s)
    draw(jobs)
    return {"articles": size.articles, "posts": size.posts, "dataset_images": size.dataset_images,
            "videos": videos, "images": len(jobs)}
