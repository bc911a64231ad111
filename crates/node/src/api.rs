//! The REST/JSON API a validator serves to clients, and the routes of its OpenAPI document.
//!
//! Every route is under `/v1` (plus `/openapi.json` and the web console's `/console`). Every error is a JSON body
//! `{"error": {"code": "...", "message": "..."}}` with a stable `code`; bodies are bounded,
//! requests are rate-limited per client address, and nothing a rejected request carried changes
//! any state. 128-bit ids and amounts travel as decimal strings.
//!
//! One file per part of the API: `chain.rs` for the chain as a whole (batches, blocks, events,
//! state sync, status), `access.rs` (who asks, what they may read), `console.rs` (the web
//! console's page), then one per ledger module (`ledger.rs`). Each registers its handlers
//! with `utoipa_axum::routes!`, which takes a route's path and method from the handler's
//! `#[utoipa::path]` and adds its documentation in the same call, and has its own
//! `#[derive(OpenApi)]` part; [`routes`] merges the parts. The router is never given a route any
//! other way, so a route cannot be served undocumented (`crate::openapi`'s tests hold this).

mod access;
mod chain;
mod console;
mod ledger;

pub use access::{Caller, is_public, signs_its_body};

pub use chain::NodeStatus;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hansa_chain::FinalizedBlocks;
use hansa_chain::app::{App as GenericApp, QueryError, SubmitError};
use hansa_types::Hash;
use hansa_types::batch::BatchError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

/// Largest request body: a full batch of 8,190 transfers as JSON fits with room to spare.
pub const REQUEST_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Longest a client may ask to wait for finality.
pub const WAIT_MS_MAX: u64 = 60_000;
/// Requests per second each client address may make, and the burst it may save up.
pub const REQUESTS_PER_S_MAX: f64 = 5_000.0;
pub const REQUEST_BURST_MAX: f64 = 10_000.0;
/// Client addresses the rate limiter tracks at once.
pub const RATE_CLIENTS_MAX: usize = 10_000;

/// Blocks a validator may trail the network's finalized height by and still count as caught
/// up (a healthy validator under load trails by a block or two while it applies them).
pub const HEALTH_LAG_BLOCKS_MAX: u64 = 8;
/// The response header that marks an answer read from a validator that has not caught up.
pub const STALE_HEADER: &str = "hansa-stale";

/// The application a validator runs, on the production runtime.
pub type App = GenericApp<commonware_runtime::tokio::Context>;

/// What a validator knows of the network's progress, from consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The highest finalized height this validator has seen certified by the network.
    pub network_height: u64,
    /// Whether the network has finalized anything since this validator started (until then it
    /// cannot tell whether it is behind).
    pub heard_from_network: bool,
}

/// Whether a validator at `own` height has caught up with the network: `None` when it has,
/// otherwise why not.
pub fn lagging(own: u64, progress: Progress, lag_max: u64) -> Option<String> {
    if !progress.heard_from_network {
        return Some("no block finalized by the network since this validator started".into());
    }
    let behind = progress.network_height.saturating_sub(own);
    (behind > lag_max).then(|| format!("{behind} blocks behind the network's finalized height"))
}

/// The free space of the validator's data folder, sampled in the background, and the least it
/// must keep: below it the validator accepts no new work (`storage_full`) until space is
/// freed, so that a filling disk never reaches the state's writes.
#[derive(Debug)]
pub struct DiskSpace {
    /// Bytes available to the validator, as last sampled.
    pub available: std::sync::atomic::AtomicU64,
    /// The least it must keep free.
    pub minimum: u64,
}

impl DiskSpace {
    /// Why new work is refused, if the disk is short of space.
    pub fn refusal(&self) -> Option<ApiError> {
        let available = self.available.load(std::sync::atomic::Ordering::Relaxed);
        (available < self.minimum).then(|| {
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                format!(
                    "the validator's disk has {available} bytes free, under the {} it keeps free: it accepts no new work until space is freed",
                    self.minimum
                ),
            )
        })
    }
}

/// What the API reads besides the application.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    /// What the validator process reports of itself under `/v1/status`'s `node`.
    pub status: Arc<dyn Fn() -> NodeStatus + Send + Sync>,
    /// The network's progress as consensus sees it.
    pub progress: Arc<dyn Fn() -> Progress + Send + Sync>,
    /// The validator's archive of finalized blocks, for bodies the app no longer keeps.
    pub blocks: FinalizedBlocks,
    /// The data folder's free space.
    pub disk: Arc<DiskSpace>,
    /// Where auditors' reads of other organisations' data are recorded.
    pub access: Arc<crate::access_log::AccessLog>,
    /// The keys that sign access tokens, from genesis.
    identities: Arc<access::Identities>,
    limiter: Arc<Mutex<RateLimiter>>,
}

impl ApiState {
    pub fn new(
        app: App,
        status: Arc<dyn Fn() -> NodeStatus + Send + Sync>,
        progress: Arc<dyn Fn() -> Progress + Send + Sync>,
        blocks: FinalizedBlocks,
        disk: Arc<DiskSpace>,
        access: Arc<crate::access_log::AccessLog>,
    ) -> ApiState {
        let identities = Arc::new(access::Identities::of(&app.consortium().genesis));
        ApiState {
            app,
            status,
            progress,
            blocks,
            disk,
            access,
            identities,
            limiter: Arc::new(Mutex::new(RateLimiter::default())),
        }
    }

