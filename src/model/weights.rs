//! Where a model's initial values come from: random init, an HF/own safetensors file, or a
//! teacher's layers remapped onto a shallower student. One builder serves all three, so loading
//! and initialising cannot drift apart.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::family::Family;
use crate::error::{Error, Result};

/// How a fresh tensor is initialised (BERT: N(0, 0.02) weights, zero biases, unit LayerNorm scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    Normal,
    Zeros,
    Ones,
}

/// A supplier of named tensors in HF layout (`Linear` weights as `[out, in]`), row-major f32.
pub trait WeightSource {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>>;
}

/// BERT's initialisation, deterministic for a seed.
pub struct RandomInit {
    rng: StdRng,
    std: f32,
}

impl RandomInit {
    pub fn new(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), std: 0.02 }
    }
}

impl WeightSource for RandomInit {
    fn tensor(&mut self, _name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        let n = shape.iter().product();
        Ok(match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal => (0..n).map(|_| standard_normal(&mut self.rng) * self.std).collect(),
        })
    }
}

/// The weights file HF writes in a checkpoint directory: `model.safetensors`, else the older
/// `pytorch_model.bin` (`torch.save`'s zip of a pickled state dict).
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    [SAFETENSORS_FILE, PYTORCH_FILE]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::checkpoint(dir, format!("no weights: neither {SAFETENSORS_FILE} nor {PYTORCH_FILE}")))
}

/// The weights file distiller writes, and HF's default.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// HF's weights file before safetensors; read, never written.
pub const PYTORCH_FILE: &str = "pytorch_model.bin";

/// Tensors read from a checkpoint's weights file (safetensors or `pytorch_model.bin`;
/// f32/f16/bf16), under the BERT names the model asks for: the family's names translated
/// ([`Family::model_name`], its prefix dropped) and TF-style `LayerNorm.gamma/beta` read as
/// `weight/bias`.
pub struct CheckpointWeights {
    path: PathBuf,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// Names that may be absent (e.g. a task head when starting from a pretrained encoder);
    /// they fall back to `fallback`.
    optional_prefixes: Vec<String>,
    fallback: RandomInit,
    /// Names that fell back to random init, reported to the user.
    pub initialised: Vec<String>,
}

fn normalise_name(family: Family, name: &str) -> String {
    family.model_name(&name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"))
}

/// Little-endian f32/f16/bf16 bytes as f32.
fn floats(dtype: FloatType, data: &[u8]) -> Vec<f32> {
    match dtype {
        FloatType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        FloatType::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        FloatType::Bf16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
    }
}

/// The element types parameters are stored in; both readers skip other tensors (integer
/// buffers such as `position_ids` are not parameters).
#[derive(Clone, Copy)]
enum FloatType {
    F32,
    F16,
    Bf16,
}

impl CheckpointWeights {
    /// Reads the weights of a checkpoint directory of `family` ([`weights_file`]).
    pub fn open_dir(dir: &Path, family: Family) -> Result<Self> {
        Self::open(&weights_file(dir)?, family)
    }

    /// Reads a weights file of `family`: `pytorch_model.bin` (or any `.bin`/`.pt`/`.pth`) as
    /// torch saves it, anything else as safetensors.
    pub fn open(path: &Path, family: Family) -> Result<Self> {
        let torch = matches!(path.extension().and_then(|e| e.to_str()), Some("bin" | "pt" | "pth"));
        let raw = if torch { read_torch(path)? } else { read_safetensors(path)? };
        let tensors = raw.into_iter().map(|(name, shape, values)| (normalise_name(family, &name), (shape, values))).collect();
        Ok(Self { path: path.into(), tensors, optional_prefixes: Vec::new(), fallback: RandomInit::new(0), initialised: Vec::new() })
    }

    /// A tensor by (normalised) name, if the file has it: for optional extras such as an MLM head.
    pub fn get(&self, name: &str) -> Option<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name)
    }

    /// Lets names under these prefixes be missing; they are initialised randomly with `seed`.
    pub fn allow_missing(mut self, prefixes: &[&str], seed: u64) -> Self {
        self.optional_prefixes = prefixes.iter().map(|s| s.to_string()).collect();
        self.fallback = RandomInit::new(seed);
        self
    }

    /// Leaves out the file's tensors under `prefix`, so they are initialised afresh (they must
    /// also be allowed missing).
    pub fn without(mut self, prefix: &str) -> Self {
        self.tensors.retain(|name, _| !name.starts_with(prefix));
        self
    }
}

