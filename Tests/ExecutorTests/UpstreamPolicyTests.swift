import Executor
import XCTest

/// Address classification and the public|private|any decision (design §6).
final class UpstreamPolicyTests: XCTestCase {
    func test_classify_coversEveryBlockedRange() {
        let cases: [(String, AddressClass)] = [
            ("127.0.0.1", .loopback), ("127.255.0.9", .loopback), ("::1", .loopback), ("::ffff:127.0.0.1", .loopback),
            ("169.254.169.254", .metadata), ("fd00:ec2::254", .metadata), ("::ffff:169.254.169.254", .metadata),
            ("169.254.1.1", .linkLocal), ("fe80::1", .linkLocal), ("febf::1", .linkLocal),
            ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified), ("::", .unspecified),
            ("10.1.2.3", .privateNetwork), ("172.16.0.1", .privateNetwork), ("172.31.255.255", .privateNetwork),
            ("192.168.1.1", .privateNetwork), ("100.64.0.1", .privateNetwork), ("100.127.255.255", .privateNetwork),
            ("fc00::1", .privateNetwork), ("fd12:3456::1", .privateNetwork),
            ("224.0.0.1", .reserved), ("255.255.255.255", .reserved), ("ff02::1", .reserved),
            ("8.8.8.8", .publicInternet), ("172.32.0.1", .publicInternet), ("100.128.0.1", .publicInternet),
            ("172.15.255.255", .publicInternet), ("2606:4700::1111", .publicInternet), ("fec0::1", .publicInternet),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(AddressClass.of(IPAddress(text)!), expected, text)
        }
    }

    func test_policy_decisionTable() {
        let classes: [AddressClass] = [.loopback, .linkLocal, .metadata, .unspecified, .reserved, .privateNetwork, .publicInternet]
        let allowed: [UpstreamPolicy: Set<AddressClass>] = [
            .any: Set(classes),
            .privateAllowed: [.privateNetwork, .publicInternet],
            .publicOnly: [.publicInternet],
        ]
        for (policy, ok) in allowed {
            for cls in classes { XCTAssertEqual(policy.allows(cls), ok.contains(cls), "\(policy) \(cls)") }
        }
    }

    func test_refusal_oneBadAddressAmongGoodOnesRefuses() {
        let mixed = [IPAddress("8.8.8.8")!, IPAddress("169.254.169.254")!]
        let message = UpstreamPolicy.privateAllowed.refusal(host: "sneaky.example", addresses: mixed)
        XCTAssertEqual(message, "'sneaky.example' resolves to 169.254.169.254, which is a metadata address, refused by NEO_UPSTREAM_POLICY=private")
        XCTAssertNil(UpstreamPolicy.any.refusal(host: "x", addresses: mixed))
        XCTAssertNotNil(UpstreamPolicy.any.refusal(host: "x", addresses: []))
    }

    func test_refusal_namesThePolicyThatWouldAllowIt() {
        let loopback = UpstreamPolicy.privateAllowed.refusal(host: "127.0.0.1", addresses: [IPAddress("127.0.0.1")!])
        XCTAssertEqual(loopback, "127.0.0.1 is a loopback address, refused by NEO_UPSTREAM_POLICY=private; "
                       + "start the server with NEO_UPSTREAM_POLICY=loopback (or any) to allow it")
        let named = UpstreamPolicy.privateAllowed.refusal(host: "localhost", addresses: [IPAddress("::1")!])
        XCTAssertEqual(named, "'localhost' resolves to ::1, which is a loopback address, refused by NEO_UPSTREAM_POLICY=private; "
                       + "start the server with NEO_UPSTREAM_POLICY=loopback (or any) to allow it")
        XCTAssertEqual(UpstreamPolicy.publicOnly.refusal(host: "10.0.0.5", addresses: [IPAddress("10.0.0.5")!]),
                       "10.0.0.5 is a private address, refused by NEO_UPSTREAM_POLICY=public; start the server with NEO_UPSTREAM_POLICY=private (or any) to allow it")
        XCTAssertEqual(UpstreamPolicy.loopbackOnly.refusal(host: "8.8.8.8", addresses: [IPAddress("8.8.8.8")!]),
                       "8.8.8.8 is a public address, refused by NEO_UPSTREAM_POLICY=loopback; start the server with NEO_UPSTREAM_POLICY=public (or private, any) to allow it")
        XCTAssertEqual(UpstreamPolicy.privateAllowed.refusal(host: "fe80::1", addresses: [IPAddress("fe80::1")!]),
                       "fe80::1 is a link-local address, refused by NEO_UPSTREAM_POLICY=private; start the server with NEO_UPSTREAM_POLICY=any to allow it")
        XCTAssertEqual(UpstreamPolicy.privateAllowed.refusal(host: "169.254.169.254", addresses: [IPAddress("169.254.169.254")!]),
                       "169.254.169.254 is a metadata address, refused by NEO_UPSTREAM_POLICY=private", "no advice to open cloud metadata")
    }

    func test_resolver_returnsLiteralsWithoutDNS() throws {
        XCTAssertEqual(try HostResolver.resolve("169.254.169.254", port: 80), [IPAddress("169.254.169.254")!])
        XCTAssertEqual(try HostResolver.resolve("::1", port: 80), [IPAddress("::1")!])
        XCTAssertTrue(try HostResolver.resolve("localhost", port: 80).allSatisfy { AddressClass.of($0) == .loopback })
    }
}
