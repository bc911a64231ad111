//! `hansa`: run validators and a local consortium, manage keys and genesis, submit and query,
//! verify proofs offline, and benchmark.

mod access_log;
mod api;
mod bench;
mod config;
mod devnet;
mod join;
mod openapi;
mod run;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hansa_client::{Client, Credentials, Signer};
use hansa_types::{AccountFlags, Amount, NewAccount, NewTransfer, Operation, OrgId, TransferFlags};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hansa", version, about = "Hansa: a BFT consortium ledger for e-commerce")]
struct Cli {
    /// Validator API endpoints to use, in order of preference (repeat, or comma-separate).
    /// Defaults to the devnet's in ./.devnet.
    #[arg(long, global = true, value_delimiter = ',', env = "HANSA_ENDPOINTS")]
    endpoint: Vec<String>,
    /// Your organisation's id: every request but the public ones is made as an organisation.
    #[arg(long, global = true, env = "HANSA_ORG")]
    org: Option<u32>,
    /// Your organisation's key file: signs your batches and your access tokens.
    #[arg(long, global = true, env = "HANSA_KEY")]
    key: Option<PathBuf>,
    /// The number of the key in --key: 0 for your organisation's genesis key, else a delegated
    /// key it registered (`hansa keys register`).
    #[arg(long, global = true, env = "HANSA_KEY_ID", default_value_t = 0)]
    key_id: u32,
    /// How long a submission waits for finality (at most 60): past it, the command says the
    /// batch was admitted and may still finalize, and exits non-zero.
    #[arg(long, global = true, default_value_t = 30)]
    wait_s: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local consortium: validator processes on 127.0.0.1 with demo organisations.
    Devnet {
        #[arg(long, default_value = ".devnet")]
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long, default_value_t = 8101)]
        api_port_base: u16,
        #[arg(long, default_value_t = 7101)]
        p2p_port_base: u16,
        /// Keep only this many blocks of history on each validator (default: archive mode, all
        /// of it). Applies when the devnet folder is created.
        #[arg(long)]
        retention_blocks: Option<u64>,
    },
    /// Run one validator from its node.toml.
    Node {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create an ed25519 key file, show a key file's public key, or register, revoke and list
    /// your organisation's delegated keys on chain.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Build genesis.toml from a consortium description (TOML) and print the chain id.
    Genesis {
        #[arg(long)]
        consortium: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Create an account owned by your organisation.
    CreateAccount {
        #[arg(long)]
        id: u128,
        #[arg(long)]
        ledger: u32,
        #[arg(long)]
        code: u16,
        /// Comma-separated: debits_must_not_exceed_credits, credits_must_not_exceed_debits,
        /// history, issuance.
        #[arg(long, value_delimiter = ',')]
        flags: Vec<String>,
    },
    /// Move money; with --pending, place a hold instead.
    Transfer {
        #[arg(long)]
        id: u128,
        #[arg(long)]
        debit: u128,
        #[arg(long)]
        credit: u128,
        #[arg(long)]
        amount: u128,
        #[arg(long)]
        ledger: u32,
        #[arg(long)]
        code: u16,
        #[arg(long)]
        pending: bool,
        #[arg(long, default_value_t = 0)]
        timeout_s: u32,
    },
    /// Post (capture) a hold, wholly or for --amount.
    Post {
        #[arg(long)]
        id: u128,
        #[arg(long)]
        pending_id: u128,
        #[arg(long)]
        amount: Option<u128>,
    },
    /// Void (release) a hold.
    Void {
        #[arg(long)]
        id: u128,
        #[arg(long)]
        pending_id: u128,
    },
    /// Read finalized state as your organisation (--org, --key): account ID, transfer ID,
    /// transfers ACCOUNT, block HEIGHT|latest, batch DIGEST, operation ID, access-log, status.
    Get { what: String, id: Option<String> },
    /// Print an access token for your organisation (--org, --key), for
    /// `curl -H "Authorization: Bearer $(hansa token --org N --key FILE)"`.
    Token {
        /// Seconds the token is valid (at most 3,600).
        #[arg(long, default_value_t = 900)]
        lifetime_s: u64,
        /// Take the chain id from this genesis file instead of asking a validator.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Fetch a proof (account ID, transfer ID, operation ID) as JSON, for `hansa verify`.
    Proof { what: String, id: u128 },
    /// Run the BENCH.md workloads (W1, W2, W5) at 1 and 4 validators, validated, with the
    /// PostgreSQL baseline in the same run; prints one JSON line per case.
    Bench {
        #[arg(long, value_delimiter = ',', default_value = "1,4")]
        validators: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "w1,w2,w5")]
        workloads: Vec<String>,
        #[arg(long, default_value_t = 10)]
        duration_s: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000,8190")]
        batch_sizes: Vec<usize>,
        /// Skip the PostgreSQL baseline.
        #[arg(long)]
        no_postgres: bool,
        #[arg(long, default_value = ".bench")]
        dir: PathBuf,
        /// Instead of the workloads: W1 at 4 validators for `--soak-minutes`, with per-minute
        /// throughput, p99 and memory, a chart, and a validator killed under load and restarted
        /// (after a 1-minute run and after the soak).
        #[arg(long)]
        soak: bool,
        #[arg(long, default_value_t = 10)]
        soak_minutes: u64,
        /// Where `--soak` writes its chart (SVG).
        #[arg(long, default_value = "docs/soak.svg")]
        chart: PathBuf,
    },
    /// Verify a proof offline with nothing but the genesis file.
    Verify {
        proof: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Print the API's OpenAPI 3.1 document (what validators serve at /openapi.json), for
    /// client generators; no validator needed.
    Openapi,
}

#[derive(Subcommand)]
enum KeysCommand {
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
    Show {
        #[arg(long)]
        key: PathBuf,
    },
    /// Register a delegated key of your organisation (signed with its genesis key).
    Register {
        /// The key's number, 1 to 4,096, never used before by your organisation.
        #[arg(long)]
        id: u32,
        /// The key file whose public key to register (see `hansa keys generate`).
        #[arg(long)]
        key_file: PathBuf,
        /// Comma-separated: create_account, create_transfer, read (sign access tokens),
        /// spend_limit (with --spend-limit and --ledger).
        #[arg(long, default_value = "")]
        permissions: String,
        /// The accounts it may debit, at most 3 (default: any of your organisation's).
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<u128>,
        /// The only ledger it may move money on (default: any).
        #[arg(long, default_value_t = 0)]
        ledger: u32,
        /// With the spend_limit permission: the most it may move per period, in minor units.
        #[arg(long, default_value_t = 0)]
        spend_limit: u128,
        /// The period of the limit in seconds (86400: a day, UTC; 0: the key's whole life).
        #[arg(long, default_value_t = 0)]
        period_s: u32,
        /// Seconds from now after which it signs nothing (default: it never expires).
        #[arg(long)]
        expires_in_s: Option<u64>,
    },
    /// Revoke a delegated key: from the next block on it signs nothing.
    Revoke {
        #[arg(long)]
        id: u32,
    },
    /// List your organisation's delegated keys (an auditor: any organisation's, with --of).
    List {
        #[arg(long)]
        of: Option<u32>,
    },
}

/// The validator's allocator. Under a long load, glibc's malloc kept the heap in use flat while
/// resident memory grew 5-25% from minute 3 to minute 10 of the soak: freed memory in holes
/// between live allocations that no trim returns (fragmentation). With jemalloc, whose size
/// classes keep allocations of one size together and which returns unused pages after a delay,
/// the same soak stayed within 4% (docs/benchmarks.md, "jemalloc").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,hansa=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("hansa: {error:#}");
        std::process::exit(1);
    }
}

