//! # logspine-web
//!
//! The browser side of Logspine: the [`idb::IdbStorage`] backend (the `Storage` contract
//! on IndexedDB) and the Yew playground in [`app`]. Trunk builds the `logspine-web` binary
//! (`src/main.rs`), which only mounts [`app::App`].
//!
//! The page has five parts: the database view ([`db_view`], a `Db` on IndexedDB with its
//! WAL strip, pages, checkpointer, workload generator and animated recovery), the LSM
//! view ([`lsm_view`]: the same workload on a B-tree and an LSM database side by side, the
//! LSM tree's flushes, compactions and lookups drawn live), the scenario panel
//! ([`scenario_view`]: a library scenario on a time-travelling `Timeline`, its narration,
//! play/step/scrub, branching actions, the world folded from the trace), the Raft cluster
//! view ([`raft_view`]: five Raft nodes on simulated disks with their logs, messages in
//! flight, crashes, restarts and partitions, animated from the simulator's trace) and the raw log
//! demo ([`app::LogDemo`], one `Log` on IndexedDB). Each keeps its pure state in a reducer
//! ([`db_state`], [`lsm_state`], [`scenario_state`], [`raft_state`], [`state`]) and its effects in its
//! component; the LSM view's two databases and their glue are in [`lsm_engine`], the
//! scenario panel's run in [`scenario_run`], the cluster's in [`raft_run`].
//!
//! Every view has a timeline under it, drawn by [`transport::transport`]: the scenario
//! panel and the pipeline on the world's `Timeline`; the Raft and LSM views on recorded
//! runs replayed from their seeds ([`raft_record`], [`lsm_run`]); the database view and
//! the log demo, whose disks are durable, on recordings of what their reducers received,
//! folded again read-only ([`db_timeline`], [`log_timeline`]).
//!
//! The crate also compiles natively so that `cargo clippy --workspace` and the pure parts'
//! unit tests (the reducers, the engine glue on a simulated disk, the workload generator,
//! the IndexedDB image validation) run on the host; everything that touches the browser is
//! reached only at run time in a browser.

pub mod app;
pub mod chart;
pub mod db_engine;
pub mod db_state;
pub mod db_timeline;
pub mod db_view;
pub mod decimal;
pub mod embed_api;
pub mod embed_params;
pub mod embed_run;
pub mod embed_view;
pub mod idb;
pub mod log_timeline;
pub mod lsm_engine;
pub mod lsm_run;
pub mod lsm_state;
pub mod lsm_view;
pub mod pipeline_run;
pub mod pipeline_state;
pub mod pipeline_view;
pub mod playground_storage;
pub mod raft_record;
pub mod raft_run;
pub mod raft_state;
pub mod raft_view;
pub mod scenario_run;
pub mod scenario_state;
pub mod scenario_view;
pub mod share;
pub mod share_view;
pub mod shell;
pub mod state;
pub mod timer;
pub mod transport;
pub mod workload;
