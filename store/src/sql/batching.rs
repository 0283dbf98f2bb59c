//! Batching: many small writes of one kind share a transaction (group commit), and many small
//! reads of one kind share a query.
//!
//! When one config change wakes ten thousand agents, each answers with a report, and each
//! report is a short write. One transaction apiece makes SQLite append the same few pages to
//! its log ten thousand times and hands each statement to its worker thread on its own
//! checkout; the writes then crowd out the deliveries still under way. Here a caller queues its
//! write and whoever finds no batch in progress takes every write queued so far (up to a
//! bound) into one transaction. With no contention a write goes out at once, alone; under load
//! the batches grow by themselves, and nobody waits for a timer.
//!
//! Authenticated requests look their key up the same way: a woken fleet's calls come back
//! together, and one query answers a batch of them.
//!
//! The batch runs in a task of its own, so a caller that goes away (its client hung up) never
//! cancels the writes of the others in its batch.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{SqlStore, WriteTx, commit, retrying};
use crate::error::{StoreError, StoreResult};

type Answer<O> = oneshot::Sender<StoreResult<O>>;

pub(super) struct BatchQueue<I, O> {
    queued: Mutex<Vec<(I, Answer<O>)>>,
    /// Held by the task writing a batch: one batch at a time, in the order they were taken. A
    /// batch is taken only once the turn is had, so what queued while the turn was busy goes in.
    turn: Arc<tokio::sync::Mutex<()>>,
    max_batch: usize,
}

impl<I, O> std::fmt::Debug for BatchQueue<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue")
            .field("queued", &self.lock_queue().len())
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl<I, O> BatchQueue<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    pub(super) fn new(max_batch: usize) -> Self {
        Self::sharing_turn(max_batch, Arc::default())
    }

    /// A queue whose batches take `turn`, which others hold too. SQLite's writers share the
    /// store's write turn this way: a batch is then taken when the database is free to write
    /// it, not before waiting for it, so everything that queued during another writer's
    /// transaction goes into the next batch instead of a string of small ones.
    pub(super) fn sharing_turn(max_batch: usize, turn: Arc<tokio::sync::Mutex<()>>) -> Self {
        Self {
            queued: Mutex::new(Vec::new()),
            turn,
            max_batch: max_batch.max(1),
        }
    }

    /// Queues `item` and returns its result once the batch that carried it was written.
    /// `write_batch` writes the items it is given (in the order they were queued) and returns
    /// one result per item, in the same order.
    pub(super) async fn submit<W, Fut>(&self, item: I, write_batch: W) -> StoreResult<O>
    where
        W: Fn(Vec<I>) -> Fut,
        Fut: Future<Output = Vec<StoreResult<O>>> + Send + 'static,
    {
        let (answer, mut answered) = oneshot::channel();
        self.lock_queue().push((item, answer));
        loop {
            tokio::select! {
                // The answer first: once a batch carried this item, there is nothing to write.
                biased;
                result = &mut answered => {
                    return result.unwrap_or_else(|_| {
                        Err(StoreError::internal("the batch carrying this write was lost"))
                    });
                }
                turn = self.turn.clone().lock_owned() => {
                    let batch = self.take_batch();
                    if batch.is_empty() {
                        // A batch that finished before this turn carried the item: the answer
                        // is ready for the next pass.
                        continue;
                    }
                    let (items, answers): (Vec<I>, Vec<Answer<O>>) = batch.into_iter().unzip();
                    let written = write_batch(items);
                    tokio::spawn(async move {
                        let results = written.await;
                        debug_assert_eq!(results.len(), answers.len());
                        for (answer, result) in answers.into_iter().zip(results) {
                            // A caller that went away no longer wants its answer.
                            let _ = answer.send(result);
                        }
                        drop(turn);
                    });
                }
            }
        }
    }

    fn take_batch(&self) -> Vec<(I, Answer<O>)> {
        let mut queued = self.lock_queue();
        let taken = queued.len().min(self.max_batch);
        queued.drain(..taken).collect()
    }
}

impl<I, O> BatchQueue<I, O> {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<(I, Answer<O>)>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Agents' writes of one kind that share a transaction.
pub(super) trait BatchedWrite: Sized + Send + Sync + 'static {
    type Output: Send + 'static;

    /// The agent the write is about; a batch holds each agent at most once.
    fn agent(&self) -> &str;

