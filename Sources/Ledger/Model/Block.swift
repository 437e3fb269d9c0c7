/// A block header. Its hash — `taggedHash("dirledger/block", canonical header)`
/// — is what validators vote on and what certificates cover.
public struct BlockHeader: Hashable, Sendable, Codable, CanonicalCodable {
  public static let currentVersion: UInt8 = 1

  public var chainId: String
  /// 0 is the genesis block.
  public var height: UInt64
  /// Block time, Unix milliseconds, set by the proposer; never decreases.
  public var timeMs: UInt64
  /// Hash of the block at `height - 1`; zero for genesis.
  public var previousHash: Hash256
  /// RFC 6962 root over the hashes of all blocks before this one (heights
  /// 0..<height), so one certified header proves every earlier header.
  public var historyRoot: Hash256
  /// RFC 6962 root over the canonical bytes of the block's transactions.
  public var transactionsRoot: Hash256
  public var transactionCount: UInt32
  /// RFC 6962 root over the canonical per-transaction results.
  public var resultsRoot: Hash256
  /// Sparse Merkle root of the state after executing this block.
  public var stateRoot: Hash256
  /// Digest of the validator set that certifies this block.
  public var validatorSetHash: Hash256
  /// Node key of the primary that proposed the block.
  public var proposer: PublicKey

  public init(
    chainId: String, height: UInt64, timeMs: UInt64, previousHash: Hash256, historyRoot: Hash256,
    transactionsRoot: Hash256, transactionCount: UInt32, resultsRoot: Hash256, stateRoot: Hash256,
    validatorSetHash: Hash256, proposer: PublicKey
  ) {
    self.chainId = chainId
    self.height = height
    self.timeMs = timeMs
    self.previousHash = previousHash
    self.historyRoot = historyRoot
    self.transactionsRoot = transactionsRoot
    self.transactionCount = transactionCount
    self.resultsRoot = resultsRoot
    self.stateRoot = stateRoot
    self.validatorSetHash = validatorSetHash
    self.proposer = proposer
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: Self.currentVersion)
    writer.write(string: chainId)
    writer.write(u64: height)
    writer.write(u64: timeMs)
    writer.write(hash: previousHash)
    writer.write(hash: historyRoot)
    writer.write(hash: transactionsRoot)
    writer.write(u32: transactionCount)
    writer.write(hash: resultsRoot)
    writer.write(hash: stateRoot)
    writer.write(hash: validatorSetHash)
    writer.write(publicKey: proposer)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let version = try reader.read(u8: "version")
    guard version == Self.currentVersion else {
      throw FormatError(field: "version", reason: .unsupportedVersion(version))
    }
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    height = try reader.read(u64: "height")
    timeMs = try reader.read(u64: "timeMs")
    previousHash = try reader.read(hash: "previousHash")
    historyRoot = try reader.read(hash: "historyRoot")
    transactionsRoot = try reader.read(hash: "transactionsRoot")
    transactionCount = try reader.read(u32: "transactionCount")
    guard transactionCount <= Limits.blockTransactionCountMax else {
      throw FormatError(
        field: "transactionCount",
        reason: .lengthOverLimit(length: UInt64(transactionCount), limit: Limits.blockTransactionCountMax))
    }
    resultsRoot = try reader.read(hash: "resultsRoot")
    stateRoot = try reader.read(hash: "stateRoot")
    validatorSetHash = try reader.read(hash: "validatorSetHash")
    proposer = try reader.read(publicKey: "proposer")
  }

  public var hash: Hash256 { TaggedHash.hash(.blockHeader, canonicalBytes) }
}

/// A header and its transactions. Each transaction is carried as a
/// length-prefixed byte string holding its canonical encoding, so the
/// transactions root is computed over exactly the bytes on the wire.
public struct Block: Hashable, Sendable, Codable, CanonicalCodable {
  public var header: BlockHeader { didSet { encoding = nil } }
  public var transactions: [SignedTransaction] { didSet { encoding = nil } }
  /// The block's canonical bytes, when known without encoding again: kept
  /// from the wire when the block was decoded, or made once by `encoded()`
  /// for a block about to be sent, logged and stored. A proposal is
  /// thousands of transactions, and each node otherwise encoded it again to store it.
  /// Derived from the two fields above, so never compared, hashed or serialized.
  private var encoding: Encoding?

