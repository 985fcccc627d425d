//! Teacher outputs computed once and reused by every later run and trial: logits (f32) and, when
//! an objective needs them, the mapped layers' hidden states or attention maps (f16, real tokens
//! only). Keyed by a content hash of (teacher weights + config, task, rows, max_len, layers,
//! feature), so any change to those is a different cache entry.

use burn::tensor::{Device, Tensor, TensorData};
use half::f16;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use super::adaptor::Adaptor;
use super::loss::TeacherTargets;
use crate::data::{Encoded, Example, HostBatch};
use crate::error::{Error, Result};
use crate::model::to_host;
use crate::train::eval::map_batches;

/// What to keep from the teacher besides logits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSpec {
    /// Layers whose hidden states are kept (0 = embeddings).
    pub hidden_layers: Vec<usize>,
    /// Layers whose attention maps are kept (1-based).
    pub attention_layers: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    key: String,
    rows: usize,
    num_labels: usize,
    hidden_size: usize,
    heads: usize,
    spec: CacheSpec,
    lengths: Vec<usize>,
}

/// Cached teacher outputs for one training set.
pub struct TeacherCache {
    header: Header,
    logits: Vec<f32>,
    /// Per row: hidden layers then attention layers, flattened, f16 bits.
    features: Vec<u16>,
    offsets: Vec<usize>,
}

const MAGIC: &[u8; 8] = b"DSTLTC01";

/// Content key of a cache entry.
pub fn cache_key(teacher_dir: &Path, task: &str, rows: &[Example], max_len: usize, spec: &CacheSpec) -> Result<String> {
    let mut hash = Sha256::new();
    for path in [crate::model::weights_file(teacher_dir)?, teacher_dir.join(crate::model::checkpoint::CONFIG_FILE)] {
        hash.update(std::fs::read(&path).map_err(|e| Error::io(&path, e))?);
    }
    hash.update(task.as_bytes());
    hash.update(serde_json::to_vec(rows).expect("rows serialise"));
    hash.update(max_len.to_le_bytes());
    hash.update(serde_json::to_vec(spec).expect("spec serialises"));
    Ok(hash.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect())
}

impl TeacherCache {
    fn row_width(&self, n: usize) -> usize {
        let len = self.header.lengths[n];
        self.header.spec.hidden_layers.len() * len * self.header.hidden_size + self.header.spec.attention_layers.len() * self.header.heads * len * len
    }

