//! Sorting and collecting into ordered maps with one copy of the sorting code.
//!
//! The standard library's stable sort is fast and large: every element type and every
//! comparator gets its own copy, about 4.5 KB of wasm each, and `collect()` into a
//! `BTreeMap` or `BTreeSet` sorts too (one more copy per iterator type it is called with).
//! In the playground that was 74 KB of code in 18 copies. The functions here sort a list of
//! positions instead, through a comparator behind `dyn`, so the sorting code exists once;
//! each element type adds only the small loop that moves the elements into place.
//!
//! They are stable, like `slice::sort_by`, and meant for the engine's short lists (tables of
//! a level, nodes, files, keys of a check): a comparison costs one indirect call more.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// The stable order of `0..n` under `cmp` (on positions). The one monomorphic sort.
fn order(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| cmp(a, b));
    idx
}

/// Puts `v[order[i]]` at `i` for every `i`, with swaps (following each cycle once).
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        // `order[i] == usize::MAX` marks a position already filled.
        let mut at = start;
        while order[at] != usize::MAX {
            let from = order[at];
            order[at] = usize::MAX;
            if order[from] == usize::MAX {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

/// Sorts `v` stably by `cmp` (as `slice::sort_by`).
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let o = order(v.len(), &mut |a, b| cmp(&v[a], &v[b]));
    permute(v, o);
}

/// Sorts `v` stably by a key (as `slice::sort_by_key`).
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` stably (as `slice::sort`).
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// A map of the pairs (a later pair replaces an earlier one with the same key, as
/// `collect()` does), built by inserting rather than by sorting first.
pub fn map_from<K: Ord, V>(pairs: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut m = BTreeMap::new();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    m
}

/// A set of the items, built by inserting rather than by sorting first.
pub fn set_from<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut s = BTreeSet::new();
    for t in items {
        s.insert(t);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn sorts_like_the_standard_library_and_stays_stable() {
        let mut rng = Rng::new(7);
        for n in [0usize, 1, 2, 3, 5, 8, 17, 64, 300] {
            for _ in 0..20 {
                // Few distinct keys, so stability is tested: the second field is the
                // original position.
                let v: Vec<(u64, usize)> = (0..n).map(|i| (rng.below(5), i)).collect();
                let mut ours = v.clone();
                sort_by_key(&mut ours, |p| p.0);
                let mut std = v.clone();
                std.sort_by_key(|p| p.0);
                assert_eq!(ours, std, "n = {n}");
                let mut ours = v.clone();
                sort_by(&mut ours, |a, b| b.0.cmp(&a.0));
                let mut std = v;
                std.sort_by_key(|p| std::cmp::Reverse(p.0));
                assert_eq!(ours, std, "n = {n}, descending");
            }
        }
        let mut words = vec!["pear", "apple", "fig", "apple"];
        sort(&mut words);
        assert_eq!(words, ["apple", "apple", "fig", "pear"]);
    }

    #[test]
    fn maps_and_sets_keep_the_last_value_like_collect() {
        let pairs = vec![(3, "c"), (1, "a"), (3, "C"), (2, "b")];
        assert_eq!(
            map_from(pairs.clone()),
            pairs.into_iter().collect::<BTreeMap<_, _>>()
        );
        assert_eq!(
            set_from([5, 1, 5, 3]).into_iter().collect::<Vec<_>>(),
            [1, 3, 5]
        );
    }
}
