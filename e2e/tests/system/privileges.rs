//! Least privilege in MySQL: the deploy-time migration makes the tables and an application
//! user that may read and add users and nothing else, and the system runs as that user.

use std::path::{Path, PathBuf};

use e2e::Consumer;
use mysql_async::prelude::Queryable;
use producer::testing::{Options, spawn_app_with};
use registry::config::MysqlArgs;
use registry::migration::{self, MigrateArgs};
use registry::store::{self, Store, StoreError};
use registry::testing::{shared_mysql_base, sweep_test_databases, test_database_name, unique_name};
use serde_json::json;

/// `mysql://USER@HOST:PORT/DB` on the shared server.
fn url_as(user: &str, db: &str) -> String {
    shared_mysql_base().replacen("root@", &format!("{user}@"), 1) + db
}

fn settings_as(user: &str, db: &str, password_file: &Path) -> MysqlArgs {
    MysqlArgs {
        mysql_password_file: Some(password_file.to_path_buf()),
        ..MysqlArgs::new(url_as(user, db))
    }
}

async fn root() -> mysql_async::Conn {
    mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap()
}

fn server_error_code(err: mysql_async::Error) -> u16 {
    match err {
        mysql_async::Error::Server(e) => e.code,
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test]
async fn the_system_runs_as_a_least_privileged_user_that_the_migration_makes() {
    sweep_test_databases().await;
    let db = test_database_name();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique_name("privileges-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (early, app_user, lan_user) = (unique_name("early_"), unique_name("app_"), unique_name("lan_"));

    // Before the migration: a user without the right to create tables is told what to do.
    let mut admin = root().await;
    admin.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    admin
        .query_drop(format!("CREATE USER '{early}'@'%' IDENTIFIED BY 'early-pw'"))
        .await
        .unwrap();
    admin
        .query_drop(format!("GRANT SELECT, INSERT ON `{db}`.* TO '{early}'@'%'"))
        .await
        .unwrap();
    let early_url = url_as(&format!("{early}:early-pw"), &db);
    let refused = Store::connect(store::options(&early_url, None).unwrap()).await.err();
    match refused {
        Some(StoreError::Schema(why)) => {
            assert!(why.contains("`users`") && why.contains("migrate"), "{why}");
        }
        other => panic!("a missing table the user may not create must say so, not {other:?}"),
    }

    // The migration, run twice at once (two hosts deploying), with a password that needs escaping.
    let password_file = dir.join("app-password");
    std::fs::write(&password_file, "it's a \\ \"quoted\" pass/word@#,;\n").unwrap();
    let admin_settings = MysqlArgs::new(format!("{}{db}", shared_mysql_base()));
    let migrate_args = MigrateArgs {
        app_user: Some(app_user.clone()),
        app_password_file: Some(password_file.clone()),
        app_host: "%".into(),
    };
    let (a, b) = tokio::join!(
        migration::run(&admin_settings, &migrate_args),
        migration::run(&admin_settings, &migrate_args)
    );
    a.unwrap();
    b.unwrap();

    // The producer and a consumer as the application user: users are stored, and a duplicate
    // that slips past the producer is refused (a row in rejected_users).
    let app = spawn_app_with(Options {
        mysql: Some(settings_as(&app_user, &db, &password_file)),
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            app.add_user(&format!("Least {i}"), Some(&format!("least{i}@example.com")))
                .await,
        );
    }
    let twice = json!({"name": "Twin", "email": "twin@example.com"});
    let (first, second) = tokio::join!(app.post_user(&twice), app.post_user(&twice));
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (202, 202),
        "both are queued before either is stored"
    );
    let second_id = second.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    app.drain().await;
    let stored: u64 = admin
        .query_first(format!("SELECT COUNT(*) FROM `{db}`.users"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, 11);
    let kept: u64 = admin
        .query_first(format!("SELECT CAST(SUM(n) AS UNSIGNED) FROM `{db}`.user_counts"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, 11, "the application user keeps the count of stored users");
    let read = app
        .http
        .get(app.url(&format!("/api/users/{second_id}")))
        .send()
        .await
        .unwrap();
    let read: serde_json::Value = read.json().await.unwrap();
    let rejected: Vec<(u64, String)> = admin
        .query(format!("SELECT id, reason FROM `{db}`.rejected_users"))
        .await
        .unwrap();
    let dead = registry::queue::DeadLetters::new(app.connection())
        .list(10)
        .await
        .unwrap();
    assert_eq!(
        read["status"], "rejected",
        "{read}; rejected rows {rejected:?}; dead letters {dead:?}"
    );
    for id in &ids {
        let found = app.http.get(app.url(&format!("/api/users/{id}"))).send().await.unwrap();
        assert_eq!(found.status(), 200);
    }

    // What the application user may not do.
    let opts = store::options_for(&settings_as(&app_user, &db, &password_file)).unwrap();
    let mut as_app = mysql_async::Conn::new(opts).await.unwrap();
    for forbidden in [
        "DROP TABLE users",
        "CREATE TABLE extra (id INT)",
        "DELETE FROM users",
        "UPDATE users SET name = 'x'",
        "DELETE FROM user_counts",
        "ALTER TABLE users ADD COLUMN extra INT",
    ] {
        let code = server_error_code(as_app.query_drop(forbidden).await.unwrap_err());
        assert!([1142, 1143, 1044].contains(&code), "{forbidden}: error {code}");
    }
    drop(as_app);

    // A rotation: the migration sets a new password; the old one stops working.
    std::fs::write(&password_file, "the new password").unwrap();
    migration::run(&admin_settings, &migrate_args).await.unwrap();
    let old = url_as(&format!("{app_user}:it%27s"), &db);
    let code = server_error_code(mysql_async::Conn::from_url(old).await.unwrap_err());
    assert_eq!(code, 1045, "the old password is refused");
    let rotated = store::options_for(&settings_as(&app_user, &db, &password_file)).unwrap();
    Store::connect(rotated).await.expect("the new password works");

    // A user limited to an address range in netmask form, as the cloud hosts' setting is.
    let lan_args = MigrateArgs {
        app_user: Some(lan_user.clone()),
        app_password_file: Some(password_file.clone()),
        app_host: "127.0.0.0/255.0.0.0".into(),
    };
    migration::run(&admin_settings, &lan_args).await.unwrap();
    let lan = store::options_for(&settings_as(&lan_user, &db, &password_file)).unwrap();
    Store::connect(lan).await.expect("a client in the range logs in");

    // Bad settings are refused clearly, before anything is changed.
    let bad = MigrateArgs {
        app_user: Some("robert'); DROP TABLE users; --".into()),
        ..migrate_args.clone()
    };
    let err = migration::run(&admin_settings, &bad).await.unwrap_err().to_string();
    assert!(err.contains("must be 1 to 32 letters"), "{err}");

    // An admin that MySQL refuses is told at once, not after the wait for a MySQL coming up.
    let refused_admin = MysqlArgs::new(url_as(&format!("{early}:wrong-password"), &db));
    let started = std::time::Instant::now();
    let err = migration::run(&refused_admin, &migrate_args)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Access denied"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    admin.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    for account in [
        format!("'{early}'@'%'"),
        format!("'{app_user}'@'%'"),
        format!("'{lan_user}'@'127.0.0.0/255.0.0.0'"),
    ] {
        admin
            .query_drop(format!("DROP USER IF EXISTS {account}"))
            .await
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
