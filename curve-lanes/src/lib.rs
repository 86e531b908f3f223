//! Seals and opens many XSalsa20-Poly1305 secretboxes in one call.
//!
//! Each box is NaCl's `crypto_secretbox` in its detached form, byte for byte what libsodium's
//! `crypto_secretbox_detached` and `crypto_secretbox_open_detached` produce and accept:
//!
//! ```text
//! subkey    = HSalsa20(key, nonce[0..16])
//! keystream = Salsa20(subkey, nonce[16..24]), blocks 0, 1, 2, …
//! otk       = keystream[0..32]                      the Poly1305 one-time key
//! data[i]  ^= keystream[32 + i]                     encryption and decryption alike
//! mac       = Poly1305(otk, ciphertext)
//! ```
//!
//! [`seal_all`] and [`open_all`] take a batch of boxes with independent keys, nonces and lengths. On an
//! x86-64 CPU with AVX2 they run an eight-lane kernel: each `u32` lane of a 256-bit register holds one
//! box's state word, so one pass of the Salsa20 rounds yields eight 64-byte blocks, for eight boxes or
//! eight blocks of fewer boxes, and Poly1305 runs one box per 64-bit lane. Elsewhere, and for
//! [`seal_one`] and [`open_one`], a scalar implementation does the same work one box at a time.
//! [`kernel`] says which one this CPU gets; both give the same bytes.
//!
//! This crate does no I/O, allocates nothing, and chooses no nonces: a nonce must never repeat
//! under one key, and that is the caller's to guarantee (CurveZMQ's short nonces are a counter).
//! The buffers that hold subkeys, one-time keys and keystream between steps are zeroed before a
//! call returns; what the compiler spills from registers to the stack is not.
//!
//! ```
//! use ringmq_curve_lanes::{open_all, seal_all, Open, Seal};
//!
//! let (key, nonce) = ([7u8; 32], [9u8; 24]);
//! let mut data = *b"hello, lanes";
//! let mut mac = [0u8; 16];
//! seal_all(&mut [Seal { key: &key, nonce: &nonce, data: &mut data, mac: &mut mac }]);
//!
//! let mut ok = [false];
//! open_all(&mut [Open { key: &key, nonce: &nonce, data: &mut data, mac: &mac }], &mut ok);
//! assert!(ok[0]);
//! assert_eq!(&data, b"hello, lanes");
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(target_arch = "x86_64")]
mod avx2;
mod poly1305;
mod salsa20;

use zeroize::Zeroize;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Bytes in a nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes in a tag (the detached MAC).
pub const MAC_LEN: usize = poly1305::TAG_LEN;

/// One box to seal: `data` is encrypted in place and its Poly1305 tag written to `mac`.
#[derive(Debug)]
pub struct Seal<'a> {
    /// The secret key shared by both ends.
    pub key: &'a [u8; KEY_LEN],
    /// This box's nonce; never reuse one under the same key.
    pub nonce: &'a [u8; NONCE_LEN],
    /// The plaintext on entry, the ciphertext on return (same length, any length).
    pub data: &'a mut [u8],
    /// Where the tag goes.
    pub mac: &'a mut [u8; MAC_LEN],
}

/// One box to open: its tag is verified first, and `data` is decrypted in place only if it matches.
#[derive(Debug)]
pub struct Open<'a> {
    /// The secret key shared by both ends.
    pub key: &'a [u8; KEY_LEN],
    /// The nonce the box was sealed with.
    pub nonce: &'a [u8; NONCE_LEN],
    /// The ciphertext on entry; the plaintext on return if the box is authentic, else unchanged.
    pub data: &'a mut [u8],
    /// The tag that came with the ciphertext.
    pub mac: &'a [u8; MAC_LEN],
}

/// What the AVX2 kernel needs from [`Seal`] and [`Open`] alike.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait Secretbox {
    fn key(&self) -> &[u8; KEY_LEN];
    fn nonce(&self) -> &[u8; NONCE_LEN];
    fn data(&mut self) -> &mut [u8];
    fn message(&self) -> &[u8];
}

