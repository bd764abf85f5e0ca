//! Measures how long `Testbed::boot` (until ready) and teardown take.
//!
//! `cargo run -p testbed --example boot_time [N]` (default N = 5, sequential).

use std::time::{Duration, Instant};

use testbed::Testbed;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(5);
    let (mut boots, mut downs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let start = Instant::now();
        let tb = Testbed::boot().unwrap_or_else(|e| panic!("boot {i}: {e}"));
        let booted = start.elapsed();
        let start = Instant::now();
        tb.shutdown()
            .unwrap_or_else(|e| panic!("shutdown {i}: {e}"));
        let down = start.elapsed();
        println!("boot {i}: ready after {booted:?}, teardown {down:?}");
        boots.push(booted);
        downs.push(down);
    }
    println!(
        "median of {n}: boot {:?}, teardown {:?}",
        median(boots),
        median(downs)
    );
}
