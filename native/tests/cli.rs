//! The command-line runner (`logspine`) run as a person runs it, as a separate process:
//! its output formats (README, "Command-line runner") and its exit statuses (0 when every
//! invariant held, 1 when one failed, the database could not be reopened or the output
//! closed early, 2 for bad input).

use std::path::PathBuf;
use std::process::Command;

use logspine_core::world::{library, Scenario};
use serde_json::Value;

/// Runs `logspine args`: (exit status, stdout, stderr).
fn logspine(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logspine"))
        .args(args)
        .output()
        .expect("the runner starts");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8(out.stderr).expect("UTF-8"),
    )
}

/// A file under the system's temporary directory, unique to this test and process.
fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("logspine-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path
}

/// Every line of `out` as JSON.
fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn list_names_every_library_scenario_with_its_title() {
    let (code, out, _) = logspine(&["list"]);
    assert_eq!(code, 0);
    let listed: Vec<(&str, &str)> = out
        .lines()
        .map(|l| l.split_once('\t').expect("name<TAB>title"))
        .collect();
    let names: Vec<&str> = library::names().collect();
    assert_eq!(listed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), names);
    for (name, title) in listed {
        assert_eq!(title, library::scenario(name).unwrap().title);
    }
}

#[test]
fn run_prints_the_trace_as_json_lines_then_a_summary_and_replays_exactly() {
    let (code, out, err) = logspine(&["run", "torn-write"]);
    assert_eq!(code, 0, "{err}");
    let all = lines(&out);
    let (summary, trace) = all.split_last().unwrap();
    assert!(trace.len() > 100);
    for (i, e) in trace.iter().enumerate() {
        assert_eq!(e["seq"], i as u64, "{e}");
        assert!(e["type"].is_string() && e["time"].is_u64(), "{e}");
    }
    assert!(trace
        .windows(2)
        .all(|w| w[0]["time"].as_u64() <= w[1]["time"].as_u64()));
    let s = &summary["summary"];
    assert_eq!(s["scenario"], "torn-write");
    assert_eq!(s["events"], trace.len() as u64);
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["narration"]["reached"], s["narration"]["steps"]);
    let checks = s["invariants"].as_array().unwrap();
    assert!(
        !checks.is_empty() && checks.iter().all(|c| c["ok"] == true),
        "{checks:?}"
    );
    assert!(
        trace.iter().any(|e| e["type"] == "crash") && trace.iter().any(|e| e["type"] == "reopened"),
        "the scenario crashes and reopens"
    );
    // The same scenario and seed: the same bytes. The library's seed is the default.
    let seed = s["seed"].as_u64().unwrap().to_string();
    let (_, again, _) = logspine(&["run", "torn-write", "--seed", &seed]);
    assert_eq!(again, out);
    // Another seed: another run, as valid.
    let (code, other, _) = logspine(&["run", "torn-write", "--seed", "99", "--summary-only"]);
    assert_eq!(code, 0);
    let other = lines(&other);
    assert_eq!(other.len(), 1, "--summary-only prints the summary alone");
    assert_ne!(other[0]["summary"]["trace_hash"], s["trace_hash"]);
    // `show` writes the scenario file; running the file is running the library scenario.
    let (code, json, _) = logspine(&["show", "torn-write"]);
    assert_eq!(code, 0);
    assert_eq!(
        Scenario::from_json(&json).unwrap(),
        library::scenario("torn-write").unwrap()
    );
    let file = temp("torn-write.json", &json);
    let (code, from_file, _) = logspine(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(from_file, out);
    let _ = std::fs::remove_file(file);
}

#[test]
fn sweep_reports_each_failing_seed_with_its_replay_command_and_exits_1() {
    // Retention shorter than the Raft feed's reading: it loses changes it had not read,
    // so the nodes cannot equal the database and the end check says so.
    let mut s = library::scenario("raft-replicates-the-database").unwrap();
    s.config.retention_bytes = 12_288;
    s.narration.clear();
    let file = temp("short-retention.json", &s.to_json());
    let path = file.to_str().unwrap();
    let (code, out, err) = logspine(&["sweep", path, "--seeds", "3", "--from", "20"]);
    assert_eq!(code, 1, "{out}{err}");
    let all = lines(&out);
    let (last, failures) = all.split_last().unwrap();
    assert_eq!(last["sweep"]["failed"], failures.len() as u64);
    assert_eq!(last["sweep"]["seeds"], 3);
    assert!(!failures.is_empty());
    for f in failures {
        let f = &f["failure"];
        let seed = f["seed"].as_u64().unwrap();
        assert!((20..23).contains(&seed));
        assert!(
            f["problem"]
                .as_str()
                .unwrap()
                .contains("raft_replicates_database"),
            "{f}"
        );
        assert_eq!(f["replay"], format!("logspine run {path} --seed {seed}"));
        // The replay command fails the same way, and says so in its summary.
        let (code, out, _) =
            logspine(&["run", path, "--seed", &seed.to_string(), "--summary-only"]);
        assert_eq!(code, 1);
        let summary = &lines(&out)[0]["summary"];
        let failed: Vec<&Value> = summary["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .collect();
        assert_eq!(failed.len(), 1, "{summary}");
        assert_eq!(failed[0]["name"], "raft_replicates_database");
        assert_eq!(summary["failures"][0], f["problem"]);
    }
    // The library scenario itself sweeps clean.
    let (code, out, _) = logspine(&["sweep", "raft-replicates-the-database", "--seeds", "3"]);
    assert_eq!(code, 0);
    assert_eq!(lines(&out).last().unwrap()["sweep"]["failed"], 0);
    let _ = std::fs::remove_file(file);
}

/// Two writes made durable, then a bit flipped in the first WAL record: not a torn tail
/// (valid records follow it), so the reopen refuses the log and the world stops there.
const BIT_ROT: &str = r#"{
  "version": 1,
  "name": "bit-rot",
  "title": "Bit rot in the synced WAL",
  "seed": 1,
  "config": { "index": "btree", "sync_latency": [20, 30] },
  "end": 50,
  "actions": [
    { "at": 1, "action": { "do": "write", "key": "apple", "value": "red" } },
    { "at": 2, "action": { "do": "write", "key": "banana", "value": "yellow" } },
    { "at": 100, "action": { "do": "flip_bit", "file": "wal-00000000000000000000.seg", "bit": 320 } },
    { "at": 120, "action": { "do": "write", "key": "cherry", "value": "dark red" } }
  ],
  "narration": []
}"#;

