// swift-tools-version:6.1
import PackageDescription

import class Foundation.ProcessInfo

let strictSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "DirectoryLedger",
  platforms: [.macOS(.v14)],
  products: [
    .library(name: "Ledger", targets: ["Ledger"]),
    .library(name: "Consensus", targets: ["Consensus"]),
    .library(name: "Node", targets: ["Node"]),
    .executable(name: "ledger-cli", targets: ["ledger-cli"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
  ],
  targets: [
    // Thin shims over the Debian C libraries: libsecp256k1-dev, libleveldb-dev, libssl-dev.
    .systemLibrary(
      name: "CSecp256k1", pkgConfig: "libsecp256k1",
      providers: [.apt(["libsecp256k1-dev"])]),
    .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
    // LevelDB's environment with table reads through pread instead of mmap (memory bound).
    .target(name: "CLevelDBFiles", dependencies: ["CLevelDB"], linkerSettings: [.linkedLibrary("leveldb")]),
    // glibc's mallopt, to bound a long-running node's heap.
    .target(name: "CMalloc"),
    .systemLibrary(
      name: "COpenSSL", pkgConfig: "libcrypto",
      providers: [.apt(["libssl-dev"])]),

    .target(
      name: "Ledger",
      dependencies: ["CSecp256k1", "COpenSSL", "CLevelDB", "CLevelDBFiles"],
      swiftSettings: strictSettings),
    .target(
      name: "Consensus",
      dependencies: ["Ledger"],
      swiftSettings: strictSettings),
    .target(
      name: "Node",
      dependencies: [
        "Ledger", "Consensus", "CMalloc",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "TOMLKit", package: "TOMLKit"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings),
    .executableTarget(
      name: "ledger-cli",
      dependencies: [
        "Ledger", "Consensus", "Node",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
      ],
      swiftSettings: strictSettings),

    .testTarget(
      name: "LedgerTests",
      dependencies: ["Ledger"],
      resources: [.copy("Fixtures")],
      swiftSettings: strictSettings),
    .testTarget(
      name: "ConsensusTests",
      dependencies: ["Consensus", "Ledger"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "CLITests",
      dependencies: ["ledger-cli", "Ledger"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "NetworkTests",
      dependencies: [
        "ledger-cli", "Node", "Ledger", "Consensus",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings),
    .testTarget(
      name: "NodeTests",
      dependencies: [
        "Node", "Ledger", "Consensus",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strictSettings),
  ]
)

// Micro-benchmarks (ordo-one/benchmark) join the package only when asked for,
// so `make test` does not build the benchmark framework:
//   LEDGER_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark   (or `make bench-micro`)
if ProcessInfo.processInfo.environment["LEDGER_BENCHMARKS"] != nil {
  package.dependencies.append(
    .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
  package.targets.append(
    .executableTarget(
      name: "LedgerMicro",
      dependencies: ["Ledger", .product(name: "Benchmark", package: "benchmark")],
      path: "Benchmarks/LedgerMicro",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
