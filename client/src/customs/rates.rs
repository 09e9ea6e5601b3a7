//! The dated exchange-rate table (`client/policies/exchange-rates.toml`): the rate customs use
//! to convert an invoice value into the jurisdiction's currency, for the period it applies.

use serde::Deserialize;
use toml::Spanned;
use waybill_protocol::CurrencyCode;

use super::policy::{PolicyError, Provenance, RawProvenance, Source, refuse_overlaps};
use super::units::{Day, Money, minor_exponent};

/// One rate: `1 currency = rate into`, for `provenance`'s period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRate {
    pub currency: CurrencyCode,
    pub into: CurrencyCode,
    /// Millionths of a unit of `into` per unit of `currency`.
    pub micro: u64,
    pub text: String,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExchangeRates {
    pub file: String,
    pub rates: Vec<ExchangeRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRates {
    #[serde(default)]
    rate: Vec<Spanned<RawRate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    currency: String,
    into: String,
    rate: String,
    valid_from: Option<toml::value::Datetime>,
    valid_until: Option<toml::value::Datetime>,
    source: Option<String>,
    checked: Option<toml::value::Datetime>,
    note: Option<String>,
}

/// `"0.8612"`: up to six decimals, as millionths.
fn parse_micro(text: &str) -> Option<u64> {
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() || !digits(units) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    format!("{units}{fraction:0<6}")
        .parse()
        .ok()
        .filter(|&micro| micro > 0)
}

impl ExchangeRates {
    pub fn parse(file: &str, text: &str) -> Result<ExchangeRates, PolicyError> {
        let source = Source { file, text };
        let raw: RawRates = source.parse()?;
        let mut rates = Vec::new();
        let mut lines = Vec::new();
        for (index, spanned) in raw.rate.iter().enumerate() {
            let span = spanned.span();
            let rate = spanned.get_ref();
            let at = format!("rate[{index}]");
            let code = |field: &str, value: &str| {
                CurrencyCode::new(value)
                    .map_err(|e| source.error(&span, &format!("{at}.{field}"), e.to_string()))
            };
            let provenance = RawProvenance {
                valid_from: rate.valid_from,
                valid_until: rate.valid_until,
                source: rate.source.clone(),
                checked: rate.checked,
                note: rate.note.clone(),
            }
            .read(&source, &span, &at)?;
            if provenance.valid_until.is_none() {
                let message = "missing: an exchange rate applies for a stated period (a month for EU customs rates)";
                return Err(source.error(&span, &format!("{at}.valid_until"), message));
            }
            let micro = parse_micro(&rate.rate).ok_or_else(|| {
                source.error(
                    &span,
                    &format!("{at}.rate"),
                    format!(
                        "{:?} is not a positive rate with up to six decimals",
                        rate.rate
                    ),
                )
            })?;
            rates.push(ExchangeRate {
                currency: code("currency", &rate.currency)?,
                into: code("into", &rate.into)?,
                micro,
                text: rate.rate.clone(),
                provenance,
            });
            lines.push(source.line_of(span.start));
        }
        let pairs: Vec<String> = rates
            .iter()
            .map(|r| format!("{}→{}", r.currency, r.into))
            .collect();
        refuse_overlaps(
            &source,
            rates
                .iter()
                .zip(&lines)
                .zip(&pairs)
                .map(|((r, line), pair)| (pair.as_str(), &r.provenance, *line)),
            "rate",
        )?;
        Ok(ExchangeRates {
            file: file.to_string(),
            rates,
        })
    }

    /// `money` in `into` at the rate in force on `day` (rounded half up to the minor unit),
    /// with the rate used; `None` if the table has none for that day.
    pub fn convert(
        &self,
        money: &Money,
        into: &CurrencyCode,
        day: Day,
    ) -> Option<(Money, Option<&ExchangeRate>)> {
        if &money.currency == into {
            return Some((money.clone(), None));
        }
        let rate = self.rates.iter().find(|r| {
            r.currency == money.currency && &r.into == into && r.provenance.in_force(day)
        })?;
        let scale_into = 10u128.pow(minor_exponent(into));
        let scale_from = 10u128.pow(minor_exponent(&money.currency)) * 1_000_000;
        let product = u128::from(money.minor) * u128::from(rate.micro) * scale_into;
        let minor = u64::try_from((product + scale_from / 2) / scale_from).unwrap_or(u64::MAX);
        Some((Money::new(minor, into), Some(rate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[[rate]]
currency = "USD"
into = "EUR"
rate = "0.86"
valid_from = 2026-12-01
valid_until = 2026-12-31
source = "test"
checked = 2026-11-30
"#;

    #[test]
    fn a_rate_applies_in_its_period_only() {
        let rates = ExchangeRates::parse("rates.toml", TABLE).expect("rates");
        let eur = CurrencyCode::new("EUR").expect("code");
        let usd = Money::new(10_000, &CurrencyCode::new("USD").expect("code"));
        let day = Day::parse("2026-12-15").expect("day");
        let (converted, rate) = rates.convert(&usd, &eur, day).expect("rate");
        assert_eq!(
            (converted.minor, rate.map(|r| r.micro)),
            (8_600, Some(860_000))
        );
        assert!(
            rates
                .convert(&usd, &eur, Day::parse("2027-01-01").expect("day"))
                .is_none()
        );
        let yen = Money::new(10_000, &CurrencyCode::new("JPY").expect("code"));
        assert!(rates.convert(&yen, &eur, day).is_none());
    }

    #[test]
    fn overlapping_or_open_rates_are_refused_with_the_line() {
        let overlapping = format!(
            "{TABLE}{}",
            TABLE
                .replace("2026-12-01", "2026-12-31")
                .replace("2026-12-31\nsource", "2027-01-31\nsource")
        );
        let error = ExchangeRates::parse("rates.toml", &overlapping).expect_err("overlap");
        assert_eq!(
            (error.line, error.field.as_str()),
            (11, "rate.valid_from"),
            "{error}"
        );
        let open = TABLE.replace("valid_until = 2026-12-31\n", "");
        let error = ExchangeRates::parse("rates.toml", &open).expect_err("open");
        assert_eq!(error.field, "rate[0].valid_until", "{error}");
    }
}
