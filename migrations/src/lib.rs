//! # vigil-migrations
//!
//! Vigil's schema migrations for both backends, embedded in the binary and
//! exposed as sqlx [`Migrator`]s. `sqlite/NNNN_name.sql` and
//! `postgres/NNNN_name.sql` are mirrored: the same numbers and names on both
//! sides (a test holds them to it). An applied migration is never edited; a
//! change is a new pair of files registered in [`FILES`].
//!
//! Migrations are recorded in [`TABLE`], not sqlx's default table, so other
//! libraries that keep their own sqlx migrations in the same database (such as
//! a job queue) cannot collide with Vigil's.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The table that records applied migrations.
pub const TABLE: &str = "_vigil_migrations";

/// One mirrored migration: its number, its name, and the SQL of each side.
#[derive(Debug, Clone, Copy)]
pub struct MigrationFile {
    /// The number (`NNNN` in the file name).
    pub version: i64,
    /// The name after the number, without `.sql`.
    pub name: &'static str,
    /// `sqlite/NNNN_name.sql`.
    pub sqlite: &'static str,
    /// `postgres/NNNN_name.sql`.
    pub postgres: &'static str,
}

macro_rules! mirrored {
    ($($version:literal $padded:literal $file:literal),+ $(,)?) => {
        &[$(MigrationFile {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../sqlite/", $padded, "_", $file, ".sql")),
            postgres: include_str!(concat!("../postgres/", $padded, "_", $file, ".sql")),
        }),+]
    };
}

/// Every migration, in order: version, zero-padded version as in the file
/// name, and name (`NNNN_name.sql`).
pub const FILES: &[MigrationFile] = mirrored![
    1 "0001" "core",
    2 "0002" "api",
    3 "0003" "receipts",
    4 "0004" "runs",
    5 "0005" "approval_mode",
    6 "0006" "run_truth",
    7 "0007" "cases",
    8 "0008" "case_links",
    9 "0009" "alerts",
    10 "0010" "case_summaries",
    11 "0011" "trace_context",
    12 "0012" "segment_trace",
    13 "0013" "children",
    14 "0014" "scale",
];

/// SQLite migrations that run outside the runner's transaction, in their
/// own: a table rebuild must turn foreign keys off, which SQLite allows
/// only outside a transaction.
pub const SQLITE_OWN_TRANSACTION: &[i64] = &[13];

fn migrator(sql: impl Fn(&MigrationFile) -> &'static str, own_transaction: &[i64]) -> Migrator {
    let migrations = FILES
        .iter()
        .map(|f| {
            Migration::new(
                f.version,
                Cow::Borrowed(f.name),
                MigrationType::Simple,
                sql(f).into_sql_str(),
                own_transaction.contains(&f.version),
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}

/// The SQLite migrator.
pub fn sqlite() -> Migrator {
    migrator(|f| f.sqlite, SQLITE_OWN_TRANSACTION)
}

/// The PostgreSQL migrator.
pub fn postgres() -> Migrator {
    migrator(|f| f.postgres, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn on_disk(dir: &str) -> BTreeSet<(i64, String)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .map(|name| {
                let stem = name.trim_end_matches(".sql");
                let (version, rest) = stem
                    .split_once('_')
                    .unwrap_or_else(|| panic!("{dir}/{name} is not NNNN_name.sql"));
                assert_eq!(version.len(), 4, "{dir}/{name}: version must be 4 digits");
                (version.parse().unwrap(), rest.to_owned())
            })
            .collect()
    }

    #[test]
    fn both_backends_hold_the_same_versions_and_names() {
        assert_eq!(on_disk("sqlite"), on_disk("postgres"));
    }

    #[test]
    fn every_file_on_disk_is_registered() {
        let registered: BTreeSet<(i64, String)> = FILES
            .iter()
            .map(|f| (f.version, f.name.to_owned()))
            .collect();
        assert_eq!(on_disk("sqlite"), registered);
    }

    #[test]
    fn versions_are_strictly_increasing() {
        assert!(FILES.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn migrators_record_in_vigil_table() {
        assert_eq!(sqlite().table_name, TABLE);
        assert_eq!(postgres().migrations.len(), FILES.len());
    }
}