    /// Why this validator's reads are stale, if they are: its height and the network's.
    fn staleness(&self) -> (u64, Progress, Option<String>) {
        let own = self.app.finalized().height;
        let progress = (self.progress)();
        (own, progress, lagging(own, progress, HEALTH_LAG_BLOCKS_MAX))
    }
}

/// An API error: an HTTP status, a stable code and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// History asked for at `height`, below `history_from`, the lowest height whose `what` this
    /// validator keeps (it pruned the rest, or joined from a snapshot).
    fn not_kept(what: &str, history_from: u64, height: u64) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_kept",
            format!(
                "this validator keeps {what} from height {history_from} on (pruned, or joined from a \
                 snapshot); an archive validator has height {height}"
            ),
        )
    }

    /// The error as the API sends it.
    fn body(self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code, message: self.message } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, Json(self.body())).into_response()
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable and snake_case, for programs to branch on: each route's responses list the codes
    /// it gives.
    code: &'static str,
    /// For people; the wording may change.
    message: String,
}

/// A JSON answer whose objects list their keys in sorted order: byte for byte what the API
/// sent when it built its bodies as `serde_json::Value`s (whose maps sort their keys).
struct SortedJson<T>(T);

impl<T: Serialize> IntoResponse for SortedJson<T> {
    fn into_response(self) -> Response {
        Json(sorted(&self.0)).into_response()
    }
}

/// `body` as a JSON value, its maps' keys sorted.
fn sorted<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).expect("the API's bodies have string map keys and infallible serialisers")
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        let message = error.to_string();
        match error {
            SubmitError::Batch(BatchError::WrongChain { .. }) => {
                ApiError::bad_request("wrong_chain", message)
            }
            SubmitError::Batch(BatchError::UnknownOrganisation(_)) => {
                ApiError::new(StatusCode::FORBIDDEN, "unknown_organisation", message)
            }
            SubmitError::Batch(BatchError::BadSignature(_)) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message)
            }
            SubmitError::Batch(BatchError::Unauthorised(_)) => {
                ApiError::new(StatusCode::FORBIDDEN, "unauthorised", message)
            }
            SubmitError::Batch(BatchError::Replayed { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "replayed", message)
            }
            SubmitError::Batch(BatchError::UnknownKey { .. }) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unknown_key", message)
            }
            SubmitError::Batch(BatchError::KeyRevoked { .. }) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "key_revoked", message)
            }
            SubmitError::Batch(BatchError::KeyExpired { .. }) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "key_expired", message)
            }
            SubmitError::Batch(BatchError::KeyNotPermitted { .. }) => {
                ApiError::new(StatusCode::FORBIDDEN, "key_not_permitted", message)
            }
            SubmitError::Mempool(_) | SubmitError::TooManyWaiters => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
            }
            SubmitError::Storage(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", error.to_string())
    }
}

