"""ICC colour profiles reduced to what colour management reads.

A profile is a container too: text tags (``desc``, ``cprt``, ``dmnd``, ``dmdd``), private
tags, header fields and bytes no tag points at can all carry text. :func:`colour_profile`
rebuilds a profile from the tags a colour management module uses to convert colours
(primaries, tone curves, white/black point, adaptation, lookup tables) with a zeroed
header except the fields that matter for conversion. Colours render the same.
"""

from __future__ import annotations

import struct

#: Profiles larger than this are refused (the biggest real-world printer profiles are ~4 MB).
ICC_LIMIT = 8 << 20

#: Tags a colour management module (lcms2, skia, qcms) reads to convert colours.
_COLOUR_TAGS = frozenset(
    {
        b"rXYZ",
        b"gXYZ",
        b"bXYZ",
        b"rTRC",
        b"gTRC",
        b"bTRC",
        b"kTRC",
        b"wtpt",
        b"bkpt",
        b"chad",
        b"chrm",
        b"cicp",
        b"A2B0",
        b"A2B1",
        b"A2B2",
        b"B2A0",
        b"B2A1",
        b"B2A2",
        b"D2B0",
        b"D2B1",
        b"D2B2",
        b"D2B3",
        b"B2D0",
        b"B2D1",
        b"B2D2",
        b"B2D3",
        b"gamt",
    }
)
#: Header bytes kept: size is rewritten; version, class, colour space, PCS, the 'acsp'
#: signature, rendering intent and PCS illuminant are what conversion reads. The rest
#: (CMM, date, platform, flags, maker, model, attributes, creator, ID, reserved) is zeroed.
_HEADER_KEPT = ((8, 24), (36, 40), (64, 80))
_PARA_PARAMS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}  # parametricCurveType: s15Fixed16 per function


def profile_size_ok(profile: bytes) -> bool:
    """Is this a profile whose declared size is exactly its length?"""
    return 132 <= len(profile) <= ICC_LIMIT and int.from_bytes(profile[:4], "big") == len(profile)


def _typed_length(data: bytes) -> int | None:
    """Exact length of tag data of a simple type; None for types not measured here
    (lookup tables, whose inner offsets are checked by the decoder)."""
    kind = data[:4]
    if kind == b"XYZ " and len(data) >= 20:
        return 8 + 12 * ((len(data) - 8) // 12)
    if kind == b"curv" and len(data) >= 12:
        return 12 + 2 * int.from_bytes(data[8:12], "big")
    if kind == b"para" and len(data) >= 12:
        params = _PARA_PARAMS.get(int.from_bytes(data[8:10], "big"))
        return None if params is None else 12 + 4 * params
    if kind == b"sf32":
        return 8 + 4 * ((len(data) - 8) // 4)
    return None


def _tag_data(profile: bytes, offset: int, size: int) -> bytes | None:
    if offset < 128 or size < 8 or offset + size > len(profile):
        return None
    data = profile[offset : offset + size]
    exact = _typed_length(data)
    if exact is None:
        return data
    return data[:exact] if exact <= size else None


def colour_profile(profile: bytes) -> bytes | None:
    """The profile rebuilt from its colour tags only; None if it is malformed or has none."""
    if not profile_size_ok(profile) or profile[36:40] != b"acsp":
        return None
    count = int.from_bytes(profile[128:132], "big")
    if 132 + 12 * count > len(profile):
        return None
    tags: list[tuple[bytes, bytes]] = []
    for index in range(count):
        sig, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
        if sig in _COLOUR_TAGS:
            data = _tag_data(profile, offset, size)
            if data is None:
                return None
            tags.append((sig, data))
    return _rebuild(profile, tags) if tags else None


def _rebuild(profile: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    header = bytearray(128)
    for start, stop in _HEADER_KEPT:
        header[start:stop] = profile[start:stop]
    table = bytearray(struct.pack(">I", len(tags)))
    body = bytearray()
    placed: dict[bytes, int] = {}  # tags sharing data (rTRC = gTRC = bTRC) share it again
    data_start = 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        if data not in placed:
            placed[data] = data_start + len(body)
            body += data + b"\x00" * (-len(data) % 4)
        table += struct.pack(">4sII", sig, placed[data], len(data))
    out = header + table + body
    out[:4] = struct.pack(">I", len(out))
    return bytes(out)
