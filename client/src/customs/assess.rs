//! Duties, taxes and fees of one consignment under the rules in force on its day: the customs
//! value in the jurisdiction's currency, then each amount with the rule that produced it.

use std::collections::BTreeSet;

use serde::Serialize;
use waybill_protocol::{CountryCode, CurrencyCode};

use super::policy::{DatedRule, RegistrationScheme, Rule, RuleSet};
use super::rates::ExchangeRates;
use super::units::{Day, Money, apply_basis_points};

/// Which day decided the law, and why that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayBasis {
    /// The goods were presented on arrival: a pre-lodged declaration is accepted then, the
    /// customs debt arises then, and the rules of that day apply (UCC Arts. 171, 77(2), 85(1)).
    Arrival,
    /// Not yet arrived: the declaration's day, a provisional assessment until arrival.
    Declaration,
}

/// What the rules need to know of a consignment, from its verified declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consignment {
    pub day: Day,
    pub day_basis: DayBasis,
    pub destination: CountryCode,
    pub currency: CurrencyCode,
    pub lines: Vec<GoodsLine>,
    pub ioss: Option<String>,
    /// The seller's registration (VAT, ABN/ARN), else the consignor's.
    pub seller_registration: Option<String>,
    /// The declaration says the consignment is a gift between private persons.
    pub gift: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodsLine {
    pub description: String,
    pub hs6: String,
    pub quantity: u32,
    pub value_minor: u64,
    pub origin: CountryCode,
}

/// One amount due, and the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charge {
    /// `customs_duty`, `additional_duty`, `import_vat` or `fee`.
    pub kind: &'static str,
    pub amount: Money,
    pub rule: String,
    pub source: String,
    pub detail: String,
}

/// What applies without an amount: a relief, tax collected at sale, the entry needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Treatment {
    pub rule: String,
    pub source: String,
    pub detail: String,
}

/// Something in the declaration the tax rules find wrong (it feeds the risk score).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxIssue {
    pub rule: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub jurisdiction: String,
    pub rules_file: String,
    pub day: Day,
    pub day_basis: DayBasis,
    pub customs_value: Option<Money>,
    /// The exchange rate used, as `1 USD = 0.86 EUR (source)`.
    pub conversion: Option<String>,
    pub charges: Vec<Charge>,
    pub total_due: Option<Money>,
    pub treatments: Vec<Treatment>,
    pub issues: Vec<TaxIssue>,
    /// Why nothing could be computed, if so.
    pub not_assessed: Option<String>,
}

/// The rules of one set in force on one day, by kind.
struct InForce<'a>(Vec<&'a DatedRule>);

impl<'a> InForce<'a> {
    fn find<T>(&self, pick: impl Fn(&'a Rule) -> Option<T>) -> Option<(&'a DatedRule, T)> {
        self.0
            .iter()
            .find_map(|rule| pick(&rule.rule).map(|found| (*rule, found)))
    }
}

fn starts_with_any(hs6: &str, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|prefix| hs6.starts_with(prefix.as_str()))
}

/// Whether `registration` has the shape `scheme` asks for.
pub fn registration_valid(scheme: RegistrationScheme, registration: &str) -> bool {
    let digits = |s: &str, counts: &[usize]| {
        counts.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match scheme {
        // The protocol's own IOSS number check: `IM` and ten digits.
        RegistrationScheme::Ioss => waybill_protocol::IossNumber::new(registration).is_ok(),
        RegistrationScheme::GbVat => registration
            .strip_prefix("GB")
            .is_some_and(|d| digits(d, &[9, 12])),
        RegistrationScheme::AuGst => {
            let number = registration
                .strip_prefix("ABN")
                .or_else(|| registration.strip_prefix("ARN"))
                .unwrap_or(registration);
            digits(number, &[11, 12])
        }
    }
}

fn treatment(rule: &DatedRule, detail: String) -> Treatment {
    Treatment {
        rule: rule.id.clone(),
        source: rule.provenance.source.clone(),
        detail,
    }
}

fn charge(kind: &'static str, amount: Money, rule: &DatedRule, detail: String) -> Charge {
    Charge {
        kind,
        amount,
        rule: rule.id.clone(),
        source: rule.provenance.source.clone(),
        detail,
    }
}

/// Work in progress of one assessment.
struct Work<'a> {
    consignment: &'a Consignment,
    rules: InForce<'a>,
    currency: &'a CurrencyCode,
    /// Each line's value in the jurisdiction's currency.
    values: Vec<u64>,
    value: u64,
    out: Assessment,
}

