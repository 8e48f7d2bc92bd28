//! The `{}` format-string grammar ringlog's Rust producers use, as one parser that both sides
//! share: the `ringlog-macros` proc macro checks every format string with it at compile time, and
//! the drain (`ringlog-wire`'s `Template`) renders with it. Whatever the macros accept, the drain
//! renders; whatever the drain cannot render is a compile error (defmt-parser serves defmt's
//! macros and its decoder the same way).
//!
//! | item | what it is |
//! |---|---|
//! | [`Parser`] | an iterator of [`Piece`]s over a format string |
//! | [`Piece`] | literal text, or a [`Hole`] |
//! | [`Hole`] | which argument ([`ArgRef`]) and how ([`Spec`]) |
//! | [`Error`] | what is wrong, and where |
//!
//! The grammar is `format!`'s, less what deferred formatting cannot do:
//!
//! ```text
//! format   := (text | '{{' | '}}' | hole)*
//! hole     := '{' [argument] [':' spec] '}'
//! argument := integer | identifier          ("{0}", "{name}"; none: the next positional)
//! spec     := [[fill] align] ['+'] ['#'] ['0'] [width] ['.' precision] [type]
//! align    := '<' | '^' | '>'
//! width    := integer <= 4096               precision := integer <= 1024
//! type     := '' | '?' | 'x' | 'X' | 'o' | 'b' | 'e' | 'E' | 'x?' | 'X?'
//! ```
//!
//! Rejected, each with its own message: unbalanced braces, widths or precisions taken from
//! arguments (`{:1$}`, `{:.*}`, `{:w$}`), the `-` flag, pointer formatting (`{:p}`), any other
//! type, and widths or precisions beyond the bounds above (the drain caps what it pads so a
//! damaged segment cannot make it write gigabytes; the macros refuse what would be capped).
//!
//! ```
//! use ringlog_grammar::{ArgRef, Parser, Piece};
//!
//! let pieces: Vec<_> = Parser::new("user {user} took {0:>8.2} ms").collect::<Result<_, _>>().unwrap();
//! assert_eq!(pieces[0], Piece::Lit("user "));
//! let Piece::Hole(h) = &pieces[1] else { panic!() };
//! assert_eq!(h.arg, ArgRef::Name("user"));
//! let Piece::Hole(h) = &pieces[3] else { panic!() };
//! assert_eq!((h.arg, h.spec.width, h.spec.precision), (ArgRef::Index(0), 8, Some(2)));
//! assert!(Parser::new("{:p}").any(|p| p.is_err()));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt;

/// Widest padding a hole may ask for.
pub const MAX_WIDTH: usize = 4096;
/// Largest precision a hole may ask for.
pub const MAX_PRECISION: usize = 1024;

/// One piece of a format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text, escapes resolved (`{{` yields a piece ending in `{`).
    Lit(&'a str),
    /// A hole to fill with an argument.
    Hole(Hole<'a>),
}

/// Which argument a hole takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgRef<'a> {
    /// `{}`: the next positional argument (a counter of its own, as in `format!`).
    Next,
    /// `{2}`: positional argument 2.
    Index(usize),
    /// `{name}`: a named argument (a field, or a captured variable).
    Name(&'a str),
}

/// Alignment within the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `<`
    Left,
    /// `^`
    Center,
    /// `>`
    Right,
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Type {
    /// `{}`
    #[default]
    Display,
    /// `{:?}` (also `{:x?}` and `{:X?}`: ringlog's arguments are scalars and strings, whose
    /// debug form those flags do not change except for integers, see [`Type::DebugLowerHex`]).
    Debug,
    /// `{:x?}`
    DebugLowerHex,
    /// `{:X?}`
    DebugUpperHex,
    /// `{:x}`
    LowerHex,
    /// `{:X}`
    UpperHex,
    /// `{:o}`
    Octal,
    /// `{:b}`
    Binary,
    /// `{:e}`
    LowerExp,
    /// `{:E}`
    UpperExp,
}

/// A hole's format spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Fill character (default space).
    pub fill: char,
    /// Alignment (default: right for numbers, left otherwise).
    pub align: Option<Align>,
    /// `+`: always print the sign of numbers.
    pub plus: bool,
    /// `#`: the alternate form (`0x` prefixes, pretty debug).
    pub alternate: bool,
    /// `0`: pad numbers with zeros after the sign.
    pub zero: bool,
    /// Minimum width in characters (0: none).
    pub width: usize,
    /// Precision: digits after the point for floats, characters kept for strings.
    pub precision: Option<usize>,
    /// The conversion.
    pub ty: Type,
}

