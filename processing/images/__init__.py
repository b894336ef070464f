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

from .formats import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SIZES,
    EXTENSIONS,
    MIME_BY_EXTENSION,
    MIME_TYPES,
    BadImage,
    CleanResult,
    UnsupportedImage,
    Variant,
)
from .gif import clean_gif
from .guard import validate
from .jpeg import clean_jpeg
from .labels import ordered
from .metadata import upright_size
from .png import clean_png
from .sniff import sniff_format
from .variants import make_variants
from .webp import clean_webp

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SIZES",
    "EXTENSIONS",
    "MIME_BY_EXTENSION",
    "MIME_TYPES",
    "BadImage",
    "CleanResult",
    "UnsupportedImage",
    "Variant",
    "clean_image",
    "make_variants",
    "sniff_format",
]

_CLEANERS = {"JPEG": clean_jpeg, "PNG": clean_png, "WEBP": clean_webp, "GIF": clean_gif}


def clean_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> CleanResult:
    """Remove metadata losslessly (decoded pixels unchanged); keep ICC and orientation.

    The format comes from the bytes (:func:`sniff_format`). Raises
    :class:`UnsupportedImage` for other formats and :class:`BadImage` for corrupt,
    truncated or oversized images (more than ``max_pixels``). ``removed`` lists, in
    plain words, what was taken out.
    """
    fmt = sniff_format(data)
    cleaned, labels, orientation = _CLEANERS[fmt](bytes(data))
    width, height = validate(cleaned, fmt, decode=fmt != "JPEG", max_pixels=max_pixels)
    width, height = upright_size(width, height, orientation)
    return CleanResult(
        data=cleaned,
        format=fmt,
        mime_type=MIME_TYPES[fmt],
        width=width,
        height=height,
        removed=ordered(labels),
    )
