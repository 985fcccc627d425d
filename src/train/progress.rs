//! Progress for long loops: an indicatif bar on a terminal, a log line every 30 s otherwise
//! (background jobs, CI logs).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A sample counter with running loss, rate and ETA.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    last_log: Instant,
}

const LOG_EVERY: Duration = Duration::from_secs(30);

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} ETA {eta}").expect("valid template").progress_chars("=> "));
            bar.set_prefix(label.to_string());
            bar
        });
        Self { bar, label: label.into(), total, done: 0, started: Instant::now(), last_log: Instant::now() }
    }

    pub fn advance(&mut self, n: u64, loss: f64) {
        self.done += n;
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("loss {loss:.4}"));
                bar.inc(n);
            }
            None if self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                let secs = self.started.elapsed().as_secs_f64();
                let rate = self.done as f64 / secs.max(1e-9);
                let eta = (self.total.saturating_sub(self.done)) as f64 / rate.max(1e-9);
                eprintln!("{}: {}/{} loss {loss:.4} {rate:.1} samples/s ETA {eta:.0}s", self.label, self.done, self.total);
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