  private struct Encoding: Sendable {
    let bytes: [UInt8]
  }

  private enum CodingKeys: String, CodingKey { case header, transactions }

  public init(header: BlockHeader, transactions: [SignedTransaction]) {
    self.header = header
    self.transactions = transactions
  }

  public static func == (lhs: Block, rhs: Block) -> Bool {
    lhs.header == rhs.header && lhs.transactions == rhs.transactions
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(header)
    hasher.combine(transactions)
  }

  /// This block with its canonical bytes made now, once, for every later
  /// use (the proposal frame, the consensus log, the store).
  public func encoded() -> Block {
    guard encoding == nil else { return self }
    // Kept for as long as the block, so sized up front: the header, and each
    // transaction's bytes behind a length prefix of at most 3 bytes (≤ 64 KiB).
    let headerBytes = header.canonicalBytes
    var writer = CanonicalWriter(
      capacity: headerBytes.count + 5 + transactions.reduce(0) { $0 + 3 + $1.encodedByteCount })
    writer.write(encoded: headerBytes)
    writer.write(transactionList: transactions)
    var block = self
    block.encoding = Encoding(bytes: writer.bytes)
    return block
  }

  public func encode(to writer: inout CanonicalWriter) {
    if let encoding {
      writer.write(encoded: encoding.bytes)
      return
    }
    writer.write(header)
    writer.write(transactionList: transactions)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let start = reader.offset
    let header = try reader.read(BlockHeader.self, "header")
    let expectedCount = Int(header.transactionCount)
    let known = reader.knownTransactions
    transactions = try reader.read(array: "transactions", count: expectedCount...expectedCount) {
      (reader) throws(FormatError) in
      let range = try reader.read(byteRange: "", limit: Limits.transactionBytesMax)
      var leafHash: Hash256?
      if let known {
        let hash = reader.bytes.withUnsafeBytes { MerkleTree.leafHash(UnsafeRawBufferPointer(rebasing: $0[range])) }
        // Equal leaf hashes mean equal bytes, which decode to an equal transaction.
        if let transaction = known.transaction(leafHash: hash) { return transaction }
        leafHash = hash
      }
      // Each element must be one whole transaction: decoded from its own bytes, which it must use up.
      var element = CanonicalReader(Array(reader.bytes[range]))
      let transaction = try SignedTransaction(from: &element, leafHash: leafHash)
      try element.finish()
      return transaction
    }
    self.header = header
    // A block read on its own (from the store) is the whole input: kept without a copy.
    let bytes = start == 0 && reader.remaining == 0 ? reader.bytes : Array(reader.bytes[start..<reader.offset])
    encoding = Encoding(bytes: bytes)
  }

  /// The root over this block's transactions (what `header.transactionsRoot`
  /// must be), from the leaf hashes each transaction keeps.
  public var transactionsRoot: Hash256 { Self.transactionsRoot(transactions) }

  /// RFC 6962 root over the canonical transaction bytes.
  public static func transactionsRoot(_ transactions: [SignedTransaction]) -> Hash256 {
    MerkleTree.root(leafHashes: transactions.map(\.leafHash))
  }
}

/// Transactions this process has already decoded, found by their leaf hash
/// (`SignedTransaction.leafHash`): a node's pending transactions, and the
/// forwarded ones queued for their checks. A proposal carries thousands that
/// each backup decoded when they were forwarded to it.
public protocol KnownTransactions: AnyObject, Sendable {
  func transaction(leafHash: Hash256) -> SignedTransaction?
}

extension CanonicalWriter {
  /// A list of transactions as a block carries them (docs/FORMAT.md §5), and
  /// as a batch is submitted in canonical bytes: the count, then each
  /// transaction's length and canonical bytes.
  public mutating func write(transactionList transactions: [SignedTransaction]) {
    write(array: transactions) { writer, transaction in
      // The length is known before the bytes, so each is encoded in place.
      writer.write(varint: transaction.encodedByteCount)
      let start = writer.bytes.count
      transaction.encode(to: &writer)
      precondition(
        writer.bytes.count - start == transaction.encodedByteCount, "a transaction re-encoded to another length")
    }
  }
}
