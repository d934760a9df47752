//! The conformance harness for [`FileStorage`], over fresh temporary directories.
//!
//! [`FileHarness::fresh`] opens a new, empty subdirectory of one [`TempDir`];
//! [`FileHarness::crash`] drops the storage (losing exactly its unsynced changes, see
//! [`crate::file_storage`]) and reopens the directory; `settle` has nothing to wait for,
//! because a [`FileStorage`] sync completes before `sync` returns. The suite is `async`
//! only for backends that wait; this harness never does, so
//! [`block_on`](logspine_core::conformance::block_on) runs it.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use logspine_core::conformance::Harness;

use crate::file_storage::FileStorage;

/// A directory under [`std::env::temp_dir`] with a unique name, removed (with everything in
/// it) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `{temp_dir}/{prefix}-{pid}-{nanos}-{n}`: unique across processes (pid),
    /// runs (the clock) and calls in one process (a counter). Never reuses an existing
    /// directory.
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last_err = None;
        for _ in 0..100 {
            let n = MADE.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no unique temporary directory")))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is not worth a panic in a drop.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A [`Harness`] for [`FileStorage`]: each `fresh` storage gets its own directory
/// `{root}/s{n}` inside one [`TempDir`], removed when the harness is dropped.
#[derive(Debug)]
pub struct FileHarness {
    root: TempDir,
    made: u64,
}

impl FileHarness {
    /// A harness whose directories live in a new temporary directory named after `prefix`.
    /// Panics if it cannot be created (a harness is for tests).
    pub fn new(prefix: &str) -> FileHarness {
        let root = TempDir::new(prefix)
            .unwrap_or_else(|e| panic!("FileHarness: cannot create a temporary directory: {e}"));
        FileHarness { root, made: 0 }
    }

    /// The directory holding every storage this harness made.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// How many storages this harness has made.
    pub fn made(&self) -> u64 {
        self.made
    }
}

impl Harness for FileHarness {
    type S = FileStorage;

    async fn fresh(&mut self) -> FileStorage {
        self.made += 1;
        let dir = self.root.path().join(format!("s{}", self.made));
        FileStorage::open(&dir)
            .unwrap_or_else(|e| panic!("FileHarness: cannot open {}: {e}", dir.display()))
    }

    async fn settle(&mut self, _storage: &mut FileStorage) {
        // Every sync has completed inside `sync`.
    }

    async fn crash(&mut self, storage: FileStorage) -> FileStorage {
        storage.validate();
        let dir = storage.dir().to_path_buf();
        drop(storage);
        let reopened = FileStorage::open(&dir).unwrap_or_else(|e| {
            panic!(
                "FileHarness: cannot reopen {} after a crash: {e}",
                dir.display()
            )
        });
        reopened.validate();
        reopened
    }
}
