"""``diagnosis.explain`` over engine error text as the engines print it.

The podman strings were captured on this project's machine kind (Debian 12, podman 4.3.1,
netavark 1.4, runc 1.1.5) by breaking one thing at a time (a PATH without iptables, a missing
runtime, a taken port, ...); the docker ones are the daemon's own wording.
"""

from __future__ import annotations

import pytest

from imagedeploy.adapters.local.diagnosis import error_line, explain, with_explanation

pytestmark = pytest.mark.unit

# (engine output, words the explanation must contain)
CASES = [
    pytest.param(
        "Error: netavark: No such file or directory (os error 2)",
        ["container network", "install iptables", "apt-get install iptables"],
        id="netavark-without-iptables",
    ),
    pytest.param(
        'starting container srv-x-instance-1 failed: unable to start container "0a1b": '
        "netavark: No such file or directory (os error 2)",
        ["install iptables"],
        id="netavark-without-iptables-as-the-runtime-reports-it",
    ),
    pytest.param(
        "Error: netavark: code: 3, msg: iptables v1.8.9 (nf_tables): Could not fetch rule set "
        "generation id: Invalid argument",
        ["nf_tables", "iptables-legacy"],
        id="kernel-without-nf-tables",
    ),
    pytest.param(
        'time="2026-12-05T19:18:07Z" level=warning msg="aardvark-dns binary not found, '
        'container dns will not be enabled"',
        ["DNS names", "apt-get install aardvark-dns"],
        id="aardvark-dns-missing-warning",
    ),
    pytest.param(
        'Error: default OCI runtime "crun" not found: invalid argument',
        ["OCI runtime crun", "apt-get install crun", 'runtime = "runc"'],
        id="crun-missing",
    ),
    pytest.param(
        "Error: no valid executable found for OCI runtime /nonexistent/runc: invalid argument",
        ["OCI runtime runc", "apt-get install runc"],
        id="runc-missing",
    ),
    pytest.param(
        "docker: Error response from daemon: failed to create shim task: OCI runtime create "
        'failed: unable to retrieve OCI runtime error: exec: "runc": executable file not found '
        "in $PATH: unknown.",
        ["runc", "apt-get install runc"],
        id="docker-runc-missing",
    ),
    pytest.param(
        'Error: could not find "aardvark-dns" in one of [/usr/local/libexec/podman '
        "/usr/local/lib/podman /usr/libexec/podman /usr/lib/podman].  To resolve this error, "
        "set the helper_binaries_dir key in the `[engine]` section of containers.conf to the "
        "directory containing your helper binaries.",
        ["aardvark-dns", "apt-get install aardvark-dns"],
        id="aardvark-dns-missing",
    ),
    pytest.param(
        "Error: could not find a working conmon binary (configured options: "
        "[/usr/libexec/podman/conmon /usr/local/libexec/podman/conmon]): invalid argument",
        ["apt-get install conmon"],
        id="conmon-missing",
    ),
    pytest.param(
        "Error: container-init binary not found on the host: stat /usr/libexec/podman/catatonit:"
        " no such file or directory",
        ["apt-get install catatonit"],
        id="catatonit-missing",
    ),
    pytest.param(
        "Error: could not find slirp4netns, the network namespace can't be configured: exec: "
        '"slirp4netns": executable file not found in $PATH',
        ["apt-get install slirp4netns"],
        id="slirp4netns-missing",
    ),
    pytest.param(
        "Error: runc: runc create failed: unable to start container process: error during "
        "container init: error setting rlimits for ready process: error setting rlimit type 7: "
        "operation not permitted: OCI permission denied",
        ["default_ulimits", "containers.conf"],
        id="ulimits-refused",
    ),
    pytest.param(
        "Error: OCI runtime error: runc: runc create failed: systemd not running on this host, "
        "cannot use systemd cgroups manager",
        ['cgroup_manager = "cgroupfs"'],
        id="cgroup-manager-systemd-without-systemd",
    ),
    pytest.param(
        "Error: OCI runtime error: crun: the requested cgroup controller `pids` is not available",
        ["pids cgroup controller", "IMAGEDEPLOY_CONTAINER_LIMITS=false"],
        id="cgroup-controller-missing",
    ),
    pytest.param(
        "docker: Error response from daemon: cgroups: cgroup mountpoint does not exist: unknown.",
        ["cgroup controller"],
        id="cgroup-not-mounted",
    ),
    pytest.param(
        "Error: OCI runtime error: runc: runc create failed: unable to start container process: "
        "error during container init: error setting cgroup config for procHooks process: unable "
        "to set memory limit to 102400 (current usage: 2600960, peak usage: 2736128)",
        ["plan with more memory"],
        id="memory-limit-too-low",
    ),
    pytest.param(
        "permission denied while trying to connect to the Docker daemon socket at "
        'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version": '
        "dial unix /var/run/docker.sock: connect: permission denied",
        ["docker group", "usermod -aG docker"],
        id="docker-socket-permission",
    ),
    pytest.param(
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
        "daemon running?",
        ["systemctl start docker"],
        id="docker-daemon-down",
    ),
    pytest.param(
        'Error: unable to connect to Podman socket: Get "http://d/v4.3.1/libpod/_ping": dial '
        "unix /run/podman/podman.sock: connect: permission denied",
        ["podman socket", "CONTAINER_HOST"],
        id="podman-socket-permission",
    ),
    pytest.param(
        "Cannot connect to Podman. Please verify your connection to the Linux system using "
        "`podman system connection list`, or try `podman machine init` and `podman machine "
        "start` to manage a new Linux VM\nError: unable to connect to Podman socket: Get "
        '"http://d/v4.3.1/libpod/_ping": dial unix /tmp/none.sock: connect: no such file or '
        "directory",
        ["systemctl start podman.socket"],
        id="podman-service-down",
    ),
    pytest.param(
        'Error: writing blob: adding layer with blob "sha256:1f3e": processing tar file(write '
        "/usr/lib/x86_64-linux-gnu/libLLVM.so.15: no space left on device): exit status 1",
        ["disk", "full", "prune"],
        id="no-space-left",
    ),
    pytest.param(
        "Error: localhost/nope:1: image not known",
        ["local storage", "deploy again"],
        id="image-not-known",
    ),
    pytest.param(
        "Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:48999: bind: address "
        "already in use",
        ["port is already taken"],
        id="port-in-use-podman",
    ),
    pytest.param(
        "docker: Error response from daemon: driver failed programming external connectivity "
        "on endpoint web (3f2a): Bind for 127.0.0.1:8080 failed: port is already allocated.",
        ["port is already taken"],
        id="port-in-use-docker",
    ),
    pytest.param(
        'Error: cannot find newuidmap: exec: "newuidmap": executable file not found in $PATH',
        ["uidmap", "/etc/subuid"],
        id="rootless-without-uidmap",
    ),
    pytest.param(
        "Error: kernel does not support overlay fs: 'overlay' is not supported over overlayfs, "
        "a mount_program is required: backing file system is unsupported for this graph driver",
        ["fuse-overlayfs"],
        id="overlay-unsupported",
    ),
]


