//! The storage trait: a narrow page-cache-over-a-disk contract over named files.
//!
//! Every durable byte in Logspine goes through [`Storage`]. The contract is the one a
//! real kernel page cache gives a database (DESIGN.md, principle 3), made explicit so that
//! a simulated disk, IndexedDB and a real file system can all honour it:
//!
//! * **Writes are visible at once but volatile.** [`Storage::write`], [`Storage::set_len`]
//!   and [`Storage::delete`] change what [`Storage::read`] returns immediately, but a
//!   crash may drop them.
//! * **Durability comes only from a completed sync.** [`Storage::sync`] asks for every
//!   change made *before the call*, to every file, to become durable. It returns a
//!   [`SyncId`] at once; the completion arrives later and is drained with
//!   [`Storage::take_completions`]. Commits that arrive while a sync is in flight must wait
//!   for a later sync — which is what makes group commit real.
//! * **Completions arrive in issue order** and a successful completion of sync `n` means
//!   every change made before sync `n` was issued is durable (so it also covers every
//!   earlier sync, whether or not that one reported an error).
//! * **A crash** keeps what completed syncs covered. Changes covered by a sync still in
//!   flight may survive in part: a prefix of them in issue order, the last one possibly
//!   torn at sector granularity. Everything else is lost.
//!
//! File names are short relative names (`wal-00000000000000000000.seg`); there are no
//! directories. Offsets and lengths are `u64`, never `usize` (wasm32's `usize` is 32 bits).
//!
//! # Errors
//! Reading past the end of a file is [`StorageError::OutOfRange`], a caller bug made
//! visible rather than a silent short read. [`StorageError::QuotaExceeded`] and
//! [`StorageError::Unavailable`] describe the backend, not the data: nothing durable is
//! lost, and the volatile changes stay in place so a later sync can retry them.

use crate::vec_map::VecMap;
use std::fmt;

/// Identifies one call to [`Storage::sync`]. Ids are strictly increasing per storage
/// instance, starting at 1, so `a < b` means `a` was issued first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncId(pub u64);

impl fmt::Display for SyncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sync#{}", self.0)
    }
}

/// The outcome of one sync, drained with [`Storage::take_completions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCompletion {
    /// Which sync finished.
    pub id: SyncId,
    /// `Ok` when every change made before the sync was issued is now durable. An error
    /// means this sync made nothing durable; the changes stay volatile and a later sync
    /// retries them.
    pub result: Result<(), StorageError>,
}