impl Spec {
    /// The spec of a bare `{}`.
    pub const DISPLAY: Spec = Spec {
        fill: ' ',
        align: None,
        plus: false,
        alternate: false,
        zero: false,
        width: 0,
        precision: None,
        ty: Type::Display,
    };

    /// The spec of a bare `{:?}`.
    pub const DEBUG: Spec = Spec {
        ty: Type::Debug,
        ..Spec::DISPLAY
    };
}

impl Default for Spec {
    fn default() -> Self {
        Spec::DISPLAY
    }
}

/// A hole: `{argument:spec}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole<'a> {
    /// The argument it takes.
    pub arg: ArgRef<'a>,
    /// How the argument is written.
    pub spec: Spec,
    /// The spec's source text (after the `:`; empty without one), for rewriting holes.
    pub spec_src: &'a str,
    /// Byte range of the whole hole (braces included) in the format string.
    pub span: (usize, usize),
}

/// What is wrong with a format string, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the format string.
    pub at: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A `{` without its `}`.
    Unclosed,
    /// A `}` that closes nothing (write `}}` for a literal brace).
    UnmatchedClose,
    /// The argument is neither a number nor an identifier.
    BadArgument,
    /// `{:1$}`, `{:.*}`, `{:name$}`: values are formatted later, by the drain, which has no
    /// argument to take a width from.
    ArgumentWidth,
    /// The `-` flag (`format!` ignores it; ringlog refuses it rather than guess).
    MinusFlag,
    /// `{:p}`: an address means nothing in another process.
    Pointer,
    /// A type other than `? x X o b e E x? X?`.
    UnknownType,
    /// A width above [`MAX_WIDTH`].
    WidthTooLarge,
    /// A precision above [`MAX_PRECISION`].
    PrecisionTooLarge,
    /// Something else inside the spec.
    BadSpec,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Unclosed => "unclosed `{` in format string (write `{{` for a literal brace)",
            ErrorKind::UnmatchedClose => {
                "unmatched `}` in format string (write `}}` for a literal brace)"
            }
            ErrorKind::BadArgument => {
                "a hole names its argument by a number (`{0}`) or an identifier (`{name}`)"
            }
            ErrorKind::ArgumentWidth => {
                "width or precision taken from an argument (`{:1$}`, `{:.*}`, `{:w$}`) is not \
                 supported: ringlog formats later, in the drain; write the number in the format"
            }
            ErrorKind::MinusFlag => "the `-` flag is not supported",
            ErrorKind::Pointer => {
                "`{:p}` is not supported: an address means nothing once the record leaves the process"
            }
            ErrorKind::UnknownType => {
                "unknown format type: ringlog renders `{}` `{:?}` `{:x}` `{:X}` `{:o}` `{:b}` `{:e}` `{:E}` `{:x?}` `{:X?}`"
            }
            ErrorKind::WidthTooLarge => "width above 4096 is not supported",
            ErrorKind::PrecisionTooLarge => "precision above 1024 is not supported",
            ErrorKind::BadSpec => {
                "malformed format spec (expected [[fill]align][+][#][0][width][.precision][type])"
            }
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.kind, self.at)
    }
}

impl std::error::Error for Error {}

/// Parses a format string into [`Piece`]s. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    src: &'a str,
    pos: usize,
    failed: bool,
}

impl<'a> Parser<'a> {
    /// A parser over `src`.
    pub fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            failed: false,
        }
    }

    /// The rest of the string after an error, for renderers that show it verbatim.
    pub fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn fail(&mut self, at: usize, kind: ErrorKind) -> Option<Result<Piece<'a>, Error>> {
        self.failed = true;
        Some(Err(Error { at, kind }))
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Piece<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.src.len() {
            return None;
        }
        let bytes = self.src.as_bytes();
        let start = self.pos;
        // Literal text up to the next brace.
        let mut i = start;
        while i < bytes.len() && bytes[i] != b'{' && bytes[i] != b'}' {
            i += 1;
        }
        if i > start {
            self.pos = i;
            return Some(Ok(Piece::Lit(&self.src[start..i])));
        }
        match (bytes[i], bytes.get(i + 1)) {
            (b'{', Some(b'{')) | (b'}', Some(b'}')) => {
                self.pos = i + 2;
                Some(Ok(Piece::Lit(&self.src[i..i + 1])))
            }
            (b'}', _) => self.fail(i, ErrorKind::UnmatchedClose),
            _ => {
                // A hole: find its `}` (a `{` before it is an error, as in `format!`).
                let Some(rel) = bytes[i + 1..].iter().position(|&b| b == b'}' || b == b'{') else {
                    return self.fail(i, ErrorKind::Unclosed);
                };
                let close = i + 1 + rel;
                if bytes[close] == b'{' {
                    return self.fail(i, ErrorKind::Unclosed);
                }
                let inner = &self.src[i + 1..close];
                let (arg_src, spec_src) = match inner.find(':') {
                    Some(c) => (&inner[..c], &inner[c + 1..]),
                    None => (inner, ""),
                };
                let arg = match parse_arg(arg_src) {
                    Some(a) => a,
                    None => return self.fail(i + 1, ErrorKind::BadArgument),
                };
                let spec = match parse_spec(spec_src) {
                    Ok(s) => s,
                    Err(kind) => return self.fail(i + 1 + arg_src.len(), kind),
                };
                self.pos = close + 1;
                Some(Ok(Piece::Hole(Hole {
                    arg,
                    spec,
                    spec_src,
                    span: (i, close + 1),
                })))
            }
        }
    }
}

