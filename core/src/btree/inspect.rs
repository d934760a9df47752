//! Read-only inspection of a tree's shape, for the playground's page view.
//!
//! [`shape`] walks the tree breadth-first from the root and summarises each page it
//! reaches: kind, depth, key count, bytes used, page LSN, the key range it holds and its
//! children. It reads through [`BufferPool::peek`](super::BufferPool::peek), so it sees
//! the resident (possibly dirty) copy of a page when there is one and the page file's copy
//! otherwise, and it changes nothing: no frame is loaded or evicted, no counter moves. A
//! walk is bounded by `max_pages`; what it could not reach within the bound is reported
//! as [`TreeShape::truncated`], not read.
//!
//! Pages are read, not trusted: a pointer past the page count, a page reached twice or a
//! page of the wrong kind for its depth is a [`BTreeError::CorruptTree`], and a torn page
//! is the pool's own [`BTreeError::TornPage`], never a panic.

use std::collections::VecDeque;

use super::page::PageType;
use super::tree::BTree;
use super::{BTreeError, PageId};
use crate::log::Lsn;
use crate::storage::Storage;

/// One page as the inspector saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSummary {
    /// The page.
    pub id: PageId,
    /// Leaf or internal.
    pub page_type: PageType,
    /// 1 for the root.
    pub depth: u32,
    /// Entries (leaf) or separator keys (internal).
    pub keys: u64,
    /// Bytes used by slots and live cells (the page header excluded).
    pub used_bytes: u64,
    /// The page LSN: the last change applied to it.
    pub lsn: Lsn,
    /// Its smallest key, if any.
    pub first_key: Option<Vec<u8>>,
    /// Its largest key, if any.
    pub last_key: Option<Vec<u8>>,
    /// Its children, left to right (empty for a leaf).
    pub children: Vec<PageId>,
}

/// The tree as the inspector saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeShape {
    /// The root page.
    pub root: PageId,
    /// Levels: 1 when the root is a leaf.
    pub height: u32,
    /// Pages in the file, the meta page included (from the meta page).
    pub page_count: u64,
    /// Bytes per page.
    pub page_size: u32,
    /// The pages reached, breadth-first: the root, then each level left to right.
    pub pages: Vec<PageSummary>,
    /// Whether the walk stopped at `max_pages` with pages left unread.
    pub truncated: bool,
}

impl TreeShape {
    /// The pages at one depth (1 = the root), left to right.
    pub fn level(&self, depth: u32) -> impl Iterator<Item = &PageSummary> {
        self.pages.iter().filter(move |p| p.depth == depth)
    }
}

