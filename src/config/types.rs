//! The typed values of configuration keys that are not plain numbers or strings: the file I/O
//! backend, where rungs are scaled, the encoders, socket addresses and optional paths. Each
//! parses once, when the configuration is loaded, with an error that names the bad value and
//! what was expected (the loader adds the key). The transcoder uses these types too, so they
//! live here and the configuration imports nothing from it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::SocketAddr;
use std::path::PathBuf;

/// PeerTube's resolutions (the shorter side), ascending: the values `transcode.resolutions`
/// may list.
pub const RESOLUTIONS: [u32; 8] = [144, 240, 360, 480, 720, 1080, 1440, 2160];

/// Declares a config enum whose values are lowercase names: `parse`, `name`, `Display`, and a
/// serde form that refuses an unknown name with the list of known ones.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vmeta])* $variant,)+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// From its config name.
            pub fn parse(name: &str) -> Option<$ty> {
                match name {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }

            /// Its config name.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                $ty::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown {} {s:?}; expected {}",
                        $what,
                        one_of($ty::ALL.iter().map(|v| v.name()))
                    ))
                })
            }
        }
    };
}

named_enum! {
    /// `engine.io`: how files are read.
    #[derive(Default)]
    pub enum IoMode ("I/O backend") {
        /// io_uring when the kernel allows it, else the portable path (with one warning).
        #[default]
        Auto = "auto",
        /// io_uring or refuse to start.
        Uring = "uring",
        /// pread on the blocking pool.
        Portable = "portable",
    }
}

named_enum! {
    /// `transcode.device_scaling`: where a rung's frames are scaled when the source is decoded
    /// on a GPU.
    #[derive(Default)]
    pub enum DeviceScaling ("device scaling") {
        /// On the GPU (`scale_cuda`, `scale_vaapi`) for rungs whose encoder is on that GPU, so
        /// their frames never leave it; rungs on a CPU encoder get the frame downloaded once and
        /// scaled on the CPU (cheaper in CPU time than a download per rung; see
        /// docs/benchmarks.md).
        #[default]
        Auto = "auto",
        /// On the GPU for every rung; rungs on a CPU encoder download their scaled frames.
        Always = "always",
        /// Never on the GPU: decoded frames are downloaded once and every rung scales on the CPU.
        Never = "never",
    }
}

named_enum! {
    /// An entry of `transcode.encoders`: a libavcodec H.264 encoder Fleuve drives.
    pub enum Encoder ("encoder") {
        /// NVIDIA NVENC.
        H264Nvenc = "h264_nvenc",
        /// VA-API (Intel, AMD).
        H264Vaapi = "h264_vaapi",
        /// x264 on the CPU, the end of every chain.
        Libx264 = "libx264",
    }
}

/// `a, b or c`.
fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The error of a socket address that does not parse.
pub(crate) fn socket_addr_error(value: &str, example: &str) -> String {
    format!("{value:?} is not HOST:PORT with an IP address (e.g. {example})")
}

/// Serde for a required `SocketAddr` written as `"IP:PORT"`, with an error naming the value.
pub(crate) mod socket_addr {
    use super::*;

    /// Writes `IP:PORT`.
    pub fn serialize<S: Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(addr)
    }

    /// Reads `IP:PORT`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(socket_addr_error(&s, "127.0.0.1:9000 or [::]:443"))
        })
    }
}

/// Serde for an optional `SocketAddr` where an empty string means none (so the key keeps a
/// string default and its `FLEUVE_*` variable).
pub(crate) mod optional_socket_addr {
    use super::*;

    /// Writes `IP:PORT`, or an empty string.
    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }

    /// Reads `IP:PORT`, or an empty string as none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "{}, or an empty string to disable it",
                socket_addr_error(&s, "127.0.0.1:6969")
            ))
        })
    }
}

/// Serde for an optional path where an empty string means none.
pub(crate) mod optional_path {
    use super::*;

    /// Writes the path, or an empty string.
    pub fn serialize<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(p) => p.serialize(s),
            None => s.serialize_str(""),
        }
    }

    /// Reads a path, or an empty string as none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let p = PathBuf::deserialize(d)?;
        Ok((!p.as_os_str().is_empty()).then_some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for e in Encoder::ALL {
            assert_eq!(Encoder::parse(e.name()), Some(*e));
        }
        assert_eq!(DeviceScaling::parse("always"), Some(DeviceScaling::Always));
        assert_eq!(DeviceScaling::parse("gpu"), None);
        let err = serde_json::from_str::<IoMode>("\"magic\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown I/O backend \"magic\"; expected auto, uring or portable"),
            "{err}"
        );
        let err = serde_json::from_str::<Encoder>("\"h265\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"h265\"; expected h264_nvenc, h264_vaapi or libx264"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&DeviceScaling::Never).unwrap(),
            "\"never\""
        );
    }
}
