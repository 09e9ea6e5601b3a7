//! Customs' actions: risk outcome, hold, inspection result, release, seizure. Each is signed
//! with the officer's key only after a confirmation page that shows the exact event: the sign
//! step rebuilds it from the same fields and refuses if it is not byte for byte the one shown.
//! Nothing is signed on an answer that did not verify.

use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use waybill_protocol::event::{EventKind, InspectionResult, RiskStatus, SignedEvent};
use waybill_protocol::genesis::Role;
use waybill_protocol::{EventBuilder, ShipmentId, Text};

use super::html::{self, Html, text};
use super::{Console, Trouble, blocking, html_page, problem, shipment_id};
use crate::node::EventStatus;

/// A posted action form: what to record, and on the sign step the event shown.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ActionForm {
    token: String,
    action: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
    nonce: Option<u64>,
    time_ms: Option<u64>,
    /// The id of the event the confirmation page showed.
    expected: Option<String>,
}

fn named<T: serde::de::DeserializeOwned>(field: &str, value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| format!("{field}: {value:?} is not one of the choices offered"))
}

fn reason_text(field: &str, value: &str) -> Result<Text, String> {
    Text::new(value.trim()).map_err(|e| format!("{field}: {e}"))
}

/// The event kind a form asks for, or the field that is wrong.
fn kind(form: &ActionForm) -> Result<EventKind, String> {
    Ok(match form.action.as_str() {
        "risk" => EventKind::RiskAssessed {
            status: named::<RiskStatus>("status", &form.status)?,
        },
        "hold" => EventKind::Hold {
            reason: reason_text("reason", &form.reason)?,
        },
        "inspect" => EventKind::Inspect {
            result: named::<InspectionResult>("result", &form.result)?,
            note: reason_text("note", &form.note)?,
        },
        "release" => EventKind::Release,
        "seize" => EventKind::Seize {
            reason: reason_text("reason", &form.reason)?,
        },
        other => {
            return Err(format!(
                "action: {other:?} is not an action the console offers"
            ));
        }
    })
}

fn event(
    console: &Console,
    shipment: &ShipmentId,
    kind: EventKind,
    nonce: u64,
    time_ms: u64,
) -> SignedEvent {
    EventBuilder::new(
        console.rules.genesis().chain_id.clone(),
        console.identity.key_id.clone(),
        nonce,
        shipment.clone(),
        kind,
        time_ms,
    )
    .sign(&console.identity.keypair)
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        text(value).as_str()
    )
}

fn form(
    console: &Console,
    shipment: &ShipmentId,
    action: &str,
    label: &str,
    fields: &str,
) -> String {
    format!(
        "<form class=\"action\" method=\"post\" action=\"/shipments/{}/confirm\"><fieldset><legend>{label}</legend>{}{}{fields}\
<button type=\"submit\" name=\"go\" value=\"{action}\">Review {label_lower}</button></fieldset></form>",
        html::segment(shipment.as_str()),
        hidden("token", &console.token),
        hidden("action", action),
        label_lower = label.to_lowercase(),
    )
}

fn select(id: &str, name: &str, label: &str, options: &[&str]) -> String {
    let options: String = options
        .iter()
        .map(|o| format!("<option value=\"{o}\">{}</option>", o.replace('_', " ")))
        .collect();
    format!(
        "<label for=\"{id}\">{label}</label><select id=\"{id}\" name=\"{name}\">{options}</select>"
    )
}

fn input(id: &str, name: &str, label: &str) -> String {
    format!(
        "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{name}\" required maxlength=\"256\">"
    )
}

/// The action forms of a verified, undecided shipment.
pub fn forms(console: &Console, shipment: &ShipmentId) -> Html {
    let risk = select(
        "risk-status",
        "status",
        "Outcome",
        &[
            "approved",
            "request_for_information",
            "screen",
            "do_not_load",
        ],
    );
    let inspect = format!(
        "{}{}",
        select(
            "inspect-result",
            "result",
            "Result",
            &["compliant", "discrepancy", "prohibited"]
        ),
        input("inspect-note", "note", "What was found")
    );
    let parts = [
        form(console, shipment, "risk", "Risk outcome", &risk),
        form(
            console,
            shipment,
            "hold",
            "Hold",
            &input("hold-reason", "reason", "Reason"),
        ),
        form(console, shipment, "inspect", "Inspection result", &inspect),
        form(console, shipment, "release", "Release", ""),
        form(
            console,
            shipment,
            "seize",
            "Seizure",
            &input("seize-reason", "reason", "Reason"),
        ),
    ];
    Html::trusted(format!("<div class=\"actions\">{}</div>", parts.concat()))
}

/// The shipment, once the form's token and the officer's role are checked; else the page
/// to answer with.
fn allowed(console: &Console, id: &str, form: &ActionForm) -> Result<ShipmentId, Box<Response>> {
    let shipment = shipment_id(console, id)?;
    if !console.is(Role::Customs) {
        return Err(Box::new(problem(
            console,
            StatusCode::FORBIDDEN,
            "Not a customs key",
            "only customs record these results and decisions",
        )));
    }
    if form.token != console.token {
        return Err(Box::new(problem(
            console,
            StatusCode::FORBIDDEN,
            "Form not from this console",
            "token: the form was not issued by this console run; open the shipment page again",
        )));
    }
    Ok(shipment)
}

/// Verifies the shipment again before anything is signed on it.
fn still_open(console: &Console, shipment: &ShipmentId) -> Result<(), Trouble> {
    // The shipment's own verified history says whether it is decided; no whole case file.
    let answer = console.reader().shipment(shipment)?;
    match super::progress::progress(&answer.events()).decided {
        Some(decision) => Err(Trouble::Refused(format!(
            "the shipment is already {decision}"
        ))),
        None => Ok(()),
    }
}

