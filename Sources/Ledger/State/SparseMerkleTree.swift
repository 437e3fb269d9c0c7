/// A node of the sparse Merkle tree over 256-bit keys.
///
/// Subtrees holding a single leaf are collapsed into that leaf (as Diem's
/// Jellyfish Merkle tree does), so a leaf sits at the depth where its key
/// first differs from every other key and a proof has about log2(n)
/// siblings rather than 256. Empty subtrees have the placeholder hash
/// `Hash256.zero` and are never stored.
///
/// An internal node also records the version (the block height) that stored
/// each child, as Jellyfish's node keys do: a store can then keep nodes under
/// (version, hash), so each block's nodes arrive in key order instead of
/// scattered over the key space. It also carries the key and value of each
/// child that is a leaf (`leafChildren`), so that an update that replaces
/// that leaf, or splits it to make room for a new key, needs not read it:
/// most blocks create records, and those reads were most of the tree's reads
/// from disk. Versions and leaf children are addressing only: they are not
/// hashed, so roots and proofs do not depend on them, and a leaf child is
/// used only after its key and value hash to the child's hash.
///
/// Since every internal node an update builds names its leaf children, an
/// update stores a leaf only when the leaf is the whole tree (the root):
/// any other leaf is read from its parent, never on its own. Leaves stored
/// by earlier builds stay readable for parents that do not name them.
public enum SparseMerkleNode: Hashable, Sendable {
  case leaf(key: Hash256, valueHash: Hash256)
  case internalNode(
    left: Hash256, right: Hash256, leftVersion: UInt64, rightVersion: UInt64, leafChildren: LeafChildren? = nil)

  /// The children of an internal node that are leaves, as far as the node
  /// knows: absent means "read the child to know" (a branch, or a node stored
  /// before layout 5). A class, so that the many internal nodes without a
  /// leaf child stay as small in memory as before.
  public final class LeafChildren: Hashable, Sendable {
    public let left: SparseMerkleProof.Leaf?
    public let right: SparseMerkleProof.Leaf?

    /// Nil when neither child is a known leaf.
    public init?(left: SparseMerkleProof.Leaf?, right: SparseMerkleProof.Leaf?) {
      guard left != nil || right != nil else { return nil }
      self.left = left
      self.right = right
    }

    public static func == (lhs: LeafChildren, rhs: LeafChildren) -> Bool {
      lhs.left == rhs.left && lhs.right == rhs.right
    }

    public func hash(into hasher: inout Hasher) {
      hasher.combine(left)
      hasher.combine(right)
    }
  }

  /// Leaf: `SHA-256(0x00 || key || valueHash)`; internal: `SHA-256(0x01 || left || right)`.
  /// The prefixes keep a leaf from ever being read as an internal node.
  public var hash: Hash256 {
    switch self {
    case .leaf(let key, let valueHash): Self.hash(prefix: 0x00, key, valueHash)
    case .internalNode(let left, let right, _, _, _): Self.internalHash(left: left, right: right)
    }
  }

  static func internalHash(left: Hash256, right: Hash256) -> Hash256 { hash(prefix: 0x01, left, right) }

  static func leafHash(_ leaf: SparseMerkleProof.Leaf) -> Hash256 { hash(prefix: 0x00, leaf.key, leaf.valueHash) }

  private static func hash(prefix: UInt8, _ first: Hash256, _ second: Hash256) -> Hash256 {
    var hasher = SHA256Hasher()
    hasher.update(byte: prefix)
    hasher.update(first)
    hasher.update(second)
    return hasher.finalize()
  }
}

