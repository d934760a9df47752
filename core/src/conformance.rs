//! The conformance suite for [`Storage`]: one set of rules, run against every backend
//! (the simulated disk natively and in wasm, IndexedDB in headless Chromium, the file
//! backend natively), as openraft's `testing/log/suite.rs` does for its log stores.
//!
//! The suite is `async` because some backends (IndexedDB) complete syncs on the browser's
//! event loop; a synchronous backend's harness never returns `Pending`, and
//! [`block_on`] runs it without an executor. Each rule panics with a message naming the
//! rule on the first violation.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::sim_disk::{SimDisk, SimDiskConfig};
use crate::storage::{Storage, StorageError, SyncCompletion};

/// What the suite needs from a backend.
#[expect(
    async_fn_in_trait,
    reason = "harnesses are single-threaded (wasm); no Send bound is wanted"
)]
pub trait Harness {
    /// The backend under test.
    type S: Storage;
    /// A new, empty storage, isolated from every other one this harness made.
    async fn fresh(&mut self) -> Self::S;
    /// Returns once every sync issued so far has completed (its completion is ready to be
    /// drained with `take_completions`).
    async fn settle(&mut self, storage: &mut Self::S);
    /// Crashes: every volatile change is dropped; the returned storage shows exactly the
    /// durable image. The suite settles before crashing, so no sync is in flight.
    async fn crash(&mut self, storage: Self::S) -> Self::S;
}

/// Runs a future that never waits (a synchronous harness) to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => {
            panic!("block_on: the future waited; use an async executor for this harness")
        }
    }
}

/// The harness for [`SimDisk`].
#[derive(Clone, Debug)]
pub struct SimDiskHarness {
    /// Seed for the next disk; incremented per disk.
    pub seed: u64,
    /// Configuration of every disk.
    pub config: SimDiskConfig,
}

impl Default for SimDiskHarness {
    fn default() -> Self {
        SimDiskHarness {
            seed: 1,
            config: SimDiskConfig::default(),
        }
    }
}

impl Harness for SimDiskHarness {
    type S = SimDisk;
    async fn fresh(&mut self) -> SimDisk {
        self.seed += 1;
        SimDisk::new(self.config, self.seed)
    }
    async fn settle(&mut self, storage: &mut SimDisk) {
        storage.settle();
    }
    async fn crash(&mut self, mut storage: SimDisk) -> SimDisk {
        storage.crash();
        storage.validate();
        storage
    }
}

fn read_vec<S: Storage>(s: &S, file: &str, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    s.read(file, offset, &mut buf)
        .unwrap_or_else(|e| panic!("read {file:?} @{offset}+{len}: {e}"));
    buf
}

fn whole<S: Storage>(s: &S, file: &str) -> Vec<u8> {
    crate::storage::read_all(s, file).unwrap_or_else(|e| panic!("read_all {file:?}: {e}"))
}

async fn sync_and_settle<H: Harness>(h: &mut H, s: &mut H::S) -> Vec<SyncCompletion> {
    let id = s.sync().expect("sync");
    h.settle(s).await;
    let done = s.take_completions();
    assert_eq!(
        done.last().map(|c| c.id),
        Some(id),
        "rule: after settle, the last completion is the last sync issued"
    );
    assert!(
        done.iter().all(|c| c.result.is_ok()),
        "rule: syncs succeed on a healthy backend: {done:?}"
    );
    assert_eq!(
        s.syncs_in_flight(),
        0,
        "rule: nothing in flight after settle + drain"
    );
    done
}

/// Runs every rule. Panics on the first violation.
pub async fn run_all<H: Harness>(h: &mut H) {
    basic_reads_and_writes(h).await;
    names_and_listing(h).await;
    set_len_and_delete(h).await;
    sync_ids_and_completion_order(h).await;
    durability_across_crash(h).await;
    unsynced_changes_are_lost(h).await;
    large_files_and_partial_overwrites(h).await;
}

/// Reads see writes at once; gaps read as zeros; reads past the end are errors.
pub async fn basic_reads_and_writes<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    assert!(s.list().is_empty(), "rule: a fresh storage is empty");
    assert!(
        matches!(s.len("a"), Err(StorageError::NotFound { .. })),
        "rule: len of a missing file is NotFound"
    );
    let mut one = [0u8; 1];
    assert!(
        matches!(s.read("a", 0, &mut one), Err(StorageError::NotFound { .. })),
        "rule: read of a missing file is NotFound"
    );
    s.write("a", 0, b"hello").unwrap();
    assert_eq!(whole(&s, "a"), b"hello", "rule: a write is visible at once");
    s.write("a", 8, b"xy").unwrap();
    assert_eq!(
        whole(&s, "a"),
        b"hello\0\0\0xy",
        "rule: a gap reads as zeros"
    );
    s.write("a", 1, b"EL").unwrap();
    assert_eq!(
        read_vec(&s, "a", 0, 5),
        b"hELlo",
        "rule: overwrite in place"
    );
    assert_eq!(s.len("a").unwrap(), 10);
    let mut buf = [0u8; 4];
    assert!(
        matches!(
            s.read("a", 8, &mut buf),
            Err(StorageError::OutOfRange { file_len: 10, .. })
        ),
        "rule: a read past the end is OutOfRange"
    );
    assert!(
        matches!(
            s.read("a", u64::MAX, &mut buf),
            Err(StorageError::OutOfRange { .. })
        ),
        "rule: an offset overflow is OutOfRange, not a panic"
    );
    s.read("a", 10, &mut [])
        .expect("rule: an empty read at the end is fine");
    s.write("a", 3, b"").unwrap();
    assert_eq!(
        s.len("a").unwrap(),
        10,
        "rule: an empty write changes nothing"
    );
}

