//! Every validation message, once. The CEL rules in the generated CRDs and the Rust checks use
//! these constants, so the API server, the controller's own check and the tests all speak the
//! same words. A Rust error may prefix a message with the
//! offending value (`tag key "Microsoft-owner" starts with the reserved prefix "microsoft": …`);
//! the constant is always contained in it.

// ---- shared by the kinds that touch Azure ----
pub const SUBSCRIPTION_ID: &str = "subscriptionId must be a GUID such as 00000000-0000-0000-0000-000000000000: copy it from `az account show`";
pub const SUBSCRIPTION_ID_IMMUTABLE: &str = "subscriptionId is immutable: Azure resources cannot move between subscriptions; create a new object instead";
pub const LOCATION: &str = "location must be an Azure region name in lowercase letters and digits, such as westeurope or eastus2: use a name `az account list-locations` prints";
pub const LOCATION_IMMUTABLE: &str = "location is immutable: Azure resources cannot move between regions; create a new object instead";
pub const RESOURCE_GROUP: &str = "resourceGroup must be 1-90 letters, digits, '-', '_', '.', '(' or ')' and must not end with '.': rename the resource group";
pub const RESOURCE_GROUP_IMMUTABLE: &str = "resourceGroup is immutable: the resources live in the group they were created in; create a new object instead";
pub const OBJECT_NAME: &str = "must name an object in the same namespace: lowercase letters, digits, '-' and '.', at most 253 characters";
pub const DATA_KEY: &str = "must be a Secret or ConfigMap key: letters, digits, '-', '_' and '.'";
pub const TAG_RESERVED: &str =
    "Azure reserves tag keys starting with azure, microsoft or windows; rename the key";
pub const TAG_KEY_CHARS: &str = "tag keys must be 1-512 characters without <, >, %, &, \\, ?, / or control characters: Azure rejects them (InvalidTagNameCharacters); rename the key";
pub const TAG_VALUE_LENGTH: &str =
    "tag values must be at most 256 characters: Azure rejects longer values; shorten the value";
pub const TAG_COUNT: &str = "at most 48 tags are allowed: Azure limits a resource to 50 tags and azop adds its own two (azop.dev_owner and azop.dev_uid); remove some";
pub const TAG_KEY_CASE_DUPLICATE: &str = "tag keys must differ in more than letter case: Azure compares tag names case-insensitively; merge or rename the keys";
pub const TAG_KEY_AZOP: &str = "tag keys starting with azop.dev_ (azop.dev_owner, azop.dev_uid, azop.dev_shared) are azop's own tags, reserved for its marks of ownership: remove or rename them in spec.tags";
pub const STORAGE_TAG_KEY_LENGTH: &str = "tag keys of a storage account must be at most 128 characters (other resources allow 512): every tag is also put on the storage account; shorten the key";
pub const DNS_ZONE_TAGS: &str = "with a private DNS zone (StorageBinding networkAccess Private, AksCluster apiServerAccess.privateCluster) at most 13 tags are allowed, with keys of letters, digits, '_', '.' and '-' starting with a letter or '_': Azure private DNS zones and their VNet links hold at most 15 tags (azop adds two) and refuse spaces, other special characters and a leading digit in tag names; remove or rename tags";
pub const VM_TAGS_TOTAL: &str = "the tags of a virtual machine (or an AKS node scale set), azop's own included, may add up to at most 2048 characters of keys and values: shorten or remove tags";

// ---- Kubernetes labels and taints on nodes ----
pub const LABEL_KEY: &str = "label keys must be Kubernetes qualified names: an optional prefix (a DNS subdomain of at most 253 characters) and '/', then 1-63 letters, digits, '-', '_' and '.' starting and ending with a letter or digit; rename the key";
pub const LABEL_VALUE: &str = "label values must be empty or 1-63 letters, digits, '-', '_' and '.' starting and ending with a letter or digit; change the value";
pub const KUBELET_LABEL: &str = "kubelet may not set labels in the kubernetes.io and k8s.io namespaces on its own node (it refuses to start and the node never joins); only the labels kubelet sets itself and the kubelet.kubernetes.io and node.kubernetes.io namespaces are allowed: use a prefix of your own (e.g. example.com/role), or set node-role.kubernetes.io/* with kubectl once the node has joined";
pub const AKS_LABEL_RESERVED: &str = "node pool label keys must not start with kubernetes.azure.com: AKS reserves it for its own labels; use a prefix of your own";
pub const TAINT_KEY: &str = "taint keys must be Kubernetes qualified names: an optional prefix (a DNS subdomain of at most 253 characters) and '/', then 1-63 letters, digits, '-', '_' and '.' starting and ending with a letter or digit; rename the key";
pub const TAINT_VALUE: &str = "taint values must be empty or 1-63 letters, digits, '-', '_' and '.' starting and ending with a letter or digit; change the value";

