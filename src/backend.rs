//! Backend choice at the edge: the library is written once against burn's runtime `Device`;
//! which backends exist is decided by cargo features, which one runs by `--backend`.

use crate::error::{Error, Result};
use burn::tensor::Device;

/// A compute backend (`--backend`); which ones exist in a build is decided by cargo features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default).
    Flex,
    /// burn's ndarray CPU backend (feature `ndarray`).
    Ndarray,
    /// libtorch on the CPU (feature `tch`).
    Tch,
    /// libtorch on the first CUDA GPU (feature `tch`).
    TchCuda,
    /// burn's CUDA backend on the first GPU (feature `cuda`).
    Cuda,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Tch => "tch",
            Backend::TchCuda => "tch-cuda",
            Backend::Cuda => "cuda",
        }
    }
}

/// The backends compiled into this build, in order of preference for the default.
pub fn available() -> Vec<Backend> {
    #[allow(unused_mut)]
    let mut backends = vec![
        #[cfg(feature = "flex")]
        Backend::Flex,
    ];
    #[cfg(feature = "ndarray")]
    backends.push(Backend::Ndarray);
    #[cfg(feature = "tch")]
    backends.extend([Backend::Tch, Backend::TchCuda]);
    #[cfg(feature = "cuda")]
    backends.push(Backend::Cuda);
    backends
}

/// The device of a backend; `None` picks the first compiled one.
pub fn device(backend: Option<Backend>) -> Result<Device> {
    let compiled = available();
    let backend = backend.or(compiled.first().copied()).ok_or_else(|| Error::Backend("no backend compiled in (enable feature flex, ndarray, tch or cuda)".into()))?;
    match backend {
        #[cfg(feature = "flex")]
        Backend::Flex => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        Backend::Ndarray => Ok(Device::ndarray()),
        #[cfg(feature = "tch")]
        Backend::Tch => Ok(Device::libtorch()),
        #[cfg(feature = "tch")]
        Backend::TchCuda => Ok(Device::libtorch_cuda(0usize)),
        #[cfg(feature = "cuda")]
        Backend::Cuda => Ok(Device::cuda(0usize)),
        #[allow(unreachable_patterns)]
        other => Err(Error::Backend(format!("backend `{}` is not compiled in (available: {})", other.name(), compiled.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")))),
    }
}

/// Whether tensors on `device` live in host memory: there, work that burn would split into many
/// tensor ops (dropout masks, the optimiser step) is cheaper done in one pass over host slices.
pub fn host_memory(device: &Device) -> bool {
    let plain = device.clone().inner();
    #[cfg(feature = "flex")]
    if plain == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if plain == Device::ndarray() {
        return true;
    }
    let _ = plain;
    false
}

/// Tunes glibc's allocator for training on the host: every tensor comes from the heap (never a
/// fresh `mmap`, not even the 47 MB word-embedding gradient) and freed memory is kept for reuse
/// instead of being trimmed, so a training step stops paying page faults and page zeroing for
/// every buffer it allocates (measured: +38 % train-step samples/s with flex, and +9–18 % more
/// once `mmap` is off for large buffers too; docs/performance.md). The CLI calls it first
/// thing; call it at the start of your own program's `main`. A no-op on other C libraries.
pub fn tune_host_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}

/// Runs `init` with burn's random generator seeded from `seed`. burn keeps one generator per
/// process, left unseeded (entropy) until someone seeds it, so modules built with burn's own
/// initialisers (the distillation heads, the MI critic) would otherwise start differently on
/// every run. A lock keeps two initialisations in one process from interleaving their draws.
pub fn seeded_init<T>(device: &Device, seed: u64, init: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    init()
}
