"""Plain-language names for what was removed, in the order reports list them."""

from __future__ import annotations

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


def ordered(labels: set[str]) -> list[str]:
    """Deduplicated labels in a fixed order, so reports are stable across runs."""
    return sorted(labels, key=_LABEL_ORDER.index)
