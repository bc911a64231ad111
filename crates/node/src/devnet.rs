//! `hansa devnet`: a local consortium of validator processes on 127.0.0.1.
//!
//! The first run creates, in its folder, keys for five demo organisations and the validators,
//! the consortium description, genesis and one `node.toml` per validator, then seeds demo
//! accounts and one payment. Later runs resume from the folder. Ctrl-C stops every validator
//! with SIGTERM (SIGKILL after 10 s).

use crate::config::{build_genesis, generate_key};
use anyhow::{Context, Result, bail};
use hansa_client::{Client, Signer};
use hansa_ledger::testkit::{account, resolve, transfer, with_flags};
use hansa_types::{AccountFlags, Operation, OrgId, TransferFlags};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PLATFORM: OrgId = OrgId(1);
pub const MERCHANT: OrgId = OrgId(2);
pub const BANK: OrgId = OrgId(3);
pub const LOGISTICS: OrgId = OrgId(4);
/// The demo's one currency (the test kit's CNY ledger id).
pub const CNY: u32 = hansa_ledger::testkit::CNY;

/// Demo account ids.
pub const ISSUANCE_CNY: u128 = 1;
pub const PLATFORM_FEES: u128 = 1_001;
pub const MERCHANT_SALES: u128 = 2_001;
pub const CUSTOMER_WALLET: u128 = 3_001;
pub const LOGISTICS_INCOME: u128 = 4_001;

pub struct DevnetOptions {
    pub dir: PathBuf,
    pub validators: usize,
    pub api_port_base: u16,
    pub p2p_port_base: u16,
    /// `[history] retention_blocks` of every validator (`None`: archive mode).
    pub retention_blocks: Option<u64>,
}

const ORGS: [(u32, &str, &str); 5] = [
    (1, "Hansa Marketplace", "platform"),
    (2, "Lotus Tea House", "merchant"),
    (3, "Pearl River Bank", "payment_institution"),
    (4, "Swift Logistics", "service_provider"),
    (5, "Market Regulator", "auditor"),
];

/// Creates the devnet folder's keys, genesis and node configurations if they are missing.
pub fn prepare(options: &DevnetOptions) -> Result<()> {
    let dir = &options.dir;
    if dir.join("genesis.toml").exists() {
        return Ok(());
    }
    if options.validators == 0 {
        bail!("a devnet needs at least one validator");
    }
    std::fs::create_dir_all(dir)?;
    let mut consortium = String::from("chain_name = \"hansa-devnet\"\n\n");
    for (id, name, role) in ORGS {
        generate_key(&dir.join(format!("keys/org-{id}.key")))?;
        consortium.push_str(&format!(
            "[[organisations]]\nid = {id}\nname = \"{name}\"\nrole = \"{role}\"\nkey_file = \"keys/org-{id}.key\"\n\n"
        ));
    }
    for (id, currency) in [(1, "CNY"), (2, "USD"), (3, "HKD")] {
        consortium.push_str(&format!(
            "[[ledgers]]\nid = {id}\ncurrency = \"{currency}\"\nscale = 2\nissuer = 3\n\n"
        ));
    }
    for index in 0..options.validators {
        generate_key(&dir.join(format!("keys/validator-{index}.key")))?;
        let org = (index % 4) + 1;
        let p2p = options.p2p_port_base + index as u16;
        let api = options.api_port_base + index as u16;
        consortium.push_str(&format!(
            "[[validators]]\nname = \"validator-{index}\"\norg = {org}\nkey_file = \"keys/validator-{index}.key\"\np2p_address = \"127.0.0.1:{p2p}\"\napi_address = \"127.0.0.1:{api}\"\n\n"
        ));
        let node_dir = dir.join(format!("validator-{index}"));
        std::fs::create_dir_all(&node_dir)?;
        let history = match options.retention_blocks {
            Some(blocks) => format!("\n[history]\nretention_blocks = {blocks}\n"),
            None => String::new(),
        };
        std::fs::write(
            node_dir.join("node.toml"),
            format!(
                "genesis = \"../genesis.toml\"\nvalidator_key = \"../keys/validator-{index}.key\"\ndata_dir = \"data\"\n{history}"
            ),
        )?;
    }
    std::fs::write(dir.join("consortium.toml"), &consortium)?;
    let genesis = build_genesis(&dir.join("consortium.toml"))?;
    std::fs::write(dir.join("genesis.toml"), toml::to_string(&genesis)?)?;
    Ok(())
}

