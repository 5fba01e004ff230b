import XCTest

final class ExecutorTestsPlaceholder: XCTestCase {}
