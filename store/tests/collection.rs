//! Conformance of collection-config distribution storage: machine groups, collection configs
//! with revisions and rollouts, bindings, enrollment tokens, agents and their sync records, on
//! PostgreSQL and SQLite through the same test body.

use std::sync::Arc;
use std::time::Duration;

use logplane_model::page::PageRequest;
use logplane_model::{
    AgentEnrollRequest, AgentSyncRequest, AgentType, Caller, CollectionConfigSpec,
    CollectionConfigStatus, EnrollmentTokenRequest, LogstoreSpec, MachineGroupSpec, ProjectSpec,
    QuotaSpec, Role, RolloutRequest, SyncState, SyncStatus, TenantSpec, Timestamp,
};
use logplane_store::distribution::{SentBundle, SentConfig};
use logplane_store::testing::TestDatabase;
use logplane_store::{
    AgentSettings, Backend, Ctx, EnrolledAgent, Precondition, PutOutcome, SqlStore, Store,
    StoreError, StoreOptions,
};
use serde_json::json;
use sha2::Digest;

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
    groups_and_configs_follow_the_resource_life_cycle,
    every_config_change_makes_one_revision,
    a_config_needs_its_logstore_and_keeps_it,
    projects_keep_their_groups_and_configs,
    bindings_link_groups_and_configs_both_ways,
    binding_refuses_configs_an_agent_type_in_the_group_cannot_express,
    group_and_config_quotas_count_per_project,
    rollouts_start_at_zero_and_advance_the_previous_revision_only_when_complete,
    rollback_makes_a_new_revision_that_reaches_everyone,
    enrollment_tokens_enroll_until_they_expire_or_are_revoked,
    agents_are_credentials_and_deleting_one_revokes_it,
    silent_agents_expire_and_free_their_quota,
    agents_act_only_for_themselves_within_their_tenant,
    sync_reports_detect_sequence_gaps_and_record_status_per_config,
    a_fleet_reporting_at_once_lands_every_report_and_a_gone_agent_fails_alone,
    a_report_that_breaks_its_batch_fails_alone,
    failures_among_updated_agents_pause_the_rollout,
    distribution_snapshots_follow_the_generation,
    group_members_are_computed_from_selectors_and_enrollment_labels,
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

