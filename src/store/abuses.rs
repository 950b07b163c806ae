//! Abuse reports: adding one (local users through the API, other instances through `Flag`
//! activities) with the rules both share: one pending report per reporter and target, and a
//! cap on a reporter's pending reports.

use super::tables::{Abuse, AbuseKey, AbuseTarget, Reporter, Sequence};
use super::{Durability, Store, StoreError};

/// PeerTube's predefined abuse reasons (`AbusePredefinedReasonsString`).
pub const PREDEFINED_REASONS: [&str; 8] = [
    "violentOrRepulsive",
    "hatefulOrAbusive",
    "spamOrMisleading",
    "privacy",
    "rights",
    "serverRules",
    "thumbnails",
    "captions",
];

/// What adding a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewAbuse {
    /// Stored, with this id.
    Added(u64),
    /// The reporter already has a pending report of this target.
    Duplicate,
    /// The reporter has this many pending reports already (the cap).
    TooMany(usize),
}

/// A report to add.
#[derive(Debug, Clone)]
pub struct AbuseReport {
    /// Who reports.
    pub reporter: Reporter,
    /// What.
    pub target: AbuseTarget,
    /// The local account it is about, when there is one.
    pub flagged_user: Option<u64>,
    /// The reporter's words.
    pub reason: String,
    /// PeerTube's predefined reasons.
    pub predefined_reasons: Vec<String>,
}

impl Store {
    /// Adds `report` unless it repeats a pending one or its reporter has `max_pending` pending
    /// reports. Serialised, so two requests cannot both pass the checks.
    pub fn add_abuse(
        &self,
        report: AbuseReport,
        max_pending: usize,
        now: u64,
    ) -> Result<NewAbuse, StoreError> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let pending: Vec<Abuse> = self
            .scan::<AbuseKey>(&())?
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a.reporter == report.reporter && a.state == 1)
            .collect();
        if pending.iter().any(|a| a.target == report.target) {
            return Ok(NewAbuse::Duplicate);
        }
        if pending.len() >= max_pending {
            return Ok(NewAbuse::TooMany(pending.len()));
        }
        let abuse = Abuse {
            id: self.next_id(Sequence::Abuse)?,
            reporter: report.reporter,
            target: report.target,
            flagged_user: report.flagged_user,
            reason: report.reason,
            predefined_reasons: report.predefined_reasons,
            state: 1,
            moderation_comment: None,
            created_at: now,
            updated_at: now,
        };
        self.put(&AbuseKey(abuse.id), &abuse, Durability::Sync)?;
        tracing::info!(abuse = abuse.id, reporter = ?abuse.reporter, target = ?abuse.target, "abuse reported");
        Ok(NewAbuse::Added(abuse.id))
    }
}