impl From<hansa_chain::app::IndexError> for ApiError {
    fn from(error: hansa_chain::app::IndexError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", error.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The parts of the API, each with its routes and their documentation: the chain's, then each
/// ledger module's. A module adds its part here in one line.
pub fn parts() -> Vec<OpenApiRouter<ApiState>> {
    vec![chain::routes(), access::routes(), ledger::routes(), console::routes()]
}

/// Every route with its documentation: the parts merged under the chain-wide document.
pub fn routes() -> OpenApiRouter<ApiState> {
    let document = <crate::openapi::ApiDoc as utoipa::OpenApi>::openapi();
    parts().into_iter().fold(OpenApiRouter::with_openapi(document), OpenApiRouter::merge)
}

/// The router over every route: a route it lacks answers the JSON `not_found`, every client
/// address is rate-limited, every request but the public ones is authenticated, and a stale
/// validator marks its answers. (The document it comes with
/// is served by its own route, `/openapi.json`.)
pub fn router(state: ApiState) -> axum::Router {
    let (router, _document) = routes().split_for_parts();
    router
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(state.clone(), mark_stale))
        .layer(middleware::from_fn_with_state(state.clone(), access::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .with_state(state)
}

/// Marks every answer of a validator that has not caught up with the network with
/// `hansa-stale: own=<height>; network=<height>`, so that a client knows (the Rust client then
/// prefers another validator's answer).
async fn mark_stale(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let (own, progress, Some(_)) = state.staleness()
        && let Ok(value) =
            header::HeaderValue::from_str(&format!("own={own}; network={}", progress.network_height))
    {
        response.headers_mut().insert(STALE_HEADER, value);
    }
    response
}

/// Rate limit per client address, and the request size bound (checked from the header here
/// and again while reading the body).
async fn limit(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    if !state.limiter.lock().expect("limiter lock is never poisoned").allow(address, Instant::now()) {
        return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; slow down")
            .into_response();
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > REQUEST_BYTES_MAX) {
        return too_large().into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, REQUEST_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large().into_response(),
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is over {REQUEST_BYTES_MAX} bytes"),
    )
}

/// A token bucket per client address, bounded in the number of addresses it remembers.
#[derive(Default)]
struct RateLimiter {
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimiter {
    fn allow(&mut self, address: IpAddr, now: Instant) -> bool {
        if self.buckets.len() >= RATE_CLIENTS_MAX && !self.buckets.contains_key(&address) {
            // Forget buckets that have refilled completely: they carry no information.
            let full = REQUEST_BURST_MAX / REQUESTS_PER_S_MAX;
            self.buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() < full);
            if self.buckets.len() >= RATE_CLIENTS_MAX {
                return false;
            }
        }
        let (tokens, last) = self.buckets.entry(address).or_insert((REQUEST_BURST_MAX, now));
        let refill = now.duration_since(*last).as_secs_f64() * REQUESTS_PER_S_MAX;
        *tokens = (*tokens + refill).min(REQUEST_BURST_MAX);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn parse_id(text: &str) -> ApiResult<u128> {
    text.parse::<u128>()
        .map_err(|_| ApiError::bad_request("bad_id", format!("`{text}` is not a decimal 128-bit id")))
}

fn parse_hash(text: &str) -> ApiResult<Hash> {
    Hash::from_hex(text).ok_or_else(|| ApiError::bad_request("bad_hash", "expected 64 hex digits"))
}

/// Query strings are parsed by hand so that a malformed one gets our JSON error.
fn parse_query<T: for<'de> Deserialize<'de>>(query: Option<&str>) -> ApiResult<T> {
    serde_urlencoded_like(query.unwrap_or(""))
        .and_then(|value| serde_json::from_value(value).map_err(|error| error.to_string()))
        .map_err(|message| ApiError::bad_request("bad_query", message))
}

/// Turns `a=1&b=x` into a JSON object, with numbers and booleans typed.
fn serde_urlencoded_like(query: &str) -> Result<Value, String> {
    let mut object = serde_json::Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            number if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                number.parse::<u64>().map(Value::from).map_err(|_| format!("`{key}` is out of range"))?
            }
            text => Value::String(text.to_string()),
        };
        if object.insert(key.to_string(), value).is_some() {
            return Err(format!("`{key}` is given twice"));
        }
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rate_limit_allows_a_burst_then_refuses_then_refills() {
        let mut limiter = RateLimiter::default();
        let address = IpAddr::from([127, 0, 0, 1]);
        let start = Instant::now();
        let allowed =
            (0..(REQUEST_BURST_MAX as usize + 10)).filter(|_| limiter.allow(address, start)).count();
        assert_eq!(allowed, REQUEST_BURST_MAX as usize, "the burst, then refusals");
        assert!(!limiter.allow(address, start));
        let later = start + Duration::from_millis(10);
        let refilled = (0..1_000).filter(|_| limiter.allow(address, later)).count();
        assert_eq!(refilled, (REQUESTS_PER_S_MAX * 0.010) as usize, "10 ms of refill");
        let other = IpAddr::from([127, 0, 0, 2]);
        assert!(limiter.allow(other, start), "each address has its own bucket");
    }

    #[test]
    fn query_strings_are_typed_and_duplicates_refused() {
        let value = serde_urlencoded_like("limit=5&reversed=true&code=x").expect("parses");
        assert_eq!(value["limit"], 5);
        assert_eq!(value["reversed"], true);
        assert_eq!(value["code"], "x");
        assert!(serde_urlencoded_like("a=1&a=2").is_err());
        assert!(serde_urlencoded_like("a=99999999999999999999999").is_err());
    }

    #[test]
    fn a_disk_short_of_its_minimum_refuses_new_work() {
        let disk = DiskSpace { available: std::sync::atomic::AtomicU64::new(5_000), minimum: 10_000 };
        let refusal = disk.refusal().expect("short of space");
        assert_eq!((refusal.status, refusal.code), (StatusCode::INSUFFICIENT_STORAGE, "storage_full"));
        disk.available.store(10_000, std::sync::atomic::Ordering::Relaxed);
        assert!(disk.refusal().is_none(), "space freed: work is accepted again");
        let off = DiskSpace { available: std::sync::atomic::AtomicU64::new(0), minimum: 0 };
        assert!(off.refusal().is_none(), "a minimum of zero turns the check off");
    }

    #[test]
    fn a_validator_is_caught_up_only_within_the_lag_of_a_height_it_heard_of() {
        let heard = |network_height| Progress { network_height, heard_from_network: true };
        assert_eq!(lagging(100, heard(100), 8), None);
        assert_eq!(lagging(92, heard(100), 8), None, "within the lag");
        assert_eq!(lagging(100, heard(90), 8), None, "ahead of a stale network height");
        let behind = lagging(91, heard(100), 8).expect("9 blocks behind");
        assert!(behind.contains("9 blocks behind"), "{behind}");
        let unknown = Progress { network_height: 100, heard_from_network: false };
        assert!(lagging(100, unknown, 8).is_some(), "no finalization heard since the start");
    }
}
