//! Calendar days and amounts of money as the policy files write them.

use std::fmt;

use serde::Serialize;
use waybill_protocol::CurrencyCode;

const DAY_MS: u64 = 86_400_000;

/// A calendar day, counted from 1970-01-01 (proleptic Gregorian). Law is in force by the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    pub fn from_civil(year: i64, month: u32, day: u32) -> Option<Day> {
        crate::time::days_from_civil(year, month, day).map(Day)
    }

    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        Day::from_civil(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// The day at the place of an event: its UTC time moved by its recorded offset.
    pub fn of_event(event_time_ms: u64, offset_minutes: i16) -> Day {
        let local = i128::from(event_time_ms) + i128::from(offset_minutes) * 60_000;
        Day(i64::try_from(local.div_euclid(i128::from(DAY_MS))).unwrap_or(i64::MAX))
    }

    /// The first millisecond of the day (UTC).
    pub fn start_ms(self) -> u64 {
        u64::try_from(self.0.max(0)).unwrap_or(0) * DAY_MS
    }
}

impl fmt::Display for Day {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, ..) = crate::time::civil(self.start_ms());
        write!(formatter, "{year:04}-{month:02}-{day:02}")
    }
}

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Decimal places of a currency's minor unit (ISO 4217): 0 for the yen and the won, 2 for the
/// currencies the bundled policies use.
pub fn minor_exponent(currency: &CurrencyCode) -> u32 {
    match currency.as_str() {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Money {
    pub minor: u64,
    pub currency: CurrencyCode,
}

impl Money {
    pub fn new(minor: u64, currency: &CurrencyCode) -> Money {
        Money {
            minor,
            currency: currency.clone(),
        }
    }

    /// `"150.00 EUR"`: digits with exactly the currency's decimal places, a space, the code.
    pub fn parse(text: &str) -> Result<Money, String> {
        let expected = "an amount such as \"150.00 EUR\"";
        let (number, code) = text
            .split_once(' ')
            .ok_or_else(|| format!("{text:?} is not {expected}"))?;
        let currency = CurrencyCode::new(code).map_err(|e| format!("{text:?}: {e}"))?;
        let places = minor_exponent(&currency) as usize;
        let (units, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(units) || fraction.len() != places || (places > 0 && !digits(fraction)) {
            return Err(format!(
                "{text:?} is not {expected} ({code} has {places} decimal places)"
            ));
        }
        let minor = format!("{units}{fraction}")
            .parse::<u64>()
            .map_err(|_| format!("{text:?} is too large"))?;
        Ok(Money { minor, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places = minor_exponent(&self.currency);
        if places == 0 {
            return write!(formatter, "{} {}", self.minor, self.currency);
        }
        let scale = 10u64.pow(places);
        write!(
            formatter,
            "{}.{:0width$} {}",
            self.minor / scale,
            self.minor % scale,
            self.currency,
            width = places as usize
        )
    }
}

/// A percentage with up to two decimals, in hundredths of a percent (basis points).
pub fn parse_percent(text: &str) -> Result<u32, String> {
    let expected = "a percentage such as \"4.7\" or \"20\"";
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() || !digits(units) || !digits(fraction) || fraction.len() > 2 {
        return Err(format!("{text:?} is not {expected}"));
    }
    let basis: u32 = format!("{units}{fraction:0<2}")
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    if basis > 100_000 {
        return Err(format!("{text:?} is over 1000 %"));
    }
    Ok(basis)
}

/// `amount × basis / 10,000`, rounded half up to the minor unit; saturating (a value that large
/// is refused elsewhere long before).
pub fn apply_basis_points(minor: u64, basis: u32) -> u64 {
    let product = u128::from(minor) * u128::from(basis);
    u64::try_from((product + 5_000) / 10_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_money_and_percentages_parse_exactly() {
        assert_eq!(Day::parse("1970-01-01"), Some(Day(0)));
        assert_eq!(
            Day::parse("2026-07-01").map(|d| d.to_string()),
            Some("2026-07-01".into())
        );
        assert_eq!(Day::parse("2026-02-29"), None);
        assert_eq!(
            Day::parse("2024-02-29").map(|d| d.to_string()),
            Some("2024-02-29".into())
        );
        assert_eq!(Day::parse("2026-7-01"), None);
        // 2026-06-30T23:30Z is already 1 July in Amsterdam (UTC+2).
        let ms = Day::parse("2026-06-30").expect("day").start_ms() + 23 * 3_600_000 + 1_800_000;
        assert_eq!(Day::of_event(ms, 0).to_string(), "2026-06-30");
        assert_eq!(Day::of_event(ms, 120).to_string(), "2026-07-01");
        let euro = Money::parse("150.00 EUR").expect("money");
        assert_eq!(
            (euro.minor, euro.to_string()),
            (15_000, "150.00 EUR".into())
        );
        assert_eq!(Money::parse("1000 JPY").expect("yen").minor, 1000);
        for bad in [
            "150 EUR",
            "150.0 EUR",
            "EUR 150.00",
            "1.5.0 EUR",
            "150.00 eur",
            "-1.00 EUR",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_percent("4.7"), Ok(470));
        assert_eq!(parse_percent("20"), Ok(2000));
        assert!(parse_percent("4.775").is_err() && parse_percent("x").is_err());
        assert_eq!(apply_basis_points(10_000, 470), 470);
        assert_eq!(apply_basis_points(333, 1_000), 33);
        assert_eq!(apply_basis_points(335, 1_000), 34);
    }
}
