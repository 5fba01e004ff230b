// swift-tools-version:6.0
import PackageDescription

// -Werror keeps the C shim honest; unsafeFlags are fine for a root package.
let cFlags: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"])]
// Swift 6 language mode (complete concurrency checking) target by target; PublicAPI, NeoServer and
// their tests stay on the package default (5) until PublicAPI's restructure lands.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "neo-server",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "neo-server", targets: ["NeoServer"]),
    ],
    targets: [
        .target(
            name: "CShim",
            cSettings: cFlags,
            linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("sqlite3"), .linkedLibrary("crypto")]
        ),
        .target(name: "NeoJSON", swiftSettings: swift6),
        // What several modules share: crypto, time, the logger, the lock.
        .target(name: "Basics", dependencies: ["CShim", "NeoJSON"], swiftSettings: swift6),
        .target(name: "HTTPServer", dependencies: ["CShim", "Basics"], swiftSettings: swift6),
        .target(name: "Store", dependencies: ["CShim", "Basics"], swiftSettings: swift6),
        .target(name: "Executor", dependencies: ["CShim", "NeoJSON", "Basics"], swiftSettings: swift6),
        .target(name: "PublicAPI", dependencies: ["HTTPServer", "Store", "Executor", "NeoJSON", "Basics"]),
        .executableTarget(name: "NeoServer", dependencies: ["PublicAPI", "Basics"]),

        .testTarget(name: "BasicsTests", dependencies: ["Basics"], swiftSettings: swift6),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "CShim", "Basics"], swiftSettings: swift6),
        .testTarget(name: "NeoJSONTests", dependencies: ["NeoJSON"], swiftSettings: swift6),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Basics"], swiftSettings: swift6),
        .testTarget(name: "ExecutorTests", dependencies: ["Executor", "HTTPServer", "Basics"], swiftSettings: swift6),
        .testTarget(name: "PublicAPITests", dependencies: ["PublicAPI"]),
        .testTarget(name: "IntegrationTests", dependencies: ["NeoJSON", "Basics"]),
    ],
    swiftLanguageModes: [.v5]
)
