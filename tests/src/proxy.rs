//! A lying node, for tests: a TLS proxy in front of a real node, holding that node's own API
//! key (as a lying operator would), that forwards each GET after the test's `lie` has had its
//! say, which may rewrite the path (answer another question) or serve a saved answer (an old
//! proof). Clients must catch both.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with one request path.
#[derive(Debug, Clone)]
pub enum Lie {
    /// Forward this path (the asked one, or another).
    Forward(String),
    /// Answer with this body, status 200, without asking the node.
    Serve(Vec<u8>),
}

type Liar = Box<dyn Fn(&str) -> Lie + Send>;

/// Connections the proxy serves at once; more wait in the listen backlog.
const CONNECTIONS_MAX: usize = 8;
/// The largest request head read.
const HEAD_BYTES_MAX: usize = 16 * 1024;

pub struct LyingProxy {
    pub url: String,
    lie: Arc<Mutex<Liar>>,
    stopped: Arc<AtomicBool>,
    address: std::net::SocketAddr,
}

impl LyingProxy {
    /// Starts in front of `upstream` (a node's API URL, read with `agent`), serving TLS with
    /// `tls` (the node's own key), honest until told to lie.
    pub fn start(upstream: &str, agent: ureq::Agent, tls: Arc<rustls::ServerConfig>) -> LyingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let address = listener.local_addr().expect("proxy address");
        let lie: Arc<Mutex<Liar>> = Arc::new(Mutex::new(Box::new(|p| Lie::Forward(p.into()))));
        let stopped = Arc::new(AtomicBool::new(false));
        let upstream = upstream.trim_end_matches('/').to_string();
        let (lie_in, stopped_in) = (lie.clone(), stopped.clone());
        std::thread::spawn(move || {
            let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for stream in listener.incoming() {
                if stopped_in.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if busy.load(Ordering::SeqCst) >= CONNECTIONS_MAX {
                    continue;
                }
                busy.fetch_add(1, Ordering::SeqCst);
                let (lie, upstream, busy) = (lie_in.clone(), upstream.clone(), busy.clone());
                let (agent, tls) = (agent.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, tls, &agent, &upstream, &lie);
                    busy.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        LyingProxy {
            url: format!("https://{address}"),
            lie,
            stopped,
            address,
        }
    }

    /// From now on, each request path goes through `lie`.
    pub fn lie(&self, lie: impl Fn(&str) -> Lie + Send + 'static) {
        *self.lie.lock().expect("proxy lie") = Box::new(lie);
    }
}

impl std::fmt::Debug for LyingProxy {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LyingProxy")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for LyingProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
    }
}

fn serve(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    agent: &ureq::Agent,
    upstream: &str,
    lie: &Mutex<Liar>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let connection = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, stream);
    let path = {
        let mut reader = BufReader::new(&mut stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut head = request_line.len();
        loop {
            let mut line = String::new();
            head += reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() || head > HEAD_BYTES_MAX {
                break;
            }
        }
        request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string()
    };
    let decision = (lie.lock().expect("proxy lie"))(&path);
    let (status, body) = match decision {
        Lie::Serve(body) => (200, body),
        Lie::Forward(path) => forward(agent, &format!("{upstream}{path}")),
    };
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()?;
    stream.conn.send_close_notify();
    stream.flush()
}

fn forward(agent: &ureq::Agent, url: &str) -> (u16, Vec<u8>) {
    match agent.get(url).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .unwrap_or_default();
            (status, body)
        }
        Err(error) => (
            502,
            format!("{{\"error\":\"upstream\",\"message\":\"{error}\"}}").into_bytes(),
        ),
    }
}

/// The body a node gives for `path` now, to serve again later as an old answer.
pub fn saved_answer(agent: &ureq::Agent, node_api: &str, path: &str) -> Vec<u8> {
    let (status, body) = forward(agent, &format!("{}{path}", node_api.trim_end_matches('/')));
    assert_eq!(
        status,
        200,
        "saving {path}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}
