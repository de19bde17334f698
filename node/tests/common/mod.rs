//! The one fixture module of the node's integration tests: data directories initialised
//! with fixed keys and times, the fixture records, a small in-test coordinator speaking the
//! wire protocol over QUIC with pinned mutual TLS, and the second test form.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ed25519_dalek::VerifyingKey;
use quietcount_keys::Identity;
use quietcount_node::import::ClientRecord;
use quietcount_node::{
    DateOrder, ImportOptions, ImportSummary, InitOptions, KdfParams, Node, NodeError, OpenPeriod,
    QueueOutcome, RecordsKey, Unlock,
};
use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{FORMAT_VERSION, Period, Receipt, Sha256Hash, SiteId, SiteReport};
use quietcount_service::tls::SiteDirectory;

/// 2026-11-10T00:00:00Z: October 2026 is over.
pub const NOV_10_2026: u64 = 1_794_268_800;
/// 2026-10-15T00:00:00Z: October 2026 is open.
pub const OCT_15_2026: u64 = 1_792_022_400;

pub fn october() -> Period {
    Period::parse("2026-10").unwrap()
}

pub fn site() -> SiteId {
    SiteId::new("hn-test-01").unwrap()
}

/// A fresh data directory whose config points at `coordinator`, pinning `coordinator_identity`.
pub async fn init_node(
    root: &Path,
    coordinator: SocketAddr,
    coordinator_identity: &Identity,
) -> PathBuf {
    let key = root.join("coordinator-given.pem");
    quietcount_keys::save_public_key(&key, &coordinator_identity.verifying_key()).unwrap();
    let dir = root.join("node");
    let summary = quietcount_node::init(&InitOptions {
        dir: dir.clone(),
        site: site(),
        coordinator: coordinator.to_string(),
        coordinator_key: key,
        k: None,
    })
    .await
    .unwrap();
    // The fixture site sends on schedule, as the service tests expect (the default waits for
    // an approval in the web app).
    set_config(&dir, "scheduled_reports", "true");
    // A fixed site key, so that suppression's secret (derived from it) and with it every
    // report the tests build are the same in every run.
    let data = quietcount_node::DataDir::new(&dir);
    let identity = Identity::from_seed([42; 32]);
    std::fs::remove_file(data.site_key()).unwrap();
    identity.save(&data.site_key()).unwrap();
    std::fs::remove_file(data.site_pub()).unwrap();
    quietcount_keys::save_public_key(&data.site_pub(), &identity.verifying_key()).unwrap();
    // The recovery key, kept outside the data directory as a site keeps it on paper.
    std::fs::write(
        root.join(RECOVERY_KEY_FILE),
        summary.recovery_key.display().as_bytes(),
    )
    .unwrap();
    quietcount_node::RecordsKeys::new(&dir)
        .add_staff(
            &Unlock::Recovery(summary.recovery_key),
            TEST_STAFF,
            TEST_PASSPHRASE,
            KdfParams::for_tests(),
        )
        .unwrap();
    dir
}

/// The staff member every test data directory has (cheap Argon2 parameters).
pub const TEST_STAFF: &str = "Tester";
/// Their passphrase.
pub const TEST_PASSPHRASE: &str = "test passphrase, not secret";
/// Where [`init_node`] keeps the recovery key: next to the data directory, not in it.
pub const RECOVERY_KEY_FILE: &str = "recovery-key.txt";

/// The test staff member's unlock.
pub fn test_staff() -> Unlock {
    Unlock::Staff {
        name: TEST_STAFF.into(),
        passphrase: TEST_PASSPHRASE.to_owned().into(),
    }
}

/// The records key, unlocked by the test staff member.
pub fn unlock(node: &Node) -> RecordsKey {
    node.unlock(&test_staff()).unwrap()
}

/// One client with its identifying fields opened (as `show` does after an unlock).
pub async fn client(node: &Node, code: &str) -> Option<ClientRecord> {
    node.client(&unlock(node), code).await.unwrap()
}

/// Every client with its identifying fields opened.
pub async fn clients(node: &Node) -> Vec<ClientRecord> {
    node.clients(&unlock(node)).await.unwrap()
}

/// A fresh data directory under `root`, opened (its coordinator address goes nowhere).
pub async fn fresh_node(root: &Path) -> Node {
    let dir = init_node(
        root,
        "127.0.0.1:9".parse().unwrap(),
        &TestCoordinator::identity(),
    )
    .await;
    Node::open(&dir).await.unwrap()
}

/// A fresh node holding the fixture records (`fixture_clients.csv`, `fixture_services.csv`).
pub async fn fixture_node(root: &Path) -> Node {
    let node = fresh_node(root).await;
    import_fixture_records(&node).await;
    node
}

/// The data directory of a closed [`fixture_node`] that reports the default form and the second
/// test form.
pub async fn fixture_dir_with_two_forms(root: &Path) -> PathBuf {
    let node = fixture_node(root).await;
    let dir = node.dir().root.clone();
    node.close().await;
    drop(node);
    add_second_form(&dir);
    dir
}

