"""Storage backends: where a disk safe's objects live.

A backend stores named, immutable blobs. It knows nothing of chunks, packs, keys or
plaintext: the disk safe hands it bytes that are already compressed and encrypted.

Rules every backend keeps (the shared suite in ``tests/storage`` checks them):
- ``save`` is atomic: a reader sees the whole blob or no blob, never a torn one,
  even if the writing process is killed mid-save.
- ``save`` of an existing name replaces it only where ``overwrite`` is true; otherwise it
  raises ``AlreadyExists`` (this is what makes ``create_exclusive`` locks work).
- ``load`` reads all of a blob or a byte range of it; a missing name raises ``NotFound``.
  A range that runs past the end gives the bytes there are (none from past the end); a
  negative offset or length raises ``ValueError``.
- ``remove`` of a missing name raises ``NotFound``.
- ``list`` yields names under a prefix (a plain string prefix, not a folder), in no
  promised order, each once; nothing for a prefix no valid name starts with (``../``).
- Names are ``/``-separated relative paths of ASCII letters, digits, ``-``, ``_`` and ``.``
  (no empty, ``.`` or ``..`` part, none starting ``.tmp-``; others raise ``ValueError``).
  A name is never also the folder of other names (``a`` beside ``a/b``): a folder is not
  a blob.
- Every method may be called from many threads at once.
- Failures are ``StorageError`` (a local folder lets the disk's ``OSError`` through);
  ``TransientError`` marks those worth retrying, which
  :class:`backuprun.storage.retry.RetryingStorage` does (``open_storage`` wraps S3 in it).

Backends: :mod:`~backuprun.storage.local` (a folder), :mod:`~backuprun.storage.s3`
(S3-compatible object storage), :mod:`~backuprun.storage.memory` (tests). See
``docs/storage.md``.

Open one with :func:`open_storage` from a path or an ``s3://bucket/prefix`` URL.
"""

from backuprun.storage.base import AlreadyExists, NotFound, Storage, StorageError, TransientError
from backuprun.storage.url import open_storage

__all__ = ["AlreadyExists", "NotFound", "Storage", "StorageError", "TransientError",
           "open_storage"]
