//! The procedural macro behind `ringlog`'s `info!`, `warn!`, ... and `log!`. Not used directly:
//! `ringlog`'s `macro_rules!` wrappers forward to [`__log`] with the crate path and the level.
//!
//! What it does at compile time, so that a log call costs only the binary copy at run time:
//!
//! * checks the format string with [`ringlog_grammar`], the grammar the drain renders with:
//!   whatever compiles renders exactly, whatever the drain could not render is a compile error
//!   pointing at the format string;
//! * checks the positional arguments against the holes as `format!` does (too few, one never
//!   used);
//! * turns inline captures (`"user {user}"` with no `user = ..` field) into positional
//!   arguments and rewrites their holes to indices, so the drain needs no variable names;
//! * separates `key = value` fields (keys may be dotted, `http.status`, or string literals, and
//!   values may carry tracing's `?` / `%` sigils) from positional arguments;
//! * emits the level check, the callsite `static`, and the encoding closure beside the
//!   arguments' encoded size (the sum of each argument's `Encode::encoded_len`, or `UNSIZED`
//!   when one is formatted on the caller), so a record known to fit one slot is encoded
//!   straight into the slot it claims.
//!
//! Invocation syntax (after the wrappers add `$crate` and the level):
//!
//! ```text
//! __log!(KRATE, (LEVEL) [logger: EXPR,] [target: EXPR,] [HANDLE,] "format", args..., fields...)
//! __log!(KRATE, ()      [logger: EXPR,] [target: EXPR,] [HANDLE,] LEVEL, "format", ...)   // log!
//! ```
//!
//! With neither `logger:` nor a handle, the call goes to the process's global logger
//! (`ringlog::init`).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use ringlog_grammar::{ArgRef, Parser, Piece};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};

/// See the crate documentation.
#[proc_macro]
pub fn __log(input: TokenStream) -> TokenStream {
    match syn::parse::<Call>(input).and_then(|call| call.expand()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sigil {
    /// No sigil: binary when the type is `Encode`, else `Display` on the caller.
    Plain,
    /// `?`: `Debug`, formatted on the caller.
    Debug,
    /// `%`: `Display` (binary when the type is `Encode`, which renders the same).
    Display,
}

struct Field {
    name: String,
    name_span: Span,
    sigil: Sigil,
    value: Expr,
}

struct Call {
    krate: TokenStream2,
    level: Expr,
    logger: Option<Expr>,
    target: Option<Expr>,
    format: LitStr,
    positional: Vec<Expr>,
    fields: Vec<Field>,
}

/// `logger:` or `target:` (an identifier followed by a single colon).
fn peek_named(input: ParseStream<'_>, name: &str) -> bool {
    let fork = input.fork();
    match fork.parse::<Ident>() {
        Ok(id) if id == name => fork.peek(Token![:]) && !fork.peek(Token![::]),
        _ => false,
    }
}

impl Parse for Call {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `$crate` arrives as a single identifier-like token.
        let krate: TokenTree = input.parse()?;
        input.parse::<Token![,]>()?;
        let level_group;
        syn::parenthesized!(level_group in input);
        let mut level: Option<Expr> = if level_group.is_empty() {
            None
        } else {
            Some(level_group.parse()?)
        };
        let dynamic_level = level.is_none();

        let mut logger = None;
        let mut target = None;
        loop {
            if peek_named(input, "logger") {
                input.parse::<Ident>()?;
                input.parse::<Token![:]>()?;
                logger = Some(input.parse::<Expr>()?);
                input.parse::<Token![,]>()?;
            } else if peek_named(input, "target") {
                input.parse::<Ident>()?;
                input.parse::<Token![:]>()?;
                target = Some(input.parse::<Expr>()?);
                input.parse::<Token![,]>()?;
            } else {
                break;
            }
        }

        // Then `[HANDLE,] [LEVEL,] "format"`.
        let mut before_format = Vec::new();
        while !input.peek(LitStr) {
            if input.is_empty() {
                return Err(input.error("ringlog: expected a format string literal"));
            }
            before_format.push(input.parse::<Expr>()?);
            input.parse::<Token![,]>()?;
        }
        // What may stand before the format: a handle unless `logger:` was given, and (for
        // `log!`) the level.
        let mut leading = before_format.into_iter();
        match (leading.len(), dynamic_level, logger.is_some()) {
            (0, false, _) => {}
            (1, false, false) => logger = leading.next(),
            (1, true, _) => level = leading.next(),
            (2, true, false) => {
                logger = leading.next();
                level = leading.next();
            }
            _ => {
                let what = if dynamic_level {
                    "log!([logger: L,] [HANDLE,] LEVEL, \"format\", args..., key = value...)"
                } else {
                    "info!([logger: L,] [HANDLE,] \"format\", args..., key = value...)"
                };
                return Err(syn::Error::new(
                    Span::call_site(),
                    format!("ringlog: expected {what}"),
                ));
            }
        }
        let Some(level) = level else {
            return Err(syn::Error::new(
                Span::call_site(),
                "ringlog: log! needs a level before the format string",
            ));
        };
        let format: LitStr = input.parse()?;

        let mut positional = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break; // a trailing comma
            }
            match parse_field(input)? {
                Some(f) => {
                    if let Some(prev) = fields.iter().find(|p| p.name == f.name) {
                        let mut e = syn::Error::new(
                            f.name_span,
                            format!("ringlog: field `{}` is given twice", f.name),
                        );
                        e.combine(syn::Error::new(prev.name_span, "first given here"));
                        return Err(e);
                    }
                    fields.push(f)
                }
                None => {
                    let e: Expr = input.parse()?;
                    if let Some(f) = fields.first() {
                        let mut err = syn::Error::new(
                            e.span(),
                            "ringlog: positional arguments go before the `key = value` fields",
                        );
                        err.combine(syn::Error::new(f.name_span, "first field here"));
                        return Err(err);
                    }
                    positional.push(e);
                }
            }
        }
        Ok(Call {
            krate: krate.into_token_stream(),
            level,
            logger,
            target,
            format,
            positional,
            fields,
        })
    }
}

