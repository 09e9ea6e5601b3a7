//! Unix milliseconds to and from UTC calendar time (proleptic Gregorian, days-from-civil), for
//! people's timelines and EPCIS `eventTime`: no clock, no time-zone database.

/// (year, month, day, hour, minute, second, millisecond) of a Unix time in milliseconds.
pub fn civil(ms: u64) -> (i64, u32, u32, u64, u64, u64, u64) {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
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
    let total = hours * 60 + minutes;
    if minutes > 59 || total > 14 * 60 {
        return None;
    }
    Some(sign * i16::try_from(total).ok()?)
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
            }
        }
    }
}
