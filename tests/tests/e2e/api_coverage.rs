//! The client reaches every operation the server documents, and each behaves as documented:
//! paging, preconditions, deletes, keys, audit, metrics. A new server operation without a client
//! method fails the first assertion here.

use std::collections::BTreeSet;

use logplane_client::{Client, PageOptions, Precondition, StatusCode};
use logplane_e2e::{LogplaneServer, ServerConfig};
use logplane_model::{
    ApiKeyRequest, LogstoreSpec, ProjectSpec, QuerySlotRequest, QuotaSpec, Role, ShardSplitRequest,
    TenantSpec, WorkerCapacity, WorkerHeartbeat, WorkerRole, WorkerSpec, WorkerState,
};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::{expect_refusal, location};

/// Every operation id `logplane-client` has a method for.
const CLIENT_OPERATIONS: &[&str] = &[
    "token_create",
    "tenant_put",
    "tenant_get",
    "tenant_delete",
    "tenant_list",
    "project_put",
    "project_get",
    "project_delete",
    "project_list",
    "logstore_put",
    "logstore_get",
    "logstore_delete",
    "logstore_list",
    "shard_list",
    "platform_api_key_create",
    "platform_api_key_get",
    "platform_api_key_delete",
    "platform_api_key_list",
    "api_key_create",
    "api_key_get",
    "api_key_delete",
    "api_key_list",
    "platform_audit_event_list",
    "audit_event_list",
    "quota_get",
    "quota_put",
    "usage_get",
    "query_slot_acquire",
    "query_slot_renew",
    "query_slot_release",
    "machine_group_put",
    "machine_group_get",
    "machine_group_delete",
    "machine_group_list",
    "machine_group_agent_list",
    "machine_group_config_list",
    "binding_put",
    "binding_delete",
    "collection_config_put",
    "collection_config_get",
    "collection_config_delete",
    "collection_config_list",
    "collection_config_revision_list",
    "collection_config_rollback",
    "collection_config_preview",
    "collection_config_rollout_put",
    "collection_config_rollout_resume",
    "collection_config_status_get",
    "config_machine_group_list",
    "enrollment_token_create",
    "enrollment_token_list",
    "enrollment_token_delete",
    "agent_enroll",
    "agent_list",
    "agent_delete",
    "agent_sync",
    "worker_put",
    "worker_heartbeat",
    "worker_get",
    "worker_list",
    "worker_delete",
    "worker_cordon",
    "worker_drain",
    "worker_uncordon",
    "scheduler_get",
    "shard_split",
    "shard_merge",
    "health_check",
    "readiness_check",
    "metrics_get",
];

