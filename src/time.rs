//! Time: the one clock, and every conversion between unix time and the calendar (through
//! chrono). The store and the App count unix milliseconds; datasets, JWTs and GitHub's token
//! expiries count unix seconds.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime};

/// Now, in unix milliseconds (0 if the system clock is set before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now, in unix seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Unix milliseconds as RFC 3339 UTC, to the second (`2026-11-01T12:00:00Z`); a time chrono
/// cannot represent is shown as the number itself.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Unix seconds as their UTC date, `YYYY-MM-DD`; a time chrono cannot represent is shown as
/// the number itself.
pub fn iso_date(unix_seconds: i64) -> String {
    match DateTime::from_timestamp(unix_seconds, 0) {
        Some(t) => format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
        None => unix_seconds.to_string(),
    }
}

/// Unix seconds of an RFC 3339 time in UTC as GitHub writes them, `YYYY-MM-DDTHH:MM:SSZ`
/// (fractional seconds, a lower-case `z` and a `+00:00` or `-00:00` offset are accepted too;
/// any other offset is not).
pub fn parse_rfc3339_utc(text: &str) -> Option<i64> {
    if !["Z", "z", "+00:00", "-00:00"]
        .iter()
        .any(|utc| text.ends_with(utc))
    {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// Unix milliseconds of an RFC 3339 time with any offset.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Unix milliseconds of midnight UTC at the start of a `YYYY-MM-DD` date.
pub fn parse_date_ms(text: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(
        date.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis(),
    )
}

/// Unix milliseconds of a date and time without an offset, read in `format` (chrono's
/// strftime syntax) and taken as UTC.
pub fn parse_utc_ms(text: &str, format: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text, format)
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_to_the_second() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_154_263_999), "2026-12-01T19:44:23Z");
        assert_eq!(rfc3339(-1_000), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(1_311_258_797), "2011-07-21");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_date(-1), "1969-12-31");
        assert_eq!(iso_date(253_402_300_800), "10000-01-01");
        assert_eq!(iso_date(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn github_times() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2016-07-11T22:14:10Z"),
            Some(1_468_275_250)
        );
        assert_eq!(parse_rfc3339_utc("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(
            parse_rfc3339_utc("2026-12-01T19:44:23.123Z"),
            Some(1_796_154_263)
        );
        for utc in ["+00:00", "-00:00", "z"] {
            let text = format!("2026-12-01t19:44:23{utc}");
            assert_eq!(parse_rfc3339_utc(&text), Some(1_796_154_263), "{text}");
        }
        assert_eq!(
            parse_rfc3339_utc("2026-12-01 19:44:23Z"),
            Some(1_796_154_263)
        );
        for bad in [
            "",
            "2016-07-11",
            "2016-07-11T22:14:10",
            "2016-07-11T22:14:10+02:00",
            "2016-13-11T22:14:10Z",
            "2016-07-11T24:00:00Z",
            "2016-07-11T22:14:1xZ",
            "2016-07-11T22:14:10.Z",
            "２016-07-11T22:14:10Z",
            " 2016-07-11T22:14:10Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_given_by_people() {
        assert_eq!(parse_date_ms("2026-11-01"), Some(1_793_491_200_000));
        assert_eq!(parse_date_ms("2026-11-31"), None);
        assert_eq!(
            parse_rfc3339_ms("2026-11-01T12:00:00.5+02:00"),
            Some(1_793_491_200_000 + 10 * 3_600_000 + 500)
        );
        assert_eq!(
            parse_utc_ms("2026-11-01 12:00", "%Y-%m-%d %H:%M"),
            Some(1_793_491_200_000 + 12 * 3_600_000)
        );
        assert_eq!(parse_utc_ms("2026-11-01", "%Y-%m-%d %H:%M"), None);
    }

    #[test]
    fn the_clock_counts_from_1970() {
        let (ms, secs) = (now_ms(), now_secs());
        assert!(ms > 1_700_000_000_000, "{ms}");
        assert!((secs - ms / 1000).abs() <= 1);
    }
}
