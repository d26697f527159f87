"""Prometheus metrics (issue 12 item 3): a real Prometheus server (Debian `prometheus`)
scrapes both members of a tandem pair; the values are checked through Prometheus' own
query API, and so is every panel query of the shipped Grafana dashboard
(contrib/grafana/tandem.json).

Prometheus runs in the primary's namespace: it scrapes each member's endpoint on the
client link (2001:db8:1::1 and ::2, port 9547) and serves its API on [::1]:9090 inside
that namespace only. It is started by PID with a temporary config and storage directory,
and stopped by that PID.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

from clients import perfdhcp
from harness import REPO, POOL, SUBNET, tandem_binary
from pair import LINK_ADDRS, Member, PairTopology

METRICS_PORT = 9547
PROM_LISTEN = "[::1]:9090"
DASHBOARD = os.path.join(REPO, "contrib", "grafana", "tandem.json")
# What Grafana would put in for its variables: every member, and windows long enough for
# rate() over 1 s scrapes.
SUBSTITUTIONS = {"$__rate_interval": "15s", "$__interval": "2s", "$__range": "5m", "$instance": ".*",
                 "${instance}": ".*"}


def _members_with_metrics(topo):
    members = {}
    for who in ("sec", "pri"):
        m = Member(topo, who)
        with open(m.config, "a") as f:
            f.write(f'\n[metrics]\nlisten = "[{LINK_ADDRS[who]}]:{METRICS_PORT}"\n')
        members[who] = m.start()
    members["pri"].wait_state("NORMAL")
    members["sec"].wait_state("NORMAL")
    return members["pri"], members["sec"]


class Prometheus:
    """`prometheus` in a namespace, scraping both members every second."""

    def __init__(self, topo, ns):
        self.topo, self.ns = topo, ns
        self.dir = os.path.join(topo.tmp, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.config = os.path.join(self.dir, "prometheus.yml")
        targets = "\n".join(
            f"      - targets: ['[{LINK_ADDRS[who]}]:{METRICS_PORT}']\n        labels: {{member: {who}}}"
            for who in ("pri", "sec"))
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: tandem\n    static_configs:\n" + targets + "\n")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None

    def start(self):
        binary = shutil.which("prometheus")
        if not binary:
            raise RuntimeError("prometheus not installed (scripts/install-deps.sh installs it)")
        log = open(self.log_path, "a")
        self.proc = self.topo.spawn(self.ns, [
            binary, f"--config.file={self.config}", f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
            f"--web.listen-address={PROM_LISTEN}", "--storage.tsdb.retention.time=1h"], stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            if self._get("/-/ready", check=False).startswith("Prometheus"):
                return self
            time.sleep(0.3)
        raise RuntimeError(f"prometheus not ready:\n{self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def _get(self, path, check=True):
        # The API listens inside the namespace only: fetch from there.
        code = ("import sys, urllib.request\n"
                "try:\n"
                f"    print(urllib.request.urlopen('http://{PROM_LISTEN}' + sys.argv[1], timeout=10).read().decode())\n"
                "except Exception as e:\n"
                "    print('ERROR', e)\n")
        out = self.topo.ns(self.ns, ["python3", "-c", code, path], check=check)
        return out.stdout

    def query(self, expr):
        """The result vector of an instant query (raises on an API error)."""
        text = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        try:
            body = json.loads(text)
        except ValueError:
            raise AssertionError(f"query {expr!r}: {text[:500]}")
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r}: {body}")
        return body["data"]["result"]

    def by_member(self, expr):
        return {r["metric"].get("member"): float(r["value"][1]) for r in self.query(expr)}

    def targets_up(self):
        return self.by_member("up")


def _wait(pred, what, timeout=30, detail=lambda: ""):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last {last})\n{detail()}")


def dashboard_queries(path=DASHBOARD):
    """Every `expr` of every panel (rows included), with Grafana's variables substituted."""
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                expr = t.get("expr")
                if expr:
                    for k, v in SUBSTITUTIONS.items():
                        expr = expr.replace(k, v)
                    assert "$" not in expr, f"panel {p.get('title')!r}: unsubstituted variable in {expr}"
                    out.append((p.get("title"), expr))
    walk(dash.get("panels", []))
    return out