#[tokio::test]
async fn postgres() {
    every_operation_through_the_client(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    every_operation_through_the_client(Backend::Sqlite).await;
}

async fn every_operation_through_the_client(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let server = LogplaneServer::start(&ServerConfig::new(location(&database))).await;
    let admin = server.admin_client().await;

    client_covers_the_documented_operations(&server.client()).await;
    paging_and_preconditions(&admin).await;
    keys_audit_and_operations(&server, &admin).await;
    quotas_and_usage(&admin).await;
    query_slots(&server, &admin).await;
    crate::collection::collection_distribution(&server, &admin).await;
    workers_and_resharding(&server, &admin).await;
    deletes_go_children_first(&admin).await;
}

async fn query_slots(server: &LogplaneServer, admin: &Client) {
    let request = ApiKeyRequest {
        name: "frontend".into(),
        role: Role::QueryFrontend,
    };
    let key = admin.create_platform_api_key(&request).await.unwrap();
    let frontend = server.client().with_api_key(&key.secret).await.unwrap();
    let project = admin
        .list_all_projects("acme")
        .await
        .unwrap()
        .remove(0)
        .name;
    let slot = frontend
        .acquire_query_slot(
            "acme",
            &project,
            &QuerySlotRequest {
                cost_hint: 1,
                max_wait_ms: 0,
            },
        )
        .await
        .unwrap();
    assert!(slot.lease_ttl_ms > 0);
    assert_eq!(
        frontend
            .renew_query_slot(&slot.slot_id)
            .await
            .unwrap()
            .slot_id,
        slot.slot_id
    );
    assert_eq!(admin.get_usage("acme").await.unwrap().query_slots.held, 1);
    frontend.release_query_slot(&slot.slot_id).await.unwrap();
    expect_refusal(
        frontend.release_query_slot(&slot.slot_id).await,
        StatusCode::NOT_FOUND,
    );
    let wrong_audience = admin
        .acquire_query_slot(
            "acme",
            &project,
            &QuerySlotRequest {
                cost_hint: 1,
                max_wait_ms: 0,
            },
        )
        .await;
    expect_refusal(wrong_audience, StatusCode::UNAUTHORIZED);
}

async fn workers_and_resharding(server: &LogplaneServer, admin: &Client) {
    let key = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: "coverage-worker".into(),
            role: Role::Worker,
        })
        .await
        .unwrap();
    let worker = server.client().with_api_key(&key.secret).await.unwrap();
    // A query worker only: it is never involved in ingest, so it can be forgotten while live.
    let spec = WorkerSpec {
        address: "10.1.2.3:7000".into(),
        zone: "zone-a".into(),
        roles: vec![WorkerRole::Query],
        capacity: WorkerCapacity {
            shards: 10,
            ingest_bytes_per_sec: 0,
            query_slots: 8,
        },
    };
    let registered = worker
        .put_worker("q-1", &spec, Precondition::IfAbsent)
        .await
        .unwrap();
    assert!(registered.created);
    assert_eq!(registered.resource.zone, "zone-a");
    let answer = worker
        .heartbeat_worker("q-1", &WorkerHeartbeat::default(), Some(0))
        .await
        .unwrap();
    assert!(answer.lease_ttl_ms > 0);
    expect_refusal(
        admin
            .heartbeat_worker("q-1", &WorkerHeartbeat::default(), None)
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert!(admin.get_worker("q-1").await.unwrap().live);
    assert_eq!(
        admin
            .list_workers(&PageOptions::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(admin.list_all_workers().await.unwrap()[0].id, "q-1");
    assert_eq!(
        admin.cordon_worker("q-1").await.unwrap().state,
        WorkerState::Cordoned
    );
    assert_eq!(
        admin.drain_worker("q-1").await.unwrap().state,
        WorkerState::Draining
    );
    assert_eq!(
        admin.uncordon_worker("q-1").await.unwrap().state,
        WorkerState::Active
    );
    let status = admin.get_scheduler_status().await.unwrap();
    assert!(status.leader.is_some(), "this replica leads the scheduler");
    expect_refusal(
        worker.get_scheduler_status().await,
        StatusCode::UNAUTHORIZED,
    );

    let project = admin
        .list_all_projects("acme")
        .await
        .unwrap()
        .remove(0)
        .name;
    admin
        .put_logstore(
            "acme",
            &project,
            "resharded",
            &LogstoreSpec {
                shard_count: 2,
                ..Default::default()
            },
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let split = admin
        .split_shard(
            "acme",
            &project,
            "resharded",
            0,
            &ShardSplitRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        split.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [0, 2, 3]
    );
    expect_refusal(
        admin
            .split_shard(
                "acme",
                &project,
                "resharded",
                0,
                &ShardSplitRequest::default(),
            )
            .await,
        StatusCode::CONFLICT,
    );
    let merged = admin
        .merge_shard("acme", &project, "resharded", 3)
        .await
        .unwrap();
    assert_eq!(
        merged.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [3, 1, 4]
    );
    assert_eq!(
        admin
            .get_logstore("acme", &project, "resharded")
            .await
            .unwrap()
            .shard_count,
        2
    );
    admin
        .delete_logstore("acme", &project, "resharded", None)
        .await
        .unwrap();
    admin.delete_worker("q-1", None).await.unwrap();
    expect_refusal(admin.get_worker("q-1").await, StatusCode::NOT_FOUND);
}

async fn quotas_and_usage(admin: &Client) {
    let spec = QuotaSpec {
        max_logstores_per_project: Some(7),
        ..Default::default()
    };
    let written = admin
        .put_quota("acme", &spec, Precondition::Unconditional)
        .await
        .unwrap();
    assert!(!written.created, "a quota always exists");
    assert_eq!(written.resource.overrides, spec);
    let read = admin.get_quota("acme").await.unwrap();
    assert_eq!(read.effective.max_logstores_per_project, 7);
    assert_eq!(read.etag, written.etag);
    let usage = admin.get_usage("acme").await.unwrap();
    assert_eq!(usage.tenant, "acme");
    let limits: Vec<i64> = usage
        .projects
        .iter()
        .flat_map(|p| &p.counts)
        .filter(|c| c.quota == "max_logstores_per_project")
        .map(|c| c.limit)
        .collect();
    assert!(
        !limits.is_empty() && limits.iter().all(|limit| *limit == 7),
        "{limits:?}"
    );
}

async fn client_covers_the_documented_operations(client: &Client) {
    let document = client.openapi().await.expect("the OpenAPI document");
    let mut documented = BTreeSet::new();
    for item in document["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("a path item").values() {
            if let Some(id) = operation.get("operationId").and_then(|id| id.as_str()) {
                documented.insert(id.to_string());
            }
        }
    }
    let covered: BTreeSet<String> = CLIENT_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        documented, covered,
        "the client's operations match the server's"
    );
}

async fn paging_and_preconditions(admin: &Client) {
    admin
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();
    let names = ["p-01", "p-02", "p-03", "p-04", "p-05"];
    // Written out of order: lists are ordered by name, not by creation.
    for name in names.iter().rev() {
        admin
            .put_project(
                "acme",
                name,
                &ProjectSpec::default(),
                Precondition::IfAbsent,
            )
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut options = PageOptions::first(2);
    loop {
        let page = admin.list_projects("acme", &options).await.unwrap();
        assert!(
            page.items.len() <= 2,
            "a page holds at most page_size items"
        );
        seen.extend(page.items.into_iter().map(|p| p.name));
        match page.next_page_token {
            Some(token) => options = options.next(token),
            None => break,
        }
    }
    assert_eq!(seen, names);
    let all: Vec<String> = admin
        .list_all_projects("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(all, names);

    let current = admin.get_project("acme", "p-01").await.unwrap();
    let changed = admin
        .put_project(
            "acme",
            "p-01",
            &ProjectSpec {
                description: "first change".into(),
                ..Default::default()
            },
            Precondition::IfMatch(current.etag.clone()),
        )
        .await
        .expect("a write with the current ETag applies");
    assert!(!changed.created);
    assert_ne!(changed.etag, current.etag, "a change makes a new version");
    // A second writer still holding the old version loses instead of overwriting.
    expect_refusal(
        admin
            .put_project(
                "acme",
                "p-01",
                &ProjectSpec::default(),
                Precondition::IfMatch(current.etag.clone()),
            )
            .await,
        StatusCode::PRECONDITION_FAILED,
    );
    expect_refusal(
        admin
            .put_project(
                "acme",
                "p-01",
                &ProjectSpec::default(),
                Precondition::IfAbsent,
            )
            .await,
        StatusCode::PRECONDITION_FAILED,
    );
    expect_refusal(
        admin
            .put_project(
                "acme",
                "p-99",
                &ProjectSpec::default(),
                Precondition::IfExists,
            )
            .await,
        StatusCode::PRECONDITION_FAILED,
    );
    assert_eq!(
        admin.get_project("acme", "p-01").await.unwrap().description,
        "first change",
        "refused writes changed nothing"
    );

    // A refused body names the field to fix.
    let refused = admin
        .put_logstore(
            "acme",
            "p-01",
            "bad",
            &LogstoreSpec {
                shard_count: 0,
                ..Default::default()
            },
            Precondition::Unconditional,
        )
        .await;
    let problem = expect_refusal(refused, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.errors[0].field, "shard_count");
}

async fn keys_audit_and_operations(server: &LogplaneServer, admin: &Client) {
    let viewer = admin
        .create_tenant_api_key(
            "acme",
            &ApiKeyRequest {
                name: "dashboards".into(),
                role: Role::Viewer,
            },
        )
        .await
        .unwrap();
    assert_eq!(viewer.key.tenant.as_deref(), Some("acme"));
    assert_eq!(
        admin
            .get_tenant_api_key("acme", &viewer.key.id)
            .await
            .unwrap(),
        viewer.key
    );
    let page = admin
        .list_tenant_api_keys("acme", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(
        page.items,
        std::slice::from_ref(&viewer.key),
        "lists never show secrets"
    );
    assert_eq!(
        admin.list_all_tenant_api_keys("acme").await.unwrap(),
        std::slice::from_ref(&viewer.key)
    );

    let worker = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: "ingest-worker".into(),
            role: Role::Worker,
        })
        .await
        .unwrap();
    assert_eq!(
        admin.get_platform_api_key(&worker.key.id).await.unwrap(),
        worker.key
    );
    let platform_keys = admin
        .list_platform_api_keys(&PageOptions::first(1000))
        .await
        .unwrap();
    assert!(platform_keys.items.contains(&worker.key));
    assert!(
        admin
            .list_all_platform_api_keys()
            .await
            .unwrap()
            .contains(&worker.key)
    );

    // The viewer reads but cannot write inside its tenant.
    let dashboards = server.client().with_api_key(&viewer.secret).await.unwrap();
    assert_eq!(dashboards.list_all_projects("acme").await.unwrap().len(), 5);
    expect_refusal(
        dashboards
            .put_project(
                "acme",
                "p-06",
                &ProjectSpec::default(),
                Precondition::IfAbsent,
            )
            .await,
        StatusCode::FORBIDDEN,
    );

    let tenant_events = admin.list_all_tenant_audit_events("acme").await.unwrap();
    assert!(
        tenant_events
            .iter()
            .any(|e| e.action == "project.create" && e.resource == "tenants/acme/projects/p-03"),
        "each write is audited in its tenant: {tenant_events:?}"
    );
    let first = admin
        .list_tenant_audit_events("acme", &PageOptions::first(1))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0], tenant_events[0], "newest first");
    let platform_page = admin
        .list_platform_audit_events(&PageOptions::first(1))
        .await
        .unwrap();
    assert_eq!(platform_page.items.len(), 1);
    assert!(platform_page.next_page_token.is_some());
    assert!(
        admin.list_all_platform_audit_events().await.unwrap().len() >= tenant_events.len(),
        "platform admins see every tenant's events"
    );

    let client = server.client();
    assert_eq!(client.healthz().await.unwrap().status, "ok");
    assert_eq!(client.readyz().await.unwrap().status, "ready");
    let metrics = client.metrics().await.unwrap();
    assert!(
        metrics.contains("logplane_http_requests_total{"),
        "request counters are exported: {metrics}"
    );

    admin.delete_platform_api_key(&worker.key.id).await.unwrap();
    expect_refusal(
        admin.get_platform_api_key(&worker.key.id).await,
        StatusCode::NOT_FOUND,
    );
}

