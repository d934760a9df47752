//! [`FileStorage`]: the [`Storage`] contract over a directory of files, with real `fsync`.
//!
//! # Model
//! The directory is the "disk"; a copy of every file in memory is the "page cache", as in
//! `logspine-web`'s IndexedDB backend. [`FileStorage::open`] reads every file of the
//! directory into memory, so right after opening the volatile view equals what is on disk.
//! Reads never touch the file system. [`Storage::write`], [`Storage::set_len`] and
//! [`Storage::delete`] change the in-memory image at once and record what they touched:
//! per file, the byte ranges that may differ from the file on disk (merged, so a run of
//! appends is one range), and whether the file's existence or length changed. Nothing is
//! written to the directory until a sync.
//!
//! Keeping the cache in user space, rather than writing through to the kernel's page cache
//! and calling `fsync` later, is what makes the crash semantics exact: the kernel may write
//! dirty pages back whenever it likes, so with write-through a crash could keep *some*
//! unsynced writes; here an unsynced change exists only in this process's memory.
//!
//! # Sync
//! [`Storage::sync`] does all its work before it returns, in this order:
//! 1. for every file touched since the last successful sync that still exists: open it
//!    (creating it if needed), write each dirty range from the image, set the file's
//!    length if it differs, and `File::sync_all` it (data and metadata);
//! 2. for every touched file that no longer exists: remove it (a file already gone is fine);
//! 3. if any file was created or removed, `fsync` the directory itself, so the names
//!    survive a power loss too (POSIX makes a new or removed name durable only through
//!    its directory; on platforms other than Unix this step is skipped and the file
//!    system's metadata journal is relied on);
//! 4. queue the completion, `Ok`, and forget the dirty marks.
//!
//! The completion is therefore ready for [`Storage::take_completions`] as soon as `sync`
//! returns. The contract allows any latency, zero included; what it requires — ids in
//! order, completions in issue order, a completed sync covering every change made before
//! it — holds trivially. Group commit still happens one level up: the database drains
//! completions only in `Db::tick`, so commits arriving before the tick ride the next sync.
//!
//! If any step fails, the sync's completion is an error —
//! [`StorageError::QuotaExceeded`] for a full disk or quota (`ENOSPC`, `EDQUOT`, `EFBIG`),
//! [`StorageError::Io`] otherwise, naming the file — and **every dirty mark stays**, so the
//! next sync writes all of it again from the image. A sync that fails half way may have
//! made some files durable already; rewriting them is harmless. Rewriting from our own
//! copy, rather than retrying `fsync`, also sidesteps "fsyncgate" (PostgreSQL, 2018): after
//! a failed `fsync` Linux may drop the dirty pages and report the next `fsync` as a
//! success, so a retry that only calls `fsync` again could lose data silently.
//!
//! # Crash
//! Dropping a `FileStorage` without syncing is a crash that loses exactly the changes made
//! since the last successful sync: they were only in memory. Reopening the directory shows
//! exactly the synced image. That is what [`crate::FileHarness`] uses as its crash, and
//! what a killed process does too.
//!
//! A real **power loss during a sync** can do more, and this backend cannot reproduce it:
//! the writes of the sync in progress reach the platter in whatever order the kernel and
//! the drive choose, so any subset of them may survive (not only a prefix in issue order,
//! as the contract's model has it), a write may be torn at sector granularity, a file's
//! new length may be on disk without its data (reading as zeros), and a new file's name
//! may be lost without the directory `fsync`. The torn-tail recovery of the `Log` (stop at
//! the first bad frame) and the database's full page writes are what survive that; the
//! deterministic [`SimDisk`](logspine_core::SimDisk) is where such crashes are tested,
//! torn sectors included. A power loss *between* syncs loses only unsynced changes, as
//! above.
//!
//! # The directory
//! Each storage file `name` is the file `dir/name` holding exactly its bytes; there is no
//! other metadata. [`LOCK_FILE`] (`.logspine.lock`) is the single-writer lock; that name is
//! reserved and refused as a storage file name. [`FileStorage::open`] creates the directory
//! if it does not exist and loads every entry, refusing the whole directory — with
//! [`StorageError::Corrupt`] naming the entry, and changing nothing — if an entry is not a
//! regular file (a subdirectory, a symbolic link, a socket), if its name is not UTF-8 or
//! not a valid storage file name ([`check_name`]), or with [`StorageError::Unavailable`]
//! if a file is over [`MAX_FILE_BYTES`]. A stray entry is refused rather than skipped
//! because it usually means the wrong directory was given, and a symbolic link could make
//! syncs write outside the directory. Names pass [`check_name`], which refuses path
//! separators, `.` and `..`, so no storage file maps outside the directory.
//!
//! # One writer
//! Two processes (or two `FileStorage`s in one process) writing one directory would each
//! sync its own image over the other's. `open` therefore takes an exclusive OS lock on
//! [`LOCK_FILE`] with `File::try_lock` (`flock` on Unix, `LockFileEx` on Windows; the lock
//! belongs to the open file, so a second open in the same process is refused too) and
//! writes its process id into the file for people. If the lock is held, `open` fails at
//! once with [`StorageError::Unavailable`] naming the directory and the holder's pid. The
//! lock is released when the storage is dropped or its process dies, however it dies, so
//! there is no stale lock to clean up. It is advisory: programs that do not ask for it can
//! still write the directory.
//!
//! # Limits
//! The whole image lives in memory; one file holds at most [`MAX_FILE_BYTES`] (a larger
//! write or `set_len` is [`StorageError::QuotaExceeded`], changing nothing).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use logspine_core::storage::check_name;
use logspine_core::{Storage, StorageError, StorageStats, SyncCompletion, SyncId};

