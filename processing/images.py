"""Removing hidden metadata from images, losslessly. Pure: bytes in, bytes and a report out.

A photo from a phone carries where it was taken, the camera's serial number, the time and
sometimes a thumbnail of the uncropped picture. The cleaners here walk the container
format (JPEG segments, PNG chunks, WebP RIFF chunks, GIF blocks) and copy only what the
picture needs, so the pixels are untouched: no decode, no re-encode, no quality loss.

Orientation: browsers rotate a photo by its Exif Orientation tag. Dropping the tag would
show a sideways photo, and rotating the pixels of a JPEG is lossy, so when the original
is rotated (Orientation 2-8) the cleaned file keeps a minimal Exif block holding that one
tag and nothing else.

This module imports neither Flask nor Redis; only the standard library and Pillow.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, ImageSequence

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
DEFAULT_SIZES = {"web": 1600, "thumb": 400}
ORIENTATION = 0x0112


class UnsupportedImage(ValueError):
    """Not one of the accepted formats; the message is shown to the uploader."""


class BadImage(ValueError):
    """Corrupt, truncated or too large to decode safely; the message is shown to the uploader."""


@dataclass(frozen=True)
class CleanResult:
    data: bytes
    format: str
    mime_type: str
    width: int  # upright (display) size, after the orientation is applied
    height: int
    removed: list[str]


@dataclass(frozen=True)
class Variant:
    name: str
    data: bytes
    width: int
    height: int
    mime_type: str


# --------------------------------------------------------------------------- detection

def sniff_format(data: bytes) -> str:
    """The real format, from the first bytes; file names and Content-Type are not trusted."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    raise UnsupportedImage("This file is not a JPEG, PNG, WebP or GIF image.")


