"""The MLLP transport (kapstone/interop/hl7/mllp.py): framing of a byte stream, and the listener
over real loopback sockets with a recording handler (the HL7 handling itself is tested in
test_hl7_receive and, end to end through ``kapstone hl7``, in test_hl7_cli)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kapstone.interop.hl7.mllp import (
    END_BLOCK,
    START_BLOCK,
    AsyncMLLPClient,
    FrameDecoder,
    MLLPClient,
    MLLPServer,
    decode_message,
    frame,
    send_messages,
)

ROOT = Path(__file__).resolve().parents[2]
#: The bound of every wait in these tests.
WAIT_S = 30


def message(control: str, text: str = "N-1004") -> str:
    return f"MSH|^~\\&|TEST|CHAIR|||20261207020000||ORU^R01|{control}|P|2.6\rPID|||{text}\r"


def control_id(raw: str) -> str:
    return raw.split("\r")[0].split("|")[9]


def ack(raw: str) -> str:
    return f"MSH|^~\\&|KAPSTONE||||20261207020000||ACK|A{control_id(raw)}|P|2.6\rMSA|AA|{control_id(raw)}\r"


def acked(ack_text: str) -> str:
    """The control id an ACK answers (MSA-2)."""
    return next(s for s in ack_text.split("\r") if s.startswith("MSA|")).split("|")[2]


class Recorder:
    """A handler that records what it was given and answers AA, optionally after a pause."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self.pause_s = pause_s

    def __call__(self, raw: str, peer: str) -> str:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            if self.pause_s:
                time.sleep(self.pause_s)
            with self.lock:
                self.calls.append((raw, peer))
            return ack(raw)
        finally:
            with self.lock:
                self.running -= 1


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, WAIT_S))


async def listening(handler, **options) -> tuple[MLLPServer, asyncio.Task]:
    server = MLLPServer(handler, host="127.0.0.1", port=0, **options)
    await server.start()
    return server, asyncio.create_task(server.serve_until_stopped())


async def stop(server: MLLPServer, serving: asyncio.Task) -> None:
    server.request_stop()
    await serving


async def read_to_end(client: AsyncMLLPClient) -> bytes:
    return await asyncio.wait_for(client._reader.read(), WAIT_S)


# --- framing ----------------------------------------------------------------------------------


def test_a_frame_split_across_reads_is_put_together_even_byte_by_byte():
    decoder = FrameDecoder()
    data = frame(b"MSH|one\rPID|||N-1\r")
    got = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert got == [b"MSH|one\rPID|||N-1\r"]
    assert decoder.discarded_bytes == 0 and decoder.pending_bytes == 0


def test_an_end_block_split_between_two_reads_ends_the_frame():
    decoder = FrameDecoder()
    assert decoder.feed(START_BLOCK + b"MSH|x" + END_BLOCK[:1]) == []
    assert decoder.feed(END_BLOCK[1:] + frame(b"MSH|y")) == [b"MSH|x", b"MSH|y"]


def test_several_frames_in_one_read_come_out_in_order():
    decoder = FrameDecoder()
    data = b"".join(frame(f"MSH|{i}".encode()) for i in range(5))
    assert decoder.feed(data) == [f"MSH|{i}".encode() for i in range(5)]


def test_bytes_outside_frames_are_discarded_and_counted():
    decoder = FrameDecoder()
    data = b"\r\nnoise" + frame(b"MSH|a") + b"\n" + frame(b"MSH|b") + b"tail"
    assert decoder.feed(data) == [b"MSH|a", b"MSH|b"]
    assert decoder.discarded_bytes == len(b"\r\nnoise") + 1 + len(b"tail")
    assert decoder.feed(b"more noise") == []
    assert decoder.feed(frame(b"MSH|c")) == [b"MSH|c"]


def test_a_new_start_block_abandons_an_unfinished_frame():
    decoder = FrameDecoder()
    assert decoder.feed(START_BLOCK + b"MSH|half sent") == []
    assert decoder.feed(frame(b"MSH|whole")) == [b"MSH|whole"]
    assert decoder.discarded_bytes == len(b"MSH|half sent")


def test_a_frame_of_the_maximum_size_is_taken_and_one_byte_more_is_refused():
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(frame(b"x" * 10)) == [b"x" * 10]
    assert not decoder.too_large
    assert decoder.feed(frame(b"y" * 11)) == []
    assert decoder.too_large
    assert decoder.feed(frame(b"z")) == [], "nothing more is taken from that stream"


