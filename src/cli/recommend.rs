use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::Error;
use distiller::data::DatasetMeta;
use distiller::ops::{RecommendRequest, recommend};
use distiller::recommend::meta_model::SELECTION_CRITERION;
use distiller::recommend::{ModelChoice, Query, Students, TaskWeighting};
use distiller::search::Space;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The new dataset's meta-features (`distiller meta --task T > T.meta`).
    pub meta: PathBuf,
    /// Search space whose pipelines are ranked (default: the built-in default space). Every study
    /// in the store that varied some of its fields counts (imported paper studies too), through
    /// the fields it shares with this space.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Rank exactly the pipelines in FILE instead of the whole space: a CSV in the column layout
    /// of the paper's auto_distiller_tabular_data.csv (score columns ignored) or JSONL, one
    /// pipeline record per line.
    #[arg(long, value_name = "FILE")]
    pub candidates: Option<PathBuf>,
    /// How many pipelines to list (all candidates when larger; the first is written to --out).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub top: usize,
    /// Which past studies count: `same-depth` (students with as many layers as the space's) or
    /// `any`.
    #[arg(long, value_enum, default_value_t = Students::SameDepth)]
    pub students: Students,
    /// `auto`: weight past tasks by .meta similarity when leave-one-task-out among them says it
    /// helps; `equal`: never.
    #[arg(long, value_enum, default_value_t = TaskWeighting::Auto)]
    pub task_weights: TaskWeighting,
    /// Fix the blend β instead of letting leave-one-task-out choose it among 0, 0.5 and 1:
    /// 0 = kernel regression alone, 1 = most popular alone (the kernel only for pipelines no past
    /// task ran).
    #[arg(long, value_name = "BETA", value_parser = blend_value)]
    pub blend: Option<f64>,
    /// Fix the kernel's configuration scale ℓ (> 0; small = only near-identical pipelines count)
    /// instead of letting leave-one-task-out choose it among 0.05, 0.1, 0.25 and 1.
    #[arg(long, value_name = "L", value_parser = scale_value)]
    pub config_scale: Option<f64>,
    /// The teacher whose past studies stand for yours, by the name the store records (`BERT_BASE`
    /// for the paper's main group; the base model's folder for our own studies). Default: the
    /// teacher whose studies cover the most tasks. Whether other teachers' studies count too is
    /// chosen by leave-one-task-out.
    #[arg(long, value_name = "NAME")]
    pub teacher_name: Option<String>,
    /// Where to write the top pick as a pipeline file for `distiller train --pipeline`.
    #[arg(long, default_value = "recommended.toml")]
    pub out: PathBuf,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: RecommendArgs, common: &Common) -> super::Outcome {
    let meta = DatasetMeta::from_file(&args.meta)?;
    let space = match &args.space {
        Some(path) => Space::from_file(path)?,
        None => Space::builtin_default(),
    };
    let model = ModelChoice { weighting: args.task_weights, blend: args.blend, config_scale: args.config_scale };
    let fixed: Vec<&str> = [(args.blend.is_some(), "blend"), (args.config_scale.is_some(), "configuration scale")].iter().filter(|(on, _)| *on).map(|(_, what)| *what).collect();
    let fixed = if fixed.is_empty() { String::new() } else { format!(" ({} fixed by the command line)", fixed.join(" and ")) };
    let query = Query { top: args.top, students: args.students, model, teacher: args.teacher_name, ..Query::new(meta, space) };
    let request = RecommendRequest { query, candidates: args.candidates, workspace: common.workspace()? };
    let space_fields = request.query.space.dims.len();
    let answer = recommend(request, &mut super::note)?;
    std::fs::write(&args.out, answer.picks[0].pipeline.to_toml()).map_err(|e| Error::io(&args.out, e))?;
    let bandwidth = match answer.setting.task {
        Some(h) => format!("{h}× the median .meta distance"),
        None => "none (equal weights)".into(),
    };
    match args.format {
        Format::Json => {
            let rows: Vec<_> = answer
                .picks
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    serde_json::json!({"rank": i + 1, "baseline_rank": p.baseline_rank, "line": p.line, "predicted_rank": p.prediction.mean, "sd": p.prediction.sd, "pipeline": p.pipeline})
                })
                .collect();
            let learnt: Vec<_> =
                answer.learnt_from.iter().map(|l| serde_json::json!({"study": l.study, "task": l.task, "pipelines": l.pipelines, "fields": l.fields, "weight": l.share})).collect();
            let left_out: Vec<_> = answer.left_out.iter().map(|(s, why)| serde_json::json!({"study": s, "why": why})).collect();
            println!(
                "{}",
                serde_json::json!({
                    "recommendations": rows,
                    "ranked": answer.ranked,
                    "uninformed_fields": answer.uninformed,
                    "learnt_from": learnt,
                    "left_out": left_out,
                    "model": answer.setting.model_name(),
                    "blend": answer.setting.blend,
                    "selection": {
                        "held_out_studies": answer.held_out,
                        "criterion": SELECTION_CRITERION,
                        "best_score_by_blend": answer.blend_scores.iter().map(|(b, v)| serde_json::json!({"blend": b, "score": v})).collect::<Vec<_>>(),
                    },
                    "task_bandwidth": answer.setting.task,
                    "teacher": answer.teacher,
                    "teachers_pooled": answer.setting.pooled,
                    "config_scale": answer.setting.config,
                    "top_pick_file": args.out,
                })
            );
        }
        Format::Table => {
            let with_lines = answer.picks.iter().any(|p| p.line.is_some());
            println!("{:>4} {}{:>15} {:>8}  pipeline", "rank", if with_lines { " line " } else { "" }, "predicted ± sd", "popular");
            for (i, p) in answer.picks.iter().enumerate() {
                let line = p.line.map(|l| format!(" {l:>5}")).unwrap_or_default();
                println!("{:>4}{line} {:>8.2} ± {:.2} {:>8}  {}", i + 1, p.prediction.mean, p.prediction.sd, p.baseline_rank, p.pipeline.summary());
            }
            println!("predicted = normalised rank among a task's pipelines (1 = best), over {} candidates; popular = its rank by the most-popular baseline", answer.ranked);
            if answer.blend_scores.is_empty() {
                println!("model: {} (too few past studies to choose by leave-one-task-out)", answer.setting.model_name());
            } else {
                let scores = answer.blend_scores.iter().map(|(b, v)| format!("{} {v:.3}", blend_label(*b))).collect::<Vec<_>>().join(", ");
                println!("model: {}{fixed}, chosen by leave-one-task-out over {} past studies ({SELECTION_CRITERION}): {scores}", answer.setting.model_name(), answer.held_out);
            }
            let teachers = match (&answer.teacher, answer.setting.pooled) {
                (Some(t), false) => format!("only {t}'s studies"),
                (Some(t), true) => format!("every teacher's studies (closest: {t})"),
                (None, _) => "every teacher's studies".into(),
            };
            println!("task weighting by .meta similarity: {bandwidth}; {teachers}; configuration scale {}", answer.setting.config);
            println!("learnt from {} studies, heaviest first:", answer.learnt_from.len());
            for l in answer.learnt_from.iter().take(5) {
                let fields = if l.fields.len() == space_fields { "every field of the space".to_string() } else { l.fields.join(", ") };
                println!("  {} ({}, {} pipelines, weight {:.0} %) over {fields}", l.study, l.task, l.pipelines, 100.0 * l.share);
            }
            if answer.learnt_from.len() > 5 {
                println!("  ... and {} more (-f json lists them)", answer.learnt_from.len() - 5);
            }
            if !answer.uninformed.is_empty() {
                println!("no study learnt from varied {}: the ranking cannot tell their values apart", answer.uninformed.join(", "));
            }
            if !answer.left_out.is_empty() {
                println!("left out {} studies (-f json says why)", answer.left_out.len());
            }
            println!("top pick written to {}", args.out.display());
        }
    }
    Ok(())
}

/// A blend β in a few words.
fn blend_label(blend: f64) -> String {
    if blend == 0.0 {
        "kernel".into()
    } else if blend == 1.0 {
        "most popular".into()
    } else {
        format!("{:.0} % popular", 100.0 * blend)
    }
}

fn blend_value(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(b) if (0.0..=1.0).contains(&b) => Ok(b),
        _ => Err(format!("`{s}` is not a blend between 0 and 1")),
    }
}

fn scale_value(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(l) if l > 0.0 && l.is_finite() => Ok(l),
        _ => Err(format!("`{s}` is not a positive configuration scale")),
    }
}
