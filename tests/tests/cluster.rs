//! A 4-validator network as real `waybill-node` processes on loopback: commits everywhere,
//! identical chains and proofs, crash and catch-up by block sync, loss and return of quorum,
//! and the API's answers to bad input. Each test runs its own cluster in its own temp dir.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use waybill_node::ledger::{Ledger, LedgerOptions};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::EventKind;
use waybill_protocol::provenance::ProvenanceProof;
use waybill_protocol::rules::ChainRules;
use waybill_tests::cluster::Cluster;

const COMMIT_WAIT: Duration = Duration::from_secs(60);

fn id_of(answer: &waybill_tests::cluster::Answer) -> String {
    assert_eq!(answer.status, 202, "submission refused: {:?}", answer.body);
    answer.body["id"].as_str().unwrap().to_string()
}

fn block_hash(cluster: &Cluster, node: usize, height: u64) -> String {
    let block = cluster.get(node, &format!("/v1/blocks/{height}")).unwrap();
    assert_eq!(
        block.status, 200,
        "block {height} on node {node}: {:?}",
        block.body
    );
    block.body["hash"].as_str().unwrap().to_string()
}

fn assert_same_chain(cluster: &Cluster, nodes: &[usize], up_to: u64) {
    for height in 1..=up_to {
        let first = block_hash(cluster, nodes[0], height);
        for node in &nodes[1..] {
            assert_eq!(
                block_hash(cluster, *node, height),
                first,
                "block {height} differs on node {node}"
            );
        }
    }
}

#[test]
fn events_submitted_to_any_node_commit_on_all_with_the_same_chain_and_proofs() {
    let mut cluster = Cluster::start(4);
    let mut ids = Vec::new();
    // One signer's nonces must commit in order, so each waits for the one before; each goes to
    // a different node, and the next is asked of yet another.
    for (node, shipment) in ["SHIP-A", "SHIP-B", "SHIP-C", "SHIP-D"].iter().enumerate() {
        // A pick-up: any node takes it (a declaration only the nodes that may hold it).
        let picked = cluster.pick_up(shipment);
        let id = id_of(&cluster.submit(node, &picked));
        cluster.wait_until(COMMIT_WAIT, "a declaration", |c| {
            c.committed_on((node + 1) % 4, &id)
        });
        ids.push(id);
    }
    let depart = cluster.event("carrier-a", "SHIP-A", EventKind::Depart);
    ids.push(id_of(&cluster.submit(3, &depart)));
    cluster.wait_until(COMMIT_WAIT, "every event committed on every node", |c| {
        (0..4).all(|node| ids.iter().all(|id| c.committed_on(node, id)))
    });
    for node in 0..4 {
        for id in &ids {
            let status = cluster.get(node, &format!("/v1/events/{id}")).unwrap();
            assert_eq!(
                status.body["state"]["status"], "committed",
                "{id} on node {node}: {:?}",
                status.body
            );
        }
    }
    // An idle network makes no empty blocks, so the tips settle and match.
    cluster.wait_until(COMMIT_WAIT, "the same tip everywhere", |c| {
        let heights: Vec<Option<u64>> = (0..4).map(|n| c.height(n)).collect();
        heights.iter().all(|h| h.is_some() && *h == heights[0])
    });
    let tip = cluster.height(0).unwrap();
    assert_same_chain(&cluster, &[0, 1, 2, 3], tip);

    let rules = ChainRules::new(cluster.testnet.genesis.clone()).unwrap();
    let proofs: Vec<Value> = (0..4)
        .map(|node| {
            let answer = cluster
                .get(node, "/v1/shipments/SHIP-A/provenance")
                .unwrap();
            assert_eq!(answer.status, 200);
            answer.body
        })
        .collect();
    // Whole proofs, byte for byte: a block's certificate is the one the next block carries,
    // the same at every node, and proofs are as of that certified height.
    let encoded: Vec<Vec<u8>> = proofs
        .iter()
        .map(|proof| {
            let proof: ProvenanceProof = serde_json::from_value(proof.clone()).unwrap();
            proof.encode()
        })
        .collect();
    for (node, proof) in proofs.iter().enumerate() {
        assert_eq!(proof, &proofs[0], "node {node} answered another proof");
        assert_eq!(
            encoded[node], encoded[0],
            "node {node}'s proof bytes differ"
        );
    }
    let proof: ProvenanceProof = serde_json::from_value(proofs[0].clone()).unwrap();
    proof.verify(&rules).unwrap();
    assert_eq!(proof.header.height, tip - 1, "as of the certified height");
    assert_eq!(proof.events.len(), 2);

    // Never recorded: 404 with a proof of absence that verifies.
    let absent = cluster
        .get(1, "/v1/shipments/NEVER-SEEN/provenance")
        .unwrap();
    assert_eq!(absent.status, 404);
    let absent: ProvenanceProof = serde_json::from_value(absent.body).unwrap();
    assert!(absent.record.is_none());
    absent.verify(&rules).unwrap();

    let state = cluster.get(2, "/v1/shipments/SHIP-A").unwrap();
    assert_eq!(state.body["state"]["custodian"], "carrier-a");

    let metrics = cluster.metrics(0).unwrap();
    assert!(
        metrics.contains(&format!("waybill_height {tip}")),
        "{metrics}"
    );
    assert!(metrics.contains("waybill_commit_latency_seconds_count"));
    let openapi = cluster.get(0, "/openapi.json").unwrap();
    assert_eq!(openapi.status, 200);
    assert!(openapi.body["paths"]["/v1/events"].is_object());

    cluster.stop_all_and_verify_chains();
}

