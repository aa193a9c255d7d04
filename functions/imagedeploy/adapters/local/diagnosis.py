"""What a container engine's error text means for the person who has to fix it.

``explain(text)`` turns the error output of podman or docker (or their helpers: netavark, runc,
conmon) into one sentence naming the missing piece and the fix, e.g. ``podman cannot create the
container network: install iptables (apt-get install iptables)``; ``None`` when the text is not
recognised. Both ``imagedeploy doctor`` and the local runtime's deploy events use it, so a
machine problem reads the same wherever it shows up. Pure text in, text out: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# The Debian package that ships each helper binary an engine runs.
PACKAGE_OF_BINARY = {
    "podman": "podman",
    "docker": "docker.io",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "runc": "runc",
    "crun": "crun",
    "conmon": "conmon",
    "netavark": "netavark",
    "aardvark-dns": "aardvark-dns",
    "slirp4netns": "slirp4netns",
    "pasta": "passt",
    "newuidmap": "uidmap",
    "newgidmap": "uidmap",
    "catatonit": "catatonit",
    "fuse-overlayfs": "fuse-overlayfs",
}


def install_hint(binary: str) -> str:
    """``install X (apt-get install P)`` for a helper binary (the package name when known)."""
    package = PACKAGE_OF_BINARY.get(binary)
    return f"install {binary} (apt-get install {package})" if package else f"install {binary}"


def _missing_binary(path: str) -> str:
    binary = path.rsplit("/", 1)[-1]
    return f"the container engine cannot find its helper {binary}: {install_hint(binary)}"


def _missing_runtime(path: str) -> str:
    runtime = path.rsplit("/", 1)[-1]
    fix = install_hint(runtime) if runtime in PACKAGE_OF_BINARY else f"install {runtime}"
    return (
        f"the container engine's OCI runtime {runtime} is missing: {fix}, or set "
        'runtime = "runc" in the [engine] section of containers.conf'
    )


def _cgroup_controller(controller: str) -> str:
    controller = controller or "memory"
    return (
        f"the {controller} cgroup controller is not available to containers here: delegate it "
        "to this user (cgroup v2) or start serve with IMAGEDEPLOY_CONTAINER_LIMITS=false"
    )


# A pattern and what to say; the sentence gets the pattern's first non-empty group (a binary's
# name, a cgroup controller), or "" when it has none.
_Rule = tuple[re.Pattern[str], Callable[[str], str]]


def _say(sentence: str) -> Callable[[str], str]:
    return lambda _: sentence


# First match wins, so the specific rules come before the general ones.
_RULES: tuple[_Rule, ...] = (
    # netavark runs iptables (found on PATH) to set up the bridge and the published ports; when
    # it is missing the only trace is the OS error of the failed exec.
    (
        re.compile(r"netavark: (?:No such file or directory|.*os error 2\b)", re.I),
        _say(
            "podman cannot create the container network (netavark could not run iptables): "
            "install iptables (apt-get install iptables) and keep /usr/sbin on PATH"
        ),
    ),
    (
        re.compile(
            r"iptables.*(?:could not fetch rule set generation id|can't initialize iptables"
            r"|table does not exist|modprobe)",
            re.I,
        ),
        _say(
            "the kernel refuses the iptables rules of the container network: load the "
            "nf_tables module (modprobe nf_tables) or switch to iptables-legacy "
            "(update-alternatives --set iptables /usr/sbin/iptables-legacy)"
        ),
    ),
    (
        re.compile(r"aardvark-dns binary not found", re.I),
        _say(
            "podman gives containers no DNS names (services would not find each other): "
            "install aardvark-dns (apt-get install aardvark-dns)"
        ),
    ),
    (
        re.compile(
            r'default OCI runtime "([^"]+)" not found'
            r"|no valid executable found for OCI runtime (\S+?):",
            re.I,
        ),
        _missing_runtime,
    ),
    (
        re.compile(r"could not find a working conmon binary", re.I),
        _say("podman cannot find conmon: install conmon (apt-get install conmon)"),
    ),
    (
        re.compile(r"container-init binary not found|stat \S*/catatonit: no such file", re.I),
        _say("podman's --init needs catatonit: install catatonit (apt-get install catatonit)"),
    ),
    (
        re.compile(r"cannot find newuidmap|insufficient uids or gids|/etc/sub[ug]id", re.I),
        _say(
            "rootless podman needs subordinate ids: install uidmap (apt-get install uidmap) "
            "and give this user ranges in /etc/subuid and /etc/subgid"
        ),
    ),
    (
        re.compile(
            r'could not find "?([\w./-]+?)"?(?:,| in one of)'
            r'|exec: "([\w./-]+)": executable file not found',
            re.I,
        ),
        _missing_binary,
    ),
    (
        re.compile(r"error setting rlimit|setrlimit.*(?:not permitted|invalid argument)", re.I),
        _say(
            "the container runtime may not apply podman's default ulimits here: set lower "
            "default_ulimits (e.g. nofile=1024:1024, nproc=4096:4096) in the [containers] "
            "section of containers.conf and point CONTAINERS_CONF at it"
        ),
    ),
    (
        re.compile(
            r"systemd not running on this host|cannot use systemd cgroups? manager"
            r"|failed to connect to bus|/run/systemd/private|sd-bus call",
            re.I,
        ),
        _say(
            "the container engine uses the systemd cgroup manager but cannot reach systemd: set "
            'cgroup_manager = "cgroupfs" in the [engine] section of containers.conf'
        ),
    ),
    (
        re.compile(r"unable to set memory limit to \d+ \(current usage", re.I),
        _say(
            "the memory limit is below what the container needs to start: choose a plan "
            "with more memory"
        ),
    ),
    (
        re.compile(
            r"cgroup controller `?(\w+)`? is not available"
            r"|does not support (memory|cpu)\w* limit"
            r"|cgroup mountpoint does not exist|no cgroup mount found",
            re.I,
        ),
        _cgroup_controller,
    ),
    (
        re.compile(r"permission denied while trying to connect to the docker daemon socket", re.I),
        _say(
            "this user may not use the docker socket: add it to the docker group "
            "(usermod -aG docker $USER, then log in again) or use podman"
        ),
    ),
    (
        re.compile(r"cannot connect to the docker daemon|is the docker daemon running", re.I),
        _say("the docker daemon is not running: start it (systemctl start docker)"),
    ),
    (
        re.compile(r"unable to connect to podman socket.*permission denied", re.I),
        _say(
            "this user may not use the podman socket: run as its owner or unset "
            "CONTAINER_HOST to use podman directly"
        ),
    ),
    (
        re.compile(r"unable to connect to podman socket|cannot connect to podman", re.I),
        _say(
            "the podman service named by CONTAINER_HOST is not reachable: start it "
            "(systemctl start podman.socket) or unset CONTAINER_HOST"
        ),
    ),
    (
        re.compile(r"kernel does not support overlay fs|mount_program is required", re.I),
        _say(
            "the container storage cannot use overlay on this filesystem: install "
            "fuse-overlayfs (apt-get install fuse-overlayfs) and set mount_program = "
            '"/usr/bin/fuse-overlayfs" in storage.conf'
        ),
    ),
    (
        re.compile(r"no space left on device", re.I),
        _say(
            "the disk holding the container storage is full: free space, e.g. remove unused "
            "images (podman image prune -a, or docker image prune -a)"
        ),
    ),
    (
        re.compile(r"address already in use|port is already allocated", re.I),
        _say("the host port is already taken by another process: stop it or use another port"),
    ),
    (
        re.compile(r"image not known|no such image", re.I),
        _say(
            "the image is not in the engine's local storage (removed by a prune?): "
            "deploy again to pull it"
        ),
    ),
    (
        re.compile(r"permission denied|operation not permitted", re.I),
        _say(
            "the container engine was refused by the operating system (permission denied): "
            "run serve as a user allowed to run containers, or check the engine's setup"
        ),
    ),
)


def explain(engine_error_text: str) -> str | None:
    """The one-sentence cause and fix for an engine's error output, or None if unrecognised."""
    for pattern, sentence in _RULES:
        match = pattern.search(engine_error_text)
        if match is not None:
            return sentence(next((group for group in match.groups() if group), ""))
    return None


def with_explanation(message: str) -> str:
    """``message``, followed by what it means when ``explain`` recognises it."""
    explanation = explain(message)
    return f"{message} — {explanation}" if explanation else message


def error_line(output: str, limit: int = 300) -> str:
    """The engine's own error line from its output: the last ``Error...`` line, else the last
    non-empty line (trimmed to ``limit`` characters)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "docker:"))]
    text = (errors or lines or ["(no output)"])[-1]
    return re.sub(r"^(?:docker:\s*)?Error(?: response from daemon)?:\s*", "", text)[:limit]
