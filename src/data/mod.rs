//! Tasks and their data: the GLUE registry, loaders for GLUE and user files, tokenization,
//! batching with dynamic padding, and the GLUE metrics.

pub mod batch;
pub mod load;
pub mod meta;
pub mod metrics;
pub mod task;
pub mod tokenize;

pub use batch::{HostBatch, plan_batches};
pub use load::{Example, Label, check_data, data_dir_candidates, load_glue_file, load_split, locate, read_utf8, subsample};
pub use meta::{DatasetMeta, MetaSource, TaskType, task_meta};
pub use metrics::{Metrics, compute as compute_metrics};
pub use task::{CustomTask, FileFormat, GlueTask, LabelKind, MetricKind, Split, Task};
pub use tokenize::{Encoded, EncodedSplit, TextEncoder, encode_split};
