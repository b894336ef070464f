"""Lossless metadata stripping for uploaded images, and metadata-free web variants.

Pure functions (bytes in, bytes + report out): no Flask, no Redis, only the
standard library and Pillow, so the web process and the workers share them.

Why lossless
------------
Decoding and re-encoding a photo to drop its metadata costs ~200 ms for 12 MP
and changes every pixel. Instead :func:`clean_image` walks the container
(JPEG segments, PNG chunks, RIFF chunks, GIF blocks), keeps what is needed to
draw the picture (pixel data, tables, colour profile, animation control) and
drops everything else. The decoded pixels of the result are bit-for-bit those
of the upload.

What is kept
------------
* pixel data and what decoding needs: JPEG tables and scans, the JFIF APP0
  (rewritten without its thumbnail) and the Adobe APP14 (colour transform);
* the ICC colour profile (JPEG APP2 ``ICC_PROFILE``, PNG ``iCCP``, WebP ``ICCP``,
  GIF ``ICCRGBG1012``) and other colour chunks, so colours stay right;
* animation control (PNG ``acTL``/``fcTL``/``fdAT``, WebP ``ANIM``/``ANMF``, GIF
  ``NETSCAPE2.0`` loop count, rewritten to its loop sub-block only);
* orientation: browsers and Pillow rotate a photo by its Exif Orientation, so
  when it is 2..8 the cleaned file carries a MINIMAL Exif block holding that one
  tag and nothing else (no other tag, no thumbnail). Like Pillow, an XMP
  ``tiff:Orientation`` is used when the Exif has no Orientation tag.

Validation
----------
Every structure is parsed strictly (lengths, PNG CRCs, terminators); anything
malformed or truncated raises :class:`BadImage`. Pillow then opens the cleaned
bytes with ``formats=[fmt]`` under a ``DecompressionBombWarning``-is-an-error
filter (``Image.MAX_IMAGE_PIXELS`` is left as is). PNG, GIF and WebP have their
first frame decoded. JPEG scans are NOT decoded by :func:`clean_image`: that
would cost ~100 ms for 12 MP against a 20 ms budget; :func:`make_variants`
decodes them and raises :class:`BadImage` on a broken stream. The byte-size
limit is the caller's job.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from types import MappingProxyType

from PIL import Image, ImageOps

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

MIME_TYPES: Mapping[str, str] = MappingProxyType(
    {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
)
#: File extension the blog stores each format under (every variant shares it).
EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
)
MIME_BY_EXTENSION: Mapping[str, str] = MappingProxyType(
    {EXTENSIONS[fmt]: MIME_TYPES[fmt] for fmt in ACCEPTED_FORMATS}
)

#: Longest side in pixels of each variant :func:`make_variants` makes by default.
DEFAULT_SIZES: Mapping[str, int] = MappingProxyType({"web": 1600, "thumb": 400})

#: Used only if some other code set ``Image.MAX_IMAGE_PIXELS = None``: we never go unguarded.
_FALLBACK_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)

_ACCEPTED_HUMAN = "JPEG, PNG, WebP or GIF"
_HUMAN_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}


class UnsupportedImage(ValueError):
    """The bytes are not one of :data:`ACCEPTED_FORMATS` (the message can be shown to users)."""


class BadImage(ValueError):
    """Corrupt, truncated or too large an image (the message can be shown to users)."""


# --------------------------------------------------------------------------- report labels
# Plain-language names for what was removed, in the order reports list them.
GPS_POSITION = "GPS position"
GPS_DATA = "GPS data"
CAMERA = "camera make and model"
LENS = "lens make and model"
SERIAL = "camera serial number"
OWNER = "camera owner name"
DATE = "date taken"
AUTHOR = "author and copyright"
DESCRIPTION = "description"
COMMENT = "comment"
SOFTWARE = "editing software"
MAKER_NOTES = "maker notes"
EXIF = "Exif"
THUMBNAIL = "embedded thumbnail"
XMP = "XMP"
IPTC = "IPTC"
CONTENT_CREDENTIALS = "content credentials"
MULTI_PICTURE = "multi-picture data"
TEXT_CHUNKS = "text chunks"
EMBEDDED_TEXT = "embedded text"
MODIFICATION_TIME = "modification time"
DAMAGED_PROFILE = "damaged colour profile"
OTHER_APP_DATA = "other application data"
UNRECOGNISED = "unrecognised data"
TRAILING = "trailing data"

_LABEL_ORDER = (
    GPS_POSITION,
    GPS_DATA,
    CAMERA,
    LENS,
    SERIAL,
    OWNER,
    DATE,
    AUTHOR,
    DESCRIPTION,
    COMMENT,
    SOFTWARE,
    MAKER_NOTES,
    EXIF,
    THUMBNAIL,
    XMP,
    IPTC,
    CONTENT_CREDENTIALS,
    MULTI_PICTURE,
    TEXT_CHUNKS,
    EMBEDDED_TEXT,
    MODIFICATION_TIME,
    DAMAGED_PROFILE,
    OTHER_APP_DATA,
    UNRECOGNISED,
    TRAILING,
)


def _ordered(labels: set[str]) -> list[str]:
    """Deduplicated labels in a fixed order, so reports are stable across runs."""
    return sorted(labels, key=_LABEL_ORDER.index)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CleanResult:
    """A cleaned upload: same pixels, no metadata except ICC and (minimal) orientation."""

    data: bytes
    format: str
    mime_type: str
    width: int  # upright (display) size: after the kept orientation is applied
    height: int
    removed: list[str]


@dataclass(frozen=True)
class Variant:
    """A resized, metadata-free rendering of a cleaned image (already upright)."""

    name: str
    data: bytes
    width: int
    height: int
    mime_type: str


# --------------------------------------------------------------------------- sniffing
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
}


def _describe_unsupported(data: bytes) -> str:
    """Name what a refused file looks like, so the user knows what to do instead."""
    head = data[:1024]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "a PostScript (EPS) file"
    if text.startswith(b"<") and b"<svg" in text:
        return "an SVG drawing"
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return "a HEIC/HEIF photo (export it as JPEG first)"
        if head[8:12] in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video or other ISO media file"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "a JPEG XL image"
    if head.startswith(b"8BPS"):
        return "a Photoshop document"
    return "not an image format we recognise"


def sniff_format(data: bytes) -> str:
    """Return the real format from the magic bytes; file names and MIME types lie.

    Raises :class:`UnsupportedImage` for anything but JPEG, PNG, WebP and GIF.
    """
    if not data:
        raise UnsupportedImage("The file is empty.")
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    raise UnsupportedImage(
        f"This file is {_describe_unsupported(data)}. Please upload a {_ACCEPTED_HUMAN} image."
    )


# --------------------------------------------------------------------------- Exif / TIFF
_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
}
_ORIENTATION = 0x0112


class _Tiff:
    """Just enough of a TIFF/Exif reader to list tags and read Orientation.

    Written here rather than using ``PIL.Image.Exif`` because it must never raise on
    hostile input and it only needs tag numbers; every read is bounds-checked.
    """

    def __init__(self, data: bytes, endian: str) -> None:
        self.data = data
        self.endian = endian

    @classmethod
    def parse(cls, raw: bytes) -> _Tiff | None:
        if raw.startswith(b"Exif\x00"):
            raw = raw[6:]
        if raw[:4] == b"II*\x00":
            return cls(raw, "<")
        if raw[:4] == b"MM\x00*":
            return cls(raw, ">")
        return None

    def _u16(self, offset: int) -> int | None:
        if offset < 0 or offset + 2 > len(self.data):
            return None
        return struct.unpack_from(self.endian + "H", self.data, offset)[0]

    def _u32(self, offset: int) -> int | None:
        if offset < 0 or offset + 4 > len(self.data):
            return None
        return struct.unpack_from(self.endian + "I", self.data, offset)[0]

    @property
    def first_ifd(self) -> int:
        return self._u32(4) or 0

    def ifd(self, offset: int | None) -> tuple[dict[int, tuple[int, int, int]], int]:
        """Entries ``{tag: (type, count, offset of the value field)}`` and the next IFD."""
        if not offset or offset < 8:
            return {}, 0
        count = self._u16(offset)
        if count is None:
            return {}, 0
        count = min(count, (len(self.data) - offset - 2) // 12)
        entries: dict[int, tuple[int, int, int]] = {}
        fmt = self.endian + "HHI"
        for index in range(count):
            pos = offset + 2 + 12 * index
            tag, typ, n = struct.unpack_from(fmt, self.data, pos)
            entries.setdefault(tag, (typ, n, pos + 8))
        return entries, self._u32(offset + 2 + 12 * count) or 0

    def value(self, entry: tuple[int, int, int]) -> bytes:
        typ, count, field = entry
        size = _TIFF_TYPE_SIZES.get(typ, 1) * count
        if size <= 4:
            return self.data[field : field + size]
        start = self._u32(field) or 0
        return self.data[start : start + size]

    def integer(self, entry: tuple[int, int, int] | None) -> int | None:
        if entry is None:
            return None
        typ, _count, field = entry
        if typ == 3:
            return self._u16(field)
        if typ == 4:
            return self._u32(field)
        if typ == 1 and field < len(self.data):
            return self.data[field]
        return None


_GPS_POSITION_TAGS = {2, 4, 6, 20, 22}  # latitude, longitude, altitude, destination lat/long
_EXIF_LABELS = {
    0x010F: CAMERA,
    0x0110: CAMERA,
    0xA432: LENS,
    0xA433: LENS,
    0xA434: LENS,
    0xA431: SERIAL,
    0xA435: SERIAL,
    0xC62F: SERIAL,
    0xA430: OWNER,
    0x0132: DATE,
    0x9003: DATE,
    0x9004: DATE,
    0x013B: AUTHOR,
    0x8298: AUTHOR,
    0x9C9D: AUTHOR,
    0x0131: SOFTWARE,
    0x000B: SOFTWARE,
    0x927C: MAKER_NOTES,
    0x9C9C: COMMENT,
}
_TEXT_TAGS = {
    0x010E: DESCRIPTION,
    0x9C9B: DESCRIPTION,
    0x9C9E: DESCRIPTION,
    0x9C9F: DESCRIPTION,
    0x9286: COMMENT,
}


def _minimal_exif_tiff(orientation: int) -> bytes:
    """A big-endian TIFF with one IFD0 entry, Orientation, and no next IFD (26 bytes)."""
    return (
        b"MM\x00*\x00\x00\x00\x08\x00\x01"
        + struct.pack(">HHIHH", _ORIENTATION, 3, 1, orientation, 0)
        + b"\x00\x00\x00\x00"
    )


def _makernote_has_serial(tiff: _Tiff, entry: tuple[int, int, int], make: bytes) -> bool:
    """Canon (tag 0x000C) and Nikon type-3 (tag 0x001D) maker notes store the body serial."""
    note = tiff.value(entry)
    if note.startswith(b"Nikon\x00\x02"):
        inner = _Tiff.parse(note[10:])
        return inner is not None and 0x001D in inner.ifd(inner.first_ifd)[0]
    if make.startswith(b"Canon"):
        return 0x000C in tiff.ifd(tiff._u32(entry[2]))[0]
    return False


def _analyse_exif(raw: bytes, labels: set[str]) -> int | None:
    """Add what an Exif block holds to ``labels``; return its Orientation tag value.

    ``None`` means the block has no Orientation tag (so XMP may supply one, as in Pillow).
    """
    tiff = _Tiff.parse(raw)
    if tiff is None:
        labels.add(EXIF)
        return None
    ifd0, next_ifd = tiff.ifd(tiff.first_ifd)
    exif_ifd = tiff.ifd(tiff.integer(ifd0.get(0x8769)))[0] if 0x8769 in ifd0 else {}
    gps_ifd = tiff.ifd(tiff.integer(ifd0.get(0x8825)))[0] if 0x8825 in ifd0 else {}
    ifd1 = tiff.ifd(next_ifd)[0] if next_ifd else {}
    if set(ifd0) - {_ORIENTATION} or ifd1:
        labels.add(EXIF)
    if 0x8825 in ifd0:
        labels.add(GPS_POSITION if _GPS_POSITION_TAGS & set(gps_ifd) else GPS_DATA)
    if 0x0201 in ifd1 or 0x0111 in ifd1:
        labels.add(THUMBNAIL)
    make = tiff.value(ifd0[0x010F]) if 0x010F in ifd0 else b""
    for entries in (ifd0, exif_ifd):
        for tag, entry in entries.items():
            if tag in _EXIF_LABELS:
                labels.add(_EXIF_LABELS[tag])
            elif tag in _TEXT_TAGS:
                text = tiff.value(entry)[8 if tag == 0x9286 else 0 :]
                if text.strip(b" \x00"):
                    labels.add(_TEXT_TAGS[tag])
    if 0x927C in exif_ifd and _makernote_has_serial(tiff, exif_ifd[0x927C], make):
        labels.add(SERIAL)
    if _ORIENTATION not in ifd0:
        return None
    return tiff.integer(ifd0[_ORIENTATION]) or 0


_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')
_XMP_HINTS = (
    (b"GPSLatitude", GPS_POSITION),
    (b"GPSLongitude", GPS_POSITION),
    (b"tiff:Make", CAMERA),
    (b"tiff:Model", CAMERA),
    (b"SerialNumber", SERIAL),
    (b"aux:Lens", LENS),
    (b"LensModel", LENS),
    (b"DateTimeOriginal", DATE),
    (b"xmp:CreateDate", DATE),
    (b"photoshop:DateCreated", DATE),
    (b"CreatorTool", SOFTWARE),
    (b"dc:creator", AUTHOR),
    (b"dc:rights", AUTHOR),
    (b"dc:description", DESCRIPTION),
    (b"dc:title", DESCRIPTION),
)


def _analyse_xmp(xmp: bytes, labels: set[str]) -> int | None:
    """Add XMP's notable contents to ``labels``; return its tiff:Orientation, if any."""
    labels.add(XMP)
    for needle, label in _XMP_HINTS:
        if needle in xmp:
            labels.add(label)
    match = _XMP_ORIENTATION.search(xmp)
    return int(match[2]) if match else None


