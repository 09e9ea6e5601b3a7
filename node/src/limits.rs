//! Every bound the node puts on what reaches it from outside (HTTP clients, peers) and on what
//! its tasks queue for each other, in one place, with their relations checked at compile time.
//! The protocol's own bounds (event sizes, block sizes, identifier lengths) are in
//! `waybill_protocol::limits`; these are built on them. Units are last in the name.

use std::time::Duration;

use waybill_protocol::limits::{
    BLOCK_ENCODED_BYTES_MAX, BLOCK_EVENTS_MAX, CERTIFICATE_ENCODED_BYTES_MAX,
    EVENT_ENCODED_BYTES_MAX, EVENT_TIME_FUTURE_SKEW_MS_MAX, HEADER_ENCODED_BYTES_MAX,
    VALIDATORS_MAX,
};

// ---- HTTP API -------------------------------------------------------------------------------

/// One event as JSON: the canonical limit with room for JSON's hex, field names and escapes.
pub const EVENT_BODY_BYTES_MAX: usize = 256 * 1024;
/// A batch as JSON.
pub const BATCH_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// A declaration as filed: its event and its sealed particulars (`POST /v1/declarations`).
pub const DECLARATION_BODY_BYTES_MAX: usize = 512 * 1024;
/// Events in one batch request.
pub const BATCH_EVENTS_MAX: usize = 1_000;
/// Open API connections; one more is accepted and closed at once, so the node never runs out
/// of file descriptors however many sockets a client opens.
pub const API_CONNECTIONS_MAX: usize = 512;
/// Open `/v1/stream` subscriptions (each holds a connection for as long as it likes).
pub const STREAM_SUBSCRIBERS_MAX: usize = 64;
/// A request's headers must arrive within this; it is also how long an idle keep-alive
/// connection is kept (a silent or slow-header connection is closed after it).
pub const API_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's body must arrive within this (a slow body is answered 408 and closed).
pub const API_BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Request line and headers together.
pub const API_HEADER_BYTES_MAX: usize = 16 * 1024;
/// Requests that read, parse and admit events at once; the others wait their turn, so the
/// memory and CPU one burst of batches can claim is bounded.
pub const ADMISSIONS_CONCURRENT_MAX: usize = 4;
/// How long a submission waits for its turn before it is answered 503 with Retry-After.
pub const ADMISSION_WAIT_MAX: Duration = Duration::from_secs(5);
/// What a client is told to wait after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 1;
/// Entries one listing answer holds at most.
pub const LISTING_ENTRIES_MAX: usize = 10_000;
/// Events of one history read to decide whether a caller is a party to it (read policy).
pub const ENTITLEMENT_EVENTS_MAX: usize = 100_000;
/// How long a proof request waits for the block that certifies a tip with events (it follows
/// at once, within a consensus round) before it is answered as of the certified height.
pub const CERTIFICATION_WAIT: Duration = Duration::from_secs(3);
/// Committed blocks kept for slow stream subscribers before they are told they lagged.
pub const COMMIT_FEED_BLOCKS: usize = 256;

// ---- Mempool --------------------------------------------------------------------------------

pub const MEMPOOL_EVENTS_MAX: usize = 100_000;
pub const MEMPOOL_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Pending events of one signing key.
pub const MEMPOOL_PER_SIGNER_MAX: usize = 20_000;
/// Pending events of one organisation (all its keys), so no member can fill the mempool.
pub const MEMPOOL_PER_ORGANISATION_MAX: usize = 50_000;
/// Room only customs may use: a hold or a release never waits because a platform flooded.
pub const MEMPOOL_CUSTOMS_RESERVE_EVENTS: usize = 10_000;
pub const MEMPOOL_CUSTOMS_RESERVE_BYTES: usize = 16 * 1024 * 1024;

// ---- Queues between tasks -------------------------------------------------------------------

/// Inputs the engine queue holds before the network task starts dropping (and counting).
pub const ENGINE_QUEUE_INPUTS_MAX: usize = 4_096;
/// Bytes of consensus messages (proposals carry their block) waiting in the engine queue.
pub const ENGINE_QUEUE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Consensus messages the network task has not sent yet.
pub const NETWORK_QUEUE_MESSAGES_MAX: usize = 1_024;
/// Admitted event batches waiting to be gossiped.
pub const GOSSIP_QUEUE_BATCHES_MAX: usize = 256;

