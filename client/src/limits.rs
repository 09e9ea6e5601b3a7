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
