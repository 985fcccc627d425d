//! A small search from a script, through the same `ops::search` the CLI's `distiller search`
//! calls: 4 trials of BO over a space given as text, then the best pipeline.
//!
//! `cargo run --example search_in_script -- [WORKSPACE]` — WORKSPACE defaults to
//! `.distiller`; its SST-2 teacher is used, or fine-tuned first when it has none. Data: SST-2 from
//! the usual GLUE locations.

use distiller::data::{GlueTask, Task};
use distiller::ops::{SearchRequest, search};
use distiller::search::{Space, StudyEvent};
use distiller::workspace::Workspace;

const SPACE: &str = r#"
name = "script"
[fixed]
"student.layers" = 2
"train.train_subset" = 500
"train.epochs" = 1
[[dim]]
field = "kd.loss"
choices = ["ce", "mse"]
[[dim]]
field = "intermediate.objective"
choices = ["none", "hidden_mse", "mi"]
[[dim]]
field = "train.lr"
values = [5e-5, 1e-4, 3e-4]
"#;

fn main() -> distiller::Result<()> {
    distiller::backend::tune_host_allocator();
    let workspace = Workspace::new(std::env::args().nth(1).unwrap_or_else(|| ".distiller".into()));
    let device = distiller::backend::device(None)?;
    let request =
        SearchRequest { space: Space::parse(SPACE, "script space")?, study: Some("sst2-script".into()), trials: 4, ..SearchRequest::new(Task::Glue(GlueTask::Sst2), workspace) };
    let mut on_event = |event: StudyEvent| {
        if let StudyEvent::Finished { trial, .. } = event {
            println!("trial #{}: {:?} {:?} | {}", trial.id, trial.state, trial.score, trial.pipeline.summary());
        }
    };
    let outcome = search(request, &device, &mut on_event, &mut |line| eprintln!("{line}"))?;
    match outcome.best {
        Some(best) => println!("best of {} trials: #{} {:?}\n{}", outcome.trials.len(), best.id, best.score, best.pipeline.to_toml()),
        None => println!("no trial completed"),
    }
    Ok(())
}
