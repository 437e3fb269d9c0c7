/// The LevelDB key layout of a ledger store (docs/OPERATIONS.md, "Data directory").
///
/// Every key starts with a short ASCII prefix naming its table. Heights are
/// 8-byte big-endian so that key order is height order; identifiers never
/// contain `/` or 0x00, so `/` separates the parts of a composite key.
enum StoreKey {
  /// Genesis hash this store was created from (32 bytes).
  static let genesisHash = Array("m/genesis".utf8)
  /// The key layout this store was written with: 7 keeps blocks and tree
  /// nodes (by version) in the height-ordered database, a version's tree
  /// nodes grouped by the first bits of their hashes (`HeightKey.treeNodeGroup`),
  /// and each record once, under its value hash; its internal tree nodes may
  /// name their leaf children (node tag 2), and a record's history has one
  /// entry per block, not per transaction. A leaf is stored on its own only
  /// as a root (its parent names it otherwise). Layouts 3 to 6 are converted
  /// when they open; a store with another layout, or none, is refused, as
  /// builds before layout 7 refuse a layout-7 store.
  static let layout = Array("m/layout".utf8)
  static let currentLayout: [UInt8] = [7]
  /// Layout 6 is layout 7 with a key per tree node (`HeightKey.treeNode`).
  /// Its nodes stay as they are: opening it records the first height whose
  /// nodes are grouped (`groupedNodesFrom`) with the new marker.
  static let keyPerNodeLayout: [UInt8] = [6]
  /// `m/grouped-nodes-from`: 8 bytes, big endian, present only in a store
  /// that reached layout 7 from layout 6 or older; absent, every version's
  /// nodes are grouped.
  static let groupedNodesFrom = Array("m/grouped-nodes-from".utf8)
  /// Layout 5 is layout 6 with one history entry per transaction, and layout
  /// 4 is layout 5 without tag-2 nodes. What they wrote stays readable as it
  /// is, so opening them only writes the layout-6 marker on the way to 7.
  static let markerOnlyLayouts: [[UInt8]] = [[4], [5]]
  /// Layout 3 kept blocks (`b/<height>`) and tree nodes (`n/<version><hash>`)
  /// in this database; such a store moves them to the height-ordered one
  /// (as layout 6) when it opens.
  static let movableLayout: [UInt8] = [3]
  /// The commit marker: the last committed block (`StoreHead`). Written in the
  /// same batch as everything the block changed in this database, and after
  /// its block and tree nodes are durable in the height-ordered one, so it
  /// never runs ahead or behind.
  static let head = Array("m/head".utf8)
  /// The RFC 6962 frontier over all committed block hashes.
  static let historyFrontier = Array("m/history".utf8)

  static let certificatePrefix = Array("c/".utf8)
  static let blockHashPrefix = Array("h/".utf8)
  static let transactionPrefix = Array("t/".utf8)
  /// `j/<id>` (empty value): a transaction committed as rejected. Every other
  /// committed transaction advanced its signer's sequence past its own, so
  /// admission needs the `t/` lookup only below that sequence or for these.
  static let rejectedTransactionPrefix = Array("j/".utf8)
  /// Present (value `[1]`) once `j/` covers every rejected transaction in `t/`:
  /// written with genesis, or by the one-time backfill of an older store.
  static let rejectedIndex = Array("m/rejected-index".utf8)
  static let recordPrefix = Array("r/".utf8)
  static let recordValuePrefix = Array("v/".utf8)
  static let recordHistoryPrefix = Array("x/".utf8)
  static let directoriesByBureauPrefix = Array("i/dir-bureau/".utf8)
  static let directoriesByShareTypePrefix = Array("i/dir-share/".utf8)
  static let grantsByGrantorPrefix = Array("i/grant-grantor/".utf8)
  static let grantsByGranteePrefix = Array("i/grant-grantee/".utf8)
  static let grantsByDirectoryPrefix = Array("i/grant-dir/".utf8)
  static let attestationsByDataPrefix = Array("i/attest-data/".utf8)
  static let sharesByDataPrefix = Array("i/share-data/".utf8)
  /// `m/vset/<height>`: the first height certified by a new validator set (proof bundles list these).
  static let validatorTransitionPrefix = Array("m/vset/".utf8)
  static func validatorTransition(_ height: UInt64) -> [UInt8] { validatorTransitionPrefix + bigEndian(height) }

  static func certificate(_ height: UInt64) -> [UInt8] { certificatePrefix + bigEndian(height) }
  static func blockHash(_ height: UInt64) -> [UInt8] { blockHashPrefix + bigEndian(height) }
  static func transaction(_ id: Hash256) -> [UInt8] { built { transaction(id, into: &$0) } }
  static func rejectedTransaction(_ id: Hash256) -> [UInt8] { built { rejectedTransaction(id, into: &$0) } }
  static func record(_ key: RecordKey) -> [UInt8] { built { record(key, into: &$0) } }
  static func recordValue(_ valueHash: Hash256) -> [UInt8] { built { recordValue(valueHash, into: &$0) } }

  /// `x/<record path> 0x00`: what every history entry of the record starts with.
  static func recordHistory(_ key: RecordKey) -> [UInt8] { built { recordHistory(key, into: &$0) } }
  /// `x/<record path> 0x00 <height>`: the transactions of block `height` that
  /// wrote the record (`RecordHistory`). Layout 5 and older wrote one key per
  /// transaction, `<height> <index>`; those are read as they are.
  static func recordHistory(_ key: RecordKey, height: UInt64) -> [UInt8] {
    built { recordHistory(key, height: height, into: &$0) }
  }

