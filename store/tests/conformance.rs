//! The store conformance suite: every behaviour the API relies on, run on PostgreSQL and on
//! SQLite through the same test body.

use std::sync::Arc;
use std::time::Duration;

use logplane_model::audit::NewAuditEvent;
use logplane_model::page::PageRequest;
use logplane_model::quota::{ApiRate, QuotaExceeded};
use logplane_model::{
    ApiKeyRequest, AuditResult, Caller, KeyRange, KeyScope, LogstoreMode, LogstoreSpec,
    ProjectSpec, QuerySlot, QuerySlotRequest, Quota, QuotaSpec, Role, ShardStatus, TenantSpec,
};
use logplane_store::testing::TestDatabase;
use logplane_store::{
    Backend, Ctx, LeaseBid, Precondition, PutOutcome, QuerySlotSettings, SlotAdmission, SqlStore,
    Store, StoreError, StoreOptions,
};

/// Instantiates one behaviour for each backend: `mod behaviour { postgres(), sqlite() }`.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        $(
            mod $behaviour {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::run(logplane_store::Backend::Postgres, super::$behaviour).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::run(logplane_store::Backend::Sqlite, super::$behaviour).await;
                }
            }
        )*
    };
}

conformance!(
    put_then_get_echoes_the_spec_in_order,
    identical_put_is_a_no_op_with_the_same_etag,
    preconditions_guard_writes,
    concurrent_creates_of_one_name_create_it_once,
    concurrent_read_modify_write_loses_no_update,
    parents_with_children_cannot_be_deleted,
    children_need_their_parent,
    logstores_start_with_shards_covering_the_key_space,
    immutable_logstore_fields_are_refused,
    other_tenants_are_hidden_and_roles_are_enforced,
    lists_page_in_name_order,
    tenant_callers_list_only_their_own_tenant,
    api_keys_are_found_by_hash_and_revoked_by_delete,
    deleting_a_tenant_revokes_its_keys,
    mutations_and_denials_are_audited,
    signing_key_is_shared_by_every_racer,
    bootstrap_key_follows_the_configured_secret,
    data_survives_reopening,
    readiness_reflects_migrations,
    a_quota_lays_its_overrides_over_the_defaults,
    count_quotas_admit_exactly_one_of_many_concurrent_creates,
    lowering_a_quota_below_usage_blocks_creates_and_deletes_nothing,
    logstore_and_shard_quotas_count_per_project,
    api_key_quota_counts_the_tenants_keys,
    usage_reports_every_count_against_its_limit,
    key_identity_carries_the_tenants_api_rate,
    query_slots_never_exceed_the_capacity_or_a_cap,
    a_request_that_fails_alone_does_not_fail_the_others_decided_with_it,
    backlogged_tenants_are_granted_in_turn,
    waiting_frontends_on_three_replicas_never_hold_more_than_the_capacity,
    a_released_slot_goes_to_a_waiter,
    expired_leases_free_their_slots,
    a_full_queue_refuses_and_a_zero_wait_leaves_no_trace,
    only_the_acquiring_frontend_renews_or_releases,
    a_project_cap_below_the_tenants_holds,
    replicas_sharing_a_database_act_as_one_arbiter,
    one_leader_at_a_time_and_a_takeover_fences_the_old_one,
    room_is_kept_for_a_light_tenant_while_a_heavy_one_floods,
);

async fn run<F, Fut>(backend: Backend, behaviour: F)
where
    F: FnOnce(Arc<SqlStore>, TestDatabase) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let database = TestDatabase::create(backend).await;
    let store = Arc::new(database.open().await);
    behaviour(store, database).await;
}

fn platform_admin() -> Ctx {
    Ctx::new(
        Caller {
            key_id: "root".into(),
            role: Role::PlatformAdmin,
            tenant: None,
        },
        Some("req-1".into()),
    )
}

fn tenant_caller(tenant: &str, role: Role) -> Ctx {
    Ctx::new(
        Caller {
            key_id: format!("{tenant}-{}", role.as_str()),
            role,
            tenant: Some(tenant.into()),
        },
        None,
    )
}

