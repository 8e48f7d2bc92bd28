//! What the macros must refuse at compile time, each with its message (the `.stderr` files):
//! every format the drain could not render exactly, and argument lists `format!` would refuse.

#[test]
fn rejected_formats_and_arguments_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
