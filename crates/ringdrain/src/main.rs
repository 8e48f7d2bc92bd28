//! ringdrain binary.
fn main() {}
