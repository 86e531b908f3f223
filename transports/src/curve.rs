//! CurveZMQ (RFC 26 / ZMTP-CURVE): the HELLO, WELCOME, INITIATE and READY commands of each role,
//! and the MESSAGE boxes that carry traffic afterwards.
//!
//! Pure: randomness comes from the caller ([`Random`]), so tests and fuzzers drive it with a
//! deterministic source. Boxes are XSalsa20-Poly1305 with X25519 keys (`crypto_box`), sealed and
//! opened with `dryoc`, whose output is byte-for-byte libsodium's.
//!
//! ```text
//! HELLO     C' | short nonce | Box[64 zeros](C' -> S)                      200 bytes
//! WELCOME   long nonce | Box[S' | cookie](S -> C')                         168 bytes
//!           cookie = nonce | SecretBox[C' | s'](K), K fresh per WELCOME, wiped after use
//! INITIATE  cookie | short nonce | Box[C | vouch | metadata](C' -> S')
//!           vouch = nonce | Box[C' | S](C -> S')
//! READY     short nonce | Box[metadata](S' -> C')
//! MESSAGE   short nonce | Box[flags | payload](C' <-> S')   flags: 1 MORE, 2 COMMAND
//! ```

use std::sync::Arc;

#[cfg(not(fuzzing))]
use dryoc::classic::crypto_box::{
    crypto_box_beforenm, crypto_box_detached_afternm_inplace, crypto_box_easy_afternm,
    crypto_box_open_detached_afternm_inplace, crypto_box_open_easy_afternm,
};
#[cfg(not(fuzzing))]
use dryoc::classic::crypto_secretbox::{crypto_secretbox_easy, crypto_secretbox_open_easy};

// Under the fuzzing provider the cookie box is the identity too (see `seal` below).
#[cfg(fuzzing)]
fn crypto_secretbox_easy(
    out: &mut [u8],
    plain: &[u8],
    _nonce: &[u8; 24],
    _key: &[u8; 32],
) -> Result<(), ()> {
    out[..MAC].fill(0);
    out[MAC..].copy_from_slice(plain);
    Ok(())
}

#[cfg(fuzzing)]
fn crypto_secretbox_open_easy(
    out: &mut [u8],
    boxed: &[u8],
    _nonce: &[u8; 24],
    _key: &[u8; 32],
) -> Result<(), ()> {
    if boxed.len() != out.len() + MAC || boxed[..MAC].iter().any(|&b| b != 0) {
        return Err(());
    }
    out.copy_from_slice(&boxed[MAC..]);
    Ok(())
}
use smallvec::SmallVec;
use zeroize::{Zeroize, Zeroizing};

use crate::error::ProtocolError;
use crate::keys::{KeyPair, PublicKey, SecretKey, KEY_LEN};
use crate::metadata::Metadata;

/// A source of secure random bytes (the engine passes the OS RNG).
pub type Random = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// Size of a HELLO command, name included.
pub const HELLO_LEN: usize = 200;
/// Size of a WELCOME command, name included.
pub const WELCOME_LEN: usize = 168;
const MAC: usize = 16;
const COOKIE_LEN: usize = 96;
const VOUCH_LEN: usize = 96;
/// Smallest INITIATE: name, cookie, nonce, and a box of C and the vouch.
const INITIATE_MIN: usize = 9 + COOKIE_LEN + 8 + MAC + KEY_LEN + VOUCH_LEN;
/// Smallest MESSAGE: name, nonce, and a box of the flags byte.
const MESSAGE_MIN: usize = 8 + 8 + MAC + 1;

type Key = Zeroizing<[u8; 32]>;

fn fail(what: &'static str) -> ProtocolError {
    ProtocolError::Crypto(what)
}

/// A CurveZMQ command of the wrong size or version: malformed, as libzmq classes it
/// (`ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_*`), not a cryptographic failure.
fn malformed(command: &'static str) -> ProtocolError {
    ProtocolError::Decode(crate::error::DecodeError::MalformedCommand(command))
}

fn short_nonce(prefix: &[u8; 16], counter: u64) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn long_nonce(prefix: &[u8; 8], random: &[u8; 16]) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(random);
    n
}

#[cfg(not(fuzzing))]
fn precompute(public: &[u8; 32], secret: &[u8; 32]) -> Result<Key, ProtocolError> {
    crypto_box_beforenm(public, secret)
        .map(Zeroizing::new)
        .map_err(|_| fail("peer key is a low-order point"))
}

#[cfg(not(fuzzing))]
fn seal(key: &Key, nonce: &[u8; 24], plaintext: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + plaintext.len() + MAC, 0);
    crypto_box_easy_afternm(&mut out[start..], plaintext, nonce, key)
        .expect("the output is sized for the box");
}

#[cfg(not(fuzzing))]
fn open(
    key: &Key,
    nonce: &[u8; 24],
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    if boxed.len() < MAC {
        return Err(fail(what));
    }
    let mut plain = Zeroizing::new(vec![0u8; boxed.len() - MAC]);
    crypto_box_open_easy_afternm(&mut plain, boxed, nonce, key).map_err(|_| fail(what))?;
    Ok(plain)
}

