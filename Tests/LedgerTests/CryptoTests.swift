import Testing

@testable import Ledger

struct BIP340VectorRow: CustomTestStringConvertible {
  let index: String
  let secretKey: [UInt8]?
  let publicKey: [UInt8]
  let auxRand: [UInt8]?
  let message: [UInt8]
  let signature: [UInt8]
  let expectedValid: Bool
  let comment: String

  var testDescription: String { "BIP-340 vector \(index)\(comment.isEmpty ? "" : " (\(comment))")" }

  static func all() throws -> [BIP340VectorRow] {
    let lines = try Fixture.text("bip340.csv").split(whereSeparator: \.isNewline).dropFirst()
    return lines.map { line in
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      return BIP340VectorRow(
        index: fields[0], secretKey: fields[1].isEmpty ? nil : Hex.decode(fields[1]),
        publicKey: Hex.decode(fields[2])!, auxRand: fields[3].isEmpty ? nil : Hex.decode(fields[3]),
        message: Hex.decode(fields[4])!, signature: Hex.decode(fields[5])!,
        expectedValid: fields[6] == "TRUE", comment: fields[7...].joined(separator: ","))
    }
  }
}

@Suite("BIP-340 Schnorr signatures")
struct SchnorrTests {
  @Test("the vector file has every row")
  func vectorCount() throws {
    #expect(try BIP340VectorRow.all().count == 19)
  }

  @Test("every vector row", arguments: try BIP340VectorRow.all())
  func vector(_ row: BIP340VectorRow) throws {
    if let secret = row.secretKey, let aux = row.auxRand {
      let key = try SecretKey(bytes: secret)
      #expect(key.publicKey.bytes == row.publicKey, "derived public key")
      let signature = row.message.withUnsafeBytes { key.sign(message: $0, auxiliaryRandom: aux) }
      #expect(signature.bytes == row.signature, "signature must match the vector byte for byte")
    }
    let publicKey = try #require(PublicKey(bytes: row.publicKey))
    let signature = try #require(Signature(bytes: row.signature))
    let verified = row.message.withUnsafeBytes { publicKey.verify(signature, message: $0) }
    #expect(verified == row.expectedValid)
  }

  @Test("a fresh key signs digests its public key verifies, and no other key does")
  func freshKeys() {
    let key = SecretKey()
    let other = SecretKey()
    let digest = TaggedHash.hash(.transaction, Array("payload".utf8))
    let signature = key.sign(digest: digest)
    #expect(key.publicKey.verify(signature, digest: digest))
    #expect(!other.publicKey.verify(signature, digest: digest))
    #expect(!key.publicKey.verify(signature, digest: TaggedHash.hash(.vote, Array("payload".utf8))))
  }

  @Test("a key verifies the same from its cached parse: good signatures pass, altered ones fail")
  func cachedParse() {
    let key = SecretKey()
    let digests = (0..<3).map { TaggedHash.hash(.transaction, [UInt8($0)]) }
    for round in 0..<2 {
      for (index, digest) in digests.enumerated() {
        let signature = key.sign(digest: digest)
        #expect(key.publicKey.verify(signature, digest: digest), "round \(round), digest \(index)")
        var altered = signature.bytes
        altered[63] ^= 1
        #expect(!key.publicKey.verify(Signature(bytes: altered)!, digest: digest), "round \(round), digest \(index)")
        #expect(!key.publicKey.verify(signature, digest: digests[(index + 1) % digests.count]))
      }
    }
  }

