//! The customs release decision (DESIGN.md §8) on a shipment's *verified* history, under the
//! law in force on its day (`customs`): the duties and taxes due, and a lane.
//!
//! HOLD when the ledger itself stops the goods (no declaration or unverifiable particulars, no
//! risk assessment or do-not-load, an open hold, a seizure, a failed inspection, a suspect
//! serial). Otherwise the lane comes from a score over the risk profile's weighted criteria,
//! raised by the ICS2 outcome (an RFI needs documents, a screening request an inspection) and by
//! the random draw. Every hit names its weight and the events behind it.

use serde::Serialize;
use waybill_protocol::event::{
    BizTransactionKind, Declaration, EventKind, InspectionResult, RiskStatus, SignedEvent,
};
use waybill_protocol::{CurrencyCode, Hash, OrgId};

use crate::customs::assess::{self, Assessment, Consignment, DayBasis, GoodsLine};
use crate::customs::policy::{Rule, RuleSet};
use crate::customs::risk::{Draw, Lane, TierEffect};
use crate::customs::tiers::Standing;
use crate::customs::units::{Day, Money};
use crate::customs::{Policies, ics2};
use crate::disclosure::Disclosure;

/// Another shipment to the same consignee, from its verified history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedConsignment {
    pub shipment: waybill_protocol::ShipmentId,
    pub value_minor: u64,
    pub currency: CurrencyCode,
    pub declaration: Hash,
    /// Its failed inspections and seizures.
    pub adverse: Vec<Hash>,
}

/// Another consignment of one of this one's parties (the declaring platform, the consignor,
/// the seller) with a failed inspection or a seizure, from its verified history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorFinding {
    /// Who, for people: "the declaring platform platform", "consignor Shenzhen Co (CN-1)".
    pub party: String,
    pub shipment: waybill_protocol::ShipmentId,
    pub events: Vec<Hash>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Release,
    Review,
    Hold,
}

/// One reason for the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    /// `Hold` stops the goods; `Review` raised the score or the lane; `Release` is a note or
    /// a credit.
    pub verdict: Verdict,
    /// What it added to the score (negative: a trusted-trader credit).
    pub weight: i32,
    pub detail: String,
    /// The events behind the finding (empty when it is about something missing).
    pub events: Vec<Hash>,
}

/// How the random selection went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub draw: Option<Draw>,
    pub red_per_million: u32,
    pub blue_per_million: u32,
    /// The tier whose rates applied, if an accreditation counted.
    pub tier: Option<String>,
    pub selected: Option<Lane>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    pub lane: Lane,
    pub verdict: Verdict,
    pub score: i32,
    pub findings: Vec<Finding>,
    pub assessment: Option<Assessment>,
    /// The ICS2 meaning of the latest risk outcome.
    pub risk_outcome: Option<&'static str>,
    pub ics2_missing: Vec<String>,
    pub selection: Selection,
    pub not_checked: Vec<String>,
}

/// What the decision is taken on: all of it verified by the caller.
#[derive(Debug, Clone, Copy)]
pub struct CaseFile<'a> {
    /// The shipment's applied events, in order.
    pub events: &'a [SignedEvent],
    pub particulars: Option<&'a Disclosure>,
    /// The audits of the serials it names (`named_serials`), if fetched.
    pub serial_audits: Option<&'a [crate::audit::AuditReport]>,
    /// The consignee's other consignments, if fetched.
    pub related: Option<&'a [RelatedConsignment]>,
    /// The parties' other consignments customs found against, if fetched.
    pub prior: Option<&'a [PriorFinding]>,
    /// The accreditations of the declaring platform, the consignor and the seller, if fetched.
    pub standings: Option<&'a [Standing]>,
    /// The draw, once the block after the declaration's is committed.
    pub draw: Option<Draw>,
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

