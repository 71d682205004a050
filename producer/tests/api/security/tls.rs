//! TLS: `rediss://` with a password and MySQL over TLS, against servers whose certificates
//! come from a private CA (made with `openssl` for the test); the CA must be given, and a
//! plaintext MySQL is refused when TLS is required.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use registry::config::{MysqlArgs, RedisArgs};
use registry::message::Message;
use registry::queue::{Ack, Connection, Disposition, Lease, Slot, Timeouts};
use registry::store::{self, Store};
use registry::testing::{free_port, shared_mysql_base, unique_name};
use serde_json::{Value, json};

use super::{Proc, TempDir, spawn_producer, wait_for};

/// A throwaway CA and a certificate it signed for `localhost` and 127.0.0.1.
fn make_certificates(dir: &TempDir) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(&dir.0)
            .args(args)
            .output()
            .expect("openssl must be installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.path("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=registry test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}

fn wait_for_port(port: u16, within: Duration, proc: &Proc) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < within,
            "nothing listens on {port}:\n{}",
            proc.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// redis-server on a TLS port only, with a password.
fn start_tls_redis(dir: &TempDir, password: &str) -> (Proc, u16) {
    let port = free_port();
    let mut command = Command::new("redis-server");
    command
        .current_dir(&dir.0)
        .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.pem",
        ])
        .args([
            "--tls-auth-clients",
            "no",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
    let proc = Proc::spawn(command, dir.path("redis.log"));
    wait_for_port(port, Duration::from_secs(10), &proc);
    (proc, port)
}

/// MariaDB that accepts TLS connections only (root without password, over TLS).
fn start_tls_mariadb(dir: &TempDir) -> (Proc, u16) {
    let data = dir.path("mysql");
    let root = Command::new("id").arg("-u").output().unwrap().stdout.starts_with(b"0");
    let user: &[&str] = if root { &["--user=root"] } else { &[] };
    let status = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}", data.display()))
        .args(user)
        .output()
        .expect("mariadb-install-db must be installed");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let port = free_port();
    let file = |name: &str| dir.path(name).display().to_string();
    let mut command = Command::new("/usr/sbin/mariadbd");
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", file("mysqld.sock")))
        .arg(format!("--pid-file={}", file("mysqld.pid")))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--innodb-buffer-pool-size=64M"])
        .arg(format!("--ssl-cert={}", file("server.pem")))
        .arg(format!("--ssl-key={}", file("server.key")))
        .arg(format!("--ssl-ca={}", file("ca.pem")))
        .arg("--require-secure-transport=ON")
        .args(user);
    let proc = Proc::spawn(command, dir.path("mysqld.log"));
    wait_for_port(port, Duration::from_secs(60), &proc);
    (proc, port)
}

