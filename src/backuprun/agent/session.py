"""One task's WebSocket on the agent, usable from worker threads.

The WebSocket lives on the server's event loop; the work (walking, reading, writing files)
runs on threads. :class:`Session` bridges them: ``send`` from any thread, ``ask`` for a
reply from the backup server, ``messages`` for what the backup server pushes (restore), and
``cancelled`` once the backup server said ``cancel`` or the connection is gone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from starlette.websockets import WebSocket, WebSocketDisconnect

from backuprun.transport import messages

log = logging.getLogger("backuprun.agent")
_CLOSED = object()
CLOSE_WAIT = 30.0  # seconds to wait for the backup server to close after the work is done


class Cancelled(Exception):
    """The backup server cancelled the task, or the connection to it is gone."""


class Session:
    def __init__(self, websocket: WebSocket, loop: asyncio.AbstractEventLoop):
        self.websocket = websocket
        self.loop = loop
        self.cancelled = threading.Event()
        # pushed messages, for a worker: a restore's frames of up to 8 MiB, so only a few
        self.inbox: queue.Queue = queue.Queue(maxsize=8)
        self._send_lock = asyncio.Lock()
        self._waiting: dict[bytes, Future] = {}
        self._waiting_lock = threading.Lock()

    # -- from worker threads ---------------------------------------------------------------
    def send(self, kind: str, **fields) -> None:
        """Send one message; blocks while the connection is busy (that is the back-pressure
        on the readers). :class:`Cancelled` once the task is over."""
        if self.cancelled.is_set():
            raise Cancelled()
        frame = messages.pack(kind, **fields)
        try:
            asyncio.run_coroutine_threadsafe(self._send(frame), self.loop).result()
        except Exception as exc:  # noqa: BLE001 - a closed socket, whatever it raises
            self.cancelled.set()
            raise Cancelled() from exc

    def ask_tree(self, tree_id: bytes) -> bytes | None:
        """A tree blob of the parent point, from the backup server."""
        future: Future = Future()
        with self._waiting_lock:
            self._waiting[tree_id] = future
        self.send("need", id=tree_id)
        while True:
            try:
                return future.result(timeout=1)
            except TimeoutError:
                if self.cancelled.is_set():
                    raise Cancelled() from None

    def next_message(self) -> dict:
        """The next message the backup server pushed (restore); :class:`Cancelled` at the end."""
        while True:
            try:
                message = self.inbox.get(timeout=1)
            except queue.Empty:
                if self.cancelled.is_set():
                    raise Cancelled() from None
                continue
            if message is _CLOSED:
                raise Cancelled()
            return message

    # -- on the event loop -----------------------------------------------------------------
    async def _send(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.websocket.send_bytes(frame)

    async def send_async(self, kind: str, **fields) -> None:
        await self._send(messages.pack(kind, **fields))

    async def serve(self, work, *args) -> None:
        """Run ``work(*args)`` on a thread while :meth:`pump` routes what comes in; close
        the connection when both are over (the backup server closes it after ``done``)."""
        pump = asyncio.create_task(self.pump())
        try:
            await asyncio.to_thread(work, *args)
            try:
                await asyncio.wait_for(asyncio.shield(pump), CLOSE_WAIT)
            except asyncio.TimeoutError:
                pass
        finally:
            self.cancelled.set()
            pump.cancel()
            try:
                await self.websocket.close()
            except Exception:  # noqa: BLE001 - closed already
                pass

    async def receive(self) -> dict:
        """The next message (used before the worker starts)."""
        return messages.unpack(await self.websocket.receive_bytes())

    async def pump(self) -> None:
        """Route incoming messages until the connection closes: tree answers to whoever
        asked, ``cancel`` to :attr:`cancelled`, everything else to :attr:`inbox`."""
        try:
            while True:
                message = messages.unpack(await self.websocket.receive_bytes())
                kind = message["t"]
                if kind == "tree":
                    with self._waiting_lock:
                        future = self._waiting.pop(message.get("id"), None)
                    if future is not None:
                        future.set_result(message.get("data"))
                elif kind == "cancel":
                    log.info("the backup server cancelled the task")
                    break
                else:
                    try:
                        self.inbox.put_nowait(message)
                    except queue.Full:  # the writer is behind: wait for it off the loop
                        await asyncio.to_thread(self.inbox.put, message)
        except (WebSocketDisconnect, RuntimeError, messages.ProtocolError) as exc:
            log.info("task connection ended: %s", exc or type(exc).__name__)
        finally:
            self.cancelled.set()
            try:
                self.inbox.put_nowait(_CLOSED)
            except queue.Full:
                pass
