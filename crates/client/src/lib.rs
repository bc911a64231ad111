//! Hansa's Rust SDK: a typed HTTP client that signs batches and fails over between the
//! validators' endpoints when one is down.

use hansa_types::{Batch, BatchList, Encode, Hash, Operation, OrgId, SecretKey, SignedBatch, sign_token};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the tokens [`Credentials`] makes are valid.
pub const TOKEN_LIFETIME_S: u64 = 900;
/// A token with less than this left is replaced before a request (so that one request's token
/// never expires on its way, even with the validator's clock a little ahead).
pub const TOKEN_RENEW_S: u64 = 300;

/// Who a client is: an organisation and a key of it, for one chain. Makes the access tokens
/// (`hansa_types::token`) every request but the public ones carries, and a new one before the
/// last expires.
pub struct Credentials {
    chain_id: Hash,
    org: OrgId,
    key: SecretKey,
    current: Mutex<Option<(String, u64)>>,
}

impl Credentials {
    /// `key` is the organisation's key (or, for state sync, one of its validators' keys).
    pub fn new(chain_id: Hash, org: OrgId, key: SecretKey) -> Credentials {
        Credentials { chain_id, org, key, current: Mutex::new(None) }
    }

    pub fn org(&self) -> OrgId {
        self.org
    }

    /// A token valid for at least [`TOKEN_RENEW_S`] more seconds.
    pub fn token(&self) -> String {
        let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let mut current = self.current.lock().expect("the token lock is never poisoned");
        match &*current {
            Some((token, expires_at_s)) if now_s + TOKEN_RENEW_S < *expires_at_s => token.clone(),
            _ => {
                let token = sign_token(&self.chain_id, self.org, &self.key, now_s, TOKEN_LIFETIME_S);
                *current = Some((token.clone(), now_s + TOKEN_LIFETIME_S));
                token
            }
        }
    }

    /// The `Authorization` header's value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.token())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no endpoint answered: {0}")]
    Unreachable(String),
    #[error("{code}: {message} (HTTP {status})")]
    Api { status: u16, code: String, message: String },
    #[error("unexpected response: {0}")]
    Response(String),
}

/// The header a validator puts on its answers while it has not caught up with the network.
pub const STALE_HEADER: &str = "hansa-stale";

/// A client for one consortium, over several validator endpoints.
pub struct Client {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    /// The endpoint that answered last: tried first next time.
    preferred: std::sync::atomic::AtomicUsize,
    /// Who asks; without credentials only the public routes answer.
    credentials: Option<Credentials>,
}

