//! The floor under the producer's figures: the least any poem service can do per request on
//! this machine. A bare poem server, on the same runtime as the producer, answers the same
//! requests with the same status and about the same bodies, doing nothing else (`--redis-url`
//! absent), or doing exactly one Redis command per request on one multiplexed connection
//! (`LPUSH` of the body for a POST, `GET` of one cached user for a GET): the least a producer
//! that keeps its queue in Redis can do. wrk measures it with the producer's own scripts.
//!
//! With `--enqueue`, a POST instead does what the contract asks of Redis, with the producer's
//! own code and nothing else: the name and email are validated, and the user is queued by the
//! producer's enqueue (the script and the task that batches concurrent calls): an id, the
//! message in the queue and in the pending hash (`GET` of a queued user), its email checked
//! against and added to the accepted ones. No middleware, request log, metrics, rate limit or
//! `Idempotency-Key`: what the producer costs beyond this floor is those.
//!
//! It serves until stopped (SIGTERM or Ctrl-C); `scripts/bench` starts and stops it.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::{Data, Json, Path};
use poem::{EndpointExt, Response, Route, Server, handler, post};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use registry::coalesce::Coalescer;
use registry::domain::NewUser;
use registry::message::MessageTail;
use registry::queue::{Connection, EnqueueRequest, Enqueued, Enqueuer, QueueError, Timeouts};

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
    /// POSTs queue each user with the producer's enqueue instead of an `LPUSH` (see the
    /// module's text), under the key prefix `floor`. Needs `--redis-url`.
    #[arg(long, requires = "redis_url")]
    enqueue: bool,
}

/// What a request does besides answering.
struct Work {
    /// One multiplexed connection: the `LPUSH` or `GET` of each request.
    redis: Option<MultiplexedConnection>,
    /// The producer's enqueue, with `--enqueue`.
    enqueuer: Option<Coalescer<EnqueueRequest, Enqueued, QueueError>>,
}

/// The key the POSTs push onto and the GETs read; `scripts/bench` deletes it afterwards.
const KEY: &str = "{floor}:list";
const CACHED: &str = "{floor}:user";
/// The key prefix of `--enqueue`: its keys are `{floor}:queue`, `{floor}:pending`, ...
const PREFIX: &str = "floor";
/// A cached user as the producer returns one (about the same size).
const USER: &str = r#"{"id":1,"name":"Cached 1","email":"cached.1@example.com","created_at":"2026-11-23T20:00:00.000Z","status":"stored","source":"cache"}"#;

#[handler]
async fn create(body: Json<serde_json::Value>, work: Data<&Arc<Work>>) -> poem::Result<Response> {
    let id = match (&work.enqueuer, &work.redis) {
        (Some(enqueuer), _) => enqueue(enqueuer, &body.0).await?,
        (None, Some(redis)) => {
            let body = serde_json::to_vec(&body.0).map_err(poem::error::InternalServerError)?;
            let _: i64 = redis
                .clone()
                .lpush(KEY, body)
                .await
                .map_err(poem::error::InternalServerError)?;
            1
        }
        (None, None) => 1,
    };
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("Location", format!("/api/users/{id}"))
        .content_type("application/json; charset=utf-8")
        .body(format!(r#"{{"id":{id},"status":"queued"}}"#)))
}

/// Validates the user and queues it as the producer does; answers its id.
async fn enqueue(
    enqueuer: &Coalescer<EnqueueRequest, Enqueued, QueueError>,
    body: &serde_json::Value,
) -> poem::Result<u64> {
    let field = |name| body.get(name).and_then(serde_json::Value::as_str);
    let user = NewUser::parse(field("name").unwrap_or(""), field("email"))
        .map_err(|e| poem::Error::from_string(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY))?;
    let request_id = uuid::Uuid::now_v7().to_string();
    let tail = MessageTail::accepted_now(&user, &request_id);
    let email_key = user.email_key();
    match enqueuer
        .call(EnqueueRequest::new(&tail, None, email_key.as_deref(), true))
        .await
    {
        Ok(Enqueued::New(id)) => Ok(id.get()),
        // The wrk scripts send each email once: anything else is a fault of the floor.
        Ok(other) => Err(poem::Error::from_string(
            format!("the enqueue answered {other:?}"),
            StatusCode::INTERNAL_SERVER_ERROR,
        )),
        Err(err) => Err(poem::error::InternalServerError(err)),
    }
}

#[handler]
async fn read(Path(_id): Path<u64>, work: Data<&Arc<Work>>) -> poem::Result<Response> {
    let body = match &work.redis {
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
    let mut work = Work {
        redis: None,
        enqueuer: None,
    };
    if let Some(url) = &args.redis_url {
        let mut conn = redis::Client::open(url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        let () = conn.set(CACHED, USER).await?;
        if args.enqueue {
            let queue = Connection::connect(url, PREFIX, Timeouts::INTERACTIVE)?;
            // Redis knows every stored email (there are none): the script alone answers.
            let () = conn.set(queue.keys().email_filter_loaded(), "1").await?;
            work.enqueuer = Some(Enqueuer::new(queue).spawn_batcher(0));
        }
        work.redis = Some(conn);
    }
    let app = Route::new()
        .at("/api/users", post(create))
        .at("/api/users/:id", poem::get(read))
        .data(Arc::new(work));
    crate::progress(format_args!("HTTP floor serving on {}", args.listen));
    Server::new(TcpListener::bind(args.listen))
        .run_with_graceful_shutdown(app, registry::shutdown_signal(), None)
        .await?;
    Ok(serde_json::json!({}))
}
