//! The routes of the chain as a whole, whatever its modules: readiness and status, genesis,
//! batch submission and outcomes, operations and their proofs (every module's operations are
//! numbered and proven alike), blocks, the event stream, state sync, and the document itself.

use super::{
    ApiError, ApiResult, ApiState, App, Caller, ErrorBody, HEALTH_LAG_BLOCKS_MAX, RATE_CLIENTS_MAX,
    REQUEST_BYTES_MAX, SortedJson, WAIT_MS_MAX, parse_hash, parse_id, parse_query, sorted,
};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use hansa_chain::app::FinalizedEvent;
use hansa_types::merkle::MerkleProof;
use hansa_types::openapi::{DecimalU128, HexBytes};
use hansa_types::{
    BATCHES_PER_SUBMISSION_MAX, BatchList, Decode, Genesis, Hash, Header, OperationProof, OrgId, PublicKey,
    ResultCode, SignedBatch, StateCommitment,
};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The chain's part of the document (its schemas come with its routes).
#[derive(OpenApi)]
#[openapi(
    tags((name = "chain", description = "The chain as a whole: readiness, status, genesis, batches, \
        operations, blocks, events and state sync.")),
    components(schemas(BlockEvent))
)]
struct ChainApi;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ChainApi::openapi())
        .routes(routes!(openapi))
        .routes(routes!(health))
        .routes(routes!(status))
        .routes(routes!(genesis))
        .routes(routes!(submit))
        .routes(routes!(submit_list))
        .routes(routes!(batch))
        .routes(routes!(operation))
        .routes(routes!(operation_proof))
        .routes(routes!(latest_block))
        .routes(routes!(block))
        .routes(routes!(events))
        .routes(routes!(state_snapshot))
        .routes(routes!(state_sync))
}

/// The schema of `/openapi.json`'s answer.
struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("An OpenAPI 3.1 document: this one."))
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// The schema of a binary body: bytes in a format the operation describes.
struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl ToSchema for Binary {}

/// Generated once per process, from the routes the router serves.
#[utoipa::path(get, path = "/openapi.json", tag = "chain",
    summary = "This API's OpenAPI 3.1 document, generated from its routes and types",
    responses((status = 200, description = "The document", body = OpenApiDocument)))]
async fn openapi() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = DOCUMENT.get_or_init(crate::openapi::document_json);
    ([(header::CONTENT_TYPE, "application/json")], document.as_str())
}

/// A validator's readiness.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Whether it has caught up with the network and has room on disk for new work.
    ok: bool,
    /// Its finalized height.
    height: u64,
    /// The highest height the network finalized, as this validator has heard.
    network_height: u64,
    /// How many blocks it may trail the network by and still be ready.
    lag_blocks_max: u64,
}

/// A validator that is not ready: why (`catching_up` or `storage_full`), and its heights.
#[derive(Serialize, ToSchema)]
struct Unready {
    #[serde(flatten)]
    error: ErrorBody,
    #[serde(flatten)]
    health: Health,
}

/// 200 when this validator has caught up with the network's finalized height, 503 until then
/// (after a restart, while it replays and fetches blocks), with both heights either way.
#[utoipa::path(get, path = "/v1/health", tag = "chain",
    summary = "Readiness: caught up with the network's finalized height and room on disk",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready: `catching_up` (more than `lag_blocks_max` blocks \
            behind, or no finalization heard since it started) or `storage_full`", body = Unready),
    ))]
async fn health(State(state): State<ApiState>) -> Response {
    let (own, progress, lag) = state.staleness();
    let health = Health {
        ok: lag.is_none(),
        height: own,
        network_height: progress.network_height,
        lag_blocks_max: HEALTH_LAG_BLOCKS_MAX,
    };
    let error = match (lag, state.disk.refusal()) {
        (_, Some(full)) => Some(full),
        (Some(reason), None) => Some(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "catching_up", reason)),
        (None, None) => None,
    };
    match error {
        None => SortedJson(health).into_response(),
        Some(error) => {
            let unready = Unready { error: error.body(), health: Health { ok: false, ..health } };
            (StatusCode::SERVICE_UNAVAILABLE, SortedJson(unready)).into_response()
        }
    }
}

/// What `/v1/status` reports: the chain, this validator's storage, and every bound in force.
#[derive(Serialize, ToSchema)]
struct Status {
    chain_name: String,
    chain_id: Hash,
    /// The finalized height.
    height: u64,
    /// The highest height the network finalized, as this validator has heard.
    network_height: u64,
    /// The lowest height whose history (block, batches, account transfers) is kept here.
    history_from: u64,
    /// Within `lag_blocks_max` of the network (see `/v1/health`).
    caught_up: bool,
    block_digest: Hash,
    state_root: Hash,
    state: StateCommitment,
    timestamp_ms: u64,
    accounts: u64,
    transfers: u64,
    disk: DiskStatus,
    storage: StorageStatus,
    bounds: QueueBounds,
    mempool: MempoolStatus,
    memory: MemoryStatus,
    validators: Vec<ValidatorEntry>,
    node: NodeStatus,
}

