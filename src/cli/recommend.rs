use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::{Split, Task, load_split};
use distiller::meta::DatasetMeta;
use distiller::search::Space;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The new dataset's meta-features (`distiller meta --task T > T.meta`).
    pub meta: PathBuf,
    /// Search space whose pipelines are ranked (default: the built-in default space); the
    /// recommender learns from the store's studies over this same space.
    #[arg(long)]
    pub space: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Where to write the top pick as a pipeline file for `distiller train --pipeline`.
    #[arg(long, default_value = "recommended.toml")]
    pub out: PathBuf,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: RecommendArgs, common: &Common) -> distiller::Result<()> {
    let meta = DatasetMeta::from_file(&args.meta)?;
    let space = match &args.space {
        Some(path) => Space::from_file(path)?,
        None => Space::parse(distiller::search::DEFAULT_SPACE).map_err(|(line, m)| distiller::Error::Config(format!("built-in default space:{line}: {m}")))?,
    };
    let storage = super::open_store_to_read(&common.workspace)?;
    let past = distiller::recommend::past_tasks_in_store(storage.as_ref(), &space, None)?;
    let learnt_from: Vec<String> = past.iter().map(|t| format!("{} ({} pipelines)", t.name, t.results.len())).collect();
    let nearest = nearest_tasks(&meta, storage.as_ref(), &space, common.data_dir.as_deref())?;
    let picks = distiller::recommend::top_picks(past, &space, args.top.max(1))?;
    let pipelines = picks.iter().map(|p| space.compose(&p.point).map_err(distiller::Error::Config)).collect::<distiller::Result<Vec<_>>>()?;
    std::fs::write(&args.out, pipelines[0].to_toml()).map_err(|e| distiller::Error::Config(format!("{}: {e}", args.out.display())))?;
    match args.format {
        Format::Json => {
            let rows: Vec<_> = picks.iter().zip(&pipelines).map(|(p, pipeline)| serde_json::json!({"pipeline": pipeline, "predicted_rank": p.mean, "sd": p.sd})).collect();
            println!("{}", serde_json::json!({"recommendations": rows, "learnt_from": learnt_from, "nearest_tasks": nearest.iter().map(|(t, d)| serde_json::json!({"task": t, "distance": d})).collect::<Vec<_>>(), "n_train": meta.n_train, "top_pick_file": args.out}));
        }
        Format::Table => {
            println!("{:>4} {:>15}  pipeline", "rank", "predicted ± sd");
            for (i, (p, pipeline)) in picks.iter().zip(&pipelines).enumerate() {
                println!("{:>4} {:>8.2} ± {:.2}  {}", i + 1, p.mean, p.sd, pipeline.summary());
            }
            println!("predicted = normalised rank among a task's pipelines (1 = best); learnt from: {}", learnt_from.join(", "));
            if !nearest.is_empty() {
                println!("nearest known tasks (meta-feature distance): {}", nearest.iter().map(|(t, d)| format!("{t} ({d:.2})")).collect::<Vec<_>>().join(", "));
            }
            println!("top pick written to {}", args.out.display());
        }
    }
    Ok(())
}

/// The tasks of the store's studies over `space`, nearest first by meta-feature distance to `meta`
/// (computed from each task's training data; tasks whose data is not found here are left out).
fn nearest_tasks(meta: &DatasetMeta, storage: &dyn distiller::store::Storage, space: &Space, data_dir: Option<&std::path::Path>) -> distiller::Result<Vec<(String, f64)>> {
    let mut names: Vec<String> = storage.studies()?.into_iter().filter(|s| s.space.trim() == space.source.trim()).map(|s| s.task).collect();
    names.sort();
    names.dedup();
    let mut nearest: Vec<(String, f64)> = names
        .into_iter()
        .filter_map(|name| {
            let task = Task::resolve(&name).ok()?;
            let train = load_split(&task, Split::Train, data_dir).ok()?;
            Some((name, meta.distance(&DatasetMeta::from_examples(&train, &task.label_kind()))))
        })
        .collect();
    nearest.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(nearest)
}
