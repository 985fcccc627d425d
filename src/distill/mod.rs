//! Distillation: prediction-layer KD, intermediate objectives (MI-α included), layer mappings,
//! the model adaptor, the teacher cache and the run that ties them together.

pub mod adaptor;
pub mod alignment;
pub mod intermediate;
pub mod kd;
pub mod loss;
pub mod mapping;
pub mod mi;
pub mod teacher_cache;
pub mod trainer;

pub use adaptor::{Adaptor, ModelOutputs};
pub use loss::{DistillHeads, Learner, TeacherTargets, distillation_loss};
pub use teacher_cache::{CacheSpec, TeacherCache};
pub use trainer::{DistillJob, DistillOutcome, Student, build_student, distill};
