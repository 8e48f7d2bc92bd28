//! What the segment's handles must refuse at compile time, each with its message (the
//! `.stderr` files): no ring or slot handle outlives the mapping it views, a drain lease makes
//! exactly one reader, and a raw consumer is only built in `unsafe` code.

#[test]
fn handles_that_would_outlive_or_duplicate_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
