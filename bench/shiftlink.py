#!/usr/bin/env python3
"""Link wrapper of the placement sweep (bench/run.py, SHIFT_KINDS).

Set as a build's LDSHARED, in front of the interpreter's own LDSHARED:

    LDSHARED="python3 bench/shiftlink.py OUT_DIR OBJ0 OBJ16 ... -- gcc -shared ..."

It runs the link exactly as given (the build's own extension is what it
would have been without the wrapper), then links the same objects once more
per shift object OBJn, with OBJn placed before the first object file, into
OUT_DIR/<n>/<the output's file name>. A shift object holds n bytes of text
on a 64-byte boundary (bench/run.py shift_object), so the extension's code
starts n bytes into a cache line: the same machine code at another
placement, without compiling anything again.

Standard library only; runs under the interpreter that builds.
"""

import os
import subprocess
import sys


def shifted_command(cmd, obj):
    """cmd with obj inserted before its first object file (setuptools puts
    LDFLAGS before the objects, so a flag such as -L or a static library
    may come first; what matters is that obj precedes the extension's own
    objects)."""
    for i, word in enumerate(cmd):
        if word.endswith(".o") and i > 0:
            return cmd[:i] + [obj] + cmd[i:]
    raise SystemExit("shiftlink: no object file in the link command: %s" % " ".join(cmd))


def output_path(cmd):
    for i, word in enumerate(cmd[:-1]):
        if word == "-o":
            return cmd[i + 1]
    raise SystemExit("shiftlink: no -o in the link command: %s" % " ".join(cmd))


def main(argv):
    if "--" not in argv:
        raise SystemExit("usage: shiftlink.py OUT_DIR SHIFT_OBJ... -- LINK COMMAND...")
    sep = argv.index("--")
    out_dir, objs, cmd = argv[0], argv[1:sep], argv[sep + 1:]
    status = subprocess.call(cmd)
    if status != 0:
        return status
    name = os.path.basename(output_path(cmd))
    for obj in objs:
        # at<n>.o -> OUT_DIR/<n>/NAME
        shift = os.path.splitext(os.path.basename(obj))[0][len("at"):]
        dest_dir = os.path.join(out_dir, shift)
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, name)
        if os.path.exists(dest):
            raise SystemExit("shiftlink: two extensions named %s in one build" % name)
        shifted = shifted_command(cmd, obj)
        shifted[shifted.index("-o") + 1] = dest
        status = subprocess.call(shifted)
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
