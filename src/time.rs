//! Time: the one clock, and the conversions between unix time and the calendar (through
//! chrono). The store and the App count unix milliseconds; datasets, JWTs and GitHub's token
//! expiries count unix seconds.

use chrono::DateTime;

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
    fn the_clock_counts_from_1970() {
        let (ms, secs) = (now_ms(), now_secs());
        assert!(ms > 1_700_000_000_000, "{ms}");
        assert!((secs - ms / 1000).abs() <= 1);
    }
}
