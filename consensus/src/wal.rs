//! The consensus write-ahead log's records and replay (pure: storage is `crate::storage`).
//!
//! A record is `length (u32 LE) ‖ checksum (first 8 bytes of SHA-256 of the payload) ‖
//! payload (canonical encoding of a [`WalEntry`])`. Reading tolerates exactly one kind of
//! damage, a torn final record (a crash in the middle of an append): it is dropped and its
//! offset reported so the file can be cut there. Any other damage — a bad record followed by
//! more data, an undecodable payload — is refused with the offset, so the node stops rather
//! than vote from a state it cannot trust.

use bincode::{Decode, Encode};
use waybill_protocol::Hash;
use waybill_protocol::block::ConsensusMessage;
use waybill_protocol::codec;
use waybill_protocol::limits::MESSAGE_ENCODED_BYTES_MAX;

use crate::LoggedInput;

/// One logged fact.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum WalEntry {
    /// Consensus began this height; what came before is obsolete.
    Height(u64),
    /// An input the state machine took, in order (verified when taken; checked again when
    /// replayed).
    Input(LoggedInput),
    /// A message this node signed: durable before it is sent.
    Signed(ConsensusMessage),
}

const HEADER_BYTES: usize = 12;

fn checksum(payload: &[u8]) -> [u8; 8] {
    let digest = Hash::of_parts(&[payload]);
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&digest.0[..8]);
    sum
}

/// The bytes of one record.
pub fn encode_record(entry: &WalEntry) -> Vec<u8> {
    let payload = codec::encode(entry);
    let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&checksum(&payload));
    record.extend_from_slice(&payload);
    record
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error(
        "consensus WAL is corrupt at byte {offset}: {reason}; it is not a torn final record, so the node will not guess (move the file aside only if this validator's votes at that height are known)"
    )]
    Corrupt { offset: usize, reason: String },
}

/// What a WAL holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalContents {
    pub entries: Vec<WalEntry>,
    /// Where the last whole record ends: a torn tail beyond it is to be cut off.
    pub valid_len: usize,
    pub torn_tail: bool,
}

/// Reads every whole record of `bytes`. A torn tail is: a partial record at the end, a last
/// record whose checksum fails, or a run of zero bytes to the end (what some file systems leave
/// after a crash during an append).
pub fn read_records(bytes: &[u8]) -> Result<WalContents, WalError> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = rest.len() < HEADER_BYTES || rest.iter().all(|b| *b == 0);
        if torn {
            return Ok(WalContents {
                entries,
                valid_len: offset,
                torn_tail: true,
            });
        }
        let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if length > MESSAGE_ENCODED_BYTES_MAX {
            return Err(WalError::Corrupt {
                offset,
                reason: format!("record length {length} exceeds {MESSAGE_ENCODED_BYTES_MAX}"),
            });
        }
        if rest.len() < HEADER_BYTES + length {
            return Ok(WalContents {
                entries,
                valid_len: offset,
                torn_tail: true,
            });
        }
        let payload = &rest[HEADER_BYTES..HEADER_BYTES + length];
        let end = offset + HEADER_BYTES + length;
        if rest[4..HEADER_BYTES] != checksum(payload) {
            if end == bytes.len() {
                return Ok(WalContents {
                    entries,
                    valid_len: offset,
                    torn_tail: true,
                });
            }
            return Err(WalError::Corrupt {
                offset,
                reason: "checksum mismatch with more records after it".into(),
            });
        }
        let entry =
            codec::decode("WAL entry", payload, MESSAGE_ENCODED_BYTES_MAX).map_err(|error| {
                WalError::Corrupt {
                    offset,
                    reason: error.to_string(),
                }
            })?;
        entries.push(entry);
        offset = end;
    }
    Ok(WalContents {
        entries,
        valid_len: offset,
        torn_tail: false,
    })
}

/// What to replay after a restart whose ledger is at `ledger_height`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replay {
    /// The height consensus resumes at.
    pub height: u64,
    /// Inputs of that height, in order.
    pub inputs: Vec<LoggedInput>,
    /// Messages this node signed at that height, in order: re-sent, never re-signed.
    pub signed: Vec<ConsensusMessage>,
}

/// Picks the entries of the height to resume: the last `Height` marker's, if the ledger has not
/// committed it yet; otherwise a fresh start at the ledger's next height.
pub fn replay(entries: &[WalEntry], ledger_height: u64) -> Replay {
    let resume = ledger_height + 1;
    let start = entries
        .iter()
        .rposition(|e| matches!(e, WalEntry::Height(h) if *h == resume));
    let mut replay = Replay {
        height: resume,
        ..Replay::default()
    };
    let Some(start) = start else {
        return replay;
    };
    for entry in &entries[start + 1..] {
        match entry {
            WalEntry::Height(_) => break,
            WalEntry::Input(input) => replay.inputs.push(input.clone()),
            WalEntry::Signed(message) => replay.signed.push(message.clone()),
        }
    }
    replay
}
