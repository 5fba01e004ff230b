#!/usr/bin/env python3
"""Schedule durability: SIGKILL the server around slot boundaries; no slot fires twice, none is lost (design §9).

The server runs on a test clock (NEO_TEST_CLOCK_SPEED=30, NEO_TEST_CLOCK_OFFSET chosen so it starts at the real
time): one simulated minute passes every 2 real seconds, and the clock is continuous across restarts. Four
agents (`* * * * *` twice, `*/2`, `*/3`) and a disabled one share one SQLite file. Each round starts the server,
lets it run past one to three slot boundaries, SIGKILLs it within 0.25 real s of a boundary, runs
PRAGMA integrity_check, and stays down across one to three boundaries, restarting 3-42 simulated s after one
(within NEO_SCHEDULE_CATCHUP, 45 simulated s, for the every-minute agents) after odd rounds, or 48-58 s after
it (beyond) after even ones. A last start lets two more slots pass and stops with SIGTERM. Then the fired slots
(schedule_slots, with the scheduler's clock at each fire) and the executions are checked against the cron:

  - no (agent, slot) has two executions, and every fired slot row names an execution of that slot;
  - every slot that came due while the server ran fired in that run (a slot within 0.5 real s of a kill may
    instead be caught up after the restart);
  - after each restart, of the slots missed since the agent's last fire, exactly the latest ran when it was
    within the catch-up window, and none when it was not; no other missed slot ever ran;
  - nothing fired early, nothing later than the window, and the disabled agent never fired.

Stdlib only; 127.0.0.1 only; every loop bounded.

usage: schedule_durability.py ROUNDS   (env: NEO_SERVER_BIN, DURABILITY_SEED, DURABILITY_KEEP=1 keeps the DB and log)
"""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neo_server import NeoServer  # noqa: E402
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "debug", "neo-server")
KEY = "neo_sk_test_ScheduleDurability0123456789abcdefgh"
SPEED = 30.0           # simulated seconds per real second
CATCHUP = 45           # simulated seconds (1.5 real s): some restarts are within it, some beyond
KILL_MARGIN = 0.5      # real seconds before a kill in which a due slot may be left to the catch-up
STEPS = {"every minute a": 1, "every minute b": 1, "every 2 minutes": 2, "every 3 minutes": 3}


def sim_now(offset):
    return time.time() * SPEED + offset


