//! The ledger module's routes: ledgers and their totals, accounts, their transfers and balance
//! histories, transfers, and the record proofs of accounts and transfers.

use super::chain::{RecordProofEnvelope, record_proof};
use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, SortedJson, parse_id, parse_query};
use axum::Extension;
use axum::extract::{Path, State};
use hansa_chain::app::TransferFilter;
use hansa_ledger::modules::ledger::{ACCOUNTS, TRANSFERS};
use hansa_types::{Account, Amount, OrgId, Transfer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The ledger module's part of the document (its schemas come with its routes).
#[derive(OpenApi)]
#[openapi(tags((name = "ledger", description = "The ledger module: currencies (ledgers), \
    accounts, transfers and holds, balance histories, and proofs of accounts and transfers.")))]
struct LedgerApi;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(LedgerApi::openapi())
        .routes(routes!(ledgers))
        .routes(routes!(account))
        .routes(routes!(account_transfers))
        .routes(routes!(account_balances))
        .routes(routes!(account_proof))
        .routes(routes!(transfer))
        .routes(routes!(transfer_proof))
}

/// Each ledger's currency and running totals, with an audit on request.
#[derive(Serialize, ToSchema)]
struct Ledgers {
    /// The finalized height.
    height: u64,
    ledgers: Vec<LedgerEntry>,
    /// With `audit=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    audit: Option<AuditSummary>,
}

/// A ledger of genesis and its running totals.
#[derive(Serialize, ToSchema)]
struct LedgerEntry {
    id: u32,
    /// ISO 4217 code.
    currency: String,
    /// Digits of minor units.
    scale: u8,
    /// The payment institution that issues and redeems the currency.
    issuer: OrgId,
    accounts: u64,
    /// Σ debits posted, which double entry keeps equal to Σ credits posted.
    posted: Amount,
    /// Σ debits pending, equal to Σ credits pending.
    pending: Amount,
    /// With `audit=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    audit: Option<LedgerAudit>,
}

/// One ledger's audit: sums over its accounts as stored (wrapping).
#[derive(Serialize, ToSchema)]
struct LedgerAudit {
    accounts: u64,
    debits_posted: Amount,
    credits_posted: Amount,
    debits_pending: Amount,
    credits_pending: Amount,
    /// Σ debits = Σ credits, posted and pending.
    balanced: bool,
    /// Accounts past their own balance limit.
    limit_violations: u64,
    /// Whether the sums equal the running totals (true when the audit read another height).
    matches_running_totals: bool,
}

