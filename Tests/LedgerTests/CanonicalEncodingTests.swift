import Foundation
import Testing

@testable import Ledger

/// Randomised tests replay exactly from their seed.
typealias SeededGenerator = SplitMix64

/// Decodes bytes as the message type a FORMAT.md vector name denotes, and
/// returns its canonical re-encoding.
func decodeAndReencode(_ name: String, _ bytes: [UInt8]) throws(FormatError) -> [UInt8] {
  switch name {
  case _ where name.hasPrefix("transaction/"): try SignedTransaction(canonicalBytes: bytes).canonicalBytes
  case "blockHeader": try BlockHeader(canonicalBytes: bytes).canonicalBytes
  case "block": try Block(canonicalBytes: bytes).canonicalBytes
  case "vote": try Vote(canonicalBytes: bytes).canonicalBytes
  case "commitCertificate": try CommitCertificate(canonicalBytes: bytes).canonicalBytes
  case "validatorSet": try ValidatorSet(canonicalBytes: bytes).canonicalBytes
  default: preconditionFailure("no decoder for vector \(name)")
  }
}

@Suite("Canonical encoding")
struct CanonicalEncodingTests {
  static let examples = FormatExamples.vectors

  @Test("there is an example of every transaction kind")
  func everyKind() {
    #expect(FormatExamples.transactions.map(\.kind) == Payload.Kind.allCases)
  }

  @Test("every example decodes and re-encodes byte for byte")
  func roundTrip() throws {
    for (name, bytes) in Self.examples {
      #expect(try decodeAndReencode(name, bytes) == bytes, "\(name)")
    }
    for (_, transaction) in FormatExamples.transactions {
      let decoded = try SignedTransaction(canonicalBytes: transaction.canonicalBytes)
      #expect(decoded == transaction)
      #expect(decoded.id == transaction.body.id)
      #expect(decoded.signaturesAreValid)
    }
  }

  @Test("a transaction's size is known without encoding it again, however it was made")
  func encodedByteCount() throws {
    for (_, transaction) in FormatExamples.transactions {
      let bytes = transaction.canonicalBytes
      #expect(transaction.encodedByteCount == bytes.count)
      #expect(try SignedTransaction(canonicalBytes: bytes).encodedByteCount == bytes.count)
      let fromJSON = try JSONDecoder().decode(SignedTransaction.self, from: JSONEncoder().encode(transaction))
      #expect(fromJSON.encodedByteCount == bytes.count)
    }
  }

  @Test("signatures are encoded in key order whatever order they were given in")
  func signatureOrder() throws {
    let keys = ["BJ-GAJ", "BJ-RSJ", "BJ-ZJW"].map(Devnet.operatorKey)
    let body = FormatExamples.transactions[0].transaction.body
    let forward = SignedTransaction(body: body, signedBy: keys)
    // Signing draws fresh randomness: the same signatures, given the other way round.
    let backward = SignedTransaction(body: body, signatures: forward.signatures.reversed())
    #expect(forward.canonicalBytes == backward.canonicalBytes)
    #expect(forward.signatures.map(\.publicKey) == keys.map(\.publicKey).sorted())
    let decoded = try SignedTransaction(canonicalBytes: backward.canonicalBytes)
    #expect(decoded == forward)
    #expect(decoded.encodedByteCount == forward.encodedByteCount)
  }

  @Test("transactions survive a JSON round trip unchanged")
  func jsonRoundTrip() throws {
    for (_, transaction) in FormatExamples.transactions {
      let json = try JSONEncoder().encode(transaction)
      let decoded = try JSONDecoder().decode(SignedTransaction.self, from: json)
      #expect(decoded == transaction)
      #expect(decoded.canonicalBytes == transaction.canonicalBytes)
    }
  }

