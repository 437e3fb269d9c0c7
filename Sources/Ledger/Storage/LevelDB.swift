internal import CLevelDB
internal import CLevelDBFiles
import Foundation
import Synchronization

/// The embedded key-value store, through LevelDB's C API.
///
/// `@unchecked Sendable` is sound: LevelDB documents a `DB` as safe to use
/// from many threads without external locking, and the option objects here
/// are created once and only read afterwards.
public final class LevelDB: @unchecked Sendable {
  private let database: OpaquePointer
  private let readOptions: OpaquePointer
  private let hashCheckedReads: OpaquePointer
  private let syncedWrites: OpaquePointer
  private let cache: OpaquePointer
  public let path: String

  public struct Failure: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let message: String
    public var description: String { "LevelDB \(operation) failed: \(message)" }
  }

  /// Table files LevelDB keeps open (each holds its index in memory); the
  /// systemd unit's file limit leaves room for these plus peers and clients.
  static let openTableFilesMax: Int32 = 1_000

  /// Opens (creating if needed) the database in directory `path`.
  /// LevelDB's lock file makes a second opener fail instead of corrupting it.
  ///
  /// The block cache is small on purpose: tables are read with `pread`, so
  /// the kernel's page cache already keeps hot table bytes (uncompressed, so
  /// identical to the cached blocks) without counting as the node's memory;
  /// LevelDB's cache only saves the copy out of it.
  ///
  /// `writeBufferBytes` is the memtable size: writes collect there until it
  /// is full and flushed as one table; up to twice it is held while a full
  /// one is being flushed.
  public init(path: String, cacheBytes: Int = 8 << 20, writeBufferBytes: Int = 32 << 20) throws(Failure) {
    let options = leveldb_options_create()!
    defer { leveldb_options_destroy(options) }
    leveldb_options_set_create_if_missing(options, 1)
    leveldb_options_set_paranoid_checks(options, 1)
    // Most of what a block writes is hashes (tree nodes, ids), which do not
    // compress: Snappy cost CPU for nothing (docs/BENCHMARKS.md, profile).
    leveldb_options_set_compression(options, Int32(leveldb_no_compression))
    leveldb_options_set_write_buffer_size(options, writeBufferBytes)
    let cache = leveldb_cache_create_lru(cacheBytes)!
    leveldb_options_set_cache(options, cache)
    // Table files are read into that cache rather than mapped: mapped tables
    // count as resident memory and grow with the store (docs/BENCHMARKS.md).
    leveldb_options_set_env(options, dirledger_leveldb_pread_env())
    leveldb_options_set_max_open_files(options, Self.openTableFilesMax)
    var error: UnsafeMutablePointer<CChar>?
    let opened = leveldb_open(options, path, &error)
    if error != nil { leveldb_cache_destroy(cache) }
    try Self.check(error, "open \(path)")
    self.cache = cache
    database = opened!
    readOptions = leveldb_readoptions_create()!
    leveldb_readoptions_set_verify_checksums(readOptions, 1)
    hashCheckedReads = leveldb_readoptions_create()!
    leveldb_readoptions_set_verify_checksums(hashCheckedReads, 0)
    leveldb_readoptions_set_fill_cache(hashCheckedReads, 0)
    // Every commit is durable before it is acknowledged: a crash after a
    // block is reported committed must not lose it.
    syncedWrites = leveldb_writeoptions_create()!
    leveldb_writeoptions_set_sync(syncedWrites, 1)
    self.path = path
  }

  deinit {
    leveldb_close(database)
    leveldb_readoptions_destroy(readOptions)
    leveldb_readoptions_destroy(hashCheckedReads)
    leveldb_writeoptions_destroy(syncedWrites)
    leveldb_cache_destroy(cache)
  }

  private static func check(_ error: UnsafeMutablePointer<CChar>?, _ operation: String) throws(Failure) {
    guard let error else { return }
    let message = String(cString: error)
    leveldb_free(error)
    throw Failure(operation: operation, message: message)
  }

  /// How a read guards against a damaged disk.
  public enum ReadCheck: Sendable {
    /// LevelDB checks the CRC of every table block it reads for the value.
    case blockChecksums
    /// The caller checks the value against the hash it is stored under,
    /// which catches everything a CRC would and more, for a fraction of the
    /// cost: a CRC covers the whole 4 KiB block, the hash only the value.
    /// The block is not kept in the cache: these are tree nodes, ordered by
    /// hash within their version, so the rest of the block is rarely wanted.
    case contentHash
  }

  public func get(_ key: [UInt8], check: ReadCheck = .blockChecksums) throws(Failure) -> [UInt8]? {
    var length = 0
    var error: UnsafeMutablePointer<CChar>?
    let options = check == .blockChecksums ? readOptions : hashCheckedReads
    let value = key.withUnsafeBufferPointer { keyBytes in
      keyBytes.withMemoryRebound(to: CChar.self) {
        leveldb_get(database, options, $0.baseAddress, $0.count, &length, &error)
      }
    }
    try Self.check(error, "get")
    guard let value else { return nil }
    defer { leveldb_free(value) }
    return Array(UnsafeRawBufferPointer(start: value, count: length))
  }

  /// Applies every write in `batch` atomically and durably: after a crash
  /// either all of them are there or none is. The records go to LevelDB in
  /// key order, whatever order they were added in: for a block's scattered
  /// keys the memtable inserts then cost a fraction as much, for a sort and
  /// a copy of the batch that live only during the call
  /// (`dirledger_leveldb_write_in_key_order`).
  public func write(_ batch: WriteBatch) throws(Failure) {
    var error: UnsafeMutablePointer<CChar>?
    dirledger_leveldb_write_in_key_order(database, syncedWrites, batch.handle, batch.count, &error)
    try Self.check(error, "write")
  }

  /// Keys and values whose key starts with `prefix`, in key order, at most `limit`.
  public func scan(prefix: [UInt8], from start: [UInt8]? = nil, limit: Int) -> [(key: [UInt8], value: [UInt8])] {
    withIterator(seekingTo: start ?? prefix) { iterator in
      Self.collect(from: iterator, prefix: prefix, limit: limit, step: leveldb_iter_next)
    }
  }

  /// Keys and values whose key starts with `prefix` and sorts before
  /// `before` (all of them when nil), in descending key order, at most `limit`.
  public func scanBackward(prefix: [UInt8], before: [UInt8]? = nil, limit: Int) -> [(key: [UInt8], value: [UInt8])] {
    precondition(!prefix.isEmpty && prefix.last! < 0xff, "a prefix whose successor is one byte up")
    return withIterator(seekingTo: before ?? (prefix.dropLast() + [prefix.last! + 1])) { iterator in
      // At the first key at or after the bound, or past the end: one step back is the last key before it.
      if leveldb_iter_valid(iterator) != 0 { leveldb_iter_prev(iterator) } else { leveldb_iter_seek_to_last(iterator) }
      return Self.collect(from: iterator, prefix: prefix, limit: limit, step: leveldb_iter_prev)
    }
  }

  private func withIterator<Result>(seekingTo key: [UInt8], _ body: (OpaquePointer) -> Result) -> Result {
    let iterator = leveldb_create_iterator(database, readOptions)!
    defer { leveldb_iter_destroy(iterator) }
    key.withUnsafeBufferPointer { bytes in
      bytes.withMemoryRebound(to: CChar.self) { leveldb_iter_seek(iterator, $0.baseAddress, $0.count) }
    }
    return body(iterator)
  }

  /// Entries from the iterator's position while their keys start with `prefix`, moving by `step`.
  private static func collect(
    from iterator: OpaquePointer, prefix: [UInt8], limit: Int, step: (OpaquePointer) -> Void
  ) -> [(key: [UInt8], value: [UInt8])] {
    precondition(limit > 0, "scans are bounded")
    var results: [(key: [UInt8], value: [UInt8])] = []
    while leveldb_iter_valid(iterator) != 0 && results.count < limit {
      var keyLength = 0
      var valueLength = 0
      let keyPointer = leveldb_iter_key(iterator, &keyLength)!
      let key = Array(UnsafeRawBufferPointer(start: keyPointer, count: keyLength))
      guard key.starts(with: prefix) else { break }
      let valuePointer = leveldb_iter_value(iterator, &valueLength)
      results.append((key, Array(UnsafeRawBufferPointer(start: valuePointer, count: valueLength))))
      step(iterator)
    }
    return results
  }

  /// Every entry under `prefix`, in key order, handed to `body` a page of
  /// `pageSize` at a time, so that a table of any size is read in bounded memory.
  public func forEachPage(
    prefix: [UInt8], pageSize: Int = 10_000, _ body: ([(key: [UInt8], value: [UInt8])]) throws -> Void
  ) rethrows {
    var after: [UInt8]?
    var page: [(key: [UInt8], value: [UInt8])]
    repeat {
      page = scan(prefix: prefix, from: after, limit: pageSize)
      try body(page)
      after = page.last.map { $0.key + [0] }
    } while page.count == pageSize
  }

  /// Compacts the tables that hold keys starting with `prefix`, so that
  /// the space of entries deleted there is given back now rather than when
  /// later writes happen to reach them.
  public func compact(prefix: [UInt8]) {
    precondition(!prefix.isEmpty && prefix.last! < 0xff, "a prefix whose successor is one byte up")
    let limit = prefix.dropLast() + [prefix.last! + 1]
    prefix.withUnsafeBufferPointer { start in
      limit.withUnsafeBufferPointer { end in
        start.withMemoryRebound(to: CChar.self) { startBytes in
          end.withMemoryRebound(to: CChar.self) { endBytes in
            leveldb_compact_range(
              database, startBytes.baseAddress, startBytes.count, endBytes.baseAddress, endBytes.count)
          }
        }
      }
    }
  }

  /// LevelDB's own estimate of the bytes on disk for a key range.
  public var approximateSizeBytes: UInt64 {
    var start: [CChar] = [0]
    var limit: [CChar] = [CChar(bitPattern: 0xff), CChar(bitPattern: 0xff)]
    var startLength = 0
    var limitLength = limit.count
    var size: UInt64 = 0
    start.withUnsafeMutableBufferPointer { startBytes in
      limit.withUnsafeMutableBufferPointer { limitBytes in
        var startPointer: UnsafePointer<CChar>? = UnsafePointer(startBytes.baseAddress)
        var limitPointer: UnsafePointer<CChar>? = UnsafePointer(limitBytes.baseAddress)
        leveldb_approximate_sizes(database, 1, &startPointer, &startLength, &limitPointer, &limitLength, &size)
      }
    }
    return size
  }
}

