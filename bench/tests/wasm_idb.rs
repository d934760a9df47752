//! The IndexedDB durability benchmark (issue 8), in headless Chromium: durable commits per
//! second of the real [`Db`] on [`IdbStorage`] with group commit (one IndexedDB
//! transaction per batch) against one transaction per commit (group commit off,
//! `max_batch` 1, one client), and against dexie's `bulkPut` (npm package `dexie`) on the
//! same records, in the same browser run, with the same IndexedDB durability (`"strict"`,
//! which `IdbStorage` asks for; dexie's `chromeTransactionDurability`).
//!
//! A commit counts once it is acknowledged, i.e. once the IndexedDB transaction carrying
//! its WAL sync has fired `complete`; a dexie write counts once its `bulkPut` promise has
//! resolved (its transaction completed). Each row runs on a freshly deleted database.
//! Every record is a distinct key `r000000`.. with a 100-byte value.
//!
//! Run (scripts/bench.sh does this; `bench/js/dexie.js` must be a copy of
//! `tests/e2e/node_modules/dexie/dist/dexie.mjs`, after `npm ci` in tests/e2e):
//! ```text
//! cp tests/e2e/node_modules/dexie/dist/dexie.mjs bench/js/dexie.js
//! WASM_BINDGEN_USE_BROWSER=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   cargo test --profile bench -p logspine-bench --target wasm32-unknown-unknown --test wasm_idb -- --nocapture
//! ```
//! `LOGSPINE_BENCH_SIZES=quick` at build time selects smoke sizes. A benchmark, not a
//! test: it asserts only that every write became durable.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use logspine_core::db::{Db, DbConfig, DbError, GroupCommitConfig, TxnId};
use logspine_core::Storage;
use logspine_web::idb::{delete_database, IdbStorage};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, in milliseconds.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    /// `setTimeout`, to yield to the event loop.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &js_sys::Function, ms: i32) -> JsValue;
}

// dexie's ESM build, served by wasm-bindgen-test-runner as a snippet.
#[wasm_bindgen(module = "/js/dexie.js")]
extern "C" {
    type Dexie;

    #[wasm_bindgen(constructor, js_class = "Dexie")]
    fn new(name: &str, options: &Object) -> Dexie;

    /// `Dexie.semVer`: the dexie version that runs.
    #[wasm_bindgen(static_method_of = Dexie, js_class = "Dexie", getter = semVer)]
    fn sem_ver() -> String;

    #[wasm_bindgen(method, js_class = "Dexie")]
    fn version(this: &Dexie, version: f64) -> DexieVersion;

    #[wasm_bindgen(method, js_class = "Dexie")]
    fn open(this: &Dexie) -> Promise;

    #[wasm_bindgen(method, js_class = "Dexie")]
    fn table(this: &Dexie, name: &str) -> DexieTable;

    #[wasm_bindgen(method, js_class = "Dexie")]
    fn delete(this: &Dexie) -> Promise;

    type DexieVersion;

    #[wasm_bindgen(method)]
    fn stores(this: &DexieVersion, schema: &Object) -> DexieVersion;

    type DexieTable;

    #[wasm_bindgen(method, js_name = bulkPut)]
    fn bulk_put(this: &DexieTable, items: &Array, keys: &Array) -> Promise;
}

/// Bytes of every record's value.
const VALUE_BYTES: usize = 100;
/// The IndexedDB durability both sides ask for.
const DURABILITY: &str = "strict";

struct Sizes {
    /// Records written with group commit and by dexie's batched bulkPut.
    batched: usize,
    /// Records written one transaction per commit (that is slow).
    single: usize,
    /// Concurrent clients with group commit (each waits for its ack), and dexie's batch.
    clients: usize,
}

fn sizes() -> Sizes {
    match option_env!("LOGSPINE_BENCH_SIZES") {
        Some("quick") => Sizes {
            batched: 1000,
            single: 100,
            clients: 64,
        },
        _ => Sizes {
            batched: 10_000,
            single: 500,
            clients: 64,
        },
    }
}

