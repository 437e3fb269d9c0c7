import ArgumentParser
import Foundation
import Ledger

struct BenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Benchmarks of the running system (docs/BENCHMARKS.md). Not tests: numbers, not verdicts.",
    subcommands: [Network.self, Proofs.self, Store.self], defaultSubcommand: Network.self)

  struct Proofs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Record proofs served by one node over HTTP keep-alive, and offline bundle verification.",
      discussion: """
        Lists record keys from the node, then requests /v1/proofs/record for them round-robin on \
        CONNECTIONS keep-alive connections (one request in flight each) for DURATION seconds. \
        Then verifies one record bundle, and one provenance bundle if the chain has an attestation, \
        repeatedly against the genesis file and reports the median time.
        """)

    @Option(help: "Node API URL.") var node: String
    @Option(help: "The chain's genesis file (for the verification part).") var genesis: String
    @Option(help: "Seconds of load.") var duration: Double = 10
    @Option(help: "Keep-alive connections.") var connections: Int = 8
    @Option(help: "binary or json bundles.") var format: String = "binary"
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
      guard (1...1_024).contains(connections), duration > 0, duration <= 3_600 else {
        throw CLIError(code: "input.invalid", message: "--connections 1…1024, --duration 0…3600")
      }
      let client = try APIClient(node: node)
      guard let url = URL(string: client.base), let host = url.host, let port = url.port else {
        throw CLIError(code: "input.invalid_url", message: "--node needs an explicit host and port")
      }
      var keys: [String] = []
      for list in ["/v1/bureaus", "/v1/directories", "/v1/duties"] {
        let page = try await client.get(list, query: ["limit": "1000"])
        keys += ((page["records"] as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String }
      }
      guard !keys.isEmpty else {
        throw CLIError(code: "bench.empty_chain", message: "the node has no records to prove")
      }
      let paths = keys.map {
        "/v1/proofs/record?key=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)&format=\(format)"
      }
      let load = try await HTTPLoad.run(
        host: host, port: port, paths: paths, connections: connections, seconds: duration)
      let latencies = load.latenciesNs.sorted()

      let genesisFile = try loadGenesis(genesis)
      let verifier = ProofVerifier(genesis: genesisFile)
      let recordBytes = try await client.getData(
        "/v1/proofs/record", query: ["key": keys[keys.count / 2], "format": "binary"])
      let recordBundle = try ProofBundle(canonicalBytes: [UInt8](recordBytes))
      let recordVerify = try Self.medianMicroseconds(of: 1_000) { verifier.verify(recordBundle) }
      var provenance: (bytes: Int, microseconds: Double)?
      let attestations = try await client.get("/v1/attestations", query: ["limit": "1"])
      if let record = (attestations["records"] as? [[String: Any]])?.first?["key"] as? String {
        let parts = record.split(separator: "/")
        let consumer = genesisFile.bureaus.first { $0.bureauId != parts[1] }?.bureauId ?? "none"
        let bytes = try await client.getData(
          "/v1/provenance", query: ["dataHash": String(parts[3]), "consumer": consumer, "format": "binary"])
        let bundle = try ProofBundle(canonicalBytes: [UInt8](bytes))
        provenance = (bytes.count, try Self.medianMicroseconds(of: 1_000) { verifier.verify(bundle) })
      }
      let report = Report(
        node: node, connections: connections, seconds: load.seconds, format: format, proofs: load.responses,
        failures: load.failures, proofsPerSecond: load.perSecond,
        latencyMs: [
          "p50": Double(percentile(latencies, 0.5)) / 1e6, "p90": Double(percentile(latencies, 0.9)) / 1e6,
          "p99": Double(percentile(latencies, 0.99)) / 1e6, "max": Double(latencies.last ?? 0) / 1e6,
        ], bytesPerProof: load.responses > 0 ? load.bytes / load.responses : 0, recordBundleBytes: recordBytes.count,
        recordVerifyMicroseconds: recordVerify, provenanceBundleBytes: provenance?.bytes,
        provenanceVerifyMicroseconds: provenance?.microseconds)
      if output == .json {
        print(try JSONOutput.string(report))
      } else {
        print(
          """
          record proofs over HTTP: \(String(format: "%.0f", report.proofsPerSecond))/s (\(report.proofs) in \(String(format: "%.1f", report.seconds)) s, \(connections) keep-alive connections, \(format), \(report.failures) failures)
          latency ms: p50 \(String(format: "%.2f", report.latencyMs["p50"]!))  p90 \(String(format: "%.2f", report.latencyMs["p90"]!))  p99 \(String(format: "%.2f", report.latencyMs["p99"]!))  max \(String(format: "%.2f", report.latencyMs["max"]!))
          record bundle: \(report.recordBundleBytes) bytes, offline verification median \(String(format: "%.0f", recordVerify)) µs
          """)
        if let provenance {
          print(
            "provenance bundle: \(provenance.bytes) bytes, offline verification median \(String(format: "%.0f", provenance.microseconds)) µs"
          )
        }
      }
    }

    struct Report: Encodable {
      let node: String
      let connections: Int
      let seconds: Double
      let format: String
      let proofs: Int
      let failures: Int
      let proofsPerSecond: Double
      let latencyMs: [String: Double]
      let bytesPerProof: Int
      let recordBundleBytes: Int
      let recordVerifyMicroseconds: Double
      let provenanceBundleBytes: Int?
      let provenanceVerifyMicroseconds: Double?
    }

    static func medianMicroseconds(of runs: Int, _ body: () -> ProofVerdict) throws -> Double {
      var samples: [Double] = []
      for _ in 0..<runs {
        let start = ContinuousClock.now
        let verdict = body()
        samples.append((ContinuousClock.now - start).seconds * 1e6)
        guard verdict.isValid else {
          throw CLIError(code: "bench.invalid_bundle", message: "a bundle from the node did not verify: \(verdict)")
        }
      }
      samples.sort()
      return samples[samples.count / 2]
    }
  }
}
