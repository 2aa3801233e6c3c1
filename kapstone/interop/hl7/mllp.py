"""The MLLP transport of the HL7 v2 feed: an asyncio listener and a small client (docs/interop.md).

Framing (HL7 v2 Appendix C, "Lower Layer Protocols", the Minimal Lower Layer Protocol, and HL7's
"MLLP Release 2" transport specification): each message travels as ``<SB> message <EB><CR>``,
``<SB>`` the start block 0x0B and ``<EB><CR>`` the end block 0x1C followed by 0x0D. The content
may not contain 0x0B or 0x1C. The release-2 commit acknowledgement blocks (0x06/0x15 in a frame)
are not used: monitors and interface engines expect the HL7 application acknowledgement (an
``ACK`` message with ``MSA``) in original mode, and that is what is answered, one per message.

The listener (:class:`MLLPServer`, run by :func:`serve`, which ``kapstone hl7 listen`` calls):

- accepts any number of connections; each is read as a stream of frames: a frame split across
  TCP reads is put together, several frames in one read are taken in turn, bytes outside a
  frame (line noise, a keep-alive newline, a half-sent frame abandoned by a new start block) are
  discarded and logged by count;
- hands each message to a synchronous ``handler(raw, peer) -> ack`` in a bounded thread pool
  (the Django ORM is synchronous), with Django's stale-connection cleanup around each call, as a
  request has; the messages of one connection are handled one after the other, so the ACKs go
  back exactly one per message and in order; different connections run in parallel up to the
  pool's size;
- refuses a frame longer than ``max_frame_bytes`` by closing the connection, after answering
  the messages before it and without answering that one: the frame has not been read to its end,
  so there is no message to acknowledge (and no ``MSH-10`` that can be trusted to quote in an
  ``AR``); the sender sees its message unacknowledged, which is what it must treat as "not
  received". The listener reads no further into an unbounded stream;
- closes a connection silent for ``idle_timeout_s`` (a monitor that was switched off, a
  half-open TCP connection), mid-frame or not, and one that has not read its ACKs for as long;
- on :meth:`MLLPServer.request_stop` (SIGTERM or SIGINT under :func:`serve`) stops accepting,
  finishes the messages already received whole and writes their ACKs, closes every connection,
  closes the database connections of its threads and returns;
- answers nothing and closes the connection when the handler raises (a database that is down, a
  bug): the message was not stored, so no ACK is sent and the sender keeps it and sends it again
  (the handler recognises a replay by its control id). The log names the peer, never the message:
  a message is patient data.

Character set: each message is decoded as UTF-8 and, when it is not valid UTF-8, as ISO 8859-1
(which decodes any byte string). ASCII, HL7's default when MSH-18 is empty, is valid UTF-8, and
a text in ISO 8859-1 (MSH-18 ``8859/1``) with any accented letter is almost never valid UTF-8, so
this reads both without trusting a header that monitors often leave empty or wrong. The ACK is
encoded in the same character set as the message it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

logger = logging.getLogger("kapstone.interop.hl7")

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

#: Largest message accepted, in bytes between the blocks. A monitor's ORU^R01 with a dozen OBX is
#: 1–3 kB; 1 MiB leaves room for waveforms or a large batch and bounds the memory a connection holds.
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
#: A chair's monitor sends every few seconds; two minutes of silence means it is off or the link
#: is dead. The sender reconnects when it has something to send.
DEFAULT_IDLE_TIMEOUT_S = 120.0
#: Threads handling messages at once: each holds a database connection while it works. On SQLite
#: writes are serialised anyway; on PostgreSQL the session's row lock serialises one chair.
DEFAULT_WORKERS = 4
#: How long a stop waits for the messages in hand (each one a short transaction).
DEFAULT_STOP_GRACE_S = 30.0
READ_CHUNK_BYTES = 64 * 1024

#: ``handler(raw message, peer "host:port") -> ACK message``; synchronous, run in a thread.
Handler = Callable[[str, str], str]


def frame(message: bytes) -> bytes:
    """``message`` wrapped in the MLLP start and end blocks."""
    return START_BLOCK + message + END_BLOCK


def decode_message(data: bytes) -> tuple[str, str]:
    """The text of a frame and the character set it was read in (``utf-8`` or ``latin-1``)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


