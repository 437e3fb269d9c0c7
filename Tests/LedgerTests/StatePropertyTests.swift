import Foundation
import Testing

@testable import Ledger

/// Random transaction sequences (seeded; `FUZZ_SEED=n` replays one) against
/// the properties a verifier relies on.
@Suite("State properties")
struct StatePropertyTests {
  static let bureaus = [H.police, H.housing, H.civil]

  /// A random payload over a small id space, so that many collide and are rejected.
  static func randomPayload(_ random: inout SeededGenerator, height: UInt64) -> (Payload, String) {
    let actor = bureaus[Int.random(in: 0..<bureaus.count, using: &random)]
    let other = bureaus.filter { $0 != actor }[Int.random(in: 0..<2, using: &random)]
    let id = "X-\(Int.random(in: 0..<6, using: &random))"
    let scope = AccessScope(
      directoryId: H.residents, items: ["姓名"], purpose: "核验", validFromMs: 0, validUntilMs: .max)
    switch Int.random(in: 0..<8, using: &random) {
    case 0:
      return (
        .declareDuty(Duty(bureauId: actor, dutyId: id, title: "职责 \(id)", legalBasis: "", description: "")), actor
      )
    case 1: return (.retireDuty(Retirement(bureauId: actor, recordId: id, reason: "")), actor)
    case 2:
      return (
        .publishDirectory(
          Directory(
            bureauId: actor, directoryId: "D-\(id)", title: "目录", description: "", dutyIds: [id],
            items: H.items(["字段"]), shareType: .unconditional, shareCondition: "", openType: .open, updateCycle: .daily)
        ),
        actor
      )
    case 3:
      return (
        .grantAccess(
          Grant(grantorId: H.police, grantId: id, granteeId: other == H.police ? H.civil : other, scope: scope)),
        H.police
      )
    case 4: return (.revokeGrant(Retirement(bureauId: H.police, recordId: id, reason: "")), H.police)
    case 5:
      return (
        .requestAccess(AccessRequest(requesterId: H.housing, requestId: id, providerId: H.police, scope: scope)),
        H.housing
      )
    case 6:
      return (
        .approveRequest(
          RequestApproval(providerId: H.police, requesterId: H.housing, requestId: id, grantId: "A-\(id)")), H.police
      )
    default:
      return (
        .attestData(
          Attestation(
            bureauId: H.police, directoryId: H.residents, kind: .release,
            dataHash: SHA256.hash(Array("\(id)-\(height)".utf8)), recordCount: 1, producedAtMs: height)),
        H.police
      )
    }
  }

  /// Key order must be the same on every machine: it is the byte order of
  /// the UTF-8 paths, not String's Unicode-aware order.
  @Test("record keys sort by the bytes of their UTF-8 paths, and hash them as their tree keys")
  func recordKeyOrder() {
    var random = SeededGenerator(seed: 7)
    let pieces = ["", "a", "b", "ab", "a/", "directory/", "目录", "目", "é", "e\u{301}", "z", "\u{7f}", "Ω"]
    let keys = (0..<400).map { _ in
      RecordKey(
        path: (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }
          .joined())
    }
    for (left, right) in zip(keys, keys.reversed()) {
      let byBytes = Array(left.path.utf8).lexicographicallyPrecedes(Array(right.path.utf8))
      #expect((left < right) == byBytes, "\(left.path) < \(right.path)")
    }
    for key in keys { #expect(key.treeKey == SHA256.hash(Array(key.path.utf8))) }
    let sorted = keys.sorted().map { Array($0.path.utf8) }
    #expect(zip(sorted, sorted.dropFirst()).allSatisfy { !$1.lexicographicallyPrecedes($0) })
  }

  @Test("random blocks: incremental root = naive root; every proof verifies and every tampered one fails")
  func randomSequences() throws {
    let seeds = ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(1...8)
    for seed in seeds {
      var random = SeededGenerator(seed: seed)
      let ledger = try LedgerHarness()
      var accepted = 0
      var rejected = 0
      var absentKeys: [RecordKey] = (0..<20).map { RecordKey(path: "grant/\(H.police)/never-\($0)") }
      for _ in 0..<40 {
        // One transaction per signer per block: a rejection does not consume a
        // sequence number, so a second one of that signer would only fail on replay rules.
        var transactions: [SignedTransaction] = []
        var signers = Set<String>()
        for _ in 0..<Int.random(in: 1...6, using: &random) {
          let (payload, bureau) = Self.randomPayload(&random, height: ledger.height)
          guard signers.insert(bureau).inserted else { continue }
          transactions.append(ledger.transaction(payload, by: [ledger.operatorKey(bureau)]))
        }
        let execution = try ledger.apply(transactions, check: .alreadyVerified)
        #expect(execution.results.count == transactions.count)
        accepted += execution.acceptedCount
        rejected += transactions.count - execution.acceptedCount

        let entries = ledger.state.records.map { (key: $0.key.treeKey, value: $0.value.valueHash) }
        #expect(naiveSparseRoot(entries) == ledger.root, "seed \(seed)")
        let tree = SparseMerkleTree(source: ledger.nodes)
        for (key, record) in ledger.state.records {
          let proof = try tree.proof(root: ledger.root, key: key.treeKey)
          #expect(proof.verify(root: ledger.root, key: key.treeKey, valueHash: record.valueHash), "seed \(seed) \(key)")
          #expect(!proof.verify(root: ledger.root, key: key.treeKey, valueHash: nil), "seed \(seed) \(key)")
          #expect(
            !proof.verify(root: ledger.root, key: key.treeKey, valueHash: SHA256.hash(record.canonicalBytes + [0])))
          if !proof.siblings.isEmpty {
            var tampered = proof
            let index = Int.random(in: 0..<tampered.siblings.count, using: &random)
            tampered.siblings[index] = SHA256.hash(tampered.siblings[index].bytes)
            #expect(!tampered.verify(root: ledger.root, key: key.treeKey, valueHash: record.valueHash), "seed \(seed)")
          }
        }
        absentKeys.removeAll { ledger.state.records[$0] != nil }
        for key in absentKeys {
          let proof = try tree.proof(root: ledger.root, key: key.treeKey)
          #expect(proof.verify(root: ledger.root, key: key.treeKey, valueHash: nil), "seed \(seed) \(key)")
          #expect(!proof.verify(root: ledger.root, key: key.treeKey, valueHash: SHA256.hash([1])))
        }
      }
      // The generator must exercise both paths, or the properties above prove little.
      #expect(accepted > 20 && rejected > 20, "seed \(seed): \(accepted) accepted, \(rejected) rejected")
    }
  }
}
