//! Every path against two independent implementations of `crypto_secretbox_detached`: dryoc (a port
//! of libsodium) and RustCrypto's `crypto_secretbox`, on random batches that mix keys, nonces and
//! lengths. The generator is seeded, so a failure names the seed and batch that reproduce it.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use dryoc::classic::crypto_secretbox::{crypto_secretbox_detached, crypto_secretbox_open_detached};
use ringmq_curve_lanes::{
    kernel, open_all, open_all_avx2, open_all_scalar, open_one, seal_all, seal_all_avx2,
    seal_all_scalar, seal_one, Open, Seal,
};

/// SplitMix64: tiny, seedable, and good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

/// Lengths around every block boundary that matters: Poly1305's 16, the 32 bytes of block 0 left for
/// data, Salsa20's 64, and a box longer than 64 KiB.
const EDGE_LENGTHS: [usize; 14] = [0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 1000, 4096, 65537];

/// One box's inputs and the references' outputs.
#[derive(Clone)]
struct Case {
    key: [u8; 32],
    nonce: [u8; 24],
    plain: Vec<u8>,
    cipher: Vec<u8>,
    mac: [u8; 16],
}

impl Case {
    fn random(rng: &mut Rng, len: usize) -> Self {
        let key = rng.array();
        let nonce = rng.array();
        let mut plain = vec![0u8; len];
        rng.fill(&mut plain);

        let mut cipher = vec![0u8; len];
        let mut mac = [0u8; 16];
        crypto_secretbox_detached(&mut cipher, &mut mac, &plain, &nonce, &key).unwrap();

        // RustCrypto must agree with dryoc before either is trusted as the reference.
        let mut theirs = plain.clone();
        let tag = XSalsa20Poly1305::new(&key.into())
            .encrypt_in_place_detached(&nonce.into(), b"", &mut theirs)
            .unwrap();
        assert_eq!(
            theirs, cipher,
            "dryoc and crypto_secretbox disagree on a ciphertext"
        );
        assert_eq!(
            tag.as_slice(),
            mac,
            "dryoc and crypto_secretbox disagree on a tag"
        );

        Self {
            key,
            nonce,
            plain,
            cipher,
            mac,
        }
    }
}

/// A batch of `count` boxes: mostly edge lengths, some random up to 5000 bytes, a long one rarely.
fn random_batch(rng: &mut Rng, count: usize) -> Vec<Case> {
    (0..count)
        .map(|_| {
            let len = match rng.below(8) {
                0..=4 => EDGE_LENGTHS[rng.below(EDGE_LENGTHS.len() - 1)],
                5 | 6 => rng.below(5000),
                _ if rng.below(4) == 0 => EDGE_LENGTHS[EDGE_LENGTHS.len() - 1],
                _ => rng.below(300),
            };
            Case::random(rng, len)
        })
        .collect()
}

