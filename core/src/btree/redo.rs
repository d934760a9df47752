//! Page-level redo records: what a B-tree change did to each page, so that ARIES redo can
//! do it again.
//!
//! Every mutating call of the tree returns the [`PageOp`]s it applied, at most one per
//! page, all stamped with the call's LSN. Logical ops ([`PageOp::Insert`],
//! [`PageOp::Delete`], [`PageOp::InsertChild`]) describe a change within one page
//! ("physiological" logging, ARIES §2); [`PageOp::Image`] carries the whole page after
//! the change (for splits, new pages, and the first change of a page after a checkpoint);
//! [`PageOp::Meta`] carries the whole meta page's contents.
//!
//! # Idempotence by page LSN
//! [`apply_redo`] skips an op whose LSN is not above the page's LSN: the page already
//! holds it. The tree never lets a page reach the page file between two changes of one
//! call, so a page on disk holds every change up to its page LSN and none after, and
//! replaying the ops in LSN order from any point at or before the page's LSN gives back
//! exactly the bytes the page had in memory. [`PageOp::Image`] and [`PageOp::Meta`] do not
//! need the old page, so they also rebuild a page that is torn, corrupt, missing or never
//! written ([`RedoOutcome::Repaired`], [`RedoOutcome::Formatted`]); a logical op on such a
//! page is the page's typed error.
//!
//! # Encoding
//! Fixed-width little-endian; [`encode_ops`] frames a list for one WAL record.
//!
//! ```text
//! list:        count u32, then each op
//! op:          tag u8, page u64, then by tag:
//! 1 Insert       key_len u32, value_len u32, key, value
//! 2 Delete       key_len u32, key
//! 3 InsertChild  child u64, key_len u32, key
//! 4 Image        len u32, page bytes
//! 5 Meta         root u64, page_count u64, free_head u64   (page is always 0)
//! ```
//!
//! Decoding checks every length against the bytes present before allocating and never
//! panics; lengths above [`MAX_PAGE_BYTES`] are refused.

use std::fmt;

use super::page::{
    max_entry_bytes, max_key_bytes, valid_page_size, Meta, Page, PageType, MAX_PAGE_BYTES,
};
use super::{get_u32, get_u64, BTreeError, PageId};
use crate::log::Lsn;

