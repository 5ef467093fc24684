//! Linux virtual machines. The OS disk is created implicitly from the image (name
//! `{vm}-osdisk`, deleteOption Delete, so deleting the VM deletes it). NICs are managed
//! separately (network_interface) and only referenced here.
//!
//! `customData` is sent base64-encoded and never compared: Azure never returns it. Most
//! other managed fields (image, admin user, SSH key, zone) cannot change on a live VM; a
//! difference is still reported so the controller can say what would need a new VM.

use super::{API_VERSION, wire_enum};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::network::{ObservedRef, get_via_mgmt, ref_ids, send_via_mgmt, uid_tag};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_compute::models::{
    BootDiagnostics, CreateOption, DeleteOption, DiagnosticsProfile, HardwareProfile,
    ImageReference, LinuxConfiguration, ManagedDiskParameters, NetworkInterfaceReference,
    NetworkInterfaceReferenceProperties, NetworkProfile, OsDisk, OsProfile, Resource,
    SshConfiguration, SshPublicKey, StorageProfile, VirtualMachine as VmModel,
    VirtualMachineProperties, hardware_profile, os_disk,
};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct VirtualMachine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMachineKey {
    pub resource_group: String,
    pub name: String,
}

/// Where the OS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Marketplace {
        publisher: String,
        offer: String,
        sku: String,
        /// A version or `latest`.
        version: String,
    },
    /// A managed image id (e.g. the StorageBinding's image).
    ManagedImage { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsDiskSpec {
    pub size_gb: i32,
    /// `Premium_LRS`, `StandardSSD_LRS`, `Standard_LRS`, …
    pub storage_account_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMachineSpec {
    pub location: String,
    /// e.g. `Standard_D4s_v5` (any string: sizes newer than the generated enum pass through).
    pub vm_size: String,
    /// A VM sits in at most one zone.
    pub zone: Option<String>,
    pub image: ImageSource,
    pub os_disk: OsDiskSpec,
    pub admin_username: String,
    /// OpenSSH public key (`ssh-ed25519 AAAA…`); password login is disabled.
    pub ssh_public_key: String,
    /// Bootstrap data, plain text (cloud-init); base64-encoded on the wire.
    pub custom_data: Option<String>,
    /// NIC ids; the first is primary.
    pub nic_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedVirtualMachine {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub properties: ObservedVmProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedVmProperties {
    pub provisioning_state: Option<String>,
    pub vm_id: Option<String>,
    pub hardware_profile: Option<ObservedHardwareProfile>,
    pub storage_profile: Option<ObservedStorageProfile>,
    pub os_profile: Option<ObservedOsProfile>,
    pub network_profile: Option<ObservedNetworkProfile>,
    /// Present only with `$expand=instanceView`.
    pub instance_view: Option<serde_json::Value>,
    pub diagnostics_profile: Option<ObservedDiagnosticsProfile>,
    /// When the VM was created (RFC 3339).
    pub time_created: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedDiagnosticsProfile {
    pub boot_diagnostics: Option<ObservedBootDiagnostics>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBootDiagnostics {
    pub enabled: Option<bool>,
    pub storage_uri: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedHardwareProfile {
    pub vm_size: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStorageProfile {
    pub image_reference: Option<ObservedImageReference>,
    pub os_disk: Option<ObservedOsDisk>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedImageReference {
    pub id: Option<String>,
    pub publisher: Option<String>,
    pub offer: Option<String>,
    pub sku: Option<String>,
    pub version: Option<String>,
    pub exact_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedOsDisk {
    pub name: Option<String>,
    pub os_type: Option<String>,
    pub create_option: Option<String>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i32>,
    pub delete_option: Option<String>,
    pub managed_disk: Option<ObservedManagedDiskRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedManagedDiskRef {
    pub id: Option<String>,
    pub storage_account_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedOsProfile {
    pub computer_name: Option<String>,
    pub admin_username: Option<String>,
    pub linux_configuration: Option<ObservedLinuxConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedLinuxConfiguration {
    pub disable_password_authentication: Option<bool>,
    pub ssh: Option<ObservedSsh>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSsh {
    #[serde(default)]
    pub public_keys: Vec<ObservedSshKey>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSshKey {
    pub path: Option<String>,
    pub key_data: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNetworkProfile {
    #[serde(default)]
    pub network_interfaces: Vec<ObservedRef>,
}

impl ObservedVirtualMachine {
    /// The OS disk's managed disk id (for status).
    pub fn os_disk_id(&self) -> Option<&str> {
        self.properties
            .storage_profile
            .as_ref()?
            .os_disk
            .as_ref()?
            .managed_disk
            .as_ref()?
            .id
            .as_deref()
    }
}

/// The name of a VM's implicit OS disk.
pub fn os_disk_name(vm_name: &str) -> String {
    format!("{vm_name}-osdisk")
}

fn trimmed_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    keys.map(|k| k.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[async_trait::async_trait]
impl ArmResource for VirtualMachine {
    type Key = VirtualMachineKey;
    type Spec = VirtualMachineSpec;
    type Body = VmModel;
    type Observed = ObservedVirtualMachine;

    const RESOURCE_TYPE: &'static str = "Microsoft.Compute/virtualMachines";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::compute_id(
            subscription_id,
            &key.resource_group,
            &format!("virtualMachines/{}", key.name),
        )
    }

    fn desired(key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> VmModel {
        let mut hardware = HardwareProfile::new();
        hardware.vm_size = wire_enum::<hardware_profile::VmSize>(&spec.vm_size);

        let mut image = ImageReference::new();
        match &spec.image {
            ImageSource::Marketplace {
                publisher,
                offer,
                sku,
                version,
            } => {
                image.publisher = Some(publisher.clone());
                image.offer = Some(offer.clone());
                image.sku = Some(sku.clone());
                image.version = Some(version.clone());
            }
            ImageSource::ManagedImage { id } => image.sub_resource.id = Some(id.clone()),
        }
        let mut managed = ManagedDiskParameters::new();
        managed.storage_account_type = wire_enum(&spec.os_disk.storage_account_type);
        let mut os = OsDisk::new(CreateOption::FromImage);
        os.name = Some(os_disk_name(&key.name));
        os.os_type = Some(os_disk::OsType::Linux);
        os.disk_size_gb = Some(spec.os_disk.size_gb);
        os.delete_option = Some(DeleteOption::Delete);
        os.managed_disk = Some(managed);
        let mut storage = StorageProfile::new();
        storage.image_reference = Some(image);
        storage.os_disk = Some(os);

        let mut ssh_key = SshPublicKey::new();
        ssh_key.path = Some(format!(
            "/home/{}/.ssh/authorized_keys",
            spec.admin_username
        ));
        ssh_key.key_data = Some(spec.ssh_public_key.trim().to_owned());
        let mut ssh = SshConfiguration::new();
        ssh.public_keys = vec![ssh_key];
        let mut linux = LinuxConfiguration::new();
        linux.disable_password_authentication = Some(true);
        linux.ssh = Some(ssh);
        let mut os_profile = OsProfile::new();
        os_profile.computer_name = Some(key.name.clone());
        os_profile.admin_username = Some(spec.admin_username.clone());
        os_profile.custom_data = spec
            .custom_data
            .as_ref()
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c.as_bytes()));
        os_profile.linux_configuration = Some(linux);

        let mut network = NetworkProfile::new();
        network.network_interfaces = spec
            .nic_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut props = NetworkInterfaceReferenceProperties::new();
                props.primary = Some(i == 0);
                let mut nic = NetworkInterfaceReference::new();
                nic.sub_resource.id = Some(id.clone());
                nic.properties = Some(props);
                nic
            })
            .collect();

        // Boot diagnostics on, in the storage Azure manages (no storageUri): the serial
        // console is what azop quotes when a machine does not join.
        let mut boot = BootDiagnostics::new();
        boot.enabled = Some(true);
        let mut diagnostics = DiagnosticsProfile::new();
        diagnostics.boot_diagnostics = Some(boot);

        let mut props = VirtualMachineProperties::new();
        props.diagnostics_profile = Some(diagnostics);
        props.hardware_profile = Some(hardware);
        props.storage_profile = Some(storage);
        props.os_profile = Some(os_profile);
        props.network_profile = Some(network);
        let mut resource = Resource::new(spec.location.clone());
        resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        let mut body = VmModel::new(resource);
        body.zones = spec.zone.iter().cloned().collect();
        body.properties = Some(props);
        body
    }

    fn diff(desired: &VmModel, observed: &ObservedVirtualMachine) -> Vec<Difference> {
        diff_by_aspect(desired, observed)
            .into_iter()
            .flat_map(|(_, d)| d)
            .collect()
    }

    fn owner_uid(observed: &ObservedVirtualMachine) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedVirtualMachine>, AzureError> {
        let client = session.compute_client().virtual_machines_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    /// The generated model serializes the read-only `timeCreated` as `null`; Azure must
    /// not be sent read-only properties, so the body goes out without them.
    fn wire(body: &VmModel) -> Result<serde_json::Value, AzureError> {
        serde_json::to_value(body)
            .map(crate::resources::without_nulls)
            .map_err(|e| AzureError::config(format!("failed to serialize request body: {e}")))
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &VmModel,
    ) -> Result<RawResponse, AzureError> {
        let path = Self::path(session.subscription_id(), key);
        session
            .call(
                azure_core::Method::Put,
                &path,
                Self::API_VERSION,
                Some(&Self::wire(body)?),
            )
            .await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.compute_client().virtual_machines_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        send_via_mgmt(session, send).await
    }
}

/// The part of a VM a difference is in. Whether a machine is updated in place or replaced is
/// decided on these, never on the diff's field paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VmAspect {
    /// Location and zones.
    Placement,
    /// `hardwareProfile.vmSize`.
    Size,
    /// `storageProfile.imageReference`.
    Image,
    /// `storageProfile.osDisk`: size, storage type, delete option.
    OsDisk,
    /// `osProfile`: admin user, password login, SSH keys.
    OsProfile,
    /// `networkProfile`: the NICs.
    Network,
    /// `diagnosticsProfile.bootDiagnostics`: on or off (an in-place update).
    Diagnostics,
    Tags,
}

impl VmAspect {
    /// Whether Azure can apply a change here only to a new VM: an image or OS disk is made
    /// once, when the VM is created. (A size can change in place, with a restart.)
    pub fn needs_new_vm(self) -> bool {
        matches!(self, VmAspect::Image | VmAspect::OsDisk)
    }
}

/// The managed differences by aspect (pure); [`VirtualMachine::diff`] is these, in this order.
/// Aspects without a difference are left out.
pub fn diff_by_aspect(
    desired: &VmModel,
    observed: &ObservedVirtualMachine,
) -> Vec<(VmAspect, Vec<Difference>)> {
    let mut placement = Diff::new();
    placement.location(&desired.resource.location, observed.location.as_deref());
    placement.string_set(
        "zones",
        desired.zones.iter().map(String::as_str),
        observed.zones.iter().map(String::as_str),
    );
    let mut out = vec![(VmAspect::Placement, placement.finish())];
    if let Some(p) = &desired.properties {
        let op = &observed.properties;
        out.push((VmAspect::Size, size_diff(p, op)));
        if let Some(storage) = &p.storage_profile {
            let ostorage = op.storage_profile.clone().unwrap_or_default();
            out.push((VmAspect::Image, image_diff(storage, &ostorage)));
            out.push((VmAspect::OsDisk, os_disk_diff(storage, &ostorage)));
        }
        out.push((VmAspect::OsProfile, os_profile_diff(p, op)));
        out.push((VmAspect::Network, network_diff(p, op)));
        out.push((VmAspect::Diagnostics, diagnostics_diff(p, op)));
        let mut tags = Diff::new();
        tags.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        out.push((VmAspect::Tags, tags.finish()));
    }
    out.retain(|(_, d)| !d.is_empty());
    out
}

/// The aspects in which `observed` differs from `desired` (pure).
pub fn changed_aspects(
    desired: &VmModel,
    observed: &ObservedVirtualMachine,
) -> std::collections::BTreeSet<VmAspect> {
    diff_by_aspect(desired, observed)
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

fn size_diff(p: &VirtualMachineProperties, op: &ObservedVmProperties) -> Vec<Difference> {
    let mut d = Diff::new();
    d.ignore_case(
        "properties.hardwareProfile.vmSize",
        p.hardware_profile
            .as_ref()
            .and_then(|h| h.vm_size.as_ref())
            .map(wire)
            .as_deref(),
        op.hardware_profile
            .as_ref()
            .and_then(|h| h.vm_size.as_deref()),
    );
    d.finish()
}

fn image_diff(storage: &StorageProfile, ostorage: &ObservedStorageProfile) -> Vec<Difference> {
    let mut d = Diff::new();
    let oimg = ostorage.image_reference.clone().unwrap_or_default();
    if let Some(img) = &storage.image_reference {
        let f = "properties.storageProfile.imageReference";
        d.id_set(
            &format!("{f}.id"),
            img.sub_resource.id.as_deref(),
            oimg.id.as_deref(),
        );
        d.ignore_case(
            &format!("{f}.publisher"),
            img.publisher.as_deref(),
            oimg.publisher.as_deref(),
        );
        d.ignore_case(
            &format!("{f}.offer"),
            img.offer.as_deref(),
            oimg.offer.as_deref(),
        );
        d.ignore_case(&format!("{f}.sku"), img.sku.as_deref(), oimg.sku.as_deref());
        d.ignore_case(
            &format!("{f}.version"),
            img.version.as_deref(),
            oimg.version.as_deref(),
        );
    }
    d.finish()
}

fn os_disk_diff(storage: &StorageProfile, ostorage: &ObservedStorageProfile) -> Vec<Difference> {
    let mut d = Diff::new();
    let oos = ostorage.os_disk.clone().unwrap_or_default();
    if let Some(os) = &storage.os_disk {
        let f = "properties.storageProfile.osDisk";
        if let Some(size) = os.disk_size_gb
            && oos.disk_size_gb != Some(size)
        {
            d.push(
                &format!("{f}.diskSizeGB"),
                size,
                oos.disk_size_gb
                    .map_or("<unset>".to_owned(), |s| s.to_string()),
            );
        }
        d.ignore_case(
            &format!("{f}.managedDisk.storageAccountType"),
            os.managed_disk
                .as_ref()
                .and_then(|m| m.storage_account_type.as_ref())
                .map(wire)
                .as_deref(),
            oos.managed_disk
                .as_ref()
                .and_then(|m| m.storage_account_type.as_deref()),
        );
        d.ignore_case(
            &format!("{f}.deleteOption"),
            os.delete_option.as_ref().map(wire).as_deref(),
            // Azure's default is Detach.
            Some(oos.delete_option.as_deref().unwrap_or("Detach")),
        );
    }
    d.finish()
}

fn os_profile_diff(p: &VirtualMachineProperties, op: &ObservedVmProperties) -> Vec<Difference> {
    let mut d = Diff::new();
    let Some(os) = &p.os_profile else {
        return d.finish();
    };
    let oos = op.os_profile.clone().unwrap_or_default();
    d.exact(
        "properties.osProfile.adminUsername",
        os.admin_username.as_deref(),
        oos.admin_username.as_deref(),
    );
    // customData: never compared (Azure never returns it).
    if let Some(linux) = &os.linux_configuration {
        let olinux = oos.linux_configuration.clone().unwrap_or_default();
        d.boolean(
            "properties.osProfile.linuxConfiguration.disablePasswordAuthentication",
            linux.disable_password_authentication,
            olinux.disable_password_authentication,
        );
        let want = trimmed_keys(
            linux
                .ssh
                .iter()
                .flat_map(|s| s.public_keys.iter())
                .filter_map(|k| k.key_data.as_deref()),
        );
        let have = trimmed_keys(
            olinux
                .ssh
                .iter()
                .flat_map(|s| s.public_keys.iter())
                .filter_map(|k| k.key_data.as_deref()),
        );
        d.string_set(
            "properties.osProfile.linuxConfiguration.ssh.publicKeys",
            want.iter().map(String::as_str),
            have.iter().map(String::as_str),
        );
    }
    d.finish()
}

fn network_diff(p: &VirtualMachineProperties, op: &ObservedVmProperties) -> Vec<Difference> {
    let mut d = Diff::new();
    if let Some(net) = &p.network_profile {
        let onet = op.network_profile.clone().unwrap_or_default();
        d.id_set(
            "properties.networkProfile.networkInterfaces",
            net.network_interfaces
                .iter()
                .filter_map(|n| n.sub_resource.id.as_deref()),
            ref_ids(&onet.network_interfaces),
        );
    }
    d.finish()
}

fn diagnostics_diff(p: &VirtualMachineProperties, op: &ObservedVmProperties) -> Vec<Difference> {
    let mut d = Diff::new();
    if let Some(diag) = &p.diagnostics_profile {
        d.boolean(
            "properties.diagnosticsProfile.bootDiagnostics.enabled",
            diag.boot_diagnostics.as_ref().and_then(|b| b.enabled),
            op.diagnostics_profile
                .as_ref()
                .and_then(|o| o.boot_diagnostics.as_ref())
                .and_then(|b| b.enabled),
        );
    }
    d.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_read_only_time_created_the_model_serializes_stays_off_the_wire() {
        let model = serde_json::to_value(desired()).expect("json");
        assert!(
            model
                .pointer("/properties/timeCreated")
                .is_some_and(|v| v.is_null()),
            "the generated model writes timeCreated: null (why wire() exists)"
        );
        let (_, wire) = wire_body();
        assert!(wire.pointer("/properties/timeCreated").is_none());
    }

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            VirtualMachine::RESOURCE_TYPE,
            VirtualMachine::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;

    const NIC: &str = "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkInterfaces/{existing-nic-name}";
    const KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCeClRAk2ipUs azop@example";

    fn spec() -> VirtualMachineSpec {
        VirtualMachineSpec {
            location: "westus".into(),
            vm_size: "Standard_D1_v2".into(),
            zone: Some("2".into()),
            image: ImageSource::Marketplace {
                publisher: "Canonical".into(),
                offer: "0001-com-ubuntu-server-jammy".into(),
                sku: "22_04-lts-gen2".into(),
                version: "latest".into(),
            },
            os_disk: OsDiskSpec {
                size_gb: 64,
                storage_account_type: "Premium_LRS".into(),
            },
            admin_username: "azureuser".into(),
            ssh_public_key: format!("{KEY}\n"),
            custom_data: Some("#cloud-config\n".into()),
            nic_ids: vec![NIC.into()],
            tags: BTreeMap::new(),
        }
    }

    fn desired() -> VmModel {
        let key = VirtualMachineKey {
            resource_group: "myResourceGroup".into(),
            name: "myVM".into(),
        };
        VirtualMachine::desired(
            &key,
            &spec(),
            &Owner::new("AzureCluster", "ns", "c1", "uid-1"),
        )
    }

    /// VirtualMachines_CreateOrUpdate, example "VirtualMachine_Create_LinuxVmWithSshAuthentication.json"
    /// (2024-07-01), re-typed with a zone, disk size, deleteOption, boot diagnostics and our tags, as the
    /// response carries them: no customData, the OS disk's managed disk id, the key's path,
    /// exactVersion, vmId, a lower-cased NIC id, provisioningState Creating.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "myVM",
            "id": "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM",
            "type": "Microsoft.Compute/virtualMachines",
            "location": "westus",
            "zones": ["2"],
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "properties": {
                "osProfile": {
                    "adminUsername": "azureuser",
                    "secrets": [],
                    "computerName": "myVM",
                    "linuxConfiguration": {
                        "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": KEY}]},
                        "disablePasswordAuthentication": true,
                        "provisionVMAgent": true,
                        "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}
                    },
                    "allowExtensionOperations": true,
                    "requireGuestProvisionSignal": true
                },
                "networkProfile": {"networkInterfaces": [{"id": NIC.to_lowercase(), "properties": {"primary": true}}]},
                "storageProfile": {
                    "imageReference": {
                        "sku": "22_04-lts-gen2", "publisher": "Canonical", "version": "latest",
                        "offer": "0001-com-ubuntu-server-jammy", "exactVersion": "22.04.202610010"
                    },
                    "osDisk": {
                        "name": "myVM-osdisk",
                        "osType": "Linux",
                        "caching": "ReadWrite",
                        "createOption": "FromImage",
                        "diskSizeGB": 64,
                        "deleteOption": "Delete",
                        "managedDisk": {
                            "id": "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myVM-osdisk",
                            "storageAccountType": "Premium_LRS"
                        }
                    },
                    "dataDisks": [],
                    "diskControllerType": "SCSI"
                },
                "vmId": "e0de9b84-a506-4b95-9623-00a425d05c90",
                "hardwareProfile": {"vmSize": "Standard_D1_v2"},
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": true}},
                "provisioningState": "Creating",
                "timeCreated": "2026-01-01T00:00:00.000000+00:00"
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedVirtualMachine {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(VirtualMachine::diff(&desired(), &o), vec![]);
        assert_eq!(VirtualMachine::owner_uid(&o).as_deref(), Some("uid-1"));
        assert!(
            o.os_disk_id()
                .is_some_and(|id| id.ends_with("/myVM-osdisk"))
        );
    }

    /// Each change is put in its aspect, so whether a machine is replaced is decided on types,
    /// whatever the diff's field paths read.
    #[test]
    fn every_difference_has_its_aspect() {
        let base = get_after_put();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            f(&mut v);
            changed_aspects(&desired(), &observed(v))
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(edit(&|_| {}), vec![]);
        assert_eq!(
            edit(&|v| v["properties"]["hardwareProfile"]["vmSize"] = "Standard_D2_v2".into()),
            vec![VmAspect::Size]
        );
        assert_eq!(
            edit(&|v| v["properties"]["storageProfile"]["imageReference"]["sku"] = "other".into()),
            vec![VmAspect::Image]
        );
        assert_eq!(
            edit(&|v| v["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] = 128.into()),
            vec![VmAspect::OsDisk]
        );
        assert_eq!(
            edit(&|v| {
                v["properties"]["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"] =
                    "Standard_LRS".into();
                v["zones"] = serde_json::json!(["1"]);
                v["tags"]["env"] = "x".into();
            }),
            vec![VmAspect::Placement, VmAspect::OsDisk]
        );
        assert_eq!(
            edit(&|v| v["tags"] = serde_json::json!({})),
            vec![VmAspect::Tags]
        );
        assert_eq!(
            edit(
                &|v| v["properties"]["diagnosticsProfile"]["bootDiagnostics"]["enabled"] =
                    false.into()
            ),
            vec![VmAspect::Diagnostics]
        );
        assert!(!VmAspect::Diagnostics.needs_new_vm());
        assert!(VmAspect::Image.needs_new_vm() && VmAspect::OsDisk.needs_new_vm());
        assert!(!VmAspect::Size.needs_new_vm() && !VmAspect::Tags.needs_new_vm());
        // The flat diff is every aspect's differences.
        let mut v = base.clone();
        v["properties"]["hardwareProfile"]["vmSize"] = "Standard_D2_v2".into();
        v["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] = 128.into();
        let flat = VirtualMachine::diff(&desired(), &observed(v.clone()));
        let by_aspect: Vec<Difference> = diff_by_aspect(&desired(), &observed(v))
            .into_iter()
            .flat_map(|(_, d)| d)
            .collect();
        assert_eq!(flat, by_aspect);
        assert_eq!(flat.len(), 2);
    }

    #[test]
    fn desired_body_is_the_wire_shape() {
        let body = serde_json::to_value(desired()).expect("json");
        let p = &body["properties"];
        assert_eq!(p["hardwareProfile"]["vmSize"], "Standard_D1_v2");
        assert_eq!(p["storageProfile"]["osDisk"]["createOption"], "FromImage");
        assert_eq!(p["storageProfile"]["osDisk"]["deleteOption"], "Delete");
        assert_eq!(
            p["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"],
            "Premium_LRS"
        );
        assert_eq!(p["osProfile"]["customData"], "I2Nsb3VkLWNvbmZpZwo=");
        assert_eq!(
            p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"],
            KEY
        );
        assert_eq!(
            p["networkProfile"]["networkInterfaces"][0]["properties"]["primary"],
            true
        );
        assert_eq!(body["zones"], serde_json::json!(["2"]));
        // A size newer than the generated enum passes through unchanged.
        let mut s = spec();
        s.vm_size = "Standard_D8ads_v7".into();
        let key = VirtualMachineKey {
            resource_group: "rg".into(),
            name: "vm".into(),
        };
        let body = serde_json::to_value(VirtualMachine::desired(
            &key,
            &s,
            &Owner::new("k", "n", "x", "u"),
        ))
        .expect("json");
        assert_eq!(
            body["properties"]["hardwareProfile"]["vmSize"],
            "Standard_D8ads_v7"
        );
        let s = VirtualMachineSpec {
            image: ImageSource::ManagedImage {
                id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/base"
                    .into(),
            },
            ..spec()
        };
        let body = serde_json::to_value(VirtualMachine::desired(
            &key,
            &s,
            &Owner::new("k", "n", "x", "u"),
        ))
        .expect("json");
        assert_eq!(
            body["properties"]["storageProfile"]["imageReference"],
            serde_json::json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/base"})
        );
    }

    #[test]
    fn each_managed_field_is_drift() {
        let set = |ptr: &'static str, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location", "eastus".into())),
            ("zones", set("/zones", serde_json::json!(["1"]))),
            (
                "properties.hardwareProfile.vmSize",
                set(
                    "/properties/hardwareProfile/vmSize",
                    "Standard_D2_v2".into(),
                ),
            ),
            (
                "properties.storageProfile.imageReference.publisher",
                set(
                    "/properties/storageProfile/imageReference/publisher",
                    "Debian".into(),
                ),
            ),
            (
                "properties.storageProfile.imageReference.offer",
                set(
                    "/properties/storageProfile/imageReference/offer",
                    "debian-12".into(),
                ),
            ),
            (
                "properties.storageProfile.imageReference.sku",
                set("/properties/storageProfile/imageReference/sku", "12".into()),
            ),
            (
                "properties.storageProfile.imageReference.version",
                set(
                    "/properties/storageProfile/imageReference/version",
                    "1.0.0".into(),
                ),
            ),
            (
                "properties.storageProfile.osDisk.diskSizeGB",
                set("/properties/storageProfile/osDisk/diskSizeGB", 30.into()),
            ),
            (
                "properties.storageProfile.osDisk.managedDisk.storageAccountType",
                set(
                    "/properties/storageProfile/osDisk/managedDisk/storageAccountType",
                    "Standard_LRS".into(),
                ),
            ),
            (
                "properties.storageProfile.osDisk.deleteOption",
                set(
                    "/properties/storageProfile/osDisk/deleteOption",
                    "Detach".into(),
                ),
            ),
            (
                "properties.osProfile.adminUsername",
                set("/properties/osProfile/adminUsername", "root".into()),
            ),
            (
                "properties.osProfile.linuxConfiguration.disablePasswordAuthentication",
                set(
                    "/properties/osProfile/linuxConfiguration/disablePasswordAuthentication",
                    false.into(),
                ),
            ),
            (
                "properties.osProfile.linuxConfiguration.ssh.publicKeys",
                set(
                    "/properties/osProfile/linuxConfiguration/ssh/publicKeys/0/keyData",
                    "ssh-rsa OTHER".into(),
                ),
            ),
            (
                "properties.networkProfile.networkInterfaces",
                set(
                    "/properties/networkProfile/networkInterfaces",
                    serde_json::json!([]),
                ),
            ),
            ("tags", set("/tags", serde_json::json!({}))),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = VirtualMachine::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }

    #[test]
    fn custom_data_is_never_compared() {
        let mut s = spec();
        s.custom_data = Some("something else entirely".into());
        let key = VirtualMachineKey {
            resource_group: "myResourceGroup".into(),
            name: "myVM".into(),
        };
        let desired =
            VirtualMachine::desired(&key, &s, &Owner::new("AzureCluster", "ns", "c1", "uid-1"));
        assert!(VirtualMachine::diff(&desired, &observed(get_after_put())).is_empty());
    }
}
