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
  /// The block's canonical bytes and where each transaction's bytes sit in
  /// them, when known without encoding again: kept from the wire when the block was
  /// decoded, or made once by `encoded()` for a block about to be sent,
  /// logged and stored. A proposal is thousands of transactions, and each
  /// node otherwise encoded it again to store it and to check its root.
  /// Derived from the two fields above, so never compared, hashed or serialized.
  private var encoding: Encoding?

  private struct Encoding: Sendable {
    let bytes: [UInt8]
    let transactionRanges: [Range<Int>]
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
    var body = CanonicalWriter(capacity: 1_024)
    let bodyRanges = Self.write(transactions, to: &body)
    return Self.keeping(header: header, transactions: transactions, body: body.bytes, at: bodyRanges)
  }

  /// A new block whose transactions are encoded once, both for the header's
  /// `transactionsRoot` (handed to `makeHeader`) and for the block's bytes.
  /// A proposer otherwise encoded a block of thousands of transactions twice.
  public static func encoded(
    transactions: [SignedTransaction], header makeHeader: (_ transactionsRoot: Hash256) -> BlockHeader
  ) -> Block {
    var body = CanonicalWriter(capacity: 1_024)
    let bodyRanges = write(transactions, to: &body)
    let header = makeHeader(transactionsRoot(of: body.bytes, at: bodyRanges))
    return keeping(header: header, transactions: transactions, body: body.bytes, at: bodyRanges)
  }

  /// The block with its canonical bytes: the header's, then `body` (the
  /// transaction list as `write` made it, its transactions at `bodyRanges`).
  private static func keeping(
    header: BlockHeader, transactions: [SignedTransaction], body: [UInt8], at bodyRanges: [Range<Int>]
  ) -> Block {
    var headerWriter = CanonicalWriter()
    headerWriter.write(header)
    let offset = headerWriter.bytes.count
    // Kept for as long as the block: at its own size, not the capacity the writers grew to.
    var bytes: [UInt8] = []
    bytes.reserveCapacity(offset + body.count)
    bytes.append(contentsOf: headerWriter.bytes)
    bytes.append(contentsOf: body)
    var block = Block(header: header, transactions: transactions)
    block.encoding = Encoding(
      bytes: bytes, transactionRanges: bodyRanges.map { $0.lowerBound + offset..<$0.upperBound + offset })
    return block
  }

  public func encode(to writer: inout CanonicalWriter) {
    if let encoding {
      writer.write(encoded: encoding.bytes)
      return
    }
    writer.write(header)
    _ = Self.write(transactions, to: &writer)
  }

  /// Writes the transaction list (its count, then each transaction's length
  /// and canonical bytes) and returns where each transaction's bytes sit.
  private static func write(_ transactions: [SignedTransaction], to writer: inout CanonicalWriter) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    ranges.reserveCapacity(transactions.count)
    writer.write(array: transactions) { writer, transaction in
      // The length is known before the bytes, so each is encoded in place.
      writer.write(varint: transaction.encodedByteCount)
      let start = writer.bytes.count
      transaction.encode(to: &writer)
      precondition(
        writer.bytes.count - start == transaction.encodedByteCount, "a transaction re-encoded to another length")
      ranges.append(start..<writer.bytes.count)
    }
    return ranges
  }

  /// RFC 6962 root over the transactions at `ranges` of `bytes`.
  private static func transactionsRoot(of bytes: [UInt8], at ranges: [Range<Int>]) -> Hash256 {
    let leafHashes = bytes.withUnsafeBytes { bytes in
      ranges.map { MerkleTree.leafHash(UnsafeRawBufferPointer(rebasing: bytes[$0])) }
    }
    return MerkleTree.root(leafHashes: leafHashes)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let start = reader.offset
    let header = try reader.read(BlockHeader.self, "header")
    let expectedCount = Int(header.transactionCount)
    var transactionRanges: [Range<Int>] = []
    transactionRanges.reserveCapacity(expectedCount)
    transactions = try reader.read(array: "transactions", count: expectedCount...expectedCount) {
      (reader) throws(FormatError) in
      let range = try reader.read(byteRange: "", limit: Limits.transactionBytesMax)
      transactionRanges.append(range.lowerBound - start..<range.upperBound - start)
      return try SignedTransaction(canonicalBytes: Array(reader.bytes[range]))
    }
    self.header = header
    // A block read on its own (from the store) is the whole input: kept without a copy.
    let bytes = start == 0 && reader.remaining == 0 ? reader.bytes : Array(reader.bytes[start..<reader.offset])
    encoding = Encoding(bytes: bytes, transactionRanges: transactionRanges)
  }

  /// The root over this block's transactions (what `header.transactionsRoot`
  /// must be), hashed from the kept bytes when there are some.
  public var transactionsRoot: Hash256 {
    guard let encoding else { return Self.transactionsRoot(transactions) }
    return Self.transactionsRoot(of: encoding.bytes, at: encoding.transactionRanges)
  }

  /// RFC 6962 root over the canonical transaction bytes.
  public static func transactionsRoot(_ transactions: [SignedTransaction]) -> Hash256 {
    var writer = CanonicalWriter(capacity: 1_024)
    let ranges = write(transactions, to: &writer)
    return transactionsRoot(of: writer.bytes, at: ranges)
  }
}