  @Test("JSON names the type and keeps the fields flat")
  func jsonShape() throws {
    let (_, transaction) = FormatExamples.transactions.first { $0.kind == .publishDirectory }!
    let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(transaction.body)) as! [String: Any]
    let payload = object["payload"] as! [String: Any]
    #expect(payload["type"] as? String == "publishDirectory")
    #expect(payload["title"] as? String == "常住人口基本信息")
    #expect(payload["shareType"] as? String == "conditional")
  }

  @Test("every proper prefix of every example is refused as truncated")
  func truncation() {
    for (name, bytes) in Self.examples {
      for length in 0..<bytes.count {
        do {
          _ = try decodeAndReencode(name, Array(bytes.prefix(length)))
          Issue.record("\(name) prefix of \(length) bytes decoded")
        } catch {
          // Dropping the tail of a length-prefixed field may also surface as a count or length error.
          #expect(
            ["format.truncated", "format.count_out_of_range", "format.length_over_limit"].contains(error.code),
            "\(name) @\(length): \(error)")
        }
      }
    }
  }

  @Test("a trailing byte is refused")
  func trailingBytes() {
    for (name, bytes) in Self.examples {
      #expect(throws: FormatError(field: "", reason: .trailingBytes(count: 1))) {
        try decodeAndReencode(name, bytes + [0])
      }
    }
  }

  @Test("random corruption never traps, and whatever decodes is canonical")
  func corruption() {
    let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? 20_261_122
    var random = SeededGenerator(seed: seed)
    var decodedCount = 0
    for _ in 0..<3_000 {
      let (name, original) = Self.examples.randomElement(using: &random)!
      var bytes = original
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        switch Int.random(in: 0..<3, using: &random) {
        case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 1:
          bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
        default: if bytes.count > 1 { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random)) }
        }
      }
      if let reencoded = try? decodeAndReencode(name, bytes) {
        decodedCount += 1
        #expect(reencoded == bytes, "seed \(seed): a non-canonical \(name) was accepted")
      }
    }
    // Most single-byte changes inside text, hashes and signatures still decode.
    #expect(decodedCount > 100)
  }

  // MARK: - Errors name the field

  static func transactionBytes(_ payload: Payload, chainId: String = FormatExamples.chainId) -> [UInt8] {
    let body = TransactionBody(
      chainId: chainId, signer: FormatExamples.publicSecurityOperator.publicKey, sequence: 1, payload: payload)
    return SignedTransaction(body: body, signedBy: [FormatExamples.publicSecurityOperator]).canonicalBytes
  }

  static func expectError(
    _ bytes: [UInt8], code: String, field: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try SignedTransaction(canonicalBytes: bytes)
      Issue.record("decoded", sourceLocation: sourceLocation)
    } catch {
      #expect(error.code == code, sourceLocation: sourceLocation)
      #expect(error.field == field, sourceLocation: sourceLocation)
    }
  }

  @Test("an unknown transaction kind names body.payload.kind")
  func unknownKind() {
    var writer = CanonicalWriter()
    writer.write(u8: 1)
    writer.write(string: FormatExamples.chainId)
    writer.write(publicKey: FormatExamples.publicSecurityOperator.publicKey)
    writer.write(u64: 1)
    writer.write(u8: 99)
    Self.expectError(writer.bytes, code: "format.unknown_tag", field: "body.payload.kind")
  }

  @Test("an unsupported version names body.version")
  func badVersion() {
    var bytes = Self.transactionBytes(.retireDuty(Retirement(bureauId: "BJ-GAJ", recordId: "D1", reason: "")))
    bytes[0] = 2
    Self.expectError(bytes, code: "format.unsupported_version", field: "body.version")
  }

  @Test("an over-long data item name names its index")
  func overLongItemName() {
    var directory = FormatExamples.residentDirectory
    directory.items[2].name = String(repeating: "名", count: 50)  // 150 bytes > 128
    Self.expectError(
      Self.transactionBytes(.publishDirectory(directory)), code: "format.length_over_limit",
      field: "body.payload.publishDirectory.items[2].name")
  }

  @Test("a chain id with characters outside the identifier alphabet is refused")
  func badIdentifier() {
    Self.expectError(
      Self.transactionBytes(.retireDuty(Retirement(bureauId: "BJ-GAJ", recordId: "D1", reason: ""))).replacing(
        Array("beijing".utf8), with: Array("bei jin".utf8)), code: "format.invalid_identifier", field: "body.chainId")
  }

  @Test("a non-minimal length is refused")
  func nonMinimalLength() {
    // chainId's length 25 written as two bytes: 0x99 0x00.
    let bytes = Self.transactionBytes(.retireDuty(Retirement(bureauId: "BJ-GAJ", recordId: "D1", reason: "")))
    let padded = [bytes[0], 0x80 | bytes[1], 0x00] + bytes[2...]
    Self.expectError(Array(padded), code: "format.non_minimal_varint", field: "body.chainId")
  }

  @Test("a length beyond 32 bits is refused without allocating")
  func hugeLength() {
    let bytes = [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] as [UInt8]
    Self.expectError(bytes, code: "format.varint_overflow", field: "body.chainId")
  }

  @Test("a set out of order is refused, naming the element")
  func unsortedSet() {
    // Encode a grant, then swap its two (sorted) item names.
    let grant = Grant(
      grantorId: "BJ-GAJ", grantId: "G1", granteeId: "BJ-ZJW",
      scope: AccessScope(directoryId: "R1", items: ["a", "b"], purpose: "p", validFromMs: 0, validUntilMs: 1))
    let bytes = Self.transactionBytes(.grantAccess(grant))
    let swapped = bytes.replacing(
      [1, UInt8(ascii: "a"), 1, UInt8(ascii: "b")], with: [1, UInt8(ascii: "b"), 1, UInt8(ascii: "a")])
    Self.expectError(swapped, code: "format.not_strictly_ascending", field: "body.payload.grantAccess.scope.items[1]")
  }

  /// Titles of the same length as each case, whose bytes the case replaces.
  static func dutyWithTitle(bytes title: [UInt8]) -> [UInt8] {
    let placeholder = String(repeating: "X", count: title.count)
    let duty = Duty(bureauId: "BJ-GAJ", dutyId: "D1", title: placeholder, legalBasis: "", description: "")
    let count = UInt8(title.count)
    return Self.transactionBytes(.declareDuty(duty)).replacing([count] + Array(placeholder.utf8), with: [count] + title)
  }

  @Test(
    "invalid UTF-8 in text is refused: a bad byte, overlong, a surrogate, cut short, a stray continuation, past U+10FFFF",
    arguments: [
      [0xC3, 0x28], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE4, 0xB8, 0x41], [0x80, 0x41], [0xF4, 0x90, 0x80, 0x80],
    ]
      as [[UInt8]])
  func invalidUTF8(title: [UInt8]) {
    Self.expectError(
      Self.dutyWithTitle(bytes: title), code: "format.invalid_utf8", field: "body.payload.declareDuty.title")
  }

  @Test("valid UTF-8 decodes to its text, U+FFFD itself included")
  func validUTF8() throws {
    for (title, text) in [
      ([0xE4, 0xB8, 0xAD], "中"), ([0xEF, 0xBF, 0xBD], "\u{FFFD}"), ([0xF0, 0x9F, 0x98, 0x80], "😀"),
    ]
      as [([UInt8], String)]
    {
      let transaction = try SignedTransaction(canonicalBytes: Self.dutyWithTitle(bytes: title))
      guard case .declareDuty(let duty) = transaction.body.payload else {
        Issue.record("not a duty declaration")
        continue
      }
      #expect(duty.title == text)
    }
  }

  @Test("a presence byte other than 0 or 1 is refused")
  func badOptional() {
    let share = ShareRecord(providerId: "A", consumerId: "B", directoryId: "C", grantId: nil, dataHash: .zero)
    let bytes = Self.transactionBytes(.recordShare(share)).replacing(
      [1, UInt8(ascii: "C"), 0], with: [1, UInt8(ascii: "C"), 2])
    Self.expectError(bytes, code: "format.invalid_boolean", field: "body.payload.recordShare.grantId")
  }

  @Test("a transaction with no signatures is refused")
  func noSignatures() {
    let body = TransactionBody(
      chainId: "c", signer: FormatExamples.publicSecurityOperator.publicKey, sequence: 0,
      payload: .retireDuty(Retirement(bureauId: "A", recordId: "B", reason: "")))
    Self.expectError(body.canonicalBytes + [0], code: "format.count_out_of_range", field: "signatures")
  }

  @Test("a block whose transaction count disagrees with its header is refused")
  func blockCountMismatch() throws {
    var block = FormatExamples.block
    block.header.transactionCount = 1
    #expect(throws: FormatError.self) { try Block(canonicalBytes: block.canonicalBytes) }
  }

  /// Decoded and `encoded()` blocks keep their bytes and leaf hashes; a
  /// change to either field must drop them, or a node would store, send and
  /// check the root of a block other than the one it holds.
  @Test("a block's kept encoding is the encoding of its fields, and goes when a field changes")
  func keptBlockEncoding() throws {
    let built = FormatExamples.block
    let bytes = built.canonicalBytes
    // Inside a larger message (a proposal frame) the block starts past byte 0.
    var framed = CanonicalReader([7] + bytes + [9])
    _ = try framed.read(u8: "before")
    let embedded = try Block(from: &framed)
    #expect(try framed.read(u8: "after") == 9)
    for block in [try Block(canonicalBytes: bytes), embedded, built.encoded()] {
      #expect(block == built)
      #expect(block.canonicalBytes == bytes)
      #expect(block.transactionsRoot == Block.transactionsRoot(built.transactions))
      #expect(block.transactionsRoot == built.header.transactionsRoot)

      var fewer = block
      fewer.transactions.removeLast()
      #expect(fewer.transactionsRoot == Block.transactionsRoot(fewer.transactions))
      #expect(fewer.transactionsRoot != built.header.transactionsRoot)
      #expect(throws: FormatError.self) { try Block(canonicalBytes: fewer.canonicalBytes) }

      var later = block
      later.header.height += 1
      #expect(try Block(canonicalBytes: later.canonicalBytes).header.height == built.header.height + 1)
    }
  }

  @Test("a transaction's leaf hash is the RFC 6962 leaf hash of its bytes, however it was made")
  func transactionLeafHash() throws {
    for (_, transaction) in FormatExamples.transactions {
      let leafHash = MerkleTree.leafHash(transaction.canonicalBytes)
      #expect(transaction.leafHash == leafHash)
      #expect(try SignedTransaction(canonicalBytes: transaction.canonicalBytes).leafHash == leafHash)
      let fromJSON = try JSONDecoder().decode(SignedTransaction.self, from: JSONEncoder().encode(transaction))
      #expect(fromJSON.leafHash == leafHash)
    }
  }

  /// What a backup's proposal decoding relies on: it takes a pending
  /// transaction only when the proposal carries exactly its bytes. The same
  /// body with other signatures has another leaf hash and is decoded afresh.
  @Test("a block takes known transactions by the leaf hash of its bytes and decodes the rest")
  func blockTakesKnownTransactions() throws {
    let built = FormatExamples.block
    let first = built.transactions[0]
    let second = built.transactions[1]
    let extraKey = Devnet.operatorKey("BJ-GAJ")
    let secondResigned = SignedTransaction(
      body: second.body,
      signatures: second.signatures + [
        TransactionSignature(publicKey: extraKey.publicKey, signature: extraKey.sign(digest: second.id))
      ])
    #expect(secondResigned.id == second.id && secondResigned.leafHash != second.leafHash)
    let known = KnownTransactionsTable([first, secondResigned])

    let block = try Block(canonicalBytes: built.canonicalBytes, knownTransactions: known)
    #expect(block == built)
    #expect(block.canonicalBytes == built.canonicalBytes)
    #expect(block.transactionsRoot == built.header.transactionsRoot)
    #expect(block.transactions[0].fields === first.fields, "the known transaction itself, not decoded again")
    #expect(block.transactions[1].fields !== secondResigned.fields)
    #expect(block.transactions[1].signatures == second.signatures, "the proposal's own signatures")
    #expect(block.transactions[1].leafHash == MerkleTree.leafHash(second.canonicalBytes), "hashed once, kept")
    #expect(known.lookups == 2)

    // Inside a frame, as a proposal arrives.
    var framed = CanonicalReader([7] + built.canonicalBytes, knownTransactions: known)
    _ = try framed.read(u8: "before")
    #expect(try Block(from: &framed).transactions[0].fields === first.fields)
  }
}

