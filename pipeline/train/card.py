"""The export's dataset card: ``README.md`` with the Hugging Face YAML header, from what the export wrote.

Why a card in the export folder: ``datasets.load_dataset(export_dir)`` on a folder that also holds CSVs,
images and tar shards cannot guess which files are the table; the header's ``configs:`` names the
Parquet files per split, so the folder loads (and pushes to the Hub) as it is. The body tells a reader
what the corpus is, what each column means, how it was made and, before anything else they do with it,
that the items keep their sources' licences.

The counts come from the rows written (Parquet's streaming pass), not from the warehouse, so the card
describes exactly these files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.train.parquet import ParquetSplit

__all__ = ["COLUMN_DOCS", "write_card"]

COLUMN_DOCS = {
    "image": "the image (JPEG/PNG bytes; `datasets` decodes it to a PIL image)",
    "filename": "the image's file in the export folder (`images/<image_id>.<ext>`), as in Derm1M's CSVs",
    "caption": "the caption a model trains on (the refined caption when augmentation made one)",
    "truncated_caption": "the caption cut to fit a CLIP text encoder's context",
    "source": "the collector that found the item (youtube, pubmed, forums, pdf, a dataset name, ...)",
    "source_type": "the kind of source (video, article, post, textbook, dataset, ...)",
    "disease_label": "the diagnosis, an ontology condition name (blank: none stated)",
    "hierarchical_disease_label": "the diagnosis's path in the ontology, top branch first",
    "skin_concept": "clinical morphology concepts named in the text",
    "body_location": "body sites named in the text",
    "symptoms": "symptoms named in the text",
    "age": "patient age as stated",
    "gender": "patient sex or gender as stated",
    "raw_caption": "the paired text before augmentation (narration, figure caption or post)",
    "refined_caption": "the LLM-refined caption",
    "ontology_caption": "the caption built from the ontology labels",
    "concept_caption": "the caption built from the clinical concepts",
    "pair_id": "the pair's id in the warehouse (`pair_image_texts`)",
    "image_id": "sha256-derived id of the stored image (one image may have several pairs)",
    "item_id": "the source item (video, article, post, dataset row) the pair came from",
    "cluster_id": "near-duplicate image cluster (blank: none); the split never divides a cluster",
    "licence": (
        "the source item's licence as an SPDX-like id (CC-BY-4.0, CC-BY-NC-SA-3.0, CC0-1.0, ...) or "
        "youtube-standard, forum-terms, proprietary, unknown"
    ),
    "licence_text": "the licence as the source stated it (a URL or text; blank: none stated)",
    "source_url": "the source item's page (video, article, post)",
    "source_id": "the source item's id: video id, PMCID, post id, PDF file stem, dataset:image",
    "locator": "where in the item: video scene, article figure id, PDF page/index, image file",
    "page": "PDF figures: the page",
    "start_s": "videos: start of the narration window paired with the keyframe (s)",
    "end_s": "videos: end of the narration window (s)",
    "frame_s": "videos: time of the keyframe (s)",
    "dataset": "dataset images: the dataset",
    "dataset_row": "dataset images: the row of the dataset's metadata CSV (1 = first data row)",
    "image_url": "the URL the image was downloaded from, when it was",
}

_BUILT = """\
Built by the derm1m pipeline: items collected from YouTube videos, PubMed Central articles, forum posts,
PDF textbooks/slides and public datasets; keyframes and speech (ASR) from videos, figures and subfigures
with their captions from articles and PDFs; images filtered by type and quality and deduplicated
(near-duplicate clusters), forum text scrubbed of personal details; each image paired with its narration,
caption or post; labels (diagnosis, concepts, body site, symptoms, age, gender) read by an LLM and resolved
onto the project's ontology, with captions rewritten from them. The split keeps every pair of one source
item and one near-duplicate cluster on the same side, so validation images are unseen in training."""

_LICENCE = """\
**Licence caveat.** This corpus mixes sources with different terms: open-access articles (CC BY, CC BY-NC,
...), YouTube videos (standard YouTube licence unless the uploader chose Creative Commons), forum posts
(the forum's terms) and whatever licence the collected datasets and PDFs carry. Each pair keeps the licence
of its source item in the `licence` column (with `licence_text`, as stated) and its provenance (`source_url`,
`source_id`, `locator`, timestamps, page, dataset row). Check those terms before you redistribute or train
a commercial model; unless the header names one licence, `license: other` means "per item"."""

_PROFILES = {
    "open": "CC0, public domain, CC BY and CC BY-SA only",
    "research": (
        "CC0, public domain, CC BY, CC BY-SA, CC BY-NC and CC BY-NC-SA (non-commercial research use; "
        "NoDerivatives licences are out because the corpus is made of crops and keyframes)"
    ),
    "private": "every licence: for use inside the group that built it, not for redistribution",
}


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < bound:
            return name
    return "10M<n<100M"


def _hf_licence(release: Mapping[str, Any] | None) -> str:
    """The Hub's licence id when every pair has one Creative Commons licence, else `other` (per item)."""
    licences = list((release or {}).get("licences", {}))
    if len(licences) == 1 and licences[0].startswith("CC"):
        return str(licences[0]).lower()
    return "other"


def _header(splits: Mapping[str, ParquetSplit], columns: list[str], title: str,
            release: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    total = sum(s.n_rows for s in splits.values())
    splits = {s: p for s, p in splits.items() if p.files}  # an empty split has no file to name
    features = [{"name": "image", "dtype": "image"}] + [{"name": c, "dtype": "string"} for c in columns]
    meta = {
        "pretty_name": title,
        "license": _hf_licence(release),
        **({"license_name": "per-item"} if _hf_licence(release) == "other" else {}),
        "language": ["en"],
        "task_categories": ["zero-shot-image-classification", "image-to-text", "image-classification"],
        "tags": ["medical", "dermatology", "clip", "image-text"],
        "size_categories": [_size_category(total)],
        "configs": [{"config_name": "default", "data_files": [
            {"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}],  # fmt: skip
        "dataset_info": {
            "features": features,
            "splits": [{"name": s, "num_bytes": p.n_bytes, "num_examples": p.n_rows} for s, p in splits.items()],
        },
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


_TAIL = """
## Files

- `data/{{split}}-NNNNN-of-NNNNN.parquet`: one row per pair, the image bytes inside (this card's configs)
- `{{split}}.csv` + `images/`: Derm1M's CSV layout; `{{split}}_captions.json`: every caption kind per image
- `shards/{{split}}-NNNNNN.tar`: WebDataset, one sample per image (`jpg`/`png`, `txt`, `json`);
  `shards/sizes.json` holds each shard's sample count, which open_clip's trainer reads

## Loading

```python
from datasets import load_dataset
ds = load_dataset("path/to/export")
# or: load_dataset("parquet", data_files={{"train": "path/to/export/data/train-*.parquet"}})
ds["train"][0]["image"]  # a PIL image
```

Training with open_clip on the shards (no `--train-num-samples` needed, sizes.json gives it):

```
python -m open_clip_train.main --dataset-type webdataset --train-data "{train_shards}" ...
```

## How it was built

{built}

## Known limitations

- Labels are read by an LLM from the paired text, not by a dermatologist; blank means not stated.
- Captions from narration and forum posts are noisier than figure captions.
- Age, sex and skin tone come only from the text and are often missing.
"""


def _brace_range(names: list[str]) -> str:
    """``shards/train-{000000..000003}.tar`` for open_clip's braceexpand of consecutive shard names."""
    if not names:
        return "shards/train-000000.tar"
    first, last = sorted(names)[0], sorted(names)[-1]
    prefix, a, b = first.rsplit("-", 1)[0], first.rsplit("-", 1)[1][:-4], last.rsplit("-", 1)[1][:-4]
    return f"shards/{first}" if a == b else f"shards/{prefix}-{{{a}..{b}}}.tar"


def _table(title: str, head: list[str], rows: list[list[object]]) -> list[str]:
    return ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]  # fmt: skip


def _share(n: int, total: int) -> str:
    return f"{100 * n / max(total, 1):.1f} %"


def _release_section(release: Mapping[str, Any]) -> list[str]:
    """What the release profile admitted and the pairs it left out, by reason and licence."""
    profile = str(release.get("release", ""))
    lines = ["", "## Release", "", f"Release profile `{profile}`: {_PROFILES.get(profile, profile)}."]
    excluded = release.get("excluded") or {}
    if not excluded:
        return [*lines, "", "No pair was left out."]
    rows = [[reason, lic, n] for reason, by in excluded.items() for lic, n in by.items()]
    lines += _table("Pairs left out", ["reason", "licence", "pairs"], rows)
    if release.get("reference"):
        lines += ["", f"The pairs left out for their licence are listed in `{release['reference']}` (source URL "
                  "or id, timestamps, page or figure, the image's sha256, caption and labels, no image): "
                  "`derm1m rehydrate` rebuilds their images from the sources and checks the hashes."]  # fmt: skip
    return lines


def write_card(
    out_dir: Path, splits: Mapping[str, ParquetSplit], n_images: Mapping[str, int], columns: list[str],
    shard_sizes: Mapping[str, int], title: str = "Derm1M-style dermatology image-text corpus",
    release: Mapping[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Write ``out_dir/README.md``: the YAML header (configs per split, licence, sizes) and the card;
    ``release`` is export.py's release.json (profile, licence mix, exclusions)."""
    total = sum(s.n_rows for s in splits.values())
    lines = [_header(splits, columns, title, release), f"# {title}", "",
             "Dermatology image-text pairs in the layout of Derm1M (CSVs + an image folder), as Parquet for "
             "`datasets`, and as WebDataset shards for open_clip-style training.", "", _LICENCE]  # fmt: skip
    lines += _table("Splits", ["split", "pairs", "images", "Parquet files"],
                    [[s, p.n_rows, n_images.get(s, 0), len(p.files)] for s, p in splits.items()])  # fmt: skip
    for col in ("source", "source_type", "licence"):
        mixed: Counter[str] = sum((p.counts.get(col, Counter()) for p in splits.values()), Counter())
        if mixed:
            rows = [[v, n, _share(n, total)] for v, n in mixed.most_common()]
            lines += _table(f"Pairs by {col}", [col, "pairs", "share"], rows)
    if release is not None:
        lines += _release_section(release)
    filled: Counter[str] = sum((p.filled for p in splits.values()), Counter())
    rows = [["image", _share(total, total), COLUMN_DOCS["image"]]]
    rows += [[c, _share(filled[c], total), COLUMN_DOCS.get(c, "")] for c in columns]
    lines += _table("Columns", ["column", "filled", "meaning"], rows)
    train_shards = _brace_range([n for n in shard_sizes if n.startswith("train-")])
    lines.append(_TAIL.format(train_shards=train_shards, built=_BUILT))
    path = Path(out_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