/// Walks `tree` breadth-first, reading at most `max_pages` pages. See the module docs.
pub fn shape<S: Storage + ?Sized>(
    tree: &BTree,
    storage: &S,
    max_pages: usize,
) -> Result<TreeShape, BTreeError> {
    let meta = tree.meta();
    let mut out = TreeShape {
        root: meta.root,
        height: tree.height(),
        page_count: meta.page_count,
        page_size: tree.page_size(),
        pages: Vec::new(),
        truncated: false,
    };
    let corrupt = |page: PageId, reason: String| BTreeError::CorruptTree { page, reason };
    let mut seen = super::Visited::default();
    let mut queue = VecDeque::from([(meta.root, 1u32)]);
    while let Some((id, depth)) = queue.pop_front() {
        if out.pages.len() >= max_pages {
            out.truncated = true;
            break;
        }
        if id.0 == 0 || id.0 >= meta.page_count {
            return Err(corrupt(
                id,
                format!("child pointer past the page count {}", meta.page_count),
            ));
        }
        let page = tree.pool().peek(storage, id)?;
        if !seen.first(id) {
            return Err(corrupt(id, "page reachable twice".to_owned()));
        }
        let want = if depth == out.height {
            PageType::Leaf
        } else {
            PageType::Internal
        };
        if page.page_type() != want || depth > out.height {
            return Err(corrupt(
                id,
                format!(
                    "a {:?} page at depth {depth} of a tree of height {}",
                    page.page_type(),
                    out.height
                ),
            ));
        }
        let n = page.len();
        let children: Vec<PageId> = if want == PageType::Internal {
            (0..=n).map(|pos| page.child_at(pos)).collect()
        } else {
            Vec::new()
        };
        queue.extend(children.iter().map(|&c| (c, depth + 1)));
        out.pages.push(PageSummary {
            id,
            page_type: page.page_type(),
            depth,
            keys: n as u64,
            used_bytes: page.used_bytes() as u64,
            lsn: page.lsn(),
            first_key: (n > 0).then(|| page.key(0).to_vec()),
            last_key: (n > 0).then(|| page.key(n - 1).to_vec()),
            children,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::{BTreeConfig, PageFileConfig};
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn tree_with(n: u32) -> (SimDisk, BTree) {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 7);
        let config = BTreeConfig {
            page_file: PageFileConfig {
                file: "t.pages".into(),
                page_size: 512,
            },
            pool_frames: 8,
            full_page_writes: true,
        };
        let (mut t, _) = BTree::create(&mut disk, config, Lsn(0)).unwrap();
        t.set_wal_durable(Lsn(u64::MAX));
        for i in 0..n {
            let key = format!("key{:05}", (i * 7919) % n);
            t.put(&mut disk, key.as_bytes(), &[9; 20], Lsn(u64::from(i) + 1))
                .unwrap();
        }
        (disk, t)
    }

    #[test]
    fn a_new_tree_is_one_empty_leaf() {
        let (disk, t) = tree_with(0);
        let s = shape(&t, &disk, 100).unwrap();
        assert_eq!((s.root, s.height, s.page_count), (PageId(1), 1, 2));
        assert_eq!(s.pages.len(), 1);
        let root = &s.pages[0];
        assert_eq!(root.page_type, PageType::Leaf);
        assert_eq!((root.keys, root.depth), (0, 1));
        assert_eq!(
            (root.first_key.as_ref(), root.last_key.as_ref()),
            (None, None)
        );
        assert!(!s.truncated);
    }

    #[test]
    fn the_shape_covers_every_key_once_in_order_and_changes_nothing() {
        let (disk, t) = tree_with(600);
        let stats_before = t.pool().stats();
        let frames_before = t.pool().frames();
        let s = shape(&t, &disk, 10_000).unwrap();
        assert_eq!(t.pool().stats(), stats_before, "inspection counts nothing");
        assert_eq!(t.pool().frames(), frames_before, "inspection loads nothing");

        assert!(s.height >= 2, "600 keys in 512-byte pages split");
        assert_eq!(s.pages[0].id, s.root);
        assert_eq!(s.pages[0].page_type, PageType::Internal);
        // Every page below the page count but the meta page is reachable (no frees).
        assert_eq!(s.pages.len() as u64, s.page_count - 1);
        let leaves: Vec<&PageSummary> = s.level(s.height).collect();
        assert!(leaves.iter().all(|p| p.page_type == PageType::Leaf));
        assert_eq!(leaves.iter().map(|p| p.keys).sum::<u64>(), t.len());
        // Left to right, the leaves' key ranges ascend without overlap.
        for w in leaves.windows(2) {
            assert!(w[0].last_key < w[1].first_key, "{:?} / {:?}", w[0], w[1]);
        }
        // Each internal page has one more child than keys, all one level down.
        for p in s.pages.iter().filter(|p| p.page_type == PageType::Internal) {
            assert_eq!(p.children.len() as u64, p.keys + 1);
            for c in &p.children {
                let child = s.pages.iter().find(|q| q.id == *c).expect("child listed");
                assert_eq!(child.depth, p.depth + 1);
            }
        }
        assert!(s.pages.iter().all(|p| p.lsn <= t.last_lsn()));
    }

    #[test]
    fn the_walk_stops_at_its_bound() {
        let (disk, t) = tree_with(600);
        let s = shape(&t, &disk, 3).unwrap();
        assert_eq!(s.pages.len(), 3);
        assert!(s.truncated);
        assert_eq!(s.pages[0].depth, 1);
    }
}
