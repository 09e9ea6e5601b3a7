//! `waybill-node`: the validator. `run` runs it; `verify-chain` re-walks a stopped node's ledger
//! from genesis.

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
    /// Run a validator from its configuration file (as `waybill-genesis testnet` writes them).
    /// Logs go to standard error; RUST_LOG sets the level (default info). Stops cleanly on
    /// SIGINT or SIGTERM.
    Run {
        #[arg(long, env = "WAYBILL_CONFIG")]
        config: PathBuf,
    },
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
        Command::Run { config } => match run_node(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("{error:#}");
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        },
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

fn run_node(config: &std::path::Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let setup = waybill_node::setup::load(config)
        .with_context(|| format!("configuration {}", config.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("waybill-io")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(waybill_node::run::run(setup, stop_signal()))?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn run_verify_chain(data: &std::path::Path, genesis: &std::path::Path) -> anyhow::Result<bool> {
    // A node's data directory keeps the ledger in `ledger/`; a bare ledger directory works too.
    let nested = waybill_node::run::ledger_path(data);
    let data = if nested.join("CURRENT").exists() {
        nested.as_path()
    } else {
        data
    };
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
            let by_rules: Vec<String> = report
                .blocks_by_rules
                .iter()
                .map(|(version, blocks)| format!("rules {version}: {blocks} blocks"))
                .collect();
            println!("executed under {}", by_rules.join("; "));
            Ok(true)
        }
        Err(fault) => {
            println!("FAILED at {fault}");
            Ok(false)
        }
    }
}
