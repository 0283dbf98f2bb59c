//! `…/logstores/{logstore}/shards`: the hash ranges a logstore is split into.

use logplane_model::ShardList;

use crate::Result;
use crate::client::Client;

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
}
