//! The scheduler's leader loop. Every replica runs it: as a follower it bids for the
//! `scheduler` lease every third of a lease, and just after the holder's lease would run out; as the leader it renews the lease and reconciles on a timer
//! and on wake-ups. It steps down as soon as a renewal is refused, a write is fenced, or its own
//! monotonic clock says the lease may have run out — whichever it notices first. Every write is
//! fenced by the database anyway; stepping down early only saves doomed work.

use std::sync::Arc;
use std::time::Duration;

use logplane_store::{Leadership, LeaseBid, Published, SCHEDULER_LEASE, Store, StoreError};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};

use super::SchedulerSettings;
use super::reconcile::Reconciler;
use crate::telemetry::metrics::Metrics;

/// How long after the holder's lease runs out (by the database's clock) a follower bids again:
/// room for the follower's timer and the bid's round trip to land after the expiry, not before.
const TAKEOVER_MARGIN: Duration = Duration::from_millis(20);

enum TermEnd {
    /// The replica is shutting down: resign so another replica takes over at once.
    Stopped(Leadership),
    /// Leadership is gone (taken, fenced, or not renewed in time).
    Lost,
}

pub(super) async fn run(
    store: Arc<dyn Store>,
    settings: SchedulerSettings,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let retry = settings.leader_lease / 3;
    loop {
        if *stop.borrow() {
            return;
        }
        let asked = Instant::now();
        let mut pause = retry;
        match store
            .acquire_leadership(SCHEDULER_LEASE, &settings.replica_id, settings.leader_lease)
            .await
        {
            Ok(LeaseBid::Won(leadership)) => {
                tracing::info!(replica = %settings.replica_id, epoch = leadership.epoch, "became the scheduler's leader");
                metrics.scheduler_leading(Some(leadership.epoch));
                let end = lead(&store, leadership, asked, &settings, &metrics, &mut stop).await;
                metrics.scheduler_leading(None);
                if let TermEnd::Stopped(leadership) = end {
                    if let Err(error) = store.resign_leadership(&leadership).await {
                        tracing::warn!(%error, "could not resign the scheduler lease; it will expire");
                    } else {
                        tracing::info!(epoch = leadership.epoch, "resigned the scheduler lease");
                    }
                    return;
                }
            }
            Ok(LeaseBid::Held { remaining }) => {
                // Bid again just after the holder's lease runs out rather than up to a third of a
                // lease later: a dead leader is replaced one lease after its last renewal.
                pause = retry.min(remaining + TAKEOVER_MARGIN);
            }
            Err(error) => {
                tracing::warn!(%error, "could not contend for the scheduler lease; retrying");
            }
        }
        tokio::select! {
            () = sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn lead(
    store: &Arc<dyn Store>,
    mut leadership: Leadership,
    asked: Instant,
    settings: &SchedulerSettings,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
) -> TermEnd {
    let lease = settings.leader_lease;
    let renew_every = lease / 3;
    // Counted from before the request that took the lease, so never later than the database's.
    let mut valid_until = asked + lease;
    let mut renew_at = asked + renew_every;
    let mut reconcile_at = Instant::now();
    // Wake-ups come in bursts (many heartbeats); they bring a reconciliation forward, but not
    // closer than this to the previous one.
    let min_gap = (settings.reconcile_interval / 10).max(Duration::from_millis(1));
    let mut last_reconcile: Option<Instant> = None;
    let wakeups = store.scheduler_wakeups();
    let mut reconciler = Reconciler::new(settings.reconcile);
    loop {
        if Instant::now() >= valid_until {
            tracing::warn!(
                epoch = leadership.epoch,
                "the scheduler lease ran out before it was renewed; stepping down"
            );
            return TermEnd::Lost;
        }
        let reconcile_now = tokio::select! {
            biased;
            _ = stop.changed() => return TermEnd::Stopped(leadership),
            () = sleep_until(renew_at) => false,
            () = sleep_until(reconcile_at) => true,
            () = wakeups.notified() => {
                let earliest = last_reconcile.map_or(Instant::now(), |last| last + min_gap);
                reconcile_at = reconcile_at.min(earliest.max(Instant::now()));
                continue;
            }
        };
        if !reconcile_now {
            let sent = Instant::now();
            match store.renew_leadership(&leadership, lease).await {
                Ok(Some(renewed)) => {
                    leadership = renewed;
                    valid_until = sent + lease;
                    renew_at = sent + renew_every;
                }
                Ok(None) => {
                    tracing::warn!(
                        epoch = leadership.epoch,
                        "the scheduler lease was taken over; stepping down"
                    );
                    return TermEnd::Lost;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not renew the scheduler lease; retrying");
                    renew_at = Instant::now() + (renew_every / 4).max(Duration::from_millis(1));
                }
            }
            continue;
        }
        last_reconcile = Some(Instant::now());
        reconcile_at = Instant::now() + settings.reconcile_interval;
        match reconciler.reconcile(store.as_ref(), &leadership).await {
            Ok(done) => {
                metrics.scheduler_reconciled(&done);
                if done.published == Published::Stale {
                    // A worker came back while this round counted it gone: look again at once.
                    reconcile_at = Instant::now();
                }
                if done.views_changed > 0 {
                    tracing::debug!(
                        views = done.views_changed,
                        epoch = leadership.epoch,
                        "published assignments"
                    );
                }
            }
            Err(StoreError::Fenced(reason)) => {
                metrics.scheduler_fenced();
                tracing::warn!(%reason, epoch = leadership.epoch, "a scheduler write was fenced; stepping down");
                return TermEnd::Lost;
            }
            Err(error) => {
                metrics.scheduler_failed();
                tracing::warn!(%error, "reconciliation failed; retrying");
            }
        }
    }
}
