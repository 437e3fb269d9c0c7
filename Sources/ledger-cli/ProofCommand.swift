import ArgumentParser
import Foundation
import Ledger

struct ProofCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "proof",
    abstract: "Fetch proof bundles from a node and verify them offline (docs/PROOFS.md §7).",
    subcommands: [Get.self, Verify.self])

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fetch a proof bundle and save it.",
      discussion: """
        KIND is record (--key, optional --height), tx (--id), consistency (--from, optional --to) \
        or provenance (--data-hash or --data FILE, --consumer, optional --height). \
        The bundle is saved to --out as JSON, or as canonical bytes with --format binary.
        """)

    enum Kind: String, ExpressibleByArgument { case record, tx, consistency, provenance }

    @Argument(help: "record, tx, consistency or provenance.") var kind: Kind
    @Option(name: .customLong("node"), help: "Node API URL, e.g. http://127.0.0.1:8080; repeat it (or separate with commas) to fail over to the next.") var nodes: [String] = []
    @Option(help: "File to write the bundle to.") var out: String
    @Option(help: "json or binary.") var format: String = "json"
    @Option(help: "Record key, e.g. grant/BJ-GAJ/BJ-GAJ-G001 (record).") var key: String?
    @Option(help: "Anchor height (record, provenance; default the head).") var height: UInt64?
    @Option(help: "Transaction id (tx).") var id: String?
    @Option(help: "Earlier height (consistency).") var from: UInt64?
    @Option(help: "Later height (consistency; default the head).") var to: UInt64?
    @Option(help: "SHA-256 of the data, hex (provenance).") var dataHash: String?
    @Option(help: "The data itself; its SHA-256 is used (provenance).") var data: String?
    @Option(help: "The consuming bureau (provenance).") var consumer: String?

    func run() async throws {
      guard format == "json" || format == "binary" else {
        throw CLIError(code: "input.invalid", message: "--format: json or binary")
      }
      let client = try APIClient(nodes: nodes)
      var query = ["format": format]
      func require<T>(_ value: T?, _ name: String) throws -> T {
        guard let value else { throw CLIError(code: "input.missing", message: "\(kind.rawValue) needs --\(name)") }
        return value
      }
      if let height { query["height"] = "\(height)" }
      let path: String
      switch kind {
      case .record:
        query["key"] = try require(key, "key")
        path = "/v1/proofs/record"
      case .tx:
        path = "/v1/proofs/tx/\(try require(id, "id"))"
      case .consistency:
        query["from"] = "\(try require(from, "from"))"
        if let to { query["to"] = "\(to)" }
        path = "/v1/proofs/consistency"
      case .provenance:
        query["dataHash"] = try dataHash ?? data.map { try hashOfFile($0).hex } ?? require(nil as String?, "data-hash")
        query["consumer"] = try require(consumer, "consumer")
        path = "/v1/provenance"
      }
      let bytes = try await client.getData(path, query: query)
      guard FileManager.default.createFile(atPath: out, contents: bytes) else {
        throw CLIError(code: "output.unwritable", message: "cannot write \(out)")
      }
      print("saved a \(kind.rawValue) bundle (\(bytes.count) bytes, \(format)) to \(out)")
    }
  }

  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Verify a proof bundle against the genesis file, offline.",
      discussion: """
        Prints VALID and what the bundle proves, in plain words, or INVALID and the first \
        step that failed. Exit status: 0 VALID, 1 INVALID, 2 unusable input (unreadable \
        file, not a bundle, bad genesis). No node and no network are involved.
        """)

    @Argument(help: "The bundle file (JSON or canonical binary).") var bundle: String
    @Option(help: "The chain's genesis file.") var genesis: String
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() throws {
      let (verifier, loaded) = try loadForVerification(bundlePath: bundle, genesisPath: genesis)
      let verdict = verifier.verify(loaded)
      try printVerdict(verdict, output: output)
      if !verdict.isValid { throw ExitCode(1) }
    }
  }
}

