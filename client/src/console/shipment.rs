//! The shipment page: the verified timeline and map, the custody chain, the declaration (or
//! why it is withheld), the lane with every hit, duties and taxes with their rules, the
//! parties' tiers, the serial audits, open holds and inspections, and customs' actions.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use waybill_protocol::ShipmentId;
use waybill_protocol::event::{GeoPoint, SignedEvent};
use waybill_protocol::genesis::Role;

use super::html::{self, Html, text, time};
use super::{CaseView, Console, Trouble, blocking, html_page, problem, shipment_id};
use crate::customs::assess::Assessment;
use crate::disclosure::Disclosure;
use crate::release::ReleaseReport;

fn short(id: &waybill_protocol::Hash) -> String {
    id.to_string().chars().take(12).collect()
}

fn event_ref(id: &waybill_protocol::Hash) -> Html {
    Html::trusted(format!(
        "<a href=\"#event-{id}\"><code>{}</code></a>",
        short(id)
    ))
}

fn facts(rows: &[(&str, Html)]) -> Html {
    let mut out = String::from("<dl class=\"facts\">");
    for (term, value) in rows {
        out.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>",
            text(term).as_str(),
            value.as_str()
        ));
    }
    out.push_str("</dl>");
    Html::trusted(out)
}

fn section(id: &str, title: &str, content: Html) -> Html {
    Html::trusted(format!(
        "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{}</h2>{}</section>",
        text(title).as_str(),
        content.as_str()
    ))
}

fn summary(view: &CaseView) -> Html {
    let p = &view.progress;
    let muted = |t: &str| html::element("span", "muted", t);
    let mut rows = vec![
        ("State", text(p.state)),
        (
            "Declared by",
            p.declared_by
                .as_ref()
                .map_or_else(|| muted("no declaration"), |o| text(o.as_str())),
        ),
        ("Declared", p.declared_ms.map_or_else(|| muted("—"), time)),
        (
            "Arrived",
            p.arrived_ms.map_or_else(|| muted("not arrived"), time),
        ),
        (
            "Custodian",
            p.custodian()
                .map_or_else(|| muted("none"), |o| text(o.as_str())),
        ),
        (
            "Decision",
            p.decided.map_or_else(|| muted("none yet"), text),
        ),
    ];
    if let Some(report) = &view.report {
        rows.insert(
            0,
            (
                "Lane",
                Html::trusted(format!(
                    "<span class=\"lane lane-{}\">{}</span> {} (score {}, verdict {:?})",
                    report.lane.name().to_lowercase(),
                    report.lane.name(),
                    text(report.lane.meaning()).as_str(),
                    report.score,
                    report.verdict
                )),
            ),
        );
    }
    if !p.blockers.is_empty() {
        rows.push((
            "What blocks it",
            p.blockers
                .iter()
                .map(|b| html::element("li", "", b))
                .collect::<Html>()
                .wrap("ul", "blockers"),
        ));
    }
    facts(&rows)
}

fn findings(report: &ReleaseReport) -> Html {
    let rows = report.findings.iter().map(|f| {
        vec![
            text(f.rule),
            text(&format!("{:?}", f.verdict)),
            text(&f.weight.to_string()),
            text(&f.detail),
            f.events.iter().map(event_ref).collect(),
        ]
    });
    let mut out = html::table(
        "Every rule that hit, with its weight and the events behind it",
        &["Rule", "Verdict", "Weight", "Why", "Events"],
        rows,
    );
    let notes: Vec<&String> = report
        .not_checked
        .iter()
        .chain(&report.ics2_missing)
        .collect();
    if !notes.is_empty() {
        out.push(
            notes
                .iter()
                .map(|n| html::element("li", "", n))
                .collect::<Html>()
                .wrap("ul", "not-checked"),
        );
    }
    out
}

