"""Storage backends: where a disk safe's objects live.

A backend stores named, immutable blobs. It knows nothing of chunks, packs, keys or
plaintext: the disk safe hands it bytes that are already compressed and encrypted.

Rules every backend keeps (the shared suite in ``tests/storage`` checks them):
- ``save`` is atomic: a reader sees the whole blob or no blob, never a torn one,
  even if the writing process is killed mid-save.
- ``save`` of an existing name replaces it only where ``overwrite`` is true; otherwise it
  raises ``AlreadyExists`` (this is what makes ``create_exclusive`` locks work).
- ``load`` reads all of a blob or a byte range of it; a missing name raises ``NotFound``.
- ``list`` yields names under a prefix, in no promised order.
- Names are ``/``-separated relative paths of ASCII letters, digits, ``-``, ``_`` and ``.``.

Open one with :func:`open_storage` from a path or an ``s3://bucket/prefix`` URL.
"""

from backuprun.storage.base import AlreadyExists, NotFound, Storage, StorageError
from backuprun.storage.url import open_storage

__all__ = ["AlreadyExists", "NotFound", "Storage", "StorageError", "open_storage"]
