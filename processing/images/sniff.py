"""The real format from the magic bytes; a plain-words name for refused files."""

from __future__ import annotations

from .formats import ACCEPTED_HUMAN, UnsupportedImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    raise UnsupportedImage(
        f"This file is {_describe_unsupported(data)}. Please upload a {ACCEPTED_HUMAN} image."
    )