#[test]
fn a_reopen_that_fails_is_a_failed_run_with_no_end_checks_and_exits_1() {
    let file = temp("bit-rot.json", BIT_ROT);
    let path = file.to_str().unwrap();
    let (code, out, err) = logspine(&["run", path]);
    assert_eq!(code, 1, "{out}{err}");
    let all = lines(&out);
    let (summary, trace) = all.split_last().unwrap();
    let opened: Vec<&Value> = trace
        .iter()
        .filter(|e| e["type"] == "open_failed")
        .collect();
    assert_eq!(opened.len(), 1, "{out}");
    let error = opened[0]["error"].as_str().unwrap();
    assert!(error.contains("corrupt"), "{error}");
    assert!(
        trace.iter().any(|e| e["type"] == "action_refused"
            && e["reason"] == "the database could not be reopened"),
        "the write after it is refused"
    );
    let s = &summary["summary"];
    assert_eq!(s["open_failed"]["error"], error);
    assert_eq!(s["open_failed"]["time"], opened[0]["time"]);
    assert_eq!(s["end_checks_ran"], false);
    assert_eq!(s["invariants"], serde_json::json!([]));
    let failures = s["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{s}");
    let said = failures[0].as_str().unwrap();
    assert!(
        said.starts_with(
            "t=100 open_failed: the database could not be reopened, so no end checks ran: "
        ) && said.contains(error)
            && said.ends_with("(seed 1)"),
        "{said}"
    );
    // A sweep counts each such seed as a failure, with the replay command.
    let (code, out, err) = logspine(&["sweep", path, "--seeds", "3"]);
    assert_eq!(code, 1, "{out}{err}");
    let all = lines(&out);
    let (last, failures) = all.split_last().unwrap();
    assert_eq!(last["sweep"]["failed"], 3);
    assert_eq!(failures.len(), 3);
    for (seed, f) in failures.iter().enumerate() {
        let f = &f["failure"];
        assert_eq!(f["seed"], seed as u64);
        assert!(
            f["problem"]
                .as_str()
                .unwrap()
                .contains("could not be reopened"),
            "{f}"
        );
        assert_eq!(f["replay"], format!("logspine run {path} --seed {seed}"));
    }
    // A run whose reopens all succeed says so too.
    let (code, out, _) = logspine(&["run", "torn-write", "--summary-only"]);
    assert_eq!(code, 0);
    let s = &lines(&out)[0]["summary"];
    assert_eq!(s["open_failed"], Value::Null);
    assert_eq!(s["end_checks_ran"], true);
    let _ = std::fs::remove_file(file);
}

#[test]
fn bad_input_exits_2_with_the_problem_named_and_nothing_on_stdout() {
    let truncated = {
        let json = library::scenario("group-commit").unwrap().to_json();
        temp("truncated.json", &json[..json.len() / 2])
    };
    let unknown_field = {
        let json = library::scenario("group-commit").unwrap().to_json();
        temp("unknown.json", &json.replacen("\"seed\"", "\"sead\"", 1))
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "no command"),
        (vec!["frobnicate"], "unknown command"),
        (vec!["run"], "needs a scenario"),
        (vec!["show", "no-such-scenario"], "library scenario's name"),
        (
            vec!["run", "no-such-scenario"],
            "neither a library scenario",
        ),
        (
            vec!["run", "torn-write", "--seed", "x"],
            "--seed needs a number",
        ),
        (
            vec!["sweep", "torn-write", "--seeds"],
            "--seeds needs a number",
        ),
        (vec!["run", truncated.to_str().unwrap()], "truncated.json"),
        (vec!["run", unknown_field.to_str().unwrap()], "sead"),
    ];
    for (args, says) in cases {
        let (code, out, err) = logspine(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_file(truncated);
    let _ = std::fs::remove_file(unknown_field);
}

/// Output into a pipe whose reader is gone (`logspine list | head -0`): each command stops
/// with status 1 and no panic (before, `list`, `show` and `sweep` panicked, and `run`
/// ignored the failed write).
#[test]
fn a_closed_output_pipe_is_status_1_not_a_panic() {
    for args in [
        &["list"][..],
        &["show", "torn-write"],
        &["run", "torn-write", "--summary-only"],
        &["sweep", "torn-write", "--seeds", "1"],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_logspine"))
            .args(args)
            .stdout(writer)
            .output()
            .expect("the runner starts");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
