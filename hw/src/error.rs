//! Errors met while probing hardware; discovery turns each one into a note in the inventory.

use std::io;
use std::path::PathBuf;

/// Why one probing step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HwError {
    /// A device or sysfs file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// No NVML library could be loaded.
    #[error("NVML not found (no NVIDIA driver): tried {tried}: {source}")]
    NvmlNotFound {
        /// The library names tried, comma-separated.
        tried: String,
        /// The loader's error for the last name tried.
        source: libloading::Error,
    },
    /// The loaded NVML lacks a function this crate needs.
    #[error("NVML has no symbol {symbol} (driver too old?)")]
    NvmlSymbol {
        /// The C function name.
        symbol: &'static str,
    },
    /// An NVML call returned an error code.
    #[error("{function} failed: {message} (nvmlReturn_t {code})")]
    NvmlCall {
        /// The C function that failed.
        function: &'static str,
        /// The raw `nvmlReturn_t`.
        code: i32,
        /// `nvmlErrorString(code)`.
        message: String,
    },
}

impl HwError {
    /// True when NVML says the query is not supported on this device (`NVML_ERROR_NOT_SUPPORTED`).
    pub(crate) fn is_not_supported(&self) -> bool {
        matches!(self, HwError::NvmlCall { code: 3, .. })
    }
}
