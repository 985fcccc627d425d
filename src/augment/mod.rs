//! Data augmentation, as in the Distiller paper: `repeated_aug` copies of every training row, each
//! passed through an ordered chain of operators ([`random`], [`contextual`],
//! [`back_translation`]); copies identical to their source are dropped, the rest are appended to
//! the training data and relabelled by the teacher (soft targets from the teacher cache, hard
//! label = the teacher's prediction). [`mixup`] works per batch, inside training.
//!
//! Every operator works on one sentence at a time (both sides of a pair, separately), so a copy
//! always stays aligned with its source row and keeps its label. Randomness comes from one seed
//! per (operator, copy, row, side), so a set is the same for a seed however it is parallelised.
//! Augmented sets are cached in `<workspace>/augment/<key>.json`, keyed by a content hash of
//! (rows, chain, aug_p, repeated_aug, seed, paraphrase file, masked-LM weights).

pub mod back_translation;
pub mod contextual;
pub mod mixup;
pub mod random;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::data::Example;
use crate::error::{Error, Result};
use crate::pipeline::{AugmentOp, AugmentSection};

pub use back_translation::Paraphrases;
pub use contextual::{MaskedLm, MlmHeadKind};

/// A sentence-level operator: one output per input sentence, randomness only from `seeds`.
pub trait SentenceOp {
    fn apply(&self, sentences: &[&str], seeds: &[u64]) -> Result<Vec<String>>;
}

/// Where the operators that need more than the data come from.
pub struct AugmentContext<'a> {
    pub workspace: &'a crate::workspace::Workspace,
    /// A BERT checkpoint directory whose encoder (and MLM head, if any) drives `contextual`.
    pub masked_lm_dir: &'a Path,
    pub max_len: usize,
    pub device: &'a burn::tensor::Device,
}

/// The training rows after augmentation: the originals first, then the kept copies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Augmented {
    pub rows: Vec<Example>,
    pub originals: usize,
    #[serde(skip)]
    pub cache_hit: bool,
    /// Which output layer `contextual` used, when it ran.
    pub masked_lm: Option<MlmHeadKind>,
}

/// Mixes two 64-bit values into a well-spread seed (splitmix64 finaliser).
pub fn mix_seed(a: u64, b: u64) -> u64 {
    crate::model::dropout::mix64(a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B2_7B4D))
}

/// Content key of an augmented set.
fn cache_key(rows: &[Example], section: &AugmentSection, seed: u64, ctx: &AugmentContext) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(rows).expect("rows serialise"));
    let chain: Vec<&str> = section.chain.iter().map(|op| op.name()).collect();
    hash.update(serde_json::to_vec(&(chain, section.aug_p, section.repeated_aug, seed)).expect("settings serialise"));
    if section.chain.contains(&AugmentOp::BackTranslation) {
        let path = back_translation::existing(paraphrase_path(section)?)?;
        hash.update(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    }
    if section.chain.contains(&AugmentOp::Contextual) {
        let path = crate::model::weights_file(ctx.masked_lm_dir)?;
        hash.update(std::fs::read(&path).map_err(|e| Error::io(&path, e))?);
        hash.update(ctx.max_len.to_le_bytes());
    }
    Ok(hash.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect())
}

fn paraphrase_path(section: &AugmentSection) -> Result<&Path> {
    section.paraphrases.as_deref().ok_or_else(|| Error::pipeline("augment.paraphrases", "back_translation needs a paraphrase file"))
}

/// Augments `rows` as `section` says (nothing to do for an empty chain), reading and writing the
/// workspace cache; `log` hears about cache hits/misses and which masked-LM head ran.
pub fn augment(rows: Vec<Example>, section: &AugmentSection, seed: u64, ctx: &AugmentContext, log: &mut dyn FnMut(&str)) -> Result<Augmented> {
    let originals = rows.len();
    if section.chain.is_empty() {
        return Ok(Augmented { rows, originals, cache_hit: false, masked_lm: None });
    }
    let key = cache_key(&rows, section, seed, ctx)?;
    let path = ctx.workspace.augment_cache(&key);
    if let Some(cached) = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice::<Augmented>(&bytes).ok())
        && cached.originals == originals
        && cached.rows.get(..originals) == Some(&rows[..])
    {
        log(&format!("augmentation cache hit: {} rows (+{} augmented): {}", cached.rows.len(), cached.rows.len() - originals, path.display()));
        return Ok(Augmented { cache_hit: true, ..cached });
    }
    let started = std::time::Instant::now();
    let (copies, masked_lm) = make_copies(&rows, section, seed, ctx)?;
    let mut all = rows;
    all.extend(copies);
    let augmented = Augmented { rows: all, originals, cache_hit: false, masked_lm };
    if let Some(kind) = masked_lm {
        log(&format!("contextual augmentation: {}", kind.describe()));
    }
    log(&format!(
        "augmentation cache miss: {} rows (+{} augmented) in {:.1}s: {}",
        augmented.rows.len(),
        augmented.rows.len() - originals,
        started.elapsed().as_secs_f64(),
        path.display()
    ));
    let dir = path.parent().expect("cache path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Write then rename: an interrupted run never leaves half a cache entry behind.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&augmented).expect("augmented rows serialise")).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(augmented)
}

/// The augmented copies (without the originals), each derived from one source row, identical
/// copies dropped.
pub fn make_copies(rows: &[Example], section: &AugmentSection, seed: u64, ctx: &AugmentContext) -> Result<(Vec<Example>, Option<MlmHeadKind>)> {
    let mut copies: Vec<(usize, Example)> = (0..section.repeated_aug).flat_map(|_| rows.iter().cloned().enumerate()).collect();
    let mut masked_lm = None;
    for (stage, op) in section.chain.iter().enumerate() {
        let operator: Box<dyn SentenceOp> = match op {
            AugmentOp::Random => Box::new(random::RandomWords { aug_p: section.aug_p }),
            AugmentOp::Contextual => {
                let lm = MaskedLm::load(ctx.masked_lm_dir, ctx.max_len, section.aug_p, ctx.device)?;
                masked_lm = Some(lm.head_kind());
                Box::new(lm)
            }
            AugmentOp::BackTranslation => Box::new(Paraphrases::load(paraphrase_path(section)?)?),
        };
        // Every sentence of every copy (pairs: both sides), with its own seed.
        let mut sentences: Vec<&str> = Vec::new();
        let mut seeds = Vec::new();
        for (copy, (source, example)) in copies.iter().enumerate() {
            let base = mix_seed(mix_seed(seed, stage as u64), mix_seed(copy as u64, *source as u64));
            sentences.push(&example.text_a);
            seeds.push(mix_seed(base, 0));
            if let Some(b) = &example.text_b {
                sentences.push(b);
                seeds.push(mix_seed(base, 1));
            }
        }
        let mut outputs = operator.apply(&sentences, &seeds)?.into_iter();
        for (_, example) in copies.iter_mut() {
            example.text_a = outputs.next().expect("one output per sentence");
            if example.text_b.is_some() {
                example.text_b = outputs.next();
            }
        }
    }
    Ok((copies.into_iter().filter(|(source, copy)| *copy != rows[*source]).map(|(_, copy)| copy).collect(), masked_lm))
}
