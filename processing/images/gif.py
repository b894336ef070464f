"""GIF: keep frames, graphic controls, loop count and ICC; drop comments and the rest."""

from __future__ import annotations

from .formats import BadImage
from .icc import colour_profile
from .labels import (
    COMMENT,
    DAMAGED_PROFILE,
    EMBEDDED_TEXT,
    OTHER_APP_DATA,
    TRAILING,
    UNRECOGNISED,
    XMP,
)

_TRUNCATED_GIF = "The GIF file is truncated or damaged."


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    """Position just after the data sub-blocks starting at ``pos`` (size byte, 0 ends)."""
    size = len(data)
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_GIF)
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos


def _gif_loop_block(data: bytes, pos: int, end: int) -> bytes | None:
    """The NETSCAPE2.0 loop sub-block (0x01 + 2-byte count), rebuilt alone, if present."""
    while pos < end and data[pos]:
        length = data[pos]
        if length >= 3 and data[pos + 1] == 1:
            return b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + data[pos + 2 : pos + 4] + b"\x00"
        pos += 1 + length
    return None


class _GifState:
    """What the block walk keeps, and what it found."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.mv = memoryview(data)
        self.labels: set[str] = set()
        self.kept: list[bytes | memoryview] = []
        self.frames = 0
        self.loop_kept = False


def _gif_image(state: _GifState, pos: int) -> int:
    """Keep an image descriptor, its optional local palette and LZW data; return the end."""
    data = state.data
    if pos + 11 > len(data):
        raise BadImage(_TRUNCATED_GIF)
    local = data[pos + 9]
    start = pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
    end = _gif_sub_blocks(data, start)
    state.kept.append(state.mv[pos:end])
    state.frames += 1
    return end


def _gif_application(state: _GifState, pos: int, end: int) -> None:
    """Keep the NETSCAPE2.0 loop count (once) and the ICC profile; report the rest."""
    data = state.data
    ident = data[pos + 3 : pos + 14] if data[pos + 2] == 11 else b""
    if ident == b"NETSCAPE2.0" and not state.loop_kept:
        loop = _gif_loop_block(data, pos + 14, end)
        if loop is not None:
            state.kept.append(loop)
            state.loop_kept = True
    elif ident == b"ICCRGBG1012":
        _gif_icc(state, pos + 14, end)
    elif ident == b"XMP DataXMP":
        state.labels.add(XMP)
    else:
        state.labels.add(OTHER_APP_DATA)


def _gif_icc(state: _GifState, pos: int, end: int) -> None:
    """Rebuild the ICCRGBG1012 block around the colour-tags-only profile."""
    chunks = []
    while pos < end and state.data[pos]:
        chunks.append(state.data[pos + 1 : pos + 1 + state.data[pos]])
        pos += 1 + state.data[pos]
    profile = colour_profile(b"".join(chunks))
    if profile is None:
        state.labels.add(DAMAGED_PROFILE)
        return
    blocks = b"".join(
        bytes((len(part),)) + part
        for part in (profile[i : i + 255] for i in range(0, len(profile), 255))
    )
    state.kept.append(b"\x21\xff\x0bICCRGBG1012" + blocks + b"\x00")


_GIF_DROPPED = {0xFE: COMMENT, 0x01: EMBEDDED_TEXT}


def _gif_extension(state: _GifState, pos: int) -> int:
    """Keep graphic controls (rebuilt) and wanted application blocks; return the end."""
    data = state.data
    if pos + 2 > len(data):
        raise BadImage(_TRUNCATED_GIF)
    label = data[pos + 1]
    end = _gif_sub_blocks(data, pos + 2)
    if label == 0xF9:  # graphic control: frame delay, disposal, transparency
        if data[pos + 2] >= 4:  # rebuilt from the 4 bytes decoders read, nothing else
            state.kept.append(b"\x21\xf9\x04" + data[pos + 3 : pos + 7] + b"\x00")
        else:
            state.labels.add(UNRECOGNISED)
    elif label == 0xFF:
        _gif_application(state, pos, end)
    else:
        state.labels.add(_GIF_DROPPED.get(label, OTHER_APP_DATA))
    return end


def clean_gif(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep frames, graphic controls, loop count and ICC; drop comments, other extensions."""
    size = len(data)
    if size < 13:
        raise BadImage(_TRUNCATED_GIF)
    state = _GifState(data)
    packed = data[10]
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    state.kept.append(state.mv[:pos])
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_GIF)
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            state.kept.append(b";")
            pos += 1
            break
        if introducer == 0x2C:  # image descriptor
            pos = _gif_image(state, pos)
        elif introducer == 0x21:
            pos = _gif_extension(state, pos)
        else:
            raise BadImage(_TRUNCATED_GIF)
    if state.frames == 0:
        raise BadImage(_TRUNCATED_GIF)
    if pos < size:
        state.labels.add(TRAILING)
    return b"".join(state.kept), state.labels, 1
