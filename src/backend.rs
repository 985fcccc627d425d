//! Backend choice at the edge: the library is written once against burn's runtime `Device`;
//! which backends exist is decided by cargo features, which one runs by `--backend`.

use crate::error::{Error, Result};
use burn::tensor::Device;

/// The backends compiled into this build, in order of preference for the default.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    #[cfg(feature = "flex")]
    names.push("flex");
    #[cfg(feature = "ndarray")]
    names.push("ndarray");
    #[cfg(feature = "tch")]
    names.extend(["tch", "tch-cuda"]);
    #[cfg(feature = "cuda")]
    names.push("cuda");
    names
}

/// The device for a backend name (`flex`, `ndarray`, `tch`, `tch-cuda`, `cuda`); `None` picks the
/// first compiled one.
pub fn device(name: Option<&str>) -> Result<Device> {
    let names = available();
    let name = name.or(names.first().copied()).ok_or_else(|| Error::Config("no backend compiled in (enable feature flex, ndarray, tch or cuda)".into()))?;
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "tch")]
        "tch" => Ok(Device::libtorch()),
        #[cfg(feature = "tch")]
        "tch-cuda" => Ok(Device::libtorch_cuda(0usize)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        other => Err(Error::Config(format!("backend `{other}` is not compiled in (available: {})", names.join(", ")))),
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
/// once `mmap` is off for large buffers too; README "Performance"). The CLI calls it first
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
