//! The customs law of each jurisdiction as dated data (`client/policies/`, documented in its
//! README): every rule with the period it is in force, its legal source and the day someone
//! last checked it against that source. Files are read strictly: an unknown field, a rule with
//! no source, overlapping periods or an amount in another currency is refused with the file,
//! the line and the field.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::value::Datetime;
use waybill_protocol::{CountryCode, CurrencyCode};

use super::units::{Day, Money, parse_percent};

/// Why a policy file was refused: where, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// A policy file's text with its name, for errors that point into it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub fn error(
        &self,
        span: &Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            line: self.line_of(span.start),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Parses the file into `T`, naming the field of a syntax or schema error: toml points
    /// at the key it did not expect, or at the value of the key it could not take.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, PolicyError> {
        toml::from_str(self.text).map_err(|error| {
            let span = error.span().unwrap_or(0..0);
            let line_start = self.text[..span.start.min(self.text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let on_line = &self.text[line_start..];
            let key = on_line.split(['=', '\n']).next().unwrap_or("").trim();
            let spanned = self.text.get(span.clone()).unwrap_or("").trim();
            let field = if error.message().contains("unknown field") || key.is_empty() {
                spanned.trim_matches(['[', ']'])
            } else {
                key
            };
            self.error(&span, field, error.message().trim())
        })
    }
}

/// A day from a TOML date (`2026-07-01`, no time): law is in force by the day.
pub fn day_of(
    source: &Source<'_>,
    span: &Range<usize>,
    field: &str,
    value: &Datetime,
) -> Result<Day, PolicyError> {
    let date = match (value.date, value.time, value.offset) {
        (Some(date), None, None) => date,
        _ => {
            return Err(source.error(
                span,
                field,
                format!("{value} is not a date such as 2026-07-01"),
            ));
        }
    };
    Day::from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
    .ok_or_else(|| source.error(span, field, format!("{value} is not a calendar day")))
}

/// When a rule is in force, where it comes from, when it was last checked against that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub valid_from: Day,
    /// The last day in force; `None` while no end is set.
    pub valid_until: Option<Day>,
    pub source: String,
    pub checked: Day,
    /// What is uncertain about the figure, if anything.
    pub note: Option<String>,
}

impl Provenance {
    pub fn in_force(&self, day: Day) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }

    fn overlaps(&self, other: &Provenance) -> bool {
        let ends_before =
            |a: &Provenance, b: &Provenance| a.valid_until.is_some_and(|u| u < b.valid_from);
        !ends_before(self, other) && !ends_before(other, self)
    }
}

/// What the fields common to every dated entry read as.
#[derive(Debug, Deserialize)]
pub struct RawProvenance {
    pub valid_from: Option<Datetime>,
    pub valid_until: Option<Datetime>,
    pub source: Option<String>,
    pub checked: Option<Datetime>,
    pub note: Option<String>,
}

impl RawProvenance {
    pub fn read(
        &self,
        source: &Source<'_>,
        span: &Range<usize>,
        at: &str,
    ) -> Result<Provenance, PolicyError> {
        let field = |name: &str| format!("{at}.{name}");
        let missing =
            |name: &str, why: &str| source.error(span, &field(name), format!("missing: {why}"));
        let valid_from = self
            .valid_from
            .as_ref()
            .ok_or_else(|| missing("valid_from", "the first day the rule is in force"))?;
        let valid_from = day_of(source, span, &field("valid_from"), valid_from)?;
        let valid_until = match &self.valid_until {
            Some(until) => Some(day_of(source, span, &field("valid_until"), until)?),
            None => None,
        };
        if valid_until.is_some_and(|until| until < valid_from) {
            return Err(source.error(span, &field("valid_until"), "is before valid_from"));
        }
        let legal = self.source.as_deref().map(str::trim).unwrap_or("");
        if legal.is_empty() {
            return Err(missing(
                "source",
                "every rule names the legal text it comes from",
            ));
        }
        let checked = self.checked.as_ref().ok_or_else(|| {
            missing(
                "checked",
                "the day the rule was last checked against its source",
            )
        })?;
        Ok(Provenance {
            valid_from,
            valid_until,
            source: legal.to_string(),
            checked: day_of(source, span, &field("checked"), checked)?,
            note: self.note.clone(),
        })
    }
}

