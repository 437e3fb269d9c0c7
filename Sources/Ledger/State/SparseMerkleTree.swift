/// A node of the sparse Merkle tree over 256-bit keys.
///
/// Subtrees holding a single leaf are collapsed into that leaf (as Diem's
/// Jellyfish Merkle tree does), so a leaf sits at the depth where its key
/// first differs from every other key and a proof has about log2(n)
/// siblings rather than 256. Empty subtrees have the placeholder hash
/// `Hash256.zero` and are never stored.
public enum SparseMerkleNode: Hashable, Sendable {
  case leaf(key: Hash256, valueHash: Hash256)
  case internalNode(left: Hash256, right: Hash256)

  /// Leaf: `SHA-256(0x00 || key || valueHash)`; internal: `SHA-256(0x01 || left || right)`.
  /// The prefixes keep a leaf from ever being read as an internal node.
  public var hash: Hash256 {
    var hasher = SHA256Hasher()
    switch self {
    case .leaf(let key, let valueHash):
      hasher.update(byte: 0x00)
      hasher.update(key)
      hasher.update(valueHash)
    case .internalNode(let left, let right):
      hasher.update(byte: 0x01)
      hasher.update(left)
      hasher.update(right)
    }
    return hasher.finalize()
  }
}

extension SparseMerkleNode: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    switch self {
    case .leaf(let key, let valueHash):
      writer.write(u8: 0)
      writer.write(hash: key)
      writer.write(hash: valueHash)
    case .internalNode(let left, let right):
      writer.write(u8: 1)
      writer.write(hash: left)
      writer.write(hash: right)
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try reader.read(u8: "kind") {
    case 0: self = .leaf(key: try reader.read(hash: "key"), valueHash: try reader.read(hash: "valueHash"))
    case 1: self = .internalNode(left: try reader.read(hash: "left"), right: try reader.read(hash: "right"))
    case let other: throw FormatError(field: "kind", reason: .unknownTag(UInt64(other)))
    }
  }
}

/// Where tree nodes live, addressed by their hash. Content addressing is what
/// lets old roots stay readable: a new version writes new nodes and leaves
/// the old ones in place until retention prunes them.
public protocol SparseMerkleNodeSource {
  func node(_ hash: Hash256) throws -> SparseMerkleNode?
}

