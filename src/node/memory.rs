//! Giving freed memory back to the system after a connection ends.
//!
//! A hostile or broken peer can make a connection hold tens of MiB (a reply up
//! to its cap, a full write queue) before it is cut. The caps free those buffers
//! at once, but glibc's malloc keeps large freed blocks in its arenas for reuse
//! (its mmap threshold grows after big frees), so the process's RSS would stay
//! up for good. After a connection closes we ask glibc to return what is free
//! (`malloc_trim`) twice, a little later (so the JS side has dropped its copies
//! too), on a blocking thread, with closes that come together sharing the trims.
//! The largest buffer, an OVSDB message past 1 MiB, bypasses malloc altogether
//! ([`crate::mapped_buf`]): a trim cannot return the top of a thread's arena.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// When, after a close, the trims run: past the close event's JS handlers, and
/// again once V8 has likely collected the Buffers the connection handed to JS
/// (their memory is malloc's too, freed only when V8 finalizes them).
const TRIM_DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(500)];

static TRIM_PENDING: AtomicBool = AtomicBool::new(false);

/// Schedules the trims of [`TRIM_DELAYS`] unless they are already pending. Outside
/// a tokio runtime (no connection task to call it) it does nothing.
pub(crate) fn trim_after_close() {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    if TRIM_PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    runtime.spawn(async {
        for (i, delay) in TRIM_DELAYS.into_iter().enumerate() {
            tokio::time::sleep(delay).await;
            if i == 0 {
                // A close from now on is after the first trim: it gets its own schedule.
                TRIM_PENDING.store(false, Ordering::Release);
            }
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
    });
}

/// Returns the free pages of every malloc arena to the system (glibc only: musl
/// gives large blocks back by itself).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim(0) has no preconditions; it only walks glibc's own arenas
    // under their locks. It exists in every glibc (2.17, our baseline, included).
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