fn parse_sigil(input: ParseStream<'_>) -> syn::Result<Sigil> {
    if input.peek(Token![?]) {
        input.parse::<Token![?]>()?;
        Ok(Sigil::Debug)
    } else if input.peek(Token![%]) {
        input.parse::<Token![%]>()?;
        Ok(Sigil::Display)
    } else {
        Ok(Sigil::Plain)
    }
}

/// A field's key: `name`, `dotted.name` or `"any string"`.
fn parse_key(input: ParseStream<'_>) -> syn::Result<(String, Span)> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        if lit.value().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "ringlog: a field name is not empty",
            ));
        }
        return Ok((lit.value(), lit.span()));
    }
    let first = input.call(Ident::parse_any_ident)?;
    let span = first.span();
    let mut name = first.to_string();
    while input.peek(Token![.]) && !input.peek(Token![..]) {
        input.parse::<Token![.]>()?;
        name.push('.');
        name.push_str(&input.call(Ident::parse_any_ident)?.to_string());
    }
    Ok((name.trim_start_matches("r#").to_string(), span))
}

trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAnyIdent for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

/// The name a `?expr` / `%expr` shorthand field takes: `x` for `x`, `a.b` for `a.b`.
fn shorthand_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        Expr::Field(f) => {
            let base = shorthand_name(&f.base)?;
            match &f.member {
                syn::Member::Named(id) => Some(format!("{base}.{id}")),
                syn::Member::Unnamed(i) => Some(format!("{base}.{}", i.index)),
            }
        }
        _ => None,
    }
}

/// A field (`key = value`, `key = ?value`, `?name`, `%name`), or `None` for a positional
/// argument (nothing consumed).
fn parse_field(input: ParseStream<'_>) -> syn::Result<Option<Field>> {
    if input.peek(Token![?]) || input.peek(Token![%]) {
        let sigil = parse_sigil(input)?;
        let value: Expr = input.parse()?;
        let Some(name) = shorthand_name(&value) else {
            return Err(syn::Error::new(
                value.span(),
                "ringlog: a `?`/`%` shorthand field needs a variable or field access; write `key = ?expr`",
            ));
        };
        return Ok(Some(Field {
            name,
            name_span: value.span(),
            sigil,
            value,
        }));
    }
    let fork = input.fork();
    let key = parse_key(&fork);
    let is_field =
        key.is_ok() && fork.peek(Token![=]) && !fork.peek(Token![==]) && !fork.peek(Token![=>]);
    if !is_field {
        return Ok(None);
    }
    let (name, name_span) = parse_key(input)?;
    input.parse::<Token![=]>()?;
    let sigil = parse_sigil(input)?;
    let value: Expr = input.parse()?;
    Ok(Some(Field {
        name,
        name_span,
        sigil,
        value,
    }))
}

/// Where a slot's value comes from.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// Positional argument `i`.
    Positional(usize),
    /// A variable captured from the scope.
    Capture(String),
    /// Field `i` (named by a hole with a spec, so the spec can be applied like `format!`).
    Field(usize),
}

