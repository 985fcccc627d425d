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

impl Header {
    /// How many f16 values row `n` keeps (`None` where a corrupt header overflows).
    fn row_width(&self, n: usize) -> Option<usize> {
        feature_width(*self.lengths.get(n)?, self.spec.hidden_layers.len(), self.hidden_size, self.spec.attention_layers.len(), self.heads)
    }
}

/// The f16 values a row of `len` tokens keeps: `hidden_layers` states of `hidden_size` per token,
/// then `attention_layers` maps of `heads × len × len` (`None` on overflow).
fn feature_width(len: usize, hidden_layers: usize, hidden_size: usize, attention_layers: usize, heads: usize) -> Option<usize> {
    let hidden = hidden_layers.checked_mul(len)?.checked_mul(hidden_size)?;
    let attention = attention_layers.checked_mul(heads)?.checked_mul(len.checked_mul(len)?)?;
    hidden.checked_add(attention)
}

/// Cached teacher outputs for one training set.
pub struct TeacherCache {
    header: Header,
    logits: Vec<f32>,
    /// One vector per row, each allocated once at its size (a cache can be gigabytes; one
    /// contiguous block would be copied whole when built or read): hidden layers then attention
    /// layers, flattened, f16 bits.
    features: Vec<Vec<u16>>,
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
    /// Runs the teacher over `encoded` and keeps what `spec` asks for. The teacher should be in
    /// eval mode (no dropout) on `device`'s inner (non-autodiff) device. Each batch is turned into
    /// its rows' f16 values as soon as it is computed, so that the f32 outputs of one batch at a
    /// time (per thread) are alive, never the whole training set's.
    pub fn build(key: String, teacher: &(dyn Adaptor + Sync), encoded: &[Encoded], spec: CacheSpec, pad_id: u32, device: &Device) -> Self {
        let device = device.clone().inner();
        let n = encoded.len();
        let lengths: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
        let with_attention = !spec.attention_layers.is_empty();
        let batches = map_batches(encoded, 64, pad_id, &device, |batch| {
            // Logits alone: the teacher may skip what they do not depend on.
            let (logits, hidden, attention) = if spec.hidden_layers.is_empty() && !with_attention {
                (teacher.logits(batch, &device), Vec::new(), Vec::new())
            } else {
                let out = teacher.outputs(batch, &device, with_attention);
                let hidden: Vec<(Vec<f32>, usize)> = spec.hidden_layers.iter().map(|&layer| (to_host(out.hidden[layer].clone()), out.hidden[layer].dims()[2])).collect();
                let attention: Vec<(Vec<f32>, usize)> =
                    spec.attention_layers.iter().map(|&layer| (to_host(out.attentions[layer - 1].clone()), out.attentions[layer - 1].dims()[1])).collect();
                (out.logits, hidden, attention)
            };
            let (w, c) = (batch.width, logits.dims()[1]);
            let logits = to_host(logits);
            let rows: Vec<(Vec<f32>, Vec<u16>)> = batch
                .indices
                .iter()
                .enumerate()
                .map(|(r, &idx)| {
                    let len = lengths[idx];
                    let width = feature_width(len, hidden.len(), hidden.first().map_or(0, |(_, d)| *d), attention.len(), attention.first().map_or(0, |(_, h)| *h));
                    let mut row = Vec::with_capacity(width.unwrap_or(0));
                    for (values, d) in &hidden {
                        for t in 0..len {
                            let start = (r * w + t) * d;
                            row.extend(values[start..start + d].iter().map(|&v| f16::from_f32(v).to_bits()));
                        }
                    }
                    for (values, h) in &attention {
                        for head in 0..*h {
                            for q in 0..len {
                                let start = ((r * h + head) * w + q) * w;
                                row.extend(values[start..start + len].iter().map(|&v| f16::from_f32(v).to_bits()));
                            }
                        }
                    }
                    (logits[r * c..(r + 1) * c].to_vec(), row)
                })
                .collect();
            (rows, c, hidden.first().map(|(_, d)| *d), attention.first().map(|(_, h)| *h))
        });
        let (mut hidden_size, mut heads, mut num_labels) = (0, 0, 0);
        let mut logits = vec![Vec::new(); n];
        let mut rows: Vec<Vec<u16>> = vec![Vec::new(); n];
        for (indices, (batch_rows, c, d, h)) in batches {
            num_labels = c;
            hidden_size = d.unwrap_or(hidden_size);
            heads = h.unwrap_or(heads);
            for (idx, (l, row)) in indices.into_iter().zip(batch_rows) {
                logits[idx] = l;
                rows[idx] = row;
            }
        }
        let header = Header { key, rows: n, num_labels, hidden_size, heads, spec, lengths };
        Self { header, logits: logits.concat(), features: rows }
    }

