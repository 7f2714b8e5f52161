"""Language detection benchmark for clean's forum-text path (pipeline/clean/translate.py) on the real captions
at hand: SkinCAP's Chinese captions (caption_zh, caption_zh_polish) and their English polish
(caption_zh_polish_en), Derm1M's dev captions (all English, the IIYI_chinese rows as Derm1M translated
them) and ROCO's 4,895 PMC figure captions (English medical prose: a non-English call there is a wasted
translation). Texts are read from the fixtures (DERM_FIXTURES, default ../shared/fixtures), never copied.

Gold: SkinCAP's columns give the language; Derm1M's captions are English; ROCO's are English except the 16
French/German/Portuguese ones in bench/vocabularies/roco_language_gold.json (ids and labels read by hand).
Per detector: exact language accuracy, non-English recall, English texts called non-English (each a wasted
translation call), the misses, ms per text and the build time. Detectors: the pipeline's (py3langid with
its guards, pipeline/clean/translate.py), py3langid bare (argmax over the same candidates), the stopword
check, and Lingua (lingua-language-detector, the other maintained offline detector) when it is installed,
with the same candidates and the same guards. Results: bench/results/language-<date>.json.
Run: `python -m bench.language`.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.clean.translate import (
    LangidDetector,
    Language,
    StopwordDetector,
    _english_words,
    langid_version,
)
from pipeline.config import PiiConfig

REPO = Path(__file__).resolve().parents[1]
ROCO_GOLD = REPO / "bench" / "vocabularies" / "roco_language_gold.json"


def fixtures() -> Path:
    return Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures"))


def load_texts(root: Path | None = None) -> list[tuple[str, str, str]]:
    """(text, gold language, set) rows."""
    root = root or fixtures()
    rows: list[tuple[str, str, str]] = []
    with open(root / "skincap" / "skincap_dev.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for col, lang in (
                ("caption_zh", "zh"),
                ("caption_zh_polish", "zh"),
                ("caption_zh_polish_en", "en"),
            ):
                if (r.get(col) or "").strip():
                    rows.append((r[col], lang, f"skincap:{col}"))
    roco = root / "captions" / "roco_train" / "captions.txt"  # 4,895 PMC figure captions
    gold = {k: v for k, v in json.loads(ROCO_GOLD.read_text()).items() if not k.startswith("_")}
    if roco.is_file():
        for line in roco.read_text(encoding="utf-8").splitlines():
            rid, _, caption = line.partition("\t")
            if caption.strip():
                rows.append((caption.strip(), gold.get(rid.strip(), "en"), "roco:captions"))
    with open(root / "derm1m" / "derm1m_v2_rows_dev.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if (r.get("caption") or "").strip():
                rows.append((r["caption"], "en", f"derm1m:{r.get('source', '')}"))
    return rows


def evaluate(
    name: str, detect: Callable[[str], Language], rows: list[tuple[str, str, str]], build_s: float
) -> dict[str, Any]:
    start = time.perf_counter()
    preds = [detect(text) for text, _, _ in rows]
    elapsed = time.perf_counter() - start
    pairs = list(zip(preds, rows, strict=True))
    foreign = sum(g != "en" for _, g, _ in rows)
    found = sum(not p.english for p, (_, g, _) in pairs if g != "en")
    false = [
        {"text": t[:80], "got": p.code, "set": s} for p, (t, g, s) in pairs if g == "en" and not p.english
    ]
    missed = [{"text": t[:80], "gold": g, "set": s} for p, (t, g, s) in pairs if g != "en" and p.english]
    exact = sum((p.code if not p.english else "en") == g for p, (_, g, _) in pairs)
    return {
        "detector": name,
        "n": len(rows),
        "exact": exact,
        "non_english": foreign,
        "non_english_found": found,
        "english_called_non_english": len(false),
        "ms_per_text": round(1000 * elapsed / len(rows), 3),
        "build_s": round(build_s, 2),
        "false_non_english": false[:20],
        "missed": missed[:20],
    }


class _LinguaGuarded:
    """Lingua with the pipeline's candidates and guards, for comparison only."""

    def __init__(self, languages: list[str], floor: float) -> None:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [IsoCode639_1.from_str(c) for c in dict.fromkeys(("en", *languages))]
        self.det, self.floor = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build(), floor

    def detect(self, text: str) -> Language:
        values = self.det.compute_language_confidence_values(text) if any(c.isalpha() for c in text) else []
        if not values:
            return Language("und", True, 1.0, "lingua")
        code, prob = values[0].language.iso_code_639_1.name.lower(), values[0].value
        en, other = _english_words(text)
        if code == "en" or prob < self.floor or (en >= 2 and en > other):
            return Language("en", True, prob, "lingua")
        return Language(code, False, prob, "lingua")


def _timed(build: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    det = build()
    det.detect("warm up, and 湿疹")
    return det, time.perf_counter() - t0


def run() -> dict[str, Any]:
    rows = load_texts()
    pcfg = PiiConfig()
    langs = tuple(pcfg.languages)
    results = []
    stop = StopwordDetector(pcfg.min_english_score)
    results.append(evaluate("stopwords", stop.detect, rows, 0.0))
    if langid_version():
        det, build = _timed(lambda: LangidDetector(langs, pcfg.min_language_confidence))
        results.append(evaluate(f"py3langid {langid_version()} + guards (pipeline)", det.detect, rows, build))
        bare, build = _timed(lambda: LangidDetector(langs, 0.0))
        results.append(
            evaluate(
                "py3langid argmax",
                lambda t: Language(
                    *(lambda c: (c, c == "en"))(bare.identifier.classify(t)[0]), 0.0, "langid"
                ),
                rows,
                build,
            )
        )
    try:
        from importlib.metadata import version

        for floor in (0.7, 0.8):
            lingua, build = _timed(lambda f=floor: _LinguaGuarded(list(langs), f))
            results.append(
                evaluate(
                    f"lingua {version('lingua-language-detector')} floor {floor} + guard",
                    lingua.detect,
                    rows,
                    build,
                )
            )
    except ImportError:
        pass
    sets: dict[str, int] = {}
    for _, _, s in rows:
        sets[s] = sets.get(s, 0) + 1
    return {
        "date": str(date.today()),
        "host": platform.node(),
        "load": os.getloadavg()[0],
        "sets": sets,
        "languages": pcfg.languages,
        "results": results,
    }


def main() -> None:
    out = run()
    path = REPO / "bench" / "results" / f"language-{out['date']}.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in out["results"]:
        print(
            f"{r['detector']:42s} exact {r['exact']}/{r['n']}  non-English found {r['non_english_found']}/"
            f"{r['non_english']}  English called non-English {r['english_called_non_english']}  "
            f"{r['ms_per_text']} ms/text  build {r['build_s']} s"
        )
    print(f"load {out['load']:.1f}; written {path}")


if __name__ == "__main__":
    main()
