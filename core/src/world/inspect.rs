//! Read-only views of the world for the playground's pipeline panel: the WAL, the CDC
//! connector, the topic's partitions with their segments, and each view's position, lag
//! and a bounded sample of its contents ([`World::pipeline`]); windows of WAL records and
//! partition records ([`World::wal_window`], [`World::partition_window`]); where a commit's
//! change events landed in the topic ([`World::change_offset`]); each view against
//! the database's rows ([`World::views_against`]); and the Raft cluster with the feed that
//! replicates the database into it ([`World::raft_picture`]).
//!
//! Nothing here changes the world: every accessor takes `&self` and only reads the
//! simulated disks (a read is not an operation a crash can lose). Everything is bounded:
//! at most [`MAX_SEGMENTS`] segments per log, [`MAX_SAMPLE`] entries per view,
//! [`MAX_WINDOW`] records per window and [`MAX_TEXT`] characters per key or value, so a
//! snapshot costs the same with 100 records or 100,000.

use crate::cdc::views::{MaterializedView, View};
use crate::cdc::ChangeEvent;
use crate::db::WalRecord;
use crate::log::{Log, Lsn};
use crate::storage::Storage;
use crate::topic::{Partition, TopicRecord};

use super::{World, CHANGES, DUAL};

/// Segments listed per log at most (the newest; the rest are counted).
pub const MAX_SEGMENTS: usize = 48;
/// Entries of a view's contents sampled at most.
pub const MAX_SAMPLE: usize = 8;
/// Records one window returns at most.
pub const MAX_WINDOW: usize = 200;
/// Characters kept of a key or value (longer ones end in `…`).
pub const MAX_TEXT: usize = 40;

/// One segment of a log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentSnapshot {
    /// Its first position: an LSN in the WAL, an offset in a partition (`None`: empty).
    pub first: Option<u64>,
    /// Records in it.
    pub records: u64,
    /// Bytes in it.
    pub bytes: u64,
}

/// A log's segments: the newest [`MAX_SEGMENTS`], and what the older ones add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Segments {
    /// The newest segments, oldest first (the last is the active one).
    pub newest: Vec<SegmentSnapshot>,
    /// Older segments not listed.
    pub older: u64,
    /// Their records.
    pub older_records: u64,
    /// Their bytes.
    pub older_bytes: u64,
}

/// The database's write-ahead log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalSnapshot {
    /// The first LSN still held (checkpoints trim below; CDC's hold keeps it).
    pub first_lsn: u64,
    /// Records below this LSN are durable.
    pub durable_next: u64,
    /// The LSN the next record gets.
    pub next_lsn: u64,
    /// Bytes in all segments.
    pub bytes: u64,
    /// Its segments.
    pub segments: Segments,
    /// Whether the database is rolling back losers after a crash.
    pub recovering: bool,
}

/// The CDC connector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectorSnapshot {
    /// The next WAL LSN it reads.
    pub read_at: u64,
    /// Where it resumes after a crash (stored durably; the WAL is held from here).
    pub resume: u64,
    /// The last commit whose every event the broker acknowledged (stored).
    pub last_commit: Option<u64>,
    /// Events published and acknowledged so far (stored), over all partitions: the sum
    /// of `next_seqs` (with one partition, the next event's sequence number).
    pub next_seq: u64,
    /// Each partition's next sequence number (stored; index: partition).
    pub next_seqs: Vec<u64>,
    /// Events captured and not yet acknowledged.
    pub backlog: u64,
}

/// One partition of a topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionSnapshot {
    /// The topic.
    pub topic: String,
    /// The partition's number.
    pub partition: u32,
    /// The first offset held (retention moves it up).
    pub start_offset: u64,
    /// Records below this offset are durable: consumers see only those.
    pub high_watermark: u64,
    /// The offset the next record gets.
    pub next_offset: u64,
    /// Records held.
    pub records: u64,
    /// Bytes of its log.
    pub bytes: u64,
    /// Compactions so far (the generation of its log).
    pub generation: u64,
    /// Whether a compaction is being written or switched to.
    pub compacting: bool,
    /// Whether it keeps only the latest record per key.
    pub compacted: bool,
    /// Its size limit (whole segments dropped beyond it).
    pub retention_bytes: Option<u64>,
    /// Its segments.
    pub segments: Segments,
}