// ---- cluster names (AzureCluster and AksCluster) ----
pub const CLUSTER_NAME_LENGTH: &str = "cluster name (metadata.name) must be at most 44 characters, because it prefixes Azure resource names: choose a shorter name";
pub const CLUSTER_NAME_CHARS: &str = "cluster name (metadata.name) must be lowercase letters, digits and '-', starting and ending with a letter or digit: rename the object";
pub const AKS_NAME_RESERVED: &str = "AKS cluster names must not contain \"microsoft\" or \"windows\": Azure rejects them; rename the object";

// ---- Kubernetes versions ----
pub const KUBERNETES_VERSION: &str =
    "kubernetesVersion must look like 1.33 or 1.33.2 (no leading v)";
pub const VERSION_DOWNGRADE: &str = "kubernetesVersion cannot be lowered: Kubernetes does not support downgrades; set the current version or a newer one";
pub const VERSION_BELOW_CURRENT: &str = "kubernetesVersion is below the version the cluster already runs (status.kubernetesVersion), which auto-upgrade may have raised: set at least that version";
pub const VERSION_MINOR_SKIP: &str = "kubernetesVersion can go up one minor version at a time: AKS refuses to skip minor versions; raise it to the next minor first, then again once the cluster runs it";

// ---- machines ----
pub const VM_SIZE: &str =
    "vmSize must be an Azure VM size such as Standard_D4s_v5: see `az vm list-sizes`";
pub const OS_DISK_SIZE: &str = "osDisk.sizeGiB must be between 30 and 4095: the image needs 30 GiB and Azure allows at most 4095 GiB";
pub const OS_DISK_TYPE: &str = "osDisk.type must be Standard_LRS, StandardSSD_LRS or Premium_LRS";
pub const ZONE: &str =
    "zones must be \"1\", \"2\" or \"3\": Azure numbers availability zones 1 to 3";
pub const ZONES_UNIQUE: &str = "zones must not repeat: list each zone once";
pub const SSH_PUBLIC_KEY: &str = "sshPublicKey must be one OpenSSH public key line (ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp*): paste the contents of your .pub file";
pub const SSH_RSA_ONLY: &str =
    "sshPublicKey must be an OpenSSH RSA public key (ssh-rsa ...): AKS accepts RSA keys only";

// ---- AzureCluster ----
pub const CONTROL_PLANE_REPLICAS: &str =
    "controlPlane.replicas must be 1, 3 or 5: etcd needs an odd member count to keep quorum";
pub const WORKER_POOL_NAME: &str = "worker pool names must be 1-20 lowercase letters, digits and '-', starting and ending with a letter or digit";
pub const WORKER_POOL_DUPLICATE: &str = "worker pool names must be unique: rename one of the pools";
pub const WORKER_REPLICAS: &str = "replicas must be between 0 and 1000";
pub const TAINT_EFFECT: &str = "taint effect must be NoSchedule, PreferNoSchedule or NoExecute";
pub const CIDR_FORMAT: &str = "must be an IPv4 CIDR such as 10.0.0.0/16";
pub const CIDR_HOST_BITS: &str =
    "a CIDR must be written with its network address: clear the host bits";
pub const NETWORK_RESOURCE_NAME: &str = "must be an Azure network resource name: 1-80 letters, digits, '-', '_' and '.', starting with a letter or digit";
pub const STATIC_PLACEMENT_INCOMPLETE: &str = "static placement needs all of existingVnet, vnetCidr, controlPlaneSubnet and workerSubnet, each subnet with name, cidr and securityGroupName: set them all, or remove existingVnet for dynamic placement";
pub const DYNAMIC_PLACEMENT_NAMES: &str = "subnet names and securityGroupName refer to existing resources and are only allowed with existingVnet: remove them, or set existingVnet for static placement";
pub const INTERNAL_LB_NEEDS_STATIC: &str = "an Internal API server load balancer needs static placement, because only an existing VNet with a gateway can reach it: set existingVnet or use Public";
pub const SUBNET_OUTSIDE_VNET: &str =
    "subnets must lie inside the VNet: choose a subnet CIDR within vnetCidr or widen vnetCidr";
