//! What the packages install besides programs: the commented default
//! configuration, the man pages and the shell completions.

use packaging_tests::{binaries, have_tools, repo, sh};
use std::path::Path;
use update_all_core::config::{self, Config};
use update_all_core::{Env, Scope};

/// Loads `text` as /etc/update-all/config.yaml of a scratch root; returns
/// the merged configuration and the messages.
fn load(text: &str) -> (Config, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("etc/update-all/config.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let env = Env {
        root: root.path().to_path_buf(),
        scope: Scope::System,
        user_config: None,
    };
    let (config, diagnostics) = config::load(&env);
    (config, diagnostics.iter().map(|d| d.to_string()).collect())
}

/// The keys the configuration's parser accepts under `section` (the top
/// level for ""), as its unknown-field error lists them.
fn accepted_keys(section: &str) -> Vec<String> {
    let probe = if section.is_empty() {
        "zzz_unknown: 1\n".to_owned()
    } else {
        format!("{section}:\n  zzz_unknown: 1\n")
    };
    let (_, messages) = load(&probe);
    let message = messages.join("\n");
    let list = message
        .split_once("expected ")
        .unwrap_or_else(|| panic!("no list of fields in {message:?}"))
        .1;
    let list = list.split(';').next().unwrap();
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// packaging/config.yaml with every key uncommented: `#section:`,
/// `#  key: value` and `#    subkey: value` lines (indented by twos), as
/// opposed to prose (`# Text`, `  # Text`) and examples (indented by odd
/// numbers of spaces).
fn uncommented() -> String {
    let text = std::fs::read_to_string(repo().join("packaging/config.yaml")).unwrap();
    let is_key = |s: &str| {
        let key = s.trim_start_matches(' ');
        (s.len() - key.len()).is_multiple_of(2)
            && key.split_once(':').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
    };
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if is_key(rest) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// As shipped it changes nothing; uncommented, every key the parser knows
/// is there, each with its default value.
#[test]
fn default_config_shows_every_key_with_its_default() {
    let shipped = std::fs::read_to_string(repo().join("packaging/config.yaml")).unwrap();
    let text = uncommented();
    assert_ne!(shipped, text);
    for text in [&shipped, &text] {
        let (config, messages) = load(text);
        assert!(messages.is_empty(), "{messages:?}\n{text}");
        let default = Config::default();
        assert_eq!(config.enabled, default.enabled);
        assert_eq!(config.disabled, default.disabled);
        assert_eq!(config.slice, default.slice);
        assert_eq!(config.notifications, default.notifications);
        assert_eq!(config.conditions, default.conditions);
        assert_eq!(config.schedule, default.schedule);
        assert_eq!(config.paths, default.paths);
        assert_eq!(config.retries, default.retries);
        assert_eq!(config.resume, default.resume);
        assert_eq!(config.services, default.services);
        assert_eq!(config.reboot, default.reboot);
        use update_all_core::policy::Policy;
        assert_eq!(Policy::resolve(&[Some(&config.policy)]), Policy::default());
        assert_eq!(config.policy_overrides, default.policy_overrides);
        assert_eq!(config.safety, default.safety);
    }

    for section in accepted_keys("") {
        // A setting of its own (`resume: ask`) has no keys under it.
        if text.lines().any(|l| l.starts_with(&format!("{section}: "))) {
            continue;
        }
        assert!(
            text.lines().any(|l| l == format!("{section}:")),
            "packaging/config.yaml lacks the section {section}"
        );
        for key in accepted_keys(&section) {
            assert!(
                text.contains(&format!("\n{section}:\n"))
                    && section_body(&text, &section).any(|l| l.starts_with(&format!("  {key}:"))),
                "packaging/config.yaml lacks {section}.{key}"
            );
        }
    }
}

/// A section inside a section (`safety.health`) has each of its keys too.
#[test]
fn default_config_shows_every_nested_key() {
    let text = uncommented();
    let (_, messages) = load("safety:\n  health:\n    zzz_unknown: 1\n");
    let message = messages.join("\n");
    let list = message.split_once("expected ").expect(&message).1;
    let keys: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    assert_eq!(keys, ["settle", "timeout"], "{message}");
    let body: Vec<&str> = section_body(&text, "safety").collect();
    let health = body
        .iter()
        .skip_while(|l| **l != "  health:")
        .skip(1)
        .take_while(|l| l.starts_with("    "));
    let shown: Vec<&str> = health.map(|l| l.trim_start()).collect();
    for key in keys {
        assert!(
            shown.iter().any(|l| l.starts_with(&format!("{key}:"))),
            "packaging/config.yaml lacks safety.health.{key}: {shown:?}"
        );
    }
}

/// The lines of `section:` up to the next top-level line.
fn section_body<'a>(text: &'a str, section: &str) -> impl Iterator<Item = &'a str> {
    let header = format!("{section}:");
    text.lines()
        .skip_while(move |l| *l != header)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
}