    /// Runs the teacher over `encoded` and keeps what `spec` asks for. The teacher should be in
    /// eval mode (no dropout) on `device`'s inner (non-autodiff) device.
    pub fn build(key: String, teacher: &(dyn Adaptor + Sync), encoded: &[Encoded], spec: CacheSpec, pad_id: u32, device: &Device) -> Self {
        let device = device.clone().inner();
        let n = encoded.len();
        let lengths: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
        let mut logits = vec![Vec::new(); n];
        let mut rows: Vec<Vec<u16>> = vec![Vec::new(); n];
        let (mut hidden_size, mut heads, mut num_labels) = (0, 0, 0);
        let with_attention = !spec.attention_layers.is_empty();
        let batches = map_batches(encoded, 64, pad_id, &device, |batch| {
            let out = teacher.outputs(batch, &device, with_attention);
            let hidden: Vec<(Vec<f32>, usize)> = spec.hidden_layers.iter().map(|&layer| (to_host(out.hidden[layer].clone()), out.hidden[layer].dims()[2])).collect();
            let attention: Vec<(Vec<f32>, usize)> =
                spec.attention_layers.iter().map(|&layer| (to_host(out.attentions[layer - 1].clone()), out.attentions[layer - 1].dims()[1])).collect();
            (batch.width, out.logits.dims()[1], to_host(out.logits), hidden, attention)
        });
        for (indices, (w, c, l, hidden, attention)) in batches {
            num_labels = c;
            for (r, &idx) in indices.iter().enumerate() {
                let len = lengths[idx];
                logits[idx] = l[r * c..(r + 1) * c].to_vec();
                let row = &mut rows[idx];
                for (values, d) in &hidden {
                    hidden_size = *d;
                    for t in 0..len {
                        let start = (r * w + t) * d;
                        row.extend(values[start..start + d].iter().map(|&v| f16::from_f32(v).to_bits()));
                    }
                }
                for (values, h) in &attention {
                    heads = *h;
                    for head in 0..*h {
                        for q in 0..len {
                            let start = ((r * h + head) * w + q) * w;
                            row.extend(values[start..start + len].iter().map(|&v| f16::from_f32(v).to_bits()));
                        }
                    }
                }
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for r in &rows {
            offsets.push(offsets.last().unwrap() + r.len());
        }
        let header = Header { key, rows: n, num_labels, hidden_size, heads, spec, lengths };
        Self { header, logits: logits.concat(), features: rows.concat(), offsets }
    }

    pub fn rows(&self) -> usize {
        self.header.rows
    }

    /// Size of the cached data in bytes.
    pub fn bytes(&self) -> usize {
        self.logits.len() * 4 + self.features.len() * 2
    }

    /// Teacher logits of one row.
    pub fn logits(&self, row: usize) -> &[f32] {
        let c = self.header.num_labels;
        &self.logits[row * c..(row + 1) * c]
    }

    /// The teacher's side of a padded batch, as tensors on `device`.
    pub fn targets(&self, batch: &HostBatch, device: &Device) -> TeacherTargets {
        let (b, w, c) = (batch.rows, batch.width, self.header.num_labels);
        let logits: Vec<f32> = batch.indices.iter().flat_map(|&i| self.logits(i).iter().copied()).collect();
        let logits = Tensor::<2>::from_data(TensorData::new(logits, [b, c]), device);
        let (d, heads) = (self.header.hidden_size, self.header.heads);
        let mut hidden = BTreeMap::new();
        let mut attentions = BTreeMap::new();
        let n_hidden = self.header.spec.hidden_layers.len();
        for (k, &layer) in self.header.spec.hidden_layers.iter().enumerate() {
            let mut data = vec![0f32; b * w * d];
            for (r, &i) in batch.indices.iter().enumerate() {
                let len = self.header.lengths[i];
                let start = self.offsets[i] + k * len * d;
                for (dst, &bits) in data[r * w * d..r * w * d + len * d].iter_mut().zip(&self.features[start..start + len * d]) {
                    *dst = f16::from_bits(bits).to_f32();
                }
            }
            hidden.insert(layer, Tensor::<3>::from_data(TensorData::new(data, [b, w, d]), device));
        }
        for (k, &layer) in self.header.spec.attention_layers.iter().enumerate() {
            let mut data = vec![0f32; b * heads * w * w];
            for (r, &i) in batch.indices.iter().enumerate() {
                let len = self.header.lengths[i];
                let mut src = self.offsets[i] + n_hidden * len * d + k * heads * len * len;
                for head in 0..heads {
                    for q in 0..len {
                        let dst = ((r * heads + head) * w + q) * w;
                        for (o, &bits) in data[dst..dst + len].iter_mut().zip(&self.features[src..src + len]) {
                            *o = f16::from_bits(bits).to_f32();
                        }
                        src += len;
                    }
                }
            }
            attentions.insert(layer, Tensor::<4>::from_data(TensorData::new(data, [b, heads, w, w]), device));
        }
        TeacherTargets { logits, hidden, attentions }
    }

    /// Writes the cache atomically (temporary file, then rename); a failed write (a full disk)
    /// leaves no temporary file behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        self.write_to(&tmp).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    fn write_to(&self, tmp: &Path) -> Result<()> {
        let io = |e| Error::io(tmp, e);
        let mut f = std::io::BufWriter::new(std::fs::File::create(tmp).map_err(io)?);
        let header = serde_json::to_vec(&self.header).expect("header serialises");
        f.write_all(MAGIC).map_err(io)?;
        f.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
        f.write_all(&header).map_err(io)?;
        f.write_all(&(self.features.len() as u64).to_le_bytes()).map_err(io)?;
        for v in &self.logits {
            f.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        for v in &self.features {
            f.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)
    }

    /// Reads a cache file, checking its magic, key and sizes.
    pub fn load(path: &Path, expected_key: &str) -> Result<Self> {
        let bad = |m: &str| Error::checkpoint(path, format!("teacher cache: {m}"));
        let mut bytes = Vec::new();
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad("not a distiller teacher cache"));
        }
        let hlen = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let header: Header = bytes.get(16..16 + hlen).and_then(|h| serde_json::from_slice(h).ok()).ok_or_else(|| bad("corrupt header"))?;
        if header.key != expected_key {
            return Err(bad("key mismatch"));
        }
        let mut pos = 16 + hlen;
        let nfeat = bytes.get(pos..pos + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize).ok_or_else(|| bad("truncated"))?;
        pos += 8;
        let nlogits = header.rows * header.num_labels;
        if bytes.len() != pos + nlogits * 4 + nfeat * 2 {
            return Err(bad("truncated or oversized"));
        }
        let logits = bytes[pos..pos + nlogits * 4].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        pos += nlogits * 4;
        let features: Vec<u16> = bytes[pos..].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
        let mut cache = Self { header, logits, features, offsets: Vec::new() };
        let mut offsets = vec![0];
        for n in 0..cache.header.rows {
            offsets.push(offsets[n] + cache.row_width(n));
        }
        if *offsets.last().unwrap() != cache.features.len() {
            return Err(bad("feature sizes do not match the header"));
        }
        cache.offsets = offsets;
        Ok(cache)
    }
}