def test_the_frames_before_an_oversized_one_are_still_given():
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(frame(b"ok") + frame(b"y" * 50)) == [b"ok"]
    assert decoder.too_large


def test_an_endless_frame_is_refused_without_waiting_for_its_end():
    decoder = FrameDecoder(max_frame_bytes=1000)
    decoder.feed(START_BLOCK)
    for _ in range(10):
        decoder.feed(b"x" * 300)
        if decoder.too_large:
            break
    assert decoder.too_large
    assert decoder.pending_bytes == 0, "the refused frame is not kept in memory"


def test_a_trailing_first_end_byte_does_not_count_against_the_limit():
    decoder = FrameDecoder(max_frame_bytes=3)
    assert decoder.feed(START_BLOCK + b"abc" + END_BLOCK[:1]) == []
    assert not decoder.too_large
    assert decoder.feed(END_BLOCK[1:]) == [b"abc"]


def test_messages_are_read_as_utf8_else_as_latin1():
    assert decode_message("PID|||N-1||Müller".encode()) == ("PID|||N-1||Müller", "utf-8")
    assert decode_message("PID|||N-1||Müller".encode("latin-1")) == ("PID|||N-1||Müller", "latin-1")


# --- the listener over loopback sockets ---------------------------------------------------------


def test_twenty_concurrent_connections_each_get_their_own_acks_in_order():
    recorder = Recorder()

    async def sender(port: int, n: int, rng: random.Random) -> list[str]:
        client = await AsyncMLLPClient.connect("127.0.0.1", port)
        answered = []
        for i in range(10):
            answered.append(acked(await client.send(message(f"C{n:02d}-{i:02d}"))))
            await asyncio.sleep(rng.random() / 100)
        await client.close()
        return answered

    async def scenario():
        server, serving = await listening(recorder, workers=4)
        rng = random.Random(16)
        results = await asyncio.gather(*(sender(server.address[1], n, rng) for n in range(20)))
        await stop(server, serving)
        return server, results

    server, results = run(scenario())
    for n, answered in enumerate(results):
        assert answered == [f"C{n:02d}-{i:02d}" for i in range(10)]
    assert len(recorder.calls) == 200 and server.messages == 200
    assert server.connections_served == 20
    by_peer: dict[str, list[str]] = {}
    for raw, peer in recorder.calls:
        by_peer.setdefault(peer, []).append(control_id(raw))
    assert len(by_peer) == 20, "each connection is its own peer (host:port)"
    assert all(peer.startswith("127.0.0.1:") for peer in by_peer)
    assert 1 < len(recorder.threads) <= 4, "handled in the bounded pool, in parallel"


def test_connections_are_handled_in_parallel_but_one_connection_in_sequence():
    recorder = Recorder(pause_s=0.05)

    async def scenario():
        server, serving = await listening(recorder, workers=4)
        clients = [await AsyncMLLPClient.connect("127.0.0.1", server.address[1]) for _ in range(4)]
        # The first sends five messages in one write, without waiting (pipelined).
        await clients[0].write(b"".join(frame(message(f"P-{i}").encode()) for i in range(5)))
        others = [c.send(message(f"O-{n}")) for n, c in enumerate(clients[1:])]
        pipelined = [acked(await clients[0].receive()) for _ in range(5)]
        answered = [acked(a) for a in await asyncio.gather(*others)]
        for client in clients:
            await client.close()
        await stop(server, serving)
        return pipelined, answered

    pipelined, answered = run(scenario())
    assert pipelined == [f"P-{i}" for i in range(5)]
    assert answered == ["O-0", "O-1", "O-2"]
    assert recorder.most_at_once > 1, "different connections run at once"
    order = [control_id(raw) for raw, _ in recorder.calls if control_id(raw).startswith("P-")]
    assert order == [f"P-{i}" for i in range(5)], "one connection's messages are handled in turn"


