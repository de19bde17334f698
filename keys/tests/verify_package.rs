//! End-to-end checks of the donor's verifier on a real package of two sites: the library and
//! the `quietcount-keys` binary agree that an honest package verifies, and that one byte
//! changed in any file of it fails verification naming that file.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quietcount_keys::package::DonorPackage;
use quietcount_keys::testing::Fixture;
use quietcount_keys::{public_key_pem, verify_package};

const BIN: &str = env!("CARGO_BIN_EXE_quietcount-keys");

struct Setup {
    fixture: Fixture,
    package: DonorPackage,
    dir: tempfile::TempDir,
    trust: PathBuf,
}

fn setup() -> Setup {
    let fixture = Fixture::two_sites();
    let package = fixture.package();
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("coordinator.pub");
    std::fs::write(&trust, public_key_pem(&fixture.coordinator_key())).unwrap();
    Setup {
        fixture,
        package,
        dir,
        trust,
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// `quietcount-keys verify PACKAGE --trust KEY`.
fn verify_cli(package: &Path, trust: &Path) -> Output {
    Command::new(BIN)
        .arg("verify")
        .arg(package)
        .arg("--trust")
        .arg(trust)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file of a package folder, relative, with `/` separators.
fn files_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn honest_two_site_package_verifies_in_the_library_and_the_binary() {
    let s = setup();
    let path = s.dir.path().join("package");
    s.package.write_to(&path).unwrap();
    assert_eq!(s.fixture.provincial(&s.package).inputs.len(), 2);

    let report = verify_package(&path, &[s.fixture.coordinator_key()], &[]);
    assert!(report.passed(), "{}", report.render_text());

    let out = verify_cli(&path, &s.trust);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("PASS  provincial-signature"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let verdict = format!("VERIFIED: all {} checks passed", report.checks.len());
    assert!(stdout.trim_end().ends_with(&verdict), "{stdout}");

    let out = run(&[
        "verify",
        path.to_str().unwrap(),
        "--trust",
        s.trust.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["failed"], 0);
    assert_eq!(
        json["checks"].as_array().unwrap().len(),
        report.checks.len()
    );
}

#[test]
fn one_flipped_byte_in_each_file_fails_naming_that_file() {
    let s = setup();
    let honest = s.dir.path().join("honest");
    s.package.write_to(&honest).unwrap();
    let files = files_of(&honest);
    assert_eq!(
        files,
        [
            "README.txt",
            "form.toml",
            "provincial.cose",
            "registry.cose",
            "sites/hn-01.cose",
            "sites/hn-02.cose",
            "totals.csv",
        ]
    );
    let mut case = 0;
    for file in &files {
        let len = std::fs::metadata(honest.join(file)).unwrap().len() as usize;
        for at in [0, len / 3, len / 2, len - 1] {
            case += 1;
            let path = s.dir.path().join(format!("tampered-{case}"));
            s.package.write_to(&path).unwrap();
            let mut bytes = std::fs::read(path.join(file)).unwrap();
            bytes[at] ^= 0x01;
            std::fs::write(path.join(file), &bytes).unwrap();

            let report = verify_package(&path, &[s.fixture.coordinator_key()], &[]);
            assert!(!report.passed(), "{file} byte {at}: still verifies");
            assert!(
                report
                    .failures()
                    .any(|c| c.file.as_deref() == Some(file.as_str())),
                "{file} byte {at}: not named\n{}",
                report.render_text()
            );
            if at != len / 2 {
                continue;
            }
            let out = verify_cli(&path, &s.trust);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{file}: {stdout}");
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with("FAIL") && l.contains(file.as_str())),
                "{file}: no FAIL line names it\n{stdout}"
            );
            assert!(stdout.contains("NOT VERIFIED: "), "{stdout}");
        }
    }
}

#[test]
fn usage_and_file_errors_exit_2() {
    let s = setup();
    let path = s.dir.path().join("package");
    s.package.write_to(&path).unwrap();
    let package = path.to_str().unwrap();
    let trust = s.trust.to_str().unwrap();
    let missing = s.dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let not_a_key = path.join("README.txt");
    let not_a_key = not_a_key.to_str().unwrap();
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["verify", package],
        vec!["verify", "--trust", trust],
        vec!["verify", package, "--trust", trust, "--bogus"],
        vec!["verify", missing, "--trust", trust],
        vec!["verify", package, "--trust", missing],
        vec!["verify", package, "--trust", not_a_key],
        vec!["verify", package, "--trust", trust, "--form", missing],
        vec!["verify", package, "--trust", trust, "--form", not_a_key],
        vec!["inspect", missing, "--trust", trust],
        vec!["fingerprint", missing],
        vec!["public", not_a_key],
    ] {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).is_empty(), "{args:?}: no message");
        assert!(!text(&out.stderr).contains("panicked"), "{args:?}");
    }
}

