use burn::tensor::{Device, Tensor, Distribution};
use std::time::Instant;
fn main() {
    distiller::backend::tune_host_allocator();
    let device = Device::flex();
    for &(m, k, n) in &[(2048usize, 384usize, 384usize), (2048, 384, 1536), (2048, 1536, 384), (384, 2048, 384)] {
        let a = Tensor::<2>::random([m, k], Distribution::Default, &device);
        let b = Tensor::<2>::random([k, n], Distribution::Default, &device);
        let iters = 30;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..iters {
                let c = a.clone().matmul(b.clone());
                std::hint::black_box(c);
            }
            best = best.min(t.elapsed().as_secs_f64() / iters as f64);
        }
        println!("flex {m}x{k}x{n}: {:.1} GFLOP/s", 2.0 * (m * k * n) as f64 / best / 1e9);
    }
}
