//! Every bound the protocol enforces, in one place, with their relations checked at compile time.
//!
//! Anything read from outside (a peer, an HTTP body, a file) is bounded by one of these before it
//! is allocated or trusted. Units are last in the name.

/// Largest encoded signed event accepted anywhere.
pub const EVENT_ENCODED_BYTES_MAX: usize = 64 * 1024;
/// Largest encoded message of any other kind (vote, header, certificate, proof).
pub const MESSAGE_ENCODED_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest encoded genesis document.
pub const GENESIS_ENCODED_BYTES_MAX: usize = 1024 * 1024;
/// Largest genesis or key file read from disk (JSON is wordier than the canonical bytes).
pub const FILE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// What a decode may claim for allocations, across all of its containers. In-memory sizes
/// exceed encoded sizes (a `String` is 24 bytes before its contents), so this is a multiple of
/// the largest input.
pub const DECODE_ALLOCATION_BYTES_MAX: usize = 16 * MESSAGE_ENCODED_BYTES_MAX;

/// Identifier lengths, in bytes (all identifiers are ASCII).
pub const CHAIN_ID_BYTES_MAX: usize = 64;
pub const ORG_ID_BYTES_MAX: usize = 32;
pub const SHIPMENT_ID_BYTES_MAX: usize = 64;
pub const SERIAL_BYTES_MAX: usize = 20; // GS1 AI (21): up to 20 characters.
pub const LOCATION_ID_BYTES_MAX: usize = 64;
pub const BIZ_TRANSACTION_ID_BYTES_MAX: usize = 64;
pub const REFERENCE_BYTES_MAX: usize = 64;

/// Free text (descriptions, reasons, party names), in bytes of UTF-8.
pub const TEXT_BYTES_MAX: usize = 512;
pub const PARTY_NAME_BYTES_MAX: usize = 128;
pub const ADDRESS_BYTES_MAX: usize = 256;

/// Item counts inside one event.
pub const EPCS_PER_EVENT_MAX: usize = 1_000;
pub const BIZ_TRANSACTIONS_PER_EVENT_MAX: usize = 16;
pub const DECLARED_ITEMS_PER_EVENT_MAX: usize = 200;

/// Event time bounds. Events may be back-filled, but not from before the system could exist,
/// and not from the future beyond clock skew between a handheld scanner and the node.
pub const EVENT_TIME_MS_MIN: u64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z
pub const EVENT_TIME_FUTURE_SKEW_MS_MAX: u64 = 5 * 60 * 1_000;
/// Time zone offsets span UTC-12:00 to UTC+14:00.
pub const TIMEZONE_OFFSET_MINUTES_MIN: i16 = -12 * 60;
pub const TIMEZONE_OFFSET_MINUTES_MAX: i16 = 14 * 60;

/// Genesis sizes.
pub const ORGANISATIONS_MAX: usize = 256;
/// The longest retention period a genesis may set for private particulars (a century).
pub const PARTICULARS_RETENTION_DAYS_MAX: u32 = 36_525;
pub const KEYS_PER_ORGANISATION_MAX: usize = 16;
pub const GS1_PREFIXES_PER_ORGANISATION_MAX: usize = 64;
/// Validators: a certificate's signer bitmap and every per-validator table are sized by this.
pub const VALIDATORS_MAX: usize = 128;
pub const NETWORK_ADDRESS_BYTES_MAX: usize = 256;
/// Entries of a genesis's rules schedule: one per rules version at most.
pub const RULES_ACTIVATIONS_MAX: usize = 16;

/// A commit certificate's encoding at most: height, round, block hash, the signer bitmap and
/// one signature per validator, each sequence with its 8-byte length (fixed-int encoding).
pub const CERTIFICATE_ENCODED_BYTES_MAX: usize =
    8 + 4 + 32 + (8 + VALIDATORS_MAX.div_ceil(8)) + (8 + 64 * VALIDATORS_MAX);
/// A block header's encoding at most: the chain id with its length, and the fixed fields.
pub const HEADER_ENCODED_BYTES_MAX: usize = 8 + CHAIN_ID_BYTES_MAX + 256;

/// Block bounds (the consensus parameters in a genesis may only lower them).
pub const BLOCK_EVENTS_MAX: usize = 10_000;
pub const BLOCK_ENCODED_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Consensus timeouts (milliseconds) a genesis may configure.
pub const TIMEOUT_MS_MIN: u64 = 10;
pub const TIMEOUT_MS_MAX: u64 = 60_000;

