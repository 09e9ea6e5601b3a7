//! Prometheus metrics, rendered as text for `GET /metrics`. Plain atomics and one small map:
//! nothing here blocks the engine for longer than a counter increment.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 11] = [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(value.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Counters labelled by a reason code; the codes come from closed enums, so the map stays small.
#[derive(Debug, Default)]
pub struct ReasonCounter(Mutex<BTreeMap<&'static str, u64>>);

impl ReasonCounter {
    pub fn add_many(&self, reason: &'static str, count: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += count;
    }

    pub fn add(&self, reason: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (reason, count) in self.0.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {count}");
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// From admission to commit on this node, per event.
    pub commit_latency: Histogram,
    /// From the start of a height to its commit.
    pub block_interval: Histogram,
    pub blocks_committed: AtomicU64,
    pub events_committed: AtomicU64,
    pub events_rejected: ReasonCounter,
    pub admission_refused: ReasonCounter,
    pub gossip_invalid: ReasonCounter,
    /// Gossiped events not taken for reasons that are not the sender's fault.
    pub gossip_ignored: ReasonCounter,
    pub blocks_synced: AtomicU64,
    pub engine_queue_full: AtomicU64,
    /// Gossip messages libp2p gave up sending to a peer (queue full or too long queued).
    pub gossip_dropped: AtomicU64,
    /// Events of compact proposals this node's mempool lacked and asked the proposer for.
    pub proposal_events_fetched: AtomicU64,
    pub consensus_rejected: AtomicU64,
    pub evidence: AtomicU64,
    /// Event signatures checked, by where: `api`, `gossip`, `block` (validation of events not
    /// pending here). Each event should cost one check per node.
    pub signatures_checked: ReasonCounter,
    /// API connections open now, refused at the cap, and accepts that failed.
    pub api_connections_open: AtomicU64,
    pub api_connections_refused: AtomicU64,
    pub api_accept_failures: AtomicU64,
    /// TLS handshakes that failed or did not finish in time (plain HTTP to the TLS port, a
    /// client that pins another key, a silent connection).
    pub api_handshakes_failed: AtomicU64,
    /// Requests refused for their credentials (401) or their caller's entitlement (403).
    pub api_unauthenticated: AtomicU64,
    pub api_forbidden: AtomicU64,
    /// Free bytes on the data directory's file system at the last look, and 1 while that is
    /// below the node's watermark (new events are then refused with 507).
    pub disk_free_bytes: AtomicU64,
    pub disk_space_low: AtomicU64,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub height: u64,
    pub round: u64,
    pub mempool_events: usize,
    pub mempool_bytes: usize,
    pub peers: usize,
    pub syncing: bool,
}

impl Metrics {
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        };
        gauge(
            &mut out,
            "waybill_height",
            "Committed height.",
            gauges.height,
        );
        gauge(
            &mut out,
            "waybill_consensus_round",
            "Consensus round at the next height.",
            gauges.round,
        );
        gauge(
            &mut out,
            "waybill_mempool_events",
            "Events pending.",
            gauges.mempool_events as u64,
        );
        gauge(
            &mut out,
            "waybill_mempool_bytes",
            "Bytes of events pending.",
            gauges.mempool_bytes as u64,
        );
        gauge(
            &mut out,
            "waybill_peers",
            "Connected validator peers.",
            gauges.peers as u64,
        );
        gauge(
            &mut out,
            "waybill_syncing",
            "1 while fetching blocks from peers.",
            u64::from(gauges.syncing),
        );
        counter(
            &mut out,
            "waybill_blocks_committed_total",
            "Blocks committed.",
            &self.blocks_committed,
        );
        counter(
            &mut out,
            "waybill_events_committed_total",
            "Events committed (applied or rejected).",
            &self.events_committed,
        );
        counter(
            &mut out,
            "waybill_blocks_synced_total",
            "Blocks applied from block sync.",
            &self.blocks_synced,
        );
        counter(
            &mut out,
            "waybill_engine_queue_full_total",
            "Network inputs dropped because the engine queue was full.",
            &self.engine_queue_full,
        );
        counter(
            &mut out,
            "waybill_gossip_messages_dropped_total",
            "Gossip messages not sent to a slow peer (its queue was full, or they waited too long).",
            &self.gossip_dropped,
        );
        counter(
            &mut out,
            "waybill_proposal_events_fetched_total",
            "Events of compact proposals not in this node's mempool, asked of the proposer.",
            &self.proposal_events_fetched,
        );
        counter(
            &mut out,
            "waybill_consensus_messages_rejected_total",
            "Consensus messages not taken into account.",
            &self.consensus_rejected,
        );
        let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "waybill_api_connections_open",
            "HTTP API connections open.",
            load(&self.api_connections_open),
        );
        counter(
            &mut out,
            "waybill_api_connections_refused_total",
            "HTTP API connections closed at once because the connection cap was reached.",
            &self.api_connections_refused,
        );
        counter(
            &mut out,
            "waybill_api_accept_failures_total",
            "HTTP API accepts that failed (for example out of file descriptors).",
            &self.api_accept_failures,
        );
        counter(
            &mut out,
            "waybill_api_handshakes_failed_total",
            "API TLS handshakes that failed or timed out.",
            &self.api_handshakes_failed,
        );
        counter(
            &mut out,
            "waybill_api_unauthenticated_total",
            "API requests answered 401: no credentials, or a key the genesis does not know.",
            &self.api_unauthenticated,
        );
        counter(
            &mut out,
            "waybill_api_forbidden_total",
            "API requests answered 403: the caller is not entitled to what it asked.",
            &self.api_forbidden,
        );
        gauge(
            &mut out,
            "waybill_disk_free_bytes",
            "Free bytes on the data directory's file system.",
            load(&self.disk_free_bytes),
        );
        gauge(
            &mut out,
            "waybill_disk_space_low",
            "1 while free disk space is below the watermark and new events are refused (alarm).",
            load(&self.disk_space_low),
        );
        counter(
            &mut out,
            "waybill_evidence_total",
            "Equivocations caught.",
            &self.evidence,
        );
        self.events_rejected.render(
            "waybill_events_rejected_total",
            "Committed events that execution rejected, by reason.",
            &mut out,
        );
        self.admission_refused.render(
            "waybill_admission_refused_total",
            "Events refused at admission, by reason.",
            &mut out,
        );
        self.signatures_checked.render(
            "waybill_event_signatures_checked_total",
            "Event signatures checked (verify_strict), by where: api, gossip, block.",
            &mut out,
        );
        self.gossip_invalid.render(
            "waybill_gossip_invalid_total",
            "Gossip messages rejected before forwarding, by reason.",
            &mut out,
        );
        self.gossip_ignored.render(
            "waybill_gossip_events_ignored_total",
            "Gossiped events not taken for this node's own reasons (known, committed, its clock, a full mempool), by reason.",
            &mut out,
        );
        self.commit_latency.render(
            "waybill_commit_latency_seconds",
            "Admission to commit, per event.",
            &mut out,
        );
        self.block_interval.render(
            "waybill_block_interval_seconds",
            "Time between commits.",
            &mut out,
        );
        out
    }
}