/// Writes collected for one atomic `LevelDB.write`.
public final class WriteBatch {
  fileprivate let handle: OpaquePointer
  public private(set) var count = 0

  public init() { handle = leveldb_writebatch_create()! }
  deinit { leveldb_writebatch_destroy(handle) }

  public func put(_ key: [UInt8], _ value: [UInt8]) {
    key.withUnsafeBytes { keyBytes in value.withUnsafeBytes { put(keyBytes, $0) } }
  }

  /// A digest as the value, from the stack: no array per put.
  public func put(_ key: [UInt8], _ value: Hash256) {
    key.withUnsafeBytes { keyBytes in value.withUnsafeBytes { put(keyBytes, $0) } }
  }

  /// LevelDB copies both into the batch, so they may be borrowed buffers.
  public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
    leveldb_writebatch_put(
      handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
      value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count)
    count += 1
  }

  /// Empties the batch and keeps its buffer, for a writer that fills one batch after another.
  public func clear() {
    leveldb_writebatch_clear(handle)
    count = 0
  }

  public func delete(_ key: [UInt8]) {
    key.withUnsafeBufferPointer { keyBytes in
      keyBytes.withMemoryRebound(to: CChar.self) { leveldb_writebatch_delete(handle, $0.baseAddress, $0.count) }
    }
    count += 1
  }
}

