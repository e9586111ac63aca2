//! Comparison benchmark for `tokio_util::sync::CancellationToken`.
//!
//! This is the Rust/Tokio counterpart of the C++ Google Benchmark program
//! `token_bench` (halt / std::stop_token / raw Asio). It prints ONE JSON object
//! per line on stdout:
//!
//! ```text
//! {"op": "<name>", "ns": <float>}
//! ```
//!
//! where `ns` is nanoseconds per operation (or, for
//! `is_cancelled_p999_under_cancel`, the 99.9th-percentile latency of one
//! call in nanoseconds). Diagnostics go to stderr.
//!
//! No Tokio runtime is used: every operation here is synchronous, and the one
//! future we touch (`CancellationToken::cancelled()`) is polled by hand with a
//! no-op waker. See `benchmarks/README.md`, section "Method", for the exact
//! protocol of every op (the C++ side mirrors it).
//!
//! Common protocol for the per-call ops (`is_cancelled`, `child_token`,
//! `clone_drop`, `cancelled_register`), see [`bench_per_op`]:
//!   1. calibration, which doubles as warm-up: run batches of 1, 2, 4, ...
//!      iterations until one batch takes >= 20 ms;
//!   2. scale the iteration count so that one run takes ~200 ms;
//!   3. one more untimed warm-up run of that size;
//!   4. `RUNS` (5) timed runs; each yields elapsed_ns / iterations;
//!   5. report the median of the 5 values.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Number of timed repetitions per op; the median is reported.
const RUNS: usize = 5;
/// Target wall time of one timed run of a per-call op.
const TARGET_RUN: Duration = Duration::from_millis(200);
/// Calibration stops once a batch takes at least this long.
const CALIBRATION_MIN: Duration = Duration::from_millis(20);
/// Number of children in the fan-out / p999 trees.
const FANOUT: usize = 1_000_000;
/// Tokens per batch in `cancel_one_waiter`.
const WAITER_BATCH: usize = 1_000;
/// Quiet period the observer runs before the cancel starts (p999 op).
const OBSERVER_LEAD: Duration = Duration::from_millis(2);
/// Capacity (samples) of the pre-touched p999 sample buffer.
const MAX_SAMPLES: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// A waker that does nothing (no external `futures` crate needed).
fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every vtable function ignores the (null) data pointer, so the
    // RawWaker contract is trivially upheld.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(|a, b| a.partial_cmp(b).expect("NaN in measurements"));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of an ascending-sorted slice:
/// element at index ceil(p * n) - 1.
fn percentile_sorted(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty());
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn emit(op: &str, ns: f64) {
    println!("{{\"op\": \"{}\", \"ns\": {:.3}}}", op, ns);
}

#[inline(always)]
fn time_iters<F: FnMut()>(iters: u64, f: &mut F) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Per-call benchmark: calibrate (= warm-up), one more untimed warm-up run,
/// then `RUNS` runs of ~`TARGET_RUN` each; returns the median ns/iteration.
fn bench_per_op<F: FnMut()>(name: &str, mut f: F) -> f64 {
    let mut iters: u64 = 1;
    let elapsed = loop {
        let d = time_iters(iters, &mut f);
        if d >= CALIBRATION_MIN || iters >= (1 << 40) {
            break d;
        }
        iters *= 2;
    };
    let per_iter = elapsed.as_secs_f64() / iters as f64;
    let iters = ((TARGET_RUN.as_secs_f64() / per_iter).ceil() as u64).max(1);

    black_box(time_iters(iters, &mut f)); // warm-up run

    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| time_iters(iters, &mut f).as_nanos() as f64 / iters as f64)
        .collect();
    let m = median(&mut samples);
    eprintln!("# {name}: iters/run={iters} runs(ns/op)={samples:.3?} median={m:.3}");
    m
}

/// Builds `root` plus `n` direct children, kept alive in a Vec.
fn build_flat_tree(root: &CancellationToken, n: usize) -> Vec<CancellationToken> {
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        children.push(root.child_token());
    }
    children
}

// ---------------------------------------------------------------------------
// ops
// ---------------------------------------------------------------------------

/// `is_cancelled`: hot loop of `token.is_cancelled()` on an uncancelled root
/// token. (In tokio-util 0.7.3 this locks the node's std Mutex.)
fn op_is_cancelled() -> f64 {
    let token = CancellationToken::new();
    bench_per_op("is_cancelled", || {
        black_box(black_box(&token).is_cancelled());
    })
}

