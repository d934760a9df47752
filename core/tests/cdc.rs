//! Change data capture, exactly once, across crashes of the database, the connector and
//! the broker (each on its own simulated disk, torn writes included), against dual writes
//! on the same seeds, with materialized views rebuilt from offset zero.
//!
//! * **CDC exactness** (every seed): the change events in the topic, read back and
//!   grouped by transaction, equal the committed transactions in commit order — no gap,
//!   no duplicate, no aborted, rolled-back or lost transaction, each transaction's events
//!   complete (its boundary: `index` 0..`count`) with the right keys, values before and
//!   after.
//! * **Dual writes** (the same workloads): the application commits to the database and,
//!   once acknowledged, produces the change itself; a crash of its machine between the
//!   two loses the produce. Measured: how many seeds end with the topic and the database
//!   disagreeing (printed; CDC: never).
//! * **Views**: a replica table, an aggregate and a search index, consumed during the
//!   run and one of them dropped and rebuilt mid-run, equal at the end a view rebuilt
//!   from offset zero and the view computed from the database's rows.
//!
//! * **Partitions**: seed `n` gives `changes` `1 + n % 4` partitions. The connector
//!   routes each event by its key and keeps a sequence number per partition; every
//!   partition holds only its keys, in commit order, and the partitions merged by
//!   (commit LSN, index) must pass the exactness check above.
//!
//! Seeds: 1,000 per run (150 in wasm); `LOGSPINE_SEEDS` / `LOGSPINE_SEED`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::cdc::views::{MaterializedView, View, ViewKind};
use logspine_core::cdc::{CdcConfig, ChangeEvent, Connector};
use logspine_core::db::{Db, DbConfig, DbError, IndexKind, TxnId};
use logspine_core::log::Lsn;
use logspine_core::lsm::LsmConfig;
use logspine_core::topic::partition_of;
use logspine_core::topic::{Broker, Produce, TopicConfig};
use logspine_core::{Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

const CHANGES: &str = "changes";
const DUAL: &str = "dual";

type Writes = Vec<(String, Option<String>)>;

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    committed: u64,
    events: u64,
    db_crashes: u64,
    connector_crashes: u64,
    broker_crashes: u64,
    aborted: u64,
    dual_diverged: u64,
    rebuilds: u64,
}

struct Sim {
    db: Option<Db<SimDisk>>,
    db_config: DbConfig,
    broker: Broker,
    broker_disk: SimDisk,
    connector: Connector,
    cdc_disk: SimDisk,
    now: u64,
    /// Open transactions: id → writes so far.
    open: BTreeMap<TxnId, Writes>,
    /// Commit records appended since the last db crash: commit LSN → (txn, writes).
    committing: BTreeMap<Lsn, (TxnId, Writes)>,
    /// Transactions whose commit survived, in commit order.
    committed: Vec<(u64, Writes)>,
    /// Dual writes: acknowledged commits whose produce is queued (lost with a crash).
    dual_queue: Vec<Writes>,
    dual_waiting: BTreeMap<TxnId, Writes>,
    views: Vec<MaterializedView>,
    tally: Tally,
    /// Partitions of `changes`.
    partitions: u32,
}

