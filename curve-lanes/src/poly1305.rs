//! Scalar Poly1305 (RFC 8439 section 2.5; NaCl's `crypto_onetimeauth`), and the tag comparison.
//!
//! The accumulator `h` is held in radix 2^64 as `h0 + h1·2^64 + h2·2^128`, with `h2` a few bits; the
//! clamped key `r` is `r0 + r1·2^64`. Clamping clears the low two bits of `r1`, so
//! `r1·2^128 ≡ (r1 / 4)·5 = r1 + (r1 >> 2) (mod 2^130 - 5)`: that is `s1`, and the product `h·r` needs
//! four 64×64→128 multiplies and two small ones per 16-byte block.
//!
//! Bounds, kept by [`State::absorb`]: on entry `h2 ≤ 4` (after the partial reduction), so after adding
//! a block `h2 ≤ 6`; with `r0, r1 < 2^60` and `s1 < 2^61` every product and sum below fits its type.

use zeroize::Zeroize;

/// Bytes in a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// Bytes in one Poly1305 message block.
pub(crate) const BLOCK_LEN: usize = 16;

/// A Poly1305 computation in progress.
pub(crate) struct State {
    r0: u64,
    r1: u64,
    s1: u64,
    h0: u64,
    h1: u64,
    h2: u64,
    /// The second half of the one-time key, added to the reduced accumulator at the end.
    pad: [u64; 2],
}

impl State {
    /// Starts a computation keyed by the 32-byte one-time key (`r` then `s`).
    pub(crate) fn new(otk: &[u8; 32]) -> Self {
        let [r0, r1] = Self::clamped_r(otk);
        Self {
            r0,
            r1,
            s1: r1 + (r1 >> 2),
            h0: 0,
            h1: 0,
            h2: 0,
            pad: [le64(&otk[16..24]), le64(&otk[24..32])],
        }
    }

    /// Continues a computation whose accumulator is `h`, given as `h0 + h1·2^64 + h2·2^128` with
    /// `h2 ≤ 4` (what the AVX2 kernel hands over after absorbing the blocks its lanes shared).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn resume(otk: &[u8; 32], h: [u64; 3]) -> Self {
        debug_assert!(h[2] <= 4, "accumulator above the bound `absorb` relies on");
        let mut state = Self::new(otk);
        [state.h0, state.h1, state.h2] = h;
        state
    }

    /// The clamped `r` half of a one-time key, as `r0 + r1·2^64`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn clamped_r(otk: &[u8; 32]) -> [u64; 2] {
        [
            le64(&otk[0..8]) & 0x0fff_fffc_0fff_ffff,
            le64(&otk[8..16]) & 0x0fff_fffc_0fff_fffc,
        ]
    }

    /// `h = (h + m + hibit·2^128)·r`, partially reduced mod 2^130 - 5.
    #[inline(always)]
    fn absorb(&mut self, m0: u64, m1: u64, hibit: u64) {
        let t = u128::from(self.h0) + u128::from(m0);
        let h0 = t as u64;
        let t = u128::from(self.h1) + u128::from(m1) + (t >> 64);
        let h1 = t as u64;
        let h2 = self.h2 + (t >> 64) as u64 + hibit;

        let d0 = mul(h0, self.r0) + mul(h1, self.s1);
        let d1 = mul(h0, self.r1) + mul(h1, self.r0) + u128::from(h2 * self.s1) + (d0 >> 64);
        let d2 = h2 * self.r0 + (d1 >> 64) as u64;

        // d2 holds the bits from 2^128 up; fold everything from 2^130 up back in times 5:
        // (d2 >> 2)·5 = (d2 & !3) + (d2 >> 2), below 2^64 since d2 < 2^63 + 2^61.
        let t = u128::from(d0 as u64) + u128::from((d2 & !3) + (d2 >> 2));
        self.h0 = t as u64;
        let t = u128::from(d1 as u64) + (t >> 64);
        self.h1 = t as u64;
        self.h2 = (d2 & 3) + (t >> 64) as u64;
    }

    /// Absorbs `message`, padding a final partial block with `0x01` then zeros (no high bit).
    pub(crate) fn update(&mut self, message: &[u8]) {
        let mut blocks = message.chunks_exact(BLOCK_LEN);
        for block in &mut blocks {
            self.absorb(le64(&block[0..8]), le64(&block[8..16]), 1);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; BLOCK_LEN];
            last[..rest.len()].copy_from_slice(rest);
            last[rest.len()] = 1;
            self.absorb(le64(&last[0..8]), le64(&last[8..16]), 0);
            last.zeroize();
        }
    }

    /// The tag: `(h mod 2^130 - 5) + s`, modulo 2^128.
    pub(crate) fn finish(mut self) -> [u8; TAG_LEN] {
        // h < 2^130 + 2^66 here, so one conditional subtraction of p = 2^130 - 5 reduces it fully:
        // h ≥ p exactly when h + 5 reaches 2^130. Select without branching on secret data.
        let t = u128::from(self.h0) + 5;
        let g0 = t as u64;
        let t = u128::from(self.h1) + (t >> 64);
        let g1 = t as u64;
        let g2 = self.h2 + (t >> 64) as u64;
        let use_g = 0u64.wrapping_sub(g2 >> 2);
        let h0 = (self.h0 & !use_g) | (g0 & use_g);
        let h1 = (self.h1 & !use_g) | (g1 & use_g);

        let t = u128::from(h0) + u128::from(self.pad[0]);
        let f0 = t as u64;
        let f1 = h1.wrapping_add(self.pad[1]).wrapping_add((t >> 64) as u64);
        let mut tag = [0u8; TAG_LEN];
        tag[..8].copy_from_slice(&f0.to_le_bytes());
        tag[8..].copy_from_slice(&f1.to_le_bytes());
        self.wipe();
        tag
    }

    fn wipe(&mut self) {
        self.r0.zeroize();
        self.r1.zeroize();
        self.s1.zeroize();
        self.h0.zeroize();
        self.h1.zeroize();
        self.h2.zeroize();
        self.pad.zeroize();
    }
}

