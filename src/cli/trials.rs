use clap::Args;

use super::{Common, Format};

#[derive(Debug, Args)]
pub struct TrialsArgs {
    #[arg(long)]
    pub study: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TrialsArgs, common: &Common) -> distiller::Result<()> {
    let storage = distiller::ops::open_store_to_read(&common.workspace()?, &mut super::note)?;
    let (_, trials) = distiller::ops::study_trials(storage.as_ref(), &args.study)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&trials).expect("trials serialise")),
        Format::Table => {
            println!("{:>4} {:<9} {:>8} {:>7}  pipeline", "id", "state", "score", "secs");
            for t in trials {
                let secs = t.ended.map_or("-".into(), |e| (e.saturating_sub(t.started)).to_string());
                let score = t.score.map_or("-".into(), |s| format!("{s:.4}"));
                println!("{:>4} {:<9} {:>8} {:>7}  {}", t.id, format!("{:?}", t.state).to_uppercase(), score, secs, t.pipeline.summary());
                if let Some(e) = &t.error {
                    println!("{:>4} {}", "", e);
                }
            }
        }
    }
    Ok(())
}
