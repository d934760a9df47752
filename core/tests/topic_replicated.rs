//! The checks of Maelstrom's `kafka` workload against a topic whose partitions and
//! consumer offsets are replicated by Raft groups ([`ReplicatedTopic`]), on seeded
//! simulations with broker crashes and restarts, network partitions between brokers,
//! message loss, duplication and reordering; with retention by size and age or key
//! compaction on most seeds, and a consumer group whose members join and leave. Checked
//! throughout:
//!
//! * **no acknowledged send is lost**: every record acknowledged (acks = all) is at its
//!   acknowledged offset with its value — in every replica that still holds that offset
//!   (every 50 ticks), in a full read of every partition after each crash (a
//!   linearizable fetch: its high watermark covers everything acknowledged before it was
//!   sent), and at the end, after healing, where every replica holds exactly what an
//!   oracle of retention and compaction keeps of the acknowledged records;
//! * **offsets in a partition are unique and increasing**: fetches return increasing
//!   offsets from the one asked, every (producer, sequence) is placed exactly once
//!   (retries to a new leader included), and at the end the acknowledged offsets are
//!   exactly `0..next` (none reused by retention or compaction);
//! * **a consumer sees each partition in offset order**: its cursor moves through
//!   increasing offsets; every offset it skipped (a compaction gap, or a reset after a
//!   fetch below the start offset) is one the oracle dropped;
//! * **committed offsets never go backwards**: a committed-offset read returns at least
//!   every commit acknowledged before it was sent, a lower commit is refused, and at the
//!   end every offsets replica holds at least the highest acknowledged commit;
//! * **consumer groups**: every join, leave and group read shows an assignment equal to
//!   the test's own range or round-robin assignment of the members, the same for every
//!   observation of a generation; a member's generations never go back; a commit is
//!   accepted only from the partition's owner in the commit's generation (so each
//!   partition is consumed, and committed, by exactly one member per generation), a
//!   member consumes its partitions in offset order within an assignment, and a commit
//!   carrying an older generation is refused;
//! * **retention and compaction**: at the end, every replica's start offset and records
//!   equal an independent oracle's replay of the acknowledged batches;
//! * **Raft safety** (Figure 3) in every group, after every step (the simulator's
//!   checkers).
//!
//! The contrast: the same seeds with acks = 1 (acknowledged once the leader appended the
//! batch to its own log) lose acknowledged records, and the test counts on how many seeds.
//!
//! Seeds: 400 per run with acks=all, the first 200 of them with acks=1 (30 and 15 in
//! wasm); `LOGSPINE_SEEDS` / `LOGSPINE_SEED`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::{BTreeMap, BTreeSet};

use logspine_core::raft::sim::NetConfig;
use logspine_core::topic::replicated::{
    Assignor, Completion, Fetched, GroupState, OffsetKey, ReplicatedError, Retention, TopicStats,
};
use logspine_core::topic::{Acks, ReplicatedConfig, ReplicatedTopic, TopicRecord};
use logspine_core::Rng;

/// The standalone consumer's group.
const GROUP: &str = "billing";
/// The consumer group whose members join and leave.
const MEMBERS: &str = "ledger";

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
    /// Rebalances (the group's generation at the end).
    rebalances: u64,
    /// Commits accepted from group members.
    member_commits: u64,
    /// Deliberately stale commits (an older generation), all refused.
    stale_refused: u64,
    /// Ordinary member commits fenced because a rebalance overtook them.
    fenced: u64,
    /// Fetches below the start offset (the consumer reset to the start).
    resets: u64,
    /// Offsets a consumer skipped (compaction gaps, resets), all dropped by the oracle.
    skipped: u64,
    /// Records dropped by retention or compaction (at the end, per the oracle).
    dropped: u64,
    /// Tombstones acknowledged.
    tombstones: u64,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.acked += t.acked;
        self.consumed += t.consumed;
        self.commits += t.commits;
        self.backwards_refused += t.backwards_refused;
        self.crashes += t.crashes;
        self.partitions += t.partitions;
        self.elections += t.elections;
        self.snapshots_installed += t.snapshots_installed;
        self.retries += t.retries;
        self.lost += t.lost;
        self.seeds_losing += t.seeds_losing;
        self.rebalances += t.rebalances;
        self.member_commits += t.member_commits;
        self.stale_refused += t.stale_refused;
        self.fenced += t.fenced;
        self.resets += t.resets;
        self.skipped += t.skipped;
        self.dropped += t.dropped;
        self.tombstones += t.tombstones;
    }
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

