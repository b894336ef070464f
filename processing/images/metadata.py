"""A bounds-checked Exif/TIFF reader, XMP hints and the orientation rule."""

from __future__ import annotations

import re
import struct

from .labels import (
    AUTHOR,
    CAMERA,
    COMMENT,
    DATE,
    DESCRIPTION,
    EXIF,
    GPS_DATA,
    GPS_POSITION,
    LENS,
    MAKER_NOTES,
    OWNER,
    SERIAL,
    SOFTWARE,
    THUMBNAIL,
    XMP,
)

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
ORIENTATION_TAG = 0x0112


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
        value: int = struct.unpack_from(self.endian + "H", self.data, offset)[0]
        return value

    def _u32(self, offset: int) -> int | None:
        if offset < 0 or offset + 4 > len(self.data):
            return None
        value: int = struct.unpack_from(self.endian + "I", self.data, offset)[0]
        return value

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


def minimal_exif_tiff(orientation: int) -> bytes:
    """A big-endian TIFF with one IFD0 entry, Orientation, and no next IFD (26 bytes)."""
    return (
        b"MM\x00*\x00\x00\x00\x08\x00\x01"
        + struct.pack(">HHIHH", ORIENTATION_TAG, 3, 1, orientation, 0)
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


def analyse_exif(raw: bytes, labels: set[str]) -> int | None:
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
    if set(ifd0) - {ORIENTATION_TAG} or ifd1:
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
    if ORIENTATION_TAG not in ifd0:
        return None
    return tiff.integer(ifd0[ORIENTATION_TAG]) or 0


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


def analyse_xmp(xmp: bytes, labels: set[str]) -> int | None:
    """Add XMP's notable contents to ``labels``; return its tiff:Orientation, if any."""
    labels.add(XMP)
    for needle, label in _XMP_HINTS:
        if needle in xmp:
            labels.add(label)
    match = _XMP_ORIENTATION.search(xmp)
    return int(match[2]) if match else None


class Orientation:
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


def upright_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
