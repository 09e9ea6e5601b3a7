//! The lists: the customs work list (by lane, filtered, live), the carrier's and platform's own
//! shipments with what blocks each, and the brand's serial audit of a GTIN.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use waybill_protocol::event::{EventKind, Sgtin};
use waybill_protocol::{Gtin, ShipmentId};

use super::html::{self, Html, link, text, time};
use super::index::{Entry, Snapshot, WorkItem};
use super::{CaseView, Console, Trouble, blocking, html_page, problem};
use crate::audit::{AuditClass, AuditReport};
use crate::customs::risk::Lane;
use crate::customs::units::Money;
use crate::disclosure::Disclosure;

/// The work list's filters: a lane and a search over shipment, consignee, HS code, platform.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct WorkFilter {
    pub lane: Option<String>,
    pub q: Option<String>,
}

/// The lanes in the order an officer works them.
const LANES: [Lane; 5] = [Lane::Hold, Lane::Red, Lane::Yellow, Lane::Blue, Lane::Green];

fn lane_rank(lane: Option<Lane>) -> usize {
    lane.and_then(|l| LANES.iter().position(|x| *x == l))
        .unwrap_or(LANES.len())
}

/// A shipment's line, from its verified view.
pub fn work_item(shipment: &ShipmentId, view: &CaseView) -> WorkItem {
    let declaration = view
        .case
        .particulars
        .as_ref()
        .and_then(Disclosure::declaration);
    let report = view.report.as_ref();
    let mut findings: Vec<_> = report
        .map(|r| {
            r.findings
                .iter()
                .filter(|f| f.weight > 0 || f.verdict == crate::release::Verdict::Hold)
                .collect()
        })
        .unwrap_or_default();
    findings.sort_by_key(|f| std::cmp::Reverse(f.weight));
    let summary = view
        .case
        .events
        .iter()
        .find_map(|e| match e.body.kind.effective() {
            EventKind::Declare(summary) => Some(summary),
            _ => None,
        });
    WorkItem {
        shipment: shipment.clone(),
        height: view.case.answer.history.height,
        lane: report.map(|r| r.lane),
        score: report.map_or(0, |r| r.score),
        declared_ms: view.progress.declared_ms,
        arrived_ms: view.progress.arrived_ms,
        platform: view.progress.declared_by.clone(),
        custodian: view.progress.custodian().cloned(),
        value: declaration.and_then(|d| {
            d.total_value_minor()
                .map(|minor| Money::new(minor, &d.currency))
        }),
        duty: report
            .and_then(|r| r.assessment.as_ref())
            .and_then(|a| a.total_due.clone()),
        reasons: findings.iter().take(3).map(|f| f.detail.clone()).collect(),
        consignee: declaration.map(|d| format!("{} ({})", d.consignee.name, d.consignee.country)),
        hs_codes: summary
            .map(|s| s.goods.iter().map(|g| g.hs6.to_string()).collect())
            .unwrap_or_default(),
        state: view.progress.state,
        blockers: view.progress.blockers.clone(),
        decided: view.progress.decided,
    }
}

fn matches(item: &WorkItem, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return true;
    }
    let fields = [
        Some(item.shipment.to_string()),
        item.consignee.clone(),
        item.platform.as_ref().map(|p| p.to_string()),
    ];
    fields
        .iter()
        .flatten()
        .any(|f| f.to_lowercase().contains(&q))
        || item.hs_codes.iter().any(|code| code.starts_with(&q))
}

fn money(value: &Option<Money>) -> Html {
    match value {
        Some(value) => text(&value.to_string()),
        None => html::element("span", "muted", "—"),
    }
}

fn shipment_link(shipment: &ShipmentId) -> Html {
    link(
        &format!("/shipments/{}", html::segment(shipment.as_str())),
        shipment.as_str(),
    )
}

fn lane_badge(lane: Option<Lane>) -> Html {
    match lane {
        Some(lane) => html::Html::trusted(format!(
            "<span class=\"lane lane-{}\" title=\"{}\">{}</span>",
            lane.name().to_lowercase(),
            text(lane.meaning()).as_str(),
            lane.name()
        )),
        None => html::element("span", "muted", "—"),
    }
}

