//! Building blocks for bridges from other logging front ends (`log`, `tracing`, Python, C):
//! callsites that are described at run time instead of by the native macros.
//!
//! * [`IdCache`]: an insert-only concurrent map from a callsite's description to its ringlog
//!   id, so a bridged call's steady state is a lookup rather than a registration.
//! * [`StackStr`]: formats a `Display`/`Debug` value into a fixed stack buffer (no allocation),
//!   cutting at [`StackStr::CAP`] bytes on a character boundary, for the documented slow path.
//! * [`static_text`]: whether a message handed over as text is a string literal (its bytes lie
//!   in a loaded object's read-only segment), so it can live in the callsite instead of the
//!   record.
//!
//! Register with [`Logger::register_callsite`](crate::Logger::register_callsite) and log with
//! [`Logger::log_with_id`](crate::Logger::log_with_id).

mod cache;
mod statics;
mod text;

pub use cache::{Got, Hash, IdCache, MAX_PROBES, SLOTS};
pub use statics::static_text;
pub use text::{Buf, StackStr};
