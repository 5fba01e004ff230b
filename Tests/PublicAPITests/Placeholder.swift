import XCTest

final class PublicAPITestsPlaceholder: XCTestCase {}