async fn deletes_go_children_first(admin: &Client) {
    let logstore = admin
        .put_logstore(
            "acme",
            "p-02",
            "events",
            &LogstoreSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let page = admin
        .list_logstores("acme", "p-02", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(&logstore.resource));
    assert_eq!(
        admin.list_all_logstores("acme", "p-02").await.unwrap(),
        std::slice::from_ref(&logstore.resource)
    );

    expect_refusal(
        admin.delete_project("acme", "p-02", None).await,
        StatusCode::CONFLICT,
    );
    expect_refusal(
        admin
            .delete_logstore("acme", "p-02", "events", Some("not-the-etag"))
            .await,
        StatusCode::PRECONDITION_FAILED,
    );
    admin
        .delete_logstore("acme", "p-02", "events", Some(&logstore.etag))
        .await
        .expect("a delete with the current ETag applies");
    expect_refusal(
        admin.get_logstore("acme", "p-02", "events").await,
        StatusCode::NOT_FOUND,
    );
    expect_refusal(
        admin.delete_logstore("acme", "p-02", "events", None).await,
        StatusCode::NOT_FOUND,
    );

    expect_refusal(
        admin.delete_tenant("acme", None).await,
        StatusCode::CONFLICT,
    );
    for project in admin.list_all_projects("acme").await.unwrap() {
        admin
            .delete_project("acme", &project.name, Some(&project.etag))
            .await
            .unwrap();
    }
    let tenant = admin.get_tenant("acme").await.unwrap();
    admin
        .delete_tenant("acme", Some(&tenant.etag))
        .await
        .unwrap();
    expect_refusal(admin.get_tenant("acme").await, StatusCode::NOT_FOUND);
    assert!(admin.list_all_tenants().await.unwrap().is_empty());
}
