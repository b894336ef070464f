"""WebP: keep image, alpha, ICC and animation chunks; drop EXIF, XMP and unknown chunks."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .formats import BadImage
from .labels import OTHER_APP_DATA, TRAILING
from .metadata import Orientation, analyse_exif, analyse_xmp, minimal_exif_tiff

_WEBP_KEEP = frozenset({b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"})
_WEBP_FRAME_KEEP = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04
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
    mv = memoryview(data)
    labels: set[str] = set()
    orient = Orientation()
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < 20 or riff_end > len(data) or riff_end < 20:
        raise BadImage(_TRUNCATED_WEBP)
    kept: list[bytes | memoryview] = []
    vp8x: bytearray | None = None
    for index, (fourcc, start, stop) in enumerate(_riff_chunks(data, 12, riff_end)):
        if index == 0 and fourcc not in (b"VP8X", b"VP8 ", b"VP8L"):
            raise BadImage(_TRUNCATED_WEBP)
        if fourcc == b"VP8X":
            if index != 0 or stop - start != 10:
                raise BadImage(_TRUNCATED_WEBP)
            vp8x = bytearray(data[start:stop])
            kept.append(b"")  # rebuilt below, once the flags are known
        elif fourcc == b"ANMF":
            kept.append(_clean_anmf(data, start, stop, labels))
        elif fourcc in _WEBP_KEEP:
            kept.append(_riff_chunk(fourcc, mv[start:stop]))
        elif fourcc == b"EXIF":
            orient.from_exif(analyse_exif(data[start:stop], labels))
        elif fourcc == b"XMP ":
            orient.from_xmp(analyse_xmp(data[start:stop], labels))
        else:
            labels.add(OTHER_APP_DATA)
    if riff_end < len(data):
        labels.add(TRAILING)
    # Orientation needs the extended (VP8X) layout; a simple-layout file cannot carry EXIF
    # legally, so one that did is left without orientation (documented, very rare).
    orientation = orient.value if vp8x is not None else 1
    if vp8x is not None:
        vp8x[0] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        if orientation != 1:
            vp8x[0] |= _VP8X_EXIF
            kept.append(_riff_chunk(b"EXIF", minimal_exif_tiff(orientation)))
        kept[0] = _riff_chunk(b"VP8X", bytes(vp8x))
    body = b"".join([b"WEBP", *kept])
    return b"RIFF" + struct.pack("<I", len(body)) + body, labels, orientation


def _clean_anmf(data: bytes, start: int, stop: int, labels: set[str]) -> bytes:
    """An animation frame: 16-byte header, then ALPH/VP8/VP8L (unknown sub-chunks dropped)."""
    if stop - start < 16:
        raise BadImage(_TRUNCATED_WEBP)
    parts = [data[start : start + 16]]
    for fourcc, sub_start, sub_stop in _riff_chunks(data, start + 16, stop):
        if fourcc in _WEBP_FRAME_KEEP:
            parts.append(_riff_chunk(fourcc, data[sub_start:sub_stop]))
        else:
            labels.add(OTHER_APP_DATA)
    return _riff_chunk(b"ANMF", b"".join(parts))
