//! Percentage rollouts. Each (agent, config) pair has a fixed bucket in `0..10000`, from a hash;
//! an agent is in a rollout of `percent` when its bucket is below `percent × 100`. Because the
//! bucket never changes, raising the percentage only ever adds agents, and the same agents go
//! first for every revision of a config (they are the config's canaries), while different configs
//! spread their canaries over different agents.

use sha2::{Digest, Sha256};

pub const BUCKETS: u32 = 10_000;
pub const DEFAULT_AUTO_PAUSE_FAILED_PERCENT: u8 = 10;
const BUCKET_HASH_DOMAIN: &[u8] = b"logplane rollout bucket v1\n";

/// The agent's bucket for a config, in `0..10000`.
pub fn rollout_bucket(agent_id: &str, config_name: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(BUCKET_HASH_DOMAIN);
    // Length-prefixed, so ("ab", "c") and ("a", "bc") hash apart.
    hasher.update((agent_id.len() as u64).to_be_bytes());
    hasher.update(agent_id.as_bytes());
    hasher.update(config_name.as_bytes());
    let digest = hasher.finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
    // 2^64 is not a multiple of 10000, but the bias of the modulo is below 10^-15: negligible.
    (head % u64::from(BUCKETS)) as u32
}

/// Whether a bucket is inside a rollout of `percent` (clamped to 100).
pub fn bucket_in_rollout(bucket: u32, percent: u8) -> bool {
    bucket < u32::from(percent.min(100)) * 100
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error("percent must be between 0 and 100, got {0}")]
    PercentOutOfRange(i64),
    #[error("the rollout is paused: resume or roll back before changing its percentage")]
    Paused,
}

/// The rollout of a config's newest revision over the agents of its machine groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// The revision agents outside the rollout keep; `None` for a config's first revision, which
    /// agents outside the rollout do not run at all.
    pub previous_revision: Option<i64>,
    pub new_revision: i64,
    /// 0–100.
    pub percent: u8,
    /// A paused rollout keeps its percentage and reaches no agent that does not run the new
    /// revision yet, until it is resumed or rolled back.
    pub paused: bool,
}

impl Rollout {
    /// A rollout that has not reached any agent yet.
    pub fn start(previous_revision: Option<i64>, new_revision: i64) -> Self {
        Self {
            previous_revision,
            new_revision,
            percent: 0,
            paused: false,
        }
    }

    /// The same rollout at another percentage. Refused while paused, so an automatic pause cannot
    /// be overridden by a racing percentage change; lowering is allowed (a partial rollback).
    pub fn with_percent(self, percent: i64) -> Result<Self, RolloutError> {
        if !(0..=100).contains(&percent) {
            return Err(RolloutError::PercentOutOfRange(percent));
        }
        if self.paused {
            return Err(RolloutError::Paused);
        }
        Ok(Self {
            percent: percent as u8,
            ..self
        })
    }

    pub fn paused(self) -> Self {
        Self {
            paused: true,
            ..self
        }
    }

    pub fn resumed(self) -> Self {
        Self {
            paused: false,
            ..self
        }
    }

    /// True once every agent gets the new revision; the previous one can then be forgotten.
    pub fn is_complete(&self) -> bool {
        self.percent >= 100
    }

    /// The revision the agent should run, or `None` when it should not run the config.
    /// `running_revision` is the revision of this config the agent last reported running. A paused
    /// rollout reaches no agent that does not run the new revision yet — an agent that was offline,
    /// or joins a group, while the rollout is paused gets the previous one — and takes it from none
    /// that does.
    pub fn revision_for(
        &self,
        agent_id: &str,
        config_name: &str,
        running_revision: Option<i64>,
    ) -> Option<i64> {
        let in_rollout = bucket_in_rollout(rollout_bucket(agent_id, config_name), self.percent);
        if !in_rollout {
            return self.previous_revision;
        }
        if self.paused && running_revision != Some(self.new_revision) {
            return self.previous_revision;
        }
        Some(self.new_revision)
    }
}

/// Which agents a rollout gives which revision, without the agents: rollouts that reach every
/// agent alike compare equal whatever their revisions' bookkeeping. Storing a new revision at
/// 0 % changes the rollout but not what any agent runs, and waiting agents need not hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every agent gets this revision (`None`: none runs the config), whatever its bucket and
    /// whatever it runs now.
    Uniform(Option<i64>),
    /// Agents get different revisions, by bucket and by what they run.
    Split(Rollout),
}