/// A group member's cursor on one partition of its assignment.
#[derive(Default)]
struct MemberCursor {
    /// Where it consumes next; `None` until its committed-offset read returns.
    next: Option<u64>,
    busy: bool,
}

/// A member of [`MEMBERS`].
struct Member {
    name: String,
    /// A join, leave or group read in flight.
    busy: bool,
    joined: bool,
    /// The latest generation it has seen.
    generation: u64,
    /// Its partitions in that generation.
    cursors: BTreeMap<u32, MemberCursor>,
}

/// A group member's request in flight.
#[derive(Clone, Copy)]
enum MemberReq {
    Membership,
    Describe,
    /// A committed-offset read: partition, generation, the floor when sent.
    Read(u32, u64, u64),
    /// A fetch: partition, generation, the highest acknowledged offset when sent.
    Fetch(u32, u64, Option<u64>),
    /// A commit: partition, the cursor's generation, offset, deliberately stale (then it
    /// carries the generation before).
    Commit(u32, u64, u64, bool),
}

/// An acknowledged record.
#[derive(Clone, Debug)]
struct AckedRecord {
    producer: u64,
    sequence: u64,
    timestamp: u64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

struct Sim {
    topic: ReplicatedTopic,
    acks_all: bool,
    assignor: Assignor,
    /// (partition, offset) → the record acknowledged there.
    acked: BTreeMap<(u32, u64), AckedRecord>,
    acked_ids: BTreeSet<(u64, u32, u64)>,
    /// Values sent and not yet acknowledged, and tombstones sent and not yet acknowledged.
    sent: BTreeSet<Vec<u8>>,
    sent_tombstones: u64,
    cursors: Vec<Cursor>,
    members: Vec<Member>,
    member_reqs: BTreeMap<u64, (usize, MemberReq)>,
    /// Generation → the assignment every observation of it showed.
    generations: BTreeMap<u64, BTreeMap<String, Vec<u32>>>,
    /// The highest acknowledged member commit per partition.
    member_floor: Vec<u64>,
    /// Offsets some consumer skipped: the oracle must have dropped them.
    skipped: BTreeSet<(u32, u64)>,
    /// Full reads after a crash: id → the highest acknowledged offset per partition then.
    audits: BTreeMap<u64, Option<u64>>,
    lost: BTreeSet<(u32, u64)>,
    next_value: u64,
    tally: Tally,
}

/// The test's own assignment (module docs of `replicated`): members in name order.
fn expected_assignment(
    assignor: Assignor,
    members: &[String],
    partitions: u32,
) -> BTreeMap<String, Vec<u32>> {
    let m = members.len();
    let mut out: BTreeMap<String, Vec<u32>> =
        members.iter().map(|n| (n.clone(), Vec::new())).collect();
    for p in 0..partitions as usize {
        if m == 0 {
            break;
        }
        let i = match assignor {
            // Ranges: member i gets [i*P/m, (i+1)*P/m).
            Assignor::Range => (0..m)
                .find(|&i| {
                    i * partitions as usize / m <= p && p < (i + 1) * partitions as usize / m
                })
                .unwrap(),
            Assignor::RoundRobin => p % m,
        };
        out.get_mut(&members[i])
            .unwrap()
            .push(u32::try_from(p).unwrap());
    }
    out
}

/// What retention and compaction keep of a partition's records (offsets `0..n` in
/// order): an independent replay of the policy, one batch (a run of records with the
/// same producer and timestamp — a producer's batches are formed at distinct ticks) at a
/// time. Returns the start offset and the records kept.
fn oracle(policy: Retention, all: &[TopicRecord]) -> (u64, Vec<TopicRecord>) {
    let s = policy.segment_records;
    let mut held: Vec<TopicRecord> = Vec::new();
    let (mut start, mut clock) = (0u64, 0u64);
    let size = |r: &TopicRecord| r.encode().len() as u64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len()
            && all[j].timestamp == all[i].timestamp
            && all[j].producer.map(|p| p.0) == all[i].producer.map(|p| p.0)
        {
            j += 1;
        }
        held.extend_from_slice(&all[i..j]);
        clock = clock.max(all[i].timestamp);
        let next = all[j - 1].offset + 1;
        let active = (next - 1) / s * s;
        if policy.compacted {
            let mut latest: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
            for r in &held {
                if let Some(k) = &r.key {
                    latest.insert(k.clone(), r.offset);
                }
            }
            held.retain(|r| {
                let Some(k) = &r.key else { return true };
                if r.offset >= active {
                    return true;
                }
                let superseded = latest[k] > r.offset;
                let expired =
                    r.value.is_none() && clock.saturating_sub(r.timestamp) > policy.tombstone_ticks;
                !superseded && !expired
            });
        }
        while let Some(first) = held.first() {
            let base = first.offset / s * s;
            if base >= active {
                break;
            }
            let seg: Vec<&TopicRecord> = held.iter().filter(|r| r.offset < base + s).collect();
            let bytes: u64 = held.iter().map(size).sum();
            let over = policy.retention_bytes.is_some_and(|b| bytes > b);
            let old = policy
                .retention_ticks
                .is_some_and(|t| clock.saturating_sub(seg.last().unwrap().timestamp) > t);
            if !(over || old) {
                break;
            }
            held.retain(|r| r.offset >= base + s);
            start = base + s;
        }
        i = j;
    }
    (start, held)
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

