//! Value indexes: for one field at one state of the machine, every pattern of every rule that
//! continues there, arranged so that finding the patterns a value matches costs about the length
//! of the value, not the number of patterns.
//!
//! - equality of strings: one table for the whole machine ([`EqTable`]); of literals, numbers
//!   and single IPs: hash maps;
//! - prefixes and suffixes: byte tries walked forwards or backwards over the value;
//! - equals-ignore-case (whole, prefix, suffix): tries over case units, each unit matching its
//!   lower- or upper-case bytes;
//! - wildcards: a trie on the literal text before the first `*` picks the candidates, which are
//!   then matched in full;
//! - numeric ranges and CIDR blocks: static interval trees (O(log n + matches));
//! - anything-but: each one is tried (they match all but a few values, so they are few per
//!   field in practice, and every one that is tried and not excluded is a result).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::event::Scalar;
use crate::ip::{self, Ip};
use crate::number::NumberKey;
use crate::pattern::{AnythingBut, Matcher};
use crate::text::{Unit, Wildcard, unit_prefix, units_match};

/// A target state of the machine.
pub(crate) type StateId = u32;

/// A small, fast hasher for short keys: eight bytes per step, multiply and rotate (the FxHash
/// step). The keys are values from patterns, so hash flooding by events is not a concern: events
/// only look keys up.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for_each_word(bytes, |w| self.add(w));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// Calls `f` with `bytes` as little-endian words, eight bytes at a time; a shorter tail is read as
/// the last eight bytes (overlapping the previous word), or zero-padded when `bytes` is shorter
/// than eight: one load per word, no copy loop.
pub(crate) fn for_each_word(bytes: &[u8], mut f: impl FnMut(u64)) {
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    };
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        f(word(c));
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return;
    }
    if bytes.len() >= 8 {
        f(word(&bytes[bytes.len() - 8..]));
    } else {
        let mut w = 0u64;
        for (i, &b) in rest.iter().enumerate() {
            w |= u64::from(b) << (8 * i);
        }
        f(w);
    }
}

/// Whether two byte strings are equal, compared a word at a time in line (for the short keys and
/// values here, a call to `memcmp` costs more than the comparison).
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if word(p) != word(q) {
            return false;
        }
    }
    x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// The hash of a value's bytes that [`EqTable`] is keyed by (computed once per leaf).
pub(crate) fn value_hash(bytes: &[u8]) -> u64 {
    let mut h = FastHasher(bytes.len() as u64);
    for_each_word(bytes, |w| h.add(w));
    h.0
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A trie node: its children by edge label, and the targets of the keys ending there.
type Node<L> = (Vec<(L, u32)>, Vec<u32>);

/// A byte trie; each node lists the targets of the keys ending there.
#[derive(Debug, Clone)]
struct ByteTrie {
    nodes: Vec<Node<u8>>,
}

impl Default for ByteTrie {
    fn default() -> Self {
        Self {
            nodes: vec![(Vec::new(), Vec::new())],
        }
    }
}

impl ByteTrie {
    fn insert(&mut self, key: impl Iterator<Item = u8>, target: u32) {
        let mut node = 0usize;
        for b in key {
            let found = self.nodes[node].0.binary_search_by_key(&b, |&(k, _)| k);
            node = match found {
                Ok(i) => self.nodes[node].0[i].1 as usize,
                Err(i) => {
                    let n = self.nodes.len();
                    self.nodes.push((Vec::new(), Vec::new()));
                    self.nodes[node].0.insert(i, (b, n as u32));
                    n
                }
            };
        }
        if !self.nodes[node].1.contains(&target) {
            self.nodes[node].1.push(target);
        }
    }

    /// Targets of every key that is a prefix of `bytes`.
    fn prefixes_of(&self, bytes: impl Iterator<Item = u8>, out: &mut Vec<u32>) {
        let mut node = 0usize;
        out.extend_from_slice(&self.nodes[0].1);
        for b in bytes {
            match self.nodes[node].0.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => node = self.nodes[node].0[i].1 as usize,
                Err(_) => return,
            }
            out.extend_from_slice(&self.nodes[node].1);
        }
    }
}

/// A trie over case units; `whole` nodes accept only at the end of the value.
#[derive(Debug, Clone)]
struct UnitTrie {
    nodes: Vec<Node<Unit>>,
}

impl Default for UnitTrie {
    fn default() -> Self {
        Self {
            nodes: vec![(Vec::new(), Vec::new())],
        }
    }
}