/// EPCIS 2.0 documents (`epcis`). One event as captured, in canonical JSON, rides inside one
/// signed ledger event, so it leaves room for the event's other fields.
pub const EPCIS_EVENT_BYTES_MAX: usize = 48 * 1024;
/// Events in one EPCIS document (a capture job or an import).
pub const EPCIS_DOCUMENT_EVENTS_MAX: usize = 10_000;
/// One EPCIS document's bytes: a full list of events near their largest would not fit, so the
/// byte bound is the one that bites for large events.
pub const EPCIS_DOCUMENT_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Entries of any list inside one EPCIS event (EPCs, quantities, sensor reports, extensions).
pub const EPCIS_LIST_ITEMS_MAX: usize = EPCS_PER_EVENT_MAX;
/// Any string or member name inside an EPCIS event.
pub const EPCIS_STRING_BYTES_MAX: usize = 2_048;
/// Nesting of objects and arrays inside an EPCIS event (extensions nest).
pub const EPCIS_DEPTH_MAX: usize = 16;
/// Problems reported for one document before the reader stops looking.
pub const EPCIS_ERRORS_MAX: usize = 100;

const _: () = assert!(EVENT_ENCODED_BYTES_MAX <= MESSAGE_ENCODED_BYTES_MAX);
const _: () = assert!(EPCIS_EVENT_BYTES_MAX + 8 * 1024 <= EVENT_ENCODED_BYTES_MAX);
const _: () = assert!(EPCIS_STRING_BYTES_MAX < EPCIS_EVENT_BYTES_MAX);
const _: () = assert!(EPCIS_DOCUMENT_EVENTS_MAX <= EPCIS_DOCUMENT_BYTES_MAX / 64);
const _: () = assert!(GENESIS_ENCODED_BYTES_MAX <= MESSAGE_ENCODED_BYTES_MAX);
const _: () = assert!(GENESIS_ENCODED_BYTES_MAX <= FILE_BYTES_MAX);
const _: () = assert!(BLOCK_ENCODED_BYTES_MAX <= DECODE_ALLOCATION_BYTES_MAX);
// A block of maximal events must fit in the block byte bound.
const _: () = assert!(BLOCK_EVENTS_MAX * 1_024 <= BLOCK_ENCODED_BYTES_MAX);
// The per-event item limits must fit an event's encoded size: each EPC is at most ~40 bytes.
const _: () = assert!(EPCS_PER_EVENT_MAX * 48 <= EVENT_ENCODED_BYTES_MAX);
const _: () = assert!(VALIDATORS_MAX <= u16::MAX as usize);
const _: () = assert!(TIMEOUT_MS_MIN < TIMEOUT_MS_MAX);

/// A serialised authenticated-map proof: at most 256 siblings of 33 bytes plus a leaf.
pub const MAP_PROOF_BYTES_MAX: usize = 16 * 1024;
/// Events one provenance answer may carry; a longer history is served in pages of this many.
pub const PROVENANCE_EVENTS_MAX: usize = 10_000;
/// Encoded event bytes one provenance answer fills at most (a page stops after the event that
/// reaches it): with JSON's overhead it stays within what a client reads.
pub const PROVENANCE_FILL_BYTES: usize = 16 * 1024 * 1024;

const _: () = assert!(MAP_PROOF_BYTES_MAX >= 256 * 33 + 128);
const _: () =
    assert!(PROVENANCE_FILL_BYTES + EVENT_ENCODED_BYTES_MAX <= MESSAGE_ENCODED_BYTES_MAX * 8);

/// Consensus: rounds above the current one whose messages are kept (more are dropped, so a
/// Byzantine validator cannot fill memory with far-future rounds).
pub const CONSENSUS_ROUNDS_AHEAD_MAX: u32 = 64;
/// Consensus: rounds of the current height kept in the message log (the oldest go first).
pub const CONSENSUS_ROUNDS_KEPT_MAX: usize = 256;
/// Consensus: messages for the next height buffered until this node gets there.
pub const CONSENSUS_FUTURE_MESSAGES_MAX: usize = 4 * VALIDATORS_MAX;
/// Consensus: evidence items kept before the oldest is dropped.
pub const EVIDENCE_KEPT_MAX: usize = 1_024;
/// The oldest proof a client accepts by default (`--max-age`), in seconds of its block's age.
/// Nodes make a block at least this often many times over, even when idle (node limits).
pub const PROOF_AGE_DEFAULT_SECONDS: u64 = 120;

const _: () = assert!(CONSENSUS_ROUNDS_KEPT_MAX > CONSENSUS_ROUNDS_AHEAD_MAX as usize);
