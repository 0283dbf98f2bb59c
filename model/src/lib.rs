//! Logplane's domain model: the resources tenants manage, the rules their names and fields follow,
//! and who may do what. Everything here is pure: no I/O, no clocks, so the store, the API and the
//! client agree on one definition of every rule.

pub mod agent;
pub mod api_key;
pub mod audit;
pub mod authz;
pub mod binding;
pub mod collection_config;
pub mod enrollment;
pub mod fleet;
pub mod key_range;
pub mod label_selector;
pub mod labels;
pub mod logstore;
pub mod machine_group;
pub mod meta;
pub mod names;
pub mod network;
pub mod page;
pub mod problem;
pub mod project;
pub mod query_slot;
pub mod quota;
pub mod schema_util;
pub mod shard;
pub mod tenant;
pub mod timestamp;
pub mod validation;
pub mod wire;
pub mod worker;

pub use agent::{
    AgentAttributes, AgentSyncRequest, AgentType, BundleConfig, BundleFile, ConfigBundle,
    KubernetesAttributes, SyncState, SyncStatus,
};
pub use api_key::{
    ApiKey, ApiKeyCreated, ApiKeyRequest, KeyScope, PlatformApiKeyRequest, PlatformKeyRole,
    TenantApiKeyRequest, TenantKeyRole,
};
pub use audit::{AuditEvent, AuditResult};
pub use authz::{Access, Caller, Role};
pub use binding::CollectionConfigBinding;
pub use collection_config::{
    CollectionConfig, CollectionConfigRevision, CollectionConfigRollout, CollectionConfigSpec,
    CollectionConfigStatus, RollbackRequest, RolloutRequest,
};
pub use enrollment::{
    AgentEnrollRequest, AgentEnrolled, EnrollmentToken, EnrollmentTokenCreated,
    EnrollmentTokenRequest,
};
pub use fleet::Agent;
pub use key_range::KeyRange;
pub use label_selector::{LabelExpression, LabelOperator, LabelSelector};
pub use labels::Labels;
pub use logstore::{AutoSplit, Logstore, LogstoreMode, LogstoreSpec, Telemetry};
pub use machine_group::{AgentSelector, MachineGroup, MachineGroupSpec};
pub use meta::{META_FIELDS, ResourceMeta};
pub use page::Page;
pub use problem::{FieldError, Problem};
pub use project::{Project, ProjectSpec};
pub use query_slot::{QuerySlot, QuerySlotRequest, QuerySlotUsage};
pub use quota::{Quota, QuotaSpec, TenantQuota};
pub use shard::{Shard, ShardStatus};
pub use tenant::{Tenant, TenantSpec};
pub use timestamp::Timestamp;
pub use validation::ValidationErrors;
pub use wire::{Health, ShardList, TokenRequest, TokenResponse};
pub use worker::{
    AssignedShard, AssignedState, HandoverReport, HeartbeatAnswer, SchedulerLeader,
    SchedulerStatus, ShardLoad, ShardRef, ShardSplitRequest, ShardWorker, TenantLimitShare,
    UnplacedShard, Worker, WorkerCapacity, WorkerHeartbeat, WorkerRole, WorkerSpec, WorkerState,
};
