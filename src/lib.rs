//! # distiller
//!
//! Searches for, and recommends, the best knowledge-distillation pipeline for an NLP task,
//! after "Distiller: A Systematic Study of Model Distillation Methods in NLP" (He et al., 2021).
//!
//! This crate is both the `distiller` CLI and a library. The building blocks available now:
//!
//! - [`data`]: the GLUE registry and loaders (plus custom TSV/CSV/JSONL tasks), tokenization
//!   (a model's `tokenizer.json`, or BERT's `vocab.txt`), length-bucketed batches, GLUE metrics;
//! - [`model`]: an encoder (BERT, RoBERTa, ELECTRA, DistilBERT, MPNet, DeBERTa) whose forward pass returns
//!   logits, every hidden state and the attention maps; HF checkpoint loading and saving;
//! - [`train`]: AdamW with warm-up/decay, fine-tuning, evaluation;
//! - [`teacher`]: fine-tuning a pretrained encoder (all-MiniLM-L6-v2 by default) into a task
//!   teacher;
//! - [`augment`]: data augmentation (random, contextual, back-translation file, mixup), cached;
//! - [`distill`]: the KD losses, intermediate objectives (MI-α), layer mappings, the run;
//! - [`search`]: spaces, samplers (random, grid, BO) and the study loop; [`store`]: trials;
//! - [`recommend`]: pipelines for a new dataset from past studies (AutoDistiller);
//! - [`ops`]: every use case the CLI runs, one function each, for scripts too;
//! - [`workspace`]: the folder where teachers, caches, studies and students are kept.
//!
//! ```no_run
//! use distiller::data::{Split, Task, TextEncoder, load_split};
//! use distiller::model::load;
//! use distiller::train::evaluate;
//!
//! let device = distiller::backend::device(None)?;
//! let task = Task::resolve("sst2")?;
//! let teacher = load(std::path::Path::new(".distiller/teachers/sst2"), &device)?;
//! let encoder = TextEncoder::from_model_dir(&teacher.dir, 64)?;
//! let dev = load_split(&task, Split::Dev, None)?;
//! let split = distiller::data::encode_split(&encoder, &dev)?;
//! let metrics = evaluate(&teacher.model, &split.encoded, &split.labels, &task.label_kind(), task.metric(), encoder.pad_id(), &device);
//! println!("{metrics}");
//! # Ok::<(), distiller::Error>(())
//! ```

pub mod augment;
pub mod backend;
pub mod data;
pub mod distill;
pub mod error;
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod recommend;
pub mod report;
pub mod search;
pub mod store;
pub mod teacher;
pub mod train;
pub mod workspace;

pub use error::{Error, Result};
pub use pipeline::Pipeline;
