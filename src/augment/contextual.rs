//! `contextual`: words replaced by a masked language model's choice. Each alphabetic word is masked
//! with probability `aug_p`; the model reads the sentence with those words as `[MASK]` and each
//! masked word becomes a top-p (nucleus) sample among whole-word vocabulary tokens other than the
//! original.
//!
//! The output layer: a checkpoint that has BERT's MLM head (`cls.predictions.*`) uses it
//! (transform dense → GELU → LayerNorm, then the decoder tied to the word embeddings, plus bias).
//! Our MiniLM teacher has none, so otherwise the masked position's final hidden state is scored
//! against the tied word-embedding matrix directly — BERT's MLM decoder without its transform.
//! The run log and [`MlmHeadKind`] say which one ran.

use crate::model::kernels::gelu;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::SentenceOp;
use crate::data::{HostBatch, TextEncoder, plan_batches};
use crate::error::{Error, Result};
use crate::model::checkpoint::CONFIG_FILE;
use crate::model::{Bert, BertConfig, BertInput, CheckpointWeights, to_host};

/// Nucleus mass and the most candidates considered per masked word.
const TOP_P: f64 = 0.9;
const TOP_K: usize = 50;

/// Which output layer scored the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlmHeadKind {
    /// The checkpoint's own `cls.predictions` head.
    CheckpointHead,
    /// Final hidden state · word-embedding matrixᵀ (no MLM head in the checkpoint).
    TiedEmbeddings,
}

impl MlmHeadKind {
    pub fn describe(self) -> &'static str {
        match self {
            MlmHeadKind::CheckpointHead => "masked-LM head from the checkpoint (cls.predictions)",
            MlmHeadKind::TiedEmbeddings => "no MLM head in the checkpoint: final hidden state scored against the tied word embeddings",
        }
    }
}

/// BERT's MLM transform: dense (`[in, out]`) → GELU → LayerNorm.
struct Transform {
    dense: Tensor<2>,
    dense_bias: Tensor<1>,
    norm_weight: Tensor<1>,
    norm_bias: Tensor<1>,
    eps: f64,
}

impl Transform {
    fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        let [m, d] = h.dims();
        let x = gelu(h.matmul(self.dense.clone()) + self.dense_bias.clone().reshape([1, d]));
        let mean = x.clone().mean_dim(1);
        let centred = x - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(1);
        let normed = centred / (var + self.eps).sqrt();
        normed * self.norm_weight.clone().reshape([1, d]) + self.norm_bias.clone().reshape([1, d]).expand([m, d])
    }
}

/// A masked LM over a BERT checkpoint, ready to replace words.
pub struct MaskedLm {
    model: Bert,
    encoder: TextEncoder,
    transform: Option<Transform>,
    /// `[hidden, vocab]`.
    decoder: Tensor<2>,
    decoder_bias: Option<Tensor<1>>,
    mask_id: u32,
    /// Per vocabulary id: the token when it is a whole alphabetic word.
    words: Vec<Option<String>>,
    aug_p: f64,
    device: Device,
}

fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

impl MaskedLm {
    /// Loads the encoder (a task head is not needed) and the MLM head when the file has one.
    pub fn load(dir: &Path, max_len: usize, aug_p: f64, device: &Device) -> Result<Self> {
        let config = BertConfig::from_file(&dir.join(CONFIG_FILE))?;
        // One read of the weights serves the encoder (a task head may be absent) and the MLM head.
        let mut weights = CheckpointWeights::open_dir(dir, config.family)?.allow_missing(&["pooler.", "classifier."], 0);
        let model = Bert::build(&config, &mut weights, device)?;
        let encoder = TextEncoder::from_model_dir(dir, max_len)?;
        let mask_id = encoder.token_id("[MASK]").ok_or_else(|| Error::checkpoint(dir, "vocabulary has no [MASK] token, needed by contextual augmentation"))?;
        if !encoder.encode("[MASK]", None)?.ids.contains(&mask_id) {
            return Err(Error::checkpoint(dir, "the tokenizer does not read `[MASK]` as the mask token"));
        }
        let (d, v) = (config.hidden_size, config.vocab_size);
        let get = |name: &str, shape: &[usize]| -> Result<Option<Vec<f32>>> {
            match weights.get(name) {
                Some((found, values)) if found.as_slice() == shape => Ok(Some(values.clone())),
                Some((found, _)) => Err(Error::checkpoint(dir, format!("tensor `{name}` has shape {found:?}, expected {shape:?}"))),
                None => Ok(None),
            }
        };
        let transform = match get("cls.predictions.transform.dense.weight", &[d, d])? {
            Some(w) => {
                let need = |name: &str, shape: &[usize]| get(name, shape)?.ok_or_else(|| Error::checkpoint(dir, format!("MLM head without `{name}`")));
                let dense = tensor(&w, [d, d], device).transpose();
                Some(Transform {
                    dense,
                    dense_bias: tensor(&need("cls.predictions.transform.dense.bias", &[d])?, [d], device),
                    norm_weight: tensor(&need("cls.predictions.transform.LayerNorm.weight", &[d])?, [d], device),
                    norm_bias: tensor(&need("cls.predictions.transform.LayerNorm.bias", &[d])?, [d], device),
                    eps: config.layer_norm_eps,
                })
            }
            None => None,
        };
        let decoder = match get("cls.predictions.decoder.weight", &[v, d])? {
            Some(w) => tensor(&w, [v, d], device).transpose(),
            None => model.word_embeddings().transpose(),
        };
        let bias = match get("cls.predictions.bias", &[v])? {
            Some(b) => Some(b),
            None => get("cls.predictions.decoder.bias", &[v])?,
        };
        let decoder_bias = bias.filter(|_| transform.is_some()).map(|b| tensor(&b, [v], device));
        let vocab = encoder.vocabulary();
        let words = vocab.into_iter().map(|t| (!t.is_empty() && t.chars().all(char::is_alphabetic)).then_some(t)).collect();
        Ok(Self { model: model.valid(), encoder, transform, decoder, decoder_bias, mask_id, words, aug_p, device: device.clone() })
    }