/// Whether `s` is an identifier as `format!` accepts for a named argument.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    s != "_" && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn parse_arg(s: &str) -> Option<ArgRef<'_>> {
    if s.is_empty() {
        return Some(ArgRef::Next);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than any argument list has: refuse rather than overflow.
        return s.parse().ok().map(ArgRef::Index);
    }
    is_identifier(s).then_some(ArgRef::Name(s))
}

fn parse_spec(s: &str) -> Result<Spec, ErrorKind> {
    let mut spec = Spec::default();
    if s.is_empty() {
        return Ok(spec);
    }
    let chars: Vec<char> = s.chars().collect();
    let align = |c: char| match c {
        '<' => Some(Align::Left),
        '^' => Some(Align::Center),
        '>' => Some(Align::Right),
        _ => None,
    };
    let mut i = 0;
    if let Some(a) = chars.get(1).copied().and_then(align) {
        spec.fill = chars[0];
        spec.align = Some(a);
        i = 2;
    } else if let Some(a) = align(chars[0]) {
        spec.align = Some(a);
        i = 1;
    }
    match chars.get(i) {
        Some('+') => {
            spec.plus = true;
            i += 1;
        }
        Some('-') => return Err(ErrorKind::MinusFlag),
        _ => {}
    }
    if chars.get(i) == Some(&'#') {
        spec.alternate = true;
        i += 1;
    }
    // `0` is the zero flag unless it is followed by `$` (an argument index as width).
    if chars.get(i) == Some(&'0') && chars.get(i + 1) != Some(&'$') {
        spec.zero = true;
        i += 1;
    }
    let number = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        // Saturate: anything this long is over the bounds checked below.
        Some(chars[start..*i].iter().fold(0usize, |n, c| {
            n.saturating_mul(10)
                .saturating_add(*c as usize - '0' as usize)
        }))
    };
    // Width: digits, unless they (or an identifier) end in `$`.
    let before = i;
    if let Some(w) = number(&mut i) {
        if chars.get(i) == Some(&'$') {
            return Err(ErrorKind::ArgumentWidth);
        }
        if w > MAX_WIDTH {
            return Err(ErrorKind::WidthTooLarge);
        }
        spec.width = w;
    } else {
        // `{:name$}`
        let mut j = before;
        while j < chars.len() && (chars[j] == '_' || chars[j].is_alphanumeric()) {
            j += 1;
        }
        if j > before && chars.get(j) == Some(&'$') {
            return Err(ErrorKind::ArgumentWidth);
        }
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        if chars.get(i) == Some(&'*') {
            return Err(ErrorKind::ArgumentWidth);
        }
        let before = i;
        match number(&mut i) {
            Some(_) if chars.get(i) == Some(&'$') => return Err(ErrorKind::ArgumentWidth),
            Some(p) if p > MAX_PRECISION => return Err(ErrorKind::PrecisionTooLarge),
            Some(p) => spec.precision = Some(p),
            None => {
                let mut j = before;
                while j < chars.len() && (chars[j] == '_' || chars[j].is_alphanumeric()) {
                    j += 1;
                }
                if j > before && chars.get(j) == Some(&'$') {
                    return Err(ErrorKind::ArgumentWidth);
                }
                return Err(ErrorKind::BadSpec);
            }
        }
    }
    spec.ty = match &chars[i..] {
        [] => Type::Display,
        ['?'] => Type::Debug,
        ['x', '?'] => Type::DebugLowerHex,
        ['X', '?'] => Type::DebugUpperHex,
        ['x'] => Type::LowerHex,
        ['X'] => Type::UpperHex,
        ['o'] => Type::Octal,
        ['b'] => Type::Binary,
        ['e'] => Type::LowerExp,
        ['E'] => Type::UpperExp,
        ['p'] => return Err(ErrorKind::Pointer),
        [c] if c.is_alphabetic() => return Err(ErrorKind::UnknownType),
        _ => return Err(ErrorKind::BadSpec),
    };
    Ok(spec)
}