class FrameDecoder:
    """Incremental MLLP deframing of a byte stream.

    :meth:`feed` takes whatever a read returned and gives back the frames completed by it (their
    content, blocks removed), in order. Bytes before a start block are discarded (counted in
    ``discarded_bytes``); a start block inside an unfinished frame abandons that frame (the content
    may not contain 0x0B, so the sender restarted). Once the frame being read exceeds
    ``max_frame_bytes``, ``too_large`` is set and the decoder takes nothing more: the caller closes
    the connection.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be at least 1")
        self.max_frame_bytes = max_frame_bytes
        self.discarded_bytes = 0
        self.too_large = False
        self._buffer = bytearray()
        self._in_frame = False
        self._scanned = 0  # bytes of the open frame already searched for an end block

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished frame held."""
        return len(self._buffer) if self._in_frame else 0

    def feed(self, data: bytes) -> list[bytes]:
        if self.too_large:
            return []
        self._buffer += data
        frames: list[bytes] = []
        while True:
            if not self._in_frame:
                start = self._buffer.find(START_BLOCK)
                if start < 0:
                    self.discarded_bytes += len(self._buffer)
                    self._buffer.clear()
                    return frames
                self.discarded_bytes += start
                del self._buffer[: start + 1]
                self._in_frame, self._scanned = True, 0
            # Resume the search one byte back: an end block may straddle two reads.
            since = max(0, self._scanned - 1)
            end = self._buffer.find(END_BLOCK, since)
            restart = self._buffer.find(START_BLOCK, since, end if end >= 0 else len(self._buffer))
            if restart >= 0:
                self.discarded_bytes += restart
                del self._buffer[: restart + 1]
                self._scanned = 0
                continue
            if end < 0:
                self._scanned = len(self._buffer)
                # A trailing 0x1C may be the first half of the end block, not content.
                content = len(self._buffer) - (1 if self._buffer.endswith(END_BLOCK[:1]) else 0)
                if content > self.max_frame_bytes:
                    self._refuse()
                return frames
            if end > self.max_frame_bytes:
                self._refuse()
                return frames
            frames.append(bytes(self._buffer[:end]))
            del self._buffer[: end + len(END_BLOCK)]
            self._in_frame = False

    def _refuse(self) -> None:
        self.too_large = True
        self._buffer.clear()


def _peer_name(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address or "unknown")


