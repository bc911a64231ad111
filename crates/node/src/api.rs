//! The REST/JSON API a validator serves to clients.
//!
//! Every route is under `/v1` (plus `/openapi.json`). Every error is a JSON body
//! `{"error": {"code": "...", "message": "..."}}` with a stable `code`; bodies are bounded,
//! requests are rate-limited per client address, and nothing a rejected request carried changes
//! any state. 128-bit ids and amounts travel as decimal strings.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use futures::StreamExt;
use hansa_chain::FinalizedBlocks;
use hansa_chain::app::{
    App as GenericApp, BatchOutcome, FinalizedEvent, QueryError, SubmitError, TransferFilter,
};
use hansa_ledger::modules::ledger::{ACCOUNTS, TRANSFERS};
use hansa_types::batch::BatchError;
use hansa_types::merkle::MerkleProof;
use hansa_types::{
    BATCHES_PER_SUBMISSION_MAX, BatchList, Decode, Hash, OperationProof, SignedBatch, StateKey,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::wrappers::BroadcastStream;

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
    pub status: Arc<dyn Fn() -> Value + Send + Sync>,
    /// The network's progress as consensus sees it.
    pub progress: Arc<dyn Fn() -> Progress + Send + Sync>,
    /// The validator's archive of finalized blocks, for bodies the app no longer keeps.
    pub blocks: FinalizedBlocks,
    /// The data folder's free space.
    pub disk: Arc<DiskSpace>,
    limiter: Arc<Mutex<RateLimiter>>,
}

