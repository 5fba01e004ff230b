/// Permission groups on a key (design §4, seed 002).
public enum PermissionGroup: String, CaseIterable, Sendable {
    case agents, executions, approvals, external_apis, callbacks
}

/// none < read < read_write.
public enum AccessLevel: String, Comparable, CaseIterable, Sendable {
    case none, read, read_write
    var rank: Int { self == .none ? 0 : self == .read ? 1 : 2 }
    public static func < (a: AccessLevel, b: AccessLevel) -> Bool { a.rank < b.rank }
}

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
