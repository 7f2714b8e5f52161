"""The fast scene detector and keyframe selection: exact cuts on the narrated samples and on a generated
lecture with pans, zooms, fades and a pointer; stable spans; repeated-slide collapse; keyframe identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import RunConfig, VideoConfig
from pipeline.preprocess.keyframe_filter import (
    FrameView,
    KeepEveryFrame,
    cluster_repeats,
    frame_embedding,
    make_frame_filter,
    perceptual_hash,
)
from pipeline.preprocess.keyframes import (
    FrameScan,
    candidate_frames,
    find_cuts,
    scan_video,
    ssim_grey,
    stable_span,
)
from pipeline.preprocess.video import detect_scenes, video_keyframes

pytest.importorskip("imageio_ffmpeg")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "videos"


def _scripts() -> list[Path]:
    scripts = sorted(SAMPLES.glob("*.script.json"))
    if not scripts:
        pytest.skip(f"no <id>.script.json in {SAMPLES} (run scripts/make_samples.py)")
    return scripts


def test_fast_detector_finds_every_sample_cut_to_the_frame() -> None:
    for script in _scripts():
        truth = json.loads(script.read_text())
        video = script.with_name(script.name.replace(".script.json", ".mp4"))
        info, scenes, keyframes = video_keyframes(video, VideoConfig(detector="fast"))
        fps = truth["fps"]
        assert [s.start_frame for s in scenes] == [round(t["start_s"] * fps) for t in truth["scenes"]], video.name
        assert scenes[-1].end_frame == info.frame_count
        # one keyframe per scene, from inside it
        assert [k.scene_index for k in keyframes] == [s.index for s in scenes]
        for k, s in zip(keyframes, scenes, strict=True):
            assert s.start_frame <= k.frame_index < s.end_frame
            assert k.rgb.shape == (truth["height"], truth["width"], 3)


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    from bench.video_gen import generate

    path = tmp_path_factory.mktemp("lecture") / "lecture.mp4"
    plan = [("slide", 3.0, False, False, True), ("slide", 3.0, False, True, False),  # same template, new text
            ("pan", 4.0, False, False, True), ("pointer", 4.0, True, False, True), ("zoom", 4.0, False, False, True),
            ("photo", 3.0, False, False, True), ("repeat", 3.0, False, False, False)]
    return path, generate(path, seed=11, plan=plan)


def test_fast_detector_on_generated_lecture(lecture: tuple[Path, dict[str, object]]) -> None:
    """Hard cuts all found within 2 frames; pans, zooms, fades and pointer motion add no cut."""
    path, truth = lecture
    scan = scan_video(path)
    assert scan.index.size < 0.8 * scan.frame_count  # B-frames were skipped, not decoded
    found = find_cuts(scan)
    true_cuts = truth["cuts"]
    assert len(found) == len(true_cuts)  # type: ignore[arg-type]
    for got, want in zip(found, true_cuts, strict=True):  # type: ignore[call-overload]
        assert abs(got - want) <= 2


def test_full_decode_scan_is_exact(lecture: tuple[Path, dict[str, object]]) -> None:
    path, truth = lecture
    scan = scan_video(path, skip_nonref=False)
    assert scan.index.size == scan.frame_count
    assert find_cuts(scan) == truth["cuts"]


def test_min_scene_len_keeps_the_stronger_cut() -> None:
    diff = np.zeros(100, np.float32)
    diff[[30, 35, 70]] = [20.0, 40.0, 25.0]
    scan = FrameScan(25.0, 100, 64, 36, np.arange(100), np.zeros(100, bool), diff, np.ones(100, np.float32))
    assert find_cuts(scan, min_scene_len_s=1.0) == [35, 70]
    assert find_cuts(scan, min_scene_len_s=0.1) == [30, 35, 70]


def test_steady_motion_is_not_a_cut() -> None:
    """A pan differs by 12 grey levels every frame: nothing stands out against its neighbours."""
    diff = np.full(200, 12.0, np.float32)
    diff[0] = 0
    diff[120] = 80.0
    scan = FrameScan(25.0, 200, 64, 36, np.arange(200), np.zeros(200, bool), diff, np.ones(200, np.float32))
    assert find_cuts(scan) == [120]


def test_stable_span_prefers_the_held_part_and_intra_frames() -> None:
    n = 100
    ssim = np.ones(n, np.float32)
    ssim[10:40] = 0.5  # a build-up or pan
    keys = np.zeros(n, bool)
    keys[[0, 60]] = True
    scan = FrameScan(25.0, n, 64, 36, np.arange(n), keys, np.zeros(n, np.float32), ssim)
    a, b = stable_span(scan, 0, n)
    assert (a, b) == (39, 100)  # frame 39 ends the pan and already equals frame 40
    assert candidate_frames(scan, (a, b)) == [60]  # the intra frame decodes alone
    keys[60] = False
    assert candidate_frames(scan, (a, b), samples=3) == [39, 69, 99]
    ssim[50] = 0.5  # a cut's first frame equals its successor: the scene's own intra frame is stable
    assert stable_span(scan, 50, 100) == (50, 100)


def test_ssim_grey() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (36, 64), dtype=np.uint8)
    assert ssim_grey(img, img) == pytest.approx(1.0)
    assert ssim_grey(img, 255 - img) < 0.2


def test_repeated_slides_collapse_but_template_siblings_do_not() -> None:
    from bench.video_gen import _slide

    rng = np.random.default_rng(5)
    a, b, c = _slide(rng, 1), _slide(rng, 1), _slide(rng, 2)  # a, b: same template, different text
    noisy_a = np.clip(a.astype(np.int16) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    frames = [x[..., ::-1].copy() for x in (a, b, noisy_a, c)]  # BGR -> RGB
    groups = cluster_repeats(frames, [1.0, 1.0, 5.0, 1.0], max_distance=VideoConfig().cluster_max_distance)
    assert [g.members for g in groups] == [[0, 2], [1], [3]]
    assert groups[0].representative == 2  # the sharper copy stands for the repeat
    assert frame_embedding(frames[0]).shape == (576,)


def test_keyframe_identity_and_classifier_default() -> None:
    rgb = np.zeros((90, 160, 3), np.uint8)
    rgb[20:70, 40:120] = (200, 120, 90)
    h = perceptual_hash(rgb)
    assert len(h) == 16 and h == perceptual_hash(rgb.copy())
    image_type, _, views = KeepEveryFrame().views(rgb)
    assert image_type == "unknown" and len(views) == 1 and views[0].crop is None and views[0].rgb is rgb


def _slide(photo: np.ndarray | None) -> np.ndarray:
    """A 640x360 lecture slide: white, a title bar and bullet lines, and optionally a photo on the right."""
    slide = np.full((360, 640, 3), 250, np.uint8)
    slide[20:60, 30:610] = (30, 60, 140)
    for y in range(100, 330, 28):
        slide[y:y + 8, 40:300:6] = 20  # dashed dark strokes read as text lines
    if photo is not None:
        slide[90:90 + photo.shape[0], 360:360 + photo.shape[1]] = photo
    return slide


def test_lesion_photo_is_cut_out_of_a_slide() -> None:
    """The default filter (image_type's heuristic + the gutter detector) drops a text-only slide,
    keeps the lesion photo placed on a slide as a crop, and keeps a full-frame photo whole."""
    from PIL import Image

    sample = REPO / "samples" / "datasets" / "derm_sample" / "images" / "SYN_9000001.jpg"
    photo = np.asarray(Image.open(sample).convert("RGB").resize((240, 240)))
    filt = make_frame_filter(RunConfig())
    kind, _, views = filt.views(_slide(None))
    assert kind not in ("clinical_photo", "dermoscopy") and views == []
    kind, _, views = filt.views(_slide(photo))
    assert kind not in ("clinical_photo", "dermoscopy")
    assert len(views) == 1 and views[0].image_type in ("clinical_photo", "dermoscopy")
    x0, y0, x1, y1 = views[0].crop or (0, 0, 0, 0)
    assert abs(x0 - 360) <= 6 and abs(y0 - 90) <= 6 and abs(x1 - 600) <= 6 and abs(y1 - 330) <= 6
    full = np.asarray(Image.fromarray(photo).resize((640, 360)))
    _, _, views = filt.views(full)
    assert len(views) == 1 and views[0].crop is None
    assert isinstance(make_frame_filter(RunConfig(preprocess={"video": {"frame_filter": "none"}})),
                      KeepEveryFrame)


def test_stage_drops_typed_frames_and_stores_identity(tmp_path: Path) -> None:
    """The preprocess stage with a classifier (issue #5's interface): dropped types become rejects; kept
    keyframes carry video id, timestamp, format id, phash and the detector."""
    from pipeline.preprocess.stage import PreprocessStage
    from pipeline.stage import WorkUnit

    script = _scripts()[0]
    video = script.with_name(script.name.replace(".script.json", ".mp4"))
    info = json.loads(video.with_name(video.stem + ".info.json").read_text())
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.preprocess.video.detector = "fast"
    cfg.preprocess.asr.backend = "none"
    stage = PreprocessStage(cfg)

    class FirstIsTitle:
        calls = 0

        def views(self, image: np.ndarray) -> tuple[str, float, list[FrameView]]:
            self.calls += 1
            if self.calls == 1:
                return "slide_with_text", 0.0, []
            return "clinical_photo", 0.9, [FrameView(image, "clinical_photo", 0.9)]

    stage.frame_filter = FirstIsTitle()
    item = {"item_id": "v1", "kind": "video", "source": "local", "path": str(video), "sha256": "x",
            "title": "t", "meta": {"info": {**info, "format_id": "18"}}}
    res = stage.process(WorkUnit("v1", "fp", item))
    refs = res.rows["preprocess_image_refs"]
    n_scenes = len(res.rows["preprocess_scenes"])
    assert [r.reason for r in res.rejects] == ["keyframe_slide_with_text"]
    assert 1 <= len(refs) <= n_scenes - 1
    meta = json.loads(refs[0]["meta"])
    assert meta["video_id"] == info["id"] and meta["format_id"] == "18" and len(meta["phash"]) == 16
    assert meta["detector"] == "fast" and refs[0]["start_s"] <= refs[0]["timestamp_s"] < refs[0]["end_s"]


def test_detect_scenes_fast_matches_pyscenedetect_on_samples() -> None:
    for script in _scripts():
        video = script.with_name(script.name.replace(".script.json", ".mp4"))
        fast = detect_scenes(video, VideoConfig(detector="fast"))
        content = detect_scenes(video, VideoConfig(detector="content"))
        assert [s.start_frame for s in fast] == [s.start_frame for s in content]


def test_repeated_slide_in_lecture_collapses_to_one_keyframe(lecture: tuple[Path, dict[str, object]]) -> None:
    """The plan's last scene shows the first slide again: 7 scenes, 6 distinct keyframes."""
    path, _ = lecture
    _, scenes, keyframes = video_keyframes(path, VideoConfig(detector="fast"))
    groups = cluster_repeats([k.rgb for k in keyframes], [k.sharpness for k in keyframes],
                             VideoConfig().cluster_max_distance)
    assert len(scenes) == len(keyframes) == 7
    assert [sorted(keyframes[m].scene_index for m in g.members) for g in groups] == [
        [0, 6], [1], [2], [3], [4], [5]]


def test_decode_at_returns_the_exact_frames(lecture: tuple[Path, dict[str, object]]) -> None:
    """Seek-and-decode (intra frame first, B-frames skipped) gives the same pixels as reading on."""
    import cv2

    from pipeline.preprocess.keyframes import decode_at

    path, _ = lecture
    scan = scan_video(path)
    in_scan = set(scan.index.tolist())
    key = int(scan.index[scan.is_key][1])
    ref = int(next(f for f in scan.index if f > key + 5 and not scan.is_key[np.searchsorted(scan.index, f)]))
    bframe = next(f for f in range(ref + 1, scan.frame_count) if f not in in_scan)
    wanted = [key, ref, bframe, 200]
    got = decode_at(path, scan, wanted)
    cap = cv2.VideoCapture(str(path))
    frames = {}
    for n in range(max(wanted) + 1):
        ok, bgr = cap.read()
        assert ok
        if n in wanted:
            frames[n] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    cap.release()
    assert sorted(got) == sorted(wanted)
    for n in wanted:
        assert np.abs(got[n].astype(int) - frames[n]).mean() < 1.0, n
