"""`derm1m label IN.csv OUT.csv`: Derm1M's metadata columns for any CSV with a `caption` column.

The same labellers as the augment stage, without a warehouse: useful to label someone else's captions
or to compare methods. Input columns are kept; the label columns are added (or overwritten), plus
`label_method` and `label_error` (the reject reason and detail when the LLM path gave up on a row,
whose label columns then hold Derm1M's "absent" sentinels). Rows are written as they are labelled.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from ontology import Ontology, default_ontology
from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.vocab.lexical import Labels, LexicalMatcher

LABEL_COLUMNS = ("disease_label", "hierarchical_disease_label", "skin_concept", "body_location", "symptoms",
                 "age", "gender", "skin_tone")  # fmt: skip
LabelFn = Callable[[str], tuple[Labels, str]]  # labels and an error ("" when labelled)


def labeller_for(method: str, cfg: RunConfig, ontology: Ontology) -> tuple[LabelFn, str]:
    """A label function and the method name written to `label_method` ("lexical" or "llm:<model>")."""
    if method == "lexical":
        matcher = LexicalMatcher(ontology)
        return (lambda text: (matcher.label(text), "")), "lexical"
    if method != "llm":
        raise ConfigError(f"--method must be lexical or llm, not {method!r}")
    from pipeline.augment.llm import LlmLabeller

    llm = LlmLabeller(cfg.llm, ontology, cfg.augment.llm_prompt, shortlist=cfg.augment.shortlist)

    def label(text: str) -> tuple[Labels, str]:
        outcome = llm.label(text)
        if outcome.labels is None:
            return Labels(), f"{outcome.reason}: {outcome.detail}"
        return outcome.labels, ""

    return label, f"llm:{cfg.llm.model}"


def label_csv(src: str | Path, dst: str | Path, method: str = "lexical", cfg: RunConfig | None = None,
              ontology: Ontology | None = None) -> dict[str, int]:
    """Label every row of `src` into `dst`; returns counts (rows, labelled, with_diagnosis, errors)."""
    cfg = cfg or RunConfig()
    label, method_name = labeller_for(method, cfg, ontology or default_ontology())
    counts = {"rows": 0, "labelled": 0, "with_diagnosis": 0, "errors": 0}
    with Path(src).open(newline="", encoding="utf-8-sig") as fin:
        reader = csv.DictReader(fin)
        fields = list(reader.fieldnames or [])
        if "caption" not in fields:
            raise ConfigError(f"{src}: no 'caption' column (columns: {', '.join(fields) or 'none'})")
        out_fields = [*fields, *(c for c in (*LABEL_COLUMNS, "label_method", "label_error") if c not in fields)]
        with Path(dst).open("w", newline="", encoding="utf-8") as fout:
            writer = csv.DictWriter(fout, out_fields)
            writer.writeheader()
            workers = cfg.llm.concurrency if method == "llm" else 1
            labelled = (_batched(reader, cfg, ontology or default_ontology()) if method == "llm" and cfg.llm.batch
                        else _labelled(reader, label, workers))  # fmt: skip
            for row, (labels, error) in labelled:
                counts["rows"] += 1
                counts["errors" if error else "labelled"] += 1
                counts["with_diagnosis"] += bool(labels.condition_ids)
                writer.writerow({**row, **{c: getattr(labels, c) for c in LABEL_COLUMNS},
                                 "label_method": method_name, "label_error": error})
    return counts


def _batched(reader: csv.DictReader[str], cfg: RunConfig,
             ontology: Ontology) -> Iterator[tuple[dict[str, str], tuple[Labels, str]]]:
    """Batch API mode (`llm.batch`): every row in one batch, then written in input order."""
    from pipeline.augment.batch import label_batch
    from pipeline.augment.llm import LlmLabeller

    rows = list(reader)
    outcomes = label_batch(LlmLabeller(cfg.llm, ontology, cfg.augment.llm_prompt, shortlist=cfg.augment.shortlist),
                           {str(i): row.get("caption") or "" for i, row in enumerate(rows)})
    for i, row in enumerate(rows):
        out = outcomes[str(i)]
        yield row, (out.labels, "") if out.labels else (Labels(), f"{out.reason}: {out.detail}")


def _labelled(reader: csv.DictReader[str], label: LabelFn,
              workers: int) -> Iterator[tuple[dict[str, str], tuple[Labels, str]]]:
    """Rows with their labels in input order; LLM calls overlap up to `workers` (the labeller also
    enforces its own concurrency and rate limits), in chunks so memory stays bounded."""
    if workers <= 1:
        for row in reader:
            yield row, label(row.get("caption") or "")
        return
    with ThreadPoolExecutor(workers) as pool:
        while chunk := list(islice(reader, workers * 8)):
            yield from zip(chunk, pool.map(lambda r: label(r.get("caption") or ""), chunk), strict=True)