/// `child_token`: create a child of a long-lived (uncancelled) parent and drop
/// it again, per iteration.
fn op_child_token() -> f64 {
    let parent = CancellationToken::new();
    bench_per_op("child_token", || {
        drop(black_box(black_box(&parent).child_token()));
    })
}

/// `clone_drop`: clone a token handle and drop the clone, per iteration.
fn op_clone_drop() -> f64 {
    let token = CancellationToken::new();
    bench_per_op("clone_drop", || {
        drop(black_box(black_box(&token).clone()));
    })
}

/// `cancelled_register` (analogue of registering a cancellation callback,
/// `on_cancel` on the halt side): create `token.cancelled()`, poll it once
/// with a no-op waker (-> Pending, the waiter is now linked into the token's
/// Notify), then drop it (-> unlinked). Per iteration.
fn op_cancelled_register() -> f64 {
    let token = CancellationToken::new();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);

    // Sanity check once, outside the timed region.
    {
        let mut fut = std::pin::pin!(token.cancelled());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }

    bench_per_op("cancelled_register", || {
        let fut = std::pin::pin!(black_box(&token).cancelled());
        let r = fut.poll(&mut cx);
        black_box(&r);
    })
}

/// `cancel_fanout_per_child`: root with 1_000_000 direct children (kept in a
/// Vec). Only `root.cancel()` is timed (one Instant pair around the single
/// call); the result is elapsed_ns / 1_000_000. Building and dropping the
/// tree are untimed. 1 warm-up run + `RUNS` timed runs, each on a freshly
/// built tree; median reported.
fn op_cancel_fanout_per_child() -> f64 {
    let run = || -> f64 {
        let root = CancellationToken::new();
        let children = build_flat_tree(&root, FANOUT);
        let t0 = Instant::now();
        root.cancel();
        let dt = t0.elapsed();
        debug_assert!(children.iter().all(|c| c.is_cancelled()));
        black_box(&children);
        drop(children);
        drop(root);
        dt.as_nanos() as f64 / FANOUT as f64
    };
    black_box(run()); // warm-up
    let mut samples: Vec<f64> = (0..RUNS).map(|_| run()).collect();
    let m = median(&mut samples);
    eprintln!("# cancel_fanout_per_child: runs(ns/child)={samples:.3?} median={m:.3}");
    m
}

/// `cancel_one_waiter`: cost of `cancel()` on a root token that has exactly one
/// pending (polled once) `cancelled()` future. Per batch: create
/// `WAITER_BATCH` tokens, create+pin+poll one future per token (untimed), then
/// time a loop calling `cancel()` on each token (one Instant pair around the
/// whole loop). Batches are repeated until the timed total reaches
/// `TARGET_RUN`; a run's value is total_timed_ns / tokens_cancelled.
/// 1 warm-up run + `RUNS` runs; median reported.
fn op_cancel_one_waiter() -> f64 {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut run = || -> f64 {
        let mut total = Duration::ZERO;
        let mut cancelled: u64 = 0;
        while total < TARGET_RUN {
            let tokens: Vec<CancellationToken> =
                (0..WAITER_BATCH).map(|_| CancellationToken::new()).collect();
            let mut futs: Vec<Pin<Box<WaitForCancellationFuture<'_>>>> =
                tokens.iter().map(|t| Box::pin(t.cancelled())).collect();
            for f in futs.iter_mut() {
                assert!(f.as_mut().poll(&mut cx).is_pending());
            }
            let t0 = Instant::now();
            for t in tokens.iter() {
                t.cancel();
            }
            total += t0.elapsed();
            cancelled += WAITER_BATCH as u64;
            for f in futs.iter_mut() {
                assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(())));
            }
            drop(futs);
            drop(tokens);
        }
        total.as_nanos() as f64 / cancelled as f64
    };
    black_box(run()); // warm-up
    let mut samples: Vec<f64> = (0..RUNS).map(|_| run()).collect();
    let m = median(&mut samples);
    eprintln!("# cancel_one_waiter: runs(ns/cancel)={samples:.3?} median={m:.3}");
    m
}