/// `POST /shipments/{id}/confirm`: the exact event that would be signed.
pub async fn confirm(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let shipment = match allowed(&console, &id, &form) {
        Ok(shipment) => shipment,
        Err(page) => return *page,
    };
    let kind = match kind(&form) {
        Ok(kind) => kind,
        Err(field) => {
            return problem(
                &console,
                StatusCode::BAD_REQUEST,
                "The form is not complete",
                &field,
            );
        }
    };
    let now = crate::answer::now_ms();
    let nonce = now.saturating_mul(1000);
    let signed = event(&console, &shipment, kind, nonce, now);
    let id = signed.body.id().to_string();
    let mut fields = [
        ("token", console.token.clone()),
        ("action", form.action.clone()),
        ("status", form.status.clone()),
        ("result", form.result.clone()),
        ("note", form.note.clone()),
        ("reason", form.reason.clone()),
        ("nonce", nonce.to_string()),
        ("time_ms", now.to_string()),
        ("expected", id.clone()),
    ]
    .iter()
    .map(|(n, v)| hidden(n, v))
    .collect::<String>();
    fields.push_str("<button type=\"submit\" id=\"sign\">Sign with my key and submit</button>");
    let body = Html::trusted(format!(
        "<p>You are about to sign this event as <strong>{}</strong> (key {}) and submit it to {}. Nothing is signed until you press the button.</p>\
<pre class=\"event\" aria-label=\"The event to be signed\">{}</pre><p>Event id <code id=\"event-id\">{}</code></p>\
<form method=\"post\" action=\"/shipments/{}/sign\">{fields}</form><p>{}</p>",
        text(console.identity.key_id.org.as_str()).as_str(),
        console.identity.key_id.index,
        text(console.node.base()).as_str(),
        text(&waybill_protocol::json::to_pretty(&signed.body)).as_str(),
        text(&id).as_str(),
        html::segment(shipment.as_str()),
        html::link(
            &format!("/shipments/{}", html::segment(shipment.as_str())),
            "Cancel"
        )
        .as_str(),
    ));
    html_page(html::page(
        &console.frame,
        &format!("Confirm: {} on {shipment}", form.action),
        body,
    ))
}

/// What signing and submitting came to.
enum Outcome {
    Committed {
        id: String,
        height: u64,
    },
    Rejected {
        id: String,
        height: u64,
        reason: String,
    },
}

fn sign_and_submit(
    console: &Console,
    shipment: &ShipmentId,
    form: &ActionForm,
) -> Result<Outcome, String> {
    let kind = kind(form)?;
    let (Some(nonce), Some(time_ms), Some(expected)) =
        (form.nonce, form.time_ms, form.expected.as_deref())
    else {
        return Err("nonce, time_ms, expected: the confirmation step was skipped".into());
    };
    let signed = event(console, shipment, kind, nonce, time_ms);
    let id = signed.body.id();
    if id.to_string() != expected {
        return Err(format!(
            "expected: the event is no longer the one confirmed ({expected}); nothing was signed"
        ));
    }
    still_open(console, shipment).map_err(|trouble| match trouble {
        Trouble::NotVerified(reason) => format!("NOT VERIFIED: {reason}; nothing was submitted"),
        Trouble::Refused(reason) => format!("{reason}; nothing was submitted"),
    })?;
    console.node.submit(&signed).map_err(|e| e.to_string())?;
    let state = console
        .node
        .wait_committed(
            &id,
            Duration::from_secs(crate::limits::CONSOLE_COMMIT_WAIT_SECONDS),
        )
        .map_err(|e| e.to_string())?;
    console.index.touch(shipment);
    Ok(match state {
        EventStatus::Committed { height, .. } => Outcome::Committed {
            id: id.to_string(),
            height,
        },
        EventStatus::Rejected { height, reason, .. } => Outcome::Rejected {
            id: id.to_string(),
            height,
            reason,
        },
        EventStatus::Pending => return Err(format!("event {id} is still pending")),
    })
}

/// `POST /shipments/{id}/sign`: signs the confirmed event, submits it, waits for its block.
pub async fn sign(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let shipment = match allowed(&console, &id, &form) {
        Ok(shipment) => shipment,
        Err(page) => return *page,
    };
    let worker = console.clone();
    let wanted = shipment.clone();
    let Some(outcome) = blocking(move || sign_and_submit(&worker, &wanted, &form)).await else {
        return problem(
            &console,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Submission stopped",
            "the submission stopped",
        );
    };
    let back = html::link(
        &format!("/shipments/{}", html::segment(shipment.as_str())),
        "Back to the shipment",
    );
    let body = match outcome {
        Ok(Outcome::Committed { id, height }) => Html::trusted(format!(
            "<div class=\"banner good\" role=\"status\"><strong>COMMITTED</strong> at height <span id=\"committed-height\">{height}</span>, event <code>{}</code></div><p>{}</p>",
            text(&id).as_str(),
            back.as_str()
        )),
        Ok(Outcome::Rejected { id, height, reason }) => Html::trusted(format!(
            "<div class=\"banner bad\" role=\"alert\"><strong>REJECTED</strong> by the ledger at height {height}: {} (event <code>{}</code>)</div><p>{}</p>",
            text(&reason).as_str(),
            text(&id).as_str(),
            back.as_str()
        )),
        Err(reason) => {
            let mut body = html::refused(&reason);
            body.push(back);
            body
        }
    };
    html_page(html::page(
        &console.frame,
        &format!("Submitted on {shipment}"),
        body,
    ))
}
