#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets in fuzz/fuzz_targets/.

Run from anywhere: `python3 fuzz/make_seeds.py`. It rewrites only the files it names (files the
fuzzer added to the corpus directories are left alone), so the seeds are reproducible.

Input layouts (see transports/src/fuzzing.rs):
  frame_decoder:  [split] ZMTP frames...
  null_handshake: [socket type] [split] peer greeting, handshake and traffic...
The socket type byte indexes [PULL, PUSH, PUB, SUB, PAIR, ROUTER] modulo 6; a split of 0 counts as 1.
Byte layouts follow RFC 37 (ZMTP 3.1) and RFC 15 (ZMTP 2.0).
"""

import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"

MORE, LONG, COMMAND = 0x01, 0x02, 0x04

PULL, PUSH, PUB, SUB, PAIR, ROUTER = range(6)


def frame(body, flags=0):
    """A frame, short or long form chosen from the body length."""
    if len(body) > 255:
        return bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def long_frame(body, flags=0):
    """A frame in long form even when the body would fit a short one (allowed by RFC 37)."""
    return bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body


def command(name, data=b""):
    return frame(bytes([len(name)]) + name + data, COMMAND)


def metadata(**props):
    out = b""
    for name, value in props.items():
        name = name.replace("_", "-").encode()
        out += bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    return out


def ready(socket_type, **props):
    return command(b"READY", metadata(Socket_Type=socket_type, **props))


def greeting(mechanism=b"NULL", as_server=0, major=3, minor=1):
    """The 64-byte ZMTP 3 greeting: signature, version, mechanism, as-server, filler."""
    signature = b"\xff" + b"\x00" * 7 + b"\x01" + b"\x7f"
    return (
        signature
        + bytes([major, minor])
        + mechanism.ljust(20, b"\x00")
        + bytes([as_server])
        + b"\x00" * 31
    )


def ping(ttl_ds=0, context=b""):
    return command(b"PING", struct.pack(">H", ttl_ds) + context)


FRAME_DECODER = {
    # Split 1: every byte arrives on its own.
    "short-frames-split1": b"\x01" + frame(b"hello") + frame(b"", MORE) + frame(b"world"),
    "long-frame": b"\x07" + long_frame(b"x" * 300) + long_frame(b"tiny", MORE) + frame(b"end"),
    "command-ping": b"\x03" + b"\x04\x07\x04PING\x00\x00" + ping(10, b"ctx"),
    "reserved-bits": b"\x02" + frame(b"ok") + b"\x08\x01z",
    "more-on-command": b"\x10" + b"\x05\x07\x04PING\x00\x00",
    "truncated-long-header": b"\x04" + b"\x02\x00\x00\x00",
    "long-size-huge": b"\x09" + b"\x02\xff\xff\xff\xff\xff\xff\xff\xff",
    "long-size-over-limit": b"\x20" + b"\x02" + struct.pack(">Q", 64 * 1024 + 1) + b"abc",
    "mixed-split255": b"\xff" + frame(b"a", MORE) + frame(b"b" * 255) + command(b"PONG", b"ctx"),
}

NULL_GREETING = greeting()
assert len(NULL_GREETING) == 64
# The READY a PUSH peer sends, byte for byte as in the brief / a libzmq 4.3 capture.
READY_PUSH = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH"
assert ready(b"PUSH") == READY_PUSH

NULL_HANDSHAKE = {
    # PULL socket, PUSH peer: handshake, messages (one multipart), PING with context.
    "pull-from-push": bytes([PULL, 7]) + NULL_GREETING + READY_PUSH
    + frame(b"abc") + frame(b"part1", MORE) + frame(b"part2") + ping(10, b"hb"),
    # Same, a byte at a time, to walk the greeting's staged reads.
    "pull-from-push-split1": bytes([PULL, 1]) + NULL_GREETING + READY_PUSH + frame(b"msg")
    + b"\x04\x07\x04PING\x00\x00",
    # PUB socket, SUB peer: SUBSCRIBE command (3.1), legacy subscribe message (3.0), CANCEL.
    "pub-subscribe": bytes([PUB, 16]) + NULL_GREETING + ready(b"SUB")
    + command(b"SUBSCRIBE", b"topic") + frame(b"\x01legacy") + command(b"CANCEL", b"topic")
    + frame(b"\x00legacy"),
    # SUB socket, PUB peer sending messages.
    "sub-from-pub": bytes([SUB, 64]) + NULL_GREETING + ready(b"PUB")
    + frame(b"topic", MORE) + frame(b"payload"),
    # ROUTER socket, DEALER peer with an Identity property.
    "router-from-dealer": bytes([ROUTER, 32]) + NULL_GREETING
    + ready(b"DEALER", Identity=b"peer-1") + frame(b"", MORE) + frame(b"request"),
    # PAIR socket, incompatible PUSH peer: must be refused with an ERROR.
    "pair-incompatible": bytes([PAIR, 100]) + NULL_GREETING + READY_PUSH,
    # A ZMTP 2.0 peer: signature then revision 0x01, socket type, identity.
    "legacy-zmtp2": bytes([PULL, 3]) + b"\xff" + b"\x00" * 7 + b"\x01\x7f" + b"\x01\x08\x00\x00",
    # Not ZMTP at all.
    "http-request": bytes([PULL, 13]) + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # After the handshake, a long frame announcing more than max_msg_size (64 KiB).
    "oversize-frame": bytes([PULL, 50]) + NULL_GREETING + READY_PUSH
    + b"\x02" + struct.pack(">Q", 1 << 20) + b"\x00" * 16,
    # A CURVE greeting: a mechanism the connection does not run.
    "curve-mechanism": bytes([PULL, 64]) + greeting(b"CURVE") + READY_PUSH,
}


def write(target, seeds):
    directory = ROOT / target
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (directory / name).write_bytes(data)
    print(f"{directory}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("frame_decoder", FRAME_DECODER)
    write("null_handshake", NULL_HANDSHAKE)
