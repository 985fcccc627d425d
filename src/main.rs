//! The `distiller` binary: parse, call the library, print one line on error.

mod cli;

use clap::Parser;

fn main() {
    distiller::backend::tune_host_allocator();
    let cli = cli::Cli::parse();
    if let Err(e) = cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