def parse_ts(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def slots_between(step, after, until):
    """Slots of `*/step * * * *` (UTC) in (after, until]."""
    out = []
    minute = int(after // 60) + 1
    while minute * 60 <= until:
        if (minute % 60) % step == 0:
            out.append(minute * 60)
        minute += 1
    return out


class Server(NeoServer):
    def __init__(self, workdir, db, offset):
        super().__init__(BIN, KEY, db, os.path.join(workdir, "server.log"), name="schedule durability",
                         NEO_LOG_LEVEL="info", NEO_THREADS="1", NEO_SCHEDULE_CATCHUP=CATCHUP,
                         NEO_TEST_CLOCK_SPEED=SPEED, NEO_TEST_CLOCK_OFFSET=repr(offset))
        self.started = self.scheduler_start()

    def scheduler_start(self):
        """The scheduler's clock at its first tick, the catch-up (its 'scheduler started' log line)."""
        for line in self.log_since_start().splitlines():
            if '"msg":"scheduler started"' in line:
                return parse_ts(json.loads(line)["now"])
        raise SystemExit("schedule durability: no 'scheduler started' line in " + self.log_path)


def integrity(db):
    c = sqlite3.connect(db, timeout=10)
    try:
        return c.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        c.close()


def fired(db):
    c = sqlite3.connect(db, timeout=10)
    try:
        slots = c.execute("SELECT agent_id, slot, fired_at, execution_id FROM schedule_slots").fetchall()
        runs = c.execute("""SELECT agent_id, json_extract("trigger", '$.scheduled_for'), id FROM executions
                            WHERE json_extract("trigger", '$.type') = 'SCHEDULED'""").fetchall()
        return slots, runs
    finally:
        c.close()


def verify(db, agents, created, uptimes, disabled, end):
    """Every invariant in the module docstring; returns (problems, summary counts)."""
    problems = []
    slots, runs = fired(db)
    per_slot = {}
    for agent, slot, _ in runs:
        per_slot.setdefault((agent, slot), []).append(1)
    doubles = [k for k, v in per_slot.items() if len(v) > 1]
    for k in doubles:
        problems.append("agent %s slot %s has %d executions" % (k[0], k[1], len(per_slot[k])))
    run_ids = {rid: (agent, slot) for agent, slot, rid in runs}
    for agent, slot, _, execution in slots:
        if run_ids.get(execution) != (agent, slot):
            problems.append("slot row %s/%s names execution %s, which is not that slot's" % (agent, slot, execution))
    if len(slots) != len(runs):
        problems.append("%d slot rows but %d scheduled executions" % (len(slots), len(runs)))
    for agent, slot, _, _ in slots:
        if agent == disabled:
            problems.append("the disabled agent fired slot %s" % slot)

    caught_up = skipped_beyond = 0
    for name, agent in agents.items():
        step = STEPS[name]
        fires = sorted((parse_ts(s), parse_ts(f)) for a, s, f, _ in slots if a == agent)
        fired_slots = {s for s, _ in fires}
        fired_at = dict(fires)
        for s, f in fires:
            if s not in slots_between(step, s - 1, s):
                problems.append("%s fired %s, not a slot of */%d" % (name, s, step))
            if f < s:
                problems.append("%s fired slot %s early (at %s)" % (name, s, f))
            if f - s > CATCHUP + 0.001:
                problems.append("%s fired slot %s %.1f s late, beyond the window" % (name, s, f - s))
        for i, (start, kill) in enumerate(uptimes):
            before = [s for s, f in fires if f < start]
            last = max(before) if before else created[agent]
            missed = slots_between(step, last, start)
            if missed:
                latest = missed[-1]
                within = start - latest <= CATCHUP
                if within and latest not in fired_slots:
                    problems.append("%s: at restart %d (%.0f) the latest missed slot %.0f (%.0f s old) did not run"
                                    % (name, i + 1, start, latest, start - latest))
                if not within and latest in fired_slots:
                    problems.append("%s: at restart %d slot %.0f ran %.0f s late, beyond the window" % (name, i + 1, latest, start - latest))
                for s in missed[:-1]:
                    if s in fired_slots:
                        problems.append("%s: at restart %d an older missed slot %.0f ran too" % (name, i + 1, s))
                if within:
                    caught_up += 1
                else:
                    skipped_beyond += 1
            for s in slots_between(step, max(start, created[agent]), kill - KILL_MARGIN * SPEED):
                if not start <= fired_at.get(s, -1) <= kill:
                    problems.append("%s: slot %.0f came due while the server ran (%d) and did not fire then" % (name, s, i + 1))
        if fires and fires[-1][0] > end:
            problems.append("%s fired a slot after the end" % name)
    return problems, {"fires": len(slots), "caught_up": caught_up, "skipped_beyond": skipped_beyond}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seed = int(os.environ.get("DURABILITY_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    if not os.access(BIN, os.X_OK):
        raise SystemExit("schedule durability: %s missing (swift build, or set NEO_SERVER_BIN)" % BIN)
    work = tempfile.mkdtemp(prefix="neo-schedule-durability-")
    db = os.path.join(work, "neo.db")
    anchor = time.time()
    offset = anchor * (1 - SPEED)   # the test clock reads the real time at the anchor
    print("schedule durability: %d rounds, clock x%.0f (a slot every %.0f real s), catch-up %d simulated s, seed %d, db %s"
          % (rounds, SPEED, 60 / SPEED, CATCHUP, seed, db))
    started_at = time.time()
    failed = False
    agents, created, uptimes = {}, {}, []
    disabled = None
    for rnd in range(1, rounds + 2):
        last = rnd == rounds + 1
        server = Server(work, db, offset)
        if rnd == 1:
            for name, step in STEPS.items():
                cron = "* * * * *" if step == 1 else "*/%d * * * *" % step
                status, body = server.request("POST", "/public-api/agents", {
                    "name": name, "trigger_type": "SCHEDULED", "schedule": {"cron": cron},
                    "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "tick"}}]})
                if status != 201:
                    raise SystemExit("schedule durability: create failed: %d %s" % (status, body))
                agents[name] = int(body["data"]["id"])
                created[agents[name]] = sim_now(offset)
            status, body = server.request("POST", "/public-api/agents", {
                "name": "disabled", "trigger_type": "SCHEDULED", "state": "DISABLED", "schedule": {"cron": "* * * * *"},
                "actions": []})
            disabled = int(body["data"]["id"])
        start = server.started
        # Kill within 0.25 real s of the 1st to 3rd slot boundary after the start (the last round: SIGTERM after two).
        boundaries = slots_between(1, sim_now(offset), sim_now(offset) + 4 * 60)
        target = boundaries[1 if last else rng.randrange(0, 3)]
        jitter = 0 if last else rng.uniform(-0.25, 0.25)
        delay = (target - sim_now(offset)) / SPEED + jitter + (1.0 if last else 0)
        time.sleep(max(0.0, delay))
        kill = sim_now(offset)
        code = server.stop(signal.SIGTERM if last else signal.SIGKILL)
        uptimes.append((start, kill))
        check = integrity(db)
        ok = check == "ok" and (code == 0 if last else code == -signal.SIGKILL)
        failed |= not ok
        if last:
            print("final   : ran %.1f real s, stopped with SIGTERM (exit %d); integrity %s" % ((kill - start) / SPEED, code, check))
            break
        # Restart 1-3 slot boundaries later, a little after one: within the window for the every-minute agents
        # after odd rounds (3-42 simulated s after the boundary), just beyond it after even ones (48-58 s).
        back = slots_between(1, sim_now(offset), sim_now(offset) + 4 * 60)[rng.randrange(0, 3)]
        late = rng.uniform(3, 42) if rnd % 2 == 1 else rng.uniform(48, 58)
        down = max(0.0, (back + late - sim_now(offset)) / SPEED)
        print("round %2d: ran %.1f real s, SIGKILL %+.2f s from a slot boundary; integrity %s; down %.1f real s, back %2.0f simulated s after a slot"
              % (rnd, (kill - start) / SPEED, jitter, check, down, late))
        time.sleep(down)
    problems, counts = verify(db, agents, created, uptimes, disabled, sim_now(offset))
    failed |= bool(problems)
    for p in problems[:30]:
        print("   ", p)
    print("schedule durability: %s after %d rounds in %.0fs: %d slots fired, none twice; %d catch-ups ran the latest "
          "missed slot, %d restarts beyond the window ran none; %s"
          % ("FAILED" if failed else "ok", rounds, time.time() - started_at, counts["fires"], counts["caught_up"],
             counts["skipped_beyond"], "%d problems" % len(problems) if problems else "no slot lost"))
    if not failed and not os.environ.get("DURABILITY_KEEP"):
        subprocess.run(["rm", "-rf", work])
    else:
        print("schedule durability: kept", work)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
