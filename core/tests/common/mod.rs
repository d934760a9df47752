//! What the seeded simulations share: which seeds to run and how a failure is reported.
//!
//! `LOGSPINE_SEED=N` replays one seed; `LOGSPINE_SEEDS=N` runs seeds `0..N` (natively;
//! in wasm there is no environment and the default count runs).

/// An environment variable as a number (always `None` in wasm).
pub fn env_u64(name: &str) -> Option<u64> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var(name).ok().and_then(|v| v.parse().ok())
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        None
    }
}

/// Runs `run` for the seed in `LOGSPINE_SEED`, or for seeds `0..LOGSPINE_SEEDS` (default
/// `default`). The first failure — an `Err`, or natively a panic — fails the test with the
/// seed and the command that replays it (`cargo test -p logspine-core --test {target} --
/// {test}`). Returns how many seeds ran, or `None` when one seed was replayed (so callers
/// skip their coverage checks).
pub fn for_each_seed(
    target: &str,
    test: &str,
    default: u64,
    mut run: impl FnMut(u64) -> Result<(), String>,
) -> Option<u64> {
    let replay = |seed: u64| {
        format!(
            "replay: LOGSPINE_SEED={seed} cargo test -p logspine-core --test {target} -- {test}"
        )
    };
    if let Some(seed) = env_u64("LOGSPINE_SEED") {
        if let Err(e) = run(seed) {
            panic!("seed {seed}: {e}\n{}", replay(seed));
        }
        return None;
    }
    let seeds = env_u64("LOGSPINE_SEEDS").unwrap_or(default);
    for seed in 0..seeds {
        #[cfg(not(target_arch = "wasm32"))]
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed)))
            .unwrap_or_else(|p| {
                Err(format!(
                    "panicked: {}",
                    p.downcast_ref::<String>()
                        .map(String::as_str)
                        .or(p.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)")
                ))
            });
        #[cfg(target_arch = "wasm32")]
        let result = run(seed);
        if let Err(e) = result {
            panic!("seed {seed}: {e}\n{}", replay(seed));
        }
    }
    Some(seeds)
}