pub fn endpoints(dir: &Path) -> Result<Vec<String>> {
    let genesis = crate::config::read_genesis(&dir.join("genesis.toml"))?;
    Ok(genesis.validators.iter().map(|validator| format!("http://{}", validator.api_address)).collect())
}

/// Starts one validator process with its output in `validator-N/node.log`.
/// This binary's path, relative to the working folder when it lies under it (as
/// `target/release/hansa` does after `cargo run` from the repository root).
fn runnable_path_of_this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else { return "hansa".into() };
    let relative =
        std::env::current_dir().ok().and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match relative {
        Some(path) => path.display().to_string(),
        None => exe.display().to_string(),
    }
}

pub fn spawn_validator(dir: &Path, index: usize) -> Result<Child> {
    let node_dir = dir.join(format!("validator-{index}"));
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node_dir.join("node.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .args(["node", "--config"])
        .arg(node_dir.join("node.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting a validator process")?;
    // Tools and tests find each validator's process here (to stop or crash it on purpose).
    std::fs::write(node_dir.join("pid"), format!("{}\n", child.id()))?;
    Ok(child)
}

/// Waits until every endpoint answers `/v1/health`, or `limit` passes.
pub fn wait_healthy(endpoints: &[String], limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    for endpoint in endpoints {
        let client = Client::new(vec![endpoint.clone()]);
        loop {
            if client.get("/v1/health").is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("{endpoint} did not become healthy within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// Creates demo accounts, funds the customer wallet and makes one escrowed payment.
pub fn seed(dir: &Path, client: &Client) -> Result<()> {
    let marker = dir.join("seeded");
    if marker.exists() {
        return Ok(());
    }
    let chain_id = client.chain_id()?;
    let key = |org: OrgId| crate::config::read_key(&dir.join(format!("keys/org-{}.key", org.0)));
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::HISTORY;
    let steps: Vec<(OrgId, Vec<Operation>, &str)> = vec![
        (
            BANK,
            vec![account(ISSUANCE_CNY, CNY, AccountFlags::ISSUANCE), account(CUSTOMER_WALLET, CNY, limited)],
            "bank: CNY issuance account and a customer wallet",
        ),
        (PLATFORM, vec![account(PLATFORM_FEES, CNY, limited)], "platform: fee account"),
        (MERCHANT, vec![account(MERCHANT_SALES, CNY, limited)], "merchant: sales account"),
        (LOGISTICS, vec![account(LOGISTICS_INCOME, CNY, limited)], "logistics: income account"),
        (
            BANK,
            vec![transfer(10_001, ISSUANCE_CNY, CUSTOMER_WALLET, 100_000_000)],
            "bank: issue CNY 1,000,000.00 to the customer wallet",
        ),
        (
            BANK,
            vec![with_flags(
                transfer(10_002, CUSTOMER_WALLET, MERCHANT_SALES, 12_800),
                TransferFlags::PENDING,
            )],
            "bank: hold CNY 128.00 of the customer for an order",
        ),
        (
            BANK,
            vec![resolve(10_003, 10_002, u128::MAX, TransferFlags::POST_PENDING_TRANSFER)],
            "bank: capture the hold (pay the merchant)",
        ),
        (
            MERCHANT,
            vec![
                with_flags(transfer(10_004, MERCHANT_SALES, PLATFORM_FEES, 640), TransferFlags::LINKED),
                transfer(10_005, MERCHANT_SALES, LOGISTICS_INCOME, 1_000),
            ],
            "merchant: platform fee and delivery, linked",
        ),
    ];
    for (org, operations, what) in steps {
        let mut signer = Signer::new(chain_id, org, key(org)?);
        let outcome = client.submit(&signer.sign(operations), true)?;
        let results: Vec<&str> = outcome["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["result"].as_str())
            .collect();
        println!("  {what}: {} (block {})", results.join(", "), outcome["height"]);
    }
    std::fs::write(marker, "demo accounts created\n")?;
    Ok(())
}

/// Runs the devnet until Ctrl-C.
pub fn run(options: DevnetOptions) -> Result<()> {
    prepare(&options)?;
    let dir = &options.dir;
    let endpoints = endpoints(dir)?;
    // Stops every validator however this function ends, a panic included.
    let mut children = Supervised(Vec::new());
    for index in 0..endpoints.len() {
        children.0.push(spawn_validator(dir, index)?);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc_handler(move || stop.store(true, std::sync::atomic::Ordering::SeqCst))?;
    }
    let result = (|| -> Result<()> {
        wait_healthy(&endpoints, Duration::from_secs(60))?;
        let client = Client::new(endpoints.clone());
        println!("hansa devnet: {} validators in {}", endpoints.len(), dir.display());
        seed(dir, &client)?;
        let status = client.get("/v1/status")?;
        println!("\nfinalized height {} · state root {}", status["height"], status["state_root"]);
        println!("\nAPI endpoints (any of them):");
        for endpoint in &endpoints {
            println!("  {endpoint}");
        }
        println!("\nTry next:");
        // The binary as it can be run from here (`hansa` is on no PATH after `cargo run`).
        let hansa = runnable_path_of_this_binary();
        let endpoint_flag = if dir == Path::new(".devnet") {
            String::new()
        } else {
            format!(" --endpoint {}", endpoints.join(","))
        };
        let folder = dir.display();
        // Every read but status, genesis and blocks is made as an organisation: the merchant
        // (org 2) reads its sales account, the bank (org 3) its customer's wallet.
        let merchant = format!("--org 2 --key {folder}/keys/org-2.key");
        let bank = format!("--org 3 --key {folder}/keys/org-3.key");
        let token = format!("$({hansa} token {merchant} --genesis {folder}/genesis.toml)");
        println!("  curl {}/v1/status", endpoints[0]);
        println!("  curl -H \"Authorization: Bearer {token}\" {}/v1/accounts/{MERCHANT_SALES}", endpoints[0]);
        println!("  curl -N -H \"Authorization: Bearer {token}\" {}/v1/events", endpoints[0]);
        println!("  {hansa}{endpoint_flag} get account {CUSTOMER_WALLET} {bank}");
        println!(
            "  {hansa}{endpoint_flag} proof account {MERCHANT_SALES} {merchant} > proof.json && {hansa} verify proof.json --genesis {folder}/genesis.toml"
        );
        println!(
            "  {hansa}{endpoint_flag} transfer {bank} --id 20001 --debit {CUSTOMER_WALLET} --credit {MERCHANT_SALES} --amount 500 --ledger 1 --code 1"
        );
        println!(
            "\nLogs: {}/validator-N/node.log · Ctrl-C stops the consortium; run again to resume.",
            dir.display()
        );
        Ok(())
    })();
    if let Err(error) = &result {
        eprintln!("hansa devnet: {error:#}");
    }
    let mut exited = vec![false; children.0.len()];
    while result.is_ok() && !stop.load(std::sync::atomic::Ordering::SeqCst) {
        for (index, child) in children.0.iter_mut().enumerate() {
            if !exited[index]
                && let Ok(Some(status)) = child.try_wait()
            {
                exited[index] = true;
                eprintln!("hansa devnet: validator {index} exited ({status}); see its node.log");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(children);
    result
}

/// Validator processes that are stopped when this value is dropped.
struct Supervised(Vec<Child>);

impl Drop for Supervised {
    fn drop(&mut self) {
        stop_all(&mut self.0);
    }
}

/// SIGTERM to every child, then SIGKILL to any still running after 10 s.
pub fn stop_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        // A child already reaped may have had its pid reused: signal only live children.
        if matches!(child.try_wait(), Ok(None)) {
            // SAFETY: `kill` has no memory-safety preconditions; the pid is our own child's.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for child in children.iter_mut() {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn ctrlc_handler(handler: impl Fn() + Send + 'static) -> Result<()> {
    // A dedicated thread waits for SIGINT/SIGTERM with a small tokio runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        });
        handler();
    });
    Ok(())
}
