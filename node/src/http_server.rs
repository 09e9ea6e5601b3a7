//! The API's accept loop: at most `API_CONNECTIONS_MAX` connections (one more is accepted and
//! closed at once), headers within `API_HEADER_READ_TIMEOUT` (which also closes idle keep-alive
//! and silent connections), a bounded header size, and a graceful stop. A failure to accept a
//! connection (out of descriptors, say) is counted and waited out; it never ends the node.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::limits::{API_CONNECTIONS_MAX, API_HEADER_BYTES_MAX, API_HEADER_READ_TIMEOUT};
use crate::node::Shared;

/// How long the loop pauses after a failed accept before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` turns true, then waits for open requests to
/// finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    shared: Arc<Shared>,
) {
    let slots = Arc::new(Semaphore::new(API_CONNECTIONS_MAX));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(API_HEADER_READ_TIMEOUT)
        .max_header_size(API_HEADER_BYTES_MAX);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                shared
                    .metrics
                    .api_accept_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "accepting an API connection failed; retrying");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closing at once keeps descriptors bounded; the client sees a reset and retries.
            shared
                .metrics
                .api_connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        let open = shared.clone();
        open.metrics
            .api_connections_open
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "API connection ended with an error");
            }
            open.metrics
                .api_connections_open
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
