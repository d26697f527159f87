"""Operating tandem (issue 12 items 6 and 7): the Debian package installed into a clean
root and run the way its systemd unit says, backups taken while the server serves, and a
restored pair member that goes through RECOVER.

The machine has no systemd as PID 1, so the unit is carried out by hand, setting by
setting: User/Group, AmbientCapabilities and CapabilityBoundingSet (setpriv), NoNewPrivileges,
UMask, StateDirectory, a clean environment with NOTIFY_SOCKET (a datagram socket this
test listens on) and WATCHDOG_USEC, ExecStartPre, then ExecStart. The root is an overlay
of this machine's own root filesystem with an empty upper layer, mounted for the test and
thrown away after it: dpkg installs there (maintainer scripts included), the host's
filesystem and dpkg database are untouched.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

from clients import Dhclient, PerfdhcpLoad
from harness import REPO, Tandem, Topology, run, tandem_binary, tandem_config
from pair import Member, PairTopology

# The unit's WatchdogSec is 30 s; here a shorter one so pings are seen within the test.
TEST_WATCHDOG_USEC = 1_000_000
CAP_NET_BIND_SERVICE = 10
# Only for DHCPv4 ping_check's raw ICMP fallback (see the unit's comment).
CAP_NET_RAW = 13
UNIT_CAPS = (1 << CAP_NET_BIND_SERVICE) | (1 << CAP_NET_RAW)


def _deb():
    """The package under test: $TANDEM_DEB, else built by packaging/build-deb.sh from the
    binary under test (installing cargo-deb first if needed)."""
    if os.environ.get("TANDEM_DEB"):
        return os.environ["TANDEM_DEB"]
    binary = tandem_binary()
    env = dict(os.environ, TANDEM_DEB_NO_BUILD="1",
               CARGO_TARGET_DIR=os.path.dirname(os.path.dirname(os.path.abspath(binary))))
    res = subprocess.run([os.path.join(REPO, "packaging", "build-deb.sh")], capture_output=True, text=True,
                         env=env, timeout=1200)
    if res.returncode != 0:
        raise RuntimeError(f"packaging/build-deb.sh failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res.stdout.strip().splitlines()[-1]


def parse_unit(path):
    """{section: {key: [values]}} of a systemd unit file (repeated keys accumulate)."""
    sections, current = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


class OverlayRoot:
    """A throwaway root: overlayfs with this machine's / below and an empty upper layer,
    /proc, /dev, and fresh /run and /tmp. Unmounted (lazily, recursively) on exit."""

    def __init__(self, tmp):
        self.base = os.path.join(tmp, "root")
        self.upper, self.work, self.merged = (os.path.join(self.base, d) for d in ("upper", "work", "merged"))
        self.mounted = []

    def __enter__(self):
        for d in (self.upper, self.work, self.merged):
            os.makedirs(d)
        try:
            self._mount(["-t", "overlay", "overlay", "-o",
                         f"lowerdir=/,upperdir={self.upper},workdir={self.work}", self.merged])
            self._mount(["-t", "proc", "proc", self.path("/proc")])
            self._mount(["--bind", "/dev", self.path("/dev")])
            self._mount(["-t", "tmpfs", "tmpfs", self.path("/run")])
            self._mount(["-t", "tmpfs", "tmpfs", self.path("/tmp")])
        except BaseException:
            self.__exit__()
            raise
        return self

    def _mount(self, args):
        run(["mount"] + args)
        self.mounted.append(args[-1])

    def bind(self, src, dest):
        os.makedirs(self.path(dest), exist_ok=True)
        self._mount(["--bind", src, self.path(dest)])

    def path(self, p):
        return os.path.join(self.merged, p.lstrip("/"))

    def chroot(self, cmd, check=True, **kw):
        return run(["chroot", self.merged] + cmd, check=check, **kw)

    def __exit__(self, *exc):
        if self.mounted:
            run(["umount", "-R", "-l", self.merged], check=False)
            self.mounted = []
        return False


def _unit_command(root, service, line, env):
    """The argv that carries out one Exec line of the unit in `root` as systemd would:
    umask, the unit's user and group, its capabilities, no_new_privs, a clean environment."""
    user = service["User"][-1]
    group = service.get("Group", [user])[-1]
    caps = ",".join("+" + c.lower().removeprefix("cap_") for c in " ".join(service["AmbientCapabilities"]).split())
    bounding = ",".join("+" + c.lower().removeprefix("cap_")
                        for c in " ".join(service["CapabilityBoundingSet"]).split())
    setpriv = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups",
               f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set=-all,{bounding}"]
    if service.get("NoNewPrivileges", ["no"])[-1] in ("yes", "true", "1"):
        setpriv.append("--no-new-privs")
    home = f"/var/lib/{service['StateDirectory'][-1]}"
    clean_env = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", f"HOME={home}",
                 f"USER={user}", f"LOGNAME={user}", "LANG=C.UTF-8"] + [f"{k}={v}" for k, v in env.items()]
    umask = service.get("UMask", ["0022"])[-1]
    inner = " ".join(shlex.quote(a) for a in setpriv + ["--"] + clean_env + shlex.split(line))
    # ip netns exec gives each command its own mount namespace: sysfs mounted there shows
    # the namespace's interfaces (the server DUID is made from one's link-layer address).
    return ["sh", "-c", f"mount -t sysfs sysfs {shlex.quote(root.path('/sys'))} && "
                        f"exec chroot {shlex.quote(root.merged)} /bin/sh -c "
                        + shlex.quote(f"umask {umask}; exec {inner}")]


