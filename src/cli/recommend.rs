use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::Error;
use distiller::ops::{RecommendRequest, recommend};
use distiller::recommend::DatasetMeta;
use distiller::search::Space;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The new dataset's meta-features (`distiller meta --task T > T.meta`).
    pub meta: PathBuf,
    /// Search space whose pipelines are ranked (default: the built-in default space); the
    /// recommender learns from the store's studies over this same space.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// How many pipelines to list (the first is written to --out).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub top: usize,
    /// Where to write the top pick as a pipeline file for `distiller train --pipeline`.
    #[arg(long, default_value = "recommended.toml")]
    pub out: PathBuf,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: RecommendArgs, common: &Common) -> distiller::Result<()> {
    let request = RecommendRequest {
        meta: DatasetMeta::from_file(&args.meta)?,
        space: match &args.space {
            Some(path) => Space::from_file(path)?,
            None => Space::builtin_default(),
        },
        top: args.top,
        data_dir: common.data_dir.clone(),
    };
    let storage = distiller::ops::open_store_to_read(&common.workspace(), &mut super::note)?;
    let answer = recommend(storage.as_ref(), &request)?;
    std::fs::write(&args.out, answer.picks[0].pipeline.to_toml()).map_err(|e| Error::io(&args.out, e))?;
    match args.format {
        Format::Json => {
            let rows: Vec<_> = answer.picks.iter().map(|p| serde_json::json!({"pipeline": p.pipeline, "predicted_rank": p.prediction.mean, "sd": p.prediction.sd})).collect();
            let nearest: Vec<_> = answer.nearest.iter().map(|(t, d)| serde_json::json!({"task": t, "distance": d})).collect();
            println!(
                "{}",
                serde_json::json!({"recommendations": rows, "learnt_from": answer.learnt_from, "nearest_tasks": nearest, "n_train": request.meta.n_train, "top_pick_file": args.out})
            );
        }
        Format::Table => {
            println!("{:>4} {:>15}  pipeline", "rank", "predicted ± sd");
            for (i, p) in answer.picks.iter().enumerate() {
                println!("{:>4} {:>8.2} ± {:.2}  {}", i + 1, p.prediction.mean, p.prediction.sd, p.pipeline.summary());
            }
            println!("predicted = normalised rank among a task's pipelines (1 = best); learnt from: {}", answer.learnt_from.join(", "));
            if !answer.nearest.is_empty() {
                println!("nearest known tasks (meta-feature distance): {}", answer.nearest.iter().map(|(t, d)| format!("{t} ({d:.2})")).collect::<Vec<_>>().join(", "));
            }
            println!("top pick written to {}", args.out.display());
        }
    }
    Ok(())
}
