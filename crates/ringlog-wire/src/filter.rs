//! `RUST_LOG`-style level filters by target, shared by the `log` and `tracing` bridges.
//!
//! A directive string is a comma-separated list; each directive is one of
//!
//! | directive | meaning |
//! |---|---|
//! | `LEVEL` | the default for targets no other directive names (`off`, `error`, `warn`, `info`, `debug`, `trace`) |
//! | `TARGET=LEVEL` | targets equal to `TARGET` or under it (`TARGET::...`) up to `LEVEL` |
//! | `TARGET` | the same at every level (`trace`) |
//!
//! The most specific directive wins: the one whose target is the longest prefix of the record's
//! target on a `::` boundary (`my_crate::db` covers `my_crate::db::pool` but not
//! `my_crate::dbx`). A later directive for the same target replaces an earlier one. Blank
//! directives (`a=debug,,` or spaces) are ignored. As with `env_logger`: an empty string
//! means `error`, and a string that names only targets turns every other target `off`.
//!
//! Span filters (`target[span{field}]=level`) and regular expressions (`.../regex`) are
//! rejected with an error rather than silently ignored.
//!
//! This is the one parser: producers (`ringlog`, its bridges) filter with it, and `ringdrain`
//! checks `ringdrain level` directives and matches `--limit` targets with it.
//!
//! ```
//! use ringlog_wire::filter::Directives;
//! use ringlog_wire::record::Level;
//!
//! let d: Directives = "warn,my_crate=debug,my_crate::db=trace".parse().unwrap();
//! assert!(d.enabled("my_crate::db::pool", Level::Trace));
//! assert!(d.enabled("my_crate::http", Level::Debug));
//! assert!(!d.enabled("my_crate::http", Level::Trace));
//! assert!(!d.enabled("hyper", Level::Info));
//! assert_eq!(d.max_level(), Some(Level::Trace));
//!
//! let err = "info,my_crate=loud".parse::<Directives>().unwrap_err();
//! assert_eq!(err.directive(), "my_crate=loud");
//! ```

use core::fmt;
use core::str::FromStr;

use crate::record::Level;

/// [`Level::verbosity`] for "nothing": lower than every level.
const OFF: u8 = 0;

/// A parsed set of filter directives (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// Most verbose level for targets no directive names ([`Level::verbosity`]; 0 is off).
    default: u8,
    /// `(target, most verbose level)`, longest target first so the first match is the most
    /// specific one.
    targets: Vec<(String, u8)>,
}

impl Default for Directives {
    /// `error` for every target (what an empty `RUST_LOG` means to `env_logger`).
    fn default() -> Self {
        Directives::new(Some(Level::Error))
    }
}

impl Directives {
    /// Directives with only a default: `None` turns everything off.
    pub fn new(default: Option<Level>) -> Self {
        Directives {
            default: level_u8(default),
            targets: Vec::new(),
        }
    }

    /// Adds (or replaces) the directive for `target` and everything under it.
    pub fn with_target(mut self, target: &str, level: Option<Level>) -> Self {
        self.set_target(target.to_string(), level_u8(level));
        self
    }

    /// Parses the environment variable `var` (e.g. `"RUST_LOG"`) if it is set and not blank,
    /// else `default`.
    pub fn from_env_or(var: &str, default: &str) -> Result<Directives, ParseDirectivesError> {
        match std::env::var(var) {
            Ok(s) if !s.trim().is_empty() => s.parse(),
            Ok(_) | Err(std::env::VarError::NotPresent) => default.parse(),
            Err(std::env::VarError::NotUnicode(s)) => Err(ParseDirectivesError {
                directive: s.to_string_lossy().into_owned(),
                kind: ParseDirectivesErrorKind::NotUnicode,
            }),
        }
    }

    /// Whether a record of `level` from `target` passes.
    pub fn enabled(&self, target: &str, level: Level) -> bool {
        level.verbosity() <= self.max_for(target)
    }

