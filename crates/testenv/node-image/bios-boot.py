#!/usr/bin/env python3
"""Makes a GPT disk image boot GRUB from BIOS, as grub-bios-setup would on a block device:

    bios-boot.py DISK CORE_IMG BOOT_IMG LBA

CORE_IMG (grub-mkimage -O i386-pc) goes at sector LBA (the BIOS boot partition); its first
sector (diskboot) loads the rest from the block list at the end of that sector, which
grub-mkimage filled with the length and which here gets the start (LBA + 1). BOOT_IMG goes in
the MBR with the sector of CORE_IMG at offset 0x5c (GRUB_BOOT_MACHINE_KERNEL_SECTOR) and the
floppy drive check (0x66) replaced by NOPs, keeping the MBR's disk signature and protective
partition table (0x1b8-0x1ff) that sfdisk wrote.
"""

import struct
import sys

KERNEL_SECTOR = 0x5C
DRIVE_CHECK = 0x66
PART_TABLE_START = 0x1B8


def main():
    disk, core_path, boot_path, lba = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    core = bytearray(open(core_path, "rb").read())
    boot = bytearray(open(boot_path, "rb").read())
    if len(boot) != 512:
        sys.exit(f"{boot_path}: not a 512-byte boot sector")
    # struct grub_pc_bios_boot_blocklist { u64 start; u16 len; u16 segment; } at 512 - 12
    start, length, _segment = struct.unpack_from("<QHH", core, 512 - 12)
    sectors = (len(core) + 511) // 512
    if length != sectors - 1:
        sys.exit(f"{core_path}: block list says {length} sectors, the image has {sectors - 1}")
    struct.pack_into("<Q", core, 512 - 12, lba + 1)
    with open(disk, "r+b") as f:
        mbr = f.read(512)
        if mbr[510:512] != b"\x55\xaa":
            sys.exit(f"{disk}: no MBR (run sfdisk first)")
        struct.pack_into("<Q", boot, KERNEL_SECTOR, lba)
        boot[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"
        boot[PART_TABLE_START:512] = mbr[PART_TABLE_START:512]
        f.seek(0)
        f.write(boot)
        f.seek(lba * 512)
        f.write(core)
    print(f"GRUB core image ({sectors} sectors) at sector {lba}", file=sys.stderr)


if __name__ == "__main__":
    main()
