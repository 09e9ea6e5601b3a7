//! Everything a validator needs before it starts, read from its configuration file and checked
//! against each other: the genesis, the node key, and which validator this node is.

use std::path::{Path, PathBuf};

use waybill_protocol::files::{self, FileError, KeyFile, NodeConfig};
use waybill_protocol::{Genesis, Keypair, ValidatorIndex};

/// A node's checked starting material.
#[derive(Debug)]
pub struct NodeSetup {
    pub config: NodeConfig,
    pub genesis: Genesis,
    pub node_key: Keypair,
    /// The API's TLS key; `None` only with `insecure_http`.
    pub api_key: Option<Keypair>,
    pub validator_index: ValidatorIndex,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "configuration {config}: chain_id is {configured}, but genesis {genesis} is chain {actual}"
    )]
    ChainMismatch {
        config: PathBuf,
        configured: String,
        genesis: PathBuf,
        actual: String,
    },
    #[error("configuration {config}: validator {name} is not in the genesis validator list")]
    UnknownValidator { config: PathBuf, name: String },
    #[error(
        "node key {key_path} has public key {found}, but the genesis gives validator {name} the node key {expected}"
    )]
    WrongNodeKey {
        key_path: PathBuf,
        name: String,
        found: String,
        expected: String,
    },
    #[error(
        "API key {key_path} has public key {found}, but the genesis gives validator {name} the api_key {expected}"
    )]
    WrongApiKey {
        key_path: PathBuf,
        name: String,
        found: String,
        expected: String,
    },
    #[error(
        "configuration {config}: no api_key file for the API's TLS (set api_key, or insecure_http = true for local debugging only)"
    )]
    NoApiKey { config: PathBuf },
}

/// Reads `config_path`, then the genesis and node key it names, and checks they agree.
pub fn load(config_path: &Path) -> Result<NodeSetup, SetupError> {
    let config = NodeConfig::read(config_path)?;
    let genesis = files::read_genesis(&config.genesis)?;
    if genesis.chain_id != config.chain_id {
        return Err(SetupError::ChainMismatch {
            config: config_path.to_path_buf(),
            configured: config.chain_id.to_string(),
            genesis: config.genesis.clone(),
            actual: genesis.chain_id.to_string(),
        });
    }
    let (index, validator) = genesis
        .validators
        .iter()
        .enumerate()
        .find(|(_, v)| v.name == config.validator)
        .ok_or_else(|| SetupError::UnknownValidator {
            config: config_path.to_path_buf(),
            name: config.validator.to_string(),
        })?;
    let key = KeyFile::read(&config.node_key, Some(&genesis.chain_id))?;
    if key.keypair.public_key() != validator.node_key {
        return Err(SetupError::WrongNodeKey {
            key_path: config.node_key.clone(),
            name: validator.name.to_string(),
            found: key.keypair.public_key().to_hex(),
            expected: validator.node_key.to_hex(),
        });
    }
    let api_key = match (&config.api_key, config.insecure_http) {
        (_, true) => None,
        (None, false) => {
            return Err(SetupError::NoApiKey {
                config: config_path.to_path_buf(),
            });
        }
        (Some(path), false) => {
            let file = KeyFile::read(path, Some(&genesis.chain_id))?;
            if file.keypair.public_key() != validator.api_key {
                return Err(SetupError::WrongApiKey {
                    key_path: path.clone(),
                    name: validator.name.to_string(),
                    found: file.keypair.public_key().to_hex(),
                    expected: validator.api_key.to_hex(),
                });
            }
            Some(file.keypair)
        }
    };
    let validator_index = ValidatorIndex(index as u16);
    Ok(NodeSetup {
        config,
        genesis,
        node_key: key.keypair,
        api_key,
        validator_index,
    })
}
