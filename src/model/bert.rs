//! A transformer encoder of any [`Family`] (BERT, RoBERTa, ELECTRA, DistilBERT, MPNet, DeBERTa)
//! with a sequence-classification head, whose forward pass returns what distillation needs: logits,
//! every hidden state (embedding output + each layer) and, on request, each layer's attention
//! probabilities. It knows nothing about distillation.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::{BertConfig, Pooling};
use super::disentangled::{RelativeContext, RelativeEmbeddings};
use super::dropout::dropout;
use super::family::{Family, HeadActivation, Positions};
use super::kernels::{attention, embedding, gelu, layer_norm, linear, linear_gelu, residual_norm, softmax};
use super::weights::{Init, WeightSource};
use crate::data::HostBatch;
use crate::error::Result;

/// Token ids, segment ids and the padding mask (1 = token, 0 = padding) of one batch.
#[derive(Debug, Clone)]
pub struct BertInput {
    pub ids: Tensor<2, Int>,
    pub type_ids: Tensor<2, Int>,
    pub mask: Tensor<2>,
}

impl BertInput {
    pub fn from_host(batch: &HostBatch, device: &Device) -> Self {
        let shape = [batch.rows, batch.width];
        Self {
            ids: Tensor::from_data(TensorData::new(batch.ids.clone(), shape), device),
            type_ids: Tensor::from_data(TensorData::new(batch.type_ids.clone(), shape), device),
            mask: Tensor::from_data(TensorData::new(batch.mask.clone(), shape), device),
        }
    }
}

/// What a forward pass exposes, in a model-independent shape: the distiller reads only this
/// (any model that can produce it can be a teacher or a student).
#[derive(Debug, Clone)]
pub struct ModelOutputs {
    /// `[batch, num_labels]`.
    pub logits: Tensor<2>,
    /// `num_layers + 1` tensors `[batch, seq, hidden]`; index 0 is the embedding output.
    pub hidden: Vec<Tensor<3>>,
    /// One `[batch, heads, seq, seq]` per layer when requested, else empty.
    pub attentions: Vec<Tensor<4>>,
    /// `[batch, seq]`, 1 for real tokens.
    pub mask: Tensor<2>,
}

#[derive(Module, Debug)]
struct Embeddings {
    word: Embedding,
    /// Absent in DeBERTa-v3 (`position_biased_input: false`).
    position: Option<Embedding>,
    /// Absent where the family has no segments (DistilBERT, MPNet, DeBERTa-v3).
    token_type: Option<Embedding>,
    norm: LayerNorm,
    /// The projection from a narrower embedding to the encoder's width (ELECTRA's after the
    /// LayerNorm, DeBERTa's before it).
    project: Option<Linear>,
}

#[derive(Module, Debug)]
struct EncoderLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    /// DeBERTa's own projections of the relative embeddings (without `share_att_key`).
    pos_query: Option<Linear>,
    pos_key: Option<Linear>,
    heads: usize,
}

/// Encoder + task head (HF `<Family>ForSequenceClassification`): the head's dense layer
/// (BERT's pooler), its activation, and the output layer (`classifier`).
#[derive(Module, Debug)]
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<EncoderLayer>,
    /// MPNet's relative position bias: `[buckets, heads]`, shared by every layer.
    relative_bias: Option<Embedding>,
    /// DeBERTa's relative-position embeddings, shared by every layer.
    relative_embeddings: Option<RelativeEmbeddings>,
    pooler: Linear,
    classifier: Linear,
    hidden_dropout: Dropout,
    attention_dropout: Dropout,
    #[module(skip)]
    pooling: Pooling,
    #[module(skip)]
    family: Family,
    #[module(skip)]
    pad_token_id: usize,
    /// Every LayerNorm's epsilon (the host kernel needs it; burn's LayerNorm keeps it private).
    #[module(skip)]
    layer_norm_eps: f64,
}

/// The mean of `x` `[batch, seq, d]` over the tokens `mask` `[batch, seq]` marks (1) → `[batch, d]`.
pub fn mean_pool(x: Tensor<3>, mask: &Tensor<2>) -> Tensor<2> {
    let m = mask.clone().unsqueeze_dim::<3>(2);
    let [b, _, d] = x.dims();
    ((x * m.clone()).sum_dim(1) / m.sum_dim(1).clamp_min(1.0)).reshape([b, d])
}

