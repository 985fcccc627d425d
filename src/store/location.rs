//! Where a workspace's studies live (`--storage`, `$DISTILLER_STORAGE`), and opening the store
//! there: Optuna's `get_storage(url)`.

use std::path::PathBuf;
use std::sync::Arc;

use super::optuna::ParamCodec;
use super::postgres::DatabaseUrl;
use super::{PostgresStorage, SledStorage, Storage};
use crate::error::{Error, Result};

/// A store's address, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded sled database folder (one process at a time).
    Sled(PathBuf),
    /// A PostgreSQL database (`postgresql://user@host:port/db`), shared by many workers.
    Postgres(DatabaseUrl),
}

impl StoreLocation {
    /// Parses `sled:PATH` or `postgresql://…` (also `postgres://…`).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |message: &str| Error::StoreUrl { url: super::postgres::redacted(text), message: message.to_string() };
        if let Some(path) = text.strip_prefix("sled:") {
            if path.is_empty() {
                return Err(bad("sled:PATH: the path is empty"));
            }
            return Ok(StoreLocation::Sled(PathBuf::from(path)));
        }
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            return DatabaseUrl::parse(text).map(StoreLocation::Postgres).map_err(|message| bad(&message));
        }
        Err(bad("expected sled:PATH or postgresql://user@host:port/database"))
    }

    /// The store, for writing: the sled store (one process at a time; `note` hears when it waits
    /// for a lock whose holder may be exiting) or the shared database, which writes each trial's
    /// Optuna parameters as `params` says.
    pub fn open(&self, params: Arc<dyn ParamCodec>, note: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
        match self {
            StoreLocation::Sled(dir) => Ok(Box::new(SledStorage::open_waiting(dir, note)?)),
            StoreLocation::Postgres(url) => Ok(Box::new(PostgresStorage::open(url, params)?)),
        }
    }

    /// The store for commands that only read: a sled store's snapshots, without its lock
    /// ([`SledStorage::open_to_read`]), or the shared database.
    pub fn open_to_read(&self, params: Arc<dyn ParamCodec>, note: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
        match self {
            StoreLocation::Sled(dir) => SledStorage::open_to_read(dir, note),
            StoreLocation::Postgres(url) => Ok(Box::new(PostgresStorage::open(url, params)?)),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(path) => write!(f, "sled:{}", path.display()),
            StoreLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_or_say_why_not() {
        assert_eq!(StoreLocation::parse("sled:/tmp/s").unwrap(), StoreLocation::Sled("/tmp/s".into()));
        assert!(matches!(StoreLocation::parse("postgresql://u@localhost:5432/db").unwrap(), StoreLocation::Postgres(_)));
        for bad in ["", "sled:", "mysql://x", "/tmp/store", "postgresql://u@h:notaport/db", "postgresql://u:secret@h:notaport/db"] {
            match StoreLocation::parse(bad) {
                Err(Error::StoreUrl { url, .. }) => assert!(!url.contains("secret"), "{bad}: the password is shown"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(StoreLocation::parse("postgresql://u:secret@h/db").unwrap().to_string(), "postgresql://u:***@h/db");
    }
}