/// Refuses two entries of one kind in force on a common day: on any day, one rule decides.
pub fn refuse_overlaps<'a>(
    source: &Source<'_>,
    entries: impl IntoIterator<Item = (&'a str, &'a Provenance, usize)>,
    at: &str,
) -> Result<(), PolicyError> {
    let entries: Vec<_> = entries.into_iter().collect();
    for (index, (kind, provenance, line)) in entries.iter().enumerate() {
        let earlier = entries[..index]
            .iter()
            .find(|(other_kind, other, _)| other_kind == kind && other.overlaps(provenance));
        if let Some((_, _, other_line)) = earlier {
            return Err(PolicyError {
                file: source.file.to_string(),
                line: *line,
                field: format!("{at}.valid_from"),
                message: format!(
                    "{kind}: in force on days the {kind} rule of line {other_line} also covers; end one before the other starts"
                ),
            });
        }
    }
    Ok(())
}

/// How a rule kind's parameters are checked: what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No customs duty on consignments of intrinsic value up to `threshold`, except the listed
    /// goods (excise goods).
    DutyRelief {
        threshold: Money,
        excluded_hs: Vec<String>,
    },
    /// VAT (or GST) charged at the point of sale by a registered seller or platform for
    /// consignments up to `threshold`, shown by a registration of `registration`'s format.
    VatAtSale {
        threshold: Money,
        registration: RegistrationScheme,
        excluded_hs: Vec<String>,
    },
    /// A flat customs duty per distinct 6-digit sub-heading of a low-value consignment sold
    /// under the VAT-at-sale scheme.
    FlatDutyPerSubheading { amount: Money, threshold: Money },
    /// A fee per item (per declared goods line's unit).
    HandlingFee { amount: Money, status: String },
    /// Ad valorem customs duty by HS prefix (most specific first), else the default rate.
    DutyRates {
        default_basis: u32,
        rates: Vec<HsRate>,
    },
    /// Import VAT (GST) by destination country, on the customs value plus duty.
    ImportVat { rates: Vec<CountryRate> },
    /// Gifts between private persons up to `threshold`: no duty, no import VAT.
    GiftRelief { threshold: Money },
    /// Every consignment needs an entry: informal up to `informal_up_to`, formal above.
    Entry {
        informal_up_to: Money,
        postal_methods: Vec<String>,
    },
    /// An additional ad valorem duty by country of origin.
    AdditionalDuty { rates: Vec<CountryRate> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsRate {
    pub hs_prefix: String,
    pub basis: u32,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryRate {
    pub country: CountryCode,
    pub basis: u32,
    pub note: Option<String>,
}

/// The registration that shows tax is collected at the point of sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationScheme {
    /// The EU Import One-Stop Shop number, `IM` + 10 digits, on the declaration.
    Ioss,
    /// A UK VAT registration number of the seller or marketplace: `GB` + 9 or 12 digits.
    GbVat,
    /// An Australian Business Number (11 digits) or ATO Reference Number (12 digits) of the
    /// vendor or platform, optionally prefixed `ABN` or `ARN`.
    AuGst,
}

impl Rule {
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::DutyRelief { .. } => "duty_relief",
            Rule::VatAtSale { .. } => "vat_at_sale",
            Rule::FlatDutyPerSubheading { .. } => "flat_duty_per_subheading",
            Rule::HandlingFee { .. } => "handling_fee",
            Rule::DutyRates { .. } => "duty_rates",
            Rule::ImportVat { .. } => "import_vat",
            Rule::GiftRelief { .. } => "gift_relief",
            Rule::Entry { .. } => "entry",
            Rule::AdditionalDuty { .. } => "additional_duty",
        }
    }
}

/// One rule as a file writes it: every parameter optional here, each kind's needs checked in
/// [`RawRule::read`] so that the error names the field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    id: String,
    kind: String,
    valid_from: Option<Datetime>,
    valid_until: Option<Datetime>,
    source: Option<String>,
    checked: Option<Datetime>,
    note: Option<String>,
    threshold: Option<String>,
    amount: Option<String>,
    excluded_hs: Option<Vec<String>>,
    registration: Option<RegistrationScheme>,
    status: Option<String>,
    default_percent: Option<String>,
    informal_up_to: Option<String>,
    postal_methods: Option<Vec<String>>,
    #[serde(default)]
    rate: Vec<RawRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRate {
    hs_prefix: Option<String>,
    country: Option<String>,
    percent: String,
    note: Option<String>,
}

/// A rule with its provenance and the line it is written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatedRule {
    pub id: String,
    pub provenance: Provenance,
    pub rule: Rule,
    pub line: usize,
}

/// Reads one rule; `currency` is the jurisdiction's, which every amount must be in.
#[derive(Debug)]
pub struct RuleReader<'a> {
    pub source: Source<'a>,
    pub span: Range<usize>,
    pub at: String,
    pub currency: &'a CurrencyCode,
}