/// One materialized view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewSnapshot {
    /// Its name (`replica`, `aggregate`, `search`).
    pub name: String,
    /// `replica`, `aggregate` or `search`.
    pub kind: &'static str,
    /// The topic it consumes (every partition).
    pub topic: String,
    /// The next offset it consumes in partition 0.
    pub position: u64,
    /// The next offset it consumes in each partition of its topic (partition, offset).
    pub positions: Vec<(u32, u64)>,
    /// Acknowledged events not consumed yet, over every partition (`None`: the topic
    /// could not be read).
    pub lag: Option<u64>,
    /// Dropped and not caught up yet.
    pub rebuilding: bool,
    /// Events applied since it was (re)built.
    pub applied: u64,
    /// The last commit LSN it applied completely.
    pub applied_commit: Option<u64>,
    /// Records it reads per tick at most (0: paused).
    pub pace: u64,
    /// Stopped below the retained start of its topic (retention dropped changes it
    /// still needed).
    pub behind: bool,
    /// Entries in its contents (keys, prefixes or words).
    pub entries: u64,
    /// The first [`MAX_SAMPLE`] entries, as (entry, what it holds).
    pub sample: Vec<(String, String)>,
}

/// A member of the consumer group on `changes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// Its name.
    pub name: String,
    /// The generation of its assignment.
    pub generation: u64,
    /// Its partitions and the next offset it reads in each.
    pub positions: Vec<(u32, u64)>,
    /// What it last committed per partition.
    pub committed: Vec<(u32, u64)>,
    /// Records it reads per tick at most.
    pub pace: u64,
    /// Records read since it joined.
    pub consumed: u64,
    /// Reset and not caught up yet.
    pub replaying: bool,
}

/// The CDC pipeline now (module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineSnapshot {
    /// Virtual time.
    pub time: u64,
    /// The WAL (`None` once the database could not be reopened).
    pub wal: Option<WalSnapshot>,
    /// The connector.
    pub connector: ConnectorSnapshot,
    /// The partitions of every topic, `changes` first.
    pub partitions: Vec<PartitionSnapshot>,
    /// The views: the three CDC views, then (dual-write mode) `dual-replica`.
    pub views: Vec<ViewSnapshot>,
    /// Dual-write mode: keys that differ between the database and `dual-replica`
    /// ([`World::dual_write_divergence`]); `None` otherwise.
    pub divergence: Option<u64>,
    /// Dual-write mode: acknowledged transactions the application has yet to produce.
    pub dual_pending: u64,
    /// The consumer group's members, by name.
    pub members: Vec<MemberSnapshot>,
}

/// A Raft node now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftNodeSnapshot {
    /// Its id.
    pub id: u64,
    /// Up (not crashed).
    pub up: bool,
    /// `leader`, `candidate`, `pre_candidate`, `follower`, or `down`.
    pub role: &'static str,
    /// Its current term (0 while down).
    pub term: u64,
    /// The last index in its log.
    pub last_index: u64,
    /// The highest index it knows committed.
    pub commit_index: u64,
    /// The last index its state machine applied.
    pub applied: u64,
    /// The index its latest snapshot covers (the log before it is gone).
    pub snapshot_index: u64,
    /// Keys its state machine holds.
    pub keys: u64,
    /// Every link between it and the others is cut (a partition isolates it).
    pub cut_off: bool,
    /// The asked key's value on this node (`None`: absent), when a key was asked.
    pub value: Option<String>,
    /// It holds the asked key with exactly the asked value.
    pub holds: bool,
    /// The newest entries of its log (at most [`RAFT_LOG_SHOWN`], after its snapshot), as
    /// `(index, term)`, oldest first. Empty while down (its log is on its disk), and when
    /// the picture was asked without logs.
    pub log: Vec<(u64, u64)>,
}

/// How many of a node's newest log entries [`RaftNodeSnapshot::log`] holds.
pub const RAFT_LOG_SHOWN: u64 = 12;

/// The feed of `config.raft_replicates` now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedSnapshot {
    /// Its next offset in each partition of `changes`.
    pub positions: Vec<u64>,
    /// The batch the cluster has not answered: its number and its change events.
    pub inflight: Option<(u64, u64)>,
    /// Batches committed.
    pub batches: u64,
    /// Change events in them.
    pub events: u64,
    /// Retention dropped changes it had not read.
    pub behind: bool,
}

