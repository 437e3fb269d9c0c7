import Foundation
import Testing

@testable import Ledger

/// docs/examples/ holds a worked provenance bundle, the genesis it is checked
/// against and the verdict a correct verifier prints, for implementers in other
/// languages (docs/PROOFS.md §7.4). REWRITE_PROOF_EXAMPLE=1 regenerates them.
@Suite("docs/examples proof bundle")
struct ProofExampleTests {
  static let directory = Fixture.repositoryRoot.appendingPathComponent("docs/examples")
  static let genesisURL = directory.appendingPathComponent("genesis.json")
  static let bundleURL = directory.appendingPathComponent("provenance-bundle.json")
  static let binaryURL = directory.appendingPathComponent("provenance-bundle.hex")
  static let verdictURL = directory.appendingPathComponent("provenance-bundle.verdict.txt")

  static func render(_ verdict: ProofVerdict) -> String {
    switch verdict {
    case .valid(let facts, _): (["VALID"] + facts.map { "  · " + $0 }).joined(separator: "\n") + "\n"
    case .invalid(let step, let reason): "INVALID at \(step): \(reason)\n"
    }
  }

  @Test func committedExampleVerifiesAsDocumented() throws {
    if ProcessInfo.processInfo.environment["REWRITE_PROOF_EXAMPLE"] != nil {
      let chain = try ProofChain()
      defer { chain.fixture.remove() }
      let bundle = try chain.store.provenanceBundle(
        dataHash: chain.dataHash, consumerId: H.housing, height: chain.grantActiveHeight)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      try chain.fixture.genesis.jsonData().write(to: Self.genesisURL)
      try encoder.encode(bundle).write(to: Self.bundleURL)
      try Data((Hex.encode(bundle.canonicalBytes) + "\n").utf8).write(to: Self.binaryURL)
      try Data(Self.render(chain.verifier.verify(bundle)).utf8).write(to: Self.verdictURL)
    }
    let genesis = try Genesis.load(path: Self.genesisURL.path)
    let verifier = ProofVerifier(genesis: genesis)
    let json = try JSONDecoder().decode(ProofBundle.self, from: Data(contentsOf: Self.bundleURL))
    let hex = try String(contentsOf: Self.binaryURL, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let binary = try ProofBundle(canonicalBytes: try #require(Hex.decode(hex)))
    #expect(json == binary, "the JSON and binary forms are the same bundle")
    let expected = try String(contentsOf: Self.verdictURL, encoding: .utf8)
    #expect(Self.render(verifier.verify(binary)) == expected)
    #expect(expected.hasPrefix("VALID"))
    #expect(expected.contains("MAY hold it"))
  }
}