    pub fn rows(&self) -> usize {
        self.header.rows
    }

    /// Size of the cached data in bytes.
    pub fn bytes(&self) -> usize {
        self.logits.len() * 4 + self.features.iter().map(Vec::len).sum::<usize>() * 2
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
                let start = k * len * d;
                for (dst, &bits) in data[r * w * d..r * w * d + len * d].iter_mut().zip(&self.features[i][start..start + len * d]) {
                    *dst = f16::from_bits(bits).to_f32();
                }
            }
            hidden.insert(layer, Tensor::<3>::from_data(TensorData::new(data, [b, w, d]), device));
        }
        for (k, &layer) in self.header.spec.attention_layers.iter().enumerate() {
            let mut data = vec![0f32; b * heads * w * w];
            for (r, &i) in batch.indices.iter().enumerate() {
                let len = self.header.lengths[i];
                let mut src = n_hidden * len * d + k * heads * len * len;
                for head in 0..heads {
                    for q in 0..len {
                        let dst = ((r * heads + head) * w + q) * w;
                        for (o, &bits) in data[dst..dst + len].iter_mut().zip(&self.features[i][src..src + len]) {
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
        f.write_all(&(self.features.iter().map(Vec::len).sum::<usize>() as u64).to_le_bytes()).map_err(io)?;
        for v in &self.logits {
            f.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        for v in self.features.iter().flatten() {
            f.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)
    }

    /// Reads a cache file, checking its magic, key and sizes (all before anything large is
    /// allocated), one row at a time.
    pub fn load(path: &Path, expected_key: &str) -> Result<Self> {
        let bad = |m: &str| Error::checkpoint(path, format!("teacher cache: {m}"));
        let io = |e| Error::io(path, e);
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let mut f = std::io::BufReader::new(file);
        let mut prefix = [0u8; 16];
        if size < 16 || f.read_exact(&mut prefix).is_err() || &prefix[..8] != MAGIC {
            return Err(bad("not a distiller teacher cache"));
        }
        let hlen = u64::from_le_bytes(prefix[8..16].try_into().unwrap());
        if hlen > size - 16 {
            return Err(bad("corrupt header"));
        }
        let mut bytes = vec![0u8; hlen as usize];
        f.read_exact(&mut bytes).map_err(io)?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|_| bad("corrupt header"))?;
        if header.key != expected_key {
            return Err(bad("key mismatch"));
        }
        let mut word = [0u8; 8];
        f.read_exact(&mut word).map_err(|_| bad("truncated"))?;
        let nfeat = u64::from_le_bytes(word);
        let widths: Option<Vec<usize>> = if header.lengths.len() == header.rows { (0..header.rows).map(|n| header.row_width(n)).collect() } else { None };
        let widths = widths.ok_or_else(|| bad("corrupt header"))?;
        if widths.iter().try_fold(0u64, |sum, &w| sum.checked_add(w as u64)) != Some(nfeat) {
            return Err(bad("feature sizes do not match the header"));
        }
        let nlogits = header.rows.checked_mul(header.num_labels).ok_or_else(|| bad("corrupt header"))?;
        let expected = (16 + hlen + 8).checked_add(nlogits as u64 * 4).and_then(|n| n.checked_add(nfeat.checked_mul(2)?));
        if expected != Some(size) {
            return Err(bad("truncated or oversized"));
        }
        bytes.resize(nlogits * 4, 0);
        f.read_exact(&mut bytes).map_err(io)?;
        let logits = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        let mut features = Vec::with_capacity(header.rows);
        for width in widths {
            bytes.resize(width * 2, 0);
            f.read_exact(&mut bytes).map_err(io)?;
            features.push(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect());
        }
        Ok(Self { header, logits, features })
    }
}
