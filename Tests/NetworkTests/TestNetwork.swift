import Foundation
import Ledger
import Logging
import NIOHTTP1
import Testing

@testable import ledger_cli

/// A real local network for a test: `ledger-cli devnet start` as a child
/// process, which starts one process per node; nodes.json says where they are.
final class TestNetwork: @unchecked Sendable {
  struct Member: Decodable {
    let id: String
    let role: String
    let pid: Int32
    let api: String
    let p2p: String
    let home: String
  }

  let directory: String
  let devnet: Process
  let members: [Member]
  var restarted: [Process] = []

  static var binary: URL {
    var directory = Bundle.main.bundleURL
    while directory.path != "/" {
      let candidate = directory.appendingPathComponent("ledger-cli")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      directory.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: ".build/debug/ledger-cli")
  }

  /// `sample`: a genesis shipped in genesis/ (e.g. sample-city) instead of a fresh devnet.
  init(validators: Int = 4, observers: Int = 1, sample: String? = nil) async throws {
    directory = NSTemporaryDirectory() + "dirledger-test-\(UUID().uuidString)"
    devnet = Process()
    devnet.executableURL = Self.binary
    devnet.arguments =
      ["devnet", "start", "--observers", "\(observers)", "--dir", directory]
      + (sample.map { ["--sample", $0] } ?? ["--nodes", "\(validators)"])
    let log = directory + ".log"
    FileManager.default.createFile(atPath: log, contents: nil)
    devnet.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    devnet.standardError = devnet.standardOutput
    try devnet.run()
    // nodes.json is written before the nodes answer; "Press Ctrl-C" once all do.
    let deadline = Date().addingTimeInterval(90)
    while !(String(data: FileManager.default.contents(atPath: log) ?? Data(), encoding: .utf8) ?? "").contains(
      "Press Ctrl-C")
    {
      guard devnet.isRunning, Date() < deadline else {
        if devnet.isRunning { kill(devnet.processIdentifier, SIGINT) }
        devnet.waitUntilExit()
        let output = String(data: FileManager.default.contents(atPath: log) ?? Data(), encoding: .utf8) ?? ""
        throw TestFailure("devnet did not start: \(output)")
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    members = try JSONDecoder().decode(
      [Member].self, from: FileManager.default.contents(atPath: directory + "/nodes.json") ?? Data())
  }

  func shutdown() {
    for process in restarted where process.isRunning { kill(process.processIdentifier, SIGTERM) }
    if devnet.isRunning { kill(devnet.processIdentifier, SIGINT) }
    devnet.waitUntilExit()
    for process in restarted { process.waitUntilExit() }
    // KEEP_TEST_NETWORK=1 keeps the homes and logs, to read after a failure.
    guard ProcessInfo.processInfo.environment["KEEP_TEST_NETWORK"] == nil else {
      print("test network kept in \(directory)")
      return
    }
    try? FileManager.default.removeItem(atPath: directory)
    try? FileManager.default.removeItem(atPath: directory + ".log")
  }

  var validators: [Member] { members.filter { $0.role == "validator" } }
  var observer: Member { members.first { $0.role == "observer" }! }

  /// Starts a node again from its home (after a kill).
  func restart(_ member: Member) throws { try start(home: member.home) }

  /// Starts the node whose home is `home` (made by `node init`, or a member's), stopped at shutdown.
  func start(home: String) throws {
    let process = Process()
    process.executableURL = Self.binary
    process.arguments = ["node", "start", "--home", home]
    if !FileManager.default.fileExists(atPath: home + "/node.log") {
      FileManager.default.createFile(atPath: home + "/node.log", contents: nil)
    }
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: home + "/node.log"))
    log.seekToEndOfFile()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    restarted.append(process)
  }
}

struct TestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The tests talk to nodes through the CLI's own client.
enum HTTP {
  struct Reply {
    let status: Int
    let body: Data
    let headers: [String: String]
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
  }

