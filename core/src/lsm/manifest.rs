//! The manifest: which tables exist, at which level, as a log of version edits.
//!
//! The manifest is a [`Log`] (named `manifest` by default) whose records are
//! [`VersionEdit`]s; the [`Version`] is the fold of the edits over an empty version, so
//! [`Manifest::open`] rebuilds it by replaying the log. A torn tail is truncated by the
//! `Log`'s own recovery; an edit that survives is applied whole (one record, one atomic
//! change: a flush adds a table and moves `last_flushed_lsn` together, a compaction adds
//! its outputs and removes its inputs together).
//!
//! # Edit encoding (the payload of one manifest record)
//! ```text
//! 0   1  format 1
//! 1   .. items until the end, each a tag u8 then its fields (integers LE):
//!        1 add      level u8 | id u64 | size u64 | entries u64 | tombstones u64 |
//!                   min lsn u64 | max lsn u64 | min_key_len u32 | min key |
//!                   max_key_len u32 | max key
//!        2 remove   level u8 | id u64
//!        3 next id  u64 (the next table id to hand out)
//!        4 flushed  u64 (the largest LSN now in a table)
//! ```
//! [`VersionEdit::decode`] never panics; anything else is an [`EditDecodeError`].
//!
//! # Version invariants (checked by [`Version::validate`], and by [`Version::apply`],
//! which refuses an edit that would break them with [`LsmError::Inconsistent`])
//! * Level 0 is newest first: `l0[i].min_lsn > l0[i+1].max_lsn` (LSN ranges disjoint and
//!   descending; flushes of successive memtables, and size-tiered merges of adjacent runs,
//!   keep this). Keys may overlap, so a read checks every L0 table that covers the key,
//!   newest first, and the first hit wins.
//! * Levels 1 and up are sorted by key and do not overlap: `l[i].max_key < l[i+1].min_key`,
//!   so a read checks at most one table per level.
//! * Every table has `min_key <= max_key`, `min_lsn <= max_lsn`, at least one entry, an
//!   id below `next_table_id` and unique across levels, and `max_lsn <= last_flushed_lsn`.
//! * `next_table_id` and `last_flushed_lsn` never go back.

use crate::log::{Log, LogConfig, Lsn, RecoveryReport};
use crate::storage::{Storage, SyncCompletion, SyncId};

use super::sstable::TableMeta;
use super::{put_bytes, Cursor, LsmError, TableId};

/// The most levels a version may have (levels are a `u8` on disk).
pub const MAX_LEVELS: u32 = 16;

const EDIT_FORMAT: u8 = 1;
const TAG_ADD: u8 = 1;
const TAG_REMOVE: u8 = 2;
const TAG_NEXT_ID: u8 = 3;
const TAG_FLUSHED: u8 = 4;

/// Why a manifest record does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditDecodeError {
    /// The record is empty.
    #[error("empty edit")]
    Empty,
    /// A format this code does not read.
    #[error("edit format {0} (this code reads {EDIT_FORMAT})")]
    UnknownFormat(u8),
    /// An unknown item tag.
    #[error("unknown item tag {tag} at byte {at}")]
    BadTag {
        /// The tag.
        tag: u8,
        /// Where.
        at: u64,
    },
    /// An item runs past the end of the record.
    #[error("item at byte {at} is truncated")]
    Truncated {
        /// Where the item starts.
        at: u64,
    },
}

/// One atomic change to the set of tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Tables added, with their level.
    pub added: Vec<(u32, TableMeta)>,
    /// Tables removed, with the level they are removed from.
    pub removed: Vec<(u32, TableId)>,
    /// The next table id, if it changes.
    pub next_table_id: Option<u64>,
    /// The largest LSN in a table, if it changes (a flush).
    pub last_flushed_lsn: Option<Lsn>,
}

impl VersionEdit {
    /// The encoding in the module docs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![EDIT_FORMAT];
        for (level, t) in &self.added {
            out.push(TAG_ADD);
            out.push(u8::try_from(*level).expect("levels are below MAX_LEVELS"));
            for v in [
                t.id.0,
                t.size_bytes,
                t.entries,
                t.tombstones,
                t.min_lsn.0,
                t.max_lsn.0,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_bytes(&mut out, &t.min_key);
            put_bytes(&mut out, &t.max_key);
        }
        for (level, id) in &self.removed {
            out.push(TAG_REMOVE);
            out.push(u8::try_from(*level).expect("levels are below MAX_LEVELS"));
            out.extend_from_slice(&id.0.to_le_bytes());
        }
        if let Some(n) = self.next_table_id {
            out.push(TAG_NEXT_ID);
            out.extend_from_slice(&n.to_le_bytes());
        }
        if let Some(l) = self.last_flushed_lsn {
            out.push(TAG_FLUSHED);
            out.extend_from_slice(&l.0.to_le_bytes());
        }
        out
    }

