//! Ingest: the decision on one delivered report, independent of the network.
//!
//! [`Ingest::submit`] takes the site authenticated by TLS, the envelope bytes and `now`, and
//! returns the [`Response`] to send. Every check is here, in order; the QUIC server only moves
//! bytes. A refusal leaves the store untouched, except that a validly signed envelope
//! conflicting with a stored one is kept as evidence of equivocation.

use quietcount_keys::Identity;
use quietcount_protocol::envelope::claimed_signer;
use quietcount_protocol::ingest::{self, ChainState, ChainVerdict, IngestRefusal, IngestRules};
use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{
    ChainHead, EnvelopeError, EnvelopeHash, FORMAT_VERSION, Form, FormKey, Period, Receipt, SiteId,
    SiteReport, UnixTime, ZeroPolicy, content_hash, open, open_with, sign,
};

use crate::store::{Equivocation, KeyRecord, NewReport, SignReceipt, Store, StoreError};

/// What ingest accepts, from the configuration.
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    /// Forms accepted.
    pub forms: Vec<Form>,
    /// Least disclosure threshold accepted.
    pub min_k: u32,
    /// Weakest zero policy accepted.
    pub min_zeros: ZeroPolicy,
    /// Oldest period accepted: days after its end.
    pub max_period_age_days: u32,
}

/// The ingest decision procedure, shared by every connection.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: Store,
    coordinator: Identity,
    policy: IngestPolicy,
}

/// A refusal before it becomes a [`Response`].
#[derive(Debug)]
struct Refusal {
    code: RefusalCode,
    message: String,
    /// The chain's head, for a refusal the site can get past by building on it.
    head: Option<ChainHead>,
}

fn refuse(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
        head: None,
    }
}

/// What an accepted submission is answered with.
#[derive(Debug)]
struct Acceptance {
    receipt: Vec<u8>,
    duplicate: bool,
    /// The stored envelope, when it is not the one submitted (same content re-signed).
    stored_envelope: Option<Vec<u8>>,
}

