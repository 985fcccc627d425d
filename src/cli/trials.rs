use clap::Args;

use super::{Common, Format};
use distiller::store::StudyKind;

#[derive(Debug, Args)]
pub struct TrialsArgs {
    #[arg(long)]
    pub study: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TrialsArgs, common: &Common) -> distiller::Result<()> {
    let storage = distiller::ops::open_store_to_read(&common.workspace()?, &mut super::note)?;
    let (study, trials) = distiller::ops::study_trials(storage.as_ref(), &args.study)?;
    // A teacher study varies only the fine-tuning recipe; a distillation study the whole pipeline.
    let describe = |p: &distiller::Pipeline| match study.kind {
        StudyKind::Teacher => {
            let t = &p.train;
            format!("lr={:.1e} ep={} batch={} warmup={} seed={}", t.lr, t.epochs, t.batch_size, t.warmup_ratio, t.seed)
        }
        StudyKind::Distillation => p.summary(),
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&trials).expect("trials serialise")),
        Format::Table => {
            println!("{:>4} {:<9} {:>8} {:>7}  {}", "id", "state", "score", "secs", if study.kind == StudyKind::Teacher { "recipe" } else { "pipeline" });
            for t in trials {
                let secs = t.ended.map_or("-".into(), |e| (e.saturating_sub(t.started)).to_string());
                let score = t.score.map_or("-".into(), |s| format!("{s:.4}"));
                println!("{:>4} {:<9} {:>8} {:>7}  {}", t.id, format!("{:?}", t.state).to_uppercase(), score, secs, describe(&t.pipeline));
                if let Some(e) = &t.error {
                    println!("{:>4} {}", "", e);
                }
            }
        }
    }
    Ok(())
}
