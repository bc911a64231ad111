//! State sync: a store with no state of its own fetches the state at a peer's checkpoint,
//! verified against that checkpoint's commitment, without replaying any block.
//!
//! The caller trusts the target: a commitment whose root a finalized header carries (the chain
//! checks the header's finality certificate and that the commitment hashes to its state
//! root). Peers are not trusted: QMDB's sync engine checks every response's proof against the
//! target's operations roots, and at the end this module checks the rebuilt databases' roots
//! against the commitment, so a snapshot that does not match is refused and nothing of it is
//! kept as state.
//!
//! Wire format: a request is a QMDB [`Request`] in Commonware's codec, for one of the two
//! databases ([`Part`]); a response is the QMDB [`Response`], in the same codec. A server
//! answers at most [`SERVE_OPS_MAX`] operations per request.

use crate::store::{Family, LogOp, RecordsOp, StoreError, log_op_codec, records_op_codec};
use commonware_codec::{Copying, Decode as _, DecodeExt as _, Encode as _};
use commonware_cryptography::sha256::Digest;
use commonware_storage::qmdb::sync::{Request, Response, Source, source};
use std::future::Future;
use std::marker::PhantomData;

/// Most operations a server answers in one response.
pub const SERVE_OPS_MAX: u64 = 4_096;
/// Operations a syncing store asks for at a time, and requests it keeps outstanding.
pub const FETCH_OPS: u64 = 4_096;
pub const FETCH_REQUESTS_OUTSTANDING: usize = 8;

/// The two databases of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Current records (QMDB `current`).
    Records,
    /// Log records (QMDB `keyless`).
    Log,
}

impl Part {
    /// The name used in URLs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Part::Records => "records",
            Part::Log => "log",
        }
    }

    /// The part named `name`.
    pub fn from_name(name: &str) -> Option<Part> {
        match name {
            "records" => Some(Part::Records),
            "log" => Some(Part::Log),
            _ => None,
        }
    }
}

/// Where a syncing store gets its responses: one or more peers, untrusted. `fetch` sends an
/// encoded request for `part` and returns the encoded response.
pub trait Peers: Clone + Send + Sync + 'static {
    fn fetch(&self, part: Part, request: Vec<u8>) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// Why a peer's answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The peer did not answer.
    #[error("no answer: {0}")]
    Unanswered(String),
    /// The answer does not decode as a response to the request.
    #[error("a malformed response: {0}")]
    Malformed(String),
}

/// A [`Source`] for one database over [`Peers`].
pub(crate) struct Remote<P, Op> {
    pub(crate) peers: P,
    pub(crate) part: Part,
    pub(crate) _op: PhantomData<fn() -> Op>,
}

/// How a response's operations decode, per database.
pub(crate) trait OpCodec: commonware_codec::Read + Send + Sync + 'static {
    fn codec() -> <Self as commonware_codec::Read>::Cfg;
}

impl OpCodec for RecordsOp {
    fn codec() -> <Self as commonware_codec::Read>::Cfg {
        records_op_codec()
    }
}

impl OpCodec for LogOp {
    fn codec() -> <Self as commonware_codec::Read>::Cfg {
        log_op_codec()
    }
}

impl<P: Peers, Op: OpCodec> Source for Remote<P, Op> {
    type Family = Family;
    type Digest = Digest;
    type Op = Op;
    type Error = FetchError;

    async fn serve(&self, request: Request<Family>) -> source::Result<Self> {
        let max_ops = match &request {
            Request::Operations { max_ops, .. } => max_ops.get() as usize,
            Request::Boundary { .. } => 1,
        };
        let bytes =
            self.peers.fetch(self.part, request.encode().to_vec()).await.map_err(FetchError::Unanswered)?;
        let response =
            Response::<Family, Op, Digest>::decode_cfg(Copying(&bytes[..]), &(max_ops, Op::codec()))
                .map_err(|error| FetchError::Malformed(error.to_string()))?;
        let matches = matches!(
            (&request, &response),
            (Request::Operations { .. }, Response::Operations { .. })
                | (Request::Boundary { .. }, Response::Boundary { .. })
        );
        if !matches {
            return Err(FetchError::Malformed("the response answers another kind of request".into()));
        }
        Ok((response, None))
    }
}

/// Decodes a peer's request, refusing what a server does not answer.
pub(crate) fn decode_request(bytes: &[u8]) -> Result<Request<Family>, StoreError> {
    let request = Request::<Family>::decode(Copying(bytes))
        .map_err(|error| StoreError::BadRequest(format!("not a sync request: {error}")))?;
    if let Request::Operations { max_ops, .. } = &request
        && max_ops.get() > SERVE_OPS_MAX
    {
        return Err(StoreError::BadRequest(format!(
            "{max_ops} operations asked for; at most {SERVE_OPS_MAX} per request"
        )));
    }
    Ok(request)
}