@pytest.mark.parametrize(("output", "words"), CASES)
def test_explains_the_engine_error_with_the_missing_piece_and_the_fix(
    output: str, words: list[str]
) -> None:
    explanation = explain(output)
    assert explanation is not None, output
    for word in words:
        assert word in explanation, (word, explanation)
    assert "\n" not in explanation  # one line


@pytest.mark.parametrize(
    "output",
    [
        "Error: pulling 127.0.0.1:5000/demo/web@sha256:ab failed (not_found): manifest unknown",
        "Error: container exited with code 1",
        "",
    ],
)
def test_text_that_is_not_a_machine_problem_is_not_explained(output: str) -> None:
    assert explain(output) is None


def test_with_explanation_keeps_the_engine_message_and_appends_the_fix() -> None:
    message = 'starting container web failed: unable to start container "0a": netavark: No such file or directory (os error 2)'
    annotated = with_explanation(message)
    assert annotated.startswith(message)
    assert annotated.endswith(
        "install iptables (apt-get install iptables) and keep /usr/sbin on PATH"
    )
    assert with_explanation("container exited with code 1") == "container exited with code 1"


def test_error_line_is_the_engines_last_error_line_without_its_prefix() -> None:
    output = 'time="x" level=warning msg="cgroup"\nError: image not known\n'
    assert error_line(output) == "image not known"
    assert error_line("docker: Error response from daemon: port is already allocated.") == (
        "port is already allocated."
    )
    assert error_line("") == "(no output)"
