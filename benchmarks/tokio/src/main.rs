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
//! call in nanoseconds; for `*_per_task`, nanoseconds per task; for
//! `arm_cancel_1e6`, nanoseconds per timer; for `task_memory_bytes` and
//! `timer_memory_bytes`, BYTES per task / per pending timer despite the field
//! name). Diagnostics go to stderr.
//!
//! The token ops use no Tokio runtime: they are synchronous, and the one
//! future we touch (`CancellationToken::cancelled()`) is polled by hand with a
//! no-op waker. The task ops (`spawn_abort_join`, `spawn_join_ready`,
//! `abort_before_start`, `join_set_10k_per_task`, `abort_all_10k_per_task`,
//! `task_memory_bytes`) run on ONE current-thread runtime
//! (`Builder::new_current_thread().enable_all()`), measured inside
//! `rt.block_on(async { ... })`. The select/timeout ops (`select_*`,
//! `timeout_ready`, counterparts of the C++ `select_bench`) use
//! `tokio::select!` and `tokio::time::timeout` inside `block_on` on the same
//! runtime, with the same per-call protocol. The timer ops (`arm_cancel_1e6`,
//! `timer_memory_bytes`, counterparts of the C++ `timer_bench`, issue 12) arm
//! 10^6 `Sleep`s on that runtime. See `benchmarks/README.md`,
//! section "Method", for the exact protocol of every op (the C++ side
//! mirrors it).
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
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::{JoinHandle, JoinSet};
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
/// Tasks per run in `join_set_10k_per_task`, `abort_all_10k_per_task` and
/// `task_memory_bytes`.
const TASKS: usize = 10_000;
/// "Forever" for the pending tasks: they sleep this long and are aborted.
const SLEEP_FOREVER: Duration = Duration::from_secs(3600);
/// The losing `sleep` branch of the select/timeout ops (the C++ side waits on
/// a 60 s `steady_timer`).
const SELECT_SLEEP: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// allocation counting (for `task_memory_bytes` only)
// ---------------------------------------------------------------------------

/// `System` plus optional counting. Counting is off except inside the
/// `task_memory_bytes` window; when off, the only extra work per
/// (de)allocation is one relaxed load of `COUNTING` and a predictable branch.
/// When on, it adds the requested sizes (`Layout::size()`, not malloc's
/// usable size / chunk overhead) with relaxed atomics.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed while `COUNTING` was on.
static NET_BYTES: AtomicIsize = AtomicIsize::new(0);
/// Number of allocations while `COUNTING` was on.
static N_ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            N_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            N_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc_zeroed(layout)
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        System.dealloc(ptr, layout)
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
            N_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

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

/// Calibration + timed runs shared by the per-call ops. `run(iters)` executes
/// `iters` iterations and returns their elapsed time. Calibrate (= warm-up),
/// one more untimed warm-up run, then `RUNS` runs of ~`TARGET_RUN` each;
/// returns the median ns/iteration.
fn calibrated_runs<R: FnMut(u64) -> Duration>(name: &str, mut run: R) -> f64 {
    let mut iters: u64 = 1;
    let elapsed = loop {
        let d = run(iters);
        if d >= CALIBRATION_MIN || iters >= (1 << 40) {
            break d;
        }
        iters *= 2;
    };
    let per_iter = elapsed.as_secs_f64() / iters as f64;
    let iters = ((TARGET_RUN.as_secs_f64() / per_iter).ceil() as u64).max(1);

    black_box(run(iters)); // warm-up run

    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| run(iters).as_nanos() as f64 / iters as f64)
        .collect();
    let m = median(&mut samples);
    eprintln!("# {name}: iters/run={iters} runs(ns/op)={samples:.3?} median={m:.3}");
    m
}

/// Per-call benchmark of a synchronous closure (see [`calibrated_runs`]).
fn bench_per_op<F: FnMut()>(name: &str, mut f: F) -> f64 {
    calibrated_runs(name, |iters| time_iters(iters, &mut f))
}

/// Per-call benchmark of an async operation on the current-thread runtime
/// `rt`: each run is ONE `rt.block_on(async { t0; for .. { f().await }; t0.elapsed() })`,
/// so the clock pair is inside the runtime and `block_on`'s own entry/exit is
/// not timed. Same calibration as [`bench_per_op`].
fn bench_per_op_async<F, Fut>(rt: &Runtime, name: &str, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    calibrated_runs(name, |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                f().await;
            }
            start.elapsed()
        })
    })
}