impl RuleReader<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> PolicyError {
        self.source
            .error(&self.span, &format!("{}.{field}", self.at), message)
    }

    fn money(&self, field: &str, value: &Option<String>) -> Result<Money, PolicyError> {
        let text = value
            .as_deref()
            .ok_or_else(|| self.error(field, "missing: this rule kind needs it"))?;
        let money = Money::parse(text).map_err(|e| self.error(field, e))?;
        if &money.currency != self.currency {
            return Err(self.error(
                field,
                format!(
                    "{text} is in {}, the jurisdiction's amounts are in {}",
                    money.currency, self.currency
                ),
            ));
        }
        Ok(money)
    }

    fn hs_prefixes(&self, field: &str, prefixes: &[String]) -> Result<Vec<String>, PolicyError> {
        for prefix in prefixes {
            if !matches!(prefix.len(), 2 | 4 | 6) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.error(
                    field,
                    format!(
                        "{prefix:?} is not an HS chapter, heading or sub-heading (2, 4 or 6 digits)"
                    ),
                ));
            }
        }
        Ok(prefixes.to_vec())
    }

    fn hs_rates(&self, rates: &[RawRate]) -> Result<Vec<HsRate>, PolicyError> {
        rates
            .iter()
            .enumerate()
            .map(|(index, rate)| {
                let field = format!("rate[{index}]");
                let prefix = rate
                    .hs_prefix
                    .clone()
                    .ok_or_else(|| self.error(&format!("{field}.hs_prefix"), "missing"))?;
                self.hs_prefixes(&format!("{field}.hs_prefix"), std::slice::from_ref(&prefix))?;
                Ok(HsRate {
                    hs_prefix: prefix,
                    basis: parse_percent(&rate.percent)
                        .map_err(|e| self.error(&format!("{field}.percent"), e))?,
                    note: rate.note.clone(),
                })
            })
            .collect()
    }

    fn country_rates(&self, rates: &[RawRate]) -> Result<Vec<CountryRate>, PolicyError> {
        if rates.is_empty() {
            return Err(self.error(
                "rate",
                "missing: this rule kind needs [[rule.rate]] entries by country",
            ));
        }
        rates
            .iter()
            .enumerate()
            .map(|(index, rate)| {
                let field = format!("rate[{index}]");
                let country = rate
                    .country
                    .as_deref()
                    .ok_or_else(|| self.error(&format!("{field}.country"), "missing"))?;
                Ok(CountryRate {
                    country: CountryCode::new(country)
                        .map_err(|e| self.error(&format!("{field}.country"), e.to_string()))?,
                    basis: parse_percent(&rate.percent)
                        .map_err(|e| self.error(&format!("{field}.percent"), e))?,
                    note: rate.note.clone(),
                })
            })
            .collect()
    }

    /// The parameters a kind takes; any other that is set is refused.
    fn allowed(&self, raw: &RawRule, allowed: &[&str]) -> Result<(), PolicyError> {
        let set = [
            ("threshold", raw.threshold.is_some()),
            ("amount", raw.amount.is_some()),
            ("excluded_hs", raw.excluded_hs.is_some()),
            ("registration", raw.registration.is_some()),
            ("status", raw.status.is_some()),
            ("default_percent", raw.default_percent.is_some()),
            ("informal_up_to", raw.informal_up_to.is_some()),
            ("postal_methods", raw.postal_methods.is_some()),
            ("rate", !raw.rate.is_empty()),
        ];
        match set
            .iter()
            .find(|(name, is_set)| *is_set && !allowed.contains(name))
        {
            Some((name, _)) => Err(self.error(
                name,
                format!("does not apply to a rule of kind {}", raw.kind),
            )),
            None => Ok(()),
        }
    }

    pub fn read(&self, raw: &RawRule) -> Result<DatedRule, PolicyError> {
        let provenance = RawProvenance {
            valid_from: raw.valid_from,
            valid_until: raw.valid_until,
            source: raw.source.clone(),
            checked: raw.checked,
            note: raw.note.clone(),
        }
        .read(&self.source, &self.span, &self.at)?;
        let rule = self.parameters(raw)?;
        Ok(DatedRule {
            id: raw.id.clone(),
            provenance,
            rule,
            line: self.source.line_of(self.span.start),
        })
    }

    fn status(&self, raw: &RawRule) -> Result<String, PolicyError> {
        let status = raw
            .status
            .clone()
            .ok_or_else(|| self.error("status", "missing: adopted or proposed"))?;
        if !matches!(status.as_str(), "adopted" | "proposed") {
            return Err(self.error(
                "status",
                format!("{status:?} is neither adopted nor proposed"),
            ));
        }
        Ok(status)
    }

    fn parameters(&self, raw: &RawRule) -> Result<Rule, PolicyError> {
        let unknown = || {
            self.error(
                "kind",
                format!("{:?} is not a rule kind this build knows", raw.kind),
            )
        };
        let (_, allowed) = RULE_KINDS
            .iter()
            .find(|(kind, _)| *kind == raw.kind)
            .ok_or_else(unknown)?;
        self.allowed(raw, allowed)?;
        let money = |field| {
            self.money(
                field,
                match field {
                    "amount" => &raw.amount,
                    "informal_up_to" => &raw.informal_up_to,
                    _ => &raw.threshold,
                },
            )
        };
        let excluded =
            || self.hs_prefixes("excluded_hs", raw.excluded_hs.as_deref().unwrap_or(&[]));
        let percent = |text: Option<&str>| {
            let text = text.ok_or_else(|| self.error("default_percent", "missing"))?;
            parse_percent(text).map_err(|e| self.error("default_percent", e))
        };
        Ok(match raw.kind.as_str() {
            "duty_relief" => Rule::DutyRelief {
                threshold: money("threshold")?,
                excluded_hs: excluded()?,
            },
            "vat_at_sale" => Rule::VatAtSale {
                threshold: money("threshold")?,
                registration: raw
                    .registration
                    .ok_or_else(|| self.error("registration", "missing: ioss, gb_vat or au_gst"))?,
                excluded_hs: excluded()?,
            },
            "flat_duty_per_subheading" => Rule::FlatDutyPerSubheading {
                amount: money("amount")?,
                threshold: money("threshold")?,
            },
            "handling_fee" => Rule::HandlingFee {
                amount: money("amount")?,
                status: self.status(raw)?,
            },
            "duty_rates" => Rule::DutyRates {
                default_basis: percent(raw.default_percent.as_deref())?,
                rates: self.hs_rates(&raw.rate)?,
            },
            "import_vat" => Rule::ImportVat {
                rates: self.country_rates(&raw.rate)?,
            },
            "gift_relief" => Rule::GiftRelief {
                threshold: money("threshold")?,
            },
            "entry" => Rule::Entry {
                informal_up_to: money("informal_up_to")?,
                postal_methods: raw.postal_methods.clone().unwrap_or_default(),
            },
            "additional_duty" => Rule::AdditionalDuty {
                rates: self.country_rates(&raw.rate)?,
            },
            _ => return Err(unknown()),
        })
    }
}