pub fn assess(consignment: &Consignment, set: &RuleSet, rates: &ExchangeRates) -> Assessment {
    let mut out = Assessment {
        jurisdiction: set.jurisdiction.clone(),
        rules_file: set.file.clone(),
        day: consignment.day,
        day_basis: consignment.day_basis,
        customs_value: None,
        conversion: None,
        charges: Vec::new(),
        total_due: None,
        treatments: Vec::new(),
        issues: Vec::new(),
        not_assessed: None,
    };
    let mut values = Vec::with_capacity(consignment.lines.len());
    for line in &consignment.lines {
        let money = Money::new(line.value_minor, &consignment.currency);
        match rates.convert(&money, &set.currency, consignment.day) {
            Some((converted, rate)) => {
                if let Some(rate) = rate {
                    out.conversion = Some(format!(
                        "1 {} = {} {} ({})",
                        rate.currency, rate.text, rate.into, rate.provenance.source
                    ));
                }
                values.push(converted.minor);
            }
            None => {
                out.not_assessed = Some(format!(
                    "{}: no exchange rate {} → {} in force on {} in {}",
                    set.jurisdiction,
                    consignment.currency,
                    set.currency,
                    consignment.day,
                    rates.file
                ));
                return out;
            }
        }
    }
    let value = values.iter().fold(0u64, |sum, v| sum.saturating_add(*v));
    out.customs_value = Some(Money::new(value, &set.currency));
    let rules = InForce(set.in_force(consignment.day).collect());
    let mut work = Work {
        consignment,
        rules,
        currency: &set.currency,
        values,
        value,
        out,
    };
    work.run();
    work.out
}