pub const SUBNET_TOO_SMALL: &str = "subnets must be /29 or larger (a prefix length of at most 29): Azure's smallest subnet is a /29, and it reserves 5 addresses of every subnet; use a shorter prefix";
pub const SUBNET_CAPACITY: &str = "the subnet has too few addresses for its machines: Azure reserves 5 addresses of every subnet; the control-plane subnet needs one per control-plane machine (and one for an internal load balancer), the worker subnet one per worker plus one per pool for a rolling replacement; widen the subnet or use fewer machines";
pub const VNET_RESERVED_RANGE: &str = "the VNet's address space must not overlap ranges Azure reserves (127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 255.255.255.255/32, 168.63.129.16/32): choose a private range such as 10.0.0.0/16";
pub const WORKER_VM_NAME_LENGTH: &str = "worker VM names are <cluster>-<pool>-<index> and Azure allows at most 64 characters for a Linux VM name; the index has as many digits as twice the pool's replicas (a rolling replacement numbers new machines above the old ones): shorten the cluster name or the pool name";
pub const SUBNET_OVERLAP: &str =
    "subnets must not overlap: give the control-plane and worker subnets disjoint CIDRs";
pub const PLACEMENT_IMMUTABLE: &str = "network placement (existingVnet) is immutable: a cluster cannot move to another VNet; create a new cluster";
pub const NETWORK_CIDRS_IMMUTABLE: &str = "vnetCidr and subnet CIDRs are immutable: Azure cannot re-address subnets with running nodes; create a new cluster";
pub const CLUSTER_NETWORK_IMMUTABLE: &str = "clusterNetwork (podCidr, serviceCidr, cni) is immutable: a running cluster cannot be re-addressed or change its CNI; create a new cluster";
pub const IMAGE_ONE_SOURCE: &str = "image needs exactly one of storageBindingRef, managedImageId or marketplace: set one and remove the others";
pub const MANAGED_IMAGE_ID: &str = "managedImageId must be a managed image id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/images/<name>";

// ---- AksCluster ----
pub const SKU: &str = "managedControlPlane.sku must be Free, Standard or Premium";
pub const UPGRADE_CHANNEL: &str = "upgradeChannel must be none, patch, stable, rapid or node-image";
pub const UPGRADE_CHANNEL_REMOVED: &str = "autoUpgradeProfile.upgradeChannel cannot be removed once set: set it to none to stop automatic upgrades";
pub const AAD_DISABLED: &str = "aadProfile cannot be removed once set: AKS cannot turn off Entra ID integration; keep aadProfile";
pub const AAD_MANAGED_OFF: &str = "aadProfile.managed cannot change from true to false: AKS cannot turn off managed Entra ID; keep managed: true";
pub const AAD_ADMIN_GROUPS_EMPTY: &str = "aadProfile.adminGroupObjectIDs cannot become empty once set: keep at least one admin group, or nobody keeps cluster-admin access";
pub const ADMIN_GROUP_ID: &str =
    "adminGroupObjectIDs entries must be Entra group object ids (GUIDs)";
pub const SYSTEM_POOL_REQUIRED: &str = "nodePools needs at least one pool with mode System and osType Linux: AKS runs its system pods there";
pub const SYSTEM_POOL_LINUX: &str = "System node pools must be Linux: AKS runs its system pods on Linux nodes only; set osType Linux or make the pool a User pool";
pub const AKS_RESERVED_RANGE: &str = "podCidr and serviceCidr must not overlap ranges AKS reserves (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16, 192.0.2.0/24): choose another range, such as 10.0.0.0/16";
pub const AKS_POOL_NAME: &str =
    "node pool names must be 1-12 lowercase letters and digits, starting with a letter";
pub const WINDOWS_POOL_NAME: &str = "Windows node pool names must be at most 6 characters: Windows computer names are built from them";
pub const POOL_DUPLICATE: &str = "node pool names must be unique: rename one of the pools";
pub const MAX_PODS: &str = "maxPods must be between 10 and 250";
pub const POOL_COUNT: &str = "count, autoscale.min and autoscale.max must be between 0 and 1000";
pub const POOL_COUNT_OR_AUTOSCALE: &str =
    "a node pool needs exactly one of count or autoscale: set a fixed count or an autoscale range";