/// Checks a whole format string; the first error, if any.
pub fn check(src: &str) -> Result<(), Error> {
    Parser::new(src).try_for_each(|p| p.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Result<Vec<Piece<'_>>, Error> {
        Parser::new(s).collect()
    }

    fn hole(s: &str) -> Hole<'_> {
        match pieces(s).unwrap().as_slice() {
            [Piece::Hole(h)] => *h,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn kind(s: &str) -> ErrorKind {
        pieces(s).unwrap_err().kind
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(pieces("").unwrap(), []);
        assert_eq!(pieces("plain").unwrap(), [Piece::Lit("plain")]);
        assert_eq!(
            pieces("a{{b}}c").unwrap(),
            [
                Piece::Lit("a"),
                Piece::Lit("{"),
                Piece::Lit("b"),
                Piece::Lit("}"),
                Piece::Lit("c")
            ]
        );
    }

    #[test]
    fn arguments_by_position_index_and_name() {
        assert_eq!(hole("{}").arg, ArgRef::Next);
        assert_eq!(hole("{0}").arg, ArgRef::Index(0));
        assert_eq!(hole("{12:?}").arg, ArgRef::Index(12));
        assert_eq!(hole("{user}").arg, ArgRef::Name("user"));
        assert_eq!(hole("{_x1}").arg, ArgRef::Name("_x1"));
        assert_eq!(hole("{été}").arg, ArgRef::Name("été"));
        assert_eq!(hole("{name:>8}").spec_src, ">8");
        assert_eq!(hole("{name:>8}").span, (0, 9));
    }

    #[test]
    fn specs_parse_like_format() {
        let s = hole("{:*^+#010.3e}").spec;
        assert_eq!(
            s,
            Spec {
                fill: '*',
                align: Some(Align::Center),
                plus: true,
                alternate: true,
                zero: true,
                width: 10,
                precision: Some(3),
                ty: Type::LowerExp
            }
        );
        assert_eq!(hole("{:>8.2}").spec.width, 8);
        assert_eq!(hole("{:x?}").spec.ty, Type::DebugLowerHex);
        assert!(hole("{:#?}").spec.alternate);
        assert_eq!(hole("{:<}").spec.align, Some(Align::Left));
        assert!(hole("{:0}").spec.zero);
        assert_eq!(hole("{:.0}").spec.precision, Some(0));
        assert_eq!(hole("{:4096}").spec.width, 4096);
    }

    #[test]
    fn what_the_drain_cannot_render_is_refused() {
        assert_eq!(kind("{"), ErrorKind::Unclosed);
        assert_eq!(kind("a { b"), ErrorKind::Unclosed);
        assert_eq!(kind("{ {}"), ErrorKind::Unclosed);
        assert_eq!(kind("}"), ErrorKind::UnmatchedClose);
        assert_eq!(kind("{ 0}"), ErrorKind::BadArgument);
        assert_eq!(kind("{a-b}"), ErrorKind::BadArgument);
        assert_eq!(kind("{_}"), ErrorKind::BadArgument);
        assert_eq!(kind("{:1$}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:0$}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:w$}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:.*}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:.1$}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:.p$}"), ErrorKind::ArgumentWidth);
        assert_eq!(kind("{:-}"), ErrorKind::MinusFlag);
        assert_eq!(kind("{:p}"), ErrorKind::Pointer);
        assert_eq!(kind("{:q}"), ErrorKind::UnknownType);
        assert_eq!(kind("{:4097}"), ErrorKind::WidthTooLarge);
        assert_eq!(kind("{:99999999999999999999999}"), ErrorKind::WidthTooLarge);
        assert_eq!(kind("{:.1025}"), ErrorKind::PrecisionTooLarge);
        assert_eq!(kind("{:.}"), ErrorKind::BadSpec);
        assert_eq!(kind("{:??}"), ErrorKind::BadSpec);
        assert_eq!(pieces("ok {} then }").unwrap_err().at, 11);
    }

    #[test]
    fn parsing_stops_after_an_error_and_keeps_the_rest() {
        let mut p = Parser::new("a {:p} b");
        assert_eq!(p.next(), Some(Ok(Piece::Lit("a "))));
        assert!(matches!(p.next(), Some(Err(_))));
        assert_eq!(p.next(), None);
        assert_eq!(p.rest(), "{:p} b");
    }
}
