import Ledger
import Testing

@testable import Consensus

@Suite("Quorum arithmetic (PBFT §4: n = 3f + 1, quorums of 2f + 1)")
struct QuorumRulesTests {
  static func validators(_ count: Int) -> ValidatorSet {
    ValidatorSet(
      (0..<count).map { index in
        Validator(nodeKey: PublicKey(rawValue: SHA256.hash([UInt8(index)])), bureauId: "B\(index)")
      })
  }

  @Test("n = 3f + 1 gives quorum 2f + 1 and weak quorum f + 1", arguments: [1, 4, 7, 16, 31, 64])
  func bftSizes(count: Int) {
    let rules = QuorumRules(Self.validators(count))
    let f = (count - 1) / 3
    #expect(rules.faultsTolerated == f)
    #expect(rules.weakQuorum == f + 1)
    if count == 3 * f + 1 { #expect(rules.quorum == 2 * f + 1) }
  }

  @Test("any two quorums share more than f validators, for every n up to 100")
  func quorumIntersection() {
    for count in 1...100 {
      let rules = QuorumRules(Self.validators(count))
      #expect(2 * rules.quorum - count > rules.faultsTolerated, "n = \(count)")
      #expect(rules.quorum <= count - rules.faultsTolerated, "n = \(count): a quorum must be reachable with f silent")
    }
  }
}