/// The Raft cluster now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftPicture {
    /// Its nodes, by id.
    pub nodes: Vec<RaftNodeSnapshot>,
    /// The leader, if one is up and leads.
    pub leader: Option<u64>,
    /// Blocked directed links.
    pub blocked: u64,
    /// Messages the network drops, in percent.
    pub loss_percent: u64,
    /// Each message takes `min..=max` ticks.
    pub delay: (u64, u64),
    /// The feed (`config.raft_replicates`).
    pub feed: Option<FeedSnapshot>,
}

/// One WAL record, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalLine {
    /// Its LSN.
    pub lsn: u64,
    /// `update`, `commit`, `abort`, `clr`, `checkpoint`, `create`.
    pub kind: &'static str,
    /// Its transaction.
    pub txn: Option<u64>,
    /// The key it changes.
    pub key: Option<String>,
    /// The value after (`None`: absent, or not an update).
    pub value: Option<String>,
    /// Whether it is durable.
    pub durable: bool,
}

/// One record of a partition, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordLine {
    /// Its offset.
    pub offset: u64,
    /// Its key.
    pub key: Option<String>,
    /// `insert`, `update`, `delete` for a change event; `put` or `tombstone` otherwise.
    pub op: &'static str,
    /// The value after.
    pub value: Option<String>,
    /// The change event's transaction.
    pub txn: Option<u64>,
    /// The change event's commit LSN.
    pub commit_lsn: Option<u64>,
    /// Its place in its transaction (index, count).
    pub part: Option<(u32, u32)>,
}

/// `s` cut to [`MAX_TEXT`] characters.
/// `s` cut to at most `max` characters for people (the last one then `…`).
pub fn clip_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn clip(s: &str) -> String {
    clip_to(s, MAX_TEXT)
}

fn clip_bytes(b: &[u8]) -> String {
    clip(&String::from_utf8_lossy(b))
}

/// A log's segments; `first` reads a segment's first position from its first LSN.
fn segments(log: &Log, first: impl Fn(Lsn) -> Option<u64>) -> Segments {
    let all = log.segments();
    let skip = all.len().saturating_sub(MAX_SEGMENTS);
    let (older, newest) = all.split_at(skip);
    Segments {
        newest: newest
            .iter()
            .map(|s| SegmentSnapshot {
                first: (s.records > 0).then(|| first(s.base_lsn)).flatten(),
                records: s.records,
                bytes: s.bytes,
            })
            .collect(),
        older: older.len() as u64,
        older_records: older.iter().map(|s| s.records).sum(),
        older_bytes: older.iter().map(|s| s.bytes).sum(),
    }
}

fn partition_snapshot<S: Storage + ?Sized>(
    topic: &str,
    number: u32,
    p: &Partition,
    storage: &S,
) -> PartitionSnapshot {
    let first = |lsn: Lsn| {
        p.log()
            .read(storage, lsn)
            .ok()
            .and_then(|b| TopicRecord::decode(&b).ok())
            .map(|r| r.offset)
    };
    PartitionSnapshot {
        topic: topic.to_owned(),
        partition: number,
        start_offset: p.start_offset(),
        high_watermark: p.high_watermark(),
        next_offset: p.next_offset(),
        records: p.len(),
        bytes: p.log().size_bytes(),
        generation: p.generation(),
        compacting: p.compacting(),
        compacted: p.config().compacted,
        retention_bytes: p.config().retention_bytes,
        segments: segments(p.log(), first),
    }
}

fn view_kind(v: &View) -> &'static str {
    match v {
        View::Replica(_) => "replica",
        View::Aggregate(_) => "aggregate",
        View::Search(_) => "search",
    }
}

