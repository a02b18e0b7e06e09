//! The CPU deadline of a plugin call: the time the calling thread spends
//! running it, not the time that passes. On a busy host a call may wait for
//! a core far longer than it runs; counting wall time would fail good calls
//! exactly when the host is under load.
//!
//! The engine's epoch ticks every few milliseconds; at each tick the store
//! reads the thread's CPU clock and stops the call once its budget is spent,
//! so a runaway call overruns by at most one tick of CPU time.

use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};
use wasmtime::{Store, Trap, UpdateDeadline};

/// The CPU time the current thread has used.
fn thread_time() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Duration::new(seconds, nanos)
}

/// Gives the store's next call `budget` of this thread's CPU time.
pub(crate) fn arm<T: 'static>(store: &mut Store<T>, budget: Duration) {
    let started = thread_time();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if thread_time().saturating_sub(started) >= budget {
            Err(Trap::Interrupt.into())
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_counts_work_not_sleep() {
        let before = thread_time();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_time().saturating_sub(before);
        assert!(
            slept < Duration::from_millis(25),
            "sleeping used {slept:?} of CPU"
        );

        let before = thread_time();
        let mut x = 0u64;
        while thread_time().saturating_sub(before) < Duration::from_millis(20) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert!(
            thread_time().saturating_sub(before) >= Duration::from_millis(20),
            "{x}"
        );
    }
}