class _Orientation:
    """Pick the orientation the way Pillow's ``getexif`` does: Exif tag first, then XMP."""

    def __init__(self) -> None:
        self.exif: int | None = None
        self.exif_seen = False
        self.xmp: int | None = None

    def from_exif(self, value: int | None) -> None:
        if not self.exif_seen:
            self.exif_seen = True
            self.exif = value

    def from_xmp(self, value: int | None) -> None:
        if value is not None:
            self.xmp = value

    @property
    def value(self) -> int:
        """2..8 when the picture must be turned on display, else 1."""
        value = self.exif if self.exif is not None else self.xmp
        return value if value is not None and 2 <= value <= 8 else 1


def _upright(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# --------------------------------------------------------------------------- Pillow guard
@contextmanager
def _pillow_errors(fmt: str) -> Iterator[None]:
    """Run Pillow with decompression bombs as errors; turn its failures into BadImage."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImage("The image is too large (too many pixels).") from exc
        except (BadImage, UnsupportedImage):
            raise
        except Exception as exc:  # Pillow's plugins raise many undocumented types on bad input
            raise BadImage(f"The {_HUMAN_NAMES[fmt]} file is damaged and cannot be read.") from exc


def _check_pixels(width: int, height: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS or _FALLBACK_MAX_PIXELS
    if width <= 0 or height <= 0:
        raise BadImage("The image has no pixels.")
    if width * height > limit:
        raise BadImage("The image is too large (too many pixels).")


def _validate(data: bytes, fmt: str, *, decode: bool) -> tuple[int, int]:
    """Open (and for PNG/GIF/WebP decode the first frame of) the cleaned bytes with Pillow."""
    with _pillow_errors(fmt), Image.open(BytesIO(data), formats=[fmt]) as im:
        _check_pixels(*im.size)
        if decode:
            im.load()
        return im.size


# --------------------------------------------------------------------------- JPEG
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # first real marker after a scan
_NOT_FF = re.compile(rb"[^\xff]")
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TRUNCATED_JPEG = "The JPEG file is truncated or damaged."
_ICC_SLOT = b"<icc>"  # returned (by identity) for ICC_PROFILE chunks, which are kept as is


def _jpeg_app(marker: int, payload: bytes, state: _JpegState) -> bytes | None:
    """Decide about one APPn/COM segment: return bytes to keep (a rebuilt segment) or None."""
    labels = state.labels
    if marker == 0xFE:
        labels.add(COMMENT)
    elif marker == 0xE0:
        if payload.startswith(b"JFIF\x00") and len(payload) >= 14 and state.jfif is None:
            # Keep JFIF (decoders read the colour space from it), minus its thumbnail.
            if payload[12] or payload[13]:
                labels.add(THUMBNAIL)
            state.jfif = _segment(0xE0, payload[:12] + b"\x00\x00")
        elif payload.startswith(b"JFXX\x00"):
            labels.add(THUMBNAIL)
        else:
            labels.add(OTHER_APP_DATA)
    elif marker == 0xE1:
        if payload.startswith(b"Exif\x00"):
            value = _analyse_exif(payload, labels)
            if payload.startswith(b"Exif\x00\x00"):
                state.orientation.from_exif(value)
        elif payload.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
            state.orientation.from_xmp(_analyse_xmp(payload[29:], labels))
        elif payload.startswith(b"http://ns.adobe.com/xmp/extension/\x00"):
            labels.add(XMP)
        else:
            labels.add(OTHER_APP_DATA)
    elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        state.icc.append(payload)
        return _ICC_SLOT  # the original chunk is kept once all chunks prove consistent
    elif marker == 0xE2 and payload.startswith(b"MPF\x00"):
        labels.add(MULTI_PICTURE)
    elif marker == 0xEB and b"c2pa" in payload[:64]:
        labels.add(CONTENT_CREDENTIALS)
    elif marker == 0xEC and payload.startswith(b"Ducky"):
        labels.add(SOFTWARE)
    elif marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
        labels.add(IPTC)
    elif marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
        # libjpeg reads the colour transform (YCbCr/YCCK/none) from here: keep, canonical.
        return _segment(0xEE, payload[:12])
    else:
        labels.add(OTHER_APP_DATA)
    return None


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes((marker,)) + struct.pack(">H", len(payload) + 2) + payload


class _JpegState:
    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.orientation = _Orientation()
        self.jfif: bytes | None = None
        self.icc: list[bytes] = []


def _icc_is_consistent(chunks: list[bytes]) -> bool:
    """ICC chunks numbered 1..N of N whose joined data is exactly the declared profile size.

    This is also what keeps a damaged length field from hiding other data in the profile.
    """
    count = chunks[0][13]
    if count == 0 or len(chunks) != count or any(c[13] != count for c in chunks):
        return False
    ordered = sorted(chunks, key=lambda c: c[12])
    if [c[12] for c in ordered] != list(range(1, count + 1)):
        return False
    profile = b"".join(c[14:] for c in ordered)
    return len(profile) >= 128 and int.from_bytes(profile[:4], "big") == len(profile)


def _check_tables(marker: int, payload: bytes) -> None:
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


def _clean_jpeg(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep JFIF, ICC, Adobe, tables, frame and scans; drop every other segment and tail."""
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
        payload = (
            data[pos + 2 : end] if 0xE0 <= marker <= 0xEF or marker == 0xFE else mv[pos + 2 : end]
        )
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            keep = _jpeg_app(marker, payload, state)
            if keep is _ICC_SLOT:
                icc_slots.append(len(kept))
                kept.append(mv[pos - 2 : end])
            elif keep is not None:
                kept.append(keep)
            pos = end
            continue
        if marker in _SOF_MARKERS:
            if seen_sof:
                raise BadImage(_TRUNCATED_JPEG)
            seen_sof = True
        elif marker == 0xDA:
            if not seen_sof:
                raise BadImage(_TRUNCATED_JPEG)
            seen_sos = True
        elif marker not in (0xC4, 0xCC, 0xDB, 0xDD, 0xDC):
            raise BadImage("This JPEG uses a variant we do not support.")
        _check_tables(marker, payload)
        kept.append(mv[pos - 2 : end])
        pos = end
        if marker == 0xDA:  # entropy-coded data: 0xFF00 stuffing and RSTn are not markers
            match = _ENTROPY_END.search(data, pos)
            if match is None:
                raise BadImage(_TRUNCATED_JPEG)
            kept.append(mv[pos : match.start()])
            pos = match.start()
    if not seen_sos:
        raise BadImage(_TRUNCATED_JPEG)
    if pos < size:
        state.labels.add(TRAILING)
    if state.icc and not _icc_is_consistent(state.icc):
        state.labels.add(DAMAGED_PROFILE)
        for slot in icc_slots:
            kept[slot] = b""
    orientation = state.orientation.value
    head = [b"\xff\xd8"]
    if state.jfif is not None:
        head.append(state.jfif)
    if orientation != 1:
        head.append(_segment(0xE1, b"Exif\x00\x00" + _minimal_exif_tiff(orientation)))
    return b"".join([*head, *kept, b"\xff\xd9"]), state.labels, orientation


# --------------------------------------------------------------------------- PNG
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
    ctype: bytes, body: bytes, labels: set[str], orient: _Orientation, raw_exif: list[bytes]
) -> None:
    keyword, text = _png_text(ctype, body)
    key = keyword.lower()
    if key == b"xml:com.adobe.xmp":
        orient.from_xmp(_analyse_xmp(text, labels))
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


