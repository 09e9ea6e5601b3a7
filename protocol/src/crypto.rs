//! Hashes, keys and signatures, with domain separation as DESIGN.md §2 fixes it.
//!
//! Every hash of a protocol object is `SHA-256(tag ‖ bytes)` with a tag per kind; every signature
//! covers `tag ‖ chain_id ‖ body`, so a signature made for one chain or one message kind never
//! verifies for another. Validity is `verify_strict` and nothing else. The RFC 6962 Merkle hashes
//! (prefixes 0x00 and 0x01) and the per-key chain links (0x02) cannot collide with tagged hashes:
//! every tag starts with the byte `w`.

use std::fmt;

use bincode::{Decode, Encode};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::codec;
use crate::ids::ChainId;

/// Domain tags. No tag is a prefix of another (asserted in the tests).
pub mod tag {
    pub const EVENT: &[u8] = b"waybill/event/v1";
    pub const HEADER: &[u8] = b"waybill/header/v1";
    pub const VOTE: &[u8] = b"waybill/vote/v1";
    pub const PROPOSAL: &[u8] = b"waybill/proposal/v1";
    pub const GENESIS: &[u8] = b"waybill/genesis/v1";
    pub const VALIDATORS: &[u8] = b"waybill/validators/v1";
    /// A declaration's commitment to its private particulars: over its parts' commitments.
    pub const PARTICULARS: &[u8] = b"waybill/particulars/v2";
    /// One part of the particulars, salted with its own salt.
    pub const PARTICULARS_PART: &[u8] = b"waybill/particulars-part/v1";
    /// A part's salt, derived from the declaration's salt and the part.
    pub const PARTICULARS_PART_SALT: &[u8] = b"waybill/particulars-salt/v1";
    /// The certificate of the parent block that a block carries (or its absence at height 1).
    pub const LAST_COMMIT: &[u8] = b"waybill/last-commit/v1";
    /// Every tag, for the prefix-freeness test.
    pub const ALL: &[&[u8]] = &[
        LAST_COMMIT,
        EVENT,
        HEADER,
        VOTE,
        PROPOSAL,
        GENESIS,
        VALIDATORS,
        PARTICULARS,
        PARTICULARS_PART,
        PARTICULARS_PART_SALT,
    ];
}

/// A SHA-256 digest. Hex in JSON, 32 raw bytes in the canonical codec.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 over the concatenation of `parts`.
    pub fn of_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash(hasher.finalize().into())
    }

    /// `SHA-256(tag ‖ bytes)`.
    pub fn tagged(tag: &[u8], bytes: &[u8]) -> Hash {
        Hash::of_parts(&[tag, bytes])
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Hash, CryptoError> {
        Ok(Hash(decode_hex_array("hash", text)?))
    }
}

/// An ed25519 public key, as its 32 compressed bytes. Whether the bytes are a usable key is
/// checked by [`PublicKey::verifying_key`] (and by `Genesis::validate` for every genesis key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<PublicKey, CryptoError> {
        Ok(PublicKey(decode_hex_array("public key", text)?))
    }

    /// The decompressed key, refusing bytes that are not a curve point and points of small
    /// order (weak keys, for which a signature can verify under many messages).
    pub fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        let key = VerifyingKey::from_bytes(&self.0)
            .map_err(|_| CryptoError::NotACurvePoint { key: self.to_hex() })?;
        if key.is_weak() {
            return Err(CryptoError::WeakKey { key: self.to_hex() });
        }
        Ok(key)
    }

    /// Verifies `signature` over `message` with `verify_strict`, the one validity rule.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        verify_strict(&self.verifying_key()?, message, signature)
    }
}

/// `verify_strict` with an already decompressed key: rejects non-canonical encodings and
/// small-order components that plain `verify` (and batch verification) would accept.
pub fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// An ed25519 signature, 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Signature, CryptoError> {
        Ok(Signature(decode_hex_array("signature", text)?))
    }
}

/// A signing key with its public half. The secret is zeroed on drop (ed25519-dalek's zeroize).
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Keypair, CryptoError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|error| CryptoError::Randomness {
            reason: error.to_string(),
        })?;
        Ok(Keypair::from_secret_bytes(&secret))
    }

    pub fn from_secret_bytes(secret: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(secret),
        }
    }

    pub fn from_secret_hex(text: &str) -> Result<Keypair, CryptoError> {
        let secret = Zeroizing::new(decode_hex_array::<32>("secret key", text)?);
        Ok(Keypair::from_secret_bytes(&secret))
    }

    /// The secret seed, for handing the same key to the network layer (libp2p identity).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    pub fn secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.signing.to_bytes()))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Keypair({})", self.public_key().to_hex())
    }
}

/// The bytes a signer signs: `tag ‖ encode(chain_id) ‖ encode(body)`.
pub fn signing_bytes<T: Encode>(tag: &[u8], chain_id: &ChainId, body: &T) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(tag);
    codec::encode_into(chain_id, &mut bytes);
    codec::encode_into(body, &mut bytes);
    bytes
}

/// Why a key, signature or hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{what}: expected {expected} hex characters, found {found}")]
    HexLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{what}: not hexadecimal ({reason})")]
    NotHex { what: &'static str, reason: String },
    #[error("public key {key} is not a valid ed25519 curve point")]
    NotACurvePoint { key: String },
    #[error("public key {key} is weak (small order): any signature could verify")]
    WeakKey { key: String },
    #[error("signature does not verify (verify_strict)")]
    BadSignature,
    #[error("the operating system's random source failed: {reason}")]
    Randomness { reason: String },
}

fn decode_hex_array<const N: usize>(
    what: &'static str,
    text: &str,
) -> Result<[u8; N], CryptoError> {
    if text.len() != 2 * N {
        return Err(CryptoError::HexLength {
            what,
            expected: 2 * N,
            found: text.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|error| CryptoError::NotHex {
        what,
        reason: error.to_string(),
    })?;
    Ok(out)
}

macro_rules! hex_serde {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$type>::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.to_hex())
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.to_hex())
            }
        }
    };
}

hex_serde!(Hash);
hex_serde!(PublicKey);
hex_serde!(Signature);
