"""Column mappings for public dermatology datasets, as `DatasetSourceConfig` presets.

The datasets themselves are not redistributable: download them from their owners, point `path` at the
folder, and paste the printed YAML into a profile (`python -m pipeline.collect.presets ham10000 PATH`).
Column names follow each dataset's published metadata file; label maps turn codes into ontology names and
are pipeline/vocab/datasets.py's, the ones the train stage's external evaluation of the same datasets uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from pipeline.config import DatasetSourceConfig
from pipeline.vocab.datasets import LABEL_MAPS

PRESETS: dict[str, dict[str, object]] = {
    # HAM10000 (Harvard Dataverse, CC BY-NC 4.0): HAM10000_metadata.csv; put both image parts in images/
    "ham10000": {
        "csv": "HAM10000_metadata.csv", "image_dir": "images", "image_column": "image_id", "image_suffix": ".jpg",
        "label_column": "dx",
        "label_map": LABEL_MAPS["ham10000"],
        "extra_columns": {"age": "age", "sex": "sex", "site": "localization"},
        "modality": "dermoscopy image", "licence": "CC BY-NC 4.0",
    },
    # Fitzpatrick17k (github.com/mattgroh/fitzpatrick17k): fitzpatrick17k.csv; images saved as <md5hash>.jpg
    "fitzpatrick17k": {
        "csv": "fitzpatrick17k.csv", "image_dir": "images", "image_column": "md5hash", "image_suffix": ".jpg",
        "label_column": "label", "label_map": LABEL_MAPS["fitzpatrick17k"],
        "extra_columns": {"skin_type": "fitzpatrick_scale"},
        "modality": "clinical image", "licence": "CC BY-NC-SA 3.0 (images from DermaAmin and Atlas Dermatologico)",
    },
    # DDI, Diverse Dermatology Images (Stanford AIMI, research-use agreement): ddi_metadata.csv, files named
    # in DDI_file (with extension) next to the CSV
    "ddi": {
        "csv": "ddi_metadata.csv", "image_dir": ".", "image_column": "DDI_file", "image_suffix": "",
        "label_column": "disease", "label_map": LABEL_MAPS["ddi"],
        "extra_columns": {"skin_type": "skin_tone", "malignant": "malignant"},
        "modality": "clinical image", "licence": "Stanford DDI research use agreement",
    },
    # PAD-UFES-20 (Mendeley Data, CC BY 4.0): metadata.csv, smartphone images named in img_id
    "pad-ufes-20": {
        "csv": "metadata.csv", "image_dir": "images", "image_column": "img_id", "image_suffix": "",
        "label_column": "diagnostic",
        "label_map": LABEL_MAPS["pad-ufes-20"],
        "extra_columns": {"age": "age", "sex": "gender", "site": "region", "skin_type": "fitspatrick"},
        "modality": "clinical image", "licence": "CC BY 4.0",
    },
}


def preset(name: str, path: str | Path, **overrides: object) -> DatasetSourceConfig:
    """A dataset source for `name` (one of PRESETS) stored at `path`; keyword overrides win."""
    key = name.lower()
    if key not in PRESETS:
        raise KeyError(f"unknown dataset preset {name!r}; known: {', '.join(PRESETS)}")
    return DatasetSourceConfig.model_validate({"name": key, "path": Path(path), **PRESETS[key], **overrides})


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m pipeline.collect.presets {" + ",".join(PRESETS) + "} PATH", file=sys.stderr)
        return 2
    print(yaml.safe_dump([preset(args[0], args[1]).model_dump(mode="json")], sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
