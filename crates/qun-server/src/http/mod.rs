//! HTTP plumbing: the accept loop with its connection caps and deadlines, the router, the
//! request context (app, caller, envelope), the client's address, JSON bodies and error
//! replies. Handlers live in [`crate::rest`].

mod client_address;
mod context;
mod error;
pub mod limits;
mod metrics;
pub mod serve;

pub use client_address::ClientAddress;
pub use context::{Ctx, FormBody, JsonBody, OpenCtx};
pub use error::HttpError;

use axum::Router;
use axum::http::{Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;

/// Every route Qun serves (`/metrics` too, unless it has a listener of its own:
/// [`metrics_router`]).
pub fn router(state: AppState) -> Router {
    let base = Router::new();
    let base = match state.config.metrics_listen {
        None => base.route("/metrics", axum::routing::get(metrics::metrics)),
        Some(_) => base,
    };
    guarded(
        base.route("/health", axum::routing::get(health))
            .route("/websocket", axum::routing::get(crate::gateway::upgrade))
            .nest(
                "/{org}/{app}",
                crate::rest::routes()
                    .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::observe)),
            )
            .fallback(error::not_found)
            .with_state(state),
    )
}

/// `/metrics` alone, for `--metrics-listen`.
pub fn metrics_router(state: AppState) -> Router {
    guarded(Router::new().route("/metrics", axum::routing::get(metrics::metrics)).with_state(state))
}

/// How long `/health` waits for the database before it says it is unavailable.
const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /health`: ready when the database answers a trivial read within `HEALTH_DEADLINE`.
async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    let answered = match tokio::time::timeout(HEALTH_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("the database does not answer: {error}")),
        Err(_) => Err(format!("the database did not answer within {} s", HEALTH_DEADLINE.as_secs())),
    };
    health_reply(state.store.backend(), answered)
}

fn health_reply(backend: &str, answered: Result<(), String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (status, reason) = match answered {
        Ok(()) => (axum::http::StatusCode::OK, None),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Some(reason))
        }
    };
    let body = qun_proto::rest::server::Health {
        status: if reason.is_none() { "ok" } else { "unavailable" }.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: backend.to_owned(),
        reason,
    };
    (status, axum::Json(body)).into_response()
}

/// What every route gets: a panic in a handler becomes a 500 in Agora's envelope (and the
/// server goes on), and CORS: browser apps on another origin send the JSON content type and
/// the Authorization header, which triggers a preflight; the SDK's file calls add their own
/// headers (`restrict-access` and the thumbnail sizes on upload; `share-secret`, `thumbnail`
/// and `X-Requested-With` on download).
fn guarded(router: Router) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers(
            [
                "authorization",
                "content-type",
                "accept",
                "restrict-access",
                "thumbnail-width",
                "thumbnail-height",
                "share-secret",
                "thumbnail",
                "x-requested-with",
            ]
            .map(header::HeaderName::from_static),
        );
    router
        .layer(CatchPanicLayer::custom(error::panic_reply))
        .layer(axum::middleware::map_response(error::json_ends_with_newline))
        .layer(cors)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn health_says_why_it_is_not_ready() {
        let reply = health_reply("postgres", Err("the database does not answer: closed".into()));
        assert_eq!(reply.status(), 503);
        let body = axum::body::to_bytes(reply.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (body["status"].as_str(), body["backend"].as_str(), body["reason"].as_str()),
            (Some("unavailable"), Some("postgres"), Some("the database does not answer: closed"))
        );
        assert_eq!(health_reply("sqlite", Ok(())).status(), 200);
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
        let routes = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, guarded(routes)).await });
        for _ in 0..2 {
            let reply = reqwest::get(format!("{base}/boom")).await.unwrap();
            assert_eq!(reply.status(), 500);
            let body: serde_json::Value = reply.json().await.unwrap();
            assert_eq!(body["error"], "internal_server_error");
            assert_eq!(body["error_description"], "internal error", "the panic's text is not sent");
            assert_eq!(reqwest::get(format!("{base}/fine")).await.unwrap().text().await.unwrap(), "ok");
        }
    }
}
