//! AKS through azop's own client against azop-armsim: create → poll → Succeeded, a second
//! ensure writes nothing, user and admin credentials decode to kubeconfigs, a pool is
//! added and removed through the agent pool module, and the cluster is deleted.
#![allow(clippy::unwrap_used)]

use azop_armsim::{RequestFilter, SimConfig};
use azop_provider::resources::containerservice::agent_pool::{AgentPoolKey, AgentPoolResource};
use azop_provider::resources::containerservice::credentials::{
    list_cluster_admin_credential, list_cluster_user_credential,
};
use azop_provider::resources::containerservice::managed_cluster::*;
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::{self, ArmResource, DeleteOutcome, EnsureOutcome, Owner};
use azop_provider::{ArmSession, LroHandle, PollOutcome};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::{creds, provider};

const SUB: &str = "00000000-0000-0000-0000-0000000000e1";
const RG: &str = "rg-aks";

fn owner() -> Owner {
    Owner::new("AksCluster", "team-a", "prod", "uid-aks")
}

async fn wait(session: &ArmSession, handle: &LroHandle) -> PollOutcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match session.poll_once(handle).await.unwrap() {
            PollOutcome::InProgress { retry_after } => {
                assert!(Instant::now() < deadline, "operation never finished");
                tokio::time::sleep(retry_after.min(Duration::from_millis(100))).await;
            }
            done => return done,
        }
    }
}

fn pool(name: &str, mode: PoolMode, scale: PoolScale) -> AgentPoolSpec {
    AgentPoolSpec {
        name: name.into(),
        mode,
        vm_size: "Standard_D4s_v5".into(),
        scale,
        zones: vec!["1".into(), "2".into(), "3".into()],
        os_type: PoolOsType::Linux,
        max_pods: Some(110),
        os_disk_size_gb: Some(128),
        vnet_subnet_id: None,
        node_labels: BTreeMap::new(),
        node_taints: vec![],
        os_sku: None,
        spot: None,
        upgrade: None,
        orchestrator_version: None,
        tags: BTreeMap::new(),
    }
}

fn spec() -> ManagedClusterSpec {
    ManagedClusterSpec {
        location: "westeurope".into(),
        sku_tier: SkuTier::Standard,
        support_plan: None,
        kubernetes_version: "1.36".into(),
        dns_prefix: "prod-team-a".into(),
        auto_upgrade: Some(AutoUpgradeSpec {
            upgrade_channel: Some(UpgradeChannel::Patch),
            node_os_upgrade_channel: Some(NodeOsUpgradeChannel::NodeImage),
        }),
        aad: Some(AadSpec {
            admin_group_object_ids: vec!["6f2d0c8e-0000-0000-0000-00000000000a".into()],
            enable_azure_rbac: true,
            tenant_id: None,
        }),
        agent_pools: vec![pool(
            "system",
            PoolMode::System,
            PoolScale::Fixed { count: 3 },
        )],
        network: ClusterNetworkSpec {
            plugin: "azure".into(),
            plugin_mode: Some("overlay".into()),
            pod_cidr: Some("192.168.0.0/16".into()),
            service_cidr: Some("10.0.0.0/16".into()),
            dns_service_ip: Some("10.0.0.10".into()),
        },
        api_server_access: Some(ApiServerAccessSpec {
            private_cluster: false,
            authorized_ip_ranges: vec!["203.0.113.0/24".into()],
        }),
        http_proxy: Some(HttpProxySpec {
            http_proxy: Some("http://proxy.internal:3128/".into()),
            https_proxy: Some("http://proxy.internal:3128/".into()),
            no_proxy: vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "169.254.169.254".into(),
                "168.63.129.16".into(),
            ],
            trusted_ca: None,
        }),
        linux_profile: Some(LinuxProfileSpec {
            admin_username: "azureuser".into(),
            ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk azop@test".into(),
        }),
        disable_local_accounts: false,
        oidc_issuer: true,
        workload_identity: None,
        identity: ClusterIdentity::SystemAssigned,
        kubelet_identity: None,
        addons: vec![],
        keda: None,
        vertical_pod_autoscaler: None,
        autoscaler_profile: BTreeMap::new(),
        tags: [("team".to_owned(), "a".to_owned())].into_iter().collect(),
    }
}