fn admin() -> Ctx {
    Ctx::new(
        Caller {
            key_id: "root".into(),
            role: Role::PlatformAdmin,
            tenant: None,
        },
        None,
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

fn agent_ctx(agent: &EnrolledAgent) -> Ctx {
    Ctx::new(
        Caller {
            key_id: agent.agent_id.clone(),
            role: Role::Agent,
            tenant: Some(agent.tenant.clone()),
        },
        None,
    )
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

fn page() -> PageRequest {
    PageRequest::first(100)
}

fn config(logstore: &str) -> CollectionConfigSpec {
    serde_json::from_value(json!({
        "sources": [{"file": {"include": ["/var/log/app.log"]}}],
        "destination": {"logstore": logstore}
    }))
    .unwrap()
}

fn config_with_pod_labels(logstore: &str) -> CollectionConfigSpec {
    serde_json::from_value(json!({
        "sources": [{"kubernetes": {"pod_labels": {"match_labels": {"app": "shop"}}}}],
        "destination": {"logstore": logstore}
    }))
    .unwrap()
}

fn group(labels: serde_json::Value) -> MachineGroupSpec {
    serde_json::from_value(json!({"selector": {"match_labels": labels}})).unwrap()
}

/// Tenant `acme`, project `web` with logstore `app`.
async fn seed(store: &SqlStore, tenant: &str) {
    store
        .put_tenant(&admin(), tenant, TenantSpec::default(), Precondition::None)
        .await
        .unwrap();
    store
        .put_project(
            &admin(),
            tenant,
            "web",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    store
        .put_logstore(
            &admin(),
            tenant,
            "web",
            "app",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
}

async fn put_config(store: &SqlStore, name: &str, spec: CollectionConfigSpec) -> i64 {
    store
        .put_collection_config(&admin(), "acme", "web", name, spec, Precondition::None)
        .await
        .unwrap()
        .into_resource()
        .revision
}

async fn put_group(store: &SqlStore, name: &str, spec: MachineGroupSpec) {
    store
        .put_machine_group(&admin(), "acme", "web", name, spec, Precondition::None)
        .await
        .unwrap();
}

async fn enroll(
    store: &SqlStore,
    tenant: &str,
    agent_type: AgentType,
    labels: serde_json::Value,
) -> EnrolledAgent {
    let secret = format!("token-of-{tenant}");
    let hash = sha256_hex(&secret);
    // One token per tenant; creating it again (another secret hash) would also do.
    let exists = store
        .list_enrollment_tokens(&admin(), tenant, page())
        .await
        .unwrap()
        .items
        .len();
    if exists == 0 {
        store
            .create_enrollment_token(
                &admin(),
                tenant,
                EnrollmentTokenRequest {
                    expires_in_s: 3600,
                    labels: Default::default(),
                },
                &hash,
            )
            .await
            .unwrap();
    }
    let request: AgentEnrollRequest = serde_json::from_value(json!({
        "token": secret,
        "agent_type": agent_type,
        "attributes": {"hostname": "host-1", "ip": "10.0.0.7", "labels": labels}
    }))
    .unwrap();
    let agent_secret = format!("agent-secret-{}", rand_suffix());
    store
        .enroll_agent(&hash, request, &sha256_hex(&agent_secret), None)
        .await
        .unwrap()
        .expect("the token enrolls")
}

fn rand_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn sync(seq: i64) -> AgentSyncRequest {
    AgentSyncRequest {
        seq,
        status: None,
        attributes: None,
    }
}

fn status(hash: &str, state: SyncState) -> AgentSyncRequest {
    AgentSyncRequest {
        seq: 0,
        status: Some(SyncStatus {
            hash: hash.into(),
            state,
            message: if state == SyncState::Failed {
                "parse error".into()
            } else {
                String::new()
            },
        }),
        attributes: None,
    }
}

/// How the agents fare with config `nginx` of `acme/web`.
async fn nginx_status(store: &SqlStore) -> CollectionConfigStatus {
    store
        .get_collection_config_status(&admin(), "acme", "web", "nginx")
        .await
        .unwrap()
}

fn sent(hash: &str, configs: &[(&str, i64)]) -> SentBundle {
    SentBundle {
        hash: hash.into(),
        configs: configs
            .iter()
            .map(|(name, revision)| SentConfig {
                project: "web".into(),
                config: name.to_string(),
                revision: *revision,
                skipped: None,
            })
            .collect(),
    }
}

async fn groups_and_configs_follow_the_resource_life_cycle(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    let spec = group(json!({"zone": "b", "role": "edge"}));
    let created = store
        .put_machine_group(
            &admin(),
            "acme",
            "web",
            "edge",
            spec.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(created.is_created());
    let again = store
        .put_machine_group(
            &admin(),
            "acme",
            "web",
            "edge",
            spec.clone(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(again, PutOutcome::Unchanged(_)));
    assert_eq!(again.resource().etag, created.resource().etag);
    let read = store
        .get_machine_group(&tenant_caller("acme", Role::Viewer), "acme", "web", "edge")
        .await
        .unwrap();
    assert_eq!(read.spec(), spec);
    assert_eq!(
        serde_json::to_string(&read.selector.match_labels).unwrap(),
        r#"{"zone":"b","role":"edge"}"#,
        "echoed in the order written"
    );
    let listed = store
        .list_machine_groups(&admin(), "acme", "web", page())
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&read));
    assert!(matches!(
        store
            .put_machine_group(
                &tenant_caller("acme", Role::Viewer),
                "acme",
                "web",
                "other",
                MachineGroupSpec::default(),
                Precondition::None
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .get_machine_group(&tenant_caller("beta", Role::Admin), "acme", "web", "edge")
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_machine_group(&admin(), "acme", "web", "edge", Precondition::None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .get_machine_group(&admin(), "acme", "web", "edge")
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn every_config_change_makes_one_revision(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    let first = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "nginx",
            config("app"),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(first.is_created());
    assert_eq!(first.resource().revision, 1);
    assert_eq!(
        first.resource().content_hash,
        logplane_collect::config_content_hash(&config("app"))
    );
    let unchanged = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "nginx",
            config("app"),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(unchanged, PutOutcome::Unchanged(_)));
    assert_eq!(
        unchanged.resource().revision,
        1,
        "a no-op makes no revision"
    );
    let mut changed_spec = config("app");
    changed_spec.processors =
        serde_json::from_value(json!([{"drop_fields": {"fields": ["x"]}}])).unwrap();
    let changed = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "nginx",
            changed_spec.clone(),
            Precondition::IfMatch(Some(first.resource().etag.clone())),
        )
        .await
        .unwrap();
    assert_eq!(changed.resource().revision, 2);
    assert_ne!(
        changed.resource().content_hash,
        first.resource().content_hash
    );
    let revisions = store
        .list_collection_config_revisions(&admin(), "acme", "web", "nginx", page())
        .await
        .unwrap();
    let numbers: Vec<i64> = revisions.items.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [2, 1], "newest first");
    assert_eq!(revisions.items[0].spec, changed_spec);
    assert_eq!(revisions.items[1].spec, config("app"));
    let first_page = store
        .list_collection_config_revisions(&admin(), "acme", "web", "nginx", PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first_page.items.len(), 1);
    let rest = store
        .list_collection_config_revisions(
            &admin(),
            "acme",
            "web",
            "nginx",
            PageRequest {
                size: 1,
                after: first_page.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items[0].revision, 1);
    let read = store
        .get_collection_config(&admin(), "acme", "web", "nginx")
        .await
        .unwrap();
    assert_eq!(
        (read.revision, read.etag.clone()),
        (2, changed.resource().etag.clone())
    );
    let listed = store
        .list_collection_configs(&admin(), "acme", "web", page())
        .await
        .unwrap();
    assert_eq!(listed.items, [read]);
}

async fn a_config_needs_its_logstore_and_keeps_it(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    let missing = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "nginx",
            config("nope"),
            Precondition::None,
        )
        .await;
    let Err(StoreError::Invalid(errors)) = missing else {
        panic!("a missing logstore is a validation error: {missing:?}");
    };
    assert_eq!(errors.errors[0].field, "destination.logstore");
    put_config(&store, "nginx", config("app")).await;
    let refused = store
        .delete_logstore(&admin(), "acme", "web", "app", Precondition::None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    store
        .put_logstore(
            &admin(),
            "acme",
            "web",
            "other",
            LogstoreSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    put_config(&store, "nginx", config("other")).await;
    store
        .delete_logstore(&admin(), "acme", "web", "app", Precondition::None)
        .await
        .expect("no config sends to it any more");
}

async fn projects_keep_their_groups_and_configs(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    put_group(&store, "edge", MachineGroupSpec::default()).await;
    put_config(&store, "nginx", config("app")).await;
    store
        .delete_collection_config(&admin(), "acme", "web", "nginx", Precondition::None)
        .await
        .unwrap();
    store
        .delete_logstore(&admin(), "acme", "web", "app", Precondition::None)
        .await
        .unwrap();
    let refused = store
        .delete_project(&admin(), "acme", "web", Precondition::None)
        .await;
    let Err(StoreError::Conflict(message)) = refused else {
        panic!("{refused:?}");
    };
    assert!(message.contains("machine groups"), "{message}");
    store
        .delete_machine_group(&admin(), "acme", "web", "edge", Precondition::None)
        .await
        .unwrap();
    store
        .delete_project(&admin(), "acme", "web", Precondition::None)
        .await
        .unwrap();
}

async fn bindings_link_groups_and_configs_both_ways(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    put_group(&store, "edge", MachineGroupSpec::default()).await;
    put_group(&store, "core", MachineGroupSpec::default()).await;
    put_config(&store, "nginx", config("app")).await;
    put_config(&store, "syslog", config("app")).await;
    let created = store
        .put_binding(&admin(), "acme", "web", "edge", "nginx")
        .await
        .unwrap();
    assert!(created.is_created());
    let again = store
        .put_binding(&admin(), "acme", "web", "edge", "nginx")
        .await
        .unwrap();
    assert!(matches!(again, PutOutcome::Unchanged(_)));
    assert_eq!(again.resource(), created.resource());
    store
        .put_binding(&admin(), "acme", "web", "edge", "syslog")
        .await
        .unwrap();
    store
        .put_binding(&admin(), "acme", "web", "core", "nginx")
        .await
        .unwrap();
    let of_group: Vec<String> = store
        .list_machine_group_bindings(&admin(), "acme", "web", "edge", page())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| b.collection_config)
        .collect();
    assert_eq!(of_group, ["nginx", "syslog"]);
    let of_config: Vec<String> = store
        .list_collection_config_bindings(&admin(), "acme", "web", "nginx", page())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| b.machine_group)
        .collect();
    assert_eq!(of_config, ["core", "edge"]);
    assert!(matches!(
        store.put_binding(&admin(), "acme", "web", "nope", "nginx").await,
        Err(StoreError::NotFound(path)) if path.ends_with("machine-groups/nope")
    ));
    assert!(matches!(
        store.put_binding(&admin(), "acme", "web", "edge", "nope").await,
        Err(StoreError::NotFound(path)) if path.ends_with("collection-configs/nope")
    ));
    for refused in [
        store
            .delete_machine_group(&admin(), "acme", "web", "edge", Precondition::None)
            .await,
        store
            .delete_collection_config(&admin(), "acme", "web", "nginx", Precondition::None)
            .await,
    ] {
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
    }
    store
        .delete_binding(&admin(), "acme", "web", "edge", "nginx")
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_binding(&admin(), "acme", "web", "edge", "nginx")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .put_binding(
                &tenant_caller("acme", Role::Viewer),
                "acme",
                "web",
                "edge",
                "nginx"
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn binding_refuses_configs_an_agent_type_in_the_group_cannot_express(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    put_group(&store, "k8s", group(json!({"kind": "node"}))).await;
    put_config(&store, "shop", config_with_pod_labels("app")).await;
    // No collector agent in the group yet: binding is allowed.
    store
        .put_binding(&admin(), "acme", "web", "k8s", "shop")
        .await
        .unwrap();
    store
        .delete_binding(&admin(), "acme", "web", "k8s", "shop")
        .await
        .unwrap();
    enroll(
        &store,
        "acme",
        AgentType::OtelCollector,
        json!({"kind": "node"}),
    )
    .await;
    let refused = store
        .put_binding(&admin(), "acme", "web", "k8s", "shop")
        .await;
    let Err(StoreError::Invalid(errors)) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(errors.errors[0].field, "sources[0].kubernetes.pod_labels");
    assert!(
        errors.errors[0].message.contains("otel-collector"),
        "{errors:?}"
    );
    // A config every type can run binds; changing it into one the group cannot run is refused.
    put_config(&store, "files", config("app")).await;
    store
        .put_binding(&admin(), "acme", "web", "k8s", "files")
        .await
        .unwrap();
    let changed = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "files",
            config_with_pod_labels("app"),
            Precondition::None,
        )
        .await;
    assert!(
        matches!(changed, Err(StoreError::Invalid(_))),
        "{changed:?}"
    );
}

async fn group_and_config_quotas_count_per_project(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    store
        .put_quota(
            &admin(),
            "acme",
            QuotaSpec {
                max_machine_groups_per_project: Some(1),
                max_collection_configs_per_project: Some(1),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    put_group(&store, "one", MachineGroupSpec::default()).await;
    put_config(&store, "one", config("app")).await;
    let group_refused = store
        .put_machine_group(
            &admin(),
            "acme",
            "web",
            "two",
            MachineGroupSpec::default(),
            Precondition::None,
        )
        .await;
    let Err(StoreError::QuotaExceeded(exceeded)) = group_refused else {
        panic!("{group_refused:?}");
    };
    assert_eq!(
        (exceeded.quota, exceeded.limit, exceeded.usage),
        ("max_machine_groups_per_project", 1, 1)
    );
    let config_refused = store
        .put_collection_config(
            &admin(),
            "acme",
            "web",
            "two",
            config("app"),
            Precondition::None,
        )
        .await;
    let Err(StoreError::QuotaExceeded(exceeded)) = config_refused else {
        panic!("{config_refused:?}");
    };
    assert_eq!(exceeded.quota, "max_collection_configs_per_project");
    // Replacing an existing one is not a create.
    put_group(&store, "one", group(json!({"a": "b"}))).await;
    let usage = store.get_usage(&admin(), "acme").await.unwrap();
    let counts: Vec<_> = usage.projects[0]
        .counts
        .iter()
        .map(|c| (c.quota.as_str(), c.used))
        .collect();
    assert!(
        counts.contains(&("max_machine_groups_per_project", 1)),
        "{counts:?}"
    );
    assert!(
        counts.contains(&("max_collection_configs_per_project", 1)),
        "{counts:?}"
    );
}

async fn rollouts_start_at_zero_and_advance_the_previous_revision_only_when_complete(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    put_config(&store, "nginx", config("app")).await;
    let status = nginx_status(&store).await;
    assert_eq!(
        (
            status.rollout.revision,
            status.rollout.previous_revision,
            status.rollout.percent,
            status.rollout.paused
        ),
        (1, None, 0, false)
    );
    let set = |percent| {
        let store = store.clone();
        async move {
            store
                .put_collection_config_rollout(
                    &admin(),
                    "acme",
                    "web",
                    "nginx",
                    RolloutRequest { percent },
                )
                .await
        }
    };
    let raised = set(40).await.unwrap();
    assert_eq!(raised.resource().percent, 40);
    assert!(matches!(set(40).await.unwrap(), PutOutcome::Unchanged(_)));
    assert!(matches!(set(101).await, Err(StoreError::Invalid(_))));
    // An unfinished rollout is not a base: the next revision keeps no previous one.
    let mut second = config("app");
    second.processors =
        serde_json::from_value(json!([{"drop_fields": {"fields": ["a"]}}])).unwrap();
    put_config(&store, "nginx", second.clone()).await;
    let status = nginx_status(&store).await;
    assert_eq!(
        (
            status.rollout.revision,
            status.rollout.previous_revision,
            status.rollout.percent
        ),
        (2, None, 0)
    );
    set(100).await.unwrap();
    second.processors =
        serde_json::from_value(json!([{"drop_fields": {"fields": ["b"]}}])).unwrap();
    put_config(&store, "nginx", second).await;
    let status = nginx_status(&store).await;
    assert_eq!(
        (
            status.rollout.revision,
            status.rollout.previous_revision,
            status.rollout.percent
        ),
        (3, Some(2), 0),
        "a complete rollout becomes the base of the next"
    );
    let revisions: Vec<i64> = status.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [3, 2], "live revisions, newest first");
    // Resume is idempotent on a running rollout.
    let resumed = store
        .resume_collection_config_rollout(&admin(), "acme", "web", "nginx")
        .await
        .unwrap();
    assert!(!resumed.paused);
}

async fn rollback_makes_a_new_revision_that_reaches_everyone(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    put_config(&store, "nginx", config("app")).await;
    let mut second = config("app");
    second.processors =
        serde_json::from_value(json!([{"drop_fields": {"fields": ["a"]}}])).unwrap();
    put_config(&store, "nginx", second).await;
    let rolled_back = store
        .rollback_collection_config(&admin(), "acme", "web", "nginx", 1)
        .await
        .unwrap();
    assert_eq!(rolled_back.revision, 3);
    assert_eq!(rolled_back.spec(), config("app"));
    assert_eq!(
        rolled_back.content_hash,
        logplane_collect::config_content_hash(&config("app"))
    );
    let status = nginx_status(&store).await;
    assert_eq!((status.rollout.revision, status.rollout.percent), (3, 100));
    let Err(StoreError::Invalid(errors)) = store
        .rollback_collection_config(&admin(), "acme", "web", "nginx", 42)
        .await
    else {
        panic!("an unknown revision names the field");
    };
    assert_eq!(errors.errors[0].field, "revision");
    assert!(
        matches!(
            store
                .rollback_collection_config(&admin(), "acme", "web", "nginx", 1)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "revision 1 is the current content"
    );
    let numbers: Vec<i64> = store
        .list_collection_config_revisions(&admin(), "acme", "web", "nginx", page())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
}

async fn enrollment_tokens_enroll_until_they_expire_or_are_revoked(
    store: Arc<SqlStore>,
    db: TestDatabase,
) {
    seed(&store, "acme").await;
    let hash = sha256_hex("fleet-secret");
    let token = store
        .create_enrollment_token(
            &tenant_caller("acme", Role::Admin),
            "acme",
            EnrollmentTokenRequest {
                expires_in_s: 3600,
                labels: [("env".to_string(), "prod".to_string())]
                    .into_iter()
                    .collect(),
            },
            &hash,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_enrollment_token(
                &tenant_caller("acme", Role::Editor),
                "acme",
                EnrollmentTokenRequest {
                    expires_in_s: 3600,
                    labels: Default::default()
                },
                &sha256_hex("x"),
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .create_enrollment_token(
                &admin(),
                "acme",
                EnrollmentTokenRequest {
                    expires_in_s: 10,
                    labels: Default::default()
                },
                &sha256_hex("y"),
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    let listed = store
        .list_enrollment_tokens(&admin(), "acme", page())
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&token));
    let request: AgentEnrollRequest = serde_json::from_value(json!({
        "token": "fleet-secret", "agent_type": "native", "attributes": {"hostname": "web-1"}
    }))
    .unwrap();
    let enrolled = store
        .enroll_agent(&hash, request.clone(), &sha256_hex("agent-1"), None)
        .await
        .unwrap()
        .expect("a valid token enrolls");
    assert_eq!(enrolled.tenant, "acme");
    assert!(
        store
            .enroll_agent(
                &sha256_hex("wrong"),
                request.clone(),
                &sha256_hex("agent-2"),
                None
            )
            .await
            .unwrap()
            .is_none()
    );
    db.execute("UPDATE agent_enrollment_tokens SET expires_at = 0")
        .await;
    assert!(
        store
            .enroll_agent(&hash, request.clone(), &sha256_hex("agent-3"), None)
            .await
            .unwrap()
            .is_none(),
        "an expired token enrolls nobody"
    );
    db.execute("UPDATE agent_enrollment_tokens SET expires_at = 9000000000000000")
        .await;
    store
        .delete_enrollment_token(&tenant_caller("acme", Role::Admin), "acme", &token.id)
        .await
        .unwrap();
    assert!(
        store
            .enroll_agent(&hash, request, &sha256_hex("agent-4"), None)
            .await
            .unwrap()
            .is_none(),
        "a revoked token enrolls nobody"
    );
    assert!(matches!(
        store
            .delete_enrollment_token(&admin(), "acme", &token.id)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let agents = store.list_agents(&admin(), "acme", page()).await.unwrap();
    assert_eq!(agents.items.len(), 1, "the enrolled agent stays");
    assert_eq!(agents.items[0].enrollment_labels["env"], "prod");
    assert!(agents.items[0].online);
}

async fn agents_are_credentials_and_deleting_one_revokes_it(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    let hash = sha256_hex("fleet");
    store
        .create_enrollment_token(
            &admin(),
            "acme",
            EnrollmentTokenRequest {
                expires_in_s: 600,
                labels: Default::default(),
            },
            &hash,
        )
        .await
        .unwrap();
    let request: AgentEnrollRequest = serde_json::from_value(json!({
        "token": "fleet", "agent_type": "vector", "attributes": {"hostname": "web-1"}
    }))
    .unwrap();
    let enrolled = store
        .enroll_agent(&hash, request.clone(), &sha256_hex("agent-key"), None)
        .await
        .unwrap()
        .unwrap();
    let caller = store
        .find_key_by_secret_hash(&sha256_hex("agent-key"))
        .await
        .unwrap()
        .expect("the agent key is a key");
    assert_eq!(
        (
            caller.key_id.as_str(),
            caller.role,
            caller.tenant.as_deref()
        ),
        (enrolled.agent_id.as_str(), Role::Agent, Some("acme"))
    );
    let identity = store
        .find_key_by_id(&enrolled.agent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.caller, caller);
    // An agent token's lookup finds the agent, without an API rate of the tenant's.
    let agent = store
        .find_agent_by_id(&enrolled.agent_id)
        .await
        .unwrap()
        .expect("the agent is found as an agent");
    assert_eq!((agent.caller, agent.api_rate), (caller, None));
    // Agent keys are not API keys: they do not count against max_api_keys nor show in lists.
    assert!(
        store
            .list_api_keys(
                &admin(),
                &logplane_model::KeyScope::Tenant("acme".into()),
                page()
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
    set_max_agents(&store, "acme", 1).await;
    let over = store
        .enroll_agent(&hash, request, &sha256_hex("agent-key-2"), None)
        .await;
    assert!(
        matches!(over, Err(StoreError::QuotaExceeded(ref e)) if e.quota == "max_agents"),
        "{over:?}"
    );
    assert!(matches!(
        store
            .delete_agent(
                &tenant_caller("acme", Role::Editor),
                "acme",
                &enrolled.agent_id
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .delete_agent(
            &tenant_caller("acme", Role::Admin),
            "acme",
            &enrolled.agent_id,
        )
        .await
        .unwrap();
    assert!(
        store
            .find_key_by_id(&enrolled.agent_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_agent_by_id(&enrolled.agent_id)
            .await
            .unwrap()
            .is_none(),
        "a deleted agent's tokens name nobody"
    );
    assert!(
        store
            .find_key_by_secret_hash(&sha256_hex("agent-key"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn set_max_agents(store: &SqlStore, tenant: &str, max_agents: i64) {
    let quota = QuotaSpec {
        max_agents: Some(max_agents),
        ..Default::default()
    };
    store
        .put_quota(&admin(), tenant, quota, Precondition::None)
        .await
        .unwrap();
}

/// Makes agents look silent since `days` ago.
async fn silence(db: &TestDatabase, agents: &[&EnrolledAgent], days: i64) {
    let since = Timestamp::now().unix_micros() - days * 24 * 3600 * 1_000_000;
    let ids: Vec<String> = agents.iter().map(|a| format!("'{}'", a.agent_id)).collect();
    db.execute(&format!(
        "UPDATE agents SET last_seen_at = {since} WHERE id IN ({})",
        ids.join(", ")
    ))
    .await;
}

async fn expired_agents_of(store: &SqlStore, tenant: &str) -> Vec<String> {
    let events = store
        .list_audit_events(&admin(), Some(tenant), PageRequest::first(100))
        .await
        .unwrap();
    events
        .items
        .into_iter()
        .filter(|e| e.action == "agent.expire" && e.actor == "system:agent-expiry")
        .map(|e| e.resource)
        .collect()
}

async fn silent_agents_expire_and_free_their_quota(store: Arc<SqlStore>, db: TestDatabase) {
    seed(&store, "acme").await;
    seed(&store, "globex").await;
    let gone = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let quiet = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let alive = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let elsewhere = enroll(&store, "globex", AgentType::Vector, json!({})).await;
    // Silent for 8 days: past the default expiry of 7. Silent for 6: shown offline, kept.
    silence(&db, &[&gone, &elsewhere], 8).await;
    silence(&db, &[&quiet], 6).await;

    assert_eq!(store.expire_silent_agents().await.unwrap(), 2);
    for removed in [&gone, &elsewhere] {
        assert!(
            store
                .find_agent_by_id(&removed.agent_id)
                .await
                .unwrap()
                .is_none()
        );
    }
    for kept in [&quiet, &alive] {
        assert!(
            store
                .find_agent_by_id(&kept.agent_id)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(
        expired_agents_of(&store, "acme").await,
        [format!("tenants/acme/agents/{}", gone.agent_id)]
    );
    assert_eq!(expired_agents_of(&store, "globex").await.len(), 1);
    // A second sweep finds nothing and audits nothing again.
    assert_eq!(store.expire_silent_agents().await.unwrap(), 0);
    assert_eq!(expired_agents_of(&store, "acme").await.len(), 1);

    // At its quota, an enrollment first expires the tenant's silent agents itself rather than
    // waiting for the next sweep.
    set_max_agents(&store, "acme", 2).await;
    silence(&db, &[&quiet], 30).await;
    let newcomer = enroll(&store, "acme", AgentType::Native, json!({})).await;
    assert!(
        store
            .find_agent_by_id(&quiet.agent_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(expired_agents_of(&store, "acme").await.len(), 2);
    // With no silent agent left to expire, the quota holds.
    let request: AgentEnrollRequest = serde_json::from_value(json!({
        "token": "token-of-acme", "agent_type": "native", "attributes": {"hostname": "h"}
    }))
    .unwrap();
    let over = store
        .enroll_agent(
            &sha256_hex("token-of-acme"),
            request,
            &sha256_hex("k"),
            None,
        )
        .await;
    assert!(
        matches!(over, Err(StoreError::QuotaExceeded(ref e)) if e.quota == "max_agents" && e.usage == 2),
        "{over:?}"
    );

    // A store configured never to expire agents leaves silent ones alone.
    silence(&db, &[&newcomer], 365).await;
    let never = db
        .open_with(&StoreOptions {
            agents: AgentSettings {
                expire_after: None,
                ..AgentSettings::default()
            },
            ..StoreOptions::default()
        })
        .await;
    assert_eq!(never.expire_silent_agents().await.unwrap(), 0);
    assert!(
        never
            .find_agent_by_id(&newcomer.agent_id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn agents_act_only_for_themselves_within_their_tenant(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    seed(&store, "beta").await;
    let alpha_agent = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let other_alpha_agent = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let beta_agent = enroll(&store, "beta", AgentType::Native, json!({})).await;
    store
        .report_agent_sync(&agent_ctx(&alpha_agent), &alpha_agent.agent_id, sync(1))
        .await
        .unwrap();
    for (who, target) in [
        (&beta_agent, &alpha_agent),
        (&other_alpha_agent, &alpha_agent),
    ] {
        let refused = store
            .report_agent_sync(&agent_ctx(who), &target.agent_id, sync(2))
            .await;
        assert!(
            matches!(refused, Err(StoreError::NotFound(_))),
            "{refused:?}"
        );
    }
    assert!(matches!(
        store
            .load_distribution(&agent_ctx(&beta_agent), "acme")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .load_distribution(&tenant_caller("acme", Role::Admin), "acme")
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(
        matches!(
            store
                .list_agents(&agent_ctx(&alpha_agent), "acme", page())
                .await,
            Err(StoreError::Forbidden(_))
        ),
        "agents reach the agent protocol only"
    );
}

async fn sync_reports_detect_sequence_gaps_and_record_status_per_config(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    put_config(&store, "nginx", config("app")).await;
    let agent = enroll(&store, "acme", AgentType::Native, json!({"role": "edge"})).await;
    let ctx = agent_ctx(&agent);
    let first = store
        .report_agent_sync(&ctx, &agent.agent_id, sync(7))
        .await
        .unwrap();
    assert!(
        !first.full_state_requested,
        "the first call sets the sequence"
    );
    assert_eq!(first.agent.attributes.labels["role"], "edge");
    assert!(first.sent.hash.is_none());
    let next = store
        .report_agent_sync(&ctx, &agent.agent_id, sync(8))
        .await
        .unwrap();
    assert!(!next.full_state_requested);
    let gap = store
        .report_agent_sync(&ctx, &agent.agent_id, sync(10))
        .await
        .unwrap();
    assert!(
        gap.full_state_requested,
        "a skipped seq asks for the full state"
    );
    let restart = store
        .report_agent_sync(&ctx, &agent.agent_id, sync(1))
        .await
        .unwrap();
    assert!(restart.full_state_requested, "a restarted sequence too");
    store
        .report_agent_sync(&ctx, &agent.agent_id, sync(i64::MAX))
        .await
        .unwrap();
    let after_max = store
        .report_agent_sync(&ctx, &agent.agent_id, sync(1))
        .await
        .unwrap();
    assert!(after_max.full_state_requested, "nothing follows i64::MAX");

    store
        .record_agent_bundle(&ctx, &agent.agent_id, sent("aa", &[("nginx", 1)]))
        .await
        .unwrap();
    let mut applied = status("aa", SyncState::Applied);
    applied.seq = 2;
    let report = store
        .report_agent_sync(&ctx, &agent.agent_id, applied)
        .await
        .unwrap();
    assert_eq!(report.sent.hash.as_deref(), Some("aa"));
    assert_eq!(report.agent.applied_revision("web", "nginx"), Some(1));
    let status_view = nginx_status(&store).await;
    let revision = &status_view.revisions[0];
    assert_eq!(
        (
            revision.revision,
            revision.targeted,
            revision.applied,
            revision.failed
        ),
        (1, 1, 1, 0)
    );
    let agents = store.list_agents(&admin(), "acme", page()).await.unwrap();
    assert_eq!(agents.items[0].applied_hash.as_deref(), Some("aa"));
    assert_eq!(agents.items[0].desired_hash.as_deref(), Some("aa"));
    // Attributes sent with a call replace the stored ones.
    let mut moved = sync(3);
    moved.attributes = Some(
        serde_json::from_value(json!({"hostname": "web-9", "labels": {"role": "core"}})).unwrap(),
    );
    let report = store
        .report_agent_sync(&ctx, &agent.agent_id, moved)
        .await
        .unwrap();
    assert_eq!(report.agent.attributes.hostname, "web-9");
    assert_eq!(report.agent.attributes.labels["role"], "core");
}

/// A change wakes the whole fleet at once: the reports and records that arrive together are
/// written together, and each still lands (or fails) as its own.
async fn a_fleet_reporting_at_once_lands_every_report_and_a_gone_agent_fails_alone(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    const FLEET: usize = 48;
    seed(&store, "acme").await;
    put_config(&store, "nginx", config("app")).await;
    let mut fleet = Vec::new();
    for _ in 0..FLEET {
        fleet.push(enroll(&store, "acme", AgentType::Native, json!({})).await);
    }
    let gone = enroll(&store, "acme", AgentType::Native, json!({})).await;
    store
        .delete_agent(&admin(), "acme", &gone.agent_id)
        .await
        .unwrap();

    let calls = fleet.iter().chain([&gone]).map(|agent| {
        let store = store.clone();
        let agent = agent.clone();
        tokio::spawn(async move {
            let ctx = agent_ctx(&agent);
            let report = store
                .report_agent_sync(&ctx, &agent.agent_id, sync(1))
                .await;
            let record = store
                .record_agent_bundle(&ctx, &agent.agent_id, sent("aa", &[("nginx", 1)]))
                .await;
            (agent.agent_id, report.map(|_| ()), record)
        })
    });
    let results = futures::future::join_all(calls).await;
    for result in results {
        let (agent, report, record) = result.unwrap();
        if agent == gone.agent_id {
            assert!(matches!(report, Err(StoreError::NotFound(_))), "{report:?}");
            assert!(matches!(record, Err(StoreError::NotFound(_))), "{record:?}");
        } else {
            report.unwrap();
            record.unwrap();
        }
    }

    // Then every agent reports on the bundle at once: most applied it, a few failed.
    const FAILING: usize = 5;
    let calls = fleet.iter().enumerate().map(|(at, agent)| {
        let store = store.clone();
        let agent = agent.clone();
        tokio::spawn(async move {
            let state = if at < FAILING {
                SyncState::Failed
            } else {
                SyncState::Applied
            };
            let mut report = status("aa", state);
            report.seq = 2;
            store
                .report_agent_sync(&agent_ctx(&agent), &agent.agent_id, report)
                .await
                .map(|report| report.agent.applied_revision("web", "nginx"))
        })
    });
    for (at, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let running = result.unwrap().unwrap();
        let expected = if at < FAILING { None } else { Some(1) };
        assert_eq!(running, expected, "agent {at} runs what it applied");
    }
    let status_view = nginx_status(&store).await;
    let revision = &status_view.revisions[0];
    assert_eq!(
        (revision.targeted, revision.applied, revision.failed),
        (FLEET as i64, (FLEET - FAILING) as i64, FAILING as i64)
    );
    assert_eq!(revision.messages[0].agents, FAILING as i64);

    // Each report stored its own sequence number and each record its own bundle.
    for agent in &fleet {
        let next = store
            .report_agent_sync(&agent_ctx(agent), &agent.agent_id, sync(3))
            .await
            .unwrap();
        assert!(
            !next.full_state_requested,
            "seq 2 of {} was kept",
            agent.agent_id
        );
        assert_eq!(next.sent.hash.as_deref(), Some("aa"));
    }
    let agents = store.list_agents(&admin(), "acme", page()).await.unwrap();
    let applied = agents
        .items
        .iter()
        .filter(|agent| agent.applied_hash.as_deref() == Some("aa"))
        .count();
    assert_eq!(applied, FLEET - FAILING);
}

/// A report that fails its batch's transaction for a reason of its own (here a stored row that
/// no longer parses) fails alone: the batch is written again item by item, and the others land.
async fn a_report_that_breaks_its_batch_fails_alone(store: Arc<SqlStore>, db: TestDatabase) {
    const FLEET: usize = 16;
    seed(&store, "acme").await;
    let mut fleet = Vec::new();
    for _ in 0..FLEET {
        fleet.push(enroll(&store, "acme", AgentType::Native, json!({})).await);
    }
    let broken = fleet[FLEET / 2].agent_id.clone();
    db.execute(&format!(
        "UPDATE agents SET attributes = 'not json' WHERE id = '{broken}'"
    ))
    .await;

    let calls = fleet.iter().map(|agent| {
        let store = store.clone();
        let agent = agent.clone();
        tokio::spawn(async move {
            let report = store
                .report_agent_sync(&agent_ctx(&agent), &agent.agent_id, sync(1))
                .await;
            (agent.agent_id, report.map(|_| ()))
        })
    });
    for result in futures::future::join_all(calls).await {
        let (agent, report) = result.unwrap();
        if agent == broken {
            assert!(matches!(report, Err(StoreError::Internal(_))), "{report:?}");
        } else {
            report.unwrap();
        }
    }
    for agent in fleet.iter().filter(|agent| agent.agent_id != broken) {
        let next = store
            .report_agent_sync(&agent_ctx(agent), &agent.agent_id, sync(2))
            .await
            .unwrap();
        assert!(
            !next.full_state_requested,
            "seq 1 of {} was kept",
            agent.agent_id
        );
    }
}

async fn failures_among_updated_agents_pause_the_rollout(store: Arc<SqlStore>, db: TestDatabase) {
    drop(store);
    let store = Arc::new(
        db.open_with(&StoreOptions {
            agents: AgentSettings {
                offline_after: Duration::from_secs(180),
                auto_pause_failed_percent: 10,
                ..AgentSettings::default()
            },
            ..StoreOptions::default()
        })
        .await,
    );
    seed(&store, "acme").await;
    put_config(&store, "nginx", config("app")).await;
    store
        .put_collection_config_rollout(
            &admin(),
            "acme",
            "web",
            "nginx",
            RolloutRequest { percent: 100 },
        )
        .await
        .unwrap();
    let failures = store.failure_reports();
    let mut agents = Vec::new();
    for _ in 0..3 {
        agents.push(enroll(&store, "acme", AgentType::Native, json!({})).await);
    }
    for agent in &agents {
        store
            .record_agent_bundle(
                &agent_ctx(agent),
                &agent.agent_id,
                sent("bb", &[("nginx", 1)]),
            )
            .await
            .unwrap();
    }
    for agent in &agents[..2] {
        store
            .report_agent_sync(
                &agent_ctx(agent),
                &agent.agent_id,
                status("bb", SyncState::Applied),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.reconcile_rollouts().await.unwrap(),
        0,
        "nobody failed"
    );
    let woken = failures.notified();
    store
        .report_agent_sync(
            &agent_ctx(&agents[2]),
            &agents[2].agent_id,
            status("bb", SyncState::Failed),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), woken)
        .await
        .expect("a failure report wakes the rollout guard");
    assert_eq!(
        store.reconcile_rollouts().await.unwrap(),
        1,
        "1 of 3 failed: over 10%"
    );
    assert_eq!(store.reconcile_rollouts().await.unwrap(), 0, "paused once");
    let status_view = nginx_status(&store).await;
    assert!(status_view.rollout.paused);
    assert!(
        status_view
            .rollout
            .paused_reason
            .as_deref()
            .unwrap()
            .contains("1 of 3")
    );
    let revision = &status_view.revisions[0];
    assert_eq!((revision.applied, revision.failed), (2, 1));
    assert_eq!(revision.messages[0].message, "parse error");
    assert!(
        matches!(
            store
                .put_collection_config_rollout(
                    &admin(),
                    "acme",
                    "web",
                    "nginx",
                    RolloutRequest { percent: 50 }
                )
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a paused rollout refuses new percentages"
    );
    let resumed = store
        .resume_collection_config_rollout(&admin(), "acme", "web", "nginx")
        .await
        .unwrap();
    assert!(!resumed.paused && resumed.paused_reason.is_none());
    let events = store
        .list_audit_events(&admin(), Some("acme"), PageRequest::first(50))
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.action == "rollout.auto_pause" && e.actor == "system:rollout-guard")
    );
}

async fn distribution_snapshots_follow_the_generation(store: Arc<SqlStore>, _db: TestDatabase) {
    seed(&store, "acme").await;
    let agent = enroll(&store, "acme", AgentType::Native, json!({})).await;
    let ctx = agent_ctx(&agent);
    let mut watch = store.watch_distribution("acme");
    let empty = store.load_distribution(&ctx, "acme").await.unwrap();
    assert!(empty.groups.is_empty());
    put_group(&store, "edge", group(json!({"role": "edge"}))).await;
    tokio::time::timeout(Duration::from_secs(1), watch.changed())
        .await
        .expect("a change made here is published at once")
        .unwrap();
    let after_group = *watch.borrow_and_update();
    assert!(after_group > empty.generation);
    put_config(&store, "nginx", config("app")).await;
    store
        .put_binding(&admin(), "acme", "web", "edge", "nginx")
        .await
        .unwrap();
    let snapshot = store.load_distribution(&ctx, "acme").await.unwrap();
    assert!(snapshot.generation > after_group);
    assert_eq!(*watch.borrow(), snapshot.generation);
    assert_eq!(snapshot.groups.len(), 1);
    assert_eq!(snapshot.groups[0].configs, ["nginx"]);
    let nginx = &snapshot.configs[0];
    assert_eq!((nginx.rollout.new_revision, nginx.rollout.percent), (1, 0));
    assert_eq!(*nginx.revision(1).unwrap().spec, config("app"));
    // Another replica's change reaches this one's waiters by polling.
    let other_replica = store.clone();
    other_replica
        .put_collection_config_rollout(
            &admin(),
            "acme",
            "web",
            "nginx",
            RolloutRequest { percent: 30 },
        )
        .await
        .unwrap();
    store.poll_distribution().await.unwrap();
    assert!(*watch.borrow() > snapshot.generation);
}

async fn group_members_are_computed_from_selectors_and_enrollment_labels(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed(&store, "acme").await;
    let edge = enroll(&store, "acme", AgentType::Native, json!({"role": "edge"})).await;
    enroll(&store, "acme", AgentType::Native, json!({"role": "core"})).await;
    put_group(&store, "edge", group(json!({"role": "edge"}))).await;
    let members = store
        .list_machine_group_agents(&admin(), "acme", "web", "edge", page())
        .await
        .unwrap();
    let ids: Vec<&str> = members.items.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, [edge.agent_id.as_str()]);
    let everyone = store
        .put_machine_group(
            &admin(),
            "acme",
            "web",
            "all",
            MachineGroupSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(everyone.is_created());
    let first = store
        .list_machine_group_agents(&admin(), "acme", "web", "all", PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let second = store
        .list_machine_group_agents(
            &admin(),
            "acme",
            "web",
            "all",
            PageRequest {
                size: 1,
                after: first.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
    assert_ne!(first.items[0].id, second.items[0].id);
}