impl Acceptance {
    fn new(receipt: Vec<u8>, duplicate: bool) -> Self {
        Self {
            receipt,
            duplicate,
            stored_envelope: None,
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failure during ingest");
        if let StoreError::DiskFull = error {
            return refuse(
                RefusalCode::Internal,
                "the coordinator's disk is full: the report was not stored and no receipt \
                 given; it stays in the outbox, retry later",
            );
        }
        refuse(
            RefusalCode::Internal,
            "the coordinator could not read or write its store; retry later",
        )
    }
}

/// What was decided, for logging: the slot named by the report when it could be read.
#[derive(Debug, Default)]
struct Slot {
    period: Option<String>,
    revision: Option<u32>,
}

impl Ingest {
    /// An ingest procedure over `store`, signing receipts with `coordinator`.
    pub fn new(store: Store, coordinator: Identity, policy: IngestPolicy) -> Self {
        Self {
            store,
            coordinator,
            policy,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one request frame (canonical CBOR [`Request`]) from `site`.
    pub async fn handle_frame(&self, site: &SiteId, frame: &[u8], now: UnixTime) -> Response {
        if frame.len() > MAX_FRAME_BYTES {
            return self.log_refusal(
                site,
                &Slot::default(),
                refuse(
                    RefusalCode::TooLarge,
                    format!("request over the {MAX_FRAME_BYTES}-byte limit"),
                ),
                now,
            );
        }
        match Request::decode(frame) {
            Ok(Request::Submit { envelope }) => self.submit(site, &envelope.0, now).await,
            Ok(Request::Fetch {
                form_id,
                form_version,
                period,
                revision,
            }) => {
                let form = FormKey {
                    id: form_id,
                    version: form_version,
                };
                self.fetch(site, &form, period, revision, now).await
            }
            Err(e) => self.log_refusal(
                site,
                &Slot::default(),
                refuse(
                    RefusalCode::Malformed,
                    format!("request is not a canonical CBOR Quietcount request: {e}"),
                ),
                now,
            ),
        }
    }

    /// Decides on one envelope delivered by `site_from_tls` at `now`, storing it if accepted.
    pub async fn submit(&self, site_from_tls: &SiteId, envelope: &[u8], now: UnixTime) -> Response {
        let mut slot = Slot::default();
        match self.decide(site_from_tls, envelope, now, &mut slot).await {
            Ok(Acceptance {
                receipt,
                duplicate,
                stored_envelope,
            }) => {
                tracing::info!(
                    site = %site_from_tls,
                    period = slot.period.as_deref().unwrap_or("?"),
                    revision = slot.revision.unwrap_or(0),
                    duplicate,
                    same_content_resigned = stored_envelope.is_some(),
                    "report accepted"
                );
                Response::Accepted {
                    receipt: Blob(receipt),
                    duplicate,
                    stored_envelope: stored_envelope.map(Blob),
                    time: Some(now),
                }
            }
            Err(refusal) => self.log_refusal(site_from_tls, &slot, refusal, now),
        }
    }

    /// Sends back one of `site`'s own stored reports with its receipt: never another site's,
    /// since the site is the one TLS authenticated.
    pub async fn fetch(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
        revision: Option<u32>,
        now: UnixTime,
    ) -> Response {
        match self.store.own_report(site, form, period, revision).await {
            Ok(Some((record, latest))) => {
                tracing::info!(%site, %period, revision = record.revision, "stored report sent back to its site");
                Response::Stored {
                    envelope: Blob(record.envelope),
                    receipt: Blob(record.receipt),
                    latest,
                    time: Some(now),
                }
            }
            Ok(None) => Response::Refused {
                code: RefusalCode::NotStored,
                message: format!(
                    "no report of site {site} for {} v{}, {period}{} is stored",
                    form.id,
                    form.version,
                    revision
                        .map(|r| format!(", revision {r}"))
                        .unwrap_or_default()
                ),
                head: None,
                time: Some(now),
            },
            Err(error) => {
                tracing::error!(%error, %site, "store failure fetching a stored report");
                Response::Refused {
                    code: RefusalCode::Internal,
                    message: "the coordinator could not read its store; try again later".into(),
                    head: None,
                    time: Some(now),
                }
            }
        }
    }

    fn log_refusal(&self, site: &SiteId, slot: &Slot, refusal: Refusal, now: UnixTime) -> Response {
        tracing::warn!(
            site = %site,
            period = slot.period.as_deref().unwrap_or("?"),
            revision = slot.revision.unwrap_or(0),
            code = ?refusal.code,
            reason = %refusal.message,
            "report refused"
        );
        Response::Refused {
            code: refusal.code,
            message: refusal.message,
            head: refusal.head.map(Into::into),
            time: Some(now),
        }
    }

    async fn decide(
        &self,
        site: &SiteId,
        envelope: &[u8],
        now: UnixTime,
        slot: &mut Slot,
    ) -> Result<Acceptance, Refusal> {
        if envelope.len() > MAX_FRAME_BYTES {
            return Err(refuse(
                RefusalCode::TooLarge,
                format!("envelope over the {MAX_FRAME_BYTES}-byte limit"),
            ));
        }
        let kid = claimed_signer(envelope).map_err(envelope_refusal)?;

        // The signing key must be the TLS-authenticated site's own, unrevoked key. The
        // database is asked afresh, so a revocation takes effect for the very next report.
        let keys = self.store.keys_of(site).await?;
        if keys.is_empty() {
            return Err(refuse(
                RefusalCode::UnknownSite,
                format!("site {site} is not enrolled"),
            ));
        }
        let Some(key) = keys.iter().find(|k| k.fingerprint() == kid) else {
            return Err(refuse(
                RefusalCode::BadSignature,
                format!("envelope is not signed with the key of site {site}"),
            ));
        };
        if !key.is_open() {
            let how = match key.ended {
                Some(end) if end.reason.is_retirement() => {
                    "retired: a newer key was enrolled for the site".to_owned()
                }
                Some(end) => format!("revoked ({})", end.reason),
                None => "revoked".to_owned(),
            };
            return Err(refuse(
                RefusalCode::Revoked,
                format!("the key of site {site} that signed this envelope was {how}"),
            ));
        }

        let opened = open::<SiteReport>(envelope, &key.public_key).map_err(envelope_refusal)?;
        let report = opened.payload;
        slot.period = Some(report.period.to_string());
        slot.revision = Some(report.revision);
        if report.site != *site {
            return Err(refuse(
                RefusalCode::SignerMismatch,
                format!("the report names another site than the connected site {site}"),
            ));
        }

        // An identical resubmission gets the original receipt back.
        if let Some(stored) = self.store.report_by_hash(&opened.hash).await? {
            return Ok(Acceptance::new(stored.receipt, true));
        }

        let rules = IngestRules {
            forms: &self.policy.forms,
            min_k: self.policy.min_k,
            min_zeros: self.policy.min_zeros,
            max_period_age_days: self.policy.max_period_age_days,
        };
        let form = ingest::check_report(&rules, &report, now).map_err(rule_refusal)?;

        if let Some(acceptance) = self
            .check_slot(site, &keys, &report, envelope, &opened.hash, now)
            .await?
        {
            return Ok(acceptance);
        }
        self.check_with_earlier_revisions(site, &keys, form, &report)
            .await?;

        let new = NewReport {
            report: &report,
            envelope,
            hash: opened.hash,
            key_id: key.id,
            received_at: now,
        };
        let receipt_for = receipt_signer(&self.coordinator, &new);
        match self.store.insert_report(new, receipt_for).await {
            Ok((_, receipt)) => Ok(Acceptance::new(receipt, false)),
            // Another connection filled the slot between our checks and our insert: decide
            // again against what is now stored.
            Err(StoreError::SlotTaken) => {
                if let Some(acceptance) = self
                    .check_slot(site, &keys, &report, envelope, &opened.hash, now)
                    .await?
                {
                    return Ok(acceptance);
                }
                Err(refuse(
                    RefusalCode::StaleRevision,
                    "a concurrent delivery changed this site's revisions; retry",
                ))
            }
            Err(StoreError::PeriodLocked {
                period,
                locked_by,
                locked_at,
                ..
            }) => Err(refuse(
                RefusalCode::PeriodLocked,
                format!(
                    "the province locked {period} on {} ({locked_by}) to publish it; the \
                     report stays in the site's outbox and is sent again until the province \
                     unlocks the period; call the province if it must be counted",
                    quietcount_protocol::ids::format_utc(locked_at)
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Defence in depth: a correction (revision N > 1 stating `changed_records`) is audited
    /// jointly with the stored revisions 1 to N − 1 (`protocol::ingest::check_revision_chain`),
    /// so that an old or faulty node cannot get a leaking correction stored and published. The
    /// earlier revisions were verified when stored; they are opened with any of the site's keys.
    /// If one cannot be read back, the joint audit is skipped with a warning (the donor's
    /// verifier still runs it over the published package).
    async fn check_with_earlier_revisions(
        &self,
        site: &SiteId,
        keys: &[KeyRecord],
        form: &Form,
        report: &SiteReport,
    ) -> Result<(), Refusal> {
        if report.revision <= 1 || report.changed_records.is_none() {
            return Ok(());
        }
        let key = report.form.key();
        let mut earlier = Vec::with_capacity(report.revision as usize - 1);
        for revision in 1..report.revision {
            let stored = self
                .store
                .report_in_slot(site, &key, report.period, revision)
                .await?;
            let opened = stored.and_then(|s| {
                open_with::<SiteReport>(&s.envelope, |kid| {
                    keys.iter()
                        .find(|k| k.fingerprint() == *kid)
                        .map(|k| k.public_key)
                })
                .ok()
            });
            let Some(opened) = opened else {
                tracing::warn!(site = %site, period = %report.period, revision, "an earlier revision could not be read back: the correction is not audited jointly at ingest");
                return Ok(());
            };
            earlier.push(opened.payload);
        }
        ingest::check_revision_chain(form, &earlier, report).map_err(rule_refusal)
    }

    /// Refuses an envelope whose slot (site, form, period, revision) is already filled by
    /// another (equivocation, kept as evidence), or which is not the next link of its chain
    /// (the rule is `protocol::ingest::check_chain`). Returns the stored receipt if this very
    /// envelope fills the slot (stored concurrently), or another envelope with the same
    /// content (re-signed by the site, e.g. after restoring a backup): then the stored
    /// envelope goes back with its receipt. A refusal for staleness or equivocation carries
    /// the chain's head, so the site can build its next revision on it.
    ///
    /// Rows are only ever added, so reading the chain's head before the slot is sound: a
    /// report committed between the two reads is seen by the slot read.
    async fn check_slot(
        &self,
        site: &SiteId,
        keys: &[KeyRecord],
        report: &SiteReport,
        envelope: &[u8],
        hash: &EnvelopeHash,
        now: UnixTime,
    ) -> Result<Option<Acceptance>, Refusal> {
        let form = report.form.key();
        let head = self.store.chain_head(site, &form, report.period).await?;
        // A slot filled after the read above makes the insert fail with `SlotTaken`, and this
        // check runs again.
        let stored = if ingest::slot_may_be_filled(head.as_ref(), report.revision) {
            self.store
                .report_in_slot(site, &form, report.period, report.revision)
                .await?
        } else {
            None
        };
        // The stored report's content, only when another envelope fills the slot. It was
        // verified when stored; it is opened with the site's keys (any of them: it may have
        // been signed with a key since replaced).
        let in_slot_content = stored
            .as_ref()
            .filter(|s| s.hash != *hash)
            .and_then(|s| {
                open_with::<SiteReport>(&s.envelope, |kid| {
                    keys.iter()
                        .find(|k| k.fingerprint() == *kid)
                        .map(|k| k.public_key)
                })
                .ok()
            })
            .and_then(|opened| content_hash(&opened.payload).ok());
        let chain = ChainState {
            head,
            in_slot: stored.as_ref().map(|s| s.hash),
            in_slot_content,
        };
        match ingest::check_chain(report, hash, &chain) {
            Ok(ChainVerdict::AlreadyStored) => Ok(stored.map(|s| Acceptance::new(s.receipt, true))),
            Ok(ChainVerdict::SameContent { .. }) => Ok(stored.map(|s| Acceptance {
                receipt: s.receipt,
                duplicate: true,
                stored_envelope: Some(s.envelope),
            })),
            Ok(ChainVerdict::Append) => Ok(None),
            Err(refusal @ IngestRefusal::Equivocation { .. }) => {
                self.store
                    .record_equivocation(&Equivocation {
                        site: site.clone(),
                        form: Some(form),
                        period: report.period,
                        revision: report.revision,
                        envelope: envelope.to_vec(),
                        received_at: now,
                        later_conflicts: 0,
                    })
                    .await?;
                Err(Refusal {
                    head,
                    ..rule_refusal(refusal)
                })
            }
            Err(refusal) => Err(Refusal {
                head,
                ..rule_refusal(refusal)
            }),
        }
    }
}

/// Signs, with `coordinator`'s key, the receipt of `new` once the store has given it its
/// sequence number.
pub fn receipt_signer(coordinator: &Identity, new: &NewReport<'_>) -> SignReceipt {
    let coordinator = coordinator.clone();
    let receipt = Receipt {
        format: FORMAT_VERSION,
        report: new.hash,
        site: new.report.site.clone(),
        period: new.report.period,
        revision: new.report.revision,
        received_at: new.received_at,
        sequence: 0,
    };
    Box::new(move |sequence| {
        sign(
            &Receipt {
                sequence,
                ..receipt
            },
            coordinator.signing_key(),
        )
        .map_err(|e| e.to_string())
    })
}

fn envelope_refusal(error: EnvelopeError) -> Refusal {
    let code = match &error {
        EnvelopeError::TooLarge { .. } => RefusalCode::TooLarge,
        EnvelopeError::BadSignature
        | EnvelopeError::UnknownKey { .. }
        | EnvelopeError::KeyMismatch { .. }
        | EnvelopeError::MissingKeyId
        | EnvelopeError::WrongAlgorithm
        | EnvelopeError::UnprotectedAlgorithm => RefusalCode::BadSignature,
        _ => RefusalCode::Malformed,
    };
    refuse(code, format!("envelope refused: {error}"))
}

fn rule_refusal(refusal: IngestRefusal) -> Refusal {
    refuse(refusal.code(), refusal.to_string())
}
