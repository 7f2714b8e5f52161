"""Fast scene cuts and cheap keyframes for lecture video: one reduced decode pass, then a few seeks.

PySceneDetect converts every full frame to HSV in Python-driven steps, which costs several times the
decode itself. Here the decoder skips non-reference frames (`skip_frame="NONREF"`: B-frames, about
half of an x264 stream, are never decoded), each decoded frame's planes are shrunk with cv2 (luma to
64x36, chroma to 32x18; no colour conversion), and per frame are kept: the mean absolute difference
to the previous decoded frame (luma plus chroma), the SSIM of the luma thumbnails, and the mean luma. A cut is a difference far above its neighbourhood (adaptive, so
pans, zooms, fades and a moving pointer, whose differences are steady, do not fire). The cut is placed
at the first decoded frame of the new shot, which is within one reference-frame gap (<= 4 frames for
x264 defaults) of the true cut and is exact when the encoder put an I-frame there, as x264 does at
scene changes. Keyframes are then taken from the longest SSIM-stable span of each scene, preferring
intra frames there because one of those decodes without decoding the rest of its GOP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from pipeline.errors import ItemError
from pipeline.preprocess.stream_index import stream_timing

THUMB = (64, 36)  # width, height of the luma thumbnails the detector compares
_SAME = 0.25  # mean |delta| (grey levels) under which two thumbnails count as the same picture


@dataclass
class FrameScan:
    """Per decoded frame: its frame number, whether it is an intra frame, diff and SSIM to the previous."""

    fps: float
    frame_count: int
    width: int
    height: int
    index: np.ndarray  # int64, increasing
    is_key: np.ndarray  # bool
    diff: np.ndarray  # float32, mean |delta| of 64x36 luma + of 32x18 chroma, grey levels; 0 for the first
    ssim: np.ndarray  # float32, SSIM of 64x36 luma to the previous decoded frame; 1 for the first
    luma: np.ndarray | None = None  # float32, mean luma (0-255): finds fades through black
    stream_cuts: np.ndarray | None = None  # int64 frame numbers of cuts read from packet sizes (not decoded)


def ssim_grey(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004, Gaussian window sigma 1.5) of two grey uint8 images, with cv2 only."""
    x, y = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (7, 7), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float((num / den).mean())


def _plane(frame: object, i: int, size: tuple[int, int]) -> np.ndarray:
    plane = frame.planes[i]  # type: ignore[attr-defined]
    h, w = plane.height, plane.width
    data = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :w]
    return cv2.resize(data, size, interpolation=cv2.INTER_AREA)


