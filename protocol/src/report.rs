//! The site report: what one site publishes for one period, after disclosure control.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cbor;
use crate::error::{DecodeError, EncodeError, MismatchError};
use crate::form::{Form, FormRef};
use crate::ids::{EnvelopeHash, Period, SiteId, UnixTime};

/// The payload format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What an outsider may learn about empty cells: the part of the disclosure rule that decides
/// whether a zero can be hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroPolicy {
    /// Zeros may be hidden (as complements), so a hidden cell may be empty. The promise: every
    /// small cell's feasible values include 0 and reach `k`. Quietcount's default.
    #[default]
    Protected,
    /// Zeros are always published (the statistical agencies' habit), so every hidden cell is
    /// known to be at least 1 and the existence of a small group is disclosed. The promise: no
    /// small cell can be bounded below `k` from above.
    Published,
}

impl ZeroPolicy {
    /// The policy's name in configuration files and reports (`protected`, `published`).
    pub fn name(self) -> &'static str {
        match self {
            ZeroPolicy::Protected => "protected",
            ZeroPolicy::Published => "published",
        }
    }

    /// The policy named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "protected" => Some(ZeroPolicy::Protected),
            "published" => Some(ZeroPolicy::Published),
            _ => None,
        }
    }

    /// Whether `self` promises at least as much as `minimum`.
    pub fn at_least(self, minimum: ZeroPolicy) -> bool {
        self == ZeroPolicy::Protected || minimum == ZeroPolicy::Published
    }

    fn is_published(&self) -> bool {
        *self == ZeroPolicy::Published
    }

    /// Reports signed before the policy had a `zeros` field published their zeros.
    fn legacy() -> Self {
        ZeroPolicy::Published
    }
}

/// The disclosure rule a report was published under.
///
/// Encoded as `{k, zeros}`; `zeros` is left out when it is `published`, so reports signed before
/// the field existed (which always published zeros) decode unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosurePolicy {
    /// Threshold: non-zero counts below `k` are never published, and every suppressed cell's
    /// feasible interval reaches at least `k`. At least 2.
    pub k: u32,
    /// Whether zeros may be hidden, and so what the rule promises (see [`ZeroPolicy`]).
    #[serde(
        default = "ZeroPolicy::legacy",
        skip_serializing_if = "ZeroPolicy::is_published"
    )]
    pub zeros: ZeroPolicy,
}

impl DisclosurePolicy {
    /// The least threshold Quietcount accepts.
    pub const MIN_K: u32 = 2;
    /// Quietcount's default: k = 5, zeros protected.
    pub const DEFAULT: Self = Self {
        k: 5,
        zeros: ZeroPolicy::Protected,
    };
    /// The CDC/NCHS rule: k = 10.
    pub const CDC_NCHS: Self = Self {
        k: 10,
        zeros: ZeroPolicy::Protected,
    };
    /// The CMS cell-size rule: k = 11.
    pub const CMS: Self = Self {
        k: 11,
        zeros: ZeroPolicy::Protected,
    };

    /// This policy with zeros handled as `zeros` says.
    pub fn with_zeros(self, zeros: ZeroPolicy) -> Self {
        Self { zeros, ..self }
    }

    /// Whether this policy promises at least as much as `minimum`: a threshold at least as
    /// high, and zeros protected if the minimum protects them.
    pub fn meets(&self, minimum: &DisclosurePolicy) -> bool {
        self.k >= minimum.k && self.zeros.at_least(minimum.zeros)
    }

    /// A policy with threshold `k`, refusing `k` below [`Self::MIN_K`].
    pub fn new(k: u32) -> Result<Self, MismatchError> {
        if k < Self::MIN_K {
            return Err(MismatchError::PolicyTooWeak { k });
        }
        Ok(Self {
            k,
            zeros: ZeroPolicy::Protected,
        })
    }

    /// A named preset: `default` (5), `cdc-nchs` (10) or `cms` (11).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::DEFAULT),
            "cdc-nchs" => Some(Self::CDC_NCHS),
            "cms" => Some(Self::CMS),
            _ => None,
        }
    }
}

impl Default for DisclosurePolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One published cell: an exact count, or suppressed (its value appears nowhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Published count.
    Exact(u64),
    /// Withheld.
    Suppressed,
}

impl Cell {
    /// The count, if published.
    pub fn exact(self) -> Option<u64> {
        match self {
            Cell::Exact(n) => Some(n),
            Cell::Suppressed => None,
        }
    }
}

/// Encoded as an unsigned integer, or CBOR `null` when suppressed.
impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Exact(n) => serializer.serialize_u64(*n),
            Cell::Suppressed => serializer.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<u64>::deserialize(deserializer)? {
            Some(n) => Cell::Exact(n),
            None => Cell::Suppressed,
        })
    }
}

/// A published table: every cell, zeros and margins included, in [`crate::table::Shape`] order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Dimension names, as in the form.
    pub dimensions: Vec<String>,
    /// Cells, margins included.
    pub cells: Vec<Cell>,
}

/// All published tables of one indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorTables {
    /// Indicator id.
    pub indicator: String,
    /// Its tables, in form order.
    pub tables: Vec<Table>,
}