/// 1 warm-up run + `RUNS` runs of `run` (each returning one value); median.
fn median_of_runs<R: FnMut() -> f64>(name: &str, unit: &str, mut run: R) -> f64 {
    black_box(run()); // warm-up
    let mut samples: Vec<f64> = (0..RUNS).map(|_| run()).collect();
    let m = median(&mut samples);
    eprintln!("# {name}: runs({unit})={samples:.3?} median={m:.3}");
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

// ---------------------------------------------------------------------------
// task ops (current-thread runtime)
// ---------------------------------------------------------------------------

/// Number of spawned tasks that have been polled at least once (incremented
/// by the sleeper tasks of the sanity checks, `abort_all_10k_per_task` and
/// `task_memory_bytes` before they start sleeping).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A task that sleeps "forever" (until aborted).
async fn sleeper() {
    tokio::time::sleep(SLEEP_FOREVER).await;
}

/// Like [`sleeper`], but first counts its first poll in `STARTED`. Used where
/// we must check that every task has been polled (and is pending).
async fn counted_sleeper() {
    STARTED.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(SLEEP_FOREVER).await;
}

/// `yield_now()` until `STARTED` reaches `target`, i.e. until every spawned
/// counted sleeper has had its first poll. One `yield_now()` is not enough in
/// general: after the `block_on` future yields, the current-thread scheduler
/// runs at most `event_interval` (61) tasks before it polls the `block_on`
/// future again. Returns the number of yields.
async fn yield_until_started(target: usize) -> usize {
    let mut yields = 0;
    while STARTED.load(Ordering::Relaxed) < target {
        tokio::task::yield_now().await;
        yields += 1;
        assert!(yields < 10 * TASKS, "spawned tasks are not being polled");
    }
    yields
}

/// `spawn_abort_join`, per iteration: spawn a sleeper, `yield_now()` once so
/// that it gets its first poll (it is then pending in the timer), `abort()`,
/// await the JoinHandle, which must yield a cancelled `JoinError`.
fn op_spawn_abort_join(rt: &Runtime) -> f64 {
    // Sanity check (untimed): after one yield the task has been polled and is
    // pending; the abort then cancels it.
    rt.block_on(async {
        let before = STARTED.load(Ordering::Relaxed);
        let h = tokio::spawn(counted_sleeper());
        tokio::task::yield_now().await;
        assert_eq!(STARTED.load(Ordering::Relaxed), before + 1, "not polled after one yield");
        assert!(!h.is_finished());
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
    });
    bench_per_op_async(rt, "spawn_abort_join", || async {
        let h = tokio::spawn(sleeper());
        tokio::task::yield_now().await;
        h.abort();
        let r = h.await;
        assert!(r.unwrap_err().is_cancelled());
    })
}

/// `spawn_join_ready`, per iteration: spawn a task that returns immediately
/// and await its JoinHandle.
fn op_spawn_join_ready(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "spawn_join_ready", || async {
        let h = tokio::spawn(async { 1u64 });
        let v = h.await.unwrap();
        black_box(v);
    })
}

/// `abort_before_start`, per iteration: spawn a task that would return
/// immediately, abort it before it was ever polled (no yield in between),
/// await the JoinHandle, which must yield a cancelled `JoinError` (if the task
/// had run, the result would be `Ok(1)`).
fn op_abort_before_start(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "abort_before_start", || async {
        let h = tokio::spawn(async { 1u64 });
        h.abort();
        let r = h.await;
        assert!(r.unwrap_err().is_cancelled());
    })
}

/// Repeats `round` (which returns the timed part of one 10_000-task round)
/// until the timed total reaches `TARGET_RUN` (at least one round); returns
/// total_timed_ns / (rounds * 10_000). Like `cancel_one_waiter`, this averages
/// over many short (few ms) rounds, as Google Benchmark's iteration loop does
/// on the C++ side, so one preemption does not decide a run.
fn per_task_run<R: FnMut() -> Duration>(mut round: R) -> f64 {
    let mut total = Duration::ZERO;
    let mut rounds: u64 = 0;
    while total < TARGET_RUN {
        total += round();
        rounds += 1;
    }
    total.as_nanos() as f64 / (rounds * TASKS as u64) as f64
}

