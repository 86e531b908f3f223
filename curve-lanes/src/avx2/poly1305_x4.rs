//! Poly1305 for four messages at once, one message per 64-bit lane of a 256-bit register.
//!
//! The accumulator `h` and the key `r` of each message are five limbs in radix 2^26, the width
//! `vpmuludq` (a 32×32→64 multiply per lane) can take. A product's limbs at 2^130 and above fold back
//! in times 5 (2^130 ≡ 5 mod 2^130 - 5), hence the precomputed `5·r1 … 5·r4`:
//!
//! ```text
//! d0 = h0·r0 + h1·5r4 + h2·5r3 + h3·5r2 + h4·5r1
//! d1 = h0·r1 + h1·r0  + h2·5r4 + h3·5r3 + h4·5r2
//! d2 = h0·r2 + h1·r1  + h2·r0  + h3·5r4 + h4·5r3
//! d3 = h0·r3 + h1·r2  + h2·r1  + h3·r0  + h4·5r4
//! d4 = h0·r4 + h1·r3  + h2·r2  + h3·r1  + h4·r0
//! ```
//!
//! Bounds: limbs enter a block below 2^26 + 2^6 and message limbs are below 2^26, so a factor from
//! `h` is below 2^27.1, one from `r` below 5·2^26 < 2^28.4, a product below 2^55.5 and a sum of five
//! below 2^58: no lane overflows.
//!
//! The lanes go in lockstep, so only the blocks all four messages have are absorbed here. Each
//! lane's accumulator then goes back to the scalar [`State`], which absorbs the rest of its message
//! and makes the tag.

use core::arch::x86_64::*;

use crate::poly1305::{State, BLOCK_LEN, TAG_LEN};

/// The low 26 bits.
const MASK26: u64 = (1 << 26) - 1;

/// Register position `p` holds message `LANE_ORDER[p]`: the order in which unpacking two pairs of
/// 16-byte loads leaves them (the permutation is its own inverse).
const LANE_ORDER: [usize; 4] = [0, 2, 1, 3];

/// The tags of `4·G` messages, absorbing the blocks they all have in the lanes of `G` groups of
/// registers. The groups are independent chains, so `G = 2` keeps twice as many multiplies in
/// flight as one group, whose every block waits on the previous one.
#[target_feature(enable = "avx2")]
pub(crate) fn tags<const G: usize>(
    otks: [[&[u8; 32]; 4]; G],
    messages: [[&[u8]; 4]; G],
) -> [[[u8; TAG_LEN]; 4]; G] {
    let common = messages
        .as_flattened()
        .iter()
        .map(|m| m.len() / BLOCK_LEN)
        .min()
        .unwrap_or(0);
    let mut groups = otks.map(|otks| Lanes::new(otks));
    for block in 0..common {
        let at = block * BLOCK_LEN;
        for (lanes, messages) in groups.iter_mut().zip(&messages) {
            let piece = |i: usize| -> &[u8; BLOCK_LEN] {
                messages[i][at..at + BLOCK_LEN]
                    .try_into()
                    .expect("16 bytes")
            };
            lanes.absorb([piece(0), piece(1), piece(2), piece(3)]);
        }
    }
    let mut out = [[[0u8; TAG_LEN]; 4]; G];
    for (((lanes, otks), messages), out) in groups.iter().zip(otks).zip(messages).zip(&mut out) {
        let accumulators = lanes.accumulators();
        for (((otk, message), h), tag) in otks.into_iter().zip(messages).zip(accumulators).zip(out)
        {
            let mut state = State::resume(otk, h);
            state.update(&message[common * BLOCK_LEN..]);
            *tag = state.finish();
        }
    }
    out
}

/// Four Poly1305 computations in the lanes of registers.
struct Lanes {
    r: [__m256i; 5],
    /// `5·r1 … 5·r4`.
    r5: [__m256i; 4],
    h: [__m256i; 5],
}

impl Lanes {
    #[target_feature(enable = "avx2")]
    fn new(otks: [&[u8; 32]; 4]) -> Self {
        let r = otks.map(|otk| {
            let [lo, hi] = State::clamped_r(otk);
            limbs(lo, hi)
        });
        let lane = |limb: usize, times: u64| {
            let value = |p: usize| (r[LANE_ORDER[p]][limb] * times) as i64;
            _mm256_setr_epi64x(value(0), value(1), value(2), value(3))
        };
        Self {
            r: [lane(0, 1), lane(1, 1), lane(2, 1), lane(3, 1), lane(4, 1)],
            r5: [lane(1, 5), lane(2, 5), lane(3, 5), lane(4, 5)],
            h: [_mm256_setzero_si256(); 5],
        }
    }