/// Names are checked; listing is sorted and complete.
pub async fn names_and_listing<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    for bad in ["", "a/b", "..", &"x".repeat(201)] {
        assert!(
            matches!(s.write(bad, 0, b"x"), Err(StorageError::InvalidName { .. })),
            "rule: the name {bad:?} is refused"
        );
    }
    for f in ["zeta", "alpha", "wal-00000000000000000000.seg"] {
        s.write(f, 0, b"1").unwrap();
    }
    assert_eq!(
        s.list(),
        vec!["alpha", "wal-00000000000000000000.seg", "zeta"],
        "rule: list is sorted"
    );
    assert!(s.exists("alpha") && !s.exists("beta"));
}

/// set_len truncates and zero-extends and creates; delete removes and is idempotent.
pub async fn set_len_and_delete<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    s.set_len("e", 0).unwrap();
    assert_eq!(
        s.len("e").unwrap(),
        0,
        "rule: set_len creates an empty file"
    );
    s.write("f", 0, b"abcdef").unwrap();
    s.set_len("f", 3).unwrap();
    assert_eq!(whole(&s, "f"), b"abc", "rule: set_len truncates");
    s.set_len("f", 6).unwrap();
    assert_eq!(
        whole(&s, "f"),
        b"abc\0\0\0",
        "rule: set_len zero-extends, old bytes gone"
    );
    s.delete("f").unwrap();
    assert!(!s.exists("f"), "rule: delete removes");
    s.delete("f")
        .expect("rule: deleting a missing file is fine");
    s.write("f", 2, b"z").unwrap();
    assert_eq!(
        whole(&s, "f"),
        b"\0\0z",
        "rule: a deleted file comes back empty"
    );
}

/// Sync ids increase; completions come in issue order; nothing is lost or repeated.
pub async fn sync_ids_and_completion_order<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    let mut ids = Vec::new();
    for i in 0..5u8 {
        s.write("f", u64::from(i), &[i]).unwrap();
        ids.push(s.sync().unwrap());
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "rule: sync ids increase"
    );
    assert!(s.syncs_in_flight() >= 1, "rule: issued syncs are in flight");
    h.settle(&mut s).await;
    let got: Vec<_> = s.take_completions().into_iter().map(|c| c.id).collect();
    assert_eq!(got, ids, "rule: every sync completes once, in issue order");
    assert!(
        s.take_completions().is_empty(),
        "rule: completions are drained once"
    );
    assert_eq!(s.syncs_in_flight(), 0);
}

/// What a completed sync covered survives a crash, for every file.
pub async fn durability_across_crash<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    s.write("a", 0, b"one").unwrap();
    s.write("b", 0, b"two").unwrap();
    s.set_len("empty", 0).unwrap();
    s.write("gone", 0, b"x").unwrap();
    sync_and_settle(h, &mut s).await;
    s.delete("gone").unwrap();
    s.write("a", 3, b"+").unwrap();
    sync_and_settle(h, &mut s).await;
    let s = h.crash(s).await;
    assert_eq!(
        whole(&s, "a"),
        b"one+",
        "rule: synced writes survive a crash"
    );
    assert_eq!(whole(&s, "b"), b"two", "rule: a sync covers every file");
    assert_eq!(
        s.len("empty").unwrap(),
        0,
        "rule: a synced empty file survives"
    );
    assert!(!s.exists("gone"), "rule: a synced delete survives");
    assert_eq!(s.list(), vec!["a", "b", "empty"]);
}

/// Changes after the last completed sync are lost by a crash, exactly.
pub async fn unsynced_changes_are_lost<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    s.write("a", 0, b"durable").unwrap();
    s.write("keep", 0, b"k").unwrap();
    sync_and_settle(h, &mut s).await;
    s.write("a", 0, b"VOLATILE!").unwrap();
    s.write("new", 0, b"n").unwrap();
    s.delete("keep").unwrap();
    let s = h.crash(s).await;
    assert_eq!(
        whole(&s, "a"),
        b"durable",
        "rule: an unsynced overwrite is lost"
    );
    assert!(!s.exists("new"), "rule: an unsynced file is lost");
    assert_eq!(whole(&s, "keep"), b"k", "rule: an unsynced delete is lost");
}

/// Files spanning many backend chunks: partial overwrites, shrink then grow.
pub async fn large_files_and_partial_overwrites<H: Harness>(h: &mut H) {
    let mut s = h.fresh().await;
    let big: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    s.write("big", 0, &big).unwrap();
    sync_and_settle(h, &mut s).await;
    s.write("big", 4090, &[0xAB; 20]).unwrap();
    s.set_len("big", 50_001).unwrap();
    s.set_len("big", 60_000).unwrap();
    sync_and_settle(h, &mut s).await;
    let s = h.crash(s).await;
    let mut want = big[..50_001].to_vec();
    want[4090..4110].fill(0xAB);
    want.resize(60_000, 0);
    let got = whole(&s, "big");
    assert_eq!(got.len(), want.len(), "rule: length survives");
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(
        first_diff, None,
        "rule: large file contents survive exactly"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn sim_disk_passes_the_conformance_suite() {
        block_on(run_all(&mut SimDiskHarness::default()));
    }

    #[test]
    fn sim_disk_without_tearing_passes_too() {
        let mut h = SimDiskHarness {
            seed: 99,
            config: SimDiskConfig {
                tear_on_crash: false,
                ..SimDiskConfig::default()
            },
        };
        block_on(run_all(&mut h));
    }
}
