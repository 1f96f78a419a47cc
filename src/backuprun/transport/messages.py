"""The messages a backup server and an agent exchange during a task.

A task runs over one WebSocket that the backup server opens to the agent (after the pinned
mutual-TLS handshake of :mod:`backuprun.backupserver.agentlink`): ``/v1/backup`` or
``/v1/restore``. Every message is one binary frame holding a msgpack map whose ``t`` names
its kind; byte strings (ids, names, data) travel as msgpack bin, never re-encoded.

Backup (the agent does the reading, chunking, hashing and compressing):

====================  ======  ===============================================================
kind                  from    fields
====================  ======  ===============================================================
``hello``             agent   ``hostname``, ``ostype``, ``version``, ``root`` (first message)
``known``             server  ``ids``: 32-byte ids the safe holds, concatenated (any number
                              of these frames, before ``begin``)
``begin``             server  ``spec`` (:class:`~backuprun.disksafe.chunker.ChunkerSpec` as a
                              map), ``parent`` (root tree id of the parent point, or nil),
                              ``excludes`` (paths under the agent's root, ``/``-led)
``need``              agent   ``id``: a tree of the parent point the agent needs
``tree``              server  ``id``, ``data`` (the tree blob's plaintext; nil if unreadable)
``blobs``             agent   ``items``: ``[type, id, flags, payload, raw_len]`` each, payload
                              compressed per flags (:mod:`backuprun.disksafe.compress`)
``log``               agent   ``level`` (INFO, WARNING, SEVERE), ``key``, ``params``, ``text``
``progress``          agent   ``files``, ``bytes``, ``files_read``, ``bytes_read``
``done``              agent   ``tree`` (root tree id), ``root`` (the root's entry), ``stats``
``failed``            agent   ``key``, ``params``, ``text``: the agent cannot go on
``cancel``            server  the task is cancelled: stop
====================  ======  ===============================================================

Restore (the backup server reads the disk safe; the agent writes under its root):

====================  ======  ===============================================================
``hello``             agent   as above
``begin``             server  ``target`` (folder under the root, ``/``-led), ``overwrite``
``entries``           server  ``items``: ``[path, entry, parts]`` each, in tree order: ``path``
                              (relative to the target), ``entry`` (a tree entry without its
                              chunk list), ``parts`` (a file's whole content as its chunks,
                              ``[flags, payload, raw_len]`` each, compressed per flags; nil
                              for others)
``entry``             server  ``path``, ``entry``: a big file, its content in the next frames
``data``              server  ``parts``: the next piece of the current big file, as above
``eof``               server  the current big file is complete
``drop``              server  the current big file cannot be completed (its data in the disk
                              safe is damaged): discard it
``finish``            server  no more entries
``log``, ``progress`` agent   as above (``progress`` counts files and bytes written)
``done``              agent   ``files``, ``bytes``, ``warnings``
``failed``            agent   as above
====================  ======  ===============================================================
"""

from __future__ import annotations

import msgpack

BACKUP_PATH = "/v1/backup"
RESTORE_PATH = "/v1/restore"
MAX_FRAME = 32 * 1024 * 1024  # a frame never carries more (payloads are split below it)
FRAME_PAYLOAD = 8 * 1024 * 1024  # what a sender puts in one frame, at most (roughly)
ID_SIZE = 32
KNOWN_PER_FRAME = 128 * 1024  # ids per ``known`` frame (4 MiB)


class ProtocolError(Exception):
    """A frame that is not a message of this protocol, or one out of place."""


def pack(kind: str, **fields) -> bytes:
    fields["t"] = kind
    return msgpack.packb(fields, use_bin_type=True)


def unpack(frame: bytes | str) -> dict:
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError("a text frame where a binary one was expected")
    try:
        message = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the peer's error
        raise ProtocolError(f"a frame that does not decode: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise ProtocolError("a frame that is not a message")
    return message


def split_ids(ids: bytes) -> list[bytes]:
    """``ids`` (concatenated) as a list of ids; ``ProtocolError`` when the length is off."""
    if len(ids) % ID_SIZE:
        raise ProtocolError("an id list whose length is not a multiple of 32")
    return [ids[i:i + ID_SIZE] for i in range(0, len(ids), ID_SIZE)]
