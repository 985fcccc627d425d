//! Shared by the research examples that time work (each includes it with `#[path]`).

/// The CPU's model name, the vector extension the host kernels run (`kernels::isa`) and the widest
/// one the CPU has, which gemm dispatches on.
pub fn machine() -> String {
    use distiller::model::kernels::{Isa, isa};
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}; host kernels {}, gemm {}", isa().name(), Isa::widest().name())
}