/// Both box kinds hold the same fields under the same names.
macro_rules! impl_secretbox {
    ($($kind:ident),*) => {$(
        impl Secretbox for $kind<'_> {
            fn key(&self) -> &[u8; KEY_LEN] {
                self.key
            }
            fn nonce(&self) -> &[u8; NONCE_LEN] {
                self.nonce
            }
            fn data(&mut self) -> &mut [u8] {
                self.data
            }
            fn message(&self) -> &[u8] {
                self.data
            }
        }
    )*};
}

impl_secretbox!(Seal, Open);

/// Seals every box: encrypts each `data` in place and writes each `mac`.
///
/// Boxes are independent: keys, nonces and lengths (zero included) may all differ.
pub fn seal_all(boxes: &mut [Seal<'_>]) {
    if !seal_all_avx2(boxes) {
        seal_all_scalar(boxes);
    }
}

/// Opens every box: `ok[i]` says whether box `i` was authentic.
///
/// An authentic box's `data` is decrypted in place; an inauthentic one's is left as it was, and the
/// other boxes of the batch are opened regardless. Tags are compared in constant time.
///
/// # Panics
///
/// If `ok.len() != boxes.len()`.
pub fn open_all(boxes: &mut [Open<'_>], ok: &mut [bool]) {
    if !open_all_avx2(boxes, ok) {
        open_all_scalar(boxes, ok);
    }
}

/// Seals one box on the scalar path and returns its tag.
#[must_use = "the box cannot be opened without its tag"]
pub fn seal_one(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], data: &mut [u8]) -> [u8; MAC_LEN] {
    let (stream, mut otk, mut tail) = salsa20::Keystream::new(key, nonce);
    stream.xor(&tail, data);
    let mac = poly1305::tag(&otk, data);
    otk.zeroize();
    tail.zeroize();
    mac
}

/// Opens one box on the scalar path: returns whether it was authentic, and decrypts `data` in place
/// only if so.
#[must_use = "an unauthentic box is left encrypted; check before using `data`"]
pub fn open_one(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    data: &mut [u8],
    mac: &[u8; MAC_LEN],
) -> bool {
    let (stream, mut otk, mut tail) = salsa20::Keystream::new(key, nonce);
    let authentic = poly1305::tags_equal(&poly1305::tag(&otk, data), mac);
    if authentic {
        stream.xor(&tail, data);
    }
    otk.zeroize();
    tail.zeroize();
    authentic
}

/// Which kernel [`seal_all`] and [`open_all`] use on this CPU: `"avx2"` or `"scalar"`.
pub fn kernel() -> &'static str {
    if avx2_available() {
        "avx2"
    } else {
        "scalar"
    }
}

fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`seal_all`] on the scalar path, whatever the CPU (for tests and benchmarks).
#[doc(hidden)]
pub fn seal_all_scalar(boxes: &mut [Seal<'_>]) {
    for b in boxes {
        *b.mac = seal_one(b.key, b.nonce, b.data);
    }
}

/// [`open_all`] on the scalar path, whatever the CPU (for tests and benchmarks).
///
/// # Panics
///
/// If `ok.len() != boxes.len()`.
#[doc(hidden)]
pub fn open_all_scalar(boxes: &mut [Open<'_>], ok: &mut [bool]) {
    assert_eq!(ok.len(), boxes.len(), "one `ok` flag per box");
    for (b, ok) in boxes.iter_mut().zip(ok) {
        *ok = open_one(b.key, b.nonce, b.data, b.mac);
    }
}

/// [`seal_all`] on the AVX2 kernel; returns `false`, touching nothing, where the CPU lacks AVX2.
#[doc(hidden)]
pub fn seal_all_avx2(boxes: &mut [Seal<'_>]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { avx2::seal_all(boxes) };
        return true;
    }
    let _ = boxes;
    false
}

/// [`open_all`] on the AVX2 kernel; returns `false`, touching nothing, where the CPU lacks AVX2.
///
/// # Panics
///
/// If `ok.len() != boxes.len()`.
#[doc(hidden)]
pub fn open_all_avx2(boxes: &mut [Open<'_>], ok: &mut [bool]) -> bool {
    assert_eq!(ok.len(), boxes.len(), "one `ok` flag per box");
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { avx2::open_all(boxes, ok) };
        return true;
    }
    let _ = (boxes, ok);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hex: &str) -> Vec<u8> {
        let hex: String = hex.split_whitespace().collect();
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// libsodium test/default/secretbox.c and secretbox.exp (NaCl's secretbox test): `firstkey`,
    /// `nonce`, the 131-byte message after the 32 zero bytes of the old API, and the output, whose
    /// bytes 16..32 are the tag and 32.. the ciphertext.
    struct Vector {
        key: [u8; 32],
        nonce: [u8; 24],
        message: Vec<u8>,
        mac: [u8; 16],
        ciphertext: Vec<u8>,
    }

    fn nacl_vector() -> Vector {
        Vector {
            key: hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
                .try_into()
                .unwrap(),
            nonce: hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
                .try_into()
                .unwrap(),
            message: hex("
                be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc
                e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31
                0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde
                048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864
                5e0705"),
            mac: hex("f3ffc7703f9400e52a7dfb4b3d3305d9").try_into().unwrap(),
            ciphertext: hex("
                8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a
                c0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738
                b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da
                99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74
                e355a5"),
        }
    }

    #[test]
    fn nacl_vector_seals_and_opens_on_every_path() {
        let v = nacl_vector();
        assert_eq!(v.message.len(), 131);

        let mut data = v.message.clone();
        assert_eq!(seal_one(&v.key, &v.nonce, &mut data), v.mac);
        assert_eq!(data, v.ciphertext);
        assert!(open_one(&v.key, &v.nonce, &mut data, &v.mac));
        assert_eq!(data, v.message);

        type SealPath = fn(&mut [Seal<'_>]);
        let seal_paths: [(&str, SealPath); 2] =
            [("seal_all", seal_all), ("seal_all_scalar", seal_all_scalar)];
        for (name, seal) in seal_paths {
            // Nine copies: one full group of eight lanes and a leftover box.
            let mut datas = vec![v.message.clone(); 9];
            let mut macs = [[0u8; 16]; 9];
            let mut boxes: Vec<Seal<'_>> = datas
                .iter_mut()
                .zip(&mut macs)
                .map(|(data, mac)| Seal {
                    key: &v.key,
                    nonce: &v.nonce,
                    data,
                    mac,
                })
                .collect();
            seal(&mut boxes);
            drop(boxes);
            for (data, mac) in datas.iter().zip(&macs) {
                assert_eq!(*data, v.ciphertext, "{name}");
                assert_eq!(*mac, v.mac, "{name}");
            }
        }

        if avx2_available() {
            let mut data = v.message.clone();
            let mut mac = [0u8; 16];
            assert!(seal_all_avx2(&mut [Seal {
                key: &v.key,
                nonce: &v.nonce,
                data: &mut data,
                mac: &mut mac,
            }]));
            assert_eq!((data.clone(), mac), (v.ciphertext.clone(), v.mac));
            let mut ok = [false];
            assert!(open_all_avx2(
                &mut [Open {
                    key: &v.key,
                    nonce: &v.nonce,
                    data: &mut data,
                    mac: &v.mac
                }],
                &mut ok,
            ));
            assert!(ok[0]);
            assert_eq!(data, v.message);
        }
    }

    #[test]
    fn kernel_names_the_path() {
        assert_eq!(kernel(), if avx2_available() { "avx2" } else { "scalar" });
    }

    #[test]
    #[should_panic(expected = "one `ok` flag per box")]
    fn open_all_wants_one_flag_per_box() {
        let (key, nonce, mac) = ([0u8; 32], [0u8; 24], [0u8; 16]);
        let mut data = [0u8; 4];
        open_all(
            &mut [Open {
                key: &key,
                nonce: &nonce,
                data: &mut data,
                mac: &mac,
            }],
            &mut [],
        );
    }
}
