//! The canonical decoder: any bytes either fail to decode with an error, or decode to a value
//! whose encoding is exactly those bytes (one encoding per value, as the codec promises).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waybill_protocol::block::{BlockHeader, CommitCertificate, ConsensusMessage};
use waybill_protocol::codec::{self, CodecError};
use waybill_protocol::event::SignedEvent;
use waybill_protocol::limits::MESSAGE_ENCODED_BYTES_MAX;
use waybill_protocol::provenance::ProvenanceProof;

fn canonical<T>(bytes: &[u8], decoded: Result<T, impl std::fmt::Debug>, encode: fn(&T) -> Vec<u8>) {
    if let Ok(value) = decoded {
        assert_eq!(
            encode(&value),
            bytes,
            "a value decoded from bytes that are not its encoding"
        );
    }
}

fn message<T: bincode::Decode<()> + bincode::Encode>(what: &'static str, bytes: &[u8]) {
    let decoded: Result<T, CodecError> = codec::decode(what, bytes, MESSAGE_ENCODED_BYTES_MAX);
    canonical(bytes, decoded, codec::encode);
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => canonical(bytes, SignedEvent::decode(bytes), SignedEvent::encode),
        1 => message::<ConsensusMessage>("consensus message", bytes),
        2 => message::<BlockHeader>("block header", bytes),
        3 => message::<CommitCertificate>("commit certificate", bytes),
        _ => canonical(
            bytes,
            ProvenanceProof::decode(bytes),
            ProvenanceProof::encode,
        ),
    }
});
