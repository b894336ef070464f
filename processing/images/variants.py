"""Resized, upright, metadata-free renderings of a cleaned image."""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO

from PIL import Image, ImageOps

from .formats import (
    ACCEPTED_FORMATS,
    ACCEPTED_HUMAN,
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
        raise UnsupportedImage(f"Please upload a {ACCEPTED_HUMAN} image.")
    sizes = DEFAULT_SIZES if sizes is None else sizes
    for name, limit in sizes.items():
        if not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"size of variant {name!r} must be a positive int, not {limit!r}")
    out_fmt = fmt  # same format as the original: one file extension per image
    with pillow_errors(fmt), Image.open(BytesIO(clean), formats=[fmt]) as im:
        check_pixels(*im.size)
        orientation = im.getexif().get(ORIENTATION_TAG, 1)
        orientation = orientation if orientation in range(2, 9) else 1
        upright = upright_size(*im.size, orientation)
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
                im.draft(im.mode, upright_size(*largest, orientation))
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
