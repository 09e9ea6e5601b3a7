//! The provenance verifier: a fuzzed proof that verifies must state only what is true of the
//! ledger the real proofs came from (`fixtures/`, made from a RocksDB ledger by
//! `tests/tests/provenance.rs`, which checks they are current):
//! - a history (a record) must be exactly the real one for its key: same record, same events;
//! - an absence (no record) must name a key that is not present in that ledger. A sparse-Merkle
//!   absence proof also proves every other absent key whose path ends at the same leaf, which
//!   is true, so those verify (the fuzzer found this; it is not a forgery).
//!
//! The certificate may differ from the real one only by which quorum of real signatures it
//! keeps.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use waybill_protocol::codec;
use waybill_protocol::fixtures;
use waybill_protocol::index::IndexKey;
use waybill_protocol::provenance::ProvenanceProof;
use waybill_protocol::rules::ChainRules;

static RULES: LazyLock<ChainRules> = LazyLock::new(|| {
    ChainRules::new(fixtures::genesis(4)).expect("the fixture genesis is valid")
});

static HISTORY: LazyLock<ProvenanceProof> = LazyLock::new(|| {
    ProvenanceProof::decode(include_bytes!("../fixtures/story.proof")).expect("fixture decodes")
});

static PRESENT: LazyLock<Vec<IndexKey>> = LazyLock::new(|| {
    codec::decode(
        "present keys",
        include_bytes!("../fixtures/present-keys.bin"),
        1 << 20,
    )
    .expect("fixture decodes")
});

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = ProvenanceProof::decode(data) else {
        return;
    };
    if proof.verify(&RULES).is_err() {
        return;
    }
    match &proof.record {
        None => assert!(
            !PRESENT.contains(&proof.key),
            "absence of a present key verifies: {proof:?}"
        ),
        Some(_) => {
            let real = &*HISTORY;
            assert!(
                real.key == proof.key
                    && real.header == proof.header
                    && real.record == proof.record
                    && real.events == proof.events,
                "a history no ledger made verifies: {proof:?}"
            );
        }
    }
});
