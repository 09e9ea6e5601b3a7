//! A complete local network in one directory: keys for every organisation, `genesis.json`, one
//! configuration per validator on loopback, and an `env` file for the CLI.
//!
//! ```text
//! DIR/genesis.json
//! DIR/env                          export WAYBILL_GENESIS, WAYBILL_NODE, WAYBILL_KEY_<ORG>
//! DIR/keys/<org>.key               event signing keys (mode 0600)
//! DIR/nodes/<validator>/node.key   node keys (mode 0600)
//! DIR/nodes/<validator>/config.toml
//! DIR/nodes/<validator>/data/      created by the node on first start
//! ```

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use waybill_protocol::crypto::CryptoError;
use waybill_protocol::files::{self, FileError, KeyFile, KeyPurpose, NodeConfig};
use waybill_protocol::genesis::*;
use waybill_protocol::ids::*;
use waybill_protocol::{Keypair, json};

/// What to build.
#[derive(Debug, Clone)]
pub struct TestnetPlan {
    pub chain_id: ChainId,
    pub validators: usize,
    /// Validator i listens on `base_port + 2i` (p2p) and `+ 1` (API), and serves metrics on
    /// `base_port + 2n + i` (n validators); `None` picks free ports.
    pub base_port: Option<u16>,
    pub genesis_time_ms: u64,
    /// Event signing keys per organisation (at least 1): key 0 is `keys/<org>.key`, key i is
    /// `keys/<org>-<i>.key`. Several keys let one organisation sign from several systems (a
    /// carrier's depots, the benchmark's submitters), each with its own nonces.
    pub keys_per_organisation: usize,
    /// The genesis `particulars_grants` (none by default: customs and the declarer only).
    pub particulars_grants: Vec<ParticularsGrant>,
    /// The genesis `consensus.block_events_max`; `None` keeps the default.
    pub block_events_max: Option<u32>,
    pub out: PathBuf,
}

/// The grant of `--grant-last-mile-delivery`: a carrier holding custody of a released
/// shipment reads where it goes and to whom, never its values.
pub fn last_mile_delivery_grant() -> Vec<ParticularsGrant> {
    vec![ParticularsGrant {
        role: Role::Carrier,
        parts: vec![waybill_protocol::particulars::ParticularsPart::Delivery],
        when: GrantCondition::LastMile,
    }]
}

