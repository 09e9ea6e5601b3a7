//! JSON at the boundary: parse into typed values with errors that say where the problem is
//! (`organisations[1].roles[0]`, line and column), not only what it is.

use serde::de::DeserializeOwned;

/// Why a JSON document could not be read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {path} (line {line}, column {column}): {reason}")]
pub struct JsonError {
    /// The field path, e.g. `kind.items[0].hs6`, or `.` for the document itself.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

/// Parses `bytes` as a `T`, naming the field path of the first problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        JsonError {
            path,
            line: inner.line(),
            column: inner.column(),
            reason: strip_position(&inner.to_string()),
        }
    })?;
    deserializer.end().map_err(|error| JsonError {
        path: ".".into(),
        line: error.line(),
        column: error.column(),
        reason: strip_position(&error.to_string()),
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C"; we report those as fields.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(position) => message[..position].to_string(),
        None => message.to_string(),
    }
}

/// One line of JSON, for a stream of records (`waybill watch --json`).
pub fn to_compact<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("our types always serialise to JSON")
}

/// Pretty JSON with a final newline, for files people read.
pub fn to_pretty<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("our types always serialise to JSON");
    text.push('\n');
    text
}
