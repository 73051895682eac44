//! Leader election on a `coordination.k8s.io/v1` Lease, so that two operator replicas never
//! reconcile at the same time. kube 5 ships no elector, so this is a small one that follows
//! client-go's rules: a lease is free when nobody holds it or its holder has not renewed it within
//! `leaseDurationSeconds`; every write carries the `resourceVersion` it read, so two candidates
//! can't both win (the loser gets 409 Conflict).
//!
//! ```text
//!   acquire(): loop { get ─► decide() ─► create/replace (optimistic) } until ours
//!   hold():    loop { sleep(renew) ─► get ─► decide() ─► replace } until a renewal can't be
//!              made within the lease duration ─► Error::LeadershipLost (the process exits)
//! ```

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tracing::{debug, info, warn};

use crate::{Error, Result};

/// The elector's settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews.
    pub renew_every: Duration,
    /// How often a candidate retries.
    pub retry_every: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, renew every 5 s (well inside the deadline), retry
    /// every 2 s.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// What a candidate may do with a lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live lease.
    HeldBy(String),
}

/// Decides what `identity` may do with `lease` at `now`.
pub fn decide(lease: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Claim {
    let Some(spec) = lease else {
        return Claim::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Claim::Acquire;
    }
    if holder == identity {
        return Claim::Renew;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match last {
        Some(last) if last + duration > now => Claim::HeldBy(holder.to_owned()),
        _ => Claim::Acquire,
    }
}

/// The lease spec `identity` writes when it acquires or renews `prev` at `now`.
pub fn claimed(
    prev: Option<&LeaseSpec>,
    identity: &str,
    duration: Duration,
    now: Timestamp,
) -> LeaseSpec {
    let prev_holder = prev.and_then(|p| p.holder_identity.as_deref());
    let renewing = prev_holder == Some(identity);
    let transitions = prev.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: if renewing {
            prev.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(match prev_holder {
            Some(h) if !h.is_empty() && !renewing => transitions + 1,
            _ => transitions,
        }),
        ..Default::default()
    }
}

/// A Lease-based leader elector.
pub struct LeaseElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

impl LeaseElector {
    /// An elector for the lease described by `cfg`.
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        let api = Api::namespaced(client, &cfg.namespace);
        Self { api, cfg }
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.cfg.namespace, self.cfg.name)
    }

    /// One attempt to acquire or renew. `Ok(true)` when we hold the lease afterwards.
    ///
    /// # Errors
    /// API errors other than the 409 Conflict of a lost race.
    pub async fn try_claim(&self) -> Result<bool> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(Error::kube(format!("get lease {}", self.lease_ref())))?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        match decide(spec, &self.cfg.identity, now) {
            Claim::HeldBy(holder) => {
                debug!(%holder, lease = %self.lease_ref(), "lease held by another replica");
                return Ok(false);
            }
            Claim::Acquire | Claim::Renew => {}
        }
        let new_spec = claimed(spec, &self.cfg.identity, self.cfg.lease_duration, now);
        let result = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(new_spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                // Keeps metadata.resourceVersion: a concurrent writer makes this a 409.
                lease.spec = Some(new_spec);
                self.api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(Error::Kube {
                action: format!("write lease {}", self.lease_ref()),
                source,
            }),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        info!(lease = %self.lease_ref(), identity = %self.cfg.identity, "waiting for leadership");
        loop {
            match self.try_claim().await {
                Ok(true) => {
                    info!(lease = %self.lease_ref(), "became leader");
                    return;
                }
                Ok(false) => {}
                Err(err) => warn!(error = %err, "leader election attempt failed"),
            }
            tokio::time::sleep(self.cfg.retry_every).await;
        }
    }

    /// Renews the lease until that fails for a whole lease duration or another replica takes
    /// it; then returns why. Callers stop reconciling (the binary exits) when this returns.
    pub async fn hold(&self) -> Error {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_every).await;
            match self.try_claim().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    return Error::LeadershipLost {
                        lease: self.lease_ref(),
                        reason: "another replica holds the lease".to_owned(),
                    };
                }
                Err(err) => warn!(error = %err, "lease renewal failed"),
            }
            if last_renewed.elapsed() >= self.cfg.lease_duration {
                return Error::LeadershipLost {
                    lease: self.lease_ref(),
                    reason: format!("no renewal for {:?}", self.cfg.lease_duration),
                };
            }
        }
    }

    /// Gives the lease up (clears the holder) so a standby replica takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str())
        {
            spec.holder_identity = None;
            if let Err(err) = self
                .api
                .replace(&self.cfg.name, &PostParams::default(), &lease)
                .await
            {
                warn!(error = %err, "releasing the lease failed; it expires by itself");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn lease(holder: &str, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: (!holder.is_empty()).then(|| holder.to_owned()),
            renew_time: Some(MicroTime(t(renewed))),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        }
    }

    #[test]
    fn decide_table() {
        let cases = [
            ("no lease", None, 100, Claim::Acquire),
            ("released", Some(lease("", 99, 15)), 100, Claim::Acquire),
            ("ours", Some(lease("me", 99, 15)), 100, Claim::Renew),
            (
                "ours even if stale",
                Some(lease("me", 1, 15)),
                100,
                Claim::Renew,
            ),
            (
                "theirs, live",
                Some(lease("other", 90, 15)),
                100,
                Claim::HeldBy("other".into()),
            ),
            (
                "theirs, expired",
                Some(lease("other", 80, 15)),
                100,
                Claim::Acquire,
            ),
            (
                "theirs, exactly at expiry",
                Some(lease("other", 85, 15)),
                100,
                Claim::Acquire,
            ),
        ];
        for (name, l, now, want) in cases {
            assert_eq!(decide(l.as_ref(), "me", t(now)), want, "{name}");
        }
    }

    #[test]
    fn claiming_counts_transitions_and_keeps_acquire_time_on_renewal() {
        let d = Duration::from_secs(15);
        let first = claimed(None, "a", d, t(10));
        assert_eq!(first.lease_transitions, Some(0));
        assert_eq!(first.acquire_time.as_ref().unwrap().0, t(10));
        let renewed = claimed(Some(&first), "a", d, t(15));
        assert_eq!(renewed.acquire_time.as_ref().unwrap().0, t(10));
        assert_eq!(renewed.renew_time.as_ref().unwrap().0, t(15));
        assert_eq!(renewed.lease_transitions, Some(0));
        let taken = claimed(Some(&renewed), "b", d, t(40));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.acquire_time.as_ref().unwrap().0, t(40));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.lease_duration_seconds, Some(15));
    }
}
