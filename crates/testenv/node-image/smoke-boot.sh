#!/usr/bin/env bash
# Boots the node image once under UEFI (OVMF: the Hyper-V generation 2 path) with a NoCloud
# seed, checks what a node needs is there, and powers it off. Software emulation: minutes.
#
#   smoke-boot.sh IMAGE.qcow2 WORKDIR
set -Eeuo pipefail
IMAGE="$1"; W="$2"
mkdir -p "$W/seed"
cat >"$W/seed/meta-data" <<'YAML'
instance-id: azop-node-image-smoke
local-hostname: azop-node-image-smoke
YAML
cat >"$W/seed/user-data" <<'YAML'
#cloud-config
runcmd:
  - - sh
    - -c
    - |
      set -u
      . /etc/azop/node-image.env
      ok=1
      have=$(ctr -n k8s.io images ls -q)
      for i in $AZOP_IMAGES; do
        echo "$have" | grep -qx "$i" || { echo "AZOP-SMOKE: image $i missing"; ok=0; }
      done
      [ "$(kubeadm version -o short)" = "$AZOP_KUBERNETES_VERSION" ] || { echo "AZOP-SMOKE: kubeadm is $(kubeadm version -o short)"; ok=0; }
      kubelet --version | grep -q " $AZOP_KUBERNETES_VERSION\$" || { echo "AZOP-SMOKE: $(kubelet --version)"; ok=0; }
      systemctl is-active --quiet containerd || { echo "AZOP-SMOKE: containerd is not running"; ok=0; }
      [ -x "$AZOP_CNI_APPLY" ] || { echo "AZOP-SMOKE: no $AZOP_CNI_APPLY"; ok=0; }
      [ "$ok" = 1 ] && echo AZOP-SMOKE-OK || echo AZOP-SMOKE-FAILED
power_state:
  mode: poweroff
  timeout: 30
YAML
genisoimage -quiet -output "$W/seed.iso" -volid cidata -joliet -rock "$W/seed/user-data" "$W/seed/meta-data"
qemu-img create -q -f qcow2 -F qcow2 -b "$(readlink -f "$IMAGE")" "$W/disk.qcow2" 8G
t0=$(date +%s)
# restrict=on: the guest has no way out; it needs none.
timeout 1800 qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
    -accel tcg,thread=multi -cpu max -smp 2 -m 2048 -bios /usr/share/ovmf/OVMF.fd \
    -drive "file=$W/disk.qcow2,if=virtio,format=qcow2" \
    -drive "file=$W/seed.iso,media=cdrom,readonly=on" \
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
    -serial "file:$W/console.log" >"$W/qemu.log" 2>&1 || true
if grep -aq AZOP-SMOKE-OK "$W/console.log"; then
    echo "smoke boot: ok in $(( $(date +%s) - t0 ))s (UEFI, cloud-init, images, kubeadm, kubelet, containerd)" >&2
    exit 0
fi
echo "ERROR: the smoke boot failed; the serial console's end:" >&2
tail -n 40 "$W/console.log" >&2
cat "$W/qemu.log" >&2
exit 1
