//! Hostile input against a real 4-validator cluster, as an attacker from outside or a member
//! would try it. The attack table is data: each row is one attack and the answer it must get.
//! After every row the whole network must still commit; at the end every event the API
//! accepted is on every node's chain and every node's `verify-chain` passes.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_node::limits::{
    API_BODY_READ_TIMEOUT, API_CONNECTIONS_MAX, API_HEADER_READ_TIMEOUT, BATCH_BODY_BYTES_MAX,
    EVENT_GOSSIP_BYTES_MAX, OPEN_FILES_WANTED, STREAM_SUBSCRIBERS_MAX,
};
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::fixtures;
use waybill_protocol::limits::EVENT_ENCODED_BYTES_MAX;
use waybill_tests::cluster::Cluster;

const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// What the attacks leave behind: every event id the API accepted, which must all commit.
#[derive(Debug, Default)]
struct Accepted {
    ids: Vec<String>,
}

impl Accepted {
    fn take(&mut self, answer: &waybill_tests::cluster::Answer) {
        match answer.body["results"].as_array() {
            Some(results) => self.ids.extend(
                results
                    .iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_string)),
            ),
            None => self
                .ids
                .extend(answer.body["id"].as_str().map(str::to_string)),
        }
    }
}

struct Attack {
    name: &'static str,
    /// Runs the attack and asserts the answer it gets.
    run: fn(&mut Cluster, &mut Accepted),
}

const ATTACKS: &[Attack] = &[
    Attack {
        name: "an event over the encoded bound is refused with 413 naming its size",
        run: oversize_event,
    },
    Attack {
        name: "a batch larger than one gossip message commits and costs its node no score",
        run: batch_larger_than_a_gossip_message,
    },
    Attack {
        name: "four concurrent 16 MiB batches of forgeries cost one signature check each",
        run: batch_of_forgeries,
    },
    Attack {
        name: "a batch of more events than allowed is refused while scanning",
        run: batch_over_the_count,
    },
    Attack {
        name: "more idle connections than the cap are closed and the node stays up",
        run: connection_flood,
    },
    Attack {
        name: "silent, slow-header and slow-body connections are closed",
        run: slow_connections,
    },
    Attack {
        name: "event streams beyond the cap get 503",
        run: stream_flood,
    },
    Attack {
        name: "axum's own rejections answer in the documented JSON shape",
        run: error_shapes,
    },
    Attack {
        name: "a node below its disk watermark refuses events with 507 and raises its alarm",
        run: disk_below_watermark,
    },
    Attack {
        name: "a validator whose clock is ten minutes slow follows the chain and stays up",
        run: slow_clock,
    },
    Attack {
        name: "a history longer than one answer is served in pages that verify as one",
        run: long_history,
    },
];

#[test]
fn every_attack_gets_its_answer_and_the_network_keeps_committing() {
    // The nodes start under systemd's default soft limit of 1,024 open files (they inherit
    // this process's): each must raise its own to what its caps need.
    let lowered = std::process::Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string(), "--nofile=1024:"])
        .status()
        .unwrap();
    assert!(
        lowered.success(),
        "prlimit (util-linux) could not lower the limit"
    );
    let mut cluster = Cluster::start(4);
    let mut accepted = Accepted::default();
    open_file_limit_was_raised(&cluster);
    // One row alone, for a before/after comparison against another node binary.
    let only: Option<usize> = std::env::var("WAYBILL_HOSTILE_ROW")
        .ok()
        .and_then(|row| row.parse().ok());
    for (row, attack) in ATTACKS.iter().enumerate() {
        if only.is_some_and(|only| only != row) {
            continue;
        }
        let before = Usage::of(&cluster);
        let started = Instant::now();
        // The figures are printed whether the row holds or not (before/after comparisons).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (attack.run)(&mut cluster, &mut accepted);
            let attacked = started.elapsed();
            still_commits(&mut cluster, &mut accepted, attack.name);
            attacked
        }));
        let after = Usage::of(&cluster);
        let timing = match &outcome {
            Ok(attacked) => format!(
                "attack {:.1} s, recovered {:.1} s after",
                attacked.as_secs_f64(),
                (started.elapsed() - *attacked).as_secs_f64()
            ),
            Err(_) => format!("FAILED after {:.1} s", started.elapsed().as_secs_f64()),
        };
        eprintln!(
            "row {row}: {} | {timing} | height {} -> {} | CPU s {} | peak RSS MiB {}",
            attack.name,
            before.height,
            after.height,
            after.cpu_delta(&before),
            after.rss_mib(),
        );
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
    cluster.wait_until(COMMIT_WAIT, "every accepted event on every node", |c| {
        (0..4).all(|node| {
            let on_chain = committed_ids(c, node);
            accepted.ids.iter().all(|id| on_chain.contains(id))
        })
    });
    cluster.stop_all_and_verify_chains();
}