/// The consignment's facts for the tax rules, and the day whose law applies: the arrival's if
/// the goods have arrived (a pre-lodged declaration is accepted on presentation), else the
/// declaration's (provisional).
pub fn consignment(
    events: &[SignedEvent],
    declared: &SignedEvent,
    declaration: &Declaration,
) -> Consignment {
    let arrival = events
        .iter()
        .find(|e| matches!(e.body.kind.effective(), EventKind::Arrive));
    let (basis, dated) = match arrival {
        Some(event) => (DayBasis::Arrival, event),
        None => (DayBasis::Declaration, declared),
    };
    let gift = events
        .iter()
        .flat_map(|e| &e.body.biz_transactions)
        .any(|d| d.kind == BizTransactionKind::GiftDeclaration);
    let seller = declaration
        .seller
        .as_ref()
        .unwrap_or(&declaration.consignor);
    Consignment {
        day: Day::of_event(dated.body.event_time_ms, dated.body.timezone_offset_minutes),
        day_basis: basis,
        destination: declaration.consignee.country.clone(),
        currency: declaration.currency.clone(),
        lines: declaration
            .items
            .iter()
            .map(|item| GoodsLine {
                description: item.description.to_string(),
                hs6: item.hs6.to_string(),
                quantity: item.quantity,
                value_minor: item.value_minor,
                origin: item.origin.clone(),
            })
            .collect(),
        ioss: declaration.ioss.as_ref().map(ToString::to_string),
        seller_registration: seller.registration.as_ref().map(ToString::to_string),
        gift,
    }
}

/// The decision being built.
struct Desk<'a> {
    case: CaseFile<'a>,
    policies: &'a Policies,
    findings: Vec<Finding>,
    floor: Lane,
    not_checked: Vec<String>,
}

impl Desk<'_> {
    fn add(
        &mut self,
        rule: &'static str,
        verdict: Verdict,
        weight: i32,
        detail: String,
        events: Vec<Hash>,
    ) {
        self.findings.push(Finding {
            rule,
            verdict,
            weight,
            detail,
            events,
        });
    }

    fn hold(&mut self, rule: &'static str, detail: String, events: Vec<Hash>) {
        self.add(rule, Verdict::Hold, 0, detail, events);
    }

    /// A ledger fact that sets the lowest lane, whatever the score.
    fn raise(&mut self, rule: &'static str, lane: Lane, detail: String, events: Vec<Hash>) {
        self.floor = self.floor.max(lane);
        self.add(rule, Verdict::Review, 0, detail, events);
    }

    fn hit(&mut self, rule: &'static str, weight: i32, detail: String, events: Vec<Hash>) {
        let verdict = if weight > 0 {
            Verdict::Review
        } else {
            Verdict::Release
        };
        self.add(rule, verdict, weight, detail, events);
    }
}

/// Decides on a verified case under `policies`.
pub fn release_check(case: CaseFile<'_>, policies: &Policies) -> ReleaseReport {
    let mut desk = Desk {
        case,
        policies,
        findings: Vec::new(),
        floor: Lane::Green,
        not_checked: Vec::new(),
    };
    let declared = case
        .events
        .iter()
        .find(|e| matches!(e.body.kind.effective(), EventKind::Declare(_)));
    let (assessment, ics2_missing) = desk.declaration(declared);
    desk.prior_findings();
    let risk_outcome = desk.risk_outcome();
    desk.ledger_holds();
    desk.custody();
    desk.serials();
    let effect = desk.tiers(declared);
    let score = desk.findings.iter().map(|f| f.weight).sum::<i32>();
    let held = desk.findings.iter().any(|f| f.verdict == Verdict::Hold);
    let scored = policies.risk.lane_of(score).max(desk.floor);
    let (lane, selection) = if held {
        (Lane::Hold, desk.selection(effect, None))
    } else {
        desk.draw(scored, effect)
    };
    let verdict = match lane {
        Lane::Hold => Verdict::Hold,
        lane if lane.released() => Verdict::Release,
        _ => Verdict::Review,
    };
    ReleaseReport {
        lane,
        verdict,
        score,
        findings: desk.findings,
        assessment,
        risk_outcome,
        ics2_missing,
        selection,
        not_checked: desk.not_checked,
    }
}