/// What can go wrong talking to a storage backend.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The named file does not exist.
    #[error("file {file:?} does not exist")]
    NotFound {
        /// The file asked for.
        file: String,
    },
    /// A read asked for bytes past the end of the file.
    #[error(
        "read of {len} bytes at offset {offset} of {file:?} runs past its end ({file_len} bytes)"
    )]
    OutOfRange {
        /// The file read.
        file: String,
        /// Where the read started.
        offset: u64,
        /// How many bytes were asked for.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A file name the backend cannot store (empty, too long, or with `/`).
    #[error("invalid file name {file:?}: {reason}")]
    InvalidName {
        /// The name given.
        file: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The backend is out of space (IndexedDB's `QuotaExceededError`, a full disk).
    /// Nothing durable was lost; the volatile changes are still there.
    #[error("storage quota exceeded: {detail}")]
    QuotaExceeded {
        /// What the backend said.
        detail: String,
    },
    /// The stored image is damaged in a way the backend itself can see (a chunk of the
    /// wrong size, a missing length record). Nothing was modified.
    #[error("stored data is corrupt: {detail}")]
    Corrupt {
        /// What is wrong, naming the file or key.
        detail: String,
    },
    /// The backend cannot be used now: another tab holds it, it was closed, the browser
    /// refused IndexedDB. Nothing was modified.
    #[error("storage unavailable: {detail}")]
    Unavailable {
        /// Why.
        detail: String,
    },
    /// Any other I/O failure reported by the backend.
    #[error("storage I/O error: {detail}")]
    Io {
        /// What the backend said.
        detail: String,
    },
}

/// Byte storage over named files with page-cache semantics (see the module docs).
///
/// Implementations: [`crate::SimDisk`] (deterministic, with fault injection), the
/// IndexedDB backend in `logspine-web`, and a file backend natively. The conformance
/// suite in [`crate::conformance`] runs against each of them.
pub trait Storage {
    /// The names of all files that exist now (volatile view), sorted.
    fn list(&self) -> Vec<String>;

    /// The length of `file` now, or [`StorageError::NotFound`].
    fn len(&self, file: &str) -> Result<u64, StorageError>;

    /// Whether `file` exists now.
    fn exists(&self, file: &str) -> bool {
        self.len(file).is_ok()
    }

    /// Fills `buf` with the bytes of `file` at `offset`. The whole range must lie inside
    /// the file, otherwise [`StorageError::OutOfRange`].
    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Writes `data` at `offset`, creating the file if needed and extending it (with
    /// zeros for any gap) if the write runs past its end. Volatile until synced.
    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// Truncates or zero-extends `file` to `len` bytes, creating it if needed.
    /// Volatile until synced.
    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError>;

    /// Removes `file`. Removing a file that does not exist is not an error.
    /// Volatile until synced.
    fn delete(&mut self, file: &str) -> Result<(), StorageError>;

    /// Asks for every change made so far to become durable. Returns at once; the
    /// completion arrives later through [`Storage::take_completions`].
    fn sync(&mut self) -> Result<SyncId, StorageError>;

    /// Drains the completions that have arrived, in issue order.
    fn take_completions(&mut self) -> Vec<SyncCompletion>;

    /// The number of syncs issued but not yet reported through `take_completions`.
    fn syncs_in_flight(&self) -> u64;

    /// Whether any change made so far is not yet covered by a completed sync (a crash now
    /// could lose something). False right after a crash or a fresh load.
    fn has_volatile_changes(&self) -> bool;
}

/// Checks a file name against the rules every backend shares.
pub fn check_name(file: &str) -> Result<(), StorageError> {
    let reason = if file.is_empty() {
        "empty"
    } else if file.len() > 200 {
        "longer than 200 bytes"
    } else if file.contains('/') || file.contains('\\') {
        "contains a path separator"
    } else if file == "." || file == ".." {
        "is a directory name"
    } else {
        return Ok(());
    };
    Err(StorageError::InvalidName {
        file: file.to_owned(),
        reason,
    })
}

/// [`Storage::len`] for a backend that keeps its files in memory as a name → bytes map.
pub fn image_len(image: &VecMap<String, Vec<u8>>, file: &str) -> Result<u64, StorageError> {
    image
        .get(file)
        .map(|d| d.len() as u64)
        .ok_or_else(|| StorageError::NotFound {
            file: file.to_owned(),
        })
}

/// [`Storage::read`] for a backend that keeps its files in memory: the whole range must
/// lie inside the file (an offset overflow is out of range too, not a panic).
pub fn image_read(
    image: &VecMap<String, Vec<u8>>,
    file: &str,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), StorageError> {
    let data = image.get(file).ok_or_else(|| StorageError::NotFound {
        file: file.to_owned(),
    })?;
    let file_len = data.len() as u64;
    let range = offset
        .checked_add(buf.len() as u64)
        .filter(|&end| end <= file_len)
        .and_then(|end| Some(usize::try_from(offset).ok()?..usize::try_from(end).ok()?));
    match range {
        Some(range) => {
            buf.copy_from_slice(&data[range]);
            Ok(())
        }
        None => Err(StorageError::OutOfRange {
            file: file.to_owned(),
            offset,
            len: buf.len() as u64,
            file_len,
        }),
    }
}

/// Reads a whole file through the trait.
pub fn read_all<S: Storage + ?Sized>(storage: &S, file: &str) -> Result<Vec<u8>, StorageError> {
    let len = storage.len(file)?;
    let len = usize::try_from(len).map_err(|_| StorageError::Io {
        detail: format!("{file:?} is too large to read on this platform ({len} bytes)"),
    })?;
    let mut buf = vec![0; len];
    storage.read(file, 0, &mut buf)?;
    Ok(buf)
}

/// Counters every backend keeps, for the playground's meters and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes passed to `write`.
    pub bytes_written: u64,
    /// Bytes returned by `read`.
    pub bytes_read: u64,
    /// Calls to `write`.
    pub writes: u64,
    /// Calls to `sync`.
    pub syncs_issued: u64,
    /// Syncs that completed successfully.
    pub syncs_completed: u64,
    /// Syncs that completed with an error.
    pub syncs_failed: u64,
}
