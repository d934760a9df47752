//! The native benchmark runner: `cargo run --profile bench -p logspine-bench [-- --quick]`
//! prints the group-commit and replay tables in markdown (see the library docs);
//! `cargo run --profile bench -p logspine-bench -- db-bench [--quick]` prints the
//! db_bench-shaped tables of issue 4 (ours vs fjall on files, ours on SimDisk);
//! `cargo run --release -p logspine-bench -- amplification [--quick]` prints the B-tree
//! vs LSM amplification table (counts, not times: see `amplification`);
//! `cargo run --profile bench -p logspine-bench -- topic [--quick]` prints the topic
//! produce/consume throughput by batch size of issue 6 (SimDisk, then real files against
//! a `std::fs` log and fjall: see `topic_throughput`).

use std::time::Instant;

use logspine_bench::{report, Clock, Sizes};

#[cfg(not(target_arch = "wasm32"))]
fn db_bench(quick: bool, clock: Clock<'_>) -> Result<String, String> {
    use logspine_bench::db_bench::{FULL_KEYS, QUICK_KEYS};
    let n = if quick { QUICK_KEYS } else { FULL_KEYS };
    logspine_bench::native_db_bench::report(n, n, clock)
}

/// The wasm runner of db_bench is `tests/wasm_db_bench.rs`.
#[cfg(target_arch = "wasm32")]
fn db_bench(_quick: bool, _clock: Clock<'_>) -> Result<String, String> {
    Err("db-bench runs natively; in wasm, see tests/wasm_db_bench.rs".into())
}

#[cfg(not(target_arch = "wasm32"))]
fn topic(quick: bool, clock: Clock<'_>) -> Result<String, String> {
    use logspine_bench::topic_throughput::{file_report, sim_report, Sizes};
    let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
    let mut out = sim_report("native", &sizes, &mut *clock)?;
    out.push('\n');
    out.push_str(&file_report(&sizes, clock)?);
    Ok(out)
}

/// The wasm runner of the topic benchmark is `tests/wasm_topic.rs`.
#[cfg(target_arch = "wasm32")]
fn topic(_quick: bool, _clock: Clock<'_>) -> Result<String, String> {
    Err("topic runs natively; in wasm, see tests/wasm_topic.rs".into())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let want_db_bench = std::env::args().any(|a| a == "db-bench");
    if std::env::args().any(|a| a == "raft") {
        let origin = Instant::now();
        let mut clock = move || origin.elapsed().as_secs_f64();
        match logspine_bench::raft_throughput::report("native", &mut clock) {
            Ok(t) => print!("{t}"),
            Err(e) => {
                eprintln!("raft: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "topic") {
        let origin = Instant::now();
        let mut clock = move || origin.elapsed().as_secs_f64();
        match topic(quick, &mut clock) {
            Ok(t) => print!("{t}"),
            Err(e) => {
                eprintln!("topic: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "seek") {
        let origin = Instant::now();
        let mut clock = move || origin.elapsed().as_secs_f64();
        match logspine_bench::time_travel::report(&mut clock) {
            Ok(t) => print!("{t}"),
            Err(e) => {
                eprintln!("seek: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "amplification") {
        use logspine_bench::amplification::{run_all, table, FULL_KEYS, QUICK_KEYS};
        let n = if quick { QUICK_KEYS } else { FULL_KEYS };
        match run_all(n) {
            Ok(rows) => print!("{}", table(&rows, n)),
            Err(e) => {
                eprintln!("amplification: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let origin = Instant::now();
    let mut clock = move || origin.elapsed().as_secs_f64();
    let result = if want_db_bench {
        db_bench(quick, &mut clock)
    } else {
        let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
        report("native", &sizes, &mut clock)
    };
    match result {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