    /// Decodes an edit; never panics.
    pub fn decode(bytes: &[u8]) -> Result<VersionEdit, EditDecodeError> {
        let mut c = Cursor::new(bytes);
        match c.u8() {
            None => return Err(EditDecodeError::Empty),
            Some(EDIT_FORMAT) => {}
            Some(f) => return Err(EditDecodeError::UnknownFormat(f)),
        }
        let mut edit = VersionEdit::default();
        while c.remaining() > 0 {
            let at = c.position() as u64;
            let truncated = EditDecodeError::Truncated { at };
            match c.u8().ok_or(truncated.clone())? {
                TAG_ADD => {
                    let item = (|| {
                        let level = u32::from(c.u8()?);
                        let nums = [c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?];
                        let min_key = c.bytes()?.to_vec();
                        let max_key = c.bytes()?.to_vec();
                        Some((
                            level,
                            TableMeta {
                                id: TableId(nums[0]),
                                size_bytes: nums[1],
                                entries: nums[2],
                                tombstones: nums[3],
                                min_key,
                                max_key,
                                min_lsn: Lsn(nums[4]),
                                max_lsn: Lsn(nums[5]),
                            },
                        ))
                    })();
                    edit.added.push(item.ok_or(truncated)?);
                }
                TAG_REMOVE => {
                    let (Some(level), Some(id)) = (c.u8(), c.u64()) else {
                        return Err(truncated);
                    };
                    edit.removed.push((u32::from(level), TableId(id)));
                }
                TAG_NEXT_ID => edit.next_table_id = Some(c.u64().ok_or(truncated)?),
                TAG_FLUSHED => edit.last_flushed_lsn = Some(Lsn(c.u64().ok_or(truncated)?)),
                tag => return Err(EditDecodeError::BadTag { tag, at }),
            }
        }
        Ok(edit)
    }
}

/// The set of tables per level (module docs for the invariants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    levels: Vec<Vec<TableMeta>>,
    next_table_id: u64,
    last_flushed_lsn: Option<Lsn>,
}

impl Version {
    /// An empty version with `levels` levels (1 to [`MAX_LEVELS`]).
    pub fn new(levels: u32) -> Result<Version, LsmError> {
        if !(1..=MAX_LEVELS).contains(&levels) {
            return Err(LsmError::InvalidConfig(format!(
                "{levels} levels (must be 1..={MAX_LEVELS})"
            )));
        }
        Ok(Version {
            levels: vec![Vec::new(); levels as usize],
            next_table_id: 0,
            last_flushed_lsn: None,
        })
    }

    /// The number of levels.
    pub fn num_levels(&self) -> u32 {
        u32::try_from(self.levels.len()).expect("at most MAX_LEVELS")
    }

    /// The tables of `level`: L0 newest first, L1+ in key order. Empty past the last level.
    pub fn level(&self, level: u32) -> &[TableMeta] {
        self.levels.get(level as usize).map_or(&[], Vec::as_slice)
    }

    /// Every level.
    pub fn levels(&self) -> &[Vec<TableMeta>] {
        &self.levels
    }

    /// The id the next new table gets.
    pub fn next_table_id(&self) -> TableId {
        TableId(self.next_table_id)
    }

    /// The largest LSN in any table: the WAL must be replayed from the LSN after it.
    pub fn last_flushed_lsn(&self) -> Option<Lsn> {
        self.last_flushed_lsn
    }

    /// Tables in all levels.
    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Bytes of the tables in `level`.
    pub fn level_bytes(&self, level: u32) -> u64 {
        self.level(level).iter().map(|t| t.size_bytes).sum()
    }

    /// Bytes of all tables.
    pub fn total_bytes(&self) -> u64 {
        (0..self.num_levels()).map(|l| self.level_bytes(l)).sum()
    }

    /// The level and metadata of table `id`.
    pub fn find(&self, id: TableId) -> Option<(u32, &TableMeta)> {
        self.levels.iter().enumerate().find_map(|(l, ts)| {
            ts.iter()
                .find(|t| t.id == id)
                .map(|t| (u32::try_from(l).expect("at most MAX_LEVELS"), t))
        })
    }

