//! `waybill`: the command line for carriers, customs and brands. Exit codes: 0 success, 1 a
//! verification failed, 2 a usage, file or network error (with what to do about it).
//!
//! This first slice: `keygen`, `status`, `provenance` (fetch, verify against the local genesis,
//! print the custody timeline) and `verify` (a saved bundle, offline).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use waybill_client::node::NodeClient;
use waybill_client::timeline::{VerifiedHistory, verified_history};
use waybill_protocol::event::Sgtin;
use waybill_protocol::files::{self, KeyFile};
use waybill_protocol::provenance::ProvenanceProof;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Gtin, Keypair, Serial, ShipmentId};

#[derive(Parser)]
#[command(
    name = "waybill",
    version,
    about = "Waybill: sign shipment events, read verified provenance"
)]
struct Cli {
    /// The node's API URL.
    #[arg(
        long,
        global = true,
        env = "WAYBILL_NODE",
        default_value = "http://127.0.0.1:7001"
    )]
    node: String,
    /// The network's genesis file: what every proof is checked against.
    #[arg(long, global = true, env = "WAYBILL_GENESIS")]
    genesis: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new ed25519 signing key (mode 0600; never overwrites).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// The node's height, peers and mempool.
    Status,
    /// Fetch a shipment's (or, with --serial, an item's) provenance, verify it against the
    /// genesis, and print the custody timeline.
    Provenance {
        /// The shipment id.
        #[arg(required_unless_present = "serial")]
        shipment: Option<String>,
        /// An item instead: its GTIN and serial.
        #[arg(long, num_args = 2, value_names = ["GTIN", "SERIAL"], conflicts_with = "shipment")]
        serial: Option<Vec<String>>,
        /// Also save the proof bundle (to verify later with `waybill verify`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a saved proof bundle against the genesis, offline.
    Verify { bundle: PathBuf },
}

/// What went wrong, and which exit code it earns.
enum Failure {
    /// Exit 1: a proof did not verify.
    Verification(String),
    /// Exit 2: usage, files, network.
    Usage(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Usage(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Verification(message)) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"verified": false, "error": message})
                );
            } else {
                println!("NOT VERIFIED: {message}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn rules(cli: &Cli) -> Result<ChainRules, Failure> {
    let path = cli.genesis.as_ref().ok_or_else(|| {
        Failure::Usage("no genesis file: pass --genesis FILE or set WAYBILL_GENESIS".into())
    })?;
    let genesis = files::read_genesis(path)?;
    Ok(ChainRules::new(genesis)?)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Keygen { out } => keygen(cli, out),
        Command::Status => {
            let status = NodeClient::new(&cli.node).status()?;
            if cli.json {
                println!("{status}");
            } else {
                let peers = status["peers"].as_array().map_or(0, Vec::len);
                println!(
                    "{} at {}: height {}, {} peers, {} events pending{}",
                    status["validator"]["name"].as_str().unwrap_or("?"),
                    cli.node,
                    status["height"],
                    peers,
                    status["mempool"]["events"],
                    if status["syncing"] == true {
                        ", syncing"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Command::Provenance {
            shipment,
            serial,
            out,
        } => {
            let rules = rules(cli)?;
            let client = NodeClient::new(&cli.node);
            let proof = match (shipment, serial) {
                (Some(id), _) => client.shipment_provenance(&ShipmentId::new(id.as_str())?)?,
                (None, Some(parts)) => {
                    let [gtin, serial] = parts.as_slice() else {
                        return Err(Failure::Usage("--serial takes GTIN and SERIAL".into()));
                    };
                    client.serial_provenance(&Sgtin {
                        gtin: Gtin::new(gtin.as_str())?,
                        serial: Serial::new(serial.as_str())?,
                    })?
                }
                (None, None) => return Err(Failure::Usage("name a shipment or --serial".into())),
            };
            if let Some(out) = out {
                let text = waybill_protocol::json::to_pretty(&proof);
                std::fs::write(out, text)
                    .map_err(|e| Failure::Usage(format!("writing {}: {e}", out.display())))?;
            }
            report(cli, &proof, &rules)
        }
        Command::Verify { bundle } => {
            let rules = rules(cli)?;
            let bytes = files::read_bounded("proof bundle", bundle)?;
            let proof: ProvenanceProof = waybill_protocol::json::parse(&bytes).map_err(|e| {
                Failure::Verification(format!("{} is not a proof bundle: {e}", bundle.display()))
            })?;
            report(cli, &proof, &rules)
        }
    }
}

fn keygen(cli: &Cli, out: &Path) -> Result<(), Failure> {
    let keypair = Keypair::generate()?;
    let file = KeyFile {
        keypair,
        chain_id: None,
        // Its organisation and index are the genesis ceremony's to assign.
        purpose: None,
    };
    file.write(out)?;
    let public = file.keypair.public_key().to_hex();
    if cli.json {
        println!("{}", serde_json::json!({"path": out, "public_key": public}));
    } else {
        println!("wrote {} (mode 0600)\npublic key {public}", out.display());
        println!("give the public key to the genesis ceremony; keep the file to yourself");
    }
    Ok(())
}

/// Verifies and prints; a failed verification is exit 1 with the precise reason.
fn report(cli: &Cli, proof: &ProvenanceProof, rules: &ChainRules) -> Result<(), Failure> {
    let history =
        verified_history(proof, rules).map_err(|e| Failure::Verification(e.to_string()))?;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"verified": true, "history": history})
        );
    } else {
        print_history(&history);
    }
    Ok(())
}

fn print_history(history: &VerifiedHistory) {
    let key = match &history.key {
        waybill_protocol::index::IndexKey::Shipment(id) => format!("shipment {id}"),
        waybill_protocol::index::IndexKey::Serial(s) => format!("item {} / {}", s.gtin, s.serial),
    };
    println!(
        "VERIFIED {key} as of block {} ({}), against the genesis",
        history.height, history.block_hash
    );
    if !history.recorded {
        println!("never recorded: the proof shows no event for it");
        return;
    }
    for entry in &history.entries {
        println!(
            "  {}  block {:>6}  {:<10} {:<14} {}{}",
            utc(entry.event_time_ms),
            entry.height,
            entry.signer.as_str(),
            entry.event_type.name(),
            entry.detail,
            entry
                .location
                .as_ref()
                .map_or(String::new(), |l| format!(" @ {l}"))
        );
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` from Unix milliseconds (civil-from-days, proleptic Gregorian).
fn utc(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(1_767_225_600_000), "2026-01-01 00:00:00Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
