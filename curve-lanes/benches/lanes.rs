//! Batches of secretboxes: dryoc one box at a time, `seal_all`/`open_all` on the scalar path, and on the
//! AVX2 kernel, for 8 and 64 boxes of 16 B, 64 B and 1 KiB. Throughput is in boxes, so criterion's
//! "time" divided by the batch size is the cost per box.
//!
//! `cargo bench -p ringmq-curve-lanes -- --warm-up-time 1 --measurement-time 2`; the test suite runs it
//! once in criterion's test mode (`cargo test -p ringmq-curve-lanes --benches`).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use dryoc::classic::crypto_secretbox::{crypto_secretbox_detached, crypto_secretbox_open_detached};
use ringmq_curve_lanes::{
    kernel, open_all_avx2, open_all_scalar, seal_all_avx2, seal_all_scalar, Open, Seal,
};

const BATCHES: [usize; 2] = [8, 64];
const SIZES: [usize; 3] = [16, 64, 1024];

/// Distinct keys and nonces per box, and a payload of `size` bytes each.
struct Batch {
    keys: Vec<[u8; 32]>,
    nonces: Vec<[u8; 24]>,
    data: Vec<Vec<u8>>,
    macs: Vec<[u8; 16]>,
}

impl Batch {
    fn new(count: usize, size: usize) -> Self {
        let byte = |i: usize, j: usize, salt: usize| (i * 131 + j * 7 + salt) as u8;
        let mut batch = Self {
            keys: (0..count)
                .map(|i| core::array::from_fn(|j| byte(i, j, 1)))
                .collect(),
            nonces: (0..count)
                .map(|i| core::array::from_fn(|j| byte(i, j, 2)))
                .collect(),
            data: (0..count)
                .map(|i| (0..size).map(|j| byte(i, j, 3)).collect())
                .collect(),
            macs: vec![[0u8; 16]; count],
        };
        // Seal once so that `data` and `macs` are valid boxes to open.
        let mut boxes = batch.seals();
        seal_all_scalar(&mut boxes);
        drop(boxes);
        batch
    }

    fn seals(&mut self) -> Vec<Seal<'_>> {
        self.keys
            .iter()
            .zip(&self.nonces)
            .zip(self.data.iter_mut().zip(&mut self.macs))
            .map(|((key, nonce), (data, mac))| Seal {
                key,
                nonce,
                data,
                mac,
            })
            .collect()
    }
}

fn seal(c: &mut Criterion) {
    println!("kernel on this CPU: {}", kernel());
    for count in BATCHES {
        let mut group = c.benchmark_group(format!("seal/{count}"));
        group.throughput(Throughput::Elements(count as u64));
        for size in SIZES {
            let mut batch = Batch::new(count, size);
            let mut out = vec![vec![0u8; size]; count];
            group.bench_function(BenchmarkId::new("dryoc", size), |b| {
                b.iter(|| {
                    for (i, out) in out.iter_mut().enumerate() {
                        crypto_secretbox_detached(
                            out,
                            &mut batch.macs[i],
                            &batch.data[i],
                            &batch.nonces[i],
                            &batch.keys[i],
                        )
                        .unwrap();
                    }
                })
            });
            let mut boxes = batch.seals();
            group.bench_function(BenchmarkId::new("scalar", size), |b| {
                b.iter(|| seal_all_scalar(&mut boxes))
            });
            if kernel() == "avx2" {
                group.bench_function(BenchmarkId::new("avx2", size), |b| {
                    b.iter(|| seal_all_avx2(&mut boxes))
                });
            }
        }
        group.finish();
    }
}

fn open(c: &mut Criterion) {
    for count in BATCHES {
        let mut group = c.benchmark_group(format!("open/{count}"));
        group.throughput(Throughput::Elements(count as u64));
        for size in SIZES {
            let batch = Batch::new(count, size);
            let mut out = vec![vec![0u8; size]; count];
            group.bench_function(BenchmarkId::new("dryoc", size), |b| {
                b.iter(|| {
                    for (i, out) in out.iter_mut().enumerate() {
                        crypto_secretbox_open_detached(
                            out,
                            &batch.data[i],
                            &batch.macs[i],
                            &batch.nonces[i],
                            &batch.keys[i],
                        )
                        .unwrap();
                    }
                })
            });
            // Opening decrypts in place, so every iteration starts from a fresh copy of the boxes
            // (copied untimed); building the `Open` list is timed, alike for both kernels.
            type OpenAll = fn(&mut [Open<'_>], &mut [bool]) -> bool;
            let scalar: OpenAll = |boxes, ok| {
                open_all_scalar(boxes, ok);
                true
            };
            let mut kernels: Vec<(&str, OpenAll)> = vec![("scalar", scalar)];
            if kernel() == "avx2" {
                kernels.push(("avx2", open_all_avx2));
            }
            for (name, open_all) in kernels {
                let mut ok = vec![false; count];
                group.bench_function(BenchmarkId::new(name, size), |b| {
                    b.iter_batched_ref(
                        || batch.data.clone(),
                        |data| {
                            let mut boxes: Vec<Open<'_>> = batch
                                .keys
                                .iter()
                                .zip(&batch.nonces)
                                .zip(data.iter_mut().zip(&batch.macs))
                                .map(|((key, nonce), (data, mac))| Open {
                                    key,
                                    nonce,
                                    data,
                                    mac,
                                })
                                .collect();
                            open_all(&mut boxes, &mut ok);
                        },
                        BatchSize::SmallInput,
                    );
                    assert!(ok.iter().all(|&ok| ok));
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, seal, open);
criterion_main!(benches);