    /// The tables of `level` whose key range meets `lo..=hi`.
    pub fn overlapping(&self, level: u32, lo: &[u8], hi: &[u8]) -> Vec<&TableMeta> {
        self.level(level)
            .iter()
            .filter(|t| t.overlaps(lo, hi))
            .collect()
    }

    /// Applies an edit, or returns [`LsmError::Inconsistent`] and changes nothing.
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<(), LsmError> {
        let mut next = self.clone();
        for (level, id) in &edit.removed {
            let ts = next
                .levels
                .get_mut(*level as usize)
                .ok_or_else(|| LsmError::Inconsistent(format!("no level {level}")))?;
            let i = ts
                .iter()
                .position(|t| t.id == *id)
                .ok_or_else(|| LsmError::Inconsistent(format!("{id} is not in level {level}")))?;
            ts.remove(i);
        }
        if let Some(n) = edit.next_table_id {
            if n < next.next_table_id {
                return Err(LsmError::Inconsistent(format!(
                    "next table id goes back from {} to {n}",
                    next.next_table_id
                )));
            }
            next.next_table_id = n;
        }
        if let Some(l) = edit.last_flushed_lsn {
            if next.last_flushed_lsn.is_some_and(|old| l < old) {
                return Err(LsmError::Inconsistent(format!(
                    "last flushed LSN goes back to {l}"
                )));
            }
            next.last_flushed_lsn = Some(l);
        }
        for (level, t) in &edit.added {
            if next.find(t.id).is_some() {
                return Err(LsmError::Inconsistent(format!("{} added twice", t.id)));
            }
            next.levels
                .get_mut(*level as usize)
                .ok_or_else(|| LsmError::Inconsistent(format!("no level {level}")))?
                .push(t.clone());
        }
        crate::sort::sort_by(&mut next.levels[0], |a, b| {
            (b.max_lsn, b.id).cmp(&(a.max_lsn, a.id))
        });
        for ts in next.levels.iter_mut().skip(1) {
            crate::sort::sort_by(ts, |a, b| a.min_key.cmp(&b.min_key));
        }
        next.check().map_err(LsmError::Inconsistent)?;
        *self = next;
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let mut ids = crate::vec_map::VecSet::new();
        for (l, ts) in self.levels.iter().enumerate() {
            for t in ts {
                if t.min_key > t.max_key || t.min_lsn > t.max_lsn || t.entries == 0 {
                    return Err(format!(
                        "{} in level {l} has an empty or inverted range",
                        t.id
                    ));
                }
                if t.id.0 >= self.next_table_id {
                    return Err(format!(
                        "{} in level {l} is not below the next id {}",
                        t.id, self.next_table_id
                    ));
                }
                if !ids.insert(t.id) {
                    return Err(format!("{} appears twice", t.id));
                }
                if self.last_flushed_lsn.is_none_or(|f| t.max_lsn > f) {
                    return Err(format!(
                        "{} holds {} but the last flushed LSN is {:?}",
                        t.id, t.max_lsn, self.last_flushed_lsn
                    ));
                }
            }
            for w in ts.windows(2) {
                if l == 0 {
                    if w[0].min_lsn <= w[1].max_lsn {
                        return Err(format!(
                            "L0 {} ({}..={}) is not newer than {} ({}..={})",
                            w[0].id,
                            w[0].min_lsn,
                            w[0].max_lsn,
                            w[1].id,
                            w[1].min_lsn,
                            w[1].max_lsn
                        ));
                    }
                } else if w[0].max_key >= w[1].min_key {
                    return Err(format!("L{l} {} overlaps {}", w[0].id, w[1].id));
                }
            }
        }
        Ok(())
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        if let Err(e) = self.check() {
            panic!("version invariant broken: {e}");
        }
    }
}

/// How the manifest is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestConfig {
    /// Its log (name `manifest` by default).
    pub log: LogConfig,
    /// Levels in the version.
    pub levels: u32,
}

impl Default for ManifestConfig {
    /// The log `manifest` with 64 KiB segments, seven levels.
    fn default() -> Self {
        ManifestConfig {
            log: LogConfig::new("manifest"),
            levels: 7,
        }
    }
}

/// The manifest: the log of edits and the version it folds to (module docs).
#[derive(Clone, Debug)]
pub struct Manifest {
    log: Log,
    version: Version,
    edits: u64,
}

