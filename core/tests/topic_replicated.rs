//! The checks of Maelstrom's `kafka` workload against a topic whose partitions and
//! consumer offsets are replicated by Raft groups ([`ReplicatedTopic`]), on seeded
//! simulations with broker crashes and restarts, network partitions between brokers,
//! message loss, duplication and reordering. Checked throughout:
//!
//! * **no acknowledged send is lost**: every record acknowledged (acks = all) is at its
//!   acknowledged offset with its value — in every replica that has applied that far
//!   (every 50 ticks), in a full read of every partition after each crash (a
//!   linearizable fetch: it must hold everything acknowledged before it was sent), and
//!   in every replica at the end, after healing;
//! * **offsets in a partition are unique and increasing**: fetches return consecutive
//!   offsets from the one asked, and every (producer, sequence) is placed exactly once
//!   (retries to a new leader included);
//! * **a consumer sees each partition in offset order with no gap** over committed
//!   records: its cursor moves through consecutive offsets, and a fetch's high watermark
//!   covers every record acknowledged before it was sent;
//! * **committed offsets never go backwards**: a committed-offset read returns at least
//!   every commit acknowledged before it was sent, a lower commit is refused, and at the
//!   end every offsets replica holds at least the highest acknowledged commit;
//! * **Raft safety** (Figure 3) in every group, after every step (the simulator's
//!   checkers).
//!
//! The contrast: the same seeds with acks = 1 (acknowledged once the leader appended the
//! batch to its own log) lose acknowledged records, and the test counts on how many seeds.
//!
//! Seeds: 500 per run (40 in wasm); `LOGSPINE_SEEDS` / `LOGSPINE_SEED`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::{BTreeMap, BTreeSet};

use logspine_core::raft::sim::NetConfig;
use logspine_core::topic::replicated::{Completion, ReplicatedError, TopicStats};
use logspine_core::topic::{Acks, ReplicatedConfig, ReplicatedTopic};
use logspine_core::Rng;

const GROUP: &str = "billing";

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    acked: u64,
    consumed: u64,
    commits: u64,
    backwards_refused: u64,
    crashes: u64,
    partitions: u64,
    elections: u64,
    snapshots_installed: u64,
    retries: u64,
    /// Acknowledged records lost (acks=1 only; acks=all fails the seed instead).
    lost: u64,
    seeds_losing: u64,
}

/// A consumer of one partition.
#[derive(Default)]
struct Cursor {
    next: u64,
    /// The fetch in flight: its id and the highest offset acknowledged when it was sent.
    fetch: Option<(u64, Option<u64>)>,
    /// The commit in flight: id, offset, and whether it is a deliberate backwards one.
    commit: Option<(u64, u64, bool)>,
    /// A committed-offset read in flight: id and the highest acknowledged commit then.
    read: Option<(u64, u64)>,
    acked_commit: u64,
}

struct Sim {
    topic: ReplicatedTopic,
    acks_all: bool,
    /// (partition, offset) → (producer, sequence, value), acknowledged.
    acked: BTreeMap<(u32, u64), (u64, u64, Vec<u8>)>,
    /// Values sent and not yet acknowledged.
    sent: BTreeSet<Vec<u8>>,
    cursors: Vec<Cursor>,
    /// Full reads after a crash: id → the highest acknowledged offset per partition then.
    audits: BTreeMap<u64, Option<u64>>,
    lost: BTreeSet<(u32, u64)>,
    next_value: u64,
    tally: Tally,
}

impl Sim {
    fn partitions(&self) -> u32 {
        u32::try_from(self.cursors.len()).unwrap()
    }

    fn max_acked(&self, p: u32) -> Option<u64> {
        self.acked
            .range((p, 0)..(p + 1, 0))
            .next_back()
            .map(|(&(_, o), _)| o)
    }

