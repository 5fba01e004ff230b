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
            linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("sqlite3"), .linkedLibrary("crypto")]
        ),
        .target(name: "NeoJSON"),
        .target(name: "HTTPServer", dependencies: ["CShim"]),
        .target(name: "Store", dependencies: ["CShim"]),
        .target(name: "Executor", dependencies: ["CShim", "NeoJSON"]),
        .target(name: "PublicAPI", dependencies: ["HTTPServer", "Store", "Executor", "NeoJSON"]),
        .executableTarget(name: "NeoServer", dependencies: ["PublicAPI"]),

        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "CShim"]),
        .testTarget(name: "NeoJSONTests", dependencies: ["NeoJSON"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "ExecutorTests", dependencies: ["Executor", "HTTPServer"]),
        .testTarget(name: "PublicAPITests", dependencies: ["PublicAPI"]),
        .testTarget(name: "IntegrationTests", dependencies: ["NeoJSON", "HTTPServer"]),
    ],
    swiftLanguageModes: [.v5]
)
