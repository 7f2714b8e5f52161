"""Takedowns and retractions (pipeline/takedowns.py): removal of an item and all it produced, near-copies too,
recorded with the reason, and kept out of later builds and the export."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline import takedowns
from pipeline.errors import ConfigError
from pipeline.warehouse import connect, insert_rows

T0 = "2026-01-01 00:00:00"


def _item(item_id: str, source_id: str, url: str | None = None) -> dict:
    return {"item_id": item_id, "unit_key": item_id, "run_id": "r0", "kind": "post", "source": "reddit",
            "source_type": "forum", "source_id": source_id, "url": url, "path": "x", "sha256": f"file-{item_id}",
            "retrieved_at": T0}  # fmt: skip


def _image(con, image_id: str, item_id: str, canonical: str, path: Path) -> None:
    path.write_bytes(b"jpeg")
    insert_rows(con, "preprocess_images", [{"image_id": image_id, "path": str(path), "width": 1, "height": 1,
                                            "ext": "jpg", "bytes": 4}])  # fmt: skip
    insert_rows(con, "preprocess_image_refs", [{"ref_id": f"{item_id}#{image_id}", "unit_key": item_id,
                                                "item_id": item_id, "image_id": image_id, "run_id": "r0",
                                                "kind": "post_image", "locator": image_id}])  # fmt: skip
    insert_rows(con, "clean_clusters", [{"image_id": image_id, "scores_run_id": "r0", "status": "kept",
                                         "canonical_id": canonical, "hamming": 0, "run_id": "r0"}])  # fmt: skip


def _pair(con, pair_id: str, item_id: str, image_id: str, cluster: str) -> None:
    insert_rows(con, "pair_image_texts", [
        {"pair_id": pair_id, "unit_key": item_id, "run_id": "r0", "item_id": item_id, "image_id": image_id,
         "source_image_id": image_id, "cluster_id": cluster, "kind": "post_text", "source": "reddit",
         "source_type": "forum", "text": "a rash", "align_score": 1.0}])  # fmt: skip
    insert_rows(con, "augment_captions", [
        {"pair_id": pair_id, "unit_key": pair_id, "run_id": "r0", "method": "lexical", "ontology_version": "v",
         "caption": "a rash", "truncated_caption": "a rash", "refined_caption": "a rash", "disease_label": "x",
         "hierarchical_disease_label": "x", "skin_concept": "x", "body_location": "x", "symptoms": "x", "age": "x",
         "gender": "x", "skin_tone": "x"}])  # fmt: skip


@pytest.fixture
def wh(tmp_path: Path):
    con = connect(tmp_path / "w.duckdb")
    insert_rows(con, "collect_items", [_item("post:a", "t3_a", "https://reddit.com/a"), _item("post:b", "t3_b"),
                                       _item("post:c", "t3_c")])  # fmt: skip
    _image(con, "img_a", "post:a", "img_a", tmp_path / "a.jpg")
    _image(con, "img_b", "post:b", "img_b", tmp_path / "b.jpg")
    _image(con, "img_c", "post:c", "img_a", tmp_path / "c.jpg")  # a near-copy of post a's picture, reposted
    for p, item, img, cluster in (("pa", "post:a", "img_a", "img_a"), ("pb", "post:b", "img_b", "img_b"),
                                  ("pc", "post:c", "img_c", "img_a")):
        _pair(con, p, item, img, cluster)
    yield con, tmp_path
    con.close()


def pairs(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT pair_id FROM pair_image_texts").fetchall()}


def test_an_owner_request_removes_the_item_its_image_and_near_copies(wh) -> None:
    con, tmp = wh
    takedowns.sync_requests(con, [takedowns.TakedownRequest("url", "https://reddit.com/a", "owner request")])
    removed = takedowns.purge(con, "r1")
    assert pairs(con) == {"pb"}  # post a, and post c's repost of its picture
    assert removed["collect_items"] == 1 and removed["augment_captions"] == 2
    assert con.execute("SELECT count(*) FROM augment_captions").fetchone()[0] == 1
    rows = con.execute("SELECT what, key, via, reason FROM takedown_removals ORDER BY what, key").fetchall()
    assert rows == [("image", "img_a", "item", "owner request"), ("item", "post:a", "direct", "owner request"),
                    ("pair", "pa", "item", "owner request"), ("pair", "pc", "near_duplicate", "owner request")]
    assert not (tmp / "a.jpg").exists() and (tmp / "c.jpg").exists()  # the taken-down file is gone
    assert con.execute("SELECT reason FROM rejects WHERE item_id = 'post:a'").fetchall() == [("taken_down",)]
    # the kept hashes: the removed image's cluster row stays, so later copies are caught
    assert con.execute("SELECT count(*) FROM clean_clusters WHERE image_id = 'img_a'").fetchone()[0] == 1
    assert takedowns.purge(con, "r2") == {}  # idempotent
    assert con.execute("SELECT count(*) FROM takedown_removals").fetchone()[0] == 4


def test_a_later_copy_is_removed_even_after_the_request_is_dropped(wh) -> None:
    con, tmp = wh
    takedowns.sync_requests(con, [takedowns.TakedownRequest("id", "t3_a", "retracted")])
    takedowns.purge(con)
    takedowns.sync_requests(con, [])  # the file no longer lists it
    insert_rows(con, "collect_items", [_item("post:d", "t3_d")])
    _image(con, "img_d", "post:d", "img_a", tmp / "d.jpg")  # a new repost, clustered with the removed picture
    _pair(con, "pd", "post:d", "img_d", "img_a")
    takedowns.purge(con)
    assert pairs(con) == {"pb"}
    assert con.execute("SELECT via FROM takedown_removals WHERE key = 'pd'").fetchone()[0] == "near_duplicate"


def test_sha256_of_an_image_and_retracted_article_ids(wh) -> None:
    con, _ = wh
    takedowns.sync_requests(con, [takedowns.TakedownRequest("sha256", "img_b", "identifiable face")])
    takedowns.purge(con)
    assert pairs(con) == {"pa", "pc"}
    assert con.execute("SELECT count(*) FROM collect_items WHERE item_id = 'post:b'").fetchone()[0] == 1  # the post
    # text stays; only its picture went


def test_takedown_file_is_read_whole_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "takedowns.csv"
    path.write_text("\ufeffkind,value,reason\nid,PMC123,retracted\nurl,https://x/y,\nid,PMC123,dup\n")
    reqs = takedowns.read_requests(path)
    assert [(r.kind, r.value, r.reason) for r in reqs] == [("id", "PMC123", "dup"), ("url", "https://x/y",
                                                                                     "takedown request")]
    assert takedowns.Takedowns(reqs).match(ids=("article:PMC9", "PMC123")).reason == "dup"
    path.write_text("kind,value,reason\nid,PMC1,ok\nname,Jane,bad kind\n")
    with pytest.raises(ConfigError, match="line 3"):
        takedowns.read_requests(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="header"):
        takedowns.read_requests(path)


def test_takedown_end_to_end_on_the_sample_build(sample_build, tmp_path: Path) -> None:
    """The sample built, then a takedown list: the next build's export has none of it, and says why."""
    from flows.build import build
    from pipeline.config import load_config, resolve_paths

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path / "copy"
    shutil.copytree(sample_build["root"] / "samples", root / "samples")
    cfg = resolve_paths(load_config(repo / "configs" / "sample.yaml", base_dir=root), root)
    cfg.warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_build["snapshot"], cfg.warehouse)
    shutil.copytree(sample_build["cfg"].data_dir / "media", cfg.data_dir / "media")
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    post, article = con.execute("SELECT (SELECT source_id FROM collect_items WHERE kind = 'post' ORDER BY item_id "
                                "LIMIT 1), (SELECT source_id FROM collect_items WHERE kind = 'article' AND item_id IN "
                                "(SELECT item_id FROM pair_image_texts) ORDER BY item_id LIMIT 1)").fetchone()
    con.close()
    listing = root / "takedowns.csv"
    listing.write_text(f"kind,value,reason\nid,{post},owner request\nid,{article},retracted\n")
    cfg.takedowns = listing
    build(cfg, run_id="td1")
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    gone = {r[0] for r in con.execute("SELECT item_id FROM collect_items WHERE source_id IN (?, ?)",
                                      [post, article]).fetchall()}  # fmt: skip
    reasons = dict(con.execute("SELECT key, reason FROM takedown_removals WHERE what = 'item'").fetchall())
    exported = {r[0] for r in con.execute("SELECT DISTINCT p.item_id FROM train_splits s JOIN pair_image_texts p "
                                          "USING (pair_id)").fetchall()}  # fmt: skip
    con.close()
    assert gone == set() and set(reasons.values()) == {"owner request", "retracted"}
    assert not exported & set(reasons)
    for split in ("train", "validation"):
        with open(cfg.data_dir / "export" / f"{split}.csv", newline="") as fh:
            text = fh.read()
        assert post not in text and article not in text
    with open(cfg.data_dir / "export" / "train.csv", newline="") as fh:
        assert list(csv.reader(fh))  # the export was written again, without them


def test_a_de_identified_copy_goes_with_its_original(wh) -> None:
    con, tmp = wh
    insert_rows(con, "preprocess_images", [{"image_id": "img_a_blurred", "path": str(tmp / "ab.jpg"), "width": 1,
                                            "height": 1, "ext": "jpg", "bytes": 4}])  # fmt: skip
    (tmp / "ab.jpg").write_bytes(b"jpeg")
    insert_rows(con, "clean_deid", [{"image_id": "img_a", "unit_key": "img_a", "run_id": "r0", "action": "blurred",
                                     "out_image_id": "img_a_blurred", "n_faces": 1, "n_text_lines": 0,
                                     "face_policy": "blur", "text_policy": "mask"}])  # fmt: skip
    takedowns.sync_requests(con, [takedowns.TakedownRequest("id", "t3_a", "owner request")])
    takedowns.purge(con)
    assert not (tmp / "ab.jpg").exists()
    assert con.execute("SELECT count(*) FROM preprocess_images WHERE image_id = 'img_a_blurred'").fetchone()[0] == 0
