//! The package's files on disk: each read on its own and within this verifier's limits (so
//! that one bad or hostile file does not hide the others), and the [`LAYOUT`] and [`README`]
//! checks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use quietcount_protocol::SiteId;

use super::*;
use crate::package::{
    DonorPackage, EARLIER_DIR, FORM_FILE, MAX_FILE_BYTES, PROVINCIAL_FILE, PackageError,
    README_FILE, README_TEXT, REGISTRY_FILE, SITE_EXTENSION, SITES_DIR, TOTALS_FILE,
};

/// Most entries read from one package folder; a package is small, a hostile one may not be.
const MAX_DIR_ENTRIES: usize = 10_000;

/// Most bytes of site reports read from one package (each file is limited on its own too).
const MAX_SITES_BYTES: u64 = 256 << 20;

/// The package's files, each read on its own so that one bad file does not hide the others.
#[derive(Debug)]
pub(super) struct Files {
    pub(super) provincial: Result<Vec<u8>, String>,
    pub(super) registry: Result<Vec<u8>, String>,
    pub(super) form_toml: Result<Vec<u8>, String>,
    pub(super) totals_csv: Result<Vec<u8>, String>,
    pub(super) readme: Result<Vec<u8>, String>,
    /// Site reports by the site their file name gives.
    pub(super) sites: BTreeMap<SiteId, Result<Vec<u8>, String>>,
    /// Earlier revisions of site reports, by site and revision (from `earlier/`).
    pub(super) earlier: BTreeMap<SiteId, BTreeMap<u32, Result<Vec<u8>, String>>>,
    /// Files that should not be there, with the problem: (relative path, problem).
    pub(super) unexpected: Vec<(String, String)>,
    /// Whether the sites folder went over this verifier's limits (entries or bytes).
    pub(super) over_limits: bool,
}

impl Files {
    pub(super) fn load(dir: &Path) -> Self {
        let mut unexpected = Vec::new();
        let known = [
            PROVINCIAL_FILE,
            REGISTRY_FILE,
            SITES_DIR,
            EARLIER_DIR,
            FORM_FILE,
            TOTALS_FILE,
            README_FILE,
        ];
        match list_dir(dir) {
            Ok(names) => {
                for name in names {
                    if !known.contains(&name.as_str()) {
                        unexpected.push((name, "unexpected file in the package".to_owned()));
                    }
                }
            }
            Err(e) => unexpected.push((".".to_owned(), e)),
        }
        let mut sites = BTreeMap::new();
        let mut over_limits = false;
        let sites_dir = dir.join(SITES_DIR);
        match list_dir(&sites_dir) {
            Ok(names) => {
                let suffix = format!(".{SITE_EXTENSION}");
                let mut budget = MAX_SITES_BYTES;
                for name in names {
                    let relative = format!("{SITES_DIR}/{name}");
                    let site = name
                        .strip_suffix(&suffix)
                        .and_then(|stem| SiteId::new(stem).ok());
                    match site {
                        Some(site) => {
                            let bytes = if budget == 0 {
                                Err(format!(
                                    "not read: the site reports exceed {MAX_SITES_BYTES} bytes in all"
                                ))
                            } else {
                                read_limited(&sites_dir.join(&name))
                            };
                            match &bytes {
                                Ok(read) => budget = budget.saturating_sub(read.len() as u64),
                                Err(_) => over_limits = true,
                            }
                            sites.insert(site, bytes);
                        }
                        None => unexpected.push((relative, "not named <site-id>.cose".to_owned())),
                    }
                }
            }
            Err(e) => {
                over_limits |= e.starts_with("more than");
                unexpected.push((format!("{SITES_DIR}/"), e));
            }
        }
        let mut earlier: BTreeMap<SiteId, BTreeMap<u32, Result<Vec<u8>, String>>> = BTreeMap::new();
        let earlier_dir = dir.join(EARLIER_DIR);
        if earlier_dir.exists() {
            match list_dir(&earlier_dir) {
                Ok(names) => {
                    let mut budget = MAX_SITES_BYTES;
                    for name in names {
                        match DonorPackage::parse_earlier_name(&name) {
                            Some((site, revision)) => {
                                let bytes = if budget == 0 {
                                    Err(format!(
                                        "not read: the earlier revisions exceed {MAX_SITES_BYTES} bytes in all"
                                    ))
                                } else {
                                    read_limited(&earlier_dir.join(&name))
                                };
                                match &bytes {
                                    Ok(read) => budget = budget.saturating_sub(read.len() as u64),
                                    Err(_) => over_limits = true,
                                }
                                earlier.entry(site).or_default().insert(revision, bytes);
                            }
                            None => unexpected.push((
                                format!("{EARLIER_DIR}/{name}"),
                                "not named <site-id>.r<revision>.cose".to_owned(),
                            )),
                        }
                    }
                }
                Err(e) => unexpected.push((format!("{EARLIER_DIR}/"), e)),
            }
        }
        Self {
            earlier,
            provincial: read_limited(&dir.join(PROVINCIAL_FILE)),
            registry: read_limited(&dir.join(REGISTRY_FILE)),
            form_toml: read_limited(&dir.join(FORM_FILE)),
            totals_csv: read_limited(&dir.join(TOTALS_FILE)),
            readme: read_limited(&dir.join(README_FILE)),
            sites,
            unexpected,
            over_limits,
        }
    }
}