impl Manifest {
    /// Opens (recovers) the manifest: opens its log (which truncates a torn tail) and
    /// replays every edit over an empty version. An edit that does not decode is
    /// [`LsmError::BadEdit`]; one that does not apply is [`LsmError::Inconsistent`].
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        config: ManifestConfig,
    ) -> Result<(Manifest, RecoveryReport), LsmError> {
        let mut version = Version::new(config.levels)?;
        let (log, report) = Log::open(storage, config.log)?;
        let mut edits = 0;
        for rec in log.scan(storage, log.first_lsn())? {
            let rec = rec?;
            let edit = VersionEdit::decode(&rec.payload).map_err(|reason| LsmError::BadEdit {
                lsn: rec.lsn,
                reason,
            })?;
            if edit
                .added
                .iter()
                .map(|(l, _)| l)
                .chain(edit.removed.iter().map(|(l, _)| l))
                .any(|l| *l >= config.levels)
            {
                return Err(LsmError::Inconsistent(format!(
                    "edit at {} names a level beyond the configured {}",
                    rec.lsn, config.levels
                )));
            }
            version.apply(&edit)?;
            edits += 1;
        }
        let m = Manifest {
            log,
            version,
            edits,
        };
        m.validate();
        Ok((m, report))
    }

    /// The current version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The log of edits.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Edits applied since the log began (replayed plus appended).
    pub fn edits(&self) -> u64 {
        self.edits
    }

    /// Applies `edit` to the version and appends it to the log; on any error nothing
    /// changes. The edit is durable once a sync requested afterwards completes.
    pub fn append<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        edit: &VersionEdit,
    ) -> Result<Lsn, LsmError> {
        if edit
            .added
            .iter()
            .any(|(l, _)| *l >= self.version.num_levels())
        {
            return Err(LsmError::InvalidArgument(
                "an edit adds a table beyond the last level".into(),
            ));
        }
        let mut next = self.version.clone();
        next.apply(edit)?;
        let lsn = self.log.append(storage, &edit.encode())?;
        self.version = next;
        self.edits += 1;
        Ok(lsn)
    }

    /// Asks the storage for a sync covering every edit appended so far.
    pub fn request_sync<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
    ) -> Result<SyncId, LsmError> {
        Ok(self.log.request_sync(storage)?)
    }

    /// Hands a storage completion to the manifest's log (see [`Log::handle_sync_completion`]).
    pub fn handle_sync_completion(&mut self, completion: &SyncCompletion) {
        self.log.handle_sync_completion(completion);
    }

    /// Edits durable so far (a crash now keeps at least these).
    pub fn durable_edits(&self) -> u64 {
        self.edits - (self.log.next_lsn().0 - self.log.durable_next().0)
    }

    /// Checks the log's and the version's invariants; panics on a violation (a bug).
    pub fn validate(&self) {
        self.log.validate();
        self.version.validate();
        assert_eq!(
            self.edits,
            self.log.next_lsn().0 - self.log.first_lsn().0,
            "one edit per manifest record"
        );
    }
}