#[test]
fn a_killed_validator_catches_up_by_sync_and_its_chain_is_identical() {
    let mut cluster = Cluster::start(4);
    let mut ids = Vec::new();
    for i in 0..20 {
        let event = cluster.pick_up(&format!("LOAD-{i}"));
        ids.push(id_of(&cluster.submit(i % 4, &event)));
    }
    cluster.kill(3);
    // Under load without node 3: the other three keep committing.
    let mut later = Vec::new();
    for i in 20..60 {
        let event = cluster.pick_up(&format!("LOAD-{i}"));
        later.push(id_of(&cluster.submit(i % 3, &event)));
    }
    cluster.wait_until(COMMIT_WAIT, "three validators to commit", |c| {
        later.iter().all(|id| c.committed_on(0, id))
    });
    let reached = cluster.height(0).unwrap();
    cluster.start_node(3);
    cluster.wait_until(COMMIT_WAIT, "the restarted validator to catch up", |c| {
        c.height(3).is_some_and(|h| h >= reached)
    });
    // Events node 3 accepted before it was killed were kept on its disk: they commit too.
    ids.extend(later);
    cluster.wait_until(COMMIT_WAIT, "every accepted event on every node", |c| {
        (0..4).all(|node| ids.iter().all(|id| c.committed_on(node, id)))
    });
    // And it takes part again: new events commit on all four.
    let after = cluster.pick_up("AFTER-RESTART");
    let after = id_of(&cluster.submit(3, &after));
    cluster.wait_until(COMMIT_WAIT, "a new event on all four", |c| {
        (0..4).all(|node| c.committed_on(node, &after))
    });
    let common = (0..4).map(|n| cluster.height(n).unwrap()).min().unwrap();
    assert_same_chain(&cluster, &[0, 1, 2, 3], common);
    let synced = cluster.metrics(3).unwrap();
    assert!(
        !synced.contains("waybill_blocks_synced_total 0"),
        "node 3 applied no synced block"
    );
    for node in 0..4 {
        cluster.stop(node);
        assert!(
            cluster.verify_chain(node).status.success(),
            "verify-chain on node {node}"
        );
    }
}

