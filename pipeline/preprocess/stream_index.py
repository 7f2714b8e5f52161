"""What the compressed stream says about every frame, without decoding any: display number, packet size,
keyframe flag and, for H.264, the picture type read from the first slice header.

A hard cut costs the encoder a (mostly) intra-coded picture: either a keyframe, where x264's scene-cut
logic puts one, or a P-frame several times larger than the P-frames around it. Packet sizes therefore
point at the few places where a decoder has to look (pipeline.preprocess.sparse_scan). Reading them is
a demux pass (no decode), about a second for an hour of video.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ItemError

# picture kinds; UNKNOWN when the codec or the bitstream layout is not one we parse
KIND_I, KIND_P, KIND_B, KIND_UNKNOWN = 0, 1, 2, 3
_H264_SLICE_KIND = {
    0: KIND_P,
    1: KIND_B,
    2: KIND_I,
    3: KIND_P,
    4: KIND_I,
}  # slice_type mod 5 (SP as P, SI as I)


@dataclass
class StreamIndex:
    """Per packet of the first video stream, sorted by display frame number."""

    fps: float
    frame_count: int
    codec: str
    frame: np.ndarray  # int64 display frame numbers
    size: np.ndarray  # int64 packet bytes
    is_key: np.ndarray  # bool
    kind: np.ndarray  # int8, KIND_*


class _Bits:
    """Just enough of an exp-Golomb reader for the first two fields of an H.264 slice header."""

    def __init__(self, data: bytes) -> None:
        self.value, self.left = int.from_bytes(data, "big"), len(data) * 8

    def bit(self) -> int:
        if self.left <= 0:
            raise ValueError("out of bits")
        self.left -= 1
        return (self.value >> self.left) & 1

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 16:
                raise ValueError("not exp-Golomb")
        rest = 0
        for _ in range(zeros):
            rest = (rest << 1) | self.bit()
        return (1 << zeros) - 1 + rest


def stream_timing(stream: Any, path: Path) -> tuple[float, float, int]:
    """A PyAV video stream's frames per second, seconds per time-base tick and start tick; a stream with
    no usable rate is an unreadable video."""
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if not np.isfinite(fps) or fps <= 0:
        raise ItemError("unreadable_video", f"no usable frame rate in {path.name}")
    return fps, float(stream.time_base) if stream.time_base else 1.0 / fps, stream.start_time or 0

def _nal_units(data: bytes, length_size: int | None) -> list[bytes]:
    """The NAL units of one packet: length-prefixed (MP4/MKV 'avcC') or Annex B start codes (TS)."""
    if length_size:
        units, at = [], 0
        while at + length_size <= len(data):
            n = int.from_bytes(data[at : at + length_size], "big")
            units.append(data[at + length_size : at + length_size + n])
            at += length_size + n
        return units
    return [u.lstrip(b"\x00") for u in data.split(b"\x00\x00\x01") if u.strip(b"\x00")]


def h264_picture_kind(data: bytes, length_size: int | None) -> int:
    """KIND_I/P/B of an H.264 access unit from its first slice's slice_type; KIND_UNKNOWN if unreadable."""
    try:
        for nal in _nal_units(data, length_size):
            if nal and (nal[0] & 0x1F) in (1, 5):  # coded slice (non-IDR, IDR)
                bits = _Bits(nal[1:9])
                bits.ue()  # first_mb_in_slice
                return _H264_SLICE_KIND.get(bits.ue() % 5, KIND_UNKNOWN)
    except ValueError:
        pass
    return KIND_UNKNOWN


KeyframeSink = Callable[[int, Any], None]


def index_stream(
    path: Path, key_every_s: float = 0.0, on_keyframe: KeyframeSink | None = None
) -> StreamIndex:
    """Demux the first video stream. Picture kinds for H.264; KIND_UNKNOWN otherwise.

    With `on_keyframe`, keyframes at least `key_every_s` seconds after the last one handed over are decoded
    in the same pass (a keyframe decodes alone) and given to it as (display number, av frame).
    """
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ItemError("unreadable_video", f"cannot open {path.name}: {exc}") from exc
    rows = array("q")  # number, size, key, kind per packet, flat: an hour holds ~90k packets
    try:
        if not container.streams.video:
            raise ItemError("unreadable_video", f"{path.name} has no video stream")
        stream = container.streams.video[0]
        fps, tb, start = stream_timing(stream, path)
        codec = stream.codec_context.name
        extradata = stream.codec_context.extradata or b""
        length_size = (extradata[4] & 3) + 1 if extradata[:1] == b"\x01" and len(extradata) > 4 else None
        stream.thread_type = "SLICE"  # keyframes fed one at a time: frame threads only add hand-offs
        key_every, last_key = round(key_every_s * fps), -(1 << 62)

        def handover(frames: Any) -> None:
            for frame in frames:
                if on_keyframe is not None and frame.pts is not None:
                    on_keyframe(round((frame.pts - start) * tb * fps), frame)

        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                number = round((packet.pts - start) * tb * fps)
                kind = KIND_UNKNOWN
                if codec == "h264":
                    head = bytes(memoryview(packet)[:256])  # the slice header is near the start
                    kind = h264_picture_kind(head, length_size)
                if packet.is_keyframe:
                    kind = KIND_I
                    if on_keyframe is not None and number - last_key >= key_every:
                        last_key = number
                        try:
                            handover(stream.decode(packet))
                        except av.FFmpegError:
                            pass  # a damaged keyframe: its neighbours still count
                rows.extend((number, packet.size, int(packet.is_keyframe), kind))
            if on_keyframe is not None:
                handover(stream.decode(None))
        except av.FFmpegError:
            pass  # a damaged tail: keep what was read; the decoder decides what is usable
        frames = int(stream.frames or 0)
    finally:
        container.close()
    arr = np.frombuffer(rows, np.int64).reshape(-1, 4)
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    keep = np.ones(len(arr), bool)
    keep[1:] = arr[1:, 0] != arr[:-1, 0]  # a repeated timestamp: keep the first
    arr = arr[keep]
    count = max(int(arr[-1, 0]) + 1 if len(arr) else 0, frames)
    return StreamIndex(
        fps, count, codec, arr[:, 0], arr[:, 1], arr[:, 2].astype(bool), arr[:, 3].astype(np.int8)
    )