fn param<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Reads an HF `[out, in]` weight and stores it as burn's `[in, out]`, with its bias.
fn load_linear(src: &mut dyn WeightSource, name: &str, d_in: usize, d_out: usize, device: &Device) -> Result<Linear> {
    let mut layer = load_weight(src, name, d_in, d_out, device)?;
    layer.bias = Some(param(src.tensor(&format!("{name}.bias"), &[d_out], Init::Zeros)?, [d_out], device));
    Ok(layer)
}

/// [`load_linear`] without a bias (DeBERTa's `embed_proj`).
fn load_weight(src: &mut dyn WeightSource, name: &str, d_in: usize, d_out: usize, device: &Device) -> Result<Linear> {
    let w = src.tensor(&format!("{name}.weight"), &[d_out, d_in], Init::Normal)?;
    let mut t = vec![0.0; w.len()];
    for o in 0..d_out {
        for i in 0..d_in {
            t[i * d_out + o] = w[o * d_in + i];
        }
    }
    let mut layer = LinearConfig::new(d_in, d_out).with_bias(false).init(device);
    layer.weight = param(t, [d_in, d_out], device);
    Ok(layer)
}

fn load_layer_norm(src: &mut dyn WeightSource, name: &str, d: usize, eps: f64, device: &Device) -> Result<LayerNorm> {
    let mut norm = LayerNormConfig::new(d).with_epsilon(eps).init(device);
    norm.gamma = param(src.tensor(&format!("{name}.weight"), &[d], Init::Ones)?, [d], device);
    norm.beta = Some(param(src.tensor(&format!("{name}.bias"), &[d], Init::Zeros)?, [d], device));
    Ok(norm)
}

fn load_embedding(src: &mut dyn WeightSource, name: &str, n: usize, d: usize, device: &Device) -> Result<Embedding> {
    let mut emb = EmbeddingConfig::new(n, d).init(device);
    emb.weight = param(src.tensor(&format!("{name}.weight"), &[n, d], Init::Normal)?, [n, d], device);
    Ok(emb)
}

impl BertConfig {
    /// A model with BERT's random initialisation.
    pub fn init(&self, seed: u64, device: &Device) -> Bert {
        Bert::build(self, &mut super::weights::RandomInit::new(seed), device).expect("random init cannot fail")
    }
}

