//! The shared language of Waybill: identifiers, the canonical codec, domain-separated hashing and
//! signing, RFC 6962 Merkle trees, the event model, block and vote types, and the genesis.
//!
//! Pure: no async runtime, no database, no sockets. The only I/O is [`files`], which reads and
//! writes the genesis, key and configuration files at a program's edge; nothing else in this
//! crate calls it.

pub mod admission;
pub mod api;
pub mod block;
pub mod calendar;
pub mod codec;
pub mod crypto;
pub mod epcis;
pub mod event;
pub mod execution;
pub mod files;
pub mod fixtures;
pub mod genesis;
pub mod ids;
pub mod index;
pub mod json;
pub mod limits;
pub mod merkle;
pub mod particulars;
pub mod provenance;
pub mod rules;
pub mod rules_version;
#[cfg(feature = "tls")]
pub mod tls;

pub use block::{BlockHeader, CommitCertificate, SignedVote, ValidatorIndex, Vote, VoteStep};
pub use crypto::{Hash, Keypair, PublicKey, Signature};
pub use event::{EventBody, EventBuilder, EventKind, EventType, SignedEvent};
pub use genesis::{Genesis, Organisation, Role, Validator};
pub use ids::*;