/// The single-writer lock file inside the directory. Reserved: not a storage file name.
pub const LOCK_FILE: &str = ".logspine.lock";

/// The largest file this backend holds (the whole image lives in memory).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// What the syncs did to the file system, for the benchmarks and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes handed to the file system by syncs (dirty ranges, each written once per sync).
    pub bytes_flushed: u64,
    /// Write calls made by syncs (one per dirty range).
    pub range_writes: u64,
    /// `File::sync_all` calls on data files.
    pub file_syncs: u64,
    /// `fsync`s of the directory (after creating or removing files).
    pub dir_syncs: u64,
    /// Files removed by syncs.
    pub files_removed: u64,
}

/// The [`Storage`] contract over a directory of files. See the module docs.
///
/// Dropping it drops every unsynced change and releases the directory's lock.
pub struct FileStorage {
    dir: PathBuf,
    /// Held open for its lock; closing it releases the lock.
    _lock: File,
    /// The volatile view: every file's bytes.
    files: BTreeMap<String, Vec<u8>>,
    /// Files touched since the last successful sync, with the byte ranges that may differ
    /// from the file on disk. A name here that is absent from `files` is to be removed.
    dirty: BTreeMap<String, Ranges>,
    /// The names on disk as of the last successful sync (or the load).
    on_disk: BTreeSet<String>,
    /// Completed, not yet drained.
    completions: Vec<SyncCompletion>,
    next_sync: u64,
    stats: StorageStats,
    /// Reads take `&self`; their counter lives in a cell.
    bytes_read: Cell<u64>,
    disk: DiskStats,
}

impl fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStorage")
            .field("dir", &self.dir)
            .field("files", &self.files.len())
            .field("dirty", &self.dirty.keys().collect::<Vec<_>>())
            .field("next_sync", &self.next_sync)
            .field("completions", &self.completions.len())
            .finish_non_exhaustive()
    }
}