impl Desk<'_> {
    /// The rules on the declaration: the duties and taxes, the goods and consignee criteria,
    /// the ICS2 data set; HOLD without a declaration or without verified particulars.
    fn declaration(&mut self, declared: Option<&SignedEvent>) -> (Option<Assessment>, Vec<String>) {
        let events = self.case.events;
        let particulars = self.case.particulars;
        let Some(event) = declared else {
            self.hold(
                "declaration",
                "no pre-arrival declaration is recorded".into(),
                vec![],
            );
            return (None, Vec::new());
        };
        let Some(declaration) = particulars.and_then(Disclosure::declaration) else {
            let why = particulars.map_or("particulars not fetched".into(), Disclosure::describe);
            let detail = format!(
                "{why}: value, IOSS and consignee cannot be checked (a data gap, never a pass)"
            );
            self.hold("particulars", detail, vec![event.body.id()]);
            return (None, Vec::new());
        };
        let facts = consignment(events, event, declaration);
        let assessment = self.assess(&facts, event);
        self.goods_criteria(&facts, event, declaration, assessment.as_ref());
        let missing = ics2::check_data_set(events, declaration).missing;
        if !missing.is_empty() {
            let detail = format!("ICS2 7+1 data set incomplete: {}", missing.join("; "));
            self.hit(
                "ics2",
                self.policies.risk.weights.ics2_missing,
                detail,
                vec![event.body.id()],
            );
        }
        (assessment, missing)
    }

    fn rule_set(&mut self, destination: &waybill_protocol::CountryCode) -> Option<&RuleSet> {
        let found = self.policies.jurisdiction_of(destination);
        if found.is_none() {
            self.not_checked.push(format!(
                "duties and taxes: no rule set covers destination {destination}"
            ));
        }
        found
    }

    fn assess(&mut self, facts: &Consignment, declared: &SignedEvent) -> Option<Assessment> {
        let policies = self.policies;
        let set = self.rule_set(&facts.destination)?;
        let assessment = assess::assess(facts, set, &policies.rates);
        let id = declared.body.id();
        let weights = &policies.risk.weights;
        if let Some(reason) = &assessment.not_assessed {
            self.hit(
                "not_assessed",
                weights.not_assessed,
                format!("{reason}: assess by hand"),
                vec![id],
            );
        }
        for issue in &assessment.issues {
            self.hit(
                "tax_issue",
                weights.tax_issue,
                format!("{} [{}]", issue.detail, issue.rule),
                vec![id],
            );
        }
        Some(assessment)
    }

    /// The low-value limit in force for the consignment: where splitting starts to pay.
    fn low_value_limit(&self, facts: &Consignment) -> Option<Money> {
        let set = self.policies.jurisdiction_of(&facts.destination)?;
        set.in_force(facts.day).find_map(|rule| match &rule.rule {
            Rule::VatAtSale { threshold, .. } | Rule::DutyRelief { threshold, .. } => {
                Some(threshold.clone())
            }
            _ => None,
        })
    }

    fn goods_criteria(
        &mut self,
        facts: &Consignment,
        declared: &SignedEvent,
        declaration: &Declaration,
        assessment: Option<&Assessment>,
    ) {
        let risk = &self.policies.risk;
        let id = declared.body.id();
        let origins: Vec<&str> = facts
            .lines
            .iter()
            .filter(|l| risk.origin_countries.contains(&l.origin))
            .map(|l| l.origin.as_str())
            .collect();
        if !origins.is_empty() {
            self.hit(
                "origin",
                risk.weights.origin,
                format!("origin on the risk list: {}", origins.join(", ")),
                vec![id],
            );
        }
        let listed: Vec<String> = facts
            .lines
            .iter()
            .filter(|l| risk.hs_risk.iter().any(|p| l.hs6.starts_with(p.as_str())))
            .map(|l| format!("{} (HS {})", l.description, l.hs6))
            .collect();
        if !listed.is_empty() {
            self.hit(
                "hs_risk",
                risk.weights.hs_risk,
                format!("goods on the HS risk list: {}", listed.join(", ")),
                vec![id],
            );
        }
        self.undervaluation(facts, id);
        let customs_value = assessment.and_then(|a| a.customs_value.clone());
        self.consignee_profile(facts, declaration, declared, customs_value);
    }

    fn undervaluation(&mut self, facts: &Consignment, id: Hash) {
        let risk = &self.policies.risk;
        for line in &facts.lines {
            let Some(floor) = risk
                .floors
                .iter()
                .find(|f| line.hs6.starts_with(f.hs_prefix.as_str()))
            else {
                continue;
            };
            let unit = Money::new(
                line.value_minor / u64::from(line.quantity.max(1)),
                &facts.currency,
            );
            let Some((in_floor, _)) =
                self.policies
                    .rates
                    .convert(&unit, &floor.unit_value.currency, facts.day)
            else {
                self.not_checked.push(format!(
                    "value floor of HS {}: no rate {} → {}",
                    floor.hs_prefix, unit.currency, floor.unit_value.currency
                ));
                continue;
            };
            if in_floor.minor < floor.unit_value.minor {
                let detail = format!(
                    "{} (HS {}) declared at {unit} a unit, below the floor of {} for HS {}",
                    line.description, line.hs6, floor.unit_value, floor.hs_prefix
                );
                self.hit(
                    "undervaluation",
                    risk.weights.undervaluation,
                    detail,
                    vec![id],
                );
            }
        }
    }

    fn consignee_profile(
        &mut self,
        facts: &Consignment,
        declaration: &Declaration,
        declared: &SignedEvent,
        value: Option<Money>,
    ) {
        let Some(related) = self.case.related else {
            self.not_checked.push("consignee profile and split consignments (the consignee's other shipments were not fetched)".into());
            return;
        };
        let risk = &self.policies.risk;
        let weights = &risk.weights;
        let id = declared.body.id();
        let others: Vec<&RelatedConsignment> = related
            .iter()
            .filter(|r| r.shipment != declared.body.shipment)
            .collect();
        let consignee = &declaration.consignee.name;
        let window = risk.consignee_window_days;
        if others.is_empty() {
            self.hit(
                "new_consignee",
                weights.new_consignee,
                format!("no other consignment to {consignee} within {window} days"),
                vec![id],
            );
        }
        if others.len() >= risk.many_consignments as usize {
            let events = others.iter().map(|r| r.declaration).collect();
            self.hit(
                "many_consignments",
                weights.many_consignments,
                format!(
                    "{} other consignments to {consignee} within {window} days",
                    others.len()
                ),
                events,
            );
        }
        let adverse: Vec<Hash> = others
            .iter()
            .flat_map(|r| r.adverse.iter().copied())
            .collect();
        if !adverse.is_empty() {
            let detail = format!(
                "{} failed inspection(s) or seizure(s) in other consignments to {consignee}",
                adverse.len()
            );
            self.hit("prior_findings", weights.prior_findings, detail, adverse);
        }
        if let (Some(limit), Some(value)) = (self.low_value_limit(facts), value) {
            self.splits(facts, &others, &limit, &value, id, consignee.as_str());
        }
    }

    fn splits(
        &mut self,
        facts: &Consignment,
        others: &[&RelatedConsignment],
        limit: &Money,
        own: &Money,
        id: Hash,
        consignee: &str,
    ) {
        if own.minor > limit.minor {
            return;
        }
        let (mut low, mut unconvertible) = (Vec::new(), Vec::new());
        for other in others {
            let money = Money::new(other.value_minor, &other.currency);
            match self
                .policies
                .rates
                .convert(&money, &limit.currency, facts.day)
            {
                Some((value, _)) if value.minor <= limit.minor => {
                    low.push((other.declaration, value.minor))
                }
                Some(_) => {}
                None => unconvertible.push(other.currency.to_string()),
            }
        }
        let total = low
            .iter()
            .fold(own.minor, |sum, (_, v)| sum.saturating_add(*v));
        let weight = self.policies.risk.weights.possible_split;
        if !low.is_empty() && total > limit.minor {
            let mut events = vec![id];
            events.extend(low.iter().map(|(e, _)| *e));
            let detail = format!(
                "{} other low-value consignment(s) to {consignee}; together {}, over the {limit} limit: possibly split",
                low.len(),
                Money::new(total, &limit.currency)
            );
            self.hit("split_consignment", weight, detail, events);
        }
        if !unconvertible.is_empty() {
            unconvertible.sort();
            unconvertible.dedup();
            self.not_checked.push(format!(
                "split consignments: no rate for {}",
                unconvertible.join(", ")
            ));
        }
    }

    /// Failed inspections and seizures in other consignments of the declaring platform, the
    /// consignor or the seller: one hit per party.
    fn prior_findings(&mut self) {
        let Some(prior) = self.case.prior else {
            let gap =
                "prior findings against the declaring platform, consignor and seller (not fetched)";
            self.not_checked.push(gap.into());
            return;
        };
        let weight = self.policies.risk.weights.prior_findings;
        let window = self.policies.risk.prior_window_days;
        let mut parties: Vec<&str> = prior.iter().map(|p| p.party.as_str()).collect();
        parties.dedup();
        for party in parties {
            let of_party: Vec<&PriorFinding> = prior.iter().filter(|p| p.party == party).collect();
            let events: Vec<Hash> = of_party
                .iter()
                .flat_map(|p| p.events.iter().copied())
                .collect();
            let shipments: Vec<&str> = of_party.iter().map(|p| p.shipment.as_str()).collect();
            let detail = format!(
                "{} failed inspection(s) or seizure(s) within {window} days in other consignments of {party}: {}",
                events.len(),
                shipments.join(", ")
            );
            self.hit("prior_findings", weight, detail, events);
        }
    }

    fn risk_outcome(&mut self) -> Option<&'static str> {
        let risk = self
            .case
            .events
            .iter()
            .rev()
            .find_map(|e| match e.body.kind.effective() {
                EventKind::RiskAssessed { status } => Some((e.body.id(), *status)),
                _ => None,
            });
        let Some((id, status)) = risk else {
            self.hold("risk", "no risk assessment is recorded".into(), vec![]);
            return None;
        };
        let meaning = ics2::meaning(status);
        match status {
            RiskStatus::Approved => {}
            RiskStatus::DoNotLoad => self.hold("risk", meaning.into(), vec![id]),
            RiskStatus::RequestForInformation => {
                self.raise("risk", Lane::Yellow, meaning.into(), vec![id])
            }
            RiskStatus::Screen => self.raise("risk", Lane::Red, meaning.into(), vec![id]),
        }
        Some(meaning)
    }

    /// Holds, as execution counts them: each Hold opens one, a compliant inspection lifts all.
    fn ledger_holds(&mut self) {
        let mut open: Vec<Hash> = Vec::new();
        for event in self.case.events {
            let id = event.body.id();
            match event.body.kind.effective() {
                EventKind::Hold { .. } => open.push(id),
                EventKind::Inspect {
                    result: InspectionResult::Compliant,
                    ..
                } => open.clear(),
                EventKind::Seize { reason } => {
                    self.hold("seizure", format!("seized by customs: {reason}"), vec![id])
                }
                EventKind::Inspect { result, note, .. } => self.hold(
                    "inspection",
                    format!("inspection found {result:?}: {note}"),
                    vec![id],
                ),
                _ => {}
            }
        }
        if !open.is_empty() {
            self.hold(
                "holds",
                format!("{} customs hold(s) still open", open.len()),
                open,
            );
        }
    }

    /// Custody anomalies: nobody took custody, or a hand-over was never accepted.
    fn custody(&mut self) {
        let weight = self.policies.risk.weights.custody;
        let events = self.case.events;
        if !events
            .iter()
            .any(|e| matches!(e.body.kind.effective(), EventKind::PickUp))
        {
            self.hit(
                "custody",
                weight,
                "no carrier has recorded taking custody".into(),
                vec![],
            );
        }
        let mut offered: Option<(&SignedEvent, OrgId)> = None;
        for event in events {
            match event.body.kind.effective() {
                EventKind::HandOver { to } => offered = Some((event, to.clone())),
                EventKind::Accept { .. } => offered = None,
                _ => {}
            }
        }
        if let Some((event, to)) = offered {
            let detail =
                format!("the hand-over to {to} was never accepted: custody is unconfirmed");
            self.hit("custody", weight, detail, vec![event.body.id()]);
        }
    }

    /// A suspect item holds the shipment; a data gap (no coordinates to check travel with, say)
    /// adds a little to the score.
    fn serials(&mut self) {
        use crate::audit::AuditClass;
        let Some(audits) = self.case.serial_audits else {
            self.not_checked
                .push("serial rules (the named serials were not audited)".into());
            return;
        };
        let weight = self.policies.risk.weights.serial_gap;
        for audit in audits {
            for item in audit.findings.iter().filter(|f| f.class == audit.class) {
                let detail = format!(
                    "item {} / {}: {} [{}]",
                    audit.serial.gtin, audit.serial.serial, item.detail, item.rule
                );
                match audit.class {
                    AuditClass::Clean => {}
                    AuditClass::DataGap => self.hit("serial", weight, detail, item.events.clone()),
                    AuditClass::Suspect => self.hold("serial", detail, item.events.clone()),
                }
            }
        }
    }

    /// Trusted-trader credits of the accreditations in force at the decision's instant; the
    /// most favourable tier's selection rates apply.
    fn tiers(&mut self, declared: Option<&SignedEvent>) -> Option<TierEffect> {
        let Some(standings) = self.case.standings else {
            self.not_checked
                .push("trusted-trader tiers (accreditations were not fetched)".into());
            return None;
        };
        let events = self.case.events;
        let at = events
            .iter()
            .find(|e| matches!(e.body.kind.effective(), EventKind::Arrive))
            .or(declared)
            .map_or(0, |e| e.body.event_time_ms);
        let mut best: Option<TierEffect> = None;
        let mut counted: Vec<(String, &str, &str)> = Vec::new();
        for standing in standings.iter().filter(|s| s.counts_at(at)) {
            let Some(effect) = self.policies.risk.tier(&standing.programme, &standing.tier) else {
                continue;
            };
            let who = standing
                .member
                .clone()
                .unwrap_or_else(|| standing.operator.clone());
            // Accredited twice in one programme and tier (a renewal): one credit.
            let key = (
                who.clone(),
                standing.programme.as_str(),
                standing.tier.as_str(),
            );
            if counted.contains(&key) {
                continue;
            }
            counted.push(key);
            let detail = format!(
                "{who} holds {} {} (credit {})",
                standing.programme, standing.tier, effect.credit
            );
            self.hit("tier", -effect.credit, detail, standing.events.clone());
            if best
                .as_ref()
                .is_none_or(|b| effect.red_per_million < b.red_per_million)
            {
                best = Some(effect.clone());
            }
        }
        best
    }

    fn selection(&self, effect: Option<TierEffect>, selected: Option<Lane>) -> Selection {
        let base = &self.policies.risk.selection;
        let (red, blue, tier) = match effect {
            Some(e) => (
                e.red_per_million,
                e.blue_per_million,
                Some(format!("{} {}", e.programme, e.tier)),
            ),
            None => (base.red_per_million, base.blue_per_million, None),
        };
        Selection {
            draw: self.case.draw,
            red_per_million: red.max(base.minimum_red_per_million),
            blue_per_million: blue,
            tier,
            selected,
        }
    }

    /// The random selection: below `red` per million a consignment under the red lane goes to
    /// red; below `red + blue` a green one goes to blue. No draw yet: not released until it is.
    fn draw(&mut self, lane: Lane, effect: Option<TierEffect>) -> (Lane, Selection) {
        let mut selection = self.selection(effect, None);
        let Some(draw) = &self.case.draw else {
            let detail = "random selection pending: its seed block (the one after the declaration's) is not committed yet".to_string();
            self.add("random_selection", Verdict::Review, 0, detail, vec![]);
            return (lane.max(Lane::Yellow), selection);
        };
        let (red, blue) = (selection.red_per_million, selection.blue_per_million);
        let picked = if lane < Lane::Red && draw.value < red {
            Some(Lane::Red)
        } else if lane == Lane::Green && draw.value < red.saturating_add(blue) {
            Some(Lane::Blue)
        } else {
            None
        };
        if let Some(picked) = picked {
            let detail = format!(
                "selected at random for {} ({}; draw {} of 1,000,000 from block {}, under {} red and {} blue per million)",
                picked.name(),
                picked.meaning(),
                draw.value,
                draw.seed_height,
                red,
                blue
            );
            self.add(
                "random_selection",
                Verdict::Review,
                0,
                detail,
                vec![draw.declaration],
            );
        }
        selection.selected = picked;
        (picked.unwrap_or(lane), selection)
    }
}

