//! The `dpuc` command-line driver.

fn main() {}
