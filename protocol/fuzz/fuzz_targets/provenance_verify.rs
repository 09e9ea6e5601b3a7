//! The provenance verifier: a fuzzed proof must never verify unless it proves exactly what a
//! real one proves. The real proofs (`seeds/`, made from a RocksDB ledger by
//! `tests/tests/provenance.rs`, which checks they are current) are the starting corpus; a
//! mutated proof that verifies must carry the same key, block, record and events as one of
//! them (its certificate may differ only by which quorum of real signatures it keeps).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use waybill_protocol::fixtures;
use waybill_protocol::provenance::ProvenanceProof;
use waybill_protocol::rules::ChainRules;

static RULES: LazyLock<ChainRules> =
    LazyLock::new(|| ChainRules::new(fixtures::genesis(4)).expect("the fixture genesis is valid"));

static REAL: LazyLock<Vec<ProvenanceProof>> = LazyLock::new(|| {
    [
        &include_bytes!("../seeds/provenance_verify/story.proof")[..],
        &include_bytes!("../seeds/provenance_verify/absence.proof")[..],
    ]
    .iter()
    .map(|bytes| ProvenanceProof::decode(bytes).expect("the seed proofs decode"))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = ProvenanceProof::decode(data) else {
        return;
    };
    if proof.verify(&RULES).is_ok() {
        let same_claim = REAL.iter().any(|real| {
            real.key == proof.key
                && real.header == proof.header
                && real.record == proof.record
                && real.events == proof.events
        });
        assert!(
            same_claim,
            "a proof that no ledger made verifies: {proof:?}"
        );
    }
});
