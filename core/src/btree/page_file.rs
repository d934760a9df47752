//! `PageFile`: fixed-size pages in one file over [`Storage`].
//!
//! Page `n` occupies bytes `n * page_size .. (n + 1) * page_size` of the file named in
//! [`PageFileConfig`]; page 0 is the meta page. A `PageFile` holds no state but its
//! configuration: caching and counting are the buffer pool's job, and syncing is the
//! caller's (the checkpointer syncs the storage after writing pages; any sync covers
//! every file, which is why the buffer pool's WAL rule matters).
//!
//! Reading checks everything a page can get wrong on disk and names it:
//! [`BTreeError::MissingPage`] past the end of the file, [`BTreeError::UnwrittenPage`]
//! for zeros, [`BTreeError::TornPage`] for a checksum mismatch (a torn write or bit rot;
//! a page cut short by the end of the file is read as zeros beyond it, so it is torn
//! too), [`BTreeError::CorruptPage`] for a good checksum over a broken page (including a
//! page found at the wrong offset). Writing seals the page's checksum first.

use super::page::{check_page_size, Meta, Page, PageType, DEFAULT_PAGE_BYTES};
use super::redo::{apply_redo, check_redo_page, PageOp, RedoOutcome};
use super::{BTreeError, PageId};
use crate::log::Lsn;
use crate::storage::{check_name, Storage, StorageError};

/// Where the pages live and how big they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageFileConfig {
    /// The file name.
    pub file: String,
    /// Bytes per page: a power of two in 512..=65536.
    pub page_size: u32,
}

impl Default for PageFileConfig {
    /// `btree.pages` with 4096-byte pages.
    fn default() -> Self {
        PageFileConfig {
            file: "btree.pages".to_owned(),
            page_size: DEFAULT_PAGE_BYTES,
        }
    }
}

/// Pages in one file. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageFile {
    config: PageFileConfig,
}

impl PageFile {
    /// Checks the configuration.
    pub fn new(config: PageFileConfig) -> Result<PageFile, BTreeError> {
        check_page_size(config.page_size)?;
        check_name(&config.file)?;
        Ok(PageFile { config })
    }

    /// The configuration.
    pub fn config(&self) -> &PageFileConfig {
        &self.config
    }

    /// The file name.
    pub fn file(&self) -> &str {
        &self.config.file
    }

    /// Bytes per page.
    pub fn page_size(&self) -> u32 {
        self.config.page_size
    }

    fn offset(&self, id: PageId) -> Result<u64, BTreeError> {
        id.0.checked_mul(u64::from(self.config.page_size))
            .ok_or_else(|| BTreeError::InvalidArgument(format!("{id} is past any file")))
    }

    fn page_buf(&self) -> Vec<u8> {
        vec![0; usize::try_from(self.config.page_size).expect("u32 fits usize")]
    }

