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
    let (root, newNodes) = try tree.update(root: .zero, batch, version: 0)
    nodes.insert(newNodes)
    return (tree, root.hash)
  }

  @Test("the empty tree's root is zero and every key is provably absent")
  func empty() throws {
    let tree = SparseMerkleTree(source: InMemorySparseMerkleNodes())
    let proof = try tree.proof(root: .zero, key: Self.key(1))
    #expect(proof.siblings.isEmpty && proof.leaf == nil)
    #expect(proof.verify(root: .zero, key: Self.key(1), valueHash: nil))
    #expect(!proof.verify(root: .zero, key: Self.key(1), valueHash: Self.value(1, 0)))
  }

  @Test("random batches in memory: root equals the naive recomputation; proofs verify; tampering fails")
  func randomBatchesInMemory() throws {
    let nodes = InMemorySparseMerkleNodes()
    try Self.randomBatches(SparseMerkleTree(source: nodes)) { newNodes, _, _ in nodes.insert(newNodes) }
  }

  /// The same in LevelDB, where nodes are found by (version, hash) and a
  /// wrong child version would lose a node: every past root must still read.
  @Test("random batches in LevelDB, nodes keyed by version: every past root reads and proves")
  func randomBatchesInLevelDB() throws {
    let path = temporaryDirectory("tree-versions")
    defer { try? FileManager.default.removeItem(atPath: path) }
    // As in a store: nodes in a database of their own, root versions in another.
    let nodes = try LevelDB(path: path + "-nodes")
    let roots = try LevelDB(path: path)
    defer { try? FileManager.default.removeItem(atPath: path + "-nodes") }
    // No decoded-node cache, so every read goes to the (version, hash) key.
    let tree = SparseMerkleTree(
      source: LevelDBSparseMerkleNodes(database: nodes, rootDatabase: roots, cachedNodesMax: 0))
    try Self.randomBatches(tree) { newNodes, version, root in
      let nodeBatch = WriteBatch()
      let rootBatch = WriteBatch()
      LevelDBSparseMerkleNodes.add(newNodes, version: version, root: root, to: nodeBatch, rootVersionTo: rootBatch)
      try nodes.write(nodeBatch)
      try roots.write(rootBatch)
    }
    // Each version's nodes sit together, after every older version's, and
    // the nodes' database holds nothing else.
    let keys = nodes.scan(prefix: [], limit: 1_000_000).map(\.key)
    let versions = keys.map { StoreKey.readBigEndian($0.prefix(8)) }
    #expect(versions == versions.sorted() && Set(versions).count > 30)
    #expect(keys.allSatisfy { $0.count == 8 + 1 + 2 && $0[8] == HeightKey.treeNodeGroupTag })
    #expect(
      roots.scan(prefix: [], limit: 1_000_000).allSatisfy {
        $0.key.starts(with: LevelDBSparseMerkleNodes.rootVersionPrefix)
      })
  }

  @Test("a version of ≈ 10,000 nodes is stored in at most 2,048 groups, and every key proves from them with no cache")
  func largeVersionInGroups() throws {
    let path = temporaryDirectory("tree-groups")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let database = try LevelDB(path: path)
    let tree = SparseMerkleTree(source: LevelDBSparseMerkleNodes(database: database, cachedNodesMax: 0))
    var changes: [Hash256: Hash256?] = [:]
    for n in 0..<5_000 { changes[Self.key(n)] = Self.value(n, 1) }
    let (root, nodes) = try tree.update(root: .zero, changes, version: 1)
    let batch = WriteBatch()
    LevelDBSparseMerkleNodes.add(nodes, version: 1, root: root, to: batch)
    try database.write(batch)
    let groups = database.scan(prefix: HeightKey.start(of: 1), limit: 1_000_000)
    #expect(nodes.count > 4_000 && groups.count <= HeightKey.treeNodeGroupCount)
    #expect(groups.count < nodes.count / 2, "most groups hold several nodes")
    for n in 0..<5_001 {
      let proof = try tree.proof(root: root.hash, key: Self.key(n))
      #expect(proof.verify(root: root.hash, key: Self.key(n), valueHash: n < 5_000 ? Self.value(n, 1) : nil))
    }
    #expect(tree.source.nodesReadFromDisk > 5_000)
  }

  static func randomBatches<Source: SparseMerkleNodeSource>(
    _ tree: SparseMerkleTree<Source>,
    store: (NewTreeNodes, UInt64, SparseMerkleRoot) throws -> Void
  ) throws {
    let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? 7
    var random = SeededGenerator(seed: seed)
    var root = SparseMerkleTree<Source>.emptyRoot
    var model: [Hash256: Hash256] = [:]
    var history: [(root: Hash256, model: [Hash256: Hash256])] = []
    // Each update refills the previous one's table, as the store does; it
    // must come out holding that update's nodes and nothing else.
    var spareTable = NewTreeNodes()
    for version in 0..<40 {
      var batch: [Hash256: Hash256?] = [:]
      for _ in 0..<Int.random(in: 1...40, using: &random) {
        let n = Int.random(in: 0..<200, using: &random)
        batch[Self.key(n)] = Bool.random(using: &random) || model.isEmpty ? Self.value(n, version) : nil
      }
      let (newRoot, newNodes) = try tree.update(
        root: root, batch, version: UInt64(version + 1), reusing: consume spareTable)
      let fresh = try tree.update(root: root, batch, version: UInt64(version + 1))
      #expect(newRoot == fresh.root && newNodes == fresh.newNodes, "seed \(seed) version \(version)")
      // Listed, not keyed by hash: each node must be made once, under its own hash.
      #expect(Set(newNodes.hashes).count == newNodes.count, "seed \(seed) version \(version)")
      #expect(newNodes.allSatisfy { $0.hash == $0.node.hash }, "seed \(seed) version \(version)")
      try store(newNodes, UInt64(version + 1), newRoot)
      spareTable = newNodes
      for (key, value) in batch { model[key] = value }
      root = newRoot.hash
      history.append((root, model))
      #expect(
        root == naiveSparseRoot(model.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }),
        "seed \(seed) version \(version)")
    }
    // Proofs at the latest and at past roots (a version's nodes stay in place, so old roots stay readable).
    for (pastRoot, pastModel) in history.suffix(5) + history.prefix(3) {
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

  @Test("an update reads the nodes on the changed paths, not their untouched siblings")
  func updateReadsOnlyChangedPaths() throws {
    let (tree, root) = try Self.populatedTree(count: 4_096)
    let counting = CountingNodes(tree.source)
    let counted = SparseMerkleTree(source: counting)
    for n in [3, 1_000, 4_095] {
      counting.reads = 0
      let pathLength = try tree.proof(root: root, key: Self.key(n)).siblings.count
      _ = try counted.update(root: root, [Self.key(n): Self.value(n, 1)], version: 1)
      // The root and each internal node below it: one read per level. The
      // leaf being replaced is named by its parent, so it is not read;
      // reading each untouched sibling too would double the count.
      #expect(counting.reads == pathLength, "record \(n), path of \(pathLength)")
    }
    // A new key splits the leaf where its path ends, or lands in an empty
    // subtree: either way only the internal nodes above are read.
    var splits = 0
    for n in [5_000, 6_001, 7_002] {
      counting.reads = 0
      let proof = try tree.proof(root: root, key: Self.key(n))
      let updated = try counted.update(root: root, [Self.key(n): Self.value(n, 1)], version: 1)
      #expect(counting.reads == proof.siblings.count, "new record \(n), path of \(proof.siblings.count)")
      // The split leaf keeps its stored node (and version): it is not stored again.
      if let split = proof.leaf {
        splits += 1
        let splitLeaf = SparseMerkleNode.leaf(key: split.key, valueHash: split.valueHash)
        #expect(!updated.newNodes.hashes.contains(splitLeaf.hash))
      }
    }
    #expect(splits > 0, "in a tree of 4,096 keys, most new keys end on a leaf")
  }

  @Test(
    "an update reads exactly the old tree's internal nodes on the changed paths as nodes to replace, each once, and no other node so"
  )
  func replacedNodesAreTheChangedPaths() throws {
    let (tree, root) = try Self.populatedTree(count: 4_096)
    // The internal nodes from the root down the key's path, in the old tree.
    func internalNodes(onPathOf key: Hash256) throws -> [Hash256] {
      var hashes: [Hash256] = []
      var current = root
      var depth = 0
      while current != .zero, case .internalNode(let left, let right, _, _, _)? = tree.source.node(current, version: 0)
      {
        hashes.append(current)
        current = key.bit(depth) ? right : left
        depth += 1
      }
      return hashes
    }
    // Changed, added and deleted records, in key order as blocks give them.
    var changes: [Hash256: Hash256?] = [Self.key(5_000): Self.value(5_000, 1), Self.key(6_001): Self.value(6_001, 1)]
    for n in [3, 1_000, 4_095] { changes[Self.key(n)] = Self.value(n, 1) }
    for n in [17, 2_048] { changes[Self.key(n)] = .some(nil) }
    let sorted = changes.sorted { $0.key < $1.key }.map {
      SparseMerkleTree<CountingNodes>.Change(key: $0.key, valueHash: $0.value)
    }
    let counting = CountingNodes(tree.source)
    let update = try SparseMerkleTree(source: counting).update(root: root, sorted: sorted, version: 1)
    var expected: Set<Hash256> = []
    for key in changes.keys { expected.formUnion(try internalNodes(onPathOf: key)) }
    #expect(expected.contains(root))
    #expect(counting.toReplace.count == expected.count, "each replaced node once")
    #expect(Set(counting.toReplace) == expected)
    #expect(counting.toReplace.allSatisfy { !update.newNodes.hashes.contains($0) })
    // Any other node it reads (a lone sibling that may move up) stays in the new tree.
    #expect(counting.kept.allSatisfy { !expected.contains($0) })
    // An update with nothing to change replaces nothing.
    let unchanged = CountingNodes(tree.source)
    _ = try SparseMerkleTree(source: unchanged).update(root: root, sorted: [], version: 2)
    #expect(unchanged.toReplace.isEmpty)
  }

  @Test("an internal node's leaf children round-trip in tag 2; a node without them stays tag 1; bad flags are refused")
  func leafChildrenEncoding() throws {
    let left = SparseMerkleProof.Leaf(key: Self.key(1), valueHash: Self.value(1, 0))
    let right = SparseMerkleProof.Leaf(key: Self.key(2), valueHash: Self.value(2, 0))
    let hashes = (SparseMerkleNode.leafHash(left), SparseMerkleNode.leafHash(right))
    for (children, size) in [
      ((left, nil), 1 + 80 + 1 + 64), ((nil, right), 1 + 80 + 1 + 64), ((left, right), 1 + 80 + 1 + 128),
    ]
      as [((SparseMerkleProof.Leaf?, SparseMerkleProof.Leaf?), Int)]
    {
      let node = SparseMerkleNode.internalNode(
        left: hashes.0, right: hashes.1, leftVersion: 3, rightVersion: 4,
        leafChildren: .init(left: children.0, right: children.1))
      let bytes = node.canonicalBytes
      #expect(bytes.first == 2 && bytes.count == size)
      #expect(try SparseMerkleNode(canonicalBytes: bytes) == node)
      // Not hashed: the node's hash is the one without them.
      #expect(node.hash == SparseMerkleNode.internalHash(left: hashes.0, right: hashes.1))
    }
    let plain = SparseMerkleNode.internalNode(left: hashes.0, right: hashes.1, leftVersion: 3, rightVersion: 4)
    #expect(plain.canonicalBytes.first == 1 && plain.canonicalBytes.count == 81)
    for flags: UInt8 in [0, 4, 0x83] {
      var bytes = plain.canonicalBytes
      bytes[0] = 2
      bytes.append(flags)
      bytes += Self.key(1).bytes + Self.value(1, 0).bytes
      #expect(throws: FormatError.self) { try SparseMerkleNode(canonicalBytes: bytes) }
    }
  }

  @Test("a leaf child that does not hash to its parent's child hash is reported, not used")
  func inconsistentLeafChild() throws {
    let (tree, root) = try Self.populatedTree(count: 64)
    let tampered = TamperedLeafChildren(tree.source)
    let tamperedTree = SparseMerkleTree(source: tampered)
    var reported = 0
    for n in 0..<64 {
      let key = Self.key(n)
      let proof = try tree.proof(root: root, key: key)
      #expect(proof.verify(root: root, key: key, valueHash: Self.value(n, 0)))
      do {
        _ = try tamperedTree.proof(root: root, key: key)
        _ = try tamperedTree.update(root: root, [key: Self.value(n, 1)], version: 1)
      } catch let error as SparseMerkleTreeError {
        guard case .inconsistentLeafChild = error else { throw error }
        reported += 1
      }
    }
    // Every leaf but a lone root has a parent that names it.
    #expect(reported == 64)
  }

  /// Leaves are named by their parents, so an update stores one only as a
  /// root; a leaf that becomes the root (its sibling deleted) is stored then,
  /// and every key still proves from the stored nodes alone, at every version.
  @Test("an update stores no leaf but a lone root, and every key proves from what it stored")
  func leavesStoredOnlyAsRoot() throws {
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    func isLeaf(_ node: SparseMerkleNode) -> Bool {
      if case .leaf = node { return true }
      return false
    }
    var model: [Hash256: Hash256] = [:]
    var root = Hash256.zero
    var version: UInt64 = 0
    func apply(_ batch: [Hash256: Hash256?]) throws -> NewTreeNodes {
      version += 1
      let (newRoot, newNodes) = try tree.update(root: root, batch, version: version)
      nodes.insert(newNodes)
      for (key, value) in batch { model[key] = value }
      root = newRoot.hash
      #expect(root == naiveSparseRoot(model.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }))
      for n in 0..<300 {
        let key = Self.key(n)
        #expect(try tree.proof(root: root, key: key).verify(root: root, key: key, valueHash: model[key]), "key \(n)")
      }
      return newNodes
    }
    var grow: [Hash256: Hash256?] = [:]
    for n in 0..<256 { grow[Self.key(n)] = Self.value(n, 1) }
    #expect(try apply(grow).nodes.allSatisfy { !isLeaf($0) })
    var shrink: [Hash256: Hash256?] = [:]
    for n in 1..<256 { shrink[Self.key(n)] = .some(nil) }
    // Record 0 was never stored on its own; as the root it is.
    let lone = try apply(shrink)
    #expect(lone.hashes == [root] && lone.nodes == [.leaf(key: Self.key(0), valueHash: Self.value(0, 1))])
    #expect(try tree.value(root: root, key: Self.key(0)) == Self.value(0, 1))
    // The next update reads that root, and stores no leaf again.
    #expect(
      try apply([Self.key(0): Self.value(0, 2), Self.key(299): Self.value(299, 2)]).nodes.allSatisfy { !isLeaf($0) })
  }

  @Test("deleting every key returns the tree to the empty root")
  func deleteAll() throws {
    let (tree, root) = try Self.populatedTree(count: 50)
    var delete: [Hash256: Hash256?] = [:]
    for n in 0..<50 { delete[Self.key(n)] = .some(nil) }
    #expect(try tree.update(root: root, delete, version: 1).root == .empty)
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

/// A node source that counts the reads that reach it, and records which
/// were of nodes to keep and which of nodes to replace.
final class CountingNodes: SparseMerkleNodeSource {
  let base: InMemorySparseMerkleNodes
  var reads = 0
  var kept: [Hash256] = []
  var toReplace: [Hash256] = []

  init(_ base: InMemorySparseMerkleNodes) { self.base = base }

  func node(_ hash: Hash256, version: UInt64) -> SparseMerkleNode? {
    reads += 1
    kept.append(hash)
    return base.node(hash, version: version)
  }

  func nodeToReplace(_ hash: Hash256, version: UInt64) -> SparseMerkleNode? {
    reads += 1
    toReplace.append(hash)
    return base.node(hash, version: version)
  }

  func rootVersion(_ root: Hash256) -> UInt64? { base.rootVersion(root) }
}

/// A node source whose internal nodes name their leaf children with another value.
final class TamperedLeafChildren: SparseMerkleNodeSource {
  let base: InMemorySparseMerkleNodes

  init(_ base: InMemorySparseMerkleNodes) { self.base = base }

  func node(_ hash: Hash256, version: UInt64) -> SparseMerkleNode? {
    guard
      case .internalNode(let left, let right, let leftVersion, let rightVersion, let leafChildren?) = base.node(
        hash, version: version)
    else { return base.node(hash, version: version) }
    func altered(_ leaf: SparseMerkleProof.Leaf?) -> SparseMerkleProof.Leaf? {
      leaf.map { SparseMerkleProof.Leaf(key: $0.key, valueHash: SHA256.hash($0.valueHash.bytes)) }
    }
    return .internalNode(
      left: left, right: right, leftVersion: leftVersion, rightVersion: rightVersion,
      leafChildren: .init(left: altered(leafChildren.left), right: altered(leafChildren.right)))
  }

  func rootVersion(_ root: Hash256) -> UInt64? { base.rootVersion(root) }
}