#[tokio::test]
async fn aks_cluster_is_created_polled_to_succeeded_and_hands_out_credentials() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let s = provider(&sim).session(&creds(), SUB).unwrap();
    resources::ensure::<ResourceGroup>(
        &s,
        &ResourceGroupKey { name: RG.into() },
        &ResourceGroupSpec {
            location: "westeurope".into(),
            tags: BTreeMap::new(),
        },
        &owner(),
    )
    .await
    .unwrap();
    let key = ManagedClusterKey {
        resource_group: RG.into(),
        name: "prod".into(),
    };

    let handle = match resources::ensure::<ManagedClusterResource>(&s, &key, &spec(), &owner())
        .await
        .unwrap()
    {
        EnsureOutcome::Started {
            handle,
            change: resources::Change::Created,
        } => handle,
        other => panic!("{other:?}"),
    };
    // While it runs the cluster shows a non-terminal state; a second ensure must not PUT
    // again on top of the running operation (the controller polls the handle instead).
    let running = resources::observe::<ManagedClusterResource>(&s, &key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            running.provisioning_state(),
            Some("Creating") | Some("Succeeded")
        ),
        "{running:?}"
    );
    assert!(matches!(
        wait(&s, &handle).await,
        PollOutcome::Succeeded { .. }
    ));

    let cluster = resources::observe::<ManagedClusterResource>(&s, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cluster.provisioning_state(), Some("Succeeded"));
    assert_eq!(cluster.power_state(), Some("Running"));
    assert!(
        cluster.fqdn().is_some_and(|f| f.starts_with("prod-team-a")),
        "{cluster:?}"
    );
    assert!(
        cluster
            .current_kubernetes_version()
            .is_some_and(|v| v.starts_with("1.36."))
    );
    assert_eq!(
        ManagedClusterResource::owner_uid(&cluster).as_deref(),
        Some("uid-aks")
    );
    assert_eq!(
        ManagedClusterResource::diff(
            &ManagedClusterResource::desired(&key, &spec(), &owner()),
            &cluster
        ),
        vec![]
    );

    assert_eq!(
        resources::ensure::<ManagedClusterResource>(&s, &key, &spec(), &owner())
            .await
            .unwrap(),
        EnsureOutcome::Unchanged
    );
    let puts = |p: &str| {
        sim.requests(&RequestFilter {
            method: Some("PUT".into()),
            path: Some(p.into()),
            ..RequestFilter::default()
        })
        .len()
    };
    assert_eq!(puts("/managedClusters/prod"), 1);

    let user = list_cluster_user_credential(&s, &key).await.unwrap();
    let text = String::from_utf8(user.as_bytes().to_vec()).unwrap();
    assert!(
        text.contains("kind: Config") && text.contains("clusterUser_"),
        "{text}"
    );
    let admin = list_cluster_admin_credential(&s, &key).await.unwrap();
    assert!(
        String::from_utf8(admin.into_bytes())
            .unwrap()
            .contains("clusterAdmin_")
    );

    // A user pool added on its own, ensured twice, then removed.
    let pool_key = AgentPoolKey {
        resource_group: RG.into(),
        cluster: "prod".into(),
        name: "batch".into(),
    };
    let pool_spec = pool(
        "batch",
        PoolMode::User,
        PoolScale::Autoscale { min: 1, max: 5 },
    );
    match resources::ensure::<AgentPoolResource>(&s, &pool_key, &pool_spec, &owner())
        .await
        .unwrap()
    {
        EnsureOutcome::Started { handle, .. } => assert!(matches!(
            wait(&s, &handle).await,
            PollOutcome::Succeeded { .. }
        )),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        resources::ensure::<AgentPoolResource>(&s, &pool_key, &pool_spec, &owner())
            .await
            .unwrap(),
        EnsureOutcome::Unchanged
    );
    assert_eq!(puts("/agentPools/batch"), 1);
    match resources::delete::<AgentPoolResource>(&s, &pool_key, &owner())
        .await
        .unwrap()
    {
        DeleteOutcome::Started(handle) => assert!(matches!(
            wait(&s, &handle).await,
            PollOutcome::Succeeded { .. }
        )),
        DeleteOutcome::Gone => {}
        DeleteOutcome::NotOwned => panic!("our pool"),
    }
    assert!(
        resources::observe::<AgentPoolResource>(&s, &pool_key)
            .await
            .unwrap()
            .is_none()
    );

    // Another object's ensure/delete leaves the cluster alone.
    let stranger = Owner::new("AksCluster", "team-b", "prod", "uid-other");
    assert_eq!(
        resources::ensure::<ManagedClusterResource>(&s, &key, &spec(), &stranger)
            .await
            .unwrap(),
        EnsureOutcome::NotOwned
    );
    assert_eq!(
        resources::delete::<ManagedClusterResource>(&s, &key, &stranger)
            .await
            .unwrap(),
        DeleteOutcome::NotOwned
    );

    match resources::delete::<ManagedClusterResource>(&s, &key, &owner())
        .await
        .unwrap()
    {
        DeleteOutcome::Started(handle) => assert!(matches!(
            wait(&s, &handle).await,
            PollOutcome::Succeeded { .. }
        )),
        other => panic!("{other:?}"),
    }
    assert!(
        resources::observe::<ManagedClusterResource>(&s, &key)
            .await
            .unwrap()
            .is_none()
    );
}
