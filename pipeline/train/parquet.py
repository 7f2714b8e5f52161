"""The export's pairs as Hugging Face ``datasets``-ready Parquet: ``data/{split}-NNNNN-of-NNNNN.parquet``.

Why Parquet next to the CSVs and the WebDataset shards: the CSVs need the image folder beside them and the
shards are for streaming training, while most users of a released corpus call
``datasets.load_dataset`` or read a table with pyarrow/pandas/DuckDB. One row per pair (the CSV's rows,
in the same order) with the image bytes inside, so a file is self-contained.

What makes ``datasets`` decode the images: the ``image`` column has the layout of its ``Image`` feature
(struct ``{bytes, path}``) and the schema metadata carries the features under the key ``huggingface``
(``{"info": {"features": ...}}``), which ``datasets`` reads before guessing types from Arrow.

Why rows are streamed: at a million pairs the images are hundreds of GB. Rows are written in small row
groups (Hugging Face uses 100 rows for image data, so a reader seeking one row decodes few images) and a
file is closed before it would pass ``max_file_bytes`` (~500 MB, the size the Hub's viewer and
``datasets`` streaming handle well), so memory holds one row group's images at most.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["COUNTED_COLUMNS", "ParquetSplit", "arrow_schema", "hf_features", "write_split"]

MAX_FILE_BYTES = 500 * 1024**2
ROWS_PER_GROUP = 100
GROUP_BYTES = 64 * 1024**2  # a row group of big images is cut before 100 rows
COUNTED_COLUMNS = ("source", "source_type", "licence")  # their value mix goes on the dataset card

# (image file inside the export, the Image feature's ``path``, the text cells by column)
Record = tuple[Path, str, Mapping[str, str]]


def hf_features(columns: Iterable[str]) -> dict[str, Any]:
    """``datasets.Features.to_dict()`` of the table: ``image`` an Image, every other column a string."""
    return {"image": {"_type": "Image"}} | {c: {"dtype": "string", "_type": "Value"} for c in columns}


def arrow_schema(columns: Iterable[str]) -> pa.Schema:
    """The Arrow schema ``datasets`` writes for these features, with the features in its metadata."""
    columns = list(columns)
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    meta = {"huggingface": json.dumps({"info": {"features": hf_features(columns)}})}
    return pa.schema([("image", image), *((c, pa.string()) for c in columns)], metadata=meta)


@dataclass
class ParquetSplit:
    """One split's files (relative to the export folder), rows, and what the dataset card counts."""

    split: str
    files: list[str]
    n_rows: int = 0
    n_bytes: int = 0  # image bytes plus text characters written (the card's num_bytes)
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # column -> value -> rows
    filled: Counter[str] = field(default_factory=Counter)  # column -> rows with a non-empty value


class _Files:
    """Rolls ``data/{split}-NNNNN.partial`` files over by size; ``finish`` names them ``-of-`` the count."""

    def __init__(self, out_dir: Path, split: str, schema: pa.Schema, max_bytes: int) -> None:
        self.out_dir, self.split, self.schema, self.max_bytes = out_dir, split, schema, max_bytes
        self.text_columns = [f.name for f in schema if f.name != "image"]
        self.partial: list[Path] = []
        self.writer: pq.ParquetWriter | None = None
        self.bytes_in_file = 0

    def write(self, rows: list[dict[str, Any]], n_bytes: int) -> None:
        if self.writer is None or (self.bytes_in_file and self.bytes_in_file + n_bytes > self.max_bytes):
            self._open()
        assert self.writer is not None
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self.writer.write_table(table, row_group_size=len(rows) or None)
        self.bytes_in_file += n_bytes

    def _open(self) -> None:
        self.close()
        path = self.out_dir / "data" / f"{self.split}-{len(self.partial):05d}.partial"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial.append(path)
        # statistics and dictionaries help text filters; on image bytes they only cost space
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=self.text_columns,
                                       write_statistics=self.text_columns)  # fmt: skip
        self.bytes_in_file = 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> list[str]:
        """Name the files; an empty split gets none (``datasets`` fails on a Parquet file with no rows)."""
        self.close()
        names = []
        for i, path in enumerate(self.partial):
            name = f"data/{self.split}-{i:05d}-of-{len(self.partial):05d}.parquet"
            path.rename(self.out_dir / name)
            names.append(name)
        return names


def write_split(
    out_dir: Path, split: str, records: Iterable[Record], columns: list[str],
    max_file_bytes: int = MAX_FILE_BYTES, rows_per_group: int = ROWS_PER_GROUP,
) -> ParquetSplit:  # fmt: skip
    """Stream one split's records into ``out_dir/data/`` as Parquet files of at most ~max_file_bytes.

    A row group closes at ``rows_per_group`` rows or ``GROUP_BYTES``; a file closes before the next row
    group would take it past ``max_file_bytes`` (a single bigger group still gets a file of its own).
    """
    if max_file_bytes < 1 or rows_per_group < 1:
        raise ValueError("max_file_bytes and rows_per_group must be >= 1")
    files = _Files(Path(out_dir), split, arrow_schema(columns), max_file_bytes)
    result = ParquetSplit(split, [], counts={c: Counter() for c in COUNTED_COLUMNS if c in columns})
    group: list[dict[str, Any]] = []
    group_bytes = 0
    last: tuple[Path, bytes] | None = None  # a split's pairs of one image are usually neighbours
    try:
        for image_file, image_path, cells in records:
            if last is None or last[0] != image_file:
                last = (image_file, image_file.read_bytes())
            row_bytes = len(last[1]) + sum(len(v) for v in cells.values())
            if group and (group_bytes + row_bytes > GROUP_BYTES
                          or files.bytes_in_file + group_bytes + row_bytes > max_file_bytes):  # fmt: skip
                files.write(group, group_bytes)
                group, group_bytes = [], 0
            image = {"bytes": last[1], "path": image_path}
            group.append({"image": image} | {c: cells.get(c, "") for c in columns})
            group_bytes += row_bytes
            result.n_rows += 1
            result.n_bytes += row_bytes
            for col, counter in result.counts.items():
                counter[cells.get(col) or "unknown"] += 1
            result.filled.update(c for c in columns if cells.get(c))
            if len(group) >= rows_per_group:
                files.write(group, group_bytes)
                group, group_bytes = [], 0
        if group:
            files.write(group, group_bytes)
        result.files = files.finish()
    finally:
        files.close()
    return result