/// Sparse Merkle tree nodes in a height-ordered LevelDB database under their
/// version (8 bytes, big endian: the height that stored them), and each
/// state root's version under `s/` + root hash in the store's main database.
///
/// A version's nodes are grouped by the first bits of their hash
/// (`HeightKey.treeNodeGroup`): each group is one key, `<version> g
/// <group>`, whose value holds its nodes one after another, each as its
/// hash, the length of its encoding (one byte) and its encoding. A key per
/// node (`<version> n <hash>`, layout 6 and older) made a block's commit
/// insert, log and sort ≈ 4.3 keys per transaction; versions written before
/// a store reached layout 7 (`groupedFrom`) stay that way and are read so.
///
/// Keys lead with the version so that a block's nodes land after every older
/// node instead of scattered over the key space: LevelDB then moves such
/// tables down its levels without rewriting them, where hash-keyed nodes were
/// rewritten at every level (docs/BENCHMARKS.md, "Where the time goes").
/// Root versions are random keys and stay out of that database: one would
/// make every table's key range overlap every other's.
/// Every retained version's root stays readable, and decoded nodes can be
/// cached by hash: a hash always names the same node content.
public struct LevelDBSparseMerkleNodes: SparseMerkleNodeSource, Sendable {
  public static let rootVersionPrefix: [UInt8] = Array("s/".utf8)
  /// Holds the nodes.
  public let database: LevelDB
  /// Holds the root versions.
  public let rootDatabase: LevelDB
  let cache: TwoGenerationCache<Hash256, SparseMerkleNode>
  let rootVersions = TwoGenerationCache<Hash256, UInt64>(capacity: 1 << 12)
  private let databaseReads = ReadCount()

