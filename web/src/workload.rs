//! [`Workload`]: the playground's workload generator — `clients` simulated clients, each
//! running one real transaction at a time against the [`Db`], started at a total rate of
//! `rate_per_sec` transactions a second of the page's clock.
//!
//! A transaction reads one key of a small key space (`k000`..), writes it with a new value
//! and commits; the client then waits for the commit's acknowledgement (a completed WAL
//! sync) before it starts another. So with more clients than a sync takes to complete,
//! several commits wait for the same sync: group commit, measured in `DbStats`.
//!
//! Pacing is a token bucket fed by the clock handed to [`Workload::step`] (the core has no
//! clock): `rate_per_sec * elapsed_ms / 1000` tokens, at most one per client banked. An
//! idle client spends one token to start a transaction. Randomness (which key) comes from
//! a seeded [`Rng`], so a run is reproducible given the same clock.
//!
//! A write to a key another transaction holds is a [`DbError::Conflict`]; a write that
//! needs a WAL sync first is [`DbError::WouldBlock`]. Either way the client aborts its
//! transaction, counts it, and tries again with a later token. Any other error stops the
//! workload and is returned for the page to show.

use logspine_core::db::{CommitAck, Db, DbError, TxnId};
use logspine_core::{Rng, Storage};

/// The most clients the form allows.
pub const MAX_CLIENTS: u32 = 256;
/// The highest rate the form allows, in transactions per second.
pub const MAX_RATE_PER_SEC: u32 = 20_000;
/// Keys the workload writes: `k000`..`k{KEY_SPACE-1}`.
pub const KEY_SPACE: u64 = 400;
/// At most this many transactions start in one step (bounds the work per tick).
const MAX_STARTS_PER_STEP: u32 = 256;

/// What the workload has done, for the page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkloadView {
    /// Whether it is starting new transactions.
    pub running: bool,
    /// Clients configured.
    pub clients: u32,
    /// Target rate, transactions per second.
    pub rate_per_sec: u32,
    /// Transactions started (committed or not).
    pub started: u64,
    /// Commits acknowledged.
    pub acked: u64,
    /// Commits waiting for their sync now.
    pub waiting: u64,
    /// Transactions aborted on a lock conflict.
    pub conflicts: u64,
    /// Transactions aborted because the buffer pool needed a WAL sync first.
    pub blocked: u64,
}

/// The generator. See the module docs.
#[derive(Clone, Debug)]
pub struct Workload {
    running: bool,
    rate_per_sec: u32,
    /// One slot per client: the transaction it waits on.
    clients: Vec<Option<TxnId>>,
    tokens: f64,
    last_ms: Option<u64>,
    rng: Rng,
    seq: u64,
    view: WorkloadView,
}

impl Workload {
    /// A stopped workload with a seed for its key choices.
    pub fn new(seed: u64) -> Workload {
        Workload {
            running: false,
            rate_per_sec: 0,
            clients: Vec::new(),
            tokens: 0.0,
            last_ms: None,
            rng: Rng::new(seed),
            seq: 0,
            view: WorkloadView::default(),
        }
    }

    /// Starts (or retunes) it: `clients` in `1..=MAX_CLIENTS`, `rate_per_sec` in
    /// `1..=MAX_RATE_PER_SEC` (both clamped). Clients still waiting on a commit keep it.
    pub fn start(&mut self, clients: u32, rate_per_sec: u32) {
        let clients = clients.clamp(1, MAX_CLIENTS) as usize;
        // Shrinking drops idle slots only; a waiting client finishes first.
        while self.clients.len() > clients {
            match self.clients.iter().rposition(Option::is_none) {
                Some(i) => {
                    self.clients.remove(i);
                }
                None => break,
            }
        }
        self.clients.resize(clients.max(self.clients.len()), None);
        self.rate_per_sec = rate_per_sec.clamp(1, MAX_RATE_PER_SEC);
        self.running = true;
        self.last_ms = None;
        self.tokens = 0.0;
    }

    /// Stops starting transactions; commits in flight still complete.
    pub fn stop(&mut self) {
        self.running = false;
    }

    /// Whether it is starting transactions.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Frees the clients whose commits were acknowledged.
    pub fn handle_acks(&mut self, acks: &[CommitAck]) {
        for ack in acks {
            if let Some(slot) = self.clients.iter_mut().find(|c| **c == Some(ack.txn)) {
                *slot = None;
                self.view.acked += 1;
            }
        }
    }

    /// Whether `txn` is one of the workload's.
    pub fn owns(&self, txn: TxnId) -> bool {
        self.clients.contains(&Some(txn))
    }

