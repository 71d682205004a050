//! Logging: `RUST_LOG` filters (default `info`), pretty or JSON lines on stdout.
//!
//! Lines are formatted where they happen and written by a thread of their own
//! (tracing-appender), which takes every line waiting and writes them in one system call: a
//! request or a batch never waits on stdout, and a busy process writes far fewer times than it
//! logs. Nothing is dropped: when [`WAITING_LINES`] lines wait, loggers wait too (a bound
//! on memory: a consumer storing tens of thousands of users a second logs faster than a
//! shared CPU may write).

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Most formatted lines waiting for the writer (a few hundred bytes each).
pub const WAITING_LINES: usize = 4096;

/// Keeps the log writer running; dropping it writes the lines still waiting. Hold it in
/// `main` until the end.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber; call once at start. Later calls are ignored (tests), and
/// their guard holds nothing.
pub fn init(format: Option<LogFormat>) -> LogGuard {
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(WAITING_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = match format {
        // json-subscriber writes the same lines as tracing-subscriber's JSON format, cheaper per
        // line: it serializes a span's fields once, where
        // tracing-subscriber parses them back from JSON for every line in the span.
        LogFormat::Json => json_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .compact()
            .try_init(),
    };
    LogGuard {
        _writer: installed.ok().map(|()| guard),
    }
}
