"""RFC 6455 framing against the real server: echo (text, binary, fragmented
with an interleaved ping), ping/pong, and every close-code path, with the
exact code the server must send. Uses the raw-socket client (conftest.RawWS)
so the test controls every byte."""
import asyncio
import struct

import pytest
import websockets

from conftest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, T, RawWS,
                      build_frame, close_payload)

MAX_MESSAGE = 4096


@pytest.fixture(scope="module")
def srv(wspush_module):
    return wspush_module("--workers", "1", "--echo-path", "/echo",
                         "--max-message", str(MAX_MESSAGE))


def test_echo_text_and_binary(srv):
    with RawWS(srv.port, "/echo") as ws:
        ws.send(OP_TEXT, "héllo wörld")
        f = ws.recv_frame()
        assert (f.opcode, f.fin, f.payload, f.masked) == (OP_TEXT, True, "héllo wörld".encode(), False)
        blob = bytes(range(256)) * 3  # 768 bytes: 16-bit length form
        ws.send(OP_BINARY, blob)
        f = ws.recv_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_BINARY, True, blob)
        ws.send(OP_TEXT, b"")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"")
        assert ws.close(1000).close_code == 1000


def test_echo_fragmented_with_interleaved_ping(srv):
    with RawWS(srv.port, "/echo") as ws:
        ws.send(OP_TEXT, "frag", fin=False)
        ws.send(OP_PING, b"mid-ping")
        ws.send(OP_CONT, "ment", fin=False)
        # the 2-byte UTF-8 sequence for "é" split across two frames
        ws.send(OP_CONT, b"ed \xc3", fin=False)
        ws.send(OP_CONT, b"\xa9!", fin=True)
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"mid-ping")
        f = ws.recv_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, "fragmented é!".encode())

        ws.send(OP_BINARY, b"\x00\x01", fin=False)
        ws.send(OP_CONT, b"", fin=False)
        ws.send(OP_CONT, b"\xff", fin=True)
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\x00\x01\xff")
        assert ws.close(1000).close_code == 1000


def test_echo_with_websockets_library(srv):
    async def run():
        async with websockets.connect(srv.ws_url("/echo"), ping_interval=None) as ws:
            await ws.send("plain text")
            assert await asyncio.wait_for(ws.recv(), T(5)) == "plain text"
            await ws.send(b"\x00bin\xff")
            assert await asyncio.wait_for(ws.recv(), T(5)) == b"\x00bin\xff"
            await ws.send(["frag", "mented"])  # the library's fragmented send
            assert await asyncio.wait_for(ws.recv(), T(5)) == "fragmented"
            big = "x" * MAX_MESSAGE
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), T(5)) == big
        assert ws.close_code == 1000
    asyncio.run(run())


def test_ping_pong_same_payload(srv):
    with RawWS(srv.port, "/") as ws:
        for payload in (b"", b"x", bytes(range(125))):
            ws.send(OP_PING, payload)
            f = ws.recv_frame()
            assert (f.opcode, f.fin, f.payload) == (OP_PONG, True, payload)
        # an unsolicited pong is ignored: the connection still works
        ws.send(OP_PONG, b"unsolicited")
        ws.send(OP_PING, b"after")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"after")


def test_non_echo_path_ignores_data(srv):
    with RawWS(srv.port, "/news") as ws:
        ws.send(OP_TEXT, b"ignored")
        ws.send(OP_PING, b"p")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"p")  # no echo before it


# --- close handshake ---

def test_close_1000_is_echoed(srv):
    with RawWS(srv.port, "/echo") as ws:
        f = ws.close(1000, "bye")
        assert f.close_code == 1000
        ws.expect_eof()


@pytest.mark.parametrize("code", [1001, 3000, 4999])
def test_close_valid_codes_are_echoed(srv, code):
    with RawWS(srv.port, "/") as ws:
        assert ws.close(code).close_code == code
        ws.expect_eof()


def test_empty_close_gets_empty_close(srv):
    with RawWS(srv.port, "/") as ws:
        ws.send(OP_CLOSE, b"")
        f = ws.recv_close()
        assert f.payload == b""
        ws.expect_eof()


