// Rust names for the demangler: a module, a generic struct, an inherent impl.
// Prints "ready" and spins for the first argument's seconds (default: until killed).
use std::hint::black_box;
use std::time::{Duration, Instant};

mod engine {
    pub struct Mixer<T> {
        pub seed: T,
    }

    impl<T: Copy + Into<u64>> Mixer<T> {
        #[inline(never)]
        pub fn churn(&self, rounds: u64) -> u64 {
            let mut x: u64 = self.seed.into();
            for _ in 0..rounds {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
            }
            x
        }
    }
}

#[inline(never)]
fn hot_path(rounds: u64) -> u64 {
    let mixer = engine::Mixer { seed: black_box(7u32) };
    mixer.churn(rounds)
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1e9);
    println!("ready");
    let end = Instant::now() + Duration::from_secs_f64(seconds.min(1e6));
    while Instant::now() < end {
        black_box(hot_path(100_000));
    }
}
