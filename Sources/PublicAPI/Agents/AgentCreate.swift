import NeoJSON

/// Builds the document of a new agent from a POST body (design §5): a union on `autonomy_type`.
/// The create-only fields (autonomy_type, entity_type, audience) fix the base document, required fields
/// are checked, and the rest is applied with the PUT merge, so both share one set of field rules. Pure.
func newAgentDocument(_ body: JSONObject) throws -> (document: JSONObject, warnings: [String]) {
    let validation = Validation()
    let reader = FieldReader(body, validation: validation)
    let autonomyType = reader.enumValue("autonomy_type", AgentSchema.autonomyTypes) ?? "CHAINED_ACTIONS"
    let entityType = reader.enumValue("entity_type", AgentSchema.entityTypes) ?? "ticket"
    let audience = reader.enumValue("audience", AgentSchema.audiences)
    if reader.raw("audience").map({ !$0.isNull }) == true && autonomyType != "CONVERSATIONAL" {
        validation.fail("audience", "is only for CONVERSATIONAL agents")
    }
    for key in ["name", "trigger_type"] where body[key] == nil {
        validation.fail(key, "is required")
    }
    if autonomyType == "CHAINED_ACTIONS" && (body["actions"]?.isNull ?? true) {
        validation.fail("actions", "is required for CHAINED_ACTIONS agents: the pipeline after FIND_ENTITIES (may be [])")
    }
    if body["state"]?.stringValue == "DELETED" {
        validation.fail("state", "a new agent cannot be DELETED")
    }

    var rest = body
    for key in ["autonomy_type", "entity_type", "audience"] { rest[key] = nil }
    let base = baseAgentDocument(autonomyType: autonomyType, entityType: entityType, audience: audience)
    let result: AgentPatchResult
    do {
        result = try applyAgentPatch(rest, to: base)
    } catch let error as APIError where error.status == 422 {
        throw APIError.validation(validation.details + error.details).adding(warnings: validation.warnings + error.warnings)
    }
    result.warnings.forEach(validation.warn)
    try validation.check()
    return (result.agent, result.warnings)
}
