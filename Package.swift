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
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2")
  ],
  targets: [
    // Thin shims over the Debian C libraries: libsecp256k1-dev, libleveldb-dev, libssl-dev.
    .systemLibrary(
      name: "CSecp256k1", pkgConfig: "libsecp256k1",
      providers: [.apt(["libsecp256k1-dev"])]),
    .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
    .systemLibrary(
      name: "COpenSSL", pkgConfig: "libcrypto",
      providers: [.apt(["libssl-dev"])]),

    .target(
      name: "Ledger",
      dependencies: ["CSecp256k1", "COpenSSL", "CLevelDB"],
      swiftSettings: strictSettings),
    .target(
      name: "Consensus",
      dependencies: ["Ledger"],
      swiftSettings: strictSettings),
    .target(
      name: "Node",
      dependencies: ["Ledger", "Consensus"],
      swiftSettings: strictSettings),
    .executableTarget(
      name: "ledger-cli",
      dependencies: [
        "Ledger", "Consensus", "Node",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
      name: "NodeTests",
      dependencies: ["Node", "Ledger"],
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