pub const AUTOSCALE_MIN_MAX: &str = "autoscale.min must be less than or equal to autoscale.max";
pub const SYSTEM_POOL_EMPTY: &str =
    "System node pools need at least one node: set count or autoscale.min to 1 or more";
pub const POOL_IMMUTABLE: &str = "a node pool's osType, vmSize, osDiskSizeGiB, zones, maxPods, subnetId, scaleSetPriority, scaleSetEvictionPolicy, spotMaxPrice and (for Windows pools) osSKU are immutable: add a new pool with the new settings and remove the old one";
pub const OS_TYPE: &str = "osType must be Linux or Windows";
pub const POOL_MODE: &str = "mode must be System or User";
pub const WINDOWS_NEEDS_AZURE_CNI: &str =
    "Windows node pools need network.plugin azure: kubenet does not support Windows nodes";
pub const NETWORK_PLUGIN: &str = "network.plugin must be azure, kubenet or none";
pub const IPV4_FORMAT: &str = "must be an IPv4 address such as 10.0.0.10";
pub const SERVICE_CIDR_AND_DNS_IP: &str =
    "serviceCidr and dnsServiceIP go together: set both or neither";
pub const DNS_SERVICE_IP_OUTSIDE: &str = "dnsServiceIP must lie inside serviceCidr and must not be its network address or first address (.1), which Kubernetes takes: pick an address such as the .10 of serviceCidr";
pub const POD_SERVICE_OVERLAP: &str =
    "podCidr and serviceCidr must not overlap: choose disjoint ranges";
pub const POD_CIDR_NEEDS_OVERLAY: &str = "podCidr needs network.plugin kubenet or none, or Azure CNI overlay (pluginMode: overlay): plain Azure CNI gives pods addresses from the nodes' subnet and AKS refuses a podCidr; add pluginMode: overlay (what AKS recommends) or remove podCidr";
pub const OVERLAY_NEEDS_AZURE_CNI: &str = "network.pluginMode overlay is Azure CNI overlay: it needs network.plugin azure (or no plugin, which defaults to azure)";
pub const NODE_IMAGE_CHANNEL_NODE_OS: &str = "with upgradeChannel node-image the node OS channel is the node image: nodeOSUpgradeChannel must be NodeImage (or unset)";
pub const LOCAL_ACCOUNTS_NEED_AAD: &str = "disableLocalAccounts needs Entra ID (managedControlPlane.aadProfile): without local accounts and without AAD nobody could sign in";
pub const LOCAL_ACCOUNTS_IMMUTABLE: &str = "disableLocalAccounts cannot change once set: kubeconfigs and tools depend on it; create a new cluster to change it";
pub const AKS_NETWORK_IMMUTABLE: &str = "network is immutable: AKS cannot change the network profile of an existing cluster; create a new cluster";
pub const AUTHORIZED_IP_RANGE: &str =
    "authorizedIPRanges entries must be IPv4 CIDRs such as 203.0.113.0/24";
pub const PRIVATE_CLUSTER_IMMUTABLE: &str = "apiServerAccess.privateCluster is immutable: only authorizedIPRanges can change; create a new cluster to change how the API server is exposed";
pub const PRIVATE_WITH_AUTHORIZED_RANGES: &str = "authorizedIPRanges cannot be used with privateCluster: a private API server has no public endpoint to restrict; remove one of them";
pub const LOCAL_ACCOUNTS_CONFLICT: &str = "managedControlPlane.disableLocalAccounts (deprecated) and managedControlPlane.aadProfile.disableLocalAccounts disagree: keep aadProfile.disableLocalAccounts (Palette's key) and remove the other";
pub const ADDON_NAME: &str = "addonProfiles[].name must be azurepolicy, omsagent or azureKeyvaultSecretsProvider: the AKS add-ons azop manages";
pub const AZURE_POLICY_CONFIG: &str = "the azurepolicy add-on takes no config but version: v2 (AKS retired v1 and refuses other keys): remove the other keys";
pub const MONITORING_CONFIG: &str = "the omsagent (monitoring) add-on needs config.logAnalyticsWorkspaceResourceID, a Log Analytics workspace id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/workspaces/<name>), and accepts besides it only useAADAuth (\"true\" or \"false\")";
pub const KEY_VAULT_CONFIG: &str = "the azureKeyvaultSecretsProvider add-on accepts only config enableSecretRotation (\"true\" or \"false\") and rotationPollInterval (a duration such as 2m or 120s)";
pub const KEDA_VERSION: &str = "workloadAutoScalerProfile.keda needs kubernetesVersion 1.26 or newer: AKS ships the KEDA add-on from 1.26 on; raise kubernetesVersion or turn KEDA off";
pub const AUTOSCALER_MINUTES: &str =
    "must be a whole number of minutes such as 10m: AKS accepts minutes only here";