/// Tag 1 is an internal node without leaf children (the only internal form
/// before layout 5); tag 2 adds a flags byte (bit 0: left, bit 1: right, at
/// least one set) and the key and value hash of each flagged child.
extension SparseMerkleNode: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    switch self {
    case .leaf(let key, let valueHash):
      writer.write(u8: 0)
      writer.write(hash: key)
      writer.write(hash: valueHash)
    case .internalNode(let left, let right, let leftVersion, let rightVersion, let leafChildren):
      writer.write(u8: leafChildren == nil ? 1 : 2)
      writer.write(hash: left)
      writer.write(hash: right)
      writer.write(u64: leftVersion)
      writer.write(u64: rightVersion)
      guard let leafChildren else { return }
      writer.write(u8: (leafChildren.left == nil ? 0 : 1) | (leafChildren.right == nil ? 0 : 2))
      // Each named leaf in turn, without an array per node: every block writes thousands.
      if let left = leafChildren.left {
        writer.write(hash: left.key)
        writer.write(hash: left.valueHash)
      }
      if let right = leafChildren.right {
        writer.write(hash: right.key)
        writer.write(hash: right.valueHash)
      }
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try reader.read(u8: "kind") {
    case 0: self = .leaf(key: try reader.read(hash: "key"), valueHash: try reader.read(hash: "valueHash"))
    case let kind where kind == 1 || kind == 2:
      let left = try reader.read(hash: "left")
      let right = try reader.read(hash: "right")
      let leftVersion = try reader.read(u64: "leftVersion")
      let rightVersion = try reader.read(u64: "rightVersion")
      var leafChildren: LeafChildren?
      if kind == 2 {
        let flags = try reader.read(u8: "leafChildren")
        guard flags != 0, flags & ~3 == 0 else {
          throw FormatError(field: "leafChildren", reason: .unknownTag(UInt64(flags)))
        }
        func leaf(_ present: Bool) throws(FormatError) -> SparseMerkleProof.Leaf? {
          guard present else { return nil }
          return SparseMerkleProof.Leaf(
            key: try reader.read(hash: "leafKey"), valueHash: try reader.read(hash: "leafValueHash"))
        }
        let leftLeaf = try leaf(flags & 1 != 0)
        leafChildren = LeafChildren(left: leftLeaf, right: try leaf(flags & 2 != 0))
      }
      self = .internalNode(
        left: left, right: right, leftVersion: leftVersion, rightVersion: rightVersion, leafChildren: leafChildren)
    case let other: throw FormatError(field: "kind", reason: .unknownTag(UInt64(other)))
    }
  }
}

