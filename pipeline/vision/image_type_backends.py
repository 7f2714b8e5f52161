"""Learned image-type backends: a fine-tuned torchvision DenseNet121 and CLIP zero-shot through open_clip.

Both answer ImageTypeClassifier.classify() like the heuristic, with skin_score = the probability mass on
the skin types (clinical_photo, dermoscopy, histopathology). No weights ship with the project and none can
be downloaded here: DenseNet121 trains from scratch unless `init_weights` names a torchvision state dict
(ImageNet weights from a machine with network access), and CLIP takes a weights file (or a pretrained tag
open_clip can resolve). The checkpoint written by train_image_classifier() is versioned and carries its
class list, so a model trained on other folders (or a subset of the types) still loads and reports.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pipeline.vision.image_type import IMAGE_TYPES, SKIN_TYPES, ImageInput, ImageTypeResult, open_rgb

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "derm1m-image-type/1"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's ImageNet normalisation
DEFAULT_PROMPTS: dict[str, list[str]] = {
    "clinical_photo": ["a clinical photograph of a skin lesion", "a close-up photo of a rash on human skin"],
    "dermoscopy": ["a dermoscopy image of a skin lesion", "a dermatoscopic image of a mole"],
    "histopathology": ["a histopathology slide of skin stained with H&E", "a microscopy image of skin tissue"],
    "chart_or_diagram": ["a bar chart or a line graph", "a schematic diagram"],
    "slide_with_text": ["a presentation slide with text", "a page of printed text"],
    "other": ["a photograph of an object", "a photo of a landscape"],
}


def _results(probs: torch.Tensor, classes: Sequence[str], backend: str) -> list[ImageTypeResult]:
    skin_idx = [i for i, c in enumerate(classes) if c in SKIN_TYPES]
    out = []
    for row in probs.tolist():
        best = max(range(len(classes)), key=row.__getitem__)
        skin = sum(row[i] for i in skin_idx)
        out.append(ImageTypeResult(classes[best], round(row[best], 4), round(min(1.0, skin), 4), backend,
                                   {c: round(p, 4) for c, p in zip(classes, row, strict=True)}))
    return out


def _transform(size: int, train: bool = False) -> Any:
    from pipeline.vision.tvshim import ensure_torchvision

    ensure_torchvision()
    from torchvision import transforms as T

    aug = [T.RandomResizedCrop(size, scale=(0.6, 1.0)), T.RandomHorizontalFlip()] if train else [
        T.Resize(size), T.CenterCrop(size)]
    return T.Compose([*aug, T.ToTensor(), T.Normalize(MEAN, STD)])


def densenet121(n_classes: int, init_weights: Path | None = None) -> torch.nn.Module:
    """DenseNet121 with a new n-class head; weights=None (random) unless a state dict file is given."""
    from pipeline.vision.tvshim import ensure_torchvision

    ensure_torchvision()
    from torchvision.models import densenet121 as tv_densenet121

    net = tv_densenet121(weights=None)
    if init_weights is not None:
        state = torch.load(init_weights, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        log.info("init weights %s: %d missing, %d unexpected keys", init_weights, len(missing), len(unexpected))
    net.classifier = torch.nn.Linear(net.classifier.in_features, n_classes)
    return net


class DenseNetClassifier:
    name = "densenet"

    def __init__(self, net: torch.nn.Module, classes: Sequence[str], image_size: int, version: str,
                 device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.net, self.classes = net.eval().to(self.device), list(classes)
        self.image_size, self.version = image_size, version
        self._tf = _transform(image_size)

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> DenseNetClassifier:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not an image-type checkpoint (format {ckpt.get('format')!r})")
        net = densenet121(len(ckpt["classes"]))
        net.load_state_dict(ckpt["state_dict"])
        return cls(net, ckpt["classes"], int(ckpt["image_size"]), str(ckpt["version"]), device)

    @torch.no_grad()
    def classify(self, images: Sequence[ImageInput]) -> list[ImageTypeResult]:
        if not images:
            return []
        batch = torch.stack([self._tf(open_rgb(im)) for im in images]).to(self.device)
        probs = torch.softmax(self.net(batch), dim=-1).cpu()
        return _results(probs, self.classes, f"{self.name}:{self.version}")


def _next_version(out_dir: Path) -> int:
    versions = [int(p.stem.rsplit("-v", 1)[1]) for p in out_dir.glob("densenet121-v*.pt")
                if p.stem.rsplit("-v", 1)[1].isdigit()]
    return max(versions, default=0) + 1


def train_image_classifier(
    image_folder: Path, out_dir: Path, *, epochs: int = 3, max_steps: int | None = None, batch_size: int = 16,
    lr: float = 3e-4, image_size: int = 224, init_weights: Path | None = None, seed: int = 0,
) -> Path:
    """Fine-tune DenseNet121 on an ImageFolder (one subfolder per class, ideally named as IMAGE_TYPES) and
    write out_dir/densenet121-v<N>.pt plus a .json with the same metadata; returns the checkpoint path."""
    from pipeline.vision.tvshim import ensure_torchvision

    ensure_torchvision()
    from torchvision.datasets import ImageFolder

    torch.manual_seed(seed)
    data = ImageFolder(str(image_folder), transform=_transform(image_size, train=True))
    if len(data) == 0:
        raise ValueError(f"no images under {image_folder}")
    unknown = sorted(set(data.classes) - set(IMAGE_TYPES))
    if unknown:
        log.warning("classes outside IMAGE_TYPES %s: they get no skin_score weight", unknown)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0)
    net = densenet121(len(data.classes), init_weights).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    step, losses, t0 = 0, [], time.time()
    for _epoch in range(epochs):
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if max_steps is not None and step >= max_steps:
                break
        if max_steps is not None and step >= max_steps:
            break
    out_dir.mkdir(parents=True, exist_ok=True)
    version = _next_version(out_dir)
    from pipeline.stage import code_version

    meta = {"format": CHECKPOINT_FORMAT, "arch": "densenet121", "version": f"v{version}",
            "classes": list(data.classes), "image_size": image_size, "steps": step, "epochs": epochs,
            "n_images": len(data), "final_loss": losses[-1] if losses else None,
            "init_weights": str(init_weights) if init_weights else None, "seconds": round(time.time() - t0, 1),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "code_version": code_version()}
    path = out_dir / f"densenet121-v{version}.pt"
    torch.save({**meta, "state_dict": net.state_dict()}, path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


class ClipZeroShotClassifier:
    """Zero-shot: cosine similarity of the image to each class's averaged prompt embeddings."""

    name = "clip"

    def __init__(self, model: str, pretrained: Path | str | None = None,
                 prompts: dict[str, list[str]] | None = None, device: str = "cpu") -> None:
        from pipeline.vision.clip_model import create_model, open_clip_module

        if pretrained is None or Path(pretrained).is_file():
            weights = Path(pretrained) if pretrained else None
            self.net, _, self.preprocess, tokenizer = create_model(model, weights, 0)
        else:  # a pretrained tag open_clip resolves itself (needs its cache or the network)
            oc = open_clip_module()
            self.net, _, self.preprocess = oc.create_model_and_transforms(model, pretrained=str(pretrained))
            tokenizer = oc.get_tokenizer(model)
        self.device = torch.device(device)
        self.net.eval().to(self.device)
        self.model = model
        self.classes = [c for c in IMAGE_TYPES if c in (prompts or DEFAULT_PROMPTS)]
        table = prompts or DEFAULT_PROMPTS
        with torch.no_grad():
            embs = []
            for c in self.classes:
                e = self.net.encode_text(tokenizer(table[c]).to(self.device))
                e = e / e.norm(dim=-1, keepdim=True)
                embs.append(e.mean(dim=0))
            text = torch.stack(embs)
            self.text = text / text.norm(dim=-1, keepdim=True)

    @torch.no_grad()
    def classify(self, images: Sequence[ImageInput]) -> list[ImageTypeResult]:
        if not images:
            return []
        batch = torch.stack([self.preprocess(open_rgb(im)) for im in images]).to(self.device)
        feats = self.net.encode_image(batch)
        feats = feats / feats.norm(dim=-1, keepdim=True)
        scale = self.net.logit_scale.exp() if hasattr(self.net, "logit_scale") else torch.tensor(100.0)
        probs = torch.softmax(scale * feats @ self.text.T, dim=-1).cpu()
        return _results(probs, self.classes, f"{self.name}:{self.model}")
