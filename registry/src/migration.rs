//! `producer migrate` and `consumer migrate`: the deploy-time migration, run with an admin
//! account before the binaries start with the application's own (docs/security.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::config::{MysqlArgs, read_secret, redact_url};
use crate::store::{self, AppUser};

/// How long the migration waits for MySQL to answer before it gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// The application user the migration creates (`--mysql-url` names the admin).
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// The application's MySQL user to create, or whose password to set anew; granted only
    /// SELECT and INSERT on the registry's tables. Unset: only the
    /// database and tables are created.
    #[arg(long = "app-user", env = "MYSQL_APP_USER", requires = "app_password_file")]
    pub app_user: Option<String>,

    /// File whose content is the application user's password.
    #[arg(long = "app-password-file", env = "MYSQL_APP_PASSWORD_FILE", requires = "app_user")]
    pub app_password_file: Option<PathBuf>,

    /// Where the application user may log in from: `%`, a host, an IP, or `a.b.c.d/m.m.m.m`.
    #[arg(long = "app-host", env = "MYSQL_APP_HOST", default_value = "%")]
    pub app_host: String,
}

/// Runs the migration, waiting (up to five minutes, or until a stop signal) for a MySQL that
/// does not answer yet.
pub async fn run(mysql: &MysqlArgs, args: &MigrateArgs) -> anyhow::Result<()> {
    let opts = store::options_for(mysql)?;
    let app = match (&args.app_user, &args.app_password_file) {
        (Some(name), Some(file)) => {
            let password = read_secret(file)
                .with_context(|| format!("cannot read the application password file {}", file.display()))?;
            Some(AppUser::new(name.clone(), args.app_host.clone(), password)?)
        }
        (None, None) => None,
        _ => bail!("--app-user and --app-password-file go together"),
    };
    tracing::info!(
        mysql = %redact_url(&mysql.mysql_url),
        app_user = args.app_user.as_deref().unwrap_or("(none)"),
        app_host = %args.app_host,
        "migrating the schema"
    );
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        crate::shutdown_signal().await;
        on_signal.cancel();
    });
    let migrated = tokio::time::timeout(
        PATIENCE,
        crate::retry::until_done(
            "migrating",
            &cancel,
            // A MySQL that is not up yet is waited for; an admin it refuses is told at once.
            |e: &store::StoreError| {
                e.is_transient() && !matches!(e.cause(), store::Cause::LoginRefused | store::Cause::PermissionDenied)
            },
            || store::migrate(&opts, app.as_ref()),
        ),
    )
    .await;
    watcher.abort();
    let migrated = migrated
        .map_err(|_| anyhow::anyhow!("MySQL did not answer within {PATIENCE:?}"))?
        .context("stopped before the migration ran")??;
    tracing::info!(
        database = %migrated.database,
        app_user = migrated.app_user.as_deref().unwrap_or("(none)"),
        "migration done: the database, its tables and the application user's grants are in place"
    );
    Ok(())
}
