"""Constants and the common header of every stored object (see docs/disksafe-format.md).

Every object starts with an 8-byte header::

    b"BRDS" | version u8 | type u8 | flags u8 | reserved u8 (0)

``flags`` bit 0 is set when the safe is encrypted (AES-256-GCM) and clear when objects are
only authenticated (keyed BLAKE3 tag).
"""

from __future__ import annotations

import struct

from backuprun.disksafe.errors import DamagedData, UnsupportedFormat

MAGIC = b"BRDS"
VERSION = 1
HEADER = struct.Struct(">4sBBBB")
HEADER_SIZE = HEADER.size  # 8

# Object types (the header's type byte).
T_KEY = 1
T_CONFIG = 2
T_PACK = 3
T_INDEX = 4
T_POINT = 5
T_LOCK = 6

# Blob types inside packs.
BLOB_DATA = 1
BLOB_TREE = 2

# Header flags.
F_ENCRYPTED = 0x01

# Blob flags.
BF_ZSTD = 0x01

# Storage name prefixes.
KEYS_PREFIX = "keys/"
CONFIG_NAME = "config"
PACKS_PREFIX = "packs/"
INDEX_PREFIX = "index/"
POINTS_PREFIX = "points/"
LOCKS_PREFIX = "locks/"


def header(obj_type: int, flags: int) -> bytes:
    """The 8-byte header of an object of ``obj_type``."""
    return HEADER.pack(MAGIC, VERSION, obj_type, flags, 0)


def parse_header(data: bytes | memoryview, expect_type: int, what: str) -> int:
    """Check ``data`` starts with a header of ``expect_type``; return its flags."""
    if len(data) < HEADER_SIZE:
        raise DamagedData(f"{what}: too short for a header")
    magic, version, obj_type, flags, _ = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DamagedData(f"{what}: bad magic {bytes(magic)!r}")
    if version != VERSION:
        raise UnsupportedFormat(f"{what}: format version {version}, this code reads {VERSION}")
    if obj_type != expect_type:
        raise DamagedData(f"{what}: object type {obj_type}, expected {expect_type}")
    return flags
