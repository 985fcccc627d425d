//! DeBERTa's disentangled attention (He et al., 2021; v2/v3 as HF transformers computes it).
//! A layer's attention scores add, to the content term, terms between content and relative
//! position, read from one table `R` of relative-position embeddings (`2k` rows, shared by every
//! layer, LayerNorm'd where `norm_rel_ebd` says so):
//!
//! `A_ij = (q_i·k_j + q_i·K^r_{δ(i,j)} + k_j·Q^r_{δ(j,i)}) / sqrt(d_head · s)`
//!
//! with `K^r = R W_k` (content-to-position, `c2p`) and `Q^r = R W_q` (position-to-content,
//! `p2c`) projected by the layer's own key and query weights (`share_att_key`) or by its
//! `pos_key_proj` / `pos_query_proj`, `δ(i,j) = clamp(bucket(i − j) + k, 0, 2k − 1)` with
//! DeBERTa's log buckets, and `s` one plus the number of position terms.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::kernels::linear;

/// DeBERTa's `config.json` fields for its attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisentangledConfig {
    /// Whether the position terms are there at all.
    #[serde(default)]
    pub relative_attention: bool,
    /// Largest relative distance (< 1: `max_position_embeddings`).
    #[serde(default = "unset")]
    pub max_relative_positions: i64,
    /// Log-bucketed distances (v3: 256); ≤ 0 leaves distances exact.
    #[serde(default = "unset")]
    pub position_buckets: i64,
    /// The position terms: `c2p`, `p2c`, or both.
    #[serde(default)]
    pub pos_att_type: Vec<String>,
    /// Whether position embeddings are projected by the layer's query and key weights.
    #[serde(default)]
    pub share_att_key: bool,
    /// `layer_norm` to normalise the relative embeddings, else `none`.
    #[serde(default = "none")]
    pub norm_rel_ebd: String,
    /// Whether absolute position embeddings are added to the input (v2: yes, v3: no).
    #[serde(default = "yes")]
    pub position_biased_input: bool,
}

fn unset() -> i64 {
    -1
}
fn none() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}

impl Default for DisentangledConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl DisentangledConfig {
    /// Reads the fields from a `config.json` object, refusing the DeBERTa variants distiller does
    /// not compute (a convolution beside the first layer, other head activations, head sizes
    /// other than `hidden / heads`).
    pub fn from_fields(fields: &serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let mut own = fields.clone();
        // `"p2c|c2p"` as released, a list as transformers writes it now, or null.
        let kinds: Vec<String> = match own.get("pos_att_type") {
            Some(serde_json::Value::String(text)) => text.to_lowercase().split('|').map(|k| k.trim().to_string()).collect(),
            Some(serde_json::Value::Array(items)) => items.iter().filter_map(|k| k.as_str().map(str::to_lowercase)).collect(),
            _ => Vec::new(),
        };
        if let Some(kind) = kinds.iter().find(|k| !matches!(k.as_str(), "c2p" | "p2c")) {
            return Err(format!("pos_att_type `{kind}` is not supported (c2p, p2c)"));
        }
        own.insert("pos_att_type".into(), kinds.into());
        if fields.get("conv_kernel_size").and_then(|k| k.as_u64()).unwrap_or(0) > 0 {
            return Err("conv_kernel_size > 0 (DeBERTa's convolution beside the first layer) is not supported".into());
        }
        if let Some(act) = fields.get("pooler_hidden_act").and_then(|a| a.as_str()).filter(|a| *a != "gelu") {
            return Err(format!("pooler_hidden_act `{act}` is not supported (gelu)"));
        }
        let size = |name: &str| fields.get(name).and_then(|v| v.as_u64());
        if let (Some(head), Some(hidden), Some(heads)) = (size("attention_head_size"), size("hidden_size"), size("num_attention_heads"))
            && head * heads != hidden
        {
            return Err(format!("attention_head_size {head} is not hidden_size / num_attention_heads"));
        }
        let config: Self = serde_json::from_value(own.into()).map_err(|e| e.to_string())?;
        if let Some(norm) = config.norm_rel_ebd.split('|').map(str::trim).find(|n| !matches!(*n, "none" | "layer_norm")) {
            return Err(format!("norm_rel_ebd `{norm}` is not supported (none, layer_norm)"));
        }
        Ok(config)
    }

    fn has(&self, kind: &str) -> bool {
        self.relative_attention && self.pos_att_type.iter().any(|k| k == kind)
    }

    /// Whether the content-to-position term is there.
    pub fn c2p(&self) -> bool {
        self.has("c2p")
    }

    /// Whether the position-to-content term is there.
    pub fn p2c(&self) -> bool {
        self.has("p2c")
    }

    /// Whether the relative embeddings are LayerNorm'd (`encoder.LayerNorm`).
    pub fn norms_relative(&self) -> bool {
        self.norm_rel_ebd.split('|').any(|n| n.trim() == "layer_norm")
    }

    /// The largest relative distance, `max_relative_positions` or the model's positions.
    pub fn max_relative(&self, max_positions: usize) -> usize {
        if self.max_relative_positions < 1 { max_positions } else { self.max_relative_positions as usize }
    }

    /// `k`: half the rows of the relative-embedding table.
    pub fn span(&self, max_positions: usize) -> usize {
        if self.position_buckets > 0 { self.position_buckets as usize } else { self.max_relative(max_positions) }
    }
}