/// A node that accepted events and died before anyone else heard of them, while their
/// signer's later nonces committed elsewhere: at restart the events are not dropped. One whose
/// nonce is still unspent (within the window of the signer's highest nonces) is applied; one
/// below the window commits rejected as a replay, on the record for its submitter.
#[test]
fn events_accepted_by_a_node_that_was_down_commit_after_later_nonces() {
    use waybill_protocol::execution::NONCE_WINDOW;
    let mut cluster = Cluster::start(4);
    let declare = || waybill_tests::declare_kind();
    let below_window = cluster.event_with_nonce("platform", 1, "HELD-1", declare());
    let out_of_order = cluster.event_with_nonce("platform", 900, "HELD-900", declare());
    cluster.stop(3);
    {
        // What node 3 would hold had it answered 202 for both and died before gossiping them.
        let rules = ChainRules::new(cluster.testnet.genesis.clone()).unwrap();
        let ledger = Ledger::open(
            &cluster.data_dir(3).join("ledger"),
            rules.clone(),
            LedgerOptions::default(),
        )
        .unwrap();
        let held: Vec<CheckedEvent> = [&below_window, &out_of_order]
            .iter()
            .map(|e| CheckedEvent::check(&rules, (*e).clone()).unwrap())
            .collect();
        ledger
            .keep_pending(&held.iter().collect::<Vec<_>>())
            .unwrap();
    }
    // Meanwhile the signer's later nonces commit: more than the window, skipping 900.
    let later: Vec<_> = (2..=NONCE_WINDOW as u64 + 3)
        .filter(|n| *n != 900)
        .map(|n| cluster.event_with_nonce("platform", n, &format!("LATER-{n}"), declare()))
        .collect();
    let mut last = String::new();
    for chunk in later.chunks(500) {
        let particulars: Vec<_> = chunk
            .iter()
            .filter_map(waybill_tests::filed_particulars)
            .collect();
        let batch = json!({ "events": chunk, "particulars": particulars });
        let answer = cluster.post(0, "/v1/events/batch", &batch);
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        last = answer.body["results"][chunk.len() - 1]["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    cluster.wait_until(COMMIT_WAIT, "the later nonces to commit", |c| {
        c.committed_on(0, &last)
    });
    cluster.start_node(3);
    for (event, status) in [(&out_of_order, "committed"), (&below_window, "rejected")] {
        let id = event.body.id().to_string();
        cluster.wait_until(COMMIT_WAIT, "the held events on every node", |c| {
            (0..4).all(|node| c.committed_on(node, &id))
        });
        for node in 0..4 {
            let state = &cluster.get(node, &format!("/v1/events/{id}")).unwrap().body["state"];
            assert_eq!(state["status"], status, "node {node}: {state}");
            if status == "rejected" {
                assert_eq!(
                    state["rejection"]["reason"], "replay",
                    "node {node}: {state}"
                );
            }
        }
    }
}

#[test]
fn two_of_four_down_stops_commits_and_one_back_resumes_them() {
    let mut cluster = Cluster::start(4);
    let first = cluster.declare("Q-1");
    let first = id_of(&cluster.submit(0, &first));
    cluster.wait_until(COMMIT_WAIT, "a first commit", |c| c.committed_on(0, &first));
    cluster.stop(2);
    cluster.stop(3);
    let before = cluster.height(0).unwrap();
    let stuck = cluster.declare("Q-2");
    let stuck = id_of(&cluster.submit(1, &stuck));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        cluster.height(0),
        Some(before),
        "committed without a quorum"
    );
    assert_eq!(
        cluster.height(1),
        Some(before),
        "committed without a quorum"
    );
    let pending = cluster.get(1, &format!("/v1/events/{stuck}")).unwrap();
    assert_eq!(pending.body["state"]["status"], "pending");
    cluster.start_node(2);
    cluster.wait_until(COMMIT_WAIT, "commits to resume with three of four", |c| {
        (0..3).all(|node| c.committed_on(node, &stuck))
    });
}

