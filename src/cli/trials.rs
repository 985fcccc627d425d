use clap::Args;

use super::{Common, Format};
use distiller::ops::StudyTrials;
use distiller::store::{StudyKind, TrialState};

#[derive(Debug, Args)]
pub struct TrialsArgs {
    #[arg(long)]
    pub study: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TrialsArgs, common: &Common) -> super::Outcome {
    let StudyTrials { study, trials, foreign } = distiller::ops::trials(&common.workspace()?, &args.study, &mut super::note)?;
    // A teacher study varies only the fine-tuning recipe; a distillation study the whole pipeline.
    let describe = |p: &distiller::Pipeline| match study.kind {
        StudyKind::Teacher => {
            let t = &p.train;
            format!("lr={:.1e} ep={} batch={} warmup={} seed={}", t.lr, t.epochs, t.batch_size, t.warmup_ratio, t.seed)
        }
        StudyKind::Distillation => p.summary(),
    };
    match args.format {
        // Trials other clients wrote outside the space follow, each with a `foreign` reason.
        Format::Json => {
            let mut rows: Vec<serde_json::Value> = trials.iter().map(|t| serde_json::to_value(t).expect("trials serialise")).collect();
            rows.extend(foreign.iter().map(|t| serde_json::json!({"id": t.id, "state": t.state, "score": t.score, "params": t.params, "foreign": t.reason})));
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Table => {
            let state = TrialState::name;
            let score = |s: Option<f64>| s.map_or("-".into(), |s| format!("{s:.4}"));
            // The student's size and batch-1 latency, where trials measured them.
            let measured = trials.iter().any(|t| t.compression.is_some());
            let size = |t: &distiller::store::TrialRecord| match (&t.compression, measured) {
                (_, false) => String::new(),
                (None, true) => format!("{:>8} {:>9} ", "-", "-"),
                (Some(c), true) => format!("{:>7.1}M {:>6.1} ms ", c.student.params as f64 / 1e6, c.student.latency_ms_batch1),
            };
            let heading = if measured { format!("{:>8} {:>9} ", "params", "latency") } else { String::new() };
            println!("{:>4} {:<9} {:>8} {heading}{:>7}  {}", "id", "state", "score", "secs", if study.kind == StudyKind::Teacher { "recipe" } else { "pipeline" });
            for t in &trials {
                let secs = t.ended.map_or("-".into(), |e| (e.saturating_sub(t.started)).to_string());
                println!("{:>4} {:<9} {:>8} {}{:>7}  {}", t.id, state(t.state), score(t.score), size(t), secs, describe(&t.pipeline));
                if let Some(e) = &t.error {
                    println!("{:>4} {}", "", e);
                }
            }
            for t in &foreign {
                let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{:>4} {:<9} {:>8} {:>7}  foreign: {}", t.id, state(t.state), score(t.score), "-", params.join(" "));
                println!("{:>4} written by another client; not a pipeline of the space: {}", "", t.reason);
            }
        }
    }
    Ok(())
}
