"""The paper's evaluation of a CLIP on frozen features: zero-shot, retrieval, linear probe, concept AUROC.

Why all four: zero-shot and retrieval test the joint image-text space the corpus teaches; the linear
probe tests the image features alone at 1 / 10 / 100 % of labels (label efficiency is the point of
pre-training); concept AUROC (MONET-style: how well an image's similarity to a concept prompt ranks the
images that show that concept) tests whether captions taught dermatological vocabulary. Every function
takes L2-normalised features, so the same numbers come out for a trained, an untrained or a pretrained
model. Class prompts average several templates, and add the ontology parent where the ontology knows it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.train.clip_data import load_image
from pipeline.vision.clip_model import create_model, image_size

__all__ = [
    "CLASS_TEMPLATES", "Encoder", "class_prompts", "concept_auroc", "linear_probe", "load_encoder",
    "ontology_parents", "retrieval", "zero_shot",
]  # fmt: skip

CLASS_TEMPLATES = (
    "This is a skin image of {c}",
    "a photo of {c}",
    "a dermatology image of {c}",
    "a close-up of a skin lesion: {c}",
    "{c}",
)
PARENT_TEMPLATE = "This is a skin image of {c}, a type of {p}"
REFERENCE_PROMPTS = ("This is a skin image", "a photo of skin", "a dermatology image")
RETRIEVAL_KS = (1, 5, 10, 50)


@dataclass
class Encoder:
    """A model ready to embed images and texts (L2-normalised, float32, on CPU)."""

    net: Any
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Any
    device: torch.device
    batch_size: int = 64

    @torch.no_grad()
    def images(self, paths: Sequence[Path]) -> torch.Tensor:
        size = image_size(self.net)
        out = []
        for i in range(0, len(paths), self.batch_size):
            batch = torch.stack([self.preprocess(load_image(p, size)) for p in paths[i : i + self.batch_size]])
            out.append(self.net.encode_image(batch.to(self.device), normalize=True).float().cpu())
        return torch.cat(out) if out else torch.empty(0, self._dim())

    @torch.no_grad()
    def texts(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[i : i + self.batch_size])).to(self.device)
            out.append(self.net.encode_text(tokens, normalize=True).float().cpu())
        return torch.cat(out) if out else torch.empty(0, self._dim())

    def _dim(self) -> int:
        proj = getattr(self.net, "text_projection", None)
        return int(proj.shape[-1]) if proj is not None else 0


def load_encoder(model: str, checkpoint: Path | None, seed: int = 0, device: str = "cpu") -> Encoder:
    """Encoder for an open_clip model: checkpoint=None is the seeded untrained init (training's start)."""
    net, _, pre_val, tokenizer = create_model(model, checkpoint, seed)
    dev = torch.device(device)
    return Encoder(net.to(dev).eval(), pre_val, tokenizer, dev)


def ontology_parents(ontology_json: Path) -> dict[str, str]:
    """casefolded class -> parent name, from Derm1M's ``{parent: [children]}`` ontology ("root" skipped)."""
    tree: dict[str, list[str]] = json.loads(Path(ontology_json).read_text(encoding="utf-8"))
    return {child.casefold(): parent for parent, kids in tree.items() if parent != "root" for child in kids}


def class_prompts(classes: Sequence[str], parents: Mapping[str, str] | None = None) -> list[list[str]]:
    """Per class, the prompts whose embeddings are averaged into its zero-shot classifier."""
    out = []
    for c in classes:
        prompts = [t.format(c=c) for t in CLASS_TEMPLATES]
        parent = (parents or {}).get(c.casefold())
        if parent:
            prompts.append(PARENT_TEMPLATE.format(c=c, p=parent))
        out.append(prompts)
    return out


def _prompt_embeddings(enc: Encoder, prompt_sets: Sequence[Sequence[str]]) -> torch.Tensor:
    flat = [p for ps in prompt_sets for p in ps]
    emb = enc.texts(flat)
    out, start = [], 0
    for ps in prompt_sets:
        mean = emb[start : start + len(ps)].mean(dim=0)
        out.append(mean / mean.norm().clamp_min(1e-12))
        start += len(ps)
    return torch.stack(out)


def zero_shot(
    enc: Encoder, image_features: torch.Tensor, labels: Sequence[str], classes: Sequence[str],
    parents: Mapping[str, str] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Top-1 / top-5 accuracy and balanced (mean per-class) accuracy of template-averaged class prompts."""
    index = {c: i for i, c in enumerate(classes)}
    target = torch.tensor([index[label] for label in labels])
    scores = image_features @ _prompt_embeddings(enc, class_prompts(classes, parents)).T
    pred = scores.argmax(dim=1)
    top5 = scores.topk(min(5, len(classes)), dim=1).indices
    per_class = [float((pred[target == k] == k).float().mean()) for k in range(len(classes)) if (target == k).any()]
    return {"zero_shot_top1": float((pred == target).float().mean()),
            "zero_shot_top5": float((top5 == target[:, None]).any(dim=1).float().mean()),
            "zero_shot_balanced_acc": float(np.mean(per_class)), "zero_shot_n": float(len(labels)),
            "zero_shot_classes": float(len(classes))}  # fmt: skip


def retrieval(
    image_features: torch.Tensor, text_features: torch.Tensor, positive: torch.Tensor,
    ks: Sequence[int] = RETRIEVAL_KS, chunk: int = 1024,
) -> dict[str, float]:  # fmt: skip
    """R@k both ways; ``positive[i, t]`` says text t matches image i (an image may have several texts)."""
    out: dict[str, float] = {}
    for name, queries, cands, pos in (("i2t", image_features, text_features, positive),
                                      ("t2i", text_features, image_features, positive.T)):  # fmt: skip
        hits = dict.fromkeys(ks, 0.0)
        for s in range(0, queries.shape[0], chunk):
            sims = queries[s : s + chunk] @ cands.T
            for k in ks:
                top = sims.topk(min(k, cands.shape[0]), dim=1).indices
                hits[k] += float(pos[s : s + chunk].gather(1, top).any(dim=1).sum())
        out.update({f"{name}_R@{k}": v / max(1, queries.shape[0]) for k, v in hits.items()})
    return out


def linear_probe(
    features: np.ndarray, labels: Sequence[str], fractions: Sequence[float] = (0.01, 0.1, 1.0),
    test_size: float = 0.3, seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Logistic regression on frozen features: a stratified held-out test part, and the probe trained on
    ``fraction`` of the rest (at least one image per class). Classes with < 2 images are left out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    names, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, names[counts >= 2])
    x, y = features[keep], y[keep]
    if len(np.unique(y)) < 2:
        return {"probe_n": float(len(y))}
    n_test = max(int(round(test_size * len(y))), len(np.unique(y)))
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=n_test, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    out = {"probe_n": float(len(y)), "probe_test_n": float(len(y_te))}
    for frac in fractions:
        take: list[int] = []
        for c in np.unique(y_tr):
            idx = np.flatnonzero(y_tr == c)
            take.extend(rng.choice(idx, max(1, int(round(frac * len(idx)))), replace=False).tolist())
        if len(np.unique(y_tr[take])) < 2:
            continue
        clf = LogisticRegression(max_iter=2000, C=1.0)
        with warnings.catch_warnings():  # 1 % of a small set is a few images per class, on purpose
            warnings.filterwarnings("ignore", message="The number of unique classes")
            clf.fit(x_tr[take], y_tr[take])
        out[f"probe_acc@{frac:g}"] = float((clf.predict(x_te) == y_te).mean())
        out[f"probe_train_n@{frac:g}"] = float(len(take))
    return out


def concept_auroc(
    enc: Encoder, image_features: torch.Tensor, concepts: Sequence[Mapping[str, str]], absent: str = "absent",
) -> dict[str, float]:  # fmt: skip
    """MONET-style concept presence: score = sim(image, concept prompts) - sim(image, reference prompts);
    AUROC against presence (any value but ``absent``) per concept, and per specific value (e.g.
    "irregular streaks"). Concepts with only one class among the images are skipped."""
    from sklearn.metrics import roc_auc_score

    reference = _prompt_embeddings(enc, [REFERENCE_PROMPTS])[0]
    base = image_features @ reference
    targets: dict[str, np.ndarray] = {}
    for name in sorted({k for c in concepts for k in c}):
        values = [c.get(name, "") for c in concepts]
        known = np.array([bool(v) for v in values])
        targets[name.replace("_", " ")] = np.where(known, [v != absent for v in values], -1)
        for value in sorted({v for v in values if v and v != absent}):
            targets[f"{value} {name.replace('_', ' ')}"] = np.where(known, [v == value for v in values], -1)
    out: dict[str, float] = {}
    aurocs = []
    for phrase, y in targets.items():
        mask = y >= 0
        if len(np.unique(y[mask])) < 2:
            continue
        emb = _prompt_embeddings(enc, [[f"This is a skin image of {phrase}", f"a dermoscopy image showing {phrase}",
                                        phrase]])[0]  # fmt: skip
        score = (image_features @ emb - base).numpy()
        auc = float(roc_auc_score(y[mask], score[mask]))
        out[f"concept_auroc[{phrase}]"] = auc
        aurocs.append(auc)
    if aurocs:
        out["concept_auroc_mean"] = float(np.mean(aurocs))
        out["concept_auroc_n"] = float(len(aurocs))
    return out
