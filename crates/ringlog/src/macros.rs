//! The logging macros. Every level macro forwards to [`log!`](crate::log), which forwards to the
//! hidden `__ringlog_log!` that does the work (tracing's layering).

/// Logs at a level given as an expression.
///
/// `log!(logger, level, "format {} with {} holes", a, b, key = value, ...)`: positional arguments
/// fill the `{}` holes (a mismatch in their number is a compile error); `key = value` pairs after
/// them are structured fields. Arguments are encoded in binary when their type implements
/// [`Encode`](crate::Encode) (integers, floats, bool, char, strings, byte slices, `Option`s of
/// those); any other `Display` type is formatted here, on the caller's thread (the documented
/// slow path).
#[macro_export]
macro_rules! log {
    ($logger:expr, $level:expr, $fmt:literal $(, $($rest:tt)*)?) => {
        $crate::__ringlog_log!(@munch ($logger, $level, $fmt) [] [] $($($rest)*)?)
    };
}

/// Logs at [`Level::Error`](crate::Level::Error). See [`log!`](crate::log).
#[macro_export]
macro_rules! error {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Error, $($rest)+) };
}

/// Logs at [`Level::Warn`](crate::Level::Warn). See [`log!`](crate::log).
#[macro_export]
macro_rules! warn {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Warn, $($rest)+) };
}

/// Logs at [`Level::Info`](crate::Level::Info). See [`log!`](crate::log).
#[macro_export]
macro_rules! info {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Info, $($rest)+) };
}

/// Logs at [`Level::Debug`](crate::Level::Debug). See [`log!`](crate::log).
#[macro_export]
macro_rules! debug {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Debug, $($rest)+) };
}

/// Logs at [`Level::Trace`](crate::Level::Trace). See [`log!`](crate::log).
#[macro_export]
macro_rules! trace {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Trace, $($rest)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ringlog_log {
    // Done: emit.
    (@munch ($logger:expr, $level:expr, $fmt:literal) [$($pos:expr,)*] [$($k:ident = $v:expr,)*]) => {{
        let __logger: &$crate::Logger = &$logger;
        let __level: $crate::Level = $level;
        if __logger.enabled(__level) {
            const _: () = ::core::assert!(
                $crate::__private::count_holes($fmt) == $crate::__ringlog_log!(@count $($pos,)*),
                "ringlog: the number of {{}} holes in the format string does not match the number of positional arguments"
            );
            static __CALLSITE: $crate::__private::Callsite = $crate::__private::Callsite::new(
                $fmt,
                ::core::module_path!(),
                ::core::file!(),
                ::core::line!(),
                &[$(::core::stringify!($k)),*],
            );
            #[allow(unused_imports)]
            use $crate::__private::{ViaDisplay as _, ViaEncode as _};
            __logger.__log(&__CALLSITE, __level, |__enc: &mut $crate::__private::Encoder<'_>| {
                $( (&$crate::__private::Wrap(&$pos)).__ringlog_encode(__enc); )*
                $( (&$crate::__private::Wrap(&$v)).__ringlog_encode(__enc); )*
            });
        }
    }};
    // A `key = value` field.
    (@munch $head:tt [$($pos:expr,)*] [$($kv:tt)*] $k:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__ringlog_log!(@munch $head [$($pos,)*] [$($kv)* $k = $v,] $($($rest)*)?)
    };
    // A positional argument.
    (@munch $head:tt [$($pos:expr,)*] [$($kv:tt)*] $e:expr $(, $($rest:tt)*)?) => {
        $crate::__ringlog_log!(@munch $head [$($pos,)* $e,] [$($kv)*] $($($rest)*)?)
    };
    (@count $($e:expr,)*) => { <[()]>::len(&[$($crate::__ringlog_log!(@unit $e)),*]) };
    (@unit $e:expr) => { () };
}