// ---- Gossip and sync ------------------------------------------------------------------------

/// Events in one gossip message on the events topic.
pub const EVENT_GOSSIP_EVENTS_MAX: usize = 1_000;
/// Bytes of one gossip message on the events topic. A sender splits its batches to fit, so an
/// honest node never sends more; a larger message proves its sender faulty.
pub const EVENT_GOSSIP_BYTES_MAX: usize = 4 * 1024 * 1024;
/// What a block carries besides its events (its header, its parent's certificate and, in
/// sync, its own) and a message's framing, at most.
pub const BLOCK_MARGIN_BYTES: usize = 64 * 1024;
/// A proposal with the compact form of the largest block: an id per event, plus the header, the
/// parent's certificate, the proposal and framing.
pub const CONSENSUS_GOSSIP_BYTES_MAX: usize = (8 + 32 * BLOCK_EVENTS_MAX) + BLOCK_MARGIN_BYTES;
/// One size for both topics is all gossipsub has: the larger message's.
pub const GOSSIP_TRANSMIT_BYTES_MAX: usize = if EVENT_GOSSIP_BYTES_MAX > CONSENSUS_GOSSIP_BYTES_MAX
{
    EVENT_GOSSIP_BYTES_MAX
} else {
    CONSENSUS_GOSSIP_BYTES_MAX
};
/// A validator's request for the events of a proposal it lacks: the block hash and a position
/// (u32) per event at most.
pub const PROPOSAL_EVENTS_REQUEST_BYTES_MAX: usize = 32 + 8 + 4 * BLOCK_EVENTS_MAX + 64;
/// The answer: every event of the largest block, each with its position.
pub const PROPOSAL_EVENTS_RESPONSE_BYTES_MAX: usize =
    32 + 8 + 4 * BLOCK_EVENTS_MAX + BLOCK_ENCODED_BYTES_MAX + 64;
/// How long a validator waits for a proposal's missing events (the round's propose timeout
/// covers a proposer that never answers).
pub const PROPOSAL_EVENTS_TIMEOUT: Duration = Duration::from_secs(5);
/// Fetches of a proposal's events in flight at once, and proposals awaiting theirs.
pub const PROPOSAL_FETCHES_MAX: usize = 8;
/// How long a proposal's missing events are waited for in the mempool before they are asked
/// of the proposer: a proposal overtakes the gossip of its own events, whose signature checks
/// take a few milliseconds a message.
pub const PROPOSAL_EVENTS_GRACE: Duration = Duration::from_millis(100);
pub const SYNC_REQUEST_BYTES_MAX: usize = 64;
/// Pending events in one sync response at most, and the bytes they may fill.
pub const SYNC_PENDING_EVENTS_MAX: u32 = 20_000;
pub const SYNC_PENDING_FILL_BYTES: usize = 8 * 1024 * 1024;
/// A response stops adding blocks past this size (it always holds at least one).
pub const SYNC_RESPONSE_FILL_BYTES: usize = 16 * 1024 * 1024;
/// One block over the fill size at most.
pub const SYNC_RESPONSE_BYTES_MAX: usize = SYNC_RESPONSE_FILL_BYTES
    + BLOCK_ENCODED_BYTES_MAX
    + BLOCK_MARGIN_BYTES
    + SYNC_PENDING_FILL_BYTES
    + EVENT_ENCODED_BYTES_MAX;
pub const SYNC_BLOCKS_PER_REQUEST_MAX: u32 = 256;
/// What a block carries besides its events: the header, its parent's certificate (and, in
/// sync, its own), within the margin a consensus message or sync response allows a block.
const _: () = assert!(
    HEADER_ENCODED_BYTES_MAX + 2 * CERTIFICATE_ENCODED_BYTES_MAX + 1_024 <= BLOCK_MARGIN_BYTES
);
// A compact proposal is far smaller than the block it names.
const _: () = assert!(CONSENSUS_GOSSIP_BYTES_MAX * 16 <= BLOCK_ENCODED_BYTES_MAX);
const _: () = assert!(PROPOSAL_FETCHES_MAX >= 1 && PROPOSAL_FETCHES_MAX <= PROPOSED_BLOCKS_MAX);
// The wait for gossip is a small part of the wait for the proposer.
const _: () =
    assert!(PROPOSAL_EVENTS_GRACE.as_millis() * 10 <= PROPOSAL_EVENTS_TIMEOUT.as_millis());
