//! The web console's sign-in page in a real browser: headless Chromium (which `scripts/test.sh`
//! installs) loads `/console` from a validator, makes an access token from an organisation's
//! key with WebCrypto's Ed25519, and reads what that organisation may read, and nothing else.

use crate::support::*;
use serde_json::Value;
use std::process::Command;

/// The browser: `HANSA_CHROMIUM`, or the first of Debian's and others' names found on `PATH`.
fn chromium() -> String {
    if let Ok(path) = std::env::var("HANSA_CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output();
        if found.is_ok_and(|output| output.status.success()) {
            return name.to_string();
        }
    }
    panic!("no Chromium found: scripts/test.sh installs Debian's `chromium` (or set HANSA_CHROMIUM)");
}

/// Opens `url` in headless Chromium, lets its script run, and returns the JSON the page wrote
/// into `#result`. Virtual time waits for every fetch but not for WebCrypto, which runs off
/// the page's thread, so a page dumped before its signature came back is loaded again (up to
/// three times): a page that never finishes still fails.
fn run_page(url: &str) -> Value {
    for attempt in 1..=3 {
        match load(url) {
            Ok(result) => return result,
            Err(dom) if attempt == 3 => panic!("the page did not finish signing in:\n{dom}"),
            Err(_) => eprintln!("the page was dumped before it finished; loading it again"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

fn load(url: &str) -> Result<Value, String> {
    let profile = tempfile_dir();
    let output = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=15000", "--dump-dom"])
        .arg(url)
        .output()
        .expect("running Chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    if !dom.contains(r#"data-done="true""#) {
        return Err(dom.into_owned());
    }
    let start = dom.find(r#"<pre id="result">"#).expect("a result element") + r#"<pre id="result">"#.len();
    let end = start + dom[start..].find("</pre>").expect("the result's end");
    let text = dom[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    Ok(serde_json::from_str(&text).unwrap_or_else(|error| panic!("the result is not JSON ({error}): {text}")))
}

fn tempfile_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    std::env::temp_dir().join(format!("hansa-chromium-{}-{nanos}", std::process::id()))
}

#[test]
fn the_console_signs_in_from_a_browser_with_the_key_alone_and_reads_only_in_scope() {
    let devnet = Devnet::start(1, 7);
    let endpoint = &devnet.endpoints[0];

    // The page may run only its own script and style, and reach only its validator.
    let response = ureq::get(&format!("{endpoint}/console")).call().expect("the page");
    let policy =
        response.headers().get("content-security-policy").expect("a policy").to_str().expect("ASCII");
    assert!(policy.contains("connect-src 'self'") && !policy.contains("unsafe"), "{policy}");
    assert_eq!(
        response.headers().get("referrer-policy").map(|value| value.as_bytes()),
        Some(&b"no-referrer"[..])
    );
    let key = |org: hansa_types::OrgId| hex::encode(devnet.key(org).seed());
    let page = |org: u32, key: &str, account: u128| {
        format!("{endpoint}/console#org={org}&key={key}&account={account}")
    };

    // The merchant, with its key, reads its own account.
    let own = run_page(&page(MERCHANT.0, &key(MERCHANT), MERCHANT_SALES));
    assert_eq!(own["signed_in"]["status"], 200, "{own}");
    assert_eq!(own["signed_in"]["body"]["org"], MERCHANT.0, "{own}");
    assert_eq!(own["account"]["status"], 200, "{own}");
    assert_eq!(own["account"]["body"]["account"]["id"], MERCHANT_SALES.to_string(), "{own}");
    assert_eq!(own["account"]["body"]["account"]["owner"], MERCHANT.0, "{own}");

    // Another organisation's account is, to the merchant, missing.
    let other = run_page(&page(MERCHANT.0, &key(MERCHANT), CUSTOMER_WALLET));
    assert_eq!(other["signed_in"]["status"], 200, "{other}");
    assert_eq!(other["account"]["status"], 404, "{other}");
    assert_eq!(other["account"]["code"], "not_found", "{other}");

    // The bank's key does not sign for the merchant.
    let wrong = run_page(&page(MERCHANT.0, &key(BANK), MERCHANT_SALES));
    assert_eq!(wrong["signed_in"]["status"], 401, "{wrong}");
    assert_eq!(wrong["signed_in"]["code"], "bad_token", "{wrong}");
    assert_eq!(wrong["account"]["status"], 401, "{wrong}");

    // A malformed key is refused in the page, before anything is sent.
    let malformed = run_page(&page(MERCHANT.0, "12ab", MERCHANT_SALES));
    assert!(malformed["error"].as_str().is_some_and(|error| error.contains("64 hex digits")), "{malformed}");
    assert!(malformed.get("signed_in").is_none(), "{malformed}");
}