fn work_row(shipment: &ShipmentId, entry: &Entry) -> Vec<Html> {
    let unverified = |label: &str, reason: &str| {
        vec![
            shipment_link(shipment),
            html::element("span", "lane lane-unverified", label),
            html::element("span", "reason", reason),
            Html::new(),
            Html::new(),
            Html::new(),
            Html::new(),
        ]
    };
    match entry {
        Entry::Pending => unverified("VERIFYING", "being verified against the genesis"),
        Entry::NotVerified(reason) => unverified("NOT VERIFIED", reason),
        Entry::Refused(reason) => unverified("REFUSED", reason),
        Entry::Ready(item) => vec![
            shipment_link(shipment),
            lane_badge(item.lane),
            item.reasons
                .iter()
                .map(|r| html::element("li", "", r))
                .collect::<Html>()
                .wrap("ul", "reasons"),
            item.arrived_ms
                .map_or_else(|| html::element("span", "muted", "not arrived"), time),
            item.platform
                .as_ref()
                .map_or_else(Html::new, |p| text(p.as_str())),
            money(&item.value),
            money(&item.duty),
        ],
    }
}

/// The work list's rows under `filter`: consignments awaiting a decision, worst lane first.
fn work_rows(snapshot: &Snapshot, filter: &WorkFilter) -> (Html, usize) {
    let lane = filter.lane.as_deref().unwrap_or("").to_lowercase();
    let q = filter.q.as_deref().unwrap_or("");
    let mut rows: Vec<(&ShipmentId, &Entry)> = snapshot
        .entries
        .iter()
        .filter(|(_, entry)| match entry {
            Entry::Ready(item) => {
                item.decided.is_none()
                    && matches(item, q)
                    && (lane.is_empty()
                        || item
                            .lane
                            .is_some_and(|l| l.name().eq_ignore_ascii_case(&lane)))
            }
            _ => lane.is_empty() || lane == "unverified",
        })
        .map(|(s, e)| (s, e))
        .collect();
    rows.sort_by_key(|(shipment, entry)| match entry {
        Entry::Ready(item) => (
            lane_rank(item.lane),
            item.declared_ms.unwrap_or(0),
            (*shipment).clone(),
        ),
        _ => (0, 0, (*shipment).clone()),
    });
    let count = rows.len();
    let html = rows
        .into_iter()
        .take(crate::limits::CONSOLE_WORKLIST_ROWS_MAX)
        .map(|(shipment, entry)| {
            let cells: Html = work_row(shipment, entry)
                .into_iter()
                .map(|cell| cell.wrap("td", ""))
                .collect();
            cells.wrap_attr(
                "tr",
                &format!("data-shipment=\"{}\"", text(shipment.as_str()).as_str()),
            )
        })
        .collect();
    (html, count)
}

fn filter_query(filter: &WorkFilter) -> String {
    format!(
        "lane={}&q={}",
        html::segment(filter.lane.as_deref().unwrap_or("")),
        html::segment(filter.q.as_deref().unwrap_or(""))
    )
}

fn filter_form(filter: &WorkFilter) -> Html {
    let chosen = filter.lane.as_deref().unwrap_or("").to_lowercase();
    let mut options = String::from("<option value=\"\">every lane</option>");
    for lane in LANES
        .iter()
        .map(|l| l.name().to_lowercase())
        .chain(["unverified".to_string()])
    {
        let selected = if lane == chosen { " selected" } else { "" };
        options.push_str(&format!(
            "<option value=\"{lane}\"{selected}>{lane}</option>"
        ));
    }
    Html::trusted(format!(
        "<form class=\"filters\" method=\"get\" action=\"/\" role=\"search\">\
<label for=\"lane\">Lane</label><select id=\"lane\" name=\"lane\">{options}</select>\
<label for=\"q\">Search shipment, consignee, HS code, platform</label>\
<input id=\"q\" name=\"q\" value=\"{}\" maxlength=\"64\">\
<button type=\"submit\">Filter</button></form>",
        text(filter.q.as_deref().unwrap_or("")).as_str()
    ))
}

/// Consignments awaiting a decision, by lane, each a link to that lane's list.
fn lane_counts(snapshot: &Snapshot) -> Html {
    let mut counts = String::new();
    for lane in LANES {
        let n = snapshot
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Ready(i) if i.decided.is_none() && i.lane == Some(lane)))
            .count();
        counts.push_str(&format!(
            "<li>{}: {n}</li>",
            link(
                &format!("/?lane={}", lane.name().to_lowercase()),
                lane.name()
            )
            .as_str()
        ));
    }
    Html::trusted(format!(
        "<ul class=\"counts\" aria-label=\"Consignments by lane\">{counts}</ul>"
    ))
}

