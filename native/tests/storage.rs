//! `FileStorage` on its own: the storage conformance suite (the one `SimDisk` and
//! IndexedDB pass), what reaches the directory and when, a seeded model test against an
//! in-memory oracle with crashes, failed syncs that keep their changes, the single-writer
//! lock, and directories holding something that is not a storage file.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use logspine_core::conformance::{self, block_on, Harness};
use logspine_core::storage::read_all;
use logspine_core::{Rng, Storage, StorageError};
use logspine_native::{FileHarness, FileStorage, TempDir, LOCK_FILE};

fn temp(prefix: &str) -> TempDir {
    TempDir::new(prefix).expect("temporary directory")
}

/// The storage files in `dir` as the file system has them (the lock file left out).
fn on_disk(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name() != LOCK_FILE)
        .map(|e| {
            let name = e.file_name().into_string().expect("utf-8 name");
            (name, fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn image<S: Storage>(s: &S) -> BTreeMap<String, Vec<u8>> {
    s.list()
        .into_iter()
        .map(|f| {
            let data = read_all(s, &f).expect("read_all");
            (f, data)
        })
        .collect()
}

fn sync_ok(s: &mut FileStorage) {
    let id = s.sync().expect("sync");
    let done = s.take_completions();
    assert_eq!(done.len(), 1, "the completion is ready when sync returns");
    assert_eq!(done[0].id, id);
    assert_eq!(done[0].result, Ok(()), "sync failed");
}

#[test]
fn file_storage_passes_the_storage_conformance_suite() {
    let mut h = FileHarness::new("logspine-conformance");
    block_on(conformance::run_all(&mut h));
    let root = h.root().to_path_buf();
    assert!(h.made() >= 7, "one directory per rule");
    drop(h);
    assert!(!root.exists(), "the harness removes its directories");
}

#[test]
fn a_sync_writes_the_directory_and_nothing_reaches_it_before() {
    let tmp = temp("logspine-sync");
    let dir = tmp.path().join("db");
    let mut s = FileStorage::open(&dir).expect("open creates the directory");
    s.write("a", 0, b"hello").unwrap();
    s.set_len("empty", 0).unwrap();
    assert!(
        on_disk(&dir).is_empty(),
        "writes stay in memory until a sync"
    );
    assert!(s.has_volatile_changes());
    assert_eq!(s.dirty_files(), ["a", "empty"]);

    sync_ok(&mut s);
    assert!(
        !s.has_volatile_changes(),
        "a successful sync covers everything"
    );
    assert_eq!(
        on_disk(&dir),
        image(&s),
        "after a sync the files are the image"
    );
    let d = s.disk_stats();
    assert_eq!(d.file_syncs, 2, "one sync_all per touched file");
    assert_eq!(d.dir_syncs, 1, "new names: the directory is synced");
    assert_eq!(d.bytes_flushed, 5);

    // Overwrite in the middle, shrink then regrow (stale bytes must not come back),
    // delete: only the sync shows them on disk.
    s.write("b", 0, b"0123456789").unwrap();
    sync_ok(&mut s);
    s.write("a", 1, b"EL").unwrap();
    s.set_len("b", 2).unwrap();
    s.set_len("b", 6).unwrap();
    s.delete("empty").unwrap();
    assert_eq!(on_disk(&dir)["b"], b"0123456789", "still the synced bytes");
    assert!(on_disk(&dir).contains_key("empty"));
    sync_ok(&mut s);
    let disk = on_disk(&dir);
    assert_eq!(disk, image(&s));
    assert_eq!(disk["a"], b"hELlo");
    assert_eq!(disk["b"], b"01\0\0\0\0");
    assert!(
        !disk.contains_key("empty"),
        "a synced delete removes the file"
    );
    assert_eq!(s.disk_stats().files_removed, 1);

    // A sync with nothing to do touches nothing.
    let before = s.disk_stats();
    sync_ok(&mut s);
    assert_eq!(s.disk_stats(), before);

    let st = s.stats();
    assert_eq!(st.syncs_issued, 4);
    assert_eq!(st.syncs_completed, 4);
    assert_eq!(st.syncs_failed, 0);
    assert_eq!(st.writes, 3);
    assert_eq!(st.bytes_written, 5 + 10 + 2);
    let read_before = st.bytes_read;
    let mut buf = [0u8; 3];
    s.read("a", 0, &mut buf).unwrap();
    assert_eq!(s.stats().bytes_read, read_before + 3);
}

#[test]
fn dropping_without_a_sync_loses_exactly_the_unsynced_changes() {
    let tmp = temp("logspine-drop");
    let dir = tmp.path().join("db");
    let mut s = FileStorage::open(&dir).unwrap();
    s.write("kept", 0, b"durable").unwrap();
    s.write("doomed", 0, b"x").unwrap();
    sync_ok(&mut s);
    s.write("kept", 0, b"VOLATILE").unwrap();
    s.write("new", 0, b"n").unwrap();
    s.delete("doomed").unwrap();
    drop(s);

    let s = FileStorage::open(&dir).expect("reopen");
    s.validate();
    assert_eq!(s.list(), ["doomed", "kept"]);
    assert_eq!(read_all(&s, "kept").unwrap(), b"durable");
    assert_eq!(read_all(&s, "doomed").unwrap(), b"x");
    assert!(!s.has_volatile_changes(), "a fresh load is all durable");
}

/// Random writes, truncations, deletes, syncs and crashes (drop and reopen) against an
/// oracle of the volatile and the durable image; after every step the storage reads as
/// the volatile oracle, after every sync the directory holds the durable one.
#[test]
fn matches_an_oracle_across_syncs_and_crashes() {
    const FILES: [&str; 4] = ["a", "b", "wal-00000000000000000000.seg", "x.pages"];
    let tmp = temp("logspine-model");
    for seed in 0..24u64 {
        let dir = tmp.path().join(format!("seed{seed}"));
        let mut rng = Rng::new(seed);
        let mut s = FileStorage::open(&dir).unwrap();
        let mut live: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut durable = live.clone();
        for step in 0..120 {
            let file = FILES[rng.index(FILES.len())];
            let ctx = format!("seed {seed} step {step}");
            match rng.below(100) {
                0..=49 => {
                    let offset = rng.below(9000);
                    let mut data = vec![0u8; rng.index(5000)];
                    rng.fill(&mut data);
                    s.write(file, offset, &data).unwrap();
                    let buf = live.entry(file.to_owned()).or_default();
                    let end = usize::try_from(offset).unwrap() + data.len();
                    if buf.len() < end {
                        buf.resize(end, 0);
                    }
                    buf[end - data.len()..end].copy_from_slice(&data);
                }
                50..=64 => {
                    let len = rng.below(12_000);
                    s.set_len(file, len).unwrap();
                    live.entry(file.to_owned())
                        .or_default()
                        .resize(usize::try_from(len).unwrap(), 0);
                }
                65..=71 => {
                    s.delete(file).unwrap();
                    live.remove(file);
                }
                72..=89 => {
                    sync_ok(&mut s);
                    durable = live.clone();
                    assert_eq!(on_disk(&dir), durable, "{ctx}: the directory after a sync");
                }
                _ => {
                    drop(s);
                    s = FileStorage::open(&dir).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                    live = durable.clone();
                }
            }
            s.validate();
            assert_eq!(image(&s), live, "{ctx}: the volatile view");
            assert_eq!(
                s.has_volatile_changes(),
                !s.dirty_files().is_empty(),
                "{ctx}"
            );
        }
    }
}

#[test]
fn a_failed_sync_reports_an_error_and_keeps_its_changes_for_the_next() {
    let tmp = temp("logspine-fail");
    let dir = tmp.path().join("db");
    let mut s = FileStorage::open(&dir).unwrap();
    s.write("ok", 0, b"fine").unwrap();
    s.write("blocked", 0, b"data").unwrap();
    // Something else takes the name on disk: a directory cannot be opened for writing.
    fs::create_dir(dir.join("blocked")).unwrap();
    let id = s.sync().unwrap();
    let done = s.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, id);
    match &done[0].result {
        Err(StorageError::Io { detail }) => {
            assert!(
                detail.contains("blocked"),
                "the error names the file: {detail}"
            );
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(
        s.has_volatile_changes(),
        "a failed sync keeps its changes dirty"
    );
    assert_eq!(s.dirty_files(), ["blocked", "ok"]);
    assert_eq!(s.stats().syncs_failed, 1);
    assert_eq!(
        read_all(&s, "blocked").unwrap(),
        b"data",
        "the image is untouched"
    );

    fs::remove_dir(dir.join("blocked")).unwrap();
    sync_ok(&mut s);
    assert!(!s.has_volatile_changes());
    drop(s);
    let s = FileStorage::open(&dir).unwrap();
    assert_eq!(
        read_all(&s, "blocked").unwrap(),
        b"data",
        "the retry made it durable"
    );
    assert_eq!(read_all(&s, "ok").unwrap(), b"fine");
}

/// A full disk, for real: the file is a symbolic link to `/dev/full`, whose writes fail
/// with `ENOSPC`.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_quota_exceeded_and_a_later_sync_retries() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let tmp = temp("logspine-full");
    let dir = tmp.path().join("db");
    let mut s = FileStorage::open(&dir).unwrap();
    s.write("wal", 0, b"record").unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.join("wal")).unwrap();
    s.sync().unwrap();
    let done = s.take_completions();
    assert!(
        matches!(&done[0].result, Err(StorageError::QuotaExceeded { detail }) if detail.contains("wal")),
        "ENOSPC is QuotaExceeded naming the file: {done:?}"
    );
    assert!(s.has_volatile_changes());
    fs::remove_file(dir.join("wal")).unwrap();
    sync_ok(&mut s);
    assert_eq!(fs::read(dir.join("wal")).unwrap(), b"record");
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let tmp = temp("logspine-lock");
    let dir = tmp.path().join("db");
    let first = FileStorage::open(&dir).expect("first writer");
    match FileStorage::open(&dir) {
        Err(StorageError::Unavailable { detail }) => {
            assert!(
                detail.contains(&dir.display().to_string()),
                "the message names the directory: {detail}"
            );
            assert!(
                detail.contains(&format!("pid {}", std::process::id())),
                "and the holder: {detail}"
            );
        }
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a second writer was allowed"),
    }
    drop(first);
    let again = FileStorage::open(&dir).expect("the lock goes with the first writer");
    drop(again);
}

#[test]
fn the_lock_file_name_is_not_a_storage_file() {
    let tmp = temp("logspine-reserved");
    let mut s = FileStorage::open(tmp.path()).unwrap();
    assert!(matches!(
        s.write(LOCK_FILE, 0, b"x"),
        Err(StorageError::InvalidName { .. })
    ));
    assert!(s.list().is_empty(), "the lock file is not listed");
}

/// Opens `dir` expecting a refusal naming `entry`; checks the directory gained nothing.
fn expect_refused(dir: &Path, entry: &str) {
    let before: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    match FileStorage::open(dir) {
        Err(StorageError::Corrupt { detail }) => {
            assert!(
                detail.contains(entry),
                "the message names {entry}: {detail}"
            );
        }
        Err(other) => panic!("expected Corrupt naming {entry}, got {other}"),
        Ok(s) => panic!("opened a directory holding {entry}: {:?}", s.list()),
    }
    let after: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        before.len(),
        after.len(),
        "a refused open leaves nothing behind"
    );
}

#[test]
fn a_directory_holding_what_is_not_a_storage_file_is_refused() {
    let tmp = temp("logspine-stray");

    let d = tmp.path().join("subdir");
    fs::create_dir_all(d.join("nested")).unwrap();
    fs::write(d.join("fine"), b"ok").unwrap();
    expect_refused(&d, "nested");

    let d = tmp.path().join("long");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("n".repeat(201)), b"x").unwrap();
    expect_refused(&d, "longer than 200 bytes");

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let d = tmp.path().join("link");
        fs::create_dir(&d).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("escape")).unwrap();
        expect_refused(&d, "symbolic link");

        let d = tmp.path().join("bytes");
        fs::create_dir(&d).unwrap();
        fs::write(d.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").unwrap();
        expect_refused(&d, "not UTF-8");
    }

    let file = tmp.path().join("plain");
    fs::write(&file, b"x").unwrap();
    assert!(matches!(
        FileStorage::open(&file),
        Err(StorageError::Unavailable { detail }) if detail.contains("not a directory")
    ));
}

#[test]
fn any_regular_file_with_a_valid_name_is_loaded_as_it_is() {
    let tmp = temp("logspine-load");
    let mut garbage = vec![0u8; 10_000];
    Rng::new(5).fill(&mut garbage);
    fs::write(tmp.path().join("junk.bin"), &garbage).unwrap();
    fs::write(tmp.path().join("empty"), b"").unwrap();
    let s = FileStorage::open(tmp.path()).unwrap();
    assert_eq!(s.list(), ["empty", "junk.bin"]);
    assert_eq!(read_all(&s, "junk.bin").unwrap(), garbage);
    assert_eq!(s.len("empty").unwrap(), 0);
}

#[test]
fn the_harness_crash_is_drop_and_reopen() {
    let mut h = FileHarness::new("logspine-harness");
    let mut s = block_on(h.fresh());
    s.write("f", 0, b"synced").unwrap();
    sync_ok(&mut s);
    s.write("f", 0, b"lost!!").unwrap();
    let s = block_on(h.crash(s));
    assert_eq!(read_all(&s, "f").unwrap(), b"synced");
}
