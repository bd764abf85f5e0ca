//! Escaping for unit files (systemd.syntax(7), systemd.unit(5) "Specifiers",
//! systemd.service(5) "Command lines"). Control characters never get here:
//! manifests containing them are refused while parsing.

/// Escapes `%` so that specifier expansion gives back the text.
pub fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One double-quoted word: `\` and `"` get C escapes, `%` is doubled, and
/// in command lines `$` is doubled to stop variable expansion.
fn quoted(s: &str, in_exec: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if in_exec => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A command line for `ExecStart=` and friends: every word quoted. systemd
/// runs the executable's path as written (only its arguments see `$`
/// expansion), so `$` is doubled in the arguments alone.
pub fn command_line(executable: &str, args: &[&str]) -> String {
    let mut line = quoted(executable, false);
    for arg in args {
        line.push(' ');
        line.push_str(&quoted(arg, true));
    }
    line
}

/// One `Environment=` assignment, quoted as a single word.
pub fn environment(key: &str, value: &str) -> String {
    quoted(&format!("{key}={value}"), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            command_line("/opt/my tool/$x%", &["a$HOME%n\\\""]),
            r#""/opt/my tool/$x%%" "a$$HOME%%n\\\"""#
        );
        assert_eq!(environment("K", "50% \"q\" $X"), r#""K=50%% \"q\" $X""#);
        assert_eq!(specifiers("100%"), "100%%");
    }
}
