//! Drain-side rate limits: `--limit TARGET=N/s` or `--limit FILE:LINE=N/s` (repeatable; TOML
//! `limit = [..]`, `RINGDRAIN_LIMIT=a=10/s,b=5/m`). The producers pay nothing: the drain counts.
//!
//! * `TARGET=RATE` limits the records whose target is `TARGET` or under it on a `::` boundary
//!   (the same matching as filter directives, [`ringlog_wire::filter::covers`]); a record is
//!   counted by the most specific such rule only.
//! * `FILE:LINE=RATE` limits one callsite (the file as the callsite registered it, or a path
//!   ending in `/FILE`); it takes precedence over target rules.
//! * `RATE` is `N/s`, `N/m`, `N/h` or `N/Ks` (`100/10s`): at most N records per window.
//!
//! Each rule has one window: it opens at the first record the rule counts and lasts the
//! period (record time). The first N records of a window are written, the rest suppressed and
//! counted. When the window closes (a record of the rule arrives after it, the drain's clock
//! passes its end, or the drain stops) a notice of its own reports the count:
//! `suppressed 1234 records from app::http in the last 1 s` (fields `suppressed`, `limit`),
//! through the same encoders as every line.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ringlog_wire::filter::covers;

/// What a rule limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Records whose target is this or under it.
    Target(String),
    /// One callsite.
    Callsite {
        /// Its file.
        file: String,
        /// Its line.
        line: u32,
    },
}

/// One `--limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What it limits.
    pub key: Key,
    /// Records per window.
    pub max: u64,
    /// The window.
    pub period: Duration,
    /// As given (for notices).
    text: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Rule, String> {
        let s = s.trim();
        let (key, rate) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?}: expected TARGET=N/s or FILE:LINE=N/s"))?;
        let key = key.trim();
        let key = match key.rsplit_once(':') {
            Some((file, line))
                if !file.is_empty()
                    && !file.ends_with(':')
                    && !line.is_empty()
                    && line.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Key::Callsite {
                    file: file.to_string(),
                    line: line
                        .parse()
                        .map_err(|_| format!("{s:?}: line number too large"))?,
                }
            }
            _ => {
                if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '=') {
                    return Err(format!(
                        "{s:?}: the target must be a non-empty name without spaces"
                    ));
                }
                Key::Target(key.to_string())
            }
        };
        let (n, per) = rate
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: the rate must be N/s, N/m, N/h or N/10s"))?;
        let max: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
        let per = per.trim();
        let split = per.find(|c: char| !c.is_ascii_digit()).unwrap_or(per.len());
        let (mult, unit) = per.split_at(split);
        let mult: u64 = if mult.is_empty() {
            1
        } else {
            mult.parse()
                .map_err(|_| format!("{s:?}: bad period {per:?}"))?
        };
        let unit_secs = match unit {
            "s" | "sec" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            _ => return Err(format!("{s:?}: the period unit must be s, m or h")),
        };
        if mult == 0 {
            return Err(format!("{s:?}: the period must not be zero"));
        }
        Ok(Rule {
            key,
            max,
            period: Duration::from_secs(mult.saturating_mul(unit_secs)),
            text: s.to_string(),
        })
    }
}

/// A window's report: `suppressed` records of `rule` were not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The rule, as given.
    pub rule: String,
    /// What it limits, for the message (`app::http`, `src/main.rs:42`).
    pub what: String,
    /// Records suppressed in the window.
    pub count: u64,
    /// The window's length.
    pub period: Duration,
}

