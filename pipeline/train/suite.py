"""Run the whole evaluation for several models over the validation split and external labelled sets.

Why one driver: the corpus's contribution is the difference between models evaluated identically, so
the trained model, the untrained init and any local open_clip checkpoint go through the same sets,
prompts and probe splits, and external sets are loaded and checked for leakage once, before any model sees
them. The export already left out the training pairs that leak into a set (pipeline/train/external.py);
a set the export did not check has its leaking images dropped here, by the same search.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from pipeline.train.clip_data import read_rows
from pipeline.train.evaluate import (
    Encoder,
    concept_auroc,
    linear_probe,
    load_encoder,
    ontology_parents,
    retrieval,
    zero_shot,
)  # fmt: skip
from pipeline.train.external import (
    EvalSetSpec,
    LabelledSet,
    ViewHashes,
    read_leaks,
    readable,
    remove_training_duplicates,
    view_hashes,
)  # fmt: skip

__all__ = ["EvalSetSpec", "ModelSpec", "SetSummary", "SuiteResult", "run_suite", "train_view_hashes"]

NO_DIAGNOSIS = "no definitive diagnosis"


@dataclass(frozen=True)
class ModelSpec:
    """``state`` names the model in tables and the report: trained / untrained / pretrained:<name>."""

    state: str
    model: str
    checkpoint: Path | None = None
    seed: int = 0


@dataclass
class SetSummary:
    eval_set: str
    layout: str
    n_images: int
    n_classes: int
    n_missing: int = 0
    n_unreadable: int = 0
    n_duplicates_removed: int = 0  # evaluation images dropped here (a set the export did not check)
    n_train_pairs_removed: int | None = None  # training pairs the export left out for this set
    n_train_images_removed: int | None = None


@dataclass
class SuiteResult:
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # state -> set -> metric
    sets: list[SetSummary] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str, float]]:
        """(model_state, eval_set, metric, value), sorted: the train_metrics grain."""
        return sorted((s, e, m, v) for s, by_set in self.metrics.items() for e, ms in by_set.items()
                      for m, v in ms.items())  # fmt: skip

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps({"metrics": self.metrics, "sets": [asdict(s) for s in self.sets]}, indent=1))


def train_view_hashes(export_dir: Path) -> ViewHashes:
    """View hashes of the export's training images (one per distinct file)."""
    files = dict.fromkeys(r["filename"] for r in read_rows(Path(export_dir) / "train.csv"))
    return view_hashes([Path(export_dir) / f for f in files])


def _checked(spec: EvalSetSpec, export_dir: Path, thresholds: tuple[int, int],
             train: dict[str, ViewHashes]) -> LabelledSet:  # fmt: skip
    """The set with the export's leak counts, or, when the export did not check it, without the images
    near a training image (the training hashes computed once, on first need)."""
    lset = spec.load()
    leak = read_leaks(export_dir).get((spec.name, spec.layout, str(spec.path)))
    if leak is not None:
        lset.n_train_pairs_removed, lset.n_train_images_removed = leak.n_train_pairs_removed, leak.n_train_images_removed
        return readable(lset)
    if "train" not in train:
        train["train"] = train_view_hashes(export_dir)
    return remove_training_duplicates(lset, train["train"], thresholds)


def _validation(
    enc: Encoder, export_dir: Path, parents: dict[str, str], seed: int, classes: list[str] | None
) -> dict[str, float]:
    """Retrieval over the validation pairs (a caption is a positive for its own image and any image with
    the identical text), zero-shot over labelled rows' images, probe on image features."""
    rows = read_rows(Path(export_dir) / "validation.csv")
    out: dict[str, float] = {"n_val": float(len(rows))}
    if not rows:
        return out
    files = list(dict.fromkeys(r["filename"] for r in rows))
    image_of = {f: i for i, f in enumerate(files)}
    texts = list(dict.fromkeys(r["caption"] for r in rows))
    text_of = {t: i for i, t in enumerate(texts)}
    positive = torch.zeros(len(files), len(texts), dtype=torch.bool)
    for r in rows:
        positive[image_of[r["filename"]], text_of[r["caption"]]] = True
    img = enc.images([Path(export_dir) / f for f in files])
    out |= retrieval(img, enc.texts(texts), positive)
    out["n_val_images"] = float(len(files))
    label_of: dict[str, str] = {}
    for r in rows:
        if r["disease_label"] and r["disease_label"] != NO_DIAGNOSIS:
            label_of.setdefault(r["filename"], r["disease_label"])
    classes = sorted(set(label_of.values()) | set(classes or []))
    labelled = [f for f in files if label_of.get(f) in classes]
    if classes and labelled:
        feats = img[[image_of[f] for f in labelled]]
        labels = [label_of[f] for f in labelled]
        out |= zero_shot(enc, feats, labels, classes, parents)
        out |= linear_probe(feats.numpy(), labels, seed=seed)
    return out


def _external(enc: Encoder, lset: LabelledSet, parents: dict[str, str], seed: int) -> dict[str, float]:
    img = enc.images([i.path for i in lset.items])
    labels = [i.label for i in lset.items]
    out: dict[str, float] = {"n_images": float(len(labels))}
    if len(lset.classes) >= 2:
        out |= zero_shot(enc, img, labels, lset.classes, parents)
        out |= linear_probe(img.numpy(), labels, seed=seed)
    if any(i.concepts for i in lset.items):
        out |= concept_auroc(enc, img, [i.concepts for i in lset.items])
    return out


def run_suite(
    models: list[ModelSpec], export_dir: Path, external: list[EvalSetSpec], ontology: Path | None = None,
    dedup: tuple[int, int] = (8, 16), device: str = "cpu", seed: int = 0, classes: list[str] | None = None,
) -> SuiteResult:  # fmt: skip
    """Evaluate every model on the export's validation split and each external set (leakage checked
    first; ``dedup``: the near-duplicate thresholds, pHash bits and pHash+dHash bits, the clean stage's).

    ``classes``: zero-shot classes for the validation split (default: its own labels; the stage passes the
    whole corpus's, so a class absent from validation still competes as a distractor)."""
    parents = ontology_parents(ontology) if ontology else {}
    result = SuiteResult()
    sets: list[LabelledSet] = []
    train: dict[str, ViewHashes] = {}
    for ext in external:
        lset = _checked(ext, Path(export_dir), dedup, train)
        sets.append(lset)
        result.sets.append(SetSummary(ext.name, ext.layout, len(lset.items), len(lset.classes), lset.n_missing,
                                      lset.n_unreadable, lset.n_duplicates_removed, lset.n_train_pairs_removed,
                                      lset.n_train_images_removed))  # fmt: skip
    for spec in models:
        enc = load_encoder(spec.model, spec.checkpoint, spec.seed, device)
        by_set = {"validation": _validation(enc, export_dir, parents, seed, classes)}
        for lset in sets:
            by_set[lset.name] = _external(enc, lset, parents, seed) if lset.items else {"n_images": 0.0}
        result.metrics[spec.state] = by_set
    return result

