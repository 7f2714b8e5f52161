"""The report's example grid: a few pairs of the latest export's train split, each a small thumbnail embedded
as a data URI (the report stays one file) with its caption, label, source and licence (as
the source stated it).

Why the filters: an example is the one place the report shows an image, so it shows only what the export
may ship: a pair of the train split that the export did not leave out, whose image (the de-identified copy
the pair uses, or the original) no de-identification decision rejected and no takedown removed (item, image
or pair). Pairs are spread over conditions and sources (one per condition first) and one per image.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
from PIL import Image

from pipeline import storage
from pipeline.errors import ItemError
from pipeline.media import decode_image

MAX_EXAMPLES = 12
THUMB_PX = 160  # longest side; JPEG q70: about 4-8 KB per example
MAX_PIXELS = 60_000_000
CAPTION_CHARS = 160

_EXAMPLES_SQL = """
WITH latest AS (SELECT export_id, out_dir FROM train_exports ORDER BY created_at DESC, export_id LIMIT 1),
candidates AS (
    SELECT s.pair_id, s.filename, l.out_dir, img.path AS image_path, p.source, p.image_id,
           coalesce(nullif(a.caption, ''), p.text) AS caption, coalesce(a.disease_label, '') AS label,
           coalesce(c.licence, json_extract_string(pi.meta, '$.licence'), 'unknown') AS licence
    FROM train_splits s
    JOIN latest l USING (export_id)
    JOIN pair_image_texts p USING (pair_id)
    LEFT JOIN augment_captions a USING (pair_id)
    LEFT JOIN preprocess_images img ON img.image_id = p.image_id
    LEFT JOIN collect_items c ON c.item_id = p.item_id
    LEFT JOIN preprocess_items pi ON pi.item_id = p.item_id
    WHERE s.split = 'train'
      AND NOT EXISTS (SELECT 1 FROM train_export_exclusions e WHERE e.export_id = s.export_id AND e.pair_id = s.pair_id)
      AND NOT EXISTS (SELECT 1 FROM clean_deid d WHERE d.action = 'rejected'
                      AND d.image_id IN (p.image_id, p.source_image_id))
      AND NOT EXISTS (SELECT 1 FROM takedown_removals t
                      WHERE (t.what = 'pair' AND t.key = p.pair_id)
                         OR (t.what = 'image' AND t.key IN (p.image_id, p.source_image_id))
                         OR (t.what = 'item' AND t.key = p.item_id))
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY image_id ORDER BY pair_id) AS per_image,
              row_number() OVER (PARTITION BY label ORDER BY pair_id) AS per_label,
              row_number() OVER (PARTITION BY source ORDER BY pair_id) AS per_source
    FROM candidates
)
SELECT pair_id, filename, out_dir, image_path, source, caption, label, licence
FROM ranked WHERE per_image = 1 ORDER BY per_label, per_source, pair_id
"""


@dataclass
class Example:
    pair_id: str
    data_uri: str
    caption: str
    label: str
    source: str
    licence: str


def thumbnail_uri(data: bytes, px: int = THUMB_PX) -> str:
    """A JPEG data URI of the image shrunk to px on its longest side (raises ItemError if undecodable)."""
    img = decode_image(data, MAX_PIXELS).convert("RGB")
    img.thumbnail((px, px), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _read(image_path: str | None, out_dir: str, filename: str) -> bytes | None:
    """The pair's stored image, else the file the export wrote; None when neither can be read."""
    for location in (image_path, storage.join(out_dir, filename) if out_dir and filename else None):
        if not location:
            continue
        try:
            return storage.read_bytes(location if storage.is_remote(location) else Path(location))
        except (OSError, ValueError):
            continue
    return None


def examples(con: duckdb.DuckDBPyConnection, limit: int = MAX_EXAMPLES) -> list[Example]:
    """Up to `limit` shippable train pairs with their thumbnails; unreadable images are passed over."""
    out: list[Example] = []
    for pair_id, filename, out_dir, image_path, source, caption, label, licence in con.execute(
            _EXAMPLES_SQL).fetchall():  # fmt: skip
        if len(out) >= limit:
            break
        data = _read(image_path, str(out_dir or ""), str(filename or ""))
        if data is None:
            continue
        try:
            uri = thumbnail_uri(data)
        except ItemError:
            continue
        text = " ".join(str(caption or "").split())
        text = text if len(text) <= CAPTION_CHARS else text[: CAPTION_CHARS - 1].rstrip() + "…"
        out.append(Example(str(pair_id), uri, text, str(label), str(source), str(licence)))
    return out


def render_grid(items: list[Example]) -> str:
    """The examples as an HTML grid of figures (thumbnail, caption, label / source / licence)."""
    if not items:
        return (
            "<p class='note'>No examples: the latest export has no train pair that may be shown and whose "
            "image can be read.</p>"
        )
    cells = []
    for e in items:
        meta = " · ".join(html.escape(v) for v in (e.label, e.source, e.licence) if v)
        cells.append(f"<figure class='ex'><img src='{e.data_uri}' alt='{html.escape(e.label or 'example')}' "
                     f"loading='lazy'><figcaption>{html.escape(e.caption)}<br><small>{meta}</small>"
                     "</figcaption></figure>")  # fmt: skip
    return "<div class='examples'>" + "".join(cells) + "</div>"
