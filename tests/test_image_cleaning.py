"""processing.images: lossless metadata removal and variants (pure: no Redis, no Flask).

Real camera photos (tests/fixtures/exif-samples, see its README) plus synthetic JPEG,
PNG, WebP and GIF files built here with Pillow and by hand.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps, ImageSequence, PngImagePlugin

from processing.images import (
    ACCEPTED_FORMATS,
    BadImage,
    CleanResult,
    UnsupportedImage,
    Variant,
    clean_image,
    make_variants,
    sniff_format,
)
from processing.images.icc import colour_profile

SAMPLES = Path(__file__).parent / "fixtures" / "exif-samples"
PHOTOS = sorted(SAMPLES.rglob("*.jpg"))
ORIENTED = sorted((SAMPLES / "orientation").glob("*.jpg"))
GPS_PHOTOS = sorted((SAMPLES / "gps").glob("*.jpg"))
ICC = Image.open(SAMPLES / "Canon_40D.jpg").info["icc_profile"]


def kept_profile(icc: bytes | None) -> bytes | None:
    """The profile a cleaned file carries: the colour tags of the original (issue 9)."""
    return None if icc is None else colour_profile(icc)


METADATA_MARKERS = (
    b"http://ns.adobe.com/xap/",
    b"Photoshop 3.0",
    b"8BIM",
    b"MPF\x00",
    b"secret",
    b"SecretCam",
)
MINIMAL_EXIF_TAGS = {0x0112}


# --------------------------------------------------------------------------- helpers
def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of every segment, including those between progressive scans.

    Independent of the module's parser: slower, byte by byte, which is fine for tests.
    """
    assert data[:2] == b"\xff\xd8"
    pos = 2
    while True:
        assert data[pos] == 0xFF, f"no marker at {pos}"
        while data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:
            assert pos + 2 == len(data), "bytes after EOI"
            return
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker == 0xDA:  # skip entropy-coded data
            while not (data[pos] == 0xFF and data[pos + 1] not in (0, *range(0xD0, 0xD8))):
                pos += 1


def open_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def frames(data: bytes) -> list[tuple[tuple[int, int], str, bytes]]:
    with open_bytes(data) as image:
        return [(f.size, f.mode, f.tobytes()) for f in ImageSequence.Iterator(image)]


def upright(data: bytes) -> tuple[tuple[int, int], bytes]:
    with open_bytes(data) as image:
        turned = ImageOps.exif_transpose(image)
        return turned.size, turned.tobytes()


def assert_exif_minimal(image: Image.Image) -> None:
    """No Exif at all, or exactly one tag: an Orientation that turns the picture."""
    exif = image.getexif()
    assert set(exif) <= MINIMAL_EXIF_TAGS, f"Exif tags besides Orientation: {set(exif)}"
    assert not exif.get_ifd(0x8825) and not exif.get_ifd(0x8769)
    if exif:
        assert 2 <= exif[0x0112] <= 8


def assert_clean_jpeg(data: bytes) -> None:
    for marker, payload in jpeg_segments(data):
        assert marker != 0xFE, "a COM segment survived"
        if 0xE0 <= marker <= 0xEF:
            allowed = {
                0xE0: b"JFIF\x00",
                0xE1: b"Exif\x00\x00",
                0xE2: b"ICC_PROFILE\x00",
                0xEE: b"Adobe",
            }.get(marker)
            assert allowed and payload.startswith(allowed), f"APP{marker - 0xE0} survived"
            if marker == 0xE1:
                assert len(payload) == 6 + 26, "Exif is not the orientation-only block"
            if marker == 0xE0:
                assert payload[12:14] == b"\x00\x00", "JFIF thumbnail survived"
    for marker in METADATA_MARKERS:
        assert marker not in data
    with open_bytes(data) as image:
        assert_exif_minimal(image)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    found, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        found.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    assert pos == len(data)
    return found


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def noise(size: tuple[int, int], mode: str = "RGB", salt: int = 0) -> Image.Image:
    """Deterministic noise (Image.effect_noise is not seedable), so runs are reproducible."""
    width, height = size
    rng = random.Random(width * 100003 + height * 7 + salt)
    if mode == "RGBA":  # varying alpha, so encoders keep an alpha channel
        return Image.frombytes("RGBA", size, rng.randbytes(width * height * 4))
    image = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    return image if mode == "RGB" else image.convert(mode)


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110], exif[0x0131] = "SecretCam", "Model secret", "Editor secret"
    exif[0x0132] = "2026:01:02 03:04:05"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    exif.get_ifd(0x8769).update({0x9003: "2026:01:02 03:04:05", 0xA431: "SN-secret-1234"})
    return exif


