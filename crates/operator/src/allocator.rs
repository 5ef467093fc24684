//! The operator's allocator: jemalloc, with its background thread handing freed pages back to
//! the kernel.
//!
//! With glibc's malloc the operator's resident memory stayed at the heap's high-water mark:
//! the creation wave of 1,000 clusters peaks well above what is live once they are Ready, and
//! glibc returns only the top of each arena (docs/scale.md, "Memory"). jemalloc's decay
//! purges freed pages wherever they are; the background thread does it even when nothing
//! allocates, so an idle operator shrinks too. Its other defaults (one arena, a decay of one
//! second) are built in from `.cargo/config.toml`.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Starts jemalloc's background purging thread (already on by the built-in defaults; this
/// keeps it on in a build without them). A failure leaves purging to the allocating threads,
/// so it is logged, not fatal.
pub fn start_purging() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc's background purging did not start; freed memory is returned only while allocating");
    }
}

/// `azop_heap_allocated_bytes` and `azop_heap_resident_bytes`: what the operator's objects
/// hold, and what the allocator keeps resident for them (the difference is fragmentation,
/// metadata and freed pages not yet purged). VmRSS adds the binary's own pages to the latter.
#[derive(Clone, Default)]
pub struct HeapGauges {
    allocated: Gauge<i64, AtomicI64>,
    resident: Gauge<i64, AtomicI64>,
}

impl HeapGauges {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "azop_heap_allocated_bytes",
            "Bytes the operator has allocated and not freed (jemalloc's stats.allocated)",
            self.allocated.clone(),
        );
        registry.register(
            "azop_heap_resident_bytes",
            "Bytes of heap the allocator keeps resident (jemalloc's stats.resident)",
            self.resident.clone(),
        );
    }

    /// Refreshes both gauges every `every`, for ever (spawned once, at start).
    pub async fn refresh_every(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            // jemalloc's statistics are a snapshot taken when the epoch advances.
            if tikv_jemalloc_ctl::epoch::advance().is_err() {
                continue;
            }
            if let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read() {
                self.allocated.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            if let Ok(n) = tikv_jemalloc_ctl::stats::resident::read() {
                self.resident.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
}
