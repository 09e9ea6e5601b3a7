//! The client's own bounds on what it reads from outside (the protocol's are in
//! `waybill_protocol::limits`).

/// Policy files read from one directory: a handful of jurisdictions, the rates, the profile.
pub const POLICY_FILES_MAX: usize = 64;

// A whole directory read stays within a quarter of a gigabyte.
const _: () = assert!(POLICY_FILES_MAX * waybill_protocol::limits::FILE_BYTES_MAX <= 256 << 20);