/// Records late October events, which change October's report.
///
/// Ten group counselling sessions of C2, who already had group counselling in October: the
/// sessions counted change (and are published), no client count does, so the correction
/// changes no client cell that the joint audit of revisions would have to protect.
pub async fn import_late_october_event(node: &Node) {
    let sessions: String = (20..30)
        .map(|day| format!("C2,2026-10-{day},counselling_group,\n"))
        .collect();
    import_text(
        node,
        "late.csv",
        &format!("client_code,date,service,outcome\n{sessions}"),
    )
    .await
    .unwrap();
}

/// Imports the fixture records.
pub async fn import_fixture_records(node: &Node) {
    import(node, "fixture_clients.csv").await.unwrap();
    import(node, "fixture_services.csv").await.unwrap();
}

/// How the tests import: today is 2026-11-10, and slash dates are day-first (the fixture's
/// services file writes `05/10/2026` and no slash date that tells the order).
pub fn import_options() -> ImportOptions {
    ImportOptions {
        date_order: Some(DateOrder::DayMonthYear),
        ..ImportOptions::at(NOV_10_2026)
    }
}

/// Imports a file of `tests/data`.
pub async fn import(node: &Node, name: &str) -> Result<ImportSummary, NodeError> {
    node.import_file_with(&data(name), &import_options(), |_| {})
        .await
        .map(|imported| imported.summary)
}

/// Imports CSV `text`, as if from a file called `name`.
pub async fn import_text(node: &Node, name: &str, text: &str) -> Result<ImportSummary, NodeError> {
    node.import_bytes(text.as_bytes(), Path::new(name), &import_options(), |_| {})
        .await
        .map(|imported| imported.summary)
}

/// The default form's id.
pub const DEFAULT_FORM: &str = quietcount_node::config::DEFAULT_FORM_ID;

/// The default form's key, as outbox entries and outcomes name it.
pub fn default_form_key() -> quietcount_node::FormKey {
    quietcount_node::FormKey::of(&quietcount_protocol::Form::default_monthly())
}

/// The id of the second test form (`tests/data/second_monthly_form.toml`).
pub const SECOND_FORM: &str = "test-harm-reduction-monthly";

/// Adds the second test form to a node's configuration (copying the form file into a
/// `forms/` folder of the data directory), after the default form.
pub fn add_second_form(dir: &Path) {
    std::fs::create_dir_all(dir.join("forms")).unwrap();
    std::fs::copy(
        data("second_monthly_form.toml"),
        dir.join("forms/second.toml"),
    )
    .unwrap();
    set_config(
        dir,
        "forms",
        &format!("[\"{DEFAULT_FORM}\", \"forms/second.toml\"]"),
    );
}

/// Queues the default form's report for `period` (closed periods only).
pub async fn queue(node: &Node, period: Period, now: u64) -> QueueOutcome {
    node.queue_report(DEFAULT_FORM, period, now, OpenPeriod::Refuse)
        .await
        .unwrap()
}

