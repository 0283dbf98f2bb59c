//! The first thing a user does: bootstrap key, token, tenant, project, logstore, shards.

use logplane_client::Precondition;
use logplane_e2e::{BOOTSTRAP_ADMIN_KEY, LogplaneServer, ServerConfig};
use logplane_model::{LogstoreSpec, ProjectSpec, ShardStatus, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::location;

#[tokio::test]
async fn postgres() {
    walk_through_the_quick_start(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    walk_through_the_quick_start(Backend::Sqlite).await;
}

/// Four shards split the 128-bit key space into equal quarters; the all-`f` end marks 2^128.
const EXPECTED_BOUNDS: [(&str, &str); 4] = [
    (
        "00000000000000000000000000000000",
        "40000000000000000000000000000000",
    ),
    (
        "40000000000000000000000000000000",
        "80000000000000000000000000000000",
    ),
    (
        "80000000000000000000000000000000",
        "c0000000000000000000000000000000",
    ),
    (
        "c0000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffff",
    ),
];

async fn walk_through_the_quick_start(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let server = LogplaneServer::start(&ServerConfig::new(location(&database))).await;

    let token = server
        .client()
        .exchange_token(BOOTSTRAP_ADMIN_KEY)
        .await
        .expect("the bootstrap key is exchanged for a token");
    assert_eq!(token.token_type, "Bearer");
    assert!(token.expires_in > 0);
    let admin = server
        .client()
        .with_bearer_token(&token.access_token)
        .unwrap();

    let tenant_spec = TenantSpec {
        display_name: "Acme Corp".into(),
        ..Default::default()
    };
    let tenant = admin
        .put_tenant("acme", &tenant_spec, Precondition::IfAbsent)
        .await
        .expect("create the tenant");
    assert!(tenant.created, "a new tenant answers 201");
    assert_eq!(tenant.resource.display_name, "Acme Corp");
    assert_eq!(
        tenant.etag, tenant.resource.etag,
        "the ETag header is the body's etag"
    );

    let project = admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .expect("create the project");
    assert!(project.created);

    let spec = LogstoreSpec {
        shard_count: 4,
        ..Default::default()
    };
    let logstore = admin
        .put_logstore("acme", "web", "access-logs", &spec, Precondition::IfAbsent)
        .await
        .expect("create the logstore");
    assert!(logstore.created);
    assert_eq!(logstore.resource.shard_count, 4);
    assert_eq!(
        logstore.resource.retention_days, 30,
        "omitted fields are filled with their defaults"
    );
    assert_eq!(
        admin
            .get_logstore("acme", "web", "access-logs")
            .await
            .unwrap(),
        logstore.resource,
        "a read returns what the write answered"
    );

    // Replaying the same PUT changes nothing: 200, same version. Terraform relies on this.
    let replay = admin
        .put_logstore(
            "acme",
            "web",
            "access-logs",
            &spec,
            Precondition::Unconditional,
        )
        .await
        .unwrap();
    assert!(!replay.created);
    assert_eq!(replay.etag, logstore.etag);

    let shards = admin
        .list_shards("acme", "web", "access-logs")
        .await
        .expect("list the shards")
        .items;
    assert_eq!(shards.len(), 4);
    for (index, shard) in shards.iter().enumerate() {
        assert_eq!(shard.id, index as i64, "shards are numbered from 0");
        assert_eq!(shard.status, ShardStatus::Readwrite);
        for key in [&shard.inclusive_begin_key, &shard.exclusive_end_key] {
            assert_eq!(key.len(), 32, "{key} is 32 hex digits");
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{key} is lowercase hex"
            );
        }
        let (begin, end) = EXPECTED_BOUNDS[index];
        assert_eq!(shard.inclusive_begin_key, begin);
        assert_eq!(shard.exclusive_end_key, end);
    }
    // Adjacent and gap-free: each shard ends where the next begins.
    for pair in shards.windows(2) {
        assert_eq!(pair[0].exclusive_end_key, pair[1].inclusive_begin_key);
    }

    let tenants = admin.list_all_tenants().await.unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["acme"]
    );
}
