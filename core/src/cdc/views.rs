//! Materialized views: disposable projections of the change topic, each a consumer at its
//! own offset that can be dropped and rebuilt from offset zero.
//!
//! * [`View::Replica`]: a replica table, key → value.
//! * [`View::Aggregate`]: per key prefix (the key up to its first `-`, `:` or `/`), the
//!   number of live rows and the sum of their values read as integers (others count 0).
//! * [`View::Search`]: a search index, each word of a value (split on non-alphanumerics,
//!   lowercased) → the keys whose value contains it.
//!
//! A view applies a change event's `after` (and `before`, to take the old row out of an
//! aggregate or an index) in offset order; its lag is the partition's high watermark
//! minus its position.

use std::collections::{BTreeMap, BTreeSet};

use crate::topic::{Broker, BrokerError};

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

/// The state of a view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// Key → value.
    Replica(BTreeMap<String, String>),
    /// Prefix → (rows, sum).
    Aggregate(BTreeMap<String, (u64, i64)>),
    /// Word → keys.
    Search(BTreeMap<String, BTreeSet<String>>),
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
        .map(str::to_lowercase)
}

impl View {
    /// An empty view.
    pub fn new(kind: ViewKind) -> View {
        match kind {
            ViewKind::Replica => View::Replica(BTreeMap::new()),
            ViewKind::Aggregate => View::Aggregate(BTreeMap::new()),
            ViewKind::Search => View::Search(BTreeMap::new()),
        }
    }

    /// Applies one change.
    pub fn apply(&mut self, e: &ChangeEvent) {
        match self {
            View::Replica(m) => match &e.after {
                Some(v) => {
                    m.insert(e.key.clone(), v.clone());
                }
                None => {
                    m.remove(&e.key);
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
                        if let Some(keys) = m.get_mut(&w) {
                            keys.remove(&e.key);
                            if keys.is_empty() {
                                m.remove(&w);
                            }
                        }
                    }
                }
                if let Some(a) = &e.after {
                    for w in words(a) {
                        m.entry(w).or_default().insert(e.key.clone());
                    }
                }
            }
        }
    }

    /// The view computed directly from a table's rows (what it must equal).
    pub fn of_rows<'a>(kind: ViewKind, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> View {
        let mut v = View::new(kind);
        for (k, val) in rows {
            v.apply(&ChangeEvent {
                lsn: 0,
                commit_lsn: 0,
                txn: 0,
                index: 0,
                count: 1,
                op: super::Op::Insert,
                key: k.to_owned(),
                before: None,
                after: Some(val.to_owned()),
            });
        }
        v
    }
}

/// A view kept up to date by consuming the change topic (partition 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializedView {
    /// Its name.
    pub name: String,
    /// The projection.
    pub view: View,
    kind: ViewKind,
    /// The next offset to consume.
    pub position: u64,
    /// The last commit LSN fully applied (all of the transaction's events).
    pub applied_commit: Option<u64>,
    /// Events applied since it was (re)built.
    pub applied: u64,
}

impl MaterializedView {
    /// An empty view at offset 0.
    pub fn new(name: &str, kind: ViewKind) -> Self {
        MaterializedView {
            name: name.to_owned(),
            view: View::new(kind),
            kind,
            position: 0,
            applied_commit: None,
            applied: 0,
        }
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
        let batch = broker.fetch(storage, topic, 0, self.position, max)?;
        let mut n = 0;
        for r in batch {
            self.position = r.offset + 1;
            let Some(e) = r.value.as_deref().and_then(|v| ChangeEvent::decode(v).ok()) else {
                continue;
            };
            self.view.apply(&e);
            if e.index + 1 == e.count {
                self.applied_commit = Some(e.commit_lsn);
            }
            self.applied += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Acknowledged events not consumed yet.
    pub fn lag(&self, broker: &Broker, topic: &str) -> Result<u64, BrokerError> {
        let hw = broker.partitions(topic)?[0].high_watermark();
        Ok(hw.saturating_sub(self.position))
    }
}