    /// The most verbose level any target may log (`None`: everything is off). Bridges give it
    /// to their framework (`log::set_max_level`, `max_level_hint`) so disabled calls cost
    /// nothing.
    pub fn max_level(&self) -> Option<Level> {
        let max = self
            .targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, u8::max);
        Level::from_u8(max)
    }

    /// The most verbose level `target` may log ([`Level::verbosity`], 0 for off).
    fn max_for(&self, target: &str) -> u8 {
        for (t, level) in &self.targets {
            if covers(t, target) {
                return *level;
            }
        }
        self.default
    }

    fn set_target(&mut self, target: String, level: u8) {
        if let Some(entry) = self.targets.iter_mut().find(|(t, _)| *t == target) {
            entry.1 = level;
            return;
        }
        // Keep longest first; among equal lengths the order does not matter (they cannot
        // both cover one target).
        let at = self
            .targets
            .iter()
            .position(|(t, _)| t.len() < target.len())
            .unwrap_or(self.targets.len());
        self.targets.insert(at, (target, level));
    }
}

/// Whether directive target `prefix` covers record target `target`: equal, or `target` is
/// under it on a `::` boundary (`a::b` covers `a::b::c`, not `a::bc`).
pub fn covers(prefix: &str, target: &str) -> bool {
    match target.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with("::"),
        None => false,
    }
}

fn level_u8(level: Option<Level>) -> u8 {
    level.map_or(OFF, Level::verbosity)
}

fn level_name(v: u8) -> &'static str {
    Level::from_u8(v).map_or("off", Level::as_lower_str)
}

/// Parses a level name, or `off`.
fn parse_level(s: &str) -> Option<u8> {
    if s.eq_ignore_ascii_case("off") {
        return Some(OFF);
    }
    s.parse::<Level>().ok().map(Level::verbosity)
}

/// A directive string that did not parse: names the offending directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDirectivesError {
    directive: String,
    kind: ParseDirectivesErrorKind,
}

/// What was wrong with a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseDirectivesErrorKind {
    /// `target=LEVEL` with a level that is not `off`, `error`, `warn`, `info`, `debug` or `trace`.
    UnknownLevel(String),
    /// `=level`: no target before the `=`.
    EmptyTarget,
    /// More than one `=`.
    TooManyEquals,
    /// A target with a character no target has (whitespace, quotes, braces).
    BadTarget,
    /// Span filters (`[...]`), which only `tracing-subscriber`'s `EnvFilter` understands.
    SpanFilter,
    /// A `/regex` message filter, which is not supported.
    Regex,
    /// The environment variable is not valid Unicode.
    NotUnicode,
}

impl ParseDirectivesError {
    /// The directive that failed (trimmed), or the whole value for [`ParseDirectivesErrorKind::NotUnicode`].
    pub fn directive(&self) -> &str {
        &self.directive
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &ParseDirectivesErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseDirectivesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid log directive {:?}: ", self.directive)?;
        match &self.kind {
            ParseDirectivesErrorKind::UnknownLevel(l) => write!(
                f,
                "unknown level {l:?} (expected off, error, warn, info, debug or trace)"
            ),
            ParseDirectivesErrorKind::EmptyTarget => f.write_str("no target before '='"),
            ParseDirectivesErrorKind::TooManyEquals => {
                f.write_str("more than one '=' (expected target=level)")
            }
            ParseDirectivesErrorKind::BadTarget => {
                f.write_str("the target contains whitespace, a quote or a brace")
            }
            ParseDirectivesErrorKind::SpanFilter => {
                f.write_str("span filters ([...]) are not supported")
            }
            ParseDirectivesErrorKind::Regex => {
                f.write_str("regular-expression filters (/...) are not supported")
            }
            ParseDirectivesErrorKind::NotUnicode => f.write_str("not valid Unicode"),
        }
    }
}

impl std::error::Error for ParseDirectivesError {}

impl FromStr for Directives {
    type Err = ParseDirectivesError;