def _messages(sock, until, want, got):
    while time.time() < until:
        sock.settimeout(max(0.05, min(0.5, until - time.time())))
        try:
            data = sock.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        got.append(data)
        if want in data.splitlines():
            return True
    return False


def _proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def ops_deb_installs_into_a_clean_root_and_runs_as_its_unit_says():
    """The .deb installs (postinst makes the tandem user and /var/lib/tandem); the unit's
    ExecStartPre passes; its ExecStart, as user tandem with CAP_NET_BIND_SERVICE and CAP_NET_RAW only,
    sends READY=1, binds port 547, serves dhclient, sends WATCHDOG=1; a second serve on
    the same data_dir is refused; SIGTERM brings STOPPING=1 and exit 0."""
    deb = _deb()
    with Topology("deb") as topo, OverlayRoot(topo.tmp) as root:
        assert root.chroot(["getent", "passwd", "tandem"], check=False).returncode != 0, \
            "the root already has a tandem user"
        assert root.chroot(["dpkg-query", "-W", "tandem"], check=False).returncode != 0, \
            "tandem is already installed in the root"
        shutil.copy(deb, root.path("/tmp/tandem.deb"))
        inst = root.chroot(["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/tmp/tandem.deb"], check=False)
        assert inst.returncode == 0, f"dpkg -i failed:\n{inst.stdout}{inst.stderr}"
        for path in ("/usr/sbin/tandem", "/usr/lib/systemd/system/tandem.service", "/etc/tandem/tandem.toml",
                     "/usr/share/doc/tandem/copyright", "/usr/share/doc/tandem/operations.md",
                     "/usr/share/man/man8/tandem.8.gz", "/usr/share/man/man8/tandem-serve.8.gz",
                     "/usr/share/man/man8/tandem-leases-backup.8.gz"):
            assert os.path.exists(root.path(path)), f"{path} not installed"
        conffiles = root.chroot(["dpkg-query", "-W", "-f=${Conffiles}", "tandem"]).stdout
        assert "/etc/tandem/tandem.toml" in conffiles, conffiles
        with open(root.path("/usr/share/doc/tandem/copyright")) as f:
            assert "Apache License" in f.read()
        uid = int(root.chroot(["id", "-u", "tandem"]).stdout)
        st = os.stat(root.path("/var/lib/tandem"))
        assert st.st_uid == uid and (st.st_mode & 0o777) == 0o750, (st.st_uid, oct(st.st_mode))
        # The shipped configuration is the single-server example; it checks (its
        # interface is the demo's, not this namespace's, so only the syntax is judged here).
        with open(root.path("/etc/tandem/tandem.toml")) as f, open(os.path.join(REPO, "examples", "tandem.toml")) as g:
            assert f.read() == g.read(), "/etc/tandem/tandem.toml is not examples/tandem.toml"
        verify = ""
        if os.path.exists(root.path("/usr/bin/systemd-analyze")):
            v = root.chroot(["systemd-analyze", "verify", "/usr/lib/systemd/system/tandem.service"], check=False)
            out = v.stdout + v.stderr
            # Only the unit's own syntax and settings count; "man ... failed" means man-db
            # cannot resolve Documentation= in this chroot.
            bad = [l for l in out.splitlines() if l.strip() and "Command 'man" not in l]
            assert not bad, f"systemd-analyze verify:\n{out}"
            verify = "; systemd-analyze verify clean"

        unit = parse_unit(root.path("/usr/lib/systemd/system/tandem.service"))
        service = unit["Service"]
        assert service["Type"] == ["notify"], service["Type"]
        assert service["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE CAP_NET_RAW"], service["CapabilityBoundingSet"]
        assert service["ProtectSystem"] == ["strict"] and service["StateDirectory"] == ["tandem"]
        watchdog_sec = service["WatchdogSec"][-1]
        assert re.fullmatch(r"\d+s", watchdog_sec), watchdog_sec
        assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"], service["ExecReload"]

        # The operator's configuration: this namespace's interface, the packaged data_dir.
        with open(tandem_config(topo, "/var/lib/tandem")) as f:
            text = f.read()
        with open(root.path("/etc/tandem/tandem.toml"), "w") as f:
            f.write(text)

        notify_dir = os.path.join(topo.tmp, "notify")
        os.makedirs(notify_dir)
        os.chmod(notify_dir, 0o755)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(notify_dir, "notify.sock"))
        os.chmod(os.path.join(notify_dir, "notify.sock"), 0o666)
        root.bind(notify_dir, "/run/systemd-notify")
        env = {"NOTIFY_SOCKET": "/run/systemd-notify/notify.sock", "WATCHDOG_USEC": str(TEST_WATCHDOG_USEC)}

        for pre in service.get("ExecStartPre", []):
            res = topo.ns(topo.srv_ns, _unit_command(root, service, pre, {}), check=False)
            assert res.returncode == 0, f"ExecStartPre {pre} failed:\n{res.stdout}{res.stderr}"

        log_path = os.path.join(topo.tmp, "unit.log")
        log = open(log_path, "w")
        (start,) = service["ExecStart"]
        proc = topo.spawn(topo.srv_ns, _unit_command(root, service, start, env), stdout=log, stderr=log)

        def unit_log():
            with open(log_path) as f:
                return f.read()[-4000:]

        got = []
        assert _messages(sock, time.time() + 20, "READY=1", got), f"no READY=1 (got {got}):\n{unit_log()}"
        out = topo.ns(topo.srv_ns, ["ss", "-u", "-l", "-n", "-H"]).stdout
        assert re.search(r":547\s", out), f"READY=1 before port 547 was bound:\n{out}"
        # ip netns exec, sh and chroot all exec: the PID started is the server's.
        status = _proc_status(proc.pid)
        assert status["Uid"].split()[0] == str(uid), status["Uid"]
        assert int(status["CapEff"], 16) == UNIT_CAPS, status["CapEff"]
        assert int(status["CapBnd"], 16) == UNIT_CAPS, status["CapBnd"]
        assert status["NoNewPrivs"].strip() == "1", status["NoNewPrivs"]

        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)

        got = []
        t0 = time.time()
        assert _messages(sock, t0 + 3 * TEST_WATCHDOG_USEC / 1e6, "WATCHDOG=1", got), \
            f"no WATCHDOG=1 (got {got})"

        second = topo.ns(topo.srv_ns, _unit_command(root, service, start, {}), check=False, timeout=30)
        assert second.returncode != 0, f"a second serve on /var/lib/tandem started:\n{second.stderr}"
        want = f"data directory /var/lib/tandem is in use by another tandem process (pid {proc.pid})"
        assert want in second.stderr, f"want {want!r} in:\n{second.stderr}"

        # A backup as root (cron) while the unit runs, inside the installed root.
        b = topo.ns(topo.srv_ns, ["chroot", root.merged, "/usr/sbin/tandem", "leases", "backup",
                                  "/tmp/leases-backup.db"], check=False)
        assert b.returncode == 0 and "backup OK" in b.stdout, f"{b.stdout}{b.stderr}"
        for leftover in ("leases.db-wal", "leases.db-shm"):
            p = root.path(f"/var/lib/tandem/{leftover}")
            assert not os.path.exists(p) or os.stat(p).st_uid == uid, f"{leftover} not owned by tandem"

        client.stop()
        proc.send_signal(signal.SIGTERM)
        got = []
        assert _messages(sock, time.time() + 10, "STOPPING=1", got), f"no STOPPING=1 (got {got})"
        rc = proc.wait(timeout=20)
        assert rc == 0, f"exit {rc} after SIGTERM:\n{unit_log()}"
        sock.close()
        return (f"installed {os.path.basename(deb)}; ran as uid {uid} with CAP_NET_BIND_SERVICE and CAP_NET_RAW only; "
                f"READY, WATCHDOG, STOPPING seen; served {sorted(addrs)[0]}; second serve refused{verify}")


