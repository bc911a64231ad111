//! An operator's path: keys, genesis, one validator from its node.toml, API over TLS.

use crate::support::hansa;
use std::process::Command;
use std::time::{Duration, Instant};

fn run(arguments: &[&str], directory: &std::path::Path) -> String {
    let output =
        Command::new(hansa()).args(arguments).current_dir(directory).output().expect("running hansa");
    assert!(output.status.success(), "hansa {arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_validator_started_by_hand_serves_its_api_over_tls() {
    let dir = std::env::temp_dir().join(format!("hansa-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bank = run(&["keys", "generate", "--out", "bank.key"], &dir);
    assert_eq!(run(&["keys", "show", "--key", "bank.key"], &dir), bank);
    run(&["keys", "generate", "--out", "validator.key"], &dir);
    let port = 30_000 + (std::process::id() % 1_000) as u16 * 2;
    std::fs::write(
        dir.join("consortium.toml"),
        format!(
            "chain_name = \"tls-test\"\n\n[[organisations]]\nid = 1\nname = \"Bank\"\nrole = \"payment_institution\"\nkey_file = \"bank.key\"\n\n\
             [[ledgers]]\nid = 1\ncurrency = \"CNY\"\nscale = 2\nissuer = 1\n\n\
             [[validators]]\nname = \"solo\"\norg = 1\nkey_file = \"validator.key\"\np2p_address = \"127.0.0.1:{}\"\napi_address = \"127.0.0.1:{port}\"\n",
            port + 1
        ),
    )
    .expect("consortium file");
    let chain = run(&["genesis", "--consortium", "consortium.toml", "--out", "genesis.toml"], &dir);
    assert!(chain.starts_with("chain id "), "{chain}");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // A server (end-entity) certificate: `req -x509` makes a CA one unless told otherwise.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
            "tls.key",
            "-out",
            "tls.pem",
        ])
        .current_dir(&dir)
        .output()
        .expect("openssl");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    // The validator's node.toml with `bounds` as its [bounds] section, and the validator
    // started from it.
    let start = |bounds: &str| {
        std::fs::write(
            dir.join("node.toml"),
            format!(
                "genesis = \"genesis.toml\"\nvalidator_key = \"validator.key\"\ndata_dir = \"data\"\ntls_cert = \"tls.pem\"\ntls_key = \"tls.key\"\n\n[bounds]\n{bounds}\n"
            ),
        )
        .expect("node file");
        Command::new(hansa()).args(["node", "--config", "node.toml"]).current_dir(&dir).spawn().expect("node")
    };
    let node = start("mempool_operations_max = 5000\nwaiters_max = 100");
    // Stops the node and removes the folder even when an assertion below fails.
    struct Cleanup(std::process::Child, std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let mut cleanup = Cleanup(node, dir.clone());

    let pem = std::fs::read(dir.join("tls.pem")).expect("certificate");
    let certificate = ureq::tls::Certificate::from_pem(&pem).expect("pem").to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![certificate])))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls.clone()).build().into();
    let status = |agent: &ureq::Agent| -> serde_json::Value {
        agent
            .get(&format!("https://127.0.0.1:{port}/v1/status"))
            .call()
            .expect("status")
            .body_mut()
            .read_json()
            .expect("json")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        match agent.get(&format!("https://127.0.0.1:{port}/v1/health")).call() {
            Ok(mut response) => break response.body_mut().read_to_string().expect("body"),
            Err(error) => {
                assert!(Instant::now() < deadline, "no TLS answer: {error}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    // Plain HTTP to the TLS port gets no API answer.
    let plain = ureq::get(&format!("http://127.0.0.1:{port}/v1/health")).call();
    assert!(health.contains("\"ok\":true"), "{health}");
    assert!(plain.is_err(), "plain HTTP must not be served on the TLS port");
    // The bounds set in node.toml are the ones in force.
    let bounds = status(&agent);
    assert_eq!(bounds["bounds"]["mempool_operations"]["max"], 5_000, "{bounds}");
    assert_eq!(bounds["bounds"]["waiters"]["max"], 100);

    // The same validator, restarted with a disk minimum no disk has: it says it is full and
    // accepts no work, with a clear error, and its state is untouched.
    let _ = cleanup.0.kill();
    let _ = cleanup.0.wait();
    cleanup.0 = start("disk_free_bytes_min = 1000000000000000000");
    let answers: ureq::Agent =
        ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().into();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (code, health) = loop {
        match answers.get(&format!("https://127.0.0.1:{port}/v1/health")).call() {
            Ok(mut response) => {
                let code = response.status().as_u16();
                break (code, response.body_mut().read_json::<serde_json::Value>().expect("json"));
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "no TLS answer after the restart: {error}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!((code, health["error"]["code"].as_str()), (503, Some("storage_full")), "{health}");
    let mut refused = answers
        .post(&format!("https://127.0.0.1:{port}/v1/batches"))
        .header("content-type", "application/octet-stream")
        .send(&[0u8; 4][..])
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 507);
    let body: serde_json::Value = refused.body_mut().read_json().expect("json");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    let full = status(&answers);
    assert_eq!(full["disk"]["accepting_work"], false, "{full}");
}