/// The report for people: the verdict and lane first, then the law and the amounts, then every
/// hit with its weight, then what was not checked.
pub fn describe(shipment: &str, height: u64, event_count: usize, report: &ReleaseReport) -> String {
    let verdict = match report.verdict {
        Verdict::Release => "RELEASE",
        Verdict::Review => "REVIEW",
        Verdict::Hold => "HOLD",
    };
    let mut lines = vec![format!(
        "{verdict} {shipment}: {} lane ({}), score {} (provenance verified as of block {height}, {event_count} events)",
        report.lane.name(),
        report.lane.meaning(),
        report.score
    )];
    if let Some(assessment) = &report.assessment {
        lines.extend(
            assessment_lines(assessment)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    if let Some(outcome) = report.risk_outcome {
        lines.push(format!("  ICS2 risk outcome: {outcome}"));
    }
    for finding in &report.findings {
        let events = match finding.events.len() {
            0 => String::new(),
            n => format!(" ({n} event{})", if n == 1 { "" } else { "s" }),
        };
        let level = match (finding.verdict, finding.weight) {
            (Verdict::Hold, _) => "hold:".to_string(),
            (_, 0) => "note:".to_string(),
            (_, weight) => format!("{weight:+}"),
        };
        lines.push(format!(
            "  {level} {} [{}]{events}",
            finding.detail, finding.rule
        ));
    }
    let selection = &report.selection;
    if let Some(draw) = &selection.draw {
        let tier = selection
            .tier
            .as_ref()
            .map_or(String::new(), |t| format!(", {t}"));
        lines.push(format!(
            "  random selection: draw {} of 1,000,000 from block {} ({} red, {} blue per million{tier})",
            draw.value, draw.seed_height, selection.red_per_million, selection.blue_per_million
        ));
    }
    lines.extend(
        report
            .not_checked
            .iter()
            .map(|gap| format!("  not checked: {gap}")),
    );
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The law applied and every amount with its rule.
fn assessment_lines(a: &Assessment) -> Vec<String> {
    let basis = match a.day_basis {
        DayBasis::Arrival => "the arrival's day",
        DayBasis::Declaration => "the declaration's day, provisional until arrival",
    };
    let mut lines = vec![format!(
        "law: {} rules in force on {} ({basis}; {})",
        a.jurisdiction, a.day, a.rules_file
    )];
    match (&a.customs_value, &a.not_assessed) {
        (_, Some(reason)) => lines.push(format!("duties and taxes not assessed: {reason}")),
        (Some(value), None) => {
            let rate = a
                .conversion
                .as_ref()
                .map_or(String::new(), |c| format!(" at {c}"));
            lines.push(format!("customs value: {value}{rate}"));
        }
        (None, None) => {}
    }
    for charge in &a.charges {
        lines.push(format!(
            "{}: {} [{}] {}",
            charge.kind, charge.amount, charge.rule, charge.detail
        ));
    }
    for treatment in &a.treatments {
        lines.push(format!(
            "treatment: {} [{}]",
            treatment.detail, treatment.rule
        ));
    }
    if let Some(total) = &a.total_due {
        lines.push(format!("total due: {total}"));
    }
    lines
}

#[cfg(test)]
mod tests;