impl FileStorage {
    /// Opens the directory `dir` (creating it, and its parents, if it does not exist),
    /// takes its single-writer lock and loads every file into memory. Fails with
    /// [`StorageError::Unavailable`] when another `FileStorage` holds the directory, with
    /// [`StorageError::Corrupt`] when the directory holds an entry that is not a storage
    /// file (see the module docs), and with [`StorageError::Io`] when the file system
    /// fails. A failed open changes no storage file.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStorage, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&dir)?;
        // Checked before the lock file is created, so that opening the wrong directory
        // leaves nothing behind; checked again by `load` once the lock is ours.
        list(&dir)?;
        let lock = lock_dir(&dir)?;
        let files = load(&dir)?;
        let on_disk = files.keys().cloned().collect();
        Ok(FileStorage {
            dir,
            _lock: lock,
            files,
            dirty: BTreeMap::new(),
            on_disk,
            completions: Vec::new(),
            next_sync: 1,
            stats: StorageStats::default(),
            bytes_read: Cell::new(0),
            disk: DiskStats::default(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The counters every backend keeps, since open.
    pub fn stats(&self) -> StorageStats {
        StorageStats {
            bytes_read: self.bytes_read.get(),
            ..self.stats
        }
    }

    /// What the syncs did to the file system, since open.
    pub fn disk_stats(&self) -> DiskStats {
        self.disk
    }

    /// The files changed since the last successful sync (created, written, resized or
    /// deleted), sorted.
    pub fn dirty_files(&self) -> Vec<String> {
        self.dirty.keys().cloned().collect()
    }

    /// Checks the invariants; panics on a violation (a bug).
    ///
    /// * every file has a valid, unreserved name and at most [`MAX_FILE_BYTES`];
    /// * dirty ranges are non-empty, sorted, neither overlapping nor touching, and inside
    ///   their file; a deleted file has none;
    /// * completions are in issue order and no newer than the last sync issued.
    pub fn validate(&self) {
        for (name, data) in &self.files {
            assert!(
                check_file_name(name).is_ok(),
                "bad name {name:?} in the image"
            );
            assert!(
                data.len() as u64 <= MAX_FILE_BYTES,
                "{name:?} over the limit"
            );
        }
        for (name, ranges) in &self.dirty {
            ranges.validate();
            match self.files.get(name) {
                Some(data) => assert!(
                    ranges.end() <= data.len() as u64,
                    "dirty range past the end of {name:?}"
                ),
                None => assert!(ranges.is_empty(), "dirty ranges in deleted {name:?}"),
            }
        }
        let ids: Vec<u64> = self.completions.iter().map(|c| c.id.0).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "completions out of order"
        );
        assert!(
            ids.last().is_none_or(|&last| last < self.next_sync),
            "a completion for a sync never issued"
        );
    }

    fn data(&self, file: &str) -> Result<&Vec<u8>, StorageError> {
        self.files.get(file).ok_or_else(|| StorageError::NotFound {
            file: file.to_owned(),
        })
    }

    /// Writes everything dirty to the directory and makes it durable (steps 1-3 of the
    /// module docs). On error the dirty marks stay.
    fn flush(&mut self) -> Result<(), StorageError> {
        let FileStorage {
            dir,
            files,
            dirty,
            on_disk,
            disk,
            ..
        } = self;
        let mut names_changed = false;
        for (name, ranges) in dirty.iter() {
            let Some(data) = files.get(name) else {
                continue;
            };
            flush_file(&dir.join(name), data, ranges, disk)?;
            names_changed |= !on_disk.contains(name);
        }
        for name in dirty.keys().filter(|n| !files.contains_key(*n)) {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => {
                    disk.files_removed += 1;
                    names_changed = true;
                }
                // Never reached the disk, or already gone.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    names_changed |= on_disk.contains(name);
                }
                Err(e) => return Err(io_error(format!("removing {}", path.display()), &e)),
            }
        }
        if names_changed && sync_dir(dir)? {
            disk.dir_syncs += 1;
        }
        for name in std::mem::take(dirty).into_keys() {
            if files.contains_key(&name) {
                on_disk.insert(name);
            } else {
                on_disk.remove(&name);
            }
        }
        Ok(())
    }
}

