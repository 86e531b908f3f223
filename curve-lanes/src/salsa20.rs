//! Scalar Salsa20/20, HSalsa20 and the XSalsa20 keystream, one block at a time.
//!
//! Written from Bernstein's "The Salsa20 family of stream ciphers" and "Extending the Salsa20 nonce".
//! The state is sixteen little-endian `u32` words laid out as
//!
//! ```text
//!  0: σ0     1: key0   2: key1   3: key2
//!  4: key3   5: σ1     6: in0    7: in1
//!  8: in2    9: in3   10: σ2    11: key4
//! 12: key5  13: key6  14: key7  15: σ3
//! ```
//!
//! where `in` is the nonce and block counter for Salsa20 (`in0..in1` nonce, `in2..in3` counter) and the
//! first 16 nonce bytes for HSalsa20. The AVX2 kernel uses the same layout, one box per `u32` lane.

/// "expand 32-byte k" as four little-endian words: state words 0, 5, 10 and 15.
pub(crate) const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Bytes in one Salsa20 block.
pub(crate) const BLOCK_LEN: usize = 64;

/// Bytes of block 0 that become the Poly1305 one-time key; the message starts after them.
pub(crate) const OTK_LEN: usize = 32;

/// Reads the `index`th little-endian word of `bytes`.
#[inline(always)]
pub(crate) fn word(bytes: &[u8], index: usize) -> u32 {
    let at = 4 * index;
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The eight key words of a 32-byte key.
#[inline(always)]
pub(crate) fn key_words(key: &[u8; 32]) -> [u32; 8] {
    core::array::from_fn(|i| word(key, i))
}

/// The initial state for a 256-bit key and four input words (nonce and counter, or HSalsa20's nonce).
#[inline(always)]
fn initial_state(key: &[u32; 8], input: [u32; 4]) -> [u32; 16] {
    [
        SIGMA[0], key[0], key[1], key[2], //
        key[3], SIGMA[1], input[0], input[1], //
        input[2], input[3], SIGMA[2], key[4], //
        key[5], key[6], key[7], SIGMA[3],
    ]
}

/// One Salsa20 quarter-round on the state words at `a`, `b`, `c`, `d`.
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
    x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
    x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
    x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
}

/// The twenty Salsa20 rounds (ten double rounds), without the final feed-forward addition.
#[inline(always)]
fn rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        // Column round.
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 5, 9, 13, 1);
        quarter_round(x, 10, 14, 2, 6);
        quarter_round(x, 15, 3, 7, 11);
        // Row round.
        quarter_round(x, 0, 1, 2, 3);
        quarter_round(x, 5, 6, 7, 4);
        quarter_round(x, 10, 11, 8, 9);
        quarter_round(x, 15, 12, 13, 14);
    }
}

/// HSalsa20: derives XSalsa20's subkey from the key and the first 16 nonce bytes.
///
/// The output is state words 0, 5, 10, 15, 6, 7, 8 and 9 after the rounds, with no feed-forward.
pub(crate) fn hsalsa20(key: &[u8; 32], nonce16: &[u8]) -> [u32; 8] {
    let input = [
        word(nonce16, 0),
        word(nonce16, 1),
        word(nonce16, 2),
        word(nonce16, 3),
    ];
    let mut x = initial_state(&key_words(key), input);
    rounds(&mut x);
    [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]]
}

/// One Salsa20/20 keystream block for a subkey, an 8-byte nonce (as two words) and a block counter.
pub(crate) fn block(subkey: &[u32; 8], nonce: [u32; 2], counter: u64) -> [u8; BLOCK_LEN] {
    let mut out = [0u8; BLOCK_LEN];
    block_into(&mut out, subkey, nonce, counter);
    out
}

/// [`block`], written into `out`.
#[inline]
fn block_into(out: &mut [u8; BLOCK_LEN], subkey: &[u32; 8], nonce: [u32; 2], counter: u64) {
    let input = [nonce[0], nonce[1], counter as u32, (counter >> 32) as u32];
    let start = initial_state(subkey, input);
    let mut x = start;
    rounds(&mut x);
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&x[i].wrapping_add(start[i]).to_le_bytes());
    }
}

/// The XSalsa20 keystream of one box, positioned as `crypto_secretbox` uses it.
///
/// Block 0's first [`OTK_LEN`] bytes are the Poly1305 key ([`Keystream::new`] returns them); message
/// byte `i` is XORed with keystream byte `OTK_LEN + i`.
pub(crate) struct Keystream {
    subkey: [u32; 8],
    nonce: [u32; 2],
}

impl Keystream {
    /// Derives the subkey and returns the keystream with the Poly1305 one-time key and the other half
    /// of block 0 (the keystream for message bytes `0..32`).
    pub(crate) fn new(
        key: &[u8; 32],
        nonce: &[u8; 24],
    ) -> (Self, [u8; OTK_LEN], [u8; BLOCK_LEN - OTK_LEN]) {
        let subkey = hsalsa20(key, &nonce[..16]);
        let stream = Self {
            subkey,
            nonce: [word(nonce, 4), word(nonce, 5)],
        };
        let mut block0 = block(&stream.subkey, stream.nonce, 0);
        let mut otk = [0u8; OTK_LEN];
        let mut tail = [0u8; BLOCK_LEN - OTK_LEN];
        otk.copy_from_slice(&block0[..OTK_LEN]);
        tail.copy_from_slice(&block0[OTK_LEN..]);
        zeroize::Zeroize::zeroize(&mut block0);
        (stream, otk, tail)
    }

    /// XORs `data` (the whole message) with the keystream, given block 0's tail from [`Keystream::new`].
    pub(crate) fn xor(&self, tail: &[u8; BLOCK_LEN - OTK_LEN], data: &mut [u8]) {
        let (head, rest) = data.split_at_mut(data.len().min(tail.len()));
        xor_into(head, tail);
        let mut keystream = [0u8; BLOCK_LEN];
        for (index, chunk) in rest.chunks_mut(BLOCK_LEN).enumerate() {
            block_into(&mut keystream, &self.subkey, self.nonce, index as u64 + 1);
            xor_into(chunk, &keystream);
        }
        zeroize::Zeroize::zeroize(&mut keystream);
    }
}

impl Drop for Keystream {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.subkey);
    }
}

/// `data[i] ^= keystream[i]` for every byte of `data` (`keystream` is at least as long).
#[inline(always)]
pub(crate) fn xor_into(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsalsa20_matches_the_nacl_core1_vector() {
        // libsodium test/default/core1.c and core1.exp (from NaCl's tests): HSalsa20 of this shared
        // secret with an all-zero 16-byte input is the `firstkey` of the secretbox test.
        let shared = hex32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let firstkey = hex32("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
        let words = hsalsa20(&shared, &[0u8; 16]);
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        assert_eq!(out, firstkey);
    }

    fn hex32(hex: &str) -> [u8; 32] {
        core::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    }
}