/// DeBERTa's bucket of the relative position `query − key` (`make_log_bucket_position`): exact
/// within half the buckets, logarithmic beyond, in f32 as transformers computes it.
fn log_bucket(relative: i64, buckets: usize, max_position: usize) -> i64 {
    let mid = (buckets / 2) as i64;
    let abs = if relative < mid && relative > -mid { mid - 1 } else { relative.abs() };
    if abs <= mid {
        return relative;
    }
    let log = ((abs as f32 / mid as f32).ln() / ((max_position - 1) as f32 / mid as f32).ln() * (mid - 1) as f32).ceil() + mid as f32;
    log as i64 * relative.signum()
}

/// The shared relative-position embeddings and how they are indexed.
#[derive(Module, Debug)]
pub struct RelativeEmbeddings {
    /// `[2k, hidden]` (`encoder.rel_embeddings`).
    pub table: Embedding,
    /// `encoder.LayerNorm`, where `norm_rel_ebd` asks for it.
    pub norm: Option<LayerNorm>,
    #[module(skip)]
    span: usize,
    /// Log buckets (`position_buckets`), 0 for exact distances.
    #[module(skip)]
    buckets: usize,
    #[module(skip)]
    max_relative: usize,
    #[module(skip)]
    c2p: bool,
    #[module(skip)]
    p2c: bool,
}

/// What every layer of one forward pass shares: the (normalised) table and, per query and key,
/// the table row each position term reads.
pub struct RelativeContext {
    table: Tensor<2>,
    /// `[seq, seq]`: row of `K^r` for query `i`, key `j`.
    c2p_rows: Option<Tensor<2, Int>>,
    /// `[seq, seq]`: row of `Q^r` for key `j` (first index), query `i`.
    p2c_rows: Option<Tensor<2, Int>>,
    /// `s` in the scale `1 / sqrt(d_head · s)`.
    terms: usize,
}

impl RelativeEmbeddings {
    pub fn new(table: Embedding, norm: Option<LayerNorm>, config: &DisentangledConfig, max_positions: usize) -> Self {
        let buckets = if config.position_buckets > 0 { config.position_buckets as usize } else { 0 };
        Self { table, norm, span: config.span(max_positions), buckets, max_relative: config.max_relative(max_positions), c2p: config.c2p(), p2c: config.p2c() }
    }

    /// The context for sequences of `seq` tokens; `drop` is applied to the table (DeBERTa's
    /// `pos_dropout`).
    pub fn context(&self, seq: usize, drop: impl Fn(Tensor<2>) -> Tensor<2>, device: &Device) -> RelativeContext {
        let table = self.table.weight.val();
        let table = drop(match &self.norm {
            Some(norm) => norm.forward(table),
            None => table,
        });
        let k = self.span as i64;
        let relative = |i: usize, j: usize| {
            let r = i as i64 - j as i64;
            if self.buckets > 0 { log_bucket(r, self.buckets, self.max_relative) } else { r }
        };
        let rows = |sign: i64| {
            let ids: Vec<i64> = (0..seq).flat_map(|i| (0..seq).map(move |j| (sign * relative(i, j) + k).clamp(0, 2 * k - 1))).collect();
            Tensor::<2, Int>::from_data(TensorData::new(ids, [seq, seq]), device)
        };
        RelativeContext { table, c2p_rows: self.c2p.then(|| rows(1)), p2c_rows: self.p2c.then(|| rows(-1)), terms: 1 + self.c2p as usize + self.p2c as usize }
    }
}

impl RelativeContext {
    /// A layer's attention scores `[batch, heads, seq, seq]` from its queries and keys
    /// `[batch, heads, seq, d_head]` and the projections of the table (`pos_query` for `p2c`,
    /// `pos_key` for `c2p`).
    pub fn scores(&self, q: Tensor<4>, k: Tensor<4>, pos_query: &Linear, pos_key: &Linear) -> Tensor<4> {
        let [batch, heads, seq, d_head] = q.dims();
        let scale = 1.0 / ((d_head * self.terms) as f64).sqrt();
        let q = q.mul_scalar(scale);
        let mut scores = q.clone().matmul(k.clone().swap_dims(2, 3));
        let rows = self.table.dims()[0];
        let project = |layer: &Linear| linear(layer, self.table.clone()).reshape([1, rows, heads, d_head]).swap_dims(1, 2).expand([batch, heads, rows, d_head]);
        let index = |rows: &Tensor<2, Int>| rows.clone().reshape([1, 1, seq, seq]).expand([batch, heads, seq, seq]);
        if let Some(c2p_rows) = &self.c2p_rows {
            scores = scores + q.matmul(project(pos_key).swap_dims(2, 3)).gather(3, index(c2p_rows));
        }
        if let Some(p2c_rows) = &self.p2c_rows {
            let by_key = k.matmul(project(pos_query).mul_scalar(scale).swap_dims(2, 3)).gather(3, index(p2c_rows));
            scores = scores + by_key.swap_dims(2, 3);
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_buckets_follow_deberta() {
        // As transformers' make_log_bucket_position computes them (bucket_size 8, max_position 128).
        let bucket = |r| super::log_bucket(r, 8, 128);
        assert_eq!([0, 1, 3, 4, -4].map(bucket), [0, 1, 3, 4, -4]);
        assert_eq!([5, 6, 20, 127, -5, -127].map(bucket), [5, 5, 6, 7, -5, -7]);
        // DeBERTa-v3's 256 buckets over 512 positions.
        let v3 = (-600..600).step_by(97).map(|r| super::log_bucket(r, 256, 512)).collect::<Vec<_>>();
        assert_eq!(v3, [-270, -254, -234, -209, -175, -115, -18, 79, 158, 198, 226, 247, 265]);
    }
}
