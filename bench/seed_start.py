#!/usr/bin/env python3
"""Cold start to `listening` with a 100-agent CI fixture (design §12): bench/seed-start.sh.

Three cases, in interleaved rounds so load on the box hits them alike, each a fresh process from spawn to the
`listening on` line on stdout:
  plain   a new database, no fixture (the baseline: migrations, key file, bootstrap key)
  seed    a new database with `--seed` (the fixture's 100 agents, a config with a secret, settings and keys created)
  reload  the seeded database started again with the same `--seed` (every entry compared, nothing written)
Prints the median and spread of each, and seed/plain and reload/plain ratios measured in the same run, and the
process's CPU time (user + system, start to exit after SIGTERM): on a busy box the wall time is mostly waiting for a
core and for fsync, the CPU time what the start itself costs.

BASELINE_BIN=path (another build, e.g. the previous commit's) runs every case with both binaries, alternating in
each round, and prints this binary's medians over the baseline's: a before/after measured in the same run.
"""
import json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN", os.path.join(ROOT, ".build", "release", "neo-server"))
ROUNDS = int(os.environ.get("ROUNDS", "15"))
AGENTS = int(os.environ.get("AGENTS", "100"))
ADMIN = "neo_sk_test_SeedBenchAdmin0123456789abcdefgh"


def fixture():
    agents = []
    for i in range(AGENTS):
        agent = {"name": f"agent {i:03d}", "description": f"fixture agent {i}", "group_name": f"group {i % 10}",
                 "trigger_type": ["NONE", "TRIGGERED", "SCHEDULED"][i % 3], "entity_type": "ticket",
                 "ticket_conditions": {"conditions": {"combinator": "and", "rules": [
                     {"field": "status", "operator": "=", "value": "New"}, {"field": "priority", "operator": "<=", "value": 3}]}}
                 if i % 3 == 1 else None,
                 "actions": [
                     {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "tickets", "path": "/tickets/{{input.id}}"}},
                     {"action_type": "ADD_NOTE", "input_as_dict": {"template": "## Ticket {{input.id}}\nDone by agent " + str(i)}},
                 ]}
        if i % 3 == 2:
            agent["schedule"] = {"cron": f"{i % 60} 9 * * 1-5", "timezone": "Europe/Berlin"}
        agents.append({k: v for k, v in agent.items() if v is not None})
    return {"tenant": "default", "settings": {"timezone": "Europe/Berlin"},
            "keys": [{"key": "neo_sk_test_SeedBenchCiKey0123456789abcdefgh", "name": "ci", "role": "admin"}],
            "external_apis": [{"name": "tickets", "endpoint_url": "https://psa.example.invalid/v1", "method": "GET",
                               "auth": {"type": "bearer", "token": "bench-secret-token"}}],
            "agents": agents}


def start(db, seed=None, binary=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env.update({"NEO_DB": db, "NEO_PORT": "0", "NEO_BOOTSTRAP_ADMIN_KEY": ADMIN, "NEO_LOG_LEVEL": "warn", "NEO_THREADS": "1"})
    args = [binary or BIN, "serve"] + (["--seed", seed] if seed else [])
    t0 = time.perf_counter()
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("listening on"):
            elapsed = (time.perf_counter() - t0) * 1000
            break
    else:
        raise SystemExit("server did not start: " + p.stderr.read())
    p.send_signal(signal.SIGTERM)
    p.stdout.read()
    p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"server exited {p.returncode}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} is missing: build it with swift build -c release (make seed-bench does)")
    baseline = os.environ.get("BASELINE_BIN")
    if baseline and not os.path.exists(baseline):
        raise SystemExit(f"BASELINE_BIN={baseline} is missing")
    binaries = {"new": BIN, "old": baseline} if baseline else {"new": BIN}
    work = tempfile.mkdtemp(prefix="neo-seed-bench-")
    try:
        path = os.path.join(work, "fixture.json")
        with open(path, "w") as f:
            json.dump(fixture(), f)
        seeded = {}
        for label, binary in binaries.items():
            seeded[label] = os.path.join(work, "seeded-" + label, "neo.db")
            start(seeded[label], path, binary)  # the reload case's database
        cases = ("plain", "seed", "reload")
        times = {(b, c): [] for b in binaries for c in cases}
        cpu = {(b, c): [] for b in binaries for c in cases}
        for r in range(ROUNDS):
            fresh = os.path.join(work, f"r{r}")
            # Alternate which binary goes first, so neither always runs on a warmer cache.
            order = list(binaries.items()) if r % 2 == 0 else list(reversed(binaries.items()))
            for case in cases:
                for label, binary in order:
                    db, seed = {"plain": (os.path.join(fresh, label, "plain", "neo.db"), None),
                                "seed": (os.path.join(fresh, label, "seed", "neo.db"), path),
                                "reload": (seeded[label], path)}[case]
                    wall, used = start(db, seed, binary)
                    times[(label, case)].append(wall)
                    cpu[(label, case)].append(used)
            shutil.rmtree(fresh)
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"cold start to 'listening', {ROUNDS} rounds, fixture of {AGENTS} agents ({os.path.getsize(path)} bytes)")
        for label, binary in binaries.items():
            print(f" {label}: {binary}")
            for c in cases:
                v = times[(label, c)]
                print(f"  {c:<7} median {med[(label, c)]:6.1f} ms   min {min(v):6.1f}   max {max(v):6.1f}   "
                      f"cpu median {cpu_med[(label, c)]:5.1f} ms")
            print(f"  seed/plain {med[(label, 'seed')] / med[(label, 'plain')]:.2f}x   "
                  f"reload/plain {med[(label, 'reload')] / med[(label, 'plain')]:.2f}x   "
                  f"cpu: seed/plain {cpu_med[(label, 'seed')] / cpu_med[(label, 'plain')]:.2f}x   "
                  f"reload/plain {cpu_med[(label, 'reload')] / cpu_med[(label, 'plain')]:.2f}x")
        if baseline:
            for c in cases:
                print(f"  new/old {c:<7} wall {med[('new', c)] / med[('old', c)]:.2f}x   cpu {cpu_med[('new', c)] / cpu_med[('old', c)]:.2f}x")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        goal = 50.0
        print(f"  goal < {goal:.0f} ms with the fixture: first load {'met' if med[('new', 'seed')] < goal else 'NOT met'}, "
              f"reload {'met' if med[('new', 'reload')] < goal else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
