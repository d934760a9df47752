//! The checks of Maelstrom's `kafka` workload, on seeded simulations of a broker whose
//! disk crashes (torn writes included): idempotent producers send with retries, a
//! consumer group of several members polls and commits, members join and leave
//! (rebalances), and the broker crashes and recovers. Checked throughout:
//!
//! * **no acknowledged send is lost**: every send the broker acknowledged is read back at
//!   its offset with its value, after every crash;
//! * **offsets in a partition are unique and increasing**: no two acknowledged sends
//!   share an offset, and reads return strictly increasing offsets;
//! * **a consumer sees each partition in offset order**: within one assignment, a
//!   member's polls of a partition return strictly increasing offsets, with no gap over
//!   acknowledged records (it starts at the committed offset);
//! * **committed offsets never go backwards**: an acknowledged (durable) commit is never
//!   followed by a lower committed offset, across rebalances and crashes.
//!
//! Single broker: replication of partitions by Raft joins with issue 5. Seeds: 500 per run
//! (100 in wasm); `LOGSPINE_SEEDS` / `LOGSPINE_SEED`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::topic::{Appended, Broker, BrokerError, PartitionError, Produce, TopicConfig};
use logspine_core::{Rng, SimDisk, SimDiskConfig, SyncLatency};

const TOPIC: &str = "orders";
const GROUP: &str = "billing";

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    acked: u64,
    consumed: u64,
    commits: u64,
    rebalances: u64,
    crashes: u64,
    stale_commits_refused: u64,
}

/// A send waiting for its acknowledgement.
#[derive(Clone, Debug)]
struct Pending {
    pid: u64,
    seq: u64,
    key: Vec<u8>,
    value: Vec<u8>,
    at: Option<(u32, u64)>,
}

/// A member's view of one assigned partition.
#[derive(Clone, Debug)]
struct Cursor {
    next: u64,
}

struct Sim {
    disk: SimDisk,
    broker: Broker,
    partitions: u32,
    now: u64,
    /// Producer id → next sequence per partition (sequences are per partition, as in
    /// Kafka).
    producers: Vec<(u64, BTreeMap<u32, u64>)>,
    pending: Vec<Pending>,
    /// (partition, offset) → value, acknowledged.
    acked: BTreeMap<(u32, u64), Vec<u8>>,
    /// member → generation and its cursors.
    members: BTreeMap<String, (u64, BTreeMap<u32, Cursor>)>,
    /// Durable (acknowledged) committed offsets: partition → offset.
    durable_commits: BTreeMap<u32, u64>,
    /// Commits written, waiting to become durable: (partition, offset).
    commits_in_flight: Vec<(u32, u64)>,
    tally: Tally,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Sim {
    fn config(partitions: u32) -> TopicConfig {
        let mut c = TopicConfig::new(TOPIC, partitions);
        c.partition.segment_bytes = 1024;
        c
    }

    fn tick(&mut self) -> Result<(), String> {
        self.now += 1;
        self.disk.advance(1);
        self.broker.tick(&mut self.disk, self.now).map_err(err)?;
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            match p.at {
                Some((part, off)) if self.broker.acked(TOPIC, part, off).map_err(err)? => {
                    if let Some(prev) = self.acked.insert((part, off), p.value.clone()) {
                        if prev != p.value {
                            return Err(format!("two acknowledged sends at {part}/{off}"));
                        }
                    }
                    self.tally.acked += 1;
                }
                _ => still.push(p),
            }
        }
        self.pending = still;
        if self.broker.commits_durable() {
            for (p, o) in std::mem::take(&mut self.commits_in_flight) {
                let d = self.durable_commits.entry(p).or_insert(o);
                *d = (*d).max(o);
            }
        }
        self.broker.validate();
        Ok(())
    }

    fn send(&mut self, rng: &mut Rng) -> Result<(), String> {
        let i = rng.index(self.producers.len());
        let key = format!("k{}", rng.below(20)).into_bytes();
        let part = self.broker.route(TOPIC, Some(&key)).map_err(err)?;
        let pid = self.producers[i].0;
        let seq = *self.producers[i].1.entry(part).or_insert(0);
        let value = format!("{pid}-{part}-{seq}").into_bytes();
        let req = Produce {
            topic: TOPIC,
            partition: Some(part),
            key: Some(&key),
            value: Some(&value),
            producer: Some((pid, seq)),
        };
        match self.broker.produce(&mut self.disk, &req, self.now) {
            Ok((p, Appended::New(o))) => {
                *self.producers[i].1.get_mut(&part).expect("inserted") += 1;
                self.pending.push(Pending {
                    pid,
                    seq,
                    key,
                    value,
                    at: Some((p, o)),
                });
                Ok(())
            }
            Ok((_, Appended::Duplicate(_))) => Err("a new sequence was a duplicate".into()),
            Err(e) => Err(err(e)),
        }
    }

