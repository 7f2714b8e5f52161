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
