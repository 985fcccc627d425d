//! Training machinery shared by fine-tuning and distillation: optimiser and schedule, the
//! fine-tuning loop, evaluation, progress.

pub mod eval;
pub mod finetune;
pub mod optim;
pub mod progress;

pub use eval::{EVAL_BATCH, evaluate, predict_logits, predictions, score_logits, task_loss};
pub use finetune::{BatchLoss, EpochReport, FineTuneConfig, batch_gradients, fine_tune, run_epochs};
pub use optim::{AdamW, HostAdamW, LinearSchedule, RateFactors};
pub use progress::Progress;