XMP_PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="secret tool"/>'
    b"</x:xmpmeta>"
)


# --------------------------------------------------------------------------- real photos
@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_real_photo_loses_metadata_keeps_pixels_and_icc(photo: Path) -> None:
    original = photo.read_bytes()
    result = clean_image(original)
    assert isinstance(result, CleanResult)
    assert (result.format, result.mime_type) == ("JPEG", "image/jpeg")
    assert_clean_jpeg(result.data)
    with open_bytes(original) as before, open_bytes(result.data) as after:
        assert after.tobytes() == before.tobytes()
        assert after.info.get("icc_profile") == kept_profile(before.info.get("icc_profile"))
    if photo.stem.endswith("_1") or photo.parent.name != "orientation":
        assert b"Exif\x00\x00" not in result.data
    assert "ICC profile" not in result.removed
    assert len(result.removed) == len(set(result.removed))


@pytest.mark.parametrize("photo", GPS_PHOTOS, ids=lambda p: p.name)
def test_report_for_gps_photos(photo: Path) -> None:
    removed = clean_image(photo.read_bytes()).removed
    assert {
        "GPS position",
        "camera make and model",
        "date taken",
        "maker notes",
        "editing software",
        "embedded thumbnail",
        "XMP",
    } <= set(removed)


def test_report_for_other_cameras() -> None:
    canon = clean_image((SAMPLES / "Canon_40D.jpg").read_bytes()).removed
    # Its GPS block holds only a version number, not a position: say so precisely.
    assert "GPS data" in canon and "GPS position" not in canon
    assert {"camera make and model", "date taken", "embedded thumbnail"} <= set(canon)
    nikon = clean_image((SAMPLES / "Nikon_D70.jpg").read_bytes()).removed
    assert {"comment", "XMP", "embedded thumbnail", "camera make and model"} <= set(nikon)
    edited = clean_image((SAMPLES / "orientation" / "landscape_1.jpg").read_bytes()).removed
    assert {"IPTC", "XMP", "editing software"} <= set(edited)


def test_report_order_is_stable() -> None:
    data = (SAMPLES / "gps" / "DSCN0010.jpg").read_bytes()
    assert clean_image(data).removed == clean_image(data).removed
    assert clean_image(data).removed[0] == "GPS position"


@pytest.mark.parametrize("photo", ORIENTED, ids=lambda p: p.name)
def test_every_orientation_stays_upright(photo: Path) -> None:
    assert len(ORIENTED) == 16
    original = photo.read_bytes()
    result = clean_image(original)
    size, pixels = upright(result.data)
    assert (size, pixels) == upright(original)
    assert (result.width, result.height) == size
    assert ("landscape" in photo.name) == (size[0] > size[1])


# --------------------------------------------------------------------------- synthetic JPEG
def progressive_jpeg_with_everything(orientation: int = 1) -> bytes:
    out = io.BytesIO()
    noise((320, 240)).save(
        out,
        "JPEG",
        progressive=True,
        restart_marker_blocks=4,
        exif=camera_exif(orientation),
        icc_profile=ICC,
        comment=b"secret comment",
        xmp=XMP_PACKET,
    )
    data = out.getvalue()
    first_sos = data.index(b"\xff\xda")
    second_sos = data.index(b"\xff\xda", first_sos + 2)  # 0xFFDA never occurs in scan data
    between = segment(0xFE, b"secret between scans") + segment(
        0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_PACKET
    )
    head = (
        segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x06secret")
        + segment(0xE2, b"MPF\x00II*\x00secret")
        + segment(0xEC, b"Ducky\x00secret")
    )
    data = data[:2] + head + data[2:second_sos] + between + data[second_sos:]
    return data + b"\xff\xd8 a second picture, secret \xff\xd9"


@pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file")
def test_progressive_jpeg_with_restarts_and_segments_between_scans() -> None:
    original = progressive_jpeg_with_everything()
    assert original.count(b"\xff\xda") > 2 and b"\xff\xd0" in original
    result = clean_image(original)
    assert_clean_jpeg(result.data)
    with open_bytes(original) as before, open_bytes(result.data) as after:
        assert after.tobytes() == before.tobytes()
        assert after.info["icc_profile"] == kept_profile(ICC)
        assert after.info.get("progressive")
    assert {
        "GPS position",
        "camera make and model",
        "camera serial number",
        "date taken",
        "editing software",
        "comment",
        "XMP",
        "IPTC",
        "multi-picture data",
        "trailing data",
    } <= set(result.removed)


def test_synthetic_orientation_block_is_exactly_one_tag() -> None:
    result = clean_image(progressive_jpeg_with_everything(orientation=6))
    app1 = [p for m, p in jpeg_segments(result.data) if m == 0xE1]
    assert app1 == [
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01"
        b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
    ]
    assert (result.width, result.height) == (240, 320)


def test_xmp_only_orientation_becomes_minimal_exif() -> None:
    """Pillow (and so the README's definition of upright) falls back to XMP's orientation."""
    out = io.BytesIO()
    noise((60, 40)).save(out, "JPEG", xmp=b'<x:xmpmeta tiff:Orientation="8" secret/>')
    original = out.getvalue()
    result = clean_image(original)
    assert_clean_jpeg(result.data)
    assert upright(result.data) == upright(original)
    assert (result.width, result.height) == (40, 60)


