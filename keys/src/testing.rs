//! Test helpers (feature `test-util`): a donor package of two sites from fixed seeds, and the
//! means to forge variants of it (re-signed by the coordinator, or by a site).
//!
//! Site reports come from `protocol`'s one synthetic report builder
//! ([`quietcount_protocol::testing::SyntheticReport`]) with [`Counts::NoSmallCells`]: every
//! interior cell and every margin is 0 or at least `k`, so suppression publishes them whole. A
//! site with [`TestSite::small_cell`] also has one cell below `k` (`clients_methadone`,
//! `sex=other` = 2 in the default form), so that suppression (or, published raw, a policy
//! violation) is exercised.
//!
//! These helpers panic on failure: they build trusted test data, never read outside input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::export::province_rows;
use quietcount_protocol::form::DEFAULT_MONTHLY_TOML;
use quietcount_protocol::testing::{Counts, SyntheticReport};
use quietcount_protocol::{
    CountTable, DisclosurePolicy, Form, KeyEnd, KeyEndReason, Period, ProvincialReport,
    RegistryEntry, SiteId, SiteRegistry, SiteReport, UnixTime, open, sign,
};

use crate::identity::Identity;
use crate::package::{
    Assembled, DonorPackage, Publication, StoredReport, assemble_unscreened, rows_to_csv,
};

/// One day in seconds.
pub const DAY: UnixTime = 86_400;

/// A site of the fixture.
#[derive(Debug, Clone)]
pub struct TestSite {
    /// Its id.
    pub id: SiteId,
    /// Its display name.
    pub name: String,
    /// Its identity key.
    pub identity: Identity,
    /// When its key was enrolled.
    pub enrolled_at: UnixTime,
    /// When its key's validity window closed, if it did.
    pub revoked_at: Option<UnixTime>,
    /// Why it closed (when it did).
    pub end_reason: KeyEndReason,
    /// When the closing was recorded, if not at the window's end (a revocation `--since` an
    /// earlier date).
    pub end_recorded_at: Option<UnixTime>,
    /// When the coordinator received its report.
    pub received_at: UnixTime,
    /// Seed of its counts.
    pub seed: u64,
    /// Whether one indicator has a cell below k.
    pub small_cell: bool,
}

/// A coordinator, two sites, the default monthly form, October 2026.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The coordinator's identity.
    pub coordinator: Identity,
    /// The sites, in id order.
    pub sites: Vec<TestSite>,
    /// The form.
    pub form: Form,
    /// The form's TOML text.
    pub form_toml: String,
    /// The province.
    pub province: String,
    /// The period.
    pub period: Period,
    /// The disclosure policy every site applies.
    pub policy: DisclosurePolicy,
    /// Publication time.
    pub published_at: UnixTime,
    /// On-time window in days.
    pub on_time_days: u32,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::two_sites()
    }
}

impl Fixture {
    /// Two sites, `hn-01` and `hn-02` (the second with one small cell, so suppressed), keys
    /// from fixed seeds, October 2026 published ten days after the month.
    pub fn two_sites() -> Self {
        let period = Period::Month {
            year: 2026,
            month: 10,
        };
        let site = |n: u8, small_cell: bool| TestSite {
            id: SiteId::new(&format!("hn-{n:02}")).unwrap(),
            name: format!("Hà Nội site {n}"),
            identity: Identity::from_seed([n; 32]),
            enrolled_at: period.start() - 90 * DAY,
            revoked_at: None,
            end_reason: KeyEndReason::Compromised,
            end_recorded_at: None,
            received_at: period.end() + 2 * DAY + u64::from(n) * 3600,
            seed: u64::from(n),
            small_cell,
        };
        Self {
            coordinator: Identity::from_seed([0xC0; 32]),
            sites: vec![site(1, false), site(2, true)],
            form: Form::default_monthly(),
            form_toml: DEFAULT_MONTHLY_TOML.to_owned(),
            province: "Hà Nội".to_owned(),
            period,
            policy: DisclosurePolicy::DEFAULT,
            published_at: period.end() + 10 * DAY,
            on_time_days: 7,
        }
    }

    /// The coordinator's public key: what a donor trusts.
    pub fn coordinator_key(&self) -> VerifyingKey {
        self.coordinator.verifying_key()
    }

    /// The registry entries of the sites.
    pub fn registry_entries(&self) -> Vec<RegistryEntry> {
        self.sites
            .iter()
            .map(|s| RegistryEntry {
                site: s.id.clone(),
                name: s.name.clone(),
                public_key: (&s.identity.verifying_key()).into(),
                enrolled_at: s.enrolled_at,
                valid_until: s.revoked_at,
                ended: s.revoked_at.map(|t| KeyEnd {
                    reason: s.end_reason,
                    recorded_at: s.end_recorded_at.unwrap_or(t),
                }),
                reports_from: None,
            })
            .collect()
    }

