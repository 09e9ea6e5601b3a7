//! The customs release check (DESIGN.md §8) on a shipment's *verified* history: every rule that
//! can be decided from that history, each finding naming the events behind it. The verdict is
//! HOLD if any finding holds, else REVIEW if any asks for review, else RELEASE.
//!
//! The serial rules take the audits of the serials the shipment names (`crate::audit`): a suspect
//! item holds the shipment, a data gap is noted. The split-consignment rule takes the
//! consignee's other consignments in the window, each from its own verified history.

use serde::{Deserialize, Serialize};
use waybill_protocol::event::{Declaration, EventKind, InspectionResult, RiskStatus, SignedEvent};

use crate::disclosure::Disclosure;
use waybill_protocol::{CurrencyCode, Hash, OrgId};

/// The thresholds a customs administration sets; `release-policy.toml` documents each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePolicy {
    /// Consignments up to this value (minor units of `threshold_currency`) need an IOSS number.
    pub low_value_threshold_minor: u64,
    pub threshold_currency: CurrencyCode,
    /// Other low-value consignments to the same consignee within this many days are summed:
    /// together over the threshold, they look like one consignment split to stay under it.
    #[serde(default = "default_split_window_days")]
    pub split_window_days: u32,
    /// Unit values below these floors suggest undervaluation.
    #[serde(default, rename = "value_floor")]
    pub value_floors: Vec<ValueFloor>,
    /// Rates for comparing values declared in other currencies with the threshold.
    #[serde(default, rename = "conversion")]
    pub conversions: Vec<Conversion>,
}

/// What one currency is worth in the threshold currency, per minor unit (so currencies with
/// other minor-unit exponents, such as JPY, need no special case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    pub currency: CurrencyCode,
    /// Minor units of the threshold currency that one million minor units of `currency` are
    /// worth.
    pub threshold_minor_per_million: u64,
    /// Where the rate comes from and for which period: an officer must be able to cite it.
    pub source: String,
}

fn default_split_window_days() -> u32 {
    30
}

/// Another shipment to the same consignee, from its verified history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedConsignment {
    pub shipment: waybill_protocol::ShipmentId,
    pub value_minor: u64,
    pub currency: CurrencyCode,
    pub declaration: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueFloor {
    /// HS code prefix: a chapter (2 digits), heading (4) or subheading (6).
    pub hs_prefix: String,
    pub currency: CurrencyCode,
    pub min_unit_value_minor: u64,
}

/// The default policy, the same as `client/release-policy.toml`.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../release-policy.toml");

#[derive(Debug, thiserror::Error)]
#[error("release policy: {0}")]
pub struct PolicyError(String);

impl ReleasePolicy {
    pub fn from_toml(text: &str) -> Result<ReleasePolicy, PolicyError> {
        let policy: ReleasePolicy =
            toml::from_str(text).map_err(|error| PolicyError(error.to_string()))?;
        for (index, floor) in policy.value_floors.iter().enumerate() {
            let prefix = &floor.hs_prefix;
            if !matches!(prefix.len(), 2 | 4 | 6) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PolicyError(format!(
                    "value_floor[{index}].hs_prefix: {prefix:?} is not 2, 4 or 6 digits"
                )));
            }
        }
        Ok(policy)
    }
}

impl ReleasePolicy {
    /// `value_minor` of `currency` in minor units of the threshold currency, if the policy has
    /// a rate for it (rounded down; saturating, as a value that large is over any threshold).
    pub fn in_threshold_currency(&self, value_minor: u64, currency: &CurrencyCode) -> Option<u64> {
        if currency == &self.threshold_currency {
            return Some(value_minor);
        }
        let rate = self.conversions.iter().find(|c| &c.currency == currency)?;
        let converted =
            u128::from(value_minor) * u128::from(rate.threshold_minor_per_million) / 1_000_000;
        Some(u64::try_from(converted).unwrap_or(u64::MAX))
    }
}

