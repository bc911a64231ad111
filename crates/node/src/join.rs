//! A validator with no state joins from its peers' state snapshot over their APIs
//! (`GET /v1/state/snapshot`, `POST /v1/state/{part}/sync`), instead of replaying every block
//! since genesis. What is checked, and against what, is in `hansa_chain::app::join`.

use crate::config::NodeConfig;
use anyhow::{Context as _, Result};
use hansa_chain::app::{AppConfig, Index, Snapshot, Stored};
use hansa_ledger::Consortium;
use hansa_state::{LogIndex, Part, Peers};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Most bytes of one state-sync answer read from a peer (an answer carries at most
/// `SERVE_OPS_MAX` operations of at most `RECORD_BYTES_MAX` each, in practice a few MB).
const ANSWER_BYTES_MAX: u64 = 256 << 20;
/// Time a peer has to answer a snapshot offer.
const OFFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a peer has to answer one state-sync request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Wait between two rounds of asking the peers, while a join must happen and cannot yet.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Peers' APIs, asked in turn: a request that fails goes to the next peer. Every answer is
/// checked by the sync engine, so a peer is trusted for nothing.
/// Sync requests carry an access token signed by this validator's own key: the peers serve
/// the whole state to validators and auditors only.
#[derive(Clone)]
pub struct HttpPeers {
    endpoints: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    agent: ureq::Agent,
    credentials: Arc<hansa_client::Credentials>,
}

impl HttpPeers {
    pub fn new(endpoints: Vec<String>, credentials: hansa_client::Credentials) -> HttpPeers {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .http_status_as_error(true)
            .build()
            .into();
        HttpPeers {
            endpoints: Arc::new(endpoints),
            next: Arc::new(AtomicUsize::new(0)),
            agent,
            credentials: Arc::new(credentials),
        }
    }

    fn post(&self, endpoint: &str, part: Part, request: &[u8]) -> Result<Vec<u8>, String> {
        let url = format!("{endpoint}/v1/state/{}/sync", part.name());
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/octet-stream")
            .header("authorization", self.credentials.authorization())
            .send(request)
            .map_err(|error| format!("{url}: {error}"))?;
        response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_vec()
            .map_err(|error| format!("{url}: {error}"))
    }
}

impl Peers for HttpPeers {
    async fn fetch(&self, part: Part, request: Vec<u8>) -> Result<Vec<u8>, String> {
        let peers = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut failures = Vec::new();
            for _ in 0..peers.endpoints.len() {
                let turn = peers.next.fetch_add(1, Ordering::Relaxed) % peers.endpoints.len();
                match peers.post(&peers.endpoints[turn], part, &request) {
                    Ok(answer) => return Ok(answer),
                    Err(error) => failures.push(error),
                }
            }
            Err(format!("no peer answered: {}", failures.join("; ")))
        })
        .await
        .map_err(|error| error.to_string())?
    }
}

/// An HTTP agent for asking peers, each request bounded by [`OFFER_TIMEOUT`].
fn peer_agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(OFFER_TIMEOUT)).build().into()
}

/// Every snapshot the peers offer that the genesis validators proved, highest first, each with
/// the peer that offered it.
pub fn offers(endpoints: &[String], consortium: &Consortium) -> Vec<(Snapshot, String)> {
    let agent = peer_agent();
    let mut offers = Vec::new();
    for endpoint in endpoints {
        let url = format!("{endpoint}/v1/state/snapshot");
        let offer = agent.get(&url).call().map_err(|error| error.to_string()).and_then(|mut response| {
            response.body_mut().read_json::<Snapshot>().map_err(|error| error.to_string())
        });
        match offer {
            Ok(snapshot) => match snapshot.verify(consortium) {
                Ok(()) => offers.push((snapshot, endpoint.clone())),
                Err(error) => tracing::warn!(%url, %error, "refused a snapshot offer"),
            },
            Err(error) => tracing::debug!(%url, %error, "no snapshot offer"),
        }
    }
    offers.sort_by_key(|(snapshot, _)| std::cmp::Reverse(snapshot.height));
    offers
}

