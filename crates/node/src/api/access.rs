//! Who is asking, and what they may read.
//!
//! Every request but the public ones ([`is_public`]: health, status, genesis, block headers, the
//! state snapshot's header, the document and the console's page) and batch submissions (whose batches are signed,
//! [`signs_its_body`]) carries an access token
//! (`Authorization: Bearer <token>`, `hansa_types::token`): a short-lived JWT its organisation
//! signed with its own key. [`authenticate`] checks it (once per token: a checked token is kept
//! until it expires, in a bounded cache) and hands the handler a [`Caller`]; a request without
//! one answers 401 `unauthenticated`, a bad token 401 `bad_token` or `token_expired`. A token
//! may also come as `?access_token=` on the event stream only, since a browser's `EventSource`
//! sets no header (RFC 6750 §2.3).
//!
//! A token may also be signed by one of the organisation's delegated keys that has the `read`
//! permission (`hansa_types::keys`): it reads as its organisation. Such a key is looked up in
//! the finalized state at every request, cached token or not, so a revoked or expired key's
//! tokens stop at once.
//!
//! Read scopes: an organisation reads the accounts it owns, the transfers one of its accounts
//! takes part in, and the batches and operations it submitted, with their proofs; an auditor
//! reads everything, and each of its reads of another organisation's data is written to the
//! access log ([`crate::access_log`]) before it is answered. A read out of scope answers 404,
//! exactly as a record that does not exist, so that existence is not leaked.

use super::{ApiError, ApiResult, ApiState, ErrorBody, SortedJson, parse_query};
use crate::access_log::AccessEntry;
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hansa_types::{AccessToken, DelegatedKey, Genesis, OrgId, PublicKey, Role, TokenError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Checked tokens a validator keeps, so that a client's many requests cost one signature check.
pub const TOKENS_CACHED_MAX: usize = 16_384;

/// Whether `path` (a request's, or a route template's) is served without credentials.
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/openapi.json" | "/v1/health" | "/v1/status" | "/v1/genesis" | "/v1/state/snapshot" | "/console"
    ) || path.starts_with("/v1/blocks/")
}

/// Whether a request to `path` with `method` carries its credentials in its body: a batch
/// submission, each of whose batches its organisation signed over the chain id and a sequence
/// number (so it can be neither forged, moved to another chain nor replayed). A token is not
/// needed there, and is checked if given.
pub fn signs_its_body(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && matches!(path, "/v1/batches" | "/v1/batch-lists")
}

/// Who made a request, from its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    /// The token was signed by one of the organisation's validators' keys (state sync), not by
    /// the organisation's own key.
    pub validator: bool,
}

impl Caller {
    /// An auditor's own key reads everything (and its reads of others are logged).
    pub fn reads_everything(&self) -> bool {
        self.role == Role::Auditor && !self.validator
    }

    /// Whether the caller reads what belongs to `owners`: one of them is its organisation (and
    /// it asks with the organisation's own key), or it reads everything. Deciding only: an
    /// auditor's read is logged by `ApiState::may_read`.
    pub fn reads(&self, owners: &[OrgId]) -> bool {
        self.owns(owners) || self.reads_everything()
    }

    fn owns(&self, owners: &[OrgId]) -> bool {
        !self.validator && owners.contains(&self.org)
    }
}

/// The keys a token may be signed with: each organisation's, and each validator's, from
/// genesis; and the delegated keys with `read` (asked of the finalized state).
pub struct Identities {
    keys: HashMap<PublicKey, Caller>,
    cache: Mutex<HashMap<String, Checked>>,
}

/// A checked token: its caller, until when it holds, and the delegated key that signed it (if
/// any: asked again at each use).
#[derive(Clone, Copy)]
struct Checked {
    caller: Caller,
    valid_until_s: u64,
    /// For a delegated key's token: the key's number and public key, asked again at every use.
    delegated: Option<(u32, PublicKey)>,
}

/// Which delegated key of an organisation with this public key reads now, if any.
pub type DelegatedReaders<'a> = &'a dyn Fn(OrgId, &PublicKey) -> Option<u32>;

impl Identities {
    pub fn of(genesis: &Genesis) -> Identities {
        let mut keys = HashMap::new();
        for org in &genesis.organisations {
            keys.insert(org.public_key, Caller { org: org.id, role: org.role, validator: false });
        }
        for validator in &genesis.validators {
            if let Some(org) = genesis.organisation(validator.org) {
                keys.insert(validator.public_key, Caller { org: org.id, role: org.role, validator: true });
            }
        }
        Identities { keys, cache: Mutex::new(HashMap::new()) }
    }