def open_image(data: bytes, fmt: str) -> Image.Image:
    """Open with Pillow's guards on: only the expected decoder, and a decompression bomb
    (a small file declaring a huge picture) is an error, not a warning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadImage("The image is too large to process "
                       f"(more than {Image.MAX_IMAGE_PIXELS:,} pixels).") from None
    except (OSError, SyntaxError, ValueError, struct.error):
        raise BadImage(f"The {fmt} image is corrupt or truncated.") from None


# --------------------------------------------------------------------------- the report

_EXIF_LABELS = [  # (IFD, tag, label) in the order the report lists them
    (None, ExifTags.Base.Make, "camera make and model"),
    (None, ExifTags.Base.Model, "camera make and model"),
    ("exif", ExifTags.Base.BodySerialNumber, "camera serial number"),
    ("exif", ExifTags.Base.LensSerialNumber, "camera serial number"),
    ("exif", ExifTags.Base.DateTimeOriginal, "date taken"),
    ("exif", ExifTags.Base.DateTimeDigitized, "date taken"),
    (None, ExifTags.Base.DateTime, "date taken"),
    (None, ExifTags.Base.Software, "editing software"),
    (None, ExifTags.Base.Artist, "author and copyright"),
    (None, ExifTags.Base.Copyright, "author and copyright"),
    (None, ExifTags.Base.ImageDescription, "description"),
    ("exif", ExifTags.Base.UserComment, "description"),
    ("exif", ExifTags.Base.MakerNote, "maker notes"),
]


def _exif_report(exif: Image.Exif) -> list[str]:
    """Plain-language names for what an Exif block holds."""
    found: list[str] = []
    if exif.get_ifd(ExifTags.IFD.GPSInfo):
        found.append("GPS position")
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for ifd, tag, label in _EXIF_LABELS:
        if (sub if ifd else exif).get(tag) not in (None, "", b""):
            found.append(label)
    if exif.get_ifd(ExifTags.IFD.IFD1):
        found.append("embedded thumbnail")
    other = set(exif) - {ORIENTATION, ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo}
    if (other or sub) and not found:
        found.append("other camera data (Exif)")
    return found


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _unique(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


def _minimal_tiff(orientation: int) -> bytes:
    """A big-endian TIFF header with one IFD entry: Orientation (SHORT), nothing else."""
    entry = struct.pack(">HHIHH", ORIENTATION, 3, 1, orientation, 0)
    return b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + entry + b"\x00\x00\x00\x00"


# --------------------------------------------------------------------------- JPEG

# In entropy-coded data 0xFF is followed by 0x00 (stuffing), RST0-7 or a fill 0xFF;
# anything else after 0xFF is the next marker. One regex search finds it in C.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENDED = b"http://ns.adobe.com/xmp/extension/\x00"


def _jpeg_segment_label(marker: int, payload: bytes) -> str | None:
    """None to keep the segment, else the label for what dropping it removes."""
    if marker == 0xE0:
        if payload.startswith(b"JFIF\x00"):
            return None
        return "embedded thumbnail" if payload.startswith(b"JFXX\x00") else \
            "other application data"
    if marker == 0xE1:
        if payload.startswith(b"Exif\x00\x00"):
            return "Exif"
        return "XMP" if payload.startswith((_XMP, _XMP_EXTENDED)) else "other application data"
    if marker == 0xE2:
        if payload.startswith(b"ICC_PROFILE\x00"):
            return None  # colour profile: the picture looks wrong without it
        return "extra pictures (MPF)" if payload.startswith(b"MPF\x00") else \
            "other application data"
    if marker == 0xED:
        return "IPTC"
    if marker == 0xEE:
        return None if payload.startswith(b"Adobe") else "other application data"
    if 0xE3 <= marker <= 0xEF:
        return "other application data"
    if marker == _COM:
        return "comment"
    return None  # tables, frame and scan headers: the picture itself


def _minimal_jfif(payload: bytes) -> bytes:
    """JFIF without its optional thumbnail (the last two header bytes say its size)."""
    return payload[:12] + b"\x00\x00" if len(payload) >= 14 else payload


def _walk_jpeg(data: bytes) -> tuple[list[bytes], list[str]]:
    """Split a JPEG into kept pieces and labels of dropped ones, without decoding."""
    kept, dropped = [b"\xff\xd8"], []
    pos, end = 2, len(data)
    while True:
        if pos + 2 > end or data[pos] != 0xFF:
            raise BadImage("The JPEG image is corrupt or truncated.")
        while data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
            if pos + 2 > end:
                raise BadImage("The JPEG image is truncated.")
        marker = data[pos + 1]
        if marker == _EOI:
            kept.append(b"\xff\xd9")
            if pos + 2 < end:
                dropped.append("data after the end of the image")
            return kept, dropped
        if marker in _STANDALONE:
            kept.append(data[pos:pos + 2])
            pos += 2
            continue
        if pos + 4 > end:
            raise BadImage("The JPEG image is truncated.")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > end:
            raise BadImage("The JPEG image is corrupt or truncated.")
        segment_end = pos + 2 + length
        if marker == _SOS:
            found = _JPEG_NEXT_MARKER.search(data, segment_end)
            if found is None:
                raise BadImage("The JPEG image is truncated (no end of image).")
            kept.append(data[pos:found.start()])  # scan header plus its entropy-coded data
            pos = found.start()
            continue
        payload = data[pos + 4:segment_end]
        label = _jpeg_segment_label(marker, payload)
        if label is None:
            if marker == 0xE0:
                payload = _minimal_jfif(payload)
                kept.append(b"\xff\xe0" + (len(payload) + 2).to_bytes(2, "big") + payload)
            else:
                kept.append(data[pos:segment_end])
        else:
            dropped.append(label)
        pos = segment_end


def _clean_jpeg(data: bytes) -> CleanResult:
    kept, dropped = _walk_jpeg(data)
    image = open_image(data, "JPEG")
    exif = image.getexif()
    orientation = _orientation(exif)
    removed = _exif_report(exif) if "Exif" in dropped else []
    removed += [label for label in dropped if label != "Exif"]
    if orientation != 1:
        payload = b"Exif\x00\x00" + _minimal_tiff(orientation)
        app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
        at = 2 if len(kept) > 1 and kept[1].startswith(b"\xff\xe0") else 1
        kept.insert(at, app1)
    width, height = _upright_size(image.size, orientation)
    return CleanResult(b"".join(kept), "JPEG", MIME_TYPES["JPEG"], width, height,
                       _unique(removed))


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# --------------------------------------------------------------------------- PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks the picture needs: pixels, palette, transparency, colour, animation.
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT",
             b"sRGB", b"cICP", b"mDCV", b"cLLI", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT"}
_PNG_LABELS = {b"tEXt": "text chunks", b"zTXt": "text chunks", b"tIME": "date and time",
               b"eXIf": "Exif"}


def _png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + body)
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", crc)


def _walk_png(data: bytes) -> tuple[list[bytes], list[str]]:
    kept, dropped = [_PNG_SIGNATURE], []
    pos, end = 8, len(data)
    while True:
        if pos + 12 > end:
            raise BadImage("The PNG image is truncated.")
        length, chunk_type = struct.unpack(">I4s", data[pos:pos + 8])
        chunk_end = pos + 12 + length
        if chunk_end > end:
            raise BadImage("The PNG image is truncated.")
        body = data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:chunk_end], "big")
        if zlib.crc32(chunk_type + body) != crc:
            raise BadImage(f"The PNG image is corrupt (bad checksum in a {chunk_type!r} chunk).")
        if chunk_type in _PNG_KEEP:
            kept.append(data[pos:chunk_end])
        elif chunk_type == b"iTXt":
            dropped.append("XMP" if body.startswith(b"XML:com.adobe.xmp\x00") else "text chunks")
        else:
            dropped.append(_PNG_LABELS.get(chunk_type, "other metadata chunks"))
        pos = chunk_end
        if chunk_type == b"IEND":
            if pos < end:
                dropped.append("data after the end of the image")
            return kept, dropped


def _clean_png(data: bytes) -> CleanResult:
    kept, dropped = _walk_png(data)  # first: its checksum errors say more than Pillow's
    image = open_image(data, "PNG")
    exif = image.getexif()
    orientation = _orientation(exif)
    removed = _exif_report(exif) if "Exif" in dropped else []
    removed += [label for label in dropped if label != "Exif"]
    if orientation != 1:
        kept.insert(2, _png_chunk(b"eXIf", _minimal_tiff(orientation)))  # after IHDR
    width, height = _upright_size(image.size, orientation)
    return CleanResult(b"".join(kept), "PNG", MIME_TYPES["PNG"], width, height,
                       _unique(removed))


# --------------------------------------------------------------------------- WebP

_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _clean_webp(data: bytes) -> CleanResult:
    image = open_image(data, "WEBP")
    exif = image.getexif()
    orientation = _orientation(exif)
    chunks, dropped = [], []
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos < end:
        if pos + 8 > end:
            raise BadImage("The WebP image is truncated.")
        fourcc, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body_end = pos + 8 + size
        if body_end > end:
            raise BadImage("The WebP image is truncated.")
        body = data[pos + 8:body_end]
        if fourcc in _WEBP_KEEP:
            chunks.append([fourcc, body])
        else:
            dropped.append({b"EXIF": "Exif", b"XMP ": "XMP"}.get(fourcc, "other metadata"))
        pos = body_end + (size % 2)
    if not chunks:
        raise BadImage("The WebP image has no picture data.")
    if len(data) > end:
        dropped.append("data after the end of the image")
    if orientation != 1 and chunks[0][0] == b"VP8X":
        chunks.append([b"EXIF", _minimal_tiff(orientation)])
    if chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0] & ~(_VP8X_EXIF | _VP8X_XMP)
        if orientation != 1:
            flags |= _VP8X_EXIF
        chunks[0][1] = bytes([flags]) + chunks[0][1][1:]
    body = b"WEBP" + b"".join(_webp_chunk(fourcc, chunk) for fourcc, chunk in chunks)
    removed = _exif_report(exif) if "Exif" in dropped else []
    removed += [label for label in dropped if label != "Exif"]
    width, height = _upright_size(image.size, orientation)
    return CleanResult(b"RIFF" + struct.pack("<I", len(body)) + body, "WEBP",
                       MIME_TYPES["WEBP"], width, height, _unique(removed))


# --------------------------------------------------------------------------- GIF

_GIF_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    """Position just after a chain of data sub-blocks (each: size byte, bytes; 0 ends)."""
    end = len(data)
    while True:
        if pos >= end:
            raise BadImage("The GIF image is truncated.")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def _walk_gif(data: bytes) -> tuple[list[bytes], list[str]]:
    if len(data) < 13:
        raise BadImage("The GIF image is truncated.")
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    kept, dropped = [data[:pos]], []
    while True:
        if pos >= len(data):
            raise BadImage("The GIF image is truncated.")
        block = data[pos]
        if block == 0x3B:  # trailer
            kept.append(b"\x3b")
            if pos + 1 < len(data):
                dropped.append("data after the end of the image")
            return kept, dropped
        if block == 0x2C:  # image: descriptor, local colour table, LZW data
            if pos + 10 > len(data):
                raise BadImage("The GIF image is truncated.")
            local = data[pos + 9]
            start = pos
            pos += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0)
            pos = _gif_sub_blocks_end(data, pos + 1)  # +1: LZW minimum code size
            kept.append(data[start:pos])
        elif block == 0x21 and pos + 1 < len(data):  # extension
            label, start = data[pos + 1], pos
            pos = _gif_sub_blocks_end(data, pos + 2)
            app = data[start + 3:start + 14]
            if label in (0xF9, 0x01) or (label == 0xFF and app in _GIF_LOOP_APPS):
                kept.append(data[start:pos])  # frame timing, loop count, plain text
            elif label == 0xFE:
                dropped.append("comment")
            elif label == 0xFF and app.startswith(b"XMP DataXMP"):
                dropped.append("XMP")
            else:
                dropped.append("other application data")
        else:
            raise BadImage("The GIF image is corrupt.")


def _clean_gif(data: bytes) -> CleanResult:
    image = open_image(data, "GIF")
    kept, dropped = _walk_gif(data)
    return CleanResult(b"".join(kept), "GIF", MIME_TYPES["GIF"], *image.size, _unique(dropped))


# --------------------------------------------------------------------------- entry points

_CLEANERS = {"JPEG": _clean_jpeg, "PNG": _clean_png, "WEBP": _clean_webp, "GIF": _clean_gif}


def clean_image(data: bytes) -> CleanResult:
    """Remove every piece of metadata the picture does not need, without re-encoding.

    Raises UnsupportedImage for other formats and BadImage for corrupt, truncated or
    oversized input; both carry a message meant for the uploader.
    """
    fmt = sniff_format(data)
    try:
        return _CLEANERS[fmt](data)
    except (BadImage, UnsupportedImage):
        raise
    except (OSError, SyntaxError, ValueError, IndexError, struct.error, EOFError):
        raise BadImage(f"The {fmt} image is corrupt or truncated.") from None


def make_variants(clean: bytes, fmt: str, sizes: dict[str, int] | None = None) -> list[Variant]:
    """Upright, metadata-free copies no larger than each size (longest side, in pixels).

    Smaller pictures are re-encoded at their own size, so every image has every variant.
    An animated GIF keeps its animation: its variants are the cleaned file itself, since
    resizing every frame is slow and loses quality for little gain.
    """
    image = open_image(clean, fmt)
    try:
        if fmt == "GIF" and getattr(image, "n_frames", 1) > 1:
            frames = sum(1 for _ in ImageSequence.Iterator(image))
            if frames < 1:
                raise BadImage("The GIF image has no frames.")
            return [Variant(name, clean, *image.size, MIME_TYPES[fmt])
                    for name in (sizes or DEFAULT_SIZES)]
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError):
        raise BadImage(f"The {fmt} image is corrupt: its pixels could not be decoded.") from None
    return [_variant(upright, fmt, name, size)
            for name, size in (sizes or DEFAULT_SIZES).items()]


def _variant(image: Image.Image, fmt: str, name: str, size: int) -> Variant:
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarges
    icc = image.info.get("icc_profile")
    copy.info = {}  # nothing from the original's info (comments, Exif) may leak through
    out = io.BytesIO()
    if fmt == "JPEG":
        if copy.mode not in ("RGB", "L", "CMYK"):
            copy = copy.convert("RGB")
        copy.save(out, "JPEG", quality=85, progressive=True, optimize=True, icc_profile=icc)
    elif fmt == "PNG":
        copy.save(out, "PNG", compress_level=6, icc_profile=icc)
    elif fmt == "WEBP":
        copy.save(out, "WEBP", quality=80, icc_profile=icc or "")
    else:
        copy.save(out, "GIF")
    return Variant(name, out.getvalue(), copy.width, copy.height, MIME_TYPES[fmt])
