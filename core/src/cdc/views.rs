//! Materialized views: disposable projections of the change topic, each a consumer at its
//! own offset that can be dropped and rebuilt from offset zero.
//!
//! * [`View::Replica`]: a replica table, key → value.
//! * [`View::Aggregate`]: per key prefix (the key up to its first `-`, `:` or `/`), the
//!   number of live rows and the sum of their values read as integers (others count 0).
//! * [`View::Search`]: a search index, each word of a value (split on non-alphanumerics,
//!   ASCII letters lowercased; letters of other scripts are kept as written, which spares
//!   the playground Unicode's case tables) → the keys whose value contains it. It is kept
//!   the way a key-value store keeps an inverted index: one entry `word 0x00 key` per pair,
//!   in order, so a word's keys are one range ([`search_entry`], [`search_words`]).
//!
//! The replica and the index are byte maps (`Vec<u8>` → `Vec<u8>`, the text's UTF-8), the
//! same type as the world's tables: each map type is its own copy of the standard
//! library's B-tree code in the wasm.
//!
//! A view applies a change event's `after` (and `before`, to take the old row out of an
//! aggregate or an index) in offset order within each partition of its topic. It reads
//! every partition, taking turns, from its own position in each; since a row's changes
//! all go to one partition, each row's changes are applied in commit order whatever the
//! interleaving (rows in different partitions are independent in all three views). Its
//! lag is the sum over partitions of the high watermark minus its position.

use std::collections::BTreeMap;

use crate::topic::{Broker, BrokerError, TopicRecord};

use super::ChangeEvent;

/// Which projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// Key → value.
    Replica,
    /// Per prefix: rows and the sum of integer values.
    Aggregate,
    /// Word → keys.
    Search,
}

/// Rows by key, as bytes (the text's UTF-8).
pub type Rows = BTreeMap<Vec<u8>, Vec<u8>>;

/// The state of a view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// Key → value.
    Replica(Rows),
    /// Prefix → (rows, sum).
    Aggregate(crate::vec_map::VecMap<String, (u64, i64)>),
    /// (word, key) pairs, as [`search_entry`] keys with empty values.
    Search(Rows),
}

/// The index entry of `key` under `word`: the word, a 0 byte (no word has one), the key.
pub fn search_entry(word: &str, key: &str) -> Vec<u8> {
    let mut e = Vec::with_capacity(word.len() + 1 + key.len());
    e.extend_from_slice(word.as_bytes());
    e.push(0);
    e.extend_from_slice(key.as_bytes());
    e
}

/// The word and the key of a [`search_entry`].
fn split_entry(e: &[u8]) -> (&str, &str) {
    let at = e.iter().position(|&b| b == 0).unwrap_or(e.len());
    let text = |b| std::str::from_utf8(b).unwrap_or("");
    (text(&e[..at]), text(e.get(at + 1..).unwrap_or_default()))
}

/// A search index's words in order, each with its keys in order.
pub fn search_words(index: &Rows) -> impl Iterator<Item = (&str, Vec<&str>)> + '_ {
    let mut entries = index.keys().map(|e| split_entry(e)).peekable();
    std::iter::from_fn(move || {
        let (word, first) = entries.next()?;
        let mut keys = vec![first];
        while let Some((_, k)) = entries.next_if(|(w, _)| *w == word) {
            keys.push(k);
        }
        Some((word, keys))
    })
}

fn prefix(key: &str) -> &str {
    key.split(['-', ':', '/']).next().unwrap_or(key)
}

fn number(v: &str) -> i64 {
    v.trim().parse().unwrap_or(0)
}