    fn check_record(&mut self, p: u32, r: &TopicRecord, when: &str) -> Result<(), String> {
        if let Some(a) = self.acked.get(&(p, r.offset)) {
            if r.value != a.value || r.key != a.key || r.producer != Some((a.producer, a.sequence))
            {
                let what = format!(
                    "{when}: acknowledged {p}/{} ({}/{}) reads {r:?}",
                    r.offset, a.producer, a.sequence
                );
                return self.lose(p, r.offset, what);
            }
        }
        Ok(())
    }

    /// Checks a fetch of partition `p` from `offset` (sent when `max_before` was the
    /// highest acknowledged offset): linearizable, increasing offsets, acknowledged
    /// records intact; notes the offsets skipped. Returns where the consumer goes on.
    fn check_fetch(
        &mut self,
        p: u32,
        offset: u64,
        fetched: &Result<Fetched, ReplicatedError>,
        max_before: Option<u64>,
    ) -> Result<u64, String> {
        let (hw, next) = match fetched {
            Ok(f) => (f.high_watermark, f.next_offset(offset)),
            Err(ReplicatedError::OffsetOutOfRange { start, end, .. }) => {
                if offset >= *start {
                    return Err(format!(
                        "partition {p}: fetch from {offset} refused with start {start}"
                    ));
                }
                self.tally.resets += 1;
                (*end, *start)
            }
            Err(e) => return Err(format!("partition {p}: fetch failed: {e}")),
        };
        // Linearizable: everything acknowledged before the fetch is below its high
        // watermark.
        if let Some(m) = max_before {
            if hw <= m {
                let what = format!(
                    "partition {p}: a fetch sees high watermark {hw} but {m} was acknowledged before it"
                );
                self.lose(p, m, what)?;
            }
        }
        let mut expect = offset;
        let records = fetched
            .as_ref()
            .map(|f| f.records.clone())
            .unwrap_or_default();
        for r in &records {
            if r.offset < expect {
                return Err(format!(
                    "partition {p}: fetch from {offset} returned offset {} after {}",
                    r.offset,
                    expect - 1
                ));
            }
            self.skipped.extend((expect..r.offset).map(|o| (p, o)));
            expect = r.offset + 1;
            self.check_record(p, r, "fetch")?;
        }
        self.skipped.extend((expect..next).map(|o| (p, o)));
        Ok(next)
    }

