"""Video probing, scene-cut detection and one sharp keyframe per scene.

Lecture videos are mostly slides and close-ups held for seconds, so a content-based cut detector
(PySceneDetect) splits them into shots and one representative frame per shot is enough. The frame is
taken away from the cut (inner 20-80% of the scene, where fades and transitions are over) and is the
sharpest of a few candidates, because motion blur and half-rendered slide transitions are common.

With `detector: fast` the cuts come from pipeline.preprocess.sparse_scan (the compressed stream says
where a cut may be; only there is anything beyond the keyframes decoded), and the candidates are the
intra frames of each scene's SSIM-stable span among the frames that scan decoded (the scene's middle
frame when it decoded none inside the scene). Candidates are decoded in frame order and only each
scene's sharpest is kept, so memory holds one frame per scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import VideoConfig
from pipeline.errors import ItemError
from pipeline.preprocess.keyframes import (
    FrameScan,
    candidate_frames,
    find_cuts,
    iter_decode_at,
    stable_span,
)
from pipeline.preprocess.sparse_scan import sparse_scan

# Seeking in H.264 decodes from the previous keyframe anyway; for short gaps reading on is cheaper.
_SEEK_GAP_FRAMES = 120


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int


@dataclass(frozen=True)
class Scene:
    """A shot. `end_s`/`end_frame` are exclusive (the first frame of the next scene)."""

    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int


@dataclass
class Keyframe:
    scene_index: int
    start_s: float
    end_s: float
    timestamp_s: float
    frame_index: int
    sharpness: float
    rgb: np.ndarray  # H x W x 3 uint8, RGB order


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise ItemError("unreadable_video", f"not a file: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ItemError("unreadable_video", f"OpenCV cannot open {path.name}")
    return cap


def probe_video(path: Path) -> VideoInfo:
    """Basic stream facts, checked by actually decoding the first frame.

    Container headers can look fine while no frame decodes (a cut-off download, garbage after a valid
    header), so "opens" is not trusted: a file counts as a video only when one frame comes out.
    """
    cap = _open_capture(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise ItemError("unreadable_video", f"no decodable frames in {path.name}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        height, width = frame.shape[:2]
    finally:
        cap.release()
    if not np.isfinite(fps) or fps <= 0:
        raise ItemError("unreadable_video", f"no usable frame rate in {path.name}")
    frame_count = max(frame_count, 1)
    return VideoInfo(
        fps=fps, frame_count=frame_count, duration_s=frame_count / fps, width=width, height=height
    )


def scenes_from_cuts(cuts: list[int], fps: float, frame_count: int) -> list[Scene]:
    """Consecutive scenes covering frames [0, frame_count) split at the given first frames of shots."""
    bounds = [0, *[c for c in sorted(set(cuts)) if 0 < c < frame_count], frame_count]
    return [
        Scene(i, a / fps, b / fps, a, b) for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]


def _fast_scenes(scan: FrameScan, cfg: VideoConfig) -> list[Scene]:
    cuts = find_cuts(scan, cfg.min_scene_len_s, min_diff=cfg.threshold if cfg.threshold is not None else 2.0)
    return scenes_from_cuts(cuts, scan.fps, scan.frame_count)


def detect_scenes(path: Path, cfg: VideoConfig) -> list[Scene]:
    """Scene cuts (fast scan or PySceneDetect); a video without cuts gives one scene spanning all of it.

    min_scene_len is converted from seconds to frames here so the setting means the same thing at any
    frame rate (PySceneDetect's default is a frame count).
    """
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video
    from scenedetect.detector import SceneDetector

    info = probe_video(path)  # fails cleanly (ItemError) before PySceneDetect sees a broken file
    if cfg.detector == "fast":
        return _fast_scenes(sparse_scan(path), cfg)
    min_len = max(1, round(cfg.min_scene_len_s * info.fps))
    detector: SceneDetector
    if cfg.detector == "adaptive":
        detector = (
            AdaptiveDetector(min_scene_len=min_len)
            if cfg.threshold is None
            else AdaptiveDetector(adaptive_threshold=cfg.threshold, min_scene_len=min_len)
        )
    else:
        detector = (
            ContentDetector(min_scene_len=min_len)
            if cfg.threshold is None
            else ContentDetector(threshold=cfg.threshold, min_scene_len=min_len)
        )
    try:
        video = open_video(str(path))
        manager = SceneManager()
        manager.add_detector(detector)
        manager.detect_scenes(video=video)
        raw = manager.get_scene_list(start_in_scene=True)
    except ItemError:
        raise
    except Exception as exc:  # PySceneDetect raises several unrelated types for broken media
        raise ItemError("unreadable_video", f"scene detection failed: {exc}") from exc
    scenes = [
        Scene(
            index=i,
            start_s=float(start.seconds),
            end_s=float(end.seconds),
            start_frame=int(start.frame_num),
            end_frame=int(end.frame_num),
        )
        for i, (start, end) in enumerate(raw)
    ]
    if not scenes:
        raise ItemError("no_frames", f"no frames decoded from {path.name}")
    return scenes


def sharpness(bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: low for blurred or flat frames."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _candidate_frames(scene: Scene, samples: int) -> list[int]:
    """Frame numbers evenly spread over the inner 20-80% of a scene (its middle frame if it is tiny)."""
    length = scene.end_frame - scene.start_frame
    if length <= 0:
        return [scene.start_frame]
    lo = scene.start_frame + int(np.ceil(0.2 * (length - 1)))
    hi = scene.start_frame + int(np.floor(0.8 * (length - 1)))
    if hi < lo:
        return [scene.start_frame + (length - 1) // 2]
    picks = np.linspace(lo, hi, num=max(1, samples)).round().astype(int)
    return sorted({int(p) for p in picks})


def _read_frames(cap: cv2.VideoCapture, wanted: list[int]) -> dict[int, np.ndarray]:
    """Decode the wanted frame numbers (sorted) in one forward pass, seeking only over long gaps."""
    frames: dict[int, np.ndarray] = {}
    position = 0  # number of the frame the next grab() returns
    for target in wanted:
        if target - position > _SEEK_GAP_FRAMES:
            cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            position = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
            if position > target:  # the backend could not land exactly; restart from the beginning
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                position = 0
        while position < target:
            if not cap.grab():
                return frames
            position += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            return frames
        position += 1
        frames[target] = frame
    return frames


def extract_keyframes(
    path: Path, scenes: list[Scene], samples_per_scene: int = 5, scan: FrameScan | None = None
) -> list[Keyframe]:
    """One keyframe per scene: the sharpest of `samples_per_scene` frames from the scene's inner 60%,
    or, given a fast scan, of up to 3 frames of the scene's SSIM-stable span (intra frames first).

    Scenes whose candidates cannot be decoded (a truncated tail) are left out rather than failing the
    whole video; if nothing at all decodes the video is rejected with `no_frames`.
    """
    info = probe_video(path)
    if scan is None:
        per_scene = {s.index: _candidate_frames(s, samples_per_scene) for s in scenes}
    else:
        per_scene = {s.index: _scan_candidates(scan, s, min(3, samples_per_scene)) for s in scenes}
    wanted = sorted({f for frames in per_scene.values() for f in frames})
    if scan is not None:
        return _best_per_scene(path, scan, scenes, per_scene, wanted, info.fps)
    cap = _open_capture(path)
    try:
        decoded = _read_frames(cap, wanted)
    finally:
        cap.release()
    keyframes: list[Keyframe] = []
    for scene in scenes:
        scored = [(sharpness(decoded[f]), f) for f in per_scene[scene.index] if f in decoded]
        if not scored:
            continue
        best_score, best = max(scored, key=lambda sf: (sf[0], -sf[1]))
        keyframes.append(
            Keyframe(
                scene_index=scene.index,
                start_s=scene.start_s,
                end_s=scene.end_s,
                timestamp_s=best / info.fps,
                frame_index=best,
                sharpness=best_score,
                rgb=cv2.cvtColor(decoded[best], cv2.COLOR_BGR2RGB),
            )
        )
    if scenes and not keyframes:
        raise ItemError("no_frames", f"no keyframe could be decoded from {path.name}")
    return keyframes


def _scan_candidates(scan: FrameScan, scene: Scene, samples: int) -> list[int]:
    """Candidates of a scene from a scan's stable span; the scene's middle frame when the scan decoded
    nothing inside it (a sparse scan places some cuts from the stream alone)."""
    inside = [
        f
        for f in candidate_frames(scan, stable_span(scan, scene.start_frame, scene.end_frame), samples)
        if scene.start_frame <= f < scene.end_frame
    ]
    return inside or [scene.start_frame + (scene.end_frame - scene.start_frame - 1) // 2]


def _best_per_scene(
    path: Path,
    scan: FrameScan,
    scenes: list[Scene],
    per_scene: dict[int, list[int]],
    wanted: list[int],
    fps: float,
) -> list[Keyframe]:
    """Decode the candidates in frame order and keep only each scene's sharpest so far: memory holds one
    frame per scene, not every candidate."""
    owner = {f: i for i, frames in per_scene.items() for f in frames}
    best: dict[int, tuple[float, int, np.ndarray]] = {}
    for f, rgb in iter_decode_at(path, scan, wanted):
        score = float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())
        i = owner[f]
        if i not in best or (score, -f) > (best[i][0], -best[i][1]):
            best[i] = (score, f, rgb)
    keyframes = [
        Keyframe(
            scene_index=s.index,
            start_s=s.start_s,
            end_s=s.end_s,
            timestamp_s=best[s.index][1] / fps,
            frame_index=best[s.index][1],
            sharpness=best[s.index][0],
            rgb=best[s.index][2],
        )
        for s in scenes
        if s.index in best
    ]
    if scenes and not keyframes:
        raise ItemError("no_frames", f"no keyframe could be decoded from {path.name}")
    return keyframes


def video_keyframes(path: Path, cfg: VideoConfig) -> tuple[VideoInfo, list[Scene], list[Keyframe]]:
    """Probe, scenes and one keyframe per scene, sharing the fast detector's scan with keyframe choice."""
    info = probe_video(path)
    if cfg.detector != "fast":
        scenes = detect_scenes(path, cfg)
        return info, scenes, extract_keyframes(path, scenes)
    scan = sparse_scan(path)
    scenes = _fast_scenes(scan, cfg)
    return info, scenes, extract_keyframes(path, scenes, scan=scan)