/// One page-level change. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub enum PageOp {
    /// Insert `key` into a leaf, or overwrite its value.
    Insert {
        /// The leaf.
        page: PageId,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` from a leaf (it must be there).
    Delete {
        /// The leaf.
        page: PageId,
        /// The key.
        key: Vec<u8>,
    },
    /// Add a separator to an internal page: keys at or above `key` (up to the next
    /// separator) live under `child`.
    InsertChild {
        /// The internal page.
        page: PageId,
        /// The separator.
        key: Vec<u8>,
        /// The new child.
        child: PageId,
    },
    /// The whole page after the change.
    Image {
        /// The page.
        page: PageId,
        /// Its bytes (`page_size` of them; the checksum field is not meaningful).
        bytes: Vec<u8>,
    },
    /// The whole meta page (page 0) after the change.
    Meta {
        /// The root page.
        root: PageId,
        /// Pages allocated, the meta page included.
        page_count: u64,
        /// The free-list head (0 = empty).
        free_head: PageId,
    },
}

impl fmt::Debug for PageOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |b: &[u8]| -> String {
            let hex: String = b.iter().take(12).map(|x| format!("{x:02x}")).collect();
            if b.len() > 12 {
                format!("{hex}…({} bytes)", b.len())
            } else {
                hex
            }
        };
        match self {
            PageOp::Insert { page, key, value } => write!(
                f,
                "Insert({}, key {}, value {})",
                page.0,
                short(key),
                short(value)
            ),
            PageOp::Delete { page, key } => write!(f, "Delete({}, key {})", page.0, short(key)),
            PageOp::InsertChild { page, key, child } => write!(
                f,
                "InsertChild({}, key {}, child {})",
                page.0,
                short(key),
                child.0
            ),
            PageOp::Image { page, bytes } => {
                write!(f, "Image({}, {} bytes)", page.0, bytes.len())
            }
            PageOp::Meta {
                root,
                page_count,
                free_head,
            } => write!(
                f,
                "Meta(root {}, pages {page_count}, free {})",
                root.0, free_head.0
            ),
        }
    }
}

/// How far past the known end of the page file one redo op may create a page. A change
/// creates at most `2h + 1` pages (a split at every level of a tree `h` high), each
/// numbered right after the last, so this bounds nothing real; a page id further out
/// comes from a garbage record, and is refused rather than extending the file to it.
pub const REDO_GROWTH_LIMIT_PAGES: u64 = 1024;

/// Refuses a page id too far past `known_pages` (see [`REDO_GROWTH_LIMIT_PAGES`]).
pub fn check_redo_page(id: PageId, known_pages: u64, lsn: Lsn) -> Result<(), BTreeError> {
    if id.0 >= known_pages.saturating_add(REDO_GROWTH_LIMIT_PAGES) {
        return Err(mismatch(
            id,
            lsn,
            format!("{id} is far past the {known_pages} pages known (a garbage record?)"),
        ));
    }
    Ok(())
}

const TAG_INSERT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_INSERT_CHILD: u8 = 3;
const TAG_IMAGE: u8 = 4;
const TAG_META: u8 = 5;

/// Why a redo record does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageOpDecodeError {
    /// The bytes end before the record does.
    #[error("truncated: needs {need} bytes, {have} present")]
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// Unknown op tag.
    #[error("unknown op tag {0}")]
    BadTag(u8),
    /// A length over the limit.
    #[error("{field} of {len} bytes is over the {max}-byte limit")]
    TooLong {
        /// Which length.
        field: &'static str,
        /// Its value.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A meta op naming a page other than 0.
    #[error("meta op names page {0}, not page 0")]
    MetaNotPageZero(u64),
    /// Bytes left over after the last op.
    #[error("{0} bytes after the last op")]
    TrailingBytes(u64),
}

impl PageOp {
    /// The page it changes.
    pub fn page(&self) -> PageId {
        match self {
            PageOp::Insert { page, .. }
            | PageOp::Delete { page, .. }
            | PageOp::InsertChild { page, .. }
            | PageOp::Image { page, .. } => *page,
            PageOp::Meta { .. } => PageId::META,
        }
    }

    /// Whether it determines the whole page, needing nothing of the old one.
    pub fn is_full_state(&self) -> bool {
        matches!(self, PageOp::Image { .. } | PageOp::Meta { .. })
    }

    /// Appends the encoding (see the module docs).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let len32 = |n: usize| u32::try_from(n).expect("lengths are bounded by the page size");
        match self {
            PageOp::Insert { page, key, value } => {
                out.push(TAG_INSERT);
                out.extend_from_slice(&page.0.to_le_bytes());
                out.extend_from_slice(&len32(key.len()).to_le_bytes());
                out.extend_from_slice(&len32(value.len()).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            }
            PageOp::Delete { page, key } => {
                out.push(TAG_DELETE);
                out.extend_from_slice(&page.0.to_le_bytes());
                out.extend_from_slice(&len32(key.len()).to_le_bytes());
                out.extend_from_slice(key);
            }
            PageOp::InsertChild { page, key, child } => {
                out.push(TAG_INSERT_CHILD);
                out.extend_from_slice(&page.0.to_le_bytes());
                out.extend_from_slice(&child.0.to_le_bytes());
                out.extend_from_slice(&len32(key.len()).to_le_bytes());
                out.extend_from_slice(key);
            }
            PageOp::Image { page, bytes } => {
                out.push(TAG_IMAGE);
                out.extend_from_slice(&page.0.to_le_bytes());
                out.extend_from_slice(&len32(bytes.len()).to_le_bytes());
                out.extend_from_slice(bytes);
            }
            PageOp::Meta {
                root,
                page_count,
                free_head,
            } => {
                out.push(TAG_META);
                out.extend_from_slice(&0u64.to_le_bytes());
                out.extend_from_slice(&root.0.to_le_bytes());
                out.extend_from_slice(&page_count.to_le_bytes());
                out.extend_from_slice(&free_head.0.to_le_bytes());
            }
        }
    }

    /// The encoding on its own.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// The encoded size in bytes.
    pub fn encoded_len(&self) -> u64 {
        let var = match self {
            PageOp::Insert { key, value, .. } => 8 + key.len() + value.len(),
            PageOp::Delete { key, .. } => 4 + key.len(),
            PageOp::InsertChild { key, .. } => 12 + key.len(),
            PageOp::Image { bytes, .. } => 4 + bytes.len(),
            PageOp::Meta { .. } => 24,
        };
        9 + var as u64
    }

    /// Decodes one op from the front of `bytes`; returns it and the rest. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<(PageOp, &[u8]), PageOpDecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        let tag = r.take(1)?[0];
        let page = PageId(r.u64()?);
        let op = match tag {
            TAG_INSERT => {
                let klen = r.len("key")?;
                let vlen = r.len("value")?;
                let key = r.take(klen)?.to_vec();
                let value = r.take(vlen)?.to_vec();
                PageOp::Insert { page, key, value }
            }
            TAG_DELETE => {
                let klen = r.len("key")?;
                let key = r.take(klen)?.to_vec();
                PageOp::Delete { page, key }
            }
            TAG_INSERT_CHILD => {
                let child = PageId(r.u64()?);
                let klen = r.len("key")?;
                let key = r.take(klen)?.to_vec();
                PageOp::InsertChild { page, key, child }
            }
            TAG_IMAGE => {
                let len = r.len("image")?;
                let bytes = r.take(len)?.to_vec();
                PageOp::Image { page, bytes }
            }
            TAG_META => {
                if page.0 != 0 {
                    return Err(PageOpDecodeError::MetaNotPageZero(page.0));
                }
                PageOp::Meta {
                    root: PageId(r.u64()?),
                    page_count: r.u64()?,
                    free_head: PageId(r.u64()?),
                }
            }
            other => return Err(PageOpDecodeError::BadTag(other)),
        };
        Ok((op, &bytes[r.pos..]))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PageOpDecodeError> {
        let have = self.bytes.len() - self.pos;
        if n > have {
            return Err(PageOpDecodeError::Truncated {
                need: (self.pos + n) as u64,
                have: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, PageOpDecodeError> {
        Ok(get_u64(self.take(8)?, 0))
    }

    fn len(&mut self, field: &'static str) -> Result<usize, PageOpDecodeError> {
        let n = get_u32(self.take(4)?, 0);
        if n > MAX_PAGE_BYTES {
            return Err(PageOpDecodeError::TooLong {
                field,
                len: u64::from(n),
                max: u64::from(MAX_PAGE_BYTES),
            });
        }
        Ok(usize::try_from(n).expect("u32 fits usize"))
    }
}

/// Encodes a list of ops (one WAL record's worth).
pub fn encode_ops(ops: &[PageOp]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = u32::try_from(ops.len()).expect("a change touches a bounded number of pages");
    out.extend_from_slice(&n.to_le_bytes());
    for op in ops {
        op.encode_into(&mut out);
    }
    out
}

/// Decodes a list from [`encode_ops`]; every byte must be used. Never panics.
pub fn decode_ops(bytes: &[u8]) -> Result<Vec<PageOp>, PageOpDecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let n = get_u32(r.take(4)?, 0);
    let mut rest = &bytes[4..];
    // Every op takes at least 9 bytes: a count that cannot fit is refused before looping.
    if u64::from(n) * 9 > rest.len() as u64 {
        return Err(PageOpDecodeError::Truncated {
            need: 4 + u64::from(n) * 9,
            have: bytes.len() as u64,
        });
    }
    let mut ops = Vec::new();
    for _ in 0..n {
        let (op, tail) = PageOp::decode(rest)?;
        ops.push(op);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(PageOpDecodeError::TrailingBytes(rest.len() as u64));
    }
    Ok(ops)
}

/// What a redo step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedoOutcome {
    /// The op was applied.
    Applied,
    /// The page already held it (its page LSN is at or above the op's LSN).
    Skipped {
        /// The page's LSN.
        page_lsn: Lsn,
    },
    /// The page was never written (all zeros, or past the end of the file) and a full
    /// page op created it.
    Formatted,
    /// The page was torn or corrupt and a full page op replaced it.
    Repaired,
}

fn mismatch(page: PageId, lsn: Lsn, reason: impl Into<String>) -> BTreeError {
    BTreeError::RedoMismatch {
        page,
        lsn,
        reason: reason.into(),
    }
}

/// The page a full-state op describes, stamped with `lsn`; `None` for logical ops.
/// Checks the op's contents (an image from a decoded record may be garbage).
pub fn full_state_page(op: &PageOp, page_size: u32, lsn: Lsn) -> Result<Option<Page>, BTreeError> {
    match op {
        PageOp::Image { page, bytes } => {
            if bytes.len() as u64 != u64::from(page_size) {
                return Err(mismatch(
                    *page,
                    lsn,
                    format!("image of {} bytes for {page_size}-byte pages", bytes.len()),
                ));
            }
            let mut p = Page::from_unsealed(*page, bytes.clone())?;
            p.set_lsn(lsn);
            Ok(Some(p))
        }
        PageOp::Meta {
            root,
            page_count,
            free_head,
        } => {
            let meta = Meta {
                root: *root,
                page_count: *page_count,
                free_head: *free_head,
            };
            meta.check().map_err(|reason| BTreeError::CorruptPage {
                page: PageId::META,
                reason,
            })?;
            Ok(Some(Page::new_meta(page_size, lsn, &meta)))
        }
        _ => Ok(None),
    }
}

/// Applies `op` (stamped `lsn`) to a well-formed page in memory, unless the page's LSN
/// shows it already holds it. Errors leave the page unchanged.
pub fn apply_to_page(page: &mut Page, op: &PageOp, lsn: Lsn) -> Result<RedoOutcome, BTreeError> {
    let id = page.id();
    if op.page() != id {
        return Err(BTreeError::InvalidArgument(format!(
            "op for {} applied to {id}",
            op.page()
        )));
    }
    if page.lsn() >= lsn {
        return Ok(RedoOutcome::Skipped {
            page_lsn: page.lsn(),
        });
    }
    let ps = page.page_size();
    let leaf = |page: &Page| -> Result<(), BTreeError> {
        if page.page_type() == PageType::Leaf {
            Ok(())
        } else {
            Err(mismatch(
                id,
                lsn,
                format!("not a leaf but {:?}", page.page_type()),
            ))
        }
    };
    match op {
        PageOp::Insert { key, value, .. } => {
            leaf(page)?;
            if key.len() > max_key_bytes(ps) as usize
                || key.len() + value.len() > max_entry_bytes(ps) as usize
            {
                return Err(mismatch(id, lsn, "entry over the page size's limits"));
            }
            page.leaf_put(key, value)
                .map_err(|_| mismatch(id, lsn, "the entry does not fit"))?;
        }
        PageOp::Delete { key, .. } => {
            leaf(page)?;
            if page.leaf_delete(key).is_none() {
                return Err(mismatch(id, lsn, "the key to delete is absent"));
            }
        }
        PageOp::InsertChild { key, child, .. } => {
            if page.page_type() != PageType::Internal {
                return Err(mismatch(id, lsn, "not an internal page"));
            }
            if child.0 == 0 || key.len() > max_key_bytes(ps) as usize {
                return Err(mismatch(id, lsn, "bad separator"));
            }
            match page.internal_insert(key, *child) {
                Ok(true) => {}
                Ok(false) => return Err(mismatch(id, lsn, "the separator is already there")),
                Err(_) => return Err(mismatch(id, lsn, "the separator does not fit")),
            }
        }
        PageOp::Image { .. } | PageOp::Meta { .. } => {
            *page = full_state_page(op, ps, lsn)?.expect("a full-state op");
        }
    }
    page.set_lsn(lsn);
    Ok(RedoOutcome::Applied)
}

/// Applies one redo op to a page's bytes as read from disk (a buffer of the page size,
/// zeros where the file ends), idempotently by page LSN; on success the bytes are a
/// sealed, valid page. Never panics on garbage bytes or ops.
pub fn apply_redo(page_bytes: &mut [u8], op: &PageOp, lsn: Lsn) -> Result<RedoOutcome, BTreeError> {
    let ps = page_bytes.len() as u64;
    if !valid_page_size(ps) {
        return Err(BTreeError::InvalidArgument(format!(
            "{ps} bytes is not a page size"
        )));
    }
    let page_size = u32::try_from(ps).expect("checked above");
    let id = op.page();
    let (mut page, outcome) = match Page::decode(id, page_bytes.to_vec()) {
        Ok(mut page) => {
            let outcome = apply_to_page(&mut page, op, lsn)?;
            (page, outcome)
        }
        Err(
            e @ (BTreeError::TornPage { .. }
            | BTreeError::UnwrittenPage { .. }
            | BTreeError::CorruptPage { .. }),
        ) => match full_state_page(op, page_size, lsn)? {
            Some(page) => {
                let outcome = if matches!(e, BTreeError::UnwrittenPage { .. }) {
                    RedoOutcome::Formatted
                } else {
                    RedoOutcome::Repaired
                };
                (page, outcome)
            }
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if !matches!(outcome, RedoOutcome::Skipped { .. }) {
        page.seal();
        page_bytes.copy_from_slice(page.bytes());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample_ops() -> Vec<PageOp> {
        let mut leaf = Page::new_leaf(PageId(2), 512, Lsn(4), None);
        leaf.leaf_put(b"a", b"1").unwrap();
        vec![
            PageOp::Insert {
                page: PageId(1),
                key: b"key".to_vec(),
                value: b"value".to_vec(),
            },
            PageOp::Insert {
                page: PageId(1),
                key: Vec::new(),
                value: Vec::new(),
            },
            PageOp::Delete {
                page: PageId(9),
                key: b"gone".to_vec(),
            },
            PageOp::InsertChild {
                page: PageId(3),
                key: b"sep".to_vec(),
                child: PageId(8),
            },
            PageOp::Image {
                page: PageId(2),
                bytes: leaf.bytes().to_vec(),
            },
            PageOp::Meta {
                root: PageId(3),
                page_count: 10,
                free_head: PageId(0),
            },
        ]
    }

    #[test]
    fn ops_roundtrip_and_encoding_is_pinned() {
        let ops = sample_ops();
        let bytes = encode_ops(&ops);
        assert_eq!(decode_ops(&bytes).unwrap(), ops);
        for op in &ops {
            assert_eq!(op.encode().len() as u64, op.encoded_len(), "{op:?}");
        }
        let insert = ops[0].encode();
        assert_eq!(
            insert,
            [
                &[1u8][..],
                &1u64.to_le_bytes(),
                &3u32.to_le_bytes(),
                &5u32.to_le_bytes(),
                b"key",
                b"value"
            ]
            .concat()
        );
    }

    #[test]
    fn truncated_or_garbage_records_are_typed_errors() {
        let bytes = encode_ops(&sample_ops());
        for cut in 0..bytes.len() {
            assert!(decode_ops(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode_ops(&extra), Err(PageOpDecodeError::TrailingBytes(1)));
        assert_eq!(
            PageOp::decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).map(|(op, _)| op),
            Err(PageOpDecodeError::BadTag(9))
        );
        let huge = [&[4u8][..], &1u64.to_le_bytes(), &u32::MAX.to_le_bytes()].concat();
        assert!(matches!(
            PageOp::decode(&huge),
            Err(PageOpDecodeError::TooLong { field: "image", .. })
        ));
        let count = [&u32::MAX.to_le_bytes()[..], &[0; 20]].concat();
        assert!(matches!(
            decode_ops(&count),
            Err(PageOpDecodeError::Truncated { .. })
        ));
        let mut rng = Rng::new(77);
        for _ in 0..5000 {
            let mut noise = vec![0u8; rng.index(64)];
            rng.fill(&mut noise);
            if let Some(b) = noise.first_mut() {
                *b %= 7;
            }
            let _ = decode_ops(&noise);
            let _ = PageOp::decode(&noise);
        }
    }

    #[test]
    fn apply_redo_is_idempotent_by_page_lsn() {
        let mut page = Page::new_leaf(PageId(1), 512, Lsn(1), None);
        page.seal();
        let mut bytes = page.bytes().to_vec();
        let op = PageOp::Insert {
            page: PageId(1),
            key: b"k".to_vec(),
            value: b"v".to_vec(),
        };
        assert_eq!(
            apply_redo(&mut bytes, &op, Lsn(5)),
            Ok(RedoOutcome::Applied)
        );
        let once = bytes.clone();
        assert_eq!(
            apply_redo(&mut bytes, &op, Lsn(5)),
            Ok(RedoOutcome::Skipped { page_lsn: Lsn(5) })
        );
        assert_eq!(
            apply_redo(&mut bytes, &op, Lsn(3)),
            Ok(RedoOutcome::Skipped { page_lsn: Lsn(5) })
        );
        assert_eq!(bytes, once);
        let p = Page::decode(PageId(1), bytes.clone()).unwrap();
        assert_eq!(
            (p.lsn(), p.leaf_entries()),
            (Lsn(5), vec![(b"k".to_vec(), b"v".to_vec())])
        );
        // A delete of an absent key means the page is not what the record was made from.
        let del = PageOp::Delete {
            page: PageId(1),
            key: b"zz".to_vec(),
        };
        assert!(matches!(
            apply_redo(&mut bytes, &del, Lsn(6)),
            Err(BTreeError::RedoMismatch { .. })
        ));
        assert_eq!(bytes, once, "a failed redo changes nothing");
    }

    #[test]
    fn a_full_image_repairs_a_torn_page_and_a_logical_op_cannot() {
        let mut page = Page::new_leaf(PageId(3), 512, Lsn(1), None);
        page.leaf_put(b"x", b"y").unwrap();
        let image = PageOp::Image {
            page: PageId(3),
            bytes: page.bytes().to_vec(),
        };
        page.seal();
        let mut torn = page.bytes().to_vec();
        torn[200..264].fill(0xAB);
        let insert = PageOp::Insert {
            page: PageId(3),
            key: b"q".to_vec(),
            value: Vec::new(),
        };
        assert!(matches!(
            apply_redo(&mut torn, &insert, Lsn(2)),
            Err(BTreeError::TornPage {
                page: PageId(3),
                ..
            })
        ));
        assert_eq!(
            apply_redo(&mut torn, &image, Lsn(2)),
            Ok(RedoOutcome::Repaired)
        );
        let fixed = Page::decode(PageId(3), torn).unwrap();
        assert_eq!(fixed.lsn(), Lsn(2));
        assert_eq!(fixed.leaf_entries(), vec![(b"x".to_vec(), b"y".to_vec())]);
        let mut zeros = vec![0u8; 512];
        assert_eq!(
            apply_redo(&mut zeros, &image, Lsn(2)),
            Ok(RedoOutcome::Formatted)
        );
        let meta = PageOp::Meta {
            root: PageId(1),
            page_count: 4,
            free_head: PageId(0),
        };
        let mut zeros = vec![0u8; 512];
        assert_eq!(
            apply_redo(&mut zeros, &meta, Lsn(2)),
            Ok(RedoOutcome::Formatted)
        );
        assert_eq!(
            Page::decode(PageId::META, zeros).unwrap().meta().page_count,
            4
        );
    }

    #[test]
    fn garbage_pages_and_ops_never_panic_in_apply() {
        let mut rng = Rng::new(99);
        let mut base = Page::new_leaf(PageId(1), 512, Lsn(1), None);
        base.leaf_put(b"k", b"v").unwrap();
        base.seal();
        for round in 0..3000u32 {
            let mut bytes = base.bytes().to_vec();
            if round % 2 == 0 {
                rng.fill(&mut bytes);
            }
            let mut raw = vec![0u8; 9 + rng.index(600)];
            rng.fill(&mut raw);
            raw[0] = 1 + (raw[0] % 5);
            raw[1..9].copy_from_slice(&1u64.to_le_bytes());
            if let Ok((op, _)) = PageOp::decode(&raw) {
                let _ = apply_redo(&mut bytes, &op, Lsn(2 + u64::from(round)));
            }
        }
    }
}
