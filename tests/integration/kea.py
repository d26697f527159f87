"""Kea 2.2 (kea-dhcp6, memfile lease store) on the same topology as tandem.

Same interface as harness.Tandem, so every scenario and the benchmark can run
against either. Leases are read from Kea's CSV file (the last line for a lease wins;
valid lifetime 0 means Kea removed it, e.g. after a Release).
"""

import csv
import ipaddress
import json
import os

from harness import ACTIVE, PD_LEN, PD_POOL, POOL, RELAY_POOL, RELAY_SUBNET, SUBNET, wait_port, ServerProcess


class Kea(ServerProcess):
    name = "kea"

    def __init__(self, topo, data_dir, cpu=None, persist=True, preferred=3000, valid=4000, renew=1000,
                 rebind=2000):
        self.topo, self.data_dir, self.cpu = topo, data_dir, cpu
        self.csv = os.path.join(data_dir, "leases6.csv")
        self.log_path = os.path.join(data_dir, "kea.log")
        pd_prefix, pd_plen = PD_POOL.split("/")
        cfg = {"Dhcp6": {
            "interfaces-config": {"interfaces": [topo.srv_if]},
            "data-directory": data_dir,
            # persist: each lease change is appended to the CSV file before the reply.
            "lease-database": {"type": "memfile", "persist": persist, "name": self.csv, "lfc-interval": 0},
            "preferred-lifetime": preferred, "valid-lifetime": valid,
            "renew-timer": renew, "rebind-timer": rebind,
            "subnet6": [{
                "id": 1, "subnet": SUBNET, "interface": topo.srv_if,
                "pools": [{"pool": f"{POOL[0]}-{POOL[1]}"}],
                "pd-pools": [{"prefix": pd_prefix, "prefix-len": int(pd_plen), "delegated-len": PD_LEN}],
            }, {
                "id": 2, "subnet": RELAY_SUBNET, "pools": [{"pool": f"{RELAY_POOL[0]}-{RELAY_POOL[1]}"}],
            }],
            "option-data": [{"name": "dns-servers", "data": "2001:db8:1::53"},
                            {"name": "domain-search", "data": "example.org"}],
            "loggers": [{"name": "kea-dhcp6", "severity": "WARN",
                         "output_options": [{"output": self.log_path}]}],
        }}
        self.config = os.path.join(data_dir, "kea-dhcp6.conf")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def launch(self):
        """Start the process without waiting for it to bind (see start)."""
        env = dict(os.environ, KEA_PIDFILE_DIR=self.data_dir, KEA_LOCKFILE_DIR=self.data_dir)
        cmd = ["kea-dhcp6", "-c", self.config]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        out = open(os.path.join(self.data_dir, "kea.stdout"), "a")
        self.proc = self.topo.spawn(self.topo.srv_ns, cmd, env=env, stdout=out, stderr=out)
        return self

    def start(self):
        self.launch()
        wait_port(self.topo, self.proc, "kea-dhcp6", self.log)
        return self

    def log(self):
        text = ""
        for name in ("kea.log", "kea.stdout"):
            try:
                with open(os.path.join(self.data_dir, name)) as f:
                    text += f.read()[-3000:]
            except OSError:
                pass
        return text

    def leases(self):
        out = {}
        try:
            f = open(self.csv, newline="")
        except OSError:
            return out
        with f:
            for row in csv.DictReader(f):
                try:
                    ip = str(ipaddress.IPv6Address(row["address"]))
                    key = ip if row["lease_type"] == "0" else f"{ip}/{row['prefix_len']}"
                    valid, expire = int(row["valid_lifetime"]), int(row["expire"])
                except (KeyError, ValueError):
                    continue  # a torn last line after kill -9
                if valid == 0:
                    out.pop(key, None)
                    continue
                out[key] = dict(status=ACTIVE if row["state"] == "0" else 100 + int(row["state"]),
                                duid=row["duid"].replace(":", "").lower(), iaid=int(row["iaid"]),
                                cltt=expire - valid, expires=expire)
        return out


class Kea4(ServerProcess):
    """Kea 2.2 kea-dhcp4 (memfile lease store) serving relayed DHCPv4 clients.

    `subnets`: [(id, "a.b.c.d/len", "first-last" pool, router)], all in one shared network
    (the link behind the relay agent). Leases are read from Kea's CSV file as for kea-dhcp6.
    """

    name = "kea4"

    def __init__(self, topo, data_dir, subnets, cpu=None, persist=True, valid=4000, renew=1000, rebind=2000):
        self.topo, self.data_dir, self.cpu = topo, data_dir, cpu
        self.csv = os.path.join(data_dir, "leases4.csv")
        self.log_path = os.path.join(data_dir, "kea.log")
        cfg = {"Dhcp4": {
            # Relayed traffic only: a UDP socket (no raw socket for broadcast clients).
            "interfaces-config": {"interfaces": [topo.srv_if], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": persist, "name": self.csv, "lfc-interval": 0},
            "valid-lifetime": valid, "renew-timer": renew, "rebind-timer": rebind,
            "shared-networks": [{"name": "load", "subnet4": [
                {"id": sid, "subnet": net, "pools": [{"pool": pool}],
                 "option-data": [{"name": "routers", "data": router}]}
                for sid, net, pool, router in subnets]}],
            "option-data": [{"name": "domain-name-servers", "data": "192.0.2.53"},
                            {"name": "domain-name", "data": "example.org"}],
            "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                         "output_options": [{"output": self.log_path}]}],
        }}
        self.config = os.path.join(data_dir, "kea-dhcp4.conf")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def launch(self):
        env = dict(os.environ, KEA_PIDFILE_DIR=self.data_dir, KEA_LOCKFILE_DIR=self.data_dir)
        cmd = ["kea-dhcp4", "-c", self.config]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        out = open(os.path.join(self.data_dir, "kea.stdout"), "a")
        self.proc = self.topo.spawn(self.topo.srv_ns, cmd, env=env, stdout=out, stderr=out)
        return self

    def start(self):
        self.launch()
        wait_port(self.topo, self.proc, "kea-dhcp4", self.log, 67)
        return self

    log = Kea.log

    def leases(self):
        """{"a.b.c.d": {status, hwaddr, expires}} from leases4.csv (the last line wins)."""
        out = {}
        try:
            f = open(self.csv, newline="")
        except OSError:
            return out
        with f:
            for row in csv.DictReader(f):
                try:
                    ip = str(ipaddress.IPv4Address(row["address"]))
                    valid, expire = int(row["valid_lifetime"]), int(row["expire"])
                except (KeyError, ValueError):
                    continue
                if valid == 0:
                    out.pop(ip, None)
                    continue
                out[ip] = dict(status=ACTIVE if row["state"] == "0" else 100 + int(row["state"]),
                               hwaddr=row["hwaddr"].lower(), cltt=expire - valid, expires=expire)
        return out
