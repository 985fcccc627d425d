use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::Common;
use distiller::data::Task;
use distiller::distill::{DistillJob, distill};
use distiller::search::bo::{Acquisition, BoConfig, BoSampler};
use distiller::search::{SearchLimits, Space, Study, StudyEvent, TrialOutcome, by_name};
use distiller::store::TrialState;

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
    /// bo (Bayesian optimisation, egobox), random or grid.
    #[arg(long, default_value = "bo")]
    pub sampler: String,
    /// Stop when the study holds this many finished trials (earlier runs count).
    #[arg(long, default_value_t = 40)]
    pub trials: usize,
    /// Start no new trial after this many minutes.
    #[arg(long, default_value_t = 60.0)]
    pub budget_minutes: f64,
    /// Fine-tuned teacher checkpoint (default: <workspace>/teachers/<task>).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// bo only: start from the recommender's top K pipelines, learnt from the store's studies of
    /// other tasks over the same space, and use its predictions as the surrogate's trend.
    #[arg(long, value_name = "K")]
    pub warm_start: Option<usize>,
    /// With --warm-start: each warm-start pipeline differs from the ones before it in at least N
    /// fields (1 = plain top K). On the tabular benchmark 2 reached the best sooner on average but
    /// was slower than random on the noisiest group (README "Warm start").
    #[arg(long, value_name = "N", default_value_t = 1, requires = "warm_start")]
    pub warm_diverse: usize,
    /// bo on a finite space: how the surrogate picks the next trial, `ei` (expected improvement)
    /// or `thompson` (a random draw from each candidate's prediction). Default: thompson with
    /// --warm-start (it reached the best pipeline sooner there on the tabular benchmark), else ei.
    #[arg(long, value_name = "ei|thompson")]
    pub acquisition: Option<String>,
}

pub fn exec(args: SearchArgs, common: &Common) -> distiller::Result<()> {
    let device = distiller::backend::device(common.backend.as_deref())?;
    let task = Task::resolve(&args.task)?;
    let space = match &args.space {
        Some(path) => Space::from_file(path)?,
        None => Space::parse(distiller::search::DEFAULT_SPACE).map_err(|(line, m)| distiller::Error::Config(format!("built-in default space:{line}: {m}")))?,
    };
    let acquisition = match args.acquisition.as_deref() {
        None if args.warm_start.is_some() => Acquisition::Thompson,
        None | Some("ei") => Acquisition::ExpectedImprovement,
        Some("thompson") => Acquisition::Thompson,
        Some(other) => return Err(distiller::Error::Config(format!("--acquisition: unknown `{other}` (use ei or thompson)"))),
    };
    if args.acquisition.is_some() && args.sampler != "bo" {
        return Err(distiller::Error::Config("--acquisition needs --sampler bo".into()));
    }
    let bo_config = BoConfig { acquisition, ..BoConfig::default() };
    let mut sampler = match args.sampler.as_str() {
        "bo" => Box::new(BoSampler::with_config(args.seed, bo_config)),
        other => by_name(other, args.seed)?,
    };
    let teacher_dir = super::train::teacher_or_hint(args.teacher, &common.workspace, &task)?;
    let storage = super::open_store(&common.workspace)?;
    if let Some(k) = args.warm_start {
        if args.sampler != "bo" {
            return Err(distiller::Error::Config("--warm-start needs --sampler bo".into()));
        }
        let past = distiller::recommend::past_tasks_in_store(&storage, &space, Some(&task.name()))?;
        // Every candidate's prediction becomes the surrogate's trend; the top K run first.
        let ranked: Vec<_> = distiller::recommend::top_picks(past, &space, usize::MAX)?.into_iter().map(|p| (p.point, p.mean)).collect();
        let points = distiller::recommend::warm_start_points(ranked.iter().map(|(p, _)| p), k, args.warm_diverse);
        eprintln!("warm start: the recommender's top {} pipelines go first, its predictions guide the rest", points.len());
        sampler = Box::new(BoSampler::with_config(args.seed, bo_config).warm_started(points).with_prior(ranked));
    }
    let name = args.study.unwrap_or_else(|| task.name());
    let study = Study::open(&storage, &name, &task.name(), space, sampler.name())?;
    let recovered = study.recover()?;
    if recovered > 0 {
        eprintln!("study {name}: {recovered} trial(s) left RUNNING by an earlier process marked FAIL");
    }
    let limits = SearchLimits { trials: args.trials, budget: Some(Duration::from_secs_f64(args.budget_minutes * 60.0)) };
    let mut objective = |pipeline: &distiller::Pipeline, id: u64| -> distiller::Result<TrialOutcome> {
        let job = DistillJob {
            task: task.clone(),
            pipeline: pipeline.clone(),
            teacher_dir: teacher_dir.clone(),
            data_dir: common.data_dir.clone(),
            workspace: common.workspace.clone(),
            out_dir: Some(common.workspace.join("studies").join(&name).join(format!("trial-{id}"))),
            use_cache: true,
        };
        let outcome = distill(&job, &device, &mut |line| eprintln!("    {line}"))?;
        Ok(TrialOutcome {
            score: outcome.dev.headline(),
            intermediate: outcome.epochs.iter().map(|e| (e.epoch, e.dev.headline())).collect(),
            fidelity: Some((outcome.train_rows, outcome.pipeline.train.epochs)),
            metrics: outcome.dev,
            student_dir: Some(outcome.student_dir),
        })
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
    };
    let trials = study.run(sampler.as_mut(), &limits, &mut objective, &mut on_event)?;
    let complete = trials.iter().filter(|t| t.state == TrialState::Complete).count();
    match study.best()? {
        Some(best) => println!("study {name}: {} trials ({complete} complete); best #{}: {} | {}", trials.len(), best.id, best.metrics.map(|m| m.to_string()).unwrap_or_default(), best.pipeline.summary()),
        None => println!("study {name}: {} trials, none complete", trials.len()),
    }
    Ok(())
}