/// The number of entries of a view and its first [`MAX_SAMPLE`].
fn sample(v: &View) -> (u64, Vec<(String, String)>) {
    match v {
        View::Replica(m) => (
            m.len() as u64,
            m.iter()
                .take(MAX_SAMPLE)
                .map(|(k, v)| (clip(&super::text(k)), clip(&super::text(v))))
                .collect(),
        ),
        View::Aggregate(m) => (
            m.len() as u64,
            m.iter()
                .take(MAX_SAMPLE)
                .map(|(p, (rows, sum))| (clip(p), format!("{rows} rows, sum {sum}")))
                .collect(),
        ),
        View::Search(m) => {
            // One walk over the index: count every word, describe the first few.
            let (mut words, mut shown) = (0u64, Vec::new());
            for (w, keys) in crate::cdc::views::search_words(m) {
                words += 1;
                if shown.len() < MAX_SAMPLE {
                    let first: Vec<&str> = keys.iter().take(3).copied().collect();
                    let more = keys.len().saturating_sub(first.len());
                    let mut text = clip(&first.join(", "));
                    if more > 0 {
                        text.push_str(&format!(" +{more}"));
                    }
                    shown.push((clip(w), text));
                }
            }
            (words, shown)
        }
    }
}

impl World {
    /// The CDC pipeline now (`None` without CDC).
    pub fn pipeline(&self) -> Option<PipelineSnapshot> {
        let c = self.cdc.as_ref()?;
        let wal = self.db.as_ref().map(|db| {
            let log = db.wal();
            WalSnapshot {
                first_lsn: log.first_lsn().0,
                durable_next: log.durable_next().0,
                next_lsn: log.next_lsn().0,
                bytes: log.size_bytes(),
                segments: segments(log, |l| Some(l.0)),
                recovering: db.is_recovering(),
            }
        });
        let state = c.connector.state();
        let connector = ConnectorSnapshot {
            read_at: c.connector.read_at().0,
            resume: state.resume.0,
            last_commit: state.last_commit.map(|l| l.0),
            next_seq: state.published(),
            next_seqs: state.next_seq.clone(),
            backlog: c.connector.backlog() as u64,
        };
        let mut partitions = Vec::new();
        for topic in [CHANGES, DUAL] {
            if let Ok(parts) = c.broker.partitions(topic) {
                for (i, p) in parts.iter().enumerate() {
                    let n = u32::try_from(i).unwrap_or(u32::MAX);
                    partitions.push(partition_snapshot(
                        topic,
                        n,
                        p,
                        &c.broker_disk as &dyn Storage,
                    ));
                }
            }
        }
        let view = |v: &MaterializedView, topic: &str, rebuilding: bool, behind: bool| {
            let (entries, sample) = sample(&v.view);
            ViewSnapshot {
                pace: c
                    .paces
                    .get(&v.name)
                    .copied()
                    .unwrap_or(self.config.view_events_per_tick),
                behind,
                name: v.name.clone(),
                kind: view_kind(&v.view),
                topic: topic.to_owned(),
                position: v.position(0),
                positions: (0..c.broker.partitions(topic).map_or(0, |ps| ps.len()))
                    .map(|p| {
                        let p = u32::try_from(p).expect("at most 1024 partitions");
                        (p, v.position(p))
                    })
                    .collect(),
                lag: v.lag(&c.broker, topic).ok(),
                rebuilding,
                applied: v.applied,
                applied_commit: v.applied_commit,
                entries,
                sample,
            }
        };
        let mut views: Vec<ViewSnapshot> = c
            .views
            .iter()
            .zip(&c.rebuilding)
            .zip(&c.behind)
            .map(|((v, &rebuilding), &behind)| view(v, CHANGES, rebuilding, behind))
            .collect();
        if let Some(d) = &c.dual {
            views.push(view(d, DUAL, false, false));
        }
        let members = c
            .members
            .iter()
            .map(|(name, m)| MemberSnapshot {
                name: name.clone(),
                generation: m.generation,
                positions: m.positions.iter().map(|(p, o)| (*p, *o)).collect(),
                committed: m.committed.iter().map(|(p, o)| (*p, *o)).collect(),
                pace: m.pace,
                consumed: m.consumed,
                replaying: m.replaying,
            })
            .collect();
        Some(PipelineSnapshot {
            time: self.time,
            wal,
            connector,
            partitions,
            views,
            divergence: self.dual_write_divergence(),
            dual_pending: c.app_outbox.len() as u64,
            members,
        })
    }