def test_cmyk_adobe_and_jfif_thumbnail() -> None:
    out = io.BytesIO()
    noise((64, 48), "CMYK").save(out, "JPEG", quality=90)
    cmyk = out.getvalue()
    assert b"Adobe" in cmyk
    result = clean_image(cmyk)
    assert b"Adobe" in result.data  # libjpeg needs the colour transform flag
    assert open_bytes(result.data).tobytes() == open_bytes(cmyk).tobytes()

    out = io.BytesIO()
    noise((64, 48)).save(out, "JPEG")
    plain = out.getvalue()
    app0_end = 4 + int.from_bytes(plain[4:6], "big")
    thumbnail = bytes(range(2 * 2 * 3))
    jfif = segment(0xE0, b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x02" + thumbnail)
    result = clean_image(plain[:2] + jfif + plain[app0_end:])
    assert_clean_jpeg(result.data)
    assert "embedded thumbnail" in result.removed
    assert open_bytes(result.data).info["dpi"] == (72, 72)


def test_damaged_icc_profile_is_dropped_not_fatal() -> None:
    out = io.BytesIO()
    noise((64, 48)).save(out, "JPEG", icc_profile=ICC)
    data = out.getvalue()
    at = data.index(b"ICC_PROFILE\x00") + 14
    broken = data[:at] + b"\x7f\x00\x00\x00" + data[at + 4 :]  # declared size now wrong
    result = clean_image(broken)
    assert b"ICC_PROFILE" not in result.data
    assert "damaged colour profile" in result.removed
    assert open_bytes(result.data).tobytes() == open_bytes(data).tobytes()


def test_table_with_smuggled_bytes_is_refused() -> None:
    out = io.BytesIO()
    noise((32, 32)).save(out, "JPEG")
    data = out.getvalue()
    at = data.index(b"\xff\xdb")
    length = int.from_bytes(data[at + 2 : at + 4], "big")
    payload = data[at + 4 : at + 2 + length] + b"secret"
    with pytest.raises(BadImage):
        clean_image(data[:at] + segment(0xDB, payload) + data[at + 2 + length :])


def test_jpeg_speed_sanity() -> None:
    """Cleaning must not decode: a 3000x2000 JPEG cleans far faster than Pillow decodes it."""
    import time

    out = io.BytesIO()
    noise((300, 200)).resize((3000, 2000)).save(out, "JPEG", exif=camera_exif())
    data = out.getvalue()
    start = time.perf_counter()
    clean_image(data)
    cleaning = time.perf_counter() - start
    start = time.perf_counter()
    open_bytes(data).load()
    assert cleaning < time.perf_counter() - start


# --------------------------------------------------------------------------- synthetic PNG
def png_with_metadata(orientation: int = 1, mode: str = "RGB") -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane secret")
    info.add_text("Comment", "zipped secret", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode())
    out = io.BytesIO()
    noise((40, 30), mode).save(
        out, "PNG", pnginfo=info, exif=camera_exif(orientation), icc_profile=ICC
    )
    data = out.getvalue()
    iend = data.rindex(b"IEND") - 4
    data = data[:iend] + chunk(b"tIME", b"\x07\xea\x01\x02\x03\x04\x05") + data[iend:]
    return data + b"trailing secret"


def test_png_metadata_removed_pixels_and_icc_kept() -> None:
    original = png_with_metadata()
    result = clean_image(original)
    kinds = [kind for kind, _ in png_chunks(result.data)]
    assert not {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"} & set(kinds)
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"iCCP" in kinds
    for marker in METADATA_MARKERS:
        assert marker not in result.data
    with open_bytes(original) as before, open_bytes(result.data) as after:
        assert after.tobytes() == before.tobytes()
        assert after.info["icc_profile"] == kept_profile(ICC)
    assert (result.format, result.mime_type, result.width, result.height) == (
        "PNG",
        "image/png",
        40,
        30,
    )
    assert {
        "GPS position",
        "camera make and model",
        "camera serial number",
        "XMP",
        "text chunks",
        "author and copyright",
        "comment",
        "modification time",
        "trailing data",
    } <= set(result.removed)


def test_png_orientation_kept_alone() -> None:
    original = png_with_metadata(orientation=6)
    result = clean_image(original)
    exifs = [body for kind, body in png_chunks(result.data) if kind == b"eXIf"]
    assert len(exifs) == 1 and len(exifs[0]) == 26
    with open_bytes(result.data) as image:
        assert dict(image.getexif()) == {0x0112: 6}
    assert upright(result.data) == upright(original)
    assert (result.width, result.height) == (30, 40)


def test_apng_frames_kept() -> None:
    images = [noise((24, 16), "RGBA", salt) for salt in range(3)]
    out = io.BytesIO()
    images[0].save(out, "PNG", save_all=True, append_images=images[1:], duration=50, loop=3)
    original = out.getvalue() + b"tail"
    result = clean_image(original)
    assert frames(result.data) == frames(original)
    assert len(frames(original)) == 3
    assert open_bytes(result.data).info["loop"] == 3


def test_png_bad_crc_is_refused() -> None:
    data = bytearray(png_with_metadata())
    data[20] ^= 0x01  # inside IHDR's width
    with pytest.raises(BadImage, match="checksum"):
        clean_image(bytes(data))


def test_png_corrupt_pixel_data_is_refused() -> None:
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"not zlib at all")
        + chunk(b"IEND", b"")
    )
    with pytest.raises(BadImage):
        clean_image(png)
    with pytest.raises(BadImage):
        make_variants(png, "PNG")


def test_png_unknown_critical_chunk_is_refused() -> None:
    data = png_with_metadata()
    at = data.index(b"IDAT") - 4
    with pytest.raises(BadImage):
        clean_image(data[:at] + chunk(b"ZZZZ", b"x") + data[at:])