    pub fn head_kind(&self) -> MlmHeadKind {
        if self.transform.is_some() { MlmHeadKind::CheckpointHead } else { MlmHeadKind::TiedEmbeddings }
    }

    /// Vocabulary scores `[masks, vocab]` for the final hidden states of masked positions.
    fn scores(&self, hidden: Tensor<2>) -> Tensor<2> {
        let h = match &self.transform {
            Some(t) => t.forward(hidden),
            None => hidden,
        };
        let logits = h.matmul(self.decoder.clone());
        match &self.decoder_bias {
            Some(b) => {
                let v = b.dims()[0];
                logits + b.clone().reshape([1, v])
            }
            None => logits,
        }
    }

    /// A nucleus sample among whole-word tokens other than `original` (`None` if there is none).
    fn sample(&self, logits: &[f32], original: &str, rng: &mut StdRng) -> Option<String> {
        let original = original.to_lowercase();
        let mut candidates: Vec<(f32, usize)> =
            logits.iter().enumerate().filter(|(id, _)| self.words.get(*id).and_then(Option::as_ref).is_some_and(|w| *w != original)).map(|(id, &l)| (l, id)).collect();
        if candidates.is_empty() {
            return None;
        }
        let k = TOP_K.min(candidates.len());
        candidates.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        candidates.truncate(k);
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top = candidates[0].0;
        let weights: Vec<f64> = candidates.iter().map(|(l, _)| ((l - top) as f64).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut kept = 0;
        let mut mass = 0.0;
        while kept < weights.len() && mass < TOP_P * total {
            mass += weights[kept];
            kept += 1;
        }
        let mut draw = rng.random::<f64>() * mass;
        for (w, (_, id)) in weights[..kept].iter().zip(&candidates) {
            draw -= w;
            if draw <= 0.0 {
                return self.words[*id].clone();
            }
        }
        self.words[candidates[kept - 1].1].clone()
    }
}

/// One sentence to rewrite: its words, which of them are masked, its random stream.
struct Job {
    sentence: usize,
    words: Vec<String>,
    masked: Vec<usize>,
    rng: StdRng,
}

impl SentenceOp for MaskedLm {
    fn apply(&self, sentences: &[&str], seeds: &[u64]) -> Result<Vec<String>> {
        let mut outputs: Vec<String> = sentences.iter().map(|s| s.to_string()).collect();
        let mut jobs: Vec<Job> = Vec::new();
        for (sentence, (text, &seed)) in sentences.iter().zip(seeds).enumerate() {
            let mut rng = StdRng::seed_from_u64(seed);
            let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
            let masked: Vec<usize> = (0..words.len()).filter(|&i| words[i].chars().all(char::is_alphabetic) && self.aug_p > 0.0 && rng.random::<f64>() < self.aug_p).collect();
            if !masked.is_empty() {
                jobs.push(Job { sentence, words, masked, rng });
            }
        }
        let encoded = jobs
            .iter()
            .map(|job| {
                let text: Vec<&str> = job.words.iter().enumerate().map(|(i, w)| if job.masked.contains(&i) { "[MASK]" } else { w.as_str() }).collect();
                self.encoder.encode(&text.join(" "), None)
            })
            .collect::<Result<Vec<_>>>()?;
        for indices in plan_batches(&encoded, 32, None) {
            let batch = HostBatch::pad(&encoded, &indices, self.encoder.pad_id());
            // Flat positions of the masks, row by row, left to right.
            let positions: Vec<i64> = (0..batch.rows * batch.width).filter(|&p| batch.ids[p] == self.mask_id as i64).map(|p| p as i64).collect();
            if positions.is_empty() {
                continue;
            }
            let out = self.model.forward(&BertInput::from_host(&batch, &self.device), false);
            let last = out.hidden.last().expect("embedding output at least").clone();
            let d = last.dims()[2];
            let index = Tensor::<1, Int>::from_data(TensorData::new(positions.clone(), [positions.len()]), &self.device);
            let scores = self.scores(last.reshape([batch.rows * batch.width, d]).select(0, index));
            let v = scores.dims()[1];
            let scores = to_host(scores);
            let mut next = 0;
            for (r, &job_index) in indices.iter().enumerate() {
                let job = &mut jobs[job_index];
                // Masks cut off by truncation keep their original word.
                let here = positions[next..].iter().take_while(|&&p| (p as usize) / batch.width == r).count();
                for (k, &word) in job.masked.iter().take(here).enumerate() {
                    let row = &scores[(next + k) * v..(next + k + 1) * v];
                    if let Some(replacement) = self.sample(row, &job.words[word], &mut job.rng) {
                        job.words[word] = replacement;
                    }
                }
                next += here;
            }
        }
        for job in jobs {
            outputs[job.sentence] = job.words.join(" ");
        }
        Ok(outputs)
    }
}
