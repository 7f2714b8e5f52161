"""Scene detection and keyframes on a generated three-shot clip; broken files are rejected cleanly."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import subprocess
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from pipeline.config import VideoConfig
from pipeline.errors import ItemError
from pipeline.preprocess.video import (
    Scene,
    detect_scenes,
    extract_keyframes,
    probe_video,
)

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

SHOT_S = 2.0
SOURCES = ["color=c=red", "testsrc", "smptebars"]


def make_clip(out: Path, sources: list[str], shot_s: float = SHOT_S, fps: int = 10) -> Path:
    """Concatenate lavfi sources (shot_s each) into a 160x120 H.264 mp4 without audio."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for src in sources:
        sep = ":" if "=" in src else "="
        cmd += ["-f", "lavfi", "-i", f"{src}{sep}s=160x120:r={fps}:d={shot_s}"]
    inputs = "".join(f"[{i}:v]" for i in range(len(sources)))
    cmd += [
        "-filter_complex", f"{inputs}concat=n={len(sources)}:v=1:a=0,format=yuv420p[v]",
        "-map", "[v]", "-c:v", "libx264", "-g", "50", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("video") / "three_shots.mp4", SOURCES)


def test_probe_video(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(10.0)
    assert info.frame_count == 60
    assert info.duration_s == pytest.approx(6.0, abs=0.15)


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_detect_scenes_finds_cuts(clip: Path, detector: Literal["content", "adaptive"]) -> None:
    t0 = time.perf_counter()
    scenes = detect_scenes(clip, VideoConfig(detector=detector, min_scene_len_s=1.0))
    elapsed = time.perf_counter() - t0
    print(f"\n{detector}: {[(s.start_s, s.end_s) for s in scenes]} in {elapsed:.3f} s")
    assert len(scenes) == 3
    assert [s.index for s in scenes] == [0, 1, 2]
    for scene, expected_start in zip(scenes, [0.0, 2.0, 4.0], strict=True):
        assert scene.start_s == pytest.approx(expected_start, abs=0.3)
    assert scenes[-1].end_s == pytest.approx(6.0, abs=0.3)
    assert scenes[0].start_frame == 0 and scenes[-1].end_frame == 60
    for a, b in zip(scenes, scenes[1:], strict=False):
        assert a.end_frame == b.start_frame


def test_no_cut_gives_one_scene(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "static.mp4", ["color=c=blue"], shot_s=3.0)
    scenes = detect_scenes(video, VideoConfig())
    assert len(scenes) == 1
    assert scenes[0].start_s == 0.0 and scenes[0].end_s == pytest.approx(3.0, abs=0.15)


def test_extract_keyframes_one_per_scene(clip: Path) -> None:
    scenes = detect_scenes(clip, VideoConfig())
    keyframes = extract_keyframes(clip, scenes)
    assert [k.scene_index for k in keyframes] == [s.index for s in scenes]
    for k, s in zip(keyframes, scenes, strict=True):
        assert s.start_s <= k.timestamp_s < s.end_s
        # inner 20-80% of the scene
        assert s.start_frame + 0.2 * (s.end_frame - s.start_frame - 1) <= k.frame_index
        assert k.frame_index <= s.start_frame + 0.8 * (s.end_frame - s.start_frame - 1)
        assert k.rgb.shape == (120, 160, 3) and k.rgb.dtype == np.uint8
        assert (k.start_s, k.end_s) == (s.start_s, s.end_s)
    red = keyframes[0].rgb.reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60, f"first shot should be red in RGB order, got {red}"
    assert keyframes[0].sharpness < keyframes[1].sharpness  # flat colour vs test pattern


def test_keyframes_tiny_and_long_scenes(clip: Path) -> None:
    scenes = [Scene(0, 0.0, 0.1, 0, 1), Scene(1, 0.1, 5.9, 1, 59)]
    keyframes = extract_keyframes(clip, scenes, samples_per_scene=3)
    assert [k.frame_index for k in keyframes][0] == 0
    assert 12 <= keyframes[1].frame_index <= 47


def test_truncated_mp4_is_unreadable(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    broken = tmp_path / "truncated.mp4"
    broken.write_bytes(data[: int(len(data) * 0.3)])  # moov atom is at the end: cut off
    t0 = time.perf_counter()
    with pytest.raises(ItemError) as err:
        probe_video(broken)
    assert err.value.reason == "unreadable_video"
    with pytest.raises(ItemError) as err:
        detect_scenes(broken, VideoConfig())
    assert err.value.reason == "unreadable_video"
    assert time.perf_counter() - t0 < 10


def test_garbage_and_missing_files_are_unreadable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (garbage, empty, tmp_path / "missing.mp4"):
        with pytest.raises(ItemError) as err:
            probe_video(path)
        assert err.value.reason == "unreadable_video"


def test_keyframes_after_seeking_come_from_their_scene(tmp_path: Path) -> None:
    """Scenes far apart (> the seek gap) exercise the seek path; colours prove the frame is right."""
    video = make_clip(
        tmp_path / "rgb.mp4", ["color=c=red", "color=c=green", "color=c=blue"], shot_s=8.0, fps=25
    )
    scenes = detect_scenes(video, VideoConfig())
    assert [round(s.start_s) for s in scenes] == [0, 8, 16]
    keyframes = extract_keyframes(video, scenes)
    channels = [int(np.argmax(k.rgb.reshape(-1, 3).mean(axis=0))) for k in keyframes]
    assert channels == [0, 1, 2]


def test_sharpness_prefers_detail() -> None:
    import cv2

    from pipeline.preprocess.video import sharpness

    board = (np.indices((120, 160)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    bgr = cv2.cvtColor(board, cv2.COLOR_GRAY2BGR)
    assert sharpness(bgr) > 10 * sharpness(cv2.GaussianBlur(bgr, (15, 15), 5))


SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "videos"


def test_sample_videos_match_their_scripts() -> None:
    """The project's generated lectures: cuts within 0.3 s of the script, broken upload rejected."""
    import json

    scripts = sorted(SAMPLES.glob("*.script.json"))
    if not scripts:
        pytest.skip(f"no <id>.script.json in {SAMPLES} (run scripts/make_samples.py)")
    for script in scripts:
        truth = json.loads(script.read_text())["scenes"]
        video = script.with_name(script.name.replace(".script.json", ".mp4"))
        scenes = detect_scenes(video, VideoConfig())
        assert len(scenes) == len(truth), video.name
        for got, want in zip(scenes, truth, strict=True):
            assert got.start_s == pytest.approx(want["start_s"], abs=0.3)
            assert got.end_s == pytest.approx(want["end_s"], abs=0.3)
        keyframes = extract_keyframes(video, scenes)
        assert [k.scene_index for k in keyframes] == [s.index for s in scenes]
    broken = SAMPLES / "broken_upload.mp4"
    if broken.exists():
        with pytest.raises(ItemError) as err:
            probe_video(broken)
        assert err.value.reason == "unreadable_video"
