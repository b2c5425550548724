//! Times on the command line (`-2h`, `2026-11-26T08:00:00Z`, unix ms)
//! and in tables, in UTC without a time-zone database.

use anyhow::{bail, Context, Result};

/// A duration: `90s`, `30m`, `2h`, `7d` (or plain seconds).
pub fn parse_duration_ms(s: &str) -> Result<u64> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{s:?} is not a duration (90s, 30m, 2h, 7d)"))?;
    let scale = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("{s:?} is not a duration (90s, 30m, 2h, 7d)"),
    };
    n.checked_mul(scale).context("duration too long")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A point in time: unix ms, `now`, relative (`-30m`), a UTC date
/// (`2026-11-26`) or time (`2026-11-26T08:00:00Z`).
pub fn parse_time_ms(s: &str, now: u64) -> Result<u64> {
    if s == "now" {
        return Ok(now);
    }
    if let Some(rel) = s.strip_prefix('-') {
        return Ok(now.saturating_sub(parse_duration_ms(rel)?));
    }
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || {
        anyhow::anyhow!(
            "{s:?} is not a time: unix ms, now, -30m, 2026-11-26 or 2026-11-26T08:00:00Z"
        )
    };
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let hms: Vec<i64> = t
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let (h, mi, se) = match hms[..] {
            [h, mi] => (h, mi, 0),
            [h, mi, se] => (h, mi, se),
            _ => return Err(bad()),
        };
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&se) {
            return Err(bad());
        }
        secs += h * 3_600 + mi * 60 + se;
    }
    u64::try_from(secs * 1_000).map_err(|_| bad())
}

/// Unix ms as `2026-11-26 08:00:00Z`.
pub fn render_time(ms: u64) -> String {
    let secs = (ms / 1_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse() {
        assert_eq!(parse_time_ms("1970-01-02", 0).unwrap(), 86_400_000);
        assert_eq!(
            parse_time_ms("2026-11-26T08:00:00Z", 0).unwrap(),
            1_795_680_000_000
        );
        assert_eq!(parse_time_ms("-2h", 10_000_000).unwrap(), 2_800_000);
        assert_eq!(parse_time_ms("now", 5).unwrap(), 5);
        assert_eq!(parse_time_ms("123", 5).unwrap(), 123);
        assert!(parse_time_ms("2026-13-01", 0).is_err());
        assert!(parse_time_ms("yesterday", 0).is_err());
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("30m").unwrap(), 1_800_000);
        assert!(parse_duration_ms("3w").is_err());
        assert_eq!(render_time(86_400_000 + 3_661_000), "1970-01-02 01:01:01Z");
        let t = parse_time_ms("2026-11-26T08:00:00Z", 0).unwrap();
        assert_eq!(render_time(t), "2026-11-26 08:00:00Z");
    }
}
