//! Running (or resuming) a search: what `distiller search` does.

use burn::tensor::Device;
use std::path::PathBuf;
use std::time::Duration;

use crate::data::{DatasetMeta, Task};
use crate::distill::{DistillJob, distill};
use crate::error::{Error, Result};
use crate::recommend::Query;
use crate::search::samplers::{Acquisition, BoConfig, BoSampler, SamplerKind, warm_start_points};
use crate::search::{SearchLimits, Space, Study, StudyEvent, TrialOutcome};
use crate::store::{StudentShape, StudyObjective, TrialRecord, TrialState};
use crate::workspace::Workspace;

/// A `distiller search` request; [`SearchRequest::new`] gives the CLI's defaults.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub task: Task,
    pub space: Space,
    /// Study name (default: the task's name). An existing study is resumed.
    pub study: Option<String>,
    pub sampler: SamplerKind,
    /// What the study optimises: the score, then optionally the student's latency and/or
    /// parameters (a multi-objective study, searched by ParEGO's random scalarisation).
    pub objectives: Vec<StudyObjective>,
    /// Stop when the study holds this many finished trials (earlier runs count).
    pub trials: usize,
    /// Start no new trial after this long.
    pub budget: Option<Duration>,
    /// Teacher checkpoint (default: the workspace's; fine-tuned first when there is none).
    pub teacher: Option<PathBuf>,
    pub seed: u64,
    /// `bo` only: run the recommender's top K pipelines first and use its predictions as the
    /// surrogate's trend.
    pub warm_start: Option<usize>,
    /// With `warm_start`: each warm-start pipeline differs from the earlier ones in at least this
    /// many fields (1 = plain top K).
    pub warm_diverse: usize,
    /// `bo` only; default: Thompson with a warm start, else expected improvement.
    pub acquisition: Option<Acquisition>,
    pub data_dir: Option<PathBuf>,
    /// How often a running trial beats (a shared study fails a trial after two missed beats).
    pub heartbeat: Duration,
    pub workspace: Workspace,
}

impl SearchRequest {
    /// The CLI's defaults: the built-in space, BO, 40 trials, one hour.
    pub fn new(task: Task, workspace: Workspace) -> Self {
        Self {
            task,
            space: Space::builtin_default(),
            study: None,
            sampler: SamplerKind::Bo,
            objectives: vec![StudyObjective::Score],
            trials: 40,
            budget: Some(Duration::from_secs(3600)),
            teacher: None,
            seed: 0,
            warm_start: None,
            warm_diverse: 1,
            acquisition: None,
            data_dir: None,
            heartbeat: crate::search::study::HEARTBEAT,
            workspace,
        }
    }
}

/// What a search left in the store.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub study: String,
    /// Every trial of the study (earlier runs included).
    pub trials: Vec<TrialRecord>,
    pub best: Option<TrialRecord>,
    /// The best trial; in a multi-objective study the Pareto set, in id order.
    pub pareto: Vec<TrialRecord>,
}

impl SearchOutcome {
    pub fn complete(&self) -> usize {
        self.trials.iter().filter(|t| t.state == TrialState::Complete).count()
    }
}

/// Refuses options that only `bo` takes with another sampler.
fn check_sampler_options(request: &SearchRequest) -> Result<()> {
    if request.sampler != SamplerKind::Bo {
        if request.acquisition.is_some() {
            return Err(Error::NeedsBo { option: "acquisition" });
        }
        if request.warm_start.is_some() {
            return Err(Error::NeedsBo { option: "warm_start" });
        }
    }
    Ok(())
}

/// Refuses a space whose pretrained students cannot be found.
fn check_students(space: &Space) -> Result<()> {
    for name in space.values_of("student.checkpoint") {
        if let Some(name) = name.as_str() {
            crate::distill::trainer::find_student(name)?;
        }
    }
    Ok(())
}

/// The sampler a request asks for (its options checked by [`check_sampler_options`]).
fn sampler_of(request: &SearchRequest, meta: &DatasetMeta, storage: &dyn crate::store::Storage, log: &mut dyn FnMut(&str)) -> Result<Box<dyn crate::search::Sampler>> {
    let acquisition = request.acquisition.unwrap_or(if request.warm_start.is_some() { Acquisition::Thompson } else { Acquisition::ExpectedImprovement });
    let config = BoConfig { acquisition, ..BoConfig::default() };
    let Some(k) = request.warm_start else { return Ok(request.sampler.build(request.seed, config)) };
    // Every candidate's prediction becomes the surrogate's trend; the top K run first. The
    // recommender learns from the other tasks' studies, as `distiller recommend` does.
    let query = Query { top: usize::MAX, exclude_task: Some(request.task.name()), ..Query::new(meta.clone(), request.space.clone()) };
    let answer = crate::recommend::rank(storage, &query)?;
    let ranked: Vec<_> = answer.picks.into_iter().map(|p| (p.prediction.point, p.prediction.mean)).collect();
    let points = warm_start_points(ranked.iter().map(|(p, _)| p), k, request.warm_diverse);
    let studies = answer.learnt_from.iter().map(|l| l.study.as_str()).collect::<Vec<_>>().join(", ");
    log(&format!("warm start: the recommender's top {} pipelines go first, its predictions guide the rest (learnt from {studies})", points.len()));
    Ok(Box::new(BoSampler::with_config(request.seed, config).warm_started(points).with_prior(ranked)))
}