/// One value the record carries for the message: a source written with one spec. Each
/// distinct (source, spec) pair is a slot, so a value that is not `Encode` (formatted on the
/// caller) is formatted once per spec it is shown with, exactly as `format!` would.
#[derive(Clone, PartialEq, Eq)]
struct Slot {
    source: Source,
    spec: String,
}

impl Call {
    fn expand(self) -> syn::Result<TokenStream2> {
        let Call {
            krate,
            level,
            logger,
            target,
            format,
            positional,
            fields,
        } = self;
        let src = format.value();
        let fspan = format.span();
        let err = |msg: String| syn::Error::new(fspan, msg);

        // One pass with the shared grammar: check, bind, rewrite every hole to `{slot:spec}`
        // (or `{field}` for a field shown as is).
        let explicit = positional.len();
        let mut used = vec![false; explicit];
        let mut slots: Vec<Slot> = Vec::new();
        let mut next = 0usize;
        let mut implicit = 0usize;
        let mut canonical = String::with_capacity(src.len());
        for piece in Parser::new(&src) {
            let piece = piece.map_err(|e| err(format!("ringlog: {}", e.kind)))?;
            let hole = match piece {
                Piece::Lit(s) => {
                    canonical.push_str(&s.replace('{', "{{").replace('}', "}}"));
                    continue;
                }
                Piece::Hole(h) => h,
            };
            let source = match hole.arg {
                ArgRef::Next | ArgRef::Index(_) => {
                    let index = match hole.arg {
                        ArgRef::Index(i) => i,
                        _ => {
                            next += 1;
                            next - 1
                        }
                    };
                    if index >= explicit {
                        let plural = |n: usize, what: &str| match n {
                            1 => format!("1 {what}"),
                            n => format!("{n} {what}s"),
                        };
                        let holes = if matches!(hole.arg, ArgRef::Next) {
                            format!("{} in format string", plural(next, "positional argument"))
                        } else {
                            format!("invalid reference to positional argument {index}")
                        };
                        return Err(err(format!(
                            "ringlog: {holes}, but there {} {}",
                            if explicit == 1 { "is" } else { "are" },
                            plural(explicit, "argument")
                        )));
                    }
                    used[index] = true;
                    Source::Positional(index)
                }
                ArgRef::Name(name) => match fields.iter().position(|f| f.name == name) {
                    // A field shown as is: the drain finds it by name.
                    Some(_) if hole.spec_src.is_empty() => {
                        canonical.push_str(&src[hole.span.0..hole.span.1]);
                        continue;
                    }
                    Some(i) => Source::Field(i),
                    None => Source::Capture(name.to_string()),
                },
            };
            let slot = Slot {
                source,
                spec: hole.spec_src.to_string(),
            };
            let k = match slots.iter().position(|s| *s == slot) {
                Some(k) => k,
                None => {
                    slots.push(slot);
                    slots.len() - 1
                }
            };
            canonical.push('{');
            // `{}` where the drain's own counter gives the same slot, so the stored format
            // reads as written in the common case; an index otherwise.
            if k == implicit {
                implicit += 1;
            } else {
                canonical.push_str(&k.to_string());
            }
            if !hole.spec_src.is_empty() {
                canonical.push(':');
                canonical.push_str(hole.spec_src);
            }
            canonical.push('}');
        }
        if let Some(i) = used.iter().position(|u| !u) {
            let mut e = syn::Error::new(positional[i].span(), "ringlog: argument never used");
            e.combine(syn::Error::new(
                fspan,
                "formatting specifier missing (fields go after the arguments as `key = value`)",
            ));
            return Err(e);
        }

        // Code. Every argument is evaluated once, inside the encoding closure (so not at all
        // when a per-target directive filters the callsite out), bound by reference as
        // `format_args!` does.
        let mixed = Span::mixed_site();
        let enc = Ident::new("__ringlog_enc", mixed);
        let lg = Ident::new("__ringlog_logger", mixed);
        let lv = Ident::new("__ringlog_level", mixed);
        let cs = Ident::new("__RINGLOG_CALLSITE", mixed);
        let wr = Ident::new("__ringlog_writer", mixed);
        let len = Ident::new("__ringlog_len", mixed);
        let captures: Vec<&str> = {
            let mut c: Vec<&str> = Vec::new();
            for s in &slots {
                if let Source::Capture(n) = &s.source {
                    if !c.contains(&n.as_str()) {
                        c.push(n);
                    }
                }
            }
            c
        };
        let mut values: Vec<TokenStream2> = Vec::new();
        for e in &positional {
            values.push(quote_spanned!(e.span()=> &(#e)));
        }
        for c in &captures {
            let id = Ident::new(c, fspan);
            values.push(quote_spanned!(fspan=> &#id));
        }
        for f in &fields {
            let v = &f.value;
            values.push(quote_spanned!(v.span()=> &(#v)));
        }
        let binds: Vec<Ident> = (0..values.len())
            .map(|i| Ident::new(&format!("__ringlog_arg{i}"), mixed))
            .collect();
        let bind_of = |source: &Source| -> &Ident {
            match source {
                Source::Positional(i) => &binds[*i],
                Source::Capture(n) => {
                    &binds[explicit + captures.iter().position(|c| c == n).unwrap_or(0)]
                }
                Source::Field(i) => &binds[explicit + captures.len() + i],
            }
        };
        // Beside each encode, its size (`UNSIZED` for what is formatted on the caller), so a
        // record known to fit one slot is encoded straight into it.
        let mut encodes = Vec::new();
        let mut lens = Vec::new();
        for slot in &slots {
            let b = bind_of(&slot.source);
            let (encode, len) = match slot.spec.as_str() {
                "" => (
                    quote_spanned! {fspan=>
                        (&#krate::__private::Wrap(#b)).__ringlog_encode(#enc);
                    },
                    quote_spanned! {fspan=> (&#krate::__private::Wrap(#b)).__ringlog_len() },
                ),
                "?" => (
                    quote_spanned! {fspan=>
                        (&#krate::__private::Wrap(#b)).__ringlog_encode_debug(#enc);
                    },
                    quote_spanned! {fspan=>
                        (&#krate::__private::Wrap(#b)).__ringlog_len_debug()
                    },
                ),
                spec => {
                    let f = LitStr::new(&format!("{{:{spec}}}"), fspan);
                    (
                        quote_spanned! {fspan=>
                            (&#krate::__private::Wrap(#b)).__ringlog_encode_fmt(#enc, |__v, __w| {
                                ::core::fmt::Write::write_fmt(__w, ::core::format_args!(#f, __v))
                            });
                        },
                        quote_spanned! {fspan=>
                            (&#krate::__private::Wrap(#b)).__ringlog_len_fmt()
                        },
                    )
                }
            };
            encodes.push(encode);
            lens.push(len);
        }
        for (i, f) in fields.iter().enumerate() {
            let b = &binds[explicit + captures.len() + i];
            let sp = f.value.span();
            let (encode, len) = match f.sigil {
                Sigil::Debug => (
                    quote_spanned! {sp=>
                        #krate::__private::encode_debug_str(#enc, #b);
                    },
                    quote_spanned! {sp=> #krate::__private::UNSIZED },
                ),
                Sigil::Plain | Sigil::Display => (
                    quote_spanned! {sp=>
                        (&#krate::__private::Wrap(#b)).__ringlog_encode(#enc);
                    },
                    quote_spanned! {sp=> (&#krate::__private::Wrap(#b)).__ringlog_len() },
                ),
            };
            encodes.push(encode);
            lens.push(len);
        }
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let target = match target {
            Some(t) => t.into_token_stream(),
            None => quote!(::core::module_path!()),
        };
        let canonical = LitStr::new(&canonical, fspan);
        let get_logger = match logger {
            Some(l) => quote_spanned! {l.span()=>
                ::core::option::Option::Some::<&#krate::Logger>(&(#l))
            },
            None => quote!(#krate::__private::global()),
        };
        Ok(quote! {{
            let #lv: #krate::Level = #level;
            if let ::core::option::Option::Some(#lg) = #get_logger {
                if #lg.enabled(#lv) {
                    static #cs: #krate::__private::Callsite = #krate::__private::Callsite::new(
                        #canonical,
                        #target,
                        ::core::module_path!(),
                        ::core::file!(),
                        ::core::line!(),
                        &[#(#names),*],
                    );
                    #[allow(unused_imports)]
                    use #krate::__private::{
                        ViaDebug as _, ViaDisplay as _, ViaEncode as _, ViaEncodeDebug as _,
                        ViaEncodeFmt as _, ViaFmt as _,
                    };
                    #lg.__log(&#cs, #lv, |#wr: #krate::__private::Writer<'_>| {
                        match (#(#values,)*) {
                            (#(#binds,)*) => {
                                let #len: usize = 0usize #(.saturating_add(#lens))*;
                                #wr.write(#len, |#enc: &mut #krate::__private::Encoder<'_>| {
                                    #(#encodes)*
                                })
                            }
                        }
                    });
                }
            }
        }})
    }
}