    /// The synthetic report builder of site `index`: its seed, the fixture's form, period and
    /// policy, every count 0 or at least `k` except its small cell, if it has one.
    pub fn synthetic(&self, index: usize) -> SyntheticReport<'_> {
        let site = &self.sites[index];
        let builder = SyntheticReport::new(&self.form, site.id.clone(), self.period)
            .seed(site.seed)
            .policy(self.policy)
            .counts(Counts::NoSmallCells)
            .generated_at(self.period.end() + DAY);
        if site.small_cell {
            builder.small_cell()
        } else {
            builder
        }
    }

    /// The true counts of site `index`, per indicator, per table.
    pub fn counts(&self, index: usize) -> Vec<Vec<CountTable>> {
        self.synthetic(index).truth()
    }

    /// Site `index`'s report, suppressed under the policy.
    pub fn site_report(&self, index: usize) -> SiteReport {
        self.synthetic(index).build().expect("suppression succeeds")
    }

    /// Site `index`'s report with every cell published as counted, small cells included: a
    /// policy violation when the site has a small cell.
    pub fn raw_site_report(&self, index: usize) -> SiteReport {
        self.synthetic(index).build_unsuppressed()
    }

    /// Signs `report` with site `index`'s key, as received at its receipt time.
    pub fn stored(&self, index: usize, report: &SiteReport) -> StoredReport {
        StoredReport {
            envelope: sign(report, self.sites[index].identity.signing_key()).unwrap(),
            received_at: self.sites[index].received_at,
        }
    }

    /// Every site's suppressed report, signed.
    pub fn stored_reports(&self) -> Vec<StoredReport> {
        (0..self.sites.len())
            .map(|i| self.stored(i, &self.site_report(i)))
            .collect()
    }

    /// Assembles a package from `reports` with `package::assemble_unscreened` (nothing left out
    /// for breaking the disclosure rule).
    pub fn assemble_with(&self, reports: &[StoredReport]) -> Assembled {
        let registry = self.registry_entries();
        let publication = Publication {
            form: &self.form,
            form_toml: &self.form_toml,
            province: &self.province,
            period: self.period,
            published_at: self.published_at,
            on_time_days: self.on_time_days,
            registry: &registry,
            min_reporting_percent: 0,
            allow_incomplete: false,
        };
        // As a faulty coordinator would: the verifier's tests need packages holding reports
        // that break the rule, which `assemble` itself leaves out.
        assemble_unscreened(&publication, reports, &self.coordinator).expect("assembles")
    }

    /// The honest package of every site's suppressed report.
    pub fn package(&self) -> DonorPackage {
        let assembled = self.assemble_with(&self.stored_reports());
        assert!(
            assembled.excluded.is_empty(),
            "fixture reports excluded: {:?}",
            assembled.excluded
        );
        assembled.package
    }

    /// The honest package where site `hn-01` reports `counselling_sessions` with a grand total
    /// below `k` ([`SyntheticReport::small_total`]): suppressed, so the provincial total of that
    /// indicator, and every cell of it, is bounded below only (no upper bound).
    pub fn package_with_small_total(&self) -> DonorPackage {
        let mut reports = self.stored_reports();
        let report = self
            .synthetic(0)
            .small_total()
            .build()
            .expect("suppression succeeds");
        reports[0] = self.stored(0, &report);
        let assembled = self.assemble_with(&reports);
        assert!(
            assembled.excluded.is_empty(),
            "fixture reports excluded: {:?}",
            assembled.excluded
        );
        assembled.package
    }

    /// The provincial report inside `package`.
    pub fn provincial(&self, package: &DonorPackage) -> ProvincialReport {
        open(&package.provincial, &self.coordinator_key())
            .expect("provincial report opens")
            .payload
    }

    /// The registry inside `package`.
    pub fn registry(&self, package: &DonorPackage) -> SiteRegistry {
        open(&package.registry, &self.coordinator_key())
            .expect("registry opens")
            .payload
    }

    /// Edits the provincial report and re-signs it with the coordinator's key, rendering
    /// `totals.csv` afresh from the edited totals (as a careful forger would).
    pub fn resign_provincial(
        &self,
        package: &mut DonorPackage,
        edit: impl FnOnce(&mut ProvincialReport),
    ) {
        let mut provincial = self.provincial(package);
        edit(&mut provincial);
        package.provincial = sign(&provincial, self.coordinator.signing_key()).unwrap();
        package.totals_csv = rows_to_csv(&province_rows(
            &self.form,
            provincial.period,
            &provincial.totals,
        ));
    }

    /// Edits the registry and re-signs it with `signer`.
    pub fn resign_registry(
        &self,
        package: &mut DonorPackage,
        signer: &Identity,
        edit: impl FnOnce(&mut SiteRegistry),
    ) {
        let mut registry = self.registry(package);
        edit(&mut registry);
        package.registry = sign(&registry, signer.signing_key()).unwrap();
    }

    /// Puts `envelope` in the package as site `site`'s file, and has the coordinator re-sign
    /// the provincial report naming its hash, so that only the envelope's content is at fault.
    pub fn replace_site(&self, package: &mut DonorPackage, site: &SiteId, envelope: Vec<u8>) {
        let hash = quietcount_protocol::Sha256Hash::of(&envelope);
        package.sites.insert(site.clone(), envelope);
        self.resign_provincial(package, |p| {
            for input in p.inputs.iter_mut().filter(|i| &i.site == site) {
                input.envelope = hash;
            }
        });
    }

    /// Writes `package` into a new folder `dir`.
    pub fn write(&self, package: &DonorPackage, dir: &Path) {
        package.write_to(dir).expect("package writes");
    }
}
