"""The project's hostile test corpus, written on demand into a folder: damaged, malicious and odd files
of each source kind. Grow it with every new source and every new way a file can be wrong; the tests in
tests/test_hostile_inputs.py say what each must become (an item, or a reject with a reason)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image


def _jpeg(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    skin = (np.full((120, 160, 3), (214, 160, 130)) + rng.normal(0, 8, (120, 160, 3))).clip(0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(skin.astype(np.uint8)).save(path, quality=90)


# PII in the hostile forum's good post: none of it may appear in any table after a build
FORUM_PII = ("Jane Roe", "jane_roe_1985", "07700 900123", "jane.roe@example.com", "03/04/1985", "12 Baker Street",
             "NW1 6XE")


def write_forum(root: Path) -> dict[str, str]:
    """A forum folder under `root` (and a secret file beside it); returns line id -> expected outcome."""
    forum, outside = root / "forum", root / "outside"
    _jpeg(forum / "images" / "ok.jpg", 1)
    _jpeg(outside / "secret.jpg", 2)
    os.symlink(outside / "secret.jpg", forum / "images" / "link.jpg")
    lines = [
        {"id": "good", "title": "Ring on my arm", "images": ["images/ok.jpg"], "author": "u/jane_roe_1985",
         "body": "Scaly ring, itchy. I'm Jane Roe, call me on 07700 900123. or jane.roe@example.com, "
                 "DOB 03/04/1985, 12 Baker Street, NW1 6XE."},
        {"id": "number_title", "title": 5, "body": "a title that is a number", "images": []},
        {"id": "list_body", "title": "x", "body": ["not", "text"], "images": []},
        {"id": "images_not_list", "title": "x", "images": "images/ok.jpg"},
        {"id": "climbs_out", "title": "x", "images": ["../outside/secret.jpg", "images/ok.jpg"]},
        {"id": "absolute", "title": "x", "images": [str(outside / "secret.jpg")]},
        {"id": "symlink_out", "title": "x", "images": ["images/link.jpg"]},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n{not json\n[1, 2]\n\n"
    (forum / "posts.jsonl").write_text(text)
    return {"good": "item", "number_title": "wrong_type", "list_body": "wrong_type",
            "images_not_list": "wrong_type", "climbs_out": "item+path_outside_source",
            "absolute": "item+path_outside_source", "symlink_out": "item+path_outside_source"}


def write_datasets(root: Path) -> dict[str, Path]:
    """Dataset folders: a Latin-1 CSV (one é), a CSV whose row names an image outside the folder and whose
    last row repeats its first image (which failed the whole CSV's commit on the item id), and a CSV of
    binary garbage; returns name -> folder."""
    out = {}
    for name in ("latin1", "escape", "garbage"):
        folder = root / "datasets" / name
        _jpeg(folder / "images" / "x1.jpg", 3)
        out[name] = folder
    (out["latin1"] / "metadata.csv").write_bytes("image_id,dx\nx1,eczéma\n".encode("latin-1"))
    _jpeg(root / "outside" / "secret.jpg", 2)
    (out["escape"] / "metadata.csv").write_text("image_id,dx\nx1,nv\n../../../outside/secret,mel\nx1,bcc\n")
    (out["garbage"] / "metadata.csv").write_bytes(bytes([0x81, 0x00, 0xFF, 0xFE, 0x00, 0x9D] * 50))
    return out


def write_encoded_forum(root: Path) -> Path:
    """A forum folder with a cp1252 JSONL file (what a Windows export gives) and a binary one."""
    forum = root / "forum_enc"
    forum.mkdir(parents=True, exist_ok=True)
    post = {"id": "cp1252", "title": "Café-au-lait spots – are they normal?", "images": []}
    (forum / "windows.jsonl").write_bytes(json.dumps(post, ensure_ascii=False).encode("cp1252"))
    (forum / "binary.jsonl").write_bytes(bytes([0x81, 0x00, 0xFF, 0xFE, 0x00, 0x9D] * 50))
    return forum


def write_unsupported(root: Path) -> dict[str, list[Path]]:
    """Files a source's folder holds but does not read: audio among videos, archives among articles, a
    Word file among PDFs, a stray text file among forum dumps. Returns folder kind -> those files."""
    out: dict[str, list[Path]] = {}
    for kind, names in {"videos": ["talk.m4a", "notes.txt"], "jats": ["PMC1.tar.gz", "PMC2.nxml.gz"],
                        "pdfs": ["handout.docx"], "forums": ["readme.md"]}.items():
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        out[kind] = []
        for name in names:
            (folder / name).write_bytes(b"\x1f\x8b not what it claims" if name.endswith(".gz") else b"x")
            out[kind].append(folder / name)
        (folder / ".DS_Store").write_bytes(b"\0")  # hidden: skipped, not a reject
    return out


def write_media(root: Path, samples: Path) -> dict[str, list[Path]]:
    """Damaged media of every kind, cut from the project's own samples: zero-byte and truncated videos,
    a text file named .mp4, XML with an external entity, Latin-1 bytes, a truncated and an empty article,
    a zero-byte, a truncated and a garbage PDF, a truncated and a fake JPEG figure."""
    out: dict[str, list[Path]] = {"videos": [], "jats": [], "pdfs": []}
    videos, jats, pdfs = root / "videos", root / "jats", root / "pdfs"
    for folder in (videos, jats, pdfs):
        folder.mkdir(parents=True, exist_ok=True)
    real_video = (samples / "videos" / "derm_lecture_melanoma.mp4").read_bytes()
    for name, data in {"empty.mp4": b"", "cut.mp4": real_video[: len(real_video) // 3],
                       "text.mp4": b"this is not a video\n" * 20}.items():
        (videos / name).write_bytes(data)
        out["videos"].append(videos / name)
    article = (samples / "jats" / "PMC9000001.xml").read_bytes()
    xxe = (b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
           b'<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
           b'<article><front><article-meta><title-group><article-title>XXE &xxe; &lol2;</article-title>'
           b'</title-group></article-meta></front><body><fig id="f1"><caption><p>Plaque &xxe;.</p></caption>'
           b'<graphic xlink:href="PMC1_f1" xmlns:xlink="http://www.w3.org/1999/xlink"/></fig></body></article>')
    for name, data in {"PMC1.xml": xxe, "PMC2.xml": article[: len(article) // 2], "PMC3.xml": b"",
                       "PMC4.xml": "<article><front><article-meta><title-group><article-title>Érythème"
                                   "</article-title></title-group></article-meta></front></article>".encode(
                                       "latin-1")}.items():
        (jats / name).write_bytes(data)
        out["jats"].append(jats / name)
    figure = (samples / "jats" / "PMC9000001_f1.jpg").read_bytes()
    (jats / "PMC1_f1.jpg").write_bytes(figure[: len(figure) // 2])  # a truncated figure for the XXE article
    real_pdf = (samples / "pdf" / "papulosquamous_handout.pdf").read_bytes()
    for name, data in {"empty.pdf": b"", "cut.pdf": real_pdf[: len(real_pdf) // 2],
                       "garbage.pdf": bytes(range(256)) * 8}.items():
        (pdfs / name).write_bytes(data)
        out["pdfs"].append(pdfs / name)
    return out


def write_overlapping_dumps(root: Path) -> Path:
    """Two forum dump files that share one post (monthly dumps overlap at their edges): a.jsonl holds
    p1, p2; b.jsonl holds p2 again and p3. Returns the folder."""
    forum = root / "dumps"
    forum.mkdir(parents=True, exist_ok=True)
    (forum / "a.jsonl").write_text("".join(json.dumps({"id": p, "title": f"rash {p}", "images": []}) + "\n"
                                           for p in ("p1", "p2")))
    (forum / "b.jsonl").write_text("".join(json.dumps({"id": p, "title": f"rash {p} again", "images": []}) + "\n"
                                           for p in ("p2", "p3")))
    return forum


def _zst(lines: list[bytes], window_log: int = 28) -> bytes:
    """Lines compressed as Pushshift does: one frame, no content size, a window above zstd's default
    decoder limit (the reader must allow 2 GB windows)."""
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    buf = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(buf, closefd=False) as w:
        for line in lines:
            w.write(line + b"\n")
    return buf.getvalue()


def write_reddit_dumps(root: Path) -> tuple[Path, dict[str, str]]:
    """A Pushshift-style dump folder with every kind of bad input a real one has; returns the folder and
    reject ref -> expected reason. RS_2023-01.zst (with its RC_ partner) holds one good post, a deleted
    and a removed one, a line that is not JSON, a JSON list, wrong types, a huge line; RS_2023-02.zst is
    cut in the middle of its frame; RS_2023-03.zst is not zstd; RC_2023-04.zst has no submission file."""
    folder = root / "reddit_dumps"
    folder.mkdir(parents=True, exist_ok=True)

    def sub(sid: str, **extra: object) -> bytes:
        return json.dumps({"id": sid, "subreddit": "DermatologyQuestions", "title": f"Rash {sid}",
                           "selftext": "Itchy red ring on my arm.", "author": "someone", "score": 3,
                           "created_utc": 1673000000, "permalink": f"/r/DermatologyQuestions/comments/{sid}/x/",
                           **extra}).encode()

    lines = [sub("good1"), sub("gone1", selftext="[deleted]"), sub("gone2", removed_by_category="moderator"),
             b"{not json", b"[1, 2, 3]", sub("typed1", title=42), sub("typed2", created_utc=[1]),
             sub("huge1", selftext="x" * 3_000_000), json.dumps({"title": "no id"}).encode()]
    (folder / "RS_2023-01.zst").write_bytes(_zst(lines))
    comments = [json.dumps({"id": "c1", "link_id": "t3_good1", "parent_id": "t3_good1", "score": 9,
                            "body": "Looks like tinea corporis.", "author": "doc"}).encode(),
                json.dumps({"id": "c2", "link_id": "t3_good1", "parent_id": "t1_c1", "body": "[removed]"}).encode(),
                json.dumps({"id": "c3", "link_id": "t3_good1", "parent_id": "t1_c1", "body": ["wrong"]}).encode()]
    (folder / "RC_2023-01.zst").write_bytes(_zst(comments))
    whole = _zst([sub(f"cut{n}", noise=os.urandom(4000).hex()) for n in range(40)])
    (folder / "RS_2023-02.zst").write_bytes(whole[: len(whole) // 2])
    (folder / "RS_2023-03.zst").write_bytes(b"this is not zstd at all\n" * 10)
    (folder / "RC_2023-04.zst").write_bytes(_zst(comments[:1]))
    expected = {"post:t3_gone1": "deleted_post", "post:t3_gone2": "deleted_post",
                "dump:RS_2023-01.zst:4": "invalid_json", "dump:RS_2023-01.zst:5": "wrong_type",
                "dump:RS_2023-01.zst:6": "wrong_type", "dump:RS_2023-01.zst:7": "wrong_type",
                "dump:RS_2023-01.zst:8": "line_too_long", "dump:RS_2023-01.zst:9": "missing_field",
                "dump:RC_2023-01.zst:3": "wrong_type", "dump:RS_2023-02.zst": "truncated_file",
                "dump:RS_2023-03.zst": "bad_zst", "dump:RC_2023-04.zst": "no_submissions"}
    return folder, expected