public enum SparseMerkleTreeError: Error, Equatable, Sendable {
  /// A node the root refers to is not in the store: the store is damaged or
  /// the version has been pruned.
  case missingNode(Hash256)
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
        ? SparseMerkleNode.internalNode(left: sibling, right: current).hash
        : SparseMerkleNode.internalNode(left: current, right: sibling).hash
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
    var depth = 0
    while current != .zero {
      guard let node = try source.node(current) else { throw SparseMerkleTreeError.missingNode(current) }
      switch node {
      case .leaf(let leafKey, let valueHash):
        return SparseMerkleProof(siblings: siblings, leaf: .init(key: leafKey, valueHash: valueHash))
      case .internalNode(let left, let right):
        precondition(depth < 256, "an internal node below depth 256 means two equal keys")
        if key.bit(depth) {
          siblings.append(left)
          current = right
        } else {
          siblings.append(right)
          current = left
        }
        depth += 1
      }
    }
    return SparseMerkleProof(siblings: siblings, leaf: nil)
  }

  /// One batched update: every key a block touched, each path hashed once.
  /// `updates` maps keys to new value hashes, nil meaning delete. Returns the
  /// new root and the nodes to store for it (the caller writes them, e.g. in
  /// the block's atomic LevelDB batch).
  public func update(root: Hash256, _ updates: [Hash256: Hash256?]) throws -> (
    root: Hash256, newNodes: [Hash256: SparseMerkleNode]
  ) {
    let sorted = updates.sorted { $0.key < $1.key }.map { Change(key: $0.key, valueHash: $0.value) }
    var context = UpdateContext(source: source)
    let result = try context.update(root, depth: 0, sorted[...])
    return (result.hash, context.newNodes)
  }

  struct Change {
    let key: Hash256
    let valueHash: Hash256?
  }

  /// What a rebuilt subtree is, so that its parent can collapse it.
  enum Subtree {
    case empty
    case leaf(hash: Hash256)
    case branch(hash: Hash256)

    var hash: Hash256 {
      switch self {
      case .empty: .zero
      case .leaf(let hash), .branch(let hash): hash
      }
    }
  }

  struct UpdateContext {
    let source: Source
    var newNodes: [Hash256: SparseMerkleNode] = [:]

    mutating func store(_ node: SparseMerkleNode) -> Hash256 {
      let hash = node.hash
      newNodes[hash] = node
      return hash
    }

    mutating func node(_ hash: Hash256) throws -> SparseMerkleNode {
      if let node = newNodes[hash] { return node }
      guard let node = try source.node(hash) else { throw SparseMerkleTreeError.missingNode(hash) }
      return node
    }

    mutating func update(_ hash: Hash256, depth: Int, _ changes: ArraySlice<Change>) throws -> Subtree {
      if changes.isEmpty {
        guard hash != .zero else { return .empty }
        if case .leaf = try node(hash) { return .leaf(hash: hash) }
        return .branch(hash: hash)
      }
      if hash == .zero { return build(depth: depth, changes) }
      switch try node(hash) {
      case .leaf(let key, let valueHash):
        // Push the existing leaf down with the changes, unless a change replaces it.
        var merged = Array(changes)
        if !merged.contains(where: { $0.key == key }) {
          let position = merged.firstIndex { key < $0.key } ?? merged.endIndex
          merged.insert(Change(key: key, valueHash: valueHash), at: position)
        }
        return build(depth: depth, merged[...])
      case .internalNode(let left, let right):
        let split = changes.firstIndex { $0.key.bit(depth) } ?? changes.endIndex
        let newLeft = try update(left, depth: depth + 1, changes[..<split])
        let newRight = try update(right, depth: depth + 1, changes[split...])
        return join(newLeft, newRight)
      }
    }

    /// The subtree holding exactly the non-deleted changes.
    mutating func build(depth: Int, _ changes: ArraySlice<Change>) -> Subtree {
      let present = changes.compactMap { change in change.valueHash.map { (key: change.key, valueHash: $0) } }
      return build(depth: depth, present[...])
    }

    /// `entries` are sorted by key and all present; split on each bit without copying.
    mutating func build(depth: Int, _ entries: ArraySlice<(key: Hash256, valueHash: Hash256)>) -> Subtree {
      switch entries.count {
      case 0: return .empty
      case 1: return .leaf(hash: store(.leaf(key: entries.first!.key, valueHash: entries.first!.valueHash)))
      default:
        precondition(depth < 256, "two distinct keys differ within 256 bits")
        let split = entries.firstIndex { $0.key.bit(depth) } ?? entries.endIndex
        return join(build(depth: depth + 1, entries[..<split]), build(depth: depth + 1, entries[split...]))
      }
    }

    /// Parent of two subtrees, collapsing a lone leaf upward.
    mutating func join(_ left: Subtree, _ right: Subtree) -> Subtree {
      switch (left, right) {
      case (.empty, .empty): return .empty
      case (.leaf, .empty), (.empty, .leaf): return left.hash == .zero ? right : left
      default: return .branch(hash: store(.internalNode(left: left.hash, right: right.hash)))
      }
    }
  }
}

/// Nodes in memory: for tests, tools and offline work.
public final class InMemorySparseMerkleNodes: SparseMerkleNodeSource {
  public private(set) var nodes: [Hash256: SparseMerkleNode] = [:]

  public init() {}

  public func node(_ hash: Hash256) -> SparseMerkleNode? { nodes[hash] }

  public func insert(_ newNodes: [Hash256: SparseMerkleNode]) {
    nodes.merge(newNodes) { existing, _ in existing }
  }
}
