//! The subscription trie against a naive model (a list of prefixes, counted): each input byte
//! pair is an operation (subscribe, unsubscribe or match) on a short prefix drawn from a small
//! alphabet, so prefixes share and nest.
#![no_main]

use ringmq_patterns::Subscriptions;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut trie = Subscriptions::new();
    let mut model: Vec<Vec<u8>> = Vec::new();
    for op in data.chunks(2) {
        let [code, shape] = op else { break };
        // Up to 4 bytes from {a, b, c}, from `shape`'s base-4 digits (0 ends the prefix).
        let mut prefix = Vec::new();
        let mut digits = *shape;
        for _ in 0..4 {
            match digits % 4 {
                0 => break,
                d => prefix.push(b'a' + d - 1),
            }
            digits /= 4;
        }
        match code % 3 {
            0 => {
                let new = !model.contains(&prefix);
                model.push(prefix.clone());
                assert_eq!(trie.subscribe(&prefix), new, "subscribe {prefix:?}");
            }
            1 => {
                let held = model.iter().position(|p| *p == prefix);
                if let Some(i) = held {
                    model.swap_remove(i);
                }
                let last = held.is_some() && !model.contains(&prefix);
                assert_eq!(trie.unsubscribe(&prefix), last, "unsubscribe {prefix:?}");
            }
            _ => {
                let expected = model.iter().any(|p| prefix.starts_with(p));
                assert_eq!(trie.matches(&prefix), expected, "matches {prefix:?}");
            }
        }
    }
});