impl Work<'_> {
    fn run(&mut self) {
        if self.gift_relief() {
            return self.finish();
        }
        let collected_at_sale = self.vat_at_sale();
        let duty = self.duty(collected_at_sale);
        if !collected_at_sale {
            self.import_vat(duty);
        }
        self.fees();
        self.entry();
        self.finish();
    }

    fn finish(&mut self) {
        let total = self
            .out
            .charges
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.amount.minor));
        self.out.total_due = Some(Money::new(total, self.currency));
    }

    fn money(&self, minor: u64) -> Money {
        Money::new(minor, self.currency)
    }

    fn gift_relief(&mut self) -> bool {
        let Some((rule, threshold)) = self.rules.find(|r| match r {
            Rule::GiftRelief { threshold } => Some(threshold),
            _ => None,
        }) else {
            return false;
        };
        if !self.consignment.gift || self.value > threshold.minor {
            return false;
        }
        let detail = format!(
            "a gift of {} (up to {threshold}): no duty, no import VAT",
            self.money(self.value)
        );
        self.out.treatments.push(treatment(rule, detail));
        true
    }

    /// Whether VAT was collected at the point of sale under a registration the rule accepts.
    fn vat_at_sale(&mut self) -> bool {
        let Some((rule, (threshold, scheme, excluded))) = self.rules.find(|r| match r {
            Rule::VatAtSale {
                threshold,
                registration,
                excluded_hs,
            } => Some((threshold, *registration, excluded_hs)),
            _ => None,
        }) else {
            return false;
        };
        let registration = match scheme {
            RegistrationScheme::Ioss => self.consignment.ioss.as_deref(),
            _ => self.consignment.seller_registration.as_deref(),
        };
        let excise: Vec<&str> = self
            .consignment
            .lines
            .iter()
            .filter(|l| starts_with_any(&l.hs6, excluded))
            .map(|l| l.hs6.as_str())
            .collect();
        let within = self.value <= threshold.minor;
        let value = self.money(self.value);
        let issue = |detail: String| TaxIssue {
            rule: rule.id.clone(),
            detail,
        };
        match registration {
            Some(number) if !registration_valid(scheme, number) => {
                self.out.issues.push(issue(format!(
                    "{number:?} is not a valid {scheme:?} registration"
                )));
                false
            }
            Some(number) if !within => {
                self.out.issues.push(issue(format!("{number} given for a consignment of {value}, over the {threshold} limit of the scheme: tax is due at import")));
                false
            }
            Some(number) if !excise.is_empty() => {
                self.out.issues.push(issue(format!(
                    "{number} given for excise goods (HS {}), which the scheme excludes",
                    excise.join(", ")
                )));
                false
            }
            Some(number) => {
                let detail = format!(
                    "VAT collected at the point of sale under {number} (consignment {value}, up to {threshold})"
                );
                self.out.treatments.push(treatment(rule, detail));
                true
            }
            None if within => {
                let detail = format!(
                    "no {scheme:?} registration on a consignment of {value}: tax is collected at import"
                );
                self.out.treatments.push(treatment(rule, detail));
                false
            }
            None => false,
        }
    }

    /// Customs duty and additional duties; returns their sum (the VAT base includes it).
    fn duty(&mut self, collected_at_sale: bool) -> u64 {
        let before = self.out.charges.len();
        if !self.flat_duty(collected_at_sale) && !self.duty_relief() {
            self.ad_valorem_duty();
        }
        self.additional_duty();
        self.out.charges[before..]
            .iter()
            .map(|c| c.amount.minor)
            .fold(0, u64::saturating_add)
    }

    fn flat_duty(&mut self, collected_at_sale: bool) -> bool {
        let Some((rule, (amount, threshold))) = self.rules.find(|r| match r {
            Rule::FlatDutyPerSubheading { amount, threshold } => Some((amount, threshold)),
            _ => None,
        }) else {
            return false;
        };
        if !collected_at_sale || self.value > threshold.minor {
            return false;
        }
        let headings: BTreeSet<&str> = self
            .consignment
            .lines
            .iter()
            .map(|l| l.hs6.as_str())
            .collect();
        let count = headings.len() as u64;
        let due = amount.minor.saturating_mul(count);
        let list: Vec<&str> = headings.into_iter().collect();
        let detail = format!(
            "{amount} × {count} distinct sub-heading(s) ({})",
            list.join(", ")
        );
        self.out
            .charges
            .push(charge("customs_duty", self.money(due), rule, detail));
        true
    }

    fn duty_relief(&mut self) -> bool {
        let Some((rule, (threshold, excluded))) = self.rules.find(|r| match r {
            Rule::DutyRelief {
                threshold,
                excluded_hs,
            } => Some((threshold, excluded_hs)),
            _ => None,
        }) else {
            return false;
        };
        let excise = self
            .consignment
            .lines
            .iter()
            .any(|l| starts_with_any(&l.hs6, excluded));
        if self.value > threshold.minor || excise {
            return false;
        }
        let detail = format!(
            "no customs duty: {} is within the {threshold} relief",
            self.money(self.value)
        );
        self.out.treatments.push(treatment(rule, detail));
        true
    }

    fn ad_valorem_duty(&mut self) {
        let Some((rule, (default, rates))) = self.rules.find(|r| match r {
            Rule::DutyRates {
                default_basis,
                rates,
            } => Some((*default_basis, rates)),
            _ => None,
        }) else {
            return;
        };
        for (line, value) in self.consignment.lines.iter().zip(&self.values) {
            let rate = rates
                .iter()
                .find(|r| line.hs6.starts_with(r.hs_prefix.as_str()));
            let (basis, at) = rate.map_or((default, "default".to_string()), |r| {
                (r.basis, format!("HS {}", r.hs_prefix))
            });
            let due = apply_basis_points(*value, basis);
            let detail = format!(
                "{} (HS {}): {} × {}.{:02} % ({at})",
                line.description,
                line.hs6,
                self.money(*value),
                basis / 100,
                basis % 100
            );
            self.out
                .charges
                .push(charge("customs_duty", self.money(due), rule, detail));
        }
    }

    fn additional_duty(&mut self) {
        let Some((rule, rates)) = self.rules.find(|r| match r {
            Rule::AdditionalDuty { rates } => Some(rates),
            _ => None,
        }) else {
            return;
        };
        for (line, value) in self.consignment.lines.iter().zip(&self.values) {
            let Some(rate) = rates.iter().find(|r| r.country == line.origin) else {
                continue;
            };
            let due = apply_basis_points(*value, rate.basis);
            let detail = format!(
                "{} from {}: {} × {}.{:02} %",
                line.description,
                line.origin,
                self.money(*value),
                rate.basis / 100,
                rate.basis % 100
            );
            self.out
                .charges
                .push(charge("additional_duty", self.money(due), rule, detail));
        }
    }

    fn import_vat(&mut self, duty: u64) {
        let destination = &self.consignment.destination;
        let Some((rule, rate)) = self.rules.find(|r| match r {
            Rule::ImportVat { rates } => rates.iter().find(|rate| &rate.country == destination),
            _ => None,
        }) else {
            return;
        };
        let base = self.value.saturating_add(duty);
        let due = apply_basis_points(base, rate.basis);
        let detail = format!(
            "({} value + {} duty) × {}.{:02} % ({destination})",
            self.money(self.value),
            self.money(duty),
            rate.basis / 100,
            rate.basis % 100
        );
        self.out
            .charges
            .push(charge("import_vat", self.money(due), rule, detail));
    }

    fn fees(&mut self) {
        let Some((rule, (amount, status))) = self.rules.find(|r| match r {
            Rule::HandlingFee { amount, status } => Some((amount, status)),
            _ => None,
        }) else {
            return;
        };
        let items = self
            .consignment
            .lines
            .iter()
            .map(|l| u64::from(l.quantity))
            .fold(0, u64::saturating_add);
        let due = amount.minor.saturating_mul(items);
        let detail = format!("{amount} × {items} item(s) ({status})");
        self.out
            .charges
            .push(charge("fee", self.money(due), rule, detail));
    }

    fn entry(&mut self) {
        let Some((rule, (informal, methods))) = self.rules.find(|r| match r {
            Rule::Entry {
                informal_up_to,
                postal_methods,
            } => Some((informal_up_to, postal_methods)),
            _ => None,
        }) else {
            return;
        };
        let kind = if self.value <= informal.minor {
            "an informal entry"
        } else {
            "a formal entry"
        };
        let mut detail = format!(
            "{kind} is needed ({} against {informal})",
            self.money(self.value)
        );
        if !methods.is_empty() {
            detail.push_str(&format!("; postal duty methods: {}", methods.join("; ")));
        }
        self.out.treatments.push(treatment(rule, detail));
    }
}
