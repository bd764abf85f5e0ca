//! Splits file work over the machine's cores. The generator's time is
//! mostly system calls (a `stat`, `open`, `read` and `close` per manifest
//! and per unit), and those run in parallel where the kernel allows.

use std::thread;

/// Below this many items a thread costs more than it saves.
const MIN_PER_THREAD: usize = 64;

/// Applies `f` to consecutive chunks of `items` on up to one thread per
/// core and concatenates the results in order, so output stays
/// deterministic.
pub fn map_chunks<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> Vec<R> + Sync,
{
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return f(items);
    }
    let chunk = items.len().div_ceil(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| f(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = super::map_chunks(&items, |part| part.iter().map(|i| i * 2).collect());
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}
