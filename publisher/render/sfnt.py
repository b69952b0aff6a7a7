"""Just enough of the OpenType file format to know which characters a font draws and how heavy it is, read in
milliseconds: the table directory, the character map and the weight class. fontTools, which reads everything,
takes a tenth of a second on a CFF font (it parses the glyph names to build its map) and is kept for what this
does not read.

Reads the first font of a collection (``.ttc``), like the renderer. Raises ``ValueError`` for anything it does not
understand (the caller then asks fontTools).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

# The character maps to read, best first: Unicode full repertoire, then the Basic Multilingual Plane.
_PREFERRED = ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0))


def _tables(handle: BinaryIO) -> dict[bytes, tuple[int, int]]:
    """Each table's (offset, length), from the font's table directory."""
    start = 0
    tag = handle.read(4)
    if tag == b"ttcf":
        handle.seek(12)
        (start,) = struct.unpack(">I", handle.read(4))
        handle.seek(start)
        tag = handle.read(4)
    if tag not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise ValueError("not an OpenType font")
    (count,) = struct.unpack(">H", handle.read(2))
    handle.seek(start + 12)
    directory = handle.read(16 * count)
    if len(directory) != 16 * count:
        raise ValueError("table directory cut short")
    found = {}
    for index in range(count):
        tag, _, offset, length = struct.unpack(">4sIII", directory[16 * index : 16 * index + 16])
        found[tag] = (offset, length)
    return found


def _table(path: Path, tag: bytes) -> bytes:
    with path.open("rb") as handle:
        tables = _tables(handle)
        if tag not in tables:
            raise ValueError(f"no {tag.decode()} table")
        offset, length = tables[tag]
        handle.seek(offset)
        data = handle.read(length)
    if len(data) != length:
        raise ValueError(f"{tag.decode()} table cut short")
    return data


def weight_class(path: Path) -> int:
    """The OS/2 weight class: 400 regular, 600 semibold, 700 bold (400 for a font without an OS/2 table)."""
    try:
        data = _table(path, b"OS/2")
    except ValueError as exc:
        if "no OS/2" in str(exc):
            return 400
        raise
    return int(struct.unpack(">H", data[4:6])[0])


def characters(path: Path) -> frozenset[int]:
    """The code points the font maps to a glyph other than .notdef."""
    data = _table(path, b"cmap")
    (count,) = struct.unpack(">H", data[2:4])
    subtables: dict[tuple[int, int], int] = {}
    for index in range(count):
        platform, encoding, offset = struct.unpack(">HHI", data[4 + 8 * index : 12 + 8 * index])
        subtables.setdefault((platform, encoding), offset)
    for key in _PREFERRED:
        if key in subtables:
            offset = subtables[key]
            (kind,) = struct.unpack(">H", data[offset : offset + 2])
            if kind == 12:
                return _format_12(data, offset)
            if kind == 4:
                return _format_4(data, offset)
    raise ValueError("no Unicode character map of format 4 or 12")


def _format_12(data: bytes, offset: int) -> frozenset[int]:
    (groups,) = struct.unpack(">I", data[offset + 12 : offset + 16])
    found: set[int] = set()
    for index in range(groups):
        start, end, glyph = struct.unpack(">III", data[offset + 16 + 12 * index : offset + 28 + 12 * index])
        if end < start or end > 0x10FFFF:
            raise ValueError("a character range out of order")
        found.update(range(start + (glyph == 0), end + 1))
    return frozenset(found)


def _format_4(data: bytes, offset: int) -> frozenset[int]:
    (segments_x2,) = struct.unpack(">H", data[offset + 6 : offset + 8])
    segments = segments_x2 // 2
    ends = struct.unpack(f">{segments}H", data[offset + 14 : offset + 14 + segments_x2])
    base = offset + 16 + segments_x2
    starts = struct.unpack(f">{segments}H", data[base : base + segments_x2])
    deltas = struct.unpack(f">{segments}h", data[base + segments_x2 : base + 2 * segments_x2])
    range_at = base + 2 * segments_x2
    range_offsets = struct.unpack(f">{segments}H", data[range_at : range_at + segments_x2])
    found: set[int] = set()
    for index in range(segments):
        start, end, delta, range_offset = starts[index], ends[index], deltas[index], range_offsets[index]
        if start == 0xFFFF:
            continue
        if range_offset == 0:
            found.update(code for code in range(start, end + 1) if (code + delta) & 0xFFFF)
            continue
        for code in range(start, end + 1):
            at = range_at + 2 * index + range_offset + 2 * (code - start)
            (glyph,) = struct.unpack(">H", data[at : at + 2])
            if glyph and (glyph + delta) & 0xFFFF:
                found.add(code)
    return frozenset(found)