fn labels(pairs: &[(&str, &str)]) -> logplane_model::Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn seed_tenant(store: &SqlStore, name: &str) {
    store
        .put_tenant(
            &platform_admin(),
            name,
            TenantSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
}

async fn seed_project(store: &SqlStore, tenant: &str, name: &str) {
    seed_tenant(store, tenant).await;
    store
        .put_project(
            &platform_admin(),
            tenant,
            name,
            ProjectSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
}

async fn put_then_get_echoes_the_spec_in_order(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let spec = ProjectSpec {
        description: "Web tier".into(),
        labels: labels(&[("zeta", "1"), ("alpha", "2"), ("Mid", "x")]),
        max_concurrent_queries: None,
    };
    let created = store
        .put_project(
            &platform_admin(),
            "acme",
            "web",
            spec.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(created.is_created());
    let read = store
        .get_project(&platform_admin(), "acme", "web")
        .await
        .unwrap();
    assert_eq!(read.spec(), spec);
    let keys: Vec<_> = read.labels.keys().cloned().collect();
    assert_eq!(
        keys,
        ["zeta", "alpha", "Mid"],
        "label order is kept as written"
    );
    assert_eq!(read.etag, created.resource().etag);
}

async fn identical_put_is_a_no_op_with_the_same_etag(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let spec = ProjectSpec {
        description: "a".into(),
        ..Default::default()
    };
    let first = store
        .put_project(
            &platform_admin(),
            "acme",
            "web",
            spec.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    let second = store
        .put_project(
            &platform_admin(),
            "acme",
            "web",
            spec.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(second, PutOutcome::Unchanged(_)));
    assert_eq!(first.resource().etag, second.resource().etag);
    assert_eq!(first.resource().updated_at, second.resource().updated_at);
    let changed = ProjectSpec {
        description: "b".into(),
        ..Default::default()
    };
    let third = store
        .put_project(
            &platform_admin(),
            "acme",
            "web",
            changed,
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(third, PutOutcome::Replaced(_)));
    assert_ne!(third.resource().etag, first.resource().etag);
    assert_eq!(third.resource().created_at, first.resource().created_at);
    let updates = audit_actions(&store, "acme")
        .await
        .into_iter()
        .filter(|a| a == "project.update")
        .count();
    assert_eq!(updates, 1, "the no-op PUT wrote no audit event");
}

async fn preconditions_guard_writes(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let admin = platform_admin();
    let absent = store
        .put_project(
            &admin,
            "acme",
            "web",
            ProjectSpec::default(),
            Precondition::IfMatch(None),
        )
        .await;
    assert!(
        matches!(absent, Err(StoreError::PreconditionFailed(_))),
        "If-Match: * needs an existing resource"
    );
    let created = store
        .put_project(
            &admin,
            "acme",
            "web",
            ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let again = store
        .put_project(
            &admin,
            "acme",
            "web",
            ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await;
    assert!(matches!(again, Err(StoreError::PreconditionFailed(_))));
    let spec = ProjectSpec {
        description: "new".into(),
        ..Default::default()
    };
    let stale = store
        .put_project(
            &admin,
            "acme",
            "web",
            spec.clone(),
            Precondition::IfMatch(Some("stale".into())),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed(_))));
    let etag = created.resource().etag.clone();
    store
        .put_project(
            &admin,
            "acme",
            "web",
            spec,
            Precondition::IfMatch(Some(etag.clone())),
        )
        .await
        .unwrap();
    let stale_delete = store
        .delete_project(&admin, "acme", "web", Precondition::IfMatch(Some(etag)))
        .await;
    assert!(matches!(
        stale_delete,
        Err(StoreError::PreconditionFailed(_))
    ));
    assert_eq!(
        store
            .get_project(&admin, "acme", "web")
            .await
            .unwrap()
            .description,
        "new"
    );
}

async fn concurrent_creates_of_one_name_create_it_once(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let attempts = (0..50).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let spec = ProjectSpec {
                description: format!("writer {i}"),
                ..Default::default()
            };
            store
                .put_project(&platform_admin(), "acme", "web", spec, Precondition::None)
                .await
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Ok(PutOutcome::Created(_))))
        .count();
    for outcome in &outcomes {
        assert!(
            outcome.as_ref().unwrap().is_ok(),
            "every PUT succeeds: {outcome:?}"
        );
    }
    assert_eq!(created, 1, "exactly one PUT created the project");
}

async fn concurrent_read_modify_write_loses_no_update(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    let writers = (0..8).map(|writer| {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut successes, mut conflicts) = (0, 0);
            for round in 0..6 {
                let current = store
                    .get_project(&platform_admin(), "acme", "web")
                    .await
                    .unwrap();
                let mut spec = current.spec();
                let count: u64 = spec
                    .labels
                    .get("count")
                    .map(|c| c.parse().unwrap())
                    .unwrap_or(0);
                spec.labels.insert("count".into(), (count + 1).to_string());
                spec.labels.insert(format!("w{writer}"), round.to_string());
                match store
                    .put_project(
                        &platform_admin(),
                        "acme",
                        "web",
                        spec,
                        Precondition::IfMatch(Some(current.etag)),
                    )
                    .await
                {
                    Ok(_) => successes += 1,
                    Err(StoreError::PreconditionFailed(_)) => conflicts += 1,
                    Err(other) => panic!("unexpected error {other:?}"),
                }
            }
            (successes, conflicts)
        })
    });
    let results = futures::future::join_all(writers).await;
    let successes: u64 = results.iter().map(|r| r.as_ref().unwrap().0).sum();
    let conflicts: u64 = results.iter().map(|r| r.as_ref().unwrap().1).sum();
    assert_eq!(successes + conflicts, 48);
    let final_state = store
        .get_project(&platform_admin(), "acme", "web")
        .await
        .unwrap();
    assert_eq!(
        final_state.labels["count"],
        successes.to_string(),
        "every successful write counted once"
    );
}