impl ApiState {
    pub fn new(
        app: App,
        status: Arc<dyn Fn() -> Value + Send + Sync>,
        progress: Arc<dyn Fn() -> Progress + Send + Sync>,
        blocks: FinalizedBlocks,
        disk: Arc<DiskSpace>,
    ) -> ApiState {
        ApiState {
            app,
            status,
            progress,
            blocks,
            disk,
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
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

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/genesis", get(genesis))
        .route("/v1/ledgers", get(ledgers))
        .route("/v1/batches", post(submit))
        .route("/v1/batch-lists", post(submit_list))
        .route("/v1/batches/{digest}", get(batch))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/accounts/{id}/transfers", get(account_transfers))
        .route("/v1/accounts/{id}/balances", get(account_balances))
        .route("/v1/accounts/{id}/proof", get(account_proof))
        .route("/v1/transfers/{id}", get(transfer))
        .route("/v1/transfers/{id}/proof", get(transfer_proof))
        .route("/v1/operations/{id}", get(operation))
        .route("/v1/operations/{id}/proof", get(operation_proof))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/events", get(events))
        .route("/v1/state/snapshot", get(state_snapshot))
        .route("/v1/state/{part}/sync", post(state_sync))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(state.clone(), mark_stale))
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

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// 200 when this validator has caught up with the network's finalized height, 503 until then
/// (after a restart, while it replays and fetches blocks), with both heights either way.
async fn health(State(state): State<ApiState>) -> Response {
    let (own, progress, lag) = state.staleness();
    let mut body = json!({
        "ok": lag.is_none(),
        "height": own,
        "network_height": progress.network_height,
        "lag_blocks_max": HEALTH_LAG_BLOCKS_MAX,
    });
    let error = match (lag, state.disk.refusal()) {
        (_, Some(full)) => Some(json!({ "code": full.code, "message": full.message })),
        (Some(reason), None) => Some(json!({ "code": "catching_up", "message": reason })),
        (None, None) => None,
    };
    match error {
        None => Json(body).into_response(),
        Some(error) => {
            body["ok"] = json!(false);
            body["error"] = error;
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn status(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let finalized = state.app.finalized();
    let (batches, operations) = state.app.mempool_size();
    let genesis = &state.app.consortium().genesis;
    let (transfers, accounts) = state.app.index().counts()?;
    let store = state.app.store().status().await;
    let (speculative, speculative_max) = state.app.speculative_fill();
    let (waiters, waiters_max) = state.app.waiters_fill();
    let (forwarding, forwarding_max) = state.app.gossip_fill();
    let (_, progress, lag) = state.staleness();
    let config = state.app.config();
    Ok(Json(json!({
        "chain_name": genesis.chain_name,
        "chain_id": state.app.consortium().chain_id,
        "height": finalized.height,
        "network_height": progress.network_height,
        "history_from": state.app.index().history_from()?,
        "caught_up": lag.is_none(),
        "block_digest": finalized.digest,
        "state_root": finalized.state.root(),
        "state": finalized.state,
        "timestamp_ms": finalized.header.timestamp_ms,
        "accounts": accounts,
        "transfers": transfers,
        "disk": {
            "available_bytes": state.disk.available.load(std::sync::atomic::Ordering::Relaxed),
            "free_bytes_min": state.disk.minimum,
            "accepting_work": state.disk.refusal().is_none(),
        },
        "storage": {
            "applied_height": store.applied_height,
            "durable_height": store.durable_height,
            "checkpoint_interval": state.app.checkpoint_interval(),
            "records_log_size": store.records_size,
            "records_floor": store.records_floor,
            "log_size": store.log_size,
            "page_cache_pages_max": store.page_cache_pages_max,
        },
        "bounds": {
            "mempool_batches": { "fill": batches, "max": config.mempool.batches_max },
            "mempool_operations": { "fill": operations, "max": config.mempool.operations_max },
            "speculative_blocks": { "fill": speculative, "max": speculative_max },
            "waiters": { "fill": waiters, "max": waiters_max },
            "forwarding_queue": { "fill": forwarding, "max": forwarding_max },
            "events_buffer": { "max": config.events_buffer_max, "subscribers": state.app.subscribers() },
            "rate_limited_clients": {
                "fill": state.limiter.lock().expect("limiter lock is never poisoned").buckets.len(),
                "max": RATE_CLIENTS_MAX,
            },
            "state_page_cache_pages": { "max": store.page_cache_pages_max },
        },
        "mempool": { "batches": batches, "operations": operations, "not_forwarded": state.app.gossip_dropped() },
        "validators": genesis.validators.iter().map(|v| json!({
            "name": v.name, "org": v.org, "public_key": v.public_key, "api_address": v.api_address,
        })).collect::<Vec<_>>(),
        "node": (state.status)(),
    })))
}

/// The state a new validator can sync to: this validator's last checkpoint, with the header
/// whose state root commits to it and that header's finality certificate (checkable against
/// the genesis validators).
async fn state_snapshot(State(state): State<ApiState>) -> ApiResult<Json<hansa_chain::app::Snapshot>> {
    // The newest finalized block that has a finalization of its own (a joining validator's
    // consensus starts from it; a block finalized only through a descendant does not do). Its
    // state stays servable: the records are pruned only below a checkpoint a few back.
    let finalized = state.app.finalized();
    let lowest = finalized.height.saturating_sub(SNAPSHOT_SEARCH_BLOCKS).max(1);
    for height in (lowest..=finalized.height).rev() {
        let Some(block) = state.app.index().block(height)? else { break };
        let own = hansa_chain::FinalityCertificate::decode(&block.certificate)
            .is_ok_and(|certificate| certificate.links.is_empty());
        if own {
            return Ok(Json(hansa_chain::app::Snapshot {
                chain_id: state.app.consortium().chain_id,
                height,
                state: block.state,
                header: block.header,
                certificate: block.certificate,
            }));
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_snapshot",
        format!(
            "no finalized block with a finalization of its own in the last {SNAPSHOT_SEARCH_BLOCKS} blocks"
        ),
    ))
}

/// How far below its tip a validator looks for a block to offer as a snapshot.
const SNAPSHOT_SEARCH_BLOCKS: u64 = 64;

/// One state-sync request for the `records` or the `log` database (QMDB's request in
/// Commonware's codec, binary), answered with proofs against the requested size's root.
async fn state_sync(
    State(state): State<ApiState>,
    Path(part): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let part = hansa_state::Part::from_name(&part)
        .ok_or_else(|| ApiError::not_found(&format!("state part `{part}` (records or log)")))?;
    match state.app.store().serve_sync(part, &body).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()),
        Err(hansa_state::StoreError::BadRequest(message)) => {
            Err(ApiError::bad_request("bad_sync_request", message))
        }
        Err(other) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", other.to_string())),
    }
}

async fn genesis(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({
        "chain_id": state.app.consortium().chain_id,
        "genesis": state.app.consortium().genesis,
    }))
}

#[derive(Deserialize)]
struct LedgersQuery {
    #[serde(default)]
    audit: bool,
}

/// Each ledger's currency and totals (Σ debits posted, which double entry keeps equal to Σ
/// credits posted, and the same for pending), kept as blocks finalize. With `?audit=true`, also
/// an audit: every account read from the state at one height and summed, with the accounts
/// past their limits counted, independently of the running totals.
async fn ledgers(State(state): State<ApiState>, query: axum::extract::RawQuery) -> ApiResult<Json<Value>> {
    let query: LedgersQuery = parse_query(query.0.as_deref())?;
    let finalized = state.app.finalized();
    let totals: HashMap<u32, hansa_chain::app::LedgerTotals> =
        state.app.index().totals()?.into_iter().collect();
    let audit = if query.audit { Some(state.app.audit().await?) } else { None };
    let genesis = &state.app.consortium().genesis;
    let ledgers: Vec<Value> = genesis
        .ledgers
        .iter()
        .map(|spec| {
            let total = totals.get(&spec.id).copied().unwrap_or_default();
            let mut entry = json!({
                "id": spec.id, "currency": spec.currency, "scale": spec.scale, "issuer": spec.issuer,
                "accounts": total.accounts,
                "posted": total.posted.to_string(), "pending": total.pending.to_string(),
            });
            if let Some(audit) = &audit {
                let ledger = audit.ledgers.get(&spec.id).copied().unwrap_or_default();
                entry["audit"] = json!({
                    "accounts": ledger.accounts,
                    "debits_posted": ledger.debits_posted.to_string(),
                    "credits_posted": ledger.credits_posted.to_string(),
                    "debits_pending": ledger.debits_pending.to_string(),
                    "credits_pending": ledger.credits_pending.to_string(),
                    "balanced": ledger.balanced(),
                    "limit_violations": ledger.limit_violations,
                    "matches_running_totals": audit.height != finalized.height
                        || (ledger.debits_posted == total.posted && ledger.debits_pending == total.pending),
                });
            }
            entry
        })
        .collect();
    let mut body = json!({ "height": finalized.height, "ledgers": ledgers });
    if let Some(audit) = audit {
        body["audit"] = json!({
            "height": audit.height,
            "accounts_missing": audit.accounts_missing,
            "balanced": audit.ledgers.values().all(|ledger| ledger.balanced()),
            "limit_violations": audit.ledgers.values().map(|ledger| ledger.limit_violations).sum::<u64>(),
        });
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
struct SubmitQuery {
    #[serde(default)]
    wait: bool,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Submits a signed batch: JSON (`application/json`) or the canonical binary encoding
/// (`application/octet-stream`).
async fn submit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request_query: axum::extract::RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let query: SubmitQuery = parse_query(request_query.0.as_deref())?;
    if let Some(full) = state.disk.refusal() {
        return Err(full);
    }
    let signed: SignedBatch = if is_binary(&headers) {
        SignedBatch::decode(&body).map_err(|error| {
            ApiError::bad_request("malformed", format!("cannot decode the batch: {error}"))
        })?
    } else {
        let signed: SignedBatch = serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request("malformed", format!("cannot parse the batch: {error}"))
        })?;
        check_operation_count(&signed)?;
        signed
    };
    let (digest, receiver) = state.app.submit(signed, query.wait)?;
    let Some(receiver) = receiver else {
        let body = json!({ "batch_digest": digest, "status": "accepted" });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    };
    let wait = Duration::from_millis(query.timeout_ms.unwrap_or(30_000).min(WAIT_MS_MAX));
    match tokio::time::timeout(wait, receiver).await {
        Ok(Ok(outcome)) => Ok(Json(outcome_json(&outcome)).into_response()),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "replayed",
            format!(
                "batch {digest} was dropped without becoming final: another batch of the organisation used its sequence number"
            ),
        )),
        Err(_) => {
            state.app.forget_waiter(&digest);
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "not_final_yet",
                format!("batch {digest} was accepted but is not final yet; query /v1/batches/{digest}"),
            ))
        }
    }
}

