"""Licence and provenance gates of the export (issue 16): licence ids, the open / research / private
profiles, licences the user states, what the export, release.json, the card and the release by reference
say about the pairs left out, and the train stage's fingerprint following the profile."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.config import ImageConfig, RunConfig, TrainConfig
from pipeline.errors import ConfigError
from pipeline.media import MediaStore, normalise_image
from pipeline.train.jobs import export_corpus
from pipeline.train.release import ReleasePolicy, admits, normalise_licence

# (what a source stated, item kind, item URL) -> the id the export carries
LICENCES = {
    "https://creativecommons.org/licenses/by/4.0/": "CC-BY-4.0",
    "http://creativecommons.org/licenses/by-nc-sa/3.0/igo/": "CC-BY-NC-SA-3.0",
    "https://creativecommons.org/licenses/by-nc-nd/4.0/legalcode": "CC-BY-NC-ND-4.0",
    "https://creativecommons.org/publicdomain/zero/1.0/": "CC0-1.0",
    "Creative Commons Attribution license (reuse allowed)": "CC-BY-3.0",  # yt-dlp's text for YouTube's CC
    "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International": "CC-BY-NC-SA-4.0",
    "CC BY-NC 4.0": "CC-BY-NC-4.0",
    "CC BY-NC-SA 3.0 (images from DermaAmin and Atlas Dermatologico)": "CC-BY-NC-SA-3.0",
    "CC0-1.0 (project-made sample)": "CC0-1.0",
    "cc-by-sa-4.0": "CC-BY-SA-4.0",
    "CC BY 4": "CC-BY-4.0",
    "Public Domain": "PDM-1.0",
    "Reddit user content (Reddit User Agreement)": "forum-terms",
    "Standard YouTube License": "youtube-standard",
    "Stanford DDI research use agreement": "proprietary",
    "© 2021 Springer. All rights reserved.": "proprietary",
    "open-access": "unknown",
    "": "unknown",
}


@pytest.mark.parametrize(("text", "expected"), list(LICENCES.items()))
def test_licence_texts_become_ids(text: str, expected: str) -> None:
    assert normalise_licence(text) == expected


@pytest.mark.parametrize(
    ("licence", "open_", "research", "private"),
    [("CC0-1.0", True, True, True), ("PDM-1.0", True, True, True), ("CC-BY-4.0", True, True, True),
     ("CC-BY-SA-3.0", True, True, True), ("CC-BY-NC-4.0", False, True, True),
     ("CC-BY-NC-SA-3.0", False, True, True), ("CC-BY-ND-4.0", False, False, True),
     ("CC-BY-NC-ND-4.0", False, False, True), ("youtube-standard", False, False, True),
     ("forum-terms", False, False, True), ("proprietary", False, False, True), ("unknown", False, False, True)],
)  # fmt: skip
def test_profiles_admit(licence: str, open_: bool, research: bool, private: bool) -> None:
    assert (admits("open", licence), admits("research", licence), admits("private", licence)) == (
        open_, research, private)  # fmt: skip


def _image(tmp: Path, i: int) -> tuple[str, Path]:
    """A stored image as preprocess stores it: (sha256 image id, media store path)."""
    rgb = np.random.default_rng(i).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    img = normalise_image(Image.fromarray(rgb), ImageConfig())
    return img.sha256, Path(MediaStore(tmp / "media").put(img))


# one corpus row per source kind, as v_export_provenance + jobs.corpus_rows give them
KINDS: list[dict[str, Any]] = [
    {"item_kind": "article", "source": "pubmed_english", "source_id": "PMC1", "pmcid": "PMC1", "locator": "f2",
     "article_licence": "https://creativecommons.org/licenses/by/4.0/", "src": "jats/PMC1.xml"},
    {"item_kind": "article", "source": "pubmed_english", "source_id": "PMC2", "pmcid": "PMC2", "locator": "f1",
     "article_licence": "https://creativecommons.org/licenses/by-nc/4.0/", "src": "jats/PMC2.xml"},
    {"item_kind": "article", "source": "pubmed_english", "source_id": "PMC3", "pmcid": "PMC3", "locator": "f1/p1",
     "article_licence": "https://creativecommons.org/licenses/by-nd/4.0/", "src": "jats/PMC3.xml"},
    {"item_kind": "video", "source": "youtube", "source_id": "vidA", "locator": "scene0003", "start_s": 4.0,
     "end_s": 9.5, "frame_s": 6.25, "source_url": "https://www.youtube.com/watch?v=vidA", "src": "videos/vidA.mp4"},
    {"item_kind": "video", "source": "youtube", "source_id": "vidB", "locator": "scene0001", "start_s": 0.0,
     "end_s": 3.0, "frame_s": 1.5, "source_url": "https://www.youtube.com/watch?v=vidB",
     "collected_licence": "Creative Commons Attribution license (reuse allowed)", "src": "videos/vidB.mp4"},
    {"item_kind": "post", "source": "reddit_english", "source_id": "t3_x", "locator": "x_1.jpg",
     "source_url": "https://www.reddit.com/r/a/comments/x/", "image_url": "https://i.redd.it/x_1.jpg",
     "src": "forums/images/x_1.jpg"},
    {"item_kind": "pdf", "source": "textbook_english", "source_id": "atlas", "locator": "p3/1", "page": "3",
     "src": "pdfs/atlas.pdf"},
    {"item_kind": "dataset_image", "source": "public", "source_id": "ham:ISIC_1", "dataset": "ham",
     "dataset_row": "7", "collected_licence": "CC BY-NC 4.0", "locator": "ISIC_1.jpg", "src": "ham/ISIC_1.jpg"},
]  # fmt: skip


def corpus(tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for i, k in enumerate(KINDS):
        image_id, path = _image(tmp, i)
        item = f"{k['item_kind']}:{k['source_id']}"
        rows.append({
            "pair_id": f"{item}#{k['locator']}", "image_id": image_id, "image_path": str(path), "group_id": item,
            "cluster_id": "", "source": k["source"], "source_type": "knowledge", "caption": f"raw caption {i}",
            "refined_caption": f"refined caption {i}", "truncated_caption": f"refined {i}", "ontology_caption": None,
            "concept_caption": None, "disease_label": "psoriasis", "hierarchical_disease_label": "inflammatory",
            "skin_concept": "plaque", "body_location": "elbow", "symptoms": "", "age": "", "gender": "",
            **{c: v for c, v in k.items() if c != "src"}, "source_file": str(tmp / "sources" / k["src"]),
        })  # fmt: skip
    return rows


def export(tmp: Path, release: str, stated: dict[str, str] | None = None):
    policy = ReleasePolicy(release, stated or {}, tmp / "sources")
    return export_corpus(corpus(tmp), TrainConfig(val_fraction=0.3), tmp / f"export-{release}", None, policy)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _exported(out: Path) -> dict[str, dict[str, str]]:
    return {
        r["source_id"] + "#" + r["locator"]: r
        for s in ("train", "validation")
        for r in _csv(out / f"{s}.csv")
    }


@pytest.mark.parametrize(
    ("release", "kept"),
    [("open", {"PMC1#f2", "vidB#scene0001"}),
     ("research", {"PMC1#f2", "vidB#scene0001", "PMC2#f1", "ham:ISIC_1#ISIC_1.jpg"}),
     ("private", {"PMC1#f2", "vidB#scene0001", "PMC2#f1", "ham:ISIC_1#ISIC_1.jpg", "PMC3#f1/p1",
                  "vidA#scene0003", "t3_x#x_1.jpg", "atlas#p3/1"})],
)  # fmt: skip
def test_each_profile_exports_only_what_it_admits(tmp_path: Path, release: str, kept: set[str]) -> None:
    e = export(tmp_path, release)
    out = e.manifest.out_dir
    rows = _exported(out)
    assert set(rows) == kept
    assert all(admits(release, r["licence"]) for r in rows.values())
    left = {x.pair_id.split(":", 1)[1] for x in e.exclusions or []}
    assert len(left) + len(kept) == len(KINDS) and not left & {k.split("#")[0] for k in kept}
    # the counts by reason and licence: manifest, release.json, card
    summary = json.loads((out / "release.json").read_text())
    assert summary["release"] == release and summary["pairs"] == len(kept)
    assert e.manifest.excluded == summary["excluded"]
    assert sum(summary["excluded"].get("licence_excluded", {}).values()) == len(KINDS) - len(kept)
    card = (out / "README.md").read_text()
    assert f"Release profile `{release}`" in card
    for licence, n in summary["excluded"].get("licence_excluded", {}).items():
        assert f"| licence_excluded | {licence} | {n} |" in card
    # the Parquet and the WebDataset json carry the same licence per pair
    table = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    by_pair = {r["pair_id"]: r for r in table}
    assert {r["pair_id"]: r["licence"] for r in table} == {
        f"{k['item_kind']}:{k['source_id']}#{k['locator']}": rows[f"{k['source_id']}#{k['locator']}"]["licence"]
        for k in KINDS if f"{k['source_id']}#{k['locator']}" in rows}  # fmt: skip
    # so do the WebDataset samples' json, with the provenance
    samples = []
    for shard in e.manifest.shards:
        with tarfile.open(shard) as tar:
            samples += [json.loads(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")]  # type: ignore[union-attr]
    in_shards = {p["pair_id"]: p for sample in samples for p in sample["pairs"]}
    assert set(in_shards) == set(by_pair)
    for pair_id, p in in_shards.items():
        row = by_pair[pair_id]
        assert all(
            p[c] == row[c] for c in ("licence", "source_url", "source_id", "locator", "start_s", "page")
        )
    # the release by reference lists exactly the pairs left out, with the exported image's sha256
    ref = e.manifest.reference
    if release == "private":
        assert ref is None and not (out / "reference").exists()
    else:
        assert ref is not None
        listed = pq.read_table(ref).to_pylist()
        assert {r["source_id"] + "#" + r["locator"] for r in listed} == {
            f"{k['source_id']}#{k['locator']}" for k in KINDS} - kept  # fmt: skip
        assert all(r["split"] in ("train", "validation") and len(r["sha256"]) == 64 for r in listed)
        assert all(not r["source_file"].startswith("/") for r in listed)  # relative to the profile root


def test_provenance_columns_by_source_kind(tmp_path: Path) -> None:
    rows = _exported(export(tmp_path, "private").manifest.out_dir)
    video, post, pdf = rows["vidA#scene0003"], rows["t3_x#x_1.jpg"], rows["atlas#p3/1"]
    assert (video["licence"], video["source_url"]) == (
        "youtube-standard",
        "https://www.youtube.com/watch?v=vidA",
    )
    assert (video["start_s"], video["end_s"], video["frame_s"]) == ("4", "9.5", "6.25")
    assert (post["licence"], post["image_url"]) == ("forum-terms", "https://i.redd.it/x_1.jpg")
    assert (pdf["licence"], pdf["page"], pdf["locator"]) == ("proprietary", "3", "p3/1")
    article = rows["PMC3#f1/p1"]
    assert (article["licence"], article["licence_text"]) == (
        "CC-BY-ND-4.0",
        "https://creativecommons.org/licenses/by-nd/4.0/",
    )
    assert article["source_url"] == "https://pmc.ncbi.nlm.nih.gov/articles/PMC3/"
    ds = rows["ham:ISIC_1#ISIC_1.jpg"]
    assert (ds["licence"], ds["dataset"], ds["dataset_row"]) == ("CC-BY-NC-4.0", "ham", "7")
    assert "source_file" not in ds  # local paths stay out of the released tables


def test_stated_licences_override_by_folder_dataset_and_source(tmp_path: Path) -> None:
    stated = {"pdfs": "CC BY 4.0", "reddit_english": "CC0-1.0", "ham": "CC-BY-SA-4.0"}
    rows = _exported(export(tmp_path, "open", stated).manifest.out_dir)
    assert rows["atlas#p3/1"]["licence"] == "CC-BY-4.0" and rows["atlas#p3/1"]["licence_text"] == ""
    assert rows["t3_x#x_1.jpg"]["licence"] == "CC0-1.0"
    assert rows["ham:ISIC_1#ISIC_1.jpg"]["licence"] == "CC-BY-SA-4.0"
    assert rows["ham:ISIC_1#ISIC_1.jpg"]["licence_text"] == "CC BY-NC 4.0"  # what the source said stays


def test_a_stated_licence_nothing_matches_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no licence recognised"):
        ReleasePolicy("research", {"pdfs": "ask the author"})
    with pytest.raises(ConfigError, match="unknown profile"):
        ReleasePolicy("public")


def test_a_pair_keeps_its_split_whatever_the_profile(tmp_path: Path) -> None:
    private = export(tmp_path, "private").splits
    research = export(tmp_path, "research")
    assert all(private[p] == s for p, s in research.splits.items())
    listed = pq.read_table(research.manifest.reference).to_pylist()
    assert all(private[r["pair_id"]] == r["split"] for r in listed)


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    first = export(tmp_path, "research").manifest
    before = {p: p.read_bytes() for p in [*first.csv_paths.values(), first.reference, first.release_json]}
    export(tmp_path, "research")
    assert all(p.read_bytes() == b for p, b in before.items())


def test_the_train_stage_fingerprint_follows_the_release_profile() -> None:
    from pipeline.train.stage import TrainStage

    hashes = {r: TrainStage(RunConfig.model_validate({"export": {"release": r}})).kind_hash("export")
              for r in ("open", "research", "private")}  # fmt: skip
    assert len(set(hashes.values())) == 3
    stated = RunConfig.model_validate({"export": {"licences": {"pdfs": "CC-BY-4.0"}}})
    assert TrainStage(stated).kind_hash("export") != hashes["research"]


ROCO = {"CC BY": "CC-BY", "CC BY-NC-SA": "CC-BY-NC-SA", "CC BY-NC-ND": "CC-BY-NC-ND", "CC BY-NC": "CC-BY-NC",
        "NO-CC CODE": "unknown", "CC0": "CC0-1.0", "CC BY-ND": "CC-BY-ND", "CC BY-SA": "CC-BY-SA"}  # fmt: skip
JATS = {"1471-2180-11-174.nxml": "CC-BY-2.0", "ehp-116-1694.nxml": "PDM-1.0", "mds526.nxml": "CC-BY-NC-3.0",
        "PMC10777901.xml": "CC-BY-4.0", "journal.pntd.0001041.xml": "CC-BY", "pone.0000217.nxml": "unknown"}  # fmt: skip


def test_real_licence_labels_and_jats_licences() -> None:
    """ROCO's per-figure licence labels of 4,895 real PMC figures, and the <license> of real JATS articles
    (public domain mark, CC BY 2.0 URLs, NC, prose with no URL, none at all), as the export reads them."""
    from conftest import require_fixture

    from pipeline.formats.jats import parse_jats

    with open(require_fixture("captions", "roco_train", "licences.txt"), newline="") as fh:
        labels = [r["CC"] for r in csv.DictReader(fh)]
    assert len(labels) > 4000 and set(labels) <= set(ROCO)
    assert all(normalise_licence(t) == ROCO[t] for t in set(labels))
    for name, expected in JATS.items():
        article = parse_jats(require_fixture("jats", name).read_bytes())
        assert normalise_licence(article.licence) == expected, (name, article.licence)