fn words(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

impl View {
    /// An empty view.
    pub fn new(kind: ViewKind) -> View {
        match kind {
            ViewKind::Replica => View::Replica(Rows::new()),
            ViewKind::Aggregate => View::Aggregate(crate::vec_map::VecMap::new()),
            ViewKind::Search => View::Search(Rows::new()),
        }
    }

    /// Applies one change.
    pub fn apply(&mut self, e: &ChangeEvent) {
        match self {
            View::Replica(m) => match &e.after {
                Some(v) => {
                    m.insert(e.key.as_bytes().to_vec(), v.as_bytes().to_vec());
                }
                None => {
                    m.remove(e.key.as_bytes());
                }
            },
            View::Aggregate(m) => {
                let p = prefix(&e.key).to_owned();
                if let Some(b) = &e.before {
                    let entry = m.entry(p.clone()).or_default();
                    entry.0 = entry.0.saturating_sub(1);
                    entry.1 -= number(b);
                }
                if let Some(a) = &e.after {
                    let entry = m.entry(p.clone()).or_default();
                    entry.0 += 1;
                    entry.1 += number(a);
                }
                if m.get(&p).is_some_and(|&(rows, _)| rows == 0) {
                    m.remove(&p);
                }
            }
            View::Search(m) => {
                if let Some(b) = &e.before {
                    for w in words(b) {
                        m.remove(&search_entry(&w, &e.key));
                    }
                }
                if let Some(a) = &e.after {
                    for w in words(a) {
                        m.insert(search_entry(&w, &e.key), Vec::new());
                    }
                }
            }
        }
    }

    /// The view computed directly from a table's rows (what it must equal).
    pub fn of_rows<'a>(kind: ViewKind, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> View {
        let mut v = View::new(kind);
        for (k, val) in rows {
            v.apply(&row_change(k, None, Some(val)));
        }
        v
    }
}

/// A one-event transaction changing row `key` from `before` to `after` (the kind of change
/// follows from which exist), for views built from rows and for tests.
fn row_change(key: &str, before: Option<&str>, after: Option<&str>) -> ChangeEvent {
    ChangeEvent {
        lsn: 0,
        commit_lsn: 0,
        txn: 0,
        index: 0,
        count: 1,
        op: match (before, after) {
            (None, _) => super::Op::Insert,
            (Some(_), Some(_)) => super::Op::Update,
            (Some(_), None) => super::Op::Delete,
        },
        key: key.to_owned(),
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    }
}

/// A view kept up to date by consuming the change topic (every partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializedView {
    /// Its name.
    pub name: String,
    /// The projection.
    pub view: View,
    kind: ViewKind,
    /// The next offset to consume in each partition (index: partition; a partition not
    /// listed is at 0).
    pub positions: Vec<u64>,
    /// The last commit LSN whose last event was applied (with one partition: the last
    /// transaction applied completely; with several, a transaction's other events may be
    /// in partitions not read that far yet).
    pub applied_commit: Option<u64>,
    /// Events applied since it was (re)built.
    pub applied: u64,
    /// The partition the next read starts with (partitions take turns).
    turn: usize,
}

impl MaterializedView {
    /// An empty view at offset 0.
    pub fn new(name: &str, kind: ViewKind) -> Self {
        MaterializedView {
            name: name.to_owned(),
            view: View::new(kind),
            kind,
            positions: Vec::new(),
            applied_commit: None,
            applied: 0,
            turn: 0,
        }
    }

    /// The next offset to consume in `partition`.
    pub fn position(&self, partition: u32) -> u64 {
        self.positions.get(partition as usize).copied().unwrap_or(0)
    }

    /// Moves the position in `partition` (a reader that skips to a partition's start).
    pub fn set_position(&mut self, partition: u32, offset: u64) {
        let p = partition as usize;
        if self.positions.len() <= p {
            self.positions.resize(p + 1, 0);
        }
        self.positions[p] = offset;
    }

    /// Applies one record of `partition` (its value a change event; others only move the
    /// position). `table`: the topic is compacted, and this is the view's own last value
    /// per key, which replaces the event's `before` (the world's consumers explain why).
    /// Returns whether an event was applied.
    pub fn apply_record(
        &mut self,
        partition: u32,
        r: &TopicRecord,
        table: Option<&mut Rows>,
    ) -> bool {
        self.set_position(partition, r.offset + 1);
        let Some(mut e) = r.value.as_deref().and_then(|b| ChangeEvent::decode(b).ok()) else {
            return false;
        };
        if let Some(seen) = table {
            e.before = seen
                .get(e.key.as_bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned());
            match &e.after {
                Some(a) => seen.insert(e.key.as_bytes().to_vec(), a.as_bytes().to_vec()),
                None => seen.remove(e.key.as_bytes()),
            };
        }
        self.view.apply(&e);
        if e.index + 1 == e.count {
            self.applied_commit = Some(e.commit_lsn);
        }
        self.applied += 1;
        true
    }

