"""seccomp: docker's default profile, `--security-opt seccomp=unconfined|PROFILE.json`, in
the built-in runtime, in runc with hood's bundle, and in docker, compared syscall by syscall.

A static probe (compiled here from C) makes each syscall and prints its errno name."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *n = argv[i];
    long r = -1;
    errno = 0;
    if (!strcmp(n, "unshare")) r = syscall(SYS_unshare, CLONE_NEWUSER);
    else if (!strcmp(n, "keyctl")) r = syscall(SYS_keyctl, 0, -3, 0);
    else if (!strcmp(n, "add_key")) r = syscall(SYS_add_key, "user", "hood", "x", 1, -3);
    else if (!strcmp(n, "mount")) r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
    else if (!strcmp(n, "ptrace")) {  /* another process: a child of ours */
      pid_t c = fork();
      if (c == 0) { pause(); _exit(0); }
      r = syscall(SYS_ptrace, PTRACE_ATTACH, c, 0, 0);
      int e = errno; kill(c, SIGKILL); waitpid(c, 0, 0); errno = e;
    }
    else if (!strcmp(n, "clone-newns")) {
      r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
      if (r == 0) _exit(0);
      if (r > 0) waitpid(r, 0, 0);
    }
    else if (!strcmp(n, "clone3")) r = syscall(435, 0, 0);
    else if (!strcmp(n, "personality")) r = syscall(SYS_personality, 0x0040000);
    else if (!strcmp(n, "personality-query")) r = syscall(SYS_personality, 0xffffffff);
    else if (!strcmp(n, "chroot")) r = syscall(SYS_chroot, "/");
    else if (!strcmp(n, "fchmodat2")) r = syscall(452, -100, "/", 0755, 0);
    else if (!strcmp(n, "bpf")) r = syscall(SYS_bpf, 0, 0, 0);
    else if (!strcmp(n, "getpid")) r = syscall(SYS_getpid);
    else if (!strcmp(n, "uselib")) r = syscall(SYS_uselib, "/nonexistent");
    else if (!strcmp(n, "sethostname")) r = syscall(SYS_sethostname, "x", 1);
    printf("%s %s\n", n, r >= 0 ? "ok" : strerrorname_np(errno));
  }
  return 0;
}
"""
CALLS = ["unshare", "keyctl", "add_key", "mount", "ptrace", "clone-newns", "clone3",
         "personality", "personality-query", "chroot", "fchmodat2", "bpf", "getpid",
         "uselib", "sethostname"]  # fmt: skip

# A profile in docker's format: everything allowed but getpid (EACCES) and keyctl.
CUSTOM = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"name": "keyctl", "action": "SCMP_ACT_ERRNO"},
    ],
}