/// Runs the `quietcount-node` binary with `args` followed by `--dir DIR`; returns its
/// standard output, failing the test if it exits non-zero.
pub fn run_cli(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quietcount-node"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A single-threaded runtime, for tests that also run the binary.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Rewrites one `name = value` line of config.toml.
pub fn set_config(dir: &Path, name: &str, value: &str) {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let replaced: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{name} = ")) {
                format!("{name} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&path, replaced.join("\n") + "\n").unwrap();
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// What the test coordinator does with the next submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Store and answer with a signed receipt (the same receipt for a resubmission).
    Accept,
    /// Refuse with this code.
    Refuse(RefusalCode),
    /// Answer with a receipt signed by a key nobody pinned.
    ForgedReceipt,
    /// Answer with a receipt naming another envelope.
    WrongReceipt,
}

#[derive(Debug)]
struct Sites(HashMap<[u8; 32], SiteId>);

impl SiteDirectory for Sites {
    fn site_for_key(&self, key: &VerifyingKey) -> Option<SiteId> {
        self.0.get(key.as_bytes()).cloned()
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// Every byte received on every stream, in order.
    pub received: Vec<Vec<u8>>,
    /// Receipts by envelope hash.
    pub receipts: HashMap<Sha256Hash, Vec<u8>>,
    /// Sequence counter.
    pub sequence: u64,
}

/// A minimal coordinator for delivery tests.
#[derive(Debug, Clone)]
pub struct TestCoordinator {
    pub addr: SocketAddr,
    pub identity: Identity,
    pub state: Arc<Mutex<State>>,
    pub mode: Arc<Mutex<Mode>>,
    pub site_key: VerifyingKey,
    /// The clock time put in responses (0: none given).
    pub clock: Arc<std::sync::atomic::AtomicU64>,
    endpoint: quinn::Endpoint,
}

impl TestCoordinator {
    /// The coordinator's fixed test identity.
    pub fn identity() -> Identity {
        Identity::from_seed([42; 32])
    }

    /// Starts serving on 127.0.0.1:0, accepting `site_key` as `site()`.
    pub fn start(identity: Identity, site_key: VerifyingKey) -> Self {
        let sites = Sites(HashMap::from([(site_key.to_bytes(), site())]));
        let config = quietcount_service::tls::server_config(&identity, Arc::new(sites)).unwrap();
        let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let coordinator = Self {
            addr,
            identity,
            state: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Accept)),
            site_key,
            clock: Arc::default(),
            endpoint: endpoint.clone(),
        };
        let server = coordinator.clone();
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let Ok(bytes) = recv.read_to_end(MAX_FRAME_BYTES).await else {
                            return;
                        };
                        let response = server.answer(&bytes);
                        let _ = send.write_all(&response.encode().unwrap()).await;
                        let _ = send.finish();
                        let _ = send.stopped().await;
                    }
                });
            }
        });
        coordinator
    }

    /// Puts `now` in every response from now on, as the coordinator's clock.
    pub fn set_time(&self, now: u64) {
        self.clock.store(now, std::sync::atomic::Ordering::SeqCst);
    }

    fn time(&self) -> Option<u64> {
        Some(self.clock.load(std::sync::atomic::Ordering::SeqCst)).filter(|&t| t != 0)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn stored(&self) -> usize {
        self.state.lock().unwrap().receipts.len()
    }

    pub fn received_bytes(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().received.clone()
    }

    fn answer(&self, bytes: &[u8]) -> Response {
        let mode = *self.mode.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        state.received.push(bytes.to_vec());
        let Ok(Request::Submit { envelope }) = Request::decode(bytes) else {
            return Response::Refused {
                code: RefusalCode::Malformed,
                message: "malformed".into(),
                head: None,
                time: self.time(),
            };
        };
        if let Mode::Refuse(code) = mode {
            return Response::Refused {
                code,
                message: "test refusal".into(),
                head: None,
                time: self.time(),
            };
        }
        let hash = Sha256Hash::of(&envelope.0);
        if let Some(receipt) = state.receipts.get(&hash) {
            return Response::Accepted {
                receipt: Blob(receipt.clone()),
                duplicate: true,
                stored_envelope: None,
                time: self.time(),
            };
        }
        let Ok(opened) = quietcount_protocol::open::<SiteReport>(&envelope.0, &self.site_key)
        else {
            return Response::Refused {
                code: RefusalCode::BadSignature,
                message: "bad envelope".into(),
                head: None,
                time: self.time(),
            };
        };
        let report = opened.payload;
        state.sequence += 1;
        let receipt = Receipt {
            format: FORMAT_VERSION,
            report: if mode == Mode::WrongReceipt {
                Sha256Hash([7; 32])
            } else {
                hash
            },
            site: report.site,
            period: report.period,
            revision: report.revision,
            received_at: 1_794_300_000 + state.sequence,
            sequence: state.sequence,
        };
        let key = if mode == Mode::ForgedReceipt {
            Identity::from_seed([9; 32])
        } else {
            self.identity.clone()
        };
        let signed = quietcount_protocol::sign(&receipt, key.signing_key()).unwrap();
        if mode == Mode::Accept {
            state.receipts.insert(hash, signed.clone());
        }
        Response::Accepted {
            receipt: Blob(signed),
            duplicate: false,
            stored_envelope: None,
            time: self.time(),
        }
    }
}

/// Opens a node and starts a test coordinator that knows its key.
pub async fn node_with_coordinator(root: &Path) -> (Node, TestCoordinator) {
    let identity = TestCoordinator::identity();
    // The node's key is made by init, so start the server after, then point the config at it.
    let placeholder: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let dir = init_node(root, placeholder, &identity).await;
    let node = Node::open(&dir).await.unwrap();
    let coordinator = TestCoordinator::start(identity, node.identity().verifying_key());
    drop(node);
    set_config(&dir, "coordinator", &format!("\"{}\"", coordinator.addr));
    (Node::open(&dir).await.unwrap(), coordinator)
}

/// Text as Windows encodes it in code page 1258: the base letter with its circumflex, breve
/// or horn precomposed, the tone as a combining mark.
pub fn windows_1258(text: &str) -> Vec<u8> {
    const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{303}', '\u{309}', '\u{323}'];
    let mut spelled = String::new();
    for c in text.chars() {
        let (tones, rest): (Vec<char>, Vec<char>) =
            unicode_normalization::UnicodeNormalization::nfd(c).partition(|m| TONES.contains(m));
        spelled.extend(unicode_normalization::UnicodeNormalization::nfc(
            rest.into_iter(),
        ));
        spelled.extend(tones);
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1258.encode(&spelled);
    assert!(!unmappable, "{spelled} fits code page 1258");
    bytes.into_owned()
}
