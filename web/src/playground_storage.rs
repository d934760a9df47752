//! [`PlaygroundStorage`]: the database view's storage — IndexedDB, or the simulated disk —
//! as one type.
//!
//! One type rather than a `Db<IdbStorage>` and a `Db<SimDisk>`: the database engine itself
//! is compiled once whatever its storage (it takes it as `dyn Storage`), but the view's
//! engine around it (`DbEngine`, the workload) is generic over the storage, so each
//! storage type would put another copy of that into the wasm bundle. Every call is a
//! `match` that hands it to the backend unchanged, so the [`Storage`] contract is exactly
//! the backend's.

use logspine_core::{CrashReport, SimDisk, Storage, StorageError, SyncCompletion, SyncId};

use crate::db_state::DbBackend;
use crate::idb::IdbStorage;

/// IndexedDB or the simulated disk. See the module docs.
#[derive(Debug)]
pub enum PlaygroundStorage {
    /// IndexedDB: durable across reloads; never tears.
    IndexedDb(IdbStorage),
    /// The simulated disk, in memory; its clock is the page's. Boxed: it is large.
    SimDisk(Box<SimDisk>),
}

macro_rules! delegate {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            PlaygroundStorage::IndexedDb($s) => $body,
            PlaygroundStorage::SimDisk($s) => $body,
        }
    };
}

impl PlaygroundStorage {
    /// Which backend this is.
    pub fn backend(&self) -> DbBackend {
        match self {
            PlaygroundStorage::IndexedDb(_) => DbBackend::IndexedDb,
            PlaygroundStorage::SimDisk(_) => DbBackend::SimDisk,
        }
    }

    /// The IndexedDB backend, if this is it.
    pub fn idb(&self) -> Option<&IdbStorage> {
        match self {
            PlaygroundStorage::IndexedDb(s) => Some(s),
            PlaygroundStorage::SimDisk(_) => None,
        }
    }

    /// The simulated disk, if this is it.
    pub fn sim_disk(&self) -> Option<&SimDisk> {
        match self {
            PlaygroundStorage::SimDisk(d) => Some(d),
            PlaygroundStorage::IndexedDb(_) => None,
        }
    }

    /// The simulated disk, mutably, if this is it.
    pub fn sim_disk_mut(&mut self) -> Option<&mut SimDisk> {
        match self {
            PlaygroundStorage::SimDisk(d) => Some(d),
            PlaygroundStorage::IndexedDb(_) => None,
        }
    }

    /// Crashes the simulated disk (`SimDisk::crash`); `None` for IndexedDB, whose crash is
    /// closing it.
    pub fn crash_sim_disk(&mut self) -> Option<CrashReport> {
        self.sim_disk_mut().map(SimDisk::crash)
    }
}

impl Storage for PlaygroundStorage {
    fn list(&self) -> Vec<String> {
        delegate!(self, s => s.list())
    }

    fn len(&self, file: &str) -> Result<u64, StorageError> {
        delegate!(self, s => s.len(file))
    }

    fn exists(&self, file: &str) -> bool {
        delegate!(self, s => s.exists(file))
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        delegate!(self, s => s.read(file, offset, buf))
    }

    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        delegate!(self, s => s.write(file, offset, data))
    }

    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        delegate!(self, s => s.set_len(file, len))
    }

    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        delegate!(self, s => s.delete(file))
    }

    fn sync(&mut self) -> Result<SyncId, StorageError> {
        delegate!(self, s => s.sync())
    }

    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        delegate!(self, s => s.take_completions())
    }

    fn syncs_in_flight(&self) -> u64 {
        delegate!(self, s => s.syncs_in_flight())
    }

    fn has_volatile_changes(&self) -> bool {
        delegate!(self, s => s.has_volatile_changes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::SimDiskConfig;

    #[test]
    fn the_simulated_disk_behaves_as_itself_through_the_wrapper() {
        let mut s = PlaygroundStorage::SimDisk(Box::new(SimDisk::new(SimDiskConfig::default(), 1)));
        assert_eq!(s.backend(), DbBackend::SimDisk);
        assert!(s.idb().is_none());
        s.write("f", 0, b"durable").unwrap();
        let id = s.sync().unwrap();
        assert_eq!(s.syncs_in_flight(), 1);
        s.sim_disk_mut().unwrap().advance(100);
        let done = s.take_completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, id);
        s.write("f", 0, b"volatil").unwrap();
        assert!(s.has_volatile_changes());
        let report = s.crash_sim_disk().expect("a simulated crash");
        assert_eq!(report.syncs_lost, 0);
        let mut buf = [0; 7];
        s.read("f", 0, &mut buf).unwrap();
        assert_eq!(&buf, b"durable", "the unsynced write is gone");
        assert_eq!(s.list(), vec!["f".to_owned()]);
        assert!(s.exists("f") && !s.exists("g"));
    }
}