/// The highest consensus view in which any of `endpoints` proposed or verified a proposal
/// (`node.consensus_view` of their public status; 0 from those that do not answer).
pub fn peers_highest_view(endpoints: &[String]) -> u64 {
    let agent = peer_agent();
    endpoints
        .iter()
        .filter_map(|endpoint| {
            let mut response = agent.get(&format!("{endpoint}/v1/status")).call().ok()?;
            let status: serde_json::Value = response.body_mut().read_json().ok()?;
            status["node"]["consensus_view"].as_u64()
        })
        .max()
        .unwrap_or(0)
}

/// The consensus view in which a snapshot's block was proposed (0 for genesis).
fn snapshot_view(snapshot: &Snapshot) -> u64 {
    hansa_chain::block::decode_context(&snapshot.header.context)
        .map_or(0, |context| context.round.view().get())
}

/// This validator's credentials: its organisation, signing with the validator's own key.
fn validator_credentials(consortium: &Consortium, config: &NodeConfig) -> hansa_client::Credentials {
    let org = config.genesis.validators[config.index].org;
    hansa_client::Credentials::new(consortium.chain_id, org, config.key.clone())
}

/// [`offers`] from the peers `[sync]` names, off the async workers (the requests block).
async fn offers_from_peers(
    config: &NodeConfig,
    consortium: &Arc<Consortium>,
) -> Result<Vec<(Snapshot, String)>> {
    let (endpoints, consortium) = (config.sync_peers.clone(), consortium.clone());
    Ok(tokio::task::spawn_blocking(move || offers(&endpoints, &consortium)).await?)
}

