/// RFC 6962 Merkle Tree Hash (§2.1) with SHA-256: leaves are hashed as
/// `SHA-256(0x00 || data)` and interior nodes as `SHA-256(0x01 || left || right)`,
/// so a leaf can never be passed off as a node. The tree over n leaves splits at
/// the largest power of two below n. Used for the transactions of a block and
/// for the history of block hashes. Proof generation follows RFC 6962 §2.1.1 and
/// §2.1.2; verification follows RFC 9162 §2.1.3.2 and §2.1.4.2.
public enum MerkleTree {
  /// Root of the empty tree: SHA-256 of no bytes.
  public static let emptyRoot = SHA256.hash([UInt8]())

  public static func leafHash(_ data: UnsafeRawBufferPointer) -> Hash256 {
    var hasher = SHA256Hasher()
    hasher.update(byte: 0x00)
    hasher.update(data)
    return hasher.finalize()
  }

  public static func leafHash(_ data: [UInt8]) -> Hash256 {
    data.withUnsafeBytes { leafHash($0) }
  }

  public static func nodeHash(_ left: Hash256, _ right: Hash256) -> Hash256 {
    var hasher = SHA256Hasher()
    hasher.update(byte: 0x01)
    hasher.update(left)
    hasher.update(right)
    return hasher.finalize()
  }

  public static func root(leaves: [[UInt8]]) -> Hash256 {
    root(leafHashes: leaves.map { leafHash($0) })
  }

  public static func root(leafHashes: [Hash256]) -> Hash256 {
    guard !leafHashes.isEmpty else { return emptyRoot }
    return leafHashes.withUnsafeBufferPointer { subtreeRoot($0[...]) }
  }

  /// The largest power of two strictly below `count` (count ≥ 2).
  static func splitPoint(_ count: Int) -> Int {
    precondition(count >= 2, "only trees of two or more leaves split")
    return 1 << (Int.bitWidth - 1 - (count - 1).leadingZeroBitCount)
  }

  private static func subtreeRoot(_ hashes: Slice<UnsafeBufferPointer<Hash256>>) -> Hash256 {
    if hashes.count == 1 { return hashes[hashes.startIndex] }
    let middle = hashes.startIndex + splitPoint(hashes.count)
    return nodeHash(subtreeRoot(hashes[..<middle]), subtreeRoot(hashes[middle...]))
  }

  /// The audit path for leaf `index` (RFC 6962 §2.1.1), nearest sibling first.
  public static func inclusionProof(index: Int, leafHashes: [Hash256]) -> [Hash256] {
    precondition(index >= 0 && index < leafHashes.count, "leaf index outside the tree")
    var proof: [Hash256] = []
    leafHashes.withUnsafeBufferPointer { inclusionPath(index, $0[...], into: &proof) }
    return proof
  }

  private static func inclusionPath(
    _ index: Int, _ hashes: Slice<UnsafeBufferPointer<Hash256>>, into proof: inout [Hash256]
  ) {
    guard hashes.count > 1 else { return }
    let split = splitPoint(hashes.count)
    let middle = hashes.startIndex + split
    if index < split {
      inclusionPath(index, hashes[..<middle], into: &proof)
      proof.append(subtreeRoot(hashes[middle...]))
    } else {
      inclusionPath(index - split, hashes[middle...], into: &proof)
      proof.append(subtreeRoot(hashes[..<middle]))
    }
  }

  /// The proof that the tree over the first `oldSize` leaves is a prefix of the
  /// tree over all of `leafHashes` (RFC 6962 §2.1.2). Requires 1 ≤ oldSize ≤ count.
  public static func consistencyProof(oldSize: Int, leafHashes: [Hash256]) -> [Hash256] {
    precondition(oldSize >= 1 && oldSize <= leafHashes.count, "old size outside 1...new size")
    var proof: [Hash256] = []
    leafHashes.withUnsafeBufferPointer {
      consistencySubproof(oldSize, $0[...], oldIsWholeSubtree: true, into: &proof)
    }
    return proof
  }