    /// A group's state as seen by a join, leave or read: the assignment is the expected
    /// one, the same as every other observation of its generation; the member adopts a
    /// newer generation.
    fn observe(&mut self, who: usize, state: Option<GroupState>) -> Result<(), String> {
        let Some(state) = state else {
            if self.members[who].generation > 0 {
                return Err("the group vanished".into());
            }
            return Ok(());
        };
        let names: Vec<String> = state.members.keys().cloned().collect();
        let expected = expected_assignment(self.assignor, &names, self.partitions());
        if state.assignor != self.assignor || state.members != expected {
            return Err(format!(
                "generation {}: assignment {:?} ({:?}), expected {expected:?}",
                state.generation, state.members, state.assignor
            ));
        }
        if let Some(prev) = self
            .generations
            .insert(state.generation, state.members.clone())
        {
            if prev != state.members {
                return Err(format!(
                    "generation {} seen as {prev:?} and {:?}",
                    state.generation, state.members
                ));
            }
        }
        self.tally.rebalances = self.tally.rebalances.max(state.generation);
        let m = &mut self.members[who];
        if state.generation < m.generation {
            return Err(format!(
                "{} saw generation {} after {}",
                m.name, state.generation, m.generation
            ));
        }
        m.joined = state.members.contains_key(&m.name);
        if state.generation > m.generation {
            m.generation = state.generation;
            m.cursors = state
                .members
                .get(&m.name)
                .map(|ps| ps.iter().map(|&p| (p, MemberCursor::default())).collect())
                .unwrap_or_default();
        }
        Ok(())
    }

    fn on_member(&mut self, who: usize, req: MemberReq, c: Completion) -> Result<(), String> {
        match (req, c) {
            (MemberReq::Membership, Completion::Membership { state, .. }) => {
                self.members[who].busy = false;
                self.observe(who, Some(state))
            }
            (MemberReq::Describe, Completion::GroupDescribed { state, .. }) => {
                self.members[who].busy = false;
                self.observe(who, state)
            }
            (MemberReq::Read(p, generation, floor), Completion::CommittedOffset { offset, .. }) => {
                let got = offset.unwrap_or(0);
                if got < floor {
                    return Err(format!(
                        "{MEMBERS} partition {p}: committed offset went back from {floor} to {got}"
                    ));
                }
                let m = &mut self.members[who];
                if m.generation == generation {
                    if let Some(c) = m.cursors.get_mut(&p) {
                        c.busy = false;
                        c.next = Some(got);
                    }
                }
                Ok(())
            }
            (
                MemberReq::Fetch(p, generation, max_before),
                Completion::Fetched {
                    offset, fetched, ..
                },
            ) => {
                let next = self.check_fetch(p, offset, &fetched, max_before)?;
                let m = &mut self.members[who];
                if m.generation == generation {
                    if let Some(c) = m.cursors.get_mut(&p) {
                        c.busy = false;
                        // In offset order within an assignment.
                        if c.next != Some(offset) {
                            return Err(format!(
                                "{} partition {p}: cursor at {:?} fetched {offset}",
                                m.name, c.next
                            ));
                        }
                        c.next = Some(next);
                        if let Ok(f) = &fetched {
                            self.tally.consumed += f.records.len() as u64;
                        }
                    }
                }
                Ok(())
            }
            (
                MemberReq::Commit(p, generation, offset, stale),
                Completion::Committed { result, .. },
            ) => {
                let name = self.members[who].name.clone();
                let used = if stale { generation - 1 } else { generation };
                let m = &mut self.members[who];
                if m.generation == generation {
                    if let Some(c) = m.cursors.get_mut(&p) {
                        c.busy = false;
                    }
                }
                match (stale, result) {
                    (false, Ok(())) => {
                        // Accepted only from the partition's owner in that generation.
                        let owner = self.generations.get(&generation).and_then(|a| {
                            a.iter().find(|(_, ps)| ps.contains(&p)).map(|(n, _)| n.clone())
                        });
                        if owner.as_deref() != Some(name.as_str()) {
                            return Err(format!(
                                "{name}'s commit of {p}@{offset} in generation {generation} accepted; the owner is {owner:?}"
                            ));
                        }
                        let f = &mut self.member_floor[p as usize];
                        *f = (*f).max(offset);
                        self.tally.member_commits += 1;
                        Ok(())
                    }
                    (_, Err(ReplicatedError::StaleGeneration { current, got, .. }))
                        if got == used && current > got =>
                    {
                        if stale {
                            self.tally.stale_refused += 1;
                        } else {
                            self.tally.fenced += 1;
                        }
                        Ok(())
                    }
                    (s, r) => Err(format!(
                        "{name}: commit of {p}@{offset} in generation {generation} (stale: {s}) gave {r:?}"
                    )),
                }
            }
            (_, c) => Err(format!("a member's request answered with {c:?}")),
        }
    }

