//! MI-α on correlated Gaussians with known MI, using the optimal critic: mean and std of I_α
//! over batches, for true MI ∈ {2, 4, 6, 8, 10} nats and α ∈ {0, 0.01, 0.1, 0.5, 0.9, 0.99, 1}.
//!
//! `cargo run --example mi_bounds` (batch 128, dim 20, 50 batches per cell).

use burn::tensor::{Tensor, TensorData};
use distiller::distill::mi::{gaussian, interpolated_bound};

fn main() {
    let device = distiller::backend::device(None).expect("a backend");
    let (batch, dim, batches) = (128, 20, 50);
    let alphas = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0];
    println!("batch {batch}, dim {dim}, {batches} batches per cell, optimal critic; log B = {:.3}", (batch as f64).ln());
    print!("| true MI |");
    for a in alphas {
        print!(" α={a} |");
    }
    println!();
    println!("|---:|{}", "---:|".repeat(alphas.len()));
    for mi in [2.0, 4.0, 6.0, 8.0, 10.0] {
        print!("| {mi} |");
        for alpha in alphas {
            let values: Vec<f64> = (0..batches)
                .map(|seed| {
                    let scores = gaussian::optimal_scores(batch, dim, mi, seed as u64);
                    let s = Tensor::<2>::from_data(TensorData::new(scores, [batch, batch]), &device);
                    let b = Tensor::<1>::zeros([batch], &device);
                    interpolated_bound(s, b, alpha).into_scalar::<f32>() as f64
                })
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt();
            print!(" {mean:.2} ± {std:.2} |");
        }
        println!();
    }
}
