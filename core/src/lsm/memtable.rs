//! The memtable: the newest writes, sorted in memory, until they are flushed to a table.
//!
//! A `BTreeMap` from key to the latest write of that key, its LSN and a put or a tombstone
//! encoded in one byte string (as RocksDB's memtable keeps each entry's sequence number and
//! type in its arena entry): the LSN in 8 bytes little-endian, a kind byte (1 a put, 0 a
//! tombstone), then a put's value. Writes carry the LSN of their WAL record and must come
//! in strictly increasing LSN order, so the entry kept for a key is always the newest. When
//! [`Memtable::size_bytes`] passes the owner's limit, [`Memtable::freeze`] turns it into an
//! [`ImmutableMemtable`] (read-only; flushed to a level-0 table while a new memtable takes
//! writes).
//!
//! # Size accounting
//! Each entry counts `key + value + ENTRY_OVERHEAD_BYTES` bytes (the LSN, the kind and two
//! lengths, as in the table format), so the count predicts the flushed table's data size.
//! Overwriting a key replaces its entry's bytes. Invariant (checked by
//! [`Memtable::validate`]): the count equals the sum over the entries, and every entry's
//! LSN is at most `max_lsn`.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::log::Lsn;

use super::{check_entry, Entry, LsmError, Value};

/// Bytes an entry costs besides its key and value: LSN (8), kind (1), key and value
/// lengths (4 + 4), and its slot in the block's offset array (4).
pub const ENTRY_OVERHEAD_BYTES: u64 = 21;

fn entry_bytes(key: &[u8], value: &Value) -> u64 {
    key.len() as u64 + value.len_bytes() + ENTRY_OVERHEAD_BYTES
}

/// The LSN and kind byte in front of a value (module docs).
const HEADER: usize = 9;

fn encode(lsn: Lsn, value: Option<&[u8]>) -> Vec<u8> {
    let bytes = value.unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + bytes.len());
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.push(u8::from(value.is_some()));
    out.extend_from_slice(bytes);
    out
}

/// An entry's LSN and value: `None` for a tombstone.
fn decode(entry: &[u8]) -> (Lsn, Option<&[u8]>) {
    let (lsn, rest) = entry.split_at(8);
    let lsn = Lsn(u64::from_le_bytes(lsn.try_into().expect("8 bytes")));
    (lsn, (rest[0] == 1).then(|| &rest[1..]))
}

fn decode_value(entry: &[u8]) -> (Lsn, Value) {
    let (lsn, v) = decode(entry);
    (lsn, v.map_or(Value::Tombstone, |v| Value::Put(v.to_vec())))
}

/// What an entry counts (as [`entry_bytes`]).
fn encoded_bytes(key: &[u8], entry: &[u8]) -> u64 {
    (key.len() + entry.len() - HEADER) as u64 + ENTRY_OVERHEAD_BYTES
}

/// The sorted, mutable memtable. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memtable {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    size_bytes: u64,
    min_lsn: Option<Lsn>,
    max_lsn: Option<Lsn>,
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Memtable::default()
    }

    /// Records a write of `key` under `lsn`, which must be above every LSN already here.
    pub fn apply(&mut self, key: &[u8], value: Value, lsn: Lsn) -> Result<(), LsmError> {
        if let Some(last) = self.max_lsn {
            if lsn <= last {
                return Err(LsmError::LsnNotIncreasing { lsn, last });
            }
        }
        check_entry(key, &value)?;
        self.size_bytes += entry_bytes(key, &value);
        if let Some(old) = self.map.insert(key.to_vec(), encode(lsn, value.as_put())) {
            self.size_bytes -= encoded_bytes(key, &old);
        }
        self.min_lsn.get_or_insert(lsn);
        self.max_lsn = Some(lsn);
        Ok(())
    }

    /// Records `key = value` under `lsn`.
    pub fn put(&mut self, key: &[u8], value: &[u8], lsn: Lsn) -> Result<(), LsmError> {
        self.apply(key, Value::Put(value.to_vec()), lsn)
    }

    /// Records a tombstone for `key` under `lsn`.
    pub fn delete(&mut self, key: &[u8], lsn: Lsn) -> Result<(), LsmError> {
        self.apply(key, Value::Tombstone, lsn)
    }

    /// The newest write of `key` here, if any (a tombstone is a hit: it hides older data).
    pub fn get(&self, key: &[u8]) -> Option<(Lsn, Value)> {
        self.map.get(key).map(|e| decode_value(e))
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The accounted size (module docs).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The smallest LSN written, `None` when empty.
    pub fn min_lsn(&self) -> Option<Lsn> {
        self.min_lsn
    }

    /// The largest LSN written, `None` when empty.
    pub fn max_lsn(&self) -> Option<Lsn> {
        self.max_lsn
    }

    /// Every entry in key order (cloned).
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// The entries with keys in the bounds, in key order (cloned).
    pub fn range<'a>(
        &'a self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> impl Iterator<Item = Entry> + 'a {
        // An inverted range would make BTreeMap::range panic; it is simply empty.
        let empty = match (lo, hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
            | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
            _ => false,
        };
        let bounds = (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec));
        let range = if empty {
            None
        } else {
            Some(self.map.range::<Vec<u8>, _>(bounds))
        };
        range.into_iter().flatten().map(|(k, e)| {
            let (lsn, value) = decode_value(e);
            Entry {
                key: k.clone(),
                lsn,
                value,
            }
        })
    }

    /// Makes it read-only, to be flushed.
    pub fn freeze(self) -> ImmutableMemtable {
        ImmutableMemtable(self)
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        let sum: u64 = self.map.iter().map(|(k, e)| encoded_bytes(k, e)).sum();
        assert_eq!(sum, self.size_bytes, "memtable size accounting");
        assert_eq!(self.map.is_empty(), self.max_lsn.is_none(), "max LSN");
        assert_eq!(self.min_lsn.is_none(), self.max_lsn.is_none(), "min LSN");
        for e in self.map.values() {
            let (lsn, _) = decode(e);
            assert!(
                Some(lsn) <= self.max_lsn && Some(lsn) >= self.min_lsn,
                "{lsn} outside the memtable's LSN range"
            );
        }
    }
}

