//! Server assembly (in progress).
/// Which storage backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Embedded,
    Memory,
}
/// Server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig;