/// Every event id in `node`'s blocks, read block by block.
fn committed_ids(cluster: &Cluster, node: usize) -> std::collections::HashSet<String> {
    let tip = cluster.height(node).unwrap_or(0);
    let mut ids = std::collections::HashSet::new();
    for height in 1..=tip {
        let Some(block) = cluster.get(node, &format!("/v1/blocks/{height}")) else {
            continue;
        };
        let events = block.body["events"].as_array().cloned().unwrap_or_default();
        ids.extend(
            events
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_string)),
        );
    }
    ids
}

/// What the nodes used: height, and per node CPU seconds and peak RSS (from /proc).
struct Usage {
    height: u64,
    cpu_seconds: Vec<f64>,
    peak_rss_kib: Vec<u64>,
}

impl Usage {
    fn of(cluster: &Cluster) -> Usage {
        let proc_of = |node: usize, file: &str| {
            cluster
                .pid(node)
                .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok())
                .unwrap_or_default()
        };
        let cpu_seconds = (0..4)
            .map(|node| {
                // utime and stime, fields 14 and 15, in clock ticks (100 a second here).
                let stat = proc_of(node, "stat");
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                let ticks: u64 = fields
                    .get(11..13)
                    .map_or(0, |t| t.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
                ticks as f64 / 100.0
            })
            .collect();
        let peak_rss_kib = (0..4)
            .map(|node| {
                proc_of(node, "status")
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        Usage {
            height: (0..4).filter_map(|n| cluster.height(n)).max().unwrap_or(0),
            cpu_seconds,
            peak_rss_kib,
        }
    }

    fn cpu_delta(&self, before: &Usage) -> String {
        let deltas: Vec<String> = self
            .cpu_seconds
            .iter()
            .zip(&before.cpu_seconds)
            .map(|(after, before)| format!("{:.1}", (after - before).max(0.0)))
            .collect();
        deltas.join("/")
    }

    fn rss_mib(&self) -> String {
        let rss: Vec<String> = self
            .peak_rss_kib
            .iter()
            .map(|k| (k / 1024).to_string())
            .collect();
        rss.join("/")
    }
}

/// After an attack: every node runs, and a fresh event commits on all of them.
fn still_commits(cluster: &mut Cluster, accepted: &mut Accepted, attack: &str) {
    for node in 0..4 {
        assert!(cluster.is_running(node), "{attack}: node {node} stopped");
    }
    let canary = cluster.declare(&format!("CANARY-{}", accepted.ids.len()));
    let answer = cluster.submit(1, &canary);
    assert_eq!(
        answer.status, 202,
        "{attack}: canary refused: {:?}",
        answer.body
    );
    accepted.take(&answer);
    let id = canary.body.id().to_hex();
    cluster.wait_until(COMMIT_WAIT, "the canary to commit everywhere", |c| {
        (0..4).all(|node| c.committed_on(node, &id))
    });
}

fn open_file_limit_was_raised(cluster: &Cluster) {
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", cluster.pid(0).unwrap())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (soft, hard) = (numbers[0], numbers[1]);
    assert!(
        soft >= OPEN_FILES_WANTED as u64 && hard >= soft,
        "node 0's open-file limit: {line}"
    );
}

fn api_address(cluster: &Cluster, node: usize) -> String {
    cluster.api[node].trim_start_matches("https://").to_string()
}

/// A 100-line declaration with long descriptions: under the bound when `lines` is 100.
fn declaration_of(cluster: &mut Cluster, shipment: &str, lines: usize) -> SignedEvent {
    let declaration = fixtures::declaration_with_items(lines, 500);
    cluster.event(
        "platform",
        shipment,
        waybill_tests::file_declaration(&declaration),
    )
}

fn oversize_event(cluster: &mut Cluster, accepted: &mut Accepted) {
    let event = declaration_of(cluster, "HOSTILE-BIG", 200);
    let bytes = event.encode().len();
    assert!(bytes > EVENT_ENCODED_BYTES_MAX);
    let answer = cluster.submit(0, &event);
    assert_eq!(answer.status, 413, "{:?}", answer.body);
    assert_eq!(answer.body["error"], "event_too_large");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.contains(&bytes.to_string()), "{message}");
    // Its nonce is still free: the next event of the signer with it commits.
    let largest = cluster.event_with_nonce(
        "platform",
        event.body.nonce,
        "HOSTILE-LARGEST",
        waybill_tests::file_declaration(&fixtures::declaration_with_items(100, 500)),
    );
    let answer = cluster.submit(0, &largest);
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    accepted.take(&answer);
    let id = largest.body.id().to_hex();
    cluster.wait_until(COMMIT_WAIT, "the largest event to commit", |c| {
        (0..4).all(|node| c.committed_on(node, &id))
    });
    let proof = cluster
        .get(2, "/v1/shipments/HOSTILE-LARGEST/provenance")
        .unwrap();
    assert_eq!(proof.status, 200, "{:?}", proof.body);
}

fn peer_scores_of(cluster: &Cluster, node: usize, about: &str) -> Vec<f64> {
    (0..4)
        .filter(|n| *n != node)
        .filter_map(|n| {
            let status = cluster.get(n, "/v1/status")?;
            status.body["peers"]
                .as_array()?
                .iter()
                .find(|p| p["validator"] == about)
                .and_then(|p| p["score"].as_f64())
        })
        .collect()
}

fn batch_larger_than_a_gossip_message(cluster: &mut Cluster, accepted: &mut Accepted) {
    // 80 declarations of about 56 KB: 4.5 MB, more than one gossip message may carry.
    let events: Vec<SignedEvent> = (0..80)
        .map(|i| declaration_of(cluster, &format!("HOSTILE-BATCH-{i}"), 100))
        .collect();
    let bytes: usize = events.iter().map(|e| e.encode().len()).sum();
    assert!(bytes > EVENT_GOSSIP_BYTES_MAX, "{bytes} bytes");
    let particulars: Vec<_> = events
        .iter()
        .filter_map(waybill_tests::filed_particulars)
        .collect();
    let body = json!({"events": events, "particulars": particulars});
    let answer = cluster.post(0, "/v1/events/batch", &body);
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    accepted.take(&answer);
    let ids: Vec<String> = events.iter().map(|e| e.body.id().to_hex()).collect();
    cluster.wait_until(COMMIT_WAIT, "the large batch to commit everywhere", |c| {
        ids.iter()
            .all(|id| (0..4).all(|node| c.committed_on(node, id)))
    });
    let name = cluster.testnet.genesis.validators[0].name.to_string();
    let scores = peer_scores_of(cluster, 0, &name);
    assert_eq!(scores.len(), 3, "node 0 is listed by its peers");
    assert!(
        scores.iter().all(|score| *score >= 0.0),
        "node 0's scores at its peers: {scores:?}"
    );
}

fn signature_checks(cluster: &Cluster, node: usize) -> u64 {
    let metrics = cluster.metrics(node).unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("waybill_event_signatures_checked_total{reason=\"api\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

/// Four clients at once, each with a batch of 1,000 forged declarations of about 16 KB (just
/// under the 16 MiB body bound) and their particulars, at customs' node (which may hold them,
/// so it gets as far as the signature): each batch costs one signature check, and no value
/// tree is built.
fn batch_of_forgeries(cluster: &mut Cluster, _: &mut Accepted) {
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|client| {
            let mut event = declaration_of(cluster, &format!("HOSTILE-FORGED-{client}"), 26);
            let particulars = waybill_tests::filed_particulars(&event).unwrap();
            event.signature.0[0] ^= 1;
            let one = serde_json::to_string(&event).unwrap();
            let body = format!(
                "{{\"events\": [{}], \"particulars\": [{}]}}",
                vec![one; 1_000].join(","),
                serde_json::to_string(&particulars).unwrap()
            );
            assert!(body.len() <= BATCH_BODY_BYTES_MAX, "{} bytes", body.len());
            body.into_bytes()
        })
        .collect();
    let before = signature_checks(cluster, 0);
    let answers: Vec<waybill_tests::cluster::Answer> = std::thread::scope(|scope| {
        let cluster = &*cluster;
        let sent: Vec<_> = bodies
            .into_iter()
            .map(|body| scope.spawn(move || cluster.post_raw(0, "/v1/events/batch", body)))
            .collect();
        sent.into_iter()
            .map(|s| s.join().unwrap().unwrap())
            .collect()
    });
    for answer in &answers {
        assert_eq!(answer.status, 400, "{:?}", answer.body["results"][0]);
        let results = answer.body["results"].as_array().unwrap();
        assert_eq!(results.len(), 1_000);
        assert_eq!(results[0]["error"], "bad_signature");
        let untried = |r: &Value| r["error"] == "not_tried" && r["status"] == 424;
        assert!(results[1..].iter().all(untried));
    }
    assert_eq!(signature_checks(cluster, 0) - before, 4);
}

fn batch_over_the_count(cluster: &mut Cluster, _: &mut Accepted) {
    let too_many = json!({"events": vec![Value::Null; 1_001]});
    let answer = cluster.post(1, "/v1/events/batch", &too_many);
    assert_eq!(answer.status, 413, "{:?}", answer.body);
    assert_eq!(answer.body["error"], "batch_too_large");
    assert!(answer.body["message"].as_str().unwrap().contains("events"));
}

fn connect(cluster: &Cluster, node: usize) -> Option<TcpStream> {
    let stream = TcpStream::connect(api_address(cluster, node)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    Some(stream)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A connection that finished its TLS handshake as customs: what a slow client with
/// credentials holds.
fn connect_tls(cluster: &Cluster, node: usize) -> TlsStream {
    let mut stream = connect(cluster, node).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let config = cluster.tls_config(node, Some("customs"));
    let mut connection = rustls::ClientConnection::new(config, name).unwrap();
    while connection.is_handshaking() {
        connection.complete_io(&mut stream).unwrap();
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    rustls::StreamOwned::new(connection, stream)
}

/// A connection, plain (never past the TCP handshake) or TLS.
enum Held {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Held {
    fn closed_by_server(&mut self) -> bool {
        match self {
            Held::Plain(stream) => closed_by_server(stream),
            Held::Tls(stream) => closed_by_server(stream.as_mut()),
        }
    }
}

/// Whether the server has closed `stream` (a read returns end of file or a reset).
fn closed_by_server(stream: &mut impl Read) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

fn wait_all_closed(streams: &mut [Held], limit: Duration, what: &str) -> Duration {
    let started = Instant::now();
    let mut open: Vec<&mut Held> = streams.iter_mut().collect();
    while !open.is_empty() {
        assert!(
            started.elapsed() < limit,
            "{what}: {} connections still open after {limit:?}",
            open.len()
        );
        open.retain_mut(|stream| !stream.closed_by_server());
    }
    started.elapsed()
}

fn connection_flood(cluster: &mut Cluster, _: &mut Accepted) {
    let height = cluster.height(1).unwrap();
    // Never past the TCP handshake: each holds a slot until the TLS handshake deadline.
    let mut idle: Vec<Held> = (0..API_CONNECTIONS_MAX + 100)
        .filter_map(|_| connect(cluster, 0).map(Held::Plain))
        .collect();
    assert!(idle.len() > API_CONNECTIONS_MAX);
    // Past the cap, connections are closed at once (reads see end of file or a reset).
    std::thread::sleep(Duration::from_millis(500));
    let refused = idle
        .iter_mut()
        .skip(API_CONNECTIONS_MAX)
        .map(Held::closed_by_server)
        .filter(|closed| *closed)
        .count();
    assert!(
        refused >= 90,
        "{refused} of the connections past the cap were closed"
    );
    let limit = API_HEADER_READ_TIMEOUT + Duration::from_secs(5);
    wait_all_closed(&mut idle, limit, "idle connections");
    let metrics = cluster.metrics(0).unwrap();
    assert!(
        metrics.contains("waybill_api_connections_refused_total "),
        "{metrics}"
    );
    assert!(!metrics.contains("waybill_api_connections_refused_total 0\n"));
    assert!(cluster.height(0).unwrap() >= height);
}

fn slow_connections(cluster: &mut Cluster, _: &mut Accepted) {
    let mut streams = Vec::new();
    for i in 0..150 {
        // Silent before the TLS handshake, or past it with half a head or half a body.
        let held = match i % 3 {
            0 => Held::Plain(connect(cluster, 3).unwrap()),
            1 => {
                let mut stream = connect_tls(cluster, 3);
                stream
                    .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
                stream.flush().unwrap();
                Held::Tls(Box::new(stream))
            }
            _ => {
                let mut stream = connect_tls(cluster, 3);
                stream
                    .write_all(
                        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"body\"",
                    )
                    .unwrap();
                stream.flush().unwrap();
                Held::Tls(Box::new(stream))
            }
        };
        streams.push(held);
    }
    let limit = API_BODY_READ_TIMEOUT + Duration::from_secs(5);
    let took = wait_all_closed(&mut streams, limit, "slow connections");
    eprintln!("slow connections closed within {took:?}");
    assert_eq!(cluster.get(3, "/v1/status").unwrap().status, 200);
}

fn stream_flood(cluster: &mut Cluster, _: &mut Accepted) {
    let open_stream = |cluster: &Cluster| {
        let mut stream = connect_tls(cluster, 2);
        stream
            .write_all(b"GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream.flush().unwrap();
        stream
            .sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = [0u8; 64];
        let read = stream.read(&mut head).unwrap();
        (String::from_utf8_lossy(&head[..read]).to_string(), stream)
    };
    let mut streams = Vec::new();
    for _ in 0..STREAM_SUBSCRIBERS_MAX {
        let (head, stream) = open_stream(cluster);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        streams.push(stream);
    }
    let (head, _) = open_stream(cluster);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let answer = cluster.get(2, "/v1/stream").unwrap();
    assert_eq!(
        answer.body["error"], "too_many_streams",
        "{:?}",
        answer.body
    );
    drop(streams);
    // The node notices a closed stream at its next write (a keep-alive comes every 15 s).
    cluster.wait_until(Duration::from_secs(30), "a stream slot to free", |c| {
        open_stream(c).0.starts_with("HTTP/1.1 200")
    });
}

fn error_shapes(cluster: &mut Cluster, _: &mut Accepted) {
    let post_status = cluster.post(0, "/v1/status", &json!({}));
    assert_eq!(
        (post_status.status, post_status.body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let answer = cluster
        .get(0, "/v1/consignees/declarations?name=J.%20Jansen")
        .unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"], "malformed_request");
    assert!(answer.body["message"].as_str().unwrap().contains("country"));
    let answer = cluster
        .post_raw(0, "/v1/events", vec![b' '; 300 * 1024])
        .unwrap();
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(answer.body["message"].as_str().unwrap().contains("262144"));
}

fn set_disk_watermark(cluster: &mut Cluster, node: usize, bytes: u64) {
    cluster.stop(node);
    let path = &cluster.testnet.config_paths[node];
    let config = std::fs::read_to_string(path).unwrap();
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with("disk_free_min_bytes"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + &format!("disk_free_min_bytes = {bytes}\n");
    std::fs::write(path, config).unwrap();
    cluster.start_node(node);
}

fn disk_below_watermark(cluster: &mut Cluster, accepted: &mut Accepted) {
    set_disk_watermark(cluster, 3, i64::MAX as u64);
    let event = cluster.declare("HOSTILE-DISK");
    let answer = cluster.submit(3, &event);
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (507, Some("disk_full")),
        "{:?}",
        answer.body
    );
    let metrics = cluster.metrics(3).unwrap();
    assert!(metrics.contains("waybill_disk_space_low 1"), "{metrics}");
    // The node still follows the chain; another node takes the event.
    let answer = cluster.submit(0, &event);
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    accepted.take(&answer);
    let id = event.body.id().to_hex();
    cluster.wait_until(
        COMMIT_WAIT,
        "the event to commit on the full node too",
        |c| c.committed_on(3, &id),
    );
    set_disk_watermark(cluster, 3, 64 * 1024 * 1024);
    let metrics = cluster.metrics(3).unwrap();
    assert!(metrics.contains("waybill_disk_space_low 0"), "{metrics}");
}

/// libfaketime, which `scripts/setup.sh` installs, shifts what the process's clock says.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn slow_clock(cluster: &mut Cluster, accepted: &mut Accepted) {
    assert!(
        std::path::Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: run scripts/setup.sh"
    );
    cluster.stop(3);
    cluster.start_node_with_env(
        3,
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME", "-10m"),
            // Timers and intervals keep real time; only the wall clock is slow.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    // Blocks dated by the others are ten minutes ahead of its clock: it votes nil on their
    // proposals, and follows what they certify.
    let events: Vec<SignedEvent> = (0..5)
        .map(|i| cluster.declare(&format!("HOSTILE-CLOCK-{i}")))
        .collect();
    for event in &events {
        let answer = cluster.submit(0, event);
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        accepted.take(&answer);
    }
    let ids: Vec<String> = events.iter().map(|e| e.body.id().to_hex()).collect();
    cluster.wait_until(COMMIT_WAIT, "the slow node to follow the chain", |c| {
        ids.iter().all(|id| c.committed_on(3, id))
    });
    assert!(cluster.is_running(3), "{}", cluster.log_tail(3));
    cluster.stop(3);
    cluster.start_node(3);
}

/// 10,001 packing events by the custodian after a declaration and a pick-up: more than one
/// provenance answer carries. The SDK fetches the pages and the joined proof verifies.
fn long_history(cluster: &mut Cluster, accepted: &mut Accepted) {
    use waybill_protocol::limits::PROVENANCE_EVENTS_MAX;
    let shipment = "HOSTILE-LONG";
    let mut events = vec![
        cluster.declare(shipment),
        cluster.event("carrier-a", shipment, EventKind::PickUp),
    ];
    let item = fixtures::sgtin("LONG-1");
    let parcel = waybill_protocol::ids::Sscc::new("000000000000000017").unwrap();
    for _ in 0..=PROVENANCE_EVENTS_MAX {
        let template = cluster.event(
            "carrier-a",
            shipment,
            EventKind::Pack {
                parcel: parcel.clone(),
            },
        );
        let mut body = template.body;
        body.epcs = vec![waybill_protocol::event::Epc::Sgtin(item.clone())];
        events.push(SignedEvent::sign(body, cluster.keypair("carrier-a")));
    }
    for chunk in events.chunks(1_000) {
        let particulars: Vec<_> = chunk
            .iter()
            .filter_map(waybill_tests::filed_particulars)
            .collect();
        let batch = json!({ "events": chunk, "particulars": particulars });
        let answer = cluster.post(1, "/v1/events/batch", &batch);
        assert_eq!(answer.status, 202, "{:?}", answer.body["results"][0]);
        accepted.take(&answer);
    }
    // Batches may commit out of order (a proposer that heard a later one first): wait for the
    // whole history, as the record counts it.
    let count = events.len() as u64;
    let pages = format!("/v1/shipments/{shipment}/provenance/pages?from=1");
    cluster.wait_until(COMMIT_WAIT, "the long history to commit", |c| {
        c.get(2, &pages)
            .is_some_and(|a| a.body["proof"]["record"]["count"].as_u64() == Some(count))
    });
    let whole = cluster
        .get(2, &format!("/v1/shipments/{shipment}/provenance"))
        .unwrap();
    assert_eq!(
        (whole.status, whole.body["error"].as_str()),
        (422, Some("history_too_long"))
    );
    let node = cluster.node_client(2, Some("customs"));
    let proof = node
        .shipment_provenance(&waybill_protocol::ShipmentId::new(shipment).unwrap())
        .unwrap();
    let rules = waybill_protocol::rules::ChainRules::new(cluster.testnet.genesis.clone()).unwrap();
    proof.verify(&rules).unwrap();
    assert_eq!(proof.events.len(), events.len());
}