def test_garbage_and_split_frames_over_a_socket_get_one_ack_per_message():
    recorder = Recorder()

    async def scenario():
        server, serving = await listening(recorder)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        first, second = frame(message("G-1").encode()), frame(message("G-2").encode())
        await client.write(b"\r\n\x00junk" + first[:20])
        await asyncio.sleep(0.05)
        await client.write(first[20:] + second[:-1])
        await asyncio.sleep(0.05)
        await client.write(second[-1:])
        answers = [acked(await client.receive()), acked(await client.receive())]
        await client.close()
        await stop(server, serving)
        return answers

    assert run(scenario()) == ["G-1", "G-2"]
    assert [control_id(raw) for raw, _ in recorder.calls] == ["G-1", "G-2"]


def test_an_oversized_frame_closes_the_connection_unanswered_after_answering_the_one_before():
    recorder = Recorder()

    async def scenario():
        server, serving = await listening(recorder, max_frame_bytes=200)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        await client.write(frame(message("S-1").encode()) + frame(message("S-2", "x" * 300).encode()))
        first = acked(await client.receive())
        rest = await read_to_end(client)
        await client.close()
        # The listener still serves others.
        other = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        after = acked(await other.send(message("S-3")))
        await other.close()
        await stop(server, serving)
        return first, rest, after

    first, rest, after = run(scenario())
    assert first == "S-1"
    assert rest == b"", "no answer to the oversized frame, then end of stream"
    assert after == "S-3"
    assert [control_id(raw) for raw, _ in recorder.calls] == ["S-1", "S-3"]


def test_a_failing_handler_closes_the_connection_without_an_ack_and_the_listener_goes_on():
    def handler(raw: str, peer: str) -> str:
        if control_id(raw) == "BOOM":
            raise RuntimeError("the database is down")
        return ack(raw)

    async def scenario():
        server, serving = await listening(handler)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        await client.write(frame(message("BOOM").encode()))
        rest = await read_to_end(client)
        await client.close()
        after = send_messages_async(server.address[1], [message("OK-1")])
        answered = await after
        await stop(server, serving)
        return rest, answered

    rest, answered = run(scenario())
    assert rest == b""
    assert [acked(a) for a in answered] == ["OK-1"]


async def send_messages_async(port: int, messages: list[str]) -> list[str]:
    client = await AsyncMLLPClient.connect("127.0.0.1", port)
    try:
        return [await client.send(m) for m in messages]
    finally:
        await client.close()


def test_an_idle_connection_is_closed_after_the_timeout():
    async def scenario():
        server, serving = await listening(Recorder(), idle_timeout_s=0.3)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        answered = acked(await client.send(message("I-1")))
        started = time.monotonic()
        rest = await read_to_end(client)
        waited = time.monotonic() - started
        await client.close()
        await stop(server, serving)
        return answered, rest, waited

    answered, rest, waited = run(scenario())
    assert answered == "I-1"
    assert rest == b""
    assert 0.25 < waited < 10


def test_a_sender_that_never_reads_its_acks_is_closed_after_the_timeout():
    big = "x" * (1024 * 1024)

    def handler(raw: str, peer: str) -> str:
        return ack(raw) + "NTE|||" + big + "\r"

    async def scenario():
        server, serving = await listening(handler, idle_timeout_s=0.5)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        # 64 MB of ACKs asked for and none read: the socket buffers fill long before.
        client._writer.transport.set_write_buffer_limits(high=1 << 30)
        client._writer.write(b"".join(frame(message(f"W-{i}").encode()) for i in range(64)))
        started = time.monotonic()
        while server._tasks and time.monotonic() - started < WAIT_S:
            await asyncio.sleep(0.1)
        closed_after = time.monotonic() - started
        handled = server.messages
        client._writer.transport.abort()
        await stop(server, serving)
        return closed_after, handled

    closed_after, handled = run(scenario())
    assert closed_after < 15
    assert 0 < handled < 64, "the listener stopped answering a sender that does not read"


