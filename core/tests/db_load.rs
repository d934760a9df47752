//! The database under sustained load (16 clients committing without pause, a small
//! buffer pool): the checkpointer keeps completing (hot pages are written from copies
//! once the WAL is durable past them, instead of waiting for a moment the page is not
//! ahead of the WAL, which under load never comes), the WAL stays bounded, and blocked
//! writes do not flood the disk with syncs (one sync in flight covers them all).

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::world::{Action, IndexChoice, TraceKind, World, WorldConfig};
use logspine_core::Storage;

#[test]
fn checkpoints_keep_completing_and_syncs_stay_few_under_load() {
    for index in [IndexChoice::Btree, IndexChoice::Lsm] {
        let config = WorldConfig {
            index,
            ..WorldConfig::default()
        };
        let (mut w, _) = World::new(config, 11).unwrap();
        w.apply(&Action::Workload {
            clients: 16,
            transactions: 1_000_000,
            keys: 20_000,
            writes: 2,
        });
        let (mut checkpoints, mut commits, mut max_in_flight, mut max_wal) = (0, 0, 0, 0);
        for tick in 0..3_000u64 {
            for e in w.tick() {
                match e {
                    TraceKind::CheckpointDone { .. } => checkpoints += 1,
                    TraceKind::Committed { .. } => commits += 1,
                    _ => {}
                }
            }
            let db = w.db().unwrap();
            max_in_flight = max_in_flight.max(db.storage().syncs_in_flight());
            if tick > 1_000 {
                max_wal = max_wal.max(db.wal().size_bytes());
            }
        }
        assert!(w.failures().is_empty(), "{:?}", w.failures());
        #[cfg(not(target_arch = "wasm32"))]
        println!("{index:?}: {commits} commits, {checkpoints} checkpoints, at most {max_in_flight} syncs in flight, WAL at most {max_wal} bytes");
        assert!(
            commits > 3_000,
            "{index:?}: {commits} commits in 3,000 ticks"
        );
        assert!(
            checkpoints >= 5,
            "{index:?}: {checkpoints} checkpoints in 3,000 ticks"
        );
        assert!(
            max_in_flight <= 3,
            "{index:?}: {max_in_flight} syncs in flight"
        );
        assert!(
            max_wal < 2 * 1024 * 1024,
            "{index:?}: the WAL grew to {max_wal} bytes"
        );
    }
}