    /// The caller a token names, if it is valid for `chain_id` at `now_s`; `delegated` says
    /// which delegated key of an organisation reads with a public key.
    fn check(
        &self,
        text: &str,
        chain_id: &hansa_types::Hash,
        now_s: u64,
        delegated: DelegatedReaders<'_>,
    ) -> ApiResult<Caller> {
        {
            let cache = self.cache.lock().expect("the token cache lock is never poisoned");
            if let Some(checked) = cache.get(text).copied()
                && now_s < checked.valid_until_s
            {
                let (caller, Some((key, public_key))) = (checked.caller, checked.delegated) else {
                    return Ok(checked.caller);
                };
                // A delegated key is asked again: it may have been revoked or expired since.
                drop(cache);
                return match delegated(caller.org, &public_key) == Some(key) {
                    true => Ok(caller),
                    false => Err(delegated_refused(caller.org)),
                };
            }
        }
        let token = AccessToken::parse(text).map_err(token_error)?;
        token.check(chain_id, now_s).map_err(token_error)?;
        let org = token.claims.org;
        let (caller, key) = match self.keys.get(&token.claims.key).copied().filter(|caller| caller.org == org)
        {
            Some(caller) => (caller, None),
            None => {
                let key = delegated(org, &token.claims.key).ok_or_else(|| delegated_refused(org))?;
                let role = self.keys.values().find(|caller| caller.org == org).map(|caller| caller.role);
                let role = role.ok_or_else(|| delegated_refused(org))?;
                (Caller { org, role, validator: false }, Some((key, token.claims.key)))
            }
        };
        let valid_until_s = token.claims.expires_at_s.saturating_add(hansa_types::token::CLOCK_SKEW_S);
        let mut cache = self.cache.lock().expect("the token cache lock is never poisoned");
        if cache.len() >= TOKENS_CACHED_MAX {
            cache.retain(|_, checked| now_s < checked.valid_until_s);
            if cache.len() >= TOKENS_CACHED_MAX {
                cache.clear();
            }
        }
        cache.insert(text.to_string(), Checked { caller, valid_until_s, delegated: key });
        Ok(caller)
    }
}

fn delegated_refused(org: OrgId) -> ApiError {
    unauthorised(
        "bad_token",
        format!(
            "the token's key is neither a key of organisation {org} nor one of its live delegated keys that read"
        ),
    )
}

fn unauthorised(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn token_error(error: TokenError) -> ApiError {
    let code = match error {
        TokenError::Expired { .. } | TokenError::NotYetValid { .. } => "token_expired",
        _ => "bad_token",
    };
    unauthorised(code, error.to_string())
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// The token a request carries: its bearer token, or on the event stream its `access_token`
/// query parameter. A malformed `Authorization` header is an error, not an absent token.
fn bearer(request: &Request) -> ApiResult<Option<String>> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let text =
            value.to_str().map_err(|_| unauthorised("bad_token", "the Authorization header is not text"))?;
        let token = text
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorised("bad_token", "the Authorization header must be `Bearer <token>`"))?;
        return Ok(Some(token.trim().to_string()));
    }
    if request.uri().path() == "/v1/events" {
        let query = request.uri().query().unwrap_or("");
        return Ok(query.split('&').find_map(|pair| pair.strip_prefix("access_token=")).map(str::to_string));
    }
    Ok(None)
}

/// Checks a request's credentials: public routes need none (a token given is still checked),
/// every other route answers 401 without a valid one. The caller goes to the handler as an
/// extension.
pub async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let public = is_public(request.uri().path()) || signs_its_body(request.method(), request.uri().path());
    let caller = match bearer(&request) {
        Ok(Some(token)) => {
            let finalized = state.app.finalized();
            let now_ms = finalized.header.timestamp_ms;
            let delegated = |org: OrgId, public_key: &PublicKey| {
                finalized
                    .keys
                    .range((org, 0)..=(org, u32::MAX))
                    .find(|(_, key)| key.key.public_key == *public_key && key.reads(now_ms))
                    .map(|((_, id), _)| *id)
            };
            state.identities.check(&token, &state.app.consortium().chain_id, now_s(), &delegated)
        }
        Ok(None) if public => return next.run(request).await,
        Ok(None) => Err(unauthorised(
            "unauthenticated",
            "this route needs credentials: `Authorization: Bearer <token>` (see `hansa token`)",
        )),
        Err(error) => Err(error),
    };
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
    }
}

impl ApiState {
    /// Whether `caller` may read `what`, which belongs to `owners`: its own organisation must be
    /// one of them, or it must read everything, and then the read is logged for the others
    /// first (a read that cannot be logged is refused).
    pub(super) fn may_read(&self, caller: &Caller, owners: &[OrgId], what: &str) -> ApiResult<bool> {
        if caller.owns(owners) {
            return Ok(true);
        }
        if !caller.reads_everything() {
            return Ok(false);
        }
        self.access
            .record(owners, caller.org, what, now_ms())
            .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", error.to_string()))?;
        Ok(true)
    }

