"""Seeds bench/callbacks.sh's tenant: AGENTS TRIGGERED agents with 5-rule conditions (the fifth rule,
company.name = "Company <i % 200>", picks 5 of 1,000 agents for each event) and the tenant's
sleep_before_callback_processing_seconds (--sleep, default 3600: runs are queued, not executed, while
ingest is measured). usage: callbacks_seed.py URL KEY AGENTS [--sleep N]"""
import json
import sys
import urllib.request

url, key, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sleep = int(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 3600

def call(method, path, body):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status

for i in range(count):
    call("POST", "/public-api/agents", {
        "name": f"Bench agent {i}", "trigger_type": "TRIGGERED",
        "callback_settings": {"target_changes": [{"change_type": "CREATE"}], "execution_order": i % 10},
        "ticket_conditions": {"conditions": {"combinator": "and", "rules": [
            {"field": "status", "operator": "=", "value": "New"},
            {"field": "board", "operator": "in", "value": ["Help Desk", "Escalations"]},
            {"field": "priority", "operator": "<=", "value": 3},
            {"field": "summary", "operator": "contains", "value": "printer"},
            {"field": "company.name", "operator": "=", "value": f"Company {i % 200}"},
        ]}},
        "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "Note for {{input.entity.summary}}"}}],
    })
call("PUT", "/public-api/settings", {"sleep_before_callback_processing_seconds": sleep})
