//! Tokenization (HF `tokenizers`): from a model's `tokenizer.json` (WordPiece, BPE or any other
//! model it describes, with the family's special tokens and pair layout), or built from a BERT
//! `vocab.txt`; sentence pairs; truncation to `max_len`. Padding happens per batch, later.

use std::path::{Path, PathBuf};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, EncodeInput, Tokenizer, TruncationParams};

use super::load::{Example, Label};
use crate::error::{Error, Result};

/// One tokenized example: ids and segment ids, unpadded.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// A model's tokenizer with a fixed truncation length.
pub struct TextEncoder {
    inner: Tokenizer,
    source: PathBuf,
    pad_id: u32,
}

impl TextEncoder {
    /// Loads `tokenizer.json` from a model directory, or builds one from its `vocab.txt`
    /// (uncased BERT normalisation).
    pub fn from_model_dir(dir: &Path, max_len: usize) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        if json.is_file() {
            Self::from_tokenizer_json(&json, max_len)
        } else if vocab.is_file() {
            Self::from_vocab(&vocab, max_len)
        } else {
            Err(Error::Tokenizer { path: dir.to_path_buf(), message: "no tokenizer.json or vocab.txt".into() })
        }
    }

    pub fn from_tokenizer_json(path: &Path, max_len: usize) -> Result<Self> {
        let inner = Tokenizer::from_file(path).map_err(|e| Error::Tokenizer { path: path.into(), message: e.to_string() })?;
        Self::finish(inner, path, max_len)
    }

    pub fn from_vocab(path: &Path, max_len: usize) -> Result<Self> {
        let err = |e: String| Error::Tokenizer { path: path.into(), message: e };
        let wordpiece = WordPiece::from_file(&path.to_string_lossy()).unk_token("[UNK]".into()).build().map_err(|e| err(e.to_string()))?;
        let mut inner = Tokenizer::new(wordpiece);
        let special = |t: &str, inner: &Tokenizer| inner.token_to_id(t).ok_or_else(|| err(format!("vocabulary lacks {t}")));
        let (cls, sep) = (special("[CLS]", &inner)?, special("[SEP]", &inner)?);
        inner
            .with_normalizer(Some(BertNormalizer::default()))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
        // Special tokens written in text (e.g. `[MASK]`) are read whole, as tokenizer.json does.
        let specials: Vec<AddedToken> =
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].into_iter().filter(|t| inner.token_to_id(t).is_some()).map(|t| AddedToken::from(t, true)).collect();
        inner.add_special_tokens(&specials);
        Self::finish(inner, path, max_len)
    }

    fn finish(mut inner: Tokenizer, path: &Path, max_len: usize) -> Result<Self> {
        let err = |e: String| Error::Tokenizer { path: path.into(), message: e };
        if max_len < 4 {
            return Err(err(format!("max_len {max_len} is too short (at least 4)")));
        }
        // BERT's `[PAD]` or RoBERTa's and MPNet's `<pad>`, unless the file says which.
        let pad_id = inner.get_padding().map(|p| p.pad_id).or_else(|| ["[PAD]", "<pad>"].iter().find_map(|t| inner.token_to_id(t))).unwrap_or(0);
        inner.with_padding(None);
        inner.with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() })).map_err(|e| err(e.to_string()))?;
        Ok(Self { inner, source: path.into(), pad_id })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Every token, indexed by id (ids missing from the vocabulary map to "").
    pub fn vocabulary(&self) -> Vec<String> {
        let vocab = self.inner.get_vocab(true);
        let mut tokens = vec![String::new(); vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0)];
        for (token, id) in vocab {
            tokens[id as usize] = token;
        }
        tokens
    }

    /// The ids of the special tokens (`[CLS]`, `<s>`, `[PAD]`, …), which the tokenizer adds
    /// around and between texts rather than reading from them.
    pub fn special_ids(&self) -> std::collections::HashSet<u32> {
        self.inner.get_added_tokens_decoder().into_iter().filter(|(_, t)| t.special).map(|(id, _)| id).collect()
    }

    /// Encodes one text or text pair, with [CLS]/[SEP] and truncation.
    pub fn encode(&self, text_a: &str, text_b: Option<&str>) -> Result<Encoded> {
        let input: EncodeInput = match text_b {
            Some(b) => (text_a, b).into(),
            None => text_a.into(),
        };
        let enc = self.inner.encode(input, true).map_err(|e| Error::Tokenizer { path: self.source.clone(), message: e.to_string() })?;
        Ok(Encoded { ids: enc.get_ids().to_vec(), type_ids: enc.get_type_ids().to_vec() })
    }

    /// Encodes a whole split (in parallel).
    pub fn encode_all(&self, examples: &[Example]) -> Result<Vec<Encoded>> {
        use rayon::prelude::*;
        examples.par_iter().map(|e| self.encode(&e.text_a, e.text_b.as_deref())).collect()
    }
}

/// A split ready for training: encodings and gold labels side by side.
pub struct EncodedSplit {
    pub encoded: Vec<Encoded>,
    pub labels: Vec<Label>,
}

/// Tokenizes a split into what the training loop consumes.
pub fn encode_split(encoder: &TextEncoder, rows: &[Example]) -> Result<EncodedSplit> {
    Ok(EncodedSplit { encoded: encoder.encode_all(rows)?, labels: rows.iter().map(|e| e.label).collect() })
}