impl Client {
    /// `endpoints` are base URLs such as `http://127.0.0.1:8080`.
    pub fn new(endpoints: Vec<String>) -> Client {
        assert!(!endpoints.is_empty(), "a client needs at least one endpoint");
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(Duration::from_secs(90)))
            .build();
        Client {
            endpoints: endpoints.into_iter().map(|e| e.trim_end_matches('/').to_string()).collect(),
            agent: config.into(),
            preferred: std::sync::atomic::AtomicUsize::new(0),
            credentials: None,
        }
    }

    /// The same client, asking as `credentials` say.
    pub fn with_credentials(mut self, credentials: Credentials) -> Client {
        self.credentials = Some(credentials);
        self
    }

    /// A client for `org`, signing its tokens with `key`, for the chain its endpoints serve.
    pub fn for_org(endpoints: Vec<String>, org: OrgId, key: SecretKey) -> Result<Client, ClientError> {
        let client = Client::new(endpoints);
        let chain_id = client.chain_id()?;
        Ok(client.with_credentials(Credentials::new(chain_id, org, key)))
    }

    /// The `Authorization` header's value, when the client has credentials.
    fn authorization(&self) -> Option<String> {
        self.credentials.as_ref().map(Credentials::authorization)
    }

    /// Tries each endpoint, starting with the one that answered last, until one answers.
    /// Connection failures fail over; an answer (even an error status) does not, unless it
    /// is a read (`prefer_fresh`) that comes from a validator that says it has not caught up
    /// with the network (`hansa-stale`): then the others are tried, and the stale answer is
    /// returned only if none of them answers fresh. (A submission is never sent twice.)
    fn call(
        &self,
        prefer_fresh: bool,
        request: impl Fn(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let start = self.preferred.load(std::sync::atomic::Ordering::Relaxed);
        let mut failures = Vec::new();
        let mut stale = None;
        for offset in 0..self.endpoints.len() {
            let index = (start + offset) % self.endpoints.len();
            match request(&self.endpoints[index]) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let is_stale = prefer_fresh && response.headers().contains_key(STALE_HEADER);
                    let body: Value = response
                        .body_mut()
                        .with_config()
                        .limit(64 * 1024 * 1024)
                        .read_json()
                        .map_err(|error| ClientError::Response(error.to_string()))?;
                    let answer = if status >= 400 {
                        let code = body["error"]["code"].as_str().unwrap_or("unknown").to_string();
                        let message = body["error"]["message"].as_str().unwrap_or("").to_string();
                        Err(ClientError::Api { status, code, message })
                    } else {
                        Ok(body)
                    };
                    if is_stale {
                        stale.get_or_insert(answer);
                        continue;
                    }
                    self.preferred.store(index, std::sync::atomic::Ordering::Relaxed);
                    return answer;
                }
                Err(error) => failures.push(format!("{}: {error}", self.endpoints[index])),
            }
        }
        stale.unwrap_or_else(|| Err(ClientError::Unreachable(failures.join("; "))))
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        let authorization = self.authorization();
        self.call(true, |endpoint| {
            authorized(self.agent.get(&format!("{endpoint}{path}")), &authorization).call()
        })
    }

    /// Submits a signed batch in its canonical binary form. With `wait`, returns once it is
    /// final, with one result per operation.
    pub fn submit(&self, signed: &SignedBatch, wait: bool) -> Result<Value, ClientError> {
        let path = if wait { "/v1/batches?wait=true".to_string() } else { "/v1/batches".to_string() };
        self.submit_to(signed, &path)
    }

    /// Submits a signed batch and waits at most `wait_ms` (the validator allows up to 60,000)
    /// for it to be final. Past that the validator answers 504 `not_final_yet`: the batch was
    /// admitted and may still finalize (ask `GET /v1/batches/{digest}`).
    pub fn submit_waiting(&self, signed: &SignedBatch, wait_ms: u64) -> Result<Value, ClientError> {
        self.submit_to(signed, &format!("/v1/batches?wait=true&timeout_ms={wait_ms}"))
    }

    fn submit_to(&self, signed: &SignedBatch, path: &str) -> Result<Value, ClientError> {
        let bytes = signed.encode();
        let authorization = self.authorization();
        self.call(false, |endpoint| {
            authorized(self.agent.post(&format!("{endpoint}{path}")), &authorization)
                .header("content-type", "application/octet-stream")
                .send(&bytes[..])
        })
    }

    /// Submits several signed batches in one request (`POST /v1/batch-lists`, binary). Each
    /// is admitted or refused on its own: the answer's `results` has, in order, each batch's
    /// digest or its error. Finality is then observed per batch (event stream, or
    /// `GET /v1/batches/{digest}`).
    pub fn submit_list(&self, batches: &[SignedBatch]) -> Result<Value, ClientError> {
        let bytes = BatchList::encode_slice(batches);
        let authorization = self.authorization();
        self.call(false, |endpoint| {
            authorized(self.agent.post(&format!("{endpoint}/v1/batch-lists")), &authorization)
                .header("content-type", "application/octet-stream")
                .send(&bytes[..])
        })
    }

    /// The chain id, read from the genesis the validators serve.
    pub fn chain_id(&self) -> Result<Hash, ClientError> {
        let genesis = self.get("/v1/genesis")?;
        genesis["chain_id"]
            .as_str()
            .and_then(Hash::from_hex)
            .ok_or_else(|| ClientError::Response("genesis without a chain id".into()))
    }
}

