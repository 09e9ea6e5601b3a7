//! Who can talk to a node's API, and how: TLS pinned by the genesis on both ends. A client that
//! expects another key refuses the server; plain HTTP to the TLS port gets no data; without
//! credentials only liveness and the API description answer; a key the genesis does not know
//! gets 401 naming it; curl works with the files `waybill-genesis testnet` writes.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use waybill_tests::cluster::Cluster;

#[test]
fn the_api_speaks_only_tls_pinned_by_the_genesis_and_asks_who_calls() {
    let mut cluster = Cluster::start(4);
    let event = cluster.declare("TLS-1");
    assert_eq!(cluster.submit(0, &event).status, 202);
    let id = event.body.id().to_hex();
    cluster.wait_until(Duration::from_secs(60), "the declaration", |c| {
        c.committed_on(0, &id)
    });

    // Without credentials: liveness reduced to height and health, the description, nothing else.
    let status = cluster.get_as(0, None, "/v1/status").unwrap();
    assert_eq!(status.status, 200);
    let fields: Vec<&String> = status.body.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        ["healthy", "height", "ready", "syncing"],
        "{:?}",
        status.body
    );
    assert_eq!(
        cluster.get_as(0, None, "/openapi.json").unwrap().status,
        200
    );
    for path in [
        "/v1/blocks/1",
        "/v1/blocks/latest",
        "/v1/shipments/TLS-1/provenance",
        &format!("/v1/events/{id}"),
        "/v1/consignees/declarations?name=J.%20Jansen&country=NL&since_ms=0",
        "/v1/gtins/04012345000016/serials",
        "/v1/stream",
        "/metrics",
    ] {
        let answer = cluster.get_as(0, None, path).unwrap();
        assert_eq!(answer.status, 401, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["error"], "unauthenticated", "{path}");
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap()
                .contains("client certificate")
        );
        assert!(!answer.body.to_string().contains("Jansen"), "{path}");
    }
    // A whole-network reader reads blocks; other members are covered by the route table.
    let block = cluster
        .get_as(0, Some("customs"), "/v1/blocks/latest")
        .unwrap();
    assert_eq!(block.status, 200, "{:?}", block.body);
    let full = cluster.get_as(0, Some("carrier-a"), "/v1/status").unwrap();
    assert!(full.body["peers"].is_array(), "{:?}", full.body);

    // A well-formed key the genesis does not know: 401 naming it.
    let stranger = waybill_protocol::fixtures::keypair("not-a-member");
    let agent = stranger_agent(&cluster, &stranger);
    let mut response = agent
        .get(format!("{}/v1/blocks/latest", cluster.api[0]))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body = response.body_mut().read_to_string().unwrap();
    assert!(
        body.contains("unknown_key") && body.contains(&stranger.public_key().to_hex()),
        "{body}"
    );

    // A client pinning another key (node 1's for node 0's address) refuses to talk.
    let wrong = waybill_client::tls::PinnedTlsConnector::new(
        [(
            cluster.testnet.genesis.validators[0]
                .api_address
                .as_str()
                .to_string(),
            cluster.testnet.genesis.validators[1].api_key,
        )],
        Some(cluster.keypair("customs")),
    )
    .unwrap();
    let agent = waybill_client::tls::agent(ureq::Agent::config_builder().build(), wrong);
    let error = agent
        .get(format!("{}/v1/status", cluster.api[0]))
        .call()
        .unwrap_err()
        .to_string();
    assert!(error.contains("not the node the genesis names"), "{error}");

    // Plain HTTP to the TLS port: no data, only a closed connection (or a TLS alert).
    let address = cluster.api[0].trim_start_matches("https://");
    let mut plain = TcpStream::connect(address).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /v1/blocks/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!String::from_utf8_lossy(&answer).contains("TLS-1"));

    curl_as_documented(&cluster);

    // Metrics have a listener of their own, loopback by default, and count the refusals.
    let metrics = cluster.metrics(0).unwrap();
    assert!(
        metrics.contains("waybill_api_unauthenticated_total "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("waybill_api_unauthenticated_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("waybill_api_handshakes_failed_total "),
        "{metrics}"
    );
}

fn stranger_agent(cluster: &Cluster, key: &waybill_protocol::Keypair) -> ureq::Agent {
    let tls =
        waybill_client::tls::PinnedTlsConnector::for_network(&cluster.testnet.genesis, Some(key))
            .unwrap();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    waybill_client::tls::agent(config, tls)
}

/// README's curl line: pinned to the node's key, presenting customs' certificate.
fn curl_as_documented(cluster: &Cluster) {
    let dir = &cluster.testnet.dir;
    let node = dir.join(format!(
        "nodes/{}",
        cluster.testnet.genesis.validators[0].name
    ));
    let pin = std::fs::read_to_string(node.join("api.pin")).unwrap();
    let curl = |extra: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "-k", "--pinnedpubkey", &pin])
            .args(extra)
            .arg(format!("{}/v1/blocks/latest", cluster.api[0]))
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let keys = dir.join("keys");
    let (code, body) = curl(&[
        "--cert",
        keys.join("customs.crt").to_str().unwrap(),
        "--key",
        keys.join("customs.pem").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{body}");
    assert!(body.contains("\"header\""), "{body}");
    let (_, anonymous) = curl(&[]);
    assert!(anonymous.contains("unauthenticated"), "{anonymous}");
    // Another node's pin: curl aborts before sending anything.
    let other = dir.join(format!(
        "nodes/{}/api.pin",
        cluster.testnet.genesis.validators[1].name
    ));
    let output = Command::new("curl")
        .args(["-sS", "-k", "--pinnedpubkey"])
        .arg(std::fs::read_to_string(other).unwrap())
        .arg(format!("{}/v1/status", cluster.api[0]))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(90), "{:?}", output);
}

