//! The process's allocator: mimalloc (see src/main.rs), tuned to give memory
//! back as soon as it is free.
//!
//! mimalloc keeps freed memory for a second (its `purge_delay`) before it
//! returns it to the operating system, so the blocks left behind when a
//! vector grows (a run's summary, `report`'s values kept for percentiles)
//! or when a burst of 256 prompts ends add up in the resident set: 69
//! instead of 55 MB for rotate-test at concurrency 256, 74 instead of 59 MB
//! for `report` over a million records. Returning it at once costs nothing
//! measurable in a probe at concurrency 8 (BENCHMARKS.md, fix 20).

/// `mi_option_purge_delay` in the mimalloc (v3) that libmimalloc-sys builds;
/// its Rust bindings do not name it. The test below checks that this index
/// still holds the purge delay (default 1,000 ms) after an upgrade.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed memory to the operating system at once.
pub fn release_freed_memory_at_once() {
    // SAFETY: mi_option_set stores an integer option; mimalloc allows it at
    // any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_we_set_it() {
        // SAFETY: reading an option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), 1000, "mimalloc's default purge delay, in ms");
        release_freed_memory_at_once();
        assert_eq!(get(), 0);
    }
}
