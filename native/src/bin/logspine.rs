//! `logspine`: the native command-line runner for scenarios (README, "Command-line
//! runner", documents the output formats).
//!
//! ```text
//! logspine list
//! logspine show <library name>
//! logspine run <scenario.json | library name> [--seed N] [--summary-only]
//! logspine sweep <scenario.json | library name> [--seeds N] [--from S]
//! ```
//! Exit status: 0 when every invariant held, 1 when one failed, the database could not
//! be reopened (so no end check ran) or a run panicked, 2 for bad input (an unreadable or
//! invalid scenario, bad arguments).

use std::io::Write;
use std::process::ExitCode;

use logspine_core::world::{library, trace_hash, Scenario, Timeline, TraceKind};

const USAGE: &str = "usage:
  logspine list
  logspine show <library name>
  logspine run <scenario.json | library name> [--seed N] [--summary-only]
  logspine sweep <scenario.json | library name> [--seeds N] [--from S]";

fn load(what: &str) -> Result<Scenario, String> {
    if let Some(s) = library::scenario(what) {
        return Ok(s);
    }
    let text = std::fs::read_to_string(what).map_err(|e| {
        format!(
            "{what:?} is neither a library scenario ({}) nor a readable file: {e}",
            library::names().collect::<Vec<_>>().join(", ")
        )
    })?;
    Scenario::from_json(&text).map_err(|e| format!("{what}: {e}"))
}

fn number(args: &[String], flag: &str) -> Result<Option<u64>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

/// Runs one seed to the end; `None` if it panicked (with the message).
fn run(scenario: &Scenario, seed: u64) -> Result<Timeline, String> {
    let s = scenario.clone();
    std::panic::catch_unwind(move || {
        let mut t = Timeline::new(s, Some(seed), 1000)?;
        t.run_to_end();
        Ok(t)
    })
    .unwrap_or_else(|p| {
        Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or(p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        ))
    })
}

/// The reopen that failed, if one did: (tick, error). The world then refuses every action
/// and checks nothing at the end (the engine is right to refuse a corrupt synced log), so
/// the run has not shown that anything held.
fn open_failure(t: &Timeline) -> Option<(u64, &str)> {
    t.trace().iter().find_map(|e| match &e.kind {
        TraceKind::OpenFailed { error } => Some((e.time, error.as_str())),
        _ => None,
    })
}

fn summary(t: &mut Timeline, seed: u64) -> serde_json::Value {
    let count = |name: &str| t.trace().iter().filter(|e| e.kind.name() == name).count();
    let checks: Vec<serde_json::Value> = t
        .trace()
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::InvariantChecked { name, ok, .. } => {
                Some(serde_json::json!({ "name": name, "ok": ok, "time": e.time }))
            }
            _ => None,
        })
        .collect();
    let amp = t.world().db().map(|db| {
        let a = db.amplification();
        serde_json::json!({
            "write": a.write, "wal_write": a.wal_write, "index_write": a.index_write,
            "read_units_per_lookup": a.read_pages_per_lookup, "space": a.space,
        })
    });
    let stats = t.world().db().map(|db| {
        let s = db.stats();
        serde_json::json!({
            "commits": s.commits, "aborts": s.aborts, "syncs": s.syncs,
            "commits_per_sync": s.commits_per_sync(), "checkpoints": s.checkpoints,
        })
    });
    let open_failed =
        open_failure(t).map(|(time, error)| serde_json::json!({ "time": time, "error": error }));
    serde_json::json!({
        "summary": {
            "scenario": t.scenario().name,
            "seed": seed,
            "ticks": t.world().time(),
            "events": t.trace().len(),
            "trace_hash": format!("{:016x}", trace_hash(t.trace())),
            "crashes": t.world().crashes(),
            "committed": count("committed"),
            "narration": { "reached": t.narration_step(), "steps": t.scenario().narration.len() },
            "invariants": checks,
            "failures": t.world().failures(),
            "open_failed": open_failed,
            "end_checks_ran": t.world().db().is_some(),
            "stats": stats,
            "amplification": amp,
            "dual_write_divergence": t.world().dual_write_divergence(),
        }
    })
}

/// Writes `line` to standard output; false once the reader is gone (as in `logspine list |
/// head -1`, where `println!` would panic), and the command then stops with status 1.
fn say(line: impl std::fmt::Display) -> bool {
    writeln!(std::io::stdout().lock(), "{line}").is_ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bad = |m: String| {
        eprintln!("logspine: {m}\n{USAGE}");
        ExitCode::from(2)
    };
    let Some(cmd) = args.first() else {
        return bad("no command".into());
    };
    match cmd.as_str() {
        "list" => {
            for name in library::names() {
                let s = library::scenario(name).expect("library");
                if !say(format_args!("{name}\t{}", s.title)) {
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        "show" => {
            let Some(s) = args.get(1).and_then(|n| library::scenario(n)) else {
                return bad("show needs a library scenario's name".into());
            };
            if !say(s.to_json()) {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        "run" | "sweep" => {
            let Some(what) = args.get(1) else {
                return bad(format!("{cmd} needs a scenario"));
            };
            let scenario = match load(what) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            if cmd == "run" {
                let seed = match number(&args, "--seed") {
                    Ok(s) => s.unwrap_or(scenario.seed),
                    Err(e) => return bad(e),
                };
                let mut t = match run(&scenario, seed) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!(
                            "logspine: seed {seed}: {e}\nreplay: logspine run {what} --seed {seed}"
                        );
                        return ExitCode::from(1);
                    }
                };
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                if !args.iter().any(|a| a == "--summary-only") {
                    for e in t.trace() {
                        let line = e.to_json();
                        if writeln!(out, "{line}").is_err() {
                            return ExitCode::from(1);
                        }
                    }
                }
                let ok = t.world().failures().is_empty();
                let s = summary(&mut t, seed);
                if writeln!(out, "{s}").and_then(|()| out.flush()).is_err() {
                    return ExitCode::from(1);
                }
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            } else {
                let (seeds, from) = match (number(&args, "--seeds"), number(&args, "--from")) {
                    (Ok(n), Ok(f)) => (n.unwrap_or(100), f.unwrap_or(0)),
                    (Err(e), _) | (_, Err(e)) => return bad(e),
                };
                let mut failed = 0u64;
                for seed in from..from + seeds {
                    let problem = match run(&scenario, seed) {
                        Ok(t) if t.world().failures().is_empty() => None,
                        Ok(t) => Some(t.world().failures().join("; ")),
                        Err(e) => Some(e),
                    };
                    if let Some(p) = problem {
                        failed += 1;
                        let line = serde_json::json!({
                            "failure": { "seed": seed, "problem": p,
                                "replay": format!("logspine run {what} --seed {seed}") }
                        });
                        if !say(line) {
                            return ExitCode::from(1);
                        }
                    }
                }
                let line = serde_json::json!({ "sweep": { "scenario": scenario.name, "from": from, "seeds": seeds, "failed": failed } });
                if !say(line) {
                    return ExitCode::from(1);
                }
                if failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
        }
        other => bad(format!("unknown command {other:?}")),
    }
}