/// Submits several signed batches at once: a JSON array of batches (`application/json`) or
/// the canonical binary `BatchList` (`application/octet-stream`). Each batch is admitted or
/// refused on its own; the answer lists, in order, each batch's digest or its error.
async fn submit_list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request_query: axum::extract::RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    if request_query.0.as_deref().is_some_and(|query| !query.is_empty()) {
        return Err(ApiError::bad_request(
            "bad_query",
            "a batch list takes no query (finality is on /v1/events and /v1/batches/{digest})",
        ));
    }
    if let Some(full) = state.disk.refusal() {
        return Err(full);
    }
    let batches = if is_binary(&headers) {
        BatchList::decode(&body)
            .map_err(|error| {
                ApiError::bad_request("malformed", format!("cannot decode the batch list: {error}"))
            })?
            .0
    } else {
        let batches: Vec<SignedBatch> = serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request("malformed", format!("cannot parse the batch list: {error}"))
        })?;
        if batches.is_empty() || batches.len() > BATCHES_PER_SUBMISSION_MAX {
            return Err(ApiError::bad_request(
                "malformed",
                format!("a batch list has 1 to {BATCHES_PER_SUBMISSION_MAX} batches, not {}", batches.len()),
            ));
        }
        for signed in &batches {
            check_operation_count(signed)?;
        }
        batches
    };
    // Checking thousands of signatures takes milliseconds: off the request threads.
    let app = state.app.clone();
    let results = tokio::task::spawn_blocking(move || app.submit_many(batches)).await.map_err(|_| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "admission stopped (shutting down?)")
    })?;
    let accepted = results.iter().filter(|result| result.is_ok()).count();
    let answers: Vec<Value> = results
        .into_iter()
        .map(|result| match result {
            Ok(digest) => json!({ "batch_digest": digest, "status": "accepted" }),
            Err(error) => {
                let error = ApiError::from(error);
                json!({ "error": { "code": error.code, "message": error.message } })
            }
        })
        .collect();
    let body = json!({ "accepted": accepted, "refused": answers.len() - accepted, "results": answers });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/octet-stream"))
}

