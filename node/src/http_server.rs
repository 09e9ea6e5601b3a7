//! The API's accept loop: at most `API_CONNECTIONS_MAX` connections (one more is accepted and
//! closed at once), headers within `API_HEADER_READ_TIMEOUT` (which also closes idle keep-alive
//! and silent connections), a bounded header size, and a graceful stop. A failure to accept a
//! connection (out of descriptors, say) is counted and waited out; it never ends the node.
//! Over TLS, the handshake has the same deadline as the headers, and each request carries the
//! connection's [`Caller`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::http::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::caller::Caller;
use crate::limits::{
    ACCEPT_RETRY, API_CONNECTIONS_MAX, API_HEADER_BYTES_MAX, API_HEADER_READ_TIMEOUT,
    LINGER_BYTES_MAX, LINGER_TIME,
};
use crate::node::Shared;

/// How the API speaks: TLS with caller authentication, or plain HTTP (`insecure_http`).
#[derive(Clone)]
pub enum Transport {
    Tls(tokio_rustls::TlsAcceptor),
    Plain,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Transport::Tls(_) => "Tls",
            Transport::Plain => "Plain",
        })
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then waits for open requests to
/// finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    transport: Transport,
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
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            watcher: graceful.watcher(),
            shared: shared.clone(),
        };
        let transport = transport.clone();
        shared
            .metrics
            .api_connections_open
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let open = connection.shared.clone();
            connection.run(stream, transport).await;
            open.metrics
                .api_connections_open
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One accepted connection: its TLS handshake (within the header timeout, so a silent client
/// holds a slot no longer than a slow one), then HTTP with its caller on every request.
struct Connection {
    builder: http1::Builder,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
    shared: Arc<Shared>,
}

impl Connection {
    async fn run(self, stream: TcpStream, transport: Transport) {
        match transport {
            Transport::Plain => {
                let stream = LingeringClose::new(stream);
                self.serve(TokioIo::new(stream), Caller::Unchecked).await
            }
            Transport::Tls(acceptor) => {
                let handshake =
                    tokio::time::timeout(API_HEADER_READ_TIMEOUT, acceptor.accept(stream)).await;
                let Ok(Ok(stream)) = handshake else {
                    self.shared
                        .metrics
                        .api_handshakes_failed
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let caller = Caller::of_connection(
                    &self.shared.rules,
                    stream.get_ref().1.peer_certificates(),
                );
                self.serve(TokioIo::new(LingeringClose::new(stream)), caller)
                    .await;
            }
        }
    }

    async fn serve<S>(self, io: TokioIo<S>, caller: Caller)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let app = tower::ServiceExt::map_request(self.app, move |mut request: Request<_>| {
            request.extensions_mut().insert(caller.clone());
            request
        });
        let service = TowerToHyperService::new(app);
        let connection = self.builder.serve_connection(io, service);
        if let Err(error) = self.watcher.watch(connection).await {
            tracing::debug!(%error, "API connection ended with an error");
        }
    }
}

/// A stream whose close first reads what the client is still sending (within
/// [`LINGER_TIME`] and [`LINGER_BYTES_MAX`]): a request refused before its body was read (413)
/// would otherwise be closed with unread bytes, which resets the connection and can lose the
/// answer before the client reads it (a lingering close, as web servers do).
struct LingeringClose<S> {
    inner: S,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    drained: usize,
}

impl<S> LingeringClose<S> {
    fn new(inner: S) -> LingeringClose<S> {
        LingeringClose {
            inner,
            deadline: None,
            drained: 0,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for LingeringClose<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite
    for LingeringClose<S>
{
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(context, bytes)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        // Send what is buffered (the answer) before waiting on the client.
        if std::pin::Pin::new(&mut this.inner)
            .poll_flush(context)
            .is_pending()
        {
            return Poll::Pending;
        }
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER_TIME)));
        let mut scratch = [0u8; 8192];
        while this.drained < LINGER_BYTES_MAX && deadline.as_mut().poll(context).is_pending() {
            let mut buffer = tokio::io::ReadBuf::new(&mut scratch);
            match std::pin::Pin::new(&mut this.inner).poll_read(context, &mut buffer) {
                Poll::Ready(Ok(())) if !buffer.filled().is_empty() => {
                    this.drained += buffer.filled().len();
                }
                // End of stream or an error: nothing more will come.
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        std::pin::Pin::new(&mut this.inner).poll_shutdown(context)
    }
}