fn records(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let value: Vec<u8> = format!("value-{i:06}-")
                .bytes()
                .cycle()
                .take(VALUE_BYTES)
                .collect();
            (format!("r{i:06}"), value)
        })
        .collect()
}

async fn yield_now() {
    let p = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    let _ = JsFuture::from(p).await;
}

/// One row: what was written and how long it took to be durable.
struct Row {
    name: String,
    records: usize,
    secs: f64,
    idb_transactions: Option<u64>,
}

impl Row {
    fn per_sec(&self) -> f64 {
        self.records as f64 / self.secs.max(1e-9)
    }
}

/// Writes `records` through the real `Db` on `IdbStorage`, one record per transaction,
/// with `clients` clients each waiting for its acknowledgement before the next commit.
async fn ours(
    name: &str,
    records: &[(String, Vec<u8>)],
    clients: usize,
    group_commit: GroupCommitConfig,
) -> Result<Row, String> {
    let ns = "bench-idb-durability";
    delete_database(ns).await.map_err(|e| e.to_string())?;
    let storage = IdbStorage::open(ns).await.map_err(|e| e.to_string())?;
    let config = DbConfig {
        group_commit,
        ..DbConfig::default()
    };
    let (mut db, _) = Db::open(storage, config).map_err(|e| e.to_string())?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "milliseconds since the run began: far below 2^53, never negative"
    )]
    let now = |start: f64| (performance_now() - start).max(0.0) as u64;

    let start = performance_now();
    let mut slots: Vec<Option<TxnId>> = vec![None; clients];
    let mut next = 0usize;
    let mut acked = 0usize;
    // A bound on the loop, so a livelock fails instead of hanging.
    let mut rounds = 0u64;
    while acked < records.len() {
        rounds += 1;
        if rounds > 100 * records.len() as u64 + 10_000 {
            return Err(format!(
                "{name}: no progress ({acked} of {} acked)",
                records.len()
            ));
        }
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            if next == records.len() {
                break;
            }
            let (k, v) = &records[next];
            let txn = db.begin();
            match db.put(txn, k.as_bytes(), v).and_then(|()| db.commit(txn)) {
                Ok(()) => {
                    *slot = Some(txn);
                    next += 1;
                }
                // The pool needs a WAL sync first: retry after the next completion.
                Err(DbError::WouldBlock(_)) => {
                    let _ = db.abort(txn);
                    break;
                }
                Err(e) => return Err(format!("{name}: {e}")),
            }
        }
        db.tick(now(start)).map_err(|e| format!("{name}: {e}"))?;
        let mut freed = false;
        for ack in db.take_acks() {
            if let Some(slot) = slots.iter_mut().find(|s| **s == Some(ack.txn)) {
                *slot = None;
                acked += 1;
                freed = true;
            }
        }
        let _ = db.take_events();
        if freed && next < records.len() {
            // Clients are free: their next commits join the sync the tick may have issued.
            continue;
        }
        if db.storage().syncs_in_flight() > 0 {
            db.storage().settled().await;
        } else {
            yield_now().await;
        }
    }
    let secs = (performance_now() - start) / 1000.0;
    let storage = db.into_storage();
    let transactions = storage.sync_status().transactions_committed;
    storage.close().await;
    delete_database(ns).await.map_err(|e| e.to_string())?;
    Ok(Row {
        name: name.to_owned(),
        records: records.len(),
        secs,
        idb_transactions: Some(transactions),
    })
}