fn cdc_config(partitions: u32) -> CdcConfig {
    CdcConfig {
        partitions,
        ..CdcConfig::default()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn topics(partitions: u32) -> Vec<TopicConfig> {
    let mut c = TopicConfig::new(CHANGES, partitions);
    c.partition.segment_bytes = 2048;
    let mut d = TopicConfig::new(DUAL, 1);
    d.partition.segment_bytes = 2048;
    vec![c, d]
}

impl Sim {
    fn db(&mut self) -> &mut Db<SimDisk> {
        self.db.as_mut().expect("open")
    }

    fn tick(&mut self) -> Result<(), String> {
        self.now += 1;
        let now = self.now;
        // The database.
        let hold = self.connector.hold();
        let db = self.db.as_mut().expect("open");
        db.set_wal_hold(Some(hold));
        db.storage_mut().advance(1);
        db.tick(now).map_err(err)?;
        for ack in db.take_acks() {
            if let Some(w) = self.dual_waiting.remove(&ack.txn) {
                self.dual_queue.push(w);
            }
        }
        db.take_events();
        // The broker.
        self.broker_disk.advance(1);
        self.broker.tick(&mut self.broker_disk, now).map_err(err)?;
        // The connector.
        self.cdc_disk.advance(1);
        for c in self.cdc_disk.take_completions() {
            self.connector.handle_sync_completion(&c);
        }
        let db = self.db.as_ref().expect("open");
        self.connector
            .step(
                db.wal(),
                db.storage(),
                &mut self.broker,
                &mut self.broker_disk,
                &mut self.cdc_disk,
                now,
            )
            .map_err(err)?;
        // The dual-writing application sends what it has.
        for w in std::mem::take(&mut self.dual_queue) {
            let value = serde_json::to_vec(&w).expect("json");
            let req = Produce {
                topic: DUAL,
                partition: Some(0),
                key: None,
                value: Some(&value),
                producer: None,
            };
            self.broker
                .produce(&mut self.broker_disk, &req, now)
                .map_err(err)?;
        }
        // The views consume.
        for v in &mut self.views {
            v.poll(&self.broker, &self.broker_disk, CHANGES, 16)
                .map_err(err)?;
        }
        Ok(())
    }

    fn client(&mut self, rng: &mut Rng) -> Result<(), String> {
        if self.db().is_recovering() {
            return Ok(());
        }
        if self.open.len() < 3 && rng.below(3) == 0 {
            let t = self.db().begin();
            self.open.insert(t, Writes::new());
            return Ok(());
        }
        let Some(&txn) = self.open.keys().nth(rng.index(self.open.len().max(1))) else {
            return Ok(());
        };
        match rng.below(10) {
            0..=5 => {
                let key = format!(
                    "{}-{}",
                    ["cart", "user", "item"][rng.index(3)],
                    rng.below(15)
                );
                let value = (rng.below(5) != 0).then(|| {
                    if rng.below(2) == 0 {
                        format!("{}", rng.below(1000))
                    } else {
                        ["red apple", "green pear", "blue plum", "ripe red cherry"][rng.index(4)]
                            .to_owned()
                    }
                });
                let r = match &value {
                    Some(v) => self.db().put(txn, key.as_bytes(), v.as_bytes()),
                    None => self.db().delete(txn, key.as_bytes()),
                };
                match r {
                    Ok(()) => self.open.get_mut(&txn).expect("open").push((key, value)),
                    Err(DbError::Conflict { .. }) => {
                        self.db().abort(txn).map_err(err)?;
                        self.open.remove(&txn);
                        self.tally.aborted += 1;
                    }
                    Err(DbError::WouldBlock(_)) => {}
                    Err(e) => return Err(err(e)),
                }
            }
            6..=8 => {
                let writes = self.open.remove(&txn).expect("open");
                let lsn = self.db().wal().next_lsn();
                self.db().commit(txn).map_err(err)?;
                if !writes.is_empty() {
                    self.committing.insert(lsn, (txn, writes.clone()));
                    self.dual_waiting.insert(txn, writes);
                }
            }
            _ => {
                self.db().abort(txn).map_err(err)?;
                self.open.remove(&txn);
                self.tally.aborted += 1;
            }
        }
        Ok(())
    }

    /// The database's machine crashes: the database recovers; the dual-writing
    /// application on it loses what it had not produced yet.
    fn crash_db(&mut self) -> Result<(), String> {
        self.tally.db_crashes += 1;
        let mut disk = self.db.take().expect("open").into_storage();
        disk.crash();
        let (db, rec) = Db::open(disk, self.db_config.clone()).map_err(err)?;
        self.db = Some(db);
        let survived = rec.wal.next_lsn;
        for (lsn, (txn, w)) in std::mem::take(&mut self.committing) {
            if lsn < survived {
                self.committed.push((txn.0, w));
            }
        }
        self.open.clear();
        self.dual_queue.clear();
        self.dual_waiting.clear();
        Ok(())
    }

    fn crash_connector(&mut self) -> Result<(), String> {
        self.tally.connector_crashes += 1;
        self.cdc_disk.crash();
        self.connector =
            Connector::open(&self.cdc_disk, cdc_config(self.partitions)).map_err(err)?;
        Ok(())
    }

    fn crash_broker(&mut self) -> Result<(), String> {
        self.tally.broker_crashes += 1;
        self.broker_disk.crash();
        self.broker = Broker::open(&mut self.broker_disk, &topics(self.partitions)).map_err(err)?;
        self.connector.broker_restarted();
        Ok(())
    }

    fn read_topic(&self, topic: &str) -> Result<Vec<Vec<u8>>, String> {
        self.read_partition(topic, 0)
    }

    fn read_partition(&self, topic: &str, partition: u32) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let batch = self
                .broker
                .fetch(&self.broker_disk, topic, partition, at, 256)
                .map_err(err)?;
            let Some(last) = batch.last() else { break };
            at = last.offset + 1;
            out.extend(batch.into_iter().filter_map(|r| r.value));
        }
        Ok(out)
    }

    /// Every change event of `changes`: each partition checked (only its keys, in commit
    /// order), then all merged by (commit LSN, index) — the commit order.
    fn changes(&self) -> Result<Vec<ChangeEvent>, String> {
        let mut all = Vec::new();
        for p in 0..self.partitions {
            let events: Vec<ChangeEvent> = self
                .read_partition(CHANGES, p)?
                .iter()
                .map(|v| ChangeEvent::decode(v))
                .collect::<Result<_, _>>()?;
            for w in events.windows(2) {
                if (w[0].commit_lsn, w[0].index) >= (w[1].commit_lsn, w[1].index) {
                    return Err(format!("partition {p}: out of commit order: {w:?}"));
                }
            }
            if let Some(e) = events
                .iter()
                .find(|e| partition_of(e.key.as_bytes(), self.partitions) != p)
            {
                return Err(format!(
                    "partition {p} holds a change of another's key: {e:?}"
                ));
            }
            all.extend(events);
        }
        all.sort_by_key(|e| (e.commit_lsn, e.index));
        Ok(all)
    }
}