/// `request` with the `Authorization` header, when there is one.
fn authorized<B>(
    request: ureq::RequestBuilder<B>,
    authorization: &Option<String>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// Signs batches for one organisation with one of its keys, numbering them from a clock-based
/// sequence so that separate runs of a tool never reuse a number. Each key numbers its own
/// batches: give each concurrent signer its own key (a delegated key, see
/// `hansa_types::keys`), since one key's window accepts numbers up to 65,536 below its
/// highest, which a second process signing with the same key 65 ms later passes.
pub struct Signer {
    pub chain_id: Hash,
    pub org: OrgId,
    /// The key's number: 0 for the organisation's genesis key.
    pub key_id: u32,
    key: SecretKey,
    next_sequence: u64,
}

impl Signer {
    /// A signer with the organisation's genesis key.
    pub fn new(chain_id: Hash, org: OrgId, key: SecretKey) -> Signer {
        Signer::delegated(chain_id, org, hansa_types::ROOT_KEY, key)
    }

    /// A signer with the organisation's key number `key_id` (0: its genesis key).
    pub fn delegated(chain_id: Hash, org: OrgId, key_id: u32, key: SecretKey) -> Signer {
        let micros =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_micros() as u64);
        Signer { chain_id, org, key_id, key, next_sequence: micros }
    }

    pub fn sign(&mut self, operations: Vec<Operation>) -> SignedBatch {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Batch { chain_id: self.chain_id, org: self.org, key: self.key_id, sequence, operations }
            .sign(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-request HTTP server that answers `body` with `status`.
    fn serve_once(status: u16, body: &'static str) -> String {
        serve_once_with(status, "", body)
    }

    /// A one-request HTTP server that answers `body` with `status` and extra header lines.
    fn serve_once_with(status: u16, headers: &'static str, body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        format!("http://{address}")
    }

    /// An address nothing listens on: bound, then released.
    fn dead_endpoint() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        format!("http://{address}")
    }

    #[test]
    fn a_dead_endpoint_fails_over_to_the_next() {
        let client = Client::new(vec![dead_endpoint(), serve_once(200, "{\"ok\":true}")]);
        let answer = client.get("/v1/health").expect("the second endpoint answers");
        assert_eq!(answer["ok"], true);
    }

    #[test]
    fn a_stale_read_prefers_a_validator_that_has_caught_up() {
        let stale = serve_once_with(200, "hansa-stale: own=3; network=40\r\n", "{\"height\":3}");
        let client = Client::new(vec![stale, serve_once(200, "{\"height\":40}")]);
        assert_eq!(client.get("/v1/status").expect("an answer")["height"], 40);
        // With nothing fresher, the stale answer is the answer.
        let stale = serve_once_with(200, "hansa-stale: own=3; network=40\r\n", "{\"height\":3}");
        let client = Client::new(vec![stale, dead_endpoint()]);
        assert_eq!(client.get("/v1/status").expect("an answer")["height"], 3);
    }

    #[test]
    fn an_error_answer_does_not_fail_over() {
        let error = "{\"error\":{\"code\":\"bad_id\",\"message\":\"no\"}}";
        let client = Client::new(vec![serve_once(400, error), serve_once(200, "{\"ok\":true}")]);
        match client.get("/v1/accounts/x") {
            Err(ClientError::Api { status: 400, code, .. }) => assert_eq!(code, "bad_id"),
            other => panic!("expected the first endpoint's error, got {other:?}"),
        }
    }

    #[test]
    fn no_endpoint_answering_is_a_clear_error() {
        let client = Client::new(vec![dead_endpoint(), dead_endpoint()]);
        assert!(matches!(client.get("/v1/health"), Err(ClientError::Unreachable(_))));
    }
}
