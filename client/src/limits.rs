//! The client's own bounds on what it reads from outside (the protocol's are in
//! `waybill_protocol::limits`).

/// Policy files read from one directory: a handful of jurisdictions, the rates, the profile.
pub const POLICY_FILES_MAX: usize = 64;

// A whole directory read stays within a quarter of a gigabyte.
const _: () = assert!(POLICY_FILES_MAX * waybill_protocol::limits::FILE_BYTES_MAX <= 256 << 20);

/// Shipments the console's index keeps a line for; beyond it the work list says it is full.
pub const CONSOLE_SHIPMENTS_MAX: usize = 200_000;
/// GTINs the brand view lists from the blocks followed.
pub const CONSOLE_GTINS_MAX: usize = 10_000;
/// Blocks the console's follower reads before it lets a page see the index again.
pub const CONSOLE_BLOCKS_PER_ROUND_MAX: usize = 256;
/// Threads computing work-list lines (each a whole verified case file).
pub const CONSOLE_WORKERS: usize = 2;
/// A posted action form: a handful of short fields.
pub const CONSOLE_FORM_BYTES_MAX: usize = 16 * 1024;
/// Work-list rows on one page, worst lane first; the rest are counted and reached by the
/// lane filter or the search.
pub const CONSOLE_WORKLIST_ROWS_MAX: usize = 2_000;
/// Serials of one GTIN the brand page audits.
pub const CONSOLE_SERIALS_SHOWN_MAX: usize = 2_000;
/// How long the console waits for an action's block before saying it is still pending.
pub const CONSOLE_COMMIT_WAIT_SECONDS: u64 = 60;

// The action's reasons fit a form many times over (Text's bound, escaped).
const _: () = assert!(waybill_protocol::limits::TEXT_BYTES_MAX * 6 * 3 < CONSOLE_FORM_BYTES_MAX);
const _: () = assert!(CONSOLE_WORKERS >= 1 && CONSOLE_BLOCKS_PER_ROUND_MAX >= 1);
const _: () =
    assert!(CONSOLE_WORKLIST_ROWS_MAX >= 1 && CONSOLE_WORKLIST_ROWS_MAX <= CONSOLE_SHIPMENTS_MAX);

/// Events per batch the EPCIS gateway submits (the node takes up to 1,000 in one batch).
pub const GATEWAY_BATCH_EVENTS: usize = 100;
/// How long a capture waits for an event's block before reporting it pending.
pub const GATEWAY_COMMIT_WAIT_SECONDS: u64 = 60;
/// Capture jobs running at once (each a thread, and a document of up to 32 MiB in memory).
pub const GATEWAY_JOBS_RUNNING_MAX: usize = 8;
/// Capture jobs `GET /capture` lists.
pub const GATEWAY_JOBS_LISTED_MAX: usize = 1_000;
/// Named queries the gateway keeps.
pub const GATEWAY_QUERIES_MAX: usize = 256;
/// Subscriptions the gateway keeps (each has its own deliverer thread).
pub const GATEWAY_SUBSCRIPTIONS_MAX: usize = 64;
/// Events per query page: the standard's default, and the most a caller may ask for.
pub const GATEWAY_PAGE_EVENTS_DEFAULT: usize = 30;
pub const GATEWAY_PAGE_EVENTS_MAX: usize = 1_000;
/// Stored events one page request looks at; past it, the page ends early with a next link.
pub const GATEWAY_QUERY_SCAN_MAX: usize = 100_000;
/// Alternatives one query parameter may list.
pub const GATEWAY_QUERY_VALUES_MAX: usize = 100;
/// Events in one webhook or WebSocket message.
pub const GATEWAY_WEBHOOK_EVENTS_MAX: usize = 100;
/// A receiver's time to answer one delivery.
pub const GATEWAY_WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// The longest pause between retries of a failed delivery.
pub const GATEWAY_WEBHOOK_RETRY_MAX_SECONDS: u64 = 30;
/// Blocks the follower records before it looks at the node's height again.
pub const GATEWAY_BLOCKS_PER_ROUND_MAX: usize = 256;

const _: () = assert!(GATEWAY_BATCH_EVENTS >= 1 && GATEWAY_BATCH_EVENTS <= 1_000);
const _: () = assert!(GATEWAY_PAGE_EVENTS_DEFAULT <= GATEWAY_PAGE_EVENTS_MAX);
const _: () = assert!(GATEWAY_PAGE_EVENTS_MAX <= GATEWAY_QUERY_SCAN_MAX);
const _: () = assert!(GATEWAY_WEBHOOK_EVENTS_MAX <= GATEWAY_PAGE_EVENTS_MAX);
const _: () = assert!(GATEWAY_WEBHOOK_TIMEOUT_SECONDS < GATEWAY_WEBHOOK_RETRY_MAX_SECONDS);