/// The student every pipeline of `space` trains (its depth and width), for the recommender; none
/// when the space varies it.
fn student_of(space: &Space) -> Result<Option<StudentShape>> {
    if space.dims.iter().any(|d| d.field.starts_with("student.")) {
        return Ok(None);
    }
    let shape = space.base_pipeline()?.student;
    let init = match shape.init {
        crate::pipeline::StudentInit::TeacherLayers => "initialised from the teacher's layers".to_string(),
        crate::pipeline::StudentInit::Random => "randomly initialised".to_string(),
        crate::pipeline::StudentInit::Pretrained => format!("from {}", shape.checkpoint.as_deref().unwrap_or_default()),
    };
    Ok(Some(StudentShape { name: format!("{}-layer student, {init}", shape.layers), layers: shape.layers, hidden: shape.hidden }))
}

/// Runs the study until it holds `request.trials` finished trials or the budget is spent.
/// `on_event` hears each trial start and end; `log` hears everything else (teacher fine-tuning,
/// recovered trials, each run's progress).
pub fn search(request: SearchRequest, device: &Device, on_event: &mut dyn FnMut(StudyEvent), log: &mut dyn FnMut(&str)) -> Result<SearchOutcome> {
    // Everything that can be checked is checked before the store is touched.
    check_sampler_options(&request)?;
    crate::search::study::check_objectives(&request.objectives)?;
    check_students(&request.space)?;
    crate::data::check_data(&request.task, request.data_dir.as_deref())?;
    let meta = DatasetMeta::of_task(&request.task, request.data_dir.as_deref())?;
    let storage = super::open_store(&request.workspace, log)?;
    let task_name = request.task.name();
    let mut sampler = sampler_of(&request, &meta, storage.as_ref(), log)?;
    let teacher_dir = super::ensure_teacher(request.teacher.clone(), &request.workspace, &request.task, request.data_dir.clone(), device, log)?;
    // How good the teacher is, said with the first trial (not before: a search refused at its
    // first ask prints its one error line only).
    let mut teacher_said = Some(match crate::teacher::TeacherReport::read(&teacher_dir)? {
        Some(report) => format!("teacher {}: {}", teacher_dir.display(), report.summary()),
        None => format!("teacher {} (no teacher.json beside it: made before teachers reported their dev metric)", teacher_dir.display()),
    });
    let name = request.study.clone().unwrap_or_else(|| task_name.clone());
    let mut study = Study::open_with(storage.as_ref(), &name, &task_name, request.space.clone(), sampler.name(), &request.objectives)?;
    study.describe(meta, crate::model::base_model_name(&teacher_dir)?, student_of(&request.space)?)?;
    study.heartbeat = request.heartbeat;
    let limits = SearchLimits { trials: request.trials, budget: request.budget };
    let mut run_trial = |pipeline: &crate::Pipeline, id: u64| -> Result<TrialOutcome> {
        if let Some(line) = teacher_said.take() {
            log(&format!("    {line}"));
        }
        let job = DistillJob {
            task: request.task.clone(),
            pipeline: pipeline.clone(),
            teacher_dir: teacher_dir.clone(),
            data_dir: request.data_dir.clone(),
            workspace: request.workspace.clone(),
            out_dir: Some(request.workspace.trial_dir(&name, id)),
            use_cache: true,
        };
        let outcome = distill(&job, device, &mut |line| log(&format!("    {line}")))?;
        Ok(TrialOutcome {
            score: outcome.dev.headline(),
            intermediate: outcome.epochs.iter().map(|e| (e.epoch, e.dev.headline())).collect(),
            fidelity: Some((outcome.train_rows, outcome.pipeline.train.epochs)),
            metrics: outcome.dev,
            student_dir: Some(outcome.student_dir),
            compression: Some(outcome.compression),
        })
    };
    let trials = study.run(sampler.as_mut(), &limits, &mut run_trial, on_event)?;
    let pareto = crate::search::study::pareto_set(&trials, &request.objectives).into_iter().cloned().collect();
    Ok(SearchOutcome { best: study.best()?, study: name, trials, pareto })
}
