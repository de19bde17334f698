//! Test helpers (feature `test-util`): a donor package of two sites from fixed seeds, and the
//! means to forge variants of it (re-signed by the coordinator, or by a site).
//!
//! Tables are built from "groups" of identical clients, each group at least `k` strong, so that
//! every interior cell and every margin is 0 or at least `k` and tables of one indicator share
//! their totals and margins: any correct `suppress` publishes them whole. A site built with
//! [`TestSite::small_cell`] also has one cell below `k` in one indicator, so that suppression
//! (or, published raw, a policy violation) is exercised.
//!
//! These helpers panic on failure: they build trusted test data, never read outside input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::disclosure::suppress;
use quietcount_protocol::export::province_rows;
use quietcount_protocol::form::{DEFAULT_MONTHLY_TOML, Indicator};
use quietcount_protocol::{
    Cell, CountTable, DisclosurePolicy, FORMAT_VERSION, Form, IndicatorTables, Period,
    ProvincialReport, RegistryEntry, SiteId, SiteRegistry, SiteReport, Table, UnixTime, open, sign,
};

use crate::identity::Identity;
use crate::package::{Assembled, DonorPackage, Publication, StoredReport, assemble, rows_to_csv};

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
    /// When its key was revoked, if it was.
    pub revoked_at: Option<UnixTime>,
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
                revoked_at: s.revoked_at,
            })
            .collect()
    }

    /// The true counts of site `index`, per indicator, per table.
    pub fn counts(&self, index: usize) -> Vec<Vec<CountTable>> {
        let site = &self.sites[index];
        let k = u64::from(self.policy.k);
        let small_at = site
            .small_cell
            .then(|| small_cell_indicator(&self.form))
            .flatten();
        self.form
            .indicators
            .iter()
            .enumerate()
            .map(|(position, indicator)| {
                let small = small_at == Some(position);
                indicator_counts(&self.form, indicator, site.seed, position as u64, k, small)
            })
            .collect()
    }

    /// Site `index`'s report, suppressed under the policy.
    pub fn site_report(&self, index: usize) -> SiteReport {
        let indicators = self
            .form
            .indicators
            .iter()
            .zip(self.counts(index))
            .map(|(indicator, tables)| IndicatorTables {
                indicator: indicator.id.clone(),
                tables: suppress(&tables, &self.policy).expect("suppression succeeds"),
            })
            .collect();
        self.report_with(index, indicators)
    }

    /// Site `index`'s report with every cell published as counted, small cells included: a
    /// policy violation when the site has a small cell.
    pub fn raw_site_report(&self, index: usize) -> SiteReport {
        let indicators = self
            .form
            .indicators
            .iter()
            .zip(self.counts(index))
            .map(|(indicator, tables)| IndicatorTables {
                indicator: indicator.id.clone(),
                tables: tables
                    .into_iter()
                    .map(|t| Table {
                        dimensions: t.dimensions,
                        cells: t.cells.into_iter().map(Cell::Exact).collect(),
                    })
                    .collect(),
            })
            .collect();
        self.report_with(index, indicators)
    }

    fn report_with(&self, index: usize, indicators: Vec<IndicatorTables>) -> SiteReport {
        SiteReport {
            format: FORMAT_VERSION,
            form: self.form.reference(),
            site: self.sites[index].id.clone(),
            period: self.period,
            revision: 1,
            supersedes: None,
            generated_at: self.period.end() + DAY,
            policy: self.policy,
            indicators,
        }
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

    /// Assembles a package from `reports` with `package::assemble`.
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
        };
        assemble(&publication, reports, &self.coordinator).expect("assembles")
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

/// The indicator that gets a small cell: the first with a single one-dimensional table of at
/// least three categories.
fn small_cell_indicator(form: &Form) -> Option<usize> {
    form.indicators.iter().position(|indicator| {
        matches!(indicator.tables.as_slice(), [dims] if dims.len() == 1
            && form.shape_of(dims).is_some_and(|s| s.categories()[0] >= 3))
    })
}

/// Counts of one indicator: a few groups of at least `k` identical units, each placed in one
/// category of every dimension the indicator uses, counted into each table. With `small`, the
/// indicator (one table, one dimension) instead counts `k + 7`, `k + 2` and `2` in its first
/// three categories.
fn indicator_counts(
    form: &Form,
    indicator: &Indicator,
    seed: u64,
    position: u64,
    k: u64,
    small: bool,
) -> Vec<CountTable> {
    let shapes: Vec<_> = indicator
        .tables
        .iter()
        .map(|dims| {
            form.shape_of(dims)
                .expect("form tables have known dimensions")
        })
        .collect();
    if small {
        let shape = &shapes[0];
        let mut interior = vec![0; shape.interior_len()];
        interior[0] = k + 7;
        interior[1] = k + 2;
        interior[2] = 2;
        return vec![CountTable::from_interior(
            indicator.tables[0].clone(),
            shape.clone(),
            &interior,
        )];
    }
    let mut state = mix(seed.wrapping_mul(1_000_003).wrapping_add(position));
    let groups = 2 + (state % 3) as usize;
    // Each group: a category per dimension name, and a size of at least k.
    let mut members: Vec<(Vec<(String, usize)>, u64)> = Vec::new();
    for _ in 0..groups {
        let mut placement = Vec::new();
        for dims in &indicator.tables {
            for name in dims {
                if placement.iter().any(|(n, _): &(String, usize)| n == name) {
                    continue;
                }
                let categories = form.dimension(name).map_or(1, |d| d.categories.len());
                state = mix(state);
                placement.push((name.clone(), (state % categories as u64) as usize));
            }
        }
        state = mix(state);
        members.push((placement, k + state % 9));
    }
    indicator
        .tables
        .iter()
        .zip(shapes)
        .map(|(dims, shape)| {
            let mut interior = vec![0u64; shape.interior_len()];
            for (placement, size) in &members {
                let flat = dims
                    .iter()
                    .zip(shape.categories())
                    .fold(0, |acc, (name, n)| {
                        let c = placement
                            .iter()
                            .find(|(p, _)| p == name)
                            .map_or(0, |(_, c)| *c);
                        acc * n + c
                    });
                interior[flat] += size;
            }
            CountTable::from_interior(dims.clone(), shape, &interior)
        })
        .collect()
}

/// SplitMix64: a fixed, well-mixed sequence for test counts.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
