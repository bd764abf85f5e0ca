//! Calendar expressions, checked by systemd itself: `systemd-analyze
//! calendar` runs the very parser the manager uses on `OnCalendar=`, so an
//! expression it takes is one the timer takes, and it says when the
//! expression next elapses.

use std::process::Command;

/// An expression systemd accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// As given, e.g. `weekly`.
    pub expression: String,
    /// As systemd reads it, e.g. `Mon *-*-* 00:00:00`.
    pub normalized: String,
    /// When it next elapses, as systemd prints it (local time).
    pub next: String,
}

/// Checks `expression` with `systemd-analyze calendar`; the reason in
/// words when systemd refuses it or it never elapses again.
pub fn check(expression: &str) -> Result<Calendar, String> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Err("the calendar expression is empty".to_owned());
    }
    // It goes into a unit file line: a line break would add settings.
    if expression.chars().any(char::is_control) {
        return Err(format!(
            "invalid calendar expression {expression:?}: it has a control character"
        ));
    }
    let out = Command::new("systemd-analyze")
        .args(["calendar", "--iterations=1", "--", expression])
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run systemd-analyze to check the expression: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "invalid calendar expression '{expression}': {} (see `man systemd.time`, \
             CALENDAR EVENTS; e.g. daily, weekly, monthly, 'Sat 04:00', '*-*-1,15 03:00')",
            why.trim()
        ));
    }
    parse(expression, &String::from_utf8_lossy(&out.stdout))
}

/// Reads `systemd-analyze calendar` output:
///
/// ```text
///   Original form: weekly
/// Normalized form: Mon *-*-* 00:00:00
///     Next elapse: Mon 2026-11-30 00:00:00 UTC
/// ```
fn parse(expression: &str, text: &str) -> Result<Calendar, String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let (Some(normalized), Some(next)) = (field("Normalized form"), field("Next elapse")) else {
        return Err(format!(
            "cannot read what systemd-analyze said of '{expression}':\n{text}"
        ));
    };
    if next == "never" {
        return Err(format!(
            "the calendar expression '{expression}' ({normalized}) never elapses again"
        ));
    }
    Ok(Calendar {
        expression: expression.to_owned(),
        normalized,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_analyze_output_is_read() {
        let text = "  Original form: weekly\nNormalized form: Mon *-*-* 00:00:00\n    \
                    Next elapse: Mon 2026-11-30 00:00:00 UTC\n       From now: 6 days left\n";
        let c = parse("weekly", text).unwrap();
        assert_eq!(c.normalized, "Mon *-*-* 00:00:00");
        assert_eq!(c.next, "Mon 2026-11-30 00:00:00 UTC");
        let never = "  Original form: 2001-01-01\nNormalized form: 2001-01-01 00:00:00\n    \
                     Next elapse: never\n";
        assert!(parse("2001-01-01", never)
            .unwrap_err()
            .contains("never elapses"));
    }

    #[test]
    fn systemd_judges_expressions() {
        // Only where systemd-analyze is installed (it comes with systemd).
        if Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        for ok in ["daily", "weekly", "monthly", "Sat 04:00", "*-*-1,15 03:00"] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
        let e = check("Mon..Fri 25:00").unwrap_err();
        assert!(
            e.contains("invalid calendar expression 'Mon..Fri 25:00'"),
            "{e}"
        );
        assert!(check("daily\nExecStart=/bin/sh")
            .unwrap_err()
            .contains("control character"));
    }
}