/// Where tree nodes live, addressed by the version that stored them and their
/// hash. Old roots stay readable: a new version writes new nodes and leaves
/// the old ones in place until retention prunes them.
public protocol SparseMerkleNodeSource {
  /// The node `hash` as stored by `version`; a source that keys nodes by
  /// hash alone may ignore the version.
  func node(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode?
  /// The node `hash` as `node` reads it, for an update that stores a new
  /// node in its place: the newest tree no longer holds it, so a cache of
  /// that tree can let it go now, instead of finding it again to drop it
  /// after the commit.
  func nodeToReplace(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode?
  /// The version that stored the root node `root`, or nil if it never did.
  func rootVersion(_ root: Hash256) throws -> UInt64?
}

extension SparseMerkleNodeSource {
  public func nodeToReplace(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode? {
    try node(hash, version: version)
  }
}

public enum SparseMerkleTreeError: Error, Equatable, Sendable {
  /// A node the root refers to is not in the store: the store is damaged or
  /// the version has been pruned.
  case missingNode(Hash256)
  /// An internal node names a leaf child whose key and value do not hash to
  /// the child's hash: the store is damaged.
  case inconsistentLeafChild(Hash256)
}

/// A root as a store finds it: its hash and the version that stored it.
public struct SparseMerkleRoot: Hashable, Sendable {
  public var hash: Hash256
  public var version: UInt64

  public init(hash: Hash256, version: UInt64) {
    self.hash = hash
    self.version = version
  }

  public static let empty = SparseMerkleRoot(hash: .zero, version: 0)
}

/// A proof that a key holds a value, or holds none, under a root.
public struct SparseMerkleProof: Hashable, Sendable, Codable {
  /// Siblings from the root down to the end of the key's path.
  public var siblings: [Hash256]
  /// The leaf found at the end of the path, if any: the key's own leaf
  /// (inclusion) or another key's leaf sharing the path (non-inclusion).
  public var leaf: Leaf?

  public struct Leaf: Hashable, Sendable, Codable {
    public var key: Hash256
    public var valueHash: Hash256
  }

  public init(siblings: [Hash256], leaf: Leaf?) {
    self.siblings = siblings
    self.leaf = leaf
  }

  /// Does the proof show that `key` maps to `valueHash` (or, for nil, to
  /// nothing) under `root`? Pure: no store needed.
  public func verify(root: Hash256, key: Hash256, valueHash: Hash256?) -> Bool {
    guard siblings.count <= 256 else { return false }
    let bottom: Hash256
    if let valueHash {
      guard let leaf, leaf.key == key, leaf.valueHash == valueHash else { return false }
      bottom = SparseMerkleNode.leaf(key: key, valueHash: valueHash).hash
    } else if let leaf {
      // Another key's leaf collapsed onto our path: it must share the path and differ.
      guard leaf.key != key, Self.commonPrefixLength(leaf.key, key) >= siblings.count else { return false }
      bottom = SparseMerkleNode.leaf(key: leaf.key, valueHash: leaf.valueHash).hash
    } else {
      bottom = .zero
    }
    var current = bottom
    for depth in stride(from: siblings.count - 1, through: 0, by: -1) {
      let sibling = siblings[depth]
      current =
        key.bit(depth)
        ? SparseMerkleNode.internalHash(left: sibling, right: current)
        : SparseMerkleNode.internalHash(left: current, right: sibling)
    }
    return current == root
  }

  static func commonPrefixLength(_ a: Hash256, _ b: Hash256) -> Int {
    var length = 0
    while length < 256 && a.bit(length) == b.bit(length) { length += 1 }
    return length
  }
}

/// Reads and batch-updates the sparse Merkle tree. Holds no state of its own
/// beyond the node source; a version is just a root hash.
public struct SparseMerkleTree<Source: SparseMerkleNodeSource> {
  public let source: Source

  public init(source: Source) { self.source = source }

  public static var emptyRoot: Hash256 { .zero }

  /// The value hash stored under `key`, or nil.
  public func value(root: Hash256, key: Hash256) throws -> Hash256? {
    let proof = try self.proof(root: root, key: key)
    guard let leaf = proof.leaf, leaf.key == key else { return nil }
    return leaf.valueHash
  }

  public func proof(root: Hash256, key: Hash256) throws -> SparseMerkleProof {
    var siblings: [Hash256] = []
    var current = root
    var version = try storedVersion(ofRoot: root)
    var depth = 0
    while current != .zero {
      guard let node = try source.node(current, version: version) else {
        throw SparseMerkleTreeError.missingNode(current)
      }
      switch node {
      case .leaf(let leafKey, let valueHash):
        return SparseMerkleProof(siblings: siblings, leaf: .init(key: leafKey, valueHash: valueHash))
      case .internalNode(let left, let right, let leftVersion, let rightVersion, let leafChildren):
        precondition(depth < 256, "an internal node below depth 256 means two equal keys")
        let knownLeaf: SparseMerkleProof.Leaf?
        if key.bit(depth) {
          siblings.append(left)
          (current, version, knownLeaf) = (right, rightVersion, leafChildren?.right)
        } else {
          siblings.append(right)
          (current, version, knownLeaf) = (left, leftVersion, leafChildren?.left)
        }
        depth += 1
        if let knownLeaf {
          try Self.check(knownLeaf, is: current)
          return SparseMerkleProof(siblings: siblings, leaf: knownLeaf)
        }
      }
    }
    return SparseMerkleProof(siblings: siblings, leaf: nil)
  }

  /// One batched update: every key a block touched, each path hashed once.
  /// `updates` maps keys to new value hashes, nil meaning delete. Returns the
  /// new root and the nodes to store for it under `version` (the caller
  /// writes them, e.g. in the block's atomic LevelDB batch). The new root's
  /// version is `version` unless the update left the root as it was.
  ///
  /// `reusing` is a list from an earlier update that nothing else holds any
  /// more: it is emptied and filled again, so the memory for a block's new
  /// nodes (≈ 21,000 at 5,000 transactions) is not allocated (and its pages
  /// faulted in) afresh each block.
  public func update(
    root: Hash256, _ updates: [Hash256: Hash256?], version: UInt64,
    reusing table: consuming NewTreeNodes = .init()
  ) throws -> (root: SparseMerkleRoot, newNodes: NewTreeNodes) {
    let sorted = updates.sorted { $0.key < $1.key }.map { Change(key: $0.key, valueHash: $0.value) }
    let update = try update(root: root, sorted: sorted, version: version, reusing: consume table)
    return (update.root, update.newNodes)
  }

  /// What an update made: the new root and the nodes to store under its version.
  struct Update {
    let root: SparseMerkleRoot
    let newNodes: NewTreeNodes
  }

  /// `update` with the changes already in ascending key order, one per key.
  func update(
    root: Hash256, sorted: [Change], version: UInt64, reusing table: consuming NewTreeNodes = .init()
  ) throws -> Update {
    precondition(
      zip(sorted, sorted.dropFirst()).allSatisfy { $0.key < $1.key }, "tree changes out of order or repeated")
    let rootVersion = try storedVersion(ofRoot: root)
    var context = UpdateContext(source: source, version: version)
    context.newNodes = consume table
    context.newNodes.removeAll(keepingCapacity: true)
    // A block of a few thousand changes stores ≈ 6 nodes per change (the top
    // levels shared, a new path below them); growing a table step by step
    // copied it a dozen times.
    context.newNodes.reserveCapacity(sorted.count * 7)
    var result = try context.update(root, version: rootVersion, knownLeaf: nil, depth: 0, sorted[...])
    // A leaf is stored only as the root: nothing names it there, so a
    // proof or the next update has to read it.
    if case .leaf(let leaf, _, _) = result {
      result = .leaf(leaf, hash: context.store(.leaf(key: leaf.key, valueHash: leaf.valueHash)), version: version)
    }
    return Update(root: SparseMerkleRoot(hash: result.hash, version: result.version), newNodes: context.newNodes)
  }

  /// A leaf child named by its parent is used only if it hashes to the child's hash.
  static func check(_ leaf: SparseMerkleProof.Leaf, is hash: Hash256) throws {
    guard SparseMerkleNode.leafHash(leaf) == hash else { throw SparseMerkleTreeError.inconsistentLeafChild(hash) }
  }

  /// The empty root is stored nowhere; any other root must be.
  private func storedVersion(ofRoot root: Hash256) throws -> UInt64 {
    guard root != .zero else { return 0 }
    guard let version = try source.rootVersion(root) else { throw SparseMerkleTreeError.missingNode(root) }
    return version
  }

  struct Change {
    let key: Hash256
    let valueHash: Hash256?
  }

  /// What a rebuilt subtree is, so that its parent can collapse it and name
  /// its leaf children.
  enum Subtree {
    case empty
    case leaf(SparseMerkleProof.Leaf, hash: Hash256, version: UInt64)
    case branch(hash: Hash256, version: UInt64)
    /// A subtree no change reaches, not read: a leaf or a branch (`leaf`
    /// says which when the parent knew). Its parent needs to know which only
    /// if its other side became empty (a lone leaf moves up), so it is read
    /// then and only then — not, as every sibling on every changed path
    /// would be, at each level of each update.
    case untouched(hash: Hash256, version: UInt64, leaf: SparseMerkleProof.Leaf?)

    var hash: Hash256 {
      switch self {
      case .empty: .zero
      case .leaf(_, let hash, _), .branch(let hash, _), .untouched(let hash, _, _): hash
      }
    }

    var version: UInt64 {
      switch self {
      case .empty: 0
      case .leaf(_, _, let version), .branch(_, let version), .untouched(_, let version, _): version
      }
    }

    /// The leaf this subtree is, when known without reading it.
    var knownLeaf: SparseMerkleProof.Leaf? {
      switch self {
      case .leaf(let leaf, _, _), .untouched(_, _, .some(let leaf)): leaf
      default: nil
      }
    }
  }

  /// A leaf to place among new ones: new (stored by this update) or already
  /// stored, which keeps its node and version wherever it moves (a leaf's
  /// hash does not depend on its depth).
  struct PlacedLeaf {
    let leaf: SparseMerkleProof.Leaf
    let stored: (hash: Hash256, version: UInt64)?
  }

  struct UpdateContext {
    let source: Source
    /// The version every node this update stores is stored under.
    let version: UInt64
    var newNodes = NewTreeNodes()

    init(source: Source, version: UInt64) {
      self.source = source
      self.version = version
    }

    mutating func store(_ node: SparseMerkleNode) -> Hash256 {
      let hash = node.hash
      newNodes.append(hash, node)
      return hash
    }

    // An update reads only nodes of the tree it started from: the nodes it
    // makes are returned up the recursion, never read back, so neither read
    // looks in `newNodes`.

    /// A node this update reads and keeps: it stays in the new tree.
    func node(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode {
      guard let node = try source.node(hash, version: version) else { throw SparseMerkleTreeError.missingNode(hash) }
      return node
    }

    /// A node with a change below it: the update stores a new node in its
    /// place. (A root that is a leaf is read here too; that is rare, and a
    /// cache that lets it go only reads it again from disk.)
    func nodeToReplace(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode {
      guard let node = try source.nodeToReplace(hash, version: version) else {
        throw SparseMerkleTreeError.missingNode(hash)
      }
      return node
    }

    /// The subtree `hash` (stored by `version`; `knownLeaf` when its parent
    /// names it as a leaf) after `changes`, which all lie below it.
    mutating func update(
      _ hash: Hash256, version: UInt64, knownLeaf: SparseMerkleProof.Leaf?, depth: Int, _ changes: ArraySlice<Change>
    ) throws -> Subtree {
      if changes.isEmpty { return hash == .zero ? .empty : .untouched(hash: hash, version: version, leaf: knownLeaf) }
      if hash == .zero { return build(depth: depth, changes, existing: nil) }
      let existing: SparseMerkleProof.Leaf
      if let knownLeaf {
        try SparseMerkleTree.check(knownLeaf, is: hash)
        existing = knownLeaf
      } else {
        switch try nodeToReplace(hash, version: version) {
        case .leaf(let key, let valueHash):
          existing = SparseMerkleProof.Leaf(key: key, valueHash: valueHash)
        case .internalNode(let left, let right, let leftVersion, let rightVersion, let leafChildren):
          let split = changes.firstIndex { $0.key.bit(depth) } ?? changes.endIndex
          let newLeft = try update(
            left, version: leftVersion, knownLeaf: leafChildren?.left, depth: depth + 1, changes[..<split])
          let newRight = try update(
            right, version: rightVersion, knownLeaf: leafChildren?.right, depth: depth + 1, changes[split...])
          return try joinUpdated(newLeft, newRight)
        }
      }
      // Push the existing leaf down with the changes, unless a change replaces it.
      return build(depth: depth, changes, existing: PlacedLeaf(leaf: existing, stored: (hash, version)))
    }

    /// Parent of two subtrees from `update`. The one place an untouched
    /// subtree must be known: alone under its parent, a leaf moves up, while
    /// a branch stays below a parent with one empty side.
    mutating func joinUpdated(_ left: Subtree, _ right: Subtree) throws -> Subtree {
      switch (left, right) {
      case (.untouched(let hash, let version, let knownLeaf), .empty),
        (.empty, .untouched(let hash, let version, let knownLeaf)):
        let lone: Subtree
        if let knownLeaf {
          try SparseMerkleTree.check(knownLeaf, is: hash)
          lone = .leaf(knownLeaf, hash: hash, version: version)
        } else if case .leaf(let key, let valueHash) = try node(hash, version: version) {
          lone = .leaf(SparseMerkleProof.Leaf(key: key, valueHash: valueHash), hash: hash, version: version)
        } else {
          lone = .branch(hash: hash, version: version)
        }
        return left.hash == .zero ? join(.empty, lone) : join(lone, .empty)
      default:
        return join(left, right)
      }
    }

    /// The subtree holding exactly the non-deleted changes and, unless a
    /// change has its key, the `existing` leaf.
    mutating func build(depth: Int, _ changes: ArraySlice<Change>, existing: PlacedLeaf?) -> Subtree {
      var leaves = changes.compactMap { change in
        change.valueHash.map { PlacedLeaf(leaf: .init(key: change.key, valueHash: $0), stored: nil) }
      }
      if let existing, !changes.contains(where: { $0.key == existing.leaf.key }) {
        let position = leaves.firstIndex { existing.leaf.key < $0.leaf.key } ?? leaves.endIndex
        leaves.insert(existing, at: position)
      }
      return build(depth: depth, leaves[...])
    }

    /// `leaves` are sorted by key; split on each bit without copying.
    mutating func build(depth: Int, _ leaves: ArraySlice<PlacedLeaf>) -> Subtree {
      switch leaves.count {
      case 0: return .empty
      case 1:
        // Not stored: its parent names it (`leafChildren`), so nothing reads
        // it, and a root that is a leaf is stored at the end of the update.
        let placed = leaves.first!
        if let stored = placed.stored { return .leaf(placed.leaf, hash: stored.hash, version: stored.version) }
        return .leaf(placed.leaf, hash: SparseMerkleNode.leafHash(placed.leaf), version: version)
      default:
        precondition(depth < 256, "two distinct keys differ within 256 bits")
        let split = leaves.firstIndex { $0.leaf.key.bit(depth) } ?? leaves.endIndex
        return join(build(depth: depth + 1, leaves[..<split]), build(depth: depth + 1, leaves[split...]))
      }
    }

    /// Parent of two subtrees, collapsing a lone leaf upward. An untouched
    /// side here has a non-empty sibling (see `joinUpdated`).
    mutating func join(_ left: Subtree, _ right: Subtree) -> Subtree {
      switch (left, right) {
      case (.empty, .empty): return .empty
      case (.leaf, .empty), (.empty, .leaf): return left.hash == .zero ? right : left
      default:
        let node = SparseMerkleNode.internalNode(
          left: left.hash, right: right.hash, leftVersion: left.version, rightVersion: right.version,
          leafChildren: .init(left: left.knownLeaf, right: right.knownLeaf))
        return .branch(hash: store(node), version: version)
      }
    }
  }
}

/// Nodes in memory: for tests, tools and offline work.
public final class InMemorySparseMerkleNodes: SparseMerkleNodeSource {
  public private(set) var nodes: [Hash256: SparseMerkleNode] = [:]

  public init() {}

  public func node(_ hash: Hash256, version: UInt64) -> SparseMerkleNode? { nodes[hash] }

  /// Nodes here are found by hash alone, so any stored root will do.
  public func rootVersion(_ root: Hash256) -> UInt64? { nodes[root] == nil ? nil : 0 }

  public func insert(_ newNodes: NewTreeNodes) {
    for (hash, node) in newNodes where nodes[hash] == nil { nodes[hash] = node }
  }
}

/// The nodes one tree update made, in the order it made them. The store
/// walks them twice, to write them and to put them in its node cache; in a
/// table by hash (≈ 21,000 nodes of a 5,000-transaction block in 131,072
/// slots, ≈ 16 MB) each walk jumped through sparse memory, ≈ 1 % of a
/// node's CPU. Nothing looks one up by hash: an update never reads the nodes
/// it makes, and each node is made once, since its hash covers the keys of
/// every leaf below it and no two places in a tree hold the same keys.
public struct NewTreeNodes: RandomAccessCollection, Equatable, Sendable {
  public private(set) var hashes: [Hash256] = []
  public private(set) var nodes: [SparseMerkleNode] = []

  public init() {}

  public var startIndex: Int { 0 }
  public var endIndex: Int { hashes.count }
  public subscript(position: Int) -> (hash: Hash256, node: SparseMerkleNode) {
    (hashes[position], nodes[position])
  }

  mutating func append(_ hash: Hash256, _ node: SparseMerkleNode) {
    hashes.append(hash)
    nodes.append(node)
  }

  /// Empties the list for another update, keeping its memory.
  mutating func removeAll(keepingCapacity: Bool) {
    hashes.removeAll(keepingCapacity: keepingCapacity)
    nodes.removeAll(keepingCapacity: keepingCapacity)
  }

  mutating func reserveCapacity(_ count: Int) {
    hashes.reserveCapacity(count)
    nodes.reserveCapacity(count)
  }
}