/// `join_set_10k_per_task`, per round (timed as a whole, one Instant pair):
/// create a `JoinSet`, spawn 10_000 tasks returning their index,
/// `join_next()` until empty, drop the set. A run repeats rounds until the
/// timed total reaches `TARGET_RUN`; value = total / (rounds * 10_000).
/// 1 warm-up run + `RUNS` runs; median.
fn op_join_set_10k_per_task(rt: &Runtime) -> f64 {
    median_of_runs("join_set_10k_per_task", "ns/task", || {
        per_task_run(|| {
            let (dt, n, sum) = rt.block_on(async {
                let t0 = Instant::now();
                let mut set = JoinSet::new();
                for i in 0..TASKS as u64 {
                    set.spawn(async move { i });
                }
                let mut n = 0usize;
                let mut sum = 0u64;
                while let Some(r) = set.join_next().await {
                    sum += r.unwrap();
                    n += 1;
                }
                drop(set);
                (t0.elapsed(), n, sum)
            });
            assert_eq!(n, TASKS);
            assert_eq!(sum, (TASKS as u64 - 1) * TASKS as u64 / 2);
            dt
        })
    })
}

/// `abort_all_10k_per_task`, per round: (untimed) a `JoinSet` with 10_000
/// sleepers, then `yield_now()` until every one of them has been polled once
/// (so all 10_000 are pending on their timers). Timed (one Instant pair):
/// `set.abort_all()` and `join_next()` until empty (each result must be a
/// cancelled `JoinError`). A run repeats rounds until the timed total reaches
/// `TARGET_RUN`; value = total / (rounds * 10_000). 1 warm-up run + `RUNS`
/// runs; median.
fn op_abort_all_10k_per_task(rt: &Runtime) -> f64 {
    let mut max_yields = 0usize;
    let m = median_of_runs("abort_all_10k_per_task", "ns/task", || {
        per_task_run(|| {
            rt.block_on(async {
                STARTED.store(0, Ordering::Relaxed);
                let mut set = JoinSet::new();
                for _ in 0..TASKS {
                    set.spawn(counted_sleeper());
                }
                let yields = yield_until_started(TASKS).await;
                max_yields = max_yields.max(yields);
                assert_eq!(set.len(), TASKS);

                let t0 = Instant::now();
                set.abort_all();
                let mut n = 0usize;
                while let Some(r) = set.join_next().await {
                    assert!(r.unwrap_err().is_cancelled());
                    n += 1;
                }
                let dt = t0.elapsed();
                assert_eq!(n, TASKS);
                dt
            })
        })
    });
    eprintln!("#   abort_all_10k_per_task: at most {max_yields} yields until all tasks were polled");
    m
}

/// Net bytes requested from the global allocator per task (see
/// [`op_task_memory_bytes`]) for 10_000 tasks spawned from `make`, each polled
/// once (and pending) before counting stops. Returns (bytes/task, allocs/task).
fn task_memory_run<Fut, M>(rt: &Runtime, make: M) -> (f64, f64)
where
    M: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(TASKS);
        STARTED.store(0, Ordering::Relaxed);
        NET_BYTES.store(0, Ordering::Relaxed);
        N_ALLOCS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::SeqCst);
        for _ in 0..TASKS {
            handles.push(tokio::spawn(make()));
        }
        yield_until_started(TASKS).await;
        COUNTING.store(false, Ordering::SeqCst);
        let bytes = NET_BYTES.load(Ordering::Relaxed);
        let allocs = N_ALLOCS.load(Ordering::Relaxed);
        assert!(handles.iter().all(|h| !h.is_finished()));
        for h in handles.iter() {
            h.abort();
        }
        for h in handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        (bytes as f64 / TASKS as f64, allocs as f64 / TASKS as f64)
    })
}

