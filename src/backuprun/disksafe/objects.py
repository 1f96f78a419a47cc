"""Standalone sealed objects: config, index, recovery points.

Layout: ``header(8) | salt(24) | seal(counter 0, msgpack body, ad = header || name)``.
Binding the storage name into the associated data means an object moved or copied to
another name no longer opens.
"""

from __future__ import annotations

import os
from typing import Any

import msgpack

from backuprun.disksafe.crypto import SALT_SIZE, MasterKeys
from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import F_ENCRYPTED, HEADER_SIZE, header, parse_header


def seal_object(keys: MasterKeys, obj_type: int, name: str, body: Any) -> bytes:
    """Encode ``body`` with msgpack and seal it as the object ``name``."""
    head = header(obj_type, F_ENCRYPTED if keys.encrypted else 0)
    salt = os.urandom(SALT_SIZE)
    sealed = keys.cipher(salt).seal(0, msgpack.packb(body, use_bin_type=True),
                                    head + name.encode())
    return head + salt + sealed


def open_object(keys: MasterKeys, obj_type: int, name: str, data: bytes) -> Any:
    """Verify and decode the object ``name``; raise ``DamagedData`` on any damage."""
    parse_header(data, obj_type, name)
    head = bytes(data[:HEADER_SIZE])
    salt = bytes(data[HEADER_SIZE:HEADER_SIZE + SALT_SIZE])
    plain = keys.cipher(salt).open(0, memoryview(data)[HEADER_SIZE + SALT_SIZE:],
                                   head + name.encode(), name)
    try:
        return msgpack.unpackb(plain, raw=False, strict_map_key=False)
    except Exception as exc:  # noqa: BLE001
        raise DamagedData(f"{name}: body does not parse: {exc}") from None