/// JSON decoding does not bound a batch's operations (the binary decoder does).
fn check_operation_count(signed: &SignedBatch) -> ApiResult<()> {
    let count = signed.batch.operations.len();
    if count == 0 || count > hansa_types::OPERATIONS_PER_BATCH_MAX {
        return Err(ApiError::bad_request(
            "malformed",
            format!("a batch has 1 to {} operations, not {count}", hansa_types::OPERATIONS_PER_BATCH_MAX),
        ));
    }
    Ok(())
}

fn outcome_json(outcome: &BatchOutcome) -> Value {
    json!({
        "batch_digest": outcome.batch_digest,
        "status": "final",
        "org": outcome.org,
        "sequence": outcome.sequence,
        "height": outcome.height,
        "block_digest": outcome.block_digest,
        "first_index": outcome.first_index,
        "results": outcome.results.iter().map(|(id, code)| json!({
            "id": id.to_string(), "result": code, "code": *code as u32,
        })).collect::<Vec<_>>(),
    })
}

async fn batch(State(state): State<ApiState>, Path(digest): Path<String>) -> ApiResult<Json<Value>> {
    let digest = parse_hash(&digest)?;
    let outcome = state.app.index().batch(&digest)?;
    outcome
        .map(|outcome| Json(outcome_json(&outcome)))
        .ok_or_else(|| ApiError::not_found("final batch (it may still be waiting in a mempool)"))
}

async fn account(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let height = state.app.finalized().height;
    let account = state.app.account(id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(json!({ "height": height, "account": account })))
}

