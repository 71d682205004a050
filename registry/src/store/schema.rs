//! The schema: checked by either binary at start, created where the user may, and the
//! deploy-time migration that creates it and the application's least-privilege user.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};

use super::StoreError;

/// MySQL's "access denied to database" for CREATE DATABASE without the right.
const ER_DBACCESS_DENIED: u16 = 1044;
/// MySQL's "command denied to user for table", e.g. CREATE without the right.
const ER_TABLEACCESS_DENIED: u16 = 1142;

/// Serializes schema changes between processes starting at once.
const LOCK: &str = "SELECT GET_LOCK('registry_schema', 30)";
const UNLOCK: &str = "DO RELEASE_LOCK('registry_schema')";

/// A table of the schema: its name, the columns the binaries use, and how to create it.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    create: &'static str,
    /// What the application user may do on it (`migrate`).
    grants: &'static str,
    /// What fills it right after it is created, if anything.
    seed: Option<&'static str>,
}

/// The binaries read and add rows, nothing else (idempotent inserts are `INSERT IGNORE`).
const APP_GRANTS: &str = "SELECT, INSERT";

const TABLES: [Table; 3] = [
    Table {
        name: "users",
        columns: &[
            "id",
            "name",
            "email",
            "email_key",
            "request_id",
            "accepted_at_ms",
            "created_at",
        ],
        create: r"CREATE TABLE IF NOT EXISTS users (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(254) NULL,
        email_key VARCHAR(254) NULL COMMENT 'lower-cased email: uniqueness is case-insensitive',
        request_id VARCHAR(64) NOT NULL,
        accepted_at_ms BIGINT UNSIGNED NOT NULL,
        created_at DATETIME(6) NOT NULL,
        UNIQUE KEY users_email_key (email_key)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        grants: APP_GRANTS,
        seed: None,
    },
    Table {
        name: "rejected_users",
        columns: &["id", "request_id", "reason", "rejected_at"],
        create: r"CREATE TABLE IF NOT EXISTS rejected_users (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        request_id VARCHAR(64) NOT NULL,
        reason VARCHAR(255) NOT NULL,
        rejected_at DATETIME(6) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        grants: APP_GRANTS,
        seed: None,
    },
    // The number of stored users, kept by the consumers' commits (super::count): the sum of
    // `n` over the slots. Made after `users`, whose rows at that moment it starts from.
    Table {
        name: "user_counts",
        columns: &["slot", "n"],
        create: r"CREATE TABLE IF NOT EXISTS user_counts (
        slot SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
        n BIGINT NOT NULL COMMENT 'users stored by the commits that chose this slot'
    ) ENGINE=InnoDB",
        // The consumers add to a slot's row (INSERT ... ON DUPLICATE KEY UPDATE).
        grants: "SELECT, INSERT, UPDATE",
        seed: Some("INSERT INTO user_counts (slot, n) SELECT 0, COUNT(*) FROM users"),
    },
];

