#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes .npy files of float64 values (1 unless given) with given shapes, without numpy (format
# version 1.0), for the example's command-line tests:
#   write_npy.py DIR NAME=D0xD1x...[=VALUE] [NAME=...]   (VALUE: a float, nan or inf too)
import os
import struct
import sys


def save(path, shape, value=1.0):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % dims
    # magic (6) + version (2) + length (2) + header + "\n", padded to a multiple of 64 bytes
    pad = -(10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    count = 1
    for d in shape:
        count *= d
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("ascii"))
        f.write(struct.pack(f"<{count}d", *([value] * count)))


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: write_npy.py DIR NAME=D0xD1x...[=VALUE] [NAME=...]")
    os.makedirs(argv[1], exist_ok=True)
    for spec in argv[2:]:
        name, dims, *value = spec.split("=")
        save(os.path.join(argv[1], name + ".npy"), [int(d) for d in dims.split("x")],
             float(value[0]) if value else 1.0)


if __name__ == "__main__":
    main(sys.argv)
