"""Drives a real neo-server with the client openapi-python-client generated from openapi/openapi.json
(bench/openapi-client.sh installs it as the package neo_server_client). Creates a CHAINED_ACTIONS agent
with an ADD_NOTE action, patches it, runs it, waits for the run to succeed and lists agents, then stores
an external-API config with OAuth2 token_auth and reads it back, checking each answer as the generated
models parse it. usage: openapi_client_check.py BASE_URL ADMIN_KEY"""
import sys
import time

import neo_server_client
from neo_server_client import AuthenticatedClient
from neo_server_client.api.agents import create_agent, get_agent, list_agents, run_agent_now, update_agent
from neo_server_client.api.executions import get_execution, list_execution_artifacts
from neo_server_client.api.external_ap_is import create_external_api, get_external_api
from neo_server_client.models import (
    ActionPatch, ActionPatchInputAsDict, AgentAutonomyType, AgentPatch, CreateAgentResponse201,
    CreateChainedActionsAgent, CreateChainedActionsAgentTriggerType, CreateExternalApiResponse201, Error, ExecutionStatus,
    ExternalApiAuthOAuth2ClientCredentials, ExternalApiBasicCredentials, ExternalApiConfigInput,
    ExternalApiConfigInputMethod, ExternalApiOAuthParam, GetAgentResponse200, GetExecutionResponse200,
    GetExternalApiResponse200, ListAgentsResponse200, ListExecutionArtifactsResponse200, RunAgentNowResponse202, RunNow,
    RunNowInputType0, UpdateAgentResponse200)
from neo_server_client.types import Unset


def check(condition, what):
    if not condition:
        raise SystemExit(f"openapi-client: FAILED: {what}")
    print(f"  ok: {what}")


def parsed(response, model, status):
    """The answer parsed by the generated models as the spec says it is (status and model)."""
    if response.status_code != status or not isinstance(response.parsed, model):
        raise SystemExit(f"openapi-client: FAILED: wanted {status} {model.__name__}, got {response.status_code} "
                         f"{type(response.parsed).__name__}: {response.content[:500]!r}")
    return response.parsed


def main(base_url, key):
    print(f"openapi-client: generated package {neo_server_client.__file__}")
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True, timeout=10.0)

    note = ActionPatch(action_type="ADD_NOTE",
                       input_as_dict=ActionPatchInputAsDict.from_dict({"template": "hello {{input.who}}"}))
    body = CreateChainedActionsAgent(name="generated-client agent", trigger_type=CreateChainedActionsAgentTriggerType.TRIGGERED,
                                     actions=[note], description="created by a generated client")
    created = parsed(create_agent.sync_detailed(client=client, body=body), CreateAgentResponse201, 201).data
    agent_id = created.id
    check(isinstance(agent_id, str) and agent_id.isdigit(), f"createAgent: id {agent_id!r} is digits")
    check(created.autonomy_type == AgentAutonomyType.CHAINED_ACTIONS and created.version == 1,
          "createAgent: CHAINED_ACTIONS, version 1")

    detail = parsed(get_agent.sync_detailed(agent_id, client=client), GetAgentResponse200, 200).data
    types = [a.action_type for a in detail.actions]
    check(types == ["FIND_ENTITIES", "ADD_NOTE"], f"getAgent: actions {types}")
    check(detail.actions[1].input_as_dict["template"] == "hello {{input.who}}", "getAgent: the ADD_NOTE template")

    patch = AgentPatch(name="generated-client agent (patched)", description="patched by a generated client")
    updated = parsed(update_agent.sync_detailed(agent_id, client=client, body=patch, if_match='"1"'),
                     UpdateAgentResponse200, 200).data
    check(updated.name == "generated-client agent (patched)" and updated.description == "patched by a generated client"
          and updated.version == 2, "updateAgent: name and description changed, version 2")

    run = RunNow(target_entity_id="T-42", input_=RunNowInputType0.from_dict({"who": "x"}))
    queued = parsed(run_agent_now.sync_detailed(agent_id, client=client, body=run), RunAgentNowResponse202, 202).data
    check(isinstance(queued.execution_id, str) and queued.status.value == "queued",
          f"runAgentNow: queued as {queued.execution_id}")

    deadline = time.monotonic() + 30
    while True:
        execution = parsed(get_execution.sync_detailed(queued.execution_id, client=client), GetExecutionResponse200, 200).data
        if execution.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"openapi-client: FAILED: execution still {execution.status.value} after 30 s")
        time.sleep(0.1)
    check(execution.status == ExecutionStatus.SUCCEEDED,
          f"getExecution: finished {execution.status.value} (error: {execution.error})")
    check(str(execution.execution_id) == queued.execution_id and execution.agent_id == int(agent_id),
          "getExecution: the run's execution and agent ids")
    check(execution.input_.to_dict() == {"who": "x"} and execution.finished_at is not None and not isinstance(execution.finished_at, Unset),
          "getExecution: the run's input, finished_at set")

    artifacts = parsed(list_execution_artifacts.sync_detailed(queued.execution_id, client=client),
                       ListExecutionArtifactsResponse200, 200).data
    check([a.content for a in artifacts] == ["hello x"], "listExecutionArtifacts: the note reads 'hello x'")

    listed = parsed(list_agents.sync_detailed(client=client, page_size=10), ListAgentsResponse200, 200)
    mine = [a for a in listed.data if a.id == agent_id]
    check(len(mine) == 1 and mine[0].name == "generated-client agent (patched)" and mine[0].version == 2,
          "listAgents: the patched agent is listed")
    check(listed.meta.pagination.has_more is False, "listAgents: meta.pagination parsed")

    missing = parsed(get_agent.sync_detailed("999999999", client=client), Error, 404)
    check(missing.error.code != "" and missing.meta.request_id != "", f"getAgent: 404 parsed as Error ({missing.error.code})")

    # The OAuth2 auth branch with token_auth (Basic credentials for the token request) round-trips.
    auth = ExternalApiAuthOAuth2ClientCredentials(
        type_="oauth2_client_credentials", token_url="http://127.0.0.1:9/token",
        params=[ExternalApiOAuthParam(key="client_id", value="generated"),
                ExternalApiOAuthParam(key="client_secret", value="s3cret", secret=True)],
        token_auth=ExternalApiBasicCredentials(username="generated", password="s3cret"))
    config = ExternalApiConfigInput(name="generated_client", endpoint_url="http://127.0.0.1:9/hook",
                                    method=ExternalApiConfigInputMethod.POST, auth=auth, requires_approval=False)
    parsed(create_external_api.sync_detailed(client=client, body=config), CreateExternalApiResponse201, 201)
    stored = parsed(get_external_api.sync_detailed("generated_client", client=client), GetExternalApiResponse200, 200).data
    check(isinstance(stored.auth, ExternalApiAuthOAuth2ClientCredentials)
          and isinstance(stored.auth.token_auth, ExternalApiBasicCredentials)
          and stored.auth.token_auth.username == "generated" and stored.auth.token_auth.password == "***"
          and [p.value for p in stored.auth.params] == ["generated", "***"],
          "getExternalApi: the OAuth2 auth with token_auth parsed, secrets masked")
    print("openapi-client: the generated client created, patched, ran and listed an agent")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
