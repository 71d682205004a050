//! A user whose message is dead-lettered stays readable, and an operator's requeue stores it.

use mysql_async::prelude::Queryable;
use serde_json::Value;

use e2e::Consumer;
use producer::testing::{TestApp, spawn_app};
use registry::queue::DeadLetters;

async fn sql(app: &TestApp, statement: &str) {
    let mut conn = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    conn.query_drop(statement).await.unwrap();
}

async fn stored_names(app: &TestApp) -> Vec<String> {
    let mut conn = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    conn.query("SELECT name FROM users ORDER BY id").await.unwrap()
}

async fn status(app: &TestApp, id: u64) -> Value {
    let (code, body) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn a_value_the_table_cannot_hold_reads_failed_until_requeued_then_stored_and_is_never_cut_short() {
    let app = spawn_app().await;
    // A user stored before; its message comes again (a lost acknowledgement) at the head of
    // the next batch, which sends that batch down the path that skips rows already stored.
    let first = app.add_user("Ada", None).await;
    let mut redis = app.redis().await;
    let queue = app.keys().queue();
    let redelivered: Vec<String> = redis::cmd("LRANGE")
        .arg(&queue)
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(app.drain().await, 1);

    // An operator narrows the column: a longer name can no longer be held.
    sql(&app, "ALTER TABLE users MODIFY name VARCHAR(8) NOT NULL").await;
    let _: () = redis::cmd("LPUSH")
        .arg(&queue)
        .arg(&redelivered)
        .query_async(&mut redis)
        .await
        .unwrap();
    let long = app.add_user("Grace Brewster Hopper", None).await;
    app.drain().await;

    let failed = status(&app, long).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["id"], long);
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("too long"), "the reason names the fault: {reason}");
    assert_eq!(stored_names(&app).await, ["Ada"], "never stored cut short");
    assert_eq!(status(&app, first).await["status"], "stored");

    // The operator widens the column again and requeues: pending, then stored whole.
    sql(&app, "ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL").await;
    let requeued = DeadLetters::new(app.connection()).requeue(10).await.unwrap();
    assert_eq!(requeued, 1);
    let pending = status(&app, long).await;
    assert_eq!(
        (pending["status"].as_str(), pending["name"].as_str()),
        (Some("pending"), Some("Grace Brewster Hopper"))
    );
    assert_eq!(app.drain().await, 1);
    let stored = status(&app, long).await;
    assert_eq!(
        (stored["status"].as_str(), stored["name"].as_str()),
        (Some("stored"), Some("Grace Brewster Hopper"))
    );
    assert_eq!(app.state.monitor.stats().await.unwrap().dead, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_purged_dead_letter_reads_unknown() {
    let app = spawn_app().await;
    sql(&app, "ALTER TABLE users MODIFY name VARCHAR(4) NOT NULL").await;
    let id = app.add_user("Katherine", None).await;
    app.drain().await;
    assert_eq!(status(&app, id).await["status"], "failed");
    assert_eq!(DeadLetters::new(app.connection()).purge().await.unwrap(), 1);
    let (code, _) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(code, 404, "nothing knows it once purged");
    app.cleanup().await;
}
