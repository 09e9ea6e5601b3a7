//! The node–client contract, held together three ways: the router serves exactly the routes of
//! `waybill_protocol::api::ROUTES` (asked by request), `openapi.json` documents those routes
//! with those statuses, and each documented answer schema names the fields the contract's type
//! serialises, checked on real answers that the SDK's types parse.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use waybill_protocol::api::{
    Accepted, BatchAnswer, BatchFiling, BlockAnswer, DeclarationListing, Endpoint, ErrorAnswer,
    EventStatusAnswer, EvidenceAnswer, FeedAnswer, Method, ParticularsAnswer, ROUTES, Route,
    SerialListing, ShipmentAnswer, Status,
};
use waybill_protocol::provenance::{ProvenancePage, ProvenanceProof};
use waybill_tests::cluster::{Answer, Cluster};

const SHIPMENT: &str = "CONTRACT-1";
const GTIN: &str = "04012345000016";

fn openapi() -> Value {
    serde_json::from_str(include_str!("../../node/src/openapi.json")).expect("openapi.json")
}

/// `openapi.json`'s operation for a route.
fn operation<'a>(openapi: &'a Value, route: &Route) -> &'a Value {
    let method = route.method.as_str().to_lowercase();
    let operation = &openapi["paths"][route.path][&method];
    assert!(
        operation.is_object(),
        "openapi.json has no {} {}",
        route.method.as_str(),
        route.path
    );
    operation
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(openapi: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            openapi
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} is not in openapi.json"))
        }
        None => value,
    }
}

/// The schema name of a route's success answer in `openapi.json`.
fn documented_answer(openapi: &Value, route: &Route) -> Option<String> {
    let success = route.statuses.iter().find(|s| (200..300).contains(*s))?;
    let response = resolve(
        openapi,
        &operation(openapi, route)["responses"][success.to_string()],
    );
    let schema = &response["content"]["application/json"]["schema"]["$ref"];
    schema
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_string)
}

#[test]
fn openapi_documents_every_route_with_its_statuses_and_answer() {
    let openapi = openapi();
    let mut documented = BTreeSet::new();
    for (path, methods) in openapi["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let routed: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method.as_str(), r.path))
        .collect();
    assert_eq!(
        documented, routed,
        "openapi.json paths ⇄ the contract's routes"
    );
    for route in &ROUTES {
        let responses = operation(&openapi, route)["responses"]
            .as_object()
            .expect("responses");
        let statuses: BTreeSet<u16> = responses
            .keys()
            .map(|s| s.parse().expect("a numeric status"))
            .collect();
        let expected: BTreeSet<u16> = route.statuses.iter().copied().collect();
        assert_eq!(
            statuses,
            expected,
            "{} {}: statuses",
            route.method.as_str(),
            route.path
        );
        assert_eq!(
            documented_answer(&openapi, route).as_deref(),
            route.answer,
            "{} {}: the answer's schema",
            route.method.as_str(),
            route.path
        );
    }
}

/// Checks a real answer against the contract: the SDK's type parses it, and its fields are
/// those the schema documents (every one it has is documented, every required one is there).
fn check_answer<T: DeserializeOwned>(openapi: &Value, schema: &str, body: &Value) {
    serde_json::from_value::<T>(body.clone()).unwrap_or_else(|error| {
        panic!("{schema}: the contract's type does not parse {body}: {error}")
    });
    let documented = &openapi["components"]["schemas"][schema];
    let properties: HashSet<&str> = documented["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {schema} has no properties"))
        .keys()
        .map(String::as_str)
        .collect();
    let fields: HashSet<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let undocumented: Vec<_> = fields.difference(&properties).collect();
    assert!(
        undocumented.is_empty(),
        "{schema}: undocumented fields {undocumented:?} in {body}"
    );
    for required in documented["required"].as_array().into_iter().flatten() {
        let required = required.as_str().expect("a field name");
        assert!(
            fields.contains(required),
            "{schema}: {required} missing from {body}"
        );
    }
}

