//! [`VecMap`]: an ordered map kept as a sorted `Vec`, for the engine's small maps.
//!
//! The standard `BTreeMap` is compiled anew for every key and value type, about 3.5 KB of
//! wasm each (node splits and merges, clone and drop of the tree); the playground had about
//! 70 of them. Most of the engine's maps hold a handful of entries — nodes of a cluster,
//! open transactions, files on a disk, members of a group, tables of a level — where a
//! sorted vector is as fast and its code is a binary search and a `Vec` insert.
//!
//! Same order and same answers as `BTreeMap` (iteration in key order, `insert` returns the
//! old value, `Debug` prints `{k: v, …}`), so swapping one for the other changes no
//! behaviour. Inserting and removing move the entries after the position: keep large maps
//! (a database's rows, a memtable, a tree's pages) in a `BTreeMap`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::{Bound, RangeBounds};

/// An ordered map in a sorted vector (module docs).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The first entry (smallest key).
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// The last entry (largest key).
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Removes and returns the first entry.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    /// Keeps the entries `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value of `key`, mutable.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// The entries with keys in `range`, in key order (as `BTreeMap::range`; a range whose
    /// start is past its end is empty here, where `BTreeMap` panics).
    pub fn range<Q: Ord + ?Sized>(
        &self,
        range: impl RangeBounds<Q>,
    ) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone
    where
        K: Borrow<Q>,
    {
        let below = |b: &Q| self.entries.partition_point(|(k, _)| k.borrow() < b);
        let up_to = |b: &Q| self.entries.partition_point(|(k, _)| k.borrow() <= b);
        let start = match range.start_bound() {
            Bound::Included(b) => below(b),
            Bound::Excluded(b) => up_to(b),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(b) => up_to(b),
            Bound::Excluded(b) => below(b),
            Bound::Unbounded => self.entries.len(),
        };
        self.entries[start..end.max(start)]
            .iter()
            .map(|(k, v)| (k, v))
    }

    /// Sets `key` to `value`; the old value, if there was one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; its value, if it had one.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }
}

/// A place in a [`VecMap`] for a key, with or without a value (as `btree_map::Entry`).
pub enum Entry<'a, K, V> {
    /// The key has a value, at this position.
    Occupied(&'a mut VecMap<K, V>, usize),
    /// The key has no value; it would go at this position.
    Vacant(&'a mut VecMap<K, V>, usize, K),
}

impl<'a, K, V> Entry<'a, K, V> {
    /// The value, inserting `make()` first if there is none.
    pub fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(m, i) => &mut m.entries[i].1,
            Entry::Vacant(m, i, k) => {
                m.entries.insert(i, (k, make()));
                &mut m.entries[i].1
            }
        }
    }

    /// The value, inserting `value` first if there is none.
    pub fn or_insert(self, value: V) -> &'a mut V {
        self.or_insert_with(|| value)
    }

    /// The value, inserting the default first if there is none.
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Changes the value if there is one.
    #[must_use]
    pub fn and_modify(self, change: impl FnOnce(&mut V)) -> Self {
        match self {
            Entry::Occupied(m, i) => {
                change(&mut m.entries[i].1);
                Entry::Occupied(m, i)
            }
            vacant => vacant,
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// The place for `key` (as `BTreeMap::entry`).
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        match self.find(&key) {
            Ok(i) => Entry::Occupied(self, i),
            Err(i) => Entry::Vacant(self, i, key),
        }
    }
}

impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> std::ops::Index<&Q> for VecMap<K, V> {
    type Output = V;
    /// The value of `key`; panics if it has none (as for `BTreeMap`).
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter =
        std::iter::Map<std::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// Later pairs replace earlier ones with the same key, as for `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = VecMap::new();
        m.extend(iter);
        m
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

/// An ordered set in a sorted vector: a [`VecMap`] without values, for small sets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VecSet<T> {
    map: VecMap<T, ()>,
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        VecSet { map: VecMap::new() }
    }
}

impl<T: fmt::Debug> fmt::Debug for VecSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl<T> VecSet<T> {
    /// An empty set.
    pub const fn new() -> Self {
        VecSet { map: VecMap::new() }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// The items in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        self.map.keys()
    }

    /// Keeps the items `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|t, ()| keep(t));
    }
}

