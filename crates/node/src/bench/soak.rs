//! `hansa bench --soak`: W1 at 4 validators for many minutes, per-minute figures, a chart, and
//! the restart of a validator killed under load (after a 1-minute run and after the soak), and
//! the join from a snapshot of that validator with its data folder emptied: under load, then
//! once more with the load stopped (the join alone, without three busy validators beside it).

use super::{
    ACCOUNT_BASE, Cluster, Load, directory_bytes, emit, load_phase, percentile, print_machine, status_mib,
    validate,
};
use anyhow::{Context, Result, bail};
use hansa_client::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The validator the benchmark kills (never 0: the benchmark follows validator 0's events).
const VICTIM: usize = 3;
/// Load before the kill, and the longest a restarted validator may take to be ready.
const BEFORE_KILL: Duration = Duration::from_secs(15);
const READY_WITHIN: Duration = Duration::from_secs(120);
/// The longest a validator emptied of its data may take to join from a snapshot and be ready.
const JOINED_WITHIN: Duration = Duration::from_secs(600);
/// Batch size of W1.
const BATCH: usize = 8_190;

pub struct SoakOptions {
    pub minutes: u64,
    pub accounts: u64,
    pub dir: PathBuf,
    /// Where the SVG chart goes.
    pub chart: PathBuf,
}

/// Seconds into the soak, and each validator's resident memory and heap in use then (MiB).
/// A validator that did not answer its status has no heap figure (`None`), not 0.
type RssSample = (f64, Vec<f64>, Vec<Option<f64>>);

/// One minute of the soak.
#[derive(Debug, Clone, serde::Serialize)]
struct Minute {
    minute: u64,
    throughput_ops_s: f64,
    p99_ms: f64,
    rss_mib: Vec<f64>,
    /// Each validator's highest resident memory among the minute's samples (every 5 s): with
    /// jemalloc returning pages in bursts, one sample at the end of a minute can fall a third
    /// below the minute's peak.
    rss_mib_peak: Vec<f64>,
    /// Each validator's mean resident memory over the minute's samples: steadier than one
    /// sample, which moves with the blocks in flight and the mempool at that instant.
    rss_mib_mean: Vec<f64>,
    /// What each validator's allocator counts in use (`/v1/status` `memory`): resident memory
    /// less what is freed but kept, code and stacks. `null` where the validator did not answer.
    heap_in_use_mib: Vec<Option<f64>>,
    /// Validator 0's data folder at the end of the minute (the last sample within it), MiB.
    disk_mib: Option<f64>,
}

/// Bytes on disk per operation from the end of minute `from` to the end of the last minute:
/// what the chain keeps per transfer once the parts that do not grow with transfers (marshal's
/// cache of recent blocks, the records of the accounts) are in place. `None` without both
/// samples or without operations between them.
fn disk_bytes_per_op_after(minutes: &[Minute], operations_per_minute: &[u64], from: usize) -> Option<f64> {
    let start = minutes.get(from.checked_sub(1)?)?.disk_mib?;
    let end = minutes.last()?.disk_mib?;
    let operations: u64 = operations_per_minute.iter().skip(from).sum();
    (operations > 0 && minutes.len() > from).then(|| (end - start) * 1_048_576.0 / operations as f64)
}

/// Each validator's highest resident memory among the samples taken in `[from, to)` seconds
/// (empty if none was).
fn peaks(samples: &[RssSample], from: f64, to: f64) -> Vec<f64> {
    let mut peak: Vec<f64> = Vec::new();
    for (_, rss, _) in samples.iter().filter(|(at, _, _)| *at >= from && *at < to) {
        peak.resize(peak.len().max(rss.len()), 0.0);
        for (highest, now) in peak.iter_mut().zip(rss) {
            *highest = highest.max(*now);
        }
    }
    peak
}

/// Each validator's mean resident memory over the samples taken in `[from, to)` seconds
/// (empty if none was).
fn means(samples: &[RssSample], from: f64, to: f64) -> Vec<f64> {
    let within: Vec<&Vec<f64>> =
        samples.iter().filter(|(at, _, _)| *at >= from && *at < to).map(|(_, rss, _)| rss).collect();
    let validators = within.iter().map(|rss| rss.len()).max().unwrap_or(0);
    (0..validators)
        .map(|validator| {
            let values: Vec<f64> = within.iter().filter_map(|rss| rss.get(validator).copied()).collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        })
        .collect()
}

/// The largest relative growth of any validator from `then` to `now` (per validator, in order).
fn max_growth(then: &[f64], now: &[f64]) -> f64 {
    then.iter().zip(now).map(|(then, now)| now / then.max(1.0) - 1.0).fold(f64::MIN, f64::max)
}

/// A validator's heap in use (MiB) by its `/v1/status`; `None` if it does not answer.
fn heap_in_use_mib(endpoint: &str) -> Option<f64> {
    Client::new(vec![endpoint.to_string()])
        .get("/v1/status")
        .ok()
        .and_then(|status| status["memory"]["heap_in_use_bytes"].as_u64())
        .map(|bytes| bytes as f64 / (1024.0 * 1024.0))
}

fn w1_load(accounts: u64, avoid: Option<usize>) -> Load {
    Load::new(BATCH, accounts, avoid)
}

fn height(endpoint: &str) -> Result<u64> {
    Client::new(vec![endpoint.to_string()]).get("/v1/status")?["height"].as_u64().context("no height")
}

/// Kills the victim (under W1 load with `loaded`), restarts it, and measures the seconds until
/// its `/v1/health` answers 200 (caught up with the network's finalized height).
/// With `empty`, the victim's data folder is removed before the restart: it joins from its
/// peers' state snapshot instead of resuming.
fn restart(
    cluster: &Cluster,
    accounts: u64,
    ids: &Arc<AtomicU64>,
    empty: bool,
    loaded: bool,
) -> Result<Value> {
    let stop = AtomicBool::new(false);
    let within = if empty { JOINED_WITHIN } else { READY_WITHIN };
    std::thread::scope(|scope| -> Result<Value> {
        let load = loaded.then(|| {
            scope.spawn(|| load_phase(cluster, w1_load(accounts, Some(VICTIM)), within * 2, ids, Some(&stop)))
        });
        let measured = (|| -> Result<Value> {
            if loaded {
                std::thread::sleep(BEFORE_KILL);
            }
            let victim = &cluster.endpoints[VICTIM];
            let status = Client::new(vec![victim.clone()]).get("/v1/status")?;
            let height_at_kill = status["height"].as_u64().unwrap_or(0);
            let durable_at_kill = status["storage"]["durable_height"].as_u64().unwrap_or(0);
            cluster.kill_and_restart(VICTIM, empty)?;
            let restarted = Instant::now();
            let client = Client::new(vec![victim.clone()]);
            // Until its API answers at all, the validator is opening (or joining).
            let mut answering_s = None;
            loop {
                let health = client.get("/v1/health");
                if answering_s.is_none() && !matches!(health, Err(hansa_client::ClientError::Unreachable(_)))
                {
                    answering_s = Some(restarted.elapsed().as_secs_f64());
                }
                if let Ok(health) = health
                    && health["ok"] == true
                {
                    let seconds = restarted.elapsed().as_secs_f64();
                    let own = health["height"].as_u64().unwrap_or(0);
                    let peers = height(&cluster.endpoints[0])?;
                    let status = client.get("/v1/status")?;
                    return Ok(json!({
                        "ready_s": seconds,
                        "api_answering_s": answering_s,
                        "height_at_kill": height_at_kill,
                        "durable_height_at_kill": durable_at_kill,
                        "height_when_ready": own,
                        "peer_height_when_ready": peers,
                        "joined_at": status["node"]["joined_at"],
                        "accounts": status["accounts"],
                        "transfers": status["transfers"],
                    }));
                }
                if restarted.elapsed() > within {
                    bail!("the restarted validator was not ready within {within:?}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })();
        stop.store(true, Ordering::Relaxed);
        let phase = match load {
            Some(load) => Some(load.join().map_err(|_| anyhow::anyhow!("the load thread panicked"))??),
            None => None,
        };
        let mut measured = measured?;
        measured["under_load"] = json!(loaded);
        if empty {
            // The validator's own account of the join: where its time went.
            let log = std::fs::read_to_string(cluster.dir.join(format!("validator-{VICTIM}/node.log")))
                .unwrap_or_default();
            measured["join_log"] =
                json!(log.lines().rev().find(|line| line.starts_with("hansa: joined at height")));
        }
        if let Some(phase) = phase {
            measured["throughput_during_ops_s"] =
                json!(phase.ok as f64 / phase.finals.last().map_or(1.0, |f| f.0));
        }
        Ok(measured)
    })
}

pub fn run(options: SoakOptions) -> Result<()> {
    let mut lines = Vec::new();
    let machine_before = print_machine("before");
    let ids = Arc::new(AtomicU64::new(1 << 40));

    // The restart after a 1-minute run: the reference the soak's restart is compared with.
    let short = {
        let cluster = Cluster::start(&options.dir.join("soak-short"), 4, 9_700)?;
        cluster.setup(ACCOUNT_BASE, options.accounts, 0, 1_000_000_000_000)?;
        let phase =
            load_phase(&cluster, w1_load(options.accounts, None), Duration::from_secs(60), &ids, None)?;
        eprintln!("  1-minute run: {:.0} ops/s", phase.throughput);
        let after_minute = restart(&cluster, options.accounts, &ids, false, true)?;
        eprintln!("  restart after 1 minute: {after_minute}");
        after_minute
    };

    let cluster = Cluster::start(&options.dir.join("soak"), 4, 9_800)?;
    cluster.setup(ACCOUNT_BASE, options.accounts, 0, 1_000_000_000_000)?;
    // Resident memory of every validator every 5 s, while the load runs.
    let samples: Arc<Mutex<Vec<RssSample>>> = Arc::default();
    // Validator 0's data folder, in MiB, with the same clock.
    let disk_samples: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (samples, sampling, pids) = (samples.clone(), sampling.clone(), cluster.pids());
        let disk_samples = disk_samples.clone();
        let data = cluster.dir.join("validator-0/data");
        let endpoints = cluster.endpoints.clone();
        let start = Instant::now();
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let rss = pids.iter().map(|pid| status_mib(*pid, "VmRSS")).collect();
                let heap = endpoints.iter().map(|endpoint| heap_in_use_mib(endpoint)).collect();
                let at = start.elapsed().as_secs_f64();
                samples.lock().expect("lock").push((at, rss, heap));
                disk_samples.lock().expect("lock").push((at, directory_bytes(&data) as f64 / 1_048_576.0));
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    let duration = Duration::from_secs(options.minutes * 60);
    let phase = load_phase(&cluster, w1_load(options.accounts, None), duration, &ids, None)?;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    validate(&cluster, options.accounts + phase.ok)?;
    let samples = samples.lock().expect("lock").clone();
    let disk_samples = disk_samples.lock().expect("lock").clone();
    let mut minutes = Vec::new();
    let mut operations_per_minute = Vec::new();
    for minute in 0..options.minutes {
        let (from, to) = ((minute * 60) as f64, ((minute + 1) * 60) as f64);
        let within: Vec<&(f64, f64, u64)> = phase.finals.iter().filter(|f| f.0 >= from && f.0 < to).collect();
        let operations: u64 = within.iter().map(|f| f.2).sum();
        let mut latencies: Vec<f64> = within.iter().map(|f| f.1).collect();
        latencies.sort_by(f64::total_cmp);
        // Memory at the end of the minute: the last sample taken within it.
        let sample = samples.iter().rfind(|(at, _, _)| *at >= from && *at < to);
        let line = Minute {
            minute: minute + 1,
            throughput_ops_s: operations as f64 / 60.0,
            p99_ms: percentile(&latencies, 0.99),
            rss_mib: sample.map(|(_, rss, _)| rss.clone()).unwrap_or_default(),
            rss_mib_peak: peaks(&samples, from, to),
            rss_mib_mean: means(&samples, from, to),
            heap_in_use_mib: sample.map(|(_, _, heap)| heap.clone()).unwrap_or_default(),
            disk_mib: disk_samples.iter().rfind(|(at, _)| *at >= from && *at < to).map(|(_, mib)| *mib),
        };
        eprintln!(
            "  minute {:>2}: {:>8.0} ops/s, p99 {:>6.0} ms, RSS MiB {:?} (peak {:?}, mean {:?}), heap in use MiB [{}], disk {:.0} MiB",
            line.minute,
            line.throughput_ops_s,
            line.p99_ms,
            line.rss_mib.iter().map(|r| r.round()).collect::<Vec<_>>(),
            line.rss_mib_peak.iter().map(|r| r.round()).collect::<Vec<_>>(),
            line.rss_mib_mean.iter().map(|r| r.round()).collect::<Vec<_>>(),
            line.heap_in_use_mib
                .iter()
                .map(|heap| heap.map_or_else(|| "no answer".to_string(), |heap| format!("{heap:.0}")))
                .collect::<Vec<_>>()
                .join(", "),
            line.disk_mib.unwrap_or(f64::NAN),
        );
        emit(
            &json!({ "system": "hansa", "case": "SOAK-MINUTE", "validators": 4, "minute": line }),
            &mut lines,
        );
        minutes.push(line);
        operations_per_minute.push(operations);
    }
    let disk = directory_bytes(&cluster.dir.join("validator-0/data"));
    let operations = phase.ok + phase.failed + 2 * options.accounts;
    let restart_after = restart(&cluster, options.accounts, &ids, false, true)?;
    eprintln!("  restart after the soak: {restart_after}");
    // The same validator, its data folder emptied: it joins from a snapshot, under load and
    // then with the load stopped. A join that fails is reported, not fatal: the soak's figures
    // stand on their own.
    let join = restart(&cluster, options.accounts, &ids, true, true)
        .unwrap_or_else(|error| json!({ "failed": error.to_string() }));
    eprintln!("  join from a snapshot after the soak: {join}");
    let join_idle = restart(&cluster, options.accounts, &ids, true, false)
        .unwrap_or_else(|error| json!({ "failed": error.to_string() }));
    eprintln!("  join from a snapshot, the load stopped: {join_idle}");
    drop(cluster);

    let minute = |n: usize| minutes.get(n - 1);
    let last = minutes.last().context("no minute measured")?;
    let throughput_ratio = minute(2).map(|second| last.throughput_ops_s / second.throughput_ops_s.max(1.0));
    // The highest of every sample, not only of those at the ends of minutes.
    let rss_max = minutes.iter().flat_map(|m| m.rss_mib_peak.iter().copied()).fold(0.0, f64::max);
    let rss_growth = minute(3).map(|third| max_growth(&third.rss_mib, &last.rss_mib));
    let rss_peak_growth = minute(3).map(|third| max_growth(&third.rss_mib_peak, &last.rss_mib_peak));
    let rss_mean_growth = minute(3).map(|third| max_growth(&third.rss_mib_mean, &last.rss_mib_mean));
    let restart_ratio = restart_after["ready_s"].as_f64().unwrap_or(0.0)
        / short["ready_s"].as_f64().unwrap_or(1.0).max(0.001);
    emit(
        &json!({
            "system": "hansa", "case": "SOAK", "validators": 4, "minutes": options.minutes,
            "accounts": options.accounts,
            "throughput_ops_s": phase.throughput,
            "last_minute_vs_second": throughput_ratio,
            "rss_mib_max": rss_max,
            "rss_last_minute_vs_third_max_growth": rss_growth,
            "rss_peak_last_minute_vs_third_max_growth": rss_peak_growth,
            "rss_mean_last_minute_vs_third_max_growth": rss_mean_growth,
            "disk_bytes_per_op": disk as f64 / operations.max(1) as f64,
            "disk_bytes_per_op_after_minute_2": disk_bytes_per_op_after(&minutes, &operations_per_minute, 2),
            "restart_after_1_minute": short,
            "restart_after_soak": restart_after,
            "restart_ratio": restart_ratio,
            "join_after_soak": join,
            "join_after_soak_load_stopped": join_idle,
            "validated": true,
        }),
        &mut lines,
    );
    if let Some(folder) = options.chart.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    std::fs::write(&options.chart, chart(&minutes, &restart_after, &short))
        .with_context(|| format!("writing {}", options.chart.display()))?;
    eprintln!("  chart: {}", options.chart.display());
    let machine_after = print_machine("after");
    emit(&json!({ "system": "machine", "before": machine_before, "after": machine_after }), &mut lines);
    Ok(())
}

/// Three panels (throughput, p99, resident memory per validator) against the minute.
fn chart(minutes: &[Minute], restart: &Value, short: &Value) -> String {
    const WIDTH: f64 = 760.0;
    const PANEL: f64 = 200.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let count = minutes.len().max(1) as f64;
    let x = |minute: f64| LEFT + (minute - 1.0) / (count - 1.0).max(1.0) * (WIDTH - LEFT - RIGHT);
    let mut svg = String::new();
    let height = 3.0 * (PANEL + 50.0) + 40.0;
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    ));
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"14\">hansa bench --soak: W1 at 4 validators, {} minutes. Restart after kill: {:.1} s after the soak, {:.1} s after 1 minute</text>\n",
        minutes.len(),
        restart["ready_s"].as_f64().unwrap_or(0.0),
        short["ready_s"].as_f64().unwrap_or(0.0)
    ));
    let panels: [(&str, Vec<Vec<f64>>); 3] = [
        ("throughput (transfers/s)", vec![minutes.iter().map(|m| m.throughput_ops_s).collect()]),
        ("p99 submit-to-final (ms)", vec![minutes.iter().map(|m| m.p99_ms).collect()]),
        (
            "resident memory per validator (MiB)",
            (0..minutes.first().map_or(0, |m| m.rss_mib.len()))
                .map(|v| minutes.iter().map(|m| m.rss_mib.get(v).copied().unwrap_or(0.0)).collect())
                .collect(),
        ),
    ];
    for (index, (title, series)) in panels.iter().enumerate() {
        let top = 40.0 + index as f64 * (PANEL + 50.0);
        let bottom = top + PANEL;
        let max = series.iter().flatten().copied().fold(0.0, f64::max).max(1.0) * 1.1;
        let y = |value: f64| bottom - value / max * PANEL;
        svg.push_str(&format!(
            "<text x=\"{LEFT}\" y=\"{}\" font-weight=\"bold\">{title}</text>\n",
            top - 6.0
        ));
        svg.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"black\"/>\n<line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"black\"/>\n",
            WIDTH - RIGHT
        ));
        for tick in 0..=4 {
            let value = max * tick as f64 / 4.0;
            let (label_x, label_y, line_y) = (LEFT - 6.0, y(value) + 4.0, y(value));
            svg.push_str(&format!(
                "<text x=\"{label_x}\" y=\"{label_y:.1}\" text-anchor=\"end\">{value:.0}</text>\n"
            ));
            svg.push_str(&format!(
                "<line x1=\"{LEFT}\" y1=\"{line_y:.1}\" x2=\"{}\" y2=\"{line_y:.1}\" stroke=\"#ddd\"/>\n",
                WIDTH - RIGHT
            ));
        }
        for minute in minutes {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                x(minute.minute as f64),
                bottom + 16.0,
                minute.minute
            ));
        }
        for (line, values) in series.iter().enumerate() {
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, value)| format!("{:.1},{:.1}", x(i as f64 + 1.0), y(*value)))
                .collect();
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                COLOURS[line % COLOURS.len()],
                points.join(" ")
            ));
            if series.len() > 1 {
                svg.push_str(&format!(
                    "<text x=\"{}\" y=\"{}\" fill=\"{}\">validator {line}</text>\n",
                    WIDTH - RIGHT - 80.0,
                    top + 14.0 + 14.0 * line as f64,
                    COLOURS[line % COLOURS.len()]
                ));
            }
        }
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">minute</text>\n</svg>\n",
        WIDTH / 2.0,
        height - 8.0
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_peaks_are_each_validators_highest_sample_within_it() {
        let samples: Vec<RssSample> = vec![
            (59.0, vec![500.0, 900.0], vec![None, None]),
            (60.0, vec![700.0, 650.0], vec![None, None]),
            (65.0, vec![720.0, 600.0], vec![None, None]),
            (119.9, vec![690.0, 800.0], vec![None, None]),
            (120.0, vec![999.0, 999.0], vec![None, None]),
        ];
        assert_eq!(peaks(&samples, 60.0, 120.0), vec![720.0, 800.0]);
        assert_eq!(peaks(&samples, 0.0, 60.0), vec![500.0, 900.0]);
        assert!(peaks(&samples, 180.0, 240.0).is_empty());
        let mean = means(&samples, 60.0, 120.0);
        assert_eq!(mean.len(), 2);
        assert!((mean[0] - 2110.0 / 3.0).abs() < 1e-9 && (mean[1] - 2050.0 / 3.0).abs() < 1e-9, "{mean:?}");
        assert!(means(&samples, 180.0, 240.0).is_empty());
        assert!((max_growth(&[700.0, 800.0], &[700.0, 880.0]) - 0.1).abs() < 1e-9);
        assert!((max_growth(&[700.0, 800.0], &[630.0, 720.0]) + 0.1).abs() < 1e-9);
    }

    fn minute(minute: u64, disk_mib: Option<f64>) -> Minute {
        Minute {
            minute,
            throughput_ops_s: 0.0,
            p99_ms: 0.0,
            rss_mib: Vec::new(),
            rss_mib_peak: Vec::new(),
            rss_mib_mean: Vec::new(),
            heap_in_use_mib: Vec::new(),
            disk_mib,
        }
    }

    #[test]
    fn disk_per_operation_after_a_minute_counts_only_what_grew_after_it() {
        // 500 MiB fixed by minute 2, then 100 MiB per minute for 1,048,576 operations a minute.
        let minutes: Vec<Minute> = (1..=4)
            .map(|m| minute(m, Some(if m < 2 { 300.0 } else { 500.0 + 100.0 * (m - 2) as f64 })))
            .collect();
        let operations = [7, 3, 1_048_576, 1_048_576];
        assert_eq!(disk_bytes_per_op_after(&minutes, &operations, 2), Some(100.0));
        assert_eq!(
            disk_bytes_per_op_after(&minutes, &operations, 1),
            Some(400.0 * 1_048_576.0 / 2_097_155.0)
        );
        // Nothing after the last minute, a minute without a sample, or no operations: no figure.
        assert_eq!(disk_bytes_per_op_after(&minutes, &operations, 4), None);
        assert_eq!(disk_bytes_per_op_after(&minutes, &[0, 0, 0, 0], 2), None);
        let mut unsampled = minutes;
        unsampled[1].disk_mib = None;
        assert_eq!(disk_bytes_per_op_after(&unsampled, &operations, 2), None);
    }
}
