//! Starting and stopping a devnet of real `hansa` processes for a test.

use hansa_client::{Client, Credentials, Signer};
use hansa_types::{Amount, Hash, NewTransfer, Operation, OrgId, SecretKey, TransferFlags};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MERCHANT: OrgId = OrgId(2);
pub const BANK: OrgId = OrgId(3);
/// The devnet's auditor: reads everything.
pub const AUDITOR: OrgId = OrgId(5);
pub const CUSTOMER_WALLET: u128 = 3_001;
pub const MERCHANT_SALES: u128 = 2_001;
pub const DEMO_ACCOUNTS: [u128; 5] = [1, 1_001, 2_001, 3_001, 4_001];

pub fn hansa() -> &'static str {
    env!("CARGO_BIN_EXE_hansa")
}

/// A devnet in a temporary folder; dropping it stops every process it or the test started.
pub struct Devnet {
    pub dir: PathBuf,
    pub endpoints: Vec<String>,
    /// The commands the devnet printed under "Try next", as printed.
    pub try_next: Vec<String>,
    process: Child,
    pub extra: Vec<Child>,
}

impl Devnet {
    pub fn start(validators: usize, slot: u16) -> Devnet {
        Devnet::start_with(validators, slot, &[])
    }

    /// A devnet started with extra `hansa devnet` arguments.
    pub fn start_with(validators: usize, slot: u16, extra: &[&str]) -> Devnet {
        let dir = std::env::temp_dir().join(format!("hansa-test-{}-{slot}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Ports apart per process and per test so parallel runs do not collide, and below the
        // kernel's ephemeral range (32768 and up on Linux), from which outgoing connections take
        // their local ports: a devnet there sometimes found a port taken (a validator without
        // its p2p listener, and a 4-validator devnet that could not lose another).
        assert!(slot < 10, "slots 0..10");
        let base = 10_000 + (std::process::id() % 220) as u16 * 100 + slot * 10;
        let mut process = Command::new(hansa())
            .args(["devnet", "--dir"])
            .arg(&dir)
            .args(["--validators", &validators.to_string()])
            .args(["--api-port-base", &base.to_string(), "--p2p-port-base", &(base + 5).to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting hansa devnet");
        let stdout = process.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end: a pipe closed early would make the devnet's next print fail.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("devnet: {line}");
                let _ = sender.send(line);
            }
        });
        let mut devnet =
            Devnet { dir, endpoints: Vec::new(), try_next: Vec::new(), process, extra: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(remaining) {
                Ok(line) if line.starts_with("Try next") => break,
                Ok(line) if line.trim_start().starts_with("http://") => {
                    devnet.endpoints.push(line.trim().to_string())
                }
                Ok(_) => {}
                Err(error) => panic!("the devnet did not come up: {error}"),
            }
        }
        assert_eq!(devnet.endpoints.len(), validators);
        let chain_id = Client::new(devnet.endpoints.clone()).chain_id().expect("chain id");
        let auditor = (chain_id, devnet.key(AUDITOR));
        let mut readers = READERS.lock().expect("readers lock");
        let readers = readers.get_or_insert_with(HashMap::new);
        for endpoint in &devnet.endpoints {
            readers.insert(endpoint.clone(), auditor.clone());
        }
        // The commands follow, up to the blank line before the note on logs.
        while let Ok(line) = receiver.recv_timeout(Duration::from_secs(10)) {
            if line.trim().is_empty() {
                break;
            }
            devnet.try_next.push(line.trim().to_string());
        }
        devnet
    }

    pub fn client(&self) -> Client {
        Client::new(self.endpoints.clone())
    }

    /// An access token of `org`'s.
    pub fn token(&self, org: OrgId) -> String {
        let chain_id = self.client().chain_id().expect("chain id");
        Credentials::new(chain_id, org, self.key(org)).token()
    }

    pub fn key(&self, org: OrgId) -> SecretKey {
        let text =
            std::fs::read_to_string(self.dir.join(format!("keys/org-{}.key", org.0))).expect("key file");
        let seed: [u8; 32] = hex::decode(text.trim()).expect("hex").try_into().expect("32 bytes");
        SecretKey::from_seed(seed)
    }

    pub fn signer(&self, org: OrgId) -> Signer {
        let chain_id = self.client().chain_id().expect("chain id");
        Signer::new(chain_id, org, self.key(org))
    }

    pub fn pid(&self, index: usize) -> i32 {
        let path = self.dir.join(format!("validator-{index}/pid"));
        std::fs::read_to_string(path).expect("pid file").trim().parse().expect("a pid")
    }

    /// Starts validator `index` again, as an operator would after a crash.
    pub fn restart(&mut self, index: usize) {
        let config = self.dir.join(format!("validator-{index}/node.toml"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("validator-{index}/node.log")))
            .expect("log file");
        let child = Command::new(hansa())
            .args(["node", "--config"])
            .arg(config)
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("restarting a validator");
        self.extra.push(child);
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for child in &mut self.extra {
            let _ = child.kill();
            let _ = child.wait();
        }
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe {
            libc::kill(self.process.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.process.wait();
        if std::thread::panicking() {
            // A failed test shows what each validator said last.
            for index in 0..self.endpoints.len() {
                let log = std::fs::read_to_string(self.dir.join(format!("validator-{index}/node.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- validator-{index}/node.log (last lines, newest first)\n{}", tail.join("\n"));
            }
        }
        // HANSA_TEST_KEEP=1 keeps the devnet's folder (its logs and chain data) for a post-mortem.
        if std::env::var_os("HANSA_TEST_KEEP").is_some() {
            eprintln!("devnet kept at {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// For each endpoint of a devnet a test started, the chain id and the auditor's key, so that
/// [`get`] reads everything from any validator.
static READERS: Mutex<Option<HashMap<String, (Hash, SecretKey)>>> = Mutex::new(None);

/// An access token of the devnet's auditor at `endpoint`.
pub fn auditor_token(endpoint: &str) -> String {
    let readers = READERS.lock().expect("readers lock");
    let (chain_id, key) = readers
        .as_ref()
        .and_then(|readers| readers.get(endpoint))
        .expect("a devnet this test started")
        .clone();
    Credentials::new(chain_id, AUDITOR, key).token()
}

/// Reads `path` from `endpoint` as the devnet's auditor (which reads everything; each read is
/// written to the access log of the organisations it touches).
pub fn get(endpoint: &str, path: &str) -> Result<Value, hansa_client::ClientError> {
    let reader =
        READERS.lock().expect("readers lock").as_ref().and_then(|readers| readers.get(endpoint).cloned());
    let client = Client::new(vec![endpoint.to_string()]);
    match reader {
        Some((chain_id, key)) => client.with_credentials(Credentials::new(chain_id, AUDITOR, key)).get(path),
        None => client.get(path),
    }
}

/// Polls `condition` until it holds or `limit` passes (then panics with `what`).
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn payment(id: u128, amount: u128) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        debit_account_id: CUSTOMER_WALLET,
        credit_account_id: MERCHANT_SALES,
        amount: Amount(amount),
        ledger: 1,
        code: 1,
        flags: TransferFlags(0),
        ..Default::default()
    })
}

/// Σ (credits − debits) posted over the demo accounts: zero when money is conserved.
pub fn net_balance(endpoint: &str) -> i128 {
    DEMO_ACCOUNTS
        .iter()
        .map(|id| {
            let account = get(endpoint, &format!("/v1/accounts/{id}")).expect("account")["account"].clone();
            let number = |field: &str| {
                account[field].as_str().expect("decimal string").parse::<i128>().expect("number")
            };
            number("credits_posted") - number("debits_posted")
        })
        .sum()
}

pub fn results(outcome: &Value) -> Vec<String> {
    outcome["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["result"].as_str().expect("name").to_string())
        .collect()
}

/// Runs `hansa verify` on a proof file: whether it succeeded, and what it printed.
pub fn hansa_verify(proof: &std::path::Path, genesis: &std::path::Path) -> (bool, String) {
    let output = std::process::Command::new(hansa())
        .arg("verify")
        .arg(proof)
        .arg("--genesis")
        .arg(genesis)
        .output()
        .expect("running hansa verify");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
