/// An authenticated caller: the key, its tenant, role, permission groups and actor (design §4).
public struct Principal: Sendable, Equatable {
    public enum Role: String, Sendable { case admin, member }
    public enum Actor: String, Sendable { case user, agent }

    public let tenantId: Int64
    public let tenantName: String
    public let keyId: Int64
    public let role: Role
    public let permissions: [PermissionGroup: AccessLevel]
    public let actor: Actor
    public let agentId: Int64?
    public let testMode: Bool

    /// Admin keys have read_write on every group.
    public func level(_ group: PermissionGroup) -> AccessLevel {
        role == .admin ? .read_write : permissions[group] ?? .none
    }
}