    /// Producers resend what was not acknowledged, in order (after a crash).
    fn resend(&mut self) -> Result<(), String> {
        for mut p in std::mem::take(&mut self.pending) {
            let req = Produce {
                topic: TOPIC,
                partition: None,
                key: Some(&p.key),
                value: Some(&p.value),
                producer: Some((p.pid, p.seq)),
            };
            let (part, a) = self
                .broker
                .produce(&mut self.disk, &req, self.now)
                .map_err(err)?;
            p.at = a.offset().map(|o| (part, o));
            self.pending.push(p);
        }
        Ok(())
    }

    fn join(&mut self, name: &str) -> Result<(), String> {
        self.broker.join(GROUP, TOPIC, name).map_err(err)?;
        self.tally.rebalances += 1;
        self.refresh_assignments(Some(name));
        Ok(())
    }

    /// A member takes its current assignment (the joiner at once; the others when a
    /// commit tells them their generation is stale), starting each partition at the
    /// committed offset (or the start). `None`: every member.
    fn refresh_assignments(&mut self, only: Option<&str>) {
        let Some(g) = self.broker.group(GROUP).cloned() else {
            return;
        };
        for (name, parts) in &g.assignment {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let cursors = parts
                .iter()
                .map(|&p| {
                    let start = self.broker.partitions(TOPIC).unwrap()[p as usize].start_offset();
                    let next = self.broker.committed(GROUP, TOPIC, p).unwrap_or(start);
                    (p, Cursor { next })
                })
                .collect();
            self.members.insert(name.clone(), (g.generation, cursors));
        }
        if only.is_none() {
            self.members.retain(|m, _| g.assignment.contains_key(m));
        }
    }

    fn poll_and_commit(&mut self, rng: &mut Rng) -> Result<(), String> {
        let Some(name) = self
            .members
            .keys()
            .nth(rng.index(self.members.len().max(1)))
            .cloned()
        else {
            return Ok(());
        };
        let (generation, mut cursors) = self.members[&name].clone();
        for (&p, c) in cursors.iter_mut() {
            let batch = self
                .broker
                .fetch(&self.disk, TOPIC, p, c.next, 1 + rng.index(8))
                .map_err(err)?;
            for r in &batch {
                // In order, and no acknowledged record skipped.
                if r.offset < c.next {
                    return Err(format!("{name} read {p}/{} after {}", r.offset, c.next));
                }
                if let Some((&(_, skipped), _)) =
                    self.acked.range((p, c.next)..(p, r.offset)).next()
                {
                    return Err(format!("{name} skipped acknowledged {p}/{skipped}"));
                }
                if let Some(v) = self.acked.get(&(p, r.offset)) {
                    if Some(v) != r.value.as_ref() {
                        return Err(format!("{p}/{} reads a different value", r.offset));
                    }
                }
                c.next = r.offset + 1;
                self.tally.consumed += 1;
            }
            if !batch.is_empty() && rng.below(2) == 0 {
                match self.broker.commit(
                    &mut self.disk,
                    GROUP,
                    &name,
                    generation,
                    p,
                    c.next,
                    self.now,
                ) {
                    Ok(()) => {
                        self.commits_in_flight.push((p, c.next));
                        self.tally.commits += 1;
                    }
                    Err(BrokerError::StaleGeneration { .. } | BrokerError::NotAssigned(_)) => {
                        // Rebalanced meanwhile: this member's view is stale; it takes the
                        // new generation and starts from the committed offsets.
                        self.tally.stale_commits_refused += 1;
                        self.refresh_assignments(Some(&name));
                        return Ok(());
                    }
                    // The offsets topic is switching to its compacted generation: the
                    // member commits on a later poll.
                    Err(BrokerError::Partition(PartitionError::Busy(_))) => {}
                    Err(e) => return Err(err(e)),
                }
            }
        }
        self.members.insert(name, (generation, cursors));
        Ok(())
    }

