//! The process's memory: transparent huge pages, glibc's arena cap and mmap threshold, and the
//! periodic return of free pages (`engine.transparent_huge_pages`, `engine.malloc_arenas`,
//! `engine.malloc_mmap_threshold`, `engine.heap_trim_secs`). The soaks in `docs/benchmarks.md` are why each exists.

#[cfg(all(target_env = "gnu", not(feature = "mimalloc")))]
use std::time::Instant;

/// Turns transparent huge pages off for this process (and the transcode workers it starts)
/// unless `allowed`. The allocator asks for huge pages on its arenas; with them, resident memory
/// grows in 2 MiB steps and what is freed inside a huge page stays resident (measured in the
/// soak: 125 MiB resident with them, 72 MiB without, for the same heap).
pub(crate) fn huge_pages(allowed: bool) {
    if allowed {
        return;
    }
    match nix::sys::prctl::set_thp_disable(true) {
        Ok(()) => tracing::debug!("transparent huge pages off for this process"),
        Err(e) => tracing::warn!(error = %e, "cannot turn transparent huge pages off"),
    }
}

/// Gives the allocator's free pages back to the kernel: glibc's `malloc_trim(0)` walks every
/// arena and releases whole free pages inside them too (not only the top), which glibc does
/// not do by itself. A few milliseconds for a heap of this size; nothing with mimalloc (which
/// returns pages itself).
pub(crate) fn trim_heap() {
    #[cfg(all(target_env = "gnu", not(feature = "mimalloc")))]
    {
        let started = Instant::now();
        // SAFETY: malloc_trim only takes the arenas' locks and returns free pages; it has no
        // preconditions.
        let released = unsafe { libc::malloc_trim(0) } == 1;
        tracing::debug!(
            released,
            took_us = started.elapsed().as_micros() as u64,
            "heap trimmed"
        );
    }
}

/// Caps glibc's malloc arenas at `arenas` (`M_ARENA_MAX`; glibc's own cap is 8 per core). A
/// thread that allocates while every arena is taken gets an arena of its own until the cap: with
/// the shards, the blocking pool, RocksDB's and the federation's threads, the server had a dozen
/// arenas, each holding freed memory that small live allocations keep from going back (half of
/// what the arenas held in the soak). One per shard keeps the shards on arenas of their own.
pub(crate) fn set_arena_max(arenas: usize) -> bool {
    #[cfg(all(target_env = "gnu", not(feature = "mimalloc")))]
    {
        let value = libc::c_int::try_from(arenas.max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tunable under the main arena's lock.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, value) } == 1;
        if ok {
            tracing::debug!(arenas = value, "allocator arenas capped");
        } else {
            tracing::warn!(arenas = value, "glibc refused the arena cap");
        }
        ok
    }
    #[cfg(not(all(target_env = "gnu", not(feature = "mimalloc"))))]
    {
        let _ = arenas;
        true
    }
}

/// Makes allocations of `bytes` and more come from `mmap` and go back to the kernel on `free`
/// (glibc `M_MMAP_THRESHOLD`, which also stops glibc from raising the threshold by itself); 0
/// leaves glibc's sliding threshold. glibc starts at 128 KiB and raises the threshold to the
/// size of each mmapped block freed, up to 32 MiB: after the first large buffer is freed, the
/// next ones are cut from the arenas, and the small allocations placed around them keep the
/// arenas' free space from going back (half of what the arenas held in the soak). Returns
/// whether the setting took.
pub(crate) fn set_mmap_threshold(bytes: u64) -> bool {
    if bytes == 0 {
        return true;
    }
    #[cfg(all(target_env = "gnu", not(feature = "mimalloc")))]
    {
        let Ok(value) = libc::c_int::try_from(bytes) else {
            tracing::warn!(bytes, "engine.malloc_mmap_threshold is too large; ignored");
            return false;
        };
        // SAFETY: mallopt only sets a tunable under the main arena's lock.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) } == 1;
        if ok {
            tracing::debug!(bytes, "allocator mmap threshold set");
        } else {
            tracing::warn!(bytes, "glibc refused engine.malloc_mmap_threshold");
        }
        ok
    }
    #[cfg(not(all(target_env = "gnu", not(feature = "mimalloc"))))]
    {
        true
    }
}

#[cfg(all(test, target_env = "gnu", not(feature = "mimalloc")))]
mod tests {
    use super::*;

    #[test]
    fn glibc_takes_the_threshold() {
        // glibc has no getter for it: what the setting does is measured by the soak
        // (docs/benchmarks.md), and the bound is checked with the configuration.
        assert!(set_mmap_threshold(256 << 10));
        assert!(set_mmap_threshold(crate::config::MALLOC_MMAP_THRESHOLD_MAX));
        assert!(set_mmap_threshold(256 << 10));
    }

    #[test]
    fn glibc_takes_the_arena_cap() {
        assert!(set_arena_max(2));
        assert!(set_arena_max(0), "0 is taken as 1");
        assert!(set_arena_max(usize::MAX), "clamped to a C int");
        assert!(set_arena_max(64));
    }

    #[test]
    fn zero_and_too_large_leave_the_allocator_alone() {
        assert!(set_mmap_threshold(0));
        assert!(!set_mmap_threshold(u64::MAX));
    }
}
