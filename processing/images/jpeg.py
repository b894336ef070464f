"""JPEG: keep JFIF, ICC, Adobe, tables, frame and scans; drop other segments."""

from __future__ import annotations

import re
import struct

from .formats import BadImage
from .icc import colour_profile
from .labels import (
    COMMENT,
    CONTENT_CREDENTIALS,
    DAMAGED_PROFILE,
    IPTC,
    MULTI_PICTURE,
    OTHER_APP_DATA,
    SOFTWARE,
    THUMBNAIL,
    TRAILING,
    UNRECOGNISED,
    XMP,
)
from .metadata import Orientation, analyse_exif, analyse_xmp, minimal_exif_tiff

_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # first real marker after a scan
_NOT_FF = re.compile(rb"[^\xff]")
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TRUNCATED_JPEG = "The JPEG file is truncated or damaged."
_SEQUENTIAL = frozenset({0xC0, 0xC1, 0xC9})  # baseline / extended Huffman / arithmetic
_ICC_SLOT = b"<icc>"  # returned (by identity) for ICC_PROFILE chunks: rebuilt at the end


def _jpeg_app0(payload: bytes, state: _JpegState) -> None:
    if payload.startswith(b"JFIF\x00") and len(payload) >= 14 and state.jfif is None:
        # Keep JFIF (decoders read the colour space from it), minus its thumbnail.
        if payload[12] or payload[13]:
            state.labels.add(THUMBNAIL)
        state.jfif = _segment(0xE0, payload[:12] + b"\x00\x00")
    elif payload.startswith(b"JFXX\x00"):
        state.labels.add(THUMBNAIL)
    else:
        state.labels.add(OTHER_APP_DATA)


def _jpeg_app1(payload: bytes, state: _JpegState) -> None:
    if payload.startswith(b"Exif\x00"):
        value = analyse_exif(payload, state.labels)
        if payload.startswith(b"Exif\x00\x00"):
            state.orientation.from_exif(value)
    elif payload.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
        state.orientation.from_xmp(analyse_xmp(payload[29:], state.labels))
    elif payload.startswith(b"http://ns.adobe.com/xmp/extension/\x00"):
        state.labels.add(XMP)
    else:
        state.labels.add(OTHER_APP_DATA)


#: Dropped segments recognised by marker and payload prefix, and their report label.
_KNOWN_APPS = {
    0xE2: (b"MPF\x00", MULTI_PICTURE),
    0xEC: (b"Ducky", SOFTWARE),
    0xED: (b"Photoshop 3.0\x00", IPTC),
}


def _jpeg_app(marker: int, payload: bytes, state: _JpegState) -> bytes | None:
    """Decide about one APPn/COM segment: return bytes to keep (a rebuilt segment) or None."""
    if marker == 0xE0:
        _jpeg_app0(payload, state)
    elif marker == 0xE1:
        _jpeg_app1(payload, state)
    elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        state.icc.append(payload)
        return _ICC_SLOT  # the original chunk is kept once all chunks prove consistent
    elif marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
        # libjpeg reads the colour transform (YCbCr/YCCK/none) from here: keep, canonical.
        return _segment(0xEE, payload[:12])
    else:
        state.labels.add(_dropped_app_label(marker, payload))
    return None


def _dropped_app_label(marker: int, payload: bytes) -> str:
    if marker == 0xFE:
        return COMMENT
    if marker == 0xEB and b"c2pa" in payload[:64]:
        return CONTENT_CREDENTIALS
    prefix, label = _KNOWN_APPS.get(marker, (None, OTHER_APP_DATA))
    return label if prefix is None or payload.startswith(prefix) else OTHER_APP_DATA


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes((marker,)) + struct.pack(">H", len(payload) + 2) + payload


class _JpegState:
    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.orientation = Orientation()
        self.jfif: bytes | None = None
        self.icc: list[bytes] = []
        #: Components of a sequential frame not yet coded by a scan (None: progressive).
        self.uncoded: set[int] | None = None


def _joined_icc(chunks: list[bytes]) -> bytes | None:
    """The profile from ICC chunks numbered 1..N of N, or None when they are inconsistent."""
    count = chunks[0][13]
    if count == 0 or len(chunks) != count or any(c[13] != count for c in chunks):
        return None
    ordered = sorted(chunks, key=lambda c: c[12])
    if [c[12] for c in ordered] != list(range(1, count + 1)):
        return None
    return b"".join(c[14:] for c in ordered)


_ICC_CHUNK = 65519  # 65535 - 2 (length) - 14 (ICC_PROFILE\0, number, count)


def _icc_segments(profile: bytes) -> bytes:
    parts = [profile[i : i + _ICC_CHUNK] for i in range(0, len(profile), _ICC_CHUNK)]
    return b"".join(
        _segment(0xE2, b"ICC_PROFILE\x00" + bytes((number, len(parts))) + part)
        for number, part in enumerate(parts, 1)
    )


def _place_icc(state: _JpegState, kept: list[bytes | memoryview], slots: list[int]) -> None:
    """Put the colour-tags-only profile where the first ICC chunk was (or drop a bad one).

    Checking the joined size against the declared one is also what keeps a damaged
    length field from hiding other data in the profile.
    """
    joined = _joined_icc(state.icc)
    profile = colour_profile(joined) if joined is not None else None
    for slot in slots:
        kept[slot] = b""
    if profile is None:
        state.labels.add(DAMAGED_PROFILE)
    else:
        kept[slots[0]] = _icc_segments(profile)