    /// `h = (h + m + 2^128)·r` in every lane, for one full 16-byte block of each message.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn absorb(&mut self, blocks: [&[u8; BLOCK_LEN]; 4]) {
        let pair =
            |a: usize, b: usize| _mm256_set_m128i(load_block(blocks[b]), load_block(blocks[a]));
        let (x01, x23) = (pair(0, 1), pair(2, 3));
        // Low and high 64 bits of each block, positions in LANE_ORDER.
        let lo = _mm256_unpacklo_epi64(x01, x23);
        let hi = _mm256_unpackhi_epi64(x01, x23);
        let mask = _mm256_set1_epi64x(MASK26 as i64);
        let m = [
            _mm256_and_si256(lo, mask),
            _mm256_and_si256(_mm256_srli_epi64::<26>(lo), mask),
            _mm256_and_si256(
                _mm256_or_si256(_mm256_srli_epi64::<52>(lo), _mm256_slli_epi64::<12>(hi)),
                mask,
            ),
            _mm256_and_si256(_mm256_srli_epi64::<14>(hi), mask),
            // The block's 2^128 bit lands at bit 24 of the top limb.
            _mm256_or_si256(_mm256_srli_epi64::<40>(hi), _mm256_set1_epi64x(1 << 24)),
        ];
        let h = [
            _mm256_add_epi64(self.h[0], m[0]),
            _mm256_add_epi64(self.h[1], m[1]),
            _mm256_add_epi64(self.h[2], m[2]),
            _mm256_add_epi64(self.h[3], m[3]),
            _mm256_add_epi64(self.h[4], m[4]),
        ];
        let [r0, r1, r2, r3, r4] = self.r;
        let [s1, s2, s3, s4] = self.r5;
        let mul = |a: __m256i, b: __m256i| _mm256_mul_epu32(a, b);
        let sum5 = |a: __m256i, b: __m256i, c: __m256i, d: __m256i, e: __m256i| {
            _mm256_add_epi64(
                _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)),
                e,
            )
        };
        let mut d0 = sum5(
            mul(h[0], r0),
            mul(h[1], s4),
            mul(h[2], s3),
            mul(h[3], s2),
            mul(h[4], s1),
        );
        let mut d1 = sum5(
            mul(h[0], r1),
            mul(h[1], r0),
            mul(h[2], s4),
            mul(h[3], s3),
            mul(h[4], s2),
        );
        let mut d2 = sum5(
            mul(h[0], r2),
            mul(h[1], r1),
            mul(h[2], r0),
            mul(h[3], s4),
            mul(h[4], s3),
        );
        let mut d3 = sum5(
            mul(h[0], r3),
            mul(h[1], r2),
            mul(h[2], r1),
            mul(h[3], r0),
            mul(h[4], s4),
        );
        let mut d4 = sum5(
            mul(h[0], r4),
            mul(h[1], r3),
            mul(h[2], r2),
            mul(h[3], r1),
            mul(h[4], r0),
        );

        // Partial carry, two chains at once (d0→d1→d2→d3 and d3→d4→d0·5): every limb ends below
        // 2^26 except d1 and d4, which end below 2^26 + 2^6.
        let carry = |from: &mut __m256i, to: &mut __m256i| {
            *to = _mm256_add_epi64(*to, _mm256_srli_epi64::<26>(*from));
            *from = _mm256_and_si256(*from, mask);
        };
        carry(&mut d3, &mut d4);
        carry(&mut d0, &mut d1);
        let c = _mm256_srli_epi64::<26>(d4);
        d4 = _mm256_and_si256(d4, mask);
        d0 = _mm256_add_epi64(d0, _mm256_add_epi64(c, _mm256_slli_epi64::<2>(c)));
        carry(&mut d1, &mut d2);
        carry(&mut d0, &mut d1);
        carry(&mut d2, &mut d3);
        carry(&mut d3, &mut d4);
        self.h = [d0, d1, d2, d3, d4];
    }

    /// Each message's accumulator as `[h0, h1, h2]` (`h0 + h1·2^64 + h2·2^128`, `h2 ≤ 4`), in message
    /// order, for [`State::resume`].
    #[target_feature(enable = "avx2")]
    fn accumulators(&self) -> [[u64; 3]; 4] {
        let mut limbs = [[0u64; 4]; 5];
        for (out, h) in limbs.iter_mut().zip(self.h) {
            store_lanes(out, h);
        }
        core::array::from_fn(|message| {
            let p = LANE_ORDER[message];
            let mut l = [
                limbs[0][p],
                limbs[1][p],
                limbs[2][p],
                limbs[3][p],
                limbs[4][p],
            ];
            // Full carry: l0, l2, l3, l4 below 2^26 and l1 at most 2^26 afterwards.
            for i in 0..4 {
                l[i + 1] += l[i] >> 26;
                l[i] &= MASK26;
            }
            let c = l[4] >> 26;
            l[4] &= MASK26;
            l[0] += c * 5;
            l[1] += l[0] >> 26;
            l[0] &= MASK26;
            let low = u128::from(l[0])
                + (u128::from(l[1]) << 26)
                + (u128::from(l[2]) << 52)
                + (u128::from(l[3]) << 78);
            let (sum, overflow) = low.overflowing_add(u128::from(l[4] & ((1 << 24) - 1)) << 104);
            [
                sum as u64,
                (sum >> 64) as u64,
                (l[4] >> 24) + u64::from(overflow),
            ]
        })
    }
}

