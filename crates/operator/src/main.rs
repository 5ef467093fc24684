//! The azop operator binary.
fn main() {}