#[test]
fn bad_input_gets_a_clear_status_and_the_node_stays_up() {
    let mut cluster = Cluster::start(4);
    // Before the first block there is nothing to prove against: 503, not a server error. (A
    // fresh, idle network makes its first empty block only after 10 s.)
    assert_eq!(cluster.height(3), Some(0));
    let early = cluster.get(3, "/v1/shipments/EARLY/provenance").unwrap();
    assert_eq!(
        (early.status, early.body["error"].as_str()),
        (503, Some("no_blocks_yet"))
    );
    let valid = cluster.pick_up("BAD-INPUT");
    let valid_json = serde_json::to_value(&valid).unwrap();

    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{\"body\": ".to_vec(),
            400,
            "malformed_json",
        ),
        ("not an object", b"[1,2,3]".to_vec(), 400, "malformed_json"),
        ("oversize body", vec![b' '; 300 * 1024], 413, ""),
    ];
    let mut wrong_type = valid_json.clone();
    wrong_type["body"]["nonce"] = json!("seven");
    cases.push((
        "wrong type",
        serde_json::to_vec(&wrong_type).unwrap(),
        400,
        "malformed_json",
    ));
    let mut bad_signature = valid_json.clone();
    let flipped = {
        let hex = bad_signature["signature"].as_str().unwrap().to_string();
        let first = if hex.starts_with('0') { "1" } else { "0" };
        format!("{first}{}", &hex[1..])
    };
    bad_signature["signature"] = json!(flipped);
    cases.push((
        "bad signature",
        serde_json::to_vec(&bad_signature).unwrap(),
        400,
        "bad_signature",
    ));
    let mut wrong_chain = valid_json.clone();
    wrong_chain["body"]["chain_id"] = json!("some-other-chain");
    cases.push((
        "wrong chain id",
        serde_json::to_vec(&wrong_chain).unwrap(),
        400,
        "malformed",
    ));
    let mut unknown_signer = valid_json.clone();
    unknown_signer["body"]["signer"]["org"] = json!("nobody");
    cases.push((
        "unknown signer",
        serde_json::to_vec(&unknown_signer).unwrap(),
        403,
        "unknown_signer",
    ));
    // A carrier may not release: signed correctly, but without the role.
    let carrier_releases = cluster.event("carrier-a", "BAD-INPUT", EventKind::Release);
    cases.push((
        "missing role",
        serde_json::to_vec(&carrier_releases).unwrap(),
        403,
        "not_permitted",
    ));
    // A declaration here, without the particulars it commits to.
    let declaration = cluster.declare("BAD-INPUT-DECLARED");
    cases.push((
        "declaration without particulars",
        serde_json::to_vec(&declaration).unwrap(),
        422,
        "particulars_missing",
    ));

    for (name, body, status, code) in &cases {
        let answer = cluster
            .post_raw(0, "/v1/events", body.clone())
            .unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(answer.status, *status, "{name}: {:?}", answer.body);
        if !code.is_empty() {
            assert_eq!(answer.body["error"], *code, "{name}: {:?}", answer.body);
            assert!(
                !answer.body["message"].as_str().unwrap().is_empty(),
                "{name}: no message"
            );
        }
        assert!(cluster.is_running(0), "{name} stopped the node");
    }
    // The message names the field.
    let answer = cluster
        .post_raw(0, "/v1/events", serde_json::to_vec(&wrong_type).unwrap())
        .unwrap();
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("body.nonce"),
        "{:?}",
        answer.body
    );
    let answer = cluster
        .post_raw(0, "/v1/events", serde_json::to_vec(&wrong_chain).unwrap())
        .unwrap();
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("chain_id"),
        "{:?}",
        answer.body
    );

    // Accepted once; the same event again is a duplicate; another with a spent nonce a replay.
    let id = id_of(&cluster.submit(0, &valid));
    let again = cluster.submit(0, &valid);
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (409, Some("duplicate"))
    );
    cluster.wait_until(COMMIT_WAIT, "the valid event to commit", |c| {
        c.committed_on(0, &id)
    });
    let again = cluster.submit(1, &valid);
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (409, Some("already_committed"))
    );
    let nonce = valid.body.nonce;
    let replay = cluster.event_with_nonce("carrier-a", nonce, "OTHER", EventKind::PickUp);
    let answer = cluster.submit(2, &replay);
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (409, Some("replay")),
        "{:?}",
        answer.body
    );

    // Batches: per-event results, and the batch bound.
    let good = cluster.pick_up("BATCH-1");
    let batch = json!({"events": [serde_json::to_value(&good).unwrap(), bad_signature]});
    let answer = cluster.post(0, "/v1/events/batch", &batch);
    assert_eq!(answer.status, 207, "{:?}", answer.body);
    assert_eq!(answer.body["accepted"], 1);
    assert_eq!(answer.body["results"][1]["error"], "bad_signature");
    let too_many = json!({"events": vec![Value::Null; 1_001]});
    assert_eq!(cluster.post(0, "/v1/events/batch", &too_many).status, 413);

    // Reads with bad parameters.
    for (path, status) in [
        ("/v1/events/not-hex", 400),
        ("/v1/blocks/minus-one", 400),
        ("/v1/blocks/999999", 404),
        ("/v1/shipments/has%20space", 400),
        ("/v1/serials/123/ABC/provenance", 400),
        ("/v1/nothing-here", 404),
    ] {
        let answer = cluster.get(0, path).unwrap();
        assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
        assert!(
            answer.body["message"].is_string(),
            "{path}: {:?}",
            answer.body
        );
    }
    assert!(cluster.is_running(0));
    assert_eq!(cluster.get(0, "/v1/status").unwrap().status, 200);
}