impl Bert {
    /// Builds every parameter from `src`, under HF BERT names.
    pub fn build(config: &BertConfig, src: &mut dyn WeightSource, device: &Device) -> Result<Self> {
        config.validate()?;
        let (d, e, eps, family) = (config.hidden_size, config.embedding_width(), config.layer_norm_eps, config.family);
        let disentangled = config.disentangled.as_ref();
        let before_norm = family.projects_before_norm();
        let embeddings = Embeddings {
            word: load_embedding(src, "embeddings.word_embeddings", config.vocab_size, e, device)?,
            position: disentangled
                .is_none_or(|c| c.position_biased_input)
                .then(|| load_embedding(src, "embeddings.position_embeddings", config.max_position_embeddings, e, device))
                .transpose()?,
            token_type: (family.has_token_types() && config.type_vocab_size > 0)
                .then(|| load_embedding(src, "embeddings.token_type_embeddings", config.type_vocab_size, e, device))
                .transpose()?,
            norm: load_layer_norm(src, "embeddings.LayerNorm", if before_norm { d } else { e }, eps, device)?,
            project: match (e != d, before_norm) {
                (false, _) => None,
                (true, true) => Some(load_weight(src, "embeddings_project", e, d, device)?),
                (true, false) => Some(load_linear(src, "embeddings_project", e, d, device)?),
            },
        };
        let relative_bias = match (family.has_relative_bias(), config.relative_attention_num_buckets) {
            (true, Some(buckets)) => Some(load_embedding(src, "encoder.relative_attention_bias", buckets, config.num_attention_heads, device)?),
            _ => None,
        };
        let relative_embeddings = match disentangled.filter(|c| c.relative_attention) {
            Some(c) => {
                let table = load_embedding(src, "encoder.rel_embeddings", 2 * c.span(config.max_position_embeddings), d, device)?;
                let norm = c.norms_relative().then(|| load_layer_norm(src, "encoder.LayerNorm", d, eps, device)).transpose()?;
                Some(RelativeEmbeddings::new(table, norm, c, config.max_position_embeddings))
            }
            None => None,
        };
        // DeBERTa's own projections of the relative embeddings, where the layer's query and key
        // weights are not shared with them.
        let own = disentangled.filter(|c| !c.share_att_key);
        let (pos_query, pos_key) = (own.is_some_and(|c| c.p2c()), own.is_some_and(|c| c.c2p()));
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            layers.push(EncoderLayer {
                query: load_linear(src, &format!("{p}.attention.self.query"), d, d, device)?,
                key: load_linear(src, &format!("{p}.attention.self.key"), d, d, device)?,
                value: load_linear(src, &format!("{p}.attention.self.value"), d, d, device)?,
                attention_out: load_linear(src, &format!("{p}.attention.output.dense"), d, d, device)?,
                attention_norm: load_layer_norm(src, &format!("{p}.attention.output.LayerNorm"), d, eps, device)?,
                intermediate: load_linear(src, &format!("{p}.intermediate.dense"), d, config.intermediate_size, device)?,
                output: load_linear(src, &format!("{p}.output.dense"), config.intermediate_size, d, device)?,
                output_norm: load_layer_norm(src, &format!("{p}.output.LayerNorm"), d, eps, device)?,
                pos_query: pos_query.then(|| load_linear(src, &format!("{p}.attention.self.pos_query_proj"), d, d, device)).transpose()?,
                pos_key: pos_key.then(|| load_linear(src, &format!("{p}.attention.self.pos_key_proj"), d, d, device)).transpose()?,
                heads: config.num_attention_heads,
            });
        }
        Ok(Self {
            embeddings,
            layers,
            relative_bias,
            relative_embeddings,
            pooler: load_linear(src, "pooler.dense", d, d, device)?,
            classifier: load_linear(src, "classifier", d, config.num_labels, device)?,
            hidden_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            pooling: config.classifier_pooling,
            family,
            pad_token_id: config.pad_token_id,
            layer_norm_eps: eps,
        })
    }

    /// Every parameter under its BERT name ([`Family::file_name`] gives the family's) and HF
    /// layout (`Linear` weights `[out, in]`), for saving.
    pub fn export(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let mut out = Vec::new();
        let host = super::to_host::<1>;
        let push_linear = |out: &mut Vec<_>, name: &str, l: &Linear| {
            let [d_in, d_out] = l.weight.dims();
            let w = host(l.weight.val().transpose().reshape([d_in * d_out]));
            out.push((format!("{name}.weight"), vec![d_out, d_in], w));
            if let Some(b) = &l.bias {
                out.push((format!("{name}.bias"), vec![d_out], host(b.val())));
            }
        };
        let push_norm = |out: &mut Vec<_>, name: &str, n: &LayerNorm| {
            out.push((format!("{name}.weight"), n.gamma.dims().to_vec(), host(n.gamma.val())));
            if let Some(b) = &n.beta {
                out.push((format!("{name}.bias"), b.dims().to_vec(), host(b.val())));
            }
        };
        let push_emb = |out: &mut Vec<_>, name: &str, e: &Embedding| {
            let [n, d] = e.weight.dims();
            out.push((format!("{name}.weight"), vec![n, d], host(e.weight.val().reshape([n * d]))));
        };
        push_emb(&mut out, "embeddings.word_embeddings", &self.embeddings.word);
        if let Some(position) = &self.embeddings.position {
            push_emb(&mut out, "embeddings.position_embeddings", position);
        }
        if let Some(token_type) = &self.embeddings.token_type {
            push_emb(&mut out, "embeddings.token_type_embeddings", token_type);
        }
        push_norm(&mut out, "embeddings.LayerNorm", &self.embeddings.norm);
        if let Some(project) = &self.embeddings.project {
            push_linear(&mut out, "embeddings_project", project);
        }
        if let Some(bias) = &self.relative_bias {
            push_emb(&mut out, "encoder.relative_attention_bias", bias);
        }
        if let Some(relative) = &self.relative_embeddings {
            push_emb(&mut out, "encoder.rel_embeddings", &relative.table);
            if let Some(norm) = &relative.norm {
                push_norm(&mut out, "encoder.LayerNorm", norm);
            }
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{l}");
            push_linear(&mut out, &format!("{p}.attention.self.query"), &layer.query);
            push_linear(&mut out, &format!("{p}.attention.self.key"), &layer.key);
            push_linear(&mut out, &format!("{p}.attention.self.value"), &layer.value);
            push_linear(&mut out, &format!("{p}.attention.output.dense"), &layer.attention_out);
            push_norm(&mut out, &format!("{p}.attention.output.LayerNorm"), &layer.attention_norm);
            push_linear(&mut out, &format!("{p}.intermediate.dense"), &layer.intermediate);
            push_linear(&mut out, &format!("{p}.output.dense"), &layer.output);
            push_norm(&mut out, &format!("{p}.output.LayerNorm"), &layer.output_norm);
            if let Some(pos_query) = &layer.pos_query {
                push_linear(&mut out, &format!("{p}.attention.self.pos_query_proj"), pos_query);
            }
            if let Some(pos_key) = &layer.pos_key {
                push_linear(&mut out, &format!("{p}.attention.self.pos_key_proj"), pos_key);
            }
        }
        push_linear(&mut out, "pooler.dense", &self.pooler);
        push_linear(&mut out, "classifier", &self.classifier);
        out
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Parameters of the input embeddings (words, positions, segments, their norm and projection):
    /// what a smaller vocabulary, not a smaller network, saves.
    pub fn embedding_params(&self) -> usize {
        self.embeddings.num_params()
    }

    /// The input-embedding matrix `[vocab, hidden]` (tied to BERT's masked-LM decoder).
    pub fn word_embeddings(&self) -> Tensor<2> {
        self.embeddings.word.weight.val()
    }

    /// Runs the encoder; attention maps are kept only when `with_attention` (they cost memory).
    pub fn forward(&self, input: &BertInput, with_attention: bool) -> ModelOutputs {
        self.encode(self.embed(input), input.mask.clone(), with_attention)
    }

    /// The embedding output `[batch, seq, hidden]` (word + position + segment, normalised, and
    /// projected to the encoder's width where the embeddings are narrower): where mixup
    /// interpolates two inputs.
    pub fn embed(&self, input: &BertInput) -> Tensor<3> {
        let [_, seq] = input.ids.dims();
        let device = input.ids.device();
        let mut emb = embedding(&self.embeddings.word, input.ids.clone());
        if let Some(position) = &self.embeddings.position {
            let positions = match self.family.positions() {
                // One row, broadcast over the batch.
                Positions::FromZero => Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]),
                Positions::AfterPadding => (input.mask.clone().cumsum(1) * input.mask.clone()).add_scalar(self.pad_token_id as f64).int(),
            };
            emb = emb + embedding(position, positions);
        }
        if let Some(token_type) = &self.embeddings.token_type {
            // A one-segment vocabulary (RoBERTa) reads every token as segment 0.
            let last = token_type.weight.dims()[0] as i64 - 1;
            emb = emb + embedding(token_type, input.type_ids.clone().clamp_max(last));
        }
        let project = |emb| match &self.embeddings.project {
            Some(project) => linear(project, emb),
            None => emb,
        };
        if self.family.projects_before_norm() {
            // DeBERTa also zeroes the padding's embeddings.
            let normed = layer_norm(&self.embeddings.norm, project(emb), self.layer_norm_eps) * input.mask.clone().unsqueeze_dim::<3>(2);
            dropout(&self.hidden_dropout, normed)
        } else {
            project(dropout(&self.hidden_dropout, layer_norm(&self.embeddings.norm, emb, self.layer_norm_eps)))
        }
    }

    /// MPNet's relative position bias `[1, heads, seq, seq]`: for query `i` and key `j`, the
    /// table's row for T5's bidirectional bucket of `i − j` (32 buckets, distances up to 128).
    fn position_bias(&self, seq: usize, device: &Device) -> Option<Tensor<4>> {
        let table = self.relative_bias.as_ref()?;
        let [buckets, heads] = table.weight.dims();
        let ids: Vec<i64> = (0..seq).flat_map(|i| (0..seq).map(move |j| relative_bucket(i as i64 - j as i64, buckets, 128) as i64)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [seq, seq]), device);
        Some(embedding(table, ids).permute([2, 0, 1]).reshape([1, heads, seq, seq]))
    }

    /// The head's logits alone, as `forward(input, false).logits`. Where the head reads only the
    /// first token (CLS pooling) and attention has no relative context (all but DeBERTa), the last
    /// layer computes keys and values for every token but its query, attention output and
    /// feed-forward block for the first token only: the rows the logits depend on (about a sixth
    /// of a 6-layer encoder's products; HF transformers computes them all).
    pub fn logits(&self, input: &BertInput) -> Tensor<2> {
        let first_token_only = self.pooling == Pooling::Cls && self.relative_embeddings.is_none();
        let Some((last, rest)) = self.layers.split_last().filter(|_| first_token_only) else {
            return self.forward(input, false).logits;
        };
        let x = self.embed(input);
        let bias = self.attention_bias(&input.mask, &x.device());
        let dropouts = (&self.hidden_dropout, &self.attention_dropout);
        let x = rest.iter().fold(x, |x, layer| layer.forward(x, bias.clone(), None, dropouts, self.layer_norm_eps, false).0);
        self.head(last.first_token(x, bias, dropouts, self.layer_norm_eps))
    }

    /// The additive attention bias `[batch, 1, 1, seq]` of a padding mask (0 for tokens, -10000
    /// for padding, broadcast over heads and queries), plus MPNet's relative position bias.
    fn attention_bias(&self, mask: &Tensor<2>, device: &Device) -> Tensor<4> {
        let [batch, seq] = mask.dims();
        let bias = (mask.clone() - 1.0).mul_scalar(10000.0).reshape([batch, 1, 1, seq]);
        match self.position_bias(seq, device) {
            Some(position) => bias + position,
            None => bias,
        }
    }

    /// The task head over the pooled sequence `[batch, hidden]`: the logits.
    fn head(&self, sequence: Tensor<2>) -> Tensor<2> {
        let sequence = if self.family.drops_before_head() { dropout(&self.hidden_dropout, sequence) } else { sequence };
        let dense = linear(&self.pooler, sequence);
        let pooled = match self.family.head_activation() {
            HeadActivation::Tanh => tanh(dense),
            HeadActivation::Gelu => gelu(dense),
            HeadActivation::Relu => burn::tensor::activation::relu(dense),
        };
        linear(&self.classifier, dropout(&self.hidden_dropout, pooled))
    }

    /// The layers, pooler and classifier over an embedding output and its padding mask.
    pub fn encode(&self, embedded: Tensor<3>, mask: Tensor<2>, with_attention: bool) -> ModelOutputs {
        let [batch, seq, _] = embedded.dims();
        let mut x = embedded;
        let bias = self.attention_bias(&mask, &x.device());
        let relative = self.relative_embeddings.as_ref().map(|r| r.context(seq, |t| dropout(&self.hidden_dropout, t), &x.device()));
        let mut hidden = vec![x.clone()];
        let mut attentions = Vec::new();
        for layer in &self.layers {
            let (next, probs) = layer.forward(x, bias.clone(), relative.as_ref(), (&self.hidden_dropout, &self.attention_dropout), self.layer_norm_eps, with_attention);
            x = next;
            hidden.push(x.clone());
            attentions.extend(probs);
        }
        let [_, _, d] = x.dims();
        let sequence = match self.pooling {
            Pooling::Cls => x.slice([0..batch, 0..1, 0..d]).reshape([batch, d]),
            Pooling::Mean => mean_pool(x, &mask),
        };
        ModelOutputs { logits: self.head(sequence), hidden, attentions, mask }
    }
}