/// Creates the URL's database when it is missing, if this user has the right.
pub async fn create_database(opts: &Opts) -> Result<(), StoreError> {
    let Some(db) = opts.db_name().map(str::to_owned) else {
        return Ok(());
    };
    let server = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let mut conn = Conn::new(server).await?;
    let created = conn
        .query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4",
            ident(&db)
        ))
        .await;
    let _ = conn.disconnect().await;
    match created {
        Err(mysql_async::Error::Server(err)) if err.code == ER_DBACCESS_DENIED => {
            tracing::info!(database = %db, "no right to create the database; assuming it exists");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Checks the tables, creating those that are missing, under a named lock so that concurrent
/// starts queue up. A user without the right to create a table gets [`StoreError::Schema`]
/// naming what is missing, and nothing is changed.
pub async fn apply(conn: &mut Conn) -> Result<(), StoreError> {
    let _: Option<Option<i64>> = conn.query_first(LOCK).await?;
    let result = check_or_create(conn).await;
    conn.query_drop(UNLOCK).await?;
    result
}

async fn check_or_create(conn: &mut Conn) -> Result<(), StoreError> {
    for table in &TABLES {
        let present: Vec<String> = conn
            .exec(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                (table.name,),
            )
            .await?;
        if present.is_empty() {
            match conn.query_drop(table.create).await {
                Err(mysql_async::Error::Server(err)) if err.code == ER_TABLEACCESS_DENIED => {
                    return Err(StoreError::Schema(format!(
                        "the table `{}` is missing and this MySQL user may not create it: \
                         run `consumer migrate` (or `producer migrate`) with an admin account first",
                        table.name
                    )));
                }
                other => other?,
            }
            if let Some(seed) = table.seed {
                conn.query_drop(seed).await?;
            }
            tracing::info!(table = table.name, "created a missing table");
            continue;
        }
        let missing: Vec<&str> = table
            .columns
            .iter()
            .copied()
            .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::Schema(format!(
                "the table `{}` lacks the columns {}: it was not made by this version's migration",
                table.name,
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// The application's MySQL user that [`migrate`] creates or updates.
pub struct AppUser {
    /// Its name (letters, digits, `_`, `-`, `.`; at most 32 characters).
    pub name: String,
    /// Where it may log in from: `%`, a host name, an IP, or `a.b.c.d/m.m.m.m`.
    pub host: String,
    /// Its password.
    pub password: String,
}

/// Shows everything but the password.
impl std::fmt::Debug for AppUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppUser")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("password", &"***")
            .finish()
    }
}

impl AppUser {
    /// Checks the name and host, which go into SQL as quoted literals.
    pub fn new(name: String, host: String, password: String) -> Result<Self, StoreError> {
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !name_ok {
            return Err(StoreError::Schema(format!(
                "the application user name {name:?} must be 1 to 32 letters, digits, `_`, `-` or `.`"
            )));
        }
        let host_ok = !host.is_empty()
            && host.len() <= 255
            && host.chars().all(|c| c.is_ascii_alphanumeric() || "%_.:/-".contains(c));
        if !host_ok {
            return Err(StoreError::Schema(format!(
                "the application user's host {host:?} must be `%`, a host name, an IP or `address/netmask`"
            )));
        }
        if password.is_empty() {
            return Err(StoreError::Schema("the application user's password is empty".into()));
        }
        Ok(Self { name, host, password })
    }

    fn account(&self) -> String {
        format!("'{}'@'{}'", self.name, self.host)
    }
}

/// What [`migrate`] did.
#[derive(Debug)]
pub struct Migrated {
    /// The database.
    pub database: String,
    /// The application user, `'name'@'host'`, when one was asked for.
    pub app_user: Option<String>,
}

/// The deploy-time migration, as an admin: creates the database and the tables when missing
/// and, when asked, the application user (or sets its password anew: a rotation), granted
/// only what the binaries need on the registry's tables. Safe to run again and from several
/// hosts at once (a named lock).
pub async fn migrate(opts: &Opts, app: Option<&AppUser>) -> Result<Migrated, StoreError> {
    let database = opts
        .db_name()
        .ok_or_else(|| StoreError::Schema("the MySQL URL names no database".into()))?
        .to_owned();
    create_database(opts).await?;
    let mut conn = Conn::new(opts.clone()).await?;
    let _: Option<Option<i64>> = conn.query_first(LOCK).await?;
    let result = migrate_locked(&mut conn, &database, app).await;
    let _ = conn.query_drop(UNLOCK).await;
    let _ = conn.disconnect().await;
    result?;
    Ok(Migrated {
        database,
        app_user: app.map(AppUser::account),
    })
}

async fn migrate_locked(conn: &mut Conn, database: &str, app: Option<&AppUser>) -> Result<(), StoreError> {
    check_or_create(conn).await?;
    let Some(app) = app else {
        return Ok(());
    };
    // With NO_BACKSLASH_ESCAPES a quote doubled is the only escape a string literal needs.
    conn.query_drop("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await?;
    let password = format!("'{}'", app.password.replace('\'', "''"));
    let account = app.account();
    conn.query_drop(format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}"))
        .await?;
    conn.query_drop(format!("ALTER USER {account} IDENTIFIED BY {password}"))
        .await?;
    for table in &TABLES {
        conn.query_drop(format!(
            "GRANT {} ON {}.{} TO {account}",
            table.grants,
            ident(database),
            ident(table.name)
        ))
        .await?;
    }
    Ok(())
}

/// A quoted identifier.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