impl<T: Ord> VecSet<T> {
    /// Adds `item`; whether it was new.
    pub fn insert(&mut self, item: T) -> bool {
        self.map.insert(item, ()).is_none()
    }

    /// Removes `item`; whether it was there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.map.remove(item).is_some()
    }

    /// Whether `item` is in the set.
    pub fn contains<Q: Ord + ?Sized>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.map.contains_key(item)
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut s = VecSet::new();
        for t in iter {
            s.insert(t);
        }
        s
    }
}

impl<T: Ord> Extend<T> for VecSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl<T> IntoIterator for VecSet<T> {
    type Item = T;
    type IntoIter = std::iter::Map<std::vec::IntoIter<(T, ())>, fn((T, ())) -> T>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.entries.into_iter().map(|(t, ())| t)
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (T, ())>, fn(&'a (T, ())) -> &'a T>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.entries.iter().map(|(t, ())| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::BTreeMap;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn behaves_like_a_btree_map() {
        let mut rng = Rng::new(11);
        let mut ours: VecMap<u64, u64> = VecMap::new();
        let mut std: BTreeMap<u64, u64> = BTreeMap::new();
        for step in 0..5_000u64 {
            let k = rng.below(40);
            match rng.below(6) {
                0 | 1 => assert_eq!(ours.insert(k, step), std.insert(k, step)),
                2 => assert_eq!(ours.remove(&k), std.remove(&k)),
                3 => {
                    *ours.entry(k).or_default() += 1;
                    *std.entry(k).or_default() += 1;
                }
                4 => {
                    ours.retain(|k, v| (k + *v) % 7 != 0);
                    std.retain(|k, v| (k + *v) % 7 != 0);
                }
                _ => assert_eq!(ours.get(&k), std.get(&k)),
            }
            assert_eq!(ours.len(), std.len());
            assert!(ours.iter().eq(std.iter()), "step {step}");
            assert_eq!(ours.first_key_value(), std.first_key_value());
            assert_eq!(ours.last_key_value(), std.last_key_value());
            let (a, b) = (rng.below(45), rng.below(45));
            let (lo, hi) = (a.min(b), a.max(b));
            assert!(ours.range(lo..hi).eq(std.range(lo..hi)), "{lo}..{hi}");
            assert!(ours.range(lo..=hi).eq(std.range(lo..=hi)), "{lo}..={hi}");
            assert!(ours.range(..hi).rev().eq(std.range(..hi).rev()), "..{hi}");
            assert!(ours.range(lo..).eq(std.range(lo..)), "{lo}..");
            let after = (Bound::Excluded(lo), Bound::Included(hi));
            assert!(ours.range(after).eq(std.range(after)), "({lo}, {hi}]");
        }
        let (hi, lo) = (9, 3);
        assert!(ours.range(hi..lo).next().is_none());
        assert_eq!(format!("{ours:?}"), format!("{std:?}"));
        let from: VecMap<_, _> = [(3, "c"), (1, "a"), (3, "C")].into_iter().collect();
        assert_eq!(from.into_iter().collect::<Vec<_>>(), [(1, "a"), (3, "C")]);
    }

    #[test]
    fn sets_behave_like_btree_sets() {
        let mut rng = Rng::new(5);
        let mut ours: VecSet<u64> = VecSet::new();
        let mut std = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let k = rng.below(30);
            match rng.below(20) {
                0 => {
                    ours.retain(|x| x % 3 != k % 3);
                    std.retain(|x| x % 3 != k % 3);
                }
                1 => {
                    let more = [k, k / 2, k + 7];
                    ours.extend(more);
                    std.extend(more);
                }
                n if n < 11 => assert_eq!(ours.insert(k), std.insert(k)),
                _ => assert_eq!(ours.remove(&k), std.remove(&k)),
            }
            assert!(ours.iter().eq(std.iter()));
            assert_eq!(ours.contains(&k), std.contains(&k));
        }
        assert_eq!(format!("{ours:?}"), format!("{std:?}"));
        assert!(ours.clone().into_iter().eq(std.clone()));
    }

    #[test]
    fn borrowed_keys_find_owned_ones() {
        let mut m: VecMap<String, u32> = VecMap::new();
        m.insert("b".to_owned(), 2);
        m.insert("a".to_owned(), 1);
        assert_eq!(m.get("a"), Some(&1));
        assert!(m.contains_key("b"));
        assert_eq!(m.remove("a"), Some(1));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b"]);
    }
}