#[derive(Deserialize)]
struct TransfersQuery {
    #[serde(default)]
    timestamp_min: u64,
    #[serde(default)]
    timestamp_max: u64,
    #[serde(default)]
    code: u16,
    #[serde(default)]
    ledger: u32,
    #[serde(default = "yes")]
    debits: bool,
    #[serde(default = "yes")]
    credits: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn yes() -> bool {
    true
}

fn default_limit() -> u32 {
    100
}

async fn account_transfers(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let query: TransfersQuery = parse_query(query.0.as_deref())?;
    let height = state.app.finalized().height;
    if state.app.account(id).await?.is_none() {
        return Err(ApiError::not_found("account"));
    }
    let filter = TransferFilter {
        account_id: id,
        timestamp_min: query.timestamp_min,
        timestamp_max: query.timestamp_max,
        code: query.code,
        ledger: query.ledger,
        debits: query.debits,
        credits: query.credits,
        reversed: query.reversed,
        limit: query.limit,
    };
    let transfers = state.app.account_transfers(&filter).await?;
    Ok(Json(json!({ "height": height, "transfers": transfers })))
}

#[derive(Deserialize)]
struct BalancesQuery {
    height: Option<u64>,
    #[serde(default = "default_limit")]
    limit: u32,
}

async fn account_balances(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let query: BalancesQuery = parse_query(query.0.as_deref())?;
    let account = state.app.account(id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    if !account.flags.has(hansa_types::AccountFlags::HISTORY) {
        return Err(ApiError::bad_request(
            "no_history",
            "the account was created without the `history` flag, so past balances are not kept",
        ));
    }
    match query.height {
        Some(height) => {
            let balance = state
                .app
                .balance_at(id, height)?
                .ok_or_else(|| ApiError::not_found("balance at that height"))?;
            Ok(Json(json!({ "height": height, "balance": balance })))
        }
        None => Ok(Json(json!({ "balances": state.app.balance_history(id, query.limit)? }))),
    }
}

#[derive(Serialize)]
struct ProofEnvelope<T: Serialize> {
    kind: &'static str,
    chain_id: Hash,
    proof: T,
    /// The finalization certificate of `proof.header`, hex.
    certificate: String,
}

/// A record proof (format 2) of `key`, against the latest finalized header.
async fn record_proof(state: &ApiState, key: StateKey, what: &str) -> ApiResult<Json<Value>> {
    let envelope = state.app.prove(&key).await?.ok_or_else(|| ApiError::not_found(what))?;
    self::envelope("record", state, envelope.proof, envelope.certificate)
}

async fn account_proof(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    record_proof(&state, ACCOUNTS.key(id), "account").await
}

async fn transfer(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let height = state.app.finalized().height;
    let transfer = state.app.transfer(id).await?.ok_or_else(|| ApiError::not_found("transfer"))?;
    Ok(Json(json!({ "height": height, "transfer": transfer })))
}

async fn transfer_proof(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    record_proof(&state, TRANSFERS.key(id), "transfer").await
}

fn envelope<T: Serialize>(
    kind: &'static str,
    state: &ApiState,
    proof: T,
    certificate: Vec<u8>,
) -> ApiResult<Json<Value>> {
    let envelope = ProofEnvelope {
        kind,
        chain_id: state.app.consortium().chain_id,
        proof,
        certificate: hex::encode(certificate),
    };
    serde_json::to_value(envelope)
        .map(Json)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string()))
}

async fn operation(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let locations = state.app.index().locations(id)?;
    if locations.is_empty() {
        return Err(ApiError::not_found("final operation"));
    }
    let mut entries = Vec::new();
    for (height, index) in locations {
        let Some(block) = state.app.index().block(height)? else { continue };
        if let Some(code) = block.results.get(index as usize) {
            entries.push(json!({ "height": height, "index": index, "result": code, "code": *code as u32 }));
        }
    }
    Ok(Json(json!({ "id": id.to_string(), "submissions": entries })))
}

#[derive(Deserialize)]
struct OperationProofQuery {
    height: Option<u64>,
    index: Option<u32>,
}