/// What one site publishes for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteReport {
    /// Payload format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The form answered.
    pub form: FormRef,
    /// The reporting site.
    pub site: SiteId,
    /// The period reported.
    pub period: Period,
    /// 1 for the first report of the period, then one more for each correction.
    pub revision: u32,
    /// For revisions after the first: the hash of the envelope this one replaces.
    pub supersedes: Option<EnvelopeHash>,
    /// When the report was built.
    pub generated_at: UnixTime,
    /// The disclosure policy applied.
    pub policy: DisclosurePolicy,
    /// Every indicator of the form, in form order.
    pub indicators: Vec<IndicatorTables>,
    /// For revisions after the first: how many client records changed since the previous
    /// revision. The attacker model assumes an outsider knows it, and the joint audit of the
    /// revisions (`disclosure::check_revisions`) rests on it; stating it lets the donor's
    /// verifier re-run that audit. Absent when the node could not count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_records: Option<u64>,
}

impl SiteReport {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::to_canonical(self)
    }

    /// Decodes canonical CBOR, refusing unknown format versions.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let report: Self = cbor::from_canonical(bytes)?;
        check_format(report.format)?;
        Ok(report)
    }

    /// Checks that the report answers `form` exactly: same reference, period type, every
    /// indicator and table in order with the right cell counts, a coherent revision chain and
    /// a policy of at least k = 2.
    pub fn check_against(&self, form: &Form) -> Result<(), MismatchError> {
        let expected = form.reference();
        if self.form != expected {
            return Err(MismatchError::WrongForm {
                found: self.form.to_string(),
                expected: expected.to_string(),
            });
        }
        if self.period.period_type() != form.period {
            return Err(MismatchError::WrongPeriodType {
                period: self.period,
                expected: form.period,
            });
        }
        match (self.revision, &self.supersedes) {
            (0, _) => {
                return Err(MismatchError::Revision {
                    revision: 0,
                    problem: "is invalid: revisions start at 1",
                });
            }
            (1, Some(_)) => {
                return Err(MismatchError::Revision {
                    revision: 1,
                    problem: "must not supersede anything",
                });
            }
            (r, None) if r > 1 => {
                return Err(MismatchError::Revision {
                    revision: r,
                    problem: "must name the envelope it supersedes",
                });
            }
            _ => {}
        }
        if self.policy.k < DisclosurePolicy::MIN_K {
            return Err(MismatchError::PolicyTooWeak { k: self.policy.k });
        }
        let count = self.indicators.len().max(form.indicators.len());
        for position in 0..count {
            let found = self.indicators.get(position);
            let wanted = form.indicators.get(position);
            let (Some(found), Some(wanted)) = (found, wanted) else {
                return Err(MismatchError::Indicator {
                    position,
                    found: found.map(|f| f.indicator.clone()).unwrap_or_default(),
                    expected: wanted.map(|w| w.id.clone()).unwrap_or_default(),
                });
            };
            if found.indicator != wanted.id {
                return Err(MismatchError::Indicator {
                    position,
                    found: found.indicator.clone(),
                    expected: wanted.id.clone(),
                });
            }
            check_tables(form, &wanted.id, &wanted.tables, &found.tables)?;
        }
        Ok(())
    }
}

/// Checks that published tables have the form's dimensions and cell counts.
pub(crate) fn check_tables<T: HasDimensions>(
    form: &Form,
    indicator: &str,
    wanted: &[Vec<String>],
    found: &[T],
) -> Result<(), MismatchError> {
    let problem = |table: usize, problem: String| MismatchError::Table {
        indicator: indicator.to_owned(),
        table,
        problem,
    };
    if found.len() != wanted.len() {
        return Err(problem(
            found.len().min(wanted.len()),
            format!("{} tables, expected {}", found.len(), wanted.len()),
        ));
    }
    for (i, (table, dims)) in found.iter().zip(wanted).enumerate() {
        if table.dimensions() != dims.as_slice() {
            return Err(problem(
                i,
                format!("dimensions {:?}, expected {dims:?}", table.dimensions()),
            ));
        }
        let Some(shape) = form.shape_of(dims) else {
            return Err(problem(i, "unknown dimension".into()));
        };
        if table.cell_count() != shape.full_len() {
            return Err(problem(
                i,
                format!(
                    "{} cells, expected {}",
                    table.cell_count(),
                    shape.full_len()
                ),
            ));
        }
    }
    Ok(())
}

/// What [`check_tables`] needs to know of a table.
pub(crate) trait HasDimensions {
    fn dimensions(&self) -> &[String];
    fn cell_count(&self) -> usize;
}

impl HasDimensions for Table {
    fn dimensions(&self) -> &[String] {
        &self.dimensions
    }
    fn cell_count(&self) -> usize {
        self.cells.len()
    }
}

/// Refuses payload format versions other than [`FORMAT_VERSION`].
pub(crate) fn check_format(found: u32) -> Result<(), DecodeError> {
    if found != FORMAT_VERSION {
        return Err(DecodeError::UnknownFormatVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}
