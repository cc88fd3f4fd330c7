//! Work spread over every core: staging wheels is thousands of independent system calls per
//! wheel.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

/// `items.map(f)`, in order, with the items shared out among one thread per core, at most
/// `max_threads` (each takes the next item when it is done, so one large wheel does not hold up
/// the rest). With one thread, the items are mapped in order on the calling thread. A panic in
/// `f` is passed on.
pub(crate) fn parallel_map<T: Send, R: Send>(
    items: Vec<T>,
    max_threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(max_threads)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some((index, item)) = next else {
                            return done;
                        };
                        done.push((index, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..100).collect();
        let squares = parallel_map(items, usize::MAX, |n| {
            // Uneven work, so that threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((n % 7) * 50));
            n * n
        });
        assert_eq!(squares, (0..100).map(|n| n * n).collect::<Vec<_>>());
        assert!(parallel_map(Vec::<u8>::new(), usize::MAX, |n| n).is_empty());
    }
}
