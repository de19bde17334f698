//! Report benchmark: builds the default-form report over a large synthetic site and compares
//! it with a plain full scan of the same rows, in the same run.
//!
//! Run with `cargo bench -p quietcount-node --bench report`. Sizes can be changed with
//! `QC_BENCH_CLIENTS` (default 100000) and `QC_BENCH_MONTHS` (default 12; about 19 events per
//! client at the default rates, so about 2,000,000 events), and an existing data directory
//! can be reused with `QC_BENCH_DIR`. It also times one staff unlock of the records key at the
//! real Argon2id parameters.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use quietcount_node::dates::Date;
use quietcount_node::simulate::SimulateOptions;
use quietcount_node::{InitOptions, KdfParams, Keyring, Node, OpenPeriod, Unlock};
use quietcount_protocol::{Period, SiteId};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set size so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse. RUST_LOG=quietcount_node=debug
    // shows the time of each indicator's query.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let clients = env_u32("QC_BENCH_CLIENTS", 100_000);
    let months = env_u32("QC_BENCH_MONTHS", 12);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let reuse = std::env::var("QC_BENCH_DIR").ok();
    let period = Period::parse("2026-10").unwrap();
    runtime.block_on(async {
        let dir = match &reuse {
            Some(dir) if Path::new(dir).join("config.toml").exists() => Path::new(dir).to_owned(),
            other => {
                let dir = other.as_ref().map_or_else(|| temp.path().join("node"), |d| Path::new(d).to_owned());
                let key = temp.path().join("coordinator.pem");
                quietcount_keys::save_public_key(&key, &quietcount_keys::Identity::from_seed([1; 32]).verifying_key()).unwrap();
                quietcount_node::init(&InitOptions {
                    dir: dir.clone(),
                    site: SiteId::new("bench").unwrap(),
                    coordinator: "127.0.0.1:4433".into(),
                    coordinator_key: key,
                    k: None,
                })
                .await
                .unwrap();
                let node = Node::open(&dir).await.unwrap();
                let started = Instant::now();
                let summary = node.simulate(SimulateOptions { clients, months, seed: 7, until: period }, |_| {}).await.unwrap();
                println!(
                    "simulate: {} clients, {} events in {:.1} s",
                    summary.clients,
                    summary.events,
                    started.elapsed().as_secs_f64()
                );
                node.close().await;
                dir
            }
        };
        let node = Node::open(&dir).await.unwrap();
        let clients = node.store().count_clients().await.unwrap();
        let events = node.store().count_events().await.unwrap();
        let in_period = node
            .store()
            .count_events_between(Date::from_civil(period.first_day()), Date::from_civil(period.last_day()))
            .await
            .unwrap();
        println!("data: {clients} clients, {events} events ({in_period} in {period})");
        let peak_before = peak_rss_mib();
        reset_peak_rss();

        let mut scan = Duration::MAX;
        let mut scan_rows = 0u64;
        for _ in 0..3 {
            let started = Instant::now();
            let rows = node.store().scan_all_events().await.unwrap();
            scan = scan.min(started.elapsed());
            scan_rows = rows;
        }
        let scan_peak = peak_rss_mib();
        reset_peak_rss();
        let mut report = Duration::MAX;
        let mut cells = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let preview = node
                .preview_report(quietcount_node::config::DEFAULT_FORM_ID, period, u64::MAX / 2, OpenPeriod::Refuse)
                .await
                .unwrap();
            report = report.min(started.elapsed());
            cells = preview.report.indicators.iter().flat_map(|i| &i.tables).map(|t| t.cells.len()).sum();
        }
        let report_peak = peak_rss_mib();
        println!("full scan of events: {:.1} ms (best of 3; {scan_rows} rows)", scan.as_secs_f64() * 1e3);
        println!("report (every indicator, suppression, {cells} cells): {:.1} ms (best of 3)", report.as_secs_f64() * 1e3);
        println!("ratio report / full scan: {:.2}", report.as_secs_f64() / scan.as_secs_f64());
        println!(
            "peak RSS: {peak_before:.1} MiB before (includes simulate), {scan_peak:.1} MiB during scans, {report_peak:.1} MiB during reports"
        );

        // Unlocking the records key with a staff passphrase at the real Argon2id parameters.
        let (mut keyring, recovery) = Keyring::generate();
        let key = keyring.unlock(&Unlock::Recovery(recovery)).unwrap();
        keyring.add_staff(&key, "bench", "bench passphrase", KdfParams::default()).unwrap();
        let staff = Unlock::Staff { name: "bench".into(), passphrase: "bench passphrase".to_owned().into() };
        let mut unlock = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            keyring.unlock(&staff).unwrap();
            unlock = unlock.min(started.elapsed());
        }
        let kdf = KdfParams::default();
        println!(
            "unlock (Argon2id {} KiB, {} passes, {} lane): {:.0} ms (best of 3)",
            kdf.m_cost_kib,
            kdf.t_cost,
            kdf.p_cost,
            unlock.as_secs_f64() * 1e3
        );
    });
}