/// A libp2p node whose key is not in the genesis dials a validator: Noise completes (that is how
/// the validator learns the peer id), then the allow list closes the connection. It never joins
/// gossip, so what it publishes reaches nobody.
#[test]
fn a_peer_not_in_the_genesis_cannot_connect_or_inject() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{gossipsub, noise, tcp, yamux};

    let mut cluster = Cluster::start(4);
    let target: libp2p::Multiaddr = cluster.testnet.genesis.validators[0]
        .p2p_address
        .as_str()
        .parse()
        .unwrap();
    let event = cluster.declare("ROGUE");
    let event_bytes = waybill_protocol::codec::encode(&vec![event.clone()]);
    let topic = gossipsub::IdentTopic::new(format!(
        "/waybill/{}/events/1",
        cluster.testnet.genesis.chain_id
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (outcome, rogue_id) = runtime.block_on(async move {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                gossipsub::Behaviour::<
                    gossipsub::IdentityTransform,
                    gossipsub::AllowAllSubscriptionFilter,
                >::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub::Config::default(),
                )
                .unwrap()
            })
            .unwrap()
            .build();
        let rogue_id = *swarm.local_peer_id();
        swarm.behaviour_mut().subscribe(&topic).unwrap();
        swarm.dial(target).unwrap();
        let deadline = tokio::time::sleep(Duration::from_secs(15));
        tokio::pin!(deadline);
        let mut outcome = "still connected after 15 s";
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { .. } => {
                        let _ = swarm.behaviour_mut().publish(topic.clone(), event_bytes.clone());
                    }
                    SwarmEvent::ConnectionClosed { .. } => { outcome = "closed"; break; }
                    SwarmEvent::OutgoingConnectionError { .. } => { outcome = "refused"; break; }
                    _ => {}
                },
            }
        }
        (outcome, rogue_id)
    });
    assert!(matches!(outcome, "closed" | "refused"), "{outcome}");
    cluster.wait_until(COMMIT_WAIT, "the three validators as the only peers", |c| {
        let status = c.get(0, "/v1/status").unwrap();
        let peers = status.body["peers"].as_array().unwrap().clone();
        peers.len() == 3 && peers.iter().all(|p| p["peer_id"] != rogue_id.to_string())
    });
    let id = event.body.id().to_hex();
    for node in 0..4 {
        let answer = cluster.get(node, &format!("/v1/events/{id}")).unwrap();
        assert_eq!(
            answer.status, 404,
            "node {node} heard the rogue's event: {:?}",
            answer.body
        );
    }
}