    /// The file's length in bytes (0 when it does not exist).
    pub fn file_bytes<S: Storage + ?Sized>(&self, storage: &S) -> Result<u64, BTreeError> {
        match storage.len(&self.config.file) {
            Ok(n) => Ok(n),
            Err(StorageError::NotFound { .. }) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Whole pages in the file.
    pub fn pages_on_disk<S: Storage + ?Sized>(&self, storage: &S) -> Result<u64, BTreeError> {
        Ok(self.file_bytes(storage)? / u64::from(self.config.page_size))
    }

    /// The bytes at page `id`'s place, zeros where the file ends early (or does not
    /// exist), with no checks: what redo starts from.
    pub fn read_raw<S: Storage + ?Sized>(
        &self,
        storage: &S,
        id: PageId,
    ) -> Result<Vec<u8>, BTreeError> {
        let offset = self.offset(id)?;
        let file_len = self.file_bytes(storage)?;
        let mut buf = self.page_buf();
        if offset < file_len {
            let have = (file_len - offset).min(buf.len() as u64);
            let have = usize::try_from(have).expect("at most a page");
            storage.read(&self.config.file, offset, &mut buf[..have])?;
        }
        Ok(buf)
    }

    /// Reads and checks page `id` (see the module docs for the errors).
    pub fn read_page<S: Storage + ?Sized>(
        &self,
        storage: &S,
        id: PageId,
    ) -> Result<Page, BTreeError> {
        let offset = self.offset(id)?;
        let file_len = self.file_bytes(storage)?;
        if offset >= file_len {
            return Err(BTreeError::MissingPage {
                page: id,
                file_pages: file_len / u64::from(self.config.page_size),
            });
        }
        let bytes = self.read_raw(storage, id)?;
        Page::decode(id, bytes)
    }

    /// Reads and checks the meta page.
    pub fn read_meta<S: Storage + ?Sized>(&self, storage: &S) -> Result<(Meta, Lsn), BTreeError> {
        let page = self.read_page(storage, PageId::META)?;
        if page.page_type() != PageType::Meta {
            return Err(BTreeError::CorruptTree {
                page: PageId::META,
                reason: format!("page 0 is a {:?} page, not the meta page", page.page_type()),
            });
        }
        Ok((page.meta(), page.lsn()))
    }

    /// Seals `page`'s checksum and writes it at its place. Volatile until the storage
    /// syncs. The buffer pool is the only writer while a tree is open.
    pub fn write_page<S: Storage + ?Sized>(
        &self,
        storage: &mut S,
        page: &mut Page,
    ) -> Result<(), BTreeError> {
        assert_eq!(
            page.page_size(),
            self.config.page_size,
            "page of the wrong size"
        );
        page.seal();
        let offset = self.offset(page.id())?;
        storage.write(&self.config.file, offset, page.bytes())?;
        Ok(())
    }

    /// Redoes one op straight on the file: reads the page's bytes (zeros past the end),
    /// applies the op idempotently by page LSN ([`apply_redo`]) and writes the page back
    /// unless it was skipped. For recovery before the tree is opened: the records being
    /// replayed are already durable in the WAL, so writing their effects obeys the WAL
    /// rule. A page id far past the end of the file is refused
    /// ([`super::redo::REDO_GROWTH_LIMIT_PAGES`]).
    pub fn redo<S: Storage + ?Sized>(
        &self,
        storage: &mut S,
        op: &PageOp,
        lsn: Lsn,
    ) -> Result<RedoOutcome, BTreeError> {
        let id = op.page();
        let known = self
            .file_bytes(storage)?
            .div_ceil(u64::from(self.config.page_size));
        check_redo_page(id, known, lsn)?;
        let mut bytes = self.read_raw(storage, id)?;
        let outcome = apply_redo(&mut bytes, op, lsn)?;
        if !matches!(outcome, RedoOutcome::Skipped { .. }) {
            storage.write(&self.config.file, self.offset(id)?, &bytes)?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn file() -> PageFile {
        PageFile::new(PageFileConfig {
            file: "t.pages".into(),
            page_size: 512,
        })
        .unwrap()
    }

    #[test]
    fn config_is_checked() {
        for bad in [0, 256, 1000, 131_072] {
            assert!(matches!(
                PageFile::new(PageFileConfig {
                    file: "x".into(),
                    page_size: bad
                }),
                Err(BTreeError::InvalidConfig(_))
            ));
        }
        assert!(matches!(
            PageFile::new(PageFileConfig {
                file: "a/b".into(),
                page_size: 512
            }),
            Err(BTreeError::Storage(StorageError::InvalidName { .. }))
        ));
    }

    #[test]
    fn pages_live_at_id_times_page_size_and_errors_are_typed() {
        let f = file();
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let mut p = Page::new_leaf(PageId(2), 512, Lsn(3), None);
        p.leaf_put(b"k", b"v").unwrap();
        f.write_page(&mut disk, &mut p).unwrap();
        assert_eq!(disk.len("t.pages").unwrap(), 3 * 512);
        assert_eq!(f.read_page(&disk, PageId(2)).unwrap(), p);
        assert_eq!(
            f.read_page(&disk, PageId(1)),
            Err(BTreeError::UnwrittenPage { page: PageId(1) })
        );
        assert_eq!(
            f.read_page(&disk, PageId(3)),
            Err(BTreeError::MissingPage {
                page: PageId(3),
                file_pages: 3
            })
        );
        assert!(matches!(
            f.read_page(&disk, PageId(u64::MAX)),
            Err(BTreeError::InvalidArgument(_))
        ));
        // A page written at another page's place is caught by the id in its header.
        let bytes = p.bytes().to_vec();
        disk.write("t.pages", 512, &bytes).unwrap();
        assert!(matches!(
            f.read_page(&disk, PageId(1)),
            Err(BTreeError::CorruptPage {
                page: PageId(1),
                ..
            })
        ));
        // A page cut short by the end of the file reads as torn.
        disk.set_len("t.pages", 2 * 512 + 100).unwrap();
        assert!(matches!(
            f.read_page(&disk, PageId(2)),
            Err(BTreeError::TornPage {
                page: PageId(2),
                ..
            })
        ));
        disk.flip_bit("t.pages", 8 * 600).unwrap();
        assert!(matches!(
            f.read_page(&disk, PageId(1)),
            Err(BTreeError::TornPage { .. })
        ));
    }

    #[test]
    fn redo_on_the_file_creates_repairs_and_skips() {
        let f = file();
        let mut disk = SimDisk::new(SimDiskConfig::default(), 2);
        let meta = PageOp::Meta {
            root: PageId(1),
            page_count: 2,
            free_head: PageId(0),
        };
        let leaf = Page::new_leaf(PageId(1), 512, Lsn(0), None);
        let image = PageOp::Image {
            page: PageId(1),
            bytes: leaf.bytes().to_vec(),
        };
        assert_eq!(f.redo(&mut disk, &meta, Lsn(1)), Ok(RedoOutcome::Formatted));
        assert_eq!(
            f.redo(&mut disk, &image, Lsn(1)),
            Ok(RedoOutcome::Formatted)
        );
        let put = PageOp::Insert {
            page: PageId(1),
            key: b"a".to_vec(),
            value: b"b".to_vec(),
        };
        assert_eq!(f.redo(&mut disk, &put, Lsn(2)), Ok(RedoOutcome::Applied));
        let before = disk.stats().writes;
        assert_eq!(
            f.redo(&mut disk, &put, Lsn(2)),
            Ok(RedoOutcome::Skipped { page_lsn: Lsn(2) })
        );
        assert_eq!(disk.stats().writes, before, "a skipped op writes nothing");
        let (m, lsn) = f.read_meta(&disk).unwrap();
        assert_eq!((m.root, m.page_count, lsn), (PageId(1), 2, Lsn(1)));
        let p = f.read_page(&disk, PageId(1)).unwrap();
        assert_eq!(p.leaf_entries(), vec![(b"a".to_vec(), b"b".to_vec())]);
    }
}