impl Default for ReleasePolicy {
    fn default() -> ReleasePolicy {
        ReleasePolicy::from_toml(DEFAULT_POLICY_TOML).expect("the bundled policy is valid")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Release,
    Review,
    Hold,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    /// `Review` or `Hold`.
    pub verdict: Verdict,
    pub detail: String,
    /// The events behind the finding (empty when it is about something missing).
    pub events: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub not_checked: Vec<&'static str>,
}

/// The serials a shipment's events name (EPCs), without repeats, in order: what the serial rules
/// audit.
pub fn named_serials(events: &[SignedEvent]) -> Vec<waybill_protocol::event::Sgtin> {
    let mut serials = Vec::new();
    for event in events {
        for epc in &event.body.epcs {
            if let waybill_protocol::event::Epc::Sgtin(sgtin) = epc {
                if !serials.contains(sgtin) {
                    serials.push(sgtin.clone());
                }
            }
        }
    }
    serials
}

/// Applies the policy to a shipment's verified history (its applied events, in order), with the
/// audits of the serials it names (`named_serials`; pass `None` if they were not audited).
pub fn release_check(
    events: &[SignedEvent],
    particulars: Option<&Disclosure>,
    policy: &ReleasePolicy,
    serial_audits: Option<&[crate::audit::AuditReport]>,
    related: Option<&[RelatedConsignment]>,
) -> ReleaseReport {
    let mut findings = Vec::new();
    let mut finding = |rule, verdict, detail: String, events: Vec<Hash>| {
        findings.push(Finding {
            rule,
            verdict,
            detail,
            events,
        });
    };
    let id = |event: &SignedEvent| event.body.id();

    let declared = events
        .iter()
        .find(|e| matches!(e.body.kind, EventKind::Declare(_)));
    let declaration = declared.and_then(|event| {
        particulars
            .and_then(Disclosure::declaration)
            .map(|declaration| (event, declaration))
    });
    match declared {
        None => finding(
            "declaration",
            Verdict::Hold,
            "no pre-arrival declaration is recorded".into(),
            vec![],
        ),
        Some(event) => match declaration {
            Some((_, declaration)) => {
                for found in declaration_findings(policy, event, declaration) {
                    finding(found.rule, found.verdict, found.detail, found.events);
                }
            }
            None => finding(
                "particulars",
                Verdict::Hold,
                format!(
                    "{}: value, IOSS and consignee cannot be checked (a data gap, never a pass)",
                    particulars.map_or("particulars not fetched".into(), Disclosure::describe)
                ),
                vec![id(event)],
            ),
        },
    }

    let risk = events.iter().rev().find_map(|e| match &e.body.kind {
        EventKind::RiskAssessed { status } => Some((e, *status)),
        _ => None,
    });
    match risk {
        None => finding(
            "risk",
            Verdict::Hold,
            "no risk assessment is recorded".into(),
            vec![],
        ),
        Some((_, RiskStatus::Approved)) => {}
        Some((event, RiskStatus::DoNotLoad)) => finding(
            "risk",
            Verdict::Hold,
            "the risk assessment says do not load".into(),
            vec![id(event)],
        ),
        Some((event, status)) => finding(
            "risk",
            Verdict::Review,
            format!("the risk assessment asks for {status:?}, not approved"),
            vec![id(event)],
        ),
    }

    // Holds, as execution counts them: each Hold opens one, a compliant inspection lifts all.
    let mut open_holds: Vec<Hash> = Vec::new();
    for event in events {
        match &event.body.kind {
            EventKind::Hold { .. } => open_holds.push(id(event)),
            EventKind::Inspect {
                result: InspectionResult::Compliant,
                ..
            } => open_holds.clear(),
            EventKind::Seize { reason } => finding(
                "seizure",
                Verdict::Hold,
                format!("seized by customs: {reason}"),
                vec![id(event)],
            ),
            EventKind::Inspect { result, note, .. } => finding(
                "inspection",
                Verdict::Hold,
                format!("inspection found {result:?}: {note}"),
                vec![id(event)],
            ),
            _ => {}
        }
    }
    if !open_holds.is_empty() {
        finding(
            "holds",
            Verdict::Hold,
            format!("{} customs hold(s) still open", open_holds.len()),
            open_holds,
        );
    }

    // Custody: picked up, and no hand-over left unaccepted.
    if !events
        .iter()
        .any(|e| matches!(e.body.kind, EventKind::PickUp))
    {
        finding(
            "custody",
            Verdict::Review,
            "no carrier has recorded taking custody".into(),
            vec![],
        );
    }
    let mut offered: Option<(&SignedEvent, OrgId)> = None;
    for event in events {
        match &event.body.kind {
            EventKind::HandOver { to } => offered = Some((event, to.clone())),
            EventKind::Accept { .. } => offered = None,
            _ => {}
        }
    }
    if let Some((event, to)) = offered {
        finding(
            "custody",
            Verdict::Review,
            format!("the hand-over to {to} was never accepted: custody is unconfirmed"),
            vec![id(event)],
        );
    }

    // Serial rules: a suspect item holds the shipment; a data gap (say, no coordinates to check
    // travel with) is noted with verdict `Release`, so it is shown but decides nothing.
    if let Some(audits) = serial_audits {
        use crate::audit::AuditClass;
        for audit in audits {
            let verdict = match audit.class {
                AuditClass::Clean => continue,
                AuditClass::DataGap => Verdict::Release,
                AuditClass::Suspect => Verdict::Hold,
            };
            for item in audit.findings.iter().filter(|f| f.class == audit.class) {
                finding(
                    "serial",
                    verdict,
                    format!(
                        "item {} / {}: {} [{}]",
                        audit.serial.gtin, audit.serial.serial, item.detail, item.rule
                    ),
                    item.events.clone(),
                );
            }
        }
    }

    if let (Some(related), Some((event, declaration))) = (related, declaration) {
        findings.extend(split_consignments(policy, event, declaration, related));
    }

    let verdict = findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(Verdict::Release);
    let mut not_checked = Vec::new();
    if related.is_none() {
        not_checked.push("split consignments (the consignee's other shipments were not fetched)");
    }
    if serial_audits.is_none() {
        not_checked.push("serial rules (the named serials were not audited)");
    }
    ReleaseReport {
        verdict,
        findings,
        not_checked,
    }
}

/// The rules on the declaration's particulars: the IOSS requirement and the value floors.
fn declaration_findings(
    policy: &ReleasePolicy,
    event: &SignedEvent,
    declaration: &Declaration,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut finding = |rule, verdict, detail: String| {
        findings.push(Finding {
            rule,
            verdict,
            detail,
            events: vec![event.body.id()],
        });
    };
    let total = declaration.total_value_minor().unwrap_or(u64::MAX);
    match policy.in_threshold_currency(total, &declaration.currency) {
        Some(value) if value <= policy.low_value_threshold_minor && declaration.ioss.is_none() => {
            finding(
                "ioss",
                Verdict::Hold,
                format!(
                    "declared value {total} {} ({value} {}) is within the low-value threshold but no IOSS number is given",
                    declaration.currency, policy.threshold_currency
                ),
            );
        }
        Some(_) => {}
        None => finding(
            "ioss",
            Verdict::Review,
            format!(
                "declared in {}, the threshold is in {} and the policy has no conversion rate for {}: check the IOSS requirement by hand",
                declaration.currency, policy.threshold_currency, declaration.currency
            ),
        ),
    }
    for item in &declaration.items {
        let unit = item.value_minor / u64::from(item.quantity.max(1));
        let floor = policy.value_floors.iter().find(|f| {
            item.hs6.as_str().starts_with(f.hs_prefix.as_str())
                && f.currency == declaration.currency
        });
        if let Some(floor) = floor.filter(|floor| unit < floor.min_unit_value_minor) {
            finding(
                "undervaluation",
                Verdict::Review,
                format!(
                    "{} (HS {}) declared at {unit} {} a unit, below the floor of {} for HS {}",
                    item.description,
                    item.hs6,
                    declaration.currency,
                    floor.min_unit_value_minor,
                    floor.hs_prefix
                ),
            );
        }
    }
    findings
}

/// Split consignments: this and the consignee's other low-value consignments in the window,
/// each under the threshold, together over it, all compared in the threshold currency. Those
/// in a currency the policy has no rate for cannot be added up: they go to review by hand.
fn split_consignments(
    policy: &ReleasePolicy,
    event: &SignedEvent,
    declaration: &Declaration,
    related: &[RelatedConsignment],
) -> Vec<Finding> {
    let threshold = policy.low_value_threshold_minor;
    let own_total = declaration.total_value_minor().unwrap_or(u64::MAX);
    let Some(own) = policy.in_threshold_currency(own_total, &declaration.currency) else {
        return Vec::new(); // The IOSS rule already asks for a review by hand.
    };
    let others = related.iter().filter(|r| r.shipment != event.body.shipment);
    let (mut low, mut unconvertible) = (Vec::new(), Vec::new());
    for other in others {
        match policy.in_threshold_currency(other.value_minor, &other.currency) {
            Some(value) if value <= threshold => low.push((other, value)),
            Some(_) => {}
            None => unconvertible.push(other),
        }
    }
    let mut findings = Vec::new();
    let total = low
        .iter()
        .fold(own, |sum, (_, value)| sum.saturating_add(*value));
    if own <= threshold && !low.is_empty() && total > threshold {
        let mut events = vec![event.body.id()];
        events.extend(low.iter().map(|(r, _)| r.declaration));
        findings.push(Finding {
            rule: "split_consignment",
            verdict: Verdict::Review,
            detail: format!(
                "{} other consignment(s) to {} within {} days; together {total} {}, over the threshold of {threshold}",
                low.len(),
                declaration.consignee.name,
                policy.split_window_days,
                policy.threshold_currency
            ),
            events,
        });
    }
    if own <= threshold && !unconvertible.is_empty() {
        let mut currencies: Vec<&str> = unconvertible.iter().map(|r| r.currency.as_str()).collect();
        currencies.sort_unstable();
        currencies.dedup();
        let mut events = vec![event.body.id()];
        events.extend(unconvertible.iter().map(|r| r.declaration));
        findings.push(Finding {
            rule: "split_consignment",
            verdict: Verdict::Review,
            detail: format!(
                "{} other consignment(s) to {} within {} days are declared in {}, which the policy has no conversion rate for: add them up by hand",
                unconvertible.len(),
                declaration.consignee.name,
                policy.split_window_days,
                currencies.join(", ")
            ),
            events,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::EventKind as K;
    use waybill_protocol::{Text, fixtures};

    fn story(steps: Vec<(&str, K)>) -> Vec<SignedEvent> {
        steps
            .into_iter()
            .enumerate()
            .map(|(n, (org, kind))| fixtures::signed_event(org, n as u64 + 1, "S", kind))
            .collect()
    }

    thread_local! {
        /// The declarations the steps filed, as a platform would keep them.
        static FILED: std::cell::RefCell<Vec<Declaration>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn declare(edit: impl FnOnce(&mut Declaration)) -> (&'static str, K) {
        let mut declaration = fixtures::declaration();
        edit(&mut declaration);
        FILED.with(|filed| filed.borrow_mut().push(declaration.clone()));
        ("platform", fixtures::declared(&declaration).0)
    }

    /// The particulars of `events`' declaration, as an entitled reader verifies them.
    fn verified(events: &[SignedEvent]) -> Option<Disclosure> {
        let summary = events.iter().find_map(|e| match &e.body.kind {
            K::Declare(summary) => Some(summary.clone()),
            _ => None,
        })?;
        FILED.with(|filed| {
            filed.borrow().iter().find_map(|declaration| {
                let (_, sealed) = fixtures::declared(declaration);
                sealed
                    .open(&summary)
                    .ok()
                    .map(|declaration| Disclosure::Verified {
                        declaration: Box::new(declaration),
                    })
            })
        })
    }

    fn check(
        events: &[SignedEvent],
        policy: &ReleasePolicy,
        audits: Option<&[crate::audit::AuditReport]>,
        related: Option<&[RelatedConsignment]>,
    ) -> ReleaseReport {
        release_check(events, verified(events).as_ref(), policy, audits, related)
    }

    fn clean() -> Vec<(&'static str, K)> {
        vec![
            declare(|_| {}),
            ("carrier-a", K::PickUp),
            (
                "customs",
                K::RiskAssessed {
                    status: RiskStatus::Approved,
                },
            ),
        ]
    }

    fn rules_found(steps: Vec<(&str, K)>) -> (Verdict, Vec<&'static str>) {
        let report = check(&story(steps), &ReleasePolicy::default(), None, None);
        (
            report.verdict,
            report.findings.iter().map(|f| f.rule).collect(),
        )
    }

    fn text(t: &str) -> Text {
        Text::new(t).expect("test text")
    }

    #[test]
    fn a_clean_history_is_released() {
        assert_eq!(rules_found(clean()), (Verdict::Release, vec![]));
    }

    #[test]
    fn each_rule_fails_on_its_own() {
        let mut no_declaration = clean();
        no_declaration.remove(0);
        assert_eq!(
            rules_found(no_declaration),
            (Verdict::Hold, vec!["declaration"])
        );

        let mut no_ioss = clean();
        no_ioss[0] = declare(|d| d.ioss = None);
        assert_eq!(rules_found(no_ioss), (Verdict::Hold, vec!["ioss"]));

        let mut high_value_without_ioss = clean();
        high_value_without_ioss[0] = declare(|d| {
            d.ioss = None;
            d.items[0].value_minor = 20_000;
        });
        assert_eq!(
            rules_found(high_value_without_ioss),
            (Verdict::Release, vec![])
        );

        let mut other_currency = clean();
        other_currency[0] = declare(|d| {
            d.currency = CurrencyCode::new("USD").expect("currency");
        });
        assert_eq!(rules_found(other_currency), (Verdict::Review, vec!["ioss"]));

        let mut cheap_shoes = clean();
        cheap_shoes[0] = declare(|d| d.items[0].value_minor = 100);
        assert_eq!(
            rules_found(cheap_shoes),
            (Verdict::Review, vec!["undervaluation"])
        );

        let mut no_risk = clean();
        no_risk.pop();
        assert_eq!(rules_found(no_risk), (Verdict::Hold, vec!["risk"]));

        let mut screen = clean();
        screen.push((
            "customs",
            K::RiskAssessed {
                status: RiskStatus::Screen,
            },
        ));
        assert_eq!(rules_found(screen), (Verdict::Review, vec!["risk"]));

        let mut held = clean();
        held.push((
            "customs",
            K::Hold {
                reason: text("x-ray"),
            },
        ));
        assert_eq!(rules_found(held.clone()), (Verdict::Hold, vec!["holds"]));
        held.push((
            "customs",
            K::Inspect {
                result: InspectionResult::Compliant,
                note: text("ok"),
            },
        ));
        assert_eq!(rules_found(held), (Verdict::Release, vec![]));

        let mut discrepancy = clean();
        discrepancy.push((
            "customs",
            K::Inspect {
                result: InspectionResult::Discrepancy,
                note: text("count"),
            },
        ));
        assert_eq!(
            rules_found(discrepancy),
            (Verdict::Hold, vec!["inspection"])
        );

        let mut seized = clean();
        seized.push((
            "customs",
            K::Seize {
                reason: text("fake"),
            },
        ));
        assert_eq!(rules_found(seized), (Verdict::Hold, vec!["seizure"]));

        let mut not_picked_up = clean();
        not_picked_up.remove(1);
        assert_eq!(
            rules_found(not_picked_up),
            (Verdict::Review, vec!["custody"])
        );

        let mut dangling = clean();
        dangling.push((
            "carrier-a",
            K::HandOver {
                to: fixtures::org("carrier-b"),
            },
        ));
        assert_eq!(
            rules_found(dangling.clone()),
            (Verdict::Review, vec!["custody"])
        );
        dangling.push((
            "carrier-b",
            K::Accept {
                from: fixtures::org("carrier-a"),
            },
        ));
        assert_eq!(rules_found(dangling), (Verdict::Release, vec![]));
    }

    #[test]
    fn particulars_withheld_purged_or_forged_are_a_data_gap_that_holds() {
        let events = story(clean());
        let policy = ReleasePolicy::default();
        let cases = [
            Disclosure::Withheld {
                reason: "not entitled".into(),
            },
            Disclosure::Purged {
                detail: "private data purged at height 7 by platform".into(),
            },
            Disclosure::Forged {
                reason: "hash mismatch".into(),
            },
        ];
        for particulars in cases {
            let report = release_check(&events, Some(&particulars), &policy, None, None);
            assert_eq!(report.verdict, Verdict::Hold, "{particulars:?}");
            assert_eq!(report.findings[0].rule, "particulars");
            assert!(
                report.findings[0].detail.contains("never a pass"),
                "{:?}",
                report.findings
            );
        }
        let unfetched = release_check(&events, None, &policy, None, None);
        assert_eq!(unfetched.verdict, Verdict::Hold);
    }

    #[test]
    fn a_suspect_serial_holds_and_a_data_gap_is_only_noted() {
        use crate::audit::{AuditClass, AuditFinding, AuditReport};
        let audit = |class, rule| AuditReport {
            serial: fixtures::sgtin("S1"),
            class,
            findings: vec![AuditFinding {
                rule,
                class,
                detail: "test".into(),
                events: vec![],
            }],
        };
        let events = story(clean());
        let policy = ReleasePolicy::default();
        let suspect = check(
            &events,
            &policy,
            Some(&[audit(AuditClass::Suspect, "never_commissioned")]),
            None,
        );
        assert_eq!(suspect.verdict, Verdict::Hold);
        assert_eq!(suspect.findings[0].rule, "serial");
        assert!(suspect.findings[0].detail.contains("never_commissioned"));
        let gap = check(
            &events,
            &policy,
            Some(&[audit(AuditClass::DataGap, "no_locations")]),
            None,
        );
        assert_eq!(gap.verdict, Verdict::Release);
        assert_eq!(gap.findings.len(), 1);
        assert_eq!(
            gap.not_checked.len(),
            1,
            "split consignments were not fetched"
        );
        let clean = check(
            &events,
            &policy,
            Some(&[audit(AuditClass::Clean, "none")]),
            None,
        );
        assert_eq!((clean.verdict, clean.findings.len()), (Verdict::Release, 0));
    }

    #[test]
    fn consignments_split_to_stay_under_the_threshold_go_to_review() {
        let events = story(clean());
        let policy = ReleasePolicy::default();
        let other = |value_minor| RelatedConsignment {
            shipment: fixtures::shipment("OTHER"),
            value_minor,
            currency: CurrencyCode::new("EUR").expect("currency"),
            declaration: Hash([7; 32]),
        };
        // 89.90 + 70.00 > 150: split.
        let split = check(&events, &policy, None, Some(&[other(7_000)]));
        assert_eq!(split.verdict, Verdict::Review);
        assert_eq!(split.findings[0].rule, "split_consignment");
        assert_eq!(split.findings[0].events.len(), 2);
        // 89.90 + 50.00 ≤ 150: fine; and a high-value other consignment is not part of a split.
        let fine = check(&events, &policy, None, Some(&[other(5_000)]));
        assert_eq!(fine.verdict, Verdict::Release);
        assert!(!fine.not_checked.iter().any(|n| n.contains("split")));
        let high = check(&events, &policy, None, Some(&[other(20_000)]));
        assert_eq!(high.verdict, Verdict::Release);
    }

    #[test]
    fn consignments_in_other_currencies_are_converted_or_sent_to_review() {
        let events = story(clean());
        let mut policy = ReleasePolicy::default();
        let in_currency = |value_minor, currency: &str| RelatedConsignment {
            shipment: fixtures::shipment("OTHER"),
            value_minor,
            currency: CurrencyCode::new(currency).expect("currency"),
            declaration: Hash([8; 32]),
        };
        policy.conversions = vec![Conversion {
            currency: CurrencyCode::new("USD").expect("currency"),
            threshold_minor_per_million: 900_000,
            source: "test rate".into(),
        }];
        // 89.90 EUR + 80.00 USD (72.00 EUR) > 150 EUR: split, found across currencies.
        let split = check(&events, &policy, None, Some(&[in_currency(8_000, "USD")]));
        assert_eq!(split.verdict, Verdict::Review);
        assert_eq!(split.findings[0].rule, "split_consignment");
        assert!(
            split.findings[0].detail.contains("16190 EUR"),
            "{:?}",
            split.findings
        );
        // 89.90 EUR + 60.00 USD (54.00 EUR) ≤ 150 EUR: fine.
        let fine = check(&events, &policy, None, Some(&[in_currency(6_000, "USD")]));
        assert_eq!(fine.verdict, Verdict::Release, "{:?}", fine.findings);
        // No rate for GBP: the officer is told to add it up by hand.
        let unknown = check(&events, &policy, None, Some(&[in_currency(1_000, "GBP")]));
        assert_eq!(unknown.verdict, Verdict::Review);
        assert!(
            unknown.findings[0].detail.contains("GBP"),
            "{:?}",
            unknown.findings
        );
    }

    #[test]
    fn policies_are_checked_when_read() {
        let bad = "low_value_threshold_minor = 15000\nthreshold_currency = \"EUR\"\n[[value_floor]]\nhs_prefix = \"64a\"\ncurrency = \"EUR\"\nmin_unit_value_minor = 1\n";
        let error = ReleasePolicy::from_toml(bad).expect_err("bad prefix");
        assert!(
            error.to_string().contains("value_floor[0].hs_prefix"),
            "{error}"
        );
        assert!(ReleasePolicy::from_toml("nonsense = 1").is_err());
    }
}