/// The stream reports committed events of the shipment asked for (and only those), and an open
/// stream does not hold up a clean stop.
#[test]
fn the_event_stream_reports_one_shipments_commits_and_does_not_block_a_stop() {
    use std::io::BufRead;

    let mut cluster = Cluster::start(4);
    let url = format!("{}/v1/stream?shipment=WATCHED", cluster.api[1]);
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let agent = cluster.agent_with_timeout(Some("customs"), None);
    std::thread::spawn(move || {
        let response = agent.get(&url).call().unwrap();
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if lines_tx.send(data.trim().to_string()).is_err() {
                    break;
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let other = cluster.declare("UNWATCHED");
    id_of(&cluster.submit(0, &other));
    let watched = cluster.pick_up("WATCHED");
    let id = id_of(&cluster.submit(2, &watched));
    let data = lines_rx
        .recv_timeout(COMMIT_WAIT)
        .expect("a streamed event");
    let event: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["event"]["body"]["shipment"], "WATCHED");
    assert_eq!(event["outcome"], "applied");
    // Stopping node 1 with the stream still open: exit 0, well within the harness's 30 s.
    cluster.stop(1);
}

/// A genesis validator's key in the wrong hands (node 3's, used by this test) may connect, but
/// what it gossips is checked before it is forwarded: its valid event travels on and commits;
/// a bad signature is rejected at the first hop, counted, and costs the sender its score, after
/// which the rest of its invalid messages (unknown signer, undecodable bytes, more forgeries)
/// are ignored unread.
/// Validator 3's key in other hands: node 3 is killed and a libp2p node with its key dials
/// node 0, waits until node 0 subscribed towards it, and publishes `messages` (topic, bytes) in
/// order. Returns the sender's score at node 0 before and after.
fn publish_as_validator_3(cluster: &mut Cluster, messages: Vec<(&str, Vec<u8>)>) -> (f64, f64) {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{gossipsub, noise, tcp, yamux};

    let node_key = validator_3_key(cluster);
    let identity = waybill_node::network::identity(&node_key).unwrap();
    let impostor = identity.public().to_peer_id().to_string();
    let target: libp2p::Multiaddr = cluster.testnet.genesis.validators[0]
        .p2p_address
        .as_str()
        .parse()
        .unwrap();
    let chain = cluster.testnet.genesis.chain_id.clone();
    let topic = |name: &str| gossipsub::IdentTopic::new(format!("/waybill/{chain}/{name}/1"));
    let events_topic = topic("events");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let score_of = |cluster: &Cluster| {
        let status = cluster.get(0, "/v1/status").unwrap();
        status.body["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["peer_id"] == impostor.as_str())
            .and_then(|p| p["score"].as_f64())
    };
    let cluster_ref = &*cluster;
    // The swarm is handed back so the connection stays open while node 0 is asked about it.
    let (_swarm, before) = runtime.block_on(async move {
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|key| {
                gossipsub::Behaviour::<gossipsub::IdentityTransform, gossipsub::AllowAllSubscriptionFilter>::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub::Config::default(),
                )
                .unwrap()
            })
            .unwrap()
            .build();
        swarm.behaviour_mut().subscribe(&events_topic).unwrap();
        swarm.dial(target).unwrap();
        let deadline = tokio::time::sleep(Duration::from_secs(20));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => panic!("node 0 never subscribed to the events topic towards us"),
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) = event {
                        if t == events_topic.hash() {
                            // Node 0 refreshes peer scores every 500 ms.
                            let until = tokio::time::Instant::now() + Duration::from_millis(700);
                            while tokio::time::Instant::now() < until {
                                let _ = tokio::time::timeout(Duration::from_millis(100), swarm.select_next_some()).await;
                            }
                            let before = score_of(cluster_ref).expect("node 0 lists the sender");
                            for (name, message) in &messages {
                                swarm.behaviour_mut().publish(topic(name), message.clone()).unwrap();
                            }
                            // Give the messages time to be sent and judged.
                            let until = tokio::time::Instant::now() + Duration::from_secs(1);
                            while tokio::time::Instant::now() < until {
                                let _ = tokio::time::timeout(Duration::from_millis(100), swarm.select_next_some()).await;
                            }
                            return (swarm, before);
                        }
                    }
                }
            }
        }
    });
    (before, score_of(cluster).expect("node 0 lists the sender"))
}

fn validator_3_key(cluster: &mut Cluster) -> waybill_protocol::Keypair {
    cluster.kill(3);
    let path = cluster.testnet.config_paths[3]
        .parent()
        .unwrap()
        .join("node.key");
    waybill_protocol::files::KeyFile::read(&path, None)
        .unwrap()
        .keypair
}

