"""PNG: keep pixel, colour and animation chunks; drop text, eXIf, tIME."""

from __future__ import annotations

import struct
import zlib

from .formats import BadImage
from .icc import ICC_LIMIT, colour_profile
from .labels import (
    AUTHOR,
    COMMENT,
    DAMAGED_PROFILE,
    DATE,
    DESCRIPTION,
    EXIF,
    IPTC,
    MODIFICATION_TIME,
    OTHER_APP_DATA,
    SOFTWARE,
    TEXT_CHUNKS,
    TRAILING,
    UNRECOGNISED,
    XMP,
)
from .metadata import Orientation, analyse_exif, analyse_xmp, minimal_exif_tiff
from .sniff import PNG_SIGNATURE

_PNG_KEEP = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"cHRM",
        b"gAMA",
        b"iCCP",
        b"sBIT",
        b"sRGB",
        b"cICP",
        b"mDCv",
        b"cLLi",
        b"pHYs",
        b"bKGD",
        b"hIST",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)
_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_TEXT_KEYWORDS = {
    b"author": AUTHOR,
    b"copyright": AUTHOR,
    b"artist": AUTHOR,
    b"comment": COMMENT,
    b"description": DESCRIPTION,
    b"title": DESCRIPTION,
    b"software": SOFTWARE,
    b"creation time": DATE,
    b"date:create": DATE,
    b"date:modify": DATE,
    b"raw profile type iptc": IPTC,
    b"raw profile type 8bim": IPTC,
    b"raw profile type xmp": XMP,
}
_TEXT_LIMIT = 1 << 20  # decompress at most 1 MiB of a zTXt/iTXt: enough for any Exif/XMP
_TRUNCATED_PNG = "The PNG file is truncated or damaged."


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj().decompress(data, _TEXT_LIMIT)
    except zlib.error:
        return b""


def _png_text(ctype: bytes, body: bytes) -> tuple[bytes, bytes]:
    """(keyword, text) of a tEXt/zTXt/iTXt chunk; text is b"" when unreadable."""
    keyword, _, rest = body.partition(b"\x00")
    if ctype == b"tEXt":
        return keyword, rest
    if ctype == b"zTXt":
        return keyword, _inflate(rest[1:])
    compressed = rest[:1] == b"\x01"
    parts = rest[2:].split(b"\x00", 2)  # language, translated keyword, text
    text = parts[2] if len(parts) == 3 else b""
    return keyword, _inflate(text) if compressed else text


def _analyse_png_text(
    ctype: bytes, body: bytes, labels: set[str], orient: Orientation, raw_exif: list[bytes]
) -> None:
    keyword, text = _png_text(ctype, body)
    key = keyword.lower()
    if key == b"xml:com.adobe.xmp":
        orient.from_xmp(analyse_xmp(text, labels))
        return
    labels.add(TEXT_CHUNKS)
    if key in (b"raw profile type exif", b"raw profile type app1"):
        # ImageMagick's hex dump, which Pillow reads as Exif when there is no eXIf chunk.
        try:
            raw_exif.append(bytes.fromhex("".join(text.decode("latin-1").split("\n")[3:])))
        except ValueError:
            labels.add(EXIF)
    elif key in _TEXT_KEYWORDS:
        labels.add(_TEXT_KEYWORDS[key])


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


#: Exact body length of the fixed-size chunks we keep (PNG 3rd edition, APNG).
_FIXED_LENGTHS = {
    b"IHDR": 13,
    b"cHRM": 32,
    b"gAMA": 4,
    b"sRGB": 1,
    b"cICP": 4,
    b"mDCv": 24,
    b"cLLi": 8,
    b"pHYs": 9,
    b"acTL": 8,
    b"fcTL": 26,
}
#: Length of sBIT / bKGD / tRNS by IHDR colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha,
#: 6 RGBA); a missing colour type means the chunk is not allowed for it.
_SBIT_LENGTHS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_BKGD_LENGTHS = {0: 2, 2: 6, 3: 1, 4: 2, 6: 6}
_TRNS_LENGTHS = {0: 2, 2: 6}


class _PngState:
    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.orient = Orientation()
        self.raw_exif: list[bytes] = []
        self.kept: list[bytes | memoryview] = []
        self.colour_type = -1
        self.palette = 0  # entries in PLTE


