//! A validated genesis with the lookups every check needs: event signers by key id with their
//! decompressed keys and roles, validator keys by index. Built once per process, so no key is
//! decompressed twice.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::block::ValidatorIndex;
use crate::crypto::{self, CryptoError, Hash, Signature};
use crate::event::EventType;
use crate::genesis::{Genesis, GenesisError, Role};
use crate::ids::{ChainId, Gs1CompanyPrefix, Gtin, KeyId, OrgId};

/// An organisation's event signing key, ready to verify with.
#[derive(Debug, Clone)]
pub struct Signer {
    pub org: OrgId,
    pub key: VerifyingKey,
    pub roles: Vec<Role>,
}

/// The rules of one chain, derived from its genesis.
#[derive(Debug, Clone)]
pub struct ChainRules {
    genesis: Genesis,
    genesis_hash: Hash,
    validators_hash: Hash,
    signers: BTreeMap<KeyId, Signer>,
    key_ids: BTreeMap<crypto::PublicKey, KeyId>,
    validator_keys: Vec<VerifyingKey>,
}

impl ChainRules {
    /// Validates `genesis` and builds the lookups.
    pub fn new(genesis: Genesis) -> Result<ChainRules, GenesisError> {
        genesis.validate()?;
        let bad_key =
            |field: String| move |source: CryptoError| GenesisError::BadKey { field, source };
        let mut signers = BTreeMap::new();
        let mut key_ids = BTreeMap::new();
        for org in &genesis.organisations {
            for (index, public) in org.signing_keys.iter().enumerate() {
                let key = public.verifying_key().map_err(bad_key(format!(
                    "organisations ({}).signing_keys[{index}]",
                    org.id
                )))?;
                let key_id = KeyId {
                    org: org.id.clone(),
                    index: index as u16,
                };
                key_ids.insert(*public, key_id.clone());
                signers.insert(
                    key_id,
                    Signer {
                        org: org.id.clone(),
                        key,
                        roles: org.roles.clone(),
                    },
                );
            }
        }
        let validator_keys = genesis
            .validators
            .iter()
            .map(|v| {
                v.node_key
                    .verifying_key()
                    .map_err(bad_key(format!("validators ({}).node_key", v.name)))
            })
            .collect::<Result<_, _>>()?;
        Ok(ChainRules {
            genesis_hash: genesis.hash(),
            validators_hash: genesis.validators_hash(),
            genesis,
            signers,
            key_ids,
            validator_keys,
        })
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn chain_id(&self) -> &ChainId {
        &self.genesis.chain_id
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn validators_hash(&self) -> Hash {
        self.validators_hash
    }

    pub fn validator_count(&self) -> usize {
        self.validator_keys.len()
    }

    /// More than two thirds of the validators.
    pub fn quorum(&self) -> usize {
        self.genesis.quorum()
    }

    /// Which organisation key `public` is, if it is one (an API caller's credential).
    pub fn key_id_of(&self, public: &crypto::PublicKey) -> Option<&KeyId> {
        self.key_ids.get(public)
    }

    pub fn signer(&self, key_id: &KeyId) -> Option<&Signer> {
        self.signers.get(key_id)
    }

    /// Whether `org` may sign events of `event_type` (the genesis permission table).
    pub fn may_sign(&self, signer: &Signer, event_type: EventType) -> bool {
        self.genesis.may_sign(&signer.roles, event_type)
    }

    pub fn has_role(&self, org: &OrgId, role: Role) -> bool {
        self.genesis
            .organisation(org)
            .is_some_and(|o| o.roles.contains(&role))
    }

    /// Whether `org` owns the GS1 company prefix `gtin` falls under.
    pub fn owns_gtin(&self, org: &OrgId, gtin: &Gtin) -> bool {
        self.genesis.organisation(org).is_some_and(|o| {
            o.gs1_prefixes
                .iter()
                .any(|prefix: &Gs1CompanyPrefix| gtin.is_under_prefix(prefix))
        })
    }

    /// Verifies a validator's signature over `message` with `verify_strict`.
    pub fn verify_validator(
        &self,
        validator: ValidatorIndex,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let key = self
            .validator_keys
            .get(usize::from(validator.0))
            .ok_or(CryptoError::BadSignature)?;
        crypto::verify_strict(key, message, signature)
    }
}
