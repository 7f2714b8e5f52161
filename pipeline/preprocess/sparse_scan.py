"""Scene-cut scan that decodes only where the compressed stream says a cut may be.

A dense scan decodes every reference frame of the video, which on busy content costs about as much as a
plain decode. Most of those frames cannot hold a cut, and the stream says which:
1. the packet index (pipeline.preprocess.stream_index: a demux, no decode) gives every frame's size and
   picture type; a P-frame several times the size of the P-frames around it was mostly intra-coded, which
   is what a cut inside a GOP costs the encoder (a cut on a B-frame shows on the next P-frame);
2. the keyframes alone are decoded (`skip_frame="NONKEY"`) and each is compared with the last decoded
   frame before it: a change there means a cut at the keyframe (x264 puts one at every scene cut) or
   somewhere in the stretch before it. A change that keeps the colour histogram across a busy stretch
   (big P-frames: a pan, drifting texture) is motion, not a cut, and needs no decode;
3. only the GOPs that hold a candidate are decoded, reference frames only, from their keyframe to a
   little past the last candidate, and the dense detector's rule (pipeline.preprocess.keyframes.find_cuts)
   places the cuts on those frames as it does on a full scan.
Memory stays flat: per decoded frame four numbers are kept; thumbnails only for keyframes and span ends.
Streams whose picture types cannot be read still work: every size jump is then a candidate, and a GOP with
too many candidates is simply decoded whole.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import ItemError
from pipeline.preprocess.keyframes import _SAME, FrameScan, _thumbs, scan_video, ssim_grey
from pipeline.preprocess.stream_index import KIND_B, KIND_I, StreamIndex, index_stream

SPIKE_RATIO = 2.0  # a P-frame this many times its neighbours' median size is a candidate
SPIKE_MIN_SHARE = 0.01  # ... and at least this share of a typical keyframe larger than that median
BUSY_SHARE = 0.003  # mean packet size / keyframe size above which a stretch holds motion
EXPENSIVE_SHARE = 0.05  # median P-frame / keyframe size from which decoding a GOP costs about a decode
INTRA_SHARE = 0.3  # a P-frame this share of its keyframe's size is (mostly) intra-coded
SAME_HIST = 0.25  # histogram distance (0-1) under which two frames show the same picture statistics

Thumb = tuple[np.ndarray, np.ndarray | None]


def _hist(thumb: Thumb) -> np.ndarray:
    luma, chroma = thumb
    parts = [np.histogram(luma, 16, (0, 256))[0] / luma.size]
    if chroma is not None:
        half = chroma.shape[1] // 2
        parts += [np.histogram(c, 16, (0, 256))[0] / c.size for c in (chroma[:, :half], chroma[:, half:])]
    return np.concatenate(parts) / len(parts)


def _diff(a: Thumb, b: Thumb) -> float:
    delta = float(cv2.absdiff(a[0], b[0]).mean())
    if a[1] is not None and b[1] is not None and a[1].shape == b[1].shape:
        delta += float(cv2.absdiff(a[1], b[1]).mean())
    return delta


def _ssim(a: Thumb, b: Thumb, delta: float) -> float:
    return 1.0 if delta < _SAME else ssim_grey(a[0], b[0])


def spike_frames(idx: StreamIndex, ratio: float = SPIKE_RATIO) -> np.ndarray:
    """Display numbers of predicted frames much larger than their neighbours of the same picture type."""
    cand = (~idx.is_key) & (idx.kind != KIND_B) & (idx.kind != KIND_I)
    pos = np.flatnonzero(cand)
    if pos.size == 0:
        return np.zeros(0, np.int64)
    sizes = idx.size[pos].astype(np.float64)
    half = 6
    padded = np.pad(sizes, half, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
    keys = idx.size[idx.is_key]
    floor = SPIKE_MIN_SHARE * float(np.median(keys)) if keys.size else 0.0
    hit = (sizes >= ratio * med) & (sizes - med >= floor)
    intra = np.flatnonzero((~idx.is_key) & (idx.kind == KIND_I))  # x264's scene-cut I-frame inside min-keyint
    return np.union1d(idx.frame[pos[hit]], idx.frame[intra])


class _Scan:
    """Per decoded frame: (is_key, diff, ssim, luma), diff/ssim against the previous decoded frame of the
    same span (None at a span's first frame); thumbnails kept for keyframes and span ends only."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[bool, float | None, float, float]] = {}
        self.thumbs: dict[int, Thumb] = {}
        self.width = self.height = 0

    def add(self, number: int, key: bool, thumb: Thumb, prev: Thumb | None) -> None:
        if prev is None:
            diff, ssim = None, 1.0
        else:
            diff = _diff(thumb, prev)
            ssim = _ssim(thumb, prev, diff)
        old = self.rows.get(number)
        if old is None or old[1] is None:  # a span's row beats a lone keyframe's
            self.rows[number] = (key, diff, ssim, float(thumb[0].mean()))
        if key:
            self.thumbs[number] = thumb

    def last_before(self, number: int, ordered: np.ndarray) -> int | None:
        """The last frame before `number` with a thumbnail, from `ordered` (sorted thumbnail keys)."""
        at = int(np.searchsorted(ordered, number)) - 1
        return int(ordered[at]) if at >= 0 else None


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ItemError("unreadable_video", f"cannot open {path.name}: {exc}") from exc


def _frames(container: Any, stream: Any, fps: float) -> Any:
    """(display number, frame) of decoded frames; stops quietly at a damaged stretch."""
    import av

    tb = float(stream.time_base) if stream.time_base else 1.0 / fps
    start = stream.start_time or 0
    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                yield round((frame.pts - start) * tb * fps), frame
    except av.FFmpegError:
        return


def _decode_spans(path: Path, fps: float, spans: list[tuple[int, int]], scan: _Scan) -> None:
    """Reference frames of each [first, last] span, each span decoded from its keyframe `first`."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = (
            "SLICE"  # one thread: short decodes between seeks gain nothing from frame threads
        )
        stream.codec_context.skip_frame = "NONREF"
        tb = float(stream.time_base) if stream.time_base else 1.0 / fps
        start = stream.start_time or 0
        for first, last in spans:
            container.seek(start + int(round(first / fps / tb)), stream=stream, backward=True)
            prev: Thumb | None = None
            prev_no = -1
            for number, frame in _frames(container, stream, fps):
                if number < first or number <= prev_no:
                    continue
                thumb = _thumbs(frame)
                scan.add(number, bool(frame.key_frame), thumb, prev)
                prev, prev_no = thumb, number
                if number >= last:
                    break
            if prev is not None:
                scan.thumbs[prev_no] = prev
    finally:
        container.close()


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _covered(spans: list[tuple[int, int]], number: int) -> bool:
    return any(a < number <= b for a, b in spans)


def sparse_scan(
    path: Path, window_s: float = 0.6, min_diff: float = 2.0, key_stride_s: float = 1.0
) -> FrameScan:
    """A FrameScan of keyframes plus the reference frames of the GOPs that may hold a cut (see module).

    Keyframes closer than `key_stride_s` are first decoded only one in so many; the ones between are
    decoded when the decoded keyframes around them differ."""
    scan = _Scan()

    def keep(number: int, frame: Any) -> None:
        scan.width, scan.height = frame.width, frame.height
        scan.add(number, True, _thumbs(frame), None)

    idx = index_stream(path, key_every_s=key_stride_s, on_keyframe=keep)
    if not scan.rows or not idx.is_key.any():
        return scan_video(path)  # no keyframe to start from: the dense scan decides (or rejects the file)
    fps = idx.fps
    keys = idx.frame[idx.is_key]
    ctx = math.ceil(window_s * fps) + 2
    spikes = spike_frames(idx)
    trusted = _intra_spikes(idx, keys, spikes)
    gop = np.searchsorted(keys, spikes, side="right") - 1
    spans = _merge(
        [
            (int(keys[g]), int(s) + ctx)
            for g, s in zip(gop, spikes, strict=True)
            if g >= 0 and int(s) not in trusted
        ]
    )
    _decode_spans(path, fps, spans, scan)
    trusted = {t for t in trusted if not _covered(spans, t)}  # decoded frames say better
    trusted_gops = set((np.searchsorted(keys, sorted(trusted), side="right") - 1).tolist())
    gaps = np.diff(keys)
    longest = int(gaps.max()) if gaps.size else 0  # the encoder's keyframe interval (keyint)
    for _ in range(2):  # a second round for keyframes the first round decoded
        more, lone = _keyframe_rule(idx, keys, scan, spans, trusted, trusted_gops, longest, ctx, min_diff)
        _decode_spans(path, fps, _merge(more) + [(k, k) for k in lone], scan)
        spans = _merge(spans + more)
        if not lone:
            break
    out = _to_frame_scan(scan, fps, idx.frame_count)
    out.stream_cuts = np.asarray(sorted(trusted), np.int64)
    return out


def _keyframe_rule(
    idx: StreamIndex,
    keys: np.ndarray,
    scan: _Scan,
    spans: list[tuple[int, int]],
    trusted: set[int],
    trusted_gops: set[int],
    longest: int,
    ctx: int,
    min_diff: float,
) -> tuple[list[tuple[int, int]], list[int]]:
    """For each keyframe outside the decoded spans, whether what changed before it needs a decode:
    returns the spans to decode and the skipped keyframes to decode alone (they sit in a stretch whose
    decoded ends differ). Static stretches and encoder scene-cut keyframes are settled in place."""
    more: list[tuple[int, int]] = []
    lone: list[int] = []
    ordered = np.asarray(sorted(scan.thumbs), np.int64)
    key_size = dict(zip(keys.tolist(), idx.size[idx.is_key].tolist(), strict=True))
    for g in range(1, len(keys)):
        k = int(keys[g])
        if k not in scan.thumbs or _covered(spans, k):
            continue
        if g - 1 in trusted_gops:  # what the frames before k show was not decoded: only the encoder knows
            if k - int(keys[g - 1]) < longest - 1:
                trusted.add(k)  # x264 put a keyframe here before its timer ran out: a scene cut
            continue
        before = scan.last_before(k, ordered)
        if before is None:
            continue
        a, b = scan.thumbs[k], scan.thumbs[before]
        delta = _diff(a, b)
        if delta < min_diff:
            continue
        skipped = [int(x) for x in keys[(keys > before) & (keys < k)] if int(x) not in scan.thumbs]
        if skipped:
            lone += skipped
            continue
        lo, hi = np.searchsorted(idx.frame, [before + 1, k])
        stretch = idx.size[lo:hi]
        busy = stretch.size > 0 and float(stretch.mean()) >= BUSY_SHARE * key_size.get(k, 1)
        if not busy and scan.rows[before][0]:
            # keyframe to keyframe with nothing moving in between: the change is at the keyframe (x264's
            # scene-cut I-frame). After a span's end the content may still have been settling (a fade).
            row = scan.rows[k]
            scan.rows[k] = (row[0], delta, _ssim(a, b, delta), row[3])
            continue
        periodic = k - int(keys[g - 1]) >= longest - 1  # not an encoder's scene-cut keyframe
        if periodic and float(np.abs(_hist(a) - _hist(b)).sum()) / 2 < SAME_HIST:
            continue  # motion with the same picture statistics at a keyframe the encoder put on a timer
        more.append((int(keys[g - 1]), k + ctx))
    return more, lone


def _intra_spikes(idx: StreamIndex, keys: np.ndarray, spikes: np.ndarray) -> set[int]:
    """Spikes that are cuts on the stream's word alone: in a GOP whose P-frames are expensive to decode
    (busy content: their median at least EXPENSIVE_SHARE of the keyframe's size), a P-frame of at least
    INTRA_SHARE of that keyframe's size was coded (mostly) without reference to the frames before it,
    i.e. the encoder's own motion search found nothing of the old picture in it."""
    out: set[int] = set()
    key_at = np.searchsorted(idx.frame, keys)
    bounds = [*key_at.tolist(), len(idx.frame)]
    for g in range(len(keys)):
        a, b = bounds[g], bounds[g + 1]
        key_size = float(
            idx.size[a] if b >= len(idx.frame) else max(idx.size[a], idx.size[b])
        )  # not a dark one
        p = idx.size[a + 1 : b][idx.kind[a + 1 : b] != KIND_B]
        if p.size == 0 or float(np.median(p)) < EXPENSIVE_SHARE * key_size:
            continue
        end = keys[g + 1] if g + 1 < len(keys) else idx.frame_count
        for f in spikes[(spikes > keys[g]) & (spikes < end)].tolist():
            if float(idx.size[int(np.searchsorted(idx.frame, f))]) >= INTRA_SHARE * key_size:
                out.add(int(f))
    return out


def _to_frame_scan(scan: _Scan, fps: float, frame_count: int) -> FrameScan:
    numbers = sorted(scan.rows)
    rows = [scan.rows[n] for n in numbers]
    diff = np.asarray([0.0 if r[1] is None else r[1] for r in rows], np.float32)
    ssim = np.asarray([r[2] for r in rows], np.float32)
    for i, n in enumerate(numbers):  # a lone keyframe or a span's first frame: SSIM to what came before
        if rows[i][1] is None and i > 0 and n in scan.thumbs and numbers[i - 1] in scan.thumbs:
            a, b = scan.thumbs[n], scan.thumbs[numbers[i - 1]]
            ssim[i] = _ssim(a, b, _diff(a, b))
    return FrameScan(
        fps,
        max(frame_count, numbers[-1] + 1),
        scan.width,
        scan.height,
        np.asarray(numbers, np.int64),
        np.asarray([r[0] for r in rows], bool),
        diff,
        ssim,
        np.asarray([r[3] for r in rows], np.float32),
    )
