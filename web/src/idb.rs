//! [`IdbStorage`]: the [`Storage`] contract on IndexedDB, through raw `web-sys`.
//!
//! # Model
//! IndexedDB is the "disk"; a copy of the whole image in memory is the "page cache".
//! [`IdbStorage::open`] loads the durable image into memory, so right after opening the
//! volatile view equals the durable image. Reads never touch IndexedDB. Writes, `set_len`
//! and `delete` change the in-memory image at once and mark what they touched dirty;
//! [`Storage::sync`] writes the dirty parts back in **one** IndexedDB transaction.
//!
//! # Why one transaction per sync, and group commit
//! IndexedDB charges per transaction, not per byte: every readwrite transaction is a
//! round trip through the browser's storage process and (with `durability: "strict"`,
//! which this backend asks for, because a completed sync must mean "on disk") a flush.
//! A transaction per write manages a few hundred durable writes a second; thousands of
//! writes batched into one transaction cost about the same as one. So:
//!
//! * at most **one** readwrite transaction is in flight at a time;
//! * `sync()` returns its [`SyncId`] at once. If no transaction is running it starts one
//!   covering everything dirty; otherwise the id waits;
//! * when the running transaction ends, **one** new transaction covers every waiting id
//!   and everything dirty at that moment. Syncs that arrive while a transaction is in
//!   flight ride the next one together: group commit, made visible by
//!   [`IdbStorage::sync_status`].
//!
//! A transaction is atomic, so a crash (a closed tab) keeps either all of a sync's
//! changes or none of them; this backend never tears a write, which the contract allows.
//!
//! # Completions
//! On `complete`, every id the transaction covered gets `Ok`, in order. On `abort` every
//! covered id gets an error — [`StorageError::QuotaExceeded`] for `QuotaExceededError`,
//! [`StorageError::Io`] otherwise — and the changes are marked dirty again, so a later
//! sync retries them; nothing durable is lost. Completions queue until
//! [`Storage::take_completions`] drains them; [`IdbStorage::set_on_completion`] registers
//! a callback run (from the browser's event loop, never from inside a `Storage` call) each
//! time completions arrive, and [`IdbStorage::settled`] waits until no sync is waiting or
//! in flight.
//!
//! # On-IndexedDB format (database version 1)
//! Database `logspine:{namespace}` holds two object stores with out-of-line keys:
//!
//! ```text
//! store    key                       value
//! files    file name (string)        file length in bytes (number, an integer <= 1 GiB)
//! chunks   [file name, index]        Uint8Array of exactly 4096 bytes: bytes
//!          (string, integer number)  index*4096 .. index*4096+4096 of the file; the
//!                                    tail of the last chunk past the file's end is zero
//! ```
//!
//! A file of length `n` has exactly `ceil(n / 4096)` chunks, indexes `0..`. Loading checks
//! every key and value against this and refuses an image that breaks it (a chunk of the
//! wrong size, a missing or extra chunk, a value that is not binary, a length that is not
//! a whole number) with [`StorageError::Corrupt`] naming the file or key; a failed load
//! modifies and deletes nothing. A database of a newer version is refused as
//! [`StorageError::Unavailable`].
//!
//! # One writer
//! Two tabs writing one image would interleave transactions built from different
//! in-memory images. `open` therefore takes the Web Lock `logspine:{namespace}`
//! (`navigator.locks.request(name, {ifAvailable: true}, cb)`, where `cb` returns a promise
//! that resolves only when this storage is closed or dropped). If another tab holds it,
//! `open` retries for about a second (a reloading tab releases its lock as its old
//! document unloads) and then fails with [`StorageError::Unavailable`]. A browser without
//! the Web Locks API (or a page outside a secure context) is refused the same way rather
//! than run unguarded. If another tab deletes the database while this one has it open,
//! this storage closes its connection and every later sync fails as unavailable.

use std::cell::RefCell;
use std::future::Future;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use logspine_core::storage::{check_name, image_len, image_read};
use logspine_core::vec_map::{VecMap, VecSet};
use logspine_core::{Storage, StorageError, StorageStats, SyncCompletion, SyncId};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbKeyRange, IdbOpenDbRequest, IdbRequest,
    IdbTransaction,
};

use crate::decimal;

/// Bytes per stored chunk.
pub const CHUNK_BYTES: u64 = 4096;
/// The largest file this backend holds (the whole image lives in memory).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// The on-IndexedDB format version (the IndexedDB database version).
pub const FORMAT_VERSION: u32 = 1;

const FILES_STORE: &str = "files";
const CHUNKS_STORE: &str = "chunks";
/// How often and how far apart `open` asks for the lock before giving up.
const LOCK_ATTEMPTS: u32 = 6;
const LOCK_RETRY_MS: u32 = 200;