#[tokio::test]
async fn redis_and_mysql_work_over_tls_with_a_private_ca_and_refuse_it_without() {
    let dir = TempDir::new("tls");
    make_certificates(&dir);
    let password = unique_name("RedisTlsSecret");
    let (_redis, redis_port) = start_tls_redis(&dir, &password);
    let (_mysql, mysql_port) = start_tls_mariadb(&dir);
    let ca = dir.path("ca.pem").display().to_string();
    let redis_url = format!("rediss://:{password}@127.0.0.1:{redis_port}");
    let mysql_url = format!("mysql://root@127.0.0.1:{mysql_port}/tls");
    let prefix = unique_name("t-");

    let env = [
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_CA_FILE", ca.as_str()),
        ("MYSQL_URL", mysql_url.as_str()),
        ("MYSQL_REQUIRE_TLS", "true"),
        ("MYSQL_CA_FILE", ca.as_str()),
        ("KEY_PREFIX", prefix.as_str()),
    ];
    let (producer, base) = spawn_producer(&dir, "producer-tls", &env);
    wait_for(&format!("{base}/health/ready"), 200, &producer, Duration::from_secs(30)).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/api/users"))
        .json(&json!({"name": "over TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap();

    // The consumer's code path (the same settings, the same constructors) takes, stores and
    // acknowledges it over TLS.
    let redis_args = RedisArgs {
        redis_ca_file: Some(PathBuf::from(&ca)),
        ..RedisArgs::new(redis_url.clone(), prefix.clone())
    };
    let mysql_args = MysqlArgs {
        mysql_url: mysql_url.clone(),
        mysql_password_file: None,
        mysql_require_tls: true,
        mysql_ca_file: Some(PathBuf::from(&ca)),
    };
    let conn = Connection::open(&redis_args, Timeouts::INTERACTIVE).unwrap();
    let store = Store::connect(store::options_for(&mysql_args).unwrap()).await.unwrap();
    let lease = Lease::new(conn, unique_name("tls-consumer-")).unwrap();
    let taken = lease.take(Slot::First, 8, Duration::from_millis(100)).await.unwrap();
    assert_eq!(taken.len(), 1);
    let user = Message::decode_bytes(&taken[0]).unwrap().validate().unwrap();
    store.persist(std::slice::from_ref(&user)).await.unwrap();
    let ack = Ack {
        raw: String::from_utf8(taken[0].clone()).unwrap(),
        id: Some(user.id),
        disposition: Disposition::Stored(None),
    };
    lease
        .acknowledge(Slot::First, &[ack], Duration::from_secs(60))
        .await
        .unwrap();
    let user: Value = http
        .get(format!("{base}/api/users/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (user["status"].as_str(), user["name"].as_str()),
        (Some("stored"), Some("over TLS"))
    );
    producer.stop();

    // Without the CA, the private certificates are refused: TLS is verified, not just used.
    let env = [
        ("REDIS_URL", redis_url.as_str()),
        ("MYSQL_URL", mysql_url.as_str()),
        ("MYSQL_CA_FILE", ca.as_str()),
    ];
    let (no_redis_ca, base) = spawn_producer(&dir, "no-redis-ca", &env);
    wait_for(
        &format!("{base}/health/ready"),
        503,
        &no_redis_ca,
        Duration::from_secs(30),
    )
    .await;
    let resp = http
        .post(format!("{base}/api/users"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "nothing is queued over an unverified connection");
    let log = no_redis_ca.stop();
    assert!(
        log.contains("UnknownIssuer"),
        "the Redis certificate is checked:\n{log}"
    );

    let env = [
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_CA_FILE", ca.as_str()),
        ("MYSQL_URL", mysql_url.as_str()),
        ("MYSQL_REQUIRE_TLS", "true"),
    ];
    let log = never_listens(&dir, "no-mysql-ca", &env).await;
    assert!(
        log.contains("UnknownIssuer"),
        "the MySQL certificate is checked:\n{log}"
    );
}

/// Runs a producer that must not start serving; returns its log.
async fn never_listens(dir: &TempDir, name: &str, env: &[(&str, &str)]) -> String {
    let (proc, base) = spawn_producer(dir, name, env);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        reqwest::get(format!("{base}/health/live")).await.is_err(),
        "{name} must not serve"
    );
    proc.stop()
}

#[tokio::test]
async fn mysql_require_tls_refuses_a_server_without_tls() {
    let dir = TempDir::new("no-tls");
    let mysql_url = format!("{}{}", shared_mysql_base(), unique_name("t_"));
    for (name, env) in [
        (
            "require-tls-env",
            [("MYSQL_URL", mysql_url.as_str()), ("MYSQL_REQUIRE_TLS", "true")],
        ),
        (
            "require-tls-ca",
            [
                ("MYSQL_URL", mysql_url.as_str()),
                ("MYSQL_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"),
            ],
        ),
    ] {
        let log = never_listens(&dir, name, &env).await;
        assert!(
            log.to_lowercase().contains("ssl") || log.to_lowercase().contains("tls"),
            "{name}: the log says TLS is missing:\n{log}"
        );
    }
    // The same settings with TLS off do start: the refusal above is the setting's doing.
    let (plain, base) = spawn_producer(
        &dir,
        "plain",
        &[("MYSQL_URL", mysql_url.as_str()), ("MYSQL_REQUIRE_TLS", "false")],
    );
    wait_for(&format!("{base}/health/live"), 200, &plain, Duration::from_secs(30)).await;
    plain.stop();
    let mut conn = mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap();
    let db = mysql_url.rsplit('/').next().unwrap();
    mysql_async::prelude::Queryable::query_drop(&mut conn, format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_redis_ca_file_with_a_plain_redis_url_is_refused_at_start() {
    let dir = TempDir::new("ca-plain");
    let env = [
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("REDIS_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"),
    ];
    let (proc, _) = spawn_producer(&dir, "ca-plain", &env);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = proc.stop();
    assert!(log.contains("rediss://"), "the error names the fix:\n{log}");
}
