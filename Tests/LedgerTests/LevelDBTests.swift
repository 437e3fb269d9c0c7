import Foundation
import Testing

@testable import Ledger

func temporaryDirectory(_ label: String) -> String {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
  try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

@Suite("LevelDB storage")
struct LevelDBTests {
  @Test("a write batch lands whole and survives reopening")
  func batchAndReopen() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    do {
      let database = try LevelDB(path: path)
      let batch = WriteBatch()
      for n in 0..<100 { batch.put(Array("k/\(n)".utf8), Array("v\(n)".utf8)) }
      batch.put(Array("other".utf8), [1])
      try database.write(batch)
    }
    let reopened = try LevelDB(path: path)
    #expect(try reopened.get(Array("k/42".utf8)) == Array("v42".utf8))
    #expect(try reopened.get(Array("k/100".utf8)) == nil)
    let scanned = reopened.scan(prefix: Array("k/".utf8), limit: 1_000)
    #expect(scanned.count == 100)
    #expect(reopened.scan(prefix: Array("k/".utf8), limit: 7).count == 7)
  }

  @Test("a batch applied in key order keeps the last write to each key, whatever order it was built in")
  func keyOrderedBatches() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let database = try LevelDB(path: path)
    let seed = WriteBatch()
    for key in ["deleted-then-put", "put-then-deleted"] { seed.put(Array(key.utf8), Array("old".utf8)) }
    try database.write(seed)
    let batch = WriteBatch()
    // Keys that share their first 16 bytes (ordered past the sort's cached
    // heads), keys that are prefixes of others, and one key written thrice.
    let shared = "0123456789abcdef-shared-"
    for n in (0..<300).reversed() { batch.put(Array("\(shared)\(n)".utf8), Array("v\(n)".utf8)) }
    batch.put(Array("ab".utf8), [1])
    batch.put(Array("a".utf8), [2])
    batch.put(Array("ab\u{0}".utf8), [3])
    batch.put(Array("thrice".utf8), Array("first".utf8))
    batch.delete(Array("deleted-then-put".utf8))
    batch.put(Array("thrice".utf8), Array("second".utf8))
    batch.put(Array("put-then-deleted".utf8), Array("new".utf8))
    batch.put(Array("deleted-then-put".utf8), Array("new".utf8))
    batch.delete(Array("put-then-deleted".utf8))
    batch.put(Array("thrice".utf8), Array("third".utf8))
    try database.write(batch)
    #expect(try database.get(Array("thrice".utf8)) == Array("third".utf8))
    #expect(try database.get(Array("deleted-then-put".utf8)) == Array("new".utf8))
    #expect(try database.get(Array("put-then-deleted".utf8)) == nil)
    #expect(try database.get(Array("a".utf8)) == [2])
    #expect(try database.get(Array("ab".utf8)) == [1])
    #expect(try database.get(Array("ab\u{0}".utf8)) == [3])
    let scanned = database.scan(prefix: Array(shared.utf8), limit: 1_000)
    #expect(scanned.count == 300)
    for (key, value) in scanned {
      let n = String(decoding: key.dropFirst(shared.utf8.count), as: UTF8.self)
      #expect(value == Array("v\(n)".utf8))
    }
  }

  @Test("a batch cleared and filled again writes only its new records, however much its buffers grew")
  func reusedBatches() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let database = try LevelDB(path: path)
    let batch = WriteBatch()
    batch.put(Array("first/a".utf8), Array("1".utf8))
    batch.put(Array("first/empty".utf8), [])
    #expect(batch.count == 2)
    try database.write(batch)
    batch.clear()
    #expect(batch.count == 0)
    // Far more than the first fill, so the batch's bytes move while records
    // are added; keys arrive in descending order and one is written twice.
    for n in (0..<5_000).reversed() {
      batch.put(Array("second/\(n)".utf8), [UInt8](repeating: UInt8(n % 251), count: 200 + n % 300))
    }
    batch.put(Array("second/17".utf8), Array("again".utf8))
    batch.delete(Array("first/a".utf8))
    #expect(batch.count == 5_002)
    try database.write(batch)
    // Added to after a write and written again: the newest record for a key still wins.
    batch.put(Array("second/17".utf8), Array("third".utf8))
    try database.write(batch)
    #expect(try database.get(Array("first/a".utf8)) == nil)
    #expect(try database.get(Array("first/empty".utf8)) == [])
    #expect(try database.get(Array("second/17".utf8)) == Array("third".utf8))
    #expect(
      try database.get(Array("second/4999".utf8)) == [UInt8](repeating: UInt8(4_999 % 251), count: 200 + 4_999 % 300))
    let scanned = database.scan(prefix: Array("second/".utf8), limit: 10_000)
    #expect(scanned.count == 5_000)
    for (key, value) in scanned where key != Array("second/17".utf8) {
      let n = Int(String(decoding: key.dropFirst("second/".utf8.count), as: UTF8.self))!
      #expect(value == [UInt8](repeating: UInt8(n % 251), count: 200 + n % 300), "\(n)")
    }
    // An empty batch writes nothing and fails nothing.
    batch.clear()
    try database.write(batch)
    #expect(database.scan(prefix: Array("first/".utf8), limit: 10).count == 1)
  }

  @Test("tables written in gathered pieces hold every byte, through flushes, compaction and reopening")
  func gatheredTableWrites() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    // Values of 1–3 KiB under scattered keys, so tables end mid-piece and
    // mid-page; a 64 KiB memtable, so ~6 MB become dozens of level-0 tables.
    func value(_ n: Int) -> [UInt8] {
      let hash = SHA256.hash(Array("value \(n)".utf8)).bytes
      return (0..<(1_024 + n % 2_048)).map { hash[$0 % 32] &+ UInt8(truncatingIfNeeded: $0 / 32) }
    }
    func key(_ n: Int) -> [UInt8] { Array("t/".utf8) + SHA256.hash(Array("key \(n)".utf8)).bytes }
    let count = 3_000
    do {
      let database = try LevelDB(path: path, cacheBytes: 1 << 20, writeBufferBytes: 64 << 10)
      for start in stride(from: 0, to: count, by: 50) {
        let batch = WriteBatch()
        for n in start..<(start + 50) { batch.put(key(n), value(n)) }
        try database.write(batch)
      }
      database.compact(prefix: Array("t/".utf8))
    }
    let tables = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".ldb") }
    #expect(tables.count > 1, "the data went through table files, not only the log")
    let reopened = try LevelDB(path: path)
    for n in 0..<count { #expect(try reopened.get(key(n)) == value(n), "key \(n)") }
    #expect(reopened.scan(prefix: Array("t/".utf8), limit: count + 1).count == count)
  }

  @Test("the two-generation cache takes many entries at once, in chunks, as if one by one")
  func twoGenerationCacheBatches() {
    let batched = TwoGenerationCache<Int, Int>(capacity: 8)
    let single = TwoGenerationCache<Int, Int>(capacity: 8)
    batched.insert(contentsOf: (0..<10).map { (key: $0, value: $0 * 10) }, chunk: 3)
    for key in 0..<10 { single.insert(key, key * 10) }
    let kept = (0..<10).filter { batched.value($0) != nil }
    #expect(kept == (0..<10).filter { single.value($0) != nil })
    #expect(kept.count <= 8)
    #expect(batched.value(9) == 90)
    batched.insert(contentsOf: [(key: Int, value: Int)](), chunk: 3)
    #expect(batched.value(9) == 90, "an empty batch changes nothing")
  }

  @Test("the two-generation cache keeps recent and recently read entries, and at most its capacity")
  func twoGenerationCache() {
    let cache = TwoGenerationCache<Int, String>(capacity: 4)
    cache.insert(1, "one")
    cache.insert(2, "two")
    cache.insert(3, "three")  // the young generation was full: 1 and 2 age
    #expect(cache.value(1) == "one")  // read back from the old generation into the young one
    cache.insert(4, "four")  // ages 3 and 1; 2, never read again, is dropped
    #expect(cache.value(2) == nil)
    #expect(cache.value(1) == "one")
    #expect(cache.value(3) == "three")
    #expect(cache.value(4) == "four")
    // Generations are recycled many times over: still bounded, still the newest.
    for key in 100..<1_000 { cache.insert(key, "\(key)") }
    let held = (0..<1_000).filter { cache.value($0) != nil }
    #expect(held.count <= 4)
    #expect(cache.value(999) == "999")
    #expect(cache.value(998) == "998")
  }

  @Test("an entry taken from the two-generation cache, young or old, is returned once and leaves room")
  func twoGenerationCacheTake() {
    let cache = TwoGenerationCache<Int, String>(capacity: 4)
    cache.insert(1, "one")
    cache.insert(2, "two")
    cache.insert(3, "three")  // 1 and 2 age
    #expect(cache.take(1) == "one", "from the old generation")
    #expect(cache.take(3) == "three", "from the young generation")
    #expect(cache.take(1) == nil && cache.take(3) == nil && cache.value(1) == nil)
    #expect(cache.take(7) == nil, "absent")
    // The young generation is empty again: two inserts fit without aging 2 out.
    cache.insert(4, "four")
    cache.insert(5, "five")
    #expect(cache.value(2) == "two")
  }

  @Test("a second open of the same directory fails instead of sharing it")
  func exclusiveLock() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let first = try LevelDB(path: path)
    #expect(throws: LevelDB.Failure.self) { try LevelDB(path: path) }
    _ = first
  }

  @Test("the sparse Merkle tree persists in LevelDB and serves proofs for old roots after reopening")
  func sparseTreeOnDisk() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    var roots: [Hash256] = []
    do {
      let database = try LevelDB(path: path)
      let tree = SparseMerkleTree(source: LevelDBSparseMerkleNodes(database: database))
      var root = Hash256.zero
      for version in 0..<5 {
        var changes: [Hash256: Hash256?] = [:]
        for n in 0..<100 { changes[SHA256.hash([UInt8(n)])] = SHA256.hash([UInt8(n), UInt8(version)]) }
        let (newRoot, nodes) = try tree.update(root: root, changes, version: UInt64(version))
        let batch = WriteBatch()
        LevelDBSparseMerkleNodes.add(nodes, version: UInt64(version), root: newRoot, to: batch)
        try database.write(batch)
        root = newRoot.hash
        roots.append(root)
      }
    }
    let tree = SparseMerkleTree(source: LevelDBSparseMerkleNodes(database: try LevelDB(path: path)))
    for (version, root) in roots.enumerated() {
      let key = SHA256.hash([7])
      let proof = try tree.proof(root: root, key: key)
      #expect(proof.verify(root: root, key: key, valueHash: SHA256.hash([7, UInt8(version)])))
    }
  }

  @Test(
    "a tree node whose stored bytes do not hash to its entry's hash, or a group cut inside an entry, is reported as corrupt, not used"
  )
  func tamperedNode() throws {
    let path = temporaryDirectory("leveldb")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let database = try LevelDB(path: path)
    let writer = SparseMerkleTree(source: LevelDBSparseMerkleNodes(database: database))
    var changes: [Hash256: Hash256?] = [:]
    for n in 0..<20 { changes[SHA256.hash([UInt8(n)])] = SHA256.hash([UInt8(n), 1]) }
    let (root, nodes) = try writer.update(root: .zero, changes, version: 1)
    let batch = WriteBatch()
    LevelDBSparseMerkleNodes.add(nodes, version: 1, root: root, to: batch)
    try database.write(batch)
    let rootGroup = HeightKey.treeNodeGroup(holding: root.hash, version: 1)
    // Another well-formed node's bytes as the root's entry: it decodes, but
    // hashes differently. Then a group that ends inside its entry.
    let other = try #require(nodes.first { $0.hash != root.hash }?.node).canonicalBytes
    let wrongNode = root.hash.bytes + [UInt8(other.count)] + other
    for group in [wrongNode, Array(wrongNode.dropLast())] {
      let tampered = WriteBatch()
      tampered.put(rootGroup, group)
      try database.write(tampered)
      // A fresh source, so the node comes from the disk and not from the cache.
      let reader = SparseMerkleTree(source: LevelDBSparseMerkleNodes(database: database))
      #expect {
        _ = try reader.proof(root: root.hash, key: SHA256.hash([3]))
      } throws: { ($0 as? StoreError)?.code == "store.corrupt" }
    }
  }
}
