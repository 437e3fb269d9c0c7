import Foundation
import Testing

@testable import Ledger

/// The tree's definition, computed from scratch over all entries: empty is
/// zero, one entry is its leaf, more split on the next key bit.
func naiveSparseRoot(_ entries: [(key: Hash256, value: Hash256)], depth: Int = 0) -> Hash256 {
  switch entries.count {
  case 0: return .zero
  case 1: return SHA256.hash([0x00] + entries[0].key.bytes + entries[0].value.bytes)
  default:
    let left = entries.filter { !$0.key.bit(depth) }
    let right = entries.filter { $0.key.bit(depth) }
    return SHA256.hash(
      [0x01] + naiveSparseRoot(left, depth: depth + 1).bytes + naiveSparseRoot(right, depth: depth + 1).bytes)
  }
}

@Suite("Sparse Merkle tree")
struct SparseMerkleTreeTests {
  static func key(_ n: Int) -> Hash256 { SHA256.hash(Array("record \(n)".utf8)) }
  static func value(_ n: Int, _ version: Int) -> Hash256 { SHA256.hash(Array("value \(n) v\(version)".utf8)) }

  /// A tree holding records 0..<count at version 0, and its root.
  static func populatedTree(count: Int) throws -> (tree: SparseMerkleTree<InMemorySparseMerkleNodes>, root: Hash256) {
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    var batch: [Hash256: Hash256?] = [:]
    for n in 0..<count { batch[key(n)] = value(n, 0) }
    let (root, newNodes) = try tree.update(root: .zero, batch)
    nodes.insert(newNodes)
    return (tree, root)
  }

  @Test("the empty tree's root is zero and every key is provably absent")
  func empty() throws {
    let tree = SparseMerkleTree(source: InMemorySparseMerkleNodes())
    let proof = try tree.proof(root: .zero, key: Self.key(1))
    #expect(proof.siblings.isEmpty && proof.leaf == nil)
    #expect(proof.verify(root: .zero, key: Self.key(1), valueHash: nil))
    #expect(!proof.verify(root: .zero, key: Self.key(1), valueHash: Self.value(1, 0)))
  }

  @Test("random batches: root equals the naive recomputation; proofs verify; tampering fails")
  func randomBatches() throws {
    let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? 7
    var random = SeededGenerator(seed: seed)
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    var root = SparseMerkleTree<InMemorySparseMerkleNodes>.emptyRoot
    var model: [Hash256: Hash256] = [:]
    var history: [(root: Hash256, model: [Hash256: Hash256])] = []
    for version in 0..<40 {
      var batch: [Hash256: Hash256?] = [:]
      for _ in 0..<Int.random(in: 1...40, using: &random) {
        let n = Int.random(in: 0..<200, using: &random)
        batch[Self.key(n)] = Bool.random(using: &random) || model.isEmpty ? Self.value(n, version) : nil
      }
      let (newRoot, newNodes) = try tree.update(root: root, batch)
      nodes.insert(newNodes)
      for (key, value) in batch { model[key] = value }
      root = newRoot
      history.append((root, model))
      #expect(
        root == naiveSparseRoot(model.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }),
        "seed \(seed) version \(version)")
    }
    // Proofs at the latest and at every past root (nodes are content-addressed, so old versions stay readable).
    for (pastRoot, pastModel) in history.suffix(5) {
      for n in 0..<220 {
        let key = Self.key(n)
        let proof = try tree.proof(root: pastRoot, key: key)
        let expected = pastModel[key]
        #expect(proof.verify(root: pastRoot, key: key, valueHash: expected), "key \(n)")
        #expect(try tree.value(root: pastRoot, key: key) == expected)
        if let expected {
          // A present key has no valid absence proof, and no other value verifies.
          #expect(!proof.verify(root: pastRoot, key: key, valueHash: nil))
          #expect(!proof.verify(root: pastRoot, key: key, valueHash: SHA256.hash(expected.bytes)))
        } else {
          #expect(!proof.verify(root: pastRoot, key: key, valueHash: Self.value(n, 0)))
        }
        if !proof.siblings.isEmpty {
          var tampered = proof
          let index = Int.random(in: 0..<proof.siblings.count, using: &random)
          tampered.siblings[index] = SHA256.hash(tampered.siblings[index].bytes)
          #expect(!tampered.verify(root: pastRoot, key: key, valueHash: expected))
          #expect(
            !SparseMerkleProof(siblings: proof.siblings.dropLast(), leaf: proof.leaf).verify(
              root: pastRoot, key: key, valueHash: expected))
        }
      }
    }
  }

  @Test("proof length grows with log2 of the record count, not with the key length")
  func proofsAreShort() throws {
    let (tree, root) = try Self.populatedTree(count: 4_096)
    let lengths = try (0..<256).map { try tree.proof(root: root, key: Self.key($0 * 16)).siblings.count }
    let mean = Double(lengths.reduce(0, +)) / Double(lengths.count)
    // log2(4096) = 12; random keys add about 1.3 levels on average (Knuth, digital search trees).
    #expect(mean < 16)
    #expect(lengths.max()! < 32)
  }

  @Test("deleting every key returns the tree to the empty root")
  func deleteAll() throws {
    let (tree, root) = try Self.populatedTree(count: 50)
    var delete: [Hash256: Hash256?] = [:]
    for n in 0..<50 { delete[Self.key(n)] = .some(nil) }
    #expect(try tree.update(root: root, delete).root == .zero)
  }

  @Test("a root whose nodes are missing is an error, not a trap")
  func missingNodes() {
    let tree = SparseMerkleTree(source: InMemorySparseMerkleNodes())
    let unknownRoot = SHA256.hash([1, 2, 3])
    #expect(throws: SparseMerkleTreeError.missingNode(unknownRoot)) {
      try tree.proof(root: unknownRoot, key: Self.key(1))
    }
  }
}