/// The audit over every ledger.
#[derive(Serialize, ToSchema)]
struct AuditSummary {
    /// The height of the state read.
    height: u64,
    /// Accounts the index lists that the state does not hold (zero unless broken).
    accounts_missing: u64,
    balanced: bool,
    limit_violations: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LedgersQuery {
    /// Also read every account from the state at one height and sum them, independently of the
    /// running totals.
    #[serde(default)]
    audit: bool,
}

/// Each ledger's currency and totals (Σ debits posted, which double entry keeps equal to Σ
/// credits posted, and the same for pending), kept as blocks finalize. With `?audit=true`, also
/// an audit: every account read from the state at one height and summed, with the accounts
/// past their limits counted, independently of the running totals.
#[utoipa::path(get, path = "/v1/ledgers", tag = "ledger",
    summary = "Per-ledger totals (debits = credits), and with `audit=true` an audit of every account",
    params(LedgersQuery),
    responses(
        (status = 200, description = "Every ledger of genesis", body = Ledgers),
        (status = 400, description = "`bad_query`", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn ledgers(
    State(state): State<ApiState>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<Ledgers>> {
    let query: LedgersQuery = parse_query(query.0.as_deref())?;
    let finalized = state.app.finalized();
    let totals: HashMap<u32, hansa_chain::app::LedgerTotals> =
        state.app.index().totals()?.into_iter().collect();
    let audit = if query.audit { Some(state.app.audit().await?) } else { None };
    let genesis = &state.app.consortium().genesis;
    let ledgers = genesis
        .ledgers
        .iter()
        .map(|spec| {
            let total = totals.get(&spec.id).copied().unwrap_or_default();
            let audit = audit.as_ref().map(|audit| {
                let ledger = audit.ledgers.get(&spec.id).copied().unwrap_or_default();
                LedgerAudit {
                    accounts: ledger.accounts,
                    debits_posted: Amount(ledger.debits_posted),
                    credits_posted: Amount(ledger.credits_posted),
                    debits_pending: Amount(ledger.debits_pending),
                    credits_pending: Amount(ledger.credits_pending),
                    balanced: ledger.balanced(),
                    limit_violations: ledger.limit_violations,
                    matches_running_totals: audit.height != finalized.height
                        || (ledger.debits_posted == total.posted && ledger.debits_pending == total.pending),
                }
            });
            LedgerEntry {
                id: spec.id,
                currency: spec.currency.clone(),
                scale: spec.scale,
                issuer: spec.issuer,
                accounts: total.accounts,
                posted: Amount(total.posted),
                pending: Amount(total.pending),
                audit,
            }
        })
        .collect();
    let audit = audit.map(|audit| AuditSummary {
        height: audit.height,
        accounts_missing: audit.accounts_missing,
        balanced: audit.ledgers.values().all(|ledger| ledger.balanced()),
        limit_violations: audit.ledgers.values().map(|ledger| ledger.limit_violations).sum(),
    });
    Ok(SortedJson(Ledgers { height: finalized.height, ledgers, audit }))
}

/// An account as of the finalized height.
#[derive(Serialize, ToSchema)]
struct AccountState {
    height: u64,
    account: Account,
}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "ledger",
    summary = "An account's finalized state",
    params(("id" = String, Path, description = "The account id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The account", body = AccountState),
        (status = 400, description = "`bad_id`: not a decimal 128-bit number", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account, or not the caller's to read", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn account(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<SortedJson<AccountState>> {
    let id = parse_id(&id)?;
    let height = state.app.finalized().height;
    let account = readable_account(&state, &caller, id, &format!("GET /v1/accounts/{id}")).await?;
    Ok(SortedJson(AccountState { height, account }))
}

/// Account `id`, if `caller` may read it (see `access.rs`): otherwise the same 404 as an account
/// that does not exist. An auditor's read is logged for the owner as `what`.
async fn readable_account(state: &ApiState, caller: &Caller, id: u128, what: &str) -> ApiResult<Account> {
    let account = state.app.account(id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    state.require_read(caller, &[account.owner], what, "account")?;
    Ok(account)
}

/// Transfer `id`, if `caller` may read it: one of its accounts is the caller's (or the caller
/// submitted it, or reads everything); otherwise the same 404 as a transfer that does not exist.
async fn readable_transfer(state: &ApiState, caller: &Caller, id: u128, what: &str) -> ApiResult<Transfer> {
    let transfer = state.app.transfer(id).await?.ok_or_else(|| ApiError::not_found("transfer"))?;
    let mut owners = vec![transfer.submitter];
    for account_id in [transfer.debit_account_id, transfer.credit_account_id] {
        if let Some(account) = state.app.account(account_id).await? {
            owners.push(account.owner);
        }
    }
    state.require_read(caller, &owners, what, "transfer")?;
    Ok(transfer)
}

/// An account's transfers as of the finalized height.
#[derive(Serialize, ToSchema)]
struct AccountTransfers {
    height: u64,
    transfers: Vec<Transfer>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TransfersQuery {
    /// Only transfers at or after this consensus time (ns; 0: unbounded).
    #[serde(default)]
    timestamp_min: u64,
    /// Only transfers at or before this consensus time (ns; 0: unbounded).
    #[serde(default)]
    timestamp_max: u64,
    /// Only transfers with this code (0: any).
    #[serde(default)]
    code: u16,
    /// Only transfers on this ledger (0: any).
    #[serde(default)]
    ledger: u32,
    /// Include transfers that debit the account (default true).
    #[serde(default = "yes")]
    debits: bool,
    /// Include transfers that credit the account (default true).
    #[serde(default = "yes")]
    credits: bool,
    /// Newest first.
    #[serde(default)]
    reversed: bool,
    /// At most this many (default 100, at most 8,190).
    #[serde(default = "default_limit")]
    limit: u32,
}

fn yes() -> bool {
    true
}

fn default_limit() -> u32 {
    100
}

#[utoipa::path(get, path = "/v1/accounts/{id}/transfers", tag = "ledger",
    summary = "An account's transfers, oldest first unless reversed",
    params(
        ("id" = String, Path, description = "The account id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$"),
        TransfersQuery,
    ),
    responses(
        (status = 200, description = "The transfers", body = AccountTransfers),
        (status = 400, description = "`bad_id`; `bad_query`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account, or not the caller's to read", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn account_transfers(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<AccountTransfers>> {
    let id = parse_id(&id)?;
    let query: TransfersQuery = parse_query(query.0.as_deref())?;
    let height = state.app.finalized().height;
    readable_account(&state, &caller, id, &format!("GET /v1/accounts/{id}/transfers")).await?;
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
    Ok(SortedJson(AccountTransfers { height, transfers }))
}

/// An account's balances after one change (accounts with the `history` flag).
#[derive(Serialize, ToSchema)]
struct Balance {
    debits_pending: Amount,
    debits_posted: Amount,
    credits_pending: Amount,
    credits_posted: Amount,
    /// The consensus time (ns) of the operation that produced these balances.
    timestamp: u64,
}

impl From<hansa_ledger::AccountBalance> for Balance {
    fn from(balance: hansa_ledger::AccountBalance) -> Balance {
        // Destructured whole, so that a field added to the ledger's balance fails to compile
        // here until the API's schema has it too.
        let hansa_ledger::AccountBalance {
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
            timestamp,
        } = balance;
        Balance { debits_pending, debits_posted, credits_pending, credits_posted, timestamp }
    }
}

/// An account's balances after a height, or its balance history.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Balances {
    /// With `height`: the balances after that block.
    At { height: u64, balance: Balance },
    /// Without: the newest changes first, at most `limit`.
    History { balances: Vec<Balance> },
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BalancesQuery {
    /// The balances after this block (without it: the history).
    height: Option<u64>,
    /// At most this many changes of the history (default 100, at most 8,190).
    #[serde(default = "default_limit")]
    limit: u32,
}

#[utoipa::path(get, path = "/v1/accounts/{id}/balances", tag = "ledger",
    summary = "An account's balances after a height, or its history (accounts with the `history` flag)",
    params(
        ("id" = String, Path, description = "The account id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$"),
        BalancesQuery,
    ),
    responses(
        (status = 200, description = "`{height, balance}` with `height`, `{balances}` without", body = Balances),
        (status = 400, description = "`bad_id`; `bad_query`; `no_history`: the account was \
            created without the `history` flag", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account (or not the caller's to read), or no balance at that height; \
            `not_kept`: the height is below this validator's `history_from` (pruned, or joined from a \
            snapshot)", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn account_balances(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: axum::extract::RawQuery,
) -> ApiResult<SortedJson<Balances>> {
    let id = parse_id(&id)?;
    let query: BalancesQuery = parse_query(query.0.as_deref())?;
    let account = readable_account(&state, &caller, id, &format!("GET /v1/accounts/{id}/balances")).await?;
    if !account.flags.has(hansa_types::AccountFlags::HISTORY) {
        return Err(ApiError::bad_request(
            "no_history",
            "the account was created without the `history` flag, so past balances are not kept",
        ));
    }
    match query.height {
        Some(height) => {
            // Below the window the history was pruned: an account keeps only its last balance
            // from before it, which does not answer for every earlier height.
            let history_from = state.app.index().history_from()?;
            if height < history_from {
                return Err(ApiError::not_kept("balance histories", history_from, height));
            }
            let balance = state
                .app
                .balance_at(id, height)?
                .ok_or_else(|| ApiError::not_found("balance at that height"))?;
            Ok(SortedJson(Balances::At { height, balance: balance.into() }))
        }
        None => {
            let balances = state.app.balance_history(id, query.limit)?;
            Ok(SortedJson(Balances::History { balances: balances.into_iter().map(Balance::from).collect() }))
        }
    }
}

#[utoipa::path(get, path = "/v1/accounts/{id}/proof", tag = "ledger",
    summary = "Proof of the account against the latest finalized header, with its certificate",
    params(("id" = String, Path, description = "The account id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The proof; `hansa verify` checks it offline", body = RecordProofEnvelope),
        (status = 400, description = "`bad_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account, or not the caller's to read", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn account_proof(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<SortedJson<RecordProofEnvelope>> {
    let id = parse_id(&id)?;
    readable_account(&state, &caller, id, &format!("GET /v1/accounts/{id}/proof")).await?;
    record_proof(&state, ACCOUNTS.key(id), "account").await
}

/// A transfer as of the finalized height.
#[derive(Serialize, ToSchema)]
struct TransferState {
    height: u64,
    transfer: Transfer,
}

#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "ledger",
    summary = "A transfer, with its hold status",
    params(("id" = String, Path, description = "The transfer id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The transfer", body = TransferState),
        (status = 400, description = "`bad_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such transfer, or none of its accounts the caller's", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn transfer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<SortedJson<TransferState>> {
    let id = parse_id(&id)?;
    let height = state.app.finalized().height;
    let transfer = readable_transfer(&state, &caller, id, &format!("GET /v1/transfers/{id}")).await?;
    Ok(SortedJson(TransferState { height, transfer }))
}

#[utoipa::path(get, path = "/v1/transfers/{id}/proof", tag = "ledger",
    summary = "Proof of the transfer against the latest finalized header, with its certificate",
    params(("id" = String, Path, description = "The transfer id: a decimal 128-bit number", pattern = "^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The proof; `hansa verify` checks it offline", body = RecordProofEnvelope),
        (status = 400, description = "`bad_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such transfer, or none of its accounts the caller's", body = ErrorBody),
        (status = 503, description = "`storage`", body = ErrorBody),
    ))]
async fn transfer_proof(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<SortedJson<RecordProofEnvelope>> {
    let id = parse_id(&id)?;
    readable_transfer(&state, &caller, id, &format!("GET /v1/transfers/{id}/proof")).await?;
    record_proof(&state, TRANSFERS.key(id), "transfer").await
}