/// Encrypt `data` in place and return the MAC (MESSAGE boxes: no extra copy of the payload).
#[cfg(not(fuzzing))]
fn seal_in_place(key: &Key, nonce: &[u8; 24], data: &mut [u8]) -> [u8; MAC] {
    let mut mac = [0u8; MAC];
    crypto_box_detached_afternm_inplace(data, &mut mac, nonce, key);
    mac
}

/// Check `mac` and decrypt `data` in place.
#[cfg(not(fuzzing))]
fn open_in_place(key: &Key, nonce: &[u8; 24], data: &mut [u8], mac: &[u8; MAC]) -> bool {
    crypto_box_open_detached_afternm_inplace(data, mac, nonce, key).is_ok()
}

#[cfg(fuzzing)]
fn seal_in_place(_key: &Key, _nonce: &[u8; 24], _data: &mut [u8]) -> [u8; MAC] {
    [0u8; MAC]
}

#[cfg(fuzzing)]
fn open_in_place(_key: &Key, _nonce: &[u8; 24], _data: &mut [u8], mac: &[u8; MAC]) -> bool {
    mac.iter().all(|&b| b == 0)
}

/// Where a MESSAGE box is written: a `Vec<u8>` or the transmit buffer itself.
pub trait SealTarget {
    /// Append bytes.
    fn append(&mut self, bytes: &[u8]);
    /// Append `n` zero bytes and return them to fill in.
    fn grow(&mut self, n: usize) -> &mut [u8];
}

impl SealTarget for Vec<u8> {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.len();
        self.resize(start + n, 0);
        &mut self[start..]
    }
}

impl SealTarget for bytes::BytesMut {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.len();
        self.resize(start + n, 0);
        &mut self[start..]
    }
}

/// Length of the MESSAGE command body that carries a payload of `len` bytes.
pub fn sealed_len(len: usize) -> usize {
    8 + 8 + MAC + 1 + len
}

// The fuzzing-only crypto provider (built with `--cfg fuzzing`): boxes are the plaintext behind
// a 16-byte zero "MAC", so a fuzzer can write valid-looking boxes and reach the logic behind the
// MAC checks (rustls' fuzzing provider does the same). Never compiled into real builds.
#[cfg(fuzzing)]
fn precompute(public: &[u8; 32], _secret: &[u8; 32]) -> Result<Key, ProtocolError> {
    Ok(Zeroizing::new(*public))
}

#[cfg(fuzzing)]
fn seal(_key: &Key, _nonce: &[u8; 24], plaintext: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; MAC]);
    out.extend_from_slice(plaintext);
}

#[cfg(fuzzing)]
fn open(
    _key: &Key,
    _nonce: &[u8; 24],
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    if boxed.len() < MAC || boxed[..MAC].iter().any(|&b| b != 0) {
        return Err(fail(what));
    }
    Ok(Zeroizing::new(boxed[MAC..].to_vec()))
}

fn random_array<const N: usize>(random: &Random) -> [u8; N] {
    let mut a = [0u8; N];
    random(&mut a);
    a
}

fn take<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[..N]);
    a
}

/// Traffic encryption once the handshake is done.
pub struct CurveCodec {
    key: Key,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
    send_nonce: u64,
    recv_nonce: u64,
}