async fn operation_proof(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let query: OperationProofQuery = parse_query(query.0.as_deref())?;
    let locations = state.app.index().locations(id)?;
    let (height, index) = match (query.height, query.index) {
        (Some(height), Some(index)) => locations.into_iter().find(|l| *l == (height, index)),
        _ => locations.into_iter().last(),
    }
    .ok_or_else(|| ApiError::not_found("final operation"))?;
    let block = state.app.index().block(height)?.ok_or_else(|| ApiError::not_found("block"))?;
    let recent = state.app.finalized().body(height).cloned();
    let body = match recent {
        Some(body) => (*body).clone(),
        None => state.blocks.get(height).await.ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the block is not in this validator's archive",
            )
        })?,
    };
    if body.digest() != block.digest {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the archive holds another block",
        ));
    }
    let (org, batch_digest, signature, operation) =
        body.operations().nth(index as usize).ok_or_else(|| ApiError::not_found("operation in block"))?;
    let operation_leaves = body.operation_leaves();
    let result_leaves = App::result_leaves(&body, &block.results);
    let index = index as usize;
    let build = |leaves: &[Hash]| {
        MerkleProof::build(leaves, index)
            .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "proof out of range"))
    };
    let proof = OperationProof {
        header: block.header.clone(),
        org,
        batch_digest,
        signature: *signature,
        operation: *operation,
        result: block.results[index],
        operation_path: build(&operation_leaves)?,
        result_path: build(&result_leaves)?,
    };
    envelope("operation", &state, proof, block.certificate.clone())
}

fn block_json(block: &hansa_chain::app::FinalizedBlock) -> Value {
    json!({
        "digest": block.digest,
        "header": block.header,
        "state": block.state,
        "certificate": hex::encode(&block.certificate),
        "batches": block.batches.iter().map(|batch| json!({
            "digest": batch.digest,
            "org": batch.org,
            "sequence": batch.sequence,
            "operations": batch.operations,
        })).collect::<Vec<_>>(),
    })
}

async fn latest_block(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let height = state.app.finalized().height;
    let latest = state.app.index().header_at(height)?.ok_or_else(|| ApiError::not_found("final block"))?;
    Ok(Json(block_json(&latest)))
}

async fn block(State(state): State<ApiState>, Path(height): Path<String>) -> ApiResult<Json<Value>> {
    let height: u64 =
        height.parse().map_err(|_| ApiError::bad_request("bad_height", "expected a block height"))?;
    let Some(block) = state.app.index().block(height)? else {
        let history_from = state.app.index().history_from()?;
        if height > 0 && height < history_from {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_kept",
                format!(
                    "this validator keeps finalized blocks from height {history_from} on (pruned, or joined \
                     from a snapshot); an archive validator has block {height}"
                ),
            ));
        }
        return Err(ApiError::not_found("final block"));
    };
    Ok(Json(block_json(&block)))
}

#[derive(Deserialize)]
struct EventsQuery {
    org: Option<u32>,
}

/// Server-sent events: one `block` event per finalized block, then one `batch` event per batch
/// in it (only the given organisation's with `?org=N`), with every operation's result.
async fn events(
    State(state): State<ApiState>,
    query: axum::extract::RawQuery,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let query: EventsQuery = parse_query(query.0.as_deref())?;
    let stream = BroadcastStream::new(state.app.subscribe()).flat_map(move |item| {
        let events: Vec<Result<Event, std::convert::Infallible>> = match item {
            Ok(event) => event_frames(&event, query.org),
            Err(_) => vec![Ok(Event::default().event("lagged").data("{\"lagged\":true}"))],
        };
        futures::stream::iter(events)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn event_frames(event: &FinalizedEvent, org: Option<u32>) -> Vec<Result<Event, std::convert::Infallible>> {
    let mut frames = vec![Ok(Event::default().event("block").data(
        json!({
            "height": event.height, "digest": event.digest, "timestamp_ms": event.timestamp_ms,
            "state_root": event.state_root, "batches": event.batches.len(),
        })
        .to_string(),
    ))];
    for outcome in &event.batches {
        if org.is_none_or(|org| org == outcome.org.0) {
            frames.push(Ok(Event::default().event("batch").data(outcome_json(outcome).to_string())));
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

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
