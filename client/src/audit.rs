//! The counterfeit audit of one serialised item (DESIGN.md §8), on its *verified* history: the
//! events that named the serial, in ledger order. A finding is `Suspect` when the history itself
//! contradicts a genuine item, and `DataGap` when the history is too thin to say.

use serde::Serialize;
use waybill_protocol::event::{EventKind, GeoPoint, Sgtin, SignedEvent};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ShipmentId, Sscc};

/// Faster than this between two geo-tagged reads is not travel but a copy.
pub const TRAVEL_KM_PER_HOUR_MAX: f64 = 1_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditClass {
    Clean,
    DataGap,
    Suspect,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditFinding {
    pub rule: &'static str,
    pub class: AuditClass,
    pub detail: String,
    pub events: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    pub serial: Sgtin,
    pub class: AuditClass,
    pub findings: Vec<AuditFinding>,
}

fn distance_km(a: &GeoPoint, b: &GeoPoint) -> f64 {
    let radians = |e7: i32| f64::from(e7) * 1e-7_f64.to_radians();
    let (lat1, lon1) = (radians(a.latitude_e7), radians(a.longitude_e7));
    let (lat2, lon2) = (radians(b.latitude_e7), radians(b.longitude_e7));
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().asin()
}

fn geo(event: &SignedEvent) -> Option<&GeoPoint> {
    let body = &event.body;
    body.read_point
        .as_ref()
        .or(body.biz_location.as_ref())
        .and_then(|l| l.geo.as_ref())
}

/// Audits `serial` from the events that named it (its verified history, in order).
pub fn audit_serial(serial: &Sgtin, events: &[SignedEvent], rules: &ChainRules) -> AuditReport {
    let mut findings = Vec::new();
    let id = |e: &SignedEvent| e.body.id();
    let mut add = |rule, class, detail: String, events: Vec<Hash>| {
        findings.push(AuditFinding {
            rule,
            class,
            detail,
            events,
        })
    };

    match events.first() {
        None => add(
            "never_recorded",
            AuditClass::DataGap,
            "the ledger proves no event ever named this serial".into(),
            vec![],
        ),
        Some(first) if !matches!(first.body.kind.effective(), EventKind::Commission) => add(
            "never_commissioned",
            AuditClass::Suspect,
            format!(
                "its history starts with {} by {}, not with a commission by the brand",
                first.body.kind.event_type(),
                first.body.signer.org
            ),
            vec![id(first)],
        ),
        Some(first) if !rules.owns_gtin(&first.body.signer.org, &serial.gtin) => add(
            "unauthorised_commission",
            AuditClass::Suspect,
            format!(
                "commissioned by {}, which does not own the GS1 prefix of {}",
                first.body.signer.org, serial.gtin
            ),
            vec![id(first)],
        ),
        Some(_) => {}
    }

    if let Some(position) = events
        .iter()
        .position(|e| matches!(e.body.kind.effective(), EventKind::Decommission { .. }))
    {
        let after: Vec<Hash> = events[position + 1..].iter().map(id).collect();
        if !after.is_empty() {
            add(
                "seen_after_decommission",
                AuditClass::Suspect,
                format!("{} event(s) after it was decommissioned", after.len()),
                after,
            );
        }
    }

    // In two shipments at once: a new shipment names the serial while the previous one has not
    // ended for it (delivered, returned or unpacked).
    let mut current: Option<(&ShipmentId, Hash)> = None;
    for event in events {
        let body = &event.body;
        match (body.kind.effective(), current) {
            (
                EventKind::Commission | EventKind::Decommission { .. } | EventKind::Flag { .. },
                _,
            ) => {}
            (_, Some((shipment, first))) if *shipment != body.shipment => add(
                "two_live_shipments",
                AuditClass::Suspect,
                format!(
                    "named in shipment {} while still in shipment {shipment}",
                    body.shipment
                ),
                vec![first, id(event)],
            ),
            _ => {}
        }
        current = match body.kind.effective() {
            EventKind::Deliver | EventKind::Return { .. } | EventKind::Unpack { .. } => None,
            EventKind::Commission | EventKind::Decommission { .. } | EventKind::Flag { .. } => {
                current
            }
            _ if current.is_none() => Some((&body.shipment, id(event))),
            _ => current,
        };
    }

    // Packed into a parcel while still packed in another.
    let mut packed: Option<(&Sscc, Hash)> = None;
    for event in events {
        match event.body.kind.effective() {
            EventKind::Pack { parcel } => {
                if let Some((other, first)) = packed {
                    if other != parcel {
                        add(
                            "two_parcels",
                            AuditClass::Suspect,
                            format!("packed into {parcel} while still in {other}"),
                            vec![first, id(event)],
                        );
                    }
                }
                packed = Some((parcel, id(event)));
            }
            EventKind::Unpack { .. } => packed = None,
            _ => {}
        }
    }

    // Impossible travel between consecutive geo-tagged reads.
    let mut last: Option<&SignedEvent> = None;
    let mut geotagged = 0;
    for event in events {
        let Some(here) = geo(event) else { continue };
        geotagged += 1;
        if let Some(previous) = last {
            let there = geo(previous).expect("only geo-tagged events are kept");
            let km = distance_km(there, here);
            let hours = event
                .body
                .event_time_ms
                .abs_diff(previous.body.event_time_ms) as f64
                / 3_600_000.0;
            if km > 50.0 && km / hours.max(1.0 / 3_600.0) > TRAVEL_KM_PER_HOUR_MAX {
                add(
                    "impossible_travel",
                    AuditClass::Suspect,
                    format!("{km:.0} km in {:.1} h", hours),
                    vec![id(previous), id(event)],
                );
            }
        }
        last = Some(event);
    }
    if events.len() > 1 && geotagged < 2 {
        add(
            "no_locations",
            AuditClass::DataGap,
            "fewer than two reads carry coordinates: travel cannot be checked".into(),
            vec![],
        );
    }

    let class = findings
        .iter()
        .map(|f| f.class)
        .max()
        .unwrap_or(AuditClass::Clean);
    AuditReport {
        serial: serial.clone(),
        class,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::{EventKind as K, Location};
    use waybill_protocol::{LocationId, Text, fixtures};

    const SERIAL: &str = "S1";

    fn at(lat: i32, lon: i32) -> Location {
        Location {
            id: LocationId::new("NLRTM").expect("location"),
            geo: Some(GeoPoint {
                latitude_e7: lat,
                longitude_e7: lon,
            }),
        }
    }

    /// (org, shipment, kind, minutes after the first, where)
    type Step = (&'static str, &'static str, K, u64, Option<Location>);

    fn history(steps: Vec<Step>) -> Vec<SignedEvent> {
        steps
            .into_iter()
            .enumerate()
            .map(|(n, (org, shipment, kind, minutes, place))| {
                let mut builder = fixtures::event(org, n as u64 + 1, shipment, kind)
                    .epc(waybill_protocol::event::Epc::Sgtin(fixtures::sgtin(SERIAL)));
                if let Some(place) = place {
                    builder = builder.read_point(place);
                }
                let mut body = builder.build();
                body.event_time_ms += minutes * 60_000;
                SignedEvent::sign(body, &fixtures::org_keypair(org))
            })
            .collect()
    }

    fn rules() -> ChainRules {
        ChainRules::new(fixtures::genesis(4)).expect("fixture genesis")
    }

    fn found(steps: Vec<Step>) -> (AuditClass, Vec<&'static str>) {
        let report = audit_serial(&fixtures::sgtin(SERIAL), &history(steps), &rules());
        (
            report.class,
            report.findings.iter().map(|f| f.rule).collect(),
        )
    }

    fn genuine() -> Vec<Step> {
        vec![
            (
                "brand",
                "STOCK",
                K::Commission,
                0,
                Some(at(520_000_000, 48_000_000)),
            ),
            (
                "carrier-a",
                "P-1",
                K::PickUp,
                60,
                Some(at(520_000_000, 48_000_000)),
            ),
            (
                "carrier-a",
                "P-1",
                K::Deliver,
                600,
                Some(at(523_700_000, 49_000_000)),
            ),
        ]
    }

    #[test]
    fn a_genuine_history_is_clean() {
        assert_eq!(found(genuine()), (AuditClass::Clean, vec![]));
    }

    #[test]
    fn each_rule_flags_its_pattern() {
        assert_eq!(found(vec![]), (AuditClass::DataGap, vec!["never_recorded"]));

        let mut uncommissioned = genuine();
        uncommissioned.remove(0);
        assert_eq!(found(uncommissioned).1, vec!["never_commissioned"]);

        let mut reused = genuine();
        reused.push((
            "brand",
            "STOCK",
            K::Decommission {
                reason: Text::new("destroyed").expect("text"),
            },
            700,
            None,
        ));
        reused.push((
            "carrier-b",
            "P-2",
            K::PickUp,
            800,
            Some(at(523_700_000, 49_000_000)),
        ));
        assert_eq!(found(reused).1, vec!["seen_after_decommission"]);

        let mut twice = genuine();
        twice.insert(
            2,
            (
                "carrier-b",
                "P-2",
                K::PickUp,
                120,
                Some(at(520_000_000, 48_000_000)),
            ),
        );
        assert_eq!(
            found(twice),
            (AuditClass::Suspect, vec!["two_live_shipments"])
        );

        let parcel = |n: &str| Sscc::new(n).expect("sscc");
        let mut two_parcels = genuine();
        two_parcels.insert(
            1,
            (
                "brand",
                "P-1",
                K::Pack {
                    parcel: parcel("000000000000000017"),
                },
                10,
                None,
            ),
        );
        two_parcels.insert(
            2,
            (
                "brand",
                "P-1",
                K::Pack {
                    parcel: parcel("000000000000000024"),
                },
                20,
                None,
            ),
        );
        assert_eq!(found(two_parcels).1, vec!["two_parcels"]);

        let mut teleported = genuine();
        // Rotterdam to Shenzhen in 10 minutes.
        teleported[2] = (
            "carrier-a",
            "P-1",
            K::Deliver,
            70,
            Some(at(225_000_000, 1_140_000_000)),
        );
        assert_eq!(found(teleported).1, vec!["impossible_travel"]);

        let no_geo: Vec<Step> = genuine()
            .into_iter()
            .map(|(o, s, k, m, _)| (o, s, k, m, None))
            .collect();
        assert_eq!(found(no_geo), (AuditClass::DataGap, vec!["no_locations"]));
    }
}
