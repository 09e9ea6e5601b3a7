//! The client's own bounds on what it reads from outside (the protocol's are in
//! `waybill_protocol::limits`).

/// Policy files read from one directory: a handful of jurisdictions, the rates, the profile.
pub const POLICY_FILES_MAX: usize = 64;

/// A policy file is read whole up to the protocol's file bound.
pub fn read_policy_file(path: &std::path::Path) -> Result<String, String> {
    let bytes =
        waybill_protocol::files::read_bounded("policy file", path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
}
