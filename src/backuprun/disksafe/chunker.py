"""Reading, content-defined chunking and hashing, apart from storing (the pull model).

Given a :class:`ChunkerSpec` (the safe's chunker seed, id key and sizes; handed to an agent
for a task), a :class:`Chunker` turns a file or stream into ``(chunk_id, data)`` pairs.
Files below ``min_size`` are one chunk. Larger ones are read into one reused buffer and cut
with pyfastcdc's ``cut_buf``; the unfinished tail is carried to the front for the next
read, so no whole file is ever held in memory. ``data`` is a memoryview into that buffer,
valid only until the next pair is taken: copy it (or compress it) before moving on.
A Chunker is not thread-safe; use one per thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

import blake3
from pyfastcdc import FastCDC

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 4 * 1024 * 1024
BUFFER_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True)
class ChunkerSpec:
    """Everything needed to chunk and name data exactly as the safe does."""

    seed: int
    id_key: bytes
    min_size: int = MIN_SIZE
    avg_size: int = AVG_SIZE
    max_size: int = MAX_SIZE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ChunkerSpec:
        return cls(**d)


class Chunker:
    """Cuts and names data; see the module docstring."""

    def __init__(self, spec: ChunkerSpec, buffer_size: int = BUFFER_SIZE) -> None:
        self.spec = spec
        self._cdc = FastCDC(spec.avg_size, min_size=spec.min_size, max_size=spec.max_size,
                            seed=spec.seed)
        self._buf = bytearray(max(buffer_size, spec.max_size + (1 << 20)))
        self._view = memoryview(self._buf)
        self._key = spec.id_key

    def chunk_id(self, data: bytes | memoryview) -> bytes:
        return blake3.blake3(data, key=self._key).digest()

    def chunks(self, f: BinaryIO, size_hint: int = -1) -> Iterator[tuple[bytes, memoryview | bytes]]:
        """Yield ``(id, data)`` for the stream ``f`` (read to its end)."""
        if 0 <= size_hint < self.spec.min_size:
            data = f.read()
            if len(data) < self.spec.min_size:
                if data:
                    yield self.chunk_id(data), data
                return
            yield from self._cut_rest(f, data)
            return
        yield from self._cut_rest(f, b"")

    def _fill(self, f: BinaryIO, fill: int) -> tuple[int, bool]:
        view = self._view
        total = len(view)
        readinto = getattr(f, "readinto", None)
        while fill < total:
            if readinto is not None:
                n = readinto(view[fill:])
            else:
                piece = f.read(total - fill)
                n = len(piece)
                view[fill:fill + n] = piece
            if not n:
                return fill, True
            fill += n
        return fill, False

    def _cut_rest(self, f: BinaryIO, head: bytes) -> Iterator[tuple[bytes, memoryview]]:
        view = self._view
        fill = len(head)
        view[:fill] = head
        eof = False
        while not eof:
            fill, eof = self._fill(f, fill)
            if not fill:
                return
            pending = None
            for c in self._cdc.cut_buf(view[:fill]):
                if pending is not None:
                    yield self.chunk_id(pending), pending
                pending = view[c.offset:c.offset + c.length]
            if pending is None:
                return
            if eof:
                yield self.chunk_id(pending), pending
                return
            start = fill - len(pending)
            if start == 0:  # one chunk filled the whole buffer: it is final
                yield self.chunk_id(pending), pending
                fill = 0
            else:  # carry the unfinished tail to the front
                tail = len(pending)
                del pending
                view[:tail] = view[start:fill]
                fill = tail