impl Storage for FileStorage {
    fn list(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn len(&self, file: &str) -> Result<u64, StorageError> {
        self.data(file).map(|d| d.len() as u64)
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let data = self.data(file)?;
        let file_len = data.len() as u64;
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= file_len => {
                buf.copy_from_slice(&data[to_usize(offset)..to_usize(end)]);
                self.bytes_read
                    .set(self.bytes_read.get() + buf.len() as u64);
                Ok(())
            }
            _ => Err(StorageError::OutOfRange {
                file: file.to_owned(),
                offset,
                len: buf.len() as u64,
                file_len,
            }),
        }
    }

    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        check_file_name(file)?;
        let end = offset.checked_add(data.len() as u64);
        let end = match end {
            Some(end) if end <= MAX_FILE_BYTES => end,
            _ => return Err(too_large(file, end)),
        };
        let buf = self.files.entry(file.to_owned()).or_default();
        let old_len = buf.len() as u64;
        if old_len < end {
            buf.resize(to_usize(end), 0);
        }
        buf[to_usize(offset)..to_usize(end)].copy_from_slice(data);
        // A gap between the old end and `offset` is zeros the file on disk must get too.
        self.dirty
            .entry(file.to_owned())
            .or_default()
            .insert(offset.min(old_len), end);
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        check_file_name(file)?;
        if len > MAX_FILE_BYTES {
            return Err(too_large(file, Some(len)));
        }
        let buf = self.files.entry(file.to_owned()).or_default();
        let old_len = buf.len() as u64;
        buf.resize(to_usize(len), 0);
        let ranges = self.dirty.entry(file.to_owned()).or_default();
        if len > old_len {
            // Written out explicitly: the file on disk may still hold bytes past `old_len`
            // from before an earlier truncation in this window.
            ranges.insert(old_len, len);
        } else {
            ranges.truncate(len);
        }
        Ok(())
    }

    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        check_file_name(file)?;
        if self.files.remove(file).is_some() {
            self.dirty.insert(file.to_owned(), Ranges::default());
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<SyncId, StorageError> {
        let id = SyncId(self.next_sync);
        self.next_sync += 1;
        self.stats.syncs_issued += 1;
        let result = if self.dirty.is_empty() {
            // Every change is durable already: an earlier sync succeeded after it.
            Ok(())
        } else {
            self.flush()
        };
        if result.is_ok() {
            self.stats.syncs_completed += 1;
        } else {
            self.stats.syncs_failed += 1;
        }
        self.completions.push(SyncCompletion { id, result });
        Ok(id)
    }

    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        std::mem::take(&mut self.completions)
    }

    fn syncs_in_flight(&self) -> u64 {
        // Every sync completes inside `sync`; what is "in flight" is what is not drained.
        self.completions.len() as u64
    }

    fn has_volatile_changes(&self) -> bool {
        !self.dirty.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// Dirty byte ranges.

/// Disjoint, non-touching, non-empty half-open byte ranges `start..end`, keyed by start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ranges(BTreeMap<u64, u64>);

impl Ranges {
    /// Adds `start..end`, merging it with every range it overlaps or touches.
    fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        // Ranges are sorted and disjoint, so their ends decrease going backwards too: stop
        // at the first one that ends before `start`.
        let merged: Vec<(u64, u64)> = self
            .0
            .range(..=end)
            .rev()
            .take_while(|(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in merged {
            self.0.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.0.insert(lo, hi);
    }

    /// Drops everything at or past `len`.
    fn truncate(&mut self, len: u64) {
        self.0.retain(|&s, _| s < len);
        if let Some(e) = self.0.values_mut().next_back() {
            *e = (*e).min(len);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The end of the last range (0 when empty).
    fn end(&self) -> u64 {
        self.0.values().next_back().copied().unwrap_or(0)
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&s, &e)| (s, e))
    }

    fn validate(&self) {
        let mut prev_end = None;
        for (s, e) in self.iter() {
            assert!(s < e, "empty dirty range {s}..{e}");
            if let Some(p) = prev_end {
                assert!(p < s, "dirty ranges overlap or touch at {s}");
            }
            prev_end = Some(e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The file system.

/// Converts a length already checked against [`MAX_FILE_BYTES`].
fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("lengths are bounded by MAX_FILE_BYTES")
}

/// [`check_name`] plus the reserved lock file name.
fn check_file_name(file: &str) -> Result<(), StorageError> {
    check_name(file)?;
    if file == LOCK_FILE {
        return Err(StorageError::InvalidName {
            file: file.to_owned(),
            reason: "reserved for FileStorage's lock file",
        });
    }
    Ok(())
}

fn too_large(file: &str, len: Option<u64>) -> StorageError {
    let asked = len.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string());
    StorageError::QuotaExceeded {
        detail: format!(
            "{file:?} would grow to {asked} bytes, over this backend's {MAX_FILE_BYTES}-byte file limit"
        ),
    }
}

/// Maps an I/O error: a full disk or quota is [`StorageError::QuotaExceeded`], anything
/// else [`StorageError::Io`]; `what` names the operation and the path.
fn io_error(what: String, e: &io::Error) -> StorageError {
    let detail = format!("{what}: {e}");
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
            StorageError::QuotaExceeded { detail }
        }
        _ => StorageError::Io { detail },
    }
}

fn refuse(dir: &Path, entry: &str, why: &str) -> StorageError {
    StorageError::Corrupt {
        detail: format!(
            "{}: entry {entry} {why}; a FileStorage directory holds only regular files with valid storage file names (and {LOCK_FILE}); move it away or open another directory",
            dir.display()
        ),
    }
}

/// Creates `dir` if it is missing (and makes its name durable in its parent; parents created
/// with it are not synced); refuses a non-directory.
fn ensure_dir(dir: &Path) -> Result<(), StorageError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(StorageError::Unavailable {
            detail: format!("{} exists and is not a directory", dir.display()),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir)
                .map_err(|e| io_error(format!("creating {}", dir.display()), &e))?;
            // Its name lives in its parent (`""` is the parent of a bare relative name).
            match dir.parent() {
                Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new("."))?,
                Some(parent) => sync_dir(parent)?,
                None => false,
            };
            Ok(())
        }
        Err(e) => Err(io_error(format!("opening {}", dir.display()), &e)),
    }
}

