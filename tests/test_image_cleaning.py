"""The pure image cleaners, on real camera photos and on synthetic files (no Redis, no Flask)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from processing.images import (
    BadImage,
    UnsupportedImage,
    clean_image,
    make_variants,
    sniff_format,
)

SAMPLES = Path(__file__).parent / "fixtures" / "exif-samples"
PHOTOS = sorted(SAMPLES.rglob("*.jpg"))
ORIENTED = sorted((SAMPLES / "orientation").glob("*.jpg"))
GPS_PHOTOS = sorted((SAMPLES / "gps").glob("*.jpg"))
METADATA_MARKERS = (b"http://ns.adobe.com/xap/", b"Photoshop 3.0", b"8BIM", b"MPF\x00")


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


def upright(data: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        turned = ImageOps.exif_transpose(image)
        return turned.size, turned.convert("RGB").tobytes()


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every header segment before the first scan."""
    found, pos = [], 2
    while data[pos + 1] != 0xDA:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        found.append((marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
    return found


def assert_clean_jpeg(data: bytes) -> None:
    segments = jpeg_segments(data)
    assert not any(m == 0xFE for m, _ in segments), "a COM segment survived"
    assert not any(m == 0xED for m, _ in segments), "an APP13 (IPTC) segment survived"
    for marker in METADATA_MARKERS:
        assert marker not in data
    assert data.endswith(b"\xff\xd9"), "bytes after EOI survived"
    exif = Image.open(io.BytesIO(data)).getexif()
    assert set(exif) <= {0x0112}, f"Exif tags besides Orientation: {set(exif)}"
    if b"Exif\x00\x00" in data:
        assert len(exif) == 1
    assert not exif.get_ifd(0x8825)


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_real_photos_lose_metadata_but_not_pixels(photo):
    original = photo.read_bytes()
    result = clean_image(original)
    assert result.format == "JPEG" and result.mime_type == "image/jpeg"
    assert_clean_jpeg(result.data)
    assert pixels(result.data) == pixels(original)
    icc = Image.open(io.BytesIO(original)).info.get("icc_profile")
    assert Image.open(io.BytesIO(result.data)).info.get("icc_profile") == icc
    if photo.stem.endswith("_1") or photo.parent.name != "orientation":
        assert b"Exif\x00\x00" not in result.data


@pytest.mark.parametrize("photo", GPS_PHOTOS + [SAMPLES / "Canon_40D.jpg"], ids=lambda p: p.name)
def test_report_names_what_was_removed(photo):
    removed = clean_image(photo.read_bytes()).removed
    assert "GPS position" in removed
    assert "camera make and model" in removed
    assert "date taken" in removed
    assert len(removed) == len(set(removed))


def test_report_names_comment_and_xmp():
    removed = clean_image((SAMPLES / "Nikon_D70.jpg").read_bytes()).removed
    assert {"comment", "XMP", "embedded thumbnail"} <= set(removed)


def test_report_names_iptc():
    assert "IPTC" in clean_image((SAMPLES / "orientation" / "landscape_1.jpg").read_bytes()).removed


@pytest.mark.parametrize("photo", ORIENTED, ids=lambda p: p.name)
def test_all_orientations_stay_upright(photo):
    original = photo.read_bytes()
    result = clean_image(original)
    size, upright_pixels = upright(result.data)
    assert (size, upright_pixels) == upright(original)
    assert (result.width, result.height) == size
    assert len(ORIENTED) == 16


def test_trailing_bytes_and_secondary_pictures_are_dropped():
    original = (SAMPLES / "gps" / "DSCN0010.jpg").read_bytes()
    result = clean_image(original + b"\xff\xd8 a second picture \xff\xd9 secret")
    assert result.data.endswith(b"\xff\xd9") and b"secret" not in result.data
    assert "data after the end of the image" in result.removed


def test_progressive_jpeg_is_kept_whole():
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Cam"
    Image.effect_noise((300, 200), 40).convert("RGB").save(
        out, "JPEG", progressive=True, exif=exif, comment=b"hello")
    result = clean_image(out.getvalue())
    assert_clean_jpeg(result.data)
    assert pixels(result.data) == pixels(out.getvalue())


# --- synthetic PNG, WebP, GIF -----------------------------------------------------------

def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_metadata(orientation: int = 1) -> bytes:
    image = Image.effect_noise((40, 30), 50).convert("RGB")
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretCam"
    exif.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    info.add_text("Comment", "zipped secret", zip=True)
    image.save(out, "PNG", pnginfo=info, exif=exif, icc_profile=b"\0" * 0)
    data = out.getvalue()
    iend = data.rindex(b"IEND") - 4
    data = data[:iend] + chunk(b"tIME", b"\x07\xe9\x01\x02\x03\x04\x05") + data[iend:]
    return data + b"trailing secret"


def test_png_metadata_removed_pixels_kept():
    original = png_with_metadata()
    result = clean_image(original)
    for marker in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"secret", b"Jane"):
        assert marker not in result.data
    assert result.data.endswith(b"IEND\xaeB`\x82")
    assert pixels(result.data) == pixels(original)
    assert {"GPS position", "XMP", "text chunks", "date and time",
            "data after the end of the image"} <= set(result.removed)


def test_png_orientation_kept_alone():
    original = png_with_metadata(orientation=6)
    result = clean_image(original)
    exif = Image.open(io.BytesIO(result.data)).getexif()
    assert dict(exif) == {0x0112: 6}
    assert upright(result.data) == upright(original)
    assert (result.width, result.height) == (30, 40)


def test_png_bad_checksum_is_refused():
    data = bytearray(png_with_metadata())
    data[30] ^= 0xFF  # inside IHDR
    with pytest.raises(BadImage, match="checksum"):
        clean_image(bytes(data))


def webp_with_metadata() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    Image.effect_noise((40, 30), 50).convert("RGB").save(
        out, "WEBP", lossless=True, exif=exif, xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    return out.getvalue()


def test_webp_metadata_removed_and_header_fixed():
    original = webp_with_metadata()
    assert b"EXIF" in original and b"XMP " in original
    result = clean_image(original)
    assert b"EXIF" not in result.data and b"XMP " not in result.data
    assert b"secret" not in result.data
    assert int.from_bytes(result.data[4:8], "little") == len(result.data) - 8
    vp8x_flags = result.data[20]
    assert vp8x_flags & 0x0C == 0
    assert pixels(result.data) == pixels(original)
    assert {"camera make and model", "XMP"} <= set(result.removed)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 10), (i * 80, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=100,
                   comment=b"secret comment")
    data = out.getvalue()
    app = b"\x21\xff\x0bXMP DataXMP" + b"\x06secret" + b"\x00"
    at = data.index(b"\x21\xf9")
    return data[:at] + app + data[at:] + b"after"


def test_gif_comments_go_animation_stays():
    original = animated_gif()
    result = clean_image(original)
    assert b"secret" not in result.data and not result.data.endswith(b"after")
    assert b"NETSCAPE2.0" in result.data
    cleaned = Image.open(io.BytesIO(result.data))
    assert cleaned.n_frames == 3
    assert cleaned.info.get("loop") == 0
    assert "comment" not in cleaned.info
    source = Image.open(io.BytesIO(original))
    for i in range(3):
        source.seek(i)
        cleaned.seek(i)
        assert cleaned.convert("RGB").tobytes() == source.convert("RGB").tobytes()
    assert {"comment", "XMP", "data after the end of the image"} <= set(result.removed)


# --- detection and refusal --------------------------------------------------------------

@pytest.mark.parametrize("data, fmt", [
    ((SAMPLES / "Canon_40D.jpg").read_bytes(), "JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "PNG"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"),
    (b"GIF89a" + b"\0" * 10, "GIF"),
])
def test_sniff_format_reads_content(data, fmt):
    assert sniff_format(data) == fmt


@pytest.mark.parametrize("data", [
    b"", b"%PDF-1.7", b"%!PS-Adobe-3.0 EPSF-3.0", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"BM" + b"\0" * 50, b"II*\x00" + b"\0" * 20, b"\0\0\0\x18ftypheic",
])
def test_other_formats_are_unsupported(data):
    with pytest.raises(UnsupportedImage, match="JPEG, PNG, WebP or GIF"):
        clean_image(data)


def test_decompression_bomb_is_refused():
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(BadImage, match="too large"):
        clean_image(bomb)


@pytest.mark.parametrize("cut", [10, 100, 1000, 20000, -10, -2])
def test_truncated_jpeg_is_refused(cut):
    with pytest.raises(BadImage):
        clean_image((SAMPLES / "gps" / "DSCN0010.jpg").read_bytes()[:cut])


def test_garbage_after_header_is_refused():
    with pytest.raises(BadImage):
        clean_image(b"\xff\xd8\xff\xe0" + b"\x12" * 5000)


# --- variants ---------------------------------------------------------------------------

def test_variants_are_upright_small_and_clean():
    photo = (SAMPLES / "orientation" / "portrait_6.jpg").read_bytes()
    clean = clean_image(photo)
    variants = make_variants(clean.data, "JPEG", {"web": 300, "thumb": 100})
    assert [v.name for v in variants] == ["web", "thumb"]
    for variant in variants:
        with Image.open(io.BytesIO(variant.data)) as image:
            assert max(image.size) <= {"web": 300, "thumb": 100}[variant.name]
            assert image.size == (variant.width, variant.height)
            assert not image.getexif()
            assert image.height > image.width  # upright portrait
        assert b"Exif\x00\x00" not in variant.data


def test_variants_never_enlarge():
    clean = clean_image((SAMPLES / "Canon_40D.jpg").read_bytes())
    assert all((v.width, v.height) == (100, 68) for v in make_variants(clean.data, "JPEG"))


def test_animated_gif_variants_keep_animation():
    clean = clean_image(animated_gif())
    variants = make_variants(clean.data, "GIF")
    assert all(Image.open(io.BytesIO(v.data)).n_frames == 3 for v in variants)


def test_corrupt_pixel_data_is_refused():
    """Valid chunk structure and checksums, but the compressed pixels are garbage."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib at all")
           + chunk(b"IEND", b""))
    with pytest.raises(BadImage, match="corrupt"):
        clean_image(png)
    with pytest.raises(BadImage, match="could not be decoded"):
        make_variants(png, "PNG")


# --- fuzzing ----------------------------------------------------------------------------

SEEDS = [(SAMPLES / "Nikon_D70.jpg").read_bytes(), png_with_metadata(), webp_with_metadata(),
         animated_gif()]


def check_outcome(data: bytes) -> None:
    """Either a valid image without the metadata, or a clear refusal; nothing else."""
    try:
        result = clean_image(data)
    except (BadImage, UnsupportedImage) as error:
        assert str(error)
        return
    assert b"SecretCam" not in result.data and b"secret" not in result.data
    for marker in METADATA_MARKERS:
        assert marker not in result.data
    assert result.format == sniff_format(result.data)


fuzz = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_fuzz_truncations(seed, data):
    check_outcome(seed[: data.draw(st.integers(0, len(seed)))])


@fuzz
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_fuzz_mutations(seed, data):
    mutated = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(seed) - 1))] = data.draw(st.integers(0, 255))
    check_outcome(bytes(mutated))
