//! The EPCIS 2.0 REST gateway (`waybill epcis-gateway`) on a 4-node network, as an existing
//! EPCIS system would use it: capture jobs and a synchronous capture of GS1's official
//! examples, every query parameter the issue names (each answer valid against GS1's JSON
//! schema), pagination by `Link` and `nextPageToken`, `GET /events/{eventID}`, the read
//! policy (another organisation's gateway holds none of these observations), a WebSocket
//! subscription, and a webhook subscription that gets the events committed while its receiver
//! was down, after the gateway restarted, once each and in order.
//!
//! GS1's examples and schema are read in place from `../shared/testdata/epcis`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_protocol::epcis::gs1::Gs1Key;
use waybill_tests::cluster::{Cluster, workspace_binary};
use waybill_tests::gateway::{GatewayProcess, Receiver};

const WAIT: Duration = Duration::from_secs(60);

fn example(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/epcis/examples")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn schema_validator() -> jsonschema::Validator {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/epcis/schema/EPCIS-JSON-Schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// The gateway, spoken to as an EPCIS client does.
struct Epcis<'a> {
    gateway: &'a GatewayProcess,
    agent: ureq::Agent,
    schema: &'a jsonschema::Validator,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Epcis<'_> {
    fn new<'a>(gateway: &'a GatewayProcess, schema: &'a jsonschema::Validator) -> Epcis<'a> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Epcis {
            gateway,
            agent,
            schema,
        }
    }

    fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut response = response.unwrap();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.gateway.token)
    }

    fn get(&self, path: &str) -> Answer {
        let url = format!("{}{path}", self.gateway.url);
        Epcis::answer(
            self.agent
                .get(&url)
                .header("authorization", self.bearer())
                .call(),
        )
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        let url = format!("{}{path}", self.gateway.url);
        let request = self.agent.post(&url).header("authorization", self.bearer());
        Epcis::answer(request.send_json(body))
    }

    /// `GET /events?…` (parameters already encoded): the eventIDs answered, in order, after
    /// checking the answer against GS1's schema.
    fn events(&self, query: &str) -> Vec<String> {
        let answer = self.get(&format!("/events?{query}"));
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        self.ids_of(&answer.body, query)
    }

    fn ids_of(&self, document: &Value, what: &str) -> Vec<String> {
        if let Err(error) = self.schema.validate(document) {
            panic!("{what}: the answer fails GS1's schema: {error}\n{document}");
        }
        document
            .pointer("/epcisBody/queryResults/resultsBody/eventList")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|event| event["eventID"].as_str().unwrap().to_string())
            .collect()
    }

    /// Captures a document as a job and waits for it to finish; the finished job.
    fn capture(&self, document: &Value) -> Value {
        let accepted = self.post("/capture", document);
        assert_eq!(accepted.status, 202, "{}", accepted.body);
        let location = accepted.header("location").unwrap().to_string();
        let deadline = Instant::now() + WAIT;
        loop {
            let job = self.get(&location).body;
            if job["running"] == json!(false) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "capture job still running: {job}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the gateway has recorded `count` events at least.
    fn wait_recorded(&self, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.events("perPage=1000").len() < count {
            assert!(
                Instant::now() < deadline,
                "the gateway recorded fewer than {count}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn digital_link(uri: &str) -> String {
    Gs1Key::read(uri).unwrap().unwrap().digital_link()
}

// The official examples' events this test captures, by eventID.
const SHIPPED_OBJECT: &str =
    "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69?ver=CBV2.0";
const RECEIVED_OBJECT: &str =
    "ni:///sha-256;00e1e6eba3a7cc6125be4793a631f0af50f8322e0ab5f2c0bab994a11cec1d79?ver=CBV2.0";
const AGGREGATION: &str =
    "ni:///sha-256;87b5f18a69993f0052046d4687dfacdf48f7c988cfabda2819688c86b4066a49?ver=CBV2.0";
const TRANSFORMATION: &str =
    "ni:///sha-256;e65c3a997e77f34b58306da7a82ab0fc91c7820013287700f0b50345e5795b97?ver=CBV2.0";
const TRANSACTION: &str =
    "ni:///sha-256;45a99ca926fdb62b61bb2b29620e1dcdd5b0109613700f7e179881d64d8fabf1?ver=CBV2.0";
const ASSOCIATION: &str =
    "ni:///sha-256;3785a2a509892681bb6695cfde36dd75aabdc5d801a028e7b17cded4e0fa320f?ver=CBV2.0";
const RECEIVED_QUANTITY: &str =
    "ni:///sha-256;a98f08ae6ac4de3482054314d637c07010b448d3802dccb028a06aafcc6a4b10?ver=CBV2.0";

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn as_set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

/// A new shipping event (the first of example 9.6.1 at another time, without an eventID).
fn another_shipment(year: u32) -> Value {
    let mut event =
        example("Example_9.6.1-ObjectEvent.jsonld")["epcisBody"]["eventList"][0].clone();
    let object = event.as_object_mut().unwrap();
    object.remove("eventID");
    object.insert(
        "eventTime".into(),
        json!(format!("{year}-01-02T03:04:05.678Z")),
    );
    event
}

/// The eventIDs a receiver got, in order, each delivery checked: schema, signature, names.
fn delivered(
    received: &Arc<Mutex<Vec<waybill_tests::gateway::Received>>>,
    epcis: &Epcis<'_>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for one in received.lock().unwrap().iter() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"subscriber-secret");
        let signature = hex::decode(one.header("gs1-signature").unwrap()).unwrap();
        ring::hmac::verify(&key, &one.body, &signature).expect("GS1-Signature is the body's HMAC");
        let document: Value = serde_json::from_slice(&one.body).unwrap();
        assert_eq!(
            document["epcisBody"]["queryResults"]["queryName"],
            json!("shipping")
        );
        ids.extend(epcis.ids_of(&document, "webhook delivery"));
    }
    ids
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn import_with_cli(cluster: &Cluster, org: &str, document: &Value, dir: &Path) {
    let path = dir.join("cli-document.jsonld");
    std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
    let output = Command::new(workspace_binary("waybill"))
        .arg("import-epcis")
        .arg(&path)
        .args(["--node", &cluster.api[1]])
        .arg("--genesis")
        .arg(&cluster.testnet.genesis_path)
        .arg("--key")
        .arg(cluster.testnet.dir.join(format!("keys/{org}.key")))
        .env_remove("WAYBILL_NODE")
        .env_remove("WAYBILL_GENESIS")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn an_epcis_system_captures_queries_and_subscribes_through_the_gateway() {
    let cluster = Cluster::start(4);
    let schema = schema_validator();
    let dir = cluster.dir.path().join("gateway-carrier-a");
    let gateway = GatewayProcess::start(&cluster, "carrier-a", &cluster.api[0], &dir);
    let epcis = Epcis::new(&gateway, &schema);

    // Without the token nothing is served.
    let anonymous = Epcis::answer(epcis.agent.get(&format!("{}/events", gateway.url)).call());
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.body["type"],
        json!("epcisException:SecurityException")
    );
    let discovery = Epcis::answer(
        epcis
            .agent
            .options(format!("{}/capture", gateway.url))
            .header("authorization", epcis.bearer())
            .call(),
    );
    assert_eq!(discovery.status, 204);
    assert_eq!(
        discovery.header("GS1-Capture-Error-Behaviour"),
        Some("proceed")
    );
    assert_eq!(discovery.header("GS1-EPCIS-Version"), Some("2.0.0"));

    // Subscriptions before anything is captured: a webhook for shipping, a WebSocket for all.
    let created = epcis.post(
        "/queries",
        &json!({"name": "shipping", "query": {"EQ_bizStep": ["shipping"]}}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        epcis
            .post("/queries", &json!({"name": "everything", "query": {}}))
            .status,
        201
    );
    let received = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::start(0, received.clone());
    let subscribed = epcis.post(
        "/queries/shipping/subscriptions",
        &json!({"dest": receiver.url(), "signatureToken": "subscriber-secret", "stream": true}),
    );
    assert_eq!(subscribed.status, 201, "{}", subscribed.body);
    assert!(
        subscribed.body.get("signatureToken").is_none(),
        "the secret is not shown again"
    );
    let scheduled = epcis.post(
        "/queries/shipping/subscriptions",
        &json!({"dest": receiver.url(), "schedule": {"hour": "1"}}),
    );
    assert_eq!(scheduled.status, 400);
    assert_eq!(
        scheduled.body["type"],
        json!("epcisException:SubscriptionControlsException")
    );
    let streamed = websocket(&gateway, "everything");

    // A document breaking the standard is refused whole, naming the event and the field.
    let mut broken = example("Example_9.6.1-ObjectEvent.jsonld");
    broken["epcisBody"]["eventList"][1]["eventTime"] = json!("2005-02-30T20:33:31.116-06:00");
    let refused = epcis.post("/capture", &broken);
    assert_eq!(refused.status, 400, "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("event 1") && detail.contains("/epcisBody/eventList/1/eventTime"),
        "{detail}"
    );
    assert!(
        epcis.get("/capture").body.as_array().unwrap().is_empty(),
        "no job for a refused document"
    );

    // Capture jobs, one per official example; then one event synchronously.
    for name in [
        "Example_9.6.1-ObjectEvent.jsonld",
        "Example_9.6.3-AggregationEvent.jsonld",
        "Example_9.6.4-TransformationEvent.jsonld",
        "transaction_event_all_possible_fields.jsonld",
        "association_event_all_possible_fields.jsonld",
    ] {
        let job = epcis.capture(&example(name));
        assert_eq!(job["success"], json!(true), "{name}: {job}");
        for event in job["waybill:events"].as_array().unwrap() {
            assert_eq!(event["status"], json!("committed"), "{name}: {job}");
        }
    }
    // One event on its own carries its context (the binding's EPCIS-Document-Event).
    let document = example("Example_9.6.2-ObjectEvent.jsonld");
    let mut single = document["epcisBody"]["eventList"][0].clone();
    single["@context"] = document["@context"].clone();
    let created = epcis.post("/events", &single);
    assert_eq!(created.status, 201, "{}", created.body);
    let location = created.header("location").unwrap().to_string();
    assert_eq!(location, format!("/events/{}", encode(RECEIVED_QUANTITY)));
    assert_eq!(
        epcis.ids_of(&epcis.get(&location).body, "GET /events/{id}"),
        vec![RECEIVED_QUANTITY]
    );
    let again = epcis.post("/events", &single);
    assert_eq!(
        again.status, 409,
        "the same event again is a duplicate: {}",
        again.body
    );
    assert_eq!(
        epcis.get("/events/ni%3A%2F%2F%2Fsha-256%3Bnone").status,
        404
    );
    epcis.wait_recorded(7);

    check_queries(&epcis);
    check_pages(&epcis);

    // The webhook got the two shipping events, signed; the WebSocket got all seven.
    wait_for("the webhook deliveries", || {
        delivered(&received, &epcis).len() >= 2
    });
    assert_eq!(
        delivered(&received, &epcis),
        vec![SHIPPED_OBJECT, TRANSACTION]
    );
    wait_for("the WebSocket messages", || {
        streamed.lock().unwrap().len() >= 7
    });
    assert_eq!(
        as_set(streamed.lock().unwrap().clone()),
        set(&[
            SHIPPED_OBJECT,
            RECEIVED_OBJECT,
            AGGREGATION,
            TRANSFORMATION,
            TRANSACTION,
            ASSOCIATION,
            RECEIVED_QUANTITY
        ])
    );

    // Another organisation's gateway: the node's read policy gives it none of these.
    let other = GatewayProcess::start(
        &cluster,
        "carrier-b",
        &cluster.api[2],
        &cluster.dir.path().join("gateway-carrier-b"),
    );
    let other_epcis = Epcis::new(&other, &schema);
    std::thread::sleep(Duration::from_secs(2));
    assert!(other_epcis.events("perPage=1000").is_empty());
    assert_eq!(other_epcis.get(&location).status, 404);
    drop(other);

    // The receiver goes down; an event is captured; the gateway stops; another event is
    // committed without it; the gateway restarts and the receiver comes back: both arrive.
    let port = receiver.port;
    drop(receiver);
    let while_down = epcis.post("/events", &another_shipment(2006));
    assert_eq!(while_down.status, 201, "{}", while_down.body);
    // A job the gateway is stopped in the middle of (receiving events: not for the webhook).
    let mut interrupted = example("Example_9.6.1-ObjectEvent.jsonld");
    let receptions: Vec<Value> = (0..300)
        .map(|i| {
            let mut event = another_shipment(2010);
            event["bizStep"] = json!("receiving");
            event["eventTime"] = json!(format!("2010-01-02T03:{:02}:{:02}Z", i / 60, i % 60));
            event
        })
        .collect();
    interrupted["epcisBody"]["eventList"] = json!(receptions);
    let accepted = epcis.post("/capture", &interrupted);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let interrupted_job = accepted.header("location").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    drop(epcis);
    drop(gateway);
    let mut offline = example("Example_9.6.1-ObjectEvent.jsonld");
    offline["epcisBody"]["eventList"] = json!([another_shipment(2007)]);
    import_with_cli(&cluster, "carrier-a", &offline, cluster.dir.path());
    let gateway = GatewayProcess::start(&cluster, "carrier-a", &cluster.api[0], &dir);
    let epcis = Epcis::new(&gateway, &schema);
    let _receiver = Receiver::start(port, received.clone());
    // The interrupted job is followed up: each event committed, or said not to be submitted.
    let mut job = epcis.get(&interrupted_job).body;
    wait_for("the interrupted job to finish", || {
        job = epcis.get(&interrupted_job).body;
        job["running"] == json!(false)
    });
    let events = job["waybill:events"].as_array().unwrap();
    let committed = events
        .iter()
        .filter(|e| e["status"] == json!("committed"))
        .count();
    let unsent = events
        .iter()
        .filter(|e| e["status"] == json!("refused"))
        .count();
    assert_eq!(committed + unsent, 300, "{job}");
    eprintln!("interrupted job: {committed} committed, {unsent} not submitted");
    let unsent_errors = job["errors"].as_array().unwrap();
    assert!(
        unsent_errors
            .iter()
            .all(|e| e["title"] == json!("not_submitted")),
        "{job}"
    );
    wait_for("the interrupted job's events to be recorded", || {
        epcis
            .events("EQ_bizStep=receiving&GE_eventTime=2010-01-01T00%3A00%3A00Z&LT_eventTime=2011-01-01T00%3A00%3A00Z&perPage=1000")
            .len()
            == committed
    });
    wait_for("the deliveries after the restart", || {
        delivered(&received, &epcis).len() >= 4
    });
    std::thread::sleep(Duration::from_secs(1));
    let all = delivered(&received, &epcis);
    assert_eq!(all.len(), 4, "each event once: {all:?}");
    assert_eq!(all[..2], [SHIPPED_OBJECT, TRANSACTION]);
    let shipped_later = epcis.events("EQ_bizStep=shipping&GE_eventTime=2006-01-01T00%3A00%3A00Z");
    assert_eq!(all[2..], shipped_later[..], "the later ones in order");
}

/// Every query parameter the issue names, with values in the other spelling where there is one.
fn check_queries(epcis: &Epcis<'_>) {
    let all = set(&[
        SHIPPED_OBJECT,
        RECEIVED_OBJECT,
        AGGREGATION,
        TRANSFORMATION,
        TRANSACTION,
        ASSOCIATION,
        RECEIVED_QUANTITY,
    ]);
    let q = |query: &str| as_set(epcis.events(query));
    assert_eq!(q(""), all);
    assert_eq!(
        q("eventType=ObjectEvent"),
        set(&[SHIPPED_OBJECT, RECEIVED_OBJECT, RECEIVED_QUANTITY])
    );
    assert_eq!(
        q("eventType=AggregationEvent%7CTransactionEvent"),
        set(&[AGGREGATION, TRANSACTION])
    );
    let urn_shipping = encode("urn:epcglobal:cbv:bizstep:shipping");
    assert_eq!(
        q(&format!("EQ_bizStep={urn_shipping}")),
        set(&[SHIPPED_OBJECT, TRANSACTION])
    );
    assert_eq!(
        q("EQ_disposition=in_progress"),
        set(&[
            RECEIVED_OBJECT,
            AGGREGATION,
            TRANSFORMATION,
            ASSOCIATION,
            RECEIVED_QUANTITY
        ])
    );
    let item = encode(&digital_link("urn:epc:id:sgtin:0614141.107346.2017"));
    assert_eq!(
        q(&format!("MATCH_epc={item}")),
        set(&[SHIPPED_OBJECT, AGGREGATION, TRANSACTION])
    );
    let pallet = encode("urn:epc:id:sscc:0614141.1234567890");
    assert_eq!(
        q(&format!("MATCH_epc={pallet}")),
        set(&[]),
        "a parent is not an epc"
    );
    assert_eq!(
        q(&format!("MATCH_anyEPC={pallet}")),
        set(&[AGGREGATION, TRANSACTION])
    );
    let dock = encode(&digital_link("urn:epc:id:sgln:0614141.07346.1234"));
    assert_eq!(
        q(&format!("EQ_readPoint={dock}")),
        set(&[SHIPPED_OBJECT, TRANSACTION])
    );
    let site = encode("urn:epc:id:sgln:0614141.00888.0");
    assert_eq!(
        q(&format!("EQ_bizLocation={site}")),
        set(&[AGGREGATION, TRANSACTION, ASSOCIATION, RECEIVED_QUANTITY])
    );
    let day = "GE_eventTime=2005-04-04T00%3A00%3A00Z&LT_eventTime=2005-04-05T00%3A00%3A00Z";
    assert_eq!(q(day), set(&[SHIPPED_OBJECT, TRANSACTION]));
    let offset_day =
        "GE_eventTime=2005-04-03T18%3A00%3A00-06%3A00&LT_eventTime=2005-04-04T18%3A00%3A00-06%3A00";
    assert_eq!(q(offset_day), set(&[SHIPPED_OBJECT, TRANSACTION]));
    assert_eq!(q("GE_recordTime=2000-01-01T00%3A00%3A00Z"), all);
    assert_eq!(q("GE_recordTime=2999-01-01T00%3A00%3A00Z"), set(&[]));
    assert_eq!(
        q(&format!("EQ_bizStep=receiving&MATCH_epc={item}")),
        set(&[AGGREGATION]),
        "parameters combine"
    );
    // A parameter it cannot answer, or a value it cannot read, is named.
    for bad in [
        "EQ_colour=red",
        "EQ_bizStep=shiping",
        "GE_eventTime=2005-02-30T00%3A00%3A00Z",
    ] {
        let answer = epcis.get(&format!("/events?{bad}"));
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(
            answer.body["type"],
            json!("epcisException:QueryParameterException")
        );
        let name = bad.split('=').next().unwrap();
        assert!(
            answer.body["detail"].as_str().unwrap().starts_with(name),
            "{}",
            answer.body
        );
    }
}

/// Pages of 2 by the `Link` header give every event once, in the order of one big page; a
/// token only continues the query it was made for.
fn check_pages(epcis: &Epcis<'_>) {
    let whole = epcis.events("perPage=1000");
    let mut paged = Vec::new();
    let mut next = Some("/events?perPage=2".to_string());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let answer = epcis.get(&path);
        assert_eq!(answer.status, 200, "{path}");
        paged.extend(epcis.ids_of(&answer.body, &path));
        pages += 1;
        next = answer.header("link").map(|link| {
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            link.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string()
        });
    }
    assert_eq!(pages, 4);
    assert_eq!(paged, whole);
    let first = epcis.get("/events?perPage=2");
    let link = first.header("link").unwrap();
    let token = link
        .split("nextPageToken=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let misused = epcis.get(&format!(
        "/events?perPage=2&eventType=ObjectEvent&nextPageToken={token}"
    ));
    assert_eq!(misused.status, 400);
    assert!(
        misused.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("nextPageToken")
    );
}

/// Opens `GET /queries/{name}/events?stream=true` as a WebSocket; the eventIDs it is sent.
fn websocket(gateway: &GatewayProcess, name: &str) -> Arc<Mutex<Vec<String>>> {
    use tungstenite::client::IntoClientRequest;
    let url = format!(
        "{}/queries/{name}/events?stream=true",
        gateway.url.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", gateway.token).parse().unwrap(),
    );
    let (mut socket, response) = tungstenite::connect(request).unwrap();
    assert_eq!(response.status().as_u16(), 101);
    let ids = Arc::new(Mutex::new(Vec::new()));
    let collected = ids.clone();
    std::thread::spawn(move || {
        while let Ok(message) = socket.read() {
            if let tungstenite::Message::Text(text) = message {
                let document: Value = serde_json::from_str(&text).unwrap();
                let list = document
                    .pointer("/epcisBody/queryResults/resultsBody/eventList")
                    .cloned();
                for event in list.and_then(|l| l.as_array().cloned()).unwrap_or_default() {
                    collected
                        .lock()
                        .unwrap()
                        .push(event["eventID"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    });
    ids
}
