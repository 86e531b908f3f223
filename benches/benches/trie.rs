//! Subscription trie: matching a topic against many prefixes (the PUB fan-out hot path).

use criterion::{criterion_group, criterion_main, Criterion};
use ringmq_patterns::Subscriptions;

fn trie(c: &mut Criterion) {
    let mut subs = Subscriptions::new();
    for i in 0..10_000u32 {
        subs.subscribe(format!("market.{}.{}", i % 100, i).as_bytes());
    }
    c.bench_function("trie/match_hit", |b| {
        b.iter(|| criterion::black_box(subs.matches(b"market.42.4242.trade")))
    });
    c.bench_function("trie/match_miss", |b| {
        b.iter(|| criterion::black_box(subs.matches(b"news.sports.football")))
    });
    c.bench_function("trie/subscribe_cancel", |b| {
        b.iter(|| {
            subs.subscribe(b"temporary.topic.name");
            subs.unsubscribe(b"temporary.topic.name");
        })
    });
}

criterion_group!(benches, trie);
criterion_main!(benches);