impl std::fmt::Debug for CurveCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveCodec")
            .field("send_nonce", &self.send_nonce)
            .field("recv_nonce", &self.recv_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveCodec {
    /// Append one MESSAGE command body (`\x07MESSAGE`, nonce, box) carrying `flags` and `payload`,
    /// encrypting in place in `out` ([`sealed_len`] bytes).
    pub fn seal_frame(&mut self, flags: u8, payload: &[u8], out: &mut impl SealTarget) {
        self.send_nonce += 1;
        out.append(b"\x07MESSAGE");
        out.append(&self.send_nonce.to_be_bytes());
        let nonce = short_nonce(self.send_prefix, self.send_nonce);
        let region = out.grow(MAC + 1 + payload.len());
        let (mac_slot, body) = region.split_at_mut(MAC);
        body[0] = flags;
        body[1..].copy_from_slice(payload);
        let mac = seal_in_place(&self.key, &nonce, body);
        mac_slot.copy_from_slice(&mac);
    }

    /// Seal a batch of frames, `(flags, payload)` each, appending for each a ZMTP frame header and
    /// its MESSAGE body to `out`. Nonces follow the batch's order. Where the CPU has AVX2, up to
    /// [`LANE_BATCH`] boxes at a time are sealed in one call of the multi-buffer kernel (their
    /// HSalsa20 and Salsa20 blocks in the lanes of one pass); otherwise, and for a lone box, one
    /// after another.
    pub fn seal_batch<'a>(
        &mut self,
        frames: impl IntoIterator<Item = (u8, &'a [u8])>,
        out: &mut bytes::BytesMut,
    ) {
        // (where the MAC goes, where the box's data ends, its nonce), for the boxes written but
        // not sealed yet; they start at `unsealed` in `out`.
        let mut pending: SmallVec<[(usize, usize, [u8; 24]); LANE_BATCH]> = SmallVec::new();
        let mut unsealed = out.len();
        for (flags, payload) in frames {
            crate::frame::encode_header(
                out,
                crate::frame::FrameFlags::default(),
                sealed_len(payload.len()),
            );
            self.send_nonce += 1;
            out.extend_from_slice(b"\x07MESSAGE");
            out.extend_from_slice(&self.send_nonce.to_be_bytes());
            let mac_at = out.len();
            out.resize(mac_at + MAC, 0);
            out.extend_from_slice(&[flags]);
            out.extend_from_slice(payload);
            pending.push((
                mac_at,
                out.len(),
                short_nonce(self.send_prefix, self.send_nonce),
            ));
            if pending.len() == LANE_BATCH {
                seal_pending(&self.key, &mut out[unsealed..], unsealed, &pending);
                pending.clear();
                unsealed = out.len();
            }
        }
        if !pending.is_empty() {
            seal_pending(&self.key, &mut out[unsealed..], unsealed, &pending);
        }
    }

    /// Open one MESSAGE command body: its flags byte and payload. A repeated or lower nonce, a bad
    /// MAC or a malformed command is an error.
    pub fn open_frame(&mut self, body: &[u8]) -> Result<(u8, bytes::Bytes), ProtocolError> {
        let nonce = self.check_message(body, self.recv_nonce)?;
        let mac = take::<MAC>(&body[16..16 + MAC]);
        let mut plain = bytes::BytesMut::from(&body[16 + MAC..]);
        if !open_in_place(
            &self.key,
            &short_nonce(self.recv_prefix, nonce),
            &mut plain,
            &mac,
        ) {
            return Err(fail("MESSAGE box does not open"));
        }
        self.recv_nonce = nonce;
        let flags = plain[0];
        Ok((flags, plain.freeze().slice(1..)))
    }

    /// Open a read's MESSAGE bodies (at most [`LANE_BATCH`]) together: where the CPU has AVX2, in
    /// one call of the multi-buffer kernel, and into one buffer for them all. Returns the flags
    /// and payload of each box up to the first that fails, and that failure: the boxes before a
    /// bad one count, as they would one by one.
    pub fn open_batch(&mut self, bodies: &[bytes::Bytes]) -> OpenedBatch {
        assert!(bodies.len() <= LANE_BATCH, "at most LANE_BATCH boxes");
        let mut error = None;
        let mut checked: SmallVec<[CheckedBox; LANE_BATCH]> = SmallVec::new();
        let mut last = self.recv_nonce;
        for body in bodies {
            match self.check_message(body, last) {
                Ok(nonce) => {
                    let mac = take::<MAC>(&body[16..16 + MAC]);
                    checked.push(CheckedBox {
                        counter: nonce,
                        nonce: short_nonce(self.recv_prefix, nonce),
                        mac,
                    });
                    last = nonce;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let valid = &bodies[..checked.len()];
        let mut plain =
            bytes::BytesMut::with_capacity(valid.iter().map(|b| b.len() - 16 - MAC).sum::<usize>());
        for body in valid {
            plain.extend_from_slice(&body[16 + MAC..]);
        }
        let mut authentic = [false; LANE_BATCH];
        {
            let mut rest: &mut [u8] = &mut plain;
            let mut boxes: SmallVec<[ringmq_curve_lanes::Open<'_>; LANE_BATCH]> = SmallVec::new();
            for (body, CheckedBox { nonce, mac, .. }) in valid.iter().zip(&checked) {
                let (data, tail) = std::mem::take(&mut rest).split_at_mut(body.len() - 16 - MAC);
                rest = tail;
                boxes.push(ringmq_curve_lanes::Open {
                    key: &self.key,
                    nonce,
                    data,
                    mac,
                });
            }
            if use_lanes(boxes.len()) {
                ringmq_curve_lanes::open_all(&mut boxes, &mut authentic[..valid.len()]);
            } else {
                for (b, ok) in boxes.iter_mut().zip(authentic.iter_mut()) {
                    *ok = open_in_place(&self.key, b.nonce, b.data, b.mac);
                }
            }
        }
        let mut opened = SmallVec::new();
        for ((body, checked), ok) in valid.iter().zip(&checked).zip(authentic) {
            let payload = plain.split_to(body.len() - 16 - MAC).freeze();
            if !ok {
                error = Some(fail("MESSAGE box does not open"));
                break;
            }
            self.recv_nonce = checked.counter;
            opened.push((payload[0], payload.slice(1..)));
        }
        OpenedBatch { opened, error }
    }

    /// Check a MESSAGE body's form and that its nonce is above `last`; returns the nonce.
    fn check_message(&self, body: &[u8], last: u64) -> Result<u64, ProtocolError> {
        if body.len() < MESSAGE_MIN || &body[..8] != b"\x07MESSAGE" {
            return Err(malformed("MESSAGE"));
        }
        let nonce = u64::from_be_bytes(take::<8>(&body[8..16]));
        if nonce <= last {
            return Err(fail("MESSAGE nonce not above the last one (replay)"));
        }
        Ok(nonce)
    }
}

/// A well-formed MESSAGE box of a batch, before it is opened: what its lane needs.
struct CheckedBox {
    /// The short nonce's counter (the receive nonce once the box opens).
    counter: u64,
    /// The full 24-byte nonce.
    nonce: [u8; 24],
    /// The box's MAC.
    mac: [u8; MAC],
}

/// Boxes sealed or opened per call of the multi-buffer kernel: two of its eight-lane groups, few
/// enough to keep every batch's bookkeeping on the stack.
pub const LANE_BATCH: usize = 16;

/// What [`CurveCodec::open_batch`] gives back: each box's flags and payload, in order, up to the
/// first that failed, and that failure.
#[derive(Debug)]
pub struct OpenedBatch {
    /// Flags byte and payload of each box that opened.
    pub opened: SmallVec<[(u8, bytes::Bytes); LANE_BATCH]>,
    /// Why the box after the last one opened did not (malformed, replayed or forged).
    pub error: Option<ProtocolError>,
}

/// Whether `n` boxes go to the multi-buffer kernel: only where it runs on AVX2 (its scalar
/// fallback is slower than dryoc), for two boxes or more, and never under the fuzzing provider.
fn use_lanes(n: usize) -> bool {
    !cfg!(fuzzing) && n >= 2 && ringmq_curve_lanes::kernel() == "avx2"
}

/// Seal the boxes `pending` describes, written in `region` (which starts at `base` in the
/// transmit buffer; `pending` holds offsets in that buffer).
fn seal_pending(key: &Key, region: &mut [u8], base: usize, pending: &[(usize, usize, [u8; 24])]) {
    let mut rest = region;
    let mut at = base;
    let mut boxes: SmallVec<[ringmq_curve_lanes::Seal<'_>; LANE_BATCH]> = SmallVec::new();
    for (mac_at, end, nonce) in pending {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(mac_at - at);
        let (mac, tail) = tail.split_at_mut(MAC);
        let (data, tail) = tail.split_at_mut(end - mac_at - MAC);
        rest = tail;
        at = *end;
        boxes.push(ringmq_curve_lanes::Seal {
            key,
            nonce,
            data,
            mac: mac.try_into().expect("MAC bytes"),
        });
    }
    if use_lanes(boxes.len()) {
        ringmq_curve_lanes::seal_all(&mut boxes);
    } else {
        for b in boxes {
            *b.mac = seal_in_place(key, b.nonce, b.data);
        }
    }
}

/// The client side of the handshake.
pub struct CurveClient {
    long_term: KeyPair,
    server: PublicKey,
    transient: KeyPair,
    nonce: u64,
    server_transient: Option<PublicKey>,
    ready_nonce_floor: u64,
}

impl std::fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// A client with long-term keys `long_term` that expects the server key `server`.
    pub fn new(long_term: KeyPair, server: PublicKey, random: &Random) -> CurveClient {
        CurveClient {
            long_term,
            server,
            transient: KeyPair::from_random(random_array(random)),
            nonce: 0,
            server_transient: None,
            ready_nonce_floor: 0,
        }
    }

    /// The HELLO command.
    pub fn hello(&mut self) -> Result<Vec<u8>, ProtocolError> {
        self.nonce += 1;
        let mut out = Vec::with_capacity(HELLO_LEN);
        out.extend_from_slice(b"\x05HELLO\x01\x00");
        out.extend_from_slice(&[0u8; 72]);
        out.extend_from_slice(self.transient.public.as_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        let key = precompute(self.server.as_bytes(), self.transient.secret.expose())?;
        seal(
            &key,
            &short_nonce(b"CurveZMQHELLO---", self.nonce),
            &[0u8; 64],
            &mut out,
        );
        debug_assert_eq!(out.len(), HELLO_LEN);
        Ok(out)
    }

    /// Process WELCOME; returns the INITIATE command carrying `metadata`.
    pub fn on_welcome(
        &mut self,
        body: &[u8],
        metadata: &Metadata,
        random: &Random,
    ) -> Result<Vec<u8>, ProtocolError> {
        if body.len() != WELCOME_LEN || &body[..8] != b"\x07WELCOME" {
            return Err(malformed("WELCOME"));
        }
        let key = precompute(self.server.as_bytes(), self.transient.secret.expose())?;
        let nonce = long_nonce(b"WELCOME-", &take::<16>(&body[8..24]));
        let plain = open(
            &key,
            &nonce,
            &body[24..],
            "WELCOME box does not open (wrong server key?)",
        )?;
        let server_transient = PublicKey(take::<32>(&plain[..32]));
        let cookie = &plain[32..32 + COOKIE_LEN];
        // The vouch: C' and S boxed from our long-term key to the server's transient key.
        let vouch_key = precompute(server_transient.as_bytes(), self.long_term.secret.expose())?;
        let vouch_random: [u8; 16] = random_array(random);
        let mut vouch_plain = [0u8; 64];
        vouch_plain[..32].copy_from_slice(self.transient.public.as_bytes());
        vouch_plain[32..].copy_from_slice(self.server.as_bytes());
        let mut vouch = Vec::with_capacity(VOUCH_LEN);
        vouch.extend_from_slice(&vouch_random);
        seal(
            &vouch_key,
            &long_nonce(b"VOUCH---", &vouch_random),
            &vouch_plain,
            &mut vouch,
        );
        let mut plain = Zeroizing::new(Vec::with_capacity(32 + VOUCH_LEN + metadata.encoded_len()));
        plain.extend_from_slice(self.long_term.public.as_bytes());
        plain.extend_from_slice(&vouch);
        metadata.encode(&mut *plain);
        self.nonce += 1;
        let mut out = Vec::with_capacity(INITIATE_MIN + metadata.encoded_len());
        out.extend_from_slice(b"\x08INITIATE");
        out.extend_from_slice(cookie);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        let key = precompute(server_transient.as_bytes(), self.transient.secret.expose())?;
        seal(
            &key,
            &short_nonce(b"CurveZMQINITIATE", self.nonce),
            &plain,
            &mut out,
        );
        self.server_transient = Some(server_transient);
        Ok(out)
    }

    /// Process READY: the server's metadata and the traffic codec.
    pub fn on_ready(&mut self, body: &[u8]) -> Result<(Metadata, CurveCodec), ProtocolError> {
        let server_transient = self.server_transient.ok_or(fail("READY before WELCOME"))?;
        if body.len() < 6 + 8 + MAC || &body[..6] != b"\x05READY" {
            return Err(malformed("READY"));
        }
        let nonce = u64::from_be_bytes(take::<8>(&body[6..14]));
        if nonce <= self.ready_nonce_floor {
            return Err(fail("READY nonce not above the last one"));
        }
        let key = precompute(server_transient.as_bytes(), self.transient.secret.expose())?;
        let plain = open(
            &key,
            &short_nonce(b"CurveZMQREADY---", nonce),
            &body[14..],
            "READY box does not open",
        )?;
        let metadata = Metadata::decode(&bytes::Bytes::copy_from_slice(&plain))?;
        Ok((
            metadata,
            CurveCodec {
                key,
                send_prefix: b"CurveZMQMESSAGEC",
                recv_prefix: b"CurveZMQMESSAGES",
                send_nonce: self.nonce,
                recv_nonce: nonce,
            },
        ))
    }
}

/// The server side of the handshake.
pub struct CurveServer {
    long_term: KeyPair,
    client_transient: Option<PublicKey>,
    hello_nonce: u64,
    cookie_key: Option<Key>,
    transient: Option<KeyPair>,
    nonce: u64,
    initiate_nonce: u64,
}

impl std::fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServer")
            .field("public", &self.long_term.public)
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A server with long-term keys `long_term`.
    pub fn new(long_term: KeyPair) -> CurveServer {
        CurveServer {
            long_term,
            client_transient: None,
            hello_nonce: 0,
            cookie_key: None,
            transient: None,
            nonce: 0,
            initiate_nonce: 0,
        }
    }

    /// Process HELLO; returns WELCOME.
    pub fn on_hello(&mut self, body: &[u8], random: &Random) -> Result<Vec<u8>, ProtocolError> {
        if body.len() != HELLO_LEN || &body[..6] != b"\x05HELLO" {
            return Err(malformed("HELLO"));
        }
        if body[6] != 1 || body[7] != 0 {
            return Err(malformed("HELLO"));
        }
        let client_transient = PublicKey(take::<32>(&body[80..112]));
        let nonce = u64::from_be_bytes(take::<8>(&body[112..120]));
        let key = precompute(client_transient.as_bytes(), self.long_term.secret.expose())?;
        let zeros = open(
            &key,
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &body[120..],
            "HELLO box does not open",
        )?;
        if zeros.iter().any(|&b| b != 0) {
            return Err(fail("HELLO box does not hold zeros"));
        }
        // A fresh transient key pair and cookie key for this client.
        let transient = KeyPair::from_random(random_array(random));
        let cookie_key: Key = Zeroizing::new(random_array(random));
        let cookie_random: [u8; 16] = random_array(random);
        let mut cookie_plain = Zeroizing::new([0u8; 64]);
        cookie_plain[..32].copy_from_slice(client_transient.as_bytes());
        cookie_plain[32..].copy_from_slice(transient.secret.expose());
        let mut cookie = Vec::with_capacity(COOKIE_LEN);
        cookie.extend_from_slice(&cookie_random);
        let start = cookie.len();
        cookie.resize(start + 64 + MAC, 0);
        crypto_secretbox_easy(
            &mut cookie[start..],
            &*cookie_plain,
            &long_nonce(b"COOKIE--", &cookie_random),
            &cookie_key,
        )
        .expect("the output is sized for the box");
        let mut plain = Zeroizing::new(Vec::with_capacity(32 + COOKIE_LEN));
        plain.extend_from_slice(transient.public.as_bytes());
        plain.extend_from_slice(&cookie);
        let welcome_random: [u8; 16] = random_array(random);
        let mut out = Vec::with_capacity(WELCOME_LEN);
        out.extend_from_slice(b"\x07WELCOME");
        out.extend_from_slice(&welcome_random);
        seal(
            &key,
            &long_nonce(b"WELCOME-", &welcome_random),
            &plain,
            &mut out,
        );
        debug_assert_eq!(out.len(), WELCOME_LEN);
        self.client_transient = Some(client_transient);
        self.hello_nonce = nonce;
        self.cookie_key = Some(cookie_key);
        self.transient = Some(transient);
        Ok(out)
    }

    /// Process INITIATE: the client's long-term public key (to authenticate) and its metadata.
    pub fn on_initiate(&mut self, body: &[u8]) -> Result<(PublicKey, Metadata), ProtocolError> {
        if body.len() < INITIATE_MIN || &body[..9] != b"\x08INITIATE" {
            return Err(malformed("INITIATE"));
        }
        // The cookie key opens one cookie, once.
        let cookie_key = self
            .cookie_key
            .take()
            .ok_or(fail("INITIATE without HELLO, or replayed"))?;
        let cookie = &body[9..9 + COOKIE_LEN];
        let mut cookie_plain = Zeroizing::new([0u8; 64]);
        crypto_secretbox_open_easy(
            &mut *cookie_plain,
            &cookie[16..],
            &long_nonce(b"COOKIE--", &take::<16>(&cookie[..16])),
            &cookie_key,
        )
        .map_err(|_| fail("cookie does not open (replayed or forged)"))?;
        let client_transient = self
            .client_transient
            .ok_or(fail("INITIATE without HELLO"))?;
        if cookie_plain[..32] != client_transient.0 {
            return Err(fail("cookie is for another client"));
        }
        let transient_secret = SecretKey::from_bytes(take::<32>(&cookie_plain[32..]));
        let nonce = u64::from_be_bytes(take::<8>(&body[105..113]));
        if nonce <= self.hello_nonce {
            return Err(fail("INITIATE nonce not above HELLO's"));
        }
        let key = precompute(client_transient.as_bytes(), transient_secret.expose())?;
        let plain = open(
            &key,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &body[113..],
            "INITIATE box does not open",
        )?;
        let client = PublicKey(take::<32>(&plain[..32]));
        let vouch = &plain[32..32 + VOUCH_LEN];
        let vouch_key = precompute(client.as_bytes(), transient_secret.expose())?;
        let vouch_plain = open(
            &vouch_key,
            &long_nonce(b"VOUCH---", &take::<16>(&vouch[..16])),
            &vouch[16..],
            "vouch does not open",
        )?;
        if vouch_plain[..32] != client_transient.0 {
            return Err(fail("vouch names another transient key"));
        }
        if vouch_plain[32..64] != self.long_term.public.0 {
            return Err(fail("vouch is for another server"));
        }
        let metadata = Metadata::decode(&bytes::Bytes::copy_from_slice(&plain[32 + VOUCH_LEN..]))?;
        self.initiate_nonce = nonce;
        Ok((client, metadata))
    }

    /// The READY command carrying `metadata`, and the traffic codec.
    pub fn ready(&mut self, metadata: &Metadata) -> Result<(Vec<u8>, CurveCodec), ProtocolError> {
        let transient = self.transient.take().ok_or(fail("READY before INITIATE"))?;
        let client_transient = self.client_transient.ok_or(fail("READY before HELLO"))?;
        let key = precompute(client_transient.as_bytes(), transient.secret.expose())?;
        self.nonce += 1;
        let mut plain = Vec::with_capacity(metadata.encoded_len());
        metadata.encode(&mut plain);
        let mut out = Vec::with_capacity(14 + MAC + plain.len());
        out.extend_from_slice(b"\x05READY");
        out.extend_from_slice(&self.nonce.to_be_bytes());
        seal(
            &key,
            &short_nonce(b"CurveZMQREADY---", self.nonce),
            &plain,
            &mut out,
        );
        plain.zeroize();
        Ok((
            out,
            CurveCodec {
                key,
                send_prefix: b"CurveZMQMESSAGES",
                recv_prefix: b"CurveZMQMESSAGEC",
                send_nonce: self.nonce,
                recv_nonce: self.initiate_nonce,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter_random() -> Random {
        let state = std::sync::atomic::AtomicU8::new(1);
        Arc::new(move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = state.fetch_add(37, std::sync::atomic::Ordering::Relaxed);
            }
        })
    }

    fn handshake() -> (CurveClient, CurveServer, CurveCodec, CurveCodec, PublicKey) {
        let random = counter_random();
        let server_keys = KeyPair::from_random([9u8; 32]);
        let client_keys = KeyPair::from_random([5u8; 32]);
        let client_public = client_keys.public;
        let mut client = CurveClient::new(client_keys, server_keys.public, &random);
        let mut server = CurveServer::new(server_keys);
        let hello = client.hello().unwrap();
        assert_eq!(hello.len(), HELLO_LEN);
        let welcome = server.on_hello(&hello, &random).unwrap();
        assert_eq!(welcome.len(), WELCOME_LEN);
        let mut meta = Metadata::new();
        meta.insert("Socket-Type", &b"DEALER"[..]);
        let initiate = client.on_welcome(&welcome, &meta, &random).unwrap();
        let (who, their_meta) = server.on_initiate(&initiate).unwrap();
        assert_eq!(who, client_public);
        assert_eq!(their_meta.get("Socket-Type").unwrap(), "DEALER");
        let mut meta = Metadata::new();
        meta.insert("Socket-Type", &b"ROUTER"[..]);
        let (ready, server_codec) = server.ready(&meta).unwrap();
        let (server_meta, client_codec) = client.on_ready(&ready).unwrap();
        assert_eq!(server_meta.get("Socket-Type").unwrap(), "ROUTER");
        (client, server, client_codec, server_codec, client_public)
    }

    #[test]
    fn full_handshake_and_messages_both_ways() {
        let (_, _, mut c, mut s, _) = handshake();
        let mut wire = Vec::new();
        c.seal_frame(1, b"hello", &mut wire);
        assert_eq!(
            s.open_frame(&wire).unwrap(),
            (1, bytes::Bytes::from_static(b"hello"))
        );
        let mut wire = Vec::new();
        s.seal_frame(0, b"world", &mut wire);
        assert_eq!(
            c.open_frame(&wire).unwrap(),
            (0, bytes::Bytes::from_static(b"world"))
        );
    }

    #[test]
    fn replay_and_tamper_are_refused() {
        let (_, _, mut c, mut s, _) = handshake();
        let mut wire = Vec::new();
        c.seal_frame(0, b"once", &mut wire);
        s.open_frame(&wire).unwrap();
        // The same MESSAGE again: nonce not above the last.
        assert!(s.open_frame(&wire).is_err());
        let mut wire = Vec::new();
        c.seal_frame(0, b"flip", &mut wire);
        let last = wire.len() - 1;
        wire[last] ^= 1;
        assert!(s.open_frame(&wire).is_err());
        let mut wire = Vec::new();
        c.seal_frame(0, b"mac", &mut wire);
        wire[16] ^= 0x80; // a MAC bit
        assert!(s.open_frame(&wire).is_err());
    }

    /// The MESSAGE bodies `seal_batch` wrote to `out`, each behind its frame header.
    fn bodies(mut out: bytes::BytesMut) -> Vec<bytes::Bytes> {
        let mut decoder = crate::frame::FrameDecoder::new(u64::MAX);
        let mut found = Vec::new();
        while let Some(frame) = decoder.decode(&mut out).unwrap() {
            let crate::frame::RawFrame::Message { body, more: false } = frame else {
                panic!("a MESSAGE box travels as one final frame: {frame:?}");
            };
            found.push(body);
        }
        assert!(out.is_empty());
        found
    }

    /// Frames of every length from 0 to 300 bytes with varied flags: more than two batches'
    /// worth, so chunking and a partial last chunk are both crossed.
    fn payloads() -> Vec<(u8, Vec<u8>)> {
        (0..301)
            .map(|n: usize| ((n % 3) as u8, (0..n).map(|i| (i * 7 + n) as u8).collect()))
            .collect()
    }

    #[test]
    fn batches_seal_and_open_as_boxes_one_by_one_do() {
        let (_, _, mut c, mut s, _) = handshake();
        let (_, _, mut c1, mut s1, _) = handshake();
        let frames = payloads();
        let mut batched = bytes::BytesMut::new();
        c.seal_batch(frames.iter().map(|(f, p)| (*f, &p[..])), &mut batched);
        // Byte for byte what sealing each frame alone gives (same keys, same nonces).
        let mut alone = bytes::BytesMut::new();
        for (f, p) in &frames {
            c1.seal_batch([(*f, &p[..])], &mut alone);
        }
        assert_eq!(batched, alone);
        let wire = bodies(batched);
        assert_eq!(wire.len(), frames.len());
        // Opened in batches of every size up to LANE_BATCH, each box as open_frame opens it.
        let mut at = 0;
        let mut size = 1;
        while at < wire.len() {
            let end = (at + size).min(wire.len());
            let batch = s.open_batch(&wire[at..end]);
            assert!(batch.error.is_none(), "{:?}", batch.error);
            assert_eq!(batch.opened.len(), end - at);
            for (i, (flags, payload)) in batch.opened.iter().enumerate() {
                assert_eq!(
                    (*flags, &payload[..]),
                    (frames[at + i].0, &frames[at + i].1[..])
                );
                assert_eq!(
                    s1.open_frame(&wire[at + i]).unwrap(),
                    (*flags, payload.clone())
                );
            }
            at = end;
            size = size % LANE_BATCH + 1;
        }
    }

    #[test]
    fn a_bad_box_ends_the_batch_after_the_good_ones_before_it() {
        let frames = payloads();
        for bad_at in [0, 1, 7, 8, 15] {
            for damage in ["forged", "replayed", "malformed"] {
                let (_, _, mut c, mut s, _) = handshake();
                let mut out = bytes::BytesMut::new();
                c.seal_batch(frames[..16].iter().map(|(f, p)| (*f, &p[..])), &mut out);
                let mut wire: Vec<Vec<u8>> = bodies(out).into_iter().map(|b| b.to_vec()).collect();
                match damage {
                    "forged" => *wire[bad_at].last_mut().unwrap() ^= 1,
                    "replayed" if bad_at > 0 => wire[bad_at] = wire[bad_at - 1].clone(),
                    "replayed" => wire[0][15] = 0, // nonce 0: not above the last (0)
                    _ => wire[bad_at][0] = b'x',
                }
                let wire: Vec<bytes::Bytes> = wire.into_iter().map(bytes::Bytes::from).collect();
                let batch = s.open_batch(&wire);
                assert_eq!(batch.opened.len(), bad_at, "{damage} at {bad_at}");
                assert!(batch.error.is_some(), "{damage} at {bad_at}");
                for (i, (flags, payload)) in batch.opened.iter().enumerate() {
                    assert_eq!((*flags, &payload[..]), (frames[i].0, &frames[i].1[..]));
                }
                // The boxes after the bad one were not counted: the next good box opens.
                if bad_at + 1 < wire.len() && damage != "replayed" {
                    let next = s.open_frame(&wire[bad_at + 1]).unwrap();
                    assert_eq!(&next.1[..], &frames[bad_at + 1].1[..]);
                }
            }
        }
    }

    #[test]
    fn wrong_server_key_fails_at_welcome() {
        let random = counter_random();
        let server_keys = KeyPair::from_random([9u8; 32]);
        let impostor = KeyPair::from_random([8u8; 32]);
        let mut client =
            CurveClient::new(KeyPair::from_random([5u8; 32]), impostor.public, &random);
        let mut server = CurveServer::new(server_keys);
        // The server cannot open a HELLO boxed to another key.
        assert!(server.on_hello(&client.hello().unwrap(), &random).is_err());
    }

    #[test]
    fn negative_handshakes() {
        let random = counter_random();
        let server_keys = KeyPair::from_random([9u8; 32]);
        let mut client =
            CurveClient::new(KeyPair::from_random([5u8; 32]), server_keys.public, &random);
        let mut server = CurveServer::new(server_keys.clone());
        let hello = client.hello().unwrap();
        // HELLO of the wrong size.
        assert!(server.on_hello(&hello[..199], &random).is_err());
        // Bad HELLO box.
        let mut bad = hello.clone();
        bad[150] ^= 1;
        assert!(CurveServer::new(server_keys.clone())
            .on_hello(&bad, &random)
            .is_err());
        let welcome = server.on_hello(&hello, &random).unwrap();
        let initiate = client
            .on_welcome(&welcome, &Metadata::new(), &random)
            .unwrap();
        // Mismatched short key: INITIATE from another client's handshake.
        let mut other =
            CurveClient::new(KeyPair::from_random([6u8; 32]), server_keys.public, &random);
        let mut other_server = CurveServer::new(server_keys.clone());
        let other_welcome = other_server
            .on_hello(&other.hello().unwrap(), &random)
            .unwrap();
        let other_initiate = other
            .on_welcome(&other_welcome, &Metadata::new(), &random)
            .unwrap();
        assert!(server.on_initiate(&other_initiate).is_err());
        // The cookie key is gone after one attempt: replaying the real INITIATE fails too.
        assert!(server.on_initiate(&initiate).is_err());
        // Bad vouch: a fresh server, INITIATE with a corrupted vouch byte.
        let mut s2 = CurveServer::new(server_keys.clone());
        let mut c2 = CurveClient::new(KeyPair::from_random([5u8; 32]), server_keys.public, &random);
        let w2 = s2.on_hello(&c2.hello().unwrap(), &random).unwrap();
        let mut i2 = c2.on_welcome(&w2, &Metadata::new(), &random).unwrap();
        i2[113 + 16 + 40] ^= 1; // inside the INITIATE box: fails its MAC
        assert!(s2.on_initiate(&i2).is_err());
        // Oversize metadata is bounded by the metadata decoder's checks.
        let mut s3 = CurveServer::new(server_keys.clone());
        let mut c3 = CurveClient::new(KeyPair::from_random([5u8; 32]), server_keys.public, &random);
        let w3 = s3.on_hello(&c3.hello().unwrap(), &random).unwrap();
        let mut huge = Metadata::new();
        for i in 0..100 {
            huge.insert(&format!("X-{i}"), vec![0u8; 10]);
        }
        let i3 = c3.on_welcome(&w3, &huge, &random).unwrap();
        assert!(s3.on_initiate(&i3).is_err());
    }

    #[test]
    fn boxes_match_an_independent_implementation() {
        // RustCrypto's crypto_secretbox, keyed with the same precomputed key, opens our boxes.
        use crypto_secretbox::aead::{Aead, KeyInit};
        let (_, _, mut c, _, _) = handshake();
        let key = *c.key;
        let mut wire = Vec::new();
        c.seal_frame(2, b"cross-check", &mut wire);
        let nonce = short_nonce(
            b"CurveZMQMESSAGEC",
            u64::from_be_bytes(take::<8>(&wire[8..16])),
        );
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
        let plain = cipher.decrypt(&nonce.into(), &wire[16..]).unwrap();
        assert_eq!(plain, b"\x02cross-check");
    }
}
