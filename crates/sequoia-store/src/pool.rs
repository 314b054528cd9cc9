//! Work split into numbered units, done on several threads and handed out in unit order
//! (export, batches of lookups): a bounded number of units run ahead of the one written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Units done ahead of the one handed out, per thread.
const AHEAD_PER_THREAD: usize = 4;

/// Blocks of a v2 pack per unit of work (export, verify): about 512 KiB of entries with
/// 2 KiB blocks.
const UNIT_BLOCKS: u32 = 256;

/// `0..blocks` in consecutive units of work.
pub(crate) fn block_ranges(blocks: u32) -> impl Iterator<Item = std::ops::Range<u32>> {
    (0..blocks)
        .step_by(UNIT_BLOCKS as usize)
        .map(move |start| start..start.saturating_add(UNIT_BLOCKS).min(blocks))
}

/// Does `work(state, i)` for every unit `i` in `0..units` on `threads` threads (each with
/// its own `state` from `init`) and hands the results to `sink` in unit order. Stops at the
/// first error of `work` or `sink` and returns it; units after it are not handed out. An
/// error `E` is made from a message with `stopped` if a thread panics.
///
/// # Examples
/// ```
/// let mut out = Vec::new();
/// sequoia_store::ordered_parallel(
///     10,
///     2,
///     || (),
///     |_, i| Ok::<_, String>(i * i),
///     |sq| {
///         out.push(sq);
///         Ok(())
///     },
///     |m| m,
/// )
/// .unwrap();
/// assert_eq!(out, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// ```
pub fn ordered_parallel<S, R: Send, E: Send>(
    units: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) -> Result<R, E> + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
    stopped: impl Fn(String) -> E + Sync,
) -> Result<(), E> {
    let threads = threads.clamp(1, units.max(1));
    let (ticket_tx, ticket_rx) = crossbeam_channel::unbounded::<usize>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, Result<R, E>)>();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tickets, done, stop) = (ticket_rx.clone(), done_tx.clone(), &stop);
            let (init, work, stopped) = (&init, &work, &stopped);
            scope.spawn(move || {
                let mut state = init();
                for i in tickets {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // A panic becomes this unit's error, so that the thread handing results
                    // out never waits for a unit that will not come.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        work(&mut state, i)
                    }));
                    let failed = r.is_err();
                    let r = r.unwrap_or_else(|_| {
                        Err(stopped(format!("a worker thread panicked on unit {i}")))
                    });
                    if done.send((i, r)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut tickets = Some(ticket_tx);
        let mut issued = 0;
        let ahead = threads * AHEAD_PER_THREAD;
        let mut issue_up_to = |n: usize, tickets: &Option<crossbeam_channel::Sender<usize>>| {
            while issued < n.min(units) {
                if let Some(t) = tickets {
                    let _ = t.send(issued);
                }
                issued += 1;
            }
        };
        issue_up_to(ahead, &tickets);
        let mut ready: BTreeMap<usize, R> = BTreeMap::new();
        let mut next = 0;
        let result = (|| {
            while next < units {
                let Ok((i, r)) = done_rx.recv() else {
                    return Err(stopped("the worker threads stopped".into()));
                };
                ready.insert(i, r?);
                while let Some(r) = ready.remove(&next) {
                    sink(r)?;
                    next += 1;
                    issue_up_to(next + ahead, &tickets);
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        tickets.take();
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_cover_every_block_once() {
        for blocks in [0, 1, 255, 256, 257, 1000] {
            let ranges: Vec<_> = block_ranges(blocks).collect();
            assert!(ranges.iter().all(|r| !r.is_empty() && r.len() <= 256));
            let flat: Vec<u32> = ranges.into_iter().flatten().collect();
            assert_eq!(flat, (0..blocks).collect::<Vec<_>>(), "{blocks}");
        }
    }

    #[test]
    fn results_come_in_unit_order_whatever_the_threads() {
        for threads in [1, 2, 5] {
            let mut got = Vec::new();
            ordered_parallel(
                200,
                threads,
                || 0u32,
                |done, i| {
                    *done += 1;
                    // Uneven work, so that units finish out of order.
                    if i % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Ok::<_, String>(i)
                },
                |i| {
                    got.push(i);
                    Ok(())
                },
                |m| m,
            )
            .unwrap();
            assert_eq!(got, (0..200).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn the_first_error_in_unit_order_stops_the_rest() {
        let mut got = Vec::new();
        let r = ordered_parallel(
            100,
            2,
            || (),
            |_, i| {
                if i == 30 {
                    Err(format!("unit {i}"))
                } else {
                    Ok(i)
                }
            },
            |i| {
                got.push(i);
                if i == 50 {
                    Err("sink".to_string())
                } else {
                    Ok(())
                }
            },
            |m| m,
        );
        assert_eq!(r, Err("unit 30".to_string()));
        assert_eq!(got, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_unit_is_an_error_not_a_hang() {
        let r = ordered_parallel(
            20,
            2,
            || (),
            |_, i| {
                if i == 3 {
                    panic!("unit 3 fails");
                }
                Ok::<_, String>(i)
            },
            |_| Ok(()),
            |m| m,
        );
        assert!(r.unwrap_err().contains("panicked on unit 3"));
    }
}
