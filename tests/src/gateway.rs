//! `waybill epcis-gateway` as a process of a test, on a free loopback port with its own store
//! and token, stopped when dropped (and restartable on the same store); and a webhook receiver
//! that records what it is sent, stoppable and restartable on the same port.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::{Cluster, workspace_binary};

const START_WAIT: Duration = Duration::from_secs(30);

/// A running gateway.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub token: String,
    pub log: PathBuf,
}

impl GatewayProcess {
    /// Starts a gateway signing as `org` (its testnet key) against `node`, keeping its store
    /// and token in `dir` (reused by a restart).
    pub fn start(cluster: &Cluster, org: &str, node: &str, dir: &Path) -> GatewayProcess {
        std::fs::create_dir_all(dir).expect("gateway dir");
        let log = dir.join("gateway.log");
        let token_file = dir.join("token");
        let mut child = Command::new(workspace_binary("waybill"))
            .arg("epcis-gateway")
            .args(["--listen", "127.0.0.1:0", "--node", node])
            .arg("--state")
            .arg(dir.join("store"))
            .arg("--token-file")
            .arg(&token_file)
            .arg("--key")
            .arg(cluster.testnet.dir.join(format!("keys/{org}.key")))
            .arg("--genesis")
            .arg(&cluster.testnet.genesis_path)
            .env_remove("WAYBILL_NODE")
            .env_remove("WAYBILL_GENESIS")
            .env_remove("WAYBILL_KEY")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("gateway log"))
            .spawn()
            .expect("start waybill epcis-gateway");
        let stdout = child.stdout.take().expect("gateway stdout");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = said.send(line);
        });
        let line = heard.recv_timeout(START_WAIT).unwrap_or_default();
        let url = line
            .strip_prefix("EPCIS gateway at ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches('/').to_string());
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            let errors = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("waybill epcis-gateway did not start: {line:?}\n{errors}");
        };
        let token = std::fs::read_to_string(&token_file)
            .expect("token file")
            .trim()
            .to_string();
        GatewayProcess {
            child,
            url,
            token,
            log,
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a receiver got: its headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver answering 200 to every POST, on loopback.
#[derive(Debug)]
pub struct Receiver {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `port` (0: a free one), appending to `received`.
    pub fn start(port: u16, received: Arc<Mutex<Vec<Received>>>) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("receiver port");
        let port = listener.local_addr().expect("receiver address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (stopped, log) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(one) = read_request(stream) {
                            log.lock().unwrap().push(one);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Receiver {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(mut stream: TcpStream) -> Option<Received> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = std::io::BufReader::new(stream.try_clone().ok()?);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .ok()?;
    Some(Received { headers, body })
}