/// Writes `records` with dexie's `bulkPut`, `batch` records per call (one IndexedDB
/// transaction each), each call awaited before the next.
async fn dexie(name: &str, records: &[(String, Vec<u8>)], batch: usize) -> Result<Row, String> {
    let js_err = |e: JsValue| format!("{name}: {e:?}");
    let options = Object::new();
    Reflect::set(
        &options,
        &"chromeTransactionDurability".into(),
        &DURABILITY.into(),
    )
    .map_err(js_err)?;
    let db = Dexie::new("bench-dexie-durability", &options);
    let _ = JsFuture::from(db.delete()).await.map_err(js_err)?;
    let db = Dexie::new("bench-dexie-durability", &options);
    let schema = Object::new();
    // Out-of-line keys, like IdbStorage's chunks store.
    Reflect::set(&schema, &"kv".into(), &"".into()).map_err(js_err)?;
    db.version(1.0).stores(&schema);
    JsFuture::from(db.open()).await.map_err(js_err)?;
    let table = db.table("kv");
    let start = performance_now();
    for chunk in records.chunks(batch.max(1)) {
        let (keys, items) = (Array::new(), Array::new());
        for (k, v) in chunk {
            keys.push(&k.into());
            items.push(&Uint8Array::from(v.as_slice()));
        }
        JsFuture::from(table.bulk_put(&items, &keys))
            .await
            .map_err(js_err)?;
    }
    let secs = (performance_now() - start) / 1000.0;
    JsFuture::from(db.delete()).await.map_err(js_err)?;
    Ok(Row {
        name: name.to_owned(),
        records: records.len(),
        secs,
        idb_transactions: Some(records.len().div_ceil(batch.max(1)) as u64),
    })
}

async fn run() -> Result<String, String> {
    let s = sizes();
    let batched = records(s.batched);
    let single = records(s.single);
    let group = GroupCommitConfig {
        enabled: true,
        max_batch: s.clients,
        max_wait_ticks: 0,
    };
    let off = GroupCommitConfig {
        enabled: false,
        max_batch: 1,
        max_wait_ticks: 0,
    };
    let dexie_version = Dexie::sem_ver();
    let mut rows = Vec::new();
    // Ours and dexie alternate, so neither gets all of a warmed-up browser.
    rows.push(
        ours(
            &format!(
                "ours: Db on IdbStorage, group commit, {} clients",
                s.clients
            ),
            &batched,
            s.clients,
            group,
        )
        .await?,
    );
    rows.push(
        dexie(
            &format!(
                "dexie {dexie_version}: bulkPut, {} records per call",
                s.clients
            ),
            &batched,
            s.clients,
        )
        .await?,
    );
    rows.push(
        ours(
            "ours: Db on IdbStorage, group commit off (max_batch 1), 1 client",
            &single,
            1,
            off,
        )
        .await?,
    );
    rows.push(
        dexie(
            &format!("dexie {dexie_version}: bulkPut, 1 record per call"),
            &single,
            1,
        )
        .await?,
    );
    rows.push(
        dexie(
            &format!(
                "dexie {dexie_version}: bulkPut, all {} records in one call",
                s.batched
            ),
            &batched,
            s.batched,
        )
        .await?,
    );

    let mut out = format!(
        "\n### IndexedDB durability (headless Chromium, durability \"{DURABILITY}\", {VALUE_BYTES}-byte values)\n\n\
         | writer | records | seconds | IDB transactions | durable writes/s |\n|---|---:|---:|---:|---:|\n"
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {} | {:.0} |\n",
            r.name,
            r.records,
            r.secs,
            r.idb_transactions.map_or("-".to_owned(), |t| t.to_string()),
            r.per_sec()
        ));
    }
    let (group, dexie_batch, single, dexie_single, dexie_all) = (
        rows[0].per_sec(),
        rows[1].per_sec(),
        rows[2].per_sec(),
        rows[3].per_sec(),
        rows[4].per_sec(),
    );
    out.push_str(&format!(
        "\nRatios: group commit / one transaction per commit = {:.1}; group commit / dexie bulkPut \
         ({} per call) = {:.2}; group commit / dexie bulkPut (all in one) = {:.2}; one per commit / \
         dexie one per call = {:.2}.\n",
        group / single,
        s.clients,
        group / dexie_batch,
        group / dexie_all,
        single / dexie_single
    ));
    out.push_str(&format!(
        "IDBBENCH group={group:.0} single={single:.0} dexie_batch={dexie_batch:.0} \
         dexie_single={dexie_single:.0} dexie_all={dexie_all:.0}\n"
    ));
    Ok(out)
}

#[wasm_bindgen_test]
async fn idb_durability() {
    match run().await {
        Ok(text) => console_log!("{text}"),
        Err(e) => panic!("benchmark failed: {e}"),
    }
}