/// `task_memory_bytes` (value: BYTES per task): net bytes requested from the
/// global allocator (allocated minus freed, `Layout::size()`, i.e. without
/// malloc's chunk overhead) while spawning 10_000 sleepers with
/// `tokio::spawn` (each: count its first poll, then
/// `sleep(3600 s).await`) and yielding until every one has been polled once
/// (all pending on their timers), divided by 10_000. The JoinHandles go into
/// a Vec allocated before counting starts. 1 warm-up run (which also lets the
/// scheduler's run queue reach its final capacity, so that growth is not
/// counted) + `RUNS` runs; median (the value is deterministic).
///
/// Diagnostics only (stderr): the size of the sleeper future and the bytes per
/// task of a task whose future is `std::future::pending()` instead (tokio's
/// per-task overhead without the timer).
fn op_task_memory_bytes(rt: &Runtime) -> f64 {
    eprintln!(
        "#   task_memory_bytes: size_of(sleeper future)={} size_of(Sleep)={}",
        std::mem::size_of_val(&counted_sleeper()),
        std::mem::size_of::<tokio::time::Sleep>()
    );
    let (pending_bytes, pending_allocs) = task_memory_run(rt, || async {
        STARTED.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await
    });
    eprintln!(
        "#   task_memory_bytes: std::future::pending() task: {pending_bytes:.3} B/task, \
         {pending_allocs:.4} allocations/task"
    );
    median_of_runs("task_memory_bytes", "bytes/task", || {
        let (bytes, allocs) = task_memory_run(rt, counted_sleeper);
        eprintln!("#   task_memory_bytes run: {bytes:.3} B/task, {allocs:.4} allocations/task");
        bytes
    })
}

// ---------------------------------------------------------------------------
// select / timeout ops (current-thread runtime, inside block_on)
// ---------------------------------------------------------------------------

/// A branch that is ready at once (the C++ side's `ready()`, a coroutine that
/// co_returns 1).
async fn ready_now() -> u64 {
    1
}

/// `select_ready_pending`, per iteration: `select! { biased; ready, sleep(60 s) }`.
/// `biased;` polls the branches in order, so the ready branch wins on its first
/// poll and the `Sleep` is created (deadline computed, timer handle cloned)
/// and dropped without ever being polled (never registered in the timer wheel).
fn op_select_ready_pending(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "select_ready_pending", || async {
        let v = tokio::select! {
            biased;
            v = ready_now() => v,
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("the sleep won"),
        };
        assert_eq!(black_box(v), 1);
    })
}

/// `select_pending_ready`, per iteration: `select! { biased; sleep(60 s), ready }`.
/// The sleep is polled first (registered in the timer wheel, `Pending`), then
/// the ready branch wins, and dropping the `Sleep` deregisters it.
fn op_select_pending_ready(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "select_pending_ready", || async {
        let v = tokio::select! {
            biased;
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("the sleep won"),
            v = ready_now() => v,
        };
        assert_eq!(black_box(v), 1);
    })
}

/// `select_ready_pending_unbiased`: as `select_ready_pending` but with
/// `select!`'s default random start, so about half of the iterations poll
/// (register, deregister) the sleep first.
fn op_select_ready_pending_unbiased(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "select_ready_pending_unbiased", || async {
        let v = tokio::select! {
            v = ready_now() => v,
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("the sleep won"),
        };
        assert_eq!(black_box(v), 1);
    })
}

/// `select_token_ready`, per iteration: `select! { biased; token.cancelled(), ready }`
/// on a token nobody cancels: the token's future is polled first (it registers
/// as a waiter, `Pending`), the ready branch wins, and dropping the future
/// deregisters it. The C++ side's `select(token.cancelled(), ready)`.
fn op_select_token_ready(rt: &Runtime) -> f64 {
    let token = CancellationToken::new();
    let token = &token;
    bench_per_op_async(rt, "select_token_ready", || async move {
        let v = tokio::select! {
            biased;
            _ = token.cancelled() => unreachable!("the token was cancelled"),
            v = ready_now() => v,
        };
        assert_eq!(black_box(v), 1);
    })
}

/// `select_ready_never`: `select! { biased; ready, std::future::pending() }`:
/// the loser is free to create and drop, so this is select!'s own cost.
fn op_select_ready_never(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "select_ready_never", || async {
        let v = tokio::select! {
            biased;
            v = ready_now() => v,
            _ = std::future::pending::<()>() => unreachable!("pending() won"),
        };
        assert_eq!(black_box(v), 1);
    })
}

