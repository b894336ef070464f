"""Resized, upright, metadata-free renderings of a cleaned image."""

from __future__ import annotations

import math
from collections.abc import Mapping
from io import BytesIO

from PIL import Image

from .formats import (
    ACCEPTED_FORMATS,
    ACCEPTED_HUMAN,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SIZES,
    MIME_TYPES,
    UnsupportedImage,
    Variant,
)
from .guard import check_pixels, pillow_errors
from .metadata import ORIENTATION_TAG, upright_size


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


def _check_request(fmt: str, sizes: Mapping[str, int]) -> None:
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedImage(f"Please upload a {ACCEPTED_HUMAN} image.")
    for name, limit in sizes.items():
        if not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"size of variant {name!r} must be a positive int, not {limit!r}")


_REDUCING_GAP = 3.0  # box-reduce first while 3x larger than the target, then Lanczos
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


#: Source pixels per side of one tile of :func:`_resized` (a 512 x 512 RGBA tile: 1 MB).
_TILE = 512


def _resized(im: Image.Image, fmt: str, size: tuple[int, int]) -> Image.Image:
    """``_web_mode(im).resize(size)``, computed a tile at a time.

    Converting the mode (palette to RGBA, 16 to 8 bits) and premultiplying alpha (which
    ``resize`` does for RGBA) each copy the whole image; per tile, the extra memory is one
    tile instead of up to two full-size copies. Each tile is cut with a margin wider than
    the Lanczos support, so the seams are invisible.
    """
    width, height = im.size
    scale_x, scale_y = width / size[0], height / size[1]
    step_x, step_y = max(1, int(_TILE / scale_x)), max(1, int(_TILE / scale_y))
    margin_x, margin_y = math.ceil(3 * scale_x) + 1, math.ceil(3 * scale_y) + 1
    out: Image.Image | None = None
    for top in range(0, size[1], step_y):
        bottom = min(size[1], top + step_y)
        y0 = max(0, int(top * scale_y) - margin_y)
        y1 = min(height, math.ceil(bottom * scale_y) + margin_y)
        for left in range(0, size[0], step_x):
            right = min(size[0], left + step_x)
            x0 = max(0, int(left * scale_x) - margin_x)
            x1 = min(width, math.ceil(right * scale_x) + margin_x)
            tile = _web_mode(im.crop((x0, y0, x1, y1)), fmt)
            box = (
                left * scale_x - x0,
                top * scale_y - y0,
                right * scale_x - x0,
                bottom * scale_y - y0,
            )
            part = tile.resize(
                (right - left, bottom - top), Image.Resampling.LANCZOS, box, _REDUCING_GAP
            )
            if out is None:
                out = Image.new(part.mode, size)
            out.paste(part, (left, top))
    assert out is not None  # size is at least 1 x 1
    return out


def _small_frame(
    im: Image.Image, fmt: str, orientation: int, largest: tuple[int, int]
) -> Image.Image:
    """The first frame, upright, in a web mode, at the size of the largest variant.

    Memory is what bounds an upload's cost (docs/images.md): JPEG decodes at 1/2..1/8
    scale (draft mode); other formats are resized a tile at a time from the decoded
    pixels, which are released before the variants are encoded, so a job holds the
    decoded image once, never three times (decode, convert, resize).
    """
    target = upright_size(*largest, orientation)  # the same box, in stored orientation
    if fmt == "JPEG":
        im.draft(im.mode, target)
    im.load()
    if im.size == target:
        frame = _web_mode(im, fmt)
    else:
        frame = _resized(im, fmt, target)
        im.close()  # frees the full-size pixels now (frame is a new, small image)
    if orientation != 1:
        frame = frame.transpose(_TRANSPOSE[orientation])
    return frame


def _still_variant(
    name: str, frame: Image.Image, size: tuple[int, int], fmt: str, icc: bytes | None
) -> Variant:
    resized = (
        frame
        if frame.size == size
        else frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
    )
    return Variant(name, _encode(resized.copy(), fmt, icc), *size, MIME_TYPES[fmt])


def make_variants(
    clean: bytes,
    fmt: str,
    sizes: Mapping[str, int] | None = DEFAULT_SIZES,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Variant]:
    """Resized, upright, metadata-free renderings of a cleaned image, one per ``sizes`` item.

    Each size is the longest side in pixels; images are never enlarged. Still images are
    always re-encoded in their own format (JPEG q85 progressive optimised, PNG and GIF
    optimised, WebP q80), keeping only the ICC profile, even when no resize is needed, so
    variants are small and predictable. Animated images (GIF, APNG, animated WebP)
    that already fit and need no rotation reuse ``clean`` as is (animation kept, no
    metadata left by :func:`clean_image`); otherwise their first frame becomes a
    still variant, which also bounds the work an upload can cause. Decoding errors
    and images over ``max_pixels`` raise :class:`BadImage`.
    """
    sizes = DEFAULT_SIZES if sizes is None else sizes
    _check_request(fmt, sizes)
    with pillow_errors(fmt), Image.open(BytesIO(clean), formats=[fmt]) as im:
        check_pixels(*im.size, max_pixels, fmt)
        orientation = im.getexif().get(ORIENTATION_TAG, 1)
        orientation = orientation if orientation in _TRANSPOSE else 1
        upright = upright_size(*im.size, orientation)
        animated = bool(getattr(im, "is_animated", False))
        im.seek(0)
        icc = im.info.get("icc_profile")
        targets = {name: _fit(*upright, limit) for name, limit in sizes.items()}
        reuse = {
            name
            for name, size in targets.items()
            if animated and orientation == 1 and size == upright
        }
        still = [size for name, size in targets.items() if name not in reuse]
        frame = None
        if still:
            largest = max(still, key=lambda size: size[0] * size[1])
            frame = _small_frame(im, fmt, orientation, largest)
        variants = []
        for name, size in targets.items():
            if frame is None or name in reuse:
                variants.append(Variant(name, bytes(clean), *size, MIME_TYPES[fmt]))
            else:
                variants.append(_still_variant(name, frame, size, fmt, icc))
        return variants
