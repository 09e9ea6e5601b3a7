//! Reading and writing the files a network is made of: the genesis, key files and node
//! configurations. Every error names the file and what is wrong with it.
//!
//! Key files hold secrets: they are written with mode 0600 and refused when other users can
//! read them, as ssh does.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::crypto::{Keypair, PublicKey};
use crate::genesis::{Genesis, GenesisError};
use crate::ids::{ChainId, KeyId, NetworkAddress, OrgId};
use crate::json::{self, JsonError};
use crate::limits::FILE_BYTES_MAX;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{what} {path}: no such file")]
    Missing { what: &'static str, path: PathBuf },
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path}: {size} bytes, larger than the {max}-byte limit")]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        size: u64,
        max: usize,
    },
    #[error("{what} {path}: malformed {source}")]
    Malformed {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: JsonError,
    },
    #[error("{what} {path}: malformed: {reason}")]
    MalformedToml {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("genesis {path}: {source}")]
    InvalidGenesis {
        path: PathBuf,
        #[source]
        source: GenesisError,
    },
    #[error("{what} {path}: made for chain {found}, but the genesis is chain {expected}")]
    WrongChain {
        what: &'static str,
        path: PathBuf,
        expected: ChainId,
        found: ChainId,
    },
    #[error(
        "key file {path}: readable by other users (mode {mode:o}); run `chmod 600 {path}` if it is yours"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("key file {path}: its secret key does not match its public key {public_key}")]
    KeyMismatch {
        path: PathBuf,
        public_key: PublicKey,
    },
    #[error("key file {path}: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("{what} {path}: already exists; refusing to overwrite it")]
    AlreadyExists { what: &'static str, path: PathBuf },
}

/// Names a failed read: a missing file is said plainly, anything else with the OS's reason.
fn read_error<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> FileError + 'a {
    move |error| match error.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing {
            what,
            path: path.to_path_buf(),
        },
        _ => FileError::Io {
            what,
            path: path.to_path_buf(),
            reason: error.to_string(),
        },
    }
}

/// Reads a whole file of at most [`FILE_BYTES_MAX`] bytes.
pub fn read_bounded(what: &'static str, path: &Path) -> Result<Vec<u8>, FileError> {
    let io_error = read_error(what, path);
    let size = fs::metadata(path).map_err(&io_error)?.len();
    if size > FILE_BYTES_MAX as u64 {
        return Err(FileError::TooLarge {
            what,
            path: path.to_path_buf(),
            size,
            max: FILE_BYTES_MAX,
        });
    }
    fs::read(path).map_err(io_error)
}