type SealAll = fn(&mut [Seal<'_>]);
type OpenAll = fn(&mut [Open<'_>], &mut [bool]);

/// The paths under test, by name; the AVX2 one only where the CPU has AVX2.
fn paths() -> Vec<(&'static str, SealAll, OpenAll)> {
    let mut paths: Vec<(&'static str, SealAll, OpenAll)> = vec![
        ("seal_all/open_all", seal_all, open_all),
        ("scalar", seal_all_scalar, open_all_scalar),
    ];
    if avx2() {
        paths.push((
            "avx2",
            |boxes| assert!(seal_all_avx2(boxes)),
            |boxes, ok| assert!(open_all_avx2(boxes, ok)),
        ));
    }
    paths
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Seals the batch with `seal`, checks it against the references, then opens it with `open`.
fn check_batch(cases: &[Case], name: &str, seal: SealAll, open: OpenAll, context: &str) {
    let mut data: Vec<Vec<u8>> = cases.iter().map(|c| c.plain.clone()).collect();
    let mut macs = vec![[0u8; 16]; cases.len()];
    let mut boxes: Vec<Seal<'_>> = cases
        .iter()
        .zip(data.iter_mut().zip(&mut macs))
        .map(|(c, (data, mac))| Seal {
            key: &c.key,
            nonce: &c.nonce,
            data,
            mac,
        })
        .collect();
    seal(&mut boxes);
    drop(boxes);
    for (i, c) in cases.iter().enumerate() {
        let len = c.plain.len();
        assert!(
            data[i] == c.cipher,
            "{name}: ciphertext of box {i} ({len} B), {context}"
        );
        assert_eq!(
            macs[i], c.mac,
            "{name}: tag of box {i} ({len} B), {context}"
        );
    }

    let mut ok = vec![false; cases.len()];
    let mut boxes: Vec<Open<'_>> = cases
        .iter()
        .zip(data.iter_mut().zip(&macs))
        .map(|(c, (data, mac))| Open {
            key: &c.key,
            nonce: &c.nonce,
            data,
            mac,
        })
        .collect();
    open(&mut boxes, &mut ok);
    drop(boxes);
    for (i, c) in cases.iter().enumerate() {
        let len = c.plain.len();
        assert!(ok[i], "{name}: box {i} ({len} B) rejected, {context}");
        assert!(
            data[i] == c.plain,
            "{name}: plaintext of box {i} ({len} B), {context}"
        );
    }
}

#[test]
fn every_path_matches_dryoc_and_crypto_secretbox_on_random_batches() {
    for seed in 0..3u64 {
        let mut rng = Rng(seed);
        for count in 1..=20 {
            let cases = random_batch(&mut rng, count);
            for (name, seal, open) in paths() {
                check_batch(
                    &cases,
                    name,
                    seal,
                    open,
                    &format!("seed {seed}, batch of {count}"),
                );
            }
        }
    }
}

#[test]
fn every_edge_length_in_one_batch_and_across_chunks() {
    let mut rng = Rng(42);
    // All edge lengths side by side, then enough boxes to span several of the kernel's chunks
    // (it holds 32 boxes' keys at a time) with lengths cycling through the edges.
    let edges: Vec<Case> = EDGE_LENGTHS
        .iter()
        .map(|&len| Case::random(&mut rng, len))
        .collect();
    let many: Vec<Case> = (0..100)
        .map(|i| Case::random(&mut rng, EDGE_LENGTHS[i % 13] + i % 3))
        .collect();
    let one_long = vec![Case::random(&mut rng, 200_003)];
    for (name, seal, open) in paths() {
        check_batch(&edges, name, seal, open, "edge lengths");
        check_batch(&many, name, seal, open, "100 boxes");
        check_batch(&one_long, name, seal, open, "one 200 KB box");
    }
}

#[test]
fn every_length_up_to_ten_blocks() {
    // Every length from 0 to 650 bytes: each way a box can end inside a Poly1305 block, a half
    // keystream block, a block, and a run of eight whole blocks (the kernel's 512-byte XOR covers
    // blocks 1..=8, data bytes 32..544). Batches of 13 keep lanes, chunks and groups unaligned.
    let mut rng = Rng(17);
    let cases: Vec<Case> = (0..=650).map(|len| Case::random(&mut rng, len)).collect();
    for (name, seal, open) in paths() {
        for (i, batch) in cases.chunks(13).enumerate() {
            check_batch(batch, name, seal, open, &format!("lengths from {}", 13 * i));
        }
        // Reversed, so a long box comes first and the short ones fill the lanes it leaves.
        let reversed: Vec<Case> = cases.iter().rev().take(40).cloned().collect();
        check_batch(&reversed, name, seal, open, "longest first");
    }
}

#[test]
fn avx2_path_is_tested_where_the_cpu_has_it() {
    // The random tests above include the AVX2 path only where it exists; say so when it does not,
    // and check that `kernel` agrees with the detection the tests use.
    if !avx2() {
        eprintln!("skipping: this CPU has no AVX2, only the scalar path was tested");
        assert_eq!(kernel(), "scalar");
        return;
    }
    assert_eq!(kernel(), "avx2");
    let mut rng = Rng(7);
    let cases = random_batch(&mut rng, 17);
    check_batch(
        &cases,
        "avx2",
        |b| assert!(seal_all_avx2(b)),
        |b, ok| assert!(open_all_avx2(b, ok)),
        "seed 7",
    );
}

#[test]
fn one_box_helpers_match_the_references() {
    let mut rng = Rng(9);
    for &len in &EDGE_LENGTHS {
        let c = Case::random(&mut rng, len);
        let mut data = c.plain.clone();
        assert_eq!(seal_one(&c.key, &c.nonce, &mut data), c.mac, "{len} B");
        assert!(data == c.cipher, "{len} B");
        assert!(open_one(&c.key, &c.nonce, &mut data, &c.mac), "{len} B");
        assert!(data == c.plain, "{len} B");
    }
}

#[test]
fn tampered_boxes_are_rejected_untouched_and_the_rest_still_open() {
    let mut rng = Rng(11);
    for count in [1usize, 3, 8, 9, 20, 40] {
        let cases = random_batch(&mut rng, count);
        // Box i is tampered with when i % 3 == 1: a bit of its data (if any) or of its tag flipped.
        let mut boxed: Vec<(Vec<u8>, [u8; 16])> =
            cases.iter().map(|c| (c.cipher.clone(), c.mac)).collect();
        let mut tampered = vec![false; count];
        for (i, (data, mac)) in boxed.iter_mut().enumerate() {
            if i % 3 != 1 {
                continue;
            }
            tampered[i] = true;
            if !data.is_empty() && rng.below(2) == 0 {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            } else {
                mac[rng.below(16)] ^= 1 << rng.below(8);
            }
        }
        for (name, _, open) in paths() {
            let mut data: Vec<Vec<u8>> = boxed.iter().map(|(d, _)| d.clone()).collect();
            let mut ok = vec![true; count];
            let mut boxes: Vec<Open<'_>> = cases
                .iter()
                .zip(data.iter_mut().zip(&boxed))
                .map(|(c, (data, (_, mac)))| Open {
                    key: &c.key,
                    nonce: &c.nonce,
                    data,
                    mac,
                })
                .collect();
            open(&mut boxes, &mut ok);
            drop(boxes);
            for i in 0..count {
                if tampered[i] {
                    assert!(!ok[i], "{name}: tampered box {i} of {count} accepted");
                    assert!(
                        data[i] == boxed[i].0,
                        "{name}: tampered box {i} of {count} modified"
                    );
                    // dryoc agrees that it is a forgery.
                    let mut scratch = vec![0u8; data[i].len()];
                    let verdict = crypto_secretbox_open_detached(
                        &mut scratch,
                        &boxed[i].0,
                        &boxed[i].1,
                        &cases[i].nonce,
                        &cases[i].key,
                    );
                    assert!(verdict.is_err());
                } else {
                    assert!(ok[i], "{name}: authentic box {i} of {count} rejected");
                    assert!(
                        data[i] == cases[i].plain,
                        "{name}: box {i} of {count} misdecrypted"
                    );
                }
            }
        }
    }
}

#[test]
fn wrong_key_or_nonce_is_rejected() {
    let mut rng = Rng(13);
    let c = Case::random(&mut rng, 100);
    let mut other_key = c.key;
    other_key[31] ^= 0x80;
    let mut other_nonce = c.nonce;
    other_nonce[23] ^= 0x01;
    for (key, nonce) in [(&other_key, &c.nonce), (&c.key, &other_nonce)] {
        for (name, _, open) in paths() {
            let mut data = c.cipher.clone();
            let mut ok = [true];
            open(
                &mut [Open {
                    key,
                    nonce,
                    data: &mut data,
                    mac: &c.mac,
                }],
                &mut ok,
            );
            assert!(!ok[0], "{name}");
            assert!(data == c.cipher, "{name}");
        }
    }
}
