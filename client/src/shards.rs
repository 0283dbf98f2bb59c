//! `…/logstores/{logstore}/shards`: the hash ranges a logstore is split into, and resharding
//! one shard at a time.

use logplane_model::{ShardList, ShardSplitRequest};
use reqwest::Method;

use crate::Result;
use crate::client::Client;
use crate::request::read_json;

impl Client {
    /// Every shard of a logstore, read-write and read-only, by id (`shard_list`). Not paged: a
    /// logstore has at most a few hundred shards.
    pub async fn list_shards(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
    ) -> Result<ShardList> {
        let url = self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "logstores",
            logstore,
            "shards",
        ])?;
        self.get_json(url).await
    }

    /// Splits a readwrite shard in two at `request.split_key` (the midpoint by default); answers
    /// the parent, now readonly, and its two children (`shard_split`).
    pub async fn split_shard(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
        request: &ShardSplitRequest,
    ) -> Result<ShardList> {
        let id = shard_id.to_string();
        let url = self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "logstores",
            logstore,
            "shards",
            &id,
            "split",
        ])?;
        self.post_json(url, request).await
    }

    /// Merges a readwrite shard with its right neighbour; answers both parents, now readonly,
    /// and the child (`shard_merge`).
    pub async fn merge_shard(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
    ) -> Result<ShardList> {
        let id = shard_id.to_string();
        let url = self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "logstores",
            logstore,
            "shards",
            &id,
            "merge",
        ])?;
        let response = self.execute(self.request(Method::POST, url)).await?;
        read_json(response).await
    }
}