    /// Starts the transactions that are due at `now_ms`. Returns an error other than a
    /// conflict or a wait for the WAL, which also stops the workload.
    pub fn step<S: Storage>(&mut self, db: &mut Db<S>, now_ms: u64) -> Result<(), DbError> {
        if !self.running {
            return Ok(());
        }
        let elapsed = now_ms.saturating_sub(self.last_ms.unwrap_or(now_ms));
        self.last_ms = Some(now_ms);
        #[expect(
            clippy::cast_precision_loss,
            reason = "milliseconds between two ticks and a rate below 2^53"
        )]
        let fresh = f64::from(self.rate_per_sec) * elapsed as f64 / 1000.0;
        let cap = self.clients.len() as f64;
        self.tokens = (self.tokens + fresh).min(cap.max(1.0));
        let mut starts = 0;
        while self.tokens >= 1.0 && starts < MAX_STARTS_PER_STEP {
            let Some(slot) = self.clients.iter().position(Option::is_none) else {
                break;
            };
            self.tokens -= 1.0;
            starts += 1;
            match self.run_one(db, slot) {
                Ok(()) => {}
                Err(DbError::Conflict { .. }) => self.view.conflicts += 1,
                Err(DbError::WouldBlock(_)) => {
                    self.view.blocked += 1;
                    break;
                }
                Err(e) => {
                    self.running = false;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// One transaction: read a key, write it, commit. On error, the transaction is
    /// aborted (it wrote nothing: the failed write changed nothing).
    fn run_one<S: Storage>(&mut self, db: &mut Db<S>, slot: usize) -> Result<(), DbError> {
        let key = format!("k{:03}", self.rng.below(KEY_SPACE));
        self.seq += 1;
        let txn = db.begin();
        self.view.started += 1;
        let result = (|| {
            let old = db.get(Some(txn), key.as_bytes())?;
            let n = old
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.rsplit('#').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            let value = format!("client{}#{}", slot + 1, n + 1);
            db.put(txn, key.as_bytes(), value.as_bytes())?;
            db.commit(txn)
        })();
        match result {
            Ok(()) => {
                self.clients[slot] = Some(txn);
                Ok(())
            }
            Err(e) => {
                // Best effort: a transaction that failed before writing aborts at once.
                let _ = db.abort(txn);
                Err(e)
            }
        }
    }

    /// Counters for the page.
    pub fn view(&self) -> WorkloadView {
        WorkloadView {
            running: self.running,
            clients: u32::try_from(self.clients.len()).unwrap_or(MAX_CLIENTS),
            rate_per_sec: self.rate_per_sec,
            waiting: self.clients.iter().filter(|c| c.is_some()).count() as u64,
            ..self.view
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::db::DbConfig;
    use logspine_core::{SimDisk, SimDiskConfig, SyncLatency};

    fn db() -> Db<SimDisk> {
        let disk = SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Fixed(10),
                ..SimDiskConfig::default()
            },
            3,
        );
        Db::open(disk, DbConfig::default()).unwrap().0
    }

    /// Runs `ms` milliseconds in 1 ms ticks: disk, database, workload.
    fn run(db: &mut Db<SimDisk>, w: &mut Workload, from: u64, ms: u64) {
        for now in from..from + ms {
            db.storage_mut().advance(1);
            db.tick(now).unwrap();
            w.handle_acks(&db.take_acks());
            w.step(db, now).unwrap();
        }
    }

    #[test]
    fn clients_wait_for_their_acks_so_commits_share_syncs() {
        let mut db = db();
        let mut w = Workload::new(1);
        w.start(16, 2000);
        run(&mut db, &mut w, 0, 400);
        w.stop();
        run(&mut db, &mut w, 400, 100);
        let v = w.view();
        assert!(!v.running);
        assert_eq!(v.waiting, 0, "every commit was acknowledged after stopping");
        assert_eq!(v.started, v.acked + v.conflicts + v.blocked);
        let stats = db.stats();
        assert_eq!(stats.commits, v.acked);
        // 16 clients and a 10 ms sync: each sync carries several commits.
        assert!(stats.commits_per_sync() > 4.0, "{stats:?}");
        // At most 16 waiting commits per 10 ms sync: about 1,600 a second.
        assert!(v.acked > 200, "{v:?}");
        db.validate();
    }

    #[test]
    fn the_rate_limits_starts() {
        let mut db = db();
        let mut w = Workload::new(2);
        w.start(64, 50);
        run(&mut db, &mut w, 0, 1000);
        let v = w.view();
        assert!((45..=51).contains(&v.started), "{v:?}");
        assert!(v.conflicts < 5);
    }

    #[test]
    fn retuning_keeps_waiting_clients_and_clamps() {
        let mut w = Workload::new(3);
        w.start(0, 0);
        assert_eq!((w.view().clients, w.view().rate_per_sec), (1, 1));
        w.start(1000, 1_000_000);
        assert_eq!(
            (w.view().clients, w.view().rate_per_sec),
            (MAX_CLIENTS, MAX_RATE_PER_SEC)
        );
        w.clients[5] = Some(TxnId(9));
        w.start(2, 10);
        assert_eq!(w.view().clients, 2);
        assert!(w.owns(TxnId(9)), "a waiting client is not dropped");
        w.handle_acks(&[CommitAck {
            txn: TxnId(9),
            lsn: None,
            latency_ticks: 0,
        }]);
        assert_eq!(w.view().acked, 1);
        assert!(!w.owns(TxnId(9)));
    }
}