/// The Poly1305 tag of `message` under the one-time key `otk`.
pub(crate) fn tag(otk: &[u8; 32], message: &[u8]) -> [u8; TAG_LEN] {
    let mut state = State::new(otk);
    state.update(message);
    state.finish()
}

/// Whether two tags are equal, in time that does not depend on where they differ.
pub(crate) fn tags_equal(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        difference |= x ^ y;
    }
    // Keep the optimiser from turning the fold into an early-exit comparison.
    core::hint::black_box(difference) == 0
}

#[inline(always)]
fn mul(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

#[inline(always)]
fn le64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hex: &str) -> Vec<u8> {
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc8439_section_2_5_2_example() {
        // RFC 8439 section 2.5.2: key and message "Cryptographic Forum Research Group".
        let key: [u8; 32] = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
            .try_into()
            .unwrap();
        let t = tag(&key, b"Cryptographic Forum Research Group");
        assert_eq!(t.to_vec(), hex("a8061dc1305136c6c22b8baf0c0127a9"));
    }

    #[test]
    fn extreme_keys_and_messages_match_dryoc() {
        // All-ones keys and blocks keep `h2` at its bound on every block; all-zero and mixed ones
        // exercise the final conditional subtraction. dryoc's crypto_onetimeauth is the reference.
        let mut keys = vec![[0xffu8; 32], [0u8; 32]];
        keys.push(core::array::from_fn(|i| if i < 16 { 0xff } else { 0 }));
        keys.push(core::array::from_fn(|i| (i as u8).wrapping_mul(73) ^ 0xa5));
        for key in &keys {
            for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 16 * 9 + 7, 1000] {
                for fill in [0x00u8, 0xff, 0x5a] {
                    let message = vec![fill; len];
                    let mut expected = [0u8; 16];
                    dryoc::classic::crypto_onetimeauth::crypto_onetimeauth(
                        &mut expected,
                        &message,
                        key,
                    );
                    assert_eq!(tag(key, &message), expected, "len {len} fill {fill:#x}");
                }
            }
        }
    }

    #[test]
    fn tags_equal_sees_every_byte() {
        let a = [7u8; 16];
        assert!(tags_equal(&a, &a));
        for i in 0..16 {
            let mut b = a;
            b[i] ^= 0x80;
            assert!(!tags_equal(&a, &b));
        }
    }
}
