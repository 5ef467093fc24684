//! azop-armsim's `--machines` plumbing, fast, in `make test`: a stand-in for QEMU (a small
//! script that writes its console, listens on the ports QEMU would forward and records its
//! command line) boots VMs made from a managed image whose VHD is in a real Azurite; the
//! real qemu-img makes the OS disk over the image's bytes and the real genisoimage the seed.
//! Checked: the image is read from the blob, the disk and the command line, power states
//! following the process, the load balancer frontend on the loopback public IP forwarding to
//! the guest's port, boot diagnostics serving the console (and refusing altered or disabled
//! access), a marketplace VM without a guest, and delete stopping the guest and freeing its
//! disk. The real boot is `make test-machines`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use azop_armsim::{BlobService, MachinesConfig, SimConfig};
use azop_e2e::blob::BlobClient;
use azop_e2e::operator::World;
use azop_e2e::storage_binding::{
    NETWORK_API, RG_API, STORAGE_API, VhdKind, account_path, container_path, make_vhd, rg_path,
    upload,
};
use azop_testenv::{Azurite, AzuriteOptions, Check, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

const RG: &str = "rg-fake-machines";
const COMPUTE_API: &str = "2024-07-01";

/// The stand-in for qemu-system-x86_64.
const FAKE_QEMU: &str = r#"#!/usr/bin/env python3
import json, os, socket, sys, threading, time
args = sys.argv[1:]
def opt(name):
    return [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]
pidfile = opt('-pidfile')[0]
with open(pidfile, 'w') as f:
    f.write(str(os.getpid()))
with open(os.path.join(os.path.dirname(pidfile), 'args.json'), 'w') as f:
    json.dump(args, f)
name = opt('-name')[0]
chardev = [c for c in opt('-chardev') if c.startswith('file,')][0]
serial = dict(kv.split('=', 1) for kv in chardev.split(',')[1:] if '=' in kv)['path']
with open(serial, 'a') as f:
    f.write('fake guest %s booting\n%s login: \n' % (name, name))
user = [n for n in opt('-netdev') if n.startswith('user,')][0]
def serve(host_port, guest_port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', host_port))
    s.listen()
    while True:
        c, _ = s.accept()
        c.sendall(('%s:%d\n' % (name, guest_port)).encode())
        c.close()
for part in user.split(','):
    if part.startswith('hostfwd=tcp:'):
        host, guest = part[len('hostfwd=tcp:'):].split('-:')
        threading.Thread(target=serve, args=(int(host.rsplit(':', 1)[1]), int(guest)), daemon=True).start()
while True:
    time.sleep(1)
"#;

fn net(kind: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.Network/{kind}/{name}",
        azop_e2e::operator::SUBSCRIPTION
    )
}

fn compute(kind: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.Compute/{kind}/{name}",
        azop_e2e::operator::SUBSCRIPTION
    )
}

