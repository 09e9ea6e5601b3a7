//! Event signing keys on disk, resolved against the genesis: which organisation a key signs for,
//! with which index, and in which roles.

use std::path::{Path, PathBuf};

use waybill_protocol::files::{FileError, KeyFile};
use waybill_protocol::genesis::Role;
use waybill_protocol::ids::KeyId;
use waybill_protocol::{ChainId, Genesis, Keypair};

/// A key that the genesis lists as an organisation's event signing key.
#[derive(Debug)]
pub struct SigningIdentity {
    pub keypair: Keypair,
    pub key_id: KeyId,
    pub roles: Vec<Role>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "key file {path}: public key {public_key} is not an event signing key of any organisation in genesis chain {chain_id}"
    )]
    NotInGenesis {
        path: PathBuf,
        public_key: String,
        chain_id: ChainId,
    },
}

/// Reads the key at `path` (refusing files other users can read, or made for another chain) and
/// finds which organisation's key it is in `genesis`.
pub fn load_identity(path: &Path, genesis: &Genesis) -> Result<SigningIdentity, KeystoreError> {
    let file = KeyFile::read(path, Some(&genesis.chain_id))?;
    let public_key = file.keypair.public_key();
    for org in &genesis.organisations {
        if let Some(index) = org.signing_keys.iter().position(|k| *k == public_key) {
            return Ok(SigningIdentity {
                keypair: file.keypair,
                key_id: KeyId {
                    org: org.id.clone(),
                    index: index as u16,
                },
                roles: org.roles.clone(),
            });
        }
    }
    Err(KeystoreError::NotInGenesis {
        path: path.to_path_buf(),
        public_key: public_key.to_hex(),
        chain_id: genesis.chain_id.clone(),
    })
}