fn run_seed(seed: u64, total: &mut Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let disk_cfg = |rng: &mut Rng| SimDiskConfig {
        sync_latency: SyncLatency::Uniform {
            min: 1,
            max: 1 + rng.below(5),
        },
        sector_bytes: 64,
        tear_on_crash: true,
        serial_syncs: rng.below(2) == 0,
    };
    let db_config = DbConfig {
        index: if rng.below(2) == 0 {
            IndexKind::BTree
        } else {
            IndexKind::Lsm
        },
        lsm: LsmConfig {
            memtable_bytes: 512,
            ..LsmConfig::default()
        },
        checkpoint: logspine_core::db::CheckpointConfig {
            every_wal_bytes: 4096,
            pages_per_tick: 2,
        },
        ..DbConfig::default()
    };
    let db_disk = SimDisk::new(disk_cfg(&mut rng), seed ^ 1);
    let (db, _) = Db::open(db_disk, db_config.clone()).map_err(err)?;
    let mut broker_disk = SimDisk::new(disk_cfg(&mut rng), seed ^ 2);
    let partitions = u32::try_from(1 + seed % 4).expect("small");
    let broker = Broker::open(&mut broker_disk, &topics(partitions)).map_err(err)?;
    let cdc_disk = SimDisk::new(disk_cfg(&mut rng), seed ^ 3);
    let connector = Connector::open(&cdc_disk, cdc_config(partitions)).map_err(err)?;
    let mut s = Sim {
        db: Some(db),
        db_config,
        broker,
        broker_disk,
        connector,
        cdc_disk,
        now: 0,
        open: BTreeMap::new(),
        committing: BTreeMap::new(),
        committed: Vec::new(),
        dual_queue: Vec::new(),
        dual_waiting: BTreeMap::new(),
        views: vec![
            MaterializedView::new("replica", ViewKind::Replica),
            MaterializedView::new("aggregate", ViewKind::Aggregate),
            MaterializedView::new("search", ViewKind::Search),
        ],
        tally: Tally::default(),
        partitions,
    };
    for step in 0..300 + rng.below(300) {
        let r = match rng.below(200) {
            0..=169 => s.client(&mut rng),
            170..=172 => s.crash_db(),
            173..=175 => s.crash_connector(),
            176..=178 => s.crash_broker(),
            179 => {
                let i = rng.index(s.views.len());
                s.views[i].reset();
                s.tally.rebuilds += 1;
                Ok(())
            }
            _ => Ok(()),
        };
        r.map_err(|e| format!("step {step}: {e}"))?;
        s.tick().map_err(|e| format!("step {step}: {e}"))?;
    }
    // Finish: abort what is open, let everything settle.
    for txn in std::mem::take(&mut s.open).into_keys() {
        s.db().abort(txn).map_err(err)?;
    }
    for _ in 0..5000 {
        s.tick()?;
        let db = s.db.as_ref().expect("open");
        let settled = db.is_quiescent()
            && s.connector.read_at() >= db.wal().durable_next()
            && s.connector.backlog() == 0
            && s.dual_waiting.is_empty();
        if settled {
            break;
        }
    }
    // Everything appended was committed durably (no crash since).
    for (_, (txn, w)) in std::mem::take(&mut s.committing) {
        s.committed.push((txn.0, w));
    }
    for _ in 0..200 {
        s.tick()?;
    }
    // CDC: the topic, grouped by transaction, equals the committed transactions.
    let mut got: Vec<(u64, Writes)> = Vec::new();
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let events = s.changes()?;
    let mut i = 0;
    while i < events.len() {
        let first = &events[i];
        let n = first.count as usize;
        if first.index != 0 || i + n > events.len() {
            return Err(format!(
                "event {i}: a transaction boundary is broken: {first:?}"
            ));
        }
        let mut writes = Writes::new();
        for (j, e) in events[i..i + n].iter().enumerate() {
            if e.index as usize != j || e.txn != first.txn || e.commit_lsn != first.commit_lsn {
                return Err(format!(
                    "event {}: not part of txn {}: {e:?}",
                    i + j,
                    first.txn
                ));
            }
            if e.before.as_ref() != state.get(&e.key) {
                return Err(format!(
                    "event {}: before {:?}, the replayed state has {:?}",
                    i + j,
                    e.before,
                    state.get(&e.key)
                ));
            }
            match &e.after {
                Some(v) => state.insert(e.key.clone(), v.clone()),
                None => state.remove(&e.key),
            };
            writes.push((e.key.clone(), e.after.clone()));
        }
        got.push((first.txn, writes));
        i += n;
    }
    if got != s.committed {
        let (g, c) = (got.len(), s.committed.len());
        let at = got.iter().zip(&s.committed).position(|(a, b)| a != b);
        return Err(format!(
            "CDC: {g} transactions in the topic, {c} committed; first difference at {at:?}: {:?} vs {:?}",
            at.and_then(|i| got.get(i)),
            at.and_then(|i| s.committed.get(i))
        ));
    }
    // The database agrees with the replay.
    let rows: BTreeMap<String, String> = s
        .db()
        .scan(b"", None)
        .map_err(err)?
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    if rows != state {
        return Err("CDC: the replayed topic differs from the database".into());
    }
    // Views: incremental = rebuilt from zero = computed from the rows.
    for v in &s.views {
        let mut rebuilt = MaterializedView::new(&v.name, kind_of(&v.view));
        while rebuilt
            .poll(&s.broker, &s.broker_disk, CHANGES, 256)
            .map_err(err)?
            > 0
        {}
        let direct = View::of_rows(
            kind_of(&v.view),
            rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let same_positions = (0..s.partitions).all(|p| v.position(p) == rebuilt.position(p));
        if v.view != rebuilt.view || rebuilt.view != direct || !same_positions {
            return Err(format!(
                "view {}: incremental, rebuilt and direct differ",
                v.name
            ));
        }
        if v.lag(&s.broker, CHANGES).map_err(err)? != 0 {
            return Err(format!("view {} lags after settling", v.name));
        }
    }
    // Dual writes: replay the application's own topic.
    let mut dual: BTreeMap<String, String> = BTreeMap::new();
    for v in s.read_topic(DUAL)? {
        let w: Writes = serde_json::from_slice(&v).map_err(err)?;
        for (k, val) in w {
            match val {
                Some(val) => dual.insert(k, val),
                None => dual.remove(&k),
            };
        }
    }
    if dual != rows {
        s.tally.dual_diverged += 1;
    }
    s.tally.committed += s.committed.len() as u64;
    s.tally.events += events.len() as u64;
    let t = s.tally;
    total.committed += t.committed;
    total.events += t.events;
    total.db_crashes += t.db_crashes;
    total.connector_crashes += t.connector_crashes;
    total.broker_crashes += t.broker_crashes;
    total.aborted += t.aborted;
    total.dual_diverged += t.dual_diverged;
    total.rebuilds += t.rebuilds;
    Ok(())
}

fn kind_of(v: &View) -> ViewKind {
    match v {
        View::Replica(_) => ViewKind::Replica,
        View::Aggregate(_) => ViewKind::Aggregate,
        View::Search(_) => ViewKind::Search,
    }
}

#[test]
fn cdc_is_exactly_once_and_dual_writes_diverge() {
    let default = if cfg!(target_arch = "wasm32") {
        150
    } else {
        1000
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed(
        "cdc",
        "cdc_is_exactly_once_and_dual_writes_diverge",
        default,
        |seed| run_seed(seed, &mut total),
    ) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!(
        "{seeds} seeds: {total:?}; dual writes diverged in {} of {seeds} seeds ({:.0} %), CDC in 0",
        total.dual_diverged,
        total.dual_diverged as f64 * 100.0 / seeds as f64
    );
    assert!(total.committed > 20 * seeds, "{total:?}");
    assert!(total.db_crashes > seeds / 2, "{total:?}");
    assert!(total.connector_crashes > seeds / 2, "{total:?}");
    assert!(total.broker_crashes > seeds / 2, "{total:?}");
    assert!(total.rebuilds > seeds / 10, "{total:?}");
    // The contrast the seed argues: dual writes lose changes on crashes, often.
    assert!(total.dual_diverged > seeds / 10, "{total:?}");
}

#[test]
fn change_events_round_trip_and_garbage_is_an_error() {
    let e = ChangeEvent {
        lsn: 7,
        commit_lsn: 9,
        txn: 3,
        index: 1,
        count: 2,
        op: logspine_core::cdc::Op::Update,
        key: "cart-1".into(),
        before: Some("red apple".into()),
        after: None,
    };
    let b = e.encode();
    assert_eq!(ChangeEvent::decode(&b), Ok(e));
    for n in 0..b.len() {
        assert!(ChangeEvent::decode(&b[..n]).is_err(), "truncated at {n}");
    }
    let mut extra = b.clone();
    extra.push(0);
    assert!(ChangeEvent::decode(&extra).is_err());
}