/// A client of the validators `--endpoint` names (default: the devnet in ./.devnet), asking
/// as `--org` with `--key` when both are given.
fn client(cli: &Cli) -> Result<Client> {
    let client = Client::new(endpoints(cli)?);
    match identity(cli)? {
        Some((org, key)) => {
            let chain_id = client.chain_id()?;
            Ok(client.with_credentials(Credentials::new(chain_id, org, key)))
        }
        None => Ok(client),
    }
}

/// The validators `--endpoint` names, or the devnet's in ./.devnet.
fn endpoints(cli: &Cli) -> Result<Vec<String>> {
    if !cli.endpoint.is_empty() {
        return Ok(cli.endpoint.clone());
    }
    devnet::endpoints(std::path::Path::new(".devnet"))
        .context("no --endpoint given and no devnet in ./.devnet")
}

/// `--org` and `--key`, when given (both or neither).
fn identity(cli: &Cli) -> Result<Option<(OrgId, hansa_types::SecretKey)>> {
    match (cli.org, &cli.key) {
        (Some(org), Some(key)) => Ok(Some((OrgId(org), config::read_key(key)?))),
        (None, None) => Ok(None),
        _ => bail!("give both --org and --key (or HANSA_ORG and HANSA_KEY), or neither"),
    }
}

