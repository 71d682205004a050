//! The schema, applied idempotently at start by either binary.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};

use super::StoreError;

/// MySQL's "access denied to database" for CREATE DATABASE without the right.
const ER_DBACCESS_DENIED: u16 = 1044;

/// Serializes schema changes between processes starting at once.
const LOCK: &str = "SELECT GET_LOCK('registry_schema', 30)";
const UNLOCK: &str = "DO RELEASE_LOCK('registry_schema')";

const TABLES: [&str; 2] = [
    r"CREATE TABLE IF NOT EXISTS users (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(254) NULL,
        email_key VARCHAR(254) NULL COMMENT 'lower-cased email: uniqueness is case-insensitive',
        request_id VARCHAR(64) NOT NULL,
        accepted_at_ms BIGINT UNSIGNED NOT NULL,
        created_at DATETIME(6) NOT NULL,
        UNIQUE KEY users_email_key (email_key)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    r"CREATE TABLE IF NOT EXISTS rejected_users (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        request_id VARCHAR(64) NOT NULL,
        reason VARCHAR(255) NOT NULL,
        rejected_at DATETIME(6) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

/// Creates the URL's database when it is missing, if this user has the right.
pub async fn create_database(opts: &Opts) -> Result<(), StoreError> {
    let Some(db) = opts.db_name().map(str::to_owned) else {
        return Ok(());
    };
    let server = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let mut conn = Conn::new(server).await?;
    let sql = format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4",
        db.replace('`', "``")
    );
    let created = conn.query_drop(sql).await;
    let _ = conn.disconnect().await;
    match created {
        Err(mysql_async::Error::Server(err)) if err.code == ER_DBACCESS_DENIED => {
            tracing::info!(database = %db, "no right to create the database; assuming it exists");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Creates the tables when missing, holding a named lock so concurrent starts queue up.
pub async fn apply(conn: &mut Conn) -> Result<(), StoreError> {
    let _: Option<Option<i64>> = conn.query_first(LOCK).await?;
    let mut result = Ok(());
    for table in TABLES {
        result = conn.query_drop(table).await;
        if result.is_err() {
            break;
        }
    }
    conn.query_drop(UNLOCK).await?;
    Ok(result?)
}