/// What was built, for the caller to print.
#[derive(Debug)]
pub struct Testnet {
    pub dir: PathBuf,
    pub genesis: Genesis,
    pub genesis_path: PathBuf,
    pub config_paths: Vec<PathBuf>,
    pub env_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    #[error("--validators must be between 1 and {max}, not {count}")]
    ValidatorCount { count: usize, max: usize },
    #[error("--keys-per-organisation must be between 1 and {max}, not {count}")]
    KeyCount { count: usize, max: usize },
    #[error("--base-port {base}: the last validator would need port {last}, above 65535")]
    PortRange { base: u16, last: u32 },
    #[error("output directory {0} exists and is not empty; choose another or remove it")]
    OutputNotEmpty(PathBuf),
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("could not reserve a free loopback port: {0}")]
    NoFreePort(String),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Key(#[from] CryptoError),
    #[error(transparent)]
    Tls(#[from] waybill_protocol::tls::TlsError),
    #[error("the generated genesis is invalid (a bug in this tool): {0}")]
    Genesis(#[from] GenesisError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TestnetError + 'a {
    move |error| TestnetError::Io {
        what,
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// Makes the whole testnet directory. Refuses a non-empty output directory.
pub fn create(plan: &TestnetPlan) -> Result<Testnet, TestnetError> {
    let max = waybill_protocol::limits::VALIDATORS_MAX;
    if plan.validators == 0 || plan.validators > max {
        return Err(TestnetError::ValidatorCount {
            count: plan.validators,
            max,
        });
    }
    let max_keys = waybill_protocol::limits::KEYS_PER_ORGANISATION_MAX;
    if plan.keys_per_organisation == 0 || plan.keys_per_organisation > max_keys {
        return Err(TestnetError::KeyCount {
            count: plan.keys_per_organisation,
            max: max_keys,
        });
    }
    let ports = allocate_ports(plan.base_port, plan.validators)?;
    prepare_output(&plan.out)?;
    let dir = fs::canonicalize(&plan.out).map_err(io("output directory", &plan.out))?;
    let keys_dir = dir.join("keys");
    fs::create_dir(&keys_dir).map_err(io("directory", &keys_dir))?;

    let mut organisations = Vec::new();
    let mut key_paths = Vec::new();
    for (id, name, country, role) in TESTNET_ORGANISATIONS {
        let org = OrgId::new(id).expect("default organisation ids are valid");
        let mut signing_keys = Vec::new();
        for index in 0..plan.keys_per_organisation {
            let keypair = Keypair::generate()?;
            let file = match index {
                0 => format!("{id}.key"),
                _ => format!("{id}-{index}.key"),
            };
            let path = keys_dir.join(file);
            KeyFile {
                keypair: keypair.clone(),
                chain_id: Some(plan.chain_id.clone()),
                purpose: Some(KeyPurpose::Events {
                    key: KeyId {
                        org: org.clone(),
                        index: index as u16,
                    },
                }),
            }
            .write(&path)?;
            if index == 0 {
                // For curl: the key as a client certificate and PKCS#8 key.
                let (certificate, key) =
                    waybill_protocol::tls::self_signed_pem(&keypair, &[id.to_string()])?;
                let pem = |extension: &str| path.with_extension(extension);
                files::write_new("client certificate", &pem("crt"), certificate.as_bytes())?;
                files::write_secret("client private key", &pem("pem"), key.as_bytes())?;
                key_paths.push((id, path));
            }
            signing_keys.push(keypair.public_key());
        }
        organisations.push(Organisation {
            id: org,
            name: PartyName::new(name).expect("default names are valid"),
            country: CountryCode::new(country).expect("default countries are valid"),
            roles: vec![role],
            signing_keys,
            gs1_prefixes: if role == Role::Brand {
                vec![
                    Gs1CompanyPrefix::new(TESTNET_BRAND_GS1_PREFIX)
                        .expect("default prefix is valid"),
                ]
            } else {
                Vec::new()
            },
        });
    }

    let mut validators = Vec::new();
    let mut node_dirs = Vec::new();
    for (index, (p2p_port, api_port, _)) in ports.iter().enumerate() {
        let operator = TESTNET_ORGANISATIONS[index % TESTNET_VALIDATOR_OPERATORS].0;
        let name = OrgId::new(format!("{operator}-{index}")).expect("validator names are valid");
        let node_dir = dir.join("nodes").join(name.as_str());
        fs::create_dir_all(&node_dir).map_err(io("directory", &node_dir))?;
        let new_key = |purpose: KeyPurpose, file: &str| -> Result<Keypair, TestnetError> {
            let keypair = Keypair::generate()?;
            KeyFile {
                keypair: keypair.clone(),
                chain_id: Some(plan.chain_id.clone()),
                purpose: Some(purpose),
            }
            .write(&node_dir.join(file))?;
            Ok(keypair)
        };
        let validator = name.clone();
        let keypair = new_key(KeyPurpose::Node { validator }, "node.key")?;
        let validator = name.clone();
        let api_keypair = new_key(KeyPurpose::Api { validator }, "api.key")?;
        // curl's --pinnedpubkey for this API: the genesis key, not a CA, is what a client checks.
        let pin = waybill_protocol::tls::curl_pin(&api_keypair.public_key());
        files::write_new("API key pin", &node_dir.join("api.pin"), pin.as_bytes())?;
        validators.push(Validator {
            name,
            operator: OrgId::new(operator).expect("default organisation ids are valid"),
            node_key: keypair.public_key(),
            p2p_address: NetworkAddress::new(format!("/ip4/127.0.0.1/tcp/{p2p_port}"))
                .expect("loopback multiaddrs are valid"),
            api_address: NetworkAddress::new(format!("127.0.0.1:{api_port}"))
                .expect("loopback addresses are valid"),
            api_key: api_keypair.public_key(),
        });
        node_dirs.push(node_dir);
    }

    let genesis = Genesis {
        chain_id: plan.chain_id.clone(),
        genesis_time_ms: plan.genesis_time_ms,
        organisations,
        validators,
        consensus: ConsensusParameters {
            block_events_max: plan
                .block_events_max
                .unwrap_or(ConsensusParameters::default().block_events_max),
            ..ConsensusParameters::default()
        },
        permissions: default_permissions(),
        read_policy: default_read_policy(),
        particulars_retention_days: None,
        particulars_grants: plan.particulars_grants.clone(),
        rules: waybill_protocol::rules_version::default_schedule(),
    };
    genesis.validate()?;
    let genesis_path = dir.join("genesis.json");
    files::write_new(
        "genesis",
        &genesis_path,
        json::to_pretty(&genesis).as_bytes(),
    )?;

    const TESTNET_DISK_FREE_MIN_BYTES: u64 = 64 * 1024 * 1024;
    let mut config_paths = Vec::new();
    for ((validator, node_dir), (_, _, metrics_port)) in
        genesis.validators.iter().zip(&node_dirs).zip(&ports)
    {
        let config = NodeConfig {
            chain_id: genesis.chain_id.clone(),
            validator: validator.name.clone(),
            genesis: PathBuf::from("../../genesis.json"),
            node_key: PathBuf::from("node.key"),
            data_dir: PathBuf::from("data"),
            p2p_listen: validator.p2p_address.clone(),
            api_listen: validator.api_address.clone(),
            api_key: Some(PathBuf::from("api.key")),
            insecure_http: false,
            metrics_listen: Some(
                NetworkAddress::new(format!("127.0.0.1:{metrics_port}"))
                    .expect("loopback addresses are valid"),
            ),
            // A local testnet's blocks are small; a developer's nearly full disk still runs it.
            disk_free_min_bytes: Some(TESTNET_DISK_FREE_MIN_BYTES),
        };
        let path = node_dir.join("config.toml");
        files::write_new("node configuration", &path, config.to_toml().as_bytes())?;
        config_paths.push(path);
    }

    let env_path = dir.join("env");
    let env = env_file(&genesis, &genesis_path, &key_paths);
    files::write_new("env file", &env_path, env.as_bytes())?;
    Ok(Testnet {
        dir,
        genesis,
        genesis_path,
        config_paths,
        env_path,
    })
}

fn prepare_output(out: &Path) -> Result<(), TestnetError> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(TestnetError::OutputNotEmpty(out.to_path_buf()));
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(io("output directory", out))
        }
        Err(error) => Err(io("output directory", out)(error)),
    }
}

/// (p2p, api, metrics) ports per validator. From a base: p2p and API pairs first, then the
/// metrics ports. Otherwise free ports, see [`FreePorts`].
fn allocate_ports(base: Option<u16>, count: usize) -> Result<Vec<(u16, u16, u16)>, TestnetError> {
    if let Some(base) = base {
        let last = u32::from(base) + 3 * count as u32 - 1;
        if last > u32::from(u16::MAX) {
            return Err(TestnetError::PortRange { base, last });
        }
        let metrics = base + 2 * count as u16;
        return Ok((0..count as u16)
            .map(|i| (base + 2 * i, base + 2 * i + 1, metrics + i))
            .collect());
    }
    let ports = FreePorts::take(3 * count)?;
    Ok(ports
        .chunks(3)
        .map(|ports| (ports[0], ports[1], ports[2]))
        .collect())
}

/// `count` free loopback ports for servers that a test starts later (a node, a browser's
/// driver), never handed out twice in one process; see [`FreePorts`].
pub fn free_loopback_ports(count: usize) -> Result<Vec<u16>, TestnetError> {
    FreePorts::take(count)
}

/// Free loopback ports for nodes that start later, perhaps seconds later, and restart on the
/// same ports. A port the kernel picked for a port-0 bind is in its ephemeral range, where any
/// outgoing connection or other port-0 bind may take it once released (a test that started 4
/// nodes one after another lost a metrics port that way). So ports come from below that range,
/// where the kernel never picks: a cursor shared by the whole process walks the band, so two
/// testnets of one process never get the same port, it starts at an offset drawn from the
/// process id, so concurrent processes start apart, and each port is checked free by binding it.
struct FreePorts;

/// The band's low end: above the ports services usually register.
const FREE_PORTS_LOW: u16 = 20_000;
/// Linux's default ephemeral range starts here; used when the kernel's own is unreadable.
const EPHEMERAL_LOW_DEFAULT: u16 = 32_768;
const _: () = assert!(FREE_PORTS_LOW < EPHEMERAL_LOW_DEFAULT);

static FREE_PORTS_CURSOR: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);

