//! What a study's storage costs per trial as the study grows: `Study::run` (the loop `search`
//! runs) with the random sampler and a trial that does no work, so each trial's time is the
//! store's ask + tell overhead (stale-trial check, the locked add, heartbeats, the conditional
//! finish, the read for the best so far). Prints the mean milliseconds per trial over windows of
//! the study's growth.
//!
//! ```text
//! cargo run --release --example store_overhead -- --storage postgresql://user@host:port/db [--trials 10000] [--window 500]
//! ```

use std::time::{Duration, Instant};

use distiller::data::Metrics;
use distiller::search::samplers::RandomSampler;
use distiller::search::{SearchLimits, Space, Study, StudyEvent, TrialOutcome};
use distiller::store::StoreLocation;
use distiller::workspace::Workspace;

/// A space with float ranges, so asking costs the sampler nothing that grows with the study.
const SPACE: &str = r#"
name = "overhead"
[fixed]
"student.layers" = 2
[[dim]]
field = "kd.loss"
choices = ["ce", "mse"]
[[dim]]
field = "train.lr"
range = [1e-5, 1e-3]
log = true
[[dim]]
field = "kd.temperature"
range = [1.0, 8.0]
"#;

fn main() -> distiller::Result<()> {
    let (mut storage, mut trials, mut window) = (None, 10_000usize, 500usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--storage" => storage = Some(StoreLocation::parse(&value)?),
            "--trials" => trials = value.parse().expect("--trials N"),
            "--window" => window = value.parse().expect("--window N"),
            other => panic!("unknown flag {other}"),
        }
    }
    let location = storage.expect("--storage sled:PATH or postgresql://...");
    let tmp = std::env::temp_dir().join(format!("store-overhead-{}", std::process::id()));
    let workspace = Workspace::new(&tmp).with_store(location.clone());
    let store = distiller::ops::open_store(&workspace, &mut |l| eprintln!("{l}"))?;
    let name = format!("overhead-{}", distiller::store::now());
    let space = Space::parse(SPACE, "overhead space")?;
    let study = Study::open(store.as_ref(), &name, "sst2", space, "random")?;
    let outcome = TrialOutcome { score: 0.5, metrics: Metrics(vec![("accuracy".into(), 0.5)]), student_dir: None, intermediate: vec![(1, 0.5)], fidelity: None, compression: None };
    println!("storage {location}, study `{name}`: mean time per trial (ms) as the study grows");
    println!();
    println!("| trials in the study | ms per trial (ask + tell) |");
    println!("|---|---|");
    let (started, mut last, mut done) = (Instant::now(), Instant::now(), 0usize);
    let mut on_event = |event: StudyEvent| {
        if let StudyEvent::Finished { .. } = event {
            done += 1;
            if done % window == 0 {
                println!("| {}–{done} | {:.2} |", done - window, last.elapsed().as_secs_f64() * 1e3 / window as f64);
                last = Instant::now();
            }
        }
    };
    let mut sampler = RandomSampler { seed: 1 };
    study.run(&mut sampler, &SearchLimits { trials, budget: None }, &mut |_, _| Ok(outcome.clone()), &mut on_event)?;
    let total: Duration = started.elapsed();
    println!();
    println!("{trials} trials in {:.1} s: {:.2} ms per trial on average", total.as_secs_f64(), total.as_secs_f64() * 1e3 / trials as f64);
    Ok(())
}
