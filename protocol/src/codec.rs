//! The one canonical binary encoding: bincode 2.0.1 in a single fixed configuration.
//!
//! Little-endian, fixed-width integers, `u64` lengths, `u32` enum tags. Every type that is
//! hashed or signed goes through here, so the format (pinned by golden vectors in the tests),
//! not the crate, is the contract. Decoding bounds the input length and every allocation before
//! it happens, and rejects trailing bytes. Because every value has exactly one encoding (no maps,
//! strict booleans and tags, validated identifiers), `encode(decode(b)) == b` whenever `decode`
//! succeeds.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use bincode::{Decode, Encode};

use crate::limits::DECODE_ALLOCATION_BYTES_MAX;

type Canonical = Configuration<LittleEndian, Fixint, Limit<DECODE_ALLOCATION_BYTES_MAX>>;

const CANONICAL: Canonical = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<DECODE_ALLOCATION_BYTES_MAX>();

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: {length} bytes exceeds the limit of {max} bytes")]
    TooLong {
        what: &'static str,
        length: usize,
        max: usize,
    },
    #[error("{what}: {trailing} trailing bytes after a complete value")]
    TrailingBytes { what: &'static str, trailing: usize },
    #[error("{what}: malformed encoding: {reason}")]
    Malformed { what: &'static str, reason: String },
}

/// The canonical bytes of a value.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Encoding into a Vec cannot fail for our types: they hold no maps, floats or I/O.
    bincode::encode_to_vec(value, CANONICAL).expect("canonical encoding into memory cannot fail")
}

/// Appends the canonical bytes of a value to `out` (for hashing several values in sequence).
pub fn encode_into<T: Encode>(value: &T, out: &mut Vec<u8>) {
    bincode::encode_into_std_write(value, out, CANONICAL)
        .expect("canonical encoding into memory cannot fail");
}

/// Decodes exactly one value of `what` from `bytes`, which may be at most `max_bytes` long.
pub fn decode<T: Decode<()>>(
    what: &'static str,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<T, CodecError> {
    if bytes.len() > max_bytes {
        return Err(CodecError::TooLong {
            what,
            length: bytes.len(),
            max: max_bytes,
        });
    }
    let (value, read) =
        bincode::decode_from_slice(bytes, CANONICAL).map_err(|error| CodecError::Malformed {
            what,
            reason: error.to_string(),
        })?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes {
            what,
            trailing: bytes.len() - read,
        });
    }
    Ok(value)
}
