import Foundation
import Ledger
import Testing

@testable import ledger_cli

/// Runs the real `ledger-cli` binary, as an operator would.
struct CLIRun {
  let status: Int32
  let stdout: String
  let stderr: String
  let exitedNormally: Bool

  static var binary: URL {
    // The test bundle sits next to the products in .build/<configuration>/.
    var directory = Bundle.main.bundleURL
    while directory.path != "/" {
      let candidate = directory.appendingPathComponent("ledger-cli")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      directory.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: ".build/debug/ledger-cli")
  }

  static func run(_ arguments: [String], stdin: String = "") throws -> CLIRun {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    // Standard input comes from a file: the CLI may stop reading early (that is
    // what its input bound is for), and a pipe would then break under the writer.
    let inputPath = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: inputPath, contents: Data(stdin.utf8))
    defer { try? FileManager.default.removeItem(atPath: inputPath) }
    let output = Pipe()
    let error = Pipe()
    process.standardInput = FileHandle(forReadingAtPath: inputPath)
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIRun(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self), exitedNormally: process.terminationReason == .exit)
  }
}

@Suite("ledger-cli keys and tx decode")
struct LedgerCLITests {
  static let publishDirectory = FormatExamples.transactions.first { $0.kind == .publishDirectory }!.transaction

  @Test("keys generate writes a 0600 key file, prints its public key and never overwrites")
  func keysGenerate() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cli-key-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let first = try CLIRun.run(["keys", "generate", "--out", path])
    #expect(first.status == 0)
    let publicKeyHex = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(PublicKey(hex: publicKeyHex)?.isValidPoint == true)
    let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(permissions == 0o600)
    #expect(!first.stdout.contains(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)))

    let shown = try CLIRun.run(["keys", "show", path])
    #expect(shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == publicKeyHex)

    let second = try CLIRun.run(["keys", "generate", "--out", path])
    #expect(second.status != 0)
    #expect(second.stderr.contains("already exists"))
  }

  @Test("tx decode prints the transaction as JSON with its id and signature check")
  func decodeValid() throws {
    let run = try CLIRun.run(["tx", "decode"], stdin: Hex.encode(Self.publishDirectory.canonicalBytes) + "\n")
    #expect(run.status == 0)
    let json = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
    #expect(json["id"] as? String == Self.publishDirectory.id.hex)
    #expect(json["signaturesValid"] as? Bool == true)
    let payload = (json["body"] as! [String: Any])["payload"] as! [String: Any]
    #expect(payload["type"] as? String == "publishDirectory")
    #expect(payload["title"] as? String == "常住人口基本信息")
  }

  @Test("tx decode reads a file as well as standard input")
  func decodeFile() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tx-\(UUID().uuidString).hex").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Hex.encode(Self.publishDirectory.canonicalBytes).write(toFile: path, atomically: true, encoding: .utf8)
    let run = try CLIRun.run(["tx", "decode", path])
    #expect(run.status == 0)
    #expect(run.stdout.contains(Self.publishDirectory.id.hex))
  }

  static var malformedInputs: [(label: String, hex: String, expected: String)] {
    let bytes = publishDirectory.canonicalBytes
    var badKind = bytes
    badKind[1 + 1 + 25 + 32 + 8] = 0xEE  // the payload tag after version, chainId, signer, sequence
    var overLong = bytes
    overLong[1] = 0x7F  // chainId length 127 > 64
    return [
      ("truncated", Hex.encode(bytes.dropLast(10)), "format.truncated"),
      ("trailing bytes", Hex.encode(bytes + [0x00]), "format.trailing_bytes"),
      ("bad tag", Hex.encode(badKind), "body.payload.kind"),
      ("over-long length", Hex.encode(overLong), "body.chainId"),
      ("not hex", "zz", "input.invalid_hex"),
      ("odd hex", "abc", "input.invalid_hex"),
      ("empty", "", "format.truncated"),
      ("endless", String(repeating: "00", count: 200_000), "format.length_over_limit"),
    ]
  }

  @Test("malformed input exits 1 with one line naming the problem, never a crash", arguments: malformedInputs)
  func decodeMalformed(_ input: (label: String, hex: String, expected: String)) throws {
    let run = try CLIRun.run(["tx", "decode"], stdin: input.hex)
    #expect(run.exitedNormally, "\(input.label): killed by a signal")
    #expect(run.status == 1, "\(input.label)")
    #expect(run.stdout.isEmpty)
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(input.label): \(run.stderr)")
    #expect(run.stderr.contains(input.expected), "\(input.label): \(run.stderr)")
  }
}

struct BenchTrackerTests {
  /// The load client follows the chain without decoding transactions: the
  /// leaf hashes it reads must be those of the block's transactions.
  @Test func blockLeafHashesAreTheTransactionsLeafHashes() throws {
    let block = FormatExamples.block
    let bytes = block.canonicalBytes
    #expect(try CommitTracker.transactionLeafHashes(ofBlock: bytes) == block.transactions.map(\.leafHash))
    #expect(throws: FormatError.self) { try CommitTracker.transactionLeafHashes(ofBlock: bytes + [0]) }
    #expect(throws: FormatError.self) { try CommitTracker.transactionLeafHashes(ofBlock: Array(bytes.dropLast())) }
  }
}