    /// The Raft cluster: each node's role, term, state machine (with the value of
    /// `follow`'s key on it, and whether it is `follow`'s value) and, with `logs`, its
    /// newest log entries; and the feed. `None` without a cluster.
    pub fn raft_picture(&self, follow: Option<(&[u8], &[u8])>, logs: bool) -> Option<RaftPicture> {
        use crate::raft::Role;
        let r = self.raft.as_ref()?;
        let c = &r.cluster;
        let blocked = c.blocked();
        let n = c.servers().len();
        let nodes = c
            .servers()
            .iter()
            .map(|(&id, s)| {
                let node = s.node();
                let cut = blocked.iter().filter(|(a, b)| *a == id || *b == id).count();
                RaftNodeSnapshot {
                    id,
                    up: node.is_some(),
                    role: match node.map(|n| n.role()) {
                        None => "down",
                        Some(Role::Leader) => "leader",
                        Some(Role::Candidate) => "candidate",
                        Some(Role::PreCandidate) => "pre_candidate",
                        Some(Role::Follower) => "follower",
                    },
                    term: node.map_or(0, |n| n.term()),
                    last_index: node.map_or(0, |n| n.last_index()),
                    commit_index: node.map_or(0, |n| n.commit_index()),
                    applied: s.kv().applied(),
                    snapshot_index: node.map_or(0, |n| n.snapshot_index()),
                    keys: s.kv().data().len() as u64,
                    cut_off: n > 1 && cut >= 2 * (n - 1),
                    value: follow.and_then(|(k, _)| s.kv().get(k)).map(clip_bytes),
                    holds: follow.is_some_and(|(k, v)| s.kv().get(k) == Some(v)),
                    log: node.filter(|_| logs).map_or_else(Vec::new, |n| {
                        let first = n
                            .snapshot_index()
                            .max(n.last_index().saturating_sub(RAFT_LOG_SHOWN))
                            + 1;
                        (first..=n.last_index())
                            .filter_map(|i| n.term_at(i).map(|t| (i, t)))
                            .collect()
                    }),
                }
            })
            .collect();
        Some(RaftPicture {
            nodes,
            leader: c.leader(),
            blocked: blocked.len() as u64,
            loss_percent: u64::from(c.config().net.loss_per_million / 10_000),
            delay: (c.config().net.latency_min, c.config().net.latency_max),
            feed: r.feed.as_ref().map(|f| FeedSnapshot {
                positions: f.positions.clone(),
                inflight: f.inflight.as_ref().map(|b| (b.seq, b.writes.len() as u64)),
                batches: f.batches,
                events: f.events,
                behind: f.behind,
            }),
        })
    }

    /// Up to `max` (at most [`MAX_WINDOW`]) WAL records from `from` on (clamped to the
    /// records held). Empty without a database.
    pub fn wal_window(&self, from: u64, max: usize) -> Vec<WalLine> {
        let Some(db) = &self.db else {
            return Vec::new();
        };
        let log = db.wal();
        let (first, next, durable) = (log.first_lsn().0, log.next_lsn().0, log.durable_next().0);
        let from = from.clamp(first, next);
        let max = max.min(MAX_WINDOW) as u64;
        (from..next.min(from.saturating_add(max)))
            .filter_map(|lsn| {
                let bytes = log.read(db.storage() as &dyn Storage, Lsn(lsn)).ok()?;
                let rec = WalRecord::decode(&bytes).ok()?;
                let (txn, key, value) = match &rec {
                    WalRecord::Update {
                        txn, key, after, ..
                    } => (
                        Some(txn.0),
                        Some(clip_bytes(key)),
                        after.as_deref().map(clip_bytes),
                    ),
                    WalRecord::Clr {
                        txn, key, restored, ..
                    } => (
                        Some(txn.0),
                        Some(clip_bytes(key)),
                        restored.as_deref().map(clip_bytes),
                    ),
                    WalRecord::Commit { txn } | WalRecord::Abort { txn } => {
                        (Some(txn.0), None, None)
                    }
                    WalRecord::Checkpoint { .. } | WalRecord::Create { .. } => (None, None, None),
                };
                Some(WalLine {
                    lsn,
                    kind: rec.kind(),
                    txn,
                    key,
                    value,
                    durable: lsn < durable,
                })
            })
            .collect()
    }

    /// Up to `max` (at most [`MAX_WINDOW`]) durable records of `changes`' partition
    /// `partition` from offset `from` on (raised to the partition's start; compaction
    /// leaves gaps, so the first is at or after it). Empty without CDC or such a
    /// partition.
    pub fn partition_window(&self, partition: u32, from: u64, max: usize) -> Vec<RecordLine> {
        let Some(c) = &self.cdc else {
            return Vec::new();
        };
        let Some(p) = c
            .broker
            .partitions(CHANGES)
            .ok()
            .and_then(|ps| ps.get(partition as usize))
        else {
            return Vec::new();
        };
        let from = from.clamp(p.start_offset(), p.next_offset());
        let Ok(records) = p.read(&c.broker_disk as &dyn Storage, from, max.min(MAX_WINDOW)) else {
            return Vec::new();
        };
        records.iter().map(record_line).collect()
    }

