"""PNG: keep pixel, colour and animation chunks; drop text, eXIf, tIME."""

from __future__ import annotations

import struct
import zlib

from .formats import BadImage
from .labels import (
    AUTHOR,
    COMMENT,
    DATE,
    DESCRIPTION,
    EXIF,
    IPTC,
    MODIFICATION_TIME,
    OTHER_APP_DATA,
    SOFTWARE,
    TEXT_CHUNKS,
    TRAILING,
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


def clean_png(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep pixel, colour and animation chunks (CRCs checked); drop text, eXIf, tIME, tail."""
    mv = memoryview(data)
    size = len(data)
    labels: set[str] = set()
    orient = Orientation()
    raw_exif: list[bytes] = []
    kept: list[bytes | memoryview] = []
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
        if ctype in _PNG_KEEP:
            kept.append(mv[pos : end + 4])
        elif ctype in _PNG_TEXT:
            _analyse_png_text(ctype, data[pos + 8 : end], labels, orient, raw_exif)
        elif ctype == b"eXIf":
            orient.from_exif(analyse_exif(data[pos + 8 : end], labels))
        elif ctype == b"tIME":
            labels.add(MODIFICATION_TIME)
        elif ctype[0] & 0x20 == 0:  # unknown critical chunk: no decoder could draw this
            raise BadImage("This PNG uses a feature we do not support.")
        else:
            labels.add(OTHER_APP_DATA)
        pos = end + 4
        if ctype == b"IEND":
            break
    if pos < size:
        labels.add(TRAILING)
    if not orient.exif_seen and raw_exif:
        orient.from_exif(analyse_exif(raw_exif[0], labels))
    orientation = orient.value
    if orientation != 1:
        kept.insert(1, _png_chunk(b"eXIf", minimal_exif_tiff(orientation)))
    return b"".join([PNG_SIGNATURE, *kept]), labels, orientation