/// `timeout_ready`, per iteration: `tokio::time::timeout(60 s, ready).await`.
/// `Timeout` polls the inner future first, so its `Sleep` is created but never
/// polled.
fn op_timeout_ready(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "timeout_ready", || async {
        let v = tokio::time::timeout(SELECT_SLEEP, ready_now())
            .await
            .expect("timed out");
        assert_eq!(black_box(v), 1);
    })
}

/// `select8`, per iteration: `select! { biased; 7 x sleep(60 s), ready }`: the
/// seven sleeps are polled (registered) first, the ready branch wins, the
/// seven are dropped (deregistered).
fn op_select8(rt: &Runtime) -> f64 {
    bench_per_op_async(rt, "select8", || async {
        let v = tokio::select! {
            biased;
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            _ = tokio::time::sleep(SELECT_SLEEP) => unreachable!("a sleep won"),
            v = ready_now() => v,
        };
        assert_eq!(black_box(v), 1);
    })
}

// ---------------------------------------------------------------------------
// timer ops (issue 12: the timer wheel), current-thread runtime
// ---------------------------------------------------------------------------

/// Timers armed (and then cancelled, or counted) per run of `arm_cancel_1e6`
/// and `timer_memory_bytes`.
const TIMERS: usize = 1_000_000;
/// Their deadlines are spread uniformly over [1 s, 1 h] from the arming time.
const SPREAD_MIN_NS: u64 = 1_000_000_000;
const SPREAD_MAX_NS: u64 = 3_600_000_000_000;
/// Fixed seed of the deadline generator (the C++ side uses std::mt19937_64
/// with the same seed: the same distribution, not the same sequence).
const SPREAD_SEED: u64 = 12;

extern "C" {
    /// glibc's `mallopt` (no `libc` crate offline: declared by hand).
    fn mallopt(param: i32, value: i32) -> i32;
}

/// Makes glibc's malloc keep the memory it is given back (no trim of the heap
/// top, no `mmap` for large blocks), so that after the warm-up run the 10^6
/// timers of a run reuse memory that is already mapped: the timer ops measure
/// the timers and not the kernel's page faults (about 0.2 s a run otherwise).
/// The C++ `timer_bench` does the same. Called before the timer ops, which
/// run last.
fn keep_freed_memory() {
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: plain glibc calls with valid parameters; no allocation is in flight.
    let ok = unsafe { mallopt(M_TRIM_THRESHOLD, i32::MAX) == 1 && mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 };
    assert!(ok, "mallopt failed");
}

/// `n` durations, uniform over [1 s, 1 h] at ns resolution (splitmix64, fixed
/// seed, so every run and every op sees the same ones).
fn spread_durations(n: usize) -> Vec<Duration> {
    let mut state = SPREAD_SEED;
    let span = SPREAD_MAX_NS - SPREAD_MIN_NS + 1;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            Duration::from_nanos(SPREAD_MIN_NS + z % span)
        })
        .collect()
}

/// Arms one `Sleep` per duration: `Box::pin(sleep(d))` (a pending timer must
/// stay pinned somewhere; a `Vec` of boxes is how a program holds many), polled
/// once with a no-op waker so that it registers with the runtime's timer
/// driver (`Pending`; a pending poll does not use up the coop budget). The
/// `Vec` must be empty and have the capacity already.
fn arm_sleeps(sleeps: &mut Vec<Pin<Box<tokio::time::Sleep>>>, durations: &[Duration], cx: &mut Context<'_>) {
    for d in durations {
        let mut s = Box::pin(tokio::time::sleep(*d));
        if s.as_mut().poll(cx).is_ready() {
            panic!("a sleep of at least 1 s was ready at once");
        }
        sleeps.push(s);
    }
}