    /// Where the change events of the commit at `commit_lsn` are in `changes`: (partition,
    /// offset of its first event there; with several partitions, the lowest partition
    /// holding one of them), once the broker holds them durably; found by bisection
    /// (commit order is offset order within a partition).
    pub fn change_offset(&self, commit_lsn: u64) -> Option<(u32, u64)> {
        let c = self.cdc.as_ref()?;
        let parts = c.broker.partitions(CHANGES).ok()?;
        for (i, p) in parts.iter().enumerate() {
            let commit_at = |offset: u64| -> Option<(u64, u64)> {
                let r = p
                    .read(&c.broker_disk as &dyn Storage, offset, 1)
                    .ok()?
                    .into_iter()
                    .next()?;
                let e = ChangeEvent::decode(r.value.as_deref()?).ok()?;
                Some((r.offset, e.commit_lsn))
            };
            let (mut lo, mut hi) = (p.start_offset(), p.high_watermark());
            // The first offset whose commit is at or after `commit_lsn`.
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match commit_at(mid) {
                    Some((o, l)) if l < commit_lsn => lo = o + 1,
                    Some(_) => hi = mid,
                    None => hi = mid,
                }
            }
            if let Some((o, l)) = commit_at(lo) {
                if l == commit_lsn {
                    return Some((u32::try_from(i).unwrap_or(u32::MAX), o));
                }
            }
        }
        None
    }

    /// Whether each view equals the view computed from `rows` (the database's rows, from
    /// [`World::contents`]), as (view, equal). Empty without CDC.
    pub fn views_against(&self, rows: &[(String, String)]) -> Vec<(String, bool)> {
        let Some(c) = &self.cdc else {
            return Vec::new();
        };
        c.views
            .iter()
            .map(|v| {
                let kind = match v.view {
                    View::Replica(_) => crate::cdc::views::ViewKind::Replica,
                    View::Aggregate(_) => crate::cdc::views::ViewKind::Aggregate,
                    View::Search(_) => crate::cdc::views::ViewKind::Search,
                };
                let direct =
                    View::of_rows(kind, rows.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                (v.name.clone(), v.view == direct)
            })
            .collect()
    }

    /// Each Raft node that is up against the database's rows (`rows` as
    /// [`World::contents`] gives them): whether its state machine holds exactly them.
    /// Empty without a cluster.
    pub fn raft_against(&self, rows: &[(String, String)]) -> Vec<(u64, bool)> {
        let Some(r) = &self.raft else {
            return Vec::new();
        };
        r.cluster
            .servers()
            .iter()
            .filter(|(n, _)| r.cluster.is_up(**n))
            .map(|(n, s)| {
                let data = s.kv().data();
                let same = data.len() == rows.len()
                    && rows.iter().all(|(k, v)| {
                        data.get(k.as_bytes()).map(Vec::as_slice) == Some(v.as_bytes())
                    });
                (*n, same)
            })
            .collect()
    }
}

