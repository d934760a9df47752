//! A topic partition against an oracle, across crashes: producers append with retries
//! (idempotence), syncs complete or are lost, the disk crashes (torn writes included),
//! retention drops segments, compaction rewrites the partition in generations. Checks,
//! after every crash and at the end:
//!
//! * no acknowledged record is lost (unless retention or compaction removed it by the
//!   rules: a whole older segment, or a key's older record);
//! * offsets in the partition are unique and increasing, and a record keeps its offset
//!   through compaction;
//! * a retried send is in the partition once;
//! * a compacted partition holds the latest acknowledged value of every key.
//!
//! Seeds: 1,000 per run (200 in wasm); `LOGSPINE_SEEDS` / `LOGSPINE_SEED` as elsewhere.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::topic::{Appended, Partition, PartitionConfig, PartitionError, TopicRecord};
use logspine_core::{Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    acked: u64,
    duplicates: u64,
    crashes: u64,
    compactions: u64,
    retention_drops: u64,
    busy: u64,
}

type Bytes = Option<Vec<u8>>;
/// A send waiting for its acknowledgement: producer, sequence, key, value, offset.
type Pending = (u64, u64, Bytes, Bytes, u64);

struct Run {
    disk: SimDisk,
    p: Partition,
    config: PartitionConfig,
    now: u64,
    /// Producer id → next sequence; a send waiting for its ack: (pid, seq, key, value).
    producers: Vec<(u64, u64)>,
    pending: Vec<Pending>,
    /// offset → record, for acknowledged records.
    acked: BTreeMap<u64, (Bytes, Bytes)>,
    /// (pid, seq) acknowledged → offset.
    acked_ids: BTreeMap<(u64, u64), u64>,
    tally: Tally,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Run {
    fn tick(&mut self) -> Result<(), String> {
        self.now += 1;
        self.disk.advance(1);
        for c in self.disk.take_completions() {
            self.p
                .handle_sync_completion(&mut self.disk, &c)
                .map_err(err)?;
        }
        // Acknowledge what became durable.
        let hw = self.p.high_watermark();
        let mut still = Vec::new();
        for (pid, seq, key, value, offset) in std::mem::take(&mut self.pending) {
            if offset < hw {
                self.acked.insert(offset, (key, value));
                self.acked_ids.insert((pid, seq), offset);
                self.tally.acked += 1;
            } else {
                still.push((pid, seq, key, value, offset));
            }
        }
        self.pending = still;
        self.p.validate();
        Ok(())
    }

    fn send(&mut self, rng: &mut Rng, retry: bool) -> Result<(), String> {
        let i = rng.index(self.producers.len());
        let (pid, next) = self.producers[i];
        // A retry re-sends an earlier sequence of this producer that is still pending.
        if retry {
            if let Some(&(ppid, seq, ref key, ref value, offset)) =
                self.pending.iter().find(|p| p.0 == pid)
            {
                let (key, value) = (key.clone(), value.clone());
                match self.p.append(
                    &mut self.disk,
                    key.as_deref(),
                    value.as_deref(),
                    self.now,
                    Some((ppid, seq)),
                ) {
                    Ok(Appended::Duplicate(o)) => {
                        self.tally.duplicates += 1;
                        if o != Some(offset) {
                            return Err(format!("retry of {seq} answered {o:?}, sent at {offset}"));
                        }
                    }
                    Ok(Appended::New(o)) => {
                        return Err(format!("retry of {pid}/{seq} appended again at {o}"))
                    }
                    Err(PartitionError::Busy(_)) => self.tally.busy += 1,
                    Err(e) => return Err(err(e)),
                }
                return Ok(());
            }
        }
        let key = (rng.below(4) != 0).then(|| format!("key{}", rng.below(12)).into_bytes());
        let value = (rng.below(6) != 0).then(|| {
            let mut v = vec![0u8; rng.index(60)];
            rng.fill(&mut v);
            v
        });
        match self.p.append(
            &mut self.disk,
            key.as_deref(),
            value.as_deref(),
            self.now,
            Some((pid, next)),
        ) {
            Ok(Appended::New(offset)) => {
                self.producers[i].1 += 1;
                self.pending.push((pid, next, key, value, offset));
            }
            Ok(Appended::Duplicate(o)) => {
                return Err(format!("a new sequence was a duplicate of {o:?}"))
            }
            Err(PartitionError::Busy(_)) => self.tally.busy += 1,
            Err(e) => return Err(err(e)),
        }
        Ok(())
    }

    fn records(&self) -> Result<Vec<TopicRecord>, String> {
        let mut out = Vec::new();
        let mut at = self.p.start_offset();
        loop {
            let batch = self.p.read(&self.disk, at, 64).map_err(err)?;
            let Some(last) = batch.last() else { break };
            at = last.offset + 1;
            out.extend(batch);
        }
        Ok(out)
    }

    fn check(&self, when: &str) -> Result<(), String> {
        let records = self.records()?;
        for w in records.windows(2) {
            if w[0].offset >= w[1].offset {
                return Err(format!(
                    "{when}: offsets {} then {}",
                    w[0].offset, w[1].offset
                ));
            }
        }
        let by_offset: BTreeMap<u64, &TopicRecord> =
            records.iter().map(|r| (r.offset, r)).collect();
        let start = self.p.start_offset();
        // Latest acknowledged offset per key (compaction keeps it, or a later one).
        let mut latest: BTreeMap<&Vec<u8>, u64> = BTreeMap::new();
        for (o, (k, _)) in &self.acked {
            if let Some(k) = k {
                latest.insert(k, *o);
            }
        }
        for (o, (k, v)) in &self.acked {
            if *o < start {
                continue; // retention dropped its segment
            }
            match by_offset.get(o) {
                Some(r) => {
                    if (&r.key, &r.value) != (k, v) {
                        return Err(format!("{when}: offset {o} holds a different record"));
                    }
                }
                None => {
                    // Compaction keeps a key's latest record: this one may go if a later
                    // record of the key is in the partition, or if it is an expired
                    // tombstone.
                    let compacted_away = self.config.compacted
                        && match k {
                            Some(k) => {
                                latest.get(k).is_some_and(|l| l > o)
                                    || records
                                        .iter()
                                        .any(|r| r.key.as_ref() == Some(k) && r.offset > *o)
                                    || v.is_none()
                            }
                            None => false,
                        };
                    if !compacted_away {
                        return Err(format!(
                            "{when}: acknowledged offset {o} lost (start {start})"
                        ));
                    }
                }
            }
        }
        // Every producer sequence at most once.
        let mut seen = BTreeMap::new();
        for r in &records {
            if let Some(id) = r.producer {
                if let Some(prev) = seen.insert(id, r.offset) {
                    return Err(format!("{when}: {id:?} at {prev} and {}", r.offset));
                }
            }
        }
        Ok(())
    }

    fn crash(&mut self) -> Result<(), String> {
        self.tally.crashes += 1;
        self.tally.compactions += self.p.compactions;
        self.disk.crash();
        let (p, _) = Partition::open(&mut self.disk, self.config.clone()).map_err(err)?;
        self.p = p;
        self.check("after a crash")?;
        // Unacknowledged sends: the producers resend them, in order, with the same ids;
        // those that survived the crash are duplicates now.
        for (pid, seq, key, value, offset) in std::mem::take(&mut self.pending) {
            let got = loop {
                match self.p.append(
                    &mut self.disk,
                    key.as_deref(),
                    value.as_deref(),
                    self.now,
                    Some((pid, seq)),
                ) {
                    Err(PartitionError::Busy(_)) => self.tick()?,
                    other => break other.map_err(|e| format!("resend of {pid}/{seq}: {e}"))?,
                }
            };
            if let Appended::Duplicate(o) = got {
                self.tally.duplicates += 1;
                if o != Some(offset) {
                    return Err(format!(
                        "{pid}/{seq} survived at {o:?}, was sent at {offset}"
                    ));
                }
            }
            let offset = got.offset().expect("new, or a recent duplicate");
            self.pending.push((pid, seq, key, value, offset));
        }
        Ok(())
    }
}

fn run_seed(seed: u64, total: &mut Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let compacted = rng.below(2) == 0;
    let config = PartitionConfig {
        segment_bytes: [256, 1024, 4096][rng.index(3)],
        retention_bytes: (!compacted && rng.below(2) == 0).then(|| rng.range_inclusive(1024, 8192)),
        retention_ticks: (!compacted && rng.below(3) == 0).then(|| rng.range_inclusive(50, 400)),
        compacted,
        tombstone_retention_ticks: rng.range_inclusive(0, 200),
        ..PartitionConfig::new("orders-0")
    };
    let mut disk = SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform {
                min: 1,
                max: 1 + rng.below(6),
            },
            sector_bytes: 64,
            tear_on_crash: true,
            serial_syncs: rng.below(2) == 0,
        },
        seed,
    );
    let (p, _) = Partition::open(&mut disk, config.clone()).map_err(err)?;
    let mut r = Run {
        disk,
        p,
        config,
        now: 0,
        producers: (0..1 + rng.below(3)).map(|i| (100 + i, 0)).collect(),
        pending: Vec::new(),
        acked: BTreeMap::new(),
        acked_ids: BTreeMap::new(),
        tally: Tally::default(),
    };
    for step in 0..300 + rng.below(300) {
        let res = match rng.below(100) {
            0..=49 => r.send(&mut rng, false),
            50..=59 => r.send(&mut rng, true),
            60..=74 => r.p.request_sync(&mut r.disk).map(|_| ()).map_err(err),
            75..=79 => {
                r.p.enforce_retention(&mut r.disk, r.now)
                    .map(|n| r.tally.retention_drops += n)
                    .map_err(err)
            }
            80..=84 => r.p.compact(&mut r.disk, r.now).map(|_| ()).map_err(err),
            85..=86 => r.crash(),
            _ => Ok(()),
        };
        res.map_err(|e| format!("step {step}: {e}"))?;
        r.tick().map_err(|e| format!("step {step}: {e}"))?;
    }
    // Settle: sync and let the compaction finish, then check.
    for _ in 0..200 {
        if !r.p.compacting() && r.pending.is_empty() {
            break;
        }
        r.p.request_sync(&mut r.disk).map_err(err)?;
        for _ in 0..10 {
            r.tick()?;
        }
    }
    r.check("at the end")?;
    r.crash()?;
    r.tally.compactions += r.p.compactions;
    let t = &r.tally;
    total.acked += t.acked;
    total.duplicates += t.duplicates;
    total.crashes += t.crashes;
    total.compactions += t.compactions;
    total.retention_drops += t.retention_drops;
    total.busy += t.busy;
    Ok(())
}