    fn from_str(s: &str) -> Result<Directives, ParseDirectivesError> {
        let mut default = None;
        let mut d = Directives::new(None);
        let mut any = false;
        for raw in s.split(',') {
            let directive = raw.trim();
            if directive.is_empty() {
                continue;
            }
            any = true;
            let err = |kind| ParseDirectivesError {
                directive: directive.to_string(),
                kind,
            };
            if directive.contains('/') {
                return Err(err(ParseDirectivesErrorKind::Regex));
            }
            if directive.contains(['[', ']']) {
                return Err(err(ParseDirectivesErrorKind::SpanFilter));
            }
            let (target, level) = match directive.split_once('=') {
                Some((t, l)) => {
                    if l.contains('=') {
                        return Err(err(ParseDirectivesErrorKind::TooManyEquals));
                    }
                    let (t, l) = (t.trim(), l.trim());
                    if t.is_empty() {
                        return Err(err(ParseDirectivesErrorKind::EmptyTarget));
                    }
                    let level = parse_level(l)
                        .ok_or_else(|| err(ParseDirectivesErrorKind::UnknownLevel(l.into())))?;
                    (Some(t), level)
                }
                // A bare word is a level if it is one, else a target at every level.
                None => match parse_level(directive) {
                    Some(level) => (None, level),
                    None => (Some(directive), Level::Trace as u8),
                },
            };
            match target {
                None => default = Some(level),
                Some(t) => {
                    if t.contains(|c: char| c.is_whitespace() || "\"'{}".contains(c)) {
                        return Err(err(ParseDirectivesErrorKind::BadTarget));
                    }
                    d.set_target(t.to_string(), level);
                }
            }
        }
        d.default = match default {
            Some(level) => level,
            None if any => OFF,
            None => Level::Error as u8,
        };
        Ok(d)
    }
}

