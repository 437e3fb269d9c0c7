import Foundation
import Testing

@testable import Ledger

/// The RFC 6962 definitions written as directly as possible, to check the
/// iterative and proof code against (RFC 6962 §2.1, §2.1.1, §2.1.2).
enum NaiveRFC6962 {
  static func mth(_ leaves: ArraySlice<Hash256>) -> Hash256 {
    switch leaves.count {
    case 0: return SHA256.hash([UInt8]())
    case 1: return leaves.first!
    default:
      var k = 1
      while k * 2 < leaves.count { k *= 2 }
      let left = mth(leaves.prefix(k))
      let right = mth(leaves.dropFirst(k))
      return SHA256.hash([0x01] + left.bytes + right.bytes)
    }
  }

  static func path(_ m: Int, _ leaves: ArraySlice<Hash256>) -> [Hash256] {
    guard leaves.count > 1 else { return [] }
    var k = 1
    while k * 2 < leaves.count { k *= 2 }
    if m < k { return path(m, leaves.prefix(k)) + [mth(leaves.dropFirst(k))] }
    return path(m - k, leaves.dropFirst(k)) + [mth(leaves.prefix(k))]
  }

  static func subproof(_ m: Int, _ leaves: ArraySlice<Hash256>, _ b: Bool) -> [Hash256] {
    if m == leaves.count { return b ? [] : [mth(leaves)] }
    var k = 1
    while k * 2 < leaves.count { k *= 2 }
    if m <= k { return subproof(m, leaves.prefix(k), b) + [mth(leaves.dropFirst(k))] }
    return subproof(m - k, leaves.dropFirst(k), false) + [mth(leaves.prefix(k))]
  }
}

struct RFC6962Vectors: Decodable {
  let leavesHex: [String]
  let rootsHex: [String]

  enum CodingKeys: String, CodingKey {
    case leavesHex = "leaves_hex"
    case rootsHex = "roots_hex"
  }
}

@Suite("RFC 6962 Merkle tree")
struct MerkleTreeTests {
  static let leafHashes: [Hash256] = (0..<64).map { MerkleTree.leafHash(Array("leaf \($0)".utf8)) }

