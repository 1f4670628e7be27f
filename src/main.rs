//! The `planguard` binary: the command line lives in the library.

#[allow(clippy::disallowed_methods)] // the one place that may exit
fn main() {
    std::process::exit(planguard::command_line());
}