impl UnitTrie {
    fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && self.nodes[0].1.is_empty()
    }

    fn insert(&mut self, units: &[Unit], target: u32) {
        let mut node = 0usize;
        for u in units {
            let found = self.nodes[node]
                .0
                .iter()
                .find(|(k, _)| k == u)
                .map(|&(_, n)| n);
            node = match found {
                Some(n) => n as usize,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push((Vec::new(), Vec::new()));
                    self.nodes[node].0.push((u.clone(), n as u32));
                    n
                }
            };
        }
        if !self.nodes[node].1.contains(&target) {
            self.nodes[node].1.push(target);
        }
    }

    /// Targets of keys matching all of `value` (`whole`) or a prefix of it.
    fn lookup(&self, value: &[u8], whole: bool, out: &mut Vec<u32>) {
        if self.is_empty() {
            return;
        }
        // Depth first; the next branch is kept apart from the stack, so the usual single path
        // (one case matches at each step) allocates nothing.
        let mut stack = Vec::new();
        let mut next = Some((0usize, 0usize));
        while let Some((node, pos)) = next.take().or_else(|| stack.pop()) {
            let (children, targets) = &self.nodes[node];
            if !whole || pos == value.len() {
                out.extend_from_slice(targets);
            }
            let rest = &value[pos..];
            for (u, child) in children {
                for len in unit_prefix(u, rest).into_iter().flatten() {
                    let branch = (*child as usize, pos + len);
                    match next {
                        None => next = Some(branch),
                        Some(_) => stack.push(branch),
                    }
                }
            }
        }
    }
}

/// A static interval tree over closed intervals `[low, high]`.
#[derive(Debug, Clone)]
struct Intervals<K> {
    /// Sorted by `low`.
    items: Vec<(K, K, u32)>,
    /// For the implicit balanced tree over `items`: the largest `high` in each subtree,
    /// indexed by the subtree's middle element.
    max_high: Vec<K>,
}

impl<K> Default for Intervals<K> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            max_high: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> Intervals<K> {
    fn push(&mut self, low: K, high: K, target: u32) {
        if low <= high {
            self.items.push((low, high, target));
        }
    }

    fn build(&mut self) {
        self.items.sort_by_key(|a| a.0);
        self.max_high = self.items.iter().map(|i| i.1).collect();
        if !self.items.is_empty() {
            self.fill(0, self.items.len());
        }
    }

    fn fill(&mut self, lo: usize, hi: usize) -> K {
        let mid = lo + (hi - lo) / 2;
        let mut m = self.items[mid].1;
        if lo < mid {
            m = m.max(self.fill(lo, mid));
        }
        if mid + 1 < hi {
            m = m.max(self.fill(mid + 1, hi));
        }
        self.max_high[mid] = m;
        m
    }

    fn stab(&self, x: K, out: &mut Vec<u32>) {
        if self.items.is_empty() {
            return;
        }
        // The tree is balanced, so a path is at most 64 levels: a fixed stack holds the walk
        // (at most one pending right subtree per level, plus the current one).
        let mut stack = [(0usize, 0usize); 130];
        stack[0] = (0, self.items.len());
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let (lo, hi) = stack[top];
            let mid = lo + (hi - lo) / 2;
            if self.max_high[mid] < x {
                continue;
            }
            let (low, high, target) = self.items[mid];
            if low <= x && x <= high {
                out.push(target);
            }
            if lo < mid {
                stack[top] = (lo, mid);
                top += 1;
            }
            if low <= x && mid + 1 < hi {
                stack[top] = (mid + 1, hi);
                top += 1;
            }
        }
    }
}

/// The patterns that are not plain equality, kept apart so most indexes stay small.
#[derive(Debug, Clone, Default)]
struct Rare {
    ranges: Intervals<NumberKey>,
    ipv4: Intervals<u32>,
    ipv6: Intervals<u128>,
    prefixes: ByteTrie,
    suffixes: ByteTrie,
    ignore_case: UnitTrie,
    prefix_ignore_case: UnitTrie,
    suffix_ignore_case: UnitTrie,
    has_suffix_ignore_case: bool,
    wildcards: Vec<(Wildcard, u32)>,
    wildcard_prefixes: ByteTrie,
    anything_but: Vec<(AnythingBut, u32)>,
}

/// Every pattern on one field at one state, with the state each leads to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueIndex {
    literals: FastMap<Box<str>, Vec<StateId>>,
    numbers: FastMap<NumberKey, Vec<StateId>>,
    exists: Vec<StateId>,
    rare: Option<Box<Rare>>,
}

