"""Pairing keyframes with narration by timestamp on the narrated samples, and the extractive caption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import VideoConfig
from pipeline.pair.pairers import NarrationPairer, TimedText
from pipeline.pair.summary import extractive_caption, term_density
from pipeline.preprocess.video import video_keyframes

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "videos"


def test_keyframes_pair_with_their_own_narration() -> None:
    """Scenes from the fast detector, speech timed as in the script: each keyframe gets exactly the
    sentence said over its scene with no context window, align score 1, and its neighbours' with one."""
    scripts = sorted(SAMPLES.glob("*.script.json"))
    if not scripts:
        pytest.skip("no sample scripts")
    for script in scripts:
        truth = json.loads(script.read_text())["scenes"]
        speech = [TimedText(s["speech_start_s"], s["speech_end_s"], s["narration"]) for s in truth]
        video = script.with_name(script.name.replace(".script.json", ".mp4"))
        _, scenes, keyframes = video_keyframes(video, VideoConfig(detector="fast"))
        for kf in keyframes:
            pair = NarrationPairer(0.0).pair(kf.start_s, kf.end_s, speech)
            assert pair is not None
            assert pair.text == truth[kf.scene_index]["narration"]
            assert pair.align_score == 1.0 and kf.start_s <= pair.start_s < pair.end_s <= kf.end_s
            wide = NarrationPairer(1.0).pair(kf.start_s, kf.end_s, speech)
            assert wide is not None and truth[kf.scene_index]["narration"] in wide.text
            if 0 < kf.scene_index < len(scenes) - 1:
                assert wide.n_segments == 3 and wide.align_score < 1.0


def test_extractive_caption_keeps_term_dense_sentences_in_order() -> None:
    text = ("So let's move on to the next slide now. Here we see psoriasis with silvery scale on erythematous "
            "plaques. This is something I see a lot in clinic, you know. Nail pitting is also common in psoriasis.")
    caption = extractive_caption(text, max_words=25)
    assert caption == ("Here we see psoriasis with silvery scale on erythematous plaques. "
                       "Nail pitting is also common in psoriasis.")
    assert term_density("Next slide please.") == 0.0 < term_density("Psoriasis has plaques.")
    assert extractive_caption("Hello there. Next slide.", max_words=3) == "Hello there."
    assert extractive_caption("") == ""


def test_llm_caption_is_grounded_and_falls_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """pair.caption_method: llm with a scripted client: a grounded summary is kept (and its call logged),
    a summary naming a condition the narration never names, and a failed call, fall back to extractive."""
    from test_transcript_llm import ScriptedClient

    from pipeline.config import LlmConfig, RunConfig
    from pipeline.pair.stage import PairInput, PairStage
    from pipeline.pair.summary import LlmCaptioner, extractive_caption
    from pipeline.stage import WorkUnit

    narration = ("So welcome back everyone. Here you can see a well demarcated plaque with silvery scale on "
                 "the elbow. This is chronic plaque psoriasis. Let's move on.")
    client = ScriptedClient({"caption": "Well-demarcated plaque with silvery scale on the elbow: chronic plaque psoriasis.",
                             "dropped": ["greeting"]},
                            {"caption": "Melanoma on the elbow.", "dropped": []},
                            TimeoutError("read timed out"))
    captioner = LlmCaptioner(LlmConfig(model="stub"), max_words=30, client=client)
    caption, method, row = captioner.caption(narration)
    assert method == "llm:stub" and caption.startswith("Well-demarcated") and row["error"] is None
    caption, method, row = captioner.caption(narration)
    assert method == "extractive" and caption == extractive_caption(narration, 30)
    assert "melanoma" in row["error"].lower()
    caption, method, row = captioner.caption(narration)
    assert method == "extractive" and "TimeoutError" in row["error"]

    cfg = RunConfig()
    cfg.pair.caption_method = "llm"
    stage = PairStage(cfg, llm_client=ScriptedClient({"caption": "Chronic plaque psoriasis on the elbow.",
                                                       "dropped": []}))
    payload = PairInput("v#scene0001", "v", "keyframe", None, "i", "i", "c", "local", "video", 0.0, 10.0,
                        segments=((0.0, 9.0, narration),))
    res = stage.process(WorkUnit("v#scene0001", "fp", payload))
    pair = res.rows["pair_image_texts"][0]
    assert pair["caption"] == "Chronic plaque psoriasis on the elbow." and pair["caption_method"] == "llm:gpt-4o-mini"
    assert [c["prompt"] for c in res.rows["llm_calls"]] == ["refine_caption.v2"]