def _length_ok(ctype: bytes, length: int, state: _PngState) -> bool:
    """Is a kept chunk exactly as long as its spec says? Extra bytes could carry data."""
    colour = state.colour_type
    if ctype in _FIXED_LENGTHS:
        return length == _FIXED_LENGTHS[ctype]
    if ctype == b"sBIT":
        return length == _SBIT_LENGTHS.get(colour)
    if ctype == b"bKGD":
        return length == _BKGD_LENGTHS.get(colour)
    if ctype == b"tRNS":
        return length == _TRNS_LENGTHS[colour] if colour != 3 else 0 < length <= state.palette
    if ctype == b"hIST":
        return length == 2 * state.palette
    if ctype == b"fdAT":
        return length > 4
    return True  # PLTE (checked when kept)


def _keep_png_chunk(ctype: bytes, chunk: memoryview, state: _PngState) -> None:
    """Keep a pixel/colour/animation chunk if valid; a bad palette makes the file unusable."""
    body = chunk[8:-4]
    if ctype == b"IHDR":
        state.colour_type = body[9]
    elif ctype == b"PLTE":
        if len(body) % 3 or not 3 <= len(body) <= 768:
            raise BadImage(_TRUNCATED_PNG)
        state.palette = len(body) // 3
    if ctype == b"IEND":
        if len(body):
            state.labels.add(UNRECOGNISED)
        state.kept.append(_png_chunk(b"IEND", b""))
        return
    if ctype == b"iCCP":
        profile = _iccp_profile(bytes(body))
        if profile is None:
            state.labels.add(DAMAGED_PROFILE)
        else:  # a fixed keyword: the original one is free text
            state.kept.append(
                _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile, 9))
            )
        return
    if not _length_ok(ctype, len(body), state):
        state.labels.add(UNRECOGNISED)  # a decoder ignores it (libpng: "invalid"); so do we
        return
    state.kept.append(chunk)


def _iccp_profile(body: bytes) -> bytes | None:
    """The profile of an iCCP chunk if the chunk is exactly keyword, method 0 and one
    complete zlib stream holding a profile of its declared size; else None."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or not 1 <= len(keyword) <= 79 or rest[:1] != b"\x00":
        return None
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(rest[1:], ICC_LIMIT)
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        return None
    return colour_profile(profile)


def _png_ancillary(ctype: bytes, body: bytes, state: _PngState) -> None:
    """Report a dropped chunk; text and Exif also tell us the orientation."""
    if ctype in _PNG_TEXT:
        _analyse_png_text(ctype, body, state.labels, state.orient, state.raw_exif)
    elif ctype == b"eXIf":
        state.orient.from_exif(analyse_exif(body, state.labels))
    elif ctype == b"tIME":
        state.labels.add(MODIFICATION_TIME)
    elif ctype[0] & 0x20 == 0:  # unknown critical chunk: no decoder could draw this
        raise BadImage("This PNG uses a feature we do not support.")
    else:
        state.labels.add(OTHER_APP_DATA)


def clean_png(data: bytes) -> tuple[bytes, set[str], int]:  # noqa: C901 - see below
    """Keep pixel, colour and animation chunks (CRCs checked); drop text, eXIf, tIME, tail.

    The chunk walk stays one function: it runs once per chunk over the whole file
    (thousands of IDAT chunks in big images) and each check here guards a read.
    """
    mv = memoryview(data)
    size = len(data)
    state = _PngState()
    labels, kept = state.labels, state.kept
    pos = 8
    while True:
        if pos + 12 > size:
            raise BadImage(_TRUNCATED_PNG)
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if length > 0x7FFFFFFF or end + 4 > size:
            raise BadImage(_TRUNCATED_PNG)
        if zlib.crc32(mv[pos + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            raise BadImage("The PNG file is damaged (checksum mismatch).")
        if not ctype.isalpha() or not ctype.isascii():
            raise BadImage(_TRUNCATED_PNG)
        if not kept and (ctype != b"IHDR" or length != 13):
            raise BadImage(_TRUNCATED_PNG)
        if ctype == b"IDAT":
            kept.append(mv[pos : end + 4])
        elif ctype in _PNG_KEEP:
            _keep_png_chunk(ctype, mv[pos : end + 4], state)
        else:
            _png_ancillary(ctype, data[pos + 8 : end], state)
        pos = end + 4
        if ctype == b"IEND":
            break
    orient, raw_exif = state.orient, state.raw_exif
    if pos < size:
        labels.add(TRAILING)
    if not orient.exif_seen and raw_exif:
        orient.from_exif(analyse_exif(raw_exif[0], labels))
    orientation = orient.value
    if orientation != 1:
        kept.insert(1, _png_chunk(b"eXIf", minimal_exif_tiff(orientation)))
    return b"".join([PNG_SIGNATURE, *kept]), labels, orientation
