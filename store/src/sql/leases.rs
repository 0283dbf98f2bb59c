//! Leader leases with epoch fencing. A replica becomes leader of a named role (`scheduler`) by
//! taking its lease when it is free or expired, which increments the epoch; it stays leader by
//! renewing before expiry. Leader-only writes call [`SqlStore::check_leadership`] inside their
//! transaction: the check locks the lease row, so a takeover either committed before (and the
//! check fails on the epoch) or waits until the write has committed. A leader paused past its
//! lease therefore writes nothing when it wakes. Expiry is read from the database's clock.

use std::time::Duration;

use sqlx::Row;

use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::error::{StoreError, StoreResult};

/// Leadership as held: the fencing token is `(name, holder, epoch)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    /// Microseconds since the Unix epoch, by the database's clock.
    pub expires_at: i64,
}

/// What a replica's bid for a lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseBid {
    /// The bidder holds the lease (it took it, or renewed its own).
    Won(Leadership),
    /// Another replica holds it, for `remaining` more by the database's clock: a bidder that
    /// comes back just after that takes over as soon as the holder's lease allows.
    Held { remaining: Duration },
}

impl LeaseBid {
    pub fn won(self) -> Option<Leadership> {
        match self {
            LeaseBid::Won(leadership) => Some(leadership),
            LeaseBid::Held { .. } => None,
        }
    }
}

/// Who holds a lease, as any replica can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub epoch: i64,
    pub expires_at: i64,
    /// Whether it had expired when read, by the database's clock.
    pub expired: bool,
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl SqlStore {
    /// Takes the lease `name` for `holder` if it is free, expired, or already `holder`'s (then it
    /// is renewed under the same epoch); otherwise says how long the other holder's lease runs.
    pub async fn try_lead(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<LeaseBid> {
        let now = self.backend.now_micros_sql();
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT holder, epoch, expires_at < {now} AS expired, expires_at - {now} AS remaining \
                 FROM leader_leases WHERE name = $1{}",
                self.backend.for_update()
            );
            let current = sqlx::query(dynamic(sql)).bind(name.to_string()).fetch_optional(&mut *tx).await?;
            let epoch = match &current {
                None => 1,
                Some(row) => {
                    let current_holder: String = row.try_get("holder")?;
                    let epoch: i64 = row.try_get("epoch")?;
                    let expired: bool = expired_flag(row)?;
                    if current_holder == holder && !expired {
                        epoch
                    } else if expired {
                        epoch + 1
                    } else {
                        let remaining: i64 = row.try_get("remaining")?;
                        let remaining = Duration::from_micros(u64::try_from(remaining).unwrap_or(0));
                        return Ok(LeaseBid::Held { remaining });
                    }
                }
            };
            let sql = format!(
                "INSERT INTO leader_leases (name, holder, epoch, expires_at) VALUES ($1, $2, $3, {now} + $4) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, \
                 expires_at = excluded.expires_at RETURNING expires_at"
            );
            let expires_at: i64 = sqlx::query_scalar(dynamic(sql))
                .bind(name.to_string())
                .bind(holder.to_string())
                .bind(epoch)
                .bind(micros(ttl))
                .fetch_one(&mut *tx)
                .await?;
            commit(tx).await?;
            Ok(LeaseBid::Won(Leadership { name: name.to_string(), holder: holder.to_string(), epoch, expires_at }))
        })
        .await
    }

    /// Extends a held lease; `None` when it was lost (expired and taken, or expired at all:
    /// a leader that let its lease lapse must win an election again).
    pub async fn renew_lead(
        &self,
        leadership: &Leadership,
        ttl: Duration,
    ) -> StoreResult<Option<Leadership>> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "UPDATE leader_leases SET expires_at = {now} + $1 \
             WHERE name = $2 AND holder = $3 AND epoch = $4 AND expires_at >= {now} RETURNING expires_at"
        );
        let _turn = self.take_write_turn().await;
        let expires_at: Option<i64> = sqlx::query_scalar(dynamic(sql))
            .bind(micros(ttl))
            .bind(leadership.name.clone())
            .bind(leadership.holder.clone())
            .bind(leadership.epoch)
            .fetch_optional(&self.pool)
            .await?;
        Ok(expires_at.map(|expires_at| Leadership {
            expires_at,
            ..leadership.clone()
        }))
    }

    /// Gives the lease up at once (a clean shutdown), so another replica need not wait for it to
    /// expire. The row stays, expired, so the next leader's epoch is still higher than every
    /// epoch before it.
    pub async fn resign_lead(&self, leadership: &Leadership) -> StoreResult<()> {
        let _turn = self.take_write_turn().await;
        sqlx::query("UPDATE leader_leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3")
            .bind(leadership.name.clone())
            .bind(leadership.holder.clone())
            .bind(leadership.epoch)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn lease_state(&self, name: &str) -> StoreResult<Option<LeaseState>> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT holder, epoch, expires_at, expires_at < {now} AS expired FROM leader_leases WHERE name = $1"
        );
        let row = sqlx::query(dynamic(sql))
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(LeaseState {
                holder: row.try_get("holder")?,
                epoch: row.try_get("epoch")?,
                expires_at: row.try_get("expires_at")?,
                expired: expired_flag(&row)?,
            })
        })
        .transpose()
    }

    /// Whether `leadership` still holds its lease, unexpired, under its epoch.
    pub async fn verify_leadership(&self, leadership: &Leadership) -> StoreResult<()> {
        let mut conn = self.reader().await?;
        self.check_leadership(&mut conn, leadership).await
    }

    /// The fencing check of a leader-only write, run first in its transaction: locks the lease
    /// row and refuses unless `leadership` still holds it, unexpired, under its epoch.
    pub(crate) async fn check_leadership(
        &self,
        conn: &mut Conn,
        leadership: &Leadership,
    ) -> StoreResult<()> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT 1 FROM leader_leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at >= {now}{}",
            self.backend.for_update()
        );
        let held = sqlx::query(dynamic(sql))
            .bind(leadership.name.clone())
            .bind(leadership.holder.clone())
            .bind(leadership.epoch)
            .fetch_optional(&mut *conn)
            .await?;
        match held {
            Some(_) => Ok(()),
            None => Err(StoreError::Fenced(format!(
                "{} is no longer leader of {} at epoch {}",
                leadership.holder, leadership.name, leadership.epoch
            ))),
        }
    }
}

/// Reads a boolean computed in SQL: PostgreSQL answers a boolean, SQLite an integer.
fn expired_flag(row: &sqlx::any::AnyRow) -> StoreResult<bool> {
    if let Ok(flag) = row.try_get::<bool, _>("expired") {
        return Ok(flag);
    }
    Ok(row.try_get::<i64, _>("expired")? != 0)
}
