//! CURVE MESSAGE boxes: seal and open cost per message at 16 B, 1 KiB and 64 KiB, with the
//! precomputed key of an established connection (what every message pays after the handshake).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ringmq_transports::curve::{CurveClient, CurveCodec, CurveServer, Random};
use ringmq_transports::{KeyPair, Metadata};

fn codecs() -> (CurveCodec, CurveCodec) {
    let random: Random = Arc::new(|buf: &mut [u8]| {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
    });
    let server_keys = KeyPair::from_random([1u8; 32]);
    let mut client = CurveClient::new(KeyPair::from_random([2u8; 32]), server_keys.public, &random);
    let mut server = CurveServer::new(server_keys);
    let welcome = server.on_hello(&client.hello().unwrap(), &random).unwrap();
    let initiate = client
        .on_welcome(&welcome, &Metadata::new(), &random)
        .unwrap();
    server.on_initiate(&initiate).unwrap();
    let (ready, server_codec) = server.ready(&Metadata::new()).unwrap();
    let (_, client_codec) = client.on_ready(&ready).unwrap();
    (client_codec, server_codec)
}

fn curve(c: &mut Criterion) {
    let mut group = c.benchmark_group("curve");
    for size in [16usize, 1024, 65536] {
        let payload = vec![0x5au8; size];
        group.throughput(Throughput::Elements(1));
        let (mut client, _) = codecs();
        let mut out = Vec::with_capacity(size + 64);
        group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                client.seal_frame(0, &payload, &mut out);
                criterion::black_box(&out);
            })
        });
        // Open needs fresh nonces: each input is sealed in setup (not timed), in order, and the
        // routine opens them in the same order.
        let (mut sender, mut receiver) = codecs();
        group.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
            b.iter_batched(
                || {
                    let mut w = Vec::with_capacity(size + 64);
                    sender.seal_frame(0, &payload, &mut w);
                    w
                },
                |boxed| criterion::black_box(receiver.open_frame(&boxed).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// `n` MESSAGE bodies of `payload`, sealed in order by `sender` (fresh nonces for an open).
fn sealed(sender: &mut CurveCodec, payload: &[u8], n: usize) -> Vec<bytes::Bytes> {
    (0..n)
        .map(|_| {
            let mut w = Vec::with_capacity(payload.len() + 64);
            sender.seal_frame(0, payload, &mut w);
            bytes::Bytes::from(w)
        })
        .collect()
}

/// A flush's or a read's worth of boxes: 16 at a time, sealed and opened in one batch (the
/// multi-buffer kernel where the CPU has AVX2) against the same 16 one by one. Per message.
fn curve_batch(c: &mut Criterion) {
    const BATCH: usize = ringmq_transports::curve::LANE_BATCH;
    let mut group = c.benchmark_group("curve-batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [16usize, 1024] {
        let payload = vec![0x5au8; size];
        let (mut client, _) = codecs();
        let mut out = bytes::BytesMut::with_capacity(BATCH * (size + 64));
        group.bench_with_input(BenchmarkId::new("seal-batch", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                client.seal_batch((0..BATCH).map(|_| (0u8, &payload[..])), &mut out);
                criterion::black_box(&out);
            })
        });
        let mut one = Vec::with_capacity(BATCH * (size + 64));
        group.bench_with_input(BenchmarkId::new("seal-one-by-one", size), &size, |b, _| {
            b.iter(|| {
                one.clear();
                for _ in 0..BATCH {
                    client.seal_frame(0, &payload, &mut one);
                }
                criterion::black_box(&one);
            })
        });
        let (mut sender, mut receiver) = codecs();
        group.bench_with_input(BenchmarkId::new("open-batch", size), &size, |b, _| {
            b.iter_batched(
                || sealed(&mut sender, &payload, BATCH),
                |boxes| criterion::black_box(receiver.open_batch(&boxes)),
                BatchSize::SmallInput,
            )
        });
        let (mut sender, mut receiver) = codecs();
        group.bench_with_input(BenchmarkId::new("open-one-by-one", size), &size, |b, _| {
            b.iter_batched(
                || sealed(&mut sender, &payload, BATCH),
                |boxes| {
                    for boxed in &boxes {
                        criterion::black_box(receiver.open_frame(boxed).unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, curve, curve_batch);
criterion_main!(benches);
