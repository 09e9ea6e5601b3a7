//! `waybill-genesis`: the ceremony tool. Makes local testnets, validates and shows genesis files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use waybill_genesis::{summary, testnet};
use waybill_protocol::ChainId;
use waybill_protocol::files::{self, FileError};

#[derive(Parser)]
#[command(
    name = "waybill-genesis",
    version,
    about = "Waybill genesis ceremony tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a complete local network: keys, genesis.json, node configurations and an env file.
    Testnet {
        /// How many validators (run in turn by customs, platform, carrier-a, carrier-b).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// The directory to create (must be absent or empty).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "waybill-testnet")]
        chain_id: ChainId,
        /// Validator i uses ports BASE+2i (p2p) and BASE+2i+1 (API); default: free ports.
        #[arg(long)]
        base_port: Option<u16>,
        /// Event signing keys per organisation: keys/<org>.key, then keys/<org>-1.key, …
        #[arg(long, default_value_t = 1)]
        keys_per_organisation: usize,
        /// Grant carriers the delivery address of the shipments they hold once customs
        /// released them (the last mile); by default only customs and the declaring platform
        /// read a declaration's particulars.
        #[arg(long)]
        grant_last_mile_delivery: bool,
        /// Events a block may hold at most (`consensus.block_events_max`; default 5,000).
        #[arg(long)]
        block_events_max: Option<u32>,
    },
    /// Check a genesis file; exit 0 if valid, 1 if it is refused (with the reason), 2 if unreadable.
    Validate { file: PathBuf },
    /// Describe a genesis file: organisations, roles, validators, parameters and hash.
    Show { file: PathBuf },
}

/// Exit 1 for a genesis that was read and refused, 2 for one that could not be read.
fn exit_code(error: &FileError) -> ExitCode {
    match error {
        FileError::Malformed { .. } | FileError::InvalidGenesis { .. } => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Testnet {
            validators,
            out,
            chain_id,
            base_port,
            keys_per_organisation,
            grant_last_mile_delivery,
            block_events_max,
        } => {
            let genesis_time_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default();
            let plan = testnet::TestnetPlan {
                chain_id,
                validators,
                base_port,
                genesis_time_ms,
                keys_per_organisation,
                particulars_grants: if grant_last_mile_delivery {
                    testnet::last_mile_delivery_grant()
                } else {
                    Vec::new()
                },
                block_events_max,
                out,
            };
            match testnet::create(&plan) {
                Ok(net) => {
                    println!(
                        "testnet {} with {} validators in {}",
                        net.genesis.chain_id,
                        net.genesis.validators.len(),
                        net.dir.display()
                    );
                    println!("  genesis  {}", net.genesis_path.display());
                    println!("  hash     {}", net.genesis.hash());
                    for path in &net.config_paths {
                        println!("  node     {}", path.display());
                    }
                    println!("  env      . {}", net.env_path.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Validate { file } => match files::read_genesis(&file) {
            Ok(genesis) => {
                println!(
                    "genesis {} is valid: chain {}, {} organisations, {} validators, hash {}",
                    file.display(),
                    genesis.chain_id,
                    genesis.organisations.len(),
                    genesis.validators.len(),
                    genesis.hash()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                exit_code(&error)
            }
        },
        Command::Show { file } => match files::read_genesis(&file) {
            Ok(genesis) => {
                print!("{}", summary::describe(&genesis));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                exit_code(&error)
            }
        },
    }
}