/// The process's heap as its allocator (jemalloc) counts it: what the program has allocated, and
/// what the allocator holds resident beyond that (freed memory not yet returned, whole pages
/// around small allocations, its own metadata). Resident memory is about their sum plus code,
/// stacks and what C libraries allocate from the system's malloc; a heap whose use is flat
/// while the rest grows is fragmenting, not leaking. Zeros if the counters cannot be read.
#[derive(Serialize, ToSchema)]
struct MemoryStatus {
    heap_in_use_bytes: u64,
    heap_free_kept_bytes: u64,
}

impl MemoryStatus {
    fn now() -> MemoryStatus {
        use tikv_jemalloc_ctl::{epoch, stats};
        // jemalloc's counters are a snapshot refreshed when the epoch advances.
        let read = || -> Result<(usize, usize), tikv_jemalloc_ctl::Error> {
            epoch::advance()?;
            Ok((stats::allocated::read()?, stats::resident::read()?))
        };
        let (allocated, resident) = read().unwrap_or((0, 0));
        MemoryStatus {
            heap_in_use_bytes: allocated as u64,
            heap_free_kept_bytes: resident.saturating_sub(allocated) as u64,
        }
    }
}

/// The data folder's disk.
#[derive(Serialize, ToSchema)]
struct DiskStatus {
    available_bytes: u64,
    /// Below this the validator accepts no new work (`storage_full`).
    free_bytes_min: u64,
    accepting_work: bool,
}

/// The state store.
#[derive(Serialize, ToSchema)]
struct StorageStatus {
    applied_height: u64,
    /// The last checkpoint: a restart resumes here.
    durable_height: u64,
    checkpoint_interval: u64,
    records_log_size: u64,
    records_floor: u64,
    log_size: u64,
    page_cache_pages_max: usize,
}

/// Each bounded queue's fill and bound.
#[derive(Serialize, ToSchema)]
struct QueueBounds {
    mempool_batches: Fill,
    mempool_operations: Fill,
    speculative_blocks: Fill,
    waiters: Fill,
    forwarding_queue: Fill,
    events_buffer: EventsBuffer,
    rate_limited_clients: Fill,
    state_page_cache_pages: Bound,
}

/// A queue's fill and its bound.
#[derive(Serialize, ToSchema)]
struct Fill {
    fill: usize,
    max: usize,
}

/// A bound whose fill is not measured.
#[derive(Serialize, ToSchema)]
struct Bound {
    max: usize,
}

/// The events buffered per event-stream reader, and the readers.
#[derive(Serialize, ToSchema)]
struct EventsBuffer {
    max: usize,
    subscribers: usize,
}

#[derive(Serialize, ToSchema)]
struct MempoolStatus {
    batches: usize,
    operations: usize,
    /// Batches admitted here but not forwarded to the other validators (their queue was full).
    not_forwarded: u64,
}

/// A validator of genesis, as clients reach it.
#[derive(Serialize, ToSchema)]
struct ValidatorEntry {
    name: String,
    org: OrgId,
    public_key: PublicKey,
    api_address: String,
}

/// What the validator process reports of itself (from `run.rs`).
#[derive(Serialize, ToSchema)]
pub struct NodeStatus {
    /// Its name in genesis.
    pub validator: String,
    /// The highest finalization consensus has stored.
    pub consensus_finalized_height: u64,
    /// The highest finalized block handed to the application.
    pub delivered_height: u64,
    /// The highest consensus view in which this validator proposed or verified a proposal
    /// since it started. A validator joining from a snapshot after it lost its data waits for
    /// a snapshot finalized in a later view than any of its peers report.
    pub consensus_view: u64,
    /// Set when this validator joined from a state snapshot: it holds no blocks or history at
    /// or below this height.
    #[schema(required = true)]
    pub joined_at: Option<u64>,
    /// Whether that join happened since the process started.
    pub joined_in_this_run: bool,
    /// Blocks of history kept (null: all of it, archive mode).
    #[schema(required = true)]
    pub retention_blocks: Option<u64>,
    /// Every bound in force (`[bounds]` of `node.toml`, with defaults filled in).
    pub bounds: crate::config::Bounds,
}

