//! # logspine-native
//!
//! The native side of Logspine's storage: [`FileStorage`], the
//! [`Storage`](logspine_core::Storage) contract over a directory of ordinary files, with
//! real `fsync`. The core stays free of `std::fs` (DESIGN.md); everything that touches the
//! file system lives here, and this crate is empty when built for wasm32.
//!
//! * [`file_storage`]: the backend: an in-memory page cache over the directory, made
//!   durable by `sync`, one writer per directory.
//! * [`harness`]: the storage conformance harness over fresh temporary directories
//!   ([`FileHarness`]), and the [`TempDir`] it uses.
#![cfg(not(target_arch = "wasm32"))]

pub mod file_storage;
pub mod harness;

pub use file_storage::{DiskStats, FileStorage, LOCK_FILE, MAX_FILE_BYTES};
pub use harness::{FileHarness, TempDir};
