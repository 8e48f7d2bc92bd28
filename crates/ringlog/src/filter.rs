//! `RUST_LOG`-style level filters by target, shared by the native macros and the `log` and
//! `tracing` bridges: [`Directives`] (the parser and matcher live in
//! [`ringlog_wire::filter`], so the drain checks `ringdrain level` directives and matches
//! `--limit` targets with the very same code). See there for the syntax.
//!
//! ```
//! use ringlog::filter::Directives;
//! use ringlog::Level;
//!
//! let d: Directives = "warn,my_crate=debug,my_crate::db=trace".parse().unwrap();
//! assert!(d.enabled("my_crate::db::pool", Level::Trace));
//! assert!(!d.enabled("hyper", Level::Info));
//! ```

pub(crate) mod cell;

pub use ringlog_wire::filter::{Directives, ParseDirectivesError, ParseDirectivesErrorKind};
