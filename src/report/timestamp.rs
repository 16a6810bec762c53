//! Record time stamps (RFC 3339) to Unix epoch milliseconds, with a fast
//! path for the form rotor writes: `report` reads a million of them.

/// RFC 3339 time to Unix epoch milliseconds. The form rotor writes
/// (`2026-11-01T10:00:00.123456Z`) takes a fast path; anything else goes
/// through chrono.
pub fn parse_ts(s: &str) -> Option<i64> {
    fast_utc_ts(s.as_bytes()).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` only; `None` for anything else.
fn fast_utc_ts(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b.last() != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut ms = 0;
    let frac = &b[19..b.len() - 1];
    if !frac.is_empty() {
        if frac[0] != b'.' || frac.len() < 2 || !frac[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, &c) in frac[1..].iter().take(3).enumerate() {
            ms += i64::from(c - b'0') * [100, 10, 1][i];
        }
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_timestamps_match_chrono() {
        for s in [
            "2026-11-01T10:00:00Z",
            "2026-02-28T23:59:59.999999Z",
            "2024-02-29T00:00:00.5Z",
            "1970-01-01T00:00:00Z",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis();
            assert_eq!(fast_utc_ts(s.as_bytes()), Some(chrono), "{s}");
        }
        // Other forms take chrono's path.
        assert_eq!(fast_utc_ts(b"2026-11-01T10:00:00+02:00"), None);
        assert_eq!(
            parse_ts("2026-11-01T10:00:00+02:00"),
            Some(1_793_520_000_000)
        );
        assert_eq!(parse_ts("yesterday"), None);
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_chrono(ms in 0i64..4_102_444_800_000) {
            let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            let s = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            prop_assert_eq!(fast_utc_ts(s.as_bytes()), Some(ms), "{}", s);
        }
    }
}
