"""Subtitle parsing (WebVTT with YouTube rolling cues, SubRip) and picking the file next to a video."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest

from pipeline.errors import ItemError
from pipeline.preprocess.subtitles import find_subtitles, parse_subtitles

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures"))

# Shaped like yt-dlp's YouTube auto-captions: each cue repeats the previous line, then a 10 ms cue
# holds the finished line alone; word timings and colour classes are inline tags.
YOUTUBE_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.390 align:start position:0%
\x20
today<00:00:00.480><c> we</c><00:00:00.720><c> look</c><00:00:01.020><c> at</c><00:00:01.260><c> psoriasis</c>

00:00:02.390 --> 00:00:02.400 align:start position:0%
today we look at psoriasis
\x20

00:00:02.400 --> 00:00:04.670 align:start position:0%
today we look at psoriasis
on<00:00:02.880><c> the</c><00:00:03.120><c.colorE5E5E5><c> elbows</c></c><00:00:03.600><c> &amp;</c><00:00:03.900><c> knees</c>

00:00:04.670 --> 00:00:04.680 align:start position:0%
on the elbows &amp; knees
\x20

00:00:04.680 --> 00:00:06.000 align:start position:0%
on the elbows &amp; knees
silvery<00:00:05.100><c> scale</c>
"""

