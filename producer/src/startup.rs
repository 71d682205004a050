//! Building the application from its configuration, and serving it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::Cors;
use poem::{EndpointExt, IntoEndpoint, Route, Server};
use poem_openapi::OpenApiService;
use registry::config::redact_url;
use registry::queue::{Connection, Timeouts};
use registry::store::{self, Store};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::middleware;
use crate::rate_limit::WriteLimiter;
use crate::routes::{docs, frontend, health::HealthApi, metrics, users::UsersApi};
use crate::state::AppState;

/// How long in-flight requests get to finish after a stop signal.
const DRAIN: Duration = Duration::from_secs(8);

/// A producer bound to its port, ready to serve.
pub struct Application {
    acceptor: poem::listener::TcpAcceptor,
    app: poem::endpoint::BoxEndpoint<'static>,
    /// The second listener, serving only `/metrics` (`--metrics-listen`).
    metrics: Option<poem::listener::TcpAcceptor>,
    max_connections: usize,
    state: Arc<AppState>,
}

impl Application {
    /// Connects to Redis (lazily) and MySQL (retrying until it answers), applies the schema
    /// and binds the listen address (port 0 picks a free port: see [`Application::addr`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        tracing::info!(
            listen = %config.listen,
            metrics = config.metrics_listen.as_deref().unwrap_or("(on the HTTP address)"),
            swagger_ui = config.swagger_ui,
            redis = %redact_url(&config.redis.redis_url),
            mysql = %redact_url(&config.mysql.mysql_url),
            key_prefix = %config.redis.key_prefix,
            "starting the producer"
        );
        let conn = Connection::open(&config.redis, Timeouts::INTERACTIVE).context("invalid Redis URL or CA file")?;
        store::options_for(&config.mysql)?; // a setting that cannot work stops the start here
        let store = connect_store(&config.mysql).await?;
        let id_floor = store.max_id().await.context("reading the highest stored id")?;
        let state = Arc::new(AppState::new(
            conn,
            store,
            config.cache.ttl(),
            WriteLimiter::new(config.rate_limit, config.rate_limit_burst),
            id_floor,
            config.replication(),
        )?);
        state.registrar.load_emails();
        let acceptor = TcpListener::bind(config.listen.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let metrics = match &config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr.clone())
                    .into_acceptor()
                    .await
                    .with_context(|| format!("binding {addr} for /metrics"))?,
            ),
            None => None,
        };
        let app = routes(&config, state.clone());
        Ok(Self {
            acceptor,
            app,
            metrics,
            max_connections: config.max_connections as usize,
            state,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        bound(&self.acceptor)
    }

    /// The address of the `/metrics` listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(bound)
    }

    /// The shared state (tests reach the services and the store through it).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `stop` resolves, then stops accepting and lets requests in flight finish.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr(), "producer listening");
        let limiter_state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                if let Some(limiter) = &limiter_state.limiter {
                    limiter.forget_idle();
                }
            }
        });
        let metrics_stop = CancellationToken::new();
        let metrics = self.metrics.map(|acceptor| {
            tracing::info!(addr = %bound(&acceptor), "producer metrics listening");
            let app = Route::new()
                .at("/metrics", poem::get(metrics::scrape))
                .data(self.state.clone());
            let stop = metrics_stop.clone();
            tokio::spawn(Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                app,
                async move { stop.cancelled().await },
                Some(Duration::from_secs(1)),
            ))
        });
        let result = Server::new_with_acceptor(crate::deadline::SlowClientGuard::new(
            self.acceptor,
            self.max_connections,
        ))
        .run_with_graceful_shutdown(self.app, stop, Some(DRAIN))
        .await;
        metrics_stop.cancel();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        sweeper.abort();
        self.state.store.clone().close().await;
        tracing::info!("producer stopped");
        result
    }
}

fn bound(acceptor: &poem::listener::TcpAcceptor) -> SocketAddr {
    acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .expect("a TCP listener has a socket address")
}

/// Retries the MySQL connection with backoff until it works (or Ctrl-C/SIGTERM).
async fn connect_store(settings: &registry::config::MysqlArgs) -> anyhow::Result<Store> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        registry::shutdown_signal().await;
        on_signal.cancel();
    });
    let result = registry::retry::until_done(
        "connecting to MySQL",
        &cancel,
        |e: &store::StoreError| e.is_transient(),
        || Store::open(settings),
    )
    .await;
    watcher.abort();
    Ok(result.context("stopped while waiting for MySQL")??)
}

/// The whole HTTP surface.
pub fn routes(config: &Config, state: Arc<AppState>) -> poem::endpoint::BoxEndpoint<'static> {
    let api = OpenApiService::new((UsersApi, HealthApi), "User registry", env!("CARGO_PKG_VERSION")).description(
        "Add users through a Redis queue; read them cache-first. Errors are `{\"error\", \"message\", \"field\"?}`.",
    );
    let spec = api.spec_endpoint();
    let docs = config.swagger_ui.then(|| docs::endpoint(api.swagger_ui_html()));
    let api = Arc::new(api.into_endpoint());
    let mut route = Route::new()
        .at("/api/openapi.json", spec)
        .nest_no_strip("/api", api.clone())
        .nest_no_strip("/health", api);
    if let Some(docs) = docs {
        route = route.nest("/docs", Route::new().at("/", docs));
    }
    if config.metrics_listen.is_none() {
        route = route.at("/metrics", poem::get(metrics::scrape));
    }
    let route = route
        .at("/", frontend::page)
        .at("/*path", frontend::page)
        .data(state.clone());
    let trusted: Arc<[ipnet::IpNet]> = config.trusted_proxies.clone().into();
    let cors = cors(&config.cors_origins);
    let app = route.around(move |ep, req| middleware::around(ep, trusted.clone(), state.clone(), req));
    match cors {
        Some(cors) => app.with(cors).boxed(),
        None => app.boxed(),
    }
}

fn cors(origins: &[String]) -> Option<Cors> {
    let origins: Vec<&str> = origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return None;
    }
    let cors = Cors::new()
        .allow_methods(["GET", "POST", "OPTIONS"])
        .allow_headers(["content-type", "idempotency-key", "x-request-id"])
        .expose_headers(["location", "retry-after", "x-request-id"])
        .max_age(600);
    Some(if origins.contains(&"*") {
        cors
    } else {
        cors.allow_origins(origins)
    })
}
