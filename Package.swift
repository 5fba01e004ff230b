// swift-tools-version:6.0
import PackageDescription

// -Werror keeps the C shim honest; unsafeFlags are fine for a root package.
let cFlags: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"])]
// Release builds link the Swift runtime and Foundation statically (what `swift build --static-swift-stdlib` does, here
// so every release build gets it): a cold start then skips loading and binding ~20 Swift shared libraries, a sixth
// of it (design §12). Compiling with it too makes the objects autolink Foundation's static dependencies.
let staticStdlib: [SwiftSetting] = [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]

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
            linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("sqlite3"), .linkedLibrary("pq"), .linkedLibrary("crypto")]
        ),
        .target(name: "NeoJSON", swiftSettings: staticStdlib),
        // What several modules share: crypto, time, the logger, the lock.
        .target(name: "Basics", dependencies: ["CShim", "NeoJSON"], swiftSettings: staticStdlib),
        .target(name: "HTTPServer", dependencies: ["CShim", "Basics"], swiftSettings: staticStdlib),
        .target(name: "Store", dependencies: ["CShim", "Basics"], swiftSettings: staticStdlib),
        .target(name: "Executor", dependencies: ["CShim", "NeoJSON", "Basics"], swiftSettings: staticStdlib),
        .target(name: "PublicAPI", dependencies: ["HTTPServer", "Store", "Executor", "NeoJSON", "Basics"], swiftSettings: staticStdlib),
        .executableTarget(name: "NeoServer", dependencies: ["PublicAPI", "Basics"], swiftSettings: staticStdlib,
                          linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]),

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
