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


def start(db, seed=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env.update({"NEO_DB": db, "NEO_PORT": "0", "NEO_BOOTSTRAP_ADMIN_KEY": ADMIN, "NEO_LOG_LEVEL": "warn", "NEO_THREADS": "1"})
    args = [BIN, "serve"] + (["--seed", seed] if seed else [])
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
    work = tempfile.mkdtemp(prefix="neo-seed-bench-")
    try:
        path = os.path.join(work, "fixture.json")
        with open(path, "w") as f:
            json.dump(fixture(), f)
        seeded = os.path.join(work, "seeded", "neo.db")
        start(seeded, path)  # the reload case's database
        times = {"plain": [], "seed": [], "reload": []}
        cpu = {"plain": [], "seed": [], "reload": []}
        for r in range(ROUNDS):
            fresh = os.path.join(work, f"r{r}")
            for case, (db, seed) in {"plain": (os.path.join(fresh, "plain", "neo.db"), None),
                                     "seed": (os.path.join(fresh, "seed", "neo.db"), path), "reload": (seeded, path)}.items():
                wall, used = start(db, seed)
                times[case].append(wall)
                cpu[case].append(used)
            shutil.rmtree(fresh)
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"cold start to 'listening', {ROUNDS} rounds, fixture of {AGENTS} agents ({os.path.getsize(path)} bytes), {BIN}")
        for k, v in times.items():
            print(f"  {k:<7} median {med[k]:6.1f} ms   min {min(v):6.1f}   max {max(v):6.1f}   cpu median {cpu_med[k]:5.1f} ms")
        print(f"  seed/plain {med['seed'] / med['plain']:.2f}x   reload/plain {med['reload'] / med['plain']:.2f}x   "
              f"cpu: seed/plain {cpu_med['seed'] / cpu_med['plain']:.2f}x   reload/plain {cpu_med['reload'] / cpu_med['plain']:.2f}x")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        goal = 50.0
        print(f"  goal < {goal:.0f} ms with the fixture: first load {'met' if med['seed'] < goal else 'NOT met'}, "
              f"reload {'met' if med['reload'] < goal else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