fn check_schema(openapi: &Value, schema: &str, body: &Value) {
    match schema {
        "Accepted" => check_answer::<Accepted>(openapi, schema, body),
        "BatchAnswer" => check_answer::<BatchAnswer>(openapi, schema, body),
        "EventStatusAnswer" => check_answer::<EventStatusAnswer>(openapi, schema, body),
        "ShipmentAnswer" => check_answer::<ShipmentAnswer>(openapi, schema, body),
        "ParticularsAnswer" => check_answer::<ParticularsAnswer>(openapi, schema, body),
        "SerialListing" => check_answer::<SerialListing>(openapi, schema, body),
        "DeclarationListing" => check_answer::<DeclarationListing>(openapi, schema, body),
        "BlockAnswer" => check_answer::<BlockAnswer>(openapi, schema, body),
        "FeedAnswer" => check_answer::<FeedAnswer>(openapi, schema, body),
        "Status" => check_answer::<Status>(openapi, schema, body),
        "EvidenceAnswer" => check_answer::<EvidenceAnswer>(openapi, schema, body),
        other => panic!("no contract type is named {other}"),
    }
}

/// A request each endpoint answers in earnest: its path with real segments, and a body.
fn sample(cluster: &mut Cluster, endpoint: Endpoint, event_id: &str) -> (String, Option<Vec<u8>>) {
    let path = match endpoint {
        Endpoint::SubmitEvent => {
            let event = cluster.pick_up("CONTRACT-2");
            return (endpoint.path(&[]), json(&event));
        }
        Endpoint::SubmitDeclaration => {
            let event = cluster.declare("CONTRACT-2");
            let filing = waybill_protocol::api::DeclarationFiling {
                particulars: waybill_tests::filed_particulars(&event).expect("particulars"),
                event,
            };
            return (endpoint.path(&[]), json(&filing));
        }
        Endpoint::SubmitBatch => {
            let filing = BatchFiling {
                events: vec![cluster.pick_up("CONTRACT-3")],
                particulars: Vec::new(),
            };
            return (endpoint.path(&[]), json(&filing));
        }
        Endpoint::EventStatus => endpoint.path(&[event_id]),
        Endpoint::ShipmentState | Endpoint::ShipmentProvenance | Endpoint::ShipmentParticulars => {
            endpoint.path(&[SHIPMENT])
        }
        Endpoint::ShipmentProvenancePage => format!("{}?from=1", endpoint.path(&[SHIPMENT])),
        Endpoint::SerialProvenance => endpoint.path(&[GTIN, "SN1"]),
        Endpoint::SerialProvenancePage => format!("{}?from=1", endpoint.path(&[GTIN, "SN1"])),
        Endpoint::GtinSerials | Endpoint::GtinProvenance => endpoint.path(&[GTIN]),
        Endpoint::GtinProvenancePage => format!("{}?from=1", endpoint.path(&[GTIN])),
        Endpoint::OperatorAccreditations => endpoint.path(&["NL000000001"]),
        Endpoint::MemberAccreditations => endpoint.path(&["platform"]),
        Endpoint::PartyAdverse => format!("{}?member=platform", endpoint.path(&[])),
        Endpoint::ConsigneeDeclarations => {
            format!("{}?name=Erika%20Mustermann&country=DE", endpoint.path(&[]))
        }
        Endpoint::Block | Endpoint::Feed => endpoint.path(&["1"]),
        Endpoint::LatestBlock | Endpoint::Status | Endpoint::Evidence | Endpoint::OpenApi => {
            endpoint.path(&[])
        }
        Endpoint::Stream => endpoint.path(&[]),
    };
    (path, None)
}

fn json(body: &impl serde::Serialize) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(body).expect("a contract type serialises"))
}

/// The stream never ends: only its status and media type are read.
fn stream_status(cluster: &Cluster, path: &str) -> u16 {
    let agent = cluster.agent_with_timeout(Some("customs"), Some(Duration::from_secs(5)));
    let response = agent
        .get(format!("{}{path}", cluster.api[0]))
        .call()
        .expect("the stream answers");
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(media.starts_with("text/event-stream"), "{path}: {media}");
    response.status().as_u16()
}

