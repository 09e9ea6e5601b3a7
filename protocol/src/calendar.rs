//! Unix time to and from UTC calendar time (proleptic Gregorian, days-from-civil), for people's
//! timelines and EPCIS times: no clock, no time-zone database. Pure: the node reads EPCIS times
//! with it during execution.

/// (year, month, day, hour, minute, second, millisecond) of a Unix time in milliseconds.
pub fn civil(ms: u64) -> (i64, u32, u32, u64, u64, u64, u64) {
    let seconds = ms / 1000;
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let rest = seconds % 86_400;
    (
        year,
        month,
        day,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000,
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601(ms: u64) -> String {
    let (year, month, day, hour, minute, second, millis) = civil(ms);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, for people.
pub fn utc_text(ms: u64) -> String {
    let (year, month, day, hour, minute, second, _) = civil(ms);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
}

/// Days from 1970-01-01 to a calendar day, or `None` if there is no such day (February 30).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let length = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > length {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Exactly `count` ASCII digits as a number.
fn digits(text: &str, count: usize) -> Option<u32> {
    (text.len() == count && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A time-zone offset `Z`, `+HH:MM` or `-HH:MM` (at most ±14:00, as EPCIS allows), in minutes.
pub fn parse_offset(text: &str) -> Option<i16> {
    parse_any_offset(text).filter(|minutes| minutes.unsigned_abs() <= 14 * 60)
}

/// Unix milliseconds of an RFC 3339 time, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: every
/// field range-checked (no February 30, no hour 24), any number of fraction digits (kept to the
/// millisecond), `None` for anything else or before 1970. Never panics on any input.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let (date, rest) = text.split_once('T')?;
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let days = days_from_civil(
        i64::from(digits(year, 4)?),
        digits(month, 2)?,
        digits(day, 2)?,
    )?;
    let zone_at = rest.find(['Z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let offset = parse_offset(zone)?;
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, "000"));
    let mut fields = clock.split(':');
    let (hour, minute, second) = (fields.next()?, fields.next()?, fields.next()?);
    let (hour, minute, second) = (digits(hour, 2)?, digits(minute, 2)?, digits(second, 2)?);
    if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - i64::from(offset) * 60;
    u64::try_from(seconds.checked_mul(1000)?.checked_add(millis)?).ok()
}

/// (year, month, day) of a count of days from 1970-01-01 (negative before).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// An RFC 3339 time as written: the instant, to the nanosecond, and the offset it was written
/// in. Years 0001 to 9999; any offset up to ±23:59, as RFC 3339 allows (the EPCIS
/// `eventTimeZoneOffset` field is narrower: [`parse_offset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z, negative before.
    pub unix_seconds: i64,
    pub nanos: u32,
    /// Minutes east of UTC it was written in.
    pub offset_minutes: i16,
}

impl Timestamp {
    /// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: every field range-checked (no
    /// February 30, no hour 24), 1 to 9 fraction digits. `None` for anything else; never panics.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let (date, rest) = text.split_once('T')?;
        let mut parts = date.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let year = digits(year, 4)?;
        if year == 0 {
            return None;
        }
        let days = days_from_civil(i64::from(year), digits(month, 2)?, digits(day, 2)?)?;
        let zone_at = rest.find(['Z', '+', '-'])?;
        let (clock, zone) = rest.split_at(zone_at);
        let offset_minutes = parse_any_offset(zone)?;
        let (clock, fraction) = match clock.split_once('.') {
            Some((clock, fraction)) => (clock, Some(fraction)),
            None => (clock, None),
        };
        let mut fields = clock.split(':');
        let (hour, minute, second) = (fields.next()?, fields.next()?, fields.next()?);
        let (hour, minute, second) = (digits(hour, 2)?, digits(minute, 2)?, digits(second, 2)?);
        if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let nanos = match fraction {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{f:0<9}").parse().ok()?
            }
            Some(_) => return None,
        };
        let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Some(Timestamp {
            unix_seconds: local - i64::from(offset_minutes) * 60,
            nanos,
            offset_minutes,
        })
    }

    /// Unix milliseconds (truncated), or `None` before 1970.
    pub fn unix_millis(&self) -> Option<u64> {
        let ms = self
            .unix_seconds
            .checked_mul(1000)?
            .checked_add(i64::from(self.nanos / 1_000_000))?;
        u64::try_from(ms).ok()
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, rounded to the millisecond by the fourth fraction
    /// digit (5 to 9 round up), as the CBV event hash writes times.
    pub fn utc_millis_text(&self) -> String {
        let mut seconds = self.unix_seconds;
        let mut millis = self.nanos / 1_000_000;
        if (self.nanos / 100_000) % 10 >= 5 {
            millis += 1;
        }
        if millis == 1000 {
            millis = 0;
            seconds += 1;
        }
        let (date, clock) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(date);
        let (hour, minute, second) = (clock / 3600, clock % 3600 / 60, clock % 60);
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }

    /// The instant in UTC with every fraction digit it has (trailing zeros dropped): two
    /// spellings of one instant give the same text.
    pub fn utc_exact_text(&self) -> String {
        let (date, clock) = (
            self.unix_seconds.div_euclid(86_400),
            self.unix_seconds.rem_euclid(86_400),
        );
        let (year, month, day) = civil_from_days(date);
        let (hour, minute, second) = (clock / 3600, clock % 3600 / 60, clock % 60);
        let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
        if self.nanos > 0 {
            let fraction = format!("{:09}", self.nanos);
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text.push('Z');
        text
    }
}

/// `Z` or `±HH:MM` up to ±23:59, in minutes.
fn parse_any_offset(text: &str) -> Option<i16> {
    if text == "Z" {
        return Some(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = text.get(1..)?.split_once(':')?;
    let (hours, minutes) = (digits(hours, 2)?, digits(minutes, 2)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i16::try_from(hours * 60 + minutes).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_and_round_trips() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, 1_767_225_600_123, 951_782_400_000] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    #[test]
    fn offsets_and_fractions_are_read_and_impossible_times_refused() {
        let utc = parse_iso8601("2026-03-01T10:00:00Z").expect("utc");
        assert_eq!(parse_iso8601("2026-03-01T11:00:00+01:00"), Some(utc));
        assert_eq!(parse_iso8601("2026-03-01T04:30:00-05:30"), Some(utc));
        assert_eq!(
            parse_iso8601("2026-03-01T10:00:00.123456789Z"),
            Some(utc + 123)
        );
        assert_eq!(parse_iso8601("2026-03-01T10:00:00.5Z"), Some(utc + 500));
        assert_eq!(parse_offset("+14:00"), Some(840));
        assert_eq!(parse_offset("-03:30"), Some(-210));
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+15:00",
            "2026-01-01T00:00:00+01:60",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00.ééZ",
            "2026-1-01T00:00:00Z",
            "+2026-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-01-01T00:00:00-32767:00",
            "9999-99-99T99:99:99.999Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        assert_eq!(parse_offset("-32767:00"), None);
    }

    #[test]
    fn timestamps_keep_nanoseconds_and_offsets_and_round_like_the_event_hash() {
        let t = Timestamp::parse("2005-04-03T20:33:31.1164999-06:00").expect("valid");
        assert_eq!(t.offset_minutes, -360);
        assert_eq!(t.nanos, 116_499_900);
        assert_eq!(t.utc_millis_text(), "2005-04-04T02:33:31.116Z");
        assert_eq!(t.utc_exact_text(), "2005-04-04T02:33:31.1164999Z");
        let up = Timestamp::parse("2023-01-18T11:04:03.1415Z").expect("valid");
        assert_eq!(up.utc_millis_text(), "2023-01-18T11:04:03.142Z");
        let carry = Timestamp::parse("1999-12-31T23:59:59.9995Z").expect("valid");
        assert_eq!(carry.utc_millis_text(), "2000-01-01T00:00:00.000Z");
        let early = Timestamp::parse("1960-02-29T00:00:00+23:59").expect("valid");
        assert_eq!(early.utc_exact_text(), "1960-02-28T00:01:00Z");
        assert_eq!(early.unix_millis(), None);
        for bad in [
            "2026-02-29T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_input_panics_the_parser() {
        // Every prefix and every single-byte change of a valid time, and odd characters.
        let valid = "2026-03-01T10:00:00.123+01:00";
        for end in 0..=valid.len() {
            let _ = parse_iso8601(&valid[..end]);
        }
        for position in 0..valid.len() {
            for replacement in ['0', '9', '-', ':', '.', 'Z', 'T', '+', 'é', ' '] {
                let mut text = valid.to_string();
                text.replace_range(position..=position, &replacement.to_string());
                let _ = parse_iso8601(&text);
                let _ = Timestamp::parse(&text);
            }
        }
    }
}