impl WeightSource for CheckpointWeights {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        match self.tensors.get(name) {
            Some((found, values)) if found.as_slice() == shape => Ok(values.clone()),
            Some((found, _)) => Err(Error::checkpoint(&self.path, format!("tensor `{name}` has shape {found:?}, expected {shape:?}"))),
            None if self.optional_prefixes.iter().any(|p| name.starts_with(p.as_str())) => {
                self.initialised.push(name.to_string());
                self.fallback.tensor(name, shape, init)
            }
            None => Err(Error::checkpoint(&self.path, format!("missing tensor `{name}` (shape {shape:?})"))),
        }
    }
}

type NamedTensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn read_safetensors(path: &Path) -> Result<NamedTensors> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::checkpoint(path, format!("not a safetensors file: {e}")))?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        use safetensors::Dtype;
        let dtype = match view.dtype() {
            Dtype::F32 => FloatType::F32,
            Dtype::F16 => FloatType::F16,
            Dtype::BF16 => FloatType::Bf16,
            _ => continue,
        };
        tensors.push((name, view.shape().to_vec(), floats(dtype, view.data())));
    }
    Ok(tensors)
}

fn read_torch(path: &Path) -> Result<NamedTensors> {
    use pytorch_reader::DType;
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| Error::checkpoint(path, format!("not a PyTorch checkpoint: {e}")))?;
    let mut tensors = Vec::new();
    for (name, tensor) in reader.into_tensors() {
        let dtype = match tensor.dtype() {
            DType::F32 => FloatType::F32,
            DType::F16 => FloatType::F16,
            DType::BF16 => FloatType::Bf16,
            _ => continue,
        };
        // The reader returns native-endian bytes; every target distiller builds for is little-endian.
        let data = tensor.read().map_err(|e| Error::checkpoint(path, e.to_string()))?;
        tensors.push((name, tensor.shape().to_vec(), floats(dtype, &data)));
    }
    Ok(tensors)
}

/// Builds a shallower student from a teacher's weights (DistilBERT-style): student layer `i`
/// reads teacher layer `layers[i]`; embeddings and head are shared names.
pub struct LayerSubset<S> {
    pub inner: S,
    pub layers: Vec<usize>,
}

impl<S> LayerSubset<S> {
    /// Keeps `kept` evenly spaced layers of a `depth`-layer model (0-based encoder layers), the
    /// last one always among them.
    pub fn evenly_spaced(inner: S, kept: usize, depth: usize) -> Self {
        Self { inner, layers: (1..=kept).map(|i| (i * depth) / kept - 1).collect() }
    }
}

impl<S: WeightSource> WeightSource for LayerSubset<S> {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        let mapped = match name.strip_prefix("encoder.layer.") {
            Some(rest) => {
                let (idx, tail) = rest.split_once('.').unwrap_or((rest, ""));
                let student: usize = idx.parse().map_err(|_| Error::ModelConfig(format!("bad layer name {name}")))?;
                let teacher = *self.layers.get(student).ok_or_else(|| Error::ModelConfig(format!("no teacher layer for student layer {student}")))?;
                format!("encoder.layer.{teacher}.{tail}")
            }
            None => name.to_string(),
        };
        self.inner.tensor(&mapped, shape, init)
    }
}

/// Writes named tensors (HF layout) to a safetensors file.
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).map_err(|e| Error::checkpoint(path, e.to_string()))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| Error::checkpoint(path, e.to_string()))
}

/// Standard normal samples without pulling in `rand_distr` (Box–Muller).
pub(crate) fn standard_normal(rng: &mut impl rand::Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
