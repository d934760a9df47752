//! The native benchmark runner: `cargo run --profile bench -p logspine-bench [-- --quick]`
//! prints the group-commit and replay tables in markdown (see the library docs);
//! `cargo run --profile bench -p logspine-bench -- db-bench [--quick]` prints the
//! db_bench-shaped tables of issue 4 (ours vs fjall on files, ours on SimDisk);
//! `cargo run --release -p logspine-bench -- amplification [--quick]` prints the B-tree
//! vs LSM amplification table (counts, not times: see `amplification`);
//! `cargo run --profile bench -p logspine-bench -- topic [--quick]` prints the topic
//! produce/consume throughput by batch size of issue 6 (SimDisk, then real files against
//! a `std::fs` log and fjall: see `topic_throughput`);
//! `cargo run --profile bench -p logspine-bench -- resume` prints how long the
//! playground's pipeline takes to reopen its saved session after a reload (issue 8).

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

/// How long the pipeline's saved session takes to reopen (`PipelineRun::restore`: the
/// world rebuilt, its hand-applied actions applied at their ticks, the recording replayed
/// to the position, then, the run being live, the reload's crash of every machine) after
/// runs of the page's fastest speed, 64 ticks every 100 ms: one
/// minute and ten, with one workload at the start or a workload and a crash of the
/// database every 8,192 ticks (about 13 s of play). Median of three.
#[cfg(not(target_arch = "wasm32"))]
fn resume(clock: Clock<'_>) -> Result<String, String> {
    use logspine_core::world::Action;
    use logspine_web::pipeline_run::{Mode, PipelineRun};
    const TICKS_PER_MINUTE: u64 = 64 * 10 * 60;
    let workload = Action::Workload {
        clients: 4,
        transactions: 200,
        keys: 50,
        writes: 2,
    };
    let mut out = String::from(
        "| play at 64 ticks per 100 ms | actions | events once resumed (the reload's crashes included) | session bytes | resume ms (median of 3) |\n|---|---|---:|---:|---:|\n",
    );
    for minutes in [1, 10] {
        for busy in [false, true] {
            let (mut run, _) = PipelineRun::new(Mode::default(), 0x5eed_0007)?;
            run.act(&workload)?;
            let mut ticks = 0;
            while ticks < minutes * TICKS_PER_MINUTE {
                run.tick(1024);
                ticks += 1024;
                if busy && ticks % 8192 == 0 {
                    run.act(&workload)?;
                    run.act(&Action::Crash)?;
                }
            }
            let text = run.session(1, true);
            let mut times = Vec::new();
            let mut events = 0;
            for _ in 0..3 {
                let t0 = clock();
                let r = PipelineRun::restore(&text)?;
                times.push((clock() - t0) * 1000.0);
                events = r.run.position();
            }
            times.sort_by(f64::total_cmp);
            let actions = if busy {
                "a workload and a crash every 8,192 ticks"
            } else {
                "one workload"
            };
            out.push_str(&format!(
                "| {minutes} min ({} ticks) | {actions} | {events} | {} | {:.0} |\n",
                minutes * TICKS_PER_MINUTE,
                text.len(),
                times[1]
            ));
        }
    }
    Ok(out)
}

/// The pipeline lives in the web crate, which the wasm runner does not link.
#[cfg(target_arch = "wasm32")]
fn resume(_clock: Clock<'_>) -> Result<String, String> {
    Err("resume runs natively".into())
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
    if std::env::args().any(|a| a == "resume") {
        let origin = Instant::now();
        let mut clock = move || origin.elapsed().as_secs_f64();
        match resume(&mut clock) {
            Ok(t) => print!("{t}"),
            Err(e) => {
                eprintln!("resume: {e}");
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