/// The directives in canonical form: the default level first, then targets (longest first).
/// Parsing the output gives equal directives back.
impl fmt::Display for Directives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(level_name(self.default))?;
        for (t, l) in &self.targets {
            write!(f, ",{t}={}", level_name(*l))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Directives {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn kind(s: &str) -> ParseDirectivesErrorKind {
        s.parse::<Directives>().unwrap_err().kind
    }

    #[test]
    fn critical_passes_where_error_does_and_is_a_filter_level_like_error() {
        let d = parse("warn,quiet=error,silent=off");
        assert!(d.enabled("app", Level::Critical));
        assert!(d.enabled("quiet", Level::Critical));
        assert!(!d.enabled("quiet", Level::Warn));
        assert!(!d.enabled("silent", Level::Critical));
        assert_eq!(parse("critical"), parse("error"));
    }

    #[test]
    fn a_bare_level_is_the_default_for_every_target() {
        let d = parse("info");
        assert!(d.enabled("anything", Level::Info));
        assert!(d.enabled("a::b", Level::Error));
        assert!(!d.enabled("anything", Level::Debug));
        assert_eq!(d.max_level(), Some(Level::Info));
    }

    #[test]
    fn level_names_are_case_insensitive() {
        assert_eq!(parse("WARN"), parse("warn"));
        assert_eq!(parse("a=Debug"), parse("a=debug"));
        assert_eq!(parse("OFF").max_level(), None);
    }

    #[test]
    fn the_longest_matching_target_wins() {
        let d = parse("warn,my_crate=debug,my_crate::db=trace");
        assert!(d.enabled("my_crate::db", Level::Trace));
        assert!(d.enabled("my_crate::db::pool", Level::Trace));
        assert!(d.enabled("my_crate", Level::Debug));
        assert!(!d.enabled("my_crate", Level::Trace));
        assert!(d.enabled("my_crate::http", Level::Debug));
        assert!(!d.enabled("my_crate::http", Level::Trace));
        assert!(d.enabled("other", Level::Warn));
        assert!(!d.enabled("other", Level::Info));
        assert_eq!(d.max_level(), Some(Level::Trace));
    }

    #[test]
    fn directive_order_does_not_change_the_most_specific_match() {
        let a = parse("my_crate::db=trace,my_crate=debug,warn");
        let b = parse("warn,my_crate=debug,my_crate::db=trace");
        assert_eq!(a, b);
    }

    #[test]
    fn targets_match_only_on_path_boundaries() {
        let d = parse("off,my_crate=info");
        assert!(d.enabled("my_crate", Level::Info));
        assert!(d.enabled("my_crate::x", Level::Info));
        assert!(!d.enabled("my_crate_extra", Level::Error));
        assert!(!d.enabled("my_crat", Level::Error));
        assert!(!d.enabled("my_crate:x", Level::Error));
        assert!(!d.enabled("", Level::Error));
    }

    #[test]
    fn off_turns_a_target_off_under_a_verbose_default() {
        let d = parse("trace,noisy=off");
        assert!(!d.enabled("noisy", Level::Error));
        assert!(!d.enabled("noisy::inner", Level::Error));
        assert!(d.enabled("quiet", Level::Trace));
    }

    #[test]
    fn only_targets_turns_everything_else_off_and_empty_means_error() {
        let d = parse("my_crate=debug");
        assert!(!d.enabled("other", Level::Error));
        assert!(d.enabled("my_crate", Level::Debug));
        let e = parse("");
        assert!(e.enabled("other", Level::Error));
        assert!(!e.enabled("other", Level::Warn));
        assert_eq!(e, Directives::default());
        assert_eq!(parse(" , ,"), Directives::default());
    }

    #[test]
    fn a_bare_target_enables_every_level() {
        let d = parse("info,chatty");
        assert!(d.enabled("chatty::x", Level::Trace));
        assert!(!d.enabled("other", Level::Debug));
    }

    #[test]
    fn a_later_directive_for_the_same_target_replaces_the_earlier() {
        let d = parse("a=trace,a=warn,debug,error");
        assert!(!d.enabled("a", Level::Info));
        assert!(d.enabled("a", Level::Warn));
        assert!(!d.enabled("b", Level::Warn));
    }

    #[test]
    fn whitespace_around_directives_and_equals_is_ignored() {
        assert_eq!(parse(" warn , a = debug "), parse("warn,a=debug"));
    }

    #[test]
    fn max_level_is_none_only_when_everything_is_off() {
        assert_eq!(parse("off").max_level(), None);
        assert_eq!(parse("off,a=off").max_level(), None);
        assert_eq!(parse("off,a=warn").max_level(), Some(Level::Warn));
        assert_eq!(parse("error,a=info").max_level(), Some(Level::Info));
    }

    #[test]
    fn bad_directives_are_errors_naming_the_directive() {
        let e = "info,my_crate=loud,x=debug"
            .parse::<Directives>()
            .unwrap_err();
        assert_eq!(e.directive(), "my_crate=loud");
        assert_eq!(
            e.kind(),
            &ParseDirectivesErrorKind::UnknownLevel("loud".into())
        );
        let msg = e.to_string();
        assert!(msg.contains("\"my_crate=loud\""), "{msg}");
        assert!(msg.contains("\"loud\""), "{msg}");

        assert_eq!(kind("=debug"), ParseDirectivesErrorKind::EmptyTarget);
        assert_eq!(kind("a=b=c"), ParseDirectivesErrorKind::TooManyEquals);
        assert_eq!(kind("a b=info"), ParseDirectivesErrorKind::BadTarget);
        assert_eq!(kind("a[span]=info"), ParseDirectivesErrorKind::SpanFilter);
        assert_eq!(kind("info/foo"), ParseDirectivesErrorKind::Regex);
        assert_eq!(
            kind("a="),
            ParseDirectivesErrorKind::UnknownLevel(String::new())
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "",
            "off",
            "info,a=debug,a::b=off",
            "x",
            "trace,a::b::c=warn",
        ] {
            let d = parse(s);
            let shown = d.to_string();
            assert_eq!(parse(&shown), d, "{s:?} -> {shown:?}");
        }
        assert_eq!(
            parse("a=debug,warn,a::b=off").to_string(),
            "warn,a::b=off,a=debug"
        );
    }

    #[test]
    fn builder_matches_parsing() {
        let built = Directives::new(Some(Level::Warn))
            .with_target("a", Some(Level::Debug))
            .with_target("a::b", None);
        assert_eq!(built, parse("warn,a=debug,a::b=off"));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        for s in [
            "=", "==", ",=,", "\u{0}", "é=trace", "::=info", "a::=info", "💥", "a=💥",
        ] {
            let _ = s.parse::<Directives>();
        }
    }
}
