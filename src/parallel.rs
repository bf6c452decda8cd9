//! A large batch's independent work split over a few threads: the rules of an
//! `addRules` are checked before anything is sent, while the switch has nothing to
//! do, so on a 2-core host the other core is free for half of them.

/// From how many items a batch is split.
pub const PARALLEL_FROM: usize = 2048;

/// From how many bytes a batch given as text is split (about 1,500 rules).
pub const PARALLEL_FROM_BYTES: usize = 256 * 1024;

/// At most this many threads for one batch (this one among them): xo-server
/// shares the host with others.
const MAX_THREADS: usize = 4;

/// Threads worth using for `items` items: 1 below [`PARALLEL_FROM`].
pub fn threads_for(items: usize) -> usize {
    if items < PARALLEL_FROM {
        return 1;
    }
    available_threads()
}

/// Threads worth using for a text of `len` bytes: 1 below [`PARALLEL_FROM_BYTES`].
pub fn threads_for_text(len: usize) -> usize {
    if len < PARALLEL_FROM_BYTES {
        return 1;
    }
    available_threads()
}

/// The cores of the host, at most [`MAX_THREADS`].
fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS)
}

/// `each(index, item)` of every item, on up to `threads` threads (this one
/// among them), results in the order of `items`; `None` if any call answers
/// `None` (the caller then does the work again in order, to name the first
/// failure as a single thread would).
pub fn map_in_parallel<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    each: impl Fn(usize, &I) -> Option<T> + Sync,
) -> Option<Vec<T>> {
    let per_thread = items.len().div_ceil(threads.max(1)).max(1);
    let run = |first: usize, part: &[I]| -> Option<Vec<T>> {
        part.iter().enumerate().map(|(k, item)| each(first + k, item)).collect()
    };
    let mut parts = items.chunks(per_thread).enumerate();
    let Some((_, mine)) = parts.next() else { return Some(Vec::new()) };
    std::thread::scope(|scope| {
        // A part whose thread cannot be made (the process is at its limit) is done
        // here, after this thread's own.
        let others: Vec<_> = parts
            .map(|(n, part)| {
                let first = n * per_thread;
                std::thread::Builder::new().spawn_scoped(scope, move || run(first, part)).map_err(|_| (first, part))
            })
            .collect();
        let mut out = run(0, mine);
        for other in others {
            let theirs = match other {
                // A panic in a part is this thread's panic (the caller's guard catches it).
                Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err((first, part)) => run(first, part),
            };
            out = out.zip(theirs).map(|(mut all, part)| {
                all.extend(part);
                all
            });
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_whatever_the_threads() {
        let items: Vec<u32> = (0..10_001).collect();
        for threads in [1, 2, 3, 4, 7] {
            let out = map_in_parallel(&items, threads, |i, &x| Some((i as u32, x * 2))).unwrap();
            assert_eq!(out.len(), items.len());
            assert!(out.iter().enumerate().all(|(i, &(at, x))| at as usize == i && x == 2 * i as u32), "{threads}");
        }
        assert_eq!(map_in_parallel(&[] as &[u32], 2, |_, &x| Some(x)), Some(vec![]));
    }

    #[test]
    fn one_failure_anywhere_fails_the_whole() {
        let items: Vec<u32> = (0..5000).collect();
        for bad in [0, 2499, 2500, 4999] {
            assert_eq!(map_in_parallel(&items, 2, |_, &x| (x != bad).then_some(x)), None, "{bad}");
        }
    }

    #[test]
    fn a_panic_in_another_thread_reaches_the_caller() {
        let items: Vec<u32> = (0..100).collect();
        let caught = std::panic::catch_unwind(|| map_in_parallel(&items, 2, |_, &x| if x == 99 { panic!("boom") } else { Some(x) }));
        assert!(caught.is_err());
    }

    #[test]
    fn small_batches_stay_on_one_thread() {
        assert_eq!(threads_for(PARALLEL_FROM - 1), 1);
        assert!((1..=MAX_THREADS).contains(&threads_for(PARALLEL_FROM)));
    }
}
