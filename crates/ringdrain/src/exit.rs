//! Exit codes (BSD `sysexits.h`), so a service manager can tell "fix the configuration" from
//! "try again later".
//!
//! | code | name | when |
//! |---|---|---|
//! | 0 | | done (a stop signal, `--once` finished, a passing `stats --check`) |
//! | 1 | | `stats --check` found a problem; any other failure |
//! | 65 | `EX_DATAERR` | the ring file is not a usable segment (not ringlog, other layout version, damaged) |
//! | 69 | `EX_UNAVAILABLE` | a needed service is not there: another drain holds the ring, a network output or the metrics address cannot be set up |
//! | 74 | `EX_IOERR` | an operating-system error on the ring or the output (cannot create, write, `/dev/shm` full) |
//! | 78 | `EX_CONFIG` | a configuration error: a bad flag, environment variable or config file value, no ring or output given, a ring that must exist and does not, a ring owned by another user |
//!
//! A restart cannot fix 65 or 78: the shipped systemd unit has `RestartPreventExitStatus=65 78`.

use std::process::ExitCode;

use ringlog_segment::OpenError;

/// A `sysexits.h` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sysexit {
    /// 65: input data (the ring file) is not usable.
    DataErr,
    /// 69: a service needed is unavailable.
    Unavailable,
    /// 74: an input/output error.
    IoErr,
    /// 78: a configuration error.
    Config,
}

impl Sysexit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Sysexit::DataErr => 65,
            Sysexit::Unavailable => 69,
            Sysexit::IoErr => 74,
            Sysexit::Config => 78,
        }
    }

    /// Tags `e` with this exit code (the message is unchanged).
    pub fn wrap(self, e: impl Into<anyhow::Error>) -> anyhow::Error {
        Coded {
            code: self,
            error: e.into(),
        }
        .into()
    }

    /// An error with message `msg` and this exit code.
    pub fn msg(self, msg: impl std::fmt::Display) -> anyhow::Error {
        self.wrap(anyhow::anyhow!("{msg}"))
    }
}

/// An error tagged with the exit code it should end the process with.
#[derive(Debug, thiserror::Error)]
#[error("{}", one_line(.error))]
pub struct Coded {
    /// The code.
    pub code: Sysexit,
    error: anyhow::Error,
}

/// The exit code for an error: an explicit [`Coded`] tag anywhere in its chain first, then
/// what a segment or I/O error in the chain says, otherwise 1.
pub fn code_for(e: &anyhow::Error) -> u8 {
    let mut guess = None;
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code.code();
        }
        if guess.is_some() {
            continue;
        }
        if let Some(o) = cause.downcast_ref::<OpenError>() {
            guess = Some(match o {
                OpenError::InvalidName(_)
                | OpenError::NotFound(_)
                | OpenError::NoDirectory(_)
                | OpenError::Symlink(_)
                | OpenError::NotAFile(_)
                | OpenError::ForeignOwner { .. } => Sysexit::Config,
                OpenError::Layout { .. } | OpenError::CorruptCursors { .. } => Sysexit::DataErr,
                OpenError::Io { .. } => Sysexit::IoErr,
            });
        } else if cause
            .downcast_ref::<ringlog_segment::AlreadyDraining>()
            .is_some()
        {
            // Another drain holds the ring: unavailable for now (69), not a config error.
            guess = Some(Sysexit::Unavailable);
        } else if cause.downcast_ref::<std::io::Error>().is_some() {
            guess = Some(Sysexit::IoErr);
        }
    }
    guess.map_or(1, Sysexit::code)
}

/// `e` and its causes on one line, `outer: inner: ...`, each cause once. Errors that put
/// their source's text in their own message *and* return it as `source()` (thiserror's
/// `#[error("{op} {path}: {source}")]` with a `source` field, `#[error(transparent)]`) would
/// print it twice with `{:#}`; a cause whose text ends the text so far is left out.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// [`code_for`] as an [`ExitCode`].
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    ExitCode::from(code_for(e))
}

/// A `--ring` argument as a path ([`ringlog_segment::resolve`]: a name without a `/` means
/// `/dev/shm/ringlog-NAME`). When such a name is also a file in the working directory, says on
/// stderr which one is meant and how to name the other: `--ring app.ring` with `./app.ring` at
/// hand is easily meant as that file.
pub fn resolve_ring(ring: &str) -> Result<std::path::PathBuf, ringlog_segment::OpenError> {
    let path = ringlog_segment::resolve(ring)?;
    if !ring.contains('/') && std::path::Path::new(ring).exists() {
        eprintln!(
            "ringdrain: note: {ring} names the ring {} (a name without a '/'); for the file {ring} in this directory, write ./{ring}",
            path.display()
        );
    }
    Ok(path)
}

/// "cannot open ring PATH: CAUSE", naming the path once: most causes already start with it.
pub fn open_ring_error(path: &std::path::Path, e: ringlog_segment::OpenError) -> anyhow::Error {
    let shown = path.display().to_string();
    let context = if e.to_string().contains(&shown) {
        "cannot open ring".to_string()
    } else {
        format!("cannot open ring {shown}")
    };
    anyhow::Error::new(e).context(context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_cause_already_in_its_errors_message_is_printed_once() {
        let open = OpenError::Io {
            op: "open",
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(2),
        };
        let e = Err::<(), _>(open)
            .context("cannot open ring /x")
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "cannot open ring /x: open /x: No such file or directory (os error 2): No such file or directory (os error 2)",
            "what anyhow prints"
        );
        assert_eq!(
            one_line(&e),
            "cannot open ring /x: open /x: No such file or directory (os error 2)"
        );
        // Also inside an exit-code tag (which prints its error's chain itself).
        let open = OpenError::Io {
            op: "open",
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(2),
        };
        let e = Sysexit::Config.wrap(open);
        assert_eq!(
            one_line(&e),
            "open /x: No such file or directory (os error 2)"
        );
        // Plain chains are unchanged.
        let io = std::io::Error::other("disk");
        let e = Err::<(), _>(io).context("writing").unwrap_err();
        assert_eq!(one_line(&e), format!("{e:#}"));
    }

    #[test]
    fn a_tag_survives_outer_context_and_wins_over_io() {
        let io = std::io::Error::other("disk");
        let e = Sysexit::Config.wrap(io);
        let e = Err::<(), _>(e).context("while starting").unwrap_err();
        assert_eq!(code_for(&e), 78);
        assert_eq!(format!("{e:#}"), "while starting: disk");
    }

    #[test]
    fn untagged_errors_are_classified_by_their_cause() {
        let e = anyhow::Error::new(OpenError::NotFound("/x".into())).context("cannot open ring");
        assert_eq!(code_for(&e), 78);
        let e = anyhow::Error::new(std::io::Error::other("x")).context("write");
        assert_eq!(code_for(&e), 74);
        assert_eq!(code_for(&anyhow::anyhow!("other")), 1);
    }
}