    /// An acknowledged record missing or changed: an error with acks=all, counted with
    /// acks=1.
    fn lose(&mut self, p: u32, o: u64, what: String) -> Result<(), String> {
        if self.acks_all {
            return Err(what);
        }
        self.lost.insert((p, o));
        Ok(())
    }

    fn check_record(
        &mut self,
        p: u32,
        o: u64,
        producer: Option<(u64, u64)>,
        value: Option<&Vec<u8>>,
        when: &str,
    ) -> Result<(), String> {
        if let Some((pid, seq, v)) = self.acked.get(&(p, o)) {
            if value != Some(v) || producer != Some((*pid, *seq)) {
                let what = format!(
                    "{when}: acknowledged {p}/{o} ({pid}/{seq}) reads {producer:?} {:?}",
                    value.map(|v| String::from_utf8_lossy(v).into_owned())
                );
                return self.lose(p, o, what);
            }
        }
        Ok(())
    }

    fn on_completion(&mut self, c: Completion) -> Result<(), String> {
        match c {
            Completion::Acked(a) => {
                let value = a.value.clone().ok_or("a tombstone was acknowledged")?;
                if !self.sent.remove(&value) {
                    return Err(format!("{a:?} acknowledged twice or never sent"));
                }
                if let Some(prev) = self
                    .acked
                    .insert((a.partition, a.offset), (a.producer, a.sequence, value))
                {
                    let what = format!(
                        "two acknowledged sends at {}/{}: {prev:?} and {a:?}",
                        a.partition, a.offset
                    );
                    self.lose(a.partition, a.offset, what)?;
                }
                self.tally.acked += 1;
            }
            Completion::Refused { error, .. } => {
                if self.acks_all {
                    return Err(format!("refused with acks=all: {error}"));
                }
            }
            Completion::Fetched {
                request,
                partition: p,
                offset,
                fetched,
            } => {
                let audit = self.audits.remove(&request);
                let cursor = &self.cursors[p as usize];
                let ours = cursor.fetch.filter(|(id, _)| *id == request);
                let Some(max_before) = audit.or(ours.map(|(_, m)| m)) else {
                    return Err(format!("an unknown fetch {request}"));
                };
                // Linearizable: everything acknowledged before the fetch is below its
                // high watermark.
                if let Some(m) = max_before {
                    if fetched.high_watermark <= m {
                        let what = format!(
                            "partition {p}: a fetch sees high watermark {} but {m} was acknowledged before it",
                            fetched.high_watermark
                        );
                        self.lose(p, m, what)?;
                    }
                }
                for (i, r) in fetched.records.iter().enumerate() {
                    if r.offset != offset + i as u64 {
                        return Err(format!(
                            "partition {p}: fetch from {offset} returned offset {} at position {i}",
                            r.offset
                        ));
                    }
                    self.check_record(p, r.offset, r.producer, r.value.as_ref(), "fetch")?;
                }
                if ours.is_some() {
                    let c = &mut self.cursors[p as usize];
                    c.fetch = None;
                    if offset != c.next {
                        return Err(format!(
                            "partition {p}: cursor at {} fetched {offset}",
                            c.next
                        ));
                    }
                    c.next += fetched.records.len() as u64;
                    self.tally.consumed += fetched.records.len() as u64;
                }
            }
            Completion::Committed {
                request,
                commit,
                result,
            } => {
                let p = commit.partition;
                let c = &mut self.cursors[p as usize];
                let Some((id, offset, backwards)) = c.commit else {
                    return Err(format!("an unknown commit {request}"));
                };
                if id != request || offset != commit.offset {
                    return Err(format!("commit {request} answered for {id}"));
                }
                c.commit = None;
                match (backwards, result) {
                    (false, Ok(())) => {
                        c.acked_commit = c.acked_commit.max(offset);
                        self.tally.commits += 1;
                    }
                    (true, Err(ReplicatedError::Backwards { current, .. })) => {
                        if current <= offset {
                            return Err(format!(
                                "partition {p}: {offset} refused as below {current}"
                            ));
                        }
                        self.tally.backwards_refused += 1;
                    }
                    (b, r) => {
                        return Err(format!(
                            "partition {p}: commit of {offset} (backwards: {b}, acknowledged commit {}) gave {r:?}",
                            c.acked_commit
                        ))
                    }
                }
            }
            Completion::CommittedOffset {
                request,
                key,
                offset,
            } => {
                let p = key.partition;
                let c = &mut self.cursors[p as usize];
                let Some((id, floor)) = c.read.take() else {
                    return Err(format!("an unknown read {request}"));
                };
                if id != request {
                    return Err(format!("read {request} answered for {id}"));
                }
                let got = offset.unwrap_or(0);
                if got < floor {
                    return Err(format!(
                        "partition {p}: committed offset went back from {floor} to {got}"
                    ));
                }
                // The consumer restarts from its committed offset.
                if c.fetch.is_none() {
                    c.next = got;
                }
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        self.topic.step().map_err(|e| e.to_string())?;
        for c in self.topic.take_completions() {
            self.on_completion(c)?;
        }
        if self.topic.now().is_multiple_of(50) {
            self.check_replicas("replicas")?;
        }
        Ok(())
    }

    /// Every replica that has applied past an acknowledged offset holds that record.
    fn check_replicas(&mut self, when: &str) -> Result<(), String> {
        let mut bad = Vec::new();
        for p in 0..self.partitions() {
            for b in 1..=self.topic.config().brokers {
                let Some(r) = self.topic.replica(p, b) else {
                    continue;
                };
                for (&(_, o), (pid, seq, v)) in self.acked.range((p, 0)..(p, r.next_offset())) {
                    let rec = &r.records()[usize::try_from(o).unwrap()];
                    if rec.value.as_ref() != Some(v) || rec.producer != Some((*pid, *seq)) {
                        bad.push((p, o, format!("{when}: broker {b} holds {rec:?} at acknowledged {p}/{o} ({pid}/{seq})")));
                    }
                }
            }
        }
        for (p, o, what) in bad {
            self.lose(p, o, what)?;
        }
        Ok(())
    }

    /// The consumer of a random partition fetches, commits, commits backwards on
    /// purpose, or restarts from its committed offset.
    fn consume(&mut self, rng: &mut Rng) -> Result<(), String> {
        let p = u32::try_from(rng.index(self.cursors.len())).unwrap();
        let max_acked = self.max_acked(p);
        let c = &self.cursors[p as usize];
        if c.read.is_some() {
            return Ok(());
        }
        let (next, acked_commit) = (c.next, c.acked_commit);
        let (fetching, committing) = (c.fetch.is_some(), c.commit.is_some());
        let e = |e: ReplicatedError| e.to_string();
        match rng.below(10) {
            0..=5 if !fetching => {
                let id = self
                    .topic
                    .fetch(p, next, 1 + u32::try_from(rng.below(8)).unwrap())
                    .map_err(e)?;
                self.cursors[p as usize].fetch = Some((id, max_acked));
            }
            6 if !committing && acked_commit > 0 => {
                let low = rng.below(acked_commit);
                let id = self.topic.commit(GROUP, p, low).map_err(e)?;
                self.cursors[p as usize].commit = Some((id, low, true));
            }
            7 if !fetching && !committing => {
                let id = self.topic.read_committed(GROUP, p).map_err(e)?;
                self.cursors[p as usize].read = Some((id, acked_commit));
            }
            _ if !committing && next > acked_commit => {
                let id = self.topic.commit(GROUP, p, next).map_err(e)?;
                self.cursors[p as usize].commit = Some((id, next, false));
            }
            _ => {}
        }
        Ok(())
    }

    fn audit(&mut self) -> Result<(), String> {
        for p in 0..self.partitions() {
            let m = self.max_acked(p);
            let id = self
                .topic
                .fetch(p, 0, u32::MAX)
                .map_err(|e| e.to_string())?;
            self.audits.insert(id, m);
        }
        Ok(())
    }

    /// After healing: every replica of a partition holds the same records; every
    /// acknowledged record is there; each (producer, sequence) is placed once; every
    /// offsets replica holds at least each acknowledged commit.
    fn check_end(&mut self) -> Result<(), String> {
        let brokers = self.topic.config().brokers;
        for p in 0..self.partitions() {
            let first = self.topic.replica(p, 1).ok_or("broker 1 is down")?.clone();
            first.validate();
            for b in 2..=brokers {
                let r = self.topic.replica(p, b).ok_or("a broker is down")?;
                if r.records() != first.records() {
                    return Err(format!(
                        "partition {p}: replicas 1 and {b} differ at the end"
                    ));
                }
            }
            let mut placed = BTreeSet::new();
            for r in first.records() {
                if !placed.insert(r.producer) {
                    return Err(format!("partition {p}: {:?} placed twice", r.producer));
                }
            }
            let acked: Vec<_> = self
                .acked
                .range((p, 0)..(p + 1, 0))
                .map(|(k, _)| *k)
                .collect();
            for (_, o) in acked {
                match first.records().get(usize::try_from(o).unwrap()) {
                    Some(r) => {
                        let (pr, v) = (r.producer, r.value.clone());
                        self.check_record(p, o, pr, v.as_ref(), "at the end")?;
                    }
                    None => self.lose(
                        p,
                        o,
                        format!("at the end: acknowledged {p}/{o} is past the partition's end"),
                    )?,
                }
            }
        }
        let offsets = self.topic.offsets_group();
        for (b, s) in offsets.servers() {
            for (p, c) in self.cursors.iter().enumerate() {
                let key = logspine_core::topic::replicated::OffsetKey {
                    group: GROUP.into(),
                    partition: u32::try_from(p).unwrap(),
                };
                let got = s
                    .state_machine()
                    .committed()
                    .get(&key)
                    .copied()
                    .unwrap_or(0);
                if got < c.acked_commit {
                    return Err(format!(
                        "at the end: broker {b} holds committed offset {got} for {p}, {} was acknowledged",
                        c.acked_commit
                    ));
                }
            }
        }
        if self.acks_all && !self.sent.is_empty() {
            return Err(format!(
                "{} sends never acknowledged after healing",
                self.sent.len()
            ));
        }
        Ok(())
    }
}

fn run_seed(seed: u64, acks: Acks, total: &mut Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let brokers = [3, 3, 5][rng.index(3)];
    let partitions = 1 + u32::try_from(rng.below(2)).unwrap();
    let mut config = ReplicatedConfig::new(brokers, partitions);
    config.acks = acks;
    config.batch_records = [1, 4, 16][rng.index(3)];
    config.snapshot_every = [16, 32, 64][rng.index(3)];
    config.raft.max_entries_per_message = 1 + rng.below(8);
    config.raft.snapshot_chunk_bytes = [512, 2048, 8192][rng.index(3)];
    config.net = NetConfig {
        latency_min: 1,
        latency_max: 1 + rng.below(4),
        spike_per_million: [0, 20_000][rng.index(2)],
        spike_max: 30,
        loss_per_million: [0, 10_000, 50_000][rng.index(3)],
        dup_per_million: [0, 10_000][rng.index(2)],
    };
    let topic = ReplicatedTopic::new(config, rng.next_u64()).map_err(|e| e.to_string())?;
    let mut s = Sim {
        topic,
        acks_all: acks == Acks::All,
        acked: BTreeMap::new(),
        sent: BTreeSet::new(),
        cursors: (0..partitions).map(|_| Cursor::default()).collect(),
        audits: BTreeMap::new(),
        lost: BTreeSet::new(),
        next_value: 0,
        tally: Tally::default(),
    };
    let producers = 1 + rng.below(3);
    let mut down: BTreeSet<u64> = BTreeSet::new();
    let minority = usize::try_from((brokers - 1) / 2).unwrap();
    for step in 0..400u64 {
        let r = (|| -> Result<(), String> {
            match rng.below(100) {
                0..=29 => {
                    for _ in 0..1 + rng.below(2) {
                        let key = format!("k{}", rng.below(20)).into_bytes();
                        let value = format!("v{}", s.next_value).into_bytes();
                        s.next_value += 1;
                        s.topic
                            .send(1 + rng.below(producers), Some(&key), Some(&value))
                            .map_err(|e| e.to_string())?;
                        s.sent.insert(value);
                    }
                }
                40..=69 => s.consume(&mut rng)?,
                70 if down.len() < minority || rng.below(4) == 0 => {
                    let b = 1 + rng.below(brokers);
                    if down.insert(b) {
                        s.topic.crash(b).map_err(|e| e.to_string())?;
                        s.audit()?;
                    }
                }
                71..=72 if !down.is_empty() => {
                    let b = *down.iter().nth(rng.index(down.len())).unwrap();
                    down.remove(&b);
                    s.topic.restart(b).map_err(|e| e.to_string())?;
                }
                73 => {
                    let mut ids: Vec<u64> = (1..=brokers).collect();
                    let cut = 1 + rng.index(ids.len() - 1);
                    for i in (1..ids.len()).rev() {
                        ids.swap(i, rng.index(i + 1));
                    }
                    let (a, b) = ids.split_at(cut);
                    s.topic.set_partition(&[a.to_vec(), b.to_vec()]);
                    s.tally.partitions += 1;
                }
                74..=75 => s.topic.heal(),
                _ => {}
            }
            s.step()
        })();
        r.map_err(|e| format!("tick {step}: {e}"))?;
    }
    // Heal: every broker up, no partition, no loss; everything must be acknowledged and
    // every replica converge.
    s.topic.heal();
    for b in std::mem::take(&mut down) {
        s.topic.restart(b).map_err(|e| e.to_string())?;
    }
    let mut net = s.topic.config().net;
    net.loss_per_million = 0;
    net.dup_per_million = 0;
    s.topic.set_network(net);
    s.audit()?;
    let mut settled = 0;
    for _ in 0..6000 {
        s.step().map_err(|e| format!("healing: {e}"))?;
        // Every replica of every group (offsets included) applied the same index.
        let converged = (0..partitions).all(|p| {
            let g = s.topic.partition_group(p).unwrap();
            let applied: BTreeSet<_> = g
                .servers()
                .values()
                .map(|s| s.node().map(|n| n.applied_index()))
                .collect();
            applied.len() == 1 && g.leader().is_some()
        }) && {
            let g = s.topic.offsets_group();
            let applied: BTreeSet<_> = g
                .servers()
                .values()
                .map(|s| s.node().map(|n| n.applied_index()))
                .collect();
            applied.len() == 1 && g.leader().is_some()
        };
        if converged && s.topic.unacknowledged() == 0 && s.audits.is_empty() {
            settled += 1;
            if settled > 30 {
                break;
            }
        } else {
            settled = 0;
        }
    }
    if settled <= 30 {
        return Err(format!(
            "no convergence after healing: {} unacknowledged, audits {}, {:?}",
            s.topic.unacknowledged(),
            s.audits.len(),
            (0..partitions)
                .map(|p| (1..=brokers)
                    .map(|b| s.topic.replica(p, b).map(|r| r.records().len()))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        ));
    }
    s.check_end()?;
    let stats: TopicStats = s.topic.stats();
    let t = &mut s.tally;
    t.crashes = stats.crashes;
    t.elections = stats.elections;
    t.snapshots_installed = stats.snapshots_installed;
    t.retries = stats.retries;
    t.lost = s.lost.len() as u64;
    t.seeds_losing = u64::from(t.lost > 0);
    let t = s.tally;
    total.acked += t.acked;
    total.consumed += t.consumed;
    total.commits += t.commits;
    total.backwards_refused += t.backwards_refused;
    total.crashes += t.crashes;
    total.partitions += t.partitions;
    total.elections += t.elections;
    total.snapshots_installed += t.snapshots_installed;
    total.retries += t.retries;
    total.lost += t.lost;
    total.seeds_losing += t.seeds_losing;
    Ok(())
}

fn default_seeds() -> u64 {
    if cfg!(target_arch = "wasm32") {
        40
    } else {
        500
    }
}

#[test]
fn kafka_checks_hold_with_acks_all_across_broker_crashes_and_partitions() {
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "topic_replicated",
        "kafka_checks_hold_with_acks_all_across_broker_crashes_and_partitions",
        default_seeds(),
        |seed| run_seed(seed, Acks::All, &mut total),
    ) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("acks=all, {seeds} seeds: {total:?}");
    assert_eq!(total.lost, 0);
    assert!(total.acked > 100 * seeds, "{total:?}");
    assert!(total.consumed > 50 * seeds, "{total:?}");
    assert!(total.commits > 5 * seeds, "{total:?}");
    assert!(total.backwards_refused > 0, "{total:?}");
    assert!(total.crashes > seeds, "{total:?}");
    assert!(total.elections > 3 * seeds, "{total:?}");
    assert!(total.snapshots_installed > 0, "{total:?}");
    assert!(total.retries > seeds, "{total:?}");
}

/// The contrast: acks=1 on the same seeds loses acknowledged records on some of them.
#[test]
fn acks_1_loses_acknowledged_records_on_the_same_seeds() {
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "topic_replicated",
        "acks_1_loses_acknowledged_records_on_the_same_seeds",
        default_seeds(),
        |seed| run_seed(seed, Acks::Leader, &mut total),
    ) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!(
        "acks=1, {seeds} seeds: {} seeds lost {} acknowledged records of {}: {total:?}",
        total.seeds_losing, total.lost, total.acked
    );
    assert!(
        (1..=seeds).contains(&total.seeds_losing),
        "acks=1 should lose acknowledged records on some seeds: {total:?}"
    );
}

/// A broker down while a partition moves on by more than a snapshot's worth of entries
/// (the leader trims its log) comes back and catches up by InstallSnapshot.
#[test]
fn a_follower_far_behind_catches_up_by_snapshot() {
    let mut config = ReplicatedConfig::new(3, 1);
    config.snapshot_every = 8;
    config.raft.segment_bytes = 256;
    let mut t = ReplicatedTopic::new(config, 42).unwrap();
    for _ in 0..200 {
        t.step().unwrap();
    }
    let leader = t.partition_group(0).unwrap().leader().expect("a leader");
    let behind = leader % 3 + 1;
    t.crash(behind).unwrap();
    let mut acked = 0;
    for i in 0..300u32 {
        t.send(1, Some(b"k"), Some(format!("v{i}").as_bytes()))
            .unwrap();
        t.step().unwrap();
        acked += t
            .take_completions()
            .iter()
            .filter(|c| matches!(c, Completion::Acked(_)))
            .count();
    }
    let g = t.partition_group(0).unwrap();
    let first = g
        .servers()
        .values()
        .filter_map(|s| s.node())
        .map(|n| n.first_log_index())
        .min()
        .unwrap();
    assert!(
        first > 8,
        "the live replicas trimmed their logs (first index {first})"
    );
    let installed = t.stats().snapshots_installed;
    t.restart(behind).unwrap();
    for _ in 0..600 {
        t.step().unwrap();
        acked += t
            .take_completions()
            .iter()
            .filter(|c| matches!(c, Completion::Acked(_)))
            .count();
    }
    assert_eq!(acked, 300);
    assert!(t.stats().snapshots_installed > installed, "{:?}", t.stats());
    let caught_up = t.replica(0, behind).unwrap();
    let l = t.partition_group(0).unwrap().leader().unwrap();
    assert_eq!(caught_up.records(), t.replica(0, l).unwrap().records());
    assert_eq!(caught_up.records().len(), 300);
    caught_up.validate();
}
