from pipeline.pair.pairers import NarrationPairer, TimedText


def test_narration_pairs_scene_speech_with_context():
    segs = [TimedText(0.0, 3.5, "Welcome."), TimedText(4.2, 7.8, "This plaque shows silvery scale."),
            TimedText(8.1, 11.0, "Next, a nodule."), TimedText(20.0, 22.0, "Far away.")]
    pair = NarrationPairer(0.5).pair(4.0, 8.0, segs)
    assert pair is not None
    assert pair.text == "This plaque shows silvery scale. Next, a nodule."
    assert pair.n_segments == 2 and 0.5 < pair.align_score < 1.0
    wide = NarrationPairer(1.0).pair(4.0, 8.0, segs)
    assert wide is not None and wide.n_segments == 3 and wide.align_score < pair.align_score


def test_no_speech_gives_none():
    assert NarrationPairer(2.0).pair(30.0, 35.0, [TimedText(0, 1, "hi")]) is None