def test_a_stop_finishes_the_messages_in_hand_refuses_new_connections_and_closes_idle_ones():
    entered, release = threading.Event(), threading.Event()

    def handler(raw: str, peer: str) -> str:
        entered.set()
        release.wait(WAIT_S)
        return ack(raw)

    async def scenario():
        server, serving = await listening(handler)
        port = server.address[1]
        idle = await AsyncMLLPClient.connect("127.0.0.1", port)
        busy = await AsyncMLLPClient.connect("127.0.0.1", port)
        # Two messages received whole in one read: both are in hand when the stop comes.
        await busy.write(frame(message("H-1").encode()) + frame(message("H-2").encode()))
        await asyncio.to_thread(entered.wait, WAIT_S)
        server.request_stop()
        await asyncio.sleep(0.1)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        idle_rest = await read_to_end(idle)
        assert not serving.done(), "the stop waits for the message in hand"
        release.set()
        answers = [acked(await busy.receive()), acked(await busy.receive())]
        busy_rest = await read_to_end(busy)
        await serving
        await idle.close()
        await busy.close()
        return idle_rest, answers, busy_rest, server

    idle_rest, answers, busy_rest, server = run(scenario())
    assert idle_rest == b""
    assert answers == ["H-1", "H-2"]
    assert busy_rest == b""
    assert server.messages == 2


def test_the_ack_goes_back_in_the_character_set_of_the_message():
    def handler(raw: str, peer: str) -> str:
        return ack(raw) + "ERR|||||||" + raw.split("|")[-1]

    async def scenario():
        server, serving = await listening(handler)
        client = await AsyncMLLPClient.connect("127.0.0.1", server.address[1])
        await client.write(frame(message("L-1", "Müller").encode("latin-1")))
        data = b""
        while not data.endswith(END_BLOCK):
            data += await client._reader.read(4096)
        await client.close()
        await stop(server, serving)
        return data

    data = run(scenario())
    assert data.endswith("Müller\r".encode("latin-1") + END_BLOCK)


def test_the_blocking_client_and_send_messages():
    recorder = Recorder()
    ready: dict[str, int] = {}
    loop_ready = threading.Event()
    holder: dict[str, object] = {}

    def serve_in_thread() -> None:
        async def main():
            server, serving = await listening(recorder)
            holder["server"], holder["loop"] = server, asyncio.get_running_loop()
            ready["port"] = server.address[1]
            loop_ready.set()
            await serving

        asyncio.run(main())

    thread = threading.Thread(target=serve_in_thread, daemon=True)
    thread.start()
    assert loop_ready.wait(WAIT_S)
    try:
        answers = send_messages("127.0.0.1", ready["port"], [message(f"B-{i}") for i in range(3)])
        with MLLPClient("127.0.0.1", ready["port"]) as client:
            one = client.send(message("B-9"))
    finally:
        holder["loop"].call_soon_threadsafe(holder["server"].request_stop)
        thread.join(WAIT_S)
    assert [acked(a) for a in answers] == ["B-0", "B-1", "B-2"]
    assert acked(one) == "B-9"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", ready["port"])) != 0, "stopped: nothing listens"


def test_the_client_reports_a_refused_connection():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        send_messages("127.0.0.1", port, [message("R-1")])


# --- the listener as a process: SIGTERM while a message is in flight --------------------------

SLOW_LISTENER = """
import time
import django

django.setup()
from kapstone.interop.hl7.mllp import serve


def slow(raw, peer):
    time.sleep(1.5)
    control = raw.split("\\r")[0].split("|")[9]
    return "MSH|^~\\\\&|KAPSTONE||||20261207||ACK|A1|P|2.6\\rMSA|AA|" + control + "\\r"


server = serve(slow, host="127.0.0.1", port=0, on_listening=lambda h, p: print("listening", p, flush=True))
print("stopped after", server.messages, "message(s)", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_listener_process_finishes_the_message_in_flight_and_exits_0(tmp_path, signum):
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_LISTENER],
        cwd=ROOT,
        env={
            **os.environ,
            "KAPSTONE_DEV": "1",
            "DJANGO_SETTINGS_MODULE": "kapstone.settings",
            "KAPSTONE_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            "KAPSTONE_LOG_LEVEL": "WARNING",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("listening"), line or process.stderr.read()[-3000:]
        port = int(line.split()[1])
        answers: list[str] = []
        sender = threading.Thread(
            target=lambda: answers.extend(send_messages("127.0.0.1", port, [message("T-1")])), daemon=True
        )
        sender.start()
        time.sleep(0.5)  # the message is in the handler (1.5 s)
        process.send_signal(signum)
        sender.join(WAIT_S)
        code = process.wait(WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out, err = process.communicate()
    assert [acked(a) for a in answers] == ["T-1"]
    assert code == 0, err[-3000:]
    assert "stopped after 1 message(s)" in out
    assert "Traceback" not in err