    /// Writes `items`, each of a different agent, in `tx`; returns one result per item, in
    /// order. An item whose agent does not exist fails alone (`NotFound`, having written
    /// nothing); any other error fails the transaction.
    fn write_all<'a>(
        store: &'a SqlStore,
        tx: &'a mut WriteTx,
        items: &'a [Self],
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<Self::Output>>>> + Send + 'a;
}

/// Writes `items` in as few transactions as it can: one per round, where a round holds each
/// agent once (an agent's second write in the queue goes in the next round, after its first).
/// A transaction that loses a race is retried whole; one that fails otherwise is written again
/// item by item, so one bad item fails alone.
pub(super) async fn write_batch<T: BatchedWrite>(
    store: SqlStore,
    items: Vec<T>,
) -> Vec<StoreResult<T::Output>> {
    let mut results: Vec<Option<StoreResult<T::Output>>> = items.iter().map(|_| None).collect();
    let rounds = rounds(items.iter().map(BatchedWrite::agent));
    let mut items: Vec<Option<T>> = items.into_iter().map(Some).collect();
    for round in rounds {
        let round_items: Vec<T> = round.iter().filter_map(|at| items[*at].take()).collect();
        for (at, result) in round
            .into_iter()
            .zip(write_round(&store, round_items).await)
        {
            results[at] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(StoreError::internal("a write was skipped"))))
        .collect()
}

/// Splits writes, by the agent each is about, into rounds that hold each agent at most once:
/// an agent's first write goes in the first round, its second in the second, and so on.
fn rounds<'a>(agents: impl Iterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut writes_of: HashMap<&str, usize> = HashMap::new();
    for (at, agent) in agents.enumerate() {
        let round = writes_of.entry(agent).or_default();
        if *round == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[*round].push(at);
        *round += 1;
    }
    rounds
}

async fn write_round<T: BatchedWrite>(
    store: &SqlStore,
    items: Vec<T>,
) -> Vec<StoreResult<T::Output>> {
    each_alone_if_together_fails(items.len(), "write", |range| {
        let part = &items[range];
        retrying(move || write_once(store, part))
    })
    .await
}

/// `attempt` over all of `count` items at once (given the range of items to try), one result
/// per item; when that fails as a whole, `attempt` over each item alone, so an item that breaks
/// a batch (a constraint, a value the database refuses) fails alone and the others still
/// succeed.
pub(super) async fn each_alone_if_together_fails<O, Attempt>(
    count: usize,
    what: &'static str,
    attempt: impl Fn(Range<usize>) -> Attempt,
) -> Vec<StoreResult<O>>
where
    Attempt: Future<Output = StoreResult<Vec<StoreResult<O>>>>,
{
    match attempt(0..count).await {
        Ok(results) => results,
        Err(error) if count == 1 => vec![Err(error)],
        Err(error) => {
            tracing::debug!(%error, what, size = count, "a batch failed; trying its items one by one");
            let mut results = Vec::with_capacity(count);
            for item in 0..count {
                let alone = attempt(item..item + 1).await;
                results.push(alone.and_then(|mut result| {
                    result.pop().unwrap_or_else(|| {
                        Err(StoreError::internal("an attempt of one gave nothing"))
                    })
                }));
            }
            results
        }
    }
}

