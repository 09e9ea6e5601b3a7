//! The signed-event admission path a node runs before it reads its ledger: decode (bounded),
//! the body's rules, the signature, the signer's role. Never a panic; an admitted event is one
//! whose id is its body's id. The decoded body is also re-signed with its organisation's
//! fixture key, so the fuzzer reaches the role and body checks past the signature.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::fixtures;
use waybill_protocol::rules::ChainRules;

static RULES: LazyLock<ChainRules> =
    LazyLock::new(|| ChainRules::new(fixtures::genesis(4)).expect("the fixture genesis is valid"));

fn admit(event: SignedEvent) {
    let id = event.body.id();
    if let Ok(checked) = CheckedEvent::admit(&RULES, event, fixtures::NOW_MS) {
        assert_eq!(checked.id(), id);
        assert_eq!(checked.encoded_len(), checked.event().encode().len());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = SignedEvent::decode(data) else {
        return;
    };
    let org = event.body.signer.org.to_string();
    admit(event.clone());
    if fixtures::ORGANISATION_IDS.contains(&org.as_str()) {
        admit(SignedEvent::sign(event.body, &fixtures::org_keypair(&org)));
    }
});