  /// Nodes read from `database` since the store opened (not found in the
  /// cache): what `ledger-cli bench store` reports per transaction.
  public var nodesReadFromDisk: Int { databaseReads.value }

  /// The default fills the cache's two tables: a generation of 98,304 nodes
  /// is exactly 3/4 of a 131,072-slot dictionary, Swift's maximum load, so it
  /// holds half again as many nodes as 65,536 would in the same ≈ 17 MB
  /// (128-byte slots), plus ≈ 160 bytes for each internal node that names
  /// leaf children.
  /// Nodes and root versions share `database` unless `rootDatabase` is
  /// given. Versions below `groupedFrom` have a key per node.
  public init(
    database: LevelDB, rootDatabase: LevelDB? = nil, cachedNodesMax: Int = 3 << 16, groupedFrom: UInt64 = 0
  ) {
    self.database = database
    self.rootDatabase = rootDatabase ?? database
    self.groupedFrom = groupedFrom
    cache = TwoGenerationCache(capacity: cachedNodesMax)
  }

  /// The first version whose nodes are grouped: 0 for a store created at
  /// layout 7, the height after its head for one that reached it later.
  public let groupedFrom: UInt64

  static func rootVersionKey(_ root: Hash256) -> [UInt8] { rootVersionPrefix + root.bytes }

