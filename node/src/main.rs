//! `waybill-node`: the validator. Today: `verify-chain`, which re-walks a ledger from genesis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use waybill_node::ledger::verify::verify_chain;
use waybill_node::ledger::{Ledger, LedgerError, LedgerOptions};
use waybill_protocol::files;
use waybill_protocol::rules::ChainRules;

#[derive(Parser)]
#[command(name = "waybill-node", version, about = "Waybill validator node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Re-walk a stopped node's ledger from genesis: every hash, root, certificate, signature and
    /// receipt. Exit 0 if whole, 1 at the first inconsistency, 2 if it cannot be read.
    VerifyChain {
        /// The node's data directory (`data_dir` in its config).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, env = "WAYBILL_GENESIS")]
        genesis: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::VerifyChain { data, genesis } => match run_verify_chain(&data, &genesis) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn run_verify_chain(data: &std::path::Path, genesis: &std::path::Path) -> anyhow::Result<bool> {
    if !data.join("CURRENT").exists() {
        anyhow::bail!(
            "{} holds no ledger (no RocksDB CURRENT file)",
            data.display()
        );
    }
    let genesis = files::read_genesis(genesis)?;
    let rules = ChainRules::new(genesis).context("genesis")?;
    let ledger = match Ledger::open(data, rules, LedgerOptions::default()) {
        Ok(ledger) => ledger,
        // Unreadable is not inconsistent: most often the node is still running (it holds the lock).
        Err(error @ LedgerError::Storage { .. }) => {
            anyhow::bail!("{error} (verify-chain needs the node stopped: is it still running?)")
        }
        Err(error) => {
            println!("FAILED: {error}");
            return Ok(false);
        }
    };
    let tip = ledger.tip().height;
    println!("verifying {} blocks in {}", tip, data.display());
    match verify_chain(&ledger, |_| {}) {
        Ok(report) => {
            println!(
                "OK: {} blocks, {} events ({} applied, {} rejected); every header, certificate, signature, \
                 events root, log root, index root, receipt and per-key list re-derived from genesis",
                report.blocks, report.events, report.applied, report.rejected
            );
            Ok(true)
        }
        Err(fault) => {
            println!("FAILED at {fault}");
            Ok(false)
        }
    }
}
