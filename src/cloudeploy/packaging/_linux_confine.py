"""Linux confinement of the sandbox child (see :mod:`cloudeploy.packaging.sandbox`).

Called once, first thing in the child, while it is still single-threaded
(``unshare(CLONE_NEWUSER)`` refuses a multi-threaded process): no NumPy, no
BLAS threads yet. Every step records in ``isolation`` whether it applied; a
step that fails is recorded with the reason and the next ones still run, so
the parent can say exactly what was missing.

Steps: drop to ``nobody`` when root (if the Python installation is readable by
others; otherwise stay uid 0, which loses every capability below); new user, mount and network namespaces;
every mount read-only/nosuid/nodev except a bind of the working directory;
drop all capabilities; ``no_new_privs``; a seccomp filter denying exec,
sockets, ptrace, mount/namespace, bpf, keyring, module and io_uring calls.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 0x1000
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
SYS_MOUNT_SETATTR = 442  # the same number on every architecture
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
NOBODY = 65534

_libc = ctypes.CDLL(None, use_errno=True)


def confine(workdir: Path, isolation: dict[str, Any]) -> None:
    """Confine this process; ``isolation`` gets one entry per protection (True/False)."""
    notes = isolation["notes"]
    if os.geteuid() == 0:
        closed = closed_to_others()
        if closed is None:
            isolation["dropped_root"] = _step(notes, "drop to nobody", _drop_to_nobody)
        else:
            isolation["dropped_root"] = f"no: {closed} is not readable by nobody"
            notes.append(f"stays uid 0 (without capabilities): {closed} is not readable by nobody")
    uid, gid = os.geteuid(), os.getegid()
    namespaces = _step(
        notes, "unshare", lambda: _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET))
    )
    isolation["user_namespace"] = namespaces and _step(notes, "id maps", lambda: _map_ids(uid, gid))
    isolation["network_isolation"] = namespaces
    isolation["filesystem_isolation"] = isolation["user_namespace"] and _step(
        notes, "read-only mounts", lambda: _read_only_except(workdir)
    )
    _step(notes, "drop capabilities", _drop_capabilities)
    isolation["seccomp"] = _step(notes, "seccomp", _install_seccomp)


def _step(notes: list[str], name: str, action) -> bool:
    try:
        action()
        return True
    except OSError as error:
        notes.append(f"{name}: {os.strerror(error.errno) if error.errno else error}")
    except Exception as error:  # noqa: BLE001 - record and go on with the other steps
        notes.append(f"{name}: {error}")
    return False


def _check(result: int) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def closed_to_others() -> str | None:
    """The first directory of the Python installation that ``nobody`` could not read, if any."""
    import stat
    import sys

    roots = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    for root in sorted(roots):
        path = Path(os.path.realpath(root))
        for directory in [*reversed(path.parents), path]:
            try:
                mode = directory.stat().st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                return str(directory)
    return None


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _map_ids(uid: int, gid: int) -> None:
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _mount_setattr(path: str, flags: int, attr_set: int, attr_clr: int) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(
        _libc.syscall(
            ctypes.c_long(SYS_MOUNT_SETATTR),
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(path.encode()),
            ctypes.c_uint(flags),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )
    )


def _read_only_except(workdir: Path) -> None:
    mount = _libc.mount
    mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    ]
    _check(mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    target = str(workdir).encode()
    _check(mount(target, target, None, MS_BIND, None))  # its own mount, before / turns read-only
    locked = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
    _mount_setattr("/", AT_RECURSIVE, locked, 0)
    _mount_setattr(str(workdir), 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY)


def _drop_capabilities() -> None:
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable} sets, all empty
    _check(_libc.capset(header, data))


# -- seccomp ---------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DENIED = {
    "x86_64": {
        "socket": 41,
        "connect": 42,
        "accept": 43,
        "bind": 49,
        "listen": 50,
        "socketpair": 53,
        "execve": 59,
        "ptrace": 101,
        "pivot_root": 155,
        "chroot": 161,
        "mount": 165,
        "umount2": 166,
        "reboot": 169,
        "init_module": 175,
        "delete_module": 176,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "unshare": 272,
        "accept4": 288,
        "perf_event_open": 298,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "finit_module": 313,
        "bpf": 321,
        "execveat": 322,
    },
    "aarch64": {
        "socket": 198,
        "socketpair": 199,
        "bind": 200,
        "listen": 201,
        "accept": 202,
        "connect": 203,
        "accept4": 242,
        "execve": 221,
        "execveat": 281,
        "ptrace": 117,
        "chroot": 51,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "reboot": 142,
        "init_module": 105,
        "delete_module": 106,
        "kexec_load": 104,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "unshare": 97,
        "perf_event_open": 241,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "finit_module": 273,
        "bpf": 280,
    },
}
#: Newer calls share their numbers across architectures.
_DENIED_COMMON = {
    "io_uring_setup": 425,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_EPERM = 1


def seccomp_program(machine: str) -> bytes:
    """The BPF program (struct sock_filter[]) for ``machine``; ValueError if unsupported."""
    if machine not in _AUDIT_ARCH:
        raise ValueError(f"no seccomp filter for {machine}")
    numbers = sorted({*_DENIED[machine].values(), *_DENIED_COMMON.values()})
    checks = [(_JGE_K, 0x40000000)] if machine == "x86_64" else []  # x32 ABI
    checks += [(_JEQ_K, nr) for nr in numbers]
    program = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    deny_at = len(program) + len(checks) + 1
    for code, value in checks:
        program.append((code, deny_at - len(program) - 1, 0, value))
    program.append((_RET_K, 0, 0, _RET_ALLOW))
    program.append((_RET_K, 0, 0, _RET_ERRNO | _EPERM))
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def _install_seccomp() -> None:
    code = seccomp_program(platform.machine())
    count = len(code) // 8
    buffer = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
    ulong = ctypes.c_ulong
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, ulong(1), ulong(0), ulong(0), ulong(0)))
    _check(
        _libc.prctl(
            PR_SET_SECCOMP, ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog), ulong(0), ulong(0)
        )
    )
