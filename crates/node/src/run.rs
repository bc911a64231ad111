//! Runs one validator: consensus (the chain crate) and the API in one tokio runtime.

use crate::api::App;
use crate::api::{ApiState, DiskSpace, NodeStatus, Progress, router};
use crate::config::NodeConfig;
use anyhow::{Context, Result};
use commonware_runtime::Runner as _;
use commonware_runtime::Supervisor as _;
use hansa_chain::app::{AppConfig, Index};
use hansa_chain::validator::{ValidatorConfig, start_validator};
use hansa_ledger::Consortium;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn run_node(config: NodeConfig) -> Result<()> {
    let consortium = Arc::new(Consortium::new(config.genesis.clone())?);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let runtime =
        commonware_runtime::tokio::Config::new().with_storage_directory(config.data_dir.join("chain"));
    let runner = commonware_runtime::tokio::Runner::new(runtime);
    runner.start(|context| async move {
        let own_key = config.genesis.validators[config.index].public_key;
        let mut app_config = AppConfig::new(&hansa_chain::partition_prefix(&own_key));
        let mut tuning = hansa_chain::Tuning::production();
        let bounds = config.bounds.resolve(&app_config, &tuning)?;
        bounds.apply(&mut app_config, &mut tuning);
        check_history_mode(&config.data_dir, config.retention_blocks)?;
        app_config.retention_blocks = config.retention_blocks;
        tuning.retention_blocks = config.retention_blocks;
        crate::join::rejoin_if_far_behind(&context, &consortium, &app_config, &config, &bounds)
            .await
            .context("checking how far behind the peers this validator is")?;
        let index = Index::open(&config.data_dir.join("index.redb"), bounds.index_cache_bytes_max)
            .context("opening the index")?;
        let log_index = hansa_state::LogIndex::open(
            &config.data_dir.join("log-index.redb"),
            bounds.log_index_cache_bytes_max,
        )
        .context("opening the log index")?;
        let joined =
            crate::join::join_if_needed(&context, &consortium, &index, &log_index, &app_config, &config)
                .await
                .context("joining from a state snapshot")?;
        let anchor = index.anchor().context("reading the index")?.map(|anchor| anchor.header.height);
        let app = App::open(context.child("app"), consortium.clone(), index, log_index, app_config)
            .await
            .context("opening the state")?;
        let start_height = app.finalized().height;
        let validators = config
            .genesis
            .validators
            .iter()
            .map(|validator| {
                let address: SocketAddr = validator.p2p_address.parse().context("p2p_address in genesis")?;
                Ok((validator.public_key, address))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut chain_config = ValidatorConfig::new(
            consortium.chain_id,
            config.key.seed(),
            validators,
            config.p2p_listen,
            config.data_dir.join("chain"),
        );
        chain_config.tuning = tuning;
        let handle =
            start_validator(context, chain_config, app.clone()).await.context("starting consensus")?;
        let name = config.genesis.validators[config.index].name.clone();
        let retention_blocks = config.retention_blocks;
        let disk_free_bytes_min = bounds.disk_free_bytes_min;
        let status = {
            let chain = handle.status();
            Arc::new(move || NodeStatus {
                validator: name.clone(),
                consensus_finalized_height: chain.finalized(),
                delivered_height: chain.delivered(),
                consensus_view: chain.highest_view(),
                joined_at: anchor,
                joined_in_this_run: joined.is_some(),
                retention_blocks,
                bounds: bounds.clone(),
            })
        };
        // The network's finalized height is the highest finalization consensus has stored
        // (certified by a quorum, fetched from peers when this validator is behind). Only a
        // finalization newer than both the state this validator started from and the first
        // tip consensus reported (after a restart: what it had stored before) shows that it
        // hears the network now.
        let progress = {
            let chain = handle.status();
            Arc::new(move || {
                let network_height = chain.finalized();
                let heard = chain.first_tip().is_some_and(|first| network_height > first.max(start_height));
                Progress { network_height, heard_from_network: heard }
            })
        };
        let disk = Arc::new(DiskSpace {
            available: std::sync::atomic::AtomicU64::new(
                available_bytes(&config.data_dir).unwrap_or(u64::MAX),
            ),
            minimum: disk_free_bytes_min,
        });
        watch_disk(config.data_dir.clone(), disk.clone());
        let access = Arc::new(
            crate::access_log::AccessLog::open(&config.data_dir.join("access-log.redb"))
                .context("opening the access log")?,
        );
        let api = router(ApiState::new(app, status, progress, handle.blocks(), disk, access))
            .into_make_service_with_connect_info::<SocketAddr>();
        tracing::info!(api = %config.api_listen, p2p = %config.p2p_listen, "validator started");
        eprintln!(
            "hansa: validator {} serving the API on {} (p2p {})",
            config.index, config.api_listen, config.p2p_listen
        );
        match &config.tls {
            Some((cert, key)) => {
                // Two rustls crypto providers are linked (by different dependencies), so rustls
                // cannot choose one by itself: choose ring, the one the client side uses.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .context("loading the TLS certificate and key")?;
                tokio::spawn(axum_server::bind_rustls(config.api_listen, tls).serve(api));
            }
            None => {
                let listener = tokio::net::TcpListener::bind(config.api_listen)
                    .await
                    .with_context(|| format!("binding the API to {}", config.api_listen))?;
                tokio::spawn(async move { axum::serve(listener, api).await });
            }
        }
        shutdown_signal().await;
        eprintln!("hansa: stopping");
        Ok(())
    })
}

/// A data folder keeps the history mode it was created with (archive, or a retention window):
/// marshal's archives differ between the two. Records the mode on the first start; refuses a
/// different one later.
fn check_history_mode(data_dir: &std::path::Path, retention_blocks: Option<u64>) -> Result<()> {
    let path = data_dir.join("history-mode");
    let mode = match retention_blocks {
        None => "archive".to_string(),
        Some(blocks) => format!("retention {blocks}"),
    };
    match std::fs::read_to_string(&path) {
        Ok(recorded) if recorded.trim() == mode => Ok(()),
        Ok(recorded) => anyhow::bail!(
            "this data folder was created in history mode `{}`; [history] now asks for `{mode}`. \
             Keep the mode, or start from an empty data folder (it joins from a peer's snapshot)",
            recorded.trim()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, format!("{mode}\n")).with_context(|| format!("writing {}", path.display()))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Bytes available to this process on the file system of `path`.
fn available_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data, for which all-zero bytes are a valid value.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stats` a valid, writable statvfs.
    let result = unsafe { libc::statvfs(path.as_ptr(), &mut stats) };
    (result == 0).then(|| stats.f_bavail as u64 * stats.f_frsize as u64)
}

/// Samples the data folder's free space twice a second, for as long as the process runs.
fn watch_disk(path: std::path::PathBuf, disk: Arc<DiskSpace>) {
    std::thread::spawn(move || {
        loop {
            if let Some(available) = available_bytes(&path) {
                disk.available.store(available, std::sync::atomic::Ordering::Relaxed);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    });
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_folder_keeps_its_history_mode() {
        let dir = std::env::temp_dir().join(format!("hansa-history-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        check_history_mode(&dir, Some(128)).expect("the first start records the mode");
        check_history_mode(&dir, Some(128)).expect("the same mode again");
        let refused = check_history_mode(&dir, None).expect_err("archive mode on a pruned folder");
        assert!(refused.to_string().contains("retention 128"), "{refused}");
        assert!(check_history_mode(&dir, Some(256)).is_err(), "another retention");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