#[test]
fn generate_public_fingerprint_and_inspect() {
    let s = setup();
    let key = s.dir.path().join("site.key");
    let key_str = key.to_str().unwrap();
    let out = run(&["generate", "--out", key_str]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let public = s.dir.path().join("site.key.pub");
    let loaded = quietcount_keys::load_public_key(&public).unwrap();
    let short = quietcount_keys::short_fingerprint(&quietcount_protocol::fingerprint_of(&loaded));
    assert!(shown.contains(&short), "{shown}");
    // Refuses to overwrite.
    let before = std::fs::read(&key).unwrap();
    assert_eq!(run(&["generate", "--out", key_str]).status.code(), Some(2));
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // `public` of the private key prints the same PEM as the .pub file.
    let out = run(&["public", key_str]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), std::fs::read_to_string(&public).unwrap());

    let out = run(&["fingerprint", public.to_str().unwrap()]);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].len(), 64);
    assert_eq!(lines[1], short);

    // Inspect a site report with its site's key: verified, table shown with `*`.
    let path = s.dir.path().join("package");
    s.package.write_to(&path).unwrap();
    let site_pub = s.dir.path().join("hn-02.pub");
    std::fs::write(
        &site_pub,
        public_key_pem(&s.fixture.sites[1].identity.verifying_key()),
    )
    .unwrap();
    let report = path.join("sites/hn-02.cose");
    let out = run(&[
        "inspect",
        report.to_str().unwrap(),
        "--trust",
        site_pub.to_str().unwrap(),
    ]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        shown.contains("site-report") && shown.contains("hn-02"),
        "{shown}"
    );
    assert!(shown.contains(" *"), "{shown}");
    let out = run(&[
        "inspect",
        report.to_str().unwrap(),
        "--trust",
        site_pub.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "site-report");
    assert_eq!(json["payload"]["period"], "2026-10");
    // With the wrong key, the object does not verify: exit 1.
    let out = run(&[
        "inspect",
        report.to_str().unwrap(),
        "--trust",
        s.trust.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("NOT VERIFIED"));
}

/// A package whose `counselling_sessions` provincial total has no upper bound (one site suppressed
/// its grand total): it verifies, and no file or output of the binary carries a number
/// standing in for "no bound".
#[test]
fn an_unbounded_total_is_written_as_no_upper_bound_everywhere() {
    const STAND_IN: &str = "18446744073709551615";
    let s = setup();
    let package = s.fixture.package_with_small_total();
    let path = s.dir.path().join("package");
    package.write_to(&path).unwrap();
    for file in files_of(&path) {
        let bytes = std::fs::read(path.join(&file)).unwrap();
        assert!(!text(&bytes).contains(STAND_IN), "{file}");
        // Nor the CBOR encoding of u64::MAX.
        assert!(
            !bytes
                .windows(9)
                .any(|w| w == [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            "{file}"
        );
    }
    let csv = std::fs::read_to_string(path.join("totals.csv")).unwrap();
    let total = csv
        .lines()
        .find(|l| l.contains(",counselling_sessions,total,"))
        .unwrap();
    let fields: Vec<&str> = total.split(',').collect();
    assert_eq!(fields.len(), 8, "{total}");
    assert_eq!(
        (fields[4], fields[6], fields[7]),
        ("", "", "bounded"),
        "{total}"
    );
    assert!(fields[5].parse::<u64>().is_ok(), "{total}");

    let package_arg = path.to_str().unwrap();
    let trust = s.trust.to_str().unwrap();
    let provincial = path.join("provincial.cose");
    let provincial = provincial.to_str().unwrap();
    let form = path.join("form.toml");
    let form = form.to_str().unwrap();
    let mut outputs = Vec::new();
    for args in [
        vec!["verify", package_arg, "--trust", trust],
        vec!["verify", package_arg, "--trust", trust, "--json"],
        vec!["inspect", provincial, "--trust", trust],
        vec!["inspect", provincial, "--trust", trust, "--form", form],
        vec!["inspect", provincial, "--trust", trust, "--json"],
    ] {
        let out = run(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {all}");
        assert!(!all.contains(STAND_IN), "{args:?}: {all}");
        outputs.push(text(&out.stdout));
    }
    assert!(outputs[0].contains("VERIFIED"), "{}", outputs[0]);
    assert!(outputs[2].contains("(no upper bound)"), "{}", outputs[2]);
    assert!(outputs[3].contains("(no upper bound)"), "{}", outputs[3]);
    let json: serde_json::Value = serde_json::from_str(&outputs[4]).unwrap();
    let has_null_upper = json["payload"]["totals"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["tables"].as_array().unwrap())
        .flat_map(|t| t["cells"].as_array().unwrap())
        .any(|c| c.is_array() && c[1].is_null());
    assert!(has_null_upper, "{}", outputs[4]);
}