    fn check(&self, when: &str) -> Result<(), String> {
        for p in 0..self.partitions {
            let mut at = self.broker.partitions(TOPIC).map_err(err)?[p as usize].start_offset();
            let mut prev: Option<u64> = None;
            let mut seen = BTreeMap::new();
            loop {
                let batch = self
                    .broker
                    .fetch(&self.disk, TOPIC, p, at, 128)
                    .map_err(err)?;
                let Some(last) = batch.last() else { break };
                at = last.offset + 1;
                for r in batch {
                    if prev.is_some_and(|q| q >= r.offset) {
                        return Err(format!(
                            "{when}: partition {p}: offset {} after {prev:?}",
                            r.offset
                        ));
                    }
                    prev = Some(r.offset);
                    seen.insert(r.offset, r.value);
                }
            }
            for ((_, o), v) in self.acked.range((p, 0)..(p + 1, 0)) {
                if seen.get(o) != Some(&Some(v.clone())) {
                    return Err(format!("{when}: acknowledged {p}/{o} lost or changed"));
                }
            }
            if let Some(&d) = self.durable_commits.get(&p) {
                let now = self.broker.committed(GROUP, TOPIC, p);
                if now.is_none_or(|c| c < d) {
                    return Err(format!(
                        "{when}: committed offset of {p} went back from {d} to {now:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn crash(&mut self) -> Result<(), String> {
        self.tally.crashes += 1;
        self.disk.crash();
        self.broker =
            Broker::open(&mut self.disk, &[Self::config(self.partitions)]).map_err(err)?;
        self.commits_in_flight.clear();
        self.check("after a crash")?;
        // Group membership is not durable: members rejoin (a rebalance each).
        let names: Vec<String> = self.members.keys().cloned().collect();
        self.members.clear();
        for n in names {
            self.join(&n)?;
        }
        self.resend()
    }
}

fn run_seed(seed: u64, total: &mut Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let partitions = u32::try_from(1 + rng.below(4)).unwrap();
    let mut disk = SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform {
                min: 1,
                max: 1 + rng.below(5),
            },
            sector_bytes: 64,
            tear_on_crash: true,
            serial_syncs: rng.below(2) == 0,
        },
        seed,
    );
    let broker = Broker::open(&mut disk, &[Sim::config(partitions)]).map_err(err)?;
    let mut s = Sim {
        disk,
        broker,
        partitions,
        now: 0,
        producers: (0..1 + rng.below(3))
            .map(|i| (7 + i, BTreeMap::new()))
            .collect(),
        pending: Vec::new(),
        acked: BTreeMap::new(),
        members: BTreeMap::new(),
        durable_commits: BTreeMap::new(),
        commits_in_flight: Vec::new(),
        tally: Tally::default(),
    };
    s.join("m0")?;
    for step in 0..400 {
        let r = match rng.below(100) {
            0..=44 => s.send(&mut rng),
            45..=79 => s.poll_and_commit(&mut rng),
            80..=84 => {
                let name = format!("m{}", rng.below(4));
                if s.members.contains_key(&name) && s.members.len() > 1 {
                    s.broker.leave(GROUP, &name).map_err(err).map(|()| {
                        s.tally.rebalances += 1;
                        s.members.remove(&name);
                    })
                } else {
                    s.join(&name)
                }
            }
            85..=86 => s.crash(),
            _ => Ok(()),
        };
        r.map_err(|e| format!("step {step}: {e}"))?;
        s.tick().map_err(|e| format!("step {step}: {e}"))?;
    }
    for _ in 0..50 {
        s.tick()?;
    }
    s.check("at the end")?;
    s.crash()?;
    let t = s.tally;
    total.acked += t.acked;
    total.consumed += t.consumed;
    total.commits += t.commits;
    total.rebalances += t.rebalances;
    total.crashes += t.crashes;
    total.stale_commits_refused += t.stale_commits_refused;
    Ok(())
}

#[test]
fn kafka_checks_hold_across_broker_crashes() {
    let default = if cfg!(target_arch = "wasm32") {
        100
    } else {
        500
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "topic_kafka",
        "kafka_checks_hold_across_broker_crashes",
        default,
        |seed| run_seed(seed, &mut total),
    ) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {total:?}");
    assert!(total.acked > 50 * seeds, "{total:?}");
    assert!(total.consumed > 50 * seeds, "{total:?}");
    assert!(total.commits > 10 * seeds, "{total:?}");
    assert!(total.crashes > seeds, "{total:?}");
    assert!(total.rebalances > 3 * seeds, "{total:?}");
}

/// A stale member's commit is refused; a reset moves an offset back on purpose.
#[test]
fn stale_generations_are_fenced_and_resets_are_explicit() {
    let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
    let mut b = Broker::open(&mut disk, &[TopicConfig::new(TOPIC, 2)]).unwrap();
    let g1 = b.join(GROUP, TOPIC, "a").unwrap().generation;
    b.commit(&mut disk, GROUP, "a", g1, 0, 5, 1).unwrap();
    let g2 = b.join(GROUP, TOPIC, "b").unwrap().generation;
    assert!(g2 > g1);
    assert!(matches!(
        b.commit(&mut disk, GROUP, "a", g1, 0, 6, 2),
        Err(BrokerError::StaleGeneration { .. })
    ));
    assert!(matches!(
        b.commit(&mut disk, GROUP, "a", g2, 0, 3, 2),
        Err(BrokerError::Backwards { .. })
    ));
    let off = b
        .reset_offset(
            &mut disk,
            GROUP,
            TOPIC,
            0,
            logspine_core::topic::ResetTo::Offset(1),
            3,
        )
        .unwrap();
    assert_eq!((off, b.committed(GROUP, TOPIC, 0)), (1, Some(1)));
    // Durable after a sync; recovered after a crash.
    for now in 4..40 {
        disk.advance(1);
        b.tick(&mut disk, now).unwrap();
    }
    assert!(b.commits_durable());
    disk.crash();
    let b = Broker::open(&mut disk, &[TopicConfig::new(TOPIC, 2)]).unwrap();
    assert_eq!(b.committed(GROUP, TOPIC, 0), Some(1));
}