/// `arm_cancel_1e6` (value: ns per timer): per run, in one `rt.block_on`, arm
/// 10^6 sleeps with deadlines spread over 1 s .. 1 h ([`arm_sleeps`]: create,
/// box, poll once: registered in the wheel), then drop them all (`Vec::clear`:
/// each `Sleep`'s drop deregisters its entry from the wheel). Timed: one
/// Instant pair around both phases; value = elapsed / 10^6. The `Vec` is
/// allocated once, outside the timed region. Throughput of one core: the
/// runtime is current-thread. 1 warm-up run + `RUNS` runs; median. stderr
/// also gives the arm and the drop phase separately.
fn op_arm_cancel_1e6(rt: &Runtime) -> f64 {
    let durations = spread_durations(TIMERS);
    let mut sleeps: Vec<Pin<Box<tokio::time::Sleep>>> = Vec::with_capacity(TIMERS);
    let waker = noop_waker();
    let mut phases: Vec<(f64, f64)> = Vec::new();
    let m = median_of_runs("arm_cancel_1e6", "ns/timer", || {
        let (arm, cancel) = rt.block_on(async {
            let mut cx = Context::from_waker(&waker);
            let t0 = Instant::now();
            arm_sleeps(&mut sleeps, &durations, &mut cx);
            let t1 = Instant::now();
            sleeps.clear();
            (t1 - t0, t1.elapsed())
        });
        let per = |d: Duration| d.as_nanos() as f64 / TIMERS as f64;
        phases.push((per(arm), per(cancel)));
        per(arm + cancel)
    });
    eprintln!("#   arm_cancel_1e6 phases (arm ns/timer, drop ns/timer): {phases:.1?}");
    m
}

/// `arm_cancel_1e6_in_place` (value: ns per timer; a diagnostic beside
/// `arm_cancel_1e6`): the same rounds, but the sleeps are written into one
/// array allocated once (`Vec<MaybeUninit<Sleep>>`, never moved while they
/// live), pinned in place, polled once, and dropped in place: no allocation
/// per timer, so this is Tokio's timer alone (create, register, deregister),
/// as a `Sleep` inside an already-allocated task future costs it.
fn op_arm_cancel_1e6_in_place(rt: &Runtime) -> f64 {
    let durations = spread_durations(TIMERS);
    let mut slots: Vec<MaybeUninit<tokio::time::Sleep>> = Vec::with_capacity(TIMERS);
    slots.resize_with(TIMERS, MaybeUninit::uninit);
    let base = slots.as_mut_ptr() as *mut tokio::time::Sleep;
    let waker = noop_waker();
    let mut phases: Vec<(f64, f64)> = Vec::new();
    let m = median_of_runs("arm_cancel_1e6_in_place", "ns/timer", || {
        let (arm, cancel) = rt.block_on(async {
            let mut cx = Context::from_waker(&waker);
            let t0 = Instant::now();
            for (i, d) in durations.iter().enumerate() {
                // SAFETY: slot i is inside the array (TIMERS slots), holds no live Sleep
                // (each round drops all of them), and the array is neither moved nor freed
                // until every Sleep in it has been dropped in place below: pinning holds.
                let pinned = unsafe {
                    let p = base.add(i);
                    p.write(tokio::time::sleep(*d));
                    Pin::new_unchecked(&mut *p)
                };
                if pinned.poll(&mut cx).is_ready() {
                    panic!("a sleep of at least 1 s was ready at once");
                }
            }
            let t1 = Instant::now();
            for i in 0..TIMERS {
                // SAFETY: slot i holds the Sleep written above, dropped exactly once.
                unsafe { std::ptr::drop_in_place(base.add(i)) };
            }
            (t1 - t0, t1.elapsed())
        });
        let per = |d: Duration| d.as_nanos() as f64 / TIMERS as f64;
        phases.push((per(arm), per(cancel)));
        per(arm + cancel)
    });
    eprintln!("#   arm_cancel_1e6_in_place phases (arm ns/timer, drop ns/timer): {phases:.1?}");
    drop(slots);
    m
}