fn add(list: &mut Vec<StateId>, target: StateId) {
    if !list.contains(&target) {
        list.push(target);
    }
}

impl ValueIndex {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Adds one pattern leading to `target` (`Absent` is handled by the caller).
    pub(crate) fn insert(&mut self, m: &Matcher, target: StateId) {
        match m {
            // Exact strings live in the machine's one `EqTable`.
            Matcher::Exact(_) => {}
            Matcher::Literal(s) => add(self.literals.entry(s.as_str().into()).or_default(), target),
            Matcher::NumericEq(k) => add(self.numbers.entry(*k).or_default(), target),
            Matcher::Exists => add(&mut self.exists, target),
            Matcher::Absent => {}
            Matcher::Range {
                low,
                low_open,
                high,
                high_open,
            } => {
                let low = if *low_open {
                    low.checked_add(1)
                } else {
                    Some(*low)
                };
                let high = if *high_open {
                    high.checked_sub(1)
                } else {
                    Some(*high)
                };
                if let (Some(l), Some(h)) = (low, high) {
                    self.rare().ranges.push(l, h, target);
                }
            }
            Matcher::Ip(r) => match (r.low, r.high) {
                (Ip::V4(l), Ip::V4(h)) => self.rare().ipv4.push(l, h, target),
                (Ip::V6(l), Ip::V6(h)) => self.rare().ipv6.push(l, h, target),
                _ => {}
            },
            Matcher::Prefix(p) => self.rare().prefixes.insert(p.bytes(), target),
            Matcher::Suffix(s) => self.rare().suffixes.insert(s.bytes().rev(), target),
            Matcher::EqualsIgnoreCase(u) => self.rare().ignore_case.insert(u, target),
            Matcher::PrefixIgnoreCase(u) => self.rare().prefix_ignore_case.insert(u, target),
            Matcher::SuffixIgnoreCase(u) => {
                let rare = self.rare();
                rare.suffix_ignore_case.insert(u, target);
                rare.has_suffix_ignore_case = true;
            }
            Matcher::Wildcard(w) => {
                let rare = self.rare();
                let i = rare.wildcards.len() as u32;
                rare.wildcard_prefixes
                    .insert(w.literal_prefix().iter().copied(), i);
                rare.wildcards.push((w.clone(), target));
            }
            Matcher::AnythingBut(a) => self.rare().anything_but.push((a.clone(), target)),
        }
    }

    /// Every state a pattern here leads to (with repeats).
    pub(crate) fn targets(&self) -> Vec<StateId> {
        let mut out: Vec<StateId> = self.exists.clone();
        for list in self.literals.values() {
            out.extend_from_slice(list);
        }
        for list in self.numbers.values() {
            out.extend_from_slice(list);
        }
        if let Some(rare) = &self.rare {
            out.extend(rare.ranges.items.iter().map(|i| i.2));
            out.extend(rare.ipv4.items.iter().map(|i| i.2));
            out.extend(rare.ipv6.items.iter().map(|i| i.2));
            for trie in [&rare.prefixes, &rare.suffixes] {
                for node in &trie.nodes {
                    out.extend_from_slice(&node.1);
                }
            }
            for trie in [
                &rare.ignore_case,
                &rare.prefix_ignore_case,
                &rare.suffix_ignore_case,
            ] {
                for node in &trie.nodes {
                    out.extend_from_slice(&node.1);
                }
            }
            out.extend(rare.wildcards.iter().map(|w| w.1));
            out.extend(rare.anything_but.iter().map(|a| a.1));
        }
        out
    }

    /// Prepares the interval trees; call once after the last insert.
    pub(crate) fn build(&mut self) {
        if let Some(rare) = &mut self.rare {
            rare.ranges.build();
            rare.ipv4.build();
            rare.ipv6.build();
        }
    }

