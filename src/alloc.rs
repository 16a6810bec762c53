//! The process's allocator: mimalloc (see src/main.rs), and how long it keeps
//! memory that was freed before it returns it to the operating system.
//!
//! mimalloc keeps freed memory for a second (its `purge_delay`). For `report`,
//! a batch that grows large vectors and ends, that second only adds the
//! blocks left behind by each growth to the resident set (74 instead of 59 MB
//! over a million records), so it returns memory at once. A run (probe,
//! rotate-test, the simulator) frees and reuses the same pages thousands of
//! times a second; returning them at once made each reuse a page fault and a
//! TLB shootdown on the other threads (12–17 % of rotor's CPU per request at
//! concurrency 64), so runs keep freed memory for [`RUN_PURGE_DELAY_MS`]:
//! as fast as mimalloc's default, and as small as returning at once (peak
//! resident set within 1 MB at concurrency 256; BENCHMARKS.md, fix 25).

/// `mi_option_purge_delay` in the mimalloc (v3) that libmimalloc-sys builds;
/// its Rust bindings do not name it. The test below checks that this index
/// still holds the purge delay (default 1,000 ms) after an upgrade.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long a run keeps freed memory, ms.
pub const RUN_PURGE_DELAY_MS: i64 = 10;

/// Sets how long mimalloc keeps freed memory before returning it to the
/// operating system (0: at once).
pub fn purge_freed_memory_after_ms(ms: i64) {
    let ms = std::ffi::c_long::try_from(ms).unwrap_or(std::ffi::c_long::MAX);
    // SAFETY: mi_option_set stores an integer option; mimalloc allows it at
    // any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_we_set_it() {
        // SAFETY: reading an option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), 1000, "mimalloc's default purge delay, in ms");
        purge_freed_memory_after_ms(0);
        assert_eq!(get(), 0);
        purge_freed_memory_after_ms(RUN_PURGE_DELAY_MS);
        assert_eq!(get(), 10);
    }
}