def _scan_needed(state: _JpegState, payload: memoryview) -> bool:
    """In a sequential frame each component is coded in exactly one scan; a scan after
    all of them were coded draws nothing (decoders skip it), so it could only carry data."""
    if state.uncoded is None:
        return True  # progressive: scans refine each other, none is redundant by shape
    if not state.uncoded:
        return False
    state.uncoded -= {payload[1 + 2 * i] for i in range(payload[0])}
    return True


def _check_tables(marker: int, payload: memoryview) -> None:
    """Exact length checks, as libjpeg does (so no kept segment can smuggle extra bytes)."""
    size = len(payload)
    ok = True
    if marker in _SOF_MARKERS:
        ok = size >= 6 and size == 6 + 3 * payload[5]
    elif marker == 0xDA:
        ok = size >= 1 and size == 4 + 2 * payload[0]
    elif marker in (0xDD, 0xDC):
        ok = size == 2
    elif marker == 0xCC:
        ok = size % 2 == 0
    elif marker == 0xDB:
        pos = 0
        while pos < size:
            pos += 1 + (128 if payload[pos] >> 4 else 64)
        ok = pos == size
    elif marker == 0xC4:
        pos = 0
        while pos + 17 <= size:
            pos += 17 + sum(payload[pos + 1 : pos + 17])
        ok = pos == size
    if not ok:
        raise BadImage(_TRUNCATED_JPEG)


def clean_jpeg(data: bytes) -> tuple[bytes, set[str], int]:  # noqa: C901 - hot loop
    """Keep JFIF, ICC, Adobe, tables, frame and scans; drop every other segment and tail.

    One function on purpose: this walks every segment of a multi-megabyte photo within
    a few milliseconds (bench/images.py); each branch guards a read or a marker class,
    and moving them into calls costs time per segment without making it clearer.
    """
    mv = memoryview(data)
    size = len(data)
    state = _JpegState()
    kept: list[bytes | memoryview] = []
    icc_slots: list[int] = []
    seen_sof = seen_sos = False
    pos = 2
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_JPEG)
        if data[pos] != 0xFF:  # stray bytes between segments: skipped, like libjpeg does
            state.labels.add(UNRECOGNISED)
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise BadImage(_TRUNCATED_JPEG)
        match = _NOT_FF.search(data, pos)  # skip fill bytes
        if match is None:
            raise BadImage(_TRUNCATED_JPEG)
        pos = match.start()
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker == 0x00 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # stuffed zero / RSTn / TEM outside a scan: no payload, libjpeg skips it
        if pos + 2 > size:
            raise BadImage(_TRUNCATED_JPEG)
        end = pos + int.from_bytes(data[pos : pos + 2], "big")
        if end < pos + 2 or end > size:
            raise BadImage(_TRUNCATED_JPEG)
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # bytes: parsed with startswith etc.
            keep = _jpeg_app(marker, data[pos + 2 : end], state)
            if keep is _ICC_SLOT:
                icc_slots.append(len(kept))
                kept.append(mv[pos - 2 : end])
            elif keep is not None:
                kept.append(keep)
            pos = end
            continue
        payload = mv[pos + 2 : end]  # tables and scans: a view, never a copy
        if marker in _SOF_MARKERS:
            if seen_sof:
                raise BadImage(_TRUNCATED_JPEG)
            seen_sof = True
            if marker in _SEQUENTIAL and len(payload) >= 6 and len(payload) == 6 + 3 * payload[5]:
                state.uncoded = {payload[6 + 3 * i] for i in range(payload[5])}
        elif marker == 0xDA:
            if not seen_sof:
                raise BadImage(_TRUNCATED_JPEG)
            seen_sos = True
        elif marker not in (0xC4, 0xCC, 0xDB, 0xDD, 0xDC):
            raise BadImage("This JPEG uses a variant we do not support.")
        _check_tables(marker, payload)
        needed = marker != 0xDA or _scan_needed(state, payload)
        if needed:
            kept.append(mv[pos - 2 : end])
        else:
            state.labels.add(UNRECOGNISED)
        pos = end
        if marker == 0xDA:  # entropy-coded data: 0xFF00 stuffing and RSTn are not markers
            match = _ENTROPY_END.search(data, pos)
            if match is None:
                raise BadImage(_TRUNCATED_JPEG)
            if needed:
                kept.append(mv[pos : match.start()])
            pos = match.start()
    if not seen_sos:
        raise BadImage(_TRUNCATED_JPEG)
    if pos < size:
        state.labels.add(TRAILING)
    if state.icc:
        _place_icc(state, kept, icc_slots)
    orientation = state.orientation.value
    head = [b"\xff\xd8"]
    if state.jfif is not None:
        head.append(state.jfif)
    if orientation != 1:
        head.append(_segment(0xE1, b"Exif\x00\x00" + minimal_exif_tiff(orientation)))
    return b"".join([*head, *kept, b"\xff\xd9"]), state.labels, orientation