impl FreePorts {
    fn take(count: usize) -> Result<Vec<u16>, TestnetError> {
        let high = Self::ephemeral_low();
        let band = high - FREE_PORTS_LOW;
        let mut cursor = FREE_PORTS_CURSOR
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = cursor.unwrap_or_else(|| {
            // Spread processes apart by their id; it need not be random, only different.
            FREE_PORTS_LOW
                + (std::process::id().wrapping_mul(2_654_435_761) % u32::from(band)) as u16
        });
        let mut listeners = Vec::with_capacity(count);
        for _ in 0..band {
            if listeners.len() == count {
                break;
            }
            let port = next;
            next = if next + 1 >= high {
                FREE_PORTS_LOW
            } else {
                next + 1
            };
            // Held until all are chosen, so one call never returns a port twice.
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                listeners.push((port, listener));
            }
        }
        *cursor = Some(next);
        if listeners.len() < count {
            return Err(TestnetError::NoFreePort(format!(
                "only {} of {count} ports free in {FREE_PORTS_LOW}..{high}",
                listeners.len()
            )));
        }
        Ok(listeners.into_iter().map(|(port, _)| port).collect())
    }

    /// The low end of the kernel's ephemeral port range, or Linux's default.
    fn ephemeral_low() -> u16 {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
            .filter(|low| *low > FREE_PORTS_LOW + 1_000)
            .unwrap_or(EPHEMERAL_LOW_DEFAULT)
    }
}

/// `export` lines for the CLI: the genesis, the first node's API, one key per organisation.
fn env_file(genesis: &Genesis, genesis_path: &Path, key_paths: &[(&str, PathBuf)]) -> String {
    let mut env = String::from("# Source this file: . ./env\n");
    let _ = writeln!(env, "export WAYBILL_GENESIS={}", shell_quote(genesis_path));
    let _ = writeln!(
        env,
        "export WAYBILL_NODE=https://{}",
        genesis.validators[0].api_address
    );
    for (org, path) in key_paths {
        let variable = org.to_ascii_uppercase().replace('-', "_");
        let _ = writeln!(env, "export WAYBILL_KEY_{variable}={}", shell_quote(path));
    }
    env
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() {
        let first = FreePorts::take(12).expect("ports");
        let second = FreePorts::take(12).expect("ports");
        let mut all: Vec<u16> = first.iter().chain(&second).copied().collect();
        let high = FreePorts::ephemeral_low();
        assert!(
            all.iter().all(|p| (FREE_PORTS_LOW..high).contains(p)),
            "{all:?}"
        );
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 24, "a port was handed out twice");
    }
}
