"""Forum dumps at dump scale: generate a Pushshift-style `.zst` pair (submissions + comments) of a given
compressed size, stream it through the importer's filters in a child process, and report peak RSS,
RSS along the way, throughput and whether the filters kept exactly what the generator planted.

    .venv/bin/python bench/forum_dump.py --out /tmp/forum_dump --gb 1   # writes bench/results/forum_dump-<date>.json

The dump is compressed with a 256 MB window (above zstd's default 128 MB decoder limit, as Pushshift /
Arctic Shift dumps are), one frame, no content size. Lines look like Reddit submissions (id, subreddit,
title, selftext, created_utc, score, permalink, url, ...) with a random hex `noise` field, so the dump
compresses about 2-3x instead of a real dump's ~10x: a 1 GB file is ~2.5 GB of JSON lines. Half a
percent of submissions are in r/DermatologyQuestions or r/dermatology; of those, the ones in 2021-2022
whose title or text names "psoriasis" or "eczema" are the expected keep. The reference: the same bytes
through `zstandard`'s stream_reader with no parsing (the decompression floor), and the old importer's way
(every line parsed and kept in memory) on the first 200 MB of lines, for its memory growth.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DERM = ("DermatologyQuestions", "dermatology")
OTHER = tuple(f"sub{n:03d}" for n in range(300))
TITLES = ("Red itchy patches on my elbows, psoriasis?", "Is this eczema on my baby's cheek?",
          "Mole changed colour", "Dry scaly skin on hands", "Weird bump on my arm", "What is this rash")
WORDS = ("skin", "rash", "itchy", "red", "weeks", "cream", "doctor", "spot", "arm", "back", "dry", "scaly",
         "bump", "painful", "spreading", "months", "tried", "steroid", "moisturiser", "started")
T0, T1 = 1_546_300_800, 1_704_067_200  # 2019-01-01 .. 2024-01-01
KEEP_FROM, KEEP_TO = 1_609_459_200, 1_672_531_199  # 2021-01-01 .. 2022-12-31 23:59:59


def _writer(path: Path):  # type: ignore[no-untyped-def]
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=28)
    return zstandard.ZstdCompressor(compression_params=params).stream_writer(open(path, "wb"))


def generate(out: Path, target_bytes: int, seed: int = 0) -> dict[str, int]:
    """RS_2022-01.zst of about `target_bytes` compressed and RC_2022-01.zst (comments on the dermatology
    submissions, plus as many on others). Returns the expected keep counts."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    expected = {"submissions": 0, "comments": 0, "lines": 0}
    derm_ids: list[tuple[str, bool]] = []
    rs = out / "RS_2022-01.zst"
    w = _writer(rs)
    n = 0
    while True:
        n += 1
        sid = f"{n + 36**5:x}"
        derm = rng.random() < 0.005
        sub = rng.choice(DERM) if derm else rng.choice(OTHER)
        title = rng.choice(TITLES)
        text = " ".join(rng.choices(WORDS, k=30))
        when = rng.randint(T0, T1)
        keep = derm and KEEP_FROM <= when <= KEEP_TO and any(k in title.lower() for k in ("psoriasis", "eczema"))
        line = json.dumps({"id": sid, "subreddit": sub, "title": title, "selftext": text, "author": f"u{n}",
                           "created_utc": when, "score": rng.randint(0, 500), "num_comments": 3,
                           "permalink": f"/r/{sub}/comments/{sid}/x/", "url": f"https://i.redd.it/{sid}.jpg",
                           "over_18": False, "noise": os.urandom(300).hex()})
        w.write(line.encode() + b"\n")
        expected["lines"] += 1
        if derm:
            derm_ids.append((sid, keep))
            expected["submissions"] += keep
        if n % 20000 == 0 and os.path.getsize(rs) >= target_bytes:
            break
    w.close()
    with _writer(out / "RC_2022-01.zst") as wc:
        for sid, keep in derm_ids + [(f"{n + rng.randint(1, n) + 36**5:x}", False) for _ in derm_ids]:
            for c in range(3):
                wc.write(json.dumps({"id": f"{sid}c{c}", "link_id": f"t3_{sid}", "parent_id": f"t3_{sid}",
                                     "body": "Looks like psoriasis, see a dermatologist.", "score": c,
                                     "author": "doc", "created_utc": T1}).encode() + b"\n")
                expected["comments"] += keep
    return expected


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(out: Path) -> dict[str, object]:
    """The importer's streaming pass (both files, filters on), in this process: RSS sampled every
    200k lines, peak RSS from getrusage."""
    from datetime import date

    from pipeline.collect import dumps
    from pipeline.config.sources import ForumDumpFilterConfig

    cfg = ForumDumpFilterConfig(subreddits=["r/DermatologyQuestions", "Dermatology"], keywords=["psoriasis", "eczema"],
                                date_from=date(2021, 1, 1), date_to=date(2022, 12, 31))
    samples: list[float] = []
    real = dumps.dump_lines

    def sampled(path: Path, max_line: int):  # type: ignore[no-untyped-def]
        for n, entry in enumerate(real(path, max_line)):
            if n % 200_000 == 0:
                samples.append(round(_rss_mb(), 1))
            yield entry

    dumps.dump_lines = sampled  # type: ignore[assignment]
    stats = dumps.DumpStats()
    t = time.perf_counter()
    subs, comments, problems = dumps.scan_dump(out / "RS_2022-01.zst", [out / "RC_2022-01.zst"],
                                               dumps.DumpFilter(cfg), stats)
    secs = time.perf_counter() - t
    return {"seconds": round(secs, 1), "lines": stats.lines, "parsed": stats.parsed, "filtered": stats.filtered,
            "kept_submissions": len(subs), "kept_comments": sum(len(v) for v in comments.values()),
            "problems": len(problems), "rss_mb_samples": samples,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def reference(out: Path) -> dict[str, object]:
    """The decompression floor, and the old read-it-all importer's memory on the first 200 MB of lines."""
    import zstandard

    t, total = time.perf_counter(), 0
    with open(out / "RS_2022-01.zst", "rb") as fh:
        reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)
        while chunk := reader.read(1 << 20):
            total += len(chunk)
    floor = time.perf_counter() - t
    before = _rss_mb()
    kept, size = [], 0
    with open(out / "RS_2022-01.zst", "rb") as fh:
        import io

        for line in io.BufferedReader(zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)):
            kept.append(json.loads(line))
            size += len(line)
            if size > 200 * 2**20:
                break
    return {"decompressed_bytes": total, "decompress_only_s": round(floor, 1),
            "old_way_rss_growth_mb_per_200mb_of_lines": round(_rss_mb() - before, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/forum_dump"))
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--step", choices=("all", "measure", "reference"), default="all")
    args = ap.parse_args()
    if args.step == "measure":
        print(json.dumps(measure(args.out)))
        return
    if args.step == "reference":
        print(json.dumps(reference(args.out)))
        return
    t = time.perf_counter()
    expected = generate(args.out, int(args.gb * 2**30))
    gen_s = time.perf_counter() - t
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.glob("*.zst"))}
    run = [sys.executable, __file__, "--out", str(args.out), "--step"]
    got = json.loads(subprocess.run([*run, "measure"], check=True, capture_output=True, text=True).stdout)
    ref = json.loads(subprocess.run([*run, "reference"], check=True, capture_output=True, text=True).stdout)
    ok = got["kept_submissions"] == expected["submissions"] and got["kept_comments"] == expected["comments"]
    result = {"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "sizes": sizes,
              "generate_s": round(gen_s, 1), "expected": expected, "import": got, "reference": ref,
              "filters_exact": ok, "load": os.getloadavg()}
    out = REPO / "bench" / "results" / f"forum_dump-{result['date']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