def _bad_metrics_config(topo, tmp, listen):
    """A single-server config on the client link with `[metrics] listen = listen`."""
    path = os.path.join(tmp, f"bad-{abs(hash(listen))}.toml")
    with open(path, "w") as f:
        f.write(f"""
[server]
interfaces = ["{topo.cli_if}"]
data_dir = "{os.path.join(tmp, 'bad-data')}"

[[subnet6]]
id = 1
prefix = "{SUBNET}"
interface = "{topo.cli_if}"
preferred_lifetime = 60
valid_lifetime = 120
pools = [{{ first = "{POOL[0]}", last = "{POOL[1]}" }}]

[metrics]
listen = "{listen}"
""")
    return path


def ops_metrics_bad_listen_address_and_port_in_use_are_clear_errors():
    """`[metrics] listen` that is not an address is a check-config error naming the key;
    a port already taken stops `tandem serve` at startup with an error naming the address
    (and never leaves a server running without its endpoint)."""
    with PairTopology("mb") as topo:
        bad = _bad_metrics_config(topo, topo.tmp, "localhost:9547")
        res = topo.ns(topo.cli_ns, [tandem_binary(), "check-config", bad], check=False)
        assert res.returncode != 0, f"accepted: {res.stdout}{res.stderr}"
        msg = res.stdout + res.stderr
        assert "metrics.listen" in msg and "not an address and port" in msg, msg
        # Hold [::1]:9547 in the client namespace, then start a server that wants it.
        holder = topo.spawn(topo.cli_ns, ["python3", "-c",
                                          "import socket,time\n"
                                          "s=socket.socket(socket.AF_INET6)\n"
                                          f"s.bind(('::1',{METRICS_PORT}))\ns.listen()\ntime.sleep(60)"])
        _wait(lambda: f":{METRICS_PORT} " in topo.ns(topo.cli_ns, ["ss", "-t", "-l", "-n", "-H"]).stdout,
              "the port holder to listen", timeout=10)
        taken = _bad_metrics_config(topo, topo.tmp, f"[::1]:{METRICS_PORT}")
        try:
            res = topo.ns(topo.cli_ns, [tandem_binary(), "serve", "--config", taken], check=False, timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("tandem serve kept running with its metrics port taken")
        finally:
            holder.kill()
            holder.wait(timeout=10)
        msg = res.stdout + res.stderr
        assert res.returncode != 0, msg
        assert f"cannot listen for metrics scrapes on [::1]:{METRICS_PORT}" in msg, msg
        assert "in use" in msg.lower(), msg
        return f"serve with the port taken: {msg.strip().splitlines()[-1][:110]}"


def ops_metrics_prometheus_scrapes_the_pair_and_every_dashboard_panel_has_data():
    """perfdhcp gets leases from a NORMAL pair while Prometheus scrapes both members every
    second. Through Prometheus' query API: granted leases (summed over the members) equal
    the Replies perfdhcp received; both members' failover state gauge is NORMAL=1 and no
    other state is 1; each member's pool use equals its active leases (ctl status); the
    secondary learnt every lease (no updates left unacked); then every panel query of
    contrib/grafana/tandem.json returns data."""
    with PairTopology("m") as topo:
        pri, sec = _members_with_metrics(topo)
        prom = Prometheus(topo, topo.nss["pri"]).start()
        try:
            _wait(lambda: prom.targets_up() == {"pri": 1.0, "sec": 1.0}, "both targets up",
                  detail=lambda: prom.log())
            exchanges = 60
            stats, out = perfdhcp(topo, clients=10_000, exchanges=exchanges, rate=30, extra=["-u"], timeout=60)
            replies = int(stats.get("REQUEST-REPLY", {}).get("received packets", 0))
            assert replies >= exchanges * 0.9, f"perfdhcp got {replies} Replies:\n{out[-1500:]}"
            granted_q = 'sum(tandem_lease_events_total{event="granted"})'
            _wait(lambda: (prom.query(granted_q) or [{"value": [0, "0"]}])[0]["value"][1] == str(replies),
                  f"Prometheus to see {replies} granted leases",
                  detail=lambda: f"{prom.query('tandem_lease_events_total')}")
            # The Replies perfdhcp got came as Reply messages, counted by type too.
            sent = sum(prom.by_member('tandem_dhcp_packets_sent_total{type="reply"}').values())
            assert sent >= replies, f"{sent} replies counted, perfdhcp got {replies}"
            # Both members NORMAL, one state at 1 each.
            assert prom.by_member('tandem_failover_state{state="NORMAL"}') == {"pri": 1.0, "sec": 1.0}, \
                prom.query("tandem_failover_state == 1")
            ones = prom.query("tandem_failover_state == 1")
            assert len(ones) == 2, ones
            # Pool use equals active leases, on each member, once the updates drained.
            _wait(lambda: prom.by_member("tandem_failover_updates_unacked + tandem_failover_updates_queued")
                  == {"pri": 0.0, "sec": 0.0}, "the binding updates to drain")

            def pool_matches():
                want = {m.who: float(m.status()["active_leases"]) for m in (pri, sec)}
                used = prom.by_member('sum by (member) (tandem_pool_used{kind="address"})')
                active = prom.by_member("tandem_leases_active")
                return used if used == active == want == {"pri": replies, "sec": replies} else None
            used = _wait(pool_matches, "pool used = active leases (ctl status) = perfdhcp's Replies on both",
                         detail=lambda: f"{prom.query('tandem_pool_used')}\n{prom.query('tandem_leases_active')}\n"
                                        f"{pri.status()}\n{sec.status()}")
            # Commit latency was measured for every batch.
            commits = prom.by_member("tandem_commit_duration_seconds_count")
            assert commits["pri"] > 0 and commits["sec"] > 0, commits
            lag = prom.by_member("tandem_failover_partner_lag_seconds")
            assert all(v < 15 for v in lag.values()), f"partner lag {lag} in a NORMAL pair"
            # Every dashboard panel shows something from this Prometheus.
            time.sleep(3)
            empty = []
            queries = dashboard_queries()
            for title, expr in queries:
                if not prom.query(expr):
                    empty.append(f"{title}: {expr}")
            assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
            return (f"{replies} leases granted = perfdhcp's Replies; NORMAL=1 on both; pool used "
                    f"{int(used['pri'])} = active on each; {len(queries)} dashboard queries all have data")
        finally:
            prom.stop()


def _scrape(topo, who):
    """`GET /metrics` of member `who`, from inside its namespace: {series: value}."""
    code = ("import urllib.request\n"
            f"print(urllib.request.urlopen('http://[{LINK_ADDRS[who]}]:{METRICS_PORT}/metrics', timeout=10)"
            ".read().decode())\n")
    text = topo.ns(topo.nss[who], ["python3", "-c", code]).stdout
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def ops_metrics_tls_handshake_failures_are_counted_on_both_members():
    """A primary with a certificate from another CA: both members refuse the handshake,
    and each one's tandem_failover_tls_failures_total counts it (the secondary as the
    accepting end, the primary as the connecting one); neither reports NORMAL."""
    from pair import make_pki
    with PairTopology("mt") as topo:
        make_pki(topo, "impostor")
        members = {}
        for who, kw in (("sec", {}), ("pri", {"pki": "impostor"})):
            m = Member(topo, who, **kw)
            with open(m.config, "a") as f:
                f.write(f'\n[metrics]\nlisten = "[{LINK_ADDRS[who]}]:{METRICS_PORT}"\n')
            members[who] = m.start()
        got = _wait(lambda: (lambda v: v if all(x.get("tandem_failover_tls_failures_total", 0) >= 1
                                                 for x in v.values()) else None)(
            {w: _scrape(topo, w) for w in members}), "a TLS failure counted on both members", timeout=30,
            detail=lambda: members["pri"].log() + members["sec"].log())
        for w, v in got.items():
            assert v['tandem_failover_state{state="NORMAL"}'] == 0, f"{w} is NORMAL with a bad certificate"
            assert v["tandem_failover_communications_ok"] == 0, w
        return ", ".join(f"{w}: {int(v['tandem_failover_tls_failures_total'])} TLS failures"
                         for w, v in sorted(got.items()))


OPS_METRICS_SCENARIOS = [
    ops_metrics_bad_listen_address_and_port_in_use_are_clear_errors,
    ops_metrics_prometheus_scrapes_the_pair_and_every_dashboard_panel_has_data,
    ops_metrics_tls_handshake_failures_are_counted_on_both_members,
]