    /// [`Self::may_read`], as the 404 an out-of-scope read answers.
    pub(super) fn require_read(
        &self,
        caller: &Caller,
        owners: &[OrgId],
        what: &str,
        kind: &str,
    ) -> ApiResult<()> {
        if self.may_read(caller, owners, what)? { Ok(()) } else { Err(ApiError::not_found(kind)) }
    }

    /// Every organisation of genesis (what an auditor's read of everything touches).
    pub(super) fn every_org(&self) -> Vec<OrgId> {
        self.app.consortium().genesis.organisations.iter().map(|org| org.id).collect()
    }
}

/// The access part of the document: the access log, and the scheme every route but the public
/// ones requires.
#[derive(OpenApi)]
#[openapi(tags((name = "access", description = "Who may read what: the access log of \
    auditors' reads of an organisation's data, and the organisation's delegated keys.")))]
struct AccessApi;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(AccessApi::openapi())
        .routes(routes!(access_log))
        .routes(routes!(delegated_keys))
}

/// Entries of the access log, newest first.
#[derive(Serialize, ToSchema)]
struct AccessEntries {
    /// The organisation whose data was read.
    org: OrgId,
    entries: Vec<AccessEntry>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AccessLogQuery {
    /// The organisation whose log to list (default: the caller's; another's only for an auditor).
    org: Option<u32>,
    /// Only entries with a sequence below this one (the last sequence of the previous page).
    before: Option<u64>,
    /// At most this many (default 100, at most 1,000).
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Entries a page of the access log holds at most.
const ACCESS_PAGE_MAX: u32 = 1_000;

#[utoipa::path(get, path = "/v1/access-log", tag = "access",
    summary = "Auditors' reads of an organisation's data at this validator, newest first",
    description = "Each validator records the auditor reads it answered; ask each validator for \
        all of them. Pages: pass the last entry's `sequence` as `before`.",
    params(AccessLogQuery),
    responses(
        (status = 200, description = "The entries", body = AccessEntries),
        (status = 400, description = "`bad_query`: malformed, or `limit` over 1,000", body = ErrorBody),
        (status = 404, description = "`not_found`: another organisation's log, asked for by a \
            non-auditor", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn access_log(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<AccessEntries>> {
    let query: AccessLogQuery = parse_query(query.0.as_deref())?;
    if query.limit > ACCESS_PAGE_MAX {
        return Err(ApiError::bad_request("bad_query", format!("`limit` is at most {ACCESS_PAGE_MAX}")));
    }
    let org = query.org.map_or(caller.org, OrgId);
    if caller.validator || (org != caller.org && caller.role != Role::Auditor) {
        return Err(ApiError::not_found("access log"));
    }
    let entries = state
        .access
        .list(org, query.before, query.limit as usize)
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", error.to_string()))?;
    Ok(SortedJson(AccessEntries { org, entries }))
}

/// An organisation's delegated keys.
#[derive(Serialize, ToSchema)]
struct DelegatedKeys {
    org: OrgId,
    /// As of this finalized height.
    height: u64,
    keys: Vec<DelegatedKey>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KeysQuery {
    /// The organisation whose keys to list (default: the caller's; another's only for an auditor,
    /// and the read is logged for it).
    org: Option<u32>,
}

#[utoipa::path(get, path = "/v1/keys", tag = "access",
    summary = "An organisation's delegated keys, revoked ones included, with what each spent",
    description = "Register and revoke keys with the `register_key` and `revoke_key` operations, signed by the organisation's own key.",
    params(KeysQuery),
    responses(
        (status = 200, description = "The keys, by number", body = DelegatedKeys),
        (status = 400, description = "`bad_query`: malformed", body = ErrorBody),
        (status = 404, description = "`not_found`: another organisation's keys, asked for by a \
            non-auditor", body = ErrorBody),
        (status = 503, description = "`storage`: the read could not be logged", body = ErrorBody),
    ))]
async fn delegated_keys(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<DelegatedKeys>> {
    let query: KeysQuery = parse_query(query.0.as_deref())?;
    let org = query.org.map_or(caller.org, OrgId);
    state.require_read(&caller, &[org], &format!("delegated keys of {org}"), "keys")?;
    let finalized = state.app.finalized();
    let keys = finalized.keys.range((org, 0)..=(org, u32::MAX)).map(|(_, key)| **key).collect();
    Ok(SortedJson(DelegatedKeys { org, height: finalized.height, keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_routes_are_exactly_the_chains_headers_and_health() {
        for path in [
            "/v1/health",
            "/v1/status",
            "/v1/genesis",
            "/v1/blocks/latest",
            "/v1/blocks/{height}",
            "/console",
        ] {
            assert!(is_public(path), "{path}");
        }
        for path in ["/v1/accounts/1", "/v1/events", "/v1/batches", "/v1/state/log/sync", "/v1/blocks", "/x"]
        {
            assert!(!is_public(path), "{path}");
        }
    }
}
