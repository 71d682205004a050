//! Security: the rate limit per client IP, internal endpoints kept off the public listener, secrets that never leak, TLS to Redis and MySQL.
//! The last two run the real `producer` binary and read everything it prints.

mod internal;
mod rate_limit;
mod secrets;
mod tls;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use registry::testing::{free_port, unique_name};

/// A folder of one test under the target directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name(&format!("{what}-")));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process of a test, its stdout and stderr in one log file; killed when dropped, and by a
/// watchdog if the test binary dies first.
pub struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Spawns `command`, logging to `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let out = File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        let watchdog = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null",
            std::process::id(),
            child.id()
        );
        // Not waited for: it outlives this handle on purpose, and exits with the test binary.
        let _ = Command::new("sh").args(["-c", &watchdog]).stdin(Stdio::null()).spawn();
        Self {
            child: Some(child),
            log,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, waits for the exit, and returns everything it printed.
    pub fn stop(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        self.output()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The producer binary with only the given settings in its environment (besides PATH).
pub fn producer(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_producer"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.envs(env.iter().copied());
    command
}

/// Runs the producer with `env` on a free port; returns the process and its base URL.
pub fn spawn_producer(dir: &TempDir, name: &str, env: &[(&str, &str)]) -> (Proc, String) {
    let port = free_port();
    let mut command = producer(env);
    command.args(["--listen", &format!("127.0.0.1:{port}")]);
    (
        Proc::spawn(command, dir.path(&format!("{name}.log"))),
        format!("http://127.0.0.1:{port}"),
    )
}

/// Waits until `url` answers `status`; panics with the process output otherwise.
pub async fn wait_for(url: &str, status: u16, proc: &Proc, within: Duration) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(resp) = http.get(url).send().await
            && resp.status() == status
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered {status}; the process printed:\n{}", proc.output());
}