/// The IndexedDB database (and Web Lock) name for a namespace.
pub fn database_name(namespace: &str) -> String {
    format!("logspine:{namespace}")
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`. web-sys offers `LockManager` only behind `web_sys_unstable_apis`,
    /// so the one method used is bound here.
    type LockManager;

    #[wasm_bindgen(method, catch, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &Object,
        callback: &Function,
    ) -> Result<Promise, JsValue>;

    /// An `IDBDatabase` seen through the one call web-sys keeps behind
    /// `web_sys_unstable_apis`: `transaction(stores, mode, {durability})`.
    #[wasm_bindgen(js_name = IDBDatabase)]
    type DatabaseWithOptions;

    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        stores: &Array,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// What a sync is doing now, for the playground's status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// The syncs the running IndexedDB transaction covers.
    pub in_flight: Vec<SyncId>,
    /// Syncs issued while that transaction runs; the next transaction covers them all.
    pub waiting: Vec<SyncId>,
    /// Readwrite transactions that committed.
    pub transactions_committed: u64,
    /// Readwrite transactions that aborted.
    pub transactions_failed: u64,
}

/// The [`Storage`] contract on IndexedDB. See the module docs.
///
/// Dropping it (or [`IdbStorage::close`]) drops every volatile change, closes the
/// connection and releases the single-writer lock; a transaction already running still
/// commits or aborts on its own, atomically.
pub struct IdbStorage {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for IdbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("IdbStorage")
            .field("database", &inner.database)
            .field("files", &inner.image.files.len())
            .field("status", &inner.sync_status())
            .finish_non_exhaustive()
    }
}

impl IdbStorage {
    /// Opens database `logspine:{namespace}` (creating it if needed), takes the
    /// single-writer lock and loads the whole image. Fails with
    /// [`StorageError::Unavailable`] when another tab holds the lock or IndexedDB cannot
    /// be used, and with [`StorageError::Corrupt`] when the stored image breaks the format;
    /// a failed open changes nothing stored.
    pub async fn open(namespace: &str) -> Result<IdbStorage, StorageError> {
        let database = database_name(namespace);
        let lock = WebLock::acquire(&database).await?;
        let db = open_database(&database).await?;
        let image = match load_image(&db, &database).await {
            Ok(image) => image,
            Err(err) => {
                db.close();
                return Err(err);
            }
        };
        let inner = Rc::new(RefCell::new(Inner {
            database,
            db: Some(db),
            lock: Some(lock),
            image,
            dirty: Dirty::default(),
            in_flight: None,
            waiting: Vec::new(),
            next_sync: 1,
            reported: 0,
            completions: Vec::new(),
            on_completion: None,
            settled_waiters: Vec::new(),
            stats: StorageStats::default(),
            transactions_committed: 0,
            transactions_failed: 0,
            lost: None,
            closed: false,
            on_version_change: None,
        }));
        install_version_change_handler(&inner);
        Ok(IdbStorage { inner })
    }

    /// Closes the storage: drops every volatile change, closes the connection and
    /// releases the lock, all at once. The returned future resolves once the browser
    /// reports the lock released, so a new [`IdbStorage::open`] of the same namespace
    /// (a simulated crash) cannot race it; dropping the future is fine.
    pub fn close(self) -> impl Future<Output = ()> + 'static {
        let released = self
            .inner
            .borrow()
            .lock
            .as_ref()
            .map(|l| l.released.clone());
        drop(self);
        async move {
            if let Some(released) = released {
                // Resolves (never rejects) when the lock is gone.
                let _ = JsFuture::from(released).await;
            }
        }
    }

    /// Runs `f` (from the browser's event loop) every time sync completions arrive and are
    /// ready for [`Storage::take_completions`]. Replaces any earlier callback.
    pub fn set_on_completion(&self, f: Rc<dyn Fn()>) {
        self.inner.borrow_mut().on_completion = Some(f);
    }

    /// Resolves once no sync is waiting or in flight (every issued sync has its completion
    /// queued). For tests and for a clean shutdown.
    pub async fn settled(&self) {
        let promise = {
            let mut inner = self.inner.borrow_mut();
            if inner.is_idle() {
                return;
            }
            let mut resolver = None;
            let promise = Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
            inner.settled_waiters.extend(resolver);
            promise
        };
        // Resolved by `Inner::wake_settled`; never rejects.
        let _ = JsFuture::from(promise).await;
    }

    /// Which syncs the running transaction covers and which wait for the next one.
    pub fn sync_status(&self) -> SyncStatus {
        self.inner.borrow().sync_status()
    }

    /// Counters since open.
    pub fn stats(&self) -> StorageStats {
        self.inner.borrow().stats
    }

    /// The IndexedDB database name (`logspine:{namespace}`).
    pub fn database(&self) -> String {
        self.inner.borrow().database.clone()
    }
}

impl Drop for IdbStorage {
    fn drop(&mut self) {
        self.inner.borrow_mut().shut_down();
    }
}

impl Storage for IdbStorage {
    fn list(&self) -> Vec<String> {
        self.inner.borrow().image.files.keys().cloned().collect()
    }

    fn len(&self, file: &str) -> Result<u64, StorageError> {
        self.inner.borrow().image.len(file)
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        inner.image.read(file, offset, buf)?;
        inner.stats.bytes_read += buf.len() as u64;
        Ok(())
    }

    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        let Inner { image, dirty, .. } = &mut *inner;
        image.write(file, offset, data, dirty)?;
        inner.stats.writes += 1;
        inner.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        let Inner { image, dirty, .. } = &mut *inner;
        image.set_len(file, len, dirty)
    }

    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        let Inner { image, dirty, .. } = &mut *inner;
        image.delete(file, dirty)
    }

    fn sync(&mut self) -> Result<SyncId, StorageError> {
        let id = {
            let mut inner = self.inner.borrow_mut();
            if let Some(reason) = &inner.lost {
                return Err(StorageError::Unavailable {
                    detail: reason.clone(),
                });
            }
            let id = SyncId(inner.next_sync);
            inner.next_sync += 1;
            inner.stats.syncs_issued += 1;
            inner.waiting.push(id);
            id
        };
        start_transaction(&self.inner);
        Ok(id)
    }

    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        let mut inner = self.inner.borrow_mut();
        let out = std::mem::take(&mut inner.completions);
        inner.reported += out.len() as u64;
        out
    }

    fn syncs_in_flight(&self) -> u64 {
        let inner = self.inner.borrow();
        inner.next_sync - 1 - inner.reported
    }

    fn has_volatile_changes(&self) -> bool {
        let inner = self.inner.borrow();
        !inner.dirty.is_empty() || inner.in_flight.is_some()
    }
}

/// Deletes database `logspine:{namespace}` (tests; the playground's reset button). Takes
/// the single-writer lock first, so it fails with [`StorageError::Unavailable`] while a
/// tab (including this one) has the storage open: close it first.
pub async fn delete_database(namespace: &str) -> Result<(), StorageError> {
    let database = database_name(namespace);
    let _lock = WebLock::acquire(&database).await?;
    let factory = idb_factory()?;
    let request = factory
        .delete_database(&database)
        .map_err(|e| StorageError::Io {
            detail: format!("cannot delete {database}: {}", js_error_text(&e)),
        })?;
    request_result(&request)
        .await
        .map_err(|e| StorageError::Io {
            detail: format!("deleting {database} failed: {}", js_error_text(&e)),
        })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The in-memory image and what is dirty in it (pure; unit-tested natively).

/// The files, as the volatile view sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Image {
    files: VecMap<String, Vec<u8>>,
}

/// What changed since the last committed transaction: chunk contents, and files whose
/// length record (or existence) changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Dirty {
    chunks: VecSet<(String, u64)>,
    files: VecSet<String>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.files.is_empty()
    }

    fn merge(&mut self, other: Dirty) {
        self.chunks.extend(other.chunks);
        self.files.extend(other.files);
    }

    /// Marks the chunks holding bytes `start..end` of `file`.
    fn mark_range(&mut self, file: &str, start: u64, end: u64) {
        if start >= end {
            return;
        }
        for index in start / CHUNK_BYTES..=(end - 1) / CHUNK_BYTES {
            self.chunks.insert((file.to_owned(), index));
        }
    }
}

fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_BYTES)
}

/// Converts a length already checked against [`MAX_FILE_BYTES`].
fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("lengths are bounded by MAX_FILE_BYTES")
}

fn too_large(file: &str, len: Option<u64>) -> StorageError {
    let asked = len.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string());
    StorageError::QuotaExceeded {
        detail: format!(
            "{file:?} would grow to {asked} bytes, over this backend's {MAX_FILE_BYTES}-byte file limit"
        ),
    }
}

impl Image {
    fn len(&self, file: &str) -> Result<u64, StorageError> {
        image_len(&self.files, file)
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        image_read(&self.files, file, offset, buf)
    }

    fn write(
        &mut self,
        file: &str,
        offset: u64,
        data: &[u8],
        dirty: &mut Dirty,
    ) -> Result<(), StorageError> {
        check_name(file)?;
        let end = offset.checked_add(data.len() as u64);
        let end = match end {
            Some(end) if end <= MAX_FILE_BYTES => end,
            _ => return Err(too_large(file, end)),
        };
        let created = !self.files.contains_key(file);
        let buf = self.files.entry(file.to_owned()).or_default();
        let old_len = buf.len() as u64;
        if old_len < end {
            buf.resize(to_usize(end), 0);
        }
        buf[to_usize(offset)..to_usize(end)].copy_from_slice(data);
        // A gap between the old end and `offset` is now zeros that must be stored too.
        dirty.mark_range(file, offset.min(old_len), end);
        if created || end > old_len {
            dirty.files.insert(file.to_owned());
        }
        Ok(())
    }

    fn set_len(&mut self, file: &str, len: u64, dirty: &mut Dirty) -> Result<(), StorageError> {
        check_name(file)?;
        if len > MAX_FILE_BYTES {
            return Err(too_large(file, Some(len)));
        }
        let created = !self.files.contains_key(file);
        let buf = self.files.entry(file.to_owned()).or_default();
        let old_len = buf.len() as u64;
        buf.resize(to_usize(len), 0);
        if len > old_len {
            // The chunk holding the old end may carry stale bytes past it; rewrite it.
            dirty.mark_range(file, old_len, len);
        } else if len < old_len && !len.is_multiple_of(CHUNK_BYTES) {
            // Keep the stored tail of the new last chunk zero.
            dirty.chunks.insert((file.to_owned(), len / CHUNK_BYTES));
        }
        if created || len != old_len {
            dirty.files.insert(file.to_owned());
        }
        Ok(())
    }

    fn delete(&mut self, file: &str, dirty: &mut Dirty) -> Result<(), StorageError> {
        check_name(file)?;
        if self.files.remove(file).is_some() {
            dirty.chunks.retain(|(f, _)| f != file);
            dirty.files.insert(file.to_owned());
        }
        Ok(())
    }

    /// The stored form of chunk `index` of `file`: exactly [`CHUNK_BYTES`], zero past the
    /// end of the file. `None` when the chunk no longer exists (file deleted or shrunk).
    fn chunk(&self, file: &str, index: u64) -> Option<Vec<u8>> {
        let data = self.files.get(file)?;
        let len = data.len() as u64;
        if index >= chunk_count(len) {
            return None;
        }
        let start = index * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(len);
        let mut out = vec![0; to_usize(CHUNK_BYTES)];
        out[..to_usize(end - start)].copy_from_slice(&data[to_usize(start)..to_usize(end)]);
        Some(out)
    }
}

/// One key read back from IndexedDB, decoded enough to validate.
#[derive(Clone, PartialEq)]
enum RawKey {
    /// A string key (the `files` store).
    Text(String),
    /// A `[string, number]` key (the `chunks` store).
    Chunk(String, f64),
    /// Anything else, described for the error message.
    Other(String),
}

/// One value read back from IndexedDB, decoded enough to validate.
#[derive(Clone, PartialEq)]
enum RawValue {
    Number(f64),
    Bytes(Vec<u8>),
    Other(String),
}

// Written out rather than derived so that the numbers go through `decimal` (its module
// docs: std's float formatting stays out of the wasm); the text is the derived one.
impl std::fmt::Debug for RawKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawKey::Text(s) => f.debug_tuple("Text").field(s).finish(),
            RawKey::Chunk(s, n) => f
                .debug_tuple("Chunk")
                .field(s)
                .field(&format_args!("{}", decimal::debug(*n)))
                .finish(),
            RawKey::Other(s) => f.debug_tuple("Other").field(s).finish(),
        }
    }
}

impl std::fmt::Debug for RawValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawValue::Number(n) => f
                .debug_tuple("Number")
                .field(&format_args!("{}", decimal::debug(*n)))
                .finish(),
            RawValue::Bytes(b) => f.debug_tuple("Bytes").field(b).finish(),
            RawValue::Other(s) => f.debug_tuple("Other").field(s).finish(),
        }
    }
}

/// One store's contents as (key, value) pairs.
type Entries = Vec<(RawKey, RawValue)>;

fn corrupt(database: &str, detail: String) -> StorageError {
    StorageError::Corrupt {
        detail: format!("{database}: {detail}"),
    }
}

/// Rebuilds the image from the two stores' contents (any order), validating the format
/// described in the module docs.
fn build_image(database: &str, files: Entries, chunks: Entries) -> Result<Image, StorageError> {
    let mut image = Image::default();
    for (key, value) in files {
        let RawKey::Text(file) = key else {
            return Err(corrupt(
                database,
                format!("files store has a key that is not a file name: {key:?}"),
            ));
        };
        if let Err(err) = check_name(&file) {
            return Err(corrupt(database, format!("files store: {err}")));
        }
        let len = match value {
            RawValue::Number(n) if n.fract() == 0.0 && (0.0..=MAX_FILE_BYTES as f64).contains(&n) => {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "checked above: a whole number in 0..=MAX_FILE_BYTES"
                )]
                let n = n as u64;
                n
            }
            other => {
                return Err(corrupt(
                    database,
                    format!("length record of {file:?} is not a whole number of bytes up to {MAX_FILE_BYTES}: {other:?}"),
                ))
            }
        };
        image.files.insert(file, vec![0; to_usize(len)]);
    }
    // Which chunks of each file were seen; every one of them must be, exactly once.
    let mut seen: VecMap<String, Vec<bool>> =
        VecMap::from_iter(image.files.iter().map(|(f, d)| {
            (
                f.clone(),
                vec![false; to_usize(chunk_count(d.len() as u64))],
            )
        }));
    for (key, value) in chunks {
        let RawKey::Chunk(file, index) = key else {
            return Err(corrupt(
                database,
                format!("chunks store has a key that is not [file, index]: {key:?}"),
            ));
        };
        let Some(data) = image.files.get_mut(&file) else {
            return Err(corrupt(
                database,
                format!(
                    "chunk [{file:?}, {}] belongs to no file (no length record)",
                    decimal::shortest(index)
                ),
            ));
        };
        let count = chunk_count(data.len() as u64);
        if index.fract() != 0.0 || !(0.0..count as f64).contains(&index) {
            return Err(corrupt(
                database,
                format!(
                    "extra chunk [{file:?}, {}]: a file of {} bytes has {count} chunks",
                    decimal::shortest(index),
                    data.len()
                ),
            ));
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked above: a whole number below count"
        )]
        let index = index as u64;
        let bytes = match value {
            RawValue::Bytes(b) if b.len() as u64 == CHUNK_BYTES => b,
            RawValue::Bytes(b) => {
                return Err(corrupt(
                    database,
                    format!(
                        "chunk [{file:?}, {index}] holds {} bytes, not {CHUNK_BYTES}",
                        b.len()
                    ),
                ))
            }
            other => {
                return Err(corrupt(
                    database,
                    format!("chunk [{file:?}, {index}] is not binary data: {other:?}"),
                ))
            }
        };
        let start = index * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(data.len() as u64);
        data[to_usize(start)..to_usize(end)].copy_from_slice(&bytes[..to_usize(end - start)]);
        seen.get_mut(&file).expect("every file has a seen list")[to_usize(index)] = true;
    }
    for (file, flags) in &seen {
        if let Some(missing) = flags.iter().position(|s| !s) {
            return Err(corrupt(
                database,
                format!(
                    "chunk [{file:?}, {missing}] is missing: a file of {} bytes needs {} chunks",
                    image.files[file].len(),
                    flags.len()
                ),
            ));
        }
    }
    Ok(image)
}

// ---------------------------------------------------------------------------------------
// The live storage: transactions, completions, lock.

/// A readwrite transaction in flight and what it covers.
struct Batch {
    ids: Vec<SyncId>,
    dirty: Dirty,
}

struct Inner {
    database: String,
    db: Option<IdbDatabase>,
    lock: Option<WebLock>,
    image: Image,
    /// Changed since the last transaction started (not covered by `in_flight`).
    dirty: Dirty,
    in_flight: Option<Batch>,
    /// Issued, not yet in a transaction.
    waiting: Vec<SyncId>,
    next_sync: u64,
    /// Completions handed out by `take_completions`.
    reported: u64,
    completions: Vec<SyncCompletion>,
    on_completion: Option<Rc<dyn Fn()>>,
    settled_waiters: Vec<Function>,
    stats: StorageStats,
    transactions_committed: u64,
    transactions_failed: u64,
    /// Set when the connection went away under us (another tab deleted the database).
    lost: Option<String>,
    /// The handle was dropped or closed.
    closed: bool,
    on_version_change: Option<Closure<dyn FnMut(JsValue)>>,
}

impl Inner {
    fn is_idle(&self) -> bool {
        self.closed || (self.in_flight.is_none() && self.waiting.is_empty())
    }

    fn sync_status(&self) -> SyncStatus {
        SyncStatus {
            in_flight: self
                .in_flight
                .as_ref()
                .map(|b| b.ids.clone())
                .unwrap_or_default(),
            waiting: self.waiting.clone(),
            transactions_committed: self.transactions_committed,
            transactions_failed: self.transactions_failed,
        }
    }

    fn wake_settled(&mut self) {
        if self.is_idle() {
            for resolve in self.settled_waiters.drain(..) {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }

    fn shut_down(&mut self) {
        self.closed = true;
        self.on_completion = None;
        if let Some(db) = self.db.take() {
            db.set_onversionchange(None);
            db.set_onclose(None);
            // Waits for a running transaction to finish, then closes.
            db.close();
        }
        self.on_version_change = None;
        // Dropping the lock releases it.
        self.lock = None;
        self.waiting.clear();
        self.wake_settled();
    }

    /// Fails every waiting sync with `err` (used when no transaction can be started).
    fn fail_waiting(&mut self, err: &StorageError) {
        let ids = std::mem::take(&mut self.waiting);
        self.stats.syncs_failed += ids.len() as u64;
        for id in ids {
            self.completions.push(SyncCompletion {
                id,
                result: Err(err.clone()),
            });
        }
    }

    /// Creates the readwrite transaction writing `dirty` and issues every request in it.
    fn begin_transaction(&self, dirty: &Dirty) -> Result<IdbTransaction, StorageError> {
        if let Some(reason) = &self.lost {
            return Err(StorageError::Unavailable {
                detail: reason.clone(),
            });
        }
        let db = self.db.as_ref().ok_or_else(|| StorageError::Unavailable {
            detail: format!("{} is closed", self.database),
        })?;
        let io = |what: &str, e: JsValue| StorageError::Io {
            detail: format!("{}: {what}: {}", self.database, js_error_text(&e)),
        };
        let options = Object::new();
        Reflect::set(&options, &"durability".into(), &"strict".into())
            .map_err(|e| io("transaction options", e))?;
        let stores = Array::of2(&FILES_STORE.into(), &CHUNKS_STORE.into());
        let tx = db
            .unchecked_ref::<DatabaseWithOptions>()
            .transaction_with_options(&stores, "readwrite", &options)
            .map_err(|e| io("cannot start a transaction", e))?;
        let issued = (|| -> Result<(), JsValue> {
            let files = tx.object_store(FILES_STORE)?;
            let chunks = tx.object_store(CHUNKS_STORE)?;
            for file in &dirty.files {
                let name = JsValue::from_str(file);
                let keep = match self.image.files.get(file) {
                    Some(data) => {
                        files.put_with_key(&JsValue::from_f64(data.len() as f64), &name)?;
                        chunk_count(data.len() as u64)
                    }
                    None => {
                        files.delete(&name)?;
                        0
                    }
                };
                // Drop the chunks past the (new) end; `Infinity` is a valid key number.
                let range = IdbKeyRange::bound(
                    &chunk_key(file, keep as f64),
                    &chunk_key(file, f64::INFINITY),
                )?;
                chunks.delete(&range)?;
            }
            for (file, index) in &dirty.chunks {
                if let Some(bytes) = self.image.chunk(file, *index) {
                    chunks.put_with_key(
                        &Uint8Array::from(&bytes[..]),
                        &chunk_key(file, *index as f64),
                    )?;
                }
            }
            Ok(())
        })();
        if let Err(e) = issued {
            let _ = tx.abort();
            return Err(idb_error(
                &self.database,
                dom_exception(&e),
                "writing a sync batch",
            ));
        }
        Ok(tx)
    }
}

fn chunk_key(file: &str, index: f64) -> JsValue {
    Array::of2(&JsValue::from_str(file), &JsValue::from_f64(index)).into()
}

/// Starts a transaction for the waiting syncs unless one is running.
fn start_transaction(rc: &Rc<RefCell<Inner>>) {
    let mut inner = rc.borrow_mut();
    if inner.closed || inner.in_flight.is_some() || inner.waiting.is_empty() {
        return;
    }
    let dirty = std::mem::take(&mut inner.dirty);
    match inner.begin_transaction(&dirty) {
        Ok(tx) => {
            let ids = std::mem::take(&mut inner.waiting);
            inner.in_flight = Some(Batch { ids, dirty });
            let done = Promise::new(&mut |resolve, reject| {
                tx.set_oncomplete(Some(&resolve));
                tx.set_onabort(Some(&reject));
            });
            let weak = Rc::downgrade(rc);
            spawn_local(async move {
                let outcome = JsFuture::from(done).await;
                if let Some(rc) = weak.upgrade() {
                    let result = outcome.map(|_| ()).map_err(|_| tx.error());
                    finish_transaction(&rc, result);
                }
            });
        }
        Err(err) => {
            inner.dirty.merge(dirty);
            inner.transactions_failed += 1;
            inner.fail_waiting(&err);
            drop(inner);
            // Never call back from inside a `Storage` call: report on the next microtask.
            let weak = Rc::downgrade(rc);
            spawn_local(async move {
                if let Some(rc) = weak.upgrade() {
                    notify(&rc);
                }
            });
        }
    }
}

/// Records the outcome of the running transaction, starts the next one, reports.
fn finish_transaction(rc: &Rc<RefCell<Inner>>, result: Result<(), Option<DomException>>) {
    {
        let mut inner = rc.borrow_mut();
        if inner.closed {
            return;
        }
        let Batch { ids, dirty } = inner.in_flight.take().expect("a transaction was in flight");
        let result = match result {
            Ok(()) => {
                inner.transactions_committed += 1;
                inner.stats.syncs_completed += ids.len() as u64;
                Ok(())
            }
            Err(error) => {
                inner.transactions_failed += 1;
                inner.stats.syncs_failed += ids.len() as u64;
                inner.dirty.merge(dirty);
                Err(idb_error(
                    &inner.database,
                    error,
                    "sync transaction aborted",
                ))
            }
        };
        for id in ids {
            inner.completions.push(SyncCompletion {
                id,
                result: result.clone(),
            });
        }
    }
    start_transaction(rc);
    notify(rc);
}

/// Wakes `settled()` waiters and runs the completion callback, with no borrow held.
fn notify(rc: &Rc<RefCell<Inner>>) {
    let callback = {
        let mut inner = rc.borrow_mut();
        inner.wake_settled();
        if inner.completions.is_empty() {
            None
        } else {
            inner.on_completion.clone()
        }
    };
    if let Some(callback) = callback {
        callback();
    }
}

fn install_version_change_handler(rc: &Rc<RefCell<Inner>>) {
    let weak: Weak<RefCell<Inner>> = Rc::downgrade(rc);
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
        let Some(rc) = weak.upgrade() else { return };
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        if let Some(db) = inner.db.take() {
            db.set_onversionchange(None);
            db.set_onclose(None);
            db.close();
        }
        inner.lost = Some(format!(
            "{} was deleted, upgraded or closed by the browser or another tab; reload the page",
            inner.database
        ));
    });
    let mut inner = rc.borrow_mut();
    if let Some(db) = &inner.db {
        db.set_onversionchange(Some(handler.as_ref().unchecked_ref()));
        db.set_onclose(Some(handler.as_ref().unchecked_ref()));
    }
    inner.on_version_change = Some(handler);
}

fn dom_exception(e: &JsValue) -> Option<DomException> {
    e.dyn_ref::<DomException>().cloned()
}

/// Maps an IndexedDB error to the storage error it means.
fn idb_error(database: &str, error: Option<DomException>, what: &str) -> StorageError {
    match error {
        Some(e) if e.name() == "QuotaExceededError" => StorageError::QuotaExceeded {
            detail: format!("{database}: {what}: {}", e.message()),
        },
        Some(e) => StorageError::Io {
            detail: format!("{database}: {what}: {}: {}", e.name(), e.message()),
        },
        None => StorageError::Io {
            detail: format!("{database}: {what} (no error given)"),
        },
    }
}

/// A readable description of a thrown JavaScript value.
fn js_error_text(e: &JsValue) -> String {
    if let Some(d) = e.dyn_ref::<DomException>() {
        format!("{}: {}", d.name(), d.message())
    } else if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        format!(
            "{}: {}",
            String::from(err.name()),
            String::from(err.message())
        )
    } else if let Some(s) = e.as_string() {
        s
    } else {
        format!("{e:?}")
    }
}

fn global_property(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn idb_factory() -> Result<IdbFactory, StorageError> {
    global_property("indexedDB")
        .map(JsCast::unchecked_into)
        .ok_or_else(|| StorageError::Unavailable {
            detail: "this browser offers no IndexedDB here (private windows may disable it)"
                .to_owned(),
        })
}

/// Waits for an `IDBRequest` to succeed (its result) or fail (its error).
async fn request_result(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let done = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(done).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => request.result(),
        Err(event) => Err(request
            .error()
            .ok()
            .flatten()
            .map(JsValue::from)
            .unwrap_or(event)),
    }
}

async fn open_database(database: &str) -> Result<IdbDatabase, StorageError> {
    let factory = idb_factory()?;
    let unavailable = |what: &str, e: &JsValue| StorageError::Unavailable {
        detail: format!("cannot open {database}: {what}{}", js_error_text(e)),
    };
    let request: IdbOpenDbRequest = factory
        .open_with_u32(database, FORMAT_VERSION)
        .map_err(|e| unavailable("", &e))?;
    let upgrading = request.clone();
    // Runs only when the database is new (version 0 -> 1): create the two stores.
    let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
        let created = (|| -> Result<(), JsValue> {
            let db: IdbDatabase = upgrading.result()?.unchecked_into();
            let names = db.object_store_names();
            for store in [FILES_STORE, CHUNKS_STORE] {
                if !names.contains(store) {
                    db.create_object_store(store)?;
                }
            }
            Ok(())
        })();
        if created.is_err() {
            if let Some(tx) = upgrading.transaction() {
                let _ = tx.abort();
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let outcome = request_result(&request).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    match outcome {
        Ok(db) => Ok(db.unchecked_into()),
        Err(e) if dom_exception(&e).is_some_and(|d| d.name() == "VersionError") => Err(StorageError::Unavailable {
            detail: format!(
                "{database} was written by a newer Logspine (format above version {FORMAT_VERSION}); nothing was changed"
            ),
        }),
        Err(e) => Err(unavailable("", &e)),
    }
}

async fn load_image(db: &IdbDatabase, database: &str) -> Result<Image, StorageError> {
    let names = db.object_store_names();
    for store in [FILES_STORE, CHUNKS_STORE] {
        if !names.contains(store) {
            return Err(corrupt(
                database,
                format!("object store {store:?} is missing"),
            ));
        }
    }
    let io = |what: &str, e: &JsValue| StorageError::Io {
        detail: format!("{database}: loading {what}: {}", js_error_text(e)),
    };
    let stores = Array::of2(&FILES_STORE.into(), &CHUNKS_STORE.into());
    // Readonly: loading never changes anything, valid image or not.
    let tx = db
        .transaction_with_str_sequence(&stores)
        .map_err(|e| io("(transaction)", &e))?;
    let files = tx
        .object_store(FILES_STORE)
        .map_err(|e| io(FILES_STORE, &e))?;
    let chunks = tx
        .object_store(CHUNKS_STORE)
        .map_err(|e| io(CHUNKS_STORE, &e))?;
    // Issue all four requests before awaiting any, so the transaction stays active; keys
    // and values of one store come back in the same (key) order.
    let requests = [
        files.get_all_keys(),
        files.get_all(),
        chunks.get_all_keys(),
        chunks.get_all(),
    ];
    let mut results = Vec::with_capacity(4);
    for request in requests {
        let request = request.map_err(|e| io("(request)", &e))?;
        let value = request_result(&request)
            .await
            .map_err(|e| io("(request)", &e))?;
        results.push(Array::from(&value));
    }
    let pairs = |keys: &Array, values: &Array| -> Entries {
        keys.iter()
            .zip(values.iter())
            .map(|(k, v)| (raw_key(&k), raw_value(&v)))
            .collect()
    };
    if results[0].length() != results[1].length() || results[2].length() != results[3].length() {
        return Err(corrupt(database, "key and value counts differ".to_owned()));
    }
    build_image(
        database,
        pairs(&results[0], &results[1]),
        pairs(&results[2], &results[3]),
    )
}

fn raw_key(key: &JsValue) -> RawKey {
    if let Some(s) = key.as_string() {
        return RawKey::Text(s);
    }
    if Array::is_array(key) {
        let a = Array::from(key);
        if a.length() == 2 {
            if let (Some(file), Some(index)) = (a.get(0).as_string(), a.get(1).as_f64()) {
                return RawKey::Chunk(file, index);
            }
        }
    }
    RawKey::Other(describe_js(key))
}

fn raw_value(value: &JsValue) -> RawValue {
    if let Some(n) = value.as_f64() {
        RawValue::Number(n)
    } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        RawValue::Bytes(bytes.to_vec())
    } else {
        RawValue::Other(describe_js(value))
    }
}

/// A short description of a stored value for error messages (its type, not its bytes).
fn describe_js(value: &JsValue) -> String {
    let type_name = value.js_typeof().as_string().unwrap_or_default();
    if value.is_object() {
        let ctor = Reflect::get(value, &"constructor".into())
            .ok()
            .and_then(|c| Reflect::get(&c, &"name".into()).ok())
            .and_then(|n| n.as_string());
        if let Some(ctor) = ctor {
            return format!("a {ctor}");
        }
    }
    format!("a {type_name}")
}

/// The Web Lock that makes this tab the only writer. Dropping it releases the lock.
struct WebLock {
    /// Resolves the promise the lock callback returned, which releases the lock.
    release: Function,
    /// `navigator.locks.request(..)`'s own promise: settles once the lock is released.
    released: Promise,
}

impl Drop for WebLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

impl WebLock {
    async fn acquire(name: &str) -> Result<WebLock, StorageError> {
        for attempt in 1..=LOCK_ATTEMPTS {
            if let Some(lock) = WebLock::try_acquire(name).await? {
                return Ok(lock);
            }
            if attempt < LOCK_ATTEMPTS {
                crate::timer::sleep_ms(LOCK_RETRY_MS).await;
            }
        }
        Err(StorageError::Unavailable {
            detail: format!(
                "Logspine is open in another tab, which holds the lock {name:?}. Only one tab may write; close the other tab (or use it) and reload this one."
            ),
        })
    }

    /// One `ifAvailable` request: `Some` when granted, `None` when another holder has it.
    async fn try_acquire(name: &str) -> Result<Option<WebLock>, StorageError> {
        let unavailable = |detail: String| StorageError::Unavailable { detail };
        let locks: LockManager = global_property("navigator")
            .and_then(|n| Reflect::get(&n, &"locks".into()).ok())
            .filter(|l| !l.is_undefined() && !l.is_null())
            .map(JsCast::unchecked_into)
            .ok_or_else(|| {
                unavailable(
                    "this browser has no Web Locks API (navigator.locks), which Logspine needs to keep a second tab from writing; use a current browser over https or localhost".to_owned(),
                )
            })?;
        let mut release = None;
        let hold = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let mut grant = None;
        let granted = Promise::new(&mut |resolve, _reject| grant = Some(resolve));
        let (Some(release), Some(grant)) = (release, grant) else {
            unreachable!("a Promise executor runs synchronously");
        };
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let got = !lock.is_null() && !lock.is_undefined();
            let _ = grant.call1(&JsValue::UNDEFINED, &JsValue::from_bool(got));
            // Holding the lock = not settling this promise until `release` is called.
            if got {
                hold.into()
            } else {
                JsValue::UNDEFINED
            }
        });
        let options = Object::new();
        Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)
            .map_err(|e| unavailable(js_error_text(&e)))?;
        let request = locks
            .request_with_options(name, &options, callback.unchecked_ref())
            .map_err(|e| {
                unavailable(format!("the Web Locks API refused: {}", js_error_text(&e)))
            })?;
        // Own the release before awaiting, so an abandoned open still lets go.
        let lock = WebLock {
            release,
            released: request.clone(),
        };
        // `granted` settles inside the callback; `request` only rejects if the API fails.
        let first = Promise::race(&Array::of2(&granted, &request));
        let got = JsFuture::from(first).await.map_err(|e| {
            unavailable(format!("the Web Locks API refused: {}", js_error_text(&e)))
        })?;
        Ok((got.as_bool() == Some(true)).then_some(lock))
    }
}

// ---------------------------------------------------------------------------------------
// The conformance harness (runs in headless Chromium from the tests crate).

/// A [`logspine_core::conformance::Harness`] for [`IdbStorage`]: each `fresh` storage gets
/// its own namespace `{prefix}-{n}`, deleted first; `crash` closes the storage and reopens
/// it from IndexedDB, exactly as a page reload would.
#[derive(Clone, Debug)]
pub struct IdbHarness {
    /// Namespace prefix for the databases this harness makes.
    pub prefix: String,
    /// Databases made so far.
    pub made: u64,
    namespace: String,
}

impl IdbHarness {
    /// A harness whose databases are named `logspine:{prefix}-{n}`.
    pub fn new(prefix: &str) -> IdbHarness {
        IdbHarness {
            prefix: prefix.to_owned(),
            made: 0,
            namespace: String::new(),
        }
    }

    /// Deletes every database this harness made.
    pub async fn clean_up(&mut self) {
        for n in 1..=self.made {
            let _ = delete_database(&format!("{}-{n}", self.prefix)).await;
        }
    }
}

impl logspine_core::conformance::Harness for IdbHarness {
    type S = IdbStorage;

    async fn fresh(&mut self) -> IdbStorage {
        self.made += 1;
        self.namespace = format!("{}-{}", self.prefix, self.made);
        if let Err(e) = delete_database(&self.namespace).await {
            panic!("IdbHarness: cannot delete {}: {e}", self.namespace);
        }
        IdbStorage::open(&self.namespace)
            .await
            .unwrap_or_else(|e| panic!("IdbHarness: cannot open {}: {e}", self.namespace))
    }

    async fn settle(&mut self, storage: &mut IdbStorage) {
        storage.settled().await;
    }

    async fn crash(&mut self, storage: IdbStorage) -> IdbStorage {
        let namespace = storage
            .database()
            .strip_prefix("logspine:")
            .map(str::to_owned)
            .unwrap_or_else(|| self.namespace.clone());
        storage.close().await;
        IdbStorage::open(&namespace)
            .await
            .unwrap_or_else(|e| panic!("IdbHarness: cannot reopen {namespace} after a crash: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(image: &Image, file: &str) -> Vec<u8> {
        image.files[file].clone()
    }

    #[test]
    fn writes_mark_the_touched_chunks_and_lengths() {
        let mut image = Image::default();
        let mut dirty = Dirty::default();
        image.write("a", 4090, b"0123456789", &mut dirty).unwrap();
        assert_eq!(image.len("a").unwrap(), 4100);
        // The gap 0..4090 is new zeros, so chunk 0 is dirty too.
        assert_eq!(
            dirty.chunks.iter().cloned().collect::<Vec<_>>(),
            vec![("a".to_owned(), 0), ("a".to_owned(), 1)]
        );
        assert!(dirty.files.contains("a"));

        let mut dirty = Dirty::default();
        image.write("a", 10, b"xy", &mut dirty).unwrap();
        assert_eq!(dirty.chunks.len(), 1);
        assert!(
            dirty.files.is_empty(),
            "an overwrite inside the file keeps its length"
        );
    }

    #[test]
    fn set_len_and_delete_are_tracked() {
        let mut image = Image::default();
        let mut dirty = Dirty::default();
        image.write("a", 0, &[7; 9000], &mut dirty).unwrap();
        let mut dirty = Dirty::default();
        image.set_len("a", 5000, &mut dirty).unwrap();
        assert!(dirty.files.contains("a"));
        assert!(
            dirty.chunks.contains(&("a".to_owned(), 1)),
            "the new last chunk's tail is zeroed"
        );
        assert_eq!(image.chunk("a", 1).unwrap()[..904], [7; 904]);
        assert_eq!(image.chunk("a", 1).unwrap()[904..], [0; 3192]);
        assert_eq!(image.chunk("a", 2), None);

        image.set_len("a", 9000, &mut dirty).unwrap();
        assert_eq!(bytes_of(&image, "a")[5000..], [0; 4000]);
        assert!(dirty.chunks.contains(&("a".to_owned(), 2)));

        image.delete("a", &mut dirty).unwrap();
        assert!(image.len("a").is_err());
        assert!(
            dirty.chunks.is_empty(),
            "a deleted file's chunks are not written"
        );
        assert!(dirty.files.contains("a"));
        let mut clean = Dirty::default();
        image.delete("never", &mut clean).unwrap();
        assert!(clean.is_empty());
    }

    #[test]
    fn reads_check_ranges_and_writes_check_limits() {
        let mut image = Image::default();
        let mut dirty = Dirty::default();
        image.write("a", 0, b"hello", &mut dirty).unwrap();
        let mut buf = [0; 3];
        image.read("a", 2, &mut buf).unwrap();
        assert_eq!(&buf, b"llo");
        assert!(matches!(
            image.read("a", 3, &mut buf),
            Err(StorageError::OutOfRange {
                offset: 3,
                len: 3,
                file_len: 5,
                ..
            })
        ));
        assert!(matches!(
            image.read("b", 0, &mut buf),
            Err(StorageError::NotFound { .. })
        ));
        assert!(matches!(
            image.write("a", MAX_FILE_BYTES, b"x", &mut dirty),
            Err(StorageError::QuotaExceeded { .. })
        ));
        assert!(matches!(
            image.write("a", u64::MAX, b"x", &mut dirty),
            Err(StorageError::QuotaExceeded { .. })
        ));
        assert!(matches!(
            image.write("a/b", 0, b"x", &mut dirty),
            Err(StorageError::InvalidName { .. })
        ));
    }

    /// What a transaction would store for `image`: every file's length and chunks.
    fn stored(image: &Image) -> (Entries, Entries) {
        let mut files = Vec::new();
        let mut chunks = Vec::new();
        for (file, data) in &image.files {
            files.push((
                RawKey::Text(file.clone()),
                RawValue::Number(data.len() as f64),
            ));
            for i in 0..chunk_count(data.len() as u64) {
                chunks.push((
                    RawKey::Chunk(file.clone(), i as f64),
                    RawValue::Bytes(image.chunk(file, i).unwrap()),
                ));
            }
        }
        (files, chunks)
    }

    fn sample() -> Image {
        let mut image = Image::default();
        let mut dirty = Dirty::default();
        image.write("wal-1.seg", 0, &[1; 5000], &mut dirty).unwrap();
        image.write("empty", 0, b"", &mut dirty).unwrap();
        image.write("small", 0, b"abc", &mut dirty).unwrap();
        image
    }

    #[test]
    fn a_stored_image_loads_back_in_any_order() {
        let image = sample();
        let (files, mut chunks) = stored(&image);
        chunks.reverse();
        assert_eq!(build_image("db", files, chunks).unwrap(), image);
    }

    #[test]
    fn raw_keys_and_values_debug_as_derived() {
        let cases = [
            (
                format!("{:?}", RawKey::Chunk("a".into(), 3.0)),
                r#"Chunk("a", 3.0)"#,
            ),
            (
                format!("{:?}", RawKey::Chunk("a".into(), 1e20)),
                r#"Chunk("a", 1e20)"#,
            ),
            (format!("{:?}", RawKey::Text("b".into())), r#"Text("b")"#),
            (
                format!("{:?}", RawKey::Other("[]".into())),
                r#"Other("[]")"#,
            ),
            (format!("{:?}", RawValue::Number(1.5)), "Number(1.5)"),
            (
                format!("{:?}", RawValue::Bytes(vec![1, 2])),
                "Bytes([1, 2])",
            ),
            (
                format!("{:?}", RawValue::Other("x".into())),
                r#"Other("x")"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    fn load_err(files: Entries, chunks: Entries) -> String {
        match build_image("db", files, chunks) {
            Err(StorageError::Corrupt { detail }) => detail,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn damaged_images_are_refused_naming_the_key() {
        let image = sample();
        let (files, chunks) = stored(&image);

        let mut short = chunks.clone();
        short[0].1 = RawValue::Bytes(vec![0; 100]);
        assert!(load_err(files.clone(), short).contains("holds 100 bytes"));

        let mut missing = chunks.clone();
        missing.retain(|(k, _)| *k != RawKey::Chunk("wal-1.seg".to_owned(), 1.0));
        let e = load_err(files.clone(), missing);
        assert!(e.contains("wal-1.seg") && e.contains("missing"), "{e}");

        let mut extra = chunks.clone();
        extra.push((
            RawKey::Chunk("small".to_owned(), 1.0),
            RawValue::Bytes(vec![0; 4096]),
        ));
        assert!(load_err(files.clone(), extra).contains("extra chunk"));

        let mut orphan = chunks.clone();
        orphan.push((
            RawKey::Chunk("gone".to_owned(), 0.0),
            RawValue::Bytes(vec![0; 4096]),
        ));
        assert!(load_err(files.clone(), orphan).contains("belongs to no file"));

        let mut not_binary = chunks.clone();
        not_binary[0].1 = RawValue::Other("a string".to_owned());
        assert!(load_err(files.clone(), not_binary).contains("not binary"));

        let mut bad_len = files.clone();
        bad_len[0].1 = RawValue::Number(1.5);
        assert!(load_err(bad_len, chunks.clone()).contains("not a whole number"));

        let mut bad_key = files.clone();
        bad_key.push((RawKey::Other("a number".to_owned()), RawValue::Number(0.0)));
        assert!(load_err(bad_key, chunks.clone()).contains("not a file name"));

        let mut bad_name = files;
        bad_name.push((RawKey::Text("a/b".to_owned()), RawValue::Number(0.0)));
        assert!(load_err(bad_name, chunks).contains("path separator"));
    }
}