def _thumbs(frame: object) -> tuple[np.ndarray, np.ndarray | None]:
    """64x36 luma and, for planar YUV, 32x18 U and V side by side (a red-to-green cut keeps the luma)."""
    luma = _plane(frame, 0, THUMB)
    planes = frame.planes  # type: ignore[attr-defined]
    if len(planes) < 3 or not str(frame.format.name).startswith("yuv"):  # type: ignore[attr-defined]
        return luma, None
    half = (THUMB[0] // 2, THUMB[1] // 2)
    return luma, np.hstack([_plane(frame, 1, half), _plane(frame, 2, half)])


def scan_video(path: Path, skip_nonref: bool = True) -> FrameScan:
    """One decode pass over the first video stream (threaded, B-frames skipped unless told otherwise)."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ItemError("unreadable_video", f"cannot open {path.name}: {exc}") from exc
    index: list[int] = []
    keys: list[bool] = []
    diffs: list[float] = []
    ssims: list[float] = []
    lumas: list[float] = []
    try:
        if not container.streams.video:
            raise ItemError("unreadable_video", f"{path.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if skip_nonref:
            stream.codec_context.skip_frame = "NONREF"
        fps, tb, start = stream_timing(stream, path)
        prev: np.ndarray | None = None
        prev_chroma: np.ndarray | None = None
        width = height = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                thumb, chroma = _thumbs(frame)
                width, height = frame.width, frame.height
                number = round((frame.pts - start) * tb * fps)
                if index and number <= index[-1]:
                    continue  # a repeated or out-of-order timestamp: keep the first
                index.append(number)
                keys.append(bool(frame.key_frame))
                lumas.append(float(thumb.mean()))
                if prev is None:
                    diffs.append(0.0)
                    ssims.append(1.0)
                else:
                    delta = float(cv2.absdiff(thumb, prev).mean())
                    if chroma is not None and prev_chroma is not None and chroma.shape == prev_chroma.shape:
                        delta += float(cv2.absdiff(chroma, prev_chroma).mean())
                    diffs.append(delta)
                    # held slides repeat near-identical thumbnails; their SSIM is 1 to three decimals anyway
                    ssims.append(1.0 if delta < _SAME else ssim_grey(thumb, prev))
                prev, prev_chroma = thumb, chroma
        except av.FFmpegError as exc:
            if not index:
                raise ItemError("unreadable_video", f"no decodable frames in {path.name}: {exc}") from exc
        frames = stream.frames
    finally:
        container.close()
    if not index:
        raise ItemError("no_frames", f"no frames decoded from {path.name}")
    # the last decoded frame may be a reference frame before trailing B-frames: trust the header if larger
    frame_count = max(index[-1] + 1, int(frames or 0))
    return FrameScan(
        fps,
        frame_count,
        width,
        height,
        np.asarray(index, np.int64),
        np.asarray(keys, bool),
        np.asarray(diffs, np.float32),
        np.asarray(ssims, np.float32),
        np.asarray(lumas, np.float32),
    )


def find_cuts(
    scan: FrameScan,
    min_scene_len_s: float = 1.0,
    min_diff: float = 2.0,
    ratio: float = 3.0,
    window_s: float = 0.6,
    dark_luma: float = 24.0,
) -> list[int]:
    """Frame numbers where a new shot starts (0 excluded), from the per-frame differences of a scan.

    A decoded frame starts a shot when its difference is at least `min_diff` grey levels and exceeds
    `ratio` times the larger of the median differences of the decoded frames within `window_s` before
    and after it, plus 1.5 grey levels of encoder noise: steady motion (pans, zooms, fades, a pointer)
    raises the median with it, and taking the larger side keeps the last frame of a fade or pan (busy
    before, still after) from looking like a cut. A fade out to black and in again hides the cut itself (black follows black), so a dark run
    (mean luma < `dark_luma`; video black is 16) inside the video with no cut at its edges gets one at its middle. Cuts
    closer than `min_scene_len_s` keep the stronger one.
    """
    diff = scan.diff
    n = len(diff)
    reach = window_s * scan.fps
    strong: list[tuple[int, float]] = []  # (position in scan, strength)
    for at in np.flatnonzero(diff >= min_diff):
        pos = int(at)
        # the decoded frames within window_s (by frame number: a sparse scan is not evenly spaced)
        lo = int(np.searchsorted(scan.index, scan.index[pos] - reach, side="left"))
        hi = int(np.searchsorted(scan.index, scan.index[pos] + reach, side="right"))
        before, after = diff[max(1, lo) : pos], diff[pos + 1 : min(n, hi)]
        local = max(float(np.median(side)) if side.size else 0.0 for side in (before, after))
        if diff[pos] >= ratio * local + 1.5:
            strong.append((int(pos), float(diff[pos])))
    if scan.luma is not None:
        strong += _fades_through_black(scan, {p for p, _ in strong}, dark_luma)
    found = [(int(scan.index[p]), v) for p, v in strong]
    if scan.stream_cuts is not None:  # cuts the compressed stream shows without a decode (sparse_scan)
        found += [(int(f), -1.0) for f in scan.stream_cuts]  # a decoded cut near one is the better witness
    picked: list[tuple[int, float]] = []
    min_gap = max(1, round(min_scene_len_s * scan.fps))
    for frame, value in sorted(found):
        if frame < min_gap:
            continue
        if picked and frame - picked[-1][0] < min_gap:
            if value > picked[-1][1]:
                picked[-1] = (frame, value)
            continue
        picked.append((frame, value))
    return [f for f, _ in picked]


def _fades_through_black(
    scan: FrameScan, cut_positions: set[int], dark_luma: float
) -> list[tuple[int, float]]:
    assert scan.luma is not None
    dark = np.append(scan.luma < dark_luma, False)
    found: list[tuple[int, float]] = []
    start: int | None = None
    for pos, is_dark in enumerate(dark):
        if is_dark and start is None:
            start = pos
        elif not is_dark and start is not None:
            end, run_start, start = pos, start, None  # dark run [run_start, end)
            if run_start == 0 or end >= len(scan.luma) or cut_positions & {run_start, end}:
                continue  # touches the video's ends, or a hard cut into / out of black already marks it
            found.append(((run_start + end) // 2, float(dark_luma)))
    return found


def stable_span(scan: FrameScan, start_frame: int, end_frame: int, min_ssim: float = 0.98) -> tuple[int, int]:
    """Positions [a, b) in the scan of the longest run inside the scene whose frames are all SSIM-alike
    (>= `min_ssim`) to the next decoded frame: the held part of a slide, not its build-up or a pan.
    The scene's first frame counts when it equals its successor, so after a hard cut the intra frame the
    encoder put there is usually in the span. The middle decoded frame when nothing is stable."""
    lo, hi = (int(v) for v in np.searchsorted(scan.index, [start_frame, end_frame]))
    if hi - lo <= 1:
        return lo, min(hi, lo + 1)
    stable = np.append(scan.ssim[lo + 1 : hi] >= min_ssim, scan.ssim[hi - 1] >= min_ssim)  # frames lo..hi-1
    best, run_start, best_span = 0, None, (lo + (hi - lo) // 2, lo + (hi - lo) // 2 + 1)
    for i, ok in enumerate(np.append(stable, False)):
        if ok and run_start is None:
            run_start = i
        elif not ok and run_start is not None:
            if i - run_start > best:
                best, best_span = i - run_start, (lo + run_start, lo + i)
            run_start = None
    return best_span


def candidate_frames(scan: FrameScan, span: tuple[int, int], samples: int = 3) -> list[int]:
    """Frame numbers to decode in full for one scene: intra frames inside the stable span (they decode
    alone), else evenly spread decoded frames of the span."""
    a, b = span
    if b <= a:
        return [int(scan.index[min(a, len(scan.index) - 1)])]
    inner = np.arange(a, b)
    keys = inner[scan.is_key[a:b]]
    pool = keys if keys.size else inner
    picks = pool[np.linspace(0, pool.size - 1, num=min(samples, pool.size)).round().astype(int)]
    return sorted({int(scan.index[p]) for p in picks})


def decode_at(path: Path, scan: FrameScan, wanted: list[int]) -> dict[int, np.ndarray]:
    """Full-size RGB frames for the given frame numbers (see iter_decode_at)."""
    return dict(iter_decode_at(path, scan, wanted))


def iter_decode_at(path: Path, scan: FrameScan, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Full-size RGB frames for the given frame numbers, in frame order. Each is reached from its nearest
    preceding intra frame (known from the scan), or by reading on when the decoder is already past that
    intra frame, with non-reference frames skipped on the way when the target is itself a reference frame
    (candidates taken from the scan always are). A generator, so a caller can keep what it needs and drop
    the rest."""
    import av

    key_frames = scan.index[scan.is_key]
    decoded_in_scan = set(scan.index.tolist())
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ItemError("unreadable_video", f"cannot open {path.name}: {exc}") from exc
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base else 1.0 / scan.fps
        start = stream.start_time or 0
        frames: Iterator[Any] | None = None
        last: tuple[int, Any] | None = None  # the last frame read, ahead of the previous target
        mode = ""
        for target in sorted(set(wanted)):
            k = int(np.searchsorted(key_frames, target, side="right")) - 1
            key = int(key_frames[k]) if k >= 0 else 0
            skip: Literal["NONREF", "DEFAULT"] = "NONREF" if target in decoded_in_scan else "DEFAULT"
            # reading on needs the same skip mode: the decoder has taken packets ahead of its output
            if frames is None or last is None or skip != mode or not key <= last[0] <= target:
                mode = skip
                stream.codec_context.skip_frame = skip
                container.seek(start + int(round(key / scan.fps / tb)), stream=stream, backward=True)
                frames, last = iter(container.decode(stream)), None
            try:
                while last is None or last[0] < target:
                    frame = next(frames)
                    if frame.pts is not None:
                        last = (round((frame.pts - start) * tb * scan.fps), frame)
            except (StopIteration, av.FFmpegError):
                frames = None  # the end, or a damaged stretch: this candidate is skipped, others may decode
                continue
            if last[0] == target:
                # a copy: the array PyAV returns keeps its frame's buffers alive (~0.3 MB each at 640x360)
                yield target, last[1].to_ndarray(format="rgb24").copy()
    finally:
        container.close()
