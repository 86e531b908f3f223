//! Frame codec: encoding a batch of messages into one transmit buffer, decoding a read buffer
//! full of frames, and a connection's whole receive path over such a buffer (frames decoded,
//! messages assembled and handed out as events), at 16 B, 1 KiB and 64 KiB.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringmq_transports::connection::TransmitBuf;
use ringmq_transports::{Connection, ConnectionConfig, FrameDecoder, Message, SocketType};

/// A PUSH connection whose handshake with a PULL is done, ready to encode traffic.
fn ready_push() -> Connection {
    ready_pair().0
}

/// A PUSH and a PULL connection whose handshake with each other is done.
fn ready_pair() -> (Connection, Connection) {
    let now = Instant::now();
    let mut push = Connection::new(ConnectionConfig::new(SocketType::Push), now);
    let mut pull = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
    let (mut a_in, mut b_in) = (BytesMut::new(), BytesMut::new());
    for _ in 0..8 {
        let mut t = TransmitBuf::new();
        push.poll_transmit(&mut t);
        b_in.extend_from_slice(&t.take().concat());
        pull.handle_input(now, &mut b_in).unwrap();
        let mut t = TransmitBuf::new();
        pull.poll_transmit(&mut t);
        a_in.extend_from_slice(&t.take().concat());
        push.handle_input(now, &mut a_in).unwrap();
    }
    assert!(push.is_ready() && pull.is_ready());
    while pull.poll_event().is_some() {}
    (push, pull)
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in [16usize, 1024, 65536] {
        let batch = (256 * 1024 / size).clamp(4, 4096);
        let msg = Message::single(Bytes::from(vec![7u8; size]));
        group.throughput(Throughput::Elements(batch as u64));
        let mut push = ready_push();
        group.bench_with_input(BenchmarkId::new("encode_batch", size), &size, |b, _| {
            let mut tx = TransmitBuf::new();
            b.iter(|| {
                for _ in 0..batch {
                    push.encode_message(&msg, &mut tx).unwrap();
                }
                criterion::black_box(tx.take());
            })
        });
        let mut tx = TransmitBuf::new();
        for _ in 0..batch {
            push.encode_message(&msg, &mut tx).unwrap();
        }
        let wire: Vec<u8> = tx.take().concat();
        group.bench_with_input(BenchmarkId::new("decode_batch", size), &size, |b, _| {
            let mut decoder = FrameDecoder::new(1 << 20);
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                let mut n = 0;
                while let Some(f) = decoder.decode(&mut buf).unwrap() {
                    criterion::black_box(f);
                    n += 1;
                }
                assert_eq!(n, batch);
            })
        });
        // The whole receive path of a connection: decode, assemble messages, hand them out.
        let (_, mut pull) = ready_pair();
        group.bench_with_input(BenchmarkId::new("receive_batch", size), &size, |b, _| {
            let now = Instant::now();
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                pull.handle_input(now, &mut buf).unwrap();
                let mut n = 0;
                while let Some(event) = pull.poll_event() {
                    criterion::black_box(event);
                    n += 1;
                }
                assert_eq!(n, batch);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