/// Resident set size of this process in bytes (`/proc/self/statm`, 4 KiB
/// pages), or 0 if it cannot be read. Diagnostics only.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// `timer_memory_bytes` (value: BYTES per pending timer): net bytes requested
/// from the global allocator (`Layout::size()`, as `task_memory_bytes`) while
/// arming 10^6 sleeps as in `arm_cancel_1e6` (boxed, polled once: pending in
/// the wheel), divided by 10^6. The `Vec` of boxes is allocated before
/// counting starts, so this is the box, i.e. `size_of::<Sleep>()`, plus
/// whatever the driver allocates per entry. stderr: `size_of::<Sleep>()`,
/// allocations per timer, and the RSS growth per timer.
fn op_timer_memory_bytes(rt: &Runtime) -> f64 {
    let durations = spread_durations(TIMERS);
    let mut sleeps: Vec<Pin<Box<tokio::time::Sleep>>> = Vec::with_capacity(TIMERS);
    let waker = noop_waker();
    eprintln!(
        "#   timer_memory_bytes: size_of(Sleep)={} align_of(Sleep)={}",
        std::mem::size_of::<tokio::time::Sleep>(),
        std::mem::align_of::<tokio::time::Sleep>()
    );
    median_of_runs("timer_memory_bytes", "bytes/timer", || {
        let (bytes, allocs, rss) = rt.block_on(async {
            let mut cx = Context::from_waker(&waker);
            NET_BYTES.store(0, Ordering::Relaxed);
            N_ALLOCS.store(0, Ordering::Relaxed);
            let rss0 = rss_bytes();
            COUNTING.store(true, Ordering::SeqCst);
            arm_sleeps(&mut sleeps, &durations, &mut cx);
            COUNTING.store(false, Ordering::SeqCst);
            let rss1 = rss_bytes();
            let r = (
                NET_BYTES.load(Ordering::Relaxed) as f64 / TIMERS as f64,
                N_ALLOCS.load(Ordering::Relaxed) as f64 / TIMERS as f64,
                (rss1 as f64 - rss0 as f64) / TIMERS as f64,
            );
            sleeps.clear();
            r
        });
        eprintln!(
            "#   timer_memory_bytes run: {bytes:.3} B/timer, {allocs:.4} allocations/timer, \
             RSS growth {rss:.1} B/timer (0 once malloc reuses memory that an earlier op freed)"
        );
        bytes
    })
}

/// Usage: `halt-tokio-bench [SUBSTRING]`: with an argument, only the ops whose
/// name contains SUBSTRING run (e.g. `select`); without, all of them.
fn main() {
    let filter = std::env::args().nth(1);
    let wanted = |op: &str| filter.as_deref().map_or(true, |f| op.contains(f));
    // Runs `f` and prints its result (stdout is line-buffered: flushed as soon
    // as it is known), if the op is wanted.
    let run = |op: &str, f: &dyn Fn() -> f64| {
        if wanted(op) {
            emit(op, f());
        }
    };
    run("is_cancelled", &op_is_cancelled);
    run("child_token", &op_child_token);
    run("clone_drop", &op_clone_drop);
    run("cancelled_register", &op_cancelled_register);
    run("cancel_fanout_per_child", &op_cancel_fanout_per_child);
    run("cancel_one_waiter", &op_cancel_one_waiter);
    run("is_cancelled_p999_under_cancel", &op_is_cancelled_p999_under_cancel);

    // Task ops: one current-thread runtime for all of them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the current-thread runtime");
    run("spawn_abort_join", &|| op_spawn_abort_join(&rt));
    run("spawn_join_ready", &|| op_spawn_join_ready(&rt));
    run("abort_before_start", &|| op_abort_before_start(&rt));
    run("join_set_10k_per_task", &|| op_join_set_10k_per_task(&rt));
    run("abort_all_10k_per_task", &|| op_abort_all_10k_per_task(&rt));
    run("task_memory_bytes", &|| op_task_memory_bytes(&rt));

    // Select / timeout ops, on the same runtime.
    run("select_ready_pending", &|| op_select_ready_pending(&rt));
    run("select_pending_ready", &|| op_select_pending_ready(&rt));
    run("select_ready_pending_unbiased", &|| op_select_ready_pending_unbiased(&rt));
    run("select_token_ready", &|| op_select_token_ready(&rt));
    run("select_ready_never", &|| op_select_ready_never(&rt));
    run("timeout_ready", &|| op_timeout_ready(&rt));
    run("select8", &|| op_select8(&rt));

    // Timer ops (issue 12), on the same runtime; malloc keeps freed memory from here on.
    if wanted("arm_cancel_1e6") || wanted("timer_memory_bytes") {
        keep_freed_memory();
    }
    run("arm_cancel_1e6", &|| op_arm_cancel_1e6(&rt));
    run("arm_cancel_1e6_in_place", &|| op_arm_cancel_1e6_in_place(&rt));
    run("timer_memory_bytes", &|| op_timer_memory_bytes(&rt));
}