fn ask(cluster: &Cluster, method: Method, path: &str, body: Option<Vec<u8>>) -> Answer {
    let answer = match method {
        Method::Get => cluster.get(0, path),
        Method::Post => cluster.post_raw(0, path, body.unwrap_or_default()),
    };
    answer.unwrap_or_else(|| panic!("node 0 did not answer {} {path}", method.as_str()))
}

#[test]
fn the_router_serves_the_contract_and_its_answers_are_the_documented_types() {
    let openapi = openapi();
    let mut cluster = Cluster::start(4);
    let pick_up = cluster.pick_up(SHIPMENT);
    let declaration = cluster.declare(SHIPMENT);
    let mut ids = Vec::new();
    for event in [&pick_up, &declaration] {
        let answer = cluster.submit(0, event);
        assert_eq!(answer.status, 202, "{}", answer.body);
        ids.push(answer.body["id"].as_str().expect("id").to_string());
    }
    let last = ids.last().expect("an id").clone();
    cluster.wait_until(Duration::from_secs(30), "the declaration to commit", |c| {
        c.committed_on(0, &last)
    });

    let mut checked = BTreeSet::new();
    for route in &ROUTES {
        let (path, body) = sample(&mut cluster, route.endpoint, &ids[0]);
        let what = format!("{} {path}", route.method.as_str());
        if route.endpoint == Endpoint::Stream {
            let status = stream_status(&cluster, &path);
            assert_eq!(status, 200, "{what}");
            continue;
        }
        let answer = ask(&cluster, route.method, &path, body);
        assert!(
            route.statuses.contains(&answer.status),
            "{what} answered {} {}, not one of {:?}",
            answer.status,
            answer.body,
            route.statuses
        );
        assert_ne!(
            answer.body["error"], "no_such_route",
            "{what} is not routed"
        );
        if let (Some(schema), true) = (route.answer, (200..300).contains(&answer.status)) {
            check_schema(&openapi, schema, &answer.body);
            checked.insert(schema);
        } else if answer.status == 404 && answer.body.get("error").is_none() {
            // A key never recorded: the proof of its absence, whole or as a page.
            let paged = path.contains("/pages");
            let parsed = match paged {
                true => serde_json::from_value::<ProvenancePage>(answer.body.clone()).map(drop),
                false => serde_json::from_value::<ProvenanceProof>(answer.body.clone()).map(drop),
            };
            parsed.unwrap_or_else(|error| panic!("{what}: not a proof of absence: {error}"));
        } else if answer.status >= 400 {
            check_answer::<ErrorAnswer>(&openapi, "Error", &answer.body);
        }
        // The other method is refused in the documented shape, naming what the route takes.
        let other = match route.method {
            Method::Get => Method::Post,
            Method::Post => Method::Get,
        };
        let refused = ask(&cluster, other, &path, Some(b"{}".to_vec()));
        assert_eq!(
            refused.status,
            405,
            "{} {path}: {}",
            other.as_str(),
            refused.body
        );
        assert_eq!(
            refused.body["error"], "method_not_allowed",
            "{}",
            refused.body
        );
    }
    // The liveness answer is a Status too.
    let anonymous = cluster
        .get_as(0, None, &Endpoint::Status.path(&[]))
        .expect("status answers");
    check_schema(&openapi, "Status", &anonymous.body);
    assert!(
        anonymous.body.get("chain_id").is_none(),
        "{}",
        anonymous.body
    );

    let named: BTreeSet<&str> = ROUTES.iter().filter_map(|r| r.answer).collect();
    assert_eq!(
        checked, named,
        "every answer type was seen in a real answer"
    );
    let stray = ask(&cluster, Method::Get, "/v1/nothing-here", None);
    assert_eq!(
        (stray.status, &stray.body["error"]),
        (404, &Value::from("no_such_route"))
    );
    cluster.stop_all_and_verify_chains();
}