SRT = """1
00:00:01,000 --> 00:00:03,500
<i>Psoriasis</i> is a chronic
inflammatory disease.

2
00:00:04,000 --> 00:00:06,250
{\\an8}It often affects the elbows.
3
00:01:02,5 --> 00:01:04,000
Note the silvery scale.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_youtube_vtt_rolling_lines_are_collapsed(tmp_path: Path) -> None:
    segments = parse_subtitles(write(tmp_path, "talk.en.vtt", YOUTUBE_VTT))
    assert [s.text for s in segments] == [
        "today we look at psoriasis",
        "on the elbows & knees",
        "silvery scale",
    ]
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 2.4), (2.4, 4.68), (4.68, 6.0)]
    assert all(s.avg_logprob is None and s.no_speech_prob is None for s in segments)


def test_plain_vtt_with_identifiers_notes_and_hours(tmp_path: Path) -> None:
    vtt = (
        "\ufeffWEBVTT - lecture\n\nNOTE made by hand\n\nSTYLE\n::cue { color: white }\n\n"
        "intro\n01:00:00.000 --> 01:00:02.000 line:0\n<v Dr Smith>Hello</v>\n\n"
        "00:05.500 --> 00:07.000\nPlaques &gt; 2 cm\n\n"
    )
    segments = parse_subtitles(write(tmp_path, "a.vtt", vtt))
    assert [(s.start_s, s.end_s, s.text) for s in segments] == [
        (5.5, 7.0, "Plaques > 2 cm"),
        (3600.0, 3602.0, "Hello"),
    ]


def test_srt(tmp_path: Path) -> None:
    segments = parse_subtitles(write(tmp_path, "a.srt", SRT.replace("\n", "\r\n")))
    assert [s.text for s in segments] == [
        "Psoriasis is a chronic inflammatory disease.",
        "It often affects the elbows.",
        "Note the silvery scale.",
    ]
    assert [(s.start_s, s.end_s) for s in segments] == [(1.0, 3.5), (4.0, 6.25), (62.5, 64.0)]


def test_whitespace_only_separator_lines(tmp_path: Path) -> None:
    vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nFirst.\n   \nsecond-id\n00:01.000 --> 00:02.000\nSecond.\n"
    srt = "1\n00:00:00,000 --> 00:00:01,000\nFirst.\n \n2\n00:00:01,000 --> 00:00:02,000\nSecond.\n"
    youtube = "WEBVTT\n\n00:00.000 --> 00:01.000\n \nFirst.\n00:01.000 --> 00:02.000\n \nSecond.\n"
    for name, text in [("a.vtt", vtt), ("a.srt", srt), ("y.vtt", youtube)]:
        assert [s.text for s in parse_subtitles(write(tmp_path, name, text))] == ["First.", "Second."]


def test_repeated_line_after_a_pause_is_kept(tmp_path: Path) -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nNo.\n\n2\n00:00:05,000 --> 00:00:06,000\nNo.\n"
    assert [s.text for s in parse_subtitles(write(tmp_path, "a.srt", srt))] == ["No.", "No."]


def test_empty_vtt_and_garbage(tmp_path: Path) -> None:
    assert parse_subtitles(write(tmp_path, "empty.vtt", "WEBVTT\n\n")) == []
    for name, data in [
        ("garbage.vtt", os.urandom(2000) + b"\x00"),
        ("prose.srt", b"just some words\nno timings here\n"),
        ("empty.srt", b""),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ItemError) as err:
            parse_subtitles(path)
        assert err.value.reason == "unreadable_subtitles"
    with pytest.raises(ItemError) as err:
        parse_subtitles(tmp_path / "missing.vtt")
    assert err.value.reason == "unreadable_subtitles"


def test_real_youtube_autocaption_fixture() -> None:
    path = FIXTURES / "subtitles" / "youtube_dl.vtt"
    if not path.exists():
        pytest.skip(f"shared fixture {path} not found (set DERM_FIXTURES to the fixtures folder)")
    segments = parse_subtitles(path)
    assert segments
    texts = [s.text for s in segments]
    assert all(t and "<" not in t and ">" not in t for t in texts)
    assert all(a != b for a, b in zip(texts, texts[1:], strict=False)), texts
    assert all(s.start_s <= s.end_s for s in segments)
    assert all(a.start_s <= b.start_s for a, b in zip(segments, segments[1:], strict=False))
    joined = " ".join(texts)
    assert joined.count("this will happen") == 1, joined


def test_find_subtitles_preferences(tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    assert find_subtitles(video) is None
    for name in ["talk.vtt", "talk.auto.en.vtt", "talk.part2.en.vtt", "other.en.vtt", "talk.en.txt"]:
        write(tmp_path, name, "WEBVTT\n")
    assert find_subtitles(video) == tmp_path / "talk.auto.en.vtt"  # a language match beats an untagged file
    write(tmp_path, "talk.en-US.srt", "")
    assert find_subtitles(video) == tmp_path / "talk.en-US.srt"  # manual (regional) over auto
    write(tmp_path, "talk.en.srt", "")
    assert find_subtitles(video) == tmp_path / "talk.en.srt"  # exact tag over regional
    write(tmp_path, "talk.en.vtt", "")
    assert find_subtitles(video) == tmp_path / "talk.en.vtt"  # .vtt over .srt
    write(tmp_path, "talk.de.vtt", "")
    assert find_subtitles(video, languages=("de", "en")) == tmp_path / "talk.de.vtt"
    assert find_subtitles(video, languages=("fr",)) == tmp_path / "talk.vtt"


def test_find_subtitles_regional_and_untagged(tmp_path: Path) -> None:
    video = tmp_path / "v.webm"
    write(tmp_path, "v.en-GB.vtt", "")
    assert find_subtitles(video) == tmp_path / "v.en-GB.vtt"
    only_plain = tmp_path / "sub"
    only_plain.mkdir()
    write(only_plain, "w.srt", "")
    assert find_subtitles(only_plain / "w.mp4") == only_plain / "w.srt"
    assert find_subtitles(tmp_path / "missing_dir" / "x.mp4") is None


def test_sample_video_subtitles_match_the_script() -> None:
    """A generated lecture's .en.vtt (numbered cues) is found and reads back as the script's narration."""
    import json

    samples = REPO / "samples" / "videos"
    videos = [v for v in sorted(samples.glob("*.mp4")) if find_subtitles(v)]
    if not videos:
        pytest.skip(f"no sample video with subtitles in {samples} (run scripts/make_samples.py)")
    for video in videos:
        subs = find_subtitles(video)
        assert subs is not None
        segments = parse_subtitles(subs)
        script = video.with_name(video.stem + ".script.json")
        if script.exists():
            narration = [s["narration"] for s in json.loads(script.read_text())["scenes"]]
            assert " ".join(s.text for s in segments) == " ".join(narration)