/// Gossip messages waiting for their topic's gossip thread (an events message is at most
/// `EVENT_GOSSIP_BYTES_MAX`, a consensus one `CONSENSUS_GOSSIP_BYTES_MAX`); past it they are
/// ignored and counted.
pub const GOSSIP_CHECK_QUEUE_MAX: usize = 64;
/// Sync requests this node reads blocks for at once (each up to a response's size in memory).
pub const SYNC_SERVES_CONCURRENT_MAX: usize = 2;

/// How far behind this node's clock a proposed block's time may be (ahead, the events' clock
/// skew applies): a proposer cannot date a block back to make honest events look future-dated.
pub const BLOCK_TIME_LAG_MS_MAX: u64 = EVENT_TIME_FUTURE_SKEW_MS_MAX;

// ---- Files ----------------------------------------------------------------------------------

/// SST files RocksDB keeps open (its default is all of them).
pub const ROCKSDB_OPEN_FILES_MAX: usize = 2_048;
/// SST files the private store keeps open (it is small beside the ledger).
pub const PRIVATE_OPEN_FILES_MAX: usize = 256;
/// Descriptors for everything else: the WAL, logs, libp2p sockets (a few per validator),
/// RocksDB's own log and manifest, the runtime.
pub const OTHER_OPEN_FILES_MAX: usize = 256 + 4 * VALIDATORS_MAX;
/// The open-file limit the node raises itself to at start (systemd's default soft limit is
/// 1,024, which the connection cap alone could exhaust).
pub const OPEN_FILES_WANTED: usize = API_CONNECTIONS_MAX
    + 1
    + ROCKSDB_OPEN_FILES_MAX
    + PRIVATE_OPEN_FILES_MAX
    + OTHER_OPEN_FILES_MAX;

// ---- Private particulars --------------------------------------------------------------------

/// The largest value the private store keeps: one declaration's sealed particulars (three
/// parties and a value a line) with its bookkeeping.
pub const PRIVATE_VALUE_BYTES_MAX: usize = 64 * 1024;
/// Declarations one particulars request asks for, and at most answers.
pub const PARTICULARS_PER_REQUEST_MAX: usize = 64;
pub const PARTICULARS_REQUEST_BYTES_MAX: usize = 16 * 1024;
pub const PARTICULARS_RESPONSE_BYTES_MAX: usize =
    PARTICULARS_PER_REQUEST_MAX * PRIVATE_VALUE_BYTES_MAX + 1024;
/// How often a node with wanted particulars asks an entitled peer, and how long it waits.
pub const PARTICULARS_ASK_INTERVAL: Duration = Duration::from_secs(1);
pub const PARTICULARS_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the steward brings the private store in step with the ledger.
pub const PRIVATE_FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// How long the accept loop pauses after a failed accept before it tries again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// How long, and how many bytes, a refused connection is read and discarded before it is
/// closed (so the client reads the answer instead of a reset).
pub const LINGER_TIME: Duration = Duration::from_secs(1);
pub const LINGER_BYTES_MAX: usize = 1024 * 1024;

// ---- Consensus engine -----------------------------------------------------------------------