    /// Drops the state and starts again from offset 0.
    pub fn reset(&mut self) {
        *self = MaterializedView::new(&self.name, self.kind);
    }

    /// Consumes up to `max` acknowledged events; returns how many.
    pub fn poll<S: crate::Storage + ?Sized>(
        &mut self,
        broker: &Broker,
        storage: &S,
        topic: &str,
        max: usize,
    ) -> Result<u64, BrokerError> {
        self.poll_table(broker, storage, topic, max, None)
    }

    /// Consumes up to `max` acknowledged records in all, over every partition of `topic`
    /// taking turns (each tick starts with the next partition), each from its position;
    /// returns the events applied. `table`: as in [`MaterializedView::apply_record`].
    pub fn poll_table<S: crate::Storage + ?Sized>(
        &mut self,
        broker: &Broker,
        storage: &S,
        topic: &str,
        max: usize,
        mut table: Option<&mut Rows>,
    ) -> Result<u64, BrokerError> {
        let parts = broker.partitions(topic)?.len();
        let mut budget = max;
        let mut n = 0;
        for i in 0..parts {
            if budget == 0 {
                break;
            }
            let p = u32::try_from((self.turn + i) % parts).expect("at most 1024 partitions");
            let batch = broker.fetch(storage, topic, p, self.position(p), budget)?;
            budget -= batch.len();
            for r in &batch {
                n += u64::from(self.apply_record(p, r, table.as_deref_mut()));
            }
        }
        self.turn = (self.turn + 1) % parts.max(1);
        Ok(n)
    }

    /// Acknowledged events not consumed yet, over every partition.
    pub fn lag(&self, broker: &Broker, topic: &str) -> Result<u64, BrokerError> {
        Ok(broker
            .partitions(topic)?
            .iter()
            .enumerate()
            .map(|(p, part)| {
                let p = u32::try_from(p).expect("at most 1024 partitions");
                part.high_watermark().saturating_sub(self.position(p))
            })
            .sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The words of a search view over `rows`, each with its keys.
    fn words_of(rows: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
        let View::Search(index) = View::of_rows(ViewKind::Search, rows.iter().copied()) else {
            unreachable!("a search view")
        };
        search_words(&index)
            .map(|(w, keys)| (w.to_owned(), keys.iter().map(|k| (*k).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn the_search_index_lists_each_words_keys_in_order() {
        let owned = |w: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            w.iter()
                .map(|(w, k)| ((*w).to_owned(), k.iter().map(|k| (*k).to_owned()).collect()))
                .collect()
        };
        let rows = [("k2", "red apple"), ("k1", "Apple pie"), ("k3", "pie")];
        assert_eq!(
            words_of(&rows),
            owned(&[
                ("apple", &["k1", "k2"]),
                ("pie", &["k1", "k3"]),
                ("red", &["k2"])
            ])
        );
        // A word that is a prefix of another keeps its own keys.
        let rows = [("a", "ab"), ("b", "a"), ("c", "a0")];
        assert_eq!(
            words_of(&rows),
            owned(&[("a", &["b"]), ("a0", &["c"]), ("ab", &["a"])])
        );
        // Taking a row out takes its key out of each of its words.
        let mut v = View::of_rows(ViewKind::Search, [("k1", "x y"), ("k2", "y")]);
        v.apply(&row_change("k1", Some("x y"), None));
        assert_eq!(v, View::of_rows(ViewKind::Search, [("k2", "y")]));
    }

    #[test]
    fn words_split_on_non_alphanumerics_and_fold_ascii_case() {
        let w: Vec<String> = words("Café au LAIT, 42-Ünïcode!").collect();
        assert_eq!(w, ["café", "au", "lait", "42", "Ünïcode"]);
    }
}