/// Every man page, generated or written by hand, formats without a warning
/// from man (groff), as lintian checks it, and has a NAME line for whatis.
#[test]
fn man_pages_format_cleanly() {
    if !have_tools(&["man", "lexgrog"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    sh(&format!(
        "'{}/update-all' man '{}' >/dev/null && cp '{}'/packaging/man/*.[0-9] '{}'",
        binaries().display(),
        dir.path().display(),
        repo().display(),
        dir.path().display()
    ));
    let pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for name in [
        "update-all.8",
        "update-all-run.8",
        "update-all-plan.8",
        "update-all-completions.8",
        "update-all-generator.8",
        "update-all.conf.5",
        "update-all.plugin.5",
    ] {
        assert!(dir.path().join(name).is_file(), "no {name}");
    }
    assert!(
        !dir.path().join("update-all-plugin-exec.8").exists(),
        "a page for a hidden command"
    );
    for page in &pages {
        check_page(page);
    }
}

fn check_page(page: &Path) {
    let p = page.display();
    let warnings = sh(&format!(
        "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z '{p}' 2>&1 >/dev/null"
    ));
    assert_eq!(warnings, "", "{p}");
    let whatis = sh(&format!("lexgrog '{p}'"));
    assert!(whatis.contains(" - "), "{p}: {whatis}");
}

/// The bash completion parses and completes subcommands and options; zsh
/// and fish check theirs where those shells are installed.
#[test]
fn completions_complete() {
    let update_all = binaries().join("update-all");
    let u = update_all.display();
    let completed = sh(&format!(
        "bash -c 'source <(\"{u}\" completions bash) && \
         f=$(complete -p update-all | sed \"s/.* -F \\([^ ]*\\) .*/\\1/\") && \
         COMP_WORDS=(update-all pl) COMP_CWORD=1 && $f update-all pl update-all && \
         echo \"${{COMPREPLY[@]}}\" && \
         COMP_WORDS=(update-all run --) COMP_CWORD=2 && $f update-all -- run && \
         echo \"${{COMPREPLY[@]}}\"'"
    ));
    let mut lines = completed.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.contains("plan") && first.contains("plugins"),
        "{completed}"
    );
    let second = lines.next().unwrap_or_default();
    assert!(
        second.contains("--only") && second.contains("--json"),
        "{completed}"
    );
    for (shell, check) in [("zsh", "zsh -n"), ("fish", "fish --no-execute")] {
        if sh(&format!("command -v {shell} || true")).is_empty() {
            eprintln!("{shell} is not installed: its completion is not checked");
            continue;
        }
        sh(&format!("\"{u}\" completions {shell} > /tmp/ua-completion-$$ && {check} /tmp/ua-completion-$$; rc=$?; rm -f /tmp/ua-completion-$$; exit $rc"));
    }
}