const GTIN: &str = "04012345000016";
/// A consignee name no other test uses: its bytes must appear in no refusal.
const MARKER: &str = "Marker Consignee 7f3a";

/// The roles of the table: five members in different relations to one shipment, and two
/// callers that are no member.
const CALLERS: [Option<&str>; 8] = [
    Some("customs"),
    Some("platform"),
    Some("carrier-a"),
    Some("carrier-b"),
    Some("brand"),
    Some("platform-b"),
    None,
    Some("stranger"),
];

/// A route and the status each of [`CALLERS`] gets.
struct Row {
    path: String,
    statuses: [u16; 8],
}

fn row(path: &str, statuses: [u16; 8]) -> Row {
    Row {
        path: path.to_string(),
        statuses,
    }
}

/// The platform declares ROLE-1 to the marker consignee; carrier-a picks it up with the brand's
/// serial and offers it to carrier-b. Then every route is asked by every caller.
#[test]
fn every_route_answers_each_caller_by_the_read_policy() {
    use waybill_protocol::event::{Epc, EventKind};
    let mut cluster = Cluster::start(4);
    let mut declaration = waybill_protocol::fixtures::declaration();
    declaration.consignee.name = waybill_protocol::PartyName::new(MARKER).unwrap();
    let serial = waybill_protocol::fixtures::sgtin("SN-ROLE");
    let events = vec![
        cluster.event_with_epcs(
            "brand",
            "STOCK-ROLE",
            EventKind::Commission,
            vec![Epc::Sgtin(serial.clone())],
        ),
        cluster.event(
            "platform",
            "ROLE-1",
            waybill_tests::file_declaration(&declaration),
        ),
        cluster.event_with_epcs(
            "carrier-a",
            "ROLE-1",
            EventKind::PickUp,
            vec![Epc::Sgtin(serial)],
        ),
        cluster.event(
            "carrier-a",
            "ROLE-1",
            EventKind::HandOver {
                to: waybill_protocol::fixtures::org("carrier-b"),
            },
        ),
    ];
    for event in &events {
        let answer = cluster.submit(0, event);
        assert_eq!(answer.status, 202, "{:?}", answer.body);
    }
    let last = events.last().unwrap().body.id().to_hex();
    cluster.wait_until(Duration::from_secs(60), "the story", |c| {
        c.committed_on(0, &last)
    });

    let member = [200, 200, 200, 200, 200, 200, 401, 401];
    let customs_only = [200, 403, 403, 403, 403, 403, 401, 401];
    let parties = [200, 200, 200, 200, 200, 403, 401, 401];
    let serial_readers = [200, 403, 200, 403, 200, 403, 401, 401];
    let rows = [
        row("/v1/status", [200, 200, 200, 200, 200, 200, 200, 401]),
        row("/openapi.json", [200; 8]),
        row("/v1/blocks/latest", customs_only),
        row("/v1/blocks/1", customs_only),
        row(
            "/v1/consignees/declarations?name=Marker%20Consignee%207f3a&country=NL&since_ms=0",
            customs_only,
        ),
        row("/v1/stream", customs_only),
        // Every member's feed: the part of the block it may read (see the test below).
        row("/v1/feed/1", member),
        row("/v1/parties/adverse?member=platform", customs_only),
        // Trusted-trader status is public to members (as the EU's AEO list is): a key never
        // recorded is a proven 404 for every member.
        row(
            "/v1/operators/NL000000001/accreditations",
            [404, 404, 404, 404, 404, 404, 401, 401],
        ),
        row(
            "/v1/members/platform/accreditations",
            [404, 404, 404, 404, 404, 404, 401, 401],
        ),
        // Metrics are not on the API's port at all (they have a listener of their own).
        row("/metrics", [404, 404, 404, 404, 404, 404, 401, 401]),
        row("/v1/shipments/ROLE-1", parties),
        row("/v1/shipments/ROLE-1/provenance", parties),
        row("/v1/shipments/ROLE-1/provenance/pages?from=1", parties),
        row("/v1/stream?shipment=ROLE-1", parties),
        // Never recorded: only a whole-network reader learns that (404 with the proof).
        row(
            "/v1/shipments/NEVER-ROLE/provenance",
            [404, 403, 403, 403, 403, 403, 401, 401],
        ),
        row(
            &format!("/v1/serials/{GTIN}/SN-ROLE/provenance"),
            serial_readers,
        ),
        row(
            &format!("/v1/gtins/{GTIN}/serials"),
            [200, 403, 403, 403, 200, 403, 401, 401],
        ),
        // A GTIN's history lists all its serials: its brand's and customs' only.
        row(
            &format!("/v1/gtins/{GTIN}/provenance"),
            [200, 403, 403, 403, 200, 403, 401, 401],
        ),
        row(&format!("/v1/events/{last}"), member),
        row("/v1/evidence", member),
        // The declaration's private particulars: customs and the declaring platform only.
        row(
            "/v1/shipments/ROLE-1/particulars",
            [200, 200, 403, 403, 403, 403, 401, 401],
        ),
    ];
    let stranger = waybill_protocol::fixtures::keypair("not-a-member");
    let mut failures = Vec::new();
    for row in &rows {
        for (caller, expected) in CALLERS.iter().zip(row.statuses) {
            let agent = match caller {
                Some("stranger") => stranger_agent(&cluster, &stranger),
                other => cluster.agent_as(*other),
            };
            let (status, body) = ask(&agent, &cluster.api[0], &row.path);
            if status != expected {
                failures.push(format!(
                    "{} as {caller:?}: {status}, expected {expected}: {body}",
                    row.path
                ));
            }
            // Private data is in no answer but the particulars' own, to those entitled.
            let entitled = row.path.ends_with("/particulars") && status == 200;
            assert_eq!(
                body.contains(MARKER),
                entitled,
                "{} as {caller:?}: {body}",
                row.path
            );
            if status == 401 || status == 403 {
                assert!(
                    body.contains("\"error\""),
                    "{} as {caller:?}: {body}",
                    row.path
                );
            }
            if status == 403 {
                assert!(
                    body.contains("read policy"),
                    "{} as {caller:?}: {body}",
                    row.path
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The feed: each member sees the events of the shipments it may read, and no others.
    let tip = cluster.height(0).unwrap();
    let seen_by = |org: &str| -> std::collections::BTreeSet<String> {
        let agent = cluster.agent_as(Some(org));
        (1..=tip)
            .flat_map(|height| {
                let (status, body) = ask(&agent, &cluster.api[0], &format!("/v1/feed/{height}"));
                assert_eq!(status, 200, "feed {height} as {org}: {body}");
                let feed: waybill_protocol::api::FeedAnswer = serde_json::from_str(&body).unwrap();
                feed.events
                    .into_iter()
                    .map(|entry| entry.event.body.shipment.to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let expected: [(&str, &[&str]); 6] = [
        ("customs", &["ROLE-1", "STOCK-ROLE"]),
        ("platform", &["ROLE-1"]),
        ("carrier-a", &["ROLE-1"]),
        // Offered the custody.
        ("carrier-b", &["ROLE-1"]),
        // Its own stock, and a shipment naming its serial.
        ("brand", &["ROLE-1", "STOCK-ROLE"]),
        ("platform-b", &[]),
    ];
    for (org, shipments) in expected {
        let seen: Vec<String> = seen_by(org).into_iter().collect();
        assert_eq!(seen, shipments, "the feed as {org}");
    }
}

/// Status and body; a stream's body is not waited for (it never ends), only its status.
fn ask(agent: &ureq::Agent, api: &str, path: &str) -> (u16, String) {
    let mut response = agent.get(format!("{api}{path}")).call().unwrap();
    let status = response.status().as_u16();
    if path.starts_with("/v1/stream") && status == 200 {
        return (status, String::new());
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    (status, body)
}
