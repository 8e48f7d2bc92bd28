//! The logging macros. Every level macro forwards to the `ringlog-macros` proc macro with the
//! crate path and its level; [`log!`](crate::log) forwards with the level as an argument
//! (tracing's layering: one core, thin wrappers).
//!
//! The forms, for every level macro (`info!` shown):
//!
//! | form | logger |
//! |---|---|
//! | `info!("served {} in {ms} ms", id, ms = 1.5)` | the global one ([`init`](crate::init)); a no-op before `init` |
//! | `info!(logger: l, "...", ...)` | `l` |
//! | `info!(l, "...", ...)` | `l` (the handle form) |
//! | `info!(target: "app::http", "...")` | with any of the above: the target for directives and output (default: the module path) |
//!
//! After the format string: positional arguments, then `key = value` fields. Keys are
//! identifiers, dotted names (`http.status = 200`) or string literals (`"user-agent" = ua`);
//! a value may carry tracing's sigils (`key = ?v` formats `v` with `Debug` on the caller,
//! `key = %v` with `Display`), and `?v` / `%v` alone name the field after the variable.
//!
//! The format string is `format!`'s grammar (see `ringlog-grammar`): `{}`, `{0}` (by index,
//! reusable), `{name}` (a field of that name, else a variable captured from the scope as
//! `format!` does), and specs (`{:>8.2}`, `{:#x}`, `{:?}`, `{:e}`). It is checked at compile
//! time: a wrong number of arguments, an argument never used, or a spec the drain cannot
//! render (`{:p}`, `{:1$}`, `{:.*}`) is a compile error.
//!
//! Arguments whose type implements [`Encode`](crate::Encode) travel in binary and are formatted
//! by the drain. Any other type is formatted on the caller's thread (the documented slow path):
//! with `Debug` when a `{:?}` hole takes it, else with `Display`.

/// Logs at a level given as an expression: `log!(Level::Warn, "...")`,
/// `log!(logger: l, level, "...")` or `log!(l, level, "...")`. The argument forms are
/// those of [`info!`](crate::info).
#[macro_export]
macro_rules! log {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, () $($rest)+) };
}

/// Logs at [`Level::Error`](crate::Level::Error). See [`log!`](crate::log).
#[macro_export]
macro_rules! error {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, ($crate::Level::Error) $($rest)+) };
}

/// Logs at [`Level::Warn`](crate::Level::Warn). See [`log!`](crate::log).
#[macro_export]
macro_rules! warn {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, ($crate::Level::Warn) $($rest)+) };
}

/// Logs at [`Level::Info`](crate::Level::Info). See [`log!`](crate::log).
#[macro_export]
macro_rules! info {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, ($crate::Level::Info) $($rest)+) };
}

/// Logs at [`Level::Debug`](crate::Level::Debug). See [`log!`](crate::log).
#[macro_export]
macro_rules! debug {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, ($crate::Level::Debug) $($rest)+) };
}

/// Logs at [`Level::Trace`](crate::Level::Trace). See [`log!`](crate::log).
#[macro_export]
macro_rules! trace {
    ($($rest:tt)+) => { $crate::__private::__log!($crate, ($crate::Level::Trace) $($rest)+) };
}