def _rows(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {(bytes(a), p): (s, c) for a, p, s, c in
                conn.execute("SELECT addr, plen, status, cltt FROM leases").fetchall()}
    finally:
        conn.close()


def ops_backup_while_perfdhcp_runs_has_every_acknowledged_lease():
    """tandem leases backup while perfdhcp keeps the server committing: the backup opens,
    passes SQLite's integrity check and holds every lease the server had on disk (so every
    lease it had acknowledged) before the backup began; perfdhcp saw no drops."""
    with Topology("bk") as topo:
        data = os.path.join(topo.tmp, "data")
        os.makedirs(data)
        server = Tandem(topo, data).start()
        db = os.path.join(data, "leases.db")
        load = PerfdhcpLoad(topo, rate=200, seconds=12, name="bk").start()
        deadline = time.time() + 20
        while len(_rows(db)) < 400 and time.time() < deadline:
            time.sleep(0.2)
        before = _rows(db)
        assert len(before) >= 400, f"only {len(before)} leases after the warm-up\n{server.log()}"
        backups = []
        for i in range(3):
            dest = os.path.join(topo.tmp, f"backup-{i}.db")
            snap = _rows(db)
            res = run([tandem_binary(), "leases", "backup", dest, "--config", server.config], check=False)
            assert res.returncode == 0, f"backup {i}: {res.stdout}{res.stderr}"
            got = _rows(dest)
            missing = set(snap) - set(got)
            assert not missing, f"backup {i} lacks {len(missing)} leases committed before it began"
            conn = sqlite3.connect(dest)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            finally:
                conn.close()
            backups.append((len(snap), len(got)))
            time.sleep(1)
        assert load.running(), "perfdhcp ended before the backups did: make the load longer"
        stats, out = load.stop()
        rr = stats.get("REQUEST-REPLY", {})
        sent, received = rr.get("sent packets", 0), rr.get("received packets", 0)
        # A few Requests may be in flight when perfdhcp is interrupted; nothing more.
        assert sent > 0 and sent - received <= 5, f"drops during the backups: {sent} sent, {received} received"
        after = _rows(db)
        assert len(after) > backups[-1][1], "the server kept committing after the last backup"
        return (f"3 backups under load: " + ", ".join(f"{a}->{b}" for a, b in backups)
                + f" leases (on disk before -> in backup); perfdhcp {int(received)}/{int(sent)} replies")


def ops_restored_pair_member_goes_through_recover():
    """Back up the secondary while the pair is NORMAL; stop it; `tandem leases restore` is
    refused while it runs and works once it is stopped; restarted, the restored secondary
    enters RECOVER (RFC 8156 §8.5: it may hold stale bindings) rather than resuming NORMAL
    through COMMUNICATIONS-INTERRUPTED, then reaches NORMAL with the partner's bindings."""
    with PairTopology("rs") as topo:
        sec = Member(topo, "sec").start()
        pri = Member(topo, "pri").start()
        pri.wait_state("NORMAL")
        sec.wait_state("NORMAL")
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        backup = os.path.join(topo.tmp, "sec-backup.db")
        deadline = time.time() + 30
        while not addrs <= set(sec.leases()) and time.time() < deadline:
            time.sleep(0.3)
        res = run([tandem_binary(), "leases", "backup", backup, "--config", sec.config], check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        refused = run([tandem_binary(), "leases", "restore", backup, "--config", sec.config], check=False)
        assert refused.returncode != 0 and "stop it before restoring" in refused.stderr, refused.stderr
        # A binding the backup does not have: made after it, while the secondary still runs.
        late = Dhclient(topo, "c2").start()
        late_addrs, _ = late.wait_bound(want_address=True)
        assert sec.stop() == 0
        res = run([tandem_binary(), "leases", "restore", backup, "--config", sec.config], check=False)
        assert res.returncode == 0 and "starts in RECOVER" in res.stdout, res.stdout + res.stderr
        mark = len(sec.log_text())
        sec.start()
        sec.wait_state("NORMAL", timeout=90)
        seen = sec.state_changes(since=mark)
        assert seen and seen[0] == "RECOVER", f"restored secondary went {seen}\n{sec.log()}"
        assert "COMMUNICATIONS-INTERRUPTED" not in seen, seen
        deadline = time.time() + 30
        while not late_addrs <= set(sec.leases()) and time.time() < deadline:
            time.sleep(0.3)
        assert late_addrs <= set(sec.leases()), f"the secondary did not recover {late_addrs} from its partner"
        client.stop()
        late.stop()
        return f"restored secondary went {' -> '.join(seen)} and learned {sorted(late_addrs)[0]} from the primary"


OPS_SCENARIOS = [
    ops_deb_installs_into_a_clean_root_and_runs_as_its_unit_says,
    ops_backup_while_perfdhcp_runs_has_every_acknowledged_lease,
    ops_restored_pair_member_goes_through_recover,
]