def decompression_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """About 50 KB declaring 400 megapixels of zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * ((width // 8 + 1) * 2000), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000)])
def test_decompression_bomb_is_refused(size: tuple[int, int]) -> None:
    # 400 MP: Pillow's error; 100 MP: over MAX_IMAGE_PIXELS, only a warning made an error.
    assert Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(BadImage, match="too large"):
        clean_image(decompression_bomb(*size))


def test_jpeg_declaring_huge_size_is_refused() -> None:
    out = io.BytesIO()
    noise((16, 16)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    with pytest.raises(BadImage, match="too large"):
        clean_image(bytes(data))


# --------------------------------------------------------------------------- synthetic WebP
def webp_with_metadata(orientation: int = 1, animated: bool = False) -> bytes:
    out = io.BytesIO()
    images = [noise((40, 30), "RGBA", salt) for salt in range(3 if animated else 1)]
    images[0].save(
        out,
        "WEBP",
        lossless=True,
        exif=camera_exif(orientation),
        xmp=XMP_PACKET,
        icc_profile=ICC,
        save_all=animated,
        append_images=images[1:],
        duration=80,
    )
    return out.getvalue() + b"trailing secret"


def riff_chunks(data: bytes) -> list[bytes]:
    found, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        found.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return found


def test_webp_metadata_removed_header_fixed() -> None:
    original = webp_with_metadata()
    assert b"EXIF" in original and b"XMP " in original
    result = clean_image(original)
    assert riff_chunks(result.data) == [b"VP8X", b"ICCP", b"VP8L"]
    assert int.from_bytes(result.data[4:8], "little") == len(result.data) - 8
    assert result.data[20] & 0x0C == 0  # EXIF and XMP flags cleared, ICC/alpha kept
    assert result.data[20] & 0x30 == 0x30
    for marker in METADATA_MARKERS:
        assert marker not in result.data
    assert frames(result.data) == frames(original)
    assert open_bytes(result.data).info["icc_profile"] == kept_profile(ICC)
    assert {
        "GPS position",
        "camera make and model",
        "XMP",
        "editing software",
        "trailing data",
    } <= set(result.removed)


def test_webp_orientation_kept_alone() -> None:
    original = webp_with_metadata(orientation=3)
    result = clean_image(original)
    assert riff_chunks(result.data)[-1] == b"EXIF" and result.data[20] & 0x08
    with open_bytes(result.data) as image:
        assert_exif_minimal(image)
        assert dict(image.getexif()) == {0x0112: 3}
    assert upright(result.data) == upright(original)


def test_animated_webp_frames_kept() -> None:
    original = webp_with_metadata(animated=True)
    result = clean_image(original)
    assert b"EXIF" not in result.data and b"XMP " not in result.data
    assert frames(result.data) == frames(original)
    assert len(frames(result.data)) == 3


# --------------------------------------------------------------------------- synthetic GIF
def animated_gif(size: tuple[int, int] = (20, 10)) -> bytes:
    images = [Image.new("RGB", size, (i * 80, 40, 200 - i * 60)) for i in range(3)]
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        loop=2,
        duration=[100, 200, 300],
        comment=b"secret comment",
    )
    data = out.getvalue()
    extras = (
        b"\x21\xff\x0bXMP DataXMP\x06secret\x00"
        b"\x21\xff\x0bACMEAPP1.00\x06secret\x00"
        b"\x21\x01\x0c" + bytes(12) + b"\x06secret\x00"
    )  # plain text extension
    at = data.index(b"\x21\xf9")
    return data[:at] + extras + data[at:] + b"after secret"


def test_gif_metadata_removed_animation_kept() -> None:
    original = animated_gif()
    result = clean_image(original)
    for marker in METADATA_MARKERS:
        assert marker not in result.data
    assert result.data.endswith(b";") and b"NETSCAPE2.0" in result.data
    with open_bytes(result.data) as cleaned, open_bytes(original) as source:
        assert cleaned.n_frames == source.n_frames == 3
        assert cleaned.info["loop"] == 2 and "comment" not in cleaned.info
        for index in range(3):
            source.seek(index)
            cleaned.seek(index)
            assert cleaned.info["duration"] == source.info["duration"]
            assert cleaned.convert("RGB").tobytes() == source.convert("RGB").tobytes()
    assert (result.width, result.height, result.mime_type) == (20, 10, "image/gif")
    assert {"comment", "XMP", "other application data", "embedded text", "trailing data"} <= set(
        result.removed
    )


# --------------------------------------------------------------------------- sniffing
SAMPLE_BY_FORMAT = {
    "JPEG": (SAMPLES / "Canon_40D.jpg").read_bytes(),
    "PNG": png_with_metadata(),
    "WEBP": webp_with_metadata(),
    "GIF": animated_gif(),
}


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_sniff_format_reads_content(fmt: str) -> None:
    assert sniff_format(SAMPLE_BY_FORMAT[fmt]) == fmt
    assert clean_image(SAMPLE_BY_FORMAT[fmt]).format == fmt  # a file's name never matters


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF-1.7\n%secret",
        b"%!PS-Adobe-3.0 EPSF-3.0\n",
        b"\xc5\xd0\xd3\xc6" + bytes(30),
        b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>",
        b"  <svg onload='alert(1)'/>",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
        b"II*\x00" + bytes(20),
        b"BM" + bytes(50),
        b"RIFF\x10\x00\x00\x00AVI LIST",
        b"GIF8",
        b"hello, I am text",
    ],
    ids=[
        "empty",
        "pdf",
        "eps",
        "eps-binary",
        "svg",
        "svg-bare",
        "heic",
        "tiff",
        "bmp",
        "avi",
        "gif-stub",
        "text",
    ],
)
def test_other_content_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage) as error:
        sniff_format(data)
    assert str(error.value)
    with pytest.raises(UnsupportedImage):
        clean_image(data)


def test_unsupported_messages_are_helpful() -> None:
    with pytest.raises(UnsupportedImage, match="PDF.*JPEG, PNG, WebP or GIF"):
        clean_image(b"%PDF-1.4")
    with pytest.raises(UnsupportedImage, match="HEIC"):
        clean_image(b"\x00\x00\x00\x18ftypheic")
    with pytest.raises(UnsupportedImage, match="empty"):
        clean_image(b"")


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
@pytest.mark.parametrize("keep", [0.02, 0.3, 0.7, 0.99])
def test_truncated_files_are_refused(fmt: str, keep: float) -> None:
    data = SAMPLE_BY_FORMAT[fmt]
    data = data[
        : data.rindex(
            {"JPEG": b"\xff\xd9", "PNG": b"IEND", "WEBP": b"trailing", "GIF": b";after"}[fmt]
        )
    ]
    with pytest.raises(BadImage):
        clean_image(data[: max(12, int(len(data) * keep))])


@pytest.mark.parametrize(
    "header",
    [
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a\x10\x00\x10\x00\x00\x00\x00",
        b"RIFF\x00\x10\x00\x00WEBPVP8X",
    ],
    ids=["jpeg", "png", "gif", "webp"],
)
def test_garbage_after_a_valid_header_is_refused(header: bytes) -> None:
    garbage = bytes((i * 7 + 3) % 251 for i in range(4000)).replace(b"\xff", b"\x12")
    with pytest.raises(BadImage):
        clean_image(header + garbage)


# --------------------------------------------------------------------------- variants
def test_variants_upright_sized_and_clean() -> None:
    clean = clean_image((SAMPLES / "orientation" / "portrait_6.jpg").read_bytes())
    variants = make_variants(clean.data, clean.format, {"web": 300, "thumb": 100})
    assert [v.name for v in variants] == ["web", "thumb"]
    for variant in variants:
        assert isinstance(variant, Variant) and variant.mime_type == "image/jpeg"
        assert_clean_jpeg(variant.data)
        assert b"Exif" not in variant.data
        with open_bytes(variant.data) as image:
            assert image.size == (variant.width, variant.height)
            assert max(image.size) == {"web": 300, "thumb": 100}[variant.name]
            assert image.height > image.width  # upright portrait
            assert image.info.get("progressive")
            assert image.info["icc_profile"] == open_bytes(clean.data).info["icc_profile"]


def test_variants_use_jpeg_draft_and_exact_sizes() -> None:
    out = io.BytesIO()
    noise((200, 150)).resize((2000, 1500)).save(out, "JPEG", exif=camera_exif(6))
    clean = clean_image(out.getvalue())
    assert (clean.width, clean.height) == (1500, 2000)
    web, thumb = make_variants(clean.data, "JPEG", {"web": 900, "thumb": 200})
    assert (web.width, web.height, thumb.width, thumb.height) == (675, 900, 150, 200)


def test_variants_never_enlarge_and_have_defaults() -> None:
    clean = clean_image((SAMPLES / "Canon_40D.jpg").read_bytes())
    variants = make_variants(clean.data, "JPEG")
    assert [(v.name, v.width, v.height) for v in variants] == [("web", 100, 68), ("thumb", 100, 68)]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_variants_keep_alpha_and_drop_metadata(fmt: str) -> None:
    source = png_with_metadata(mode="RGBA") if fmt == "PNG" else webp_with_metadata()
    clean = clean_image(source)
    for variant in make_variants(clean.data, fmt, {"small": 20}):
        assert variant.mime_type == f"image/{fmt.lower()}"
        assert (variant.width, variant.height) == (20, 15)
        for marker in (*METADATA_MARKERS, b"eXIf", b"tEXt", b"iTXt", b"EXIF", b"XMP "):
            assert marker not in variant.data
        with open_bytes(variant.data) as image:
            assert image.mode == "RGBA" and not image.getexif()
            assert image.info["icc_profile"] == kept_profile(ICC)


def test_gif_variants() -> None:
    clean = clean_image(animated_gif((300, 100)))
    fits, shrunk = make_variants(clean.data, "GIF", {"web": 300, "thumb": 60})
    assert fits.data == clean.data and fits.mime_type == "image/gif"  # animation reused
    assert open_bytes(fits.data).n_frames == 3
    # Same format as the original, so every variant of an image shares its extension.
    assert (shrunk.width, shrunk.height, shrunk.mime_type) == (60, 20, "image/gif")
    with open_bytes(shrunk.data) as image:  # first frame, still
        assert image.size == (60, 20) and not getattr(image, "is_animated", False)

    still = io.BytesIO()
    Image.new("P", (50, 40), 3).save(still, "GIF", comment=b"secret")
    (variant,) = make_variants(clean_image(still.getvalue()).data, "GIF", {"web": 1600})
    assert variant.mime_type == "image/gif" and b"secret" not in variant.data


def test_variant_sizes_are_validated() -> None:
    clean = clean_image((SAMPLES / "Canon_40D.jpg").read_bytes())
    with pytest.raises(ValueError):
        make_variants(clean.data, "JPEG", {"web": 0})
    with pytest.raises(UnsupportedImage):
        make_variants(clean.data, "TIFF")


# --------------------------------------------------------------------------- fuzzing
SEEDS = [
    (SAMPLES / "Nikon_D70.jpg").read_bytes(),
    (SAMPLES / "orientation" / "landscape_1.jpg").read_bytes(),
    progressive_jpeg_with_everything(orientation=6),
    png_with_metadata(orientation=6),
    webp_with_metadata(orientation=3),
    webp_with_metadata(animated=True),
    animated_gif(),
]


def check_outcome(data: bytes) -> None:
    """Either a readable image with none of the metadata, or BadImage/UnsupportedImage."""
    try:
        result = clean_image(data)
    except (BadImage, UnsupportedImage) as error:
        assert str(error)
        return
    assert result.format == sniff_format(result.data)
    assert result.width > 0 and result.height > 0
    for marker in (*METADATA_MARKERS, b"Jane", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"XMP "):
        assert marker not in result.data
    with open_bytes(result.data) as image:
        assert_exif_minimal(image)
    if result.format == "JPEG":
        assert_clean_jpeg(result.data)


fuzz = settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@fuzz
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_fuzz_truncations(seed: bytes, data: st.DataObject) -> None:
    check_outcome(seed[: data.draw(st.integers(0, len(seed)))])


@fuzz
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_fuzz_mutations(seed: bytes, data: st.DataObject) -> None:
    mutated = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(seed) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    check_outcome(bytes(mutated))


@fuzz
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_fuzz_header_mutations(seed: bytes, data: st.DataObject) -> None:
    """Mutations concentrated on the first 600 bytes, where the structure lives."""
    mutated = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, min(600, len(seed)) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    check_outcome(bytes(mutated))
