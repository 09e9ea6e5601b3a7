//! `waybill-node run`: opens the ledger and the WAL, starts the engine thread, the libp2p task
//! and the HTTP server, and stops them in order on SIGINT or SIGTERM: the API stops taking
//! events, the network task stops, the engine finishes its current input and syncs its WAL.
//! RocksDB commits each block in one synced batch, so any stop, clean or not, loses nothing
//! committed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use waybill_protocol::rules::ChainRules;

use crate::api::{self, ApiState};
use crate::consensus::wal_file::WalFileError;
use crate::engine::{Engine, EngineError, EngineInput};
use crate::ledger::{Ledger, LedgerError, LedgerOptions};
use crate::limits::{
    DISK_FREE_MIN_BYTES_DEFAULT, ENGINE_QUEUE_INPUTS_MAX, GOSSIP_QUEUE_BATCHES_MAX,
    METRICS_LISTEN_DEFAULT, NETWORK_QUEUE_MESSAGES_MAX, OPEN_FILES_WANTED,
};
use crate::mempool::{Mempool, MempoolLimits};
use crate::network::{self, NetworkChannels, NetworkError, NetworkSetup};
use crate::node::Shared;
use crate::private::PrivateStore;
use crate::setup::{NodeSetup, SetupError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("ledger at {path}: {source}")]
    Ledger {
        path: PathBuf,
        #[source]
        source: LedgerError,
    },
    #[error(transparent)]
    Wal(#[from] WalFileError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("HTTP API on {address}: {reason}")]
    Api { address: String, reason: String },
    #[error("metrics listener on {address}: {reason}")]
    Metrics { address: String, reason: String },
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
}

/// Where a node keeps its ledger inside its data directory.
pub fn ledger_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("ledger")
}

pub fn wal_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("consensus.wal")
}

/// Where a node entitled to declarations' particulars keeps them (absent at other nodes).
pub fn private_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("private")
}

/// TLS with the validator's API key, or, without one (`insecure_http`), plain HTTP with a
/// warning: nobody is authenticated then.
fn api_transport(
    api_key: Option<&waybill_protocol::Keypair>,
    validator: &waybill_protocol::genesis::Validator,
) -> Result<crate::http_server::Transport, waybill_protocol::tls::TlsError> {
    let Some(api_key) = api_key else {
        tracing::warn!(
            "insecure_http: the API is plain HTTP and checks no caller; every route is open to anyone who can reach the port. Local debugging only."
        );
        return Ok(crate::http_server::Transport::Plain);
    };
    // Names for tools that check them (curl without -k): the host of the genesis address, the
    // validator's name, localhost.
    let host = validator
        .api_address
        .as_str()
        .rsplit_once(':')
        .map_or(validator.api_address.as_str(), |(host, _)| host);
    let names = vec![
        host.trim_matches(['[', ']']).to_string(),
        validator.name.to_string(),
        "localhost".to_string(),
    ];
    let config = crate::caller::server_config(api_key, &names)?;
    Ok(crate::http_server::Transport::Tls(
        tokio_rustls::TlsAcceptor::from(config),
    ))
}