pub const AUTOSCALER_COUNT: &str = "must be a whole number such as 10";
pub const AUTOSCALER_SCAN_INTERVAL: &str =
    "autoscalerProfile.scanInterval must be whole seconds such as 10s";
pub const AUTOSCALER_DELAY: &str = "autoscalerProfile.newPodScaleUpDelay must be a whole number followed by s, m or h, such as 30s";
pub const AUTOSCALER_THRESHOLD: &str =
    "autoscalerProfile.scaleDownUtilizationThreshold must be a decimal from 0 to 1 such as 0.5";
pub const AUTOSCALER_PERCENTAGE: &str =
    "autoscalerProfile.maxTotalUnreadyPercentage must be a whole number from 0 to 100";
pub const AUTOSCALER_BOOLEAN: &str =
    "must be \"true\" or \"false\" (a string, as AKS and Cluster API Provider Azure spell it)";
pub const AUTOSCALER_EXPANDER: &str =
    "autoscalerProfile.expander must be least-waste, most-pods, priority or random";
pub const IDENTITY_TYPE: &str = "identity.type must be SystemAssigned or UserAssigned";
pub const IDENTITY_RESOURCE_ID: &str = "identity.userAssignedIdentityResourceID goes with identity.type UserAssigned, and only with it: name the control plane's user-assigned identity, or use SystemAssigned without an id";
pub const USER_ASSIGNED_IDENTITY_ID: &str = "must be a user-assigned identity id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>";
pub const KUBELET_IDENTITY_NEEDS_USER_ASSIGNED: &str = "kubeletUserAssignedIdentity needs a user-assigned control-plane identity (identity.type: UserAssigned): AKS refuses a kubelet identity next to a system-assigned one";
pub const WORKLOAD_IDENTITY_NEEDS_OIDC: &str = "securityProfile.workloadIdentity needs the OIDC issuer: remove oidcIssuerProfile.enabled: false";
pub const OIDC_ISSUER_CANNOT_DISABLE: &str = "oidcIssuerProfile.enabled cannot go back to false: AKS cannot turn the OIDC issuer off once it is on (azop turns it on unless told otherwise at creation)";
pub const TAINT_FORMAT: &str = "taints must look like key=value:Effect, the effect NoSchedule, PreferNoSchedule or NoExecute (for example sku=gpu:NoSchedule), at most 50";
pub const OS_SKU: &str = "osSKU must be Ubuntu, Ubuntu2204, Ubuntu2404, AzureLinux or AzureLinux3 (Linux pools), Windows2022 or Windows2025 (Windows pools)";
pub const OS_SKU_MISMATCH: &str = "osSKU must match osType: Ubuntu, Ubuntu2204, Ubuntu2404, AzureLinux or AzureLinux3 for Linux pools, Windows2022 or Windows2025 for Windows pools";
pub const SCALE_SET_PRIORITY: &str = "scaleSetPriority must be Regular or Spot";
pub const EVICTION_POLICY: &str = "scaleSetEvictionPolicy must be Delete or Deallocate";
pub const SPOT_SYSTEM_POOL: &str = "System pools cannot be Spot: AKS runs its system pods on regular VMs; use mode User for a Spot pool";
pub const SPOT_ONLY: &str = "scaleSetEvictionPolicy and spotMaxPrice apply to Spot pools only: set scaleSetPriority: Spot or remove them";
pub const SPOT_MAX_PRICE: &str =
    "spotMaxPrice must be -1 (pay up to the on-demand price) or a price above 0 in US dollars";