/// Proposed blocks kept per height (all rounds, all proposers): a bound on what peers can make
/// us hold.
pub const PROPOSED_BLOCKS_MAX: usize = 16;
/// How often our own messages of the current height are sent again while it stands still:
/// gossip does not retransmit, and a peer that restarted has missed them.
pub const RESEND_INTERVAL: Duration = Duration::from_millis(1_000);
/// An idle chain makes no empty blocks: round 0's proposer waits this long for events, and the
/// others hold round 0's propose timeout while their mempools are empty. Timeouts only serve
/// liveness, so this changes nothing about safety; under load nobody waits.
pub const IDLE_BLOCK_INTERVAL: Duration = Duration::from_secs(10);
/// How often a proposer waiting for events looks at the mempool.
pub const PROPOSER_POLL: Duration = Duration::from_millis(10);
/// Events at or above this count are signature-checked on two threads.
pub const PARALLEL_CHECK_MIN: usize = 256;
/// Signature checks remembered so a block's events are not verified twice: about two full
/// blocks of events.
pub const RECENTLY_VERIFIED_MAX: usize = 20_000;

// ---- Network timing -------------------------------------------------------------------------

/// The swarm task's housekeeping period (sync checks, peer scores).
pub const NETWORK_TICK: Duration = Duration::from_millis(500);
/// No commit for this long and peers are connected: ask one for blocks.
pub const STALL_BEFORE_SYNC: Duration = Duration::from_secs(3);
/// How long a starting node waits for a peer's pending events before it takes events anyway.
pub const HAND_OVER_WAIT_MAX: Duration = Duration::from_secs(10);
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a gossip message may wait in a peer's send queue before libp2p gives it up.
pub const GOSSIP_QUEUE_PATIENCE: Duration = Duration::from_secs(60);

// ---- Ledger ---------------------------------------------------------------------------------

/// The largest single value the ledger stores besides events (headers, certificates, receipts,
/// state, the tip with its log frontier).
pub const STORED_VALUE_BYTES_MAX: usize = 64 * 1024;

// ---- Disk -----------------------------------------------------------------------------------

/// Free space below which the node refuses new events (507), unless its configuration says
/// otherwise: enough for many full blocks, so one in flight never meets ENOSPC.
pub const DISK_FREE_MIN_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Where `/metrics` is served when the configuration does not say: loopback only.
pub const METRICS_LISTEN_DEFAULT: &str = "127.0.0.1:9464";
/// How often free space is measured.
pub const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

// ---- Relations ------------------------------------------------------------------------------

// Any event the protocol admits fits one API body, however its JSON is written (hex doubles
// bytes), and one gossip message with its length prefix.
const _: () = assert!(EVENT_BODY_BYTES_MAX >= 2 * EVENT_ENCODED_BYTES_MAX);
const _: () = assert!(BATCH_BODY_BYTES_MAX >= EVENT_BODY_BYTES_MAX);
// A party check reads at least every event one answer may carry.
const _: () = assert!(ENTITLEMENT_EVENTS_MAX >= waybill_protocol::limits::PROVENANCE_EVENTS_MAX);
const _: () = assert!(EVENT_GOSSIP_BYTES_MAX >= 8 + EVENT_ENCODED_BYTES_MAX);
// Gossipsub has one transmit size for both topics.
const _: () = assert!(EVENT_GOSSIP_BYTES_MAX <= GOSSIP_TRANSMIT_BYTES_MAX);
const _: () = assert!(CONSENSUS_GOSSIP_BYTES_MAX <= GOSSIP_TRANSMIT_BYTES_MAX);
const _: () = assert!(EVENT_GOSSIP_EVENTS_MAX >= 1);
// A batch the API took is gossiped in pieces, each within both gossip bounds.
const _: () = assert!(BATCH_EVENTS_MAX <= MEMPOOL_EVENTS_MAX);
const _: () = assert!(STREAM_SUBSCRIBERS_MAX < API_CONNECTIONS_MAX);
const _: () = assert!(ADMISSIONS_CONCURRENT_MAX >= 1);
// Even every admission at once with the largest bodies stays far below the machine.
const _: () = assert!(ADMISSIONS_CONCURRENT_MAX * BATCH_BODY_BYTES_MAX <= 256 * 1024 * 1024);
const _: () = assert!(MEMPOOL_CUSTOMS_RESERVE_EVENTS < MEMPOOL_EVENTS_MAX);
const _: () = assert!(MEMPOOL_CUSTOMS_RESERVE_BYTES < MEMPOOL_BYTES_MAX);
const _: () = assert!(MEMPOOL_PER_SIGNER_MAX <= MEMPOOL_PER_ORGANISATION_MAX);
const _: () =
    assert!(MEMPOOL_PER_ORGANISATION_MAX <= MEMPOOL_EVENTS_MAX - MEMPOOL_CUSTOMS_RESERVE_EVENTS);
