"""Data hidden inside structures the cleaner keeps (issue 9): crafted files, one per case.

docs/images.md lists these cases, and the ones that cannot be caught without decoding.
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from processing.images import BadImage, clean_image, make_variants
from tests.test_image_cleaning import chunk, noise, open_bytes, png_chunks

SECRET = b"<x:xmpmeta>GPSLatitude 48.8584 N, GPSLongitude 2.2945 E</x:xmpmeta>"


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def profile_with_private_tag(profile: bytes, secret: bytes) -> bytes:
    """A self-consistent profile (sizes, offsets, count right) with one more private tag."""
    count = int.from_bytes(profile[128:132], "big")
    entries = [struct.unpack_from(">4sII", profile, 132 + 12 * i) for i in range(count)]
    shifted = [(sig, offset + 12, size) for sig, offset, size in entries]
    data = profile[132 + 12 * count :]
    new_offset = 132 + 12 * (count + 1) + len(data)
    shifted.append((b"zzzz", new_offset, len(secret)))
    table = struct.pack(">I", count + 1) + b"".join(struct.pack(">4sII", *e) for e in shifted)
    body = bytearray(profile[:128] + table + data + secret)
    body[:4] = struct.pack(">I", len(body))
    return bytes(body)


def with_icc(fmt: str, picture: Image.Image, profile: bytes) -> bytes:
    """``picture`` encoded with ``profile``; for GIF (Pillow writes none) the application
    extension ICCRGBG1012 is put right after the global palette."""
    if fmt != "GIF":
        return encoded(
            picture, fmt, icc_profile=profile, **({"lossless": True} if fmt == "WEBP" else {})
        )
    data = encoded(picture, "GIF")
    palette_end = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    blocks = b"".join(
        bytes((len(p),)) + p for p in (profile[i : i + 255] for i in range(0, len(profile), 255))
    )
    return data[:palette_end] + b"\x21\xff\x0bICCRGBG1012" + blocks + b"\x00" + data[palette_end:]


def same_colours(profile_a: bytes, profile_b: bytes) -> bool:
    """Both profiles convert a colourful picture to sRGB identically."""
    picture = noise((64, 64))
    srgb = ImageCms.createProfile("sRGB")
    out = [
        ImageCms.profileToProfile(picture, ImageCms.ImageCmsProfile(io.BytesIO(p)), srgb)
        for p in (profile_a, profile_b)
    ]
    return out[0].tobytes() == out[1].tobytes()


def test_png_oversized_phys_is_dropped() -> None:
    original = encoded(noise((40, 30)), "PNG", dpi=(300, 300))
    phys = next(body for kind, body in png_chunks(original) if kind == b"pHYs")
    crafted = original.replace(chunk(b"pHYs", phys), chunk(b"pHYs", phys + SECRET))
    assert SECRET in crafted and open_bytes(crafted).tobytes() == noise((40, 30)).tobytes()
    result = clean_image(crafted)
    assert SECRET not in result.data
    assert b"pHYs" not in result.data
    assert "unrecognised data" in result.removed
    assert open_bytes(result.data).tobytes() == noise((40, 30)).tobytes()


def test_png_correct_phys_is_kept() -> None:
    original = encoded(noise((40, 30)), "PNG", dpi=(300, 300))
    result = clean_image(original)
    assert b"pHYs" in result.data and result.removed == []


def test_png_iend_with_data_is_rebuilt_empty() -> None:
    original = encoded(noise((8, 8)), "PNG")
    crafted = original.replace(chunk(b"IEND", b""), chunk(b"IEND", SECRET))
    result = clean_image(crafted)
    assert SECRET not in result.data and result.data.endswith(chunk(b"IEND", b""))


def test_png_iccp_with_bytes_after_its_zlib_stream_is_dropped() -> None:
    original = encoded(noise((8, 8)), "PNG", icc_profile=srgb_profile())
    iccp = next(body for kind, body in png_chunks(original) if kind == b"iCCP")
    crafted = original.replace(chunk(b"iCCP", iccp), chunk(b"iCCP", iccp + SECRET))
    result = clean_image(crafted)
    assert SECRET not in result.data and b"iCCP" not in result.data
    assert "damaged colour profile" in result.removed


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_icc_private_tag_and_texts_removed_colours_kept_also_in_variants(fmt: str) -> None:
    original_profile = srgb_profile()
    crafted_profile = profile_with_private_tag(original_profile, SECRET)
    crafted = with_icc(fmt, noise((300, 200)), crafted_profile)
    assert SECRET in open_bytes(crafted).info["icc_profile"]
    result = clean_image(crafted)
    kept = open_bytes(result.data).info["icc_profile"]
    assert SECRET not in result.data and SECRET not in kept
    assert b"desc" not in kept[128:] and b"cprt" not in kept[128:]  # text tags gone
    assert same_colours(kept, original_profile)
    for variant in make_variants(result.data, fmt, {"small": 100}):
        assert SECRET not in variant.data
        assert open_bytes(variant.data).info["icc_profile"] == kept


def test_icc_tag_padded_past_its_type_is_trimmed() -> None:
    """A curve tag declared longer than its points: the extra bytes are cut off."""
    profile = bytearray(srgb_profile())
    count = int.from_bytes(profile[128:132], "big")
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        if sig == b"rTRC":
            break
    padded = profile_with_private_tag(bytes(profile), b"")  # shifts offsets by 12
    data = bytearray(padded) + SECRET
    rtrc_offset = offset + 12
    struct.pack_into(">4sII", data, 132 + 12 * i, b"rTRC", len(padded), size + len(SECRET))
    data[len(padded) :] = padded[rtrc_offset : rtrc_offset + size] + SECRET
    data[:4] = struct.pack(">I", len(data))
    crafted = encoded(noise((64, 48)), "PNG", icc_profile=bytes(data))
    result = clean_image(crafted)
    kept = open_bytes(result.data).info["icc_profile"]
    assert SECRET not in kept and same_colours(kept, srgb_profile())


def test_jpeg_scan_after_a_complete_sequential_frame_is_dropped() -> None:
    original = encoded(noise((64, 48)), "JPEG", quality=90)
    assert original.count(b"\xff\xda") == 1  # baseline: one scan codes every component
    sos_at = original.index(b"\xff\xda")
    sos = original[sos_at : sos_at + 2 + int.from_bytes(original[sos_at + 2 : sos_at + 4], "big")]
    crafted = original[:-2] + sos + SECRET + b"\xff\xd9"
    result = clean_image(crafted)
    assert SECRET not in result.data
    assert "unrecognised data" in result.removed
    assert open_bytes(result.data).tobytes() == open_bytes(original).tobytes()


def test_webp_iccp_reduced_and_flag_kept() -> None:
    crafted_profile = profile_with_private_tag(srgb_profile(), SECRET)
    crafted = encoded(noise((32, 32)), "WEBP", icc_profile=crafted_profile, lossless=True)
    result = clean_image(crafted)
    assert SECRET not in result.data
    assert result.data[20] & 0x20  # VP8X still announces the (smaller) profile


def test_gif_icc_block_rebuilt_without_private_tag() -> None:
    """Pillow neither reads nor writes GIF profiles: the block is checked as bytes."""
    crafted = with_icc("GIF", noise((60, 40)), profile_with_private_tag(srgb_profile(), SECRET))
    assert SECRET in crafted
    result = clean_image(crafted)
    assert SECRET not in result.data and b"ICCRGBG1012" in result.data
    assert open_bytes(result.data).tobytes() == open_bytes(crafted).tobytes()
    for variant in make_variants(result.data, "GIF", {"small": 30}):
        assert SECRET not in variant.data


def test_pixel_limit_is_a_parameter_with_a_clear_message_and_webp_counts_four_times() -> None:
    png = encoded(Image.new("RGB", (100, 100)), "PNG")
    webp = encoded(Image.new("RGB", (100, 100)), "WEBP")
    assert clean_image(png, max_pixels=10_000).width == 100
    with pytest.raises(BadImage, match=r"100 x 100 pixels .* limit for PNG images is 0.0"):
        clean_image(png, max_pixels=9_999)
    with pytest.raises(BadImage, match="limit for WebP images"):
        clean_image(webp, max_pixels=39_999)
    assert clean_image(webp, max_pixels=40_000).width == 100
    with pytest.raises(BadImage, match="too large"):
        make_variants(png, "PNG", max_pixels=9_999)