#[test]
fn partition_keeps_acknowledged_records_across_crashes() {
    let default = if cfg!(target_arch = "wasm32") {
        200
    } else {
        1000
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "topic_partition",
        "partition_keeps_acknowledged_records_across_crashes",
        default,
        |seed| run_seed(seed, &mut total),
    ) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {total:?}");
    assert!(total.acked > 100 * seeds, "{total:?}");
    assert!(total.duplicates > seeds, "{total:?}");
    assert!(total.crashes > seeds, "{total:?}");
    assert!(total.compactions > seeds / 4, "{total:?}");
    assert!(total.retention_drops > seeds / 4, "{total:?}");
}

#[test]
fn records_round_trip_and_garbage_is_an_error() {
    let r = TopicRecord {
        offset: 42,
        timestamp: 7,
        key: Some(b"k".to_vec()),
        value: None,
        producer: Some((1, 2)),
    };
    let bytes = r.encode();
    assert_eq!(TopicRecord::decode(&bytes), Ok(r));
    for n in 0..bytes.len() {
        assert!(
            TopicRecord::decode(&bytes[..n]).is_err(),
            "truncated at {n}"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(TopicRecord::decode(&extra).is_err());
    let mut bad = bytes;
    bad[0] = 9;
    assert!(TopicRecord::decode(&bad).unwrap_err().contains("version"));
}