fn follow_note(snapshot: &Snapshot) -> Html {
    let mut note = format!(
        "Following the node's blocks: as of block {}. {} consignment(s) known, {} being verified.",
        snapshot.followed_height,
        snapshot.entries.len(),
        snapshot.pending
    );
    if let Some(trouble) = &snapshot.trouble {
        note.push_str(&format!(" The node could not be followed: {trouble}."));
    }
    if snapshot.full {
        note.push_str(" The console's index is full; older consignments are not listed.");
    }
    html::element("p", "follow", &note)
}

/// What the live update replaces: the counts, how far the node is followed, and the table.
fn worklist_part(snapshot: &Snapshot, filter: &WorkFilter) -> Html {
    let (rows, count) = work_rows(snapshot, filter);
    let mut part = lane_counts(snapshot);
    part.push(follow_note(snapshot));
    part.push(html::element(
        "p",
        "count",
        &match count > crate::limits::CONSOLE_WORKLIST_ROWS_MAX {
            false => format!("{count} consignment(s) awaiting a decision"),
            true => format!(
                "{count} consignment(s) awaiting a decision; the worst {} are shown: filter by lane or search to narrow",
                crate::limits::CONSOLE_WORKLIST_ROWS_MAX
            ),
        },
    ));
    part.push_str(&format!(
        "<table id=\"work\"><caption>Consignments awaiting a decision, worst lane first</caption><thead><tr>\
<th scope=\"col\">Shipment</th><th scope=\"col\">Lane</th><th scope=\"col\">Top reasons</th><th scope=\"col\">Arrival</th>\
<th scope=\"col\">Declaring platform</th><th scope=\"col\">Value</th><th scope=\"col\">Duty due</th></tr></thead>\
<tbody>{}</tbody></table>",
        rows.as_str()
    ));
    part
}

/// `GET /`: the customs work list.
pub async fn worklist(
    State(console): State<Arc<Console>>,
    Query(filter): Query<WorkFilter>,
) -> Response {
    let snapshot = console.index.snapshot();
    let mut body = filter_form(&filter);
    body.push_str(&format!(
        "<div data-live=\"/worklist/rows?{}\">{}</div>",
        text(&filter_query(&filter)).as_str(),
        worklist_part(&snapshot, &filter).as_str()
    ));
    html_page(html::page(&console.frame, "Work list", body))
}

/// `GET /worklist/rows`: the live part of the work list alone, for the page's live update.
pub async fn worklist_rows(
    State(console): State<Arc<Console>>,
    Query(filter): Query<WorkFilter>,
) -> Response {
    let part = worklist_part(&console.index.snapshot(), &filter);
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        part.into_string(),
    )
        .into_response()
}

/// `GET /live`: an event each time the index changes (server-sent events).
pub async fn live(
    State(console): State<Arc<Console>>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = console.index.watch();
    let events = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        let version = *receiver.borrow_and_update();
        // Changes come in bursts while a block is verified: one event a quarter second.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        Some((
            Ok(SseEvent::default()
                .event("changed")
                .data(version.to_string())),
            receiver,
        ))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// `GET /mine`: the carrier's or platform's own shipments and what blocks each.
pub async fn mine(State(console): State<Arc<Console>>) -> Response {
    let snapshot = console.index.snapshot();
    let rows = snapshot
        .entries
        .iter()
        .map(|(shipment, entry)| match entry {
            Entry::Ready(item) => vec![
                shipment_link(shipment),
                text(item.state),
                item.custodian.as_ref().map_or_else(
                    || html::element("span", "muted", "none"),
                    |c| text(c.as_str()),
                ),
                match item.blockers.is_empty() {
                    true => html::element("span", "clear", "nothing blocks it"),
                    false => item
                        .blockers
                        .iter()
                        .map(|b| html::element("li", "", b))
                        .collect::<Html>()
                        .wrap("ul", "blockers"),
                },
                text(&format!("verified as of block {}", item.height)),
            ],
            Entry::Pending => vec![
                shipment_link(shipment),
                Html::new(),
                Html::new(),
                Html::new(),
                text("being verified"),
            ],
            Entry::NotVerified(reason) => vec![
                shipment_link(shipment),
                Html::new(),
                Html::new(),
                Html::new(),
                html::element(
                    "span",
                    "lane lane-unverified",
                    &format!("NOT VERIFIED: {reason}"),
                ),
            ],
            Entry::Refused(reason) => vec![
                shipment_link(shipment),
                Html::new(),
                Html::new(),
                Html::new(),
                text(&format!("refused: {reason}")),
            ],
        });
    let mut body = follow_note(&snapshot);
    body.push(html::table(
        "Shipments you signed for or were handed, and what blocks each",
        &[
            "Shipment",
            "State",
            "Custodian",
            "What blocks it",
            "Verified",
        ],
        rows,
    ));
    html_page(html::page(&console.frame, "My shipments", body))
}