fn submit(cli: &Cli, operations: Vec<Operation>) -> Result<()> {
    let Some((org, key)) = identity(cli)? else {
        bail!("submitting needs your organisation: --org N --key FILE (or HANSA_ORG and HANSA_KEY)")
    };
    // The batch's own signature authenticates it: no token is sent (so a refused key is told
    // why by the batch's check, not by the token's).
    let client = Client::new(endpoints(cli)?);
    if cli.wait_s == 0 || cli.wait_s * 1_000 > api::WAIT_MS_MAX {
        bail!("--wait-s is 1 to {}", api::WAIT_MS_MAX / 1_000);
    }
    let mut signer = Signer::delegated(client.chain_id()?, org, cli.key_id, key);
    let signed = signer.sign(operations);
    let outcome = match client.submit_waiting(&signed, cli.wait_s.saturating_mul(1_000)) {
        Err(hansa_client::ClientError::Api { status: 504, .. }) => {
            let digest = signed.batch.digest();
            bail!(
                "batch {digest} was admitted but is not final after {} s (finality may be stalled); it \
                 may still finalize: check with `hansa get batch {digest}`",
                cli.wait_s
            )
        }
        other => other?,
    };
    print_json(&outcome)?;
    let failed = failed_operations(&outcome);
    if !failed.is_empty() {
        for line in &failed {
            eprintln!("hansa: {line}");
        }
        let total = outcome["results"].as_array().map_or(0, Vec::len);
        bail!("{} of {total} operations failed", failed.len());
    }
    Ok(())
}