    /// Appends the targets of every pattern `value` matches (possibly with repeats).
    pub(crate) fn lookup(&self, value: &Scalar<'_>, out: &mut Vec<StateId>) {
        out.extend_from_slice(&self.exists);
        if !matches!(value, Scalar::Str(_)) {
            if let Some(lit) = value.literal()
                && let Some(t) = self.literals.get(lit)
            {
                out.extend_from_slice(t);
            }
            if let Scalar::Num(_, Some(k)) = value
                && let Some(t) = self.numbers.get(k)
            {
                out.extend_from_slice(t);
            }
        }
        let Some(rare) = &self.rare else {
            return;
        };
        match value {
            Scalar::Str(s) => {
                let bytes = s.as_bytes();
                if !rare.ipv4.items.is_empty() || !rare.ipv6.items.is_empty() {
                    match ip::parse(s) {
                        Some(Ip::V4(a)) => rare.ipv4.stab(a, out),
                        Some(Ip::V6(a)) => rare.ipv6.stab(a, out),
                        None => {}
                    }
                }
                rare.prefixes.prefixes_of(bytes.iter().copied(), out);
                rare.suffixes.prefixes_of(bytes.iter().rev().copied(), out);
                rare.ignore_case.lookup(bytes, true, out);
                rare.prefix_ignore_case.lookup(bytes, false, out);
                if rare.has_suffix_ignore_case {
                    let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
                    rare.suffix_ignore_case.lookup(&reversed, false, out);
                }
                if !rare.wildcards.is_empty() {
                    let mut candidates = Vec::new();
                    rare.wildcard_prefixes
                        .prefixes_of(bytes.iter().copied(), &mut candidates);
                    for i in candidates {
                        let (w, target) = &rare.wildcards[i as usize];
                        if w.matches(bytes) {
                            out.push(*target);
                        }
                    }
                }
            }
            Scalar::Num(_, Some(k)) => rare.ranges.stab(*k, out),
            _ => {}
        }
        for (a, target) in &rare.anything_but {
            if !excludes(a, value) {
                out.push(*target);
            }
        }
    }
}

/// Every exact-string pattern of a machine, for all its transitions, in one open-addressing table
/// keyed by (transition, string): a lookup costs one probe of a flat array and one read of the
/// string's bytes, with no pointer to follow in between (the machine's memory is often out of
/// cache when events stream through).
#[derive(Debug, Clone, Default)]
pub(crate) struct EqTable {
    slots: Vec<Slot>,
    /// The strings' bytes, end to end.
    bytes: Vec<u8>,
    /// Target lists of strings that lead to more than one state.
    targets: Vec<StateId>,
}

/// One entry; `targets_len == 0` marks an empty slot. With one target, `targets_start` is it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    hash: u64,
    key_start: u32,
    key_len: u32,
    targets_start: u32,
    targets_len: u32,
}

