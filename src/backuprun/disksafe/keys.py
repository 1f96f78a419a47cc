"""Key objects: the safe's key bundle, wrapped by a password-derived key.

A key object ``keys/<random hex>`` is ``header(T_KEY) | msgpack`` with fields:

- encrypted safe: ``kdf="argon2id"``, ``t``, ``m`` (KiB), ``p``, ``salt`` (16 bytes),
  ``nonce`` (12 bytes), ``wrapped`` = AES-256-GCM(KEK, nonce, bundle, ad=header) where
  KEK = Argon2id(password, salt, t, m, p).
- unencrypted safe: ``kdf="none"``, ``bundle`` (plain) and ``check`` = BLAKE3(bundle).

``passwd`` writes a new key object for the new password, then removes the old one: the
data and every other object stay untouched.
"""

from __future__ import annotations

import os
import secrets

import blake3
import msgpack
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backuprun.disksafe.crypto import MasterKeys
from backuprun.disksafe.errors import DamagedData, SafeNotFound, WrongPassword
from backuprun.disksafe.format import F_ENCRYPTED, HEADER_SIZE, KEYS_PREFIX, T_KEY, header, parse_header
from backuprun.storage import Storage

# Argon2id with 64 MiB, one pass, 2 lanes: ~0.05 s here, above OWASP's floor (46 MiB, t=1).
# Every key object records its own parameters, so a later ``passwd`` can raise them.
KDF_TIME = 1
KDF_MEMORY_KIB = 64 * 1024
KDF_LANES = 2


def _kek(password: bytes, salt: bytes, t: int, m: int, p: int) -> bytes:
    return hash_secret_raw(password, salt, time_cost=t, memory_cost=m, parallelism=p,
                           hash_len=32, type=Type.ID)


def encode_key(keys: MasterKeys, password: bytes | None) -> bytes:
    """The key object wrapping ``keys`` (with ``password`` when the safe is encrypted)."""
    head = header(T_KEY, F_ENCRYPTED if keys.encrypted else 0)
    bundle = keys.to_bytes()
    if not keys.encrypted:
        body = {"kdf": "none", "bundle": bundle, "check": blake3.blake3(bundle).digest()}
        return head + msgpack.packb(body)
    if password is None:
        raise ValueError("an encrypted safe needs a password")
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _kek(password, salt, KDF_TIME, KDF_MEMORY_KIB, KDF_LANES)
    body = {"kdf": "argon2id", "t": KDF_TIME, "m": KDF_MEMORY_KIB, "p": KDF_LANES,
            "salt": salt, "nonce": nonce,
            "wrapped": AESGCM(kek).encrypt(nonce, bundle, head)}
    return head + msgpack.packb(body)


def decode_key(data: bytes, password: bytes | None, name: str) -> MasterKeys:
    """Unwrap the bundle in key object ``data``; ``WrongPassword`` if it does not open."""
    parse_header(data, T_KEY, name)
    head = bytes(data[:HEADER_SIZE])
    try:
        body = msgpack.unpackb(data[HEADER_SIZE:])
    except Exception as exc:  # noqa: BLE001
        raise DamagedData(f"{name}: does not parse: {exc}") from None
    if body.get("kdf") == "none":
        if blake3.blake3(body["bundle"]).digest() != body["check"]:
            raise DamagedData(f"{name}: checksum mismatch")
        return MasterKeys.from_bytes(body["bundle"])
    if body.get("kdf") != "argon2id":
        raise DamagedData(f"{name}: unknown kdf {body.get('kdf')!r}")
    if password is None:
        raise WrongPassword("this disk safe is encrypted: a password is needed")
    kek = _kek(password, body["salt"], body["t"], body["m"], body["p"])
    try:
        bundle = AESGCM(kek).decrypt(body["nonce"], body["wrapped"], head)
    except InvalidTag:
        raise WrongPassword("wrong password for this disk safe") from None
    return MasterKeys.from_bytes(bundle)


def key_is_encrypted(data: bytes, name: str) -> bool:
    """Whether the key object needs a password (read from its header)."""
    return bool(parse_header(data, T_KEY, name) & F_ENCRYPTED)


def new_key_name() -> str:
    return KEYS_PREFIX + secrets.token_hex(16)


def list_keys(storage: Storage) -> list[str]:
    names = sorted(storage.list(KEYS_PREFIX))
    if not names:
        raise SafeNotFound(f"no disk safe at {storage.url}")
    return names


def unlock(storage: Storage, password: bytes | None) -> tuple[MasterKeys, str]:
    """Open the safe's bundle with the first key object that accepts ``password``."""
    errors: list[Exception] = []
    for name in list_keys(storage):
        try:
            return decode_key(storage.load(name), password, name), name
        except (WrongPassword, DamagedData) as exc:
            errors.append(exc)
    wrong = [e for e in errors if isinstance(e, WrongPassword)]
    raise wrong[0] if wrong else errors[0]
