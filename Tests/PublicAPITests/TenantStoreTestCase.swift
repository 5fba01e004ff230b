import Foundation
import Store
import XCTest
@testable import PublicAPI

/// A test case with a migrated SQLite store of its own, in a directory removed afterwards, holding one tenant
/// (named after the test class).
class TenantStoreTestCase: XCTestCase {
    var directory = ""
    var store: Store!
    var tenantId: Int64 = 0

    override func setUpWithError() throws {
        let name = String(describing: type(of: self))
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-\(name)-\(UUID().uuidString)")
        store = try Store(Store.Options(path: (directory as NSString).appendingPathComponent("neo.db")))
        try store.migrate()
        tenantId = try KeyService(store: store).tenant(named: name)
    }

    override func tearDownWithError() throws {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