fn assessment(assessment: &Assessment) -> Html {
    let mut out = facts(&[
        (
            "Jurisdiction",
            text(&format!(
                "{} ({}), law of {} ({:?})",
                assessment.jurisdiction,
                assessment.rules_file,
                assessment.day,
                assessment.day_basis
            )),
        ),
        (
            "Customs value",
            assessment
                .customs_value
                .as_ref()
                .map_or_else(Html::new, |v| text(&v.to_string())),
        ),
        (
            "Conversion",
            text(assessment.conversion.as_deref().unwrap_or("none needed")),
        ),
        (
            "Total due",
            assessment.total_due.as_ref().map_or_else(
                || text("nothing"),
                |v| html::element("strong", "", &v.to_string()),
            ),
        ),
    ]);
    out.push(html::table(
        "Duties and taxes, each with its rule",
        &["Charge", "Amount", "Rule", "Legal source", "How"],
        assessment.charges.iter().map(|c| {
            vec![
                text(c.kind),
                text(&c.amount.to_string()),
                text(&c.rule),
                text(&c.source),
                text(&c.detail),
            ]
        }),
    ));
    let treatments = assessment
        .treatments
        .iter()
        .map(|t| vec![text(&t.rule), text(&t.source), text(&t.detail)]);
    out.push(html::table(
        "Treatments",
        &["Rule", "Legal source", "What applies"],
        treatments,
    ));
    for issue in &assessment.issues {
        out.push(html::element(
            "p",
            "issue",
            &format!("{}: {}", issue.rule, issue.detail),
        ));
    }
    if let Some(reason) = &assessment.not_assessed {
        out.push(html::element(
            "p",
            "issue",
            &format!("not assessed: {reason}"),
        ));
    }
    out
}

fn party(p: &waybill_protocol::event::Party) -> Html {
    text(&format!(
        "{} ({}){}",
        p.name,
        p.country,
        p.registration
            .as_ref()
            .map(|r| format!(", {r}"))
            .unwrap_or_default()
    ))
}

fn declaration(view: &CaseView) -> Html {
    let withheld =
        |label: &str, why: &str| html::element("p", "withheld", &format!("{label}: {why}"));
    match &view.case.particulars {
        None => html::element("p", "muted", "no declaration on the ledger"),
        Some(Disclosure::Verified { declaration: d }) => {
            let mut out = facts(&[
                ("Consignor", party(&d.consignor)),
                ("Consignee", party(&d.consignee)),
                (
                    "Seller",
                    d.seller
                        .as_ref()
                        .map_or_else(|| text("the consignor"), party),
                ),
                (
                    "Pieces, mass",
                    text(&format!("{} piece(s), {} g", d.pieces, d.gross_mass_g)),
                ),
                (
                    "IOSS",
                    text(
                        &d.ioss
                            .as_ref()
                            .map_or("none".to_string(), |i| i.to_string()),
                    ),
                ),
            ]);
            out.push(html::table(
                "Goods as declared (verified against the declaration's commitment)",
                &["Description", "HS", "Origin", "Quantity", "Value"],
                d.items.iter().map(|i| {
                    let value = crate::customs::units::Money::new(i.value_minor, &d.currency);
                    vec![
                        text(i.description.as_str()),
                        text(i.hs6.as_str()),
                        text(i.origin.as_str()),
                        text(&i.quantity.to_string()),
                        text(&value.to_string()),
                    ]
                }),
            ));
            out
        }
        Some(Disclosure::VerifiedInPart {
            parts,
            withheld: hidden,
            grant,
        }) => {
            let mut out =
                html::element("p", "", &format!("Shown under the genesis grant {grant}:"));
            out.push(
                parts
                    .iter()
                    .map(|p| html::element("li", "", &format!("{p:?}")))
                    .collect::<Html>()
                    .wrap("ul", ""),
            );
            out.push(withheld("withheld", &format!("{hidden:?}")));
            out
        }
        Some(Disclosure::Withheld { reason }) => withheld("withheld", reason),
        Some(Disclosure::Purged { detail }) => withheld("purged", detail),
        Some(Disclosure::Forged { reason }) => {
            html::not_verified(&format!("the particulars: {reason}"))
        }
    }
}

fn standings(view: &CaseView) -> Html {
    if view.report.is_none() {
        return Html::new();
    }
    let case = &view.case;
    html::table(
        "Accreditations of the declaring platform, the consignor and the seller",
        &[
            "Operator",
            "Member",
            "Programme",
            "Tier",
            "Valid",
            "Revoked",
        ],
        case.standings.iter().map(|s| {
            vec![
                text(&s.operator),
                text(s.member.as_deref().unwrap_or("—")),
                text(&s.programme),
                text(&s.tier),
                Html::trusted(format!(
                    "{} to {}",
                    time(s.valid_from_ms).as_str(),
                    time(s.valid_until_ms).as_str()
                )),
                s.revoked_from_ms.map_or_else(
                    || text("no"),
                    |ms| {
                        let mut t = time(ms);
                        t.push(text(&format!(
                            " {}",
                            s.revocation_reason.as_deref().unwrap_or("")
                        )));
                        t
                    },
                ),
            ]
        }),
    )
}