pub const MAX_SURGE: &str = "upgradeSettings.maxSurge must be a whole number of nodes (1 or more) or a percentage from 1% to 100%, such as 33%";
pub const DRAIN_TIMEOUT: &str = "upgradeSettings.drainTimeoutInMinutes must be between 1 and 1440";
pub const NODE_SOAK: &str = "upgradeSettings.nodeSoakDurationInMinutes must be between 0 and 30";
pub const MAINTENANCE_ONE_SCHEDULE: &str = "a maintenance window's schedule needs exactly one of daily, weekly, absoluteMonthly or relativeMonthly";
pub const MAINTENANCE_DAILY_AUTO_UPGRADE: &str = "maintenanceWindows.autoUpgrade cannot recur daily: AKS allows a daily schedule for node OS upgrades only; use weekly, absoluteMonthly or relativeMonthly";
pub const MAINTENANCE_START_TIME: &str =
    "startTime must be HH:mm from 00:00 to 23:59, such as 02:00";
pub const MAINTENANCE_UTC_OFFSET: &str =
    "utcOffset must be +HH:mm or -HH:mm from -12:00 to +14:00, such as +05:30";
pub const MAINTENANCE_DATE: &str = "dates must be YYYY-MM-DD, such as 2027-01-15";
pub const MAINTENANCE_NOT_ALLOWED: &str = "notAllowedDates entries need start no later than end";
pub const MAINTENANCE_DURATION: &str =
    "durationHours must be between 4 and 24: AKS needs at least 4 hours for an upgrade";
pub const MAINTENANCE_INTERVAL: &str = "schedule intervals must be intervalDays 1-7, intervalWeeks 1-4, intervalMonths 1-6 and dayOfMonth 1-31";
pub const MAINTENANCE_WEEK_DAY: &str =
    "dayOfWeek must be Sunday, Monday, Tuesday, Wednesday, Thursday, Friday or Saturday";
pub const MAINTENANCE_WEEK_INDEX: &str = "weekIndex must be First, Second, Third, Fourth or Last";
pub const MAINTENANCE_AUTO_UPGRADE_CHANNEL: &str = "maintenanceWindows.autoUpgrade needs autoUpgradeProfile.upgradeChannel set and not none: the window schedules that channel's upgrades";
pub const MAINTENANCE_NODE_OS_CHANNEL: &str = "maintenanceWindows.nodeOSUpgrade needs nodeOSUpgradeChannel NodeImage or SecurityPatch (NodeImage when unset): None and Unmanaged have nothing for AKS to schedule";
pub const SUBNET_ID: &str = "must be a subnet id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>";

// ---- StorageBinding ----
pub const STORAGE_BINDING_NAME_LENGTH: &str = "StorageBinding names must be at most 74 characters: the managed image azop makes is named <binding>-image and Azure allows 80 characters for an image name; rename the object";
pub const STORAGE_ACCOUNT_NAME: &str = "storage account names must be 3-24 lowercase letters and digits, unique across Azure: choose another name";
pub const CONTAINER_NAME: &str = "container names must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit";
pub const DELETION_POLICY: &str = "deletionPolicy must be Delete or Orphan";
pub const NETWORK_ACCESS_MODE: &str =
    "networkAccess.mode must be Public, VnetRestricted or Private";
pub const RESTRICTED_NEEDS_SUBNETS: &str = "VnetRestricted access needs at least one entry in networkAccess.subnetIds: list the subnets allowed to reach the account";
pub const PRIVATE_NEEDS_ENDPOINT_SUBNET: &str = "Private access needs networkAccess.privateEndpointSubnetId: name the subnet that receives the private endpoint";
pub const NETWORK_ACCESS_FIELDS: &str = "subnetIds belongs to VnetRestricted and privateEndpointSubnetId to Private: remove the field or change networkAccess.mode";
pub const NETWORK_ACCESS_EXISTING_ACCOUNT: &str = "networkAccess applies only to accounts azop creates: azop never changes an existing account; remove networkAccess and configure that account's firewall yourself";
pub const STORAGE_ACCOUNT_IMMUTABLE: &str =
    "storageAccount is immutable: create a new StorageBinding to use another account";
pub const CONTAINER_IMMUTABLE: &str =
    "container is immutable: create a new StorageBinding to use another container";
pub const VHD_SOURCE_URL: &str =
    "vhd.sourceUrl must be an http or https URL with a host: give the URL of the VHD to copy";
pub const VHD_BLOB_NAME: &str =
    "vhd.blobName must end in .vhd and use letters, digits, '-', '_', '.' and '/'";