#[derive(Debug, serde::Deserialize)]
pub struct GtinQuery {
    gtin: Option<String>,
}

/// `GET /brand`: the brand's GTINs (those it commissioned serials of) and a look-up.
pub async fn brand(
    State(console): State<Arc<Console>>,
    Query(query): Query<GtinQuery>,
) -> Response {
    if let Some(gtin) = query.gtin.filter(|g| !g.trim().is_empty()) {
        return axum::response::Redirect::to(&format!("/gtins/{}", html::segment(gtin.trim())))
            .into_response();
    }
    let snapshot = console.index.snapshot();
    let mut body = Html::trusted(
        "<form class=\"filters\" method=\"get\" action=\"/brand\" role=\"search\"><label for=\"gtin\">GTIN</label>\
<input id=\"gtin\" name=\"gtin\" required maxlength=\"14\" inputmode=\"numeric\"><button type=\"submit\">Audit</button></form>",
    );
    body.push(html::table(
        "GTINs you commissioned serials of",
        &["GTIN"],
        snapshot.gtins.iter().map(|g| {
            vec![link(
                &format!("/gtins/{}", html::segment(g.as_str())),
                g.as_str(),
            )]
        }),
    ));
    html_page(html::page(&console.frame, "Brand audit", body))
}

/// One serial's audit, flags and the shipments that named it.
struct SerialView {
    report: AuditReport,
    flags: Vec<(String, String)>,
    shipments: Vec<ShipmentId>,
}

fn gtin_audit(
    console: &Console,
    gtin: &Gtin,
) -> Result<(crate::timeline::VerifiedHistory, Vec<SerialView>), Trouble> {
    let reader = console.reader();
    let listing = reader.gtin(gtin)?;
    let serials = waybill_protocol::index::serials_named(
        gtin,
        listing.proof.events.iter().map(|p| &p.event.body),
    );
    let mut views = Vec::new();
    for serial in serials
        .into_iter()
        .take(crate::limits::CONSOLE_SERIALS_SHOWN_MAX)
    {
        let answer = reader.serial(&serial)?;
        let events = answer.events();
        let report = crate::audit::audit_serial(&serial, &events, &console.rules);
        let mut flags = Vec::new();
        let mut shipments = Vec::new();
        for event in &events {
            match event.body.kind.effective() {
                EventKind::Flag {
                    serial: flagged,
                    suspicion,
                } if *flagged == serial => {
                    flags.push((event.body.signer.org.to_string(), suspicion.to_string()))
                }
                EventKind::Commission | EventKind::Decommission { .. } | EventKind::Flag { .. } => {
                }
                _ => {
                    if !shipments.contains(&event.body.shipment) {
                        shipments.push(event.body.shipment.clone());
                    }
                }
            }
        }
        views.push(SerialView {
            report,
            flags,
            shipments,
        });
    }
    Ok((listing.history, views))
}

fn class_badge(class: AuditClass) -> Html {
    let (name, label) = match class {
        AuditClass::Clean => ("clean", "CLEAN"),
        AuditClass::DataGap => ("gap", "DATA GAP"),
        AuditClass::Suspect => ("suspect", "SUSPECT"),
    };
    html::element("span", &format!("audit audit-{name}"), label)
}

fn serial_row(view: &SerialView) -> Vec<Html> {
    let serial: &Sgtin = &view.report.serial;
    vec![
        text(serial.serial.as_str()),
        class_badge(view.report.class),
        view.report
            .findings
            .iter()
            .map(|f| html::element("li", "", &format!("{} [{}]", f.detail, f.rule)))
            .collect::<Html>()
            .wrap("ul", "findings"),
        view.flags
            .iter()
            .map(|(by, why)| html::element("li", "", &format!("{by}: {why}")))
            .collect::<Html>()
            .wrap("ul", "flags"),
        view.shipments
            .iter()
            .map(|s| shipment_link(s).wrap("li", ""))
            .collect::<Html>()
            .wrap("ul", "shipments"),
    ]
}

