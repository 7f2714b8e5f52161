"""The numbers behind the report's dataset-paper figures: who and what the pairs show (skin tone, image type,
body site, age and sex), how long the tail of conditions is, the train/validation split and the validation
model's metrics (views of migration 0036, `v_pair_attributes` and `v_train_run_metrics`).

Labels are counted as augment wrote them; the 'No ... information' strings become one "not stated" count
that titles report, so the bars show what the texts do state. Ages come as the texts state them ("62",
"40s", "6 months", "child", "20-40"): `age_group` puts them in decades a chart can order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

NOT_STATED = ("No skin tone information", "No body location information", "No age information",
              "No gender information", "")  # fmt: skip
AGE_WORDS = {"newborn": "0-9", "infant": "0-9", "child": "0-9", "adolescent": "10-19", "elderly": "70+"}
AGE_ORDER = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
_FITZPATRICK = ["I", "II", "III", "IV", "V", "VI"]
# metrics shown as bars (shares 0-1); the counts beside them (n_val, zero_shot_classes, ...) go to the table
# (two-line tick labels: seven groups fit a figure's width at 9 pt without rotation)
SHARE_METRICS = {"zero_shot_top1": "zero-shot\ntop-1", "zero_shot_top5": "zero-shot\ntop-5",
                 "zero_shot_balanced_acc": "zero-shot\nbal. acc.", "i2t_R@1": "img→text\nR@1",
                 "i2t_R@5": "img→text\nR@5", "t2i_R@1": "text→img\nR@1", "t2i_R@5": "text→img\nR@5"}  # fmt: skip


@dataclass
class Attributes:
    """Pairs per label value (not-stated values left out) and how many pairs state one at all."""

    values: list[tuple[str, int]] = field(default_factory=list)
    stated: int = 0
    total: int = 0


@dataclass
class TrainRun:
    train_run_id: str
    model: str
    epochs: int
    n_train: int
    metrics: list[tuple[str, str, str, float]] = field(
        default_factory=list
    )  # split, metric, model_state, value


@dataclass
class PaperData:
    skin_tone: Attributes = field(default_factory=Attributes)
    image_type: Attributes = field(default_factory=Attributes)
    body_site: Attributes = field(default_factory=Attributes)
    age_sex: list[tuple[str, str, int]] = field(default_factory=list)  # age group, sex, pairs
    age_sex_stated: int = 0
    condition_counts: list[int] = field(default_factory=list)  # pairs per condition, largest first
    split: list[tuple[str, str, int]] = field(default_factory=list)  # split, source, pairs (latest export)
    export_id: str = ""
    run: TrainRun | None = None


def age_group(age: str) -> str | None:
    """The decade of the first age a label states ('62' -> '60-69', '40s' -> '40-49', '6 months' -> '0-9',
    'child' -> '0-9'), None when it states none."""
    first = age.split(",")[0].strip().lower()
    if not first or first in (s.lower() for s in NOT_STATED):
        return None
    if "month" in first or "week" in first:
        return "0-9"
    m = re.match(r"(\d{1,3})", first)
    if m:
        years = int(m.group(1))
        return "70+" if years >= 70 else f"{years // 10 * 10}-{years // 10 * 10 + 9}"
    return AGE_WORDS.get(first)


def sex_of(gender: str) -> str:
    g = gender.strip().lower()
    return {"male": "male", "female": "female", "male, female": "male and female"}.get(g, "not stated")


def _tone_key(tone: str) -> tuple[int, str]:
    """Fitzpatrick I..VI first, in order (ranges by their lower type), then the words ('dark skin')."""
    m = re.match(r"fitzpatrick ([ivx]+)", tone.lower())
    if m and m.group(1).upper() in _FITZPATRICK:
        return _FITZPATRICK.index(m.group(1).upper()), tone
    return len(_FITZPATRICK), tone


def _attributes(con: duckdb.DuckDBPyConnection, column: str, top_n: int | None = None) -> Attributes:
    rows = con.execute(f"SELECT coalesce({column}, ''), count(*) FROM v_pair_attributes "
                       "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()  # fmt: skip
    total = sum(int(n) for _, n in rows)
    values = [(str(v), int(n)) for v, n in rows if v not in NOT_STATED and v != "unknown"]
    stated = sum(n for _, n in values)
    return Attributes(values[:top_n] if top_n else values, stated, total)


def _age_sex(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str, int]], int]:
    counts: dict[tuple[str, str], int] = {}
    for age, gender, n in con.execute("SELECT coalesce(age, ''), coalesce(gender, ''), count(*) "
                                      "FROM v_pair_attributes GROUP BY ALL").fetchall():  # fmt: skip
        group, sex = age_group(str(age)) or "age not stated", sex_of(str(gender))
        if group == "age not stated" and sex == "not stated":
            continue
        counts[(group, sex)] = counts.get((group, sex), 0) + int(n)
    order = [*AGE_ORDER, "age not stated"]
    rows = sorted(((g, s, n) for (g, s), n in counts.items()), key=lambda r: (order.index(r[0]), r[1]))
    return rows, sum(n for _, _, n in rows)


def latest_run(con: duckdb.DuckDBPyConnection) -> TrainRun | None:
    rows = con.execute("SELECT train_run_id, model, epochs, n_train, split, metric, model_state, value "
                       "FROM v_train_run_metrics WHERE run_rank = 1").fetchall()  # fmt: skip
    if not rows:
        return None
    run = TrainRun(str(rows[0][0]), str(rows[0][1]), int(rows[0][2]), int(rows[0][3]))
    run.metrics = [(str(s), str(m), str(st), float(v)) for *_, s, m, st, v in rows]
    return run


def gather_paper(con: duckdb.DuckDBPyConnection, top_n: int = 20) -> PaperData:
    d = PaperData()
    d.skin_tone = _attributes(con, "skin_tone")
    d.skin_tone.values.sort(key=lambda kv: _tone_key(kv[0]))
    d.image_type = _attributes(con, "image_type")
    d.body_site = _attributes(con, "body_location", top_n)
    d.age_sex, d.age_sex_stated = _age_sex(con)
    d.condition_counts = [int(n) for (n,) in con.execute(
        "SELECT count(*) FROM augment_captions WHERE disease_label <> 'no definitive diagnosis' "
        "GROUP BY disease_label ORDER BY 1 DESC").fetchall()]  # fmt: skip
    latest = con.execute(
        "SELECT export_id FROM train_exports ORDER BY created_at DESC, export_id LIMIT 1"
    ).fetchone()
    if latest is not None:
        d.export_id = str(latest[0])
        d.split = [(str(s), str(src), int(n)) for s, src, n in con.execute(
            "SELECT s.split, coalesce(p.source, 'unknown'), count(*) FROM train_splits s "
            "LEFT JOIN pair_image_texts p USING (pair_id) WHERE s.export_id = ? AND NOT EXISTS (SELECT 1 FROM "
            "train_export_exclusions x WHERE x.export_id = s.export_id AND x.pair_id = s.pair_id) "
            "GROUP BY ALL ORDER BY 1, 3 DESC",
            [d.export_id]).fetchall()]  # fmt: skip
    d.run = latest_run(con)
    return d