fn record_line(r: &TopicRecord) -> RecordLine {
    let event = r.value.as_deref().and_then(|v| ChangeEvent::decode(v).ok());
    match event {
        Some(e) => RecordLine {
            offset: r.offset,
            key: Some(clip(&e.key)),
            op: match e.op {
                crate::cdc::Op::Insert => "insert",
                crate::cdc::Op::Update => "update",
                crate::cdc::Op::Delete => "delete",
            },
            value: e.after.as_deref().map(clip),
            txn: Some(e.txn),
            commit_lsn: Some(e.commit_lsn),
            part: Some((e.index, e.count)),
        },
        None => RecordLine {
            offset: r.offset,
            key: r.key.as_deref().map(clip_bytes),
            op: if r.value.is_some() {
                "put"
            } else {
                "tombstone"
            },
            value: r.value.as_deref().map(clip_bytes),
            txn: None,
            commit_lsn: None,
            part: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Action, WorldConfig};
    use super::*;

    fn cdc_world(seed: u64) -> World {
        let config = WorldConfig {
            cdc: true,
            ..WorldConfig::default()
        };
        World::new(config, seed).expect("a world").0
    }

    fn settle(w: &mut World) {
        for _ in 0..20_000 {
            if w.is_settled() {
                return;
            }
            w.tick();
        }
        panic!("not settled (seed {}): {}", w.seed(), w.busy_with());
    }

    #[test]
    fn without_cdc_there_is_no_pipeline() {
        let (w, _) = World::new(WorldConfig::default(), 1).unwrap();
        assert_eq!(w.pipeline(), None);
        assert!(w.partition_window(0, 0, 10).is_empty());
        assert_eq!(w.change_offset(1), None);
        assert!(w.views_against(&[]).is_empty());
    }

    #[test]
    fn a_write_flows_from_the_wal_through_the_topic_into_every_view() {
        let mut w = cdc_world(7);
        w.apply(&Action::Write {
            key: "apple".into(),
            value: "red".into(),
        });
        let before = w.pipeline().unwrap();
        let wal = before.wal.clone().unwrap();
        assert!(
            wal.next_lsn > wal.durable_next,
            "the commit is not durable yet"
        );
        assert_eq!(before.partitions[0].high_watermark, 0);
        let lines = w.wal_window(wal.first_lsn, 100);
        let commit = lines
            .iter()
            .find(|l| l.kind == "commit")
            .expect("a commit record")
            .lsn;
        assert!(lines
            .iter()
            .any(|l| l.kind == "update" && l.key.as_deref() == Some("apple")));
        assert_eq!(w.change_offset(commit), None, "not published yet");
        settle(&mut w);
        // The connector's stored position follows its own sync.
        for _ in 0..200 {
            w.tick();
        }
        let after = w.pipeline().unwrap();
        let p = &after.partitions[0];
        assert_eq!((p.start_offset, p.high_watermark, p.next_offset), (0, 1, 1));
        assert_eq!(after.connector.last_commit, Some(commit));
        assert_eq!(w.change_offset(commit), Some((0, 0)));
        let recs = w.partition_window(0, 0, 10);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].key.as_deref(), Some("apple"));
        assert_eq!(recs[0].op, "insert");
        assert_eq!(recs[0].commit_lsn, Some(commit));
        for v in &after.views {
            assert_eq!((v.position, v.lag), (1, Some(0)), "{}", v.name);
            assert_eq!(v.applied_commit, Some(commit));
            assert!(!v.rebuilding);
        }
        let replica = after.views.iter().find(|v| v.kind == "replica").unwrap();
        assert_eq!(replica.sample, vec![("apple".to_owned(), "red".to_owned())]);
        let rows = w.contents();
        assert!(w.views_against(&rows).iter().all(|(_, eq)| *eq));
        assert!(
            !w.views_against(&[]).iter().all(|(_, eq)| *eq),
            "an empty table is not what the views hold"
        );
    }

    #[test]
    fn change_offsets_are_found_by_bisection_among_many_commits() {
        let mut w = cdc_world(11);
        w.apply(&Action::Workload {
            clients: 4,
            transactions: 120,
            keys: 40,
            writes: 3,
        });
        settle(&mut w);
        let snap = w.pipeline().unwrap();
        let p = &snap.partitions[0];
        assert!(p.high_watermark > 100, "{}", p.high_watermark);
        // Every record's commit is found at the offset of its transaction's first event.
        let mut at = 0;
        let mut checked = 0;
        while at < p.high_watermark {
            let window = w.partition_window(0, at, MAX_WINDOW);
            assert!(!window.is_empty());
            for r in &window {
                let (index, _) = r.part.unwrap();
                let found = w.change_offset(r.commit_lsn.unwrap());
                assert_eq!(found, Some((0, r.offset - u64::from(index))), "{r:?}");
                checked += 1;
            }
            at = window.last().unwrap().offset + 1;
        }
        assert_eq!(checked, p.high_watermark);
        assert_eq!(w.change_offset(u64::MAX), None);
        // Windows are bounded and clamped.
        let hw = usize::try_from(p.high_watermark).unwrap();
        assert_eq!(w.partition_window(0, 0, 10_000).len(), hw.min(MAX_WINDOW));
        assert_eq!(w.partition_window(0, 0, 7).len(), 7);
        assert!(w.wal_window(0, 10_000).len() <= MAX_WINDOW);
        assert!(w.partition_window(7, 0, 10).is_empty(), "no such partition");
    }

    #[test]
    fn a_rebuilt_view_is_marked_until_it_catches_up() {
        let mut w = cdc_world(3);
        for i in 0..5 {
            w.apply(&Action::Write {
                key: format!("k{i}"),
                value: format!("v {i}"),
            });
        }
        settle(&mut w);
        w.apply(&Action::RebuildView {
            view: "search".into(),
        });
        let s = w.pipeline().unwrap();
        let search = s.views.iter().find(|v| v.name == "search").unwrap();
        assert!(search.rebuilding);
        assert_eq!(search.position, 0);
        assert_eq!(search.entries, 0);
        assert_eq!(search.lag, Some(s.partitions[0].high_watermark));
        settle(&mut w);
        let s = w.pipeline().unwrap();
        let search = s.views.iter().find(|v| v.name == "search").unwrap();
        assert!(!search.rebuilding);
        assert_eq!(search.lag, Some(0));
        assert_eq!(
            search.entries, 6,
            "the words v and 0 to 4: {:?}",
            search.sample
        );
    }

    #[test]
    fn dual_write_mode_shows_the_second_topic_its_replica_and_the_divergence() {
        let config = WorldConfig {
            cdc: true,
            dual_write: true,
            ..WorldConfig::default()
        };
        let (mut w, _) = World::new(config, 5).unwrap();
        w.apply(&Action::Write {
            key: "apple".into(),
            value: "red".into(),
        });
        settle(&mut w);
        // The application's produce is not waited for (a plain producer): give its sync
        // time.
        for _ in 0..200 {
            w.tick();
        }
        let s = w.pipeline().unwrap();
        let dual = s.partitions.iter().find(|p| p.topic == "dual").unwrap();
        assert_eq!(dual.high_watermark, 1);
        let replica = s.views.iter().find(|v| v.name == "dual-replica").unwrap();
        assert_eq!(replica.topic, "dual");
        assert_eq!(replica.sample, vec![("apple".to_owned(), "red".to_owned())]);
        assert_eq!((s.divergence, s.dual_pending), (Some(0), 0));
        assert_eq!(cdc_world(5).pipeline().unwrap().divergence, None);
    }

    #[test]
    fn paces_members_and_retention_show() {
        let config = WorldConfig {
            cdc: true,
            retention_bytes: 12 * 1024,
            ..WorldConfig::default()
        };
        let (mut w, _) = World::new(config, 8).unwrap();
        w.apply(&Action::SetPace {
            consumer: "search".into(),
            events_per_tick: 0,
        });
        w.apply(&Action::SetPace {
            consumer: "replica".into(),
            events_per_tick: 1000,
        });
        w.apply(&Action::JoinConsumer {
            consumer: "c1".into(),
        });
        w.apply(&Action::Workload {
            clients: 4,
            transactions: 200,
            keys: 50,
            writes: 3,
        });
        for _ in 0..3000 {
            w.tick();
        }
        let s = w.pipeline().unwrap();
        let search = s.views.iter().find(|v| v.name == "search").unwrap();
        assert_eq!(
            (search.pace, search.position),
            (0, 0),
            "paused from the start"
        );
        let replica = s.views.iter().find(|v| v.name == "replica").unwrap();
        assert_eq!(replica.pace, 1000);
        let aggregate = s.views.iter().find(|v| v.name == "aggregate").unwrap();
        assert_eq!(
            aggregate.pace,
            w.config().view_events_per_tick,
            "the default"
        );
        let p = &s.partitions[0];
        assert_eq!(p.retention_bytes, Some(12 * 1024));
        assert!(p.start_offset > 0, "retention dropped segments: {p:?}");
        assert!(
            search.behind,
            "the paused view fell behind the retained start"
        );
        assert_eq!(s.members.len(), 1);
        let m = &s.members[0];
        assert_eq!(m.name, "c1");
        assert_eq!(m.positions.len(), 1, "one partition assigned");
        assert!(m.consumed > 0);
    }

    #[test]
    fn long_text_is_clipped() {
        let long = "x".repeat(500);
        assert_eq!(clip(&long).chars().count(), MAX_TEXT);
        assert!(clip(&long).ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
