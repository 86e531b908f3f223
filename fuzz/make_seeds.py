#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets in fuzz/fuzz_targets/.

Run from anywhere: `python3 fuzz/make_seeds.py`. It rewrites only the files it names (files the
fuzzer added to the corpus directories are left alone), so the seeds are reproducible.

Input layouts (see transports/src/fuzzing.rs):
  frame_decoder:  [split] ZMTP frames...
  null_handshake: [socket type] [split] peer greeting, handshake and traffic...
  curve_server, curve_client, plain_server: [choices] [split] peer greeting, handshake, traffic...
The null_handshake socket type byte indexes [PULL, PUSH, PUB, SUB, PAIR, ROUTER] modulo 6. The low six
bits of `choices` index [ROUTER, DEALER, REP, REQ, PUB, SUB, XPUB, XSUB, PUSH, PULL, PAIR] modulo 11;
bit 7 (REJECT) rejects the peer at Event::Authenticate, bit 6 (LATE_TIMEOUT) fires the last timeout
past the handshake timeout. A split of 0 counts as 1.
  z85, endpoint, zap, metadata, subscriptions: seeds written by hand under fuzz/corpus/ (text, ZAP
  frames separated by 0xff, a READY body's metadata, operation pairs); this script leaves them be.
Byte layouts follow RFC 37 (ZMTP 3.1), RFC 15 (ZMTP 2.0), RFC 24 (PLAIN) and RFC 26 (CurveZMQ).

The CURVE seeds are valid under the fuzzing crypto provider that `--cfg fuzzing` builds compile
(transports/src/curve.rs): a box is 16 zero bytes (the "MAC") then the plaintext, and the cookie
secretbox likewise. The targets' random source counts 0, 1, 2, ... from each input's start, so the
cookie a CURVE server makes is known here, and the whole handshake can be written down. In normal
builds (the unit test that replays these files) the same boxes simply fail their MACs.
Seeds named `*-ready` must finish the handshake; fuzzing.rs's `ready_seeds_finish_the_handshake`
checks it.
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



# --- CurveZMQ (RFC 26) under the fuzzing crypto provider ---------------------------------------

P25519 = 2**255 - 19


def x25519(scalar, u):
    """X25519 (RFC 7748 section 5): the Montgomery ladder, in plain integers."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a % P25519, b * b % P25519
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a % P25519, c * b % P25519
        x3 = (da + cb) ** 2 % P25519
        z3 = x1 * (da - cb) ** 2 % P25519
        x2 = aa * bb % P25519
        z2 = e * (aa + 121665 * e) % P25519
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P25519 - 2, P25519) % P25519).to_bytes(32, "little")


def public_key(secret):
    return x25519(secret, (9).to_bytes(32, "little"))


# RFC 7748 section 6.1: Alice's key pair.
assert public_key(bytes.fromhex(
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
)) == bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")

# The targets' long-term keys (CURVE_SERVER_SECRET, CURVE_CLIENT_SECRET in fuzzing.rs).
SERVER_PUBLIC = public_key(b"\x53" * 32)
CLIENT_PUBLIC = public_key(b"\x43" * 32)
ZERO_MAC = b"\x00" * 16


def counter_bytes(start, n):
    """Bytes start..start+n of the targets' random source (a wrapping byte counter)."""
    return bytes((start + i) % 256 for i in range(n))


def box(plaintext, mac=ZERO_MAC):
    """A box, or secretbox, as the fuzzing provider seals it."""
    return mac + plaintext


def command_frame(body):
    """A command frame around a body that already holds its name."""
    return frame(body, COMMAND)


def curve_hello(client_transient, nonce=1, version=b"\x01\x00", mac=ZERO_MAC, zeros=64):
    body = b"\x05HELLO" + version + b"\x00" * 72 + client_transient
    body += struct.pack(">Q", nonce) + box(b"\x00" * zeros, mac)
    return command_frame(body)


# What the CURVE server does on HELLO, drawing from the counter: its transient secret s' is bytes
# 0..32, the cookie key 32..64, the cookie nonce 64..80, the WELCOME nonce 80..96. The cookie:
# nonce | SecretBox[C' | s'].
SERVER_TRANSIENT_SECRET = counter_bytes(0, 32)
COOKIE_NONCE = counter_bytes(64, 16)


def cookie_for(client_transient):
    return COOKIE_NONCE + box(client_transient + SERVER_TRANSIENT_SECRET)


def curve_initiate(client_transient, nonce=2, props=None, cookie=None, vouch_transient=None,
                   vouch_server=SERVER_PUBLIC, client=CLIENT_PUBLIC):
    """INITIATE: cookie | short nonce | Box[C | vouch | metadata], vouch = nonce | Box[C' | S]."""
    cookie = cookie_for(client_transient) if cookie is None else cookie
    vouch_transient = client_transient if vouch_transient is None else vouch_transient
    vouch = b"V" * 16 + box(vouch_transient + vouch_server)
    meta = metadata(**(props if props is not None else {"Socket_Type": b"DEALER"}))
    body = b"\x08INITIATE" + cookie + struct.pack(">Q", nonce) + box(client + vouch + meta)
    return command_frame(body)


def curve_message(nonce, payload, flags=0, frame_flags=0):
    """A MESSAGE box in a frame: flags 1 MORE, 2 COMMAND travel inside."""
    body = b"\x07MESSAGE" + struct.pack(">Q", nonce) + box(bytes([flags]) + payload)
    return frame(body, frame_flags)


C_PRIME = bytes(range(0xa0, 0xc0))  # a client transient public key: any 32 bytes will do
CURVE_CLIENT_GREETING = greeting(b"CURVE")
HELLO = curve_hello(C_PRIME)
assert len(HELLO) == 2 + 200
INITIATE = curve_initiate(C_PRIME)
assert len(INITIATE) == 9 + 257 + 22  # long frame: header, INITIATE_MIN, Socket-Type DEALER

# choices byte
ROUTER_CHOICE, DEALER_CHOICE, PUSH_CHOICE = 0, 1, 8
REJECT, LATE_TIMEOUT = 0x80, 0x40

CLIENT_TRAFFIC = (
    curve_message(3, b"part1", flags=1)
    + curve_message(4, b"part2")
    + curve_message(5, b"\x04PING\x00\x0ahb", flags=2, frame_flags=COMMAND)
    + curve_message(6, b"\x01topic")
)

CURVE_SERVER = {
    # The whole handshake from a DEALER client, accepted, then traffic and a PING in a box.
    "handshake-ready": bytes([ROUTER_CHOICE, 64]) + CURVE_CLIENT_GREETING + HELLO + INITIATE
    + CLIENT_TRAFFIC,
    # The same, a byte at a time.
    "split1-ready": bytes([ROUTER_CHOICE, 1]) + CURVE_CLIENT_GREETING + HELLO + INITIATE
    + curve_message(3, b"x"),
    # The same client, rejected at Authenticate: an ERROR goes out.
    "handshake-reject": bytes([ROUTER_CHOICE | REJECT, 200]) + CURVE_CLIENT_GREETING + HELLO
    + INITIATE + curve_message(3, b"after reject"),
    # Only HELLO, then the clock runs past the handshake timeout.
    "hello-then-timeout": bytes([ROUTER_CHOICE | LATE_TIMEOUT, 255]) + CURVE_CLIENT_GREETING
    + HELLO,
    # HELLO of CurveZMQ version 2.0.
    "hello-bad-version": bytes([ROUTER_CHOICE, 100]) + CURVE_CLIENT_GREETING
    + curve_hello(C_PRIME, version=b"\x02\x00"),
    # HELLO whose box fails the (zero) MAC.
    "hello-bad-mac": bytes([ROUTER_CHOICE, 100]) + CURVE_CLIENT_GREETING
    + curve_hello(C_PRIME, mac=b"\x01" + b"\x00" * 15),
    # HELLO one byte short.
    "hello-short": bytes([ROUTER_CHOICE, 100]) + CURVE_CLIENT_GREETING
    + curve_hello(C_PRIME, zeros=63),
    # INITIATE carrying the cookie of another transient key.
    "initiate-foreign-cookie": bytes([ROUTER_CHOICE, 128]) + CURVE_CLIENT_GREETING + HELLO
    + curve_initiate(C_PRIME, cookie=cookie_for(b"\x11" * 32)),
    # INITIATE whose nonce is not above HELLO's.
    "initiate-stale-nonce": bytes([ROUTER_CHOICE, 128]) + CURVE_CLIENT_GREETING + HELLO
    + curve_initiate(C_PRIME, nonce=1),
    # INITIATE whose vouch names another server.
    "initiate-vouch-other-server": bytes([ROUTER_CHOICE, 128]) + CURVE_CLIENT_GREETING + HELLO
    + curve_initiate(C_PRIME, vouch_server=CLIENT_PUBLIC),
    # INITIATE from a PUSH: incompatible with ROUTER, refused once accepted.
    "initiate-incompatible": bytes([ROUTER_CHOICE, 128]) + CURVE_CLIENT_GREETING + HELLO
    + curve_initiate(C_PRIME, props={"Socket_Type": b"PUSH"}),
    # INITIATE sent again after the handshake: in traffic, not a MESSAGE box.
    "initiate-after-handshake": bytes([ROUTER_CHOICE, 128]) + CURVE_CLIENT_GREETING + HELLO + INITIATE
    + INITIATE,
    # After the handshake, a MESSAGE replayed.
    "message-replay": bytes([ROUTER_CHOICE, 64]) + CURVE_CLIENT_GREETING + HELLO + INITIATE
    + curve_message(3, b"once") + curve_message(3, b"once"),
    # A ZMTP 3.0 client (minor version 0), so subscriptions go out in the legacy form.
    "zmtp30-ready": bytes([ROUTER_CHOICE, 32]) + greeting(b"CURVE", minor=0) + HELLO + INITIATE,
    # A NULL client: mechanism mismatch.
    "null-greeting": bytes([ROUTER_CHOICE, 64]) + NULL_GREETING + READY_PUSH,
}

# CURVE client: its transient key is counter bytes 0..32 (drawn at the greeting), then 16 for the
# vouch nonce. The server (this input) sends WELCOME = long nonce | Box[S' | cookie] and READY =
# short nonce | Box[metadata]; the client checks none of S' and the cookie.
S_PRIME = bytes(range(0x60, 0x80))
CURVE_SERVER_GREETING = greeting(b"CURVE", as_server=1)


def curve_welcome(plaintext=None, mac=ZERO_MAC):
    plaintext = S_PRIME + b"K" * 96 if plaintext is None else plaintext
    return command_frame(b"\x07WELCOME" + b"W" * 16 + box(plaintext, mac))


def curve_ready(nonce=1, props=None, mac=ZERO_MAC):
    meta = metadata(**(props if props is not None else {"Socket_Type": b"ROUTER"}))
    return command_frame(b"\x05READY" + struct.pack(">Q", nonce) + box(meta, mac))


WELCOME = curve_welcome()
assert len(WELCOME) == 2 + 168
READY_ROUTER = curve_ready()

SERVER_TRAFFIC = (
    curve_message(2, b"", flags=1)
    + curve_message(3, b"reply")
    + curve_message(4, b"\x04PING\x00\x00", flags=2)
    + curve_message(5, b"\x05ERROR\x04oops", flags=2)
)

CURVE_CLIENT = {
    # WELCOME, READY from a ROUTER, then an empty delimiter + reply, a PING, an ERROR.
    "handshake-ready": bytes([DEALER_CHOICE, 64]) + CURVE_SERVER_GREETING + WELCOME
    + READY_ROUTER + SERVER_TRAFFIC,
    "split1-ready": bytes([DEALER_CHOICE, 1]) + CURVE_SERVER_GREETING + WELCOME + READY_ROUTER
    + curve_message(2, b"x"),
    # libzmq 4.3 sends as-server 0 whatever its role.
    "as-server-0-ready": bytes([DEALER_CHOICE, 255]) + greeting(b"CURVE") + WELCOME + READY_ROUTER,
    # WELCOME only, then the clock runs past the handshake timeout.
    "welcome-then-timeout": bytes([DEALER_CHOICE | LATE_TIMEOUT, 255]) + CURVE_SERVER_GREETING
    + WELCOME,
    # WELCOME whose box fails the (zero) MAC: the wrong server key, as the client sees it.
    "welcome-bad-mac": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING
    + curve_welcome(mac=b"\x00" * 15 + b"\x80"),
    # WELCOME one byte short.
    "welcome-short": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING
    + curve_welcome(S_PRIME + b"K" * 95),
    # READY before WELCOME.
    "ready-first": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + READY_ROUTER,
    # READY with nonce 0 (must be above the last, which starts at 0).
    "ready-nonce-zero": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + WELCOME
    + curve_ready(nonce=0),
    # READY from an incompatible PULL; READY with no Socket-Type.
    "ready-incompatible": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + WELCOME
    + curve_ready(props={"Socket_Type": b"PULL"}),
    "ready-no-socket-type": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + WELCOME
    + curve_ready(props={"Identity": b"x"}),
    # The server refuses the client: ERROR in place of READY.
    "welcome-then-error": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + WELCOME
    + command(b"ERROR", b"\x0cwho are you?"),
    # After the handshake, a MESSAGE whose nonce is not above READY's.
    "message-stale-nonce": bytes([DEALER_CHOICE, 100]) + CURVE_SERVER_GREETING + WELCOME
    + curve_ready(nonce=7) + curve_message(7, b"stale"),
}

# PLAIN (RFC 24): HELLO = username and password, each behind a length byte; INITIATE = metadata.
PLAIN_CLIENT_GREETING = greeting(b"PLAIN")


def plain_hello(username=b"admin", password=b"secret"):
    return command(b"HELLO", bytes([len(username)]) + username + bytes([len(password)]) + password)


def plain_initiate(socket_type=b"DEALER", **props):
    return command(b"INITIATE", metadata(Socket_Type=socket_type, **props))


PLAIN_HELLO = plain_hello()
PLAIN_INITIATE = plain_initiate()
# The same bytes as the inline seed in fuzzing.rs's tests.
assert PLAIN_HELLO == b"\x04\x13\x05HELLO\x05admin\x06secret"
assert PLAIN_INITIATE == b"\x04\x1f\x08INITIATE\x0bSocket-Type\x00\x00\x00\x06DEALER"

PLAIN_SERVER = {
    # HELLO, (accepted: WELCOME), INITIATE from a DEALER, then a request and a PING.
    "handshake-ready": bytes([ROUTER_CHOICE, 9]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + PLAIN_INITIATE + frame(b"", MORE) + frame(b"request") + ping(10, b"hb"),
    "split1-ready": bytes([ROUTER_CHOICE, 1]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + PLAIN_INITIATE + frame(b"abc"),
    # A DEALER that sends its Identity.
    "identity-ready": bytes([ROUTER_CHOICE, 255]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + plain_initiate(Identity=b"peer-1") + frame(b"", MORE) + frame(b"hi"),
    # Rejected at Authenticate: ERROR, and the INITIATE is never read.
    "handshake-reject": bytes([ROUTER_CHOICE | REJECT, 64]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + PLAIN_INITIATE,
    # Empty user name and password; 255-byte ones.
    "empty-credentials": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING
    + plain_hello(b"", b"") + PLAIN_INITIATE,
    "long-credentials": bytes([ROUTER_CHOICE, 200]) + PLAIN_CLIENT_GREETING
    + plain_hello(b"u" * 255, b"p" * 255) + PLAIN_INITIATE,
    # Not UTF-8.
    "binary-credentials": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING
    + plain_hello(b"\xff\xfe", b"\xc3") + PLAIN_INITIATE,
    # HELLO with a byte after the password; HELLO whose password length runs past its end.
    "hello-trailing-byte": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING
    + command(b"HELLO", b"\x01a\x01bX"),
    "hello-truncated": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING
    + command(b"HELLO", b"\x01a\x05b"),
    # INITIATE before HELLO; INITIATE from an incompatible PUB; INITIATE with no Socket-Type.
    "initiate-first": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING + PLAIN_INITIATE,
    "initiate-incompatible": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + plain_initiate(b"PUB"),
    "initiate-no-socket-type": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + command(b"INITIATE", metadata(Identity=b"x")),
    # A PUB server and a SUB client that subscribes after the handshake.
    "pub-subscribe-ready": bytes([4, 32]) + PLAIN_CLIENT_GREETING + PLAIN_HELLO
    + plain_initiate(b"SUB") + command(b"SUBSCRIBE", b"topic") + frame(b"\x01legacy"),
    # HELLO only, then the clock runs past the handshake timeout.
    "hello-then-timeout": bytes([ROUTER_CHOICE | LATE_TIMEOUT, 64]) + PLAIN_CLIENT_GREETING
    + PLAIN_HELLO,
    # A message frame in place of HELLO.
    "message-first": bytes([ROUTER_CHOICE, 64]) + PLAIN_CLIENT_GREETING + frame(b"hello"),
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
    write("curve_server", CURVE_SERVER)
    write("curve_client", CURVE_CLIENT)
    write("plain_server", PLAIN_SERVER)