  @Test("roots match the shared RFC 6962 vectors for every prefix")
  func sharedVectors() throws {
    let vectors = try JSONDecoder().decode(RFC6962Vectors.self, from: Data(try Fixture.text("rfc6962-roots.json").utf8))
    let leaves = vectors.leavesHex.map { Hex.decode($0)! }
    #expect(vectors.rootsHex.count == leaves.count + 1)
    for size in 0...leaves.count {
      #expect(
        MerkleTree.root(leaves: Array(leaves.prefix(size))).hex == vectors.rootsHex[size], "tree of \(size) leaves")
    }
  }

  @Test("root equals the naive recursion and the frontier for every size up to 64")
  func rootsAgree() {
    var frontier = MerkleFrontier()
    #expect(frontier.root == MerkleTree.emptyRoot)
    for size in 1...64 {
      frontier.append(leafHash: Self.leafHashes[size - 1])
      let expected = NaiveRFC6962.mth(Self.leafHashes.prefix(size))
      #expect(MerkleTree.root(leafHashes: Array(Self.leafHashes.prefix(size))) == expected)
      #expect(frontier.root == expected, "frontier of \(size)")
      #expect(frontier.subtreeRoots.count == size.nonzeroBitCount)
    }
  }

  @Test("every inclusion proof for sizes 1...64 equals the reference and verifies; tampered ones fail")
  func inclusionProofs() {
    for size in 1...64 {
      let leaves = Array(Self.leafHashes.prefix(size))
      let root = MerkleTree.root(leafHashes: leaves)
      for index in 0..<size {
        let proof = MerkleTree.inclusionProof(index: index, leafHashes: leaves)
        #expect(proof == NaiveRFC6962.path(index, leaves[...]), "size \(size) index \(index)")
        #expect(
          MerkleTree.verifyInclusion(leafHash: leaves[index], index: index, treeSize: size, proof: proof, root: root))
        // Wrong index, wrong size, wrong leaf, a flipped sibling, a dropped or an extra sibling.
        if size > 1 {
          #expect(
            !MerkleTree.verifyInclusion(
              leafHash: leaves[index], index: (index + 1) % size, treeSize: size, proof: proof, root: root))
          #expect(
            !MerkleTree.verifyInclusion(
              leafHash: leaves[(index + 1) % size], index: index, treeSize: size, proof: proof, root: root))
          var flipped = proof
          flipped[proof.count / 2] = SHA256.hash(flipped[proof.count / 2].bytes)
          #expect(
            !MerkleTree.verifyInclusion(
              leafHash: leaves[index], index: index, treeSize: size, proof: flipped, root: root))
          #expect(
            !MerkleTree.verifyInclusion(
              leafHash: leaves[index], index: index, treeSize: size, proof: Array(proof.dropLast()), root: root))
        }
        #expect(
          !MerkleTree.verifyInclusion(
            leafHash: leaves[index], index: index, treeSize: size, proof: proof + [root], root: root))
      }
    }
  }

  @Test("every consistency proof for 1 ≤ m ≤ n ≤ 64 equals the reference and verifies; tampered ones fail")
  func consistencyProofs() {
    let roots = (0...64).map { MerkleTree.root(leafHashes: Array(Self.leafHashes.prefix($0))) }
    for newSize in 1...64 {
      let leaves = Array(Self.leafHashes.prefix(newSize))
      for oldSize in 1...newSize {
        let proof = MerkleTree.consistencyProof(oldSize: oldSize, leafHashes: leaves)
        #expect(proof == NaiveRFC6962.subproof(oldSize, leaves[...], true), "m \(oldSize) n \(newSize)")
        #expect(
          MerkleTree.verifyConsistency(
            oldSize: oldSize, newSize: newSize, oldRoot: roots[oldSize], newRoot: roots[newSize], proof: proof))
        guard oldSize < newSize else { continue }
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: oldSize, newSize: newSize, oldRoot: roots[oldSize - 1 == 0 ? newSize : oldSize - 1],
            newRoot: roots[newSize], proof: proof))
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: oldSize, newSize: newSize, oldRoot: roots[oldSize], newRoot: roots[newSize - 1], proof: proof))
        var flipped = proof
        flipped[0] = SHA256.hash(flipped[0].bytes)
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: oldSize, newSize: newSize, oldRoot: roots[oldSize], newRoot: roots[newSize], proof: flipped))
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: oldSize, newSize: newSize, oldRoot: roots[oldSize], newRoot: roots[newSize],
            proof: proof + [roots[1]]))
      }
    }
  }

  @Test("out-of-range sizes and indexes are rejected, not trapped")
  func degenerateInputs() {
    let root = MerkleTree.root(leafHashes: Array(Self.leafHashes.prefix(4)))
    #expect(!MerkleTree.verifyInclusion(leafHash: Self.leafHashes[0], index: -1, treeSize: 4, proof: [], root: root))
    #expect(!MerkleTree.verifyInclusion(leafHash: Self.leafHashes[0], index: 4, treeSize: 4, proof: [], root: root))
    #expect(!MerkleTree.verifyInclusion(leafHash: Self.leafHashes[0], index: 0, treeSize: 0, proof: [], root: root))
    #expect(
      !MerkleTree.verifyConsistency(oldSize: 0, newSize: 4, oldRoot: MerkleTree.emptyRoot, newRoot: root, proof: []))
    #expect(!MerkleTree.verifyConsistency(oldSize: 5, newSize: 4, oldRoot: root, newRoot: root, proof: []))
    #expect(!MerkleTree.verifyConsistency(oldSize: 2, newSize: 4, oldRoot: root, newRoot: root, proof: []))
  }
}
