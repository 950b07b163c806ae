//! Received `Flag` activities: another instance's user reports one of our videos, comments or
//! accounts. Each reported object of ours becomes an abuse report whose reporter is the remote
//! actor ([`crate::store::abuses`]); moderators see it in `GET /api/v1/abuses` beside local
//! ones. Objects that are not ours are ignored (PeerTube sends a Flag to the reported object's
//! origin only).

use super::discovery::LocalActor;
use super::protocol::activity::Flag;
use super::receive::{FedContext, Handle, Verified};
use super::{local_actor_of_url, FederationError};
use crate::store::abuses::{AbuseReport, NewAbuse};
use crate::store::tables::{AbuseTarget, Reporter, UserByNameKey};
use crate::time::now_secs;

/// Reports one remote actor may have pending here.
const MAX_PENDING_PER_REMOTE_REPORTER: usize = 50;
/// Longest reason kept (PeerTube's limit).
const MAX_REASON_CHARS: usize = 3000;

impl Handle for Flag {
    /// The reports to add.
    type Checked = Vec<AbuseReport>;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Self::Checked>, FederationError> {
        let reporter = Reporter::Remote(self.actor_id().to_string());
        let reason: String = self
            .content
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(MAX_REASON_CHARS)
            .collect();
        let reason = if reason.trim().is_empty() {
            "(no reason given)".to_string()
        } else {
            reason.trim().to_string()
        };
        let predefined: Vec<String> = self
            .predefined_reasons()
            .into_iter()
            .filter(|r| crate::store::abuses::PREDEFINED_REASONS.contains(&r.as_str()))
            .collect();
        let secs = |x: Option<f64>| x.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s as u64);
        let watch = format!("{}/videos/watch/", ctx.public_url);
        let mut reports = Vec::new();
        for url in self.objects() {
            let (target, flagged) = if let Some(uuid) = url.strip_prefix(&watch) {
                match ctx.store.video_by_uuid(uuid)? {
                    Some(v) if v.is_local() => (
                        AbuseTarget::Video {
                            id: v.id,
                            start_at: secs(self.start_at),
                            end_at: secs(self.end_at),
                        },
                        Some(v.owner),
                    ),
                    _ => continue,
                }
            } else if let Some(c) = ctx.store.comment_by_url(&url)? {
                if c.author.user.is_none() {
                    continue;
                }
                (
                    AbuseTarget::Comment {
                        video_id: c.video_id,
                        id: c.id,
                    },
                    c.author.user,
                )
            } else if let Some(LocalActor::Account(name)) = local_actor_of_url(ctx.public_url, &url)
            {
                match ctx.store.get(&UserByNameKey(name))? {
                    Some(id) => (AbuseTarget::Account(id), Some(id)),
                    None => continue,
                }
            } else {
                continue;
            };
            reports.push(AbuseReport {
                reporter: reporter.clone(),
                target,
                flagged_user: flagged,
                reason: reason.clone(),
                predefined_reasons: predefined.clone(),
            });
        }
        if reports.is_empty() {
            return Ok(Verified::Ignore("ignored (flag of nothing of ours)"));
        }
        Ok(Verified::Apply(reports))
    }

    fn receive(
        reports: Self::Checked,
        ctx: &FedContext<'_>,
    ) -> Result<&'static str, FederationError> {
        let mut added = 0;
        for r in reports {
            match ctx
                .store
                .add_abuse(r, MAX_PENDING_PER_REMOTE_REPORTER, now_secs())?
            {
                NewAbuse::Added(_) => added += 1,
                NewAbuse::Duplicate => {}
                NewAbuse::TooMany(n) => {
                    tracing::info!(
                        pending = n,
                        "federation: Flag dropped, its reporter has too many pending reports"
                    );
                }
            }
        }
        Ok(if added > 0 {
            "abuse reported"
        } else {
            "flag already reported"
        })
    }
}