  static func request(_ method: String, _ url: String, body: Data? = nil) async throws -> Reply {
    let reply = try await NodeHTTP.exchange(.init(rawValue: method), url, json: body)
    return Reply(status: reply.status, body: reply.body, headers: reply.headers)
  }

  static func get(_ url: String) async throws -> Reply { try await request("GET", url) }

  /// A POST whose body is canonical bytes (`application/octet-stream`).
  static func post(_ url: String, binary body: [UInt8]) async throws -> Reply {
    let reply = try await NodeHTTP.exchange(.POST, url, body: Data(body), contentType: "application/octet-stream")
    return Reply(status: reply.status, body: reply.body, headers: reply.headers)
  }

  static func post(_ url: String, json: Any) async throws -> Reply {
    try await request("POST", url, body: try JSONSerialization.data(withJSONObject: json))
  }
}

/// Signs and submits transactions as devnet keys, tracking sequence numbers per signer.
final class Submitter: @unchecked Sendable {
  let api: String
  let chainId: String
  var sequences: [PublicKey: UInt64] = [:]

  init(api: String, chainId: String = Devnet.chainId) {
    self.api = api
    self.chainId = chainId
  }

  func transaction(_ payload: Payload, by key: SecretKey, cosigners: [SecretKey] = []) -> SignedTransaction {
    let sequence = sequences[key.publicKey, default: 0]
    sequences[key.publicKey] = sequence + 1
    return SignedTransaction(
      body: TransactionBody(chainId: chainId, signer: key.publicKey, sequence: sequence, payload: payload),
      signedBy: [key] + cosigners)
  }

  func submit(_ transaction: SignedTransaction, to node: String? = nil) async throws -> HTTP.Reply {
    try await HTTP.post(
      (node ?? api) + "/v1/transactions", json: ["transaction": Hex.encode(transaction.canonicalBytes)])
  }

  /// Waits for the transaction's outcome and returns its result code.
  func outcome(_ id: Hash256, at node: String? = nil, timeoutSeconds: Int = 30) async throws -> (
    code: String, height: UInt64
  ) {
    let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
    while Date() < deadline {
      let reply = try await HTTP.get((node ?? api) + "/v1/transactions/\(id.hex)?wait=5")
      if reply.json["status"] as? String == "committed" {
        let result = reply.json["result"] as? [String: Any]
        return ((result?["code"] as? String) ?? "?", (reply.json["height"] as? NSNumber)?.uint64Value ?? 0)
      }
      // Not seen yet at this node (404 answers at once): ask again shortly.
      if reply.status == 404 { try await Task.sleep(for: .milliseconds(50)) }
    }
    throw TestFailure("transaction \(id.hex) not committed within \(timeoutSeconds) s")
  }
}

func status(_ api: String) async throws -> [String: Any] { try await HTTP.get(api + "/v1/status").json }

/// Waits until every listed node reaches `height`, then returns their state roots at their heads.
func waitForAgreement(_ nodes: [TestNetwork.Member], height: UInt64, timeoutSeconds: Double = 30) async throws
  -> Set<String>
{
  let deadline = Date().addingTimeInterval(timeoutSeconds)
  while true {
    var heights: [UInt64] = []
    var roots = Set<String>()
    for node in nodes {
      // A node that was just restarted may not listen yet.
      let state = (try? await status(node.api)) ?? [:]
      heights.append((state["height"] as? NSNumber)?.uint64Value ?? 0)
      roots.insert((state["stateRoot"] as? String) ?? "")
    }
    if heights.allSatisfy({ $0 == heights[0] }), heights[0] >= height { return roots }
    guard Date() < deadline else { throw TestFailure("nodes did not converge on height \(height): \(heights)") }
    try await Task.sleep(for: .milliseconds(100))
  }
}

/// The test's own peers log only what would be a bug.
let quietLogger: Logger = {
  var logger = Logger(label: "test-peer")
  logger.logLevel = .critical
  return logger
}()