/// Takes the directory's single-writer lock and records our pid in the lock file.
fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    // No truncation before the lock is ours: the holder's pid is in there.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(format!("opening the lock file {}", path.display()), &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Best effort, for the message only.
            let _ = (&mut file).take(64).read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                String::new()
            } else {
                format!(" ({holder})")
            };
            return Err(StorageError::Unavailable {
                detail: format!(
                    "{} is in use by another FileStorage{holder}, which holds the lock on {}; one writer per directory",
                    dir.display(),
                    path.display()
                ),
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(StorageError::Unavailable {
                detail: format!("cannot lock {}: {e}", path.display()),
            });
        }
    }
    let record = |file: &mut File| -> io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "pid {}", std::process::id())
    };
    record(&mut file)
        .map_err(|e| io_error(format!("writing the lock file {}", path.display()), &e))?;
    Ok(file)
}

/// The storage files of `dir` and their paths, refusing any other entry (see the module
/// docs).
fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let listing = |e: &io::Error| io_error(format!("listing {}", dir.display()), e);
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| listing(&e))? {
        let entry = entry.map_err(|e| listing(&e))?;
        let os_name = entry.file_name();
        let Some(name) = os_name.to_str() else {
            return Err(refuse(
                dir,
                &format!("{os_name:?}"),
                "has a name that is not UTF-8",
            ));
        };
        if name == LOCK_FILE {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| io_error(format!("inspecting {}", entry.path().display()), &e))?;
        if !kind.is_file() {
            let what = if kind.is_dir() {
                "is a directory"
            } else if kind.is_symlink() {
                "is a symbolic link"
            } else {
                "is not a regular file"
            };
            return Err(refuse(dir, &format!("{name:?}"), what));
        }
        if let Err(StorageError::InvalidName { reason, .. }) = check_name(name) {
            return Err(refuse(
                dir,
                &format!("{name:?}"),
                &format!("is not a valid storage file name ({reason})"),
            ));
        }
        names.push((name.to_owned(), entry.path()));
    }
    Ok(names)
}

/// Reads every storage file of `dir`.
fn load(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, StorageError> {
    let mut files = BTreeMap::new();
    for (name, path) in list(dir)? {
        files.insert(name, read_file(&path)?);
    }
    Ok(files)
}

fn read_file(path: &Path) -> Result<Vec<u8>, StorageError> {
    let reading = |e: &io::Error| io_error(format!("reading {}", path.display()), e);
    let file = File::open(path).map_err(|e| reading(&e))?;
    let mut data = Vec::new();
    // One byte past the limit: enough to see a file over it, even one growing under us.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| reading(&e))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(StorageError::Unavailable {
            detail: format!(
                "{} is over this backend's {MAX_FILE_BYTES}-byte file limit (the whole image is kept in memory)",
                path.display()
            ),
        });
    }
    Ok(data)
}

