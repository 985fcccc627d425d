//! Where a workspace's studies live: `--storage` (or `$DISTILLER_STORAGE`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A store's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded sled database folder (one process at a time).
    Sled(PathBuf),
    /// A PostgreSQL database (`postgresql://user@host:port/db`), shared by many workers.
    Postgres(String),
}

impl StoreLocation {
    /// Parses `sled:PATH` or `postgresql://…` (also `postgres://…`).
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(path) = text.strip_prefix("sled:") {
            if path.is_empty() {
                return Err(Error::Usage("--storage sled:PATH: the path is empty".into()));
            }
            return Ok(StoreLocation::Sled(PathBuf::from(path)));
        }
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            text.parse::<postgres::Config>().map_err(|e| Error::Usage(format!("--storage {}: not a PostgreSQL URL: {e}", super::postgres::redacted(text))))?;
            return Ok(StoreLocation::Postgres(text.to_string()));
        }
        Err(Error::Usage(format!("--storage {}: expected sled:PATH or postgresql://user@host:port/database", super::postgres::redacted(text))))
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(path) => write!(f, "sled:{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&super::postgres::redacted(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_or_name_the_flag() {
        assert_eq!(StoreLocation::parse("sled:/tmp/s").unwrap(), StoreLocation::Sled("/tmp/s".into()));
        assert!(matches!(StoreLocation::parse("postgresql://u@localhost:5432/db").unwrap(), StoreLocation::Postgres(_)));
        for bad in ["", "sled:", "mysql://x", "/tmp/store", "postgresql://u@h:notaport/db"] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--storage"), "{bad}: {e}");
        }
        assert_eq!(StoreLocation::Postgres("postgresql://u:secret@h/db".into()).to_string(), "postgresql://u:***@h/db");
    }
}
