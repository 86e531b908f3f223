//! The subscription trie: which topic prefixes a subscriber asked for.
//!
//! Subscriptions are counted (subscribing twice needs two cancels, as in libzmq). Every walk is a
//! loop over the topic's bytes, never recursion: a deep trie cannot overflow the stack (libzmq's
//! CVE-2021-20236 was exactly that). Nodes live in an arena and are pruned on cancel, so churn does
//! not grow memory.

/// A node of the trie: a count of subscriptions ending here, and children sorted by byte.
#[derive(Debug, Clone, Default)]
struct Node {
    count: u32,
    children: Vec<(u8, u32)>,
}

/// A set of counted subscription prefixes.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    nodes: Vec<Node>,
    free: Vec<u32>,
    distinct: usize,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            nodes: vec![Node::default()],
            free: Vec::new(),
            distinct: 0,
        }
    }
}

impl Subscriptions {
    /// No subscriptions: nothing matches.
    pub fn new() -> Self {
        Subscriptions::default()
    }

    /// Number of distinct prefixes subscribed.
    pub fn len(&self) -> usize {
        self.distinct
    }

    /// Whether nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.distinct == 0
    }

    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.nodes[node as usize].children;
        children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .ok()
            .map(|i| children[i].1)
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = Node::default();
            i
        } else {
            self.nodes.push(Node::default());
            (self.nodes.len() - 1) as u32
        }
    }

    /// Add one subscription to `prefix`. Returns true when the prefix was not subscribed before
    /// (the moment to forward it upstream).
    pub fn subscribe(&mut self, prefix: &[u8]) -> bool {
        let mut node = 0u32;
        for &byte in prefix {
            node = match self.child(node, byte) {
                Some(next) => next,
                None => {
                    let next = self.alloc();
                    let children = &mut self.nodes[node as usize].children;
                    let at = children.partition_point(|&(b, _)| b < byte);
                    children.insert(at, (byte, next));
                    next
                }
            };
        }
        let n = &mut self.nodes[node as usize];
        n.count = n.count.saturating_add(1);
        if n.count == 1 {
            self.distinct += 1;
        }
        n.count == 1
    }

    /// Remove one subscription to `prefix`. Returns true when the last one went (the moment to
    /// forward the cancel upstream); false when it was not subscribed or is still subscribed.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> bool {
        let mut path: Vec<u32> = Vec::with_capacity(prefix.len() + 1);
        let mut node = 0u32;
        path.push(node);
        for &byte in prefix {
            match self.child(node, byte) {
                Some(next) => {
                    node = next;
                    path.push(node);
                }
                None => return false,
            }
        }
        let n = &mut self.nodes[node as usize];
        if n.count == 0 {
            return false;
        }
        n.count -= 1;
        if n.count > 0 {
            return false;
        }
        self.distinct -= 1;
        // Prune empty nodes bottom-up, iteratively.
        for depth in (1..path.len()).rev() {
            let this = path[depth];
            let n = &self.nodes[this as usize];
            if n.count > 0 || !n.children.is_empty() {
                break;
            }
            let parent = path[depth - 1];
            let byte = prefix[depth - 1];
            let children = &mut self.nodes[parent as usize].children;
            if let Ok(i) = children.binary_search_by_key(&byte, |&(b, _)| b) {
                children.remove(i);
            }
            self.free.push(this);
        }
        true
    }

    /// The node where exactly `prefix` ends, if the trie has one.
    fn find(&self, prefix: &[u8]) -> Option<u32> {
        prefix
            .iter()
            .try_fold(0u32, |node, &byte| self.child(node, byte))
    }

    /// Whether exactly `prefix` is subscribed (not merely matched by a shorter prefix).
    pub fn contains(&self, prefix: &[u8]) -> bool {
        self.find(prefix)
            .is_some_and(|node| self.nodes[node as usize].count > 0)
    }

    /// Set semantics, for what one peer asked of a publisher: subscribe `prefix` unless it already
    /// is. Returns true when it was not subscribed before. libzmq's SUB sends every subscribe,
    /// repeats included, and a cancel only when its own count reaches zero, so a publisher must
    /// not count a peer's repeats.
    pub fn insert(&mut self, prefix: &[u8]) -> bool {
        !self.contains(prefix) && self.subscribe(prefix)
    }

    /// Set semantics: cancel `prefix` however many times it was subscribed. Returns true when it
    /// was subscribed.
    pub fn remove(&mut self, prefix: &[u8]) -> bool {
        let Some(node) = self.find(prefix) else {
            return false;
        };
        let n = &mut self.nodes[node as usize];
        if n.count == 0 {
            return false;
        }
        n.count = 1;
        self.unsubscribe(prefix)
    }

    /// Whether any subscribed prefix is a prefix of `topic`.
    pub fn matches(&self, topic: &[u8]) -> bool {
        let mut node = 0u32;
        if self.nodes[0].count > 0 {
            return true;
        }
        for &byte in topic {
            match self.child(node, byte) {
                Some(next) => {
                    node = next;
                    if self.nodes[node as usize].count > 0 {
                        return true;
                    }
                }
                None => return false,
            }
        }
        false
    }

    /// Every distinct subscribed prefix, for resending to a new peer.
    pub fn prefixes(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack: Vec<(u32, Vec<u8>)> = vec![(0, Vec::new())];
        while let Some((node, prefix)) = stack.pop() {
            let n = &self.nodes[node as usize];
            if n.count > 0 {
                out.push(prefix.clone());
            }
            for &(byte, child) in n.children.iter().rev() {
                let mut p = prefix.clone();
                p.push(byte);
                stack.push((child, p));
            }
        }
        out
    }

    /// Live nodes, root included (for tests of pruning).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_prefix_matches_everything() {
        let mut s = Subscriptions::new();
        assert!(!s.matches(b"x"));
        assert!(s.subscribe(b""));
        assert!(s.matches(b"anything"));
        assert!(s.matches(b""));
    }

    #[test]
    fn counted_subscriptions() {
        let mut s = Subscriptions::new();
        assert!(s.subscribe(b"ab"));
        assert!(!s.subscribe(b"ab"));
        assert!(!s.unsubscribe(b"ab"));
        assert!(s.matches(b"abc"));
        assert!(s.unsubscribe(b"ab"));
        assert!(!s.matches(b"abc"));
        assert_eq!(s.node_count(), 1);
    }

    #[test]
    fn set_semantics_ignore_repeats() {
        let mut s = Subscriptions::new();
        assert!(s.insert(b"ab"));
        assert!(!s.insert(b"ab"));
        assert!(s.contains(b"ab"));
        assert!(!s.contains(b"a"));
        assert!(s.matches(b"abc"));
        // One cancel removes it, however often it was asked for.
        assert!(s.remove(b"ab"));
        assert!(!s.matches(b"abc"));
        assert!(!s.remove(b"ab"));
        assert_eq!(s.node_count(), 1);
        // remove also clears a counted subscription in one go.
        s.subscribe(b"x");
        s.subscribe(b"x");
        assert!(s.remove(b"x"));
        assert!(s.is_empty());
        assert_eq!(s.node_count(), 1);
    }

    #[test]
    fn deep_trie_does_not_recurse() {
        let mut s = Subscriptions::new();
        let deep = vec![b'a'; 200_000];
        s.subscribe(&deep);
        assert!(s.matches(&deep));
        assert!(!s.matches(&deep[..199_999]));
        assert_eq!(s.prefixes(), vec![deep.clone()]);
        assert!(s.unsubscribe(&deep));
        assert_eq!(s.node_count(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sub(Vec<u8>),
        Unsub(Vec<u8>),
        Match(Vec<u8>),
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..4, 0..6)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            bytes().prop_map(Op::Sub),
            bytes().prop_map(Op::Unsub),
            bytes().prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn trie_agrees_with_naive_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut trie = Subscriptions::new();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for op in ops {
                match op {
                    Op::Sub(p) => {
                        let new = !model.contains(&p);
                        model.push(p.clone());
                        prop_assert_eq!(trie.subscribe(&p), new);
                    }
                    Op::Unsub(p) => {
                        let removed = model.iter().position(|m| *m == p).map(|i| model.remove(i));
                        let last = removed.is_some() && !model.contains(&p);
                        prop_assert_eq!(trie.unsubscribe(&p), last);
                    }
                    Op::Match(t) => {
                        prop_assert_eq!(trie.matches(&t), model.iter().any(|m| t.starts_with(m)));
                    }
                }
                let mut distinct = model.clone();
                distinct.sort();
                distinct.dedup();
                prop_assert_eq!(trie.len(), distinct.len());
                let mut got = trie.prefixes();
                got.sort();
                prop_assert_eq!(got, distinct);
            }
        }
    }
}
