use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::{Common, Format};
use distiller::data::Task;
use distiller::ops::{SearchRequest, search};
use distiller::search::samplers::{Acquisition, SamplerKind};
use distiller::search::{Space, StudyEvent};
use distiller::store::{StudyObjective, TrialState};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Search-space file (default: the built-in search-spaces/default.toml).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Study name (default: the task name). An existing study is resumed.
    #[arg(long)]
    pub study: Option<String>,
    /// How the next pipeline is picked.
    #[arg(long, value_enum, default_value_t = SamplerKind::Bo)]
    pub sampler: SamplerKind,
    /// What the study optimises, comma-separated: `score` (the task's dev metric, always first),
    /// then `latency` (the student's milliseconds at batch 1 on the training device: the CPU by
    /// default) and/or `params` (its parameter count). With more than one, the study is
    /// multi-objective: each trial's sampler ask weighs the objectives at random (ParEGO),
    /// successive halving promotes by Pareto rank, `best` prints the Pareto set and Optuna reads
    /// one direction per objective. Vary the student in the space (search-spaces/compress.toml)
    /// so there is something to trade.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "score")]
    pub objectives: Vec<StudyObjective>,
    /// Stop when the study holds this many finished trials (earlier runs count). With a shared
    /// --storage this caps the study: all workers together run this many.
    #[arg(long, default_value_t = 40, allow_negative_numbers = true)]
    pub trials: usize,
    /// Start no new trial after this many minutes.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub budget_minutes: f64,
    /// Fine-tuned teacher checkpoint (default: <workspace>/teachers/<task>; when there is none,
    /// one is fine-tuned there first: 3 epochs, lr 1e-4, batch 32, ≈ 35 min for SST-2 on 2 cores).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Seed of the sampler's random draws (a resumed study continues the same sequence).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// bo only: start from the recommender's top K pipelines, learnt from the store's studies of
    /// other tasks over the same space, and use its predictions as the surrogate's trend.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub warm_start: Option<usize>,
    /// With --warm-start: each warm-start pipeline differs from the ones before it in at least N
    /// fields (1 = plain top K). On the tabular benchmark 2 reached the best sooner on average but
    /// was slower than random on the noisiest group (docs/search.md).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "warm_start", allow_negative_numbers = true)]
    pub warm_diverse: usize,
    /// bo on a finite space: how the surrogate picks the next trial. Default: thompson with
    /// --warm-start (it reached the best pipeline sooner there on the tabular benchmark), else ei.
    #[arg(long, value_enum)]
    pub acquisition: Option<Acquisition>,
    /// Seconds between a running trial's heartbeats. On a shared --storage, a trial whose worker
    /// missed two beats is failed by another worker and its pipeline runs again.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, allow_negative_numbers = true)]
    pub heartbeat_secs: f64,
    /// table: one summary line; json: the study name, trial counts and the best trial's record.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: SearchArgs, common: &Common) -> super::Outcome {
    let device = common.device()?;
    let budget = Duration::try_from_secs_f64(args.budget_minutes * 60.0)
        .map_err(|_| super::Failure(format!("--budget-minutes: {:e} is not a duration (give minutes >= 0)", args.budget_minutes)))?;
    let heartbeat = Duration::try_from_secs_f64(args.heartbeat_secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| super::Failure(format!("--heartbeat-secs: {:e} is not a duration (give seconds > 0)", args.heartbeat_secs)))?;
    let request = SearchRequest {
        space: match &args.space {
            Some(path) => Space::from_file(path)?,
            None => Space::builtin_default(),
        },
        study: args.study,
        sampler: args.sampler,
        objectives: args.objectives,
        trials: args.trials,
        budget: Some(budget),
        teacher: args.teacher,
        seed: args.seed,
        warm_start: args.warm_start,
        warm_diverse: args.warm_diverse,
        acquisition: args.acquisition,
        data_dir: common.data_dir.clone(),
        heartbeat,
        ..SearchRequest::new(Task::resolve(&args.task)?, common.workspace()?)
    };
    let mut on_event = |event: StudyEvent| match event {
        StudyEvent::Started { trial, index, of, rungs } => {
            let rung = if rungs > 1 { format!(" rung {}/{rungs}", trial.rung + 1) } else { String::new() };
            eprintln!("trial {index}/{of} (#{}){rung} | {}", trial.id, trial.pipeline.summary())
        }
        StudyEvent::Finished { trial, best } => {
            let result = match (&trial.state, &trial.metrics) {
                (TrialState::Complete, Some(m)) => format!("{m}"),
                _ => format!("{:?}: {}", trial.state, trial.error.as_deref().unwrap_or("")),
            };
            let best = best.map(|b| format!("best {:.4} (#{})", b.score.unwrap_or(f64::NAN), b.id)).unwrap_or_else(|| "no best yet".into());
            eprintln!("trial #{} -> {result} | {best}", trial.id);
        }
        StudyEvent::Recovered { trials } => eprintln!("{trials} trial(s) whose worker stopped were marked FAIL; their pipelines run again"),
        StudyEvent::Lost { trial } => {
            eprintln!("trial #{} was failed by another worker while it ran here (heartbeats stopped reaching the store); its pipeline runs again elsewhere", trial.id)
        }
    };
    let multi = request.objectives.len() > 1;
    let outcome = search(request, &device, &mut on_event, &mut super::note)?;
    let (name, n, complete) = (&outcome.study, outcome.trials.len(), outcome.complete());
    if args.format == Format::Json {
        println!("{}", serde_json::json!({"study": name, "trials": n, "complete": complete, "best": outcome.best, "pareto": outcome.pareto}));
        return Ok(());
    }
    if multi {
        println!("study {name}: {n} trials ({complete} complete); Pareto set of {} (best score first):", outcome.pareto.len());
        let mut pareto = outcome.pareto.clone();
        pareto.sort_by(|a, b| b.score.unwrap_or(f64::MIN).total_cmp(&a.score.unwrap_or(f64::MIN)));
        for t in &pareto {
            let size = t.compression.as_ref().map(|c| c.summary()).unwrap_or_default();
            println!("  #{}: {} | {size} | {}", t.id, t.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default(), t.pipeline.summary());
        }
        return Ok(());
    }
    match &outcome.best {
        Some(best) => println!(
            "study {name}: {n} trials ({complete} complete); best #{}: {} | {}",
            best.id,
            best.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            best.pipeline.summary()
        ),
        None => println!("study {name}: {n} trials, none complete"),
    }
    Ok(())
}
