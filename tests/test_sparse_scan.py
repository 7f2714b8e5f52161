"""The sparse scene-cut scan (pipeline/preprocess/sparse_scan.py): cuts found from the compressed stream on
small generated videos of both hard kinds (busy content with cuts between far-apart keyframes; short GOPs
with B-frames), while decoding a fraction of the frames; the H.264 picture-type reader and the spike rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import VideoConfig
from pipeline.preprocess.keyframes import FrameScan, find_cuts
from pipeline.preprocess.sparse_scan import sparse_scan, spike_frames
from pipeline.preprocess.stream_index import (
    KIND_B,
    KIND_I,
    KIND_P,
    KIND_UNKNOWN,
    StreamIndex,
    h264_picture_kind,
    index_stream,
)
from pipeline.preprocess.video import detect_scenes, video_keyframes

pytest.importorskip("imageio_ffmpeg")


def _match(found: list[int], truth: list[int], tol: int) -> tuple[int, int]:
    """(true cuts matched within tol frames, detections matching none)."""
    left, matched = list(truth), 0
    for f in found:
        near = [t for t in left if abs(t - f) <= tol]
        if near:
            left.remove(min(near, key=lambda t: abs(t - f)))
            matched += 1
    return matched, len(found) - matched


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    from bench.video_gen import generate_noise

    path = tmp_path_factory.mktemp("noise") / "noise.mp4"
    return path, generate_noise(path, 16.0, keyint=250, seed=5)


@pytest.fixture(scope="module")
def short_gops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    from bench.video_gen import generate

    path = tmp_path_factory.mktemp("k12") / "k12.mp4"
    plan = [
        ("slide", 3.0, False, False, True),
        ("slide", 2.5, False, False, False),  # same template, new text
        ("pan", 3.0, False, False, True),
        ("pointer", 3.0, False, True, True),
        ("photo", 2.5, True, False, True),
        ("zoom", 3.0, False, False, True),
    ]
    return path, generate(path, seed=13, plan=plan, x264_params="keyint=12:min-keyint=12:bframes=3")


def test_busy_video_with_sparse_keyframes(noise: tuple[Path, dict[str, object]]) -> None:
    """Cuts between keyframes 250 frames apart in busy content: all found within the B-frame run before
    the P-frame that shows them, none extra, while decoding a small share of the frames."""
    path, truth = noise
    cuts: list[int] = truth["cuts"]  # type: ignore[assignment]
    assert len(cuts) >= 3 and all(c % 250 for c in cuts)  # cuts inside GOPs, not on keyframes
    scan = sparse_scan(path)
    found = find_cuts(scan)
    assert _match(found, cuts, tol=3) == (len(cuts), 0)
    assert scan.index.size < 0.3 * scan.frame_count  # a dense scan decodes every reference frame: ~50 %
    scenes = detect_scenes(path, VideoConfig())
    assert [s.start_frame for s in scenes[1:]] == found


def test_short_gops_with_b_frames(short_gops: tuple[Path, dict[str, object]]) -> None:
    """A keyframe every 12 frames and B-frames: cuts within 2 frames, pans/zooms/pointer/fades add none,
    and each scene's keyframe comes from inside it."""
    path, truth = short_gops
    cuts: list[int] = truth["cuts"]  # type: ignore[assignment]
    scan = sparse_scan(path)
    assert _match(find_cuts(scan), cuts, tol=2) == (len(cuts), 0)
    assert scan.index.size < 0.5 * scan.frame_count
    info, scenes, keyframes = video_keyframes(path, VideoConfig())
    assert len(scenes) == len(cuts) + 1 and scenes[-1].end_frame == info.frame_count
    assert [k.scene_index for k in keyframes] == [s.index for s in scenes]
    for k, s in zip(keyframes, scenes, strict=True):
        assert s.start_frame <= k.frame_index < s.end_frame
        assert k.rgb.shape == (360, 640, 3)


def test_stream_index_reads_picture_types(short_gops: tuple[Path, dict[str, object]]) -> None:
    path, truth = short_gops
    idx = index_stream(path)
    assert idx.codec == "h264" and idx.frame_count == truth["frames"]
    assert (np.diff(idx.frame) > 0).all()
    kinds = set(idx.kind.tolist())
    assert {KIND_I, KIND_P, KIND_B} <= kinds and KIND_UNKNOWN not in kinds
    assert (idx.kind[idx.is_key] == KIND_I).all()
    assert np.diff(idx.frame[idx.is_key]).max() <= 12


def test_h264_slice_header() -> None:
    def avcc(header: int, slice_bits: int) -> bytes:
        nal = bytes([header, slice_bits, 0xFF, 0xFF])
        return len(nal).to_bytes(4, "big") + nal

    sei = len(b"\x06\x05\x10").to_bytes(4, "big") + b"\x06\x05\x10"  # an SEI NAL before the slice is skipped
    assert h264_picture_kind(sei + avcc(0x41, 0x9A), 4) == KIND_P  # first_mb 0, slice_type 5
    assert h264_picture_kind(avcc(0x01, 0x9E), 4) == KIND_B  # slice_type 6
    assert h264_picture_kind(avcc(0x65, 0x88), 4) == KIND_I  # IDR, slice_type 7
    assert h264_picture_kind(b"\x00\x00\x00\x01\x41\x9a\xff", None) == KIND_P  # Annex B start codes
    assert h264_picture_kind(avcc(0x67, 0x9A), 4) == KIND_UNKNOWN  # an SPS only: no slice
    assert h264_picture_kind(b"\x00\x00", 4) == KIND_UNKNOWN


def test_spikes_are_big_predicted_frames_only() -> None:
    n = 60
    frame = np.arange(n)
    kind = np.where(frame % 3 == 0, KIND_P, KIND_B).astype(np.int8)
    kind[0] = KIND_I
    size = np.where(kind == KIND_P, 400, 900).astype(np.int64)  # B-frames bigger than P-frames: no spike
    size[0] = 20_000
    size[30] = 4_000  # a P-frame ten times its neighbours
    size[45] = 700  # under twice the median
    idx = StreamIndex(25.0, n, "h264", frame, size, frame == 0, kind)
    assert spike_frames(idx).tolist() == [30]


def test_a_decoded_cut_beats_a_stream_cut_nearby() -> None:
    diff = np.zeros(100, np.float32)
    diff[40] = 30.0
    scan = FrameScan(25.0, 100, 64, 36, np.arange(100), np.zeros(100, bool), diff, np.ones(100, np.float32))
    scan.stream_cuts = np.asarray([44, 80])
    assert find_cuts(scan) == [40, 80]


def test_other_codecs_fall_back_to_packet_sizes_alone(
    short_gops: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """MPEG-4 Part 2 (no picture types read): every size jump is a candidate, and the cuts still come out."""
    import subprocess

    from imageio_ffmpeg import get_ffmpeg_exe

    path, truth = short_gops
    other = tmp_path / "mpeg4.mp4"
    cmd = [get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(path), "-c:v", "mpeg4", "-q:v", "4", "-bf", "2"]
    subprocess.run([*cmd, "-g", "100", str(other)], check=True)
    idx = index_stream(other)
    assert idx.codec == "mpeg4" and set(idx.kind[~idx.is_key].tolist()) == {KIND_UNKNOWN}
    cuts: list[int] = truth["cuts"]  # type: ignore[assignment]
    assert _match(find_cuts(sparse_scan(other)), cuts, tol=2) == (len(cuts), 0)