/// The table's hash of (transition, value hash).
fn slot_hash(transition: u32, value: u64) -> u64 {
    (value ^ u64::from(transition).wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(SEED)
}

impl EqTable {
    /// Builds the table from `(transition, string) -> targets`.
    pub(crate) fn build(entries: &FastMap<(u32, Box<str>), Vec<StateId>>) -> Self {
        let size = (entries.len() * 2).next_power_of_two().max(2);
        let mut table = Self {
            slots: vec![Slot::default(); size],
            bytes: Vec::new(),
            targets: Vec::new(),
        };
        // A stable order, so the same rules always give the same layout.
        let mut sorted: Vec<_> = entries.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for ((transition, key), targets) in sorted {
            let hash = slot_hash(*transition, value_hash(key.as_bytes()));
            let (targets_start, targets_len) = match targets.as_slice() {
                [one] => (*one, 1),
                many => {
                    let start = table.targets.len() as u32;
                    table.targets.extend_from_slice(many);
                    (start, many.len() as u32)
                }
            };
            let slot = Slot {
                hash,
                key_start: table.bytes.len() as u32,
                key_len: key.len() as u32,
                targets_start,
                targets_len,
            };
            table.bytes.extend_from_slice(key.as_bytes());
            let mut at = table.index(hash);
            while table.slots[at].targets_len != 0 {
                at = (at + 1) & (size - 1);
            }
            table.slots[at] = slot;
        }
        table
    }

    fn index(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        if bits == 0 {
            return 0;
        }
        (hash >> (64 - bits)) as usize
    }

    /// Appends the targets of `value` (whose [`value_hash`] is `hash`) at `transition`.
    pub(crate) fn lookup(&self, transition: u32, hash: u64, value: &[u8], out: &mut Vec<StateId>) {
        let hash = slot_hash(transition, hash);
        let mask = self.slots.len() - 1;
        let mut at = self.index(hash);
        loop {
            let slot = &self.slots[at];
            if slot.targets_len == 0 {
                return;
            }
            if slot.hash == hash
                && slot.key_len as usize == value.len()
                && bytes_eq(&self.bytes[slot.key_start as usize..][..value.len()], value)
            {
                if slot.targets_len == 1 {
                    out.push(slot.targets_start);
                } else {
                    let start = slot.targets_start as usize;
                    out.extend_from_slice(&self.targets[start..start + slot.targets_len as usize]);
                }
                return;
            }
            at = (at + 1) & mask;
        }
    }
}

/// Whether an anything-but excludes `value` (values of another type are never excluded).
pub(crate) fn excludes(a: &AnythingBut, value: &Scalar<'_>) -> bool {
    match (a, value) {
        (AnythingBut::Strings(set), Scalar::Str(s)) => set.iter().any(|x| x == s.as_ref()),
        (AnythingBut::Numbers(set), Scalar::Num(_, Some(k))) => set.contains(k),
        (AnythingBut::Prefixes(set), Scalar::Str(s)) => {
            set.iter().any(|p| s.starts_with(p.as_str()))
        }
        (AnythingBut::Suffixes(set), Scalar::Str(s)) => set.iter().any(|p| s.ends_with(p.as_str())),
        (AnythingBut::IgnoreCase(set), Scalar::Str(s)) => {
            set.iter().any(|u| units_match(u, s.as_bytes(), true))
        }
        (AnythingBut::Wildcards(set), Scalar::Str(s)) => {
            set.iter().any(|w| w.matches(s.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_tree_stabs_exactly_the_covering_intervals() {
        let mut t = Intervals::default();
        let spans = [(1u64, 5u64), (3, 9), (10, 10), (0, 100), (50, 60), (7, 8)];
        for (i, (l, h)) in spans.iter().enumerate() {
            t.push(*l, *h, i as u32);
        }
        t.build();
        for x in 0..=101u64 {
            let mut got = Vec::new();
            t.stab(x, &mut got);
            got.sort_unstable();
            let want: Vec<u32> = spans
                .iter()
                .enumerate()
                .filter(|(_, (l, h))| *l <= x && x <= *h)
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(got, want, "x = {x}");
        }
    }

    #[test]
    fn byte_trie_reports_every_prefix() {
        let mut t = ByteTrie::default();
        t.insert("".bytes(), 0);
        t.insert("ab".bytes(), 1);
        t.insert("abc".bytes(), 2);
        t.insert("b".bytes(), 3);
        let mut out = Vec::new();
        t.prefixes_of("abcd".bytes(), &mut out);
        assert_eq!(out, vec![0, 1, 2]);
    }

    #[test]
    fn eq_table_keys_by_transition_and_whole_string() {
        let mut entries: FastMap<(u32, Box<str>), Vec<StateId>> = FastMap::default();
        entries.insert((0, "DeleteTrail".into()), vec![7]);
        entries.insert((1, "DeleteTrail".into()), vec![8, 9]);
        entries.insert((1, "".into()), vec![3]);
        // Longer than a word, differing only in the last byte.
        entries.insert((2, "AWS API Call via CloudTrailA".into()), vec![4]);
        let table = EqTable::build(&entries);
        let find = |transition: u32, value: &str| {
            let mut out = Vec::new();
            table.lookup(
                transition,
                value_hash(value.as_bytes()),
                value.as_bytes(),
                &mut out,
            );
            out
        };
        assert_eq!(find(0, "DeleteTrail"), vec![7]);
        assert_eq!(find(1, "DeleteTrail"), vec![8, 9]);
        assert_eq!(find(1, ""), vec![3]);
        assert_eq!(find(0, ""), Vec::<StateId>::new());
        assert_eq!(find(2, "DeleteTrail"), Vec::<StateId>::new());
        assert_eq!(find(0, "DeleteTrai"), Vec::<StateId>::new());
        assert_eq!(find(2, "AWS API Call via CloudTrailA"), vec![4]);
        assert_eq!(
            find(2, "AWS API Call via CloudTrailB"),
            Vec::<StateId>::new()
        );
        assert!(
            EqTable::build(&FastMap::default())
                .slots
                .len()
                .is_power_of_two()
        );
    }

    #[test]
    fn bytes_eq_is_equality() {
        let texts = [
            "",
            "a",
            "ab",
            "eventName",
            "eventNamf",
            "AWS API Call via CloudTrail",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(bytes_eq(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
        }
        for len in 0..20 {
            let a: Vec<u8> = (0..len as u8).collect();
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!bytes_eq(&a, &b), "len {len}, byte {at}");
            }
            assert!(bytes_eq(&a, &a.clone()));
        }
    }

    #[test]
    fn words_cover_every_byte() {
        for len in 0usize..20 {
            let bytes: Vec<u8> = (1..=len as u8).collect();
            let mut seen = Vec::new();
            for_each_word(&bytes, |w| seen.extend_from_slice(&w.to_le_bytes()));
            for b in &bytes {
                assert!(seen.contains(b), "len {len}: byte {b} not read");
            }
            assert_eq!(seen.len(), len.div_ceil(8) * 8);
        }
    }
}