/// Names in a folder (sorted), refusing folders with too many entries.
pub(super) fn list_dir(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list: {e}"))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list: {e}"))?;
        if names.len() >= MAX_DIR_ENTRIES {
            return Err(format!("more than {MAX_DIR_ENTRIES} entries"));
        }
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`].
pub(super) fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

pub(super) fn check_layout(dir: &Path, files: &Files, checks: &mut Vec<Check>) {
    let before = checks.len();
    // `read_from` reads every site file without a total limit: only call it on a package
    // whose sites folder was listed and read within this verifier's own limits.
    let read = if files.over_limits {
        Ok(())
    } else {
        DonorPackage::read_from(dir).map(|_| ())
    };
    for (site, result) in &files.sites {
        if let Err(e) = result {
            let file = site_file(site);
            checks.push(Check::fail(LAYOUT, format!("{file}: {e}")).file(file));
        }
    }
    if let Err(e) = read {
        let file = match &e {
            PackageError::Io { path, .. }
            | PackageError::BadSiteFile { path }
            | PackageError::TooLarge { path }
            | PackageError::NotEmpty { path } => relative(dir, path),
        };
        if !checks[before..]
            .iter()
            .any(|c| c.file.as_deref() == Some(file.as_str()))
        {
            let detail = format!("{file}: {}", package_error_reason(&e));
            checks.push(Check::fail(LAYOUT, detail).file(file));
        }
    }
    for (file, problem) in &files.unexpected {
        if checks[before..]
            .iter()
            .any(|c| c.file.as_deref() == Some(file))
        {
            continue;
        }
        checks.push(Check::fail(LAYOUT, format!("{file}: {problem}")).file(file.clone()));
    }
    if checks.len() == before {
        checks.push(Check::pass(
            LAYOUT,
            format!(
                "package reads: {PROVINCIAL_FILE}, {REGISTRY_FILE}, {} site report(s), {FORM_FILE}, {TOTALS_FILE}, {README_FILE}",
                files.sites.len()
            ),
        ));
    }
}

pub(super) fn package_error_reason(error: &PackageError) -> String {
    match error {
        PackageError::Io { source, .. } => source.to_string(),
        PackageError::BadSiteFile { .. } => "not named <site-id>.cose".to_owned(),
        PackageError::TooLarge { .. } => format!("larger than {MAX_FILE_BYTES} bytes"),
        other => other.to_string(),
    }
}

pub(super) fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let text = rel.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}

pub(super) fn check_readme(files: &Files, checks: &mut Vec<Check>) {
    let check = match &files.readme {
        Err(e) => Check::fail(README, format!("{README_FILE}: {e}")),
        Ok(bytes) if bytes.as_slice() == README_TEXT.as_bytes() => Check::pass(
            README,
            format!("{README_FILE} is the standard instructions text"),
        ),
        Ok(bytes) => {
            let at = first_difference(bytes, README_TEXT.as_bytes());
            Check::fail(
                README,
                format!("{README_FILE} differs from the standard text at byte {at}"),
            )
        }
    };
    checks.push(check.file(README_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::Fixture;
    use crate::verify::test_support::*;

    #[test]
    fn tampered_readme_and_unexpected_files_fail_layout() {
        let fixture = Fixture::two_sites();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fixture.package().write_to(&path).unwrap();
        std::fs::write(path.join("notes.txt"), "hello").unwrap();
        std::fs::write(path.join("sites").join("Bad Name.cose"), "x").unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        let files: Vec<_> = failed(&report)
            .into_iter()
            .filter(|(n, _, _)| n == LAYOUT)
            .map(|(_, f, _)| f.unwrap())
            .collect();
        assert!(files.contains(&"notes.txt".to_owned()), "{files:?}");
        assert!(
            files.contains(&"sites/Bad Name.cose".to_owned()),
            "{files:?}"
        );

        let path = dir.path().join("q");
        fixture.package().write_to(&path).unwrap();
        std::fs::remove_file(path.join(README_FILE)).unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        assert_eq!(failure(&report, README).file.as_deref(), Some(README_FILE));
    }

    #[test]
    fn oversized_site_file_fails_layout_once_naming_it() {
        let fixture = Fixture::two_sites();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fixture.package().write_to(&path).unwrap();
        let big = vec![0u8; MAX_FILE_BYTES as usize + 1];
        std::fs::write(path.join("sites/hn-02.cose"), big).unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        let layout: Vec<_> = report.failures().filter(|c| c.name == LAYOUT).collect();
        assert_eq!(layout.len(), 1, "{}", report.render_text());
        assert_eq!(layout[0].file.as_deref(), Some("sites/hn-02.cose"));
        assert!(layout[0].detail.contains("larger than"));
        // The other site is still checked in full.
        let hn01 = site(0);
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name == DISCLOSURE && c.passed && c.site.as_ref() == Some(&hn01))
        );
    }

    #[test]
    fn missing_folder_fails_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let report = verify_package(&dir.path().join("nothing"), &[], &[]);
        assert!(!report.passed());
        assert!(failure(&report, LAYOUT).detail.contains(PROVINCIAL_FILE));
    }
}