/// `is_cancelled_p999_under_cancel` — exact protocol (mirrored in C++):
///
/// Setup (untimed), per run:
///   * `root = CancellationToken::new()`;
///   * `observed = root.child_token()` — created FIRST, before the others;
///   * 1_000_000 further direct children of `root`, kept alive in a Vec;
///     so the tree has 1_000_001 children, all direct children of `root`.
///   * a pre-touched sample buffer (start offset ns, duration ns).
///
/// Observer thread (spawned; the main thread is the canceller):
///   * sets `observing = true`, then loops until `stop` is set:
///       `t0 = Instant::now(); black_box(observed.is_cancelled());
///        t1 = Instant::now();` and records (t0 - base, t1 - t0) in ns,
///     where `base` is an Instant taken before the thread is spawned.
///     Every call is recorded, whatever it returns (false until the cancel
///     reaches `observed`, true afterwards).
///
/// Canceller (main thread):
///   * waits until `observing` is true, then busy-waits a further 2 ms so the
///     observer is in a steady state (observation starts before the cancel);
///   * `ts = Instant::now(); root.cancel(); te = Instant::now();`
///   * sets `stop` and joins the observer.
///
/// Result of a run: the samples whose start t0 lies in [ts, te) — i.e. calls
/// that began while `root.cancel()` was running — are sorted and the 99.9th
/// percentile is taken by nearest rank (index ceil(0.999 * n) - 1). Each
/// sample includes the cost of one `Instant::now()` (clock_gettime
/// CLOCK_MONOTONIC), like the C++ side's `std::chrono::steady_clock::now()`.
///
/// 1 warm-up run + `RUNS` runs; the median of the per-run p999 is reported.
/// Threads are not pinned (the machine has 2 cores: one per thread).
fn op_is_cancelled_p999_under_cancel() -> f64 {
    // Pre-touched buffer, reused across runs so that no page fault happens
    // while recording.
    let mut buf: Vec<(u64, u64)> = vec![(0u64, 0u64); MAX_SAMPLES];

    let run = |buf: &mut Vec<(u64, u64)>| -> f64 {
        let root = CancellationToken::new();
        let observed = root.child_token();
        let children = build_flat_tree(&root, FANOUT);

        let observing = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let base = Instant::now();

        let (n_recorded, ts, te) = std::thread::scope(|s| {
            let observer = s.spawn(|| {
                let mut n = 0usize;
                observing.store(true, Ordering::Release);
                while !stop.load(Ordering::Acquire) {
                    let t0 = Instant::now();
                    black_box(black_box(&observed).is_cancelled());
                    let t1 = Instant::now();
                    if n < buf.len() {
                        buf[n] = (
                            (t0 - base).as_nanos() as u64,
                            (t1 - t0).as_nanos() as u64,
                        );
                        n += 1;
                    }
                }
                n
            });

            while !observing.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let lead = Instant::now();
            while lead.elapsed() < OBSERVER_LEAD {
                std::hint::spin_loop();
            }

            let ts = Instant::now();
            root.cancel();
            let te = Instant::now();

            stop.store(true, Ordering::Release);
            let n = observer.join().expect("observer thread panicked");
            (n, ts, te)
        });

        assert!(observed.is_cancelled());
        if n_recorded == buf.len() {
            eprintln!("# warning: p999 sample buffer full ({n_recorded} samples)");
        }
        let ts_ns = (ts - base).as_nanos() as u64;
        let te_ns = (te - base).as_nanos() as u64;
        let mut lat: Vec<u64> = buf[..n_recorded]
            .iter()
            .filter(|(start, _)| *start >= ts_ns && *start < te_ns)
            .map(|&(_, d)| d)
            .collect();
        assert!(!lat.is_empty(), "no sample inside the cancel window");
        lat.sort_unstable();
        let p50 = percentile_sorted(&lat, 0.5);
        let p99 = percentile_sorted(&lat, 0.99);
        let p999 = percentile_sorted(&lat, 0.999);
        eprintln!(
            "#   p999 run: cancel={:.3} ms samples_in_window={} p50={} p99={} p999={} max={} ns",
            (te - ts).as_secs_f64() * 1e3,
            lat.len(),
            p50,
            p99,
            p999,
            lat[lat.len() - 1]
        );
        drop(children);
        p999 as f64
    };

    black_box(run(&mut buf)); // warm-up
    let mut samples: Vec<f64> = (0..RUNS).map(|_| run(&mut buf)).collect();
    let m = median(&mut samples);
    eprintln!("# is_cancelled_p999_under_cancel: runs(p999 ns)={samples:.1?} median={m:.1}");
    m
}

fn main() {
    // Each result is printed (and flushed, stdout is line-buffered) as soon as
    // it is known.
    emit("is_cancelled", op_is_cancelled());
    emit("child_token", op_child_token());
    emit("clone_drop", op_clone_drop());
    emit("cancelled_register", op_cancelled_register());
    emit("cancel_fanout_per_child", op_cancel_fanout_per_child());
    emit("cancel_one_waiter", op_cancel_one_waiter());
    emit("is_cancelled_p999_under_cancel", op_is_cancelled_p999_under_cancel());
}