    fn on_completion(&mut self, c: Completion) -> Result<(), String> {
        let request = match &c {
            Completion::Fetched { request, .. }
            | Completion::Committed { request, .. }
            | Completion::CommittedOffset { request, .. }
            | Completion::Membership { request, .. }
            | Completion::GroupDescribed { request, .. } => Some(*request),
            _ => None,
        };
        if let Some((who, req)) = request.and_then(|r| self.member_reqs.remove(&r)) {
            return self.on_member(who, req, c);
        }
        match c {
            Completion::Acked(a) => {
                match &a.value {
                    Some(v) => {
                        if !self.sent.remove(v) {
                            return Err(format!("{a:?} acknowledged twice or never sent"));
                        }
                    }
                    None => {
                        if self.sent_tombstones == 0 {
                            return Err(format!("{a:?}: a tombstone never sent"));
                        }
                        self.sent_tombstones -= 1;
                        self.tally.tombstones += 1;
                    }
                }
                // (With acks=1 a producer whose records were lost reuses their sequences.)
                if !self.acked_ids.insert((a.producer, a.partition, a.sequence)) && self.acks_all {
                    return Err(format!("{a:?} acknowledged twice"));
                }
                let record = AckedRecord {
                    producer: a.producer,
                    sequence: a.sequence,
                    timestamp: a.timestamp,
                    key: a.key.clone(),
                    value: a.value.clone(),
                };
                if let Some(prev) = self.acked.insert((a.partition, a.offset), record) {
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
                let next = self.check_fetch(p, offset, &fetched, max_before)?;
                if ours.is_some() {
                    let c = &mut self.cursors[p as usize];
                    c.fetch = None;
                    if offset != c.next {
                        return Err(format!(
                            "partition {p}: cursor at {} fetched {offset}",
                            c.next
                        ));
                    }
                    c.next = next;
                    if let Ok(f) = &fetched {
                        self.tally.consumed += f.records.len() as u64;
                    }
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
            other => return Err(format!("an unexpected {other:?}")),
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

    /// Every record a replica holds at an acknowledged offset is that record.
    fn check_replicas(&mut self, when: &str) -> Result<(), String> {
        let mut bad = Vec::new();
        for p in 0..self.partitions() {
            for b in 1..=self.topic.config().brokers {
                let Some(r) = self.topic.replica(p, b) else {
                    continue;
                };
                for rec in r.records() {
                    let Some(a) = self.acked.get(&(p, rec.offset)) else {
                        continue;
                    };
                    if rec.value != a.value || rec.producer != Some((a.producer, a.sequence)) {
                        bad.push((
                            p,
                            rec.offset,
                            format!(
                                "{when}: broker {b} holds {rec:?} at acknowledged {p}/{} ({}/{})",
                                rec.offset, a.producer, a.sequence
                            ),
                        ));
                    }
                }
            }
        }
        for (p, o, what) in bad {
            self.lose(p, o, what)?;
        }
        Ok(())
    }

    /// The standalone consumer of a random partition fetches, commits, commits
    /// backwards on purpose, or restarts from its committed offset.
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

    /// A random member joins, leaves, reads the group (its heartbeat), or works on one of
    /// its partitions: reads the committed offset, fetches, commits, or commits with an
    /// older generation on purpose.
    fn member_step(&mut self, rng: &mut Rng) -> Result<(), String> {
        let who = rng.index(self.members.len());
        let e = |e: ReplicatedError| e.to_string();
        let m = &self.members[who];
        let name = m.name.clone();
        let generation = m.generation;
        if !m.joined {
            if !m.busy && rng.below(3) == 0 {
                let id = self.topic.join(MEMBERS, &name, self.assignor).map_err(e)?;
                self.member_reqs.insert(id, (who, MemberReq::Membership));
                self.members[who].busy = true;
            }
            return Ok(());
        }
        let roll = rng.below(20);
        if !m.busy && roll == 0 {
            let id = self.topic.leave(MEMBERS, &name).map_err(e)?;
            self.member_reqs.insert(id, (who, MemberReq::Membership));
            self.members[who].busy = true;
            return Ok(());
        }
        if !m.busy && roll <= 3 {
            let id = self.topic.describe_group(MEMBERS).map_err(e)?;
            self.member_reqs.insert(id, (who, MemberReq::Describe));
            self.members[who].busy = true;
            return Ok(());
        }
        let ps: Vec<u32> = m.cursors.keys().copied().collect();
        if ps.is_empty() {
            return Ok(());
        }
        let p = ps[rng.index(ps.len())];
        let c = &m.cursors[&p];
        if c.busy {
            return Ok(());
        }
        let req = match c.next {
            None => {
                let floor = self.member_floor[p as usize];
                let id = self.topic.read_committed(MEMBERS, p).map_err(e)?;
                (id, MemberReq::Read(p, generation, floor))
            }
            Some(next) if roll <= 5 && generation > 1 => {
                let id = self
                    .topic
                    .commit_as(MEMBERS, &name, generation - 1, p, next)
                    .map_err(e)?;
                (id, MemberReq::Commit(p, generation, next, true))
            }
            Some(next) if roll <= 12 => {
                let max = 1 + u32::try_from(rng.below(8)).unwrap();
                let max_acked = self.max_acked(p);
                let id = self.topic.fetch(p, next, max).map_err(e)?;
                (id, MemberReq::Fetch(p, generation, max_acked))
            }
            Some(next) => {
                let id = self
                    .topic
                    .commit_as(MEMBERS, &name, generation, p, next)
                    .map_err(e)?;
                (id, MemberReq::Commit(p, generation, next, false))
            }
        };
        self.member_reqs.insert(req.0, (who, req.1));
        self.members[who]
            .cursors
            .get_mut(&p)
            .expect("a cursor")
            .busy = true;
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

    /// After healing: every replica of a partition holds the same records; each
    /// (producer, sequence) is placed once; with acks=all the acknowledged offsets are
    /// `0..next` and every replica holds exactly the oracle's start offset and records,
    /// and every offset a consumer skipped is one the oracle dropped (with acks=1, every
    /// acknowledged record still held is intact). Every offsets replica holds the same
    /// groups and at least each acknowledged commit.
    fn check_end(&mut self) -> Result<(), String> {
        let brokers = self.topic.config().brokers;
        let policy = self.topic.config().retention;
        for p in 0..self.partitions() {
            let first = self.topic.replica(p, 1).ok_or("broker 1 is down")?.clone();
            first.validate();
            for b in 2..=brokers {
                let r = self.topic.replica(p, b).ok_or("a broker is down")?;
                if r.records() != first.records() || r.start_offset() != first.start_offset() {
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
                self.check_record(p, r, "at the end")?;
            }
            if !self.acks_all {
                continue;
            }
            let all: Vec<TopicRecord> = self
                .acked
                .range((p, 0)..(p + 1, 0))
                .map(|(&(_, offset), a)| TopicRecord {
                    offset,
                    timestamp: a.timestamp,
                    key: a.key.clone(),
                    value: a.value.clone(),
                    producer: Some((a.producer, a.sequence)),
                })
                .collect();
            if all.iter().zip(0..).any(|(r, o)| r.offset != o)
                || all.len() as u64 != first.next_offset()
            {
                return Err(format!(
                    "partition {p}: {} acknowledged offsets, next offset {}: not 0..next",
                    all.len(),
                    first.next_offset()
                ));
            }
            let (start, kept) = oracle(policy, &all);
            if start != first.start_offset() || kept != first.records() {
                return Err(format!(
                    "partition {p}: the replicas hold start {} and {:?}, the oracle start {start} and {:?}",
                    first.start_offset(),
                    first.records().iter().map(|r| r.offset).collect::<Vec<_>>(),
                    kept.iter().map(|r| r.offset).collect::<Vec<_>>()
                ));
            }
            self.tally.dropped += all.len() as u64 - kept.len() as u64;
            let held: BTreeSet<u64> = kept.iter().map(|r| r.offset).collect();
            for &(sp, o) in self.skipped.range((p, 0)..(p + 1, 0)) {
                if held.contains(&o) {
                    return Err(format!(
                        "partition {p}: a consumer skipped {o}, which is kept"
                    ));
                }
                debug_assert_eq!(sp, p);
            }
        }
        self.tally.skipped = self.skipped.len() as u64;
        let offsets = self.topic.offsets_group();
        let mut groups = None;
        for (b, s) in offsets.servers() {
            let sm = s.state_machine();
            if *groups.get_or_insert_with(|| sm.groups().clone()) != *sm.groups() {
                return Err(format!("broker {b}: the groups differ at the end"));
            }
            for p in 0..self.partitions() {
                let floors = [
                    (GROUP, self.cursors[p as usize].acked_commit),
                    (MEMBERS, self.member_floor[p as usize]),
                ];
                for (group, floor) in floors {
                    let key = OffsetKey {
                        group: group.into(),
                        partition: p,
                    };
                    let got = sm.committed().get(&key).copied().unwrap_or(0);
                    if got < floor {
                        return Err(format!(
                            "at the end: broker {b} holds committed offset {got} for {group}/{p}, {floor} was acknowledged"
                        ));
                    }
                }
            }
        }
        if self.acks_all && (!self.sent.is_empty() || self.sent_tombstones > 0) {
            return Err(format!(
                "{} sends and {} tombstones never acknowledged after healing",
                self.sent.len(),
                self.sent_tombstones
            ));
        }
        Ok(())
    }
}

fn run_seed(seed: u64, acks: Acks, total: &mut Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let brokers = [3, 3, 5][rng.index(3)];
    let partitions = 1 + u32::try_from(rng.below(3)).unwrap();
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
    // Retention: none, by size and age, or key compaction (tombstones expiring).
    config.retention = match rng.below(3) {
        0 => Retention::keep_all(),
        1 => Retention {
            segment_records: 2 + rng.below(6),
            retention_bytes: [None, Some(400), Some(1500)][rng.index(3)],
            retention_ticks: [None, Some(60), Some(200)][rng.index(3)],
            compacted: false,
            tombstone_ticks: 0,
        },
        _ => Retention {
            segment_records: 2 + rng.below(6),
            retention_bytes: None,
            retention_ticks: None,
            compacted: true,
            tombstone_ticks: [10, 100][rng.index(2)],
        },
    };
    let compacted = config.retention.compacted;
    let assignor = [Assignor::Range, Assignor::RoundRobin][rng.index(2)];
    let members = 2 + rng.below(3);
    let topic = ReplicatedTopic::new(config, rng.next_u64()).map_err(|e| e.to_string())?;
    let mut s = Sim {
        topic,
        acks_all: acks == Acks::All,
        assignor,
        acked: BTreeMap::new(),
        acked_ids: BTreeSet::new(),
        sent: BTreeSet::new(),
        sent_tombstones: 0,
        cursors: (0..partitions).map(|_| Cursor::default()).collect(),
        members: (0..members)
            .map(|i| Member {
                name: format!("m{i}"),
                busy: false,
                joined: false,
                generation: 0,
                cursors: BTreeMap::new(),
            })
            .collect(),
        member_reqs: BTreeMap::new(),
        generations: BTreeMap::new(),
        member_floor: vec![0; partitions as usize],
        skipped: BTreeSet::new(),
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
                        let producer = 1 + rng.below(producers);
                        if compacted && rng.below(6) == 0 {
                            s.topic
                                .send(producer, Some(&key), None)
                                .map_err(|e| e.to_string())?;
                            s.sent_tombstones += 1;
                            continue;
                        }
                        let value = format!("v{}", s.next_value).into_bytes();
                        s.next_value += 1;
                        s.topic
                            .send(producer, Some(&key), Some(&value))
                            .map_err(|e| e.to_string())?;
                        s.sent.insert(value);
                    }
                }
                30..=39 | 76..=85 => s.member_step(&mut rng)?,
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
        if converged
            && s.topic.unacknowledged() == 0
            && s.audits.is_empty()
            && s.member_reqs.is_empty()
        {
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
    total.add(&s.tally);
    Ok(())
}

fn default_seeds() -> u64 {
    if cfg!(target_arch = "wasm32") {
        30
    } else {
        400
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
    // Consumer groups, retention and compaction were exercised.
    assert!(total.rebalances > 3 * seeds, "{total:?}");
    assert!(total.member_commits > seeds, "{total:?}");
    assert!(total.stale_refused > seeds / 4, "{total:?}");
    assert!(total.dropped > 10 * seeds, "{total:?}");
    assert!(total.resets > seeds / 4, "{total:?}");
    assert!(total.skipped > seeds, "{total:?}");
    assert!(total.tombstones > seeds / 2, "{total:?}");
}

/// The contrast: acks=1 on the same seeds (the first half of them) loses acknowledged
/// records on some of them.
#[test]
fn acks_1_loses_acknowledged_records_on_the_same_seeds() {
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "topic_replicated",
        "acks_1_loses_acknowledged_records_on_the_same_seeds",
        default_seeds() / 2,
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
