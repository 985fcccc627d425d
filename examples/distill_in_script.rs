//! Distilling inside your own training loop: any two models behind the `Adaptor` trait, a
//! `Pipeline` parsed from TOML, `distillation_loss` per batch, your optimiser.
//!
//! `cargo run --example distill_in_script -- [TEACHER_DIR]` — TEACHER_DIR defaults to the
//! workspace teacher `.distiller/teachers/sst2` (make it with `distiller teacher --task sst2`).
//! Data: SST-2 from the usual GLUE locations (first 256 training rows).

use burn::module::Module;
use burn::optim::GradientsParams;
use distiller::Pipeline;
use distiller::data::{GlueTask, HostBatch, Label, Split, Task, TextEncoder, load_split, plan_batches};
use distiller::distill::{Adaptor, DistillHeads, Learner, TeacherTargets, build_student, distillation_loss};
use distiller::train::{AdamW, evaluate};

fn main() -> distiller::Result<()> {
    distiller::backend::tune_host_allocator();
    let teacher_dir = std::env::args().nth(1).unwrap_or_else(|| ".distiller/teachers/sst2".into());
    let teacher_dir = std::path::Path::new(&teacher_dir);
    let device = distiller::backend::device(None)?;
    let task = Task::Glue(GlueTask::Sst2);

    // 1. Models: a teacher (any Adaptor) and a student built the way the pipeline says.
    let pipeline: Pipeline = toml::from_str(
        r#"
        [kd]
        loss = "ce"
        temperature = 2.0
        [intermediate]
        objective = "mi"
        alpha = 0.9
        critic = "mlp"
        [student]
        layers = 2
        "#,
    )
    .expect("the pipeline above is valid TOML");
    pipeline.validate()?;
    let teacher = distiller::model::load(teacher_dir, &device)?;
    let student = build_student(&pipeline, teacher_dir, &teacher.config, &device)?;
    let heads = DistillHeads::new(&pipeline, student.config.hidden_size, student.config.num_hidden_layers, teacher.config.hidden_size, &device);

    // 2. Data, tokenized with the teacher's tokenizer.
    let encoder = TextEncoder::from_model_dir(teacher_dir, 64)?;
    let train: Vec<_> = load_split(&task, Split::Train, None)?.into_iter().take(256).collect();
    let dev = load_split(&task, Split::Dev, None)?;
    let (train_enc, dev_enc) = (encoder.encode_all(&train)?, encoder.encode_all(&dev)?);
    let dev_gold: Vec<Label> = dev.iter().map(|e| e.label).collect();

    // 3. Your loop: teacher forward (no cache here), student forward, the pipeline's loss.
    let ad = device.clone().autodiff();
    let mut learner = Learner { student: student.model, heads }.fork(&ad).train();
    let mut optim = AdamW::new(0.1, Some(1.0), &device);
    let teacher_model = teacher.model.valid();
    let layers: Vec<usize> = (0..=teacher.config.num_hidden_layers).collect();
    for (step, indices) in plan_batches(&train_enc, 16, Some(0)).into_iter().enumerate() {
        let batch = HostBatch::pad(&train_enc, &indices, encoder.pad_id());
        let gold: Vec<Label> = indices.iter().map(|&i| train[i].label).collect();
        let targets = TeacherTargets::from_outputs(teacher_model.outputs(&batch, &device, false), &layers).to_device(&ad);
        let out = learner.student.outputs(&batch, &ad, false);
        let loss = distillation_loss(&pipeline, &learner.heads, &out, &targets, &gold, &task.label_kind());
        let grads = GradientsParams::from_grads(loss.backward(), &learner);
        if step % 4 == 0 {
            println!("step {step}: loss {:.4}", loss.clone().into_scalar::<f32>());
        }
        learner = optim.step(1e-4, learner, grads);
    }
    let metrics = evaluate(&learner.student, &dev_enc, &dev_gold, &task.label_kind(), task.metric(), encoder.pad_id(), &device);
    println!("student after 256 rows: {metrics}");
    Ok(())
}