/// `provenance check`: the approval service operator's one command.
struct ProvenanceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "provenance",
    abstract: "Check where shared data came from and whether its recipient may hold it.",
    subcommands: [Check.self])

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Ask one node for a provenance bundle and verify it offline against the genesis file.",
      discussion: """
        Hashes FILE (SHA-256), fetches the provenance bundle for it and CONSUMER, verifies it \
        without trusting the node, and prints who attested the data, under which directory and \
        duties, and whether CONSUMER may hold it. Exit status 0 only when the bundle is VALID and \
        the consumer is authorised; 1 when it is not authorised or the bundle is INVALID; 2 when \
        the input is unusable.
        """)

    @Option(help: "The data received.") var data: String
    @Option(help: "The bureau that received it.") var consumer: String
    @Option(
      name: .customLong("node"),
      help: "Node API URL (any node; it need not be trusted); repeat it (or separate with commas) to fail over.")
    var nodes: [String] = []
    @Option(help: "The chain's genesis file.") var genesis: String
    @Option(help: "Height to check at (default the node's head).") var height: UInt64?
    @Option(help: "Also save the bundle here.") var save: String?
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
      let dataHash = try hashOfFile(data)
      var query = ["dataHash": dataHash.hex, "consumer": consumer, "format": "binary"]
      if let height { query["height"] = "\(height)" }
      let bytes = try await APIClient(nodes: nodes).getData("/v1/provenance", query: query)
      if let save { FileManager.default.createFile(atPath: save, contents: bytes) }
      let genesisFile = try loadTrustedGenesis(genesis)
      let bundle: ProofBundle
      do {
        bundle = try ProofBundle(canonicalBytes: [UInt8](bytes))
      } catch {
        throw CLIError(code: error.code, message: "the node's answer is not a bundle: \(error)")
      }
      let verdict = ProofVerifier(genesis: genesisFile).verify(bundle)
      try printVerdict(verdict, output: output)
      guard case .valid(_, let findings) = verdict, findings.allSatisfy(\.authorized), !findings.isEmpty else {
        throw ExitCode(1)
      }
    }
  }
}

func hashOfFile(_ path: String) throws -> Hash256 {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw CLIError(code: "input.unreadable", message: "cannot read \(path)")
  }
  return SHA256.hash([UInt8](data))
}

/// The genesis a verifier trusts; a bad one is unusable input (exit 2).
func loadTrustedGenesis(_ path: String) throws -> Genesis {
  do {
    return try loadGenesis(path)
  } catch {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    throw ExitCode(2)
  }
}

/// Reads a bundle (JSON or binary, bounded) and the genesis; unusable input exits 2.
func loadForVerification(bundlePath: String, genesisPath: String) throws -> (ProofVerifier, ProofBundle) {
  func unusable(_ code: String, _ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(code): \(message)\n".utf8))
    return ExitCode(2)
  }
  guard let handle = FileHandle(forReadingAtPath: bundlePath) else {
    throw unusable("input.unreadable", "cannot read \(bundlePath)")
  }
  let limit = ProofBundle.bytesMax * 4
  let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
  guard data.count <= limit else { throw unusable("format.length_over_limit", "the bundle exceeds \(limit) bytes") }
  let bundle: ProofBundle
  if data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "{") {
    do {
      bundle = try JSONDecoder().decode(ProofBundle.self, from: data)
    } catch {
      throw unusable("input.invalid_bundle", "not a proof bundle in JSON: \(error)")
    }
  } else {
    do {
      bundle = try ProofBundle(canonicalBytes: [UInt8](data))
    } catch {
      throw unusable(error.code, "not a proof bundle: \(error)")
    }
  }
  return (ProofVerifier(genesis: try loadTrustedGenesis(genesisPath)), bundle)
}

func printVerdict(_ verdict: ProofVerdict, output: OutputFormat) throws {
  switch (verdict, output) {
  case (.valid(let facts, let findings), .json):
    struct Valid: Encodable {
      let verdict = "VALID"
      let facts: [String]
      let provenance: [ProvenanceFinding]
    }
    print(try JSONOutput.string(Valid(facts: facts, provenance: findings)))
  case (.invalid(let step, let reason), .json):
    print(try JSONOutput.string(["verdict": "INVALID", "step": step, "reason": reason]))
  case (.valid(let facts, _), .text):
    print("VALID")
    for fact in facts { print("  · \(fact)") }
  case (.invalid(let step, let reason), .text):
    print("INVALID at \(step): \(reason)")
  }
}