impl Rollout {
    pub fn reach(&self) -> Reach {
        if self.percent == 0 || self.previous_revision == Some(self.new_revision) {
            Reach::Uniform(self.previous_revision)
        } else if self.percent >= 100 && !self.paused {
            Reach::Uniform(Some(self.new_revision))
        } else {
            Reach::Split(*self)
        }
    }
}

/// The revision an agent should run given a rollout of `new_revision` at `percent` over
/// `previous_revision`, while the rollout is not paused (see [`Rollout::revision_for`]).
pub fn revision_for_agent(
    agent_id: &str,
    config_name: &str,
    previous_revision: Option<i64>,
    new_revision: i64,
    percent: u8,
) -> Option<i64> {
    if bucket_in_rollout(rollout_bucket(agent_id, config_name), percent) {
        Some(new_revision)
    } else {
        previous_revision
    }
}

/// Whether the failures among agents that received the new revision call for an automatic
/// pause: more than `threshold_percent` of the updated agents failed. Integer arithmetic, so the
/// threshold is exact (10 failures of 100 at 10% do not pause; 11 do).
pub fn should_auto_pause(updated_agents: u64, failed_agents: u64, threshold_percent: u8) -> bool {
    debug_assert!(
        failed_agents <= updated_agents,
        "failed agents are among the updated ones"
    );
    if updated_agents == 0 {
        return false;
    }
    u128::from(failed_agents) * 100 > u128::from(updated_agents) * u128::from(threshold_percent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_fixed_values() {
        // Fixed so that a change of the hash, which would move agents between revisions in the
        // middle of rollouts, cannot go unnoticed.
        assert_eq!(
            rollout_bucket("agent-1", "nginx"),
            rollout_bucket("agent-1", "nginx")
        );
        let sample = [
            rollout_bucket("agent-1", "nginx"),
            rollout_bucket("agent-2", "nginx"),
            rollout_bucket("agent-1", "syslog"),
        ];
        assert_eq!(sample, PINNED_BUCKETS);
        assert_ne!(rollout_bucket("ab", "c"), rollout_bucket("a", "bc"));
    }
    const PINNED_BUCKETS: [u32; 3] = [3932, 7832, 7491];

    proptest! {
        /// A rollout said to reach every agent alike gives every agent that revision, whatever
        /// it runs now.
        #[test]
        fn a_uniform_reach_is_what_every_agent_gets(
            previous in proptest::option::of(1i64..4),
            new_revision in 1i64..4,
            percent in prop_oneof![Just(0u8), Just(100u8), 0u8..=100],
            paused in any::<bool>(),
            agents in proptest::collection::vec("[a-z0-9-]{1,12}", 1..40),
            running in proptest::option::of(1i64..4),
        ) {
            let rollout = Rollout { previous_revision: previous, new_revision, percent, paused };
            if let Reach::Uniform(revision) = rollout.reach() {
                for agent in &agents {
                    prop_assert_eq!(rollout.revision_for(agent, "nginx", running), revision);
                }
            }
        }
    }

    #[test]
    fn reach_is_uniform_only_at_the_ends_of_a_running_rollout() {
        let rollout = |percent, paused| Rollout {
            previous_revision: Some(1),
            new_revision: 2,
            percent,
            paused,
        };
        assert_eq!(rollout(0, false).reach(), Reach::Uniform(Some(1)));
        assert_eq!(rollout(0, true).reach(), Reach::Uniform(Some(1)));
        assert_eq!(rollout(100, false).reach(), Reach::Uniform(Some(2)));
        // Paused at 100 %, agents that do not run revision 2 yet keep revision 1.
        assert_eq!(rollout(100, true).reach(), Reach::Split(rollout(100, true)));
        assert_eq!(rollout(40, false).reach(), Reach::Split(rollout(40, false)));
    }

    #[test]
    fn percent_zero_and_hundred_are_nobody_and_everybody() {
        for agent in 0..200 {
            let id = format!("agent-{agent}");
            assert_eq!(revision_for_agent(&id, "c", Some(1), 2, 0), Some(1));
            assert_eq!(revision_for_agent(&id, "c", Some(1), 2, 100), Some(2));
            assert_eq!(revision_for_agent(&id, "c", None, 1, 0), None);
        }
    }

    #[test]
    fn buckets_spread_evenly() {
        let agents = 20_000;
        let in_ten_percent = (0..agents)
            .filter(|i| bucket_in_rollout(rollout_bucket(&format!("agent-{i}"), "nginx"), 10))
            .count();
        // 10% of 20000 is 2000; the standard deviation is about 42.
        assert!((1800..=2200).contains(&in_ten_percent), "{in_ten_percent}");
    }

    #[test]
    fn a_paused_rollout_refuses_new_percentages_until_resumed() {
        let rollout = Rollout::start(Some(3), 4)
            .with_percent(20)
            .unwrap()
            .paused();
        assert_eq!(rollout.with_percent(50), Err(RolloutError::Paused));
        assert_eq!(rollout.percent, 20);
        let resumed = rollout.resumed().with_percent(50).unwrap();
        assert_eq!(resumed.percent, 50);
        assert!(!resumed.is_complete());
        assert!(resumed.with_percent(100).unwrap().is_complete());
        assert_eq!(
            Rollout::start(None, 1).with_percent(101),
            Err(RolloutError::PercentOutOfRange(101))
        );
    }

    #[test]
    fn a_paused_rollout_reaches_no_new_agent_and_keeps_those_it_reached() {
        let running = Rollout::start(Some(1), 2).with_percent(100).unwrap();
        let paused = running.paused();
        for agent in 0..50 {
            let id = format!("agent-{agent}");
            assert_eq!(running.revision_for(&id, "c", None), Some(2));
            assert_eq!(
                paused.revision_for(&id, "c", Some(2)),
                Some(2),
                "keeps what it runs"
            );
            assert_eq!(
                paused.revision_for(&id, "c", Some(1)),
                Some(1),
                "not reached yet"
            );
            assert_eq!(
                paused.revision_for(&id, "c", None),
                Some(1),
                "joined while paused"
            );
            assert_eq!(paused.resumed().revision_for(&id, "c", None), Some(2));
        }
        let first_revision = Rollout::start(None, 1).with_percent(100).unwrap().paused();
        assert_eq!(first_revision.revision_for("agent", "c", None), None);
    }

    #[test]
    fn auto_pause_threshold_is_exact() {
        assert!(!should_auto_pause(0, 0, 10));
        assert!(!should_auto_pause(100, 10, 10));
        assert!(should_auto_pause(100, 11, 10));
        assert!(should_auto_pause(1, 1, 0));
        assert!(!should_auto_pause(1, 0, 0));
        assert!(!should_auto_pause(u64::MAX, u64::MAX, 100));
    }

    proptest! {
        #[test]
        fn buckets_are_in_range(agent in "\\PC{0,40}", config in "[a-z0-9_-]{2,20}") {
            prop_assert!(rollout_bucket(&agent, &config) < BUCKETS);
        }

        /// Raising the percentage never moves an agent back to the previous revision, paused or
        /// not (an agent that runs the new revision keeps it).
        #[test]
        fn raising_the_percentage_never_moves_an_agent_back_even_when_paused(
            agent in "[a-z0-9-]{1,36}",
            low in 0u8..=100,
            raise in 0u8..=100,
            paused in any::<bool>(),
        ) {
            let high = low.saturating_add(raise).min(100);
            let before = Rollout::start(Some(1), 2).with_percent(i64::from(low)).unwrap();
            let after = Rollout { percent: high, paused, ..before };
            let first = before.revision_for(&agent, "nginx", Some(1));
            if first == Some(2) {
                prop_assert_eq!(after.revision_for(&agent, "nginx", first), Some(2));
            }
        }

        #[test]
        fn raising_the_percentage_never_moves_an_agent_back(
            agent in "[a-z0-9-]{1,36}",
            config in "[a-z0-9_-]{2,20}",
            low in 0u8..=100,
            raise in 0u8..=100,
        ) {
            let high = low.saturating_add(raise).min(100);
            let before = revision_for_agent(&agent, &config, Some(1), 2, low);
            let after = revision_for_agent(&agent, &config, Some(1), 2, high);
            if before == Some(2) {
                prop_assert_eq!(after, Some(2));
            }
        }

        /// The share of agents in a rollout tracks the percentage, and membership is the same
        /// for every pair of revisions (it depends on the agent and the config only).
        #[test]
        fn membership_depends_on_agent_and_config_only(
            agent in "[a-z0-9-]{1,36}",
            percent in 0u8..=100,
            revisions in (1i64..1000, 1i64..1000),
        ) {
            let first = revision_for_agent(&agent, "nginx", Some(revisions.0), revisions.0 + 1, percent)
                == Some(revisions.0 + 1);
            let second = revision_for_agent(&agent, "nginx", Some(revisions.1), revisions.1 + 1, percent)
                == Some(revisions.1 + 1);
            prop_assert_eq!(first, second);
        }
    }
}
