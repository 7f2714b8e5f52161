"""The export keeps one row per (image, caption) and says which pairs it left out (pipeline/train/jobs.py)."""

from __future__ import annotations

from pipeline.train.export import ExportRow
from pipeline.train.jobs import drop_repeated_pairs


def test_repeated_pairs_are_excluded_with_the_kept_pair_named() -> None:
    rows = [ExportRow(pair_id="b", image_id="img1", image_path="x.jpg", cluster_id="img1", group_id="ds:2", caption="Dermoscopy of melanoma."),
            ExportRow(pair_id="a", image_id="img1", image_path="x.jpg", cluster_id="img1", group_id="ds:1", caption="Dermoscopy of  melanoma."),
            ExportRow(pair_id="c", image_id="img1", image_path="x.jpg", cluster_id="img1", group_id="ds:3", caption="Another caption."),
            ExportRow(pair_id="d", image_id="img2", image_path="x.jpg", cluster_id="img2", group_id="ds:4", caption="Dermoscopy of melanoma.")]
    kept, dropped = drop_repeated_pairs(rows)
    assert [r.pair_id for r in kept] == ["a", "c", "d"]
    assert [(e.pair_id, e.reason, e.detail) for e in dropped] == [
        ("b", "repeated_pair", "same image and caption as a")]
