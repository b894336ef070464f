"""WebP: keep image, alpha, ICC and animation chunks; drop EXIF, XMP and unknown chunks."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .formats import BadImage
from .icc import colour_profile
from .labels import DAMAGED_PROFILE, OTHER_APP_DATA, TRAILING
from .metadata import Orientation, analyse_exif, analyse_xmp, minimal_exif_tiff

_WEBP_KEEP = frozenset({b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"})
_WEBP_FRAME_KEEP = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_VP8X_ICC, _VP8X_EXIF, _VP8X_XMP = 0x20, 0x08, 0x04
_TRUNCATED_WEBP = "The WebP file is truncated or damaged."


def _riff_chunks(data: bytes, pos: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (fourcc, payload start, payload end) of RIFF chunks in data[pos:end]."""
    while pos < end:
        if pos + 8 > end:
            raise BadImage(_TRUNCATED_WEBP)
        fourcc, length = struct.unpack_from("<4sI", data, pos)
        stop = pos + 8 + length
        if stop > end:
            raise BadImage(_TRUNCATED_WEBP)
        yield fourcc, pos + 8, stop
        pos = stop + (length & 1)
        if pos > end:
            raise BadImage(_TRUNCATED_WEBP)


def _riff_chunk(fourcc: bytes, payload: bytes | memoryview) -> bytes:
    pad = b"\x00" if len(payload) & 1 else b""
    return fourcc + struct.pack("<I", len(payload)) + bytes(payload) + pad


def clean_webp(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep image, alpha, ICC and animation chunks; drop EXIF, XMP, unknown chunks, tail."""
    labels: set[str] = set()
    orient = Orientation()
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < 20 or riff_end > len(data) or riff_end < 20:
        raise BadImage(_TRUNCATED_WEBP)
    kept: list[bytes] = []
    vp8x: bytearray | None = None
    for index, (fourcc, start, stop) in enumerate(_riff_chunks(data, 12, riff_end)):
        if index == 0 and fourcc not in (b"VP8X", b"VP8 ", b"VP8L"):
            raise BadImage(_TRUNCATED_WEBP)
        if fourcc == b"VP8X":
            if index != 0 or stop - start != 10:
                raise BadImage(_TRUNCATED_WEBP)
            vp8x = bytearray(data[start:stop])
            kept.append(b"")  # rebuilt below, once the flags are known
        else:
            kept.append(_webp_chunk(fourcc, data[start:stop], labels, orient))
    if riff_end < len(data):
        labels.add(TRAILING)
    # Orientation needs the extended (VP8X) layout; a simple-layout file cannot carry EXIF
    # legally, so one that did is left without orientation (documented, very rare).
    orientation = orient.value if vp8x is not None else 1
    if vp8x is not None:
        _finish_extended(vp8x, orientation, kept)
    body = b"".join([b"WEBP", *kept])
    return b"RIFF" + struct.pack("<I", len(body)) + body, labels, orientation


def _webp_chunk(fourcc: bytes, payload: bytes, labels: set[str], orient: Orientation) -> bytes:
    """What to keep of one top-level chunk (b"" for nothing); dropped ones are reported."""
    if fourcc == b"ANMF":
        return _clean_anmf(payload, labels)
    if fourcc == b"ICCP":
        profile = colour_profile(payload)
        if profile is None:
            labels.add(DAMAGED_PROFILE)
            return b""
        return _riff_chunk(fourcc, profile)
    if fourcc in _WEBP_KEEP:
        return _riff_chunk(fourcc, payload)
    if fourcc == b"EXIF":
        orient.from_exif(analyse_exif(payload, labels))
    elif fourcc == b"XMP ":
        orient.from_xmp(analyse_xmp(payload, labels))
    else:
        labels.add(OTHER_APP_DATA)
    return b""


def _finish_extended(vp8x: bytearray, orientation: int, kept: list[bytes]) -> None:
    """Rebuild the VP8X header (first kept chunk) with flags for what is left."""
    vp8x[0] &= ~(_VP8X_EXIF | _VP8X_XMP | _VP8X_ICC) & 0xFF
    if any(chunk[:4] == b"ICCP" for chunk in kept):
        vp8x[0] |= _VP8X_ICC
    if orientation != 1:
        vp8x[0] |= _VP8X_EXIF
        kept.append(_riff_chunk(b"EXIF", minimal_exif_tiff(orientation)))
    kept[0] = _riff_chunk(b"VP8X", bytes(vp8x))


def _clean_anmf(payload: bytes, labels: set[str]) -> bytes:
    """An animation frame: 16-byte header, then ALPH/VP8/VP8L (unknown sub-chunks dropped)."""
    if len(payload) < 16:
        raise BadImage(_TRUNCATED_WEBP)
    parts = [payload[:16]]
    for fourcc, sub_start, sub_stop in _riff_chunks(payload, 16, len(payload)):
        if fourcc in _WEBP_FRAME_KEEP:
            parts.append(_riff_chunk(fourcc, payload[sub_start:sub_stop]))
        else:
            labels.add(OTHER_APP_DATA)
    return _riff_chunk(b"ANMF", b"".join(parts))
