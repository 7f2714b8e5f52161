"""Procedural one-hour lecture video with known cut frames, for bench/video.py (never committed).

Scenes of 5-40 s at 640x360/25 fps: bullet slides (runs of slides on one template that differ only in
their text, the hard case for colour-based detectors), lesion photos, slow pans/zooms over photos, a
laser-pointer dot moving over some slides, fades in from / out to black inside some scenes, and slides
that come back later (for keyframe clustering). Every transition between scenes is a hard cut, so the
ground truth is exact; pans, zooms, fades and the pointer are there to provoke false cuts.
Frames are built with numpy/cv2 and piped as raw I420 to ffmpeg's libx264.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np

W, H, FPS = 640, 360, 25
WORDS = (
    "plaque scale erythema papule nodule border pigment network vesicle crust ulcer margin biopsy "
    "dermoscopy psoriasis eczema tinea melanoma naevus keratosis lichen urticaria acne rosacea"
).split()


def _slide(rng: np.random.Generator, template: int) -> np.ndarray:
    palette = np.random.default_rng(template).integers(30, 230, (3, 3))
    img = np.empty((H, W, 3), np.uint8)
    img[:] = palette[0]
    cv2.rectangle(img, (0, 0), (W, 56), [int(v) for v in palette[1]], -1)
    cv2.putText(
        img,
        " ".join(rng.choice(WORDS, 3)).title(),
        (18, 40),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.0,
        (255, 255, 255),
        2,
        cv2.LINE_AA,
    )
    ink = (20, 20, 20) if palette[0].mean() > 120 else (240, 240, 240)
    for line in range(int(rng.integers(3, 7))):
        words = " ".join(rng.choice(WORDS, int(rng.integers(2, 6))))
        cv2.putText(
            img, f"- {words}", (30, 100 + 42 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.8, ink, 2, cv2.LINE_AA
        )
    if rng.random() < 0.5:  # a small photo panel on the right
        panel = _photo(rng, 200, 150)
        img[120:270, 420:620] = panel
    return img


def _photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    tone = rng.integers(120, 220)
    base = np.array([tone * 0.75, tone * 0.85, tone], np.float32)  # BGR skin
    noise = cv2.resize(rng.normal(0, 12, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    img = base + noise
    for _ in range(int(rng.integers(3, 12))):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        axes = (int(rng.integers(w // 30 + 2, w // 6)), int(rng.integers(h // 30 + 2, h // 6)))
        colour = [float(v) for v in rng.integers(20, 140, 3)]
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (cx, cy), axes, float(rng.integers(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
        img = img * (1 - mask) + np.array(colour, np.float32) * mask
    return np.clip(img, 0, 255).astype(np.uint8)


def _i420(bgr: np.ndarray) -> bytes:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()


PlanItem = tuple[str, float, bool, bool, bool]  # kind, seconds, fade in, fade out, new slide template


def _encoder(out: Path, fps: int, x264_params: str | None) -> subprocess.Popen[bytes]:
    """libx264 (veryfast, crf 26) reading raw I420 frames on stdin; `x264_params` sets the GOP layout."""
    from imageio_ffmpeg import get_ffmpeg_exe

    cmd = [
        get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{W}x{H}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "26",
        *(["-x264-params", x264_params] if x264_params else []),
        "-pix_fmt",
        "yuv420p",
        str(out),
    ]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE)


def generate(
    out: Path,
    duration_s: float = 3600.0,
    seed: int = 7,
    plan: list[PlanItem] | None = None,
    x264_params: str | None = None,
) -> dict[str, object]:
    """Write `out` (mp4) and `out.with_suffix('.json')` (cut frames, scene kinds); reuse both if present.

    Scenes are drawn at random unless a `plan` fixes them (tests use one to be sure every effect occurs).
    `x264_params` changes the encoding only (e.g. "keyint=12:bframes=3": short GOPs with B-frames).
    """
    truth_path = out.with_suffix(".json")
    if out.exists() and truth_path.exists():
        return dict(json.loads(truth_path.read_text()))
    rng = np.random.default_rng(seed)
    proc = _encoder(out, FPS, x264_params)
    assert proc.stdin is not None
    total, frame_no = int(duration_s * FPS), 0
    scenes: list[dict[str, object]] = []
    shown: list[np.ndarray] = []
    template = 0
    if plan is not None:
        total = sum(round(p[1] * FPS) for p in plan)
    while frame_no < total:
        if plan is not None:
            kind, seconds, fade_in, fade_out, new_template = plan[len(scenes)]
            n = round(seconds * FPS)
            template += int(new_template)
        else:
            n = min(int(rng.integers(5 * FPS, 40 * FPS)), total - frame_no)
            kind = str(
                rng.choice(
                    ["slide", "slide", "slide", "photo", "pan", "zoom", "pointer", "repeat"],
                    p=[0.2, 0.15, 0.15, 0.12, 0.1, 0.08, 0.1, 0.1],
                )
            )
            if kind == "repeat" and len(shown) < 5:
                kind = "slide"
            if rng.random() < 0.35:
                template += 1  # otherwise the next slide keeps this template and differs only in text
            fade_in, fade_out = bool(rng.random() < 0.1), bool(rng.random() < 0.1)
        big = _photo(rng, int(W * 1.5), int(H * 1.5)) if kind in ("pan", "zoom") else None
        still = None
        if kind == "repeat":
            still = shown[int(rng.integers(0, len(shown)))] if plan is None else shown[0]
        elif kind == "photo":
            still = _photo(rng, W, H)
        elif kind in ("slide", "pointer"):
            still = _slide(rng, template)
        if still is not None and kind != "repeat":
            shown.append(still)
        static = _i420(still) if still is not None and kind != "pointer" else None
        for i in range(n):
            t = i / max(1, n - 1)
            if big is not None:
                if kind == "pan":
                    x, y = int(t * (big.shape[1] - W)), int(t * (big.shape[0] - H) * 0.5)
                    frame = big[y : y + H, x : x + W]
                else:
                    s = 1.0 - 0.4 * t
                    cw, ch = int(big.shape[1] * s), int(big.shape[0] * s)
                    x0, y0 = (big.shape[1] - cw) // 2, (big.shape[0] - ch) // 2
                    frame = cv2.resize(
                        big[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR
                    )
            elif kind == "pointer":
                assert still is not None
                frame = still.copy()
                cx = int(W * (0.2 + 0.6 * (0.5 + 0.5 * np.sin(i / 20))))
                cy = int(H * (0.3 + 0.5 * (0.5 + 0.5 * np.cos(i / 33))))
                cv2.circle(frame, (cx, cy), 7, (0, 0, 255), -1)
            else:
                frame = None
            gain = 1.0
            if fade_in and i < FPS:
                gain = i / FPS
            if fade_out and n - i <= FPS:
                gain = min(gain, (n - 1 - i) / FPS)
            if gain < 1.0:
                base = frame if frame is not None else still
                assert base is not None
                proc.stdin.write(_i420((base.astype(np.float32) * gain).astype(np.uint8)))
            elif frame is not None:
                proc.stdin.write(_i420(np.ascontiguousarray(frame)))
            else:
                assert static is not None
                proc.stdin.write(static)
        scenes.append(
            {"start_frame": frame_no, "frames": n, "kind": kind, "fade_in": fade_in, "fade_out": fade_out}
        )
        frame_no += n
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg failed while encoding the benchmark video")
    truth = {
        "fps": FPS,
        "width": W,
        "height": H,
        "frames": total,
        "scenes": scenes,
        "cuts": [s["start_frame"] for s in scenes[1:]],
    }
    truth_path.write_text(json.dumps(truth))
    return truth


def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A busy, noise-like picture: blotches at three scales over a colour of its own (BGR uint8)."""
    img = np.zeros((h, w, 3), np.float32)
    img[:] = rng.integers(40, 216, 3)
    for cell, amp in ((48, 40.0), (12, 30.0), (3, 25.0)):
        small = rng.normal(0, amp, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC if cell > 3 else cv2.INTER_NEAREST)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_noise(
    out: Path, duration_s: float = 600.0, fps: int = 30, keyint: int = 250, seed: int = 3
) -> dict[str, object]:
    """The hard case for a cut detector that relies on the encoder: busy noise-like scenes of 1-8 s that
    drift a few pixels a frame under fresh per-frame grain, encoded with a keyframe every `keyint` frames
    and nowhere else (x264 scenecut off), so almost no cut falls on a keyframe. Truth as in `generate`."""
    truth_path = out.with_suffix(".json")
    if out.exists() and truth_path.exists():
        return dict(json.loads(truth_path.read_text()))
    rng = np.random.default_rng(seed)
    proc = _encoder(out, fps, f"keyint={keyint}:min-keyint={keyint}:scenecut=0")
    assert proc.stdin is not None
    grain = [rng.normal(0, 9, (H, W, 1)).astype(np.int16) for _ in range(37)]  # reused cyclically
    total, frame_no = int(duration_s * fps), 0
    scenes: list[dict[str, object]] = []
    while frame_no < total:
        n = min(int(rng.integers(1 * fps, 8 * fps)), total - frame_no)
        vx, vy = int(rng.integers(0, 3)), int(rng.integers(0, 2))  # pixels per frame, 0 = a still
        big = _texture(rng, W + vx * n, H + vy * n)
        for i in range(n):
            frame = (
                big[vy * i : vy * i + H, vx * i : vx * i + W].astype(np.int16)
                + grain[(frame_no + i) % len(grain)]
            )
            proc.stdin.write(_i420(np.clip(frame, 0, 255).astype(np.uint8)))
        scenes.append(
            {"start_frame": frame_no, "frames": n, "kind": "noise", "fade_in": False, "fade_out": False}
        )
        frame_no += n
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg failed while encoding the benchmark video")
    truth = {
        "fps": fps,
        "width": W,
        "height": H,
        "frames": total,
        "scenes": scenes,
        "cuts": [s["start_frame"] for s in scenes[1:]],
        "keyint": keyint,
    }
    truth_path.write_text(json.dumps(truth))
    return truth


if __name__ == "__main__":
    import sys
    import time

    t0 = time.perf_counter()
    meta = generate(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 3600.0)
    print(f"{len(meta['cuts'])} cuts, {time.perf_counter() - t0:.1f} s")  # type: ignore[arg-type]