impl Suppressed {
    /// The notice's message.
    pub fn message(&self) -> String {
        let secs = self.period.as_secs();
        format!(
            "suppressed {} records from {} in the last {secs} s",
            self.count, self.what
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    /// Record time (Unix ns) the window ends at; 0: no window open.
    end: i64,
    written: u64,
    suppressed: u64,
}

/// The rate limiter (see the [module docs](self)).
#[derive(Debug)]
pub struct Limiter {
    rules: Vec<Rule>,
    windows: Vec<Window>,
    /// The rule (index) of each (ring, callsite id) seen, once resolved.
    by_callsite: HashMap<(usize, u32), Option<usize>>,
    /// Closed windows not reported yet.
    pending: Vec<Suppressed>,
    suppressed_total: u64,
}

impl Limiter {
    /// A limiter enforcing `rules` (`None` if there are none).
    pub fn new(rules: Vec<Rule>) -> Option<Limiter> {
        if rules.is_empty() {
            return None;
        }
        Some(Limiter {
            windows: vec![Window::default(); rules.len()],
            rules,
            by_callsite: HashMap::new(),
            pending: Vec::new(),
            suppressed_total: 0,
        })
    }

    /// Records suppressed so far.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }

    /// The rule counting records of this callsite: a callsite rule naming it, else the most
    /// specific target rule covering its target.
    fn rule_for(&self, target: &str, file: &str, line: u32) -> Option<usize> {
        let by_site = self.rules.iter().position(|r| match &r.key {
            Key::Callsite { file: f, line: l } => {
                *l == line
                    && (file == f
                        || file
                            .strip_suffix(f.as_str())
                            .is_some_and(|rest| rest.ends_with('/')))
            }
            Key::Target(_) => false,
        });
        by_site.or_else(|| {
            self.rules
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match &r.key {
                    Key::Target(t) if covers(t, target) => Some((i, t.len())),
                    _ => None,
                })
                .max_by_key(|&(_, len)| len)
                .map(|(i, _)| i)
        })
    }

    /// Whether a record (of ring `ring`, callsite `id` with this target and location, at
    /// `unix_ns`) is written. Counts it either way.
    pub fn admit(
        &mut self,
        ring: usize,
        id: u32,
        target: &str,
        file: &str,
        line: u32,
        unix_ns: i64,
    ) -> bool {
        let rule = match self.by_callsite.get(&(ring, id)) {
            Some(r) => *r,
            None => {
                let r = self.rule_for(target, file, line);
                self.by_callsite.insert((ring, id), r);
                r
            }
        };
        let Some(i) = rule else {
            return true;
        };
        let period = i64::try_from(self.rules[i].period.as_nanos()).unwrap_or(i64::MAX);
        if self.windows[i].end != 0 && unix_ns >= self.windows[i].end {
            self.close(i);
        }
        let w = &mut self.windows[i];
        if w.end == 0 {
            w.end = unix_ns.saturating_add(period);
        }
        if w.written < self.rules[i].max {
            w.written += 1;
            true
        } else {
            w.suppressed += 1;
            self.suppressed_total += 1;
            false
        }
    }

    /// Closes window `i`, queueing its report if it suppressed anything.
    fn close(&mut self, i: usize) {
        let w = std::mem::take(&mut self.windows[i]);
        if w.suppressed > 0 {
            let r = &self.rules[i];
            self.pending.push(Suppressed {
                rule: r.text.clone(),
                what: match &r.key {
                    Key::Target(t) => t.clone(),
                    Key::Callsite { file, line } => format!("{file}:{line}"),
                },
                count: w.suppressed,
                period: r.period,
            });
        }
    }

    /// Reports of the windows closed by now (`now_ns`, the drain's clock) or by later records.
    pub fn due(&mut self, now_ns: i64) -> Vec<Suppressed> {
        for i in 0..self.windows.len() {
            if self.windows[i].end != 0 && now_ns >= self.windows[i].end {
                self.close(i);
            }
        }
        std::mem::take(&mut self.pending)
    }

    /// Closes every window (the drain is stopping) and returns the reports.
    pub fn finish(&mut self) -> Vec<Suppressed> {
        for i in 0..self.windows.len() {
            self.close(i);
        }
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn limiter(rules: &[&str]) -> Limiter {
        Limiter::new(rules.iter().map(|r| r.parse().unwrap()).collect()).unwrap()
    }

    #[test]
    fn rules_parse_targets_callsites_and_rates() {
        let r: Rule = "app::http=1000/s".parse().unwrap();
        assert_eq!(r.key, Key::Target("app::http".into()));
        assert_eq!((r.max, r.period), (1000, Duration::from_secs(1)));
        let r: Rule = "src/main.rs:42=5/10s".parse().unwrap();
        assert_eq!(
            r.key,
            Key::Callsite {
                file: "src/main.rs".into(),
                line: 42
            }
        );
        assert_eq!(r.period, Duration::from_secs(10));
        assert_eq!(
            "a=1/m".parse::<Rule>().unwrap().period,
            Duration::from_secs(60)
        );
        for bad in ["a", "a=1", "a=x/s", "=1/s", "a=1/0s", "a=1/d", "a b=1/s"] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_n_of_a_window_pass_and_the_rest_are_counted_then_reported() {
        let mut l = limiter(&["app=3/s"]);
        let passed = (0..10)
            .filter(|i| l.admit(0, 1, "app::http", "f.rs", 1, i * 1000))
            .count();
        assert_eq!(passed, 3);
        assert!(l.due(S / 2).is_empty(), "window still open");
        let r = l.due(S + 1);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].count, 7);
        assert_eq!(
            r[0].message(),
            "suppressed 7 records from app in the last 1 s"
        );
        // A new window opens with the next record.
        assert!(l.admit(0, 1, "app::http", "f.rs", 1, 2 * S));
        assert!(l.finish().is_empty(), "nothing suppressed in it");
    }

    #[test]
    fn a_record_after_the_window_closes_it() {
        let mut l = limiter(&["app=1/s"]);
        assert!(l.admit(0, 1, "app", "", 0, 0));
        assert!(!l.admit(0, 1, "app", "", 0, 10));
        assert!(l.admit(0, 1, "app", "", 0, S));
        let r = l.due(S);
        assert_eq!(r.iter().map(|s| s.count).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn the_most_specific_rule_counts_and_callsite_rules_come_first() {
        let mut l = limiter(&["app=1/m", "app::db=2/m", "src/db.rs:7=0/m"]);
        assert!(l.admit(0, 1, "app::db::pool", "x.rs", 1, 0));
        assert!(l.admit(0, 1, "app::db::pool", "x.rs", 1, 0));
        assert!(!l.admit(0, 1, "app::db::pool", "x.rs", 1, 0));
        assert!(l.admit(0, 2, "app::http", "x.rs", 2, 0));
        assert!(!l.admit(0, 2, "app::http", "x.rs", 2, 0));
        assert!(!l.admit(0, 3, "app::db", "crates/a/src/db.rs", 7, 0));
        assert!(l.admit(0, 4, "appx", "x.rs", 3, 0), "no rule covers appx");
        let mut r = l.finish();
        r.sort_by(|a, b| a.what.cmp(&b.what));
        let got: Vec<(String, u64)> = r.into_iter().map(|s| (s.what, s.count)).collect();
        assert_eq!(
            got,
            [
                ("app".to_string(), 1),
                ("app::db".to_string(), 1),
                ("src/db.rs:7".to_string(), 1)
            ]
        );
    }
}