/// Runs the node until `stop` resolves or a component fails.
pub async fn run(
    setup: NodeSetup,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let NodeSetup {
        config,
        genesis,
        node_key,
        api_key,
        validator_index,
    } = setup;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| RunError::DataDir {
        path: config.data_dir.clone(),
        reason: e.to_string(),
    })?;
    match crate::host::raise_open_file_limit() {
        Ok(limit) if limit.now < OPEN_FILES_WANTED as u64 => tracing::warn!(
            before = limit.before,
            now = limit.now,
            wanted = OPEN_FILES_WANTED,
            "the open-file limit is below what the connection caps and RocksDB need; raise the hard limit (LimitNOFILE=)"
        ),
        Ok(limit) => tracing::debug!(before = limit.before, now = limit.now, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let rules = ChainRules::new(genesis.clone()).map_err(|e| RunError::Genesis(e.to_string()))?;
    let ledger_dir = ledger_path(&config.data_dir);
    let ledger =
        Ledger::open(&ledger_dir, rules.clone(), LedgerOptions::default()).map_err(|source| {
            RunError::Ledger {
                path: ledger_dir.clone(),
                source,
            }
        })?;
    tracing::info!(
        chain = %genesis.chain_id,
        validator = %genesis.validators[validator_index.0 as usize].name,
        height = ledger.tip().height,
        "ledger open"
    );
    let operator = genesis.validators[validator_index.0 as usize]
        .operator
        .clone();
    let mut shared = Shared::new(
        Arc::new(rules),
        validator_index,
        ledger,
        Mempool::new(MempoolLimits::for_validators(genesis.validators.len())),
    );
    if shared.rules.genesis().holds_particulars(&operator) {
        let path = private_path(&config.data_dir);
        let store = PrivateStore::open(&path, operator).map_err(|source| RunError::Ledger {
            path: path.clone(),
            source,
        })?;
        shared = shared.with_private(store);
    }
    let shared = Arc::new(shared);

    let (restored, forgotten) = crate::admission::restore_pending(
        &shared,
        MempoolLimits::default().events_max,
        crate::engine::now_ms(),
    )
    .map_err(|source| RunError::Ledger {
        path: ledger_dir.clone(),
        source,
    })?;
    if restored + forgotten > 0 {
        tracing::info!(restored, forgotten, "accepted events from before the stop");
    }

    let (to_engine, engine_inputs) =
        std::sync::mpsc::sync_channel::<EngineInput>(ENGINE_QUEUE_INPUTS_MAX);
    let (engine_outputs, from_engine) = mpsc::channel(NETWORK_QUEUE_MESSAGES_MAX);
    let (events_out, events_in) = mpsc::channel(GOSSIP_QUEUE_BATCHES_MAX);
    let (shutdown_tx, shutdown) = watch::channel(false);

    let engine = Engine::start(
        shared.clone(),
        node_key.clone(),
        &wal_path(&config.data_dir),
        engine_inputs,
        engine_outputs,
    )?;
    let engine_thread = std::thread::Builder::new()
        .name("waybill-engine".into())
        .spawn(move || engine.run())
        .map_err(|e| RunError::DataDir {
            path: config.data_dir.clone(),
            reason: format!("cannot start the engine thread: {e}"),
        })?;

    let network_setup = NetworkSetup::from_genesis(&shared, &node_key, &config.p2p_listen)?;
    let network = tokio::spawn(network::run(
        network_setup,
        shared.clone(),
        NetworkChannels {
            to_engine: to_engine.clone(),
            from_engine,
            events_out: events_in,
            shutdown: shutdown.clone(),
        },
    ));

    let api_address = config.api_listen.as_str().to_string();
    let listener = tokio::net::TcpListener::bind(&api_address)
        .await
        .map_err(|e| RunError::Api {
            address: api_address.clone(),
            reason: e.to_string(),
        })?;
    let validator = &genesis.validators[validator_index.0 as usize];
    let transport = api_transport(api_key.as_ref(), validator).map_err(|e| RunError::Api {
        address: api_address.clone(),
        reason: e.to_string(),
    })?;
    tracing::info!(address = %api_address, ?transport, "API up");
    let disk = crate::host::watch_disk(
        shared.clone(),
        config.data_dir.clone(),
        config
            .disk_free_min_bytes
            .unwrap_or(DISK_FREE_MIN_BYTES_DEFAULT),
        shutdown.clone(),
    )
    .map_err(|e| RunError::DataDir {
        path: config.data_dir.clone(),
        reason: format!("cannot measure free space: {e}"),
    })?;
    let app = api::router(ApiState::new(
        shared.clone(),
        events_out,
        shutdown.clone(),
        disk,
    ));
    let server = tokio::spawn(crate::http_server::serve(
        listener,
        transport,
        app,
        shutdown.clone(),
        shared.clone(),
    ));
    let metrics_address = config
        .metrics_listen
        .as_ref()
        .map_or(METRICS_LISTEN_DEFAULT, |a| a.as_str())
        .to_string();
    let metrics_listener = tokio::net::TcpListener::bind(&metrics_address)
        .await
        .map_err(|e| RunError::Metrics {
            address: metrics_address.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(address = %metrics_address, "metrics up");
    let metrics_server = tokio::spawn(crate::http_server::serve(
        metrics_listener,
        crate::http_server::Transport::Plain,
        api::metrics_router(shared.clone()),
        shutdown.clone(),
        shared.clone(),
    ));

    let steward = crate::private::spawn_steward(shared.clone(), shutdown.clone()).map_err(|e| {
        RunError::DataDir {
            path: config.data_dir.clone(),
            reason: format!("cannot start the private-store thread: {e}"),
        }
    })?;

    // Runs until asked to stop, or until a component ends on its own (which is a failure).
    let engine_done = tokio::task::spawn_blocking(move || engine_thread.join());
    tokio::pin!(engine_done);
    let mut failure: Option<RunError> = None;
    tokio::select! {
        _ = stop => tracing::info!("stopping"),
        joined = &mut engine_done => {
            failure = Some(match joined {
                Ok(Ok(Ok(()))) => RunError::Engine(EngineError::Ledger(LedgerError::Inconsistent { detail: "the engine stopped".into() })),
                Ok(Ok(Err(error))) => RunError::Engine(error),
                _ => RunError::Engine(EngineError::Ledger(LedgerError::Inconsistent { detail: "the engine thread panicked".into() })),
            });
        }
    }
    let _ = shutdown_tx.send(true);
    // Graceful, but bounded: a client that keeps a connection open cannot hold the node up.
    if tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after 10 s; closing them");
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), metrics_server).await;
    match network.await {
        Ok(Err(error)) => tracing::warn!(%error, "network task ended with an error"),
        Err(error) => tracing::warn!(%error, "network task panicked"),
        Ok(Ok(())) => {}
    }
    // The network task held the other sender; this was the last, so the engine's queue closes.
    drop(to_engine);
    if failure.is_none() {
        match engine_done.await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => failure = Some(RunError::Engine(error)),
            _ => tracing::error!("the engine thread panicked"),
        }
    }
    let _ = tokio::task::spawn_blocking(move || steward.join()).await;
    if let Err(error) = shared.read_ledger().flush() {
        tracing::warn!(%error, "flushing the ledger at shutdown");
    }
    match failure {
        Some(error) => Err(error),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}
