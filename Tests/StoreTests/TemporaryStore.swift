import Foundation
import Store
import XCTest

/// A fresh directory under NSTemporaryDirectory per test, removed afterwards.
class StoreTestCase: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-store-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A store on a real file inside a not-yet-existing subdirectory (exercises directory creation).
    func makeStore(readers: Int = 4) throws -> Store {
        var options = Store.Options(path: (directory as NSString).appendingPathComponent("data/neo.db"))
        options.readers = readers
        return try Store(options)
    }

    func assertStoreError<T>(_ kind: StoreError.Kind, _ expression: @autoclosure () throws -> T,
                             file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            _ = try expression()
            XCTFail("expected StoreError.\(kind)", file: file, line: line)
        } catch let error as StoreError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("expected StoreError.\(kind), got \(error)", file: file, line: line)
        }
        return nil
    }
}