  public func node(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode? {
    if let cached = cache.value(hash) { return cached }
    guard let node = try stored(hash, version: version) else { return nil }
    cache.insert(hash, node)
    return node
  }

  /// Taken out of the cache, or read from disk without entering it: the
  /// update that reads it stores a new node in its place, so the newest
  /// tree, the one the cache keeps, no longer holds it. Looking it up and
  /// then finding it again to drop it after the commit cost two lookups
  /// (and, for an old-generation hit, a move to the young one) where this
  /// is one (docs/BENCHMARKS.md, "the take round").
  public func nodeToReplace(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode? {
    if let cached = cache.take(hash) { return cached }
    return try stored(hash, version: version)
  }

  /// The node as stored on disk, checked against its hash.
  private func stored(_ hash: Hash256, version: UInt64) throws -> SparseMerkleNode? {
    databaseReads.add()
    // A node that fails to decode or to hash to the hash it is stored under
    // means the disk is damaged: report it, do not trust it.
    let found: SparseMerkleNode?
    if version < groupedFrom {
      found = try database.get(HeightKey.treeNode(hash, version: version), check: .contentHash).map {
        try SparseMerkleNode(canonicalBytes: $0)
      }
    } else {
      let group = HeightKey.treeNodeGroup(holding: hash, version: version)
      found = try database.get(group, check: .contentHash).flatMap {
        try Self.node(hash, inGroup: $0, version: version)
      }
    }
    guard let node = found else { return nil }
    guard node.hash == hash else {
      throw StoreError(
        "store.corrupt", "tree node \(hash.hex) at version \(version) does not hash to the hash it is stored under")
    }
    return node
  }

  /// The node stored as `hash` in a group's value, or nil if the group has none.
  static func node(_ hash: Hash256, inGroup group: [UInt8], version: UInt64) throws -> SparseMerkleNode? {
    var offset = 0
    while offset < group.count {
      let start = offset + Hash256.byteCount + 1
      guard start <= group.count, start + Int(group[start - 1]) <= group.count else {
        throw StoreError(
          "store.corrupt", "the tree-node group of \(hash.hex) at version \(version) ends inside an entry")
      }
      let end = start + Int(group[start - 1])
      let entryHash = group.withUnsafeBytes { Hash256(copying: $0.baseAddress! + offset) }
      if entryHash == hash { return try SparseMerkleNode(canonicalBytes: Array(group[start..<end])) }
      offset = end
    }
    return nil
  }

  public func rootVersion(_ root: Hash256) throws -> UInt64? {
    if let cached = rootVersions.value(root) { return cached }
    guard let bytes = try rootDatabase.get(Self.rootVersionKey(root)) else { return nil }
    guard bytes.count == 8 else {
      throw StoreError("store.corrupt", "the version of state root \(root.hex) is \(bytes.count) bytes, not 8")
    }
    let version = StoreKey.readBigEndian(bytes)
    rootVersions.insert(root, version)
    return version
  }

  /// Adds the nodes of a new version to `batch`, group by group, and its
  /// root's version to `rootBatch` (the same batch unless given), for the
  /// caller to commit with the block.
  public static func add(
    _ nodes: NewTreeNodes, version: UInt64, root: SparseMerkleRoot, to batch: WriteBatch,
    rootVersionTo rootBatch: WriteBatch? = nil
  ) {
    // Each node encoded once, in the order the update made them, into one buffer of
    // entries; a counting sort by group then orders the entries (no
    // comparisons), and each group's value is copied together from them.
    // Walking the table group by group instead cost a lookup by index and a
    // copy of each node, half of what writing the nodes cost besides LevelDB.
    let groupCount = HeightKey.treeNodeGroupCount
    var entries = CanonicalWriter(capacity: nodes.count * 160)
    // Entry `n` is `entries.bytes[entryBounds[n]..<entryBounds[n + 1]]`.
    var entryBounds = [0]
    entryBounds.reserveCapacity(nodes.count + 1)
    var entryGroups: [UInt16] = []
    entryGroups.reserveCapacity(nodes.count)
    var groupStarts = [Int](repeating: 0, count: groupCount + 1)
    var encoded = CanonicalWriter(capacity: 256)
    for (hash, node) in nodes {
      let group = HeightKey.treeNodeGroup(of: hash)
      groupStarts[group + 1] += 1
      encoded.removeAll()
      node.encode(to: &encoded)
      entries.write(hash: hash)
      // A node's encoding is at most 210 bytes (tag 2 naming both leaf children).
      entries.write(u8: UInt8(encoded.bytes.count))
      entries.append(raw: encoded.bytes)
      entryGroups.append(UInt16(group))
      entryBounds.append(entries.bytes.count)
    }
    for group in 0..<groupCount { groupStarts[group + 1] += groupStarts[group] }
    var ordered = [Int](repeating: 0, count: nodes.count)
    var nextSlot = groupStarts
    for (entry, group) in entryGroups.enumerated() {
      ordered[nextSlot[Int(group)]] = entry
      nextSlot[Int(group)] += 1
    }
    // One key and one value buffer for the whole block: LevelDB copies each put.
    var key = HeightKey.treeNodeGroup(holding: .zero, version: version)
    var value: [UInt8] = []
    value.reserveCapacity(4_096)
    entries.bytes.withUnsafeBufferPointer { allEntries in
      for group in 0..<groupCount where groupStarts[group] < groupStarts[group + 1] {
        value.removeAll(keepingCapacity: true)
        for entry in ordered[groupStarts[group]..<groupStarts[group + 1]] {
          value.append(
            contentsOf: UnsafeBufferPointer(rebasing: allEntries[entryBounds[entry]..<entryBounds[entry + 1]]))
        }
        HeightKey.setTreeNodeGroup(group, in: &key)
        batch.put(key, value)
      }
    }
    if root.hash != .zero { (rootBatch ?? batch).put(rootVersionKey(root.hash), StoreKey.bigEndian(root.version)) }
  }

  /// After the batch is durable: the newest internal nodes are the likeliest
  /// to be read next, as the next update reads the newest tree only. The
  /// ones they replaced already left the cache as the update read them
  /// (`nodeToReplace`), which keeps its room for nodes still in the newest
  /// tree: tree-node reads from LevelDB fell from 0.91 to 0.37 per
  /// transaction at ≈ 150,000 records and from 2.03 to 1.43 at ≈ 680,000
  /// when replaced nodes were first dropped (`ledger-cli bench store`,
  /// docs/BENCHMARKS.md).
  /// The only leaf an update stores is a root that is one, too rare to
  /// cache. Testing each node's case also lets it be copied as an internal
  /// node: inserted without the test, every node went through the enum's
  /// generic copy, 2.4–2.6 % of a node's CPU in profiles against 1.4–1.8 %.
  func remember(_ nodes: NewTreeNodes, root: SparseMerkleRoot) {
    cache.insert(
      contentsOf: nodes.lazy.filter { _, node in
        if case .internalNode = node { return true }
        return false
      }.map { (key: $0.hash, value: $0.node) })
    rootVersions.insert(root.hash, root.version)
  }
}

/// A counter shared by copies of a value type, read from any thread.
final class ReadCount: Sendable {
  private let count = Atomic<Int>(0)
  func add() { count.add(1, ordering: .relaxed) }
  var value: Int { count.load(ordering: .relaxed) }
}

