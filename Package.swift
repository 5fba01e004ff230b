// swift-tools-version:6.0
import PackageDescription

// -Werror keeps the C shim honest; unsafeFlags are fine for a root package.
let cFlags: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"])]

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
            // libcurl and libpq are not linked: the shim loads them with dlopen when they are first needed
            // (Sources/CShim/lazy_library.h), so a start does not pay for their dependency trees.
            linkerSettings: [.linkedLibrary("sqlite3"), .linkedLibrary("crypto")]
        ),
        .target(name: "NeoJSON"),
        // What several modules share: crypto, time, the logger, the lock.
        .target(name: "Basics", dependencies: ["CShim", "NeoJSON"]),
        .target(name: "HTTPServer", dependencies: ["CShim", "Basics"]),
        .target(name: "Store", dependencies: ["CShim", "Basics"]),
        .target(name: "Executor", dependencies: ["CShim", "NeoJSON", "Basics"]),
        .target(name: "PublicAPI", dependencies: ["HTTPServer", "Store", "Executor", "NeoJSON", "Basics"]),
        .executableTarget(name: "NeoServer", dependencies: ["PublicAPI", "Executor", "Basics"]),

        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "CShim", "Basics"]),
        .testTarget(name: "NeoJSONTests", dependencies: ["NeoJSON"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Basics"]),
        .testTarget(name: "ExecutorTests", dependencies: ["Executor", "HTTPServer", "Basics"]),
        .testTarget(name: "PublicAPITests", dependencies: ["PublicAPI"]),
        .testTarget(name: "IntegrationTests", dependencies: ["NeoJSON", "Basics", "HTTPServer"]),
    ],
    // Swift 6 language mode everywhere: complete concurrency checking, no warnings.
    swiftLanguageModes: [.v6]
)
