"""Scoring an image-type classifier against labels: skin recall, non-skin rejection, a confusion table, and
skin recall on copies shifted to darker tones.

Shared by `derm1m classify-images` (labels from a folder layout or a truth CSV) and bench/image_type.py, so
a user checking the filter on their own images gets the figures the benchmark reports. A label is one of
IMAGE_TYPES, or the coarse "skin" / "non_skin" when only that much is known (such a row counts towards
recall or rejection but has no confusion column of its own beyond its coarse name).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.vision.image_type import IMAGE_TYPES, SKIN_TYPES, ImageTypeClassifier, ImageTypeResult, open_rgb
from pipeline.vision.skin_tone import TONE_LEVELS, ita, shift_tone, tone_level

COARSE = {"skin": True, "non_skin": False}
LABELS = (*IMAGE_TYPES, *COARSE)


def is_skin_label(label: str) -> bool:
    return COARSE[label] if label in COARSE else label in SKIN_TYPES


def folder_label(path: Path, root: Path) -> str | None:
    """The label a folder layout gives: the nearest parent folder (below root) named like a label."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        if part.lower() in LABELS:
            return part.lower()
    return None


def read_truth_csv(path: Path) -> dict[str, str]:
    """A truth CSV: columns path (as classify-images prints it, or a file name) and label (one of LABELS)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r for r in rows if (r.get("label") or "").strip().lower() not in LABELS]
    if not rows or "path" not in rows[0] or bad:
        raise ValueError(f"{path}: needs columns path,label with labels in {LABELS} "
                         f"({len(bad)} row(s) with another label)")
    return {r["path"].strip(): r["label"].strip().lower() for r in rows}


def truth_for(path: Path, truth: dict[str, str]) -> str | None:
    return truth.get(str(path)) or truth.get(path.name)


@dataclass
class Scores:
    """Counts behind the figures: per true label, the predicted types."""

    keep: frozenset[str]
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    wrong: dict[str, list[str]] = field(default_factory=dict)

    def add(self, label: str, result: ImageTypeResult, name: str = "") -> None:
        self.confusion.setdefault(label, Counter())[result.image_type] += 1
        if (result.image_type in self.keep) != is_skin_label(label):
            self.wrong.setdefault(label, []).append(name)

    def _count(self, skin: bool) -> tuple[int, int]:
        n = sum(sum(c.values()) for lab, c in self.confusion.items() if is_skin_label(lab) == skin)
        return n, n - sum(len(w) for lab, w in self.wrong.items() if is_skin_label(lab) == skin)

    def summary(self) -> dict[str, object]:
        (skin_n, skin_ok), (non_n, non_ok) = self._count(True), self._count(False)
        typed = {lab: c for lab, c in self.confusion.items() if lab in IMAGE_TYPES}
        type_n = sum(sum(c.values()) for c in typed.values())
        return {
            "skin_n": skin_n, "skin_recall": round(skin_ok / skin_n, 4) if skin_n else None,
            "non_skin_n": non_n, "non_skin_rejection": round(non_ok / non_n, 4) if non_n else None,
            "type_n": type_n,
            "type_accuracy": round(sum(c[lab] for lab, c in typed.items()) / type_n, 4) if type_n else None,
            "confusion": {lab: dict(c) for lab, c in sorted(self.confusion.items())},
        }


def score(pairs: Iterable[tuple[str, str, ImageTypeResult]], keep: Iterable[str]) -> Scores:
    """Scores of (name, label, result) triples; keep = the types the clean stage keeps."""
    s = Scores(frozenset(keep))
    for name, label, result in pairs:
        s.add(label, result, name)
    return s


def tone_recall(classifier: ImageTypeClassifier, images: Sequence[object], keep: Iterable[str],
                levels: Sequence[str] = tuple(TONE_LEVELS)) -> dict[str, dict[str, float | int]]:
    """Skin recall (and mean skin score, median ITA of the copies) on copies of skin images at each level."""
    kept, out = frozenset(keep), {}
    rgb = [open_rgb(im) for im in images]  # type: ignore[arg-type]
    for level in levels:
        copies = [shift_tone(im, level) for im in rgb]
        results = classifier.classify(copies)
        angles = sorted(ita(c) for c in copies)
        out[level] = {
            "n": len(copies),
            "recall": round(sum(r.image_type in kept for r in results) / len(copies), 4) if copies else 0.0,
            "mean_skin_score": round(sum(r.skin_score for r in results) / len(copies), 4) if copies else 0.0,
            "median_ita": round(angles[len(angles) // 2], 1) if angles else 0.0,
            "in_band": sum(tone_level(a) == level for a in angles),
        }
    return out


def report_lines(summary: dict[str, object], tones: dict[str, dict[str, float | int]] | None = None
                 ) -> list[str]:
    """A human-readable confusion table (rows: true label, columns: predicted type) and the figures."""
    conf: dict[str, dict[str, int]] = summary["confusion"]  # type: ignore[assignment]
    lines = [f"{'true/predicted':<18}{'n':>5}" + "".join(f"{t[:11]:>12}" for t in IMAGE_TYPES)]
    for label, row in conf.items():
        lines.append(f"{label:<18}{sum(row.values()):>5}" + "".join(f"{row.get(t, 0):>12}" for t in IMAGE_TYPES))
    lines.append(f"skin recall {summary['skin_recall']} (n={summary['skin_n']}); non-skin rejection "
                 f"{summary['non_skin_rejection']} (n={summary['non_skin_n']}); type accuracy "
                 f"{summary['type_accuracy']} (n={summary['type_n']})")
    for level, t in (tones or {}).items():
        lines.append(f"  tone {level:<3} skin recall {t['recall']} (n={t['n']}, median ITA {t['median_ita']}, "
                     f"{t['in_band']} in band, mean skin score {t['mean_skin_score']})")
    return lines


def labelled_report(root: Path, classified: Sequence[tuple[Path, ImageTypeResult | None]],
                    classifier: ImageTypeClassifier, keep: Iterable[str], truth: dict[str, str] | None = None,
                    tones: bool = False) -> list[str]:
    """The figures for a classified folder whose images carry labels (a truth CSV, else folder names);
    [] when none does. With tones, skin images' darker-tone copies are classified and reported too."""
    scores, skin, unreadable = Scores(frozenset(keep)), [], 0
    for path, result in classified:
        label = truth_for(path, truth) if truth is not None else folder_label(path, root)
        if label is None:
            continue
        if result is None:
            unreadable += 1
            continue
        scores.add(label, result, str(path))
        if is_skin_label(label) and label != "histopathology":
            skin.append(path)
    if not scores.confusion:
        return []
    summary = scores.summary()
    lines = report_lines(summary, tone_recall(classifier, skin, keep) if tones and skin else None)
    if unreadable:
        lines.append(f"{unreadable} labelled image(s) unreadable, left out of the figures")
    return lines