async fn instance_power(w: &World, vm: &str) -> Result<String> {
    let view = w
        .arm(
            Method::GET,
            &format!("{vm}/instanceView"),
            COMPUTE_API,
            None,
        )
        .await?;
    Ok(view["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["code"].as_str())
        .find(|c| c.starts_with("PowerState/"))
        .unwrap_or_default()
        .to_string())
}

fn vm_body(nic: &str, image: Value, diagnostics: bool) -> Value {
    json!({"location": "westeurope", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"imageReference": image,
            "osDisk": {"createOption": "FromImage", "diskSizeGB": 1, "deleteOption": "Delete",
                "managedDisk": {"storageAccountType": "Premium_LRS"}}},
        "osProfile": {"computerName": "fake-0", "adminUsername": "azop",
            "customData": "I2Nsb3VkLWNvbmZpZwo=",
            "linuxConfiguration": {"disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": "/home/azop/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAA"}]}}},
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": diagnostics}},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_from_a_vhd_boot_as_guests_behind_their_load_balancer_and_go_with_their_vm()
-> Result<()> {
    let azurite = Azurite::start_with(AzuriteOptions {
        accounts: vec!["fakevm00".into()],
        ..AzuriteOptions::default()
    })
    .await?;
    let acct = azurite.account("fakevm00").context("account")?;
    let dir = tempfile::tempdir()?;
    let fake = dir.path().join("qemu-system-x86_64");
    std::fs::write(&fake, FAKE_QEMU)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let mut machines = MachinesConfig::from_env();
    machines.qemu = fake;
    machines.qemu_img = azop_testenv::binaries::qemu_img()?;
    machines.dir = dir.path().to_path_buf();
    machines.memory_mib = 512;
    let config = SimConfig::default()
        .blob_service(BlobService {
            endpoint: azurite.endpoint().to_string(),
            pool: vec![(acct.name.clone(), acct.key.clone())],
        })
        .machines(machines);
    let w = World::new("fake-machines", config).await?;

    // The image: a fixed VHD in a container of an ARM storage account (Azurite behind it).
    w.arm(
        Method::PUT,
        &rg_path(RG),
        RG_API,
        Some(json!({"location": "westeurope"})),
    )
    .await?;
    let account = w
        .arm(
            Method::PUT,
            &account_path(RG, "fakeimages"),
            STORAGE_API,
            Some(json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})),
        )
        .await?;
    w.arm(
        Method::PUT,
        &container_path(RG, "fakeimages", "vhds"),
        STORAGE_API,
        Some(json!({"properties": {}})),
    )
    .await?;
    let endpoint = account["properties"]["primaryEndpoints"]["blob"]
        .as_str()
        .context("blob endpoint")?;
    ensure!(endpoint.contains("/fakevm00/"), "{endpoint}");
    let blob = BlobClient::new(azurite.endpoint(), &acct.name, &acct.key)?;
    upload(&blob, "vhds", "node.vhd", &make_vhd(VhdKind::Fixed, 4)?).await?;
    let image = compute("images", "node");
    w.arm(
        Method::PUT,
        &image,
        COMPUTE_API,
        Some(
            json!({"location": "westeurope", "properties": {"hyperVGeneration": "V1",
            "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized",
                "blobUri": blob.url("vhds/node.vhd")}}}}),
        ),
    )
    .await?;

    // A VNet, a public IP behind a load balancer whose rule has no probe (every running
    // backend takes connections), a NIC in its pool.
    let vnet = net("virtualNetworks", "vnet");
    w.arm(
        Method::PUT,
        &vnet,
        NETWORK_API,
        Some(json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "nodes", "properties": {"addressPrefix": "10.0.1.0/24"}}]}})),
    )
    .await?;
    let pip = net("publicIPAddresses", "fe");
    let pip_body = w
        .arm(
            Method::PUT,
            &pip,
            NETWORK_API,
            Some(
                json!({"location": "westeurope", "sku": {"name": "Standard"},
                "properties": {"publicIPAllocationMethod": "Static"}}),
            ),
        )
        .await?;
    let ip = pip_body["properties"]["ipAddress"]
        .as_str()
        .context("ip")?
        .to_string();
    ensure!(
        ip.starts_with("127.50."),
        "public IPs are on loopback: {ip}"
    );
    let lb = net("loadBalancers", "lb");
    w.arm(
        Method::PUT,
        &lb,
        NETWORK_API,
        Some(json!({"location": "westeurope", "sku": {"name": "Standard"}, "properties": {
            "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": pip}}}],
            "backendAddressPools": [{"name": "pool"}],
            "loadBalancingRules": [{"name": "web", "properties": {
                "frontendIPConfiguration": {"id": format!("{lb}/frontendIPConfigurations/fe")},
                "backendAddressPool": {"id": format!("{lb}/backendAddressPools/pool")},
                "protocol": "Tcp", "frontendPort": 8080, "backendPort": 80}}]}})),
    )
    .await?;
    let nic = net("networkInterfaces", "fake-0-nic");
    w.arm(
        Method::PUT,
        &nic,
        NETWORK_API,
        Some(json!({"location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1",
            "properties": {"subnet": {"id": format!("{vnet}/subnets/nodes")},
                "loadBalancerBackendAddressPools": [{"id": format!("{lb}/backendAddressPools/pool")}]}}]}})),
    )
    .await?;

    let vm = compute("virtualMachines", "fake-0");
    w.arm(
        Method::PUT,
        &vm,
        COMPUTE_API,
        Some(vm_body(&nic, json!({"id": image}), true)),
    )
    .await?;
    let running = wait_for("the guest running", Duration::from_secs(60), || async {
        match w
            .sim
            .machines()
            .into_iter()
            .find(|m| m.vm_id.eq_ignore_ascii_case(&vm))
        {
            Some(m) if m.state == "running" => Check::Done(m),
            other => Check::Pending(format!("{other:?}")),
        }
    })
    .await?;
    let vm_dir = running.serial_log.parent().context("vm dir")?.to_path_buf();
    let args: Vec<String> = wait_for("the command line", Duration::from_secs(10), || async {
        match std::fs::read_to_string(vm_dir.join("args.json")) {
            Ok(t) => Check::Done(serde_json::from_str(&t).unwrap_or_default()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    let line = args.join(" ");
    for want in [
        "-smp 2",
        "-m 512",
        "tcg,thread=multi",
        "restrict=on",
        "-name fake-0",
    ] {
        ensure!(line.contains(want), "{want} in {line}");
    }
    ensure!(!line.contains("-bios"), "generation 1 boots BIOS: {line}");
    let disk = args
        .iter()
        .find_map(|a| {
            a.strip_prefix("file=")
                .and_then(|r| r.split(',').next())
                .filter(|p| p.ends_with(".qcow2"))
        })
        .context("the OS disk")?
        .to_string();
    let info = std::process::Command::new(azop_testenv::binaries::qemu_img()?)
        .args(["info", "--output=json", &disk])
        .output()?;
    let info: Value = serde_json::from_slice(&info.stdout)?;
    ensure!(
        info["backing-filename-format"] == "vpc" && info["virtual-size"] == 1 << 30,
        "the OS disk is a qcow2 over the image's VHD, grown to diskSizeGB: {info}"
    );
    ensure!(instance_power(&w, &vm).await? == "PowerState/running");

    // The frontend on the public IP reaches the guest's backend port.
    let answer = wait_for(
        "the frontend answering",
        Duration::from_secs(30),
        || async {
            let mut buf = String::new();
            match tokio::net::TcpStream::connect((ip.as_str(), 8080)).await {
                Ok(mut s) => match s.read_to_string(&mut buf).await {
                    Ok(_) if !buf.is_empty() => Check::Done(buf),
                    other => Check::Pending(format!("{other:?}")),
                },
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;
    ensure!(answer == "fake-0:80\n", "{answer:?}");

    // Boot diagnostics: the console behind a signed link.
    let uris = w
        .arm(
            Method::POST,
            &format!("{vm}/retrieveBootDiagnosticsData"),
            COMPUTE_API,
            None,
        )
        .await?;
    let serial = uris["serialConsoleLogBlobUri"]
        .as_str()
        .context("serial uri")?;
    let http = reqwest::Client::new();
    let log = http.get(serial).send().await?;
    ensure!(log.status() == 200);
    let text = log.text().await?;
    ensure!(text.contains("fake guest fake-0 booting"), "{text}");
    let forged = serial.replace("sig=", "sig=x");
    ensure!(http.get(&forged).send().await?.status() == 403);

    // The guest powers off: the VM is stopped.
    let pid = running.pid.context("pid")?;
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    wait_for("PowerState/stopped", Duration::from_secs(30), || async {
        match instance_power(&w, &vm).await {
            Ok(p) if p == "PowerState/stopped" => Check::Done(()),
            other => Check::Pending(format!("{other:?}")),
        }
    })
    .await?;

    // Boot diagnostics disabled: refused.
    let plain = compute("virtualMachines", "fake-1");
    let nic1 = net("networkInterfaces", "fake-1-nic");
    w.arm(
        Method::PUT,
        &nic1,
        NETWORK_API,
        Some(json!({"location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1",
            "properties": {"subnet": {"id": format!("{vnet}/subnets/nodes")}}}]}})),
    )
    .await?;
    // A marketplace image: no bytes here, no guest; the VM runs as before.
    let marketplace = json!({"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"});
    w.arm(
        Method::PUT,
        &plain,
        COMPUTE_API,
        Some(vm_body(&nic1, marketplace, false)),
    )
    .await?;
    let refused = w
        .arm(
            Method::POST,
            &format!("{plain}/retrieveBootDiagnosticsData"),
            COMPUTE_API,
            None,
        )
        .await
        .expect_err("boot diagnostics are off");
    ensure!(
        refused.to_string().contains("OperationNotAllowed"),
        "{refused}"
    );
    wait_for("a VM without a guest", Duration::from_secs(30), || async {
        match w
            .sim
            .machines()
            .into_iter()
            .find(|m| m.vm_id.eq_ignore_ascii_case(&plain))
        {
            Some(m) if m.state == "no-guest" => Check::Done(()),
            other => Check::Pending(format!("{other:?}")),
        }
    })
    .await?;
    ensure!(instance_power(&w, &plain).await? == "PowerState/running");

    // Delete: the guests go, and the OS disk's file with its disk.
    w.arm(Method::DELETE, &vm, COMPUTE_API, None).await?;
    w.arm(Method::DELETE, &plain, COMPUTE_API, None).await?;
    wait_for(
        "no guests and no disk file",
        Duration::from_secs(30),
        || async {
            let left = w.sim.machines();
            if left.is_empty() && !std::path::Path::new(&disk).exists() {
                Check::Done(())
            } else {
                Check::Pending(format!(
                    "{left:?}, disk there: {}",
                    std::path::Path::new(&disk).exists()
                ))
            }
        },
    )
    .await?;
    Ok(())
}