/// Table files in `files` that `version` does not list: written by a flush or compaction
/// whose edit never became durable. Delete them after recovery (their ids will be handed
/// out again).
pub fn orphan_tables(files: &[String], version: &Version) -> Vec<String> {
    files
        .iter()
        .filter(|f| TableId::parse_file_name(f).is_some_and(|id| version.find(id).is_none()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn meta(id: u64, keys: (&str, &str), lsns: (u64, u64)) -> TableMeta {
        TableMeta {
            id: TableId(id),
            size_bytes: 100 * id + 50,
            entries: 10,
            tombstones: 1,
            min_key: keys.0.as_bytes().to_vec(),
            max_key: keys.1.as_bytes().to_vec(),
            min_lsn: Lsn(lsns.0),
            max_lsn: Lsn(lsns.1),
        }
    }

    fn flush(id: u64, keys: (&str, &str), lsns: (u64, u64)) -> VersionEdit {
        VersionEdit {
            added: vec![(0, meta(id, keys, lsns))],
            next_table_id: Some(id + 1),
            last_flushed_lsn: Some(Lsn(lsns.1)),
            ..VersionEdit::default()
        }
    }

    #[test]
    fn edits_round_trip_and_garbage_is_an_error() {
        let edit = VersionEdit {
            added: vec![(2, meta(5, ("a", "m"), (3, 9)))],
            removed: vec![(1, TableId(2)), (0, TableId(4))],
            next_table_id: Some(6),
            last_flushed_lsn: Some(Lsn(9)),
        };
        let bytes = edit.encode();
        assert_eq!(VersionEdit::decode(&bytes), Ok(edit));
        assert_eq!(VersionEdit::decode(&[]), Err(EditDecodeError::Empty));
        assert_eq!(
            VersionEdit::decode(&[9]),
            Err(EditDecodeError::UnknownFormat(9))
        );
        assert_eq!(
            VersionEdit::decode(&[1, 77]),
            Err(EditDecodeError::BadTag { tag: 77, at: 1 })
        );
        for cut in 1..bytes.len() {
            // Every proper prefix either decodes (it ends between items) or is truncated.
            match VersionEdit::decode(&bytes[..cut]) {
                Ok(_) | Err(EditDecodeError::Truncated { .. }) => {}
                Err(e) => panic!("prefix {cut}: {e}"),
            }
        }
    }

    #[test]
    fn version_keeps_level_invariants() {
        let mut v = Version::new(3).unwrap();
        v.apply(&flush(0, ("a", "k"), (1, 10))).unwrap();
        v.apply(&flush(1, ("c", "z"), (11, 20))).unwrap();
        v.validate();
        // Newest first in L0.
        let l0: Vec<u64> = v.level(0).iter().map(|t| t.id.0).collect();
        assert_eq!(l0, [1, 0]);
        // A compaction of both into L1 as two non-overlapping tables.
        let compaction = VersionEdit {
            added: vec![
                (1, meta(3, ("n", "z"), (5, 20))),
                (1, meta(2, ("a", "m"), (1, 19))),
            ],
            removed: vec![(0, TableId(0)), (0, TableId(1))],
            next_table_id: Some(4),
            last_flushed_lsn: None,
        };
        v.apply(&compaction).unwrap();
        v.validate();
        let l1: Vec<u64> = v.level(1).iter().map(|t| t.id.0).collect();
        assert_eq!(l1, [2, 3]);
        assert_eq!(v.level_bytes(1), 250 + 350);
        assert_eq!(v.find(TableId(3)).map(|(l, _)| l), Some(1));
        let before = v.clone();
        // Overlap in L1, removal of a missing table, an id reused, an old LSN in L0: all
        // refused and nothing changes.
        let bad = [
            VersionEdit {
                added: vec![(1, meta(4, ("b", "c"), (1, 2)))],
                next_table_id: Some(5),
                ..VersionEdit::default()
            },
            VersionEdit {
                removed: vec![(1, TableId(0))],
                ..VersionEdit::default()
            },
            VersionEdit {
                added: vec![(2, meta(3, ("a", "b"), (1, 2)))],
                ..VersionEdit::default()
            },
            VersionEdit {
                added: vec![(0, meta(4, ("a", "b"), (30, 40)))],
                next_table_id: Some(5),
                ..VersionEdit::default()
            },
            VersionEdit {
                next_table_id: Some(1),
                ..VersionEdit::default()
            },
        ];
        for (i, e) in bad.iter().enumerate() {
            assert!(
                matches!(v.apply(e), Err(LsmError::Inconsistent(_))),
                "edit {i}"
            );
            assert_eq!(v, before, "edit {i} changed the version");
        }
        assert!(Version::new(0).is_err());
        assert!(Version::new(MAX_LEVELS + 1).is_err());
    }

    #[test]
    fn manifest_replays_to_the_same_version_and_names_orphans() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 3);
        let (mut m, _) = Manifest::open(&mut disk, ManifestConfig::default()).unwrap();
        m.append(&mut disk, &flush(0, ("a", "c"), (0, 4))).unwrap();
        m.append(&mut disk, &flush(1, ("b", "d"), (5, 9))).unwrap();
        assert!(m
            .append(
                &mut disk,
                &VersionEdit {
                    removed: vec![(0, TableId(7))],
                    ..VersionEdit::default()
                }
            )
            .is_err());
        assert_eq!(m.edits(), 2);
        let id = m.request_sync(&mut disk).unwrap();
        disk.settle();
        for c in disk.take_completions() {
            assert_eq!(c.id, id);
            m.handle_sync_completion(&c);
        }
        assert_eq!(m.durable_edits(), 2);
        m.validate();
        disk.crash();
        let (again, report) = Manifest::open(&mut disk, ManifestConfig::default()).unwrap();
        assert_eq!(report.records, 2);
        assert_eq!(again.version(), m.version());
        let files = vec![
            TableId(0).file_name(),
            TableId(1).file_name(),
            TableId(2).file_name(),
            "manifest-00000000000000000000.seg".to_owned(),
        ];
        assert_eq!(
            orphan_tables(&files, again.version()),
            [TableId(2).file_name()]
        );
    }
}