/// A frozen memtable: read-only, waiting to be flushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImmutableMemtable(Memtable);

impl ImmutableMemtable {
    /// The memtable, for reading.
    pub fn as_memtable(&self) -> &Memtable {
        &self.0
    }
}

impl std::ops::Deref for ImmutableMemtable {
    type Target = Memtable;
    fn deref(&self) -> &Memtable {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn newest_write_wins_and_sizes_add_up() {
        let mut m = Memtable::new();
        m.put(b"b", b"one", Lsn(1)).unwrap();
        m.put(b"a", b"xy", Lsn(2)).unwrap();
        assert_eq!(m.size_bytes(), 1 + 3 + 1 + 2 + 2 * ENTRY_OVERHEAD_BYTES);
        m.put(b"b", b"three33", Lsn(3)).unwrap();
        m.delete(b"a", Lsn(4)).unwrap();
        m.validate();
        assert_eq!(m.size_bytes(), 1 + 7 + 1 + 2 * ENTRY_OVERHEAD_BYTES);
        assert_eq!(m.get(b"b"), Some((Lsn(3), Value::Put(b"three33".to_vec()))));
        assert_eq!(m.get(b"a"), Some((Lsn(4), Value::Tombstone)));
        assert_eq!(m.get(b"c"), None);
        // An empty value is a put, not a tombstone.
        m.put(b"e", b"", Lsn(5)).unwrap();
        assert_eq!(m.get(b"e"), Some((Lsn(5), Value::Put(Vec::new()))));
        m.validate();
        assert_eq!(m.size_bytes(), 1 + 7 + 1 + 1 + 3 * ENTRY_OVERHEAD_BYTES);
        assert_eq!(
            m.put(b"c", b"", Lsn(5)),
            Err(LsmError::LsnNotIncreasing {
                lsn: Lsn(5),
                last: Lsn(5)
            })
        );
        let keys: Vec<Vec<u8>> = m.iter().map(|e| e.key).collect();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"e".to_vec()]);
        let frozen = m.clone().freeze();
        assert_eq!(frozen.min_lsn(), Some(Lsn(1)));
        assert_eq!(frozen.max_lsn(), Some(Lsn(5)));
        assert_eq!(frozen.as_memtable(), &m);
    }

    #[test]
    fn ranges_respect_bounds_and_inverted_ranges_are_empty() {
        let mut m = Memtable::new();
        for (i, k) in [b"a", b"b", b"c", b"d"].iter().enumerate() {
            m.put(*k, b"v", Lsn(i as u64)).unwrap();
        }
        let keys = |lo, hi| -> Vec<Vec<u8>> { m.range(lo, hi).map(|e| e.key).collect() };
        assert_eq!(
            keys(Bound::Excluded(b"a"), Bound::Included(b"c")),
            [b"b".to_vec(), b"c".to_vec()]
        );
        assert!(keys(Bound::Included(b"d"), Bound::Excluded(b"a")).is_empty());
        assert!(keys(Bound::Excluded(b"b"), Bound::Excluded(b"b")).is_empty());
        assert_eq!(keys(Bound::Unbounded, Bound::Unbounded).len(), 4);
    }
}