async fn write_once<T: BatchedWrite>(
    store: &SqlStore,
    items: &[T],
) -> StoreResult<Vec<StoreResult<T::Output>>> {
    // The queue that called holds the write turn for the whole batch (`BatchQueue::sharing_turn`).
    let mut tx = store.begin_write_in_turn().await?;
    let results = T::write_all(store, &mut tx, items).await?;
    commit(tx).await?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Returns once a submitter holds the turn and has taken its batch. The turn alone is not
    /// enough: it may be handed to a submitter that has not run yet, and items queued before it
    /// runs would go into its batch.
    async fn wait_until_a_batch_is_taken<I: Send + 'static, O: Send + 'static>(
        queue: &BatchQueue<I, O>,
    ) {
        while !queue.lock_queue().is_empty() || queue.turn.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
    }

    /// Writes that arrive while a batch is being written go out together in the next one, and
    /// each caller gets its own item's result.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_share_a_batch_and_get_their_own_results() {
        let commits: Arc<BatchQueue<u32, u32>> = Arc::new(BatchQueue::new(64));
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let (release, released) = tokio::sync::watch::channel(false);
        let write = {
            let batches = batches.clone();
            move |items: Vec<u32>| {
                let batches = batches.clone();
                let mut released = released.clone();
                async move {
                    // Hold the first batch until the others have queued behind it.
                    let _ = released.wait_for(|go| *go).await;
                    batches.lock().unwrap().push(items.clone());
                    items.into_iter().map(|item| Ok(item * 10)).collect()
                }
            }
        };
        let first = tokio::spawn({
            let (commits, write) = (commits.clone(), write.clone());
            async move { commits.submit(1, write).await }
        });
        wait_until_a_batch_is_taken(&commits).await;
        let others: Vec<_> = (2..=20)
            .map(|item| {
                let (commits, write) = (commits.clone(), write.clone());
                tokio::spawn(async move { commits.submit(item, write).await })
            })
            .collect();
        while commits.lock_queue().len() < 19 {
            tokio::task::yield_now().await;
        }
        release.send_replace(true);
        assert_eq!(first.await.unwrap().unwrap(), 10);
        for (item, other) in (2..=20).zip(others) {
            assert_eq!(other.await.unwrap().unwrap(), item * 10);
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(
            batches.len(),
            2,
            "one batch alone, then all that queued behind it"
        );
        assert_eq!(batches[0], vec![1]);
        let mut second = batches[1].clone();
        second.sort_unstable();
        assert_eq!(second, (2..=20).collect::<Vec<_>>());
    }

    /// A caller that goes away while its batch is written does not take the others' writes
    /// with it.
    #[tokio::test]
    async fn a_caller_that_leaves_does_not_cancel_its_batch() {
        let commits: Arc<BatchQueue<u32, u32>> = Arc::new(BatchQueue::new(64));
        let written = Arc::new(AtomicUsize::new(0));
        let write = {
            let written = written.clone();
            move |items: Vec<u32>| {
                let written = written.clone();
                async move {
                    tokio::task::yield_now().await;
                    written.fetch_add(items.len(), Ordering::Relaxed);
                    items.into_iter().map(Ok).collect()
                }
            }
        };
        let leaving = {
            let (commits, write) = (commits.clone(), write.clone());
            tokio::spawn(async move { commits.submit(1, write).await })
        };
        wait_until_a_batch_is_taken(&commits).await;
        leaving.abort();
        assert_eq!(commits.submit(2, write).await.unwrap(), 2);
        assert_eq!(written.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn an_agents_writes_go_in_successive_rounds_in_their_order() {
        let agents = ["a", "b", "a", "c", "a", "b"];
        assert_eq!(
            rounds(agents.into_iter()),
            vec![vec![0, 1, 3], vec![2, 5], vec![4]]
        );
        assert!(rounds(std::iter::empty()).is_empty());
    }

    /// Submits `count` items while `held` (the queue's turn) is held, then lets it go; returns
    /// the size of the batch that carried each item.
    async fn batch_sizes_after_the_turn_frees(
        queue: Arc<BatchQueue<u32, usize>>,
        held: tokio::sync::OwnedMutexGuard<()>,
        count: u32,
    ) -> Vec<usize> {
        let write = |items: Vec<u32>| async move {
            let size = items.len();
            items.into_iter().map(|_| Ok(size)).collect()
        };
        let calls: Vec<_> = (0..count)
            .map(|item| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.submit(item, write).await })
            })
            .collect();
        while queue.lock_queue().len() < count as usize {
            tokio::task::yield_now().await;
        }
        drop(held);
        let mut sizes = Vec::new();
        for call in calls {
            sizes.push(call.await.unwrap().unwrap());
        }
        sizes
    }

    /// Two queues sharing one turn (SQLite's writers): while one holds it, the other's writes
    /// wait in its queue and go out together once the turn is free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_turn_gathers_what_queued_while_another_held_it() {
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let reports = Arc::new(BatchQueue::sharing_turn(64, turn.clone()));
        let other_writer = turn.lock_owned().await;
        let sizes = batch_sizes_after_the_turn_frees(reports, other_writer, 5).await;
        assert_eq!(sizes, [5; 5], "one batch of all five");
    }

    #[tokio::test]
    async fn batches_are_bounded() {
        let commits = Arc::new(BatchQueue::new(3));
        let turn = commits.turn.clone().lock_owned().await;
        let sizes = batch_sizes_after_the_turn_frees(commits, turn, 7).await;
        assert!(sizes.iter().all(|size| *size <= 3), "{sizes:?}");
    }
}
