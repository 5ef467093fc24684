#!/usr/bin/env bash
# The node image's disk from its root file system, without mounting anything:
#
#   make-disk.sh ROOTFS OUT.raw SHIM.efi GRUB.efi
#
# GPT, laid out as Debian's cloud images are, so one disk boots both ways Azure boots:
#   p14  BIOS boot   1-4 MiB     GRUB's core image (Hyper-V generation 1: BIOS)
#   p15  EFI system  4-128 MiB   Debian's signed shim and GRUB (generation 2: UEFI, Secure Boot)
#   p1   root        128 MiB-    ext4, last so cloud-init's growpart can grow it into the
#                                OS disk Azure makes from the image
# Both loaders read /boot/grub/grub.cfg on the root file system; the kernel and initrd are
# the /vmlinuz and /initrd.img links Debian keeps pointing at the installed kernel, so a
# kernel upgrade on the node needs no GRUB tooling. Serial console on ttyS0: that is what
# Azure's boot diagnostics record.
set -Eeuo pipefail
R="$1"; OUT="$2"; SHIM="$3"; GRUB_EFI="$4"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
UUID=$(cat /proc/sys/kernel/random/uuid)
MIB=1048576

mkdir -p "$R/boot/grub"
cat >"$R/boot/grub/grub.cfg" <<CFG
# azop's node image (make-disk.sh). No menu: the one kernel, its output on the serial console.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
search --no-floppy --fs-uuid --set=root $UUID
linux /vmlinuz root=UUID=$UUID ro console=tty0 console=ttyS0,115200n8 earlyprintk=ttyS0,115200 net.ifnames=0
initrd /initrd.img
boot
CFG
printf 'UUID=%s / ext4 defaults,discard,errors=remount-ro 0 1\n' "$UUID" >"$R/etc/fstab"

# The root file system: what the tree holds plus a quarter (and 256 MiB) free; growpart and
# resize2fs take it to the OS disk's size at first boot.
used=$(du -sm --apparent-size "$R" | cut -f1)
root_mib=$(( used * 125 / 100 + 256 ))
mkfs.ext4 -q -F -L azop-root -U "$UUID" -d "$R" "$W/root.img" "${root_mib}M"

export MTOOLS_SKIP_CHECK=1
mkfs.vfat -C -n EFI "$W/esp.img" $(( 124 * 1024 )) >/dev/null
mmd -i "$W/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/debian
# The removable-media path: firmware boots it without an NVRAM entry (a fresh VM has none).
mcopy -i "$W/esp.img" "$SHIM" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$W/esp.img" "$GRUB_EFI" ::/EFI/BOOT/grubx64.efi
printf 'search.fs_uuid %s root\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' "$UUID" >"$W/esp.cfg"
# Debian's signed GRUB looks for its configuration in /EFI/debian.
mcopy -i "$W/esp.img" "$W/esp.cfg" ::/EFI/debian/grub.cfg
mcopy -i "$W/esp.img" "$W/esp.cfg" ::/EFI/BOOT/grub.cfg

total_mib=$(( 128 + root_mib + 1 ))  # + 1: the backup GPT at the end
rm -f "$OUT"; truncate -s "$(( total_mib * MIB ))" "$OUT"
sfdisk -q "$OUT" <<SF
label: gpt
${OUT}14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649, name="bios"
${OUT}15 : start=8192, size=253952, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="efi"
${OUT}1 : start=262144, size=$(( root_mib * 2048 )), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
SF
dd if="$W/esp.img" of="$OUT" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$W/root.img" of="$OUT" bs=1M seek=128 conv=notrunc,sparse status=none

# BIOS: GRUB's core image in the BIOS boot partition, its boot sector in the MBR. What
# grub-bios-setup does, without the device probing it needs a block device for.
grub-mkimage -O i386-pc -o "$W/core.img" -p "(hd0,gpt1)/boot/grub" \
    biosdisk part_gpt ext2 normal linux search search_fs_uuid configfile echo test gzio serial terminal
python3 "$(dirname "$0")/bios-boot.py" "$OUT" "$W/core.img" /usr/lib/grub/i386-pc/boot.img 2048
echo "disk: $total_mib MiB (root file system $root_mib MiB, uuid $UUID)" >&2