/// Each operation of a finalized batch that did not succeed (`ok`, or `exists`: an operation
/// applied before, which a retry reports), as "operation ID: CODE".
fn failed_operations(outcome: &Value) -> Vec<String> {
    outcome["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|result| result["result"] != "ok" && result["result"] != "exists")
        .map(|result| {
            format!(
                "operation {}: {}",
                result["id"].as_str().unwrap_or("?"),
                result["result"].as_str().unwrap_or("unknown")
            )
        })
        .collect()
}

fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn account_flags(names: &[String]) -> Result<u16> {
    let mut flags = 0;
    for name in names {
        flags |= match name.as_str() {
            "debits_must_not_exceed_credits" => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            "credits_must_not_exceed_debits" => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            "history" => AccountFlags::HISTORY,
            "issuance" => AccountFlags::ISSUANCE,
            other => bail!("unknown account flag `{other}`"),
        };
    }
    Ok(flags)
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Devnet { dir, validators, api_port_base, p2p_port_base, retention_blocks } => {
            devnet::run(devnet::DevnetOptions {
                dir: dir.clone(),
                validators: *validators,
                api_port_base: *api_port_base,
                p2p_port_base: *p2p_port_base,
                retention_blocks: *retention_blocks,
            })
        }
        Command::Node { config } => run::run_node(config::read_node_config(config)?),
        Command::Keys { command: KeysCommand::Generate { out } } => {
            let key = config::generate_key(out)?;
            println!("{}", key.public_key());
            Ok(())
        }
        Command::Keys { command: KeysCommand::Show { key } } => {
            println!("{}", config::read_key(key)?.public_key());
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Register {
                    id,
                    key_file,
                    permissions,
                    accounts,
                    ledger,
                    spend_limit,
                    period_s,
                    expires_in_s,
                },
        } => {
            let permissions = hansa_types::KeyPermissions::parse(permissions).map_err(anyhow::Error::msg)?;
            let accounts = hansa_types::KeyAccounts::from_ids(accounts).map_err(anyhow::Error::msg)?;
            let expires_at_ms = match expires_in_s {
                Some(seconds) => {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
                    (now.as_millis() as u64).saturating_add(seconds.saturating_mul(1_000))
                }
                None => 0,
            };
            let key = hansa_types::NewKey {
                id: *id,
                public_key: config::read_key(key_file)?.public_key(),
                permissions,
                accounts,
                ledger: *ledger,
                spend_limit: Amount(*spend_limit),
                period_s: *period_s,
                expires_at_ms,
            };
            submit(&cli, vec![Operation::RegisterKey(key)])
        }
        Command::Keys { command: KeysCommand::Revoke { id } } => {
            submit(&cli, vec![Operation::RevokeKey(hansa_types::KeyRevocation { id: *id })])
        }
        Command::Keys { command: KeysCommand::List { of } } => {
            let path = match of {
                Some(org) => format!("/v1/keys?org={org}"),
                None => "/v1/keys".to_string(),
            };
            print_json(&client(&cli)?.get(&path)?)
        }
        Command::Genesis { consortium, out } => {
            let genesis = config::build_genesis(consortium)?;
            std::fs::write(out, toml::to_string(&genesis)?)?;
            println!("chain id {}", genesis.chain_id());
            Ok(())
        }
        Command::CreateAccount { id, ledger, code, flags } => {
            let flags = AccountFlags(account_flags(flags)?);
            let account = NewAccount { id: *id, ledger: *ledger, code: *code, flags, ..Default::default() };
            submit(&cli, vec![Operation::CreateAccount(account)])
        }
        Command::Transfer { id, debit, credit, amount, ledger, code, pending, timeout_s } => {
            let flags = if *pending { TransferFlags::PENDING } else { 0 };
            let transfer = NewTransfer {
                id: *id,
                debit_account_id: *debit,
                credit_account_id: *credit,
                amount: Amount(*amount),
                ledger: *ledger,
                code: *code,
                timeout_s: *timeout_s,
                flags: TransferFlags(flags),
                ..Default::default()
            };
            submit(&cli, vec![Operation::CreateTransfer(transfer)])
        }
        Command::Post { id, pending_id, amount } => {
            let transfer = NewTransfer {
                id: *id,
                pending_id: *pending_id,
                amount: Amount(amount.unwrap_or(u128::MAX)),
                flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
                ..Default::default()
            };
            submit(&cli, vec![Operation::CreateTransfer(transfer)])
        }
        Command::Void { id, pending_id } => {
            let transfer = NewTransfer {
                id: *id,
                pending_id: *pending_id,
                flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
                ..Default::default()
            };
            submit(&cli, vec![Operation::CreateTransfer(transfer)])
        }
        Command::Token { lifetime_s, genesis } => {
            let Some((org, key)) = identity(&cli)? else {
                bail!("a token is for your organisation: --org N --key FILE (or HANSA_ORG and HANSA_KEY)")
            };
            if *lifetime_s == 0 || *lifetime_s > hansa_types::token::TOKEN_LIFETIME_S_MAX {
                bail!("--lifetime-s is 1 to {}", hansa_types::token::TOKEN_LIFETIME_S_MAX);
            }
            let chain_id = match genesis {
                Some(path) => config::read_genesis(path)?.chain_id(),
                None => Client::new(endpoints(&cli)?).chain_id()?,
            };
            let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
            println!("{}", hansa_types::sign_token(&chain_id, org, &key, now_s, *lifetime_s));
            Ok(())
        }
        Command::Get { what, id } => {
            let client = client(&cli)?;
            let key = id.as_deref().unwrap_or("");
            let path = match what.as_str() {
                "status" => "/v1/status".to_string(),
                "account" => format!("/v1/accounts/{key}"),
                "transfer" => format!("/v1/transfers/{key}"),
                "transfers" => format!("/v1/accounts/{key}/transfers"),
                "block" => format!("/v1/blocks/{}", if key.is_empty() { "latest" } else { key }),
                "batch" => format!("/v1/batches/{key}"),
                "operation" => format!("/v1/operations/{key}"),
                "access-log" => "/v1/access-log".to_string(),
                other => bail!(
                    "cannot get `{other}`: try account, transfer, transfers, block, batch, operation, \
                     access-log, status"
                ),
            };
            print_json(&client.get(&path)?)
        }
        Command::Proof { what, id } => {
            let path = match what.as_str() {
                "account" => format!("/v1/accounts/{id}/proof"),
                "transfer" => format!("/v1/transfers/{id}/proof"),
                "operation" => format!("/v1/operations/{id}/proof"),
                other => bail!("no proof of `{other}`: try account, transfer, operation"),
            };
            print_json(&client(&cli)?.get(&path)?)
        }
        Command::Bench { accounts, dir, soak: true, soak_minutes, chart, .. } => {
            bench::soak::run(bench::soak::SoakOptions {
                minutes: *soak_minutes,
                accounts: *accounts,
                dir: dir.clone(),
                chart: chart.clone(),
            })
        }
        Command::Bench {
            validators,
            workloads,
            duration_s,
            repeats,
            accounts,
            batch_sizes,
            no_postgres,
            dir,
            soak: false,
            ..
        } => bench::run(bench::BenchOptions {
            validators: validators.clone(),
            workloads: workloads.iter().map(|w| w.to_lowercase()).collect(),
            duration_s: *duration_s,
            repeats: *repeats,
            accounts: *accounts,
            batch_sizes: batch_sizes.clone(),
            postgres: !no_postgres,
            dir: dir.clone(),
        }),
        Command::Openapi => {
            println!("{}", openapi::document().to_pretty_json()?);
            Ok(())
        }
        Command::Verify { proof, genesis } => {
            let genesis = config::read_genesis(genesis)?;
            let text =
                std::fs::read_to_string(proof).with_context(|| format!("reading {}", proof.display()))?;
            let summary = verify_proof(&genesis, &text)?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// What a proven record says, in words.
fn describe_record(record: &hansa_state::RecordProof) -> Result<String> {
    use hansa_ledger::modules::{Record, table};
    let key = record.key();
    let table =
        table(key.table).with_context(|| format!("the proof names an unknown table {:#06x}", key.table.0))?;
    let value = Record::decode(key.table, record.value()).context("the proven record does not decode")?;
    let described = match value {
        Record::Account(a) => format!(
            "account {} (ledger {}, owner {}): credits posted {}, debits posted {}, pending {}/{}",
            a.id, a.ledger, a.owner, a.credits_posted, a.debits_posted, a.debits_pending, a.credits_pending
        ),
        Record::Transfer(t) => format!(
            "transfer {} as recorded: {} from {} to {} on ledger {} by {} ({})",
            t.id,
            t.amount,
            t.debit_account_id,
            t.credit_account_id,
            t.ledger,
            t.submitter,
            if t.flags.has(hansa_types::TransferFlags::PENDING) { "a hold" } else { "posted" }
        ),
        other => format!("{other:?}"),
    };
    let kind = match record {
        hansa_state::RecordProof::Current { .. } => "current value",
        hansa_state::RecordProof::Log { .. } => "written",
    };
    Ok(format!("{} {} ({kind}): {described}", table.name, key.id))
}

/// Whether `certificate` finalizes `header` by a quorum of the genesis validators.
fn finalized_by_genesis(
    genesis: &hansa_types::Genesis,
    header: &hansa_types::Header,
    certificate: &[u8],
) -> bool {
    let validators: Vec<hansa_types::PublicKey> = genesis.validators.iter().map(|v| v.public_key).collect();
    hansa_chain::verify_finalization(&genesis.chain_id(), &validators, &header.digest(), certificate)
}

/// Checks an operation proof's `signer` offline: the delegated key's record, proven in a
/// finalized state, belongs to the operation's organisation, was registered by the operation's
/// block, and its public key signed the batch. Returns which key, in words.
fn verify_delegated_signer(
    genesis: &hansa_types::Genesis,
    proof: &hansa_types::OperationProof,
    signer: &Value,
) -> Result<String> {
    use hansa_ledger::modules::{Record, keys};
    let key = signer["key"]
        .as_u64()
        .and_then(|key| u32::try_from(key).ok())
        .filter(|key| (1..=hansa_types::DELEGATED_KEY_ID_MAX).contains(key))
        .context("the signer's key number is not a delegated key's (1 to 4,096)")?;
    let record: hansa_state::StateProof = serde_json::from_value(signer["record"].clone())
        .context("the signer's record proof does not parse")?;
    record.verify().context("the signer's record proof")?;
    let certificate = hex::decode(signer["certificate"].as_str().unwrap_or(""))
        .context("the signer's certificate is not hex")?;
    if !finalized_by_genesis(genesis, &record.header, &certificate) {
        bail!(
            "the header of block {} proving the signer's key is not finalized by a quorum of the genesis validators",
            record.header.height
        );
    }
    let state_key = record.record.key();
    if state_key != keys::key_record(proof.org, key) {
        bail!("the signer's record proof is of another record than key {key} of {}", proof.org);
    }
    let Record::Key(delegated) = Record::decode(state_key.table, record.record.value())
        .context("the signer's key record does not decode")?
    else {
        bail!("the signer's record is not a delegated key");
    };
    if delegated.org != proof.org || delegated.key.id != key {
        bail!(
            "the signer's record is key {} of {}, not key {key} of {}",
            delegated.key.id,
            delegated.org,
            proof.org
        );
    }
    if delegated.registered_at / 1_000_000 > proof.header.timestamp_ms {
        bail!("key {key} of {} was registered after the operation's block", proof.org);
    }
    proof.verify_signer(&delegated.key.public_key).with_context(|| {
        format!("not signed by key {key} of {} (public key {})", proof.org, delegated.key.public_key)
    })?;
    Ok(format!("its delegated key {key}, public key {}", delegated.key.public_key))
}

/// Checks a proof envelope offline: the record against the header's roots, and the header's
/// finality against the genesis validators. Returns a one-line summary.
pub fn verify_proof(genesis: &hansa_types::Genesis, text: &str) -> Result<String> {
    let envelope: Value = serde_json::from_str(text).context("the proof is not JSON")?;
    let chain_id = genesis.chain_id();
    let claimed = envelope["chain_id"].as_str().and_then(hansa_types::Hash::from_hex);
    if claimed != Some(chain_id) {
        bail!("the proof is for another chain than this genesis ({chain_id})");
    }
    let certificate =
        hex::decode(envelope["certificate"].as_str().unwrap_or("")).context("certificate is not hex")?;
    let proof = envelope["proof"].clone();
    let (header, summary) = match envelope["kind"].as_str() {
        Some("record") => {
            let proof: hansa_state::StateProof = serde_json::from_value(proof)?;
            proof.verify()?;
            let summary = describe_record(&proof.record)?;
            (proof.header, summary)
        }
        Some("account") => {
            let proof: hansa_types::proof::v1::AccountProof = serde_json::from_value(proof)?;
            proof.verify()?;
            let a = &proof.account;
            let summary = format!(
                "account {} (ledger {}, owner {}): credits posted {}, debits posted {}, pending {}/{}",
                a.id,
                a.ledger,
                a.owner,
                a.credits_posted,
                a.debits_posted,
                a.debits_pending,
                a.credits_pending
            );
            (proof.header, summary)
        }
        Some("transfer") => {
            let proof: hansa_types::proof::v1::TransferProof = serde_json::from_value(proof)?;
            proof.verify()?;
            let t = &proof.transfer;
            let summary = format!(
                "transfer {}: {} from {} to {} on ledger {} ({:?})",
                t.id, t.amount, t.debit_account_id, t.credit_account_id, t.ledger, t.status
            );
            (proof.header, summary)
        }
        Some("operation") => {
            let proof: hansa_types::OperationProof = serde_json::from_value(proof)?;
            proof.verify()?;
            let org =
                genesis.organisation(proof.org).context("the proof names an organisation not in genesis")?;
            let signed_by = match envelope.get("signer") {
                None | Some(Value::Null) => {
                    proof.verify_signer(&org.public_key).with_context(|| {
                        format!(
                            "not signed by the genesis key of {} (and the proof names no delegated key)",
                            proof.org
                        )
                    })?;
                    "its genesis key".to_string()
                }
                Some(signer) => verify_delegated_signer(genesis, &proof, signer)?,
            };
            let summary = format!(
                "operation {} by {} (signed with {signed_by}) in block {}: {}",
                proof.operation.id(),
                proof.org,
                proof.header.height,
                proof.result
            );
            (proof.header, summary)
        }
        other => bail!("unknown proof kind {other:?}"),
    };
    if !finalized_by_genesis(genesis, &header, &certificate) {
        bail!("the header of block {} is not finalized by a quorum of the genesis validators", header.height);
    }
    Ok(format!("VALID: {summary}; final at height {} (block {})", header.height, header.digest()))
}