#[utoipa::path(get, path = "/v1/status", tag = "chain",
    summary = "Chain, finalized head, storage, mempool, every bound in force and its fill, validators",
    responses(
        (status = 200, description = "The validator's status", body = Status),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn status(State(state): State<ApiState>) -> ApiResult<SortedJson<Status>> {
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
    let rate_limited = state.limiter.lock().expect("limiter lock is never poisoned").buckets.len();
    Ok(SortedJson(Status {
        chain_name: genesis.chain_name.clone(),
        chain_id: state.app.consortium().chain_id,
        height: finalized.height,
        network_height: progress.network_height,
        history_from: state.app.index().history_from()?,
        caught_up: lag.is_none(),
        block_digest: finalized.digest,
        state_root: finalized.state.root(),
        state: finalized.state,
        timestamp_ms: finalized.header.timestamp_ms,
        accounts,
        transfers,
        disk: DiskStatus {
            available_bytes: state.disk.available.load(std::sync::atomic::Ordering::Relaxed),
            free_bytes_min: state.disk.minimum,
            accepting_work: state.disk.refusal().is_none(),
        },
        storage: StorageStatus {
            applied_height: store.applied_height,
            durable_height: store.durable_height,
            checkpoint_interval: state.app.checkpoint_interval(),
            records_log_size: store.records_size,
            records_floor: store.records_floor,
            log_size: store.log_size,
            page_cache_pages_max: store.page_cache_pages_max,
        },
        bounds: QueueBounds {
            mempool_batches: Fill { fill: batches, max: config.mempool.batches_max },
            mempool_operations: Fill { fill: operations, max: config.mempool.operations_max },
            speculative_blocks: Fill { fill: speculative, max: speculative_max },
            waiters: Fill { fill: waiters, max: waiters_max },
            forwarding_queue: Fill { fill: forwarding, max: forwarding_max },
            events_buffer: EventsBuffer {
                max: config.events_buffer_max,
                subscribers: state.app.subscribers(),
            },
            rate_limited_clients: Fill { fill: rate_limited, max: RATE_CLIENTS_MAX },
            state_page_cache_pages: Bound { max: store.page_cache_pages_max },
        },
        mempool: MempoolStatus { batches, operations, not_forwarded: state.app.gossip_dropped() },
        memory: MemoryStatus::now(),
        validators: genesis
            .validators
            .iter()
            .map(|v| ValidatorEntry {
                name: v.name.clone(),
                org: v.org,
                public_key: v.public_key,
                api_address: v.api_address.clone(),
            })
            .collect(),
        node: (state.status)(),
    }))
}

/// The genesis document and the chain id (its hash).
#[derive(Serialize, ToSchema)]
struct ChainGenesis {
    chain_id: Hash,
    genesis: Genesis,
}

#[utoipa::path(get, path = "/v1/genesis", tag = "chain",
    summary = "The genesis document and the chain id",
    responses((status = 200, description = "Genesis", body = ChainGenesis)))]
async fn genesis(State(state): State<ApiState>) -> SortedJson<ChainGenesis> {
    let consortium = state.app.consortium();
    SortedJson(ChainGenesis { chain_id: consortium.chain_id, genesis: consortium.genesis.clone() })
}

/// Where a submitted batch is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BatchStatus {
    /// Admitted into a mempool, not final yet.
    Accepted,
    /// In a finalized block.
    Final,
}

/// A batch admitted into the mempool: follow it on `/v1/batches/{digest}` or `/v1/events`.
#[derive(Serialize, ToSchema)]
struct Accepted {
    batch_digest: Hash,
    /// `accepted`.
    status: BatchStatus,
}

/// The outcome of a final batch: where it is and each operation's result.
#[derive(Serialize, ToSchema)]
struct BatchOutcome {
    batch_digest: Hash,
    /// `final`.
    status: BatchStatus,
    org: OrgId,
    sequence: u64,
    /// The height of the finalized block that holds it.
    height: u64,
    block_digest: Hash,
    /// The index within the block of the batch's first operation.
    first_index: u32,
    /// Each operation's result, in batch order.
    results: Vec<OperationResult>,
}

/// One operation's result.
#[derive(Serialize, ToSchema)]
struct OperationResult {
    #[serde(with = "hansa_types::serde_u128")]
    #[schema(value_type = DecimalU128)]
    id: u128,
    result: ResultCode,
    /// The result's number.
    code: u32,
}

impl BatchOutcome {
    fn of(outcome: &hansa_chain::app::BatchOutcome) -> BatchOutcome {
        BatchOutcome {
            batch_digest: outcome.batch_digest,
            status: BatchStatus::Final,
            org: outcome.org,
            sequence: outcome.sequence,
            height: outcome.height,
            block_digest: outcome.block_digest,
            first_index: outcome.first_index,
            results: outcome
                .results
                .iter()
                .map(|(id, code)| OperationResult { id: *id, result: *code, code: *code as u32 })
                .collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SubmitQuery {
    /// Wait until the batch is final and answer with its outcome (200) instead of 202.
    #[serde(default)]
    wait: bool,
    /// The longest wait, in milliseconds (default 30,000; at most 60,000).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Submits a signed batch: JSON (`application/json`) or the canonical binary encoding
/// (`application/octet-stream`).
#[utoipa::path(post, path = "/v1/batches", tag = "chain",
    summary = "Submit a signed batch",
    params(SubmitQuery),
    request_body(description = "One signed batch of 1 to 8,190 operations", content(
        (SignedBatch = "application/json"),
        (inline(Binary) = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "Final (with `wait=true`): one result per operation", body = BatchOutcome),
        (status = 202, description = "Admitted into the mempool", body = Accepted),
        (status = 400, description = "`bad_query`; `malformed` (cannot be decoded, or 0 or more \
            than 8,190 operations); `wrong_chain`", body = ErrorBody),
        (status = 401, description = "`bad_signature`: the signature does not verify under the \
            organisation's key", body = ErrorBody),
        (status = 403, description = "`unknown_organisation`; `unauthorised`: the organisation \
            may not submit (an auditor)", body = ErrorBody),
        (status = 409, description = "`replayed`: the (organisation, sequence) was used by \
            another batch or is too old", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 8 MiB", body = ErrorBody),
        (status = 503, description = "`overloaded` (mempool or waiters full); `storage`", body = ErrorBody),
        (status = 504, description = "`not_final_yet`: admitted, not final within the wait; ask \
            `/v1/batches/{digest}` later", body = ErrorBody),
        (status = 507, description = "`storage_full`: the validator's disk is under its \
            free-space minimum", body = ErrorBody),
    ))]
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
        let accepted = Accepted { batch_digest: digest, status: BatchStatus::Accepted };
        return Ok((StatusCode::ACCEPTED, SortedJson(accepted)).into_response());
    };
    let wait = Duration::from_millis(query.timeout_ms.unwrap_or(30_000).min(WAIT_MS_MAX));
    match tokio::time::timeout(wait, receiver).await {
        Ok(Ok(outcome)) => Ok(SortedJson(BatchOutcome::of(&outcome)).into_response()),
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

/// The answer to a batch list: how many batches were admitted and refused, and each one's
/// digest or error, in the order sent.
#[derive(Serialize, ToSchema)]
struct BatchListAnswer {
    accepted: usize,
    refused: usize,
    results: Vec<Admission>,
}

/// 1 to 4,096 signed batches, as JSON.
#[derive(Deserialize)]
#[serde(transparent)]
struct SignedBatches(Vec<SignedBatch>);

impl PartialSchema for SignedBatches {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name(SignedBatch::name()))
            .min_items(Some(1))
            .max_items(Some(BATCHES_PER_SUBMISSION_MAX))
            .description(Some("1 to 4,096 signed batches"))
            .into()
    }
}

impl ToSchema for SignedBatches {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((SignedBatch::name().into(), SignedBatch::schema()));
        SignedBatch::schemas(schemas);
    }
}

/// One batch of a list: admitted, or refused with the error it would have had alone.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Admission {
    Accepted(Accepted),
    Refused(ErrorBody),
}