/// `GET /gtins/{gtin}`: every serial of the GTIN with its audit (complete by proof).
pub async fn gtin(State(console): State<Arc<Console>>, Path(gtin): Path<String>) -> Response {
    let gtin = match Gtin::new(gtin.as_str()) {
        Ok(gtin) => gtin,
        Err(error) => {
            return problem(
                &console,
                StatusCode::BAD_REQUEST,
                "Not a GTIN",
                &format!("gtin: {error}"),
            );
        }
    };
    let worker = console.clone();
    let wanted = gtin.clone();
    let Some(found) = blocking(move || gtin_audit(&worker, &wanted)).await else {
        return problem(
            &console,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Audit failed",
            "the audit stopped",
        );
    };
    let title = format!("GTIN {gtin}");
    let body = match found {
        Err(Trouble::NotVerified(reason)) => html::not_verified(&reason),
        Err(Trouble::Refused(reason)) => html::refused(&reason),
        Ok((history, views)) => {
            let mut body = html::verified(history.height, &history.block_hash.to_string());
            let count = |class| views.iter().filter(|v| v.report.class == class).count();
            body.push(html::element(
                "p",
                "count",
                &format!(
                    "{} serial(s) seen, complete by proof: {} clean, {} data gap, {} suspect",
                    views.len(),
                    count(AuditClass::Clean),
                    count(AuditClass::DataGap),
                    count(AuditClass::Suspect)
                ),
            ));
            body.push(html::table(
                "Serials, their audits, flags and the shipments that named them",
                &["Serial", "Audit", "Why", "Flags", "Shipments"],
                views.iter().map(serial_row),
            ));
            let suspect: Vec<Html> = views
                .iter()
                .filter(|v| v.report.class == AuditClass::Suspect)
                .flat_map(|v| {
                    v.shipments.iter().map(|s| {
                        html::Html::trusted(format!(
                            "<li>{} named suspect serial {}</li>",
                            shipment_link(s).as_str(),
                            text(v.report.serial.serial.as_str()).as_str()
                        ))
                    })
                })
                .collect();
            body.push(html::element(
                "h2",
                "",
                "Shipments that named a suspect serial",
            ));
            body.push(match suspect.is_empty() {
                true => html::element("p", "clear", "none"),
                false => suspect
                    .into_iter()
                    .collect::<Html>()
                    .wrap("ul", "suspect-shipments"),
            });
            body
        }
    };
    html_page(html::page(&console.frame, &title, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(shipment: &ShipmentId, lane: Lane, decided: Option<&'static str>) -> Entry {
        Entry::Ready(Box::new(WorkItem {
            shipment: shipment.clone(),
            height: 1,
            lane: Some(lane),
            score: 0,
            declared_ms: Some(1),
            arrived_ms: None,
            platform: None,
            custodian: None,
            value: None,
            duty: None,
            reasons: Vec::new(),
            consignee: None,
            hs_codes: Vec::new(),
            state: "declared",
            blockers: Vec::new(),
            decided,
        }))
    }

    fn snapshot(entries: Vec<(ShipmentId, Entry)>) -> Snapshot {
        Snapshot {
            followed_height: 1,
            entries,
            gtins: Vec::new(),
            pending: 0,
            trouble: None,
            full: false,
        }
    }

    #[test]
    fn the_work_list_shows_the_worst_lanes_first_up_to_its_bound_and_counts_the_rest() {
        let max = crate::limits::CONSOLE_WORKLIST_ROWS_MAX;
        let id = |n: usize| ShipmentId::new(format!("S-{n:06}")).expect("id");
        let mut entries: Vec<_> = (0..=max)
            .map(|n| (id(n), item(&id(n), Lane::Green, None)))
            .collect();
        // The last in id order is the one red consignment; a decided one is never listed.
        entries.push((id(max + 1), item(&id(max + 1), Lane::Red, None)));
        entries.push((id(max + 2), item(&id(max + 2), Lane::Red, Some("released"))));
        let (rows, count) = work_rows(&snapshot(entries), &WorkFilter::default());
        assert_eq!(count, max + 2, "every undecided consignment is counted");
        assert_eq!(rows.as_str().matches("<tr ").count(), max, "rows shown");
        let first = rows.as_str().find("<tr ").expect("a row");
        assert!(
            rows.as_str()[first..].starts_with(&format!("<tr data-shipment=\"{}\"", id(max + 1))),
            "the red consignment comes first"
        );
        assert!(!rows.as_str().contains(id(max + 2).as_str()));
    }
}