/// Transactions by leaf hash, counting the lookups.
final class KnownTransactionsTable: KnownTransactions, @unchecked Sendable {
  private let byLeafHash: [Hash256: SignedTransaction]
  private(set) var lookups = 0

  init(_ transactions: [SignedTransaction]) {
    byLeafHash = Dictionary(uniqueKeysWithValues: transactions.map { ($0.leafHash, $0) })
  }

  func transaction(leafHash: Hash256) -> SignedTransaction? {
    lookups += 1
    return byLeafHash[leafHash]
  }
}

extension Array where Element == UInt8 {
  /// Replaces the first occurrence of `pattern`; the tests use it to corrupt one field.
  func replacing(_ pattern: [UInt8], with replacement: [UInt8]) -> [UInt8] {
    guard pattern.count <= count else { return self }
    for start in 0...(count - pattern.count) where Array(self[start..<(start + pattern.count)]) == pattern {
      return Array(self[..<start]) + replacement + Array(self[(start + pattern.count)...])
    }
    preconditionFailure("pattern not found")
  }
}

@Suite("Chunks") struct ChunkTests {
  @Test("chunks keep every element once, in order, none longer than asked")
  func chunksCoverInOrder() {
    for count in [0, 1, 63, 64, 65, 152] {
      let elements = Array(0..<count)
      let chunks = elements.chunks(of: 64)
      #expect(chunks.map(Array.init).flatMap { $0 } == elements)
      #expect(chunks.allSatisfy { !$0.isEmpty && $0.count <= 64 })
      #expect(chunks.count == (count + 63) / 64)
    }
  }
}
