"""GIF: keep frames, graphic controls, loop count and ICC; drop comments and the rest."""

from __future__ import annotations

from .formats import BadImage
from .labels import COMMENT, EMBEDDED_TEXT, OTHER_APP_DATA, TRAILING, UNRECOGNISED, XMP

_TRUNCATED_GIF = "The GIF file is truncated or damaged."


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    """Position just after the data sub-blocks starting at ``pos`` (size byte, 0 ends)."""
    size = len(data)
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_GIF)
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos


def _gif_loop_block(data: bytes, pos: int, end: int) -> bytes | None:
    """The NETSCAPE2.0 loop sub-block (0x01 + 2-byte count), rebuilt alone, if present."""
    while pos < end and data[pos]:
        length = data[pos]
        if length >= 3 and data[pos + 1] == 1:
            return b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + data[pos + 2 : pos + 4] + b"\x00"
        pos += 1 + length
    return None


def clean_gif(data: bytes) -> tuple[bytes, set[str], int]:
    """Keep frames, graphic controls, loop count and ICC; drop comments, other extensions."""
    mv = memoryview(data)
    size = len(data)
    labels: set[str] = set()
    if size < 13:
        raise BadImage(_TRUNCATED_GIF)
    packed = data[10]
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    kept: list[bytes | memoryview] = [mv[:pos]]
    frames = 0
    loop_kept = False
    while True:
        if pos >= size:
            raise BadImage(_TRUNCATED_GIF)
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            kept.append(b";")
            pos += 1
            break
        if introducer == 0x2C:  # image descriptor, optional local palette, LZW data
            if pos + 11 > size:
                raise BadImage(_TRUNCATED_GIF)
            local = data[pos + 9]
            start = pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            end = _gif_sub_blocks(data, start)
            kept.append(mv[pos:end])
            frames += 1
            pos = end
            continue
        if introducer != 0x21 or pos + 2 > size:
            raise BadImage(_TRUNCATED_GIF)
        label = data[pos + 1]
        end = _gif_sub_blocks(data, pos + 2)
        if label == 0xF9:  # graphic control: frame delay, disposal, transparency
            if data[pos + 2] >= 4:  # rebuilt from the 4 bytes decoders read, nothing else
                kept.append(b"\x21\xf9\x04" + data[pos + 3 : pos + 7] + b"\x00")
            else:
                labels.add(UNRECOGNISED)
        elif label == 0xFE:
            labels.add(COMMENT)
        elif label == 0x01:
            labels.add(EMBEDDED_TEXT)
        elif label == 0xFF:
            ident = data[pos + 3 : pos + 14] if data[pos + 2] == 11 else b""
            if ident == b"NETSCAPE2.0" and not loop_kept:
                loop = _gif_loop_block(data, pos + 14, end)
                if loop is not None:
                    kept.append(loop)
                    loop_kept = True
            elif ident == b"ICCRGBG1012":
                kept.append(mv[pos:end])
            elif ident == b"XMP DataXMP":
                labels.add(XMP)
            else:
                labels.add(OTHER_APP_DATA)
        else:
            labels.add(OTHER_APP_DATA)
        pos = end
    if frames == 0:
        raise BadImage(_TRUNCATED_GIF)
    if pos < size:
        labels.add(TRAILING)
    return b"".join(kept), labels, 1