@pytest.fixture(scope="module")
def probe():
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler for the syscall probe")
    d = Path(tempfile.mkdtemp(prefix="hood-probe-"))  # not under pytest's 0700 dirs: -u 1000
    d.chmod(0o755)
    (d / "probe.c").write_text(PROBE_C)
    r = subprocess.run([gcc, "-static", "-O2", "-o", str(d / "probe"), str(d / "probe.c")],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot build a static probe: {r.stderr[-300:]}")
    (d / "custom.json").write_text(json.dumps(CUSTOM))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _results(out: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


OPTION_SETS = {
    "default": [],
    "default, no-new-privileges, -u 1000": ["--security-opt", "no-new-privileges", "-u", "1000"],
    "unconfined": ["--security-opt", "seccomp=unconfined"],
    "profile file": ["--security-opt", "seccomp={probe}/custom.json"],
}


def _opts(name: str, probe: Path) -> list[str]:
    return [o.replace("{probe}", str(probe)) for o in OPTION_SETS[name]]


@pytest.mark.dockerd
@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_syscalls_fail_as_in_docker(hood, dockerd, probe, name):
    opts = [*_opts(name, probe), "-v", f"{probe}:/probe:ro"]
    d = subprocess.run([*dockerd, "run", "--rm", *opts, "hoodtest/busybox", "/probe/probe", *CALLS],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert d.returncode == 0, d.stderr
    want = _results(d.stdout)
    if name.startswith("default"):  # what the profile is there for
        assert {want[c] for c in ("unshare", "keyctl", "add_key", "mount", "bpf")} == {"EPERM"}
        assert (want["clone3"], want["fchmodat2"], want["getpid"]) == ("ENOSYS", "ENOSYS", "ok")
    for runtime in ("builtin", "runc"):
        if runtime == "runc" and shutil.which("runc") is None:
            continue
        h = hood("run", "--rm", "--runtime", runtime, *opts, "busybox", "/probe/probe", *CALLS)
        assert h.returncode == 0, (runtime, h.stderr)
        assert _results(h.stdout) == want, runtime


def _dockers_seccomp(dockerd) -> dict:
    """linux.seccomp of the config.json dockerd hands runc for a default container."""
    sock = next(a for a in dockerd if a.startswith("unix://"))
    exec_root = Path(sock.removeprefix("unix://")).parent / "exec"
    cid = subprocess.run([*dockerd, "run", "-d", "hoodtest/busybox", "sleep", "30"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    try:
        config = next(exec_root.rglob(f"{cid}/config.json"))
        return json.loads(config.read_text())["linux"]["seccomp"]
    finally:
        subprocess.run([*dockerd, "rm", "-f", cid], capture_output=True)


def _canonical(seccomp: dict) -> dict:
    calls = []
    for c in seccomp["syscalls"]:
        args = [{"valueTwo": 0, **a} for a in c.get("args") or []]
        calls.append((sorted(c["names"]), c["action"], c.get("errnoRet"), args))
    return {**seccomp, "syscalls": calls}


@pytest.mark.dockerd
def test_bundle_has_dockers_rules(hood, dockerd, tmp_path):
    """hood's bundle (what runc enforces, and what the built-in runtime compiles) names
    exactly the rules docker gives runc for the same container."""
    assert hood("bundle", "busybox", str(tmp_path / "b")).returncode == 0
    ours = json.loads((tmp_path / "b" / "config.json").read_text())["linux"]["seccomp"]
    assert _canonical(ours) == _canonical(_dockers_seccomp(dockerd))


def test_unconfined_and_bad_profiles(hood, tmp_path):
    r = hood("run", "--rm", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "2"]
    r = hood("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox",
             "grep", "Seccomp:", "/proc/self/status")  # fmt: skip
    assert r.stdout.split() == ["Seccomp:", "0"]
    assert hood("bundle", "busybox", str(tmp_path / "b")).returncode == 0
    missing = tmp_path / "nope.json"
    r = hood("run", "--rm", "--security-opt", f"seccomp={missing}", "busybox", "true")
    assert r.returncode == 125
    assert f"opening seccomp profile ({missing}) failed" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    r = hood("run", "--rm", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125 and "Decoding seccomp profile failed" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # read well, refused by libseccomp (an argument index past 5): found when hood makes
    # the filter, which it does while the container's process sets up
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}))  # fmt: skip
    r = hood("run", "--rm", "--name", "refused", "--security-opt", f"seccomp={refused}",
             "busybox", "touch", "/ran")  # fmt: skip
    assert r.returncode == 125, r.stderr
    assert r.stderr.strip().splitlines() == [
        "hood: seccomp: cannot add the rule for mkdir: Invalid argument"
    ]
    assert "refused" not in hood("ps", "-a").stdout  # --rm: removed all the same
    # a name no C string can hold: hood's own failure while making the filter, reported
    unencodable = tmp_path / "unencodable.json"
    unencodable.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW",'
        ' "syscalls": [{"names": ["\\udc80"], "action": "SCMP_ACT_ERRNO"}]}'
    )
    r = hood("run", "--rm", "--security-opt", f"seccomp={unencodable}", "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "UnicodeEncodeError" in r.stderr
    r = hood("run", "--name", "refused2", "--security-opt", f"seccomp={refused}",
             "busybox", "true")  # fmt: skip
    assert r.returncode == 125
    r = hood("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", "refused2")
    assert r.stdout.split(" ", 2)[:2] == ["created", "125"] and "mkdir" in r.stdout  # as docker
    assert hood("rm", "refused2").returncode == 0  # the data root is shared with other tests
