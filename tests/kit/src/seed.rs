//! Every random test prints its seed; `HUTONG_SEED=N` replays one.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `HUTONG_SEED` if set, else `default`; printed either way.
pub fn seed_or(default: u64) -> u64 {
    let seed = from_env().unwrap_or(default);
    println!("seed {seed} (replay with HUTONG_SEED={seed})");
    seed
}

/// `HUTONG_SEED` if set, else a fresh random seed; printed either way.
pub fn seed_or_random() -> u64 {
    let seed = from_env().unwrap_or_else(rand::random);
    println!("seed {seed} (replay with HUTONG_SEED={seed})");
    seed
}

/// A generator seeded by [`seed_or_random`].
pub fn seeded() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed_or_random())
}

/// `HUTONG_SEED`, if it is set to a number.
pub fn from_env() -> Option<u64> {
    std::env::var("HUTONG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
}