fn serial_audits(view: &CaseView) -> Html {
    if view.report.is_none() {
        return Html::new();
    }
    let case = &view.case;
    html::table(
        "The serials it names, each audited on its own verified history",
        &["Serial", "Audit", "Why"],
        case.serial_audits.iter().map(|a| {
            vec![
                text(&format!("{} / {}", a.serial.gtin, a.serial.serial)),
                text(&format!("{:?}", a.class)),
                a.findings
                    .iter()
                    .map(|f| html::element("li", "", &format!("{} [{}]", f.detail, f.rule)))
                    .collect::<Html>()
                    .wrap("ul", ""),
            ]
        }),
    )
}

fn holds_and_inspections(view: &CaseView) -> Html {
    let p = &view.progress;
    let mut out = Html::new();
    out.push(html::element(
        "p",
        "",
        &match p.open_holds.is_empty() {
            true => "No open hold.".to_string(),
            false => format!("Open hold(s): {}", p.open_holds.join("; ")),
        },
    ));
    out.push(html::element(
        "p",
        "",
        &match p.inspections.is_empty() {
            true => "No inspection recorded.".to_string(),
            false => format!(
                "Inspections: {}",
                p.inspections
                    .iter()
                    .map(|(r, n)| format!("{r:?} ({n})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
    ));
    out
}

fn custody(view: &CaseView) -> Html {
    let chain = &view.progress.custody;
    if chain.is_empty() {
        return html::element("p", "muted", "No carrier has taken custody.");
    }
    let mut out: Html = chain
        .iter()
        .map(|c| {
            Html::trusted(format!(
                "<li>{} since {} ({})</li>",
                text(c.custodian.as_str()).as_str(),
                time(c.since_ms).as_str(),
                c.how
            ))
        })
        .collect::<Html>()
        .wrap("ol", "custody");
    if view.progress.delivered {
        out.push(html::element("p", "", "Delivered: custody ended."));
    }
    out
}

fn timeline(view: &CaseView) -> Html {
    let rows = view.case.answer.history.entries.iter().map(|e| {
        vec![
            time(e.event_time_ms),
            text(e.signer.as_str()),
            text(e.event_type.name()),
            text(e.location.as_deref().unwrap_or("")),
            text(&e.detail),
            text(&e.height.to_string()),
            Html::trusted(format!(
                "<code id=\"event-{}\">{}</code>",
                e.event_id,
                short(&e.event_id)
            )),
        ]
    });
    html::table(
        "Who did what, where and when (each event verified)",
        &["When", "Who", "What", "Where", "Detail", "Block", "Event"],
        rows,
    )
}

/// The located events as an SVG map (equirectangular, fitted to the points), in order.
fn map(events: &[SignedEvent]) -> Html {
    let points: Vec<(&GeoPoint, String)> = events
        .iter()
        .filter_map(|e| {
            let place = e
                .body
                .read_point
                .as_ref()
                .or(e.body.biz_location.as_ref())?;
            Some((
                place.geo.as_ref()?,
                format!("{} {}", e.body.kind.event_type().name(), place.id),
            ))
        })
        .collect();
    if points.is_empty() {
        return html::element("p", "muted", "No event carries coordinates.");
    }
    let lon = |g: &GeoPoint| f64::from(g.longitude_e7) / 1e7;
    let lat = |g: &GeoPoint| f64::from(g.latitude_e7) / 1e7;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (g, _) in &points {
        x0 = x0.min(lon(g));
        x1 = x1.max(lon(g));
        y0 = y0.min(lat(g));
        y1 = y1.max(lat(g));
    }
    let (w, h, pad) = (640.0, 320.0, 40.0);
    let span_x = (x1 - x0).max(1.0);
    let span_y = (y1 - y0).max(1.0);
    let at = |g: &GeoPoint| {
        (
            pad + (lon(g) - x0) / span_x * (w - 2.0 * pad),
            h - pad - (lat(g) - y0) / span_y * (h - 2.0 * pad),
        )
    };
    let path: Vec<String> = points
        .iter()
        .map(|(g, _)| {
            let (x, y) = at(g);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let mut svg = format!(
        "<svg class=\"map\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"map-title\"><title id=\"map-title\">Route of the {} located event(s)</title>\
<rect width=\"{w}\" height=\"{h}\" fill=\"#f4f6f8\" stroke=\"#5b6770\"/><polyline points=\"{}\" fill=\"none\" stroke=\"#1f4e79\" stroke-width=\"2\"/>",
        points.len(),
        path.join(" ")
    );
    for (n, (g, label)) in points.iter().enumerate() {
        let (x, y) = at(g);
        svg.push_str(&format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"#1f4e79\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#111\">{} {}</text>",
            x + 8.0, y - 6.0, n + 1, text(label).as_str()
        ));
    }
    svg.push_str("</svg>");
    Html::trusted(svg)
}

fn verified_body(console: &Console, shipment: &ShipmentId, view: &CaseView) -> Html {
    let history = &view.case.answer.history;
    let mut body = html::verified(history.height, &history.block_hash.to_string());
    if !history.recorded {
        body.push(html::element(
            "p",
            "",
            "Proven absent: nothing was ever recorded for this shipment.",
        ));
        return body;
    }
    body.push(summary(view));
    if let Some(report) = &view.report {
        body.push(section("reasons", "Why this lane", findings(report)));
        if let Some(a) = &report.assessment {
            body.push(section("duties", "Duties and taxes", assessment(a)));
        }
    }
    body.push(section("declaration", "Declaration", declaration(view)));
    if view.report.is_some() {
        body.push(section("tiers", "Tiers of the parties", standings(view)));
        body.push(section("serials", "Serial audits", serial_audits(view)));
        body.push(section(
            "holds",
            "Holds and inspections",
            holds_and_inspections(view),
        ));
    }
    body.push(section("custody", "Custody chain", custody(view)));
    body.push(section("map", "Map", map(&view.case.events)));
    body.push(section("timeline", "Timeline", timeline(view)));
    if console.is(Role::Customs) && view.progress.decided.is_none() {
        body.push(section(
            "actions",
            "Record a result or a decision",
            super::actions::forms(console, shipment),
        ));
    }
    body.push(Html::trusted(format!(
        "<p><a class=\"download\" href=\"/shipments/{}/proof.json\" download>Download the proof bundle</a> (check it offline with <code>waybill verify</code>)</p>",
        html::segment(shipment.as_str())
    )));
    body
}

/// `GET /shipments/{id}`.
pub async fn page(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    let shipment = match shipment_id(&console, &id) {
        Ok(shipment) => shipment,
        Err(page) => return *page,
    };
    let worker = console.clone();
    let wanted = shipment.clone();
    let Some(found) = blocking(move || worker.case_view(&wanted)).await else {
        return problem(
            &console,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Verification stopped",
            "the check stopped",
        );
    };
    let body = match &found {
        Ok(view) => verified_body(&console, &shipment, view),
        Err(Trouble::NotVerified(reason)) => html::not_verified(reason),
        Err(Trouble::Refused(reason)) => html::refused(reason),
    };
    html_page(html::page(
        &console.frame,
        &format!("Shipment {shipment}"),
        body,
    ))
}

/// `GET /shipments/{id}/proof.json`: the verified proof, for `waybill verify`.
pub async fn proof(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    let shipment = match shipment_id(&console, &id) {
        Ok(shipment) => shipment,
        Err(page) => return *page,
    };
    let worker = console.clone();
    let found = blocking(move || worker.reader().shipment(&shipment).map_err(Trouble::from)).await;
    match found {
        Some(Ok(answer)) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.proof.json\"", html::segment(&id)),
                ),
            ],
            waybill_protocol::json::to_pretty(&answer.proof),
        )
            .into_response(),
        Some(Err(Trouble::NotVerified(reason))) => {
            problem(&console, StatusCode::BAD_GATEWAY, "NOT VERIFIED", &reason)
        }
        Some(Err(Trouble::Refused(reason))) => problem(
            &console,
            StatusCode::BAD_GATEWAY,
            "Refused by the node",
            &reason,
        ),
        None => problem(
            &console,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Verification stopped",
            "the check stopped",
        ),
    }
}