pub const VHD_OS_TYPE: &str = "vhd.osType must be Linux or Windows";
pub const VHD_HYPER_V_GENERATION: &str = "vhd.hyperVGeneration must be V1 or V2";
pub const VHD_IMMUTABLE: &str = "vhd is immutable once set: a managed image cannot be changed in place; create a new StorageBinding for another VHD (rotate a SAS in its Secret instead)";
pub const PRIVATE_ACCESS_IMMUTABLE: &str = "networkAccess cannot be switched to or from Private: the private endpoint would be left behind or the account cut off; create a new StorageBinding";

// ---- ProxyConfig ----
pub const PROXY_URL_FORMAT: &str = "httpProxy and httpsProxy must be http:// or https:// URLs such as http://proxy.example.com:3128";
pub const PROXY_URL_HOST: &str =
    "a proxy URL needs a host, an optional port and nothing else: write it as http://host:port";
pub const PROXY_NEEDS_ONE: &str = "a ProxyConfig needs httpProxy or httpsProxy: set at least one";
pub const NO_PROXY_ENTRY: &str = "noProxy entries must be hosts, domains, IPs or CIDRs without spaces or commas: list each one as its own item";
pub const LOAD_BALANCER_TYPE: &str = "apiServerLoadBalancer.type must be Public or Internal";
pub const TRUSTED_CA_ONE_SOURCE: &str = "trustedCA needs exactly one of secretRef or configMapRef";