/// Submits several signed batches at once: a JSON array of batches (`application/json`) or
/// the canonical binary `BatchList` (`application/octet-stream`). Each batch is admitted or
/// refused on its own; the answer lists, in order, each batch's digest or its error.
#[utoipa::path(post, path = "/v1/batch-lists", tag = "chain",
    summary = "Submit 1 to 4,096 signed batches in one request; each is admitted or refused on its own",
    request_body(description = "1 to 4,096 signed batches", content(
        (SignedBatches = "application/json"),
        (inline(Binary) = "application/octet-stream"),
    )),
    responses(
        (status = 202, description = "Each batch's digest or error, in order", body = BatchListAnswer),
        (status = 400, description = "`bad_query` (a list takes no query); `malformed` (cannot be \
            decoded, 0 or more than 4,096 batches, a batch of 0 or more than 8,190 operations)",
            body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 8 MiB", body = ErrorBody),
        (status = 500, description = "`internal`: admission stopped (shutting down)", body = ErrorBody),
        (status = 507, description = "`storage_full`: the validator's disk is under its \
            free-space minimum", body = ErrorBody),
    ))]
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
        let SignedBatches(batches) = serde_json::from_slice(&body).map_err(|error| {
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
    let results: Vec<Admission> = results
        .into_iter()
        .map(|result| match result {
            Ok(digest) => {
                Admission::Accepted(Accepted { batch_digest: digest, status: BatchStatus::Accepted })
            }
            Err(error) => Admission::Refused(ApiError::from(error).body()),
        })
        .collect();
    let accepted = results.iter().filter(|result| matches!(result, Admission::Accepted(_))).count();
    let answer = BatchListAnswer { accepted, refused: results.len() - accepted, results };
    Ok((StatusCode::ACCEPTED, SortedJson(answer)).into_response())
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

#[utoipa::path(get, path = "/v1/batches/{digest}", tag = "chain",
    summary = "The outcome of a final batch",
    params(("digest" = String, Path, description = "The batch digest: 64 hex digits", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The batch is final", body = BatchOutcome),
        (status = 400, description = "`bad_hash`: not 64 hex digits", body = ErrorBody),
        (status = 404, description = "`not_found`: not final (it may still be waiting in a \
            mempool), below this validator's `history_from`, or another organisation's", body = ErrorBody),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn batch(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(digest): Path<String>,
) -> ApiResult<SortedJson<BatchOutcome>> {
    let digest = parse_hash(&digest)?;
    let missing = "final batch (it may still be waiting in a mempool)";
    let outcome = state.app.index().batch(&digest)?.ok_or_else(|| ApiError::not_found(missing))?;
    state.require_read(&caller, &[outcome.org], &format!("GET /v1/batches/{}", digest.to_hex()), missing)?;
    Ok(SortedJson(BatchOutcome::of(&outcome)))
}

/// The final submissions of operation `id` that `caller` may read, as (height, index in the
/// block, submitting organisation, block): submissions of the same id by other organisations
/// are theirs to read.
fn readable_submissions(
    state: &ApiState,
    caller: &Caller,
    id: u128,
) -> ApiResult<Vec<(u64, u32, OrgId, hansa_chain::app::FinalizedBlock)>> {
    let mut readable = Vec::new();
    for (height, index) in state.app.index().locations(id)? {
        let Some(block) = state.app.index().block(height)? else { continue };
        if let Some(org) = batch_org(&block, index)
            && caller.reads(&[org])
        {
            readable.push((height, index, org, block));
        }
    }
    Ok(readable)
}

/// The organisation whose batch holds operation `index` of `block`.
fn batch_org(block: &hansa_chain::app::FinalizedBlock, index: u32) -> Option<OrgId> {
    let mut first = 0u64;
    for batch in &block.batches {
        let end = first + u64::from(batch.operations);
        if u64::from(index) < end {
            return Some(batch.org);
        }
        first = end;
    }
    None
}

/// Where, and with what result, an operation id was final.
#[derive(Serialize, ToSchema)]
struct OperationSubmissions {
    #[serde(with = "hansa_types::serde_u128")]
    #[schema(value_type = DecimalU128)]
    id: u128,
    /// Every final submission of the id, oldest first (a retry answers `exists`).
    submissions: Vec<Submission>,
}

/// One final submission of an operation.
#[derive(Serialize, ToSchema)]
struct Submission {
    /// The block's height.
    height: u64,
    /// The operation's index in the block.
    index: u32,
    result: ResultCode,
    /// The result's number.
    code: u32,
}

#[utoipa::path(get, path = "/v1/operations/{id}", tag = "chain",
    summary = "Where and with what result an operation id was final",
    params(("id" = String, Path, description = "The operation id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Its final submissions", body = OperationSubmissions),
        (status = 400, description = "`bad_id`: not a decimal 128-bit number", body = ErrorBody),
        (status = 404, description = "`not_found`: no final operation has this id that the caller \
            submitted (an auditor: that anyone submitted)", body = ErrorBody),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn operation(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<SortedJson<OperationSubmissions>> {
    let id = parse_id(&id)?;
    let mut submissions = Vec::new();
    let mut owners = Vec::new();
    for (height, index, org, block) in readable_submissions(&state, &caller, id)? {
        if let Some(code) = block.results.get(index as usize) {
            owners.push(org);
            submissions.push(Submission { height, index, result: *code, code: *code as u32 });
        }
    }
    if submissions.is_empty() {
        return Err(ApiError::not_found("final operation"));
    }
    state.require_read(&caller, &owners, &format!("GET /v1/operations/{id}"), "final operation")?;
    Ok(SortedJson(OperationSubmissions { id, submissions }))
}

/// What a proof envelope holds.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ProofKind {
    /// A record in the state after a block (`RecordProofEnvelope`).
    Record,
    /// An operation and its result in a block (`OperationProofEnvelope`).
    Operation,
}

/// An operation's proof with the finality certificate of its block: everything `hansa verify`
/// needs besides the genesis file.
#[derive(Serialize, ToSchema)]
struct OperationProofEnvelope {
    /// `operation`.
    kind: ProofKind,
    chain_id: Hash,
    proof: OperationProof,
    /// The finalization certificate of `proof.header`.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    #[schema(value_type = HexBytes)]
    certificate: Vec<u8>,
    /// When a delegated key signed the operation's batch: which key, and the proof of its
    /// record (its organisation and public key) in the latest finalized state. Absent when the
    /// organisation's genesis key signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<SignerProof>,
}

/// The delegated key that signed a batch, proven from the state: a key's record is never
/// removed and its public key never changes, so a proof at any later height shows the key
/// that signed.
#[derive(Serialize, ToSchema)]
struct SignerProof {
    /// The key's number within its organisation (the batch's `key`).
    key: u32,
    /// The `keys.delegated` record of the key.
    record: StateProof,
    /// The finalization certificate of `record.header`.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    #[schema(value_type = HexBytes)]
    certificate: Vec<u8>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OperationProofQuery {
    /// The block of the submission to prove (with `index`; default: the latest submission).
    height: Option<u64>,
    /// The operation's index in that block.
    index: Option<u32>,
}

#[utoipa::path(get, path = "/v1/operations/{id}/proof", tag = "chain",
    summary = "Proof of an operation's inclusion in a finalized block and of its result",
    params(
        ("id" = String, Path, description = "The operation id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$"),
        OperationProofQuery,
    ),
    responses(
        (status = 200, description = "The proof and its block's finality certificate", body = OperationProofEnvelope),
        (status = 400, description = "`bad_id`; `bad_query`", body = ErrorBody),
        (status = 404, description = "`not_found`: no final operation with this id (at that \
            height and index) that the caller submitted (an auditor: that anyone submitted)", body = ErrorBody),
        (status = 500, description = "`internal`: the archive holds another block", body = ErrorBody),
        (status = 503, description = "`unavailable`: the block is not in this validator's \
            archive; `storage`", body = ErrorBody),
    ))]
async fn operation_proof(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<OperationProofEnvelope>> {
    let id = parse_id(&id)?;
    let query: OperationProofQuery = parse_query(query.0.as_deref())?;
    let readable = readable_submissions(&state, &caller, id)?;
    let (height, index, org, block) = match (query.height, query.index) {
        (Some(height), Some(index)) => readable.into_iter().find(|l| (l.0, l.1) == (height, index)),
        _ => readable.into_iter().last(),
    }
    .ok_or_else(|| ApiError::not_found("final operation"))?;
    state.require_read(&caller, &[org], &format!("GET /v1/operations/{id}/proof"), "final operation")?;
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
    // The batch holding operation `index` (its signer, its key) and the operation within it.
    let mut offset = index as usize;
    let (signed, operation) = body
        .batches
        .iter()
        .find_map(|signed| match signed.batch.operations.get(offset) {
            Some(operation) => Some((signed, operation)),
            None => {
                offset -= signed.batch.operations.len();
                None
            }
        })
        .ok_or_else(|| ApiError::not_found("operation in block"))?;
    let (org, key) = (signed.batch.org, signed.batch.key);
    let signer = if key == hansa_types::ROOT_KEY {
        None
    } else {
        let record = hansa_ledger::modules::keys::key_record(org, key);
        let envelope = state.app.prove(&record).await?.ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the signing key has no record")
        })?;
        Some(SignerProof { key, record: envelope.proof.into(), certificate: envelope.certificate })
    };
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
        batch_digest: signed.digest(),
        signature: signed.signature,
        operation: *operation,
        result: block.results[index],
        operation_path: build(&operation_leaves)?,
        result_path: build(&result_leaves)?,
    };
    Ok(SortedJson(OperationProofEnvelope {
        kind: ProofKind::Operation,
        chain_id: state.app.consortium().chain_id,
        proof,
        certificate: block.certificate.clone(),
        signer,
    }))
}

/// A record's proof with the finality certificate of its header: everything `hansa verify`
/// needs besides the genesis file.
#[derive(Serialize, ToSchema)]
pub(super) struct RecordProofEnvelope {
    /// `record`.
    kind: ProofKind,
    chain_id: Hash,
    proof: StateProof,
    /// The finalization certificate of `proof.header`.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    #[schema(value_type = HexBytes)]
    certificate: Vec<u8>,
}

/// A record and the proof that it is in the state after `header`'s block (proof format 3,
/// specified in the `hansa-state` crate's `proof.rs`).
#[derive(Serialize, ToSchema)]
struct StateProof {
    /// The proof format: 3 (format 2, values stored unpacked, still verifies).
    format: u16,
    header: Header,
    state: StateCommitment,
    record: RecordProof,
}

/// The proof of one record against a state commitment.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RecordProof {
    /// A current record's value is its current one (a QMDB `current` key-value proof against
    /// `records_root`).
    Current {
        table: u16,
        #[serde(with = "hansa_types::serde_u128")]
        #[schema(value_type = DecimalU128)]
        id: u128,
        /// The record's canonical encoding.
        #[serde(with = "hansa_types::serde_hex_bytes")]
        #[schema(value_type = HexBytes)]
        value: Vec<u8>,
        /// The storage proof (Commonware codec).
        #[serde(with = "hansa_types::serde_hex_bytes")]
        #[schema(value_type = HexBytes)]
        proof: Vec<u8>,
    },
    /// A log record was written at `location` of the log (a QMDB inclusion proof against
    /// `log_root`).
    Log {
        table: u16,
        #[serde(with = "hansa_types::serde_u128")]
        #[schema(value_type = DecimalU128)]
        id: u128,
        location: u64,
        /// The record's canonical encoding.
        #[serde(with = "hansa_types::serde_hex_bytes")]
        #[schema(value_type = HexBytes)]
        value: Vec<u8>,
        /// The storage proof (Commonware codec).
        #[serde(with = "hansa_types::serde_hex_bytes")]
        #[schema(value_type = HexBytes)]
        proof: Vec<u8>,
    },
}

impl From<hansa_state::proof::StateProof> for StateProof {
    fn from(proof: hansa_state::proof::StateProof) -> StateProof {
        // Destructured whole, so that a field added to the state crate's proof fails to compile
        // here until the API's schema has it too.
        let hansa_state::proof::StateProof { format, header, state, record } = proof;
        let record = match record {
            hansa_state::proof::RecordProof::Current { table, id, value, proof } => {
                RecordProof::Current { table, id, value, proof }
            }
            hansa_state::proof::RecordProof::Log { table, id, location, value, proof } => {
                RecordProof::Log { table, id, location, value, proof }
            }
        };
        StateProof { format, header, state, record }
    }
}

/// A record proof of `key`, against the latest finalized header.
pub(super) async fn record_proof(
    state: &ApiState,
    key: hansa_types::StateKey,
    what: &str,
) -> ApiResult<SortedJson<RecordProofEnvelope>> {
    let envelope = state.app.prove(&key).await?.ok_or_else(|| ApiError::not_found(what))?;
    Ok(SortedJson(RecordProofEnvelope {
        kind: ProofKind::Record,
        chain_id: state.app.consortium().chain_id,
        proof: envelope.proof.into(),
        certificate: envelope.certificate,
    }))
}

/// A finalized block as the index keeps it: its header, state commitment, certificate and
/// batches, without their operations (`/v1/operations/{id}/proof` proves those).
#[derive(Serialize, ToSchema)]
struct FinalizedBlock {
    digest: Hash,
    header: Header,
    state: StateCommitment,
    /// The block's finality certificate.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    #[schema(value_type = HexBytes)]
    certificate: Vec<u8>,
    /// The caller's batches in the block (an auditor's: every batch; without credentials:
    /// none). `header.operations_count` counts every batch's operations.
    batches: Vec<BatchSummary>,
}

/// A batch of a block, without its operations.
#[derive(Serialize, ToSchema)]
struct BatchSummary {
    digest: Hash,
    org: OrgId,
    sequence: u64,
    /// How many operations it carries.
    operations: u32,
}

impl FinalizedBlock {
    /// The block as `caller` may read it: its header, and the batches it may read (an
    /// auditor's read is logged for the batches' organisations).
    fn read_by(
        state: &ApiState,
        caller: Option<&Caller>,
        block: &hansa_chain::app::FinalizedBlock,
    ) -> ApiResult<FinalizedBlock> {
        let mut visible = Self::of(block);
        match caller {
            Some(caller) if caller.reads_everything() => {
                let owners: Vec<OrgId> = visible.batches.iter().map(|batch| batch.org).collect();
                let what = format!("GET /v1/blocks/{}", block.header.height);
                state.may_read(caller, &owners, &what)?;
            }
            Some(caller) => visible.batches.retain(|batch| caller.reads(&[batch.org])),
            None => visible.batches.clear(),
        }
        Ok(visible)
    }

    fn of(block: &hansa_chain::app::FinalizedBlock) -> FinalizedBlock {
        FinalizedBlock {
            digest: block.digest,
            header: block.header.clone(),
            state: block.state,
            certificate: block.certificate.clone(),
            batches: block
                .batches
                .iter()
                .map(|batch| BatchSummary {
                    digest: batch.digest,
                    org: batch.org,
                    sequence: batch.sequence,
                    operations: batch.operations,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/v1/blocks/latest", tag = "chain",
    summary = "The latest finalized block",
    responses(
        (status = 200, description = "The block", body = FinalizedBlock),
        (status = 404, description = "`not_found`: nothing finalized yet", body = ErrorBody),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn latest_block(
    State(state): State<ApiState>,
    caller: Option<Extension<Caller>>,
) -> ApiResult<SortedJson<FinalizedBlock>> {
    let height = state.app.finalized().height;
    let latest = state.app.index().header_at(height)?.ok_or_else(|| ApiError::not_found("final block"))?;
    Ok(SortedJson(FinalizedBlock::read_by(&state, caller.as_deref(), &latest)?))
}

#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "chain",
    summary = "A finalized block",
    params(("height" = String, Path, description = "The block height", pattern = "^[0-9]{1,20}$")),
    responses(
        (status = 200, description = "The block", body = FinalizedBlock),
        (status = 400, description = "`bad_height`: not a block height", body = ErrorBody),
        (status = 404, description = "`not_found`: not finalized; `not_kept`: below this \
            validator's `history_from` (pruned, or joined from a snapshot)", body = ErrorBody),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn block(
    State(state): State<ApiState>,
    caller: Option<Extension<Caller>>,
    Path(height): Path<String>,
) -> ApiResult<SortedJson<FinalizedBlock>> {
    let height: u64 =
        height.parse().map_err(|_| ApiError::bad_request("bad_height", "expected a block height"))?;
    let Some(block) = state.app.index().block(height)? else {
        let history_from = state.app.index().history_from()?;
        if height > 0 && height < history_from {
            return Err(ApiError::not_kept("finalized blocks", history_from, height));
        }
        return Err(ApiError::not_found("final block"));
    };
    Ok(SortedJson(FinalizedBlock::read_by(&state, caller.as_deref(), &block)?))
}

/// The data of a `block` event.
#[derive(Serialize, ToSchema)]
struct BlockEvent {
    height: u64,
    digest: Hash,
    timestamp_ms: u64,
    state_root: Hash,
    /// How many batches it holds (a `batch` event follows for each, or for each of `org`'s).
    batches: usize,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this organisation's `batch` events (an auditor's choice; every other caller gets
    /// its own only, and naming another organisation answers 404).
    org: Option<u32>,
    /// The access token, for clients that cannot set the `Authorization` header (a browser's
    /// `EventSource`); accepted on this route only.
    #[allow(dead_code, reason = "read by the authentication layer; declared for the document")]
    access_token: Option<String>,
}

/// Server-sent events: one `block` event per finalized block, then one `batch` event per batch
/// in it that the caller submitted (an auditor: every batch, or one organisation's with
/// `?org=N`), with every operation's result.
#[utoipa::path(get, path = "/v1/events", tag = "chain",
    summary = "Server-sent events for each finalized block",
    description = "A never-ending `text/event-stream`. Per finalized block: a `block` event \
        (data: a `BlockEvent`), then a `batch` event per batch (data: a `BatchOutcome`). A reader \
        that falls behind by more than the events buffer gets a `lagged` event (data: \
        `{\"lagged\":true}`) and misses events; `/v1/batches/{digest}` answers for any batch the \
        caller may read.",
    params(EventsQuery),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "`bad_query`", body = ErrorBody),
        (status = 404, description = "`not_found`: another organisation's events, asked for by a \
            non-auditor", body = ErrorBody),
        (status = 503, description = "`storage`: an auditor's read could not be logged", body = ErrorBody),
    ))]
async fn events(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: axum::extract::RawQuery,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let mut query: EventsQuery = parse_query(query.0.as_deref())?;
    if caller.reads_everything() {
        // The stream carries every organisation's outcomes from now on: logged once, at its start.
        let owners = query.org.map_or_else(|| state.every_org(), |org| vec![OrgId(org)]);
        let height = state.app.finalized().height;
        state.may_read(&caller, &owners, &format!("GET /v1/events (from height {height})"))?;
    } else if caller.validator || query.org.is_some_and(|org| org != caller.org.0) {
        return Err(ApiError::not_found("organisation's events"));
    } else {
        query.org = Some(caller.org.0);
    }
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
    let block = BlockEvent {
        height: event.height,
        digest: event.digest,
        timestamp_ms: event.timestamp_ms,
        state_root: event.state_root,
        batches: event.batches.len(),
    };
    let mut frames = vec![Ok(Event::default().event("block").data(sorted(&block).to_string()))];
    for outcome in &event.batches {
        if org.is_none_or(|org| org == outcome.org.0) {
            let data = sorted(&BatchOutcome::of(outcome)).to_string();
            frames.push(Ok(Event::default().event("batch").data(data)));
        }
    }
    frames
}

/// What a peer offers to sync from: the state commitment at one of its checkpoints and the
/// finalized header whose state root commits to it (`hansa_chain::app::Snapshot`, which a
/// joining validator reads this answer as).
#[derive(Serialize, ToSchema)]
struct Snapshot {
    chain_id: Hash,
    /// The checkpoint's height.
    height: u64,
    /// The state commitment at that height.
    state: StateCommitment,
    /// The finalized block's header at that height.
    header: Header,
    /// The header's finality certificate: the block's own finalization, without links.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    #[schema(value_type = HexBytes)]
    certificate: Vec<u8>,
}

/// How far below its tip a validator looks for a block to offer as a snapshot.
const SNAPSHOT_SEARCH_BLOCKS: u64 = 64;

/// The state a new validator can sync to: this validator's last checkpoint, with the header
/// whose state root commits to it and that header's finality certificate (checkable against
/// the genesis validators).
#[utoipa::path(get, path = "/v1/state/snapshot", tag = "chain",
    summary = "A state a new validator can join from",
    description = "The newest finalized block with a finalization of its own (not one finalized \
        through a descendant), with its state commitment, header and certificate.",
    responses(
        (status = 200, description = "The snapshot", body = Snapshot),
        (status = 404, description = "`no_snapshot`: no finalized block with a finalization of \
            its own in the last 64 blocks", body = ErrorBody),
        (status = 503, description = "`storage`: the index could not be read", body = ErrorBody),
    ))]
async fn state_snapshot(State(state): State<ApiState>) -> ApiResult<axum::Json<Snapshot>> {
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
            return Ok(axum::Json(Snapshot {
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

/// One state-sync request for the `records` or the `log` database (QMDB's request in
/// Commonware's codec, binary), answered with proofs against the requested size's root.
#[utoipa::path(post, path = "/v1/state/{part}/sync", tag = "chain",
    summary = "One state-sync request for the `records` or the `log` database",
    params(("part" = String, Path, description = "`records` or `log`")),
    request_body(description = "A QMDB sync request (Commonware codec) for at most 4,096 operations",
        content((inline(Binary) = "application/octet-stream"))),
    responses(
        (status = 200, description = "The QMDB sync response (Commonware codec), proven against \
            the requested size's root", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 400, description = "`bad_sync_request`: malformed, or over 4,096 operations", body = ErrorBody),
        (status = 404, description = "`not_found`: no such part, or the caller is neither a \
            validator nor an auditor", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 8 MiB", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn state_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(part): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let missing = format!("state part `{part}` (records or log)");
    let part = hansa_state::Part::from_name(&part).ok_or_else(|| ApiError::not_found(&missing))?;
    // The whole state, every organisation's records: for validators (joining from a snapshot)
    // and auditors, whose read is logged for every organisation.
    if caller.reads_everything() {
        state.may_read(&caller, &state.every_org(), &format!("POST /v1/state/{}/sync", part.name()))?;
    } else if !caller.validator {
        return Err(ApiError::not_found(&missing));
    }
    match state.app.store().serve_sync(part, &body).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()),
        Err(hansa_state::StoreError::BadRequest(message)) => {
            Err(ApiError::bad_request("bad_sync_request", message))
        }
        Err(other) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", other.to_string())),
    }
}

// The descriptions above name the bounds in words: they change together.
const _: () = assert!(REQUEST_BYTES_MAX == 8 * 1024 * 1024, "the 413 descriptions say 8 MiB");
const _: () = assert!(BATCHES_PER_SUBMISSION_MAX == 4_096 && hansa_types::OPERATIONS_PER_BATCH_MAX == 8_190);

#[cfg(test)]
mod tests {
    use super::*;

    /// A joining validator reads this answer as the chain crate's `Snapshot`.
    #[test]
    fn a_snapshot_answer_reads_back_as_the_chain_crate_snapshot() {
        let state = StateCommitment {
            records_root: Hash([1; 32]),
            records_ops_root: Hash([2; 32]),
            records_range: (3, 4),
            log_root: Hash([5; 32]),
            log_range: (6, 7),
        };
        let header = Header {
            version: hansa_types::block::HEADER_VERSION,
            height: 8,
            parent: Hash([9; 32]),
            timestamp_ms: 10,
            state_root: state.root(),
            operations_root: Hash::ZERO,
            operations_count: 0,
            results_root: Hash::ZERO,
            context: vec![11, 12],
        };
        let answer = Snapshot { chain_id: Hash([13; 32]), height: 8, state, header, certificate: vec![14] };
        let text = serde_json::to_string(&answer).expect("serialises");
        let read: hansa_chain::app::Snapshot = serde_json::from_str(&text).expect("reads back");
        assert_eq!(serde_json::to_string(&read).expect("serialises"), text, "same fields, same order");
    }
}