def _call_handler(handler: Handler, raw: str, peer: str) -> str:
    """Run in a pool thread: the handler between Django's stale-connection checks, as a request
    is (``request_started``/``request_finished``), so that a connection broken or older than
    ``CONN_MAX_AGE`` is not reused."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        return handler(raw, peer)
    finally:
        close_old_connections()


class MLLPServer:
    """The listener: see the module's docstring. Start it with :meth:`start`, then await
    :meth:`serve_until_stopped`; :meth:`request_stop` ends it (from the loop's thread)."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        workers: int = DEFAULT_WORKERS,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.handler = handler
        self.host, self.port = host, port
        self.workers = workers
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self.stop_grace_s = stop_grace_s
        self.messages = 0
        self.connections_served = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7-handler")
        self._server: asyncio.base_events.Server | None = None
        self._stop: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The address listened on (the port the system chose for port 0)."""
        assert self._server is not None, "start() first"
        name = self._server.sockets[0].getsockname()
        return name[0], name[1]

    async def start(self) -> tuple[str, int]:
        self._stop = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=READ_CHUNK_BYTES, reuse_address=True
        )
        return self.address

    def request_stop(self) -> None:
        """Stop accepting now; the messages in hand are finished by :meth:`serve_until_stopped`."""
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)
        if self._server is not None:
            self._server.close()

    async def serve_until_stopped(self) -> None:
        assert self._stop is not None and self._server is not None, "start() first"
        await self._stop
        self._server.close()
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=self.stop_grace_s)
        for task in pending:
            logger.warning("hl7 listener: a connection still busy after %.0f s is cut", self.stop_grace_s)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        await self._server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self._close_thread_connections)
        self._executor.shutdown(wait=True)

    def _close_thread_connections(self) -> None:
        """Close the database connection each pool thread holds: Django's connections belong to
        the thread that opened them, so every thread must run the close itself. A barrier holds
        each task until all are running, which puts one on every thread."""
        barrier = threading.Barrier(self.workers)

        def close() -> None:
            from django.db import connections

            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)
            connections.close_all()

        wait_futures([self._executor.submit(close) for _ in range(self.workers)], timeout=30)

    async def _read(self, reader: asyncio.StreamReader, peer: str) -> bytes | None:
        """The next bytes; ``b""`` at end of stream; None when stopping or idle too long."""
        assert self._stop is not None
        read = asyncio.ensure_future(reader.read(READ_CHUNK_BYTES))
        done, _ = await asyncio.wait(
            {read, self._stop}, timeout=self.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if read in done:  # bytes that arrived with the stop are still handled
            return read.result()
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        if not self._stop.done():
            logger.info("hl7 listener: %s idle for %.0f s, closed", peer, self.idle_timeout_s)
        return None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections_served += 1
        peer = _peer_name(writer)
        decoder = FrameDecoder(self.max_frame_bytes)
        loop = asyncio.get_running_loop()
        try:
            while not (self._stop is not None and self._stop.done()):
                data = await self._read(reader, peer)
                if not data:
                    break
                for content in decoder.feed(data):
                    raw, charset = decode_message(content)
                    try:
                        ack = await loop.run_in_executor(
                            self._executor, _call_handler, self.handler, raw, peer
                        )
                    except Exception:
                        logger.exception(
                            "hl7 listener: a message from %s could not be handled; the connection is "
                            "closed without an acknowledgement, so the sender keeps the message",
                            peer,
                        )
                        return
                    self.messages += 1
                    writer.write(frame(ack.encode(charset, errors="replace")))
                    # A sender that stops reading its ACKs fills the socket's buffers: it is as
                    # good as idle, and is closed after the same time.
                    await asyncio.wait_for(writer.drain(), self.idle_timeout_s)
                if decoder.too_large:
                    logger.warning(
                        "hl7 listener: %s sent a frame longer than %d bytes; the connection is closed "
                        "without answering it",
                        peer,
                        self.max_frame_bytes,
                    )
                    break
            if decoder.discarded_bytes:
                logger.info("hl7 listener: %s sent %d byte(s) outside a frame", peer, decoder.discarded_bytes)
        except TimeoutError:
            logger.info(
                "hl7 listener: %s read no acknowledgement for %.0f s, closed", peer, self.idle_timeout_s
            )
        except (ConnectionError, OSError):
            logger.info("hl7 listener: %s went away", peer)
        finally:
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # ACKs the sender does not read: a close would wait for ever
            else:
                writer.close()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)
            self._tasks.discard(task)


def serve(
    handler: Handler,
    *,
    host: str,
    port: int,
    on_listening: Callable[[str, int], None] | None = None,
    **options: object,
) -> MLLPServer:
    """Run the listener in this thread until SIGTERM or SIGINT, then stop it cleanly and return it
    (its counters say what it did). ``on_listening(host, port)`` is called once it accepts."""
    server = MLLPServer(handler, host=host, port=port, **options)  # type: ignore[arg-type]

    async def main() -> None:
        bound = await server.start()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, server.request_stop)
        if on_listening is not None:
            on_listening(*bound)
        try:
            await server.serve_until_stopped()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    asyncio.run(main())
    return server


# --- the sending side: the simulator's, the tests' and the benchmark's --------------------------


class MLLPClient:
    """One MLLP connection, as a monitor holds it: :meth:`send` writes a message and waits for its
    acknowledgement. Raises ``OSError`` (``ConnectionRefusedError`` …) when it cannot connect,
    ``ConnectionError`` when the listener closes without answering, ``TimeoutError`` after
    ``timeout_s`` without an answer."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 30.0) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout_s)
        self._decoder = FrameDecoder()
        self._acks: deque[str] = deque()

    def send(self, message: str) -> str:
        self._socket.sendall(frame(message.encode("utf-8")))
        while not self._acks:
            data = self._socket.recv(READ_CHUNK_BYTES)
            if not data:
                raise ConnectionError("the listener closed the connection without acknowledging the message")
            self._acks.extend(decode_message(content)[0] for content in self._decoder.feed(data))
        return self._acks.popleft()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_messages(host: str, port: int, messages: Iterable[str], *, timeout_s: float = 30.0) -> list[str]:
    """Send ``messages`` over one connection, each after the previous one's ACK; the ACKs."""
    with MLLPClient(host, port, timeout_s=timeout_s) as client:
        return [client.send(message) for message in messages]


class AsyncMLLPClient:
    """:class:`MLLPClient` for asyncio (many connections from one process: tests, benchmark)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._decoder = FrameDecoder()
        self._acks: deque[str] = deque()

    @classmethod
    async def connect(cls, host: str, port: int) -> AsyncMLLPClient:
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, message: str) -> str:
        self._writer.write(frame(message.encode("utf-8")))
        await self._writer.drain()
        return await self.receive()

    async def receive(self) -> str:
        """The next acknowledgement (after writes made with :meth:`write`)."""
        while not self._acks:
            data = await self._reader.read(READ_CHUNK_BYTES)
            if not data:
                raise ConnectionError("the listener closed the connection without acknowledging the message")
            self._acks.extend(decode_message(content)[0] for content in self._decoder.feed(data))
        return self._acks.popleft()

    async def write(self, data: bytes) -> None:
        """Raw bytes, framed or not (for tests of the framing)."""
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