/// The clamped `r` (`lo + hi·2^64`, below 2^124) as five 26-bit limbs.
fn limbs(lo: u64, hi: u64) -> [u64; 5] {
    [
        lo & MASK26,
        (lo >> 26) & MASK26,
        ((lo >> 52) | (hi << 12)) & MASK26,
        (hi >> 14) & MASK26,
        hi >> 40,
    ]
}

/// 16 bytes into a 128-bit register.
#[target_feature(enable = "avx2")]
#[inline]
fn load_block(block: &[u8; BLOCK_LEN]) -> __m128i {
    // SAFETY: `block` is a reference to 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
}

/// A register's four 64-bit lanes into four words.
#[target_feature(enable = "avx2")]
#[inline]
fn store_lanes(out: &mut [u64; 4], value: __m256i) {
    // SAFETY: `out` is a unique reference to 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), value) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poly1305::tag;

    /// Eight messages of different lengths and fills under keys chosen to push the limbs to their
    /// bounds (all-ones `r` and `s`, all-ones blocks) and away from them, against the scalar code.
    #[test]
    fn lanes_match_the_scalar_code_at_the_bounds() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("skipping: this CPU has no AVX2");
            return;
        }
        let keys: [[u8; 32]; 8] = core::array::from_fn(|i| match i % 4 {
            0 => [0xff; 32],
            1 => [0; 32],
            2 => core::array::from_fn(|j| if j < 16 { 0xff } else { 0 }),
            _ => core::array::from_fn(|j| (j as u8).wrapping_mul(73) ^ (i as u8)),
        });
        for shared in [0usize, 1, 4, 31] {
            for fill in [0xffu8, 0x00, 0xa5] {
                let messages: [Vec<u8>; 8] = core::array::from_fn(|i| {
                    let len = shared * BLOCK_LEN + i * 7 % 23;
                    (0..len)
                        .map(|j| {
                            if fill == 0xa5 {
                                (j * 31 + i) as u8
                            } else {
                                fill
                            }
                        })
                        .collect()
                });
                let expected: [[u8; 16]; 8] = core::array::from_fn(|i| tag(&keys[i], &messages[i]));
                let otks: [[&[u8; 32]; 4]; 2] =
                    core::array::from_fn(|g| core::array::from_fn(|j| &keys[4 * g + j]));
                let texts: [[&[u8]; 4]; 2] = core::array::from_fn(|g| {
                    core::array::from_fn(|j| messages[4 * g + j].as_slice())
                });
                // SAFETY: the CPU supports AVX2, checked above.
                let two = unsafe { tags::<2>(otks, texts) };
                assert_eq!(
                    two.as_flattened(),
                    &expected,
                    "two groups, {shared} shared blocks"
                );
                // SAFETY: as above.
                let one = unsafe { tags::<1>([otks[1]], [texts[1]]) };
                assert_eq!(one[0], expected[4..], "one group, {shared} shared blocks");
            }
        }
    }
}