def expect_close(ws, code):
    f = ws.recv_close()
    assert f.close_code == code, f
    # the server ends the TCP connection after its close frame (it may wait
    # for our close frame: answer it)
    try:
        ws.send(OP_CLOSE, close_payload(code))
    except OSError:
        pass
    ws.expect_eof()


BAD_FRAMES = {
    "unmasked client frame": (build_frame(OP_TEXT, b"hello", mask=False), 1002),
    "64-bit length with MSB set": (build_frame(OP_BINARY, b"", length=(1 << 63) | 5), 1002),
    "reserved data opcode 0x3": (build_frame(0x3, b"x"), 1002),
    "reserved control opcode 0xB": (build_frame(0xB, b"x"), 1002),
    "RSV1": (build_frame(OP_TEXT, b"x", rsv=4), 1002),
    "RSV2": (build_frame(OP_TEXT, b"x", rsv=2), 1002),
    "RSV3": (build_frame(OP_TEXT, b"x", rsv=1), 1002),
    "ping of 126 bytes": (build_frame(OP_PING, b"p" * 126), 1002),
    "fragmented ping": (build_frame(OP_PING, b"p", fin=False), 1002),
    "continuation without message": (build_frame(OP_CONT, b"x"), 1002),
    "new message inside fragmented one": (build_frame(OP_TEXT, b"a", fin=False) +
                                          build_frame(OP_TEXT, b"b"), 1002),
    "close code 999": (build_frame(OP_CLOSE, close_payload(999)), 1002),
    "close code 1005": (build_frame(OP_CLOSE, close_payload(1005)), 1002),
    "close code 1006": (build_frame(OP_CLOSE, close_payload(1006)), 1002),
    "close code 1015": (build_frame(OP_CLOSE, close_payload(1015)), 1002),
    "close code 5000": (build_frame(OP_CLOSE, close_payload(5000)), 1002),
    "close with 1-byte payload": (build_frame(OP_CLOSE, b"\x03"), 1002),
    "invalid UTF-8 text": (build_frame(OP_TEXT, b"ok \xff"), 1007),
    "overlong UTF-8 text": (build_frame(OP_TEXT, b"\xc0\xaf"), 1007),
    "UTF-16 surrogate in text": (build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    "invalid UTF-8 across fragments": (build_frame(OP_TEXT, b"ab\xe2\x82", fin=False) +
                                       build_frame(OP_CONT, b"(", fin=True), 1007),
    "truncated UTF-8 at message end": (build_frame(OP_TEXT, b"ab\xe2", fin=False) +
                                       build_frame(OP_CONT, b"", fin=True), 1007),
    "close reason invalid UTF-8": (build_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe")), 1007),
    "message over --max-message": (build_frame(OP_BINARY, b"b" * (MAX_MESSAGE + 1)), 1009),
    "fragments over --max-message": (build_frame(OP_BINARY, b"b" * MAX_MESSAGE, fin=False) +
                                     build_frame(OP_CONT, b"b", fin=True), 1009),
}


@pytest.mark.parametrize("path", ["/", "/echo"])
@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frame_close_code(srv, name, path):
    data, code = BAD_FRAMES[name]
    with RawWS(srv.port, path) as ws:
        ws.send_raw(data)
        expect_close(ws, code)
    # the failure stayed with that connection: a new one works
    with RawWS(srv.port, "/") as ws:
        ws.send(OP_PING, b"alive")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"alive")


def test_bad_frame_split_byte_by_byte(srv):
    # the header of the bad frame arrives one byte per write
    with RawWS(srv.port, "/echo") as ws:
        ws.send(OP_TEXT, "ok")
        assert ws.recv_frame().payload == b"ok"
        for b in build_frame(OP_BINARY, b"", length=(1 << 63) | 1):
            ws.send_raw(bytes([b]))
        expect_close(ws, 1002)


def test_close_reason_utf8_valid_is_accepted(srv):
    with RawWS(srv.port, "/") as ws:
        f = ws.close(1000, "ça va")
        assert f.close_code == 1000