/// Joins from a snapshot if this validator holds no state (and `[sync]` allows it) or an
/// earlier join did not finish (then it must: the store holds a partial state, and this keeps
/// asking the peers until a join succeeds). Returns the snapshot's height if it joined.
pub async fn join_if_needed(
    context: &commonware_runtime::tokio::Context,
    consortium: &Arc<Consortium>,
    index: &Index,
    log_index: &LogIndex,
    app_config: &AppConfig,
    config: &NodeConfig,
) -> Result<Option<u64>> {
    use commonware_runtime::Supervisor as _;
    let stored = hansa_chain::app::stored_state(context.child("probe"), index, app_config, log_index.clone())
        .await
        .context("opening the state")?;
    let mut must = match stored {
        Stored::State(_) => return Ok(None),
        Stored::Empty if !config.sync.enabled => return Ok(None),
        Stored::Empty => false,
        Stored::Joining { synced: true, height } => {
            eprintln!("hansa: finishing the join at height {height} (the state is synced)");
            let joined =
                hansa_chain::app::complete_join(context.child("join"), index, log_index.clone(), app_config)
                    .await
                    .context("finishing the join")?;
            return Ok(Some(joined.height));
        }
        Stored::Joining { synced: false, height } => {
            eprintln!("hansa: the join at height {height} did not finish; joining again");
            true
        }
    };
    if config.sync_peers.is_empty() {
        anyhow::ensure!(!must, "an earlier join did not finish and [sync] names no peers");
        return Ok(None);
    }
    // This validator holds no consensus journal: if it lost its data, it may have proposed in
    // any view up to the highest in which its peers saw a proposal. Proposing again in one of
    // those views would be a second, conflicting proposal (an equivocation, for which its
    // peers block it). Consensus starts at the snapshot's view, so the snapshot must be of a
    // later view than that.
    let views_seen = {
        let endpoints = config.sync_peers.clone();
        tokio::task::spawn_blocking(move || peers_highest_view(&endpoints)).await?
    };
    loop {
        let offers = offers_from_peers(config, consortium).await?;
        let floor = if must { 1 } else { config.sync.blocks_min };
        let chosen = offers.iter().find(|(snapshot, _)| snapshot.height >= floor);
        let Some((snapshot, offered_by)) = chosen else {
            if !must {
                let best = offers.first().map_or(0, |(snapshot, _)| snapshot.height);
                eprintln!(
                    "hansa: no peer offers a snapshot at height {floor} or above (best: {best}); \
                     replaying the chain from genesis"
                );
                return Ok(None);
            }
            eprintln!("hansa: waiting for a peer to offer a snapshot (a partial state sync must finish)");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        };
        let view = snapshot_view(snapshot);
        if view <= views_seen {
            eprintln!(
                "hansa: waiting for a snapshot of a view after {views_seen} (the best offered, at height {}, \
                 is of view {view}): this validator may have proposed up to that view before it lost its data",
                snapshot.height,
            );
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        // The peer that offered it first, then the others that offered one as high.
        let mut peers = vec![offered_by.clone()];
        peers.extend(
            offers
                .iter()
                .filter(|(offer, endpoint)| offer.height >= snapshot.height && endpoint != offered_by)
                .map(|(_, endpoint)| endpoint.clone()),
        );
        eprintln!("hansa: joining from the snapshot at height {} offered by {offered_by}", snapshot.height);
        let started = Instant::now();
        match hansa_chain::app::join(
            context.child("join"),
            consortium,
            index,
            log_index.clone(),
            app_config,
            snapshot,
            HttpPeers::new(peers, validator_credentials(consortium, config)),
        )
        .await
        {
            Ok(joined) => {
                eprintln!(
                    "hansa: joined at height {} in {:.1} s ({} accounts, {} transfers; records {:.1} s, \
                     log {:.1} s, log index {:.1} s, accounts read {:.1} s)",
                    joined.height,
                    started.elapsed().as_secs_f64(),
                    joined.accounts,
                    joined.transfers,
                    joined.sync.records.as_secs_f64(),
                    joined.sync.log.as_secs_f64(),
                    joined.sync.reindex.as_secs_f64(),
                    joined.bootstrap.as_secs_f64(),
                );
                return Ok(Some(joined.height));
            }
            Err(error) => {
                eprintln!("hansa: joining from the snapshot at height {} failed: {error}", snapshot.height);
                // The store now holds a partial state: only a later join makes it usable.
                must = true;
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// With `[sync] rejoin_behind_blocks`: if the peers offer a snapshot that many blocks or more
/// above this validator's state, removes its state, index and blocks (keeping its key and
/// configuration) so that it joins from the snapshot like a new validator. Returns whether it
/// did. Runs before anything else opens the data folder.
pub async fn rejoin_if_far_behind(
    context: &commonware_runtime::tokio::Context,
    consortium: &Arc<Consortium>,
    app_config: &AppConfig,
    config: &NodeConfig,
    bounds: &crate::config::Bounds,
) -> Result<bool> {
    use commonware_runtime::Supervisor as _;
    let Some(behind) = config.sync.rejoin_behind_blocks else { return Ok(false) };
    if !config.sync.enabled || config.sync_peers.is_empty() {
        return Ok(false);
    }
    let own = {
        let index = Index::open(&config.data_dir.join("index.redb"), bounds.index_cache_bytes_max)
            .context("opening the index")?;
        let log_index =
            LogIndex::open(&config.data_dir.join("log-index.redb"), bounds.log_index_cache_bytes_max)
                .context("opening the log index")?;
        match hansa_chain::app::stored_state(context.child("rejoin_probe"), &index, app_config, log_index)
            .await
        {
            Ok(Stored::State(height)) => height,
            Ok(_) => return Ok(false),
            Err(error) => return Err(error).context("opening the state"),
        }
    };
    let offers = offers_from_peers(config, consortium).await?;
    let Some((best, _)) = offers.first() else { return Ok(false) };
    if best.height < own.saturating_add(behind) {
        return Ok(false);
    }
    eprintln!(
        "hansa: this validator's state is at height {own}, {} blocks below its peers' snapshot at {} \
         ([sync] rejoin_behind_blocks = {behind}): removing its state, index and blocks to rejoin",
        best.height - own,
        best.height
    );
    for name in ["chain", "index.redb", "log-index.redb"] {
        let path = config.data_dir.join(name);
        let removed =
            if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match removed {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(true)
}