  // The same keys written over a buffer the caller keeps: a block's commit
  // builds ≈ 8 keys per transaction, and building each as a new array (from
  // two or three others) was most of the commit's allocations.

  static func transaction(_ id: Hash256, into key: inout [UInt8]) { write(transactionPrefix, id, into: &key) }
  static func rejectedTransaction(_ id: Hash256, into key: inout [UInt8]) {
    write(rejectedTransactionPrefix, id, into: &key)
  }
  static func record(_ recordKey: RecordKey, into key: inout [UInt8]) { write(recordPrefix, recordKey, into: &key) }
  static func recordValue(_ valueHash: Hash256, into key: inout [UInt8]) {
    write(recordValuePrefix, valueHash, into: &key)
  }
  static func recordHistory(_ recordKey: RecordKey, into key: inout [UInt8]) {
    write(recordHistoryPrefix, recordKey, into: &key)
    key.append(0)
  }
  static func recordHistory(_ recordKey: RecordKey, height: UInt64, into key: inout [UInt8]) {
    recordHistory(recordKey, into: &key)
    appendBigEndian(height, to: &key)
  }

  private static func write(_ prefix: [UInt8], _ digest: Hash256, into key: inout [UInt8]) {
    key.removeAll(keepingCapacity: true)
    key.append(contentsOf: prefix)
    digest.withUnsafeBytes { key.append(contentsOf: $0) }
  }

  private static func write(_ prefix: [UInt8], _ recordKey: RecordKey, into key: inout [UInt8]) {
    key.removeAll(keepingCapacity: true)
    key.append(contentsOf: prefix)
    recordKey.withPathBytes { key.append(contentsOf: $0) }
  }

  private static func built(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
    var key: [UInt8] = []
    write(&key)
    return key
  }

  /// `prefix`, then each part followed by `/`. Written straight into one
  /// buffer: every index key of a block's changes was built by way of a
  /// joined String and three arrays.
  static func joined(_ prefix: [UInt8], _ parts: [String]) -> [UInt8] {
    var key = prefix
    key.reserveCapacity(prefix.count + parts.reduce(0) { $0 + $1.utf8.count + 1 })
    for part in parts {
      key.append(contentsOf: part.utf8)
      key.append(UInt8(ascii: "/"))
    }
    return key
  }

  static func bigEndian(_ value: UInt64) -> [UInt8] {
    var bytes: [UInt8] = []
    appendBigEndian(value, to: &bytes)
    return bytes
  }
  static func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
  }
  static func bigEndian32(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
  }
  static func readBigEndian(_ bytes: some Collection<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
}

/// Keys of the height-ordered database (`by-height/` in the store's
/// directory): what each height adds and nothing ever changes, each key
/// beginning with that height. Every table LevelDB flushes there then sorts
/// after all older ones, so compaction moves it down the levels without
/// rewriting it, and a read of an old node searches one table per level.
enum HeightKey {
  static let blockTag = UInt8(ascii: "b")
  /// `<version> n <hash>`: one tree node per key, as layout 6 and older
  /// stored them (and as their versions stay).
  static let treeNodeTag = UInt8(ascii: "n")
  /// `<version> g <group>`: the tree nodes a version stored whose hashes
  /// begin with the same `treeNodeGroupBits` bits (`LevelDBSparseMerkleNodes`).
  static let treeNodeGroupTag = UInt8(ascii: "g")
  /// 2,048 groups: a block of 5,000 transactions stores ≈ 21,000 nodes, ≈ 10
  /// to a group, where a key per node made LevelDB insert, log and sort
  /// 4.3 keys per transaction; a version of fewer than ≈ 2,000 nodes still
  /// has about one node to a group.
  static let treeNodeGroupBits = 11
  static let treeNodeGroupCount = 1 << treeNodeGroupBits

  static func block(_ height: UInt64) -> [UInt8] { StoreKey.bigEndian(height) + [blockTag] }
  static func treeNode(_ hash: Hash256, version: UInt64) -> [UInt8] {
    StoreKey.bigEndian(version) + [treeNodeTag] + hash.bytes
  }
  /// The group of a node: the first `treeNodeGroupBits` bits of its hash.
  static func treeNodeGroup(of hash: Hash256) -> Int {
    hash.withUnsafeBytes { (Int($0[0]) << 8 | Int($0[1])) >> (16 - treeNodeGroupBits) }
  }
  /// The key of the group that holds `hash` among the nodes of `version`.
  static func treeNodeGroup(holding hash: Hash256, version: UInt64) -> [UInt8] {
    var key = StoreKey.bigEndian(version) + [treeNodeGroupTag, 0, 0]
    setTreeNodeGroup(treeNodeGroup(of: hash), in: &key)
    return key
  }
  /// Turns a group key into the key of `group` in the same version: a
  /// commit writes a block's groups through one key buffer.
  static func setTreeNodeGroup(_ group: Int, in key: inout [UInt8]) {
    key[key.count - 2] = UInt8(group >> 8)
    key[key.count - 1] = UInt8(truncatingIfNeeded: group)
  }
  /// The first key of `height`: everything from here on was written at or above it.
  static func start(of height: UInt64) -> [UInt8] { StoreKey.bigEndian(height) }
}