#[test]
fn invalid_gossip_is_not_forwarded_and_lowers_the_senders_score() {
    let mut cluster = Cluster::start(4);
    let good = cluster.declare("GOSSIP");
    let mut bad_signature = good.clone();
    bad_signature.signature.0[0] ^= 1;
    let mut unknown_signer = cluster.declare("GOSSIP-2");
    unknown_signer.body.signer.org = waybill_protocol::OrgId::new("nobody").unwrap();
    let mut messages: Vec<(&str, Vec<u8>)> = vec![
        (
            "events",
            waybill_protocol::codec::encode(&vec![good.clone()]),
        ),
        (
            "events",
            waybill_protocol::codec::encode(&vec![bad_signature.clone()]),
        ),
        (
            "events",
            waybill_protocol::codec::encode(&vec![unknown_signer]),
        ),
        ("events", b"not a batch at all".to_vec()),
    ];
    // More bad signatures, each a different event: invalid messages cost quadratically.
    for i in 0..10 {
        let mut forged = cluster.declare(&format!("FORGED-{i}"));
        forged.signature.0[0] ^= 1;
        messages.push(("events", waybill_protocol::codec::encode(&vec![forged])));
    }
    let (score_before, score_after) = publish_as_validator_3(&mut cluster, messages);
    assert!(
        score_after < score_before - 100.0,
        "the sender's score went from {score_before} to {score_after}"
    );
    let metrics = cluster.metrics(0).unwrap();
    // The first invalid message is judged and counted; it costs the sender so much score that
    // node 0 then ignores the rest of what it sends (graylisted) until the penalty decays.
    assert!(
        metrics.contains("waybill_gossip_invalid_total{reason=\"bad_signature\"} "),
        "no invalid gossip counted:\n{metrics}"
    );
    // The good event got through and travels on; the bad ones went no further than node 0.
    let good_id = good.body.id().to_hex();
    cluster.wait_until(COMMIT_WAIT, "the valid gossiped event to commit", |c| {
        (0..3).all(|node| c.committed_on(node, &good_id))
    });
    for node in [1, 2] {
        let metrics = cluster.metrics(node).unwrap();
        assert!(
            !metrics.contains("waybill_gossip_invalid_total{"),
            "node {node} received invalid gossip:\n{metrics}"
        );
    }
}

/// A validator signs a proposal, with a block, for a round that is not its own: the proposal
/// proves it faulty and its block is not held; the chain goes on.
#[test]
fn a_proposal_for_another_validators_round_is_refused_and_costs_its_signer() {
    let mut cluster = Cluster::start(4);
    let node_key = validator_3_key(&mut cluster);
    let chain_id = cluster.testnet.genesis.chain_id.clone();
    let header = waybill_protocol::BlockHeader {
        chain_id: chain_id.clone(),
        height: 1,
        rules_version: waybill_protocol::rules_version::RulesVersion::LATEST,
        time_ms: 1,
        prev_block_hash: waybill_protocol::Hash::ZERO,
        last_commit_hash: waybill_protocol::BlockHeader::last_commit_hash(None),
        proposer: waybill_protocol::ValidatorIndex(3),
        events_root: waybill_protocol::Hash::ZERO,
        event_count: 0,
        log_size: 0,
        log_root: waybill_protocol::Hash::ZERO,
        index_root: waybill_protocol::Hash::ZERO,
        validators_hash: waybill_protocol::Hash::ZERO,
    };
    // Height 1, round 0 is validator 1's to propose.
    let proposal = waybill_protocol::block::Proposal {
        height: 1,
        round: 0,
        block_hash: header.hash(),
        valid_round: None,
        proposer: waybill_protocol::ValidatorIndex(3),
    }
    .sign(&chain_id, &node_key);
    let out_of_turn = waybill_node::network::wire::ConsensusGossip::Proposal {
        proposal,
        block: Box::new(waybill_node::network::wire::CompactBody {
            header,
            last_commit: None,
            event_ids: Vec::new(),
        }),
    };
    let message = ("consensus", waybill_protocol::codec::encode(&out_of_turn));
    let (before, after) = publish_as_validator_3(&mut cluster, vec![message]);
    assert!(after < before - 100.0, "score from {before} to {after}");
    let metrics = cluster.metrics(0).unwrap();
    assert!(
        metrics.contains("waybill_gossip_invalid_total{reason=\"not_the_rounds_proposer\"} 1"),
        "{metrics}"
    );
    let event = cluster.declare("AFTER-OUT-OF-TURN");
    let id = id_of(&cluster.submit(1, &event));
    cluster.wait_until(COMMIT_WAIT, "the chain to go on", |c| {
        (0..3).all(|node| c.committed_on(node, &id))
    });
}