  private static func consistencySubproof(
    _ oldSize: Int, _ hashes: Slice<UnsafeBufferPointer<Hash256>>, oldIsWholeSubtree: Bool,
    into proof: inout [Hash256]
  ) {
    if oldSize == hashes.count {
      if !oldIsWholeSubtree { proof.append(subtreeRoot(hashes)) }
      return
    }
    let split = splitPoint(hashes.count)
    let middle = hashes.startIndex + split
    if oldSize <= split {
      consistencySubproof(oldSize, hashes[..<middle], oldIsWholeSubtree: oldIsWholeSubtree, into: &proof)
      proof.append(subtreeRoot(hashes[middle...]))
    } else {
      consistencySubproof(oldSize - split, hashes[middle...], oldIsWholeSubtree: false, into: &proof)
      proof.append(subtreeRoot(hashes[..<middle]))
    }
  }

  /// RFC 9162 §2.1.3.2: does `proof` place `leafHash` at `index` in the tree of
  /// `treeSize` leaves whose root is `root`?
  public static func verifyInclusion(
    leafHash: Hash256, index: Int, treeSize: Int, proof: [Hash256], root: Hash256
  ) -> Bool {
    guard index >= 0, index < treeSize else { return false }
    var fn = index
    var sn = treeSize - 1
    var computed = leafHash
    for sibling in proof {
      guard sn != 0 else { return false }
      if fn & 1 == 1 || fn == sn {
        computed = nodeHash(sibling, computed)
        if fn & 1 == 0 {
          while fn & 1 == 0 && fn != 0 {
            fn >>= 1
            sn >>= 1
          }
        }
      } else {
        computed = nodeHash(computed, sibling)
      }
      fn >>= 1
      sn >>= 1
    }
    return sn == 0 && computed == root
  }

  /// RFC 9162 §2.1.4.2: does `proof` show the tree of `newSize` leaves with root
  /// `newRoot` extends the tree of `oldSize` leaves with root `oldRoot`?
  public static func verifyConsistency(
    oldSize: Int, newSize: Int, oldRoot: Hash256, newRoot: Hash256, proof: [Hash256]
  ) -> Bool {
    guard oldSize >= 1, oldSize <= newSize else { return false }
    if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
    guard !proof.isEmpty else { return false }
    var path = proof
    // A power-of-two old tree is a whole subtree of the new one; its root starts the walk.
    if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
    var fn = oldSize - 1
    var sn = newSize - 1
    while fn & 1 == 1 {
      fn >>= 1
      sn >>= 1
    }
    var oldComputed = path[0]
    var newComputed = path[0]
    for node in path.dropFirst() {
      guard sn != 0 else { return false }
      if fn & 1 == 1 || fn == sn {
        oldComputed = nodeHash(node, oldComputed)
        newComputed = nodeHash(node, newComputed)
        if fn & 1 == 0 {
          while fn & 1 == 0 && fn != 0 {
            fn >>= 1
            sn >>= 1
          }
        }
      } else {
        newComputed = nodeHash(newComputed, node)
      }
      fn >>= 1
      sn >>= 1
    }
    return sn == 0 && oldComputed == oldRoot && newComputed == newRoot
  }
}

/// An append-only RFC 6962 tree that keeps only the roots of its maximal
/// perfect subtrees (one per set bit of `size`), so appending and taking the
/// root cost O(log n) hashes. This is how a node keeps the history root that
/// each header carries without rereading every block hash.
public struct MerkleFrontier: Hashable, Sendable, Codable {
  public private(set) var size: UInt64 = 0
  /// Roots of the perfect subtrees, largest (leftmost) first; their sizes are
  /// the set bits of `size`, in descending order.
  public private(set) var subtreeRoots: [Hash256] = []

  public init() {}

  public mutating func append(leafHash: Hash256) {
    var carried = leafHash
    var mergedSize = size
    // Each trailing 1 bit of the old size is a subtree of equal size to merge with.
    while mergedSize & 1 == 1 {
      carried = MerkleTree.nodeHash(subtreeRoots.removeLast(), carried)
      mergedSize >>= 1
    }
    subtreeRoots.append(carried)
    size += 1
  }

  public var root: Hash256 {
    guard var folded = subtreeRoots.last else { return MerkleTree.emptyRoot }
    for subtree in subtreeRoots.dropLast().reversed() {
      folded = MerkleTree.nodeHash(subtree, folded)
    }
    return folded
  }
}

/// Stored form: the size, then one root per set bit of the size.
extension MerkleFrontier: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u64: size)
    for root in subtreeRoots { writer.write(hash: root) }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    size = try reader.read(u64: "size")
    subtreeRoots = []
    for index in 0..<size.nonzeroBitCount { subtreeRoots.append(try reader.read(hash: "subtreeRoots[\(index)]")) }
  }
}