def _clean_png(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep pixel, colour and animation chunks (CRCs checked); drop text, eXIf, tIME, tail."""
    mv = memoryview(data)
    size = len(data)
    labels: set[str] = set()
    orient = _Orientation()
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
            orient.from_exif(_analyse_exif(data[pos + 8 : end], labels))
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
        orient.from_exif(_analyse_exif(raw_exif[0], labels))
    orientation = orient.value
    if orientation != 1:
        kept.insert(1, _png_chunk(b"eXIf", _minimal_exif_tiff(orientation)))
    return b"".join([_PNG_SIGNATURE, *kept]), labels, orientation


# --------------------------------------------------------------------------- WebP
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


def _clean_webp(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep image, alpha, ICC and animation chunks; drop EXIF, XMP, unknown chunks, tail."""
    mv = memoryview(data)
    labels: set[str] = set()
    orient = _Orientation()
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
            orient.from_exif(_analyse_exif(data[start:stop], labels))
        elif fourcc == b"XMP ":
            orient.from_xmp(_analyse_xmp(data[start:stop], labels))
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
            kept.append(_riff_chunk(b"EXIF", _minimal_exif_tiff(orientation)))
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


# --------------------------------------------------------------------------- GIF
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


def _clean_gif(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep frames, graphic controls, loop count and ICC; drop comments, other extensions."""
    mv = memoryview(data)
    size = len(data)
    labels: set[str] = set()
    if size < 13:
        raise BadImage(_TRUNCATED_GIF)
    packed = data[10]
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    kept: list[bytes | memoryview] = [mv[:pos]]
    frames = 0
    loop_kept = False
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_GIF)
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            kept.append(b";")
            pos += 1
            break
        if introducer == 0x2C:  # image descriptor, optional local palette, LZW data
            if pos + 11 > size:
                raise BadImage(_TRUNCATED_GIF)
            local = data[pos + 9]
            start = pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            end = _gif_sub_blocks(data, start)
            kept.append(mv[pos:end])
            frames += 1
            pos = end
            continue
        if introducer != 0x21 or pos + 2 > size:
            raise BadImage(_TRUNCATED_GIF)
        label = data[pos + 1]
        end = _gif_sub_blocks(data, pos + 2)
        if label == 0xF9:  # graphic control: frame delay, disposal, transparency
            if data[pos + 2] >= 4:  # rebuilt from the 4 bytes decoders read, nothing else
                kept.append(b"\x21\xf9\x04" + data[pos + 3 : pos + 7] + b"\x00")
            else:
                labels.add(UNRECOGNISED)
        elif label == 0xFE:
            labels.add(COMMENT)
        elif label == 0x01:
            labels.add(EMBEDDED_TEXT)
        elif label == 0xFF:
            ident = data[pos + 3 : pos + 14] if data[pos + 2] == 11 else b""
            if ident == b"NETSCAPE2.0" and not loop_kept:
                loop = _gif_loop_block(data, pos + 14, end)
                if loop is not None:
                    kept.append(loop)
                    loop_kept = True
            elif ident == b"ICCRGBG1012":
                kept.append(mv[pos:end])
            elif ident == b"XMP DataXMP":
                labels.add(XMP)
            else:
                labels.add(OTHER_APP_DATA)
        else:
            labels.add(OTHER_APP_DATA)
        pos = end
    if frames == 0:
        raise BadImage(_TRUNCATED_GIF)
    if pos < size:
        labels.add(TRAILING)
    return b"".join(kept), labels, 1


# --------------------------------------------------------------------------- public API
_CLEANERS = {"JPEG": _clean_jpeg, "PNG": _clean_png, "WEBP": _clean_webp, "GIF": _clean_gif}


def clean_image(data: bytes) -> CleanResult:
    """Remove metadata losslessly (decoded pixels unchanged); keep ICC and orientation.

    The format comes from the bytes (:func:`sniff_format`). Raises
    :class:`UnsupportedImage` for other formats and :class:`BadImage` for corrupt,
    truncated or oversized images. ``removed`` lists, in plain words, what was taken out.
    """
    fmt = sniff_format(data)
    cleaned, labels, orientation = _CLEANERS[fmt](bytes(data))
    width, height = _validate(cleaned, fmt, decode=fmt != "JPEG")
    width, height = _upright(width, height, orientation)
    return CleanResult(
        data=cleaned,
        format=fmt,
        mime_type=MIME_TYPES[fmt],
        width=width,
        height=height,
        removed=_ordered(labels),
    )


def _fit(width: int, height: int, limit: int) -> tuple[int, int]:
    """Scale so the longest side is at most ``limit``; never enlarge."""
    if max(width, height) <= limit:
        return width, height
    if width >= height:
        return limit, max(1, round(height * limit / width))
    return max(1, round(width * limit / height)), limit


_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def _web_mode(im: Image.Image, out_fmt: str) -> Image.Image:
    """Convert to a mode the output format and a good resampling filter both handle."""
    if im.mode in ("P", "PA"):
        transparent = im.mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if transparent else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode in _SIXTEEN_BIT:
        im = im.convert("I").point(lambda value: value / 256).convert("L")
    allowed = {"JPEG": ("L", "RGB", "CMYK")}.get(out_fmt, ("L", "LA", "RGB", "RGBA"))
    if im.mode not in allowed:
        im = im.convert("RGBA" if "A" in im.mode and "A" in "".join(allowed) else "RGB")
    return im


def _encode(im: Image.Image, out_fmt: str, icc: bytes | None) -> bytes:
    """Encode with no metadata at all except the ICC profile."""
    im.info = {}  # Pillow copies comments/XMP from ``info`` into some formats: none of that
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if out_fmt == "JPEG":
        options.update(quality=85, progressive=True, optimize=True)
    elif out_fmt in ("PNG", "GIF"):
        options.update(optimize=True)
    else:
        options.update(quality=80)
    buffer = BytesIO()
    im.save(buffer, out_fmt, **options)
    return buffer.getvalue()


def make_variants(
    clean: bytes, fmt: str, sizes: Mapping[str, int] | None = DEFAULT_SIZES
) -> list[Variant]:
    """Resized, upright, metadata-free renderings of a cleaned image, one per ``sizes`` item.

    Each size is the longest side in pixels; images are never enlarged. Still images are
    always re-encoded in their own format (JPEG q85 progressive optimised, PNG and GIF
    optimised, WebP q80), keeping only the ICC profile, even when no resize is needed, so
    variants are small and predictable. Animated images (GIF, APNG, animated WebP)
    that already fit and need no rotation reuse ``clean`` as is (animation kept, no
    metadata left by :func:`clean_image`); otherwise their first frame becomes a
    still variant, which also bounds the work an upload can cause. Decoding errors
    raise :class:`BadImage`.
    """
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedImage(f"Please upload a {_ACCEPTED_HUMAN} image.")
    sizes = DEFAULT_SIZES if sizes is None else sizes
    for name, limit in sizes.items():
        if not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"size of variant {name!r} must be a positive int, not {limit!r}")
    out_fmt = fmt  # same format as the original: one file extension per image
    with _pillow_errors(fmt), Image.open(BytesIO(clean), formats=[fmt]) as im:
        _check_pixels(*im.size)
        orientation = im.getexif().get(_ORIENTATION, 1)
        orientation = orientation if orientation in range(2, 9) else 1
        upright = _upright(*im.size, orientation)
        animated = bool(getattr(im, "is_animated", False))
        im.seek(0)
        targets = {name: _fit(*upright, limit) for name, limit in sizes.items()}
        reuse = {
            name
            for name, size in targets.items()
            if animated and orientation == 1 and size == upright
        }
        still = [size for name, size in targets.items() if name not in reuse]
        frame: Image.Image | None = None
        icc: bytes | None = None
        if still:
            if fmt == "JPEG":  # let libjpeg decode at 1/2, 1/4 or 1/8 scale when it can
                largest = max(still, key=lambda size: size[0] * size[1])
                im.draft(im.mode, _upright(*largest, orientation))
            im.load()
            icc = im.info.get("icc_profile")
            frame = _web_mode(ImageOps.exif_transpose(im), out_fmt)
        variants = []
        for name, (width, height) in targets.items():
            if name in reuse:
                variants.append(Variant(name, bytes(clean), width, height, MIME_TYPES[fmt]))
                continue
            assert frame is not None
            resized = (
                frame
                if frame.size == (width, height)
                else frame.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
            )
            variants.append(
                Variant(
                    name, _encode(resized.copy(), out_fmt, icc), width, height, MIME_TYPES[out_fmt]
                )
            )
        return variants
