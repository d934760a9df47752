//! # logspine-web
//!
//! The browser side of Logspine: the [`idb::IdbStorage`] backend (the `Storage` contract
//! on IndexedDB) and the Yew playground in [`app`]. Trunk builds the `logspine-web` binary
//! (`src/main.rs`), which only mounts [`app::App`].
//!
//! The crate also compiles natively so that `cargo clippy --workspace` and the pure parts'
//! unit tests (the playground's reducer, the IndexedDB image validation) run on the host;
//! everything that touches the browser is reached only at run time in a browser.

pub mod app;
pub mod idb;
pub mod state;
pub mod timer;
