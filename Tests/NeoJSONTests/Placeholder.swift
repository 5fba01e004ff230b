import XCTest

final class NeoJSONTestsPlaceholder: XCTestCase {}