async fn parents_with_children_cannot_be_deleted(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    let admin = platform_admin();
    store
        .put_logstore(
            &admin,
            "acme",
            "web",
            "nginx",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_project(&admin, "acme", "web", Precondition::None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .delete_tenant(&admin, "acme", Precondition::None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .delete_logstore(&admin, "acme", "web", "nginx", Precondition::None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_logstore(&admin, "acme", "web", "nginx", Precondition::None)
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_project(&admin, "acme", "web", Precondition::None)
        .await
        .unwrap();
    assert!(matches!(
        store.get_project(&admin, "acme", "web").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_tenant(&admin, "acme", Precondition::None)
        .await
        .unwrap();
}

async fn children_need_their_parent(store: Arc<SqlStore>, _db: TestDatabase) {
    let admin = platform_admin();
    let orphan = store
        .put_project(
            &admin,
            "ghost",
            "web",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(path)) if path == "tenants/ghost"));
    seed_tenant(&store, "acme").await;
    let orphan = store
        .put_logstore(
            &admin,
            "acme",
            "ghost",
            "nginx",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(
        matches!(orphan, Err(StoreError::NotFound(path)) if path == "tenants/acme/projects/ghost")
    );
    let listed = store
        .list_logstores(&admin, "acme", "ghost", PageRequest::first(10))
        .await;
    assert!(matches!(listed, Err(StoreError::NotFound(_))));
}

async fn logstores_start_with_shards_covering_the_key_space(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_project(&store, "acme", "web").await;
    let admin = platform_admin();
    let spec = LogstoreSpec {
        shard_count: 3,
        ..Default::default()
    };
    store
        .put_logstore(&admin, "acme", "web", "nginx", spec, Precondition::None)
        .await
        .unwrap();
    let shards = store
        .list_shards(&admin, "acme", "web", "nginx")
        .await
        .unwrap();
    let expected = KeyRange::split_evenly(3);
    assert_eq!(shards.len(), 3);
    for (i, (shard, range)) in shards.iter().zip(&expected).enumerate() {
        assert_eq!(shard.id, i as i64);
        assert_eq!(shard.inclusive_begin_key, range.begin_hex());
        assert_eq!(shard.exclusive_end_key, range.end_hex());
        assert_eq!(shard.status, ShardStatus::Readwrite);
    }
    store
        .delete_logstore(&admin, "acme", "web", "nginx", Precondition::None)
        .await
        .unwrap();
    store
        .put_logstore(
            &admin,
            "acme",
            "web",
            "nginx",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list_shards(&admin, "acme", "web", "nginx")
            .await
            .unwrap()
            .len(),
        2,
        "old shards went with the old logstore"
    );
}

async fn immutable_logstore_fields_are_refused(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    let admin = platform_admin();
    store
        .put_logstore(
            &admin,
            "acme",
            "web",
            "nginx",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    let changed = LogstoreSpec {
        mode: LogstoreMode::Query,
        ..Default::default()
    };
    let refused = store
        .put_logstore(&admin, "acme", "web", "nginx", changed, Precondition::None)
        .await;
    let Err(StoreError::Invalid(errors)) = refused else {
        panic!("expected a validation error, got {refused:?}")
    };
    assert_eq!(errors.errors[0].field, "mode");
    let longer = LogstoreSpec {
        retention_days: 90,
        ..Default::default()
    };
    let replaced = store
        .put_logstore(&admin, "acme", "web", "nginx", longer, Precondition::None)
        .await
        .unwrap();
    assert_eq!(replaced.resource().retention_days, 90);
}

async fn other_tenants_are_hidden_and_roles_are_enforced(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    seed_tenant(&store, "beta").await;
    let beta_admin = tenant_caller("beta", Role::Admin);
    assert!(matches!(
        store.get_project(&beta_admin, "alpha", "web").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get_tenant(&beta_admin, "alpha").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .list_projects(&beta_admin, "alpha", PageRequest::first(10))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let hijack = store
        .put_project(
            &beta_admin,
            "alpha",
            "web",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(matches!(hijack, Err(StoreError::NotFound(_))));
    let viewer = tenant_caller("alpha", Role::Viewer);
    store.get_project(&viewer, "alpha", "web").await.unwrap();
    let write = store
        .put_project(
            &viewer,
            "alpha",
            "new",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(matches!(write, Err(StoreError::Forbidden(_))));
    assert!(matches!(
        store
            .delete_project(&viewer, "alpha", "web", Precondition::None)
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let editor = tenant_caller("alpha", Role::Editor);
    store
        .put_project(
            &editor,
            "alpha",
            "new",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    let own_tenant = store
        .put_tenant(
            &tenant_caller("alpha", Role::Admin),
            "alpha",
            TenantSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(
        matches!(own_tenant, Err(StoreError::Forbidden(_))),
        "only platform admins write tenants"
    );
}

async fn lists_page_in_name_order(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let names = ["web-2", "api", "web_x", "web-10", "db", "a-b", "ab"];
    for name in names {
        let spec = LogstoreSpec::default();
        if name.contains('_') {
            seed_project(&store, "acme", "proj").await;
            store
                .put_logstore(
                    &platform_admin(),
                    "acme",
                    "proj",
                    name,
                    spec,
                    Precondition::None,
                )
                .await
                .unwrap();
        } else {
            store
                .put_project(
                    &platform_admin(),
                    "acme",
                    name,
                    ProjectSpec::default(),
                    Precondition::None,
                )
                .await
                .unwrap();
        }
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let listed = store
            .list_projects(&platform_admin(), "acme", page.clone())
            .await
            .unwrap();
        assert!(listed.items.len() <= 2);
        seen.extend(listed.items.into_iter().map(|p| p.name));
        match listed.next_cursor {
            Some(cursor) => {
                page = PageRequest {
                    size: 2,
                    after: Some(cursor),
                }
            }
            None => break,
        }
    }
    // Bytewise order on both backends: '-' (0x2d) sorts before letters and digits.
    assert_eq!(seen, ["a-b", "ab", "api", "db", "proj", "web-10", "web-2"]);
}

async fn tenant_callers_list_only_their_own_tenant(store: Arc<SqlStore>, _db: TestDatabase) {
    for name in ["aaa", "bbb", "ccc", "zzz"] {
        seed_tenant(&store, name).await;
    }
    let all = store
        .list_tenants(&platform_admin(), PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 4);
    let listed = store
        .list_tenants(&tenant_caller("zzz", Role::Viewer), PageRequest::first(1))
        .await
        .unwrap();
    let names: Vec<_> = listed.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["zzz"]);
    assert_eq!(listed.next_cursor, None);
}

fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

async fn api_keys_are_found_by_hash_and_revoked_by_delete(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let admin = tenant_caller("acme", Role::Admin);
    let scope = KeyScope::Tenant("acme".into());
    let request = ApiKeyRequest {
        name: "ci-bot".into(),
        role: Role::Editor,
    };
    let key = store
        .create_api_key(&admin, &scope, request.clone(), &sha256_hex("s1"))
        .await
        .unwrap();
    let duplicate = store
        .create_api_key(&admin, &scope, request, &sha256_hex("s2"))
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    let wrong_role = ApiKeyRequest {
        name: "root".into(),
        role: Role::PlatformAdmin,
    };
    assert!(matches!(
        store
            .create_api_key(&admin, &scope, wrong_role, &sha256_hex("s3"))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let editor = tenant_caller("acme", Role::Editor);
    let escalate = ApiKeyRequest {
        name: "mine".into(),
        role: Role::Admin,
    };
    assert!(matches!(
        store
            .create_api_key(&editor, &scope, escalate, &sha256_hex("s4"))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let found = store
        .find_key_by_secret_hash(&sha256_hex("s1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found,
        Caller {
            key_id: key.id.clone(),
            role: Role::Editor,
            tenant: Some("acme".into())
        }
    );
    let listed = store
        .list_api_keys(&admin, &scope, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![key.clone()]);
    let platform_keys = store
        .list_api_keys(
            &platform_admin(),
            &KeyScope::Platform,
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(
        platform_keys.items.is_empty(),
        "tenant keys are not platform keys"
    );
    store.delete_api_key(&admin, &scope, &key.id).await.unwrap();
    assert_eq!(store.find_key_by_id(&key.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_key_by_secret_hash(&sha256_hex("s1"))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.delete_api_key(&admin, &scope, &key.id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn deleting_a_tenant_revokes_its_keys(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let scope = KeyScope::Tenant("acme".into());
    let request = ApiKeyRequest {
        name: "ci-bot".into(),
        role: Role::Viewer,
    };
    let key = store
        .create_api_key(&platform_admin(), &scope, request, &sha256_hex("s"))
        .await
        .unwrap();
    store
        .delete_tenant(&platform_admin(), "acme", Precondition::None)
        .await
        .unwrap();
    assert_eq!(store.find_key_by_id(&key.id).await.unwrap(), None);
}

async fn audit_actions(store: &SqlStore, tenant: &str) -> Vec<String> {
    let listed = store
        .list_audit_events(&platform_admin(), Some(tenant), PageRequest::first(1000))
        .await
        .unwrap();
    listed.items.into_iter().map(|e| e.action).collect()
}

async fn mutations_and_denials_are_audited(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    seed_tenant(&store, "other").await;
    let viewer = tenant_caller("acme", Role::Viewer);
    let _ = store
        .delete_project(&viewer, "acme", "web", Precondition::None)
        .await;
    let events = store
        .list_audit_events(
            &tenant_caller("acme", Role::Admin),
            Some("acme"),
            PageRequest::first(100),
        )
        .await
        .unwrap();
    let summary: Vec<_> = events
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.result))
        .collect();
    assert_eq!(
        summary,
        [
            ("project.delete", AuditResult::Denied),
            ("project.create", AuditResult::Success),
            ("tenant.create", AuditResult::Success)
        ],
        "newest first"
    );
    assert_eq!(events.items[1].request_id.as_deref(), Some("req-1"));
    assert_eq!(events.items[1].resource, "tenants/acme/projects/web");
    assert_eq!(events.items[0].actor, "viewer:acme-viewer");
    let others = store
        .list_audit_events(
            &tenant_caller("acme", Role::Admin),
            Some("other"),
            PageRequest::first(100),
        )
        .await;
    assert!(matches!(others, Err(StoreError::NotFound(_))));
    let as_editor = store
        .list_audit_events(
            &tenant_caller("acme", Role::Editor),
            Some("acme"),
            PageRequest::first(100),
        )
        .await;
    assert!(matches!(as_editor, Err(StoreError::Forbidden(_))));
    store
        .record_denied(NewAuditEvent {
            tenant: None,
            actor: "anonymous".into(),
            action: "project_get".into(),
            resource: "/v1/tenants/acme/projects/web".into(),
            result: AuditResult::Denied,
            reason: Some("no credential".into()),
            request_id: None,
            client_address: None,
        })
        .await
        .unwrap();
    let first = store
        .list_audit_events(&platform_admin(), None, PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items[0].actor, "anonymous");
    let second = store
        .list_audit_events(
            &platform_admin(),
            None,
            PageRequest {
                size: 1,
                after: first.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.items[0].action, "audit_event.list",
        "the editor's refused listing, one older"
    );
}

async fn signing_key_is_shared_by_every_racer(store: Arc<SqlStore>, _db: TestDatabase) {
    let racers = (0..8u8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.ensure_signing_key(&[i; 32]).await.unwrap() })
    });
    let keys: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(keys.iter().all(|k| k == &keys[0] && k.len() == 32));
    assert_eq!(store.ensure_signing_key(&[99; 32]).await.unwrap(), keys[0]);
}

async fn bootstrap_key_follows_the_configured_secret(store: Arc<SqlStore>, _db: TestDatabase) {
    store
        .ensure_bootstrap_key(&sha256_hex("first"))
        .await
        .unwrap();
    store
        .ensure_bootstrap_key(&sha256_hex("first"))
        .await
        .unwrap();
    let caller = store
        .find_key_by_secret_hash(&sha256_hex("first"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.role, Role::PlatformAdmin);
    store
        .ensure_bootstrap_key(&sha256_hex("second"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_key_by_secret_hash(&sha256_hex("first"))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .find_key_by_secret_hash(&sha256_hex("second"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn data_survives_reopening(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    store.close().await;
    drop(store);
    let reopened = db.open().await;
    let project = reopened
        .get_project(&platform_admin(), "acme", "web")
        .await
        .unwrap();
    assert_eq!(project.name, "web");
}

async fn readiness_reflects_migrations(store: Arc<SqlStore>, db: TestDatabase) {
    store.check_ready().await.unwrap();
    db.execute("DELETE FROM _sqlx_migrations").await;
    assert!(matches!(
        store.check_ready().await,
        Err(StoreError::Unavailable { .. })
    ));
}

fn quota_exceeded(result: Result<impl std::fmt::Debug, StoreError>) -> QuotaExceeded {
    match result {
        Err(StoreError::QuotaExceeded(exceeded)) => exceeded,
        other => panic!("expected a quota refusal, got {other:?}"),
    }
}

async fn set_quota(store: &SqlStore, tenant: &str, spec: QuotaSpec) {
    store
        .put_quota(&platform_admin(), tenant, spec, Precondition::None)
        .await
        .unwrap();
}

async fn a_quota_lays_its_overrides_over_the_defaults(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let untouched = store.get_quota(&platform_admin(), "acme").await.unwrap();
    assert_eq!(untouched.effective, Quota::default());
    assert_eq!(untouched.overrides, QuotaSpec::default());
    let spec = QuotaSpec {
        max_projects: Some(3),
        api_requests_per_sec: Some(7),
        ..Default::default()
    };
    let written = store
        .put_quota(&platform_admin(), "acme", spec, Precondition::None)
        .await
        .unwrap();
    let quota = written.resource().clone();
    assert_eq!(quota.effective.max_projects, 3);
    assert_eq!(quota.effective.max_api_keys, Quota::default().max_api_keys);
    assert_eq!(quota.overrides, spec, "what was written is kept as written");
    let again = store
        .put_quota(&platform_admin(), "acme", spec, Precondition::None)
        .await
        .unwrap();
    assert!(matches!(again, PutOutcome::Unchanged(_)));
    assert_eq!(again.resource().etag, quota.etag);
    let stale = store
        .put_quota(
            &platform_admin(),
            "acme",
            QuotaSpec::default(),
            Precondition::IfMatch(Some("stale".into())),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed(_))));
    let viewer = tenant_caller("acme", Role::Viewer);
    assert_eq!(
        store
            .get_quota(&viewer, "acme")
            .await
            .unwrap()
            .effective
            .max_projects,
        3,
        "a tenant reads its quota"
    );
    let own_write = store
        .put_quota(
            &tenant_caller("acme", Role::Admin),
            "acme",
            QuotaSpec::default(),
            Precondition::None,
        )
        .await;
    assert!(
        matches!(own_write, Err(StoreError::Forbidden(_))),
        "only platform admins set quotas"
    );
    let other = store
        .get_quota(&tenant_caller("other", Role::Admin), "acme")
        .await;
    assert!(matches!(other, Err(StoreError::NotFound(_))));
    let invalid = QuotaSpec {
        max_projects: Some(-1),
        ..Default::default()
    };
    assert!(matches!(
        store
            .put_quota(&platform_admin(), "acme", invalid, Precondition::None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.get_quota(&platform_admin(), "ghost").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn count_quotas_admit_exactly_one_of_many_concurrent_creates(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_tenant(&store, "acme").await;
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            max_projects: Some(5),
            ..Default::default()
        },
    )
    .await;
    for i in 0..4 {
        store
            .put_project(
                &platform_admin(),
                "acme",
                &format!("existing-{i}"),
                ProjectSpec::default(),
                Precondition::None,
            )
            .await
            .unwrap();
    }
    let racers = (0..32).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_project(
                    &platform_admin(),
                    "acme",
                    &format!("racer-{i}"),
                    ProjectSpec::default(),
                    Precondition::None,
                )
                .await
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(created, 1, "exactly one create fits the last unit of quota");
    for outcome in outcomes.into_iter().filter(|o| o.is_err()) {
        let exceeded = quota_exceeded(outcome);
        assert_eq!(
            exceeded,
            QuotaExceeded {
                quota: "max_projects",
                limit: 5,
                usage: 5
            }
        );
    }
    let listed = store
        .list_projects(&platform_admin(), "acme", PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 5);
}

async fn lowering_a_quota_below_usage_blocks_creates_and_deletes_nothing(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_tenant(&store, "acme").await;
    for name in ["one", "two", "three"] {
        store
            .put_project(
                &platform_admin(),
                "acme",
                name,
                ProjectSpec::default(),
                Precondition::None,
            )
            .await
            .unwrap();
    }
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            max_projects: Some(1),
            ..Default::default()
        },
    )
    .await;
    let blocked = store
        .put_project(
            &platform_admin(),
            "acme",
            "four",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await;
    assert_eq!(
        quota_exceeded(blocked),
        QuotaExceeded {
            quota: "max_projects",
            limit: 1,
            usage: 3
        }
    );
    let listed = store
        .list_projects(&platform_admin(), "acme", PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3, "nothing was deleted");
    let update = ProjectSpec {
        description: "still editable".into(),
        ..Default::default()
    };
    store
        .put_project(&platform_admin(), "acme", "one", update, Precondition::None)
        .await
        .unwrap();
}

async fn logstore_and_shard_quotas_count_per_project(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    store
        .put_project(
            &platform_admin(),
            "acme",
            "api",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            max_shards_per_project: Some(4),
            max_logstores_per_project: Some(2),
            ..Default::default()
        },
    )
    .await;
    let three = LogstoreSpec {
        shard_count: 3,
        ..Default::default()
    };
    store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "nginx",
            three.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    let two = LogstoreSpec {
        shard_count: 2,
        ..Default::default()
    };
    let over = store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "app",
            two.clone(),
            Precondition::None,
        )
        .await;
    assert_eq!(
        quota_exceeded(over),
        QuotaExceeded {
            quota: "max_shards_per_project",
            limit: 4,
            usage: 3
        }
    );
    let one = LogstoreSpec {
        shard_count: 1,
        ..Default::default()
    };
    store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "app",
            one.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    let third = store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "db",
            LogstoreSpec {
                shard_count: 1,
                ..Default::default()
            },
            Precondition::None,
        )
        .await;
    assert_eq!(quota_exceeded(third).quota, "max_logstores_per_project");
    store
        .put_logstore(
            &platform_admin(),
            "acme",
            "api",
            "nginx",
            three,
            Precondition::None,
        )
        .await
        .unwrap();
    let replaced = LogstoreSpec {
        retention_days: 60,
        ..one
    };
    store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "app",
            replaced,
            Precondition::None,
        )
        .await
        .unwrap();
}

async fn api_key_quota_counts_the_tenants_keys(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            max_api_keys: Some(2),
            ..Default::default()
        },
    )
    .await;
    let scope = KeyScope::Tenant("acme".into());
    for (i, name) in ["key-one", "key-two"].iter().enumerate() {
        let request = ApiKeyRequest {
            name: name.to_string(),
            role: Role::Viewer,
        };
        store
            .create_api_key(
                &platform_admin(),
                &scope,
                request,
                &sha256_hex(&format!("s{i}")),
            )
            .await
            .unwrap();
    }
    let request = ApiKeyRequest {
        name: "key-three".into(),
        role: Role::Viewer,
    };
    let over = store
        .create_api_key(&platform_admin(), &scope, request, &sha256_hex("s3"))
        .await;
    assert_eq!(
        quota_exceeded(over),
        QuotaExceeded {
            quota: "max_api_keys",
            limit: 2,
            usage: 2
        }
    );
    let platform = ApiKeyRequest {
        name: "worker-one".into(),
        role: Role::Worker,
    };
    store
        .create_api_key(
            &platform_admin(),
            &KeyScope::Platform,
            platform,
            &sha256_hex("p"),
        )
        .await
        .unwrap();
}

async fn usage_reports_every_count_against_its_limit(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_project(&store, "acme", "web").await;
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            max_projects: Some(9),
            ..Default::default()
        },
    )
    .await;
    let spec = LogstoreSpec {
        shard_count: 3,
        ..Default::default()
    };
    store
        .put_logstore(
            &platform_admin(),
            "acme",
            "web",
            "nginx",
            spec,
            Precondition::None,
        )
        .await
        .unwrap();
    let usage = store
        .get_usage(&tenant_caller("acme", Role::Viewer), "acme")
        .await
        .unwrap();
    let projects = usage
        .counts
        .iter()
        .find(|c| c.quota == "max_projects")
        .unwrap();
    assert_eq!((projects.limit, projects.used), (9, 1));
    let web = &usage.projects[0];
    assert_eq!(web.project, "web");
    let counts: Vec<_> = web
        .counts
        .iter()
        .map(|c| (c.quota.as_str(), c.used))
        .collect();
    assert_eq!(
        counts,
        [
            ("max_logstores_per_project", 1),
            ("max_shards_per_project", 3),
            ("max_machine_groups_per_project", 0),
            ("max_collection_configs_per_project", 0),
        ]
    );
    assert!(
        usage.reported.iter().all(|r| r.reported.is_none()),
        "no worker has reported yet"
    );
    assert!(matches!(
        store
            .get_usage(&tenant_caller("other", Role::Admin), "acme")
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn key_identity_carries_the_tenants_api_rate(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_tenant(&store, "acme").await;
    let scope = KeyScope::Tenant("acme".into());
    let request = ApiKeyRequest {
        name: "ci-bot".into(),
        role: Role::Editor,
    };
    let key = store
        .create_api_key(&platform_admin(), &scope, request, &sha256_hex("k"))
        .await
        .unwrap();
    let defaults = Quota::default();
    let identity = store.find_key_by_id(&key.id).await.unwrap().unwrap();
    assert_eq!(
        identity.api_rate,
        Some(ApiRate {
            per_sec: defaults.api_requests_per_sec,
            burst: defaults.api_burst
        })
    );
    set_quota(
        &store,
        "acme",
        QuotaSpec {
            api_requests_per_sec: Some(3),
            api_burst: Some(5),
            ..Default::default()
        },
    )
    .await;
    let identity = store.find_key_by_id(&key.id).await.unwrap().unwrap();
    assert_eq!(
        identity.api_rate,
        Some(ApiRate {
            per_sec: 3,
            burst: 5
        })
    );
    assert_eq!(identity.caller.tenant.as_deref(), Some("acme"));
    store
        .ensure_bootstrap_key(&sha256_hex("root"))
        .await
        .unwrap();
    let platform = store
        .find_key_by_id("bootstrap-admin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(platform.api_rate, None, "platform keys have no tenant rate");
    // An agent token naming an API key names nobody: agents are looked up among agents only.
    // Many lookups of both kinds at once share batches and each gets its own answer.
    let lookups = (0..40).map(|at| {
        let store = store.clone();
        let id = key.id.clone();
        async move {
            if at % 2 == 0 {
                store.find_agent_by_id(&id).await.unwrap().is_none()
            } else {
                store.find_key_by_id(&id).await.unwrap().is_some()
            }
        }
    });
    assert!(
        futures::future::join_all(lookups)
            .await
            .into_iter()
            .all(|right| right)
    );
}

fn frontend(key: &str) -> Ctx {
    Ctx::new(
        Caller {
            key_id: key.into(),
            role: Role::QueryFrontend,
            tenant: None,
        },
        None,
    )
}

async fn slot_store(db: &TestDatabase, capacity: i64, lease_ttl: Duration) -> Arc<SqlStore> {
    let settings = QuerySlotSettings {
        capacity,
        lease_ttl,
        poll_interval: Duration::from_millis(20),
        ..QuerySlotSettings::default()
    };
    Arc::new(
        db.open_with(&StoreOptions {
            query_slots: settings,
            ..StoreOptions::default()
        })
        .await,
    )
}

fn slot_request(max_wait_ms: i64) -> QuerySlotRequest {
    QuerySlotRequest {
        cost_hint: 1,
        max_wait_ms,
    }
}

/// Acquires the only slot of a store with capacity 1, for `tenant`'s project `web`.
async fn take_the_only_slot(slots: &SqlStore, tenant: &str) -> QuerySlot {
    match slots
        .acquire_query_slot(&frontend("fe"), tenant, "web", slot_request(0))
        .await
        .unwrap()
    {
        SlotAdmission::Granted(slot) => slot,
        other => panic!("the only slot is free: {other:?}"),
    }
}

/// Returns once `tenant` has at least `count` requests waiting.
async fn wait_until_queued(store: &SqlStore, tenant: &str, count: i64) {
    while store
        .get_usage(&platform_admin(), tenant)
        .await
        .unwrap()
        .query_slots
        .queued
        < count
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn query_slots_never_exceed_the_capacity_or_a_cap(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    seed_project(&store, "beta", "web").await;
    set_quota(
        &store,
        "alpha",
        QuotaSpec {
            max_concurrent_queries: Some(3),
            ..Default::default()
        },
    )
    .await;
    let slots = slot_store(&db, 5, Duration::from_secs(60)).await;
    let racers = (0..24).map(|i| {
        let slots = slots.clone();
        let tenant = if i % 2 == 0 { "alpha" } else { "beta" };
        tokio::spawn(async move {
            (
                tenant,
                slots
                    .acquire_query_slot(&frontend("fe"), tenant, "web", slot_request(0))
                    .await
                    .unwrap(),
            )
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let granted = |tenant: &str| {
        outcomes
            .iter()
            .filter(|(t, o)| *t == tenant && matches!(o, SlotAdmission::Granted(_)))
            .count()
    };
    assert!(
        granted("alpha") <= 3,
        "alpha's cap holds: {}",
        granted("alpha")
    );
    assert_eq!(
        granted("alpha") + granted("beta"),
        5,
        "the whole capacity is used, and no more"
    );
    let usage = store.get_usage(&platform_admin(), "alpha").await.unwrap();
    assert_eq!(usage.query_slots.held as usize, granted("alpha"));
    assert_eq!(
        usage.query_slots.queued, 0,
        "refused requests left nothing queued"
    );
}

/// Requests that come together are decided in one transaction; one for a project that does not
/// exist answers 404 by itself, and the rest are decided as if it had not come.
async fn a_request_that_fails_alone_does_not_fail_the_others_decided_with_it(
    store: Arc<SqlStore>,
    db: TestDatabase,
) {
    seed_project(&store, "alpha", "web").await;
    let slots = slot_store(&db, 4, Duration::from_secs(60)).await;
    let racers = (0..16).map(|i| {
        let slots = slots.clone();
        let project = if i % 2 == 0 { "web" } else { "missing" };
        tokio::spawn(async move {
            (
                project,
                slots
                    .acquire_query_slot(&frontend("fe"), "alpha", project, slot_request(0))
                    .await,
            )
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (project, outcome) in &outcomes {
        if *project == "missing" {
            assert!(
                matches!(outcome, Err(StoreError::NotFound(_))),
                "{outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "{outcome:?}");
        }
    }
    let granted = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Ok(SlotAdmission::Granted(_))))
        .count();
    assert_eq!(
        granted, 4,
        "the capacity is used by the requests that exist"
    );
    let usage = store.get_usage(&platform_admin(), "alpha").await.unwrap();
    assert_eq!((usage.query_slots.held, usage.query_slots.queued), (4, 0));
}

/// Two tenants each with three requests waiting, queued together: as slots free one at a time
/// they go to the tenants in turn, because each tenant's requests are tagged one after another
/// even when they are decided in one batch.
async fn backlogged_tenants_are_granted_in_turn(store: Arc<SqlStore>, db: TestDatabase) {
    for tenant in ["holder", "alpha", "beta"] {
        seed_project(&store, tenant, "web").await;
    }
    let slots = slot_store(&db, 1, Duration::from_secs(60)).await;
    let held = take_the_only_slot(&slots, "holder").await;
    let mut waiters: Vec<_> = ["alpha", "alpha", "alpha", "beta", "beta", "beta"]
        .into_iter()
        .map(|tenant| {
            let slots = slots.clone();
            let waiter = tokio::spawn(async move {
                slots
                    .acquire_query_slot(&frontend("fe"), tenant, "web", slot_request(20_000))
                    .await
                    .unwrap()
            });
            (tenant, Some(waiter))
        })
        .collect();
    for tenant in ["alpha", "beta"] {
        wait_until_queued(&store, tenant, 3).await;
    }
    let mut order = Vec::new();
    let mut to_release = held.slot_id;
    for _ in 0..6 {
        slots
            .release_query_slot(&frontend("fe"), &to_release)
            .await
            .unwrap();
        let (tenant, slot) = loop {
            let finished = waiters
                .iter_mut()
                .find(|(_, waiter)| waiter.as_ref().is_some_and(|w| w.is_finished()));
            if let Some((tenant, waiter)) = finished {
                break (*tenant, waiter.take().unwrap().await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let SlotAdmission::Granted(slot) = slot else {
            panic!("{tenant} was not granted: {slot:?}")
        };
        order.push(tenant);
        to_release = slot.slot_id;
    }
    for turn in order.chunks(2) {
        assert!(
            turn.contains(&"alpha") && turn.contains(&"beta"),
            "each pair of grants serves both tenants: {order:?}"
        );
    }
}

async fn a_released_slot_goes_to_a_waiter(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    let slots = slot_store(&db, 1, Duration::from_secs(60)).await;
    let first = take_the_only_slot(&slots, "alpha").await;
    let waiter = {
        let slots = slots.clone();
        tokio::spawn(async move {
            slots
                .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(20_000))
                .await
                .unwrap()
        })
    };
    // The waiter is queued once the tenant's usage shows it; only then is the slot released.
    wait_until_queued(&store, "alpha", 1).await;
    slots
        .release_query_slot(&frontend("fe"), &first.slot_id)
        .await
        .unwrap();
    let granted = waiter.await.unwrap();
    assert!(
        matches!(granted, SlotAdmission::Granted(ref slot) if slot.slot_id != first.slot_id),
        "{granted:?}"
    );
}

async fn expired_leases_free_their_slots(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    let slots = slot_store(&db, 1, Duration::from_millis(200)).await;
    let crashed = take_the_only_slot(&slots, "alpha").await;
    assert_eq!(
        slots
            .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
            .await
            .unwrap(),
        SlotAdmission::TimedOut
    );
    // The holder crashed: it never renews. Once the lease has run out the slot is free again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    slots.reconcile_query_slots().await.unwrap();
    let next = slots
        .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
        .await
        .unwrap();
    assert!(matches!(next, SlotAdmission::Granted(_)), "{next:?}");
    assert!(matches!(
        slots
            .renew_query_slot(&frontend("fe"), &crashed.slot_id)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_full_queue_refuses_and_a_zero_wait_leaves_no_trace(
    store: Arc<SqlStore>,
    db: TestDatabase,
) {
    seed_project(&store, "alpha", "web").await;
    set_quota(
        &store,
        "alpha",
        QuotaSpec {
            max_queued_queries: Some(1),
            ..Default::default()
        },
    )
    .await;
    let slots = slot_store(&db, 1, Duration::from_secs(60)).await;
    slots
        .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
        .await
        .unwrap();
    assert_eq!(
        slots
            .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
            .await
            .unwrap(),
        SlotAdmission::TimedOut
    );
    assert_eq!(
        store
            .get_usage(&platform_admin(), "alpha")
            .await
            .unwrap()
            .query_slots
            .queued,
        0
    );
    let waiter = {
        let slots = slots.clone();
        tokio::spawn(async move {
            slots
                .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(2_000))
                .await
                .unwrap()
        })
    };
    wait_until_queued(&store, "alpha", 1).await;
    let refused = slots
        .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(1_000))
        .await
        .unwrap();
    assert_eq!(
        refused,
        SlotAdmission::QueueFull {
            queued: 1,
            limit: 1
        }
    );
    assert_eq!(
        waiter.await.unwrap(),
        SlotAdmission::TimedOut,
        "the slot was never released"
    );
    assert_eq!(
        store
            .get_usage(&platform_admin(), "alpha")
            .await
            .unwrap()
            .query_slots
            .queued,
        0,
        "a timed-out wait leaves nothing queued"
    );
}

async fn only_the_acquiring_frontend_renews_or_releases(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    let slots = slot_store(&db, 4, Duration::from_secs(60)).await;
    let SlotAdmission::Granted(slot) = slots
        .acquire_query_slot(&frontend("fe-a"), "alpha", "web", slot_request(0))
        .await
        .unwrap()
    else {
        panic!("a slot is free")
    };
    assert!(matches!(
        slots
            .renew_query_slot(&frontend("fe-b"), &slot.slot_id)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        slots
            .release_query_slot(&frontend("fe-b"), &slot.slot_id)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        slots
            .renew_query_slot(&frontend("fe-a"), &slot.slot_id)
            .await
            .unwrap()
            .slot_id,
        slot.slot_id
    );
    let tenant_admin = tenant_caller("alpha", Role::Admin);
    assert!(matches!(
        slots.renew_query_slot(&tenant_admin, &slot.slot_id).await,
        Err(StoreError::Forbidden(_))
    ));
    let acquire_as_admin = slots
        .acquire_query_slot(&tenant_admin, "alpha", "web", slot_request(0))
        .await;
    assert!(
        matches!(acquire_as_admin, Err(StoreError::Forbidden(_))),
        "slots are taken by query frontends"
    );
    slots
        .release_query_slot(&frontend("fe-a"), &slot.slot_id)
        .await
        .unwrap();
    assert!(matches!(
        slots
            .release_query_slot(&frontend("fe-a"), &slot.slot_id)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let missing = slots
        .acquire_query_slot(&frontend("fe-a"), "alpha", "ghost", slot_request(0))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}

async fn a_project_cap_below_the_tenants_holds(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    let capped = ProjectSpec {
        max_concurrent_queries: Some(1),
        ..Default::default()
    };
    store
        .put_project(
            &platform_admin(),
            "alpha",
            "batch",
            capped,
            Precondition::None,
        )
        .await
        .unwrap();
    let slots = slot_store(&db, 8, Duration::from_secs(60)).await;
    assert!(matches!(
        slots
            .acquire_query_slot(&frontend("fe"), "alpha", "batch", slot_request(0))
            .await
            .unwrap(),
        SlotAdmission::Granted(_)
    ));
    assert_eq!(
        slots
            .acquire_query_slot(&frontend("fe"), "alpha", "batch", slot_request(0))
            .await
            .unwrap(),
        SlotAdmission::TimedOut
    );
    assert!(matches!(
        slots
            .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
            .await
            .unwrap(),
        SlotAdmission::Granted(_)
    ));
}

/// Frontends on three replicas queue for two slots, each holding its slot a moment and giving it
/// back: every one is served in the end, and no more than two ever hold a slot at once, while
/// grants, releases and waits of all three replicas interleave in their batches.
async fn waiting_frontends_on_three_replicas_never_hold_more_than_the_capacity(
    store: Arc<SqlStore>,
    db: TestDatabase,
) {
    seed_project(&store, "alpha", "web").await;
    seed_project(&store, "beta", "web").await;
    let replicas = [
        slot_store(&db, 2, Duration::from_secs(60)).await,
        slot_store(&db, 2, Duration::from_secs(60)).await,
        slot_store(&db, 2, Duration::from_secs(60)).await,
    ];
    let holding = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let most_held = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let frontends = (0..24).map(|i| {
        let replica = replicas[i % 3].clone();
        let (holding, most_held) = (holding.clone(), most_held.clone());
        let tenant = if i % 2 == 0 { "alpha" } else { "beta" };
        tokio::spawn(async move {
            let SlotAdmission::Granted(slot) = replica
                .acquire_query_slot(&frontend("fe"), tenant, "web", slot_request(20_000))
                .await
                .unwrap()
            else {
                panic!("every frontend is served within its wait")
            };
            let now_holding = holding.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            most_held.fetch_max(now_holding, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            // Counted out before the release, so a grant it frees is never counted early.
            holding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            replica
                .release_query_slot(&frontend("fe"), &slot.slot_id)
                .await
                .unwrap();
        })
    });
    for frontend in futures::future::join_all(frontends).await {
        frontend.unwrap();
    }
    let most_held = most_held.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most_held <= 2, "{most_held} held at once on 2 slots");
    for tenant in ["alpha", "beta"] {
        let usage = store.get_usage(&platform_admin(), tenant).await.unwrap();
        assert_eq!((usage.query_slots.held, usage.query_slots.queued), (0, 0));
    }
}

async fn replicas_sharing_a_database_act_as_one_arbiter(store: Arc<SqlStore>, db: TestDatabase) {
    seed_project(&store, "alpha", "web").await;
    // Three stores with pools of their own on one database, as three server replicas would be.
    let replicas = [
        slot_store(&db, 3, Duration::from_secs(60)).await,
        slot_store(&db, 3, Duration::from_secs(60)).await,
        slot_store(&db, 3, Duration::from_secs(60)).await,
    ];
    let racers = (0..30).map(|i| {
        let replica = replicas[i % 3].clone();
        tokio::spawn(async move {
            replica
                .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let granted: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            SlotAdmission::Granted(slot) => Some(slot.slot_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(granted.len(), 3, "the capacity holds across replicas");
    // A slot granted by one replica is released through another, and a third can then grant it.
    replicas[1]
        .release_query_slot(&frontend("fe"), &granted[0])
        .await
        .unwrap();
    let next = replicas[2]
        .acquire_query_slot(&frontend("fe"), "alpha", "web", slot_request(0))
        .await
        .unwrap();
    assert!(matches!(next, SlotAdmission::Granted(_)), "{next:?}");
}

async fn one_leader_at_a_time_and_a_takeover_fences_the_old_one(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    let ttl = Duration::from_millis(300);
    let first = store
        .try_lead("scheduler", "replica-a", ttl)
        .await
        .unwrap()
        .won()
        .expect("a free lease is taken");
    assert_eq!(first.epoch, 1);
    let LeaseBid::Held { remaining } = store.try_lead("scheduler", "replica-b", ttl).await.unwrap()
    else {
        panic!("held and unexpired, yet taken");
    };
    assert!(
        remaining <= ttl && !remaining.is_zero(),
        "the other bidder learns how long the lease still runs: {remaining:?}"
    );
    let renewed = store
        .renew_lead(&first, ttl)
        .await
        .unwrap()
        .expect("the holder renews");
    assert_eq!(renewed.epoch, 1);
    assert!(renewed.expires_at >= first.expires_at);
    store.verify_leadership(&renewed).await.unwrap();
    // replica-a pauses past its lease; replica-b takes over under a new epoch.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = store
        .try_lead("scheduler", "replica-b", ttl)
        .await
        .unwrap()
        .won()
        .expect("an expired lease is taken");
    assert_eq!(second.epoch, 2);
    assert!(
        matches!(
            store.verify_leadership(&renewed).await,
            Err(StoreError::Fenced(_))
        ),
        "the old leader is fenced"
    );
    assert_eq!(
        store.renew_lead(&renewed, ttl).await.unwrap(),
        None,
        "and cannot renew"
    );
    let state = store.lease_state("scheduler").await.unwrap().unwrap();
    assert_eq!(
        (state.holder.as_str(), state.epoch, state.expired),
        ("replica-b", 2, false)
    );
    store.resign_lead(&second).await.unwrap();
    let third = store
        .try_lead("scheduler", "replica-a", ttl)
        .await
        .unwrap()
        .won()
        .expect("a resigned lease is free");
    assert_eq!(
        third.epoch, 3,
        "epochs only grow, so no earlier leader can pass the fence"
    );
    assert!(matches!(
        store.verify_leadership(&first).await,
        Err(StoreError::Fenced(_))
    ));
}

async fn room_is_kept_for_a_light_tenant_while_a_heavy_one_floods(
    store: Arc<SqlStore>,
    db: TestDatabase,
) {
    seed_project(&store, "light", "web").await;
    seed_project(&store, "heavy", "web").await;
    let settings = QuerySlotSettings {
        capacity: 4,
        lease_ttl: Duration::from_secs(60),
        poll_interval: Duration::from_millis(20),
        demand_time_constant: Duration::from_secs(1),
        ..QuerySlotSettings::default()
    };
    let slots = Arc::new(
        db.open_with(&StoreOptions {
            query_slots: settings,
            ..StoreOptions::default()
        })
        .await,
    );
    // The light tenant has been querying: one query, held for a fifth of the time constant, so
    // its recent demand is well above idle (and decays slowly after).
    let SlotAdmission::Granted(first) = slots
        .acquire_query_slot(&frontend("fe"), "light", "web", slot_request(0))
        .await
        .unwrap()
    else {
        panic!("the cluster is idle")
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    slots
        .release_query_slot(&frontend("fe"), &first.slot_id)
        .await
        .unwrap();
    // The heavy tenant floods: it gets its share and more, but not the room kept for the light one.
    let mut heavy_granted = 0;
    for _ in 0..8 {
        if let SlotAdmission::Granted(_) = slots
            .acquire_query_slot(&frontend("fe"), "heavy", "web", slot_request(0))
            .await
            .unwrap()
        {
            heavy_granted += 1;
        }
    }
    assert!(
        (2..4).contains(&heavy_granted),
        "the heavy tenant holds {heavy_granted} of 4"
    );
    let light = slots
        .acquire_query_slot(&frontend("fe"), "light", "web", slot_request(0))
        .await
        .unwrap();
    assert!(
        matches!(light, SlotAdmission::Granted(_)),
        "the light tenant finds a slot free at once: {light:?}"
    );
}