  @Test("hex decodes either case and refuses odd lengths and non-hex characters anywhere")
  func hexDecoding() {
    let all = (0...255).map { UInt8($0) }
    #expect(Hex.decode(Hex.encode(all)) == all)
    #expect(Hex.decode(Hex.encode(all).uppercased()) == all)
    #expect(Hex.decode("") == [])
    #expect(Hex.decode("0aFf"[...]) == [0x0a, 0xff])
    for bad in ["0", "abc", "g0", "0g", "00 0", "000g", "é", "0\u{0}"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    let digits = Set("0123456789abcdefABCDEF".unicodeScalars)
    for scalar in (0...127).map({ Unicode.Scalar(UInt8($0)) }) where !digits.contains(scalar) {
      let character = String(Character(scalar))
      #expect(Hex.decode("a" + character) == nil && Hex.decode(character + "a") == nil, "\(scalar.value)")
      #expect(Hex.decode("00" + character + "0") == nil, "\(scalar.value)")
    }
  }

  @Test("a digest's digits after a prefix are the prefix then its hex, and record paths are spelled as documented")
  func digitsAfterAPrefix() {
    let digest = SHA256.hash(Array("directory ledger".utf8))
    for prefix in ["", "share/", "attestation/BJ-GAJ/caf\u{E9}-目录/", String(repeating: "x", count: 300)] {
      #expect(Hex.encode(digest, after: prefix) == prefix + digest.hex, "\(prefix)")
    }
    let key = SecretKey().publicKey
    #expect(RecordKey.account(key).path == "account/" + key.hex)
    #expect(RecordKey.share(digest).path == "share/" + digest.hex)
    #expect(RecordKey.attestation("BJ-GAJ", "RKJBXX", digest).path == "attestation/BJ-GAJ/RKJBXX/" + digest.hex)
  }

  @Test("secret keys outside [1, n-1] are refused")
  func invalidSecretKeys() {
    #expect(throws: SecretKey.InvalidKey.outOfRange) { try SecretKey(bytes: [UInt8](repeating: 0, count: 32)) }
    #expect(throws: SecretKey.InvalidKey.outOfRange) { try SecretKey(bytes: [UInt8](repeating: 0xff, count: 32)) }
    #expect(throws: SecretKey.InvalidKey.wrongLength(31)) { try SecretKey(bytes: [UInt8](repeating: 1, count: 31)) }
  }

  @Test("a secret key never prints its secret")
  func redacted() throws {
    let secret = [UInt8](repeating: 0x42, count: 32)
    let key = try SecretKey(bytes: secret)
    let printed = "\(key) \(String(reflecting: key))"
    #expect(!printed.contains(Hex.encode(secret)))
    #expect(printed.contains("redacted"))
  }

  @Test("bytes that are not a curve point never verify")
  func invalidPublicKey() {
    // x = p - 1 + 1 overflows the field; BIP-340 vector 14 uses the same bytes.
    let notAPoint = PublicKey(hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30")!
    #expect(!notAPoint.isValidPoint)
    let key = SecretKey()
    let digest = Hash256.zero
    #expect(!notAPoint.verify(key.sign(digest: digest), digest: digest))
    // A failed parse is not remembered as a success.
    #expect(!notAPoint.isValidPoint)
  }
}

@Suite("SHA-256 and tagged hashes")
struct HashTests {
  @Test("SHA-256 matches the FIPS 180-2 examples")
  func knownAnswers() {
    #expect(SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256.hash([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    let twoBlocks = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
    #expect(SHA256.hash(twoBlocks).hex == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }

  @Test("the three OpenSSL paths agree on inputs of every length up to 200 bytes")
  func pathsAgree() {
    for length in 0...200 {
      let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
      let incremental = SHA256.hash(input)
      input.withUnsafeBytes { bytes in
        #expect(SHA256ViaEVP.hash(bytes) == incremental)
        #expect(SHA256ViaEVP.oneShot(bytes) == incremental)
      }
    }
  }

  @Test("tagged hash is SHA-256(SHA-256(tag) || SHA-256(tag) || message) for every domain")
  func taggedHashDefinition() {
    let message = Array("目录链".utf8)
    for domain in HashDomain.allCases {
      let tagDigest = SHA256.hash(Array(domain.tag.utf8)).bytes
      #expect(TaggedHash.hash(domain, message) == SHA256.hash(tagDigest + tagDigest + message))
    }
  }

  @Test("domains separate: the same bytes hash differently under every tag")
  func domainsDiffer() {
    let digests = Set(HashDomain.allCases.map { TaggedHash.hash($0, [1, 2, 3]) })
    #expect(digests.count == HashDomain.allCases.count)
  }

  @Test("bit(i) reads the digest most significant bit first")
  func bitOrder() {
    var bytes = [UInt8](repeating: 0, count: 32)
    bytes[0] = 0b1000_0000
    bytes[9] = 0b0000_0100
    bytes[31] = 0b0000_0001
    let digest = Hash256(bytes: bytes)!
    let setBits = (0..<256).filter { digest.bit($0) }
    #expect(setBits == [0, 77, 255])
  }

  @Test("digests order as big-endian numbers")
  func ordering() {
    let small = Hash256(hex: "00" + String(repeating: "ff", count: 31))!
    let large = Hash256(hex: "01" + String(repeating: "00", count: 31))!
    #expect(small < large)
    #expect(!(large < small))
  }
}