/// Reads a JSON file as a `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    path: &Path,
) -> Result<T, FileError> {
    let bytes = read_bounded(what, path)?;
    json::parse(&bytes).map_err(|source| FileError::Malformed {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and validates a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis, FileError> {
    let genesis: Genesis = read_json("genesis", path)?;
    genesis
        .validate()
        .map_err(|source| FileError::InvalidGenesis {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(genesis)
}

/// Writes a file people read; refuses to replace an existing one.
pub fn write_new(what: &'static str, path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_new_with_mode(what, path, contents, 0o644)
}

/// Writes a secret (mode 0600); refuses to replace an existing file.
pub fn write_secret(what: &'static str, path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_new_with_mode(what, path, contents, 0o600)
}

fn write_new_with_mode(
    what: &'static str,
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<(), FileError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let io_error = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => FileError::AlreadyExists {
            what,
            path: path.to_path_buf(),
        },
        _ => FileError::Io {
            what,
            path: path.to_path_buf(),
            reason: error.to_string(),
        },
    };
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(contents).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// What a key is for, recorded in its file so an operator can tell files apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyPurpose {
    /// Signs events for an organisation.
    Events { key: KeyId },
    /// A validator's node key: signs votes and is its libp2p identity.
    Node { validator: OrgId },
    /// A validator's API key: the TLS key its clients pin from the genesis.
    Api { validator: OrgId },
}

/// The on-disk form of an ed25519 key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileContents {
    public_key: PublicKey,
    secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain_id: Option<ChainId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purpose: Option<KeyPurpose>,
}

impl Drop for KeyFileContents {
    fn drop(&mut self) {
        self.secret_key.zeroize();
    }
}

/// A key read from its file, checked for permissions and internal consistency.
#[derive(Debug)]
pub struct KeyFile {
    pub keypair: Keypair,
    /// The network it was made for, when made by the genesis ceremony.
    pub chain_id: Option<ChainId>,
    pub purpose: Option<KeyPurpose>,
}

impl KeyFile {
    /// Writes the key with mode 0600; refuses to replace an existing file.
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let contents = KeyFileContents {
            public_key: self.keypair.public_key(),
            secret_key: self.keypair.secret_hex().to_string(),
            chain_id: self.chain_id.clone(),
            purpose: self.purpose.clone(),
        };
        let mut text = json::to_pretty(&contents);
        let result = write_new_with_mode("key file", path, text.as_bytes(), 0o600);
        text.zeroize();
        result
    }

    /// Reads a key file. Refuses files other users can read, malformed files, and files whose
    /// secret does not give their public key. With `expected_chain`, refuses a key made for
    /// another network.
    pub fn read(path: &Path, expected_chain: Option<&ChainId>) -> Result<KeyFile, FileError> {
        check_private(path)?;
        let contents: KeyFileContents = read_json("key file", path)?;
        let keypair =
            Keypair::from_secret_hex(&contents.secret_key).map_err(|error| FileError::BadKey {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        if keypair.public_key() != contents.public_key {
            return Err(FileError::KeyMismatch {
                path: path.to_path_buf(),
                public_key: contents.public_key,
            });
        }
        if let (Some(expected), Some(found)) = (expected_chain, &contents.chain_id) {
            if expected != found {
                return Err(FileError::WrongChain {
                    what: "key file",
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        Ok(KeyFile {
            keypair,
            chain_id: contents.chain_id.clone(),
            purpose: contents.purpose.clone(),
        })
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = fs::metadata(path).map_err(read_error("key file", path))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FileError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), FileError> {
    Ok(())
}

/// A validator node's configuration file (TOML), as `waybill-genesis testnet` writes it.
/// Relative paths are relative to the directory of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub chain_id: ChainId,
    /// This node's name in the genesis validator list.
    pub validator: OrgId,
    pub genesis: PathBuf,
    pub node_key: PathBuf,
    pub data_dir: PathBuf,
    pub p2p_listen: NetworkAddress,
    pub api_listen: NetworkAddress,
    /// The API's TLS key file, whose public key the genesis gives this validator as `api_key`.
    /// Required unless `insecure_http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<PathBuf>,
    /// Serve the API as plain HTTP, without TLS or caller authentication: local debugging
    /// only (the node logs a warning). Clients then need `http://` URLs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_http: bool,
    /// Where `/metrics` is served, as plain HTTP for a Prometheus scraper on the same host or
    /// network; the node's default (`127.0.0.1:9464`, loopback only) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<NetworkAddress>,
    /// Free space on the data directory's file system below which the node refuses new events
    /// (HTTP 507) rather than meet a full disk in the middle of a block; the node's default
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_min_bytes: Option<u64>,
}

impl NodeConfig {
    /// Reads a configuration and resolves its paths against the file's directory.
    pub fn read(path: &Path) -> Result<NodeConfig, FileError> {
        let bytes = read_bounded("node configuration", path)?;
        let text = String::from_utf8(bytes).map_err(|_| FileError::MalformedToml {
            what: "node configuration",
            path: path.to_path_buf(),
            reason: "not UTF-8".into(),
        })?;
        let mut config: NodeConfig =
            toml::from_str(&text).map_err(|error| FileError::MalformedToml {
                what: "node configuration",
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for field in [
            &mut config.genesis,
            &mut config.node_key,
            &mut config.data_dir,
        ]
        .into_iter()
        .chain(config.api_key.as_mut())
        {
            if field.is_relative() {
                *field = base.join(&*field);
            }
        }
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a node configuration always serialises to TOML")
    }
}
