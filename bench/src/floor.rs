//! The floor under the producer's figures: the least any poem service can do per request on
//! this machine. A bare poem server, on the same runtime as the producer, answers the same
//! requests with the same status and about the same bodies, doing nothing else (`--redis-url`
//! absent), or doing exactly one Redis command per request on one multiplexed connection
//! (`LPUSH` of the body for a POST, `GET` of one cached user for a GET): the least a producer
//! that keeps its queue in Redis can do. wrk measures it with the producer's own scripts.
//!
//! It serves until stopped (SIGTERM or Ctrl-C); `scripts/bench` starts and stops it.

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::{Data, Json, Path};
use poem::{EndpointExt, Response, Route, Server, handler, post};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

/// Options of `bench http-floor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to serve on.
    #[arg(long)]
    listen: String,
    /// With a Redis URL, each request also runs one Redis command (see the module's text).
    /// Deliberately not read from `REDIS_URL`: without this flag, no Redis.
    #[arg(long)]
    redis_url: Option<String>,
}

/// The key the POSTs push onto and the GETs read; `scripts/bench` deletes it afterwards.
const KEY: &str = "{floor}:list";
const CACHED: &str = "{floor}:user";
/// A cached user as the producer returns one (about the same size).
const USER: &str = r#"{"id":1,"name":"Cached 1","email":"cached.1@example.com","created_at":"2026-11-23T20:00:00.000Z","status":"stored","source":"cache"}"#;

#[handler]
async fn create(body: Json<serde_json::Value>, redis: Data<&Option<MultiplexedConnection>>) -> poem::Result<Response> {
    if let Some(redis) = redis.0 {
        let body = serde_json::to_vec(&body.0).map_err(poem::error::InternalServerError)?;
        let _: i64 = redis
            .clone()
            .lpush(KEY, body)
            .await
            .map_err(poem::error::InternalServerError)?;
    }
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("Location", "/api/users/1")
        .content_type("application/json; charset=utf-8")
        .body(r#"{"id":1,"status":"queued"}"#))
}

#[handler]
async fn read(Path(_id): Path<u64>, redis: Data<&Option<MultiplexedConnection>>) -> poem::Result<Response> {
    let body = match redis.0 {
        Some(redis) => {
            let cached: Option<String> = redis
                .clone()
                .get(CACHED)
                .await
                .map_err(poem::error::InternalServerError)?;
            cached.ok_or_else(|| poem::Error::from_status(StatusCode::NOT_FOUND))?
        }
        None => USER.to_owned(),
    };
    Ok(Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(body))
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let redis = match &args.redis_url {
        Some(url) => {
            let mut conn = redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            let () = conn.set(CACHED, USER).await?;
            Some(conn)
        }
        None => None,
    };
    let app = Route::new()
        .at("/api/users", post(create))
        .at("/api/users/:id", poem::get(read))
        .data(redis);
    crate::progress(format_args!("HTTP floor serving on {}", args.listen));
    Server::new(TcpListener::bind(args.listen))
        .run_with_graceful_shutdown(app, registry::shutdown_signal(), None)
        .await?;
    Ok(serde_json::json!({}))
}
