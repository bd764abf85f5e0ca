//! Figures from the database as people read them in the tables of
//! `status`, `history` and `stats`.

use crate::output::width;
use crate::stats::Record;
use std::io::{self, Write};
use std::time::Duration;

/// "2026-11-23 17:05:01" in local time, from microseconds since the epoch.
/// Local as for libc: `TZ` (a zone name, a file or a POSIX rule; empty is
/// UTC), else `/etc/localtime`, with the zones of `/usr/share/zoneinfo`.
pub fn local_time(us: i64) -> String {
    time_in(us, jiff::tz::TimeZone::system())
}

/// "2026-11-23 17:05:01" in `zone`; "@SECONDS" past the years 9999.
fn time_in(us: i64, zone: jiff::tz::TimeZone) -> String {
    let Ok(at) = jiff::Timestamp::from_microsecond(us) else {
        return format!("@{}", us.div_euclid(1_000_000));
    };
    let local = at.to_zoned(zone);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

/// "0.4s", "12.3s", "4m05s", "1h02m": the one way update-all writes a
/// duration (tables, the live table, the end of a run, notifications).
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

/// CPU time, which is often far below a second: "4ms", "0.35s", "1m02s".
pub fn cpu_time(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(10) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        duration(d)
    }
}

/// "512 B", "48.0 MiB".
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// An optional figure, or "-".
pub fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

/// The result as people read it: "failed (2)", "signal (9)", "success".
pub fn result_text(r: &Record) -> String {
    match (r.result.is_failure(), r.exit_status) {
        (true, Some(status)) if status != 0 => format!("{} ({status})", r.result),
        _ => r.result.to_string(),
    }
}

/// [`result_text`], and how many attempts it took when there were
/// retries: `success after 3 attempts`, `failed (1) after 3 attempts`.
pub fn result_with_attempts(r: &Record) -> String {
    match r.attempts {
        Some(n) if n > 1 => format!("{} after {n} attempts", result_text(r)),
        _ => result_text(r),
    }
}

/// Left-aligned columns, two spaces apart, with a header row.
pub fn table<const N: usize>(
    out: &mut dyn Write,
    header: &[&str; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let widths: Vec<usize> = (0..N)
        .map(|i| width(std::iter::once(header[i]).chain(rows.iter().map(|r| r[i].as_str()))))
        .collect();
    let line = |out: &mut dyn Write, cells: &[&str]| -> io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header)?;
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h02m");
        assert_eq!(cpu_time(Duration::from_micros(4100)), "4ms");
        assert_eq!(cpu_time(Duration::from_millis(350)), "0.35s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(48 << 20), "48.0 MiB");
        assert_eq!(or_dash(None::<u64>, bytes), "-");
        assert_eq!(local_time(0).len(), "1970-01-01 00:00:00".len());
    }

    /// The same wall-clock time as the C library's localtime (through
    /// date(1)), around the changes to and from summer time too. Zones as
    /// POSIX rules, which need no time zone files.
    #[test]
    fn local_time_is_the_c_librarys() {
        let seconds = [
            0,
            -1,
            1_774_746_000 - 1, // 2026-03-29 01:59:59 UTC: the last second of winter in Berlin
            1_774_746_000,
            1_792_890_000, // 2026-10-25 01:00:00 UTC: back to winter time
            1_796_000_000,
        ];
        let zones = [
            "UTC0",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "EST5EDT,M3.2.0,M11.1.0",
            "IST-5:30",
        ];
        for zone in zones {
            let tz = jiff::tz::TimeZone::posix(zone).unwrap();
            for s in seconds {
                let libc = std::process::Command::new("date")
                    .env("TZ", zone)
                    .args(["-d", &format!("@{s}"), "+%Y-%m-%d %H:%M:%S"])
                    .output()
                    .unwrap();
                let libc = String::from_utf8(libc.stdout).unwrap();
                assert_eq!(
                    time_in(s * 1_000_000 + 999_999, tz.clone()),
                    libc.trim(),
                    "{zone} @{s}"
                );
            }
        }
        assert_eq!(
            time_in(i64::MAX, jiff::tz::TimeZone::UTC),
            format!("@{}", i64::MAX / 1_000_000)
        );
    }
}
