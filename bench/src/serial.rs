//! `OneSyncAtATime`: a [`SimDisk`] whose syncs run one after another.
//!
//! The simulated disk overlaps syncs: each completes its latency after it was issued (in
//! issue order), so 64 syncs issued in the same tick all complete one latency later, as on
//! a device with a deep flush queue. A single WAL file is not that device: its flushes run
//! one at a time (Postgres holds `WALWriteLock` across the write and the fsync; a disk
//! without a deep queue, or one fsync stream per file, does the same). This wrapper gives
//! the benchmark that device: a sync asked for while another runs waits in a queue and
//! starts when the one before it completes, so each takes the full latency after the
//! previous one. Queued syncs are not merged (merging them is what group commit does),
//! and each still covers only what was written before it was asked for, as far as the
//! caller's WAL knows.
//!
//! # Invariants
//! * At most one sync runs on the inner disk; the queue is non-empty only while one runs.
//! * Ids are handed out in order, and the inner disk gets the syncs in the same order, so
//!   the id the caller holds is the inner disk's id for the same sync.

use std::collections::VecDeque;

use logspine_core::{SimDisk, Storage, StorageError, SyncCompletion, SyncId};

/// A [`SimDisk`] that runs one sync at a time. See the module docs.
#[derive(Clone, Debug)]
pub struct OneSyncAtATime {
    disk: SimDisk,
    /// Syncs asked for that have not started, oldest first.
    queued: VecDeque<SyncId>,
    /// The id the next `sync` returns.
    next: u64,
}

impl OneSyncAtATime {
    /// Wraps an empty disk (its first sync must get id 1, as a new `SimDisk`'s does).
    pub fn new(disk: SimDisk) -> Self {
        assert!(
            disk.stats().syncs_issued == 0,
            "wrap the disk before anything syncs it"
        );
        OneSyncAtATime {
            disk,
            queued: VecDeque::new(),
            next: 1,
        }
    }

    /// The inner disk.
    pub fn disk(&self) -> &SimDisk {
        &self.disk
    }

    /// Whether the device is busy with a sync.
    fn running(&self) -> bool {
        self.disk.next_completion_at().is_some()
    }

    fn start(&mut self, id: SyncId) -> Result<(), StorageError> {
        let inner = self.disk.sync()?;
        assert_eq!(inner, id, "the inner disk numbers syncs as the queue does");
        Ok(())
    }

    /// Moves virtual time forward tick by tick, starting each queued sync in the tick the
    /// one before it completes.
    pub fn advance(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.disk.advance(1);
            if !self.running() {
                if let Some(id) = self.queued.pop_front() {
                    // SimDisk's sync cannot fail.
                    self.start(id).expect("SimDisk::sync is infallible");
                }
            }
        }
    }

    /// When the running sync completes, if one runs.
    pub fn next_completion_at(&self) -> Option<u64> {
        self.disk.next_completion_at()
    }

    /// Checks the invariants in the module docs.
    pub fn validate(&self) {
        self.disk.validate();
        assert!(
            self.queued.is_empty() || self.running(),
            "syncs queued while the device is idle"
        );
        assert!(
            self.queued.iter().all(|id| id.0 < self.next),
            "queued id never handed out"
        );
    }
}

impl Storage for OneSyncAtATime {
    fn list(&self) -> Vec<String> {
        self.disk.list()
    }

    fn len(&self, file: &str) -> Result<u64, StorageError> {
        self.disk.len(file)
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.disk.read(file, offset, buf)
    }

    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.disk.write(file, offset, data)
    }

    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        self.disk.set_len(file, len)
    }

    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        self.disk.delete(file)
    }

    fn sync(&mut self) -> Result<SyncId, StorageError> {
        let id = SyncId(self.next);
        self.next += 1;
        if self.running() {
            self.queued.push_back(id);
        } else {
            self.start(id)?;
        }
        Ok(id)
    }

    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        self.disk.take_completions()
    }

    fn syncs_in_flight(&self) -> u64 {
        self.disk.syncs_in_flight() + self.queued.len() as u64
    }

    fn has_volatile_changes(&self) -> bool {
        self.disk.has_volatile_changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::{SimDiskConfig, SyncLatency};

    #[test]
    fn syncs_run_back_to_back() {
        let cfg = SimDiskConfig {
            sync_latency: SyncLatency::Fixed(10),
            ..SimDiskConfig::default()
        };
        let mut d = OneSyncAtATime::new(SimDisk::new(cfg, 1));
        d.write("f", 0, b"a").unwrap();
        let a = d.sync().unwrap();
        d.write("f", 1, b"b").unwrap();
        let b = d.sync().unwrap();
        assert_eq!((a, b), (SyncId(1), SyncId(2)));
        assert_eq!(d.syncs_in_flight(), 2);
        d.advance(10);
        assert_eq!(
            d.take_completions()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![a],
            "the first completes after one latency"
        );
        d.validate();
        d.advance(9);
        assert!(d.take_completions().is_empty(), "the second started at 10");
        d.advance(1);
        assert_eq!(
            d.take_completions()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![b]
        );
        assert_eq!(d.disk().durable_contents("f"), Some(&b"ab"[..]));
        assert_eq!(d.syncs_in_flight(), 0);
        d.validate();
    }
}
