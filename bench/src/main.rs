//! The native benchmark runner: `cargo run --profile bench -p logspine-bench [-- --quick]`
//! prints the group-commit and replay tables in markdown (see the library docs).

use std::time::Instant;

use logspine_bench::{report, Sizes};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
    let origin = Instant::now();
    let mut clock = move || origin.elapsed().as_secs_f64();
    match report("native", &sizes, &mut clock) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
