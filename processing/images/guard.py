"""Pillow under guard: pixel limit, decompression bombs and failures as BadImage."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

from PIL import Image

from .formats import HUMAN_NAMES, BadImage, UnsupportedImage

#: Used only if some other code set ``Image.MAX_IMAGE_PIXELS = None``: we never go unguarded.
_FALLBACK_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)


@contextmanager
def pillow_errors(fmt: str) -> Iterator[None]:
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
            raise BadImage(f"The {HUMAN_NAMES[fmt]} file is damaged and cannot be read.") from exc


#: Pillow decodes every WebP through libwebp's animation decoder, which keeps the canvas
#: twice, and then copies the frame twice more: a WebP pixel costs 4 times the memory.
_DECODE_COPIES = {"WEBP": 4}


def check_pixels(width: int, height: int, max_pixels: int, fmt: str) -> None:
    """Refuse an image before decoding when it has more pixels than ``max_pixels``.

    Decoded, every pixel costs up to 4 bytes (RGBA), and a tiny compressed file can
    declare millions of them: this is what bounds a job's memory (docs/images.md).
    """
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or _FALLBACK_MAX_PIXELS)
    limit //= _DECODE_COPIES.get(fmt, 1)
    if width <= 0 or height <= 0:
        raise BadImage("The image has no pixels.")
    if width * height > limit:
        raise BadImage(
            f"The image is too large: {width} x {height} pixels is "
            f"{width * height / 1e6:.1f} megapixels; the limit for {HUMAN_NAMES[fmt]} images "
            f"is {limit / 1e6:.1f} megapixels."
        )


def validate(data: bytes, fmt: str, *, decode: bool, max_pixels: int) -> tuple[int, int]:
    """Open (and for PNG/GIF/WebP decode the first frame of) the cleaned bytes with Pillow."""
    with pillow_errors(fmt), Image.open(BytesIO(data), formats=[fmt]) as im:
        check_pixels(*im.size, max_pixels, fmt)
        if decode:
            im.load()
        return im.size
