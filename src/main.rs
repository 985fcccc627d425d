//! The `distiller` binary: parse, install the logger, call the library, print one line on error.

mod cli;

use clap::Parser;

/// Logs at warn level and above to stderr. Installed first, so egobox's own `env_logger` (which
/// writes to stdout) never gets installed and `-f json` output stays clean.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// clap's multi-line usage error as one line (without the usage and `--help` hints).
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")).collect::<Vec<_>>().join(" ")
}

fn main() {
    // A closed pipe (`distiller trials | head`) ends the process quietly, as for other Unix tools,
    // instead of a "Broken pipe" panic from println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    distiller::backend::tune_host_allocator();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            std::process::exit(2);
        }
    };
    if let Err(cli::Failure(message)) = cli::run(cli) {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