impl EncoderLayer {
    /// The layer's output, and its attention probabilities `[batch, heads, seq, seq]` when asked.
    fn forward(
        &self,
        x: Tensor<3>,
        bias: Tensor<4>,
        relative: Option<&RelativeContext>,
        (hidden_dropout, attention_dropout): (&Dropout, &Dropout),
        eps: f64,
        with_attention: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let [batch, seq, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let (q, k, v) = (linear(&self.query, x.clone()), linear(&self.key, x.clone()), linear(&self.value, x.clone()));
        // One op from the projections to the heads' outputs, where no map is asked for.
        let fused = if relative.is_none() && !with_attention { attention(&q, &k, &v, &bias, h, attention_dropout) } else { None };
        let (context, probs) = if let Some(context) = fused {
            (context, None)
        } else {
            let split = |t: Tensor<3>| t.reshape([batch, seq, h, dh]).swap_dims(1, 2);
            let (q, k, v) = (split(q), split(k), split(v));
            let scores = match relative {
                Some(relative) => relative.scores(q, k, self.pos_query.as_ref().unwrap_or(&self.query), self.pos_key.as_ref().unwrap_or(&self.key)),
                // Scaling q rather than the scores: the same product on a smaller tensor.
                None => q.mul_scalar(1.0 / (dh as f64).sqrt()).matmul(k.swap_dims(2, 3)),
            } + bias;
            let probs = softmax(scores, 3);
            let context = dropout(attention_dropout, probs.clone()).matmul(v).swap_dims(1, 2).reshape([batch, seq, d]);
            (context, with_attention.then_some(probs))
        };
        let attended = residual_norm(&self.attention_norm, linear(&self.attention_out, context), x, hidden_dropout, eps);
        let inner = linear_gelu(&self.intermediate, attended.clone());
        let out = residual_norm(&self.output_norm, linear(&self.output, inner), attended, hidden_dropout, eps);
        (out, probs)
    }
}

impl EncoderLayer {
    /// The layer's output for the first token of each row, `[batch, hidden]`: keys and values
    /// from every token, the rest from the first token's row alone (no relative context).
    fn first_token(&self, x: Tensor<3>, bias: Tensor<4>, (hidden_dropout, attention_dropout): (&Dropout, &Dropout), eps: f64) -> Tensor<2> {
        let [batch, seq, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let first = x.clone().slice([0..batch, 0..1, 0..d]);
        let heads = |t: Tensor<3>, rows: usize| t.reshape([batch, rows, h, dh]).swap_dims(1, 2);
        let q = heads(linear(&self.query, first.clone()), 1);
        let (k, v) = (heads(linear(&self.key, x.clone()), seq), heads(linear(&self.value, x), seq));
        // The bias's row for the first query where it has one per query (a position bias).
        let [b, bh, rows, _] = bias.dims();
        let bias = if rows > 1 { bias.slice([0..b, 0..bh, 0..1, 0..seq]) } else { bias };
        let scores = q.mul_scalar(1.0 / (dh as f64).sqrt()).matmul(k.swap_dims(2, 3)) + bias;
        let context = dropout(attention_dropout, softmax(scores, 3)).matmul(v).swap_dims(1, 2).reshape([batch, 1, d]);
        let attended = residual_norm(&self.attention_norm, linear(&self.attention_out, context), first, hidden_dropout, eps);
        let inner = linear_gelu(&self.intermediate, attended.clone());
        residual_norm(&self.output_norm, linear(&self.output, inner), attended, hidden_dropout, eps).reshape([batch, d])
    }
}

/// T5's bidirectional relative-position bucket of `query − key` (HF MPNet's
/// `relative_position_bucket`): half the buckets for each direction; within a direction, exact
/// distances below a quarter of the buckets, logarithmic ones above, up to `max_distance`.
fn relative_bucket(query_minus_key: i64, buckets: usize, max_distance: usize) -> usize {
    let half = buckets / 2;
    let mut bucket = if query_minus_key < 0 { half } else { 0 };
    let n = query_minus_key.unsigned_abs() as usize;
    let exact = half / 2;
    bucket += if n < exact {
        n
    } else {
        let log = ((n as f64 / exact as f64).ln() / (max_distance as f64 / exact as f64).ln() * (half - exact) as f64) as usize;
        (exact + log).min(half - 1)
    };
    bucket
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_buckets_follow_t5() {
        // As HF transformers computes them (MPNetEncoder.relative_position_bucket of key − query,
        // 32 buckets, max distance 128).
        let bucket = |query_minus_key| super::relative_bucket(query_minus_key, 32, 128);
        assert_eq!([0, 1, 7, 8, 15, 16].map(bucket), [0, 1, 7, 8, 9, 10]);
        assert_eq!([-1, -7, -8, -200].map(bucket), [17, 23, 24, 31]);
        assert_eq!(bucket(127), 15);
    }
}
