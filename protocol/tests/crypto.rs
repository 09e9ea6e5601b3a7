//! Domain separation and the one validity rule (`verify_strict`).
#![allow(clippy::unwrap_used)]

use waybill_protocol::crypto::{CryptoError, tag};
use waybill_protocol::event::EventKind;
use waybill_protocol::fixtures;
use waybill_protocol::*;

#[test]
fn no_domain_tag_is_a_prefix_of_another() {
    for (i, a) in tag::ALL.iter().enumerate() {
        assert!(
            a.starts_with(b"w"),
            "tags start with 'w', apart from Merkle's 0x00/0x01/0x02"
        );
        for (j, b) in tag::ALL.iter().enumerate() {
            if i != j {
                assert!(!b.starts_with(a), "{:?} prefixes {:?}", a, b);
            }
        }
    }
}

#[test]
fn event_signature_verifies_for_its_signer_only() {
    let event = fixtures::signed_event("carrier-a", 1, "HAWB-1", EventKind::PickUp);
    event
        .verify_signature(&fixtures::org_keypair("carrier-a").public_key())
        .unwrap();
    assert!(
        event
            .verify_signature(&fixtures::org_keypair("carrier-b").public_key())
            .is_err()
    );
}

#[test]
fn a_signature_for_one_chain_never_verifies_for_another() {
    let event = fixtures::signed_event("carrier-a", 1, "HAWB-1", EventKind::PickUp);
    let mut moved = event.clone();
    moved.body.chain_id = ChainId::new("another-chain").unwrap();
    assert!(
        moved
            .verify_signature(&fixtures::org_keypair("carrier-a").public_key())
            .is_err()
    );
}

#[test]
fn a_vote_signature_does_not_verify_as_another_kind_of_message() {
    let keypair = fixtures::node_keypair(0);
    let vote = Vote {
        height: 1,
        round: 0,
        step: VoteStep::Prevote,
        block: None,
        validator: ValidatorIndex(0),
    };
    let signed = vote.clone().sign(&fixtures::chain_id(), &keypair);
    let public = keypair.public_key();
    public
        .verify(
            &vote.signing_bytes(&fixtures::chain_id()),
            &signed.signature,
        )
        .unwrap();
    let precommit = Vote {
        step: VoteStep::Precommit,
        ..vote.clone()
    };
    assert!(
        public
            .verify(
                &precommit.signing_bytes(&fixtures::chain_id()),
                &signed.signature
            )
            .is_err()
    );
    let other_chain = ChainId::new("another-chain").unwrap();
    assert!(
        public
            .verify(&vote.signing_bytes(&other_chain), &signed.signature)
            .is_err()
    );
}

#[test]
fn verify_strict_rejects_a_non_canonical_s() {
    // s + L (the group order) verifies under lax rules on some implementations; never here.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let keypair = fixtures::keypair("malleable");
    let message = b"message";
    let mut signature = keypair.sign(message);
    let mut carry = 0u16;
    for (s_byte, l_byte) in signature.0[32..].iter_mut().zip(L) {
        let sum = u16::from(*s_byte) + u16::from(l_byte) + carry;
        *s_byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(
        keypair.public_key().verify(message, &signature),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn small_order_and_invalid_keys_are_refused() {
    // The identity point (small order) and a y-coordinate that is not on the curve.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        PublicKey(identity).verifying_key(),
        Err(CryptoError::WeakKey { .. })
    ));
    let not_a_point =
        PublicKey::from_hex("0200000000000000000000000000000000000000000000000000000000000000")
            .unwrap();
    assert!(not_a_point.verifying_key().is_err());
}

#[test]
fn hex_parsing_says_what_was_wrong() {
    assert_eq!(
        Hash::from_hex("abcd"),
        Err(CryptoError::HexLength {
            what: "hash",
            expected: 64,
            found: 4
        })
    );
    assert!(matches!(
        Signature::from_hex(&"zz".repeat(64)),
        Err(CryptoError::NotHex { .. })
    ));
    let keypair = fixtures::keypair("roundtrip");
    let again = Keypair::from_secret_hex(&keypair.secret_hex()).unwrap();
    assert_eq!(again.public_key(), keypair.public_key());
}