/// Step 1 of a sync for one file: dirty ranges, length, `sync_all`.
fn flush_file(
    path: &Path,
    data: &[u8],
    ranges: &Ranges,
    disk: &mut DiskStats,
) -> Result<(), StorageError> {
    let on = |what: &str, e: &io::Error| io_error(format!("{what} {}", path.display()), e);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| on("opening", &e))?;
    for (start, end) in ranges.iter() {
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.write_all(&data[to_usize(start)..to_usize(end)]))
            .map_err(|e| on(&format!("writing bytes {start}..{end} of"), &e))?;
        disk.range_writes += 1;
        disk.bytes_flushed += end - start;
    }
    let len = data.len() as u64;
    let disk_len = file.metadata().map_err(|e| on("inspecting", &e))?.len();
    if disk_len != len {
        file.set_len(len).map_err(|e| on("resizing", &e))?;
    }
    file.sync_all().map_err(|e| on("syncing", &e))?;
    disk.file_syncs += 1;
    Ok(())
}

/// `fsync`s a directory, making the names in it durable. Returns whether it did (only on
/// Unix: elsewhere a directory cannot be opened as a file with `std`).
fn sync_dir(dir: &Path) -> Result<bool, StorageError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(format!("syncing the directory {}", dir.display()), &e))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(r: &Ranges) -> Vec<(u64, u64)> {
        r.iter().collect()
    }

    #[test]
    fn ranges_merge_what_overlaps_or_touches() {
        let mut r = Ranges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(5, 5);
        assert_eq!(
            ranges(&r),
            [(10, 20), (30, 40)],
            "an empty range adds nothing"
        );
        r.insert(20, 25);
        assert_eq!(ranges(&r), [(10, 25), (30, 40)], "touching ranges merge");
        r.insert(0, 3);
        r.insert(24, 31);
        assert_eq!(ranges(&r), [(0, 3), (10, 40)], "a bridge merges both sides");
        r.insert(1, 100);
        assert_eq!(ranges(&r), [(0, 100)]);
        r.validate();
    }

    #[test]
    fn ranges_truncate_cuts_and_drops() {
        let mut r = Ranges::default();
        r.insert(0, 10);
        r.insert(20, 30);
        r.insert(40, 50);
        r.truncate(25);
        assert_eq!(ranges(&r), [(0, 10), (20, 25)]);
        r.truncate(20);
        assert_eq!(ranges(&r), [(0, 10)]);
        r.truncate(0);
        assert!(r.is_empty());
        r.validate();
    }

    #[test]
    fn appends_coalesce_into_one_range() {
        let mut r = Ranges::default();
        for i in 0..1000 {
            r.insert(i * 7, i * 7 + 7);
        }
        assert_eq!(ranges(&r), [(0, 7000)]);
    }

    #[test]
    fn full_disk_errors_are_quota_exceeded_and_others_io() {
        let full = io::Error::from(ErrorKind::StorageFull);
        assert!(matches!(
            io_error("writing x".into(), &full),
            StorageError::QuotaExceeded { detail } if detail.starts_with("writing x: ")
        ));
        let quota = io::Error::from(ErrorKind::QuotaExceeded);
        assert!(matches!(
            io_error("w".into(), &quota),
            StorageError::QuotaExceeded { .. }
        ));
        let denied = io::Error::from(ErrorKind::PermissionDenied);
        assert!(matches!(
            io_error("w".into(), &denied),
            StorageError::Io { .. }
        ));
    }

    #[test]
    fn the_lock_file_name_is_reserved() {
        assert!(matches!(
            check_file_name(LOCK_FILE),
            Err(StorageError::InvalidName { reason, .. }) if reason.contains("lock")
        ));
        assert!(check_file_name("wal-00000000000000000000.seg").is_ok());
        assert!(check_file_name("../x").is_err());
    }
}