// A full block's events are always in the mempool's reach, and a hand-over fits it.
const _: () = assert!(BLOCK_EVENTS_MAX <= MEMPOOL_EVENTS_MAX);
const _: () = assert!(SYNC_PENDING_EVENTS_MAX as usize <= MEMPOOL_EVENTS_MAX);
const _: () = assert!(SYNC_PENDING_FILL_BYTES <= MEMPOOL_BYTES_MAX);
const _: () = assert!(LISTING_ENTRIES_MAX <= 100_000);
const _: () = assert!(OPEN_FILES_WANTED <= 65_536);
// A request names each declaration by shipment id and commitment, with room to spare.
const _: () = assert!(
    PARTICULARS_REQUEST_BYTES_MAX
        >= PARTICULARS_PER_REQUEST_MAX * (8 + waybill_protocol::limits::SHIPMENT_ID_BYTES_MAX + 32)
);
// A declaration's particulars with the event they came with fit one API body.
const _: () =
    assert!(DECLARATION_BODY_BYTES_MAX >= EVENT_BODY_BYTES_MAX + 2 * PRIVATE_VALUE_BYTES_MAX);
const _: () = assert!(BATCH_BODY_BYTES_MAX >= DECLARATION_BODY_BYTES_MAX);
// The byte budget holds several of the largest proposals, and counts in whole KiB.
const _: () = assert!(ENGINE_QUEUE_BYTES_MAX >= 4 * CONSENSUS_GOSSIP_BYTES_MAX);
// Proposals of this height and the next are kept, from every round's proposer of a few rounds.
const _: () = assert!(PROPOSED_BLOCKS_MAX >= 2 * 4);
// The engine wakes at least once per re-send, and polls the mempool much faster than that; an
// idle chain's proofs (as of the tip's parent, so up to two idle intervals old) stay well
// within a proof's default maximum age (120 s).
const _: () = assert!(PROPOSER_POLL.as_millis() * 10 <= RESEND_INTERVAL.as_millis());
const _: () = assert!(RESEND_INTERVAL.as_millis() < IDLE_BLOCK_INTERVAL.as_millis());
const _: () = assert!(
    IDLE_BLOCK_INTERVAL.as_secs() * 4 <= waybill_protocol::limits::PROOF_AGE_DEFAULT_SECONDS
);
// Waiting for certification only makes sense for the block that follows at once, never for an
// idle chain's next block.
const _: () = assert!(CERTIFICATION_WAIT.as_millis() < IDLE_BLOCK_INTERVAL.as_millis());
const _: () = assert!(PARALLEL_CHECK_MIN <= BLOCK_EVENTS_MAX);
const _: () = assert!(RECENTLY_VERIFIED_MAX >= 2 * BLOCK_EVENTS_MAX);
// A stall is noticed after several ticks; a sync request may take longer than a stall before it
// is given up, and a node waits for a peer's pending events less than one request's timeout.
const _: () = assert!(STALL_BEFORE_SYNC.as_millis() >= 4 * NETWORK_TICK.as_millis());
const _: () = assert!(SYNC_REQUEST_TIMEOUT.as_millis() > STALL_BEFORE_SYNC.as_millis());
const _: () = assert!(HAND_OVER_WAIT_MAX.as_millis() < SYNC_REQUEST_TIMEOUT.as_millis());
const _: () = assert!(GOSSIP_QUEUE_PATIENCE.as_millis() >= SYNC_REQUEST_TIMEOUT.as_millis());
// A header, certificate or receipt of the largest validator set fits one stored value.
const _: () = assert!(STORED_VALUE_BYTES_MAX >= 64 * VALIDATORS_MAX + 1024);
const _: () = assert!(LINGER_BYTES_MAX >= API_HEADER_BYTES_MAX);
const _: () = assert!(ENGINE_QUEUE_BYTES_MAX / 1024 <= tokio::sync::Semaphore::MAX_PERMITS);
