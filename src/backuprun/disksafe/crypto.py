"""Keys and authenticated sealing of stored objects.

A safe has one random **key bundle** (:class:`MasterKeys`): an encryption key, a MAC key
(used only by unencrypted safes), the chunk-id key (keyed BLAKE3) and the chunker seed. The
bundle is made once at ``init`` and never changes; key objects wrap it (see ``keys``).

Nonce scheme: every pack and every standalone object carries a fresh random 192-bit salt;
the AEAD key for that object is ``BLAKE3-keyed(enc_key, "subkey" || salt)`` and nonces inside
it are a 96-bit counter (the blob's position in the pack). A nonce therefore never repeats
under one key by construction, and two objects share a subkey only if two random 192-bit
salts collide (about 2**-96 after 2**48 objects): safe for any safe's lifetime, with no
state to keep between writers. Unencrypted safes use the same layout with a 128-bit keyed
BLAKE3 tag in place of the GCM tag, so every flipped bit is still detected.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass

import blake3
import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backuprun.disksafe.errors import DamagedData

SALT_SIZE = 24
TAG_SIZE = 16
_SUBKEY_CONTEXT = b"backuprun disksafe subkey v1\x00"


@dataclass(frozen=True)
class MasterKeys:
    """The safe's random key bundle."""

    encrypted: bool
    enc_key: bytes
    mac_key: bytes
    id_key: bytes
    chunker_seed: int

    @classmethod
    def generate(cls, encrypted: bool) -> MasterKeys:
        return cls(encrypted, os.urandom(32), os.urandom(32), os.urandom(32),
                   int.from_bytes(os.urandom(8), "big") >> 1 or 1)

    def to_bytes(self) -> bytes:
        return msgpack.packb({"v": 1, "encrypted": self.encrypted, "enc": self.enc_key,
                              "mac": self.mac_key, "id": self.id_key,
                              "seed": self.chunker_seed})

    @classmethod
    def from_bytes(cls, data: bytes) -> MasterKeys:
        try:
            d = msgpack.unpackb(data)
            return cls(bool(d["encrypted"]), d["enc"], d["mac"], d["id"], int(d["seed"]))
        except Exception as exc:  # noqa: BLE001 - any parse failure is damage
            raise DamagedData(f"key bundle does not parse: {exc}") from None

    def chunk_id(self, data: bytes | memoryview) -> bytes:
        """The keyed BLAKE3 id of a chunk's plaintext."""
        return blake3.blake3(data, key=self.id_key).digest()

    def cipher(self, salt: bytes) -> ObjectCipher:
        """The cipher for the object (pack or standalone object) with ``salt``."""
        return ObjectCipher(self, salt)


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(12, "big")


class ObjectCipher:
    """Seals and opens the parts of one object; nonces are counters under its subkey."""

    __slots__ = ("_aead", "_tag_key")

    def __init__(self, keys: MasterKeys, salt: bytes) -> None:
        if len(salt) != SALT_SIZE:
            raise DamagedData("bad salt length")
        if keys.encrypted:
            sub = blake3.blake3(_SUBKEY_CONTEXT + salt, key=keys.enc_key).digest()
            self._aead: AESGCM | None = AESGCM(sub)
            self._tag_key = b""
        else:
            self._aead = None
            self._tag_key = blake3.blake3(_SUBKEY_CONTEXT + salt, key=keys.mac_key).digest()

    def _tag(self, counter: int, data: bytes | memoryview, ad: bytes) -> bytes:
        h = blake3.blake3(struct.pack(">I", len(ad)) + ad + _nonce(counter), key=self._tag_key)
        h.update(data)
        return h.digest(TAG_SIZE)

    def seal(self, counter: int, data: bytes | memoryview, ad: bytes) -> bytes:
        """Return ``data`` sealed (ciphertext or plaintext, then a 16-byte tag)."""
        if self._aead is not None:
            return self._aead.encrypt(_nonce(counter), data, ad)
        return bytes(data) + self._tag(counter, data, ad)

    def seal_into(self, counter: int, data: bytes | memoryview, ad: bytes,
                  out: memoryview) -> None:
        """Seal ``data`` into ``out`` (exactly ``len(data) + TAG_SIZE`` bytes)."""
        if self._aead is not None:
            self._aead.encrypt_into(_nonce(counter), data, ad, out)
            return
        n = len(data)
        out[:n] = data
        out[n:] = self._tag(counter, data, ad)

    def open_into(self, counter: int, sealed: bytes | memoryview, ad: bytes, what: str,
                  out: bytearray) -> memoryview:
        """Like :meth:`open`, but the plaintext lands in ``out`` (big enough) or, for an
        unencrypted safe, is a view of ``sealed``. Valid until ``out`` is reused."""
        if len(sealed) < TAG_SIZE:
            raise DamagedData(f"{what}: truncated")
        n = len(sealed) - TAG_SIZE
        if self._aead is not None:
            view = memoryview(out)[:n]
            try:
                self._aead.decrypt_into(_nonce(counter), sealed, ad, view)
            except InvalidTag:
                raise DamagedData(f"{what}: authentication failed") from None
            return view
        view = memoryview(sealed)
        if not hmac.compare_digest(self._tag(counter, view[:n], ad), view[n:]):
            raise DamagedData(f"{what}: checksum mismatch")
        return view[:n]

    def open(self, counter: int, sealed: bytes | memoryview, ad: bytes, what: str) -> bytes:
        """Return the plaintext of ``sealed``; raise ``DamagedData`` if it fails to verify."""
        if len(sealed) < TAG_SIZE:
            raise DamagedData(f"{what}: truncated")
        if self._aead is not None:
            try:
                return self._aead.decrypt(_nonce(counter), sealed, ad)
            except InvalidTag:
                raise DamagedData(f"{what}: authentication failed") from None
        view = memoryview(sealed)
        body, tag = view[:-TAG_SIZE], view[-TAG_SIZE:]
        if not hmac.compare_digest(self._tag(counter, body, ad), tag):
            raise DamagedData(f"{what}: checksum mismatch")
        return bytes(body)
