//! What the engine provides to every shard and every feature module, below all of them: the
//! pinned blocking pool, the disk-space gauge of the data directory, the process's allocator
//! settings, the connection limits (caps, send budgets, activity and timeouts), and the shards' UDP
//! sockets. The engine creates them at start; handlers,
//! media serving, upload intake and federation use them through [`crate::app::App`].

pub(crate) mod blocking;
pub(crate) mod conn_limits;
pub(crate) mod disk;
pub(crate) mod memory;
pub(crate) mod udp;