/// Every message above, for the generated API reference (which quotes each rule in full).
pub const ALL: &[&str] = &[
    SUBSCRIPTION_ID,
    SUBSCRIPTION_ID_IMMUTABLE,
    LOCATION,
    LOCATION_IMMUTABLE,
    RESOURCE_GROUP,
    RESOURCE_GROUP_IMMUTABLE,
    OBJECT_NAME,
    DATA_KEY,
    TAG_RESERVED,
    TAG_KEY_CHARS,
    TAG_VALUE_LENGTH,
    TAG_COUNT,
    CLUSTER_NAME_LENGTH,
    CLUSTER_NAME_CHARS,
    AKS_NAME_RESERVED,
    KUBERNETES_VERSION,
    VERSION_DOWNGRADE,
    VERSION_BELOW_CURRENT,
    VERSION_MINOR_SKIP,
    POD_CIDR_NEEDS_OVERLAY,
    OVERLAY_NEEDS_AZURE_CNI,
    NODE_IMAGE_CHANNEL_NODE_OS,
    LOCAL_ACCOUNTS_NEED_AAD,
    LOCAL_ACCOUNTS_IMMUTABLE,
    VM_SIZE,
    OS_DISK_SIZE,
    OS_DISK_TYPE,
    ZONE,
    ZONES_UNIQUE,
    SSH_PUBLIC_KEY,
    SSH_RSA_ONLY,
    CONTROL_PLANE_REPLICAS,
    WORKER_POOL_NAME,
    WORKER_POOL_DUPLICATE,
    WORKER_REPLICAS,
    TAINT_EFFECT,
    CIDR_FORMAT,
    CIDR_HOST_BITS,
    NETWORK_RESOURCE_NAME,
    STATIC_PLACEMENT_INCOMPLETE,
    DYNAMIC_PLACEMENT_NAMES,
    INTERNAL_LB_NEEDS_STATIC,
    SUBNET_OUTSIDE_VNET,
    SUBNET_OVERLAP,
    PLACEMENT_IMMUTABLE,
    NETWORK_CIDRS_IMMUTABLE,
    CLUSTER_NETWORK_IMMUTABLE,
    IMAGE_ONE_SOURCE,
    MANAGED_IMAGE_ID,
    SKU,
    UPGRADE_CHANNEL,
    UPGRADE_CHANNEL_REMOVED,
    AAD_DISABLED,
    AAD_MANAGED_OFF,
    AAD_ADMIN_GROUPS_EMPTY,
    ADMIN_GROUP_ID,
    SYSTEM_POOL_REQUIRED,
    AKS_POOL_NAME,
    WINDOWS_POOL_NAME,
    POOL_DUPLICATE,
    MAX_PODS,
    POOL_COUNT,
    POOL_COUNT_OR_AUTOSCALE,
    AUTOSCALE_MIN_MAX,
    SYSTEM_POOL_EMPTY,
    POOL_IMMUTABLE,
    OS_TYPE,
    POOL_MODE,
    WINDOWS_NEEDS_AZURE_CNI,
    NETWORK_PLUGIN,
    IPV4_FORMAT,
    SERVICE_CIDR_AND_DNS_IP,
    DNS_SERVICE_IP_OUTSIDE,
    POD_SERVICE_OVERLAP,
    AKS_NETWORK_IMMUTABLE,
    LOCAL_ACCOUNTS_CONFLICT,
    ADDON_NAME,
    AZURE_POLICY_CONFIG,
    MONITORING_CONFIG,
    KEY_VAULT_CONFIG,
    KEDA_VERSION,
    AUTOSCALER_MINUTES,
    AUTOSCALER_COUNT,
    AUTOSCALER_SCAN_INTERVAL,
    AUTOSCALER_DELAY,
    AUTOSCALER_THRESHOLD,
    AUTOSCALER_PERCENTAGE,
    AUTOSCALER_BOOLEAN,
    AUTOSCALER_EXPANDER,
    IDENTITY_TYPE,
    IDENTITY_RESOURCE_ID,
    USER_ASSIGNED_IDENTITY_ID,
    KUBELET_IDENTITY_NEEDS_USER_ASSIGNED,
    WORKLOAD_IDENTITY_NEEDS_OIDC,
    OIDC_ISSUER_CANNOT_DISABLE,
    TAINT_FORMAT,
    OS_SKU,
    OS_SKU_MISMATCH,
    SCALE_SET_PRIORITY,
    EVICTION_POLICY,
    SPOT_SYSTEM_POOL,
    SPOT_ONLY,
    SPOT_MAX_PRICE,
    MAX_SURGE,
    DRAIN_TIMEOUT,
    NODE_SOAK,
    MAINTENANCE_ONE_SCHEDULE,
    MAINTENANCE_DAILY_AUTO_UPGRADE,
    MAINTENANCE_START_TIME,
    MAINTENANCE_UTC_OFFSET,
    MAINTENANCE_DATE,
    MAINTENANCE_NOT_ALLOWED,
    MAINTENANCE_DURATION,
    MAINTENANCE_INTERVAL,
    MAINTENANCE_WEEK_DAY,
    MAINTENANCE_WEEK_INDEX,
    MAINTENANCE_AUTO_UPGRADE_CHANNEL,
    MAINTENANCE_NODE_OS_CHANNEL,
    AUTHORIZED_IP_RANGE,
    PRIVATE_CLUSTER_IMMUTABLE,
    PRIVATE_WITH_AUTHORIZED_RANGES,
    SUBNET_ID,
    STORAGE_ACCOUNT_NAME,
    CONTAINER_NAME,
    NETWORK_ACCESS_MODE,
    DELETION_POLICY,
    RESTRICTED_NEEDS_SUBNETS,
    PRIVATE_NEEDS_ENDPOINT_SUBNET,
    NETWORK_ACCESS_FIELDS,
    NETWORK_ACCESS_EXISTING_ACCOUNT,
    STORAGE_ACCOUNT_IMMUTABLE,
    CONTAINER_IMMUTABLE,
    VHD_SOURCE_URL,
    VHD_BLOB_NAME,
    VHD_OS_TYPE,
    VHD_HYPER_V_GENERATION,
    VHD_IMMUTABLE,
    PRIVATE_ACCESS_IMMUTABLE,
    PROXY_URL_FORMAT,
    PROXY_URL_HOST,
    PROXY_NEEDS_ONE,
    NO_PROXY_ENTRY,
    LOAD_BALANCER_TYPE,
    TRUSTED_CA_ONE_SOURCE,
    TAG_KEY_CASE_DUPLICATE,
    TAG_KEY_AZOP,
    STORAGE_TAG_KEY_LENGTH,
    DNS_ZONE_TAGS,
    VM_TAGS_TOTAL,
    LABEL_KEY,
    LABEL_VALUE,
    KUBELET_LABEL,
    AKS_LABEL_RESERVED,
    TAINT_KEY,
    TAINT_VALUE,
    SUBNET_TOO_SMALL,
    SUBNET_CAPACITY,
    VNET_RESERVED_RANGE,
    WORKER_VM_NAME_LENGTH,
    SYSTEM_POOL_LINUX,
    AKS_RESERVED_RANGE,
    STORAGE_BINDING_NAME_LENGTH,
];

#[cfg(test)]
mod tests {
    #[test]
    fn all_lists_every_message() {
        let source = include_str!("messages.rs");
        let declared = source.matches("\npub const ").count() - 1; // minus ALL itself
        assert_eq!(super::ALL.len(), declared, "add the new message to ALL");
    }
}