/// Each rule kind and the parameters it takes (any other parameter set is refused).
const RULE_KINDS: [(&str, &[&str]); 9] = [
    ("duty_relief", &["threshold", "excluded_hs"]),
    ("vat_at_sale", &["threshold", "excluded_hs", "registration"]),
    ("flat_duty_per_subheading", &["threshold", "amount"]),
    ("handling_fee", &["amount", "status"]),
    ("duty_rates", &["default_percent", "rate"]),
    ("import_vat", &["rate"]),
    ("gift_relief", &["threshold"]),
    ("entry", &["informal_up_to", "postal_methods"]),
    ("additional_duty", &["rate"]),
];

/// One jurisdiction's file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleSet {
    jurisdiction: String,
    name: String,
    currency: String,
    countries: Vec<String>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

/// One jurisdiction's law over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub file: String,
    pub jurisdiction: String,
    pub name: String,
    pub currency: CurrencyCode,
    /// Destination countries under this law.
    pub countries: Vec<CountryCode>,
    pub rules: Vec<DatedRule>,
}

impl RuleSet {
    pub fn parse(file: &str, text: &str) -> Result<RuleSet, PolicyError> {
        let source = Source { file, text };
        let raw: RawRuleSet = source.parse()?;
        let top = 0..0;
        let currency = CurrencyCode::new(&raw.currency)
            .map_err(|e| source.error(&top, "currency", e.to_string()))?;
        let countries = raw
            .countries
            .iter()
            .map(|c| {
                CountryCode::new(c).map_err(|e| source.error(&top, "countries", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (index, spanned) in raw.rule.iter().enumerate() {
            let reader = RuleReader {
                source,
                span: spanned.span(),
                at: format!("rule[{index}] ({})", spanned.get_ref().id),
                currency: &currency,
            };
            rules.push(reader.read(spanned.get_ref())?);
        }
        refuse_overlaps(
            &source,
            rules.iter().map(|r| (r.rule.kind(), &r.provenance, r.line)),
            "rule",
        )?;
        Ok(RuleSet {
            file: file.to_string(),
            jurisdiction: raw.jurisdiction,
            name: raw.name,
            currency,
            countries,
            rules,
        })
    }

    /// The rules in force on `day`, at most one of each kind.
    pub fn in_force(&self, day: Day) -> impl Iterator<Item = &DatedRule> {
        self.rules
            .iter()
            .filter(move |r| r.provenance.in_force(day))
    }
}
